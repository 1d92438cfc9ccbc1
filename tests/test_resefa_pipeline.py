"""ReSeFa end to end: Jacobians, directions, editing, resume, bad input."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import compute_directions
import compute_jacobian
import manipulate
from models import build_generator, forward_mode, load_generator
from semantics import editing, jacobian, regions
from tests.clitools import assert_one_line_error, printed
from tests.conftest import DEVICE, golden_case


def invoke(command, args):
    return CliRunner().invoke(command.main, [str(a) for a in args], catch_exceptions=False)


def tiny_stylegan2(resolution, seed=0, channels=4, w_dim=8):
    torch.manual_seed(seed)
    G = build_generator('stylegan2', z_dim=w_dim, w_dim=w_dim, img_resolution=resolution,
                                          channel_base=channels * resolution, channel_max=channels,
                                          mapping_layers=2)
    G.source = 'test'
    return G.eval().requires_grad_(False)


def relative_error(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def sign_aligned_error(ours, ref):
    """Max |ours - ref| per row after flipping each of our rows to the reference's sign."""
    signs = np.sign(np.sum(ours * ref, axis=1, keepdims=True))
    return np.abs(ours * signs - ref).max(axis=1)


def test_jacobians_match_reference_golden():
    case = golden_case('resefa_sg2_r32')
    G = load_generator(golden_case('hammer_sg2_r32') / 'hammer_checkpoint.pth', device=DEVICE)
    w = np.load(case / 'latent_codes.npy')  # compute_jacobians puts w on G's device and returns a numpy array
    ref = np.load(case / 'jacobians_w.npy')
    ours = jacobian.compute_jacobians(G, w, chunk_size=16)
    assert ours.shape == ref.shape == (2, 3, 32, 32, 1, 32)
    assert relative_error(ours, ref) <= 1e-4


def test_forward_mode_equals_reverse_mode_small():
    G = tiny_stylegan2(8)
    w = G.mapping(torch.randn(1, G.z_dim))[:, 0]
    reverse = jacobian.reverse_mode_jacobian(G, w).numpy()
    forward = jacobian.compute_jacobians(G, w.numpy(), chunk_size=3)
    assert forward.shape == reverse.shape == (1, 3, 8, 8, 1, 8)
    assert relative_error(forward, reverse) <= 1e-5


def test_large_images_reduced_and_summed_like_reference():
    """Above 256 the reference resizes to 256 (nearest) and sums colour channels."""
    G = tiny_stylegan2(512, channels=2, w_dim=4)
    w = G.mapping(torch.randn(1, G.z_dim))[:, 0]

    def syn2jaco(w):  # the reference wrapper
        image = G.synthesis(w.unsqueeze(1).repeat((1, G.num_ws, 1)))
        image = F.interpolate(image, scale_factor=256 / image.shape[-1])
        return torch.sum(image, dim=1)

    ref = torch.func.jacfwd(syn2jaco)(w).numpy()
    ours = jacobian.compute_jacobians(G, w.numpy(), chunk_size=2)
    assert ours.shape == ref.shape == (1, 256, 256, 1, 4)
    assert relative_error(ours, ref) <= 1e-5


def test_layer_subset_jacobian():
    G = tiny_stylegan2(8)
    w = G.mapping(torch.randn(1, G.z_dim))[:, 0]
    layers = [2, 3]

    def f(v):
        ws = w.unsqueeze(1).repeat(1, G.num_ws, 1).clone()
        ws[:, layers] = v.unsqueeze(1)
        return G.synthesis(ws)

    ref = torch.func.jacfwd(f)(w).numpy()
    ours = jacobian.compute_jacobians(G, w.numpy(), layers=layers, chunk_size=4)
    assert relative_error(ours, ref) <= 1e-5


