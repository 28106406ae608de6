// Optimizers, clipping and schedules against torch.optim (fixtures/optim.json, from generate_optim.py; on another
// libtorch, the file made with the PyTorch of that version when there is one).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Adam,
  AdamW,
  clipGradNorm,
  type GroupOptions,
  type GroupSpec,
  type Optimizer,
  RMSprop,
  SGD,
  StepLr,
  WarmupCosineRestarts,
} from '../src/optim/index.js';
import { arange, libtorchVersion, type Tensor, tidy } from '../src/torch/index.js';
import { fixtureExists, readFixture } from './helpers.js';

interface OptimFixture {
  optimizers: Record<string, { options: Record<string, number | boolean | number[]>; trajectory: number[][][] }>;
  clip: { maxNorm: number; totalNorm: number; grads: number[][] };
  schedules: Record<string, { kind: string; baseLr: number; lrs: number[]; [key: string]: number | string | number[] }>;
}

const ownVersion = `optim-${libtorchVersion().split('.').slice(0, 2).join('.')}.json`;
const fixture = readFixture<OptimFixture>(fixtureExists(ownVersion) ? ownVersion : 'optim.json');

/** Mirrors initial_params() in generate_optim.py. */
function initialParams(): Tensor[] {
  const make = (n: number, shift: number, shape: number[]): Tensor =>
    arange(n, undefined, 1, { dtype: 'float64' }).mul(0.3).add(shift).sin().float().reshape(shape).requiresGrad_();
  return [make(12, 0.1, [3, 4]), make(4, 1.1, [4]), make(5, 2.1, [5])];
}

function lossOf(params: Tensor[]): Tensor {
  return params.map((p) => p.mul(3).sin().add(p.mul(p).mul(0.5)).sum()).reduce((a, b) => a.add(b));
}

type Factory = (
  groups: GroupSpec<GroupOptions>[],
  o: Record<string, number | boolean | number[]>,
) => Optimizer<GroupOptions>;
const num = (v: number | boolean | number[] | undefined): number | undefined =>
  v === undefined ? undefined : Number(v);

const FACTORIES: Record<string, Factory> = {
  SGD: (groups, o) =>
    new SGD(groups, {
      lr: Number(o.lr),
      momentum: num(o.momentum),
      dampening: num(o.dampening),
      nesterov: Boolean(o.nesterov),
      weightDecay: num(o.weight_decay),
    }) as unknown as Optimizer<GroupOptions>,
  RMSprop: (groups, o) =>
    new RMSprop(groups, {
      lr: Number(o.lr),
      alpha: num(o.alpha),
      eps: num(o.eps),
      momentum: num(o.momentum),
      centered: Boolean(o.centered),
      weightDecay: num(o.weight_decay),
    }) as unknown as Optimizer<GroupOptions>,
  Adam: (groups, o) => new Adam(groups, adamOptions(o)) as unknown as Optimizer<GroupOptions>,
  AdamW: (groups, o) => new AdamW(groups, adamOptions(o)) as unknown as Optimizer<GroupOptions>,
};

