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
    """An untrained generator of `family`, from its config dataclass or from the config's fields
    (`build_generator('stylegan2', img_resolution=64)`)."""
    generator_class, config_class = family_classes(family)
    assert config is None or (not fields and isinstance(config, config_class)), 'a config or its fields'
    return generator_class(config_class(**fields) if config is None else config)


class _SkipRandomInit(TorchFunctionMode):
    """Random initialisers draw nothing: `torch.randn` / `torch.rand` give one zero expanded to the size (no
    memory; arithmetic on it gives ordinary tensors), `nn.init.*_` leaves its tensor as it is. The rest, the
    designed filters and grids included, runs as usual."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.randn, torch.rand):
            return torch.zeros((), **kwargs).expand(*args)
        if getattr(func, '__module__', None) == 'torch.nn.init':
            return args[0] if args else kwargs['tensor']
        return func(*args, **kwargs)


def build_skeleton(family, config):
    """The generator of `config` without its random initialisation, for its members and tensor shapes or for
    weights about to be loaded: non-persistent buffers (filters) are right, parameters and persistent buffers
    are placeholders. Far cheaper than drawing the weights, and than the meta device (which imports
    torch._dynamo on first use, seconds)."""
    with _SkipRandomInit():
        return build_generator(family, config)
