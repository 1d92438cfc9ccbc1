"""Synthesize images with a pretrained generator and lay them out on an HTML page.

Examples:

\b
    # A checkpoint in any supported format (NVlabs .pkl, Hammer .pth, rosinality .pt, ...)
    python synthesis.py stylegan2-ffhq-1024x1024.pkl --nums 16 --save_jpg
\b
    # The small built-in random-weight model (no download; for trying the toolkit)
    python synthesis.py builtin:stylegan2-tiny --nums 8

Writes `work_dirs/synthesize/<data_name>/seed_<seed>_num_<nums>_<model>.html`,
`.../seed_<seed>_num_<nums>_<model>/latent_codes.npy` (the ws after truncation)
and, with --save_jpg, one JPEG per sample.
"""

import os

import click
import numpy as np
import torch
from tqdm import tqdm

from utils import latents
from utils.fileio import save_npy
from utils.html import HtmlPage
from utils.images import resize, save_image, to_uint8
from utils.options import (cli_errors, describe_weights, load_model, model_options, output_options,
                           sampling_options, save_dir_of, truncation_options)


@click.command(help=__doc__)
@model_options
@sampling_options(nums=100)
@truncation_options
@output_options(job='synthesize')
@click.option('--class', 'class_spec', default=None, metavar='CLASS',
              help='Class index (or name) for a conditional model.')
@cli_errors
def main(**opts):
    generator, job_disc = load_model(opts)
    click.echo(describe_weights(generator))
    device = next(generator.parameters()).device

    save_dir = save_dir_of(opts)
    job_name = f'seed_{opts["seed"]}_num_{opts["nums"]}_{job_disc}'
    space, codes, labels = latents.codes_from_options(generator, opts, device)
    num_images = len(codes)
    torch.manual_seed(opts['seed'])  # for --randomize_noise random

    page = HtmlPage(grid_size=num_images, title=f'{job_name}: {generator.source}')
    page.add_note(describe_weights(generator))
    page.add_note(f'truncation_psi={opts["trunc_psi"]}, truncation_cutoff={opts["trunc_layers"]} '
                  f'(applied to z codes), noise_mode={opts["randomize_noise"]}, codes: {space}')
    all_ws = []
    click.echo(f'Synthesizing {num_images} images ...')
    for start in tqdm(range(0, num_images, opts['batch_size']), desc='synthesis', unit='batch'):
        batch = codes[start:start + opts['batch_size']]
        batch_labels = labels[start:start + len(batch)] if labels is not None else None
        with torch.no_grad():
            ws = latents.codes_to_ws(generator, batch, space, opts['trunc_psi'], opts['trunc_layers'],
                                     batch_labels, batch_size=len(batch))
            images = to_uint8(latents.synthesize(generator, ws, opts['randomize_noise'], opts['trunc_psi']))
        for offset, image in enumerate(images):
            index = start + offset
            row, col = divmod(index, page.num_cols)
            page.set_cell(row, col, text=f'Sample {index:06d}', image=resize(image, opts['vis_size']))
            if opts['save_jpg']:
                save_image(os.path.join(save_dir, job_name, f'{index:06d}.jpg'), image)
        all_ws.append(ws.cpu().numpy())

    all_ws = np.concatenate(all_ws).astype(np.float32)
    save_npy(os.path.join(save_dir, job_name, 'latent_codes.npy'), all_ws)
    html_path = os.path.join(save_dir, f'{job_name}.html')
    page.save(html_path)
    click.echo(f'Latent codes {list(all_ws.shape)}: {os.path.join(save_dir, job_name, "latent_codes.npy")}')
    if opts['save_jpg']:
        click.echo(f'Images: {os.path.join(save_dir, job_name)}/')
    click.echo(f'HTML page: {html_path}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
