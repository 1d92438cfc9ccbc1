"""genforce (SeFa) PGGAN / StyleGAN / StyleGAN2 checkpoints against the golden cases."""

import numpy as np
import pytest
import torch

from conftest import golden_case, load_pt, max_abs_diff
from models.checkpoints.genforce import (checkpoint_from_genforce_state, config_from_genforce_pggan,
                                         config_from_genforce_stylegan, config_from_genforce_stylegan2,
                                         convert_genforce_pggan, convert_genforce_stylegan,
                                         convert_genforce_stylegan2, detect_genforce_family, read_genforce_state)
from models.pggan import PGGANConfig, PGGANGenerator
from models.stylegan import StyleGANConfig, StyleGANGenerator
from models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

TOL = 1e-4
CLASSES = {'pggan': PGGANGenerator, 'stylegan': StyleGANGenerator, 'stylegan2': StyleGAN2Generator}


def load_case(name):
    """(generator, inputs, outputs, case folder) of a golden SeFa case, loaded from its .pth file."""
    path = golden_case(name)
    obj = load_pt(path / 'checkpoints' / f'{name}.pth')
    state, which = read_genforce_state(obj, where=name)
    assert which == ('generator' if name == 'sefa_pggan_r32' else 'generator_smooth')
    checkpoint = checkpoint_from_genforce_state(state, where=name)
    generator = CLASSES[checkpoint.family](checkpoint.config)
    generator.load_state_dict(checkpoint.state_dict, strict=True)
    return generator.eval(), load_pt(path / 'inputs.pt'), load_pt(path / 'outputs.pt'), path


def check(name, ours, theirs):
    diff = max_abs_diff(ours, theirs)
    assert diff <= TOL, f'{name}: max |diff| {diff:.3g} > {TOL}'


def capture_styles(modules):
    """Record the output of each `{golden_name: module}` during the next forward pass."""
    captured = {}
    for name, module in modules.items():
        module.register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, o.detach().clone()))
    return captured


def check_sefa_edits(generator, path, pggan=False):
    """sefa.py's editing loop: seed-0 code, raw boundary 0 of 'all', distances -3, 0, 3."""
    edits = load_pt(path / 'sefa_edits.pt')
    sefa = load_pt(path / 'sefa.pt')['all']
    torch.manual_seed(0)
    z = torch.randn(1, generator.z_dim)
    with torch.no_grad():
        codes = generator.mapping(z, truncation_psi=0.7, truncation_cutoff=8)
    codes = codes[:, 0] if pggan else codes
    check('sefa_edits codes', codes, edits['codes'])
    boundary = sefa['boundaries_raw'][int(edits['sem_id'])].to(torch.float64)
    layers = sefa['layers'].tolist()
    images = []
    for distance in edits['distances'].tolist():
        code = edits['codes'].clone()
        if pggan:  # sefa.py renders the edited code with G(code), which pixel-normalises it.
            code = (code + boundary * distance).to(torch.float32)
            with torch.no_grad():
                images.append(generator(code))
                check('sefa_edits synthesis', generator.synthesis(code.unsqueeze(1)), images[-1])
        else:
            code[:, layers] = (code[:, layers] + boundary * distance).to(torch.float32)
            with torch.no_grad():
                images.append(generator.synthesis(code))
    check('sefa_edits images', torch.cat(images), edits['images'])


# ----------------------------------------------------------------------------
# Golden cases.

def test_pggan_golden():
    generator, inputs, outputs, path = load_case('sefa_pggan_r32')
    assert (generator.num_ws, generator.w_dim, generator.img_resolution) == (1, 32, 32)
    z = inputs['z']
    with torch.no_grad():
        ws = generator.mapping(z, truncation_psi=0.7, truncation_cutoff=8)  # Truncation is ignored.
        check('z_pixelnorm', ws[:, 0], outputs['z_pixelnorm'])
        check('img_default', generator.synthesis(ws), outputs['img_default'])
        check('img_default (forward)', generator(z), outputs['img_default'])
    check_sefa_edits(generator, path, pggan=True)


