"""Train the built-in face generator: a StyleGAN2 regressed onto the procedural face renderer.

Method (stated plainly, as in the model card `docs/builtin_faces64.md`): this is
not adversarial training. Each step draws latent codes `z`, maps each to the
renderer's factors by the fixed rule `demo.faces.factors_from_z`, renders the
faces, and moves the generator so that `G(z)` reproduces them: an L1 + L2
loss on the image and on its 2x and 4x reductions, weighted `--feature_weight`
times inside the boxes of the eyes, brows, nose and mouth. Half of each batch
are pairs: a code and the same code with one local factor's coordinate drawn
again, and a second loss asks the generator's change between the two to be the
renderer's (`--pair_weight`), which is zero outside that factor's region. The
mapping network reads only the factors' coordinates of `z` (the rest sets a
length that the rule divides out): its first layer's other weights are zero. The generator is the
toolkit's own `StyleGAN2Generator` (mapping network, styles, modulated
convolutions, constant noise), so every script reads the result unchanged.
An exponential moving average of the weights is what is shipped, with `w_avg`
set to the mean `w` of 10,000 codes (for truncation).

    python -m demo.train --minutes 420 --threads 1   # from random weights on a CPU core
    python -m demo.train --kimg 2 --out /tmp/try  # a quick trial
    python -m demo.train --device cuda --workers 12 --batch 32 --minutes 5 --init models/builtin/faces64.pt \
        --out demo/runs/faces64-gpu                # more training on a GPU, from the shipped weights

On a GPU the renderer is the bottleneck: `--workers` draws the faces in that many
processes (each batch is seeded by its step alone, so the faces do not depend on it).
`--minutes` bounds the training time: the learning rate then decays over
whichever of `--kimg` and `--minutes` runs out first.

Writes into `--out`, every `--snapshot_kimg`: `state.pt` (everything needed to
resume), `samples_<kimg>.png` (a grid of generated faces above the rendered
targets), and `faces64.pt`, in the shipped file's format (every
script reads it as a model: `python sefa.py demo/runs/faces64/faces64.pt`); and `log.jsonl`.
Running the same command again resumes from `state.pt`.
"""

import collections
import json
import math
import multiprocessing
import os
import sys
import time

import click
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from cli.options import FiniteFloat, parse_device
from demo import faces
from models import build_generator, builtin
from utils.fileio import atomic_path, save_json
from utils.images import from_uint8, save_image, to_uint8

# The architecture of the built-in model: 64x64, 32 feature maps at 64, 64 at 32, 128 below; z of 512
# coordinates, the first 20 the renderer's factors (demo.faces.positions).
CONFIG = dict(z_dim=faces.Z_DIM, w_dim=128, img_resolution=64, mapping_layers=6, channel_base=2048, channel_max=128,
              mapping_lr_multiplier=1.0)  # the mapping must learn the factor rule: no 100x slower learning rate
SIZE = CONFIG['img_resolution']
POSITIVE = FiniteFloat(min=0, min_open=True)


def targets(z):
    """The renderer's faces of codes `z` `[N, z_dim]` (numpy, the rule of `demo.faces.positions`), as float
    images `[N, 3, 64, 64]` in [-1, 1]."""
    return from_uint8(faces.render_batch(z, SIZE))


# The factors drawn inside a box of their own: the pairs of a batch differ in one of these.
LOCAL = [i for i, factor in enumerate(faces.FACTORS) if factor.region != 'global']
FEATURES = ('eyes', 'brows', 'nose', 'mouth')


def batch_codes(seed, step, batch):
    """The codes of training step `step`, seeded by the step alone, so resuming draws the same ones.

    The second half repeats the first with one local factor's coordinate drawn again: pairs of faces
    that differ in that factor only.
    """
    rng = np.random.RandomState([seed, step])
    z = rng.randn(batch, CONFIG['z_dim']).astype(np.float32)
    half = batch // 2
    z[batch - half:] = z[:half]
    z[np.arange(batch - half, batch), rng.choice(LOCAL, half)] = rng.randn(half)
    return z


def feature_weights(feature_weight, device):
    """`[1, 1, 64, 64]`: `feature_weight` inside the boxes of FEATURES, 1 elsewhere."""
    mask = np.any([faces.region_mask(name, SIZE) for name in FEATURES], axis=0)
    return torch.from_numpy(1 + (feature_weight - 1) * mask.astype(np.float32))[None, None].to(device)


def _render_step(args):
    seed, step, batch = args
    z = batch_codes(seed, step, batch)
    return z, faces.render_batch(z, SIZE)


