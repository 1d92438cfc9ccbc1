"""What a script works on, read and checked where it enters: latent codes (and the page notes that describe them),
regions and masks, Jacobians and Gram matrices, and how a direction file fits the model."""

import os
from dataclasses import dataclass
from typing import Optional

import click
import numpy as np
import torch

import directions
from semantics import regions, sampling
from semantics.resefa import GramSums
from utils.fileio import load_json, load_npy, one_line
from utils.indices import format_indices
from utils.limits import MAX_INDEX

from .options import class_index_of, describe_weights
from .runs import file_label


def plural(count, word):
    """'1 sample', '2 samples' ('1 code', '3 codes')."""
    return f'{count} {word}{"" if count == 1 else "s"}'


@dataclass
class Codes:
    """Latent codes to edit or render, and how to name and describe them."""

    space: str                      # 'z', 'w' or 'wp'.
    values: np.ndarray              # float32 [N, z_dim], [N, w_dim] or [N, num_ws, w_dim].
    labels: Optional[torch.Tensor]  # [N, c_dim] one-hot labels of a conditional model, else None.
    part: str                       # Output-path part: 'seed_4_num_8' or 'latents_<label>_num_<n>'.
    description: str                # For pages: '8 samples of seed 4 ...' or the file read.

    def __len__(self):
        return len(self.values)

    def ws(self, generator, truncation_psi=1, truncation_cutoff=None, batch_size=16):
        """ws `[N, num_ws, w_dim]` of these codes (truncation applies to z codes only)."""
        return sampling.to_ws(generator, self.values, self.space, truncation_psi, truncation_cutoff, self.labels,
                              batch_size)


def codes_from_options(generator, opts, nums_key='nums'):
    """The codes the sampling options name, checked for this model before anything is written."""
    class_index = class_index_of(generator, opts.get('class_spec'))
    try:
        generator.check_truncation(opts['trunc_psi'])
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint='--trunc_psi') from None
    nums = opts[nums_key]
    if opts.get('latent_path'):
        try:
            path, array, _ = directions.read_latents(opts['latent_path'])
            space, values = directions.check_codes(generator, array, opts.get('latent_space', 'auto'), nums, path)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint='--latent_path') from None
        part = f'latents_{file_label(path)}_num_{len(values)}'
        description = f'{plural(len(values), "code")} ({space}) from {path}'
    else:
        space, values = 'z', sampling.sample_z(generator, nums, opts['seed'], opts['trunc_psi'])
        part = f'seed_{opts["seed"]}_num_{nums}'
        description = f'{plural(nums, "sample")} of seed {opts["seed"]} (np.random.RandomState, z)'
    if class_index is not None:
        part += f'_class_{class_index}'
        description += f', class {class_index} ({generator.class_name(class_index)})'
    labels = sampling.class_labels(generator, class_index, len(values), generator.device)
    return Codes(space, values, labels, part, description)


def settings_notes(generator, codes, opts):
    """The page notes naming the model, the `codes`, truncation, noise and transform (what the family uses)."""
    lines = [describe_weights(generator), f'Codes: {codes.description}']
    psi, cutoff, num_ws = opts.get('trunc_psi', 1), opts.get('trunc_layers'), generator.num_ws
    if codes.space != 'z':
        lines.append(f'Codes read as {codes.space}: used as they are (no truncation)')
    elif generator.has_truncation and generator.has_truncation_cutoff and cutoff is not None:
        beyond = f' (--trunc_layers {cutoff} is more than the model has)' if cutoff > num_ws else ''
        lines.append(f'Truncation: psi {psi:g} on the first {plural(cutoff, "layer")}' if cutoff < num_ws else
                     f'Truncation: psi {psi:g} on all {num_ws} layers{beyond}')
    elif generator.has_truncation:
        lines.append(f'Truncation: {psi:g}')
    if generator.has_noise and opts.get('randomize_noise'):
        lines.append(f'Noise: {opts["randomize_noise"]}')
    tx, ty, rotate = (opts.get(key) or 0 for key in ('tx', 'ty', 'rotate'))
    if generator.has_transform and (tx or ty or rotate):
        lines.append(f'Transform: translate ({tx:g}, {ty:g}), rotate {rotate:g} degrees')
    return lines