def test_stylegan_golden():
    generator, inputs, outputs, path = load_case('sefa_stylegan_r32')
    assert (generator.num_ws, generator.w_dim) == (8, 32)
    styles = capture_styles({f'style{idx:02d}': module for idx, _, module in generator.style_layers()})
    z = inputs['z']
    with torch.no_grad():
        ws = generator.mapping(z)
        check('w', ws[:, 0], outputs['w'])
        check('wp', ws, outputs['wp'])
        check('img_default', generator.synthesis(ws, noise_mode='const'), outputs['img_default'])
        for name, value in outputs['styles'].items():
            check(name, styles[name], value)
        ws = generator.mapping(z, truncation_psi=0.7, truncation_cutoff=8)
        check('wp_psi07', ws, outputs['wp_psi07'])
        check('img_psi07', generator.synthesis(ws), outputs['img_psi07'])
        check('img_psi07 (forward)', generator(z, truncation_psi=0.7, truncation_cutoff=8), outputs['img_psi07'])
        check('img_synthesis_wp', generator.synthesis(outputs['wp']), outputs['img_synthesis_wp'])
    check_sefa_edits(generator, path)


def test_stylegan2_golden():
    generator, inputs, outputs, path = load_case('sefa_stylegan2_r32')
    assert (generator.num_ws, generator.w_dim) == (8, 32)
    synthesis = generator.synthesis
    modules = {'style00': synthesis.b4.conv1.affine, 'output_style0': synthesis.b4.torgb.affine}
    for k, res in enumerate([8, 16, 32], start=1):
        block = getattr(synthesis, f'b{res}')
        modules[f'style{2 * k - 1:02d}'] = block.conv0.affine
        modules[f'style{2 * k:02d}'] = block.conv1.affine
        modules[f'output_style{k}'] = block.torgb.affine
    styles = capture_styles(modules)
    z = inputs['z']
    with torch.no_grad():
        ws = generator.mapping(z)
        check('w', ws[:, 0], outputs['w'])
        check('wp', ws, outputs['wp'])
        check('img_default', generator.synthesis(ws, noise_mode='const'), outputs['img_default'])
        assert set(styles) == set(outputs['styles'])
        for name, value in outputs['styles'].items():
            check(name, styles[name], value)
        ws = generator.mapping(z, truncation_psi=0.7, truncation_cutoff=8)
        check('wp_psi07', ws, outputs['wp_psi07'])
        check('img_psi07', generator.synthesis(ws), outputs['img_psi07'])
        check('img_synthesis_wp', generator.synthesis(outputs['wp']), outputs['img_synthesis_wp'])
    check_sefa_edits(generator, path)


def test_smooth_copy_is_preferred():
    path = golden_case('sefa_stylegan2_r32')
    obj = load_pt(path / 'checkpoints' / 'sefa_stylegan2_r32.pth')
    state, which = read_genforce_state({'models': obj})
    assert which == 'generator_smooth'
    assert torch.equal(state['truncation.w_avg'], obj['generator_smooth']['truncation.w_avg'])
    _, which = read_genforce_state({'generator': obj['generator']})
    assert which == 'generator'
    with pytest.raises(ValueError, match='generator_smooth'):
        read_genforce_state({'discriminator': {}})


def test_noise_modes():
    generator, inputs, outputs, _ = load_case('sefa_stylegan_r32')
    z = inputs['z']
    with torch.no_grad():
        ws = generator.mapping(z)
        const = generator.synthesis(ws, noise_mode='const')
        none = generator.synthesis(ws, noise_mode='none')
        torch.manual_seed(1)
        random1 = generator.synthesis(ws, noise_mode='random')
        torch.manual_seed(1)
        random2 = generator.synthesis(ws, noise_mode='random')
    assert torch.equal(random1, random2)
    assert max_abs_diff(const, none) > 1e-3 and max_abs_diff(const, random1) > 1e-3
    with pytest.raises(ValueError, match='noise_mode'):
        generator.synthesis(ws, noise_mode='bogus')


def test_detect_family():
    for name, family in [('sefa_pggan_r32', 'pggan'), ('sefa_stylegan_r32', 'stylegan'),
                         ('sefa_stylegan2_r32', 'stylegan2')]:
        state = load_pt(golden_case(name) / 'state_dict.pt')
        assert detect_genforce_family(state) == family
    hammer = load_pt(golden_case('hammer_sg2_r32') / 'hammer_checkpoint.pth')
    state, _ = read_genforce_state(hammer)
    assert detect_genforce_family(state) is None
    assert checkpoint_from_genforce_state(state) is None


# ----------------------------------------------------------------------------
# Official widths: our module -> genforce layout (written out independently
# of the converter) -> converter -> the same module and config.

BLUR = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
UP = torch.outer(torch.tensor([1., 3., 3., 1.]), torch.tensor([1., 3., 3., 1.])) / 16


