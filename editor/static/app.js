// The editor page: builds the controls from /api/info and talks to the JSON API of docs/interface.md.
// Plain JavaScript, no framework, nothing fetched from outside the server.
//
// Sliders live in sets: one per SeFa layer choice, one per region (or drawn box) of one sample, one for the
// direction files. A set that is not shown keeps its sliders and their values, so edits of every kind
// combine and survive switching; the edit list shows every slider away from 0.
'use strict';

const GRID = 256;                    // boxes are on the 256-pixel grid of the ReSeFa reference
const DEFAULT_RANGE = [-10, 10];     // a file direction without a recommended distance range (manipulate.py's)
const POLL_MS = 300;
const GIF_STEPS = 9;
const DRAWN_BOX = '__box__';         // value of the "drawn box" choice of the region select

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const editor = {
  info: null,
  code: {kind: 'seed', seed: 0},
  prepared: {name: null, index: 0},
  upload: null,                      // {id, count, space, index, name}
  projection: null,                  // id of the image projection in progress
  sets: new Map(),                   // key -> {kind, key, label, element, sliders, ...}
  shown: {},                         // kind -> the set of that kind shown
  lastSlider: null,
  box: null,                         // drawn box, [center_row, center_col, height, width] on the grid
  shownBox: null,                    // box drawn on the overlay (drawn or the named region's)
  jacobian: null,                    // {id, key, state, done, total}
  latest: {},                        // kind -> number of the latest request of that kind
  // Rendering: at most one request in flight, only the latest state waits.
  inFlight: false,
  pending: null,
  shownKey: null,
  sentKey: null,
  renders: 0,
  busy: 0,                           // other requests and polls in progress
  get idle() { return !this.inFlight && !this.pending && this.busy === 0; },
  get sliders() { return [...this.sets.values()].flatMap((set) => set.sliders); },
};
window.editor = editor;

// ---------------------------------------------------------------- API helpers

// The answer of one request (parsed as `as`: 'json', 'blob', or null for the response itself).
async function api(method, path, body, {raw = false, as = 'json'} = {}) {
  const options = {method, headers: {}};
  if (body !== undefined) {
    options.body = raw ? body : JSON.stringify(body);
    options.headers['Content-Type'] = raw ? 'application/octet-stream' : 'application/json';
  }
  editor.busy += 1;
  try {
    const response = await fetch(path, options);
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      throw new Error(answer.error || `${response.status} ${response.statusText}`);
    }
    return as ? await response[as]() : response;
  } finally {
    editor.busy -= 1;
  }
}

// "Latest answer wins": the returned check stays true until a newer request of the same kind starts.
function latest(kind) {
  const number = (editor.latest[kind] || 0) + 1;
  editor.latest[kind] = number;
  return () => editor.latest[kind] === number;
}

// Follow a task of the server (a Jacobian, a projection) until it ends, showing its progress.
// Answers the task as it ended, or null once `current()` turns false (a newer task replaced it).
async function follow(path, job, show, current) {
  editor.busy += 1;
  try {
    for (;;) {
      show(job);
      if (job.state !== 'running') return job;
      await sleep(POLL_MS);
      const next = current() && await api('GET', `${path}?id=${encodeURIComponent(job.id)}`);
      if (!current()) return null;
      job = next;
    }
  } finally {
    editor.busy -= 1;
  }
}

function setStatus(message, kind) {
  $('status').textContent = message;
  $('status').className = kind || 'info';
}

function report(error) {
  setStatus(error.message || String(error), 'error');
}

const fmt = (value, digits = 2) => Number(value).toFixed(digits);
const span = () => editor.info.defaults.distance;

function formatLayers(layers) {  // [0, 1, 2, 3, 6] -> "0-3,6"
  if (!Array.isArray(layers)) return layers === null || layers === undefined ? 'all' : String(layers);
  const parts = [];
  for (let i = 0, j = 0; i < layers.length; i = j + 1) {
    for (j = i; j + 1 < layers.length && layers[j + 1] === layers[j] + 1;) j += 1;
    parts.push(j > i ? `${layers[i]}-${layers[j]}` : `${layers[i]}`);
  }
  return parts.join(',');
}

// ---------------------------------------------------------------- state

