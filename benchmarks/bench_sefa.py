"""Speed of SeFa: the factorisation itself, and `sefa.py -N 0` from start to saved directions.

On a random StyleGAN2 at 1024x1024: ours (`semantics.sefa.factorize`, symmetric `eigh`, sorted) against
genforce's `factorize_weight` (the same A A^T, general `numpy.linalg.eig`), the two solvers alone, and
`python sefa.py <state dict> -N 0` from process start to directions on disk.

Usage: python benchmarks/bench_sefa.py [--repeats 5] [--resolution 1024]
"""

import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

import click
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import models  # noqa: E402
from semantics import sefa  # noqa: E402
from utils.fileio import save_json  # noqa: E402


def reference_factorize(generator):
    """genforce's `factorize_weight` arithmetic for all layers: float32 A A^T, `np.linalg.eig`."""
    layers = generator.sefa_layers()
    weights = [w.cpu().numpy() for _, w in generator.sefa_weights(layers)]
    weight = np.concatenate(weights, axis=1).astype(np.float32)
    weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
    eigenvalues, eigenvectors = np.linalg.eig(weight.dot(weight.T))
    return layers, eigenvectors.T, eigenvalues


def median_time(func, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@click.command()
@click.option('--repeats', type=click.IntRange(min=1), default=5, show_default=True, help='Repeats per timing.')
@click.option('--resolution', type=int, default=1024, show_default=True, help='StyleGAN2 output resolution.')
@click.option('--script_repeats', type=click.IntRange(min=0), default=2, show_default=True,
              help='Runs of `sefa.py -N 0` (0: skip).')
@click.option('--device', default='cpu', show_default=True, help="Where the model lives ('cpu' or 'cuda').")
@click.option('--json_out', default=None, metavar='FILE', help='Also write the results as JSON here.')
def main(repeats, resolution, script_repeats, device, json_out):
    torch.manual_seed(0)
    generator = models.build_generator('stylegan2', img_resolution=resolution).eval().requires_grad_(False)
    generator = generator.to(device)
    print(f'StyleGAN2 {resolution}x{resolution}: w_dim={generator.w_dim}, num_ws={generator.num_ws}, '
          f'torch threads={torch.get_num_threads()}')

    _, ours, values = sefa.factorize(generator)
    _, theirs, their_values = reference_factorize(generator)
    order = np.argsort(-their_values.real, kind='stable')
    theirs = theirs.real[order].astype(np.float64)
    signs = np.sign(np.sum(ours * theirs, axis=1))
    print(f'check: max |ours - reference| = {np.abs(ours * signs[:, None] - theirs).max():.2e} (directions, up '
          f'to sign), {np.abs(values - their_values.real[order]).max():.2e} (eigenvalues)')

    t_ours = median_time(lambda: sefa.factorize(generator), repeats)
    t_ref = median_time(lambda: reference_factorize(generator), repeats)
    weight = sefa.weights_matrix(generator)[2]
    gram = weight.dot(weight.T)
    t_eigh = median_time(lambda: np.linalg.eigh(gram.astype(np.float64)), repeats)
    t_eig = median_time(lambda: np.linalg.eig(gram), repeats)
    rows = [('factorize (all layers)', t_ours, t_ref), ('solver only, same A A^T', t_eigh, t_eig)]

    if script_repeats:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'stylegan2-random.pt')
            torch.save(generator.state_dict(), path)  # an NVlabs-named state dict
            command = [sys.executable, os.path.join(ROOT, 'sefa.py'), path, '-N', '0', '-K', '5',
                       '--save_dir', os.path.join(tmp, 'out'), '--device', device]

            def run_script():
                subprocess.run(command, check=True, env=dict(os.environ, GANSEMANTICS_OFFLINE='1'), capture_output=True)
                if not glob.glob(os.path.join(tmp, 'out', 'stylegan2-random-*', '*', 'directions.npy')):
                    raise RuntimeError('sefa.py did not save the directions')

            rows.append(('sefa.py -N 0 (start to directions saved)', median_time(run_script, script_repeats), None))

    print()
    print(f'| {"what":<42} | {"ours (s)":>9} | {"reference (s)":>13} | {"speed-up":>8} |')
    print(f'| {"-" * 42} | {"-" * 9} | {"-" * 13} | {"-" * 8} |')
    for what, ours_s, ref_s in rows:
        ref = f'{ref_s:13.4f}' if ref_s is not None else f'{"-":>13}'
        ratio = f'{ref_s / ours_s:7.1f}x' if ref_s is not None else f'{"-":>8}'
        print(f'| {what:<42} | {ours_s:9.4f} | {ref} | {ratio} |')
    if json_out:
        save_json(json_out, {'device': device, 'resolution': resolution, 'torch': torch.__version__,
                             'rows': [{'what': w, 'ours_s': o, 'reference_s': r} for w, o, r in rows]})
    print(f'\nmedian of {repeats} repeats ({script_repeats} for the script); reference = genforce factorize_weight '
          'method (np.linalg.eig)')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
