"""genforce (SeFa) PGGAN / StyleGAN / StyleGAN2 checkpoints against the golden cases."""

import pytest
import torch
from conftest import DEVICE, golden_case, load_pt, max_abs_diff

from models import CheckpointError, SettingMismatch
from models.checkpoints import read_checkpoint
from models.checkpoints.genforce import checkpoint_from_genforce_state, detect_genforce_family
from models.checkpoints.hammer import generator_state
from models.pggan import PGGANConfig, PGGANGenerator
from models.stylegan import StyleGANConfig, StyleGANGenerator
from models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from tests.layouts import to_genforce_pggan, to_genforce_stylegan, to_genforce_stylegan2

TOL = 1e-4
CLASSES = {'pggan': PGGANGenerator, 'stylegan': StyleGANGenerator, 'stylegan2': StyleGAN2Generator}


def load_case(name, device='cpu'):
    """(generator, inputs, outputs, case folder) of a golden SeFa case, loaded from its .pth file;
    the generator, inputs and outputs on `device`."""
    path = golden_case(name)
    obj = load_pt(path / 'checkpoints' / f'{name}.pth')
    state, which, _ = generator_state(obj, name)
    assert which == ('generator' if name == 'sefa_pggan_r32' else 'generator_smooth')
    checkpoint = checkpoint_from_genforce_state(state, where=name)
    generator = CLASSES[checkpoint.family](checkpoint.config)
    generator.load_state_dict(checkpoint.state_dict, strict=True)
    return (generator.eval().to(device), load_pt(path / 'inputs.pt', device), load_pt(path / 'outputs.pt', device),
            path)


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
    """sefa.py's editing loop: seed-0 code, raw boundary 0 of 'all', distances -3, 0, 3.

    Runs on the generator's device; the seed-0 code is drawn on the CPU, as sefa.py drew it, then moved there.
    """
    device = generator.device
    edits = load_pt(path / 'sefa_edits.pt', device)
    sefa = load_pt(path / 'sefa.pt', device)['all']
    torch.manual_seed(0)
    z = torch.randn(1, generator.z_dim).to(device)
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
    generator, inputs, outputs, path = load_case('sefa_pggan_r32', DEVICE)
    assert (generator.num_ws, generator.w_dim, generator.img_resolution) == (1, 32, 32)
    z = inputs['z']
    with torch.no_grad():
        ws = generator.mapping(z, truncation_psi=0.7, truncation_cutoff=8)  # Truncation is ignored.
        check('z_pixelnorm', ws[:, 0], outputs['z_pixelnorm'])
        check('img_default', generator.synthesis(ws), outputs['img_default'])
        check('img_default (forward)', generator(z), outputs['img_default'])
    check_sefa_edits(generator, path, pggan=True)


def test_stylegan_golden():
    generator, inputs, outputs, path = load_case('sefa_stylegan_r32', DEVICE)
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
    generator, inputs, outputs, path = load_case('sefa_stylegan2_r32', DEVICE)
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


def test_smooth_copy_is_preferred(tmp_path):
    path = golden_case('sefa_stylegan2_r32') / 'checkpoints' / 'sefa_stylegan2_r32.pth'
    obj = load_pt(path)
    state, which, _ = generator_state({'models': obj}, 'checkpoint')
    assert which == 'generator_smooth'
    assert torch.equal(state['truncation.w_avg'], obj['generator_smooth']['truncation.w_avg'])
    assert read_checkpoint(path).extra['which'] == 'generator_smooth'
    torch.save({'generator': obj['generator']}, tmp_path / 'only_generator.pth')
    checkpoint = read_checkpoint(tmp_path / 'only_generator.pth')
    assert checkpoint.extra['which'] == 'generator'
    assert torch.equal(checkpoint.state_dict['mapping.w_avg'], obj['generator']['truncation.w_avg'])
    torch.save({'discriminator': {'x': torch.zeros(1)}}, tmp_path / 'discriminator.pth')
    with pytest.raises(CheckpointError, match=r"not a checkpoint this toolkit reads.*\['discriminator'\]"):
        read_checkpoint(tmp_path / 'discriminator.pth')


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


