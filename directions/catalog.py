"""The catalog (the built-in `catalog.json` plus the user catalog), looked up by id, original path or short name,
and the files of its entries (shipped here, else downloaded), checked against its SHA-256 on every use."""

import difflib
import numbers
import os
import re
import reprlib
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

from utils.download import DownloadError, cache_dir, cached_file, file_sha256, url_of
from utils.fileio import load_json
from utils.limits import MAX_DISTANCE

FOLDER = os.path.dirname(os.path.abspath(__file__))     # The package folder, which holds the shipped files.
BUILTIN_CATALOG = os.path.join(FOLDER, 'catalog.json')
CATALOG_FORMAT = 1
KINDS = ('direction', 'latents')
KIND_WORDS = {'direction': 'direction', 'latents': 'latent codes', None: 'catalog entry'}

ENV_URL = 'GANSEMANTICS_DIRECTIONS_URL'                  # Mirror root replacing the public URLs.
ENV_DIR = 'GANSEMANTICS_DIRECTIONS_DIR'                  # Where downloaded files go (default <cache>/directions).
ENV_CATALOG = 'GANSEMANTICS_DIRECTIONS_CATALOG'          # The user catalog file.

DISTANCE_BOUNDS = f'from {-MAX_DISTANCE:.0f} to {MAX_DISTANCE:.0f}'
NAME_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+\-]*(/[A-Za-z0-9][A-Za-z0-9_.+\-]*)*')
_REQUIRED = ('id', 'kind', 'path', 'sha256', 'shape')


class CatalogError(ValueError):
    """A name, file or download the catalog cannot serve; the message is one line."""


def directions_dir():
    """Folder that downloaded files go to: `$GANSEMANTICS_DIRECTIONS_DIR`, else `<cache>/directions`."""
    return os.environ.get(ENV_DIR) or cache_dir('directions')


def user_catalog_path():
    """`$GANSEMANTICS_DIRECTIONS_CATALOG`, else `$XDG_CONFIG_HOME` (or `~/.config`)`/gansemantics/directions.json`."""
    config = os.environ.get('XDG_CONFIG_HOME') or os.path.join(os.path.expanduser('~'), '.config')
    return os.environ.get(ENV_CATALOG) or os.path.join(config, 'gansemantics', 'directions.json')


