#!/usr/bin/env python3
"""Convert MediaPipe's palm detector (palm_detection_lite.tflite in the PyPI wheel
`mediapipe` 0.10.14) into Cuebox's ONNX hand/palm detection model.

No TensorFlow and no tf2onnx: the TFLite flatbuffer is read with the `flatbuffers` runtime and
the hand-written table readers below (field numbers from TFLite's schema.fbs), and each operator
is mapped to ONNX. The float16 weights (DEQUANTIZE of constants) are widened to float32 here, which
is exact, so the ONNX graph computes what TFLite computes after its own dequantisation.

Layout: ONNX convolutions are channels-first, so every 4-D activation is NCHW, the model input
included (it saves a transpose at the start; Cuebox writes planar tensors anyway). Weights are
transposed from TFLite's OHWI / 1HWO, 4-D axes of PAD and CONCATENATION are remapped, and a 4-D
tensor is transposed back to NHWC before a RESHAPE, so the flattened anchor order (row, column,
anchor) is TFLite's. PRELU is written as max(x, 0) + slope * min(x, 0) with the per-channel product
as a 1x1 depthwise convolution, which halves the model's run time in tract.

Input  `input`      float32 [1, 3, 192, 192], RGB, planar, values in [0, 1]
Output `regressors` float32 [1, 2016, 18]  per anchor: box centre x, y and size w, h, then 7
                    keypoints (x, y), all in input pixels relative to the anchor centre
       `logits`     float32 [1, 2016, 1]   palm score per anchor, before the sigmoid

usage: convert_palm_detection.py WHEEL OUT.onnx
"""

import sys
import zipfile

import flatbuffers
import numpy as np
import onnx
from flatbuffers import number_types
from onnx import TensorProto, helper, numpy_helper

TFLITE_NAME = "mediapipe/modules/palm_detection/palm_detection_lite.tflite"
INPUT_SIZE = 192
OUTPUT_NAMES = ("regressors", "logits")
OUTPUT_SHAPES = ((1, 2016, 18), (1, 2016, 1))

# TFLite schema.fbs enums, only the members this converter understands.
BUILTIN_NAMES = {
    0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE",
    17: "MAX_POOL_2D", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 34: "PAD", 54: "PRELU",
}
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32}
PADDING_SAME, PADDING_VALID = 0, 1
ACTIVATION_NONE, ACTIVATION_RELU, ACTIVATION_RELU6 = 0, 1, 3
# Axis of an NHWC tensor -> the same axis of its NCHW form.
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class Table:
    """A flatbuffer table: fields are read by their number in the schema."""

    def __init__(self, buf, pos):
        self.t = flatbuffers.table.Table(buf, pos)

    def _offset(self, field):
        return self.t.Offset(4 + 2 * field)

    def scalar(self, field, flags, default=0):
        offset = self._offset(field)
        return self.t.Get(flags, self.t.Pos + offset) if offset else default

    def int8(self, field, default=0):
        return self.scalar(field, number_types.Int8Flags, default)

    def int32(self, field, default=0):
        return self.scalar(field, number_types.Int32Flags, default)

    def uint32(self, field, default=0):
        return self.scalar(field, number_types.Uint32Flags, default)

    def boolean(self, field):
        return bool(self.scalar(field, number_types.BoolFlags, False))

    def string(self, field):
        offset = self._offset(field)
        return self.t.String(self.t.Pos + offset).decode() if offset else ""

    def table(self, field):
        offset = self._offset(field)
        return Table(self.t.Bytes, self.t.Indirect(self.t.Pos + offset)) if offset else None

    def tables(self, field):
        offset = self._offset(field)
        if not offset:
            return []
        start = self.t.Vector(offset)
        return [Table(self.t.Bytes, self.t.Indirect(start + 4 * i)) for i in range(self.t.VectorLen(offset))]

    def array(self, field, dtype):
        offset = self._offset(field)
        if not offset:
            return np.zeros(0, dtype)
        return np.frombuffer(self.t.Bytes, dtype, count=self.t.VectorLen(offset), offset=self.t.Vector(offset))


class TfliteTensor:
    # Tensor: shape 0, type 1, buffer 2, name 3, quantization 4
    def __init__(self, table: Table):
        self.shape = tuple(int(d) for d in table.array(0, "<i4"))
        self.type = table.int8(1)
        self.buffer = table.uint32(2)
        self.name = table.string(3)


