#!/usr/bin/env python3
"""The device benchmark's summary (bench/summarize.py) and floor (bench/roofline.py) on the
records of the first H100 run (docs/device-runs/2026-11-26-h100/bench.jsonl) plus records of
the kinds added since (per-layer times, the command's --stats with the kernel's account,
unfused convs, GC_FIRST_CONV), so that the
next GPU run's summary is not the first time this code runs on real records.

    test_bench_summary.py SOURCE_DIR WORK_DIR

Checks: the roofline's VGG16 counts against the hand formula (2*9*C*K*H*W per conv, the first
conv's input padded to 8 channels; pools move their input and output once); the summary keeps
run 1's headline (11,746 img/s, 1.53x tuned PyTorch), tabulates each layer beside its floor,
names the command's bound, and sets unfused runs beside the default.
"""
import json
import os
import subprocess
import sys

SRC, WORK = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "bench"))
import roofline  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import check, finish  # noqa: E402


# the floor's counts, by hand: VGG16 convs (C, K, H) at 224 with the input padded to 8
convs = [(8, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56),
         (256, 256, 56), (256, 256, 56), (256, 512, 28), (512, 512, 28), (512, 512, 28),
         (512, 512, 14), (512, 512, 14), (512, 512, 14)]
want_flops = sum(2 * 9 * c * k * h * h for c, k, h in convs)
lay = roofline.layers(224)
got_flops = sum(x[2] for x in lay)
pools = [x for x in lay if x[1] == "pool"]
check(got_flops == want_flops and len(lay) == 18 and len(pools) == 5 and
      pools[0][3] == 224 * 224 * 64 and pools[0][4] == 112 * 112 * 64,
      f"roofline: {got_flops / 1e9:.2f} GFLOP per image over 13 convs and 5 pools",
      (got_flops, want_flops, pools[0]))

