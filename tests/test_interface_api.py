"""The editor's HTTP API, through the standard library's client: every endpoint, bad requests, several at once."""

import http.client
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
from PIL import Image

import models
from editor.server import make_server
from editor.session import Editor
from semantics import regions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """The editor of the tiny built-in model, on a free port, with a direction file in its work folder."""
    work = tmp_path_factory.mktemp('work')
    folder = work / 'work_dirs' / 'directions' / 'ffhq' / 'm' / 'seed_4_num_2' / 'eyes'
    folder.mkdir(parents=True)
    rows = np.linalg.qr(np.random.RandomState(0).randn(64, 3))[0].T.astype(np.float32)
    np.save(folder / 'pooled_resefa.npy', rows)
    (folder / 'pooled_resefa.json').write_text(json.dumps({'method': 'resefa', 'region': 'eyes', 'layers': [2, 3]}))
    G = models.load_generator('builtin:stylegan2-tiny')
    httpd = make_server(Editor(G, work_dir=str(work)), '127.0.0.1', 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}', G
    httpd.shutdown()
    httpd.server_close()


def call(base, path, body=None, raw=None, method=None):
    """(status, headers, body bytes) of a request; JSON bodies are encoded."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method=method or ('POST' if data is not None else 'GET'))
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def ok_json(base, path, body=None):
    status, _, data = call(base, path, body)
    assert status == 200, data
    return json.loads(data)


def image_of(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'), dtype=np.float64)


STATE = {'code': {'kind': 'seed', 'seed': 4}, 'truncation_psi': 0.7, 'class': None, 'edits': []}


def one_line(data):
    """The error of an answer: one line, no traceback."""
    error = json.loads(data)['error']
    assert '\n' not in error and 'Traceback' not in error
    return error


def wait_jacobian(base, state=STATE, timeout=120):
    """The Jacobian task of a sample, once it is no longer running."""
    task = ok_json(base, '/api/jacobian', state)
    deadline = time.monotonic() + timeout
    while task['state'] == 'running' and time.monotonic() < deadline:
        time.sleep(0.05)
        task = ok_json(base, f'/api/jacobian?id={task["id"]}')
    return task


def test_page_and_info(server):
    base, G = server
    status, headers, page = call(base, '/')
    assert status == 200 and headers['Content-Type'].startswith('text/html') and b'<html' in page.lower()
    info = ok_json(base, '/api/info')
    assert info['model']['name'] == 'stylegan2-tiny' and info['model']['w_dim'] == 64
    assert info['model']['random_weights']
    assert info['layer_groups'][0]['layers'] == 'all' and 'eyes' in info['regions']
    assert [f['name'] for f in info['files']] == ['pooled_resefa-eyes-' + f['name'].rsplit('-', 1)[1]
                                                  for f in info['files']] and info['files'][0]['count'] == 3
    assert info['files'][0]['layers'] == [2, 3]  # the sidecar's layers


def test_render_is_the_scripts_image_and_edits_change_it(server):
    base, G = server
    status, headers, data = call(base, '/api/render', STATE)
    assert status == 200 and headers['Content-Type'] == 'image/png' and float(headers['X-Render-Ms']) > 0
    plain = image_of(data)
    from semantics import sampling
    from utils.images import to_uint8
    ws = sampling.sample_ws(G, 1, 4, 0.7, 8)
    assert np.array_equal(plain, to_uint8(sampling.render(G, ws, 'const', 0.7))[0].astype(np.float64))
    sefa = ok_json(base, '/api/sefa', {'layers': '0-3', 'count': 3})
    assert sefa['layers'] == [0, 1, 2, 3] and len(sefa['eigenvalues']) == 3
    assert sefa['eigenvalues'] == sorted(sefa['eigenvalues'], reverse=True)
    edit = {'direction': {'kind': 'sefa', 'layers': '0-3', 'index': 0}, 'distance': 3.0, 'layers': None}
    moved = image_of(call(base, '/api/render', {**STATE, 'edits': [edit]})[2])
    assert np.abs(moved - plain).mean() > 1
    name = ok_json(base, '/api/info')['files'][0]['name']
    both = [edit, {'direction': {'kind': 'file', 'name': name, 'index': 1}, 'distance': -2.0, 'layers': [4, 5]}]
    combined = image_of(call(base, '/api/render', {**STATE, 'edits': both})[2])
    assert np.abs(combined - moved).mean() > 0.1


def test_upload_and_codes(server):
    base, G = server
    codes = np.random.RandomState(1).randn(3, G.num_ws, G.w_dim).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, codes)
    upload = json.loads(call(base, '/api/upload', raw=buffer.getvalue())[2])
    assert upload['count'] == 3 and upload['space'] == 'wp'
    state = {**STATE, 'code': {'kind': 'upload', 'id': upload['id'], 'index': 2}}
    exported = np.load(io.BytesIO(call(base, '/api/export/code', state)[2]))
    assert np.array_equal(exported, codes[2:3])


def test_jacobian_region_and_exports(server):
    base, G = server
    region = call(base, '/api/region', {**STATE, 'box': [120, 128, 60, 80]})
    assert region[0] == 409 and one_line(region[2]).startswith('code: ')
    task = wait_jacobian(base)
    assert task['state'] == 'done' and task['done'] == task['total'] == G.w_dim
    assert ok_json(base, '/api/jacobian', STATE)['id'] == task['id']  # cached per sample
    found = ok_json(base, '/api/region', {**STATE, 'box': [120, 128, 60, 80], 'count': 3})
    assert len(found['eigenvalues']) == 3 and found['eigenvalues'] == sorted(found['eigenvalues'], reverse=True)
    area = regions.box_mask(regions.scale_box([120, 128, 60, 80], 64), 64).mean()
    assert found['shares'][0] > 2 * area  # the top direction's change lies mostly in the box
    edit = {'direction': {'kind': 'region', 'id': found['id'], 'index': 0}, 'distance': 2.0, 'layers': None}
    plain = image_of(call(base, '/api/render', STATE)[2])
    moved = image_of(call(base, '/api/render', {**STATE, 'edits': [edit]})[2])
    change = np.abs(moved - plain).sum(axis=2)
    mask = regions.box_mask(regions.scale_box([120, 128, 60, 80], 64), 64)
    assert change[mask].sum() / change.sum() > 2 * area
    named = ok_json(base, '/api/region', {**STATE, 'region': 'mouth', 'count': 2})
    assert named['box'] == list(regions.named_box('ffhq', 'mouth'))
    assert ok_json(base, '/api/region', {**STATE, 'region': 'mouth', 'count': 4})['id'] == named['id']  # kept
    for bad, field in (({'box': [1, 2, 3]}, 'box'), ({'box': [300, 300, 9, 9]}, 'box'), ({'region': 'ears'}, 'region'),
                       ({'box': [9, 9, 4, 4], 'count': 0}, 'count')):
        status, _, data = call(base, '/api/region', {**STATE, **bad})
        assert status == 400 and one_line(data).startswith(f'{field}: ')
    # Exports.
    status, headers, gif = call(base, '/api/export/gif', {'state': {**STATE, 'edits': [edit]}, 'edit': 0, 'steps': 5})
    assert status == 200 and gif[:6] == b'GIF89a' and 'attachment' in headers['Content-Disposition']
    assert getattr(Image.open(io.BytesIO(gif)), 'n_frames', 1) == 8  # 5 steps, back and forth
    status, _, png = call(base, '/api/export/image', {**STATE, 'edits': [edit]})
    assert np.array_equal(image_of(png), moved)


def test_export_edit_replays_the_shown_image(server, tmp_path):
    """Edits of three kinds, exported as one archive; the command in it writes the image the editor showed."""
    base, G = server
    assert wait_jacobian(base)['state'] == 'done'
    region = ok_json(base, '/api/region', {**STATE, 'region': 'eyes', 'count': 2})
    file_name = ok_json(base, '/api/info')['files'][0]['name']
    edits = [{'direction': {'kind': 'sefa', 'layers': '0-3', 'index': 1}, 'distance': 2.0, 'layers': None},
             {'direction': {'kind': 'region', 'id': region['id'], 'index': 0}, 'distance': -1.5, 'layers': None},
             {'direction': {'kind': 'file', 'name': file_name, 'index': 2}, 'distance': 1.0, 'layers': '4-7'}]
    state = {**STATE, 'edits': edits}
    shown = call(base, '/api/render', state)[2]
    status, headers, archive = call(base, '/api/export/edit', state)
    assert status == 200 and headers['Content-Disposition'] == 'attachment; filename="stylegan2-tiny_edit.zip"'
    command = headers['X-Replay-Command']
    with zipfile.ZipFile(io.BytesIO(archive)) as files:
        names = sorted(name for name in files.namelist() if not name.endswith('/'))
        recipe = json.loads(files.read('edit.json'))
        sidecar = json.loads(files.read('directions/1_resefa_eyes_0.json'))
        assert files.read('edited.png') == shown and command in files.read('README.txt').decode()
    assert names == ['README.txt', 'code.npy',
                     'directions/0_sefa_layers_0-3_1.json', 'directions/0_sefa_layers_0-3_1.npy',
                     'directions/1_resefa_eyes_0.json', 'directions/1_resefa_eyes_0.npy',
                     f'directions/2_{file_name}_2.json', f'directions/2_{file_name}_2.npy', 'edit.json', 'edited.png']
    assert [e['distance'] for e in recipe['edits']] == [2.0, -1.5, 1.0] and recipe['edits'][2]['layers'] == [4, 5, 6, 7]
    assert sidecar['method'] == 'resefa' and sidecar['region'] == 'eyes' and sidecar['model'] == 'stylegan2-tiny'
    (tmp_path / 'stylegan2-tiny_edit.zip').write_bytes(archive)
    words = command.split()
    assert words[:3] == ['python', '-m', 'editor.replay']
    result = subprocess.run([sys.executable, *words[1:]], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, 'PYTHONPATH': ROOT})
    assert result.returncode == 0, result.stderr
    assert np.abs(image_of((tmp_path / words[-1]).read_bytes()) - image_of(shown)).max() <= 1


def test_replay_refuses_what_is_not_an_archive(tmp_path):
    (tmp_path / 'edit.zip').write_bytes(b'not a zip')
    result = subprocess.run([sys.executable, '-m', 'editor.replay', 'edit.zip', 'out.png'], cwd=tmp_path,
                            capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': ROOT})
    assert result.returncode != 0 and 'Traceback' not in result.stderr and not (tmp_path / 'out.png').exists()
    error, = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert 'ARCHIVE' in error


def test_cancel_a_jacobian(server):
    base, G = server
    state = {**STATE, 'code': {'kind': 'seed', 'seed': 99}}
    task = ok_json(base, '/api/jacobian', state)
    cancelled = ok_json(base, '/api/jacobian/cancel', {'id': task['id']})
    assert cancelled['state'] in ('cancelled', 'done')  # a tiny model may finish first


@pytest.mark.parametrize('path, body, status, field', [
    ('/api/render', 'not json', 400, 'body'),
    ('/api/render', [1, 2], 400, 'body'),
    ('/api/render', {}, 400, 'code'),
    ('/api/render', {'code': {'kind': 'magic'}}, 400, 'code.kind'),
    ('/api/render', {'code': {'kind': 'seed', 'seed': -1}}, 400, 'code.seed'),
    ('/api/render', {'code': {'kind': 'seed', 'seed': 'x'}}, 400, 'code.seed'),
    ('/api/render', {**STATE, 'truncation_psi': 'nan'}, 400, 'truncation_psi'),
    ('/api/render', {**STATE, 'truncation_psi': 1e9}, 400, 'truncation_psi'),
    ('/api/render', {**STATE, 'class': 3}, 400, 'class'),
    ('/api/render', {'code': {'kind': 'upload', 'id': 'nope'}}, 404, 'code.id'),
    ('/api/render', {'code': {'kind': 'prepared', 'name': 'nope'}}, 404, 'code.name'),
    ('/api/render', {**STATE, 'edits': [{'direction': {'kind': 'sefa', 'layers': '0-99'}}]}, 400,
     'edits[0].direction.layers'),
    ('/api/render', {**STATE, 'edits': [{'direction': {'kind': 'sefa', 'index': 999}}]}, 400,
     'edits[0].direction.index'),
    ('/api/render', {**STATE, 'edits': [{'direction': {'kind': 'file', 'name': 'x'}}]}, 404,
     'edits[0].direction.name'),
    ('/api/render', {**STATE, 'edits': [{'direction': {'kind': 'region', 'id': 'x'}}]}, 404, 'edits[0].direction.id'),
    ('/api/render', {**STATE, 'edits': [{'direction': {'kind': 'box'}}]}, 400, 'edits[0].direction.kind'),
    ('/api/render', {**STATE, 'edits': [{'direction': {'kind': 'sefa'}, 'distance': 1e9}]}, 400, 'edits[0].distance'),
    ('/api/render', {**STATE, 'edits': [{}, {'direction': {'kind': 'sefa'}}]}, 400, 'edits[0].direction'),
    ('/api/render', {**STATE, 'edits': [{'direction': {'kind': 'sefa'}, 'layers': [99]}]}, 400, 'edits[0].layers'),
    ('/api/render', {**STATE, 'edits': 'all'}, 400, 'edits'),
    ('/api/sefa', {'layers': 5}, 400, 'layers'),
    ('/api/sefa', {'layers': '2-x'}, 400, 'layers'),
    ('/api/sefa', {'layers': 'all', 'count': 0}, 400, 'count'),
    ('/api/region', {**STATE, 'code': {'kind': 'seed', 'seed': 77}, 'region': 'eyes'}, 409, 'code'),
    ('/api/jacobian?id=zzz', None, 404, 'id'),
    ('/api/jacobian', None, 400, 'id'),
    ('/api/jacobian/cancel', {'id': 'zzz'}, 404, 'id'),
    ('/api/export/gif', {'state': STATE, 'edit': 0}, 400, 'edit'),
    ('/api/export/gif', {'state': {**STATE, 'edits': [{'direction': {'kind': 'sefa'}}]}, 'steps': 1}, 400, 'steps'),
    ('/api/nothing', None, 404, 'path'),
    ('/api/info?x=1', {}, 405, 'path'),
    ('/static/../editor/session.py', None, 404, 'path'),
    ('/static/%2e%2e%2fsession.py', None, 404, 'path'),
])
def test_bad_requests_get_one_line_errors(server, path, body, status, field):
    base, _ = server
    raw = body.encode() if isinstance(body, str) else None
    got, headers, data = call(base, path, None if raw else body, raw=raw)
    assert got == status, data
    assert one_line(data).startswith(f'{field}: ')


@pytest.mark.parametrize('payload, name, key', [
    (b'not an array', 'codes.npy', 'not a .npy array'),
    (b'\x89PNG\r\n\x1a\n0000', 'photo.png', 'not a .npy array'),
    ('npz', 'codes.npz', '.npz archive'),
    ('pickle', 'codes.npy', 'Python objects'),
    ('shape', 'codes.npy', 'shape'),
])
def test_bad_uploads(server, payload, name, key):
    """The reader of the scripts' --latent_path reads uploads: the same words, naming the file uploaded."""
    base, _ = server
    buffer = io.BytesIO()
    if payload == 'npz':
        np.savez(buffer, a=np.ones((1, 64), np.float32))
    elif payload == 'pickle':
        np.save(buffer, np.array([{'a': 1}], dtype=object), allow_pickle=True)
    elif payload == 'shape':
        np.save(buffer, np.ones((2, 7), np.float32))
    status, _, answer = call(base, f'/api/upload?name={name}', raw=buffer.getvalue() or payload)
    assert status == 400 and one_line(answer).startswith(f'upload: {name}: ') and key in one_line(answer)


