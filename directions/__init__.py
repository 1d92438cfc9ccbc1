"""Catalog of direction files and prepared latent codes, resolved by name or path, fetched and verified on demand.

The built-in catalog (`catalog.json` next to this file) lists the directions
that the ReSeFa repository publishes and the latent codes that the SeFa
repository prepares for its editor, each with its public URL and SHA-256. A
user catalog (`$GANSEMANTICS_DIRECTIONS_CATALOG`, default `local.json` next to
this file) adds one's own directions by name. See README.md in this folder.

    resolved = resolve_direction('eyesize')        # Or 'ffhq/stylegan2/eyesize', or its original path.
    directions = load_direction(resolved)          # [K, w_dim] float32
    layers = resolved.entry.recommended_layers     # [4, 5, 6, 7]
"""

import difflib
import http.client
import json
import os
import pathlib
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from utils.fileio import atomic_path, save_json, sha256_of

FOLDER = os.path.dirname(os.path.abspath(__file__))     # The repository's `directions/` folder.
BUILTIN_CATALOG = os.path.join(FOLDER, 'catalog.json')
CATALOG_FORMAT = 1
KINDS = ('direction', 'latents')
KIND_WORDS = {'direction': 'direction', 'latents': 'latent codes', None: 'catalog entry'}
DOWNLOAD_TIMEOUT = 30                                    # Seconds without an answer before a download gives up.

ENV_URL = 'GANSEMANTICS_DIRECTIONS_URL'                  # Mirror root replacing the public URLs.
ENV_DIR = 'GANSEMANTICS_DIRECTIONS_DIR'                  # Where fetched files go.
ENV_CATALOG = 'GANSEMANTICS_DIRECTIONS_CATALOG'          # The user catalog file.

_REQUIRED = ('id', 'kind', 'path', 'sha256', 'shape')
_NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+\-]*(/[A-Za-z0-9][A-Za-z0-9_.+\-]*)*')


class CatalogError(ValueError):
    """A name, file or download the catalog cannot serve; the message is one line."""


def directions_dir():
    """Folder that fetched files go to: `$GANSEMANTICS_DIRECTIONS_DIR`, else this folder."""
    return os.environ.get(ENV_DIR) or FOLDER


def user_catalog_path():
    """The user catalog file: `$GANSEMANTICS_DIRECTIONS_CATALOG`, else `local.json` in this folder."""
    return os.environ.get(ENV_CATALOG) or os.path.join(FOLDER, 'local.json')


# ----------------------------------------------------------------------------
# Entries and the catalog.

@dataclass(frozen=True)
class Entry:
    """One catalog entry: a direction file or a file of prepared latent codes."""

    id: str                     # Unique name: 'ffhq/stylegan2/eyesize', 'pggan_celebahq1024', or a user's name.
    kind: str                   # 'direction' or 'latents'.
    path: str                   # Path in the original repository ('directions/ffhq/stylegan2/eyesize.npy');
                                # for a user's entry, the absolute path of its file.
    sha256: str                 # SHA-256 of the .npy file.
    shape: tuple                # Shape of the stored array.
    origin: str = 'builtin'     # 'builtin' (catalog.json) or 'local' (the user catalog).
    facts: dict = field(default_factory=dict, compare=False, hash=False, repr=False)   # Every other field.
    source: Optional[dict] = field(default=None, compare=False, hash=False, repr=False)  # Built-in origin record.

    @property
    def name(self):
        """Short name ('eyesize', 'eyes-r'); not necessarily unique."""
        return self.facts.get('name') or self.id.rsplit('/', 1)[-1]

    @property
    def url(self):
        """Public URL (None for a user's entry)."""
        return self.facts.get('url')

    @property
    def file(self):
        """Path relative to the source folder ('ffhq/stylegan2/eyesize.npy'); None for a user's entry."""
        if self.source is None:
            return None
        return self.path[len(self.source['folder']) + 1:]

    @property
    def recommended_layers(self):
        """Layers (ws indices) to apply a direction to, or None for all of them."""
        layers = self.facts.get('recommended_layers')
        return None if layers is None else list(layers)

    @property
    def distance_range(self):
        """(start, end) distances to move along the direction, or None when the catalog says nothing."""
        value = self.facts.get('distance_range')
        return None if value is None else (float(value[0]), float(value[1]))

    def get(self, key, default=None):
        """Any other field of the entry ('model', 'family', 'space', 'description', ...)."""
        return self.facts.get(key, default)

    def to_json(self):
        """The entry as it is written in a catalog file."""
        return dict(id=self.id, kind=self.kind, path=self.path, sha256=self.sha256, shape=list(self.shape),
                    **self.facts)

    def local_file(self, cache_dir=None):
        """Where the file is, or goes when fetched."""
        if self.source is None:
            return self.path
        root = os.fspath(cache_dir) if cache_dir is not None else directions_dir()
        return os.path.join(root, self.source['cache_folder'], *self.file.split('/'))

    def download_url(self, mirror=None):
        """URL to fetch the file from: under `mirror` (default `$GANSEMANTICS_DIRECTIONS_URL`) or the public one.

        A mirror is a URL prefix or a local folder laid out as
        `<mirror>/<source mirror folder>/<file>` (`resefa-directions/ffhq/stylegan2/eyesize.npy`).
        """
        if self.source is None:
            return None
        mirror = os.fspath(mirror) if mirror is not None else os.environ.get(ENV_URL)
        if not mirror:
            return self.url
        if '://' not in mirror:
            mirror = pathlib.Path(mirror).resolve().as_uri()
        return f'{mirror.rstrip("/")}/{urllib.parse.quote(self.source["mirror_folder"] + "/" + self.file)}'


