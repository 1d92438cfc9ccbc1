"""Jacobians of generated images with respect to the latent w (ReSeFa step 1).

Forward-mode differentiation (`w_dim` Jacobian-vector products per sample, in chunks) instead of the reference's one
backward pass per pixel: identical numbers, seconds instead of hours per sample on a GPU.

Examples:

\b
    python compute_jacobian.py stylegan2-ffhq-config-f-1024x1024.pth --stylegan2
    python compute_jacobian.py MODEL --nums 100 --region eyes      # only the eyes' Gram matrices

Writes into `work_dirs/jacobians/<data_name>/<model>/seed_<seed>_num_<nums>/` (see --save_dir): `latent_codes.npy` (w,
[N, w_dim]), `jacobians_w.npy` in the reference layout ([N, 256, 256, 1, w_dim] for images larger than 256, summed over
colour; else [N, C, H, W, 1, w_dim]) with its sidecar `jacobians_w.json`, and the images in `images/` (--no_save_jpg:
not). With --region/--box/--mask it accumulates only the region's Gram matrices into `grams_<region>.npz` (MBs instead
of 128 MiB per sample). `work_dirs/jacobians/<data_name>/jacobians_w.npy` (and `latent_codes.npy`, `grams_<region>.npz`)
then point at the latest run, so the original README's next command works as written. An interrupted run, started again
with the same options, resumes after the samples it finished; so does one started under torchrun with any number of
processes (docs/distributed.md).
"""

import cli  # noqa: F401, I001 - first: a one-line hint when run outside the project's environment
import os
import shutil

import click
import numpy as np
from tqdm import tqdm

from cli import inputs, options, runs
from cli.inputs import plural
from cli.ranks import Ranks
from semantics import jacobian, sampling
from semantics.jobs import GRAM_BLOCK, JacobianJob
from utils.cpu import keep_freed_memory
from utils.fileio import save_npy
from utils.images import save_image, to_uint8
from utils.indices import format_indices


@click.command(help=__doc__)
@options.model_options
@options.sampling_options(nums=5)
@options.output_options(job='jacobians', save_jpg=True, page=False)
@click.option('--chunk_size', type=click.IntRange(min=1), default=None,
              help='Basis vectors per batched Jacobian-vector product; sets the peak memory. '
                   '[default: fit 2 GiB on CPU, 40% of free memory on CUDA]')
@click.option('--precision', type=click.Choice(jacobian.PRECISIONS), default='fp32', show_default=True,
              help='Arithmetic of the Jacobian-vector products: tf32 uses TF32 on CUDA (fp32 on CPU); bf16 '
                   'bfloat16, faster where the hardware has it, about 1% off.')
@click.option('--jacobian_size', type=click.IntRange(min=1), default=None,
              help='Resolution of the Jacobian. [default: 256 for larger images, else the image size]')
@click.option('--sum_channels/--per_channel', default=None,
              help='Sum the Jacobian over colour channels. [default: when the image is larger than 256]')
@click.option('--layers', type=options.IndexList(allow_all=False), default=None, metavar='LIST',
              help='Differentiate w.r.t. w on these layers only (the layers you will edit). [default: all]')
@options.region_options('whose Gram matrices to accumulate instead of the Jacobians')
@options.class_option
@click.option('--trunc_psi', type=options.PSI, default=1.0, show_default=True,
              help='Truncation of the sampled w (the reference uses none; BigGAN: its truncation).')
@click.option('--b', 'unused_b', type=options.FiniteFloat(), default=None, metavar='FLOAT',
              help='Accepted for compatibility with the original script, which does not use it either.')
@options.cli_errors
def main(**opts):
    ranks, started = Ranks.from_environment(), []
    try:
        _compute(opts, ranks, started)
    except KeyboardInterrupt:
        if not started:
            raise options.Interrupted('interrupted while setting up (loading the model, drawing the codes): no '
                                       'sample was computed; run the same command again to start') from None
        job = started[0]
        raise options.Interrupted(f'interrupted: {len(job.done())} of {plural(len(job.w), "sample")} are saved in '
                                   f'{job.folder}; run the same command again to resume') from None


