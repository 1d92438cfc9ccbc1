"""ReSeFa: region-based semantic directions from image-w.r.t.-latent Jacobians (Zhu et al., ICML 2022).

The rows of a sample's Jacobian `J` (pixels, or pixel channels, x `w_dim`) inside a region form `J_f`, those outside
`J_b`; with `M_f = J_f^T J_f / n_f` and `M_b = J_b^T J_b / n_b`, the directions that change the region most for the
least change elsewhere are the eigenvectors of

    M_f v = lambda B v,    B = M_b  (or M_b + tao * trace(M_b) * I, `full_rank`)

sorted by decreasing `lambda`. The reference takes the eigenvectors of `inv(B) M_f`; `scipy.linalg.eigh(M_f, B)` solves
the same problem in float64 with a symmetric solver: the reference's directions up to sign (here each unit row has its
largest-magnitude entry positive). Gram matrices are built with the reference's arithmetic (`(1 / n) * J.T.dot(J)`),
since the trailing eigenvectors are sensitive to its rounding; samples pool by summing them (`GramSums`, float64).
"""

import numpy as np
import scipy.linalg

from utils.fileio import load_npz, save_npz

DEFAULT_TAO = 1e-3  # reference default of --tao


def split_rows(jacobian, mask):
    """`(J_f, J_b)`: the rows of a Jacobian `[(C,) H, W, 1, w_dim]` inside and outside `mask` (reference order)."""
    view = np.asarray(jacobian)[..., 0, :]  # [H, W, w_dim] or [C, H, W, w_dim]
    view = view[None] if view.ndim == 3 else view
    w_dim = view.shape[-1]
    return view[:, mask].reshape(-1, w_dim), view[:, ~mask].reshape(-1, w_dim)


def gram_matrices(jacobian, mask):
    """`(M_f, M_b, n_f, n_b)` of one sample, as the reference builds them (in the Jacobian's dtype)."""
    jac_f, jac_b = split_rows(jacobian, mask)
    n_f, n_b = len(jac_f), len(jac_b)
    return (1 / n_f) * jac_f.T.dot(jac_f), (1 / n_b) * jac_b.T.dot(jac_b), n_f, n_b


def solve_directions(gram_f, gram_b, full_rank=False, tao=DEFAULT_TAO):
    """`(directions [w_dim, w_dim], eigenvalues [w_dim])` of `M_f v = lambda B v` in float64: unit rows by
    decreasing eigenvalue. ValueError when `B` is singular to the precision of `M_b`'s dtype."""
    lhs, rhs = np.asarray(gram_f, np.float64), np.asarray(gram_b, np.float64)
    w_dim = len(lhs)
    if full_rank:
        rhs = rhs + (tao * np.trace(rhs)) * np.identity(w_dim)
    spectrum = scipy.linalg.eigvalsh(rhs)
    floor = np.finfo(np.asarray(gram_b).dtype).eps * max(spectrum[-1], 0)
    if spectrum[0] <= floor:
        raise ValueError(f'background matrix M_b is singular (numerical rank {np.count_nonzero(spectrum > floor)} '
                         f'of {w_dim}); pass --full_rank (or a larger --tao) to regularise it')
    eigenvalues, vectors = scipy.linalg.eigh(lhs, rhs)  # columns are eigenvectors, eigenvalues ascending
    order = np.argsort(-eigenvalues, kind='stable')
    directions = vectors[:, order].T  # [w_dim, w_dim]
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    peak = directions[np.arange(w_dim), np.argmax(np.abs(directions), axis=1)]
    return directions * np.where(peak < 0, -1.0, 1.0)[:, None], eigenvalues[order]


def directions_for_sample(jacobian, mask, full_rank=False, tao=DEFAULT_TAO):
    """The per-sample directions and eigenvalues of the reference's `compute_direction.py` (up to sign)."""
    gram_f, gram_b, _, _ = gram_matrices(jacobian, mask)
    return solve_directions(gram_f, gram_b, full_rank=full_rank, tao=tao)


def pooled_directions(grams, full_rank=False, tao=DEFAULT_TAO):
    """Directions of the sums of per-sample matrices; `grams` yields `(M_f, M_b, ...)` tuples."""
    sum_f = sum_b = 0
    for gram_f, gram_b, *_ in grams:
        sum_f, sum_b = sum_f + np.asarray(gram_f, np.float64), sum_b + np.asarray(gram_b, np.float64)
    return solve_directions(sum_f, sum_b, full_rank=full_rank, tao=tao)


class GramSums:
    """The sums over samples of `M_f` and `M_b` for one region, in float64 (the Jacobians are not kept)."""

    rows_at_once = 8192  # Jacobian rows converted to float64 at a time

    def __init__(self, mask, w_dim):
        self.mask = np.asarray(mask, dtype=bool)                # [H, W], True inside the region
        self.num_samples = 0
        self.sum_f = np.zeros([w_dim, w_dim], dtype=np.float64)  # sum over samples of M_f
        self.sum_b = np.zeros([w_dim, w_dim], dtype=np.float64)  # sum over samples of M_b

    def add(self, jacobian):
        """Add one sample's `M_f` and `M_b` (its Jacobian as in `split_rows`)."""
        for rows, total in zip(split_rows(jacobian, self.mask), (self.sum_f, self.sum_b)):
            for start in range(0, len(rows), self.rows_at_once):
                block = rows[start:start + self.rows_at_once].astype(np.float64)
                total += (block.T @ block) / len(rows)
        self.num_samples += 1
        return self

    def solve(self, full_rank=False, tao=DEFAULT_TAO):
        return solve_directions(self.sum_f, self.sum_b, full_rank=full_rank, tao=tao)

    def save(self, path):
        save_npz(path, mask=self.mask, num_samples=self.num_samples, sum_f=self.sum_f, sum_b=self.sum_b)

    @classmethod
    def load(cls, path):
        """The sums `save` wrote (checked where they enter: `cli.inputs.read_grams`)."""
        with load_npz(path) as state:
            sums = cls(state['mask'], len(state['sum_f']))
            sums.num_samples, sums.sum_f, sums.sum_b = int(state['num_samples']), state['sum_f'], state['sum_b']
        return sums
