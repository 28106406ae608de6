// Folding eval-mode BatchNorm into the convolution before it: W' = W * g, b' = (b - mean) * g + beta with
// g = gamma / sqrt(var + eps), computed in float64. The deployed graph then has one op where it had two.
import { tidy } from '../torch/index.js';
import type { TracedArg, TracedGraph, TracedNode } from './trace.js';

const valueOf = (arg: TracedArg): string | undefined => ('value' in arg ? arg.value : undefined);

/**
 * The graph with every batch_norm that follows a conv2d (its only reader) folded into it; the count folded. The new
 * graph shares the weights it keeps with the given one and owns the folded ones.
 */
export function foldBatchNorm(graph: TracedGraph): { graph: TracedGraph; folded: number } {
  const readers = new Map<string, number>();
  for (const node of graph.nodes)
    for (const arg of node.args) if ('value' in arg) readers.set(arg.value, (readers.get(arg.value) ?? 0) + 1);
  const producer = new Map(graph.nodes.map((n) => [n.output, n]));
  const weights = new Map(graph.weights);
  const renamed = new Map<string, string>();
  const convs = new Map<TracedNode, TracedNode>();
  let folded = 0;
  const nodes: TracedNode[] = [];
  for (const node of graph.nodes) {
    const conv = node.op === 'batch_norm' ? producer.get(valueOf(node.args[0]) ?? '') : undefined;
    if (conv === undefined || conv.op !== 'conv2d' || readers.get(conv.output) !== 1) {
      nodes.push(node);
      continue;
    }
    const [gamma, beta, mean, variance] = node.args.slice(1, 5).map((a) => weights.get(valueOf(a) ?? ''));
    const eps = (node.args[7] as { constant: number }).constant;
    const weightName = valueOf(conv.args[1])!;
    const biasName = valueOf(conv.args[2]);
    if (!gamma || !beta || !mean || !variance)
      throw new Error(`cannot fold ${node.output}: its BatchNorm has no affine weights or running statistics`);
    const bias = biasName === undefined ? undefined : weights.get(biasName);
    const [w, b] = tidy(() => {
      const g = gamma.double().div(variance.double().add(eps).sqrt());
      const foldedWeight = weights
        .get(weightName)!
        .double()
        .mul(g.view([-1, 1, 1, 1]))
        .float()
        .contiguous();
      const foldedBias = (bias === undefined ? mean.double().neg() : bias.double().sub(mean.double()))
        .mul(g)
        .add(beta.double())
        .float()
        .contiguous();
      return [foldedWeight, foldedBias];
    });
    // New names, so that a weight shared elsewhere is never changed under another reader.
    const [newWeight, newBias] = [`${weightName}.folded`, `${weightName.replace(/\.weight$/, '')}.folded_bias`];
    weights.set(newWeight, w);
    weights.set(newBias, b);
    convs.set(conv, { ...conv, args: [conv.args[0], { value: newWeight }, { value: newBias }, ...conv.args.slice(3)] });
    renamed.set(node.output, conv.output);
    folded++;
  }
  const rename = (arg: TracedArg): TracedArg =>
    'value' in arg && renamed.has(arg.value) ? { value: renamed.get(arg.value)! } : arg;
  const result = nodes.map((n) => convs.get(n) ?? n).map((n) => ({ ...n, args: n.args.map(rename) }));
  const read = new Set(result.flatMap((n) => n.args.flatMap((a) => ('value' in a ? [a.value] : []))));
  for (const name of [...weights.keys()]) if (!read.has(name)) weights.delete(name);
  return { graph: { ...graph, output: renamed.get(graph.output) ?? graph.output, nodes: result, weights }, folded };
}
