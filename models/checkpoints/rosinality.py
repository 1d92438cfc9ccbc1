"""Reader of rosinality's stylegan2-pytorch checkpoints: `{'g_ema': state_dict, 'latent_avg': w}`.

Size, style dimension, mapping depth and channel multiplier are inferred from the tensor shapes.
"""

from . import names
from . import stylegan2_names as sg2
from .common import Checkpoint, CheckpointError

FORMAT = 'rosinality .pt'


def claims(source):
    """A torch file holding a dict with `g_ema`."""
    obj = source.torch_object()
    return isinstance(obj, dict) and 'g_ema' in obj


def read(source, hints):
    """`Checkpoint` of `g_ema` with `latent_avg` (needed for truncation) as `w_avg`; nothing in `hints` is needed."""
    obj = source.torch_object()
    if not isinstance(obj['g_ema'], dict) or not sg2.is_rosinality_state(obj['g_ema']):
        raise CheckpointError(f'{source.path}: g_ema is not a rosinality StyleGAN2 generator')
    state = dict(obj['g_ema'])
    if 'latent_avg' in obj:  # else reported missing
        state['latent_avg'] = obj['latent_avg']
    config, ours = names.convert_and_infer(state, sg2.rosinality_rules(state), source.path, 'stylegan2',
                                           sg2.config_from_state)
    return Checkpoint('stylegan2', config, ours, FORMAT)
