"""ReSeFa regions and directions against the golden outputs of the reference scripts."""

import json

import click
import numpy as np
import pytest
from PIL import Image

from cli import inputs, options
from utils.indices import IndexList
from semantics import regions, resefa
from tests.conftest import golden_case, max_abs_diff

TOL = 1e-4
CASE = 'resefa_sg2_r32'
REGIONS = ['eyes', 'mouth']
# Without --full_rank the reference solves inv(M_b) M_f with float32 LAPACK; its
# trailing eigenvectors carry float32 noise of up to a few 1e-3 (running the
# reference itself on another machine moves them that much). The leading ones
# are well conditioned and must match to TOL; all must be eigenvectors of our
# matrices up to float32 backward error.
LEADING = 8
BACKWARD_TOL = 1e-5


@pytest.fixture(scope='module')
def case():
    path = golden_case(CASE)
    meta = json.loads((path / 'meta.json').read_text())
    return dict(path=path, meta=meta, jacobians=inputs.read_jacobians(path / 'jacobians_w.npy')[0],
                npz=dict(np.load(path / 'resefa_directions.npz')))


def _align_signs(ours, ref):
    """Flip each row of `ours` to the sign of the matching row of `ref`."""
    signs = np.where(np.sum(ours * ref, axis=1) < 0, -1.0, 1.0)
    return ours * signs[:, None]


def _script_output(case, region, full_rank, index):
    name = f'image_{index:02d}_region_{region}_name_resefa_fr{int(full_rank)}.npy'
    return np.load(case['path'] / 'script_outputs' / name)


def _regularised(gram_b, full_rank, tao=resefa.DEFAULT_TAO):
    gram_b = gram_b.astype(np.float64)
    if full_rank:
        gram_b = gram_b + tao * np.trace(gram_b) * np.identity(gram_b.shape[0])
    return gram_b


# ----------------------------------------------------------------------------- regions

@pytest.mark.parametrize('region', REGIONS)
def test_masks_match_golden(case, region):
    boxes = case['meta']['compute_direction']['boxes']
    assert list(regions.scale_box(regions.named_box('ffhq', region), 32)) == boxes[region]
    mask = regions.region_mask('ffhq', region, 32)
    assert mask.dtype == bool and mask.shape == (32, 32)
    assert np.array_equal(mask, case['npz'][f'{region}_mask'] == 1)


def test_named_boxes_at_256_use_reference_coordinates():
    # eyes = [120, 128, 20, 115]: rows 110..129, columns 71..185.
    mask = regions.region_mask('ffhq', 'eyes', 256)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (110, 129, 71, 185)
    assert mask.sum() == 20 * 115
    left = regions.region_mask('biggan', 'left_side', 256)
    assert left[:, :128].all() and not left[:, 128:].any()
    for data_name in regions.dataset_names():
        for name in regions.region_names(data_name):
            assert regions.region_mask(data_name, name, 256).sum() == np.prod(regions.named_box(data_name, name)[2:])


def test_unknown_names_raise():
    with pytest.raises(ValueError, match=r"unknown dataset 'ffhqq'.*did you mean 'ffhq'"):
        regions.region_mask('ffhqq', 'eyes', 32)
    with pytest.raises(ValueError, match=r"unknown region .*'eye'.*choose from .*eyes.*did you mean"):
        regions.region_mask('ffhq', 'eye', 32)
    assert regions.region_names('faces64') == regions.region_names('ffhq')  # the built-in model's faces


def test_bad_boxes_raise():
    with pytest.raises(ValueError, match='outside the 32x32 image'):
        regions.box_mask((120, 95, 20, 38), 32)  # a 256-grid box on a 32 grid
    with pytest.raises(ValueError, match='outside'):
        regions.box_mask((1, 16, 6, 4), 32)  # reaches above row 0
    with pytest.raises(ValueError, match='covers the whole'):
        regions.check_mask(regions.box_mask((16, 16, 32, 32), 32))
    with pytest.raises(ValueError, match='empty'):
        regions.check_mask(np.zeros([8, 8], dtype=bool))


@pytest.mark.parametrize('text', ['1,2,3', 'a,b,c,d', '1.5,2,3,4', '-1,2,3,4', '4,4,0,3', '300,300,10,10',
                                  '128,128,256,256'])
