"""The procedural faces of the demo generator: determinism, ranges, the z rule and locality of the factors."""

import numpy as np
import pytest
from scipy import ndimage

from demo import faces
from semantics import regions

GLOBAL = {'face_width', 'jaw', 'skin', 'hair_colour', 'hair_style', 'hair_volume', 'background', 'roll', 'shift'}
LOCAL = [factor for factor in faces.FACTORS if factor.region != 'global']
FFHQ_BOX = {'eyes': 'eyes', 'nose': 'nose', 'mouth': 'mouth'}   # factor region -> ReSeFa FFHQ box
BORDER = 1          # anti-aliasing tolerance, pixels around a region
FFHQ_SHARE = 0.9    # least share of the absolute pixel change inside the FFHQ box


def _base_faces():
    """A few random faces with the head pose at its extremes, where the parts come nearest the box edges."""
    rng = np.random.RandomState(7)
    bases = []
    for roll, shift, glasses in [(-3.0, -3.0, True), (3.0, 3.0, False), (3.0, -3.0, True)]:
        bases.append({**faces.sample_factors(rng), 'roll': roll, 'shift': shift, 'glasses': glasses})
    return bases


def _extremes(factor):
    """Two values of a factor as far apart as it allows (the middle for a cyclic hue)."""
    if factor.kind == 'discrete':
        return factor.choices[0], factor.choices[-1]
    if factor.name in ('iris_hue', 'background'):
        return factor.low, (factor.low + factor.high) / 2
    return factor.low, factor.high


def test_render_is_deterministic():
    factors = faces.sample_factors(np.random.RandomState(0))
    first = faces.render(factors, 256)
    assert first.dtype == np.uint8 and first.shape == (256, 256, 3)
    assert faces.render(dict(factors), 256).tobytes() == first.tobytes()
    z = np.random.RandomState(1).randn(3, faces.Z_DIM)
    batch = faces.render_batch(z, 64)
    assert batch.dtype == np.uint8 and batch.shape == (3, 64, 64, 3)
    assert faces.render_batch(z, 64).tobytes() == batch.tobytes()
    for row, image in zip(z, batch):
        assert np.array_equal(faces.render(faces.factors_from_z(row), 64), image)


def test_factors_stay_in_range():
    rng = np.random.RandomState(0)
    z = rng.randn(302, faces.Z_DIM)
    z[-2:, :faces.NUM_FACTORS] = [[-40.0], [40.0]]
    samples = [faces.sample_factors(rng) for _ in range(300)] + [faces.factors_from_z(row) for row in z]
    for factor in faces.FACTORS:
        values = [sample[factor.name] for sample in samples]
        if factor.kind == 'discrete':
            assert set(values) == set(factor.choices), factor.name
        else:
            assert min(values) >= factor.low and max(values) <= factor.high, factor.name
            assert max(values) - min(values) > 0.9 * (factor.high - factor.low), factor.name
    faces.check_factors(faces.DEFAULT_FACTORS)


def test_factors_from_z_reads_its_own_coordinates():
    rng = np.random.RandomState(3)
    z = rng.randn(faces.Z_DIM)
    base = faces.factors_from_z(z)
    assert np.allclose(faces.positions(3.7 * z), faces.positions(z), rtol=0, atol=1e-12)  # as the mapping normalises
    for i, factor in enumerate(faces.FACTORS):
        for value in (-2.5, 2.5):       # far apart in every factor's quantiles
            moved = z.copy()
            moved[i] = value
            changed = {name for name, v in faces.factors_from_z(moved).items() if v != base[name]}
            assert changed <= {factor.name}, (i, changed)
        ends = [faces.factors_from_z(np.where(np.arange(z.size) == i, v, z))[factor.name] for v in (-2.5, 2.5)]
        assert ends[0] != ends[1], factor.name
    # z[i] = 0 is the middle of every continuous range.
    middle = faces.factors_from_z(np.concatenate([np.zeros(faces.NUM_FACTORS), z[faces.NUM_FACTORS:]]))
    for factor in faces.FACTORS:
        if factor.kind != 'discrete':
            assert abs(middle[factor.name] - (factor.low + factor.high) / 2) <= 1e-12


