"""Pieces shared by the checkpoint readers."""

from dataclasses import dataclass, field

import torch


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message names the file and the problem."""


@dataclass
class Checkpoint:
    """What a reader returns: enough to build the generator and fill it."""

    family: str              # 'stylegan2', 'stylegan3', 'stylegan', 'pggan' or 'biggan'.
    config: object           # The family's config dataclass.
    state_dict: dict         # Tensors under our module's names.
    format: str              # Human-readable name of the on-disk format.
    extra: dict = field(default_factory=dict)  # Format-specific facts (e.g. which copy was used).


def check_tensors(state, where):
    """Every value must be a finite floating tensor (or an integer buffer)."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f'{where}: {key} is a {type(value).__name__}, not a tensor')
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f'{where}: {key} holds NaN or infinite values')


def take(state, key, shape=None, where='checkpoint'):
    """Fetch `state[key]`, checking that it exists and has `shape` (None entries are free)."""
    if key not in state:
        raise CheckpointError(f'{where}: missing tensor {key}')
    value = state[key]
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f'{where}: {key} is a {type(value).__name__}, not a tensor')
    if shape is not None:
        ok = value.ndim == len(shape) and all(s is None or s == v for s, v in zip(shape, value.shape))
        if not ok:
            want = 'x'.join('?' if s is None else str(s) for s in shape)
            raise CheckpointError(f'{where}: {key} has shape {list(value.shape)}, expected [{want}]')
    return value


def rename(state, mapping, ignore=(), where='checkpoint'):
    """Apply a `{source_key: target_key}` map; any key not mapped or ignored is an error.

    `ignore` holds predicates or exact keys of source entries that are recomputed
    by our modules (filter buffers and the like).
    """
    out = {}
    for key, value in state.items():
        if key in mapping:
            out[mapping[key]] = value
        elif any(key == rule if isinstance(rule, str) else rule(key) for rule in ignore):
            continue
        else:
            raise CheckpointError(f'{where}: unexpected tensor {key}')
    missing = [key for key in mapping if key not in state]
    if missing:
        raise CheckpointError(f'{where}: missing tensor {missing[0]}'
                              + (f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''))
    return out


def infer_channel_formula(channels_by_res, where='checkpoint'):
    """Find `(channel_base, channel_max)` with `channels(res) = min(base // res, max)`.

    Args:
        channels_by_res: `{resolution: number of feature maps}`.
    """
    channel_max = max(channels_by_res.values())
    base = None
    for res in sorted(channels_by_res):
        if channels_by_res[res] < channel_max:
            base = channels_by_res[res] * res
            break
    if base is None:  # every resolution is at the cap: any large enough base fits
        base = channel_max * max(channels_by_res)
        base = max(base, 32768) if channel_max >= 512 else base
    for res, channels in channels_by_res.items():
        if min(base // res, channel_max) != channels:
            raise CheckpointError(f'{where}: channel counts {dict(sorted(channels_by_res.items()))} '
                                  f'do not follow min(channel_base // res, channel_max)')
    return base, channel_max