class TfliteOperator:
    # Operator: opcode_index 0, inputs 1, outputs 2, builtin_options_type 3, builtin_options 4
    def __init__(self, table: Table, opcodes):
        self.name = opcodes[table.uint32(0)]
        self.inputs = [int(i) for i in table.array(1, "<i4")]
        self.outputs = [int(i) for i in table.array(2, "<i4")]
        self.options = table.table(4)


def read_tflite(data: bytes):
    """The main subgraph's tensors, operators, inputs and outputs, and the model's buffers."""
    if data[4:8] != b"TFL3":
        raise SystemExit("not a TFLite model (file identifier is not TFL3)")
    model = Table(data, int.from_bytes(data[:4], "little"))
    # Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4
    opcodes = []
    for code in model.tables(1):
        # OperatorCode: deprecated_builtin_code 0 (int8), custom_code 1, version 2, builtin_code 3 (int32)
        builtin = max(code.int8(0), code.int32(3))
        if code.string(1) or builtin not in BUILTIN_NAMES:
            raise SystemExit(f"unsupported TFLite operator {code.string(1) or builtin}")
        opcodes.append(BUILTIN_NAMES[builtin])
    subgraphs = model.tables(2)
    if len(subgraphs) != 1:
        raise SystemExit(f"expected one subgraph, found {len(subgraphs)}")
    # SubGraph: tensors 0, inputs 1, outputs 2, operators 3
    graph = subgraphs[0]
    tensors = [TfliteTensor(t) for t in graph.tables(0)]
    operators = [TfliteOperator(o, opcodes) for o in graph.tables(3)]
    # Buffer: data 0 (models over 2 GB keep it outside the flatbuffer: not supported here)
    buffers = [b.array(0, np.uint8) for b in model.tables(4)]
    inputs = [int(i) for i in graph.array(1, "<i4")]
    outputs = [int(i) for i in graph.array(2, "<i4")]
    return tensors, operators, buffers, inputs, outputs


