#!/usr/bin/env python3
"""The OpenCV peer of the local-features bench (service/vision/benches/vision.rs): the same work on
the same images with the same settings, timed on one thread.

usage: peer_orb.py FRAME REFERENCE X Y WIDTH HEIGHT RUNS

FRAME is the live frame; REFERENCE the enrollment photo, cropped to X Y WIDTH HEIGHT (the product's
bounds) and shrunk (area-averaged) so that its longer side is 320 pixels. Three steps are timed,
each RUNS times: detecting the frame (grey conversion and ORB with 1000 features, scale 1.2,
8 levels, FAST threshold 10), detecting the reference (crop, grey, shrink, ORB), and verifying the
reference against the frame (brute-force Hamming 2-NN, the 0.8 ratio test, findHomography with
RANSAC at 5 pixels). Prints one JSON line: the median milliseconds of each step, the keypoint
counts and the inliers found.
"""

import json
import statistics
import sys
import time

import cv2
import numpy as np


def orb():
    return cv2.ORB_create(nfeatures=1000, scaleFactor=1.2, nlevels=8, fastThreshold=10)


def detect_frame(frame):
    return orb().detectAndCompute(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), None)


def detect_reference(photo, crop):
    x, y, width, height = crop
    grey = cv2.cvtColor(photo[y : y + height, x : x + width], cv2.COLOR_BGR2GRAY)
    scale = 320 / max(width, height)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return orb().detectAndCompute(grey, None)


def verify(reference, frame):
    (reference_points, reference_descriptors), (frame_points, frame_descriptors) = reference, frame
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(reference_descriptors, frame_descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < 4:
        return 0
    src = np.float32([reference_points[m.queryIdx].pt for m in good])
    dst = np.float32([frame_points[m.trainIdx].pt for m in good])
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
    return 0 if homography is None else int(mask.sum())


def median_ms(step, runs):
    times = []
    for _ in range(runs):
        begun = time.perf_counter()
        step()
        times.append((time.perf_counter() - begun) * 1e3)
    return statistics.median(times)


def main():
    if len(sys.argv) != 8:
        raise SystemExit(__doc__)
    cv2.setNumThreads(1)
    frame, photo = cv2.imread(sys.argv[1]), cv2.imread(sys.argv[2])
    crop = tuple(int(v) for v in sys.argv[3:7])
    runs = int(sys.argv[7])
    frame_features, reference_features = detect_frame(frame), detect_reference(photo, crop)
    result = {
        "opencv": cv2.__version__,
        "detect_frame_ms": median_ms(lambda: detect_frame(frame), runs),
        "detect_reference_ms": median_ms(lambda: detect_reference(photo, crop), runs),
        "verify_ms": median_ms(lambda: verify(reference_features, frame_features), runs),
        "frame_keypoints": len(frame_features[0]),
        "reference_keypoints": len(reference_features[0]),
        "inliers": verify(reference_features, frame_features),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
