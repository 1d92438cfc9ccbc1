"""BigGAN-deep against HuggingFace's pytorch-pretrained-BigGAN (golden case biggan_deep_r32)."""

import copy
import json
import shutil

import numpy as np
import pytest
import torch
from conftest import DEVICE, golden_case, load_pt, max_abs_diff

from models import load_generator
from models.biggan import BigGANConfig, BigGANGenerator, resolve_class, truncated_noise
from models.checkpoints import CheckpointError, SettingMismatch, read_checkpoint, write_hf_biggan
from models.checkpoints.huggingface import is_hf_biggan_state
from models.imagenet_classes import IMAGENET_CLASSES, class_name

TOL = 1e-4


@pytest.fixture(scope='module')
def case():
    path = golden_case('biggan_deep_r32')
    meta = json.loads((path / 'meta.json').read_text())
    checkpoint = read_checkpoint(path / 'hf')
    assert (checkpoint.family, checkpoint.format) == ('biggan', 'HuggingFace BigGAN')
    G = BigGANGenerator(checkpoint.config).eval()
    G.load_state_dict(checkpoint.state_dict, strict=True)
    return dict(path=path, meta=meta, G=G, inputs=load_pt(path / 'inputs.pt'), outputs=load_pt(path / 'outputs.pt'))


def _tiny_generator():
    config = BigGANConfig(output_dim=16, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=5,
                          layers=[(False, 16, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)],
                          attention_layer_position=1)
    G = BigGANGenerator(config).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, buf in G.named_buffers():
            if name.endswith('running_means'):
                buf.copy_(0.1 * torch.randn(buf.shape, generator=gen))
            elif name.endswith('running_vars'):
                buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
        G.synthesis.attn.gamma.fill_(0.5)
    return G


# ----------------------------------------------------------------------------
# Golden case.

def test_golden_outputs(case):
    # The shared fixture stays on the CPU (other tests compare its inputs with CPU tensors): a copy goes to DEVICE.
    G = copy.deepcopy(case['G']).to(DEVICE)
    inputs, outputs = load_pt(case['path'] / 'inputs.pt', DEVICE), load_pt(case['path'] / 'outputs.pt', DEVICE)
    checked = set()
    for t in inputs['truncations'].tolist():
        z, c = inputs[f'z_t{t:g}'], inputs['class_vector']
        with torch.no_grad():
            ws = G.mapping(z, c, truncation_psi=t)
            img = G(z, c, truncation_psi=t)
        for k in range(G.num_ws):
            assert max_abs_diff(ws[:, k], outputs[f'cond_vector_t{t:g}']) <= TOL
        assert max_abs_diff(img, outputs[f'img_t{t:g}']) <= TOL
        checked |= {f'cond_vector_t{t:g}', f'img_t{t:g}'}
    assert checked == set(outputs)


def test_truncated_noise_reproduces_official_sampling(case):
    seed = case['meta']['seeds']['z']
    for t in case['inputs']['truncations'].tolist():
        z = truncated_noise(2, 32, t, seed=seed)
        assert z.dtype == torch.float32
        assert torch.equal(z, case['inputs'][f'z_t{t:g}'])
    assert truncated_noise(4, 16, seed=1).abs().max() <= 2


def test_mapping_synthesis_split_equals_forward(case):
    G, inputs = case['G'], case['inputs']
    z = inputs['z_t0.4']
    labels = torch.tensor([3, 8])
    with torch.no_grad():
        ws = G.mapping(z, labels, truncation_psi=0.4)
        assert ws.shape == (2, G.num_ws, G.w_dim) == (2, 7, 64)
        img = G.synthesis(ws, truncation_psi=0.4)
        assert torch.equal(img, G(z, torch.nn.functional.one_hot(labels, 10).float(), truncation_psi=0.4))
        assert torch.equal(ws, G.mapping(z, labels, truncation_psi=1))  # truncation lives in z, not in w
        edited = ws.clone()
        edited[:, 3] = G.mapping(z, torch.tensor([0, 0]))[:, 3]
        img_edited = G.synthesis(edited, truncation_psi=0.4)
    assert max_abs_diff(img_edited, img) > 1e-3
    assert G.family == 'biggan' and G.c_dim == 10 and G.z_dim == 32 and G.img_resolution == 32
    assert G.img_channels == 3 and len({i for i, _, _ in G.style_layers()}) == G.num_ws


