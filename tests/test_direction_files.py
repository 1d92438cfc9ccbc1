"""The readers of direction files and latent codes: what they accept, and the one line for what they refuse.

The published copies in ../shared/published/ stand in for the shipped files.
"""

import json
import os
import pickle
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

import directions
from directions.__main__ import main as cli
from cli.options import MAX_DISTANCE
from utils.fileio import sha256_of
from tests.test_directions_catalog import env, one_line, published_copy  # noqa: F401 (env is a fixture)

# ----------------------------------------------------------------------------
# Reading direction files.

def _npz(path):
    with open(path, 'wb') as file:  # np.savez would add .npz to the name.
        np.savez(file, directions=np.ones([1, 8], np.float32))


def _pickle(path):
    with open(path, 'wb') as file:
        pickle.dump(np.ones([1, 8], np.float32), file)


def _objects(path):
    np.save(path, np.array([np.ones(8), None], dtype=object), allow_pickle=True)


def _torch(path):
    import torch
    torch.save(torch.ones(1, 8), path)


def _sidecar(text):
    def write(path):
        np.save(path, np.eye(2, 8, dtype=np.float32))
        path.with_suffix('.json').write_text(text)
    return write


REFUSED = {  # name: (writer of the file, the key word of the one-line message, besides the file it names)
    'npz': (_npz, '.npz'),
    'pickle': (_pickle, 'pickle'),
    'objects': (_objects, 'Python objects'),
    'torch': (_torch, 'PyTorch'),
    'text': (lambda p: p.write_text('0.1 0.2'), '.npy'),
    'truncated': (lambda p: p.write_bytes(open(published_copy_of('eyesize'), 'rb').read()[:300]), 'truncated'),
    'int': (lambda p: np.save(p, np.ones([2, 8], np.int64)), 'int64'),
    'complex': (lambda p: np.save(p, np.ones([2, 8], np.complex64)), 'complex64'),
    '3d': (lambda p: np.save(p, np.ones([2, 3, 8], np.float32)), '[2, 3, 8]'),
    '4d': (lambda p: np.save(p, np.ones([1, 1, 1, 8], np.float32)), '[1, 1, 1, 8]'),
    'empty': (lambda p: np.save(p, np.ones([0, 8], np.float32)), 'no direction'),
    'nan': (lambda p: np.save(p, np.array([[1.0] * 7 + [np.nan]], np.float32)), 'NaN'),
    'inf': (lambda p: np.save(p, np.full([1, 8], 1e300)), 'infinite'),
    'zero_row': (lambda p: np.save(p, np.stack([np.ones(8), np.zeros(8)])), 'direction 1'),
    'width': (lambda p: np.save(p, np.ones([2, 7], np.float32)), 'w_dim=8'),
    'sidecar_json': (_sidecar('{"layers": [4,'), 'JSON'),
    'sidecar_list': (_sidecar('[1, 2]'), 'JSON object'),
    'sidecar_layers': (_sidecar('{"recommended_layers": "4-7"}'), 'recommended_layers'),
    'sidecar_negative': (_sidecar('{"layers": [-1]}'), 'layers'),
    'sidecar_distance': (_sidecar('{"distance_range": [1]}'), 'distance_range'),
    'sidecar_far': (_sidecar('{"distance_range": [-1e30, 1e30]}'), 'distance_range'),
    'sidecar_huge_int': (_sidecar(f'{{"distance_range": [-1{"0" * 400}, 1{"0" * 400}]}}'), 'distance_range'),
    'sidecar_nan': (_sidecar('{"distance_range": [NaN, 1]}'), 'distance_range'),
    'sidecar_nested': (_sidecar('{"a": ' + '[' * 100000 + ']' * 100000 + '}'), 'nested too deeply'),
    'sidecar_shape': (_sidecar('{"shape": [3, 8]}'), '[3, 8]'),
}


def published_copy_of(name):
    return published_copy(directions.load_catalog(user_catalog=os.devnull + '.none').lookup(name))


@pytest.mark.parametrize('case', sorted(REFUSED))
def test_read_direction_refuses(env, case):
    write, words = REFUSED[case]
    path = env / 'work' / f'{case}.npy'
    write(path)
    named = path.with_suffix('.json') if case.startswith('sidecar') else path
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction(path, w_dim=8)
    text = one_line(error)
    assert text.startswith(f'{named}: ') and words in text, text
    assert 'allow_pickle' not in text
    assert isinstance(error.value, ValueError)


