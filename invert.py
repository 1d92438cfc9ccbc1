"""Project images into W or W+ (NVlabs' projector method), so that they can be edited like samples.

Examples:

\b
    python invert.py builtin:faces64 photo.png                      # w, 150 steps
    python invert.py stylegan2-ffhq-1024x1024.pkl a.jpg b.jpg --space wp --steps 1000   # NVlabs' projector
    python invert.py MODEL face.png --vgg16 vgg16-397923af.pth       # adds the VGG16 distance
\b
    # then edit the projected codes:
    python manipulate.py MODEL eyesize --latent_path work_dirs/inversions/ffhq/<model>/<run>/latent_codes.npy

Each image is resized so that its shorter side is the model's resolution and centre-cropped; a note says what was
changed (also of animations, transparency and deep grey images). The optimisation follows NVlabs' `projector.py` (see
docs/inversion.md) over 150 steps by default, which a CPU runs in seconds to minutes; NVlabs' 1000 steps give a
slightly closer fit. The distance needs no download: multi-scale squared error plus an SSIM term; `--vgg16` adds the
VGG16 perceptual distance NVlabs uses, from torchvision's weight file.

Writes into `work_dirs/inversions/<data_name>/<model>/<images>_<space>_steps_<n>/`: `latent_codes.npy` (w+ `[N, num_ws,
w_dim]`, for `--latent_path` and the editor's upload; rendered with the model's constant noise they give the
reconstructions), `w.npy` (`[N, w_dim]`, space w), the targets and reconstructions as PNG, `inversion.html` (target,
reconstruction, PSNR), with `--gif` a GIF of each optimisation, and with `--optimize_noise` the optimised noise of each
image (`<name>_noise.npz`, for `manipulate.py --noise`).
"""

import cli  # noqa: F401, I001 - first: a one-line hint when run outside the project's environment
import hashlib
import os

import click
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from cli import inputs, options, runs
from semantics import inversion
from semantics.vgg16 import VGG16Error, load_vgg16, perceptual_distance
from utils.fileio import one_line, save_npy, save_npz
from utils.html import HtmlPage
from utils.images import save_gif, save_image, to_uint8


def read_target(path, resolution, channels):
    """`(image [1, C, R, R] in [-1, 1], note or None)`: an image file fitted to the model (`inversion.fit_target`)."""
    try:
        with Image.open(path) as image:
            image.load()
            target, note = inversion.fit_target(image, resolution, channels)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        what = '' if isinstance(error, inversion.ImageError) else 'not an image: '
        raise click.BadParameter(f'{path}: {what}{one_line(error)[:120]}', param_hint='IMAGE') from None
    return target, note and f'{path}: {note}'


@click.command(help=__doc__)
@options.model_options
@click.argument('images', nargs=-1, required=True, metavar='IMAGE...', type=click.Path(exists=True, dir_okay=False))
@click.option('--space', type=click.Choice(['w', 'wp']), default='w', show_default=True,
              help='w: one code shared by every layer; wp: one per layer (closer fits, less editable).')
@click.option('--steps', type=click.IntRange(min=1), default=150, show_default=True,
              help="Optimisation steps per image (NVlabs' projector: 1000, about 7 times as long, for a slightly "
                   'closer fit).')
@click.option('--seed', type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True,
              help='Seed of the noise the optimisation adds.')
@click.option('--optimize_noise', is_flag=True,
              help='Optimise the noise inputs too (NVlabs does); saved as <name>_noise.npz for manipulate.py --noise.')
@click.option('--vgg16', 'vgg16_path', default=None, metavar='PATH', type=click.Path(exists=True, dir_okay=False),
              help="Add the VGG16 perceptual distance, from torchvision's vgg16-397923af.pth (downloaded by you).")
