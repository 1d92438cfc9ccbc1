"""The registry of generator families: name -> generator class and config class."""

import importlib

import torch
from torch.overrides import TorchFunctionMode

# family -> (module, generator class, config class)
FAMILIES = {
    'stylegan2': ('stylegan2', 'StyleGAN2Generator', 'StyleGAN2Config'),
    'stylegan3': ('stylegan3', 'StyleGAN3Generator', 'StyleGAN3Config'),
    'stylegan': ('stylegan', 'StyleGANGenerator', 'StyleGANConfig'),
    'pggan': ('pggan', 'PGGANGenerator', 'PGGANConfig'),
    'biggan': ('biggan', 'BigGANGenerator', 'BigGANConfig'),
}


def family_classes(family):
    """(generator class, config class) of a family, importing its module on demand."""
    if family not in FAMILIES:
        raise ValueError(f'unknown generator family {family!r}; choose from {sorted(FAMILIES)}')
    module_name, generator, config = FAMILIES[family]
    module = importlib.import_module(f'.{module_name}', __package__)
    return getattr(module, generator), getattr(module, config)


def build_generator(family, config=None, **fields):
    """An untrained generator of `family`, from its config or the config's fields (`img_resolution=64`)."""
    generator_class, config_class = family_classes(family)
    assert config is None or (not fields and isinstance(config, config_class)), 'a config or its fields'
    return generator_class(config_class(**fields) if config is None else config)


class _SkipRandomInit(TorchFunctionMode):
    """Random initialisers draw nothing: `torch.randn` / `torch.rand` give one zero expanded to the size, and
    `nn.init.*_` leaves its tensor as it is; designed filters and grids are built as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.randn, torch.rand):
            return torch.zeros((), **kwargs).expand(*args)
        if getattr(func, '__module__', None) == 'torch.nn.init':
            return args[0] if args else kwargs['tensor']
        return func(*args, **kwargs)


def build_skeleton(family, config):
    """The generator of `config` without its random initialisation (parameters are placeholders), for its shapes or
    for weights about to be loaded; cheaper than drawing them, and than the meta device (seconds on first use)."""
    with _SkipRandomInit():
        return build_generator(family, config)
