"""NVlabs TensorFlow network pickles (StyleGAN2, StyleGAN, PGGAN), read without TensorFlow.

The pickles are built by `tests.pickles` in the public layout of
`dnnlib.tflib.network.Network` (`tfutil.Network` for the original PGGAN
release). Their variables are the golden weights written back into TensorFlow
layout by the inverse mappings of `tests.layouts`, so loading them must give
the golden images.
"""

import dataclasses
import sys

import numpy as np
import pytest
import torch
from conftest import golden_case, load_pt, max_abs_diff

from models import CheckpointError, SettingMismatch, build_generator, load_generator
from models.checkpoints import read_checkpoint
from tests.layouts import pggan_to_tf, stylegan2_to_tf, stylegan_to_tf
from tests.pickles import never_run_src, write_tf_pickle

EXACT = 1e-6   # same weights through two formats
TOL = 1e-4     # against the official outputs


# ----------------------------------------------------------------------------
# Fixtures: golden weights, reference generators, pickles.

SG2_KWARGS = dict(num_channels=3, resolution=32, label_size=0, fmap_base=256, fmap_max=32, latent_size=64,
                  dlatent_size=64, truncation_psi=0.5)


@pytest.fixture(scope='module')
def sg2_case():
    path = golden_case('nvlabs_sg2_uncond_r32')
    reference = load_generator(path / 'state_dict.pt')
    sd = load_pt(path / 'state_dict.pt')
    return reference, sd, load_pt(path / 'inputs.pt'), load_pt(path / 'outputs.pt')


@pytest.fixture(scope='module')
def sg1_case():
    path = golden_case('sefa_stylegan_r32')
    reference = load_generator(path / 'checkpoints' / 'sefa_stylegan_r32.pth')
    return reference, path, load_pt(path / 'inputs.pt'), load_pt(path / 'outputs.pt')


@pytest.fixture(scope='module')
def pggan_case():
    path = golden_case('sefa_pggan_r32')
    reference = load_generator(path / 'checkpoints' / 'sefa_pggan_r32.pth')
    return reference, load_pt(path / 'inputs.pt'), load_pt(path / 'outputs.pt')


def check(name, ours, theirs, tol):
    diff = max_abs_diff(ours, theirs)
    assert diff <= tol, f'{name}: max |diff| {diff:.3g} > {tol}'
    return diff


def check_same_weights(ours, reference):
    a, b = ours.state_dict(), reference.state_dict()
    assert sorted(a) == sorted(b)
    for key in a:
        check(key, a[key], b[key], EXACT)


def sg2_pickle(tmp_path, sg2_case, form='tuple', **kwargs):
    _, sd, _, _ = sg2_case
    return write_tf_pickle(tmp_path / 'stylegan2-config-f.pkl', stylegan2_to_tf(sd, 32, SG2_KWARGS), form, **kwargs)


# ----------------------------------------------------------------------------
# Golden cases.

def test_stylegan2_matches_golden(tmp_path, sg2_case):
    reference, _, inputs, outputs = sg2_case
    G = load_generator(sg2_pickle(tmp_path, sg2_case, form='dict'))
    assert (G.family, G.checkpoint_format) == ('stylegan2', 'NVlabs TensorFlow pickle')
    assert G.config == reference.config
    check_same_weights(G, reference)
    z = inputs['z']
    with torch.no_grad():
        ws = G.mapping(z)
        check('ws', ws, outputs['ws'], TOL)
        check('ws_psi07', G.mapping(z, truncation_psi=0.7), outputs['ws_psi07'], TOL)
        check('ws_psi07_cutoff4', G.mapping(z, truncation_psi=0.7, truncation_cutoff=4), outputs['ws_psi07_cutoff4'],
              TOL)
        img = G(z)
        check('img_const vs reference', img, reference(z), EXACT)
        check('img_const', img, outputs['img_const'], TOL)
        check('img_const_psi07', G(z, truncation_psi=0.7), outputs['img_const_psi07'], TOL)
        check('img_synthesis_ws', G.synthesis(outputs['ws']), outputs['img_synthesis_ws'], TOL)
        check('img_none', G(z, noise_mode='none'), outputs['img_none'], TOL)


def test_tuple_form(tmp_path, sg2_case):
    """Official TensorFlow pickles hold `(G, D, Gs)`; `Gs` (not the perturbed `G`) is read."""
    reference, _, inputs, outputs = sg2_case
    path = sg2_pickle(tmp_path, sg2_case, form='tuple')
    checkpoint = read_checkpoint(path)
    assert (checkpoint.family, checkpoint.format, checkpoint.extra['which']) == (
        'stylegan2', 'NVlabs TensorFlow pickle', 'Gs')
    G = load_generator(path)
    check_same_weights(G, reference)
    with torch.no_grad():
        check('img_const', G(inputs['z']), outputs['img_const'], TOL)


