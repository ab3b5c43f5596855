#!/usr/bin/env python3
"""Build Cuebox's vision evaluation set from footage and photos that registries ship.

Products are enrolled from "admin photos" and tested on other frames: real footage of a hand
holding a product (Debian opencv-doc's box and cup clips: enrollment from their first two
seconds, calibration and test frames from later, disjoint stretches), a second photo of the
product where one exists (books, a biscuit box), and otherwise the product's photo cut out and
re-rendered into a studio frame: held by a real hand cut from the cup clip, with perspective,
lighting, blur, noise, JPEG and partial occlusion, on the clips' studio backgrounds (with the
product and hand removed) or on other scenes. Empty and hand-only frames use the same
backgrounds and hands. Backgrounds, hands and real frames are split between the calibration
and test splits; a clip where products change (with its ground-truth timeline) is made from
test material only. Deterministic: a fixed seed, pinned inputs (checked by sha256), pinned tools.

usage: build_vision_set.py [--out eval/vision] [--cache eval/cache]
"""

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SEED = 20251128
WIDTH, HEIGHT = 640, 480
FPS = 25
SPLITS = ("calibration", "test")

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_CLIPS = Path("/usr/share/doc/opencv-doc/opencv4/html")

# Sample images ship inside these wheels; fetched for a fixed platform so that the same file
# (same sha256) comes down on any host.
WHEELS = {
    "skimage": (
        "scikit-image==0.25.2",
        "scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641",
        "skimage/data/",
    ),
    "sklearn": (
        "scikit-learn==1.7.2",
        "scikit_learn-1.7.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "89877e19a80c7b11a2891a27c21c4894fb18e2c2e077815bcade10d34287b20d",
        "sklearn/datasets/images/",
    ),
}

# Products held up in the opencv-doc clips: enrollment crops (frame, box) from the first two
# seconds, as demo/prepare.py cuts them, then calibration and test frames from later stretches.
CLIP_PRODUCTS = {
    "cookie-box": {
        "clip": "box",
        "name": "biscuit gift box (opencv-doc box.mp4)",
        "enroll": [(0, (270, 0, 620, 250)), (25, (260, 0, 620, 250)), (50, (300, 0, 620, 260))],
        "calibration": range(75, 265, 8),
        "test": range(265, 455, 8),
    },
    "tumbler": {
        "clip": "cup",
        "name": "black tumbler (opencv-doc cup.mp4)",
        "enroll": [(0, (290, 115, 430, 395)), (30, (300, 100, 445, 400)), (45, (215, 105, 410, 415))],
        "calibration": range(60, 139, 4),
        "test": range(139, 217, 4),
    },
}

# Each clip's studio without product and hand (a plate), by the name frames give their background.
CLIP_PLATES = {"box": "box-room", "cup": "cup-wall"}


@dataclass(frozen=True)
class Shape:
    """Where a product is in a photo: a polygon, or an ellipse (cx, cy, rx, ry)."""

    polygon: tuple = ()
    ellipse: tuple = ()


# Products from photos: the enrollment photo (source, file, crop box) and the view that test
# frames are rendered from. A second photo where the registries have one; otherwise the same
# photo, so those products test robustness to how they are held and lit, not to unseen sides.
PHOTO_PRODUCTS = {
    "bastoncini-box": {
        "name": "Bastoncini biscuit box (opencv-doc box.png; second view box_in_scene.png)",
        "enroll": [("opencv", "box.png", None)],
        "view": ("opencv", "box_in_scene.png", Shape(polygon=((115, 160), (255, 185), (250, 292), (98, 270)))),
    },
    "let-us-c": {
        "name": "book 'Let Us C' (opencv-doc left.jpg; second view right.jpg)",
        "enroll": [("opencv", "left.jpg", (80, 120, 280, 390))],
        "view": ("opencv", "right.jpg", Shape(polygon=((243, 108), (350, 125), (318, 328), (216, 285)))),
    },
    "basic-electronics": {
        "name": "book 'Basic Electronics' (opencv-doc left.jpg; second view right.jpg)",
        "enroll": [("opencv", "left.jpg", (255, 100, 410, 335))],
        "view": ("opencv", "right.jpg", Shape(polygon=((355, 108), (550, 132), (498, 420), (318, 340)))),
    },
    "espresso-cup": {
        "name": "espresso cup and saucer (scikit-image coffee.png)",
        "enroll": [("skimage", "coffee.png", (50, 0, 500, 400))],
        "view": ("skimage", "coffee.png", Shape(ellipse=(270, 200, 215, 195))),
    },
    "apple": {
        "name": "red apple (opencv-doc apple.jpg)",
        "enroll": [("opencv", "apple.jpg", (20, 20, 490, 505))],
        "view": ("opencv", "apple.jpg", Shape(ellipse=(248, 282, 210, 218))),
    },
    "orange": {
        "name": "orange (opencv-doc orange.jpg)",
        "enroll": [("opencv", "orange.jpg", (25, 25, 500, 500))],
        "view": ("opencv", "orange.jpg", Shape(ellipse=(262, 265, 222, 228))),
    },
    "dahlia": {
        "name": "dahlia flower (scikit-learn flower.jpg)",
        "enroll": [("sklearn", "flower.jpg", (140, 60, 450, 370))],
        "view": ("sklearn", "flower.jpg", Shape(ellipse=(292, 215, 130, 132))),
    },
    "notebook": {
        "name": "black notebook with a green band (opencv-doc ela_original.jpg)",
        "enroll": [("opencv", "ela_original.jpg", (0, 0, 902, 640))],
        "view": ("opencv", "ela_original.jpg", Shape(polygon=((0, 0), (880, 0), (875, 590), (0, 600)))),
    },
}

