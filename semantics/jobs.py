"""Long jobs as library objects: Jacobians of many samples streamed to disk, resumable.

`JacobianJob` computes the Jacobian of each sample (see `semantics.jacobian`)
and either writes it into one memory-mapped `jacobians_w.npy` in the reference
layout, or, with a region, adds it to that region's Gram matrices (a few MB
whatever the number of samples). After every sample it records which samples
are done, so a run that stops (Ctrl-C, a crash, a lost machine) is resumed by
the same job: finished samples are never computed again. Until the last sample
is done the data lives under a hidden partial name; `finish()` renames it into
place, so a final file is always complete.

The job is driven by a caller that decides which samples to run and how to show
progress (`compute_jacobian.py` with tqdm, the editor with its own bar); it may
run a share of the samples (`run(indices)`), which is how several processes can
split one job.

Files in the job's folder (`<name>` is `jacobians_w` or `grams_<region>`):

| file | while running | when finished |
| --- | --- | --- |
| `<name>.npy` / `<name>.npz` | absent | the result |
| `.<name>.partial.npy` / `.npz` | the samples done so far | renamed to the result |
| `.<name>.progress.json` | settings and the samples done | removed |
| `<name>.json` | absent | the settings, plus what the caller adds |

Running a finished job again with the same settings computes nothing.
"""

import hashlib
import json
import os

import numpy as np

from utils.fileio import atomic_path, save_json

from . import jacobian as jac
from .resefa import GramAccumulator

__all__ = ['JacobianJob']


