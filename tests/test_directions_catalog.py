"""The catalog of published directions and latent codes: resolution, fetching, verification, user entries, CLI.

The published copies in ../shared/published/ stand in for the public URLs (a
local mirror); nothing here touches the network.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import directions
from directions.__main__ import main as cli
from tests.conftest import PUBLISHED, ROOT
from utils.fileio import sha256_of

MIRRORS = {'resefa': 'resefa-directions', 'sefa': 'sefa-latent-codes'}


def published():
    """The published copies; skips the test when ../shared is absent."""
    if not (PUBLISHED / 'SHA256SUMS').is_file():
        pytest.skip(f'published files not found under {PUBLISHED} (../shared is absent)')
    return PUBLISHED


def published_sums():
    sums = {}
    for line in (published() / 'SHA256SUMS').read_text().splitlines():
        digest, path = line.split()
        sums[path[2:] if path.startswith('./') else path] = digest
    return sums


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty cache, an empty user catalog, the published copies as the mirror, and a neutral working folder."""
    cache = tmp_path / 'cache'
    monkeypatch.setenv(directions.ENV_DIR, str(cache))
    monkeypatch.setenv(directions.ENV_CATALOG, str(tmp_path / 'local.json'))
    monkeypatch.setenv(directions.ENV_URL, str(published()))
    work = tmp_path / 'work'
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def one_line(error):
    text = str(error.value)
    assert '\n' not in text
    return text


def published_copy(entry):
    return published() / MIRRORS[entry.get('source')] / entry.file


# ----------------------------------------------------------------------------
# The built-in catalog.

def test_catalog_lists_every_published_file_with_its_sum_and_url(tmp_path):
    sums = published_sums()
    readme = (published() / 'README.md').read_text()
    prefixes = dict(re.findall(r'`([\w-]+)/`.*?`(https://\S+/)`', readme))
    catalog = directions.load_catalog(user_catalog=tmp_path / 'none.json')
    builtin = catalog.select()
    assert len(builtin) == len(sums) == 12
    for entry in builtin:
        mirror = MIRRORS[entry.get('source')]
        assert sums.pop(f'{mirror}/{entry.file}') == entry.sha256, entry.id
        assert entry.url == prefixes[mirror] + entry.file
        assert entry.source['url_prefix'] == prefixes[mirror]
        assert entry.get('description') and entry.get('model') and entry.get('family')
    assert not sums
    names = {entry.id: entry for entry in builtin}
    for name in ('eyesize', 'eyebrows', 'gaze_direction', 'lipstick', 'mouth', 'nose_length'):
        entry = names[f'ffhq/stylegan2/{name}']
        assert entry.path == f'directions/ffhq/stylegan2/{name}.npy'
        assert entry.shape == (1, 512) and entry.get('img_resolution') == 1024
        assert entry.recommended_layers == ([8, 9, 10, 11] if name in ('eyebrows', 'lipstick') else [4, 5, 6, 7])
        assert entry.distance_range == (-10.0, 10.0)
    assert names['afhq/stylegan3/eyes-r'].get('img_resolution') == 512
    assert names['ffhq/stylegan3/eyes-r'].get('family') == 'stylegan3'
    spaces = {e.id: (e.get('space'), e.shape) for e in catalog.select('latents')}
    assert spaces == {'pggan_celebahq1024': ('z', (10, 512)), 'stylegan_animeface512': ('wp', (23, 16, 512)),
                      'stylegan_car512': ('wp', (10, 16, 512)), 'stylegan_cat256': ('wp', (10, 14, 512))}


# ----------------------------------------------------------------------------
# Resolution and fetching.

def test_every_entry_resolves_from_a_local_mirror(env):
    catalog = directions.load_catalog()
    for entry in catalog.select():
        resolve = directions.resolve_direction if entry.kind == 'direction' else directions.resolve_latents
        path, found = resolve(entry.id, progress=False)
        assert found == entry
        assert path == os.path.join(env / 'cache', entry.source['cache_folder'], *entry.file.split('/'))
        assert sha256_of(path) == entry.sha256 == sha256_of(published_copy(entry))
        assert resolve(entry.path, download=False) == (path, entry)  # Now served from the cache.
    assert not [name for _, _, files in os.walk(env / 'cache') for name in files if not name.endswith('.npy')]


