"""Edit images along directions (ReSeFa, SeFa or published ones) on chosen layers.

Examples:

\b
    python manipulate.py stylegan2-ffhq-config-f-1024x1024.pth directions/ffhq/stylegan2/eyesize.npy --stylegan2
    python manipulate.py MODEL eyesize --nums 4 --step 5           # a catalog name
    python manipulate.py MODEL work_dirs/directions/ffhq/eyes/pooled_resefa.npy --region eyes
    python manipulate.py MODEL DIRECTION --latent_path inverted_wp.npy   # w+ codes of real images

Writes into `work_dirs/manipulations/<data_name>/<model>/<samples>_<direction>_layers_<L>/` (see --save_dir):
`<name>.html` (rows: sample x direction; columns: name, origin, steps), the codes `latent_codes.npy`, an animated GIF
per sample and direction, and with --save_jpg every image.
"""

import cli  # noqa: F401, I001 - first: a one-line hint when run outside the project's environment

import click
import numpy as np
import torch
from tqdm import tqdm

import directions as catalog
from cli import inputs, options, runs
from semantics import editing
from utils.fileio import load_npz, one_line, save_npy
from utils.html import HtmlPage
from utils.images import outline, resize, save_gif, save_image, to_uint8
from utils.indices import format_indices


@click.command(help=__doc__)
@options.model_options
@click.argument('boundary_path', metavar='DIRECTION')
@options.sampling_options(nums=10)
@options.truncation_options
@options.output_options(job='manipulations')
@click.option('--name', type=options.FileName(), default='resefa', show_default=True,
              help='Name of the page file (<name>.html).')
@click.option('--mani_layers', type=options.IndexList(), default=None, metavar='LIST',
              help="Layers to edit: '4,5,6,7', '8-11' or 'all'. "
                   "[default: the direction's recommendation (catalog or sidecar), else 4,5,6,7]")
@click.option('--step', type=options.STEPS, default=editing.DEFAULT_STEPS, show_default=True,
              help='Number of edit steps.')
@click.option('--start', type=click.IntRange(min=0), default=0, show_default=True,
              help='Index of the first direction to use.')
@click.option('--end', type=click.IntRange(min=1), default=1, show_default=True,
              help='Index after the last direction to use.')
@click.option('--start_distance', type=options.DISTANCE, default=None,
              help="Start distance. [default: the direction's recommendation, else -10]")
@click.option('--end_distance', type=options.DISTANCE, default=None,
              help="End distance. [default: the direction's recommendation, else 10]")
@options.region_options("inside which to report the share of each edit's pixel change")
@click.option('--noise', 'noise_path', default=None, metavar='FILE',
              help="Noise inputs to render with (a <name>_noise.npz of invert.py --optimize_noise).")
