"""The generator contract (`models.base.Generator`), checked member by member on every registered family.

Tiny random models built here, so this runs without ../shared. Every family of
`models.FAMILIES` must have an entry in `TINY`: registering a family without
one fails `test_every_family_is_covered`.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import models
from models.base import Generator
from semantics import jacobian, sampling, sefa
from tests.conftest import DEVICE

ROOT = Path(__file__).resolve().parents[1]

_BIGGAN_LAYERS = [(False, 16, 8), (True, 8, 4), (False, 4, 2), (True, 2, 1)]
TINY = {  # name: (family, config)
    'stylegan2': ('stylegan2', dict(z_dim=16, w_dim=12, img_resolution=16, channel_base=256, channel_max=16,
                                    mapping_layers=2)),
    'stylegan2_cond': ('stylegan2', dict(z_dim=16, w_dim=12, c_dim=3, img_resolution=16, channel_base=256,
                                         channel_max=16, mapping_layers=2)),
    'stylegan3_t': ('stylegan3', dict(z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=8,
                                      num_layers=4, num_critical=1, margin_size=2, mapping_layers=1)),
    'stylegan3_r': ('stylegan3', dict(z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=8,
                                      num_layers=4, num_critical=1, margin_size=2, mapping_layers=1,
                                      conv_kernel=1, use_radial_filters=True)),
    'stylegan': ('stylegan', dict(z_dim=16, w_dim=12, img_resolution=16, mapping_layers=2, mapping_features=16,
                                  channel_base=256, channel_max=16)),
    'pggan': ('pggan', dict(z_dim=16, img_resolution=16, channel_base=256, channel_max=16)),
    'biggan': ('biggan', dict(output_dim=16, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=5,
                              layers=_BIGGAN_LAYERS, attention_layer_position=1)),
}
PSI = 0.7


def build(name):
    """A tiny random model; biases, noise strengths and batch-norm statistics made non-trivial so every term shows."""
    family, config = TINY[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(sum(map(ord, name)))
        G = models.build_generator(family, **config).eval().requires_grad_(False)
        with torch.no_grad():
            for tensor in G.parameters():
                if tensor.ndim <= 1:
                    tensor.add_(0.1 * torch.randn_like(tensor))
            for key, buffer in G.named_buffers():
                if key.endswith('running_means'):
                    buffer.copy_(0.1 * torch.randn_like(buffer))
                elif key.endswith('running_vars'):
                    buffer.copy_(0.5 + torch.rand_like(buffer))
    return G.to(DEVICE)


def inputs(G, num=3, seed=5):
    z = torch.from_numpy(G.sample_z(num, seed, PSI)).to(G.device)
    c = sampling.class_labels(G, 1 if G.c_dim else None, num, G.device)
    return z, c


@pytest.fixture(params=sorted(TINY), scope='module')
def generator(request):
    return build(request.param)


def test_every_family_is_covered():
    assert {family for family, _ in TINY.values()} == set(models.FAMILIES)


def test_members(generator):
    G = generator
    assert isinstance(G, Generator) and G.family in models.FAMILIES
    for name in ('z_dim', 'w_dim', 'num_ws', 'img_resolution', 'img_channels'):
        assert isinstance(getattr(G, name), int) and getattr(G, name) > 0, name
    assert isinstance(G.c_dim, int) and G.c_dim >= 0
    assert G.variant.startswith(G.family)
    assert G.variant in G.describe() and f'{G.img_resolution}x{G.img_resolution}' in G.describe()
    assert G.model_name == G.family and G.source is None and G.checkpoint_sha256 is None
    # The config travels with the weights: the same family and config rebuild the same model.
    twin = models.build_generator(G.family, G.config).eval().to(G.device)
    twin.load_state_dict(G.state_dict(), strict=True)
    z, c = inputs(G)
    assert torch.equal(twin(z, c, PSI), G(z, c, PSI))


def test_sample_z(generator):
    G = generator
    z = G.sample_z(4, 7, PSI)
    assert z.dtype == np.float32 and z.shape == (4, G.z_dim)
    assert np.array_equal(z, G.sample_z(4, 7, PSI))
    assert not np.array_equal(z, G.sample_z(4, 8, PSI))
    assert np.array_equal(G.sample_z(2, 7, PSI), z[:2])  # the first codes do not depend on the count


def test_mapping_and_synthesis(generator):
    G = generator
    z, c = inputs(G)
    cutoff = 2 if G.has_truncation_cutoff else None
    ws = G.mapping(z, c, **G.mapping_kwargs(PSI, cutoff))
    assert ws.shape == (3, G.num_ws, G.w_dim)
    plain = G.mapping(z, c, **G.mapping_kwargs(1, None))
    if G.has_truncation_cutoff:  # truncation moves the first `cutoff` codes only
        assert torch.equal(ws[:, cutoff:], plain[:, cutoff:]) and not torch.equal(ws[:, :cutoff], plain[:, :cutoff])
    images = G.synthesis(ws, **G.synthesis_kwargs('const', PSI))
    untruncated = G.synthesis(plain, **G.synthesis_kwargs('const', 1))
    assert torch.equal(images, untruncated) != G.has_truncation  # truncation changes the image exactly when declared
    assert images.shape == (3, G.img_channels, G.img_resolution, G.img_resolution)
    assert torch.isfinite(images).all() and images.abs().max() > 0
    assert torch.equal(G(z, c, PSI, cutoff), images)
    # The variant for tangents computes the same image.
    fast = G.synthesis(ws, **G.synthesis_kwargs('const', PSI, for_tangents=True))
    assert (fast - images).abs().max() <= 1e-5
    # Rendering helper of the library: the same call, batched.
    assert (sampling.render(G, ws, 'const', PSI, batch_size=2) - images).abs().max() <= 1e-5


def test_noise_is_declared(generator):
    G = generator
    z, c = inputs(G)
    ws = G.mapping(z, c, **G.mapping_kwargs(PSI, None))
    torch.manual_seed(0)
    const = G.synthesis(ws, **G.synthesis_kwargs('const', PSI))
    random = G.synthesis(ws, **G.synthesis_kwargs('random', PSI))
    assert torch.equal(const, G.synthesis(ws, **G.synthesis_kwargs('const', PSI)))
    assert torch.equal(const, random) != G.has_noise


def test_truncation_check(generator):
    G = generator
    assert G.check_truncation(PSI) == PSI
    with pytest.raises(ValueError):
        G.check_truncation(float('nan'))
    if G.family == 'biggan':  # the one family whose truncation is bounded
        for bad in (0, 1.5, -0.2):
            with pytest.raises(ValueError, match='truncation'):
                G.check_truncation(bad)


def test_classes(generator):
    G = generator
    if not G.c_dim:
        with pytest.raises(ValueError, match='unconditional'):
            G.class_index(0)
        assert sampling.class_labels(G, None, 2) is None
        return
    assert G.class_index('1') == 1 == G.class_index(1)
    for bad in (G.c_dim, -1, 'no such class'):
        with pytest.raises(ValueError):
            G.class_index(bad)
    labels = sampling.class_labels(G, 2, 3)
    assert labels.shape == (3, G.c_dim) and labels.argmax(1).tolist() == [2, 2, 2]
    assert isinstance(G.class_name(2), str) and G.class_name(2)



def test_sefa_hooks(generator):
    G = generator
    layers = G.sefa_layers()
    assert layers == sorted(set(layers)) and all(0 <= i < G.num_ws for i in layers)
    weights = G.sefa_weights(layers)
    assert weights and all(isinstance(name, str) for name, _ in weights)
    widths = {weight.shape[0] for _, weight in weights}
    assert widths <= {G.w_dim, G.z_dim} and len(widths) == 1
    found, directions, eigenvalues = sefa.factorize(G)
    assert found == layers and directions.shape == (widths.pop(), G.w_dim)
    assert np.allclose(np.linalg.norm(directions, axis=1), 1, atol=1e-5)
    assert np.all(np.diff(eigenvalues) <= 1e-9)


def test_transform(generator):
    G = generator
    z, c = inputs(G, 1)
    before = G(z, c, PSI)
    if not G.has_transform:
        G.set_transform(0, 0, 0)  # the identity is always accepted
        with pytest.raises(ValueError, match='cannot be translated'):
            G.set_transform(0.1, 0, 10)
        return
    G.set_transform(0.1, 0, 10)
    moved = G(z, c, PSI)
    G.set_transform(0, 0, 0)
    assert not torch.allclose(moved, before) and torch.equal(G(z, c, PSI), before)


def test_forward_mode(generator):
    G = generator
    z, c = inputs(G, 1)
    w = G.mapping(z, c, **G.mapping_kwargs(1, None))[0, 0]  # [w_dim]
    push = G.forward_mode_pass(w.reshape(1, 1, -1).repeat(1, G.num_ws, 1))
    assert (push is None) != G.has_forward_mode
    kwargs = G.synthesis_kwargs('const', PSI, for_tangents=True)
    reference = jacobian.make_tangent_function(G, w, synthesis_kwargs=kwargs, method='jvp')
    tangents = torch.randn(3, G.w_dim, generator=torch.Generator().manual_seed(0)).to(G.device)
    expected = reference(tangents)
    if push is not None:
        ours = jacobian.make_tangent_function(G, w, synthesis_kwargs=kwargs, method='tangent')(tangents)
        assert (ours - expected).abs().max() <= 1e-5 * expected.abs().max()
    assert jacobian.pick_method(G, kwargs) == ('tangent' if G.has_forward_mode else 'jvp')


def test_tangent_memory(generator):
    G = generator
    largest = G.largest_feature_map()
    assert isinstance(largest, int) and largest >= G.img_resolution ** 2
    assert G.tangent_bytes() == 4 * G.tangent_copies * largest
    assert 1 <= jacobian.auto_chunk_size(G, 'cpu') <= 32 and jacobian.auto_chunk_size(G, 'cpu', 0) == 1


def test_generic_code_never_probes_a_generator():
    """No `family ==` test and no hasattr/getattr probe outside the families' own modules."""
    files = [*ROOT.glob('*.py'), *(ROOT / 'semantics').glob('*.py'), *(ROOT / 'utils').glob('*.py'),
             *(ROOT / 'cli').glob('*.py')]
    assert len(files) > 15
    pattern = re.compile(r'family\s*(==|!=|in\b)|hasattr\(|getattr\(')
    found = [f'{path.relative_to(ROOT)}:{number}: {line.strip()}' for path in files
             for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []
