// The preprocessing of an exported model that takes decoded images (`export --input uint8`): uint8 pixels, N x D x D
// x 3 as dsdnet decodes them (RGB, short side resized to D, centre crop), become the network's normalised float
// input inside the graph: the centre S x S window, NCHW, (x - 255 mean) / (255 std). Other tools then feed decoded
// pixels and need not know the crop or the normalisation.
import onnxProto from 'onnx-proto';

import { INPUT_NAME, PIXELS_NAME } from './names.js';

const { onnx } = onnxProto;

export interface PixelsInput {
  decodeSize: number;
  inputSize: number;
  mean: readonly number[];
  std: readonly number[];
}

const int64s = (name: string, values: number[]): onnxProto.onnx.ITensorProto => ({
  name,
  dims: [values.length],
  dataType: onnx.TensorProto.DataType.INT64,
  int64Data: values,
});
const floats = (name: string, dims: number[], values: number[]): onnxProto.onnx.ITensorProto => ({
  name,
  dims,
  dataType: onnx.TensorProto.DataType.FLOAT,
  floatData: values,
});

/** The nodes from PIXELS_NAME to INPUT_NAME and the constants they read. */
export function pixelsToInput(p: PixelsInput): {
  nodes: onnxProto.onnx.INodeProto[];
  initializer: onnxProto.onnx.ITensorProto[];
} {
  const offset = Math.floor((p.decodeSize - p.inputSize) / 2);
  const node = (
    opType: string,
    input: string[],
    output: string,
    attribute: onnxProto.onnx.IAttributeProto[] = [],
  ): onnxProto.onnx.INodeProto => ({ opType, name: `pixels_${opType}`, input, output: [output], attribute });
  return {
    nodes: [
      node('Slice', [PIXELS_NAME, 'pixels_starts', 'pixels_ends', 'pixels_axes'], 'pixels_window'),
      node('Cast', ['pixels_window'], 'pixels_float', [
        { name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.FLOAT },
      ]),
      node('Transpose', ['pixels_float'], 'pixels_nchw', [
        { name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 3, 1, 2] },
      ]),
      node('Sub', ['pixels_nchw', 'pixels_mean'], 'pixels_centred'),
      node('Div', ['pixels_centred', 'pixels_std'], INPUT_NAME),
    ],
    initializer: [
      int64s('pixels_starts', [offset, offset]),
      int64s('pixels_ends', [offset + p.inputSize, offset + p.inputSize]),
      int64s('pixels_axes', [1, 2]),
      floats(
        'pixels_mean',
        [1, 3, 1, 1],
        p.mean.map((m) => 255 * m),
      ),
      floats(
        'pixels_std',
        [1, 3, 1, 1],
        p.std.map((s) => 255 * s),
      ),
    ],
  };
}
