"""Jacobian of the image w.r.t. w: forward mode (ours), an earlier version of ours, and the ReSeFa reference.

All run on the same random-weight StyleGAN2. Beside each time: the FLOPs of one
sample's Jacobian (convolutions and matrix products, counted by `FlopCounterMode`
on the pass at hand) and the FLOP/s achieved. The reference computes
`torch.autograd.functional.jacobian` of its wrapper (`w` shared by all layers),
one backward pass per output value, on NVlabs' reference FIR path
(`ops.upfirdn2d_reference`), as the original scripts' generators do.
`--baseline REV` times the code of git revision REV in a subprocess, alternating
with ours repeat by repeat; `--precisions` times ours in each arithmetic and
compares it with fp32 (the Jacobian's relative error, and the cosine of each
sample's first ReSeFa direction of region `eyes` to fp32's); `--columns K` times
the first K of the `w_dim` columns and extrapolates. With one CPU thread, times
are its CPU time (the waits of a loaded machine left out), else wall-clock.

    python benchmarks/bench_jacobian.py                 # 64x64, w_dim 512, ours and the reference in full
    python benchmarks/bench_jacobian.py --channel_max 32 --reference_rows 512   # extrapolated reference
    python benchmarks/bench_jacobian.py --channel_max 32 --threads 1 --repeats 3 --no-reference \\
        --baseline b1fbc7b --precisions fp32,tf32,bf16
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


def precision_context(precision, device):
    mode = getattr(jacobian, 'precision_mode', None)  # the baseline predates it, and runs in fp32 only
    return contextlib.nullcontext() if mode is None else mode(precision, device)


@torch.no_grad()
def time_ours(G, w, chunk_size, columns, precision='fp32', clock=time.perf_counter):
    """Per sample of `w` `[N, w_dim]`: (seconds, Jacobian `[*out, columns]`).

    The primal pass and the first `columns` tangents are timed; the other tangents
    are counted at the pace of those after the first chunk.
    """
    eye = torch.eye(G.w_dim, device=w.device)
    sync = torch.cuda.synchronize if w.device.type == 'cuda' else lambda: None
    results = []
    for point in w:
        clocks = [clock()]
        push = jacobian.make_tangent_function(G, point)  # the primal pass runs here or in the first chunk
        out = []
        for start in range(0, columns, chunk_size):
            with precision_context(precision, w.device):
                out.append(push(eye[start:min(start + chunk_size, columns)]).float())
            sync()
            if start == 0 or start + chunk_size >= columns:
                clocks.append(clock())
        scale = (G.w_dim - len(out[0])) / max(columns - len(out[0]), 1)
        seconds = clocks[1] - clocks[0] + (clocks[-1] - clocks[1]) * scale
        results.append((seconds, torch.cat(out).movedim(0, -1).cpu().numpy()))
    return results


def flops_of(*steps):
    """FLOPs counted by `FlopCounterMode` in each of the calls `steps`."""
    counts = []
    for step in steps:
        with FlopCounterMode(display=False) as counter:
            step()
        counts.append(counter.get_total_flops())
    return counts


def count_flops(G, w, chunk_size):
    """FLOPs of one sample's Jacobian by our forward mode: the primal pass and `w_dim` tangents."""
    eye, state = torch.eye(G.w_dim, device=w.device), {}
    with torch.no_grad():
        first, chunk = flops_of(lambda: state.update(push=jacobian.make_tangent_function(G, w)),
                                lambda: state['push'](eye[:chunk_size]))  # (the baseline's primal runs here)
        chunk_alone, = flops_of(lambda: state['push'](eye[:chunk_size]))
    return first + chunk - chunk_alone + chunk_alone * G.w_dim / chunk_size


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


