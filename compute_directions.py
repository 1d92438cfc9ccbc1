"""Region-based directions from Jacobians (ReSeFa step 2).

For a region (a named box of --data_name, a --box, or a segmentation --mask),
each sample's Jacobian gives `M_f = Jf^T Jf / n_f` (inside) and
`M_b = Jb^T Jb / n_b` (outside); directions that change the region and leave the
rest alone solve `M_f v = lambda M_b v` (with `M_b + tao * tr(M_b) * I` under
--full_rank). Reads `jacobians_w.npy` of compute_jacobian.py or of the
reference code, or the `grams_<region>.npz` that compute_jacobian.py writes
with --region.

Examples:

\b
    python compute_directions.py work_dirs/jacobians/ffhq/jacobians_w.npy
    python compute_directions.py work_dirs/jacobians/ffhq/jacobians_w.npy --region mouth --full_rank
    python compute_directions.py jacobians_w.npy --mask parsing.png --labels 4,5 --data_name celeba

Writes into `work_dirs/directions/<data_name>/<model>/<samples>/<region>/` (see
--save_dir; the model and samples are those of the Jacobians' run): per sample
`image_XX_region_R_name_N.npy` ([w_dim, w_dim], one direction per row, most
important first) and its `_mask.png`, as the reference does, plus
`pooled_<name>.npy` (the directions of the summed Gram matrices of all samples)
with a sidecar `pooled_<name>.json`. `work_dirs/directions/<data_name>/<region>`
then points at this folder, so the original README's paths keep working.
"""

import os

import click
import numpy as np
from tqdm import tqdm

from cli import inputs, options, runs
from semantics import regions, resefa
from utils.fileio import load_json, save_json, save_npy, sha256_of
from utils.images import save_image
from utils.indices import MAX_INDEX


