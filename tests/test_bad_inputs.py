"""Bad input to every script: a short error naming the option or file, a non-zero exit, nothing written.

One table of cases. Each runs in an empty folder with `--save_dir out`; the
test asserts the exit code, that the error is one line (click's two usage lines
may come before it: at most three lines in all), that it names the option or
file at fault, that no traceback is shown, and that nothing was written.
"""

import os
import pickle
import shutil

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
from semantics.resefa import GramAccumulator

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
        'bad_sidecar.npy': np.ones((1, 8), np.float32),
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
    (root / 'wdim_j.json').write_text('{"w_dim": 99}')
    (root / 'layers_j.json').write_text('{"num_ws": 6, "layers": [2, 99]}')
    np.savez(root / 'no_noise.npz')
    accumulator = GramAccumulator(region_mask('ffhq', 'eyes', 16), 8)
    accumulator.update(arrays['j.npy'])
    accumulator.save(root / 'grams_eyes.npz')
    Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16) % 6).save(root / 'mask.png')
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / 'mask_rgb.png')
    Image.fromarray(np.arange(512, dtype=np.uint8).reshape(16, 32) % 6).save(root / 'mask_wide.png')
    (root / 'a_file').write_text('a file where a folder should be')
    (root / 'empty_j.npy').write_bytes(b'')
    (root / 'grams_eyes_cut.npz').write_bytes((root / 'grams_eyes.npz').read_bytes()[:200])
    state = accumulator.state_dict()
    state['sum_f'] = state['sum_f'] + np.triu(np.ones_like(state['sum_f']), 1)
    np.savez(root / 'grams_eyes_asym.npz', **state)
    png = (root / 'mask.png').read_bytes()
    (root / 'mask_cut.png').write_bytes(png[:len(png) // 2])
    return root


# (script, arguments ({name} is a file of the fixture), what the error line must contain)
CASES = [
    # The model argument and the model options (every script but compute_directions shares them).
    ('synthesis', ['{missing.pt}'], ['missing.pt: no such file']),
    ('synthesis', ['{empty.pt}'], ['empty.pt: the file is empty']),
    ('synthesis', ['{trunc.pt}'], ['trunc.pt', 'truncated']),
    ('synthesis', ['{text.txt}'], ['text.txt', 'not a checkpoint']),
    ('synthesis', ['{pickled.pt}'], ['pickled.pt', 'G_ema']),
    ('synthesis', ['{int_weights.pt}'], ['int_weights.pt', 'synthesis.b4.const holds int64', 'floating-point']),
    ('synthesis', ['{twofolder}'], ['twofolder', 'a.pt, b.pt']),
    ('synthesis', ['no_such_zoo_name'], ["unknown model name 'no_such_zoo_name'"]),
    ('synthesis', ['{g.pt}', '--device', 'bogus'], ['--device', "'bogus' is not a device"]),
    ('synthesis', ['{g.pt}', '--device', 'cuda:99'], ['--device', 'cuda:99']),
    ('synthesis', ['{g.pt}', '--device', 'tpu'], ['--device', 'tpu']),
    ('synthesis', ['{g.pt}', '--device', 'cuda'], ['--device', "'cuda'"]),
    ('synthesis', ['{g.pt}', '--stylegan2', '--stylegan3'], ['--stylegan2', '--stylegan3']),
    ('synthesis', ['{g.pt}', '--stylegan2', '--cfg', 'T'], ['--cfg']),
    ('synthesis', ['{g.pt}', '--cfg', 'X'], ['--cfg']),
    ('synthesis', ['{g.pt}', '--img_size', '64'], ['--img_size gives img_resolution=64', 'g.pt']),
    ('synthesis', ['{g.pt}', '--img_size', '2'], ['--img_size']),
    ('synthesis', ['{g.pt}', '--w_dim', '16'], ['--w_dim gives w_dim=16']),
    ('synthesis', ['{g.pt}', '--stylegan3'], ['--stylegan3 was given', 'stylegan2']),
    ('synthesis', ['{g.pt}', '--scale_stylegan2', '0'], ['--scale_stylegan2']),
    ('synthesis', ['{g.pt}', '--scale_stylegan2', 'nan'], ['--scale_stylegan2']),
    ('synthesis', ['{g.pt}', '--scale_stylegan2', '0.001'], ['--scale_stylegan2 gives channel_base=32']),
    ('synthesis', ['{g.pt}', '--tx', '0.5'], ['--tx', 'StyleGAN3']),
    ('synthesis', ['{g.pt}', '--scale_stylegan3r', '1'], ['--scale_stylegan3r', 'stylegan3r generator', 'stylegan2']),
    ('synthesis', ['{g.pt}', '--scale_stylegan3t', '1'], ['--scale_stylegan3t', 'stylegan3t generator']),
    ('synthesis', ['{g.pt}', '--rotate', 'nan'], ['--rotate']),
    # Sampling, truncation, classes, outputs.
    ('synthesis', ['{g.pt}', '--trunc_psi', 'nan'], ['--trunc_psi']),
    ('synthesis', ['{g.pt}', '--trunc_psi', 'inf'], ['--trunc_psi']),
    ('synthesis', ['{g.pt}', '--trunc_psi', '1e30'], ['--trunc_psi', '<= 10']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--trunc_psi', '-11'], ['--trunc_psi', '>= -10']),
    ('synthesis', ['{g.pt}', '--trunc_layers', '-1'], ['--trunc_layers']),
    ('synthesis', ['{g.pt}', '--seed', '-1'], ['--seed']),
    ('synthesis', ['{g.pt}', '--seed', '4294967296'], ['--seed']),
    ('synthesis', ['{g.pt}', '--nums', '0'], ['--nums']),
    ('synthesis', ['{g.pt}', '--batch_size', '0'], ['--batch_size']),
    ('synthesis', ['{g.pt}', '--latent_path', '{missing.npy}'], ['--latent_path', 'missing.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{d.npz}'], ['--latent_path', 'd.npz', '.npz']),
    ('synthesis', ['{g.pt}', '--latent_path', '{obj.npy}'], ['--latent_path', 'obj.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{z_bad.npy}'], ['--latent_path', 'z_bad.npy', 'fit neither']),
    ('synthesis', ['{g.pt}', '--latent_path', '{nan_codes.npy}'], ['--latent_path', 'nan_codes.npy', 'NaN']),
    ('synthesis', ['{g.pt}', '--latent_path', '{int_codes.npy}'], ['--latent_path', 'int_codes.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{empty_codes.npy}'], ['--latent_path', 'empty_codes.npy']),
    ('synthesis', ['{g.pt}', '--latent_path', '{text.txt}'], ['--latent_path', 'text.txt']),
    ('synthesis', ['{g.pt}', '--latent_path', '{wp_codes.npy}', '--latent_space', 'z'], ['--latent_path']),
    ('synthesis', ['{g.pt}', '--latent_space', 'q'], ['--latent_space']),
    ('synthesis', ['{g.pt}', '--class', '1'], ['--class', 'unconditional']),
    ('synthesis', ['{cond.pt}'], ['--class', 'conditional (3 classes)']),
    ('synthesis', ['{cond.pt}', '--class', '7'], ['--class', 'out of range']),
    ('synthesis', ['{cond.pt}', '--class', 'cat'], ['--class', "'cat'"]),
    ('synthesis', ['{biggan}'], ['--class', 'conditional (5 classes)']),
    ('synthesis', ['{biggan}', '--class', '1', '--trunc_psi', '0'], ['--trunc_psi', 'BigGAN truncation_psi']),
    ('synthesis', ['{biggan}', '--class', '1', '--trunc_psi', '1.5'], ['--trunc_psi', 'BigGAN truncation_psi']),
    ('synthesis', ['{biggan}', '--class', 'tigr shark'], ['--class', 'tiger shark']),
    ('synthesis', ['{g.pt}', '--vis_size', '-1'], ['--vis_size']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--vis_size', '100000'], ['--vis_size', '0<=x<=4096']),
    ('synthesis', ['{g.pt}', '--randomize_noise', 'loud'], ['--randomize_noise']),
    ('synthesis', ['{g.pt}', '--save_dir', '{a_file}'], ['--save_dir', 'a_file', 'is a file, not a folder']),
    # compute_jacobian.py.
    ('compute_jacobian', ['{g.pt}', '--layers', '9'], ['--layers', 'layer 9 is out of range']),
    ('compute_jacobian', ['{g.pt}', '--layers', 'all'], ['--layers', "'all'"]),
    ('compute_jacobian', ['{g.pt}', '--layers', '3-1'], ['--layers', 'empty range']),
    ('compute_jacobian', ['{g.pt}', '--region', 'ears'], ['--region', "unknown region 'ears'", '--box']),
    ('compute_jacobian', ['{g.pt}', '--box', '1,2,3'], ['--box', 'four comma-separated']),
    ('compute_jacobian', ['{g.pt}', '--box', '300,300,10,10'], ['--box', 'outside']),
    ('compute_jacobian', ['{g.pt}', '--box', '128,128,256,256'], ['--box', 'covers the whole']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{missing.png}', '--labels', '1'], ['--mask', 'missing.png']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{text.txt}', '--labels', '1'], ['--mask', 'text.txt']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask_rgb.png}', '--labels', '1'], ['--mask', 'mask_rgb.png']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask.png}', '--labels', '9'], ['--mask', 'empty']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask.png}'], ['--labels']),
    ('compute_jacobian', ['{g.pt}', '--labels', '1'], ['--labels goes with --mask']),
    ('compute_jacobian', ['{g.pt}', '--region', 'eyes', '--box', '1,2,3,4'], ['give one of --region, --box']),
    ('compute_jacobian', ['{g.pt}', '--data_name', 'nope', '--region', 'eyes'], ['--data_name', "'nope'"]),
    ('compute_jacobian', ['{g.pt}', '--chunk_size', '0'], ['--chunk_size']),
    ('compute_jacobian', ['{g.pt}', '--jacobian_size', '0'], ['--jacobian_size']),
    ('compute_jacobian', ['{g.pt}', '--latent_path', '{wp_codes.npy}'], ['--latent_path', 'single w']),
    ('compute_jacobian', ['{g.pt}', '--trunc_psi', 'nan'], ['--trunc_psi']),
    ('compute_jacobian', ['{g.pt}', '--trunc_psi', '1e30'], ['--trunc_psi']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask_wide.png}', '--labels', '1'], ['--mask', '32x16', 'square']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{wide_mask.npy}', '--labels', '1'], ['--mask', '8x16', 'square']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{obj.npy}', '--labels', '1'], ['--mask', 'obj.npy', 'Python objects']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{nan_mask.npy}', '--labels', '1'], ['--mask', 'NaN']),
    ('compute_jacobian', ['{g.pt}', '--layers', '0-100000000000'], ['--layers', 'too large']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask.png}', '--labels', '0-99999999'], ['--labels', 'too large']),
    ('compute_directions', ['{wdim_j.npy}'], ['wdim_j.json', 'w_dim 99', 'w_dim 8']),
    ('compute_directions', ['{layers_j.npy}'], ['layers_j.json', '[2, 99]', '6 ws']),
    ('compute_directions', ['{j.npy}', '--save_dir', ''], ['--save_dir', 'empty']),
    ('synthesis', ['{g.pt}', '--save_dir', ' '], ['--save_dir', 'empty']),
    ('synthesis', ['{g.pt}', '--latent_path', '{huge_codes.npy}'], ['--latent_path', 'beyond']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--mani_layers', '0-100000000000'], ['--mani_layers', 'too large']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--noise', '{no_noise.npz}'], ['--noise', 'no noise inputs']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--name', 'x' * 300], ['--name', '300 bytes']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--step', '100000000'], ['--step', '1<=x<=1000']),
    ('sefa', ['{g.pt}', '--step', '100000000'], ['--step']),
    ('sefa', ['{g.pt}', '-L', '0-1000000000000'], ['-L/--layer_idx', 'too large']),
    ('sefa', ['{g.pt}', '--gpu_id', 'abc'], ['--gpu_id', "'abc' is not a GPU index"]),
    ('sefa', ['{g.pt}', '--save_dir', ''], ['--save_dir', 'empty']),
    ('compute_jacobian', ['{g.pt}', '--b', 'nan'], ['--b']),
    ('compute_jacobian', ['{g.pt}', '--save_dir', '{a_file}'], ['--save_dir', 'is a file']),
    # compute_directions.py.
    ('compute_directions', ['{missing.npy}'], ['missing.npy: no such file']),
    ('compute_directions', ['{j.npy}', '--region', ''], ['--region', 'an empty value']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--box', ' '], ['--box', 'an empty value']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--name', '../x'], ['--name', "'../x' is not a file name"]),
    ('compute_directions', ['{j.npy}', '--name', 'a/b'], ['--name', "'a/b' is not a file name"]),
    ('compute_directions', ['{j.npy}', '-d', ''], ['--data_name', 'not a file name']),
    ('synthesis', ['{g.pt}', '--job', '..'], ['--job', "'..' is not a file name"]),
    ('compute_jacobian', ['{g.pt}', '--job', ''], ['--job', 'not a file name']),
    ('compute_directions', ['{empty_j.npy}'], ['empty_j.npy', 'cannot read']),
    ('compute_directions', ['{grams_eyes_cut.npz}'], ['grams_eyes_cut.npz', 'damaged or cut short']),
    ('compute_directions', ['{grams_eyes_asym.npz}'], ['grams_eyes_asym.npz', 'not symmetric']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--noise', '{d.npy}'], ['--noise', 'd.npy', 'not an .npz']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--noise', '{grams_eyes_cut.npz}'], ['--noise', 'grams_eyes_cut.npz']),
    ('compute_jacobian', ['{g.pt}', '--mask', '{mask_cut.png}', '--labels', '1'],
     ['--mask', 'mask_cut.png', 'not a readable PNG']),
    ('compute_jacobian', ['{g.pt}', '--jacobian_size', '100000'], ['--jacobian_size', 'larger than the image']),
    ('sefa', ['{g.pt}', '-N', '1000000000000'], ['not enough memory']),
    *[(script, ['{g.pt}', *(['{d.npy}'] if script == 'manipulate' else []), '--save_dir', '/proc/no_such/out'],
       ['/proc/no_such/out']) for script in ('sefa', 'synthesis', 'manipulate',
                                                                          'compute_jacobian')],
    ('compute_directions', ['{text.txt}'], ['text.txt']),
    ('compute_directions', ['{badshape_j.npy}'], ['badshape_j.npy']),
    ('compute_directions', ['{rect_j.npy}'], ['rect_j.npy', 'square']),
    ('compute_directions', ['{obj.npy}'], ['obj.npy']),
    ('compute_directions', ['{nan_j.npy}'], ['nan_j.npy', 'NaN']),
    ('compute_directions', ['{zero_j.npy}'], ['zero_j.npy', 'singular', '--full_rank']),
    ('compute_directions', ['{badgram.npz}'], ['badgram.npz', 'not a Gram-matrix file']),
    ('compute_directions', ['{grams_eyes.npz}', '--region', 'mouth'], ['--region', 'grams_eyes.npz']),
    ('compute_directions', ['{j.npy}', '--full_rank', '--tao', '0'], ['--tao']),
    ('compute_directions', ['{j.npy}', '--tao', 'nan'], ['--tao']),
    ('compute_directions', ['{j.npy}', '--region', 'ears'], ['--region', "unknown region 'ears'"]),
    ('compute_directions', ['{j.npy}', '--data_name', 'nope'], ['--data_name', "'nope'"]),
    ('compute_directions', ['{j.npy}', '--box', '300,300,10,10'], ['--box', 'outside']),
    ('compute_directions', ['{j.npy}', '--mask', '{mask.png}'], ['--labels']),
    ('compute_directions', ['{j.npy}', '--save_dir', '{a_file}'], ['--save_dir', 'is a file']),
    # manipulate.py: direction files of every wrong kind, and the edit options.
    ('manipulate', ['{g.pt}', '{missing.npy}'], ['DIRECTION', 'missing.npy']),
    ('manipulate', ['{g.pt}', 'no_such_direction'], ['DIRECTION', "'no_such_direction'"]),
    ('manipulate', ['{g.pt}', '{d.npz}'], ['DIRECTION', 'd.npz', '.npz']),
    ('manipulate', ['{g.pt}', '{obj.npy}'], ['DIRECTION', 'obj.npy']),
    ('manipulate', ['{g.pt}', '{text.txt}'], ['DIRECTION', 'text.txt']),
    ('manipulate', ['{g.pt}', '{zero.npy}'], ['DIRECTION', 'zero.npy', 'all zeros']),
    ('manipulate', ['{g.pt}', '{nan_d.npy}'], ['DIRECTION', 'nan_d.npy', 'NaN']),
    ('manipulate', ['{g.pt}', '{wide.npy}'], ['DIRECTION', 'wide.npy', 'w_dim=8']),
    ('manipulate', ['{g.pt}', '{d3.npy}'], ['DIRECTION', 'd3.npy']),
    ('manipulate', ['{g.pt}', '{int_d.npy}'], ['DIRECTION', 'int_d.npy']),
    ('manipulate', ['{g.pt}', '{bad_sidecar.npy}'], ['DIRECTION', 'bad_sidecar.json']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--start', '2', '--end', '3'], ['--start', 'within the 2']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--end', '0'], ['--end']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--mani_layers', '9'], ['--mani_layers', 'layer 9 is out of range']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--mani_layers', 'x'], ['--mani_layers']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--step', '0'], ['--step']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--start_distance', 'nan'], ['--start_distance']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--end_distance', 'inf'], ['--end_distance']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--region', 'ears'], ['--region', "unknown region 'ears'"]),
    ('manipulate', ['{g.pt}', '{d.npy}', '--save_dir', '{a_file}'], ['--save_dir', 'is a file']),
    # sefa.py.
    ('sefa', ['{g.pt}', '-L', '1-x'], ['-L/--layer_idx', "'1-x'"]),
    ('sefa', ['{g.pt}', '-L', '9'], ['-L/--layer_idx', 'layer 9 is out of range']),
    ('sefa', ['{g.pt}', '-L', ''], ['-L/--layer_idx', 'no indices']),
    ('sefa', ['{g.pt}', '-K', '0'], ['-K']),
    ('sefa', ['{g.pt}', '-K', '99'], ['-K/--num_semantics', '99 semantics asked']),
    ('sefa', ['{g.pt}', '-N', '-1'], ['-N']),
    ('sefa', ['{g.pt}', '--class', '1'], ['--class', 'unconditional']),
    ('sefa', ['{cond.pt}'], ['--class', 'conditional']),
    ('sefa', ['{biggan}', '-N', '1'], ['--class', 'conditional']),
    ('sefa', ['{biggan}', '--class', '2', '--trunc_psi', '0'], ['--trunc_psi']),
    ('sefa', ['{g.pt}', '--device', 'bogus'], ['--device']),
    ('sefa', ['{g.pt}', '--start_distance', 'nan'], ['--start_distance']),
    ('sefa', ['{g.pt}', '--start_distance', '-1e308'], ['--start_distance', 'must be >= -1000000']),
    ('manipulate', ['{g.pt}', '{d.npy}', '--end_distance', '1e38'], ['--end_distance', 'must be <= 1000000']),
    ('sefa', ['{g.pt}', '--step', '0'], ['--step']),
    ('sefa', ['{g.pt}', '--viz_size', '-1'], ['--viz_size']),
    ('sefa', ['{g.pt}', '--viz_size', '100000'], ['--viz_size']),
    ('sefa', ['{g.pt}', '--trunc_psi', '1e30'], ['--trunc_psi']),
    ('sefa', ['{g.pt}', '--trunc_psi', 'nan'], ['--trunc_psi']),
    ('sefa', ['{g.pt}', '--latent_path', '{d.npz}'], ['--latent_path', 'd.npz']),
    ('sefa', ['{g.pt}', '--save_dir', '{a_file}'], ['--save_dir', 'is a file']),
    ('sefa', ['sefa_stylegan2_r23'], ["unknown model name 'sefa_stylegan2_r23'"]),
]


