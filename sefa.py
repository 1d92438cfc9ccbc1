"""Discover semantics from the pre-trained weight (SeFa), and show them on two HTML pages.

`--method ganspace` finds directions by sampling instead (GANSpace, Härkönen et al. 2020): the principal
axes of w over --num_codes random codes, edited on the layers of -L, written and shown the same way.

Examples:

\b
    # A model of genforce's SeFa zoo (downloaded into the user cache when missing)
    python sefa.py stylegan_animeface512 -L 0-1 -N 5 -K 5
\b
    # Any checkpoint file; only factorise and save the directions (on the CPU, in seconds)
    python sefa.py stylegan2-ffhq-1024x1024.pkl -L 4-7 -K 10 -N 0
\b
    # Edit given codes (the prepared codes of the original editor, or synthesis.py's)
    python sefa.py stylegan_cat256 --latent_path stylegan_cat256 -N 4

MODEL_NAME is a zoo name, a checkpoint path or `builtin:NAME`. Writes into
`work_dirs/sefa/<data_name>/<model>/layers_<L>_K_<K>_seed_<seed>_num_<N>/` (see --save_dir): `sample_first.html` (one
block per semantic: its eigenvalue, then every sample edited along it), `semantic_first.html` (one block per sample),
and `directions.npy` (float32 [K, w_dim], unit rows, most important first; GANSpace runs in a folder named
`ganspace_layers_...`) with its sidecar `directions.json`. Samples
are drawn with `np.random.RandomState(seed)`, as every script of the toolkit draws them (the original script used
torch's generator; pass its codes with --latent_path to edit exactly those). With -N 0 no image is drawn, and the model
stays on the CPU.
"""

import cli  # noqa: F401, I001 - first: a one-line hint when run outside the project's environment

import click
import torch
from tqdm import tqdm

import directions as catalog
from cli import inputs, options, runs
from semantics import editing, ganspace, sefa
from utils.html import HtmlPage
from utils.images import to_uint8
from utils.indices import format_indices

_PAGE_NAMES = ('sample_first', 'semantic_first')


@click.command(help=__doc__)
@options.sefa_model_options
@click.option('--save_dir', callback=options.not_empty, default=None, metavar='DIR',
              help='Root folder of the results (a folder per model and settings below it). '
                   '[default: work_dirs/sefa/DATA_NAME]')
@options.data_name_option
@click.option('-L', '--layer_idx', type=options.IndexList(), default='all', show_default=True, metavar='LAYERS',
              help="Indices of layers to interpret: 'all', '0-1', '2-5,8'.")
@click.option('-N', '--num_samples', type=click.IntRange(min=0), default=5, show_default=True,
              help='Number of samples used for visualization (0: only save the directions).')
@click.option('-K', '--num_semantics', type=click.IntRange(min=1), default=5, show_default=True,
              help='Number of semantic boundaries corresponding to the top-k eigen values.')
@click.option('--start_distance', type=options.DISTANCE, default=-3.0, show_default=True,
              help='Start point for manipulation on each semantic.')
@click.option('--end_distance', type=options.DISTANCE, default=3.0, show_default=True,
              help='Ending point for manipulation on each semantic.')
@click.option('--step', type=options.STEPS, default=11, show_default=True,
              help='Manipulation step on each semantic.')
@click.option('--viz_size', type=options.VIEW_SIZE, default=256, show_default=True,
              help='Size of images to visualize on the HTML page (0: full size).')
@options.trunc_options
@click.option('--seed', type=click.IntRange(0, 2 ** 32 - 1), default=0, show_default=True,
              help='Seed for sampling (np.random.RandomState).')
@click.option('--latent_path', default='', metavar='PATH',
              help='Codes to edit instead of random samples (.npy or a catalog name): z, w or w+; the first N.')
@click.option('--latent_space', type=click.Choice(['auto', 'z', 'w', 'wp']), default='auto', show_default=True,
              help='How to read --latent_path (auto: from its shape).')
@click.option('--method', type=click.Choice(['sefa', 'ganspace']), default='sefa', show_default=True,
              help='sefa: eigenvectors of the weights that read w; ganspace: principal axes of w over random codes.')
@click.option('--num_codes', type=click.IntRange(2, 1_000_000), default=10_000, show_default=True,
              help='Codes sampled for --method ganspace.')
