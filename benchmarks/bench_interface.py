"""The editor's round trip: a slider move, as the page sends it, to the PNG it shows.

Times `POST /api/render` to the editor's server in this process (a SeFa slider at a new distance each time),
median of `--repeats`, for the built-in face model and a random StyleGAN2 at 256x256; also the region path (the
sample's Jacobian, then one `POST /api/region`).

    python benchmarks/bench_interface.py
    python benchmarks/bench_interface.py --models builtin:faces64 --json_out editor.json
"""

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

import click
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import models  # noqa: E402
from editor.server import make_server  # noqa: E402
from editor.session import Editor  # noqa: E402
from utils.fileio import save_json  # noqa: E402


def post(base, path, body):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method='POST')
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.read(), response.headers


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=600) as response:
        return json.loads(response.read())


def measure(generator, repeats, with_region):
    server = make_server(Editor(generator, work_dir=tempfile.gettempdir()), '127.0.0.1', 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f'http://127.0.0.1:{server.server_address[1]}'
    state = {'code': {'kind': 'seed', 'seed': 4}, 'truncation_psi': 0.7, 'edits': []}
    post(base, '/api/sefa', {'layers': 'all', 'count': 5})
    post(base, '/api/render', state)  # the first render maps the code and warms up
    times, server_ms = [], []
    for i in range(repeats):
        edit = {'direction': {'kind': 'sefa', 'layers': 'all', 'index': i % 5}, 'distance': -3 + 6 * i / repeats}
        start = time.perf_counter()
        _, headers = post(base, '/api/render', {**state, 'edits': [edit]})
        times.append(time.perf_counter() - start)
        server_ms.append(float(headers['X-Render-Ms']))
    record = {'model': generator.model_name, 'description': generator.describe(), 'device': str(generator.device),
              'round_trip_ms': round(1000 * statistics.median(times), 1),
              'synthesis_ms': round(statistics.median(server_ms), 1), 'repeats': repeats}
    if with_region:
        start = time.perf_counter()
        task = json.loads(post(base, '/api/jacobian', state)[0])
        while task['state'] == 'running':
            time.sleep(0.2)
            task = get(base, f'/api/jacobian?id={task["id"]}')
        record['jacobian_s'] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        post(base, '/api/region', {**state, 'region': 'eyes', 'count': 5})
        record['region_ms'] = round(1000 * (time.perf_counter() - start), 1)
    server.shutdown()
    server.server_close()
    return record


@click.command()
@click.option('--models', 'names', default='builtin:faces64,random-256', show_default=True,
              help="Comma-separated: checkpoints, builtin: names, or random-256 (StyleGAN2 256x256, default channels).")
@click.option('--repeats', type=click.IntRange(min=1), default=20, show_default=True)
@click.option('--region/--no-region', default=True, show_default=True, help='Also time the Jacobian and a region.')
@click.option('--device', default='cpu', show_default=True)
@click.option('--json_out', default=None, metavar='FILE')
def main(names, repeats, region, device, json_out):
    results = []
    for name in names.split(','):
        if name == 'random-256':
            torch.manual_seed(0)
            generator = models.build_generator('stylegan2', img_resolution=256).eval().requires_grad_(False)
            generator.model_name = 'stylegan2-256-random'
            generator.source = 'random'
            generator = generator.to(device)
        else:
            generator = models.load_generator(name, device=device)
        record = measure(generator, repeats, region and name != 'random-256')
        results.append(record)
        click.echo(json.dumps(record))
    click.echo()
    click.echo('| model | slider move, round trip | of which synthesis | Jacobian | region directions |')
    click.echo('| --- | --- | --- | --- | --- |')
    for r in results:
        click.echo(f'| {r["description"]} ({r["device"]}) | {r["round_trip_ms"]} ms | {r["synthesis_ms"]} ms | '
                   f'{r.get("jacobian_s", "-")} s | {r.get("region_ms", "-")} ms |')
    if json_out:
        save_json(json_out, results)


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