def test_names_paths_and_file_urls(env, monkeypatch):
    monkeypatch.setenv(directions.ENV_URL, published().as_uri())
    expected = os.path.join(env / 'cache', 'ffhq', 'stylegan2', 'eyesize.npy')
    for name in ('eyesize', 'ffhq/stylegan2/eyesize', 'directions/ffhq/stylegan2/eyesize.npy',
                 'ffhq/stylegan2/eyesize.npy', './directions/ffhq/stylegan2/eyesize.npy'):
        path, entry = directions.resolve_direction(name, progress=False)
        assert path == expected and entry.id == 'ffhq/stylegan2/eyesize'
    for name in ('afhq/stylegan3/eyes-r', 'directions/afhq/stylegan3/eyes-r.npy'):
        assert directions.resolve_direction(name, progress=False).entry.id == 'afhq/stylegan3/eyes-r'
    for name in ('stylegan_cat256', 'latent_codes/stylegan_cat256_latents.npy', 'stylegan_cat256_latents'):
        path, entry = directions.resolve_latents(name, progress=False)
        assert entry.id == 'stylegan_cat256'
        assert path == os.path.join(env / 'cache', 'latent_codes', 'stylegan_cat256_latents.npy')


def test_existing_files_are_used_as_they_are(env):
    eyesize = directions.load_catalog().lookup('eyesize')
    copy = env / 'work' / 'mine.npy'
    shutil.copy(published_copy(eyesize), copy)
    assert directions.resolve_direction(str(copy)) == (str(copy), eyesize)
    other = env / 'work' / 'other.npy'
    np.save(other, np.eye(2, 512, dtype=np.float32))
    assert directions.resolve_direction(other) == (str(other), None)
    assert not (env / 'cache').exists()


def test_original_layout_in_the_working_folder_is_verified(env):
    target = env / 'work' / 'directions' / 'ffhq' / 'stylegan2' / 'mouth.npy'
    target.parent.mkdir(parents=True)
    shutil.copy(published_copy(directions.load_catalog().lookup('mouth')), target)
    path, entry = directions.resolve_direction('directions/ffhq/stylegan2/mouth.npy')
    assert path == 'directions/ffhq/stylegan2/mouth.npy' and entry.id == 'ffhq/stylegan2/mouth'
    np.save(target, np.ones([1, 512], dtype=np.float32))
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_direction('directions/ffhq/stylegan2/mouth.npy')
    text = one_line(error)
    assert sha256_of(target) in text and entry.sha256 in text


def test_checksum_mismatch_is_refused_with_both_sums(env, monkeypatch):
    entry = directions.load_catalog().lookup('nose_length')
    mirror = env / 'mirror'
    bad = mirror / 'resefa-directions' / entry.file
    bad.parent.mkdir(parents=True)
    np.save(bad, np.ones([1, 512], dtype=np.float32))
    monkeypatch.setenv(directions.ENV_URL, str(mirror))
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_direction('nose_length', progress=False)
    text = one_line(error)
    assert entry.sha256 in text and sha256_of(bad) in text
    assert not any(p.is_file() for p in (env / 'cache').rglob('*'))  # Nothing kept, not even a partial file.

    cached = entry.local_file()
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    shutil.copy(bad, cached)
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_direction('ffhq/stylegan2/nose_length', download=False)
    text = one_line(error)
    assert entry.sha256 in text and sha256_of(bad) in text and cached in text


def test_unknown_name_suggests_close_matches(env):
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_direction('eyesise')
    assert 'ffhq/stylegan2/eyesize' in one_line(error)
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_latents('stylegan_cat512')
    assert 'stylegan_cat256' in one_line(error)
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_direction('pggan_celebahq1024')
    assert 'latent codes' in one_line(error)