def test_numpy_1_pickles(tmp_path, sg2_case):
    """Pickles written under numpy 1.x name `numpy.core.multiarray`."""
    path = sg2_pickle(tmp_path, sg2_case, protocol=2)
    blob = path.read_bytes().replace(b'numpy._core.multiarray\n', b'numpy.core.multiarray\n')
    assert b'numpy._core' not in blob and b'numpy.core.multiarray\n_reconstruct' in blob
    path.write_bytes(blob)
    reference, _, inputs, _ = sg2_case
    G = load_generator(path)
    with torch.no_grad():
        check('img_const vs reference', G(inputs['z']), reference(inputs['z']), EXACT)


def fused_twin(reference, family, num_up_layers):
    """The reference with every upsampling layer fused and its kernel flipped: the same function.

    A fused upsampling layer (a transposed convolution of the kernel summed over
    2x2 shifts) computes nearest upsampling followed by the convolution with the
    spatially flipped kernel.
    """
    state = reference.state_dict()
    for k in range(1, num_up_layers + 1):
        state[f'synthesis.layer{2 * k}.weight'] = state[f'synthesis.layer{2 * k}.weight'].flip([2, 3])
    twin = build_generator(family, dataclasses.replace(reference.config, fused_scale=True))
    twin.load_state_dict(state)
    return twin.eval()


@pytest.mark.parametrize('fused_scale', [None, True])
def test_stylegan_matches_golden(tmp_path, sg1_case, fused_scale):
    """StyleGAN v1; with `fused_scale=True` every upsampling layer is a transposed convolution."""
    reference, path, inputs, outputs = sg1_case
    kwargs = {} if fused_scale is None else {'fused_scale': fused_scale}
    if fused_scale:
        reference = fused_twin(reference, 'stylegan', 3)
    Gs = stylegan_to_tf(reference.state_dict(), reference.config, kwargs)
    G = load_generator(write_tf_pickle(tmp_path / 'karras2019stylegan.pkl', Gs))
    assert G.family == 'stylegan'
    assert G.config == reference.config
    check_same_weights(G, reference)
    z = inputs['z']
    with torch.no_grad():
        img = G(z)
        check('img_default vs reference', img, reference(z), EXACT)
        check('img_default', img, outputs['img_default'], TOL)
        check('wp', G.mapping(z), outputs['wp'], TOL)
        check('wp_psi07', G.mapping(z, truncation_psi=0.7, truncation_cutoff=8), outputs['wp_psi07'], TOL)
        check('img_psi07', G(z, truncation_psi=0.7, truncation_cutoff=8), outputs['img_psi07'], TOL)
        check('img_synthesis_wp', G.synthesis(outputs['wp']), outputs['img_synthesis_wp'], TOL)


@pytest.mark.parametrize('fused_scale', [False, True])
def test_pggan_matches_golden(tmp_path, pggan_case, fused_scale):
    """PGGAN; fused upsampling layers (`Conv0_up`) store the transposed-convolution layout."""
    reference, inputs, outputs = pggan_case
    if fused_scale:
        reference = fused_twin(reference, 'pggan', 3)
    Gs = pggan_to_tf(reference.state_dict(), reference.config, fused_scale)
    G = load_generator(write_tf_pickle(tmp_path / 'karras2018iclr.pkl', Gs))
    assert (G.family, G.config.fused_scale) == ('pggan', fused_scale)
    check_same_weights(G, reference)
    with torch.no_grad():
        img = G(inputs['z'])
        check('img_default vs reference', img, reference(inputs['z']), EXACT)
        check('img_default', img, outputs['img_default'], TOL)
        check('z_pixelnorm', G.mapping(inputs['z'])[:, 0], outputs['z_pixelnorm'], TOL)


def test_original_pggan_release(tmp_path, pggan_case):
    """The original PGGAN code pickles `tfutil.Network` objects (state version 2, no components)."""
    reference, inputs, outputs = pggan_case
    Gs = pggan_to_tf(reference.state_dict(), reference.config, version=2)
    G = load_generator(write_tf_pickle(tmp_path / 'pggan.pkl', Gs, module_name='tfutil'))
    with torch.no_grad():
        check('img_default', G(inputs['z']), outputs['img_default'], TOL)


# ----------------------------------------------------------------------------
# Strictness and safety.

def load_error(path, **expected):
    with pytest.raises(CheckpointError) as info:
        load_generator(path, **expected)
    message = str(info.value)
    assert '\n' not in message and str(path) in message
    return message


def edit_synthesis(Gs, edit):
    synthesis = Gs.state['components']['synthesis'].state
    variables = dict(synthesis['variables'])
    edit(variables)
    synthesis['variables'] = list(variables.items())
    return Gs


