"""Moving latent codes along directions on chosen layers."""

import numpy as np
import torch


def distances(start, end, steps):
    """`steps` evenly spaced distances from `start` to `end` (float32), as the original scripts."""
    if steps < 1:
        raise ValueError(f'step must be at least 1, got {steps}')
    return np.linspace(start, end, steps).astype(np.float32)


def check_layers(layers, num_ws, option='--mani_layers'):
    """Validate ws indices against the model; None stays None (all layers)."""
    if layers is None:
        return None
    bad = [i for i in layers if not 0 <= i < num_ws]
    if bad:
        raise ValueError(f'{option}: layer {bad[0]} is out of range; this model has layers 0-{num_ws - 1}')
    if not layers:
        raise ValueError(f'{option}: no layers selected')
    return list(layers)


def edit_codes(ws, direction, layers=None, distances=(0.0,)):
    """Move `ws` along `direction` on `layers` by each distance.

    Args:
        ws: `[N, num_ws, w_dim]` codes.
        direction: `[w_dim]` direction.
        layers: ws indices to edit (None = all).
        distances: `[S]` distances.

    Returns:
        `[N, S, num_ws, w_dim]`: `ws + d * direction` on the chosen layers, `ws` elsewhere.
    """
    ws = torch.as_tensor(ws, dtype=torch.float32)
    direction = torch.as_tensor(np.asarray(direction, dtype=np.float32), device=ws.device).reshape(-1)
    if direction.shape[0] != ws.shape[-1]:
        raise ValueError(f'direction has {direction.shape[0]} values but w_dim is {ws.shape[-1]}')
    steps = torch.as_tensor(np.asarray(distances, dtype=np.float32), device=ws.device)
    delta = steps.reshape(1, -1, 1, 1) * direction.reshape(1, 1, 1, -1)  # [1, S, 1, w_dim]
    mask = torch.zeros([1, 1, ws.shape[1], 1], dtype=torch.bool, device=ws.device)
    mask[:, :, slice(None) if layers is None else list(layers)] = True
    edited = ws.unsqueeze(1) + delta
    return torch.where(mask, edited, ws.unsqueeze(1).expand_as(edited))


def region_change_share(original, edited, mask):
    """Share of the absolute pixel change that falls inside `mask`.

    Args:
        original: `[C, H, W]` image.
        edited: `[S, C, H, W]` edits of it.
        mask: bool `[h, w]`, resized to `H x W` by nearest neighbour when needed.

    Returns:
        `[S]` numbers in [0, 1] (NaN where nothing changed).
    """
    change = (torch.as_tensor(edited) - torch.as_tensor(original).unsqueeze(0)).abs().sum(dim=1)  # [S, H, W]
    mask = torch.as_tensor(np.asarray(mask), dtype=torch.float32)
    if mask.shape != change.shape[1:]:
        mask = torch.nn.functional.interpolate(mask[None, None], size=change.shape[1:], mode='nearest')[0, 0]
    inside = (change * mask).flatten(1).sum(1)
    total = change.flatten(1).sum(1)
    return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.full_like(total, float('nan'))).numpy()
