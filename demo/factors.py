"""A small network that reads the renderer's factors back from a face image: the ruler of the semantics checks.

For each factor of `demo.faces`, the network predicts where the image sits in
that factor's range, `u` in [0, 1] (`demo.faces.positions` of its code, which
`factors_from_z` maps onto the range); for the two cyclic hues it predicts the
angle `(cos 2 pi u, sin 2 pi u)`. Trained on faces the renderer draws (64x64),
it measures what an edit of a generated face changed: `factor_change` gives,
per factor, how far the prediction moved, as a share of the factor's range.

    python -m demo.factors                # trains and writes demo/factor_reader.pt (a few minutes)
"""

import math
import os

import click
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from demo import faces
from utils.fileio import atomic_path
from utils.images import from_uint8

__all__ = ['FactorReader', 'load_reader', 'read_factors', 'factor_change', 'WEIGHTS']

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'factor_reader.pt')
CYCLIC = [i for i, factor in enumerate(faces.FACTORS) if factor.name in ('iris_hue', 'background')]
PLAIN = [i for i in range(faces.NUM_FACTORS) if i not in CYCLIC]
OUTPUTS = len(PLAIN) + 2 * len(CYCLIC)  # u of each plain factor, then cos and sin of each cyclic one


class FactorReader(nn.Module):
    """64x64 face image in [-1, 1] -> the factors' positions `u` `[N, NUM_FACTORS]` in [0, 1]."""

    def __init__(self, width=32):
        super().__init__()
        channels = [3, width, 2 * width, 4 * width, 4 * width]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(channels, channels[1:]))
        self.fc = nn.Linear(channels[-1] * 16, 256)
        self.out = nn.Linear(256, OUTPUTS)

    def forward(self, images):
        x = images
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2)
        return self.out(x)  # [N, OUTPUTS]


def _targets(u):
    """Training targets `[N, OUTPUTS]` of positions `u` `[N, NUM_FACTORS]`."""
    angles = 2 * np.pi * u[:, CYCLIC]
    return np.concatenate([u[:, PLAIN], np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def _positions(outputs):
    """Positions `u` `[N, NUM_FACTORS]` in [0, 1] of network outputs."""
    u = torch.empty([len(outputs), faces.NUM_FACTORS], dtype=outputs.dtype, device=outputs.device)
    u[:, PLAIN] = outputs[:, :len(PLAIN)].clamp(0, 1)
    k = len(CYCLIC)
    cos, sin = outputs[:, len(PLAIN):len(PLAIN) + k], outputs[:, len(PLAIN) + k:]
    u[:, CYCLIC] = torch.remainder(torch.atan2(sin, cos) / (2 * math.pi), 1.0)
    return u


def _batch(rng, size):
    """Rendered faces `[N, 3, 64, 64]` in [-1, 1] and their positions `u` `[N, NUM_FACTORS]`."""
    z = rng.randn(size, faces.Z_DIM).astype(np.float32)
    return from_uint8(faces.render_batch(z, size=64)), faces.positions(z)


def load_reader(path=WEIGHTS):
    """The trained reader (float32, eval mode)."""
    if not os.path.isfile(path):
        raise ValueError(f'{path}: the factor reader is missing (python -m demo.factors trains it)')
    state = torch.load(path, map_location='cpu', weights_only=True)
    reader = FactorReader(int(state['width']))
    reader.load_state_dict({k: v.float() for k, v in state['state_dict'].items()}, strict=True)
    return reader.eval().requires_grad_(False)


@torch.no_grad()
def read_factors(reader, images):
    """Positions `u` `[N, NUM_FACTORS]` of the factors of images `[N, 3, 64, 64]` in [-1, 1] (larger images are reduced)."""
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.shape[-1] != 64:
        images = F.interpolate(images, size=(64, 64), mode='area')
    return _positions(reader(images.clamp(-1, 1)))


def factor_change(before, after):
    """Per factor, how far the positions moved `[N, NUM_FACTORS]`, as a share of the range (cyclic: the shorter way)."""
    delta = (after - before).abs()
    delta[:, CYCLIC] = torch.minimum(delta[:, CYCLIC], 1 - delta[:, CYCLIC])
    return delta


@click.command()
@click.option('--steps', type=click.IntRange(min=1), default=3000, show_default=True)
@click.option('--batch', type=click.IntRange(min=1), default=64, show_default=True)
@click.option('--out', default=WEIGHTS, show_default=True)
@click.option('--seed', type=int, default=1, show_default=True)
def main(steps, batch, out, seed):
    torch.manual_seed(seed)
    rng = np.random.RandomState(seed)
    reader = FactorReader()
    optimizer = torch.optim.Adam(reader.parameters(), lr=1e-3)
    bar = tqdm(range(steps), desc='factor reader', unit='step')
    for step in bar:
        images, u = _batch(rng, batch)
        for group in optimizer.param_groups:
            group['lr'] = 1e-3 * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        loss = (reader(images) - torch.from_numpy(_targets(u))).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f'{loss.item():.4f}')
    reader.eval()
    images, u = _batch(np.random.RandomState(seed + 1000), 512)
    error = factor_change(torch.from_numpy(u).float(), read_factors(reader, images)).mean(0)
    click.echo('held-out mean error per factor (share of its range): ' +
               ', '.join(f'{f.name} {e:.3f}' for f, e in zip(faces.FACTORS, error.tolist())))
    with atomic_path(out) as tmp:
        torch.save({'width': 32, 'state_dict': {k: v.half() for k, v in reader.state_dict().items()},
                    'held_out_error': dict(zip(faces.FACTOR_NAMES, error.tolist()))}, tmp)
    click.echo(f'Factor reader: {out}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
