// The page in a real browser (Debian's chromium through playwright-core): it loads, an example is classified
// correctly by the server and by ONNX Runtime Web in the browser, a bad file shows an error; the static site from
// `dsdnet export --web` works from a plain file server. Skips when chromium is absent.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, extname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { type Browser, chromium, type Page } from 'playwright-core';
import sharp from 'sharp';

import { createServer, openServedModel, pickExamples, writeStaticSite } from '../src/serve/index.js';
import { resolveConfig, train } from '../src/train/index.js';
import { makeSeparableDataset } from './support/images.js';
import { trainQuickRun } from './support/quick-run.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium; scripts/setup.sh does)`;
const scratch = (): string => mkdtempSync(join(tmpdir(), 'dsdnet-web-'));

let run: string;
let data: string;
let browser: Browser;

test.before(async () => {
  if (skip) return;
  data = await makeSeparableDataset(12, 64);
  run = join(scratch(), 'run');
  await trainQuickRun(data, run);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

test.after(async () => browser?.close());

/** Waits for the page's run to finish; the top class and its probability per engine of each row, and the status. */
async function results(page: Page): Promise<{
  status: string;
  rows: { name: string; top: Record<string, { label: string; probability: number }[]> }[];
}> {
  await page.waitForSelector('#status[data-done="true"]', { timeout: 120_000 });
  // Read in the page (this file has no DOM types): each row's name and, per engine, its bars' labels and probabilities.
  const rows = (await page.evaluate(`Array.from(document.querySelectorAll('#results tbody tr'), (tr) => ({
    name: tr.dataset.name,
    top: Object.fromEntries(Array.from(tr.querySelectorAll('td[data-engine]'), (td) => [td.dataset.engine, Array.from(td.querySelectorAll('li'), (li) => ({ label: li.dataset.label, probability: Number(li.dataset.probability) }))])),
  }))`)) as { name: string; top: Record<string, { label: string; probability: number }[]> }[];
  return { status: (await page.locator('#status').textContent()) ?? '', rows };
}

/** Forgets that the last run finished, before the next one starts (results() waits for the next). */
async function rearm(page: Page): Promise<void> {
  await page.evaluate("delete document.getElementById('status').dataset.done");
}

/** Clicks the example of `label` and waits for the answer; returns the status line and the top label of `engine`. */
async function classifyExample(page: Page, label: string, engine: string): Promise<{ status: string; top: string }> {
  await rearm(page);
  await page.locator(`#examples button[data-name^="${label}/"]`).click();
  const { status, rows } = await results(page);
  return { status, top: rows[0]?.top[engine]?.[0]?.label ?? '' };
}

test(
  'the page: loads, classifies an example on the server and in the browser, names a bad file',
  { skip },
  async () => {
    const model = await openServedModel(run);
    const app = await createServer(model, { examples: pickExamples(data) });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const page = await browser.newPage();
    try {
      const started = performance.now();
      await page.goto(url);
      await page.waitForSelector('body[data-ready="true"]');
      const firstLoad = performance.now() - started;
      console.log(`first load: ${firstLoad.toFixed(0)} ms`);
      assert.match(
        (await page.locator('#model-info').textContent()) ?? '',
        /resnet18, 3 classes, 32 px, test OA \d+\.\d\d%/,
      );
      assert.equal(await page.locator('#examples button').count(), 3);
      assert.equal(await page.evaluate('crossOriginIsolated'), true, 'the server makes the page cross-origin isolated');
      const server = await classifyExample(page, 'red', 'server');
      assert.deepEqual([server.top, /^1 image in \d+ ms$/.test(server.status)], ['red', true], server.status);
      await page.locator('input[value="browser"]').check();
      const local = await classifyExample(page, 'blue', 'browser');
      assert.deepEqual([local.top, /^1 image in \d+ ms$/.test(local.status)], ['blue', true], local.status);
      await page.locator('input[value="server"]').check();
      const bad = join(scratch(), 'notes.png');
      writeFileSync(bad, 'not an image at all');
      await page.locator('#file').setInputFiles(bad);
      await page.waitForSelector('#error:not([hidden])');
      assert.match((await page.locator('#error').textContent()) ?? '', /notes\.png \(server\): upload: not an image/);
      assert.equal(await page.locator('#results tbody tr').count(), 1, 'the earlier result is cleared');
      // Several images at once, both engines side by side, one of them a TIFF (previewed through wasm-vips), and the CSV.
      await page.locator('input[value="both"]').check();
      const tiff = join(scratch(), 'green.tif');
      await sharp(readFileSync(pickExamples(data).find((f) => f.includes('green'))!))
        .tiff()
        .toFile(tiff);
      await rearm(page);
      await page.locator('#file').setInputFiles([...pickExamples(data).filter((f) => !f.includes('green')), tiff]);
      const both = await results(page);
      assert.deepEqual(
        both.rows.map((r) => [r.top.server[0].label, r.top.browser[0].label]),
        [
          ['blue', 'blue'],
          ['red', 'red'],
          ['green', 'green'],
        ],
        JSON.stringify(both.rows),
      );
      await page.waitForFunction('document.querySelector(\'#results tr[data-name="green.tif"] img\').naturalWidth > 0');
      const download = page.waitForEvent('download');
      await page.locator('#csv').click();
      const csv = readFileSync(await (await download).path(), 'utf8')
        .trim()
        .split('\n');
      assert.equal(csv[0], 'image,engine,rank,label,probability');
      assert.equal(csv.length, 1 + 3 * 2 * 3, 'three images, two engines, three classes each');
    } finally {
      await page.close();
      await app.close();
    }
  },
);

test(
  'the page with an API key and no model download: it asks for the key and offers the server only',
  { skip },
  async () => {
    const model = await openServedModel(run);
    const app = await createServer(model, { examples: pickExamples(data), apiKey: 'sesame', modelDownload: false });
    const page = await browser.newPage();
    try {
      await page.goto(await app.listen({ port: 0, host: '127.0.0.1' }));
      await page.waitForSelector('body[data-ready="true"]');
      assert.deepEqual(
        [await page.locator('#key').isVisible(), await page.locator('input[value="browser"]').isVisible()],
        [true, false],
      );
      await rearm(page);
      await page.locator('#examples button[data-name^="red/"]').click();
      await page.waitForSelector('#error:not([hidden])');
      assert.match((await page.locator('#error').textContent()) ?? '', /red\/.* \(server\): .*API key/i);
      await page.locator('#api-key').fill('sesame');
      const answer = await classifyExample(page, 'red', 'server');
      assert.equal(answer.top, 'red', answer.status);
    } finally {
      await page.close();
      await app.close();
    }
  },
);

/** A plain static file server, as any host would be. */
function serveFolder(root: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.mjs': 'text/javascript',
    '.css': 'text/css',
    '.json': 'application/json',
    '.wasm': 'application/wasm',
    '.jpg': 'image/jpeg',
    '.onnx': 'application/octet-stream',
  };
  const server = createHttpServer((request, response) => {
    const path = normalize(join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(root) || !existsSync(file)) return void response.writeHead(404).end();
    response
      .writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' })
      .end(readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` }),
    ),
  );
}

test('export --web: a static folder classifies in the browser with no server-side inference', { skip }, async () => {
  const model = await openServedModel(run);
  const site = join(scratch(), 'site');
  await writeStaticSite(model, site, pickExamples(data));
  await model.close();
  const { server, url } = await serveFolder(site);
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    assert.match((await page.locator('#model-info').textContent()) ?? '', /\(runs in this browser\)/);
    assert.equal(await page.locator('#engine').isHidden(), true);
    assert.equal(
      await page.evaluate('crossOriginIsolated'),
      true,
      'the service worker makes the page cross-origin isolated',
    );
    const result = await classifyExample(page, 'green', 'browser');
    assert.deepEqual([result.top, /^1 image in \d+ ms$/.test(result.status)], ['green', true], result.status);
    // Offline: the host is gone; the page, the runtimes and the model come from the service worker's cache.
    server.close();
    server.closeAllConnections();
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    const offline = await classifyExample(page, 'red', 'browser');
    assert.equal(offline.top, 'red', `offline: ${offline.status}`);
  } finally {
    await page.close();
    server.close();
  }
});

const ucmerced = fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const photoSkip =
  skip || (existsSync(ucmerced) ? false : `../shared/datasets/ucmerced is absent (looked in ${ucmerced})`);

test(
  'one answer everywhere: 50 UC Merced photos through the page (in the browser), the server and the CLI',
  { skip: photoSkip, timeout: 600_000 },
  async () => {
    // A 4-class ResNet-18 trained for 2 epochs at 64 px on 30 photos a class; the 50 photos are others of those classes.
    const classes = ['agricultural', 'beach', 'denseresidential', 'harbor'];
    const root = scratch();
    const photos: string[] = [];
    for (const name of classes) {
      mkdirSync(join(root, name));
      const files = readdirSync(join(ucmerced, name)).sort();
      for (const file of files.slice(0, 30)) symlinkSync(join(ucmerced, name, file), join(root, name, file));
      photos.push(...files.slice(30, 43).map((file) => join(ucmerced, name, file)));
    }
    photos.splice(50);
    const photoRun = join(scratch(), 'run');
    await train(
      resolveConfig(
        root,
        {},
        {
          method: 'plain',
          size: 64,
          batchSize: 16,
          epochs: 2,
          warmupEpochs: 0,
          cycles: 1,
          lr: 1e-3,
          split: { ratio: 0.9, seed: 0 },
          augment: 'light',
        },
      ),
      { out: photoRun, report: 'quiet' },
    );
    const cli = spawnSync(
      process.execPath,
      [fileURLToPath(new URL('../src/cli/main.js', import.meta.url)), 'predict', photoRun, ...photos, '--json'],
      { encoding: 'utf8', maxBuffer: 2 ** 26 },
    );
    assert.equal(cli.status, 0, cli.stderr);
    const byCli = new Map(
      (JSON.parse(cli.stdout) as { file: string; top: { label: string; probability: number }[] }[]).map((p) => [
        basename(p.file),
        p.top,
      ]),
    );
    const model = await openServedModel(photoRun);
    const app = await createServer(model);
    const page = await browser.newPage();
    try {
      await page.goto(await app.listen({ port: 0, host: '127.0.0.1' }));
      await page.waitForSelector('body[data-ready="true"]');
      await page.locator('input[value="both"]').check();
      await rearm(page);
      await page.locator('#file').setInputFiles(photos);
      const { rows } = await results(page);
      assert.equal(rows.length, 50);
      let agreeing = 0;
      let largest = 0;
      for (const row of rows) {
        const answers = { server: row.top.server, browser: row.top.browser, cli: byCli.get(row.name)! };
        const probability = (top: { label: string; probability: number }[], label: string): number =>
          top.find((t) => t.label === label)!.probability;
        if (answers.server[0].label === answers.browser[0].label && answers.server[0].label === answers.cli[0].label)
          agreeing++;
        for (const label of classes)
          for (const other of [answers.browser, answers.cli])
            largest = Math.max(largest, Math.abs(probability(answers.server, label) - probability(other, label)));
      }
      console.log(
        `50 UC Merced photos: top-1 identical in the browser, on the server and in the CLI for ${agreeing} of 50; largest probability difference ${largest.toExponential(2)}`,
      );
      assert.equal(agreeing, 50);
      assert.ok(largest <= 1e-3, `probabilities differ by ${largest}`);
      // The README's screenshot: DSDNET_SCREENSHOT=docs/serve-page.png node --test dist/test/web.test.js
      if (process.env.DSDNET_SCREENSHOT) {
        await rearm(page);
        await page.locator('#file').setInputFiles([photos[40], photos[14]]);
        await results(page);
        await page.setViewportSize({ width: 1100, height: 620 });
        await page.screenshot({ path: process.env.DSDNET_SCREENSHOT });
      }
    } finally {
      await page.close();
      await app.close();
    }
  },
);
