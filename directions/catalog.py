"""Catalog entries: the built-in `catalog.json` plus the user catalog, looked up by id, original path or short name."""

import difflib
import numbers
import os
import pathlib
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

from utils.download import cache_dir
from utils.fileio import load_json

FOLDER = os.path.dirname(os.path.abspath(__file__))     # The package folder, which holds the shipped files.
BUILTIN_CATALOG = os.path.join(FOLDER, 'catalog.json')
CATALOG_FORMAT = 1
KINDS = ('direction', 'latents')
KIND_WORDS = {'direction': 'direction', 'latents': 'latent codes', None: 'catalog entry'}

ENV_URL = 'GANSEMANTICS_DIRECTIONS_URL'                  # Mirror root replacing the public URLs.
ENV_DIR = 'GANSEMANTICS_DIRECTIONS_DIR'                  # Where downloaded files go (default <cache>/directions).
ENV_CATALOG = 'GANSEMANTICS_DIRECTIONS_CATALOG'          # The user catalog file.

# Edit distances beyond this move codes out of what float32 synthesis can draw (NaN images, not edits).
MAX_DISTANCE = 1e6
LAYERS_RULE = 'a list of layer indices'
DISTANCE_BOUNDS = f'from {-MAX_DISTANCE:.0f} to {MAX_DISTANCE:.0f}'
DISTANCES_RULE = f'[start, end], two numbers {DISTANCE_BOUNDS}'

_REQUIRED = ('id', 'kind', 'path', 'sha256', 'shape')
NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+\-]*(/[A-Za-z0-9][A-Za-z0-9_.+\-]*)*')


class CatalogError(ValueError):
    """A name, file or download the catalog cannot serve; the message is one line."""


def directions_dir():
    """Folder that downloaded files go to: `$GANSEMANTICS_DIRECTIONS_DIR`, else `<cache>/directions`."""
    return os.environ.get(ENV_DIR) or cache_dir('directions')


def user_catalog_path():
    """The user catalog file: `$GANSEMANTICS_DIRECTIONS_CATALOG`, else `directions.json` in the user's
    configuration folder (`$XDG_CONFIG_HOME/gansemantics`, default `~/.config/gansemantics`).

    Raises:
        CatalogError: `$GANSEMANTICS_DIRECTIONS_CATALOG` names a folder.
    """
    path = os.environ.get(ENV_CATALOG)
    if path:
        if os.path.isdir(path):
            raise CatalogError(f'{ENV_CATALOG}={path}: is a folder, not a file; it names the user catalog file '
                               f'(e.g. {os.path.join(path, "directions.json")})')
        return path
    config = os.environ.get('XDG_CONFIG_HOME') or os.path.join(os.path.expanduser('~'), '.config')
    return os.path.join(config, 'gansemantics', 'directions.json')


def one_line(text):
    return ' '.join(str(text).split())


def shown(value, limit=60):
    """`repr(value)` cut to `limit` characters, for messages."""
    text = one_line(repr(value))
    return text if len(text) <= limit else text[:limit - 3] + '...'


def read_json(path, what):
    """The JSON value of a file; a one-line CatalogError naming `path` and `what` ('sidecar', 'catalog') otherwise."""
    try:
        return load_json(path)
    except (OSError, ValueError) as error:
        raise CatalogError(f'{path}: cannot read the {what} ({one_line(error)})') from None


# ----------------------------------------------------------------------------
# Entries.

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
    home: Optional[str] = field(default=None, compare=False, hash=False, repr=False)   # Folder of the built-in
                                                                                         # catalog (shipped files).

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
        """Layers (ws indices) to apply a direction to, or None when the catalog says nothing."""
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

    def _relative(self):
        return os.path.join(self.source['local_folder'], *self.file.split('/'))

    @property
    def shipped_file(self):
        """Where the project ships the file (`directions/ffhq/stylegan2/eyesize.npy`); None for a user's entry."""
        return None if self.source is None else os.path.join(self.home, self._relative())

    def cache_file(self, cache_dir=None):
        """Where the file is downloaded to when it is not shipped; None for a user's entry."""
        if self.source is None:
            return None
        root = os.fspath(cache_dir) if cache_dir is not None else directions_dir()
        return os.path.join(root, self._relative())

    def local_file(self, cache_dir=None):
        """Where the file is read from: the user's file, the shipped file when present, else the cache."""
        if self.source is None:
            return self.path
        shipped = self.shipped_file
        return shipped if os.path.isfile(shipped) else self.cache_file(cache_dir)

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


def key_of(text):
    """A name or path as the catalog compares it: forward slashes, no leading './'."""
    text = str(text).strip().replace('\\', '/')
    while text.startswith('./'):
        text = text[2:]
    return text


