"""The registry of generator families: name -> generator class and config class."""

import importlib

__all__ = ['FAMILIES', 'family_classes', 'build_generator']

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