def _compute(opts, ranks, started):
    say = click.echo if ranks.is_main else (lambda *args, **kwargs: None)  # process 0 speaks for the job
    opts['device'] = ranks.device(opts['device'])
    generator = options.load_model(opts, say=say)
    if opts['vis_size'] is not None:
        say('Note: --vis_size is not used: compute_jacobian.py writes no page')
    codes = inputs.codes_from_options(generator, opts)
    size, sum_channels = jacobian.reference_output_shape(generator, opts['jacobian_size'], opts['sum_channels'])
    if codes.space == 'wp':
        raise click.BadParameter('Jacobians are taken at a single w per sample: give z or w codes',
                                 param_hint='--latent_path')
    if size > max(generator.img_resolution, 256):
        raise click.BadParameter(f'{size} is larger than the image ({generator.img_resolution} pixels) and than 256',
                                 param_hint='--jacobian_size')
    layers = opts['layers'] and options.check_layers(generator, opts['layers'], '--layers')
    region = inputs.region_from_options(opts, size)
    chunk_size = opts['chunk_size'] or jacobian.auto_chunk_size(generator)
    root = runs.root_of(opts)
    parts = [codes.part, layers and f'layers_{format_indices(layers)}', opts['jacobian_size'] and f'size_{size}',
             opts['sum_channels'] is not None and ('summed' if sum_channels else 'per_channel'),
             opts['precision'] != 'fp32' and opts['precision']]
    run = runs.RunFolder(root, runs.model_part(generator, opts), *parts)
    if not region:
        _check_disk(run.path, 4 * int(np.prod(jacobian.jacobian_shape(generator, len(codes), size, sum_channels))))

    ws = codes.ws(generator, opts['trunc_psi'], None, opts['batch_size'])
    w = ws[:, 0].cpu().numpy().astype(np.float32)  # [N, w_dim]
    synthesis_kwargs = generator.synthesis_kwargs('const', opts['trunc_psi'], for_tangents=True)
    settings = {'model': generator.model_name, 'checkpoint_sha256': generator.checkpoint_sha256,
                'codes': codes.part, 'transform': [opts['tx'], opts['ty'], opts['rotate']],
                'synthesis': {k: v for k, v in synthesis_kwargs.items() if k != 'fused_modconv'}}
    job = JacobianJob(generator, w, run.path, layers, size, sum_channels, region, chunk_size, synthesis_kwargs,
                      settings, precision=opts['precision'])
    ranks.check_same({**job.settings, 'folder': os.path.abspath(run.path)})
    # Process 0 holds the job's files for all: the same job started twice at once is refused, not left to write
    # into the other's partial files.
    busy = ranks.gather(job.claim() if ranks.is_main else None)[0]
    if busy:
        raise click.ClickException(busy)
    try:
        if ranks.is_main:
            run.start(opts)
            save_npy(run.file('latent_codes.npy'), w)
            for start in range(0, len(ws), opts['batch_size']) if opts['save_jpg'] else ():
                images = to_uint8(sampling.render(generator, ws[start:start + opts['batch_size']], 'const',
                                                  opts['trunc_psi']))
                for index, image in enumerate(images, start=start):
                    save_image(run.file('images', f'{index:06d}.jpg'), image)
            say(f'Jacobian {size}x{size}{" summed over colour" if sum_channels else " per channel"}, '
                f'{generator.w_dim} JVPs per sample in chunks of {chunk_size}'
                + (f'; only the Gram matrices of region {region[0]}' if region else '')
                + (f'; {ranks.world} processes' if ranks.distributed else ''))
        started.append(job)
        _run(job, generator.w_dim, ranks, say)
        if not ranks.is_main:
            return
        facts = {'source': generator.source, 'checkpoint_sha256': generator.checkpoint_sha256,
                 'model': generator.model_name, 'family': generator.family, 'variant': generator.variant,
                 'w_dim': generator.w_dim, 'num_ws': generator.num_ws, 'run': run.path, 'codes': codes.part,
                 'layers': layers, 'data_name': opts['data_name'], 'processes': ranks.world,
                 'method': f'forward mode ({job.method}), reference semantics'}
        path = job.finish(**facts)
        say(f'{"Gram matrices of region " + region[0] if region else "Jacobians " + str(list(job.shape))}: {path}')
        say(f'Latent codes: {run.file("latent_codes.npy")}')
        names = [os.path.basename(job.path), job.name + '.json', 'latent_codes.npy']
        notes = [runs.link_latest(f'{root}/{names[0]}', run.file(names[0]))]
        if notes[0] is None:  # a real file in the way: the result's files keep their links together, none moved
            notes += [runs.link_latest(f'{root}/{name}', run.file(name)) for name in names[1:]]
        for note in filter(None, notes):
            say(note)
        say(f'Next: python compute_directions.py {path}' if notes[0] else
            f'Next: python compute_directions.py {root}/{names[0]}   (that path points at this run)')
    finally:
        job.release()