ACCEPTED = {  # name: (array as saved, array as read)
    '1d': (np.arange(1, 9, dtype=np.float64), np.arange(1, 9, dtype=np.float32)[None]),
    'k_1_w': (np.ones([3, 1, 8], np.float16), np.ones([3, 8], np.float32)),
    'rows_as_stored': (np.full([2, 8], 3.0), np.full([2, 8], 3.0, np.float32)),
    'fortran': (np.asfortranarray(np.arange(16, dtype=np.float32).reshape(2, 8) + 1),
                np.arange(16, dtype=np.float32).reshape(2, 8) + 1),
}


@pytest.mark.parametrize('case', sorted(ACCEPTED))
def test_read_direction_accepts(env, case):
    stored, expected = ACCEPTED[case]
    path = env / 'work' / f'{case}.npy'
    np.save(path, stored)
    direction = directions.read_direction(path, w_dim=8)
    assert direction.array.dtype == np.float32 and direction.array.flags.c_contiguous
    np.testing.assert_array_equal(direction.array, expected)
    assert direction.path == str(path) and direction.sha256 == sha256_of(path)
    assert direction.entry is None and direction.sidecar is None
    assert direction.recommended_layers is None and direction.distance_range is None and direction.advice_from is None
    assert direction.label == f'{case}-{direction.sha256[:8]}'


def test_sidecar_advice_and_labels(env):
    rows = np.linalg.qr(np.random.RandomState(0).randn(8, 3))[0].T.astype(np.float32)  # [3, 8]
    first, second = env / 'work' / 'eyes', env / 'work' / 'mouth'
    for folder, data in ((first, rows), (second, -rows)):
        folder.mkdir()
        np.save(folder / 'pooled_resefa.npy', data)
    (first / 'pooled_resefa.json').write_text(json.dumps({
        'method': 'resefa', 'layers': [2, 3], 'region': 'eyes', 'shape': [3, 8], 'distance_range': [-4, 4]}))
    (second / 'pooled_resefa.json').write_text(json.dumps({
        'method': 'sefa', 'layers': [0, 1], 'recommended_layers': [1], 'region': 'box 1,2,3,4'}))
    one = directions.read_direction(first / 'pooled_resefa.npy')
    two = directions.read_direction(second / 'pooled_resefa.npy')
    np.testing.assert_array_equal(one.array, rows)
    assert one.recommended_layers == [2, 3] and one.distance_range == (-4.0, 4.0)
    assert one.advice_from == f'sidecar {first / "pooled_resefa.json"}' and one.sidecar['method'] == 'resefa'
    assert two.recommended_layers == [1] and two.distance_range is None
    assert one.label == f'pooled_resefa-eyes-{one.sha256[:8]}'
    assert two.label == f'pooled_resefa-box_1_2_3_4-{two.sha256[:8]}'
    assert one.sha256 != two.sha256 and one.label != two.label

    same = env / 'work' / 'same'  # Same stem, no sidecar: the SHA-256 still tells them apart.
    same.mkdir()
    np.save(same / 'pooled_resefa.npy', rows[:2])
    (first / 'pooled_resefa.json').unlink()
    labels = {directions.read_direction(path).label for path in (first / 'pooled_resefa.npy',
                                                                 same / 'pooled_resefa.npy')}
    assert len(labels) == 2 and all(re.fullmatch(r'pooled_resefa-[0-9a-f]{8}', label) for label in labels)


def test_catalog_advice_wins_over_the_sidecar(env):
    copy = env / 'work' / 'copy.npy'
    shutil.copy(published_copy_of('lipstick'), copy)
    copy.with_suffix('.json').write_text(json.dumps({'layers': [0, 1], 'distance_range': [-1, 1], 'region': 'x'}))
    direction = directions.read_direction(copy, w_dim=512)
    assert direction.entry.id == 'ffhq/stylegan2/lipstick' and direction.label == 'lipstick'
    assert direction.recommended_layers == [8, 9, 10, 11] and direction.distance_range == (-10.0, 10.0)
    assert direction.advice_from == 'catalog entry ffhq/stylegan2/lipstick'
    assert direction.sidecar == {'layers': [0, 1], 'distance_range': [-1, 1], 'region': 'x'}


