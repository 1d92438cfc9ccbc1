"""Jacobians of generated images with respect to the latent `w`, in forward mode.

The ReSeFa reference calls `torch.autograd.functional.jacobian`, one backward
pass per output pixel (65,536 for a 256x256 image). The latent has only `w_dim`
inputs, so forward mode needs `w_dim` Jacobian-vector products instead, pushed
through the network a chunk of basis vectors at a time: by the generator's own
forward-mode pass where it has one (StyleGAN2 and StyleGAN3, `models.forward_mode`,
the primal pass once per sample), else by `torch.func.jvp` under `vmap`.

Reference semantics (the defaults): `w` `[w_dim]` is shared by every layer; an
image larger than 256 is reduced to 256 with nearest-neighbour interpolation
(`F.interpolate(img, scale_factor=256 / res)`) and summed over its colour
channels, otherwise kept per channel; `noise_mode='const'`. One sample's
Jacobian, as the reference saves it: `[256, 256, 1, w_dim]` (reduced and
channel-summed) or `[C, H, W, 1, w_dim]`.
"""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import jvp, vmap
from tqdm import tqdm

CPU_CHUNK_BYTES = 16 * 2 ** 20  # largest feature map of a chunk of tangents on CPU: measured fastest
METHODS = ('auto', 'tangent', 'jvp')
PRECISIONS = ('fp32', 'tf32', 'bf16')


def reference_output_shape(generator, size=None, sum_channels=None):
    """`(size, sum_channels)` that the reference rule picks for this generator."""
    res = generator.img_resolution
    size = (256 if res > 256 else res) if size is None else size
    return int(size), bool(res > 256 if sum_channels is None else sum_channels)


def jacobian_shape(generator, num, size=None, sum_channels=None):
    """Shape of `num` samples' Jacobians in the reference layout."""
    size, sum_channels = reference_output_shape(generator, size, sum_channels)
    channels = () if sum_channels else (generator.img_channels,)
    return (num, *channels, size, size, 1, generator.w_dim)


def to_reference_layout(jac):
    """`[*out_shape, w_dim]` -> `[*out_shape, 1, w_dim]`, the reference's per-sample layout."""
    return jac.unsqueeze(-2)


def _moving(num_ws, layers, device):
    """bool `[num_ws, 1]`: the layers a tangent moves (all when `layers` is None)."""
    mask = torch.zeros([num_ws, 1], dtype=torch.bool, device=device)
    mask[slice(None) if layers is None else list(layers)] = True
    return mask


def point_of(generator, w, w_base=None, layers=None):
    """The ws `[num_ws, w_dim]` a Jacobian is taken at: `w` `[w_dim]` on `layers` (all by default) and
    `w_base` `[num_ws, w_dim]` elsewhere, or `w` `[num_ws, w_dim]` itself (a w+ point)."""
    w = torch.as_tensor(w, dtype=torch.float32, device=generator.device)
    if w.ndim == 2:
        return w
    point = w.unsqueeze(0).expand(generator.num_ws, -1)
    if layers is None or w_base is None:
        return point
    return torch.where(_moving(generator.num_ws, layers, w.device), point,
                       torch.as_tensor(w_base, dtype=torch.float32, device=w.device))


def _reduce(image, res, size, sum_channels):
    """The reference's reduction of images `[N, C, res, res]`: nearest-neighbour to `size`, channels summed."""
    if size != res:
        image = F.interpolate(image, scale_factor=size / res)
    return image.sum(dim=1) if sum_channels else image


def make_image_function(generator, point, layers=None, size=None, sum_channels=None, synthesis_kwargs=None):
    """`f(delta [w_dim]) -> image` of ws `point` plus `delta` on `layers`, reduced as the reference reduces it."""
    size, sum_channels = reference_output_shape(generator, size, sum_channels)
    kwargs = generator.synthesis_kwargs(for_tangents=True) if synthesis_kwargs is None else dict(synthesis_kwargs)
    moving = _moving(generator.num_ws, layers, point.device).to(point.dtype)

    def image_of(delta):
        image = generator.synthesis((point + moving * delta).unsqueeze(0), **kwargs)
        return _reduce(image, generator.img_resolution, size, sum_channels)[0]

    return image_of


