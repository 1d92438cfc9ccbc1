"""ReSeFa: region-based semantic directions from image-w.r.t.-latent Jacobians.

For one sample with Jacobian `J` (image pixels x `w_dim`) and a region mask,
the rows of `J` inside the region form `J_f` and the rows outside form `J_b`
(with a per-channel Jacobian every channel of a pixel is one row). The
reference (`compute_direction.py` of ReSeFa) builds

    M_f = J_f^T J_f / n_f,    M_b = J_b^T J_b / n_b

with `n_f`, `n_b` the numbers of rows, optionally regularises the background
as `M_b + tao * trace(M_b) * I` (`--full_rank`), and takes the eigenvectors of
`inv(M_b) M_f`, sorted by decreasing eigenvalue, as directions. Both matrices
are symmetric and `M_b` is positive definite, so this is the generalised
symmetric eigenproblem `M_f v = lambda M_b v`, which is solved here with
`scipy.linalg.eigh` in float64. The eigenvectors are the reference's up to the
sign of each one; here every row is scaled to unit norm and its largest-magnitude
entry is made positive, so results are deterministic.

The Gram matrices of one sample are built in the Jacobian's dtype with the
reference's arithmetic (`(1 / n) * J.T.dot(J)`), since the trailing
eigenvectors are sensitive to the rounding of the Gram matrix. Pooling over
samples sums the per-sample matrices (the eigenvectors and eigenvalues are the
same as for their mean). `GramAccumulator` builds the same sums in float64
from Jacobians given a block of samples or a block of image rows at a time.
"""

import os

import numpy as np
import scipy.linalg

from semantics.regions import check_mask
from utils.fileio import load_npy, load_npz, save_npz

DEFAULT_TAO = 1e-3  # reference default of --tao


def _sample_view(jacobian):
    """View of one sample's Jacobian as [C, H, W, w_dim] (C = 1 for channel-summed)."""
    if jacobian.ndim == 4 and jacobian.shape[2] == 1:  # [H, W, 1, w_dim]
        return jacobian[None, :, :, 0, :]
    if jacobian.ndim == 5 and jacobian.shape[3] == 1:  # [C, H, W, 1, w_dim]
        return jacobian[:, :, :, 0, :]
    raise ValueError(f'Jacobian of one sample must be [H, W, 1, w_dim] or [C, H, W, 1, w_dim], '
                     f'got shape {list(jacobian.shape)}')


def _batch_view(jacobians):
    """View of a batch of Jacobians as [N, C, H, W, w_dim] (C = 1 for channel-summed)."""
    if jacobians.ndim == 5 and jacobians.shape[3] == 1:  # [N, H, W, 1, w_dim]
        return jacobians[:, None, :, :, 0, :]
    if jacobians.ndim == 6 and jacobians.shape[4] == 1:  # [N, C, H, W, 1, w_dim]
        return jacobians[:, :, :, :, 0, :]
    raise ValueError(f'Jacobians must be [N, H, W, 1, w_dim] or [N, C, H, W, 1, w_dim], '
                     f'got shape {list(jacobians.shape)}')


def _check_region(mask, height, width):
    mask = np.asarray(mask)
    if mask.shape != (height, width):
        raise ValueError(f'region mask has shape {list(mask.shape)}, but the Jacobian is '
                         f'{height}x{width} pixels')
    return check_mask(mask.astype(bool, copy=False))


def load_jacobians(path, mmap_mode='r'):
    """Read `jacobians_w.npy` in the ReSeFa layout, memory-mapped by default.

    Args:
        path: `.npy` file holding [N, H, W, 1, w_dim] (channel-summed) or
            [N, C, H, W, 1, w_dim] (per channel) floats, square images.
        mmap_mode: passed to `np.load`; `None` reads the whole array.

    Returns:
        The array, in the file's layout.
    """
    path = os.fspath(path)
    if not path.endswith('.npy'):
        raise ValueError(f'Jacobians {path}: expected a .npy file')
    try:
        jacobians = load_npy(path, mmap_mode)
    except (OSError, ValueError) as error:
        raise ValueError(f'Jacobians {path}: {error}') from None
    if jacobians.dtype.kind != 'f':
        raise ValueError(f'Jacobians {path}: expected floats, got dtype {jacobians.dtype}')
    try:
        view = _batch_view(jacobians)
    except ValueError as error:
        raise ValueError(f'Jacobians {path}: {error}') from None
    if view.shape[2] != view.shape[3]:
        raise ValueError(f'Jacobians {path}: images must be square, got {view.shape[2]}x{view.shape[3]} '
                         f'in shape {list(jacobians.shape)}')
    if min(view.shape) == 0:
        raise ValueError(f'Jacobians {path}: empty array of shape {list(jacobians.shape)}')
    return jacobians