@pytest.mark.parametrize('architecture', ['skip', 'orig', 'resnet'])
@pytest.mark.parametrize('conv_clamp', [None, 0.5])
@pytest.mark.parametrize('layers', [None, [1, 2, 5]])
@pytest.mark.parametrize('fold', [True, False])
def test_stylegan2_linearize_push_equals_autograd(architecture, conv_clamp, layers, fold, monkeypatch):
    """The hand-written forward-mode pass gives torch's own Jacobian, with noise, biases and clamping active,
    with the last layer folded into the image and without (a kernel over the memory bound)."""
    if not fold:
        monkeypatch.setattr(forward_mode, 'FOLD_BYTES', 0)
    torch.manual_seed(1)
    G = build_generator('stylegan2', z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=6,
                                          mapping_layers=2, architecture=architecture, conv_clamp=conv_clamp)
    G = G.eval().requires_grad_(False)
    with torch.no_grad():
        for name, param in G.named_parameters():
            if name.startswith('synthesis') and (name.endswith('bias') or name.endswith('noise_strength')):
                param.normal_(0, 0.3)
    w = G.mapping(torch.randn(1, G.z_dim))[:, 0]
    base = G.mapping(torch.randn(1, G.z_dim))[0]  # the rows that are not differentiated
    moving = list(range(G.num_ws)) if layers is None else layers

    def f(v):
        ws = base.clone().unsqueeze(0)
        ws[:, moving] = v.unsqueeze(1)
        return G.synthesis(ws, noise_mode='const')

    ref = torch.func.jacfwd(f)(w)[0, :, :, :, 0].numpy()  # [3, 16, 16, w_dim]
    ours = next(jacobian.iter_jacobians(G, w.numpy(), layers=moving, w_base=base, chunk_size=5,
                                        method='tangent')).numpy()
    assert np.abs(ref).max() > 0.05
    assert ours.shape == ref.shape and relative_error(ours, ref) <= 1e-5
    ws = base.clone().unsqueeze(0)
    ws[:, moving] = w.unsqueeze(1)
    image, push = forward_mode.linearize_stylegan2(G.synthesis, ws)
    assert torch.equal(image, G.synthesis(ws))  # the primal pass is the generator's own
    assert push([None] * G.num_ws).shape == (0, 3, 16, 16)
    if conv_clamp is not None:  # the clamp is reached somewhere, so its zero slopes are exercised
        with torch.no_grad():
            assert G.synthesis(w.unsqueeze(1).repeat(1, G.num_ws, 1)).abs().max() >= conv_clamp


@pytest.mark.parametrize('method', ['tangent', 'jvp'])
def test_precisions(method):
    """tf32 is fp32 on CPU; bf16 rounds, by about 1%. Under jvp the primal pass runs in bfloat16 too, so a
    few activation kinks move: the error is measured on the mean there, on the maximum otherwise."""
    G = tiny_stylegan2(16, channels=8)
    w = G.mapping(torch.randn(2, G.z_dim))[:, 0].numpy()
    exact = jacobian.compute_jacobians(G, w, chunk_size=3, method=method)
    assert np.array_equal(jacobian.compute_jacobians(G, w, chunk_size=3, method=method, precision='tf32'), exact)
    rounded = jacobian.compute_jacobians(G, w, chunk_size=3, method=method, precision='bf16')
    error = np.abs(rounded - exact)
    error = error.mean() / np.abs(exact).mean() if method == 'jvp' else error.max() / np.abs(exact).max()
    assert rounded.dtype == np.float32 and 1e-4 < error < 5e-2


def test_compute_jacobian_precision_has_its_own_folder(hammer_model, tmp_path):
    runs = {}
    for precision in ('fp32', 'bf16'):
        result = invoke(compute_jacobian, [hammer_model, '--nums', 1, '--save_dir', tmp_path, '--precision', precision])
        assert result.exit_code == 0, result.output
        runs[precision] = np.load(tmp_path / 'jacobians_w.npy')  # the latest run's
    (bf16_run,) = [path for path in tmp_path.rglob('jacobians_w.npy') if 'bf16' in str(path.parent)]
    assert len(list(tmp_path.rglob('jacobians_w.npy'))) == 3  # two runs and the link to the latest
    assert np.array_equal(np.load(bf16_run), runs['bf16'])
    assert 1e-4 < relative_error(runs['bf16'], runs['fp32']) < 5e-2


def test_jacobian_method_choice():
    G = tiny_stylegan2(8)
    assert jacobian.pick_method(G) == 'tangent'
    assert jacobian.pick_method(G, {'noise_mode': 'const'}) == 'tangent'
    assert jacobian.pick_method(G, {'truncation_psi': 0.5}) == 'jvp'


