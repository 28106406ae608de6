// Tracing a network's forward pass into a graph of the ATen ops it dispatches: which op ran on which values, where
// each value is the network's input, one of its weights (by state-dict name) or an earlier op's output. In-place
// ops produce a new value, which later uses of the same tensor refer to. The ONNX writer maps these ops.
import type { Module } from '../nn/index.js';
import { noGrad, type OpArg, observeOps, Tensor, tidy } from '../torch/index.js';

/** An op argument: a traced value by name, or a constant (numbers, booleans, lists, null). */
export type TracedArg = { value: string } | { constant: unknown };

export interface TracedNode {
  /** The ATen operator, as src/torch names it ('conv2d', 'add_.Tensor', ...). */
  op: string;
  args: TracedArg[];
  output: string;
  /** The output's shape for the traced input. */
  shape: number[];
}

export interface TracedGraph {
  input: string;
  output: string;
  nodes: TracedNode[];
  /** The weights the nodes read, by state-dict name (float32 copies, owned by the graph). */
  weights: Map<string, Tensor>;
}

/** Runs `model.forward` on `example` in eval mode without gradients and records its ops. */
export function traceForward(model: Module & { forward(x: Tensor): Tensor }, example: Tensor): TracedGraph {
  const names = new Map<Tensor, string>([...model.stateDict()].map(([name, tensor]) => [tensor, name]));
  const values = new Map<Tensor, string>([[example, 'input']]);
  const nodes: TracedNode[] = [];
  const used = new Set<string>();
  const argOf = (arg: OpArg, node: string): TracedArg => {
    if (arg instanceof Tensor) {
      const value = values.get(arg) ?? names.get(arg);
      if (value === undefined)
        throw new Error(
          `cannot export: ${node} reads a tensor that is neither the input, a weight, nor an earlier op's output`,
        );
      if (names.has(arg)) used.add(value);
      return { value };
    }
    if (Array.isArray(arg) && arg.some((a) => a instanceof Tensor))
      throw new Error(`cannot export: ${node} takes a list of tensors`);
    return { constant: arg ?? null };
  };
  const wasTraining = model.training;
  model.eval();
  let output: Tensor;
  try {
    output = noGrad(() =>
      observeOps(
        (op, args, result) => {
          if (!(result instanceof Tensor))
            throw new Error(`cannot export: ${op} returns ${Array.isArray(result) ? 'several tensors' : 'no tensor'}`);
          const name = `v${nodes.length + 1}`;
          nodes.push({ op, args: args.map((a) => argOf(a, op)), output: name, shape: result.shape });
          values.set(result, name);
        },
        () => model.forward(example),
      ),
    );
  } finally {
    model.train(wasTraining);
  }
  const outputName = values.get(output);
  output.dispose();
  if (outputName === undefined || outputName === 'input')
    throw new Error('cannot export: the forward pass returned no traced value');
  const weights = new Map(
    [...names]
      .filter(([, name]) => used.has(name))
      .map(([tensor, name]) => [name, tidy(() => tensor.float().contiguous().clone())]),
  );
  return { input: 'input', output: outputName, nodes, weights };
}
