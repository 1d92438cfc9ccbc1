"""The editor page in headless Chromium, against a real `interface.py` server of the tiny built-in model.

Checks what only a browser can: the page builds its controls and shows an
image, a SeFa slider re-renders it (with at most one render in flight), a box
dragged over the image gets ReSeFa directions whose edit stays mostly inside
it, edits of several regions combine and export as an archive whose command
renders the same pixels, and API errors reach the status line. Every wait is
for a condition, with a generous overall timeout. Needs the Debian packages
chromium and chromium-driver (`.ci/run` installs them); without them the tests
are skipped, saying so.
"""

import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import zipfile

import numpy as np
import pytest

from tests.browser import Chromium, http_json, missing_message

pytestmark = pytest.mark.slow  # seconds to minutes each: `./run tests -m "not slow"` leaves them out

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = 'builtin:stylegan2-tiny'
GRID = 256  # boxes of the API are on the 256-pixel grid

# Scripts run in the page (function bodies; `arguments` are the values passed).
IDLE = 'return window.editor !== undefined && window.editor.idle'
RENDERS = 'return window.editor.renders'
PIXELS = """
const image = document.getElementById('image');
const canvas = document.createElement('canvas');
canvas.width = image.naturalWidth;
canvas.height = image.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(image, 0, 0);
return [canvas.width, canvas.height, Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data)];
"""
MOVE_SLIDER = """
const input = document.querySelectorAll(arguments[0])[arguments[1]];
input.value = arguments[2];
input.dispatchEvent(new Event('input', {bubbles: true}));
input.dispatchEvent(new Event('change', {bubbles: true}));
return [Number(input.value), Number(input.min), Number(input.max)];
"""
TEXT = 'return document.querySelector(arguments[0]).textContent'
SELECT = ('const select = document.querySelector(arguments[0]); select.value = arguments[1]; '
          'select.dispatchEvent(new Event("change", {bubbles: true}))')
REGION_SLIDERS = '#region-sliders .sliders:not([hidden]) input[type=range]'
WAIT = 120  # seconds: an overall bound for a condition that a quiet machine meets in a few


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """URL of `interface.py` serving the tiny model on a free port (it picks one: --port 0)."""
    folder = tmp_path_factory.mktemp('interface')
    log_path = folder / 'server.log'
    (folder / 'results' / 'mine').mkdir(parents=True)  # a direction file of one's own, as sefa.py writes them
    np.save(folder / 'results' / 'mine' / 'directions.npy', np.random.RandomState(0).randn(3, 64).astype(np.float32))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    with open(log_path, 'w') as log:
        process = subprocess.Popen([sys.executable, os.path.join(ROOT, 'interface.py'), MODEL, '--port', '0',
                                    '--work_dir', str(folder)], cwd=folder, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        url = _wait_for_server(process, log_path, timeout=60)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_server(process, log_path, timeout):
    """The URL the server printed, once GET /api/info answers."""
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f'interface.py exited with code {process.returncode}:\n{log_path.read_text()}')
        if url is None:
            found = re.search(r'(http://[\d.]+:\d+)/', log_path.read_text())
            url = found.group(1) if found else None
        if url is not None:
            try:
                with urllib.request.urlopen(f'{url}/api/info', timeout=5) as response:
                    if response.status == 200:
                        return url
            except OSError:
                pass
        time.sleep(0.2)
    pytest.fail(f'interface.py did not answer GET /api/info within {timeout} s:\n{log_path.read_text()}')


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    missing = missing_message()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp('chromium')
    downloads = folder / 'downloads'
    downloads.mkdir()
    with Chromium(folder / 'profile', log_path=folder / 'chromedriver.log', download_dir=downloads) as chromium:
        chromium.download_dir = downloads
        yield chromium


@pytest.fixture
def page(browser, server, tmp_path):
    """The browser on a freshly loaded editor page, first image shown; a screenshot is kept in tmp_path."""
    browser.get(server + '/')
    browser.wait_for('return window.editor !== undefined && window.editor.renders > 0 '
                     '&& document.querySelectorAll("#sefa-sliders input[type=range]").length > 0 '
                     '&& window.editor.idle', timeout=WAIT,
                     message='the page did not show its first image and SeFa sliders')
    yield browser
    browser.save_screenshot(str(tmp_path / 'interface.png'))


def pixels(browser):
    """The shown image as a float array [H, W, 3]."""
    width, height, data = browser.execute(PIXELS)
    return np.asarray(data, dtype=np.float64).reshape(height, width, 4)[..., :3]