class Resolved(NamedTuple):
    """A file to read and what the catalog knows about it."""
    path: str                   # The file.
    entry: Optional[Entry]      # Its catalog entry, or None for a file the catalog does not know.


def _key(text):
    text = str(text).strip().replace('\\', '/')
    while text.startswith('./'):
        text = text[2:]
    return text


def _strong_keys(entry):
    """Names that identify one entry: id, original path, path in the source folder, each with or without .npy."""
    keys = {entry.id}
    if entry.source is not None:
        for path in (entry.path, entry.file):
            keys.update((path, path[:-4] if path.endswith('.npy') else path))
    return keys


def _parse_entry(data, origin, sources, where):
    """Validate one catalog record and build its Entry."""
    if not isinstance(data, dict):
        raise CatalogError(f'{where}: an entry is not a JSON object')
    missing = [key for key in _REQUIRED if key not in data]
    ident = data.get('id', '?')
    if missing:
        raise CatalogError(f'{where}: entry {ident!r} lacks {", ".join(missing)}')
    if not isinstance(ident, str) or not _NAME_RE.fullmatch(ident):
        raise CatalogError(f'{where}: entry id {ident!r} is not a name like ffhq/stylegan2/eyesize')
    if data['kind'] not in KINDS:
        raise CatalogError(f'{where}: entry {ident}: kind {data["kind"]!r} is not one of {", ".join(KINDS)}')
    sha = data['sha256']
    if not isinstance(sha, str) or not re.fullmatch(r'[0-9a-f]{64}', sha):
        raise CatalogError(f'{where}: entry {ident}: sha256 must be 64 lower-case hex digits')
    shape = data['shape']
    if not isinstance(shape, list) or not shape or not all(isinstance(n, int) and n > 0 for n in shape):
        raise CatalogError(f'{where}: entry {ident}: shape must be a list of positive integers')
    layers = data.get('recommended_layers')
    if layers is not None and (not isinstance(layers, list) or not layers or
                               not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in layers)):
        raise CatalogError(f'{where}: entry {ident}: recommended_layers must be a list of layer indices or null')
    distance = data.get('distance_range')
    if distance is not None and (not isinstance(distance, (list, tuple)) or len(distance) != 2 or
                                 not all(isinstance(d, (int, float)) and np.isfinite(d) for d in distance)):
        raise CatalogError(f'{where}: entry {ident}: distance_range must be [start, end] or null')
    path = data['path']
    if not isinstance(path, str) or not path:
        raise CatalogError(f'{where}: entry {ident}: path must be a non-empty string')
    source = None
    if origin == 'builtin':
        source = sources.get(data.get('source'))
        if source is None:
            raise CatalogError(f'{where}: entry {ident}: source {data.get("source")!r} is not in "sources"')
        if not path.startswith(source['folder'] + '/'):
            raise CatalogError(f'{where}: entry {ident}: path {path} is not under {source["folder"]}/')
    else:
        path = os.path.join(os.path.dirname(os.path.abspath(where)), os.path.expanduser(path))
    facts = {key: value for key, value in data.items() if key not in _REQUIRED}
    return Entry(id=ident, kind=data['kind'], path=path, sha256=sha, shape=tuple(shape), origin=origin,
                 facts=facts, source=source)


