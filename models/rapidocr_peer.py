#!/usr/bin/env python3
"""Read an image with rapidocr's own pipeline, the peer Cuebox's OCR is checked against: the
same three model files (from models/), onnxruntime on one thread, and the detector's input at
most MAX_SIDE on its longer side and never enlarged, as Cuebox's reader with max_upscale 1.
The image is decoded by OpenCV (rapidocr's own loader misreads palette PNGs). Prints one JSON
object: {"lines": [{"text", "score", "box": [[x, y], ...]}], "det_ms", "cls_ms", "rec_ms"}, the
times those of a second reading (the first loads the models).

usage: rapidocr_peer.py MODELS_DIR IMAGE [MAX_SIDE]
"""

import json
import sys
from pathlib import Path

import cv2
from rapidocr import RapidOCR


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    models, image_path = Path(sys.argv[1]), sys.argv[2]
    max_side = int(sys.argv[3]) if len(sys.argv) == 4 else 640
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"{image_path}: not an image")
    engine = RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_vertical_padding": False,
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "Det.model_path": str(models / "PP-OCRv6_det_small.onnx"),
            "Det.limit_type": "max",
            "Det.limit_side_len": max_side,
            "Cls.model_path": str(models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
            "Rec.model_path": str(models / "PP-OCRv6_rec_small.onnx"),
        }
    )
    engine(image)  # loads the models
    result = engine(image)
    lines = []
    if result.txts:
        for box, text, score in zip(result.boxes, result.txts, result.scores):
            lines.append({"text": text, "score": float(score), "box": box.tolist()})
    det, cls, rec = (result.elapse_list or [0.0, 0.0, 0.0])
    print(json.dumps({"lines": lines, "det_ms": det * 1e3, "cls_ms": cls * 1e3, "rec_ms": rec * 1e3}, ensure_ascii=False))


if __name__ == "__main__":
    main()