def _ids():
    return [f'{i:03d}-{script}-{"_".join(a.strip("{}") for a in args[1:] or args)[:40]}'
            for i, (script, args, _) in enumerate(CASES)]


def test_the_table_is_large():
    assert len(CASES) >= 60 and set(script for script, _, _ in CASES) == set(SCRIPTS)


@pytest.mark.parametrize('script, args, fragments', CASES, ids=_ids())
def test_bad_input(script, args, fragments, files, tmp_path, monkeypatch):
    if args[-2:] == ['--device', 'cuda'] and torch.cuda.is_available():
        pytest.skip('--device cuda is good input on this machine: it has a GPU')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('GANSEMANTICS_OFFLINE', '1')
    monkeypatch.setenv('GANSEMANTICS_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('GANSEMANTICS_CHECKPOINTS', str(tmp_path / 'checkpoints'))
    argv = [os.path.join(files, a[1:-1]) if a.startswith('{') else a for a in args]
    if '--save_dir' not in argv:
        argv += ['--save_dir', 'out']
    result = CliRunner().invoke(SCRIPTS[script].main, argv)
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert 'Traceback' not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith('Error:')]
    assert len(errors) == 1, result.output
    usage = [i for i, line in enumerate(lines) if line.startswith('Usage:')]
    first = usage[0] if usage else errors[0]
    assert len(lines) - first <= 3, result.output  # 'Usage:', 'Try ...', 'Error: ...' at most
    for fragment in fragments:
        assert fragment in lines[errors[0]], result.output
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