def test_truncation_and_class_are_checked_by_the_hooks(case):
    """What a user gives is checked at the edge, by the family's hooks; the networks trust it."""
    G = case['G']
    for bad in (0, 1.5, -0.2, float('nan')):
        with pytest.raises(ValueError, match='truncation_psi'):
            G.check_truncation(bad)
    assert G.check_truncation(0.4) == 0.4
    assert G.class_index('goldfish') == 1 and G.class_index(9) == 9
    for bad, fragment in ((10, 'out of range'), ('goldfsh', 'goldfish'), ('n00000000', 'WordNet id')):
        with pytest.raises(ValueError, match=fragment):
            G.class_index(bad)


# ----------------------------------------------------------------------------
# Checkpoint reader.

def test_reader_accepts_folder_or_either_file(case, tmp_path):
    hf = case['path'] / 'hf'
    checkpoint = read_checkpoint(hf)
    for path in (hf / 'pytorch_model.bin', hf / 'config.json'):
        other = read_checkpoint(path)
        assert other.config == checkpoint.config and other.state_dict.keys() == checkpoint.state_dict.keys()
        assert all(torch.equal(checkpoint.state_dict[k], other.state_dict[k]) for k in checkpoint.state_dict)
    shutil.copy(hf / 'config.json', tmp_path / 'config.json')
    with pytest.raises(CheckpointError, match='pytorch_model.bin'):
        read_checkpoint(tmp_path / 'config.json')
    with pytest.raises(SettingMismatch, match='img_resolution=64 was asked for, but the checkpoint holds '
                                              'img_resolution=32'):
        read_checkpoint(hf, img_resolution=64)
    assert read_checkpoint(hf, family='biggan', img_resolution=32, w_dim=64, z_dim=32).family == 'biggan'
    with pytest.raises(SettingMismatch, match='the checkpoint has no channel_base'):
        read_checkpoint(hf, channel_base=1024)


def test_reader_is_strict(case, tmp_path):
    hf = case['path'] / 'hf'
    official = torch.load(hf / 'pytorch_model.bin', map_location='cpu', weights_only=True)
    assert is_hf_biggan_state(official.keys()) and not is_hf_biggan_state(['mapping.fc0.weight'])
    shutil.copy(hf / 'config.json', tmp_path / 'config.json')

    def read(state):
        torch.save(state, tmp_path / 'pytorch_model.bin')
        return read_checkpoint(tmp_path)

    key = 'generator.layers.2.bn_1.scale.weight_v'
    with pytest.raises(CheckpointError, match=f'missing tensor {key}'):
        read({k: v for k, v in official.items() if k != key})
    with pytest.raises(CheckpointError, match='unexpected tensor generator.extra'):
        read({**official, 'generator.extra': torch.zeros(1)})
    with pytest.raises(CheckpointError, match='generator.gen_z.bias has shape'):
        read({**official, 'generator.gen_z.bias': torch.zeros(5)})
    with pytest.raises(CheckpointError, match='pytorch_model.bin'):
        read({**official, 'embeddings.weight': torch.full((32, 10), float('nan'))})


# ----------------------------------------------------------------------------
# Configs and class names.

