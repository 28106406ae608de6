// Inference throughput: ONNX Runtime (onnxruntime-node, on models exported by dsdnet) against dsdnet's libtorch
// eval and PyTorch (torchvision, stock), float32, batch 1 and 32, at 128 and 224 px, ResNet-18 and MobileNetV2;
// every case alternating sides. Target: ONNX Runtime >= 1.5x libtorch's images/s at batch 32.
// Usage: node dist/bench/inference.js [--rounds 3] [--iters 10] [--warmup 3] [--threads 2]
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { DEFAULT_SCALE } from '../src/data/index.js';
import { exportOnnx } from '../src/export/index.js';
import { createBackbone } from '../src/models/index.js';
import { PYTHON, runAlternating, type Side, summarizeSide } from './compare.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    iters: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
  },
});
const MODELS = [
  { name: 'ResNet-18', model: 'resnet18' },
  { name: 'MobileNetV2', model: 'mobilenet_v2' },
];
const SIZES = [128, 224];
const BATCHES = [1, 32];

// The exported models (1000 classes, as the peers'), one per input size (an exported model takes its training
// size; the batch is dynamic).
const onnxDir = join(tmpdir(), 'dsdnet-bench-onnx');
mkdirSync(onnxDir, { recursive: true });
for (const { model } of MODELS) {
  for (const size of SIZES) {
    const backbone = createBackbone(model as 'resnet18', 1000);
    const loaded = {
      model: backbone,
      classNames: Array.from({ length: 1000 }, (_, i) => `c${i}`),
      backbone: model,
      size,
      decodeSize: size,
      decode: { bands: null, scale: DEFAULT_SCALE },
      source: 'bench',
      info: {},
    };
    writeFileSync(join(onnxDir, `${model}-${size}.onnx`), exportOnnx(loaded, '/bench').bytes);
    backbone.dispose();
  }
}

const tail = [values.warmup!, values.iters!, values.threads!];
const script = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const sides: Side[] = [
  {
    name: 'ONNX Runtime',
    command: process.execPath,
    args: (a) => [script('./ort-worker.js'), ...a, ...tail],
    env: { DSDNET_BENCH_ONNX_DIR: onnxDir },
  },
  { name: 'dsdnet (libtorch)', command: process.execPath, args: (a) => [script('./module-worker.js'), ...a, ...tail] },
  {
    name: 'PyTorch',
    command: PYTHON,
    args: (a) => [fileURLToPath(new URL('../../bench/peer_torch.py', import.meta.url)), ...a, ...tail],
  },
];
const cases = MODELS.flatMap((m) =>
  SIZES.flatMap((size) =>
    BATCHES.map((batch) => ({
      label: `${m.name} ${size} px, batch ${batch}`,
      batch,
      args: ['infer', m.model, String(size), String(batch), 'fp32', 'contiguous'],
    })),
  ),
);
const results = runAlternating(cases, sides, Number(values.rounds));
const lines = [
  '| case | ONNX Runtime (images/s) | dsdnet libtorch (images/s) | PyTorch (images/s) | ORT / libtorch | ORT / PyTorch |',
  '|---|---|---|---|---|---|',
];
results.forEach((r, i) => {
  const rate = (side: string): number | undefined => {
    const s = summarizeSide(r.bySide.get(side)!);
    return 'failed' in s ? undefined : cases[i].batch / s.seconds;
  };
  const [ort, torch, peer] = ['ONNX Runtime', 'dsdnet (libtorch)', 'PyTorch'].map(rate);
  const show = (v: number | undefined): string => (v === undefined ? 'fails' : v.toFixed(1));
  const ratio = (a: number | undefined, b: number | undefined): string =>
    a !== undefined && b !== undefined ? `${(a / b).toFixed(2)}x` : '-';
  lines.push(
    `| ${r.label} | ${show(ort)} | ${show(torch)} | ${show(peer)} | ${ratio(ort, torch)} | ${ratio(ort, peer)} |`,
  );
});
console.log(
  `Inference, float32, ${values.threads} threads, ${values.rounds} rounds x ${values.iters} timed runs (after ${values.warmup} warm-up), medians`,
);
console.log(lines.join('\n'));
