// The HTTP server: answers, bad uploads (each a 4xx with a JSON error, the server serving on), the bounded queue
// (overload gets 503 at once, never a crash), hostile clients (images declaring huge sizes, floods of uploads, stalled
// connections) held to limits, and a real exported model served with ONNX Runtime.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliDecompressSync } from 'node:zlib';

import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';

import { DEFAULT_SCALE } from '../src/data/index.js';
import { exportOnnx, type ModelInfo, ONNX_FORMAT } from '../src/export/index.js';
import { checkApiKey, parseOrigin, parseSeconds } from '../src/cli/serve.js';
import { createBackbone } from '../src/models/index.js';
import {
  Batcher,
  createServer,
  DecodeLimit,
  MAX_TIMEOUT_S,
  openServedModel,
  QueueFullError,
  RETRY_AFTER_S,
  type ServedModel,
} from '../src/serve/index.js';
import { hostileBmp, MALFORMED_MULTIPART } from './support/hostile.js';

const INFO: ModelInfo = {
  format: ONNX_FORMAT,
  classNames: ['forest', 'harbor', 'river'],
  backbone: 'resnet18',
  input: 'float32',
  inputSize: 32,
  decodeSize: 37,
  resize: 'cover',
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  bands: null,
  scale: DEFAULT_SCALE,
  run: { method: 'plain' },
};

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

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A multipart form body with one file part per file, and its Content-Type. */
function form(files: { name: string; bytes: Buffer }[]): { headers: Record<string, string>; payload: Buffer } {
  const boundary = 'dsdnetboundary';
  const parts = files.map((f) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${f.name}"\r\nContent-Type: image/jpeg\r\n\r\n`,
      ),
      f.bytes,
      Buffer.from('\r\n'),
    ]),
  );
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]),
  };
}

const jpeg = (): Promise<Buffer> =>
  sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 20, g: 90, b: 160 } } })
    .jpeg()
    .toBuffer();

test('POST /predict answers the top classes; GET /health and /model describe the server and the model', async () => {
  const app = await createServer(fakeModel());
  const image = await jpeg();
  const raw = await app.inject({
    method: 'POST',
    url: '/predict?topK=2',
    headers: { 'content-type': 'image/jpeg' },
    payload: image,
  });
  assert.equal(raw.statusCode, 200, raw.body);
  assert.deepEqual(
    raw.json().top.map((t: { label: string }) => t.label),
    ['harbor', 'forest'],
  );
  const boundary = 'dsdnetboundary';
  const form = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
    ),
    image,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const multipart = await app.inject({
    method: 'POST',
    url: '/predict',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: form,
  });
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
    [
      'a truncated JPEG',
      { 'content-type': 'image/jpeg' },
      image.subarray(0, image.length >> 1),
      400,
      /upload: corrupt or unreadable JPEG image/,
    ],
    ['an empty body', { 'content-type': 'image/jpeg' }, Buffer.alloc(0), 400, /empty upload \(0 bytes\)/],
    ['over the size limit', { 'content-type': 'image/jpeg' }, Buffer.alloc(5000, 1), 413, /too large|larger than/i],
    ['another content type', { 'content-type': 'text/plain' }, 'x', 415, /send the image bytes/],
    ['a bad topK', { 'content-type': 'image/jpeg' }, image, 400, /topK must be a positive integer, got '0'/],
    ...MALFORMED_MULTIPART.map(({ what, contentType, body }): (typeof cases)[number] => [
      what,
      { 'content-type': contentType },
      body,
      400,
      /^malformed multipart upload: (Unexpected end of multipart data|Multipart: Boundary not found)$/,
    ]),
  ];
  for (const [what, headers, payload, status, message] of cases) {
    const response = await app.inject({
      method: 'POST',
      url: what === 'a bad topK' ? '/predict?topK=0' : '/predict',
      headers,
      payload,
    });
    assert.equal(response.statusCode, status, `${what}: ${response.body}`);
    assert.match(response.json().error, message, what);
  }
  assert.equal(
    (await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image }))
      .statusCode,
    200,
    'still serving',
  );
  assert.equal((await app.inject({ url: '/nowhere' })).statusCode, 404);
  await app.close();
});

