// A traced forward pass written as an ONNX model (ModelProto through onnx-proto, the ONNX project's protobuf
// definition): float32 weights as initializers, the input and output with a dynamic or fixed batch, and the model's
// metadata (class names, preprocessing, the run it came from) in metadata_props, so that the file alone predicts.
import onnxProto from 'onnx-proto';

import { tidy } from '../torch/index.js';
import { type OnnxNode, toOnnxNodes } from './onnx-ops.js';
import { INPUT_NAME, OUTPUT_NAME, PIXELS_NAME } from './names.js';
import { type PixelsInput, pixelsToInput } from './pixels-input.js';
import type { TracedGraph } from './trace.js';

const { onnx } = onnxProto;

/** IR version 8 (ONNX 1.10 to 1.12) carries opsets up to 17. */
const IR_VERSION = 8;
export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 13;

export interface OnnxWriteOptions {
  /** Default 17; 13 at least (Clip with inputs, GlobalAveragePool, Gemm as used). */
  opset?: number;
  /** 'dynamic' (default) or a fixed batch size. */
  batch?: 'dynamic' | number;
  /** Model metadata (metadata_props). */
  metadata?: Record<string, string>;
  producerVersion?: string;
  docString?: string;
  /** Take uint8 decoded images (N x decodeSize x decodeSize x 3) and prepare them inside the graph. */
  pixels?: PixelsInput;
}

function tensorProto(name: string, dims: number[], data: Float32Array): onnxProto.onnx.ITensorProto {
  return {
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function valueInfo(
  name: string,
  dims: (number | string)[],
  elemType = onnx.TensorProto.DataType.FLOAT,
): onnxProto.onnx.IValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function nodeProto(node: OnnxNode, rename: (value: string) => string): onnxProto.onnx.INodeProto {
  const attribute = node.attribute.map((a) => ({
    name: a.name,
    type: a.type,
    ...(a.f !== undefined ? { f: a.f } : {}),
    ...(a.i !== undefined ? { i: a.i } : {}),
    ...(a.ints !== undefined ? { ints: a.ints } : {}),
  }));
  return {
    opType: node.opType,
    name: node.name,
    input: node.input.map(rename),
    output: node.output.map(rename),
    attribute,
  };
}

/** Serialises the traced graph; `inputShape` is the traced input's [channels, height, width]. */
export function writeOnnx(
  graph: TracedGraph,
  inputShape: [number, number, number],
  options: OnnxWriteOptions = {},
): Uint8Array {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!(Number.isInteger(opset) && opset >= MIN_OPSET && opset <= DEFAULT_OPSET))
    throw new RangeError(`opset must be an integer in ${MIN_OPSET}..${DEFAULT_OPSET}, got ${opset}`);
  const batch = options.batch ?? 'dynamic';
  if (batch !== 'dynamic' && !(Number.isInteger(batch) && batch >= 1))
    throw new RangeError(`batch must be 'dynamic' or a positive integer, got ${batch}`);
  const batchDim = batch === 'dynamic' ? 'batch' : batch;
  const scalars: onnxProto.onnx.ITensorProto[] = [];
  const ctx = {
    scalar: (value: number): string => {
      const name = `scalar_${scalars.length}`;
      scalars.push(tensorProto(name, [], Float32Array.of(value)));
      return name;
    },
  };
  const rename = (value: string): string =>
    value === graph.output ? OUTPUT_NAME : value === graph.input ? INPUT_NAME : value;
  const nodes = graph.nodes.flatMap((n) => toOnnxNodes(n, ctx)).map((n) => nodeProto(n, rename));
  const initializer = [...graph.weights].map(([name, t]) =>
    tensorProto(
      name,
      t.shape,
      tidy(() => t.float().contiguous().data() as Float32Array),
    ),
  );
  const last = graph.nodes.find((n) => n.output === graph.output);
  if (last === undefined) throw new Error('cannot export: the output is not produced by any op');
  const { pixels } = options;
  const prepare = pixels ? pixelsToInput(pixels) : { nodes: [], initializer: [] };
  const input = pixels
    ? valueInfo(PIXELS_NAME, [batchDim, pixels.decodeSize, pixels.decodeSize, 3], onnx.TensorProto.DataType.UINT8)
    : valueInfo(INPUT_NAME, [batchDim, ...inputShape]);
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'dsdnet',
    producerVersion: options.producerVersion ?? '',
    docString: options.docString ?? '',
    graph: {
      name: 'dsdnet',
      node: [...prepare.nodes, ...nodes],
      initializer: [...prepare.initializer, ...initializer, ...scalars],
      input: [input],
      output: [valueInfo(OUTPUT_NAME, [batchDim, ...last.shape.slice(1)])],
    },
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return onnx.ModelProto.encode(model).finish();
}
