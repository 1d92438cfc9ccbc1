"""manipulate.py with catalog names: published directions and prepared latent codes."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import manipulate
from models import build_generator
from tests.conftest import PUBLISHED


@pytest.fixture()
def mirror(monkeypatch, tmp_path):
    if not PUBLISHED.is_dir():
        pytest.skip(f'published files not found under {PUBLISHED} (../shared is absent)')
    monkeypatch.setenv('GANSEMANTICS_DIRECTIONS_URL', str(PUBLISHED))
    monkeypatch.setenv('GANSEMANTICS_DIRECTIONS_DIR', str(tmp_path / 'cache'))
    return tmp_path


def save_model(path, family, **config):
    torch.manual_seed(0)
    G = build_generator(family, config)
    if family == 'stylegan2':
        torch.save(G.state_dict(), path)
    else:
        raise ValueError(family)
    return path


def run(args):
    return CliRunner().invoke(manipulate.main, [str(a) for a in args], catch_exceptions=False)


def test_catalog_name_sets_layers_and_distances(mirror):
    model = save_model(mirror / 'g.pt', 'stylegan2', z_dim=512, w_dim=512, img_resolution=128, channel_base=256,
                       channel_max=8, mapping_layers=2)
    result = run([model, 'eyesize', '--nums', 2, '--step', 3, '--save_dir', mirror / 'out', '--no-gif'])
    assert result.exit_code == 0, result.output
    assert 'on layers 4,5,6,7 (recommended by the catalog), distances -10..10' in result.output
    html = (mirror / 'out' / 'seed_4_num_2_stylegan2_eyesize_resefa.html').read_text()
    assert 'Layers: 4,5,6,7 (recommended by the catalog); distances: -10, 0, 10' in html
    assert 'catalog entry ffhq/stylegan2/eyesize' in html
    result = run([model, 'lipstick', '--nums', 1, '--step', 2, '--save_dir', mirror / 'out2', '--no-gif'])
    assert result.exit_code == 0, result.output
    assert 'on layers 8,9,10,11 (recommended by the catalog)' in result.output
    result = run([model, 'directions/ffhq/stylegan2/mouth.npy', '--nums', 1, '--step', 2, '--mani_layers', '2,3',
                  '--start_distance', -2, '--save_dir', mirror / 'out3', '--no-gif'])
    assert result.exit_code == 0, result.output
    assert 'on layers 2,3 (given with --mani_layers), distances -2..10' in result.output


def test_published_direction_needs_matching_w_dim(mirror):
    model = save_model(mirror / 'g.pt', 'stylegan2', z_dim=64, w_dim=64, img_resolution=16, channel_base=64,
                       channel_max=4, mapping_layers=1)
    result = run([model, 'eyesize', '--nums', 1, '--save_dir', mirror / 'out'])
    assert result.exit_code != 0
    assert 'directions have 512 values each, but the model has w_dim=64' in result.output


def test_prepared_wplus_codes_drive_manipulate(mirror):
    model = save_model(mirror / 'g.pt', 'stylegan2', z_dim=512, w_dim=512, img_resolution=256, channel_base=256,
                       channel_max=2, mapping_layers=1)
    np.save(mirror / 'd.npy', np.eye(1, 512, dtype=np.float32))
    result = run([model, mirror / 'd.npy', '--latent_path', 'stylegan_cat256', '--nums', 2, '--step', 2,
                  '--save_dir', mirror / 'out', '--no-gif', '--vis_size', 32])
    assert result.exit_code == 0, result.output
    saved = np.load(next((mirror / 'out').rglob('latent_codes.npy')))
    published = np.load(PUBLISHED / 'sefa-latent-codes' / 'stylegan_cat256_latents.npy')
    assert saved.shape == (2, 14, 512)
    assert np.array_equal(saved, published[:2].astype(np.float32))
