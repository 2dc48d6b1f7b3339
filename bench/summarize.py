#!/usr/bin/env python3
"""summarize.py — bench.jsonl (from scripts/device-bench.sh) to a human summary in Markdown:
the issue's targets with their ratios, where the time goes, the full table, failed steps.

    bench/summarize.py OUTDIR/bench.jsonl > OUTDIR/summary.md

Reads JSON lines with "impl": "meta" (machine, versions), "step" (each step of the script:
rc, seconds), "ours" (gradcam-bench --jsonl) and "torch_*" / "pytorch_grad_cam"
(bench/peers/torch_gradcam.py --jsonl). Plain Python 3, no third-party modules.
"""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roofline  # noqa: E402  (bench/roofline.py: the per-layer floor)

TARGET_IPS = 20000.0      # bf16 Grad-CAM, gpu mode, batch 256
TARGET_VS_TUNED = 1.5
TARGET_VS_PKG = 10.0
TARGET_VS_FORWARD = 0.9
TARGET_FP32_VS_EAGER = 1.5
TARGET_FILES_IPS = 8000.0
PREC_ORDER = ["bf16", "fp16", "tf32", "fp32", "auto"]


def load(path):
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"<!-- line {n}: not JSON ({e}) -->")
    return recs


def io_nice(r):
    """GRADCAM_IO_NICE of a files record: the bench's own field (a failed run has no --stats),
    else the command's --stats."""
    return r.get("io_nice", ((r.get("files") or {}).get("stats") or {}).get("io_nice", 0)) or 0


def files_key(r):
    """What tells a files record from another of the same mode, precision and batch."""
    f = r.get("files") or {}
    return (tuple(f.get("image_size") or ()), f.get("format", "png"),
            f.get("workers_per_device", 1), io_nice(r), bool(r.get("cuda_blocking_sync")),
            in_memory(r), bool(r.get("render_pipeline")))


def in_memory(r):
    """Whether a files record's JPEGs and outputs were in memory (tmpfs), not on a disk."""
    return (r.get("files") or {}).get("out_fs") == "tmpfs"


def files_variant(r):
    """The experiments a files record ran with, as words after its description."""
    return ((f", decode/encode threads at nice +{io_nice(r)}" if io_nice(r) else "") +
            (", blocking-sync waits" if r.get("cuda_blocking_sync") else "") +
            (", batches in two overlapped halves" if r.get("render_pipeline") else "") +
            (", files in memory (tmpfs)" if in_memory(r) else ""))


def first_conv_env(r):
    """The first layers' path a record asked for: GC_FIRST_CONV when the backend takes it
    ("ours", "cudnn", "tc"), "block" for GC_FIRST_BLOCK=fused (the first block in one kernel,
    since session 17), else None."""
    if r.get("first_block_env") == "fused":
        return "block"
    v = r.get("first_conv_env", "cudnn" if r.get("first_conv") == "cudnn" else None)
    return v if v in ("ours", "cudnn", "tc") else None


def first_conv_label(r):
    """The switch behind first_conv_env(r), as a table names it."""
    v = first_conv_env(r)
    return "GC_FIRST_BLOCK=fused" if v == "block" else f"GC_FIRST_CONV={v}"


def fuse_env(r):
    """GC_CUDNN_FUSE of a record ("0": every conv unfused, other: every one fused), else None."""
    v = r.get("cudnn_fuse_env", "0" if r.get("cudnn_fusion") is False else None)
    return v or None


