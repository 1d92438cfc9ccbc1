"""The interactive editor, in the browser: SeFa sliders, direction files, and ReSeFa directions of any box.

Examples:

\b
    python interface.py builtin:stylegan2-tiny                 # then open the URL it prints
    python interface.py stylegan2-ffhq-1024x1024.pkl --port 8080
    python interface.py MODEL --host 0.0.0.0                   # reachable from other machines (see the warning)

Starts a local web server for MODEL (any checkpoint, zoo name or `builtin:`
name, fixed at start: the page never names a file) and serves one page: codes
(seeds, prepared codes, uploads, projected images), SeFa sliders of the layers
you choose, the published directions and those under --work_dir, and the
ReSeFa directions of a named region or a box you drag on the image. Edits of
every kind combine; "Edit .zip" exports them with the command that renders the
image again (python -m editor.replay). Ctrl-C stops it. See docs/interface.md.
"""

import click

from cli import options
from editor.server import make_server
from editor.session import Editor
from semantics import regions


@click.command(help=__doc__)
@options.model_options
@click.option('--host', default='127.0.0.1', show_default=True, callback=options.not_empty,
              help='Address to listen on (127.0.0.1: this machine only).')
@click.option('--port', type=click.IntRange(0, 65535), default=8000, show_default=True,
              help='Port to listen on (0: any free port).')
@click.option('-d', '--data_name', type=click.Choice(regions.dataset_names()), default='ffhq', show_default=True,
              help='Dataset whose named regions to offer.')
@click.option('--work_dir', type=click.Path(exists=True, file_okay=False), default='.', show_default=True,
              metavar='DIR', help='Folder searched for direction files (work_dirs/, results/).')
@click.option('--trunc_layers', type=click.IntRange(min=0), default=8, show_default=True,
              help='Number of layers truncation applies to (StyleGAN families).')
@options.cli_errors
def main(**opts):
    generator = options.load_model(opts)
    click.echo(options.describe_weights(generator))
    try:
        editor = Editor(generator, opts['data_name'], opts['work_dir'], opts['trunc_layers'],
                        transform=(opts['tx'], opts['ty'], opts['rotate']))
        server = make_server(editor, opts['host'], opts['port'])
    except OSError as error:
        raise click.BadParameter(f'cannot listen on {opts["host"]}:{opts["port"]} ({error.strerror})',
                                 param_hint='--host/--port') from None
    host, port = server.server_address[:2]
    if opts['host'] not in ('127.0.0.1', 'localhost', '::1'):
        click.echo(f'Warning: listening on {host}: anyone who can reach this address can use the editor '
                   f'and the machine it runs on.')
    shown = '127.0.0.1' if host in ('0.0.0.0', '::') else host
    click.echo(f'Editor of {generator.model_name}: http://{shown}:{port}/   (Ctrl-C stops it)', color=False)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo('Stopped.')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
