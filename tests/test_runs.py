"""Where runs write: self-describing folders that never overwrite each other, and the original paths.

Two tiny StyleGAN2 checkpoints written by the test (so nothing here needs
../shared): Jacobians of each, directions for two regions, edits with each.
"""

import base64
import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import compute_directions
import compute_jacobian
import manipulate
import sefa
import synthesis
from cli import runs
from models import build_generator
from tests.clitools import invoke, invoke_ok, printed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Two different tiny StyleGAN2 checkpoints saved under the same file name in two folders."""
    folder = tmp_path_factory.mktemp('models')
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        G = build_generator('stylegan2', z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=4,
                                              mapping_layers=2)
        (folder / f'm{seed}').mkdir()
        path = folder / f'm{seed}' / 'generator.pt'
        torch.save(G.state_dict(), path)
        paths.append(path)
    return paths


def test_two_models_two_regions_never_share_a_folder(checkpoints, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jacobians, directions, pages = [], {}, set()
    for model in checkpoints:
        result = invoke_ok(compute_jacobian, [model, '--nums', 2, '--chunk_size', 8])
        real = os.path.realpath('work_dirs/jacobians/ffhq/jacobians_w.npy')
        assert real not in jacobians and Path(real).parent.name == 'seed_4_num_2'
        assert Path(real).parent.parent.name.startswith('generator-')  # the checkpoint stem and its hash
        jacobians.append(real)
        assert sorted(os.listdir(Path(real).parent / 'images')) == ['000000.jpg', '000001.jpg']  # saved by default
        assert 'points at this run' in result.output
        for region in ('eyes', 'mouth'):
            result = invoke_ok(compute_directions, ['work_dirs/jacobians/ffhq/jacobians_w.npy', '--region', region,
                                                   '--full_rank'])
            assert 'is the latest run' in result.output
            pooled = printed(result, 'Pooled directions')
            assert pooled not in directions.values() and region in str(pooled)
            assert os.path.realpath(f'work_dirs/directions/ffhq/{region}') == os.path.realpath(pooled.parent)
            directions[(str(model), region)] = pooled
            sidecar = json.loads(pooled.with_suffix('.json').read_text())
            assert sidecar['region'] == region and sidecar['model'] == Path(real).parent.parent.name
            result = invoke_ok(manipulate, [model, f'work_dirs/directions/ffhq/{region}/pooled_resefa.npy',
                                            '--nums', 1, '--step', 3, '--mani_layers', '2-3', '--region', region])
            page = printed(result, 'HTML page')
            assert page not in pages
            pages.add(page)
            html = page.read_text()
            for fact in (Path(real).parent.parent.name, 'Layers: 2-3', f'Region: {region}', 'pooled_resefa',
                         'Loaded stylegan2 16x16'):
                assert fact in html, fact
            assert f'_{region}' in page.parent.name and 'layers_2-3' in page.parent.name
    assert len(pages) == 4 and len(set(directions.values())) == 4
    # The eyes and mouth directions of one model differ (and so do their folders).
    a, b = (np.load(directions[(str(checkpoints[0]), r)]) for r in ('eyes', 'mouth'))
    assert not np.allclose(a, b)


def test_same_command_twice_reuses_its_folder(checkpoints, tmp_path):
    args = [checkpoints[0], '--nums', 2, '--save_dir', tmp_path, '--chunk_size', 8]
    first = invoke_ok(compute_jacobian, args)
    path = printed(first, 'Jacobians')
    stamp = path.stat().st_mtime_ns
    second = invoke_ok(compute_jacobian, args)
    assert printed(second, 'Jacobians') == path and 'Already computed with the same settings' in second.output
    assert path.stat().st_mtime_ns == stamp
    other = invoke_ok(compute_jacobian, args + ['--seed', 5])
    assert printed(other, 'Jacobians').parent != path.parent


def test_changed_settings_in_the_same_folder_are_announced(tmp_path):
    args = ['builtin:stylegan2-tiny', '--nums', 2, '--save_dir', tmp_path, '--vis_size', 0]
    first = invoke_ok(synthesis, args)
    page = printed(first, 'HTML page')
    assert 'Note:' not in first.output
    again = invoke_ok(synthesis, args)
    assert 'Note:' not in again.output and printed(again, 'HTML page') == page
    changed = invoke_ok(synthesis, args + ['--trunc_psi', 0.5])
    assert printed(changed, 'HTML page') == page
    assert 'held a run with other settings' in changed.output and 'trunc_psi 0.7 -> 0.5' in changed.output
    # --vis_size 0 keeps the images at full size, as in the original.
    uri = re.search(r'src="data:image/jpeg;base64,([^"]+)"', page.read_text()).group(1)
    assert Image.open(io.BytesIO(base64.b64decode(uri))).size == (64, 64)


def test_a_replaced_run_leaves_none_of_its_files_behind(tmp_path):
    args = ['builtin:stylegan2-tiny', '--nums', 2, '--save_dir', tmp_path]
    folder = printed(invoke_ok(synthesis, args + ['--save_jpg']), 'HTML page').parent
    assert sorted(os.listdir(folder)) == ['000000.jpg', '000001.jpg', 'latent_codes.npy', 'run.json',
                                          'synthesis.html']
    changed = invoke_ok(synthesis, args + ['--trunc_psi', 0.5])
    assert 'held a run with other settings' in changed.output
    assert sorted(os.listdir(folder)) == ['latent_codes.npy', 'run.json', 'synthesis.html']
    assert json.loads((folder / 'run.json').read_text())['settings']['trunc_psi'] == 0.5
    assert sorted(os.listdir(folder.parent)) == [folder.name]  # no hidden folder left beside it


@pytest.mark.parametrize('failure', [OSError(28, 'No space left on device'), KeyboardInterrupt()])
def test_a_failed_run_leaves_the_earlier_result_untouched(tmp_path, monkeypatch, failure):
    args = ['builtin:stylegan2-tiny', '--nums', 2, '--save_dir', tmp_path]
    page = printed(invoke_ok(synthesis, args), 'HTML page')
    before = {name: (page.parent / name).read_bytes() for name in os.listdir(page.parent)}

    def fail(self, path):
        raise failure

    monkeypatch.setattr(synthesis.HtmlPage, 'save', fail)
    result = CliRunner().invoke(synthesis.main, [str(a) for a in args + ['--trunc_psi', 0.5, '--save_jpg']])
    assert result.exit_code != 0
    assert {name: (page.parent / name).read_bytes() for name in os.listdir(page.parent)} == before
    assert sorted(os.listdir(page.parent.parent)) == [page.parent.name]


def test_the_hidden_folder_of_a_killed_run_is_removed(tmp_path):
    args = ['builtin:stylegan2-tiny', '--nums', 2, '--save_dir', tmp_path]
    folder = printed(invoke_ok(synthesis, args), 'HTML page').parent
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True,
                          text=True, check=True).stdout.strip()
    host = runs.safe_part(socket.gethostname())
    abandoned = folder.parent / f'.{folder.name}.writing-{host}-{dead}'
    other_host = folder.parent / f'.{folder.name}.writing-elsewhere-{dead}'
    for path in (abandoned, other_host):
        path.mkdir()
        (path / '000000.jpg').write_bytes(b'partial')
    invoke_ok(synthesis, args)
    assert not abandoned.exists() and other_host.exists()  # another machine's run may still be writing


@pytest.mark.skipif(sys.platform == 'win32', reason='advisory file locks are POSIX')
def test_the_same_jacobian_job_twice_at_once_is_refused(checkpoints, tmp_path):
    import fcntl
    args = [checkpoints[0], '--nums', 1, '--no_save_jpg', '--save_dir', tmp_path, '--chunk_size', 8]
    first = invoke_ok(compute_jacobian, args)
    folder = printed(first, 'Jacobians').parent
    with open(folder / '.jacobians_w.lock', 'a') as held:  # as a run still computing holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = invoke(compute_jacobian, args)
        assert busy.exit_code == 1
        assert busy.output.strip().splitlines()[-1] == (
            f'Error: another run is computing jacobians_w in {folder}: wait for it to finish (or stop it), then '
            'run this again to use or resume its result')
        other_job = invoke_ok(compute_jacobian, args + ['--region', 'eyes'])  # other files: it may run beside it
        assert printed(other_job, 'Gram matrices').parent == folder
    again = invoke_ok(compute_jacobian, args)
    assert 'Already computed with the same settings' in again.output


def test_class_and_latents_name_their_folders(tmp_path):
    codes = tmp_path / 'codes.npy'
    np.save(codes, np.random.RandomState(0).randn(3, 64).astype(np.float32))
    seeded = printed(invoke_ok(synthesis, ['builtin:stylegan2-tiny', '--nums', 3, '--save_dir', tmp_path]),
                     'HTML page')
    from_file = printed(invoke_ok(synthesis, ['builtin:stylegan2-tiny', '--latent_path', codes,
                                              '--save_dir', tmp_path]), 'HTML page')
    assert seeded.parent.name == 'seed_4_num_3' and from_file.parent.name.startswith('latents_codes-')
    assert seeded.parent.parent == from_file.parent.parent == tmp_path / 'stylegan2-tiny'


def test_mani_layers_all_edits_every_layer(checkpoints, tmp_path):
    np.save(tmp_path / 'd.npy', np.eye(8, dtype=np.float32)[:1])
    result = invoke_ok(manipulate, [checkpoints[0], tmp_path / 'd.npy', '--mani_layers', 'all', '--nums', 1,
                                    '--step', 2, '--save_dir', tmp_path, '--no-gif'])
    page = printed(result, 'HTML page')
    assert page.parent.name.endswith('_layers_0-5')  # every one of the 6 ws of a 16x16 model
    assert 'Layers: 0-5 (all, given with --mani_layers)' in page.read_text()


def test_compute_jacobian_original_flags(checkpoints, tmp_path):
    result = invoke_ok(compute_jacobian, [checkpoints[0], '--nums', 1, '--b', 0.001, '--batch_size', 2,
                                          '--no_save_jpg', '--save_dir', tmp_path, '--chunk_size', 8])
    assert not (printed(result, 'Jacobians').parent / 'images').exists()
    assert 'vis_size' not in result.output
    noted = invoke_ok(compute_jacobian, [checkpoints[0], '--nums', 1, '--vis_size', 512, '--no_save_jpg',
                                         '--save_dir', tmp_path, '--chunk_size', 8])
    assert 'Note: --vis_size is not used: compute_jacobian.py writes no page' in noted.output


@pytest.mark.parametrize('script, args', [
    (synthesis, ['builtin:stylegan2-tiny', '--nums', 1]),
    (compute_jacobian, ['builtin:stylegan2-tiny', '--nums', 1]),
    (manipulate, ['builtin:stylegan2-tiny', 'DIRECTION', '--nums', 1]),
    (sefa, ['builtin:stylegan2-tiny', '-N', 1]),
])
def test_save_dir_that_is_a_file(script, args, tmp_path):
    np.save(tmp_path / 'd.npy', np.ones((1, 64), np.float32))
    args = [str(tmp_path / 'd.npy') if a == 'DIRECTION' else a for a in args]
    target = tmp_path / 'file.txt'
    target.write_text('not a folder')
    result = invoke(script, args + ['--save_dir', target])
    assert result.exit_code != 0 and 'Traceback' not in result.output
    assert 'is a file, not a folder' in result.output and '--save_dir' in result.output
    assert sorted(os.listdir(tmp_path)) == ['d.npy', 'file.txt']


@pytest.mark.slow
def test_run_wrapper_keeps_the_callers_folder(tmp_path):
    """`./run synthesis.py ...` from another folder reads and writes relative to that folder."""
    if not (ROOT / '.venv' / 'bin' / 'python').exists() or Path(sys.executable).parent.parent != ROOT / '.venv':
        pytest.skip('./run is checked from the project virtual environment only')
    result = subprocess.run([str(ROOT / 'run'), 'synthesis.py', 'builtin:stylegan2-tiny', '--nums', '1'],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    page = tmp_path / 'work_dirs' / 'synthesize' / 'ffhq' / 'stylegan2-tiny' / 'seed_4_num_1' / 'synthesis.html'
    assert page.is_file() and 'HTML page: work_dirs/synthesize/ffhq/stylegan2-tiny' in result.stdout


def test_direction_of_another_model_is_applied_with_a_warning(checkpoints, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    invoke_ok(compute_jacobian, [checkpoints[0], '--nums', 2, '--chunk_size', 8, '--no_save_jpg'])
    invoke_ok(compute_directions, ['work_dirs/jacobians/ffhq/jacobians_w.npy', '--full_rank'])
    direction = 'work_dirs/directions/ffhq/eyes/pooled_resefa.npy'
    same = invoke_ok(manipulate, [checkpoints[0], direction, '--nums', 1, '--step', 2, '--no-gif'])
    assert 'Warning' not in same.output
    other = invoke_ok(manipulate, [checkpoints[1], direction, '--nums', 1, '--step', 2, '--no-gif'])
    warning = [line for line in other.output.splitlines() if line.startswith('Warning:')]
    assert len(warning) == 1 and 'generator-' in warning[0] and 'applied anyway' in warning[0]
    assert warning[0] in printed(other, 'HTML page').read_text()
    # A published direction names its model: a w_dim-8 StyleGAN2 is not the FFHQ 1024 model.
    np.save('wide.npy', np.ones((1, 8), np.float32))
    published = invoke_ok(manipulate, [checkpoints[1], 'wide.npy', '--nums', 1, '--step', 2, '--no-gif'])
    assert 'Warning' not in published.output  # no sidecar, no catalog entry: nothing to compare


def test_sefa_edits_given_codes(tmp_path):
    """sefa.py --latent_path: the codes synthesis.py saved drive the SeFa pages (the first N of them)."""
    page = printed(invoke_ok(synthesis, ['builtin:stylegan2-tiny', '--nums', 3, '--save_dir', tmp_path / 's']),
                   'HTML page')
    codes = page.parent / 'latent_codes.npy'
    result = invoke_ok(sefa, ['builtin:stylegan2-tiny', '--latent_path', codes, '-N', 2, '-K', 2, '--step', 3,
                              '--viz_size', 32, '--save_dir', tmp_path / 'r'])
    folder = printed(result, 'Directions').parent
    assert folder.name.startswith('layers_0-9_K_2_latents_latent_codes-') and folder.name.endswith('_num_2')
    html = (folder / 'sample_first.html').read_text()
    assert 'Codes: 2 codes (wp) from' in html and 'no truncation' in html
    assert html.count('data:image/jpeg') == 2 * 2 * 3
