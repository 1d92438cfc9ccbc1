"""Jacobians of generated images with respect to the latent w (ReSeFa step 1).

Forward-mode differentiation (`w_dim` Jacobian-vector products per sample,
vmapped in chunks) instead of the reference's one backward pass per pixel:
identical numbers, seconds instead of hours per sample on a GPU.

Examples:

\b
    python compute_jacobian.py stylegan2-ffhq-config-f-1024x1024.pth --stylegan2
    python compute_jacobian.py MODEL --nums 100 --region eyes      # only the eyes' Gram matrices

Writes into `work_dirs/jacobians/<data_name>/`: `latent_codes.npy` (w, [N, w_dim]),
`jacobians_w.npy` in the reference layout ([N, 256, 256, 1, w_dim] for images
larger than 256, summed over colour; else [N, C, H, W, 1, w_dim]), a sidecar
`jacobians_w.json`, and with --save_jpg the images in `images/`. With
--region/--box/--mask it accumulates only the region's Gram matrices into
`grams_<region>.npz` (MBs instead of 128 MiB per sample). An interrupted run,
started again with the same options, resumes after the last finished sample.
"""

import hashlib
import json
import os

import click
import numpy as np
import torch
from tqdm import tqdm

from semantics import jacobian as jac
from utils import latents
from utils.fileio import atomic_path, save_json, save_npy, sha256_of
from utils.images import save_image, to_uint8
from utils.options import (IntListType, cli_errors, describe_weights, load_model, model_options, output_options,
                           sampling_options, save_dir_of)


@click.command(help=__doc__)
@model_options
@sampling_options(nums=5)
@output_options(job='jacobians')
@click.option('--chunk_size', type=click.IntRange(min=1), default=None,
              help='Basis vectors per batched Jacobian-vector product; sets the peak memory. '
                   '[default: fit 2 GiB on CPU, 40% of free memory on CUDA]')
@click.option('--jacobian_size', type=click.IntRange(min=1), default=None,
              help='Resolution of the Jacobian. [default: 256 for larger images, else the image size]')
@click.option('--sum_channels/--per_channel', default=None,
              help='Sum the Jacobian over colour channels. [default: when the image is larger than 256]')
@click.option('--layers', type=IntListType(), default=None, metavar='LIST',
              help='Differentiate w.r.t. w on these layers only (the layers you will edit). [default: all]')
@click.option('--region', default=None, metavar='NAME', help='Accumulate Gram matrices of this named region.')
@click.option('--box', default=None, metavar='CX,CY,H,W', help='Accumulate Gram matrices of this box (256 grid).')
@click.option('--mask', 'mask_path', default=None, metavar='FILE', help='Segmentation mask (.png or .npy) for the region.')
@click.option('--labels', default=None, metavar='LIST', help='Labels of --mask that form the region, e.g. 4,5.')
@click.option('--class', 'class_spec', default=None, metavar='CLASS', help='Class for a conditional model.')
@click.option('--trunc_psi', type=float, default=1.0, show_default=True,
              help='Truncation of the sampled w (the reference uses none).')
@click.option('--trunc_layers', type=click.IntRange(min=0), default=0, show_default=True, hidden=True)
@cli_errors
def main(**opts):
    generator, job_disc = load_model(opts)
    click.echo(describe_weights(generator))
    device = next(generator.parameters()).device
    save_dir = opts['save_dir'] or save_dir_of(opts)

    space, codes, labels = latents.codes_from_options(generator, opts, device)
    if space == 'wp':
        raise click.BadParameter('Jacobians are taken at a single w per sample: give z or w codes',
                                 param_hint='--latent_path')
    ws = latents.codes_to_ws(generator, codes, space, opts['trunc_psi'], None, labels)
    w = ws[:, 0].cpu().numpy().astype(np.float32)  # [N, w_dim]
    size, sum_channels = jac.reference_output_shape(generator, opts['jacobian_size'], opts['sum_channels'])
    layers = opts['layers']
    if layers is not None:
        from semantics.editing import check_layers
        layers = check_layers(layers, generator.num_ws, '--layers')
    syn_kwargs = latents.synthesis_kwargs(generator, 'const', opts['trunc_psi'])
    mask, region_name = _region(opts, size)
    if opts['chunk_size'] is None:
        opts['chunk_size'] = jac.auto_chunk_size(generator, device)
    click.echo(f'Jacobian {size}x{size}{" summed over colour" if sum_channels else " per channel"}, '
               f'{generator.w_dim} JVPs per sample in chunks of {opts["chunk_size"]}')

    settings = {
        'source': generator.source, 'family': generator.family, 'seed': opts['seed'], 'nums': len(w),
        'latents_sha256': hashlib.sha256(w.tobytes()).hexdigest(), 'jacobian_size': size,
        'sum_channels': sum_channels, 'layers': layers, 'region': region_name,
        'transform': [opts['tx'], opts['ty'], opts['rotate']], 'noise_mode': 'const',
    }
    os.makedirs(save_dir, exist_ok=True)
    save_npy(os.path.join(save_dir, 'latent_codes.npy'), w)
    if opts['save_jpg']:
        with torch.no_grad():
            for idx in range(len(w)):
                wp = torch.from_numpy(w[idx:idx + 1]).to(device).unsqueeze(1).repeat(1, generator.num_ws, 1)
                image = to_uint8(generator.synthesis(wp, **syn_kwargs))[0]
                save_image(os.path.join(save_dir, 'images', f'{idx:06d}.jpg'), image)

    sidecar = {**settings, 'checkpoint_sha256': _checkpoint_sha(generator.source), 'model': job_disc,
               'w_dim': generator.w_dim, 'method': 'forward-mode jvp (torch.func), reference semantics'}
    if mask is None:
        out = _dense(generator, w, layers, size, sum_channels, opts['chunk_size'], syn_kwargs, save_dir, settings)
        sidecar['shape'] = list(out)
        save_json(os.path.join(save_dir, 'jacobians_w.json'), sidecar)
        click.echo(f'Jacobians {list(out)}: {os.path.join(save_dir, "jacobians_w.npy")}')
    else:
        path = _grams(generator, w, layers, size, sum_channels, opts['chunk_size'], syn_kwargs, save_dir,
                      settings, mask, region_name)
        sidecar['grams'] = os.path.basename(path)
        save_json(os.path.join(save_dir, f'grams_{region_name}.json'), sidecar)
        click.echo(f'Gram matrices of region {region_name}: {path}')
    click.echo(f'Latent codes: {os.path.join(save_dir, "latent_codes.npy")}')


