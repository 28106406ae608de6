// Do the data pipeline, the method and the training loop add little? The trainer's throughput (UC Merced, cpu
// preset: ResNet-18 at 128 px, batch 32, RMSprop, the recipe's augmentation) for each method, against the bare
// benchmark steps on a fixed random batch: the module worker with the same RMSprop, and the engine worker (SGD with
// momentum). Each round runs the two workers, then every method's trainer for two epochs, taking the second
// (steady-state) epoch. Throughput is images over total time on both sides (the mean step, slow steps included, as
// an epoch counts them); the medians over rounds give the ratios.
// Usage: node dist/bench/trainer.js [DATASET_DIR] [--rounds 3] [--methods plain,dsd]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { METHODS, type MethodName } from '../src/dsd/index.js';
import { configureEngine, getNumThreads } from '../src/torch/index.js';
import { type EpochRecord, readPreset, resolveConfig, train } from '../src/train/index.js';
import { median, runWorker, type Side, succeeded } from './compare.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, methods: { type: 'string', default: 'plain,dsd' } },
});
const methods = values.methods!.split(',') as MethodName[];
for (const m of methods)
  if (!(METHODS as readonly string[]).includes(m))
    throw new Error(`--methods: '${m}' is not one of ${METHODS.join(', ')}`);
configureEngine({ retainFreedMemory: true }); // as dsdnet train does
const root = positionals[0] ?? fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const preset = readPreset('cpu');
const resolved = resolveConfig(root, preset, {});
const [size, batch] = [resolved.size, resolved.batchSize];
// The bare steps run in the trainer's precision and layout.
const workerArgs = (mode: string): string[] => [
  mode,
  'resnet18',
  String(size),
  String(batch),
  resolved.precision,
  resolved.channelsLast ? 'channelsLast' : 'contiguous',
  '3',
  '20',
  String(getNumThreads()),
];
const worker = (file: string): Side => ({
  name: file,
  command: process.execPath,
  args: (a) => [fileURLToPath(new URL(file, import.meta.url)), ...a],
});

async function trainerRate(method: MethodName): Promise<number> {
  const out = mkdtempSync(join(tmpdir(), 'dsdnet-bench-trainer-'));
  try {
    await train(resolveConfig(root, preset, { method }), { out, report: 'quiet', stopAfterEpochs: 2 });
    const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EpochRecord);
    return records[1].imagesPerSecond;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const throughput = (stepSeconds: number[]): number =>
  (batch * stepSeconds.length) / stepSeconds.reduce((a, b) => a + b, 0);
const rates = new Map<string, number[]>();
function record(name: string, rate: number): void {
  if (!rates.has(name)) rates.set(name, []);
  rates.get(name)!.push(rate);
}
for (let round = 0; round < Number(values.rounds); round++) {
  record('rmsprop', throughput(succeeded(runWorker(worker('./module-worker.js'), workerArgs('train-rmsprop'))).times));
  record('sgd', throughput(succeeded(runWorker(worker('./ops-worker.js'), workerArgs('train'))).times));
  for (const method of methods) record(method, await trainerRate(method));
  process.stderr.write(
    `round ${round + 1}: ${[...rates].map(([name, r]) => `${name} ${r[round].toFixed(1)} img/s`).join(', ')}\n`,
  );
}
const rate = (name: string): number => median(rates.get(name)!);
console.log(
  `trainer (cpu preset, ${root}) vs bare ResNet-18 steps at ${size} px, batch ${batch}, ${getNumThreads()} threads; medians of ${values.rounds} rounds`,
);
console.log(
  '| trainer | images/s | time vs bare RMSprop step | time vs engine SGD step | epoch time vs plain |\n|---|---|---|---|---|',
);
for (const method of methods) {
  const vsPlain = methods.includes('plain') ? `${(rate('plain') / rate(method)).toFixed(3)}x` : '';
  console.log(
    `| ${method} | ${rate(method).toFixed(1)} | ${(rate('rmsprop') / rate(method)).toFixed(3)}x | ${(rate('sgd') / rate(method)).toFixed(3)}x | ${vsPlain} |`,
  );
}
console.log(
  `bare steps: module worker with the recipe's RMSprop ${rate('rmsprop').toFixed(1)} img/s, engine worker with SGD ${rate('sgd').toFixed(1)} img/s`,
);
