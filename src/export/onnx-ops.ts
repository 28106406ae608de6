// ATen ops of a traced forward pass as ONNX nodes (opset 13 and later): the ops the backbones dispatch in eval mode.
// An op without a mapping stops the export with its name.
import type { TracedArg, TracedNode } from './trace.js';

export interface OnnxAttribute {
  name: string;
  /** onnx.AttributeProto.AttributeType: 1 FLOAT, 2 INT, 7 INTS. */
  type: 1 | 2 | 7;
  f?: number;
  i?: number;
  ints?: number[];
}

export interface OnnxNode {
  opType: string;
  name: string;
  input: string[];
  output: string[];
  attribute: OnnxAttribute[];
}

/** What a mapping may add besides nodes: scalar constants (float32) as initializers. */
export interface MappingContext {
  scalar(value: number): string;
}

const ints = (name: string, values: number[]): OnnxAttribute => ({ name, type: 7, ints: values });
const int = (name: string, value: number): OnnxAttribute => ({ name, type: 2, i: value });
const float = (name: string, value: number): OnnxAttribute => ({ name, type: 1, f: value });

function constantOf(node: TracedNode, index: number): unknown {
  const arg = node.args[index];
  if (arg === undefined || !('constant' in arg))
    throw new Error(`cannot export ${node.op} (${node.output}): argument ${index} is not a constant`);
  return arg.constant;
}

/** A 2-D size argument: an int or a list of one or two ints. */
function pair(node: TracedNode, index: number): [number, number] {
  const v = constantOf(node, index);
  const list = typeof v === 'number' ? [v] : (v as number[]);
  return list.length === 1 ? [list[0], list[0]] : [list[0], list[1]];
}

const valueName = (arg: TracedArg | undefined): string | undefined =>
  arg !== undefined && 'value' in arg ? arg.value : undefined;

function inputs(node: TracedNode, count: number): string[] {
  return node.args.slice(0, count).flatMap((a) => {
    const name = valueName(a);
    return name === undefined ? [] : [name];
  });
}

type Mapping = (node: TracedNode, ctx: MappingContext) => Omit<OnnxNode, 'name' | 'output'>[];

const identity = (node: TracedNode): Omit<OnnxNode, 'name' | 'output'>[] => [
  { opType: 'Identity', input: inputs(node, 1), attribute: [] },
];

const MAPPINGS: Record<string, Mapping> = {
  conv2d: (node) => {
    const [ph, pw] = pair(node, 4);
    return [
      {
        opType: 'Conv',
        input: inputs(node, 3),
        attribute: [
          ints('strides', pair(node, 3)),
          ints('pads', [ph, pw, ph, pw]),
          ints('dilations', pair(node, 5)),
          int('group', constantOf(node, 6) as number),
        ],
      },
    ];
  },
  batch_norm: (node) => {
    if (constantOf(node, 5) !== false) throw new Error(`cannot export batch_norm (${node.output}) in training mode`);
    return [
      {
        opType: 'BatchNormalization',
        input: inputs(node, 5),
        attribute: [float('epsilon', constantOf(node, 7) as number)],
      },
    ];
  },
  relu: (node) => [{ opType: 'Relu', input: inputs(node, 1), attribute: [] }],
  relu_: (node) => [{ opType: 'Relu', input: inputs(node, 1), attribute: [] }],
  hardtanh_: (node, ctx) => [
    {
      opType: 'Clip',
      input: [...inputs(node, 1), ctx.scalar(constantOf(node, 1) as number), ctx.scalar(constantOf(node, 2) as number)],
      attribute: [],
    },
  ],
  max_pool2d: (node) => {
    const [ph, pw] = pair(node, 3);
    const [dh, dw] = pair(node, 4);
    if (dh !== 1 || dw !== 1) throw new Error(`cannot export max_pool2d (${node.output}) with dilation ${dh}x${dw}`);
    const kernel = pair(node, 1);
    const stride = (constantOf(node, 2) as number[]).length === 0 ? kernel : pair(node, 2);
    return [
      {
        opType: 'MaxPool',
        input: inputs(node, 1),
        attribute: [
          ints('kernel_shape', kernel),
          ints('strides', stride),
          ints('pads', [ph, pw, ph, pw]),
          int('ceil_mode', constantOf(node, 5) ? 1 : 0),
        ],
      },
    ];
  },
  'add.Tensor': (node) => addOf(node),
  'add_.Tensor': (node) => addOf(node),
  adaptive_avg_pool2d: (node) => {
    const [h, w] = pair(node, 1);
    if (h !== 1 || w !== 1)
      throw new Error(`cannot export adaptive_avg_pool2d (${node.output}) to ${h}x${w} (only 1x1, global pooling)`);
    return [{ opType: 'GlobalAveragePool', input: inputs(node, 1), attribute: [] }];
  },
  'flatten.using_ints': (node) => {
    if (constantOf(node, 2) !== -1)
      throw new Error(`cannot export flatten (${node.output}) that stops before the last dimension`);
    return [{ opType: 'Flatten', input: inputs(node, 1), attribute: [int('axis', constantOf(node, 1) as number)] }];
  },
  dropout: (node) => {
    if (constantOf(node, 2) !== false) throw new Error(`cannot export dropout (${node.output}) in training mode`);
    return identity(node);
  },
  linear: (node) => [{ opType: 'Gemm', input: inputs(node, 3), attribute: [int('transB', 1)] }],
};

function addOf(node: TracedNode): Omit<OnnxNode, 'name' | 'output'>[] {
  if (constantOf(node, 2) !== 1)
    throw new Error(`cannot export ${node.op} (${node.output}) with alpha ${String(constantOf(node, 2))}`);
  return [{ opType: 'Add', input: inputs(node, 2), attribute: [] }];
}

/** The ONNX nodes of one traced op (their output is the op's output). */
export function toOnnxNodes(node: TracedNode, ctx: MappingContext): OnnxNode[] {
  const mapping = MAPPINGS[node.op];
  if (mapping === undefined)
    throw new Error(
      `cannot export: the op ${node.op} (${node.output}) has no ONNX mapping (mapped: ${Object.keys(MAPPINGS).join(', ')})`,
    );
  const mapped = mapping(node, ctx);
  return mapped.map((n, i) => ({
    ...n,
    name: `${n.opType}_${node.output}${mapped.length > 1 ? `_${i}` : ''}`,
    output: [i === mapped.length - 1 ? node.output : `${node.output}_${i}`],
  }));
}
