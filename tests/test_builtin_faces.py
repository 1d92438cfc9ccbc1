"""The shipped face model: it draws the renderer's faces, and the methods find their semantics.

These run on the weights in `models/builtin/faces64.pt` and the factor reader in
`demo/factor_reader.pt` (both shipped; nothing is trained here).
"""

import json
import os
import re
import shlex

import numpy as np
import pytest
import torch

import compute_directions
import compute_jacobian
import manipulate
import models
import sefa as sefa_script
from demo import checks, faces, train
from demo import factors as factor_reader
from models import builtin
from tests.clitools import assert_one_line_error, invoke, invoke_ok, printed
from tests.conftest import ROOT
from utils.images import from_uint8

SCRIPTS = {'sefa.py': sefa_script, 'compute_jacobian.py': compute_jacobian,
           'compute_directions.py': compute_directions, 'manipulate.py': manipulate}


@pytest.fixture(scope='module')
def generator():
    return models.load_generator('builtin:faces64')


@pytest.fixture(scope='module')
def jacobians(generator):
    return checks.sample_jacobians(generator, samples=6)


def test_shipped_file_is_small_and_describes_itself():
    path = os.path.join(builtin.FOLDER, builtin.TRAINED['faces64'])
    assert os.path.getsize(path) <= 5 * 1024 * 1024
    shipped = torch.load(path, map_location='cpu', weights_only=True)
    assert shipped['config'] == models.build_generator('stylegan2', **train.CONFIG).config.to_dict()
    assert all(v.dtype == torch.float16 for v in shipped['state_dict'].values() if v.is_floating_point())
    assert 'regression' in shipped['meta']['method']


def test_loads_with_its_format_and_hash(generator):
    G, weights_format, sha = builtin.load('faces64')
    assert weights_format == 'built-in trained weights (faces64.pt)'
    assert len(sha) == 64
    assert (generator.img_resolution, generator.z_dim, generator.w_dim) == (64, faces.Z_DIM, 128)


@torch.no_grad()
def _fit(generator):
    """Mean pixel error of 16 samples against the renderer's faces, and against another code's face."""
    z = np.random.RandomState(77).randn(16, faces.Z_DIM).astype(np.float32)
    fake = generator(torch.from_numpy(z), noise_mode='const')
    real = train.targets(z)
    return (fake - real).abs().mean().item(), (fake - real.roll(1, dims=0)).abs().mean().item()


def test_samples_are_their_own_faces(generator):
    error, shuffled = _fit(generator)
    assert error < 0.6 * shuffled, (error, shuffled)  # each sample is its own face, not an average face


@pytest.mark.xfail(strict=True, reason='the shipped model draws the faces softer than this (0.076 after 755 '
                                       'thousand faces on a CPU core; docs/builtin_faces64.md)')
def test_samples_are_the_renderers_faces(generator):
    error, _ = _fit(generator)
    assert error < 0.05, error                # within 2.5% of the range per pixel, on average


def test_factor_reader_reads_the_renderers_faces():
    reader = factor_reader.load_reader()
    z = np.random.RandomState(5).randn(64, faces.Z_DIM).astype(np.float32)
    images = from_uint8(faces.render_batch(z, size=64))
    error = factor_reader.factor_change(torch.from_numpy(faces.positions(z)).float(),
                                        factor_reader.read_factors(reader, images)).mean(0).numpy()
    continuous = [i for i, f in enumerate(faces.FACTORS) if f.kind == 'continuous' and f.name not in ('roll', 'shift')]
    assert error[continuous].max() < 0.1, dict(zip(faces.FACTOR_NAMES, error.round(3)))