def strong_keys(entry):
    """Names that identify one entry: id, original path, path in the source folder, each with or without .npy."""
    keys = {entry.id}
    if entry.source is not None:
        for path in (entry.path, entry.file):
            keys.update((path, path[:-4] if path.endswith('.npy') else path))
    return keys


def check_layers(value):
    """Whether `value` is a non-empty list of layer indices."""
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(i, numbers.Integral) and not isinstance(i, bool) and i >= 0 for i in value)


def check_distances(value):
    """Whether `value` is [start, end], two numbers within +-MAX_DISTANCE (so neither NaN nor infinite)."""
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(d, numbers.Real) and not isinstance(d, bool) and abs(d) <= MAX_DISTANCE for d in value)


def parse_entry(data, origin, sources, where, home=None):
    """Validate one catalog record and build its Entry (`where`: the catalog file, for messages)."""
    if not isinstance(data, dict):
        raise CatalogError(f'{where}: an entry is not a JSON object')
    missing = [key for key in _REQUIRED if key not in data]
    ident = data.get('id', '?')
    if missing:
        raise CatalogError(f'{where}: entry {ident!r} lacks {", ".join(missing)}')
    if not isinstance(ident, str) or not NAME_RE.fullmatch(ident):
        raise CatalogError(f'{where}: entry id {ident!r} is not a name like ffhq/stylegan2/eyesize')
    if data['kind'] not in KINDS:
        raise CatalogError(f'{where}: entry {ident}: kind {data["kind"]!r} is not one of {", ".join(KINDS)}')
    sha = data['sha256']
    if not isinstance(sha, str) or not re.fullmatch(r'[0-9a-f]{64}', sha):
        raise CatalogError(f'{where}: entry {ident}: sha256 must be 64 lower-case hex digits')
    shape = data['shape']
    if not isinstance(shape, list) or not shape or not all(isinstance(n, int) and n > 0 for n in shape):
        raise CatalogError(f'{where}: entry {ident}: shape must be a list of positive integers')
    if data.get('recommended_layers') is not None and not check_layers(data['recommended_layers']):
        raise CatalogError(f'{where}: entry {ident}: recommended_layers must be {LAYERS_RULE} or null, got '
                           f'{shown(data["recommended_layers"])}')
    if data.get('distance_range') is not None and not check_distances(data['distance_range']):
        raise CatalogError(f'{where}: entry {ident}: distance_range must be {DISTANCES_RULE}, or null, got '
                           f'{shown(data["distance_range"])}')
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
                 facts=facts, source=source, home=home)


def read_catalog_file(path):
    """The raw JSON of a catalog file."""
    data = read_json(path, 'catalog')
    if not isinstance(data, dict) or data.get('format') != CATALOG_FORMAT or not isinstance(data.get('entries'), list):
        raise CatalogError(f'{path}: not a catalog (expected {{"format": {CATALOG_FORMAT}, "entries": [...]}})')
    return data


def _read_catalog(path, origin):
    data = read_catalog_file(path)
    sources = data.get('sources', {})
    home = os.path.dirname(os.path.abspath(path))
    return [parse_entry(item, origin, sources, path, home) for item in data['entries']]


# ----------------------------------------------------------------------------
# The catalog.

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
        key = key_of(name)
        word = KIND_WORDS[kind]
        for entries in (self.select(kind), self.entries):
            found = [e for e in entries if key in strong_keys(e)] or [e for e in entries if key == e.name]
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
            for candidate in strong_keys(entry) | {entry.name}:
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
        """The built-in entry whose file belongs at `path` (original, shipped or downloaded location), or None."""
        key = key_of(path)
        real = os.path.realpath(path)
        for entry in self.select(kind):
            if entry.source is not None and (
                    key in (entry.path, entry.file) or
                    real in (os.path.realpath(entry.shipped_file), os.path.realpath(entry.cache_file(cache_dir)))):
                return entry
        return None

    def label_of(self, entry):
        """A short file-name-safe name of an entry: its short name when unique, else its id with '_' for '/'."""
        if sum(other.name == entry.name for other in self.entries) == 1:
            return entry.name
        return entry.id.replace('/', '_')


def load_catalog(user_catalog=None, builtin=None):
    """The built-in catalog plus the user catalog, when it exists.

    Args:
        user_catalog: The user catalog file (default `user_catalog_path()`).
        builtin: The built-in catalog file (default `catalog.json` in this
            folder); the files it lists are shipped in its folder.
    """
    entries = _read_catalog(os.fspath(builtin) if builtin is not None else BUILTIN_CATALOG, 'builtin')
    user = os.fspath(user_catalog) if user_catalog is not None else user_catalog_path()
    if os.path.isdir(user):
        raise CatalogError(f'{user}: the user catalog is a folder, not a file')
    if os.path.isfile(user):
        entries += _read_catalog(user, 'local')
    return Catalog(entries, user_catalog=user)
