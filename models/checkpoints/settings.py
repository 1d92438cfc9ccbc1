"""Settings asked for when loading a checkpoint, checked against it in one place.

`read_checkpoint(path, **expected)` and `models.load_generator(source, **expected)`
take `EXPECTED` settings (`cfg` is StyleGAN3's 'T' or 'R') and `HINTS`, config
fields that the tensors of some formats cannot tell (genforce). Readers use them
where the file cannot tell; `check_expected` then compares every one with the
checkpoint. `channel_base` and `channel_max` agree when they give the model the
same tensor shapes.
"""

import dataclasses

from .common import SettingMismatch
from ..registry import build_skeleton
from .names import model_shapes

EXPECTED = ('family', 'cfg', 'img_resolution', 'w_dim', 'z_dim', 'channel_base', 'channel_max')
HINTS = ('c_dim', 'fused_scale', 'mapping_lr_multiplier', 'final_tanh')
_WIDTHS = ('channel_base', 'channel_max')  # agree when they give the same tensor shapes


def checked_settings(settings):
    """The settings that are not None; an unknown name is an error naming the known ones."""
    unknown = sorted(set(settings) - set(EXPECTED + HINTS))
    if unknown:
        raise ValueError(f'unknown checkpoint setting {unknown[0]!r}; choose from {list(EXPECTED + HINTS)}')
    return {name: value for name, value in settings.items() if value is not None}


def check_expected(checkpoint, path, expected):
    """Raise `SettingMismatch` at the first setting of `expected` that disagrees with `checkpoint`.

    `held` is None when the checkpoint's family has no such setting.
    """
    expected = checked_settings(expected)
    if not expected:
        return
    generator = build_skeleton(checkpoint.family, checkpoint.config)
    fields = dataclasses.asdict(checkpoint.config)
    for name in (name for name in EXPECTED + HINTS if name in expected):
        if name in ('family', 'cfg'):
            held = checkpoint.family if name == 'family' else checkpoint.extra.get('cfg')
        elif name in ('img_resolution', 'w_dim', 'z_dim', 'c_dim'):
            held = getattr(generator, name)
        else:
            held = fields.get(name)
        value = expected[name]
        if value != held and not (name in _WIDTHS and held is not None and _same_shapes(checkpoint, name, value)):
            raise SettingMismatch(path, name, value, held)


def _same_shapes(checkpoint, name, value):
    """Whether the config with `name=value` gives the generator the same tensor shapes."""
    changed = dataclasses.replace(checkpoint.config, **{name: value})
    return model_shapes(checkpoint.family, changed) == model_shapes(checkpoint.family, checkpoint.config)
