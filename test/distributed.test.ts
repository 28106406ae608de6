// c10d through the binding, on loopback: ranks in separate processes rendezvous through a TCPStore and run Gloo
// collectives; a rank that never comes makes the others fail within the timeout, naming the rank.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const worker = fileURLToPath(new URL('./support/dist-worker.js', import.meta.url));
const dpWorker = fileURLToPath(new URL('./support/dp-worker.js', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function rank(rankNumber: number, worldSize: number, port: number, timeoutMs = 30_000, script = worker): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, RANK: String(rankNumber), WORLD_SIZE: String(worldSize), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), DSDNET_DIST_TIMEOUT_MS: String(timeoutMs), DSDNET_NUM_THREADS: '1' };
  const child = spawn(process.execPath, [script], { env });
  let [stdout, stderr] = ['', ''];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

test('two ranks on loopback: all-reduce (sum, max), broadcast, barrier and the store', async () => {
  const port = await freePort();
  const results = await Promise.all([rank(0, 2, port), rank(1, 2, port)]);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  for (const [i, r] of results.entries()) {
    assert.deepEqual(JSON.parse(r.stdout), { rank: i, summed: [3, 30], largest: [4], broadcast: [[1, 1], [1, 1]], greeting: 'from rank 0' });
  }
});

test('a rank that never joins: the others fail within the timeout with an error naming their rank', async () => {
  const port = await freePort();
  const started = Date.now();
  const lonely = await rank(0, 2, port, 2000);
  assert.notEqual(lonely.code, 0);
  assert.match(lonely.stderr, /rank 0 of 2 could not join the group at 127\.0\.0\.1:\d+ within 2000 ms/);
  assert.ok(Date.now() - started < 20_000, `failed after ${Date.now() - started} ms`);
});

test('data parallel: 2 ranks x batch 16 end with the parameters of 1 rank x batch 32 (rank 0 weights broadcast first)', async () => {
  const [single] = await Promise.all([rank(0, 1, await freePort(), 30_000, dpWorker)]);
  const port = await freePort();
  const pair = await Promise.all([rank(0, 2, port, 30_000, dpWorker), rank(1, 2, port, 30_000, dpWorker)]);
  for (const r of [single, ...pair]) assert.equal(r.code, 0, r.stderr);
  const [reference, ...ranks] = [single, ...pair].map((r) => (JSON.parse(r.stdout) as number[][]).flat());
  for (const [i, params] of ranks.entries()) {
    const difference = params.reduce((m, v, k) => Math.max(m, Math.abs(v - reference[k])), 0);
    console.log(`rank ${i} of 2 against one process with the whole batch: max abs parameter difference ${difference.toExponential(2)}`);
    assert.ok(difference < 1e-6, `rank ${i}: ${difference}`);
  }
});
