// Loads real-size torchvision checkpoints (written by scripts/pth_real_size.py) with dsdnet's torch.save reader and
// compares eval-mode outputs with PyTorch's, two ways: as pretrained weights (readPretrained / applyPretrained, the
// classifier replaced: the pooled features are compared) and as a whole state dict (readTorchFile + loadStateDict
// with the classifier: the logits are compared). Prints max abs differences and read times. libtorch runs on one
// thread unless DSDNET_NUM_THREADS says otherwise, as the Python side does: the same libtorch then gives identical
// outputs (0 difference); other thread counts differ by float32 rounding. A check run by hand:
//
//   /usr/bin/python3 scripts/pth_real_size.py /tmp/pth-real && npx tsc -p tsconfig.json && node dist/scripts/pth-real-size.js /tmp/pth-real
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { readNpy, readTorchFile } from '../src/io/index.js';
import { type Backbone, createBackbone, globalPool } from '../src/models/index.js';
import { noGrad, setNumThreads, type Tensor, tidy } from '../src/torch/index.js';
import { applyPretrained, readPretrained } from '../src/weights/index.js';

const MODELS = ['resnet18', 'resnet50', 'mobilenet_v2'];

const dir = process.argv[2];
if (!dir) throw new Error('usage: pth-real-size.js DIR (written by scripts/pth_real_size.py)');
if (process.env.DSDNET_NUM_THREADS === undefined) setNumThreads(1);

const maxAbs = (a: Tensor, b: Tensor): number => tidy(() => a.sub(b).abs().max().item());
const features = (model: Backbone, x: Tensor): Tensor => tidy(() => noGrad(() => globalPool(model.stages(x)[3])));
const ms = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e6;

let worst = 0;
for (const name of MODELS) {
  const file = join(dir, `${name}.pth`);
  const input = readNpy(join(dir, `${name}_input.npy`));
  const refFeatures = readNpy(join(dir, `${name}_features.npy`));
  const refLogits = readNpy(join(dir, `${name}_logits.npy`));
  const mib = statSync(file).size / 2 ** 20;

  // As pretrained weights: the classifier is replaced (it keeps its fresh initialisation), so compare features.
  const a = createBackbone(name, 1000);
  let start = process.hrtime.bigint();
  const weights = readPretrained(file, a, name);
  const readMs = ms(start);
  const dropped = [...weights.dropped].sort().join(', ');
  applyPretrained(a, weights);
  a.eval();
  const featureDiff = maxAbs(features(a, input), refFeatures);
  a.dispose();

  // As a whole state dict, classifier included: compare logits (and features).
  const b = createBackbone(name, 1000);
  start = process.hrtime.bigint();
  const content = readTorchFile(file);
  const rawMs = ms(start);
  b.loadStateDict(content.tensors);
  for (const t of content.tensors.values()) t.dispose();
  b.eval();
  const logitDiff = tidy(() =>
    maxAbs(
      noGrad(() => b.forward(input)),
      refLogits,
    ),
  );
  const featureDiffB = maxAbs(features(b, input), refFeatures);
  b.dispose();

  const scale = (t: Tensor): string => t.abs().max().item().toPrecision(4);
  console.log(
    `${name}: ${mib.toFixed(1)} MiB, ${content.tensors.size} tensors; readPretrained ${readMs.toFixed(0)} ms (dropped ${dropped}), readTorchFile ${rawMs.toFixed(0)} ms\n` +
      `  pretrained: features max |diff| ${featureDiff.toExponential(2)} (max |features| ${scale(refFeatures)})\n` +
      `  state dict: logits max |diff| ${logitDiff.toExponential(2)} (max |logits| ${scale(refLogits)}), features max |diff| ${featureDiffB.toExponential(2)}`,
  );
  worst = Math.max(
    worst,
    featureDiff / Math.max(1, refFeatures.abs().max().item()),
    logitDiff / Math.max(1, refLogits.abs().max().item()),
  );
  for (const t of [input, refFeatures, refLogits]) t.dispose();
}
console.log(`worst difference relative to max(1, output scale): ${worst.toExponential(2)}`);
if (worst > 1e-4) {
  console.error('FAIL: outputs differ from PyTorch by more than float32 rounding');
  process.exitCode = 1;
}