test('concurrent requests are scored in batches; beyond the queue bound they get 503 at once', async () => {
  const model = fakeModel(50);
  const app = await createServer(model, { maxBatch: 4, maxQueue: 6 });
  const image = await jpeg();
  const responses = await Promise.all(
    Array.from({ length: 20 }, () =>
      app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image }),
    ),
  );
  const statuses = responses.map((r) => r.statusCode);
  const ok = statuses.filter((s) => s === 200).length;
  const busy = responses.filter((r) => r.statusCode === 503);
  assert.equal(ok + busy.length, 20, `only 200 and 503: ${statuses}`);
  assert.ok(busy.length > 0 && ok >= 6, `some served, the rest refused: ${ok} / ${busy.length}`);
  assert.match(busy[0].json().error, /the server is busy \(\d+ images already waiting\); retry shortly/);
  assert.ok(Math.max(...model.batches) > 1 && Math.max(...model.batches) <= 4, `batched up to 4: ${model.batches}`);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image }))
      .statusCode,
    200,
    'serving again once the queue drained',
  );
  await app.close();
  const batcher = new Batcher<number, number>(async (items) => items, { maxBatch: 1, maxQueue: 1 });
  const first = batcher.submit(1); // being scored
  const second = batcher.submit(2); // waiting: the queue is full
  await assert.rejects(batcher.submit(3), QueueFullError);
  assert.deepEqual([await first, await second], [1, 2]);
});

test('an image declaring more pixels than the budget gets 413 naming its size and the limit', async () => {
  const app = await createServer(fakeModel());
  const started = performance.now();
  const response = await app.inject({
    method: 'POST',
    url: '/predict',
    headers: { 'content-type': 'image/bmp' },
    payload: hostileBmp(20000, 20000),
  });
  const elapsed = performance.now() - started;
  assert.equal(response.statusCode, 413, response.body);
  assert.match(response.json().error, /^upload: 20000 x 20000 = 400,000,000 pixels is above the limit of 67,108,864/);
  assert.ok(elapsed < 1000, `refused from the header, before any allocation: ${elapsed.toFixed(0)} ms`);
  await app.close();
  const strict = await createServer(fakeModel(), { maxPixels: 1000 });
  const small = await strict.inject({
    method: 'POST',
    url: '/predict',
    headers: { 'content-type': 'image/jpeg' },
    payload: await jpeg(),
  });
  assert.equal(small.statusCode, 413, small.body);
  assert.match(small.json().error, /^upload: 48 x 40 = 1,920 pixels is above the limit of 1,000/);
  await strict.close();
});

test('at most maxDecoding uploads decode at once; beyond the queue bound the rest get 503 at once', async () => {
  let active = 0;
  let peak = 0;
  const decodeUpload = async (): Promise<Uint8Array> => {
    peak = Math.max(peak, ++active);
    await sleep(100);
    active--;
    return new Uint8Array(INFO.decodeSize * INFO.decodeSize * 3);
  };
  const app = await createServer(fakeModel(), { maxDecoding: 2, maxQueue: 3, decodeUpload });
  const image = await jpeg();
  const responses = await Promise.all(
    Array.from({ length: 10 }, () =>
      app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image }),
    ),
  );
  const busy = responses.filter((r) => r.statusCode === 503);
  assert.deepEqual(
    [responses.filter((r) => r.statusCode === 200).length, busy.length],
    [5, 5],
    `2 decoding + 3 waiting served, the rest refused: ${responses.map((r) => r.statusCode)}`,
  );
  assert.equal(peak, 2, 'decodes at once');
  assert.match(busy[0].json().error, /^the server is busy \(3 uploads already waiting to be decoded\); retry shortly$/);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image }))
      .statusCode,
    200,
    'serving again',
  );
  await app.close();
  const limit = new DecodeLimit({ maxActive: 1, maxWaiting: 1 });
  const failing = limit.run(() => Promise.reject(new Error('corrupt')));
  const next = limit.run(async () => 'next');
  await assert.rejects(failing, /corrupt/);
  assert.equal(await next, 'next', 'a failed decode frees its slot');
});

/** Opens a raw connection, writes `request`, and waits for the server to close it (at most `patience` ms). */
function stall(
  port: number,
  request: string,
  patience: number,
): Promise<{ ms: number; answer: string; closed: boolean }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const giveUp = setTimeout(() => socket.destroy(), patience);
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(giveUp);
      const ms = performance.now() - started;
      resolve({ ms, answer, closed: ms < patience });
    });
  });
}

/** Runs `check` with `app` listening on a loopback port, and closes it even when a check fails (else the test hangs). */
async function whileListening(app: FastifyInstance, check: (port: number) => Promise<void>): Promise<void> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    await check((app.server.address() as { port: number }).port);
  } finally {
    await app.close();
  }
}

