"""StyleGAN2 fidelity against the golden outputs of the official implementations."""

import json

import pytest
import torch

from models import load_generator
from models.checkpoints import read_checkpoint
from tests.conftest import DEVICE, golden_case, load_pt, max_abs_diff
from tests.pickles import write_nvlabs_pickle

TOL = 1e-4
NVLABS_CASES = ['nvlabs_sg2_uncond_r32', 'nvlabs_sg2_cond_r32']


def _nvlabs_pickle(case_dir, tmp_path):
    meta = json.loads((case_dir / 'meta.json').read_text())
    state = load_pt(case_dir / 'state_dict.pt')
    buffers = ('w_avg', 'noise_const', 'resample_filter')
    return write_nvlabs_pickle(tmp_path / 'network-snapshot-000000.pkl', state, meta['init_kwargs'],
                               buffer_names=buffers)


def _affine_outputs(generator, call):
    """Outputs of every style affine layer during `call()`, by our module names."""
    styles, hooks = {}, []
    for _, name, module in generator.style_layers():
        hooks.append(module.register_forward_hook(
            lambda mod, inp, out, name=name: styles.__setitem__(name, out.detach().clone())))
    try:
        with torch.no_grad():
            call()
    finally:
        for hook in hooks:
            hook.remove()
    return styles


@pytest.mark.parametrize('case', NVLABS_CASES)
@pytest.mark.parametrize('fmt', ['state_dict', 'pickle'])
def test_nvlabs_golden(case, fmt, tmp_path):
    case_dir = golden_case(case)
    path = case_dir / 'state_dict.pt' if fmt == 'state_dict' else _nvlabs_pickle(case_dir, tmp_path)
    G = load_generator(path, device=DEVICE)
    inputs, ref = load_pt(case_dir / 'inputs.pt', DEVICE), load_pt(case_dir / 'outputs.pt', DEVICE)
    z, c = inputs['z'], inputs['c'] if inputs['c'].shape[1] else None
    with torch.no_grad():
        ours = {
            'ws': G.mapping(z, c),
            'ws_psi07': G.mapping(z, c, truncation_psi=0.7),
            'ws_psi07_cutoff4': G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4),
            'img_const': G(z, c, noise_mode='const'),
            'img_const_psi07': G(z, c, truncation_psi=0.7, noise_mode='const'),
            'img_synthesis_ws': G.synthesis(ref['ws'], noise_mode='const'),
            'img_none': G(z, c, noise_mode='none'),
        }
    for key, value in ours.items():
        assert max_abs_diff(value, ref[key]) <= TOL, key
    styles = _affine_outputs(G, lambda: G(z, c, noise_mode='const'))
    assert set(styles) == {k.rsplit('.affine', 1)[0] for k in ref['styles']}
    for key, value in ref['styles'].items():
        assert max_abs_diff(styles[key.rsplit('.affine', 1)[0]], value) <= TOL, key


def test_nvlabs_pickle_config_from_init_kwargs(tmp_path):
    case_dir = golden_case('nvlabs_sg2_cond_r32')
    checkpoint = read_checkpoint(_nvlabs_pickle(case_dir, tmp_path))
    assert checkpoint.family == 'stylegan2' and checkpoint.format == 'NVlabs pickle'
    assert checkpoint.config.conv_clamp == 256 and checkpoint.config.num_fp16_res == 4
    assert checkpoint.config.c_dim == 5 and checkpoint.config.channel_max == 32


def test_nonfused_modconv_matches(tmp_path):
    case_dir = golden_case('nvlabs_sg2_uncond_r32')
    G = load_generator(case_dir / 'state_dict.pt', device=DEVICE)
    ref = load_pt(case_dir / 'outputs.pt', DEVICE)
    with torch.no_grad():
        img = G.synthesis(ref['ws'], fused_modconv=False)
    assert max_abs_diff(img, ref['img_synthesis_ws']) <= TOL


