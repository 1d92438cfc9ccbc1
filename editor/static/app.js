// The editor page: builds the controls from /api/info and talks to the JSON API of docs/interface.md.
// Plain JavaScript, no framework, nothing fetched from outside the server.
'use strict';

const GRID = 256;                    // boxes are on the 256-pixel grid of the ReSeFa reference
const DEFAULT_RANGE = [-10, 10];     // a file direction without a recommended distance range (manipulate.py's)
const DEFAULT_DISTANCE = 3;          // SeFa and region sliders span `info.defaults.distance` each way (sefa.py's)
const POLL_MS = 300;
const GIF_STEPS = 9;
const DRAWN_BOX = '__box__';         // value of the "drawn box" choice of the region select

const $ = (id) => document.getElementById(id);

const editor = {
  info: null,
  code: {kind: 'seed', seed: 0},
  prepared: {name: null, index: 0},
  upload: null,                      // {id, count, space, index, name}
  projection: null,                  // id of the image projection in progress
  sliders: [],                       // {group, direction, input, output, row, min, max, label}
  lastSlider: null,
  box: null,                         // drawn box, [center_row, center_col, height, width] on the grid
  shownBox: null,                    // box drawn on the overlay (drawn or the named region's)
  jacobian: null,                    // {id, key, state, done, total}
  pollTimer: null,
  pollSeq: 0,                        // a poll answers only if no stopPolling came since it started
  region: null,                      // {id, key, box, note}: the region directions shown
  sefaSeq: 0,
  regionSeq: 0,
  // Rendering: at most one request in flight, only the latest state waits.
  inFlight: false,
  pending: null,
  shownKey: null,
  sentKey: null,
  renders: 0,
  busy: 0,                           // other requests in progress (SeFa, region, upload)
  get idle() { return !this.inFlight && !this.pending && this.busy === 0 && !this.pollTimer; },
};
window.editor = editor;

// ---------------------------------------------------------------- API helpers

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch (e) { /* not JSON: keep the status line */ }
  return new Error(message);
}

async function request(method, path, body, raw) {
  const options = {method, headers: {}};
  if (body !== undefined) {
    if (raw) {
      options.body = body;
      options.headers['Content-Type'] = 'application/octet-stream';
    } else {
      options.body = JSON.stringify(body);
      options.headers['Content-Type'] = 'application/json';
    }
  }
  const response = await fetch(path, options);
  if (!response.ok) throw await errorOf(response);
  return response;
}

const getJSON = async (path) => (await request('GET', path)).json();
const postJSON = async (path, body) => (await request('POST', path, body)).json();

async function tracked(promise) {
  editor.busy += 1;
  try { return await promise; } finally { editor.busy -= 1; }
}

function setStatus(message, kind) {
  const status = $('status');
  status.textContent = message;
  status.className = kind || 'info';
}

function report(error) {
  setStatus(error.message || String(error), 'error');
}

function sliderSpan() {
  const distance = (editor.info.defaults || {}).distance;
  return distance > 0 ? distance : DEFAULT_DISTANCE;
}

function fmt(value, digits) {
  return Number(value).toFixed(digits === undefined ? 2 : digits);
}