def _region(opts, size):
    given = [k for k in ('region', 'box', 'mask_path') if opts[k]]
    if len(given) > 1:
        raise click.BadParameter('give one of --region, --box, --mask', param_hint='--region/--box/--mask')
    if not given:
        if opts['labels']:
            raise click.BadParameter('--labels goes with --mask', param_hint='--labels')
        return None, None
    from semantics import regions
    if opts['region']:
        return regions.region_mask(opts['data_name'], opts['region'], size), opts['region']
    if opts['box']:
        box = regions.scale_box(regions.parse_box(opts['box']), size)
        return regions.box_mask(box, size, what=f'--box {opts["box"]}'), 'box_' + opts['box'].replace(',', '_')
    if not opts['labels']:
        raise click.BadParameter('--mask needs --labels (the label values that form the region)', param_hint='--labels')
    labels = regions.parse_labels(opts['labels'])
    mask = regions.mask_from_file(opts['mask_path'], labels, size)
    return mask, 'mask_' + os.path.splitext(os.path.basename(opts['mask_path']))[0]


def _checkpoint_sha(source):
    return sha256_of(source) if os.path.exists(str(source)) else None


def _progress(save_dir, name):
    return os.path.join(save_dir, f'.{name}.progress.json')


def _resume_point(progress_path, settings, partial):
    """Samples already finished by an interrupted run with the same settings."""
    if not (os.path.isfile(progress_path) and os.path.isfile(partial)):
        return 0
    try:
        with open(progress_path, encoding='utf-8') as file:
            state = json.load(file)
    except (OSError, ValueError):
        return 0
    return int(state.get('done', 0)) if state.get('settings') == settings else 0


def _mark(progress_path, settings, done):
    save_json(progress_path, {'settings': settings, 'done': done})


def _dense(generator, w, layers, size, sum_channels, chunk_size, syn_kwargs, save_dir, settings):
    """Stream every sample's Jacobian into `jacobians_w.npy` (a memory-mapped partial file)."""
    channels = [] if sum_channels else [generator.img_channels]
    shape = (len(w), *channels, size, size, 1, generator.w_dim)
    final = os.path.join(save_dir, 'jacobians_w.npy')
    partial = os.path.join(save_dir, '.jacobians_w.npy.partial')
    progress = _progress(save_dir, 'jacobians_w')
    done = _resume_point(progress, settings, partial)
    if done:
        out = np.lib.format.open_memmap(partial, mode='r+')
        if out.shape != shape:
            done = 0
    if not done:
        out = np.lib.format.open_memmap(partial, mode='w+', dtype=np.float32, shape=shape)
    if done:
        click.echo(f'Resuming after {done} finished samples')
    samples = jac.iter_jacobians(generator, w[done:], layers, size, sum_channels, chunk_size,
                                 synthesis_kwargs=syn_kwargs)
    for idx, j in enumerate(tqdm(samples, total=len(w) - done, desc='jacobians', unit='sample'), start=done):
        out[idx] = jac.to_reference_layout(j).cpu().numpy()
        out.flush()
        _mark(progress, settings, idx + 1)
    del out
    os.replace(partial, final)
    os.remove(progress)
    return shape


def _grams(generator, w, layers, size, sum_channels, chunk_size, syn_kwargs, save_dir, settings, mask, region):
    """Accumulate the region's Gram matrices sample by sample (resumable)."""
    from semantics.resefa import GramAccumulator
    final = os.path.join(save_dir, f'grams_{region}.npz')
    partial = os.path.join(save_dir, f'.grams_{region}.partial.npz')
    progress = _progress(save_dir, f'grams_{region}')
    done = _resume_point(progress, settings, partial)
    acc = GramAccumulator.load(partial) if done else GramAccumulator(mask, generator.w_dim)
    if done:
        click.echo(f'Resuming after {done} finished samples')
    samples = jac.iter_jacobians(generator, w[done:], layers, size, sum_channels, chunk_size,
                                 synthesis_kwargs=syn_kwargs)
    for idx, j in enumerate(tqdm(samples, total=len(w) - done, desc='jacobians', unit='sample'), start=done):
        acc.update(jac.to_reference_layout(j).cpu().numpy()[None])
        acc.save(partial)
        _mark(progress, settings, idx + 1)
    with atomic_path(final) as tmp:
        os.replace(partial, tmp) if os.path.exists(partial) else acc.save(tmp)
    if os.path.exists(progress):
        os.remove(progress)
    return final


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