def test_writer_gives_the_official_layout(case, tmp_path):
    """Our model saved as a HuggingFace folder: the official tensor names and shapes, the same config,
    and the same weights and images when read back."""
    G = case['G']
    write_hf_biggan(G, tmp_path / 'out')
    official = torch.load(case['path'] / 'hf' / 'pytorch_model.bin', map_location='cpu', weights_only=True)
    written = torch.load(tmp_path / 'out' / 'pytorch_model.bin', map_location='cpu', weights_only=True)
    assert {k: tuple(v.shape) for k, v in written.items()} == {k: tuple(v.shape) for k, v in official.items()}
    assert (json.loads((tmp_path / 'out' / 'config.json').read_text())
            == json.loads((case['path'] / 'hf' / 'config.json').read_text()))
    state = read_checkpoint(tmp_path / 'out').state_dict
    for key, value in G.state_dict().items():
        assert torch.allclose(state[key], value, rtol=1e-6, atol=1e-7), key
    back = load_generator(tmp_path / 'out')
    z, c = case['inputs']['z_t0.4'], case['inputs']['class_vector']
    with torch.no_grad():
        assert max_abs_diff(back(z, c, truncation_psi=0.4), case['outputs']['img_t0.4']) <= TOL


def test_writer_round_trip_on_a_random_config(tmp_path):
    G = _tiny_generator()
    write_hf_biggan(G, tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith('.')]  # no temporary files left
    back = load_generator(tmp_path / 'config.json')
    z = truncated_noise(3, 8, 0.5, seed=1)
    c = torch.tensor([0, 2, 4])
    with torch.no_grad():
        expected = G(z, c, truncation_psi=0.5)
        assert expected.std() > 0.01
        assert max_abs_diff(back(z, c, truncation_psi=0.5), expected) <= 1e-5


def _random_generator(config, seed):
    G = BigGANGenerator(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in G.named_parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * (0.5 if param.ndim > 1 else 0.2))
            if param.ndim > 1 and 'embed' not in name:
                param.div_(torch.linalg.matrix_norm(param.reshape(param.shape[0], -1), ord=2))
        for name, buf in G.named_buffers():
            if name.endswith('running_means'):
                buf.copy_(0.1 * torch.randn(buf.shape, generator=gen))
            elif name.endswith('running_vars'):
                buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
    return G


RANDOM_CONFIGS = [
    dict(output_dim=16, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=5,
         layers=[(False, 16, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)], attention_layer_position=1),
    dict(output_dim=32, z_dim=12, class_embed_dim=12, channel_width=3, num_classes=9, n_stats=11,
         layers=[(False, 16, 16), (True, 16, 8), (False, 8, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)],
         attention_layer_position=3),
]


