"""Projecting images with invert.py's method: seconds per image and PSNR, on this machine.

Faces drawn by `demo.faces` from unseen factors are projected into the built-in face model (w and w+), and a
sample of a random StyleGAN2 at 256x256 into it, for the time per step at that size.

    python benchmarks/bench_inversion.py
    python benchmarks/bench_inversion.py --images 4 --steps 1000 --json_out inversion.json
"""

import json
import os
import sys
import time

import click
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import models  # noqa: E402
from demo import faces  # noqa: E402
from semantics import inversion, sampling  # noqa: E402
from utils.fileio import save_json  # noqa: E402
from utils.images import from_uint8  # noqa: E402


def timed_projection(generator, target, steps, space):
    start = time.perf_counter()
    result = inversion.project(generator, target, inversion.ProjectionSettings(steps=steps, space=space))
    return time.perf_counter() - start, inversion.psnr(result.image, target)


@click.command()
@click.option('--images', type=click.IntRange(min=1), default=3, show_default=True, help='Faces per space.')
@click.option('--steps', type=click.IntRange(min=1), default=1000, show_default=True)
@click.option('--steps_256', type=click.IntRange(min=1), default=20, show_default=True,
              help='Steps timed on the 256x256 model (the time per step is what is reported).')
@click.option('--json_out', default=None, metavar='FILE')
def main(images, steps, steps_256, json_out):
    results = []
    G = models.load_generator('builtin:faces64')
    rng = np.random.RandomState(2026)  # factors the training never drew (it draws from RandomState([0, step]))
    for space in ('w', 'wp'):
        for index in range(images):
            face = faces.render(faces.sample_factors(rng), size=G.img_resolution)
            target = from_uint8(face[None])
            seconds, psnr = timed_projection(G, target, steps, space)
            results.append({'model': 'builtin:faces64', 'space': space, 'image': f'renderer face {index}',
                            'steps': steps, 'seconds': round(seconds, 1), 'psnr_db': round(psnr, 2)})
            click.echo(json.dumps(results[-1]))
    torch.manual_seed(0)
    big = models.build_generator('stylegan2', img_resolution=256).eval().requires_grad_(False)
    target = big.synthesis(sampling.sample_ws(big, 1, 5, 0.7, 8)).detach()
    seconds, psnr = timed_projection(big, target, steps_256, 'w')
    results.append({'model': 'StyleGAN2 256x256, default channels, random weights', 'space': 'w',
                    'image': 'one of its samples', 'steps': steps_256, 'seconds': round(seconds, 1),
                    'seconds_per_1000_steps': round(seconds / steps_256 * 1000), 'psnr_db': round(psnr, 2)})
    click.echo(json.dumps(results[-1]))
    click.echo()
    click.echo('| model | space | image | steps | seconds | PSNR |')
    click.echo('| --- | --- | --- | --- | --- | --- |')
    for r in results:
        click.echo(f'| {r["model"]} | {r["space"]} | {r["image"]} | {r["steps"]} | {r["seconds"]} '
                   f'| {r["psnr_db"]} dB |')
    if json_out:
        save_json(json_out, results)


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
