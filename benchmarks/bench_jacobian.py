"""Jacobian of the image w.r.t. w: forward mode (ours), an earlier version of ours, and the ReSeFa reference.

All run on the same random-weight StyleGAN2. Beside each time: the FLOPs of one
sample's Jacobian (convolutions and matrix products, counted by
`torch.utils.flop_counter.FlopCounterMode` on the pass at hand) and the FLOP/s
achieved. The reference computes `torch.autograd.functional.jacobian` of its
wrapper (`w` shared by all layers), one backward pass per output value, on the
FIR resampling of NVlabs' reference path (`ops.upfirdn2d_reference`), as the
original scripts' generators compute it. `--baseline REF` times the code of git
revision REF in a subprocess, alternating with ours, repeat by repeat.
`--precisions` times ours in each arithmetic and compares it with fp32: the
Jacobian's relative error and the cosine of each first ReSeFa direction
(region `eyes`) to fp32's. `--columns K` times the first K of the `w_dim`
columns and extrapolates.

    python benchmarks/bench_jacobian.py                 # 64x64, w_dim 512, ours and the reference in full
    python benchmarks/bench_jacobian.py --channel_max 32 --reference_rows 512   # extrapolated reference
    python benchmarks/bench_jacobian.py --channel_max 32 --threads 1 --no-reference --baseline b1fbc7b \\
        --precisions fp32,tf32,bf16
    python benchmarks/bench_jacobian.py --res 256 --threads 1 --no-reference --baseline b1fbc7b --columns 64
"""

import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import click
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT_ENV = 'BENCH_JACOBIAN_ROOT'  # the checkout whose code is timed (the baseline's, in the subprocess)
sys.path.insert(0, os.environ.get(ROOT_ENV, HERE))

from models import build_generator, ops  # noqa: E402
from semantics import jacobian, regions, resefa  # noqa: E402
from utils.cpu import keep_freed_memory  # noqa: E402


def make_generator(res, w_dim, channel_max, seed=0):
    torch.manual_seed(seed)
    G = build_generator('stylegan2', z_dim=w_dim, w_dim=w_dim, img_resolution=res, channel_max=channel_max)
    return G.eval().requires_grad_(False)