def _read_catalog_file(path):
    """The raw JSON of a catalog file."""
    try:
        with open(path, encoding='utf-8') as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        raise CatalogError(f'{path}: cannot read the catalog ({" ".join(str(error).split())})') from None
    if not isinstance(data, dict) or data.get('format') != CATALOG_FORMAT or not isinstance(data.get('entries'), list):
        raise CatalogError(f'{path}: not a catalog (expected {{"format": {CATALOG_FORMAT}, "entries": [...]}})')
    return data


def _read_catalog(path, origin):
    data = _read_catalog_file(path)
    sources = data.get('sources', {})
    return [_parse_entry(item, origin, sources, path) for item in data['entries']]


class Catalog:
    """The built-in entries followed by the user's."""

    def __init__(self, entries, user_catalog=None):
        self.entries = list(entries)        # Built-in entries first, then the user's.
        self.user_catalog = user_catalog    # Path of the user catalog (which may not exist yet).
        seen = {}
        for entry in self.entries:
            if entry.id in seen:
                raise CatalogError(f'{user_catalog}: entry id {entry.id!r} is used twice')
            seen[entry.id] = entry

    def __iter__(self):
        return iter(self.entries)

    def __len__(self):
        return len(self.entries)

    def select(self, kind=None):
        """Entries of one kind (all when `kind` is None)."""
        return [entry for entry in self.entries if kind is None or entry.kind == kind]

    def lookup(self, name, kind=None):
        """The entry called `name` (id, original path, or unique short name).

        Raises:
            CatalogError: the name is unknown (close matches are listed), ambiguous
                (the candidates are listed), or names an entry of another kind.
        """
        key = _key(name)
        word = KIND_WORDS[kind]
        for entries in (self.select(kind), self.entries):
            found = [e for e in entries if key in _strong_keys(e)] or [e for e in entries if key == e.name]
            if found:
                break
        if found and (kind is None or found[0].kind == kind):
            if len(found) > 1:
                raise CatalogError(f'{word} name {name!r} is ambiguous: it may be '
                                   f'{" or ".join(e.id for e in found)}; use one of these names')
            return found[0]
        if found:
            articles = {'direction': 'a direction', 'latents': 'latent codes', None: 'a catalog entry'}
            raise CatalogError(f'{name!r} is {articles[found[0].kind]} ({found[0].id}), not {articles[kind]}')
        candidates = {}
        for entry in self.select(kind):
            for candidate in _strong_keys(entry) | {entry.name}:
                candidates.setdefault(candidate, []).append(entry.id)
        close = []
        for match in difflib.get_close_matches(key, list(candidates), n=6, cutoff=0.6):
            close += [ident for ident in candidates[match] if ident not in close]
        hint = f'; did you mean {", ".join(close[:4])}?' if close else ''
        raise CatalogError(f'unknown {word} {name!r}: no such file and no such name in the catalog{hint} '
                           f'(python -m directions list shows them all)')

    def entry_with_sha256(self, sha256, kind=None):
        """First entry whose file has this SHA-256, or None."""
        return next((e for e in self.select(kind) if e.sha256 == sha256), None)

    def published_entry_at(self, path, kind=None, cache_dir=None):
        """The built-in entry whose file belongs at `path` (its original path or fetched location), or None."""
        key = _key(path)
        real = os.path.realpath(path)
        for entry in self.select(kind):
            if entry.source is not None and (key in (entry.path, entry.file) or
                                             os.path.realpath(entry.local_file(cache_dir)) == real):
                return entry
        return None


