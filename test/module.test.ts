// Module semantics: registration, naming and order, train/eval, state dicts (strict and not), freezing, init.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Embedding,
  Layer,
  Linear,
  type Module,
  ReLU,
  Sequential,
} from '../src/nn/index.js';
import { liveTensors, manualSeed, ones, randn, type Tensor, tensor, zeros } from '../src/torch/index.js';

class Net extends Layer {
  readonly features = this.child(
    'features',
    new Sequential(new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU()),
  );
  readonly head = this.child('head', new Linear(4, 2));
  readonly scale = this.parameter('scale', ones([1]));

  forward(x: Tensor): Tensor {
    return this.head.forward(this.features.forward(x).mean([2, 3])).mul(this.scale);
  }
}

test('names follow PyTorch: own parameters, then children in order; Sequential children are numbered', () => {
  const net = new Net();
  assert.deepEqual(
    [...net.stateDict().keys()],
    [
      'scale',
      'features.0.weight',
      'features.0.bias',
      'features.1.weight',
      'features.1.bias',
      'features.1.running_mean',
      'features.1.running_var',
      'features.1.num_batches_tracked',
      'head.weight',
      'head.bias',
    ],
  );
  assert.deepEqual(
    net.namedParameters().map(([n]) => n),
    [
      'scale',
      'features.0.weight',
      'features.0.bias',
      'features.1.weight',
      'features.1.bias',
      'head.weight',
      'head.bias',
    ],
  );
  assert.deepEqual(
    net.namedBuffers().map(([n]) => n),
    ['features.1.running_mean', 'features.1.running_var', 'features.1.num_batches_tracked'],
  );
  assert.equal(net.numParameters(), 1 + 4 * 3 * 9 + 4 + 4 + 4 + 2 * 4 + 2);
  assert.deepEqual(
    net.namedModules().map(([n]) => n),
    ['', 'features', 'features.0', 'features.1', 'features.2', 'head'],
  );
});

test('train() and eval() propagate; BatchNorm counts batches and updates running stats only in training', () => {
  const net = new Net();
  const bn = net.features.layers[1] as BatchNorm2d;
  const x = randn([2, 3, 5, 5]).mul(3).add(2);
  net.forward(x);
  assert.equal(bn.numBatchesTracked.item(), 1);
  assert.notDeepEqual(bn.runningMean.toArray(), [0, 0, 0, 0]);
  net.eval();
  assert.equal(net.training, false);
  assert.equal(net.features.layers[1].training, false);
  const before = bn.runningMean.toArray();
  net.forward(x);
  assert.deepEqual(bn.runningMean.toArray(), before);
  assert.equal(bn.numBatchesTracked.item(), 1);
  assert.throws(() => bn.forward(randn([2, 4])), /BatchNorm2d: expected a 4D input, got shape \[2,4\]/);
  assert.deepEqual(new BatchNorm1d(3).forward(randn([4, 3])).shape, [4, 3]);
});

test('loadStateDict copies values; strict reports missing and unexpected keys; shape mismatches are named', () => {
  const a = new Net();
  const b = new Net();
  b.loadStateDict(a.stateDict());
  for (const [name, t] of a.stateDict()) assert.ok(t.allclose(b.stateDict().get(name)!), name);

  const partial = new Map(a.stateDict());
  partial.delete('head.bias');
  partial.set('extra.weight', ones([1]));
  assert.throws(() => b.loadStateDict(partial), /missing keys: head\.bias\. unexpected keys: extra\.weight/);
  const result = b.loadStateDict(partial, { strict: false });
  assert.deepEqual(result, { missingKeys: ['head.bias'], unexpectedKeys: ['extra.weight'] });

  const wrong = new Map(a.stateDict());
  wrong.set('head.weight', zeros([3, 4]));
  assert.throws(
    () => b.loadStateDict(wrong, { strict: false }),
    /shape mismatch for head\.weight: checkpoint \[3,4\] vs model \[2,4\]/,
  );
});

test('freeze stops gradients; zeroGrad clears them', () => {
  const net = new Net();
  net.features.freeze();
  assert.equal(net.numParameters({ trainableOnly: true }), 1 + 2 * 4 + 2);
  net
    .forward(randn([2, 3, 4, 4]))
    .sum()
    .backward();
  assert.equal((net.features.layers[0] as Conv2d).weight.grad, null);
  assert.notEqual(net.head.weight.grad, null);
  net.zeroGrad();
  assert.equal(net.head.weight.grad, null);
  net.features.freeze(false);
  assert.equal(net.numParameters({ trainableOnly: true }), net.numParameters());
});

test('default initialisation follows PyTorch: U(+-1/sqrt(fan_in)) for conv and linear, N(0,1) for embeddings', () => {
  manualSeed(0);
  const conv = new Conv2d(16, 32, 3);
  const bound = 1 / Math.sqrt(16 * 9);
  assert.ok(conv.weight.abs().max().item() <= bound && conv.weight.abs().max().item() > 0.95 * bound);
  assert.ok(Math.abs(conv.weight.std().item() - bound / Math.sqrt(3)) < 0.05 * bound);
  assert.ok(conv.bias!.abs().max().item() <= bound);
  const linear = new Linear(100, 50);
  assert.ok(linear.weight.abs().max().item() <= 0.1);
  const emb = new Embedding(50, 20, 3);
  assert.ok(Math.abs(emb.weight.std().item() - 1) < 0.1);
  assert.deepEqual(emb.weight.select(0, 3).toArray(), new Array(20).fill(0));
  assert.deepEqual(emb.forward(tensor([3, 3])).shape, [2, 20]);
  assert.throws(() => new Conv2d(6, 4, 3, { groups: 4 }), /not divisible by groups 4/);
  assert.throws(() => new Dropout(2), /Dropout: p must be in \[0, 1\], got 2/);
});

test('dispose releases every parameter and buffer', () => {
  const before = liveTensors();
  const net = new Net();
  assert.ok(liveTensors() > before);
  net.dispose();
  assert.equal(liveTensors(), before);
});

test('a module has one parent: another module registering it is refused by name, as is a cycle; one held under two names is listed once', () => {
  class Holder extends Layer {
    constructor(
      readonly held: Module,
      names: string[] = ['inner'],
    ) {
      super();
      for (const name of names) this.child(name, held);
    }
    adopt(name: string, module: Module): void {
      this.child(name, module);
    }
    forward(x: Tensor): Tensor {
      return x;
    }
  }
  const shared = new Linear(2, 2);
  const first = new Holder(shared);
  assert.throws(() => new Holder(shared), /Holder: cannot register 'inner', a Linear that a Holder already holds/);
  const outer = new Holder(first, ['outer']);
  assert.throws(() => first.adopt('loop', outer), /Holder: cannot register 'loop', a Holder that holds it \(a cycle\)/);
  const tied = new Holder(new Linear(2, 2), ['a', 'b']);
  assert.deepEqual(
    tied.namedModules().map(([name]) => name),
    ['', 'a'],
  );
  assert.deepEqual([...tied.stateDict().keys()], ['a.weight', 'a.bias']);
  for (const m of [outer, tied]) m.dispose();
});
