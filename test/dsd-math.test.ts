// DSDNet's maths against ../shared/docs/DSDNET.md with hand-computed numbers: the noise schedule, DDIM refinement,
// the diffusion loss, D (soft-ce and the released defect), the entropy bonus and the whole loss with its weights and
// signs. Expected values are worked out here in plain JS; the code under test only produces the actual values.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DiffusionModule,
  distillLoss,
  entropy,
  type MethodOptions,
  NoiseSchedule,
  readTerms,
  releasedDistill,
  SelfDistillationNet,
  softCrossEntropy,
} from '../src/dsd/index.js';
import { Backbone, type Stages } from '../src/models/index.js';
import { Linear } from '../src/nn/index.js';
import { eye, F, manualSeed, noGrad, randint, randn, type Tensor, tensor } from '../src/torch/index.js';

// ---- plain-JS references -------------------------------------------------------------------------------------

/** alpha_bar_t = prod_{s <= t} (1 - beta_s), betas linear from 1e-4 to 0.02 over T = 1000 (s = 0..999). */
function alphaBarByHand(t: number): number {
  if (t < 0) return 1;
  let product = 1;
  for (let s = 0; s <= t; s++) product *= 1 - (1e-4 + ((0.02 - 1e-4) * s) / 999);
  return product;
}

function logSoftmax(row: number[]): number[] {
  const max = Math.max(...row);
  const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
  return row.map((v) => v - logSum);
}

function softmax(row: number[]): number[] {
  return logSoftmax(row).map(Math.exp);
}

const mean = (values: number[]): number => values.reduce((s, v) => s + v, 0) / values.length;

/** Label cross-entropy, mean over the batch. */
const crossEntropy = (z: number[][], y: number[]): number => mean(z.map((row, b) => -logSoftmax(row)[y[b]]));
/** D(o, t) = -mean_b sum_c softmax(t)_c log_softmax(o)_c. */
const softCe = (o: number[][], t: number[][]): number =>
  mean(o.map((row, b) => -softmax(t[b]).reduce((s, p, c) => s + p * logSoftmax(row)[c], 0)));
/** Cross-entropy against the uniform distribution: -mean_b (1/K) sum_c log_softmax(o)_c. */
const uniformCe = (o: number[][]): number => mean(o.map((row) => -mean(logSoftmax(row))));
/** H(z) = -mean_b sum_c p_c log p_c. */
const entropyOf = (z: number[][]): number =>
  mean(z.map((row) => -softmax(row).reduce((s, p, c) => s + p * logSoftmax(row)[c], 0)));

function close(actual: number, expected: number, what: string, tolerance = 1e-5): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
    `${what}: ${actual}, expected ${expected}`,
  );
}

function closeRows(actual: Tensor, expected: number[][], what: string, tolerance = 1e-5): void {
  const rows = actual.toArray() as number[][];
  assert.deepEqual(actual.shape, [expected.length, expected[0].length], `${what}: shape`);
  rows.forEach((row, b) => row.forEach((v, c) => close(v, expected[b][c], `${what}[${b}][${c}]`, tolerance)));
}

// ---- fixed logits: a backbone whose four "stages" are the input's rows, with identity heads --------------------

const K = 3;
// z1..z4 for a batch of 2, and the labels; all entropies and cross-entropies below differ from one another.
const Z = [
  [
    [0.5, -1, 2],
    [1, 0, 0],
  ],
  [
    [1, 2, 0],
    [0.3, -0.2, 1.5],
  ],
  [
    [-1, 0.5, 1],
    [2, 1, -1],
  ],
  [
    [2, 0, -1],
    [0, 1, 3],
  ],
];
const LABELS = [0, 2];

function setIdentity(layer: Linear): void {
  noGrad(() => {
    layer.weight.copy_(eye(layer.outFeatures, layer.inFeatures));
    layer.bias!.zero_();
  });
}

/** Stage s of an input [B, 4, K] is its row s as a [B, K, 1, 1] map; pooling + identity Linear give z_s back. */
class FixedLogits extends Backbone {
  readonly stageChannels: [number, number, number, number] = [K, K, K, K];
  readonly numClasses = K;
  protected readonly head: Linear;