@pytest.mark.parametrize('index', range(len(RANDOM_CONFIGS)))
def test_against_the_huggingface_package_on_random_configs(index, tmp_path):
    """Random small configs, written as HuggingFace folders, against the official package itself."""
    official = pytest.importorskip('pytorch_pretrained_biggan', reason='the reference package pytorch-pretrained-'
                                   'biggan is not installed (pip install pytorch-pretrained-biggan to run this)')
    config = BigGANConfig(**RANDOM_CONFIGS[index])
    G = _random_generator(config, seed=index)
    write_hf_biggan(G, tmp_path)
    ref = official.BigGAN.from_pretrained(str(tmp_path)).eval()
    state = torch.load(tmp_path / 'pytorch_model.bin', map_location='cpu', weights_only=True)
    ref.load_state_dict(state, strict=True)  # every official tensor is in the file, and nothing else
    ours = load_generator(tmp_path)
    n = config.num_classes
    classes = torch.eye(n)[[0, n // 2, n - 1]]
    mixed = torch.softmax(torch.randn(1, n, generator=torch.Generator().manual_seed(index)), dim=1)
    c = torch.cat([classes, mixed])
    for truncation in (1.0, 0.4, 0.05):
        z = truncated_noise(len(c), config.z_dim, truncation, seed=index)
        with torch.no_grad():
            expected = ref(z, c, truncation)
            assert expected.std() > 0.01
            assert max_abs_diff(ours(z, c, truncation_psi=truncation), expected) <= TOL
            assert max_abs_diff(G(z, c, truncation_psi=truncation), expected) <= TOL


def test_presets_match_the_released_models():
    # Parameter counts of BigGAN-deep 128/256/512 as published with the official port.
    expected = {128: (50388609, 11), 256: (55880833, 13), 512: (56163905, 15)}
    for resolution, (num_params, num_ws) in expected.items():
        config = BigGANConfig.preset(resolution)
        with torch.device('meta'):
            G = BigGANGenerator(config)
        assert sum(p.numel() for p in G.parameters()) == num_params
        assert (G.img_resolution, G.num_ws, G.w_dim) == (resolution, num_ws, 256)
        assert BigGANConfig(**json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize('edit, fragment', [
    (lambda config: config.update(output_dim=64), 'output_dim'),
    (lambda config: config.update(resolution=128), "'resolution'"),
    (lambda config: config['layers'][1].__setitem__(1, 8), 'layer'),
    (lambda config: config.update(channel_width=2), 'channel_width'),
    (lambda config: config.update(layers='deep'), 'biggan'),
])
def test_a_config_json_is_checked(case, tmp_path, edit, fragment):
    config = json.loads((case['path'] / 'hf' / 'config.json').read_text())
    edit(config)
    (tmp_path / 'config.json').write_text(json.dumps(config))
    shutil.copy(case['path'] / 'hf' / 'pytorch_model.bin', tmp_path / 'pytorch_model.bin')
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path)
    message = str(info.value)
    assert message.startswith(f'{tmp_path / "config.json"}: ') and fragment in message and '\n' not in message


def test_imagenet_table():
    wnids = [wnid for wnid, _ in IMAGENET_CLASSES]
    assert len(wnids) == 1000 and wnids == sorted(set(wnids))  # ILSVRC indices follow sorted WordNet ids
    assert (wnids[0], wnids[999]) == ('n01440764', 'n15075141')
    assert [class_name(i) for i in (0, 1, 207, 281, 948, 980, 999)] == [
        'tench', 'goldfish', 'golden retriever', 'tabby', 'Granny Smith', 'volcano', 'toilet tissue']


def test_resolve_class():
    assert resolve_class('goldfish') == 1
    assert resolve_class('Great_White_Shark') == 2
    assert resolve_class('  granny smith ') == 948
    assert resolve_class('bubble') == 971
    assert resolve_class('n09472597') == 980
    assert resolve_class('orca') == 148  # a synonym
    assert resolve_class('partridge') == 86  # a first name wins over another class's synonym
    assert resolve_class(7) == 7 and resolve_class('7') == 7 and resolve_class(np.int64(9)) == 9
    with pytest.raises(ValueError, match="close matches: 'goldfish'"):
        resolve_class('goldfsh')
    with pytest.raises(ValueError, match='ambiguous: 134 .*517'):
        resolve_class('crane')
    with pytest.raises(ValueError, match='out of range'):
        resolve_class(1000)
    with pytest.raises(ValueError, match='out of range'):
        resolve_class('goldfish', num_classes=1)
    with pytest.raises(ValueError, match='WordNet id'):
        resolve_class('n00000000')


# ----------------------------------------------------------------------------
# Forward-mode differentiation.

@pytest.mark.slow
def test_tiny_generator_under_jvp_and_vmap():
    G = _tiny_generator()
    gen = torch.Generator().manual_seed(1)
    z = truncated_noise(2, 8, 0.37, seed=3)
    ws = G.mapping(z, torch.tensor([1, 4]), truncation_psi=0.37)

    def synth(w):
        return G.synthesis(w, truncation_psi=0.37)

    v = torch.randn(ws.shape, generator=gen)
    out, tangent = torch.func.jvp(synth, (ws,), (v,))
    assert torch.equal(out, G(z, torch.tensor([1, 4]), truncation_psi=0.37))
    # Adjoint identity against reverse mode: <u, J v> = <J^T u, v>.
    u = torch.randn(out.shape, generator=gen)
    _, vjp = torch.func.vjp(synth, ws)
    lhs, rhs = (u * tangent).sum().item(), (vjp(u)[0] * v).sum().item()
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(rhs))
    basis = torch.randn((3,) + tuple(ws.shape), generator=gen)
    batched = torch.func.vmap(lambda t: torch.func.jvp(synth, (ws,), (t,))[1])(basis)
    for k in range(3):
        assert max_abs_diff(batched[k], torch.func.jvp(synth, (ws,), (basis[k],))[1]) <= 1e-5
