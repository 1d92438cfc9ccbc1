"""Command-line options shared by the scripts, defined once as click decorators: the edge where input is checked.

The original scripts' flags (`--trunc_psi`, `--img_size`, `--stylegan2`, ...) are translated into the toolkit's
vocabulary here and nowhere else, and the errors of `models` (which name settings) back into flag names.
"""

import functools
import math
import re

import click
import torch

import models
from semantics import regions
from utils.indices import IndexList
from utils.limits import MAX_DISTANCE, MAX_NAME_BYTES, MAX_STEPS, MAX_VIEW_SIZE


def compose(*decorators):
    """Several click decorators as one (the first given ends up first in --help)."""
    return lambda func: functools.reduce(lambda f, decorator: decorator(f), reversed(decorators), func)


class FiniteFloat(click.ParamType):
    """A float that must be finite (and optionally within bounds)."""

    name = 'FLOAT'

    def __init__(self, min=None, max=None, min_open=False):
        self.min, self.max, self.min_open = min, max, min_open

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):  # nan, inf, or no number
            self.fail(f'{value!r} is not a finite number', param, ctx)
        if self.min is not None and (number < self.min or (self.min_open and number == self.min)):
            self.fail(f'{value} must be {">" if self.min_open else ">="} {self.min:g}', param, ctx)
        if self.max is not None and number > self.max:
            self.fail(f'{value} must be <= {self.max:g}', param, ctx)
        return number


DISTANCE = FiniteFloat(min=-MAX_DISTANCE, max=MAX_DISTANCE)
PSI = FiniteFloat(min=-models.MAX_TRUNCATION_PSI, max=models.MAX_TRUNCATION_PSI)
VIEW_SIZE = click.IntRange(0, MAX_VIEW_SIZE)
STEPS = click.IntRange(1, MAX_STEPS)


class FileName(click.ParamType):
    """A name that becomes one file or folder name: not empty, no path separator, not `.` or `..`, not too long."""

    name = 'name'

    def convert(self, value, param, ctx):
        text = str(value)
        if not text.strip() or text.strip() in ('.', '..') or any(c in text for c in '/\\\0'):
            self.fail(f'{text!r} is not a file name (give a plain name, without / or \\)', param, ctx)
        size = len(text.encode('utf-8', 'surrogateescape'))
        if size > MAX_NAME_BYTES:
            self.fail(f'{text[:20]!r}... is {size} bytes long: names go up to {MAX_NAME_BYTES}', param, ctx)
        return text


class Box(click.ParamType):
    """'cx,cy,h,w': a box on the 256-pixel grid (row centre, column centre, height, width), inside the grid."""

    name = 'CX,CY,H,W'

    def convert(self, value, param, ctx):
        parts = [part.strip() for part in str(value).split(',')]
        box = tuple(int(part) for part in parts) if all(re.fullmatch(r'-?\d+', p) for p in parts) else ()
        if len(box) != 4 or min(box[2:]) < 1:
            self.fail(f'{value!r} is not four comma-separated integers cx,cy,h,w (h and w at least 1)', param, ctx)
        try:
            regions.check_mask(regions.box_mask(box, regions.BOX_RESOLUTION), f'box {value}')
        except ValueError as error:
            self.fail(f'{error} (boxes are on the {regions.BOX_RESOLUTION}-pixel grid)', param, ctx)
        return box


def not_empty(ctx, param, value):
    """Click callback refusing an empty or blank value."""
    if value is not None and not str(value).strip():
        raise click.BadParameter('an empty value; leave the option out instead', ctx, param)
    return value


# ----------------------------------------------------------------------------
# The one error handler of the scripts.

class InputError(click.ClickException):
    """Input the toolkit cannot use (a file, a name, a value): exit status 2, as click's own usage errors."""

    exit_code = 2


class Interrupted(click.ClickException):
    """Ctrl-C, said in one line with what is kept: exit status 130, as a shell's for SIGINT."""

    exit_code = 130