class Index:
    def __init__(self, recs):
        self.recs = recs
        self.by = {}
        self.methods = {}  # the other CAM methods: (impl, mode, prec, batch, method) -> record
        self.tuned = {}  # options.autotune runs (gradcam-bench --autotune): key as self.by
        self.graphs = {}  # GC_CUDA_GRAPHS runs (require since session 9): key as self.by
        self.unfused = {}  # GC_CUDNN_FUSE=0 runs: key as self.by
        self.first_conv = {}  # GC_FIRST_CONV runs (the other path of the first conv): key as self.by
        self.blocking = {}  # GC_CUDA_BLOCKING_SYNC=1 runs but the command's: key as self.by
        self.split = {}  # GC_RENDER_PIPELINE=1 runs but the command's: key as self.by
        self.small = {}  # calls smaller than max_batch (--context-batch): + GC_BATCH_PLANS
        self.head_lt = {}  # GC_HEAD_GEMM=lt runs (the head's GEMMs by cuBLASLt): key as self.by
        self.tensor_whole = {}  # GC_TENSOR_UPLOAD=whole runs (the tensor calls' old upload)
        for r in recs:
            if r.get("impl") in ("meta", "step", "gpu_util"):
                continue
            if r.get("head_gemm_env") == "lt":
                self.head_lt[(r.get("impl"), r.get("mode"), r.get("precision"),
                              r.get("batch"))] = r
                continue
            if r.get("tensor_upload_env") == "whole":
                self.tensor_whole[(r.get("impl"), r.get("mode"), r.get("precision"),
                                   r.get("batch"))] = r
                continue
            # GC_FIRST_CONV=ours|cudnn|tc, the values the backend takes (records of 2026-11-27's
            # calls 3-4 carry first_conv: "cudnn"); keyed by the value too, as a run may hold
            # two of them
            if first_conv_env(r):
                self.first_conv[(r.get("impl"), r.get("mode"), r.get("precision"),
                                 r.get("batch"), first_conv_env(r))] = r
                continue
            # GC_CUDNN_FUSE=0 or =1 (records before 2026-11-27 carry only cudnn_fusion: false)
            if fuse_env(r):
                self.unfused[(r.get("impl"), r.get("mode"), r.get("precision"),
                              r.get("batch"))] = r
                continue
            if r.get("context_batch"):
                self.small[(r.get("impl"), r.get("mode"), r.get("precision"), r.get("batch"),
                            r.get("context_batch"), r.get("batch_plans") or "auto")] = r
                continue
            files = r.get("files") or {}
            if r.get("render_pipeline") is True and not files:
                self.split[(r.get("impl"), r.get("mode"), r.get("precision"),
                            r.get("batch"))] = r
                continue
            if r.get("cuda_blocking_sync") is True and not files:
                self.blocking[(r.get("impl"), r.get("mode"), r.get("precision"),
                               r.get("batch"))] = r
                continue
            if r.get("cuda_graphs") is True:
                self.graphs[(r.get("impl"), r.get("mode"), r.get("precision"),
                             r.get("batch"))] = r
                continue
            if r.get("autotune") is True:
                self.tuned[(r.get("impl"), r.get("mode"), r.get("precision"),
                            r.get("batch"))] = r
                continue
            if r.get("method") not in (None, "gradcam"):
                self.methods[(r.get("impl"), r.get("mode"), r.get("precision"), r.get("batch"),
                              r.get("method"))] = r
                continue
            key = (r.get("impl"), r.get("mode"), r.get("precision"), r.get("batch"))
            if files:
                key = key + files_key(r)
            # a later record (a rerun) replaces an earlier one, but not one that ran with
            # runtime-compiled engines by one without (GC_CUDNN_RTC=0, a slow device check)
            old = self.by.get(key)
            if old and old.get("cudnn_rtc") is not False and r.get("cudnn_rtc") is False:
                continue
            if old and old.get("ok") and not r.get("ok"):  # a failed rerun hides no measure
                continue
            if files and old and old.get("ok") and r.get("ok"):  # a rerun: both steady rates
                r = dict(r, steady_runs=old.get("steady_runs",
                                                [(old.get("files") or {}).get("steady_images_per_s")])
                         + [files.get("steady_images_per_s")])
            self.by[key] = r

    def get(self, impl, mode, prec, batch, image_size=None):
        key = (impl, mode, prec, batch) + ((tuple(image_size),) if image_size else ())
        r = self.by.get(key)
        return r if r and r.get("ok") else None

    def ips(self, impl, mode, prec, batch):
        r = self.get(impl, mode, prec, batch)
        return r.get("images_per_s") if r else None

    def error(self, impl, mode, prec, batch):
        r = self.by.get((impl, mode, prec, batch))
        return r.get("error") if r and not r.get("ok") else None

    def values(self, field):
        return sorted({r.get(field) for r in self.by.values() if r.get(field) is not None},
                      key=lambda v: (PREC_ORDER.index(v) if v in PREC_ORDER else 99, v)
                      if isinstance(v, str) else v)


def fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return f"{float(v):,.{digits}f}"
    return str(v)


def ratio(a, b):
    return a / b if a and b else None


def verdict(value, target):
    if value is None:
        return "not measured"
    return "met" if value >= target else "**NOT met**"