def test_change_in_measures_share_energy_and_concentration():
    mask = np.zeros([8, 8], dtype=bool)
    mask[2:4, 1:6] = True                                   # 10 of 64 pixels
    after = torch.where(torch.from_numpy(mask), 0.9, 0.02).expand(2, 3, 8, 8)
    change = checks.change_in(torch.zeros(2, 3, 8, 8), after, mask)
    assert change.share == pytest.approx(10 * 0.9 / (10 * 0.9 + 54 * 0.02), rel=1e-5)
    assert change.energy == pytest.approx(10 * 0.81 / (10 * 0.81 + 54 * 0.0004), rel=1e-5)
    assert change.concentration == pytest.approx(0.9 / 0.02, rel=1e-5)


def test_code_steps_compare_the_generator_with_the_renderer(generator):
    """A step of one factor's own z coordinate: the renderer keeps it in its box; the generator as its own truth."""
    eyes, mouth = checks.code_steps(generator, train.targets, ['eye_size', 'smile'], samples=8)
    assert (eyes.region, mouth.region) == ('eyes', 'mouth')
    for row in (eyes, mouth):
        assert row.renderer.energy >= 0.95 and row.renderer.share >= 0.95, row
        assert 0 < row.generator.share < 1 and row.response > 0, row

    def own_images(z):
        return generator(torch.from_numpy(z))

    same, = checks.code_steps(generator, own_images, ['eye_size'], samples=8)
    assert same.generator.energy == pytest.approx(same.renderer.energy, abs=1e-6)
    assert same.response == pytest.approx(1, abs=1e-5)


# The gates of the model card (docs/builtin_faces64.md), measured on fewer codes than the benchmark.
# A gate the shipped model does not meet stays an expected failure, so a model that meets it shows up.
LOCAL_FACTORS = ['eye_size', 'iris_hue', 'gaze', 'mouth_width', 'smile', 'mouth_open']
UNMET_CODE_GATES = {'eye_size', 'iris_hue', 'mouth_width', 'smile'}
UNMET_RESEFA_GATES = {'eyes', 'mouth'}


def _gate(param, unmet, reason):
    return pytest.param(param, marks=pytest.mark.xfail(strict=True, reason=reason) if param in unmet else ())


@pytest.mark.parametrize('factor', [_gate(f, UNMET_CODE_GATES, 'the generator does not follow this factor closely '
                                          'enough yet (docs/builtin_faces64.md)') for f in LOCAL_FACTORS])
def test_the_model_follows_its_local_factors(generator, factor):
    """Along a local factor's own code direction: at least half the renderer's change inside its box, and at
    least 80% of the generator's energy there."""
    row, = checks.code_steps(generator, train.targets, [factor], samples=16)
    assert row.response >= 0.5 and row.generator.energy >= 0.8, row


@pytest.mark.slow
@pytest.mark.parametrize('region', ['eyes', 'mouth'])
def test_resefa_finds_the_region(generator, jacobians, region):
    """The pooled direction, a step of 1.0 on every layer: >= 80% of its energy inside; each code's own direction
    >= 80% of its energy; the region's own factors carry >= 50% of the movement."""
    edit = checks.region_edits(generator, jacobians, region, factor_reader.load_reader(), samples=8)
    own = checks.own_directions(generator, jacobians, region)
    assert edit.resefa.energy >= 0.8, edit
    assert min(change.energy for change in own) >= 0.8, own
    assert edit.own_factors >= 0.5, edit


@pytest.mark.slow
@pytest.mark.parametrize('region', [_gate(r, UNMET_RESEFA_GATES, 'ReSeFa\'s edits of this region still move the '
                                          'rest of the face a little (docs/builtin_faces64.md)')
                                    for r in ('eyes', 'mouth')])
def test_resefa_edits_keep_half_their_change_inside(generator, jacobians, region):
    """The pooled direction, a step of 1.0 on every layer: >= 50% of its |change| inside the region."""
    edit = checks.region_edits(generator, jacobians, region, factor_reader.load_reader(), samples=8)
    assert edit.resefa.share >= 0.5, edit


