"""Generators and checkpoint loading.

`load_generator(source)` takes a checkpoint path in any supported format, a
model-zoo name, or `builtin:NAME` for a small random-weight model, and returns
an `nn.Module` in eval mode that follows the generator contract of
`docs/` (mapping / synthesis / forward, `z_dim`, `w_dim`, `num_ws`, ...).
"""

import importlib

import torch

from .checkpoints import Checkpoint, CheckpointError, read_checkpoint

__all__ = ['FAMILIES', 'Checkpoint', 'CheckpointError', 'build_generator', 'builtin_names',
           'load_generator', 'read_checkpoint']

# family -> (module, generator class, config class)
FAMILIES = {
    'stylegan2': ('stylegan2', 'StyleGAN2Generator', 'StyleGAN2Config'),
    'stylegan3': ('stylegan3', 'StyleGAN3Generator', 'StyleGAN3Config'),
    'stylegan': ('stylegan', 'StyleGANGenerator', 'StyleGANConfig'),
    'pggan': ('pggan', 'PGGANGenerator', 'PGGANConfig'),
    'biggan': ('biggan', 'BigGANGenerator', 'BigGANConfig'),
}

# Small random-weight models, for trying the scripts without any download.
BUILTIN = {
    'stylegan2-tiny': ('stylegan2', dict(z_dim=64, w_dim=64, img_resolution=64, channel_base=2048,
                                         channel_max=64, mapping_layers=4)),
}


def family_classes(family):
    """(generator class, config class) of a family, importing its module on demand."""
    if family not in FAMILIES:
        raise ValueError(f'unknown generator family {family!r}; choose from {sorted(FAMILIES)}')
    module_name, generator, config = FAMILIES[family]
    module = importlib.import_module(f'.{module_name}', __name__)
    return getattr(module, generator), getattr(module, config)


def build_generator(family, config):
    """An untrained generator of `family` built from its config (dataclass or dict)."""
    generator_class, config_class = family_classes(family)
    if isinstance(config, dict):
        config = config_class(**config)
    return generator_class(config)


def builtin_names():
    return sorted(BUILTIN)


def builtin_generator(name, seed=0):
    """A small built-in generator with random weights (seeded, so always the same)."""
    if name not in BUILTIN:
        raise ValueError(f'unknown built-in model {name!r}; choose from {builtin_names()}')
    family, config = BUILTIN[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = build_generator(family, config)
    return generator


def load_generator(source, device='cpu', **overrides):
    """Load a generator from a checkpoint path, a zoo name or `builtin:NAME`.

    Args:
        source: File or folder in any supported format (detected from content),
            a model-zoo name, or `builtin:NAME`.
        device: Where to put the model.
        **overrides: Command-line settings (`img_resolution`, `w_dim`,
            `channel_base`, `family`, `cfg`, ...) that must agree with the file.

    Returns:
        The generator in eval mode, with `source`, `checkpoint_format` attributes.

    Raises:
        CheckpointError: one line naming the file and what is wrong.
    """
    source = str(source)
    if source.startswith('builtin:'):
        generator = builtin_generator(source.split(':', 1)[1])
        generator.checkpoint_format = 'built-in random weights'
    else:
        path = source
        from . import zoo
        if zoo.is_zoo_name(source):
            path = zoo.resolve(source)
        checkpoint = read_checkpoint(path, **overrides)
        generator = generator_from_checkpoint(checkpoint, path)
        generator.checkpoint_format = checkpoint.format
    generator.source = source
    return generator.to(device).eval().requires_grad_(False)


def generator_from_checkpoint(checkpoint, path='checkpoint'):
    """Build the generator of a `Checkpoint` and load its weights strictly."""
    generator = build_generator(checkpoint.family, checkpoint.config)
    missing, unexpected = _compare_keys(generator.state_dict(), checkpoint.state_dict)
    if missing:
        raise CheckpointError(f'{path}: missing tensor {missing[0]} for a {checkpoint.family} generator'
                              + (f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''))
    if unexpected:
        raise CheckpointError(f'{path}: unexpected tensor {unexpected[0]} for a {checkpoint.family} generator')
    expected = generator.state_dict()
    for key, value in checkpoint.state_dict.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(f'{path}: {key} has shape {list(value.shape)}, '
                                  f'expected {list(expected[key].shape)}')
    generator.load_state_dict(checkpoint.state_dict, strict=True)
    return generator


def _compare_keys(expected, found):
    missing = [key for key in expected if key not in found]
    unexpected = [key for key in found if key not in expected]
    return missing, unexpected
