"""Where each run writes: `<root>/<model>/<samples>[_class_<c>][_<more parts>]/`, and the latest-run links.

`<root>` is `--save_dir`, default `work_dirs/<job>/<data_name>`. The same command run twice uses the same folder, whose
`run.json` records the settings. Files are written into a hidden folder that takes the run's place once all are
written: a run that fails or is stopped leaves the earlier result.
"""

import contextlib
import json
import os
import re
import shutil
import socket

import click

from utils.fileio import load_json, save_json, sha256_of

_HOST = re.sub(r'[^A-Za-z0-9._+-]', '_', socket.gethostname())
_UNCHANGING = ('device', 'gpu_id', 'batch_size', 'chunk_size')  # how a run computes, not what: not compared


def safe_part(text):
    """`text` as one path component: only `[A-Za-z0-9._+-]`, others replaced by `_`."""
    return re.sub(r'[^A-Za-z0-9._+-]', '_', str(text)).strip('.') or '_'


def file_label(path):
    """'<stem>-<first 8 hex of its SHA-256>': names a file by its content."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(path)))[0]
    return safe_part(f'{stem}-{sha256_of(path)[:8]}')


def model_part(generator, opts):
    """The model's name, plus the transform when one is set (it changes every image)."""
    tx, ty, rotate = (opts.get(key) or 0 for key in ('tx', 'ty', 'rotate'))
    return generator.model_name + (f'_tx_{tx:g}_ty_{ty:g}_rotate_{rotate:g}' if tx or ty or rotate else '')


def root_of(opts, job=None):
    """`--save_dir`, or `work_dirs/<job (default --job)>/<data_name>`; a path at or below a regular file is refused."""
    root = opts.get('save_dir') or os.path.join('work_dirs', job or opts['job'], opts['data_name'])
    check_folder(root, '--save_dir' if opts.get('save_dir') else None)
    return root


def existing_ancestor(path):
    """`path` (absolute) if it exists, else the nearest folder above it that does."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return probe


def check_folder(path, option=None):
    """Refuse a path that exists and is not a folder, or lies below a file (before anything is written)."""
    probe = existing_ancestor(path)
    if not os.path.isdir(probe):
        where = '' if probe == os.path.abspath(path) else f' (in {path})'
        raise click.BadParameter(f'{probe} is a file, not a folder{where}', param_hint=option or 'the output folder')


def _alive(pid):
    """Whether process `pid` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        pass
    return True


class RunFolder:
    """The folder of one run: `<root>/<model>/<name>`, with the run's settings in `run.json`."""

    def __init__(self, root, model_name, *parts):
        self.path = os.path.join(root, safe_part(model_name), '_'.join(safe_part(part) for part in parts if part))
        self._staging = None
        check_folder(self.path)

    def file(self, *names):
        """Where to write `names`: inside the hidden folder while `writing`, else in the run's folder."""
        return os.path.join(self._staging or self.path, *names)

    def start(self, settings):
        """Create the folder and record `settings` (a run that writes in place, such as a resumable job)."""
        self._record(self.path, self._compare(settings))

    @contextlib.contextmanager
    def writing(self, settings):
        """Write the run's files (`file` names them) in a hidden folder that takes the folder's place at the end."""
        settings = self._compare(settings)
        parent, name = os.path.split(self.path)
        self._remove_abandoned(parent, name)
        staging = os.path.join(parent, f'.{name}.writing-{_HOST}-{os.getpid()}')
        old = os.path.join(parent, f'.{name}.replaced-{_HOST}-{os.getpid()}')
        self._record(staging, settings)
        self._staging = staging
        try:
            yield
            if os.path.lexists(self.path):
                os.rename(self.path, old)
            os.rename(staging, self.path)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            self._staging = None
            shutil.rmtree(staging, ignore_errors=True)

    def _compare(self, settings):
        """`settings` as recorded; says so when the folder's `run.json` records other ones (this run replaces it)."""
        try:
            earlier = load_json(os.path.join(self.path, 'run.json')).get('settings')
        except (OSError, ValueError, AttributeError):
            earlier = None
        settings = json.loads(json.dumps({key: value for key, value in settings.items() if key not in _UNCHANGING},
                                         default=str))
        changed = [f'{key} {earlier.get(key)!r} -> {value!r}' for key, value in settings.items()
                   if earlier is not None and earlier.get(key) != value]
        if changed:
            click.echo(f'Note: {self.path} held a run with other settings ({"; ".join(changed[:4])}); its results '
                       'are replaced')
        return settings

    def _record(self, folder, settings):
        try:
            os.makedirs(folder, exist_ok=True)
            save_json(os.path.join(folder, 'run.json'), {'settings': settings})
        except OSError as error:
            raise click.ClickException(f'cannot write the run folder {self.path}: {error.strerror or error}') \
                from None

    @staticmethod
    def _remove_abandoned(parent, name):
        """Remove hidden folders of runs of this folder that were killed on this machine (their process is gone)."""
        pattern = re.compile(rf'^\.{re.escape(name)}\.(?:writing|replaced)-{re.escape(_HOST)}-(\d+)$')
        for entry in os.listdir(parent) if os.path.isdir(parent) else ():
            match = pattern.match(entry)
            if match and not _alive(int(match.group(1))):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def link_latest(link, target):
    """Point `link` at `target` (relative symbolic link); a note when it cannot be made, else None."""
    link, target = os.path.normpath(link), os.path.normpath(target)
    if os.path.lexists(link) and not os.path.islink(link):
        return f'Note: {link} is a real file or folder, so it was left as it is (the new result is {target})'
    tmp = f'{link}.{os.getpid()}.link'
    try:
        os.makedirs(os.path.dirname(os.path.abspath(link)), exist_ok=True)
        os.symlink(os.path.relpath(target, os.path.dirname(os.path.abspath(link))), tmp)
        os.replace(tmp, link)
    except OSError as error:
        if os.path.lexists(tmp):
            os.remove(tmp)
        return f'Note: could not link {link} to the latest result ({error.strerror}); use {target}'
    return None


def resolve_latest(path):
    """`(real path, whether path was a link to it)`: the run behind a latest-run path."""
    real = os.path.realpath(path)
    return (path, False) if real == os.path.abspath(path) else (os.path.relpath(real), True)