# Other scenes, used as new backgrounds and as empty frames; none shows an enrolled product.
SCENES = {
    "calibration": [
        ("opencv", "home.jpg"),
        ("opencv", "leuvenA.jpg"),
        ("opencv", "basketball1.png"),
        ("opencv", "left01.jpg"),
        ("opencv", "graf1.png"),
        ("opencv", "rubberwhale1.png"),
        ("skimage", "astronaut.png"),
        ("skimage", "motorcycle_left.png"),
        ("sklearn", "china.jpg"),
    ],
    "test": [
        ("opencv", "building.jpg"),
        ("opencv", "aero3.jpg"),
        ("opencv", "messi5.jpg"),
        ("opencv", "stuff.jpg"),
        ("opencv", "starry_night.jpg"),
        ("opencv", "aloeL.jpg"),
        ("skimage", "rocket.jpg"),
        ("skimage", "chelsea.png"),
        ("skimage", "camera.png"),
    ],
}
# Frames of the cup clip whose hand (without the cup) is cut out, per split.
HAND_FRAMES = {"calibration": range(0, 108), "test": range(108, 217)}
HAND_STEP = 3

COMPOSITES_PER_PRODUCT = 24
EMPTY_STUDIO_PER_PLATE = 18
EMPTY_SCENES = 36
HAND_ONLY = 96
# Studio calibration recordings (studio/<split>/), per background and kind; their random draws come
# from a seed of their own, so the frames above stay the same files.
STUDIO_SEED = 20261216
STUDIO_KINDS = ("empty", "hand")
STUDIO_FRAMES_PER_KIND = 6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parent
    parser.add_argument("--out", type=Path, default=root / "vision")
    parser.add_argument("--cache", type=Path, default=root / "cache")
    args = parser.parse_args()
    sources = Sources(args.cache)
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        clips = {name: decode_clip(name, Path(tmp)) for name in ("box", "cup")}
        studio = {CLIP_PLATES["box"]: box_room_plate(clips["box"]), CLIP_PLATES["cup"]: cup_wall_plate(clips["cup"])}
        hands = {split: cut_hands(clips["cup"], HAND_FRAMES[split][::HAND_STEP]) for split in SPLITS}
        manifest = {
            "seed": SEED,
            "width": WIDTH,
            "height": HEIGHT,
            "products": [],
            "enrollment": [],
            "frames": [],
        }
        enroll(out, clips, sources, manifest)
        cutouts = {sku: product_cutout(sources, spec["view"]) for sku, spec in PHOTO_PRODUCTS.items()}
        split_backgrounds = {split: Backgrounds(studio, {scene[1]: sources.image(*scene) for scene in SCENES[split]})
                             for split in SPLITS}
        for split_index, split in enumerate(SPLITS):
            backgrounds = split_backgrounds[split]
            writer = FrameWriter(out, split, manifest)
            real_frames(writer, clips, split)
            for product_index, (sku, cutout) in enumerate(cutouts.items()):
                for n in range(COMPOSITES_PER_PRODUCT):
                    rng = np.random.default_rng([SEED, split_index, 1, product_index, n])
                    background, name = backgrounds.pick(rng)
                    frame = compose(rng, background, pick(rng, hands[split]), cutout, backgrounds)
                    writer.add(frame, rng, kind="product", sku=sku, origin="composite", background=name)
            for plate_index, (name, plate) in enumerate(studio.items()):
                for n in range(EMPTY_STUDIO_PER_PLATE):
                    rng = np.random.default_rng([SEED, split_index, 2, plate_index, n])
                    writer.add(reframe(rng, plate), rng, kind="empty", sku=None, origin="studio", background=name)
            for n in range(EMPTY_SCENES):
                rng = np.random.default_rng([SEED, split_index, 3, n])
                scene, name = backgrounds.scene(rng)
                writer.add(scene, rng, kind="empty", sku=None, origin="scene", background=name)
            for n in range(HAND_ONLY):
                rng = np.random.default_rng([SEED, split_index, 4, n])
                background, name = backgrounds.pick(rng)
                frame = compose(rng, background, pick(rng, hands[split]), None, backgrounds)
                writer.add(frame, rng, kind="hand", sku=None, origin="composite", background=name)
        manifest["clip"] = changing_clip(out, Path(tmp), clips, studio, cutouts, split_backgrounds["test"])
        manifest["sources"] = sources.used()
    manifest["studio_calibration"] = studio_recordings(out, manifest["frames"], split_backgrounds, hands)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    keys = [(frame["split"], frame["kind"]) for frame in manifest["frames"]]
    keys += [(recording["split"], f"studio {recording['kind']}") for recording in manifest["studio_calibration"]]
    counts = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    print(f"{out}: {len(manifest['enrollment'])} enrollment photos of {len(manifest['products'])} products; "
          + ", ".join(f"{split} {kind} {n}" for (split, kind), n in sorted(counts.items()))
          + f"; clip of {manifest['clip']['frames']} frames")