def move_slider(browser, selector, index, value):
    """Set a slider as a user would (input and change events) and wait until its image is shown."""
    renders = browser.execute(RENDERS)
    browser.execute(MOVE_SLIDER, selector, index, value)
    browser.wait_for(f'return window.editor.renders > {renders} && window.editor.idle', timeout=WAIT,
                     message=f'no new image after moving {selector} #{index}')


def image_of(data):
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'), dtype=np.float64)


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method='POST')
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return response.read()


def wait_download(browser, name):
    """The path of a file the page downloaded, once it is complete."""
    path = browser.download_dir / name
    deadline = time.monotonic() + WAIT
    while not path.is_file() or path.with_name(name + '.crdownload').exists():
        assert time.monotonic() < deadline, f'{name} was not downloaded within {WAIT} s'
        time.sleep(0.2)
    return path


def status(browser):
    return browser.execute('const s = document.getElementById("status"); return [s.className, s.textContent]')


def test_page_shows_image_and_controls(page, server):
    _, info = http_json('GET', server + '/api/info')
    assert page.execute('return document.getElementById("image").naturalWidth') == info['model']['img_resolution']
    assert 'error' not in status(page)[0], status(page)
    assert float(page.execute(TEXT, '#render-ms')) > 0
    assert page.execute('return document.querySelectorAll("#sefa-sliders input[type=range]").length') == 5
    labels = page.execute('return Array.from(document.querySelectorAll("#sefa-sliders label"), l => l.textContent)')
    assert all(re.fullmatch(r'Semantic \d \(\d+\.\d\d\)', label) for label in labels), labels
    groups = page.execute('return document.querySelectorAll("#layer-groups button").length')
    assert groups == len(info['layer_groups'])
    regions = page.execute('return Array.from(document.querySelectorAll("#region-select option"), o => o.value)')
    assert set(info['regions']) <= set(regions)
    assert page.execute('return document.getElementById("truncation").value') == str(
        info['defaults']['truncation_psi'])


def test_sefa_slider_changes_image(page):
    before = pixels(page)
    move_slider(page, '#sefa-sliders input[type=range]', 0, 1e9)  # the browser clamps it to the maximum
    value, high = page.execute('const s = document.querySelector("#sefa-sliders input[type=range]"); '
                               'return [Number(s.value), Number(s.max)]')
    assert value == high > 0
    after = pixels(page)
    assert np.abs(after - before).mean() > 1.0
    assert page.execute(TEXT, '#sefa-sliders output') == f'{high:.2f}'

    # Many changes at once: one render in flight, then only the latest state is rendered.
    renders = page.execute(RENDERS)
    page.execute("""
        const input = document.querySelector('#sefa-sliders input[type=range]');
        for (let i = 0; i < 20; i++) {
            input.value = -i / 10;
            input.dispatchEvent(new Event('input', {bubbles: true}));
        }""")
    page.wait_for(IDLE, timeout=WAIT)
    assert page.execute(RENDERS) - renders == 2
    shown = page.execute('return JSON.parse(window.editor.shownKey).edits')
    assert [edit['distance'] for edit in shown] == [-1.9]

    # Reset sets every SeFa slider back to 0: the first image again.
    page.click(page.find('#sefa-reset'))
    page.wait_for(IDLE, timeout=WAIT)
    assert np.abs(pixels(page) - before).max() == 0


