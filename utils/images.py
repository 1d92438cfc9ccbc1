"""Image conversion, resizing, saving and animated GIFs (Pillow only)."""

import base64
import io

import numpy as np
import torch
from PIL import Image

from .fileio import atomic_path


def to_uint8(images):
    """Generator output `[N, C, H, W]` (about [-1, 1]) -> uint8 `[N, H, W, C]`, rounded as the original scripts."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images, dtype=np.float64)
    assert images.ndim == 4 and images.shape[1] in (1, 3, 4), images.shape
    images = np.clip((images + 1) / 2 * 255 + 0.5, 0, 255).astype(np.uint8)
    return images.transpose(0, 2, 3, 1)


def from_uint8(images, device='cpu'):
    """uint8 images `[N, H, W, C]` (numpy) -> float32 `[N, C, H, W]` in [-1, 1] on `device` (inverse of `to_uint8`)."""
    return torch.tensor(np.asarray(images, dtype=np.uint8), device=device).permute(0, 3, 1, 2).float() / 127.5 - 1


def _pil(image):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return Image.fromarray(image)


def resize(image, size):
    """Resize a uint8 `[H, W, C]` image to `size` x `size` pixels."""
    if image.shape[:2] == (size, size):
        return image
    resample = Image.BILINEAR if size >= image.shape[1] else Image.LANCZOS
    out = np.asarray(_pil(image).resize((size, size), resample))
    return out[:, :, None] if out.ndim == 2 else out


def save_image(path, image):
    """Save a uint8 `[H, W, C]` image, JPEG (quality 95) or PNG after the extension, atomically."""
    with atomic_path(path) as tmp:
        jpeg = str(path).lower().endswith(('.jpg', '.jpeg'))
        _pil(image).save(tmp, format='JPEG' if jpeg else 'PNG', quality=95)


def encode_data_uri(image, size):
    """A `data:` URI of a uint8 image as a JPEG, resized to `size` pixels a side first, for an HTML page."""
    buffer = io.BytesIO()
    _pil(resize(image, size)).convert('RGB').save(buffer, format='JPEG', quality=85)
    return f'data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode("ascii")}'


def gif_bytes(frames, size=None, boomerang=True):
    """An animated GIF of uint8 frames `[H, W, C]`, 120 ms each, as bytes; `boomerang` plays forward then back. All
    frames share one palette: no colour flicker."""
    frames = [_pil(resize(f, size) if size else f).convert('RGB') for f in frames]
    width, height = frames[0].size
    mosaic = Image.new('RGB', (width, height * len(frames)))
    for i, frame in enumerate(frames):
        mosaic.paste(frame, (0, i * height))
    palette = mosaic.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    indexed = [frame.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG) for frame in frames]
    if boomerang and len(indexed) > 2:
        indexed = indexed + indexed[-2:0:-1]
    buffer = io.BytesIO()
    indexed[0].save(buffer, format='GIF', save_all=True, append_images=indexed[1:], duration=120, loop=0)
    return buffer.getvalue()


def save_gif(path, frames, size=None, boomerang=True):
    """Animated GIF of uint8 frames `[H, W, C]` written to `path` (see `gif_bytes`), atomically."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as file:
        file.write(gif_bytes(frames, size, boomerang))


def png_bytes(image):
    """A uint8 `[H, W, C]` image as PNG bytes."""
    buffer = io.BytesIO()
    _pil(image).save(buffer, format='PNG')
    return buffer.getvalue()


def outline(image, mask, color=(255, 214, 0), width=2):
    """`image` (uint8 `[H, W, C]`) with the border of `mask` (bool, any size: nearest-resized) drawn in `color`."""
    mask = np.asarray(mask, dtype=bool)
    rows = np.floor(np.arange(image.shape[0]) * (mask.shape[0] / image.shape[0])).astype(np.int64)
    cols = np.floor(np.arange(image.shape[1]) * (mask.shape[1] / image.shape[1])).astype(np.int64)
    mask = inner = mask[rows][:, cols]
    for _ in range(width):  # erode by one pixel per step (beyond the image counts as inside): what remains is inside
        padded = np.pad(inner, 1, constant_values=True)
        inner = inner & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    out = np.array(image, copy=True)
    out[mask & ~inner] = np.asarray(color, dtype=np.uint8)[:out.shape[2]]
    return out
