#!/usr/bin/env python3
"""Render packaging.png, the OCR test fixture: the front of a fictional tea box printed in
Chinese and English (brand, product name, net weight, a barcode number and a tilted sticker),
set in WenQuanYi Micro Hei (Debian's fonts-wqy-microhei) with pillow (models/requirements.txt).

usage: render_packaging.py [OUT.png]   (default: packaging.png next to this script)
"""

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
SIZE = (560, 360)
INK = (32, 64, 40)
# (text, font size, top-left corner, colour)
LINES = [
    ("山岚茶舍", 56, (40, 28), INK),
    ("SHANLAN TEA HOUSE", 26, (40, 100), INK),
    ("茉莉花茶", 40, (40, 160), (150, 40, 30)),
    ("Jasmine Green Tea", 30, (40, 212), (150, 40, 30)),
    ("净含量 250g  NET WT 8.8 OZ", 22, (40, 276), (60, 60, 60)),
    ("6901234567892", 22, (40, 316), (20, 20, 20)),
]
STICKER = ("新品 NEW", 26, (372, 150), 12)


def background():
    image = Image.new("RGB", SIZE)
    pixels = image.load()
    for y in range(SIZE[1]):
        for x in range(SIZE[0]):
            shade = int(18 * x / SIZE[0] + 10 * y / SIZE[1])
            pixels[x, y] = (246 - shade, 238 - shade, 214 - shade)
    ImageDraw.Draw(image).rectangle((0, 140, SIZE[0], 146), fill=(190, 150, 60))
    return image


def sticker(image, font):
    text, size, (left, top), degrees = STICKER
    face = ImageFont.truetype(font, size)
    width, height = face.getbbox(text)[2] + 24, size + 24
    label = Image.new("RGBA", (width, height), (200, 40, 40, 255))
    ImageDraw.Draw(label).text((12, 8), text, font=face, fill=(255, 250, 240))
    label = label.rotate(degrees, resample=Image.BICUBIC, expand=True)
    image.paste(label, (left, top), label)


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("packaging.png")
    image = background()
    draw = ImageDraw.Draw(image)
    for text, size, corner, colour in LINES:
        draw.text(corner, text, font=ImageFont.truetype(FONT, size), fill=colour)
    sticker(image, FONT)
    image.save(out, optimize=True)


if __name__ == "__main__":
    main()
