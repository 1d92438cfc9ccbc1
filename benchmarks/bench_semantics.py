"""Do SeFa and ReSeFa find the built-in face model's semantics? Checked against the renderer's ground truth.

- ReSeFa: for the eyes, the mouth and the nose, the first direction of
  `compute_directions.py` (pooled over `--samples` Jacobians), edited as
  `manipulate.py --region` edits it (its default distances and layers) on
  codes the Jacobians never saw; the share of each edit's pixel change inside
  the region, against a random unit direction edited the same way, and the
  share of the image the region covers.
- SeFa: the top 5 directions of `sefa.py -L all`; for each, how far every
  factor of the renderer moves between the two ends of the edit (read by the
  factor reader of `demo.factors`, as a share of the factor's range), the
  factor that moves most and its share of all the movement.

    python benchmarks/bench_semantics.py
    python benchmarks/bench_semantics.py --samples 32 --edits 16 --json_out semantics.json
    python benchmarks/bench_semantics.py --sweep --change_map docs/images/faces64_region_edits.png

`--sweep` also measures the shares at smaller distances (down to the linear
regime), on `manipulate.py`'s layers and on all layers (those the Jacobians
were taken for), and ReSeFa's bound in the model: each Jacobian's code edited
along its own first direction (no pooling), in the linear range, on all layers,
with the contrast (mean change per pixel inside over outside) it reaches and
the contrast 80% inside would need. Last, not a method but the model itself:
each factor of the eyes, nose and mouth moved by a step of its own `z`
coordinate, drawn by the generator and by the renderer (the truth of the rule
it was trained on). `--model` also takes a file that
`python -m demo.train` wrote, to compare stages of training.

`--change_map` draws, for each region, three codes at both ends of the edit of
the region's first direction and, last, where the edits change the image (the
mean absolute change of all edited codes, brightest where it is largest, the
region in red).
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
from demo import checks, train  # noqa: E402
from demo import factors as factor_reader  # noqa: E402
from semantics import editing, sampling  # noqa: E402
from semantics.regions import region_mask  # noqa: E402
from utils.fileio import atomic_path  # noqa: E402
from utils.images import to_uint8  # noqa: E402

SWEEP_DISTANCES = (10.0, 3.0, 1.0, 0.3)
CODE_STEP = 0.5
REGION_FACTORS = [name for name, factor in zip(factor_reader.faces.FACTOR_NAMES, factor_reader.faces.FACTORS)
                  if factor.region in ('eyes', 'nose', 'mouth')]
TARGET_SHARE = 0.8


def distance_sweep(generator, jacobians, region, edits):
    """`{(layers name, distance): (ReSeFa share, random share)}` for edits to +-distance only."""
    out = {}
    for name, all_layers in (('manipulate.py layers', False), ('all layers', True)):
        for distance in SWEEP_DISTANCES:
            result = checks.resefa_locality(generator, jacobians, region, edit_samples=edits, all_layers=all_layers,
                                            steps=np.array([-distance, distance], dtype=np.float32))
            out[name, distance] = (result.resefa, result.random)
    return out


def change_map_row(generator, jacobians, region, edits, shown=3, scale=2):
    """One row of the change map: `shown` codes at both ends of the region's edit, then the mean change."""
    directions, _, mask = checks.region_directions(jacobians, region)
    low, high, _ = checks.MANIPULATE_DISTANCES
    ws = sampling.sample_ws(generator, edits, 2026)
    grid = list(editing.edit_grid(generator, ws, directions[0][None], editing.default_layers(generator.num_ws),
                                  np.array([low, high], dtype=np.float32), region_mask=mask))
    tiles = [to_uint8(edit.images) for edit in grid[:shown]]
    change = np.mean([(edit.images[1] - edit.images[0]).abs().sum(0).float().cpu().numpy() for edit in grid], 0)
    heat = (np.clip(change / change.max(), 0, 1) * 255).astype(np.uint8)
    heat = np.stack([np.maximum(heat, mask.astype(np.uint8) * 110), heat, heat], -1)
    row = np.concatenate([image for pair in tiles for image in pair] + [heat], axis=1)
    return row.repeat(scale, 0).repeat(scale, 1)


