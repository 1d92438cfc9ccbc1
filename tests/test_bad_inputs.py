"""Bad input to every script: one error line naming the option or file, the exit status, nothing written.

One table of cases. Each runs in an empty folder with `--save_dir out`; the
test checks the exit status, that the error is one line (only click's usage
lines may come with it) and the last word, that it holds the key words (the
option or the file at fault), that no traceback is shown, and that nothing was
written.
"""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import compute_directions
import compute_jacobian
import interface
import manipulate
import sefa
import synthesis
from cli import options
from models import build_generator
from models.checkpoints import write_hf_biggan
from semantics.regions import region_mask
from semantics.resefa import GramSums

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {'synthesis': synthesis, 'compute_jacobian': compute_jacobian, 'compute_directions': compute_directions,
           'manipulate': manipulate, 'sefa': sefa}


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Every input the cases name, good and bad, in one folder."""
    root = tmp_path_factory.mktemp('inputs')
    torch.manual_seed(0)
    tiny = dict(z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=4, mapping_layers=2)
    torch.save(build_generator('stylegan2', **tiny).state_dict(), root / 'g.pt')
    torch.save(build_generator('stylegan2', c_dim=3, **tiny).state_dict(), root / 'cond.pt')
    biggan = build_generator('biggan', output_dim=16, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=5,
                             layers=[(False, 16, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)],
                             attention_layer_position=1)
    write_hf_biggan(biggan, root / 'biggan')
    data = (root / 'g.pt').read_bytes()
    (root / 'trunc.pt').write_bytes(data[:len(data) // 2])
    (root / 'empty.pt').write_bytes(b'')
    (root / 'text.txt').write_text('not a checkpoint')
    (root / 'twofolder').mkdir()
    for name in ('a.pt', 'b.pt'):
        (root / 'twofolder' / name).write_bytes(data)
    (root / 'pickled.pt').write_bytes(pickle.dumps({'G_ema': 'a string'}))
    state = torch.load(root / 'g.pt', weights_only=True)
    state['synthesis.b4.const'] = state['synthesis.b4.const'].round().long()
    torch.save(state, root / 'int_weights.pt')
    arrays = {
        'd.npy': np.eye(8, dtype=np.float32)[:2], 'zero.npy': np.zeros((1, 8), np.float32),
        'nan_d.npy': np.full((1, 8), np.nan, np.float32), 'wide.npy': np.ones((1, 9), np.float32),
        'd3.npy': np.ones((2, 3, 8), np.float32), 'int_d.npy': np.ones((1, 8), np.int64),
        'bad_sidecar.npy': np.ones((1, 8), np.float32), 'far_layers.npy': np.ones((1, 8), np.float32),
        'z_bad.npy': np.ones((2, 7), np.float32), 'nan_codes.npy': np.full((2, 8), np.nan, np.float32),
        'wp_codes.npy': np.ones((2, 6, 8), np.float32), 'int_codes.npy': np.ones((2, 8), np.int32),
        'empty_codes.npy': np.zeros((0, 8), np.float32),
        'j.npy': np.random.RandomState(0).randn(2, 3, 16, 16, 1, 8).astype(np.float32),
        'nan_j.npy': np.full((2, 3, 16, 16, 1, 8), np.nan, np.float32),
        'zero_j.npy': np.zeros((2, 3, 16, 16, 1, 8), np.float32),
        'badshape_j.npy': np.ones((2, 5, 5), np.float32), 'rect_j.npy': np.ones((1, 16, 8, 1, 8), np.float32),
        'wdim_j.npy': np.ones((2, 3, 16, 16, 1, 8), np.float32), 'layers_j.npy': np.ones((2, 3, 16, 16, 1, 8),
                                                                                          np.float32),
        'huge_codes.npy': np.full((2, 8), 1e20, np.float32), 'nan_mask.npy': np.full((16, 16), np.nan),
        'wide_mask.npy': np.zeros((16, 8), np.int64),
    }
    for name, array in arrays.items():
        np.save(root / name, array)
    np.save(root / 'obj.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
    np.savez(root / 'd.npz', a=np.ones((1, 8), np.float32))
    np.savez(root / 'badgram.npz', x=np.ones(3))
    (root / 'bad_sidecar.json').write_text('{"layers": [4, 5,')
    (root / 'far_layers.json').write_text('{"layers": [4, 9]}')
    (root / 'wdim_j.json').write_text('{"w_dim": 99}')
    (root / 'layers_j.json').write_text('{"num_ws": 6, "layers": [2, 99]}')
    np.savez(root / 'no_noise.npz')
    sums = GramSums(region_mask('ffhq', 'eyes', 16), 8)
    for jacobian in arrays['j.npy']:
        sums.add(jacobian)
    sums.save(root / 'grams_eyes.npz')
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16) % 6).save(root / 'mask.png')
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / 'mask_rgb.png')
    Image.fromarray(np.arange(512, dtype=np.uint8).reshape(16, 32) % 6).save(root / 'mask_wide.png')
    (root / 'a_file').write_text('a file where a folder should be')
    (root / 'empty_j.npy').write_bytes(b'')
    (root / 'grams_eyes_cut.npz').write_bytes((root / 'grams_eyes.npz').read_bytes()[:200])
    np.savez(root / 'grams_eyes_asym.npz', mask=sums.mask, num_samples=2, sum_b=sums.sum_b,
             sum_f=sums.sum_f + np.triu(np.ones_like(sums.sum_f), 1))
    png = (root / 'mask.png').read_bytes()
    (root / 'mask_cut.png').write_bytes(png[:len(png) // 2])
    return root


# (script, arguments ({name} is a file of the fixture), exit status, words the error line must hold: the option
# or the file at fault, and what is wrong where the option alone does not say it). Input the toolkit cannot use
# exits 2, as click's own usage errors; a system that cannot do the run (memory, an unwritable folder) exits 1.
CASES = [
    # The model argument and the model options (every script but compute_directions shares them).
    ('synthesis', ['{missing.pt}'], 2, ['missing.pt']),
    ('synthesis', ['{empty.pt}'], 2, ['empty.pt', 'empty']),
    ('synthesis', ['{trunc.pt}'], 2, ['trunc.pt', 'truncated']),
    ('synthesis', ['{text.txt}'], 2, ['text.txt', 'not a checkpoint']),
    ('synthesis', ['{pickled.pt}'], 2, ['pickled.pt', 'G_ema']),
    ('synthesis', ['{int_weights.pt}'], 2, ['int_weights.pt', 'synthesis.b4.const']),
    ('synthesis', ['{twofolder}'], 2, ['twofolder', 'a.pt, b.pt']),
    ('synthesis', ['no_such_zoo_name'], 2, ['no_such_zoo_name']),
    ('sefa', ['builtin:faces46'], 2, ['MODEL', 'builtin:faces64', 'builtin:stylegan2-tiny']),
    ('synthesis', ['{g.pt}', '--device', 'bogus'], 2, ['--device', 'bogus']),
    ('synthesis', ['{g.pt}', '--device', 'cuda:99'], 2, ['--device', 'cuda:99']),
    ('synthesis', ['{g.pt}', '--stylegan2', '--stylegan3'], 2, ['--stylegan2', '--stylegan3']),
    ('synthesis', ['{g.pt}', '--stylegan2', '--cfg', 'T'], 2, ['--cfg']),
    ('synthesis', ['{g.pt}', '--cfg', 'X'], 2, ['--cfg']),
    ('synthesis', ['{g.pt}', '--img_size', '64'], 2, ['--img_size', 'g.pt']),
    ('synthesis', ['{g.pt}', '--img_size', '2'], 2, ['--img_size']),
    ('synthesis', ['{g.pt}', '--w_dim', '16'], 2, ['--w_dim', 'g.pt']),
    ('synthesis', ['{g.pt}', '--stylegan3'], 2, ['--stylegan3', 'stylegan2']),
    ('synthesis', ['{g.pt}', '--scale_stylegan2', '0'], 2, ['--scale_stylegan2']),
    ('synthesis', ['{g.pt}', '--scale_stylegan2', '0.001'], 2, ['--scale_stylegan2', 'channel_base']),
    ('synthesis', ['{g.pt}', '--scale_stylegan3r', '1'], 2, ['--scale_stylegan3r', 'stylegan2']),
    ('synthesis', ['{g.pt}', '--tx', '0.5'], 2, ['--tx', 'StyleGAN3']),
    ('synthesis', ['{g.pt}', '--rotate', 'nan'], 2, ['--rotate']),
    # Sampling, truncation, classes, outputs.
    ('synthesis', ['{g.pt}', '--trunc_psi', 'inf'], 2, ['--trunc_psi']),
    ('synthesis', ['{g.pt}', '--trunc_psi', '1e30'], 2, ['--trunc_psi']),
    ('synthesis', ['{g.pt}', '--trunc_layers', '-1'], 2, ['--trunc_layers']),
    ('synthesis', ['{g.pt}', '--seed', '4294967296'], 2, ['--seed']),
    ('synthesis', ['{g.pt}', '--nums', '0'], 2, ['--nums']),
    ('synthesis', ['{g.pt}', '--batch_size', '0'], 2, ['--batch_size']),
    ('synthesis', ['{g.pt}', '--latent_path', '{missing.npy}'], 2, ['--latent_path', 'missing.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{d.npz}'], 2, ['--latent_path', 'd.npz', '.npz']),
    ('synthesis', ['{g.pt}', '--latent_path', '{obj.npy}'], 2, ['--latent_path', 'obj.npy', 'objects']),
    ('synthesis', ['{g.pt}', '--latent_path', '{z_bad.npy}'], 2, ['--latent_path', 'z_bad.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{nan_codes.npy}'], 2, ['--latent_path', 'nan_codes.npy', 'NaN']),
    ('synthesis', ['{g.pt}', '--latent_path', '{int_codes.npy}'], 2, ['--latent_path', 'int_codes.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{empty_codes.npy}'], 2, ['--latent_path', 'empty_codes.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{text.txt}'], 2, ['--latent_path', 'text.txt']),
    ('synthesis', ['{g.pt}', '--latent_path', '{huge_codes.npy}'], 2, ['--latent_path', 'huge_codes.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{wp_codes.npy}', '--latent_space', 'z'], 2, ['--latent_path']),
    ('synthesis', ['{g.pt}', '--latent_space', 'q'], 2, ['--latent_space']),
    ('synthesis', ['{g.pt}', '--class', '1'], 2, ['--class', 'unconditional']),
    ('synthesis', ['{cond.pt}'], 2, ['--class', 'conditional']),
    ('synthesis', ['{cond.pt}', '--class', '7'], 2, ['--class', '7']),
    ('synthesis', ['{cond.pt}', '--class', 'cat'], 2, ['--class', 'cat']),
    ('synthesis', ['{biggan}'], 2, ['--class', 'conditional']),
    ('synthesis', ['{biggan}', '--class', '1', '--trunc_psi', '0'], 2, ['--trunc_psi']),
    ('synthesis', ['{biggan}', '--class', 'tigr shark'], 2, ['--class', 'tiger shark']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--vis_size', '100000'], 2, ['--vis_size']),
    ('synthesis', ['{g.pt}', '--randomize_noise', 'loud'], 2, ['--randomize_noise']),
    ('synthesis', ['{g.pt}', '--save_dir', ' '], 2, ['--save_dir']),
    ('synthesis', ['{g.pt}', '--save_dir', '{a_file}'], 2, ['--save_dir', 'a_file']),
    ('synthesis', ['{g.pt}', '--job', '..'], 2, ['--job']),
    ('synthesis', ['{g.pt}', '--save_dir', '/proc/no_such/out'], 1, ['/proc/no_such/out']),
    ('compute_jacobian', ['{g.pt}', '--save_dir', '/proc/no_such/out'], 1, ['/proc/no_such/out']),
    ('sefa', ['{g.pt}', '-N', '1000000000000'], 1, ['not enough memory']),
    # compute_jacobian.py: layers, regions and masks, sizes.
    ('compute_jacobian', ['{g.pt}', '--layers', '9'], 2, ['--layers', '9']),
    ('compute_jacobian', ['{g.pt}', '--layers', 'all'], 2, ['--layers', 'all']),
    ('compute_jacobian', ['{g.pt}', '--layers', '3-1'], 2, ['--layers', '3-1']),
    ('compute_jacobian', ['{g.pt}', '--layers', '0-100000000000'], 2, ['--layers']),
    ('compute_jacobian', ['{g.pt}', '--region', 'ears'], 2, ['--region', 'ears']),
    ('compute_jacobian', ['{g.pt}', '--box', '1,2,3'], 2, ['--box']),
    ('compute_jacobian', ['{g.pt}', '--box', '300,300,10,10'], 2, ['--box', 'outside']),
    ('compute_jacobian', ['{g.pt}', '--box', '128,128,256,256'], 2, ['--box', 'whole']),
    ('compute_jacobian', ['{g.pt}', '--region', 'eyes', '--box', '1,2,3,4'], 2, ['--region', '--box']),
    ('compute_jacobian', ['{g.pt}', '--data_name', 'nope', '--region', 'eyes'], 2, ['--data_name', 'nope']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{missing.png}', '--labels', '1'], 2, ['--mask', 'missing.png']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{text.txt}', '--labels', '1'], 2, ['--mask', 'text.txt']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask_rgb.png}', '--labels', '1'], 2, ['--mask', 'mask_rgb.png']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask_cut.png}', '--labels', '1'], 2, ['--mask', 'mask_cut.png']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask_wide.png}', '--labels', '1'], 2, ['--mask', 'square']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{wide_mask.npy}', '--labels', '1'], 2, ['--mask', 'square']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{obj.npy}', '--labels', '1'], 2, ['--mask', 'obj.npy']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{nan_mask.npy}', '--labels', '1'], 2, ['--mask', 'nan_mask.npy']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask.png}', '--labels', '9'], 2, ['--mask', 'empty']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask.png}', '--labels', '0-99999999'], 2, ['--labels']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask.png}'], 2, ['--labels']),
    ('compute_jacobian', ['{g.pt}', '--labels', '1'], 2, ['--labels']),
    ('compute_jacobian', ['{g.pt}', '--chunk_size', '0'], 2, ['--chunk_size']),
    ('compute_jacobian', ['{g.pt}', '--jacobian_size', '0'], 2, ['--jacobian_size']),
    ('compute_jacobian', ['{g.pt}', '--jacobian_size', '100000'], 2, ['--jacobian_size']),
    ('compute_jacobian', ['{g.pt}', '--latent_path', '{wp_codes.npy}'], 2, ['--latent_path']),
    ('compute_jacobian', ['{g.pt}', '--b', 'nan'], 2, ['--b']),
    ('compute_jacobian', ['{g.pt}', '--job', ''], 2, ['--job']),
    # compute_directions.py: Jacobian and Gram-matrix files of every wrong kind, and the region options.
    ('compute_directions', ['{missing.npy}'], 2, ['missing.npy']),
    ('compute_directions', ['{text.txt}'], 2, ['text.txt']),
    ('compute_directions', ['{empty_j.npy}'], 2, ['empty_j.npy']),
    ('compute_directions', ['{obj.npy}'], 2, ['obj.npy']),
    ('compute_directions', ['{badshape_j.npy}'], 2, ['badshape_j.npy']),
    ('compute_directions', ['{rect_j.npy}'], 2, ['rect_j.npy', 'square']),
    ('compute_directions', ['{nan_j.npy}'], 2, ['nan_j.npy', 'NaN']),
    ('compute_directions', ['{zero_j.npy}'], 2, ['zero_j.npy', '--full_rank']),
    ('compute_directions', ['{wdim_j.npy}'], 2, ['wdim_j.json', 'w_dim']),
    ('compute_directions', ['{layers_j.npy}'], 2, ['layers_j.json', 'layers']),
    ('compute_directions', ['{badgram.npz}'], 2, ['badgram.npz']),
    ('compute_directions', ['{grams_eyes_cut.npz}'], 2, ['grams_eyes_cut.npz']),
    ('compute_directions', ['{grams_eyes_asym.npz}'], 2, ['grams_eyes_asym.npz', 'symmetric']),
    ('compute_directions', ['{grams_eyes.npz}', '--region', 'mouth'], 2, ['--region', 'grams_eyes.npz']),
    ('compute_directions', ['{j.npy}', '--full_rank', '--tao', '0'], 2, ['--tao']),
    ('compute_directions', ['{j.npy}', '--tao', 'nan'], 2, ['--tao']),
    ('compute_directions', ['{j.npy}', '--region', ''], 2, ['--region']),
    ('compute_directions', ['{j.npy}', '--region', 'ears'], 2, ['--region', 'ears']),
    ('compute_directions', ['{j.npy}', '--data_name', 'nope'], 2, ['--data_name', 'nope']),
    ('compute_directions', ['{j.npy}', '-d', ''], 2, ['--data_name']),
    ('compute_directions', ['{j.npy}', '--box', '300,300,10,10'], 2, ['--box']),
    ('compute_directions', ['{j.npy}', '--name', 'a/b'], 2, ['--name']),
    ('compute_directions', ['{j.npy}', '--save_dir', ''], 2, ['--save_dir']),
    ('compute_directions', ['{j.npy}', '--save_dir', '{a_file}'], 2, ['--save_dir', 'a_file']),
    # manipulate.py: direction files of every wrong kind, and the edit options.
    ('manipulate', ['{g.pt}', '{missing.npy}'], 2, ['DIRECTION', 'missing.npy']),
    ('manipulate', ['{g.pt}', 'no_such_direction'], 2, ['DIRECTION', 'no_such_direction']),
    ('manipulate', ['{g.pt}', '{d.npz}'], 2, ['DIRECTION', 'd.npz']),
    ('manipulate', ['{g.pt}', '{obj.npy}'], 2, ['DIRECTION', 'obj.npy']),
    ('manipulate', ['{g.pt}', '{text.txt}'], 2, ['DIRECTION', 'text.txt']),
    ('manipulate', ['{g.pt}', '{zero.npy}'], 2, ['DIRECTION', 'zero.npy']),
    ('manipulate', ['{g.pt}', '{nan_d.npy}'], 2, ['DIRECTION', 'nan_d.npy']),
    ('manipulate', ['{g.pt}', '{wide.npy}'], 2, ['DIRECTION', 'wide.npy', 'w_dim']),
    ('manipulate', ['{g.pt}', '{d3.npy}'], 2, ['DIRECTION', 'd3.npy']),
    ('manipulate', ['{g.pt}', '{int_d.npy}'], 2, ['DIRECTION', 'int_d.npy']),
    ('manipulate', ['{g.pt}', '{bad_sidecar.npy}'], 2, ['DIRECTION', 'bad_sidecar.json']),
    ('manipulate', ['{g.pt}', '{far_layers.npy}'], 2, ['DIRECTION', 'far_layers.json', '--mani_layers']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--start', '2', '--end', '3'], 2, ['--start']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--end', '0'], 2, ['--end']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--mani_layers', '9'], 2, ['--mani_layers', '9']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--mani_layers', 'x'], 2, ['--mani_layers']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--step', '0'], 2, ['--step']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--step', '100000000'], 2, ['--step']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--start_distance', 'nan'], 2, ['--start_distance']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--end_distance', '1e38'], 2, ['--end_distance']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--box', ' '], 2, ['--box']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--noise', '{no_noise.npz}'], 2, ['--noise', 'no_noise.npz']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--noise', '{d.npy}'], 2, ['--noise', 'd.npy']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--noise', '{grams_eyes_cut.npz}'], 2, ['--noise', 'grams_eyes_cut.npz']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--name', 'x' * 300], 2, ['--name']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--name', '../x'], 2, ['--name']),
    # sefa.py.
    ('sefa', ['{g.pt}', '-L', '1-x'], 2, ['--layer_idx', '1-x']),
    ('sefa', ['{g.pt}', '-L', ''], 2, ['--layer_idx']),
    ('sefa', ['{g.pt}', '-L', '9'], 2, ['--layer_idx', '9']),
    ('sefa', ['{g.pt}', '-K', '0'], 2, ['-K']),
    ('sefa', ['{g.pt}', '-K', '99'], 2, ['--num_semantics', '99']),
    ('sefa', ['{g.pt}', '-N', '-1'], 2, ['-N']),
    ('sefa', ['{g.pt}', '--gpu_id', 'abc'], 2, ['--gpu_id', 'abc']),
    ('sefa', ['{g.pt}', '--save_dir', ''], 2, ['--save_dir']),
    ('sefa', ['{g.pt}', '--save_dir', '{a_file}'], 2, ['--save_dir', 'a_file']),
]


def _ids():
    return [f'{i:03d}-{script}-{"_".join(a.strip("{}") for a in args[1:] or args)[:40]}'
            for i, (script, args, _, _) in enumerate(CASES)]


def test_the_table_covers_every_script():
    assert len(CASES) >= 100 and set(script for script, _, _, _ in CASES) == set(SCRIPTS)


@pytest.mark.parametrize('script, args, status, words', CASES, ids=_ids())
def test_bad_input(script, args, status, words, files, tmp_path, monkeypatch):
    if '--device' in args and torch.cuda.is_available() and args[-1] != 'bogus':
        pytest.skip('a CUDA device may be good input on this machine: it has a GPU')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('GANSEMANTICS_OFFLINE', '1')
    monkeypatch.setenv('GANSEMANTICS_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('GANSEMANTICS_CHECKPOINTS', str(tmp_path / 'checkpoints'))
    argv = [os.path.join(files, a[1:-1]) if a.startswith('{') else a for a in args]
    if '--save_dir' not in argv:
        argv += ['--save_dir', 'out']
    result = CliRunner().invoke(SCRIPTS[script].main, argv)
    assert result.exit_code == status, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert 'Traceback' not in result.output
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith(('Usage:', 'Try '))]
    error, = [line for line in lines if line.startswith('Error:')]
    assert lines[-1] == error, result.output  # the error line is the last word
    assert all(word in error for word in words), result.output
    assert sorted(os.listdir(tmp_path)) == [], os.listdir(tmp_path)  # nothing written, not even a folder


def test_jacobians_larger_than_the_free_disk_are_refused(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(compute_jacobian.shutil, 'disk_usage', lambda path: shutil._ntuple_diskusage(1, 1, 2048))
    result = CliRunner().invoke(compute_jacobian.main, [str(files / 'g.pt'), '--nums', '2', '--save_dir', 'out'])
    assert result.exit_code == 1, result.output
    error, = [line for line in result.output.splitlines() if line.startswith('Error:')]
    assert 'the Jacobians need 48 KiB and the disk has 2 KiB free' in error, result.output  # 2 x 3x16x16x8 floats
    assert os.listdir(tmp_path) == []


def test_running_out_of_memory_is_one_line_and_other_errors_are_not_hidden():
    @click.command()
    @click.argument('kind')
    @options.cli_errors
    def main(kind):
        if kind == 'torch':
            raise RuntimeError('[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: '
                               'you tried to allocate 3800000000000 bytes.\nmore')
        if kind == 'numpy':
            raise MemoryError('Unable to allocate 7.3 TiB for an array')
        raise RuntimeError('a bug')

    for kind in ('torch', 'numpy'):
        result = CliRunner().invoke(main, [kind])
        assert result.exit_code == 1 and 'Traceback' not in result.output
        assert result.output.startswith('Error: not enough memory for this run') and result.output.count('\n') == 1
    result = CliRunner().invoke(main, ['bug'])
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == 'a bug'


@pytest.mark.parametrize('args, fragment', [(['--work_dir', 'no_such_folder'], "'--work_dir'"),
                                            (['--work_dir', '{a_file}'], "'--work_dir'"),
                                            (['-d', 'bogus'], "'bogus' is not one of"),
                                            (['--host', ''], "'--host': an empty value")])
def test_the_editor_refuses_bad_options_before_it_listens(args, fragment, files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [str(files / 'g.pt'), '--port', '0', *(str(files / a[1:-1]) if a.startswith('{') else a for a in args)]
    result = CliRunner().invoke(interface.main, argv)
    assert result.exit_code == 2 and 'Traceback' not in result.output, result.output
    error, = [line for line in result.output.splitlines() if line.startswith('Error:')]
    assert fragment in error, result.output


def test_a_real_file_in_place_of_the_latest_link_keeps_every_link_where_it_was(files, tmp_path, monkeypatch):
    """The user's own jacobians_w.npy stays, and no link beside it is moved to the new run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'jacobians_w.npy').write_bytes(b'the user\'s file')
    result = CliRunner().invoke(compute_jacobian.main, [str(files / 'g.pt'), '--nums', '1', '--save_dir', 'out',
                                                        '--no_save_jpg'])
    assert result.exit_code == 0, result.output
    assert (tmp_path / 'out' / 'jacobians_w.npy').read_bytes() == b'the user\'s file'
    assert sorted(p.name for p in (tmp_path / 'out').iterdir() if p.is_symlink()) == []
    assert 'is a real file or folder, so it was left as it is' in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith('Next: python compute_directions.py out/') and last.endswith('/jacobians_w.npy')
    assert 'points at this run' not in result.output and os.path.isfile(last.split()[-1])


