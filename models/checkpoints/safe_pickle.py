"""A pickle reader that never imports or runs anything named by the file.

NVlabs' pickles store each network as a call to `_reconstruct_persistent_obj(meta)`, `meta` holding the class name,
its module's source (which the official loader executes) and the state. Here that call gives a `PersistentObject`
(source dropped), NVlabs classes become `OpaqueObject`s that only record their state, tensors and arrays are rebuilt by
our own functions, and any other global (`os.system`, `eval`, ...) raises `UnsafePickleError`.
"""

import _compat_pickle
import collections
import functools
import io
import pickle

import numpy as np
import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something that is not plain data."""


class PersistentObject:
    """What NVlabs' `_reconstruct_persistent_obj(meta)` would have built, as data (its `module_src` is left out)."""

    def __init__(self, meta):
        meta = meta if isinstance(meta, dict) else {}
        self.class_name = str(meta.get('class_name', ''))
        self.state = meta['state'] if isinstance(meta.get('state'), dict) else {}


class OpaqueObject:
    """An instance of a class from the NVlabs code base, holding only its pickled state."""

    qualname = '?'

    def __init__(self, *args, **kwargs):
        self.state = {}

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = state

    def __setitem__(self, key, value):  # for pickled dict subclasses
        self.state[key] = value


class EasyDict(dict):
    """`dnnlib.EasyDict`, read as a dict (a subclass, so that pickled instance state has a place)."""


@functools.lru_cache(maxsize=None)
def _opaque_class(module, name):
    return type(name, (OpaqueObject,), {'qualname': f'{module}.{name}'})


# Stand-ins for the functions a pickle names; what they do not expect fails as a damaged file.

def _load_storage_bytes(data):
    """`torch.storage._load_from_bytes`, restricted to weights."""
    return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused, dtype=None):
    """`torch._utils._rebuild_tensor(_v2)`; `_v3` gives the dtype (an untyped storage alone holds bytes)."""
    untyped = isinstance(storage, torch.UntypedStorage)
    tensor = torch.empty((0,), dtype=dtype or (torch.uint8 if untyped else storage.dtype))
    tensor.set_(storage if untyped else storage._untyped_storage, storage_offset, torch.Size(size), tuple(stride))
    return tensor


def _rebuild_parameter(data, *unused):
    return data


def _new_object(cls, *unused):
    """`copyreg._reconstructor` and `copyreg.__newobj__`, limited to the classes this reader lets through."""
    if not (isinstance(cls, type) and issubclass(cls, (OpaqueObject, EasyDict))):
        raise UnsafePickleError(f'refusing to build an instance of {getattr(cls, "__name__", cls)!r}')
    return cls.__new__(cls)


_DTYPES = {name: getattr(torch, name) for name in (
    'float16', 'float32', 'float64', 'bfloat16', 'uint8', 'int8', 'int16', 'int32', 'int64', 'bool')}

_ALLOWED = {
    ('torch_utils.persistence', '_reconstruct_persistent_obj'): PersistentObject,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v3'): lambda *args: _rebuild_tensor(*args[:4], dtype=args[6]),
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch.storage', '_load_from_bytes'): _load_storage_bytes,
    ('torch', 'Size'): torch.Size,
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('collections', 'defaultdict'): collections.defaultdict,
    ('_codecs', 'encode'): lambda text, encoding='latin1': text.encode(encoding),
    ('copyreg', '_reconstructor'): _new_object,
    ('copyreg', '__newobj__'): _new_object,
    ('dnnlib', 'EasyDict'): EasyDict,
    ('dnnlib.util', 'EasyDict'): EasyDict,
    ('tfutil', 'Network'): _opaque_class('tfutil', 'Network'),  # networks of the original PGGAN release
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
}
for _module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    _ALLOWED[(_module, '_reconstruct')] = lambda subtype, shape, dtype: np.ndarray.__new__(np.ndarray, shape, dtype)
    _ALLOWED[(_module, 'scalar')] = lambda dtype, data=None: (np.frombuffer(data, dtype, count=1)[0] if data is not None
                                                             else np.dtype(dtype).type(0))
_ALLOWED.update({('torch', name): dtype for name, dtype in _DTYPES.items()})
_ALLOWED.update({('builtins', t.__name__): t for t in (set, frozenset, object, slice, complex, bytearray)})
for _name in ('FloatStorage', 'DoubleStorage', 'HalfStorage', 'LongStorage', 'IntStorage',
              'ByteStorage', 'BoolStorage', 'BFloat16Storage', 'UntypedStorage'):
    _ALLOWED[('torch', _name)] = getattr(torch, _name)

# Classes of these code bases are read as opaque data holders.
_OPAQUE_MODULE_PREFIXES = ('training.', 'torch_utils.', 'dnnlib.', 'metrics.')


class _RestrictedUnpickler(pickle.Unpickler):

    def find_class(self, module, name):
        # Python 2 names (protocol 2 pickles), mapped as the standard unpickler does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.startswith(_OPAQUE_MODULE_PREFIXES) and name[:1].isupper():
            return _opaque_class(module, name)
        raise UnsafePickleError(f'it references {module}.{name}, which is not data')

    def persistent_load(self, pid):
        raise UnsafePickleError('it uses persistent ids, which plain network pickles do not')


def load_pickle(path):
    """Read a network pickle as data; raises `UnsafePickleError` for anything else."""
    with open(path, 'rb') as file:
        return _RestrictedUnpickler(file).load()


def is_pickle(head):
    """Whether the first bytes of a file look like a pickle stream (protocol 2+)."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5)
