#!/usr/bin/env python3
"""gradcam-bench's CUDA modes on the emulated device: every mode and precision runs, exits 0
and writes one JSON line per (mode, precision, batch) with a positive images/s. Timings on
the emulated device mean nothing; this only keeps the benchmark working between GPU runs.

    bench_smoke.py BENCH_BINARY GRADCAM_BINARY WEIGHTS WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

BENCH, CLI, WEIGHTS, WORK = (os.path.abspath(a) for a in sys.argv[1:5])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
modes = ["gpu", "gpu_forward", "gradcam", "forward", "host", "files"]
cmd = [BENCH, "--weights", WEIGHTS, "--backend", "cuda", "--precision", "fp32,bf16",
       "--batch", "2", "--size", "128", "--iters", "1", "--warmup", "0", "--profile-iters", "1",
       "--modes", ",".join(modes), "--files", "8", "--files-dir", os.path.join(WORK, "files"),
       "--image-size", "160x120", "--gradcam-bin", CLI, "--method", "gradcam,guided-gradcam",
       "--jsonl"]
print(" ".join(cmd))
r = subprocess.run(cmd, capture_output=True, text=True, timeout=800, cwd=WORK)
print(r.stderr[-3000:])
failed = 0
if r.returncode != 0:
    print(f"FAIL  exit {r.returncode}")
    failed += 1
rows = []
for line in r.stdout.splitlines():
    line = line.strip()
    if line.startswith("{"):
        try:
            rows.append(json.loads(line))
        except ValueError as e:
            print(f"FAIL  not JSON: {line[:200]} ({e})")
            failed += 1
seen = {row.get("mode") for row in rows}
for row in rows:
    if not row.get("images_per_s", 0) > 0:
        print(f"FAIL  {row.get('mode')} {row.get('precision')}: images_per_s "
              f"{row.get('images_per_s')}")
        failed += 1
# the profiled records of the modes with a forward name every feature layer, timed, and time
# the host's results apart from the cam kernels
for row in rows:
    if row.get("mode") in ("gpu", "gpu_forward", "gradcam", "forward") and row.get("stages_ms"):
        if not row["stages_ms"].get("results", 0) > 0:
            print(f"FAIL  {row.get('mode')} {row.get('precision')}: no results stage "
                  f"{row['stages_ms']}")
            failed += 1
        lay = row.get("layers") or []
        if not lay or any(not (x.get("ms", -1) >= 0) for x in lay) or \
                not any(x.get("tflops", 0) > 0 for x in lay):
            print(f"FAIL  {row.get('mode')} {row.get('precision')}: layer times {lay[:3]}")
            failed += 1
        # the device's steps after the features: the head's first GEMM among them, each
        # timed; the explaining modes also the cam kernels
        steps = {x.get("name"): x.get("ms", -1) for x in row.get("steps") or []}
        want = ["head: dense 0 GEMM"] + (["cam: map"] if row["mode"] in ("gpu", "gradcam")
                                         else [])
        if any(w not in steps for w in want) or any(not (v >= 0) for v in steps.values()):
            print(f"FAIL  {row.get('mode')} {row.get('precision')}: steps {steps}")
            failed += 1
# the files records carry the command's --stats: its stages and what bounds it
for row in rows:
    if row.get("mode") == "files" and row.get("ok"):
        cs = (row.get("files") or {}).get("stats") or {}
        if cs.get("bound") not in ("library", "cpu", "decode", "encode") or \
                not cs.get("images") or not (cs.get("library") or {}).get("busy_s", 0) > 0:
            print(f"FAIL  files {row.get('precision')}: the command's stats {cs}")
            failed += 1
for m in modes:
    if m not in seen:
        print(f"FAIL  no result line for mode {m} (modes seen: {sorted(x for x in seen if x)})")
        failed += 1
print(f"{len(rows)} result lines, modes {sorted(x for x in seen if x)}")
sys.exit(1 if failed else 0)