def test_compute_directions_matches_reference_script(tmp_path):
    case = golden_case('resefa_sg2_r32')
    for region in ('eyes', 'mouth'):
        for full_rank in (False, True):
            args = [case / 'jacobians_w.npy', '--region', region, '--save_dir', tmp_path, '--name',
                    f'resefa_fr{int(full_rank)}', '--tao', 0.001] + (['--full_rank'] if full_rank else [])
            result = invoke(compute_directions, args)
            assert result.exit_code == 0, result.output
            out = printed(result, 'Pooled directions').parent
            assert out.name == region + ('_full_rank' if full_rank else '')
            for index in range(2):
                name = f'image_{index:02d}_region_{region}_name_resefa_fr{int(full_rank)}.npy'
                ours = np.load(out / name)
                ref = np.load(case / 'script_outputs' / name)
                rows = slice(None) if full_rank else slice(0, 8)  # see tests/test_resefa.py on trailing rows
                assert sign_aligned_error(ours[rows].astype(np.float64), ref[rows].astype(np.float64)).max() <= 1e-4
                assert (out / name.replace('.npy', '_mask.png')).is_file()
            pooled = np.load(out / f'pooled_resefa_fr{int(full_rank)}.npy')
            meta = json.loads((out / f'pooled_resefa_fr{int(full_rank)}.json').read_text())
            assert pooled.shape == (32, 32) and pooled.dtype == np.float32
            assert np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)
            assert meta['method'] == 'resefa' and meta['region'] == region and meta['num_samples'] == 2
            assert meta['eigenvalues'] == sorted(meta['eigenvalues'], reverse=True)


@pytest.fixture(scope='module')
def hammer_model():
    return golden_case('hammer_sg2_r32') / 'hammer_checkpoint.pth'


def test_tao_without_full_rank_is_accepted_and_said_to_be_unused(tmp_path):
    jacobians = tmp_path / 'j.npy'
    np.save(jacobians, np.random.RandomState(0).randn(2, 3, 16, 16, 1, 8).astype(np.float32))
    plain = invoke(compute_directions, [jacobians, '--save_dir', tmp_path / 'a'])
    with_tao = invoke(compute_directions, [jacobians, '--save_dir', tmp_path / 'b', '--tao', 0.5])
    assert plain.exit_code == 0 and with_tao.exit_code == 0, with_tao.output
    assert 'Note: --tao 0.5 is not used without --full_rank' in with_tao.output and 'Note:' not in plain.output
    np.testing.assert_array_equal(np.load(printed(plain, 'Pooled directions')),
                                  np.load(printed(with_tao, 'Pooled directions')))
    full = invoke(compute_directions, [jacobians, '--save_dir', tmp_path / 'c', '--tao', 0.5, '--full_rank'])
    assert 'not used' not in full.output and printed(full, 'Pooled directions').parent.name == 'eyes_full_rank_tao_0.5'


def test_readme_steps_as_written(hammer_model, tmp_path, monkeypatch):
    """compute_jacobian.py -> compute_directions.py -> manipulate.py with the README's paths."""
    monkeypatch.chdir(tmp_path)
    result = invoke(compute_jacobian, [hammer_model, '--stylegan2', '--nums', 3, '--img_size', 32])
    assert result.exit_code == 0, result.output
    assert np.load('work_dirs/jacobians/ffhq/jacobians_w.npy').shape == (3, 3, 32, 32, 1, 32)
    assert np.load('work_dirs/jacobians/ffhq/latent_codes.npy').shape == (3, 32)
    result = invoke(compute_directions, ['work_dirs/jacobians/ffhq/jacobians_w.npy'])
    assert result.exit_code == 0, result.output
    next_step = [line for line in result.output.splitlines() if line.startswith('Next:')]
    assert next_step == [f'Next: python manipulate.py {hammer_model} work_dirs/directions/ffhq/eyes/pooled_resefa.npy '
                         f'--region eyes   (that path points at this run)']
    direction = 'work_dirs/directions/ffhq/eyes/image_00_region_eyes_name_resefa.npy'
    assert np.load(direction).shape == (32, 32)
    result = invoke(manipulate, [hammer_model, direction, '--stylegan2', '--nums', 2, '--step', 3])
    assert result.exit_code == 0, result.output
    page = printed(result, 'HTML page')
    assert page.parts[:3] == ('work_dirs', 'manipulations', 'ffhq') and page.name == 'resefa.html'
    assert page.parent.name.startswith('seed_4_num_2_image_00_region_eyes_name_resefa-')
    html = page.read_text()
    assert html.count('<tr>') == 1 + 2  # header + one row per sample (one direction)
    assert html.count('data:image/jpeg') == 2 * (1 + 3)
    assert 'Layers: 4-7 (the default)' in html
    assert (page.parent / '000000_ind_000000.gif').is_file() and (page.parent / 'latent_codes.npy').is_file()


