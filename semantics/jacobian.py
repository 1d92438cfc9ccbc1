"""Jacobians of generated images with respect to the latent `w`, in forward mode.

The ReSeFa reference calls `torch.autograd.functional.jacobian`, which runs one
backward pass per output pixel (65,536 for a 256x256 image). The latent has
only `w_dim` inputs, so forward-mode differentiation needs `w_dim`
Jacobian-vector products instead: `torch.func.jvp` under `vmap`, over chunks of
basis vectors, or, for StyleGAN2 and StyleGAN3, the generator's own
forward-mode pass (`synthesis.linearize` + `synthesis.push`), which gives the
same numbers at about a third of the cost: its primal pass runs once per
sample instead of once per chunk. The tangents of a whole chunk go through the
network as one batch.

Reference semantics (the defaults):

- `w` `[w_dim]` is shared by every layer (`wp = w` repeated `num_ws` times);
- an image larger than 256 is reduced to 256 with nearest-neighbour
  interpolation (`F.interpolate(img, scale_factor=256 / res)`) and summed over
  its colour channels; otherwise it is kept per channel;
- `noise_mode='const'`.

Layout of one sample's Jacobian, as the reference saves it:
`[256, 256, 1, w_dim]` (reduced and channel-summed) or `[C, H, W, 1, w_dim]`.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import jvp, vmap
from tqdm import tqdm

from utils.cpu import keep_freed_memory

CPU_CHUNK_BYTES = 16 * 2 ** 20  # largest feature map of a chunk of tangents on CPU: measured fastest


def reference_output_shape(generator, size=None, sum_channels=None):
    """`(size, sum_channels)` that the reference rule picks for this generator."""
    res = generator.img_resolution
    if size is None:
        size = 256 if res > 256 else res
    if sum_channels is None:
        sum_channels = res > 256
    return int(size), bool(sum_channels)


def make_image_function(generator, w_base=None, layers=None, size=None, sum_channels=None,
                        noise_mode='const', synthesis_kwargs=None):
    """`f(w) -> image` with the reference wrapper's semantics, for one latent `w` `[w_dim]`.

    Args:
        generator: Generator following the toolkit's contract.
        w_base: `[num_ws, w_dim]` codes for the layers that are not differentiated
            (default: `w` itself on every layer).
        layers: ws indices that receive `w` (default: all).
        size: Output resolution of the Jacobian (default: the reference rule).
        sum_channels: Sum colour channels (default: the reference rule).
        noise_mode: Noise of the synthesis network.
        synthesis_kwargs: Extra keyword arguments for `generator.synthesis`.
    """
    size, sum_channels = reference_output_shape(generator, size, sum_channels)
    res = generator.img_resolution
    num_ws = generator.num_ws
    kwargs = dict(noise_mode=noise_mode)
    if generator.family in ('stylegan2', 'stylegan3'):
        kwargs['fused_modconv'] = False  # scale activations, shared conv: cheaper tangents
    kwargs.update(synthesis_kwargs or {})
    mask = None
    if layers is not None:
        mask = torch.zeros([num_ws, 1], dtype=torch.bool)
        mask[list(layers)] = True

    def image_of(w):
        wp = w.unsqueeze(0).expand(num_ws, -1)  # [num_ws, w_dim]
        if mask is not None:
            wp = torch.where(mask.to(w.device), wp, w_base)
        image = generator.synthesis(wp.unsqueeze(0), **kwargs)  # [1, C, res, res]
        if size != res:
            image = F.interpolate(image, scale_factor=size / res)
        if sum_channels:
            image = image.sum(dim=1)
        return image[0]  # [C, size, size] or [size, size]

    return image_of


def auto_chunk_size(generator, device=None, budget_bytes=None):
    """Tangents per chunk (basis vectors pushed through together) within a memory budget.

    A tangent costs about a dozen copies of the largest feature map (primal and
    tangent of each intermediate of a layer); StyleGAN3's forward-mode pass,
    whose largest maps are the upsampled ones inside its filtered leaky ReLUs,
    measured about three. The budget is 2 GiB on CPU and 40%
    of the free memory on CUDA, unless given. On CPU the chunk also keeps the
    largest feature map of a chunk near 16 MiB (8 to 32 tangents): larger
    batches fall out of the caches and run slower per tangent.
    """
    device = torch.device(device or next(generator.parameters()).device)
    config = getattr(generator, 'config', None)
    res = generator.img_resolution
    copies = 12
    specs = getattr(generator.synthesis, 'layer_specs', None)
    if specs:  # StyleGAN3: channels x the upsampled size inside each layer
        largest = max(spec.out_channels * (spec.in_size * spec.up_factor + sum(spec.padding[:2])) ** 2
                      for spec in specs)
        copies = 3
    elif hasattr(config, 'channels'):
        resolutions = [2 ** i for i in range(2, res.bit_length())]
        largest = max(config.channels(r) * r * r for r in resolutions)
    else:
        largest = 128 * res * res
    per_tangent = 4 * copies * largest
    if budget_bytes is None:
        if device.type == 'cuda':
            free, _ = torch.cuda.mem_get_info(device)
            budget_bytes = 0.4 * free
        else:
            budget_bytes = 2 * 2 ** 30
    cap = 128
    if device.type != 'cuda':
        cap = int(min(max(CPU_CHUNK_BYTES // (4 * largest), 8), 32))
    return int(max(1, min(cap, budget_bytes // per_tangent)))


METHODS = ('auto', 'tangent', 'jvp')


def pick_method(generator, synthesis_kwargs=None, method='auto'):
    """'tangent' (the generator's own forward-mode pass) where it exists, else 'jvp'."""
    if method not in METHODS:
        raise ValueError(f'method must be one of {METHODS}, got {method!r}')
    extra = set(synthesis_kwargs or {}) - {'fused_modconv', 'noise_mode'}
    native = hasattr(generator.synthesis, 'linearize') and not extra
    if method == 'tangent' and not native:
        raise ValueError(f'{type(generator).__name__} has no forward-mode pass for these settings; use method="jvp"')
    if method == 'auto':
        return 'tangent' if native else 'jvp'
    return method


def make_tangent_function(generator, w, w_base=None, layers=None, size=None, sum_channels=None,
                          noise_mode='const', synthesis_kwargs=None, method='auto'):
    """`push(tangents [K, w_dim]) -> [K, *out_shape]`: derivatives of the reference image at `w` `[w_dim]`.

    `method='tangent'` runs the generator's hand-written forward-mode pass
    (`synthesis.linearize` once, then `synthesis.push` per call; StyleGAN2 and
    StyleGAN3); 'jvp' runs `torch.func.jvp` of `make_image_function` under
    `vmap`, which works for every generator. Both give the same numbers; 'auto'
    picks the first where it exists.
    """
    method = pick_method(generator, synthesis_kwargs, method)
    if method == 'jvp':
        image_of = make_image_function(generator, w_base, layers, size, sum_channels, noise_mode, synthesis_kwargs)
        return vmap(lambda tangent: jvp(image_of, (w,), (tangent,))[1])
    noise_mode = (synthesis_kwargs or {}).get('noise_mode', noise_mode)
    size, sum_channels = reference_output_shape(generator, size, sum_channels)
    res = generator.img_resolution
    num_ws = generator.num_ws
    wp = w.unsqueeze(0).expand(num_ws, -1)
    if layers is not None:
        moving = set(int(i) for i in layers)
        mask = torch.tensor([i in moving for i in range(num_ws)], device=w.device).unsqueeze(1)
        wp = torch.where(mask, wp, w_base)
    else:
        moving = set(range(num_ws))
    wp = wp.unsqueeze(0)
    factors = []  # the primal pass, run on the first call only

    def push(tangents):
        if not factors:
            factors.append(generator.synthesis.linearize(wp, noise_mode=noise_mode)[1])
        image_t = generator.synthesis.push([tangents if i in moving else None for i in range(num_ws)], factors[0])
        if size != res:
            image_t = F.interpolate(image_t, scale_factor=size / res)
        if sum_channels:
            image_t = image_t.sum(dim=1)
        return image_t

    return push


def jacobian_of_sample(push, w_dim, chunk_size=64, device=None):
    """Jacobian `[*out_shape, w_dim]` from `push` (see `make_tangent_function`), by chunks of basis vectors."""
    eye = torch.eye(w_dim, device=device)
    columns = []
    for start in range(0, w_dim, chunk_size):
        columns.append(push(eye[start:start + chunk_size]))  # [chunk, *out_shape]
    jac = torch.cat(columns)  # [w_dim, *out_shape]
    return jac.movedim(0, -1)


def iter_jacobians(generator, w, layers=None, size=None, sum_channels=None, chunk_size=None, noise_mode='const',
                   w_base=None, progress=False, synthesis_kwargs=None, method='auto'):
    """Yield each sample's Jacobian `[*out_shape, w_dim]` (a torch tensor on the model's device).

    Args:
        w: `[N, w_dim]` latents (or `[N, num_ws, w_dim]` when `layers` is a subset:
            the other layers keep their own codes).
        method: 'auto', 'tangent' or 'jvp' (see `make_tangent_function`).
    """
    device = next(generator.parameters()).device
    w = torch.as_tensor(w, dtype=torch.float32, device=device)
    bases = None
    if w.ndim == 3:
        bases = w
        if layers is None:
            raise ValueError('w+ codes need `layers`: the ws indices to differentiate')
        w = w[:, list(layers)[0]]
    if w.ndim != 2 or w.shape[1] != generator.w_dim:
        raise ValueError(f'w must have shape [N, {generator.w_dim}], got {list(w.shape)}')
    pick_method(generator, synthesis_kwargs, method)  # fail before the first sample
    if device.type == 'cpu':
        keep_freed_memory()
    chunk_size = chunk_size or auto_chunk_size(generator, device)
    for idx in tqdm(range(len(w)), desc='jacobians', unit='sample', disable=not progress):
        base = bases[idx] if bases is not None else (w_base if w_base is not None else None)
        if layers is not None and base is None:
            base = w[idx].unsqueeze(0).expand(generator.num_ws, -1)
        push = make_tangent_function(generator, w[idx], base, layers, size, sum_channels, noise_mode,
                                     synthesis_kwargs, method)
        with torch.no_grad():
            yield jacobian_of_sample(push, generator.w_dim, chunk_size, device)


def to_reference_layout(jac):
    """`[*out_shape, w_dim]` -> `[*out_shape, 1, w_dim]`, the reference's per-sample layout."""
    return jac.unsqueeze(-2)


def compute_jacobians(generator, w, layers=None, size=None, sum_channels=None, chunk_size=None,
                      noise_mode='const', progress=False, synthesis_kwargs=None, method='auto'):
    """Jacobians of images w.r.t. `w` for `N` latents, in the reference layout.

    Args:
        generator: Generator following the toolkit's contract.
        w: `[N, w_dim]` latents.
        layers: ws indices to differentiate (default: all, like the reference).
        size: Jacobian resolution (default: 256 for larger images, else the image size).
        sum_channels: Sum over colour channels (default: when the image was reduced).
        chunk_size: Basis vectors per vmapped JVP batch; sets the peak memory
            (default: `auto_chunk_size`).
        noise_mode: Synthesis noise.
        method: 'auto', 'tangent' or 'jvp' (see `make_tangent_function`).

    Returns:
        float32 array `[N, size, size, 1, w_dim]` (channel-summed) or
        `[N, C, size, size, 1, w_dim]`.
    """
    out = [to_reference_layout(j).cpu().numpy() for j in iter_jacobians(
        generator, w, layers, size, sum_channels, chunk_size, noise_mode, progress=progress,
        synthesis_kwargs=synthesis_kwargs, method=method)]
    return np.stack(out).astype(np.float32)


def reverse_mode_jacobian(generator, w, noise_mode='const'):
    """The reference method: `torch.autograd.functional.jacobian` on the reference wrapper.

    For one latent `w` `[1, w_dim]`; returns `[1, *out_shape, 1, w_dim]`. Slow by
    design (one backward pass per output value): used for checks and benchmarks.
    """
    num_ws = generator.num_ws

    def syn2jaco(w):
        wp = w.unsqueeze(1).repeat((1, num_ws, 1))
        image = generator.synthesis(wp, noise_mode=noise_mode)
        if image.shape[-1] > 256:
            image = F.interpolate(image, scale_factor=256 / image.shape[-1])
            image = torch.sum(image, dim=1)
        return image

    return torch.autograd.functional.jacobian(syn2jaco, w, create_graph=False, strict=False)