def test_ambiguous_short_name(env):
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_direction('eyes-r')
    text = one_line(error)
    assert 'ffhq/stylegan3/eyes-r' in text and 'afhq/stylegan3/eyes-r' in text and 'ambiguous' in text
    assert not (env / 'cache').exists()


@pytest.mark.parametrize('mirror', ['folder', 'file_url', 'refused_port', 'no_download'])
def test_offline_message_names_url_and_path(env, monkeypatch, mirror):
    missing = env / 'no-such-mirror'
    url = {'folder': str(missing), 'file_url': missing.as_uri(), 'refused_port': 'http://127.0.0.1:9/x',
           'no_download': str(published())}[mirror]
    monkeypatch.setenv(directions.ENV_URL, url)
    entry = directions.load_catalog().lookup('stylegan_car512')
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_latents('stylegan_car512', download=mirror != 'no_download', progress=False)
    text = one_line(error)
    assert entry.download_url() in text and entry.local_file() in text
    assert not os.path.exists(entry.local_file())


def test_public_url_without_a_mirror(monkeypatch, tmp_path):
    monkeypatch.delenv(directions.ENV_URL, raising=False)
    entry = directions.load_catalog(tmp_path / 'none.json').lookup('lipstick')
    assert entry.download_url() == entry.url
    assert entry.local_file(tmp_path) == os.path.join(tmp_path, 'ffhq', 'stylegan2', 'lipstick.npy')
    with pytest.raises(directions.CatalogError) as error:
        directions.fetch(entry, cache_dir=tmp_path, download=False)
    text = one_line(error)
    assert 'https://raw.githubusercontent.com/zhujiapeng/resefa/main/directions/ffhq/stylegan2/lipstick.npy' in text
    assert os.path.join(tmp_path, 'ffhq', 'stylegan2', 'lipstick.npy') in text


# ----------------------------------------------------------------------------
# Loading.

def test_published_directions_load_as_unit_rows(env):
    for entry in directions.load_catalog().select('direction'):
        array = directions.load_direction(directions.resolve_direction(entry.id, progress=False), w_dim=512)
        assert array.dtype == np.float32 and array.shape == (1, 512)
        assert abs(float(np.linalg.norm(array[0])) - 1) <= 1e-6


def test_load_direction_validates(tmp_path):
    one = tmp_path / 'one.npy'
    np.save(one, np.arange(1, 9, dtype=np.float64))
    array = directions.load_direction(one)
    assert array.shape == (1, 8) and array.dtype == np.float32
    cases = {'nan': np.full([2, 8], np.nan, np.float32), 'rank': np.ones([1, 2, 8], np.float32),
             'int': np.ones([2, 8], np.int64), 'zero': np.zeros([2, 8], np.float32)}
    for name, value in cases.items():
        np.save(tmp_path / f'{name}.npy', value)
        with pytest.raises(directions.CatalogError, match=re.escape(str(tmp_path / f'{name}.npy'))):
            directions.load_direction(tmp_path / f'{name}.npy')
    with pytest.raises(directions.CatalogError, match='w_dim 512'):
        directions.load_direction(one, w_dim=512)
    (tmp_path / 'text.npy').write_text('not an array')
    with pytest.raises(directions.CatalogError, match='not a .npy array'):
        directions.load_direction(tmp_path / 'text.npy')


# ----------------------------------------------------------------------------
# User entries.

