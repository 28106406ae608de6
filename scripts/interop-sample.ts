// Writes, for each backbone, a checkpoint made by dsdnet plus an input and dsdnet's eval-mode output, for
// scripts/interop_pytorch.py to load into torchvision and compare. Usage: node dist/scripts/interop-sample.js OUT_DIR
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { saveCheckpoint, writeSafetensors } from '../src/io/index.js';
import { BACKBONES, createBackbone } from '../src/models/index.js';
import { manualSeed, noGrad, randn, tidy } from '../src/torch/index.js';

const out = process.argv[2];
if (!out) throw new Error('usage: interop-sample.js OUT_DIR');
const numClasses = 21;
for (const name of BACKBONES) {
  tidy(() => {
    manualSeed(1);
    const model = createBackbone(name, numClasses);
    // A few training-mode passes so that BatchNorm statistics are not the defaults.
    noGrad(() => {
      for (let i = 0; i < 3; i++) model.forward(randn([4, 3, 64, 64]).mul(2).add(0.5));
    });
    model.eval();
    const input = randn([2, 3, 96, 96]);
    const output = noGrad(() => model.forward(input));
    const dir = join(out, name);
    mkdirSync(dir, { recursive: true });
    saveCheckpoint(dir, ['latest'], {
      model: model.stateDict(),
      tensors: new Map(),
      info: { backbone: name, numClasses },
      modelMetadata: { backbone: name, numClasses: String(numClasses) },
    });
    writeSafetensors(
      join(dir, 'sample.safetensors'),
      new Map([
        ['input', input],
        ['output', output],
      ]),
    );
    model.dispose();
    console.log(`${name}: ${join(dir, 'latest', 'model.safetensors')}`);
  });
}