def test_ctrl_c_says_what_is_kept(files, tmp_path, monkeypatch):
    """While compute_jacobian.py sets up, nothing is computed; once it runs, the finished samples are kept."""
    monkeypatch.chdir(tmp_path)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    argv = [str(files / 'g.pt'), '--nums', '2', '--save_dir', 'out', '--no_save_jpg']
    with monkeypatch.context() as patch:
        patch.setattr(compute_jacobian.options, 'load_model', interrupt)
        result = CliRunner().invoke(compute_jacobian.main, argv)
    assert result.exit_code == 130 and 'Traceback' not in result.output and 'Aborted' not in result.output
    assert result.output.splitlines()[-1].startswith('Error: interrupted while setting up')
    assert 'no sample was computed' in result.output and os.listdir(tmp_path) == []
    monkeypatch.setattr(compute_jacobian.JacobianJob, 'run', interrupt)
    result = CliRunner().invoke(compute_jacobian.main, argv)
    assert result.exit_code == 130 and 'Traceback' not in result.output
    assert result.output.splitlines()[-1].startswith('Error: interrupted: 0 of 2 samples are saved in out/')
    assert result.output.splitlines()[-1].endswith('run the same command again to resume')


def test_a_script_outside_the_environment_says_how_to_run_it(tmp_path):
    """A missing third-party package (as under a Python without the project's environment) is one line."""
    code = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = ['sefa.py', 'builtin:faces64']; "
            f"runpy.run_path({str(ROOT / 'sefa.py')!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and 'Traceback' not in result.stderr, result.stderr
    error, = result.stderr.strip().splitlines()
    assert 'torch' in error and './run' in error and 'source .venv/bin/activate' in error
    assert os.listdir(tmp_path) == []