test('clients that stop sending are cut off: 408 after the header or request timeout, idle keep-alive closed', async () => {
  const app = await createServer(fakeModel(), { headersTimeoutMs: 300, requestTimeoutMs: 600, idleTimeoutMs: 300 });
  await whileListening(app, async (port) => {
    const [stalledBody, unfinishedHeaders, silent, idle] = await Promise.all([
      stall(
        port,
        'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n\xff\xd8\xff',
        3000,
      ),
      stall(port, 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: ima', 3000),
      stall(port, '', 3000),
      stall(port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 3000),
    ]);
    const timedOut =
      /^HTTP\/1\.1 408 Request Timeout\r\n[^]*\{"error":"request not received in time: headers are due within 0\.3 s, the whole request within 0\.6 s"\}$/;
    for (const [what, result, bound] of [
      ['stalled body', stalledBody, 600],
      ['unfinished headers', unfinishedHeaders, 300],
      ['nothing sent', silent, 300],
    ] as const) {
      assert.ok(
        result.closed && result.ms >= bound - 50 && result.ms < bound + 400,
        `${what}: closed ${result.closed} after ${result.ms.toFixed(0)} ms`,
      );
      assert.match(result.answer, timedOut, what);
    }
    // Node keeps an idle connection a second past the keep-alive timeout it announces.
    assert.ok(
      idle.closed && idle.ms < 300 + 1000 + 400,
      `idle keep-alive: closed ${idle.closed} after ${idle.ms.toFixed(0)} ms`,
    );
    assert.match(idle.answer, /^HTTP\/1\.1 200 OK/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, 'still serving');
  });
});

test('a header timeout in fractions of a second (1.25 s) starts the server and still cuts a stalled client off', async () => {
  const app = await createServer(fakeModel(), { headersTimeoutMs: 1250, requestTimeoutMs: 2500 });
  await whileListening(app, async (port) => {
    const unfinishedHeaders = await stall(port, 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: ima', 4000);
    // Node checks the deadline every 1250 / 4 ms, rounded down to whole milliseconds.
    assert.ok(
      unfinishedHeaders.closed && unfinishedHeaders.ms >= 1200 && unfinishedHeaders.ms < 1250 + 312 + 400,
      `closed ${unfinishedHeaders.closed} after ${unfinishedHeaders.ms.toFixed(0)} ms`,
    );
    assert.match(
      unfinishedHeaders.answer,
      /^HTTP\/1\.1 408 Request Timeout\r\n[^]*headers are due within 1\.25 s, the whole request within 2\.5 s/,
    );
  });
});

test("serve's timeout flags take seconds > 0 up to Node's timer limit; the server holds that long (headers over Node's 300 s default too) without overflow", async () => {
  assert.deepEqual(['0.35', '1.25', String(MAX_TIMEOUT_S)].map(parseSeconds), [0.35, 1.25, MAX_TIMEOUT_S]);
  assert.throws(() => parseSeconds('Infinity'), /^InvalidArgumentError: 'Infinity' is not a number$/);
  for (const bad of ['0', '-1', String(MAX_TIMEOUT_S + 1), '1e10']) {
    assert.throws(
      () => parseSeconds(bad),
      new RegExp(
        `^InvalidArgumentError: expected a number of seconds > 0 and at most 2147482 \\(Node's timer limit, 24\\.8 days\\), got '${bad}'$`,
      ),
      bad,
    );
  }
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.message);
  process.on('warning', onWarning);
  const longest = MAX_TIMEOUT_S * 1000;
  const app = await createServer(fakeModel(), {
    headersTimeoutMs: longest,
    requestTimeoutMs: longest,
    idleTimeoutMs: longest,
  });
  await whileListening(app, async (port) => {
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200); // its connection kept alive: the idle timer set
  });
  process.off('warning', onWarning);
  assert.deepEqual(warnings, [], 'no TimeoutOverflowWarning');
});

