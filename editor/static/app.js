// The editor page: builds the controls from /api/info and talks to the JSON API of docs/interface.md.
// Plain JavaScript, no framework, nothing fetched from outside the server.
//
// Sliders live in sets: one per SeFa layer choice, one per region (or drawn box) of one sample, one for the files.
// A set not shown keeps its sliders and values: edits of every kind combine and survive switching.
'use strict';

const GRID = 256;                    // boxes are on the 256-pixel grid of the ReSeFa reference
const DEFAULT_RANGE = [-10, 10];     // a file direction without a recommended distance range (manipulate.py's)
const POLL_MS = 300;
const GIF_STEPS = 9;
const DRAWN_BOX = '__box__';         // value of the "drawn box" choice of the region select

const $ = (id) => document.getElementById(id);
const el = (tag, properties, ...children) => {
  const element = Object.assign(document.createElement(tag), properties);
  element.append(...children.filter(Boolean));
  return element;
};

const editor = {
  info: null,                        // what /api/info says
  code: {kind: 'seed', seed: 0},     // the code shown
  codes: {},                         // kind ('prepared', 'upload') -> {name, count, index, label}: rows to step through
  projection: null,                  // id of the image projection in progress
  sets: new Map(),                   // key -> {kind, key, label, element, sliders, ...}
  shown: {},                         // kind -> the set of that kind shown
  lastSlider: null,
  box: null,                         // drawn box, [center_row, center_col, height, width] on the grid
  shownBox: null,                    // box drawn on the overlay (drawn or the named region's)
  jacobian: null,                    // {id, key, state, done, total}
  latest: {},                        // kind -> number of the latest request of that kind
  // Rendering: at most one request in flight, only the latest state waits (pending).
  inFlight: false, pending: null, shownKey: null, sentKey: null, renders: 0,
  busy: 0,                           // other requests and polls in progress
  get idle() { return !this.inFlight && !this.pending && this.busy === 0; },
  get sliders() { return [...this.sets.values()].flatMap((set) => set.sliders); },
};
window.editor = editor;

// ---------------------------------------------------------------- API helpers

// The answer of one request (parsed as `as`: 'json', 'blob', or null for the response itself).
async function api(method, path, body, {raw = false, as = 'json'} = {}) {
  const headers = {'Content-Type': raw ? 'application/octet-stream' : 'application/json'};
  editor.busy += 1;
  try {
    const response = await fetch(path, body === undefined ? {method}
      : {method, headers, body: raw ? body : JSON.stringify(body)});
    if (!response.ok) {
      throw new Error((await response.json().catch(() => ({}))).error || `${response.status} ${response.statusText}`);
    }
    return as ? await response[as]() : response;
  } finally {
    editor.busy -= 1;
  }
}

// "Latest answer wins": the returned check stays true until a newer request of the same kind starts.
function latest(kind) {
  const number = editor.latest[kind] = (editor.latest[kind] || 0) + 1;
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
      await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
      const next = current() && await api('GET', `${path}?id=${encodeURIComponent(job.id)}`);
      if (!current()) return null;
      job = next;
    }
  } finally {
    editor.busy -= 1;
  }
}

const setStatus = (message, kind = 'info') => Object.assign($('status'), {textContent: message, className: kind});
const report = (error) => { setStatus(error.message || String(error), 'error'); };

const fmt = (value, digits = 2) => Number(value).toFixed(digits);
const span = () => editor.info.defaults.distance;

// ---------------------------------------------------------------- state

const sample = () => ({code: editor.code, truncation_psi: Number($('truncation').value),
                       class: editor.info.model.c_dim > 0 ? Number($('class').value) : null});

const sampleKey = () => JSON.stringify(sample());

// The state the image shows: the sample, and every slider away from 0 (and `include`, for a GIF of it).
const state = (include) => ({...sample(), edits: editor.sliders
  .filter((s) => Number(s.input.value) !== 0 || s === include)
  .map((s) => ({direction: s.direction, distance: Number(s.input.value), layers: null}))});

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
    const image = $('image'), old = image.src;
    image.src = URL.createObjectURL(await response.blob());
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

function sliderSet(kind, key, label, container) {  // the set of `key`, made (empty) if new
  if (!editor.sets.has(key)) {
    const element = container.appendChild(el('div', {className: 'sliders'}));
    editor.sets.set(key, {kind, key, label, element, sliders: []});
  }
  return editor.sets.get(key);
}

