// One conditional diffusion module of DSDNet (per teacher/student pair), acting on K-dim logit vectors:
//   trans: Linear(K, K), student logits -> condition c
//   eps-net(x, cond, t): h = [x, cond] + E[t] (E: 1280 x 2K), then
//     Linear(2K, 8K) - BN - ReLU - Linear(8K, 2K) - BN - Linear(2K, 8K) - BN - ReLU - Linear(8K, K)  -> noise estimate
//   proj: Linear(K, K) + BN(K), generated vector -> refined student r
// Generation runs DDIM (eta = 0) from pure noise with gradients through the chain; the diffusion loss trains eps-net
// to predict the noise added to the (detached) teacher.
import { BatchNorm1d, Embedding, Layer, Linear, Module, ReLU, Sequential } from '../nn/index.js';
import { cat, type Device, F, full, keep, randint, randn, type Tensor, tensor } from '../torch/index.js';
import type { NoiseSchedule } from './schedule.js';

export const TIME_EMBEDDING_ROWS = 1280;

class EpsNet extends Module {
  readonly timeEmbedding: Embedding;
  readonly layers: Sequential;

  constructor(k: number) {
    super();
    this.timeEmbedding = this.child('time_embedding', new Embedding(TIME_EMBEDDING_ROWS, 2 * k));
    this.layers = this.child(
      'layers',
      new Sequential(
        new Linear(2 * k, 8 * k),
        new BatchNorm1d(8 * k),
        new ReLU(true),
        new Linear(8 * k, 2 * k),
        new BatchNorm1d(2 * k),
        new Linear(2 * k, 8 * k),
        new BatchNorm1d(8 * k),
        new ReLU(true),
        new Linear(8 * k, k),
      ),
    );
  }

  /** x, cond: [B, K]; t: [B] int64 timesteps. */
  predict(x: Tensor, cond: Tensor, t: Tensor): Tensor {
    return this.layers.forward(cat([x, cond], 1).add(F.embedding(t, this.timeEmbedding.weight)));
  }
}

export class DiffusionModule extends Module {
  readonly trans: Linear;
  readonly epsNet: EpsNet;
  readonly proj: Sequential;

  constructor(
    readonly numClasses: number,
    private readonly schedule: NoiseSchedule,
  ) {
    super();
    this.trans = this.child('trans', new Linear(numClasses, numClasses));
    this.epsNet = this.child('eps_net', new EpsNet(numClasses));
    this.proj = this.child('proj', new Sequential(new Linear(numClasses, numClasses), new BatchNorm1d(numClasses)));
  }

  /** The condition c = trans(student). */
  condition(student: Tensor): Tensor {
    return this.trans.forward(student);
  }

  /** DDIM (eta = 0) from x ~ N(0, I) over the schedule's timesteps, conditioned on c; returns r = proj(x0). */
  refine(c: Tensor): Tensor {
    const [batch] = c.shape;
    const device = c.device;
    let x = randn(c.shape, { device });
    for (const t of this.schedule.timesteps) {
      const alphaBar = this.schedule.alphaBarAt(t);
      const alphaBarPrev = this.schedule.alphaBarAt(t - this.schedule.stride);
      const eps = this.epsNet.predict(x, c, full([batch], t, { dtype: 'int64', device }));
      const x0 = x.sub(eps.mul(Math.sqrt(1 - alphaBar))).div(Math.sqrt(alphaBar));
      x = x0.mul(Math.sqrt(alphaBarPrev)).add(eps.mul(Math.sqrt(1 - alphaBarPrev)));
    }
    return this.proj.forward(x);
  }

  /** alpha_bar of every timestep on the device it was last asked for: copied there once, not at every step. */
  private alphaBarTable: Tensor | null = null;

  private alphaBarOn(device: Device): Tensor {
    if (this.alphaBarTable === null || this.alphaBarTable.device !== device) {
      this.alphaBarTable?.dispose();
      this.alphaBarTable = keep(tensor(this.schedule.alphaBar, { dtype: 'float32', device }));
    }
    return this.alphaBarTable;
  }

  override dispose(): void {
    this.alphaBarTable?.dispose();
    this.alphaBarTable = null;
    super.dispose();
  }

  /** MSE between eps-net's estimate and the noise added to the teacher at t ~ U{0..T-1} per sample. */
  diffusionLoss(teacher: Tensor, cond: Tensor): Tensor {
    const [batch] = teacher.shape;
    const device = teacher.device;
    const t = randint(0, this.schedule.options.trainSteps, [batch], { device });
    // Looked up on the device: reading t back to the host would wait for the GPU at every step.
    const alphaBar = this.alphaBarOn(device).indexSelect(0, t).unsqueeze(1);
    const noise = randn(teacher.shape, { device });
    const noisy = teacher.mul(alphaBar.sqrt()).add(noise.mul(alphaBar.neg().add(1).sqrt()));
    return F.mseLoss(this.epsNet.predict(noisy, cond, t), noise);
  }
}

/** Global average pooling + Linear(C -> K): an auxiliary classifier on one backbone stage. */
export class StageHead extends Layer {
  readonly fc: Linear;
  constructor(channels: number, numClasses: number) {
    super();
    this.fc = this.child('fc', new Linear(channels, numClasses));
  }
  forward(stage: Tensor): Tensor {
    return this.fc.forward(F.adaptiveAvgPool2d(stage, 1).flatten(1));
  }
}