@click.command()
@click.option('--model', default='builtin:faces64', show_default=True, help='A model of the face renderer.')
@click.option('--samples', type=click.IntRange(min=1), default=16, show_default=True,
              help='Jacobians pooled for the ReSeFa directions.')
@click.option('--edits', type=click.IntRange(min=1), default=16, show_default=True,
              help='Codes edited to measure each direction.')
@click.option('--regions', default='eyes,mouth,nose', show_default=True)
@click.option('--json_out', default=None, metavar='FILE')
@click.option('--sweep', is_flag=True, help='Also measure the shares at smaller distances and on all layers.')
@click.option('--change_map', default=None, metavar='PNG', help='Also draw where the region edits change the image.')
def main(model, samples, edits, regions, json_out, sweep, change_map):
    generator = models.load_generator(model)
    reader = factor_reader.load_reader()
    record = {'model': model, 'samples': samples, 'edits': edits, 'resefa': [], 'sefa': []}
    start = time.perf_counter()
    jacobians = checks.sample_jacobians(generator, samples)
    for region in regions.split(','):
        result = checks.resefa_locality(generator, jacobians, region, edit_samples=edits)
        record['resefa'].append({'region': region, 'area': round(result.area, 3),
                                 'resefa_share': round(result.resefa, 3), 'random_share': round(result.random, 3),
                                 'resefa_min': round(float(np.nanmin(result.resefa_shares)), 3),
                                 'eigenvalue': round(result.eigenvalue, 2)})
        click.echo(json.dumps(record['resefa'][-1]))
    for result in checks.sefa_factors(generator, reader, count=5, samples=edits):
        (first, moved, share), (second, moved2, _) = result.top(2)
        record['sefa'].append({'direction': result.index, 'eigenvalue': round(result.eigenvalue, 3),
                               'factor': first, 'movement': round(moved, 3), 'share': round(share, 3),
                               'next_factor': second, 'next_movement': round(moved2, 3),
                               'movement_by_factor': {name: round(float(v), 3)
                                                      for name, v in zip(factor_reader.faces.FACTOR_NAMES,
                                                                         result.change)}})
        click.echo(json.dumps({k: v for k, v in record['sefa'][-1].items() if k != 'movement_by_factor'}))
    record['seconds'] = round(time.perf_counter() - start, 1)

    click.echo()
    click.echo(f'ReSeFa on {model} ({samples} Jacobians, {edits} edited codes, manipulate.py distances '
               f'{checks.MANIPULATE_DISTANCES[0]:g}..{checks.MANIPULATE_DISTANCES[1]:g}):')
    click.echo('| region | area of image | ReSeFa share inside (mean) | lowest | random direction |')
    click.echo('| --- | --- | --- | --- | --- |')
    for r in record['resefa']:
        click.echo(f'| {r["region"]} | {r["area"]:.1%} | {r["resefa_share"]:.1%} | {r["resefa_min"]:.1%} '
                   f'| {r["random_share"]:.1%} |')
    click.echo()
    click.echo(f'SeFa -L all on {model}, factors read between distances {checks.SEFA_DISTANCES[0]:g} and '
               f'{checks.SEFA_DISTANCES[1]:g} ({edits} codes):')
    click.echo('| direction | eigenvalue | factor moved most | movement (share of range) | share of all movement '
               '| next factor |')
    click.echo('| --- | --- | --- | --- | --- | --- |')
    for r in record['sefa']:
        click.echo(f'| {r["direction"]} | {r["eigenvalue"]:.2f} | {r["factor"]} | {r["movement"]:.2f} '
                   f'| {r["share"]:.0%} | {r["next_factor"]} ({r["next_movement"]:.2f}) |')
    if sweep:
        record['sweep'] = []
        click.echo()
        click.echo('ReSeFa share inside (random direction), edits to -d and +d only:')
        click.echo('| region | layers | ' + ' | '.join(f'd = {d:g}' for d in SWEEP_DISTANCES) + ' |')
        click.echo('| --- | --- |' + ' --- |' * len(SWEEP_DISTANCES))
        for region in regions.split(','):
            shares = distance_sweep(generator, jacobians, region, edits)
            for name in ('manipulate.py layers', 'all layers'):
                cells = [shares[name, d] for d in SWEEP_DISTANCES]
                record['sweep'].append({'region': region, 'layers': name, 'distances': list(SWEEP_DISTANCES),
                                        'resefa': [round(c[0], 3) for c in cells],
                                        'random': [round(c[1], 3) for c in cells]})
                click.echo(f'| {region} | {name} | ' + ' | '.join(f'{a:.1%} ({b:.1%})' for a, b in cells) + ' |')
        record['bound'] = []
        click.echo()
        click.echo(f'ReSeFa\'s bound: each code\'s own first direction, edits to -{SWEEP_DISTANCES[-1]:g} and '
                   f'+{SWEEP_DISTANCES[-1]:g} on all layers ({samples} codes):')
        click.echo('| region | share inside (mean) | lowest | highest | contrast inside/outside '
                   f'| contrast needed for {TARGET_SHARE:.0%} | eigenvalue (median) |')
        click.echo('| --- | --- | --- | --- | --- | --- | --- |')
        for region in regions.split(','):
            shares, ratios = checks.own_direction_locality(generator, jacobians, region, SWEEP_DISTANCES[-1])
            area = float(region_mask('ffhq', region, jacobians.shape[-3]).mean())
            row = {'region': region, 'share': round(float(shares.mean()), 3),
                   'lowest': round(float(shares.min()), 3), 'highest': round(float(shares.max()), 3),
                   'contrast': round(float(checks.contrast(shares.mean(), area)), 1),
                   'contrast_needed': round(float(checks.contrast(TARGET_SHARE, area)), 1),
                   'eigenvalue_median': round(float(np.median(ratios)), 1)}
            record['bound'].append(row)
            click.echo(f'| {region} | {row["share"]:.1%} | {row["lowest"]:.1%} | {row["highest"]:.1%} '
                       f'| {row["contrast"]:.1f} | {row["contrast_needed"]:.0f} | {row["eigenvalue_median"]:.0f} |')
        record['code_steps'] = []
        click.echo()
        click.echo(f'The model along its code\'s axes: one factor\'s z coordinate moved by {CODE_STEP:g} '
                   '(32 codes), drawn by the generator and by the renderer:')
        click.echo('| factor | region | renderer: share inside | generator: share inside '
                   '| generator\'s change inside, share of the renderer\'s |')
        click.echo('| --- | --- | --- | --- | --- |')
        for row in checks.code_steps(generator, train.targets, REGION_FACTORS, CODE_STEP):
            record['code_steps'].append({'factor': row.factor, 'region': row.region,
                                         'renderer_share': round(row.renderer_share, 3),
                                         'generator_share': round(row.generator_share, 3),
                                         'response': round(row.response, 3)})
            click.echo(f'| {row.factor} | {row.region} | {row.renderer_share:.1%} | {row.generator_share:.1%} '
                       f'| {row.response:.0%} |')
    click.echo(f'\n{record["seconds"]} s')
    if json_out:
        with open(json_out, 'w', encoding='utf-8') as file:
            json.dump(record, file, indent=2)
    if change_map:
        rows = [change_map_row(generator, jacobians, region, edits) for region in regions.split(',')]
        with atomic_path(change_map) as tmp:
            Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format='PNG')
        click.echo(f'Change map: {change_map}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
