"""The editor's state and work, independent of HTTP: one model, its codes, directions, Jacobians and regions, and
the files it exports. Methods take what `editor.parse` made of a request and answer a JSON-ready dict or a `File`;
renders take one lock (tabs are served one at a time), Jacobians and projections run in threads (`editor.tasks`)."""

import contextlib
import functools
import glob
import io
import itertools
import os
import threading
import time
from collections import namedtuple

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

File = namedtuple('File', 'data content_type name headers', defaults=(None, {}))  # a download when it has a name
RegionDirections = namedtuple('RegionDirections', 'id name box rows values')  # rows [w_dim, w_dim], best first
DIRECTION_FILES = ('work_dirs/**/pooled_*.npy', 'work_dirs/sefa/**/directions.npy', 'results/**/directions.npy')


# Each kind of direction resolves its name and a row to `(vector [w_dim], default layers, facts for a sidecar)`.

def _sefa_row(editor, layers, index, where):
    layers, rows, values = editor.factorization(layers)
    return row(rows, index, where + 'index'), layers, {
        'method': 'sefa', 'label': f'sefa_layers_{format_indices(layers)}_{index}', 'layers': layers,
        'eigenvalue': float(values[index])}


def _file_row(editor, name, index, where):
    found = lookup(editor.files, name, where + 'name', 'direction file')
    return row(found.array, index, where + 'index'), found.recommended_layers, {
        'method': (found.sidecar or {}).get('method', 'file'), 'label': f'{found.label}_{index}', 'file': found.path}


def _region_row(editor, region_id, index, where):
    found = lookup({r.id: r for r in editor.regions.now()}, region_id, where + 'id', 'region directions')
    return row(found.rows, index, where + 'index'), None, {
        'method': 'resefa', 'label': f'resefa_{found.name}_{index}', 'region': found.name, 'box': found.box,
        'eigenvalue': float(found.values[index])}