test('an upload whose client disconnected while it waited to be decoded is not decoded', async () => {
  const decoded: number[] = [];
  const decodeUpload = async (bytes: Buffer): Promise<Uint8Array> => {
    decoded.push(bytes.length);
    await sleep(400);
    return new Uint8Array(INFO.decodeSize * INFO.decodeSize * 3);
  };
  const app = await createServer(fakeModel(), { maxDecoding: 1, decodeUpload });
  await whileListening(app, async (port) => {
    const post = async (length: number): Promise<number> =>
      (
        await app.inject({
          method: 'POST',
          url: '/predict',
          headers: { 'content-type': 'image/jpeg' },
          payload: Buffer.alloc(length, 1),
        })
      ).statusCode;
    const first = post(10); // holds the one decoding slot for 400 ms
    await sleep(50);
    // 20 bytes uploaded in full, then the client gives up while the upload waits for the slot.
    const gone = await stall(
      port,
      `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 20\r\n\r\n${'x'.repeat(20)}`,
      150,
    );
    assert.equal(gone.answer, '', 'no answer before it left');
    assert.equal(await first, 200);
    assert.equal(await post(30), 200, 'the slot passed on');
    assert.deepEqual(decoded, [10, 30], 'the abandoned 20-byte upload was not decoded');
  });
});

test('an exported model.onnx is served with ONNX Runtime', async () => {
  const model = createBackbone('resnet18', 3);
  const loaded = {
    model,
    classNames: INFO.classNames,
    backbone: 'resnet18',
    size: 32,
    decodeSize: 37,
    decode: { bands: null, scale: DEFAULT_SCALE },
    source: 'test',
    info: {},
  };
  const file = join(mkdtempSync(join(tmpdir(), 'dsdnet-serve-')), 'model.onnx');
  writeFileSync(file, exportOnnx(loaded, '/not-a-run').bytes);
  model.dispose();
  const served = await openServedModel(file);
  assert.equal(served.engine, 'onnx');
  const app = await createServer(served);
  const response = await app.inject({
    method: 'POST',
    url: '/predict',
    headers: { 'content-type': 'image/jpeg' },
    payload: await jpeg(),
  });
  assert.equal(response.statusCode, 200, response.body);
  const top = response.json().top as { probability: number }[];
  assert.ok(Math.abs(top.reduce((s, t) => s + t.probability, 0) - 1) < 1e-6);
  assert.equal(
    (await app.inject({ url: '/model.onnx' })).rawPayload.length,
    (await import('node:fs')).statSync(file).size,
  );
  await app.close();
});

const labels = (top: { label: string }[]): string[] => top.map((t) => t.label);

test('several images in one request (multipart file parts or JSON base64): one result each, in order, scored in batches', async () => {
  const model = fakeModel(50);
  const app = await createServer(model, { maxBatch: 4 });
  const image = await jpeg();
  const files = ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg'].map((name) => ({ name, bytes: image }));
  const multipart = await app.inject({ method: 'POST', url: '/predict?topK=2', ...form(files) });
  assert.equal(multipart.statusCode, 200, multipart.body);
  const body = multipart.json();
  assert.deepEqual(
    body.results.map((r: { name: string }) => r.name),
    ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'e.jpg'],
    'every file part, none dropped, in order',
  );
  assert.deepEqual(
    body.results.map((r: { top: { label: string }[] }) => labels(r.top)),
    Array(5).fill(['harbor', 'forest']),
  );
  assert.equal(body.top, undefined, 'no top-level top for several images');
  assert.equal(typeof body.milliseconds, 'number');
  assert.equal(
    model.batches.reduce((a, b) => a + b, 0),
    5,
  );
  assert.ok(
    model.batches.length < 5 && Math.max(...model.batches) <= 4,
    `the request's images batched together, up to 4: ${model.batches}`,
  );
  const base64 = image.toString('base64');
  const json = await app.inject({
    method: 'POST',
    url: '/predict',
    payload: { images: [base64, base64], names: ['one', 'two'] },
  });
  assert.equal(json.statusCode, 200, json.body);
  assert.deepEqual(
    json.json().results.map((r: { name: string }) => r.name),
    ['one', 'two'],
  );
  const single = await app.inject({ method: 'POST', url: '/predict', payload: { images: [base64] } });
  assert.deepEqual(
    [single.json().results[0].name, labels(single.json().top)],
    ['image 1', ['harbor', 'forest', 'river']],
    'one image keeps the top-level top',
  );
  const raw = (
    await app.inject({ method: 'POST', url: '/predict', headers: { 'content-type': 'image/jpeg' }, payload: image })
  ).json();
  assert.deepEqual(raw.results[0].top, raw.top);
  await app.close();
});