def test_region_direction_is_local(hammer_model, tmp_path):
    """The top pooled eyes direction moves the sampled images inside the eyes box far more than a random one.

    Measured on the latents the Jacobians were taken at (a random-weight model has no
    semantics that generalise to new samples), by the share of the squared pixel change
    inside the region and, as manipulate.py reports it, of the absolute change.
    """
    G = load_generator(hammer_model)
    w = G.mapping(torch.from_numpy(np.random.RandomState(0).randn(6, G.z_dim).astype(np.float32)))[:, 0]
    path = tmp_path / 'jacobians_w.npy'
    np.save(path, jacobian.compute_jacobians(G, w.numpy(), chunk_size=32))
    result = invoke(compute_directions, [path, '--region', 'eyes', '--save_dir', tmp_path / 'd', '--full_rank'])
    assert result.exit_code == 0, result.output
    direction = np.load(tmp_path / 'd' / 'eyes' / 'pooled_resefa.npy')[0]
    random = np.random.RandomState(1).randn(G.w_dim).astype(np.float32)
    random /= np.linalg.norm(random)
    mask = regions.region_mask('ffhq', 'eyes', 32)
    ws = w.unsqueeze(1).repeat(1, G.num_ws, 1)
    squared, absolute = {}, {}
    for name, d in (('resefa', direction), ('random', random)):
        sq, ab = [], []
        for i in range(len(ws)):
            with torch.no_grad():
                original = G.synthesis(ws[i:i + 1])[0]
                edited = G.synthesis(editing.edit_codes(ws[i:i + 1], d, None, [-0.5, 0.5])[0])
            change = ((edited - original) ** 2).sum(1)
            sq.append(float((change * torch.from_numpy(mask)).sum() / change.sum()))
            ab.append(float(np.nanmean(editing.region_change_share(original, edited, mask))))
        squared[name], absolute[name] = np.mean(sq), np.mean(ab)
    area = float(mask.mean())
    assert squared['resefa'] > 2 * squared['random'], squared
    assert squared['resefa'] > 4 * area, (squared, area)
    assert absolute['resefa'] > 1.5 * absolute['random'], absolute


def test_manipulate_reports_region_share(hammer_model, tmp_path):
    d = np.random.RandomState(0).randn(2, 32).astype(np.float32)
    np.save(tmp_path / 'dirs.npy', d)
    result = invoke(manipulate, [hammer_model, tmp_path / 'dirs.npy', '--nums', 1, '--step', 2, '--end', 2,
                                 '--region', 'mouth', '--save_dir', tmp_path / 'out', '--no-gif', '--save_jpg'])
    assert result.exit_code == 0, result.output
    assert 'Share of pixel change inside region mouth' in result.output
    assert len(list((tmp_path / 'out').rglob('*_mani_*.jpg'))) == 4