# ----------------------------------------------------------------------------
# Regions.

def region_from_options(opts, size, default=None):
    """`(name, bool mask [size, size])` of the region `--region`, `--box` or `--mask`/`--labels` give, else of the
    region named `default`, else None; the name ('eyes', 'box_120_128_20_115', ...) is part of output paths."""
    given = [flag for flag, key in (('--region', 'region'), ('--box', 'box'), ('--mask', 'mask_path'))
             if opts.get(key)]
    option = given[0] if given else '--region'
    problem = None
    if len(given) > 1:
        problem = f'give one of --region, --box, --mask (got {" and ".join(given)})'
    elif bool(opts.get('labels')) != bool(opts.get('mask_path')):
        problem, option = '--mask and --labels go together (the labels of the mask that form the region)', '--labels'
    if problem:
        raise click.BadParameter(problem, param_hint=option)
    try:
        if opts.get('box'):
            box = opts['box']
            name, mask = 'box_' + '_'.join(map(str, box)), regions.box_mask(regions.scale_box(box, size), size, True)
        elif opts.get('mask_path'):
            name = f'mask_{file_label(opts["mask_path"])}_labels_{format_indices(opts["labels"])}'
            mask = np.isin(_read_label_map(opts['mask_path']), opts['labels'])
            mask = regions.resize_nearest(mask, size) if mask.shape != (size, size) else mask
        elif opts.get('region') or default:
            name = opts.get('region') or default
            mask = regions.region_mask(opts['data_name'], name, size)
        else:
            return None
        return name, regions.check_mask(mask, f'region {name}')
    except (ValueError, OSError) as error:
        if isinstance(error, OSError) and error.filename:
            error = f'{error.filename}: {error.strerror}'
        if option == '--region' and opts['data_name'] not in regions.dataset_names():
            option = '-d/--data_name'
        raise click.BadParameter(one_line(error) + ('; or give any box with --box CX,CY,H,W' if option == '--region'
                                                    else ''), param_hint=option) from None


