// The page: pick, drop or click images; the server (POST /predict), ONNX Runtime Web in this browser, or both side by
// side classify them into a table that downloads as CSV. In the browser, images are prepared by libvips itself
// (wasm-vips, shared/preprocess.js), the same code path as the server's sharp, so both give the same answer. As a
// static folder (dsdnet export --web) there is no server: the model runs here only, and sw.js keeps the page, the
// runtimes and the model for offline use (and makes the page cross-origin isolated, which wasm-vips needs).
/* global ort */
import { decodeWithVips, prepareInput, softmaxRows } from './shared/preprocess.js';

const $ = (id) => document.getElementById(id);
const ENGINE_NAMES = { server: 'server', browser: 'in this browser' };
const BROWSER_SHOWS = /^image\/(jpeg|png|webp|gif)$/;
const state = { model: null, isStatic: false, inBrowser: false, session: null, vips: null, rows: [] };

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function clearResults() {
  $('error').hidden = true;
  $('error').textContent = '';
  $('status').textContent = '';
  delete $('status').dataset.done;
  $('results').hidden = true;
  $('results').tBodies[0].replaceChildren();
  $('csv').hidden = true;
  state.rows = [];
}

function apiHeaders() {
  const key = $('api-key').value;
  return key ? { 'X-API-Key': key } : {};
}

function engines() {
  if (state.isStatic) return ['browser'];
  const chosen = document.querySelector('input[name="engine"]:checked').value;
  return chosen === 'both' ? ['server', 'browser'] : [chosen];
}

async function vips() {
  state.vips ??= import('./vips/vips-es6.js').then((module) => module.default({ dynamicLibraries: [] }));
  return state.vips;
}

async function onServer(blob) {
  const response = await fetch('predict?topK=5', {
    method: 'POST',
    headers: { 'Content-Type': blob.type || 'application/octet-stream', ...apiHeaders() },
    body: blob,
  });
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) $('key').hidden = false;
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer.top;
}

async function session() {
  if (state.session === null) {
    ort.env.wasm.wasmPaths = new URL('ort/', document.baseURI).href;
    ort.env.wasm.numThreads = 1;
    const response = await fetch('model.onnx', { headers: apiHeaders() });
    if (response.status === 401) $('key').hidden = false;
    if (!response.ok) throw new Error(`the model could not be fetched (${response.status})`);
    state.session = ort.InferenceSession.create(new Uint8Array(await response.arrayBuffer()), {
      executionProviders: ['wasm'],
    });
  }
  return state.session;
}

