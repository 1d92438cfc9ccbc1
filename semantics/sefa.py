"""SeFa: closed-form factorisation of latent semantics (Shen & Zhou, CVPR 2021).

The layers that project the latent code into the generator are affine maps
`y = A^T w + b`. Directions `n` that change their outputs most are the
maximisers of `|A^T n|^2` under `|n| = 1`, i.e. the eigenvectors of `A A^T`
with the largest eigenvalues. As in genforce's `factorize_weight`:

- `A` is `[w_dim, columns]`: the weights of the selected layers, each
  transposed to `[in, out]` and concatenated along the output axis;
- every column is scaled to unit norm;
- the eigenvectors of `A A^T` are the directions, one per row.

Which weights, per family (`layers` are ws indices; the family's `sefa_layers()` and
`sefa_weights()` hooks of `models.base` give them):

- StyleGAN, StyleGAN2, StyleGAN3: the style affine layer fed by each selected
  index. A StyleGAN2 index that feeds a convolution and a ToRGB layer gives
  the convolution's; the last index feeds only the final ToRGB, whose affine
  is used (genforce's rule). StyleGAN3's index 0 (the Fourier-feature
  transform) has no style layer.
- PGGAN: the first layer's kernel `[C, w_dim, 4, 4]`, flipped and arranged as
  `[w_dim, 16 C]`; there is one `w`, so `layers` is `[0]`.
- BigGAN: the columns of the input linear layer that read the latent `z` (the
  class-embedding half is left out, as in the paper). Directions are zero on
  the embedding half of `w`; `layers` only says which ws rows an edit moves.

`A A^T` is formed with the reference's float32 arithmetic (so the result is
the reference's matrix), and its symmetric eigenproblem is solved in float64
with `numpy.linalg.eigh` (the reference calls the general `numpy.linalg.eig`,
which returns unsorted and possibly complex results). Directions are sorted by
decreasing eigenvalue; each is unit-norm with its largest-magnitude entry
positive, so results are deterministic. They equal the reference's up to sign.
"""

import numpy as np

from utils.indices import parse_indices

__all__ = ['parse_layers', 'weights_matrix', 'factorize']


# ----------------------------------------------------------------------------
# Layer selection.

def parse_layers(layer_idx, generator, option='layers'):
    """ws indices selected by `layer_idx`, validated against the model.

    Args:
        layer_idx: 'all', an index '3', ranges and lists '0-1', '2-5,8', or a
            sequence of ints (the original's `parse_indices` syntax).
        generator: The model (its `num_ws` and SeFa layers bound the indices).
        option: Name used in error messages.

    Returns:
        Sorted list of distinct ws indices.

    Raises:
        ValueError: one line naming the option and what is wrong.
    """
    available = generator.sefa_layers()
    try:
        indices = parse_indices(layer_idx)
    except ValueError as error:
        raise ValueError(f'{option}: {error}') from None
    if indices is None:
        return available
    bad = [i for i in indices if not 0 <= i < generator.num_ws]
    if bad:
        raise ValueError(f'{option}: layer {bad[0]} is out of range; this {generator.variant} has layers '
                         f'0-{generator.num_ws - 1}')
    missing = [i for i in indices if i not in available]
    if missing:
        raise ValueError(f'{option}: layer {missing[0]} feeds no style layer of this {generator.variant}; '
                         f'choose from {available[0]}-{available[-1]}')
    return indices


# ----------------------------------------------------------------------------
# Weights.

def weights_matrix(generator, layers='all'):
    """`(layers, names, A)`: ws indices, layer names and the column-normalised float32 `A` `[in_dim, columns]`."""
    layers = parse_layers(layers, generator)
    chosen = generator.sefa_weights(layers)
    weight = np.concatenate([w.cpu().numpy() for _, w in chosen], axis=1).astype(np.float32)
    weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
    return layers, [name for name, _ in chosen], weight


def factorize(generator, layers='all'):
    """SeFa directions of a generator.

    Args:
        generator: Any generator of the toolkit (StyleGAN, StyleGAN2,
            StyleGAN3, PGGAN, BigGAN).
        layers: ws indices whose weights are factorised (and which an edit
            moves): 'all', '0-1', '2-5,8', or a list of ints.

    Returns:
        `(layers, directions, eigenvalues)`: the ws indices (list), float32
        `[K, w_dim]` unit rows sorted by decreasing eigenvalue, and float64
        `[K]` eigenvalues. `K = w_dim` (`z_dim` for BigGAN, whose directions
        are zero on the class-embedding half of `w`).

    Raises:
        ValueError: bad `layers`.
    """
    layers, _, weight = weights_matrix(generator, layers)
    gram = weight.dot(weight.T).astype(np.float64)  # [in_dim, in_dim], the reference's float32 A A^T
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    order = np.argsort(-eigenvalues, kind='stable')
    eigenvalues = eigenvalues[order]
    directions = eigenvectors[:, order].T  # [K, in_dim]
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    peak = np.abs(directions).argmax(axis=1)
    directions *= np.sign(directions[np.arange(len(directions)), peak])[:, None]
    if directions.shape[1] != generator.w_dim:  # BigGAN: pad the class-embedding half with zeros.
        padded = np.zeros([len(directions), generator.w_dim])
        padded[:, :directions.shape[1]] = directions
        directions = padded
    return layers, directions.astype(np.float32), eigenvalues
