"""Region-based directions from Jacobians (ReSeFa step 2).

For a region (a named box of --data_name, a --box, or a segmentation --mask), the directions that change it most for
the least change elsewhere: `M_f v = lambda M_b v` of the Gram matrices of each sample's Jacobian inside and outside
(docs/resefa.md). Reads `jacobians_w.npy` of compute_jacobian.py or of the reference code, or the `grams_<region>.npz`
that compute_jacobian.py writes with --region.

Examples:

\b
    python compute_directions.py work_dirs/jacobians/ffhq/jacobians_w.npy
    python compute_directions.py work_dirs/jacobians/ffhq/jacobians_w.npy --region mouth --full_rank
    python compute_directions.py jacobians_w.npy --mask parsing.png --labels 4,5 --data_name celeba

Writes into `work_dirs/directions/<data_name>/<model>/<samples>/<region>/` (see --save_dir; the model, samples and data
name are those of the Jacobians' run): per sample `image_XX_region_R_name_N.npy` ([w_dim, w_dim], one direction per row,
most important first) and its `_mask.png`, as the reference does, plus `pooled_<name>.npy` (the directions of the summed
Gram matrices of all samples) with a sidecar `pooled_<name>.json`. `work_dirs/directions/<data_name>/<region>` then
points at this folder, so the original README's paths keep working.
"""

import cli  # noqa: F401, I001 - first: a one-line hint when run outside the project's environment
import os

import click
import numpy as np
from tqdm import tqdm

import directions as catalog
from cli import inputs, options, runs
from cli.inputs import plural
from semantics import regions, resefa
from utils.fileio import save_npy, sha256_of
from utils.images import save_image
from utils.indices import format_indices


