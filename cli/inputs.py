"""What a script works on, from its options: the latent codes, and the region of interest."""

import os
from dataclasses import dataclass
from typing import Optional

import click
import numpy as np
import torch

import directions
from semantics import regions, sampling
from utils.indices import format_indices

from .options import class_index_of
from .runs import file_label, samples_part

__all__ = ['Codes', 'codes_from_options', 'region_from_options', 'direction_mismatch']


@dataclass
class Codes:
    """Latent codes to edit or render, and how to name and describe them."""

    space: str                      # 'z', 'w' or 'wp'.
    values: np.ndarray              # float32 [N, z_dim], [N, w_dim] or [N, num_ws, w_dim].
    labels: Optional[torch.Tensor]  # [N, c_dim] one-hot labels of a conditional model, else None.
    class_index: Optional[int]      # The class of the labels.
    part: str                       # Output-path part: 'seed_4_num_8' or 'latents_<label>_num_<n>'.
    description: str                # For pages: 'seed 4, 8 samples (z)' or the file read.

    def __len__(self):
        return len(self.values)

    def ws(self, generator, truncation_psi=1, truncation_cutoff=None, batch_size=16):
        """ws `[N, num_ws, w_dim]` of these codes (truncation applies to z codes only)."""
        return sampling.to_ws(generator, self.values, self.space, truncation_psi, truncation_cutoff, self.labels,
                              batch_size)


def codes_from_options(generator, opts, nums_key='nums', truncation_psi=1):
    """The codes the sampling options name, validated for this model (before anything is written).

    Args:
        opts: Click options holding `seed`, `nums_key`, `latent_path`, `latent_space`, `class_spec`.
        truncation_psi: The truncation z is drawn with (BigGAN samples truncated noise).
    """
    class_index = class_index_of(generator, opts.get('class_spec'))
    try:
        generator.check_truncation(truncation_psi)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint='--trunc_psi') from None
    nums = opts[nums_key]
    if opts.get('latent_path'):
        try:
            path, array, _ = directions.read_latents(opts['latent_path'])
        except directions.CatalogError as error:
            raise click.BadParameter(str(error), param_hint='--latent_path') from None
        try:
            space, values = sampling.check_codes(generator, array, opts.get('latent_space', 'auto'), nums, path)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint='--latent_path') from None
        part = samples_part(None, len(values), path, file_label(path))
        description = f'{len(values)} codes ({space}) from {path}'
    else:
        values = sampling.sample_z(generator, nums, opts['seed'], truncation_psi)
        space = 'z'
        part = samples_part(opts['seed'], nums)
        description = f'{nums} samples of seed {opts["seed"]} (np.random.RandomState, z)'
    labels = sampling.class_labels(generator, class_index, len(values), generator.device)
    if class_index is not None:
        part += f'_class_{class_index}'
        description += f', class {class_index} ({generator.class_name(class_index)})'
    return Codes(space, values, labels, class_index, part, description)


# ----------------------------------------------------------------------------
# Regions.

def region_from_options(opts, size, default=None):
    """`(name, bool mask [size, size])` of the region the options give, or None when none is given.

    Args:
        opts: Options holding `region`, `box`, `mask_path`, `labels` and `data_name`.
        size: Resolution of the mask (the Jacobian's, or the image's).
        default: Region name used when none of the options is given (None: no region).

    The name is part of output paths: 'eyes', 'box_120_128_20_115', or
    'mask_<file label>_labels_4-5'.
    """
    given = [flag for flag, key in (('--region', 'region'), ('--box', 'box'), ('--mask', 'mask_path'))
             if opts.get(key)]
    if len(given) > 1:
        raise click.BadParameter(f'give one of --region, --box, --mask (got {" and ".join(given)})',
                                 param_hint=given[1])
    if opts.get('labels') and not opts.get('mask_path'):
        raise click.BadParameter('--labels goes with --mask', param_hint='--labels')
    try:
        if opts.get('box'):
            box = regions.parse_box(opts['box'])
            what = f'--box {opts["box"]}'
            regions.box_mask(box, regions.BOX_RESOLUTION, what=f'{what} (on the {regions.BOX_RESOLUTION} grid)')
            mask = regions.box_mask(regions.scale_box(box, size), size, what=what, clip=True)
            return 'box_' + '_'.join(str(v) for v in box), mask
        if opts.get('mask_path'):
            if not opts.get('labels'):
                raise click.BadParameter('--mask needs --labels (the label values that form the region)',
                                         param_hint='--labels')
            if not os.path.isfile(opts['mask_path']):
                raise click.BadParameter(f'{opts["mask_path"]}: no such file', param_hint='--mask')
            mask = regions.mask_from_file(opts['mask_path'], opts['labels'], size)
            return f'mask_{file_label(opts["mask_path"])}_labels_{format_indices(opts["labels"])}', mask
        name = opts.get('region') or default
        if name is None:
            return None
        return name, _named_region(opts['data_name'], name, size)
    except ValueError as error:
        option = '--box' if opts.get('box') else '--mask' if opts.get('mask_path') else '--region'
        raise click.BadParameter(str(error), param_hint=option) from None


def _named_region(data_name, name, size):
    """Mask of a named box; an unknown name lists the known ones and points to --box."""
    if data_name not in regions.dataset_names():
        raise click.BadParameter(f'no named regions for dataset {data_name!r}; the datasets with named regions '
                                 f'are {", ".join(regions.dataset_names())} (or give any box with --box)',
                                 param_hint='-d/--data_name')
    try:
        regions.named_box(data_name, name)
    except ValueError as error:
        raise click.BadParameter(f'{error}; or give any box with --box CX,CY,H,W', param_hint='--region') from None
    return regions.region_mask(data_name, name, size)


# ----------------------------------------------------------------------------
# Directions.

def direction_mismatch(direction, generator):
    """A warning line when the direction's catalog entry or sidecar names another model than `generator`.

    Compares the family, resolution, `w_dim`, `num_ws` and, where the sidecar
    records one, the checkpoint's SHA-256. None when nothing differs (or
    nothing is known). Not an error: directions are transferred on purpose.
    """
    facts = dict(direction.sidecar or {})
    if direction.entry is not None:
        facts.update(direction.entry.facts)
    made = {'family': facts.get('family'), 'img_resolution': facts.get('img_resolution'),
            'w_dim': facts.get('w_dim'), 'num_ws': facts.get('num_ws'),
            'checkpoint_sha256': facts.get('checkpoint_sha256') or facts.get('source_sha256')}
    held = {'family': generator.family, 'img_resolution': generator.img_resolution, 'w_dim': generator.w_dim,
            'num_ws': generator.num_ws, 'checkpoint_sha256': generator.checkpoint_sha256}
    differ = [key for key, value in made.items() if value is not None and held[key] is not None and value != held[key]]
    if not differ:
        return None
    name = facts.get('model_description') or facts.get('model') or facts.get('source_checkpoint') or 'another model'
    shown = ', '.join(f'{key} {made[key] if key != "checkpoint_sha256" else made[key][:8]}' for key in differ)
    mine = ', '.join(f'{key} {held[key] if key != "checkpoint_sha256" else held[key][:8]}' for key in differ)
    return (f'Warning: {direction.path} was made for {name} ({shown}), but the model loaded is '
            f'{generator.model_name} ({mine}); it is applied anyway')