def reference_subset(G, w, count, clock, seed=0):
    """Rows of the reference Jacobian, one backward pass each, as `torch.autograd.functional.jacobian`
    loops over the output (`vectorize=False`): (seconds, row indices, rows `[count, w_dim]`, FLOPs of all rows)."""
    w, state = w.detach().clone().requires_grad_(True), {}
    forward, backward = flops_of(lambda: state.update(flat=reference_image(G, w)),
                                 lambda: torch.autograd.grad(state['flat'][0], w))
    start = clock()
    flat = reference_image(G, w)
    rows = np.sort(np.random.RandomState(seed).choice(flat.numel(), size=min(count, flat.numel()), replace=False))
    values = [torch.autograd.grad(flat[int(i)], w, retain_graph=True)[0][0].cpu().numpy() for i in rows]
    return clock() - start, rows, np.array(values), forward + backward * flat.numel()


def time_forward(G, w, repeats, clock):
    """Best seconds of `G.synthesis` at batch 1 (after one call that warms up)."""
    ws, times = w[:1].unsqueeze(1).repeat(1, G.num_ws, 1), []
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = clock()
            G.synthesis(ws, noise_mode='const')
            times.append(clock() - start)
    return min(times[1:])


def echo_time(name, seconds, flops, extra=''):
    click.echo(f'{name}: {seconds:.2f} s/sample, {flops / 1e12:.2f} TFLOP/sample, {flops / seconds / 1e9:.1f} GFLOP/s'
               + extra)


@click.command()
@click.option('--res', type=int, default=64, show_default=True, help='Output resolution.')
@click.option('--w_dim', type=int, default=512, show_default=True)
@click.option('--channel_max', type=int, default=512, show_default=True, help='512 = the official widths.')
@click.option('--samples', type=int, default=1, show_default=True, help='Samples for our method.')
@click.option('--chunk_size', type=int, default=None,
              help='Tangents per batched pass. [default: semantics.jacobian.auto_chunk_size]')