function formatLayers(layers) {
  if (layers === null || layers === undefined) return 'all';
  if (!Array.isArray(layers)) return String(layers);
  // [0, 1, 2, 3, 6] -> "0-3,6"
  const parts = [];
  let i = 0;
  while (i < layers.length) {
    let j = i;
    while (j + 1 < layers.length && layers[j + 1] === layers[j] + 1) j += 1;
    parts.push(j > i ? `${layers[i]}-${layers[j]}` : `${layers[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

// ---------------------------------------------------------------- state

function sample() {
  const info = editor.info;
  return {
    code: editor.code,
    truncation_psi: Number($('truncation').value),
    class: info.model.c_dim > 0 ? Number($('class').value) : null,
  };
}

const sampleKey = () => JSON.stringify(sample());

function edits(include) {
  return editor.sliders
    .filter((s) => Number(s.input.value) !== 0 || s === include)
    .map((s) => ({direction: s.direction, distance: Number(s.input.value), layers: null}));
}

function state(include) {
  return Object.assign(sample(), {edits: edits(include)});
}

// ---------------------------------------------------------------- rendering

function scheduleRender() {
  updateSampleDependents();
  const next = state();
  const key = JSON.stringify(next);
  if (editor.inFlight) {
    editor.pending = key === editor.sentKey ? null : next;
    return;
  }
  if (key === editor.shownKey) return;
  sendRender(next, key);
}

async function sendRender(next, key) {
  editor.inFlight = true;
  editor.sentKey = key;
  try {
    const response = await request('POST', '/api/render', next);
    const blob = await response.blob();
    const image = $('image');
    const old = image.src;
    const url = URL.createObjectURL(blob);
    image.src = url;
    await image.decode();
    if (old.startsWith('blob:')) URL.revokeObjectURL(old);
    editor.shownKey = key;
    editor.renders += 1;
    $('render-ms').textContent = response.headers.get('X-Render-Ms') || '?';
    if ($('status').className === 'error render') setStatus('Ready.');
  } catch (error) {
    setStatus(error.message || String(error), 'error render');
  } finally {
    editor.inFlight = false;
    const pending = editor.pending;
    editor.pending = null;
    if (pending) {
      const pendingKey = JSON.stringify(pending);
      if (pendingKey !== editor.shownKey) sendRender(pending, pendingKey);
    }
  }
}

// ---------------------------------------------------------------- sliders

function makeSlider(container, group, options) {
  const row = document.createElement('div');
  row.className = options.wide ? 'slider-row wide' : 'slider-row';
  const label = document.createElement('label');
  label.textContent = options.label;
  label.title = (options.title || options.label) + ' (double-click: back to 0)';
  const input = document.createElement('input');
  input.type = 'range';
  input.min = options.min;
  input.max = options.max;
  input.step = options.step || (options.max - options.min) / 200;
  input.value = 0;
  const id = `${group}-slider-${container.children.length}`;
  input.id = id;
  label.htmlFor = id;
  const output = document.createElement('output');
  output.htmlFor = id;
  output.textContent = fmt(0);
  row.append(label, input, output);
  if (options.extra) row.append(options.extra);
  container.append(row);
  const slider = {group, direction: options.direction, input, output, row, min: Number(options.min),
                  max: Number(options.max), label: options.label};
  const moved = () => {
    output.textContent = fmt(input.value);
    editor.lastSlider = slider;
    $('last-slider').textContent = `Last slider: ${slider.label}`;
    scheduleRender();
  };
  input.addEventListener('input', moved);
  input.addEventListener('change', moved);
  label.addEventListener('dblclick', () => { input.value = 0; moved(); });
  editor.sliders.push(slider);
  return slider;
}

function removeSliders(group) {
  editor.sliders = editor.sliders.filter((s) => {
    if (s.group !== group) return true;
    s.row.remove();
    if (editor.lastSlider === s) {
      editor.lastSlider = null;
      $('last-slider').textContent = 'No slider moved yet.';
    }
    return false;
  });
}

// ---------------------------------------------------------------- codes

function codeLabel() {
  const code = editor.code;
  if (code.kind === 'seed') return `seed ${code.seed}`;
  if (code.kind === 'prepared') return `${code.name} #${code.index}`;
  return `${editor.upload ? editor.upload.name : 'upload'} #${code.index}`;
}

function setCode(code) {
  editor.code = code;
  $('code-label').textContent = codeLabel();
  for (const id of ['seed', 'prepared-select', 'upload']) $(id).classList.remove('active');
  const active = {seed: 'seed', prepared: 'prepared-select', upload: 'upload'}[code.kind];
  $(active).classList.add('active');
  scheduleRender();
}

function seedCode() {
  const seed = Math.floor(Number($('seed').value));
  if (!Number.isFinite(seed) || seed < 0 || seed > 4294967295) {
    setStatus('The seed is a whole number from 0 to 4294967295.', 'error');
    return;
  }
  setCode({kind: 'seed', seed});
}

function preparedEntry() {
  return editor.info.prepared.find((p) => p.name === $('prepared-select').value);
}

function stepPrepared(delta) {
  const entry = preparedEntry();
  if (!entry) return;
  const same = editor.prepared.name === entry.name;
  const index = same ? (editor.prepared.index + delta + entry.count) % entry.count : 0;
  editor.prepared = {name: entry.name, index};
  $('prepared-index').textContent = `#${index} of ${entry.count}`;
  setCode({kind: 'prepared', name: entry.name, index});
}

function stepUpload(delta) {
  const upload = editor.upload;
  if (!upload) return;
  upload.index = (upload.index + delta + upload.count) % upload.count;
  $('upload-index').textContent = `#${upload.index} of ${upload.count}`;
  setCode({kind: 'upload', id: upload.id, index: upload.index});
}

async function uploadFile() {
  const file = $('upload').files[0];
  if (!file) return;
  try {
    const bytes = await file.arrayBuffer();
    const answer = await tracked((await request('POST', '/api/upload', bytes, true)).json());
    editor.upload = {id: answer.id, count: answer.count, space: answer.space, index: -1, name: file.name};
    $('upload-row').hidden = false;
    $('upload-label').textContent = `${file.name}: ${answer.count} ${answer.space} code${answer.count === 1 ? '' : 's'}`;
    setStatus(`Uploaded ${file.name}.`);
    stepUpload(1);
  } catch (error) {
    report(error);
  } finally {
    $('upload').value = '';
  }
}

// ---------------------------------------------------------------- Projecting an image

async function projectImage() {
  const file = $('project').files[0];
  if (!file) return;
  const steps = Math.max(1, Math.floor(Number($('project-steps').value) || 300));
  const space = $('project-space').value;
  try {
    const bytes = await file.arrayBuffer();
    let job = await tracked((await request('POST', `/api/invert?steps=${steps}&space=${space}`, bytes, true)).json());
    editor.projection = job.id;
    $('project-cancel').hidden = false;
    $('project-progress-row').hidden = false;
    setStatus(`Projecting ${file.name} into ${space === 'wp' ? 'w+' : 'w'}…`);
    editor.busy += 1;
    try {
      while (job.state === 'running') {
        $('project-progress').value = job.done / job.total;
        $('project-count').textContent = `${job.done}/${job.total} steps`;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        job = await getJSON(`/api/invert?id=${job.id}`);
      }
    } finally {
      editor.busy -= 1;
    }
    $('project-progress').value = job.done / job.total;
    $('project-count').textContent = `${job.done}/${job.total} ${job.state}`;
    $('project-cancel').hidden = true;
    if (job.state === 'done') {
      editor.upload = {id: job.upload.id, count: job.upload.count, space: job.upload.space, index: -1,
                       name: `${file.name} (projected)`};
      $('upload-row').hidden = false;
      $('upload-label').textContent = `${file.name}: projected, PSNR ${fmt(job.psnr, 1)} dB`;
      setStatus(`Projected ${file.name}: PSNR ${fmt(job.psnr, 1)} dB. Its code is shown; edit it with the sliders.`);
      stepUpload(1);
    } else if (job.state === 'failed') {
      setStatus(`Projection failed: ${job.error}`, 'error');
    } else {
      setStatus('Projection cancelled.');
    }
  } catch (error) {
    report(error);
  } finally {
    $('project').value = '';
  }
}

async function cancelProjection() {
  if (!editor.projection) return;
  try {
    await request('POST', '/api/invert/cancel', {id: editor.projection});
  } catch (error) {
    report(error);
  }
}

// ---------------------------------------------------------------- SeFa

async function loadSefa() {
  const layers = $('sefa-layers').value.trim() || 'all';
  const count = Math.floor(Number($('sefa-count').value));
  const seq = ++editor.sefaSeq;
  try {
    const answer = await tracked(postJSON('/api/sefa', {layers, count}));
    if (seq !== editor.sefaSeq) return;
    removeSliders('sefa');
    const container = $('sefa-sliders');
    answer.eigenvalues.forEach((eigenvalue, index) => {
      makeSlider(container, 'sefa', {
        label: `Semantic ${index} (${fmt(eigenvalue)})`,
        title: `SeFa direction ${index} of layers ${formatLayers(answer.layers)}, eigenvalue ${eigenvalue}`,
        min: -sliderSpan(), max: sliderSpan(), step: 0.05,
        direction: {kind: 'sefa', layers, index},
      });
    });
    $('sefa-note').textContent = `Layers ${formatLayers(answer.layers)}`;
    $('sefa-layers').classList.remove('invalid');
    scheduleRender();
  } catch (error) {
    if (seq !== editor.sefaSeq) return;
    $('sefa-layers').classList.add('invalid');
    report(error);
  }
}

function resetSliders(group) {
  for (const slider of editor.sliders) {
    if (group && slider.group !== group) continue;
    slider.input.value = 0;
    slider.output.textContent = fmt(0);
  }
  scheduleRender();
}

// ---------------------------------------------------------------- directions from files

function buildFileSliders() {
  const container = $('file-sliders');
  const files = editor.info.files;
  if (!files.length) {
    container.innerHTML = '<div class="note">No direction files for this model.</div>';
    return;
  }
  for (const file of files) {
    const range = file.distance_range || DEFAULT_RANGE;
    let picker = null;
    if (file.count > 1) {
      picker = document.createElement('select');
      picker.className = 'row-picker';
      picker.title = 'Row of the file';
      for (let i = 0; i < file.count; i += 1) picker.append(new Option(`#${i}`, i));
    }
    const layers = file.layers === null || file.layers === undefined ? 'default layers'
      : `layers ${formatLayers(file.layers)}`;
    const about = [file.description, file.path, `${file.count} row${file.count === 1 ? '' : 's'}`];
    const slider = makeSlider(container, 'file', {
      label: `${file.name} · ${layers}`,
      title: `${file.name}: ${about.filter(Boolean).join('; ')}`,
      min: range[0], max: range[1], step: (range[1] - range[0]) / 200,
      direction: {kind: 'file', name: file.name, index: 0},
      extra: picker, wide: true,
    });
    if (picker) {
      picker.addEventListener('change', () => {
        slider.direction = {kind: 'file', name: file.name, index: Number(picker.value)};
        scheduleRender();
      });
    }
  }
}

// ---------------------------------------------------------------- regions

function showBox(box) {
  editor.shownBox = box;
  const element = $('box');
  if (!box) {
    element.hidden = true;
    $('box-label').textContent = '';
    return;
  }
  const [row, col, height, width] = box;
  const top = row - Math.floor(height / 2);
  const left = col - Math.floor(width / 2);
  Object.assign(element.style, {
    top: `${(100 * top) / GRID}%`, left: `${(100 * left) / GRID}%`,
    height: `${(100 * height) / GRID}%`, width: `${(100 * width) / GRID}%`,
  });
  element.hidden = false;
  $('box-label').textContent = `box [${box.join(', ')}]`;
}

function jacobianDone() {
  const job = editor.jacobian;
  return !!job && job.key === sampleKey() && job.state === 'done';
}

function selectedRegion() {
  const value = $('region-select').value;
  if (value === DRAWN_BOX) return editor.box ? {box: editor.box} : null;
  return {region: value};
}

function showJacobian(job) {
  const running = job && job.state === 'running';
  $('jacobian-row').hidden = !job;
  if (job) {
    $('jacobian-progress').max = Math.max(job.total || 1, 1);
    $('jacobian-progress').value = job.done || 0;
    $('jacobian-count').textContent = `${job.done || 0}/${job.total || '?'} ${job.state}`;
  }
  $('jacobian-cancel').hidden = !running;
  $('jacobian-button').disabled = running || jacobianDone();
  $('jacobian-button').textContent = jacobianDone() ? 'Jacobian ready' : 'Compute Jacobian';
}

function stopPolling() {
  if (editor.pollTimer) clearTimeout(editor.pollTimer);
  editor.pollTimer = null;
  editor.pollSeq += 1;
}

async function computeJacobian() {
  stopPolling();
  const key = sampleKey();
  try {
    const job = await tracked(postJSON('/api/jacobian', sample()));
    editor.jacobian = Object.assign(job, {key});
    showJacobian(editor.jacobian);
    followJacobian();
  } catch (error) {
    report(error);
  }
}

function followJacobian() {
  const job = editor.jacobian;
  if (job.state === 'running') {
    setStatus('Computing the Jacobian of this sample…');
    editor.pollTimer = setTimeout(pollJacobian, POLL_MS);
  } else if (job.state === 'done') {
    setStatus('Jacobian ready.');
    computeRegion();
  } else if (job.state === 'cancelled') {
    setStatus('Jacobian cancelled.');
  } else {
    setStatus(`Jacobian failed: ${job.error || 'unknown error'}`, 'error');
  }
}

async function pollJacobian() {
  const job = editor.jacobian;
  const seq = editor.pollSeq;
  try {
    const answer = await getJSON(`/api/jacobian?id=${encodeURIComponent(job.id)}`);
    if (seq !== editor.pollSeq) return;   // cancelled, or the sample changed meanwhile
    editor.pollTimer = null;
    editor.jacobian = Object.assign(answer, {key: job.key});
    showJacobian(editor.jacobian);
    followJacobian();
  } catch (error) {
    if (seq !== editor.pollSeq) return;
    editor.pollTimer = null;
    report(error);
  }
}

async function cancelJacobian() {
  const job = editor.jacobian;
  if (!job) return;
  stopPolling();
  try {
    setStatus('Cancelling the Jacobian…');
    const answer = await tracked(postJSON('/api/jacobian/cancel', {id: job.id}));
    if (editor.jacobian !== job) return;
    editor.jacobian = Object.assign(job, {state: answer.state, done: answer.done});
    showJacobian(editor.jacobian);
    setStatus(`Jacobian ${answer.state}.`);
  } catch (error) {
    report(error);
  }
}

async function computeRegion() {
  const chosen = selectedRegion();
  if (!chosen) {
    setStatus('Draw a box on the image (drag over it), or pick a named region.', 'info');
    return;
  }
  const key = sampleKey();
  const count = Math.floor(Number($('region-count').value));
  const body = Object.assign(sample(), chosen, {count});
  const seq = ++editor.regionSeq;
  try {
    const answer = await tracked(postJSON('/api/region', body));
    if (seq !== editor.regionSeq) return;
    const note = `${chosen.region || 'Drawn box'}: ${answer.eigenvalues.length} directions of this sample.`;
    editor.region = {id: answer.id, key, box: answer.box, note};
    removeSliders('region');
    const container = $('region-sliders');
    answer.eigenvalues.forEach((eigenvalue, index) => {
      const share = answer.shares[index];
      const inside = share === null ? '?' : fmt(100 * share, 0);
      makeSlider(container, 'region', {
        label: `Direction ${index} (${fmt(eigenvalue)}) · ${inside}% in region`,
        title: `ReSeFa direction ${index} of ${chosen.region || 'the drawn box'}: eigenvalue ${eigenvalue}, `
          + `${inside}% of its pixel change inside the region`,
        min: -sliderSpan(), max: sliderSpan(), step: 0.05,
        direction: {kind: 'region', id: answer.id, index}, wide: true,
      });
    });
    showBox(answer.box);
    $('region-panel').classList.remove('stale');
    $('region-note').textContent = note;
    setStatus('Region directions ready.');
    scheduleRender();
  } catch (error) {
    if (seq === editor.regionSeq) report(error);
  }
}

// The Jacobian and the region directions belong to one sample: a new code, truncation or class makes them stale.
function updateSampleDependents() {
  const key = sampleKey();
  const job = editor.jacobian;
  if (job && job.key !== key) {
    if (job.state === 'running') {
      stopPolling();
      postJSON('/api/jacobian/cancel', {id: job.id}).catch(() => {});
    }
    editor.jacobian = null;
    showJacobian(null);
  }
  if (!editor.region) return;
  const stale = editor.region.key !== key;
  $('region-panel').classList.toggle('stale', stale);
  $('region-note').textContent = stale
    ? 'These directions were computed for another sample: compute the Jacobian of this one for its own.'
    : editor.region.note;
}

function regionChanged() {
  const value = $('region-select').value;
  if (value === DRAWN_BOX) showBox(editor.box);
  if (jacobianDone()) computeRegion();
  else if (value !== DRAWN_BOX) showBox(null);
}

// Drag a box on the overlay.
function setupOverlay() {
  const overlay = $('overlay');
  let start = null;
  const point = (event) => {
    const rect = overlay.getBoundingClientRect();
    return {
      x: Math.min(Math.max(event.clientX - rect.left, 0), rect.width),
      y: Math.min(Math.max(event.clientY - rect.top, 0), rect.height),
      size: rect.width,
    };
  };
  const toGrid = (a, b) => {
    const k = GRID / a.size;
    const top = Math.round(Math.min(a.y, b.y) * k), bottom = Math.round(Math.max(a.y, b.y) * k);
    const left = Math.round(Math.min(a.x, b.x) * k), right = Math.round(Math.max(a.x, b.x) * k);
    const height = bottom - top, width = right - left;
    return [top + Math.floor(height / 2), left + Math.floor(width / 2), height, width];
  };
  overlay.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    overlay.setPointerCapture(event.pointerId);
    start = point(event);
  });
  overlay.addEventListener('pointermove', (event) => {
    if (!start) return;
    const box = toGrid(start, point(event));
    if (box[2] > 0 && box[3] > 0) showBox(box);
  });
  const finish = (event) => {
    if (!start) return;
    const box = toGrid(start, point(event));
    start = null;
    if (box[2] < 2 || box[3] < 2) {  // a click, not a drag
      showBox($('region-select').value === DRAWN_BOX ? editor.box : editor.shownBox);
      return;
    }
    editor.box = box;
    $('region-select').value = DRAWN_BOX;
    showBox(box);
    if (jacobianDone()) computeRegion();
    else setStatus('Box drawn: compute the Jacobian of this sample to get its directions.');
  };
  overlay.addEventListener('pointerup', finish);
  overlay.addEventListener('pointercancel', () => { start = null; showBox(editor.box); });
}

