// The training methods: `plain` (label cross-entropy on the main head), `sd` (cascade self-distillation between the
// heads, no diffusion) and `dsd` (DSDNet: the students' logits refined by conditional diffusion before distillation).
// The wrapper holds the backbone plus the training-only modules; only the backbone is deployed.
import type { Backbone } from '../models/index.js';
import { Module } from '../nn/index.js';
import { deviceType, F, type Precision, type Tensor, tidy, withPrecision } from '../torch/index.js';
import { DiffusionModule, StageHead } from './diffusion.js';
import { type DistillMode, distillLoss, entropy } from './losses.js';
import { DEFAULT_NOISE_SCHEDULE, NoiseSchedule } from './schedule.js';

export const METHODS = ['plain', 'sd', 'dsd'] as const;
export type MethodName = (typeof METHODS)[number];

export interface MethodOptions {
  distill: DistillMode;
  /** What the diffusion loss conditions on: the refined output r (as released) or the student's condition c. */
  condition: 'refined' | 'student';
  /** DDIM steps used for generation (the last N of a 10-step grid). */
  ddimSteps: number;
  /** Weights of the terms (released: 0.5 each). */
  distillWeight: number;
  entropyWeight: number;
  diffusionWeight: number;
}

export const DEFAULT_METHOD_OPTIONS: MethodOptions = {
  distill: 'soft-ce',
  condition: 'refined',
  ddimSteps: 5,
  distillWeight: 0.5,
  entropyWeight: 0.5,
  diffusionWeight: 0.5,
};

export const DISTILL_MODES: readonly DistillMode[] = ['soft-ce', 'released'];
export const CONDITIONS: readonly MethodOptions['condition'][] = ['refined', 'student'];

/** What is wrong with a set of method options (empty when nothing is), each naming the option and the accepted values. */
export function methodOptionProblems(options: MethodOptions): string[] {
  const problems: string[] = [];
  const { distill, condition, ddimSteps } = options;
  if (!DISTILL_MODES.includes(distill))
    problems.push(`unknown distill mode '${distill}' (expected ${DISTILL_MODES.join(' or ')})`);
  if (!CONDITIONS.includes(condition))
    problems.push(`unknown condition '${condition}' (expected ${CONDITIONS.join(' or ')})`);
  const grid = DEFAULT_NOISE_SCHEDULE.gridSteps;
  if (!(Number.isInteger(ddimSteps) && ddimSteps >= 1 && ddimSteps <= grid))
    problems.push(`ddimSteps must be an integer in 1..${grid} (steps of the ${grid}-step DDIM grid), got ${ddimSteps}`);
  for (const name of ['distillWeight', 'entropyWeight', 'diffusionWeight'] as const) {
    if (!(Number.isFinite(options[name]) && options[name] >= 0))
      problems.push(`${name} must be a finite number >= 0, got ${options[name]}`);
  }
  return problems;
}

export interface LossResult {
  loss: Tensor;
  /** The main head's logits (z4). */
  logits: Tensor;
  /**
   * Each term (detached scalars), for logging. Tensors, not numbers: reading a value waits for the device, which a
   * training loop does once per step, after queuing the next batch (see readTerms).
   */
  terms: Record<string, Tensor>;
}

/** The values of a loss's terms (waits for the device that computes them). */
export function readTerms(terms: Record<string, Tensor>): Record<string, number> {
  return Object.fromEntries(Object.entries(terms).map(([name, t]) => [name, t.item()]));
}

/** The training-only modules of a SelfDistillationNet (auxiliary heads, diffusion modules): their one owner. */
class TrainingModules extends Module {
  add<M extends Module>(name: string, module: M): M {
    return this.child(name, module);
  }
}

export class SelfDistillationNet extends Module {
  readonly heads: StageHead[] = [];
  readonly diffusion: DiffusionModule[] = [];
  readonly options: MethodOptions;
  /** Everything but the backbone (the heads and diffusion modules live here only): saved with the training state, never deployed. */
  readonly auxiliary: TrainingModules;

