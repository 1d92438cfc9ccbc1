"""Reader of the toolkit's own exported generators: `{'family', 'config', 'state_dict', 'meta'}`.

`python -m demo.train` writes it (the shipped `models/builtin/faces64.pt` is one): the family's name, the
fields of its config, the state dict under our module names (float16 or float32) and facts of the training.
"""

from . import names
from .common import Checkpoint, CheckpointError

FORMAT = 'toolkit export'
KEYS = ('family', 'config', 'state_dict')


def claims(source):
    """A torch file holding a dict with `family`, `config` and `state_dict`."""
    obj = source.torch_object()
    return isinstance(obj, dict) and all(key in obj for key in KEYS)


def read(source, hints):
    """`Checkpoint` of the file, its `meta` in `extra`; nothing in `hints` is needed."""
    obj, where = source.torch_object(), source.path
    family, fields, state = (obj[key] for key in KEYS)
    if not isinstance(fields, dict) or not isinstance(state, dict):
        raise CheckpointError(f'{where}: its config and state_dict must be dicts, not a {type(fields).__name__} '
                              f'and a {type(state).__name__}')
    config = names.make_config(family, where, **fields)
    meta = obj.get('meta')
    return Checkpoint(family, config, names.convert(state, names.own_rules(family, config), where), FORMAT,
                      {'meta': meta} if isinstance(meta, dict) else {})
