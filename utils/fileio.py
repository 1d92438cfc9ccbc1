"""Atomic file output (write to a temporary name in the same folder, then rename), and the one reader of each
of .npy, .npz and JSON files: every failure is an OSError or a one-line ValueError that names the file."""

import contextlib
import hashlib
import json
import os
import uuid
import zipfile

import numpy as np


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`, for the writer to create; rename it onto `path` only on success."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(name)
    tmp = os.path.join(folder, f'.{base}.{uuid.uuid4().hex[:12]}.tmp{ext}')
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_npy(path, array):
    with atomic_path(path) as tmp, open(tmp, 'wb') as file:
        np.save(file, array)


def save_npz(path, **arrays):
    with atomic_path(path) as tmp, open(tmp, 'wb') as file:
        np.savez(file, **arrays)


def save_json(path, data):
    """`data` as indented JSON; numpy arrays and numbers as lists and numbers, anything else as its text."""
    jsonable = lambda value: value.tolist() if isinstance(value, (np.ndarray, np.generic)) else str(value)
    save_text(path, json.dumps(data, indent=2, default=jsonable) + '\n')


def save_text(path, text):
    with atomic_path(path) as tmp, open(tmp, 'w', encoding='utf-8') as file:
        file.write(text)


def one_line(text):
    return ' '.join(str(text).split())


def _not_npy(path, head):
    """What a file that does not start as a .npy array is, from its first bytes."""
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (OSError, zipfile.BadZipFile):
            names = []
        if names and all(name.endswith('.npy') for name in names):
            return f'is an .npz archive (arrays {", ".join(name[:-4] for name in names[:4])})'
        return 'is a PyTorch file (torch.save)' if any(n.endswith('data.pkl') for n in names) else 'is a zip archive'
    return 'is a Python pickle' if head[:1] == b'\x80' else 'is text or another kind of file'


def load_npy(path, mmap_mode=None):
    """The array of an `.npy` file (objects are never unpickled); ValueError naming the file."""
    with open(path, 'rb') as file:
        head = file.read(6)
    if head != b'\x93NUMPY':
        raise ValueError(f'{path}: {_not_npy(path, head)}, not a .npy array')
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError) as error:
        objects = 'pickle' in str(error).lower() or 'object' in str(error).lower()
        problem = 'holds Python objects (a pickled object array)' if objects else \
            f'is a truncated or corrupt .npy file ({one_line(error)[:120]})'
        raise ValueError(f'{path}: {problem}') from None


def load_npz(path):
    """An `.npz` archive, opened (use it in a `with`); ValueError naming the file when it is not one, or damaged."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise ValueError(f'{path}: not a readable .npz archive, damaged or cut short ({one_line(error)[:120]})') \
            from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f'{path}: not an .npz archive')
    return archive


def load_json(path):
    """The JSON value of a file; ValueError naming the file when it is not JSON (or nested too deeply)."""
    try:
        with open(path, encoding='utf-8') as file:
            return json.load(file)
    except (ValueError, RecursionError) as error:  # RecursionError: the parser's limit, for deeply nested arrays
        reason = 'nested too deeply' if isinstance(error, RecursionError) else one_line(error)
        raise ValueError(f'{path}: not valid JSON ({reason})') from None


def sha256_of(path, chunk=1 << 20):
    """SHA-256 hex digest of a file (or of every file in a folder, in name order)."""
    digest = hashlib.sha256()
    paths = [path]
    if os.path.isdir(path):
        paths = [os.path.join(path, name) for name in sorted(os.listdir(path))
                 if os.path.isfile(os.path.join(path, name))]
    for item in paths:
        with open(item, 'rb') as file:
            while block := file.read(chunk):
                digest.update(block)
    return digest.hexdigest()