def test_max_distance_is_the_command_line_bound():
    assert directions.catalog.advice_problem({'distance_range': [-MAX_DISTANCE, MAX_DISTANCE]}) is None
    assert 'distance_range' in directions.catalog.advice_problem({'distance_range': [0, MAX_DISTANCE * 1.5]})


def test_recommended_layers_beyond_the_model_name_where_they_came_from(env):
    npy = env / 'work' / 'd.npy'
    np.save(npy, np.eye(2, 8, dtype=np.float32))
    npy.with_suffix('.json').write_text('{"layers": [4, 6]}')
    assert directions.read_direction(npy, num_ws=7).recommended_layers == [4, 6]
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction(npy, num_ws=6)
    assert one_line(error).startswith(f'sidecar {npy.with_suffix(".json")}: ') and 'layer 6' in one_line(error)

    directions.add_local_entry('mine', npy, recommended_layers=[9], distance_range=[-2, 2])
    direction = directions.read_direction('mine', num_ws=10)
    assert direction.recommended_layers == [9] and direction.advice_from == 'catalog entry mine'
    with pytest.raises(directions.CatalogError) as error:
        directions.read_direction('mine', num_ws=6)
    assert one_line(error).startswith('catalog entry mine: ') and 'layer 9' in one_line(error)
    assert directions.read_direction(published_copy_of('eyesize'), num_ws=18).recommended_layers == [4, 5, 6, 7]


def test_published_directions_read_as_unit_rows(env):
    for entry in directions.load_catalog().select('direction'):
        direction = directions.read_direction(entry.id, w_dim=512)
        assert direction.array.dtype == np.float32 and direction.array.shape == (1, 512)
        assert abs(float(np.linalg.norm(direction.array[0])) - 1) <= 1e-6
        assert direction.recommended_layers == entry.recommended_layers and direction.sha256 == entry.sha256


# ----------------------------------------------------------------------------
# Reading latent codes.

LATENTS_REFUSED = {
    'npz': (_npz, '.npz'),
    'pickle': (_pickle, 'pickle'),
    'objects': (_objects, 'Python objects'),
    'int': (lambda p: np.save(p, np.ones([2, 8], np.int32)), 'int32'),
    '1d': (lambda p: np.save(p, np.ones(8, np.float32)), '[8]'),
    '4d': (lambda p: np.save(p, np.ones([1, 2, 3, 8], np.float32)), '[1, 2, 3, 8]'),
    'empty': (lambda p: np.save(p, np.ones([0, 8], np.float32)), 'no codes'),
    'nan': (lambda p: np.save(p, np.full([2, 8], np.nan)), 'NaN'),
}


@pytest.mark.parametrize('case', sorted(LATENTS_REFUSED))
def test_read_latents_refuses(env, case):
    write, words = LATENTS_REFUSED[case]
    path = env / 'work' / f'{case}.npy'
    write(path)
    with pytest.raises(directions.CatalogError) as error:
        directions.read_latents(path)
    text = one_line(error)
    assert text.startswith(f'{path}: ') and words in text and 'allow_pickle' not in text, text


def test_read_latents_by_name_and_path(env):
    for entry in directions.load_catalog().select('latents'):
        path, codes, found = directions.read_latents(entry.id)
        assert found == entry and codes.dtype == np.float32 and codes.shape == entry.shape
        np.testing.assert_array_equal(codes, np.load(published_copy(entry)))
    mine = env / 'work' / 'w.npy'
    np.save(mine, np.ones([4, 3, 8], np.float64))
    path, codes, entry = directions.read_latents(mine)
    assert path == str(mine) and codes.dtype == np.float32 and codes.shape == (4, 3, 8) and entry is None


@pytest.mark.parametrize('case', ['objects', 'pickle', 'npz', 'zero_row', 'sidecar_layers'])
def test_add_uses_the_same_rules(env, case):
    write, words = REFUSED[case]
    path = env / 'work' / f'{case}.npy'
    write(path)
    result = CliRunner().invoke(cli, ['add', 'mine', str(path)])
    assert result.exit_code == 1 and words in result.output and 'allow_pickle' not in result.output, result.output
    assert not (env / 'local.json').exists()
