// Shared test helpers: fixture loading, closeness assertions and a finite-difference gradient checker.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

import {
  type DType,
  fromTypedArray,
  manualSeed,
  noGrad,
  randn,
  type Tensor,
  tensor,
  tidy,
} from '../src/torch/index.js';

export interface EncodedTensor {
  shape: number[];
  dtype: DType;
  data: (number | boolean)[];
}

export function fixtureExists(name: string): boolean {
  return existsSync(new URL(`../../test/fixtures/${name}`, import.meta.url));
}

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), 'utf8')) as T;
}

export function decode(e: EncodedTensor): Tensor {
  if (e.dtype === 'int64')
    return fromTypedArray(
      BigInt64Array.from(e.data, (v) => BigInt(v as number)),
      e.shape,
    );
  if (e.dtype === 'bool') return fromTypedArray(Uint8Array.from(e.data, Number), e.shape).to('bool');
  return tensor(e.data as number[], { dtype: e.dtype }).reshape(e.shape);
}

function flatNumbers(t: Tensor): number[] {
  return Array.from(t.data() as ArrayLike<number | bigint>, Number);
}

/** Asserts same shape and dtype, and |a - e| <= atol + rtol |e| elementwise. */
export function assertClose(
  actual: Tensor,
  expected: Tensor | EncodedTensor,
  options: { rtol?: number; atol?: number; what?: string } = {},
): void {
  const { rtol = 1e-5, atol = 1e-6, what = 'tensor' } = options;
  const exp = 'data' in expected && !('handle' in expected) ? (expected as EncodedTensor) : null;
  const expShape = exp ? exp.shape : (expected as Tensor).shape;
  const expDtype = exp ? exp.dtype : (expected as Tensor).dtype;
  const expData = exp ? exp.data.map(Number) : flatNumbers(expected as Tensor);
  assert.deepEqual(actual.shape, expShape, `${what}: shape`);
  assert.equal(actual.dtype, expDtype, `${what}: dtype`);
  const got = flatNumbers(actual);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < got.length; i++) {
    const excess = Math.abs(got[i] - expData[i]) - (atol + rtol * Math.abs(expData[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  assert.ok(
    worst < 0,
    `${what}: element ${worst} is ${got[worst]}, expected ${expData[worst]} (rtol ${rtol}, atol ${atol})`,
  );
}

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed set before every evaluation, for ops that draw random numbers (dropout). */
  seed?: number;
}

/**
 * Compares autograd's gradients of sum(fn(inputs) * w), for a fixed random w, with central finite differences,
 * input by input and element by element. Inputs must be float64 leaves that require grad.
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): void {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-4, seed } = options;
  tidy(() => {
    const reseed = (): void => {
      if (seed !== undefined) manualSeed(seed);
    };
    reseed();
    const probe = noGrad(() => fn(...inputs));
    manualSeed(1234);
    const weight = randn(probe.shape, { dtype: 'float64' });
    const objective = (xs: Tensor[]): number => {
      reseed();
      return noGrad(() =>
        tidy(() =>
          fn(...xs)
            .mul(weight)
            .sum()
            .item(),
        ),
      );
    };
    for (const x of inputs) x.grad = null;
    reseed();
    fn(...inputs)
      .mul(weight)
      .sum()
      .backward();
    inputs.forEach((x, which) => {
      const analytic = x.grad === null ? new Float64Array(x.numel) : (x.grad.data() as Float64Array);
      const base = x.data() as Float64Array;
      for (let i = 0; i < base.length; i++) {
        const shifted = (delta: number): number =>
          tidy(() => {
            const values = Float64Array.from(base);
            values[i] += delta;
            const moved = fromTypedArray(values, x.shape);
            return objective(inputs.map((other, k) => (k === which ? moved : other)));
          });
        const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
        const tolerance = atol + rtol * Math.abs(numeric);
        assert.ok(
          Math.abs(analytic[i] - numeric) <= tolerance,
          `gradient of input ${which}, element ${i}: autograd ${analytic[i]}, finite difference ${numeric}`,
        );
      }
    });
  });
}

/** A float64 leaf requiring grad with standard-normal values from a fixed seed. */
export function leaf(shape: number[], seed: number, transform?: (t: Tensor) => Tensor): Tensor {
  manualSeed(seed);
  const base = randn(shape, { dtype: 'float64' });
  const values = transform ? noGrad(() => transform(base)) : base;
  return values.detach().requiresGrad_(true);
}
