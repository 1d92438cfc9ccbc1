"""Train the built-in face generator: a StyleGAN2 regressed onto the procedural face renderer.

Method (stated plainly, as in the model card `docs/builtin_faces64.md`): this is
not adversarial training. Each step draws latent codes `z`, maps each to the
renderer's factors by the fixed rule `demo.faces.factors_from_z`, renders the
faces, and moves the generator so that `G(z)` reproduces them: an L1 + L2
loss on the image and on its 2x and 4x reductions. The generator is the
toolkit's own `StyleGAN2Generator` (mapping network, styles, modulated
convolutions, constant noise), so every script reads the result unchanged.
An exponential moving average of the weights is what is shipped, with `w_avg`
set to the mean `w` of 10,000 codes (for truncation).

    python -m demo.train                          # about 80 minutes on a 2-core CPU
    python -m demo.train --kimg 2 --out /tmp/try  # a quick trial

Writes into `--out`: `state.pt` (everything needed to resume, every
`--snapshot_kimg`), `samples_<kimg>.png` (a grid of generated faces above the
rendered targets), `log.jsonl`, and at the end `faces64.pt`, the shipped file.
Running the same command again resumes from `state.pt`.
"""

import json
import math
import os
import sys
import time

import click
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from cli.options import parse_device
from demo import faces
from models import build_generator
from utils.fileio import atomic_path, save_json

# The architecture of the built-in model: 64x64, 32 feature maps at 64, 64 at 32, 128 below; one z
# coordinate per factor of the renderer.
CONFIG = dict(z_dim=faces.Z_DIM, w_dim=128, img_resolution=64, mapping_layers=6, channel_base=2048, channel_max=128,
              mapping_lr_multiplier=1.0)  # the mapping must learn the factor rule: no 100x slower learning rate
SIZE = CONFIG['img_resolution']


def targets(z):
    """Rendered faces of codes `z` `[N, z_dim]` (numpy), as float images `[N, 3, 64, 64]` in [-1, 1].

    The factors are read from `z` normalised to unit mean square, as the mapping network sees it
    (it normalises `z` first, so the length of `z` could not be learned).
    """
    z = z / np.sqrt(np.mean(np.square(z), axis=1, keepdims=True) + 1e-8)
    images = faces.render_batch(z, size=SIZE)  # uint8 [N, 64, 64, 3]
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def image_loss(fake, real):
    """L1 + L2 on the image and on its 2x and 4x reductions (coarse structure weighs as much as detail)."""
    loss = 0
    for _ in range(3):
        loss = loss + (fake - real).abs().mean() + (fake - real).square().mean()
        fake, real = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2)
    return loss