def studio_recordings(out: Path, frames: list, split_backgrounds: dict, hands: dict) -> list:
    """For each background the frames of a split show, what the studio's calibration records (the
    set empty, then the host's hand without a product) made the way the set's own empty and
    hand-only frames are, from random draws of their own, so that a studio can be calibrated
    without its test frames."""
    recordings = []
    for split_index, split in enumerate(SPLITS):
        backgrounds = split_backgrounds[split]
        (out / "studio" / split).mkdir(parents=True)
        used = dict.fromkeys(frame["background"] for frame in frames if frame["split"] == split)
        for background_index, name in enumerate(used):
            for kind_index, kind in enumerate(STUDIO_KINDS):
                for n in range(STUDIO_FRAMES_PER_KIND):
                    rng = np.random.default_rng([STUDIO_SEED, split_index, background_index, kind_index, n])
                    rgb = backgrounds.view(rng, name)
                    if kind == "hand":
                        rgb = compose(rng, rgb, pick(rng, hands[split]), None, backgrounds)
                    pixels, quality = camera(rng, rgb)
                    relative = f"studio/{split}/{Path(name).stem}-{kind}-{n + 1}.jpg"
                    Image.fromarray(pixels).save(out / relative, quality=quality)
                    recordings.append({"path": relative, "split": split, "background": name, "kind": kind})
    return recordings


