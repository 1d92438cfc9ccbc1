"""Latent codes and rendering, with one random-number convention for every script and the editor.

Codes are drawn as NVlabs' `gen_images.py` and ReSeFa's scripts draw them:
`np.random.RandomState(seed)` per use, `z = randn(N, z_dim)` (BigGAN: its
truncated normal, from the same RandomState). Codes read from a file may be
`z` `[N, z_dim]`, `w` `[N, w_dim]` or `w+` `[N, num_ws, w_dim]`; everything is
turned into ws `[N, num_ws, w_dim]` before editing or rendering.
"""

import numpy as np
import torch

__all__ = ['SPACES', 'MAX_CODE', 'sample_z', 'detect_space', 'check_codes', 'class_labels', 'to_ws', 'sample_ws',
           'render']

SPACES = ('z', 'w', 'wp')


def sample_z(generator, num, seed, truncation_psi=1):
    """`[num, z_dim]` float32 codes from `np.random.RandomState(seed)` (the family's distribution)."""
    if not 0 <= int(seed) < 2 ** 32:
        raise ValueError(f'seed {seed} is out of range 0-{2 ** 32 - 1}')
    return generator.sample_z(int(num), int(seed), truncation_psi)


def detect_space(generator, codes, what='latent codes'):
    """Which space a code array lives in, from its shape ('z', 'w' or 'wp')."""
    shape = tuple(codes.shape)
    if len(shape) == 3:
        if shape[1:] != (generator.num_ws, generator.w_dim):
            raise ValueError(f'{what}: w+ codes must have shape [N, {generator.num_ws}, {generator.w_dim}], '
                             f'got {list(shape)}')
        return 'wp'
    if len(shape) == 2:
        if shape[1] == generator.z_dim:
            return 'z'  # z_dim == w_dim is read as z, like the original scripts; a space can be given
        if shape[1] == generator.w_dim:
            return 'w'
    raise ValueError(f'{what}: codes of shape {list(shape)} fit neither z [N, {generator.z_dim}], '
                     f'w [N, {generator.w_dim}] nor w+ [N, {generator.num_ws}, {generator.w_dim}]')


# No model's codes come near this size; z codes far beyond it overflow their float32 normalisation (and are
# drawn as z = 0).
MAX_CODE = 1e6


def check_codes(generator, codes, space='auto', nums=None, what='latent codes'):
    """Validate codes for this model; returns `(space, float32 array)`, the first `nums` rows.

    Args:
        codes: array `[N, z_dim]`, `[N, w_dim]` or `[N, num_ws, w_dim]`.
        space: 'auto' (from the shape), 'z', 'w' or 'wp'.
        nums: keep at most this many codes (None: all).
    """
    codes = np.asarray(codes)
    if codes.dtype.kind != 'f':
        raise ValueError(f'{what}: codes must be floating-point numbers, got {codes.dtype}')
    if not np.isfinite(codes).all():
        raise ValueError(f'{what}: codes hold NaN or infinite values')
    if codes.size and np.abs(codes).max() > MAX_CODE:
        raise ValueError(f'{what}: codes hold values beyond +-{MAX_CODE:g} ({np.abs(codes).max():.3g}), which '
                         f'float32 synthesis cannot draw (z codes so large normalise to zero)')
    detected = detect_space(generator, codes, what)
    if space not in ('auto', None):
        if space not in SPACES:
            raise ValueError(f'{what}: space must be one of {", ".join(SPACES)}, got {space!r}')
        width = {'z': generator.z_dim, 'w': generator.w_dim, 'wp': generator.w_dim}[space]
        if codes.ndim != (3 if space == 'wp' else 2) or codes.shape[-1] != width:
            raise ValueError(f'{what}: shape {list(codes.shape)} is not a {space} code for this model')
        detected = space
    if len(codes) == 0:
        raise ValueError(f'{what}: holds no codes')
    if nums is not None:
        codes = codes[:nums]
    return detected, codes.astype(np.float32)


def class_labels(generator, class_index, count, device='cpu'):
    """One-hot labels `[count, c_dim]` of a class index (None for an unconditional model and no class).

    Raises:
        ValueError: a class for an unconditional model, or none for a conditional one.
    """
    if not generator.c_dim:
        if class_index is not None:
            raise ValueError(f'this {generator.variant} model is unconditional: it takes no class')
        return None
    if class_index is None:
        raise ValueError(f'this {generator.variant} model is conditional ({generator.c_dim} classes): give a class')
    labels = torch.zeros([count, generator.c_dim], device=device)
    labels[:, int(class_index)] = 1
    return labels


@torch.no_grad()
def to_ws(generator, codes, space, truncation_psi=1, truncation_cutoff=None, labels=None, batch_size=16):
    """Map codes of any space to ws `[N, num_ws, w_dim]` on the model's device.

    Truncation applies to `z` codes (through the mapping network); `w` and `w+`
    codes are taken as they are.
    """
    device = generator.device
    codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32)
    if space == 'wp':
        return codes.to(device)
    if space == 'w':
        return codes.to(device).unsqueeze(1).repeat(1, generator.num_ws, 1)
    kwargs = generator.mapping_kwargs(truncation_psi, truncation_cutoff)
    out = []
    for start in range(0, len(codes), batch_size):
        z = codes[start:start + batch_size].to(device)
        c = labels[start:start + batch_size] if labels is not None else None
        out.append(generator.mapping(z, c, **kwargs))
    return torch.cat(out)


def sample_ws(generator, num, seed, truncation_psi=1, truncation_cutoff=None, labels=None):
    """ws `[num, num_ws, w_dim]` of `num` codes drawn with `seed` (see `sample_z`), mapped and truncated."""
    z = sample_z(generator, num, seed, truncation_psi)
    return to_ws(generator, z, 'z', truncation_psi, truncation_cutoff, labels)


@torch.no_grad()
def render(generator, ws, noise_mode='const', truncation_psi=1, batch_size=None):
    """Images `[N, C, H, W]` (float32, on the model's device) of ws `[N, num_ws, w_dim]`.

    `truncation_psi` is the truncation the codes were drawn with; only families
    whose synthesis depends on it (BigGAN) use it.
    """
    kwargs = generator.synthesis_kwargs(noise_mode, truncation_psi)
    ws = torch.as_tensor(ws).to(generator.device)
    batch_size = batch_size or len(ws)
    return torch.cat([generator.synthesis(ws[i:i + batch_size], **kwargs) for i in range(0, len(ws), batch_size)])