function showSet(kind, set) {  // show `set` (or none), hide the other sets of its kind
  editor.sets.forEach((other) => { if (other.kind === kind) other.element.hidden = other !== set; });
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
  const id = `slider-${editor.sliders.length}-${Math.random().toString(36).slice(2, 8)}`;
  const input = el('input', {type: 'range', id, min: options.min, max: options.max, step: options.step, value: 0});
  const name = el('label', {htmlFor: id});
  const output = el('output', {htmlFor: id, textContent: fmt(0)});
  const row = el('div', {className: `slider-row${options.wide ? ' wide' : ''}`}, name, input, output, options.extra);
  set.element.append(row);
  const slider = {set, input, output, row, name, min: Number(options.min), max: Number(options.max)};
  const moved = () => {
    output.textContent = fmt(input.value);
    editor.lastSlider = slider;
    scheduleRender();
  };
  input.addEventListener('input', moved);
  input.addEventListener('change', moved);
  name.addEventListener('dblclick', () => setSlider(slider, 0));
  set.sliders.push(slider);
  return slider;
}

function setSlider(slider, value) {
  slider.input.value = value;
  slider.output.textContent = fmt(value);
  scheduleRender();
}

function resetSliders(kind) {
  editor.sliders.filter((slider) => !kind || slider.set.kind === kind).forEach((slider) => setSlider(slider, 0));
}

// The list of edits (every slider away from 0, shown or not), and which regions hold some.
function showEdits() {
  const moved = editor.sliders.filter((s) => Number(s.input.value) !== 0);
  $('edit-list').replaceChildren(...moved.map((slider) => {
    const clear = el('button', {type: 'button', className: 'small', textContent: '×', title: 'Back to 0'});
    clear.addEventListener('click', () => setSlider(slider, 0));
    return el('li', {}, `${slider.set.label} · ${slider.short}: ${fmt(slider.input.value)}`, clear);
  }));
  $('edit-note').hidden = moved.length > 0;
  const holding = new Set(moved.filter((s) => s.set.kind === 'region').map((s) => s.set.choice));
  for (const option of $('region-select').options) {
    const name = option.value === DRAWN_BOX ? 'drawn box' : option.value;
    option.textContent = holding.has(option.value) ? `${name} •` : name;
  }
  const last = editor.lastSlider;
  $('last-slider').textContent = last ? `GIF: ${last.set.label} · ${last.short}` : 'No slider moved yet.';
}

// ---------------------------------------------------------------- codes

function codeLabel() {
  const code = editor.code;
  if (code.kind === 'seed') return `seed ${code.seed}`;
  return `${code.kind === 'prepared' ? code.name : editor.codes.upload.label} #${code.index}`;
}

function setCode(code) {
  editor.code = code;
  $('code-label').textContent = codeLabel();
  const active = {seed: 'seed', prepared: 'prepared-select', upload: 'upload'}[code.kind];
  for (const id of ['seed', 'prepared-select', 'upload']) $(id).classList.toggle('active', id === active);
  scheduleRender();
}

function seedCode() {  // the seeds of the scripts' --seed
  const seed = Math.floor(Number($('seed').value));
  if (Number.isFinite(seed) && seed >= 0 && seed <= 4294967295) setCode({kind: 'seed', seed});
  else setStatus('The seed is a whole number from 0 to 4294967295.', 'error');
}

// Step through the rows of a file of codes: the prepared codes chosen, or the upload.
function stepCodes(kind, delta) {
  const codes = editor.codes[kind];
  if (!codes) return;
  codes.index = (codes.index + delta + codes.count) % codes.count;
  $(`${kind}-index`).textContent = `#${codes.index} of ${codes.count}`;
  setCode({kind, [kind === 'prepared' ? 'name' : 'id']: codes.name, index: codes.index});
}

function useUpload(answer, label, note) {
  editor.codes.upload = {name: answer.id, count: answer.count, index: -1, label};
  $('upload-row').hidden = false;
  $('upload-label').textContent = note;
  stepCodes('upload', 1);
}

async function uploadFile() {
  const file = $('upload').files[0];
  if (!file) return;
  const bytes = await file.arrayBuffer();
  $('upload').value = '';
  const path = `/api/upload?name=${encodeURIComponent(file.name)}`;
  const answer = await api('POST', path, bytes, {raw: true}).catch(report);
  if (!answer) return;
  setStatus(`Uploaded ${file.name}.`);
  useUpload(answer, file.name, `${file.name}: ${answer.count} ${answer.space} code${answer.count === 1 ? '' : 's'}`);
}