async function inBrowser(bytes, name) {
  const { decodeSize: d, inputSize: s, classes, bands } = state.model;
  const pixels = decodeWithVips(await vips(), bytes, name, d, bands ?? null);
  const feeds =
    state.model.input === 'uint8'
      ? { pixels: new ort.Tensor('uint8', pixels, [1, d, d, 3]) }
      : { input: new ort.Tensor('float32', prepareInput(pixels, 1, state.model), [1, 3, s, s]) };
  const output = await (await session()).run(feeds);
  const probabilities = softmaxRows(output.logits.data, classes.length);
  return Array.from(probabilities, (probability, index) => ({ label: classes[index], index, probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, 5);
}

function bars(top) {
  const list = document.createElement('ol');
  list.className = 'bars';
  list.append(
    ...top.map((t) => {
      const li = document.createElement('li');
      li.dataset.label = t.label;
      li.dataset.probability = String(t.probability);
      const name = document.createElement('span');
      name.className = 'label';
      name.textContent = t.label;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = `${Math.max(1, 100 * t.probability)}%`;
      const value = document.createElement('span');
      value.className = 'value';
      value.textContent = `${(100 * t.probability).toFixed(1)}%`;
      li.append(name, bar, value);
      return li;
    }),
  );
  return list;
}

/** A preview the browser can show: the file itself, or (TIFF) a JPEG that libvips makes of it. */
async function previewUrl(blob, bytes) {
  if (BROWSER_SHOWS.test(blob.type)) return URL.createObjectURL(blob);
  const v = await vips();
  const thumbnail = v.Image.thumbnailBuffer(bytes, 256);
  try {
    return URL.createObjectURL(new Blob([thumbnail.writeToBuffer('.jpg')], { type: 'image/jpeg' }));
  } finally {
    thumbnail.delete();
  }
}

function addRow(name, which) {
  const row = $('results').tBodies[0].insertRow();
  row.dataset.name = name;
  const image = row.insertCell();
  image.className = 'image';
  const img = document.createElement('img');
  img.alt = name;
  const label = document.createElement('span');
  label.textContent = name;
  image.append(img, label);
  const cells = Object.fromEntries(
    which.map((engine) => [engine, Object.assign(row.insertCell(), { className: 'pending', textContent: '…' })]),
  );
  for (const [engine, cell] of Object.entries(cells)) cell.dataset.engine = engine;
  return { img, cells };
}

async function runEngine(engine, item, cell) {
  const started = performance.now();
  try {
    const top = engine === 'server' ? await onServer(item.blob) : await inBrowser(item.bytes, item.name);
    const time = Object.assign(document.createElement('div'), {
      className: 'time',
      textContent: `${Math.round(performance.now() - started)} ms`,
    });
    cell.replaceChildren(bars(top), time);
    cell.className = 'done';
    state.rows.push(
      ...top.map((t, rank) => ({
        image: item.name,
        engine,
        rank: rank + 1,
        label: t.label,
        probability: t.probability,
      })),
    );
  } catch (error) {
    cell.textContent = error.message;
    cell.className = 'failed';
    showError(`${item.name} (${ENGINE_NAMES[engine]}): ${error.message}`);
  }
}

/** Classifies the images with the chosen engines: a fresh table, a row per image, a column per engine. */
async function classify(items) {
  clearResults();
  const which = engines();
  const head = $('results').tHead.rows[0];
  head.replaceChildren(
    Object.assign(document.createElement('th'), { textContent: 'image' }),
    ...which.map((engine) => Object.assign(document.createElement('th'), { textContent: ENGINE_NAMES[engine] })),
  );
  $('results').hidden = false;
  $('status').textContent = `classifying ${items.length} image${items.length === 1 ? '' : 's'}…`;
  const rows = await Promise.all(
    items.map(async (item) => {
      const row = addRow(item.name, which);
      item.bytes = new Uint8Array(await item.blob.arrayBuffer());
      previewUrl(item.blob, item.bytes)
        .then((url) => (row.img.src = url))
        .catch(() => (row.img.alt = `${item.name}: no preview`));
      return row;
    }),
  );
  const started = performance.now();
  const work = [];
  // The server batches concurrent requests itself; the browser's engine runs one image at a time.
  if (which.includes('server'))
    work.push(Promise.all(items.map((item, i) => runEngine('server', item, rows[i].cells.server))));
  if (which.includes('browser'))
    work.push(
      (async () => {
        for (const [i, item] of items.entries()) await runEngine('browser', item, rows[i].cells.browser);
      })(),
    );
  await Promise.all(work);
  const failed = document.querySelectorAll('#results td.failed').length;
  $('status').textContent =
    `${items.length} image${items.length === 1 ? '' : 's'} in ${Math.round(performance.now() - started)} ms${failed ? `, ${failed} failed` : ''}`;
  $('status').dataset.done = 'true';
  $('csv').hidden = state.rows.length === 0;
}

function downloadCsv() {
  const quote = (value) => (/[",\n]/.test(String(value)) ? `"${String(value).replaceAll('"', '""')}"` : String(value));
  const lines = [
    'image,engine,rank,label,probability',
    ...state.rows.map((r) => [r.image, r.engine, r.rank, r.label, r.probability.toFixed(6)].map(quote).join(',')),
  ];
  const link = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(new Blob([`${lines.join('\n')}\n`], { type: 'text/csv' })),
    download: 'dsdnet-results.csv',
  });
  link.click();
  URL.revokeObjectURL(link.href);
}

/** sw.js caches the page for offline use and, on a static host, makes it cross-origin isolated: one reload. */
async function serviceWorker() {
  if (!('serviceWorker' in navigator)) return;
  await navigator.serviceWorker.register('sw.js');
  if (
    !crossOriginIsolated &&
    navigator.serviceWorker.controller === null &&
    !sessionStorage.getItem('dsdnet-reloaded')
  ) {
    await navigator.serviceWorker.ready;
    sessionStorage.setItem('dsdnet-reloaded', 'true');
    location.reload();
  }
}

async function start() {
  await serviceWorker().catch((error) => console.warn(`no offline copy: ${error.message}`));
  let description = await fetch('model')
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null);
  if (description === null) {
    description = await fetch('model.json').then((r) => r.json());
    state.isStatic = true;
    $('engine').hidden = true;
  }
  state.model = description;
  // wasm-vips needs SharedArrayBuffer, which browsers give cross-origin isolated pages only.
  state.inBrowser = crossOriginIsolated && description.downloadable !== false;
  if (!state.inBrowser) for (const label of document.querySelectorAll('.in-browser')) label.hidden = true;
  if (state.isStatic && !state.inBrowser)
    showError(
      'this browser cannot run the model here: it needs a cross-origin isolated page (a service worker, or COOP/COEP headers from the host)',
    );
  $('key').hidden = !description.apiKeyRequired;
  const final =
    description.run && description.run.final
      ? `, test OA ${(100 * description.run.final.overallAccuracy).toFixed(2)}%`
      : '';
  $('model-info').textContent =
    `${description.backbone}, ${description.classes.length} classes, ${description.inputSize} px${final}${state.isStatic ? ' (runs in this browser)' : ''}`;
  const examples = await fetch(state.isStatic ? 'examples/index.json' : 'examples').then((r) => (r.ok ? r.json() : []));
  for (const example of examples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.title = example.name;
    button.dataset.name = example.name;
    const thumbnail = document.createElement('img');
    thumbnail.src = example.url;
    thumbnail.alt = example.name;
    button.append(thumbnail);
    button.addEventListener('click', async () =>
      classify([{ blob: await fetch(example.url).then((r) => r.blob()), name: example.name }]),
    );
    $('examples').append(button);
  }
  const chosen = (files) => classify(Array.from(files, (file) => ({ blob: file, name: file.name })));
  $('file').addEventListener('change', () => $('file').files.length > 0 && chosen($('file').files));
  $('csv').addEventListener('click', downloadCsv);
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    if (event.dataTransfer.files.length > 0) chosen(event.dataTransfer.files);
  });
  document.body.dataset.ready = 'true';
}

start().catch((error) => showError(`the page could not start: ${error.message}`));
