"""Command-line options shared by the scripts, defined once as click decorators.

The original scripts' flag names (`--trunc_psi`, `--img_size`, `--stylegan2`, ...)
are kept; they are translated into the toolkit's vocabulary here and nowhere else.
"""

import functools
import os
import re

import click
import torch

import models


def _compose(*decorators):
    def apply(func):
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


def parse_int_list(text):
    """'4,5,6,7', '4-7' or '0-1,8' -> sorted list of ints; 'all' or '' -> None."""
    if text is None:
        return None
    text = str(text).strip().lower()
    if text in ('', 'all'):
        return None
    values = set()
    for part in (p.strip() for p in text.split(',')):
        if not part:
            continue
        match = re.fullmatch(r'(\d+)(?:\s*-\s*(\d+))?', part)
        if not match:
            raise ValueError(f'{part!r} is not an index or a range like 2-5')
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if lo > hi:
            raise ValueError(f'{part!r} is an empty range')
        values.update(range(lo, hi + 1))
    return sorted(values)


class IntListType(click.ParamType):
    """Click type for index lists ('4,5,6,7', '0-3', 'all')."""

    name = 'LIST'

    def convert(self, value, param, ctx):
        if isinstance(value, list) or value is None:
            return value
        try:
            return parse_int_list(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def default_device():
    return 'cuda' if torch.cuda.is_available() else 'cpu'


# ----------------------------------------------------------------------------
# Model options (all scripts).

model_options = _compose(
    click.argument('weight_path', metavar='WEIGHT_PATH'),
    click.option('--img_size', type=click.IntRange(min=4), default=None, metavar='RES',
                 help='Resolution of the model. [default: read from the checkpoint]'),
    click.option('--w_dim', type=click.IntRange(min=1), default=None,
                 help='Dimension of the latent w. [default: read from the checkpoint]'),
    click.option('--stylegan2', is_flag=True, help='Expect a StyleGAN2 checkpoint (checked).'),
    click.option('--scale_stylegan2', type=float, default=None,
                 help='Channel scale of a StyleGAN2 (channel_base = scale * 32768); checked '
                      'against the checkpoint. [default: read from the checkpoint]'),
    click.option('--stylegan3', is_flag=True, help='Expect a StyleGAN3 checkpoint (checked).'),
    click.option('--cfg', type=click.Choice(['T', 'R']), default=None,
                 help='StyleGAN3 config, checked. [default: read from the checkpoint]'),
    click.option('--scale_stylegan3r', type=float, default=None,
                 help='Channel scale of a StyleGAN3-R (channel_base = scale * 32768). [default: from the checkpoint]'),
    click.option('--scale_stylegan3t', type=float, default=None,
                 help='Channel scale of a StyleGAN3-T (channel_base = scale * 32768). [default: from the checkpoint]'),
    click.option('--tx', type=float, default=0, show_default=True, help='StyleGAN3: translate x.'),
    click.option('--ty', type=float, default=0, show_default=True, help='StyleGAN3: translate y.'),
    click.option('--rotate', type=float, default=0, show_default=True, help='StyleGAN3: rotation in degrees.'),
    click.option('--device', default=None, help="'cpu', 'cuda' or 'cuda:N'. [default: cuda when available]"),
)


def load_model(opts):
    """Load the generator named by the model options, apply transforms, and describe it.

    Returns:
        (generator, job_disc) where `job_disc` names the model in output paths
        ('stylegan2', 'stylegan3r', ...), as the original scripts do.
    """
    if opts['stylegan2'] and opts['stylegan3']:
        raise click.BadParameter('give at most one of --stylegan2 and --stylegan3', param_hint='--stylegan2')
    family = 'stylegan2' if opts['stylegan2'] else 'stylegan3' if opts['stylegan3'] else None
    if opts['cfg'] and family not in (None, 'stylegan3'):
        raise click.BadParameter('--cfg is a StyleGAN3 setting', param_hint='--cfg')
    overrides = {'family': family, 'img_resolution': opts['img_size'], 'w_dim': opts['w_dim'], 'cfg': opts['cfg']}
    scale = opts['scale_stylegan2']
    if opts['cfg'] == 'R' and opts['scale_stylegan3r'] is not None:
        scale = opts['scale_stylegan3r']
    elif opts['cfg'] != 'R' and opts['scale_stylegan3t'] is not None and family == 'stylegan3':
        scale = opts['scale_stylegan3t']
    if scale is not None:
        overrides['channel_base'] = int(scale * (32 << 10))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    device = opts.get('device') or default_device()
    try:
        generator = models.load_generator(opts['weight_path'], device=device, **overrides)
    except (models.CheckpointError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from None
    job_disc = generator.family
    if generator.family == 'stylegan3':
        job_disc += 'r' if generator.config.use_radial_filters else 't'
    transform = (opts.get('tx') or 0, opts.get('ty') or 0, opts.get('rotate') or 0)
    if any(transform):
        if not hasattr(generator, 'set_transform'):
            raise click.BadParameter(f'--tx/--ty/--rotate need a StyleGAN3 model, not {generator.family}',
                                     param_hint='--tx/--ty/--rotate')
        generator.set_transform(tx=transform[0], ty=transform[1], rotate=transform[2])
    return generator, job_disc


def describe_weights(generator):
    """One line saying what was loaded (and loudly, when weights are random)."""
    if str(getattr(generator, 'source', '')).startswith('builtin:'):
        return (f'NOTE: {generator.source} is a small built-in {generator.family} with RANDOM weights: '
                'images are noise-like patterns, not pictures. Pass a checkpoint for real results.')
    return f'Loaded {generator.family} ({getattr(generator, "checkpoint_format", "?")}) from {generator.source}'


# ----------------------------------------------------------------------------
# Sampling, truncation and output options; defaults differ per script.

def sampling_options(nums, seed=4):
    return _compose(
        click.option('--seed', type=int, default=seed, show_default=True, help='Seed for sampling.'),
        click.option('--nums', type=click.IntRange(min=1), default=nums, show_default=True,
                     help='Number of samples.'),
        click.option('--latent_path', type=str, default='', metavar='PATH',
                     help='Latent codes (.npy) to use instead of random samples: z [N, z_dim], '
                          'w [N, w_dim] or w+ [N, num_ws, w_dim].'),
        click.option('--latent_space', type=click.Choice(['auto', 'z', 'w', 'wp']), default='auto',
                     show_default=True, help='How to read --latent_path (auto: from its shape).'),
        click.option('--batch_size', type=click.IntRange(min=1), default=4, show_default=True, help='Batch size.'),
    )


truncation_options = _compose(
    click.option('--trunc_psi', type=float, default=0.7, show_default=True, help='Psi factor used for truncation.'),
    click.option('--trunc_layers', type=click.IntRange(min=0), default=8, show_default=True,
                 help='Number of layers to perform truncation.'),
    click.option('--randomize_noise', type=click.Choice(['const', 'random', 'none']), default='const',
                 show_default=True, help='Noise mode when synthesizing.'),
)


def output_options(job):
    return _compose(
        click.option('--save_dir', type=str, default=None, metavar='DIR',
                     help=f'Directory to save the results. [default: work_dirs/{job}/DATA_NAME]'),
        click.option('--job', type=str, default=job, show_default=True, help='Name for the job.'),
        click.option('-d', '--data_name', type=str, default='ffhq', show_default=True, help='Name of the dataset.'),
        click.option('--save_jpg', is_flag=True, default=False, help='Also save every image as a JPEG file.'),
        click.option('--vis_size', type=click.IntRange(min=8), default=256, show_default=True,
                     help='Size of the images on the HTML page.'),
    )


def save_dir_of(opts):
    return opts['save_dir'] or os.path.join('work_dirs', opts['job'], opts['data_name'])


def cli_errors(func):
    """Turn the toolkit's ValueErrors into one-line click errors (exit code 1)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except (ValueError, FileNotFoundError, models.CheckpointError) as error:
            raise click.ClickException(str(error).splitlines()[0] if str(error) else type(error).__name__) from None
    return wrapper