def split_rows(jacobian, mask):
    """Rows of one sample's Jacobian inside and outside the region, in the reference order.

    Args:
        jacobian: [H, W, 1, w_dim] or [C, H, W, 1, w_dim].
        mask: bool [H, W], True inside the region.

    Returns:
        `(J_f [n_f, w_dim], J_b [n_b, w_dim])`, channel-major, pixels in row-major order.
    """
    view = _sample_view(np.asarray(jacobian))  # [C, H, W, w_dim]
    mask = _check_region(mask, view.shape[1], view.shape[2])
    w_dim = view.shape[-1]
    jac_f = view[:, mask].reshape(-1, w_dim)  # [C * n_pixels_f, w_dim]
    jac_b = view[:, ~mask].reshape(-1, w_dim)  # [C * n_pixels_b, w_dim]
    return jac_f, jac_b


def gram_matrices(jacobian, mask):
    """Foreground and background Gram matrices of one sample, as the reference builds them.

    Args:
        jacobian: [H, W, 1, w_dim] (channel-summed) or [C, H, W, 1, w_dim].
        mask: bool [H, W], True inside the region.

    Returns:
        `(M_f, M_b, n_f, n_b)`: `M_f = J_f^T J_f / n_f` and `M_b = J_b^T J_b / n_b`
        [w_dim, w_dim] in the Jacobian's dtype, and the row counts (pixels times
        channels).
    """
    jac_f, jac_b = split_rows(jacobian, mask)
    n_f, n_b = jac_f.shape[0], jac_b.shape[0]
    gram_f = (1 / n_f) * jac_f.T.dot(jac_f)  # [w_dim, w_dim]
    gram_b = (1 / n_b) * jac_b.T.dot(jac_b)  # [w_dim, w_dim]
    return gram_f, gram_b, n_f, n_b


def _as_square(matrix, name):
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f'{name} must be a square [w_dim, w_dim] matrix, got shape {list(matrix.shape)}')
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f'{name} holds NaN or infinite values')
    return matrix


def solve_directions(gram_f, gram_b, full_rank=False, tao=DEFAULT_TAO, rcond=None):
    """Directions that change the region most relative to the background.

    Solves `M_f v = lambda B v` with `B = M_b`, or `B = M_b + tao * trace(M_b) * I`
    when `full_rank`, in float64.

    Args:
        gram_f: foreground matrix M_f [w_dim, w_dim].
        gram_b: background matrix M_b [w_dim, w_dim].
        full_rank: regularise the background as the reference's `--full_rank`.
        tao: coefficient of the regularisation (reference `--tao`).
        rcond: without `full_rank`, M_b counts as singular when its smallest
            eigenvalue is at most `rcond` times its largest; default: the
            machine epsilon of M_b's dtype (beyond that condition number the
            reference's inverse of M_b is rounding noise).

    Returns:
        `(directions [w_dim, w_dim], eigenvalues [w_dim])`, float64, one unit-norm
        direction per row, sorted by decreasing eigenvalue.

    Raises:
        ValueError: mismatched or non-finite matrices, a bad `tao`, or a singular
            M_b without `full_rank`.
    """
    gram_f = _as_square(gram_f, 'M_f')
    gram_b = _as_square(gram_b, 'M_b')
    if gram_f.shape != gram_b.shape:
        raise ValueError(f'M_f {list(gram_f.shape)} and M_b {list(gram_b.shape)} differ in shape')
    w_dim = gram_f.shape[0]
    eps = np.finfo(gram_b.dtype if gram_b.dtype.kind == 'f' else np.float64).eps
    lhs = gram_f.astype(np.float64)
    rhs = gram_b.astype(np.float64)
    if full_rank:
        if not (np.isfinite(tao) and tao > 0):
            raise ValueError(f'tao must be a positive number for full_rank, got {tao}')
        rhs = rhs + (tao * np.trace(rhs)) * np.identity(w_dim)
    else:
        spectrum = scipy.linalg.eigvalsh(rhs)
        rcond = eps if rcond is None else rcond
        if spectrum[0] <= rcond * max(spectrum[-1], 0):
            rank = int(np.count_nonzero(spectrum > rcond * max(spectrum[-1], 0)))
            raise ValueError(f'background matrix M_b is singular (numerical rank {rank} of {w_dim}); '
                             f'pass --full_rank to regularise it')
    try:
        eigenvalues, vectors = scipy.linalg.eigh(lhs, rhs)  # columns are eigenvectors
    except np.linalg.LinAlgError:
        raise ValueError('background matrix M_b is not positive definite; '
                         'pass --full_rank (or a larger --tao) to regularise it') from None
    order = np.argsort(-eigenvalues, kind='stable')
    directions = vectors[:, order].T  # [w_dim, w_dim]
    directions = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    peak = directions[np.arange(w_dim), np.argmax(np.abs(directions), axis=1)]
    directions = directions * np.where(peak < 0, -1.0, 1.0)[:, None]
    return directions, eigenvalues[order]


