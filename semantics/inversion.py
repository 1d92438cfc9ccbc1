"""Projecting images into W or W+: NVlabs' `projector.py` method, with distances that need no download.

As StyleGAN2-ADA's projector: from `w_avg`, Adam on `w` (or `w+`, optionally the noise buffers) with a ramped learning
rate and decaying noise on `w`. The default distance is the multi-scale squared error plus `1 - SSIM`, on the image as
displayed; VGG16 weights (`semantics.vgg16`) add NVlabs' LPIPS-style distance. `project()` is deterministic for a seed.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class ProjectionSettings:
    """NVlabs' defaults, and what this toolkit adds."""

    steps: int = 1000                       # Optimisation steps.
    space: str = 'w'                        # 'w' (one code shared by every layer) or 'wp' (one per layer).
    initial_learning_rate: float = 0.1      # Peak learning rate of Adam.
    lr_rampup_length: float = 0.05          # Share of the steps the learning rate ramps up over.
    lr_rampdown_length: float = 0.25        # Share of the steps it ramps down over (half cosine).
    initial_noise_factor: float = 0.05      # Noise added to w at the start, in units of w_std.
    noise_ramp_length: float = 0.75         # Share of the steps over which that noise decays to zero.
    optimize_noise: bool = False            # Optimise the noise buffers too (kept fixed by default).
    regularize_noise_weight: float = 1e5    # Weight of the noise regulariser.
    ssim_weight: float = 0.1                # Weight of 1 - SSIM in the default distance.
    w_avg_samples: int = 10000              # Codes that give w_avg and w_std.
    seed: int = 0                           # Seed of the optimisation's randomness.
    record_every: int = 0                   # Keep a rendered frame every this many steps (0: none).


@dataclass
class Projection:
    """The result of projecting one image."""

    ws: torch.Tensor                        # [1, num_ws, w_dim] the codes found (w repeated for space 'w').
    w: torch.Tensor                         # [1, w_dim] for space 'w', [1, num_ws, w_dim] for 'wp'.
    image: torch.Tensor                     # [1, C, H, W] the reconstruction, in [-1, 1].
    noise: dict                             # {buffer name: tensor} when the noise was optimised, else {}.
    losses: list                            # The loss at every step.
    frames: list                            # [C, H, W] images every `record_every` steps.


class ImageError(ValueError):
    """An image whose pixel values have no 8-bit reading (NaN, or beyond the range of its type)."""


def fit_target(image, resolution, channels=3):
    """`(target [1, C, R, R] in [-1, 1], note or None)` of a PIL image: its first frame, as 8 bits, composited onto
    white, resized so that its shorter side is `resolution` and centre-cropped; the note says what changed it."""
    from PIL import Image
    notes = []
    try:
        frames = image.n_frames
    except AttributeError:  # formats that hold one frame only
        frames = 1
    if frames > 1:
        image.seek(0)
        notes.append(f'first of {frames} frames used')
    image, note = _to_8bit(image)
    notes += [note] if note else []
    if image.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or 'transparency' in image.info:
        image = image.convert('RGBA')
        if image.getchannel('A').getextrema()[0] < 255:
            image = Image.alpha_composite(Image.new('RGBA', image.size, (255, 255, 255, 255)), image)
            notes.append('transparent pixels composited onto white')
    image = image.convert('L' if channels == 1 else 'RGB')
    width, height = image.size
    if (width, height) != (resolution, resolution):
        scale = resolution / min(width, height)
        size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
        image = image.resize(size, Image.LANCZOS)
        left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
        image = image.crop((left, top, left + resolution, top + resolution))
        notes.append(f'{width}x{height} resized to {size[0]}x{size[1]} and centre-cropped to {resolution}x{resolution}')
    array = np.atleast_3d(np.asarray(image, dtype=np.float32))  # [R, R, C]
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None] / 127.5 - 1, '; '.join(notes) or None


def _to_8bit(image):
    """`(image, note or None)`: a 16-bit, 32-bit or float grey image as 8-bit grey, other images unchanged."""
    from PIL import Image
    if not (image.mode.startswith('I') or image.mode == 'F'):
        return image, None
    values = np.asarray(image).astype(np.float64)
    finite = np.isfinite(values).all()
    low, high = (float(values.min()), float(values.max())) if finite else (np.nan, np.nan)
    if image.mode == 'F' and 0 <= low and high <= 255:
        scale, note = (255, 'float grey in [0, 1] scaled to 8 bits') if high <= 1 else \
            (1, 'float grey in [0, 255] rounded to 8 bits')
    elif image.mode != 'F' and 0 <= low and high <= 65535:
        scale, note = 1 / 257, f'{"16" if image.mode.startswith("I;16") else "32"}-bit grey scaled to 8 bits'
    else:
        kind = 'float' if image.mode == 'F' else 'integer'
        raise ImageError(f'{kind} pixel values ' + (f'in [{low:g}, {high:g}]' if finite else 'that are NaN or infinite')
                         + (', beyond [0, 1] and [0, 255]' if kind == 'float' else ', beyond [0, 65535]'))
    return Image.fromarray(np.clip(np.round(values * scale), 0, 255).astype(np.uint8)), note


def ssim(a, b, data_range=2.0):
    """Mean SSIM of the grey images of `a` and `b` `[N, C, H, W]` (Gaussian window 11, sigma 1.5)."""
    a, b = a.mean(dim=1, keepdim=True), b.mean(dim=1, keepdim=True)
    size = min(11, a.shape[-1])
    x = torch.arange(size, dtype=torch.float32, device=a.device) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * 1.5 ** 2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :])[None, None]  # [1, 1, size, size]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = F.conv2d(a, window), F.conv2d(b, window)
    var_a = F.conv2d(a * a, window) - mu_a ** 2
    var_b = F.conv2d(b * b, window) - mu_b ** 2
    cov = F.conv2d(a * b, window) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return value.mean()


