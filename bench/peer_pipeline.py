#!/usr/bin/env python3
"""The pipeline a studio engineer would write instead of Cuebox, measured by `cuebox bench --peer`:
OpenCV reads the clips, onnxruntime embeds every whole frame with the same model, cosine nearest
neighbour over the enrolled photos names the product, paho-mqtt publishes the decision of every
frame. As fast as it goes, on one thread.

usage: peer_pipeline.py MODEL.onnx PHOTOS_DIR MQTT_PORT TOPIC SECONDS CLIP...

PHOTOS_DIR holds the enrollment photos, named `<label>-<n>.jpg` (the label is the product).
Prints one JSON line: frames, wall and CPU seconds, recognitions per second and per CPU-second,
per-frame milliseconds (p50, p99) and resident memory.
"""

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import paho.mqtt.client as mqtt

from peer_onnxruntime import rss_mb

SIZE = 224
MIN_SCORE = 0.5


def tensor(bgr):
    rgb = cv2.cvtColor(cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    return ((rgb.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]


def embed(session, name, bgr):
    vector = session.run([session.get_outputs()[0].name], {name: tensor(bgr)})[0].reshape(-1)
    return vector / np.linalg.norm(vector)


def main():
    if len(sys.argv) < 7:
        raise SystemExit(__doc__)
    model, photos, port, topic, seconds = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    clips = sys.argv[6:]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    labels, references = [], []
    for photo in sorted(photos.glob("*.jpg")):
        labels.append(photo.stem.rsplit("-", 1)[0])
        references.append(embed(session, name, cv2.imread(str(photo))))
    references = np.stack(references)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cuebox-bench-peer")
    client.connect("127.0.0.1", port)
    client.loop_start()

    times, frames, clip = [], 0, 0
    capture = cv2.VideoCapture(clips[0])
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        begun = time.perf_counter()
        ok, frame = capture.read()
        if not ok:
            clip = (clip + 1) % len(clips)
            capture.release()
            capture = cv2.VideoCapture(clips[clip])
            continue
        scores = references @ embed(session, name, frame)
        best = int(np.argmax(scores))
        sku = labels[best] if scores[best] >= MIN_SCORE else None
        client.publish(topic, json.dumps({"sku": sku, "score": float(scores[best])}), qos=0)
        times.append((time.perf_counter() - begun) * 1e3)
        frames += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    client.loop_stop()
    client.disconnect()
    times.sort()
    print(json.dumps({
        "frames": frames,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "recognitions_per_s": round(frames / wall, 2),
        "recognitions_per_cpu_s": round(frames / cpu, 2),
        "frame_ms": {"p50": round(times[len(times) // 2], 2), "p99": round(times[int(len(times) * 0.99)], 2)},
        "rss_mb": round(rss_mb(), 1),
        "versions": {"opencv": cv2.__version__, "onnxruntime": ort.__version__},
    }), flush=True)


if __name__ == "__main__":
    main()
