"""A pickle reader that never imports or runs anything named by the file.

NVlabs' network pickles are written through their `persistence` module: every
network object is stored as a call to
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta`
holds the class name, the source code of its module (`module_src`, which the
official loader executes) and the object's state. TensorFlow-era pickles store
`dnnlib.tflib.network.Network` objects whose state lists the TF variables as
numpy arrays.

`load_pickle` reads such files as plain data: the persistence call returns a
`PersistentObject` (class name, state; the module source is kept as an inert
string and never executed), classes of the NVlabs code base become
`OpaqueObject`s that only record their state, tensors and numpy arrays are
rebuilt by our own functions, and any other global (`os.system`, `eval`,
`subprocess.Popen`, ...) stops the load with an `UnsafePickleError`.
"""

import _compat_pickle
import collections
import io
import pickle

import numpy as np
import torch


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something that is not plain data."""


class PersistentObject:
    """What NVlabs' `_reconstruct_persistent_obj(meta)` would have built, as data."""

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise UnsafePickleError('persistent object metadata is not a dict')
        self.meta = meta
        self.class_name = str(meta.get('class_name', ''))
        self.module_src = meta.get('module_src', '')  # kept as text, never executed
        self.state = meta.get('state', {})
        if not isinstance(self.state, dict):
            raise UnsafePickleError(f'state of persistent object {self.class_name!r} is not a dict')

    def __repr__(self):
        return f'PersistentObject({self.class_name!r})'


class OpaqueObject:
    """An instance of a class from the NVlabs code base, holding only its pickled state."""

    qualname = '?'

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        self.state = {}

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = state

    def __setitem__(self, key, value):  # for pickled dict subclasses
        self.state[key] = value

    def __repr__(self):
        return f'OpaqueObject({self.qualname})'


class EasyDict(dict):
    """`dnnlib.EasyDict` read as a plain dict with attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as error:
            raise AttributeError(name) from error


_opaque_classes = {}


def _opaque_class(module, name):
    key = f'{module}.{name}'
    if key not in _opaque_classes:
        _opaque_classes[key] = type(name, (OpaqueObject,), {'qualname': key})
    return _opaque_classes[key]


def _load_storage_bytes(data):
    """`torch.storage._load_from_bytes`, restricted to weights."""
    return torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)


def _storage_of(storage):
    if isinstance(storage, torch.storage.TypedStorage):
        return storage
    if isinstance(storage, torch.UntypedStorage):
        return torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.uint8, _internal=True)
    raise UnsafePickleError(f'expected a tensor storage, got {type(storage).__name__}')


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    storage = _storage_of(storage)
    tensor = torch.empty((0,), dtype=storage.dtype)
    tensor.set_(storage._untyped_storage, storage_offset, torch.Size(size), tuple(stride))
    return tensor


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, *unused):
    tensor = torch.empty((0,), dtype=dtype)
    tensor.set_(storage if isinstance(storage, torch.UntypedStorage) else storage._untyped_storage,
                storage_offset, torch.Size(size), tuple(stride))
    return tensor


def _rebuild_parameter(data, *unused):
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f'parameter data is {type(data).__name__}, not a tensor')
    return data


def _reconstruct_persistent_obj(meta):
    return PersistentObject(meta)


def _encode(text, encoding='latin1'):
    if not isinstance(text, str):
        raise UnsafePickleError('_codecs.encode called on something that is not a string')
    return text.encode(encoding)


def _numpy_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafePickleError('numpy array of an unexpected subtype')
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError('numpy scalar of a non-numeric type')
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type(0)


def _reconstructor(cls, base, state=None):
    """`copyreg._reconstructor`, limited to the classes this reader lets through."""
    if not (isinstance(cls, type) and issubclass(cls, (OpaqueObject, EasyDict))):
        raise UnsafePickleError(f'refusing to build an instance of {getattr(cls, "__name__", cls)!r}')
    return cls.__new__(cls)


def _new_object(cls, *args):
    if isinstance(cls, type) and issubclass(cls, (OpaqueObject, EasyDict)):
        return cls.__new__(cls)
    raise UnsafePickleError(f'refusing to build an instance of {getattr(cls, "__name__", cls)!r}')


_DTYPES = {name: getattr(torch, name) for name in (
    'float16', 'float32', 'float64', 'bfloat16', 'uint8', 'int8', 'int16', 'int32', 'int64', 'bool')}

_ALLOWED = {
    ('torch_utils.persistence', '_reconstruct_persistent_obj'): _reconstruct_persistent_obj,
    ('torch._utils', '_rebuild_tensor'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v3'): _rebuild_tensor_v3,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch.storage', '_load_from_bytes'): _load_storage_bytes,
    ('torch', 'Size'): torch.Size,
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('collections', 'defaultdict'): collections.defaultdict,
    ('builtins', 'set'): set,
    ('builtins', 'frozenset'): frozenset,
    ('builtins', 'object'): object,
    ('builtins', 'slice'): slice,
    ('builtins', 'complex'): complex,
    ('builtins', 'bytearray'): bytearray,
    ('_codecs', 'encode'): _encode,
    ('copyreg', '_reconstructor'): _reconstructor,
    ('copyreg', '__newobj__'): _new_object,
    ('dnnlib', 'EasyDict'): EasyDict,
    ('dnnlib.util', 'EasyDict'): EasyDict,
    ('tfutil', 'Network'): _opaque_class('tfutil', 'Network'),  # networks of the original PGGAN release
    ('numpy', 'ndarray'): np.ndarray,
    ('numpy', 'dtype'): np.dtype,
    ('numpy.core.multiarray', '_reconstruct'): _numpy_reconstruct,
    ('numpy._core.multiarray', '_reconstruct'): _numpy_reconstruct,
    ('numpy.core.multiarray', 'scalar'): _numpy_scalar,
    ('numpy._core.multiarray', 'scalar'): _numpy_scalar,
}
_ALLOWED.update({('torch', name): dtype for name, dtype in _DTYPES.items()})
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
