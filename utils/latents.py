"""Latent codes: sampling, reading `.npy` files of z / w / w+ codes, and mapping to ws."""

import os

import numpy as np
import torch

SPACES = ('z', 'w', 'wp')


def sample_z(generator, nums, seed, truncation_psi=1):
    """`[nums, z_dim]` float32 codes from `np.random.RandomState(seed)`, as the original scripts draw them.

    BigGAN draws from its truncated normal (`truncation_psi` is its truncation).
    """
    if generator.family == 'biggan':
        from models.biggan import truncated_noise
        return np.asarray(truncated_noise(nums, generator.z_dim, truncation_psi, seed), dtype=np.float32)
    return np.random.RandomState(seed).randn(nums, generator.z_dim).astype(np.float32)


def codes_from_options(generator, opts, device='cpu'):
    """`(space, codes, labels)` from the sampling options: `--latent_path` codes, or `--nums` draws of z."""
    if opts['latent_path']:
        space, codes = load_codes(opts['latent_path'], generator, opts['latent_space'], opts['nums'])
    else:
        space, codes = 'z', sample_z(generator, opts['nums'], opts['seed'], opts['trunc_psi'])
    return space, codes, labels_for(generator, opts.get('class_spec'), len(codes), device)


def detect_space(codes, generator, path='latent codes'):
    """Which space a code array lives in, from its shape."""
    if codes.ndim == 3:
        if codes.shape[1:] != (generator.num_ws, generator.w_dim):
            raise ValueError(f'{path}: w+ codes must have shape [N, {generator.num_ws}, {generator.w_dim}], '
                             f'got {list(codes.shape)}')
        return 'wp'
    if codes.ndim == 2:
        if codes.shape[1] == generator.z_dim:
            return 'z'  # z_dim == w_dim is read as z, like the original scripts; see --latent_space
        if codes.shape[1] == generator.w_dim:
            return 'w'
    raise ValueError(f'{path}: codes of shape {list(codes.shape)} fit neither z [N, {generator.z_dim}], '
                     f'w [N, {generator.w_dim}] nor w+ [N, {generator.num_ws}, {generator.w_dim}]')


def load_codes(path, generator, space='auto', nums=None):
    """Read codes from a `.npy` file; returns `(space, float32 array)` (first `nums` rows)."""
    if not os.path.isfile(path):
        import directions  # prepared latent codes of the catalog, by name
        try:
            path = directions.resolve_latents(path).path
        except directions.CatalogError as error:
            raise ValueError(f'--latent_path {path}: no such file, and {error}') from None
    try:
        codes = np.load(path, allow_pickle=False)
    except Exception as error:
        raise ValueError(f'--latent_path {path}: not a .npy array ({type(error).__name__})') from None
    if not np.issubdtype(codes.dtype, np.floating) or not np.isfinite(codes).all():
        raise ValueError(f'--latent_path {path}: codes must be finite floating-point numbers')
    detected = detect_space(codes, generator, f'--latent_path {path}')
    if space not in ('auto', None):
        expected = {'z': (2, generator.z_dim), 'w': (2, generator.w_dim), 'wp': (3, generator.w_dim)}[space]
        if codes.ndim != expected[0] or codes.shape[-1] != expected[1]:
            raise ValueError(f'--latent_path {path}: shape {list(codes.shape)} is not a {space} code '
                             f'for this model')
        detected = space
    if nums is not None:
        codes = codes[:nums]
    if len(codes) == 0:
        raise ValueError(f'--latent_path {path}: holds no codes')
    return detected, codes.astype(np.float32)


def labels_for(generator, class_spec, count, device='cpu'):
    """One-hot labels `[count, c_dim]` for a conditional generator (None when unconditional)."""
    if generator.c_dim == 0:
        if class_spec is not None:
            raise ValueError('--class was given, but the model is unconditional')
        return None
    if class_spec is None:
        raise ValueError(f'the model is conditional ({generator.c_dim} classes): pass --class')
    if generator.family == 'biggan':
        from models.biggan import resolve_class
        index = resolve_class(class_spec, generator.c_dim)
    else:
        try:
            index = int(class_spec)
        except ValueError:
            raise ValueError(f'--class {class_spec!r} is not a class index') from None
    if not 0 <= index < generator.c_dim:
        raise ValueError(f'--class {index} is out of range 0..{generator.c_dim - 1}')
    labels = torch.zeros([count, generator.c_dim], device=device)
    labels[:, index] = 1
    return labels


@torch.no_grad()
def codes_to_ws(generator, codes, space, truncation_psi=1, truncation_cutoff=None, labels=None,
                batch_size=16):
    """Map codes of any space to ws `[N, num_ws, w_dim]`.

    Truncation applies to `z` codes (through the mapping network); `w` and `w+`
    codes are taken as they are.
    """
    device = next(generator.parameters()).device
    codes = torch.as_tensor(codes, dtype=torch.float32)
    if space == 'wp':
        return codes.to(device)
    if space == 'w':
        return codes.to(device).unsqueeze(1).repeat(1, generator.num_ws, 1)
    out = []
    for start in range(0, len(codes), batch_size):
        z = codes[start:start + batch_size].to(device)
        c = labels[start:start + batch_size] if labels is not None else None
        cutoff = None if generator.family == 'biggan' else truncation_cutoff
        out.append(generator.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=cutoff))
    return torch.cat(out)


def synthesize(generator, ws, noise_mode='const', truncation_psi=1):
    """Render ws with the family's synthesis arguments (BigGAN needs its truncation again)."""
    if generator.family == 'biggan':
        return generator.synthesis(ws, truncation_psi=truncation_psi)
    return generator.synthesis(ws, noise_mode=noise_mode)


def synthesis_kwargs(generator, noise_mode='const', truncation_psi=1):
    """Keyword arguments of `generator.synthesis` for this family."""
    if generator.family == 'biggan':
        return {'truncation_psi': truncation_psi}
    return {'noise_mode': noise_mode}
