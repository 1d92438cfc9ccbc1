"""Synthesize images with a pretrained generator and lay them out on an HTML page.

Examples:

\b
    # A checkpoint in any supported format (NVlabs .pkl, Hammer .pth, rosinality .pt, ...)
    python synthesis.py stylegan2-ffhq-1024x1024.pkl --nums 16 --save_jpg
\b
    # The small built-in random-weight model (no download; for trying the toolkit)
    python synthesis.py builtin:stylegan2-tiny --nums 8

Writes into `work_dirs/synthesize/<data_name>/<model>/seed_<seed>_num_<nums>/` (see --save_dir): `synthesis.html`,
`latent_codes.npy` (the ws after truncation, ready for `--latent_path` of the other scripts) and, with --save_jpg, one
JPEG per sample.
"""

import cli  # noqa: F401, I001 - first: a one-line hint when run outside the project's environment

import click
import numpy as np
import torch
from tqdm import tqdm

from cli import inputs, options, runs
from semantics import sampling
from utils.fileio import save_npy
from utils.html import HtmlPage
from utils.images import save_image, to_uint8


@click.command(help=__doc__)
@options.model_options
@options.sampling_options(nums=100)
@options.truncation_options
@options.output_options(job='synthesize')
@options.class_option
@options.cli_errors
def main(**opts):
    generator = options.load_model(opts, say=click.echo)
    codes = inputs.codes_from_options(generator, opts)
    run = runs.RunFolder(runs.root_of(opts), runs.model_part(generator, opts), codes.part)

    with run.writing(opts):
        torch.manual_seed(opts['seed'])  # for --randomize_noise random
        page = HtmlPage(grid_size=len(codes), title=f'Synthesis: {generator.model_name}, {codes.part}',
                        image_size=opts['vis_size'] or None)
        page.add_note(*inputs.settings_notes(generator, codes, opts))
        click.echo(f'Synthesizing {inputs.plural(len(codes), "image")} ...')
        ws = codes.ws(generator, opts['trunc_psi'], opts['trunc_layers'], opts['batch_size'])  # [N, num_ws, w_dim]
        for start in tqdm(range(0, len(ws), opts['batch_size']), desc='synthesis', unit='batch'):
            images = sampling.render(generator, ws[start:start + opts['batch_size']], opts['randomize_noise'],
                                     opts['trunc_psi'])
            for index, image in enumerate(to_uint8(images), start=start):
                row, col = divmod(index, page.num_cols)
                page.set_cell(row, col, text=f'Sample {index:06d}', image=image)
                if opts['save_jpg']:
                    save_image(run.file(f'{index:06d}.jpg'), image)
        all_ws = ws.cpu().numpy().astype(np.float32)
        save_npy(run.file('latent_codes.npy'), all_ws)
        page.save(run.file('synthesis.html'))
    click.echo(f'Latent codes {list(all_ws.shape)} (w+, for --latent_path): {run.file("latent_codes.npy")}')
    if opts['save_jpg']:
        click.echo(f'Images: {run.path}/')
    click.echo(f'HTML page: {run.file("synthesis.html")}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