def save_grid(path, images, columns):
    """uint8-converted `[N, 3, H, W]` images in [-1, 1] as one PNG grid."""
    images = ((images.detach().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    grid = torch.zeros([c, rows * h, columns * w], dtype=torch.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        grid[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = image
    with atomic_path(path) as tmp:
        Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp, format='PNG')


@torch.no_grad()
def mean_w(generator, seed=123, num=10000):
    """The mean `w` of `num` codes (the model's `w_avg`, the centre of truncation)."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(num, generator.z_dim).astype(np.float32))
    z = z.to(generator.mapping.w_avg.device)
    return torch.cat([generator.mapping(z[i:i + 1000])[:, 0] for i in range(0, num, 1000)]).mean(0)


def export(generator, path, meta):
    """The shipped file: config, float16 weights (w_avg included) and facts; read by `models.builtin`."""
    state = {key: value.detach().cpu().to(torch.float16) if value.is_floating_point() else value.cpu()
             for key, value in generator.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({'family': 'stylegan2', 'config': generator.config.to_dict(), 'state_dict': state,
                    'meta': meta}, tmp)


@click.command(help=__doc__)
@click.option('--out', default='demo/runs/faces64', show_default=True, metavar='DIR', help='Run folder.')
@click.option('--kimg', type=click.IntRange(min=1), default=150, show_default=True,
              help='Thousands of faces to train on.')
@click.option('--batch', type=click.IntRange(min=1), default=8, show_default=True, help='Faces per step.')
@click.option('--lr', type=float, default=2e-3, show_default=True, help='Adam learning rate (cosine decay to 5%).')
@click.option('--ema_kimg', type=float, default=5.0, show_default=True,
              help='Half-life of the weight average, in thousands of faces.')
@click.option('--snapshot_kimg', type=click.IntRange(min=1), default=10, show_default=True,
              help='Save the state and a sample grid this often.')
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of the weights and of the codes.')
@click.option('--threads', type=click.IntRange(min=1), default=None, help='torch threads. [default: torch decides]')
@click.option('--device', default='cpu', show_default=True,
              help="'cpu', 'cuda' or 'cuda:N' (the faces are still drawn on the CPU).")
def main(out, kimg, batch, lr, ema_kimg, snapshot_kimg, seed, threads, device):
    for name, value in (('--lr', lr), ('--ema_kimg', ema_kimg)):
        if not math.isfinite(value) or value <= 0:
            raise click.BadParameter(f'{value} is not a positive number', param_hint=name)
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(parse_device(device))
    if os.path.exists(out) and not os.path.isdir(out):
        raise click.BadParameter(f'{out}: exists and is not a folder', param_hint='--out')
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    G = build_generator('stylegan2', **CONFIG).train().to(device)
    G_ema = build_generator('stylegan2', **CONFIG).eval().requires_grad_(False).to(device)
    G_ema.load_state_dict(G.state_dict())
    optimizer = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-8)
    total_steps = kimg * 1000 // batch
    step, seconds = 0, 0.0
    state_path = os.path.join(out, 'state.pt')
    if os.path.isfile(state_path):
        state = torch.load(state_path, map_location=device, weights_only=True)
        G.load_state_dict(state['G'])
        G_ema.load_state_dict(state['G_ema'])
        optimizer.load_state_dict(state['optimizer'])
        step, seconds = int(state['step']), float(state['seconds'])
        click.echo(f'Resuming at {step * batch / 1000:.1f} kimg')
    fixed_z = np.random.RandomState(seed + 1).randn(16, CONFIG['z_dim']).astype(np.float32)
    fixed_targets = targets(fixed_z).to(device)
    ema_beta = 0.5 ** (batch / (ema_kimg * 1000))
    log = open(os.path.join(out, 'log.jsonl'), 'a', encoding='utf-8')
    bar = tqdm(total=total_steps, initial=step, desc='training', unit='step')
    while step < total_steps:
        start = time.perf_counter()
        z = np.random.RandomState([seed, step]).randn(batch, CONFIG['z_dim']).astype(np.float32)
        real = targets(z).to(device)
        for group in optimizer.param_groups:
            group['lr'] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
        fake = G(torch.from_numpy(z).to(device), noise_mode='const')
        loss = image_loss(fake, real)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for ema, param in zip(G_ema.parameters(), G.parameters()):
                ema.lerp_(param, 1 - ema_beta)
            for ema, buffer in zip(G_ema.buffers(), G.buffers()):
                ema.copy_(buffer)
        step += 1
        seconds += time.perf_counter() - start
        bar.update(1)
        bar.set_postfix(loss=f'{loss.item():.4f}', kimg=f'{step * batch / 1000:.1f}')
        if step % 50 == 0:
            log.write(json.dumps({'step': step, 'kimg': step * batch / 1000, 'loss': loss.item(),
                                  'seconds': seconds}) + '\n')
            log.flush()
        if step % max(1, snapshot_kimg * 1000 // batch) == 0 or step == total_steps:
            with torch.no_grad():
                samples = G_ema(torch.from_numpy(fixed_z).to(device), noise_mode='const')
            save_grid(os.path.join(out, f'samples_{round(step * batch / 1000):05d}.png'),
                      torch.cat([samples, fixed_targets]), columns=8)
            with atomic_path(state_path) as tmp:
                torch.save({'G': G.state_dict(), 'G_ema': G_ema.state_dict(), 'optimizer': optimizer.state_dict(),
                            'step': step, 'seconds': seconds}, tmp)
    bar.close()
    log.close()
    G_ema.mapping.w_avg.copy_(mean_w(G_ema))
    meta = {'method': 'regression onto demo.faces (L1 + L2, three scales), weights averaged',
            'kimg': kimg, 'batch': batch, 'lr': lr, 'seed': seed, 'seconds': round(seconds),
            'threads': torch.get_num_threads(), 'torch': str(torch.__version__),
            'command': 'python -m demo.train ' + ' '.join(sys.argv[1:])}
    export(G_ema, os.path.join(out, 'faces64.pt'), meta)
    save_json(os.path.join(out, 'meta.json'), meta)
    click.echo(f'Trained {kimg} kimg in {seconds / 3600:.2f} h: {os.path.join(out, "faces64.pt")}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
