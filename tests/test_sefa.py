"""SeFa: factorisation against genforce's `factorize_weight`, sefa.py end to end, the model zoo."""

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import models
import sefa as sefa_script
from models import zoo
from models.stylegan3 import StyleGAN3Config
from semantics import editing, ganspace, sampling, sefa
from tests.clitools import assert_one_line_error, printed
from tests.conftest import ROOT, golden_case, load_pt, max_abs_diff
from tests.layouts import to_genforce_stylegan
from cli import options
from utils.indices import IndexList, format_indices

CASES = ['sefa_pggan_r32', 'sefa_stylegan_r32', 'sefa_stylegan2_r32']
SELECTIONS = {'all': 'all', '0to1': [0, 1], '2to5': [2, 3, 4, 5], '3_7_9': [3, 7, 9]}
TOL = 1e-4


def golden_generator(case):
    return models.load_generator(golden_case(case) / 'checkpoints' / f'{case}.pth')


def aligned(directions, reference):
    """`directions` with each row's sign flipped to agree with `reference`."""
    signs = np.sign(np.sum(np.asarray(directions, np.float64) * np.asarray(reference, np.float64), axis=1))
    return directions * signs[:, None]


# ----------------------------------------------------------------------------
# Factorisation.

@pytest.mark.parametrize('case', CASES)
def test_factorize_matches_golden(case):
    G = golden_generator(case)
    golden = load_pt(golden_case(case) / 'sefa.pt')
    assert golden
    for key, entry in golden.items():
        layers, directions, eigenvalues = sefa.factorize(G, SELECTIONS[key])
        assert layers == entry['layers'].tolist(), key
        assert directions.dtype == np.float32 and directions.shape == (G.w_dim, G.w_dim)
        assert np.allclose(np.linalg.norm(directions, axis=1), 1, atol=1e-6)
        assert np.all(np.diff(eigenvalues) <= 0)
        reference = entry['boundaries_sorted'].numpy()
        assert max_abs_diff(aligned(directions, reference), reference) <= TOL, key
        assert max_abs_diff(eigenvalues, entry['eigenvalues_sorted']) <= TOL * max(1, float(eigenvalues[0])), key
        # The reference's unsorted order is a permutation of the same eigenpairs.
        order = entry['order_desc'].numpy()
        assert max_abs_diff(entry['eigenvalues_raw'].numpy()[order], entry['eigenvalues_sorted']) == 0


def test_directions_are_deterministic_with_positive_peak():
    G = golden_generator('sefa_stylegan2_r32')
    _, first, _ = sefa.factorize(G, [0, 1])
    _, again, _ = sefa.factorize(G, [1, 0, 1])
    assert np.array_equal(first, again)
    peaks = first[np.arange(len(first)), np.abs(first).argmax(axis=1)]
    assert np.all(peaks > 0)


def test_stylegan2_layer_selection_uses_conv_affines_and_final_torgb():
    G = golden_generator('sefa_stylegan2_r32')
    names = [name for name, _ in G.sefa_weights(G.sefa_layers())]
    assert names == ['synthesis.b4.conv1', 'synthesis.b8.conv0', 'synthesis.b8.conv1', 'synthesis.b16.conv0',
                     'synthesis.b16.conv1', 'synthesis.b32.conv0', 'synthesis.b32.conv1', 'synthesis.b32.torgb']


@pytest.mark.parametrize('text, expected', [('all', list(range(8))), ('0-1', [0, 1]), ('2-5,7', [2, 3, 4, 5, 7]),
                                            (' 3 , 1-2 ', [1, 2, 3]), ('4', [4]), ('1-1,1', [1])])
def test_layer_option(text, expected):
    """-L is parsed by its option type and checked against the model's SeFa layers where the model is loaded."""
    G = golden_generator('sefa_stylegan_r32')
    layers = IndexList().convert(text, None, None)
    assert options.check_layers(G, layers, '-L/--layer_idx', G.sefa_layers()) == expected


@pytest.mark.parametrize('text', ['a', '1-2-3', '3-1', '', '-1', '1,,2', '0-99999999'])
def test_layer_option_rejects_what_is_no_index_list(text):
    with pytest.raises(click.BadParameter):
        IndexList().convert(text, None, None)


def test_layers_beyond_the_model_or_without_weights_are_refused():
    for case, layers, allowed in (('sefa_stylegan_r32', [8], None), ('sefa_stylegan_r32', [0, 9], None),
                                  ('sefa_pggan_r32', [0, 1], 'sefa')):
        G = golden_generator(case)
        with pytest.raises(click.BadParameter, match=f'layer {max(layers)}'):
            options.check_layers(G, layers, '-L/--layer_idx', G.sefa_layers() if allowed else None)
    assert options.check_layers(golden_generator('sefa_pggan_r32'), None, '-L', [0]) == [0]


