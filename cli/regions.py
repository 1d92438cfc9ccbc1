"""The region the region options name: a named box, a `--box`, or a segmentation `--mask` with `--labels`."""

import os

import click

from semantics import regions
from utils.indices import format_indices

from .runs import file_label

__all__ = ['region_from_options']


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
            mask = regions.box_mask(regions.scale_box(box, size), size, what=f'--box {opts["box"]}')
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
    try:
        regions.named_box(data_name, name)
    except ValueError as error:
        raise click.BadParameter(f'{error}; or give any box with --box CX,CY,H,W', param_hint='--region') from None
    return regions.region_mask(data_name, name, size)