  constructor() {
    super();
    this.head = this.child('fc', new Linear(K, K));
    setIdentity(this.head);
  }

  stages(input: Tensor): Stages {
    const [b] = input.shape;
    return [0, 1, 2, 3].map((s) => input.select(1, s).reshape([b, K, 1, 1]).clone()) as Stages;
  }
}

function fixedNet(method: 'plain' | 'sd' | 'dsd', options: Partial<MethodOptions> = {}): SelfDistillationNet {
  const net = new SelfDistillationNet(new FixedLogits(), method, options);
  for (const head of net.heads) setIdentity(head.fc);
  return net;
}

const images = (): Tensor =>
  tensor(
    [0, 1].map((b) => Z.map((z) => z[b])),
    { dtype: 'float32' },
  ); // [B, 4, K]
const labels = (): Tensor => tensor(LABELS);

test('the fixed-logit backbone hands z1..z4 to the loss as set', () => {
  const net = fixedNet('sd');
  const stages = net.backbone.stages(images());
  closeRows(net.backbone.classify(stages[3]), Z[3], 'z4');
  net.heads.forEach((h, s) => closeRows(h.forward(stages[s]), Z[s], `z${s + 1}`));
});

// ---- schedule ----------------------------------------------------------------------------------------------------

test('noise schedule: alpha_bar from linear betas 1e-4..0.02 over 1000 steps; DDIM timesteps 400..0, stride 100', () => {
  const schedule = new NoiseSchedule();
  close(schedule.alphaBarAt(0), 1 - 1e-4, 'alpha_bar_0', 1e-15);
  // beta_1 = 1e-4 + 0.0199 / 999
  close(schedule.alphaBarAt(1), (1 - 1e-4) * (1 - (1e-4 + 0.0199 / 999)), 'alpha_bar_1', 1e-14);
  close(
    schedule.alphaBarAt(2),
    (1 - 1e-4) * (1 - (1e-4 + 0.0199 / 999)) * (1 - (1e-4 + (2 * 0.0199) / 999)),
    'alpha_bar_2',
    1e-14,
  );
  // The last beta is 0.02.
  close(schedule.alphaBar[999] / schedule.alphaBar[998], 0.98, 'alpha_999 = 1 - beta_999', 1e-12);
  for (const t of [100, 200, 300, 400, 999]) close(schedule.alphaBarAt(t), alphaBarByHand(t), `alpha_bar_${t}`, 1e-12);
  // The hand product agrees with the float64 values from PyTorch pinned in dsd.test.ts.
  close(alphaBarByHand(400), 0.19357200966664667, 'hand alpha_bar_400 vs PyTorch', 1e-12);
  assert.equal(schedule.alphaBarAt(-100), 1, 'alpha_bar_prev = 1 before the first step');
  assert.deepEqual(schedule.timesteps, [400, 300, 200, 100, 0]);
  assert.equal(schedule.stride, 100);
});

// ---- refine: DDIM -----------------------------------------------------------------------------------------------