test('several images are held to --max-files and --max-upload together; a bad one is named', async () => {
  const image = await jpeg();
  const app = await createServer(fakeModel(), { maxFiles: 2, maxUploadBytes: image.length * 2 + 1000 });
  const base64 = image.toString('base64');
  const cases: [string, { headers?: Record<string, string>; payload: string | Buffer | object }, number, RegExp][] = [
    [
      'three file parts',
      form(['a', 'b', 'c'].map((name) => ({ name, bytes: image }))),
      413,
      /^more than 2 images in one request \(the server's limit\)$/,
    ],
    ['three JSON images', { payload: { images: [base64, base64, base64] } }, 413, /^more than 2 images in one request/],
    [
      'two files over the upload limit together',
      form([
        { name: 'a', bytes: image },
        { name: 'b', bytes: Buffer.concat([image, Buffer.alloc(1500)]) },
      ]),
      413,
      /^upload larger than \d+ bytes$/,
    ],
    [
      'a bad file among good ones',
      form([
        { name: 'good.jpg', bytes: image },
        { name: 'bad.jpg', bytes: Buffer.from('not a picture') },
      ]),
      400,
      /^image 2 of 2 \(bad\.jpg\): not an image/,
    ],
    [
      'an empty file among good ones',
      form([
        { name: 'good.jpg', bytes: image },
        { name: 'empty.jpg', bytes: Buffer.alloc(0) },
      ]),
      400,
      /^image 2 of 2 \(empty\.jpg\): empty upload \(0 bytes\)$/,
    ],
    [
      'a bad JSON image, unnamed',
      { payload: { images: [Buffer.from('nope').toString('base64'), base64] } },
      400,
      /^image 1 of 2: not an image/,
    ],
    ['not base64', { payload: { images: [base64, '%%%'] } }, 400, /^images\[1\] is not base64$/],
    [
      'names not matching images',
      { payload: { images: [base64], names: ['a', 'b'] } },
      400,
      /^names has 2 entries for 1 images$/,
    ],
    ['no images', { payload: { images: [] } }, 400, /images must NOT have fewer than 1 items/],
    [
      'a multipart form without files',
      {
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
        payload: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n',
      },
      400,
      /^multipart upload without a file part$/,
    ],
  ];
  for (const [what, request, status, message] of cases) {
    const response = await app.inject({ method: 'POST', url: '/predict', ...request });
    assert.equal(response.statusCode, status, `${what}: ${response.body}`);
    assert.match(response.json().error, message, what);
  }
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/predict',
        ...form([
          { name: 'a', bytes: image },
          { name: 'b', bytes: image },
        ]),
      })
    ).statusCode,
    200,
    'two files within the limits',
  );
  await app.close();
});

/** A decodeUpload that holds every decode until release() is called. */
function heldDecodes(): { decodeUpload: () => Promise<Uint8Array>; release: () => void } {
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    decodeUpload: async () => (await gate, new Uint8Array(INFO.decodeSize * INFO.decodeSize * 3)),
    release: () => release(),
  };
}

test('/health is liveness; /ready is 503 while a queue is full, and every 503 carries Retry-After', async () => {
  const held = heldDecodes();
  const app = await createServer(fakeModel(), { maxDecoding: 1, maxQueue: 1, decodeUpload: held.decodeUpload });
  const post = () =>
    app.inject({
      method: 'POST',
      url: '/predict',
      headers: { 'content-type': 'image/jpeg' },
      payload: Buffer.alloc(10, 1),
    });
  const ready = await app.inject({ url: '/ready' });
  assert.deepEqual([ready.statusCode, ready.json()], [200, { status: 'ready', waiting: { decode: 0, score: 0 } }]);
  const pending = [post(), post()]; // one decoding, one waiting: the decode queue is full
  await sleep(50);
  const full = await app.inject({ url: '/ready' });
  assert.deepEqual(
    [full.statusCode, full.json(), full.headers['retry-after']],
    [503, { status: 'busy', waiting: { decode: 1, score: 0 } }, String(RETRY_AFTER_S)],
  );
  assert.equal((await app.inject({ url: '/health' })).statusCode, 200, 'alive while busy');
  const refused = await post();
  assert.deepEqual([refused.statusCode, refused.headers['retry-after']], [503, '1']);
  held.release();
  assert.deepEqual(
    (await Promise.all(pending)).map((r) => r.statusCode),
    [200, 200],
  );
  assert.equal((await app.inject({ url: '/ready' })).statusCode, 200, 'ready again');
  await app.close();
});