def test_box_option_refuses(text):
    with pytest.raises(click.BadParameter):
        options.Box().convert(text, None, None)


@pytest.mark.parametrize('box, size, rows', [((254, 128, 4, 64), 16, (15, 15)), ((254, 128, 4, 64), 64, (63, 63)),
                                              ((248, 128, 16, 64), 64, (60, 63)), ((2, 128, 4, 64), 64, (1, 1)),
                                              ((254, 128, 4, 64), 256, (252, 255))])
def test_a_box_at_the_edge_of_the_256_grid_stays_at_the_edge_when_scaled(box, size, rows):
    opts = {'box': options.Box().convert(','.join(map(str, box)), None, None), 'data_name': 'ffhq'}
    name, mask = inputs.region_from_options(opts, size)
    found = np.flatnonzero(mask.any(axis=1))
    assert name == 'box_' + '_'.join(map(str, box)) and (found[0], found[-1]) == rows
    assert mask.sum() == (rows[1] - rows[0] + 1) * max(1, int(np.floor(64 * size / 256 + 0.5)))
    with pytest.raises(click.BadParameter, match='outside the 256x256 image'):
        options.Box().convert('255,128,4,64', None, None)


def test_box_and_labels_options():
    box = options.Box().convert(' 15, 16,3,14 ', None, None)
    assert box == (15, 16, 3, 14)
    assert np.array_equal(regions.box_mask(box, 32), regions.region_mask('ffhq', 'eyes', 32))
    assert IndexList(allow_all=False).convert('1, 4-6,9', None, None) == [1, 4, 5, 6, 9]
    for bad in ('', 'x', '5-2', '1-2-3', 'all'):
        with pytest.raises(click.BadParameter):
            IndexList(allow_all=False).convert(bad, None, None)


def test_mask_from_file(tmp_path):
    seg = np.zeros([64, 64], dtype=np.uint8)
    seg[10:20, 30:50] = 3
    seg[40:44, 0:8] = 5
    np.save(tmp_path / 'seg.npy', seg)
    Image.fromarray(seg, mode='L').save(tmp_path / 'seg.png')
    expected = np.isin(seg, [3, 5])[::2, ::2]  # nearest: pixel i <- floor(2 i)

    def region(name, labels, size):
        return inputs.region_from_options({'mask_path': tmp_path / name, 'labels': labels, 'data_name': 'ffhq'},
                                          size)

    for name in ('seg.npy', 'seg.png'):
        label, mask = region(name, [3, 5], 32)
        assert mask.dtype == bool and np.array_equal(mask, expected) and label.endswith('_labels_3,5')
    assert np.array_equal(region('seg.npy', [3], 64)[1], seg == 3)
    Image.fromarray(np.stack([seg] * 3, -1), mode='RGB').save(tmp_path / 'rgb.png')
    for name, labels, words in (('seg.npy', [7], 'empty'), ('seg.npy', [0, 1, 2, 3, 4, 5], 'whole'),
                                ('rgb.png', [3], 'rgb.png'), ('seg.jpg', [3], 'seg.jpg')):
        with pytest.raises(click.BadParameter, match=words):
            region(name, labels, 32)


# ----------------------------------------------------------------------------- directions

def test_gram_matrices_follow_reference_arithmetic(case):
    jacobian = case['jacobians'][0]  # [3, H, W, 1, w_dim]
    mask = regions.region_mask('ffhq', 'eyes', 32)
    gram_f, gram_b, n_f, n_b = resefa.gram_matrices(jacobian, mask)
    assert (n_f, n_b) == (3 * 42, 3 * (32 * 32 - 42))
    fore, back = np.where(mask), np.where(~mask)
    jac_f = jacobian[:, fore[0], fore[1], 0].reshape(-1, 32)
    jac_b = jacobian[:, back[0], back[1], 0].reshape(-1, 32)
    assert gram_f.dtype == np.float32
    assert np.array_equal(gram_f, (1 / jac_f.shape[0]) * jac_f.T.dot(jac_f))
    assert np.array_equal(gram_b, (1 / jac_b.shape[0]) * jac_b.T.dot(jac_b))
    # Channel-summed layout [H, W, 1, w_dim]: one row per pixel.
    summed = jacobian.sum(axis=0)
    gram_f, _, n_f, n_b = resefa.gram_matrices(summed, mask)
    rows = summed[fore[0], fore[1], 0]
    assert (n_f, n_b) == (42, 32 * 32 - 42)
    assert np.array_equal(gram_f, (1 / 42) * rows.T.dot(rows))


