"""NVlabs TensorFlow network pickles (StyleGAN2, StyleGAN, PGGAN), read without TensorFlow.

The pickles are built here in the public layout of `dnnlib.tflib.network.Network`
(`tfutil.Network` for the original PGGAN release): a `(G, D, Gs)` tuple of
objects whose state holds `version`, `name`, `static_kwargs`, `components`,
`build_module_src`, `build_func_name` and `variables` (name, numpy array).
Their variables are the golden weights written back into TensorFlow layout
by the inverse mappings below, so loading them must give the golden images.
"""

import contextlib
import dataclasses
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from conftest import golden_case, load_pt, max_abs_diff
from models import CheckpointError, build_generator, load_generator
from models.checkpoints.safe_pickle import load_pickle
from models.checkpoints.tensorflow import read_tf_network

EXACT = 1e-6   # same weights through two formats
TOL = 1e-4     # against the official outputs


def never_run_src(marker='never-created'):
    """Stand-in for `build_module_src`: it would create `marker` if anything executed it."""
    return f"open({str(marker)!r}, 'w').close()\n"


class Network:
    """Pickles like a TensorFlow `Network`: its pickled state is what `__getstate__` returns."""

    def __init__(self, name, variables, components=None, static_kwargs=None, build_func_name='G_main', version=4,
                 src=None):
        self.state = dict(version=version, name=name, static_kwargs=dict(static_kwargs or {}),
                          components=dict(components or {}), build_module_src=src or never_run_src(),
                          build_func_name=build_func_name, variables=list(variables.items()))
        if version == 2:  # the original PGGAN code has no components
            del self.state['components']

    def __getstate__(self):
        return self.state


@contextlib.contextmanager
def tf_class_names(module_name='dnnlib.tflib.network'):
    """Let pickle name `Network` as `module_name.Network`, only while pickling."""
    parts = module_name.split('.')
    names = ['.'.join(parts[:i + 1]) for i in range(len(parts))]
    saved = {name: sys.modules.get(name) for name in names}
    old_module = Network.__module__
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    sys.modules[module_name].Network = Network
    Network.__module__ = module_name
    try:
        yield
    finally:
        Network.__module__ = old_module
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def write_tf_pickle(path, Gs, form='tuple', protocol=4, module_name='dnnlib.tflib.network'):
    """Write `(G, D, Gs)` (or `{'G', 'D', 'Gs'}`); `G` is a perturbed copy, so reading it fails the test."""
    G = perturbed_copy(Gs)
    D = Network('D', {'4x4/Conv/weight': np.ones([3, 3, 4, 4], np.float32)}, build_func_name='D_main',
                version=Gs.state['version'])
    obj = (G, D, Gs) if form == 'tuple' else {'G': G, 'D': D, 'Gs': Gs}
    with tf_class_names(module_name):
        blob = pickle.dumps(obj, protocol=protocol)
    path.write_bytes(blob)
    return path


def perturbed_copy(net):
    state = net.state
    copy = Network.__new__(Network)
    copy.state = dict(state, variables=[(k, v + np.float32(0.5)) for k, v in state['variables']],
                      components={k: perturbed_copy(c) for k, c in state.get('components', {}).items()})
    if 'components' not in state:
        del copy.state['components']
    return copy


def f32(tensor):
    return np.ascontiguousarray(tensor.detach().numpy().astype(np.float32))


def hwio(weight):
    """[out, in, kh, kw] -> TensorFlow [kh, kw, in, out]."""
    return f32(weight.permute(2, 3, 1, 0))


def scalar(tensor):
    return np.float32(tensor.item())  # TensorFlow returns numpy scalars for 0-d variables


# ----------------------------------------------------------------------------
# Inverse mappings: our state dicts -> TensorFlow variables.

