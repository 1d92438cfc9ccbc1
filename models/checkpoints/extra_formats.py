"""Dispatch to the readers of the families other than StyleGAN2.

Each function returns a `Checkpoint`, or None when the content is not one of
the formats it knows.
"""

import os

from . import genforce, huggingface
from .common import CheckpointError


def from_hammer_like_state(state, model_kwargs, where, overrides):
    """Hammer/genforce `.pth` generators other than Hammer's StyleGAN2."""
    from . import stylegan3_names as sg3
    if sg3.is_hammer_stylegan3_state(state):
        config = sg3.config_from_hammer(state, model_kwargs, _sg3_overrides(overrides), where)
        return _checkpoint('stylegan3', config, sg3.convert_hammer_state(state, config, where), 'Hammer .pth')
    which = None
    return genforce.checkpoint_from_genforce_state(state, _without(overrides, 'family', 'cfg'), where, which)


def from_plain_state(state, where, overrides):
    """A bare state dict of another family."""
    from . import stylegan3_names as sg3
    if sg3.is_nvlabs_stylegan3_state(state):
        raise CheckpointError(f'{where}: a bare NVlabs StyleGAN3 state dict has no constructor kwargs; '
                              'load the network pickle instead')
    if huggingface.is_hf_biggan_state(state):
        if os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(where)), 'config.json')):
            return read_biggan(where, overrides)
        raise CheckpointError(f'{where}: a BigGAN state dict needs its config.json: pass the folder holding '
                              'both config.json and pytorch_model.bin')
    return genforce.checkpoint_from_genforce_state(state, _without(overrides, 'family', 'cfg'), where)


def from_nvlabs_persistent(network, state, init_kwargs, where, overrides):
    """An NVlabs persistent network other than StyleGAN2 (StyleGAN3)."""
    from . import stylegan3_names as sg3
    if not sg3.is_nvlabs_stylegan3_state(state):
        return None
    config = sg3.config_from_nvlabs_kwargs(init_kwargs, where)
    _check_sg3_overrides(config, overrides, where)
    return _checkpoint('stylegan3', config, sg3.convert_nvlabs_state(state, config, where), 'NVlabs pickle',
                       {'class_name': network.class_name})


def from_pickled_network(network, pickle_dict, where, overrides):
    """A pickled network that is not an NVlabs persistent object (TensorFlow pickles)."""
    from . import tensorflow
    return tensorflow.read_tf_network(network, pickle_dict, where, overrides)


def from_directory(path, overrides):
    """A folder checkpoint (HuggingFace BigGAN)."""
    if not (os.path.isfile(os.path.join(path, 'config.json'))
            and os.path.isfile(os.path.join(path, 'pytorch_model.bin'))):
        return None
    return read_biggan(path, overrides)


def read_biggan(path, overrides):
    wanted = overrides.get('family')
    if wanted not in (None, 'biggan'):
        raise CheckpointError(f'{path}: --{wanted} was given, but the checkpoint holds a biggan generator')
    config, state = huggingface.read_hf_biggan(path)
    if overrides.get('img_resolution') not in (None, config.output_dim):
        raise CheckpointError(f'{path}: --img_size gives img_resolution={overrides["img_resolution"]}, '
                              f'but the checkpoint holds img_resolution={config.output_dim}')
    return _checkpoint('biggan', config, state, 'HuggingFace BigGAN')


def _checkpoint(family, config, state, fmt, extra=None):
    from .common import Checkpoint
    return Checkpoint(family, config, state, fmt, dict(extra or {}))


def _without(overrides, *names):
    return {k: v for k, v in overrides.items() if k not in names}


def _sg3_overrides(overrides):
    names = {'img_resolution': 'img_size', 'w_dim': 'w_dim', 'cfg': 'cfg', 'channel_base': 'channel_base'}
    out = {}
    for name, flag in names.items():
        if overrides.get(name) is not None:
            out[flag] = overrides[name]
    return out


def _check_sg3_overrides(config, overrides, where):
    checks = {'img_resolution': '--img_size', 'w_dim': '--w_dim', 'channel_base': '--scale_stylegan3r/t'}
    for name, flag in checks.items():
        value = overrides.get(name)
        if value is not None and getattr(config, name, value) != value:
            raise CheckpointError(f'{where}: {flag} gives {name}={value}, but the checkpoint holds '
                                  f'{name}={getattr(config, name)}')
    cfg = overrides.get('cfg')
    held = 'R' if config.use_radial_filters else 'T'
    if cfg is not None and cfg != held:
        raise CheckpointError(f'{where}: --cfg {cfg} was given, but the checkpoint holds a StyleGAN3-{held}')
