"""The editor's state and work, independent of HTTP: codes, directions, renders, Jacobians, exports.

`Editor` holds one model and everything the page asks about it: the codes it
can show (seeds, prepared codes of the catalog, uploads), the directions it can
move them along (SeFa of any layer selection, direction files, the ReSeFa
directions of a region of the current sample), and caches of what is costly
(mapped codes, factorisations, Jacobians). Every method validates its
arguments and raises `RequestError` (a message of one line) for bad ones;
`editor.server` turns those into HTTP answers.

Renders take one lock, so requests from several tabs are served one at a
time. A Jacobian runs in a thread of its own (the forward-mode pass does not
change the model), reporting progress per chunk of tangents and stopping when
cancelled; its result is cached per sample.
"""

import glob
import io
import itertools
import json
import os
import threading
import time
import zipfile
from collections import OrderedDict

import click
import numpy as np
import torch

import directions as catalog
from models import BUILTIN_FORMAT
from semantics import editing, inversion, jacobian, regions, resefa, sampling, sefa
from utils.images import gif_bytes, png_bytes, to_uint8
from utils.indices import IndexList, format_indices


__all__ = ['RequestError', 'Editor']

MAX_UPLOAD_BYTES = 16 * 2 ** 20
DEFAULT_FILE_LAYERS = [4, 5, 6, 7]  # manipulate.py's default for a file without advice


class RequestError(ValueError):
    """A bad request: `status` (4xx) and a one-line message."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _lru_put(cache, key, value, size):
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


class _Task:
    """Work run in a daemon thread: progress as `done` of `total`, cancellable, errors reported in `error`."""

    def __init__(self, task_id, total, *args):
        self.id = task_id
        self.total = total
        self.done = 0
        self.state = 'running'
        self.error = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=args, daemon=True)

    def _start(self):
        self._thread.start()

    def _check(self):
        """Called from the work's progress callbacks: stops it once cancelled."""
        if self._cancel.is_set():
            raise InterruptedError

    def _run(self, *args):
        try:
            self._work(*args)
            self.state = 'done'
        except InterruptedError:
            self.state = 'cancelled'
        except Exception as error:  # the thread must report, not die silently
            self.state = 'failed'
            self.error = ' '.join(str(error).split())[:300] or type(error).__name__

    def _work(self, *args):
        raise NotImplementedError

    def cancel(self):
        self._cancel.set()
        self._thread.join(timeout=30)

    def describe(self):
        return {'id': self.id, 'state': self.state, 'done': self.done, 'total': self.total, 'error': self.error}


class JacobianTask(_Task):
    """One sample's Jacobian, computed in a thread; progress in tangents, cancellable."""

    def __init__(self, task_id, editor, key, w):
        super().__init__(task_id, editor.generator.w_dim, editor, w)
        self.key = key
        self.result = None  # [C, H, W, 1, w_dim] or [H, W, 1, w_dim] (reference layout of one sample)
        self.visible = None  # bool [C, H, W]: pixels not clipped in the image (per-channel Jacobians)
        self._start()

    def _work(self, editor, w):
        G = editor.generator

        def on_chunk(count):
            self._check()
            self.done += count

        samples = jacobian.iter_jacobians(G, w[None], on_chunk=on_chunk)  # w+: every layer its own code
        self.result = jacobian.to_reference_layout(next(samples)).cpu().numpy()
        if self.result.ndim == 5:  # per channel: the pixels clipped on display would not show a change
            with torch.no_grad():
                image = sampling.render(G, torch.as_tensor(w[None]), 'const')[0].cpu().numpy()
            self.visible = np.abs(image) < 1  # [C, H, W]