function sample() {
  return {
    code: editor.code,
    truncation_psi: Number($('truncation').value),
    class: editor.info.model.c_dim > 0 ? Number($('class').value) : null,
  };
}

const sampleKey = () => JSON.stringify(sample());

function edits(include) {
  return editor.sliders
    .filter((s) => Number(s.input.value) !== 0 || s === include)
    .map((s) => ({direction: s.direction, distance: Number(s.input.value), layers: null}));
}

const state = (include) => Object.assign(sample(), {edits: edits(include)});

// ---------------------------------------------------------------- rendering

function scheduleRender() {
  updateSampleDependents();
  showEdits();
  const next = state();
  const key = JSON.stringify(next);
  if (editor.inFlight) {
    editor.pending = key === editor.sentKey ? null : next;
  } else if (key !== editor.shownKey) {
    sendRender(next, key);
  }
}

async function sendRender(next, key) {
  editor.inFlight = true;
  editor.sentKey = key;
  try {
    const response = await api('POST', '/api/render', next, {as: null});
    const url = URL.createObjectURL(await response.blob());
    const image = $('image');
    const old = image.src;
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
    if (pending && JSON.stringify(pending) !== editor.shownKey) sendRender(pending, JSON.stringify(pending));
  }
}

// ---------------------------------------------------------------- sliders and their sets

function sliderSet(kind, key, label, container) {
  let set = editor.sets.get(key);
  if (!set) {
    const element = document.createElement('div');
    element.className = 'sliders';
    container.append(element);
    set = {kind, key, label, element, sliders: []};
    editor.sets.set(key, set);
  }
  return set;
}

function showSet(kind, set) {
  for (const other of editor.sets.values()) {
    if (other.kind === kind) other.element.hidden = other !== set;
  }
  editor.shown[kind] = set;
}

// The set's sliders become those of `entries` ({label, short, title, min, max, step, direction, wide, extra});
// sliders it already has keep their values.
function fillSet(set, entries) {
  entries.forEach((entry, index) => {
    const slider = set.sliders[index] || makeSlider(set, entry);
    slider.direction = entry.direction;
    slider.short = entry.short;
    slider.name.textContent = entry.label;
    slider.name.title = `${entry.title || entry.label} (double-click: back to 0)`;
  });
  for (const slider of set.sliders.splice(entries.length)) {
    slider.row.remove();
    if (editor.lastSlider === slider) editor.lastSlider = null;
  }
}

function makeSlider(set, options) {
  const row = document.createElement('div');
  row.className = options.wide ? 'slider-row wide' : 'slider-row';
  const name = document.createElement('label');
  const input = Object.assign(document.createElement('input'), {
    type: 'range', min: options.min, max: options.max, step: options.step, value: 0,
    id: `slider-${editor.sliders.length}-${Math.random().toString(36).slice(2, 8)}`,
  });
  name.htmlFor = input.id;
  const output = document.createElement('output');
  output.htmlFor = input.id;
  output.textContent = fmt(0);
  row.append(name, input, output);
  if (options.extra) row.append(options.extra);
  set.element.append(row);
  const slider = {set, input, output, row, name, min: Number(options.min), max: Number(options.max)};
  const moved = () => {
    output.textContent = fmt(input.value);
    editor.lastSlider = slider;
    scheduleRender();
  };
  input.addEventListener('input', moved);
  input.addEventListener('change', moved);
  name.addEventListener('dblclick', () => { input.value = 0; moved(); });
  set.sliders.push(slider);
  return slider;
}

function resetSliders(kind) {
  for (const slider of editor.sliders) {
    if (kind && slider.set.kind !== kind) continue;
    slider.input.value = 0;
    slider.output.textContent = fmt(0);
  }
  scheduleRender();
}

