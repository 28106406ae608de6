// The native binding from worker threads: each thread looks its operators up and counts its tensors itself, so
// workers and the main thread compute at the same time and get the same numbers as alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { liveTensors, tensor, tidy } from '../src/torch/index.js';

/** A computation that looks up many operators and creates many tensors; returns a checksum. */
const WORK = `
  const { tensor, tidy, liveTensors } = await import(${JSON.stringify(new URL('../src/torch/index.js', import.meta.url).href)});
  const { parentPort, workerData } = await import('node:worker_threads');
  let sum = 0;
  for (let i = 0; i < workerData.rounds; i++) {
    sum += tidy(() => {
      const x = tensor([[1, 2], [3, 4]]).mul(i + 1);
      return x.matmul(x.t()).add(1).relu().sigmoid().log().exp().sum().item() + x.abs().max().item() + x.float().mean().item();
    });
  }
  parentPort.postMessage({ sum, live: liveTensors() });
`;

function compute(rounds: number): number {
  let sum = 0;
  for (let i = 0; i < rounds; i++) {
    sum += tidy(() => {
      const x = tensor([
        [1, 2],
        [3, 4],
      ]).mul(i + 1);
      return (
        x.matmul(x.t()).add(1).relu().sigmoid().log().exp().sum().item() +
        x.abs().max().item() +
        x.float().mean().item()
      );
    });
  }
  return sum;
}

test('worker threads use the binding alongside the main thread and get the same numbers', async () => {
  const rounds = 400;
  const expected = compute(rounds);
  const before = liveTensors();
  const workers = Array.from({ length: 3 }, () => new Worker(WORK, { eval: true, workerData: { rounds } }));
  const results = workers.map(
    (w) =>
      new Promise<{ sum: number; live: number }>((resolve, reject) => w.once('message', resolve).once('error', reject)),
  );
  const mine = compute(rounds); // meanwhile, on the main thread
  const theirs = await Promise.all(results);
  await Promise.all(workers.map((w) => w.terminate()));
  assert.equal(mine, expected);
  for (const r of theirs) {
    assert.equal(r.sum, expected, 'a worker computed the same');
    assert.equal(r.live, 0, "a worker's count is its own");
  }
  assert.equal(liveTensors(), before, "the main thread's count is not moved by the workers");
});
