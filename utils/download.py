"""Downloads into one user cache folder, checked against a SHA-256 on every use.

    path = cached_file(os.path.join(cache_dir('checkpoints'), 'ffhq.pkl'), url)  # fetched once, verified each use

A file whose SHA-256 is not published has the one of its first use recorded beside it (`NAME.sha256`, or under the
cache when that folder is not writable). `$GANSEMANTICS_OFFLINE` (set and not 0) turns downloads off. Every error is
a one-line `DownloadError`; a file that cannot be downloaded names the URL and the path to save it as by hand.
"""

import hashlib
import http.client
import os
import pathlib
import re
import urllib.error
import urllib.request

from utils.fileio import atomic_path, one_line, save_text, sha256_of

CACHE_ENV = 'GANSEMANTICS_CACHE'        # The cache folder itself.
OFFLINE_ENV = 'GANSEMANTICS_OFFLINE'    # Set and not 0: never download.
TIMEOUT = 30                            # Seconds without an answer before a download gives up.
RECORD_SUFFIX = '.sha256'               # A recorded digest sits beside its file: NAME + RECORD_SUFFIX.
_BLOCK = 1 << 18                        # Bytes read (and shown on the progress bar) at a time.

_digests = {}                           # (real path, size, mtime, ctime, inode) -> SHA-256 hex digest.


class DownloadError(ValueError):
    """A file that cannot be downloaded or does not match its SHA-256; the message is one line."""


def cache_dir(*parts):
    """The cache folder (see the module docstring), or `parts` joined under it; nothing is created."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), 'gansemantics')
    return os.path.join(os.path.abspath(os.path.expanduser(root)), *parts)


def offline():
    return os.environ.get(OFFLINE_ENV, '').strip() not in ('', '0')


def _stat_key(path):
    stat = os.stat(path)
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino


def file_sha256(path):
    """SHA-256 hex digest of a file, remembered within the process until the file changes."""
    key = _stat_key(path)
    if key not in _digests:
        _digests[key] = sha256_of(path)
    return _digests[key]


def record_path(path):
    """Where the SHA-256 of `path` is recorded: beside it, else (folder not writable) under the cache."""
    beside = os.fspath(path) + RECORD_SUFFIX
    fallback = _fallback_record(path)
    return fallback if not os.path.isfile(beside) and os.path.isfile(fallback) else beside


def _fallback_record(path):
    real = os.path.realpath(path)
    key = hashlib.sha256(real.encode('utf-8', 'surrogateescape')).hexdigest()[:16]
    return cache_dir('sha256', f'{key}-{os.path.basename(real)}{RECORD_SUFFIX}')


def _write_record(path, digest):
    line = f'{digest}  {os.path.basename(path)}\n'
    for record in (os.fspath(path) + RECORD_SUFFIX, _fallback_record(path)):
        try:
            return save_text(record, line)
        except OSError as error:
            reason = one_line(error)
    raise DownloadError(f'cannot record the SHA-256 of {path} beside it or at {record} ({reason})')


def verify(path, sha256=None, what=None):
    """The SHA-256 of `path`, checked against the published `sha256`, else the one recorded on its first use."""
    path = os.fspath(path)
    actual = file_sha256(path)
    about = f' ({what})' if what else ''
    if sha256 is not None:
        if actual != sha256.lower():
            raise DownloadError(f'{path}{about}: SHA-256 {actual} does not match the published {sha256.lower()}; '
                                f'delete the file to fetch it again')
        return actual
    record = record_path(path)
    if not os.path.isfile(record):
        _write_record(path, actual)
        return actual
    with open(record, encoding='utf-8', errors='replace') as file:
        recorded = (file.read().split() or [''])[0]
    if not re.fullmatch('[0-9a-f]{64}', recorded):
        raise DownloadError(f'{record}: not a recorded SHA-256 (expected "<64 hex digits>  NAME"); delete it '
                            f'to record the file again')
    if actual != recorded:
        raise DownloadError(f'{path}{about}: SHA-256 {actual} differs from {recorded}, recorded in {record} when the '
                            f'file was first used; delete the file (and {record}) to fetch it again')
    return actual


def url_of(source):
    """An http(s)/file URL as it is, a local path as a file:// URL."""
    source = os.fspath(source)
    return source if '://' in source else pathlib.Path(source).resolve().as_uri()


def _unavailable(url, path, what, error):
    if isinstance(error, urllib.error.HTTPError):
        reason = f'HTTP {error.code} {one_line(error.reason)}'
    else:
        reason = one_line(error.reason if isinstance(error, urllib.error.URLError) else error) or type(error).__name__
    return DownloadError(f'{what or os.path.basename(path)} is not on this machine and cannot be downloaded '
                         f'({reason}): download {url} and save it as {path}')


def fetch(url, path, sha256=None, what=None, progress=True):
    """The SHA-256 of `url` (http(s), file://, or a local file) fetched to `path`, which appears only when complete
    and matching `sha256` (else its digest is recorded)."""
    from tqdm import tqdm
    url, path = url_of(url), os.fspath(path)
    if offline():
        raise _unavailable(url, path, what, f'{OFFLINE_ENV} is set')
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={'User-Agent': 'gansemantics'})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response, atomic_path(path) as tmp:
            total = int(response.headers.get('Content-Length') or 0) or None
            with open(tmp, 'wb') as file, tqdm(total=total, unit='B', unit_scale=True, unit_divisor=1024,
                                               desc=os.path.basename(path), disable=not progress) as bar:
                while block := response.read(_BLOCK):
                    file.write(block)
                    digest.update(block)
                    bar.update(len(block))
            if total is not None and os.path.getsize(tmp) != total:
                raise OSError(f'the connection closed after {os.path.getsize(tmp)} of {total} bytes')
            if sha256 is not None and digest.hexdigest() != sha256.lower():
                raise DownloadError(f'download of {url} refused: SHA-256 {digest.hexdigest()} does not match the '
                                    f'published {sha256.lower()}; nothing was saved')
    except DownloadError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        raise _unavailable(url, path, what, error) from None
    _digests[_stat_key(path)] = digest.hexdigest()
    if sha256 is None:
        _write_record(path, digest.hexdigest())
    return digest.hexdigest()


def cached_file(path, url, sha256=None, what=None, download=True, progress=True):
    """`path` of a verified local file, downloaded from `url` first when it is absent (unless not `download`)."""
    path = os.fspath(path)
    if os.path.isfile(path):
        verify(path, sha256, what)
    elif not download:
        raise _unavailable(url_of(url), path, what, 'downloads are turned off')
    else:
        fetch(url, path, sha256, what, progress=progress)
    return path