def stylegan2_to_tf(sd, resolution, kwargs):
    """NVlabs StyleGAN2 state dict -> `Gs` (`G_main` with `mapping` and `synthesis` components)."""
    mapping = {}
    for i in range(8):
        mapping[f'Dense{i}/weight'] = f32(sd[f'mapping.fc{i}.weight'].t())
        mapping[f'Dense{i}/bias'] = f32(sd[f'mapping.fc{i}.bias'])
    synthesis = {}
    noise = 0
    for r in range(2, resolution.bit_length()):
        res, block = 2 ** r, f'synthesis.b{2 ** r}'
        if res == 4:
            synthesis['4x4/Const/const'] = f32(sd[f'{block}.const'][None])
            layers = [('4x4/Conv', 'conv1')]
        else:
            layers = [(f'{res}x{res}/Conv0_up', 'conv0'), (f'{res}x{res}/Conv1', 'conv1')]
        for scope, name in layers:
            layer = f'{block}.{name}'
            kernel = hwio(sd[f'{layer}.weight'])
            synthesis[f'{scope}/weight'] = np.ascontiguousarray(kernel[::-1, ::-1]) if name == 'conv0' else kernel
            synthesis[f'{scope}/bias'] = f32(sd[f'{layer}.bias'])
            synthesis[f'{scope}/noise_strength'] = scalar(sd[f'{layer}.noise_strength'])
            synthesis[f'{scope}/mod_weight'] = f32(sd[f'{layer}.affine.weight'].t())
            synthesis[f'{scope}/mod_bias'] = f32(sd[f'{layer}.affine.bias'] - 1)
            synthesis[f'noise{noise}'] = f32(sd[f'{layer}.noise_const'][None, None])
            noise += 1
        scope = f'{res}x{res}/ToRGB'
        synthesis[f'{scope}/weight'] = hwio(sd[f'{block}.torgb.weight'])
        synthesis[f'{scope}/bias'] = f32(sd[f'{block}.torgb.bias'])
        synthesis[f'{scope}/mod_weight'] = f32(sd[f'{block}.torgb.affine.weight'].t())
        synthesis[f'{scope}/mod_bias'] = f32(sd[f'{block}.torgb.affine.bias'] - 1)
    top = {'lod': np.float32(0), 'dlatent_avg': f32(sd['mapping.w_avg'])}
    components = {
        'synthesis': Network('G_synthesis', synthesis, static_kwargs=kwargs, build_func_name='G_synthesis_stylegan2'),
        'mapping': Network('G_mapping', mapping, static_kwargs=dict(kwargs, dlatent_broadcast=8),
                           build_func_name='G_mapping'),
    }
    return Network('Gs', top, components, static_kwargs=kwargs, build_func_name='G_main')


def stylegan_to_tf(sd, config, synthesis_kwargs=None):
    """Our StyleGAN state dict -> `Gs` (`G_style`), with random lower-lod ToRGB layers."""
    rng = np.random.RandomState(0)
    mapping = {}
    for i in range(config.mapping_layers):
        mapping[f'Dense{i}/weight'] = f32(sd[f'mapping.fc{i}.weight'].t())
        mapping[f'Dense{i}/bias'] = f32(sd[f'mapping.fc{i}.bias'])
    synthesis = {'lod': np.float32(0), '4x4/Const/const': f32(sd['synthesis.const'][None])}
    log2 = config.img_resolution.bit_length() - 1
    for k, r in enumerate(range(2, log2 + 1)):
        res = 2 ** r
        scopes = ['4x4/Const', '4x4/Conv'] if res == 4 else [f'{res}x{res}/Conv0_up', f'{res}x{res}/Conv1']
        for offset, scope in enumerate(scopes):
            idx = 2 * k + offset
            layer = f'synthesis.layer{idx}'
            if idx:
                synthesis[f'{scope}/weight'] = hwio(sd[f'{layer}.weight'])
            synthesis[f'{scope}/bias'] = f32(sd[f'{layer}.bias'])
            synthesis[f'{scope}/Noise/weight'] = f32(sd[f'{layer}.noise_strength'])
            synthesis[f'{scope}/StyleMod/weight'] = f32(sd[f'{layer}.affine.weight'].t())
            synthesis[f'{scope}/StyleMod/bias'] = f32(sd[f'{layer}.affine.bias'])
            synthesis[f'noise{idx}'] = f32(sd[f'{layer}.noise_const'][None, None])
        lod = log2 - r
        if lod == 0:
            synthesis['ToRGB_lod0/weight'] = hwio(sd['synthesis.torgb.weight'])
            synthesis['ToRGB_lod0/bias'] = f32(sd['synthesis.torgb.bias'])
        else:
            synthesis[f'ToRGB_lod{lod}/weight'] = rng.randn(1, 1, config.channels(res), 3).astype(np.float32)
            synthesis[f'ToRGB_lod{lod}/bias'] = rng.randn(3).astype(np.float32)
    kwargs = dict(num_channels=3, resolution=config.img_resolution, label_size=0)
    top = {'lod': np.float32(0), 'dlatent_avg': f32(sd['mapping.w_avg'])}
    components = {
        'synthesis': Network('G_synthesis', synthesis, static_kwargs=dict(kwargs, **(synthesis_kwargs or {})),
                             build_func_name='G_synthesis', version=3),
        'mapping': Network('G_mapping', mapping, static_kwargs=dict(kwargs, dlatent_broadcast=config.num_ws),
                           build_func_name='G_mapping', version=3),
    }
    return Network('Gs', top, components, static_kwargs=kwargs, build_func_name='G_style', version=3)


