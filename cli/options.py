"""Command-line options shared by the scripts, defined once as click decorators.

The original scripts' flag names (`--trunc_psi`, `--img_size`, `--stylegan2`,
...) are kept; they are translated into the toolkit's vocabulary here and
nowhere else, and the errors of `models` (which name settings, never flags) are
translated back into flag names here.
"""

import functools
import math

import click
import torch

import directions
import models
from semantics import regions
from utils.indices import parse_indices

__all__ = ['FiniteFloat', 'FileName', 'MAX_DISTANCE', 'distance_type', 'psi_type', 'MAX_VIEW_SIZE', 'view_size_type',
           'IndexList', 'not_empty', 'cli_errors', 'model_options', 'sefa_model_options', 'load_model',
           'describe_weights', 'sampling_options', 'truncation_options', 'output_options', 'region_options',
           'class_option', 'class_index_of', 'parse_device']


def compose(*decorators):
    """Apply several click decorators as one (the first given ends up first in --help)."""
    def apply(func):
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


class FiniteFloat(click.ParamType):
    """A float that must be finite (and optionally within bounds)."""

    name = 'FLOAT'

    def __init__(self, min=None, max=None, min_open=False):
        self.min, self.max, self.min_open = min, max, min_open

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f'{value!r} is not a number', param, ctx)
        if not math.isfinite(number):
            self.fail(f'{value!r} is not a finite number', param, ctx)
        if self.min is not None and (number < self.min or (self.min_open and number == self.min)):
            self.fail(f'{value} must be {">" if self.min_open else ">="} {self.min}', param, ctx)
        if self.max is not None and number > self.max:
            self.fail(f'{value} must be <= {self.max}', param, ctx)
        return number


MAX_DISTANCE = directions.catalog.MAX_DISTANCE  # the bound of direction files and catalog entries too


def distance_type():
    return FiniteFloat(min=-MAX_DISTANCE, max=MAX_DISTANCE)


# Images on a page are drawn at most this large (100000 pixels a side would exhaust the memory).
MAX_VIEW_SIZE = 4096


def view_size_type():
    return click.IntRange(0, MAX_VIEW_SIZE)


def psi_type():
    return FiniteFloat(min=-models.MAX_TRUNCATION_PSI, max=models.MAX_TRUNCATION_PSI)


# Room for what a script adds to a name (`pooled_`, `.json`, `image_00_region_..._name_`) within 255 bytes.
MAX_NAME_BYTES = 100


class FileName(click.ParamType):
    """A name that becomes one file or folder name: not empty, no path separator, not `.` or `..`."""

    name = 'name'

    def convert(self, value, param, ctx):
        text = str(value)
        if not text.strip() or text.strip() in ('.', '..') or any(c in text for c in '/\\\0'):
            self.fail(f'{text!r} is not a file name (give a plain name, without / or \\)', param, ctx)
        if len(text.encode('utf-8', 'surrogateescape')) > MAX_NAME_BYTES:
            self.fail(f'{text[:20]!r}... is {len(text.encode("utf-8", "surrogateescape"))} bytes long: names '
                      f'go up to {MAX_NAME_BYTES} (file systems cut file names at 255)', param, ctx)
        return text