// ---------------------------------------------------------------- export

function fileNameOf(response, fallback) {
  const header = response.headers.get('Content-Disposition') || '';
  const star = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename="?([^";]+)"?/i.exec(header);
  return plain ? plain[1] : fallback;
}

async function download(path, body, fallback) {
  try {
    const response = await tracked(request('POST', path, body));
    const blob = await response.blob();
    const name = fileNameOf(response, fallback);
    const link = $('download');
    const url = URL.createObjectURL(blob);
    link.href = url;
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    setStatus(`Saved ${name}.`);
  } catch (error) {
    report(error);
  }
}

function needSlider() {
  if (editor.lastSlider) return editor.lastSlider;
  setStatus('Move a slider first: the GIF and the direction export use the slider moved last.', 'error');
  return null;
}

function exportGif() {
  const slider = needSlider();
  if (!slider) return;
  const current = state(slider);
  const edit = current.edits.findIndex((e) => e.direction === slider.direction);
  download('/api/export/gif', {state: current, edit, steps: GIF_STEPS, start: slider.min, end: slider.max},
           'edit.gif');
}

function exportDirection() {
  const slider = needSlider();
  if (slider) download('/api/export/direction', {direction: slider.direction, layers: null}, 'direction.zip');
}

async function exportCommand() {
  try {
    const answer = await tracked(postJSON('/api/export/command', state()));
    $('command').value = answer.command;
    $('command').select();
    setStatus('Command ready.');
  } catch (error) {
    report(error);
  }
}

