"""The user catalog: one's own direction and latent-code files recorded under a name."""

import json
import os

from utils.download import file_sha256
from utils.fileio import save_json

from .catalog import (CATALOG_FORMAT, NAME_RE, CatalogError, advice_problem, key_of, load_catalog,
                      parse_entries, read_catalog_file, strong_keys)
from .readers import DIRECTION_LAYOUT, check_directions, latents_array, load_array, read_sidecar, sidecar_path


def add_local_entry(name, npy_path, sidecar=None, kind='direction', catalog_path=None, **facts):
    """Record a user's file (read as `read_direction` / `read_latents` read it) under a new `name` ('smile',
    'ffhq/mine/smile') in the user catalog, replacing an entry of that name; returns the new Entry.

    The entry holds the file's absolute path, SHA-256 and shape, the fields of its `sidecar` (default: NAME.json
    beside it; False for none; a field named like an entry field is kept as `sidecar_<field>`), then `facts`
    (`recommended_layers`, default the sidecar's `layers`; `distance_range`, `description`, `model`, ...).
    """
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
    record.update(facts)
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