class Sources:
    """The input images: opencv-doc files, and the sample images inside the pinned wheels."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.wheels = {}
        self.files = set()

    def wheel(self, source: str) -> zipfile.ZipFile:
        if source not in self.wheels:
            requirement, name, sha256, _ = WHEELS[source]
            path = self.cache / name
            if not path.exists() or sha256_of(path) != sha256:
                self.cache.mkdir(parents=True, exist_ok=True)
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                     "--only-binary=:all:", "--platform", "manylinux_2_17_x86_64", "--python-version", "3.11",
                     "-d", str(self.cache), requirement],
                    check=True,
                )
            got = sha256_of(path)
            if got != sha256:
                raise SystemExit(f"{path} has sha256 {got}, expected {sha256}")
            self.wheels[source] = zipfile.ZipFile(path)
        return self.wheels[source]

    def image(self, source: str, name: str) -> Image.Image:
        self.files.add((source, name))
        if source == "opencv":
            return Image.open(OPENCV_DATA / name).convert("RGB")
        with self.wheel(source).open(WHEELS[source][3] + name) as member:
            return Image.open(member).convert("RGB")

    def used(self):
        where = {
            "opencv": "Debian opencv-doc, /usr/share/doc/opencv-doc/examples/data",
            "skimage": f"PyPI {WHEELS['skimage'][0]}, {WHEELS['skimage'][3]}",
            "sklearn": f"PyPI {WHEELS['sklearn'][0]}, {WHEELS['sklearn'][3]}",
        }
        files = [{"source": where[source], "file": name} for source, name in sorted(self.files)]
        clips = [{"source": "Debian opencv-doc, /usr/share/doc/opencv-doc/opencv4/html", "file": f"{n}.mp4.gz"}
                 for n in ("box", "cup")]
        return clips + files


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decode_clip(name: str, tmp: Path) -> list:
    """Every frame of an opencv-doc clip, as RGB arrays, decoded by GStreamer as the daemon would."""
    video = tmp / f"{name}.mp4"
    with gzip.open(OPENCV_CLIPS / f"{name}.mp4.gz") as packed, open(video, "wb") as out:
        shutil.copyfileobj(packed, out)
    frames = tmp / name
    frames.mkdir()
    subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={video}", "!", "decodebin", "!", "videoconvert",
                    "!", "video/x-raw,format=RGB", "!", "pngenc", "compression-level=1", "!", "multifilesink",
                    f"location={frames}/%05d.png"], check=True, stdout=subprocess.DEVNULL)
    return [np.asarray(Image.open(path).convert("RGB")) for path in sorted(frames.glob("*.png"))]


def hsv(rgb: np.ndarray):
    values = np.asarray(Image.fromarray(rgb).convert("HSV")).astype(np.int32)
    return values[..., 0], values[..., 1], values[..., 2]


def skin_mask(rgb: np.ndarray) -> np.ndarray:
    hue, saturation, value = hsv(rgb)
    return (saturation > 40) & ((hue < 30) | (hue > 230)) & (value > 60)


def robust_box(mask: np.ndarray, low=1.0, high=99.0):
    ys, xs = np.nonzero(mask)
    if len(xs) < 50:
        return None
    x0, x1 = np.percentile(xs, [low, high])
    y0, y1 = np.percentile(ys, [low, high])
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


def exposure_matched_median(frames, valid) -> tuple:
    """The per-pixel median over the frames where each pixel is clear, after matching each frame's
    exposure to a first estimate (the camera's auto-exposure drifts, which would leave seams);
    also says which pixels were clear in some frame."""
    stack = np.stack(frames).astype(np.float32)
    valid = np.stack(valid)
    stack[~valid] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        first = np.nanmedian(stack, axis=0)
        for index in range(len(stack)):
            ratio = np.nanmedian(stack[index] / np.maximum(first, 1.0))
            if np.isfinite(ratio) and ratio > 0:
                stack[index] /= ratio
        plate = np.nanmedian(stack, axis=0)
    return plate, valid.any(axis=0)


def fill_holes(plate: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Fills the pixels no frame showed clear from their surroundings (pull-push: averages over
    ever coarser blocks, then back down), smoothed so that no block edges show."""
    values = np.where(covered[..., None], np.nan_to_num(plate), 0.0).astype(np.float64)
    weights = covered.astype(np.float64)
    levels = [(values, weights)]
    while min(levels[-1][1].shape) > 2:
        v, w = levels[-1]
        h, wd = (w.shape[0] + 1) // 2 * 2, (w.shape[1] + 1) // 2 * 2
        v = np.pad(v, ((0, h - v.shape[0]), (0, wd - v.shape[1]), (0, 0)))
        w = np.pad(w, ((0, h - w.shape[0]), (0, wd - w.shape[1])))
        levels.append((v.reshape(h // 2, 2, wd // 2, 2, 3).sum(axis=(1, 3)), w.reshape(h // 2, 2, wd // 2, 2).sum(axis=(1, 3))))
    v, w = levels[-1]
    estimate = v / np.maximum(w, 1e-9)[..., None]
    for v, w in reversed(levels[:-1]):
        up = np.repeat(np.repeat(estimate, 2, axis=0), 2, axis=1)[: w.shape[0], : w.shape[1]]
        estimate = np.where((w > 0)[..., None], v / np.maximum(w, 1e-9)[..., None], up)
    smooth = np.asarray(Image.fromarray(estimate.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(6)))
    return np.where(covered[..., None], np.nan_to_num(plate), smooth.astype(np.float64))


def box_room_plate(frames) -> np.ndarray:
    """The box clip's room without the box and the arm: the median of the frames where each pixel
    is clear of both, the few pixels the box always covers mirrored from their left."""
    chosen, valid = [], []
    for rgb in frames[::4]:
        hue, saturation, value = hsv(rgb)
        box = robust_box((hue >= 20) & (hue <= 50) & (saturation > 90) & (value > 90), 0.5, 99.5)
        clear = np.ones(rgb.shape[:2], bool)
        if box is not None:
            x0, y0, x1, y1 = box
            clear[max(0, y0 - 12):y1 + 25, max(0, x0 - 12):x1 + 12] = False
            # The arm reaches in from the left at the box's height; part of it is overexposed.
            clear[max(0, y0 - 50):y0 + (y1 - y0) // 2, :x0 + 10] = False
        chosen.append(rgb)
        valid.append(clear)
    plate, covered = exposure_matched_median(chosen, valid)
    return fill_holes(plate, covered).round().clip(0, 255).astype(np.uint8)


def cup_box(rgb: np.ndarray):
    _, _, value = hsv(rgb)
    return robust_box(value < 80)


def cup_wall_plate(frames) -> np.ndarray:
    """The cup clip's wall without the hand and the cup."""
    chosen, valid = [], []
    for rgb in frames[::3]:
        clear = ~dilate(skin_mask(rgb), 15)
        box = cup_box(rgb)
        if box is not None:
            x0, y0, x1, y1 = box
            clear[max(0, y0 - 20):y1 + 20, max(0, x0 - 20):x1 + 20] = False
        chosen.append(rgb)
        valid.append(clear)
    plate, covered = exposure_matched_median(chosen, valid)
    wall = smooth_surface(plate, covered)
    # Shadows of the arm and pixels never seen clear become the wall's smooth shading.
    keep = covered & (np.abs(np.nan_to_num(plate) - wall).max(axis=2) < 12)
    keep = erode(keep, 5)
    return np.where(keep[..., None], np.nan_to_num(plate), wall).round().clip(0, 255).astype(np.uint8)


def smooth_surface(plate: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """A quadratic surface per channel fitted to the clear pixels, refitted without outliers."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    u, v = xs.ravel() / WIDTH - 0.5, ys.ravel() / HEIGHT - 0.5
    basis = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    out = np.zeros((HEIGHT * WIDTH, 3))
    for channel in range(3):
        values = np.nan_to_num(plate[..., channel]).ravel()
        use = covered.ravel().copy()
        for _ in range(3):
            coefficients, *_ = np.linalg.lstsq(basis[use], values[use], rcond=None)
            fitted = basis @ coefficients
            use = covered.ravel() & (np.abs(values - fitted) < 8)
        out[:, channel] = fitted
    return out.reshape(HEIGHT, WIDTH, 3)


def dilate(mask: np.ndarray, size: int) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.filter(ImageFilter.MaxFilter(size | 1))) > 127


def erode(mask: np.ndarray, size: int) -> np.ndarray:
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.filter(ImageFilter.MinFilter(size | 1))) > 127


@dataclass
class Hand:
    """A real hand and arm cut from a cup clip frame (RGB, alpha), and where it held the cup."""

    rgb: np.ndarray
    alpha: np.ndarray
    held: tuple
    frame: int


def cut_hand(rgb: np.ndarray, number: int):
    box = cup_box(rgb)
    if box is None:
        return None
    skin = skin_mask(rgb)
    skin[:, : max(0, box[0] - 10)] = False
    skin = erode(dilate(skin, 7), 7)
    skin = dilate(erode(skin, 3), 3)
    if skin.sum() < 8000 or skin[:, -4:].sum() < 20:
        return None
    alpha = np.asarray(Image.fromarray(skin.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(1.2)))
    return Hand(rgb=rgb, alpha=alpha.astype(np.float32) / 255.0, held=box, frame=number)


def cut_hands(frames, numbers):
    hands = [cut_hand(frames[n], n) for n in numbers if n < len(frames)]
    return [hand for hand in hands if hand is not None]


def pick(rng, items):
    return items[int(rng.integers(len(items)))]


class Backgrounds:
    """The studio plates and the other scenes of a split, each by its name (a frame's `background`)."""

    def __init__(self, studio: dict, scenes: dict):
        self.studio = studio
        self.scenes = scenes

    def pick(self, rng) -> tuple:
        """A view of a plate or a scene, and its name."""
        if rng.random() < 0.5:
            name, plate = pick(rng, list(self.studio.items()))
            return reframe(rng, plate), name
        return self.scene(rng)

    def scene(self, rng) -> tuple:
        name, image = pick(rng, list(self.scenes.items()))
        return cover(rng, image), name

    def view(self, rng, name: str) -> np.ndarray:
        """Another view of the named background, seen the way frames see it."""
        if name in self.studio:
            return reframe(rng, self.studio[name])
        return cover(rng, self.scenes[name])


def cover(rng, image: Image.Image) -> np.ndarray:
    """A random view of `image` filling the frame (scaled to cover, zoomed up to 1.4x)."""
    zoom = rng.uniform(1.0, 1.4)
    scale = max(WIDTH / image.width, HEIGHT / image.height) * zoom
    width, height = max(WIDTH, round(image.width * scale)), max(HEIGHT, round(image.height * scale))
    resized = image.resize((width, height), Image.BILINEAR)
    x = int(rng.integers(width - WIDTH + 1))
    y = int(rng.integers(height - HEIGHT + 1))
    return np.asarray(resized.crop((x, y, x + WIDTH, y + HEIGHT)))


def reframe(rng, plate: np.ndarray) -> np.ndarray:
    """The studio seen again: zoomed a little, shifted, maybe mirrored, relit."""
    image = Image.fromarray(plate)
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return relight(rng, cover(rng, image).astype(np.float32), strength=0.6)


def relight(rng, rgb: np.ndarray, strength=1.0) -> np.ndarray:
    """Exposure, contrast, white balance and gamma changes; float in, float out (0..255)."""
    gain = rng.uniform(1 - 0.35 * strength, 1 + 0.25 * strength)
    contrast = rng.uniform(1 - 0.3 * strength, 1 + 0.2 * strength)
    balance = rng.uniform(1 - 0.1 * strength, 1 + 0.1 * strength, size=3)
    gamma = rng.uniform(1 - 0.2 * strength, 1 + 0.25 * strength)
    mean = rgb.mean()
    out = ((rgb - mean) * contrast + mean) * gain * balance
    out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** gamma
    return out


def product_cutout(sources: Sources, view) -> tuple:
    """The product cut out of its photo: RGB and a soft alpha, cropped to the product."""
    source, name, shape = view
    image = sources.image(source, name)
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    if shape.polygon:
        draw.polygon(shape.polygon, fill=255)
    else:
        cx, cy, rx, ry = shape.ellipse
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    box = mask.getbbox()
    mask = mask.filter(ImageFilter.GaussianBlur(1.5))
    rgb = np.asarray(image.crop(box)).astype(np.float32)
    alpha = np.asarray(mask.crop(box)).astype(np.float32) / 255.0
    return rgb, alpha


def perspective_coefficients(destination, source):
    """PIL's PERSPECTIVE coefficients that map each destination corner to its source corner."""
    rows, values = [], []
    for (x, y), (u, v) in zip(destination, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values.extend([u, v])
    return np.linalg.solve(np.array(rows, dtype=np.float64), np.array(values, dtype=np.float64))


def warp(rgb: np.ndarray, alpha: np.ndarray, corners) -> tuple:
    """`rgb`/`alpha` warped so that its corners land on `corners` of a frame."""
    height, width = alpha.shape
    source = [(0, 0), (width, 0), (width, height), (0, height)]
    coefficients = perspective_coefficients(corners, source)
    premultiplied = np.dstack([rgb * alpha[..., None], alpha * 255.0]).round().clip(0, 255).astype(np.uint8)
    warped = Image.fromarray(premultiplied, "RGBA").transform(
        (WIDTH, HEIGHT), Image.PERSPECTIVE, tuple(coefficients), Image.BILINEAR
    )
    values = np.asarray(warped).astype(np.float32)
    out_alpha = values[..., 3] / 255.0
    return values[..., :3], out_alpha


def held_centre(held, arm_side: int, half_w: float, reach: float) -> tuple:
    """Where a product held by its edge is centred: its edge in the fingers (where the hand held
    the cup), the rest away from the arm (`arm_side` +1 when the arm comes from the right)."""
    x0, y0, x1, y1 = held
    near_edge = x1 if arm_side > 0 else x0
    return near_edge - arm_side * half_w * reach, (y0 + y1) / 2


def place(rng, cutout_shape, held, arm_side: int) -> list:
    """Corners for the product in the frame: held by its edge where the hand held the cup, sized
    like a held product, turned and tilted."""
    height, width = cutout_shape
    x0, y0, x1, y1 = held
    held_area = max(1, (x1 - x0) * (y1 - y0))
    area = held_area * rng.uniform(1.5, 4.0)
    scale = np.sqrt(area / (width * height))
    half_w, half_h = width * scale / 2, height * scale / 2
    cx, cy = held_centre(held, arm_side, half_w, rng.uniform(0.6, 0.95))
    cy += rng.normal(0, 0.12) * (y1 - y0)
    angle = np.deg2rad(rng.uniform(-25, 25))
    tilt = rng.uniform(-0.18, 0.18, size=2)
    corners = []
    for sx, sy in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
        # Foreshortening: one side of the product nearer the camera than the other.
        factor = 1 + tilt[0] * sx + tilt[1] * sy
        px, py = sx * half_w * factor, sy * half_h * factor
        px += rng.normal(0, 0.04) * half_w
        py += rng.normal(0, 0.04) * half_h
        corners.append((cx + px * np.cos(angle) - py * np.sin(angle), cy + px * np.sin(angle) + py * np.cos(angle)))
    return corners


def shade(rng, rgb: np.ndarray) -> np.ndarray:
    """Light falling across the product: a linear gradient of exposure."""
    height, width = rgb.shape[:2]
    direction = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = ((xs / width - 0.5) * np.cos(direction) + (ys / height - 0.5) * np.sin(direction))
    return rgb * (1 + rng.uniform(0.0, 0.5) * ramp)[..., None]


def mirror_hand(hand: Hand, flip: bool, shift: int) -> tuple:
    """The hand's layers and held box, mirrored and moved up or down."""
    rgb, alpha = hand.rgb.astype(np.float32), hand.alpha
    x0, y0, x1, y1 = hand.held
    if flip:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
        x0, x1 = WIDTH - x1, WIDTH - x0
    rgb, alpha = np.roll(rgb, shift, axis=0), np.roll(alpha, shift, axis=0)
    if shift > 0:
        alpha[:shift] = 0
    elif shift < 0:
        alpha[shift:] = 0
    return rgb, alpha, (x0, y0 + shift, x1, y1 + shift)


def compose(rng, background: np.ndarray, hand, cutout, backgrounds: Backgrounds, motion=None) -> np.ndarray:
    """A frame: background, then the product (if any) where the hand holds it, then the hand."""
    canvas = background.astype(np.float32)
    flip = bool(rng.random() < 0.5) if motion is None else motion["flip"]
    shift = int(rng.integers(-70, 71)) if motion is None else motion["shift"]
    hand_rgb, hand_alpha, held = mirror_hand(hand, flip, shift)
    if cutout is not None:
        rgb, alpha = cutout
        if motion is None:
            corners = place(rng, alpha.shape, held, -1 if flip else 1)
            rgb = shade(rng, relight(rng, rgb))
        else:
            corners = motion["place"](held, -1 if flip else 1)
            rgb = motion["product_rgb"]
        product, product_alpha = warp(np.clip(rgb, 0, 255), alpha, corners)
        canvas = canvas * (1 - product_alpha[..., None]) + product
        if motion is None and rng.random() < 0.3:
            canvas = occlude(rng, canvas, product_alpha, backgrounds)
    hand_rgb = relight(rng, hand_rgb, strength=0.4) if motion is None else hand_rgb * motion["hand_gain"]
    canvas = canvas * (1 - hand_alpha[..., None]) + hand_rgb * hand_alpha[..., None]
    return canvas


def occlude(rng, canvas: np.ndarray, product_alpha: np.ndarray, backgrounds: Backgrounds) -> np.ndarray:
    """Something else in front of a side of the product: a patch of another scene."""
    box = robust_box(product_alpha > 0.5, 0, 100)
    if box is None:
        return canvas
    x0, y0, x1, y1 = box
    fraction = rng.uniform(0.15, 0.35)
    side = int(rng.integers(4))
    if side == 0:
        x1 = x0 + int((x1 - x0) * fraction)
    elif side == 1:
        x0 = x1 - int((x1 - x0) * fraction)
    elif side == 2:
        y1 = y0 + int((y1 - y0) * fraction)
    else:
        y0 = y1 - int((y1 - y0) * fraction)
    patch, _ = backgrounds.scene(rng)
    canvas = canvas.copy()
    canvas[y0:y1, x0:x1] = patch[y0:y1, x0:x1]
    return canvas


def motion_blur(rgb: np.ndarray, length: int, direction: int) -> np.ndarray:
    axis_shifts = {0: (0, 1), 1: (1, 0), 2: (1, 1), 3: (1, -1)}[direction]
    out = np.zeros_like(rgb)
    for k in range(length):
        offset = k - length // 2
        out += np.roll(rgb, (offset * axis_shifts[0], offset * axis_shifts[1]), axis=(0, 1))
    return out / length


def camera(rng, rgb: np.ndarray) -> tuple:
    """What the camera adds: defocus or motion blur, sensor noise; returns the 8-bit frame and
    the JPEG quality to store it with."""
    if rng.random() < 0.35:
        image = Image.fromarray(np.clip(rgb, 0, 255).round().astype(np.uint8))
        rgb = np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 2.0)))).astype(np.float32)
    if rng.random() < 0.25:
        rgb = motion_blur(rgb, int(rng.integers(4, 13)), int(rng.integers(4)))
    rgb = rgb + rng.normal(0, rng.uniform(0, 5), size=rgb.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8), int(rng.integers(70, 96))


class FrameWriter:
    def __init__(self, out: Path, split: str, manifest: dict):
        self.out = out
        self.split = split
        self.manifest = manifest
        self.count = 0
        (out / "frames" / split).mkdir(parents=True, exist_ok=True)

    def add(self, rgb, rng, kind: str, sku, origin: str, background: str, camera_effects=True):
        relative = f"frames/{self.split}/{self.count:04d}-{kind}-{sku or 'none'}.jpg"
        if camera_effects:
            pixels, quality = camera(rng, rgb)
        else:
            pixels, quality = rgb, 95
        Image.fromarray(pixels).save(self.out / relative, quality=quality)
        self.manifest["frames"].append(
            {"path": relative, "split": self.split, "kind": kind, "sku": sku, "origin": origin,
             "background": background}
        )
        self.count += 1


def enroll(out: Path, clips, sources: Sources, manifest: dict):
    for sku, spec in CLIP_PRODUCTS.items():
        manifest["products"].append({"sku": sku, "name": spec["name"], "test_view": "later footage of the clip"})
        for number, (frame, box) in enumerate(spec["enroll"], start=1):
            relative = f"enroll/{sku}/{number}.jpg"
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(clips[spec["clip"]][frame]).crop(box).save(out / relative, quality=92)
            manifest["enrollment"].append({"sku": sku, "path": relative, "origin": f"{spec['clip']} clip frame {frame}"})
    for sku, spec in PHOTO_PRODUCTS.items():
        view = spec["view"]
        second = all(view[1] != name for _, name, _ in spec["enroll"])
        manifest["products"].append({
            "sku": sku,
            "name": spec["name"],
            "test_view": "a second photo, re-rendered" if second else "the enrolled photo, re-rendered",
        })
        for number, (source, name, box) in enumerate(spec["enroll"], start=1):
            image = sources.image(source, name)
            relative = f"enroll/{sku}/{number}.jpg"
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            (image.crop(box) if box else image).save(out / relative, quality=92)
            manifest["enrollment"].append({"sku": sku, "path": relative, "origin": name})


def real_frames(writer: FrameWriter, clips, split: str):
    for sku, spec in CLIP_PRODUCTS.items():
        for frame in spec[split]:
            writer.add(clips[spec["clip"]][frame], None, kind="product", sku=sku,
                       origin=f"{spec['clip']} clip frame {frame}", background=CLIP_PLATES[spec["clip"]],
                       camera_effects=False)


def changing_clip(out: Path, tmp: Path, clips, studio, cutouts, backgrounds) -> dict:
    """A clip of test material only where what is held changes at hard cuts, with its timeline."""
    frames_dir = tmp / "changing"
    frames_dir.mkdir()
    timeline = []
    count = 0

    def emit(rgb):
        nonlocal count
        Image.fromarray(rgb).save(frames_dir / f"{count:05d}.jpg", quality=92)
        count += 1

    def segment(sku, kind, frames):
        start = count
        for rgb in frames:
            emit(rgb)
        timeline.append({"first_frame": start, "frames": count - start, "sku": sku, "kind": kind})

    rng = np.random.default_rng([SEED, 9])
    noise = lambda rgb: np.clip(rgb + rng.normal(0, 2.0, size=rgb.shape), 0, 255).round().astype(np.uint8)
    box_frames = CLIP_PRODUCTS["cookie-box"]["test"]
    cup_test = CLIP_PRODUCTS["tumbler"]["test"]
    empty_room = studio["box-room"].astype(np.float32)
    empty_wall = studio["cup-wall"].astype(np.float32)
    box_clip, cup_frames = clips["box"], clips["cup"]

    def held_sequence(sku, background, first_hand_frame, seconds, with_product=True):
        segment_rng = np.random.default_rng([SEED, 10, first_hand_frame, len(timeline)])
        cutout = cutouts[sku] if with_product else None
        motion = {"flip": bool(segment_rng.random() < 0.5), "shift": int(segment_rng.integers(-40, 41)),
                  "hand_gain": segment_rng.uniform(0.85, 1.1)}
        hands = cut_hands(cup_frames, range(first_hand_frame, first_hand_frame + seconds * FPS))
        if cutout is not None:
            rgb, alpha = cutout
            motion["product_rgb"] = shade(segment_rng, relight(segment_rng, rgb, strength=0.6))
            x0, y0, x1, y1 = hands[0].held
            area = (x1 - x0) * (y1 - y0) * segment_rng.uniform(1.5, 3.0)
            angle = segment_rng.uniform(-15, 15)
            reach = segment_rng.uniform(0.6, 0.9)
            motion["place"] = lambda held, arm_side: steady_place(alpha.shape, held, arm_side, area, angle, reach)
        frames = []
        for hand in hands:
            frames.append(noise(compose(segment_rng, background, hand, cutout, backgrounds, motion=motion)))
        return frames

    segment(None, "empty", [noise(empty_room) for _ in range(2 * FPS)])
    segment("cookie-box", "product", box_clip[box_frames.start:box_frames.start + 4 * FPS])
    segment("tumbler", "product", cup_frames[cup_test.start:cup_test.start + 3 * FPS])
    segment("let-us-c", "product", held_sequence("let-us-c", empty_wall, 108, 3))
    segment("orange", "product", held_sequence("orange", backgrounds.scene(rng)[0].astype(np.float32), 141, 3))
    segment(None, "hand", held_sequence("orange", empty_wall, 120, 2, with_product=False))
    segment("basic-electronics", "product", held_sequence("basic-electronics", empty_room, 125, 3))
    segment("espresso-cup", "product", held_sequence("espresso-cup", empty_wall, 135, 3))
    segment("cookie-box", "product", box_clip[box_frames.start + 4 * FPS:box_frames.start + 7 * FPS])
    segment(None, "empty", [noise(empty_wall) for _ in range(2 * FPS)])

    relative = "clip/changing.mp4"
    (out / "clip").mkdir(parents=True, exist_ok=True)
    subprocess.run(["gst-launch-1.0", "-q", "multifilesrc", f"location={frames_dir}/%05d.jpg",
                    f"caps=image/jpeg,framerate={FPS}/1", "!", "jpegdec", "!", "videoconvert", "!",
                    "x264enc", "speed-preset=fast", "bitrate=2000", f"key-int-max={FPS * 2}", "threads=1", "!",
                    "mp4mux", "!", "filesink", f"location={out / relative}"], check=True, stdout=subprocess.DEVNULL)
    return {"path": relative, "fps": FPS, "frames": count, "timeline": timeline}


def steady_place(cutout_shape, held, arm_side, area, angle_degrees, reach) -> list:
    """Corners of a product held steadily in the hand: it follows where the hand holds."""
    height, width = cutout_shape
    scale = np.sqrt(area / (width * height))
    half_w, half_h = width * scale / 2, height * scale / 2
    cx, cy = held_centre(held, arm_side, half_w, reach)
    angle = np.deg2rad(angle_degrees)
    return [(cx + sx * half_w * np.cos(angle) - sy * half_h * np.sin(angle),
             cy + sx * half_w * np.sin(angle) + sy * half_h * np.cos(angle))
            for sx, sy in [(-1, -1), (1, -1), (1, 1), (-1, 1)]]


if __name__ == "__main__":
    main()
