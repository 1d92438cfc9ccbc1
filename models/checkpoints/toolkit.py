"""Reader of the toolkit's own exported generators: `{'family', 'config', 'state_dict', 'meta'}`.

`python -m demo.train` writes this format (the shipped `models/builtin/faces64.pt`
is one): the family's name, the fields of its config, the state dict under our
module names (float16 or float32; read as float32) and a dict of facts about
the training.
"""

import torch

from ..registry import FAMILIES, family_classes
from .common import Checkpoint, CheckpointError

FORMAT = 'toolkit export'
KEYS = ('family', 'config', 'state_dict')


def claims(source):
    """A torch file holding a dict with `family`, `config` and `state_dict`."""
    obj = source.torch_object()
    return isinstance(obj, dict) and all(key in obj for key in KEYS)


def read(source, hints):
    """`Checkpoint` of the file, its `meta` in `extra`; nothing in `hints` is needed."""
    obj = source.torch_object()
    where = source.path
    family, fields, state = (obj[key] for key in KEYS)
    if family not in FAMILIES:
        raise CheckpointError(f'{where}: family {family!r} is not one of {sorted(FAMILIES)}')
    if not isinstance(fields, dict):
        raise CheckpointError(f'{where}: config is a {type(fields).__name__}, not a dict of settings')
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{where}: state_dict is not a dict of tensors')
    try:
        config = family_classes(family)[1](**fields)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f'{where}: config does not build a {family} generator '
                              f'({" ".join(str(error).split())[:160]})') from None
    state = {key: value.float() if value.is_floating_point() else value for key, value in state.items()}
    bad = next((key for key, value in state.items() if value.is_floating_point() and not value.isfinite().all()), None)
    if bad is not None:
        raise CheckpointError(f'{where}: {bad} holds NaN or infinite values')
    meta = obj.get('meta')
    return Checkpoint(family, config, state, FORMAT, {'meta': meta} if isinstance(meta, dict) else {})