test('refine: DDIM eta 0 from x ~ N(0, I) over t = 400..0 conditioned on c, alpha_bar_prev = 1 at the end, then proj', () => {
  const module = new DiffusionModule(2, new NoiseSchedule());
  const c = tensor(
    [
      [0.2, -0.4],
      [1, 0.5],
      [-0.3, 0.1],
    ],
    { dtype: 'float32' },
  );
  const seen: { x: number[][]; t: number[]; condIsC: boolean }[] = [];
  const E = 0.3; // the eps-net's forced output
  module.epsNet.predict = (x: Tensor, cond: Tensor, t: Tensor): Tensor => {
    seen.push({ x: x.toArray() as number[][], t: Array.from(t.data() as BigInt64Array, Number), condIsC: cond === c });
    return x.mul(0).add(E);
  };
  let beforeProj: number[][] = [];
  module.proj.forward = (x: Tensor): Tensor => {
    beforeProj = x.toArray() as number[][];
    return x.mul(2);
  };
  manualSeed(5);
  const start = randn([3, 2]).toArray() as number[][];
  manualSeed(5);
  const r = module.refine(c);

  assert.deepEqual(
    seen.map((s) => s.t),
    [400, 300, 200, 100, 0].map((t) => [t, t, t]),
    'timesteps, one per sample',
  );
  assert.ok(
    seen.every((s) => s.condIsC),
    'generation conditions on c',
  );
  // By hand: x0 = (x - sqrt(1 - ab) e) / sqrt(ab); x = sqrt(ab_prev) x0 + sqrt(1 - ab_prev) e.
  let x = start;
  [400, 300, 200, 100, 0].forEach((t, i) => {
    seen[i].x.forEach((row, b) => row.forEach((v, k) => close(v, x[b][k], `x at t = ${t}`)));
    const [ab, prev] = [alphaBarByHand(t), alphaBarByHand(t - 100)];
    x = x.map((row) =>
      row.map((v) => Math.sqrt(prev) * ((v - Math.sqrt(1 - ab) * E) / Math.sqrt(ab)) + Math.sqrt(1 - prev) * E),
    );
  });
  beforeProj.forEach((row, b) => row.forEach((v, k) => close(v, x[b][k], 'x after the chain')));
  // The last step (t = 0, alpha_bar_prev = 1) returns the predicted x0 itself: (x - sqrt(1 - 0.9999) e) / sqrt(0.9999).
  seen[4].x.forEach((row, b) =>
    row.forEach((v, k) => close(beforeProj[b][k], (v - Math.sqrt(1e-4) * E) / Math.sqrt(0.9999), 'last step')),
  );
  closeRows(
    r,
    x.map((row) => row.map((v) => 2 * v)),
    'r = proj(x)',
  );
  // Worked example for the first sample's first coordinate, one step at a time, in closed form.
  let v = start[0][0];
  for (const t of [400, 300, 200, 100, 0]) {
    const ab = alphaBarByHand(t);
    const prev = t === 0 ? 1 : alphaBarByHand(t - 100);
    v = Math.sqrt(prev / ab) * v + (Math.sqrt(1 - prev) - Math.sqrt((prev * (1 - ab)) / ab)) * E;
  }
  close(beforeProj[0][0], v, 'closed-form step');
});

test('refine keeps gradients through the chain, and the ddimSteps option sets the timesteps', () => {
  const module = new DiffusionModule(2, new NoiseSchedule());
  const student = tensor(
    [
      [0.2, -0.4],
      [1, 0.5],
      [-0.3, 0.1],
    ],
    { dtype: 'float32' },
  ).requiresGrad_();
  const r = module.refine(module.condition(student));
  r.mul(
    tensor(
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      { dtype: 'float32' },
    ),
  )
    .sum()
    .backward();
  assert.ok(student.grad !== null && student.grad.abs().sum().item() > 0, 'gradient reaches the student');
  assert.ok(module.trans.weight.grad!.abs().sum().item() > 0, 'gradient reaches trans');
  assert.ok(module.epsNet.layers.parameters()[0].grad!.abs().sum().item() > 0, 'gradient reaches the eps-net');

  const net = fixedNet('dsd', { ddimSteps: 2 });
  const steps: number[] = [];
  net.diffusion[0].epsNet.predict = (x: Tensor, _cond: Tensor, t: Tensor): Tensor => {
    steps.push(Number((t.data() as BigInt64Array)[0]));
    return x.mul(0);
  };
  net.diffusion[0].refine(
    tensor(
      [
        [1, 2, 3],
        [0, -1, 2],
      ],
      { dtype: 'float32' },
    ),
  );
  assert.deepEqual(steps, [100, 0], 'the last 2 steps of the 10-step grid');
});

// ---- diffusion loss -----------------------------------------------------------------------------------------------

