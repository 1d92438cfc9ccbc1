"""StyleGAN3 (R and T) forward time: ours vs NVlabs' implementation on its pure-PyTorch reference path.

Both generators run in one process with the same random weights: NVlabs' `Generator`, built with the official
training configuration, its biases perturbed and input magnitudes measured, is read into ours through
`models.checkpoints.stylegan3_names`. Outputs must agree to 1e-4; then each forward pass (batch 1) is timed, the
median of `--repeats` runs, alternating the two. NVlabs' custom ops are forced onto their reference path, so
nothing is compiled. Our forward-mode Jacobian is timed on one sample (`--jacobian_columns K`: K of the `w_dim`
columns, extrapolated).

    python benchmarks/bench_stylegan3.py --official_repo ../stylegan3
    STYLEGAN3_REPO=../stylegan3 python benchmarks/bench_stylegan3.py --res 64 --cfg T --json_out t64.json

Without `--official_repo` (default: `$STYLEGAN3_REPO`) the benchmark prints a message and exits.
"""

import functools
import gc
import importlib.util
import os
import resource
import statistics
import sys
import time
import types

import click
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import build_generator  # noqa: E402
from models.checkpoints import stylegan3_names  # noqa: E402
from semantics import jacobian  # noqa: E402
from utils.cpu import keep_freed_memory  # noqa: E402
from utils.fileio import save_json  # noqa: E402

ENV_REPO = 'STYLEGAN3_REPO'
TOL = 1e-4

# NVlabs' training configurations (train.py --cfg stylegan3-t / stylegan3-r), batch 32.
CONFIGS = {
    'T': dict(channel_base=32768, channel_max=512),
    'R': dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True),
}


def import_official(repo):
    """NVlabs' `networks_stylegan3` module from `repo`, its custom ops forced onto the reference path (stand-ins
    for `requests`, `pkg_resources` and `distutils`, which it imports for things never called here)."""
    if not os.path.isfile(os.path.join(repo, 'training', 'networks_stylegan3.py')):
        raise click.ClickException(f'--official_repo {repo}: training/networks_stylegan3.py not found')
    if importlib.util.find_spec('requests') is None:
        sys.modules['requests'] = types.ModuleType('requests')  # dnnlib.util: downloads only
    if importlib.util.find_spec('pkg_resources') is None:
        from packaging.version import parse
        sys.modules['pkg_resources'] = types.ModuleType('pkg_resources')  # conv2d_gradfix: version check only
        sys.modules['pkg_resources'].parse_version = parse
    if importlib.util.find_spec('distutils') is None:
        util = types.ModuleType('distutils.util')  # dnnlib.util: interactive prompt only
        util.strtobool = lambda text: text.lower() in ('y', 'yes', 't', 'true', 'on', '1')
        sys.modules['distutils'] = types.ModuleType('distutils')
        sys.modules['distutils'].util = util
        sys.modules['distutils.util'] = util
    sys.path.append(os.path.abspath(repo))
    from torch_utils import custom_ops
    from torch_utils.ops import bias_act, filtered_lrelu, upfirdn2d
    from training import networks_stylegan3

    def refuse(**kwargs):
        raise RuntimeError(f'building {kwargs.get("module_name")} is disabled: the reference path is benchmarked')

    for module in (bias_act, upfirdn2d, filtered_lrelu):
        module._init = lambda: False  # the 'cuda' implementation is chosen only when `_init()` is true
    custom_ops.get_plugin = refuse
    return networks_stylegan3


def official_generator(networks, init_kwargs, seed, device):
    """NVlabs' G with perturbed biases and measured input magnitudes (as the golden cases are made)."""
    torch.manual_seed(seed)
    G = networks.Generator(**init_kwargs).to(device).eval().requires_grad_(False)
    with torch.no_grad():
        for name, param in G.named_parameters():
            if name.endswith('bias'):
                param.add_(0.1 * torch.randn_like(param))
        layers = [getattr(G.synthesis, name) for name in G.synthesis.layer_names]
        betas = [layer.magnitude_ema_beta for layer in layers]
        for layer in layers:
            layer.magnitude_ema_beta = 0
        z = torch.randn([4, G.z_dim], device=device)
        G(z, None, update_emas=True)  # magnitude_ema = mean square of each layer's input
        for layer, beta in zip(layers, betas):
            layer.magnitude_ema_beta = beta
    return G


