#!/usr/bin/env python3
"""The `gradcam` command on the CUDA backend of an emulated device (gradcam_emu: the whole
backend on the CPU through mocks of cudart, cuBLAS and cuDNN), against the same command on
the CPU backend.

    test_cli_emu.py GRADCAM_CPU_BINARY GRADCAM_EMU_BINARY SOURCE_DIR WORK_DIR

With the bundled demo model on examples/: `--backend cuda --device all
--workers-per-device 2` on two emulated GPUs (GC_EMU_DEVICES=2) writes the same files as the
CPU backend, the same class for every input, cams within 1e-3 and overlays/heatmaps within
one colormap step where a cam value sits on a 1/255 step (a few pixels); `--device 1` works,
`--device 2` (one past the last) and `--backend cuda` without a device exit 2 with a
message naming the cause; with no options the command takes the GPU, in bf16, 128 at a time,
and on a GPU too small for that, 64 with a note; photos too large for a whole batch on the
device go in halves, with a note and the same files, and later small images still in whole
batches; with a cuDNN too old, the CPU (batch 8)
with a note. Prints 'N passed, M failed'.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np

CPU_BIN, EMU_BIN, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:5])
EXAMPLES = os.path.join(SRC, "examples")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402


def run(binary, out, *args, devices=2):
    env = dict(os.environ, GC_EMU_DEVICES=str(devices))
    return subprocess.run([binary, "-o", os.path.join(WORK, out), "-q", "--batch", "4",
                           "--outputs", "overlay,heatmap,cam", *args, EXAMPLES],
                          env=env, capture_output=True, text=True, timeout=600)


def results(out):
    with open(os.path.join(WORK, out, "results.jsonl")) as f:
        return {json.loads(l)["input"]: json.loads(l) for l in f if l.strip()}


def files(out):
    root = os.path.join(WORK, out)
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)

cpu = run(CPU_BIN, "cpu", "--backend", "cpu")
check(cpu.returncode == 0, "CPU backend: exit 0", cpu.stderr)
# fp32 on the GPU: the CPU's numerics (the GPU's default is bf16, checked below)
gpu = run(EMU_BIN, "gpu", "--backend", "cuda", "--device", "all", "--workers-per-device", "2",
          "--precision", "fp32")
check(gpu.returncode == 0, "emulated CUDA, --device all (2 GPUs) x 2 workers: exit 0",
      gpu.stderr)

if cpu.returncode == 0 and gpu.returncode == 0:
    check(files("cpu") == files("gpu"), "the same files", (files("cpu"), files("gpu")))
    rc, rg = results("cpu"), results("gpu")
    check(sorted(rc) == sorted(rg) and len(rc) > 0, f"results.jsonl: the same {len(rc)} inputs")
    same_class = all(rc[k]["class"] == rg[k]["class"] and rg[k]["status"] == "ok" for k in rc)
    check(same_class, "the same class for every input",
          [(k, rc[k]["class"], rg[k].get("class")) for k in rc])
    worst_cam, worst_px, frac = 0.0, 0, 0.0
    for name in files("cpu"):
        a, b = os.path.join(WORK, "cpu", name), os.path.join(WORK, "gpu", name)
        if name.endswith(".npy"):
            worst_cam = max(worst_cam, float(np.abs(np.load(a) - np.load(b)).max()))
        elif name.endswith(".png"):
            ia, ib = cv2.imread(a), cv2.imread(b)
            d = np.abs(ia.astype(int) - ib.astype(int))
            worst_px = max(worst_px, int(d.max()))
            frac = max(frac, float((d > 0).mean()))
    print(f"  cams max |diff| {worst_cam:.2e}; images max |diff| {worst_px}, "
          f"worst share of differing bytes {frac:.4%}")
    check(worst_cam <= 1e-3, f"cams within 1e-3 ({worst_cam:.2e})")
    # a cam value on a 1/255 step takes the neighbouring colormap entry: JET's entries
    # differ by up to 4 per channel (2 after the 0.4 blend)
    check(worst_px <= 4 and frac <= 0.005, f"images within one colormap step (4), at <= 0.5% "
          f"of bytes ({worst_px}, {frac:.4%})")

# the defaults with a usable GPU: --backend auto takes it, in bf16, batches of 128
auto = subprocess.run([EMU_BIN, "-o", os.path.join(WORK, "auto"), "--progress", EXAMPLES],
                      capture_output=True, text=True, timeout=600,
                      env=dict(os.environ, GC_EMU_DEVICES="1"))
check(auto.returncode == 0 and "gradcam: CUDA, bf16, batch 128," in auto.stderr,
      "no options: the GPU, bf16, batch 128", (auto.returncode, auto.stderr))
if auto.returncode == 0 and cpu.returncode == 0:
    ra, rc = results("auto"), results("cpu")
    agree = sum(ra[k]["class"] == rc[k]["class"] for k in rc)
    check(agree >= len(rc) - 1, f"bf16 on the GPU: the CPU's class for {agree} of {len(rc)}")

# a GPU too small for the default batch: halved until it fits, and said so
small = subprocess.run([EMU_BIN, "-o", os.path.join(WORK, "small"), "--progress", EXAMPLES],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, GC_EMU_DEVICES="1", GC_EMU_DEVICE_MEMORY="250000000"))
check(small.returncode == 0 and "batches of 64 (128 did not fit in memory)" in small.stderr
      and "gradcam: CUDA, bf16, batch 64," in small.stderr,
      "250 MB of device memory: batch 64, with a note", (small.returncode, small.stderr[:600]))

# large photos on a GPU that holds the context but not a whole batch of them (staged, then
# rendered at full size): the batch goes again in halves, every image ends ok, with the same
# files as with room to spare, and one note says so; later batches hold at most the pixels
# that fitted, so the small images after the photos (s*.png, 224x224) still go four at a
# time; a photo too large for the device even alone (z.jpg, 4000x3000, last) fails by itself
# and lowers the limit no further
big = os.path.join(WORK, "big-in")
os.makedirs(big)
yy, xx = np.mgrid[0:1200, 0:1600]
for i in range(5):
    photo = np.stack([127 + 100 * np.sin(xx / (9.0 + c + i)) * np.cos(yy / 13.0 - c)
                      for c in range(3)], -1)
    cv2.imwrite(os.path.join(big, f"b{i}.jpg"), np.clip(photo, 0, 255).astype(np.uint8))
for i in range(8):
    cv2.imwrite(os.path.join(big, f"s{i}.png"), np.full((224, 224, 3), 40 + 20 * i, np.uint8))
cv2.imwrite(os.path.join(big, "z.jpg"), np.full((3000, 4000, 3), 90, np.uint8))
big_runs = {}
for name, mem in (("big-roomy", "400000000"), ("big-tight", "120000000")):
    big_runs[name] = subprocess.run(
        [EMU_BIN, "-o", os.path.join(WORK, name), "--batch", "4", "--backend", "cuda",
         "--threads", "1", "--stats", os.path.join(WORK, name + ".stats.json"), big],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, GC_EMU_DEVICES="1", GC_EMU_QUIET="1", GC_EMU_DEVICE_MEMORY=mem))
tight, roomy = big_runs["big-tight"], big_runs["big-roomy"]
# (the batch that failed may be 3 photos or 4, or 3 and a small image, as decoding went; the
# halves that fitted hold two photos in each case)
check(roomy.returncode == 0 and tight.returncode == 1 and
      tight.stderr.count("from now on") == 1 and
      "batches hold at most 3.8 megapixels from now on" in tight.stderr and
      re.search(r"a batch of \d images \([\d.]+ megapixels, the largest 1600x1200\)",
                tight.stderr),
      "1600x1200 photos, 120 MB of device memory: two photos a batch, with one note",
      (roomy.stderr[-400:], tight.returncode, tight.stderr[-800:]))
if tight.returncode == 1 and roomy.returncode == 0:
    rt = results("big-tight")
    photos = [f for f in files("big-tight") if f.startswith(("b", "s"))]
    same = photos == [f for f in files("big-roomy") if f.startswith(("b", "s"))] and all(
        open(os.path.join(WORK, "big-tight", f), "rb").read() ==
        open(os.path.join(WORK, "big-roomy", f), "rb").read()
        for f in photos if f.endswith(".png"))
    z = [r for k, r in rt.items() if k.endswith("z.jpg")]
    check(len(rt) == 14 and sum(r["status"] == "ok" for r in rt.values()) == 13 and same and
          len(z) == 1 and z[0]["status"] == "error" and "out of memory" in z[0]["error"],
          "... every 1600x1200 photo and small image ok, byte for byte the roomy run's; the "
          "4000x3000 one fails alone (out of memory)",
          (len(rt), [(k[-6:], r["status"]) for k, r in rt.items()], photos))
    # the calls that succeeded: b0-b1, b2-b3, then b4 with s0-s2 and s3-s6 (four each: the
    # small ones did not inherit the photos' batch size), s7 alone before z; batches of two
    # (the old rule) take 7, a slow decode can split one more
    st = json.load(open(os.path.join(WORK, "big-tight.stats.json")))
    check(st["call_images"] == 13 and st["calls"] <= 6,
          "... small images after the photos still go four at a time (at most 6 calls for 13 "
          "images)", st)

# a GPU whose cuDNN is older than the headers: --backend auto runs on the CPU, says why,
# and batches as the CPU does (8), not as for the GPU
old = subprocess.run([EMU_BIN, "-o", os.path.join(WORK, "oldcudnn"), "--progress", EXAMPLES],
                     capture_output=True, text=True, timeout=600,
                     env=dict(os.environ, GC_EMU_DEVICES="1", GC_EMU_CUDNN_VERSION="90001"))
check(old.returncode == 0 and "note: no GPU used" in old.stderr and "cuDNN" in old.stderr
      and "gradcam: CPU, fp32, batch 8," in old.stderr,
      "old cuDNN: the CPU, fp32, batch 8, with a note", (old.returncode, old.stderr[:800]))

one = run(EMU_BIN, "dev1", "--backend", "cuda", "--device", "1")
check(one.returncode == 0, "--device 1 of 2: exit 0", one.stderr)
bad = run(EMU_BIN, "dev2", "--backend", "cuda", "--device", "2")
check(bad.returncode == 2 and "2" in bad.stderr and bad.stderr.strip().count("\n") < 3,
      "--device 2 of 2: exit 2 with one message", (bad.returncode, bad.stderr))
print(f"  --device 2: {bad.stderr.strip()}")
none = run(EMU_BIN, "none", "--backend", "cuda", devices=0)
check(none.returncode == 2 and "CUDA" in none.stderr,
      "--backend cuda without a device: exit 2, naming CUDA", (none.returncode, none.stderr))
print(f"  no device: {none.stderr.strip()}")

finish()
