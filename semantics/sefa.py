"""SeFa: closed-form factorisation of latent semantics (Shen & Zhou, CVPR 2021).

The layers that project the latent code into the generator are affine maps
`y = A^T w + b`. Directions `n` that change their outputs most are the
maximisers of `|A^T n|^2` under `|n| = 1`, i.e. the eigenvectors of `A A^T`
with the largest eigenvalues. As in genforce's `factorize_weight`:

- `A` is `[w_dim, columns]`: the weights of the selected layers, each
  transposed to `[in, out]` and concatenated along the output axis;
- every column is scaled to unit norm;
- the eigenvectors of `A A^T` are the directions, one per row.

Which weights, per family (`layers` are ws indices, see `style_layers()`):

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
import torch

from semantics.editing import edit_codes

__all__ = ['parse_layers', 'selected_weights', 'weights_matrix', 'factorize', 'sample_codes',
           'render_edits', 'style_indices']


# ----------------------------------------------------------------------------
# Layer selection.

def style_indices(generator):
    """The ws indices that have weights to factorise (all of them except StyleGAN3's input index)."""
    if generator.family in ('pggan', 'biggan'):
        return list(range(generator.num_ws))
    return sorted({index for index, _, _ in generator.style_layers()})


def parse_layers(layer_idx, generator, option='-L/--layer_idx'):
    """ws indices selected by `layer_idx`, validated against the model.

    Args:
        layer_idx: 'all', an index '3', ranges and lists '0-1', '2-5,8', or a
            sequence of ints (the original's `parse_indices` syntax).
        generator: The model (its `num_ws` and style layers bound the indices).
        option: Name used in error messages.

    Returns:
        Sorted list of distinct ws indices.

    Raises:
        ValueError: one line naming the option and what is wrong.
    """
    available = style_indices(generator)
    if isinstance(layer_idx, str):
        text = layer_idx.replace(' ', '').lower()
        if text == 'all':
            return available
        if not text:
            raise ValueError(f'{option}: no layers given; use an index, a range like 0-1, a list like 2-5,8, or all')
        indices = set()
        for part in text.split(','):
            bounds = part.split('-')
            if not all(b.isdigit() for b in bounds) or len(bounds) > 2:
                raise ValueError(f'{option}: {part!r} in {layer_idx!r} is not an index or a range like 2-5')
            lo, hi = int(bounds[0]), int(bounds[-1])
            if lo > hi:
                raise ValueError(f'{option}: {part!r} is an empty range')
            indices.update(range(lo, hi + 1))
    else:
        try:
            indices = {int(i) for i in layer_idx}
        except (TypeError, ValueError):
            raise ValueError(f'{option}: expected a string or a list of ints, got {layer_idx!r}') from None
        if not indices:
            raise ValueError(f'{option}: no layers given')
    indices = sorted(indices)
    bad = [i for i in indices if not 0 <= i < generator.num_ws]
    if bad:
        raise ValueError(f'{option}: layer {bad[0]} is out of range; this {generator.family} has layers '
                         f'0-{generator.num_ws - 1}')
    missing = [i for i in indices if i not in available]
    if missing:
        raise ValueError(f'{option}: layer {missing[0]} feeds no style layer of this {generator.family}; '
                         f'choose from {available[0]}-{available[-1]}')
    return indices


# ----------------------------------------------------------------------------
# Weights.

def selected_weights(generator, layers):
    """The weights SeFa factorises for ws indices `layers` (already validated).

    Returns:
        List of `(name, weight)`, `weight` a float32 tensor `[in_dim, out]`
        (`in_dim` = `w_dim`, or `z_dim` for BigGAN).
    """
    family = generator.family
    if family == 'pggan':
        (_, name, module), = generator.style_layers()
        weight = module.weight.detach().float()  # [C, w_dim, 4, 4]
        return [(name, weight.flip(2, 3).permute(1, 0, 2, 3).flatten(1))]  # [w_dim, 16 C]
    if family == 'biggan':
        _, name, module = generator.style_layers()[0]
        return [(f'{name} (latent columns)', module.weight.detach().float()[:, :generator.z_dim].T)]  # [z_dim, out]
    by_index = {}
    for index, name, module in generator.style_layers():
        by_index.setdefault(index, []).append((name, module))
    out = []
    for index in layers:
        found = by_index[index]
        convs = [item for item in found if not item[0].endswith('torgb')]
        for name, module in (convs or found):
            out.append((name, module.weight.detach().float().T))  # [w_dim, out]
    return out


def weights_matrix(generator, layers='all'):
    """`(layers, names, A)`: ws indices, layer names and the column-normalised float32 `A` `[in_dim, columns]`."""
    layers = parse_layers(layers, generator)
    chosen = selected_weights(generator, layers)
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


# ----------------------------------------------------------------------------
# Codes and edits, as the reference script draws them.

@torch.no_grad()
def sample_codes(generator, num_samples, seed=0, truncation_psi=0.7, truncation_cutoff=8, labels=None):
    """The codes the reference script edits, as ws `[N, num_ws, w_dim]`.

    `z = torch.randn(N, z_dim)` from a CPU generator seeded with `seed` (the
    reference's `torch.manual_seed(seed)` stream); StyleGAN families map it and
    truncate the first `truncation_cutoff` layers towards `w_avg` by
    `truncation_psi`; PGGAN pixel-normalises it (no truncation). BigGAN draws
    its truncated noise (`truncated_noise(N, z_dim, truncation_psi, seed)`).
    """
    device = next(generator.parameters()).device
    if generator.family == 'biggan':
        from models.biggan import truncated_noise
        z = torch.as_tensor(truncated_noise(num_samples, generator.z_dim, truncation_psi, seed))
        return generator.mapping(z.to(device), labels, truncation_psi=truncation_psi)
    z = torch.randn([num_samples, generator.z_dim], generator=torch.Generator().manual_seed(seed))
    if generator.family == 'pggan':
        return generator.mapping(z.to(device), labels)
    return generator.mapping(z.to(device), labels, truncation_psi=truncation_psi,
                             truncation_cutoff=truncation_cutoff)


@torch.no_grad()
def render_edits(generator, ws, direction, layers, distances, truncation_psi=1, batch_size=8):
    """Images of `ws` moved along `direction` on `layers` by each distance.

    Args:
        ws: One code `[1, num_ws, w_dim]` (or `[num_ws, w_dim]`).
        direction: `[w_dim]`.
        layers: ws indices to move.
        distances: `[S]`.
        truncation_psi: BigGAN only: the truncation its batch norms use.
        batch_size: Images rendered at once.

    Returns:
        float32 images `[S, C, H, W]`.
    """
    ws = torch.as_tensor(ws).reshape(1, generator.num_ws, generator.w_dim)
    edited = edit_codes(ws, direction, list(layers), distances)[0]  # [S, num_ws, w_dim]
    kwargs = {'truncation_psi': truncation_psi} if generator.family == 'biggan' else {'noise_mode': 'const'}
    images = [generator.synthesis(edited[i:i + batch_size], **kwargs) for i in range(0, len(edited), batch_size)]
    return torch.cat(images).float()
