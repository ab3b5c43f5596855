#!/usr/bin/env python3
"""Run a Cuebox ONNX model in onnxruntime on a raw little-endian float32 input tensor and print
each output as JSON: the peer Cuebox's tract results are checked and measured against.

usage: onnxruntime_peer.py MODEL.onnx INPUT.f32 [threads] [--shape N,C,H,W] [--runs N]

--shape gives the input's shape where the model leaves dimensions free (the OCR models);
--runs times that many more runs after the first and adds their times, "ms", to the JSON.
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser(usage=__doc__)
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("threads", nargs="?", type=int, default=1)
    parser.add_argument("--shape", type=lambda s: [int(d) for d in s.split(",")])
    parser.add_argument("--runs", type=int, default=0)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    data = np.fromfile(args.input, dtype="<f4").reshape(args.shape or spec.shape)
    outputs = session.run(None, {spec.name: data})
    result = {o.name: v.reshape(-1).tolist() for o, v in zip(session.get_outputs(), outputs)}
    if args.runs:
        times = []
        for _ in range(args.runs):
            begun = time.perf_counter()
            session.run(None, {spec.name: data})
            times.append((time.perf_counter() - begun) * 1e3)
        result["ms"] = times
    print(json.dumps(result))


if __name__ == "__main__":
    main()
