#!/usr/bin/env python3
"""The `gradcam` command end to end, as a user runs it.

    test_cli.py GRADCAM_BINARY SOURCE_DIR WORK_DIR [--many N]

Checks: --help/--version; usage and set-up errors exit 2; a folder with good and bad inputs
(zero bytes, text named .jpg, truncated PNG/JPEG, a broken symlink) gives one results.jsonl
line per input, errors naming the file, mirrored output paths, exit 1; the cams and overlays
against PyTorch's Grad-CAM and OpenCV's rendering of the same images (float64 reference);
--resume, --overwrite, '-' (paths on stdin), --format jpg, --outputs cam (.npy); N small
files (default 10,000) with bounded memory. Prints 'N passed, M failed'.
"""
import glob
import json
import os
import resource
import shutil
import subprocess
import sys

try:
    import cv2
    import numpy as np
except ImportError:
    print("python3-opencv / python3-numpy not installed: skipping")
    sys.exit(77)

BIN, SRC, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
MANY = int(sys.argv[sys.argv.index("--many") + 1]) if "--many" in sys.argv else 10000
# a sanitizer's shadow memory (ASan, TSan) makes peak-RSS bounds meaningless: skip those two
SANITIZED = os.environ.get("GC_TEST_SANITIZER", "")
WEIGHTS = os.path.join(SRC, "tests/golden/tv_vgg16_small.safetensors")
SMALL = os.path.join(SRC, "tests/golden/custom_small.safetensors")
sys.path.insert(0, os.path.join(SRC, "tests/pyref"))
sys.path.insert(0, os.path.join(SRC, "tests"))
from checks import check, finish  # noqa: E402


def check_memory(ok, what, detail=""):
    if SANITIZED:
        print(f"SKIP  {what} (under {SANITIZED}: peak RSS is the sanitizer's)")
    else:
        check(ok, what, detail)


def run(*args, stdin=None, cwd=None, timeout=None):
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True,
                          errors="surrogateescape", cwd=cwd, timeout=timeout)


