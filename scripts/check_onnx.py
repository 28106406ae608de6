"""The ONNX checker (Debian's python3-onnx) on models written by `dsdnet export`: full check with shape inference,
then the opset, the input and output shapes and dsdnet's metadata printed. Not needed by CI.

Usage: /usr/bin/python3 scripts/check_onnx.py model.onnx [more.onnx ...]
"""
import json
import sys

import onnx


def describe(value_info):
    dims = value_info.type.tensor_type.shape.dim
    return 'x'.join(d.dim_param or str(d.dim_value) for d in dims)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        metadata = {p.key: p.value for p in model.metadata_props}
        info = json.loads(metadata['dsdnet'])
        ops = sorted({n.op_type for n in inferred.graph.node})
        print(f"{path}: valid (IR {model.ir_version}, opset {model.opset_import[0].version}), "
              f"{len(model.graph.node)} nodes ({', '.join(ops)}), input {describe(model.graph.input[0])}, "
              f"output {describe(model.graph.output[0])}, {len(info['classNames'])} classes, {info['backbone']}")


if __name__ == '__main__':
    main()