class JacobianJob:
    """Jacobians (or a region's Gram matrices) of N samples, streamed to a folder and resumable."""

    def __init__(self,
        generator,              # Generator following the contract of `models.base`.
        w,                      # [N, w_dim] latents, one per sample.
        folder,                 # Where the result and its partial/progress files go.
        layers=None,            # ws indices to differentiate (None: all, like the reference).
        size=None,              # Jacobian resolution (None: the reference rule).
        sum_channels=None,      # Sum over colour (None: the reference rule).
        region=None,            # (name, bool mask [size, size]): accumulate Gram matrices only.
        chunk_size=None,        # Tangents per batched pass (None: `jacobian.auto_chunk_size`).
        synthesis_kwargs=None,  # Keyword arguments of `generator.synthesis` (None: constant noise).
        settings=None,          # Everything else that determines the result (model, seed, ...); checked on resume.
        method='auto',          # 'auto', 'tangent' or 'jvp' (see `jacobian.make_tangent_function`).
    ):
        self.generator = generator
        self.w = np.ascontiguousarray(w, dtype=np.float32)
        if self.w.ndim != 2 or self.w.shape[1] != generator.w_dim:
            raise ValueError(f'w must have shape [N, {generator.w_dim}], got {list(self.w.shape)}')
        self.folder = os.fspath(folder)
        self.layers = None if layers is None else sorted(int(i) for i in layers)
        self.size, self.sum_channels = jac.reference_output_shape(generator, size, sum_channels)
        self.region_name, self.mask = region if region is not None else (None, None)
        self.chunk_size = chunk_size or jac.auto_chunk_size(generator)
        self.synthesis_kwargs = (generator.synthesis_kwargs(for_tangents=True) if synthesis_kwargs is None
                                 else dict(synthesis_kwargs))
        self.method = jac.pick_method(generator, self.synthesis_kwargs, method)
        self.name = 'jacobians_w' if self.mask is None else f'grams_{self.region_name}'
        ext = '.npy' if self.mask is None else '.npz'
        self.path = os.path.join(self.folder, self.name + ext)
        self.partial_path = os.path.join(self.folder, f'.{self.name}.partial{ext}')
        self.progress_path = os.path.join(self.folder, f'.{self.name}.progress.json')
        self.shape = jac.jacobian_shape(generator, len(self.w), self.size, self.sum_channels)
        self.settings = {
            **(settings or {}),
            'w_dim': generator.w_dim, 'num_samples': len(self.w),
            'latents_sha256': hashlib.sha256(self.w.tobytes()).hexdigest(),
            'jacobian_size': self.size, 'sum_channels': self.sum_channels, 'layers': self.layers,
            'region': self.region_name,
            'mask_sha256': None if self.mask is None else hashlib.sha256(np.packbits(self.mask)).hexdigest(),
        }
        self.done = self._read_progress()
        self._out = None
        self._accumulator = None

    # ------------------------------------------------------------------------
    # Progress.

    @property
    def sidecar_path(self):
        return os.path.splitext(self.path)[0] + '.json'

    def _read_progress(self):
        """Samples finished by an earlier run with the same settings (empty when none or different)."""
        settings = json.loads(json.dumps(self.settings))
        if os.path.isfile(self.path):
            state = _read_json(self.sidecar_path)
            self.complete = state.get('settings') == settings
            return list(range(len(self.w))) if self.complete else []
        self.complete = False
        if not os.path.isfile(self.partial_path):
            return []
        state = _read_json(self.progress_path)
        if state.get('settings') != settings:
            return []
        done = state.get('done', [])
        return sorted(int(i) for i in done) if isinstance(done, list) else []

    @property
    def replaces(self):
        """Whether a finished result with other settings is in the folder (the run replaces it)."""
        return os.path.isfile(self.path) and not self.complete

    def pending(self, indices=None):
        """Sample indices (of `indices`, default all) that are not done yet."""
        done = set(self.done)
        candidates = range(len(self.w)) if indices is None else indices
        return [int(i) for i in candidates if int(i) not in done]

    def _mark(self, index):
        self.done.append(int(index))
        save_json(self.progress_path, {'settings': self.settings, 'done': self.done})

    # ------------------------------------------------------------------------
    # Running.

    def _open(self):
        """The partial output: a memory-mapped array, or a Gram accumulator."""
        os.makedirs(self.folder, exist_ok=True)
        if self.mask is None:
            if self._out is None:
                resume = bool(self.done)
                if resume:
                    self._out = np.lib.format.open_memmap(self.partial_path, mode='r+')
                    if tuple(self._out.shape) != self.shape:
                        resume = False
                if not resume:
                    self.done = []
                    self._out = np.lib.format.open_memmap(self.partial_path, mode='w+', dtype=np.float32,
                                                          shape=self.shape)
        elif self._accumulator is None:
            self._accumulator = GramAccumulator.load(self.partial_path) if self.done else \
                GramAccumulator(self.mask, self.generator.w_dim)

    def run(self, indices=None, on_sample=None, on_chunk=None):
        """Compute the samples of `indices` (default: all) that are not done yet.

        Args:
            indices: Sample indices this caller runs (a share of the job).
            on_sample: Called with the sample index after each sample is saved.
            on_chunk: Called with the number of tangents after each chunk (progress inside a sample).

        Returns:
            The number of samples computed.
        """
        todo = self.pending(indices)
        if not todo:
            return 0
        self._open()
        todo = self.pending(indices)  # `_open` may have dropped a partial file that no longer fits
        samples = jac.iter_jacobians(self.generator, self.w[todo], self.layers, self.size, self.sum_channels,
                                     self.chunk_size, synthesis_kwargs=self.synthesis_kwargs, method=self.method,
                                     on_chunk=on_chunk)
        for index, jacobian in zip(todo, samples):
            rows = jac.to_reference_layout(jacobian).cpu().numpy()
            if self.mask is None:
                self._out[index] = rows
                self._out.flush()
            else:
                self._accumulator.update(rows[None])
                self._accumulator.save(self.partial_path)
            self._mark(index)
            if on_sample is not None:
                on_sample(index)
        return len(todo)

    def finish(self, **facts):
        """Put the result in place once every sample is done, with its sidecar; returns its path.

        Args:
            **facts: Written into the sidecar `<name>.json` beside the settings.

        Raises:
            ValueError: samples are still missing.
        """
        if self.complete:
            return self.path
        missing = self.pending()
        if missing:
            raise ValueError(f'{self.path}: {len(missing)} of {len(self.w)} samples are not done yet '
                             f'(first: {missing[0]})')
        if self.mask is None:
            if self._out is not None:
                self._out.flush()
                self._out = None
            os.replace(self.partial_path, self.path)
        else:
            with atomic_path(self.path) as tmp:
                os.replace(self.partial_path, tmp)
        save_json(self.sidecar_path, {**facts, 'shape': list(self.shape) if self.mask is None else None,
                                      'settings': self.settings})
        os.remove(self.progress_path)
        self.complete = True
        return self.path


def _read_json(path):
    """A JSON object from `path`, or {} when it is absent or unreadable."""
    try:
        with open(path, encoding='utf-8') as file:
            data = json.load(file)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