def _list_regions(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    for data_name in regions.dataset_names():
        click.echo(f'{data_name}: ' + ', '.join(f'{name} {",".join(map(str, regions.named_box(data_name, name)))}'
                                                for name in regions.region_names(data_name)))
    ctx.exit()


@click.command(help=__doc__)
@click.argument('jaco_path', metavar='JACOBIANS')
@options.region_options('whose directions to find [default: eyes]')
@click.option('--save_dir', callback=options.not_empty, default=None, metavar='DIR',
              help='Root folder of the results. [default: work_dirs/directions/DATA_NAME]')
@click.option('--job', default='directions', show_default=True, help='Name of the job (work_dirs/JOB/...).')
@click.option('--name', type=options.FileName(), default='resefa', show_default=True,
              help='Name used in the output file names.')
@click.option('-d', '--data_name', type=options.FileName(), default='ffhq', show_default=True,
              help='Dataset whose named regions to use.')
@click.option('--full_rank', is_flag=True, help='Regularise M_b with tao * trace(M_b) * I.')
@click.option('--tao', type=options.FiniteFloat(min=0, min_open=True), default=None,
              help=f'Coefficient of the identity under --full_rank.  [default: {resefa.DEFAULT_TAO:g}]')
@click.option('--per_sample/--pooled_only', default=True, show_default=True,
              help='Also write one direction file per sample, as the reference does.')
@click.option('--list_regions', is_flag=True, expose_value=False, is_eager=True, callback=_list_regions,
              help='List the named regions of every dataset (row centre, column centre, height, width) and exit.')
@options.cli_errors
def main(**opts):
    if opts['tao'] is not None and not opts['full_rank']:  # the reference takes it, and ignores it
        click.echo(f'Note: --tao {opts["tao"]:g} is not used without --full_rank')
    opts['tao'] = resefa.DEFAULT_TAO if opts['tao'] is None else opts['tao']
    source, was_link = runs.resolve_latest(opts['jaco_path'])
    if not os.path.isfile(source):
        raise click.BadParameter(f'{opts["jaco_path"]}: no such file', param_hint='JACOBIANS')
    if was_link:
        click.echo(f'{opts["jaco_path"]} is the latest run: {source}')
    meta = _sidecar(source)
    root = opts['save_dir'] or os.path.join('work_dirs', opts['job'], opts['data_name'])
    runs.check_folder(root, '--save_dir' if opts['save_dir'] else None)
    if source.endswith('.npz'):
        region_name = meta.get('settings', {}).get('region') or _grams_region(source)
        accumulator = _read_grams(source, region_name, opts)
        mask = accumulator.mask
        grams, count = [accumulator.matrices()], accumulator.num_samples
        per_sample = []
        _check_sidecar(meta, source, None, grams[0][0].shape[-1])
    else:
        jacobians = resefa.load_jacobians(source)
        _check_sidecar(meta, source, jacobians.shape, jacobians.shape[-1])
        region_name, mask = inputs.region_from_options(opts, jacobians.shape[2], default='eyes')
        grams, count, per_sample = None, len(jacobians), range(len(jacobians)) if opts['per_sample'] else []
    variant = '_full_rank' + (f'_tao_{opts["tao"]:g}' if opts['tao'] != resefa.DEFAULT_TAO else '') \
        if opts['full_rank'] else ''
    if meta.get('model') and meta.get('run'):  # <model>/<samples of the Jacobians' run>/<region>
        samples = os.path.basename(os.path.dirname(source))
        run = runs.RunFolder(os.path.join(root, runs.safe_part(meta['model'])), samples, region_name + variant)
    else:  # Jacobians of the reference code: named by their content
        run = runs.RunFolder(root, runs.file_label(source), region_name + variant)

    samples = {}  # sample index -> its directions, written once every result is known to be good
    if grams is None:
        grams = []
        for index in tqdm(range(count), desc='directions', unit='sample'):
            gram_f, gram_b, _, _ = resefa.gram_matrices(np.asarray(jacobians[index]), mask)
            grams.append((gram_f, gram_b))
            if index in per_sample:
                samples[index] = _solve(gram_f, gram_b, opts, f'sample {index} of {source}')[0].astype(np.float32)
    directions, eigenvalues = _solve(*resefa.accumulate(grams), opts, source)

    # Results of other --name values stay beside these (their files carry the name), so it is not compared.
    note = run.start({key: value for key, value in opts.items() if key != 'name'})
    if note:
        click.echo(note)
    mask_image = np.repeat(mask[:, :, None], 3, axis=2).astype(np.uint8) * 255
    for index, sample_directions in samples.items():
        stem = run.file(f'image_{index:02d}_region_{region_name}_name_{opts["name"]}')
        save_npy(f'{stem}.npy', sample_directions)
        save_image(f'{stem}_mask.png', mask_image)
    out = run.file(f'pooled_{opts["name"]}.npy')
    save_npy(out, directions.astype(np.float32))
    save_json(run.file(f'pooled_{opts["name"]}.json'), {
        'method': 'resefa', 'eigenvalues': [float(v) for v in eigenvalues],
        'layers': meta.get('layers'), 'recommended_layers': meta.get('layers'),
        'region': region_name, 'data_name': opts['data_name'], 'region_pixels': int(np.count_nonzero(mask)),
        'full_rank': bool(opts['full_rank']), 'tao': float(opts['tao']), 'num_samples': int(count),
        'jacobians': os.path.abspath(source), 'jacobians_sha256': sha256_of(source),
        'model': meta.get('model'), 'source_checkpoint': meta.get('source'),
        'source_sha256': meta.get('checkpoint_sha256'), 'family': meta.get('family'),
        'w_dim': int(directions.shape[1]), 'num_ws': meta.get('num_ws'), 'shape': list(directions.shape),
    })
    click.echo(f'{int(count)} samples, region {region_name} ({int(np.count_nonzero(mask))} pixels); '
               f'top eigenvalues: {", ".join(f"{v:.4g}" for v in eigenvalues[:5])}')
    click.echo(f'Pooled directions {list(directions.shape)}: {out}')
    if per_sample:
        click.echo(f'Per-sample directions and masks: {run.path}/')
    note = runs.link_latest(os.path.join(root, runs.safe_part(region_name)), run.path)
    if note:
        click.echo(note)
    latest = os.path.join(root, runs.safe_part(region_name), f'pooled_{opts["name"]}.npy')
    model = meta.get('source') or 'MODEL'
    same_region = ''
    if opts.get('box'):
        same_region = f' --box {",".join(str(v) for v in regions.parse_box(opts["box"]))}'
    elif opts.get('mask_path'):
        same_region = f' --mask {opts["mask_path"]} --labels {inputs.format_indices(opts["labels"])}'
    elif region_name in regions.BOXES.get(opts['data_name'], {}):
        same_region = f' --region {region_name}'
    if same_region and opts['data_name'] != 'ffhq':
        same_region += f' --data_name {opts["data_name"]}'
    click.echo(f'Next: python manipulate.py {model} {latest}{same_region}   (that path points at this run)')


def _solve(gram_f, gram_b, opts, what):
    try:
        return resefa.solve_directions(gram_f, gram_b, full_rank=opts['full_rank'], tao=opts['tao'])
    except ValueError as error:
        raise click.ClickException(f'{what}: {error}') from None


def _sidecar(path):
    """The sidecar compute_jacobian.py writes next to its outputs ({} for the reference's files)."""
    sidecar = os.path.splitext(path)[0] + '.json'
    if not os.path.isfile(sidecar):
        return {}
    try:
        data = load_json(sidecar)
    except (OSError, ValueError) as error:
        raise click.ClickException(f'{sidecar}: not a readable sidecar ({error})') from None
    if not isinstance(data, dict):
        raise click.ClickException(f'{sidecar}: not a readable sidecar (not a JSON object)')
    return data


def _check_sidecar(meta, path, shape, w_dim):
    """Refuse a sidecar that describes other data than `path` holds (its model and layers are passed on)."""
    sidecar = os.path.splitext(path)[0] + '.json'
    if 'shape' in meta and shape is not None and meta['shape'] != list(shape):
        raise click.ClickException(f'{sidecar}: describes Jacobians of shape {meta["shape"]}, but {path} holds '
                                   f'{list(shape)}')
    if 'w_dim' in meta and meta['w_dim'] != w_dim:
        raise click.ClickException(f'{sidecar}: gives w_dim {meta["w_dim"]!r}, but {path} holds w_dim {w_dim}')
    num_ws, layers = meta.get('num_ws'), meta.get('layers')
    if num_ws is not None and not (_is_index(num_ws, MAX_INDEX + 2) and num_ws > 0):
        raise click.ClickException(f'{sidecar}: num_ws {num_ws!r} is not a number of layers')
    if layers is not None and not (isinstance(layers, list) and layers
                                   and all(_is_index(v, num_ws or MAX_INDEX + 1) for v in layers)):
        raise click.ClickException(f'{sidecar}: layers {layers!r} are not layer indices'
                                   + (f' of a model with {num_ws} ws' if num_ws else ''))


def _is_index(value, limit):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit


def _read_grams(path, region, opts):
    """The Gram accumulator of a `grams_<region>.npz`; the region was fixed when it was computed."""
    given = [flag for flag, key in (('--region', 'region'), ('--box', 'box'), ('--mask', 'mask_path'))
             if opts.get(key) and not (key == 'region' and opts[key] == region)]
    if given:
        raise click.BadParameter(f'{path} holds the Gram matrices of region {region}; compute the Jacobians '
                                 f'again for another region', param_hint=given[0])
    try:
        return resefa.GramAccumulator.load(path)
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise click.ClickException(f'{path}: not a Gram-matrix file of compute_jacobian.py ({error})') from None


def _grams_region(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem[len('grams_'):] if stem.startswith('grams_') else stem


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
