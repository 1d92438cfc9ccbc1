"""manipulate.py with the shipped published directions and prepared latent codes, offline."""

from pathlib import Path

import numpy as np
import pytest
import torch

import directions.__main__ as directions_cli
import manipulate
from models import build_generator
from tests.clitools import assert_one_line_error, invoke, invoke_ok, printed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def offline(monkeypatch, tmp_path):
    """No download is possible, and the cache is empty: only the shipped files can serve."""
    monkeypatch.setenv('GANSEMANTICS_OFFLINE', '1')
    monkeypatch.setenv('GANSEMANTICS_CACHE', str(tmp_path / 'cache'))
    monkeypatch.delenv('GANSEMANTICS_DIRECTIONS_DIR', raising=False)
    monkeypatch.delenv('GANSEMANTICS_DIRECTIONS_URL', raising=False)
    return tmp_path


def save_model(path, **config):
    torch.manual_seed(0)
    torch.save(build_generator('stylegan2', **config).state_dict(), path)
    return path


def test_catalog_name_sets_layers_and_distances(offline):
    model = save_model(offline / 'g.pt', z_dim=512, w_dim=512, img_resolution=128, channel_base=256,
                       channel_max=8, mapping_layers=2)
    result = invoke_ok(manipulate, [model, 'eyesize', '--nums', 2, '--step', 3, '--save_dir', offline / 'out',
                                    '--no-gif'])
    assert ('on layers 4-7 (recommended by catalog entry ffhq/stylegan2/eyesize), distances -10..10'
            in result.output)
    assert ('was made for StyleGAN2 FFHQ 1024x1024, config-f (official NVlabs release) (img_resolution 1024, '
            'num_ws 18), but the model loaded is g-') in result.output
    page = printed(result, 'HTML page')
    assert page.parent.name == 'seed_4_num_2_eyesize_layers_4-7'
    html = page.read_text()
    assert 'Layers: 4-7 (recommended by catalog entry ffhq/stylegan2/eyesize)' in html
    assert 'Distances: -10, 0, 10' in html and 'catalog entry ffhq/stylegan2/eyesize' in html
    result = invoke_ok(manipulate, [model, 'lipstick', '--nums', 1, '--step', 2, '--save_dir', offline / 'out2',
                                    '--no-gif'])
    assert 'on layers 8-11 (recommended by catalog entry ffhq/stylegan2/lipstick)' in result.output
    result = invoke_ok(manipulate, [model, 'directions/ffhq/stylegan2/mouth.npy', '--nums', 1, '--step', 2,
                                    '--mani_layers', '2,3', '--start_distance', -2, '--save_dir', offline / 'out3',
                                    '--no-gif'])
    assert 'on layers 2-3 (given with --mani_layers), distances -2..10' in result.output
    assert not (offline / 'cache').exists() or not any((offline / 'cache').rglob('*.npy'))


def test_readme_command_with_the_shipped_file_runs_as_written(offline, monkeypatch):
    """`manipulate.py MODEL directions/ffhq/stylegan2/eyesize.npy --stylegan2` from the repository, offline."""
    model = save_model(offline / 'g.pt', z_dim=512, w_dim=512, img_resolution=64, channel_base=128,
                       channel_max=4, mapping_layers=1)
    monkeypatch.chdir(ROOT)
    result = invoke_ok(manipulate, [model, 'directions/ffhq/stylegan2/eyesize.npy', '--stylegan2', '--nums', 1,
                                    '--step', 2, '--save_dir', offline / 'out', '--no-gif'])
    assert 'recommended by catalog entry ffhq/stylegan2/eyesize' in result.output


def test_published_direction_needs_matching_w_dim(offline):
    model = save_model(offline / 'g.pt', z_dim=64, w_dim=64, img_resolution=16, channel_base=64, channel_max=4,
                       mapping_layers=1)
    result = invoke(manipulate, [model, 'eyesize', '--nums', 1, '--save_dir', offline / 'out'])
    assert_one_line_error(result, 'directions have 512 values each, but the model has w_dim=64')
    assert not (offline / 'out').exists()