test('a request that arrives while the server closes gets 503 with Retry-After; /ready too', async () => {
  const decodeUpload = async (): Promise<Uint8Array> => new Uint8Array(INFO.decodeSize * INFO.decodeSize * 3);
  const app = await createServer(fakeModel(300), { decodeUpload });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const socket = connect((app.server.address() as { port: number }).port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk.toString()));
  const ended = new Promise((resolve) => socket.on('close', resolve));
  // A slow prediction keeps the connection busy; the server starts closing; then a second request comes on it.
  socket.write(
    `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 20\r\n\r\n${'x'.repeat(20)}`,
  );
  await sleep(100);
  const closed = app.close();
  await sleep(50);
  socket.write('GET /ready HTTP/1.1\r\nHost: x\r\n\r\n');
  await Promise.all([closed, ended]);
  const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 503], answer);
  assert.match(
    answer,
    /503 Service Unavailable\r\n[^]*retry-after: 1\r\n[^]*\{"error":"the server is shutting down"\}$/i,
  );
});

test('/metrics: Prometheus text from a registry of each server: requests by route and status, durations, images, batches, queues, inference', async () => {
  const model = fakeModel(20);
  const app = await createServer(model);
  const other = await createServer(fakeModel());
  const image = await jpeg();
  await app.inject({
    method: 'POST',
    url: '/predict',
    ...form([
      { name: 'a', bytes: image },
      { name: 'b', bytes: image },
      { name: 'c', bytes: image },
    ]),
  });
  await app.inject({
    method: 'POST',
    url: '/predict',
    headers: { 'content-type': 'image/png' },
    payload: 'not a picture',
  });
  await app.inject({ url: '/nowhere/1' });
  await app.inject({ url: '/nowhere/2' });
  const response = await app.inject({ url: '/metrics' });
  assert.equal(response.statusCode, 200);
  assert.match(response.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
  const text = response.body;
  for (const line of [
    'dsdnet_http_requests_total{method="POST",route="/predict",status_code="200"} 1',
    'dsdnet_http_requests_total{method="POST",route="/predict",status_code="400"} 1',
    'dsdnet_http_requests_total{method="GET",route="unmatched",status_code="404"} 2',
    'dsdnet_http_request_duration_seconds_count{method="POST",route="/predict"} 2',
    'dsdnet_images_predicted_total 3',
    `dsdnet_batch_size_count ${model.batches.length}`,
    `dsdnet_inference_seconds_count ${model.batches.length}`,
    'dsdnet_queue_depth{queue="decode"} 0',
    'dsdnet_queue_depth{queue="score"} 0',
  ])
    assert.ok(
      text.includes(`${line}\n`),
      `${line} in:\n${text
        .split('\n')
        .filter((l) => l.startsWith('dsdnet_'))
        .join('\n')}`,
    );
  assert.match(text, /^process_cpu_user_seconds_total \d/m, 'the default process metrics');
  assert.match(text, /^dsdnet_batch_size_bucket\{le="16"\} /m);
  assert.match(
    (await other.inject({ url: '/metrics' })).body,
    /^dsdnet_images_predicted_total 0$/m,
    "the other server's own registry",
  );
  await Promise.all([app.close(), other.close()]);
});

test('CORS is off by default; --cors allows the origins named, or any with *', async () => {
  const origin = 'https://maps.example.org';
  const preflight = {
    method: 'OPTIONS' as const,
    url: '/predict',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,x-api-key',
    },
  };
  const closed = await createServer(fakeModel());
  assert.equal(
    (await closed.inject({ url: '/model', headers: { origin } })).headers['access-control-allow-origin'],
    undefined,
  );
  assert.equal((await closed.inject(preflight)).headers['access-control-allow-origin'], undefined);
  await closed.close();
  const named = await createServer(fakeModel(), { cors: [origin, 'http://localhost:3000'] });
  assert.equal(
    (await named.inject({ url: '/model', headers: { origin } })).headers['access-control-allow-origin'],
    origin,
  );
  assert.equal(
    (await named.inject({ url: '/model', headers: { origin: 'https://elsewhere.example' } })).headers[
      'access-control-allow-origin'
    ],
    undefined,
  );
  const allowed = await named.inject(preflight);
  assert.equal(allowed.statusCode, 204);
  assert.deepEqual(
    [allowed.headers['access-control-allow-origin'], allowed.headers['access-control-allow-headers']],
    [origin, 'content-type,x-api-key'],
  );
  await named.close();
  const any = await createServer(fakeModel(), { cors: ['*'] });
  assert.equal(
    (await any.inject({ url: '/model', headers: { origin: 'https://anyone.example' } })).headers[
      'access-control-allow-origin'
    ],
    '*',
  );
  await any.close();
  assert.deepEqual(
    ['*', 'https://a.example', 'http://localhost:8080'].reduce(
      (list, value) => parseOrigin(value, list),
      [] as string[],
    ),
    ['*', 'https://a.example', 'http://localhost:8080'],
  );
  for (const bad of ['https://a.example/', 'https://a.example/path', 'a.example', '']) {
    assert.throws(
      () => parseOrigin(bad),
      new RegExp(
        `^InvalidArgumentError: expected '\\*' or an origin such as https://example\\.org .*got '${bad.replace(/[./]/g, '\\$&')}'$`,
      ),
      bad,
    );
  }
});

