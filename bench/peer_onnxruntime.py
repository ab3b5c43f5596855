#!/usr/bin/env python3
"""The onnxruntime peer of `cuebox bench`: the same ONNX model on the same input tensor with the
same thread count, timed in rounds that the caller interleaves with its own.

usage: peer_onnxruntime.py MODEL.onnx INPUT.f32 THREADS

Prints one JSON line when the model is loaded ({"load_ms", "rss_mb", "onnxruntime"}), then for
each line "N" read on stdin runs the model N times and prints {"ms": [...]} (one time per run).
The input file holds little-endian float32 values; its length sets the batch size.
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    model, input_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    started = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    data = np.fromfile(input_path, dtype="<f4")
    per_item = int(np.prod([d for d in spec.shape[1:]]))
    batch = data.size // per_item
    tensor = data.reshape([batch] + list(spec.shape[1:]))
    feed = {spec.name: tensor}
    session.run(None, feed)
    load_ms = (time.perf_counter() - started) * 1e3
    print(json.dumps({"load_ms": load_ms, "rss_mb": rss_mb(), "onnxruntime": ort.__version__, "batch": batch}), flush=True)
    for line in sys.stdin:
        runs = int(line)
        times = []
        for _ in range(runs):
            begun = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - begun) * 1e3)
        print(json.dumps({"ms": times}), flush=True)


if __name__ == "__main__":
    main()
