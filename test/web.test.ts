// The page in a real browser (Debian's chromium through playwright-core): it loads, an example is classified
// correctly by the server and by ONNX Runtime Web in the browser, a bad file shows an error; the static site from
// `dsdnet export --web` works from a plain file server. Skips when chromium is absent.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { test } from 'node:test';

import { type Browser, chromium, type Page } from 'playwright-core';

import { createServer, openServedModel, pickExamples, writeStaticSite } from '../src/serve/index.js';
import { resolveConfig, train } from '../src/train/index.js';
import { makeSeparableDataset } from './support/images.js';

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
  const config = resolveConfig(data, {}, { method: 'plain', size: 32, batchSize: 8, epochs: 4, warmupEpochs: 0, cycles: 1, lr: 1e-3, split: { ratio: 0.5, seed: 0 }, augment: 'light' });
  await train(config, { out: run, report: 'quiet' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

test.after(async () => browser?.close());

/** Clicks the example of `label` and waits for the answer; returns the status line and the top bar's label. */
async function classifyExample(page: Page, label: string): Promise<{ status: string; top: string }> {
  await page.locator('#status').evaluate((e) => (e.textContent = ''));
  await page.locator(`#examples button[data-name^="${label}/"]`).click();
  await page.waitForFunction("/\\(\\d+ ms\\)/.test(document.getElementById('status').textContent) || !document.getElementById('error').hidden");
  return { status: (await page.locator('#status').textContent()) ?? '', top: (await page.locator('#bars li').first().getAttribute('data-label')) ?? '' };
}

test('the page: loads, classifies an example on the server and in the browser, names a bad file', { skip }, async () => {
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
    assert.match((await page.locator('#model-info').textContent()) ?? '', /resnet18, 3 classes, 32 px, test OA \d+\.\d\d%/);
    assert.equal(await page.locator('#examples button').count(), 3);
    const server = await classifyExample(page, 'red');
    assert.deepEqual([server.top, /^server: red/.test(server.status)], ['red', true], server.status);
    await page.locator('input[value="browser"]').check();
    const local = await classifyExample(page, 'blue');
    assert.deepEqual([local.top, /^in this browser: blue/.test(local.status)], ['blue', true], local.status);
    await page.locator('input[value="server"]').check();
    const bad = join(scratch(), 'notes.png');
    writeFileSync(bad, 'not an image at all');
    await page.locator('#file').setInputFiles(bad);
    await page.waitForSelector('#error:not([hidden])');
    assert.match((await page.locator('#error').textContent()) ?? '', /notes\.png: upload: not an image/);
    // The README's screenshot: DSDNET_SCREENSHOT=docs/serve-page.png node --test dist/test/web.test.js
    if (process.env.DSDNET_SCREENSHOT) {
      await page.locator('input[value="browser"]').check();
      await classifyExample(page, 'green');
      await page.setViewportSize({ width: 1000, height: 520 });
      await page.screenshot({ path: process.env.DSDNET_SCREENSHOT });
    }
  } finally {
    await page.close();
    await app.close();
  }
});

/** A plain static file server, as any host would be. */
function serveFolder(root: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.jpg': 'image/jpeg', '.onnx': 'application/octet-stream' };
  const server = createHttpServer((request, response) => {
    const path = normalize(join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(root) || !existsSync(file)) return void response.writeHead(404).end();
    response.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` })));
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
    const result = await classifyExample(page, 'green');
    assert.deepEqual([result.top, /^in this browser: green/.test(result.status)], ['green', true], result.status);
  } finally {
    await page.close();
    server.close();
  }
});
