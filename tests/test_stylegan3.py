"""StyleGAN3 (configs T and R) against the NVlabs and Hammer golden cases."""

import json

import numpy as np
import pytest
import torch
from conftest import DEVICE, golden_case, load_pt, max_abs_diff

from models import forward_mode, ops
from models.checkpoints import CheckpointError, SettingMismatch, read_checkpoint
from models.checkpoints import stylegan3_names as names
from models.stylegan3 import StyleGAN3Config, StyleGAN3Generator, make_transform, synthesis_specs

TOL = 1e-4
NVLABS_CASES = ['nvlabs_sg3t_r32', 'nvlabs_sg3r_r32']
HAMMER_CASES = ['hammer_sg3t_r32', 'hammer_sg3r_r32']


def nvlabs_case(name):
    path = golden_case(name)
    meta = json.loads((path / 'meta.json').read_text())
    state = load_pt(path / 'state_dict.pt')
    config = names.config_from_nvlabs_kwargs(meta['init_kwargs'])
    return path, config, state


def hammer_case(name):
    path = golden_case(name)
    checkpoint = load_pt(path / 'hammer_checkpoint.pth')
    models = checkpoint['models']
    which = 'generator_smooth' if 'generator_smooth' in models else 'generator'
    kwargs = checkpoint.get('model_kwargs_init', {}).get(which)
    return path, models[which], kwargs


def build(config, state, device='cpu'):
    G = StyleGAN3Generator(config).eval()
    G.load_state_dict(state, strict=True)
    return G.to(device)


def record_styles(G, key_of):
    """Forward hooks storing every style affine output under `key_of(layer_name)`."""
    styles = {}
    hooks = []
    for name, module in G.named_modules():
        if name.endswith('.affine'):
            key = key_of(name)
            if key is not None:
                hooks.append(module.register_forward_hook(
                    lambda mod, inputs, output, key=key: styles.__setitem__(key, output)))
    return styles, hooks


def check_all(ours, golden):
    diffs = {key: max_abs_diff(value, golden[key]) for key, value in ours.items()}
    bad = {key: diff for key, diff in diffs.items() if not diff <= TOL}
    assert not bad, f'outputs off by more than {TOL}: {bad}'
    return diffs


@pytest.mark.parametrize('case', NVLABS_CASES)
def test_nvlabs_golden(case):
    path, config, state = nvlabs_case(case)
    assert names.is_nvlabs_stylegan3_state(state) and not names.is_hammer_stylegan3_state(state)
    G = build(config, names.convert_nvlabs_state(state, config), DEVICE)
    inputs, golden = load_pt(path / 'inputs.pt', DEVICE), load_pt(path / 'outputs.pt', DEVICE)
    z, c = inputs['z'], inputs['c']
    styles, hooks = record_styles(G, lambda name: name[:-len('.affine')] + '.affine')
    ours = {}
    with torch.no_grad():
        ours['ws'] = G.mapping(z, c)
        ours['ws_psi07'] = G.mapping(z, c, truncation_psi=0.7)
        ours['ws_psi07_cutoff4'] = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4)
        ours['img_const'] = G(z, c, noise_mode='const')
        for hook in hooks:
            hook.remove()
        ours['img_const_psi07'] = G(z, c, truncation_psi=0.7, noise_mode='const')
        ours['img_synthesis_ws'] = G.synthesis(golden['ws'], noise_mode='const')
        G.set_transform(*inputs['transform_translate'].tolist(), inputs['transform_rotate_deg'].item())
        assert max_abs_diff(G.synthesis.input.transform, inputs['transform_matrix']) == 0
        ours['img_transform'] = G(z, c, noise_mode='const')
    assert sorted(styles) == sorted(golden['styles'])
    check_all(ours, golden)
    check_all(styles, golden['styles'])


