"""Discover semantics from the pre-trained weight (SeFa), and show them on two HTML pages.

Examples:

\b
    # A model of genforce's SeFa zoo (checkpoints/<name>.pth, downloaded when missing)
    python sefa.py stylegan_animeface512 -L 0-1 -N 5 -K 5
\b
    # Any checkpoint file; only factorise and save the directions
    python sefa.py stylegan2-ffhq-1024x1024.pkl -L 4-7 -K 10 -N 0

MODEL_NAME is a zoo name or a checkpoint path. Writes, under --save_dir,
`<prefix>_sample_first.html` (one block per semantic: its eigenvalue, then every
sample edited along it), `<prefix>_semantic_first.html` (one block per sample),
and `<prefix>_directions.npy` (float32 [K, w_dim], unit rows, most important
first) with its sidecar `<prefix>_directions.json`, where the prefix is
`<model>_N<N>_K<K>_L<layer_idx>_seed<seed>`.
"""

import os

import click
import torch
from tqdm import tqdm

import models
from models import zoo
from semantics import sefa
from semantics.editing import distances as edit_distances
from utils import latents
from utils.fileio import save_json, save_npy, sha256_of
from utils.html import HtmlPage
from utils.images import to_uint8
from utils.options import cli_errors


@click.command(help=__doc__)
@click.argument('model_name', metavar='MODEL_NAME')
@click.option('--save_dir', default='results', show_default=True, metavar='DIR',
              help='Directory to save the visualization pages.')
@click.option('-L', '--layer_idx', default='all', show_default=True, metavar='LAYERS',
              help="Indices of layers to interpret: 'all', '0-1', '2-5,8'.")
@click.option('-N', '--num_samples', type=click.IntRange(min=0), default=5, show_default=True,
              help='Number of samples used for visualization (0: only save the directions).')
@click.option('-K', '--num_semantics', type=click.IntRange(min=1), default=5, show_default=True,
              help='Number of semantic boundaries corresponding to the top-k eigen values.')
@click.option('--start_distance', type=float, default=-3.0, show_default=True,
              help='Start point for manipulation on each semantic.')
@click.option('--end_distance', type=float, default=3.0, show_default=True,
              help='Ending point for manipulation on each semantic.')
@click.option('--step', type=click.IntRange(min=1), default=11, show_default=True,
              help='Manipulation step on each semantic.')
@click.option('--viz_size', type=click.IntRange(min=1), default=256, show_default=True,
              help='Size of images to visualize on the HTML page.')
@click.option('--trunc_psi', type=float, default=0.7, show_default=True,
              help='Psi factor used for truncation (StyleGAN families; BigGAN: its truncation).')
@click.option('--trunc_layers', type=click.IntRange(min=0), default=8, show_default=True,
              help='Number of layers to perform truncation (StyleGAN families).')
@click.option('--seed', type=int, default=0, show_default=True, help='Seed for sampling.')
@click.option('--gpu_id', default='0', show_default=True,
              help='GPU to use (the first of a list); the CPU when CUDA is unavailable.')
@click.option('--class', 'class_spec', default=None, metavar='CLASS',
              help='Class index (or name) for a conditional model (BigGAN, conditional StyleGAN2).')