def lines(out):
    with open(os.path.join(out, "results.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]


def photo(h, w, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([127 + 100 * np.sin(x / (5.0 + c) + seed) * np.cos(y / 9.0 - c)
                     for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 15, (h, w, 3)), 0, 255).astype(np.uint8)  # BGR


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
data = os.path.join(WORK, "in")
os.makedirs(os.path.join(data, "sub", "deeper"))
good = {"a.png": (224, 224), "sub/b.jpg": (375, 500), "sub/deeper/c.PNG": (180, 120),
        "d.jpeg": (96, 300), "sub/e.webp": (150, 200)}
for i, (name, (h, w)) in enumerate(good.items()):
    params = ([cv2.IMWRITE_JPEG_QUALITY, 95] if name.lower().endswith(("jpg", "jpeg")) else
              [cv2.IMWRITE_WEBP_QUALITY, 90] if name.endswith(".webp") else [])
    ok = cv2.imwrite(os.path.join(data, name), photo(h, w, i), params)
    assert ok, name
bad = ["zero.png", "text.jpg", "trunc.png", "trunc.jpg", "broken_link.png"]
open(os.path.join(data, "zero.png"), "wb").close()
open(os.path.join(data, "text.jpg"), "w").write("this is not an image\n")
for name, src in (("trunc.png", "a.png"), ("trunc.jpg", "sub/b.jpg")):
    blob = open(os.path.join(data, src), "rb").read()
    open(os.path.join(data, name), "wb").write(blob[: len(blob) // 2])
os.symlink(os.path.join(data, "nowhere.png"), os.path.join(data, "broken_link.png"))
open(os.path.join(data, "notes.txt"), "w").write("not an input: wrong extension\n")

# ---------------------------------------------------------------- help, version, usage
r = run("--help")
check(r.returncode == 0 and "usage: gradcam" in r.stdout and "--resume" in r.stdout, "--help")
r = run("--version")
check(r.returncode == 0 and r.stdout.startswith("gradcam "), "--version", r.stdout)
for args, what in ((["--bogus", data], "unknown flag"), (["--alpha", "2", data], "--alpha 2"),
                   (["-w", WEIGHTS], "no INPUT"),
                   (["-w", os.path.join(WORK, "missing.safetensors"), "-o",
                     os.path.join(WORK, "o1"), data], "missing weights"),
                   (["-w", WEIGHTS, "--class", "10", "-o", os.path.join(WORK, "o2"), data],
                    "--class out of range"),
                   (["-w", WEIGHTS, "--layer", "block9_conv9", "-o", os.path.join(WORK, "o3"),
                     data], "unknown layer")):
    r = run(*args)
    check(r.returncode == 2 and r.stderr.startswith("gradcam:"), f"exit 2 on {what}",
          (r.returncode, r.stderr))
r = run("-w", os.path.join(WORK, "missing.safetensors"), "-o", os.path.join(WORK, "o1"), data)
check("missing.safetensors" in r.stderr, "missing weights: message names the file", r.stderr)

# ---------------------------------------------------------------- --device
for bad_dev in ("x", "0,,1", "1,1", "-1", "0,", ",0", "all,0", "2000"):
    r = run("-w", WEIGHTS, "--device", bad_dev, "-o", os.path.join(WORK, "od"), data)
    check(r.returncode == 2 and "--device" in r.stderr and not os.path.exists(
        os.path.join(WORK, "od")), f"--device {bad_dev}: usage error, exit 2", r.stderr)
for dev in ("all", "0,2,3"):
    r = run("-w", WEIGHTS, "--backend", "cpu", "--device", dev, "-o", os.path.join(WORK, "od"),
            data)
    check(r.returncode == 2 and "--backend cpu" in r.stderr,
          f"--device {dev} --backend cpu: a clear error, exit 2", r.stderr)
    r = run("-w", WEIGHTS, "--device", dev, "-o", os.path.join(WORK, f"od_{dev}"), data)
    if "no CUDA device" in r.stderr or "CUDA devices" in r.stderr or "CUDA device (" in r.stderr:
        check(r.returncode == 2 and r.stderr.startswith("gradcam: --device") and
              not os.path.exists(os.path.join(WORK, f"od_{dev}", "results.jsonl")),
              f"--device {dev} without (enough) CUDA devices: a clear error, exit 2", r.stderr)
    else:  # a machine with GPUs: it runs, one worker per device
        check(r.returncode == 1 and len(lines(os.path.join(WORK, f"od_{dev}"))) == 9,
              f"--device {dev} on this machine's GPUs", (r.returncode, r.stderr))
for bad_k in ("0", "9", "x"):
    r = run("-w", WEIGHTS, "--workers-per-device", bad_k, "-o", os.path.join(WORK, "od"), data)
    check(r.returncode == 2 and "--workers-per-device" in r.stderr,
          f"--workers-per-device {bad_k}: usage error, exit 2", r.stderr)
r = run("-w", WEIGHTS, "--backend", "cpu", "--workers-per-device", "2", "-o",
        os.path.join(WORK, "od_k2"), data)
check(r.returncode == 2 and "--workers-per-device" in r.stderr and
      not os.path.exists(os.path.join(WORK, "od_k2", "results.jsonl")),
      "--workers-per-device 2 on the CPU backend: a clear error, exit 2", r.stderr)
# with --backend auto, K workers per device ask for the GPU: without one, an error
r = run("-w", WEIGHTS, "--workers-per-device", "2", "-o", os.path.join(WORK, "od_k2a"), data)
if "CUDA backend unavailable" in r.stderr or "no CUDA backend" in r.stderr:
    check(r.returncode == 2 and
          not os.path.exists(os.path.join(WORK, "od_k2a", "results.jsonl")),
          "--workers-per-device 2, --backend auto, no GPU: a clear error, exit 2", r.stderr)
else:  # a machine with a GPU: two workers on it
    check(r.returncode == 1 and len(lines(os.path.join(WORK, "od_k2a"))) == 9,
          "--workers-per-device 2 on this machine's GPU", (r.returncode, r.stderr))
r = run("-w", WEIGHTS, "--device", "0", "--backend", "cpu", "-q", "-o",
        os.path.join(WORK, "od_cpu0"), os.path.join(data, "a.png"))
check(r.returncode == 0, "--device 0 --backend cpu: still fine (one device is a no-op on CPU)",
      r.stderr)
r = run("-w", WEIGHTS, "--device", "1", "--backend", "cpu", "-o",
        os.path.join(WORK, "od_cpu1"), os.path.join(data, "a.png"))
check(r.returncode == 0 and "--device 1 is ignored with --backend cpu" in r.stderr,
      "--device 1 --backend cpu: runs, with a note that the device goes unused", r.stderr)

# ---------------------------------------------------------------- a folder, good and bad
out = os.path.join(WORK, "out")
r = run("-w", WEIGHTS, "-o", out, "--outputs", "overlay,heatmap,cam", "-q", data)
check(r.returncode == 1, "exit 1 when some inputs fail", (r.returncode, r.stderr))
res = lines(out)
check(len(res) == len(good) + len(bad), "one results line per input",
      [x["input"] for x in res])
by_input = {os.path.relpath(x["input"], data): x for x in res}
for name in bad:
    x = by_input.get(name, {})
    check(x.get("status") == "error" and name in (x.get("error") or ""),
          f"{name}: error line naming the file", x)
    check(f"{name}" in r.stderr, f"{name}: message on stderr")
for name in good:
    x = by_input.get(name, {})
    stem = os.path.splitext(name)[0]
    ok = x.get("status") == "ok" and all(
        os.path.isfile(os.path.join(out, stem + suffix))
        for suffix in (".overlay.png", ".heatmap.png", ".cam.npy"))
    check(ok, f"{name}: ok line and mirrored outputs", x)
    h, w = good[name]
    check(x.get("width") == w and x.get("height") == h and len(x.get("top5", [])) == 5 and
          x.get("layer") == "block5_conv3" and x.get("class") == x["top5"][0]["class"],
          f"{name}: line fields", x)
check(not any(".gradcam-tmp" in f for _, _, fs in os.walk(out) for f in fs), "no temp files left")

# the batch-rendering path (the CUDA backend's: gc_explain_render in the batcher), forced on
# the CPU: the same lines and the same image bytes. --batch 1 on both sides: an image's cam
# may differ by ~1e-6 with its batch-mates (docs/api.md), which can move a pixel by one level.
outs_rib = {}
for key, env in (("plain", {}), ("batch", {"GRADCAM_RENDER_IN_BATCH": "1"})):
    outs_rib[key] = os.path.join(WORK, f"out_rib_{key}")
    r = subprocess.run([BIN, "-w", WEIGHTS, "-o", outs_rib[key], "--outputs",
                        "overlay,heatmap,cam", "--batch", "1", "-q", data], capture_output=True,
                       text=True, env=dict(os.environ, **env))
res_rib = {k: {os.path.relpath(x["input"], data): x for x in lines(o)}
           for k, o in outs_rib.items()}
same = r.returncode == 1 and set(res_rib["batch"]) == set(by_input) and all(
    res_rib["batch"][n]["status"] == by_input[n]["status"] for n in by_input)
for name in good:
    stem = os.path.splitext(name)[0]
    for suffix in (".overlay.png", ".heatmap.png"):
        with open(os.path.join(outs_rib["plain"], stem + suffix), "rb") as f1, \
                open(os.path.join(outs_rib["batch"], stem + suffix), "rb") as f2:
            same = same and f1.read() == f2.read()
check(same, "rendering with the batch (gc_explain_render): the same outputs byte for byte",
      (r.returncode, r.stderr))

# ---------------------------------------------------------------- against PyTorch + OpenCV
try:
    import torch
    import gcref
    have_torch = True
except ImportError:
    have_torch = False
if have_torch:
    import struct

    def read_st(path):
        blob = open(path, "rb").read()
        n = struct.unpack("<Q", blob[:8])[0]
        head = json.loads(blob[8:8 + n])
        dt = {"F32": np.float32, "F16": np.float16}
        sd = {}
        for k, v in head.items():
            if k == "__metadata__":
                continue
            a, b = v["data_offsets"]
            sd[k] = torch.from_numpy(np.frombuffer(blob[8 + n + a:8 + n + b],
                                                   dt[v["dtype"]]).reshape(v["shape"]).copy())
        return sd

    cfg = gcref.scaled_cfg("vgg16", 8)
    model = gcref.TorchvisionVGG(cfg, num_classes=10, hidden=(64, 64))
    model.load_state_dict(read_st(WEIGHTS))
    model = model.double().eval()
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    for name in good:
        rgb = cv2.imread(os.path.join(data, name), cv2.IMREAD_COLOR)[:, :, ::-1]
        h, w = rgb.shape[:2]
        interp = cv2.INTER_AREA if h >= 224 and w >= 224 else cv2.INTER_LINEAR
        small = cv2.resize(np.ascontiguousarray(rgb), (224, 224), interpolation=interp)
        x = torch.from_numpy(((small / 255.0 - mean) / std).transpose(2, 0, 1)[None].copy())
        ref = gcref.gradcam(model, x.float().double(), 29)
        stem = os.path.splitext(name)[0]
        cam = np.load(os.path.join(out, stem + ".cam.npy"))
        err = float(np.abs(cam - ref["cam"][0]).max())
        check(cam.dtype == np.float32 and cam.shape == (14, 14) and err <= 1e-4 and
              by_input[name]["class"] == int(ref["classes"][0]),
              f"{name}: cam and class vs PyTorch (max err {err:.2g})", err)
        heat = cv2.applyColorMap(np.uint8(255 * cv2.resize(ref["cam"][0], (w, h))),
                                 cv2.COLORMAP_JET)
        want = cv2.addWeighted(cv2.imread(os.path.join(data, name)), 0.6, heat, 0.4, 0)
        got = cv2.imread(os.path.join(out, stem + ".overlay.png"))
        diff = np.abs(got.astype(int) - want.astype(int))
        # a cam value within 1e-6 of a multiple of 1/255 may truncate to the neighbouring
        # colormap entry: at most 2 apart after the 0.4 blend, at very few pixels
        check(diff.max() <= 2 and (diff > 0).mean() < 0.005,
              f"{name}: overlay vs OpenCV rendering of PyTorch's cam "
              f"({(diff > 0).mean() * 100:.3f}% differ, max {diff.max()})")
else:
    print("SKIP  comparisons with PyTorch (python3-torch not installed)")

# ---------------------------------------------------------------- resume / overwrite
r = run("-w", WEIGHTS, "-o", out, "-q", data)
check(r.returncode == 2 and "--resume" in r.stderr, "refuses an output folder with results")
os.remove(os.path.join(out, "a.overlay.png"))
kept_mtime = os.path.getmtime(os.path.join(out, "d.overlay.png"))
r = run("-w", WEIGHTS, "-o", out, "--outputs", "overlay,heatmap,cam", "--resume", "-q", data)
after = [os.path.relpath(x["input"], data) for x in lines(out)]
check(os.path.isfile(os.path.join(out, "a.overlay.png")) and
      os.path.getmtime(os.path.join(out, "d.overlay.png")) == kept_mtime and
      sorted(after) == sorted(list(good) + bad),
      "--resume redoes only incomplete and failed inputs, one line each", after)
r = run("-w", WEIGHTS, "-o", out, "--overwrite", "-q", data)
check(len(lines(out)) == len(good) + len(bad), "--overwrite starts results.jsonl over")

# ---------------------------------------------------------------- killed runs, then --resume
import random
import signal
import time

kill_in = os.path.join(WORK, "kill_in")
os.makedirs(kill_in)
N_KILL = 400
for i in range(N_KILL):
    cv2.imwrite(os.path.join(kill_in, f"k{i:03d}.png"), photo(60 + i % 7, 80 + i % 5, i % 16))
open(os.path.join(kill_in, "bad.png"), "wb").write(b"\x89PNG broken")
out7 = os.path.join(WORK, "out_kill")
rnd = random.Random(5)
args = ["-w", SMALL, "-o", out7, "--outputs", "overlay,heatmap,cam", "--threads", "2", "-q",
        kill_in]
kills = 0
for attempt in range(12):
    p = subprocess.Popen([BIN] + args + (["--resume"] if attempt else []),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rnd.uniform(0.01, 0.12))
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        kills += 1
    p.wait()
r = run(*args, "--resume")
res = lines(out7)
inputs = [x["input"] for x in res]
stems = [f"k{i:03d}" for i in range(N_KILL)]
complete = all(os.path.isfile(os.path.join(out7, s + ext)) for s in stems
               for ext in (".overlay.png", ".heatmap.png", ".cam.npy"))
temps = [f for _, _, fs in os.walk(out7) for f in fs if ".gradcam-tmp" in f]
check(r.returncode == 1 and len(inputs) == len(set(inputs)) == N_KILL + 1 and complete and not temps,
      f"{kills} SIGKILLs, then --resume: one line per input, every output, no temp files",
      (r.returncode, len(inputs), len(set(inputs)), complete, temps[:3]))
readable = True
for s_ in stems[::10]:
    img = cv2.imread(os.path.join(out7, s_ + ".overlay.png"))
    readable &= img is not None and np.load(os.path.join(out7, s_ + ".cam.npy")).shape == (12, 16)
check(readable, "outputs after kills are whole (decode and load)")
# the clean-up of killed runs deletes our temporary names only: never a user's file that
# merely looks like one (before session 12 any "*.tmp.<digits>" below -o went)
os.makedirs(os.path.join(out7, "notes"), exist_ok=True)
users = [os.path.join(out7, "notes", n) for n in ("thesis.tmp.2", "a.png.tmp.1.2", "x.tmp.7")]
for u in users:
    with open(u, "w") as f:
        f.write("mine")
stale = os.path.join(out7, "notes", ".gradcam-tmp.99999.7")
stale_cli = os.path.join(out7, ".gradcam-tmp-cli.99999.3")
for t in (stale, stale_cli):
    with open(t, "w") as f:
        f.write("left by a killed run")
r = run(*args, "--resume")
check(r.returncode == 1 and all(os.path.isfile(u) for u in users) and not os.path.exists(stale)
      and not os.path.exists(stale_cli),
      "--resume removes the temporary files of killed runs, and no file of the user's",
      (r.returncode, [os.path.isfile(u) for u in users], os.path.exists(stale)))

# ---------------------------------------------------------------- stdin, jpg, cam only
out2 = os.path.join(WORK, "out_stdin")
paths = "".join(os.path.join(data, n) + "\n" for n in ("a.png", "d.jpeg"))
r = run("-w", WEIGHTS, "-o", out2, "--format", "jpg", "-q", "-", stdin=paths)
res = lines(out2)
mirror = os.path.join(out2, data.lstrip("/"))  # a path read from stdin is mirrored below OUT
check(r.returncode == 0 and len(res) == 2 and
      os.path.isfile(os.path.join(mirror, "a.overlay.jpg")) and
      os.path.isfile(os.path.join(mirror, "d.heatmap.jpg")), "'-' reads paths from stdin; jpg",
      (r.returncode, r.stderr, res))
# relative paths: as given, without "." and ".." (so that nothing lands outside OUT)
out2r = os.path.join(WORK, "out_stdin_rel")
r = run("-w", WEIGHTS, "-o", out2r, "-q", "-", stdin="./a.png\nsub/b.jpg\n../in/d.jpeg\n",
        cwd=data)
check(r.returncode == 0 and len(lines(out2r)) == 3 and
      all(os.path.isfile(os.path.join(out2r, f)) for f in
          ("a.overlay.png", "sub/b.overlay.png", "in/d.overlay.png")),
      "stdin paths: outputs mirror them below OUT ('.' and '..' dropped)",
      (r.returncode, r.stderr, sorted(os.path.relpath(os.path.join(dp, f), out2r)
                                      for dp, _, fs in os.walk(out2r) for f in fs)))
# find . | gradcam -o out -, then again with --resume: the outputs of the first run (inside
# the output folder, named like outputs) are never read back as inputs
fb = os.path.join(WORK, "find_back")
os.makedirs(os.path.join(fb, "p"))
shutil.copy(os.path.join(data, "a.png"), os.path.join(fb, "p", "a.png"))
listing = lambda: "".join(os.path.relpath(os.path.join(dp, f), fb) + "\n"
                          for dp, _, fs in sorted(os.walk(fb)) for f in sorted(fs)
                          if f.endswith(".png"))
r1 = run("-w", WEIGHTS, "-o", "out", "-q", "-", stdin=listing(), cwd=fb)
listed = listing()
r2 = run("-w", WEIGHTS, "-o", "out", "--resume", "-", stdin=listed, cwd=fb)
written = sorted(os.path.relpath(os.path.join(dp, f), fb)
                 for dp, _, fs in os.walk(os.path.join(fb, "out")) for f in fs)
check(r1.returncode == 0 and r2.returncode == 0 and "out/p/a.overlay.png" in listed and
      written == ["out/p/a.heatmap.png", "out/p/a.overlay.png", "out/results.jsonl"] and
      len(lines(os.path.join(fb, "out"))) == 1 and "left out" in r2.stderr,
      "stdin: paths of outputs inside the output folder are left out (find . | gradcam -)",
      (r1.returncode, r2.returncode, r2.stderr[-300:], written))
out3 = os.path.join(WORK, "out_cam")
r = run("-w", WEIGHTS, "-o", out3, "--outputs", "cam", "--norm", "minmax", "-q",
        os.path.join(data, "a.png"))
cam = np.load(os.path.join(out3, "a.cam.npy"))
check(r.returncode == 0 and cam.shape == (14, 14) and abs(cam.min()) < 1e-6 and
      not os.path.exists(os.path.join(out3, "a.overlay.png")), "--outputs cam, --norm minmax")

# ---------------------------------------------------------------- output names that clash
# x.jpg and x.png in one folder would both write x.overlay.png (also when given on stdin); so
# would two folders' y.png given as files (named by file name alone). The first in the order given keeps
# the names (a folder's files in sorted order: x.jpg before x.png); each later one fails with a
# message naming the outputs, and nothing of the first is overwritten.
clash = os.path.join(WORK, "in_clash")
os.makedirs(os.path.join(clash, "two"))
cv2.imwrite(os.path.join(clash, "x.jpg"), photo(64, 80, 1), [cv2.IMWRITE_JPEG_QUALITY, 95])
cv2.imwrite(os.path.join(clash, "x.png"), photo(64, 80, 2))
cv2.imwrite(os.path.join(clash, "y.png"), photo(48, 48, 3))
cv2.imwrite(os.path.join(clash, "two", "y.png"), photo(48, 48, 4))
out_alone = os.path.join(WORK, "out_clash_alone")
run("-w", WEIGHTS, "-o", out_alone, "-q", os.path.join(clash, "x.jpg"))
for how, args, stdin, first, later in (
        ("a folder", (clash,), None, "x.jpg", "x.png"),
        ("stdin", ("-",), "".join(os.path.join(clash, n) + "\n" for n in ("x.jpg", "x.png")),
         "x.jpg", "x.png"),
        ("files", (os.path.join(clash, "two", "y.png"), os.path.join(clash, "y.png")), None,
         "two/y.png", "y.png")):
    o = os.path.join(WORK, "out_clash_" + how.replace(" ", "_"))
    r = run("-w", WEIGHTS, "-o", o, "-q", *args, stdin=stdin)
    res_c = {os.path.relpath(x["input"], clash): x for x in lines(o)}
    err = (res_c.get(later) or {}).get("error") or ""
    check(r.returncode == 1 and res_c.get(first, {}).get("status") == "ok" and
          res_c.get(later, {}).get("status") == "error" and "would replace" in err and
          "/" + os.path.splitext(os.path.basename(later))[0] + ".*)" in err and
          later in r.stderr, f"clashing output names ({how}): the later input fails, named",
          (r.returncode, res_c))
    if how == "a folder":
        same = all(open(os.path.join(o, "x" + sfx), "rb").read() ==
                   open(os.path.join(out_alone, "x" + sfx), "rb").read()
                   for sfx in (".overlay.png", ".heatmap.png"))
        check(same, "clashing output names: the first input's outputs as when run alone")
        r = run("-w", WEIGHTS, "-o", o, "-q", "--resume", clash)
        res_c = {os.path.relpath(x["input"], clash): x for x in lines(o)}
        check(r.returncode == 1 and res_c.get("x.jpg", {}).get("status") == "ok" and
              res_c.get("x.png", {}).get("status") == "error",
              "clashing output names: --resume keeps the first, fails the later again",
              (r.returncode, res_c))

# an earlier run's outputs (--resume) are another file's: y.png from another folder fails too
o = os.path.join(WORK, "out_clash_resume")
run("-w", WEIGHTS, "-o", o, "-q", os.path.join(clash, "y.png"))
before = open(os.path.join(o, "y.overlay.png"), "rb").read()
r = run("-w", WEIGHTS, "-o", o, "-q", "--resume", os.path.join(clash, "two", "y.png"))
r2 = run("-w", WEIGHTS, "-o", o, "-q", "--resume", os.path.join(clash, "y.png"),
         os.path.join(clash, "two", "y.png"))
res_c = [(os.path.relpath(x["input"], clash), x["status"]) for x in lines(o)]
check(r.returncode == 1 and r2.returncode == 1 and
      open(os.path.join(o, "y.overlay.png"), "rb").read() == before and
      sorted(res_c) == [("two/y.png", "error"), ("y.png", "ok")],
      "clashing output names across runs (--resume): the later file fails, one line each",
      (r.returncode, r2.returncode, res_c))
# --resume with more outputs asked: an input the earlier run finished runs again (its names
# are its own: not a clash, not dropped); given by another spelling of the same path, the same
o = os.path.join(WORK, "out_resume_more")
run("-w", WEIGHTS, "-o", o, "-q", clash)
r = run("-w", WEIGHTS, "-o", o + "/", "-q", "--resume", "--outputs", "overlay,heatmap,cam",
        os.path.join(clash, ".", ""))
# the redone inputs' old lines are dropped at the end: one line per input, the new ones
new_lines = lines(o)
res_c = sorted((os.path.relpath(os.path.normpath(x["input"]), clash), x["status"])
               for x in new_lines)
check(r.returncode == 1 and os.path.isfile(os.path.join(o, "x.cam.npy")) and
      os.path.isfile(os.path.join(o, "y.cam.npy")) and
      os.path.isfile(os.path.join(o, "two", "y.cam.npy")) and
      res_c == [("two/y.png", "ok"), ("x.jpg", "ok"), ("x.png", "error"), ("y.png", "ok")] and
      all("cam" in x["outputs"] for x in new_lines if x["status"] == "ok") and
      not [f for f in os.listdir(o) if ".gradcam-tmp" in f],
      "--resume with another output asked, the folder spelled otherwise: each input redone, "
      "one line each, no temp file", (r.returncode, r.stderr, res_c))
# the next --resume keeps one line per input: the newer ones, which name the cams
r = run("-w", WEIGHTS, "-o", o, "-q", "--resume", "--outputs", "overlay,heatmap,cam", clash)
kept_lines = lines(o)
check(r.returncode == 1 and len(kept_lines) == 4 and
      all("cam" in x["outputs"] for x in kept_lines if x["status"] == "ok"),
      "the next --resume: one line per input, the redone inputs' newer lines",
      (r.returncode, [(x["input"], sorted(x.get("outputs") or {})) for x in kept_lines]))
# a redo that fails: its error line replaces the input's old ok line (one line per input)
rf = os.path.join(WORK, "redo_fail")
os.makedirs(rf)
cv2.imwrite(os.path.join(rf, "cat.png"), photo(40, 40, 13))
cv2.imwrite(os.path.join(rf, "dog.png"), photo(40, 40, 14))
o = os.path.join(WORK, "out_redo_fail")
run("-w", WEIGHTS, "-o", o, "-q", "--outputs", "overlay", rf)
with open(os.path.join(rf, "cat.png"), "w") as f:
    f.write("garbage")
r = run("-w", WEIGHTS, "-o", o, "-q", "--resume", "--outputs", "overlay,heatmap", rf)
res_c = sorted((os.path.basename(x["input"]), x["status"]) for x in lines(o))
check(r.returncode == 1 and res_c == [("cat.png", "error"), ("dog.png", "ok")],
      "--resume for more outputs, an input now broken: its error line alone", res_c)
# an input named "cat" (no extension) beside cat.png's outputs "cat.*": the clash's error
# line stays (an input's path is never compared with output names)
cv2.imwrite(os.path.join(WORK, "cat.png"), photo(40, 40, 15))
shutil.copy(os.path.join(WORK, "cat.png"), os.path.join(WORK, "cat"))
o = os.path.join(WORK, "out_key_spaces")
run("-w", WEIGHTS, "-q", "-o", "out_key_spaces", "cat.png", cwd=WORK)
r = run("-w", WEIGHTS, "-q", "-o", "out_key_spaces", "--resume", "--outputs", "overlay,heatmap",
        "cat.png", "cat", cwd=WORK)
res_c = sorted((x["input"], x["status"]) for x in lines(o))
check(r.returncode == 1 and res_c == [("cat", "error"), ("cat.png", "ok")],
      "an input 'cat' whose outputs clash with cat.png's, after a redo: both lines", res_c)
# a copied output folder, asked for more: one line per input (the old ones named the old
# folder's files)
o2 = os.path.join(WORK, "out_redo_copy")
shutil.copytree(o, o2)
r = run("-w", WEIGHTS, "-q", "-o", "out_redo_copy", "--resume", "--outputs",
        "overlay,heatmap,cam", "cat.png", cwd=WORK)
res_c = [(x["input"], x["status"], sorted(x.get("outputs") or {})) for x in lines(o2)]
check(r.returncode == 0 and res_c == [("cat.png", "ok", ["cam", "heatmap", "overlay"])],
      "a copied output folder, more outputs asked: one line per input", res_c)
# relative paths: each line names the working folder they are relative to ("cwd"), and
# --resume from another folder (other relative spellings, or absolute ones) finds those
# inputs done (before session 15 it redid them all); absolute paths need no "cwd"
proj = os.path.join(WORK, "rel_proj")
os.makedirs(os.path.join(proj, "photos"))
for i in range(3):
    cv2.imwrite(os.path.join(proj, "photos", f"p{i}.png"), photo(40, 48, 20 + i))
r1 = run("-w", WEIGHTS, "-q", "-o", "out", "photos", cwd=proj)
first = lines(os.path.join(proj, "out"))
pngs = sorted(glob.glob(os.path.join(proj, "out", "*.png")))
stamps = [os.stat(p).st_mtime_ns for p in pngs]
elsewhere = os.path.join(WORK, "rel_elsewhere")
os.makedirs(elsewhere)
r2 = run("-w", WEIGHTS, "--progress", "-o", os.path.join("..", "rel_proj", "out"), "--resume",
         os.path.join("..", "rel_proj", "photos"), cwd=elsewhere)
r3 = run("-w", WEIGHTS, "--progress", "-o", os.path.join(proj, "out"), "--resume",
         os.path.join(proj, "photos"), cwd="/")
o = os.path.join(WORK, "out_abs_paths")
r4 = run("-w", WEIGHTS, "-q", "-o", o, os.path.join(proj, "photos"), cwd=elsewhere)
check(r1.returncode == 0 and len(first) == 3 and len(pngs) == 6 and
      all(x.get("cwd") == os.path.realpath(proj) for x in first) and
      r2.returncode == 0 and "3 skipped" in r2.stderr and
      r3.returncode == 0 and "3 skipped" in r3.stderr and
      lines(os.path.join(proj, "out")) == first and
      [os.stat(p).st_mtime_ns for p in pngs] == stamps and
      r4.returncode == 0 and not any("cwd" in x for x in lines(o)),
      "--resume from another working folder: inputs given relative there are found done",
      (r2.stderr[-300:], r3.stderr[-300:], first[:1]))
# the whole folder moved, resumed from the same place in it: its relative paths as written
# still hold (they are tried before the recorded folder, which is gone)
moved = os.path.join(WORK, "rel_moved")
os.rename(proj, moved)
r5 = run("-w", WEIGHTS, "--progress", "-o", "out", "--resume", "photos", cwd=moved)
check(r5.returncode == 0 and "3 skipped" in r5.stderr and
      [os.stat(p.replace(proj, moved)).st_mtime_ns for p in pngs] == stamps,
      "--resume in a moved folder, relative paths: inputs found done", r5.stderr[-300:])
# two projects of the same layout: resumed from the second into the first one's output
# folder, the first one's lines (relative inputs, their "cwd" there) are not the second's
# inputs, whose outputs would replace them: each fails, nothing of the first is touched (with
# the paths as written tried first, the second's inputs were skipped as done)
twins = [os.path.join(WORK, "rel_twin_" + t) for t in "pq"]
for k, t in enumerate(twins):
    os.makedirs(os.path.join(t, "photos"))
    for i in range(3):
        cv2.imwrite(os.path.join(t, "photos", f"p{i}.png"), photo(40, 48, 30 + 5 * k + i))
o = os.path.join(twins[0], "out")
r6 = run("-w", WEIGHTS, "-q", "-o", o, "photos", cwd=twins[0])
before = lines(o)
stamps = [os.stat(p).st_mtime_ns for p in sorted(glob.glob(os.path.join(o, "*.png")))]
r7 = run("-w", WEIGHTS, "--progress", "-o", o, "--resume", "photos", cwd=twins[1])
check(r6.returncode == 0 and r7.returncode == 1 and "skipped" not in r7.stderr and
      r7.stderr.count("would replace") == 3 and
      [os.stat(p).st_mtime_ns for p in sorted(glob.glob(os.path.join(o, "*.png")))] == stamps and
      [x for x in lines(o) if x["status"] == "ok"] == before,
      "--resume from a twin project into the first one's folder: its inputs fail, not skipped",
      r7.stderr[-400:])
# a working folder whose name is not UTF-8: its "cwd" goes out as \udcXX and comes back as
# its bytes, so a resume from a sibling still finds the inputs done
odd_proj = os.fsencode(WORK) + b"/rel_caf\xe9"
os.makedirs(odd_proj + b"/photos")
for i in range(2):
    with open(odd_proj + b"/photos/p%d.png" % i, "wb") as f:  # cv2 takes no such name
        f.write(cv2.imencode(".png", photo(40, 48, 50 + i))[1].tobytes())
r8 = run("-w", WEIGHTS, "-q", "-o", "out", "photos", cwd=odd_proj)
r9 = run("-w", WEIGHTS, "--progress", "-o", os.fsdecode(b"../rel_caf\xe9/out"), "--resume",
         os.fsdecode(b"../rel_caf\xe9/photos"), cwd=elsewhere)
check(r8.returncode == 0 and r9.returncode == 0 and "2 skipped" in r9.stderr,
      "--resume from a sibling of a working folder whose name is not UTF-8", r9.stderr[-300:])
# the same file twice (as a file and again through its folder, or the same path twice) runs
# once; from stdin a path sent again runs again (the file may have changed)
o = os.path.join(WORK, "out_same_file")
r = run("-w", WEIGHTS, "-o", o, "-q", os.path.join(clash, "x.jpg"), os.path.join(clash, "x.jpg"),
        clash)
res_c = [os.path.relpath(x["input"], clash) for x in lines(o)]
check(r.returncode == 1 and res_c.count("x.jpg") == 1 and res_c.count("x.png") == 1,
      "the same file listed twice: one line", (r.returncode, res_c))
o = os.path.join(WORK, "out_same_stdin")
r = run("-w", WEIGHTS, "-o", o, "-q", "-", stdin=2 * (os.path.join(clash, "x.jpg") + "\n"))
check(r.returncode == 0 and [x["status"] for x in lines(o)] == ["ok", "ok"],
      "the same path twice on stdin: run twice", (r.returncode, r.stderr))
# an output that would replace an input file of the run (-o the folder of inputs given as
# files): x.png's x.heatmap.png is another input here; x.png fails, that input is untouched
rin = os.path.join(WORK, "in_replace")
os.makedirs(rin)
cv2.imwrite(os.path.join(rin, "x.png"), photo(40, 56, 6))
cv2.imwrite(os.path.join(rin, "x.heatmap.png"), photo(40, 56, 7))
kept = open(os.path.join(rin, "x.heatmap.png"), "rb").read()
r = run("-w", WEIGHTS, "-o", rin, "-q", os.path.join(rin, "x.png"),
        os.path.join(rin, "x.heatmap.png"))
res_c = {os.path.basename(x["input"]): x for x in lines(rin)}
check(r.returncode == 1 and open(os.path.join(rin, "x.heatmap.png"), "rb").read() == kept and
      res_c["x.png"]["status"] == "error" and "is an input of this run" in res_c["x.png"]["error"]
      and res_c["x.heatmap.png"]["status"] == "ok",
      "an output that would replace an input file: that input fails, the file untouched",
      (r.returncode, r.stderr))

# ---------------------------------------------------------------- folders left out
# an output folder inside the input folder is not read as inputs (before session 11 a
# --resume made out/out/x.overlay.overlay.png from the first run's outputs), and a symbolic
# link back to a folder being read is skipped with a note (before: every image again at each
# of the 40 levels the system follows)
nest = os.path.join(WORK, "in_nest")
os.makedirs(nest)
for i in range(2):
    cv2.imwrite(os.path.join(nest, f"n{i}.png"), photo(40, 56, i))
nest_out = os.path.join(nest, "out")
r1 = run("-w", WEIGHTS, "-o", nest_out, "-q", nest)
r2 = run("-w", WEIGHTS, "-o", nest_out, "-q", "--resume", nest)
r3 = run("-w", WEIGHTS, "-o", nest_out, "-q", "--overwrite", nest)
check(r1.returncode == r2.returncode == r3.returncode == 0 and len(lines(nest_out)) == 2 and
      not os.path.exists(os.path.join(nest_out, "out")),
      "an output folder inside the input folder is not read back as inputs",
      (r2.stderr, r3.stderr, lines(nest_out)))
# the output folder given as the input folder: refused (outputs would be read back, and x.png's
# x.heatmap.png could replace an input of that name), nothing written but results.jsonl
same = os.path.join(WORK, "in_same")
os.makedirs(same)
cv2.imwrite(os.path.join(same, "s.png"), photo(40, 56, 5))
r = run("-w", WEIGHTS, "-o", same, "-q", same)
check(r.returncode == 1 and sorted(os.listdir(same)) == ["results.jsonl", "s.png"] and
      "is the output folder too" in (lines(same)[0].get("error") or ""),
      "the output folder as the input folder: an error line, no outputs among the inputs",
      (r.returncode, os.listdir(same), r.stderr))
loop_in = os.path.join(WORK, "in_loop")
os.makedirs(loop_in)
for i in range(2):
    cv2.imwrite(os.path.join(loop_in, f"n{i}.png"), photo(40, 56, i))
os.symlink(loop_in, os.path.join(loop_in, "back"))
loop_out = os.path.join(WORK, "out_loop")
r = run("-w", WEIGHTS, "-o", loop_out, loop_in)
check(r.returncode == 0 and sorted(os.path.basename(x["input"]) for x in lines(loop_out)) ==
      ["n0.png", "n1.png"] and "back leads back to a folder it is in: skipped" in r.stderr,
      "a symbolic link back up a folder is skipped, with a note", (r.stderr, lines(loop_out)))

# ---------------------------------------------------------------- --stats
# the run's stage times as JSON: every input counted, each stage's busy time positive and its
# share of its threads' time within 0..1, a known bound, and a note saying the same; a stats
# file that cannot be written fails the run (exit 1) after the outputs, naming the path
st_path = os.path.join(WORK, "stats.json")
out_st = os.path.join(WORK, "out_stats")
r = run("-w", WEIGHTS, "-o", out_st, "--batch", "2", "--threads", "2", "--stats", st_path, data)
try:
    st = json.load(open(st_path))
except (OSError, ValueError) as e:
    st = {"error": str(e)}
n_in = len(lines(out_st)) if os.path.exists(os.path.join(out_st, "results.jsonl")) else -1
stages = [st.get(k) or {} for k in ("decode", "library", "encode")]
check(st.get("images") == n_in and n_in > 0 and st.get("calls", 0) >= 1 and
      all(x.get("busy_s", 0) > 0 and 0 <= x.get("busy_share", -1) <= 1.05 for x in stages) and
      st.get("decode", {}).get("threads") == 2 and st.get("library", {}).get("threads") == 1 and
      st.get("bound") in ("library", "cpu", "decode", "encode") and
      0 < st.get("wall_s", 0) and f"{n_in} images in" in r.stderr and "bound by" in r.stderr,
      "--stats FILE: each stage's times, the bound, and a note", (st, r.stderr[-500:]))
# the kernel's account of each stage's threads: CPU time within the threads' lifetime (their
# own, not the process's), the library thread's CPU positive (it ran the batches), the sys
# part within it; the process's sys time within its CPU time, and the rest (the library's
# OpenMP workers here) not negative
life = [x.get("busy_s", 0) + x.get("wait_input_s", 0) + x.get("wait_output_s", 0)
        for x in stages]
check(all(0 <= x.get("sys_s", -1) <= x.get("cpu_s", -1) <= lt * 1.1 + 0.02 and
          x.get("minflt", -1) >= 0 and x.get("nvcsw", -1) >= 0 and x.get("nivcsw", -1) >= 0
          for x, lt in zip(stages, life)) and stages[1].get("cpu_s", 0) > 0 and
      0 <= st.get("sys_s", -1) <= st.get("cpu_s", -1) and st.get("minflt", -1) > 0 and
      st.get("other_cpu_s", -1) >= 0,
      "--stats FILE: each stage's CPU time, faults and context switches", st)
# the machine's account over the run (/proc/stat, /proc/pressure): every field a number of
# seconds or null where the system does not say; /proc/stat (Linux) gives the CPU times, whose
# sum is the machine's cores times about the wall time
mach = st.get("machine") or {}
keys = ("busy_s", "idle_s", "iowait_s", "steal_s", "psi_cpu_some_s", "psi_io_some_s",
        "psi_io_full_s", "psi_memory_some_s")
cpu_sum = sum(mach.get(k) or 0 for k in ("busy_s", "idle_s", "iowait_s", "steal_s"))
check(sorted(mach) == sorted(keys) and
      all(mach[k] is None or mach[k] >= 0 for k in keys) and
      all(mach[k] is not None for k in keys[:4]) and
      0 < cpu_sum <= (os.cpu_count() or 1) * st.get("wall_s", 0) * 1.5 + 0.1,
      "--stats FILE: the machine's CPU time by kind and its pressure stalls", mach)
# GRADCAM_IO_NICE=7: the decode and encode threads run 7 nice steps below the rest (the kernel's view,
# /proc/PID/task/*/stat, read while the command waits for paths on stdin), the main and
# batcher threads at the command's own; --stats says so; a bad value is noted and ignored
out_nice = os.path.join(WORK, "out_nice")
proc = subprocess.Popen([BIN, "-w", WEIGHTS, "-o", out_nice, "--threads", "2", "-q", "--stats",
                         os.path.join(WORK, "nice.json"), "-"], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        env=dict(os.environ, GRADCAM_IO_NICE="7"))
base = os.nice(0)  # the runner's own (a `nice ctest` starts above 0)
want = min(base + 7, 19)
nices, deadline = [], time.time() + 30
while time.time() < deadline and len([n for n in nices if n == want]) < 4:
    time.sleep(0.2)
    nices = []
    for tid in os.listdir(f"/proc/{proc.pid}/task"):
        try:
            stat = open(f"/proc/{proc.pid}/task/{tid}/stat").read()
            nices.append(int(stat[stat.rindex(")") + 2:].split()[16]))  # field 19: nice
        except (OSError, ValueError, IndexError):
            pass
_, err_nice = proc.communicate(os.path.join(data, "a.png") + "\n", timeout=120)
try:
    st_nice = json.load(open(os.path.join(WORK, "nice.json")))
except (OSError, ValueError) as e:
    st_nice = {"error": str(e)}
check(proc.returncode == 0 and nices.count(want) >= 4 and base in nices and
      st_nice.get("io_nice") == 7 and st_nice.get("io_nice_seen") == want and
      len(lines(out_nice)) == 1 and lines(out_nice)[0].get("status") == "ok",
      "GRADCAM_IO_NICE=7: decode and encode threads 7 steps nicer, the rest not",
      (proc.returncode, nices, st_nice, err_nice[-300:]))
r = subprocess.run([BIN, "-w", WEIGHTS, "-o", os.path.join(WORK, "out_nice2"),
                    os.path.join(data, "a.png")], capture_output=True, text=True,
                   env=dict(os.environ, GRADCAM_IO_NICE="-3"))
check(r.returncode == 0 and "GRADCAM_IO_NICE='-3'" in r.stderr and "ignored" in r.stderr,
      "GRADCAM_IO_NICE=-3: noted and ignored", (r.returncode, r.stderr[-300:]))
r = run("-w", WEIGHTS, "-o", os.path.join(WORK, "out_stats2"), "--stats",
        os.path.join(WORK, "no-such-dir", "s.json"), "-q", os.path.join(data, "a.png"))
check(r.returncode == 1 and "no-such-dir/s.json: cannot write" in r.stderr and
      os.path.isfile(os.path.join(WORK, "out_stats2", "a.overlay.png")),
      "--stats to a missing folder: exit 1 naming it, outputs written", (r.returncode, r.stderr))

# the cores the command sizes its threads by: its affinity mask, capped by a cgroup's CPU
# quota (a container's --cpus, a systemd slice, a job), its own cgroup's or a parent's,
# read from a fake cgroup folder (GRADCAM_CGROUP_ROOT, whose "self" stands for
# /proc/self/cgroup)
def default_cores(cgroup_files, one_cpu=False):
    root = os.path.join(WORK, "cgroup")
    shutil.rmtree(root, ignore_errors=True)
    for name, text in cgroup_files.items():
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    path = os.path.join(WORK, "cores.json")
    if os.path.exists(path):
        os.remove(path)
    cpu0 = sorted(os.sched_getaffinity(0))[0]
    r = subprocess.run([BIN, "-w", SMALL, "-o", os.path.join(WORK, "out_cores"), "-q",
                        "--overwrite", "--stats", path, os.path.join(data, "a.png")],
                       capture_output=True, text=True,
                       env=dict(os.environ, GRADCAM_CGROUP_ROOT=root),
                       preexec_fn=(lambda: os.sched_setaffinity(0, {cpu0})) if one_cpu else None)
    try:
        st = json.load(open(path))
        if r.returncode != 0:
            raise ValueError(f"exit {r.returncode}")
        return st["cores"], st["decode"]["threads"], st["encode"]["threads"]
    except (OSError, ValueError, KeyError) as e:
        return (r.returncode, r.stderr[-300:], str(e))


mask = len(os.sched_getaffinity(0))
half = "50000 100000\n"
v1_half = {"cpu.cfs_quota_us": "50000\n", "cpu.cfs_period_us": "100000\n"}
cases = [  # (what, cgroup files, one CPU, expected cores)
    ("v2 quota", {"self": "0::/\n", "cpu.max": half}, False, 1),
    ("v2 quota on the parent", {"self": "0::/job/step\n", "job/cpu.max": half,
                                "job/step/cpu.max": "max 100000\n"}, False, 1),
    ("v1 quota (cpu,cpuacct)", {"self": "3:memory:/x\n2:cpu,cpuacct:/\n",
                                **{"cpu,cpuacct/" + k: v for k, v in v1_half.items()}}, False, 1),
    ("v1 nested quota (cpu)", {"self": "4:cpu:/docker/abc\n",
                               **{"cpu/docker/abc/" + k: v for k, v in v1_half.items()}}, False, 1),
    ("no cgroup file, quota at the mount", {"cpu.max": half}, False, 1),
    ("v2 no quota", {"self": "0::/\n", "cpu.max": "max 100000\n"}, False, mask),
    ("no cgroup files", {}, False, mask),
    ("v1 unlimited", {"self": "1:cpu:/\n", "cpu/cpu.cfs_quota_us": "-1\n",
                      "cpu/cpu.cfs_period_us": "100000\n"}, False, mask),
    ("quota above the mask", {"self": "0::/\n", "cpu.max": f"{100000 * (mask + 3)} 100000\n"},
     False, mask),
    ("another cgroup's quota", {"self": "0::/mine\n", "other/cpu.max": half}, False, mask),
    ("a one-CPU mask", {}, True, 1)]
wrong = [(what, got, want) for what, files, one, want in cases
         for got in [default_cores(files, one)] if got != (want, want, want)]
check(not wrong and mask > 1, f"default threads follow the affinity mask ({mask} CPUs) and the "
      f"lowest CPU quota of the cgroup and its parents (v2, v1): {len(cases)} cases", wrong)

# the two variants of the hot loops (AVX2 + FMA where the CPU has them, and the x86-64
# baseline, GC_CPU_BASELINE=1) write the same bytes: Winograd transforms, bias + ReLU and the
# overlay blend (fmaf: an instruction in one, a call in the other). One image a batch: the
# CPU's sums are blocked by batch size, so a batch that a slow decode cut short (50 ms) would
# differ in the last bits (~1e-6 in the cam) from one that did not.
variant_out = {}
for name, extra in (("fast", {}), ("baseline", {"GC_CPU_BASELINE": "1"})):
    o = os.path.join(WORK, "out_variant_" + name)
    r = subprocess.run([BIN, "-w", WEIGHTS, "-o", o, "-q", "--outputs", "overlay,heatmap,cam",
                        "--batch", "1", data], capture_output=True, text=True, env=dict(os.environ, **extra))
    variant_out[name] = {os.path.relpath(os.path.join(d, f), o):
                         open(os.path.join(d, f), "rb").read()
                         for d, _, fs in os.walk(o) for f in fs if f != "results.jsonl"}
fast, base_v = variant_out["fast"], variant_out["baseline"]
check(len(fast) >= 3 * len(good) and fast == base_v,
      "the AVX2+FMA and baseline variants of the hot loops: byte-identical cams and images",
      (len(fast), len(base_v), sorted(k for k in fast if fast.get(k) != base_v.get(k))[:5]))

# ---------------------------------------------------------------- methods
if have_torch:
    for method, name in (("gradcam++", "gradcampp"), ("layercam", "layercam")):
        o = os.path.join(WORK, f"out_{name}")
        r = run("-w", WEIGHTS, "-o", o, "--method", method, "--outputs", "cam", "-q",
                os.path.join(data, "a.png"))
        rgb = cv2.imread(os.path.join(data, "a.png"))[:, :, ::-1]
        x = torch.from_numpy(((rgb / 255.0 - mean) / std).transpose(2, 0, 1)[None].copy())
        ref = gcref.gradcam(model, x.float().double(), 29, method=name)
        err = float(np.abs(np.load(os.path.join(o, "a.cam.npy")) - ref["cam"][0]).max())
        check(r.returncode == 0 and err <= 1e-4, f"--method {method} vs PyTorch ({err:.2g})")

# ---------------------------------------------------------------- guided methods
r = run("-w", WEIGHTS, "--outputs", "overlay,guided", "-o", os.path.join(WORK, "og"), data)
check(r.returncode == 2 and "guided" in r.stderr, "--outputs guided without a guided method: exit 2")
for method in ("guided-backprop", "guided-gradcam"):
    o = os.path.join(WORK, f"out_{method}")
    r = run("-w", WEIGHTS, "-o", o, "--method", method, "--outputs", "overlay,cam,guided", "-q",
            os.path.join(data, "a.png"), os.path.join(data, "d.jpeg"))
    res = {os.path.basename(x["input"]): x for x in lines(o)} if os.path.exists(o) else {}
    sal = cv2.imread(os.path.join(o, "d.guided.png"))
    check(r.returncode == 0 and res.get("d.jpeg", {}).get("outputs", {}).get("guided") ==
          os.path.join(o, "d.guided.png") and sal is not None and sal.shape == (224, 224, 3) and
          os.path.isfile(os.path.join(o, "a.overlay.png")),
          f"--method {method}: .guided.png at the network size beside the overlay",
          (r.returncode, r.stderr, res.get("d.jpeg")))
    if have_torch:
        rgb = cv2.imread(os.path.join(data, "a.png"))[:, :, ::-1]
        x = torch.from_numpy(((rgb / 255.0 - mean) / std).transpose(2, 0, 1)[None].copy())
        g = gcref.guided_backprop(model, x.float().double())[0].numpy()
        if method == "guided-gradcam":
            cam = gcref.gradcam(model, x.float().double(), 29)["cam"][0]
            g = g * cv2.resize(cam.astype(np.float32), (224, 224))[None]
        want = gcref.deprocess_image(g.transpose(1, 2, 0).astype(np.float32))  # RGB
        got = cv2.imread(os.path.join(o, "a.guided.png"))[:, :, ::-1]
        diff = np.abs(got.astype(int) - want.astype(int)) if got is not None else np.array([9])
        # float32 against float64: a value next to a multiple of 1/255 may truncate one lower
        check(diff.max() <= 1 and (diff > 0).mean() < 0.01,
              f"--method {method}: .guided.png vs PyTorch + deprocess_image "
              f"({(diff > 0).mean() * 100:.3f}% differ, max {diff.max()})")
r = run("-w", WEIGHTS, "-o", os.path.join(WORK, "out_guided-backprop"), "--method",
        "guided-backprop", "--outputs", "overlay,cam,guided", "--resume", "-q",
        os.path.join(data, "a.png"), os.path.join(data, "d.jpeg"))
os.remove(os.path.join(WORK, "out_guided-backprop", "a.guided.png"))
r = run("-w", WEIGHTS, "-o", os.path.join(WORK, "out_guided-backprop"), "--method",
        "guided-backprop", "--outputs", "overlay,cam,guided", "--resume", "-q",
        os.path.join(data, "a.png"), os.path.join(data, "d.jpeg"))
check(r.returncode == 0 and os.path.isfile(os.path.join(WORK, "out_guided-backprop",
                                                        "a.guided.png")) and
      len(lines(os.path.join(WORK, "out_guided-backprop"))) == 2,
      "--resume redoes an input whose .guided.png is missing")

# ---------------------------------------------------------------- labels
names = os.path.join(WORK, "names.txt")
open(names, "w").write("".join(f"thing {i}\n" for i in range(10)))
out5 = os.path.join(WORK, "out_labels")
r = run("-w", WEIGHTS, "-o", out5, "--labels", names, "--class", "7", "-q",
        os.path.join(data, "a.png"))
x = lines(out5)[0]
check(r.returncode == 0 and x["class"] == 7 and x["label"] == "thing 7" and
      x["top5"][0]["label"] == f"thing {x['top5'][0]['class']}", "--labels and --class", x)
# one line short: every class would be named wrong, so a set-up error naming the counts
short = os.path.join(WORK, "names_short.txt")
open(short, "w").write("".join(f"thing {i}\n" for i in range(9)) + "\n\n")
r = run("-w", WEIGHTS, "-o", os.path.join(WORK, "out_lab_short"), "--labels", short, "-q",
        os.path.join(data, "a.png"))
check(r.returncode == 2 and "9 lines for a model of 10 classes" in r.stderr,
      "--labels with a line too few: exit 2, the counts named", (r.returncode, r.stderr))
# a file name with control characters in a message: escaped, so that it can neither break
# the line nor send the terminal an escape sequence (the bytes of the name itself untouched)
ctl = os.path.join(WORK, "in_ctl")
os.makedirs(ctl)
open(os.path.join(ctl, "bad\x1b[31mred\nline.png"), "w").write("not an image")
r = run("-w", WEIGHTS, "-o", os.path.join(WORK, "out_ctl"), "-q", ctl)
check(r.returncode == 1 and "bad\\x1b[31mred\\nline.png: not a PNG" in r.stderr and
      "\x1b" not in r.stderr, "control characters of a file name escaped in its message",
      repr(r.stderr))
# ... found after the weights loaded: the output folder the run had made is gone again, and
# one that was there before stays (with what is in it)
check(not os.path.exists(os.path.join(WORK, "out_lab_short")),
      "a set-up error leaves no output folder behind", os.listdir(WORK))
nested = os.path.join(WORK, "out_lab_nest", "a", "b")
r = run("-w", WEIGHTS, "-o", nested, "--labels", short, "-q", os.path.join(data, "a.png"))
check(r.returncode == 2 and not os.path.exists(os.path.join(WORK, "out_lab_nest")),
      "a set-up error removes every folder the run made for -o", r.stderr)
kept = os.path.join(WORK, "out_lab_kept")
os.makedirs(kept)
open(os.path.join(kept, "mine.txt"), "w").write("x")
r = run("-w", WEIGHTS, "-o", os.path.join(kept, "sub"), "--labels", short, "-q",
        os.path.join(data, "a.png"))
check(r.returncode == 2 and os.path.exists(os.path.join(kept, "mine.txt")) and
      not os.path.exists(os.path.join(kept, "sub")),
      "a set-up error keeps a folder that was there before", os.listdir(kept))
# a label over the old 1023-byte line buffer stays one label (it shifted every later one)
longn = os.path.join(WORK, "names_long.txt")
open(longn, "w").write("x" * 2000 + "\n" + "".join(f"thing {i}\n" for i in range(1, 10)))
r = run("-w", WEIGHTS, "-o", os.path.join(WORK, "out_lab_long"), "--labels", longn, "--class",
        "7", "-q", os.path.join(data, "a.png"))
x = lines(os.path.join(WORK, "out_lab_long"))[0] if r.returncode == 0 else {}
check(x.get("label") == "thing 7", "--labels: a 2000-byte line is one label", (r.stderr, x))
out6 = os.path.join(WORK, "out_meta_labels")  # custom_small names its classes in metadata
r = run("-w", SMALL, "-o", out6, "-q", os.path.join(data, "a.png"))
x = lines(out6)[0]
check(r.returncode == 0 and x["label"] == "abcdef"[x["class"]], "labels from the weights' metadata",
      x)

# ---------------------------------------------------------------- a full disk
tiny = os.path.join(WORK, "tiny")
os.makedirs(tiny)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", tiny],
                  capture_output=True).returncode == 0:
    try:
        r = run("-w", WEIGHTS, "-o", os.path.join(tiny, "out"), "-q", data)
        res = lines(os.path.join(tiny, "out"))
        full = [x for x in res if "No space left on device" in (x.get("error") or "")]
        temps = [f for _, _, fs in os.walk(tiny) for f in fs if ".gradcam-tmp" in f]
        oks_whole = all(os.path.isfile(p) for x in res if x["status"] == "ok"
                        for p in x["outputs"].values())
        check(r.returncode == 1 and full and not temps and oks_whole and
              len(res) == len(good) + len(bad),
              "disk full: per-file errors, no temp files, every ok line's outputs exist",
              (r.returncode, len(full), temps, oks_whole))
    finally:
        subprocess.run(["umount", tiny])
else:
    print("SKIP  disk full (cannot mount a small tmpfs here)")

# ---------------------------------------------------------------- a read-only output folder
# root writes through permission bits, so a read-only mount stands in for a folder the user
# may not write to
ro = os.path.join(WORK, "ro")
os.makedirs(ro)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro],
                  capture_output=True).returncode == 0:
    try:
        r = run("-w", WEIGHTS, "-o", ro, "-q", data)
        check(r.returncode == 2 and os.path.join(ro, "results.jsonl") in r.stderr and
              "Read-only file system" in r.stderr and not os.listdir(ro),
              "read-only -o folder: exit 2 before any work, naming results.jsonl and the cause",
              (r.returncode, r.stderr))
        r = run("-w", WEIGHTS, "-o", os.path.join(ro, "new"), "-q", data)
        check(r.returncode == 2 and "Read-only file system" in r.stderr and
              os.path.join(ro, "new") in r.stderr, "-o below a read-only folder: exit 2",
              (r.returncode, r.stderr))
    finally:
        subprocess.run(["umount", ro])
    # only a subfolder read-only: the files there fail one by one, the rest are written
    ro_out = os.path.join(WORK, "ro_out")
    os.makedirs(os.path.join(ro_out, "sub"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs",
                    os.path.join(ro_out, "sub")], check=True)
    try:
        r = run("-w", WEIGHTS, "-o", ro_out, "-q", data)
        res = {os.path.relpath(x["input"], data): x for x in lines(ro_out)}
        in_sub = [n for n in good if n.startswith("sub/")]
        errs = [res.get(n, {}).get("error") or "" for n in in_sub]
        named = all("Read-only file system" in e and e.startswith(os.path.join(ro_out, "sub"))
                    for e in errs)
        temps = [f for _, _, fs in os.walk(ro_out) for f in fs if ".gradcam-tmp" in f]
        oks_whole = all(os.path.isfile(p) for x in res.values() if x["status"] == "ok"
                        for p in x["outputs"].values())
        check(r.returncode == 1 and named and all(res[n]["status"] == "error" for n in in_sub)
              and all(e in r.stderr for e in errs) and len(res) == len(good) + len(bad) and
              res["a.png"]["status"] == "ok" and oks_whole and not temps,
              "read-only subfolder: per-file errors naming the path and the cause, no ok line "
              "for them, the rest written, no temp files, exit 1",
              (r.returncode, errs, temps, oks_whole))
    finally:
        subprocess.run(["umount", os.path.join(ro_out, "sub")])
else:
    print("SKIP  read-only output folder (cannot mount here)")

# ---------------------------------------------------------------- shards
seen = []
for i in range(3):
    o = os.path.join(WORK, f"out_shard{i}")
    r = run("-w", SMALL, "-o", o, "--outputs", "cam", "--shard", f"{i}/3", "-q", kill_in)
    seen += [x["input"] for x in lines(o)]
everything = sorted(os.path.join(kill_in, f) for f in os.listdir(kill_in))
check(sorted(seen) == everything, "--shard 0/3, 1/3, 2/3 cover every input exactly once",
      (len(seen), len(set(seen)), len(everything)))
# the partition is a hash of the path below the folder given (FNV-1a-style 64-bit hash of the
# output path relative to -o, without extension: docs/cluster.md), not of where the folder
# or -o are
moved = os.path.join(WORK, "moved", "kill_in_copy")
shutil.copytree(kill_in, moved)
o = os.path.join(WORK, "elsewhere", "shard1")
r = run("-w", SMALL, "-o", o, "--outputs", "cam", "--shard", "1/3", "-q", moved + "/")
rel = lambda d: sorted(os.path.relpath(x["input"], d) for x in lines(o if d == moved else
                                                                    os.path.join(WORK, "out_shard1")))
check(rel(moved) == rel(kill_in), "--shard: the same inputs wherever the folder and -o are")


def fnv_shard(name, n):
    h = 1469598103934665603  # FNV-1a's basis is 14695981039346656037: see inputs.c
    for b in os.fsencode(os.path.splitext(name)[0]):
        h = ((h ^ b) * 0x100000001b3) % 2**64
    return h % n


check(all(fnv_shard(os.path.basename(x["input"]), 3) == 1
          for x in lines(os.path.join(WORK, "out_shard1"))), "--shard is the hash docs/cluster.md gives")
r = run("-w", SMALL, "--shard", "3/3", kill_in)
check(r.returncode == 2, "--shard 3/3 is a usage error")

# ---------------------------------------------------------------- names that are not UTF-8
odd = os.path.join(WORK, "odd")
os.makedirs(odd)
raw = os.fsencode(odd) + b"/caf\xe9 \"q\"\\.png"  # Latin-1 e-acute, quotes, backslash
with open(raw, "wb") as f:
    f.write(cv2.imencode(".png", photo(40, 40, 3))[1].tobytes())
open(os.fsencode(odd) + b"/bad\xff.png", "wb").write(b"garbage")
out8 = os.path.join(WORK, "out_odd")
r = run("-w", SMALL, "-o", out8, "-q", odd)
try:
    got = [json.loads(l) for l in open(os.path.join(out8, "results.jsonl"), encoding="utf-8")]
    names = sorted(os.fsencode(x["input"]) for x in got)
    ok = names == sorted([raw, os.fsencode(odd) + b"/bad\xff.png"])
except (UnicodeDecodeError, ValueError) as e:
    ok, got = False, e
check(r.returncode == 1 and ok, "non-UTF-8 names: valid JSON, exact bytes back via surrogateescape",
      got)
# --resume reads those lines back (cJSON refuses the \udcXX escapes: they were dropped, the
# inputs redone, and another file of that name could replace their outputs)
lines_before = sorted(open(os.path.join(out8, "results.jsonl"), "rb").read().splitlines())
r = run("-w", SMALL, "-o", out8, "-q", "--resume", odd)
check(r.returncode == 1 and sorted(open(os.path.join(out8, "results.jsonl"), "rb").read()
                                   .splitlines()) == lines_before and
      "1 skipped" in run("-w", SMALL, "-o", out8, "--progress", "--resume", odd).stderr,
      "--resume keeps the ok line of a non-UTF-8 name and skips its input", r.stderr)
other = os.path.join(WORK, "odd_other")
os.makedirs(other)
raw2 = os.fsencode(other) + b"/caf\xe9 \"q\"\\.png"
with open(raw2, "wb") as f:
    f.write(cv2.imencode(".png", photo(40, 40, 9))[1].tobytes())
ov = os.fsencode(out8) + b"/caf\xe9 \"q\"\\.overlay.png"
ov_before = open(ov, "rb").read()
r = subprocess.run([os.fsencode(BIN), b"-w", os.fsencode(SMALL), b"-o", os.fsencode(out8), b"-q",
                    b"--resume", raw2], capture_output=True)
check(r.returncode == 1 and open(ov, "rb").read() == ov_before and b"would replace" in r.stderr,
      "another file of the same non-UTF-8 name under --resume fails: the outputs stay",
      (r.returncode, r.stderr[-300:]))

# a name with a character outside the BMP, its line rewritten by Python (json.dumps writes a
# surrogate pair, \ud83d\udcf7): --resume still reads it (the pair's low half is no byte)
cam = os.path.join(WORK, "bmp_in")
os.makedirs(cam)
cv2.imwrite(os.path.join(cam, "a.png"), photo(40, 40, 11))
os.rename(os.path.join(cam, "a.png"), os.path.join(cam, "\U0001F4F7.png"))
out_cam = os.path.join(WORK, "out_bmp")
r1 = run("-w", SMALL, "-q", "-o", out_cam, cam)
with open(os.path.join(out_cam, "results.jsonl"), encoding="utf-8") as f:
    redone = [json.dumps(json.loads(l)) for l in f]
with open(os.path.join(out_cam, "results.jsonl"), "w") as f:
    f.write("\n".join(redone) + "\n")
r2 = run("-w", SMALL, "-o", out_cam, "--resume", "--progress", cam)
check(r1.returncode == 0 and "\\ud83d\\udcf7" in redone[0] and r2.returncode == 0 and
      "1 skipped" in r2.stderr, "--resume reads a surrogate pair (a name outside the BMP)",
      (r1.returncode, r2.returncode, r2.stderr[-300:]))

# ---------------------------------------------------------------- temporaries of another host
# a process of the same pid on a shared folder (another host, a container's pid 1) holds the
# first temporary names: ours go to the next number (pid 1 through a pid namespace)
tin = os.path.join(WORK, "pid1_in")
os.makedirs(tin)
cv2.imwrite(os.path.join(tin, "b.png"), photo(40, 40, 12))
tout = os.path.join(WORK, "out_pid1")
os.makedirs(tout)
for t in (".gradcam-tmp-cli.1.0", ".gradcam-tmp.1.0"):
    open(os.path.join(tout, t), "w").close()
probe = subprocess.run(["unshare", "-Urpf", "true"], capture_output=True)
if probe.returncode == 0:
    # LeakSanitizer cannot stop the threads of a process in a pid namespace (it says so in
    # its report file, which fails CI's sanitizer pass): leaks are checked by the other runs
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    r = subprocess.run(["unshare", "-Urpf", BIN, "-w", SMALL, "-q", "-o", tout, "--outputs",
                        "overlay,cam", tin], capture_output=True, text=True, env=env)
    check(r.returncode == 0 and [x["status"] for x in lines(tout)] == ["ok"],
          "another process's temporary names taken (pid 1 in both): written under the next",
          (r.returncode, r.stderr[-300:]))
else:
    print("SKIP  temporaries of another process of the same pid (no unshare here)")

# ---------------------------------------------------------------- -o spelled otherwise
sp = os.path.join(WORK, "spell")
for d, seed in (("a", 1), ("b", 2)):
    os.makedirs(os.path.join(sp, d))
    cv2.imwrite(os.path.join(sp, d, "x.png"), photo(40, 40, seed))
r1 = run("-w", SMALL, "-q", "-o", "out_spell", os.path.join(sp, "a", "x.png"), cwd=WORK)
kept = open(os.path.join(WORK, "out_spell", "x.overlay.png"), "rb").read()
r2 = run("-w", SMALL, "-q", "-o", os.path.join(WORK, "out_spell"), "--resume",
         os.path.join(sp, "b", "x.png"), cwd=WORK)
r3 = run("-w", SMALL, "-q", "-o", os.path.join(WORK, ".", "out_spell", ""), "--resume",
         os.path.join(sp, "a", "x.png"), "--progress", cwd=WORK)
res_c = lines(os.path.join(WORK, "out_spell"))
check(r1.returncode == 0 and r2.returncode == 1 and "would replace" in r2.stderr and
      open(os.path.join(WORK, "out_spell", "x.overlay.png"), "rb").read() == kept and
      r3.returncode == 0 and "1 skipped" in r3.stderr and
      [x["status"] for x in res_c] == ["ok"],
      "-o relative, then absolute under --resume: another file's names still clash, the same "
      "file is done", (r2.returncode, r2.stderr[-300:], r3.returncode, r3.stderr[-300:],
                       [x["status"] for x in res_c]))

# ---------------------------------------------------------------- inputs that are not files
fifo_in = os.path.join(WORK, "fifo_in")
os.makedirs(fifo_in)
cv2.imwrite(os.path.join(fifo_in, "a.png"), photo(40, 40, 4))
os.mkfifo(os.path.join(fifo_in, "f.png"))
try:
    r = run("-w", SMALL, "-q", "-o", os.path.join(WORK, "out_fifo"), fifo_in, timeout=60)
    res_c = {os.path.basename(x["input"]): x for x in lines(os.path.join(WORK, "out_fifo"))}
    ok = (r.returncode == 1 and res_c["a.png"]["status"] == "ok" and
          "not a regular file" in res_c["f.png"]["error"])
except subprocess.TimeoutExpired:
    ok, r = False, "hung on the FIFO"
check(ok, "a FIFO named like an image in a folder: an error line, the run goes on", r)

# ---------------------------------------------------------------- input folder in the output
nest = os.path.join(WORK, "nest")
os.makedirs(os.path.join(nest, "ph", "ph"))
cv2.imwrite(os.path.join(nest, "ph", "a.png"), photo(40, 40, 5))
cv2.imwrite(os.path.join(nest, "ph", "ph", "b.png"), photo(40, 40, 6))
r1 = run("-w", SMALL, "-q", "-o", ".", "ph", cwd=nest)
r2 = run("-w", SMALL, "-o", ".", "--resume", "ph", cwd=nest)
res_c = sorted(x["input"] for x in lines(nest))
check(r1.returncode == 0 and r2.returncode == 0 and res_c == ["ph/a.png", "ph/ph/b.png"] and
      "named like this command's outputs" in r2.stderr,
      "an input folder inside the output folder: outputs there are never read back",
      (r2.returncode, r2.stderr[-400:], res_c))

# ---------------------------------------------------------------- long messages, labels
deep = os.path.join(WORK, "deep", *(["d" * 40] * 20))  # over 820 bytes wherever WORK is
os.makedirs(deep)
open(os.path.join(deep, "empty.png"), "wb").close()
r = run("-w", SMALL, "-q", "-o", os.path.join(WORK, "out_deep"), os.path.join(deep, "empty.png"))
err = lines(os.path.join(WORK, "out_deep"))[0]["error"]
check(r.returncode == 1 and err.startswith(os.path.join(deep, "empty.png")) and
      "empty" in err[len(deep) + 10:], f"a {len(deep) + 10}-byte path: the whole path and the "
      "cause in the error (were cut at 599 bytes)", err[-200:])
lab = os.path.join(WORK, "labels_latin1.txt")
with open(lab, "wb") as f:
    f.write(b"".join(b"caf\xe9 %d\n" % i for i in range(6)))
r = run("-w", SMALL, "-q", "-o", os.path.join(WORK, "out_lab"), "--labels", lab,
        os.path.join(sp, "a", "x.png"))
try:
    x = json.loads(open(os.path.join(WORK, "out_lab", "results.jsonl"), encoding="utf-8").read())
    ok = r.returncode == 0 and os.fsencode(x["label"]).startswith(b"caf\xe9 ")
except ValueError as e:
    ok, x = False, e
check(ok, "--labels not in UTF-8: valid JSON, the bytes back via surrogateescape", x)

# ---------------------------------------------------------------- results.jsonl that fills up
fill = os.path.join(WORK, "fill_in")
os.makedirs(fill)
for i in range(90):
    cv2.imwrite(os.path.join(fill, f"f{i:02d}.png"), photo(24, 24, i))


def limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))