@pytest.mark.parametrize('case', HAMMER_CASES)
@pytest.mark.parametrize('use_kwargs', [True, False], ids=['kwargs', 'inferred'])
def test_hammer_golden(case, use_kwargs):
    path, state, kwargs = hammer_case(case)
    assert names.is_hammer_stylegan3_state(state) and not names.is_nvlabs_stylegan3_state(state)
    config = names.config_from_hammer(state, kwargs if use_kwargs else None)
    G = build(config, names.convert_hammer_state(state, config), DEVICE)
    inputs, golden = load_pt(path / 'inputs.pt', DEVICE), load_pt(path / 'outputs.pt', DEVICE)
    z = inputs['z']
    layer_index = {name: idx for idx, name in enumerate(G.synthesis.layer_names)}
    styles, hooks = record_styles(G, lambda name: (f'style{layer_index[name.split(".")[1]]}'
                                                   if name.split('.')[1] in layer_index else None))
    ours = {}
    with torch.no_grad():
        ours['z_normalized'] = ops.normalize_2nd_moment(z)  # what the mapping's first step sees
        ws = G.mapping(z)
        ours['w'], ours['wp'] = ws[:, 0], ws
        ours['img_default'] = G(z)
        for hook in hooks:
            hook.remove()
        ours['wp_psi07'] = G.mapping(z, truncation_psi=0.7, truncation_cutoff=8)
        ours['img_psi07'] = G(z, truncation_psi=0.7, truncation_cutoff=8)
        ours['img_synthesis_wp'] = G.synthesis(golden['wp'])
        G.set_transform(*inputs['transform_tx_ty_rotate'].tolist())
        assert max_abs_diff(G.synthesis.input.transform, inputs['transform_matrix']) == 0
        ours['img_transform'] = G.synthesis(golden['wp'])
    assert sorted(styles) == sorted(golden['styles'])
    check_all(ours, golden)
    check_all(styles, golden['styles'])


def test_hammer_kwargs_and_inference_agree():
    for case, cfg in zip(HAMMER_CASES, 'TR'):
        _, state, kwargs = hammer_case(case)
        given = names.config_from_hammer(state, kwargs)
        inferred = names.config_from_hammer(state, hints={'img_resolution': 32})
        assert synthesis_specs(given) == synthesis_specs(inferred)
        assert synthesis_specs(names.config_from_hammer(state)) == synthesis_specs(given)
        assert names.cfg_of(given) == names.cfg_of(inferred) == cfg
        assert (given.conv_kernel, given.use_radial_filters) == ((3, False) if cfg == 'T' else (1, True))


def test_filter_design_matches_checkpoints():
    for case in NVLABS_CASES:
        _, config, state = nvlabs_case(case)
        designed = names.designed_filters(config)
        stored = {k: v for k, v in state.items() if k.endswith('_filter')}
        assert sorted(designed) == sorted(stored)
        assert max(max_abs_diff(designed[k], stored[k]) for k in stored) <= 1e-6
    for case in HAMMER_CASES:
        _, state, kwargs = hammer_case(case)
        config = names.config_from_hammer(state, kwargs)
        for spec in synthesis_specs(config)[1]:
            for kind, ours in (('up_filter', spec.up_filter()), ('down_filter', spec.down_filter())):
                theirs = state.get(f'synthesis.layer{spec.idx}.filter.{kind}')
                assert (ours is None) == (theirs is None)
                if ours is not None:
                    assert max_abs_diff(ours, theirs) <= 1e-6
                    assert ours.ndim == (2 if kind == 'down_filter' and spec.down_radial else 1)


def test_make_transform_and_set_transform():
    m = make_transform((0.25, -0.5), 30)
    assert np.allclose(m[:2, :2], [[np.cos(np.pi / 6), np.sin(np.pi / 6)], [-np.sin(np.pi / 6), np.cos(np.pi / 6)]])
    assert np.allclose(m[:2, 2], [0.25, -0.5]) and np.allclose(m[2], [0, 0, 1])
    G = StyleGAN3Generator(tiny_config())
    G.set_transform(0.25, -0.5, 30)
    assert np.allclose(G.synthesis.input.transform.numpy() @ m, np.eye(3), atol=1e-6)


def tiny_config(**kwargs):
    base = dict(z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=8, num_layers=4,
                num_critical=1, margin_size=2, mapping_layers=1)
    return StyleGAN3Config(**{**base, **kwargs})