def test_drawn_box_directions_edit_inside_the_box(page, tmp_path):
    overlay = page.find('#overlay')
    size = page.execute('return document.getElementById("overlay").getBoundingClientRect().width')
    # Drag from a quarter to half of the width and height (offsets from the overlay's centre): 1/16 of the image.
    page.drag(overlay, (-0.25 * size, -0.25 * size), (0, 0))
    box = page.execute('return window.editor.box')
    expected = [GRID * 3 // 8, GRID * 3 // 8, GRID // 4, GRID // 4]
    assert box is not None and np.abs(np.subtract(box, expected)).max() <= 3, (box, expected)
    assert page.execute('return document.getElementById("region-select").value') == '__box__'
    assert page.execute('return getComputedStyle(document.getElementById("box")).display') != 'none'

    page.click(page.find('#jacobian-button'))
    page.wait_for('return document.querySelectorAll("#region-sliders input[type=range]").length > 0 '
                  '&& window.editor.idle', timeout=WAIT, message='no region sliders after computing the Jacobian')
    progress = page.execute('const p = document.getElementById("jacobian-progress"); return [p.value, p.max]')
    assert progress[0] == progress[1] > 0
    assert 'error' not in status(page)[0], status(page)
    label = page.execute(TEXT, '#region-sliders label')
    assert re.fullmatch(r'Direction 0 \(\d+\.\d\d\) · \d+% in region', label), label

    # A small distance: the random-weight model saturates (clips) about a quarter of its pixels, more so
    # the farther it is moved, and a clipped pixel shows no change.
    before = pixels(page)
    move_slider(page, '#region-sliders input[type=range]', 0, 0.5)
    after = pixels(page)
    change = np.abs(after - before).sum(axis=2)  # [H, W]
    assert change.sum() > 0
    resolution = change.shape[0]
    row, col, height, width = [int(np.floor(v * resolution / GRID + 0.5)) for v in box]  # as regions.scale_box
    inside = np.zeros_like(change, dtype=bool)
    inside[row - height // 2:row - height // 2 + height, col - width // 2:col - width // 2 + width] = True
    share = change[inside].sum() / change.sum()
    area = inside.mean()
    assert share > 2 * area, f'{share:.1%} of the change inside a box of {area:.1%} of the image'

    # A SeFa slider too, for a screenshot that shows sliders of both kinds.
    move_slider(page, '#sefa-sliders input[type=range]', 1, 2.5)
    page.save_screenshot(str(tmp_path / 'interface_region.png'))

    # Another sample: the region directions are marked as computed for another one.
    page.execute('const seed = document.getElementById("seed"); seed.value = 5; '
                 'seed.dispatchEvent(new Event("change", {bubbles: true}))')
    page.wait_for(IDLE, timeout=WAIT)
    assert page.execute('return document.getElementById("region-panel").classList.contains("stale")')
    assert page.execute('return document.getElementById("jacobian-button").disabled') is False


def test_direction_file_slider(page, server):
    _, info = http_json('GET', server + '/api/info')
    assert [f['count'] for f in info['files']] == [3]
    low, high = page.execute('const s = document.querySelector("#file-sliders input[type=range]"); '
                             'return [Number(s.min), Number(s.max)]')
    assert (low, high) == (-10, 10)  # no recommended range: manipulate.py's default
    before = pixels(page)
    move_slider(page, '#file-sliders input[type=range]', 0, 4)
    first_row = pixels(page)
    assert np.abs(first_row - before).mean() > 1.0
    renders = page.execute(RENDERS)
    page.execute('const row = document.querySelector("#file-sliders select"); row.value = "2"; '
                 'row.dispatchEvent(new Event("change", {bubbles: true}))')
    page.wait_for(f'return window.editor.renders > {renders} && window.editor.idle', timeout=WAIT)
    assert np.abs(pixels(page) - first_row).mean() > 1.0
    edits = page.execute('return JSON.parse(window.editor.shownKey).edits')
    assert edits == [{'direction': {'kind': 'file', 'name': info['files'][0]['name'], 'index': 2}, 'distance': 4,
                      'layers': None}]


def test_upload_codes(page, tmp_path):
    path = tmp_path / 'codes.npy'
    np.save(path, np.random.RandomState(1).randn(3, 64).astype(np.float32))  # z codes of the tiny model
    before = pixels(page)
    renders = page.execute(RENDERS)
    page.send_keys(page.find('#upload'), str(path))
    page.wait_for(f'return window.editor.renders > {renders} && window.editor.idle', timeout=WAIT)
    assert page.execute(TEXT, '#upload-label') == 'codes.npy: 3 z codes'
    assert page.execute(TEXT, '#code-label') == 'codes.npy #0'
    first = pixels(page)
    assert np.abs(first - before).mean() > 1.0
    page.click(page.find('#upload-next'))
    page.wait_for(IDLE, timeout=WAIT)
    assert page.execute(TEXT, '#code-label') == 'codes.npy #1'
    assert np.abs(pixels(page) - first).mean() > 1.0


def test_project_an_image(page, tmp_path):
    """An image file given to the page is projected (progress shown) and its code becomes the shown sample."""
    from PIL import Image
    target = pixels(page).astype(np.uint8)  # the current image: a target the model can reach
    Image.fromarray(target).save(tmp_path / 'photo.png')
    assert page.execute('return document.getElementById("project-steps").value') == '150'  # the page's default
    page.execute('document.getElementById("project-steps").value = 40')
    renders = page.execute(RENDERS)
    page.send_keys(page.find('#project'), str(tmp_path / 'photo.png'))
    page.wait_for(f'return window.editor.renders > {renders} && window.editor.idle', timeout=600,
                  message='the projected code was not shown')
    assert page.execute(TEXT, '#code-label') == 'photo.png (projected) #0'
    assert page.execute(TEXT, '#project-count') == '40/40 done'
    assert re.match(r'Projected photo.png in 40 steps: PSNR', status(page)[1]), status(page)
    label = page.execute(TEXT, '#upload-label')
    assert label.startswith('photo.png: projected, PSNR') and float(label.split('PSNR ')[1].split(' ')[0]) > 20
    shown = pixels(page)
    assert np.abs(shown - target).mean() < np.abs(target - target.mean()).mean() / 2


def test_api_error_shows_in_status_line(page):
    page.execute('const layers = document.getElementById("sefa-layers"); layers.value = "99"; '
                 'layers.dispatchEvent(new Event("change", {bubbles: true}))')
    page.wait_for('return document.getElementById("status").classList.contains("error")', timeout=WAIT)
    kind, text = status(page)
    assert '99' in text and len(text.splitlines()) == 1, text
    assert page.execute('return document.getElementById("sefa-layers").classList.contains("invalid")')


def choose_region(page, name):
    """Pick a named region (or '__box__') and wait until its directions, if any are to come, are shown."""
    page.execute(SELECT, '#region-select', name)
    page.wait_for('const set = window.editor.shown.region; return window.editor.idle && set && '
                  'set.choice === arguments[0]', name, timeout=WAIT, message=f'no directions of {name}')


def test_region_edits_combine_survive_switching_and_export(page, server, tmp_path):
    """Eyes, then mouth, then a drawn box: the three edits stay in the image and the list, survive switching back,
    and the exported archive's command renders the same pixels."""
    page.execute(SELECT, '#region-select', 'eyes')
    page.click(page.find('#jacobian-button'))
    choose_region(page, 'eyes')
    move_slider(page, REGION_SLIDERS, 0, 1)
    choose_region(page, 'mouth')
    assert page.execute(f'return Number(document.querySelector("{REGION_SLIDERS}").value)') == 0
    move_slider(page, REGION_SLIDERS, 0, 1)
    size = page.execute('return document.getElementById("overlay").getBoundingClientRect().width')
    page.drag(page.find('#overlay'), (-0.4 * size, 0.1 * size), (-0.1 * size, 0.4 * size))
    choose_region(page, '__box__')
    move_slider(page, REGION_SLIDERS, 0, 1)

    listed = page.execute('return Array.from(document.querySelectorAll("#edit-list li"), li => li.firstChild.data)')
    box = ', '.join(map(str, page.execute('return window.editor.box')))
    assert [item.split(' · ')[0] for item in listed] == ['eyes', 'mouth', f'box [{box}]']
    assert all(item.endswith('Direction 0: 1.00') for item in listed), listed
    options = page.execute('return Array.from(document.querySelectorAll("#region-select option"), o => o.textContent)')
    assert {'eyes •', 'mouth •', 'drawn box •'} <= set(options)
    state = page.execute('return JSON.parse(window.editor.shownKey)')
    assert len({edit['direction']['id'] for edit in state['edits']}) == 3
    shown = pixels(page)
    for dropped in range(3):  # each edit is in the image: without it, the image differs
        fewer = {**state, 'edits': state['edits'][:dropped] + state['edits'][dropped + 1:]}
        assert np.abs(image_of(post(server + '/api/render', fewer)) - shown).max() > 0

    choose_region(page, 'eyes')  # back on the eyes: its slider kept its value, and no edit was dropped
    assert page.execute(f'return Number(document.querySelector("{REGION_SLIDERS}").value)') == 1
    assert np.array_equal(pixels(page), shown)

    page.click(page.find('#export-edit'))
    archive = wait_download(page, 'stylegan2-tiny_edit.zip')
    command = page.wait_for('return document.getElementById("command").value', timeout=WAIT)
    with zipfile.ZipFile(archive) as files:
        assert len([name for name in files.namelist() if name.endswith('.npy')]) == 4  # the code and 3 directions
    words = command.split()
    assert words[:3] == ['python', '-m', 'editor.replay'] and words[3] == archive.name
    result = subprocess.run([sys.executable, *words[1:]], cwd=archive.parent, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr
    assert np.abs(image_of((archive.parent / words[4]).read_bytes()) - shown).max() <= 1