def test_biggan_factorizes_the_latent_columns_of_its_first_layer():
    G = models.load_generator(golden_case('biggan_deep_r32') / 'hf')
    layers, directions, eigenvalues = sefa.factorize(G)
    assert layers == list(range(G.num_ws))
    assert directions.shape == (G.z_dim, G.w_dim)
    assert np.all(directions[:, G.z_dim:] == 0)
    weight = G.synthesis.fc.weight.detach().double().numpy()[:, :G.z_dim].T  # [z_dim, out]
    weight /= np.linalg.norm(weight, axis=0, keepdims=True)
    expected = np.sort(np.linalg.eigvalsh(weight @ weight.T))[::-1].copy()
    assert max_abs_diff(eigenvalues, expected) <= 1e-4 * expected[0]
    gram = weight @ weight.T
    top = directions[0, :G.z_dim].astype(np.float64)
    assert abs(top @ gram @ top - expected[0]) <= 1e-4 * expected[0]
    ws = sampling.sample_ws(G, 1, seed=0, truncation_psi=0.5, labels=torch.tensor([3]))
    images = editing.render_edits(G, ws, directions[0], layers, [-1.0, 0.0, 1.0], truncation_psi=0.5)
    assert images.shape == (3, 3, 32, 32)
    reference = G(ws[:, 0, :G.z_dim], torch.tensor([3]), truncation_psi=0.5)
    assert max_abs_diff(images[1:2], reference) <= TOL


def test_stylegan3_factorizes_its_style_layers():
    config = StyleGAN3Config(z_dim=16, w_dim=16, img_resolution=16, channel_base=256, channel_max=16,
                                       num_layers=4, num_critical=1, num_fp16_res=0)
    torch.manual_seed(1)
    G = models.build_generator('stylegan3', config).eval()
    layers, directions, _ = sefa.factorize(G)
    assert layers == list(range(1, G.num_ws))
    assert directions.shape == (16, 16)
    with pytest.raises(click.BadParameter, match='layer 0'):
        options.check_layers(G, [0, 1, 2], '-L/--layer_idx', G.sefa_layers())


# ----------------------------------------------------------------------------
# Editing, as sefa.py does it.

@pytest.mark.parametrize('case', CASES)
def test_edits_match_golden(case):
    G = golden_generator(case)
    edits = load_pt(golden_case(case) / 'sefa_edits.pt')
    golden = load_pt(golden_case(case) / 'sefa.pt')['all']
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(0))  # the reference script's draw
    codes = sampling.to_ws(G, z, 'z', truncation_psi=0.7, truncation_cutoff=8)  # [1, num_ws, w_dim]
    assert max_abs_diff(codes.reshape(edits['codes'].shape), edits['codes']) <= TOL
    layers, directions, _ = sefa.factorize(G, 'all')
    boundary = golden['boundaries_raw'][int(edits['sem_id'])].numpy()  # the reference's raw order
    distances = edits['distances'].numpy()
    # The reference's boundary through our editing and rendering.
    images = editing.render_edits(G, codes, boundary, layers, distances)
    assert max_abs_diff(images, edits['images']) <= TOL
    # Our own top direction (its sign aligned with the reference's).
    ours = aligned(directions[:1], boundary[None])[0]
    images = editing.render_edits(G, codes, ours, layers, distances)
    assert max_abs_diff(images, edits['images']) <= TOL


# ----------------------------------------------------------------------------
# sefa.py end to end.

def rows_of(page):
    body = page.split('<tbody id="tbody">', 1)[1].split('</tbody>', 1)[0]
    return [re.findall(r'<td[^>]*>(.*?)</td>', row, flags=re.S) for row in re.findall(r'<tr>(.*?)</tr>', body, re.S)]


def decoded_images(page):
    uris = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(uri)))) for uri in uris]


@pytest.fixture
def golden_zoo(tmp_path, monkeypatch):
    """The golden genforce checkpoints as zoo models: symlinks in a temporary checkpoint folder."""
    folder = tmp_path / 'zoo'
    folder.mkdir()
    for case in CASES:
        (folder / f'{case}.pth').symlink_to(golden_case(case) / 'checkpoints' / f'{case}.pth')
        entry = zoo.ZooEntry(case, case.split('_')[1], 32, f'https://example.invalid/{case}')
        monkeypatch.setitem(zoo.ZOO, case, entry)
    monkeypatch.setenv('GANSEMANTICS_CHECKPOINTS', str(folder))
    monkeypatch.setenv('GANSEMANTICS_OFFLINE', '1')
    return folder


