"""The user catalog: one's own direction and latent-code files recorded under a name."""

import json
import os

import numpy as np

from utils.fileio import save_json

from .catalog import (
    CATALOG_FORMAT,
    DISTANCES_RULE,
    KINDS,
    LAYERS_RULE,
    NAME_RE,
    CatalogError,
    check_distances,
    check_layers,
    key_of,
    load_catalog,
    parse_entry,
    read_catalog_file,
    shown,
    strong_keys,
    user_catalog_path,
)
from .files import sha256_of_file
from .readers import DIRECTION_LAYOUT, check_directions, latents_array, load_npy, read_sidecar


def add_local_entry(name, npy_path, sidecar=None, kind='direction', catalog_path=None, **facts):
    """Record a user's file in the user catalog so that it resolves by `name`.

    The file is read with the same rules as `read_direction` / `read_latents`.
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

    Raises:
        CatalogError: a bad or taken name, a file or sidecar the readers refuse (one line each).
    """
    name = key_of(name)
    if kind not in KINDS:
        raise CatalogError(f'kind {kind!r} is not one of {", ".join(KINDS)}')
    if not NAME_RE.fullmatch(name):
        raise CatalogError(f'name {name!r}: use letters, digits, _ . + - and / between parts (e.g. ffhq/mine/smile)')
    for key, check, rule in (('recommended_layers', check_layers, LAYERS_RULE),
                             ('distance_range', check_distances, DISTANCES_RULE)):
        if facts.get(key) is not None and not check(facts[key]):
            raise CatalogError(f'{key} must be {rule}, got {shown(facts[key])}')
    npy_path = os.path.abspath(os.fspath(npy_path))
    if not os.path.isfile(npy_path):
        raise CatalogError(f'{npy_path}: no such file')
    if kind == 'direction':
        stored = load_npy(npy_path, DIRECTION_LAYOUT)
        check_directions(stored, npy_path)
        shape = stored.shape
    else:
        shape = latents_array(npy_path).shape
    if sidecar is None:
        candidate = os.path.splitext(npy_path)[0] + '.json'
        sidecar = candidate if os.path.isfile(candidate) else False
    record = dict(id=name, kind=kind, path=npy_path, sha256=sha256_of_file(npy_path), shape=list(shape))
    if sidecar:
        sidecar = os.path.abspath(os.fspath(sidecar))
        extra = read_sidecar(sidecar, shape)
        for key, value in extra.items():
            if key in record or key in ('origin', 'sidecar'):
                if value != record.get(key):
                    record[f'sidecar_{key}'] = value
            else:
                record[key] = value
        record['sidecar'] = sidecar
    record.update(facts)
    if facts.get('distance_range') is not None:
        record['distance_range'] = [float(d) for d in facts['distance_range']]
    if record.get('recommended_layers') is None and check_layers(record.get('layers')):
        record['recommended_layers'] = list(record['layers'])
    record = json.loads(json.dumps(record, default=_plain))

    catalog_path = os.fspath(catalog_path) if catalog_path is not None else user_catalog_path()
    catalog = load_catalog(catalog_path)
    for entry in catalog:
        if entry.origin == 'local' and entry.id == name:
            continue
        if name in strong_keys(entry) or name == entry.name:
            raise CatalogError(f'name {name!r} is taken by catalog entry {entry.id}; choose another')
    entry = parse_entry(record, 'local', {}, catalog_path)
    data = read_catalog_file(catalog_path) if os.path.isfile(catalog_path) else {'format': CATALOG_FORMAT,
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