test('OpenAPI at /openapi.json describes the API; /docs serves Swagger UI from the package', async () => {
  const app = await createServer(fakeModel());
  const spec = (await app.inject({ url: '/openapi.json' })).json();
  assert.match(spec.openapi, /^3\./);
  assert.deepEqual(Object.keys(spec.paths).sort(), [
    '/health',
    '/metrics',
    '/model',
    '/model.onnx',
    '/predict',
    '/ready',
  ]);
  const predict = spec.paths['/predict'].post;
  assert.ok(
    ['application/json', 'multipart/form-data', 'image/jpeg', 'image/png', 'application/octet-stream'].every(
      (type) => type in predict.requestBody.content,
    ),
    Object.keys(predict.requestBody.content).join(),
  );
  assert.deepEqual(predict.requestBody.content['application/json'].schema.required, ['images']);
  assert.deepEqual(Object.keys(predict.responses).sort(), ['200', '400', '413', '415', '503']);
  assert.ok('results' in predict.responses['200'].content['application/json'].schema.properties);
  assert.deepEqual(Object.keys(spec.paths['/ready'].get.responses).sort(), ['200', '503']);
  assert.equal(spec.components.securitySchemes, undefined, 'no key, no security');
  const docs = await app.inject({ url: '/docs' });
  assert.equal(docs.statusCode, 200, docs.body);
  assert.match(docs.body, /swagger-ui/i);
  assert.doesNotMatch(docs.body, /(src|href)="https?:/, 'nothing from a CDN');
  const bundle = await app.inject({ url: '/docs/static/swagger-ui-bundle.js' });
  assert.equal(bundle.statusCode, 200);
  assert.ok(bundle.rawPayload.length > 100_000);
  await app.close();
});

test('an API key guards /predict, /model.onnx and /metrics (Bearer or X-API-Key, else 401); the rest stays open', async () => {
  const key = 'k3y-0f-the-server';
  const app = await createServer(fakeModel(), { apiKey: key });
  const image = await jpeg();
  const predict = (headers: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: '/predict',
      headers: { 'content-type': 'image/jpeg', ...headers },
      payload: image,
    });
  const missing = await predict({});
  assert.deepEqual(
    [missing.statusCode, missing.json(), missing.headers['www-authenticate']],
    [401, { error: 'an API key is needed: send Authorization: Bearer KEY or X-API-Key: KEY' }, 'Bearer'],
  );
  for (const headers of [
    { authorization: 'Bearer nope' },
    { 'x-api-key': `${key}x` },
    { authorization: key },
  ] as Record<string, string>[]) {
    const wrong = await predict(headers);
    assert.equal(wrong.statusCode, 401, JSON.stringify(headers));
    assert.match(wrong.json().error, headers.authorization === key ? /an API key is needed/ : /^wrong API key$/);
  }
  assert.equal((await predict({ authorization: `Bearer ${key}` })).statusCode, 200);
  assert.equal((await predict({ 'x-api-key': key })).statusCode, 200);
  for (const url of ['/model.onnx', '/metrics']) {
    assert.equal((await app.inject({ url })).statusCode, 401, url);
    assert.equal((await app.inject({ url, headers: { 'x-api-key': key } })).statusCode, 200, url);
  }
  for (const url of ['/health', '/ready', '/model', '/', '/docs', '/openapi.json'])
    assert.equal((await app.inject({ url })).statusCode, 200, url);
  assert.equal((await app.inject({ url: '/model' })).json().apiKeyRequired, true);
  const spec = (await app.inject({ url: '/openapi.json' })).json();
  assert.deepEqual(Object.keys(spec.components.securitySchemes).sort(), ['apiKey', 'bearer']);
  assert.ok(spec.paths['/predict'].post.security && '401' in spec.paths['/metrics'].get.responses);
  assert.equal(spec.paths['/health'].get.security, undefined);
  await app.close();
  const open = await createServer(fakeModel());
  assert.deepEqual(
    ((await open.inject({ url: '/model' })).json() as { apiKeyRequired: boolean }).apiKeyRequired,
    false,
  );
  await open.close();
  assert.equal(checkApiKey(key), key);
  assert.equal(checkApiKey(undefined), undefined);
  for (const bad of ['', 'two words', 'tab\there', 'ключ'])
    assert.throws(
      () => checkApiKey(bad),
      /^Error: --api-key \(or DSDNET_API_KEY\): expected printable ASCII without spaces, and not empty \(the key is not shown\)$/,
      bad,
    );
});

