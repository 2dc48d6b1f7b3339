#!/usr/bin/python3
"""Writes the sample scenes under examples/ for the demo model (models/demo/):

    /usr/bin/python3 tools/make_examples.py [--out examples] [--seed 4242]

One single-object scene per class (examples/star_01.png, ...) and six two-object scenes
(examples/circle-star_01.png, ...), drawn by tools/scenes.py from a seed used nowhere else
(not hand-picked: the first scene drawn for each name). examples/scenes.json records every
object's class and box (x0, y0, x1, y1; pixels, end-exclusive). Needs only NumPy: the PNGs
are written with zlib, so the bytes are the same on every machine.
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import scenes  # noqa: E402

# two-object scenes: pairs of class names
PAIRS = [("circle", "star"), ("square", "triangle"), ("cross", "ring"), ("star", "triangle"),
         ("circle", "ring"), ("cross", "square")]


def write_png(path, img):
    """8-bit RGB PNG, zlib level 9, no filter."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "examples"))
    ap.add_argument("--seed", type=int, default=4242)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    idx = {c: i for i, c in enumerate(scenes.CLASSES)}
    jobs = [[c] for c in scenes.CLASSES] + [list(p) for p in PAIRS]
    index = {}
    for names in jobs:
        img, objs = scenes.scene(rng, len(names), classes=[idx[c] for c in names])
        name = "-".join(names) + "_01.png"
        write_png(os.path.join(args.out, name), img)
        index[name] = [{"class": scenes.CLASSES[o.cls], "box": list(o.box)} for o in objs]
        print(name, index[name])
    with open(os.path.join(args.out, "scenes.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
