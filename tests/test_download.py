"""The downloader and its cache (utils/download.py), and the model zoo resolving checkpoints through it.

Every download here reads a file:// URL or a local file; nothing touches the network.
"""

import hashlib
import os
from pathlib import Path

import pytest

from models import zoo
from utils import download

DATA = b'0123456789' * 1000


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder through $GANSEMANTICS_CACHE, downloads on, a neutral working folder."""
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / 'cache'))
    monkeypatch.delenv(download.OFFLINE_ENV, raising=False)
    monkeypatch.delenv(zoo.CHECKPOINTS_ENV, raising=False)
    work = tmp_path / 'work'
    work.mkdir()
    monkeypatch.chdir(work)
    source = tmp_path / 'server' / 'model.bin'
    source.parent.mkdir()
    source.write_bytes(DATA)
    return source


def one_line(error):
    text = str(error.value)
    assert '\n' not in text
    return text


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob('*') if p.is_file())


# ----------------------------------------------------------------------------
# The cache folder.

def test_cache_folder_follows_the_xdg_convention(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    monkeypatch.delenv(download.CACHE_ENV, raising=False)
    monkeypatch.delenv('XDG_CACHE_HOME', raising=False)
    assert download.cache_dir() == str(tmp_path / 'home' / '.cache' / 'gansemantics')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert download.cache_dir('checkpoints') == str(tmp_path / 'xdg' / 'gansemantics' / 'checkpoints')
    monkeypatch.setenv(download.CACHE_ENV, str(tmp_path / 'mine'))
    assert download.cache_dir('directions', 'x.npy') == str(tmp_path / 'mine' / 'directions' / 'x.npy')
    assert not (tmp_path / 'mine').exists()  # Naming the folder creates nothing.


def test_default_cache_is_outside_the_source_tree(monkeypatch):
    for name in (download.CACHE_ENV, 'XDG_CACHE_HOME'):
        monkeypatch.delenv(name, raising=False)
    root = Path(__file__).resolve().parents[1]
    assert not Path(download.cache_dir()).resolve().is_relative_to(root)


# ----------------------------------------------------------------------------
# Fetching.

def test_fetch_from_a_file_url_records_the_digest(cache, tmp_path):
    target = download.cache_dir('checkpoints', 'model.bin')
    assert download.cached_file(target, cache.as_uri(), progress=False) == target
    assert Path(target).read_bytes() == DATA
    record = Path(target + '.sha256')
    assert record.read_text() == f'{sha(DATA)}  model.bin\n'  # sha256sum format
    assert files_under(tmp_path / 'cache') == ['checkpoints/model.bin', 'checkpoints/model.bin.sha256']
    assert download.cached_file(target, 'http://127.0.0.1:9/never-asked', download=False) == target


def test_a_local_file_is_a_source_too(cache):
    target = download.cache_dir('copy.bin')
    assert download.fetch(str(cache), target, sha256=sha(DATA), progress=False) == sha(DATA)
    assert Path(target).read_bytes() == DATA
    assert not Path(target + '.sha256').exists()  # A published sum needs no record.


def test_progress_bar_counts_bytes(cache, capsys):
    download.fetch(cache.as_uri(), download.cache_dir('bar.bin'), progress=True)
    err = capsys.readouterr().err
    assert 'bar.bin' in err and '9.77k/9.77k' in err  # 10000 bytes, total known, in KiB.


def test_sha256_mismatch_is_refused_and_nothing_is_left(cache, tmp_path):
    target = download.cache_dir('checkpoints', 'model.bin')
    with pytest.raises(download.DownloadError) as error:
        download.cached_file(target, cache.as_uri(), sha256='0' * 64, progress=False)
    text = one_line(error)
    assert cache.as_uri() in text and sha(DATA) in text and '0' * 64 in text and 'nothing was saved' in text
    assert files_under(tmp_path / 'cache') == []


@pytest.mark.parametrize('how', ['missing_file', 'refused_port', 'offline_env', 'no_download'])
def test_unavailable_names_url_and_where_to_save(cache, tmp_path, monkeypatch, how):
    url = {'missing_file': (tmp_path / 'nothing.bin').as_uri(), 'refused_port': 'http://127.0.0.1:9/model.bin',
           'offline_env': cache.as_uri(), 'no_download': cache.as_uri()}[how]
    if how == 'offline_env':
        monkeypatch.setenv(download.OFFLINE_ENV, '1')
    target = download.cache_dir('checkpoints', 'model.bin')
    with pytest.raises(download.DownloadError) as error:
        download.cached_file(target, url, what='checkpoint demo', download=how != 'no_download', progress=False)
    text = one_line(error)
    assert text.startswith('checkpoint demo is not on this machine and cannot be downloaded (')
    assert text.endswith(f': download {url} and save it as {target}')
    if how == 'offline_env':
        assert '(GANSEMANTICS_OFFLINE is set)' in text
    assert files_under(tmp_path / 'cache') == []


def test_offline_zero_means_online(cache, monkeypatch):
    monkeypatch.setenv(download.OFFLINE_ENV, '0')
    assert not download.offline()
    download.fetch(cache.as_uri(), download.cache_dir('a.bin'), progress=False)
    monkeypatch.setenv(download.OFFLINE_ENV, 'yes')
    assert download.offline()


# ----------------------------------------------------------------------------
# Verification on every use.

def test_recorded_digest_is_checked_on_the_next_use(cache):
    target = download.cache_dir('model.bin')
    download.cached_file(target, cache.as_uri(), progress=False)
    Path(target).write_bytes(DATA[:-1] + b'x')
    with pytest.raises(download.DownloadError) as error:
        download.cached_file(target, cache.as_uri(), what='checkpoint demo', progress=False)
    text = one_line(error)
    assert target in text and sha(DATA) in text and sha(DATA[:-1] + b'x') in text
    assert f'delete the file (and {target}.sha256) to fetch it again' in text
    os.remove(target)
    assert download.cached_file(target, cache.as_uri(), progress=False) == target  # Fetched again, record rewritten.
    assert Path(target + '.sha256').read_text().split()[0] == sha(DATA)


def test_published_digest_is_checked_on_every_use(cache):
    target = Path(download.cache_dir('model.bin'))
    target.parent.mkdir(parents=True)
    target.write_bytes(b'something else')
    with pytest.raises(download.DownloadError) as error:
        download.cached_file(str(target), cache.as_uri(), sha256=sha(DATA), progress=False)
    text = one_line(error)
    assert sha(DATA) in text and sha(b'something else') in text and 'delete the file to fetch it again' in text
    assert not Path(str(target) + '.sha256').exists()


def test_a_file_put_by_hand_is_recorded_on_first_use(tmp_path):
    path = tmp_path / 'mine.pkl'
    path.write_bytes(DATA)
    assert download.verify(path) == sha(DATA)
    assert (tmp_path / 'mine.pkl.sha256').read_text() == f'{sha(DATA)}  mine.pkl\n'
    assert download.verify(path) == sha(DATA)
    (tmp_path / 'mine.pkl.sha256').write_text('garbage\n')
    with pytest.raises(download.DownloadError, match='not a recorded SHA-256'):
        download.verify(path)


def test_record_goes_to_the_cache_when_the_folder_is_not_writable(cache, tmp_path, monkeypatch):
    path = tmp_path / 'readonly' / 'model.pkl'
    path.parent.mkdir()
    path.write_bytes(DATA)
    save_text = download.save_text

    def refuse_beside(target, text):
        if str(target).startswith(str(path.parent)):
            raise PermissionError(13, 'Permission denied')
        save_text(target, text)

    monkeypatch.setattr(download, 'save_text', refuse_beside)
    download.verify(path)
    record = download.record_path(path)
    assert record.startswith(download.cache_dir('sha256')) and record.endswith('-model.pkl.sha256')
    path.write_bytes(DATA + b'!')
    with pytest.raises(download.DownloadError, match=record):
        download.verify(path)


def test_digest_is_remembered_per_size_and_mtime(tmp_path, monkeypatch):
    path = tmp_path / 'big.bin'
    path.write_bytes(DATA)
    digest = sha(DATA)
    assert download.file_sha256(path) == digest
    monkeypatch.setattr(download.hashlib, 'sha256', lambda *args: pytest.fail('hashed twice'))
    assert download.file_sha256(path) == digest
    monkeypatch.undo()
    path.write_bytes(DATA + b'more')
    assert download.file_sha256(path) == sha(DATA + b'more')


# ----------------------------------------------------------------------------
# The model zoo.

@pytest.fixture
def demo_zoo(cache, monkeypatch):
    """A zoo name whose URL is the local file of `cache`."""
    entry = zoo.ZooEntry('demo_model', 'stylegan2', 32, cache.as_uri(), '.pkl')
    monkeypatch.setitem(zoo.ZOO, 'demo_model', entry)
    return entry


def test_zoo_downloads_into_the_cache(demo_zoo, tmp_path):
    expected = str(tmp_path / 'cache' / 'checkpoints' / 'demo_model.pkl')
    assert zoo.local_path('demo_model') == expected == zoo.candidates('demo_model')[-1]
    assert zoo.resolve('demo_model', progress=False) == expected
    assert Path(expected).read_bytes() == DATA
    assert Path(expected + '.sha256').read_text().split()[0] == sha(DATA)
    assert zoo.is_zoo_name('demo_model') and zoo.checkpoint_dir() == str(tmp_path / 'cache' / 'checkpoints')
    Path(expected).write_bytes(b'changed')
    with pytest.raises(download.DownloadError) as error:
        zoo.resolve('demo_model')
    assert sha(DATA) in one_line(error) and sha(b'changed') in one_line(error)


def test_zoo_uses_a_file_in_the_old_place_first_and_verifies_it(demo_zoo, tmp_path):
    legacy = Path('checkpoints') / 'demo_model.pkl'
    legacy.parent.mkdir()
    legacy.write_bytes(b'weights put there by hand')
    assert zoo.resolve('demo_model', download=False) == str(legacy)
    assert (legacy.parent / 'demo_model.pkl.sha256').read_text().split()[0] == sha(b'weights put there by hand')
    assert not (tmp_path / 'cache' / 'checkpoints').exists()
    legacy.write_bytes(b'weights changed since')
    with pytest.raises(download.DownloadError, match='recorded in'):
        zoo.resolve('demo_model')


def test_zoo_checks_a_published_sha256(demo_zoo, monkeypatch):
    monkeypatch.setitem(zoo.ZOO, 'demo_model', zoo.ZooEntry('demo_model', 'stylegan2', 32, demo_zoo.url, '.pkl',
                                                            sha256='1' * 64))
    with pytest.raises(download.DownloadError) as error:
        zoo.resolve('demo_model', progress=False)
    assert 'refused' in one_line(error) and '1' * 64 in one_line(error)
    assert not os.path.exists(zoo.local_path('demo_model'))


def test_zoo_folder_from_env_and_offline_message(demo_zoo, tmp_path, monkeypatch):
    monkeypatch.setenv(zoo.CHECKPOINTS_ENV, str(tmp_path / 'ckpt'))
    monkeypatch.setenv(download.OFFLINE_ENV, '1')
    assert zoo.candidates('demo_model') == [str(tmp_path / 'ckpt' / 'demo_model.pkl')]
    with pytest.raises(download.DownloadError) as error:
        zoo.resolve('demo_model')
    assert one_line(error) == (f'checkpoint demo_model is not on this machine and cannot be downloaded '
                               f'(GANSEMANTICS_OFFLINE is set): download {demo_zoo.url} and save it as '
                               f'{tmp_path / "ckpt" / "demo_model.pkl"}')
    monkeypatch.delenv(download.OFFLINE_ENV)
    assert zoo.resolve('demo_model', progress=False) == str(tmp_path / 'ckpt' / 'demo_model.pkl')


def test_zoo_unknown_name():
    with pytest.raises(ValueError, match="unknown model name 'stylegan2-ffhq-1024'; did you mean"):
        zoo.entry('stylegan2-ffhq-1024')
