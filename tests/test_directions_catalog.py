"""The directions package: catalog, shipped files, downloads into the cache, verification, the readers, the CLI.

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
from tests.clitools import assert_one_line_error
from tests.conftest import PUBLISHED, ROOT
from utils import download
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
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / 'cache'))
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    monkeypatch.delenv(directions.ENV_DIR, raising=False)
    monkeypatch.setenv(directions.ENV_CATALOG, str(tmp_path / 'local.json'))
    monkeypatch.setenv(directions.ENV_URL, str(published()))
    work = tmp_path / 'work'
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


@pytest.fixture
def unshipped(env):
    """The built-in catalog from a folder without the shipped files: every file has to be downloaded."""
    home = env / 'package'
    home.mkdir()
    shutil.copy(directions.BUILTIN_CATALOG, home / 'catalog.json')
    return directions.load_catalog(builtin=home / 'catalog.json')


def one_line(error):
    text = str(error.value)
    assert '\n' not in text
    return text


def published_copy(entry):
    return published() / MIRRORS[entry.get('source')] / entry.file


def cache_files(env):
    return sorted(str(p.relative_to(env / 'cache')) for p in (env / 'cache').rglob('*') if p.is_file())


# ----------------------------------------------------------------------------
# The built-in catalog and the shipped files.

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
        assert entry.get('url') == prefixes[mirror] + entry.file
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


def test_published_files_are_shipped_byte_for_byte_at_their_original_paths(tmp_path):
    catalog = directions.load_catalog(user_catalog=tmp_path / 'none.json')
    shipped = {}
    for entry in catalog:
        path = entry.shipped_file
        shipped[os.path.relpath(path, ROOT).replace(os.sep, '/')] = entry
        assert open(path, 'rb').read() == published_copy(entry).read_bytes(), entry.id
        assert sha256_of(path) == entry.sha256
    expected = {f'directions/ffhq/stylegan2/{n}.npy' for n in ('eyebrows', 'eyesize', 'gaze_direction', 'lipstick',
                                                               'mouth', 'nose_length')}
    expected |= {'directions/ffhq/stylegan3/eyes-r.npy', 'directions/afhq/stylegan3/eyes-r.npy'}
    expected |= {f'directions/latent_codes/{n}_latents.npy' for n in ('pggan_celebahq1024', 'stylegan_animeface512',
                                                                       'stylegan_car512', 'stylegan_cat256')}
    assert set(shipped) == expected
    for entry in catalog.select('direction'):  # The ReSeFa README's paths name the shipped files.
        assert shipped[entry.path] == entry
    notes = (ROOT / 'directions' / 'PUBLISHED.md').read_text()
    for needle in ('973889c9c62fc7bf7c4e083df38637faa84e16cd', '0d16060208506f5a68df8826bd581a7e0cf0cb4c',
                   'https://github.com/zhujiapeng/resefa', 'https://github.com/genforce/sefa', 'MIT'):
        assert needle in notes
    for licence in ('LICENSE.resefa', 'LICENSE.sefa'):
        assert 'Permission is hereby granted, free of charge' in (ROOT / 'directions' / licence).read_text()
    if shutil.which('git') and (ROOT / '.git').exists():  # Not ignored, so they are committed.
        result = subprocess.run(['git', 'check-ignore', *sorted(shipped)], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 1 and not result.stdout, result.stdout


def test_shipped_files_are_used_offline_without_downloading(env, monkeypatch):
    monkeypatch.setenv(download.OFFLINE_ENV, '1')
    monkeypatch.setenv(directions.ENV_URL, str(env / 'no-such-mirror'))
    eyesize = os.path.join(directions.FOLDER, 'ffhq', 'stylegan2', 'eyesize.npy')
    for name in ('eyesize', 'ffhq/stylegan2/eyesize', 'directions/ffhq/stylegan2/eyesize.npy'):
        direction = directions.read_direction(name, w_dim=512)
        assert direction.path == eyesize and direction.entry.id == 'ffhq/stylegan2/eyesize'
        assert direction.label == 'eyesize'
        np.testing.assert_array_equal(direction.array, np.load(published() / 'resefa-directions' / 'ffhq' /
                                                               'stylegan2' / 'eyesize.npy'))
    monkeypatch.chdir(ROOT)  # From the repository root, the README's path is the shipped file itself.
    direction = directions.read_direction('directions/ffhq/stylegan2/eyesize.npy')
    assert direction.path == 'directions/ffhq/stylegan2/eyesize.npy' and direction.entry.id == 'ffhq/stylegan2/eyesize'
    path, codes, entry = directions.read_latents('stylegan_cat256')
    assert path == os.path.join(directions.FOLDER, 'latent_codes', 'stylegan_cat256_latents.npy')
    assert codes.shape == (10, 14, 512) and entry.id == 'stylegan_cat256'
    assert all(directions.file_status(e) == 'shipped' for e in directions.load_catalog())
    assert not (env / 'cache').exists()


def test_a_modified_shipped_file_is_refused(env, unshipped):
    entry = unshipped.lookup('mouth')
    os.makedirs(os.path.dirname(entry.shipped_file))
    np.save(entry.shipped_file, np.ones([1, 512], np.float32))
    assert directions.file_status(entry) == 'modified'
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction('mouth', catalog=unshipped)
    text = one_line(error)
    assert entry.shipped_file in text and entry.sha256 in text and sha256_of(entry.shipped_file) in text
    assert not (env / 'cache').exists()


# ----------------------------------------------------------------------------
# Downloads into the cache.

def test_cache_location_from_env(env, monkeypatch):
    assert directions.directions_dir() == str(env / 'cache' / 'directions')
    monkeypatch.delenv(download.CACHE_ENV)
    monkeypatch.setenv('XDG_CACHE_HOME', str(env / 'xdg'))
    assert directions.directions_dir() == str(env / 'xdg' / 'gansemantics' / 'directions')
    monkeypatch.setenv(directions.ENV_DIR, str(env / 'mine'))
    assert directions.directions_dir() == str(env / 'mine')


def test_every_entry_downloads_from_a_local_mirror(env, unshipped):
    for entry in unshipped:
        path, found = directions.resolve(entry.id, entry.kind, catalog=unshipped, progress=False)
        assert found == entry
        assert path == os.path.join(env / 'cache', 'directions', entry.source['local_folder'], *entry.file.split('/'))
        assert sha256_of(path) == entry.sha256 == sha256_of(published_copy(entry))
        assert directions.file_status(entry) == 'cached'
        found = directions.resolve(entry.path, entry.kind, catalog=unshipped, download=False)
        assert found == (path, entry)  # Now from the cache.
    assert len(cache_files(env)) == 12 and all(name.endswith('.npy') for name in cache_files(env))


def test_names_paths_and_file_urls(env, unshipped, monkeypatch):
    monkeypatch.setenv(directions.ENV_URL, published().as_uri())
    expected = os.path.join(env / 'cache', 'directions', 'ffhq', 'stylegan2', 'eyesize.npy')
    for name in ('eyesize', 'ffhq/stylegan2/eyesize', 'directions/ffhq/stylegan2/eyesize.npy',
                 'ffhq/stylegan2/eyesize.npy', './directions/ffhq/stylegan2/eyesize.npy'):
        path, entry = directions.resolve(name, 'direction', catalog=unshipped, progress=False)
        assert path == expected and entry.id == 'ffhq/stylegan2/eyesize'
    for name in ('afhq/stylegan3/eyes-r', 'directions/afhq/stylegan3/eyes-r.npy'):
        path, entry = directions.resolve(name, 'direction', catalog=unshipped, progress=False)
        assert entry.id == 'afhq/stylegan3/eyes-r'
    for name in ('stylegan_cat256', 'latent_codes/stylegan_cat256_latents.npy', 'stylegan_cat256_latents'):
        path, entry = directions.resolve(name, 'latents', catalog=unshipped, progress=False)
        assert entry.id == 'stylegan_cat256'
        assert path == os.path.join(env / 'cache', 'directions', 'latent_codes', 'stylegan_cat256_latents.npy')


def test_verified_on_every_use(env, unshipped, monkeypatch):
    entry = unshipped.lookup('nose_length')
    mirror = env / 'mirror'
    bad = mirror / 'resefa-directions' / entry.file
    bad.parent.mkdir(parents=True)
    np.save(bad, np.ones([1, 512], dtype=np.float32))
    monkeypatch.setenv(directions.ENV_URL, str(mirror))
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve('nose_length', 'direction', catalog=unshipped, progress=False)
    text = one_line(error)
    assert entry.sha256 in text and sha256_of(bad) in text and 'nothing was saved' in text
    assert cache_files(env) == []  # Nothing kept, not even a partial file.

    monkeypatch.setenv(directions.ENV_URL, str(published()))
    cached = directions.read_direction('nose_length', catalog=unshipped, progress=False).path
    assert cached == entry.cache_file()
    shutil.copy(bad, cached)  # Changed after the download: the next use is refused.
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction('ffhq/stylegan2/nose_length', catalog=unshipped, download=False)
    text = one_line(error)
    assert entry.sha256 in text and sha256_of(bad) in text and cached in text and 'delete the file' in text


@pytest.mark.parametrize('mirror', ['folder', 'file_url', 'refused_port', 'no_download', 'offline_env'])
def test_offline_message_names_url_and_path(env, unshipped, monkeypatch, mirror):
    missing = env / 'no-such-mirror'
    url = {'folder': str(missing), 'file_url': missing.as_uri(), 'refused_port': 'http://127.0.0.1:9/x',
           'no_download': str(published()), 'offline_env': str(published())}[mirror]
    monkeypatch.setenv(directions.ENV_URL, url)
    if mirror == 'offline_env':
        monkeypatch.setenv(download.OFFLINE_ENV, '1')
    entry = unshipped.lookup('stylegan_car512')
    with pytest.raises(directions.CatalogError) as error:
        directions.read_latents('stylegan_car512', catalog=unshipped, download=mirror != 'no_download',
                                progress=False)
    text = one_line(error)
    assert text.startswith('latent codes stylegan_car512 is not on this machine and cannot be downloaded (')
    assert text.endswith(f': download {entry.download_url()} and save it as {entry.cache_file()}')
    if mirror == 'offline_env':
        assert '(GANSEMANTICS_OFFLINE is set)' in text
    assert not (env / 'cache').exists()


def test_public_url_without_a_mirror(monkeypatch, tmp_path, unshipped):
    monkeypatch.delenv(directions.ENV_URL, raising=False)
    entry = unshipped.lookup('lipstick')
    assert entry.download_url() == entry.get('url')
    assert entry.cache_file(tmp_path) == os.path.join(tmp_path, 'ffhq', 'stylegan2', 'lipstick.npy')
    with pytest.raises(directions.CatalogError) as error:
        directions.fetch(entry, cache_dir=tmp_path, download=False)
    text = one_line(error)
    assert 'https://raw.githubusercontent.com/zhujiapeng/resefa/main/directions/ffhq/stylegan2/lipstick.npy' in text
    assert os.path.join(tmp_path, 'ffhq', 'stylegan2', 'lipstick.npy') in text


# ----------------------------------------------------------------------------
# Names and paths.

def test_existing_files_are_used_as_they_are(env):
    eyesize = directions.load_catalog().lookup('eyesize')
    copy = env / 'work' / 'mine.npy'
    shutil.copy(published_copy(eyesize), copy)
    assert directions.resolve(str(copy), 'direction') == (str(copy), eyesize)
    other = env / 'work' / 'other.npy'
    np.save(other, np.eye(2, 512, dtype=np.float32))
    assert directions.resolve(other, 'direction') == (str(other), None)
    assert not (env / 'cache').exists()


def test_original_layout_in_the_working_folder_is_verified(env):
    target = env / 'work' / 'directions' / 'ffhq' / 'stylegan2' / 'mouth.npy'
    target.parent.mkdir(parents=True)
    shutil.copy(published_copy(directions.load_catalog().lookup('mouth')), target)
    path, entry = directions.resolve('directions/ffhq/stylegan2/mouth.npy', 'direction')
    assert path == 'directions/ffhq/stylegan2/mouth.npy' and entry.id == 'ffhq/stylegan2/mouth'
    np.save(target, np.ones([1, 512], dtype=np.float32))
    with pytest.raises(directions.CatalogError) as error:
        directions.resolve('directions/ffhq/stylegan2/mouth.npy', 'direction')
    text = one_line(error)
    assert sha256_of(target) in text and entry.sha256 in text


def test_unknown_name_suggests_close_matches(env):
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction('eyesise')
    assert 'ffhq/stylegan2/eyesize' in one_line(error)
    with pytest.raises(directions.CatalogError) as error:
        directions.read_latents('stylegan_cat512')
    assert 'stylegan_cat256' in one_line(error)
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction('pggan_celebahq1024')
    assert 'latent codes' in one_line(error)


def test_ambiguous_short_name(env):
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction('eyes-r')
    text = one_line(error)
    assert 'ffhq/stylegan3/eyes-r' in text and 'afhq/stylegan3/eyes-r' in text and 'ambiguous' in text
    labels = {directions.read_direction(name).label for name in ('ffhq/stylegan3/eyes-r', 'afhq/stylegan3/eyes-r')}
    assert labels == {'ffhq_stylegan3_eyes-r', 'afhq_stylegan3_eyes-r'}


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

    direction = directions.read_direction('cats')
    assert direction.path == str(npy) and direction.entry == entry and direction.entry.origin == 'local'
    assert direction.entry.get('method') == 'sefa' and direction.entry.get('description') == 'my cats'
    assert direction.label == 'cats' and direction.advice_from == 'catalog entry ffhq/mine/cats'
    assert directions.read_direction('ffhq/mine/cats').entry == entry
    np.testing.assert_array_equal(direction.array, rows)
    assert directions.read_direction('eyesize').entry.origin == 'builtin'

    entry = directions.add_local_entry('ffhq/mine/cats', npy, recommended_layers=[2, 3], distance_range=(-3, 3))
    assert directions.read_direction('cats').recommended_layers == [2, 3]
    assert entry.distance_range == (-3.0, 3.0)
    assert len(json.loads((env / 'local.json').read_text())['entries']) == 1

    np.save(npy, -rows)
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction('cats')
    assert sha256_of(npy) in one_line(error) and entry.sha256 in one_line(error)
    assert directions.resolve(npy, 'direction') == (str(npy), None)  # By path, a changed file is used as it is.

    for taken in ('eyesize', 'ffhq/stylegan2/eyesize', 'pggan_celebahq1024'):
        with pytest.raises(directions.CatalogError, match='taken'):
            directions.add_local_entry(taken, npy)
    with pytest.raises(directions.CatalogError, match='name'):
        directions.add_local_entry('bad name', npy)


def _user_entry(**fields):
    return json.dumps({'format': 1, 'entries': [{'id': 'x', 'kind': 'direction', 'path': 'x.npy', 'sha256': '0' * 64,
                                                 'shape': [1, 8], **fields}]})


BROKEN_USER_CATALOGS = {  # name: (text of the user catalog, the key word of the one-line message after its path)
    'lacks_fields': ('{"format": 1, "entries": [{"id": "x"}]}', 'lacks kind, path, sha256, shape'),
    'far': (_user_entry(distance_range=[-1e30, 1e30]), 'distance_range'),
    'huge_int': (_user_entry(distance_range=[0, 10 ** 400]), 'distance_range'),
    'layers': (_user_entry(recommended_layers=[-1]), 'recommended_layers'),
    'nested': ('[' * 100000 + ']' * 100000, 'nested too deeply'),
}


@pytest.mark.parametrize('case', sorted(BROKEN_USER_CATALOGS))
def test_broken_user_catalog_is_named(env, case):
    text, words = BROKEN_USER_CATALOGS[case]
    (env / 'local.json').write_text(text)
    with pytest.raises(directions.CatalogError) as error:
        directions.load_catalog()
    assert one_line(error).startswith(f'{env / "local.json"}: ') and words in one_line(error), one_line(error)


def test_user_catalog_variable_naming_a_folder_is_refused(env, monkeypatch):
    folder = env / 'catalogs'
    folder.mkdir()
    monkeypatch.setenv(directions.ENV_CATALOG, str(folder))
    words = f'GANSEMANTICS_DIRECTIONS_CATALOG={folder}: is a folder'
    with pytest.raises(directions.CatalogError, match=re.escape(words)):
        directions.load_catalog()
    npy = env / 'work' / 'd.npy'
    np.save(npy, np.eye(2, 8, dtype=np.float32))
    for args in (['list'], ['add', 'mine', npy]):
        assert_one_line_error(CliRunner().invoke(cli, [str(a) for a in args]), words)
    assert list(folder.iterdir()) == []
    with pytest.raises(directions.CatalogError, match=re.escape(f'{folder}: is a folder')):
        directions.load_catalog(user_catalog=folder)


# ----------------------------------------------------------------------------
# Command line.

def test_cli_list(env, unshipped):
    result = subprocess.run([sys.executable, '-m', 'directions', 'list'], cwd=ROOT, env=dict(os.environ),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ['name', 'kind', 'model', 'layers', 'distances', 'file']
    rows = {line.split()[0]: line.split() for line in lines[1:13]}
    assert len(rows) == 12
    assert rows['ffhq/stylegan2/lipstick'] == ['ffhq/stylegan2/lipstick', 'direction', 'stylegan2-ffhq-1024', '8-11',
                                               '-10..10', 'shipped']
    assert rows['afhq/stylegan3/eyes-r'][1:] == ['direction', 'stylegan3-r-afhqv2-512', '4-7', '-10..10', 'shipped']
    assert rows['pggan_celebahq1024'][1] == 'latents' and rows['pggan_celebahq1024'][-1] == 'shipped'
    assert f'downloads go to {env / "cache" / "directions"}' in result.stdout


def test_cli_fetch_show_and_add(env):
    runner = CliRunner()
    result = runner.invoke(cli, ['fetch', 'eyes-r'])
    assert result.exit_code == 1 and 'ambiguous' in result.output
    result = runner.invoke(cli, ['fetch', '--all', '--no-progress'])
    assert result.exit_code == 0, result.output
    assert f'ffhq/stylegan2/eyesize: {os.path.join(directions.FOLDER, "ffhq", "stylegan2", "eyesize.npy")}' \
        in result.output
    assert not (env / 'cache').exists()  # Everything is shipped.
    result = runner.invoke(cli, ['show', 'lipstick'])
    assert result.exit_code == 0 and json.loads(result.output)['file'] == 'shipped'

    npy = env / 'work' / 'smile.npy'
    np.save(npy, np.linalg.qr(np.random.RandomState(1).randn(512, 2))[0].T.astype(np.float32))
    result = runner.invoke(cli, ['add', 'smile', str(npy), '--layers', '4-7', '--distance', '-5', '5'])
    assert result.exit_code == 0, result.output
    direction = directions.read_direction('smile')
    assert direction.recommended_layers == [4, 5, 6, 7] and direction.distance_range == (-5.0, 5.0)
    result = runner.invoke(cli, ['add', 'mouth', str(npy)])
    assert result.exit_code == 1 and 'taken' in result.output


@pytest.mark.parametrize('distance', [['nan', '1'], ['-1e30', '1e30'], ['0', '1000001']])
def test_cli_add_refuses_distances_beyond_the_bound(env, distance):
    npy = env / 'work' / 'd.npy'
    np.save(npy, np.eye(2, 8, dtype=np.float32))
    result = CliRunner().invoke(cli, ['add', 'big', str(npy), '--distance', *distance])
    assert_one_line_error(result, '--distance', 'START and END must be numbers from -1000000 to 1000000')
    assert 'local.json' not in result.output and not (env / 'local.json').exists()
    with pytest.raises(directions.CatalogError) as error:
        directions.add_local_entry('big', npy, distance_range=[float(d) for d in distance])
    assert one_line(error).startswith('distance_range must be [start, end], two numbers from -1000000 to 1000000')
    assert not (env / 'local.json').exists()