def test_large_upload_is_refused_before_it_is_read(server):
    base, _ = server
    host, port = base.rsplit('/', 1)[1].split(':')
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest('POST', '/api/upload')
    connection.putheader('Content-Length', str(64 * 2 ** 20))
    connection.endheaders()
    connection.send(b'\x93NUMPY')
    response = connection.getresponse()
    assert response.status == 413 and one_line(response.read()).startswith('body: ')
    connection.close()
    assert ok_json(base, '/api/info')['model']['name'] == 'stylegan2-tiny'  # the server lives on


def test_many_requests_at_once(server):
    """Eight threads render and factorise at the same time: every answer is right, the server lives on."""
    base, _ = server
    expected = image_of(call(base, '/api/render', STATE)[2])
    results, errors = [], []

    def work(seed):
        try:
            for _ in range(3):
                status, _, data = call(base, '/api/render', STATE)
                results.append(status == 200 and np.array_equal(image_of(data), expected))
                ok_json(base, '/api/sefa', {'layers': f'{seed % 4}-{seed % 4 + 2}', 'count': 2})
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(results) == 24 and all(results)


@pytest.mark.slow
def test_project_an_uploaded_image(server):
    """An image file sent to /api/invert becomes a code (an upload) whose render is close to it."""
    base, G = server
    target = call(base, '/api/render', STATE)[2]  # a PNG the model can reach
    task = json.loads(call(base, '/api/invert?steps=120&space=wp', raw=target)[2])
    assert task['state'] == 'running' and task['total'] == 120
    for _ in range(600):
        task = ok_json(base, f'/api/invert?id={task["id"]}')
        if task['state'] != 'running':
            break
        time.sleep(0.05)
    assert task['state'] == 'done' and task['done'] == 120 and task['psnr'] > 20, task
    assert task['upload']['count'] == 1 and task['upload']['space'] == 'wp'
    code = {'kind': 'upload', 'id': task['upload']['id'], 'index': 0}
    rendered = image_of(call(base, '/api/render', {**STATE, 'code': code})[2])
    error = np.abs(rendered - image_of(target)).mean()
    assert error < np.abs(image_of(target) - image_of(target).mean()).mean() / 2  # much closer than a flat image
    float_image = io.BytesIO()
    Image.fromarray(np.full((8, 8), 300, np.float32), mode='F').save(float_image, format='TIFF')
    for query, data, field in (('?steps=0', target, 'steps'), ('?steps=x', target, 'steps'),
                               ('?space=z', target, 'space'), ('', b'not an image', 'image'),
                               ('', float_image.getvalue(), 'image')):
        status, _, answer = call(base, f'/api/invert{query}', raw=data)
        assert status == 400 and one_line(answer).startswith(f'{field}: ')
    assert call(base, '/api/invert?id=j1')[0] == 404  # a Jacobian's id is not a projection's
    started = json.loads(call(base, '/api/invert?steps=5000', raw=target)[2])
    assert ok_json(base, '/api/invert/cancel', {'id': started['id']})['state'] == 'cancelled'
    assert ok_json(base, '/api/info')['defaults']['projection_steps'] == 150