def cli_errors(func):
    """One line for what a run can meet: input the readers refuse (exit 2), a failing system (exit 1), Ctrl-C (exit
    130). Anything else is a bug and keeps its traceback."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            problem = Interrupted('interrupted: nothing of this run was put in place (an earlier result is kept as '
                                  'it was)')
        except Exception as error:  # noqa: BLE001 - sorted below; what is not recognised is raised again
            problem = _one_line(error)
            if problem is None:
                raise
        raise problem
    return wrapper


def _one_line(error):
    """The click error of an exception a run can meet, or None."""
    text = ' '.join(str(error).split()) or type(error).__name__
    if isinstance(error, (ValueError, EOFError, FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return InputError(f'{error.filename}: {error.strerror}' if isinstance(error, OSError) and error.filename
                          else text)
    if isinstance(error, OSError):
        return click.ClickException(f'{error.filename}: {error.strerror}' if error.filename else text)
    memory = isinstance(error, (MemoryError, torch.cuda.OutOfMemoryError)) or isinstance(error, RuntimeError) and any(
        phrase in text.lower() for phrase in ('out of memory', 'not enough memory', "can't allocate memory"))
    return click.ClickException(f'not enough memory for this run ({text[:160]}): ask for fewer or smaller results '
                                '(samples, sizes, --batch_size)') if memory else None


# ----------------------------------------------------------------------------
# Device and model.

def parse_device(text, option='--device'):
    """'cpu', 'cuda', 'cuda:N' (or None: cuda when available) -> a usable device string, checked."""
    if text is None:
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        device = torch.device(str(text).strip())
    except (RuntimeError, ValueError):
        device = torch.device('meta')  # not a device name: refused below
    if device.type == 'cpu':
        return 'cpu'
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if device.type != 'cuda' or (device.index or 0) >= count:
        raise click.BadParameter(f'{text!r} is not a device of this machine: use cpu' +
                                 (f', cuda or cuda:N for N below {count}' if count else ' (CUDA is not available)'),
                                 param_hint=option)
    return f'cuda:{device.index or 0}'


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
    expected = {'family': family, 'cfg': opts.get('cfg'), 'img_resolution': opts.get('img_size'),
                'w_dim': opts.get('w_dim')}
    flags = {'family': f'--{family}', 'cfg': '--cfg', 'img_resolution': '--img_size', 'w_dim': '--w_dim'}
    variant = ('stylegan2' if opts.get('scale_stylegan2') is not None else
               'stylegan3r' if opts.get('cfg') == 'R' and opts.get('scale_stylegan3r') is not None else
               'stylegan3t' if opts.get('cfg') != 'R' and opts.get('stylegan3') and
               opts.get('scale_stylegan3t') is not None else None)
    if variant:  # the scale of the family asked for is checked while loading
        expected['channel_base'] = int(opts[f'scale_{variant}'] * _SCALE)
        flags['channel_base'] = f'--scale_{variant}'
    return expected, flags  # None: not asked for


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


def load_model(opts, device_option='--device', say=None):
    """The generator the model options name, its transform applied, `opts['data_name']` set; `say` hears what."""
    device = parse_device(opts.get('device'), device_option)
    source = str(opts['weight_path'])
    if source.startswith('builtin:') and source[8:] not in models.builtin.names():
        raise click.BadParameter(f'unknown built-in model {source[8:]!r}; the built-in models are '
                                 f'{", ".join("builtin:" + name for name in models.builtin.names())}',
                                 param_hint='MODEL')
    expected, flags = _expected_settings(opts)
    try:
        generator = models.load_generator(source, device=device, **expected)
    except models.CheckpointError as error:
        raise InputError(_translate(error, flags)) from None
    for variant in ('stylegan2', 'stylegan3r', 'stylegan3t'):  # the flags of the families not checked above
        flag, value = f'--scale_{variant}', opts.get(f'scale_{variant}')
        if value is not None and flags.get('channel_base') != flag and (
                generator.variant != variant or generator.config.channel_base != int(value * _SCALE)):
            theirs = (f'a {generator.variant} generator' if generator.variant != variant else
                      f'channel_base={generator.config.channel_base}')
            raise click.BadParameter(f'{flag} asks for a {variant} generator with channel_base='
                                     f'{int(value * _SCALE)}, but {source} holds {theirs}', param_hint=flag)
    try:
        generator.set_transform(opts.get('tx') or 0, opts.get('ty') or 0, opts.get('rotate') or 0)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint='--tx/--ty/--rotate') from None
    # --data_name, else the data a built-in trained model was trained on (its own name), else the original's ffhq
    trained = source.startswith('builtin:') and generator.checkpoint_sha256
    opts['data_name'] = opts.get('data_name') or (generator.model_name if trained else 'ffhq')
    if say is not None:
        say(describe_weights(generator))
    return generator


def describe_weights(generator):
    """One line saying what was loaded (and loudly, when weights are random)."""
    if generator.checkpoint_sha256 is None and str(generator.source).startswith('builtin:'):
        return (f'NOTE: {generator.source} is a small built-in model ({generator.describe()}) with RANDOM '
                'weights: images are noise-like patterns, not pictures. Pass a checkpoint for real results.')
    return (f'Loaded {generator.describe()} ({generator.checkpoint_format}) from {generator.source} '
            f'as {generator.model_name}')


def check_layers(generator, layers, option, allowed=None):
    """`layers` (None: `allowed`, else all ws) as sorted indices of this model, or an error naming `option`."""
    allowed = list(range(generator.num_ws)) if allowed is None else allowed
    bad = [i for i in layers or () if i not in allowed]
    if bad:
        raise click.BadParameter(f'layer {bad[0]} is not one of this {generator.variant}\'s layers '
                                 f'{allowed[0]}-{allowed[-1]}', param_hint=option)
    return allowed if layers is None else sorted(layers)


# ----------------------------------------------------------------------------
# Sampling, truncation, classes, outputs and regions; defaults differ per script.

def sampling_options(nums):
    return compose(
        click.option('--seed', type=click.IntRange(0, 2 ** 32 - 1), default=4, show_default=True,
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


trunc_options = compose(  # --trunc_psi and --trunc_layers (SeFa's script has no --randomize_noise)
    click.option('--trunc_psi', type=PSI, default=0.7, show_default=True,
                 help='Psi factor used for truncation (BigGAN: its truncation, in (0, 1]).'),
    click.option('--trunc_layers', type=click.IntRange(min=0), default=8, show_default=True,
                 help='Number of layers to perform truncation (StyleGAN families).'),
)

truncation_options = compose(
    trunc_options,
    click.option('--randomize_noise', type=click.Choice(['const', 'random', 'none']), default='const',
                 show_default=True, help='Noise mode when synthesizing (StyleGAN, StyleGAN2).'),
)

data_name_option = click.option(
    '-d', '--data_name', type=FileName(), default=None,
    help='Name of the dataset: part of the default --save_dir, and whose named regions --region takes. '
         '[default: the model\'s data where it is known (builtin:faces64: faces64, whose regions are ffhq\'s), '
         'else ffhq]')


def output_options(job, save_jpg=False, page=True):
    """--save_dir, --job, --data_name, --save_jpg and --vis_size (only accepted, without `page`)."""
    save_help = ('Save every image as a JPEG file too.' if not save_jpg else
                 'Save the images the Jacobians are taken of (--no_save_jpg: do not).')
    vis_size = click.option('--vis_size', type=VIEW_SIZE, default=256, show_default=True,
                            help='Size of the images on the HTML page (0: full size).') if page else \
        click.option('--vis_size', type=VIEW_SIZE, default=None, hidden=True)  # the original's; no page here
    return compose(
        click.option('--save_dir', type=str, default=None, metavar='DIR', callback=not_empty,
                     help=f'Root folder of the results; each run gets a folder named after its model and '
                          f'settings below it. [default: work_dirs/{job}/DATA_NAME]'),
        click.option('--job', type=FileName(), default=job, show_default=True,
                     help='Name of the job (work_dirs/JOB/...).'),
        data_name_option,
        click.option('--save_jpg/--no_save_jpg', default=save_jpg, show_default=True, help=save_help),
        vis_size,
    )


def region_options(purpose):
    """--region / --box / --mask / --labels, with one set of names and rules for every script."""
    return compose(
        click.option('--region', default=None, metavar='NAME', callback=not_empty,
                     help=f'Named region of --data_name {purpose}: ' + '; '.join(
                         f'{data}: {", ".join(regions.region_names(data))}' for data in regions.dataset_names()
                         if data != 'faces64') + ' (boxes: compute_directions.py --list_regions).'),
        click.option('--box', type=Box(), default=None,
                     help=f'A box on the 256-pixel grid (row centre, column centre, height, width) {purpose}.'),
        click.option('--mask', 'mask_path', default=None, metavar='FILE', callback=not_empty,
                     help=f'Segmentation mask (.png or .npy) {purpose}; with --labels.'),
        click.option('--labels', type=IndexList(allow_all=False), default=None, metavar='LIST',
                     help='Labels of --mask that form the region, e.g. 4,5 or 1,3-6.'),
    )


class_option = click.option('--class', 'class_spec', default=None, metavar='CLASS',
                            help='Class of a conditional model: an index (BigGAN also: a name or WordNet id).')


def class_index_of(generator, class_spec):
    """The class index `--class` names for this model (None for an unconditional model)."""
    if class_spec is None and generator.c_dim:
        raise click.BadParameter(f'this {generator.variant} model is conditional ({generator.c_dim} classes): give a '
                                 'class', param_hint='--class')
    try:
        return None if class_spec is None else generator.class_index(class_spec)
    except ValueError as error:  # the model's rule, unconditional models included
        raise click.BadParameter(str(error), param_hint='--class') from None


sefa_model_options = compose(  # SeFa's own: MODEL_NAME and --gpu_id (plus --device)
    click.argument('weight_path', metavar='MODEL_NAME'),
    click.option('--gpu_id', default=None, metavar='ID',
                 help='GPU to use (the first of a list; -1 or cpu: the CPU). [default: cuda when available]'),
    click.option('--device', default=None, help="'cpu', 'cuda' or 'cuda:N' (overrides --gpu_id)."),
)