// The list of edits (every slider away from 0, shown or not), and which regions hold some.
function showEdits() {
  const moved = editor.sliders.filter((s) => Number(s.input.value) !== 0);
  $('edit-list').replaceChildren(...moved.map((slider) => {
    const item = document.createElement('li');
    item.textContent = `${slider.set.label} · ${slider.short}: ${fmt(slider.input.value)}`;
    const clear = Object.assign(document.createElement('button'), {type: 'button', className: 'small', textContent: '×',
                                                                   title: 'Back to 0'});
    clear.addEventListener('click', () => {
      slider.input.value = 0;
      slider.output.textContent = fmt(0);
      scheduleRender();
    });
    item.append(clear);
    return item;
  }));
  $('edit-note').hidden = moved.length > 0;
  const holding = new Set(moved.filter((s) => s.set.kind === 'region').map((s) => s.set.choice));
  for (const option of $('region-select').options) {
    option.textContent = (option.value === DRAWN_BOX ? 'drawn box' : option.value) + (holding.has(option.value) ? ' •' : '');
  }
  const last = editor.lastSlider;
  $('last-slider').textContent = last ? `GIF: ${last.set.label} · ${last.short}` : 'No slider moved yet.';
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
  const active = {seed: 'seed', prepared: 'prepared-select', upload: 'upload'}[code.kind];
  for (const id of ['seed', 'prepared-select', 'upload']) $(id).classList.toggle('active', id === active);
  scheduleRender();
}

function seedCode() {
  const seed = Math.floor(Number($('seed').value));
  if (!Number.isFinite(seed) || seed < 0 || seed > 4294967295) {
    setStatus('The seed is a whole number from 0 to 4294967295.', 'error');
  } else {
    setCode({kind: 'seed', seed});
  }
}