@click.option('--gif/--no-gif', default=False, show_default=True, help='Write a GIF of each optimisation.')
@options.output_options(job='inversions')
@options.cli_errors
def main(**opts):
    generator = options.load_model(opts, say=click.echo)
    if not generator.has_mapping or generator.c_dim:
        raise click.BadParameter(f'a {generator.variant} cannot be projected into: invert.py needs an unconditional '
                                 'StyleGAN, StyleGAN2 or StyleGAN3 (a mapping network, and w_avg of no class)',
                                 param_hint='MODEL')
    if opts['optimize_noise'] and not generator.noise_buffers():
        raise click.BadParameter(f'a {generator.variant} has no noise inputs', param_hint='--optimize_noise')
    targets = [read_target(path, generator.img_resolution, generator.img_channels) for path in opts['images']]
    distance = _distance(opts['vgg16_path'], generator.device)
    labels = [runs.file_label(path) for path in opts['images']]
    # Several images: the first one's label and a hash of all, so that another set of images gets another folder.
    part = labels[0] if len(labels) == 1 else \
        f'{len(labels)}_images_{labels[0]}_{hashlib.sha256(" ".join(labels).encode()).hexdigest()[:8]}'
    run = runs.RunFolder(runs.root_of(opts), runs.model_part(generator, opts), part,
                         f'{opts["space"]}_steps_{opts["steps"]}' + ('_noise' if opts['optimize_noise'] else '')
                         + ('_vgg16' if opts['vgg16_path'] else ''))

    with run.writing(opts):
        settings = inversion.ProjectionSettings(steps=opts['steps'], space=opts['space'], seed=opts['seed'],
                                                optimize_noise=opts['optimize_noise'],
                                                record_every=max(1, opts['steps'] // 40) if opts['gif'] else 0)
        page = HtmlPage(num_rows=len(targets), num_cols=3, image_size=opts['vis_size'] or None,
                        title=f'Projections into {opts["space"]} of {generator.model_name}')
        page.set_headers(['Image', 'Target', 'Reconstruction'])
        page.add_note(options.describe_weights(generator))
        page.add_note(f'Space {opts["space"]}, {inputs.plural(opts["steps"], "step")} (NVlabs\' projector schedule), '
                      f'seed {opts["seed"]}, distance: multi-scale squared error + {settings.ssim_weight:g} (1 - SSIM)'
                      + (' + VGG16 perceptual' if opts['vgg16_path'] else '')
                      + ('; noise inputs optimised' if opts['optimize_noise'] else '; noise inputs fixed'))
        ws, ws_w, scores = [], [], []
        for index, ((target, fitted), path, label) in enumerate(zip(targets, opts['images'], labels)):
            if fitted:
                click.echo(f'Note: {fitted}')
                page.add_note(fitted)
            with tqdm(total=opts['steps'], desc=f'{index + 1}/{len(targets)} {os.path.basename(path)}',
                      unit='step') as bar:
                def on_step(step, loss):
                    bar.update(1)
                    if step % 20 == 0:
                        bar.set_postfix(loss=f'{loss:.4f}')

                result = inversion.project(generator, target, settings, distance(target) if distance else None, on_step)
            score = inversion.psnr(result.image, target)
            scores.append(score)
            ws.append(result.ws.numpy())
            ws_w.append(result.w.numpy())
            original, reconstruction = to_uint8(target)[0], to_uint8(result.image)[0]
            save_image(run.file(f'{label}_target.png'), original)
            save_image(run.file(f'{label}_projected.png'), reconstruction)
            page.set_cell(index, 0, text=f'{os.path.basename(path)}\nPSNR {score:.2f} dB')
            page.set_cell(index, 1, image=original)
            page.set_cell(index, 2, image=reconstruction)
            if result.noise:
                save_npz(run.file(f'{label}_noise.npz'), **{k: v.numpy() for k, v in result.noise.items()})
            if opts['gif'] and result.frames:
                save_gif(run.file(f'{label}_progress.gif'), list(to_uint8(torch.stack(result.frames))),
                         size=opts['vis_size'] or None, boomerang=False)
            click.echo(f'{path}: PSNR {score:.2f} dB after {inputs.plural(opts["steps"], "step")}')
        codes = np.concatenate(ws).astype(np.float32)
        save_npy(run.file('latent_codes.npy'), codes)
        if opts['space'] == 'w':
            save_npy(run.file('w.npy'), np.concatenate(ws_w).astype(np.float32))
        page.save(run.file('inversion.html'))
    click.echo(f'Latent codes {list(codes.shape)} (w+, for --latent_path): {run.file("latent_codes.npy")}')
    click.echo(f'HTML page: {run.file("inversion.html")}')
    click.echo(f'Next: python manipulate.py {generator.source} DIRECTION --latent_path {run.file("latent_codes.npy")}'
               f' --nums {len(codes)}')


def _distance(vgg16_path, device):
    """`f(target) -> distance(synth, target)` adding the VGG16 distance, or None for the default one."""
    if vgg16_path is None:
        return None
    try:
        network, note = load_vgg16(vgg16_path)
    except VGG16Error as error:
        raise click.BadParameter(str(error), param_hint='--vgg16') from None
    if note:
        click.echo(f'Warning: {note}')
    network = network.to(device)

    def for_target(target):
        with torch.no_grad():
            features = network(target.to(device))
        return lambda synth, real: inversion.image_distance(synth, real) + perceptual_distance(network, synth, features)

    return for_target


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
