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

Writes into `work_dirs/directions/<data_name>/<region>/`: per sample
`image_XX_region_R_name_N.npy` ([w_dim, w_dim], one direction per row, most
important first) and its `_mask.png`, as the reference does, plus
`pooled_<name>.npy` (the directions of the summed Gram matrices of all samples)
with a sidecar `pooled_<name>.json`.
"""

import json
import os

import click
import numpy as np
from tqdm import tqdm

from semantics import regions, resefa
from utils.fileio import save_json, save_npy, sha256_of
from utils.images import save_image
from utils.options import cli_errors


@click.command(help=__doc__)
@click.argument('jaco_path', metavar='JACOBIANS')
@click.option('--region', default=None, metavar='NAME',
              help='Named region of --data_name (e.g. eyes, mouth, nose). [default: eyes]')
@click.option('--box', default=None, metavar='CX,CY,H,W', help='A box on the 256-pixel grid instead of a named region.')
@click.option('--mask', 'mask_path', default=None, metavar='FILE', help='Segmentation mask (.png or .npy).')
@click.option('--labels', default=None, metavar='LIST', help='Labels of --mask forming the region, e.g. 4,5.')
@click.option('--save_dir', default=None, metavar='DIR',
              help='Output folder. [default: work_dirs/directions/DATA_NAME/REGION]')
@click.option('--job', default='directions', show_default=True, help='Name for the job.')
@click.option('--name', default='resefa', show_default=True, help='Name used in the output file names.')
@click.option('-d', '--data_name', default='ffhq', show_default=True, help='Dataset whose region table to use.')
@click.option('--full_rank', is_flag=True, help='Regularise M_b with tao * trace(M_b) * I.')
@click.option('--tao', type=float, default=resefa.DEFAULT_TAO, show_default=True,
              help='Coefficient of the identity under --full_rank.')
@click.option('--per_sample/--pooled_only', default=True, show_default=True,
              help='Also write one direction file per sample, as the reference does.')
@cli_errors
def main(jaco_path, region, box, mask_path, labels, save_dir, job, name, data_name, full_rank, tao, per_sample):
    if not os.path.isfile(jaco_path):
        raise click.ClickException(f'{jaco_path}: no such file')
    given = [flag for flag, value in (('--region', region), ('--box', box), ('--mask', mask_path)) if value]
    if len(given) > 1:
        raise click.BadParameter(f'give one of --region, --box, --mask (got {" and ".join(given)})',
                                 param_hint='--region')
    if labels and not mask_path:
        raise click.BadParameter('--labels goes with --mask', param_hint='--labels')
    if jaco_path.endswith('.npz'):
        return _from_grams(jaco_path, save_dir, job, name, data_name, full_rank, tao, region)

    jacobians = resefa.load_jacobians(jaco_path)
    size = jacobians.shape[2]
    mask, region_name = _mask(region, box, mask_path, labels, data_name, size)
    save_dir = save_dir or os.path.join('work_dirs', job, data_name, region_name)
    grams = []
    for index in tqdm(range(len(jacobians)), desc='directions', unit='sample'):
        gram_f, gram_b, _, _ = resefa.gram_matrices(np.asarray(jacobians[index]), mask)
        grams.append((gram_f, gram_b))
        if per_sample:
            directions, _ = _solve(gram_f, gram_b, full_rank, tao)
            stem = os.path.join(save_dir, f'image_{index:02d}_region_{region_name}_name_{name}')
            save_npy(f'{stem}.npy', directions.astype(np.float32))
            save_image(f'{stem}_mask.png', np.repeat(mask[:, :, None], 3, axis=2).astype(np.uint8) * 255)
    directions, eigenvalues = _solve(*resefa.accumulate(grams), full_rank, tao)
    _write_pooled(save_dir, name, directions, eigenvalues, jaco_path, region_name, data_name, full_rank, tao,
                  len(jacobians), mask)


def _solve(gram_f, gram_b, full_rank, tao):
    try:
        return resefa.solve_directions(gram_f, gram_b, full_rank=full_rank, tao=tao)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def _mask(region, box, mask_path, labels, data_name, size):
    if box:
        parsed = regions.parse_box(box)
        return regions.box_mask(regions.scale_box(parsed, size), size, what=f'--box {box}'), \
            'box_' + '_'.join(str(v) for v in parsed)
    if mask_path:
        if not labels:
            raise click.BadParameter('--mask needs --labels', param_hint='--labels')
        mask = regions.mask_from_file(mask_path, regions.parse_labels(labels), size)
        return mask, 'mask_' + os.path.splitext(os.path.basename(mask_path))[0]
    region = region or 'eyes'
    return regions.region_mask(data_name, region, size), region


def _from_grams(path, save_dir, job, name, data_name, full_rank, tao, region):
    accumulator = resefa.GramAccumulator.load(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    region_name = stem[len('grams_'):] if stem.startswith('grams_') else (region or stem)
    save_dir = save_dir or os.path.join('work_dirs', job, data_name, region_name)
    directions, eigenvalues = _solve(*accumulator.matrices(), full_rank, tao)
    _write_pooled(save_dir, name, directions, eigenvalues, path, region_name, data_name, full_rank, tao,
                  accumulator.num_samples, accumulator.mask)


def _write_pooled(save_dir, name, directions, eigenvalues, source, region_name, data_name, full_rank, tao,
                  num_samples, mask):
    out = os.path.join(save_dir, f'pooled_{name}.npy')
    save_npy(out, directions.astype(np.float32))
    jacobian_meta = {}
    meta_path = os.path.splitext(source)[0] + '.json'
    if os.path.isfile(meta_path):
        with open(meta_path, encoding='utf-8') as file:
            jacobian_meta = json.load(file)
    save_json(os.path.splitext(out)[0] + '.json', {
        'method': 'resefa',
        'eigenvalues': [float(v) for v in eigenvalues],
        'layers': jacobian_meta.get('layers'),
        'region': region_name,
        'data_name': data_name,
        'region_pixels': int(np.count_nonzero(mask)),
        'full_rank': bool(full_rank),
        'tao': float(tao),
        'num_samples': int(num_samples),
        'jacobians': os.path.abspath(source),
        'jacobians_sha256': sha256_of(source),
        'source_checkpoint': jacobian_meta.get('source'),
        'source_sha256': jacobian_meta.get('checkpoint_sha256'),
        'shape': list(directions.shape),
    })
    click.echo(f'{num_samples} samples, region {region_name} ({int(np.count_nonzero(mask))} pixels); '
               f'top eigenvalues: {", ".join(f"{v:.4g}" for v in eigenvalues[:5])}')
    click.echo(f'Pooled directions {list(directions.shape)}: {out}')
    click.echo(f'Per-sample directions and masks: {save_dir}/')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