def test_prepared_wplus_codes_drive_manipulate(offline):
    model = save_model(offline / 'g.pt', z_dim=512, w_dim=512, img_resolution=256, channel_base=256,
                       channel_max=2, mapping_layers=1)
    np.save(offline / 'd.npy', np.eye(1, 512, dtype=np.float32))
    result = invoke_ok(manipulate, [model, offline / 'd.npy', '--latent_path', 'stylegan_cat256', '--nums', 2,
                                    '--step', 2, '--save_dir', offline / 'out', '--no-gif', '--vis_size', 32])
    folder = printed(result, 'HTML page').parent
    assert folder.name.startswith('latents_stylegan_cat256_latents-') and '_num_2_d-' in folder.name
    saved = np.load(folder / 'latent_codes.npy')
    published = np.load(ROOT / 'directions' / 'latent_codes' / 'stylegan_cat256_latents.npy')
    assert saved.shape == (2, 14, 512)
    assert np.array_equal(saved, published[:2].astype(np.float32))


@pytest.fixture()
def tiny(offline, monkeypatch):
    """A 6-ws model, a direction file `d.npy` [2, 8] and an empty user catalog."""
    monkeypatch.setenv('GANSEMANTICS_DIRECTIONS_CATALOG', str(offline / 'local.json'))
    save_model(offline / 'g.pt', z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=4,
               mapping_layers=2)
    np.save(offline / 'd.npy', np.eye(2, 8, dtype=np.float32))
    return offline


SIDECARS_REFUSED = {  # name: (sidecar text, the key word of the one-line message besides the sidecar's path)
    'far': ('{"distance_range": [-1e30, 1e30]}', 'distance_range'),
    'huge_int': (f'{{"distance_range": [-1{"0" * 400}, 1{"0" * 400}]}}', 'distance_range'),
    'nested': ('{"a": ' + '[' * 100000 + ']' * 100000 + '}', 'nested too deeply'),
}


@pytest.mark.parametrize('case', sorted(SIDECARS_REFUSED))
def test_sidecar_refused_before_anything_is_written(tiny, case):
    text, words = SIDECARS_REFUSED[case]
    (tiny / 'd.json').write_text(text)
    result = invoke(manipulate, [tiny / 'g.pt', tiny / 'd.npy', '--nums', 1, '--step', 2, '--save_dir', tiny / 'out'])
    assert_one_line_error(result, 'DIRECTION', str(tiny / 'd.json'), words)
    assert not (tiny / 'out').exists()


def test_recommended_layers_beyond_the_model_name_their_origin(tiny):
    (tiny / 'd.json').write_text('{"layers": [6]}')
    args = [tiny / 'g.pt', tiny / 'd.npy', '--nums', 1, '--step', 2, '--no-gif']
    result = invoke(manipulate, args + ['--save_dir', tiny / 'out'])
    assert_one_line_error(result, f'sidecar {tiny / "d.json"}', 'layer 6', '--mani_layers')
    assert not (tiny / 'out').exists()
    result = invoke_ok(manipulate, args + ['--mani_layers', '1', '--save_dir', tiny / 'out'])
    assert 'on layers 1 (given with --mani_layers)' in result.output

    (tiny / 'd.json').unlink()
    invoke_ok(directions_cli, ['add', 'mine', tiny / 'd.npy', '--layers', '2,9'])
    result = invoke(manipulate, [tiny / 'g.pt', 'mine', '--nums', 1, '--save_dir', tiny / 'out2'])
    assert_one_line_error(result, 'catalog entry mine', 'layer 9', '--mani_layers')
    assert not (tiny / 'out2').exists()


def test_user_catalog_variable_naming_a_folder_is_refused(tiny, monkeypatch):
    monkeypatch.setenv('GANSEMANTICS_DIRECTIONS_CATALOG', str(tiny))
    result = invoke(manipulate, [tiny / 'g.pt', tiny / 'd.npy', '--nums', 1, '--save_dir', tiny / 'out'])
    assert_one_line_error(result, f'GANSEMANTICS_DIRECTIONS_CATALOG={tiny}', 'folder')
    assert not (tiny / 'out').exists()
