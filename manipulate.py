"""Edit images along directions (ReSeFa, SeFa or published ones) on chosen layers.

Examples:

\b
    python manipulate.py stylegan2-ffhq-config-f-1024x1024.pth directions/ffhq/stylegan2/eyesize.npy --stylegan2
    python manipulate.py MODEL eyesize --nums 4 --step 5           # a catalog name
    python manipulate.py MODEL work_dirs/directions/ffhq/eyes/pooled_resefa.npy --region eyes
    python manipulate.py MODEL DIRECTION --latent_path inverted_wp.npy   # w+ codes of real images

Writes `work_dirs/manipulations/<data_name>/seed_<seed>_num_<nums>_<model>_<direction>_<name>.html`
(rows: sample x direction; columns: name, origin, steps), the codes in
`.../<job>/latent_codes.npy`, an animated GIF per sample and direction, and with
--save_jpg every image.
"""

import os

import click
import numpy as np
import torch
from tqdm import tqdm

from semantics import editing
from utils import latents
from utils.fileio import save_npy
from utils.html import HtmlPage
from utils.images import save_gif, save_image, to_uint8
from utils.options import (IntListType, cli_errors, describe_weights, load_model, model_options, output_options,
                           sampling_options, save_dir_of, truncation_options)

DEFAULT_LAYERS = [4, 5, 6, 7]
DEFAULT_DISTANCES = (-10.0, 10.0)


def resolve_direction(spec):
    """(path, catalog entry or None, sidecar dict or None) of a direction file or name."""
    entry = None
    try:
        import directions
    except ImportError:  # pragma: no cover - catalog package absent
        directions = None
    if directions is not None and hasattr(directions, 'resolve_direction'):
        resolved = directions.resolve_direction(spec)
        path, entry = resolved.path, resolved.entry
    else:
        path = spec
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f'{spec}: no such direction file')
    sidecar = None
    json_path = os.path.splitext(path)[0] + '.json'
    if os.path.isfile(json_path):
        import json
        try:
            with open(json_path, encoding='utf-8') as file:
                sidecar = json.load(file)
        except (OSError, ValueError):
            sidecar = None
    return path, entry, sidecar


def load_directions(path, w_dim):
    """Directions `[K, w_dim]` float32 from a `.npy` holding `[w_dim]` or `[K, w_dim]`."""
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:
        raise ValueError(f'{path}: not a .npy array ({type(error).__name__})') from None
    if array.ndim == 1:
        array = array[None]
    if array.ndim == 3 and array.shape[1] == 1:  # [K, 1, w_dim]
        array = array[:, 0]
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f'{path}: directions must be a float array [w_dim] or [K, w_dim], '
                         f'got {array.dtype} {list(array.shape)}')
    if array.shape[1] != w_dim:
        raise ValueError(f'{path}: directions have {array.shape[1]} values each, but the model has w_dim={w_dim}')
    if not np.isfinite(array).all():
        raise ValueError(f'{path}: directions hold NaN or infinite values')
    return array.astype(np.float32)


def _defaults(entry, sidecar):
    """Recommended layers and distance range from the catalog entry or the sidecar."""
    layers, span, origin = None, None, None
    for source, name in ((entry, 'catalog'), (sidecar, 'direction sidecar')):
        if not source:
            continue
        get = source.get if isinstance(source, dict) else (lambda k, s=source: getattr(s, k, None))
        suggested = get('recommended_layers') or (get('layers') if name == 'direction sidecar' else None)
        if layers is None and suggested:
            layers, origin = list(suggested), name
        if span is None and get('distance_range'):
            span = tuple(get('distance_range'))
    return layers, span, origin


@click.command(help=__doc__)
@model_options
@click.argument('boundary_path', metavar='DIRECTION')
@sampling_options(nums=10)
@truncation_options
@output_options(job='manipulations')
@click.option('--name', default='resefa', show_default=True, help='Name used in the page file name.')
@click.option('--mani_layers', type=IntListType(), default=None, metavar='LIST',
              help="Layers to edit, e.g. '4,5,6,7' or '8-11' or 'all'. "
                   '[default: the catalog\'s recommendation, else 4,5,6,7]')
@click.option('--step', type=click.IntRange(min=1), default=7, show_default=True, help='Number of edit steps.')
@click.option('--start', type=click.IntRange(min=0), default=0, show_default=True,
              help='Index of the first direction to use.')
@click.option('--end', type=click.IntRange(min=1), default=1, show_default=True,
              help='Index after the last direction to use.')
@click.option('--start_distance', type=float, default=None,
              help='Start distance. [default: the catalog\'s recommendation, else -10]')
@click.option('--end_distance', type=float, default=None,
              help='End distance. [default: the catalog\'s recommendation, else 10]')
@click.option('--region', default=None, metavar='NAME',
              help='Report the share of each edit\'s pixel change inside this region of --data_name.')
@click.option('--box', default=None, metavar='CX,CY,H,W',
              help='Report the share of pixel change inside this box (256-pixel grid).')
@click.option('--gif/--no-gif', default=True, show_default=True, help='Write an animated GIF per sample and direction.')
@click.option('--class', 'class_spec', default=None, metavar='CLASS',
              help='Class index (or name) for a conditional model.')