test('diffusion loss: x_t = sqrt(ab_t) teacher + sqrt(1 - ab_t) eps with t ~ U{0..999}; MSE(eps-net(x_t, cond, t), eps)', () => {
  const module = new DiffusionModule(2, new NoiseSchedule());
  const teacher = [
    [1, -2],
    [0.5, 3],
    [-1.5, 0.25],
  ];
  const cond = tensor(
    [
      [9, 8],
      [7, 6],
      [5, 4],
    ],
    { dtype: 'float32' },
  );
  const prediction = [
    [0.1, -0.2],
    [0.3, 0.4],
    [-0.5, 0.6],
  ];
  const seen: { x: number[][]; t: number[]; condIsCond: boolean }[] = [];
  module.epsNet.predict = (x: Tensor, c: Tensor, t: Tensor): Tensor => {
    seen.push({
      x: x.toArray() as number[][],
      t: Array.from(t.data() as BigInt64Array, Number),
      condIsCond: c === cond,
    });
    return tensor(prediction, { dtype: 'float32' });
  };
  // The loss draws t (randint) and then eps (randn) from the global generator: replay the same draws.
  manualSeed(9);
  const t = Array.from(randint(0, 1000, [3]).data() as BigInt64Array, Number);
  const eps = randn([3, 2]).toArray() as number[][];
  manualSeed(9);
  const loss = module.diffusionLoss(tensor(teacher, { dtype: 'float32' }), cond).item();
  assert.equal(seen.length, 1, 'one eps-net call');
  const [{ x, t: usedT, condIsCond }] = seen;
  assert.deepEqual(usedT, t);
  assert.ok(condIsCond, 'conditions on the given tensor');
  x.forEach((row, b) => {
    const ab = alphaBarByHand(t[b]);
    row.forEach((v, k) =>
      close(v, Math.sqrt(ab) * teacher[b][k] + Math.sqrt(1 - ab) * eps[b][k], `x_t[${b}][${k}] (t = ${t[b]})`),
    );
  });
  close(loss, mean(prediction.flatMap((row, b) => row.map((p, k) => (p - eps[b][k]) ** 2))), 'MSE over all elements');

  // t covers 0..999 per sample.
  const ts: number[] = [];
  module.epsNet.predict = (xt: Tensor, _c: Tensor, tt: Tensor): Tensor => {
    ts.push(...Array.from(tt.data() as BigInt64Array, Number));
    return xt.mul(0);
  };
  module.diffusionLoss(randn([5000, 2]), randn([5000, 2]));
  assert.ok(
    Math.min(...ts) >= 0 && Math.min(...ts) < 10 && Math.max(...ts) <= 999 && Math.max(...ts) > 989,
    `t in [${Math.min(...ts)}, ${Math.max(...ts)}]`,
  );
});

// ---- D and H --------------------------------------------------------------------------------------------------------

test('D: soft cross-entropy at temperature 1, mean over the batch; released: cross-entropy to the uniform distribution', () => {
  const [o, t] = [Z[0], Z[3]];
  const output = tensor(o, { dtype: 'float32' });
  const teacher = tensor(t, { dtype: 'float32' });
  // Worked by hand for the first row: softmax(2, 0, -1) . -log_softmax(0.5, -1, 2).
  const p = [Math.exp(2), 1, Math.exp(-1)].map((e) => e / (Math.exp(2) + 1 + Math.exp(-1)));
  const logQ = [0.5, -1, 2].map((v) => v - Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2)));
  const firstRow = -(p[0] * logQ[0] + p[1] * logQ[1] + p[2] * logQ[2]);
  close(softCe([o[0]], [t[0]]), firstRow, 'reference, first row');
  close(softCrossEntropy(output, teacher).item(), softCe(o, t), 'soft-ce');
  close(distillLoss('soft-ce', output, teacher).item(), softCe(o, t), "distillLoss('soft-ce')");
  close(releasedDistill(output, teacher).item(), uniformCe(o), 'released');
  close(distillLoss('released', output, teacher).item(), uniformCe(o), "distillLoss('released')");
  close(
    releasedDistill(output, tensor(Z[1], { dtype: 'float32' })).item(),
    uniformCe(o),
    'released ignores the teacher',
  );
  assert.ok(Math.abs(softCe(o, t) - uniformCe(o)) > 0.1, 'the two differ on this example');
  // The sum over classes, the mean over the batch (not a sum, not a mean over classes).
  close(uniformCe([o[0]]), -(logQ[0] + logQ[1] + logQ[2]) / 3, 'uniform, first row');
});