class InversionTask(_Task):
    """One image projected into w or w+ in a thread; progress in steps, cancellable; the result becomes an upload."""

    def __init__(self, task_id, editor, target, settings):
        super().__init__(task_id, settings.steps, editor, target, settings)
        self.psnr = None
        self.upload = None  # {'id', 'count', 'space'} of the projected code, once done
        self._start()

    def _work(self, editor, target, settings):
        def on_step(step, loss):
            self._check()
            self.done = step + 1

        result = inversion.project(editor.generator, target, settings, on_step=on_step)
        self.psnr = inversion.psnr(result.image, target)
        self.upload = editor.add_codes('wp', result.ws.numpy())

    def describe(self):
        return {**super().describe(), 'psnr': self.psnr, 'upload': self.upload}


class Editor:
    """One model, and what the page can ask of it."""

    def __init__(self,
        generator,               # The model (contract of `models.base`), in eval mode.
        data_name='ffhq',        # Dataset whose named regions the page offers.
        work_dir='.',            # Folder searched for direction files of one's own.
        truncation_cutoff=8,     # Layers truncation applies to (StyleGAN families).
        catalog_=None,           # The directions catalog (default: `directions.load_catalog()`).
    ):
        self.generator = generator
        self.data_name = data_name if data_name in regions.dataset_names() else 'ffhq'
        self.truncation_cutoff = truncation_cutoff
        self.jacobian_size, _ = jacobian.reference_output_shape(generator)  # 256 at most, as the reference
        self.render_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.catalog = catalog_ if catalog_ is not None else catalog.load_catalog()
        self.prepared = self._prepared_codes()
        self.files = self._direction_files(work_dir)
        self.uploads = OrderedDict()       # id -> (space, codes)
        self.sefa_cache = OrderedDict()    # layers -> (layers, directions, eigenvalues)
        self.ws_cache = OrderedDict()      # code key -> ws [1, num_ws, w_dim]
        self.tasks = OrderedDict()         # task id -> JacobianTask
        self.regions = OrderedDict()       # region id -> facts and directions

    # ------------------------------------------------------------------------
    # What the page can offer.

    def _prepared_codes(self):
        """Prepared code files of the catalog that fit the model: name -> (space, codes)."""
        found = {}
        for entry in self.catalog.select('latents'):
            try:
                latents = catalog.read_latents(entry.id, catalog=self.catalog, download=False, progress=False)
                found[entry.name] = catalog.check_codes(self.generator, latents.array, what=entry.id)
            except ValueError:
                continue  # another model's codes, or not on this machine
        return found

    def _direction_files(self, work_dir):
        """Published directions and files under `work_dir` that fit `w_dim`: name -> catalog.Direction."""
        found = OrderedDict()
        candidates = [entry.id for entry in self.catalog.select('direction')]
        for pattern in ('work_dirs/**/pooled_*.npy', 'work_dirs/sefa/**/directions.npy', 'results/**/directions.npy'):
            candidates += sorted(glob.glob(os.path.join(work_dir, pattern), recursive=True))[:200]
        for name in candidates:
            try:
                direction = catalog.read_direction(name, w_dim=self.generator.w_dim, catalog=self.catalog,
                                                   download=False, progress=False)
            except ValueError:
                continue
            found.setdefault(direction.label, direction)
        return found

    def layer_groups(self):
        """'all' and the model's coarse, middle and fine thirds of its SeFa layers."""
        layers = self.generator.sefa_layers()
        groups = [{'name': f'all ({format_indices(layers)})', 'layers': 'all'}]
        if len(layers) >= 3:
            cut = [0, len(layers) // 3, 2 * len(layers) // 3, len(layers)]
            for name, lo, hi in zip(('coarse', 'middle', 'fine'), cut[:-1], cut[1:]):
                part = format_indices(layers[lo:hi])
                groups.append({'name': f'{name} ({part})', 'layers': part})
        return groups

    def info(self):
        G = self.generator
        return {
            'model': {'name': G.model_name, 'description': G.describe(), 'family': G.family, 'variant': G.variant,
                      'z_dim': G.z_dim, 'w_dim': G.w_dim, 'num_ws': G.num_ws, 'img_resolution': G.img_resolution,
                      'c_dim': G.c_dim, 'source': str(G.source), 'has_mapping': G.has_mapping,
                      'random_weights': G.checkpoint_format == BUILTIN_FORMAT},
            'layer_groups': self.layer_groups(),
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
                         'truncation_cutoff': self.truncation_cutoff},
        }

    # ------------------------------------------------------------------------
    # Parsing what the page sends.

    @staticmethod
    def _field(body, name, kind, default=None, required=False):
        if not isinstance(body, dict):
            raise RequestError('the request body must be a JSON object')
        if name not in body or body[name] is None:
            if required:
                raise RequestError(f'{name} is missing')
            return default
        value = body[name]
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise RequestError(f'{name} must be a finite number, got {value!r}')
            return float(value)
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise RequestError(f'{name} must be an integer, got {value!r}')
            return value
        if not isinstance(value, kind):
            what = {str: 'text', list: 'list', dict: 'JSON object'}.get(kind, kind.__name__)
            raise RequestError(f'{name} must be a {what}, got {json.dumps(value)[:80]}')
        return value

    def _psi(self, body):
        psi = self._field(body, 'truncation_psi', float, 1.0)
        try:
            return self.generator.check_truncation(psi)
        except ValueError as error:
            raise RequestError(f'truncation_psi: {error}') from None

    def _class(self, body):
        value = body.get('class') if isinstance(body, dict) else None
        if not self.generator.c_dim:
            if value is not None:
                raise RequestError('class: this model is unconditional')
            return None
        if value is None:
            raise RequestError(f'class: this model is conditional ({self.generator.c_dim} classes): give one')
        try:
            return self.generator.class_index(value)
        except ValueError as error:
            raise RequestError(f'class: {error}') from None

    def _code(self, body):
        """(key, codes [1, dim], space) of the request's code."""
        code = self._field(body, 'code', dict, required=True)
        kind = code.get('kind')
        if kind == 'seed':
            seed = self._field(code, 'seed', int, required=True)
            if not 0 <= seed < 2 ** 32:
                raise RequestError(f'seed must be in 0..{2 ** 32 - 1}, got {seed}')
            return ('seed', seed), None, 'z'
        if kind in ('prepared', 'upload'):
            source = self.prepared if kind == 'prepared' else self.uploads
            name = self._field(code, 'name' if kind == 'prepared' else 'id', str, required=True)
            if name not in source:
                raise RequestError(f'no {"prepared codes" if kind == "prepared" else "upload"} named {name!r}',
                                   404)
            space, codes = source[name]
            index = self._field(code, 'index', int, 0)
            if not 0 <= index < len(codes):
                raise RequestError(f'index {index} is out of range 0..{len(codes) - 1} of {name}')
            return (kind, name, index), codes[index:index + 1], space
        raise RequestError(f"code.kind must be 'seed', 'prepared' or 'upload', got {kind!r}")

    def ws_of(self, body):
        """(key, ws [1, num_ws, w_dim]) of the request's code, truncation and class (cached)."""
        key, codes, space = self._code(body)
        psi, class_index = self._psi(body), self._class(body)
        full_key = (key, psi if space == 'z' else None, class_index)
        with self.state_lock:
            if full_key in self.ws_cache:
                self.ws_cache.move_to_end(full_key)
                return full_key, self.ws_cache[full_key]
        G = self.generator
        if key[0] == 'seed':
            codes = sampling.sample_z(G, 1, key[1], psi)
        labels = sampling.class_labels(G, class_index, 1, G.device)
        ws = sampling.to_ws(G, codes, space, psi, self.truncation_cutoff, labels)
        with self.state_lock:
            _lru_put(self.ws_cache, full_key, ws, 256)
        return full_key, ws

    def _sefa(self, layers_text):
        if not isinstance(layers_text, str) or len(layers_text) > 200:
            raise RequestError('layers must be a text like all, 0-3 or 2-5,8')
        with self.state_lock:
            if layers_text in self.sefa_cache:
                return self.sefa_cache[layers_text]
        try:
            layers = None if layers_text.strip() == 'all' else IndexList(False).convert(layers_text, None, None)
            if not set(layers or ()) <= set(self.generator.sefa_layers()):
                raise ValueError(f'layers {layers_text} are out of range {format_indices(self.generator.sefa_layers())}')
            found = sefa.factorize(self.generator, layers)
        except click.BadParameter as error:
            raise RequestError(error.message) from None
        except ValueError as error:
            raise RequestError(str(error)) from None
        with self.state_lock:
            _lru_put(self.sefa_cache, layers_text, found, 64)
        return found

    def direction_of(self, ref):
        """(vector [w_dim], default layers, facts) of a direction reference."""
        if not isinstance(ref, dict):
            raise RequestError('direction must be a JSON object')
        kind = ref.get('kind')
        index = self._field(ref, 'index', int, 0)
        if kind == 'sefa':
            layers, vectors, values = self._sefa(self._field(ref, 'layers', str, 'all'))
            facts = {'method': 'sefa', 'layers': layers}
            default_layers = layers
        elif kind == 'file':
            name = self._field(ref, 'name', str, required=True)
            if name not in self.files:
                raise RequestError(f'no direction file named {name!r}', 404)
            found = self.files[name]
            vectors, values = found.array, None
            layers = found.recommended_layers
            if layers is None or max(layers) >= self.generator.num_ws:
                layers = DEFAULT_FILE_LAYERS if self.generator.num_ws > max(DEFAULT_FILE_LAYERS) else None
            default_layers = layers
            facts = {'method': (found.sidecar or {}).get('method') or (found.entry.get('method') if found.entry
                                                                       else None), 'file': found.path}
        elif kind == 'region':
            region_id = self._field(ref, 'id', str, required=True)
            with self.state_lock:
                region = self.regions.get(region_id)
            if region is None:
                raise RequestError(f'no region directions with id {region_id!r}', 404)
            vectors, values, default_layers = region['directions'], region['eigenvalues'], None
            facts = {'method': 'resefa', 'region': region['name'], 'box': region['box']}
        else:
            raise RequestError(f"direction.kind must be 'sefa', 'file' or 'region', got {kind!r}")
        if not 0 <= index < len(vectors):
            raise RequestError(f'direction index {index} is out of range 0..{len(vectors) - 1}')
        facts['index'] = index
        if values is not None:
            facts['eigenvalue'] = float(values[index])
        return np.asarray(vectors[index], dtype=np.float32), default_layers, facts

    def _layers(self, value, default):
        if value is None:
            return default
        if not isinstance(value, list) or not value or not all(isinstance(i, int) and not isinstance(i, bool)
                                                               for i in value):
            raise RequestError('layers must be null or a non-empty list of layer indices')
        try:
            if not all(0 <= i < self.generator.num_ws for i in value):
                raise ValueError(f'layers are out of range 0-{self.generator.num_ws - 1}')

            return sorted(set(value))
        except ValueError as error:
            raise RequestError(str(error)) from None

    def edits_of(self, body):
        """[(vector, layers, distance, facts)] of a state's edits."""
        edits = self._field(body, 'edits', list, [])
        if len(edits) > 256:
            raise RequestError('at most 256 edits at once')
        out = []
        for edit in edits:
            vector, default_layers, facts = self.direction_of(self._field(edit, 'direction', dict, required=True))
            layers = self._layers(edit.get('layers'), default_layers)
            distance = self._field(edit, 'distance', float, 0.0)
            if abs(distance) > 1000:
                raise RequestError(f'distance {distance} is out of range -1000..1000')
            out.append((vector, layers, distance, facts))
        return out

    # ------------------------------------------------------------------------
    # Work.

    def edited_ws(self, body):
        _, ws = self.ws_of(body)
        edits = self.edits_of(body)
        return editing.apply_edits(ws, [(v, layers, d) for v, layers, d, _ in edits]), edits

    def render(self, body):
        """(PNG bytes, milliseconds) of a state."""
        ws, _ = self.edited_ws(body)
        psi = self._psi(body)
        with self.render_lock:
            start = time.perf_counter()
            image = to_uint8(sampling.render(self.generator, ws, 'const', psi))[0]
            ms = (time.perf_counter() - start) * 1000
        return png_bytes(image), ms

    def factorize(self, body):
        layers, _, eigenvalues = self._sefa(self._field(body, 'layers', str, 'all'))
        count = self._field(body, 'count', int, 5)
        if not 1 <= count <= len(eigenvalues):
            raise RequestError(f'count must be in 1..{len(eigenvalues)}, got {count}')
        return {'layers': layers, 'eigenvalues': [float(v) for v in eigenvalues[:count]]}

    def upload(self, data):
        if len(data) > MAX_UPLOAD_BYTES:
            raise RequestError(f'the upload is larger than {MAX_UPLOAD_BYTES // 2 ** 20} MB', 413)
        try:
            codes = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise RequestError(f'the upload is not a .npy array ({" ".join(str(error).split())[:120]})') from None
        if not isinstance(codes, np.ndarray):
            raise RequestError('the upload is an .npz archive; give a .npy array of codes')
        try:
            space, codes = catalog.check_codes(self.generator, codes, what='the upload')
        except ValueError as error:
            raise RequestError(str(error)) from None
        return self.add_codes(space, codes)

    def add_codes(self, space, codes):
        """Keep codes (an upload, a projection) under a new id: `{'id', 'count', 'space'}`."""
        upload_id = f'u{next(self._ids)}'
        with self.state_lock:
            _lru_put(self.uploads, upload_id, (space, codes[:1000]), 16)
        return {'id': upload_id, 'count': len(codes[:1000]), 'space': space}

    # ------------------------------------------------------------------------
    # Projecting images.

    def start_inversion(self, data, query):
        """Project an uploaded image (raw bytes of any image file) into w or w+, in a thread."""
        G = self.generator
        if not G.has_mapping or G.c_dim:
            raise RequestError(f'images cannot be projected into this {G.variant} (it needs an unconditional '
                               f'StyleGAN, StyleGAN2 or StyleGAN3)')
        if len(data) > MAX_UPLOAD_BYTES:
            raise RequestError(f'the image is larger than {MAX_UPLOAD_BYTES // 2 ** 20} MB', 413)
        steps = _query_int(query, 'steps', 300, 1, 5000)
        space = (query.get('space') or ['w'])[0]
        if space not in ('w', 'wp'):
            raise RequestError(f"space must be 'w' or 'wp', got {space!r}")
        try:
            from PIL import Image
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                target, _ = inversion.fit_target(image, G.img_resolution, G.img_channels)
        except inversion.ImageError as error:
            raise RequestError(f'the uploaded image cannot be read as an 8-bit picture: {error}') from None
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise RequestError(f'the upload is not an image ({" ".join(str(error).split())[:120]})') from None
        task = InversionTask(f'i{next(self._ids)}', self, target.to(G.device),
                             inversion.ProjectionSettings(steps=steps, space=space))
        with self.state_lock:
            _lru_put(self.tasks, task.id, task, 8)
        return task.describe()

    # ------------------------------------------------------------------------
    # Jacobians and regions.

    def start_jacobian(self, body):
        key, ws = self.ws_of(body)
        with self.state_lock:
            for task in self.jacobians():
                if task.key == key and task.state in ('running', 'done'):
                    return task.describe()
            for old in self.jacobians()[:-1]:  # Jacobians are large: keep the last two samples
                self.tasks.pop(old.id)
            task = JacobianTask(f'j{next(self._ids)}', self, key, ws[0].cpu().numpy())
            _lru_put(self.tasks, task.id, task, 16)
        return task.describe()

    def task(self, task_id, kind=JacobianTask):
        with self.state_lock:
            task = self.tasks.get(task_id)
        if not isinstance(task, kind):
            what = 'Jacobian' if kind is JacobianTask else 'projection'
            raise RequestError(f'no {what} with id {task_id!r}', 404)
        return task

    def cancel_task(self, body, kind=JacobianTask):
        task = self.task(self._field(body, 'id', str, required=True), kind)
        if task.state == 'running':
            task.cancel()
        return task.describe()

    def jacobians(self):
        """The Jacobian tasks, oldest first (call with `state_lock` held)."""
        return [task for task in self.tasks.values() if isinstance(task, JacobianTask)]

    def region_directions(self, body):
        """ReSeFa directions of a named region or a box, from the cached Jacobian of the request's sample."""
        key, ws = self.ws_of(body)
        with self.state_lock:
            task = next((t for t in self.jacobians() if t.key == key and t.state == 'done'), None)
        if task is None:
            raise RequestError('compute the Jacobian of this sample first', 409)
        size = self.jacobian_size
        try:
            if body.get('box') is not None:
                box = self._field(body, 'box', list)
                if len(box) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in box):
                    raise RequestError('box must be four integers [center_row, center_col, height, width]')
                name = 'box_' + '_'.join(map(str, box))
                mask = regions.check_mask(regions.box_mask(regions.scale_box(box, size), size), f'box {box}')
            else:
                name = self._field(body, 'region', str, required=True)
                box = list(regions.named_box(self.data_name, name))
                mask = regions.region_mask(self.data_name, name, size)
        except ValueError as error:
            raise RequestError(str(error)) from None
        count = self._field(body, 'count', int, 5)
        if not 1 <= count <= self.generator.w_dim:
            raise RequestError(f'count must be in 1..{self.generator.w_dim}, got {count}')
        gram_f, gram_b, _, _ = resefa.gram_matrices(task.result, mask)
        try:
            vectors, values = resefa.solve_directions(gram_f, gram_b, full_rank=True)
        except ValueError as error:
            raise RequestError(str(error)) from None
        vectors = vectors[:count].astype(np.float32)
        shares = _linear_shares(task.result, mask, vectors, task.visible)
        region_id = f'r{next(self._ids)}'
        with self.state_lock:
            _lru_put(self.regions, region_id, {'name': name, 'box': box, 'directions': vectors,
                                               'eigenvalues': values[:count]}, 32)
        return {'id': region_id, 'name': name, 'box': box, 'eigenvalues': [float(v) for v in values[:count]],
                'shares': shares}

    # ------------------------------------------------------------------------
    # Exports.

    def export_gif(self, body):
        state = self._field(body, 'state', dict, required=True)
        ws, edits = self.edited_ws(state)
        index = self._field(body, 'edit', int, 0)
        if not 0 <= index < len(edits):
            raise RequestError(f'edit {index} is out of range: the state has {len(edits)} edits')
        steps = self._field(body, 'steps', int, 9)
        if not 2 <= steps <= 64:
            raise RequestError(f'steps must be in 2..64, got {steps}')
        start, end = self._field(body, 'start', float, -3.0), self._field(body, 'end', float, 3.0)
        vector, layers, distance, _ = edits[index]
        base = editing.apply_edits(ws, [(vector, layers, -distance)])  # the state without this edit
        frames = editing.render_edits(self.generator, base, vector, layers, editing.distances(start, end, steps),
                                      truncation_psi=self._psi(state))
        return gif_bytes(list(to_uint8(frames)))

    def export_direction(self, body):
        vector, default_layers, facts = self.direction_of(self._field(body, 'direction', dict, required=True))
        layers = self._layers(body.get('layers'), default_layers)
        G = self.generator
        sidecar = {**facts, 'layers': layers, 'recommended_layers': layers, 'model': G.model_name,
                   'source': str(G.source), 'checkpoint_sha256': G.checkpoint_sha256, 'family': G.family,
                   'w_dim': G.w_dim, 'num_ws': G.num_ws, 'img_resolution': G.img_resolution,
                   'made_by': 'interface.py', 'shape': [1, G.w_dim]}
        name = _direction_name(facts)
        array = io.BytesIO()
        np.save(array, vector[None])
        data = io.BytesIO()
        with zipfile.ZipFile(data, 'w', zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f'{name}.npy', array.getvalue())
            archive.writestr(f'{name}.json', json.dumps(sidecar, indent=2, default=str) + '\n')
        return name, data.getvalue()

    def export_code(self, body):
        ws, _ = self.edited_ws(body)
        data = io.BytesIO()
        np.save(data, ws.cpu().numpy().astype(np.float32))
        return data.getvalue()

    def command(self, body):
        """The manipulate.py command lines that apply the state's edits, one direction each."""
        key, _ = self.ws_of(body)
        edits = self.edits_of(body)
        G = self.generator
        code = body['code']
        if code.get('kind') == 'seed':
            codes = f'--seed {code["seed"]} --nums 1'
        else:
            codes = '--latent_path code.npy --nums 1   # code.npy: the unedited code, exported with distances at 0'
        psi = f' --trunc_psi {self._psi(body):g}' if G.has_truncation else ''
        cls = f' --class {key[2]}' if key[2] is not None else ''
        lines = []
        for _, layers, distance, facts in edits:
            if distance == 0:
                continue
            source = facts.get('file') or f'{_direction_name(facts)}.npy'
            layer_text = format_indices(layers) if layers is not None else 'all'
            index = facts['index']
            rows = f' --start {index} --end {index + 1}' if facts.get('file') and index else ''
            line = (f'python manipulate.py {G.source} {source}{rows} --mani_layers {layer_text} '
                    f'--start_distance {-abs(distance):g} --end_distance {abs(distance):g}{psi}{cls} {codes}')
            lines.append(line)
        return {'command': '\n'.join(lines) if lines else '# move a slider first: no edit to apply'}