def to_genforce_pggan(sd, config):
    out = {'lod': torch.zeros([])}
    num_blocks = int(np.log2(config.img_resolution)) - 1
    for idx in range(2 * num_blocks):
        weight = sd[f'synthesis.layer{idx}.weight']
        out[f'layer{idx}.weight'] = weight.transpose(0, 1) if config.fused_scale and idx % 2 == 0 and idx else weight
        out[f'layer{idx}.bias'] = sd[f'synthesis.layer{idx}.bias']
    for k in range(num_blocks):
        channels = config.channels(4 * 2 ** k)
        last = k == num_blocks - 1
        out[f'output{k}.weight'] = sd['synthesis.torgb.weight'] if last else torch.randn(3, channels, 1, 1)
        out[f'output{k}.bias'] = sd['synthesis.torgb.bias'] if last else torch.randn(3)
    return out


def to_genforce_stylegan(sd, config):
    out = {}
    for i in range(config.mapping_layers):
        out[f'mapping.dense{i}.weight'] = sd[f'mapping.fc{i}.weight']
        out[f'mapping.dense{i}.bias'] = sd[f'mapping.fc{i}.bias']
    out['truncation.w_avg'] = sd['mapping.w_avg']
    out['synthesis.lod'] = torch.zeros([])
    out['synthesis.layer0.const'] = sd['synthesis.const'][None]
    num_blocks = int(np.log2(config.img_resolution)) - 1
    for idx in range(2 * num_blocks):
        src, dst = f'synthesis.layer{idx}', f'synthesis.layer{idx}'
        if idx:
            out[f'{dst}.weight'] = sd[f'{src}.weight']
        out[f'{dst}.bias'] = sd[f'{src}.bias']
        out[f'{dst}.apply_noise.weight'] = sd[f'{src}.noise_strength']
        out[f'{dst}.apply_noise.noise'] = sd[f'{src}.noise_const'][None, None]
        out[f'{dst}.style.weight'] = sd[f'{src}.affine.weight']
        out[f'{dst}.style.bias'] = sd[f'{src}.affine.bias']
        if idx and idx % 2 == 0:
            out[f'{dst}.blur.kernel'] = BLUR.repeat(sd[f'{src}.bias'].shape[0], 1, 1, 1)
    for k in range(num_blocks):
        last = k == num_blocks - 1
        channels = config.channels(4 * 2 ** k)
        out[f'synthesis.output{k}.weight'] = sd['synthesis.torgb.weight'] if last else torch.randn(3, channels, 1, 1)
        out[f'synthesis.output{k}.bias'] = sd['synthesis.torgb.bias'] if last else torch.randn(3)
    return out


def to_genforce_stylegan2(sd, config):
    out = {}
    for i in range(config.mapping_layers):
        out[f'mapping.dense{i}.weight'] = sd[f'mapping.fc{i}.weight']
        out[f'mapping.dense{i}.bias'] = sd[f'mapping.fc{i}.bias']
    out['truncation.w_avg'] = sd['mapping.w_avg']
    out['synthesis.early_layer.const'] = sd['synthesis.b4.const'][None]
    resolutions = [2 ** i for i in range(2, int(np.log2(config.img_resolution)) + 1)]
    for k, res in enumerate(resolutions):
        convs = [(0, 'conv1')] if k == 0 else [(2 * k - 1, 'conv0'), (2 * k, 'conv1')]
        for idx, name in convs:
            src, dst = f'synthesis.b{res}.{name}', f'synthesis.layer{idx}'
            weight = sd[f'{src}.weight']
            out[f'{dst}.weight'] = weight.flip([2, 3]) if name == 'conv0' else weight
            out[f'{dst}.bias'] = sd[f'{src}.bias']
            out[f'{dst}.noise_strength'] = sd[f'{src}.noise_strength']
            out[f'{dst}.noise'] = sd[f'{src}.noise_const'][None, None]
            out[f'{dst}.style.weight'] = sd[f'{src}.affine.weight']
            out[f'{dst}.style.bias'] = sd[f'{src}.affine.bias'] - 1
            if name == 'conv0':
                out[f'{dst}.filter.kernel'] = UP[None, None]
        src, dst = f'synthesis.b{res}.torgb', f'synthesis.output{k}'
        out[f'{dst}.weight'] = sd[f'{src}.weight']
        out[f'{dst}.bias'] = sd[f'{src}.bias']
        out[f'{dst}.style.weight'] = sd[f'{src}.affine.weight']
        out[f'{dst}.style.bias'] = sd[f'{src}.affine.bias'] - 1
    out['synthesis.upsample.kernel'] = UP[None, None]
    return out