def load_catalog(user_catalog=None):
    """The built-in catalog plus the user catalog (`user_catalog`, default `user_catalog_path()`), when it exists."""
    entries = _read_catalog(BUILTIN_CATALOG, 'builtin')
    user = os.fspath(user_catalog) if user_catalog is not None else user_catalog_path()
    if os.path.isfile(user):
        entries += _read_catalog(user, 'local')
    return Catalog(entries, user_catalog=user)


# ----------------------------------------------------------------------------
# Resolving, fetching and verifying files.

def _one_line(text):
    return ' '.join(str(text).split())


def _mismatch(path, entry, actual):
    if entry.origin == 'local':
        tail = 'the file changed since it was added; add it again (python -m directions add) if that is intended'
    else:
        tail = 'it is not the published file; delete it to fetch it again'
    return CatalogError(f'{path}: SHA-256 {actual} does not match {KIND_WORDS[entry.kind]} {entry.id} '
                        f'(expected {entry.sha256}); {tail}')


def _unavailable(entry, url, dest, reason):
    where = url if url == entry.url else f'{url} (or {entry.url})'
    return CatalogError(f'{KIND_WORDS[entry.kind]} {entry.id} is not on this machine and cannot be downloaded '
                        f'({reason}): download {where} and save it as {dest}')


def _reason(error):
    if isinstance(error, urllib.error.HTTPError):
        return f'HTTP {error.code} {_one_line(error.reason)}'
    if isinstance(error, urllib.error.URLError):
        return _one_line(error.reason)
    return _one_line(error) or type(error).__name__


def file_status(entry, cache_dir=None):
    """'yes' (present, checksum matches), 'no' (absent) or 'modified' (present, checksum differs)."""
    path = entry.local_file(cache_dir)
    if not os.path.isfile(path):
        return 'no'
    return 'yes' if sha256_of(path) == entry.sha256 else 'modified'


def verify(path, entry):
    """Raise CatalogError (with both sums) unless `path` has the entry's SHA-256."""
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise _mismatch(path, entry, actual)


def _download(url, dest, entry, progress):
    """Fetch `url` to `dest` through a temporary name; keep it only when its SHA-256 is the entry's."""
    from tqdm import tqdm
    try:
        response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise _unavailable(entry, url, dest, _reason(error)) from None
    try:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
    except OSError as error:
        response.close()
        raise CatalogError(f'cannot create the folder for {dest} ({_one_line(error)})') from None
    with response, atomic_path(dest) as tmp:
        total = int(response.headers.get('Content-Length') or 0) or None
        try:
            with open(tmp, 'wb') as file, tqdm(total=total, unit='B', unit_scale=True, desc=entry.id,
                                               leave=False, disable=not progress) as bar:
                while True:
                    block = response.read(1 << 16)
                    if not block:
                        break
                    file.write(block)
                    bar.update(len(block))
        except (http.client.HTTPException, OSError) as error:
            raise _unavailable(entry, url, dest, _reason(error)) from None
        actual = sha256_of(tmp)
        if actual != entry.sha256:
            raise CatalogError(f'download of {url} refused: SHA-256 {actual} does not match '
                               f'{KIND_WORDS[entry.kind]} {entry.id} (expected {entry.sha256}); nothing was saved')


def fetch(entry, cache_dir=None, mirror=None, download=True, progress=True):
    """Path of the entry's verified file, downloading it first when it is absent.

    Args:
        entry: a catalog Entry.
        cache_dir: folder for fetched files (default `directions_dir()`).
        mirror: URL prefix or local folder replacing the public URLs (default `$GANSEMANTICS_DIRECTIONS_URL`).
        download: False to fail instead of downloading.
        progress: show a progress bar while downloading.

    Returns:
        The path (str).

    Raises:
        CatalogError: checksum mismatch (both sums given), a user's file gone,
            or no way to download (the URL and the path to save it as are given).
    """
    dest = entry.local_file(cache_dir)
    if os.path.isfile(dest):
        verify(dest, entry)
        return dest
    if entry.source is None:
        raise CatalogError(f'{KIND_WORDS[entry.kind]} {entry.id}: its file {dest} is gone; '
                           f'add it again with python -m directions add')
    url = entry.download_url(mirror)
    if not download:
        raise _unavailable(entry, url, dest, 'downloads are turned off')
    _download(url, dest, entry, progress)
    return dest