// ---------------------------------------------------------------- setup

function buildPage(info) {
  const model = info.model;
  const defaults = info.defaults || {};
  $('model-name').textContent = `${model.name} · ${model.family} · ${model.img_resolution}px`;
  $('model-note').textContent = model.random_weights ? 'random weights' : (model.description || '');
  $('model-note').title = model.description || '';
  document.title = `${model.name}: GAN semantics editor`;
  $('image').classList.toggle('pixelated', model.img_resolution < 384);

  if (defaults.truncation_psi !== undefined) $('truncation').value = defaults.truncation_psi;
  $('truncation-value').textContent = fmt($('truncation').value);
  if (defaults.seed !== undefined) $('seed').value = defaults.seed;
  editor.code = {kind: 'seed', seed: Math.floor(Number($('seed').value))};
  $('code-label').textContent = codeLabel();
  $('seed').classList.add('active');

  const projectable = model.has_mapping && !(model.c_dim > 0);
  $('project-row').hidden = !projectable;
  $('project-options').hidden = !projectable;
  $('class-row').hidden = !(model.c_dim > 0);
  if (model.c_dim > 0) {
    $('class').max = model.c_dim - 1;
    if (defaults.class !== undefined && defaults.class !== null) $('class').value = defaults.class;
  }

  const select = $('prepared-select');
  for (const entry of info.prepared) {
    select.append(new Option(`${entry.name} (${entry.count} ${entry.space})`, entry.name));
  }
  $('prepared-row').hidden = info.prepared.length === 0;
  if (info.prepared.length) $('prepared-index').textContent = `– of ${info.prepared[0].count}`;

  const groups = $('layer-groups');
  for (const group of info.layer_groups) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'small';
    button.textContent = group.name;
    button.title = `SeFa of layers ${formatLayers(group.layers)}`;
    button.addEventListener('click', () => {
      $('sefa-layers').value = group.layers;
      loadSefa();
    });
    groups.append(button);
  }

  const regions = $('region-select');
  regions.append(new Option('drawn box', DRAWN_BOX));
  for (const region of info.regions) regions.append(new Option(region, region));

  buildFileSliders();
}

