// Exact resume: a run snapshotted and restored into fresh objects continues bit-for-bit like the uninterrupted run
// (weights, optimizer state, schedule position, random stream); a checkpoint for other classes is refused.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { BatchNorm1d, Dropout, Layer, Linear } from '../src/nn/index.js';
import { applySchedule, RMSprop, WarmupCosineRestarts } from '../src/optim/index.js';
import { F, manualSeed, randint, randn, type Tensor, tidy } from '../src/torch/index.js';
import { restoreSnapshot, saveSnapshot } from '../src/train/index.js';

class Tiny extends Layer {
  readonly fc1 = this.child('fc1', new Linear(6, 8));
  readonly bn = this.child('bn', new BatchNorm1d(8));
  readonly drop = this.child('drop', new Dropout(0.3));
  readonly fc2 = this.child('fc2', new Linear(8, 3));
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.drop.forward(F.relu(this.bn.forward(this.fc1.forward(x)))));
  }
}

const CLASSES = ['forest', 'harbor', 'runway'];
const schedule = new WarmupCosineRestarts({
  warmupIters: 2,
  warmupStartLr: 1e-4,
  cosineIters: 8,
  cycles: 2,
  minLr: 1e-5,
});

function setup(seed: number): { model: Tiny; optimizer: RMSprop } {
  manualSeed(seed);
  const model = new Tiny();
  const optimizer = new RMSprop(
    [{ params: [...model.fc1.parameters(), ...model.bn.parameters()] }, { params: model.fc2.parameters(), lr: 0.1 }],
    { lr: 0.01, momentum: 0.9, weightDecay: 1e-5 },
  );
  return { model, optimizer };
}

function trainSteps(model: Tiny, optimizer: RMSprop, from: number, count: number): void {
  for (let it = from; it < from + count; it++) {
    tidy(() => {
      applySchedule(optimizer, schedule, it);
      const x = randn([5, 6]);
      const y = randint(0, 3, [5]);
      F.crossEntropy(model.forward(x), y).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
}

function weights(model: Tiny): number[] {
  return [...model.stateDict().values()].flatMap((t) => Array.from(t.data() as ArrayLike<number | bigint>, Number));
}

test('restoring a snapshot continues exactly like the uninterrupted run', () => {
  const straight = setup(0);
  trainSteps(straight.model, straight.optimizer, 0, 6);
  const expected = weights(straight.model);

  const root = join(mkdtempSync(join(tmpdir(), 'dsdnet-snap-')), 'checkpoints');
  const first = setup(0);
  trainSteps(first.model, first.optimizer, 0, 3);
  saveSnapshot(root, ['latest'], {
    model: first.model,
    optimizer: first.optimizer,
    config: { lr: 0.01 },
    classNames: CLASSES,
    epoch: 1,
    iteration: 3,
    extra: { best: 0.5 },
  });
  trainSteps(first.model, first.optimizer, 3, 2); // work after the snapshot that the restore must discard

  const resumed = setup(123);
  const info = restoreSnapshot<{ lr: number }>(root, {
    model: resumed.model,
    optimizer: resumed.optimizer,
    classNames: CLASSES,
  });
  assert.equal(info.iteration, 3);
  assert.equal(info.epoch, 1);
  assert.deepEqual(info.config, { lr: 0.01 });
  assert.deepEqual(info.extra, { best: 0.5 });
  trainSteps(resumed.model, resumed.optimizer, info.iteration, 3);
  assert.deepEqual(weights(resumed.model), expected);
});

test('a checkpoint for another class list is refused, naming the difference', () => {
  const root = join(mkdtempSync(join(tmpdir(), 'dsdnet-snap-')), 'checkpoints');
  const { model, optimizer } = setup(0);
  saveSnapshot(root, ['latest'], { model, optimizer, config: {}, classNames: CLASSES, epoch: 0, iteration: 0 });
  assert.throws(
    () => restoreSnapshot(root, { model, optimizer, classNames: ['forest', 'harbor', 'beach'] }),
    /trained on 3 classes that differ from the 3 given \(missing \["beach"\], extra \["runway"\]\)/,
  );
  assert.throws(
    () => restoreSnapshot(root, { model, optimizer, classNames: ['harbor', 'forest', 'runway'] }),
    /same classes in another order/,
  );
});