def test_golden_npz_matches_script_outputs(case):
    for region in REGIONS:
        for full_rank in (False, True):
            for index in range(2):
                stored = case['npz'][f'{region}_fr{int(full_rank)}_directions'][index]
                assert np.array_equal(stored, _script_output(case, region, full_rank, index))


@pytest.mark.parametrize('region', REGIONS)
@pytest.mark.parametrize('index', [0, 1])
def test_full_rank_directions_match_golden(case, region, index):
    directions, eigenvalues = resefa.directions_for_sample(
        case['jacobians'][index], regions.region_mask('ffhq', region, 32), full_rank=True, tao=0.001)
    ref = _script_output(case, region, True, index)
    ref_values = case['npz'][f'{region}_fr1_eigvals_sorted'][index]
    assert directions.shape == ref.shape == (32, 32)
    assert np.allclose(np.linalg.norm(directions, axis=1), 1, atol=1e-12)
    assert max_abs_diff(_align_signs(directions, ref), ref) <= TOL
    assert np.max(np.abs(eigenvalues - ref_values) / np.abs(ref_values)) <= TOL


@pytest.mark.parametrize('region', REGIONS)
@pytest.mark.parametrize('index', [0, 1])
def test_directions_without_full_rank_match_golden(case, region, index):
    jacobian = case['jacobians'][index]
    mask = regions.region_mask('ffhq', region, 32)
    directions, eigenvalues = resefa.directions_for_sample(jacobian, mask, full_rank=False)
    ref = _script_output(case, region, False, index).astype(np.float64)
    ref_values = case['npz'][f'{region}_fr0_eigvals_sorted'][index].astype(np.float64)
    aligned = _align_signs(directions, ref)
    assert max_abs_diff(aligned[:LEADING], ref[:LEADING]) <= TOL
    assert max_abs_diff(eigenvalues, ref_values) <= TOL
    assert np.max(np.abs(eigenvalues[:LEADING] - ref_values[:LEADING]) / ref_values[:LEADING]) <= TOL
    # Every reference row is an eigenvector of our problem, to float32 backward error.
    gram_f, gram_b, _, _ = resefa.gram_matrices(jacobian, mask)
    lhs, rhs = gram_f.astype(np.float64), gram_b.astype(np.float64)
    quotient = np.einsum('ki,ij,kj->k', ref, lhs, ref) / np.einsum('ki,ij,kj->k', ref, rhs, ref)
    residual = np.linalg.norm(ref @ lhs - quotient[:, None] * (ref @ rhs), axis=1)
    backward = residual / (np.linalg.norm(lhs, 2) + quotient * np.linalg.norm(rhs, 2))
    assert backward.max() <= BACKWARD_TOL
    assert np.max(np.abs(quotient - eigenvalues) / eigenvalues) <= 1e-2


@pytest.mark.parametrize('full_rank', [False, True])
def test_solver_equals_reference_algorithm_in_float64(case, full_rank):
    """eigh(M_f, B) gives the eigenvectors of inv(B) M_f, as np.linalg.eig does."""
    for region in REGIONS:
        mask = regions.region_mask('ffhq', region, 32)
        for jacobian in case['jacobians']:
            gram_f, gram_b, _, _ = resefa.gram_matrices(jacobian, mask)
            directions, eigenvalues = resefa.solve_directions(gram_f, gram_b, full_rank=full_rank)
            rhs = _regularised(gram_b, full_rank)
            values, vectors = np.linalg.eig(np.linalg.inv(rhs).dot(gram_f.astype(np.float64)))
            order = np.argsort(-values.real)
            ref = vectors.real.T[order]
            assert np.abs(values.imag).max() == 0
            assert max_abs_diff(_align_signs(directions, ref), ref) <= 1e-8
            assert np.max(np.abs(eigenvalues - values.real[order]) / values.real[order]) <= 1e-10


def test_sign_convention_is_deterministic(case):
    mask = regions.region_mask('ffhq', 'eyes', 32)
    directions, _ = resefa.directions_for_sample(case['jacobians'][0], mask, full_rank=True)
    peaks = directions[np.arange(32), np.argmax(np.abs(directions), axis=1)]
    assert (peaks > 0).all()


