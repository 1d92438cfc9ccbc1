"""A checkpoint on disk, opened once and shared by the readers that look at it."""

import os
import re
import warnings
import zipfile

import torch

from .common import CheckpointError
from .safe_pickle import UnsafePickleError, is_pickle, load_pickle

_TORCH_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'
_ZIP_MAGIC = b'PK\x03\x04'
_NOT_LOADED = object()


class Source:
    """A file or folder to read, with what it holds loaded at most once.

    Readers ask `claims(source)` of it in turn; the first torch or pickle load
    is kept, so the file is never read twice.

    Attributes:
        path: The file or folder, as given.
        is_dir: Whether `path` is a folder.
        head: The first 64 bytes of a file (empty for a folder).
        is_torch_file: A `torch.save` file (zip archive or legacy format).
        is_pickle: A pickle stream (protocol 2 or later) that is not a torch file.
        is_json: Text that opens a JSON object.

    Raises:
        CheckpointError: the path does not exist or the file is empty.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise CheckpointError(f'{self.path}: no such file')
        self.is_dir = os.path.isdir(self.path)
        self.head = b''
        if not self.is_dir:
            with open(self.path, 'rb') as file:
                self.head = file.read(64)
            if not self.head:
                raise CheckpointError(f'{self.path}: the file is empty')
        self.is_torch_file = not self.is_dir and (zipfile.is_zipfile(self.path)
                                                  or self.head.startswith(_TORCH_LEGACY_MAGIC))
        if not self.is_torch_file and self.head.startswith(_ZIP_MAGIC):
            raise CheckpointError(f'{self.path}: the file is truncated or damaged (a zip archive, as torch.save '
                                  f'writes, whose end is missing); download or copy it again')
        self.is_pickle = not self.is_torch_file and is_pickle(self.head)
        self.is_json = self.head.lstrip().startswith(b'{')
        self._torch = self._pickle = _NOT_LOADED

    def only_file(self):
        """The one checkpoint file in a folder that holds nothing else (notes such as .json/.txt/.md aside).

        Returns:
            Its path, or None when the folder holds no such file.

        Raises:
            CheckpointError: the folder holds several files, naming them.
        """
        names = sorted(name for name in os.listdir(self.path)
                       if os.path.isfile(os.path.join(self.path, name)) and not name.startswith('.')
                       and not name.endswith(('.json', '.sha256', '.txt', '.md')))
        if len(names) == 1:
            return os.path.join(self.path, names[0])
        if not names:
            return None
        raise CheckpointError(f'{self.path}: a folder holding several files ({", ".join(names[:6])}'
                              f'{" ..." if len(names) > 6 else ""}); give the checkpoint file itself')

    def __repr__(self):
        return f'Source({self.path!r})'

    def torch_object(self):
        """What `torch.load(path, weights_only=True)` returns (None for other files)."""
        if not self.is_torch_file:
            return None
        if self._torch is _NOT_LOADED:
            try:
                with warnings.catch_warnings():  # torch warns about storages of damaged files before failing
                    warnings.simplefilter('ignore')
                    self._torch = torch.load(self.path, map_location='cpu', weights_only=True)
            except Exception as error:  # torch raises many types for bad files
                text = str(error).strip()
                message = text.splitlines()[0] if text else type(error).__name__
                if 'weights_only' in text or 'Unsupported global' in text:  # torch's text advises unsafe loading
                    found = re.search(r'GLOBAL ([\w.]+)', text)
                    raise CheckpointError(f'{self.path}: refused to load: it holds Python objects'
                                          + (f' ({found.group(1)})' if found else '')
                                          + ', and only tensors are read from torch files') from None
                raise CheckpointError(f'{self.path}: cannot be read as a torch file, it may be truncated '
                                      f'({message[:200]})') from None
        return self._torch

    def pickle_object(self):
        """The pickle read as data by `safe_pickle` (None for other files)."""
        if not self.is_pickle:
            return None
        if self._pickle is _NOT_LOADED:
            try:
                self._pickle = load_pickle(self.path)
            except UnsafePickleError as error:
                raise CheckpointError(f'{self.path}: refused to load: {error}') from None
            except Exception as error:  # truncated or corrupt pickles raise many types
                raise CheckpointError(f'{self.path}: cannot be read as a network pickle, it may be truncated '
                                      f'({type(error).__name__}: {str(error)[:120]})') from None
        return self._pickle

    def state_dict(self):
        """The torch file's object when it is a non-empty dict of tensors only, else None."""
        obj = self.torch_object()
        if isinstance(obj, dict) and obj and all(isinstance(value, torch.Tensor) for value in obj.values()):
            return obj
        return None

    def describe(self):
        """What the file looks like, in a few words (for 'no reader claims it')."""
        if self.is_dir:
            names = sorted(os.listdir(self.path))
            return f'a folder holding {names[:8]}' + (' ...' if len(names) > 8 else '')
        if self.is_torch_file:
            obj = self.torch_object()
            if not isinstance(obj, dict):
                return f'a torch file holding a {type(obj).__name__}, not a dict of weights'
            if self.state_dict() is not None:
                return f'a state dict of no generator this toolkit knows (first keys: {list(obj)[:4]})'
            return f'a torch file with unrecognised top-level keys {sorted(map(str, obj))[:8]}'
        if self.is_pickle:
            obj = self.pickle_object()
            if isinstance(obj, tuple):
                return f'a pickle of a {len(obj)}-tuple that is not the (G, D, Gs) networks of a TensorFlow pickle'
            if not isinstance(obj, dict):
                return f'a pickle of a {type(obj).__name__}, not a dict with G_ema'
            network = obj.get('G_ema', obj.get('Gs'))
            if network is None:
                return f'a pickle without a G_ema network (keys: {sorted(map(str, obj))[:8]})'
            return f'a pickle whose G_ema is a {type(network).__name__}, neither an NVlabs nor a TensorFlow network'
        return 'neither a torch file, a network pickle, a JSON config nor a folder'