async function projectImage() {
  const file = $('project').files[0];
  if (!file) return;
  const bytes = await file.arrayBuffer();
  $('project').value = '';
  const steps = Math.max(1, Math.floor(Number($('project-steps').value) || editor.info.defaults.projection_steps));
  const space = $('project-space').value;
  try {
    const started = await api('POST', `/api/invert?steps=${steps}&space=${space}`, bytes, {raw: true});
    editor.projection = started.id;
    $('project-cancel').hidden = $('project-progress-row').hidden = false;
    setStatus(`Projecting ${file.name} into ${space === 'wp' ? 'w+' : 'w'}: ${steps} steps…`);
    const job = await follow('/api/invert', started, (j) => {
      $('project-progress').value = j.done / j.total;
      $('project-count').textContent = `${j.done}/${j.total} ${j.state === 'running' ? 'steps' : j.state}`;
    }, latest('projection'));
    $('project-cancel').hidden = true;
    if (job?.state === 'done') {
      const psnr = `PSNR ${fmt(job.psnr, 1)} dB`;
      setStatus(`Projected ${file.name} in ${job.total} steps: ${psnr}. Its code is shown; edit it with the sliders.`);
      useUpload(job.upload, `${file.name} (projected)`, `${file.name}: projected, ${psnr}`);
    } else if (job) {
      ended('Projection', job);
    }
  } catch (error) {
    report(error);
  }
}

// ---------------------------------------------------------------- SeFa and files

async function loadSefa() {
  const layers = $('sefa-layers').value.trim() || 'all';
  const current = latest('sefa');
  try {
    const answer = await api('POST', '/api/sefa', {layers, count: Math.floor(Number($('sefa-count').value))});
    if (!current()) return;
    const text = answer.text;  // the layers, as '0-3,6'
    $('sefa-note').textContent = `Layers ${text}`;
    $('sefa-layers').classList.remove('invalid');
    const set = sliderSet('sefa', `sefa ${text}`, `SeFa ${text}`, $('sefa-sliders'));
    fillSet(set, answer.eigenvalues.map((eigenvalue, index) => ({
      label: `Semantic ${index} (${fmt(eigenvalue)})`, short: `Semantic ${index}`,
      title: `SeFa direction ${index} of layers ${text}, eigenvalue ${eigenvalue}`,
      min: -span(), max: span(), step: 0.05, direction: {kind: 'sefa', layers: text, index},
    })));
    showSet('sefa', set);
    scheduleRender();
  } catch (error) {
    if (!current()) return;
    $('sefa-layers').classList.add('invalid');
    report(error);
  }
}

function buildFileSliders(files) {
  if (!files.length) $('file-sliders').append(el('div', {className: 'note'}, 'No direction files for this model.'));
  const set = sliderSet('file', 'files', 'File', $('file-sliders'));
  fillSet(set, files.map((file) => {
    const range = file.distance_range || DEFAULT_RANGE;
    const about = [file.description, file.path, `${file.count} row${file.count === 1 ? '' : 's'}`];
    const rows = [...Array(file.count).keys()].map((i) => new Option(`#${i}`, i));
    return {label: `${file.name} · ${file.layers ? `layers ${file.layers.join(',')}` : 'default layers'}`,
            short: file.name, title: `${file.name}: ${about.filter(Boolean).join('; ')}`, min: range[0], max: range[1],
            step: (range[1] - range[0]) / 200, direction: {kind: 'file', name: file.name, index: 0}, wide: true,
            extra: file.count > 1 && el('select', {className: 'row-picker', title: 'Row of the file'}, ...rows)};
  }));
  set.sliders.forEach((slider, i) => slider.row.querySelector('select')?.addEventListener('change', (event) => {
    slider.direction = {kind: 'file', name: files[i].name, index: Number(event.target.value)};
    slider.short = `${files[i].name} #${event.target.value}`;
    scheduleRender();
  }));
}

// ---------------------------------------------------------------- regions

function showBox(box) {
  editor.shownBox = box;
  $('box').hidden = !box;
  $('box-label').textContent = box ? `box [${box.join(', ')}]` : '';
  if (!box) return;
  const [row, col, height, width] = box;
  const percent = (value) => `${(100 * value) / GRID}%`;
  Object.assign($('box').style, {top: percent(row - Math.floor(height / 2)), left: percent(col - Math.floor(width / 2)),
                                 height: percent(height), width: percent(width)});
}

const jacobianDone = () => editor.jacobian?.key === sampleKey() && editor.jacobian.state === 'done';