def image_distance(synth, target, ssim_weight=0.1):
    """The default distance: multi-scale mean squared error plus `ssim_weight * (1 - SSIM)` (images in [-1, 1])."""
    distance = 0
    a, b = synth, target
    while True:
        distance = distance + (a - b).square().mean()
        if a.shape[-1] <= 16:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    if ssim_weight:
        distance = distance + ssim_weight * (1 - ssim(synth, target))
    return distance


def psnr(a, b):
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (peak 2), on uint8-rounded pixels."""
    a, b = (((torch.as_tensor(x).float().clamp(-1, 1) + 1) * 127.5).round() for x in (a, b))
    mse = (a - b).square().mean().item()
    return float('inf') if mse == 0 else 10 * math.log10(255 ** 2 / mse)


def _noise_regulariser(buffers):
    """NVlabs' multi-scale noise regulariser: squared autocorrelation of neighbours, down to 8x8."""
    loss = 0.0
    for buffer in buffers:
        noise = buffer[None, None]
        while True:
            loss = loss + (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
            loss = loss + (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    return loss


def _as_displayed(synth, target):
    """`synth`, except where the target is white (black) and `synth` brighter (darker): displayed, that is no error."""
    edge = 1 - 1 / 255
    beyond = ((target >= edge) & (synth > target)) | ((target <= -edge) & (synth < target))
    return torch.where(beyond, target, synth)


@torch.no_grad()
def w_statistics(generator, samples=10000, seed=123):
    """(w_avg [1, 1, w_dim], w_std) of `samples` codes drawn with `RandomState(seed)` (NVlabs' projector)."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(samples, generator.z_dim).astype(np.float32))
    kwargs = generator.mapping_kwargs(1, None)
    w = torch.cat([generator.mapping(z[i:i + 1000].to(generator.device), None, **kwargs)[:, :1]
                   for i in range(0, samples, 1000)])  # [N, 1, w_dim]
    w_avg = w.mean(dim=0, keepdim=True)
    w_std = float(((w - w_avg).square().sum() / samples) ** 0.5)
    return w_avg, w_std


def project(generator, target, settings=None, distance=None, on_step=None):
    """The `Projection` of `target` `[1, C, H, W]` (in [-1, 1]); `distance(synth, target)` replaces `image_distance`,
    `on_step(step, loss)` is called after every step."""
    settings = settings or ProjectionSettings()
    G, device = generator, generator.device
    target = torch.as_tensor(target, dtype=torch.float32, device=device)
    assert target.shape == (1, G.img_channels, G.img_resolution, G.img_resolution), target.shape
    distance = distance or (lambda synth, real: image_distance(synth, real, settings.ssim_weight))
    w_avg, w_std = w_statistics(G, settings.w_avg_samples)
    random = torch.Generator(device=device).manual_seed(settings.seed)
    w_opt = (w_avg if settings.space == 'w' else w_avg.repeat(1, G.num_ws, 1)).clone().requires_grad_(True)
    noise = G.noise_buffers() if settings.optimize_noise else {}
    saved = {name: buffer.detach().clone() for name, buffer in noise.items()}
    for buffer in noise.values():
        buffer.copy_(torch.randn(buffer.shape, generator=random, device=device))
        buffer.requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt] + list(noise.values()), betas=(0.9, 0.999),
                                 lr=settings.initial_learning_rate)
    kwargs = G.synthesis_kwargs('const', 1)
    losses, frames = [], []
    try:
        for step in range(settings.steps):
            t = step / settings.steps
            w_noise_scale = w_std * settings.initial_noise_factor * max(0.0, 1.0 - t / settings.noise_ramp_length) ** 2
            lr_ramp = min(1.0, (1.0 - t) / settings.lr_rampdown_length)
            lr_ramp = 0.5 - 0.5 * math.cos(lr_ramp * math.pi)
            lr_ramp = lr_ramp * min(1.0, t / settings.lr_rampup_length)
            for group in optimizer.param_groups:
                group['lr'] = settings.initial_learning_rate * lr_ramp
            w_noise = torch.randn(w_opt.shape, generator=random, device=device) * w_noise_scale
            ws = w_opt + w_noise
            ws = ws.repeat(1, G.num_ws, 1) if settings.space == 'w' else ws
            synth = G.synthesis(ws, **kwargs)
            loss = distance(_as_displayed(synth, target), target)
            if noise:
                loss = loss + settings.regularize_noise_weight * _noise_regulariser(noise.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            with torch.no_grad():
                for buffer in noise.values():
                    buffer -= buffer.mean()
                    buffer *= buffer.square().mean().rsqrt()
            if settings.record_every and step % settings.record_every == 0:
                frames.append(synth[0].detach().cpu())
            if on_step is not None:
                on_step(step, losses[-1])
        with torch.no_grad():
            final = w_opt.detach().clone()
            ws = final.repeat(1, G.num_ws, 1) if settings.space == 'w' else final
            image = G.synthesis(ws, **kwargs)
        found = {name: buffer.detach().clone() for name, buffer in noise.items()}
    finally:
        with torch.no_grad():  # the model's own noise comes back: the result is returned, not installed
            for name, buffer in noise.items():
                buffer.requires_grad_(False)
                buffer.copy_(saved[name])
    return Projection(ws=ws.cpu(), w=(final[:, 0] if settings.space == 'w' else final).cpu(), image=image.cpu(),
                      noise={name: value.cpu() for name, value in found.items()}, losses=losses, frames=frames)