@cli_errors
def main(**opts):
    generator, job_disc = load_model(opts)
    click.echo(describe_weights(generator))
    device = next(generator.parameters()).device
    path, entry, sidecar = resolve_direction(opts['boundary_path'])
    directions = load_directions(path, generator.w_dim)
    if not opts['start'] < opts['end'] <= len(directions):
        raise click.BadParameter(f'--start {opts["start"]} / --end {opts["end"]} must select directions '
                                 f'within the {len(directions)} in {path}', param_hint='--start/--end')

    rec_layers, rec_span, origin = _defaults(entry, sidecar)
    layers = opts['mani_layers']
    layer_note = 'given with --mani_layers'
    if layers is None:
        layers, layer_note = (rec_layers, f'recommended by the {origin}') if rec_layers else \
            (DEFAULT_LAYERS if generator.num_ws > max(DEFAULT_LAYERS) else None, 'default')
    layers = editing.check_layers(layers, generator.num_ws)
    span = rec_span or DEFAULT_DISTANCES
    start_d = opts['start_distance'] if opts['start_distance'] is not None else span[0]
    end_d = opts['end_distance'] if opts['end_distance'] is not None else span[1]
    steps = editing.distances(start_d, end_d, opts['step'])

    region_mask = _region_mask(opts, generator.img_resolution)
    boundary_name = os.path.splitext(os.path.basename(path))[0]
    save_dir = save_dir_of(opts)
    job_name = f'seed_{opts["seed"]}_num_{opts["nums"]}_{job_disc}_{boundary_name}'
    job_dir = os.path.join(save_dir, job_name)

    space, codes, labels = latents.codes_from_options(generator, opts, device)
    wp = latents.codes_to_ws(generator, codes, space, opts['trunc_psi'], opts['trunc_layers'], labels,
                             opts['batch_size'])
    torch.manual_seed(opts['seed'])
    render = lambda ws: latents.synthesize(generator, ws, opts['randomize_noise'], opts['trunc_psi'])

    shown_layers = 'all' if layers is None else ','.join(map(str, layers))
    click.echo(f'Editing {len(wp)} samples with directions {opts["start"]}..{opts["end"] - 1} of {path} '
               f'on layers {shown_layers} ({layer_note}), distances {start_d:g}..{end_d:g} in {opts["step"]} steps')
    count = opts['end'] - opts['start']
    page = HtmlPage(num_rows=len(wp) * count, num_cols=opts['step'] + 2, image_size=opts['vis_size'],
                    title=f'{job_name}_{opts["name"]}')
    page.set_headers(['Name', 'Origin'] + [f'Step {i:02d}' for i in range(1, opts['step'] + 1)])
    page.add_note(describe_weights(generator))
    page.add_note(f'Direction file: {path}' + (f' (catalog entry {entry_name(entry)})' if entry else ''))
    page.add_note(f'Layers: {shown_layers} ({layer_note}); distances: '
                  + ', '.join(f'{d:g}' for d in steps))
    shares = []
    for row in tqdm(range(len(wp)), desc='manipulate', unit='sample'):
        with torch.no_grad():
            original = render(wp[row:row + 1])
        original_u8 = to_uint8(original)[0]
        if opts['save_jpg']:
            save_image(os.path.join(job_dir, f'{row:06d}_orin.jpg'), original_u8)
        for index in range(opts['start'], opts['end']):
            html_row = row * count + index - opts['start']
            codes_k = editing.edit_codes(wp[row:row + 1], directions[index], layers, steps)[0]  # [S, num_ws, w_dim]
            edited = []
            with torch.no_grad():
                for start in range(0, len(codes_k), opts['batch_size']):
                    edited.append(render(codes_k[start:start + opts['batch_size']].to(device)).cpu())
            edited = torch.cat(edited)
            text = f'{row:06d}_{index:03d}'
            if region_mask is not None:
                share = editing.region_change_share(original[0].cpu(), edited, region_mask)
                share = float(np.nanmean(share)) if np.isfinite(share).any() else float('nan')
                shares.append(share)
                text += f' (in region: {share:.0%})'
            page.set_cell(html_row, 0, text=text)
            page.set_cell(html_row, 1, image=original_u8)
            frames = to_uint8(edited)
            for i, frame in enumerate(frames):
                page.set_cell(html_row, i + 2, text=f'{steps[i]:+g}', image=frame)
                if opts['save_jpg']:
                    save_image(os.path.join(job_dir, f'{row:06d}_ind_{index:06d}_mani_{i:06d}.jpg'), frame)
            if opts['gif']:
                save_gif(os.path.join(job_dir, f'{row:06d}_ind_{index:06d}.gif'), list(frames),
                         size=opts['vis_size'])

    save_npy(os.path.join(job_dir, 'latent_codes.npy'), wp.cpu().numpy().astype(np.float32))
    html_path = os.path.join(save_dir, f'{job_name}_{opts["name"]}.html')
    page.save(html_path)
    if shares:
        click.echo(f'Share of pixel change inside the region: mean {np.nanmean(shares):.1%} '
                   f'(per edit: {", ".join(f"{s:.0%}" for s in shares)})')
    if opts['gif']:
        click.echo(f'GIFs: {job_dir}/')
    click.echo(f'HTML page: {html_path}')


def entry_name(entry):
    if isinstance(entry, dict):
        return entry.get('id') or entry.get('name') or '?'
    return getattr(entry, 'id', None) or getattr(entry, 'name', '?')


def _region_mask(opts, resolution):
    if opts['region'] and opts['box']:
        raise click.BadParameter('give --region or --box, not both', param_hint='--region/--box')
    if not (opts['region'] or opts['box']):
        return None
    from semantics import regions
    if opts['box']:
        box = regions.scale_box(regions.parse_box(opts['box']), resolution)
        return regions.box_mask(box, resolution, what=f'--box {opts["box"]}')
    return regions.region_mask(opts['data_name'], opts['region'], resolution)


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
