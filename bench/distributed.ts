// Data parallelism on this machine: ResNet-18 training at 128 px on a global batch of 32, as 2 processes x 1 thread
// (16 images each, gradients all-reduced with Gloo over loopback) against 1 process x 2 threads; the communication a
// step exposes for ResNet-18 and ResNet-50 with the all-reduce overlapping backward and after it (step time minus the
// step time of the same 2 processes without all-reduce); and the all-reduce alone, with its effective bandwidth.
// Alternates the setups.
// Usage: node dist/bench/distributed.js [--rounds 2] [--iters 10]
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { median } from './compare.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '2' }, iters: { type: 'string', default: '10' } },
});
const worker = fileURLToPath(new URL('./dist-worker.js', import.meta.url));
interface Result {
  rank: number;
  steps: number[];
  gradientBytes: number;
}

/** The items in order on even rounds, reversed on odd ones, so that no setup always runs first. */
const alternating = <T>(items: readonly T[], round: number): readonly T[] =>
  round % 2 === 0 ? items : [...items].reverse();

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

async function run(world: number, threads: number, args: string[]): Promise<Result[]> {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: world }, (_, rank) => {
      const env = {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(world),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        DSDNET_NUM_THREADS: String(threads),
      };
      const child = spawn(process.execPath, [worker, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<Result>((resolve, reject) =>
        child.on('exit', (code) =>
          code === 0 ? resolve(JSON.parse(out) as Result) : reject(new Error(`rank ${rank} exited with ${code}`)),
        ),
      );
    }),
  );
}

const iters = values.iters!;
const setups = [
  {
    label: '1 process x 2 threads, batch 32',
    world: 1,
    threads: 2,
    args: ['overlap', 'resnet18', '128', '32', '3', iters],
  },
  {
    label: '2 processes x 1 thread, 16 each',
    world: 2,
    threads: 1,
    args: ['overlap', 'resnet18', '128', '16', '3', iters],
  },
];
const stepTimes = new Map<string, number[]>(setups.map((s) => [s.label, []]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const setup of alternating(setups, round)) {
    const results = await run(setup.world, setup.threads, setup.args);
    stepTimes.get(setup.label)!.push(...results[0].steps);
    process.stderr.write(`round ${round + 1} ${setup.label}: median step ${median(results[0].steps).toFixed(3)} s\n`);
  }
}
const lines = ['| setup | median step (s) | images/s | vs 1 x 2 threads |', '|---|---|---|---|'];
const base = 32 / median(stepTimes.get(setups[0].label)!);
for (const s of setups) {
  const rate = 32 / median(stepTimes.get(s.label)!);
  lines.push(
    `| ${s.label} | ${median(stepTimes.get(s.label)!).toFixed(3)} | ${rate.toFixed(1)} | ${(rate / base).toFixed(2)}x |`,
  );
}
console.log(
  `ResNet-18 training, 128 px, global batch 32, SGD, channels-last, fp32 (${values.rounds} rounds x ${iters} steps per setup)`,
);
console.log(lines.join('\n'));

const exposedLines = [
  '| gradients | no all-reduce: step (s) | all-reduce after backward: step (s), exposed (ms) | overlapped with backward: step (s), exposed (ms) |',
  '|---|---|---|---|',
];
for (const model of ['resnet18', 'resnet50']) {
  const modes = ['local', 'after', 'overlap'];
  const times = new Map<string, number[]>(modes.map((m) => [m, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of alternating(modes, round)) {
      const results = await run(2, 1, [mode, model, '128', '16', '2', iters]);
      // A step ends when the slower rank's does.
      times.get(mode)!.push(...results[0].steps.map((t, i) => Math.max(t, results[1].steps[i])));
      process.stderr.write(
        `round ${round + 1} ${model} ${mode}: median step ${median(times.get(mode)!).toFixed(3)} s\n`,
      );
    }
  }
  const [local, after, overlap] = modes.map((m) => median(times.get(m)!));
  exposedLines.push(
    `| ${model} | ${local.toFixed(3)} | ${after.toFixed(3)}, ${(1000 * (after - local)).toFixed(1)} | ${overlap.toFixed(3)}, ${(1000 * (overlap - local)).toFixed(1)} |`,
  );
}
console.log(
  `\nCommunication exposed per step, 2 processes x 1 thread, 16 images each at 128 px (${values.rounds} rounds x ${iters} steps)`,
);
console.log(exposedLines.join('\n'));
console.log('');
const reduceLines = [
  '| gradients | bytes | all-reduce, 2 ranks (ms) | algorithm bandwidth (GB/s) |',
  '|---|---|---|---|',
];
for (const model of ['resnet18', 'resnet50']) {
  const results = await run(2, 1, ['allreduce', model, '32', '1', '3', iters]);
  const seconds = median(results[0].steps);
  reduceLines.push(
    `| ${model} | ${results[0].gradientBytes.toLocaleString('en-US')} | ${(1000 * seconds).toFixed(1)} | ${(results[0].gradientBytes / seconds / 1e9).toFixed(2)} |`,
  );
}
console.log('Gradient all-reduce alone (Gloo, loopback, buckets of 25 MiB)');
console.log(reduceLines.join('\n'));
