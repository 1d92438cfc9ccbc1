"""Reading direction files (with their sidecars) and files of latent codes: one set of rules for every caller.

    direction = read_direction('eyesize', w_dim=G.w_dim)   # or any path to a .npy
    direction.array                 # [K, w_dim] float32, rows as stored
    direction.recommended_layers    # [4, 5, 6, 7] (catalog entry, else sidecar), or None
    direction.layers_for(num_ws)    # the same, refused (naming entry or sidecar) when the model lacks a layer
    direction.label                 # 'eyesize'; 'pooled_resefa-eyes-1a2b3c4d' for a file of one's own

A direction file is a `.npy` array of floating-point numbers, `[K, w_dim]`
(also `[w_dim]`, and `[K, 1, w_dim]` as some tools write it), finite, with no
all-zero row. Its sidecar is `NAME.json` beside `NAME.npy`. Latent codes are
a floating-point `.npy` array `[N, dim]` or `[N, num_ws, w_dim]`. Every error
is a `CatalogError` with one line naming the file.
"""

import os
import re
import zipfile
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

from .catalog import (
    DISTANCES_RULE,
    LAYERS_RULE,
    CatalogError,
    Entry,
    check_distances,
    check_layers,
    load_catalog,
    one_line,
    read_json,
    shown,
)
from utils.fileio import save_json, save_npy

from .files import resolve, sha256_of_file

DIRECTION_LAYOUT = 'directions are a floating-point .npy array [K, w_dim]'
LATENTS_LAYOUT = 'latent codes are a floating-point .npy array [N, dim] or [N, num_ws, w_dim]'
_UNSAFE = re.compile(r'[^A-Za-z0-9._+\-]+')


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
    layers_from: Optional[str] = None   # 'catalog entry <id>' or 'sidecar <path>' (the layers alone), or None.

    def layers_for(self, num_ws):
        """The recommended layers, checked against a model with `num_ws` ws; None when none are recommended.

        Raises:
            CatalogError: a recommended layer is not below `num_ws`; the message names the entry or sidecar.
        """
        bad = [i for i in self.recommended_layers or () if i >= num_ws]
        if bad:
            raise CatalogError(f'{self.layers_from}: recommended layer {shown(bad[0])} is out of range; this model '
                               f'has layers 0-{num_ws - 1} (--mani_layers overrides the recommended layers)')
        return self.recommended_layers


class Latents(NamedTuple):
    """A file of latent codes as read."""
    path: str                   # The file read.
    array: np.ndarray           # [N, dim] or [N, num_ws, w_dim] float32.
    entry: Optional[Entry]      # Its catalog entry, when the SHA-256 matches one.


# ----------------------------------------------------------------------------
# Arrays.

def _not_npy(path, head):
    """What a file is when it is not a .npy array ('is a Python pickle', ...), from its first bytes; else None."""
    if head.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (OSError, zipfile.BadZipFile):
            return 'is a zip archive'
        if names and all(name.endswith('.npy') for name in names):
            shown = ', '.join(name[:-4] for name in names[:4]) + (', ...' if len(names) > 4 else '')
            return f'is an .npz archive (arrays {shown})'
        if any(name.endswith('data.pkl') for name in names):
            return 'is a PyTorch file (torch.save)'
        return 'is a zip archive'
    if head[:1] == b'\x80':
        return 'is a Python pickle'
    if head != b'\x93NUMPY':
        return 'is not a .npy file'
    return None


def load_npy(path, layout):
    """The array of a `.npy` file, refusing archives, pickles and object arrays with one line each.

    Args:
        path: The file.
        layout: What the file should hold, for messages (`DIRECTION_LAYOUT`, `LATENTS_LAYOUT`).
    """
    try:
        with open(path, 'rb') as file:
            wrong = _not_npy(path, file.read(6))
            if wrong is not None:
                raise CatalogError(f'{path}: {wrong}; {layout}')
            file.seek(0)
            version = np.lib.format.read_magic(file)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(file)
            elif version == (2, 0):
                _, _, dtype = np.lib.format.read_array_header_2_0(file)
            else:
                raise CatalogError(f'{path}: .npy format version {version[0]}.{version[1]} is not read; {layout}')
            if dtype.hasobject:
                raise CatalogError(f'{path}: holds Python objects (a pickled object array); {layout}')
            file.seek(0)
            return np.load(file, allow_pickle=False)
    except CatalogError:
        raise
    except OSError as error:
        raise CatalogError(f'{path}: cannot read the file ({one_line(error.strerror or error)})') from None
    except (ValueError, EOFError) as error:
        raise CatalogError(f'{path}: truncated or corrupt .npy file ({one_line(error) or type(error).__name__})') \
            from None


