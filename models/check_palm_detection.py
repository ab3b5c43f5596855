#!/usr/bin/env python3
"""Check the converted palm detector against MediaPipe's original TFLite model on real images.

Runs palm_detection_lite.tflite from the mediapipe wheel in LiteRT (`ai-edge-litert`, both its
default XNNPACK CPU kernels and TFLite's reference kernels) and PALM.onnx in onnxruntime on the
same inputs: photos from Debian's opencv-doc and every 25th frame of the demo clips (decoded with
gst-launch-1.0), each letterboxed to 192x192 RGB in [0, 1] as MediaPipe does. Prints, per image,
the largest absolute difference of each output and how many anchors score above 0.5 in each
runtime, then the overall maxima; exits 1 when a difference exceeds its tolerance or the anchors
above 0.5 differ.

usage: check_palm_detection.py WHEEL PALM.onnx [DEMO_CLIPS_DIR]
"""

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from PIL import Image

TFLITE_NAME = "mediapipe/modules/palm_detection/palm_detection_lite.tflite"
INPUT_SIZE = 192
PHOTOS = Path("/usr/share/doc/opencv-doc/examples/data")
PHOTO_NAMES = ["messi5.jpg", "apple.jpg", "orange.jpg", "baboon.jpg", "box.png", "box_in_scene.png", "home.jpg"]
FRAME_STEP = 25
# Regressors are in input pixels (|values| up to ~200); logits are before the sigmoid.
TOLERANCE = {"regressors": 1e-3, "logits": 1e-3}
KERNELS = {"xnnpack": OpResolverType.AUTO, "reference": OpResolverType.BUILTIN_REF}


def letterbox(image: Image.Image) -> np.ndarray:
    """The whole image scaled to fit 192x192, centred on black: float32 NHWC in [0, 1]."""
    image = image.convert("RGB")
    side = max(image.size)
    width, height = (round(v * INPUT_SIZE / side) for v in image.size)
    canvas = Image.new("RGB", (INPUT_SIZE, INPUT_SIZE))
    canvas.paste(image.resize((width, height), Image.BILINEAR), ((INPUT_SIZE - width) // 2, (INPUT_SIZE - height) // 2))
    return (np.asarray(canvas, np.float32) / 255.0)[None]


def clip_frames(clips: Path, scratch: Path):
    for clip in sorted(clips.glob("*.mp4")):
        frames = scratch / clip.stem
        frames.mkdir()
        subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={clip}", "!", "decodebin", "!", "videoconvert",
                        "!", "jpegenc", "quality=95", "!", "multifilesink", f"location={frames}/%05d.jpg"],
                       check=True, stdout=subprocess.DEVNULL)
        yield from sorted(frames.glob("*.jpg"))[::FRAME_STEP]


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    wheel, onnx_path = sys.argv[1], sys.argv[2]
    clips = Path(sys.argv[3]) if len(sys.argv) == 4 else Path(__file__).resolve().parent.parent / "demo" / "clips"
    with zipfile.ZipFile(wheel) as archive:
        tflite = archive.read(TFLITE_NAME)
    interpreters = {}
    for kernels, resolver in KERNELS.items():
        interpreter = Interpreter(model_content=tflite, experimental_op_resolver_type=resolver, num_threads=1)
        interpreter.allocate_tensors()
        interpreters[kernels] = interpreter
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if names != list(TOLERANCE):
        raise SystemExit(f"{onnx_path}: outputs {names}, expected {list(TOLERANCE)}")
    worst = {(k, n): 0.0 for k in KERNELS for n in names}
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        images = [PHOTOS / n for n in PHOTO_NAMES] + list(clip_frames(clips, Path(scratch)))
        columns = "".join(f"{k + ' ' + n:>22}" for k in KERNELS for n in names)
        print(f"{'image':<28}{columns}  anchors>0.5 onnx/" + "/".join(KERNELS))
        for path in images:
            nhwc = letterbox(Image.open(path))
            ours = dict(zip(names, session.run(None, {"input": np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))})))
            row, above = [], [int((ours["logits"] > 0).sum())]
            for kernels, interpreter in interpreters.items():
                interpreter.set_tensor(interpreter.get_input_details()[0]["index"], nhwc)
                interpreter.invoke()
                theirs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
                for name, reference in zip(names, theirs):
                    difference = float(np.abs(ours[name] - reference).max())
                    worst[kernels, name] = max(worst[kernels, name], difference)
                    failed |= difference > TOLERANCE[name]
                    row.append(difference)
                above.append(int((theirs[1] > 0).sum()))
            failed |= len(set(above)) != 1
            label = f"{path.parent.name}/{path.name}" if path.parent != PHOTOS else path.name
            print(f"{label:<28}" + "".join(f"{d:>22.2e}" for d in row) + f"  {'/'.join(map(str, above))}")
    maxima = "".join(f"{worst[k, n]:>22.2e}" for k in KERNELS for n in names)
    print(f"{'max over ' + str(len(images)) + ' images':<28}{maxima}")
    if failed:
        raise SystemExit("the ONNX model disagrees with the TFLite original beyond tolerance")
    print("ONNX agrees with TFLite")


if __name__ == "__main__":
    main()
