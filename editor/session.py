"""The editor's state and work, independent of HTTP: one model, the codes it shows, the directions it moves
them along, the Jacobians and regions of samples, and the files it exports.

Every method takes what `editor.parse` made of a request (checked there) and answers a JSON-ready dict or
a `File`. Renders take one lock, so requests from several tabs are served one at a time; a Jacobian or a
projection runs in a thread of its own (`editor.tasks`).
"""

import glob
import io
import itertools
import os
import threading
import time
from typing import NamedTuple

import numpy as np
import torch

import directions as catalog
from models import BUILTIN_FORMAT
from semantics import editing, inversion, jacobian, regions, resefa, sampling, sefa
from utils.images import gif_bytes, png_bytes, to_uint8
from utils.indices import format_indices

from . import parse, replay
from .parse import lookup, need, row
from .tasks import LRU, Task

__all__ = ['Editor', 'File']


class File(NamedTuple):
    """An answer that is not JSON: an image, or a download when it has a `name`."""
    data: bytes
    content_type: str
    name: str = None
    headers: dict = {}


class RegionDirections(NamedTuple):
    id: str
    name: str
    box: list
    rows: np.ndarray                # [w_dim, w_dim] float32, the ReSeFa directions of the region, best first.
    values: np.ndarray              # [w_dim] their eigenvalues.


# ----------------------------------------------------------------------------
# Directions: each kind resolves its name to `(rows [K, w_dim], default layers, facts)`.

def _sefa_rows(editor, layers, where):
    layers, rows, values = editor.factorization(layers)
    return rows, layers, {'method': 'sefa', 'label': f'sefa_layers_{format_indices(layers)}', 'layers': layers,
                          'eigenvalues': values}


def _file_rows(editor, name, where):
    found = lookup(editor.files, name, where + 'name', 'direction file')
    return found.array, found.recommended_layers, {'method': (found.sidecar or {}).get('method', 'file'),
                                                   'label': found.label, 'file': found.path}


def _region_rows(editor, region_id, where):
    with editor.lock:
        found = lookup({r.id: r for r in editor.regions.values()}, region_id, where + 'id', 'region directions')
    return found.rows, None, {'method': 'resefa', 'label': f'resefa_{found.name}', 'region': found.name,
                              'box': found.box, 'eigenvalues': found.values}