def gpu_util(recs, t0, t1):
    """Mean and median GPU utilization (%) of the samples within [t0, t1], or None."""
    vals = [r["util"] for r in recs if r.get("impl") == "gpu_util" and t0 <= r["t"] <= t1]
    if not vals:
        return None
    vals.sort()
    return sum(vals) / len(vals), vals[len(vals) // 2], len(vals)


METHOD_ORDER = ["gradcam++", "xgradcam", "layercam", "hirescam", "guided-backprop",
                "guided-gradcam"]


def method_table(ix, p):
    """Per CAM method (the `methods` step): ours beside our Grad-CAM, pytorch-grad-cam's same
    method and the tuned PyTorch peer's, at each precision and batch measured."""
    settings = sorted({(k[2], k[3]) for k in ix.methods},
                      key=lambda pb: (PREC_ORDER.index(pb[0]) if pb[0] in PREC_ORDER else 99,
                                      -(pb[1] or 0)))
    if not settings:
        return
    p("## Other CAM methods (images/s; ours = `gpu` mode, else the host-tensor `gradcam` mode)\n")
    p("Guided methods: Grad-CAM's cam plus the guided-backprop gradient to the input, fetched "
      "for every image (ours: gc_tensor_get); pytorch-grad-cam's GuidedBackpropReLUModel takes "
      "one image per call (looped over the batch).\n")
    p("| method | precision | batch | ours | ours ÷ our Grad-CAM | pytorch-grad-cam | "
      "ours ÷ pytorch-grad-cam | tuned PyTorch | ours ÷ tuned |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    get = lambda impl, mode, pr, b, m: (lambda r: r if r and r.get("ok") else None)(
        ix.methods.get((impl, mode, pr, b, m)))
    methods = sorted({k[4] for k in ix.methods},
                     key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else 99)
    for pr, b in settings:
        for m in methods:
            mode = "gpu" if get("ours", "gpu", pr, b, m) else "gradcam"
            o = get("ours", mode, pr, b, m)
            base = ix.get("ours", mode, pr, b)
            pkg = get("pytorch_grad_cam", "grad_cam_pkg", pr, b, m)
            tun = get("torch_tuned_split", "tuned_split", pr, b, m)
            if not any((o, pkg, tun)) and not any(
                    k[:4] == (i, md, pr, b) for k in ix.methods for i, md in (
                        ("ours", "gpu"), ("ours", "gradcam"))):
                continue
            ips = lambda r: r.get("images_per_s") if r else None
            err = None
            if not o:
                r = ix.methods.get(("ours", "gpu", pr, b, m)) or \
                    ix.methods.get(("ours", "gradcam", pr, b, m))
                err = (r or {}).get("error")
            ours_s = fmt(ips(o), 0) if o else (f"failed: {err[:80]}" if err else "—")
            how = ""
            if tun is not None:
                how = " (graph)" if tun.get("cuda_graph") else " (eager)"
            p(f"| {m} | {pr} | {b} | {ours_s} | {fmt(ratio(ips(o), ips(base)), 2)} | "
              f"{fmt(ips(pkg), 0)} | {fmt(ratio(ips(o), ips(pkg)), 1)} | "
              f"{fmt(ips(tun), 0)}{how} | {fmt(ratio(ips(o), ips(tun)), 2)} |")
    p("")


def autotune_table(ix, p):
    """Autotuned (options.autotune) against default cuDNN plans, side by side, and the
    per-layer choices of the first autotuned run."""
    if not ix.tuned:
        return
    p("## cuDNN autotuning (options.autotune; `gradcam-bench --autotune`)\n")
    p("| mode | precision | batch | default img/s | autotuned img/s | autotuned ÷ default | "
      "context creation default / autotuned (s) |")
    p("|---|---|---:|---:|---:|---:|---:|")
    for key in sorted(ix.tuned, key=lambda k: (str(k[1]), PREC_ORDER.index(k[2])
                                               if k[2] in PREC_ORDER else 99, -(k[3] or 0))):
        t = ix.tuned[key]
        d = ix.by.get(key)
        d_ok = d if d and d.get("ok") else None
        t_ips = t.get("images_per_s") if t.get("ok") else None
        d_ips = d_ok.get("images_per_s") if d_ok else None
        t_s = fmt(t_ips, 0) if t.get("ok") else f"failed: {(t.get('error') or '')[:80]}"
        cms = lambda r: fmt(r.get("context_ms") / 1e3, 1) if r and r.get("context_ms") else "—"
        p(f"| {key[1]} | {key[2]} | {key[3]} | {fmt(d_ips, 0)} | {t_s} | "
          f"{fmt(ratio(t_ips, d_ips), 3)} | {cms(d)} / {cms(t)} |")
    rep = next((r.get("autotune_report") for r in ix.tuned.values()
                if r.get("autotune_report")), None)
    if rep:
        p("\nEngines chosen per conv plan (gc_autotune_report of the first autotuned context):\n")
        p("```")
        p(rep.rstrip("\n"))
        p("```")
    p("")


FIRST_BLOCK_STEP = "first block: "  # the fused block's phases among a record's steps


def head_gemm_lines(ix, p):
    """GC_HEAD_GEMM=lt's runs: the GEMM steps beside the same run's default (profiled), and
    what the creation's timing chose (the records' autotune_report)."""
    for key, r in sorted(ix.head_lt.items(), key=lambda kv: str(kv[0])):
        if not r.get("ok"):
            continue
        d = ix.by.get(key) or {}
        mine = {x["name"]: x["ms"] for x in r.get("steps") or [] if "GEMM" in x["name"]}
        dflt = {x["name"]: x["ms"] for x in d.get("steps") or [] if "GEMM" in x["name"]}
        if mine:
            p(f"The GEMM steps of {key[1]} {key[2]} b{key[3]} (profiled, ms):\n")
            p("| step | default (cublasGemmEx) | GC_HEAD_GEMM=lt |")
            p("|---|---:|---:|")
            for name, ms in mine.items():
                p(f"| {name} | {dflt[name]:.3f} | {ms:.3f} |" if name in dflt else
                  f"| {name} | | {ms:.3f} |")
            p("")
        rep = [l for l in (r.get("autotune_report") or "").splitlines() if "head GEMM" in l]
        if rep:
            p("```")
            p("\n".join(rep))
            p("```\n")


def first_block_lines(ix, p):
    """The first block in one kernel (GC_FIRST_BLOCK=fused) against the same run's default,
    layer by layer: its kernel's time is profiled as the block's first conv's."""
    for key, r in sorted(ix.first_conv.items(), key=lambda kv: str(kv[0])):
        if key[4] != "block" or not r.get("ok") or not r.get("layers"):
            continue
        d = ix.by.get(key[:4])
        fused = sum(x["ms"] for x in r["layers"] if x["name"].startswith("block1_"))
        dflt = sum(x["ms"] for x in (d or {}).get("layers") or []
                   if x["name"].startswith("block1_"))
        p(f"- the first block in one kernel, {key[1]} {key[2]} b{key[3]} (profiled): "
          f"{fused:.3f} ms" + (f" against {dflt:.3f} ms for block1's three layers in the "
                               f"default run" if dflt else "") + "\n")
        # where its time goes: its warps' cycles per phase (clock64 in the profiled pass's
        # kernel), as shares of its time
        phases = [x for x in r.get("steps") or [] if x["name"].startswith(FIRST_BLOCK_STEP)]
        if phases:
            p("| phase of the fused first block (warps' cycles) | ms | share |")
            p("|---|---:|---:|")
            for x in phases:
                p(f"| {x['name'][len(FIRST_BLOCK_STEP):]} | {x['ms']:.3f} | "
                  f"{100 * x['ms'] / fused if fused else 0:.0f}% |")
            p("")


def variant_table(ix, p, runs, title, name, label=None):
    """A variant's runs (CUDA graph replay, unfused convs) against the default, side by side;
    label(record), when given, names each row's variant in a column of its own."""
    if not runs:
        return
    p(f"## {title}\n")
    col = " | variant" if label else ""
    p(f"| mode | precision | batch{col} | default img/s | {name} img/s | {name} ÷ default |")
    p("|---|---|---:|" + ("---|" if label else "") + "---:|---:|---:|")
    for key in sorted(runs, key=lambda k: (str(k[1]), PREC_ORDER.index(k[2])
                                           if k[2] in PREC_ORDER else 99, -(k[3] or 0))):
        g = runs[key]
        d = ix.by.get(key[:4])  # a variant's key may name the variant after the four
        g_ips = g.get("images_per_s") if g.get("ok") else None
        d_ips = d.get("images_per_s") if d and d.get("ok") else None
        g_s = fmt(g_ips, 0) if g.get("ok") else f"failed: {(g.get('error') or '')[:80]}"
        lab = f" | {label(g)}" if label else ""
        p(f"| {key[1]} | {key[2]} | {key[3]}{lab} | {fmt(d_ips, 0)} | {g_s} | "
          f"{fmt(ratio(g_ips, d_ips), 3)} |")
    p("")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: summarize.py bench.jsonl")
    recs = load(sys.argv[1])
    ix = Index(recs)
    meta = next((r for r in recs if r.get("impl") == "meta"), {})
    steps = [r for r in recs if r.get("impl") == "step"]
    out = []
    p = out.append

    smoke = meta.get("smoke")
    p(f"# Grad-CAM benchmark{' — CPU SMOKE TEST (not GPU numbers)' if smoke else ''}\n")
    smi = meta.get("nvidia_smi") or {}
    p(f"- date (UTC): {meta.get('date', '?')}; commit `{meta.get('commit', '?')}`")
    p(f"- GPU: {smi.get('name', 'none')}; driver {smi.get('driver_version', '?')}; "
      f"memory {smi.get('memory.total', '?')}; max SM clock {smi.get('clocks.max.sm', '?')}; "
      f"power limit {smi.get('power.limit', '?')}")
    p(f"- CUDA (nvcc) {meta.get('nvcc', '?')}; cuDNN {meta.get('cudnn', '?')}; "
      f"torch {meta.get('torch', '?')}; pytorch-grad-cam {meta.get('grad_cam', 'not installed')}")
    p(f"- host: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores; weights: "
      f"{meta.get('weights', '?')}")
    if meta.get("data_fs"):
        p(f"- files steps write to: {meta['data_fs']}")
    ours_any = next((r for r in recs if r.get("impl") == "ours" and r.get("gpu")), None)
    if ours_any and isinstance(ours_any.get("gpu"), dict):
        g = ours_any["gpu"]
        p(f"- as the bench saw it: {g.get('name')} cc {g.get('cc', '?')}, "
          f"{g.get('sms', '?')} SMs, CUDA driver API {g.get('cuda_driver', '?')}, runtime "
          f"{g.get('cuda_runtime', '?')}, cuDNN {g.get('cudnn', '?')}; peak table row: "
          f"{g.get('peak_row') or 'unknown GPU: no % of peak'}")
    no_rtc = [r for r in recs if r.get("impl") == "ours" and r.get("cudnn_rtc") is False]
    if no_rtc:
        p(f"- **{len(no_rtc)} of our records ran with GC_CUDNN_RTC=0** (no runtime-compiled "
          f"cuDNN engines: the device check sets it when plans build slowly); a conv that only "
          f"such an engine fuses ran unfused there")
    p("")

    # ------------------------------------------------------------ headline choice
    precs = ix.values("precision")
    batches = [b for b in ix.values("batch") if isinstance(b, int)]
    ours_gpu = lambda pr, b: ix.get("ours", "gpu", pr, b)
    # the headline: bf16, batch 256, gpu mode; else the largest measured batch
    head_b = 256 if 256 in batches else (max(batches) if batches else None)
    # bf16 (the issue's), else the first precision that ours measured at that batch
    ok_p = [pr for pr in precs if ours_gpu(pr, head_b) or ix.get("ours", "gradcam", pr, head_b)]
    head_p = "bf16" if "bf16" in ok_p or not ok_p and "bf16" in precs else \
        (ok_p[0] if ok_p else (precs[0] if precs else None))
    ours_mode = "gpu"
    if head_b is not None and not ours_gpu(head_p, head_b):
        if ix.get("ours", "gradcam", head_p, head_b):
            ours_mode = "gradcam"  # no device-pointer mode measured: the host-tensor call
    p(f"## Targets (VGG16 224×224; headline: {head_p}, batch {head_b}, ours = `{ours_mode}` "
      f"mode)\n")
    p("| target | measured | ratio / rate | verdict |")
    p("|---|---|---:|---|")
    o = ix.get("ours", ours_mode, head_p, head_b)
    o_ips = o.get("images_per_s") if o else None
    pct = o.get("pct_peak") if o else None
    p(f"| ≥ {TARGET_IPS:,.0f} img/s ({head_p}, `{ours_mode}`) | {fmt(o_ips)} img/s, "
      f"{fmt(o.get('tflops') if o else None, 1)} TFLOP/s | "
      f"{fmt(pct, 1) + '% of peak' if pct is not None else 'no peak for this GPU'} | "
      f"{verdict(o_ips, TARGET_IPS)} |")
    # the tuned peer: the faster of the CUDA-graph and the torch.compile variants
    t_graph = ix.get("torch_tuned_split", "tuned_split", head_p, head_b)
    t_comp = ix.get("torch_tuned_compile", "tuned_compile", head_p, head_b)
    best = max([t for t in (t_graph, t_comp) if t], key=lambda t: t["images_per_s"],
               default=None)
    tuned = best["images_per_s"] if best else None
    how = ("torch.compile" if best is t_comp else
           "CUDA graph" if best.get("cuda_graph") else "eager") if best else ""
    r = ratio(o_ips, tuned)
    p(f"| ≥ {TARGET_VS_TUNED}× tuned PyTorch (best of tuned_split with a CUDA graph and "
      f"torch.compile) | {fmt(tuned)} img/s ({how}) | {fmt(r, 2)}× | "
      f"{verdict(r, TARGET_VS_TUNED)} |")
    pkg = ix.ips("pytorch_grad_cam", "grad_cam_pkg", head_p, head_b)
    hooks = ix.ips("torch_hooks", "hook_backward", head_p, head_b)
    r = ratio(o_ips, pkg)
    p(f"| ≥ {TARGET_VS_PKG:.0f}× pytorch-grad-cam (the package) | {fmt(pkg)} img/s | "
      f"{fmt(r, 1)}× | {verdict(r, TARGET_VS_PKG)} |")
    r = ratio(o_ips, hooks)
    p(f"| ≥ {TARGET_VS_PKG:.0f}× pytorch-grad-cam approach (hooks + backward, written out) | "
      f"{fmt(hooks)} img/s | {fmt(r, 1)}× | {verdict(r, TARGET_VS_PKG)} |")
    # both from device memory when measured (gc_explain_device / gc_predict_device), else
    # both from a host tensor (gc_explain_tensor / gc_predict_tensor)
    gc_t = ix.ips("ours", "gpu", head_p, head_b)
    fw_t = ix.ips("ours", "gpu_forward", head_p, head_b)
    how = "both from device memory: gc_explain_device / gc_predict_device"
    if gc_t is None or fw_t is None:
        gc_t = ix.ips("ours", "gradcam", head_p, head_b)
        fw_t = ix.ips("ours", "forward", head_p, head_b)
        how = "both from a host tensor: gc_explain_tensor / gc_predict_tensor"
    r = ratio(gc_t, fw_t)
    p(f"| Grad-CAM ≥ {TARGET_VS_FORWARD}× our forward ({how}) | {fmt(gc_t)} vs {fmt(fw_t)} "
      f"img/s | {fmt(r, 3)}× | {verdict(r, TARGET_VS_FORWARD)} |")
    o32 = ix.get("ours", ours_mode, "fp32", head_b)
    e32 = ix.ips("torch_hooks", "hook_backward", "fp32", head_b)
    r = ratio(o32.get("images_per_s") if o32 else None, e32)
    p(f"| fp32 ≥ {TARGET_FP32_VS_EAGER}× PyTorch eager fp32 Grad-CAM (hooks) | "
      f"{fmt(o32.get('images_per_s') if o32 else None)} vs {fmt(e32)} img/s | {fmt(r, 2)}× | "
      f"{verdict(r, TARGET_FP32_VS_EAGER)} |")
    files = [r for r in ix.by.values() if r.get("impl") == "ours" and r.get("mode") == "files"]
    for fr in sorted(files, key=files_key):
        f = fr.get("files") or {}
        size = "×".join(str(v) for v in f.get("image_size") or ())
        fmt_out = f.get("format", "png").upper() + "s"
        if f.get("workers_per_device", 1) > 1:
            fmt_out += f", {f['workers_per_device']} workers per GPU"
        fmt_out += files_variant(fr)
        util = None
        if fr.get("ok") and f.get("run_epoch_s"):
            util = gpu_util(recs, *f["run_epoch_s"])
        util_s = f"; GPU busy {util[0]:.0f}% mean, {util[1]:.0f}% median ({util[2]} samples)" \
            if util else ""
        runs = [v for v in fr.get("steady_runs") or [] if v is not None]
        runs_s = (" (runs: " + ", ".join(fmt(v) for v in runs) + ")") if len(runs) > 1 else ""
        if fr.get("ok"):
            p(f"| files ≥ {TARGET_FILES_IPS:,.0f} img/s ({f.get('images')} JPEGs {size} → "
              f"overlay {fmt_out}, {fr['precision']}, batch {fr['batch']}) | "
              f"{fmt(fr.get('images_per_s'))} img/s wall incl. start-up "
              f"{fmt(f.get('startup_s'), 2)} s{util_s} | steady {fmt(f.get('steady_images_per_s'))} "
              f"img/s{runs_s} | {verdict(f.get('steady_images_per_s'), TARGET_FILES_IPS)} (steady) |")
        else:
            p(f"| files ({size}, {fmt_out}) | failed: {fr.get('error')} | | not measured |")
    if not files:
        p(f"| files ≥ {TARGET_FILES_IPS:,.0f} img/s | not run | | not measured |")
    p("")

    # ------------------------------------------------------------ where the time goes
    p("## Where the time goes (ours, profiled pass: options.profile = 1, synchronizing)\n")
    any_stage = False
    for pr in precs:
        for b in batches:
            for mode in ("gpu", "gradcam", "host"):
                r = ix.get("ours", mode, pr, b)
                st = (r or {}).get("stages_ms")
                if not st or b != head_b:
                    continue
                any_stage = True
                parts = {k: v for k, v in st.items() if k != "total" and v}
                top = max(parts, key=parts.get) if parts else None
                p(f"- {pr} b{b} `{mode}`: total {st.get('total', 0):.2f} ms — " +
                  ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) +
                  (f"; largest: **{top}** ({100 * parts[top] / st['total']:.0f}%)"
                   if top and st.get("total") else "") +
                  (f"; device memory {r['device_bytes'] / 2**20:.0f} MiB (context), "
                   f"{r['device_used_bytes'] / 2**20:.0f} MiB in use"
                   if r.get("device_bytes") and r.get("device_used_bytes", -1) >= 0 else ""))
            h = ix.get("ours", "host", pr, b)
            if h and b == head_b:
                any_stage = True
                p(f"- {pr} b{b} `host`: gc_explain {h.get('explain_ms', 0):.2f} ms + render "
                  f"{h.get('render_ms', 0):.2f} ms on {h.get('render_threads')} threads "
                  f"(timed pass) = {h.get('images_per_s', 0):,.0f} img/s")
    if not any_stage:
        p("- no profiled records (the profiled pass failed or was not run)")
    if o and o.get("layers"):
        lay = o["layers"]
        conv = [x for x in lay if x.get("kind") == "conv"]
        pools = [x for x in lay if x.get("kind") == "pool"]
        total = sum(x["ms"] for x in lay)
        p(f"\nEach feature layer of `{o.get('mode')}` mode, {o.get('precision')} b{head_b} "
          f"({'CUDA events between the layers' if o.get('backend') == 'cuda' else 'wall clock'}"
          f", profiled pass): convs {sum(x['ms'] for x in conv):.2f} ms, "
          f"pools {sum(x['ms'] for x in pools):.2f} ms of {total:.2f}\n")
        # VGG16 at 224 in a 2-byte type: each layer beside its floor at the H100 SXM's peaks
        floor = {}
        if o.get("precision") in ("bf16", "fp16") and o.get("size", 224) == 224:
            for name, kind, flops, n_in, n_out in roofline.layers(224):
                floor[name] = 1e3 * max(flops * head_b / 989.4e12,
                                        (n_in + n_out) * head_b * 2 / 3.35e12)
        p("| layer | ms | TFLOP/s | floor at the peaks (ms, bench/roofline.py) | ms ÷ floor |")
        p("|---|---:|---:|---:|---:|")
        for x in lay:
            fl = floor.get(x["name"])
            tail = f" {fl:.3f} | {x['ms'] / fl:.2f} |" if fl else " | |"
            p((f"| {x['name']} | {x['ms']:.3f} | {x.get('tflops', 0):.3g} |"
               if x.get("kind") == "conv" else
               f"| {x['name']} | {x['ms']:.3f} | ({x.get('kind')}) |") + tail)
    steps = [x for x in (o or {}).get("steps") or []
             if not x["name"].startswith(FIRST_BLOCK_STEP)]  # those are in the features
    if steps:
        p(f"\nAfter the feature layers, `{o.get('mode')}` mode, {o.get('precision')} b{head_b} "
          f"(CUDA events between the steps, profiled pass): {sum(x['ms'] for x in steps):.3f} "
          f"ms in {len(steps)} steps\n")
        p("| step | ms |")
        p("|---|---:|")
        for x in steps:
            p(f"| {x['name']} | {x['ms']:.3f} |")
    misses = []
    if o and o_ips is not None and o_ips < TARGET_IPS and o.get("stages_ms"):
        st = o["stages_ms"]
        feat = st.get("features") or 0
        if feat and o.get("flops_per_image"):
            conv_tf = o["flops_per_image"] * head_b / (feat * 1e-3) * 1e-12
            misses.append(f"throughput: the feature layers take {feat:.2f} of "
                          f"{st.get('total', 0):.2f} ms ({conv_tf:.0f} TFLOP/s over them, "
                          f"pools included, profiled)")
            lay = [x for x in o.get("layers") or [] if x.get("kind") == "conv"]
            if lay:
                slow = min(lay, key=lambda x: x.get("tflops", 0))
                p_ms = sum(x["ms"] for x in o["layers"] if x.get("kind") == "pool")
                misses.append(f"the convs alone: {sum(x['ms'] for x in lay):.2f} ms; slowest "
                              f"per FLOP {slow['name']} at {slow['tflops']:.0f} TFLOP/s; the "
                              f"pools {p_ms:.2f} ms")
    if gc_t and fw_t and gc_t / fw_t < TARGET_VS_FORWARD and o and o.get("stages_ms"):
        st = o["stages_ms"]
        misses.append(f"Grad-CAM vs forward: backward {st.get('backward', 0):.2f} ms + cam "
                      f"{st.get('cam', 0):.2f} ms + download {st.get('download', 0):.2f} ms "
                      f"+ host results {st.get('results', 0):.2f} ms per batch on top of "
                      f"features + head")
    for fr in files:
        f = fr.get("files") or {}
        st = f.get("steady_images_per_s")
        cs = f.get("stats") or {}
        var = files_variant(fr)
        if fr.get("ok") and st is not None and st < TARGET_FILES_IPS and cs:
            share = lambda k: 100 * ((cs.get(k) or {}).get("busy_share") or 0)
            misses.append(
                f"files {f.get('image_size')} ({f.get('format', 'png')}, "
                f"{f.get('workers_per_device', 1)} context(s) per GPU{var}): the command's --stats "
                f"say **{cs.get('bound')}** holds it back — library calls busy "
                f"{share('library'):.0f}% ({cs.get('calls')} calls), decode {share('decode'):.0f}%"
                f", encode {share('encode'):.0f}% of their threads, CPU "
                f"{100 * (cs.get('cpu_share') or 0):.0f}% of {cs.get('cores')} cores")
            if all("cpu_s" in (cs.get(k) or {}) for k in ("decode", "library", "encode")):
                # the kernel's account (since 2026-11-27): busy far above CPU = off the CPU
                def acct(k):
                    x = cs[k]
                    return (f"{k} {x['busy_s']:.1f} s busy, {x['cpu_s']:.1f} s CPU (sys "
                            f"{x['sys_s']:.1f}), {x['minflt']:,} faults, preempted "
                            f"{x['nivcsw']:,}×")
                misses.append(
                    f"files {f.get('image_size')} ({f.get('workers_per_device', 1)} "
                    f"context(s){var}), the stages' threads: {acct('decode')}; {acct('library')}; "
                    f"{acct('encode')}; other threads (the library's OpenMP, the CUDA runtime's) "
                    f"{cs.get('other_cpu_s', 0):.1f} s CPU; the process {cs.get('sys_s', 0):.1f} "
                    f"s in the kernel, {cs.get('minflt', 0):,} minor faults")
            mach = cs.get("machine") or {}
            if any(mach.get(k) is not None for k in mach):
                # the whole machine (since session 20): CPU time the hypervisor took (steal),
                # I/O waits, and every task's pressure stalls over the run's wall time
                def sec(k):
                    v = mach.get(k)
                    return "?" if v is None else f"{v:.2f} s"
                misses.append(
                    f"files {f.get('image_size')} ({f.get('workers_per_device', 1)} "
                    f"context(s){var}), the machine over the run's {cs.get('wall_s', 0):.2f} s "
                    f"on {cs.get('cores')} cores: busy {sec('busy_s')}, idle {sec('idle_s')}, "
                    f"iowait {sec('iowait_s')}, **steal {sec('steal_s')}**; pressure stalls: "
                    f"CPU {sec('psi_cpu_some_s')}, I/O {sec('psi_io_some_s')} (all tasks "
                    f"{sec('psi_io_full_s')}), memory {sec('psi_memory_some_s')}")
        if fr.get("ok") and st is not None and st < TARGET_FILES_IPS:
            hb = ix.get("ours", "host", fr["precision"], fr["batch"])
            lb = ix.get("ours", "host_lib", fr["precision"], fr["batch"])
            gb = ix.get("ours", "gpu", fr["precision"], fr["batch"])
            misses.append(
                f"files {f.get('image_size')}: steady {st:,.0f} img/s; the library alone "
                f"(gpu mode) {fmt(gb.get('images_per_s') if gb else None, 0)} img/s, "
                f"gc_explain_render on 500×375 uint8 (host_lib: what the command calls on the "
                f"GPU) {fmt(lb.get('images_per_s') if lb else None, 0)} img/s, host mode "
                f"(gc_explain + render on all cores) "
                f"{fmt(hb.get('images_per_s') if hb else None, 0)} img/s: the lowest of the "
                f"first two bounds the command; the rest is decode + encode (see GPU busy above)")
    if misses:
        p("\nWhat holds the missed targets back:\n")
        for m in misses:
            p(f"- {m}")
    p("")

    # ------------------------------------------------------------ the full table
    p("## All measurements (images/s; median of timed batches after warm-up)\n")
    cols = [("ours", "gpu", "ours gpu"), ("ours", "gradcam", "ours tensor"),
            ("ours", "forward", "ours fwd"), ("ours", "gpu_forward", "ours gpu fwd"), ("ours", "host", "ours host"), ("ours", "host_lib", "ours host_lib"),
            ("torch_tuned_split", "tuned_split", "torch tuned"),
            ("torch_tuned_compile", "tuned_compile", "torch compiled"),
            ("torch_hooks", "hook_backward", "torch hooks"),
            ("pytorch_grad_cam", "grad_cam_pkg", "pytorch-grad-cam"),
            ("torch_forward", "forward", "torch fwd"), ("torch_forward_cl", "forward_cl",
                                                         "torch fwd cl")]
    p("| precision | batch | " + " | ".join(c[2] for c in cols) +
      " | ours gpu % peak | ours gpu / best tuned | ours gpu / pytorch-grad-cam |")
    p("|---|---:|" + "---:|" * (len(cols) + 3))
    for pr in precs:
        for b in batches:
            vals = [ix.ips(i, m, pr, b) for i, m, _ in cols]
            if not any(vals):
                continue
            g = ix.get("ours", "gpu", pr, b)
            col = {c[2]: x for c, x in zip(cols, vals)}  # by column name, not position
            best = max(col["torch tuned"] or 0, col["torch compiled"] or 0) or None
            p(f"| {pr} | {b} | " + " | ".join(fmt(v, 0) for v in vals) +
              f" | {fmt(g.get('pct_peak') if g else None, 1)} | "
              f"{fmt(ratio(col['ours gpu'], best), 2)} | "
              f"{fmt(ratio(col['ours gpu'], col['pytorch-grad-cam']), 1)} |")
    p("")

    # ------------------------------------------------------------ autotuned plans
    autotune_table(ix, p)
    variant_table(ix, p, ix.graphs, "CUDA graphs (`GC_CUDA_GRAPHS`)", "graphs")
    variant_table(ix, p, ix.unfused, "Fusion switched (`GC_CUDNN_FUSE`: 0 = every conv unfused, "
                  "the conv then our bias + ReLU kernel; 1 = every conv fused; the default fuses "
                  "but in fp32 since 2026-11-27)", "switched",
                  lambda r: f"GC_CUDNN_FUSE={fuse_env(r)}")
    variant_table(ix, p, ix.blocking, "Blocking-sync waits (`GC_CUDA_BLOCKING_SYNC=1`: a "
                  "batch's waits sleep instead of spinning a core)", "blocking")
    variant_table(ix, p, ix.head_lt, "The head's GEMMs by cuBLASLt (`GC_HEAD_GEMM=lt`: each "
                  "dense layer's forward and backward GEMM on the algorithm timed fastest at "
                  "context creation, cublasGemmEx where it won)", "cuBLASLt")
    head_gemm_lines(ix, p)
    variant_table(ix, p, ix.tensor_whole, "The tensor calls' upload the way before session 20 "
                  "(`GC_TENSOR_UPLOAD=whole`: one host copy, then one upload; the default "
                  "copies and uploads in 8 overlapping parts)", "whole")
    variant_table(ix, p, ix.split, "gc_explain_render in two overlapped halves "
                  "(`GC_RENDER_PIPELINE=1`: each half's copies, results and render beside the "
                  "other half's compute)", "halves")
    variant_table(ix, p, ix.small, "Calls smaller than max_batch (`--context-batch`: the "
                  "default column is a context of max_batch = the batch, where the run has one; "
                  "GC_BATCH_PLANS=off runs every call on the plans for max_batch, eager on "
                  "plans for the power of two at or above the call)", "small",
                  lambda r: f"max_batch {r.get('context_batch')}, "
                            f"GC_BATCH_PLANS={r.get('batch_plans') or 'auto'}, "
                            f"the convs ran {r.get('conv_images', '?')} images")
    variant_table(ix, p, ix.first_conv, "The first conv by the path `GC_FIRST_CONV` names, beside "
                  "the same run's default (as of commit eb2c657: our kernel in fp32, cuDNN's elsewhere; "
                  "before it, our kernel everywhere), and the first block (conv, conv, pool) in "
                  "one kernel (`GC_FIRST_BLOCK=fused`, cuda/first_block.cu)",
                  "named", first_conv_label)
    first_block_lines(ix, p)

    # ------------------------------------------------------------ the other methods
    method_table(ix, p)

    # ------------------------------------------------------------ failures and steps
    failed = [r for r in list(ix.by.values()) + list(ix.methods.values()) +
              list(ix.tuned.values()) if not r.get("ok")]
    if failed:
        p("## Failed measurements\n")
        seen = set()
        for r in failed:
            key = (r.get("impl"), r.get("mode"), (r.get("error") or "")[:160])
            if key in seen:
                continue
            seen.add(key)
            same = sum(1 for x in failed if (x.get("impl"), x.get("mode"),
                                             (x.get("error") or "")[:160]) == key)
            meth = f", {r['method']}" if r.get("method") not in (None, "gradcam") else ""
            p(f"- {r.get('impl')} `{r.get('mode')}` ({r.get('precision')}, b{r.get('batch')}{meth}"
              f"{f' and {same - 1} more' if same > 1 else ''}): {(r.get('error') or '')[:300]}")
        p("")
    if steps:
        p("## Steps of the run\n")
        p("| step | rc | seconds | note |")
        p("|---|---:|---:|---|")
        for s in steps:
            note = s.get("note") or ""
            rc = s.get("rc")
            if rc == 124:
                note = (note + " timed out").strip()
            p(f"| {s.get('name')} | {fmt(rc)} | {fmt(s.get('seconds'), 0)} | {note} |")
        p("")
    p(f"_Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC by "
      f"bench/summarize.py from {sys.argv[1]}._")
    print("\n".join(out))


if __name__ == "__main__":
    main()
