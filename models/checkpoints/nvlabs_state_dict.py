"""Reader of bare NVlabs generator state dicts (`torch.save(G_ema.state_dict())`): StyleGAN2.

The StyleGAN2 config is inferred from the tensor shapes; a StyleGAN3 state dict is refused (its filters and cutoffs
cannot be told from the shapes).
"""

from . import stylegan2_names as sg2
from . import stylegan3_names as sg3
from .common import Checkpoint, CheckpointError

FORMAT = 'NVlabs state dict'


def claims(source):
    """A torch file holding only tensors, named as NVlabs' StyleGAN2 or StyleGAN3 generator names them."""
    state = source.state_dict()
    return state is not None and (sg2.is_nvlabs_state(state) or sg3.is_nvlabs_stylegan3_state(state))


def read(source, hints):
    """`Checkpoint` of the state dict; nothing in `hints` is needed."""
    state = source.state_dict()
    if not sg2.is_nvlabs_state(state):
        raise CheckpointError(f'{source.path}: a bare NVlabs StyleGAN3 state dict has no constructor kwargs; '
                              'load the network pickle instead')
    config = sg2.config_from_state(state, source.path)
    return Checkpoint('stylegan2', config, sg2.convert_nvlabs_state(state, config, source.path), FORMAT)