run1 = os.path.join(SRC, "docs/device-runs/2026-11-26-h100/bench.jsonl")
recs = [json.loads(l) for l in open(run1) if l.strip()]
extra = []
for r in recs:
    if r.get("impl") == "ours" and r.get("mode") == "gpu" and r.get("precision") == "bf16" \
            and r.get("batch") == 256 and r.get("stages_ms"):
        r["layers"] = [{"name": n, "kind": k, "ms": 1.0, "tflops": f * 256 / 1e9 if f else 0}
                       for n, k, f, _, _ in lay]
        # a fused first block's phase among the steps belongs to the features, not to the
        # steps after them
        r["steps"] = [{"name": "first block: second conv", "ms": 0.5},
                      {"name": "head: dense 0 GEMM", "ms": 0.25},
                      {"name": "cam: map", "ms": 0.0625}]
        u = dict(r, cudnn_fusion=False, images_per_s=10000.0)
        u.pop("layers")
        u.pop("steps")
        extra.append(u)
        extra.append(dict(u, cudnn_fusion=True, cudnn_rtc=False, batch=32))
        # records since 2026-11-27: fp32 unfused by default (the switch unset: a default
        # record, not the unfused table's), and the first conv the other way (GC_FIRST_CONV)
        extra.append(dict(u, precision="fp32", batch=128, cudnn_fuse_env=None,
                          images_per_s=984.0))
        extra.append(dict(u, cudnn_fusion=True, cudnn_fuse_env=None, first_conv_env="ours",
                          images_per_s=15000.0))
        extra.append(dict(u, cudnn_fusion=True, cudnn_fuse_env=None, first_conv_env="tc",
                          images_per_s=17000.0))
        extra.append(dict(u, cudnn_fusion=True, cudnn_fuse_env=None, first_conv_env=None,
                          first_block_env="fused", images_per_s=18000.0,
                          layers=[dict(l, ms=2.5 if l["name"] == "block1_conv1" else
                                       0.0 if l["name"].startswith("block1_") else l["ms"])
                                  for l in r["layers"]],
                          steps=[{"name": "first block: first conv", "ms": 0.5},
                                 {"name": "first block: second conv", "ms": 1.5},
                                 {"name": "head: dense 0 GEMM", "ms": 0.25}]))
        # the head's GEMMs by cuBLASLt (GC_HEAD_GEMM=lt): a variant, its GEMM steps beside
        # the default's and its choices from autotune_report
        extra.append(dict(u, cudnn_fusion=True, cudnn_fuse_env=None, head_gemm_env="lt",
                          images_per_s=12000.0,
                          steps=[{"name": "head: dense 0 GEMM", "ms": 0.125},
                                 {"name": "backward: dense 0 GEMM", "ms": 0.1}],
                          autotune_report="head GEMM dense 0 forward (m 4096 n 256 k 25088): "
                                          "cuBLASLt — cublasGemmEx 0.2500 ms\n"))
        # GC_CUDNN_FUSE=1 is a variant, not the default (a review found it replacing it);
        # GC_FIRST_CONV=other is no path the backend takes: a default record
        extra.append(dict(u, batch=64, cudnn_fusion=True, cudnn_fuse_env="1",
                          images_per_s=111.0))
        extra.append(dict(u, batch=64, cudnn_fusion=True, cudnn_fuse_env=None,
                          first_conv_env="other", images_per_s=222.0))
        extra.append(dict(u, batch=64, cudnn_fusion=True, cudnn_fuse_env=None,
                          cuda_blocking_sync=True, images_per_s=200.0))
    # the tensor calls' old upload (GC_TENSOR_UPLOAD=whole): a variant beside the default
    if r.get("impl") == "ours" and r.get("mode") == "gradcam" and r.get("precision") == "bf16" \
            and r.get("batch") == 256 and not any(e.get("tensor_upload_env") for e in extra):
        extra.append(dict(r, tensor_upload_env="whole", images_per_s=1799.0))
    if r.get("mode") == "files" and (r.get("files") or {}).get("image_size") == [224, 224]:
        r["files"]["stats"] = {"wall_s": 5.5, "images": 16384, "cpu_s": 40.0, "cores": 16,
                               "cpu_share": 0.45, "bound": "library", "calls": 64,
                               "sys_s": 6.5, "minflt": 123456, "other_cpu_s": 4.0,
                               "machine": {"busy_s": 50.0, "idle_s": 30.0, "iowait_s": 1.5,
                                           "steal_s": 7.25, "psi_cpu_some_s": 2.0,
                                           "psi_io_some_s": 0.5, "psi_io_full_s": 0.25,
                                           "psi_memory_some_s": None},
                               "library": {"threads": 1, "busy_s": 5.2, "busy_share": 0.95,
                                           "cpu_s": 2.1, "sys_s": 0.3, "minflt": 1000,
                                           "nvcsw": 900, "nivcsw": 40},
                               "decode": {"threads": 16, "busy_s": 9.0, "busy_share": 0.1,
                                          "cpu_s": 8.0, "sys_s": 1.0, "minflt": 2000,
                                          "nvcsw": 100, "nivcsw": 300},
                               "encode": {"threads": 16, "busy_s": 30.0, "busy_share": 0.34,
                                          "cpu_s": 12.0, "sys_s": 5.0, "minflt": 90000,
                                          "nvcsw": 50, "nivcsw": 7000}}
        # the same run again (device-bench's files-224x224-again), then with GRADCAM_IO_NICE
        again = json.loads(json.dumps(r))
        again["files"]["steady_images_per_s"] = 4321.0
        extra.append(again)
        nice = json.loads(json.dumps(again))
        nice["files"]["stats"]["io_nice"] = 5
        nice["files"]["steady_images_per_s"] = 8765.0
        extra.append(nice)
        # a nice run that failed (no --stats): apart from the default all the same (a review
        # found it replacing the default's record)
        failed = json.loads(json.dumps(r))
        failed.update(ok=False, error="the command failed (nice5 run)", io_nice=5)
        failed["files"]["stats"] = None
        extra.append(failed)
        block = json.loads(json.dumps(again))
        block["cuda_blocking_sync"] = True
        block["files"]["steady_images_per_s"] = 9876.0
        extra.append(block)
        # the files in memory (tmpfs, the -shm step): a run of its own, said so
        shm = json.loads(json.dumps(again))
        shm["files"]["out_fs"] = "tmpfs"
        shm["files"]["steady_images_per_s"] = 7777.0
        extra.append(shm)
os.makedirs(WORK, exist_ok=True)
path = os.path.join(WORK, "bench.jsonl")
with open(path, "w") as f:
    for r in recs + extra:
        f.write(json.dumps(r) + "\n")
r = subprocess.run([sys.executable, os.path.join(SRC, "bench/summarize.py"), path],
                   capture_output=True, text=True, timeout=120)
out = r.stdout
check(r.returncode == 0 and "11,746" in out and "1.53" in out,
      "summary: run 1's headline (11,746 img/s, 1.53x tuned)", (r.returncode, r.stderr[-800:]))
check("| block1_conv2 | 1.000 |" in out and "| block5_pool | 1.000 | (pool) |" in out and
      "ms ÷ floor" in out and "| block3_conv2 | 1.000 | 947 | 0.957 | 1.04 |" in out,
      "summary: each layer with its TFLOP/s and its floor",
      [l for l in out.splitlines() if "block" in l][:6])
check("**library** holds it back" in out and "busy 95% (64 calls)" in out,
      "summary: the command's bound in files mode",
      [l for l in out.splitlines() if "files" in l][:8])
