"""synthesis.py end to end: outputs, formats, determinism, bad input."""

import json
import re

import numpy as np
import pytest
import torch

import synthesis
from models import load_generator
from tests.clitools import assert_one_line_error, invoke, printed
from tests.conftest import golden_case, load_pt
from tests.layouts import to_hammer, to_rosinality
from tests.pickles import write_nvlabs_pickle


def run(args):
    return invoke(synthesis, args)


def folder_of(result):
    """The run folder synthesis.py wrote into (it holds the page, the codes and the images)."""
    assert result.exit_code == 0, result.output
    return printed(result, 'HTML page').parent


@pytest.fixture(scope='module')
def three_formats(tmp_path_factory):
    """The same StyleGAN2 weights as an NVlabs .pkl, a Hammer .pth and a rosinality .pt."""
    case_dir = golden_case('nvlabs_sg2_uncond_r32')
    tmp = tmp_path_factory.mktemp('formats')
    meta = json.loads((case_dir / 'meta.json').read_text())
    state = {k: v for k, v in load_pt(case_dir / 'state_dict.pt').items() if 'resample_filter' not in k}
    pkl = write_nvlabs_pickle(tmp / 'network-snapshot.pkl', state, meta['init_kwargs'],
                              buffer_names=('w_avg', 'noise_const'))
    torch.save({'models': {'generator_smooth': to_hammer(state)}}, tmp / 'hammer.pth')
    torch.save(to_rosinality(state), tmp / 'rosinality.pt')
    return {'pkl': pkl, 'pth': tmp / 'hammer.pth', 'pt': tmp / 'rosinality.pt'}


def test_three_formats_give_identical_images(three_formats, tmp_path):
    outputs = {}
    for name, path in three_formats.items():
        save_dir = tmp_path / name
        result = run([path, '--stylegan2', '--nums', 8, '--img_size', 32, '--save_dir', save_dir, '--save_jpg',
                      '--vis_size', 32])
        job = folder_of(result)
        assert job.name == 'seed_4_num_8' and job.parent.parent == save_dir
        assert (job / 'synthesis.html').is_file()
        outputs[name] = (np.load(job / 'latent_codes.npy'), [(job / f'{i:06d}.jpg').read_bytes() for i in range(8)])
    ws_pkl, jpg_pkl = outputs['pkl']
    assert ws_pkl.shape == (8, 8, 64)
    for name in ('pth', 'pt'):
        assert np.array_equal(outputs[name][0], ws_pkl), name
        assert outputs[name][1] == jpg_pkl, name


def test_page_shows_every_image(three_formats, tmp_path):
    result = run([three_formats['pth'], '--nums', 6, '--save_dir', tmp_path, '--vis_size', 32])
    page = (folder_of(result) / 'synthesis.html').read_text()
    uris = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(uris) == 6
    import base64
    import io

    from PIL import Image
    for uri in uris:
        assert Image.open(io.BytesIO(base64.b64decode(uri))).size == (32, 32)
    assert 'HTML page:' in result.output


def test_same_seed_same_bytes(tmp_path):
    paths = []
    for name in ('a', 'b'):
        result = run(['builtin:stylegan2-tiny', '--nums', 3, '--save_dir', tmp_path / name, '--save_jpg'])
        assert 'RANDOM weights' in result.output
        paths.append(folder_of(result))
    for file in ('latent_codes.npy', '000000.jpg', '000002.jpg'):
        assert (paths[0] / file).read_bytes() == (paths[1] / file).read_bytes()
    other = folder_of(run(['builtin:stylegan2-tiny', '--nums', 3, '--seed', 5, '--save_dir', tmp_path / 'c']))
    assert other.name == 'seed_5_num_3'
    assert not np.array_equal(np.load(paths[0] / 'latent_codes.npy'), np.load(other / 'latent_codes.npy'))


def test_the_page_says_which_layers_were_truncated(tmp_path):
    num_ws = load_generator('builtin:stylegan2-tiny').num_ws
    for cutoff, said in ((2, 'psi 0.7 on the first 2 layers'), (num_ws, f'psi 0.7 on all {num_ws} layers'),
                         (num_ws + 5, f'psi 0.7 on all {num_ws} layers (--trunc_layers {num_ws + 5} is more than '
                                      'the model has)')):
        page = printed(run(['builtin:stylegan2-tiny', '--nums', 1, '--trunc_layers', cutoff,
                            '--save_dir', tmp_path]), 'HTML page').read_text()
        assert f'Truncation: {said}' in page
    full = np.load(printed(run(['builtin:stylegan2-tiny', '--nums', 1, '--trunc_layers', num_ws, '--save_dir',
                                tmp_path / 'a']), 'Latent codes'))
    beyond = np.load(printed(run(['builtin:stylegan2-tiny', '--nums', 1, '--trunc_layers', num_ws + 5,
                                  '--save_dir', tmp_path / 'b']), 'Latent codes'))
    np.testing.assert_array_equal(full, beyond)


def test_latent_path_reproduces_and_accepts_w_plus(tmp_path):
    first = folder_of(run(['builtin:stylegan2-tiny', '--nums', 2, '--save_dir', tmp_path / 'a', '--save_jpg']))
    wp = first / 'latent_codes.npy'
    again = folder_of(run(['builtin:stylegan2-tiny', '--nums', 2, '--latent_path', wp, '--save_dir', tmp_path / 'b',
                           '--save_jpg']))
    assert again.name.startswith('latents_latent_codes-') and again.name.endswith('_num_2')
    assert np.array_equal(np.load(wp), np.load(again / 'latent_codes.npy'))
    assert (first / '000001.jpg').read_bytes() == (again / '000001.jpg').read_bytes()


def test_contradicting_flag(three_formats, tmp_path):
    result = run([three_formats['pth'], '--img_size', 64, '--save_dir', tmp_path])
    assert result.exit_code != 0
    assert '--img_size gives img_resolution=64, but the checkpoint holds img_resolution=32' in result.output
    result = run([three_formats['pt'], '--stylegan3', '--save_dir', tmp_path])
    assert result.exit_code != 0 and '--stylegan3 was given' in result.output


def test_conditional_model_needs_class(tmp_path):
    case_dir = golden_case('nvlabs_sg2_cond_r32')
    result = run([case_dir / 'state_dict.pt', '--nums', 2, '--save_dir', tmp_path])
    assert_one_line_error(result, '--class', 'conditional (5 classes): give a class')
    result = run([case_dir / 'state_dict.pt', '--nums', 2, '--class', 3, '--save_dir', tmp_path])
    assert folder_of(result).name == 'seed_4_num_2_class_3'