def _read_label_map(path):
    """The square integer label map `[H, W]` of a segmentation file (`.npy`, or a single-channel `.png`)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == '.png':
        from PIL import Image
        try:
            with Image.open(path) as image:
                seg = np.array(image) if image.mode in ('L', 'P', 'I', 'I;16', '1') else None
                problem = None if seg is not None else f'PNG mode {image.mode} is not a label map (expected a ' \
                                                       'single-channel L, P, I or I;16 image)'
        except (SyntaxError, OSError) as error:  # PIL: not an image, or cut short
            seg, problem = None, 'no such file' if isinstance(error, FileNotFoundError) else \
                f'not a readable PNG ({one_line(error)[:120]})'
    elif ext == '.npy':
        seg, problem = load_npy(path), None
    else:
        seg, problem = None, f'unsupported file type {ext!r}; use .png or .npy'
    if seg is not None:
        seg = seg[..., 0] if seg.ndim == 3 and seg.shape[-1] == 1 else seg
        if seg.ndim != 2 or seg.shape[0] != seg.shape[1]:
            problem = f'a label map is a square [H, W] array, as the images are; this one has shape {list(seg.shape)}'
        elif seg.dtype.kind not in 'biuf' or seg.dtype.kind == 'f' and not np.all(np.mod(seg, 1) == 0):
            problem = f'labels must be integers, not {seg.dtype} values (or NaN, or fractions)'
    if problem:
        raise ValueError(f'{path}: {problem}')
    return seg


# ----------------------------------------------------------------------------
# Jacobians and Gram matrices (compute_jacobian.py's or the reference's), and their sidecars.

def read_jacobians(path):
    """`(jacobians [N, (C,) H, W, 1, w_dim] memory-mapped, sidecar)` of a `jacobians_w.npy`."""
    jacobians = load_npy(path, mmap_mode='r')
    shape = list(jacobians.shape)
    layout = jacobians.ndim in (5, 6) and shape[-2] == 1 and min(shape) > 0
    if jacobians.dtype.kind != 'f' or not layout or shape[-4] != shape[-3]:
        raise ValueError(f'{path}: holds {jacobians.dtype} {shape}, not Jacobians of square images '
                         f'[N, H, W, 1, w_dim] or [N, C, H, W, 1, w_dim]')
    return jacobians, _sidecar(path, shape, shape[-1])


def read_grams(path):
    """`(GramSums, sidecar)` of a `grams_<region>.npz` of compute_jacobian.py."""
    try:
        sums = GramSums.load(path)
    except KeyError as error:
        raise ValueError(f'{path}: not a Gram-matrix file of compute_jacobian.py ({one_line(error)[:120]})') from None
    w_dim = len(sums.sum_f)
    for name, value in (('sum_f', sums.sum_f), ('sum_b', sums.sum_b)):
        scale = 1e-8 * max(1.0, float(np.abs(value).max(initial=0)))
        if value.shape != (w_dim, w_dim) or not np.isfinite(value).all() or not np.allclose(value, value.T, 1e-5,
                                                                                            scale):
            raise ValueError(f'{path}: {name} is not a finite symmetric [w_dim, w_dim] sum of Gram matrices')
    return sums, _sidecar(path, None, w_dim)


def _sidecar(path, shape, w_dim):
    """The sidecar compute_jacobian.py writes beside `path` ({} for the reference's files), checked against the data."""
    sidecar = os.path.splitext(path)[0] + '.json'
    meta = load_json(sidecar) if os.path.isfile(sidecar) else {}
    problem = None if isinstance(meta, dict) else 'not a JSON object'
    meta = meta if isinstance(meta, dict) else {}
    num_ws, layers = meta.get('num_ws'), meta.get('layers')
    if shape is not None and meta.get('shape', shape) != shape:
        problem = f'describes Jacobians of shape {meta["shape"]}, but {path} holds {shape}'
    elif meta.get('w_dim', w_dim) != w_dim:
        problem = f'gives w_dim {meta["w_dim"]!r}, but {path} holds w_dim {w_dim}'
    elif num_ws is not None and not (isinstance(num_ws, int) and 0 < num_ws):
        problem = f'num_ws {num_ws!r} is not a number of layers'
    elif layers is not None and not (isinstance(layers, list) and layers and all(
            isinstance(i, int) and 0 <= i < (num_ws or MAX_INDEX + 1) for i in layers)):
        problem = f'layers {layers!r} are not layer indices' + (f' of a model with {num_ws} ws' if num_ws else '')
    if problem:
        raise ValueError(f'{sidecar}: {problem}')
    return meta


# ----------------------------------------------------------------------------
# Directions.

def direction_mismatch(direction, generator):
    """A warning line when the direction's catalog entry or sidecar names another model than `generator`, else None
    (not an error: directions are transferred on purpose)."""
    facts = {**(direction.sidecar or {}), **(direction.entry.facts if direction.entry is not None else {})}
    facts['checkpoint_sha256'] = facts.get('checkpoint_sha256') or facts.get('source_sha256')
    held = {'family': generator.family, 'img_resolution': generator.img_resolution, 'w_dim': generator.w_dim,
            'num_ws': generator.num_ws, 'checkpoint_sha256': generator.checkpoint_sha256}
    differ = [key for key, value in held.items() if None not in (value, facts.get(key)) and facts[key] != value]
    if not differ:
        return None
    name = facts.get('model_description') or facts.get('model') or facts.get('source_checkpoint') or 'another model'

    def shown(values):
        return ', '.join(f'{key} {str(values[key])[:8] if key == "checkpoint_sha256" else values[key]}'
                         for key in differ)

    return (f'Warning: {direction.path} was made for {name} ({shown(facts)}), but the model loaded is '
            f'{generator.model_name} ({shown(held)}); it is applied anyway')
