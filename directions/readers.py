"""The rules of direction files, their sidecars and latent codes: reading them, writing directions, and adding
one's own files to the user catalog. Every error is a `CatalogError` with one line naming the file.

    direction = read_direction('eyesize', w_dim=G.w_dim, num_ws=G.num_ws)   # or any path to a .npy
    direction.array                 # [K, w_dim] float32, rows as stored
    direction.recommended_layers    # [4, 5, 6, 7] (catalog entry, else sidecar NAME.json), or None
"""

import json
import os
import re
import reprlib
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

from utils.download import file_sha256
from utils.fileio import load_json, load_npy, save_json, save_npy
from utils.limits import MAX_CODE

from .catalog import (CATALOG_FORMAT, NAME_RE, CatalogError, Entry, advice_problem, key_of, load_catalog,
                      parse_entries, read_catalog_file, resolve, strong_keys)

DIRECTION_LAYOUT = 'directions are a floating-point .npy array [K, w_dim]'
LATENTS_LAYOUT = 'latent codes are a floating-point .npy array [N, dim] or [N, num_ws, w_dim]'


@dataclass(frozen=True, eq=False)
class Direction:
    """A direction file as read, with the advice that comes with it."""

    path: str                           # The file read.
    array: np.ndarray                   # [K, w_dim] float32, rows as stored (not renormalised).
    sha256: str                         # SHA-256 of the file.
    entry: Optional[Entry]              # Its catalog entry, when the SHA-256 matches one.
    sidecar: Optional[dict]             # NAME.json next to NAME.npy, when present.
    recommended_layers: Optional[list]  # The entry's, else the sidecar's recommended_layers, else its layers.
    distance_range: Optional[tuple]     # (start, end): the entry's, else the sidecar's.
    advice_from: Optional[str]          # 'catalog entry <id>' or 'sidecar <path>' (the two above), or None.
    label: str                          # For output paths: 'eyesize', or '<stem>[-<region>]-<sha8>'.


class Latents(NamedTuple):
    """A file of latent codes as read."""
    path: str                   # The file read.
    array: np.ndarray           # [N, dim] or [N, num_ws, w_dim] float32.
    entry: Optional[Entry]      # Its catalog entry, when the SHA-256 matches one.


def load_array(path, layout):
    """The array of a `.npy` file; CatalogError naming the file and the `layout` it should have otherwise."""
    try:
        return load_npy(path)
    except ValueError as error:
        raise CatalogError(f'{error}; {layout}') from None


def _float32(array):
    with np.errstate(over='ignore', invalid='ignore'):  # overflow gives inf, which is refused
        return np.ascontiguousarray(array, dtype=np.float32)


def check_directions(array, path, w_dim=None):
    """`array` as directions `[K, w_dim]` float32 (`w_dim` checked when given), or CatalogError naming `path`."""
    shape = list(array.shape)
    if array.ndim == 1 or array.ndim == 3 and array.shape[1] == 1:
        array = array.reshape(-1, array.shape[-1])
    problem = None
    if array.dtype.kind != 'f':
        problem = f'holds {array.dtype} numbers; {DIRECTION_LAYOUT}'
    elif array.ndim != 2:
        problem = f'has shape {shape}; {DIRECTION_LAYOUT} (or [w_dim], or [K, 1, w_dim])'
    elif array.size == 0:
        problem = f'has shape {shape} and holds no direction'
    elif w_dim is not None and array.shape[1] != w_dim:
        problem = f'directions have {array.shape[1]} values each, but the model has w_dim={w_dim}'
    else:
        array = _float32(array)
        zero = np.flatnonzero(~np.any(array != 0, axis=1))
        if not np.isfinite(array).all():
            problem = 'directions hold NaN or infinite values (or values too large for float32)'
        elif len(zero):
            problem = f'direction {zero[0]} is all zeros'
    if problem:
        raise CatalogError(f'{path}: {problem}')
    return array


