"""Every script on StyleGAN3 (T and R) and BigGAN-deep, through real checkpoint files.

StyleGAN3: the golden Hammer `.pth` files and NVlabs-layout pickles built from
the golden NVlabs state dicts (synthesis with and without the user transform,
manipulation, SeFa), and tiny random checkpoints written as NVlabs pickles for
the Jacobian chain (the golden models take tens of seconds per Jacobian on a CPU).
BigGAN: the golden HuggingFace folder. Every script runs in-process through
click's test runner; images are compared as the generator's float output
(recorded around `semantics.sampling.render`), never as JPEG bytes.
"""

import json

import numpy as np
import pytest
import torch

import compute_directions
import compute_jacobian
import manipulate
import sefa
import synthesis
from models import build_generator, load_generator
from models.biggan import truncated_noise
from models.checkpoints import stylegan3_names
from semantics import sampling
from tests.clitools import assert_one_line_error, invoke, invoke_ok, printed
from tests.conftest import PUBLISHED, golden_case, load_pt, max_abs_diff
from tests.pickles import write_nvlabs_pickle

TOL = 1e-4
SG3_BUFFERS = ('w_avg', 'transform', 'freqs', 'phases', 'magnitude_ema', 'up_filter', 'down_filter')
SG3_CASES = ['hammer_sg3t_r32', 'hammer_sg3r_r32', 'nvlabs_sg3t_r32', 'nvlabs_sg3r_r32']
CFG_FLAGS = {'T': dict(conv_kernel=3, use_radial_filters=False), 'R': dict(conv_kernel=1, use_radial_filters=True)}


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Tiny convolutions on two shared cores run many times faster on one thread than on two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def renders(monkeypatch):
    """`[(ws, image)]` of every `sampling.render` call a script makes."""
    calls = []
    real = sampling.render

    def record(generator, ws, *args, **kwargs):
        image = real(generator, ws, *args, **kwargs)
        calls.append((torch.as_tensor(ws).detach().cpu().clone(), image.detach().cpu().clone()))
        return image

    monkeypatch.setattr(sampling, 'render', record)
    return calls