function stepPrepared(delta) {
  const entry = editor.info.prepared.find((p) => p.name === $('prepared-select').value);
  if (!entry) return;
  const index = editor.prepared.name === entry.name ? (editor.prepared.index + delta + entry.count) % entry.count : 0;
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

function useUpload(answer, name, label) {
  editor.upload = {id: answer.id, count: answer.count, space: answer.space, index: -1, name};
  $('upload-row').hidden = false;
  $('upload-label').textContent = label;
  stepUpload(1);
}

async function uploadFile() {
  const file = $('upload').files[0];
  if (!file) return;
  try {
    const answer = await api('POST', `/api/upload?name=${encodeURIComponent(file.name)}`, await file.arrayBuffer(),
                             {raw: true});
    setStatus(`Uploaded ${file.name}.`);
    useUpload(answer, file.name, `${file.name}: ${answer.count} ${answer.space} code${answer.count === 1 ? '' : 's'}`);
  } catch (error) {
    report(error);
  } finally {
    $('upload').value = '';
  }
}

async function projectImage() {
  const file = $('project').files[0];
  if (!file) return;
  const steps = Math.max(1, Math.floor(Number($('project-steps').value) || editor.info.defaults.projection_steps));
  const space = $('project-space').value;
  const current = latest('projection');
  try {
    let job = await api('POST', `/api/invert?steps=${steps}&space=${space}`, await file.arrayBuffer(), {raw: true});
    editor.projection = job.id;
    $('project-cancel').hidden = false;
    $('project-progress-row').hidden = false;
    setStatus(`Projecting ${file.name} into ${space === 'wp' ? 'w+' : 'w'}: ${steps} steps…`);
    job = await follow('/api/invert', job, (j) => {
      $('project-progress').value = j.done / j.total;
      $('project-count').textContent = `${j.done}/${j.total} ${j.state === 'running' ? 'steps' : j.state}`;
    }, current);
    $('project-cancel').hidden = true;
    if (!job) return;
    if (job.state === 'done') {
      const psnr = `PSNR ${fmt(job.psnr, 1)} dB`;
      setStatus(`Projected ${file.name} in ${job.total} steps: ${psnr}. Its code is shown; edit it with the sliders.`);
      useUpload(job.upload, `${file.name} (projected)`, `${file.name}: projected, ${psnr}`);
    } else {
      setStatus(job.state === 'failed' ? `Projection failed: ${job.error}` : 'Projection cancelled.',
                job.state === 'failed' ? 'error' : 'info');
    }
  } catch (error) {
    report(error);
  } finally {
    $('project').value = '';
  }
}

// ---------------------------------------------------------------- SeFa and files

async function loadSefa() {
  const layers = $('sefa-layers').value.trim() || 'all';
  const current = latest('sefa');
  try {
    const answer = await api('POST', '/api/sefa', {layers, count: Math.floor(Number($('sefa-count').value))});
    if (!current()) return;
    const text = formatLayers(answer.layers);
    const set = sliderSet('sefa', `sefa ${text}`, `SeFa ${text}`, $('sefa-sliders'));
    fillSet(set, answer.eigenvalues.map((eigenvalue, index) => ({
      label: `Semantic ${index} (${fmt(eigenvalue)})`, short: `Semantic ${index}`,
      title: `SeFa direction ${index} of layers ${text}, eigenvalue ${eigenvalue}`,
      min: -span(), max: span(), step: 0.05, direction: {kind: 'sefa', layers: text, index},
    })));
    showSet('sefa', set);
    $('sefa-note').textContent = `Layers ${text}`;
    $('sefa-layers').classList.remove('invalid');
    scheduleRender();
  } catch (error) {
    if (!current()) return;
    $('sefa-layers').classList.add('invalid');
    report(error);
  }
}

function buildFileSliders() {
  const files = editor.info.files;
  if (!files.length) $('file-sliders').innerHTML = '<div class="note">No direction files for this model.</div>';
  const set = sliderSet('file', 'files', 'File', $('file-sliders'));
  fillSet(set, files.map((file) => {
    const range = file.distance_range || DEFAULT_RANGE;
    const layers = file.layers ? `layers ${formatLayers(file.layers)}` : 'default layers';
    const about = [file.description, file.path, `${file.count} row${file.count === 1 ? '' : 's'}`];
    const picker = file.count > 1 ? Object.assign(document.createElement('select'), {className: 'row-picker',
                                                                                      title: 'Row of the file'}) : null;
    for (let i = 0; picker && i < file.count; i += 1) picker.append(new Option(`#${i}`, i));
    return {label: `${file.name} · ${layers}`, short: file.name, title: `${file.name}: ${about.filter(Boolean).join('; ')}`,
            min: range[0], max: range[1], step: (range[1] - range[0]) / 200, wide: true, extra: picker,
            direction: {kind: 'file', name: file.name, index: 0}};
  }));
  set.sliders.forEach((slider, i) => {
    const picker = slider.row.querySelector('select');
    if (!picker) return;
    picker.addEventListener('change', () => {
      slider.direction = {kind: 'file', name: files[i].name, index: Number(picker.value)};
      slider.short = `${files[i].name} #${picker.value}`;
      scheduleRender();
    });
  });
}

// ---------------------------------------------------------------- regions

function showBox(box) {
  editor.shownBox = box;
  $('box').hidden = !box;
  $('box-label').textContent = box ? `box [${box.join(', ')}]` : '';
  if (!box) return;
  const [row, col, height, width] = box;
  Object.assign($('box').style, {
    top: `${(100 * (row - Math.floor(height / 2))) / GRID}%`, left: `${(100 * (col - Math.floor(width / 2))) / GRID}%`,
    height: `${(100 * height) / GRID}%`, width: `${(100 * width) / GRID}%`,
  });
}

const jacobianDone = () => !!editor.jacobian && editor.jacobian.key === sampleKey() && editor.jacobian.state === 'done';

function selectedRegion() {
  const value = $('region-select').value;
  if (value === DRAWN_BOX) return editor.box ? {box: editor.box} : null;
  return {region: value};
}

function showJacobian(job) {
  $('jacobian-row').hidden = !job;
  if (job) {
    $('jacobian-progress').max = Math.max(job.total || 1, 1);
    $('jacobian-progress').value = job.done || 0;
    $('jacobian-count').textContent = `${job.done || 0}/${job.total || '?'} ${job.state}`;
  }
  $('jacobian-cancel').hidden = !(job && job.state === 'running');
  $('jacobian-button').disabled = !!job && (job.state === 'running' || jacobianDone());
  $('jacobian-button').textContent = jacobianDone() ? 'Jacobian ready' : 'Compute Jacobian';
}

async function computeJacobian() {
  const current = latest('jacobian');
  const key = sampleKey();
  try {
    const started = await api('POST', '/api/jacobian', sample());
    setStatus('Computing the Jacobian of this sample…');
    const job = await follow('/api/jacobian', started, (j) => {
      editor.jacobian = Object.assign(j, {key});
      showJacobian(j);
    }, current);
    if (!job) return;
    if (job.state === 'done') {
      setStatus('Jacobian ready.');
      computeRegion();
    } else {
      setStatus(job.state === 'failed' ? `Jacobian failed: ${job.error}` : 'Jacobian cancelled.',
                job.state === 'failed' ? 'error' : 'info');
    }
  } catch (error) {
    if (current()) report(error);
  }
}

async function cancelTask(path, id) {
  try {
    if (id) await api('POST', path, {id});
  } catch (error) {
    report(error);
  }
}

async function computeRegion() {
  const chosen = selectedRegion();
  if (!chosen) {
    setStatus('Draw a box on the image (drag over it), or pick a named region.');
    return;
  }
  const key = sampleKey();
  const current = latest('region');
  try {
    const body = Object.assign(sample(), chosen, {count: Math.floor(Number($('region-count').value))});
    const answer = await api('POST', '/api/region', body);
    if (!current()) return;
    const name = chosen.region || `box [${answer.box.join(', ')}]`;
    const set = sliderSet('region', `${key} ${answer.name}`, `${name} · ${codeLabel()}`, $('region-sliders'));
    Object.assign(set, {sample: key, choice: chosen.region || DRAWN_BOX, box: answer.box,
                        note: `${name}: ${answer.eigenvalues.length} directions of this sample.`});
    fillSet(set, answer.eigenvalues.map((eigenvalue, index) => {
      const inside = answer.shares[index] === null ? '?' : fmt(100 * answer.shares[index], 0);
      return {label: `Direction ${index} (${fmt(eigenvalue)}) · ${inside}% in region`, short: `Direction ${index}`,
              title: `ReSeFa direction ${index} of ${name}: eigenvalue ${eigenvalue}, ${inside}% of its pixel change `
                + 'inside the region',
              min: -span(), max: span(), step: 0.05, direction: {kind: 'region', id: answer.id, index}, wide: true};
    }));
    showSet('region', set);
    showBox(answer.box);
    setStatus('Region directions ready.');
    scheduleRender();
  } catch (error) {
    if (current()) report(error);
  }
}

// The Jacobian and the region directions belong to one sample: a new code, truncation or class makes them stale
// (the directions still apply to it: their edits stay).
function updateSampleDependents() {
  const key = sampleKey();
  const job = editor.jacobian;
  if (job && job.key !== key) {
    latest('jacobian');  // stops following it
    if (job.state === 'running') cancelTask('/api/jacobian/cancel', job.id);
    editor.jacobian = null;
    showJacobian(null);
  }
  const set = editor.shown.region;
  $('region-panel').classList.toggle('stale', !!set && set.sample !== key);
  $('region-note').textContent = !set ? 'Drag on the image to draw a box, or pick a named region.'
    : set.sample === key ? set.note
      : 'These directions were computed for another sample: compute the Jacobian of this one for its own.';
}

function regionChanged() {
  if (jacobianDone()) {
    computeRegion();
    return;
  }
  const value = $('region-select').value;
  showSet('region', null);
  showBox(value === DRAWN_BOX ? editor.box : editor.info.region_boxes[value]);
  updateSampleDependents();
}

// Drag a box on the overlay.
function setupOverlay() {
  const overlay = $('overlay');
  let start = null;
  const point = (event) => {
    const rect = overlay.getBoundingClientRect();
    return {x: Math.min(Math.max(event.clientX - rect.left, 0), rect.width),
            y: Math.min(Math.max(event.clientY - rect.top, 0), rect.height), size: rect.width};
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
    const box = start && toGrid(start, point(event));
    if (box && box[2] > 0 && box[3] > 0) showBox(box);
  });
  overlay.addEventListener('pointerup', (event) => {
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
  });
  overlay.addEventListener('pointercancel', () => { start = null; showBox(editor.box); });
}

