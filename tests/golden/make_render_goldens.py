#!/usr/bin/env python3
"""Goldens for preprocessing resizes and cam rendering, from OpenCV (python3-opencv).

    /usr/bin/python3 tests/golden/make_render_goldens.py

Writes tests/golden/render_opencv.safetensors:
  resize{i}_src (h,w,3) u8 and resize{i}_dst: cv2.resize with INTER_AREA when both sides
      shrink, else INTER_LINEAR (the rule gc_explain's preprocessing follows);
  render{i}_img, render{i}_cam (f32), render{i}_heat, render{i}_overlay: the classic code
      cv2.resize(cam, (W, H)) -> np.uint8(255 * h) -> cv2.applyColorMap ->
      cv2.addWeighted(img, 1 - alpha, heat, alpha, 0), in RGB order.
Metadata gives each case's interpolation, colormap and alpha.
"""
import os
import sys

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pyref"))
import gcref  # noqa: E402

rng = np.random.default_rng(42)


def photo(h, w):
    """Smooth structure plus noise: resizing must get both right."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([127 + 100 * np.sin(x / 7.0 + c) * np.cos(y / 11.0 - c) for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def smooth_cam(h, w):
    c = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 1.0)
    c -= c.min()
    return (c / c.max()).astype(np.float32)


tensors, meta = {}, {}
RESIZES = [((23, 37), (112, 112)), ((375, 500), (224, 224)), ((224, 224), (224, 224)),
           ((50, 100), (48, 64)), ((40, 30), (48, 64)), ((100, 300), (128, 128)),
           ((224, 224), (112, 112)), ((1, 1), (7, 5))]
for i, ((sh, sw), (dh, dw)) in enumerate(RESIZES):
    src = photo(sh, sw)
    interp = cv2.INTER_AREA if dw <= sw and dh <= sh else cv2.INTER_LINEAR
    tensors[f"resize{i}_src"] = src
    tensors[f"resize{i}_dst"] = cv2.resize(src, (dw, dh), interpolation=interp)
    meta[f"resize{i}"] = "area" if interp == cv2.INTER_AREA else "linear"

MAPS = {"jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO, "viridis": cv2.COLORMAP_VIRIDIS,
        "inferno": cv2.COLORMAP_INFERNO, "magma": cv2.COLORMAP_MAGMA}
RENDERS = [((224, 224), (14, 14), "jet", 0.4), ((150, 200), (14, 14), "jet", 0.4),
           ((23, 37), (7, 7), "jet", 0.4), ((96, 128), (16, 18), "turbo", 0.3),
           ((100, 100), (6, 8), "viridis", 0.5), ((64, 48), (12, 16), "inferno", 0.4),
           ((133, 101), (14, 14), "magma", 0.25), ((8, 8), (14, 14), "jet", 0.4)]
for i, ((h, w), (ch, cw), cmap, alpha) in enumerate(RENDERS):
    img, cam = photo(h, w), smooth_cam(ch, cw)
    heat = cv2.resize(cam, (w, h))
    heat = cv2.applyColorMap(np.uint8(255 * heat), MAPS[cmap])[:, :, ::-1].copy()
    tensors[f"render{i}_img"] = img
    tensors[f"render{i}_cam"] = cam
    tensors[f"render{i}_heat"] = heat
    tensors[f"render{i}_overlay"] = cv2.addWeighted(img, 1 - alpha, heat, alpha, 0)
    meta[f"render{i}"] = f"{cmap},{alpha}"

meta["resizes"], meta["renders"] = len(RESIZES), len(RENDERS)
gcref.write_safetensors(os.path.join(HERE, "render_opencv.safetensors"), tensors, meta)
print(f"{len(RESIZES)} resizes, {len(RENDERS)} renders, OpenCV {cv2.__version__}")
