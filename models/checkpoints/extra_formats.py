"""Dispatch to the readers of the families other than StyleGAN2.

Each function returns a `Checkpoint`, or None when the content is not one of
the formats it knows.
"""


def from_hammer_like_state(state, model_kwargs, where, overrides):
    """Hammer/genforce `.pth` generators other than Hammer's StyleGAN2."""
    return None


def from_plain_state(state, where, overrides):
    """A bare state dict of another family."""
    return None


def from_nvlabs_persistent(network, state, init_kwargs, where, overrides):
    """An NVlabs persistent network other than StyleGAN2 (StyleGAN3)."""
    return None


def from_pickled_network(network, pickle_dict, where, overrides):
    """A pickled network that is not an NVlabs persistent object (TensorFlow pickles)."""
    return None


def from_directory(path, overrides):
    """A folder checkpoint (HuggingFace BigGAN)."""
    return None
