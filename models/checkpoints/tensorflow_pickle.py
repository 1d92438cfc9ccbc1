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
    if isinstance(obj, tuple) and len(obj) == 3 and all(is_tf_network(net) for net in obj):
        return 'Gs', obj[2]
    which = 'G_ema' if isinstance(obj, dict) and 'G_ema' in obj else 'Gs'
    return (which, obj[which]) if isinstance(obj, dict) and is_tf_network(obj.get(which)) else None


def claims(source):
    """A pickle of `(G, D, Gs)` TensorFlow networks, or a dict whose `G_ema` / `Gs` is one."""
    return source.is_pickle and _generator(source.pickle_object()) is not None


def read(source, hints):
    """`Checkpoint` of the generator `Gs` (or `G_ema`); nothing in `hints` is needed."""
    which, network = _generator(source.pickle_object())
    where = f'{source.path} [{which}]'
    family, config, state = tensorflow_names.read_tf_variables(*collect_tf_variables(network, where), where)
    return Checkpoint(family, config, state, FORMAT,
                      {'which': which, 'build_func_name': network.state.get('build_func_name')})


def collect_tf_variables(network, where):
    """`(variables, kwargs)`: the float32 variables of a network and its components as NVlabs' `legacy.py` names
    them (`mapping/Dense0/weight`: a component's under `component/`), and their static kwargs merged."""
    variables, kwargs, seen = {}, {}, set()

    def visit(net, prefix):
        problem = _problem(net, seen)
        if problem:
            raise CheckpointError(f'{where}: network {prefix or "Gs"} {problem}')
        seen.add(id(net))
        kwargs.update(net.state.get('static_kwargs') or {})
        for name, value in net.state['variables']:
            variables[prefix + name] = torch.from_numpy(np.array(value, dtype=np.float32))
        for name, child in (net.state.get('components') or {}).items():
            visit(child, f'{prefix}{name}/')

    visit(network, '')
    return variables, kwargs


def _problem(net, seen):
    """What is wrong with a network of the component tree, or None."""
    if id(net) in seen:
        return 'appears twice in the component tree'
    if not is_tf_network(net):
        return f'is a {type(net).__name__}, not a TensorFlow network'
    state = net.state
    if state.get('version') not in SUPPORTED_VERSIONS:
        return f'has format version {state.get("version")!r}; this reader knows versions {list(SUPPORTED_VERSIONS)}'
    pairs = state.get('variables')
    if not (isinstance(state.get('static_kwargs') or {}, dict) and isinstance(state.get('components') or {}, dict)
            and isinstance(pairs, (list, tuple)) and all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
                and np.asarray(pair[1]).dtype.kind in 'fiub' for pair in pairs)):
        return 'has malformed static_kwargs, components or variables (a list of names and numeric arrays)'
    return None