@cli_errors
def main(model_name, save_dir, layer_idx, num_samples, num_semantics, start_distance, end_distance, step,
         viz_size, trunc_psi, trunc_layers, seed, gpu_id, class_spec):
    device = _device(gpu_id)
    _check_model_name(model_name)
    generator = models.load_generator(model_name, device=device)
    click.echo(f'Loaded {generator.family} ({generator.checkpoint_format}) from {model_name} on {device}')

    layers, directions, eigenvalues = sefa.factorize(generator, layer_idx)
    if num_semantics > len(eigenvalues):
        raise click.BadParameter(f'{num_semantics} semantics asked, but this model has {len(eigenvalues)} '
                                 f'directions', param_hint='-K/--num_semantics')
    directions, values = directions[:num_semantics], eigenvalues[:num_semantics]
    prefix = f'{_model_stem(model_name)}_N{num_samples}_K{num_semantics}_L{layer_idx}_seed{seed}'
    directions_path = os.path.join(save_dir, f'{prefix}_directions.npy')
    save_npy(directions_path, directions)
    save_json(os.path.join(save_dir, f'{prefix}_directions.json'), {
        'method': 'sefa', 'source': model_name, 'checkpoint_sha256': _checkpoint_sha(model_name),
        'family': generator.family, 'w_dim': generator.w_dim, 'num_ws': generator.num_ws,
        'layer_idx': layer_idx, 'layers': layers, 'recommended_layers': layers,
        'weights': [name for name, _ in sefa.selected_weights(generator, layers)],
        'eigenvalues': [float(v) for v in values], 'distance_range': [start_distance, end_distance],
        'shape': list(directions.shape),
    })
    click.echo(f'Directions {list(directions.shape)} (layers {layers}): {directions_path}')
    if num_samples == 0:
        return

    labels = latents.labels_for(generator, class_spec, num_samples, device)
    codes = sefa.sample_codes(generator, num_samples, seed, trunc_psi, trunc_layers, labels)  # [N, num_ws, w_dim]
    steps = edit_distances(start_distance, end_distance, step)
    pages = _pages(num_samples, num_semantics, steps, values, viz_size)
    batch_size = 1 if device == 'cpu' else 16  # large CPU batches spend their time allocating memory
    with tqdm(total=num_samples * num_semantics * step, desc='editing', unit='image') as bar:
        for sam_id in range(num_samples):
            for sem_id in range(num_semantics):
                images = sefa.render_edits(generator, codes[sam_id:sam_id + 1], directions[sem_id], layers, steps,
                                           truncation_psi=trunc_psi, batch_size=batch_size)
                for col_id, image in enumerate(to_uint8(images), start=1):
                    pages[0].set_cell(sem_id * (num_samples + 1) + sam_id + 1, col_id, image=image)
                    pages[1].set_cell(sam_id * (num_semantics + 1) + sem_id + 1, col_id, image=image)
                bar.update(step)
    for page, name in zip(pages, ('sample_first', 'semantic_first')):
        path = os.path.join(save_dir, f'{prefix}_{name}.html')
        page.save(path)
        click.echo(f'HTML page: {path}')


def _pages(num_samples, num_semantics, steps, values, viz_size):
    """The two pages of the original script, headers and row labels set."""
    headers = [''] + [f'Distance {d:.2f}' for d in steps]
    by_semantic = HtmlPage(num_rows=num_semantics * (num_samples + 1), num_cols=len(steps) + 1, image_size=viz_size)
    by_sample = HtmlPage(num_rows=num_samples * (num_semantics + 1), num_cols=len(steps) + 1, image_size=viz_size)
    for page in (by_semantic, by_sample):
        page.set_headers(headers)
    for sem_id, value in enumerate(values):
        by_semantic.set_cell(sem_id * (num_samples + 1), 0, text=f'Semantic {sem_id:03d}\n({value:.3f})',
                             highlight=True)
        for sam_id in range(num_samples):
            by_semantic.set_cell(sem_id * (num_samples + 1) + sam_id + 1, 0, text=f'Sample {sam_id:03d}')
    for sam_id in range(num_samples):
        by_sample.set_cell(sam_id * (num_semantics + 1), 0, text=f'Sample {sam_id:03d}', highlight=True)
        for sem_id, value in enumerate(values):
            by_sample.set_cell(sam_id * (num_semantics + 1) + sem_id + 1, 0,
                               text=f'Semantic {sem_id:03d}\n({value:.3f})')
    return by_semantic, by_sample


def _device(gpu_id):
    """'cuda:<first id>' when CUDA is available, else 'cpu'."""
    first = str(gpu_id).split(',')[0].strip()
    if not torch.cuda.is_available() or first in ('', '-1', 'cpu'):
        return 'cpu'
    if not first.isdigit():
        raise click.BadParameter(f'{gpu_id!r} is not a GPU index', param_hint='--gpu_id')
    if int(first) >= torch.cuda.device_count():
        raise click.BadParameter(f'GPU {first} does not exist ({torch.cuda.device_count()} visible)',
                                 param_hint='--gpu_id')
    return f'cuda:{first}'


def _check_model_name(model_name):
    """A zoo name, `builtin:NAME` or an existing path; else a one-line error with close zoo names."""
    if model_name.startswith('builtin:') or os.path.exists(model_name) or model_name in zoo.ZOO:
        return
    if os.sep in model_name or os.path.splitext(model_name)[1]:
        raise ValueError(f'{model_name}: no such file')
    zoo.entry(model_name)  # raises: unknown name, with close matches


def _model_stem(model_name):
    """The model part of the output prefix: the zoo name, or the checkpoint file name without extension."""
    if model_name in zoo.ZOO and not os.path.exists(model_name):
        return model_name
    if model_name.startswith('builtin:'):
        return model_name.replace(':', '_')
    return os.path.splitext(os.path.basename(os.path.normpath(model_name)))[0]


def _checkpoint_sha(model_name):
    path = zoo.local_path(model_name) if zoo.is_zoo_name(model_name) else model_name
    return sha256_of(path) if os.path.exists(path) else None


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