@pytest.mark.parametrize('cfg', ['T', 'R'])
def test_forward_jacobian_matches_reverse_mode(cfg):
    extra = {} if cfg == 'T' else dict(conv_kernel=1, use_radial_filters=True)
    G = StyleGAN3Generator(tiny_config(**extra)).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for param in G.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    w = torch.randn([1, G.w_dim], generator=generator)
    picked = torch.randperm(G.img_channels * G.img_resolution ** 2, generator=generator)[:32]

    def image(w, fused):
        return G.synthesis(w.unsqueeze(1).repeat([1, G.num_ws, 1]), fused_modconv=fused).reshape(-1)

    reverse = torch.autograd.functional.jacobian(lambda w: image(w, True)[picked], w)[:, 0]  # [32, w_dim]
    basis = torch.eye(G.w_dim)[:5].unsqueeze(1)  # [5, 1, w_dim]
    for fused in (True, False):
        def tangent(v, fused=fused):
            return torch.func.jvp(lambda w: image(w, fused), (w,), (v,))[1]

        forward = torch.func.vmap(tangent)(basis)
        assert max_abs_diff(forward[:, picked].t(), reverse[:, :5]) <= 1e-5


@pytest.mark.parametrize('cfg', ['T', 'R'])
@pytest.mark.parametrize('layers', [None, [0, 2, 5]])
def test_linearize_push_equals_autograd(cfg, layers, monkeypatch):
    """The hand-written forward-mode pass gives torch's own Jacobian: biases, magnitude EMA,
    a user transform and a clamp that is reached, on all layers or a subset."""
    from semantics import jacobian
    zero_slopes = []  # per layer: whether it reaches the clamp, so that its zero slopes are exercised
    slopes_of = forward_mode._slopes

    def recording(*args):
        slopes = slopes_of(*args)
        zero_slopes.append(bool((slopes == 0).any()))
        return slopes

    monkeypatch.setattr(forward_mode, '_slopes', recording)
    extra = {} if cfg == 'T' else dict(conv_kernel=1, use_radial_filters=True)
    G = StyleGAN3Generator(tiny_config(conv_clamp=0.3, **extra)).eval().requires_grad_(False)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for param in G.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
        for name, buf in G.named_buffers():
            if name.endswith('magnitude_ema'):
                buf.fill_(0.6)
    G.set_transform(0.1, -0.2, 15)
    w = torch.randn([1, G.w_dim], generator=generator)
    base = torch.randn([G.num_ws, G.w_dim], generator=generator)
    moving = list(range(G.num_ws)) if layers is None else layers

    def image(v):
        ws = base.clone().unsqueeze(0)
        ws[:, moving] = v.unsqueeze(1)
        return G.synthesis(ws)

    ref = torch.func.jacfwd(image)(w)[0, :, :, :, 0]  # [C, H, W, w_dim]
    ours = next(jacobian.iter_jacobians(G, w.numpy(), layers=moving, w_base=base, chunk_size=3, method='tangent'))
    assert ref.abs().max() > 0.05
    assert max_abs_diff(ours, ref) <= 1e-5 * ref.abs().max()
    ws = base.clone().unsqueeze(0)
    ws[:, moving] = w.unsqueeze(1)
    assert any(zero_slopes)
    img, _ = forward_mode.linearize_stylegan3(G.synthesis, ws)
    assert torch.equal(img, G.synthesis(ws))  # the primal pass is the generator's own


def test_fused_and_unfused_modconv_agree():
    G = StyleGAN3Generator(tiny_config()).eval()
    with torch.no_grad():
        ws = G.mapping(torch.randn([3, G.z_dim]))
        assert max_abs_diff(G.synthesis(ws, fused_modconv=True), G.synthesis(ws, fused_modconv=False)) <= 1e-5


def test_nvlabs_converter_rejects_bad_states():
    _, config, state = nvlabs_case('nvlabs_sg3t_r32')
    key = 'synthesis.L3_36_32.affine.bias'
    with pytest.raises(ValueError, match=key):
        names.convert_nvlabs_state({k: v for k, v in state.items() if k != key}, config)
    with pytest.raises(ValueError, match=key):
        names.convert_nvlabs_state({**state, key: state[key][:-1]}, config)
    with pytest.raises(ValueError, match='synthesis.extra'):
        names.convert_nvlabs_state({**state, 'synthesis.extra': state[key]}, config)
    bad = 'synthesis.L2_36_32.down_filter'
    with pytest.raises(ValueError, match=bad):
        names.convert_nvlabs_state({**state, bad: state[bad].flip(0) * 1.1}, config)
    config_r = StyleGAN3Config(**{**config.to_dict(), 'use_radial_filters': True, 'conv_kernel': 1})
    with pytest.raises(CheckpointError, match=r'L0_36_32.weight has shape \[32, 32, 3, 3\], expected \[32, 32, 1, 1'):
        names.convert_nvlabs_state(state, config_r)  # the file holds config T, the config says R
    kernels = {k: v[..., 1:2, 1:2] for k, v in state.items() if k.endswith('.weight') and v.ndim == 4}
    with pytest.raises(CheckpointError, match=r'L0_36_32.down_filter has shape \[12\], the config .*R.* designs'):
        names.convert_nvlabs_state({**state, **kernels}, config_r)  # 1x1 kernels, but T's filters
    with pytest.raises(ValueError, match='bogus'):
        names.config_from_nvlabs_kwargs({**json.loads((golden_case('nvlabs_sg3t_r32') / 'meta.json')
                                                      .read_text())['init_kwargs'], 'bogus': 1})