  constructor(
    readonly backbone: Backbone,
    readonly method: MethodName,
    options: Partial<MethodOptions> = {},
  ) {
    super();
    if (!METHODS.includes(method))
      throw new Error(`unknown method '${method}' (expected one of ${METHODS.join(', ')})`);
    this.options = { ...DEFAULT_METHOD_OPTIONS, ...options };
    const problems = methodOptionProblems(this.options);
    if (problems.length > 0) throw new Error(problems.join('; '));
    this.child('backbone', backbone);
    this.auxiliary = this.child('auxiliary', new TrainingModules());
    if (method !== 'plain') {
      for (let s = 0; s < 3; s++)
        this.heads.push(
          this.auxiliary.add(`head${s + 1}`, new StageHead(backbone.stageChannels[s], backbone.numClasses)),
        );
    }
    if (method === 'dsd') {
      const schedule = new NoiseSchedule({ ...DEFAULT_NOISE_SCHEDULE, usedSteps: this.options.ddimSteps });
      // Pairs, deep to shallow: (z4 -> z3), (z3 -> z2), (z2 -> z1).
      for (const pair of ['pair43', 'pair32', 'pair21']) {
        this.diffusion.push(
          this.auxiliary.add(`diffusion_${pair}`, new DiffusionModule(backbone.numClasses, schedule)),
        );
      }
    }
  }

  /** Parameters of every Linear classifier head (the main one and the auxiliary ones): trained at a higher lr. */
  headParameters(): Tensor[] {
    return [...this.backbone.classifierParameters(), ...this.heads.flatMap((h) => h.parameters())];
  }

  /**
   * The training loss of the method for a batch. The backbone and heads run in `precision`; the method's small
   * modules and every loss in float32, on float32 logits.
   */
  lossOf(images: Tensor, labels: Tensor, precision: Precision = 'fp32'): LossResult {
    const z = withPrecision(
      precision,
      () =>
        tidy(() => {
          const stages = this.backbone.stages(images);
          const main = this.backbone.classify(stages[3]).float();
          const students = this.heads.map((h, s) => h.forward(stages[s]).float());
          return [...students, main]; // z1, z2, z3, z4 (only z4 for plain)
        }),
      deviceType(images.device),
    );
    const logits = z[z.length - 1];
    const ce = F.crossEntropy(logits, labels);
    const terms: Record<string, Tensor> = { ce: ce.detach() };
    if (this.method === 'plain') return { loss: ce, logits, terms };
    const { distill, condition, distillWeight, entropyWeight, diffusionWeight } = this.options;
    let distillSum: Tensor | null = null;
    let diffusionSum: Tensor | null = null;
    const refined: Tensor[] = []; // r3, r2, r1
    for (let pair = 0; pair < 3; pair++) {
      const teacher = z[3 - pair].detach();
      const student = z[2 - pair];
      let output = student;
      if (this.method === 'dsd') {
        const module = this.diffusion[pair];
        const c = module.condition(student);
        output = module.refine(c);
        const lossDiff = module.diffusionLoss(teacher, condition === 'refined' ? output : c);
        diffusionSum = diffusionSum === null ? lossDiff : diffusionSum.add(lossDiff);
      }
      refined.push(output);
      const d = distillLoss(distill, output, teacher);
      distillSum = distillSum === null ? d : distillSum.add(d);
    }
    // The entropy bonus on the main head and the two deeper (refined) students: H(z4) + H(r3) + H(r2).
    const entropySum = entropy(logits).add(entropy(refined[0])).add(entropy(refined[1]));
    let loss = ce.add(distillSum!.mul(distillWeight)).sub(entropySum.mul(entropyWeight));
    terms.distill = distillSum!.detach();
    terms.entropy = entropySum.detach();
    if (diffusionSum !== null) {
      loss = loss.add(diffusionSum.mul(diffusionWeight));
      terms.diffusion = diffusionSum.detach();
    }
    return { loss, logits, terms };
  }
}