function adamOptions(o: Record<string, number | boolean | number[]>): {
  lr: number;
  beta1?: number;
  beta2?: number;
  weightDecay?: number;
  amsgrad: boolean;
} {
  const betas = o.betas as number[] | undefined;
  return {
    lr: Number(o.lr),
    beta1: betas?.[0],
    beta2: betas?.[1],
    weightDecay: num(o.weight_decay),
    amsgrad: Boolean(o.amsgrad),
  };
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const KIND: Record<string, string> = { sgd: 'SGD', rmsprop: 'RMSprop', adam: 'Adam', adamw: 'AdamW' };

for (const [name, { options, trajectory }] of Object.entries(fixture.optimizers)) {
  test(`${name}: ${trajectory.length} steps with two parameter groups equal torch.optim`, () => {
    const params = initialParams();
    const kind = KIND[name.split('_')[0]];
    const cleaned = stripUndefined(options);
    const optimizer = FACTORIES[kind](
      [{ params: [params[0], params[1]] }, { params: [params[2]], lr: Number(cleaned.lr) * 10, weightDecay: 0 }],
      cleaned,
    );
    trajectory.forEach((expected, step) => {
      tidy(() => {
        optimizer.zeroGrad();
        lossOf(params).backward();
        optimizer.step();
      });
      params.forEach((p, i) => {
        const got = Array.from(p.data() as Float32Array);
        got.forEach((v, k) =>
          assert.ok(
            Math.abs(v - expected[i][k]) <= 1e-5 + 1e-5 * Math.abs(expected[i][k]),
            `step ${step + 1}, param ${i}[${k}]: ${v} vs ${expected[i][k]}`,
          ),
        );
      });
    });
  });
}

for (const [name, { options }] of Object.entries(fixture.optimizers)) {
  test(`${name}: one foreach update per group equals per-parameter updates bit for bit, a parameter skipping steps included`, () => {
    const run = (foreach: boolean): number[][] => {
      const params = initialParams();
      const cleaned = stripUndefined(options);
      const optimizer = FACTORIES[KIND[name.split('_')[0]]](
        [{ params: [params[0], params[1]] }, { params: [params[2]], lr: Number(cleaned.lr) * 10 }],
        cleaned,
      );
      optimizer.foreach = foreach;
      for (let step = 0; step < 6; step++) {
        tidy(() => {
          optimizer.zeroGrad();
          lossOf(params).backward();
          if (step % 3 === 1) params[1].grad = null; // its step count (Adam's bias correction) falls behind
          optimizer.step();
        });
      }
      return params.map((p) => Array.from(p.data() as Float32Array));
    };
    assert.deepEqual(run(true), run(false));
  });
}

test('optimizer state survives stateDict/loadStateDict: resumed steps equal uninterrupted ones', () => {
  const run = (interrupt: boolean): number[] => {
    const params = initialParams();
    let optimizer = new RMSprop([{ params: params.slice(0, 2) }, { params: [params[2]], lr: 0.1 }], {
      lr: 0.01,
      momentum: 0.5,
      centered: true,
    });
    for (let step = 0; step < 4; step++) {
      if (interrupt && step === 2) {
        const saved = optimizer.stateDict();
        assert.deepEqual([...saved.tensors.keys()].slice(0, 3), ['0.square_avg', '0.grad_avg', '0.momentum_buffer']);
        assert.equal(saved.counters[0].step, 2);
        optimizer = new RMSprop([{ params: params.slice(0, 2) }, { params: [params[2]], lr: 0.5 }], { lr: 0.01 });
        optimizer.loadStateDict(saved);
        assert.equal(optimizer.paramGroups[1].lr, 0.1, 'hyper-parameters come back');
      }
      tidy(() => {
        optimizer.zeroGrad();
        lossOf(params).backward();
        optimizer.step();
      });
    }
    return params.flatMap((p) => Array.from(p.data() as Float32Array));
  };
  assert.deepEqual(run(true), run(false));
});

test('clipGradNorm equals clip_grad_norm_', () => {
  const params = initialParams();
  lossOf(params).backward();
  const total = clipGradNorm(params, fixture.clip.maxNorm);
  assert.ok(
    Math.abs(total - fixture.clip.totalNorm) < 1e-5 * fixture.clip.totalNorm,
    `${total} vs ${fixture.clip.totalNorm}`,
  );
  params.forEach((p, i) =>
    Array.from(p.grad!.data() as Float32Array).forEach((g, k) =>
      assert.ok(Math.abs(g - fixture.clip.grads[i][k]) < 1e-6),
    ),
  );
});

for (const [name, c] of Object.entries(fixture.schedules)) {
  test(`schedule ${name} equals PyTorch's per-iteration lrs`, () => {
    const schedule =
      c.kind === 'step'
        ? new StepLr(c.stepIters as number, c.gamma as number)
        : new WarmupCosineRestarts({
            warmupIters: c.warmupIters as number,
            warmupStartLr: c.warmupStartLr as number,
            cosineIters: c.cosineIters as number,
            cycles: c.cycles as number,
            minLr: c.minLr as number,
          });
    c.lrs.forEach((expected, it) => {
      const lr = schedule.lrAt(it, c.baseLr);
      assert.ok(Math.abs(lr - expected) <= 1e-12 + 1e-9 * expected, `iteration ${it}: ${lr} vs ${expected}`);
    });
  });
}

test('invalid optimizer settings are refused with the value named', () => {
  const [p] = initialParams();
  assert.throws(() => new SGD([p], { lr: -1 }), /SGD: group 0 has invalid lr -1/);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /Nesterov momentum needs momentum > 0/);
  assert.throws(
    () => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }),
    /a parameter appears in more than one group/,
  );
  assert.throws(
    () => new WarmupCosineRestarts({ warmupIters: 1, warmupStartLr: 0, cosineIters: 2, cycles: 3, minLr: 0 }),
    /cosineIters \(2\) must be at least/,
  );
});