def run_cli(args):
    return CliRunner().invoke(sefa_script.main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize('case', CASES)
def test_sefa_script_pages(case, golden_zoo, tmp_path):
    num, sem, step = 2, 3, 4
    result = run_cli([case, '-L', 'all', '-N', num, '-K', sem, '--step', step, '--viz_size', 32,
                      '--save_dir', tmp_path / 'out'])
    assert result.exit_code == 0, result.output
    folder = printed(result, 'Directions').parent
    assert folder.parent.parent == tmp_path / 'out' and folder.parent.name.startswith(f'{case}-')
    all_layers = format_indices(golden_generator(case).sefa_layers())
    assert folder.name == f'layers_{all_layers}_K_{sem}_seed_0_num_{num}'
    G = golden_generator(case)
    layers, directions, eigenvalues = sefa.factorize(G, 'all')

    saved = np.load(folder / 'directions.npy')
    assert saved.dtype == np.float32 and np.array_equal(saved, directions[:sem])
    sidecar = json.loads((folder / 'directions.json').read_text())
    assert sidecar['method'] == 'sefa' and sidecar['layers'] == layers == sidecar['recommended_layers']
    assert sidecar['checkpoint_sha256'] == __import__('hashlib').sha256(
        (golden_zoo / f'{case}.pth').read_bytes()).hexdigest()
    assert np.allclose(sidecar['eigenvalues'], eigenvalues[:sem])

    headers = [''] + [f'Distance {d:.2f}' for d in np.linspace(-3, 3, step)]
    by_semantic = (folder / 'sample_first.html').read_text()
    by_sample = (folder / 'semantic_first.html').read_text()
    for page in (by_semantic, by_sample):
        assert re.findall(r'<th[^>]*>(.*?)</th>', page) == headers
        assert all(len(row) == step + 1 for row in rows_of(page))
        images = decoded_images(page)
        assert len(images) == num * sem * step and all(image.shape == (32, 32, 3) for image in images)
    rows = rows_of(by_semantic)
    assert len(rows) == sem * (num + 1)
    for sem_id in range(sem):
        head = rows[sem_id * (num + 1)]
        assert head[0] == f'Semantic {sem_id:03d}<br>({eigenvalues[sem_id]:.3f})'
        assert f'<td class="highlight">{head[0]}</td>' in by_semantic
        assert all(cell == '' for cell in head[1:])
        for sam_id in range(num):
            assert rows[sem_id * (num + 1) + sam_id + 1][0] == f'Sample {sam_id:03d}'
    rows = rows_of(by_sample)
    assert len(rows) == num * (sem + 1)
    for sam_id in range(num):
        assert rows[sam_id * (sem + 1)][0] == f'Sample {sam_id:03d}'
        assert f'<td class="highlight">Sample {sam_id:03d}</td>' in by_sample
        for sem_id in range(sem):
            assert rows[sam_id * (sem + 1) + sem_id + 1][0] == f'Semantic {sem_id:03d}<br>({eigenvalues[sem_id]:.3f})'
    # The cell of sample 1, semantic 2, distance index 1 holds that edit (JPEG-compressed).
    codes = sampling.sample_ws(G, num, 0, 0.7, 8)
    expected = editing.render_edits(G, codes[1:2], directions[2], layers, np.linspace(-3, 3, step).astype(np.float32))
    from utils.images import to_uint8
    target = to_uint8(expected)[1].astype(np.float64).mean(axis=2)  # luminance survives JPEG best
    errors = [np.abs(image.astype(np.float64).mean(axis=2) - target).mean() for image in decoded_images(by_semantic)]
    assert int(np.argmin(errors)) == (2 * num + 1) * step + 1, errors


def test_sefa_script_n0_saves_only_directions(golden_zoo, tmp_path):
    result = run_cli(['sefa_stylegan_r32', '-L', '2-5', '-N', 0, '-K', 4, '--save_dir', tmp_path / 'out'])
    assert result.exit_code == 0, result.output
    folder = printed(result, 'Directions').parent
    assert folder.name == 'layers_2-5_K_4_seed_0_num_0'
    assert sorted(os.listdir(folder)) == ['directions.json', 'directions.npy', 'run.json']
    assert 'HTML page' not in result.output
    golden = load_pt(golden_case('sefa_stylegan_r32') / 'sefa.pt')['2to5']['boundaries_sorted'][:4].numpy()
    saved = np.load(folder / 'directions.npy')
    assert max_abs_diff(aligned(saved, golden), golden) <= TOL


def test_sefa_script_accepts_a_checkpoint_path(tmp_path):
    path = golden_case('sefa_pggan_r32') / 'checkpoints' / 'sefa_pggan_r32.pth'
    result = run_cli([path, '-N', 1, '-K', 2, '--step', 2, '--viz_size', 16, '--save_dir', tmp_path])
    assert result.exit_code == 0, result.output
    page = printed(result, 'HTML page')
    assert page.name == 'semantic_first.html' and page.parent.parent.name.startswith('sefa_pggan_r32-')


def test_sefa_script_on_biggan(tmp_path):
    path = golden_case('biggan_deep_r32') / 'hf'
    args = [path, '-N', 1, '-K', 2, '--step', 2, '--viz_size', 16, '--trunc_psi', 0.5, '--save_dir', tmp_path]
    result = CliRunner().invoke(sefa_script.main, [str(a) for a in args])
    assert_one_line_error(result, '--class', 'give a class')
    assert not any(tmp_path.rglob('*.npy'))  # nothing written before every option is checked
    result = run_cli(args + ['--class', 3])
    assert result.exit_code == 0, result.output
    folder = printed(result, 'Directions').parent
    assert folder.name.endswith('_class_3')
    page = (folder / 'sample_first.html').read_text()
    assert len(rows_of(page)) == 2 * 2 and len(decoded_images(page)) == 1 * 2 * 2
    assert np.all(np.load(folder / 'directions.npy')[:, 32:] == 0)
    assert 'Truncation: 0.5' in page and 'Noise' not in page and 'class 3' in page


def test_gpu_id_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert sefa_script._device_of_gpu_id('0') == 'cpu' == sefa_script._device_of_gpu_id('1,2')


@pytest.mark.parametrize('args, words', [
    (['sefa_stylegan2_r32', '-L', '1-x'], ['--layer_idx', '1-x']),
    (['sefa_stylegan2_r32', '-L', '0-8'], ['--layer_idx', 'layer 8']),
    (['sefa_stylegan2_r32', '-K', '33'], ['--num_semantics', '33']),
    (['sefa_stylegan2_r23'], ['sefa_stylegan2_r23', 'did you mean sefa_stylegan2_r32']),
    (['no/such/file.pth'], ['no/such/file.pth']),
])
def test_sefa_script_errors(golden_zoo, tmp_path, args, words):
    result = CliRunner().invoke(sefa_script.main, args + ['--save_dir', str(tmp_path)])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith('Error')]
    assert len(errors) == 1 and all(word in errors[0] for word in words), result.output
    assert not any(name.endswith('.html') for name in os.listdir(tmp_path))