def _query_int(query, name, default, low, high):
    values = query.get(name)
    if not values:
        return default
    if not values[0].lstrip('-').isdigit() or not low <= int(values[0]) <= high:
        raise RequestError(f'{name} must be an integer in {low}..{high}, got {values[0]!r}')
    return int(values[0])


def _linear_shares(jacobian_rows, mask, vectors, visible=None):
    """Share of each direction's first-order pixel change `|J v|` that falls inside `mask`.

    Args:
        jacobian_rows: `[C, H, W, 1, w_dim]` or `[H, W, 1, w_dim]` (one sample, reference layout).
        mask: bool `[H, W]`.
        vectors: `[K, w_dim]`.
        visible: bool `[C, H, W]`: pixels that are not clipped on display (their change shows).
    """
    view = np.asarray(jacobian_rows)[..., 0, :]  # [(C,) H, W, w_dim]
    change = np.abs(view @ vectors.T)  # [(C,) H, W, K]
    if change.ndim == 4:
        if visible is not None:
            change = change * visible[..., None]
        change = change.sum(axis=0)
    inside = change[mask].sum(axis=0)
    total = change.sum(axis=(0, 1))
    return [float(i / t) if t > 0 else None for i, t in zip(inside, total)]


def _direction_name(facts):
    """A file name for an exported direction: what made it and its row."""
    if facts.get('method') == 'sefa':
        return f'sefa_layers_{format_indices(facts["layers"])}_{facts["index"]}'
    if facts.get('method') == 'resefa' and 'region' in facts:
        return f'resefa_{facts["region"]}_{facts["index"]}'
    return f'{os.path.splitext(os.path.basename(facts.get("file", "direction")))[0]}_{facts["index"]}'.replace(
        ' ', '_')
