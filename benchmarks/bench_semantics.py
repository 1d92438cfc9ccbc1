"""Do the face models follow their truth, and do SeFa and ReSeFa find their semantics? Measured against the
renderer's ground truth, for several models in one run (`demo/checks.py` defines every measure).

- The model: each factor of the eyes, nose and mouth moved by a step of its own `z` coordinate, drawn
  by the generator and by the renderer.
- ReSeFa: the pooled first direction of each region (`--samples` Jacobians, as `compute_jacobian.py`
  and `compute_directions.py` make them), a step of 1.0 on every layer of codes the Jacobians never
  saw, against a random direction; the factors the step moves; and each code's own direction.
- SeFa: the top 5 directions of `sefa.py -L all` and the factors each one moves.

Every change is given as the share of its absolute value inside the region (what `manipulate.py`
prints), the share of its energy (squared change: what ReSeFa's quotient maximises) and the
concentration (mean change of a pixel inside over outside). The gates of the model card are checked
last.

    python benchmarks/bench_semantics.py
    python benchmarks/bench_semantics.py --models builtin:faces64 --json_out semantics.json \
        --change_map docs/images/faces64_region_edits.png
"""

import json
import os
import sys
import time

import click
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import models  # noqa: E402
from demo import checks, faces, train  # noqa: E402
from demo import factors as factor_reader  # noqa: E402
from utils.fileio import atomic_path  # noqa: E402
from utils.images import to_uint8  # noqa: E402

REGIONS = ('eyes', 'mouth', 'nose')
CODE_FACTORS = [factor.name for factor in faces.FACTORS if factor.region in REGIONS]
CODE_STEP = 0.5
DISTANCE = 1.0


def cells(change):
    return f'{change.share:.1%} | {change.energy:.1%} | {change.concentration:.1f}'