def auto_chunk_size(generator, device=None, budget_bytes=None):
    """Tangents per chunk within a memory budget (default: 2 GiB on CPU, 40% of the free memory on CUDA),
    a tangent costing `generator.tangent_bytes()`. On CPU the largest feature map of a chunk also stays
    near 16 MiB (8 to 32 tangents): larger batches fall out of the caches."""
    device = torch.device(device or generator.device)
    if budget_bytes is None:
        budget_bytes = 0.4 * torch.cuda.mem_get_info(device)[0] if device.type == 'cuda' else 2 * 2 ** 30
    cap = 128
    if device.type != 'cuda':
        cap = int(min(max(CPU_CHUNK_BYTES // (4 * generator.largest_feature_map()), 8), 32))
    return int(max(1, min(cap, budget_bytes // generator.tangent_bytes())))


def pick_method(generator, synthesis_kwargs=None, method='auto'):
    """'tangent' (the generator's own forward-mode pass) where it exists for these settings, else 'jvp'."""
    native = generator.has_forward_mode and not set(synthesis_kwargs or {}) - {'fused_modconv', 'noise_mode'}
    assert method in METHODS and (native or method != 'tangent'), method
    return ('tangent' if native else 'jvp') if method == 'auto' else method


@contextlib.contextmanager
def precision_mode(precision, device):
    """Arithmetic of the tangent passes in the block: 'fp32' (TF32 off, on CUDA too), 'tf32' (TF32 products
    on CUDA, fp32 on CPU) or 'bf16' (autocast; under `jvp` the primal too, so a few activation kinks move)."""
    flags = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = [flag.allow_tf32 for flag in flags]
    for flag in flags:
        flag.allow_tf32 = precision == 'tf32'
    try:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == 'bf16'):
            yield
    finally:
        for flag, value in zip(flags, saved):
            flag.allow_tf32 = value


def make_tangent_function(generator, point, layers=None, size=None, sum_channels=None, synthesis_kwargs=None,
                          method='auto'):
    """`push(tangents [K, w_dim]) -> [K, *out_shape]`: derivatives of the reference image at ws `point`.

    `point` is `[num_ws, w_dim]` (see `point_of`) or `[w_dim]`; a tangent moves `layers` (default: all).
    `method` 'tangent' runs the generator's forward-mode pass (`generator.forward_mode_pass`, its primal
    pass run here, once), 'jvp' `torch.func.jvp` of `make_image_function` under `vmap` (every family),
    'auto' the first where it exists. Same numbers.
    """
    if synthesis_kwargs is None:
        synthesis_kwargs = generator.synthesis_kwargs(for_tangents=True)
    point = point_of(generator, point)
    if pick_method(generator, synthesis_kwargs, method) == 'jvp':
        image_of = make_image_function(generator, point, layers, size, sum_channels, synthesis_kwargs)
        origin = torch.zeros(point.shape[1], dtype=point.dtype, device=point.device)
        return vmap(lambda tangent: jvp(image_of, (origin,), (tangent,))[1])
    size, sum_channels = reference_output_shape(generator, size, sum_channels)
    moving = set(range(generator.num_ws)) if layers is None else set(int(i) for i in layers)
    pass_ = generator.forward_mode_pass(point.unsqueeze(0), synthesis_kwargs.get('noise_mode', 'const'))

    def push(tangents):
        image_t = pass_([tangents if i in moving else None for i in range(generator.num_ws)])
        return _reduce(image_t, generator.img_resolution, size, sum_channels)

    return push


def jacobian_of_sample(push, w_dim, chunk_size=64, device=None, on_chunk=None, precision='fp32'):
    """Jacobian `[*out_shape, w_dim]` from `push` (see `make_tangent_function`), by chunks of basis vectors."""
    eye = torch.eye(w_dim, device=device)
    columns = []
    for start in range(0, w_dim, chunk_size):
        with precision_mode(precision, eye.device):
            columns.append(push(eye[start:start + chunk_size]).float())  # [chunk, *out_shape]
        if on_chunk is not None:
            on_chunk(columns[-1].shape[0])
    return torch.cat(columns).movedim(0, -1)


def iter_jacobians(generator, w, layers=None, size=None, sum_channels=None, chunk_size=None, w_base=None,
                   progress=False, synthesis_kwargs=None, method='auto', on_chunk=None, precision='fp32'):
    """Yield each sample's Jacobian `[*out_shape, w_dim]` (a torch tensor on the model's device).

    Args:
        w: `[N, w_dim]` latents, one `w` on every layer (or on `layers`, with `w_base`
            `[num_ws, w_dim]` elsewhere); or `[N, num_ws, w_dim]` w+ codes, each
            layer its own (the derivative moves `layers`, all by default, together).
        synthesis_kwargs: Of `generator.synthesis` (default: its `synthesis_kwargs(for_tangents=True)`).
        method, precision: See `make_tangent_function` and `precision_mode`.
        on_chunk: Called with the number of tangents after each chunk (progress inside a sample).
    """
    device = generator.device
    w = torch.as_tensor(w, dtype=torch.float32, device=device)
    assert w.shape[-1] == generator.w_dim and w.ndim in (2, 3), w.shape
    assert precision in PRECISIONS, precision
    chunk_size = chunk_size or auto_chunk_size(generator, device)
    for idx in tqdm(range(len(w)), desc='jacobians', unit='sample', disable=not progress):
        point = point_of(generator, w[idx], w_base, layers)
        push = make_tangent_function(generator, point, layers, size, sum_channels, synthesis_kwargs, method)
        with torch.no_grad():
            yield jacobian_of_sample(push, generator.w_dim, chunk_size, device, on_chunk, precision)


def compute_jacobians(generator, w, layers=None, size=None, sum_channels=None, chunk_size=None, progress=False,
                      synthesis_kwargs=None, method='auto', out=None, precision='fp32'):
    """Jacobians of images w.r.t. `w` for `N` latents `[N, w_dim]`, in the reference layout.

    Memory stays bounded by one sample's chunk of tangents: each sample is written
    into `out` as soon as it is done.

    Args:
        layers: ws indices to differentiate (default: all, like the reference).
        size: Jacobian resolution (default: 256 for larger images, else the image size).
        sum_channels: Sum over colour channels (default: when the image was reduced).
        chunk_size: Basis vectors per batched pass; sets the peak memory (default: `auto_chunk_size`).
        out: Array of `jacobian_shape(generator, N, size, sum_channels)` to fill (default: a new one).
        synthesis_kwargs, method, precision: As in `iter_jacobians`.
    """
    shape = jacobian_shape(generator, len(w), size, sum_channels)
    out = np.empty(shape, dtype=np.float32) if out is None else out
    assert tuple(out.shape) == shape, (out.shape, shape)
    samples = iter_jacobians(generator, w, layers, size, sum_channels, chunk_size, progress=progress,
                             synthesis_kwargs=synthesis_kwargs, method=method, precision=precision)
    for idx, jac in enumerate(samples):
        out[idx] = to_reference_layout(jac).cpu().numpy()
    return out


def reverse_mode_jacobian(generator, w, noise_mode='const'):
    """The reference method: `torch.autograd.functional.jacobian` on the reference wrapper.

    For one latent `w` `[1, w_dim]`; returns `[1, *out_shape, 1, w_dim]`. Slow by
    design (one backward pass per output value): used for checks and benchmarks.
    """
    num_ws = generator.num_ws
    kwargs = generator.synthesis_kwargs(noise_mode)

    def syn2jaco(w):
        wp = w.unsqueeze(1).repeat((1, num_ws, 1))
        image = generator.synthesis(wp, **kwargs)
        if image.shape[-1] > 256:
            image = F.interpolate(image, scale_factor=256 / image.shape[-1])
            image = torch.sum(image, dim=1)
        return image

    return torch.autograd.functional.jacobian(syn2jaco, w, create_graph=False, strict=False)
