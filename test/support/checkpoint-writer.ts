// Child process for the kill test: saves checkpoints in a loop, each holding a tensor filled with its step number,
// and reports each completed save on stdout. Usage: node checkpoint-writer.js ROOT
import { saveCheckpoint } from '../../src/io/index.js';
import { full, tidy } from '../../src/torch/index.js';

const root = process.argv[2];
for (let step = 1; ; step++) {
  tidy(() => {
    const weights = new Map([['layer.weight', full([4, 1024, 1024], step, { dtype: 'float32' })]]);
    saveCheckpoint(root, ['latest'], {
      model: weights,
      tensors: new Map([['optimizer.0.buf', full([1024], -step, { dtype: 'float32' })]]),
      info: { step },
    });
  });
  process.stdout.write(`saved ${step}\n`);
}