@pytest.mark.parametrize('full_rank', [False, True])
def test_pooled_directions_equal_directions_of_summed_matrices(case, full_rank):
    mask = regions.region_mask('ffhq', 'eyes', 32)
    grams = [resefa.gram_matrices(j, mask) for j in case['jacobians']]
    pooled, pooled_values = resefa.pooled_directions(grams, full_rank=full_rank)
    sum_f = sum(g[0].astype(np.float64) for g in grams)
    sum_b = sum(g[1].astype(np.float64) for g in grams)
    direct, direct_values = resefa.solve_directions(sum_f, sum_b, full_rank=full_rank)
    assert max_abs_diff(pooled, direct) <= 1e-12
    assert max_abs_diff(pooled_values, direct_values) <= 1e-12
    # The mean gives the same directions and eigenvalues as the sum.
    mean, mean_values = resefa.solve_directions(sum_f / 2, sum_b / 2, full_rank=full_rank)
    assert max_abs_diff(mean, direct) <= 1e-8
    assert np.max(np.abs(mean_values - direct_values) / direct_values) <= 1e-10


@pytest.mark.parametrize('summed', [False, True])
def test_gram_sums_equal_the_summed_matrices(case, tmp_path, summed):
    jacobians = case['jacobians'].astype(np.float64)  # [N, 3, H, W, 1, w_dim]
    if summed:
        jacobians = jacobians.sum(axis=1)  # [N, H, W, 1, w_dim]
    mask = regions.region_mask('ffhq', 'mouth', 32)
    sums = resefa.GramSums(mask, w_dim=32)
    sums.rows_at_once = 100  # exercise the blocked float64 products
    for jacobian in jacobians:
        sums.add(jacobian)
    grams = [resefa.gram_matrices(j, mask) for j in jacobians]
    sum_f, sum_b = (sum(g[i] for g in grams) for i in (0, 1))
    assert sums.num_samples == 2
    assert max_abs_diff(sums.sum_f, sum_f) <= 1e-12 * np.abs(sum_f).max()
    assert max_abs_diff(sums.sum_b, sum_b) <= 1e-12 * np.abs(sum_b).max()
    sums.save(tmp_path / 'gram.npz')  # the round trip through the file compute_jacobian.py writes
    restored = resefa.GramSums.load(tmp_path / 'gram.npz')
    assert restored.num_samples == 2 and np.array_equal(restored.sum_f, sums.sum_f)
    assert np.array_equal(restored.mask, mask)
    assert max_abs_diff(restored.solve(full_rank=True)[0], resefa.solve_directions(sum_f, sum_b, True)[0]) <= 1e-8


def test_singular_background_asks_for_full_rank():
    rng = np.random.RandomState(0)
    jacobian = rng.randn(8, 8, 1, 32).astype(np.float32)  # [H, W, 1, w_dim], 64 rows
    mask = np.ones([8, 8], dtype=bool)
    mask[0, :3] = False  # 3 background rows < w_dim: M_b has rank 3
    with pytest.raises(ValueError, match=r'M_b is singular \(numerical rank 3 of 32\).*--full_rank'):
        resefa.directions_for_sample(jacobian, mask, full_rank=False)
    directions, eigenvalues = resefa.directions_for_sample(jacobian, mask, full_rank=True)
    assert np.all(np.isfinite(directions)) and np.all(np.diff(eigenvalues) <= 0)


def test_read_jacobians_checks_layout(tmp_path, case):
    jacobians, sidecar = inputs.read_jacobians(case['path'] / 'jacobians_w.npy')
    assert jacobians.shape == (2, 3, 32, 32, 1, 32) and sidecar == {}
    np.save(tmp_path / 'summed.npy', np.zeros([2, 16, 16, 1, 8], dtype=np.float32))
    assert inputs.read_jacobians(tmp_path / 'summed.npy')[0].shape == (2, 16, 16, 1, 8)
    for name, array in (('flat.npy', np.zeros([2, 16, 16, 8], np.float32)),
                        ('wide.npy', np.zeros([2, 16, 8, 1, 8], np.float32)),
                        ('ints.npy', np.zeros([2, 16, 16, 1, 8], np.int32))):
        np.save(tmp_path / name, array)
        with pytest.raises(ValueError, match=name):
            inputs.read_jacobians(tmp_path / name)
