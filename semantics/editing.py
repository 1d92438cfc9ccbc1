"""Moving latent codes along directions on chosen layers, and the grid of edits the pages show.

An edit moves ws `[N, num_ws, w_dim]` along a unit direction `v` `[w_dim]` on the chosen layers only: `ws[:, l] + d * v`
for `l` in the layers, `ws[:, l]` elsewhere. Layers, distances and directions come checked from the edge.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from . import sampling


DEFAULT_LAYERS = [4, 5, 6, 7]       # the layers ReSeFa's manipulate.py edits by default
DEFAULT_DISTANCES = (-10.0, 10.0)   # and its distances, in DEFAULT_STEPS steps
DEFAULT_STEPS = 7


def distances(start, end, steps):
    """`steps` evenly spaced distances from `start` to `end` (float32), as the original scripts."""
    return np.linspace(start, end, steps).astype(np.float32)


def _moving(num_ws, layers, device):
    """bool `[num_ws, 1]`: the layers an edit moves (all when `layers` is None)."""
    mask = torch.zeros([num_ws, 1], dtype=torch.bool, device=device)
    mask[slice(None) if layers is None else list(layers)] = True
    return mask


def edit_codes(ws, direction, layers=None, distances=(0.0,)):
    """`[N, S, num_ws, w_dim]`: `ws` moved along `direction` on `layers` (None: all) by each of the distances."""
    ws = torch.as_tensor(ws, dtype=torch.float32)
    direction = torch.as_tensor(np.asarray(direction, dtype=np.float32), device=ws.device).reshape(-1)
    steps = torch.as_tensor(np.asarray(distances, dtype=np.float32), device=ws.device)
    delta = steps.reshape(1, -1, 1, 1) * direction.reshape(1, 1, 1, -1)  # [1, S, 1, w_dim]
    return ws.unsqueeze(1) + delta * _moving(ws.shape[1], layers, ws.device)


def apply_edits(ws, edits):
    """`ws` `[N, num_ws, w_dim]` moved by `(direction [w_dim], layers or None, distance)` triples, all at once."""
    ws = torch.as_tensor(ws, dtype=torch.float32).clone()
    for direction, layers, distance in edits:
        vector = torch.as_tensor(np.asarray(direction, dtype=np.float32), device=ws.device).reshape(-1)
        ws += float(distance) * vector * _moving(ws.shape[1], layers, ws.device)
    return ws


@torch.no_grad()
def render_edits(generator, ws, direction, layers, distances, noise_mode='const', truncation_psi=1, batch_size=8):
    """Images `[S, C, H, W]` of one code `[1, num_ws, w_dim]` moved along `direction` on `layers` by each distance."""
    ws = torch.as_tensor(ws).reshape(1, generator.num_ws, generator.w_dim)
    edited = edit_codes(ws, direction, layers, distances)[0]  # [S, num_ws, w_dim]
    return sampling.render(generator, edited, noise_mode, truncation_psi, batch_size).float()


def region_change_share(original, edited, mask):
    """`[S]` shares (NaN: no change) of the pixel change of each edit `[S, C, H, W]` that falls inside `mask`."""
    change = (torch.as_tensor(edited) - torch.as_tensor(original).unsqueeze(0)).abs().sum(dim=1)  # [S, H, W]
    mask = torch.as_tensor(np.asarray(mask), dtype=torch.float32, device=change.device)
    inside = (change * mask).flatten(1).sum(1)
    total = change.flatten(1).sum(1)
    share = torch.where(total > 0, inside / total.clamp_min(1e-30), torch.full_like(total, float('nan')))
    return share.cpu().numpy()


@dataclass
class Edit:
    """One row of an edit grid: a sample moved along one direction."""

    sample: int                   # Index of the sample (row of ws).
    direction: int                # Index of the direction (row of the directions array).
    original: torch.Tensor        # [C, H, W] image of the unedited sample (CPU, float32).
    images: torch.Tensor          # [S, C, H, W] images at each distance (CPU, float32).
    share: Optional[float]        # Mean share of the pixel change inside the region (None without one).


def edit_grid(generator, ws, directions, layers, distances, indices=None, noise_mode='const', truncation_psi=1,
              region_mask=None, batch_size=8):
    """One `Edit` per (sample, direction), sample-major: every code of `ws` moved along the rows `indices` (default
    all) of `directions` on `layers` by `distances`; with `region_mask`, the share of each change inside it."""
    directions = np.asarray(directions, dtype=np.float32)
    for sample in range(len(ws)):
        code = torch.as_tensor(ws[sample:sample + 1])
        original = sampling.render(generator, code, noise_mode, truncation_psi)[0].float().cpu()
        for index in range(len(directions)) if indices is None else indices:
            images = render_edits(generator, code, directions[index], layers, distances, noise_mode,
                                  truncation_psi, batch_size).cpu()
            share = None
            if region_mask is not None:
                shares = region_change_share(original, images, region_mask)
                share = float(np.nanmean(shares)) if np.isfinite(shares).any() else float('nan')
            yield Edit(sample, index, original, images, share)
