#!/usr/bin/env python3
"""docs/img/demo_overlays.png: the bundled demo model's heatmaps on the sample scenes, made
with the built `gradcam` command (top row: inputs; below: overlays; for a two-object scene,
one overlay per --class).

    /usr/bin/python3 tools/make_docs_figure.py build/gradcam
"""
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "gradcam")
CLASSES = ["circle", "square", "triangle", "star", "cross", "ring"]
SINGLE = ["star_01.png", "triangle_01.png", "ring_01.png"]
PAIR = "circle-star_01.png"

with tempfile.TemporaryDirectory() as tmp:
    cols = []
    out = os.path.join(tmp, "single")
    subprocess.run([BIN, "-o", out, "-q"] + [os.path.join(ROOT, "examples", n) for n in SINGLE],
                   check=True)
    res = {os.path.basename(r["input"]): r for r in map(json.loads, open(f"{out}/results.jsonl"))}
    for n in SINGLE:
        stem = n[:-4]
        cols.append((cv2.imread(os.path.join(ROOT, "examples", n)),
                     cv2.imread(f"{out}/{stem}.overlay.png"), res[n]["label"]))
    for name in ("circle", "star"):
        o = os.path.join(tmp, name)
        subprocess.run([BIN, "-o", o, "-q", "--class", str(CLASSES.index(name)),
                        os.path.join(ROOT, "examples", PAIR)], check=True)
        cols.append((cv2.imread(os.path.join(ROOT, "examples", PAIR)),
                     cv2.imread(f"{o}/{PAIR[:-4]}.overlay.png"), f"--class {name}"))

S = 192
tiles = []
for img, over, label in cols:
    a, b = cv2.resize(img, (S, S), interpolation=cv2.INTER_NEAREST), \
        cv2.resize(over, (S, S), interpolation=cv2.INTER_NEAREST)
    cap = np.full((28, S, 3), 255, np.uint8)
    cv2.putText(cap, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    tiles.append(np.vstack([a, np.full((4, S, 3), 255, np.uint8), b, cap]))
gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
row = np.hstack([t if i == 0 else np.hstack([gap, t]) for i, t in enumerate(tiles)])
os.makedirs(os.path.join(ROOT, "docs", "img"), exist_ok=True)
cv2.imwrite(os.path.join(ROOT, "docs", "img", "demo_overlays.png"), row)
print("docs/img/demo_overlays.png", row.shape)