def relative_error(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def sign_aligned_error(ours, ref):
    signs = np.sign(np.sum(ours * ref, axis=1, keepdims=True))
    return float(np.abs(ours * signs - ref).max())


def reverse_mode_rows(G, w, rows, synthesis_kwargs=None):
    """Rows `[len(rows), w_dim]` of d image / d w at `w` `[w_dim]`, by `torch.autograd.functional.jacobian`."""
    kwargs = dict(synthesis_kwargs or {})

    def image_values(v):
        ws = v.reshape(1, 1, -1).repeat(1, G.num_ws, 1)
        return G.synthesis(ws, **kwargs).reshape(-1)[rows]

    return torch.autograd.functional.jacobian(image_values, torch.as_tensor(w).clone()).numpy()


def check_against_reverse_mode(G, jacobians, w, synthesis_kwargs=None, count=6, seed=0):
    """A few output rows of a CLI Jacobian `[C, H, W, 1, w_dim]` against reverse mode (1e-4 relative)."""
    flat = jacobians.reshape(-1, jacobians.shape[-1])  # [C * H * W, w_dim]
    strongest = np.argsort(-np.abs(flat).max(axis=1))[:count // 2]
    others = np.random.RandomState(seed).choice(len(flat), count - len(strongest), replace=False)
    rows = torch.as_tensor(np.concatenate([strongest, others]))
    ref = reverse_mode_rows(G, w, rows, synthesis_kwargs)
    assert np.abs(ref).max() > 0
    assert relative_error(flat[rows.numpy()], ref) <= TOL


def edited_images(G, wp, direction, layers, steps, **synthesis_kwargs):
    """`G.synthesis` of `wp` `[1, num_ws, w_dim]` moved along `direction` on `layers`, one image per step."""
    wp = torch.as_tensor(wp).repeat(len(steps), 1, 1)
    delta = torch.as_tensor(np.asarray(steps, np.float32)).reshape(-1, 1) * torch.as_tensor(direction).reshape(1, -1)
    wp[:, layers] += delta.unsqueeze(1)
    with torch.no_grad():
        return G.synthesis(wp, **synthesis_kwargs)


# ----------------------------------------------------------------------------
# Checkpoints.

class Sg3Golden:
    """A golden StyleGAN3 case as the scripts see it: a checkpoint file and the official outputs."""

    def __init__(self, case, tmp_dir):
        path = golden_case(case)
        meta = json.loads((path / 'meta.json').read_text())
        inputs, outputs = load_pt(path / 'inputs.pt'), load_pt(path / 'outputs.pt')
        self.case = case
        self.seed = meta['seeds']['z']
        self.z = inputs['z']
        if case.startswith('hammer'):
            self.path = path / 'hammer_checkpoint.pth'
            self.cfg = 'R' if meta['constructor']['config']['use_radial_filter'] else 'T'
            self.tx, self.ty, self.rotate = inputs['transform_tx_ty_rotate'].tolist()
            self.ws, self.ws_psi07 = outputs['wp'], outputs['wp_psi07']
            self.img_psi07, self.trunc_layers = outputs['img_psi07'], 8
        else:
            state = load_pt(path / 'state_dict.pt')
            self.path = write_nvlabs_pickle(tmp_dir / f'{case}.pkl', state, meta['init_kwargs'],
                                            buffer_names=SG3_BUFFERS)
            self.cfg = 'R' if meta['init_kwargs'].get('use_radial_filters') else 'T'
            (self.tx, self.ty) = inputs['transform_translate'].tolist()
            self.rotate = inputs['transform_rotate_deg'].item()
            self.ws, self.ws_psi07 = outputs['ws'], outputs['ws_psi07']
            self.img_psi07, self.trunc_layers = outputs['img_const_psi07'], meta['num_ws']  # no cutoff
        self.img_transform = outputs['img_transform']
        self.z_dim, self.w_dim = self.z.shape[1], self.ws.shape[2]
        assert np.array_equal(np.random.RandomState(self.seed).randn(2, self.z_dim).astype(np.float32), self.z.numpy())

    @property
    def transform_args(self):
        return [f'--tx={self.tx!r}', f'--ty={self.ty!r}', f'--rotate={self.rotate!r}']


@pytest.fixture(scope='module')
def sg3_golden(tmp_path_factory):
    cache = {}

    def get(case):
        if case not in cache:
            cache[case] = Sg3Golden(case, tmp_path_factory.mktemp(case))
        return cache[case]

    return get


def write_tiny_sg3(path, cfg, w_dim=8, z_dim=8, img_resolution=16, num_layers=6, seed=0):
    """A small random StyleGAN3 saved as an NVlabs pickle (biases perturbed so that none is zero)."""
    init_kwargs = dict(z_dim=z_dim, c_dim=0, w_dim=w_dim, img_resolution=img_resolution, img_channels=3,
                       mapping_kwargs=dict(num_layers=2), channel_base=64, channel_max=8, num_layers=num_layers,
                       magnitude_ema_beta=0.999, **CFG_FLAGS[cfg])
    config = stylegan3_names.config_from_nvlabs_kwargs(init_kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = build_generator('stylegan3', config)
        state = {k: v + 0.1 * torch.randn_like(v) if k.endswith('bias') else v for k, v in G.state_dict().items()}
    state.update(stylegan3_names.designed_filters(config))
    return write_nvlabs_pickle(path, state, init_kwargs, buffer_names=SG3_BUFFERS)


@pytest.fixture(scope='module')
def tiny_sg3(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('tiny_sg3')
    return {cfg: write_tiny_sg3(tmp / f'tiny_sg3{cfg.lower()}.pkl', cfg, seed=ord(cfg)) for cfg in 'TR'}


@pytest.fixture(scope='module')
def biggan():
    case = golden_case('biggan_deep_r32')
    return case / 'hf', load_pt(case / 'inputs.pt'), load_pt(case / 'outputs.pt')


# ----------------------------------------------------------------------------
# StyleGAN3: synthesis.py.

@pytest.mark.parametrize('case', SG3_CASES)
def test_sg3_synthesis_transform_equals_golden(case, sg3_golden, renders, tmp_path):
    """--tx/--ty/--rotate with the golden's values give the official `img_transform`."""
    g = sg3_golden(case)
    result = invoke_ok(synthesis, [g.path, '--stylegan3', '--cfg', g.cfg, '--seed', g.seed, '--nums', 2,
                                   '--trunc_psi', 1, *g.transform_args, '--save_dir', tmp_path, '--vis_size', 16])
    job = printed(result, 'HTML page').parent
    assert job.name == f'seed_{g.seed}_num_2' and '_tx_' in job.parent.name
    codes = np.load(job / 'latent_codes.npy')
    assert max_abs_diff(codes, g.ws) <= TOL
    assert len(renders) == 1 and max_abs_diff(renders[0][1], g.img_transform) <= TOL
    G = load_generator(g.path)
    G.set_transform(g.tx, g.ty, g.rotate)
    with torch.no_grad():
        assert max_abs_diff(G.synthesis(torch.from_numpy(codes)), g.img_transform) <= TOL
    assert 'Transform: translate' in (job / 'synthesis.html').read_text()


@pytest.mark.parametrize('case', ['hammer_sg3t_r32', 'nvlabs_sg3t_r32'])
def test_sg3_synthesis_truncation_equals_golden(case, sg3_golden, renders, tmp_path):
    """The default --trunc_psi 0.7 (cutoff 8 for Hammer's golden, all layers for NVlabs')."""
    g = sg3_golden(case)
    result = invoke_ok(synthesis, [g.path, '--seed', g.seed, '--nums', 2, '--trunc_layers', g.trunc_layers,
                                   '--save_dir', tmp_path, '--vis_size', 16])
    codes = np.load(printed(result, 'Latent codes').parent / 'latent_codes.npy')
    assert max_abs_diff(codes, g.ws_psi07) <= TOL
    assert max_abs_diff(renders[0][1], g.img_psi07) <= TOL


# ----------------------------------------------------------------------------
# StyleGAN3: manipulate.py and sefa.py on the golden checkpoints.

@pytest.mark.parametrize('case', ['hammer_sg3r_r32', 'nvlabs_sg3t_r32'])
def test_sg3_manipulate_golden(case, sg3_golden, renders, tmp_path):
    """Direction 1 of a file, default layers 4-7, with the golden transform: edits are `ws + d * v` there."""
    g = sg3_golden(case)
    directions = np.random.RandomState(1).randn(2, g.w_dim).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    np.save(tmp_path / 'dirs.npy', directions)
    result = invoke_ok(manipulate, [g.path, tmp_path / 'dirs.npy', '--stylegan3', '--nums', 1, '--step', 2,
                                    '--start', 1, '--end', 2, *g.transform_args, '--save_dir', tmp_path / 'out',
                                    '--vis_size', 16])
    job = printed(result, 'HTML page').parent
    assert job.name.startswith('seed_4_num_1_dirs-') and '_1-1_layers_4-7' in job.name
    assert (job / '000000_ind_000001.gif').is_file()
    html = (job / 'resefa.html').read_text()
    assert 'Layers: 4-7 (the default)' in html and html.count('data:image/jpeg') == 1 + 2
    G = load_generator(g.path)
    with torch.no_grad():
        wp = G.mapping(torch.from_numpy(np.random.RandomState(4).randn(1, g.z_dim).astype(np.float32)),
                       truncation_psi=0.7, truncation_cutoff=8)
    assert max_abs_diff(np.load(job / 'latent_codes.npy'), wp) <= 1e-6
    G.set_transform(g.tx, g.ty, g.rotate)
    (_, original), (_, edits) = renders
    with torch.no_grad():
        assert max_abs_diff(original, G.synthesis(wp)) <= TOL
    assert max_abs_diff(edits, edited_images(G, wp, directions[1], [4, 5, 6, 7], [-10, 10])) <= TOL


@pytest.mark.parametrize('case', SG3_CASES)
def test_sg3_sefa_golden(case, sg3_golden, tmp_path):
    """sefa.py: eigenvectors of the column-normalised style weights of the 15 synthesis layers.

    One case also renders its pages (-N 1); the others only factorise (-N 0).
    """
    g = sg3_golden(case)
    num_samples = 1 if case == 'hammer_sg3t_r32' else 0
    result = invoke_ok(sefa, [g.path, '-L', 'all', '-N', num_samples, '-K', 3, '--step', 2, '--viz_size', 16,
                              '--save_dir', tmp_path])
    folder = printed(result, 'Directions').parent
    directions = np.load(folder / 'directions.npy')
    meta = json.loads((folder / 'directions.json').read_text())
    assert directions.shape == (3, g.w_dim) and directions.dtype == np.float32
    assert meta['layers'] == list(range(1, 16))
    G = load_generator(g.path)
    weights = [m.weight for name, m in G.named_modules()
               if name.endswith('.affine') and name != 'synthesis.input.affine']
    assert len(weights) == 15
    a = torch.cat([w.T for w in weights], dim=1).numpy().astype(np.float64)  # [w_dim, sum of channels]
    a /= np.linalg.norm(a, axis=0, keepdims=True)
    values, vectors = np.linalg.eigh(a @ a.T)
    assert sign_aligned_error(directions.astype(np.float64), vectors[:, ::-1][:, :3].T) <= TOL
    assert np.allclose(meta['eigenvalues'], values[::-1][:3], rtol=1e-4)
    pages = sorted(folder.glob('*.html'))
    assert len(pages) == 2 * num_samples
    for page in pages:
        assert page.read_text().count('data:image/jpeg') == 3 * 2


# ----------------------------------------------------------------------------
# StyleGAN3: compute_jacobian.py -> compute_directions.py -> manipulate.py on tiny checkpoints.

@pytest.mark.parametrize('cfg', ['T', 'R'])
def test_sg3_jacobian_chain(cfg, tiny_sg3, renders, tmp_path):
    path = tiny_sg3[cfg]
    transform = (0.125, -0.0625, 10.0) if cfg == 'R' else (0.0, 0.0, 0.0)
    invoke_ok(compute_jacobian, [path, '--stylegan3', '--cfg', cfg, '--nums', 2, '--chunk_size', 4,
                                 f'--tx={transform[0]}', f'--ty={transform[1]}', f'--rotate={transform[2]}',
                                 '--save_dir', tmp_path / 'jac'])
    jacobians = np.load(tmp_path / 'jac' / 'jacobians_w.npy')
    w = np.load(tmp_path / 'jac' / 'latent_codes.npy')
    sidecar = json.loads((tmp_path / 'jac' / 'jacobians_w.json').read_text())
    assert jacobians.shape == (2, 3, 16, 16, 1, 8) and w.shape == (2, 8)
    assert sidecar['settings']['transform'] == list(transform) and sidecar['variant'] == f'stylegan3{cfg.lower()}'
    G = load_generator(path)
    with torch.no_grad():
        expected_w = G.mapping(torch.from_numpy(np.random.RandomState(4).randn(2, 8).astype(np.float32)))[:, 0]
    assert max_abs_diff(w, expected_w) <= 1e-6
    G.set_transform(*transform)
    for index in range(2):
        check_against_reverse_mode(G, jacobians[index], w[index], seed=index)

    invoke_ok(compute_directions, [tmp_path / 'jac' / 'jacobians_w.npy', '--region', 'eyes', '--full_rank',
                                   '--save_dir', tmp_path / 'dirs'])
    pooled = np.load(tmp_path / 'dirs' / 'eyes' / 'pooled_resefa.npy')
    assert pooled.shape == (8, 8) and np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)
    assert np.load(tmp_path / 'dirs' / 'eyes' / 'image_01_region_eyes_name_resefa.npy').shape == (8, 8)

    renders.clear()
    result = invoke_ok(manipulate, [path, tmp_path / 'dirs' / 'eyes' / 'pooled_resefa.npy', '--nums', 1,
                                    '--step', 3, '--region', 'eyes', '--save_dir', tmp_path / 'edit',
                                    '--vis_size', 16])
    assert 'Share of pixel change inside region eyes' in result.output
    (wp, original), (_, edits) = renders
    plain = load_generator(path)
    assert max_abs_diff(edits, edited_images(plain, wp, pooled[0], [4, 5, 6, 7], [-10, 0, 10])) <= TOL
    assert max_abs_diff(edits[1], original[0]) <= TOL


@pytest.mark.parametrize('data_name', ['afhq', 'ffhq'])
def test_published_eyes_r_direction_applies(data_name, tmp_path, monkeypatch, renders):
    """The published StyleGAN3-R `eyes-r.npy` ([1, 512]) on a tiny StyleGAN3-R with w_dim=512."""
    direction_path = PUBLISHED / 'resefa-directions' / data_name / 'stylegan3' / 'eyes-r.npy'
    if not direction_path.is_file():
        pytest.skip(f'{direction_path} not found (../shared/published is absent)')
    model = write_tiny_sg3(tmp_path / 'sg3r-w512.pkl', 'R', w_dim=512, seed=5)
    monkeypatch.chdir(tmp_path)
    result = invoke_ok(manipulate, [model, direction_path, '--stylegan3', '--cfg', 'R', '--data_name', data_name,
                                    '--nums', 2, '--step', 3, '--vis_size', 16])
    page = printed(result, 'HTML page')
    assert page.parts[:3] == ('work_dirs', 'manipulations', data_name)
    assert page.parent.name == f'seed_4_num_2_{data_name}_stylegan3_eyes-r_layers_4-7'
    html = page.read_text()
    assert html.count('data:image/jpeg') == 2 * (1 + 3)
    assert 'Layers: 4-7' in html
    direction = np.load(direction_path)
    assert direction.shape == (1, 512)
    G = load_generator(model)
    for sample in range(2):
        (wp, original), (_, edits) = renders[2 * sample: 2 * sample + 2]
        expected = edited_images(G, wp, direction[0], [4, 5, 6, 7], [-10, 0, 10])
        assert max_abs_diff(edits, expected) <= TOL
        assert max_abs_diff(edits[0], original[0]) > 1e-3  # the edit moves the image


# ----------------------------------------------------------------------------
# Contradicting flags.

@pytest.mark.parametrize('case,cfg', [
    ('hammer_sg3r_r32', 'T'),
    ('nvlabs_sg3r_r32', 'T'),
    ('hammer_sg3t_r32', 'R'),
    ('nvlabs_sg3t_r32', 'R'),
])
def test_sg3_wrong_cfg_one_line_error(case, cfg, sg3_golden, tmp_path):
    g = sg3_golden(case)
    for command, extra in ((synthesis, []), (compute_jacobian, [])):
        result = invoke(command, [g.path, '--stylegan3', '--cfg', cfg, '--nums', 1, '--save_dir', tmp_path] + extra)
        assert_one_line_error(result, '--cfg')
    assert not list(tmp_path.rglob('*.npy'))


@pytest.mark.parametrize('case', [
    'hammer_sg3t_r32',
    'nvlabs_sg3t_r32',
])
def test_sg3_wrong_img_size_one_line_error(case, sg3_golden, tmp_path):
    g = sg3_golden(case)
    result = invoke(synthesis, [g.path, '--img_size', 64, '--nums', 1, '--save_dir', tmp_path])
    assert_one_line_error(result, '--img_size')


def test_transform_on_stylegan2_one_line_error(tmp_path):
    model = golden_case('hammer_sg2_r32') / 'hammer_checkpoint.pth'
    np.save(tmp_path / 'd.npy', np.ones((1, 32), np.float32) / np.sqrt(32))
    for command, extra in ((synthesis, []), (compute_jacobian, []), (manipulate, [tmp_path / 'd.npy'])):
        result = invoke(command, [model, *extra, '--tx', 0.25, '--nums', 1, '--save_dir', tmp_path / 'out'])
        assert_one_line_error(result, '--tx', 'StyleGAN3')
    assert not (tmp_path / 'out').exists()


# ----------------------------------------------------------------------------
# BigGAN.

@pytest.mark.parametrize('truncation', [1.0, 0.4])
def test_biggan_synthesis_class_index_equals_golden(truncation, biggan, renders, tmp_path):
    """Sample 0 of seed 412 with --class 3 is the official `BigGAN(z_t, one_hot(3), t)`."""
    hf, inputs, outputs = biggan
    assert inputs['class_vector'][0].argmax().item() == 3 and inputs['class_vector'][0].max().item() == 1
    tag = f't{truncation:g}'
    result = invoke_ok(synthesis, [hf, '--class', 3, '--seed', 412, '--nums', 2, '--trunc_psi', truncation,
                                   '--save_dir', tmp_path, '--vis_size', 16])
    folder = printed(result, 'HTML page').parent
    assert folder.name == 'seed_412_num_2_class_3'
    codes = np.load(folder / 'latent_codes.npy')
    assert codes.shape == (2, 7, 64)
    assert max_abs_diff(codes[0], outputs[f'cond_vector_{tag}'][0].expand(7, -1)) <= TOL
    assert max_abs_diff(renders[0][1][0], outputs[f'img_{tag}'][0]) <= TOL


def test_biggan_synthesis_class_name(biggan, renders, tmp_path):
    hf, _, outputs = biggan
    invoke_ok(synthesis, [hf, '--class', 'tiger shark', '--seed', 412, '--nums', 2, '--trunc_psi', 1,
                          '--save_dir', tmp_path, '--vis_size', 16])
    assert max_abs_diff(renders[0][1][0], outputs['img_t1'][0]) <= TOL


@pytest.mark.parametrize('spec,fragments', [
    ('tigr shark', ['tigr shark', 'tiger shark']),
    ('golden retriever', ['golden retriever', 'out of range']),
    ('10', ['out of range']),
])
def test_biggan_bad_class_one_line_error(spec, fragments, biggan, tmp_path):
    hf, _, _ = biggan
    result = invoke(synthesis, [hf, '--class', spec, '--nums', 1, '--save_dir', tmp_path])
    assert_one_line_error(result, *fragments)


def test_biggan_needs_class(biggan, tmp_path):
    hf, _, _ = biggan
    assert_one_line_error(invoke(synthesis, [hf, '--nums', 1, '--save_dir', tmp_path]), '--class')


def test_biggan_jacobian_directions_manipulate(biggan, renders, tmp_path):
    """Jacobian w.r.t. w = cat(z, embed(c)) with the class fixed; `biggan` boxes; editing on all 7 ws rows."""
    hf, _, _ = biggan
    invoke_ok(compute_jacobian, [hf, '--class', 3, '--nums', 2, '--data_name', 'biggan',
                                 '--save_dir', tmp_path / 'jac'])
    jacobians = np.load(tmp_path / 'jac' / 'jacobians_w.npy')
    w = np.load(tmp_path / 'jac' / 'latent_codes.npy')
    assert jacobians.shape == (2, 3, 32, 32, 1, 64) and w.shape == (2, 64)
    G = load_generator(hf)
    one_hot = torch.zeros(2, G.c_dim)
    one_hot[:, 3] = 1
    with torch.no_grad():
        expected_w = G.mapping(truncated_noise(2, G.z_dim, 1.0, 4), one_hot)[:, 0]
    assert max_abs_diff(w, expected_w) <= 1e-6
    assert np.array_equal(w[0, 32:], w[1, 32:])  # the class part is the same for every sample
    check_against_reverse_mode(G, jacobians[0], w[0], {'truncation_psi': 1.0})

    invoke_ok(compute_directions, [tmp_path / 'jac' / 'jacobians_w.npy', '--data_name', 'biggan', '--region',
                                   'center0', '--full_rank', '--save_dir', tmp_path / 'dirs'])
    pooled = np.load(tmp_path / 'dirs' / 'center0' / 'pooled_resefa.npy')
    meta = json.loads((tmp_path / 'dirs' / 'center0' / 'pooled_resefa.json').read_text())
    assert pooled.shape == (64, 64) and np.allclose(np.linalg.norm(pooled, axis=1), 1, atol=1e-5)
    assert meta['region'] == 'center0' and meta['region_pixels'] == 10 * 10  # (120, 120, 80, 80) at 32 px

    renders.clear()
    result = invoke_ok(manipulate, [hf, tmp_path / 'dirs' / 'center0' / 'pooled_resefa.npy', '--class', 3,
                                    '--nums', 1, '--step', 2, '--data_name', 'biggan', '--region', 'center0',
                                    '--save_dir', tmp_path / 'edit', '--vis_size', 16])
    html = printed(result, 'HTML page').read_text()
    assert 'Layers: 0-6 (all: the default 4-7 does not fit 7 ws)' in html
    assert 'Noise' not in html and 'Truncation: 0.7' in html and 'class 3' in html
    assert 'Share of pixel change inside region center0' in result.output
    (wp, original), (_, edits) = renders
    with torch.no_grad():
        expected_wp = G.mapping(truncated_noise(1, G.z_dim, 0.7, 4), one_hot[:1])
        assert max_abs_diff(original, G.synthesis(expected_wp, truncation_psi=0.7)) <= TOL
    assert max_abs_diff(wp, expected_wp) <= 1e-6
    expected = edited_images(G, wp, pooled[0], list(range(7)), [-10, 10], truncation_psi=0.7)
    assert max_abs_diff(edits, expected) <= TOL


def test_biggan_sefa(biggan, tmp_path):
    """sefa.py on BigGAN: directions live on the z half of w (the class embedding half is zero)."""
    hf, _, _ = biggan
    result = invoke_ok(sefa, [hf, '--class', 3, '-L', 'all', '-N', 1, '-K', 2, '--step', 2, '--viz_size', 16,
                              '--save_dir', tmp_path])
    directions = np.load(printed(result, 'Directions'))
    assert directions.shape == (2, 64)
    assert np.abs(directions[:, 32:]).max() == 0
    assert np.allclose(np.linalg.norm(directions, axis=1), 1, atol=1e-5)
    G = load_generator(hf)
    a = G.synthesis.fc.weight.T[:32].numpy().astype(np.float64)  # [z_dim, out]: the rows that read z
    a /= np.linalg.norm(a, axis=0, keepdims=True)
    values, vectors = np.linalg.eigh(a @ a.T)
    assert sign_aligned_error(directions[:, :32].astype(np.float64), vectors[:, ::-1][:, :2].T) <= TOL