class Batches:
    """`(z, faces)` of the steps from `first` on, drawn ahead by `workers` processes (none: drawn here)."""

    def __init__(self, seed, batch, first, workers):
        self.seed, self.batch, self.next_step = seed, batch, first
        self.pool = multiprocessing.get_context('spawn').Pool(workers) if workers else None
        self.pending = collections.deque()
        self.ahead = 2 * workers

    def _submit(self):
        args = (self.seed, self.next_step, self.batch)
        self.pending.append(self.pool.apply_async(_render_step, (args,)))
        self.next_step += 1

    def get(self):
        if self.pool is None:
            result = _render_step((self.seed, self.next_step, self.batch))
            self.next_step += 1
            return result
        while len(self.pending) < self.ahead:
            self._submit()
        return self.pending.popleft().get()

    def close(self):
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def load_init(path):
    """The state dict of an exported model (`faces64.pt`) of this architecture, as float32."""
    try:
        generator = builtin.read_trained(path)
    except ValueError as error:
        raise click.BadParameter(f'{path}: not an exported face model ({error})', param_hint='--init') from None
    if generator.config.to_dict() != build_generator('stylegan2', **CONFIG).config.to_dict():
        raise click.BadParameter(f'{path}: a model of another architecture than {CONFIG}', param_hint='--init')
    return generator.state_dict()


def read_factor_coordinates(generator, fresh):
    """Make the mapping network read the factors' coordinates of z alone.

    The rest of z sets only the length that the rule divides out (and that the mapping's normalisation
    divides out too), so the first layer's weights on it are zero and stay zero (their gradient is
    masked). Fresh weights on the factors' coordinates are scaled to the gain of a layer with that many
    inputs.
    """
    weight = generator.mapping.fc0.weight                          # [features, z_dim]
    keep = torch.zeros_like(weight)
    keep[:, :faces.NUM_FACTORS] = 1
    if fresh:
        with torch.no_grad():
            weight.mul_(keep * math.sqrt(weight.shape[1] / faces.NUM_FACTORS))
    weight.register_hook(lambda grad: grad * keep)


def image_loss(fake, real, weights):
    """Weighted L1 + L2 on the image and on its 2x and 4x reductions (coarse structure weighs as much as detail)."""
    loss = 0
    for _ in range(3):
        difference = fake - real
        loss = loss + (weights * (difference.abs() + difference.square())).mean()
        fake, real, weights = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2), F.avg_pool2d(weights, 2)
    return loss


def pair_loss(fake, real, weights):
    """`image_loss` of the change within each pair (second half minus first) against the renderer's."""
    half = len(fake) // 2
    return image_loss(fake[-half:] - fake[:half], real[-half:] - real[:half], weights)


def save_grid(path, images, columns):
    """Images `[N, 3, H, W]` in [-1, 1] as one PNG grid."""
    save_image(path, faces.tile(to_uint8(images), columns))


@torch.no_grad()
def mean_w(generator, seed=123, num=10000):
    """The mean `w` of `num` codes (the model's `w_avg`, the centre of truncation)."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(num, generator.z_dim).astype(np.float32))
    z = z.to(generator.mapping.w_avg.device)
    return torch.cat([generator.mapping(z[i:i + 1000])[:, 0] for i in range(0, num, 1000)]).mean(0)


def export(generator, path, meta):
    """The shipped file: config, float16 weights (w_avg included) and facts (the toolkit export format)."""
    state = {key: value.detach().cpu().to(torch.float16) if value.is_floating_point() else value.cpu()
             for key, value in generator.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({'family': 'stylegan2', 'config': generator.config.to_dict(), 'state_dict': state,
                    'meta': meta}, tmp)


@click.command(help=__doc__)
@click.option('--out', default='demo/runs/faces64', show_default=True, metavar='DIR', help='Run folder.')
@click.option('--kimg', type=click.IntRange(min=1), default=150, show_default=True,
              help='Thousands of faces to train on.')
@click.option('--minutes', type=POSITIVE, default=None,
              help='Stop after this much training time (the learning rate decays over it). [default: no limit]')
@click.option('--batch', type=click.IntRange(min=2), default=16, show_default=True,
              help='Faces per step, half of them in pairs.')
@click.option('--feature_weight', type=click.FloatRange(min=1), default=4.0, show_default=True,
              help='Weight of the loss inside the eyes, brows, nose and mouth boxes.')
@click.option('--pair_weight', type=click.FloatRange(min=0), default=4.0, show_default=True,
              help='Weight of the loss on the change within each pair.')
@click.option('--lr', type=POSITIVE, default=2e-3, show_default=True, help='Adam learning rate (cosine decay to 5%).')
@click.option('--ema_kimg', type=POSITIVE, default=5.0, show_default=True,
              help='Half-life of the weight average, in thousands of faces.')
@click.option('--init', 'init_path', default=None, metavar='FILE',
              help='Start from these weights (an exported faces64.pt) instead of random ones.')
@click.option('--snapshot_kimg', type=click.IntRange(min=1), default=10, show_default=True,
              help='Save the state and a sample grid this often.')
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of the weights and of the codes.')
@click.option('--threads', type=click.IntRange(min=1), default=None, help='torch threads. [default: torch decides]')
@click.option('--workers', type=click.IntRange(min=0), default=0, show_default=True,
              help='Processes drawing the faces ahead of the training steps (0: drawn between steps).')
@click.option('--device', default='cpu', show_default=True,
              help="'cpu', 'cuda' or 'cuda:N' (the faces are still drawn on the CPU).")
def main(out, kimg, minutes, batch, feature_weight, pair_weight, lr, ema_kimg, init_path, snapshot_kimg, seed, threads,
         workers, device):
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(parse_device(device))
    if os.path.exists(out) and not os.path.isdir(out):
        raise click.BadParameter(f'{out}: exists and is not a folder', param_hint='--out')
    init = load_init(init_path) if init_path else None
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    G = build_generator('stylegan2', **CONFIG).train().to(device)
    if init is not None:
        G.load_state_dict(init)
    read_factor_coordinates(G, fresh=init is None)
    G_ema = build_generator('stylegan2', **CONFIG).eval().requires_grad_(False).to(device)
    G_ema.load_state_dict(G.state_dict())
    optimizer = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-8)
    total_images = kimg * 1000
    budget = minutes * 60 if minutes else math.inf
    step, images, seconds = 0, 0, 0.0
    state_path = os.path.join(out, 'state.pt')
    if os.path.isfile(state_path):
        state = torch.load(state_path, map_location=device, weights_only=True)
        G.load_state_dict(state['G'])
        G_ema.load_state_dict(state['G_ema'])
        optimizer.load_state_dict(state['optimizer'])
        step, seconds = int(state['step']), float(state['seconds'])
        images = int(state.get('images', step * batch))
        click.echo(f'Resuming at {images / 1000:.1f} kimg')

    def progress():
        return min(1.0, max(images / total_images, seconds / budget))

    weights = feature_weights(feature_weight, device)
    fixed_z = np.random.RandomState(seed + 1).randn(16, CONFIG['z_dim']).astype(np.float32)
    fixed_targets = targets(fixed_z).to(device)
    ema_beta = 0.5 ** (batch / (ema_kimg * 1000))
    snapshot_every = max(1, snapshot_kimg * 1000 // batch)
    log = open(os.path.join(out, 'log.jsonl'), 'a', encoding='utf-8')
    batches = Batches(seed, batch, step, workers)
    bar = tqdm(total=1000, initial=round(1000 * progress()), desc='training', unit='‰')
    try:
        while progress() < 1:
            start = time.perf_counter()
            z, faces_uint8 = batches.get()
            real = from_uint8(faces_uint8, device)
            for group in optimizer.param_groups:
                group['lr'] = lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress())))
            fake = G(torch.from_numpy(z).to(device), noise_mode='const')
            loss = image_loss(fake, real, weights) + pair_weight * pair_loss(fake, real, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                torch._foreach_lerp_(list(G_ema.parameters()), list(G.parameters()), 1 - ema_beta)
                for ema, buffer in zip(G_ema.buffers(), G.buffers()):
                    ema.copy_(buffer)
            step += 1
            images += batch
            if step % 50 == 0 or device.type == 'cpu':
                loss_value = loss.item()  # on a GPU, waiting for the step only now and then
                bar.set_postfix(loss=f'{loss_value:.4f}', kimg=f'{images / 1000:.1f}')
            seconds += time.perf_counter() - start
            bar.update(round(1000 * progress()) - bar.n)
            if step % 50 == 0:
                log.write(json.dumps({'step': step, 'kimg': images / 1000, 'loss': loss_value,
                                      'seconds': seconds}) + '\n')
                log.flush()
            if step % snapshot_every == 0 or progress() >= 1:
                with torch.no_grad():
                    samples = G_ema(torch.from_numpy(fixed_z).to(device), noise_mode='const')
                save_grid(os.path.join(out, f'samples_{round(images / 1000):05d}.png'),
                          torch.cat([samples, fixed_targets]), columns=8)
                with atomic_path(state_path) as tmp:
                    torch.save({'G': G.state_dict(), 'G_ema': G_ema.state_dict(),
                                'optimizer': optimizer.state_dict(), 'step': step, 'images': images,
                                'seconds': seconds}, tmp)
                G_ema.mapping.w_avg.copy_(mean_w(G_ema))
                meta = {'method': 'regression onto demo.faces (L1 + L2, three scales, features weighted, '
                                  'pairs differing in one factor), weights averaged',
                        'kimg': round(images / 1000, 1), 'images': images, 'batch': batch, 'lr': lr,
                        'feature_weight': feature_weight, 'pair_weight': pair_weight, 'seed': seed,
                        'seconds': round(seconds), 'device': str(device), 'threads': torch.get_num_threads(),
                        'workers': workers, 'torch': str(torch.__version__),
                        'command': 'python -m demo.train ' + ' '.join(sys.argv[1:])}
                if init_path:
                    meta['init'] = os.path.basename(init_path)
                if device.type == 'cuda':
                    meta['gpu'] = torch.cuda.get_device_name(device)
                export(G_ema, os.path.join(out, 'faces64.pt'), meta)
                save_json(os.path.join(out, 'meta.json'), meta)
    finally:
        batches.close()
        bar.close()
        log.close()
    click.echo(f'Trained {images / 1000:.1f} kimg in {seconds / 3600:.2f} h: {os.path.join(out, "faces64.pt")}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
