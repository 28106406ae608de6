// Whether a state dict fits a backbone: every key but the classifier's present with the right shape, nothing
// left over. The error names every missing, unexpected and mis-shaped key, and the architecture the weights are
// for when it is one we know.
import { BACKBONES, type Backbone, createBackbone } from '../models/index.js';
import type { Tensor } from '../torch/index.js';

/** Written by every BatchNorm since PyTorch 0.4; older files (torchvision's first ResNets) lack it. */
const OPTIONAL = /(^|\.)num_batches_tracked$/;

export interface Fit {
  missing: string[];
  unexpected: string[];
  misShaped: string[];
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** How `state` fits `backbone`, leaving out the classifier (it is replaced for the dataset's classes). */
export function fitOf(state: ReadonlyMap<string, Tensor>, backbone: Backbone): Fit {
  const classifier = new Set(backbone.classifierKeys());
  const own = new Map([...backbone.stateDict()].filter(([key]) => !classifier.has(key)));
  return {
    missing: [...own.keys()].filter((k) => !state.has(k) && !OPTIONAL.test(k)),
    unexpected: [...state.keys()].filter((k) => !own.has(k) && !classifier.has(k)),
    misShaped: [...own].flatMap(([key, t]) => {
      const source = state.get(key);
      return source && !sameShape(source.shape, t.shape) ? [`${key} [${source.shape}] (model [${t.shape}])`] : [];
    }),
  };
}

const fits = (fit: Fit): boolean => fit.missing.length + fit.unexpected.length + fit.misShaped.length === 0;

/** The known backbone the weights are for, if exactly one fits (only asked once they do not fit the one chosen). */
export function identifyBackbone(state: ReadonlyMap<string, Tensor>): string | undefined {
  for (const name of BACKBONES) {
    const candidate = createBackbone(name, 1);
    const ok = fits(fitOf(state, candidate));
    candidate.dispose();
    if (ok) return name;
  }
  return undefined;
}

/** Throws unless `state` fits: the error names the source, the backbone and every problem. */
export function checkFit(
  state: ReadonlyMap<string, Tensor>,
  backbone: Backbone,
  backboneName: string,
  source: string,
): void {
  const fit = fitOf(state, backbone);
  if (fits(fit)) return;
  const other = identifyBackbone(state);
  if (other !== undefined && other !== backboneName) {
    throw new Error(
      `${source}: these are ${other} weights, not ${backboneName}; choose --backbone ${other} or weights for ${backboneName}`,
    );
  }
  const parts = [
    fit.missing.length > 0 ? `missing ${fit.missing.length} key(s): ${fit.missing.join(', ')}` : '',
    fit.unexpected.length > 0 ? `unexpected ${fit.unexpected.length} key(s): ${fit.unexpected.join(', ')}` : '',
    fit.misShaped.length > 0 ? `mis-shaped ${fit.misShaped.length} key(s): ${fit.misShaped.join(', ')}` : '',
  ].filter((p) => p !== '');
  throw new Error(`${source}: does not fit ${backboneName} (${parts.join('; ')})`);
}