def test_compute_jacobian_resumes(hammer_model, tmp_path, monkeypatch):
    calls = []
    real = jacobian.jacobian_of_sample

    def counting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2 and not counting.resumed:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    counting.resumed = False
    monkeypatch.setattr(jacobian, 'jacobian_of_sample', counting)
    args = [hammer_model, '--nums', 3, '--save_dir', tmp_path, '--chunk_size', 16]
    interrupted = CliRunner().invoke(compute_jacobian.main, [str(a) for a in args])
    assert_one_line_error(interrupted, 'interrupted: 1 of 3 samples are saved', 'run the same command again')
    assert not (tmp_path / 'jacobians_w.npy').exists()
    counting.resumed = True
    calls.clear()
    result = invoke(compute_jacobian, args)
    assert result.exit_code == 0, result.output
    assert 'Resuming: 1 of 3 samples are already done' in result.output
    assert len(calls) == 2
    monkeypatch.setattr(jacobian, 'jacobian_of_sample', real)
    full = invoke(compute_jacobian, [hammer_model, '--nums', 3, '--save_dir', tmp_path / 'full', '--chunk_size', 16])
    assert full.exit_code == 0
    assert np.array_equal(np.load(tmp_path / 'jacobians_w.npy'), np.load(tmp_path / 'full' / 'jacobians_w.npy'))
    assert not list(tmp_path.rglob('.*partial*')) and not list(tmp_path.rglob('.*progress*'))


def test_gram_mode_equals_dense(hammer_model, tmp_path):
    dense = invoke(compute_jacobian, [hammer_model, '--nums', 2, '--save_dir', tmp_path / 'a'])
    grams = invoke(compute_jacobian, [hammer_model, '--nums', 2, '--save_dir', tmp_path / 'b', '--region', 'eyes'])
    assert dense.exit_code == 0 and grams.exit_code == 0, grams.output
    assert (tmp_path / 'b' / 'grams_eyes.npz').stat().st_size < (tmp_path / 'a' / 'jacobians_w.npy').stat().st_size
    for src, out in ((tmp_path / 'a' / 'jacobians_w.npy', 'da'), (tmp_path / 'b' / 'grams_eyes.npz', 'db')):
        result = invoke(compute_directions, [src, '--region', 'eyes', '--full_rank', '--save_dir', tmp_path / out])
        assert result.exit_code == 0, result.output
    a, b = (np.load(tmp_path / out / 'eyes' / 'pooled_resefa.npy') for out in ('da', 'db'))
    assert sign_aligned_error(a[:8].astype(np.float64), b[:8].astype(np.float64)).max() <= 1e-4


def test_manipulate_accepts_w_and_wplus_codes(hammer_model, tmp_path):
    G = load_generator(hammer_model)
    w = G.mapping(torch.randn(2, G.z_dim))[:, 0].numpy()
    np.save(tmp_path / 'w.npy', w)
    np.save(tmp_path / 'wp.npy', np.repeat(w[:, None], G.num_ws, axis=1))
    np.save(tmp_path / 'd.npy', np.ones((1, 32), np.float32) / np.sqrt(32))
    saved = []
    for name in ('w', 'wp'):
        out = tmp_path / name
        result = invoke(manipulate, [hammer_model, tmp_path / 'd.npy', '--latent_path', tmp_path / f'{name}.npy',
                                     '--nums', 2, '--step', 2, '--save_dir', out, '--no-gif', '--latent_space', name])
        assert result.exit_code == 0, result.output
        saved.append(np.load(next(out.rglob('latent_codes.npy'))))
    assert np.array_equal(saved[0], saved[1])


def test_compute_jacobian_layers_option(hammer_model, tmp_path):
    """--layers differentiates w on those layers only: torch's own Jacobian of that function."""
    result = invoke(compute_jacobian, [hammer_model, '--nums', 1, '--layers', '4,5', '--save_dir', tmp_path])
    assert result.exit_code == 0, result.output
    ours = np.load(tmp_path / 'jacobians_w.npy')[0, ..., 0, :]  # [3, 32, 32, w_dim]
    w = torch.from_numpy(np.load(tmp_path / 'latent_codes.npy'))
    G = load_generator(hammer_model)

    def image(v):
        ws = w.unsqueeze(1).repeat(1, G.num_ws, 1)
        ws[:, [4, 5]] = v.unsqueeze(1)
        return G.synthesis(ws, noise_mode='const')[0]

    ref = torch.func.jacfwd(image)(w)[..., 0, :].numpy()
    assert ours.shape == ref.shape == (3, 32, 32, G.w_dim)
    assert relative_error(ours, ref) <= 1e-5
    assert json.loads((tmp_path / 'jacobians_w.json').read_text())['layers'] == [4, 5]
