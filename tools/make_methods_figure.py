#!/usr/bin/env python3
"""docs/img/methods.jpg: every explanation method of the `gradcam` command side by side on the
bundled demo model's sample scenes. One row per scene (a two-object scene appears once per
--class); columns: the input, the overlays of Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM and
HiResCAM, then the guided-backprop and Guided Grad-CAM saliency images (`.guided.png`).

    /usr/bin/python3 tools/make_methods_figure.py build/gradcam
"""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "gradcam")
CLASSES = ["circle", "square", "triangle", "star", "cross", "ring"]
# (scene, --class or None for the top-1, row label)
ROWS = [("star_01.png", None, "star"), ("cross_01.png", None, "cross"),
        ("circle-star_01.png", "circle", "pair, --class circle"),
        ("circle-star_01.png", "star", "pair, --class star")]
CAMS = ["gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"]
GUIDED = ["guided-backprop", "guided-gradcam"]
S = 160  # tile size


def run(tmp, scene, cls, method):
    out = os.path.join(tmp, f"{scene}-{cls}-{method}")
    cmd = [BIN, "-o", out, "-q", "--method", method, os.path.join(ROOT, "examples", scene)]
    if cls:
        cmd[1:1] = ["--class", str(CLASSES.index(cls))]
    subprocess.run(cmd, check=True)
    return os.path.join(out, scene[:-4])


def tile(img, label=None):
    t = cv2.resize(img, (S, S), interpolation=cv2.INTER_NEAREST)
    if label is None:
        return t
    cap = np.full((24, S, 3), 255, np.uint8)
    cv2.putText(cap, label, (4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([cap, t])


def main():
    header = ["input"] + CAMS + GUIDED
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scene, cls, label in ROWS:
            cells = [cv2.imread(os.path.join(ROOT, "examples", scene))]
            for m in CAMS:
                cells.append(cv2.imread(run(tmp, scene, cls, m) + ".overlay.png"))
            for m in GUIDED:
                cells.append(cv2.imread(run(tmp, scene, cls, m) + ".guided.png"))
            row = [tile(c) for c in cells]
            side = np.full((S, 150, 3), 255, np.uint8)
            cv2.putText(side, label, (4, S // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                        cv2.LINE_AA)
            rows.append(np.hstack([side] + [np.hstack([np.full((S, 4, 3), 255, np.uint8), c])
                                            for c in row]))
    top = np.hstack([np.full((24, 150, 3), 255, np.uint8)] +
                    [np.hstack([np.full((24, 4, 3), 255, np.uint8),
                                tile(np.zeros((S, S, 3), np.uint8), h)[:24]]) for h in header])
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    fig = np.vstack([top] + [np.vstack([gap, r]) for r in rows])
    path = os.path.join(ROOT, "docs", "img", "methods.jpg")
    cv2.imwrite(path, fig, [cv2.IMWRITE_JPEG_QUALITY, 92])
    print(path, fig.shape)


if __name__ == "__main__":
    main()
