// The page: pick, drop or click an image; the server (POST /predict) or ONNX Runtime Web in this browser classifies
// it; the top five classes are shown as bars. As a static folder (dsdnet export --web) it has no server and runs the
// model in the browser only.
/* global ort */
'use strict';

const $ = (id) => document.getElementById(id);
const state = { model: null, isStatic: false, session: null };

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
  $('bars').replaceChildren();
  $('status').textContent = '';
}

function showResult(top, engine, milliseconds) {
  $('error').hidden = true;
  $('status').textContent = `${engine}: ${top[0].label} (${milliseconds} ms)`;
  $('bars').replaceChildren(
    ...top.map((t) => {
      const li = document.createElement('li');
      li.dataset.label = t.label;
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
}

function engine() {
  return state.isStatic ? 'browser' : document.querySelector('input[name="engine"]:checked').value;
}

async function onServer(blob) {
  const started = performance.now();
  const response = await fetch('predict?topK=5', { method: 'POST', headers: { 'Content-Type': blob.type || 'application/octet-stream' }, body: blob });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return { top: answer.top, milliseconds: Math.round(performance.now() - started) };
}

/** The image as the model's input: resized so its short side is decodeSize, the centre inputSize window, normalised. */
function toInput(image) {
  const { decodeSize, inputSize, mean, std } = state.model;
  const scale = decodeSize / Math.min(image.naturalWidth, image.naturalHeight);
  const side = inputSize / scale;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = inputSize;
  const context = canvas.getContext('2d');
  context.imageSmoothingQuality = 'high';
  context.drawImage(image, (image.naturalWidth - side) / 2, (image.naturalHeight - side) / 2, side, side, 0, 0, inputSize, inputSize);
  const rgba = context.getImageData(0, 0, inputSize, inputSize).data;
  const plane = inputSize * inputSize;
  const input = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) input[c * plane + p] = (rgba[4 * p + c] / 255 - mean[c]) / std[c];
  return new ort.Tensor('float32', input, [1, 3, inputSize, inputSize]);
}

async function inBrowser(image) {
  const started = performance.now();
  if (state.session === null) {
    ort.env.wasm.wasmPaths = new URL('ort/', document.baseURI).href;
    ort.env.wasm.numThreads = 1;
    state.session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });
  }
  const output = await state.session.run({ input: toInput(image) });
  const logits = Array.from(output.logits.data);
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const top = exps.map((e, index) => ({ label: state.model.classes[index], index, probability: e / sum })).sort((a, b) => b.probability - a.probability).slice(0, 5);
  return { top, milliseconds: Math.round(performance.now() - started) };
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error('this file is not an image the browser can read'));
    image.src = url;
  });
}

async function classify(blob, name) {
  $('status').textContent = `classifying ${name}…`;
  $('error').hidden = true;
  const url = URL.createObjectURL(blob);
  $('preview').src = url;
  $('preview').hidden = false;
  try {
    const where = engine();
    const result = where === 'server' ? await onServer(blob) : await inBrowser(await loadImage(url));
    showResult(result.top, where === 'server' ? 'server' : 'in this browser', result.milliseconds);
  } catch (error) {
    showError(`${name}: ${error.message}`);
  }
}

async function start() {
  let description = await fetch('model').then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (description === null) {
    description = await fetch('model.json').then((r) => r.json());
    state.isStatic = true;
    $('engine').hidden = true;
  }
  state.model = description;
  const final = description.run && description.run.final ? `, test OA ${(100 * description.run.final.overallAccuracy).toFixed(2)}%` : '';
  $('model-info').textContent = `${description.backbone}, ${description.classes.length} classes, ${description.inputSize} px${final}${state.isStatic ? ' (runs in this browser)' : ''}`;
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
    button.addEventListener('click', async () => classify(await fetch(example.url).then((r) => r.blob()), example.name));
    $('examples').append(button);
  }
  $('file').addEventListener('change', () => $('file').files[0] && classify($('file').files[0], $('file').files[0].name));
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    const file = event.dataTransfer.files[0];
    if (file) classify(file, file.name);
  });
  document.body.dataset.ready = 'true';
}

start().catch((error) => showError(`the page could not start: ${error.message}`));