class Editor:
    """One model, and what the page can ask of it."""

    DIRECTIONS = {  # kind: (the field that names one, its default, its parser, the resolver of its rows)
        'sefa': ('layers', 'all', parse.sefa_layers, _sefa_rows),
        'file': ('name', parse.REQUIRED, None, _file_rows),
        'region': ('id', parse.REQUIRED, None, _region_rows),
    }

    def __init__(self,
        generator,               # The model (contract of `models.base`), in eval mode.
        data_name='ffhq',        # Dataset whose named regions the page offers.
        work_dir='.',            # Folder searched for direction files of one's own.
        truncation_cutoff=8,     # Layers truncation applies to (StyleGAN families).
        catalog_=None,           # The directions catalog (default: `directions.load_catalog()`).
        transform=(0, 0, 0),     # The model's (tx, ty, rotate), for the exported command.
    ):
        self.generator = generator
        self.data_name = data_name if data_name in regions.dataset_names() else 'ffhq'
        self.truncation_cutoff, self.transform = truncation_cutoff, transform
        self.jacobian_size, _ = jacobian.reference_output_shape(generator)  # 256 at most, as the reference
        self.render_lock, self.lock = threading.Lock(), threading.RLock()
        self._ids = itertools.count(1)
        catalog_ = catalog_ if catalog_ is not None else catalog.load_catalog()
        self.prepared = _prepared_codes(generator, catalog_)
        self.files = _direction_files(generator, catalog_, work_dir)
        self.uploads, self.ws_cache, self.sefa_cache = LRU(16), LRU(256), LRU(64)
        self.tasks, self.regions = LRU(16), LRU(32)  # regions: (sample, name) -> RegionDirections

    def info(self, request=None):
        G = self.generator
        layers = G.sefa_layers()
        cut = [0, len(layers) // 3, 2 * len(layers) // 3, len(layers)] if len(layers) >= 3 else []
        groups = [{'name': f'{name} ({format_indices(layers[lo:hi])})', 'layers': format_indices(layers[lo:hi])}
                  for name, lo, hi in zip(('coarse', 'middle', 'fine'), cut[:-1], cut[1:])]
        return {
            'model': {'name': G.model_name, 'description': G.describe(), 'family': G.family, 'variant': G.variant,
                      'z_dim': G.z_dim, 'w_dim': G.w_dim, 'num_ws': G.num_ws, 'img_resolution': G.img_resolution,
                      'c_dim': G.c_dim, 'source': str(G.source), 'has_mapping': G.has_mapping,
                      'random_weights': G.checkpoint_format == BUILTIN_FORMAT},
            'layer_groups': [{'name': f'all ({format_indices(layers)})', 'layers': 'all'}] + groups,
            'data_name': self.data_name,
            'regions': regions.region_names(self.data_name),
            'region_boxes': {name: list(regions.named_box(self.data_name, name))
                             for name in regions.region_names(self.data_name)},
            'prepared': [{'name': name, 'count': len(codes), 'space': space}
                         for name, (space, codes) in self.prepared.items()],
            'files': [{'name': name, 'count': len(d.array), 'layers': d.recommended_layers,
                       'distance_range': d.distance_range, 'path': d.path,
                       'description': d.entry.get('description') if d.entry is not None else None}
                      for name, d in self.files.items()],
            'defaults': {'truncation_psi': 0.7 if G.has_truncation else 1.0, 'distance': 3.0,
                         'truncation_cutoff': self.truncation_cutoff, 'projection_steps': parse.PROJECTION_STEPS},
        }

    # ------------------------------------------------------------------------
    # Codes, directions, images.

    def ws_of(self, sample):
        """ws `[1, num_ws, w_dim]` of a sample (cached)."""
        G, (kind, name, *index) = self.generator, sample.code
        space, codes = 'z', None
        if kind != 'seed':
            table, field = (self.prepared, 'name') if kind == 'prepared' else (self.uploads, 'id')
            space, codes = lookup(table, name, f'code.{field}', f'{kind} codes')
            codes = row(codes, index[0], 'code.index')[None]
        key = (sample.code, sample.truncation_psi if space == 'z' else None, sample.class_index)
        with self.lock:
            ws = self.ws_cache.find(key)
        if ws is None:
            if kind == 'seed':
                codes = sampling.sample_z(G, 1, name, sample.truncation_psi)
            labels = sampling.class_labels(G, sample.class_index, 1, G.device)
            ws = sampling.to_ws(G, codes, space, sample.truncation_psi, self.truncation_cutoff, labels)
            with self.lock:
                self.ws_cache.put(key, ws)
        return ws

    def factorization(self, layers):
        """SeFa's `(layers, directions, eigenvalues)` of a tuple of layers (cached)."""
        with self.lock:
            found = self.sefa_cache.find(layers)
        if found is None:
            found = sefa.factorize(self.generator, list(layers))
            with self.lock:
                self.sefa_cache.put(layers, found)
        return found

    def edits_of(self, state):
        """`[(vector [w_dim], layers, distance, facts)]` of a state's edits."""
        edits = []
        for i, edit in enumerate(state.edits):
            where, ref = f'edits[{i}].direction.', edit.direction
            rows, layers, facts = self.DIRECTIONS[ref.kind][3](self, ref.name, where)
            values = facts.pop('eigenvalues', None)
            facts.update(label=f'{facts["label"]}_{ref.index}', index=ref.index)
            if values is not None:
                facts['eigenvalue'] = float(row(values, ref.index, where + 'index'))
            edits.append((row(rows, ref.index, where + 'index'), layers if edit.layers is None else edit.layers,
                          edit.distance, facts))
        return edits

    def image(self, state):
        """`(uint8 image [H, W, C], milliseconds)` of a state."""
        ws, edits = self.ws_of(state.sample), self.edits_of(state)
        with self.render_lock:
            start = time.perf_counter()
            image = replay.render(self.generator, ws, [e[:3] for e in edits], state.sample.truncation_psi)
            return image, (time.perf_counter() - start) * 1000

    def render(self, state):
        image, ms = self.image(state)
        return File(png_bytes(image), 'image/png', headers={'X-Render-Ms': f'{ms:.1f}'})

    def factorize(self, request):
        layers, count = request
        layers, _, values = self.factorization(layers)
        return {'layers': layers, 'eigenvalues': [float(v) for v in values[:count]]}

    def add_codes(self, space, codes):
        """Keep codes (an upload, a projection) under a new id: `{'id', 'count', 'space'}`."""
        upload_id = f'u{next(self._ids)}'
        with self.lock:
            self.uploads.put(upload_id, (space, codes[:1000]))
        return {'id': upload_id, 'count': len(codes[:1000]), 'space': space}

    # ------------------------------------------------------------------------
    # Work in threads: Jacobians and projections.

    def _start(self, kind, key, total, work):
        task = Task(f'{kind[0].lower()}{next(self._ids)}', kind, key, total, work)
        with self.lock:
            self.tasks.put(task.id, task)
        return task.describe()

    def task(self, task_id, kind):
        with self.lock:
            task = self.tasks.get(task_id)
        need(task is not None and task.kind == kind, 'id', f'no {kind} with id {task_id!r}', 404)
        return task

    def jacobians(self, sample=None, state=None):
        """The Jacobian tasks (of `sample`, in `state`), oldest first."""
        with self.lock:
            return [t for t in self.tasks.values() if t.kind == 'Jacobian' and sample in (None, t.key)
                    and state in (None, t.state)]

    def start_jacobian(self, sample):
        with self.lock:
            found = [t for t in self.jacobians(sample) if t.state in ('running', 'done')]
            if found:
                return found[0].describe()
            for old in self.jacobians()[:-1]:  # Jacobians are large: keep the last two samples
                self.tasks.pop(old.id)
            G, w = self.generator, self.ws_of(sample)[0].cpu().numpy()
            return self._start('Jacobian', sample, G.w_dim, lambda task: _jacobian(G, w, task))

    def start_inversion(self, request):
        G, (target, settings) = self.generator, request

        def work(task):
            result = inversion.project(G, target, settings, on_step=lambda step, loss: task.step())
            upload = self.add_codes('wp', result.ws.cpu().numpy())
            task.facts.update(psnr=inversion.psnr(result.image, target), upload=upload)
        return self._start('projection', None, settings.steps, work)

    def region_directions(self, region):
        """ReSeFa directions of a region, from the cached Jacobian of the request's sample (once per region)."""
        done = self.jacobians(region.sample, 'done')
        need(done, 'code', 'compute the Jacobian of this sample first', 409)
        rows, visible = done[-1].result
        with self.lock:
            found = self.regions.find((region.sample, region.name))
        if found is None:
            vectors, values = resefa.solve_directions(*resefa.gram_matrices(rows, region.mask)[:2], full_rank=True)
            found = RegionDirections(f'r{next(self._ids)}', region.name, list(region.box),
                                     vectors.astype(np.float32), values)
            with self.lock:
                self.regions.put((region.sample, region.name), found)
        vectors = found.rows[:region.count]
        return {'id': found.id, 'name': found.name, 'box': found.box,
                'eigenvalues': [float(v) for v in found.values[:region.count]],
                'shares': _linear_shares(rows, region.mask, vectors, visible)}

    # ------------------------------------------------------------------------
    # Exports.

    def export_image(self, state):
        return File(png_bytes(self.image(state)[0]), 'image/png', f'{self.generator.model_name}_edited.png')

    def export_code(self, state):
        ws, edits = self.ws_of(state.sample), self.edits_of(state)
        data = io.BytesIO()
        np.save(data, editing.apply_edits(ws, [e[:3] for e in edits]).cpu().numpy())
        return File(data.getvalue(), 'application/octet-stream', f'{self.generator.model_name}_code.npy')

    def export_edit(self, state):
        """The archive of `editor.replay`: the code, every direction moved, the recipe, the image."""
        G, name = self.generator, f'{self.generator.model_name}_edit'
        data, command = replay.archive(G, self.ws_of(state.sample), self.edits_of(state), state.sample.truncation_psi,
                                       png_bytes(self.image(state)[0]), self.transform, name)
        return File(data, 'application/zip', f'{name}.zip', {'X-Replay-Command': command})

    def export_gif(self, request):
        state, index, steps, start, end = request
        ws, edits = self.ws_of(state.sample), [e[:3] for e in self.edits_of(state)]
        vector, layers, _ = edits[index]
        base = editing.apply_edits(ws, edits[:index] + edits[index + 1:])  # the state without this edit
        frames = editing.render_edits(self.generator, base, vector, layers, editing.distances(start, end, steps),
                                      truncation_psi=state.sample.truncation_psi)
        return File(gif_bytes(list(to_uint8(frames))), 'image/gif', f'{self.generator.model_name}_edit.gif')


# ----------------------------------------------------------------------------
# Helpers.

def _prepared_codes(G, catalog_):
    """Prepared code files of the catalog that fit the model: name -> (space, codes)."""
    found = {}
    for entry in catalog_.select('latents'):
        try:
            latents = catalog.read_latents(entry.id, catalog=catalog_, download=False, progress=False)
            found[entry.name] = sampling.check_codes(G, latents.array, what=entry.id)
        except ValueError:
            continue  # another model's codes, or not on this machine
    return found


def _direction_files(G, catalog_, work_dir):
    """Published directions and files under `work_dir` that fit the model: name -> catalog.Direction."""
    found = {}
    names = [entry.id for entry in catalog_.select('direction')]
    for pattern in ('work_dirs/**/pooled_*.npy', 'results/**/directions.npy'):
        names += sorted(glob.glob(os.path.join(work_dir, pattern), recursive=True))[:200]
    for name in names:
        try:
            direction = catalog.read_direction(name, w_dim=G.w_dim, catalog=catalog_, download=False,
                                               progress=False)
            direction.layers_for(G.num_ws)
        except ValueError:
            continue
        found.setdefault(direction.label, direction)
    return found


def _jacobian(G, w, task):
    """`(rows, visible)`: the Jacobian `[(C,) H, W, 1, w_dim]` of one w+ code `w` `[num_ws, w_dim]`, and for
    per-channel Jacobians the pixels `[C, H, W]` not clipped on display (their change shows)."""
    rows = jacobian.to_reference_layout(next(jacobian.iter_jacobians(G, w[None], on_chunk=task.step)))
    rows = rows.cpu().numpy()
    if rows.ndim < 5:
        return rows, None
    with torch.no_grad():
        return rows, np.abs(sampling.render(G, torch.as_tensor(w[None]), 'const')[0].cpu().numpy()) < 1


def _linear_shares(rows, mask, vectors, visible=None):
    """Share of each direction's first-order pixel change `|J v|` that falls inside `mask` [H, W]."""
    change = np.abs(np.asarray(rows)[..., 0, :] @ vectors.T)  # [(C,) H, W, K]
    if change.ndim == 4:
        change = (change * visible[..., None] if visible is not None else change).sum(axis=0)
    inside, total = change[mask].sum(axis=0), change.sum(axis=(0, 1))
    return [float(i / t) if t > 0 else None for i, t in zip(inside, total)]
