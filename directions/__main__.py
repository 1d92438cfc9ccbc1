"""Catalog of direction files and prepared latent codes.

\b
Examples:
  python -m directions list
  python -m directions fetch eyesize afhq/stylegan3/eyes-r
  python -m directions fetch --all
  python -m directions add smile work_dirs/directions/ffhq/mouth/pooled_resefa.npy
  python -m directions show ffhq/stylegan2/lipstick
"""

import json

import click

import directions as catalog_lib
from directions.catalog import DISTANCE_BOUNDS, advice_problem
from utils.indices import IndexList, format_indices


class _Commands(click.Group):
    """The commands, whose catalog errors end the run as one-line click errors (exit code 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except catalog_lib.CatalogError as error:
            raise click.ClickException(str(error)) from None


def _layers(layers):
    return '-' if layers is None else format_indices(layers)


@click.group(cls=_Commands, help=__doc__)
def main():
    pass


@main.command('list')
@click.option('--kind', type=click.Choice(['all', *catalog_lib.KINDS]), default='all', show_default=True,
              help='Which entries to show.')
def list_entries(kind):
    """Show the catalog: name, kind, model, layers, distances, and where the file is (shipped, cached, missing)."""
    catalog = catalog_lib.load_catalog()
    rows = [('name', 'kind', 'model', 'layers', 'distances', 'file')]
    for entry in catalog.select(None if kind == 'all' else kind):
        span = entry.distance_range
        rows.append((entry.id, entry.kind, str(entry.get('model', '-')),
                     _layers(entry.recommended_layers) if entry.kind == 'direction' else '-',
                     '-' if span is None else f'{span[0]:g}..{span[1]:g}', catalog_lib.file_status(entry)))
    widths = [max(map(len, column)) for column in zip(*rows)]
    for row in rows:
        click.echo('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    click.echo(f'\nshipped files: {catalog_lib.FOLDER}; downloads go to {catalog_lib.directions_dir()}; '
               f'user catalog: {catalog.user_catalog}')


@main.command()
@click.argument('name')
def show(name):
    """Print one entry as JSON, with where its file is."""
    entry = catalog_lib.load_catalog().lookup(name)
    record = dict(id=entry.id, kind=entry.kind, path=entry.path, sha256=entry.sha256, shape=list(entry.shape))
    record.update(entry.facts, origin=entry.origin, local_file=entry.local_file(), file=catalog_lib.file_status(entry))
    click.echo(json.dumps(record, indent=2))


@main.command()
@click.argument('names', nargs=-1, metavar='NAME...')
@click.option('--all', 'fetch_all', is_flag=True, help='Fetch every built-in entry.')
@click.option('--progress/--no-progress', default=True, show_default=True, help='Show download progress.')
def fetch(names, fetch_all, progress):
    """Print the verified file of each entry, downloading those that are neither shipped nor cached."""
    if fetch_all == bool(names):
        raise click.UsageError('give NAME... or --all')
    catalog = catalog_lib.load_catalog()
    entries = [e for e in catalog if e.source is not None] if fetch_all else [catalog.lookup(n) for n in names]
    failed = 0
    for entry in entries:
        try:
            click.echo(f'{entry.id}: {catalog_lib.fetch(entry, progress=progress)}')
        except catalog_lib.CatalogError as error:
            failed += 1
            click.echo(f'Error: {error}', err=True)
    if failed:
        raise click.ClickException(f'{failed} of {len(entries)} file{"s" * (len(entries) > 1)} could not be fetched')


def _distance_range(ctx, param, value):
    if value is not None and advice_problem({'distance_range': value}):
        raise click.BadParameter(f'{value[0]:g} {value[1]:g}: START and END must be numbers {DISTANCE_BOUNDS}',
                                 ctx, param)
    return value


@main.command()
@click.argument('name')
@click.argument('path', type=click.Path(exists=True, dir_okay=False))
@click.option('--sidecar', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Sidecar .json of the file.  [default: PATH with .json, when present]')
@click.option('--kind', type=click.Choice(catalog_lib.KINDS), default='direction', show_default=True,
              help='What the file holds.')
@click.option('--layers', type=IndexList(allow_all=False), default=None, metavar='LIST',
              help="Recommended layers, e.g. '4-7' or '0,1,8'.  [default: the sidecar's layers]")
@click.option('--distance', type=(float, float), default=None, metavar='START END', callback=_distance_range,
              help=f'Recommended distance range, START and END {DISTANCE_BOUNDS}.')
@click.option('--description', default=None, help='One line saying what the edit does.')
@click.option('--model', default=None, help='Model the file belongs to.')
def add(name, path, sidecar, kind, layers, distance, description, model):
    """Record a file in the user catalog so that it resolves by NAME."""
    entry = catalog_lib.add_local_entry(name, path, sidecar=sidecar, kind=kind, recommended_layers=layers,
                                        distance_range=distance, description=description, model=model)
    click.echo(f'{entry.id}: {entry.path} (sha256 {entry.sha256[:12]}..., shape {list(entry.shape)}, '
               f'layers {_layers(entry.recommended_layers)}) added to {catalog_lib.user_catalog_path()}')


if __name__ == '__main__':
    main()