def test_hammer_converter_rejects_bad_states(tmp_path):
    path, state, kwargs = hammer_case('hammer_sg3t_r32')
    config = names.config_from_hammer(state, kwargs)
    key = 'synthesis.layer3.conv.style.bias'
    with pytest.raises(ValueError, match=f'missing tensor {key}'):
        names.convert_hammer_state({k: v for k, v in state.items() if k != key}, config)
    with pytest.raises(ValueError, match=f'tensor {key} has shape'):
        names.convert_hammer_state({**state, key: state[key][:-1]}, config)
    with pytest.raises(ValueError, match='unexpected tensor synthesis.layer99.conv.weight'):
        names.convert_hammer_state({**state, 'synthesis.layer99.conv.weight': state[key]}, config)
    with pytest.raises(ValueError, match='missing tensor mapping.dense1.bias'):  # a pattern rule, run backwards
        names.convert_hammer_state({k: v for k, v in state.items() if k != 'mapping.dense1.bias'}, config)
    with pytest.raises(ValueError, match='final_tanh'):
        names.config_from_hammer(state, {**kwargs, 'final_tanh': True})
    wrong = names.config_from_hammer(state, {**kwargs, 'use_radial_filter': True})
    with pytest.raises(ValueError, match='down_filter'):
        names.convert_hammer_state(state, wrong)
    # Settings asked for are checked after reading, with or without the constructor kwargs.
    torch.save({'generator_smooth': state}, tmp_path / 'no_kwargs.pth')
    for file in (path / 'hammer_checkpoint.pth', tmp_path / 'no_kwargs.pth'):
        with pytest.raises(SettingMismatch, match='cfg=R was asked for, but the checkpoint holds cfg=T'):
            read_checkpoint(file, cfg='R')
        with pytest.raises(SettingMismatch, match='w_dim=64 was asked for, but the checkpoint holds w_dim=32'):
            read_checkpoint(file, w_dim=64)
        assert read_checkpoint(file, cfg='T', family='stylegan3', img_resolution=32).extra['cfg'] == 'T'


@pytest.mark.parametrize('case,cfg', [('nvlabs_sg3t_r32', 'T'), ('nvlabs_sg3r_r32', 'R')])
def test_nvlabs_pickle_cfg(case, cfg, tmp_path):
    from tests.pickles import write_nvlabs_pickle
    path, _, state = nvlabs_case(case)
    meta = json.loads((path / 'meta.json').read_text())
    pickle_path = write_nvlabs_pickle(tmp_path / 'snapshot.pkl', state, meta['init_kwargs'],
                                      buffer_names=('w_avg', 'filter', 'magnitude_ema', 'transform', 'freqs', 'phases'))
    checkpoint = read_checkpoint(pickle_path, cfg=cfg)
    assert (checkpoint.family, checkpoint.format, checkpoint.extra['cfg']) == ('stylegan3', 'NVlabs pickle', cfg)
    other = 'R' if cfg == 'T' else 'T'
    with pytest.raises(SettingMismatch) as info:
        read_checkpoint(pickle_path, cfg=other)
    assert (info.value.setting, info.value.given, info.value.held) == ('cfg', other, cfg)
    with pytest.raises(CheckpointError, match='no constructor kwargs'):  # a bare state dict cannot tell the config
        torch.save(state, tmp_path / 'state_dict.pt')
        read_checkpoint(tmp_path / 'state_dict.pt')
