"""Long jobs as library objects: Jacobians of many samples streamed to disk, resumable and shardable.

`JacobianJob` computes the Jacobian of each sample (see `semantics.jacobian`)
and either writes it into one memory-mapped `jacobians_w.npy` in the reference
layout, or, with a region, adds it to that region's Gram matrices (a few MB per
block of samples whatever the image size). Every finished sample is recorded on
disk as soon as it is saved, so a run that stops (Ctrl-C, a crash, a lost
machine) is resumed by the same job, with any number of processes: finished
samples are never computed again. Until the last sample is done the data lives
under hidden partial names; `finish()` puts the result in place, so a final
file is always complete.

The job is driven by callers that decide which samples each runs and how to
show progress: `compute_jacobian.py` in one process, or in several under
`torchrun` (`share(rank, world)`), the editor with its own bar. The steps:

    job.prepare()           # one process, before any sample runs
    job.run(indices)        # any number of processes, each on its share
    job.finish(**facts)     # one process, once every sample is done

Results do not depend on how the samples are shared. A sample's Jacobian rows
are its own. Gram matrices are summed in float64 in fixed blocks of
`GRAM_BLOCK` consecutive samples, each block in sample order by whichever
process owns it, and the block sums are added in block order at the end: one
process or eight give the same bits.

Files in the job's folder (`<name>` is `jacobians_w` or `grams_<region>`):

| file | while running | when finished |
| --- | --- | --- |
| `<name>.npy` / `<name>.npz` | absent | the result |
| `<name>.json` | absent | its settings, plus what the caller adds |
| `.<name>.progress.json` | the settings of the partial data | removed |
| `.<name>.partial.npy` | Jacobians: every sample's rows, memory-mapped | renamed to the result |
| `.<name>.done/<index>` | Jacobians: one empty file per finished sample | removed |
| `.<name>.partial/block_<b>.npz` | Gram matrices: the running sum of each block | added up into the result |
| `.<name>.lock` | locked by the process that runs the job (`claim`) | kept, unlocked |

Running a finished job again with the same settings computes nothing.
"""

import hashlib
import json
import os
import shutil
import zipfile

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import numpy as np

from utils.fileio import load_json, save_json

from . import jacobian as jac
from .resefa import GramAccumulator

__all__ = ['GRAM_BLOCK', 'JacobianJob']

GRAM_BLOCK = 16  # samples per partial Gram sum: fixed, so that the total does not depend on the sharing