if SANITIZED == "tsan":  # its runtime dies of SIGBUS under a file size limit (CI, session 12)
    print("SKIP  results.jsonl cannot grow (under tsan: the runtime needs files of any size)")
else:
    r = subprocess.run([BIN, "-w", SMALL, "-q", "-o", os.path.join(WORK, "out_fill"),
                        "--outputs", "overlay", fill], capture_output=True, text=True,
                       preexec_fn=limit_file_size)
    n_lines = len(open(os.path.join(WORK, "out_fill", "results.jsonl"), "rb").read().splitlines())
    check(r.returncode == 1 and n_lines < 90 and "results.jsonl: cannot write" in r.stderr,
          "results.jsonl cannot grow (file size limit): said, exit 1, not 0",
          (r.returncode, n_lines, r.stderr[-300:]))

# ---------------------------------------------------------------- --shard, empty results
r = run("-w", SMALL, "--shard", "1/4294967298", kill_in)
check(r.returncode == 2 and "--shard" in r.stderr, "--shard 1/4294967298: a usage error, not 1/2",
      r.stderr)
empty_in = os.path.join(WORK, "empty_in")
os.makedirs(empty_in)
r1 = run("-w", SMALL, "-q", "-o", os.path.join(WORK, "out_empty"), empty_in)
cv2.imwrite(os.path.join(empty_in, "a.png"), photo(40, 40, 8))
r2 = run("-w", SMALL, "-q", "-o", os.path.join(WORK, "out_empty"), empty_in)
check(r1.returncode == 1 and r2.returncode == 0,
      "a run that found no images leaves no results to refuse the next run for",
      (r1.returncode, r2.returncode, r2.stderr))

