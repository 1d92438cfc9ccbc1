"""Atomic file output (write to a temporary name in the same folder, then rename), and readers of .npy, .npz
and JSON files whose every failure is an OSError or a one-line ValueError."""

import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path`; rename it onto `path` only on success."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    handle, tmp = tempfile.mkstemp(prefix=f'.{base}.', suffix=f'.tmp{ext}', dir=folder)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_npy(path, array):
    """`np.save` without a trailing partial file on interruption."""
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as file:
            np.save(file, array)


def save_npz(path, **arrays):
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as file:
            np.savez(file, **arrays)


def load_npy(path, mmap_mode=None):
    """An `.npy` array; ValueError when the file is not one, is damaged, or holds Python objects."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, EOFError) as error:
        if 'allow_pickle' in str(error):
            raise ValueError('holds Python objects (a pickled object array)') from None
        raise ValueError(f'cannot read as .npy ({" ".join(str(error).split())[:120]})') from None


def load_npz(path):
    """An `.npz` archive, opened (use it in a `with`); ValueError when the file is not one, or is damaged."""
    try:
        archive = np.load(path, allow_pickle=False)
    except zipfile.BadZipFile as error:
        raise ValueError(f'not a readable .npz archive, damaged or cut short ({error})') from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError('not an .npz archive')
    return archive


def load_json(path):
    """The JSON value of a file; ValueError when it is not JSON (nested too deeply included)."""
    try:
        with open(path, encoding='utf-8') as file:
            return json.load(file)
    except RecursionError:  # the parser's own limit, reached by deeply nested arrays
        raise ValueError('not valid JSON: nested too deeply') from None


def save_json(path, data):
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as file:
            json.dump(data, file, indent=2, sort_keys=False, default=_jsonable)
            file.write('\n')


def save_text(path, text):
    with atomic_path(path) as tmp:
        with open(tmp, 'w', encoding='utf-8') as file:
            file.write(text)


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def sha256_of(path, chunk=1 << 20):
    """SHA-256 hex digest of a file (or of every file in a folder, in name order)."""
    import hashlib
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