class JacobianJob:
    """Jacobians (or a region's Gram matrices) of N samples, streamed to a folder, resumable and shardable."""

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
        precision='fp32',       # 'fp32', 'tf32' or 'bf16' (see `jacobian.precision_mode`).
    ):
        self.generator = generator
        self.w = np.ascontiguousarray(w, dtype=np.float32)
        if self.w.ndim != 2 or self.w.shape[1] != generator.w_dim:
            raise ValueError(f'w must have shape [N, {generator.w_dim}], got {list(self.w.shape)}')
        self.folder = os.fspath(folder)
        self.discarded = False  # prepare() found the partial files of an interrupted run damaged
        self.layers = None if layers is None else sorted(int(i) for i in layers)
        self.size, self.sum_channels = jac.reference_output_shape(generator, size, sum_channels)
        self.region_name, self.mask = region if region is not None else (None, None)
        self.chunk_size = chunk_size or jac.auto_chunk_size(generator)
        self.synthesis_kwargs = (generator.synthesis_kwargs(for_tangents=True) if synthesis_kwargs is None
                                 else dict(synthesis_kwargs))
        self.method = jac.pick_method(generator, self.synthesis_kwargs, method)
        self.precision = precision
        self.grams = self.mask is not None
        self.name = f'grams_{self.region_name}' if self.grams else 'jacobians_w'
        self.path = os.path.join(self.folder, self.name + ('.npz' if self.grams else '.npy'))
        self.sidecar_path = os.path.join(self.folder, self.name + '.json')
        self.progress_path = os.path.join(self.folder, f'.{self.name}.progress.json')
        self.partial_path = os.path.join(self.folder, f'.{self.name}.partial' + ('' if self.grams else '.npy'))
        self.done_dir = os.path.join(self.folder, f'.{self.name}.done')
        self.lock_path = os.path.join(self.folder, f'.{self.name}.lock')
        self._lock = None
        self.shape = jac.jacobian_shape(generator, len(self.w), self.size, self.sum_channels)
        self.settings = json.loads(json.dumps({
            **(settings or {}),
            'w_dim': generator.w_dim, 'num_samples': len(self.w),
            'latents_sha256': hashlib.sha256(self.w.tobytes()).hexdigest(),
            'jacobian_size': self.size, 'sum_channels': self.sum_channels, 'layers': self.layers,
            'region': self.region_name, 'gram_block': GRAM_BLOCK if self.grams else None,
            'mask_sha256': None if self.mask is None else hashlib.sha256(np.packbits(self.mask)).hexdigest(),
            **({} if precision == 'fp32' else {'precision': precision}),
        }))

    # ------------------------------------------------------------------------
    # State on disk.

    @property
    def complete(self):
        """Whether the result of these settings is in place (running again computes nothing)."""
        return os.path.isfile(self.path) and _read_json(self.sidecar_path).get('settings') == self.settings

    @property
    def replaces(self):
        """Whether a finished result of other settings is in the folder (this run replaces it)."""
        return os.path.isfile(self.path) and not self.complete

    def _partial_matches(self):
        return _read_json(self.progress_path).get('settings') == self.settings

    def _partial_intact(self):
        """Whether the partial files can be read as they were written (not cut short or damaged)."""
        try:
            if not self.grams:
                if not os.path.isfile(self.partial_path):
                    return True
                data = np.load(self.partial_path, mmap_mode='r', allow_pickle=False)
                return data.shape == tuple(self.shape) and data.dtype == np.float32
            for block in range(self.num_blocks):
                self._block_count(block)
            return True
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            return False

    def done(self):
        """Indices of the finished samples, whichever process finished them (sorted)."""
        if self.complete:
            return list(range(len(self.w)))
        if not self._partial_matches():
            return []
        if not self.grams:
            names = os.listdir(self.done_dir) if os.path.isdir(self.done_dir) else []
            return sorted(int(name) for name in names if name.isdigit())
        found = []
        for block in range(self.num_blocks):
            count = self._block_count(block)
            found += list(range(block * GRAM_BLOCK, block * GRAM_BLOCK + count))
        return found

    def pending(self, indices=None):
        """Sample indices (of `indices`, default all) that are not done yet, in order."""
        done = set(self.done())
        candidates = range(len(self.w)) if indices is None else indices
        return sorted(int(i) for i in candidates if int(i) not in done)

    @property
    def num_blocks(self):
        return -(-len(self.w) // GRAM_BLOCK)

    def share(self, rank, world):
        """The samples process `rank` of `world` runs: by sample index (Jacobians) or by block (Gram matrices)."""
        if not 0 <= rank < world:
            raise ValueError(f'rank {rank} is not one of the {world} processes')
        if not self.grams:
            return list(range(rank, len(self.w), world))
        return [i for block in range(rank, self.num_blocks, world)
                for i in range(block * GRAM_BLOCK, min((block + 1) * GRAM_BLOCK, len(self.w)))]

    def _block_path(self, block):
        return os.path.join(self.partial_path, f'block_{block:05d}.npz')

    def _block_count(self, block):
        """Samples summed in a block's partial file (they are its first ones, in order)."""
        path = self._block_path(block)
        if not os.path.isfile(path):
            return 0
        with np.load(path, allow_pickle=False) as state:
            return int(state['rows_seen']) // self.size

    # ------------------------------------------------------------------------
    # The three steps.

    def claim(self):
        """Hold the job's files for this process until `release` (or its end).

        Returns:
            None, or a message when another process holds them (the same job run twice at once would write
            into each other's partial files).
        """
        if fcntl is None:  # no advisory locks on this system: nothing is checked
            return None
        os.makedirs(self.folder, exist_ok=True)
        handle = open(self.lock_path, 'a')  # pylint: disable=consider-using-with
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return (f'another run is computing {self.name} in {self.folder}: wait for it to finish (or stop it), '
                    'then run this again to use or resume its result')
        self._lock = handle
        return None

    def release(self):
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def prepare(self):
        """Make the partial files (one process, before any `run`); keep those of an interrupted run.

        Returns:
            The number of samples already done.
        """
        if self.complete:
            return len(self.w)
        self.discarded = self._partial_matches() and not self._partial_intact()
        if self.discarded or not self._partial_matches():
            self._clear()
        os.makedirs(self.folder, exist_ok=True)
        if self.grams:
            os.makedirs(self.partial_path, exist_ok=True)
        else:
            os.makedirs(self.done_dir, exist_ok=True)
            if not os.path.isfile(self.partial_path):
                np.lib.format.open_memmap(self.partial_path, mode='w+', dtype=np.float32, shape=self.shape).flush()
        save_json(self.progress_path, {'settings': self.settings})
        return len(self.done())

    def run(self, indices=None, on_sample=None, on_chunk=None):
        """Compute the samples of `indices` (default all) that are not done yet.

        With Gram matrices, `indices` must hold whole blocks (see `share`).

        Args:
            indices: Sample indices this caller runs (its share of the job).
            on_sample: Called with the sample index after each sample is saved.
            on_chunk: Called with the number of tangents after each chunk (progress inside a sample).

        Returns:
            The number of samples computed.
        """
        todo = self.pending(indices)
        if not todo:
            return 0
        if not self._partial_matches():
            raise ValueError(f'{self.folder}: the job is not prepared (prepare() runs first, in one process)')
        out = None if self.grams else np.lib.format.open_memmap(self.partial_path, mode='r+')
        accumulators = {}
        samples = jac.iter_jacobians(self.generator, self.w[todo], self.layers, self.size, self.sum_channels,
                                     self.chunk_size, synthesis_kwargs=self.synthesis_kwargs, method=self.method,
                                     on_chunk=on_chunk, precision=self.precision)
        for index, jacobian in zip(todo, samples):
            rows = jac.to_reference_layout(jacobian).cpu().numpy()
            if self.grams:
                block = index // GRAM_BLOCK
                if block not in accumulators:
                    path = self._block_path(block)
                    accumulators[block] = GramAccumulator.load(path) if os.path.isfile(path) else \
                        GramAccumulator(self.mask, self.generator.w_dim)
                if index != block * GRAM_BLOCK + int(accumulators[block].num_samples):
                    raise ValueError(f'sample {index} would be added out of order to Gram block {block}')
                accumulators[block].update(rows[None])
                accumulators[block].save(self._block_path(block))
            else:
                out[index] = rows
                out.flush()
                open(os.path.join(self.done_dir, str(index)), 'w').close()  # noqa: SIM115 - an empty marker
            if on_sample is not None:
                on_sample(index)
        return len(todo)

    def finish(self, **facts):
        """Put the result in place once every sample is done, with its sidecar (one process); returns its path.

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
        if self.grams:
            total = GramAccumulator(self.mask, self.generator.w_dim)
            for block in range(self.num_blocks):  # in block order, whatever process summed each block
                total.add(GramAccumulator.load(self._block_path(block)))
            total.save(self.path)
        else:
            os.replace(self.partial_path, self.path)
        save_json(self.sidecar_path, {**facts, 'shape': None if self.grams else list(self.shape),
                                      'settings': self.settings})
        self._clear()
        return self.path

    def _clear(self):
        """Remove the partial files (of an interrupted run with other settings, or of a finished one)."""
        for path in (self.partial_path, self.done_dir):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.isfile(path):
                os.remove(path)
        if os.path.isfile(self.progress_path):
            os.remove(self.progress_path)


def _read_json(path):
    """A JSON object from `path`, or {} when it is absent or unreadable."""
    try:
        data = load_json(path)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