test('H: entropy of the softmax, mean over the batch', () => {
  const p = softmax([2, 0, -1]);
  close(entropyOf([[2, 0, -1]]), -(p[0] * Math.log(p[0]) + p[1] * Math.log(p[1]) + p[2] * Math.log(p[2])), 'reference');
  close(entropyOf([[0, 0, 0]]), Math.log(3), 'uniform: log K');
  close(entropy(tensor(Z[3], { dtype: 'float32' })).item(), entropyOf(Z[3]), 'H(z4)');
  close(
    entropy(
      tensor(
        [
          [0, 0, 0],
          [0, 0, 0],
        ],
        { dtype: 'float32' },
      ),
    ).item(),
    Math.log(3),
    'H(uniform)',
  );
});

// ---- the whole loss -------------------------------------------------------------------------------------------------

test('sd: CE(z4) + 0.5 [D(z3, z4) + D(z2, z3) + D(z1, z2)] - 0.5 [H(z4) + H(z3) + H(z2)]', () => {
  const [z1, z2, z3, z4] = Z;
  const ce = crossEntropy(z4, LABELS);
  const d = softCe(z3, z4) + softCe(z2, z3) + softCe(z1, z2);
  const h = entropyOf(z4) + entropyOf(z3) + entropyOf(z2);
  const { loss, terms } = fixedNet('sd').lossOf(images(), labels());
  const parts = readTerms(terms);
  close(parts.ce, ce, 'ce');
  close(parts.distill, d, 'distill');
  close(parts.entropy, h, 'entropy');
  close(loss.item(), ce + 0.5 * d - 0.5 * h, 'loss');
  // The numbers tell the alternatives apart: a swapped sign, or H on another head, would fail above.
  for (const wrong of [
    ce + 0.5 * d + 0.5 * h,
    ce + 0.5 * d - 0.5 * (entropyOf(z3) + entropyOf(z2) + entropyOf(z1)),
    ce + 0.5 * d - 0.5 * (entropyOf(z4) + entropyOf(z3) + entropyOf(z1)),
    ce + d - h,
  ]) {
    assert.ok(Math.abs(wrong - (ce + 0.5 * d - 0.5 * h)) > 1e-3, `alternative ${wrong} is distinguishable`);
  }
  close(fixedNet('sd', { entropyWeight: 0 }).lossOf(images(), labels()).loss.item(), ce + 0.5 * d, 'entropy weight 0');
  close(fixedNet('plain').lossOf(images(), labels()).loss.item(), ce, 'plain: CE only');
});

/** A dsd net whose refine returns fixed r3, r2, r1 and whose diffusion losses are fixed numbers; records the calls. */
function spiedDsd(options: Partial<MethodOptions>) {
  const net = fixedNet('dsd', options);
  const refined = [
    [
      [0.2, 1.4, -0.6],
      [-1, 0.4, 0.9],
    ], // r3
    [
      [1.1, -0.3, 0.0],
      [0.7, 2.2, -0.5],
    ], // r2
    [
      [-0.8, 0.6, 1.9],
      [0.1, -1.3, 0.2],
    ], // r1
  ];
  const diffusion = [0.3, 0.7, 1.1];
  const calls = net.diffusion.map(() => ({
    c: null as Tensor | null,
    r: null as Tensor | null,
    teacher: null as Tensor | null,
    cond: null as Tensor | null,
  }));
  net.diffusion.forEach((module, pair) => {
    const condition = module.condition.bind(module);
    module.condition = (student: Tensor): Tensor => {
      calls[pair].c = condition(student);
      return calls[pair].c!;
    };
    module.refine = (c: Tensor): Tensor => {
      assert.equal(c, calls[pair].c, 'refine gets c = trans(student)');
      calls[pair].r = tensor(refined[pair], { dtype: 'float32' });
      return calls[pair].r!;
    };
    module.diffusionLoss = (teacher: Tensor, cond: Tensor): Tensor => {
      calls[pair].teacher = teacher;
      calls[pair].cond = cond;
      return tensor(diffusion[pair], { dtype: 'float32' });
    };
  });
  return { net, refined, diffusion, calls };
}