def flops_of(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def precision_context(precision, device):
    # The baseline predates precision_mode and runs in fp32 only.
    mode = getattr(jacobian, 'precision_mode', None)
    return contextlib.nullcontext() if mode is None else mode(precision, device)


@torch.no_grad()
def time_ours(G, w, chunk_size, columns, precision='fp32'):
    """Per sample of `w` `[N, w_dim]`: (wall seconds, CPU seconds, Jacobian `[*out, columns]`).

    The primal pass and the first `columns` tangents are timed; the other tangents
    are counted at the pace of those after the first chunk.
    """
    eye = torch.eye(G.w_dim, device=w.device)
    sync = torch.cuda.synchronize if w.device.type == 'cuda' else lambda: None
    results = []
    for point in w:
        clocks = [(time.perf_counter(), time.process_time())]
        push = jacobian.make_tangent_function(G, point)  # the primal pass runs here or in the first chunk
        out = []
        for start in range(0, columns, chunk_size):
            with precision_context(precision, w.device):
                out.append(push(eye[start:min(start + chunk_size, columns)]).float())
            sync()
            if start == 0 or start + chunk_size >= columns:
                clocks.append((time.perf_counter(), time.process_time()))
        first, rest = np.subtract(clocks[1], clocks[0]), np.subtract(clocks[-1], clocks[1])
        scale = (G.w_dim - len(out[0])) / max(columns - len(out[0]), 1)
        results.append((*(first + rest * scale), torch.cat(out).movedim(0, -1).cpu()))
    return results


def count_flops(G, w, chunk_size):
    """FLOPs of one sample's Jacobian by our forward mode: the primal pass and `w_dim` tangents."""
    eye = torch.eye(G.w_dim, device=w.device)
    state = {}
    with torch.no_grad():
        first = flops_of(lambda: state.update(push=jacobian.make_tangent_function(G, w)) or
                         state['push'](eye[:chunk_size]))
        chunk = flops_of(lambda: state['push'](eye[:chunk_size]))
    return first - chunk + chunk * G.w_dim / chunk_size


@contextlib.contextmanager
def reference_ops():
    """FIR resampling as NVlabs' reference path computes it (zero insertion, pad, filter, slice),
    the ops of the generators the original scripts run, instead of our faster equivalent."""
    fast, ops.upfirdn2d = ops.upfirdn2d, ops.upfirdn2d_reference
    try:
        yield
    finally:
        ops.upfirdn2d = fast


def reference_image(G, w):
    """The reference wrapper's output, flattened: `w` shared by all layers, above 256 reduced and channel-summed."""
    image = G.synthesis(w.unsqueeze(1).repeat((1, G.num_ws, 1)), noise_mode='const')
    if image.shape[-1] > 256:
        image = torch.nn.functional.interpolate(image, scale_factor=256 / image.shape[-1]).sum(dim=1)
    return image.reshape(-1)


def reference_flops(G, w):
    """FLOPs of the reference Jacobian: one forward pass and a backward pass per output value."""
    w = w.detach().clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        flat = reference_image(G, w)
        forward = counter.get_total_flops()
        torch.autograd.grad(flat[0], w)
    return forward + (counter.get_total_flops() - forward) * flat.numel()


def reference_subset(G, w, count, seed=0):
    """Rows of the reference Jacobian, one backward pass each, as `torch.autograd.functional.jacobian`
    loops over the output (`vectorize=False`): (seconds, row indices, rows `[count, w_dim]`)."""
    w = w.detach().clone().requires_grad_(True)
    start = time.perf_counter()
    flat = reference_image(G, w)
    rows = np.sort(np.random.RandomState(seed).choice(flat.numel(), size=min(count, flat.numel()), replace=False))
    values = [torch.autograd.grad(flat[int(i)], w, retain_graph=True)[0][0].cpu().numpy() for i in rows]
    return time.perf_counter() - start, rows, np.stack(values)


def time_forward(G, w, repeats):
    ws = w[:1].unsqueeze(1).repeat(1, G.num_ws, 1)
    best = float('inf')
    with torch.no_grad():
        for _ in range(repeats + 1):  # the first call warms up
            start = time.perf_counter()
            G.synthesis(ws, noise_mode='const')
            best = min(best, time.perf_counter() - start)
    return best


def extract(revision):
    """The files of git revision `revision` of this repository, in a new temporary folder."""
    folder = tempfile.mkdtemp(prefix='bench_jacobian_')
    archive = subprocess.run(['git', '-C', HERE, 'archive', revision], capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(folder, filter='data')
    return folder


def echo_time(name, seconds, flops, extra=''):
    click.echo(f'{name}: {seconds:.2f} s/sample, {flops / 1e12:.2f} TFLOP/sample, '
               f'{flops / seconds / 1e9:.1f} GFLOP/s{extra}')


@click.command()
@click.option('--res', type=int, default=64, show_default=True, help='Output resolution.')
@click.option('--w_dim', type=int, default=512, show_default=True)
@click.option('--channel_max', type=int, default=512, show_default=True, help='512 = the official widths.')
@click.option('--samples', type=int, default=1, show_default=True, help='Samples for our method.')
@click.option('--chunk_size', type=int, default=None,
              help='Tangents per batched pass. [default: semantics.jacobian.auto_chunk_size]')
@click.option('--columns', type=int, default=None, help='Time this many columns per sample and extrapolate. '
              '[default: all]')
@click.option('--repeats', type=int, default=1, show_default=True, help='Timings of ours; the best is kept.')
@click.option('--precisions', default='fp32', show_default=True, help="Comma-separated: 'fp32', 'tf32', 'bf16'.")
@click.option('--baseline', default=None, metavar='REV', help='Also time the code of this git revision (fp32).')
@click.option('--reference/--no-reference', default=True, show_default=True, help='Also time the reference method.')
@click.option('--reference_rows', type=int, default=None,
              help='Time the reference on this many random output values only and extrapolate to all '
                   '(each is one backward pass, as autograd.functional.jacobian runs them). [default: all]')
@click.option('--threads', type=int, default=None, help='torch threads (default: torch decides).')
@click.option('--device', default=None, help="'cpu' or 'cuda'. [default: cuda when available]")
@click.option('--json_out', default=None, help='Also write the results as JSON here.')
def main(res, w_dim, channel_max, samples, chunk_size, columns, repeats, precisions, baseline, reference,
         reference_rows, threads, device, json_out):
    if threads:
        torch.set_num_threads(threads)
    keep_freed_memory()  # the setting compute_jacobian.py runs under; every method shares it
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    G = make_generator(res, w_dim, channel_max).to(device)
    z = torch.from_numpy(np.random.RandomState(4).randn(samples, w_dim).astype(np.float32)).to(device)
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
    chunk_size = chunk_size or jacobian.auto_chunk_size(G, device)
    columns = min(columns or w_dim, w_dim)
    results = {'device': device, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'res': res,
               'w_dim': w_dim, 'channel_max': channel_max, 'chunk_size': chunk_size, 'columns': columns,
               'forward_seconds': time_forward(G, w, repeats),
               'flops_per_sample': count_flops(G, w[0], chunk_size)}
    assert columns == w_dim or columns > chunk_size, 'time two chunks or more to extrapolate'
    if ROOT_ENV in os.environ:  # the baseline's subprocess: one fp32 timing
        seconds, cpu, _ = time_ours(G, w, chunk_size, columns)[0]
        click.echo(json.dumps({**results, 'seconds': seconds, 'cpu_seconds': cpu}))
        return
    if baseline:
        env = {**os.environ, ROOT_ENV: extract(baseline)}
        argv = [sys.executable, os.path.abspath(__file__), '--res', res, '--w_dim', w_dim, '--channel_max',
                channel_max, '--chunk_size', chunk_size, '--columns', columns, '--threads', torch.get_num_threads(),
                '--device', device]
    wanted = precisions.split(',')
    jacobians = {}
    for repeat in range(repeats):
        if baseline:  # alternate with ours, so that both see the same load
            run = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True, check=True)
            old = json.loads(run.stdout.splitlines()[-1])
            if repeat == 0 or old['seconds'] < results['baseline']['seconds']:
                results['baseline'] = old
        for precision in wanted:
            timed = time_ours(G, w, chunk_size, columns, precision)
            seconds, cpu = np.mean([t[:2] for t in timed], axis=0)
            record = results.setdefault('precisions', {}).setdefault(precision, {'seconds': seconds})
            if seconds <= record['seconds']:
                record.update(seconds=seconds, cpu_seconds=cpu)
            jacobians[precision] = np.stack([t[2].numpy() for t in timed])
    ours = results['precisions'][wanted[0]]
    results['ours_seconds_per_sample'] = ours['seconds']
    results['jacobian_shape'] = list(jacobians[wanted[0]].shape)
    results['peak_rss_mib_after_ours'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flops = results['flops_per_sample']
    click.echo(f'forward (synthesis, batch 1): {results["forward_seconds"] * 1e3:.1f} ms')
    if baseline:
        old = results['baseline']
        click.echo(f'baseline {baseline} forward (synthesis, batch 1): {old["forward_seconds"] * 1e3:.1f} ms')
        echo_time(f'baseline {baseline} (forward mode, fp32)', old['seconds'], old['flops_per_sample'])
    for precision in wanted:
        record = results['precisions'][precision]
        extra = f', {old["seconds"] / record["seconds"]:.2f}x the baseline' if baseline else ''
        echo_time(f'ours (forward mode, {precision})', record['seconds'], flops, extra)
        if precision != 'fp32' and 'fp32' in jacobians:
            exact, jac = jacobians['fp32'], jacobians[precision]
            record['max_relative_difference_to_fp32'] = float(np.abs(jac - exact).max() / np.abs(exact).max())
            if columns == w_dim:  # the cosine of each first direction of region eyes to fp32's
                mask = regions.region_mask('ffhq', 'eyes', jac.shape[-2])
                record['direction_cosines_to_fp32'] = [
                    float(np.abs(np.dot(resefa.directions_for_sample(a[..., None, :], mask)[0][0],
                                        resefa.directions_for_sample(b[..., None, :], mask)[0][0])))
                    for a, b in zip(jac, exact)]
            click.echo(f'  {precision} vs fp32: max relative difference {record["max_relative_difference_to_fp32"]:.1e}'
                       + (f', first eyes direction cosine {min(record["direction_cosines_to_fp32"]):.5f}'
                          if 'direction_cosines_to_fp32' in record else ''))

    if reference and reference_rows:
        with reference_ops():
            seconds, rows, values = reference_subset(G, w[:1], reference_rows)
        total = int(np.prod(jacobians[wanted[0]].shape[1:-1]))
        results['reference_rows_timed'] = len(rows)
        results['reference_seconds_per_sample'] = seconds / len(rows) * total
        results['reference_extrapolated'] = True
        flat = jacobians[wanted[0]][0].reshape(total, -1)[rows]
        results['max_relative_difference'] = float(np.abs(flat - values[:, :columns]).max() / np.abs(values).max())
    elif reference:
        with reference_ops():
            start = time.perf_counter()
            ref = jacobian.reverse_mode_jacobian(G, w[:1]).cpu().numpy()[0, ..., 0, :columns]
        results['reference_seconds_per_sample'] = time.perf_counter() - start
        results['reference_extrapolated'] = False
        results['max_relative_difference'] = float(np.abs(jacobians[wanted[0]][0] - ref).max() / np.abs(ref).max())
    if reference:
        with reference_ops():
            ref_flops = results['reference_flops_per_sample'] = reference_flops(G, w[:1])
        results['speedup'] = results['reference_seconds_per_sample'] / results['ours_seconds_per_sample']
        how = f' (extrapolated from {reference_rows} of the backward passes)' if reference_rows else ''
        echo_time('reference (autograd.functional.jacobian)', results['reference_seconds_per_sample'], ref_flops, how)
        click.echo(f'speed-up: {results["speedup"]:.0f}x; max |ours - reference| / max |reference| = '
                   f'{results["max_relative_difference"]:.2e}')
    if baseline:
        shutil.rmtree(env[ROOT_ENV])
    if json_out:
        with open(json_out, 'w', encoding='utf-8') as file:
            json.dump(results, file, indent=2)
    click.echo(json.dumps(results))


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