def _check_disk(folder, needed):
    """Refuse a run whose Jacobians cannot fit on the disk of `folder` (before anything is written); what an
    interrupted run already wrote there counts as free."""
    kept = [os.path.join(folder, name) for name in ('.jacobians_w.partial.npy', 'jacobians_w.npy')]
    needed -= sum(os.path.getsize(path) for path in kept if os.path.isfile(path))
    free = shutil.disk_usage(runs.existing_ancestor(folder)).free
    if needed > free:
        raise click.ClickException(f'{folder}: the Jacobians need {_size(needed)} and the disk has '
                                   f'{_size(free)} free; ask for fewer samples (--nums) or a smaller '
                                   '--jacobian_size, or give --region to keep only its Gram matrices')


def _size(count):
    for unit, scale in (('GiB', 2 ** 30), ('MiB', 2 ** 20)):
        if count >= scale:
            return f'{count / scale:.1f} {unit}'
    return f'{max(count, 0) / 2 ** 10:.0f} KiB'


def _run(job, w_dim, ranks, say):
    """Run this process's pending samples with progress bars."""
    if job.complete:
        say(f'Already computed with the same settings: {job.path}')
        return
    if job.replaces:
        say(f'Note: {job.path} holds a result of other settings; it is replaced when this run finishes')
    if ranks.is_main:
        done = job.prepare()
        if job.discarded:
            say(f'Note: the saved samples of an interrupted run in {job.folder} were damaged (cut short?), '
                'so the run starts over')
        if done:
            say(f'Resuming: {done} of {plural(len(job.w), "sample")} are already done')
    ranks.barrier()  # the partial files exist before any process writes into them
    mine = job.share(ranks.rank, ranks.world)
    if not mine:  # said by the process itself: process 0 always has samples
        why = (f'Gram matrices are summed in blocks of {GRAM_BLOCK} samples, whole blocks to a process (so that any '
               f'number of processes gives the same bits), and {plural(len(job.w), "sample")} make '
               f'{plural(job.num_blocks, "block")}' if job.grams else
               f'{plural(len(job.w), "sample")} are shared by {ranks.world} processes')
        click.echo(f'Process {ranks.rank} has no samples to compute: {why}')
    share = job.pending(mine)
    keep_freed_memory()
    label = f'process {ranks.rank}' if ranks.distributed else 'samples'
    with tqdm(total=len(share), desc=label, unit='sample', position=2 * ranks.rank) as samples, \
            tqdm(total=w_dim, desc='  tangents', unit='col', leave=False, position=2 * ranks.rank + 1) as inner:
        def on_sample(_):
            samples.update(1)
            inner.reset()

        job.run(share, on_sample=on_sample, on_chunk=inner.update)
    ranks.barrier()  # every share is done before the result is put together


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