def run_peak(name, *args, env=None):
    """The command with SMALL weights, output WORK/name; its own peak RSS in MB, measured by
    GNU time (a child forked from this Python process would carry Python's pages in its
    accounting until exec)."""
    timefile = os.path.join(WORK, "time-" + name + ".txt")
    r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", timefile, BIN, "-w", SMALL, "-o",
                        os.path.join(WORK, name), *args], capture_output=True, text=True, env=env)
    return r, int(open(timefile).read().split()[-1]) / 1024


# ---------------------------------------------------------------- one image that overflows
# The demo model with its first dense layer scaled by 4e37 (F32): some of the example images'
# logits overflow float32, the library refuses a call holding one of them, and the command
# must then fail those images alone, not their batch-mates (it retries in halves): with
# --batch 12 the same inputs fail as with --batch 1, one line each, naming the overflow.
import struct  # noqa: E402


def scaled_weights(src, dst, prefix, scale):
    blob = open(src, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    head = json.loads(blob[8:8 + n])
    meta = head.pop("__metadata__", None)
    dt = {"F32": np.float32, "F16": np.float16}
    out, blobs, off = {}, [], 0
    for k, v in head.items():
        a, b = v["data_offsets"]
        t = np.frombuffer(blob[8 + n + a:8 + n + b], dt[v["dtype"]]).astype(np.float32)
        if k.startswith(prefix):
            t = t * np.float32(scale)
        raw = t.astype("<f4").tobytes()
        out[k] = {"dtype": "F32", "shape": v["shape"], "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    if meta:
        out["__metadata__"] = meta
    h = json.dumps(out).encode()
    h += b" " * (-len(h) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


ovf = os.path.join(WORK, "overflow.safetensors")
scaled_weights(os.path.join(SRC, "models/demo/shapes-vgg.safetensors"), ovf, "classifier.0",
               4e37)
failed = {}
for b in ("1", "12"):
    out = os.path.join(WORK, f"ovf_b{b}")
    r = run("--backend", "cpu", "-q", "-w", ovf, "--batch", b, "-o", out,
            os.path.join(SRC, "examples"))
    res = lines(out) if os.path.exists(os.path.join(out, "results.jsonl")) else []
    failed[b] = sorted(x["input"] for x in res if x["status"] != "ok")
    msgs = [x.get("error", "") for x in res if x["status"] != "ok"]
    check(len(res) == 12 and all("overflowed" in m for m in msgs),
          f"overflow, --batch {b}: 12 lines, each failure names the overflow",
          (r.returncode, len(res), msgs[:2], r.stderr[-300:]))
check(0 < len(failed["1"]) < 12 and failed["12"] == failed["1"],
      "overflow: a batch of 12 fails the same images as batches of 1 (not their batch-mates)",
      failed)

# ---------------------------------------------------------------- many small files
if MANY:
    many = os.path.join(WORK, "many")
    for d in range(10):
        os.makedirs(os.path.join(many, f"d{d}"))
    tiny = [cv2.imencode(".png", photo(24, 32, s))[1].tobytes() for s in range(16)]
    for i in range(MANY):
        with open(os.path.join(many, f"d{i % 10}", f"img{i:05d}.png"), "wb") as f:
            f.write(tiny[i % 16])
    r, rss_mb = run_peak("out_many", "--outputs", "cam", "--batch", "32", "-q", many)
    res = lines(os.path.join(WORK, "out_many"))
    check(r.returncode == 0 and len(res) == MANY and all(x["status"] == "ok" for x in res),
          f"{MANY} small files: one ok line each", (r.returncode, r.stderr[-500:], len(res)))
    check_memory(rss_mb < 300, f"{MANY} small files: peak memory {rss_mb:.0f} MB (< 300 MB)")

# ---------------------------------------------------------------- large photos, bounded memory
# 24 photos of 2000x1500 at --batch 16: without a limit a batch and more of decoded photos
# queue ahead (~200 MB above the libraries here); GRADCAM_HOST_MEMORY_MB=60 keeps the pixels
# and outputs in flight to ~60 MB (one photo with its two outputs is 27 MB), batches running short, every output the
# same. Peak RSS is measured above the same command's on one small image (the libraries);
# 2 decode threads, as each may hold one decoded photo beyond the budget.
big = os.path.join(WORK, "big")
os.makedirs(big)
frame = photo(1500, 2000, 7)
for i in range(24):
    cv2.imwrite(os.path.join(big, f"p{i:02d}.jpg"), np.roll(frame, 37 * i, axis=1),
                [cv2.IMWRITE_JPEG_QUALITY, 80])
one = os.path.join(WORK, "one")
os.makedirs(one)
cv2.imwrite(os.path.join(one, "p.jpg"), photo(48, 64, 1))


def peak_mb(out, folder, budget_mb=None):
    env = dict(os.environ)
    env.pop("GRADCAM_HOST_MEMORY_MB", None)
    if budget_mb:
        env["GRADCAM_HOST_MEMORY_MB"] = str(budget_mb)
    return run_peak(out, "--batch", "16", "--png-level", "0", "--threads", "2", "-q", folder,
                    env=env)


r0, base = peak_mb("mem_one", one)
r1, free_mb = peak_mb("mem_free", big)
r2, held_mb = peak_mb("mem_held", big, 60)
ok_runs = all(r.returncode == 0 for r in (r0, r1, r2))
# the same classes and images; a pixel may take the neighbouring colormap entry (JET's differ
# by up to ~8 per channel) where a photo sat in another batch (the CPU's sums are blocked by
# batch size), at a few pixels
worst, share, same_class = 255, 1.0, False
if ok_runs:
    worst, share = 0, 0.0
    for f in sorted(os.listdir(os.path.join(WORK, "mem_free"))):
        if f.endswith(".png"):
            a = cv2.imread(os.path.join(WORK, "mem_free", f)).astype(int)
            b = cv2.imread(os.path.join(WORK, "mem_held", f)).astype(int)
            d = np.abs(a - b)
            worst, share = max(worst, int(d.max())), max(share, float((d > 0).mean()))
    cls = lambda out: {x["input"]: x["class"] for x in lines(os.path.join(WORK, out))}
    same_class = cls("mem_free") == cls("mem_held") and len(cls("mem_held")) == 24
print(f"  peak RSS: one small image {base:.0f} MB; 24 photos 2000x1500 {free_mb:.0f} MB, "
      f"with GRADCAM_HOST_MEMORY_MB=60 {held_mb:.0f} MB; images differ by at most {worst} "
      f"at {share:.2e} of bytes")
check(ok_runs and same_class and worst <= 8 and share < 1e-3,
      "GRADCAM_HOST_MEMORY_MB=60: every photo ok, the same classes and images",
      [(r.returncode, r.stderr[-300:]) for r in (r0, r1, r2)])
check_memory(held_mb - base < 60 + 60 and free_mb - base > held_mb - base + 100,
      f"the limit bounds the memory: {held_mb - base:.0f} MB above the libraries' with it, "
      f"{free_mb - base:.0f} MB without")

finish()