def _float32(array):
    with np.errstate(over='ignore', invalid='ignore'):  # Overflow gives inf, which the callers refuse.
        return np.ascontiguousarray(array, dtype=np.float32)


def direction_array(path, w_dim=None):
    """Directions `[K, w_dim]` float32 of a `.npy` file holding `[K, w_dim]`, `[w_dim]` or `[K, 1, w_dim]`.

    Raises:
        CatalogError: not a .npy array, not floating point, another shape,
            empty, a width other than `w_dim` (when given), NaN or infinite
            values, or an all-zero row.
    """
    return check_directions(load_npy(path, DIRECTION_LAYOUT), path, w_dim)


def check_directions(array, path, w_dim=None):
    """`array` as directions `[K, w_dim]` float32 (see `direction_array`); `path` names it in messages."""
    if not np.issubdtype(array.dtype, np.floating):
        raise CatalogError(f'{path}: holds {array.dtype} numbers; {DIRECTION_LAYOUT}')
    shape = list(array.shape)
    if array.ndim == 1:
        array = array[np.newaxis]
    elif array.ndim == 3 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 2:
        raise CatalogError(f'{path}: has shape {shape}; {DIRECTION_LAYOUT} (or [w_dim], or [K, 1, w_dim])')
    if array.size == 0:
        raise CatalogError(f'{path}: has shape {shape} and holds no direction')
    if w_dim is not None and array.shape[1] != w_dim:
        raise CatalogError(f'{path}: directions have {array.shape[1]} values each, but the model has w_dim={w_dim}')
    array = _float32(array)
    if not np.isfinite(array).all():
        raise CatalogError(f'{path}: directions hold NaN or infinite values (or values too large for float32)')
    zero = np.flatnonzero(~np.any(array != 0, axis=1))
    if len(zero):
        raise CatalogError(f'{path}: direction {zero[0]} is all zeros')
    return array


def latents_array(path):
    """Latent codes float32 `[N, dim]` or `[N, num_ws, w_dim]` of a `.npy` file.

    Raises:
        CatalogError: not a .npy array, not floating point, not 2-D or 3-D, empty, NaN or infinite values.
    """
    array = load_npy(path, LATENTS_LAYOUT)
    if not np.issubdtype(array.dtype, np.floating):
        raise CatalogError(f'{path}: holds {array.dtype} numbers; {LATENTS_LAYOUT}')
    if array.ndim not in (2, 3):
        raise CatalogError(f'{path}: has shape {list(array.shape)}; {LATENTS_LAYOUT}')
    if array.size == 0:
        raise CatalogError(f'{path}: has shape {list(array.shape)} and holds no codes')
    array = _float32(array)
    if not np.isfinite(array).all():
        raise CatalogError(f'{path}: latent codes hold NaN or infinite values (or values too large for float32)')
    return array


# ----------------------------------------------------------------------------
# Sidecars.

def sidecar_path(path):
    """`NAME.json` for `NAME.npy`."""
    return os.path.splitext(os.fspath(path))[0] + '.json'


def save_directions(path, array, method, generator=None, **facts):
    """Write directions `[K, w_dim]` to `path` (float32 `.npy`) and their sidecar `NAME.json` beside it.

    The sidecar holds the method, the array's shape, the generator's identity when it is given (model name,
    source checkpoint and its SHA-256, family, w_dim, num_ws, resolution), then `facts` (layers,
    recommended_layers, eigenvalues, region, distance_range, ...), which `read_direction` reads back.
    """
    array = np.asarray(array, dtype=np.float32)
    sidecar = {'method': method, 'shape': list(array.shape), 'w_dim': int(array.shape[-1])}
    if generator is not None:
        sidecar.update(model=generator.model_name, source=generator.source,
                       checkpoint_sha256=generator.checkpoint_sha256, family=generator.family,
                       num_ws=generator.num_ws, img_resolution=generator.img_resolution)
    sidecar.update(facts)
    save_npy(path, array)
    save_json(sidecar_path(path), sidecar)