def our_generator(init_kwargs, official_state, device):
    """Our generator built from the same kwargs, loaded strictly from the official state dict."""
    config = stylegan3_names.config_from_nvlabs_kwargs(init_kwargs)
    state = stylegan3_names.convert_nvlabs_state({k: v.cpu() for k, v in official_state.items()}, config)
    G = build_generator('stylegan3', config)
    G.load_state_dict(state, strict=True)
    return G.to(device).eval().requires_grad_(False)


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def timed(func, device):
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        func()
    sync(device)
    return time.perf_counter() - start


def jacobian_seconds(G, w, size, chunk_size, columns, device):
    """Seconds for one sample's Jacobian; `columns < w_dim` times that many and extrapolates."""
    shape = []
    if columns >= G.w_dim:
        seconds = timed(lambda: shape.extend(jacobian.compute_jacobians(G, w.cpu().numpy(), size=size,
                                                                        chunk_size=chunk_size).shape), device)
        return seconds, shape, False
    push = jacobian.make_tangent_function(G, w[0], size=size)  # what compute_jacobians runs
    basis = torch.eye(G.w_dim, device=device)[:columns]

    def run():
        for begin in range(0, columns, chunk_size):
            shape[:] = push(basis[begin:begin + chunk_size]).shape[1:]

    return timed(run, device) * G.w_dim / columns, shape + [1, G.w_dim], True


@click.command(help=__doc__)
@click.option('--official_repo', default=lambda: os.environ.get(ENV_REPO), metavar='PATH',
              help=f'Clone of NVlabs/stylegan3. [default: ${ENV_REPO}]')
@click.option('--cfg', 'cfgs', default='R,T', show_default=True, help='Configs to run, comma-separated.')
@click.option('--res', type=click.IntRange(min=16), default=256, show_default=True, help='Output resolution.')
@click.option('--repeats', type=click.IntRange(min=1), default=3, show_default=True,
              help='Timed forward passes per generator (median reported).')
@click.option('--threads', type=click.IntRange(min=1), default=None, help='torch threads. [default: torch decides]')
@click.option('--device', default='cpu', show_default=True, help="'cpu' or 'cuda'.")
@click.option('--seed', type=int, default=0, show_default=True, help='Seed of the weights and the latent.')
@click.option('--jacobian/--no-jacobian', 'with_jacobian', default=True, show_default=True,
              help='Also time our forward-mode Jacobian on one sample.')
@click.option('--jacobian_size', type=click.IntRange(min=1), default=None,
              help='Jacobian resolution. [default: 256 for larger images, else the image size]')
@click.option('--jacobian_columns', type=click.IntRange(min=1), default=None,
              help='Time only this many of the w_dim columns and extrapolate. [default: all]')
@click.option('--chunk_size', type=click.IntRange(min=1), default=1, show_default=True,
              help='Columns pushed through the forward-mode pass at once (at 256, each column of '
                   'StyleGAN3-R adds about 1.6 GiB).')
