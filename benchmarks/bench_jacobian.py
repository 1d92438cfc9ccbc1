"""Jacobian of the image w.r.t. w: forward mode (ours) vs the ReSeFa reference method.

The reference computes `torch.autograd.functional.jacobian` of its wrapper
(`w` shared by all layers), one backward pass per output value. Ours runs
`w_dim` Jacobian-vector products, in chunks. Both run here, in the same process,
on the same random-weight StyleGAN2, and the two Jacobians are compared. The
reference runs with the FIR resampling of NVlabs' reference path
(`ops.upfirdn2d_reference`), as the original scripts' generators compute it.

    python benchmarks/bench_jacobian.py                 # 64x64, w_dim 512, both methods
    python benchmarks/bench_jacobian.py --channel_max 32 --reference_rows 512   # extrapolated reference
    python benchmarks/bench_jacobian.py --res 256 --no-reference --samples 2
"""

import contextlib
import json
import os
import resource
import sys
import time

import click
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import build_generator, ops  # noqa: E402
from semantics import jacobian  # noqa: E402
from utils.cpu import keep_freed_memory  # noqa: E402


def make_generator(res, w_dim, channel_max, seed=0):
    torch.manual_seed(seed)
    G = build_generator('stylegan2', z_dim=w_dim, w_dim=w_dim, img_resolution=res, channel_max=channel_max)
    return G.eval().requires_grad_(False)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def reference_ops():
    """FIR resampling as NVlabs' reference path computes it (zero insertion, pad, filter, slice),
    the ops of the generators the original scripts run, instead of our faster equivalent."""
    fast = ops.upfirdn2d
    ops.upfirdn2d = ops.upfirdn2d_reference
    try:
        yield
    finally:
        ops.upfirdn2d = fast


def reference_subset(G, w, count, seed=0):
    """Rows of the reference Jacobian, one backward pass each, exactly as
    `torch.autograd.functional.jacobian` loops over the output (`vectorize=False`).

    Returns (seconds for these rows, row indices, rows `[count, w_dim]`).
    """
    num_ws = G.num_ws
    w = w.detach().clone().requires_grad_(True)
    start = time.perf_counter()
    wp = w.unsqueeze(1).repeat((1, num_ws, 1))
    image = G.synthesis(wp, noise_mode='const')
    if image.shape[-1] > 256:
        image = torch.nn.functional.interpolate(image, scale_factor=256 / image.shape[-1]).sum(dim=1)
    flat = image.reshape(-1)
    rows = np.sort(np.random.RandomState(seed).choice(flat.numel(), size=min(count, flat.numel()), replace=False))
    values = [torch.autograd.grad(flat[int(i)], w, retain_graph=True)[0][0].cpu().numpy() for i in rows]
    return time.perf_counter() - start, rows, np.stack(values)


def warm_up(G, w, chunk_size):
    """One chunk of the pass `compute_jacobians` runs, so that one-time set-up costs stay out of the timing."""
    tangents = torch.eye(G.w_dim, device=w.device)[:chunk_size]
    with torch.no_grad():
        jacobian.make_tangent_function(G, w)(tangents)


@click.command()
@click.option('--res', type=int, default=64, show_default=True, help='Output resolution.')
@click.option('--w_dim', type=int, default=512, show_default=True)
@click.option('--channel_max', type=int, default=512, show_default=True, help='512 = the official widths.')
@click.option('--samples', type=int, default=1, show_default=True, help='Samples for our method.')
@click.option('--chunk_size', type=int, default=None,
              help='Tangents per vmapped batch. [default: semantics.jacobian.auto_chunk_size]')
@click.option('--reference/--no-reference', default=True, show_default=True, help='Also time the reference method.')
@click.option('--reference_rows', type=int, default=None,
              help='Time the reference on this many random output values only and extrapolate to all '
                   '(each is one backward pass, as autograd.functional.jacobian runs them). [default: all]')
@click.option('--threads', type=int, default=None, help='torch threads (default: torch decides).')
@click.option('--device', default=None, help="'cpu' or 'cuda'. [default: cuda when available]")
@click.option('--json_out', default=None, help='Also write the results as JSON here.')
def main(res, w_dim, channel_max, samples, chunk_size, reference, reference_rows, threads, device, json_out):
    if threads:
        torch.set_num_threads(threads)
    keep_freed_memory()  # the setting compute_jacobian.py runs under; both methods share it
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    G = make_generator(res, w_dim, channel_max).to(device)
    z = torch.from_numpy(np.random.RandomState(4).randn(samples, w_dim).astype(np.float32)).to(device)
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
    chunk_size = chunk_size or jacobian.auto_chunk_size(G, device)
    results = {'device': device, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'res': res,
               'w_dim': w_dim, 'channel_max': channel_max, 'chunk_size': chunk_size}

    warm_up(G, w[0], chunk_size)
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    ours = jacobian.compute_jacobians(G, w.cpu().numpy(), chunk_size=chunk_size)
    if device == 'cuda':
        torch.cuda.synchronize()
        results['ours_peak_cuda_mib'] = torch.cuda.max_memory_allocated() / 2 ** 20
    results['ours_seconds_per_sample'] = (time.perf_counter() - start) / samples
    results['jacobian_shape'] = list(ours.shape)
    results['peak_rss_mib_after_ours'] = peak_rss_mib()
    click.echo(f'ours (forward mode): {results["ours_seconds_per_sample"]:.2f} s/sample, '
               f'Jacobian {list(ours.shape)}, peak RSS {results["peak_rss_mib_after_ours"]:.0f} MiB')

    if reference and reference_rows:
        with reference_ops():
            seconds, rows, values = reference_subset(G, w[:1], reference_rows)
        total = ours[0].size // w_dim
        results['reference_rows_timed'] = len(rows)
        results['reference_seconds_per_sample'] = seconds / len(rows) * total
        results['reference_extrapolated'] = True
        flat = ours[0].reshape(total, w_dim)[rows]
        results['max_relative_difference'] = float(np.abs(flat - values).max() / np.abs(values).max())
    elif reference:
        start = time.perf_counter()
        with reference_ops():
            ref = jacobian.reverse_mode_jacobian(G, w[:1]).cpu().numpy()
        if device == 'cuda':
            torch.cuda.synchronize()
        results['reference_seconds_per_sample'] = time.perf_counter() - start
        results['reference_extrapolated'] = False
        results['max_relative_difference'] = float(np.abs(ours[:1] - ref).max() / np.abs(ref).max())
    if reference:
        results['speedup'] = results['reference_seconds_per_sample'] / results['ours_seconds_per_sample']
        how = f' (extrapolated from {reference_rows} of the backward passes)' if reference_rows else ''
        click.echo(f'reference (autograd.functional.jacobian): {results["reference_seconds_per_sample"]:.1f} '
                   f's/sample{how}')
        click.echo(f'speed-up: {results["speedup"]:.0f}x; max |ours - reference| / max |reference| = '
                   f'{results["max_relative_difference"]:.2e}')
    if json_out:
        with open(json_out, 'w', encoding='utf-8') as file:
            json.dump(results, file, indent=2)
    click.echo(json.dumps(results))


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