test('dsd: CE(z4) + 0.5 sum D(r_k, teacher_k) - 0.5 [H(z4) + H(r3) + H(r2)] + 0.5 sum L_diff, for soft-ce and released', () => {
  const [, z2, z3, z4] = Z;
  for (const distill of ['soft-ce', 'released'] as const) {
    const { net, refined, diffusion, calls } = spiedDsd({ distill });
    const [r3, r2, r1] = refined;
    const D = (o: number[][], t: number[][]): number => (distill === 'soft-ce' ? softCe(o, t) : uniformCe(o));
    const ce = crossEntropy(z4, LABELS);
    const d = D(r3, z4) + D(r2, z3) + D(r1, z2); // teachers: z4, then the raw z3 and z2
    const h = entropyOf(z4) + entropyOf(r3) + entropyOf(r2);
    const lDiff = diffusion[0] + diffusion[1] + diffusion[2];
    const { loss, terms } = net.lossOf(images(), labels());
    const parts = readTerms(terms);
    close(parts.distill, d, `${distill}: distill`);
    close(parts.entropy, h, `${distill}: entropy`);
    close(parts.diffusion, lDiff, `${distill}: diffusion`);
    close(loss.item(), ce + 0.5 * d - 0.5 * h + 0.5 * lDiff, `${distill}: loss`);
    const alternatives = [
      ['entropy added', ce + 0.5 * d + 0.5 * h + 0.5 * lDiff],
      ['entropy on z3, z2', ce + 0.5 * d - 0.5 * (entropyOf(z4) + entropyOf(z3) + entropyOf(z2)) + 0.5 * lDiff],
      ['entropy on r2, r1', ce + 0.5 * d - 0.5 * (entropyOf(z4) + entropyOf(r2) + entropyOf(r1)) + 0.5 * lDiff],
      ['entropy on r3, r2, r1', ce + 0.5 * d - 0.5 * (entropyOf(r3) + entropyOf(r2) + entropyOf(r1)) + 0.5 * lDiff],
      ['diffusion subtracted', ce + 0.5 * d - 0.5 * h - 0.5 * lDiff],
    ] as const;
    for (const [what, wrong] of alternatives)
      assert.ok(Math.abs(wrong - loss.item()) > 1e-3, `${distill}: ${what} would be caught`);
    if (distill === 'soft-ce') {
      assert.ok(Math.abs(softCe(r2, z4) - softCe(r2, z3)) > 1e-3, 'the teacher of r2 is told apart');
      assert.ok(Math.abs(softCe(r1, r2) - softCe(r1, z2)) > 1e-3, 'raw vs refined teacher is told apart');
    }
    // The diffusion losses are trained toward the detached raw teachers z4, z3, z2.
    calls.forEach((call, pair) => {
      closeRows(call.teacher!, Z[3 - pair], `pair ${pair} teacher`);
      assert.equal(call.teacher!.requiresGrad, false, `pair ${pair}: teacher detached`);
    });
  }
});

test("condition: 'refined' trains the eps-net on r, 'student' on c = trans(student)", () => {
  for (const condition of ['refined', 'student'] as const) {
    const { net, calls } = spiedDsd({ condition });
    net.lossOf(images(), labels());
    calls.forEach((call, pair) => {
      const expected = condition === 'refined' ? call.r : call.c;
      assert.ok(
        call.cond !== null && call.cond === expected,
        `${condition}, pair ${pair}: conditioned on ${condition === 'refined' ? 'r' : 'c'}`,
      );
      // c is trans applied to the student z3, z2, z1.
      const module = net.diffusion[pair];
      const student = tensor(Z[2 - pair], { dtype: 'float32' });
      closeRows(
        call.c!,
        F.linear(student, module.trans.weight, module.trans.bias).toArray() as number[][],
        `pair ${pair}: c = trans(z${3 - pair})`,
      );
    });
  }
  // Default: as released.
  assert.equal(fixedNet('dsd').options.condition, 'refined');
  assert.equal(fixedNet('dsd').options.distill, 'soft-ce');
});