def assert_same_state(ours, converted):
    assert set(ours) == set(converted)
    for key, value in ours.items():
        assert converted[key].shape == value.shape, key
        assert torch.equal(converted[key], value) or (converted[key] - value).abs().max() <= 1e-6, key


@pytest.fixture(scope='module')
def official_models():
    """Models at official 256x256 widths (genforce defaults), random weights."""
    torch.manual_seed(5)
    return {
        'pggan': PGGANGenerator(PGGANConfig(img_resolution=256)),
        'pggan_fused': PGGANGenerator(PGGANConfig(img_resolution=64, fused_scale=True)),
        'stylegan': StyleGANGenerator(StyleGANConfig(img_resolution=256)),
        'stylegan2': StyleGAN2Generator(StyleGAN2Config(img_resolution=256)),
    }


@pytest.mark.parametrize('name', ['pggan', 'pggan_fused'])
def test_pggan_official_round_trip(official_models, name):
    model = official_models[name]
    state = to_genforce_pggan(model.state_dict(), model.config)
    assert detect_genforce_family(state) == 'pggan'
    config = config_from_genforce_pggan(state)
    assert config == model.config
    assert_same_state(model.state_dict(), convert_genforce_pggan(state, config))


def test_stylegan_official_round_trip(official_models):
    model = official_models['stylegan']
    state = to_genforce_stylegan(model.state_dict(), model.config)
    assert detect_genforce_family(state) == 'stylegan'
    config = config_from_genforce_stylegan(state)
    assert config == model.config
    assert config.fused_at(128) and not config.fused_at(64)
    assert_same_state(model.state_dict(), convert_genforce_stylegan(state, config))


def test_stylegan2_official_round_trip(official_models):
    model = official_models['stylegan2']
    state = to_genforce_stylegan2(model.state_dict(), model.config)
    assert detect_genforce_family(state) == 'stylegan2'
    kwargs = config_from_genforce_stylegan2(state)
    assert StyleGAN2Config(**kwargs) == model.config
    assert_same_state(model.state_dict(), convert_genforce_stylegan2(state, kwargs))


# ----------------------------------------------------------------------------
# Strictness.

@pytest.mark.parametrize('name', ['sefa_pggan_r32', 'sefa_stylegan_r32', 'sefa_stylegan2_r32'])
def test_converters_are_strict(name):
    state = load_pt(golden_case(name) / 'state_dict.pt')
    family = detect_genforce_family(state)
    config_fn, convert_fn = {
        'pggan': (config_from_genforce_pggan, convert_genforce_pggan),
        'stylegan': (config_from_genforce_stylegan, convert_genforce_stylegan),
        'stylegan2': (config_from_genforce_stylegan2, convert_genforce_stylegan2),
    }[family]
    config = config_fn(state)
    key = [k for k in state if k.endswith('layer3.bias')][0]

    missing = {k: v for k, v in state.items() if k != key}
    with pytest.raises(ValueError, match=f'missing tensor {key}'):
        convert_fn(missing, config)
    extra = dict(state, **{'synthesis.extra.weight': torch.zeros(3)})
    with pytest.raises(ValueError, match='unexpected tensor synthesis.extra.weight'):
        convert_fn(extra, config)
    wrong = dict(state, **{key: torch.zeros(state[key].shape[0] + 1)})
    with pytest.raises(ValueError, match=f'{key} has shape'):
        convert_fn(wrong, config)
    with pytest.raises(ValueError, match='no_such_field'):
        config_fn(state, {'no_such_field': 1})
    if family != 'stylegan2':
        lod = 'lod' if family == 'pggan' else 'synthesis.lod'
        with pytest.raises(ValueError, match='progressive growing'):
            convert_fn(dict(state, **{lod: torch.tensor(1.0)}), config)
    else:
        bad = dict(state, **{'synthesis.upsample.kernel': torch.ones(1, 1, 4, 4)})
        with pytest.raises(ValueError, match='synthesis.upsample.kernel'):
            convert_fn(bad, config)


def test_overrides_must_fit_the_tensors():
    state = load_pt(golden_case('sefa_pggan_r32') / 'state_dict.pt')
    config = config_from_genforce_pggan(state, {'c_dim': 2})  # Shapes cannot tell z from c.
    assert (config.z_dim, config.c_dim) == (30, 2)
    with pytest.raises(ValueError, match='layer0.weight'):
        config_from_genforce_pggan(state, {'z_dim': 64})