def measure(generator, reader, samples, edits):
    """Every measure of one model, as a dict of rows."""
    record = {'code_steps': [], 'resefa': [], 'own': [], 'sefa': []}
    click.echo('\nThe model along its code\'s axes: a factor\'s z coordinate moved by '
               f'{CODE_STEP:g} (32 codes), generator against renderer.')
    click.echo('| factor | generator: share / energy / concentration | | | renderer: share / energy / concentration '
               '| | | generator\'s change inside, share of the renderer\'s |')
    click.echo('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for row in checks.code_steps(generator, train.targets, CODE_FACTORS, CODE_STEP):
        record['code_steps'].append({'factor': row.factor, 'region': row.region, 'generator': vars(row.generator),
                                     'renderer': vars(row.renderer), 'response': row.response})
        click.echo(f'| {row.factor} | {cells(row.generator)} | {cells(row.renderer)} | {row.response:.0%} |')

    jacobians = checks.sample_jacobians(generator, samples)
    click.echo(f'\nReSeFa: each region\'s pooled first direction ({samples} Jacobians), a step of {DISTANCE:g} on '
               f'every layer ({edits} other codes); a random direction; each code\'s own direction.')
    click.echo('| region | share / energy / concentration | | | random direction | | | region\'s factors, share '
               'of the movement | own direction: energy, mean (lowest) | share |')
    click.echo('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for region in REGIONS:
        edit = checks.region_edits(generator, jacobians, region, reader, DISTANCE, edits)
        own = checks.own_directions(generator, jacobians, region, DISTANCE)
        energies = np.array([change.energy for change in own])
        record['resefa'].append({'region': region, 'resefa': vars(edit.resefa), 'random': vars(edit.random),
                                 'own_factors': edit.own_factors, 'eigenvalue': edit.eigenvalue})
        record['own'].append({'region': region, 'energy': energies.tolist(),
                              'share': [change.share for change in own]})
        click.echo(f'| {region} | {cells(edit.resefa)} | {cells(edit.random)} | {edit.own_factors:.0%} '
                   f'| {energies.mean():.1%} ({energies.min():.1%}) | '
                   f'{np.mean([change.share for change in own]):.1%} |')

    click.echo(f'\nSeFa -L all: factors read between distances {checks.SEFA_DISTANCES[0]:g} and '
               f'{checks.SEFA_DISTANCES[1]:g} ({edits} codes).')
    click.echo('| direction | eigenvalue | factor moved most | movement (share of range) | share of all movement '
               '| next factor |')
    click.echo('| --- | --- | --- | --- | --- | --- |')
    for row in checks.sefa_factors(generator, reader, count=5, samples=edits):
        (first, moved, share), (second, moved2, _) = row.top(2)
        record['sefa'].append({'direction': row.index, 'eigenvalue': row.eigenvalue, 'factor': first,
                               'movement': moved, 'share': share, 'next_factor': second, 'next_movement': moved2})
        click.echo(f'| {row.index} | {row.eigenvalue:.2f} | {first} | {moved:.2f} | {share:.0%} '
                   f'| {second} ({moved2:.2f}) |')
    return record, jacobians


def gates(record):
    """`[(gate, value, target, passed)]`: the targets of the model card."""
    rows = []
    for step in record['code_steps']:
        if step['region'] in ('eyes', 'mouth'):
            rows.append((f'{step["factor"]}: generator\'s change inside / renderer\'s', step['response'], 0.5))
            rows.append((f'{step["factor"]}: generator\'s energy inside', step['generator']['energy'], 0.8))
    for edit, own in zip(record['resefa'], record['own']):
        if edit['region'] in ('eyes', 'mouth'):
            rows.append((f'ReSeFa {edit["region"]}: energy inside', edit['resefa']['energy'], 0.8))
            rows.append((f'ReSeFa {edit["region"]}: share of |change| inside', edit['resefa']['share'], 0.5))
            rows.append((f'ReSeFa {edit["region"]}: own directions\' lowest energy inside', min(own['energy']), 0.8))
            rows.append((f'ReSeFa {edit["region"]}: the region\'s factors\' share of the movement',
                         edit['own_factors'], 0.5))
    return [(name, value, target, value >= target) for name, value, target in rows]


def change_map_row(generator, jacobians, region, edits, shown=3, scale=2):
    """`shown` codes before and after a step along the region's direction, then where the steps change the image
    (mean absolute change of `edits` codes, brightest where largest, the region in red)."""
    directions, _ = checks.region_directions(jacobians, region)
    ws = checks.sampling.sample_ws(generator, edits, checks.EDIT_SEED)
    before, after = checks.step_images(generator, ws, directions[0], 3 * DISTANCE)
    change = (after - before).abs().sum(1).mean(0).numpy()
    heat = (np.clip(change / change.max(), 0, 1) * 255).astype(np.uint8)
    heat = np.stack([np.maximum(heat, checks.box(region).astype(np.uint8) * 110), heat, heat], -1)
    tiles = [image for pair in zip(to_uint8(before[:shown]), to_uint8(after[:shown])) for image in pair]
    return np.concatenate(tiles + [heat], axis=1).repeat(scale, 0).repeat(scale, 1)


@click.command()
@click.option('--models', 'names', default='builtin:faces64,builtin:faces64-v2', show_default=True,
              help='Models of the face renderer, comma-separated (files of python -m demo.train too).')
@click.option('--samples', type=click.IntRange(min=1), default=16, show_default=True,
              help='Jacobians pooled for the ReSeFa directions.')
@click.option('--edits', type=click.IntRange(min=1), default=16, show_default=True,
              help='Codes edited to measure each direction.')
@click.option('--json_out', default=None, metavar='FILE')
@click.option('--change_map', default=None, metavar='PNG', help='Draw where the first model\'s region steps '
              'change the image.')
def main(names, samples, edits, json_out, change_map):
    reader = factor_reader.load_reader()
    records = {}
    for name in names.split(','):
        start = time.perf_counter()
        generator = models.load_generator(name)
        click.echo(f'\n## {name}')
        records[name], jacobians = measure(generator, reader, samples, edits)
        records[name]['gates'] = gates(records[name])
        click.echo('\n| gate | value | target | |\n| --- | --- | --- | --- |')
        for gate, value, target, passed in records[name]['gates']:
            click.echo(f'| {gate} | {value:.1%} | {target:.0%} | {"met" if passed else "not met"} |')
        click.echo(f'\n{time.perf_counter() - start:.0f} s')
        if change_map and name == names.split(',')[0]:
            rows = [change_map_row(generator, jacobians, region, edits) for region in REGIONS]
            with atomic_path(change_map) as tmp:
                Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format='PNG')
            click.echo(f'Change map: {change_map}')
    if json_out:
        with atomic_path(json_out) as tmp, open(tmp, 'w', encoding='utf-8') as file:
            json.dump(records, file, indent=1)


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