def test_missing_zoo_file_names_path_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv('GANSEMANTICS_CHECKPOINTS', str(tmp_path / 'ckpt'))
    monkeypatch.setenv('GANSEMANTICS_OFFLINE', '1')
    result = CliRunner().invoke(sefa_script.main, ['stylegan_animeface512', '--save_dir', str(tmp_path / 'out')])
    assert_one_line_error(result)
    expected = (f'Error: checkpoint stylegan_animeface512 is not on this machine and cannot be downloaded '
                f'(GANSEMANTICS_OFFLINE is set): download {zoo.ZOO["stylegan_animeface512"].url} and save it as '
                f'{tmp_path / "ckpt" / "stylegan_animeface512.pth"}')
    assert result.output.strip().splitlines()[-1] == expected
    assert not (tmp_path / 'out').exists()


# ----------------------------------------------------------------------------
# The zoo.

def test_zoo_names():
    genforce_names = [name for name in zoo.ZOO if zoo.ZOO[name].ext == '.pth']
    assert len(genforce_names) == 57
    assert {zoo.ZOO[n].family for n in genforce_names} == {'pggan', 'stylegan', 'stylegan2'}
    assert zoo.ZOO['pggan_celebahq1024'].resolution == 1024 and zoo.ZOO['stylegan_animeface512'].resolution == 512
    sg2 = zoo.ZOO['stylegan2-ffhq-1024x1024']
    assert (sg2.family, sg2.resolution, sg2.ext) == ('stylegan2', 1024, '.pkl')
    assert sg2.url.endswith('/stylegan2/versions/1/files/stylegan2-ffhq-1024x1024.pkl')
    sg3 = zoo.ZOO['stylegan3-r-afhqv2-512x512']
    assert (sg3.family, sg3.resolution, sg3.config['cfg']) == ('stylegan3', 512, 'R')
    assert zoo.ZOO['stylegan2-ada-metfaces'].url.endswith('/stylegan2-ada-pytorch/pretrained/metfaces.pkl')
    assert zoo.ZOO['stylegan2-cifar10-32x32'].config['c_dim'] == 10
    assert all(e.sha256 is None or re.fullmatch('[0-9a-f]{64}', e.sha256) for e in zoo.ZOO.values())


