"""A checkpoint on disk, opened once and shared by the readers that look at it."""

import os
import re
import warnings
import zipfile

import torch

from .common import CheckpointError
from .safe_pickle import UnsafePickleError, is_pickle, load_pickle

_TORCH_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'
_NOT_LOADED = object()


class Source:
    """A file or folder to read, loaded at most once, by the first reader that asks; its first bytes (`head`) tell
    what it is. A missing or empty file, a Git LFS pointer or a cut zip archive is a CheckpointError."""

    def __init__(self, path):
        self.path = os.fspath(path)
        self.is_dir = os.path.isdir(self.path)
        self.head = b''
        if os.path.isfile(self.path):
            with open(self.path, 'rb') as file:
                self.head = file.read(64)
        self.is_torch_file = self.head != b'' and (zipfile.is_zipfile(self.path)
                                                   or self.head.startswith(_TORCH_LEGACY_MAGIC))
        problem = None
        if not os.path.exists(self.path):
            problem = 'no such file'
        elif not self.is_dir and not self.head:
            problem = 'the file is empty'
        elif self.head.startswith(b'version https://git-lfs'):
            problem = 'a Git LFS pointer, not the weights; run `git lfs pull` in its repository to fetch them'
        elif self.head.startswith(b'PK\x03\x04') and not self.is_torch_file:
            problem = ('the file is truncated or damaged (a zip archive, as torch.save writes, whose end is '
                       'missing); download or copy it again')
        if problem:
            raise CheckpointError(f'{self.path}: {problem}')
        self.is_pickle = not self.is_torch_file and is_pickle(self.head)
        self.is_json = self.head.lstrip().startswith(b'{')
        self._torch = self._pickle = _NOT_LOADED

    def only_file(self):
        """The one checkpoint file in a folder (notes such as .json/.md aside), or None; CheckpointError for several."""
        names = sorted(name for name in os.listdir(self.path)
                       if os.path.isfile(os.path.join(self.path, name)) and not name.startswith('.')
                       and not name.endswith(('.json', '.sha256', '.txt', '.md')))
        if len(names) > 1:
            raise CheckpointError(f'{self.path}: a folder holding several files ({", ".join(names[:6])}'
                                  f'{" ..." if len(names) > 6 else ""}); give the checkpoint file itself')
        return os.path.join(self.path, names[0]) if names else None

    def torch_object(self):
        """What `torch.load(path, weights_only=True)` returns (None for other files)."""
        if self.is_torch_file and self._torch is _NOT_LOADED:
            with warnings.catch_warnings():  # torch warns about storages of damaged files before failing
                warnings.simplefilter('ignore')
                self._torch = self._load(lambda: torch.load(self.path, map_location='cpu', weights_only=True),
                                         'a torch file')
        return self._torch if self.is_torch_file else None

    def pickle_object(self):
        """The pickle read as data by `safe_pickle` (None for other files)."""
        if self.is_pickle and self._pickle is _NOT_LOADED:
            self._pickle = self._load(lambda: load_pickle(self.path), 'a network pickle')
        return self._pickle if self.is_pickle else None

    def _load(self, load, what):
        """`load()`; its failure (many types for damaged files) as one line naming the file."""
        try:
            return load()
        except Exception as error:
            text = ' '.join(str(error).split()) or type(error).__name__
            if isinstance(error, UnsafePickleError):
                problem = f'refused to load: {text}'
            elif 'weights_only' in text or 'Unsupported global' in text:  # torch's text advises unsafe loading
                found = re.search(r'GLOBAL ([\w.]+)', text)
                problem = (f'refused to load: it holds Python objects{f" ({found.group(1)})" if found else ""}, '
                           f'and only tensors are read from torch files')
            else:
                problem = f'cannot be read as {what}, it may be truncated ({text[:160]})'
            raise CheckpointError(f'{self.path}: {problem}') from None

    def state_dict(self):
        """The torch file's object when it is a non-empty dict of tensors only, else None."""
        obj = self.torch_object()
        return obj if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()) else None

    def describe(self):
        """What the file looks like, in a few words (for 'no reader claims it')."""
        if self.is_dir:
            names = sorted(os.listdir(self.path))
            return f'a folder holding {names[:8]}' + (' ...' if len(names) > 8 else '')
        if not (self.is_torch_file or self.is_pickle):
            return 'neither a torch file, a network pickle, a JSON config nor a folder'
        obj = self.torch_object() if self.is_torch_file else self.pickle_object()
        keys = f' with keys {sorted(map(str, obj))[:8]}' if isinstance(obj, dict) else ''
        return f'{"a torch file" if self.is_torch_file else "a pickle"} of a {type(obj).__name__}{keys}'