test('--no-model-download: /model.onnx answers 404 and /model says downloadable: false', async () => {
  const app = await createServer(fakeModel(), { modelDownload: false });
  const response = await app.inject({ url: '/model.onnx' });
  assert.deepEqual(
    [response.statusCode, response.json()],
    [404, { error: 'this server does not offer its model for download (serve --no-model-download)' }],
  );
  assert.deepEqual(((await app.inject({ url: '/model' })).json() as { downloadable: boolean }).downloadable, false);
  await app.close();
  const offered = await createServer(fakeModel());
  assert.equal((await offered.inject({ url: '/model.onnx' })).statusCode, 200);
  assert.equal(((await offered.inject({ url: '/model' })).json() as { downloadable: boolean }).downloadable, true);
  await offered.close();
});

test("the logger option writes fastify's access log (off by default)", async () => {
  const lines: string[] = [];
  const stream = { write: (line: string) => void lines.push(line) };
  const app = await createServer(fakeModel(), { logger: { level: 'info', stream } });
  await app.inject({ url: '/health' });
  await app.inject({ url: '/nowhere' });
  await app.close();
  const entries = lines.map(
    (line) => JSON.parse(line) as { msg: string; req?: { url: string }; res?: { statusCode: number } },
  );
  assert.deepEqual(
    entries.filter((e) => e.msg === 'incoming request').map((e) => e.req?.url),
    ['/health', '/nowhere'],
  );
  assert.deepEqual(
    entries.filter((e) => e.msg === 'request completed').map((e) => e.res?.statusCode),
    [200, 404],
  );
});

test("the page's files: ETag (304 when unchanged), Cache-Control, Brotli when taken, cross-origin isolation", async () => {
  const app = await createServer(fakeModel());
  try {
    for (const [url, cache] of [
      ['/', 'no-cache'],
      ['/app.js', 'no-cache'],
      ['/shared/preprocess.js', 'no-cache'],
      ['/vips/vips.wasm', 'public, max-age=86400'],
      ['/model.onnx', 'no-cache'],
    ]) {
      const plain = await app.inject({ url });
      assert.equal(plain.statusCode, 200, url);
      assert.deepEqual(
        [
          plain.headers['cache-control'],
          plain.headers['cross-origin-opener-policy'],
          plain.headers['cross-origin-embedder-policy'],
          plain.headers['content-encoding'],
        ],
        [cache, 'same-origin', 'require-corp', undefined],
        url,
      );
      assert.equal(
        (await app.inject({ url, headers: { 'if-none-match': String(plain.headers.etag) } })).statusCode,
        304,
        url,
      );
    }
    const plain = await app.inject({ url: '/vips/vips.wasm' });
    const compressed = await app.inject({ url: '/vips/vips.wasm', headers: { 'accept-encoding': 'gzip, br' } });
    assert.deepEqual(
      [compressed.headers['content-encoding'], compressed.headers['content-type'], compressed.headers.vary],
      ['br', 'application/wasm', 'Accept-Encoding'],
    );
    assert.ok(
      compressed.rawPayload.length < 0.5 * plain.rawPayload.length,
      `${compressed.rawPayload.length} of ${plain.rawPayload.length} bytes`,
    );
    assert.ok(brotliDecompressSync(compressed.rawPayload).equals(plain.rawPayload));
    assert.equal(
      (await app.inject({ url: '/model.onnx', headers: { 'accept-encoding': 'br' } })).headers['content-encoding'],
      undefined,
      'weights are not worth compressing',
    );
  } finally {
    await app.close();
  }
});