class Editor:
    """One model, and what the page can ask of it."""

    DIRECTIONS = {'sefa': _sefa_row, 'file': _file_row, 'region': _region_row}  # kind: resolver of its rows

    def __init__(self,
        generator,               # The model (contract of `models.base`), in eval mode.
        data_name='ffhq',        # Dataset whose named regions the page offers.
        work_dir='.',            # Folder searched for direction files of one's own.
        truncation_cutoff=8,     # Layers truncation applies to (StyleGAN families).
        transform=(0, 0, 0),     # The model's (tx, ty, rotate), for the exported recipe.
    ):
        self.generator, self.data_name = generator, data_name
        self.truncation_cutoff, self.transform = truncation_cutoff, transform
        self.jacobian_size, _ = jacobian.reference_output_shape(generator)  # 256 at most, as the reference
        self.render_lock, self.ids = threading.Lock(), itertools.count(1)
        self.prepared, self.files = _fitting_files(generator, work_dir)
        self.uploads, self.projections = LRU(16), LRU(16)  # id -> (space, codes), id -> Task
        self.regions = LRU(32)  # (sample, name) -> RegionDirections
        self.jacobians = LRU(2)  # sample -> Task; Jacobians are large: the last two samples'
        self.factorization = functools.lru_cache(64)(lambda layers: sefa.factorize(generator, list(layers)))
        self.ws_of = functools.lru_cache(256)(self._ws_of)

    def info(self):
        G, layers, names = self.generator, self.generator.sefa_layers(), regions.region_names(self.data_name)
        thirds = [layers[len(layers) * i // 3:len(layers) * (i + 1) // 3] for i in range(3)] if len(layers) > 2 else []
        return {
            'model': {'name': G.model_name, 'description': G.describe(), 'family': G.family, 'variant': G.variant,
                      'z_dim': G.z_dim, 'w_dim': G.w_dim, 'num_ws': G.num_ws, 'img_resolution': G.img_resolution,
                      'c_dim': G.c_dim, 'source': str(G.source), 'has_mapping': G.has_mapping,
                      'random_weights': G.checkpoint_format == BUILTIN_FORMAT},
            'layer_groups': [{'name': f'all ({format_indices(layers)})', 'layers': 'all'}] + [
                {'name': f'{name} ({format_indices(part)})', 'layers': format_indices(part)}
                for name, part in zip(('coarse', 'middle', 'fine'), thirds)],
            'data_name': self.data_name, 'regions': names,
            'region_boxes': {name: list(regions.named_box(self.data_name, name)) for name in names},
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
    # Codes, edits, images.

    def _ws_of(self, sample):
        """ws `[1, num_ws, w_dim]` of a sample (`ws_of` keeps the last ones)."""
        G, (kind, name, *index) = self.generator, sample.code
        if kind == 'seed':
            space, codes = 'z', sampling.sample_z(G, 1, name, sample.truncation_psi)
        else:
            table, field = (self.prepared, 'name') if kind == 'prepared' else (self.uploads, 'id')
            space, codes = lookup(table, name, f'code.{field}', f'{kind} codes')
            codes = row(codes, index[0], 'code.index')[None]
        return sampling.to_ws(G, codes, space, sample.truncation_psi, self.truncation_cutoff,
                              sampling.class_labels(G, sample.class_index, 1, G.device))

    def edits_of(self, state):
        """`[(vector [w_dim], layers, distance, facts)]` of a state's edits."""
        edits = []
        for i, edit in enumerate(state.edits):
            vector, layers, facts = self.DIRECTIONS[edit.kind](self, edit.name, edit.index, f'edits[{i}].direction.')
            edits.append((vector, layers if edit.layers is None else edit.layers, edit.distance,
                          {**facts, 'index': edit.index}))
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
        return {'layers': layers, 'text': format_indices(layers), 'eigenvalues': [float(v) for v in values[:count]]}

    def add_codes(self, space, codes):
        """Keep codes (an upload, a projection) under a new id: `{'id', 'count', 'space'}`."""
        upload_id, codes = f'u{next(self.ids)}', codes[:1000]
        self.uploads.put(upload_id, (space, codes))
        return {'id': upload_id, 'count': len(codes), 'space': space}

    # ------------------------------------------------------------------------
    # Work in threads: Jacobians and projections; a region's directions.

    def task(self, task_id, tasks):
        """The task `task_id` of `tasks` (`self.jacobians` or `self.projections`), or a 404."""
        return lookup({task.id: task for task in tasks.now()}, task_id, 'id', 'task with id')

    def start_jacobian(self, sample):
        G, found = self.generator, self.jacobians.find(sample)
        if found is None or found.state in ('cancelled', 'failed'):
            w = self.ws_of(sample)[0].cpu().numpy()
            found = self.jacobians.put(sample, Task(f'j{next(self.ids)}', G.w_dim, lambda task: _jacobian(G, w, task)))
        return found.describe()

    def start_inversion(self, request):
        G, (target, settings) = self.generator, request

        def work(task):
            result = inversion.project(G, target, settings, on_step=lambda step, loss: task.step())
            upload = self.add_codes('wp', result.ws.cpu().numpy())
            task.facts.update(psnr=inversion.psnr(result.image, target), upload=upload)
        task = Task(f'p{next(self.ids)}', settings.steps, work)
        return self.projections.put(task.id, task).describe()

    def region_directions(self, region):
        """ReSeFa directions of a region, from the Jacobian of the request's sample (solved once per region)."""
        task = self.jacobians.find(region.sample)
        need(task is not None and task.state == 'done', 'code', 'compute the Jacobian of this sample first', 409)
        rows, visible = task.result

        def solve():
            vectors, values = resefa.directions_for_sample(rows, region.mask, full_rank=True)
            return RegionDirections(f'r{next(self.ids)}', region.name, region.box, vectors.astype(np.float32), values)
        found = self.regions.find((region.sample, region.name), solve)
        return {'id': found.id, 'name': found.name, 'box': found.box,
                'eigenvalues': [float(v) for v in found.values[:region.count]],
                'shares': _linear_shares(rows, region.mask, found.rows[:region.count], visible)}

    # ------------------------------------------------------------------------
    # Exports, named after the model.

    def export_image(self, state):
        return File(png_bytes(self.image(state)[0]), 'image/png', f'{self.generator.model_name}_edited.png')

    def export_code(self, state):
        data, ws = io.BytesIO(), self.ws_of(state.sample)
        np.save(data, editing.apply_edits(ws, [e[:3] for e in self.edits_of(state)]).cpu().numpy())
        return File(data.getvalue(), 'application/octet-stream', f'{self.generator.model_name}_code.npy')

    def export_edit(self, state):
        """The archive of `editor.replay`: the code, every direction moved, the recipe, the image."""
        name = f'{self.generator.model_name}_edit'
        data, command = replay.archive(self.generator, self.ws_of(state.sample), self.edits_of(state),
                                       state.sample.truncation_psi, self.image(state)[0], self.transform, name)
        return File(data, 'application/zip', f'{name}.zip', {'X-Replay-Command': command})

    def export_gif(self, request):
        state, index, steps, start, end = request
        edits = [e[:3] for e in self.edits_of(state)]
        vector, layers, _ = edits[index]
        base = editing.apply_edits(self.ws_of(state.sample), edits[:index] + edits[index + 1:])  # without this edit
        frames = editing.render_edits(self.generator, base, vector, layers, editing.distances(start, end, steps),
                                      truncation_psi=state.sample.truncation_psi)
        return File(gif_bytes(list(to_uint8(frames))), 'image/gif', f'{self.generator.model_name}_edit.gif')


def _fitting_files(G, work_dir):
    """The prepared codes and direction files (of the catalog and under `work_dir`) that fit the model and are here."""
    published, prepared, files = catalog.load_catalog(), {}, {}
    for entry in published.select('latents'):
        with contextlib.suppress(ValueError):  # another model's codes, or not on this machine
            latents = catalog.read_latents(entry.id, catalog=published, download=False, progress=False)
            prepared[entry.name] = catalog.check_codes(G, latents.array, what=entry.id)
    names = [entry.id for entry in published.select('direction')]
    for pattern in DIRECTION_FILES:
        names += sorted(glob.glob(os.path.join(work_dir, pattern), recursive=True))[:200]
    for name in names:
        with contextlib.suppress(ValueError):  # another model's, or not on this machine
            direction = catalog.read_direction(name, w_dim=G.w_dim, num_ws=G.num_ws, catalog=published, download=False,
                                               progress=False)
            files.setdefault(direction.label, direction)
    return prepared, files


def _jacobian(G, w, task):
    """`(rows, visible)`: the Jacobian `[(C,) H, W, 1, w_dim]` of one w+ code, and for per-channel Jacobians the
    pixels not clipped on display."""
    rows = jacobian.to_reference_layout(next(jacobian.iter_jacobians(G, w[None], on_chunk=task.step))).cpu().numpy()
    if rows.ndim < 5:
        return rows, None
    with torch.no_grad():
        return rows, np.abs(sampling.render(G, torch.as_tensor(w[None]), 'const')[0].cpu().numpy()) < 1


def _linear_shares(rows, mask, vectors, visible):
    """Share of each direction's first-order pixel change `|J v|` that falls inside `mask` [H, W]."""
    change = np.abs(np.asarray(rows)[..., 0, :] @ vectors.T)  # [(C,) H, W, K]
    if visible is not None:  # per channel: count the pixels whose change shows
        change = (change * visible[..., None]).sum(axis=0)
    inside, total = change[mask].sum(axis=0), change.sum(axis=(0, 1))
    return [float(i / t) if t > 0 else None for i, t in zip(inside, total)]