def test_detect_family():
    for name, family in [('sefa_pggan_r32', 'pggan'), ('sefa_stylegan_r32', 'stylegan'),
                         ('sefa_stylegan2_r32', 'stylegan2')]:
        state = load_pt(golden_case(name) / 'state_dict.pt')
        assert detect_genforce_family(state) == family
    hammer = load_pt(golden_case('hammer_sg2_r32') / 'hammer_checkpoint.pth')
    state, _, _ = generator_state(hammer, 'hammer_checkpoint.pth')
    assert detect_genforce_family(state) is None
    assert checkpoint_from_genforce_state(state) is None


# ----------------------------------------------------------------------------
# Official widths: our module -> genforce layout (written out independently
# of the converter) -> converter -> the same module and config.

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


@pytest.mark.parametrize('name', ['pggan', 'pggan_fused', 'stylegan', 'stylegan2'])
def test_official_round_trip(official_models, name):
    model = official_models[name]
    family = name.split('_')[0]
    to_genforce = {'pggan': to_genforce_pggan, 'stylegan': to_genforce_stylegan, 'stylegan2': to_genforce_stylegan2}
    state = to_genforce[family](model.state_dict(), model.config)
    assert detect_genforce_family(state) == family
    checkpoint = checkpoint_from_genforce_state(state)
    assert checkpoint.config == model.config
    assert_same_state(model.state_dict(), checkpoint.state_dict)
    if family == 'stylegan':
        assert checkpoint.config.fused_at(128) and not checkpoint.config.fused_at(64)


# ----------------------------------------------------------------------------
# Strictness.

@pytest.mark.parametrize('name', ['sefa_pggan_r32', 'sefa_stylegan_r32', 'sefa_stylegan2_r32'])
def test_converters_are_strict(name):
    state = load_pt(golden_case(name) / 'state_dict.pt')
    family = detect_genforce_family(state)
    key = [k for k in state if k.endswith('layer3.bias')][0]
    with pytest.raises(ValueError, match=f'missing tensor {key}'):
        checkpoint_from_genforce_state({k: v for k, v in state.items() if k != key})
    with pytest.raises(ValueError, match='unexpected tensor extra.weight'):
        checkpoint_from_genforce_state(dict(state, **{'extra.weight': torch.zeros(3)}))
    with pytest.raises(ValueError, match=f'{key} has shape'):
        checkpoint_from_genforce_state(dict(state, **{key: torch.zeros(state[key].shape[0] + 1)}))
    bad = {'pggan': ('lod', torch.tensor(1.0), 'progressive growing'),
           'stylegan': ('synthesis.lod', torch.tensor(1.0), 'progressive growing'),
           'stylegan2': ('synthesis.upsample.kernel', torch.ones(1, 1, 4, 4), 'synthesis.upsample.kernel')}[family]
    with pytest.raises(ValueError, match=bad[2]):
        checkpoint_from_genforce_state(dict(state, **{bad[0]: bad[1]}))


def test_hints_and_expected_settings(tmp_path):
    path = golden_case('sefa_pggan_r32') / 'checkpoints' / 'sefa_pggan_r32.pth'
    state = load_pt(golden_case('sefa_pggan_r32') / 'state_dict.pt')
    config = checkpoint_from_genforce_state(state, {'c_dim': 2}).config  # Shapes cannot tell z from c.
    assert (config.z_dim, config.c_dim) == (30, 2)
    checkpoint = read_checkpoint(path, c_dim=2, final_tanh=True)
    assert (checkpoint.config.z_dim, checkpoint.config.c_dim, checkpoint.config.final_tanh) == (30, 2, True)
    with pytest.raises(SettingMismatch, match='z_dim=64 was asked for, but the checkpoint holds z_dim=32'):
        read_checkpoint(path, z_dim=64)
    with pytest.raises(CheckpointError, match='z_dim'):  # more label inputs than the first layer has
        read_checkpoint(path, c_dim=40)
    with pytest.raises(SettingMismatch, match='the checkpoint has no mapping_lr_multiplier'):
        read_checkpoint(path, mapping_lr_multiplier=1.0)
    stylegan = golden_case('sefa_stylegan_r32') / 'checkpoints' / 'sefa_stylegan_r32.pth'
    assert read_checkpoint(stylegan, mapping_lr_multiplier=1.0).config.mapping_lr_multiplier == 1.0
    assert read_checkpoint(stylegan).config.mapping_lr_multiplier == 0.01
