"""Long jobs as library objects: Jacobians of many samples streamed to disk, resumable and shardable.

`JacobianJob` writes each sample's Jacobian (`semantics.jacobian`) into one memory-mapped `jacobians_w.npy` in the
reference layout, or adds its region's Gram matrices to `grams_<region>.npz` (`resefa.GramSums`). Each finished sample
is on disk at once, so a stopped run is resumed, with any number of processes:

    job.prepare()           # one process, before any sample runs
    job.run(indices)        # any number of processes, each on its share (`share(rank, world)`)
    job.finish(**facts)     # one process, once every sample is done

A sample's Jacobian rows are its own; Gram matrices are summed in float64 in fixed blocks of `GRAM_BLOCK` samples, each
in sample order by the process that owns it, and the blocks are added in order at the end: one process or eight give the
same bits. Until `finish()` the data lives under hidden names beside the result (`.<name>.partial*`, `.<name>.done/`,
`.<name>.progress.json`, the lock `.<name>.lock`); the sidecar `<name>.json` records the settings.
"""

import hashlib
import json
import os
import shutil
import zipfile

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None

import numpy as np

from utils.fileio import load_json, save_json

from . import jacobian as jac
from .resefa import GramSums


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
        self.folder = os.fspath(folder)
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
        self.partial_path = os.path.join(self.folder, f'.{self.name}.partial' + ('' if self.grams else '.npy'))
        self.done_dir = os.path.join(self.folder, f'.{self.name}.done')
        self.shape = jac.jacobian_shape(generator, len(self.w), self.size, self.sum_channels)
        self.discarded = False  # prepare() found the partial files of an interrupted run damaged
        self._lock = None
        self.settings = json.loads(json.dumps({
            **(settings or {}),
            'w_dim': generator.w_dim, 'num_samples': len(self.w),
            'latents_sha256': hashlib.sha256(self.w.tobytes()).hexdigest(),
            'jacobian_size': self.size, 'sum_channels': self.sum_channels, 'layers': self.layers,
            'region': self.region_name, 'gram_block': GRAM_BLOCK if self.grams else None,
            'mask_sha256': None if self.mask is None else hashlib.sha256(np.packbits(self.mask)).hexdigest(),
            **({} if precision == 'fp32' else {'precision': precision}),
        }))

    def _file(self, suffix):
        return os.path.join(self.folder, (f'.{self.name}' if suffix != '.json' else self.name) + suffix)

    def _recorded(self, suffix):
        """The settings a sidecar ('.json') or progress file ('.progress.json') records, or None."""
        try:
            return load_json(self._file(suffix)).get('settings')
        except (OSError, ValueError, AttributeError):
            return None

    # ------------------------------------------------------------------------
    # State on disk.

    @property
    def complete(self):
        """Whether the result of these settings is in place (running again computes nothing)."""
        return os.path.isfile(self.path) and self._recorded('.json') == self.settings

    @property
    def replaces(self):
        """Whether a finished result of other settings is in the folder (this run replaces it)."""
        return os.path.isfile(self.path) and not self.complete

    @property
    def num_blocks(self):
        return -(-len(self.w) // GRAM_BLOCK)

    def _block_path(self, block):
        return os.path.join(self.partial_path, f'block_{block:05d}.npz')

    def _block(self, block):
        """The partial sums of a block (its first samples, in order), or None."""
        path = self._block_path(block)
        return GramSums.load(path) if os.path.isfile(path) else None

    def done(self):
        """Indices of the finished samples, whichever process finished them (sorted)."""
        if self.complete:
            return list(range(len(self.w)))
        if self._recorded('.progress.json') != self.settings:
            return []
        if not self.grams:
            names = os.listdir(self.done_dir) if os.path.isdir(self.done_dir) else []
            return sorted(int(name) for name in names if name.isdigit())
        found = []
        for block in range(self.num_blocks):
            sums = self._block(block)
            found += range(block * GRAM_BLOCK, block * GRAM_BLOCK + (sums.num_samples if sums else 0))
        return found

    def pending(self, indices=None):
        """Sample indices (of `indices`, default all) that are not done yet, in order."""
        done = set(self.done())
        return sorted(int(i) for i in (range(len(self.w)) if indices is None else indices) if int(i) not in done)

    def share(self, rank, world):
        """The samples process `rank` of `world` runs: by sample index (Jacobians) or by block (Gram matrices)."""
        if not self.grams:
            return list(range(rank, len(self.w), world))
        return [i for block in range(rank, self.num_blocks, world)
                for i in range(block * GRAM_BLOCK, min((block + 1) * GRAM_BLOCK, len(self.w)))]

    # ------------------------------------------------------------------------
    # The three steps.

    def claim(self):
        """Hold the job's files for this process until `release` (or its end); returns a message when another
        process holds them (the same job run twice at once would write into each other's partial files)."""
        if fcntl is None:
            return None
        os.makedirs(self.folder, exist_ok=True)
        handle = open(self._file('.lock'), 'a')  # noqa: SIM115 - held until release()
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
        """Make the partial files (one process, before any `run`), keeping those of an interrupted run of the same
        settings unless they are damaged; returns the number of samples already done."""
        if self.complete:
            return len(self.w)
        resumable, done = self._recorded('.progress.json') == self.settings, 0
        if resumable:
            try:  # partial files cut short (a full disk, a bad copy) are not read as samples
                done = len(self.done())
                if not self.grams and os.path.isfile(self.partial_path):
                    partial = np.load(self.partial_path, mmap_mode='r')
                    resumable = partial.shape == tuple(self.shape) and partial.dtype == np.float32
            except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
                resumable = False
            self.discarded = not resumable
        if not resumable:
            done = 0
            self._clear()
        os.makedirs(self.partial_path if self.grams else self.done_dir, exist_ok=True)
        if not self.grams and not os.path.isfile(self.partial_path):
            np.lib.format.open_memmap(self.partial_path, mode='w+', dtype=np.float32, shape=self.shape).flush()
        save_json(self._file('.progress.json'), {'settings': self.settings})
        return done

    def run(self, indices=None, on_sample=None, on_chunk=None):
        """Compute the samples of `indices` (default all; whole blocks for Gram matrices, see `share`) that are not
        done yet, after `prepare`; `on_sample(index)` after each sample is saved, `on_chunk(tangents)` after each
        chunk. Returns the number of samples computed."""
        todo = self.pending(indices)
        if not todo:
            return 0
        out = None if self.grams else np.lib.format.open_memmap(self.partial_path, mode='r+')
        blocks = {}
        samples = jac.iter_jacobians(self.generator, self.w[todo], self.layers, self.size, self.sum_channels,
                                     self.chunk_size, synthesis_kwargs=self.synthesis_kwargs, method=self.method,
                                     on_chunk=on_chunk, precision=self.precision)
        for index, jacobian in zip(todo, samples):
            rows = jac.to_reference_layout(jacobian).cpu().numpy()
            if self.grams:
                block = index // GRAM_BLOCK
                if block not in blocks:
                    blocks[block] = self._block(block) or GramSums(self.mask, self.generator.w_dim)
                assert index == block * GRAM_BLOCK + blocks[block].num_samples, 'Gram blocks are summed in order'
                blocks[block].add(rows).save(self._block_path(block))
            else:
                out[index] = rows
                out.flush()
                open(os.path.join(self.done_dir, str(index)), 'w').close()  # noqa: SIM115 - an empty marker
            if on_sample is not None:
                on_sample(index)
        return len(todo)

    def finish(self, **facts):
        """Put the result in place, with its sidecar holding `facts` and the settings (one process, once every
        sample is done); returns its path."""
        if self.complete:
            return self.path
        assert not self.pending(), f'{len(self.pending())} samples are not done yet'
        if self.grams:
            total = GramSums(self.mask, self.generator.w_dim)
            for block in map(self._block, range(self.num_blocks)):  # in block order, whoever summed each
                total.num_samples += block.num_samples
                total.sum_f += block.sum_f
                total.sum_b += block.sum_b
            total.save(self.path)
        else:
            os.replace(self.partial_path, self.path)
        save_json(self._file('.json'), {**facts, 'shape': None if self.grams else list(self.shape),
                                        'settings': self.settings})
        self._clear()
        return self.path

    def _clear(self):
        """Remove the partial files (of an interrupted run with other settings, or of a finished one)."""
        for path in (self.partial_path, self.done_dir, self._file('.progress.json')):
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.isfile(path):
                os.remove(path)