def test_add_local_entry_round_trip(env):
    rows = np.linalg.qr(np.random.RandomState(0).randn(512, 3))[0].T.astype(np.float32)  # [3, 512]
    npy = env / 'work' / 'out' / 'cat_directions.npy'
    npy.parent.mkdir()
    np.save(npy, rows)
    sidecar = {'method': 'sefa', 'layers': [0, 1], 'eigenvalues': [3.0, 2.0, 1.0], 'source': 'model.pkl',
               'checkpoint_sha256': '0' * 64, 'shape': [3, 512], 'sha256': 'abc'}
    (npy.parent / 'cat_directions.json').write_text(json.dumps(sidecar))
    entry = directions.add_local_entry('ffhq/mine/cats', npy, description='my cats')
    assert entry.recommended_layers == [0, 1] and entry.distance_range is None
    assert entry.get('eigenvalues') == [3.0, 2.0, 1.0] and entry.get('sidecar_sha256') == 'abc'
    assert entry.get('sidecar_shape') is None and entry.shape == (3, 512)

    path, found = directions.resolve_direction('cats')
    assert path == str(npy) and found == entry and found.origin == 'local'
    assert found.get('method') == 'sefa' and found.get('description') == 'my cats'
    assert directions.resolve_direction('ffhq/mine/cats').entry == entry
    np.testing.assert_array_equal(directions.load_direction(directions.Resolved(path, found)), rows)
    assert directions.resolve_direction('eyesize', progress=False).entry.origin == 'builtin'

    entry = directions.add_local_entry('ffhq/mine/cats', npy, recommended_layers=[2, 3], distance_range=(-3, 3))
    assert directions.resolve_direction('cats').entry.recommended_layers == [2, 3]
    assert entry.distance_range == (-3.0, 3.0)
    assert len(json.loads((env / 'local.json').read_text())['entries']) == 1

    np.save(npy, -rows)
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve_direction('cats')
    assert sha256_of(npy) in one_line(error) and entry.sha256 in one_line(error)
    assert directions.resolve_direction(npy) == (str(npy), None)  # By path, a changed file is used as it is.

    for taken in ('eyesize', 'ffhq/stylegan2/eyesize', 'pggan_celebahq1024'):
        with pytest.raises(directions.CatalogError, match='taken'):
            directions.add_local_entry(taken, npy)
    with pytest.raises(directions.CatalogError, match='name'):
        directions.add_local_entry('bad name', npy)


def test_broken_user_catalog_is_named(env):
    (env / 'local.json').write_text('{"format": 1, "entries": [{"id": "x"}]}')
    with pytest.raises(directions.CatalogError, match=re.escape(str(env / 'local.json'))):
        directions.load_catalog()


# ----------------------------------------------------------------------------
# Command line.

def test_cli_list(env):
    directions.resolve_direction('lipstick', progress=False)
    result = subprocess.run([sys.executable, '-m', 'directions', 'list'], cwd=ROOT, env=dict(os.environ),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ['name', 'kind', 'model', 'layers', 'distances', 'present']
    rows = {line.split()[0]: line.split() for line in lines[1:13]}
    assert len(rows) == 12
    assert rows['ffhq/stylegan2/lipstick'] == ['ffhq/stylegan2/lipstick', 'direction', 'stylegan2-ffhq-1024', '8-11',
                                               '-10..10', 'yes']
    assert rows['afhq/stylegan3/eyes-r'][1:] == ['direction', 'stylegan3-r-afhqv2-512', '4-7', '-10..10', 'no']
    assert rows['pggan_celebahq1024'][1] == 'latents' and rows['pggan_celebahq1024'][-1] == 'no'


def test_cli_fetch_and_add(env):
    runner = CliRunner()
    result = runner.invoke(cli, ['fetch', 'eyes-r'])
    assert result.exit_code == 1 and 'ambiguous' in result.output
    result = runner.invoke(cli, ['fetch', '--all', '--no-progress'])
    assert result.exit_code == 0, result.output
    assert all(directions.file_status(e) == 'yes' for e in directions.load_catalog())

    npy = env / 'work' / 'smile.npy'
    np.save(npy, np.linalg.qr(np.random.RandomState(1).randn(512, 2))[0].T.astype(np.float32))
    result = runner.invoke(cli, ['add', 'smile', str(npy), '--layers', '4-7', '--distance', '-5', '5'])
    assert result.exit_code == 0, result.output
    entry = directions.resolve_direction('smile').entry
    assert entry.recommended_layers == [4, 5, 6, 7] and entry.distance_range == (-5.0, 5.0)
    result = runner.invoke(cli, ['add', 'mouth', str(npy)])
    assert result.exit_code == 1 and 'taken' in result.output