def test_positions_are_uniform():
    u = faces.positions(np.random.RandomState(4).randn(4000, faces.Z_DIM))    # [4000, NUM_FACTORS]
    assert u.shape == (4000, faces.NUM_FACTORS) and 0 < u.min() and u.max() < 1
    grid = np.linspace(0, 1, 21)
    empirical = (u[:, :, None] <= grid).mean(axis=0)                          # [NUM_FACTORS, 21]
    assert np.abs(empirical - grid).max() < 0.03


@pytest.mark.parametrize('region', ['eyes', 'nose', 'mouth'])
def test_a_step_of_one_coordinate_stays_in_its_box(region):
    """At the model's 64x64, a step of 0.5 of a local factor's own coordinate keeps >= 95% of the change in its box."""
    z = np.random.RandomState(77).randn(32, faces.Z_DIM)
    box = regions.region_mask('ffhq', region, 64)
    before = faces.render_batch(z, 64).astype(np.int64)
    for i, factor in enumerate(faces.FACTORS):
        if factor.region != region:
            continue
        moved = z.copy()
        moved[:, i] += 0.5
        change = np.abs(faces.render_batch(moved, 64) - before).sum(axis=-1)    # [32, 64, 64]
        assert change[:, box].sum() >= 0.95 * change.sum() > 0, factor.name


def test_regions_and_documented_globals():
    assert {factor.name for factor in faces.FACTORS if factor.region == 'global'} == GLOBAL
    assert len({factor.name for factor in faces.FACTORS}) == len(faces.FACTORS) == faces.NUM_FACTORS
    for name, mask in faces.REGIONS.items():
        assert mask.dtype == bool and mask.shape == (256, 256) and mask.any(), name
    for factor in faces.FACTORS:
        assert factor.region in faces.REGIONS, factor.name
        assert factor.description, factor.name
    for region in FFHQ_BOX:
        assert np.array_equal(faces.REGIONS[region] & regions.region_mask('ffhq', region, 256),
                              faces.REGIONS[region]), region
    small = faces.region_mask('eyes', 64)
    assert small.shape == (64, 64) and small[28:33, 19:29].all() and not small[:27].any()


@pytest.mark.parametrize('factor', LOCAL, ids=[factor.name for factor in LOCAL])
def test_local_factor_changes_only_its_region(factor):
    region = ndimage.binary_dilation(faces.REGIONS[factor.region], np.ones([3, 3], bool), iterations=BORDER)
    ffhq = regions.region_mask('ffhq', FFHQ_BOX[factor.region], 256) if factor.region in FFHQ_BOX else None
    low, high = _extremes(factor)
    for base in _base_faces():
        if factor.name == 'glasses_colour':
            base['glasses'] = True
        change = np.abs(faces.render({**base, factor.name: low}, 256).astype(np.int64)
                        - faces.render({**base, factor.name: high}, 256)).sum(axis=-1)   # [256, 256]
        assert change.sum() > 0, f'{factor.name} changed nothing'
        rows, cols = np.nonzero(change * ~region)
        assert rows.size == 0, (f'{factor.name} changed {rows.size} pixels outside region {factor.region!r}, '
                                f'rows {rows.min()}-{rows.max()}, columns {cols.min()}-{cols.max()}')
        if ffhq is not None:
            share = change[ffhq].sum() / change.sum()
            assert share >= FFHQ_SHARE, f'{factor.name}: {share:.3f} of the change inside the FFHQ box'


def test_local_change_at_64_stays_in_scaled_region():
    base = _base_faces()[0]
    for factor in LOCAL:
        low, high = _extremes(factor)
        change = np.abs(faces.render({**base, factor.name: low}, 64).astype(np.int64)
                        - faces.render({**base, factor.name: high}, 64)).sum(axis=-1)
        assert not np.any(change * ~faces.region_mask(factor.region, 64)), factor.name


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="unknown factor 'smiel'.*'smile'"):
        faces.render({**faces.DEFAULT_FACTORS, 'smiel': 0.5})
    missing = dict(faces.DEFAULT_FACTORS)
    del missing['gaze']
    with pytest.raises(ValueError, match='miss gaze'):
        faces.render(missing)
    with pytest.raises(ValueError, match=r'smile = 2.0 is out of its range'):
        faces.render({**faces.DEFAULT_FACTORS, 'smile': 2.0})
    with pytest.raises(ValueError, match='hair_style'):
        faces.render({**faces.DEFAULT_FACTORS, 'hair_style': 'mohawk'})