function showJacobian(job) {
  $('jacobian-row').hidden = !job;
  $('jacobian-cancel').hidden = job?.state !== 'running';
  $('jacobian-button').disabled = job?.state === 'running' || jacobianDone();
  $('jacobian-button').textContent = jacobianDone() ? 'Jacobian ready' : 'Compute Jacobian';
  if (!job) return;
  Object.assign($('jacobian-progress'), {max: Math.max(job.total, 1), value: job.done});
  $('jacobian-count').textContent = `${job.done}/${job.total} ${job.state}`;
}

// The status of a task that ended without its result.
const ended = (what, job) => setStatus(job.state === 'failed' ? `${what} failed: ${job.error}` : `${what} cancelled.`,
                                       job.state === 'failed' ? 'error' : 'info');

async function computeJacobian() {
  const current = latest('jacobian');
  const key = sampleKey();
  try {
    const started = await api('POST', '/api/jacobian', sample());
    setStatus('Computing the Jacobian of this sample…');
    const job = await follow('/api/jacobian', started, (j) => showJacobian(editor.jacobian = Object.assign(j, {key})),
                             current);
    if (job?.state === 'done') computeRegion();  // the button now says 'Jacobian ready'
    else if (job) ended('Jacobian', job);
  } catch (error) {
    if (current()) report(error);
  }
}

const cancelTask = (path, id) => id && api('POST', path, {id}).catch(report);  // its poll then sees it end