def pggan_to_tf(sd, config, fused_scale=False, version=3):
    """Our PGGAN state dict -> `Gs` (`G_paper`, no components)."""
    rng = np.random.RandomState(0)
    dense = sd['synthesis.layer0.weight'].flip([2, 3]).permute(1, 0, 2, 3)  # [z, C, 4, 4]
    variables = {'lod': np.float32(0), '4x4/Dense/weight': f32(dense.reshape(dense.shape[0], -1)),
                 '4x4/Dense/bias': f32(sd['synthesis.layer0.bias']),
                 '4x4/Conv/weight': hwio(sd['synthesis.layer1.weight']),
                 '4x4/Conv/bias': f32(sd['synthesis.layer1.bias'])}
    log2 = config.img_resolution.bit_length() - 1
    for k, r in enumerate(range(3, log2 + 1), start=1):
        res = 2 ** r
        up = sd[f'synthesis.layer{2 * k}.weight']
        if fused_scale:  # tf.nn.conv2d_transpose filter layout [kh, kw, out, in]
            variables[f'{res}x{res}/Conv0_up/weight'] = f32(up.permute(2, 3, 0, 1))
            variables[f'{res}x{res}/Conv0_up/bias'] = f32(sd[f'synthesis.layer{2 * k}.bias'])
        else:
            variables[f'{res}x{res}/Conv0/weight'] = hwio(up)
            variables[f'{res}x{res}/Conv0/bias'] = f32(sd[f'synthesis.layer{2 * k}.bias'])
        variables[f'{res}x{res}/Conv1/weight'] = hwio(sd[f'synthesis.layer{2 * k + 1}.weight'])
        variables[f'{res}x{res}/Conv1/bias'] = f32(sd[f'synthesis.layer{2 * k + 1}.bias'])
    for r in range(2, log2 + 1):
        lod = log2 - r
        if lod == 0:
            variables['ToRGB_lod0/weight'] = hwio(sd['synthesis.torgb.weight'])
            variables['ToRGB_lod0/bias'] = f32(sd['synthesis.torgb.bias'])
        else:
            variables[f'ToRGB_lod{lod}/weight'] = rng.randn(1, 1, config.channels(2 ** r), 3).astype(np.float32)
            variables[f'ToRGB_lod{lod}/bias'] = rng.randn(3).astype(np.float32)
    kwargs = dict(num_channels=3, resolution=config.img_resolution, label_size=0, fmap_base=config.channel_base // 2,
                  fmap_max=config.channel_max, latent_size=config.z_dim, fused_scale=fused_scale)
    return Network('Gs', variables, static_kwargs=kwargs, build_func_name='G_paper', version=version)


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
    obj = load_pickle(path)
    checkpoint = read_tf_network(obj, obj, str(path), {})
    assert (checkpoint.family, checkpoint.extra['which']) == ('stylegan2', 'Gs')
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

def load_error(path, **overrides):
    with pytest.raises(CheckpointError) as info:
        load_generator(path, **overrides)
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
    ('shape', 'TensorFlow variable synthesis/16x16/Conv1/mod_weight has shape [64, 31], expected [64, 32]'),
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


def test_overrides_must_agree(tmp_path, sg2_case, sg1_case):
    path = sg2_pickle(tmp_path, sg2_case)
    assert load_generator(path, img_resolution=32, w_dim=64, family='stylegan2').img_resolution == 32
    assert '--img_size gives img_resolution=64' in load_error(path, img_resolution=64)
    assert '--w_dim gives w_dim=512' in load_error(path, w_dim=512)
    assert '--stylegan3 was given' in load_error(path, family='stylegan3')
    reference = sg1_case[0]
    path = write_tf_pickle(tmp_path / 'sg1.pkl', stylegan_to_tf(reference.state_dict(), reference.config))
    assert load_generator(path, channel_base=512, z_dim=32).family == 'stylegan'
    assert '--scale_stylegan2 gives channel_base=1024' in load_error(path, channel_base=1024)
    assert '--stylegan2 was given' in load_error(path, family='stylegan2')


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