@options.class_option
@options.cli_errors
def main(**opts):
    drawn = opts['num_samples'] > 0  # without images the directions come from the weights alone: on the CPU
    device_option = '--device' if opts['device'] else '--gpu_id'
    opts['device'] = (opts['device'] or _device_of_gpu_id(opts['gpu_id'])) if drawn else 'cpu'
    with sefa.one_thread():
        generator = options.load_model(opts, device_option, say=click.echo)
    if opts['method'] == 'sefa':
        layers = options.check_layers(generator, opts['layer_idx'], '-L/--layer_idx', generator.sefa_layers())
        layers, directions, eigenvalues = sefa.factorize(generator, layers)
    else:
        layers = options.check_layers(generator, opts['layer_idx'], '-L/--layer_idx')
        directions, eigenvalues, _ = ganspace.principal_directions(generator, opts['num_codes'], opts['seed'])
    count = opts['num_semantics']
    if count > len(eigenvalues):
        raise click.BadParameter(f'{count} semantics asked, but this model has {len(eigenvalues)} directions',
                                 param_hint='-K/--num_semantics')
    directions, values = directions[:count], eigenvalues[:count]
    codes = inputs.codes_from_options(generator, opts, 'num_samples') if drawn or opts['latent_path'] else None
    samples = codes.part if codes is not None else f'seed_{opts["seed"]}_num_0'
    method = '' if opts['method'] == 'sefa' else f'{opts["method"]}_'
    run = runs.RunFolder(runs.root_of(opts, 'sefa'), generator.model_name,
                         f'{method}layers_{format_indices(layers)}_K_{count}', samples)

    with run.writing(opts):
        facts = ({'weights': [name for name, _ in generator.sefa_weights(layers)]} if opts['method'] == 'sefa'
                 else {'num_codes': opts['num_codes'], 'seed': opts['seed']})
        catalog.save_directions(run.file('directions.npy'), directions, opts['method'], generator,
                                layer_idx=format_indices(opts['layer_idx']), layers=layers, recommended_layers=layers,
                                eigenvalues=[float(v) for v in values], **facts,
                                distance_range=[opts['start_distance'], opts['end_distance']])
        if drawn:
            pages = _edited_pages(generator, codes, opts, layers, directions, values, f'{run.path}/directions.npy')
            for page, name in zip(pages, _PAGE_NAMES):
                page.save(run.file(f'{name}.html'))
    click.echo(f'Directions {list(directions.shape)} (layers {format_indices(layers)}): {run.file("directions.npy")}')
    for name in _PAGE_NAMES if drawn else ():
        click.echo(f'HTML page: {run.file(name + ".html")}')


def _edited_pages(generator, codes, opts, layers, directions, values, directions_path):
    """The two pages of the original script: every code edited along every direction, at every distance."""
    num, count = len(codes), len(directions)
    steps = editing.distances(opts['start_distance'], opts['end_distance'], opts['step'])
    ws = codes.ws(generator, opts['trunc_psi'], opts['trunc_layers'])  # [N, num_ws, w_dim]
    size = opts['viz_size'] or None
    name = {'sefa': 'SeFa', 'ganspace': 'GANSpace'}[opts['method']]
    by_semantic = HtmlPage(count * (num + 1), len(steps) + 1, image_size=size,
                           title=f'{name}: each semantic on every sample')
    by_sample = HtmlPage(num * (count + 1), len(steps) + 1, image_size=size,
                         title=f'{name}: each sample along every semantic')
    found = (f'the top {count} SeFa eigenvectors of these layers\' weights' if opts['method'] == 'sefa' else
             f'the top {count} principal axes of w over {opts["num_codes"]} codes (seed {opts["seed"]})')
    lines = inputs.settings_notes(generator, codes, opts) + [
        f'Layers: {format_indices(layers)} ({"factorised and " if opts["method"] == "sefa" else ""}edited)',
        f'Directions: {found} ({directions_path})']
    for page in (by_semantic, by_sample):
        page.set_headers([''] + [f'Distance {d:.2f}' for d in steps])
        page.add_note(*lines)
    semantic = [f'Semantic {sem_id:03d}\n({value:.3f})' for sem_id, value in enumerate(values)]
    for sem_id, text in enumerate(semantic):
        by_semantic.set_cell(sem_id * (num + 1), 0, text=text, highlight=True)
    for sam_id in range(num):
        by_sample.set_cell(sam_id * (count + 1), 0, text=f'Sample {sam_id:03d}', highlight=True)
    batch_size = 1 if generator.device.type == 'cpu' else 16  # large CPU batches spend their time allocating
    grid = editing.edit_grid(generator, ws, directions, layers, steps, truncation_psi=opts['trunc_psi'],
                             batch_size=batch_size)
    for edit in tqdm(grid, total=num * count, desc='editing', unit='row'):
        images, sample, direction = to_uint8(edit.images), edit.sample, edit.direction
        for page, row, label in ((by_semantic, direction * (num + 1) + sample + 1, f'Sample {sample:03d}'),
                                 (by_sample, sample * (count + 1) + direction + 1, semantic[direction])):
            page.set_cell(row, 0, text=label)
            for col_id, image in enumerate(images, start=1):
                page.set_cell(row, col_id, image=image)
    return by_semantic, by_sample


def _device_of_gpu_id(gpu_id):
    """The original's --gpu_id: the first id of a list, the CPU for -1/cpu or without CUDA."""
    first = str(gpu_id).split(',')[0].strip()
    if gpu_id is None or first in ('', '-1', 'cpu'):
        return None if gpu_id is None else 'cpu'
    if not first.isdigit():
        raise click.BadParameter(f'{gpu_id!r} is not a GPU index', param_hint='--gpu_id')
    return options.parse_device(f'cuda:{first}', '--gpu_id') if torch.cuda.is_available() else 'cpu'


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
