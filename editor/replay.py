"""An edit of the editor as one archive (its layout: docs/interface.md, Export), and the command that renders it
again, pixel for pixel: `python -m editor.replay faces64_edit.zip edited.png`."""

import os
import shutil
import tempfile
import zipfile

import click
import torch

import directions
from cli import options
from semantics import editing, sampling
from utils.fileio import load_json, save_json, save_npy, save_text
from utils.images import save_image, to_uint8

def render(generator, ws, edits, truncation_psi):
    """The uint8 image `[H, W, C]` of ws `[1, num_ws, w_dim]` moved by `(vector, layers, distance)` edits."""
    return to_uint8(sampling.render(generator, editing.apply_edits(ws, edits), 'const', truncation_psi))[0]


def archive(generator, ws, edits, truncation_psi, image, transform, name):
    """`(zip bytes, command)` of an edit: `edits` are `(vector [w_dim], layers, distance, facts)`."""
    command = f'python -m editor.replay {name}.zip {name}.png'
    recipe = {'model': str(generator.source), 'checkpoint_sha256': generator.checkpoint_sha256, 'code': 'code.npy',
              'truncation_psi': truncation_psi, 'transform': list(transform), 'command': command, 'edits': []}
    with tempfile.TemporaryDirectory() as folder:
        content = os.path.join(folder, name)
        for i, (vector, layers, distance, facts) in enumerate(edits):
            path = f'directions/{i}_{facts["label"]}.npy'
            directions.save_directions(os.path.join(content, path), vector[None], generator=generator,
                                       **{**facts, 'recommended_layers': layers})
            recipe['edits'].append({'file': path, 'layers': layers, 'distance': distance})
        save_npy(os.path.join(content, 'code.npy'), ws.cpu().numpy())
        save_json(os.path.join(content, 'edit.json'), recipe)
        save_image(os.path.join(content, 'edited.png'), image)
        save_text(os.path.join(content, 'README.txt'), f'An edit of {generator.model_name} made with interface.py, '
                  f'shown in edited.png. From the toolkit\'s folder,\n\n    {command}\n\nrenders it again.\n')
        with open(shutil.make_archive(content, 'zip', content), 'rb') as file:
            return file.read(), command


@click.command()
@click.argument('archive_path', metavar='ARCHIVE', type=click.Path(exists=True, dir_okay=False))
@click.argument('out', metavar='OUT.png', type=click.Path(dir_okay=False))
@click.option('--model', default=None, help='The model, if not where the archive says (its SHA-256 is checked).')
@click.option('--device', default=None, help="'cpu', 'cuda' or 'cuda:N'. [default: cuda when available]")
@options.cli_errors
def main(archive_path, out, model, device):
    """Render the image of an edit exported by the editor (its "Edit .zip") into OUT.png."""
    with tempfile.TemporaryDirectory() as folder:
        try:  # the files of the archive, as the editor writes them
            with zipfile.ZipFile(archive_path) as files:
                files.extractall(folder)
            recipe = load_json(os.path.join(folder, 'edit.json'))
            tx, ty, rotate = recipe['transform']
            G = options.load_model({'weight_path': model or recipe['model'], 'device': device, 'tx': tx, 'ty': ty,
                                    'rotate': rotate})
            if recipe['checkpoint_sha256'] not in (None, G.checkpoint_sha256):
                raise click.BadParameter(f'{G.source} is not the model of the edit', param_hint='--model')
            ws = directions.check_codes(G, directions.latents_array(os.path.join(folder, recipe['code'])), 'wp')[1]
            edits = [(directions.read_direction(os.path.join(folder, edit['file']), G.w_dim, download=False).array[0],
                      edit['layers'], edit['distance']) for edit in recipe['edits']]
        except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as error:
            raise click.BadParameter(f'{archive_path}: not an edit archive of the editor ({error})',
                                     param_hint='ARCHIVE') from None
        save_image(out, render(G, torch.from_numpy(ws), edits, recipe['truncation_psi']))
    click.echo(f'Wrote {out}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