def latents_array(path):
    """Latent codes float32 `[N, dim]` or `[N, num_ws, w_dim]` of a `.npy` file; CatalogError naming the file."""
    codes = load_array(path, LATENTS_LAYOUT)
    problem = None
    if codes.dtype.kind != 'f':
        problem = f'holds {codes.dtype} numbers; {LATENTS_LAYOUT}'
    elif codes.ndim not in (2, 3) or codes.size == 0:
        problem = f'has shape {list(codes.shape)}; ' + (LATENTS_LAYOUT if codes.size else 'it holds no codes')
    else:
        codes = _float32(codes)
        if not np.isfinite(codes).all():
            problem = 'latent codes hold NaN or infinite values (or values too large for float32)'
        elif np.abs(codes).max() > MAX_CODE:
            problem = (f'latent codes hold values beyond +-{MAX_CODE:g}, which float32 synthesis cannot draw '
                       f'(z codes so large normalise to zero)')
    if problem:
        raise CatalogError(f'{path}: {problem}')
    return codes


def check_codes(generator, codes, space='auto', nums=None, what='latent codes'):
    """`(space, the first nums codes)`: the space given, or ('auto') read from the shape, z before w as the original."""
    auto = space in ('auto', None)
    fits = {'z': (2, generator.z_dim), 'w': (2, generator.w_dim), 'wp': (3, generator.w_dim)}
    found = [s for s, (ndim, width) in fits.items() if codes.ndim == ndim and codes.shape[-1] == width and
             (s != 'wp' or codes.shape[1] == generator.num_ws)]
    if not (found if auto else space in found):
        raise CatalogError(f'{what}: codes of shape {list(codes.shape)} fit ' + (
            f'neither z [N, {generator.z_dim}], w [N, {generator.w_dim}] nor '
            f'w+ [N, {generator.num_ws}, {generator.w_dim}]' if auto else f'no {space} code of this model'))
    return (found[0] if auto else space), codes[:nums]


def sidecar_path(path):
    """`NAME.json` for `NAME.npy`."""
    return os.path.splitext(os.fspath(path))[0] + '.json'


def save_directions(path, array, method, generator=None, **facts):
    """Write directions `[K, w_dim]` to `path` (float32 `.npy`) and their sidecar `NAME.json`: the method, the
    shape, the generator's identity when it is given, then `facts` (layers, eigenvalues, region, ...)."""
    array = np.asarray(array, dtype=np.float32)
    sidecar = {'method': method, 'shape': list(array.shape), 'w_dim': int(array.shape[-1])}
    if generator is not None:
        sidecar.update(model=generator.model_name, source=generator.source,
                       checkpoint_sha256=generator.checkpoint_sha256, family=generator.family,
                       num_ws=generator.num_ws, img_resolution=generator.img_resolution)
    sidecar.update(facts)
    save_npy(path, array)
    save_json(sidecar_path(path), sidecar)


def read_sidecar(json_path, shape):
    """The sidecar `.json` of a direction file, checked: its advice, and its `shape` against the array's."""
    try:
        data = load_json(json_path)
    except ValueError as error:
        raise CatalogError(f'{error}; cannot read the sidecar') from None
    problem = 'the sidecar is not a JSON object' if not isinstance(data, dict) else advice_problem(data)
    if not problem and data.get('shape') not in (None, list(shape)):
        problem = (f'the sidecar describes an array of shape {reprlib.repr(data["shape"])}, but its .npy holds '
                   f'{list(shape)}')
    if problem:
        raise CatalogError(f'{json_path}: {problem}')
    return data


