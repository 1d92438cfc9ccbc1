"""Write network pickles in the layout NVlabs' persistence module produces.

The layout is public (torch_utils/persistence.py): every network object is
pickled as `torch_utils.persistence._reconstruct_persistent_obj(meta)` with
`meta = dict(type='class', version, module_src, class_name, state)` and
`state` the module's `__dict__`. Tests use this to build pickles from the
golden state dicts without any NVlabs code.
"""

import contextlib
import pickle
import sys
import types
from collections import OrderedDict

PLACEHOLDER_SRC = '# module source placeholder: never executed by the toolkit\n'


def _reconstruct_persistent_obj(meta):  # stands in for NVlabs' function while pickling
    raise RuntimeError('this placeholder must never be called')


class Persistent:
    """Pickles as NVlabs' persistent-object call."""

    def __init__(self, meta):
        self.meta = meta

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


@contextlib.contextmanager
def fake_nvlabs_modules():
    """Register `torch_utils.persistence` only while pickling, so pickle can name it."""
    parent = types.ModuleType('torch_utils')
    module = types.ModuleType('torch_utils.persistence')
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    parent.persistence = module
    saved = {name: sys.modules.get(name) for name in ('torch_utils', 'torch_utils.persistence')}
    old_module, old_name = _reconstruct_persistent_obj.__module__, _reconstruct_persistent_obj.__qualname__
    _reconstruct_persistent_obj.__module__ = 'torch_utils.persistence'
    sys.modules['torch_utils'] = parent
    sys.modules['torch_utils.persistence'] = module
    try:
        yield
    finally:
        _reconstruct_persistent_obj.__module__ = old_module
        _reconstruct_persistent_obj.__qualname__ = old_name
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value


def module_tree(state_dict, class_name='Generator', init_kwargs=None, buffer_names=(), module_src=PLACEHOLDER_SRC):
    """Nested persistent objects holding `state_dict`, like a pickled NVlabs module tree."""
    root = {'_parameters': OrderedDict(), '_buffers': OrderedDict(), '_modules': OrderedDict()}
    for key, value in state_dict.items():
        node = root
        *path, leaf = key.split('.')
        for part in path:
            node = node['_modules'].setdefault(
                part, {'_parameters': OrderedDict(), '_buffers': OrderedDict(), '_modules': OrderedDict()})
        is_buffer = any(leaf == name or key.endswith(name) for name in buffer_names)
        node['_buffers' if is_buffer else '_parameters'][leaf] = value.clone()

    def build(node, name, kwargs):
        state = {
            'training': False,
            '_parameters': node['_parameters'],
            '_buffers': node['_buffers'],
            '_non_persistent_buffers_set': set(),
            '_forward_hooks': OrderedDict(),
            '_forward_pre_hooks': OrderedDict(),
            '_modules': OrderedDict((k, build(v, k, {})) for k, v in node['_modules'].items()),
            '_init_args': (),
            '_init_kwargs': kwargs,
        }
        meta = dict(type='class', version=4, module_src=module_src, class_name=name, state=state)
        return Persistent(meta)

    return build(root, class_name, dict(init_kwargs or {}))


def write_nvlabs_pickle(path, state_dict, init_kwargs, extra=None, protocol=4, **tree_kwargs):
    """A network-snapshot-like pickle: `{'G': ..., 'D': None, 'G_ema': ..., 'training_set_kwargs': ...}`."""
    g_ema = module_tree(state_dict, init_kwargs=init_kwargs, **tree_kwargs)
    data = {'G': None, 'D': None, 'G_ema': g_ema, 'augment_pipe': None,
            'training_set_kwargs': {'resolution': init_kwargs.get('img_resolution')}}
    data.update(extra or {})
    with fake_nvlabs_modules():
        blob = pickle.dumps(data, protocol=protocol)
    with open(path, 'wb') as file:
        file.write(blob)
    return path