def _resolve(name_or_path, kind, catalog, cache_dir, mirror, download, progress):
    catalog = catalog if catalog is not None else load_catalog()
    arg = os.fspath(name_or_path)
    if os.path.isfile(arg):
        actual = sha256_of(arg)
        entry = catalog.entry_with_sha256(actual, kind)
        if entry is None:
            owner = catalog.published_entry_at(arg, kind, cache_dir)
            if owner is not None:
                raise _mismatch(arg, owner, actual)
        return Resolved(arg, entry)
    entry = catalog.lookup(arg, kind)
    return Resolved(fetch(entry, cache_dir=cache_dir, mirror=mirror, download=download, progress=progress), entry)


def resolve_direction(name_or_path, catalog=None, cache_dir=None, mirror=None, download=True, progress=True):
    """Find a direction file by path or catalog name; fetch and verify it when needed.

    An existing file is used as it is, with its catalog entry when its SHA-256
    matches one (a file where a published one belongs, with another SHA-256, is
    refused). Otherwise `name_or_path` is a catalog id ('ffhq/stylegan2/eyesize'),
    an original path ('directions/ffhq/stylegan2/eyesize.npy') or a unique short
    name ('eyesize'). Other arguments as in `fetch`; `catalog` defaults to `load_catalog()`.

    Returns:
        Resolved(path, entry_or_None).

    Raises:
        CatalogError: unknown or ambiguous name, checksum mismatch, or not downloadable (one line each).
    """
    return _resolve(name_or_path, 'direction', catalog, cache_dir, mirror, download, progress)


def resolve_latents(name_or_path, catalog=None, cache_dir=None, mirror=None, download=True, progress=True):
    """Find a file of prepared latent codes by path or catalog name ('pggan_celebahq1024'); as `resolve_direction`."""
    return _resolve(name_or_path, 'latents', catalog, cache_dir, mirror, download, progress)


def load_direction(resolved, w_dim=None):
    """Read directions as float32 `[K, w_dim]` (a 1-D `[w_dim]` file gives `[1, w_dim]`).

    Args:
        resolved: a Resolved or a path.
        w_dim: expected width, checked when given.

    Raises:
        CatalogError: not a .npy array, not floating point, wrong rank or width, non-finite or all-zero rows.
    """
    path = resolved.path if isinstance(resolved, Resolved) else os.fspath(resolved)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise CatalogError(f'{path}: not a .npy array ({_one_line(error) or type(error).__name__})') from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise CatalogError(f'{path}: is an .npz archive; directions are a .npy array [K, w_dim]')
    if not np.issubdtype(array.dtype, np.floating):
        raise CatalogError(f'{path}: directions must be floating point, got {array.dtype}')
    if array.ndim == 1:
        array = array[np.newaxis]
    if array.ndim != 2 or 0 in array.shape:
        raise CatalogError(f'{path}: directions must have shape [K, w_dim] or [w_dim], got {list(array.shape)}')
    if w_dim is not None and array.shape[1] != w_dim:
        raise CatalogError(f'{path}: directions have width {array.shape[1]} but the model has w_dim {w_dim}')
    if not np.isfinite(array).all():
        raise CatalogError(f'{path}: directions contain NaN or infinite values')
    zero = np.flatnonzero(~np.any(array != 0, axis=1))
    if len(zero):
        raise CatalogError(f'{path}: direction {zero[0]} is all zeros')
    return np.ascontiguousarray(array, dtype=np.float32)


def _check_latents(path):
    try:
        array = np.load(path, allow_pickle=False, mmap_mode='r')
    except (OSError, ValueError, EOFError) as error:
        raise CatalogError(f'{path}: not a .npy array ({_one_line(error) or type(error).__name__})') from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating) or array.ndim not in (2, 3) \
            or 0 in array.shape:
        raise CatalogError(f'{path}: latent codes must be a floating-point .npy array [N, dim] or [N, num_ws, w_dim]')
    if not np.isfinite(array).all():
        raise CatalogError(f'{path}: latent codes contain NaN or infinite values')
    return array.shape