def directions_for_sample(jacobian, mask, full_rank=False, tao=DEFAULT_TAO):
    """Per-sample directions of `compute_direction.py`, up to the sign of each row.

    Args:
        jacobian: [H, W, 1, w_dim] or [C, H, W, 1, w_dim] of one sample.
        mask: bool [H, W], True inside the region.

    Returns:
        `(directions [w_dim, w_dim], eigenvalues [w_dim])`, float64, sorted by
        decreasing eigenvalue (the layout of the reference's per-sample `.npy`).
    """
    gram_f, gram_b, _, _ = gram_matrices(jacobian, mask)
    return solve_directions(gram_f, gram_b, full_rank=full_rank, tao=tao)


def per_sample_directions(jacobians, mask, full_rank=False, tao=DEFAULT_TAO):
    """`directions_for_sample` for every sample of a batch [N, ...] (reference layout).

    Returns:
        `(directions [N, w_dim, w_dim], eigenvalues [N, w_dim])`, float64.
    """
    _batch_view(jacobians)
    results = [directions_for_sample(jacobians[i], mask, full_rank, tao) for i in range(len(jacobians))]
    return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])


def accumulate(grams):
    """Sum per-sample matrices: `grams` yields `(M_f, M_b, ...)`; returns float64 sums."""
    sum_f = sum_b = None
    for item in grams:
        gram_f = _as_square(item[0], 'M_f').astype(np.float64)
        gram_b = _as_square(item[1], 'M_b').astype(np.float64)
        if sum_f is None:
            sum_f, sum_b = gram_f.copy(), gram_b.copy()
        elif gram_f.shape != sum_f.shape or gram_b.shape != sum_b.shape:
            raise ValueError(f'cannot pool matrices of shape {list(gram_f.shape)} with {list(sum_f.shape)}')
        else:
            sum_f += gram_f
            sum_b += gram_b
    if sum_f is None:
        raise ValueError('no Gram matrices to pool')
    return sum_f, sum_b


def pooled_directions(grams, full_rank=False, tao=DEFAULT_TAO):
    """Directions of the summed per-sample matrices (see `accumulate`, `solve_directions`)."""
    sum_f, sum_b = accumulate(grams)
    return solve_directions(sum_f, sum_b, full_rank=full_rank, tao=tao)