@click.option('--json_out', default=None, metavar='FILE', help='Also write the results as JSON here.')
def main(official_repo, cfgs, res, repeats, threads, device, seed, with_jacobian, jacobian_size, jacobian_columns,
         chunk_size, json_out):
    if not official_repo:
        click.echo(f'Skipped: pass --official_repo PATH (a clone of NVlabs/stylegan3) or set ${ENV_REPO}.')
        return
    cfgs = [c.strip().upper() for c in cfgs.split(',') if c.strip()]
    if not cfgs or any(c not in CONFIGS for c in cfgs):
        raise click.BadParameter(f'{cfgs!r}: choose from T, R', param_hint='--cfg')
    if threads:
        torch.set_num_threads(threads)
    keep_freed_memory()  # the setting compute_jacobian.py runs under; both methods share it
    networks = import_official(official_repo)
    results = {'device': device, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'res': res,
               'batch': 1, 'repeats': repeats, 'official_repo': os.path.abspath(official_repo),
               'official_path': 'reference ops (impl ref, no plugins)', 'configs': {}}

    for cfg in cfgs:
        init_kwargs = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                           mapping_kwargs=dict(num_layers=2), magnitude_ema_beta=0.5 ** (32 / 20000), **CONFIGS[cfg])
        official = official_generator(networks, init_kwargs, seed, device)
        ours = our_generator(init_kwargs, official.state_dict(), device)
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, 512).astype(np.float32)).to(device)
        with torch.no_grad():
            img_official = official(z, None, noise_mode='const', force_fp32=True)
            img_ours = ours(z, noise_mode='const')
        diff = (img_ours.double() - img_official.double()).abs().max().item()
        entry = {'init_kwargs': init_kwargs, 'max_abs_diff': diff, 'image_std': img_official.std().item(),
                 'num_params': sum(p.numel() for p in ours.parameters()),
                 'classes': {name: f'{type(g).__module__}.{type(g).__qualname__}'
                             for name, g in (('official', official), ('ours', ours))}}
        results['configs'][cfg] = entry
        if not diff <= TOL:
            raise click.ClickException(f'config {cfg}: outputs differ by {diff:.3g} > {TOL}; timings would compare '
                                       f'different computations')
        click.echo(f'[{cfg}] outputs agree: max |ours - official| = {diff:.2e} (image std {entry["image_std"]:.3g})')

        times = {'official': [], 'ours': []}
        run_official = functools.partial(official, z, None, noise_mode='const', force_fp32=True)
        run_ours = functools.partial(ours, z, noise_mode='const')
        for _ in range(repeats):
            times['official'].append(timed(run_official, device))
            times['ours'].append(timed(run_ours, device))
        for name, values in times.items():
            entry[f'{name}_seconds'] = values
            entry[f'{name}_median_seconds'] = statistics.median(values)
        entry['speedup'] = entry['official_median_seconds'] / entry['ours_median_seconds']
        click.echo(f'[{cfg}] forward: official {entry["official_median_seconds"]:.2f} s, '
                   f'ours {entry["ours_median_seconds"]:.2f} s (median of {repeats})')
        del official, run_official, run_ours
        gc.collect()

        if with_jacobian:
            with torch.no_grad():
                w = ours.mapping(z)[:, 0]  # [1, w_dim]
            size, sum_channels = jacobian.reference_output_shape(ours, jacobian_size)
            columns = min(jacobian_columns or ours.w_dim, ours.w_dim)
            seconds, shape, extrapolated = jacobian_seconds(ours, w, size, chunk_size, columns, device)
            entry.update(jacobian_seconds_per_sample=seconds, jacobian_shape=shape, jacobian_size=size,
                         jacobian_columns_timed=columns, jacobian_extrapolated=extrapolated,
                         jacobian_chunk_size=chunk_size)
            note = f' (extrapolated from {columns} of {ours.w_dim} columns)' if extrapolated else ''
            click.echo(f'[{cfg}] Jacobian {shape}: {seconds:.1f} s/sample{note}')
        entry['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        del ours
        if json_out:  # after every config, so that a later failure keeps these
            save_json(json_out, results)

    click.echo('')
    click.echo(f'StyleGAN3 {res}x{res}, batch 1, {device}, {results["threads"]} threads, torch {torch.__version__}')
    click.echo(f'{"cfg":<4} {"official s":>11} {"ours s":>8} {"speed-up":>9} {"max diff":>9} {"Jacobian s/sample":>18}')
    for cfg, entry in results['configs'].items():
        jac = entry.get('jacobian_seconds_per_sample')
        jac_text = '-' if jac is None else f'{jac:.1f}' + ('*' if entry['jacobian_extrapolated'] else '')
        click.echo(f'{cfg:<4} {entry["official_median_seconds"]:>11.2f} {entry["ours_median_seconds"]:>8.2f} '
                   f'{entry["speedup"]:>8.2f}x {entry["max_abs_diff"]:>9.1e} {jac_text:>18}')
    if any(e.get('jacobian_extrapolated') for e in results['configs'].values()):
        click.echo('* extrapolated from --jacobian_columns of the w_dim columns')
    if json_out:
        click.echo(f'JSON: {json_out}')


if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