@click.option('--gif/--no-gif', default=True, show_default=True, help='Write an animated GIF per sample and direction.')
@options.class_option
@options.cli_errors
def main(**opts):
    generator = options.load_model(opts, say=click.echo)
    given_layers = click.get_current_context().get_parameter_source('mani_layers').name != 'DEFAULT'
    try:  # the recommended layers are checked against the model unless --mani_layers replaces them
        direction = catalog.read_direction(opts['boundary_path'], w_dim=generator.w_dim,
                                           num_ws=None if given_layers else generator.num_ws)
    except catalog.CatalogError as error:
        raise click.BadParameter(str(error), param_hint='DIRECTION') from None
    if not opts['start'] < opts['end'] <= len(direction.array):
        raise click.BadParameter(f'--start {opts["start"]} / --end {opts["end"]} must select directions '
                                 f'within the {len(direction.array)} in {direction.path}', param_hint='--start/--end')
    mismatch = inputs.direction_mismatch(direction, generator)
    if mismatch:
        click.echo(mismatch)
    if given_layers:
        layers = options.check_layers(generator, opts['mani_layers'], '--mani_layers')
        origin = 'given with --mani_layers' if opts['mani_layers'] else 'all, given with --mani_layers'
    elif direction.recommended_layers:
        layers, origin = direction.recommended_layers, f'recommended by {direction.advice_from}'
    elif generator.num_ws > max(editing.DEFAULT_LAYERS):
        layers, origin = editing.DEFAULT_LAYERS, 'the default'
    else:
        layers = list(range(generator.num_ws))
        origin = f'all: the default {format_indices(editing.DEFAULT_LAYERS)} does not fit {generator.num_ws} ws'
    span = direction.distance_range or editing.DEFAULT_DISTANCES
    start_d = opts['start_distance'] if opts['start_distance'] is not None else span[0]
    end_d = opts['end_distance'] if opts['end_distance'] is not None else span[1]
    steps = editing.distances(start_d, end_d, opts['step'])
    region = inputs.region_from_options(opts, generator.img_resolution)
    if opts['noise_path']:
        _load_noise(generator, opts['noise_path'])
    codes = inputs.codes_from_options(generator, opts)
    picked = f'_{opts["start"]}-{opts["end"] - 1}' if (opts['start'], opts['end']) != (0, 1) else ''
    run = runs.RunFolder(runs.root_of(opts), runs.model_part(generator, opts), codes.part, direction.label + picked,
                         f'layers_{format_indices(layers)}', region and region[0])

    with run.writing(opts):
        ws = codes.ws(generator, opts['trunc_psi'], opts['trunc_layers'], opts['batch_size'])
        torch.manual_seed(opts['seed'])  # for --randomize_noise random
        click.echo(f'Editing {inputs.plural(len(ws), "sample")} with directions {opts["start"]}..{opts["end"] - 1} '
                   f'of {direction.path} on layers {format_indices(layers)} ({origin}), '
                   f'distances {start_d:g}..{end_d:g} in {inputs.plural(opts["step"], "step")}')
        page = _page(generator, codes, opts, direction, layers, origin, steps, region)
        if mismatch:
            page.add_note(mismatch)
        count = opts['end'] - opts['start']
        shares = []
        grid = editing.edit_grid(generator, ws, direction.array, layers, steps, range(opts['start'], opts['end']),
                                 opts['randomize_noise'], opts['trunc_psi'], region and region[1], opts['batch_size'])
        for edit in tqdm(grid, total=len(ws) * count, desc='manipulate', unit='edit'):
            row = edit.sample * count + edit.direction - opts['start']
            original = to_uint8(edit.original[None])[0]
            shown = original if region is None else outline(resize(original, opts['vis_size'] or original.shape[0]),
                                                            region[1])
            frames = to_uint8(edit.images)
            text = f'{edit.sample:06d}_{edit.direction:03d}'
            if edit.share is not None:
                shares.append(edit.share)
                text += f' (in region: {edit.share:.0%})'
            page.set_cell(row, 0, text=text)
            page.set_cell(row, 1, image=shown)
            for i, frame in enumerate(frames):
                page.set_cell(row, i + 2, text=f'{steps[i]:+g}', image=frame)
                if opts['save_jpg']:
                    save_image(run.file(f'{edit.sample:06d}_ind_{edit.direction:06d}_mani_{i:06d}.jpg'), frame)
            if opts['save_jpg'] and edit.direction == opts['start']:
                save_image(run.file(f'{edit.sample:06d}_orin.jpg'), original)
            if opts['gif']:
                save_gif(run.file(f'{edit.sample:06d}_ind_{edit.direction:06d}.gif'), list(frames),
                         size=opts['vis_size'] or None)

        save_npy(run.file('latent_codes.npy'), ws.cpu().numpy().astype(np.float32))
        page.save(run.file(f'{opts["name"]}.html'))
    if shares:
        click.echo(f'Share of pixel change inside region {region[0]}: mean {np.nanmean(shares):.1%} '
                   f'(per edit: {", ".join(f"{s:.0%}" for s in shares)})')
    if opts['gif']:
        click.echo(f'GIFs: {run.path}/')
    click.echo(f'HTML page: {run.file(opts["name"] + ".html")}')


def _load_noise(generator, path):
    """Put the noise inputs of an `.npz` (invert.py --optimize_noise) into the model."""
    try:
        with load_npz(path) as archive:
            buffers = {name: torch.from_numpy(archive[name]) for name in archive.files}
        if not buffers or not all(value.isfinite().all() for value in buffers.values()):
            raise ValueError(f'{path}: holds no noise inputs, or NaN or infinite values')
        generator.set_noise_buffers(buffers)
    except (ValueError, OSError, EOFError) as error:
        raise click.BadParameter(one_line(error)[:200], param_hint='--noise') from None


def _page(generator, codes, opts, direction, layers, origin, steps, region):
    """The page with its headers and the notes that explain it."""
    count = opts['end'] - opts['start']
    page = HtmlPage(num_rows=len(codes) * count, num_cols=opts['step'] + 2, image_size=opts['vis_size'] or None,
                    title=f'Edits of {generator.model_name} along {direction.label}')
    page.set_headers(['Name', 'Origin'] + [f'Step {i:02d}' for i in range(1, opts['step'] + 1)])
    page.add_note(*inputs.settings_notes(generator, codes, opts))
    facts = [f'catalog entry {direction.entry.id}'] if direction.entry is not None else []
    sidecar = direction.sidecar or {}
    facts += [f'{key} {sidecar[key]}' for key in ('method', 'region', 'model') if sidecar.get(key)]
    real, _ = runs.resolve_latest(direction.path)
    page.add_note(f'Direction: rows {opts["start"]}..{opts["end"] - 1} of {real}'
                  + (f' ({", ".join(facts)})' if facts else ''), f'Layers: {format_indices(layers)} ({origin})',
                  'Distances: ' + ', '.join(f'{d:g}' for d in steps))
    if region is not None:
        page.add_note(f'Region: {region[0]}, outlined in yellow on the origin image. "In region" is the share of '
                      f'each edit\'s pixel change (summed over colour, averaged over the steps) that falls inside '
                      f'it: 100% means nothing outside moved.')
    return page


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