// ---------------------------------------------------------------- export

async function download(path, body, fallback) {
  try {
    const response = await api('POST', path, body, {as: null});
    const url = URL.createObjectURL(await response.blob());
    const found = /filename="?([^";]+)"?/i.exec(response.headers.get('Content-Disposition') || '');
    const link = $('download');
    link.href = url;
    link.download = found ? found[1] : fallback;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    setStatus(`Saved ${link.download}.`);
    return response;
  } catch (error) {
    report(error);
    return null;
  }
}

function exportGif() {
  const slider = editor.lastSlider;
  if (!slider) {
    setStatus('Move a slider first: the GIF sweeps the slider moved last.', 'error');
    return;
  }
  const current = state(slider);
  const edit = current.edits.findIndex((e) => e.direction === slider.direction);
  download('/api/export/gif', {state: current, edit, steps: GIF_STEPS, start: slider.min, end: slider.max}, 'edit.gif');
}

async function exportEdit() {
  const response = await download('/api/export/edit', state(), 'edit.zip');
  if (response) $('command').value = response.headers.get('X-Replay-Command');
}

// ---------------------------------------------------------------- setup

function buildPage(info) {
  const model = info.model;
  const defaults = info.defaults;
  $('model-name').textContent = `${model.name} · ${model.family} · ${model.img_resolution}px`;
  $('model-note').textContent = model.random_weights ? 'random weights' : (model.description || '');
  $('model-note').title = model.description || '';
  document.title = `${model.name}: GAN semantics editor`;
  $('image').classList.toggle('pixelated', model.img_resolution < 384);
  $('truncation').value = defaults.truncation_psi;
  $('truncation-value').textContent = fmt($('truncation').value);
  $('project-steps').value = defaults.projection_steps;
  setCode({kind: 'seed', seed: Math.floor(Number($('seed').value))});

  const projectable = model.has_mapping && !(model.c_dim > 0);
  $('project-row').hidden = !projectable;
  $('project-options').hidden = !projectable;
  $('class-row').hidden = !(model.c_dim > 0);
  if (model.c_dim > 0) $('class').max = model.c_dim - 1;

  for (const entry of info.prepared) {
    $('prepared-select').append(new Option(`${entry.name} (${entry.count} ${entry.space})`, entry.name));
  }
  $('prepared-row').hidden = info.prepared.length === 0;
  if (info.prepared.length) $('prepared-index').textContent = `– of ${info.prepared[0].count}`;

  for (const group of info.layer_groups) {
    const button = Object.assign(document.createElement('button'), {type: 'button', className: 'small',
                                                                     textContent: group.name});
    button.title = `SeFa of layers ${group.layers}`;
    button.addEventListener('click', () => {
      $('sefa-layers').value = group.layers;
      loadSefa();
    });
    $('layer-groups').append(button);
  }
  $('region-select').append(new Option('drawn box', DRAWN_BOX));
  for (const region of info.regions) $('region-select').append(new Option(region, region));
  buildFileSliders();
}