def test_is_zoo_name(tmp_path, monkeypatch):
    assert zoo.is_zoo_name('stylegan_ffhq1024') and not zoo.is_zoo_name('nonexistent')
    monkeypatch.chdir(tmp_path)
    Path('stylegan_ffhq1024').write_bytes(b'')
    assert not zoo.is_zoo_name('stylegan_ffhq1024')  # an existing path wins


# ----------------------------------------------------------------------------
# The README command, on a random-weight genforce StyleGAN at 512 (narrow channels, to keep CPU time small).

@pytest.mark.slow
def test_readme_command_animeface512(tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(512)
        G = models.build_generator('stylegan', img_resolution=512, channel_base=1024, channel_max=8).eval()
    (tmp_path / 'checkpoints').mkdir()
    torch.save({'generator_smooth': to_genforce_stylegan(G.state_dict(), G.config)},
               tmp_path / 'checkpoints' / 'stylegan_animeface512.pth')
    env = {k: v for k, v in os.environ.items() if k != 'GANSEMANTICS_CHECKPOINTS'}
    env.update(GANSEMANTICS_OFFLINE='1', PYTHONPATH=str(ROOT))
    # The README's command with 2 samples and 3 distances instead of 5 and 11, to keep CPU time small.
    command = [sys.executable, str(ROOT / 'sefa.py'), 'stylegan_animeface512', '-L', '0-1', '-N', '2', '-K', '5',
               '--step', '3', '--viz_size', '64']
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = Path(re.search(r'^Directions .*: (\S+)$', result.stdout, flags=re.M).group(1)).parent
    folder = tmp_path / folder
    assert folder.parts[-5:-2] == ('work_dirs', 'sefa', 'ffhq') and folder.name == 'layers_0-1_K_5_seed_0_num_2'
    page = (folder / 'sample_first.html').read_text()
    assert len(rows_of(page)) == 5 * (2 + 1) and len(decoded_images(page)) == 2 * 5 * 3
    assert len(rows_of((folder / 'semantic_first.html').read_text())) == 2 * (5 + 1)
    loaded = models.load_generator(tmp_path / 'checkpoints' / 'stylegan_animeface512.pth')
    _, directions, _ = sefa.factorize(loaded, [0, 1])
    assert np.array_equal(np.load(folder / 'directions.npy'), directions[:5])
    _, reference, _ = sefa.factorize(G, [0, 1])
    assert np.array_equal(reference, directions)


def test_ganspace_directions_are_the_principal_axes_of_w():
    """GANSpace: the rows are orthonormal, sorted by variance, and those of a plain PCA of the sampled ws."""
    G = models.load_generator('builtin:stylegan2-tiny')
    axes, variances, mean = ganspace.principal_directions(G, num_codes=3000, seed=5)
    w = sampling.to_ws(G, sampling.sample_z(G, 3000, 5), 'z')[:, 0].double().numpy()
    covariance = np.cov(w, rowvar=False)
    assert np.allclose(axes @ axes.T, np.eye(G.w_dim), atol=1e-8)
    assert np.all(np.diff(variances) <= 1e-12) and np.allclose(mean, w.mean(0))
    assert np.allclose(np.einsum('kd,de,ke->k', axes, covariance, axes), variances, rtol=1e-6)
    assert np.allclose(np.sort(np.linalg.eigvalsh(covariance))[::-1], variances, rtol=1e-6)


def test_sefa_script_runs_ganspace(tmp_path):
    args = ['builtin:stylegan2-tiny', '--method', 'ganspace', '--num_codes', 500, '-K', 3, '-N', 0, '-L', '4-7',
            '--save_dir', tmp_path]
    result = CliRunner().invoke(sefa_script.main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    path = printed(result, 'Directions')
    sidecar = json.loads(path.with_suffix('.json').read_text())
    assert path.parent.name.startswith('ganspace_layers_4-7_K_3')
    assert sidecar['method'] == 'ganspace' and sidecar['recommended_layers'] == [4, 5, 6, 7]
    expected, variances, _ = ganspace.principal_directions(models.load_generator('builtin:stylegan2-tiny'), 500, 0)
    assert np.allclose(np.load(path), expected[:3], atol=1e-6)
    assert np.allclose(sidecar['eigenvalues'], variances[:3], rtol=1e-5)
