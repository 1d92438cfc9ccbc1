"""Reader of rosinality's stylegan2-pytorch checkpoints: `{'g_ema': state_dict, 'latent_avg': w}`.

Size, style dimension, mapping depth and channel multiplier are inferred from
the tensor shapes (`stylegan2_names.rosinality_rules`, `config_from_state`).
"""

import torch

from . import stylegan2_names as sg2
from .common import Checkpoint, CheckpointError

FORMAT = 'rosinality .pt'


def claims(source):
    """A torch file holding a dict with `g_ema`."""
    obj = source.torch_object()
    return isinstance(obj, dict) and 'g_ema' in obj


def read(source, hints):
    """`Checkpoint` of `g_ema` with `latent_avg` as `w_avg`; nothing in `hints` is needed."""
    obj = source.torch_object()
    where = source.path
    state = obj['g_ema']
    if not isinstance(state, dict) or not sg2.is_rosinality_state(state):
        raise CheckpointError(f'{where}: g_ema is not a rosinality StyleGAN2 generator')
    latent_avg = obj.get('latent_avg')
    if latent_avg is None:
        raise CheckpointError(f'{where}: no latent_avg next to g_ema (needed for truncation)')
    state = {**state, 'latent_avg': torch.as_tensor(latent_avg)}
    config, ours = sg2.convert_and_infer(state, sg2.rosinality_rules(state, where), where)
    return Checkpoint('stylegan2', config, ours, FORMAT)