@pytest.mark.parametrize('region', ['eyes', 'mouth', 'nose'])
def test_resefa_directions_beat_a_random_direction(generator, jacobians, region):
    """The region's pooled direction puts several times more of its energy inside than a random one."""
    edit = checks.region_edits(generator, jacobians, region, factor_reader.load_reader(), samples=4)
    assert edit.resefa.energy > 3 * edit.random.energy, edit
    assert edit.resefa.concentration > 2 * edit.random.concentration, edit


def test_sefa_directions_move_factors(generator):
    table = checks.sefa_factors(generator, factor_reader.load_reader(), count=5, samples=6)
    assert [row.index for row in table] == list(range(5))
    assert all(np.isfinite(row.change).all() for row in table)
    assert table[0].eigenvalue >= table[-1].eigenvalue
    # The strongest SeFa direction moves some factor by at least a tenth of its range.
    assert max(row.top(1)[0][1] for row in table) > 0.1


def test_the_first_face_model_is_kept():
    """`builtin:faces64-v1`, the model of the first rule (z of 20 coordinates), loads and draws its faces."""
    first = models.load_generator('builtin:faces64-v1')
    z = np.random.RandomState(77).randn(8, first.z_dim).astype(np.float32)
    with torch.no_grad():
        error = (first(torch.from_numpy(z)) - train.targets(z)).abs().mean().item()
    assert first.z_dim == faces.NUM_FACTORS and error < 0.05, error


def _readme_blocks():
    """The command blocks of the README's quick start: `[[argv, ...], ...]` (`./run` dropped)."""
    readme = (ROOT / 'README.md').read_text()
    section = readme[readme.index('## Quick start'):readme.index('**On a GPU box**')]
    blocks = re.findall(r'```\n(.*?)```', section, flags=re.S)
    return [[shlex.split(line)[1:] for line in block.strip().splitlines()] for block in blocks]


@pytest.mark.slow
def test_readme_quick_start_runs_as_written(tmp_path, monkeypatch):
    """The quick start's first command, then ReSeFa's three steps, run from an empty folder as printed."""
    monkeypatch.chdir(tmp_path)
    (first, tests), steps = _readme_blocks()
    assert first == ['sefa.py', 'builtin:faces64'] and tests == ['tests']
    page = printed(invoke_ok(SCRIPTS[first[0]], first[1:]), 'HTML page')
    assert (tmp_path / page).is_file() and str(page.parent) in (ROOT / 'README.md').read_text()
    assert [step[0] for step in steps] == ['compute_jacobian.py', 'compute_directions.py', 'manipulate.py']
    for step, after in zip(steps, [*steps[1:], None]):
        result = invoke_ok(SCRIPTS[step[0]], step[1:])
        if after is not None:  # each step prints the next one (the README adds the options it chooses)
            assert f'Next: python {shlex.join(after[:2])}' in result.output, result.output
    share = re.search(r'Share of pixel change inside region eyes: mean ([0-9.]+)%', result.output)
    assert share and 0 < float(share.group(1)) <= 100, result.output
    assert printed(result, 'HTML page').is_file()


@pytest.mark.slow
def test_training_runs_resumes_and_exports(tmp_path):
    """`python -m demo.train` at a tiny size: sample grids, a resumable state, and the shipped format."""
    out = tmp_path / 'run'
    args = ['--out', out, '--kimg', 1, '--batch', 16, '--snapshot_kimg', 1, '--threads', 1]
    first = invoke_ok(train, args)
    assert 'Trained 1.0 kimg' in first.output
    assert (out / 'samples_00001.png').is_file() and (out / 'state.pt').is_file()
    losses = [json.loads(line)['loss'] for line in (out / 'log.jsonl').read_text().splitlines()]
    assert losses and all(np.isfinite(losses))
    shipped = torch.load(out / 'faces64.pt', map_location='cpu', weights_only=True)
    generator = models.load_generator(out / 'faces64.pt')  # every script reads the export as it is
    assert generator.checkpoint_format == 'toolkit export' and generator.img_resolution == 64
    assert shipped['meta']['kimg'] == 1 and shipped['meta']['batch'] == 16
    again = invoke_ok(train, args)  # the same command again resumes at the end and only exports
    assert 'Resuming at 1.0 kimg' in again.output
    assert torch.equal(torch.load(out / 'faces64.pt', weights_only=True)['state_dict']['synthesis.b4.const'],
                       shipped['state_dict']['synthesis.b4.const'])