def onnx_pads(padding, input_hw, kernel_hw, stride_hw, dilation_hw=(1, 1)):
    """ONNX `pads` [top, left, bottom, right] of TFLite's SAME or VALID padding."""
    if padding == PADDING_VALID:
        return [0, 0, 0, 0]
    if padding != PADDING_SAME:
        raise SystemExit(f"unsupported padding {padding}")
    before, after = [], []
    for size, kernel, stride, dilation in zip(input_hw, kernel_hw, stride_hw, dilation_hw):
        out = -(-size // stride)
        total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


class Converter:
    def __init__(self, tensors, buffers, graph_outputs):
        self.tensors = tensors
        self.graph_outputs = dict(zip(graph_outputs, OUTPUT_NAMES))
        self.nodes = []
        self.initializers = []
        self.names = {}  # TFLite tensor index -> ONNX value name (activations; 4-D ones are NCHW)
        self.constants = {}  # TFLite tensor index -> numpy array in TFLite layout
        self.zero_name = None
        for index, tensor in enumerate(tensors):
            data = buffers[tensor.buffer] if tensor.buffer < len(buffers) else ()
            if len(data):
                if tensor.type not in TENSOR_TYPES:
                    raise SystemExit(f"tensor {tensor.name}: unsupported type {tensor.type}")
                self.constants[index] = np.frombuffer(data.tobytes(), TENSOR_TYPES[tensor.type]).reshape(tensor.shape)

    def output_name(self, index):
        """The ONNX name of the value that TFLite tensor `index` becomes."""
        return self.graph_outputs.get(index, f"t{index}")

    def constant(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def zero(self):
        if self.zero_name is None:
            self.zero_name = self.constant("zero", np.float32(0))
        return self.zero_name

    def float_constant(self, index):
        array = self.constants.get(index)
        if array is None or array.dtype != np.float32:
            raise SystemExit(f"tensor {self.tensors[index].name} should be a float32 constant")
        return array

    def value(self, index):
        if index not in self.names:
            raise SystemExit(f"tensor {self.tensors[index].name} is used before it is computed")
        return self.names[index]

    def node(self, op, inputs, output, **attributes):
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def activation(self, kind, x, output):
        """Applies a fused activation to `x`, producing the TFLite tensor `output`."""
        name = self.output_name(output)
        if kind == ACTIVATION_NONE:
            self.names[output] = x
        elif kind == ACTIVATION_RELU:
            self.names[output] = self.node("Relu", [x], name)
        elif kind == ACTIVATION_RELU6:
            self.names[output] = self.node("Clip", [x, self.constant(name + "_min", np.float32(0)),
                                                    self.constant(name + "_max", np.float32(6))], name)
        else:
            raise SystemExit(f"unsupported fused activation {kind}")

    def convolution(self, op, depthwise):
        # Conv2DOptions: padding 0, stride_w 1, stride_h 2, fused_activation_function 3, dilation_w 4, dilation_h 5
        # DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3, activation 4, dilation 5, 6
        o = op.options
        activation = o.int8(4 if depthwise else 3)
        dilation = (o.int32(6 if depthwise else 5, 1), o.int32(5 if depthwise else 4, 1))
        stride = (o.int32(2), o.int32(1))
        x, weights, bias = op.inputs
        _, height, width, channels = self.tensors[x].shape
        kernel = self.float_constant(weights)
        if depthwise:
            kernel = kernel.transpose(3, 0, 1, 2)  # 1HWO -> O1HW
            groups = channels
        else:
            kernel = kernel.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            groups = 1
        kernel_hw = kernel.shape[2:]
        name = self.output_name(op.outputs[0])
        y = self.node("Conv", [self.value(x), self.constant(name + "_w", kernel),
                               self.constant(name + "_b", self.float_constant(bias))],
                      name + ("_conv" if activation else ""), kernel_shape=list(kernel_hw), strides=list(stride),
                      dilations=list(dilation), pads=onnx_pads(o.int8(0), (height, width), kernel_hw, stride, dilation),
                      group=groups)
        self.activation(activation, y, op.outputs[0])

    def max_pool(self, op):
        # Pool2DOptions: padding 0, stride_w 1, stride_h 2, filter_width 3, filter_height 4, activation 5
        o = op.options
        stride, kernel = (o.int32(2), o.int32(1)), (o.int32(4), o.int32(3))
        _, height, width, _ = self.tensors[op.inputs[0]].shape
        name = self.output_name(op.outputs[0])
        activation = o.int8(5)
        y = self.node("MaxPool", [self.value(op.inputs[0])], name + ("_pool" if activation else ""),
                      kernel_shape=list(kernel), strides=list(stride),
                      pads=onnx_pads(o.int8(0), (height, width), kernel, stride))
        self.activation(activation, y, op.outputs[0])

    def add(self, op):
        # AddOptions: fused_activation_function 0
        activation = op.options.int8(0) if op.options else ACTIVATION_NONE
        a, b = op.inputs
        if self.tensors[a].shape != self.tensors[b].shape:
            raise SystemExit(f"ADD {self.tensors[op.outputs[0]].name}: broadcasting is not supported")
        name = self.output_name(op.outputs[0])
        y = self.node("Add", [self.value(a), self.value(b)], name + ("_add" if activation else ""))
        self.activation(activation, y, op.outputs[0])

    def prelu(self, op):
        """max(x, 0) + slope * min(x, 0), the per-channel product as a 1x1 depthwise convolution: tract
        runs that about twice as fast as ONNX PRelu, whose broadcast multiplication is slow there."""
        x, alpha = op.inputs
        slope = self.float_constant(alpha)
        channels = self.tensors[x].shape[-1]
        if len(self.tensors[x].shape) != 4 or slope.size != channels:
            raise SystemExit(f"PRELU {self.tensors[x].name}: only a per-channel slope of a 4-D tensor is supported")
        name = self.output_name(op.outputs[0])
        positive = self.node("Relu", [self.value(x)], name + "_positive")
        negative = self.node("Min", [self.value(x), self.zero()], name + "_negative")
        sloped = self.node("Conv", [negative, self.constant(name + "_slope", slope.reshape(channels, 1, 1, 1))],
                           name + "_sloped", kernel_shape=[1, 1], group=channels)
        self.names[op.outputs[0]] = self.node("Add", [positive, sloped], name)

    def pad(self, op):
        x, paddings = op.inputs
        nhwc = self.constants[paddings]
        if nhwc.shape != (4, 2):
            raise SystemExit(f"PAD {self.tensors[x].name}: only 4-D tensors are supported")
        nchw = nhwc[[0, 3, 1, 2]]
        name = self.output_name(op.outputs[0])
        pads = np.concatenate([nchw[:, 0], nchw[:, 1]]).astype(np.int64)
        self.names[op.outputs[0]] = self.node("Pad", [self.value(x), self.constant(name + "_pads", pads)], name,
                                              mode="constant")

    def resize_bilinear(self, op):
        # ResizeBilinearOptions: new_height 0, new_width 1 (deprecated), align_corners 2, half_pixel_centers 3
        x, size = op.inputs
        if op.options and op.options.boolean(2):
            mode = "align_corners"
        elif op.options and op.options.boolean(3):
            mode = "half_pixel"
        else:
            mode = "asymmetric"
        _, _, _, channels = self.tensors[x].shape
        height, width = (int(v) for v in self.constants[size])
        name = self.output_name(op.outputs[0])
        sizes = self.constant(name + "_sizes", np.array([1, channels, height, width], np.int64))
        self.names[op.outputs[0]] = self.node("Resize", [self.value(x), "", "", sizes], name, mode="linear",
                                              coordinate_transformation_mode=mode)

    def reshape(self, op):
        x = op.inputs[0]
        out_shape = self.tensors[op.outputs[0]].shape
        name = self.output_name(op.outputs[0])
        source = self.value(x)
        if len(self.tensors[x].shape) == 4:
            source = self.node("Transpose", [source], name + "_nhwc", perm=[0, 2, 3, 1])
        if len(out_shape) == 4:
            raise SystemExit(f"RESHAPE {self.tensors[op.outputs[0]].name}: a 4-D result is not supported")
        shape = self.constant(name + "_shape", np.array(out_shape, np.int64))
        self.names[op.outputs[0]] = self.node("Reshape", [source, shape], name)

    def concatenation(self, op):
        # ConcatenationOptions: axis 0, fused_activation_function 1
        rank = len(self.tensors[op.outputs[0]].shape)
        axis = op.options.int32(0) % rank
        if rank == 4:
            axis = NHWC_TO_NCHW_AXIS[axis]
        activation = op.options.int8(1)
        name = self.output_name(op.outputs[0])
        y = self.node("Concat", [self.value(i) for i in op.inputs], name + ("_concat" if activation else ""),
                      axis=axis)
        self.activation(activation, y, op.outputs[0])

    def dequantize(self, op):
        source = self.constants.get(op.inputs[0])
        if source is None or source.dtype != np.float16:
            raise SystemExit(f"DEQUANTIZE {self.tensors[op.inputs[0]].name}: only float16 constants are supported")
        self.constants[op.outputs[0]] = source.astype(np.float32)

    def convert(self, op):
        handlers = {
            "ADD": self.add,
            "CONCATENATION": self.concatenation,
            "CONV_2D": lambda o: self.convolution(o, depthwise=False),
            "DEPTHWISE_CONV_2D": lambda o: self.convolution(o, depthwise=True),
            "DEQUANTIZE": self.dequantize,
            "MAX_POOL_2D": self.max_pool,
            "PAD": self.pad,
            "PRELU": self.prelu,
            "RESHAPE": self.reshape,
            "RESIZE_BILINEAR": self.resize_bilinear,
        }
        handlers[op.name](op)


def build(data: bytes) -> onnx.ModelProto:
    tensors, operators, buffers, inputs, outputs = read_tflite(data)
    if len(inputs) != 1 or tensors[inputs[0]].shape != (1, INPUT_SIZE, INPUT_SIZE, 3):
        found = [tensors[i].shape for i in inputs]
        raise SystemExit(f"expected one 1x{INPUT_SIZE}x{INPUT_SIZE}x3 input, found {found}")
    if tuple(tensors[i].shape for i in outputs) != OUTPUT_SHAPES:
        raise SystemExit(f"expected outputs {OUTPUT_SHAPES}, found {[tensors[i].shape for i in outputs]}")
    converter = Converter(tensors, buffers, outputs)
    converter.names[inputs[0]] = "input"
    for op in operators:
        converter.convert(op)
    if [converter.value(i) for i in outputs] != list(OUTPUT_NAMES):
        raise SystemExit("the graph outputs are not computed by operators of their own")
    graph = helper.make_graph(
        converter.nodes, "palm_detection_lite",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))
         for name, shape in zip(OUTPUT_NAMES, OUTPUT_SHAPES)],
        converter.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="cuebox-models")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with zipfile.ZipFile(sys.argv[1]) as wheel:
        data = wheel.read(TFLITE_NAME)
    onnx.save(build(data), sys.argv[2])


if __name__ == "__main__":
    main()
