"""Reader of NVlabs TensorFlow network pickles (StyleGAN2, StyleGAN, PGGAN), without TensorFlow.

The official TensorFlow releases pickle a tuple `(G, D, Gs)` (some snapshots a
dict with `Gs` or `G_ema`) of `dnnlib.tflib.network.Network` objects
(`tfutil.Network` in the original PGGAN code). `safe_pickle` reads each as an
`OpaqueObject` whose state holds `version`, `static_kwargs`, `components`,
`build_module_src` (never executed), `build_func_name` and `variables`.
Variables are collected as NVlabs' `legacy.py` names them and converted by
`tensorflow_names`.
"""

import numpy as np
import torch

from . import tensorflow_names
from .common import Checkpoint, CheckpointError
from .safe_pickle import OpaqueObject

FORMAT = 'NVlabs TensorFlow pickle'
TF_NETWORK_CLASSES = ('dnnlib.tflib.network.Network', 'tfutil.Network')
SUPPORTED_VERSIONS = (2, 3, 4)


def is_tf_network(obj):
    """Whether `obj` is a pickled TensorFlow `Network` as `safe_pickle` reads it."""
    return isinstance(obj, OpaqueObject) and obj.qualname in TF_NETWORK_CLASSES and isinstance(obj.state, dict)


def _generator(obj):
    """`(which, network)` of the generator to read, or None when `obj` holds no TensorFlow networks."""
    if isinstance(obj, tuple):
        if len(obj) == 3 and all(is_tf_network(net) for net in obj):
            return 'Gs', obj[2]
        return None
    if isinstance(obj, dict):
        which = 'G_ema' if 'G_ema' in obj else 'Gs'
        if is_tf_network(obj.get(which)):
            return which, obj[which]
    return None


def claims(source):
    """A pickle of `(G, D, Gs)` TensorFlow networks, or a dict whose `G_ema` / `Gs` is one."""
    return source.is_pickle and _generator(source.pickle_object()) is not None


def read(source, hints):
    """`Checkpoint` of the generator `Gs` (or `G_ema`); nothing in `hints` is needed."""
    which, network = _generator(source.pickle_object())
    where = f'{source.path} [{which}]'
    variables, kwargs = collect_tf_variables(network, where)
    family, config, state = tensorflow_names.read_tf_variables(variables, kwargs, where)
    return Checkpoint(family, config, state, FORMAT,
                      {'which': which, 'build_func_name': network.state.get('build_func_name')})


def collect_tf_variables(network, where):
    """All variables of a network and its components, named as NVlabs' `legacy.py` names them.

    Returns:
        `(variables, kwargs)`: `{'mapping/Dense0/weight': float32 tensor, ...}`
        (the network's own variables unprefixed, a component's under
        `component/`), and the static kwargs of the network and its
        components merged (components last).
    """
    variables, kwargs, seen = {}, {}, set()

    def visit(net, prefix):
        name = prefix or 'Gs'
        if id(net) in seen:
            raise CheckpointError(f'{where}: network {name} appears twice in the component tree')
        seen.add(id(net))
        state = net.state
        version = state.get('version')
        if version not in SUPPORTED_VERSIONS:
            raise CheckpointError(f'{where}: TensorFlow network {name} has format version {version!r}; '
                                  f'this reader knows versions {list(SUPPORTED_VERSIONS)}')
        static = state.get('static_kwargs') or {}
        if not isinstance(static, dict):
            raise CheckpointError(f'{where}: static_kwargs of network {name} is not a dict')
        kwargs.update(static)
        pairs = state.get('variables')
        if not isinstance(pairs, (list, tuple)):
            raise CheckpointError(f'{where}: network {name} has no variable list')
        for pair in pairs:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)):
                raise CheckpointError(f'{where}: network {name} holds a malformed variable entry')
            key = prefix + pair[0]
            if key in variables:
                raise CheckpointError(f'{where}: TensorFlow variable {key} appears twice')
            variables[key] = _to_tensor(pair[1], key, where)
        components = state.get('components') or {}
        if not isinstance(components, dict):
            raise CheckpointError(f'{where}: components of network {name} is not a dict')
        for child_name, child in components.items():
            if not is_tf_network(child):
                raise CheckpointError(f'{where}: component {prefix}{child_name} is a {type(child).__name__}, '
                                      f'not a TensorFlow network')
            visit(child, f'{prefix}{child_name}/')

    visit(network, '')
    return variables, kwargs


def _to_tensor(value, name, where):
    array = np.asarray(value)
    if array.dtype.kind not in 'fiub':
        raise CheckpointError(f'{where}: TensorFlow variable {name} holds {array.dtype} data, not numbers')
    return torch.from_numpy(np.array(array, dtype=np.float32))