@click.option('--columns', type=int, default=None, help='Time this many columns and extrapolate. [default: all]')
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
    # One CPU thread: its CPU time, which the waits of a loaded machine do not inflate; else wall time.
    cpu_clock = device == 'cpu' and torch.get_num_threads() == 1
    clock = time.process_time if cpu_clock else time.perf_counter
    torch.manual_seed(0)
    G = build_generator('stylegan2', z_dim=w_dim, w_dim=w_dim, img_resolution=res, channel_max=channel_max)
    G = G.eval().requires_grad_(False).to(device)
    z = torch.from_numpy(np.random.RandomState(4).randn(samples, w_dim).astype(np.float32)).to(device)
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
    chunk_size = chunk_size or jacobian.auto_chunk_size(G, device)
    columns = min(columns or w_dim, w_dim)
    assert columns == w_dim or columns > chunk_size, 'time two chunks or more to extrapolate'
    results = {'device': device, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'res': res,
               'w_dim': w_dim, 'channel_max': channel_max, 'chunk_size': chunk_size, 'columns': columns,
               'clock': 'CPU' if cpu_clock else 'wall', 'forward_seconds': time_forward(G, w, repeats, clock),
               'flops_per_sample': count_flops(G, w[0], chunk_size)}
    if ROOT_ENV in os.environ:  # the baseline's subprocess: one fp32 timing, its Jacobian left beside its code
        seconds, jac = time_ours(G, w, chunk_size, columns, clock=clock)[0]
        np.save(os.path.join(os.environ[ROOT_ENV], 'jacobian.npy'), jac)
        click.echo(json.dumps({**results, 'seconds': seconds}))
        return
    if baseline:
        env = {**os.environ, ROOT_ENV: tempfile.mkdtemp(prefix='bench_jacobian_')}
        archive = subprocess.run(['git', '-C', HERE, 'archive', baseline], capture_output=True, check=True).stdout
        tarfile.open(fileobj=io.BytesIO(archive)).extractall(env[ROOT_ENV], filter='data')
        argv = [sys.executable, os.path.abspath(__file__), *(str(a) for a in (
            '--res', res, '--w_dim', w_dim, '--channel_max', channel_max, '--chunk_size', chunk_size,
            '--columns', columns, '--threads', torch.get_num_threads(), '--device', device))]
    wanted, jacobians, flops = precisions.split(','), {}, results['flops_per_sample']
    for _ in range(repeats):
        if baseline:  # alternating with ours, so that both see the same load
            old = json.loads(subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout)
            results['baseline'] = min(results.get('baseline', old), old, key=lambda r: r['seconds'])
        for precision in wanted:
            timed = time_ours(G, w, chunk_size, columns, precision, clock)
            seconds = float(np.mean([t[0] for t in timed]))
            record = results.setdefault(precision, {'seconds': seconds})
            record['seconds'] = min(record['seconds'], seconds)
            jacobians[precision] = np.stack([t[1] for t in timed])
    results['ours_seconds_per_sample'] = results[wanted[0]]['seconds']
    results['peak_rss_mib_after_ours'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    click.echo(f'{results["clock"]} time; forward (synthesis, batch 1): {results["forward_seconds"] * 1e3:.1f} ms')
    if baseline:
        old = results['baseline']
        before = np.load(os.path.join(env[ROOT_ENV], 'jacobian.npy'))
        shutil.rmtree(env[ROOT_ENV])
        ours_fp32 = jacobians.get('fp32', before[None])[0]
        old['max_relative_difference_to_ours'] = float(np.abs(ours_fp32 - before).max() / np.abs(before).max())
        click.echo(f'baseline {baseline} forward (synthesis, batch 1): {old["forward_seconds"] * 1e3:.1f} ms')
        echo_time(f'baseline {baseline} (forward mode, fp32)', old['seconds'], old['flops_per_sample'],
                  f', max relative difference to ours (fp32) {old["max_relative_difference_to_ours"]:.1e}')
    for precision in wanted:
        record, jac, exact = results[precision], jacobians[precision], jacobians.get('fp32')
        echo_time(f'ours (forward mode, {precision})', record['seconds'], flops,
                  f', {old["seconds"] / record["seconds"]:.2f}x the baseline' if baseline else '')
        if precision != 'fp32' and exact is not None:
            record['max_relative_difference_to_fp32'] = float(np.abs(jac - exact).max() / np.abs(exact).max())
            mask = regions.region_mask('ffhq', 'eyes', jac.shape[-2])
            record['direction_cosines_to_fp32'] = [  # regularised: a small model's background can be singular
                float(abs(resefa.directions_for_sample(a[..., None, :], mask, full_rank=True)[0][0]
                          @ resefa.directions_for_sample(b[..., None, :], mask, full_rank=True)[0][0]))
                for a, b in zip(jac, exact)] if columns == w_dim else None
            cosines = record['direction_cosines_to_fp32']
            click.echo(f'  {precision} vs fp32: max relative difference {record["max_relative_difference_to_fp32"]:.1e}'
                       + (f', first eyes direction cosine >= {min(cosines):.5f}' if cosines else ''))

    ours = jacobians[wanted[0]][0]  # [*out, columns]
    if reference:
        with reference_ops():
            seconds, rows, values, ref_flops = reference_subset(G, w[:1], reference_rows or 0, clock)
            if not reference_rows:  # the reference in full, as ReSeFa's compute_jacobian.py runs it
                start = clock()
                values = jacobian.reverse_mode_jacobian(G, w[:1]).cpu().numpy()[0, ..., 0, :]  # [*out, w_dim]
                seconds = clock() - start
        if reference_rows:
            ours, seconds = ours.reshape(-1, columns)[rows], seconds * (ours.size // columns) / len(rows)
        results.update(reference_seconds_per_sample=seconds, reference_extrapolated=bool(reference_rows),
                       reference_rows_timed=len(rows), reference_flops_per_sample=ref_flops,
                       max_relative_difference=float(np.abs(ours - values[..., :columns]).max() / np.abs(values).max()))
        results['speedup'] = results['reference_seconds_per_sample'] / results['ours_seconds_per_sample']
        how = f' (extrapolated from {reference_rows} of the backward passes)' if reference_rows else ''
        echo_time('reference (autograd.functional.jacobian)', results['reference_seconds_per_sample'], ref_flops, how)
        click.echo(f'speed-up: {results["speedup"]:.0f}x; max |ours - reference| / max |reference| = '
                   f'{results["max_relative_difference"]:.2e}')
    if json_out:
        with open(json_out, 'w', encoding='utf-8') as file:
            json.dump(results, file, indent=2)
    click.echo(json.dumps(results))


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