class IndexList(click.ParamType):
    """Index lists: '4,5,6,7', '0-3', '0-1,8', or 'all' (None)."""

    name = 'LIST'

    def __init__(self, allow_all=True):
        self.allow_all = allow_all

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, list):
            return value
        try:
            return parse_indices(value, self.allow_all)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def cli_errors(func):
    """Turn the toolkit's ValueErrors, file system errors and a lack of memory into one-line click errors
    (exit code 1)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except (ValueError, EOFError) as error:  # EOFError: a file cut short (click would say only 'Aborted!')
            raise click.ClickException(_first_line(error)) from None
        except OSError as error:
            if error.filename is not None and error.strerror:
                raise click.ClickException(f'{error.filename}: {error.strerror}') from None
            raise click.ClickException(_first_line(error)) from None
        except MemoryError:
            raise click.ClickException('not enough memory for this run: ask for fewer or smaller results '
                                       '(samples, sizes)') from None
        except RuntimeError as error:
            if not _is_out_of_memory(error):
                raise
            raise click.ClickException(f'not enough memory for this run ({_first_line(error)}): ask for fewer '
                                       'or smaller results (samples, sizes, --batch_size)') from None
    return wrapper


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _is_out_of_memory(error):
    text = str(error).lower()
    return isinstance(error, torch.cuda.OutOfMemoryError) or any(
        phrase in text for phrase in ('out of memory', 'not enough memory', "can't allocate memory"))


# ----------------------------------------------------------------------------
# Device.

def parse_device(text, option='--device'):
    """'cpu', 'cuda', 'cuda:N' (or None: cuda when available) -> a usable device string, checked."""
    if text is None:
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        device = torch.device(str(text).strip())
    except (RuntimeError, ValueError):
        raise click.BadParameter(f"{text!r} is not a device; use cpu, cuda or cuda:N", param_hint=option) from None
    if device.type == 'cpu':
        return 'cpu'
    if device.type != 'cuda':
        raise click.BadParameter(f'{text!r}: only cpu and cuda devices are supported', param_hint=option)
    if not torch.cuda.is_available():
        raise click.BadParameter(f'{text!r}: CUDA is not available on this machine; use cpu', param_hint=option)
    index = device.index or 0
    if index >= torch.cuda.device_count():
        raise click.BadParameter(f'{text!r}: there is no GPU {index} ({torch.cuda.device_count()} visible)',
                                 param_hint=option)
    return f'cuda:{index}'


# ----------------------------------------------------------------------------
# Model options.

_SCALE = 32 << 10  # the original scripts' channel_base = scale * 32768

model_options = compose(
    click.argument('weight_path', metavar='MODEL'),
    click.option('--img_size', type=click.IntRange(min=4), default=None, metavar='RES',
                 help='Resolution of the model, checked against the checkpoint. [default: read from the checkpoint]'),
    click.option('--w_dim', type=click.IntRange(min=1), default=None,
                 help='Dimension of the latent w, checked. [default: read from the checkpoint]'),
    click.option('--stylegan2', is_flag=True, help='Expect a StyleGAN2 checkpoint (checked).'),
    click.option('--scale_stylegan2', type=FiniteFloat(min=0, min_open=True), default=None,
                 help='Channel scale of a StyleGAN2 (channel_base = scale * 32768), checked. '
                      '[default: read from the checkpoint]'),
    click.option('--stylegan3', is_flag=True, help='Expect a StyleGAN3 checkpoint (checked).'),
    click.option('--cfg', type=click.Choice(['T', 'R']), default=None,
                 help='StyleGAN3 config, checked. [default: read from the checkpoint]'),
    click.option('--scale_stylegan3r', type=FiniteFloat(min=0, min_open=True), default=None,
                 help='Channel scale of a StyleGAN3-R (channel_base = scale * 32768), checked.'),
    click.option('--scale_stylegan3t', type=FiniteFloat(min=0, min_open=True), default=None,
                 help='Channel scale of a StyleGAN3-T (channel_base = scale * 32768), checked.'),
    click.option('--tx', type=FiniteFloat(), default=0, show_default=True, help='StyleGAN3: translate x.'),
    click.option('--ty', type=FiniteFloat(), default=0, show_default=True, help='StyleGAN3: translate y.'),
    click.option('--rotate', type=FiniteFloat(), default=0, show_default=True,
                 help='StyleGAN3: rotation in degrees.'),
    click.option('--device', default=None, help="'cpu', 'cuda' or 'cuda:N'. [default: cuda when available]"),
)


def _expected_settings(opts):
    """The flags' settings in the models' vocabulary, and the flag that gave each."""
    if opts.get('stylegan2') and opts.get('stylegan3'):
        raise click.BadParameter('give at most one of --stylegan2 and --stylegan3', param_hint='--stylegan2')
    family = 'stylegan2' if opts.get('stylegan2') else 'stylegan3' if opts.get('stylegan3') else None
    if opts.get('cfg') and opts.get('stylegan2'):
        raise click.BadParameter('--cfg is a StyleGAN3 setting, but --stylegan2 was given', param_hint='--cfg')
    expected = {'family': family, 'cfg': opts.get('cfg'), 'img_resolution': opts.get('img_size'),
                'w_dim': opts.get('w_dim')}
    flags = {'family': f'--{family}', 'cfg': '--cfg', 'img_resolution': '--img_size', 'w_dim': '--w_dim'}
    scale_flag = None
    if opts.get('scale_stylegan2') is not None:
        scale_flag = '--scale_stylegan2'
    if opts.get('cfg') == 'R' and opts.get('scale_stylegan3r') is not None:
        scale_flag = '--scale_stylegan3r'
    elif opts.get('cfg') != 'R' and opts.get('stylegan3') and opts.get('scale_stylegan3t') is not None:
        scale_flag = '--scale_stylegan3t'
    if scale_flag:
        expected['channel_base'] = int(opts[scale_flag[2:]] * _SCALE)
        flags['channel_base'] = scale_flag
    return {k: v for k, v in expected.items() if v is not None}, flags


def _translate(error, flags):
    """A `models` error about a setting, told with the flag that gave it."""
    if isinstance(error, models.SettingMismatch) and error.setting in flags:
        if error.setting == 'family':
            return f'{error.path}: {flags["family"]} was given, but the checkpoint holds a {error.held} generator'
        held = f'holds {error.setting}={error.held}' if error.held is not None else f'has no {error.setting}'
        return f'{error.path}: {flags[error.setting]} gives {error.setting}={error.given}, but the checkpoint {held}'
    if isinstance(error, models.SettingNeeded) and error.setting in flags:
        return f'{error} (give it with {flags[error.setting]})'
    return str(error)


def load_model(opts, device_option='--device'):
    """Load the generator the model options name (device checked first), with its transform applied."""
    device = parse_device(opts.get('device'), device_option)
    expected, flags = _expected_settings(opts)
    try:
        generator = models.load_generator(opts['weight_path'], device=device, **expected)
    except models.CheckpointError as error:
        raise click.ClickException(_translate(error, flags)) from None
    _check_scales(generator, opts, flags)
    transform = (opts.get('tx') or 0, opts.get('ty') or 0, opts.get('rotate') or 0)
    try:
        generator.set_transform(*transform)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint='--tx/--ty/--rotate') from None
    return generator


def _check_scales(generator, opts, flags):
    """The channel-scale flags the checkpoint's family did not check while loading: each one must name the
    loaded architecture and agree with it (the reference ignores a flag of another architecture)."""
    for variant in ('stylegan2', 'stylegan3r', 'stylegan3t'):
        flag = f'--scale_{variant}'
        value = opts.get(flag[2:])
        if value is None or flags.get('channel_base') == flag:
            continue
        if generator.variant != variant:
            raise click.BadParameter(f'{flag} is a setting of a {variant} generator, but {generator.source} holds '
                                     f'a {generator.variant} one', param_hint=flag)
        if generator.config.channel_base != int(value * _SCALE):
            raise click.BadParameter(f'{flag} gives channel_base={int(value * _SCALE)}, but {generator.source} '
                                     f'holds channel_base={generator.config.channel_base}', param_hint=flag)


def describe_weights(generator):
    """One line saying what was loaded (and loudly, when weights are random)."""
    if generator.checkpoint_sha256 is None and str(generator.source).startswith('builtin:'):
        return (f'NOTE: {generator.source} is a small built-in model ({generator.describe()}) with RANDOM '
                'weights: images are noise-like patterns, not pictures. Pass a checkpoint for real results.')
    return (f'Loaded {generator.describe()} ({generator.checkpoint_format}) from {generator.source} '
            f'as {generator.model_name}')


# ----------------------------------------------------------------------------
# Sampling, truncation, classes and outputs; defaults differ per script.

def sampling_options(nums, seed=4):
    return compose(
        click.option('--seed', type=click.IntRange(0, 2 ** 32 - 1), default=seed, show_default=True,
                     help='Seed for sampling (np.random.RandomState).'),
        click.option('--nums', type=click.IntRange(min=1), default=nums, show_default=True,
                     help='Number of samples (with --latent_path: at most this many of its codes).'),
        click.option('--latent_path', type=str, default='', metavar='PATH',
                     help='Latent codes (.npy, or a catalog name) to use instead of random samples: '
                          'z [N, z_dim], w [N, w_dim] or w+ [N, num_ws, w_dim].'),
        click.option('--latent_space', type=click.Choice(['auto', 'z', 'w', 'wp']), default='auto',
                     show_default=True, help='How to read --latent_path (auto: from its shape).'),
        click.option('--batch_size', type=click.IntRange(min=1), default=4, show_default=True,
                     help='Images mapped and rendered at once.'),
    )


truncation_options = compose(
    click.option('--trunc_psi', type=psi_type(), default=0.7, show_default=True,
                 help='Psi factor used for truncation (BigGAN: its truncation, in (0, 1]).'),
    click.option('--trunc_layers', type=click.IntRange(min=0), default=8, show_default=True,
                 help='Number of layers to perform truncation (StyleGAN families).'),
    click.option('--randomize_noise', type=click.Choice(['const', 'random', 'none']), default='const',
                 show_default=True, help='Noise mode when synthesizing (StyleGAN, StyleGAN2).'),
)


def output_options(job, save_jpg=False, page=True):
    """--save_dir, --job, --data_name, --save_jpg and --vis_size (only accepted, without `page`)."""
    save_help = ('Save every image as a JPEG file too.' if not save_jpg else
                 'Save the images the Jacobians are taken of (--no_save_jpg: do not).')
    vis_size = click.option('--vis_size', type=view_size_type(), default=256, show_default=True,
                            help='Size of the images on the HTML page (0: full size).') if page else \
        click.option('--vis_size', type=view_size_type(), default=None, hidden=True)  # the original's; no page here
    return compose(
        click.option('--save_dir', type=str, default=None, metavar='DIR', callback=not_empty,
                     help=f'Root folder of the results; each run gets a folder named after its model and '
                          f'settings below it. [default: work_dirs/{job}/DATA_NAME]'),
        click.option('--job', type=FileName(), default=job, show_default=True,
                     help='Name of the job (work_dirs/JOB/...).'),
        click.option('-d', '--data_name', type=FileName(), default='ffhq', show_default=True,
                     help='Name of the dataset (selects the named regions; part of the default --save_dir).'),
        click.option('--save_jpg/--no_save_jpg', default=save_jpg, show_default=True, help=save_help),
        vis_size,
    )


def not_empty(ctx, param, value):
    """Click callback refusing an empty or blank value."""
    if value is not None and not str(value).strip():
        raise click.BadParameter('an empty value; leave the option out instead', ctx, param)
    return value


def region_options(purpose):
    """--region / --box / --mask / --labels, with one set of names and rules for every script."""
    return compose(
        click.option('--region', default=None, metavar='NAME', callback=not_empty,
                     help=f'Named region of --data_name {purpose}: ' + '; '.join(
                         f'{data}: {", ".join(regions.region_names(data))}' for data in regions.dataset_names())
                     + ' (boxes: compute_directions.py --list_regions).'),
        click.option('--box', default=None, metavar='CX,CY,H,W', callback=not_empty,
                     help=f'A box on the 256-pixel grid (row centre, column centre, height, width) {purpose}.'),
        click.option('--mask', 'mask_path', default=None, metavar='FILE', callback=not_empty,
                     help=f'Segmentation mask (.png or .npy) {purpose}; with --labels.'),
        click.option('--labels', type=IndexList(allow_all=False), default=None, metavar='LIST',
                     help='Labels of --mask that form the region, e.g. 4,5 or 1,3-6.'),
    )


class_option = click.option('--class', 'class_spec', default=None, metavar='CLASS',
                            help='Class of a conditional model: an index (BigGAN also: a name or WordNet id).')


def class_index_of(generator, class_spec):
    """The class index `--class` names for this model (None when not given and not needed)."""
    if class_spec is None:
        if generator.c_dim:
            raise click.BadParameter(f'this {generator.variant} model is conditional ({generator.c_dim} classes): '
                                     f'give a class', param_hint='--class')
        return None
    try:
        return generator.class_index(class_spec)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint='--class') from None


def sefa_model_options(func):
    """SeFa's own model options: MODEL_NAME and --gpu_id (plus --device)."""
    return compose(
        click.argument('model_name', metavar='MODEL_NAME'),
        click.option('--gpu_id', default=None, metavar='ID',
                     help='GPU to use (the first of a list; -1 or cpu: the CPU). [default: cuda when available]'),
        click.option('--device', default=None, help="'cpu', 'cuda' or 'cuda:N' (overrides --gpu_id)."),
    )(func)
