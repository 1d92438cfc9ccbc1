"""Write network pickles in the layouts NVlabs' code produces, without any NVlabs code.

PyTorch pickles: the layout is public (torch_utils/persistence.py): every
network object is pickled as `torch_utils.persistence._reconstruct_persistent_obj(meta)`
with `meta = dict(type='class', version, module_src, class_name, state)` and
`state` the module's `__dict__`.

TensorFlow pickles: a `(G, D, Gs)` tuple (or a dict) of `dnnlib.tflib.network.Network`
objects (`tfutil.Network` for the original PGGAN release) whose state holds
`version`, `name`, `static_kwargs`, `components`, `build_module_src`,
`build_func_name` and `variables` (name, numpy array).
"""

import contextlib
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np

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


# ----------------------------------------------------------------------------
# TensorFlow network pickles.

def never_run_src(marker='never-created'):
    """Stand-in for `build_module_src`: it would create `marker` if anything executed it."""
    return f"open({str(marker)!r}, 'w').close()\n"


class Network:
    """Pickles like a TensorFlow `Network`: its pickled state is what `__getstate__` returns."""

    def __init__(self, name, variables, components=None, static_kwargs=None, build_func_name='G_main', version=4,
                 src=None):
        self.state = dict(version=version, name=name, static_kwargs=dict(static_kwargs or {}),
                          components=dict(components or {}), build_module_src=src or never_run_src(),
                          build_func_name=build_func_name, variables=list(variables.items()))
        if version == 2:  # the original PGGAN code has no components
            del self.state['components']

    def __getstate__(self):
        return self.state


@contextlib.contextmanager
def tf_class_names(module_name='dnnlib.tflib.network'):
    """Let pickle name `Network` as `module_name.Network`, only while pickling."""
    parts = module_name.split('.')
    names = ['.'.join(parts[:i + 1]) for i in range(len(parts))]
    saved = {name: sys.modules.get(name) for name in names}
    old_module = Network.__module__
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[module_name].Network = Network
    Network.__module__ = module_name
    try:
        yield
    finally:
        Network.__module__ = old_module
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def write_tf_pickle(path, Gs, form='tuple', protocol=4, module_name='dnnlib.tflib.network'):
    """Write `(G, D, Gs)` (or `{'G', 'D', 'Gs'}`); `G` is a perturbed copy, so reading it fails the test."""
    G = perturbed_copy(Gs)
    D = Network('D', {'4x4/Conv/weight': np.ones([3, 3, 4, 4], np.float32)}, build_func_name='D_main',
                version=Gs.state['version'])
    obj = (G, D, Gs) if form == 'tuple' else {'G': G, 'D': D, 'Gs': Gs}
    with tf_class_names(module_name):
        blob = pickle.dumps(obj, protocol=protocol)
    path.write_bytes(blob)
    return path


def perturbed_copy(net):
    state = net.state
    copy = Network.__new__(Network)
    copy.state = dict(state, variables=[(k, v + np.float32(0.5)) for k, v in state['variables']],
                      components={k: perturbed_copy(c) for k, c in state.get('components', {}).items()})
    if 'components' not in state:
        del copy.state['components']
    return copy
