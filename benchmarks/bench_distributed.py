"""compute_jacobian.py in one process against two (torchrun, one thread each): time, and the same bits.

On a random-weight StyleGAN2, the same command runs with plain `python` and under `torchrun --nproc_per_node=2`,
one thread per process, dense and with `--region eyes`; the outputs are compared bit for bit. The per-sample
figure subtracts a run of 1 sample (process start, loading the model).

    python benchmarks/bench_distributed.py                 # 32 samples
    python benchmarks/bench_distributed.py --nums 32 --json_out dist.json
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import click
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from models import build_generator  # noqa: E402
from utils.fileio import save_json  # noqa: E402


def run(model, nums, processes, save_dir, region):
    """Seconds of one compute_jacobian.py run."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT, GANSEMANTICS_OFFLINE='1')
    launcher = [sys.executable] if processes == 1 else \
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={processes}']
    command = launcher + [os.path.join(ROOT, 'compute_jacobian.py'), model, '--nums', str(nums), '--no_save_jpg',
                          '--save_dir', save_dir] + (['--region', region] if region else [])
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


@click.command()
@click.option('--nums', type=click.IntRange(min=2), default=32, show_default=True,
              help='Samples per run (32: two Gram blocks of 16, one for each process).')
@click.option('--res', type=int, default=64, show_default=True)
@click.option('--w_dim', type=int, default=512, show_default=True)
@click.option('--channel_max', type=int, default=32, show_default=True)
@click.option('--json_out', default=None, metavar='FILE', help='Also write the results as JSON here.')
def main(nums, res, w_dim, channel_max, json_out):
    results = {'nums': nums, 'res': res, 'w_dim': w_dim, 'channel_max': channel_max, 'torch': torch.__version__,
               'cpus': os.cpu_count(), 'runs': []}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        G = build_generator('stylegan2', z_dim=w_dim, w_dim=w_dim, img_resolution=res, channel_max=channel_max)
        model = os.path.join(tmp, 'g.pt')
        torch.save(G.state_dict(), model)
        for region in (None, 'eyes'):
            times = {}
            for processes in (1, 2):
                start_only = run(model, 1, processes, os.path.join(tmp, f'warm{processes}{region}'), region)
                total = run(model, nums, processes, os.path.join(tmp, f'p{processes}{region}'), region)
                times[processes] = (total, (total - start_only) / (nums - 1))
            name = 'jacobians_w.npy' if region is None else f'grams_{region}.npz'
            one, two = (np.load(os.path.join(tmp, f'p{p}{region}', name)) for p in (1, 2))
            equal = np.array_equal(one, two) if region is None else all(np.array_equal(one[k], two[k])
                                                                        for k in one.files)
            record = {'mode': 'dense' if region is None else f'grams ({region})', 'equal_bits': bool(equal),
                      **{f'{p}_process_seconds': round(times[p][0], 2) for p in (1, 2)},
                      **{f'{p}_process_seconds_per_sample': round(times[p][1], 3) for p in (1, 2)}}
            record['speedup'] = round(times[1][1] / times[2][1], 2)
            results['runs'].append(record)
            click.echo(f'{record["mode"]}: 1 process {times[1][1]:.3f} s/sample ({times[1][0]:.1f} s in all), '
                       f'2 processes {times[2][1]:.3f} s/sample ({times[2][0]:.1f} s in all), '
                       f'x{record["speedup"]}, same bits: {equal}')
    if json_out:
        save_json(json_out, results)
    click.echo(json.dumps(results))


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
