// ATen's AVX-512 kernels against its AVX2 ones (ATEN_CPU_CAPABILITY), which is what dsdnet's default changes on CPUs
// with AVX512-BF16: training steps of the three backbones, ours and PyTorch's (with our allocation policy), each
// under both, every side alternating.
// Usage: node dist/bench/kernels.js [--rounds 3] [--iters 10] [--warmup 3] [--threads 2] [--precision bf16|fp32]
//        [--only TEXT] (the backbones whose name contains TEXT)
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  ALTERNATING_OPTIONS,
  median,
  PEER_MALLOC_TUNABLES,
  PYTHON,
  runAlternating,
  type Side,
  succeeded,
  summarizeSide,
} from './compare.js';

const { values } = parseArgs({ options: { ...ALTERNATING_OPTIONS, precision: { type: 'string', default: 'bf16' } } });
if (values.precision !== 'bf16' && values.precision !== 'fp32')
  throw new Error(`--precision must be bf16 or fp32, got '${values.precision}'`);
const tail = [values.warmup!, values.iters!, values.threads!];
const worker = fileURLToPath(new URL('./module-worker.js', import.meta.url));
const peerScript = fileURLToPath(new URL('../../bench/peer_torch.py', import.meta.url));
const CAPABILITIES = ['avx2', 'avx512'] as const;
const sides: Side[] = CAPABILITIES.flatMap((capability): Side[] => [
  {
    name: `dsdnet ${capability}`,
    command: process.execPath,
    args: (a: string[]) => [worker, ...a, ...tail],
    env: { ATEN_CPU_CAPABILITY: capability },
  },
  {
    name: `PyTorch ${capability}`,
    command: PYTHON,
    args: (a: string[]) => [peerScript, ...a, ...tail],
    env: { ATEN_CPU_CAPABILITY: capability, GLIBC_TUNABLES: PEER_MALLOC_TUNABLES },
  },
]);
const MODELS = [
  { name: 'ResNet-18', model: 'resnet18', batch: 32 },
  { name: 'ResNet-50', model: 'resnet50', batch: 16 },
  { name: 'MobileNetV2', model: 'mobilenet_v2', batch: 32 },
];
const cases = MODELS.filter((m) => m.name.includes(values.only ?? '')).map((m) => ({
  label: `${m.name} train step 128 px, batch ${m.batch}, ${values.precision} channels-last`,
  args: ['train', m.model, '128', String(m.batch), values.precision!, 'channelsLast'],
}));
const results = runAlternating(cases, sides, Number(values.rounds));

console.log(
  `ATen kernels: AVX-512 against AVX2; ${values.threads} threads, ${values.rounds} rounds x ${values.iters} timed steps (after ${values.warmup} warm-up) per side`,
);
console.log(
  '| case | side | AVX2 median (s) | AVX-512 median (s) | AVX-512 / AVX2 | per-round ratios |\n|---|---|---|---|---|---|',
);
for (const r of results) {
  for (const who of ['dsdnet', 'PyTorch']) {
    const [avx2, avx512] = CAPABILITIES.map((c) => r.bySide.get(`${who} ${c}`)!);
    const [a, b] = [summarizeSide(avx2), summarizeSide(avx512)];
    if ('failed' in a || 'failed' in b) {
      console.log(`| ${r.label} | ${who} | fails | fails | - | - |`);
      continue;
    }
    // Each round ran both sides back to back, so its ratio is the least disturbed by the machine's drift.
    const rounds = avx2.map((run, i) => median(succeeded(avx512[i]).times) / median(succeeded(run).times));
    console.log(
      `| ${r.label} | ${who} | ${a.seconds.toFixed(3)} | ${b.seconds.toFixed(3)} | ${(b.seconds / a.seconds).toFixed(3)} | ${rounds.map((x) => x.toFixed(2)).join(', ')} |`,
    );
  }
}