def test_rosinality_golden():
    case_dir = golden_case('rosinality_sg2_r32')
    G = load_generator(case_dir / 'rosinality_ckpt.pt', device=DEVICE)
    assert G.config.img_resolution == 32 and G.num_ws == 8 and G.config.channel_max == 32
    inputs, ref = load_pt(case_dir / 'inputs.pt', DEVICE), load_pt(case_dir / 'outputs.pt', DEVICE)
    z, z2 = inputs['z'], inputs['z2']
    with torch.no_grad():
        ws = G.mapping(z)
        mixed = torch.cat([ref['w'][:, None].repeat(1, 3, 1), G.mapping(z2)[:, 3:]], dim=1)
        ours = {
            'w': ws[:, 0],
            'ws': ws,
            'img_const': G(z),
            'img_const_trunc07': G(z, truncation_psi=0.7),
            'ws_trunc07': G.mapping(z, truncation_psi=0.7),
            'img_from_w': G.synthesis(ref['w'][:, None].repeat(1, G.num_ws, 1)),
            'img_mix_inject3': G.synthesis(mixed),
            'img_zero_noise': G(z, noise_mode='none'),
        }
    for key, value in ours.items():
        assert max_abs_diff(value, ref[key]) <= TOL, key
    # Style outputs, matched by rosinality layer order.
    styles = _affine_outputs(G, lambda: G(z))
    ros = {'conv1.conv.modulation': 'synthesis.b4.conv1', 'to_rgb1.conv.modulation': 'synthesis.b4.torgb'}
    for k in range(3):
        res = 8 * 2 ** k
        ros[f'convs.{2 * k}.conv.modulation'] = f'synthesis.b{res}.conv0'
        ros[f'convs.{2 * k + 1}.conv.modulation'] = f'synthesis.b{res}.conv1'
        ros[f'to_rgbs.{k}.conv.modulation'] = f'synthesis.b{res}.torgb'
    assert set(ros.values()) == {name for _, name, _ in G.style_layers()}
    for key, value in ref['styles'].items():
        assert max_abs_diff(styles[ros[key]], value) <= TOL, key


def test_hammer_golden():
    case_dir = golden_case('hammer_sg2_r32')
    checkpoint = read_checkpoint(case_dir / 'hammer_checkpoint.pth')
    assert checkpoint.extra['which'] == 'generator_smooth'
    G = load_generator(case_dir / 'hammer_checkpoint.pth', device=DEVICE)
    inputs, ref = load_pt(case_dir / 'inputs.pt', DEVICE), load_pt(case_dir / 'outputs.pt', DEVICE)
    z = inputs['z']
    with torch.no_grad():
        ours = {
            'w': G.mapping(z)[:, 0],
            'wp': G.mapping(z),
            'img_default': G(z),
            'wp_psi07': G.mapping(z, truncation_psi=0.7, truncation_cutoff=8),
            'img_psi07': G(z, truncation_psi=0.7, truncation_cutoff=8),
            'img_synthesis_wp': G.synthesis(ref['wp']),
            'img_noise_none': G.synthesis(ref['wp'], noise_mode='none'),
        }
    for key, value in ours.items():
        assert max_abs_diff(value, ref[key]) <= TOL, key
    styles = _affine_outputs(G, lambda: G(z))
    conv_names = [name for _, name, _ in G.style_layers() if not name.endswith('torgb')]
    rgb_names = [name for _, name, _ in G.style_layers() if name.endswith('torgb')]
    for key, value in ref['styles'].items():
        index = int(key.rsplit('style', 1)[1])
        name = rgb_names[index] if key.startswith('output_style') else conv_names[index]
        assert max_abs_diff(styles[name], value) <= TOL, key


def test_three_formats_same_weights_same_images(tmp_path):
    """The NVlabs state dict, a pickle and the Hammer file of the golden cases load identically."""
    case_dir = golden_case('nvlabs_sg2_uncond_r32')
    a = load_generator(case_dir / 'state_dict.pt')
    b = load_generator(_nvlabs_pickle(case_dir, tmp_path))
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


def test_style_layers_cover_every_ws_index():
    G = load_generator('builtin:stylegan2-tiny')
    indices = sorted({index for index, _, _ in G.style_layers()})
    assert indices == list(range(G.num_ws))
    assert len(G.style_layers()) == G.num_ws + len(G.synthesis.block_resolutions) - 1