def read_direction(name_or_path, w_dim=None, num_ws=None, catalog=None, download=True, progress=True):
    """The `Direction` of a `.npy` file or a catalog name, checked against `w_dim` and `num_ws` when given."""
    catalog = catalog if catalog is not None else load_catalog()
    path, entry = resolve(name_or_path, 'direction', catalog, download=download, progress=progress)
    stored = load_array(path, DIRECTION_LAYOUT)
    array = check_directions(stored, path, w_dim)
    json_path = sidecar_path(path)
    sidecar = read_sidecar(json_path, stored.shape) if os.path.isfile(json_path) else None
    layers_from = distances_from = None
    if entry is not None and entry.recommended_layers is not None:
        layers, layers_from = entry.recommended_layers, f'catalog entry {entry.id}'
    elif sidecar is not None and (sidecar.get('recommended_layers') or sidecar.get('layers')):
        layers, layers_from = list(sidecar.get('recommended_layers') or sidecar['layers']), f'sidecar {json_path}'
    if entry is not None and entry.distance_range is not None:
        distances, distances_from = entry.distance_range, f'catalog entry {entry.id}'
    elif sidecar is not None and sidecar.get('distance_range') is not None:
        distances, distances_from = tuple(map(float, sidecar['distance_range'])), f'sidecar {json_path}'
    if layers_from and num_ws is not None and max(layers) >= num_ws:
        raise CatalogError(f'{layers_from}: recommended layer {max(layers)} is out of range; this model has layers '
                           f'0-{num_ws - 1} (--mani_layers overrides the recommended layers)')
    sha256 = entry.sha256 if entry is not None else file_sha256(path)
    region = (sidecar or {}).get('region')
    parts = (os.path.splitext(os.path.basename(path))[0], region if isinstance(region, str) else '', sha256[:8])
    label = catalog.label_of(entry) if entry is not None else '-'.join(p for p in parts if p)
    return Direction(path=path, array=array, sha256=sha256, entry=entry, sidecar=sidecar,
                     recommended_layers=layers if layers_from else None,
                     distance_range=distances if distances_from else None,
                     advice_from=' and '.join(dict.fromkeys(s for s in (layers_from, distances_from) if s)) or None,
                     label=re.sub(r'[^A-Za-z0-9._+\-]+', '_', label))


def read_latents(name_or_path, catalog=None, download=True, progress=True):
    """The `Latents` of a file by path or catalog name ('stylegan_cat256'), as `read_direction` reads."""
    path, entry = resolve(name_or_path, 'latents', catalog, download=download, progress=progress)
    return Latents(path, latents_array(path), entry)


def add_local_entry(name, npy_path, sidecar=None, kind='direction', catalog_path=None, **facts):
    """Record a user's file under a new `name` ('ffhq/mine/smile') in the user catalog, replacing an entry of that
    name; returns the new Entry: the file's path, SHA-256 and shape, the fields of its `sidecar` (default: NAME.json
    beside it; False: none), then `facts` (None: not given)."""
    name, npy_path = key_of(name), os.path.abspath(os.fspath(npy_path))
    problem = advice_problem(facts)
    if not NAME_RE.fullmatch(name):
        problem = f'name {name!r}: use letters, digits, _ . + - and / between parts (e.g. ffhq/mine/smile)'
    if problem:
        raise CatalogError(problem)
    shape = (check_directions(load_array(npy_path, DIRECTION_LAYOUT), npy_path) if kind == 'direction'
             else latents_array(npy_path)).shape
    record = dict(id=name, kind=kind, path=npy_path, sha256=file_sha256(npy_path), shape=list(shape))
    if sidecar is None and os.path.isfile(sidecar_path(npy_path)):
        sidecar = sidecar_path(npy_path)
    if sidecar:
        sidecar = os.path.abspath(os.fspath(sidecar))
        for key, value in read_sidecar(sidecar, shape).items():
            clash = key in record or key in ('origin', 'sidecar')
            if not clash or value != record.get(key):
                record[f'sidecar_{key}' if clash else key] = value
        record['sidecar'] = sidecar
    record.update((key, value) for key, value in facts.items() if value is not None)
    if record.get('recommended_layers') is None and record.get('layers') is not None:  # both checked above
        record['recommended_layers'] = list(record['layers'])
    record = json.loads(json.dumps(record, default=lambda v: v.tolist() if hasattr(v, 'tolist') else list(v)))

    catalog = load_catalog(catalog_path)
    catalog_path = catalog.user_catalog
    taken = next((e.id for e in catalog if (e.origin, e.id) != ('local', name) and
                  (name in strong_keys(e) or name == e.name)), None)
    if taken:
        raise CatalogError(f'name {name!r} is taken by catalog entry {taken}; choose another')
    data = read_catalog_file(catalog_path) if os.path.isfile(catalog_path) else {'format': CATALOG_FORMAT,
                                                                                  'entries': []}
    data['entries'] = [item for item in data['entries'] if item.get('id') != name] + [record]
    entry, = [e for e in parse_entries(data, 'local', catalog_path) if e.id == name]
    save_json(catalog_path, data)
    return entry
