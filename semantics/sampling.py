"""Latent codes and rendering, with one random-number convention for every script and the editor.

Codes are drawn as NVlabs' `gen_images.py` and ReSeFa's scripts draw them: `np.random.RandomState(seed)` per use, `z =
randn(N, z_dim)` (BigGAN: its truncated normal). Codes `z`, `w` or `w+` all become ws `[N, num_ws, w_dim]`.
"""

import numpy as np
import torch


def sample_z(generator, num, seed, truncation_psi=1):
    """`[num, z_dim]` float32 codes from `np.random.RandomState(seed)` (the family's distribution)."""
    return generator.sample_z(int(num), int(seed), truncation_psi)


def class_labels(generator, class_index, count, device='cpu'):
    """One-hot labels `[count, c_dim]` of a class index (None for an unconditional model)."""
    if not generator.c_dim:
        return None
    labels = torch.zeros([count, generator.c_dim], device=device)
    labels[:, int(class_index)] = 1
    return labels


@torch.no_grad()
def to_ws(generator, codes, space, truncation_psi=1, truncation_cutoff=None, labels=None, batch_size=16):
    """ws `[N, num_ws, w_dim]` on the model's device of codes of space 'z' (mapped, truncated), 'w' or 'wp'."""
    device = generator.device
    codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32)
    if space == 'wp':
        return codes.to(device)
    if space == 'w':
        return codes.to(device).unsqueeze(1).repeat(1, generator.num_ws, 1)
    kwargs = generator.mapping_kwargs(truncation_psi, truncation_cutoff)
    out = []
    for start in range(0, len(codes), batch_size):
        c = labels[start:start + batch_size] if labels is not None else None
        out.append(generator.mapping(codes[start:start + batch_size].to(device), c, **kwargs))
    return torch.cat(out)


def sample_ws(generator, num, seed, truncation_psi=1, truncation_cutoff=None, labels=None):
    """ws `[num, num_ws, w_dim]` of `num` codes drawn with `seed` (see `sample_z`), mapped and truncated."""
    z = sample_z(generator, num, seed, truncation_psi)
    return to_ws(generator, z, 'z', truncation_psi, truncation_cutoff, labels)


@torch.no_grad()
def render(generator, ws, noise_mode='const', truncation_psi=1, batch_size=None):
    """Images `[N, C, H, W]` on the model's device of ws `[N, num_ws, w_dim]` drawn with `truncation_psi`."""
    kwargs = generator.synthesis_kwargs(noise_mode, truncation_psi)
    ws = torch.as_tensor(ws).to(generator.device)
    batch_size = batch_size or len(ws)
    return torch.cat([generator.synthesis(ws[i:i + batch_size], **kwargs) for i in range(0, len(ws), batch_size)])