@pytest.mark.parametrize('problem, expected', [
    ('missing', 'missing TensorFlow variable synthesis/8x8/Conv1/bias'),
    ('extra', 'unexpected TensorFlow variable synthesis/8x8/Conv1/extra'),
    ('shape', 'TensorFlow variable synthesis/16x16/Conv1/mod_weight has shape [64, 31]'),
    ('nan', 'TensorFlow variable synthesis/noise3 holds NaN'),
    ('lod', 'progressive growing'),
])
def test_variables_are_checked(tmp_path, sg2_case, problem, expected):
    _, sd, _, _ = sg2_case
    Gs = stylegan2_to_tf(sd, 32, SG2_KWARGS)
    if problem == 'lod':
        Gs.state['variables'] = [('lod', np.float32(1.5)), *Gs.state['variables'][1:]]
    else:
        edit_synthesis(Gs, {
            'missing': lambda v: v.pop('8x8/Conv1/bias'),
            'extra': lambda v: v.__setitem__('8x8/Conv1/extra', np.zeros(3, np.float32)),
            'shape': lambda v: v.__setitem__('16x16/Conv1/mod_weight', v['16x16/Conv1/mod_weight'][:, :31]),
            'nan': lambda v: v['noise3'].__setitem__((0, 0, 0, 0), np.nan),
        }[problem])
    message = load_error(write_tf_pickle(tmp_path / f'{problem}.pkl', Gs))
    assert expected in message


def test_stylegan_extra_and_missing_variables(tmp_path, sg1_case):
    reference = sg1_case[0]
    Gs = edit_synthesis(stylegan_to_tf(reference.state_dict(), reference.config),
                        lambda v: v.pop('ToRGB_lod2/bias'))
    assert 'missing TensorFlow variable synthesis/ToRGB_lod2/bias' in load_error(
        write_tf_pickle(tmp_path / 'missing.pkl', Gs))
    Gs = stylegan_to_tf(reference.state_dict(), reference.config)
    Gs.state['components']['mapping'].state['variables'].append(('Dense8/weight', np.zeros([32, 32], np.float32)))
    assert 'mapping/Dense8' in load_error(write_tf_pickle(tmp_path / 'extra.pkl', Gs))


def test_unsupported_kwargs_are_named(tmp_path, sg1_case, pggan_case):
    reference = sg1_case[0]
    Gs = stylegan_to_tf(reference.state_dict(), reference.config, {'use_instance_norm': False})
    assert 'use_instance_norm=False' in load_error(write_tf_pickle(tmp_path / 'sg1.pkl', Gs))
    reference = pggan_case[0]
    Gs = pggan_to_tf(reference.state_dict(), reference.config)
    Gs.state['static_kwargs']['fused_scale'] = True  # contradicts the Conv0 variables
    assert 'fused_scale=True contradicts' in load_error(write_tf_pickle(tmp_path / 'pggan.pkl', Gs))


def setting_mismatch(path, **expected):
    with pytest.raises(SettingMismatch) as info:
        load_generator(path, **expected)
    error = info.value
    assert '\n' not in str(error) and error.path == str(path)
    return error.setting, error.given, error.held


def test_expected_settings_must_agree(tmp_path, sg2_case, sg1_case):
    path = sg2_pickle(tmp_path, sg2_case)
    assert load_generator(path, img_resolution=32, w_dim=64, family='stylegan2').img_resolution == 32
    assert setting_mismatch(path, img_resolution=64) == ('img_resolution', 64, 32)
    assert setting_mismatch(path, w_dim=512) == ('w_dim', 512, 64)
    assert setting_mismatch(path, family='stylegan3') == ('family', 'stylegan3', 'stylegan2')
    assert setting_mismatch(path, cfg='R') == ('cfg', 'R', None)
    reference = sg1_case[0]
    path = write_tf_pickle(tmp_path / 'sg1.pkl', stylegan_to_tf(reference.state_dict(), reference.config))
    assert load_generator(path, channel_base=512, z_dim=32).family == 'stylegan'
    assert setting_mismatch(path, channel_base=1024) == ('channel_base', 1024, reference.config.channel_base)
    assert setting_mismatch(path, family='stylegan2') == ('family', 'stylegan2', 'stylegan')


def test_nothing_is_executed_or_imported(tmp_path, sg2_case):
    """The embedded network source is never run, and TensorFlow is never imported."""
    marker = tmp_path / 'executed'
    _, sd, inputs, outputs = sg2_case
    Gs = stylegan2_to_tf(sd, 32, SG2_KWARGS)
    for net in (Gs, *Gs.state['components'].values()):
        net.state['build_module_src'] = never_run_src(marker)
    G = load_generator(write_tf_pickle(tmp_path / 'net.pkl', Gs))
    with torch.no_grad():
        check('img_const', G(inputs['z']), outputs['img_const'], TOL)
    assert not marker.exists()
    assert 'tensorflow' not in sys.modules
