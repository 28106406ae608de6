// Tensor shapes read from file headers. Each dimension must be a whole number JavaScript and libtorch both hold
// exactly, and so must the strides (products of the dimensions); otherwise libtorch fails later with "IntArrayRef
// contains an int that cannot be represented as a SymInt", naming no file and no tensor.

/** The most dimensions a tensor read from a file may have. */
export const MAX_DIMS = 64;

const shown = (d: unknown): string => (typeof d === 'number' ? String(d) : JSON.stringify(d));

/** Why `shape` cannot be a tensor's shape, as "has shape [..] that ...", or null when it can. */
export function shapeProblem(shape: unknown): string | null {
  if (!Array.isArray(shape)) return `has shape ${shown(shape)}, which is not a list of dimensions`;
  const text = `[${shape.map(shown).join(', ')}]`;
  if (shape.length > MAX_DIMS) return `has shape ${text} of ${shape.length} dimensions, more than ${MAX_DIMS}`;
  const bad = shape.findIndex((d) => !(typeof d === 'number' && Number.isSafeInteger(d) && d >= 0));
  if (bad >= 0)
    return `has shape ${text} that is not made of whole numbers from 0 to 2^53 - 1 (dimension ${bad} is ${shown(shape[bad])})`;
  // A zero dimension empties the tensor but the strides of the others are still products of the dimensions.
  let span = 1;
  for (const d of shape as number[]) {
    span *= Math.max(1, d);
    if (!Number.isSafeInteger(span))
      return `has shape ${text} that is too large (its dimensions multiply to more than 2^53 - 1)`;
  }
  return null;
}