class GramAccumulator:
    """Running sums of per-sample Gram matrices for one region, in float64.

    Feed Jacobians a block at a time: a few whole samples, or a band of image
    rows of a few samples (`row_start` says where the band begins). After every
    row of every sample has been seen once, `matrices()` equals the sum over
    samples of `gram_matrices` (computed in float64).
    """

    block_rows = 8192  # Jacobian rows converted to float64 at a time

    def __init__(self,
        mask,   # bool [H, W], True inside the region.
        w_dim,  # Latent dimensionality.
    ):
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
            raise ValueError(f'region mask must be square [H, W], got shape {list(mask.shape)}')
        self.mask = check_mask(mask.astype(bool))
        self.w_dim = int(w_dim)
        if self.w_dim < 1:
            raise ValueError(f'w_dim must be positive, got {w_dim}')
        self.channels = None  # rows per pixel: 1 for channel-summed Jacobians, else C
        self.rows_seen = 0    # image rows accumulated, summed over samples
        self.sum_f = np.zeros([self.w_dim, self.w_dim], dtype=np.float64)  # sum of J_f^T J_f
        self.sum_b = np.zeros([self.w_dim, self.w_dim], dtype=np.float64)  # sum of J_b^T J_b

    @property
    def resolution(self):
        return self.mask.shape[0]

    @property
    def num_samples(self):
        """Number of samples accumulated (fractional while a sample is incomplete)."""
        return self.rows_seen / self.resolution

    def _add_gram(self, target, rows):
        for start in range(0, rows.shape[0], self.block_rows):
            block = rows[start:start + self.block_rows].astype(np.float64)
            target += block.T @ block

    def update(self, jacobians, row_start=0):
        """Add a block of Jacobians.

        Args:
            jacobians: [N, h, W, 1, w_dim] or [N, C, h, W, 1, w_dim]: image rows
                `row_start .. row_start + h - 1` of N samples.
            row_start: first image row of the block.
        """
        view = _batch_view(np.asarray(jacobians))  # [N, C, h, W, w_dim]
        num, channels, height, width, w_dim = view.shape
        if w_dim != self.w_dim or width != self.resolution:
            raise ValueError(f'Jacobian block of shape {list(np.shape(jacobians))} does not fit a '
                             f'{self.resolution}x{self.resolution} image with w_dim={self.w_dim}')
        if row_start < 0 or row_start + height > self.resolution:
            raise ValueError(f'rows {row_start}..{row_start + height - 1} fall outside the '
                             f'{self.resolution}-row image')
        if self.channels is None:
            self.channels = channels
        elif channels != self.channels:
            raise ValueError(f'Jacobian block has {channels} channel(s), earlier blocks had {self.channels}')
        band = self.mask[row_start:row_start + height]  # [h, W]
        for i in range(num):
            self._add_gram(self.sum_f, view[i][:, band].reshape(-1, w_dim))
            self._add_gram(self.sum_b, view[i][:, ~band].reshape(-1, w_dim))
        self.rows_seen += num * height
        return self

    def add(self, other):
        """Add the sums of another accumulator of the same region (samples seen by another job or process)."""
        if other.w_dim != self.w_dim or not np.array_equal(other.mask, self.mask):
            raise ValueError('cannot add Gram sums of another region or width')
        if other.channels is not None and self.channels not in (None, other.channels):
            raise ValueError(f'cannot add Gram sums of {other.channels} channel(s) to sums of {self.channels}')
        self.channels = self.channels or other.channels
        self.sum_f += other.sum_f
        self.sum_b += other.sum_b
        self.rows_seen += other.rows_seen
        return self

    def row_counts(self):
        """Rows per sample inside and outside the region: `(n_f, n_b)`."""
        channels = self.channels or 1
        inside = int(np.count_nonzero(self.mask))
        return channels * inside, channels * (self.mask.size - inside)

    def matrices(self):
        """`(sum_i M_f_i, sum_i M_b_i)`, float64 [w_dim, w_dim]."""
        if self.rows_seen == 0:
            raise ValueError('no Jacobians accumulated yet')
        if self.rows_seen % self.resolution:
            raise ValueError(f'{self.rows_seen} image rows accumulated, not a whole number of '
                             f'{self.resolution}-row samples')
        n_f, n_b = self.row_counts()
        return self.sum_f / n_f, self.sum_b / n_b

    def solve(self, full_rank=False, tao=DEFAULT_TAO):
        """Pooled directions and eigenvalues (see `solve_directions`)."""
        return solve_directions(*self.matrices(), full_rank=full_rank, tao=tao)

    def state_dict(self):
        """Arrays that restore this accumulator with `from_state`."""
        return dict(mask=self.mask, w_dim=np.int64(self.w_dim),
                    channels=np.int64(self.channels or 0), rows_seen=np.int64(self.rows_seen),
                    sum_f=self.sum_f, sum_b=self.sum_b)

    @classmethod
    def from_state(cls, state):
        """Rebuild from `state_dict()` output (a dict or a loaded `.npz`)."""
        missing = [k for k in ('mask', 'w_dim', 'channels', 'rows_seen', 'sum_f', 'sum_b') if k not in state]
        if missing:
            raise ValueError(f'accumulator state lacks {", ".join(missing)}')
        acc = cls(np.asarray(state['mask']), int(state['w_dim']))
        for key in ('sum_f', 'sum_b'):
            value = np.asarray(state[key], dtype=np.float64)
            if value.shape != (acc.w_dim, acc.w_dim):
                raise ValueError(f'accumulator state {key} has shape {list(value.shape)}, '
                                 f'expected {[acc.w_dim, acc.w_dim]}')
            if not np.isfinite(value).all():
                raise ValueError(f'accumulator state {key} holds NaN or infinite values')
            if not np.allclose(value, value.T, rtol=1e-5, atol=1e-8 * max(1.0, float(np.abs(value).max()))):
                raise ValueError(f'accumulator state {key} is not symmetric, so it is not a sum of Gram matrices')
            setattr(acc, key, value.copy())
        acc.channels = int(state['channels']) or None
        acc.rows_seen = int(state['rows_seen'])
        return acc

    def save(self, path):
        """Write the state to an `.npz` file (atomically)."""
        save_npz(path, **self.state_dict())

    @classmethod
    def load(cls, path):
        with load_npz(path) as state:
            return cls.from_state(state)
