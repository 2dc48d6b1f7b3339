#!/usr/bin/python3
"""Writes fresh scenes for tests/demo/test_pointing.c: tools/scenes.py with a seed the demo
model never saw (training uses 2024 and 2025-2026 for validation; this uses 777).

    make_scenes.py OUT [--seed 777] [--single 400] [--double 100]

OUT is a little-endian binary file (no library header needed to read it):
    char    magic[8]        "GCSCENE1"
    int32   n, height, width, max_objects (= 2)
    n x int32[1 + 5 * max_objects]   count, then (class, x0, y0, x1, y1) per object,
                                     -1 for absent objects; boxes end-exclusive, in pixels
    n x height x width x 3 uint8     RGB scenes, packed
The first `single` scenes hold one object, the next `double` two objects of different classes.
Only NumPy is needed; exits 77 (ctest: skipped) without it.
"""
import argparse
import os
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("SKIP: numpy is not installed", file=sys.stderr)
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import scenes  # noqa: E402

MAX_OBJECTS = 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--single", type=int, default=400)
    ap.add_argument("--double", type=int, default=100)
    args = ap.parse_args()

    n = args.single + args.double
    imgs, objs = scenes.batch(args.seed, n, args.double / n if n else 0.0)
    rec = np.full((n, 1 + 5 * MAX_OBJECTS), -1, np.int32)
    for i, os_ in enumerate(objs):
        rec[i, 0] = len(os_)
        for k, o in enumerate(os_):
            rec[i, 1 + 5 * k:6 + 5 * k] = (o.cls, *o.box)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"GCSCENE1")
        f.write(struct.pack("<4i", n, imgs.shape[1], imgs.shape[2], MAX_OBJECTS))
        f.write(rec.astype("<i4").tobytes())
        f.write(imgs.tobytes())
    os.replace(tmp, args.out)
    print(f"wrote {n} scenes ({args.single} single, {args.double} two-object, seed "
          f"{args.seed}) to {args.out}")


if __name__ == "__main__":
    main()