def read_sidecar(json_path, shape=None):
    """The sidecar `.json` of a direction file, checked.

    Args:
        json_path: The sidecar.
        shape: The stored shape of its array; checked against the sidecar's `shape` when both are known.

    Raises:
        CatalogError: unreadable, not a JSON object, or a `recommended_layers`,
            `layers`, `distance_range` or `shape` that is malformed or wrong.
    """
    data = read_json(json_path, 'sidecar')
    if not isinstance(data, dict):
        raise CatalogError(f'{json_path}: the sidecar is not a JSON object')
    for key in ('recommended_layers', 'layers'):
        if data.get(key) is not None and not check_layers(data[key]):
            raise CatalogError(f'{json_path}: {key} must be {LAYERS_RULE} or null, got {shown(data[key])}')
    if data.get('distance_range') is not None and not check_distances(data['distance_range']):
        raise CatalogError(f'{json_path}: distance_range must be {DISTANCES_RULE}, got '
                           f'{shown(data["distance_range"])}')
    stated = data.get('shape')
    if stated is not None and shape is not None and stated != list(shape):
        raise CatalogError(f'{json_path}: the sidecar describes an array of shape {shown(stated)}, but its .npy '
                           f'holds {list(shape)}')
    return data


def _advice(entry, sidecar, json_path):
    """(recommended layers, where they came from, distance range, where it came from)."""
    layers = layers_from = distances = distances_from = None
    if entry is not None and entry.recommended_layers is not None:
        layers, layers_from = entry.recommended_layers, f'catalog entry {entry.id}'
    elif sidecar is not None and (sidecar.get('recommended_layers') or sidecar.get('layers')) is not None:
        layers, layers_from = list(sidecar.get('recommended_layers') or sidecar['layers']), f'sidecar {json_path}'
    if entry is not None and entry.distance_range is not None:
        distances, distances_from = entry.distance_range, f'catalog entry {entry.id}'
    elif sidecar is not None and sidecar.get('distance_range') is not None:
        distances = (float(sidecar['distance_range'][0]), float(sidecar['distance_range'][1]))
        distances_from = f'sidecar {json_path}'
    return layers, layers_from, distances, distances_from


def _label(path, sha256, entry, sidecar, catalog):
    if entry is not None:
        return _UNSAFE.sub('_', catalog.label_of(entry))
    parts = [os.path.splitext(os.path.basename(path))[0]]
    region = sidecar.get('region') if sidecar is not None else None
    if isinstance(region, str) and region:
        parts.append(region)
    parts.append(sha256[:8])
    return '-'.join(_UNSAFE.sub('_', part) for part in parts)


# ----------------------------------------------------------------------------
# Entry points.

def read_direction(name_or_path, w_dim=None, catalog=None, download=True, progress=True):
    """Read a direction file by path or catalog name, with its catalog entry and sidecar.

    Args:
        name_or_path: A `.npy` file, or a catalog name ('eyesize', 'ffhq/stylegan2/eyesize',
            'directions/ffhq/stylegan2/eyesize.npy').
        w_dim: The model's `w_dim`, checked when given.
        catalog: The catalog (default `load_catalog()`).
        download: False to fail instead of downloading a catalog file that is neither shipped nor cached.
        progress: Show a progress bar while downloading.

    Returns:
        A `Direction`.

    Raises:
        CatalogError: one line naming the file (see `direction_array`,
            `read_sidecar` and `directions.files.resolve`).
    """
    catalog = catalog if catalog is not None else load_catalog()
    path, entry = resolve(name_or_path, 'direction', catalog, download=download, progress=progress)
    stored = load_npy(path, DIRECTION_LAYOUT)
    array = check_directions(stored, path, w_dim)
    sha256 = sha256_of_file(path)
    json_path = sidecar_path(path)
    sidecar = read_sidecar(json_path, stored.shape) if os.path.isfile(json_path) else None
    layers, layers_from, distances, distances_from = _advice(entry, sidecar, json_path)
    advice_from = ' and '.join(dict.fromkeys(s for s in (layers_from, distances_from) if s)) or None
    return Direction(path=path, array=array, sha256=sha256, entry=entry, sidecar=sidecar,
                     recommended_layers=layers, distance_range=distances, advice_from=advice_from,
                     label=_label(path, sha256, entry, sidecar, catalog), layers_from=layers_from)


def read_latents(name_or_path, catalog=None, download=True, progress=True):
    """Read a file of latent codes by path or catalog name ('stylegan_cat256'); as `read_direction`.

    Returns:
        `Latents(path, array, entry)`, the array float32 `[N, dim]` or `[N, num_ws, w_dim]`.
    """
    path, entry = resolve(name_or_path, 'latents', catalog, download=download, progress=progress)
    return Latents(path, latents_array(path), entry)