async function computeRegion() {
  const value = $('region-select').value;
  const chosen = value !== DRAWN_BOX ? {region: value} : editor.box && {box: editor.box};
  if (!chosen) {
    setStatus('Draw a box on the image (drag over it), or pick a named region.');
    return;
  }
  const key = sampleKey();
  const current = latest('region');
  try {
    const answer = await api('POST', '/api/region', {...sample(), ...chosen, count: Number($('region-count').value)});
    if (!current()) return;
    const name = chosen.region || `box [${answer.box.join(', ')}]`;
    const set = sliderSet('region', `${key} ${answer.name}`, `${name} · ${codeLabel()}`, $('region-sliders'));
    Object.assign(set, {sample: key, choice: value, box: answer.box,
                        note: `${name}: ${answer.eigenvalues.length} directions of this sample.`});
    fillSet(set, answer.eigenvalues.map((eigenvalue, index) => {
      const inside = answer.shares[index] === null ? '?' : fmt(100 * answer.shares[index], 0);
      return {label: `Direction ${index} (${fmt(eigenvalue)}) · ${inside}% in region`, short: `Direction ${index}`,
              title: `ReSeFa direction ${index} of ${name}: eigenvalue ${eigenvalue}, ${inside}% of its pixel change `
                + 'inside the region', min: -span(), max: span(), step: 0.05, wide: true,
              direction: {kind: 'region', id: answer.id, index}};
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
    showJacobian(editor.jacobian = null);
  }
  const set = editor.shown.region;
  $('region-panel').classList.toggle('stale', !!set && set.sample !== key);
  $('region-note').textContent = !set ? 'Drag on the image to draw a box, or pick a named region.'
    : set.sample === key ? set.note
      : 'These directions were computed for another sample: compute the Jacobian of this one for its own.';
}

function regionChanged() {
  const value = $('region-select').value;
  if (jacobianDone()) {
    computeRegion();
  } else {  // its directions need this sample's Jacobian first
    showSet('region', null);
    showBox(value === DRAWN_BOX ? editor.box : editor.info.region_boxes[value]);
    updateSampleDependents();
  }
}

// Drag a box on the overlay (on the grid: [center_row, center_col, height, width]).
function setupOverlay() {
  const overlay = $('overlay');
  let start = null;
  const toGrid = (event) => {
    const rect = overlay.getBoundingClientRect();
    const clip = (value, size) => Math.round((GRID * Math.min(Math.max(value, 0), size)) / size);
    return [clip(event.clientY - rect.top, rect.height), clip(event.clientX - rect.left, rect.width)];
  };
  const boxTo = (event) => {
    const [[y0, x0], [y1, x1]] = [start, toGrid(event)];
    const height = Math.abs(y1 - y0), width = Math.abs(x1 - x0);
    return [Math.min(y0, y1) + Math.floor(height / 2), Math.min(x0, x1) + Math.floor(width / 2), height, width];
  };
  overlay.addEventListener('pointerdown', (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    overlay.setPointerCapture(event.pointerId);
    start = toGrid(event);
  });
  overlay.addEventListener('pointermove', (event) => {
    const box = start && boxTo(event);
    if (box && box[2] > 0 && box[3] > 0) showBox(box);
  });
  overlay.addEventListener('pointerup', (event) => {
    if (!start) return;
    const box = boxTo(event);
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

// Save what the server answers as a download; answers the response (null after an error).
async function download(path, body, fallback) {
  const response = await api('POST', path, body, {as: null}).catch(report);
  if (!response) return null;
  const found = /filename="?([^";]+)"?/i.exec(response.headers.get('Content-Disposition') || '');
  const link = Object.assign($('download'), {href: URL.createObjectURL(await response.blob()),
                                             download: found ? found[1] : fallback});
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  setStatus(`Saved ${link.download}.`);
  return response;
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
  const {model, defaults} = info;
  const conditional = model.c_dim > 0;
  $('model-name').textContent = `${model.name} · ${model.family} · ${model.img_resolution}px`;
  $('model-note').textContent = model.random_weights ? 'random weights' : (model.description || '');
  $('model-note').title = model.description || '';
  document.title = `${model.name}: GAN semantics editor`;
  $('image').classList.toggle('pixelated', model.img_resolution < 384);
  $('truncation').value = defaults.truncation_psi;
  $('truncation-value').textContent = fmt($('truncation').value);
  $('project-steps').value = defaults.projection_steps;
  $('project-row').hidden = $('project-options').hidden = !model.has_mapping || conditional;
  $('class-row').hidden = !conditional;
  if (conditional) $('class').max = model.c_dim - 1;
  $('prepared-row').hidden = info.prepared.length === 0;
  $('prepared-select').append(...info.prepared.map((p) => new Option(`${p.name} (${p.count} ${p.space})`, p.name)));
  $('layer-groups').append(...info.layer_groups.map((group) => {
    const button = el('button', {type: 'button', className: 'small', textContent: group.name,
                                 title: `SeFa of layers ${group.layers}`});
    button.addEventListener('click', () => { $('sefa-layers').value = group.layers; loadSefa(); });
    return button;
  }));
  $('region-select').append(new Option('drawn box', DRAWN_BOX), ...info.regions.map((r) => new Option(r, r)));
  buildFileSliders(info.files);
  setCode({kind: 'seed', seed: Math.floor(Number($('seed').value))});
}

function selectPrepared() {
  const entry = editor.info.prepared.find((p) => p.name === $('prepared-select').value);
  editor.codes.prepared = {name: entry.name, count: entry.count, index: -1};
  stepCodes('prepared', 1);
}

const HANDLERS = {  // id: {event: handler}
  seed: {change: seedCode},
  random: {click: () => { $('seed').value = Math.floor(Math.random() * 2 ** 31); seedCode(); }},
  'prepared-select': {change: selectPrepared},
  'prepared-prev': {click: () => stepCodes('prepared', -1)},
  'prepared-next': {click: () => (editor.codes.prepared ? stepCodes('prepared', 1) : selectPrepared())},
  upload: {change: uploadFile},
  'upload-prev': {click: () => stepCodes('upload', -1)},
  'upload-next': {click: () => stepCodes('upload', 1)},
  project: {change: projectImage},
  'project-cancel': {click: () => cancelTask('/api/invert/cancel', editor.projection)},
  truncation: {input: showTruncation, change: showTruncation},
  class: {change: scheduleRender},
  'sefa-layers': {change: loadSefa},
  'sefa-count': {change: loadSefa},
  'sefa-reset': {click: () => resetSliders('sefa')},
  'region-reset': {click: () => resetSliders('region')},
  'reset-all': {click: () => resetSliders(null)},
  'region-select': {change: regionChanged},
  'region-count': {change: () => { if (jacobianDone()) computeRegion(); }},
  'jacobian-button': {click: computeJacobian},
  'jacobian-cancel': {click: () => cancelTask('/api/jacobian/cancel', editor.jacobian && editor.jacobian.id)},
  'export-image': {click: () => download('/api/export/image', state(), 'image.png')},
  'export-gif': {click: exportGif},
  'export-edit': {click: exportEdit},
  'export-code': {click: () => download('/api/export/code', state(), 'code.npy')},
};

function showTruncation() {
  $('truncation-value').textContent = fmt($('truncation').value);
  scheduleRender();
}

async function start() {
  for (const [id, events] of Object.entries(HANDLERS)) {
    for (const [event, handler] of Object.entries(events)) $(id).addEventListener(event, handler);
  }
  setupOverlay();
  editor.info = await api('GET', '/api/info').catch(report);
  if (!editor.info) return;
  buildPage(editor.info);
  setStatus('Ready.');
  await loadSefa();
}

start();