check("Fusion switched" in out and
      "| gpu | bf16 | 256 | GC_CUDNN_FUSE=0 | 11,746 | 10,000 | 0.851 |" in out,
      "summary: unfused runs beside the default",
      [l for l in out.splitlines() if "nfused" in l or "| gpu | bf16 | 256" in l][:6])
check("encode 30.0 s busy, 12.0 s CPU (sys 5.0), 90,000 faults, preempted 7,000×" in out and
      "library 5.2 s busy, 2.1 s CPU" in out and "other threads" in out and
      "123,456 minor faults" in out,
      "summary: the kernel's account of the command's stages",
      [l for l in out.splitlines() if "faults" in l][:3])
unf = out[out.find("Fusion switched"):out.find("Fusion switched") + 900]
check("| gpu | fp32 | 128 |" not in unf and "| fp32 | 128 | 984 |" in out,
      "summary: a record unfused by default (fp32, switch unset) is a default record",
      unf[:600])
check("The first conv by the path" in out and
      "| gpu | bf16 | 256 | GC_FIRST_CONV=ours | 11,746 | 15,000 | 1.277 |" in out and
      "| gpu | bf16 | 256 | GC_FIRST_CONV=tc | 11,746 | 17,000 | 1.447 |" in out and
      "| gpu | bf16 | 256 | GC_FIRST_BLOCK=fused | 11,746 | 18,000 | 1.532 |" in out and
      "the first block in one kernel, gpu bf16 b256 (profiled): 2.500 ms against 3.000 ms "
      "for block1's three layers in the default run" in out and
      "| first conv | 0.500 | 20% |" in out and "| second conv | 1.500 | 60% |" in out,
      "summary: GC_FIRST_CONV runs beside the default",
      [l for l in out.splitlines() if "first conv" in l or "| gpu | bf16 | 256" in l][:6])
check("0.312 ms in 2 steps" in out and "| head: dense 0 GEMM | 0.250 |" in out and
      "| cam: map | 0.062 |" in out,
      "summary: the steps after the feature layers",
      [l for l in out.splitlines() if "steps" in l or "GEMM" in l][:4])
check("| gpu | bf16 | 256 | 11,746 | 12,000 | 1.022 |" in out and
      "| head: dense 0 GEMM | 0.250 | 0.125 |" in out and
      "| backward: dense 0 GEMM | | 0.100 |" in out and
      "head GEMM dense 0 forward (m 4096 n 256 k 25088): cuBLASLt" in out,
      "summary: GC_HEAD_GEMM=lt beside the default, its GEMM steps and choices",
      [l for l in out.splitlines() if "GEMM" in l or "cuBLASLt" in l][:8])
check("iowait 1.50 s, **steal 7.25 s**; pressure stalls: CPU 2.00 s, I/O 0.50 s (all tasks "
      "0.25 s), memory ?" in out,
      "summary: the files run's machine account (steal, iowait, pressure)",
      [l for l in out.splitlines() if "steal" in l][:2])
check("| gradcam | bf16 | 256 | 3,598 | 1,799 | 0.500 |" in out,
      "summary: GC_TENSOR_UPLOAD=whole beside the default",
      [l for l in out.splitlines() if "| gradcam | bf16 | 256" in l][:4])
files_rows = [l for l in out.splitlines() if l.startswith("| files ≥") and "224" in l]
check(any("steady 4,321" in l and "(runs: " in l and "4,321" in l.split("(runs: ")[1]
          for l in files_rows) and
      any("nice +5" in l and "steady 8,765" in l and "(runs:" not in l for l in files_rows),
      "summary: a files rerun shows every run's steady rate; GRADCAM_IO_NICE runs apart",
      files_rows)
check(any("blocking-sync waits" in l and "steady 9,876" in l for l in files_rows),
      "summary: GC_CUDA_BLOCKING_SYNC files runs apart",
      files_rows)
check(any("files in memory (tmpfs)" in l and "steady 7,777" in l and "(runs:" not in l
          for l in files_rows) and
      not any("steady 4,321" in l and "7,777" in l for l in files_rows),
      "summary: files runs in memory (tmpfs) apart from those on a disk",
      files_rows)
check("| gpu | bf16 | 64 | GC_CUDNN_FUSE=1 | 222 | 111 | 0.500 |" in out,
      "summary: GC_CUDNN_FUSE=1 runs are a variant beside the default",
      [l for l in out.splitlines() if "| 64 |" in l][:6])
check("Blocking-sync waits" in out and "| gpu | bf16 | 64 | 222 | 200 | 0.901 |" in out,
      "summary: GC_CUDA_BLOCKING_SYNC runs beside the default",
      [l for l in out.splitlines() if "| 64 |" in l][:6])
check("**1 of our records ran with GC_CUDNN_RTC=0**" in out,
      "summary: records without runtime-compiled engines are said so",
      [l for l in out.splitlines() if "RTC" in l][:3])
finish()
