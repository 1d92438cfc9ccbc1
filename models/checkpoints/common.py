"""What every reader shares: the result type, the errors, the channel formula."""

from dataclasses import dataclass, field


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message names the file and the problem."""


class SettingMismatch(CheckpointError):
    """A setting asked for disagrees with the checkpoint, which holds `held` (None: its family has no such setting)."""

    def __init__(self, path, setting, given, held):
        self.path, self.setting, self.given, self.held = str(path), setting, given, held
        if setting == 'family':
            message = f'asked for a {given} generator, but the checkpoint holds a {held} generator'
        else:
            holds = f'holds {setting}={held}' if held is not None else f'has no {setting}'
            message = f'{setting}={given} was asked for, but the checkpoint {holds}'
        super().__init__(f'{path}: {message}')

    def __reduce__(self):
        return type(self), (self.path, self.setting, self.given, self.held)


class SettingNeeded(CheckpointError):
    """The file cannot tell a setting: several values (`choices`) fit, one must be given."""

    def __init__(self, path, setting, choices):
        self.path, self.setting, self.choices = str(path), setting, list(choices)
        super().__init__(f'{path}: the file cannot tell {setting}: {self.choices} all fit; give {setting}')

    def __reduce__(self):
        return type(self), (self.path, self.setting, self.choices)


@dataclass
class Checkpoint:
    """What a reader returns: enough to build the generator and fill it."""

    family: str              # 'stylegan2', 'stylegan3', 'stylegan', 'pggan' or 'biggan'.
    config: object           # The family's config dataclass.
    state_dict: dict         # Tensors under our module's names, checked against the model of `config`.
    format: str              # Human-readable name of the on-disk format.
    extra: dict = field(default_factory=dict)  # Facts of the file: which copy was read, StyleGAN3 `cfg`, `meta`.


def lod_is_zero(value):
    """Check of a progressive-growing `lod` value: only finished networks (lod 0) are read."""
    lod = float(value)
    return None if lod == 0 else f'is {lod:g}: a snapshot taken during progressive growing; only lod 0 is supported'


def infer_channel_formula(channels_by_res, where, default_base=None):
    """`(channel_base, channel_max)` with `channels_by_res[res] = min(channel_base // res, channel_max)`; where all
    sit at the cap, `default_base`, else the smallest base (at least 32768 for official widths)."""
    channel_max = max(channels_by_res.values())
    below = [(res, ch) for res, ch in sorted(channels_by_res.items()) if ch < channel_max]
    smallest = channel_max * max(channels_by_res)
    if below:
        candidates = [below[0][1] * below[0][0]] + ([default_base] if default_base else [])
    elif default_base is None:
        candidates = [max(smallest, 32768) if channel_max >= 512 else smallest]
    else:
        candidates = [default_base, smallest]
    for base in candidates:
        if all(min(base // res, channel_max) == ch for res, ch in channels_by_res.items()):
            return base, channel_max
    raise CheckpointError(f'{where}: channel counts {dict(sorted(channels_by_res.items()))} '
                          f'do not follow min(channel_base // res, channel_max)')
