// Module benchmark: backbones from src/models trained with src/optim against torchvision with torch.optim, in float32,
// channels-last and bf16 mixed precision + channels-last; inference; the optimizer step alone (foreach and per
// parameter); then the fraction of the machine's measured matrix-product peak that each training step reaches.
// Usage: node dist/bench/modules.js [--rounds 3] [--iters 10] [--warmup 3] [--threads 2] [--only TEXT]
// (--only: the cases whose label contains TEXT, e.g. MobileNetV2)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import {
  type BenchCase,
  type CaseResult,
  PEER_SAME_MALLOC,
  PEER_SAME_SETTINGS,
  PYTHON,
  runBenchmark,
  runWorker,
  succeeded,
  summarizeSide,
} from './compare.js';

type Variant = Pick<BenchCase, 'precision' | 'layout'> & { tag: string };
const VARIANTS: Variant[] = [
  { tag: 'fp32', precision: 'fp32', layout: 'contiguous' },
  { tag: 'fp32 channels-last', precision: 'fp32', layout: 'channelsLast' },
  { tag: 'bf16 channels-last', precision: 'bf16', layout: 'channelsLast' },
];
const MODELS = [
  { name: 'ResNet-18', model: 'resnet18', size: 128, batch: 32 },
  { name: 'ResNet-50', model: 'resnet50', size: 128, batch: 16 },
  { name: 'MobileNetV2', model: 'mobilenet_v2', size: 128, batch: 32 },
];
const trainLabel = (m: (typeof MODELS)[number], v: Variant): string =>
  `${m.name} train step ${m.size} px, batch ${m.batch}, ${v.tag}`;

const cases: BenchCase[] = [
  ...MODELS.flatMap((m) =>
    VARIANTS.map((v) => ({
      label: trainLabel(m, v),
      mode: 'train' as const,
      model: m.model,
      size: m.size,
      batch: m.batch,
      precision: v.precision,
      layout: v.layout,
    })),
  ),
  {
    label: 'ResNet-18 train step 128 px, batch 32, RMSprop, fp32',
    mode: 'train-rmsprop',
    model: 'resnet18',
    size: 128,
    batch: 32,
  },
  { label: 'ResNet-18 inference 128 px, batch 32, fp32', mode: 'infer', model: 'resnet18', size: 128, batch: 32 },
  {
    label: 'ResNet-18 inference 128 px, batch 32, bf16 channels-last',
    mode: 'infer',
    model: 'resnet18',
    size: 128,
    batch: 32,
    precision: 'bf16',
    layout: 'channelsLast',
  },
  ...MODELS.flatMap((m) => [
    { label: `${m.name} RMSprop step, foreach`, mode: 'optim' as const, model: m.model, size: 32, batch: 1 },
    {
      label: `${m.name} RMSprop step, per parameter`,
      mode: 'optim-plain' as const,
      model: m.model,
      size: 32,
      batch: 1,
    },
  ]),
];

const results = runBenchmark('src/models + src/optim vs torchvision + torch.optim', './module-worker.js', cases);
const seconds = (r: CaseResult | undefined, side: string): number | undefined => {
  const runs = r?.bySide.get(side);
  const s = runs === undefined ? undefined : summarizeSide(runs);
  return s === undefined || 'failed' in s ? undefined : s.seconds;
};
const byLabel = new Map(results.map((r) => [r.label, r]));
// The backbones whose training steps ran (all, unless --only chose some cases).
const measured = MODELS.filter((m) => VARIANTS.some((v) => byLabel.has(trainLabel(m, v))));

console.log(
  '\nTargets: dsdnet bf16 + channels-last against PyTorch bf16 + channels-last (same process settings; <= 0.9x) and against stock PyTorch fp32 (<= 0.6x for ResNet-18)',
);
console.log(
  `| model | dsdnet bf16 CL (s) | ${PEER_SAME_MALLOC}, bf16 CL (s) | ratio | ${PEER_SAME_SETTINGS}, bf16 CL (s) | ratio | stock PyTorch fp32 (s) | ratio |\n|---|---|---|---|---|---|---|---|`,
);
// '-': failed (the table above says why), not run (--only), or no such peer (dsdnet asked for PyTorch's own kernels).
const fmt = (v: number | undefined, digits = 3): string => (v === undefined ? '-' : v.toFixed(digits));
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined ? '-' : (a / b).toFixed(3);
for (const m of measured) {
  const bf16 = byLabel.get(trainLabel(m, VARIANTS[2]));
  const fp32 = byLabel.get(trainLabel(m, VARIANTS[0]));
  const ours = seconds(bf16, 'dsdnet');
  const peers = [seconds(bf16, PEER_SAME_MALLOC), seconds(bf16, PEER_SAME_SETTINGS), seconds(fp32, 'PyTorch')];
  console.log(`| ${m.name} | ${fmt(ours)} | ${peers.map((p) => `${fmt(p)} | ${ratio(ours, p)}`).join(' | ')} |`);
}

// The machine's peak: the best rate of large matrix products through the engine, per dtype, both as a 1x1 convolution
// (oneDNN, as the backbones' convolutions) and as torch.mm (Debian's libtorch sends float32 mm to the reference BLAS).
const gemmWorker = fileURLToPath(new URL('./gemm-worker.js', import.meta.url));
const N = 2048;
const rate = (kind: string, dtype: string): number => {
  const times = succeeded(
    runWorker(
      { name: 'gemm', command: process.execPath, args: () => [gemmWorker, kind, dtype, String(N), '3', '10', '2'] },
      [],
    ),
  ).times;
  return (2 * N ** 3) / Math.min(...times) / 1e9;
};
const rates = Object.fromEntries(
  ['conv', 'mm'].flatMap((kind) => ['float32', 'bfloat16'].map((dtype) => [`${kind} ${dtype}`, rate(kind, dtype)])),
);
const peaks = {
  fp32: Math.max(rates['conv float32'], rates['mm float32']),
  bf16: Math.max(rates['conv bfloat16'], rates['mm bfloat16']),
};
const peerScript = fileURLToPath(new URL('../../bench/peer_torch.py', import.meta.url));
console.log(
  `\nPeak: ${N}x${N} matrix products through the engine (best of 10), GFLOP/s: ${Object.entries(rates)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ')}`,
);
console.log(
  'Fraction of peak: a training step counted as 3 forward passes of convolution and linear FLOPs, against the best rate of its dtype',
);
console.log('| model | GFLOP per step | variant | dsdnet GFLOP/s | fraction of peak |\n|---|---|---|---|---|');
for (const m of measured) {
  const counted = spawnSync(PYTHON, [peerScript, 'flops', m.model, String(m.size), String(m.batch)], {
    encoding: 'utf8',
  });
  if (counted.status !== 0) throw new Error(`counting FLOPs failed: ${counted.stderr}`);
  const stepFlops = 3 * (JSON.parse(counted.stdout.trim()) as { forwardFlops: number }).forwardFlops;
  for (const v of VARIANTS) {
    const t = seconds(byLabel.get(trainLabel(m, v)), 'dsdnet');
    const rate = t === undefined ? undefined : stepFlops / t / 1e9;
    const p = v.precision === 'bf16' ? peaks.bf16 : peaks.fp32;
    console.log(
      `| ${m.name} | ${(stepFlops / 1e9).toFixed(1)} | ${v.tag} | ${fmt(rate, 0)} | ${rate === undefined ? '-' : (rate / p).toFixed(2)} |`,
    );
  }
}
