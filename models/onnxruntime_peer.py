#!/usr/bin/env python3
"""Run a Cuebox ONNX model in onnxruntime on a raw little-endian float32 input tensor and print
each output as JSON: the peer Cuebox's tract results are checked and measured against.

usage: onnxruntime_peer.py MODEL.onnx INPUT.f32 [threads]
"""

import json
import sys

import numpy as np
import onnxruntime as ort


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    data = np.fromfile(sys.argv[2], dtype="<f4").reshape(spec.shape)
    outputs = session.run(None, {spec.name: data})
    print(json.dumps({o.name: v.reshape(-1).tolist() for o, v in zip(session.get_outputs(), outputs)}))


if __name__ == "__main__":
    main()
