// The HTTP server: answers, bad uploads (each a 4xx with a JSON error, the server serving on), the bounded queue
// (overload gets 503 at once, never a crash), and a real exported model served with ONNX Runtime.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import sharp from 'sharp';

import { DEFAULT_SCALE } from '../src/data/index.js';
import { exportOnnx, type ModelInfo, ONNX_FORMAT } from '../src/export/index.js';
import { createBackbone } from '../src/models/index.js';
import { Batcher, createServer, openServedModel, QueueFullError, type ServedModel } from '../src/serve/index.js';

const INFO: ModelInfo = { format: ONNX_FORMAT, classNames: ['forest', 'harbor', 'river'], backbone: 'resnet18', inputSize: 32, decodeSize: 37, resize: 'cover', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bands: null, scale: DEFAULT_SCALE, run: { method: 'plain' } };

/** A model that answers fixed probabilities after `delay` ms, counting the batches it scored. */
function fakeModel(delay = 0): ServedModel & { batches: number[] } {
  const batches: number[] = [];
  return {
    engine: 'onnx',
    info: INFO,
    decode: { bands: null, scale: DEFAULT_SCALE },
    onnxBytes: new Uint8Array(4),
    batches,
    probabilities: async (_pixels, count) => {
      batches.push(count);
      await new Promise((resolve) => setTimeout(resolve, delay));
      return Float32Array.from({ length: count * 3 }, (_, i) => [0.2, 0.7, 0.1][i % 3]);
    },
    close: async () => undefined,
  };
}

const jpeg = (): Promise<Buffer> => sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 20, g: 90, b: 160 } } }).jpeg().toBuffer();

test('POST /predict answers the top classes; GET /health and /model describe the server and the model', async () => {
  const app = await createServer(fakeModel());
  const image = await jpeg();
  const raw = await app.inject({ method: 'POST', url: '/predict?topK=2', headers: { 'content-type': 'image/jpeg' }, payload: image });
  assert.equal(raw.statusCode, 200, raw.body);
  assert.deepEqual(raw.json().top.map((t: { label: string }) => t.label), ['harbor', 'forest']);
  const boundary = 'dsdnetboundary';
  const form = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`), image, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  const multipart = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: form });
  assert.equal(multipart.statusCode, 200, multipart.body);
  assert.equal(multipart.json().top.length, 3);
  assert.deepEqual((await app.inject({ url: '/health' })).json(), { status: 'ok', waiting: 0 });
  const model = (await app.inject({ url: '/model' })).json();
  assert.deepEqual([model.classes, model.inputSize, model.run.method], [INFO.classNames, 32, 'plain']);
  assert.match((await app.inject({ url: '/' })).body, /<title>dsdnet: scene classifier<\/title>/);
  assert.equal((await app.inject({ url: '/ort/ort.wasm.min.js' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/ort/../../package.json' })).statusCode, 404);
  await app.close();
});

test('bad uploads get a 4xx with a JSON error, and the server keeps serving', async () => {
  const app = await createServer(fakeModel(), { maxUploadBytes: 4096 });
  const image = await jpeg();
  const cases: [string, Record<string, string>, Buffer | string, number, RegExp][] = [
    ['not an image', { 'content-type': 'image/png' }, 'hello, not a picture', 400, /upload: not an image/],
    ['a truncated JPEG', { 'content-type': 'image/jpeg' }, image.subarray(0, image.length >> 1), 400, /upload: corrupt or unreadable JPEG image/],
    ['an empty body', { 'content-type': 'image/jpeg' }, Buffer.alloc(0), 400, /empty upload \(0 bytes\)/],
    ['over the size limit', { 'content-type': 'image/jpeg' }, Buffer.alloc(5000, 1), 413, /too large|larger than/i],
    ['another content type', { 'content-type': 'text/plain' }, 'x', 415, /send the image bytes/],
    ['a bad topK', { 'content-type': 'image/jpeg' }, image, 400, /topK must be a positive integer, got '0'/],
  ];
  for (const [what, headers, payload, status, message] of cases) {
    const response = await app.inject({ method: 'POST', url: what === 'a bad topK' ? '/predict?topK=0' : '/predict', headers, payload });
    assert.equal(response.statusCode, status, `${what}: ${response.body}`);
    assert.match(response.json().error, message, what);
  }
  assert.equal((await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image })).statusCode, 200, 'still serving');
  assert.equal((await app.inject({ url: '/nowhere' })).statusCode, 404);
  await app.close();
});

test('concurrent requests are scored in batches; beyond the queue bound they get 503 at once', async () => {
  const model = fakeModel(50);
  const app = await createServer(model, { maxBatch: 4, maxQueue: 6 });
  const image = await jpeg();
  const responses = await Promise.all(Array.from({ length: 20 }, () => app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image })));
  const statuses = responses.map((r) => r.statusCode);
  const ok = statuses.filter((s) => s === 200).length;
  const busy = responses.filter((r) => r.statusCode === 503);
  assert.equal(ok + busy.length, 20, `only 200 and 503: ${statuses}`);
  assert.ok(busy.length > 0 && ok >= 6, `some served, the rest refused: ${ok} / ${busy.length}`);
  assert.match(busy[0].json().error, /the server is busy \(\d+ images already waiting\); retry shortly/);
  assert.ok(Math.max(...model.batches) > 1 && Math.max(...model.batches) <= 4, `batched up to 4: ${model.batches}`);
  assert.equal((await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image })).statusCode, 200, 'serving again once the queue drained');
  await app.close();
  const batcher = new Batcher<number, number>(async (items) => items, { maxBatch: 1, maxQueue: 1 });
  const first = batcher.submit(1); // being scored
  const second = batcher.submit(2); // waiting: the queue is full
  await assert.rejects(batcher.submit(3), QueueFullError);
  assert.deepEqual([await first, await second], [1, 2]);
});

test('an exported model.onnx is served with ONNX Runtime', async () => {
  const model = createBackbone('resnet18', 3);
  const loaded = { model, classNames: INFO.classNames, backbone: 'resnet18', size: 32, decodeSize: 37, decode: { bands: null, scale: DEFAULT_SCALE }, source: 'test', info: {} };
  const file = join(mkdtempSync(join(tmpdir(), 'dsdnet-serve-')), 'model.onnx');
  writeFileSync(file, exportOnnx(loaded, '/not-a-run').bytes);
  model.dispose();
  const served = await openServedModel(file);
  assert.equal(served.engine, 'onnx');
  const app = await createServer(served);
  const response = await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: await jpeg() });
  assert.equal(response.statusCode, 200, response.body);
  const top = response.json().top as { probability: number }[];
  assert.ok(Math.abs(top.reduce((s, t) => s + t.probability, 0) - 1) < 1e-6);
  assert.equal((await app.inject({ url: '/model.onnx' })).rawPayload.length, (await import('node:fs')).statSync(file).size);
  await app.close();
});