@pytest.mark.slow
def test_training_batches_do_not_depend_on_the_workers():
    """Each step's faces are seeded by the step alone: drawn here or by worker processes, they are the same."""
    here, ahead = train.Batches(0, 3, 5, workers=0), train.Batches(0, 3, 5, workers=2)
    try:
        for _ in range(3):
            (z0, faces0), (z1, faces1) = here.get(), ahead.get()
            assert np.array_equal(z0, z1) and np.array_equal(faces0, faces1)
        assert faces0.dtype == np.uint8 and faces0.shape == (3, 64, 64, 3)
        assert np.array_equal(z0, train.batch_codes(0, 7, 3))
    finally:
        ahead.close()


@pytest.mark.slow
def test_training_continues_from_the_shipped_weights_within_a_time_limit(tmp_path):
    """`--init` starts from an export (the fit is already good), `--minutes` ends the run before `--kimg`."""
    out = tmp_path / 'run'
    shipped = ROOT / 'models' / 'builtin' / 'faces64.pt'
    result = invoke_ok(train, ['--out', out, '--init', shipped, '--kimg', 100, '--minutes', 0.05, '--batch', 4,
                               '--lr', 1e-5, '--threads', 1, '--workers', 1])
    meta = json.loads((out / 'meta.json').read_text())
    assert 0 < meta['images'] < 100_000 and meta['seconds'] <= 10 and meta['init'] == 'faces64.pt'
    assert f'Trained {meta["kimg"]:.1f} kimg' in result.output
    before = models.load_generator('builtin:faces64')
    exported = torch.load(out / 'faces64.pt', map_location='cpu', weights_only=True)['state_dict']
    for name, value in before.state_dict().items():
        if name != 'mapping.w_avg':
            assert torch.allclose(exported[name].float(), value, atol=2e-3), name


def test_training_rejects_bad_options(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('not weights')
    other = tmp_path / 'other.pt'
    tiny = models.build_generator('stylegan2', z_dim=8, w_dim=8, img_resolution=16, channel_max=16)
    torch.save({'family': 'stylegan2', 'config': tiny.config.to_dict(), 'state_dict': tiny.state_dict()}, other)
    partial = tmp_path / 'partial.pt'
    shipped = torch.load(ROOT / 'models' / 'builtin' / 'faces64.pt', map_location='cpu', weights_only=True)
    del shipped['state_dict']['synthesis.b4.const']
    torch.save(shipped, partial)
    for args, fragments in ((['--init', text], ['--init', 'notes.txt', 'not an exported face model']),
                            (['--init', other], ['--init', 'other.pt', 'another architecture']),
                            (['--init', partial], ['--init', 'partial.pt', 'synthesis.b4.const']),
                            (['--init', tmp_path / 'missing.pt'], ['--init', 'missing.pt']),
                            (['--minutes', 0], ['--minutes']),
                            (['--workers', -1], ['--workers'])):
        result = invoke(train, ['--out', tmp_path / 'run', *args])
        assert_one_line_error(result, *fragments)
        assert not (tmp_path / 'run').exists()


def test_training_rejects_a_bad_device(tmp_path):
    result = invoke(train, ['--out', tmp_path / 'run', '--device', 'bogus'])
    assert_one_line_error(result, '--device')
    assert not (tmp_path / 'run').exists()
