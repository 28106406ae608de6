// Do the data pipeline, the method and the training loop add little? The trainer's throughput (UC Merced, cpu
// preset: ResNet-18 at 128 px, batch 32, RMSprop, the recipe's augmentation) against the bare benchmark steps on a
// fixed random batch: the module worker with the same RMSprop, and the engine worker (SGD with momentum). Each round
// runs the workers, then the trainer for two epochs and takes the second (steady-state) epoch's images/s.
// Usage: node dist/bench/trainer.js [DATASET_DIR] [--rounds 2] [--method plain]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { METHODS, type MethodName } from '../src/dsd/index.js';
import { getNumThreads } from '../src/torch/index.js';
import { type EpochRecord, readPreset, resolveConfig, train } from '../src/train/index.js';
import { median, runWorker, type Side } from './compare.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '2' }, method: { type: 'string', default: 'plain' } },
});
const method = values.method as MethodName;
if (!(METHODS as readonly string[]).includes(method)) throw new Error(`--method must be one of ${METHODS.join(', ')}, got '${values.method}'`);
const root = positionals[0] ?? fileURLToPath(new URL('../../../shared/datasets/ucmerced', import.meta.url));
const preset = readPreset('cpu');
const [size, batch] = [preset.size!, preset.batchSize!];
const workerArgs = (mode: string): string[] => [mode, 'resnet18', String(size), String(batch), '3', '20', String(getNumThreads())];
const worker = (file: string): Side => ({ name: file, command: process.execPath, args: (a) => [fileURLToPath(new URL(file, import.meta.url)), ...a] });

const rates = { rmsprop: [] as number[], sgd: [] as number[], trainer: [] as number[] };
for (let round = 0; round < Number(values.rounds); round++) {
  rates.rmsprop.push(batch / median(runWorker(worker('./module-worker.js'), workerArgs('train-rmsprop')).times));
  rates.sgd.push(batch / median(runWorker(worker('./ops-worker.js'), workerArgs('train')).times));
  const out = mkdtempSync(join(tmpdir(), 'dsdnet-bench-trainer-'));
  try {
    await train(resolveConfig(root, preset, { method }), { out, report: 'quiet', stopAfterEpochs: 2 });
    const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EpochRecord);
    rates.trainer.push(records[1].imagesPerSecond);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  process.stderr.write(`round ${round + 1}: bare RMSprop step ${rates.rmsprop[round].toFixed(1)} img/s, engine SGD step ${rates.sgd[round].toFixed(1)} img/s, trainer (${method}) ${rates.trainer[round].toFixed(1)} img/s\n`);
}
const [rmsprop, sgd, trainer] = [median(rates.rmsprop), median(rates.sgd), median(rates.trainer)];
console.log(`trainer (${method}, cpu preset, ${root}) vs bare ResNet-18 steps at ${size} px, batch ${batch}, ${getNumThreads()} threads; medians of ${values.rounds} rounds`);
console.log('| step | images/s | bare / trainer time ratio |\n|---|---|---|');
console.log(`| trainer, ${method} (data + method + loop) | ${trainer.toFixed(1)} | |`);
console.log(`| bare step, module worker, same RMSprop | ${rmsprop.toFixed(1)} | ${(rmsprop / trainer).toFixed(3)} |`);
console.log(`| bare step, engine worker, SGD momentum | ${sgd.toFixed(1)} | ${(sgd / trainer).toFixed(3)} |`);
