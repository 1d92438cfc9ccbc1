"""Catalog of direction files and prepared latent codes.

\b
Examples:
  python -m directions list
  python -m directions fetch eyesize afhq/stylegan3/eyes-r
  python -m directions fetch --all
  python -m directions add smile work_dirs/directions/ffhq/mouth/directions.npy
  python -m directions show ffhq/stylegan2/lipstick
"""

import functools
import json

import click

import directions as catalog_lib
from directions.catalog import DISTANCE_BOUNDS, check_distances
from utils.indices import format_indices, parse_indices


def _catalog_errors(func):
    """Turn catalog errors into one-line click errors (exit code 1)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except catalog_lib.CatalogError as error:
            raise click.ClickException(str(error)) from None
    return wrapper


def format_layers(layers):
    """[4, 5, 6, 7] -> '4-7'; [0, 1, 8] -> '0-1,8'; None (no recommendation) -> '-'."""
    return '-' if layers is None else format_indices(layers)


def format_distances(distance_range):
    if distance_range is None:
        return '-'
    return f'{distance_range[0]:g}..{distance_range[1]:g}'


def _table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


@click.group(help=__doc__)
def main():
    pass


@main.command('list')
@click.option('--kind', type=click.Choice(['all', *catalog_lib.KINDS]), default='all', show_default=True,
              help='Which entries to show.')
@_catalog_errors
def list_entries(kind):
    """Show the catalog: name, kind, model, layers, distances, and where the file is (shipped, cached, missing)."""
    catalog = catalog_lib.load_catalog()
    rows = [('name', 'kind', 'model', 'layers', 'distances', 'file')]
    for entry in catalog.select(None if kind == 'all' else kind):
        layers = format_layers(entry.recommended_layers) if entry.kind == 'direction' else '-'
        rows.append((entry.id, entry.kind, str(entry.get('model', '-')), layers,
                     format_distances(entry.distance_range), catalog_lib.file_status(entry)))
    click.echo(_table(rows))
    click.echo(f'\nshipped files: {catalog_lib.FOLDER}; downloads go to {catalog_lib.directions_dir()}; '
               f'user catalog: {catalog.user_catalog}')


@main.command()
@click.argument('name')
@_catalog_errors
def show(name):
    """Print one entry as JSON, with where its file is."""
    entry = catalog_lib.load_catalog().lookup(name)
    record = entry.to_json()
    record.update(origin=entry.origin, local_file=entry.local_file(), file=catalog_lib.file_status(entry))
    click.echo(json.dumps(record, indent=2))


@main.command()
@click.argument('names', nargs=-1, metavar='NAME...')
@click.option('--all', 'fetch_all', is_flag=True, help='Fetch every built-in entry.')
@click.option('--progress/--no-progress', default=True, show_default=True, help='Show download progress.')
@_catalog_errors
def fetch(names, fetch_all, progress):
    """Print the verified file of each entry, downloading those that are neither shipped nor cached."""
    catalog = catalog_lib.load_catalog()
    if fetch_all == bool(names):
        raise click.UsageError('give NAME... or --all')
    entries = [e for e in catalog if e.source is not None] if fetch_all else [catalog.lookup(n) for n in names]
    failed = 0
    for entry in entries:
        try:
            path = catalog_lib.fetch(entry, progress=progress)
        except catalog_lib.CatalogError as error:
            failed += 1
            click.echo(f'Error: {error}', err=True)
            continue
        click.echo(f'{entry.id}: {path}')
    if failed:
        raise click.ClickException(f'{failed} of {len(entries)} files could not be fetched')


@main.command()
@click.argument('name')
@click.argument('path', type=click.Path(exists=True, dir_okay=False))
@click.option('--sidecar', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Sidecar .json of the file.  [default: PATH with .json, when present]')
@click.option('--kind', type=click.Choice(catalog_lib.KINDS), default='direction', show_default=True,
              help='What the file holds.')
@click.option('--layers', default=None, metavar='LIST',
              help="Recommended layers, e.g. '4-7' or '0,1,8'.  [default: the sidecar's layers]")
@click.option('--distance', type=(float, float), default=None, metavar='START END',
              help=f'Recommended distance range, START and END {DISTANCE_BOUNDS}.')
@click.option('--description', default=None, help='One line saying what the edit does.')
@click.option('--model', default=None, help='Model the file belongs to.')
@_catalog_errors
def add(name, path, sidecar, kind, layers, distance, description, model):
    """Record a file in the user catalog so that it resolves by NAME."""
    facts = {}
    if layers is not None:
        try:
            facts['recommended_layers'] = parse_indices(layers, allow_all=False)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint='--layers') from None
    if distance is not None:
        if not check_distances(distance):
            raise click.BadParameter(f'{distance[0]:g} {distance[1]:g}: START and END must be numbers '
                                     f'{DISTANCE_BOUNDS}', param_hint='--distance')
        facts['distance_range'] = list(distance)
    if description is not None:
        facts['description'] = description
    if model is not None:
        facts['model'] = model
    entry = catalog_lib.add_local_entry(name, path, sidecar=sidecar, kind=kind, **facts)
    click.echo(f'{entry.id}: {entry.path} (sha256 {entry.sha256[:12]}..., shape {list(entry.shape)}, '
               f'layers {format_layers(entry.recommended_layers)}) added to {catalog_lib.user_catalog_path()}')


if __name__ == '__main__':
    main()
