"""Where catalog files are: shipped with the project, downloaded to the cache, or the user's; resolving names to them.

A built-in entry's file is read from the package folder when it is shipped
there (`directions/ffhq/stylegan2/eyesize.npy`), else from
`directions_dir()` (`<cache>/directions/...`), where it is downloaded through
`utils.download`. Every use checks the file's SHA-256 against the catalog.
"""

import os
from typing import NamedTuple, Optional

from utils.download import DownloadError, cached_file, file_sha256

from .catalog import KIND_WORDS, CatalogError, Entry, load_catalog


class Resolved(NamedTuple):
    """A file to read and what the catalog knows about it."""
    path: str                   # The file.
    entry: Optional[Entry]      # Its catalog entry, or None for a file the catalog does not know.


def _what(entry):
    return f'{KIND_WORDS[entry.kind]} {entry.id}'


def verify(path, entry):
    """Raise CatalogError (naming both sums) unless `path` has the entry's SHA-256."""
    actual = file_sha256(path)
    if actual != entry.sha256:
        tail = ('the file changed since it was added; add it again (python -m directions add) if that is intended'
                if entry.origin == 'local' else 'it is not the published file; delete the file to fetch it again')
        raise CatalogError(f'{path}: SHA-256 {actual} does not match {_what(entry)} (expected {entry.sha256}); '
                           f'{tail}')


def file_status(entry):
    """Where the entry's file is: 'shipped' or 'cached' (verified), 'present' (a user's), 'missing' or 'modified'."""
    path = entry.local_file()
    if not os.path.isfile(path):
        return 'missing'
    if file_sha256(path) != entry.sha256:
        return 'modified'
    return 'present' if entry.source is None else 'shipped' if path == entry.shipped_file else 'cached'


def fetch(entry, cache_dir=None, download=True, progress=True):
    """Path of the entry's verified file: shipped, already downloaded (into `cache_dir`, default
    `directions_dir()`), or downloaded now from the mirror `$GANSEMANTICS_DIRECTIONS_URL` or its URL."""
    if entry.source is None and not os.path.isfile(entry.path):
        raise CatalogError(f'{_what(entry)}: its file {entry.path} is gone; add it again with python -m directions add')
    local = entry.path if entry.source is None else entry.shipped_file
    if os.path.isfile(local):
        verify(local, entry)
        return local
    try:
        return cached_file(entry.cache_file(cache_dir), entry.download_url(), entry.sha256, what=_what(entry),
                           download=download, progress=progress)
    except DownloadError as error:
        raise CatalogError(str(error)) from None


def resolve(name_or_path, kind, catalog=None, download=True, progress=True):
    """`Resolved(path, entry or None)` of a file of `kind` ('direction' or 'latents') by path or catalog name,
    fetched (see `fetch`) and verified when needed.

    An existing file is used as it is, with its catalog entry when its SHA-256 matches one (a file where a
    published one belongs, with another SHA-256, is refused). Otherwise `name_or_path` is a catalog id
    ('ffhq/stylegan2/eyesize'), an original path ('directions/ffhq/stylegan2/eyesize.npy') or a unique short
    name ('eyesize').
    """
    catalog = catalog if catalog is not None else load_catalog()
    arg = os.fspath(name_or_path)
    if os.path.isdir(arg):
        raise CatalogError(f'{arg}: is a folder; give a .npy file or a catalog name')
    if not os.path.isfile(arg):
        entry = catalog.lookup(arg, kind)
        return Resolved(fetch(entry, download=download, progress=progress), entry)
    entry = catalog.entry_with_sha256(file_sha256(arg), kind)
    owner = catalog.published_entry_at(arg, kind) if entry is None else None
    if owner is not None:
        verify(arg, owner)
    return Resolved(arg, entry)
