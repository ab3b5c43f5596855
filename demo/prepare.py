#!/usr/bin/env python3
"""Build the bundled demo from Debian's opencv-doc clips (a hand holding up a cookie box and a
black cup, 640x480, 25 fps; Apache-2.0 AND BSD-3-Clause, see /usr/share/doc/opencv-doc/copyright).

Each clip is split in time: the reference photos an admin would take come from its first
seconds (cropped to the product), and the footage the demo plays and the tests recognize
starts after the last of them, so no tested frame was enrolled.

usage: prepare.py OPENCV_DOC_HTML_DIR DEMO_DIR
"""

import gzip
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

FPS = 25
# clip name -> (play order, first frame of the demo footage, [(reference frame, crop box)])
CLIPS = {
    "box": (1, 75, [(0, (270, 0, 620, 250)), (25, (260, 0, 620, 250)), (50, (300, 0, 620, 260))]),
    "cup": (2, 60, [(0, (290, 115, 430, 395)), (30, (300, 100, 445, 400)), (45, (215, 105, 410, 415))]),
}


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, demo = Path(sys.argv[1]), Path(sys.argv[2])
    (demo / "images").mkdir(parents=True, exist_ok=True)
    (demo / "clips").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (order, first_played, references) in CLIPS.items():
            video = Path(tmp) / f"{name}.mp4"
            with gzip.open(source / f"{name}.mp4.gz") as packed, open(video, "wb") as out:
                shutil.copyfileobj(packed, out)
            frames = Path(tmp) / name
            frames.mkdir()
            run("gst-launch-1.0", "-q", "filesrc", f"location={video}", "!", "decodebin", "!", "videoconvert", "!",
                "jpegenc", "quality=95", "!", "multifilesink", f"location={frames}/%05d.jpg")
            for number, (frame, box) in enumerate(references, start=1):
                with Image.open(frames / f"{frame:05d}.jpg") as image:
                    image.crop(box).save(demo / "images" / f"{name}-{number}.jpg", quality=92)
            run("gst-launch-1.0", "-q", "multifilesrc", f"location={frames}/%05d.jpg", f"start-index={first_played}",
                f"caps=image/jpeg,framerate={FPS}/1", "!", "jpegdec", "!", "videoconvert", "!",
                "x264enc", "speed-preset=fast", "bitrate=2000", f"key-int-max={FPS * 2}", "!", "mp4mux", "!",
                "filesink", f"location={demo / 'clips' / f'{order}-{name}.mp4'}")


if __name__ == "__main__":
    main()