# ----------------------------------------------------------------------------
# The user catalog.

def add_local_entry(name, npy_path, sidecar=None, kind='direction', catalog_path=None, **facts):
    """Record a user's file in the user catalog so that it resolves by `name`.

    The entry holds the file's absolute path, SHA-256 and shape, every field of
    the sidecar `.json` (a sidecar field named like an entry field, e.g. its
    `sha256`, is kept as `sidecar_<field>` when it differs), then `facts`. Unless given, the
    recommended layers are the sidecar's `layers` when that is a list of indices.
    An entry of the same name in the user catalog is replaced.

    Args:
        name: new name ('smile' or 'ffhq/mine/smile'); must not name a built-in entry.
        npy_path: the `.npy` file.
        sidecar: its sidecar `.json` (default: `npy_path` with `.json` when present; False for none).
        kind: 'direction' or 'latents'.
        catalog_path: user catalog file (default `user_catalog_path()`).
        **facts: other fields (`recommended_layers`, `distance_range`, `description`, `model`, ...).

    Returns:
        The new Entry.
    """
    name = _key(name)
    if kind not in KINDS:
        raise CatalogError(f'kind {kind!r} is not one of {", ".join(KINDS)}')
    if not _NAME_RE.fullmatch(name):
        raise CatalogError(f'name {name!r}: use letters, digits, _ . + - and / between parts (e.g. ffhq/mine/smile)')
    npy_path = os.path.abspath(os.fspath(npy_path))
    if not os.path.isfile(npy_path):
        raise CatalogError(f'{npy_path}: no such file')
    if kind == 'direction':
        load_direction(npy_path)  # Validates.
        shape = np.load(npy_path, mmap_mode='r', allow_pickle=False).shape
    else:
        shape = _check_latents(npy_path)
    if sidecar is None:
        candidate = os.path.splitext(npy_path)[0] + '.json'
        sidecar = candidate if os.path.isfile(candidate) else False
    record = dict(id=name, kind=kind, path=npy_path, sha256=sha256_of(npy_path), shape=list(shape))
    if sidecar:
        sidecar = os.path.abspath(os.fspath(sidecar))
        try:
            with open(sidecar, encoding='utf-8') as file:
                extra = json.load(file)
        except (OSError, ValueError) as error:
            raise CatalogError(f'{sidecar}: cannot read the sidecar ({_one_line(error)})') from None
        if not isinstance(extra, dict):
            raise CatalogError(f'{sidecar}: the sidecar is not a JSON object')
        for key, value in extra.items():
            if key in record or key in ('origin', 'sidecar'):
                if value != record.get(key):
                    record[f'sidecar_{key}'] = value
            else:
                record[key] = value
        record['sidecar'] = sidecar
    record.update(facts)
    if 'distance_range' in facts and facts['distance_range'] is not None:
        record['distance_range'] = [float(d) for d in facts['distance_range']]
    layers = record.get('layers')
    if record.get('recommended_layers') is None and isinstance(layers, list) and layers and \
            all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in layers):
        record['recommended_layers'] = list(layers)
    record = json.loads(json.dumps(record, default=_plain))

    catalog_path = os.fspath(catalog_path) if catalog_path is not None else user_catalog_path()
    catalog = load_catalog(catalog_path)
    for entry in catalog:
        if entry.origin == 'local' and entry.id == name:
            continue
        if name in _strong_keys(entry) or name == entry.name:
            raise CatalogError(f'name {name!r} is taken by catalog entry {entry.id}; choose another')
    entry = _parse_entry(record, 'local', {}, catalog_path)
    data = _read_catalog_file(catalog_path) if os.path.isfile(catalog_path) else {'format': CATALOG_FORMAT,
                                                                                   'entries': []}
    data['entries'] = [item for item in data['entries'] if item.get('id') != name] + [record]
    save_json(catalog_path, data)
    return entry


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f'{type(value).__name__} cannot be written to a catalog')