function wire() {
  const on = (id, event, handler) => $(id).addEventListener(event, handler);
  on('seed', 'change', seedCode);
  on('random', 'click', () => {
    $('seed').value = Math.floor(Math.random() * 2 ** 31);
    seedCode();
  });
  on('prepared-select', 'change', () => {
    editor.prepared = {name: null, index: 0};
    stepPrepared(0);
  });
  on('prepared-prev', 'click', () => stepPrepared(-1));
  on('prepared-next', 'click', () => stepPrepared(1));
  on('upload', 'change', uploadFile);
  on('project', 'change', projectImage);
  on('project-cancel', 'click', () => cancelTask('/api/invert/cancel', editor.projection));
  on('upload-prev', 'click', () => stepUpload(-1));
  on('upload-next', 'click', () => stepUpload(1));
  const truncation = () => {
    $('truncation-value').textContent = fmt($('truncation').value);
    scheduleRender();
  };
  on('truncation', 'input', truncation);
  on('truncation', 'change', truncation);
  on('class', 'change', scheduleRender);

  on('sefa-layers', 'change', loadSefa);
  on('sefa-count', 'change', loadSefa);
  on('sefa-reset', 'click', () => resetSliders('sefa'));
  on('region-reset', 'click', () => resetSliders('region'));
  on('reset-all', 'click', () => resetSliders(null));

  on('region-select', 'change', regionChanged);
  on('region-count', 'change', () => { if (jacobianDone()) computeRegion(); });
  on('jacobian-button', 'click', computeJacobian);
  on('jacobian-cancel', 'click', () => cancelTask('/api/jacobian/cancel', editor.jacobian && editor.jacobian.id));
  setupOverlay();

  on('export-image', 'click', () => download('/api/export/image', state(), 'image.png'));
  on('export-gif', 'click', exportGif);
  on('export-edit', 'click', exportEdit);
  on('export-code', 'click', () => download('/api/export/code', state(), 'code.npy'));
}

async function start() {
  wire();
  try {
    editor.info = await api('GET', '/api/info');
  } catch (error) {
    report(error);
    return;
  }
  buildPage(editor.info);
  setStatus('Ready.');
  await loadSefa();
}

start();
