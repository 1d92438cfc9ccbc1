"""Settings asked for when loading a checkpoint, checked against it in one place.

`read_checkpoint(path, **expected)` and `models.load_generator(source, **expected)`
take settings in the models' own vocabulary:

- `EXPECTED`: `family`, `cfg` ('T' or 'R', StyleGAN3), `img_resolution`,
  `w_dim`, `z_dim`, `channel_base`, `channel_max`;
- `HINTS`: config fields that the tensors of some formats cannot tell
  (genforce: `c_dim` of a PGGAN, `fused_scale`, `mapping_lr_multiplier`,
  `final_tanh`).

Readers may use any of them as hints where the file cannot tell (a Hammer
StyleGAN3 without constructor kwargs, a genforce PGGAN's `c_dim`); after
reading, `check_expected` compares every one with the checkpoint and raises
`SettingMismatch` at the first disagreement. `channel_base` and
`channel_max` agree when they give the model the same tensor shapes.
"""

import dataclasses

import torch

from ..registry import build_generator
from .common import SettingMismatch

__all__ = ['EXPECTED', 'HINTS', 'check_expected', 'checked_settings']

EXPECTED = ('family', 'cfg', 'img_resolution', 'w_dim', 'z_dim', 'channel_base', 'channel_max')
HINTS = ('c_dim', 'fused_scale', 'mapping_lr_multiplier', 'final_tanh')
_WIDTHS = ('channel_base', 'channel_max')  # agree when they give the same tensor shapes


def checked_settings(settings):
    """The settings that are not None; an unknown name is an error naming the known ones."""
    for name in settings:
        if name not in EXPECTED + HINTS:
            raise ValueError(f'unknown checkpoint setting {name!r}; choose from {list(EXPECTED + HINTS)}')
    if settings.get('cfg') not in (None, 'T', 'R'):
        raise ValueError(f"cfg must be 'T' or 'R', got {settings['cfg']!r}")
    return {name: value for name, value in settings.items() if value is not None}


def check_expected(checkpoint, path, expected):
    """Compare the settings asked for with what `checkpoint` holds.

    Args:
        checkpoint: A `Checkpoint` (its family, config and `extra['cfg']` for StyleGAN3).
        path: The file, for messages.
        expected: Settings from `EXPECTED` and `HINTS` (None values are skipped).

    Raises:
        SettingMismatch: the first setting that disagrees (`held` is None when
            the family has no such setting).
    """
    expected = checked_settings(expected)
    if not expected:
        return
    family = expected.get('family')
    if family is not None and family != checkpoint.family:
        raise SettingMismatch(path, 'family', family, checkpoint.family)
    if 'cfg' in expected:
        held = checkpoint.extra.get('cfg')
        if expected['cfg'] != held:
            raise SettingMismatch(path, 'cfg', expected['cfg'], held)
    fields = {f.name for f in dataclasses.fields(checkpoint.config)}
    generator = _meta_generator(checkpoint.family, checkpoint.config)
    members = {'img_resolution': generator.img_resolution, 'w_dim': generator.w_dim,
               'z_dim': generator.z_dim, 'c_dim': generator.c_dim}
    for name, value in expected.items():
        if name in ('family', 'cfg'):
            continue
        if name in members:
            held = members[name]
        elif name not in fields:
            raise SettingMismatch(path, name, value, None)
        else:
            held = getattr(checkpoint.config, name)
            if name in _WIDTHS and value != held and _same_shapes(checkpoint, generator, {name: value}):
                continue
        if value != held:
            raise SettingMismatch(path, name, value, held)


def _meta_generator(family, config):
    """The generator of `config`, built on the meta device (shapes and members, no memory)."""
    with torch.device('meta'):
        return build_generator(family, config)


def _same_shapes(checkpoint, generator, change):
    """Whether the config with `change` gives the generator the same tensor shapes."""
    try:
        other = _meta_generator(checkpoint.family, dataclasses.replace(checkpoint.config, **change))
    except ValueError:  # the changed config is not a valid one
        return False
    ours, theirs = generator.state_dict(), other.state_dict()
    return ours.keys() == theirs.keys() and all(ours[key].shape == theirs[key].shape for key in ours)