function wire() {
  $('seed').addEventListener('change', seedCode);
  $('random').addEventListener('click', () => {
    $('seed').value = Math.floor(Math.random() * 2 ** 31);
    seedCode();
  });
  $('prepared-select').addEventListener('change', () => {
    editor.prepared = {name: null, index: 0};
    stepPrepared(0);
  });
  $('prepared-prev').addEventListener('click', () => stepPrepared(-1));
  $('prepared-next').addEventListener('click', () => stepPrepared(1));
  $('upload').addEventListener('change', uploadFile);
  $('project').addEventListener('change', projectImage);
  $('project-cancel').addEventListener('click', cancelProjection);
  $('upload-prev').addEventListener('click', () => stepUpload(-1));
  $('upload-next').addEventListener('click', () => stepUpload(1));
  const truncation = () => {
    $('truncation-value').textContent = fmt($('truncation').value);
    scheduleRender();
  };
  $('truncation').addEventListener('input', truncation);
  $('truncation').addEventListener('change', truncation);
  $('class').addEventListener('change', scheduleRender);

  $('sefa-layers').addEventListener('change', loadSefa);
  $('sefa-count').addEventListener('change', loadSefa);
  $('sefa-reset').addEventListener('click', () => resetSliders('sefa'));
  $('reset-all').addEventListener('click', () => resetSliders(null));

  $('region-select').addEventListener('change', regionChanged);
  $('region-count').addEventListener('change', () => { if (jacobianDone()) computeRegion(); });
  $('jacobian-button').addEventListener('click', computeJacobian);
  $('jacobian-cancel').addEventListener('click', cancelJacobian);
  setupOverlay();

  $('export-image').addEventListener('click', () => download('/api/export/image', state(), 'image.png'));
  $('export-gif').addEventListener('click', exportGif);
  $('export-direction').addEventListener('click', exportDirection);
  $('export-code').addEventListener('click', () => download('/api/export/code', state(), 'code.npy'));
  $('export-command').addEventListener('click', exportCommand);
}

async function start() {
  wire();
  try {
    editor.info = await tracked(getJSON('/api/info'));
  } catch (error) {
    report(error);
    return;
  }
  buildPage(editor.info);
  setStatus('Ready.');
  scheduleRender();
  await loadSefa();
}

start();
