"""Reader of Hammer / genforce `.pth` checkpoints: one container, five generators.

Hammer and genforce save `{'models': {'generator_smooth': sd, 'generator': sd}, 'model_kwargs_init': {...}}` or
`{'generator_smooth': sd, 'generator': sd}` (the smoothed copy is preferred); a bare state dict is read too.
"""

import torch

from . import genforce, names
from . import stylegan2_names as sg2
from . import stylegan3_names as sg3
from .common import Checkpoint, CheckpointError

FORMAT = 'Hammer / genforce .pth'
HAMMER = 'Hammer .pth'  # `Checkpoint.format` of Hammer's own generators (genforce ones say `genforce.FORMAT`)
_COPIES = ('generator_smooth', 'generator')


def _networks(obj):
    """The dict holding `generator_smooth` / `generator` (the object itself or its `models`), or None."""
    networks = obj.get('models') if isinstance(obj, dict) and isinstance(obj.get('models'), dict) else obj
    return networks if isinstance(networks, dict) and any(which in networks for which in _COPIES) else None


def claims(source):
    """A torch file with `generator_smooth` / `generator` (maybe under `models`), or a bare generator state dict."""
    state = source.state_dict()
    return _networks(source.torch_object()) is not None or state is not None and (
        sg2.is_hammer_state(state) or sg3.is_hammer_stylegan3_state(state)
        or genforce.detect_genforce_family(state) is not None)


def generator_state(obj, where):
    """`(state_dict, which copy, its model_kwargs_init entry or None)` of a loaded container."""
    networks = _networks(obj)
    which = next(name for name in _COPIES if name in networks)
    state = networks[which]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{where}: {which} is not a state dict of tensors')
    kwargs = obj.get('model_kwargs_init')
    return dict(state), which, kwargs.get(which) if isinstance(kwargs, dict) else None


def read(source, hints):
    """`Checkpoint` of the generator; `hints` tell what the file cannot (Hammer StyleGAN3, genforce)."""
    obj = source.torch_object()
    if _networks(obj) is None:  # a bare state dict
        state, which, kwargs = source.state_dict(), None, None
    else:
        state, which, kwargs = generator_state(obj, source.path)
    where = f'{source.path} [{which}]' if which else source.path
    extra = {'which': which} if which else {}
    if sg2.is_hammer_state(state):
        config, ours = names.convert_and_infer(state, sg2.hammer_rules(state), where, 'stylegan2',
                                               sg2.config_from_state)
        return Checkpoint('stylegan2', config, ours, HAMMER, extra)
    if sg3.is_hammer_stylegan3_state(state):
        config = sg3.config_from_hammer(state, kwargs, hints, source.path)
        ours = sg3.convert_hammer_state(state, config, where)
        return Checkpoint('stylegan3', config, ours, HAMMER, {**extra, 'cfg': sg3.cfg_of(config)})
    found = genforce.checkpoint_from_genforce_state(state, hints, where, extra)
    if found is None:
        raise CheckpointError(f'{where}: not a generator this toolkit knows (first keys: {list(state)[:4]})')
    return found