def _list_regions(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    for data_name in regions.dataset_names():
        click.echo(f'{data_name}: ' + ', '.join(f'{name} {",".join(map(str, regions.named_box(data_name, name)))}'
                                                for name in regions.region_names(data_name)))
    ctx.exit()


@click.command(help=__doc__)
@click.argument('jaco_path', metavar='JACOBIANS', type=click.Path(exists=True, dir_okay=False))
@options.region_options('whose directions to find [default: eyes]')
@click.option('--save_dir', callback=options.not_empty, default=None, metavar='DIR',
              help='Root folder of the results. [default: work_dirs/directions/DATA_NAME]')
@click.option('--job', type=options.FileName(), default='directions', show_default=True,
              help='Name of the job (work_dirs/JOB/...).')
@click.option('--name', type=options.FileName(), default='resefa', show_default=True,
              help='Name used in the output file names.')
@click.option('-d', '--data_name', type=options.FileName(), default=None,
              help="Dataset whose named regions to use. [default: the Jacobians' (their sidecar), else ffhq]")
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
    if was_link:
        click.echo(f'{opts["jaco_path"]} is the latest run: {source}')
    if source.endswith('.npz'):
        (sums, meta), jacobians = inputs.read_grams(source), None
    else:
        jacobians, meta = inputs.read_jacobians(source)
    opts['data_name'] = opts['data_name'] or meta.get('data_name') or 'ffhq'
    if jacobians is None:  # the region was chosen when the Gram matrices were computed
        region = meta.get('settings', {}).get('region') or os.path.basename(source)[len('grams_'):-len('.npz')]
        given = [flag for flag, key in (('--region', 'region'), ('--box', 'box'), ('--mask', 'mask_path'))
                 if opts.get(key) and (key, opts[key]) != ('region', region)]
        if given:
            raise click.BadParameter(f'{source} holds the Gram matrices of region {region}; compute the Jacobians '
                                     f'again for another region', param_hint=given[0])
        mask, count = sums.mask, sums.num_samples
    else:
        region, mask = inputs.region_from_options(opts, jacobians.shape[-3], default='eyes')
        count = len(jacobians)
    root = runs.root_of(opts)
    variant = ('_full_rank' + (f'_tao_{opts["tao"]:g}' if opts['tao'] != resefa.DEFAULT_TAO else '')
               if opts['full_rank'] else '')
    if meta.get('model') and meta.get('run'):  # <model>/<samples of the Jacobians' run>/<region>
        samples = os.path.basename(os.path.dirname(source))
        run = runs.RunFolder(os.path.join(root, runs.safe_part(meta['model'])), samples, region + variant)
    else:  # Jacobians of the reference code: named by their content
        run = runs.RunFolder(root, runs.file_label(source), region + variant)

    per_sample = {}  # sample index -> its directions, written once every result is known to be good
    if jacobians is not None:
        sums = resefa.GramSums(mask, jacobians.shape[-1])
        for index in tqdm(range(count), desc='directions', unit='sample'):
            gram_f, gram_b, _, _ = resefa.gram_matrices(np.asarray(jacobians[index]), mask)
            sums.num_samples += 1
            sums.sum_f += gram_f
            sums.sum_b += gram_b
            if opts['per_sample']:
                per_sample[index] = _solve(gram_f, gram_b, opts, f'sample {index} of {source}')[0]
    directions, eigenvalues = _solve(sums.sum_f, sums.sum_b, opts, source)

    # Results of other --name values stay beside these (their files carry the name), so it is not compared.
    run.start({key: value for key, value in opts.items() if key != 'name'})
    mask_image = np.repeat(mask[:, :, None], 3, axis=2).astype(np.uint8) * 255
    for index, sample_directions in per_sample.items():
        stem = run.file(f'image_{index:02d}_region_{region}_name_{opts["name"]}')
        save_npy(f'{stem}.npy', sample_directions.astype(np.float32))
        save_image(f'{stem}_mask.png', mask_image)
    out = run.file(f'pooled_{opts["name"]}.npy')
    catalog.save_directions(
        out, directions, 'resefa', eigenvalues=[float(v) for v in eigenvalues], layers=meta.get('layers'),
        recommended_layers=meta.get('layers'), region=region, data_name=opts['data_name'],
        region_pixels=int(np.count_nonzero(mask)), full_rank=bool(opts['full_rank']), tao=float(opts['tao']),
        num_samples=int(count), jacobians=os.path.abspath(source), jacobians_sha256=sha256_of(source),
        model=meta.get('model'), source_checkpoint=meta.get('source'), source_sha256=meta.get('checkpoint_sha256'),
        family=meta.get('family'), num_ws=meta.get('num_ws'))
    click.echo(f'{plural(int(count), "sample")}, region {region} ({plural(int(np.count_nonzero(mask)), "pixel")}); '
               f'top eigenvalues: {", ".join(f"{v:.4g}" for v in eigenvalues[:5])}')
    click.echo(f'Pooled directions {list(directions.shape)}: {out}')
    if per_sample:
        click.echo(f'Per-sample directions and masks: {run.path}/')
    note = runs.link_latest(os.path.join(root, runs.safe_part(region)), run.path)
    if note:
        click.echo(note)
    latest = os.path.join(root, runs.safe_part(region), f'pooled_{opts["name"]}.npy')
    same_region = (f' --box {",".join(map(str, opts["box"]))}' if opts.get('box') else
                   f' --mask {opts["mask_path"]} --labels {format_indices(opts["labels"])}' if opts.get('mask_path')
                   else f' --region {region}' if region in regions.BOXES.get(opts['data_name'], {}) else '')
    if same_region and opts['data_name'] != 'ffhq':
        same_region += f' --data_name {opts["data_name"]}'
    click.echo(f'Next: python manipulate.py {meta.get("source") or "MODEL"} {latest}{same_region}'
               f'   (that path points at this run)')


def _solve(gram_f, gram_b, opts, what):
    try:
        return resefa.solve_directions(gram_f, gram_b, full_rank=opts['full_rank'], tao=opts['tao'])
    except ValueError as error:
        raise options.InputError(f'{what}: {error}') from None


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
