"""SeFa: closed-form factorisation of latent semantics (Shen & Zhou, CVPR 2021).

The layers that project the latent code into the generator are affine maps `y = A^T w + b`. Directions `n` that change
their outputs most are the maximisers of `|A^T n|^2` under `|n| = 1`, i.e. the eigenvectors of `A A^T` with the largest
eigenvalues. As in genforce's `factorize_weight`, `A` is `[w_dim, columns]`: the weights of the selected layers, each
transposed to `[in, out]`, concatenated along the output axis, every column scaled to unit norm.

Which weights is the family's `sefa_weights()` hook (`models.base`). `A A^T` is formed with the reference's float32
arithmetic and solved in float64 with the symmetric `eigh` (the reference's `eig` gives unsorted, possibly complex
results); each direction is a unit row with its largest-magnitude entry positive: the reference's up to sign.
"""

import contextlib

import numpy as np
import torch


def weights_matrix(generator, layers='all'):
    """`(layers, names, A)`: ws indices (None: all), layer names, the column-normalised float32 `A`."""
    layers = generator.sefa_layers() if layers in ('all', None) else sorted(set(layers))
    assert set(layers) <= set(generator.sefa_layers()), layers
    chosen = generator.sefa_weights(layers)
    weight = np.concatenate([w.cpu().numpy() for _, w in chosen], axis=1).astype(np.float32)
    weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
    return layers, [name for name, _ in chosen], weight


@contextlib.contextmanager
def one_thread():
    """Torch in one thread: a small eigenproblem gains nothing from more, and on a busy CPU they take far longer."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def factorize(generator, layers='all'):
    """`(layers, directions, eigenvalues)`: SeFa's float32 unit rows `[K, w_dim]` by decreasing float64 eigenvalue,
    of the weights of ws indices `layers` ('all' or None: all)."""
    layers, _, weight = weights_matrix(generator, layers)
    gram = weight.dot(weight.T).astype(np.float64)  # [in_dim, in_dim], the reference's float32 A A^T
    with one_thread():
        eigenvalues, eigenvectors = (t.numpy() for t in torch.linalg.eigh(torch.from_numpy(gram)))
    order = np.argsort(-eigenvalues, kind='stable')
    directions = eigenvectors[:, order].T  # [K, in_dim]
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    peak = np.abs(directions).argmax(axis=1)
    directions *= np.sign(directions[np.arange(len(directions)), peak])[:, None]
    padded = np.zeros([len(directions), generator.w_dim])  # BigGAN: zeros on the class-embedding half
    padded[:, :directions.shape[1]] = directions
    return layers, padded.astype(np.float32), eigenvalues[order]