def _is_index(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _is_distance(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and abs(value) <= MAX_DISTANCE


# The advice a catalog entry, a sidecar or `add` may give, and the rule each must follow.
_LAYERS_RULE = ('a list of layer indices or null',
                lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and all(map(_is_index, v)))
ADVICE_RULES = {
    'recommended_layers': _LAYERS_RULE,
    'layers': _LAYERS_RULE,
    'distance_range': (f'[start, end], two numbers {DISTANCE_BOUNDS}, or null',
                       lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(map(_is_distance, v))),
}


def advice_problem(data):
    """The first field of `data` that breaks its rule in `ADVICE_RULES`, as a message; None when all follow."""
    for key, (rule, ok) in ADVICE_RULES.items():
        if data.get(key) is not None and not ok(data[key]):
            return f'{key} must be {rule}, got {reprlib.repr(data[key])}'
    return None


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
    file: Optional[str] = None  # Path in the source folder ('ffhq/stylegan2/eyesize.npy'); None for a user's entry.
    shipped_file: Optional[str] = None  # Where the project ships it (.../directions/ffhq/stylegan2/eyesize.npy).
    recommended_layers: Optional[list] = field(default=None, compare=False)    # [4, 5, 6, 7], or None.
    distance_range: Optional[tuple] = field(default=None, compare=False)       # (start, end), or None.
    facts: dict = field(default_factory=dict, compare=False, hash=False, repr=False)   # Every other field.
    source: Optional[dict] = field(default=None, compare=False, hash=False, repr=False)  # Built-in origin record.

    @property
    def name(self):
        """Short name ('eyesize', 'eyes-r'); not necessarily unique."""
        return self.facts.get('name') or self.id.rsplit('/', 1)[-1]

    def get(self, key, default=None):
        """Any other field of the entry ('model', 'family', 'space', 'description', ...)."""
        return self.facts.get(key, default)

    def cache_file(self, cache_dir=None):
        """Where the file is downloaded to (under `cache_dir`, default `directions_dir()`); None for a user's entry."""
        if self.source is None:
            return None
        return os.path.join(cache_dir or directions_dir(), self.source['local_folder'], *self.file.split('/'))

    def local_file(self):
        """Where the file is read from: the user's file, the shipped file when present, else the cache."""
        if self.source is None:
            return self.path
        return self.shipped_file if os.path.isfile(self.shipped_file) else self.cache_file()

    def download_url(self):
        """The public URL, or `<$GANSEMANTICS_DIRECTIONS_URL>/<source mirror folder>/<file>`; None for a user's."""
        mirror = os.environ.get(ENV_URL)
        if self.source is None or not mirror:
            return self.get('url')
        return f'{url_of(mirror).rstrip("/")}/{urllib.parse.quote(self.source["mirror_folder"] + "/" + self.file)}'


def key_of(text):
    """A name or path as the catalog compares it: forward slashes, no leading './'."""
    return re.sub(r'^(\./)+', '', str(text).strip().replace('\\', '/'))


def strong_keys(entry):
    """Names that identify one entry: id, original path, path in the source folder, each with or without .npy."""
    keys = {entry.id}
    for path in (entry.path, entry.file) if entry.source is not None else ():
        keys.update((path, path[:-4] if path.endswith('.npy') else path))
    return keys


def _entry_problem(data):
    """What is wrong with one catalog record, or None."""
    if not isinstance(data, dict):
        return 'an entry is not a JSON object'
    missing = [key for key in _REQUIRED if key not in data]
    shape = data.get('shape')
    checks = [
        (not missing, f'lacks {", ".join(missing)}'),
        (isinstance(data.get('id'), str) and NAME_RE.fullmatch(data['id']),
         'id is not a name like ffhq/stylegan2/eyesize'),
        (data.get('kind') in KINDS, f'kind must be one of {", ".join(KINDS)}'),
        (isinstance(data.get('sha256'), str) and re.fullmatch('[0-9a-f]{64}', data['sha256']),
         'sha256 must be 64 lower-case hex digits'),
        (isinstance(shape, list) and shape and all(isinstance(n, int) and n > 0 for n in shape),
         'shape must be a list of positive integers'),
        (isinstance(data.get('path'), str) and data['path'], 'path must be a non-empty string'),
        (advice_problem(data) is None, advice_problem(data)),
    ]
    return next((f'entry {data.get("id", "?")}: {problem}' for ok, problem in checks if not ok), None)


def read_catalog_file(path):
    """The raw JSON of a catalog file, checked to be one."""
    try:
        data = load_json(path)
    except ValueError as error:
        raise CatalogError(f'{error}; cannot read the catalog') from None
    if not isinstance(data, dict) or data.get('format') != CATALOG_FORMAT or not isinstance(data.get('entries'), list):
        raise CatalogError(f'{path}: not a catalog (expected {{"format": {CATALOG_FORMAT}, "entries": [...]}})')
    return data


def parse_entries(data, origin, where):
    """The Entries of a catalog's JSON (`where`: its file, for messages and the paths of a user's entries)."""
    sources, home, entries = data.get('sources', {}), os.path.dirname(os.path.abspath(where)), []
    for item in data['entries']:
        problem = _entry_problem(item)
        if problem:
            raise CatalogError(f'{where}: {problem}')
        source = sources[item['source']] if origin == 'builtin' else None
        file = item['path'][len(source['folder']) + 1:] if source else None
        layers, span = item.get('recommended_layers'), item.get('distance_range')
        entries.append(Entry(
            id=item['id'], kind=item['kind'], sha256=item['sha256'], shape=tuple(item['shape']), origin=origin,
            path=item['path'] if source else os.path.join(home, os.path.expanduser(item['path'])),
            file=file, shipped_file=os.path.join(home, source['local_folder'], file) if source else None,
            recommended_layers=None if layers is None else list(layers),
            distance_range=None if span is None else (float(span[0]), float(span[1])),
            facts={key: value for key, value in item.items() if key not in _REQUIRED}, source=source))
    return entries


class Catalog(list):
    """The entries: built-in ones first, then the user's."""

    def __init__(self, entries, user_catalog=None):
        super().__init__(entries)
        self.user_catalog = user_catalog    # Path of the user catalog (which may not exist yet).
        ids = [entry.id for entry in self]
        twice = next((ident for ident in ids if ids.count(ident) > 1), None)
        if twice:
            raise CatalogError(f'{user_catalog}: entry id {twice!r} is used twice')

    def select(self, kind=None):
        """Entries of one kind (all when `kind` is None)."""
        return [entry for entry in self if kind is None or entry.kind == kind]

    def lookup(self, name, kind=None):
        """The entry called `name` (id, original path, or unique short name); CatalogError naming the candidates."""
        key, word = key_of(name), KIND_WORDS[kind]
        for entries in (self.select(kind), self):
            found = [e for e in entries if key in strong_keys(e)] or [e for e in entries if key == e.name]
            if found:
                break
        if len(found) == 1 and kind in (None, found[0].kind):
            return found[0]
        if len(found) > 1:
            problem = f'is ambiguous: it may be {" or ".join(e.id for e in found)}; use one of these names'
        elif found:
            problem = f'is {KIND_WORDS[found[0].kind]} ({found[0].id}), not a {word}'
        else:
            candidates = {c: e.id for e in self.select(kind) for c in strong_keys(e) | {e.name}}
            close = list(dict.fromkeys(candidates[m] for m in difflib.get_close_matches(key, candidates, 6, 0.6)))
            problem = ('is unknown: no such file and no such name in the catalog' +
                       (f'; did you mean {", ".join(close[:4])}?' if close else '') +
                       ' (python -m directions list shows them all)')
        raise CatalogError(f'{word} name {name!r} {problem}')

    def published_entry_at(self, path, kind=None):
        """The built-in entry whose file belongs at `path` (original, shipped or downloaded location), or None."""
        key, real = key_of(path), os.path.realpath(path)
        return next((e for e in self.select(kind) if e.source is not None and (
            key in (e.path, e.file) or real in (os.path.realpath(e.shipped_file), os.path.realpath(e.cache_file())))),
            None)

    def label_of(self, entry):
        """A short file-name-safe name of an entry: its short name when unique, else its id with '_' for '/'."""
        unique = sum(other.name == entry.name for other in self) == 1
        return entry.name if unique else entry.id.replace('/', '_')


def load_catalog(user_catalog=None, builtin=None):
    """The built-in catalog (default `catalog.json` here) plus the user catalog (default `user_catalog_path()`)."""
    builtin = os.fspath(builtin or BUILTIN_CATALOG)
    entries = parse_entries(read_catalog_file(builtin), 'builtin', builtin)
    user = os.fspath(user_catalog or user_catalog_path())
    if os.path.isdir(user):
        named = f'{ENV_CATALOG}=' if user_catalog is None and os.environ.get(ENV_CATALOG) else ''
        raise CatalogError(f'{named}{user}: is a folder, not a file; the user catalog is a file '
                           f'(e.g. {os.path.join(user, "directions.json")})')
    if os.path.isfile(user):
        entries += parse_entries(read_catalog_file(user), 'local', user)
    return Catalog(entries, user_catalog=user)


# ----------------------------------------------------------------------------
# Files.

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
    """Path of the entry's verified file: shipped, already downloaded (into `cache_dir`), or downloaded now."""
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
    """`(path, entry or None)` of a file of `kind`: an existing file, with the entry whose SHA-256 it has (refused
    where a published file belongs but differs); else the fetched file of a catalog name ('eyesize')."""
    catalog = catalog if catalog is not None else load_catalog()
    arg = os.fspath(name_or_path)
    if os.path.isdir(arg):
        raise CatalogError(f'{arg}: is a folder; give a .npy file or a catalog name')
    if not os.path.isfile(arg):
        entry = catalog.lookup(arg, kind)
        return fetch(entry, download=download, progress=progress), entry
    sha256 = file_sha256(arg)
    entry = next((e for e in catalog.select(kind) if e.sha256 == sha256), None)
    owner = catalog.published_entry_at(arg, kind) if entry is None else None
    if owner is not None:
        verify(arg, owner)
    return arg, entry
