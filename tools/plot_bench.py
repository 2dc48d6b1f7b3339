#!/usr/bin/env python3
"""plot_bench.py — a PNG chart of a GPU benchmark run (bench.jsonl from scripts/device-bench.sh).

    tools/plot_bench.py OUTDIR/bench.jsonl OUTDIR/bench.png [--batch N]

Left: images/s of every implementation at one batch size (default: the largest measured,
256 on the GPU) for each precision, log scale, ours first. Right: our `gpu` mode (else the
host-tensor `gradcam` mode, solid) and the tuned PyTorch peer (dashed) against the batch size,
one colour per precision.
The title says the GPU, date and commit; a CPU smoke run says so in red.
Uses matplotlib (Agg) when importable, else draws a plainer bar chart with OpenCV + NumPy.
"""
import argparse
import json
import sys

PREC_ORDER = ["fp32", "tf32", "bf16", "fp16", "auto"]
SERIES = [  # (impl, mode, label, colour)
    ("ours", "gpu", "ours: gpu (device input)", "#1f77b4"),
    ("ours", "gradcam", "ours: host tensor", "#6baed6"),
    ("ours", "host", "ours: uint8 + render", "#9ecae1"),
    ("ours", "forward", "ours: forward only", "#c6dbef"),
    ("torch_tuned_split", "tuned_split", "PyTorch tuned", "#ff7f0e"),
    ("torch_tuned_compile", "tuned_compile", "PyTorch tuned, compiled", "#ffbb78"),
    ("torch_hooks", "hook_backward", "pytorch-grad-cam approach", "#d62728"),
    ("pytorch_grad_cam", "grad_cam_pkg", "pytorch-grad-cam", "#8c564b"),
    ("torch_forward", "forward", "PyTorch forward", "#7f7f7f"),
    ("torch_forward_cl", "forward_cl", "PyTorch forward (cl)", "#bcbd22"),
]


def load(path):
    recs, meta = {}, {}
    with open(path) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if r.get("impl") == "meta":
                meta = r
            elif r.get("method") not in (None, "gradcam"):
                continue  # the other CAM methods: summary.md's table, not this chart
            elif r.get("ok") and r.get("images_per_s") and r.get("mode") != "files" and \
                    not r.get("autotune") and not r.get("cuda_graphs"):
                # autotuned and CUDA-graph reruns: summary.md's own tables
                recs[(r["impl"], r["mode"], r["precision"], r["batch"])] = r["images_per_s"]
    return recs, meta


def title(meta, batch):
    gpu = (meta.get("nvidia_smi") or {}).get("name") or "no GPU"
    return (f"Grad-CAM, VGG16 224x224 — {gpu} — {meta.get('date', '?')} UTC, "
            f"commit {meta.get('commit', '?')}" + (" — CPU SMOKE TEST, not GPU numbers"
                                                   if meta.get("smoke") else ""))


def with_matplotlib(recs, meta, batch, precs, batches, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [3, 2]})
    present = [s for s in SERIES if any((s[0], s[1], p, batch) in recs for p in precs)]
    width = 0.8 / max(1, len(present))
    for k, (impl, mode, label, colour) in enumerate(present):
        xs, ys = [], []
        for i, p in enumerate(precs):
            v = recs.get((impl, mode, p, batch))
            if v:
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(v)
        bars = ax.bar(xs, ys, width, label=label, color=colour)
        for b, v in zip(bars, ys):
            ax.annotate(f"{v:,.0f}", (b.get_x() + b.get_width() / 2, v), ha="center",
                        va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(precs)))
    ax.set_xticklabels(precs)
    ax.set_yscale("log")
    ax.set_ylabel("images/s (log)")
    ax.set_title(f"batch {batch}")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(axis="y", which="both", alpha=0.3)

    prec_colour = {"fp32": "#1f77b4", "tf32": "#2ca02c", "bf16": "#d62728", "fp16": "#9467bd"}
    for p in precs:
        for impl, mode, style in (("ours", "gpu", "-o"), ("ours", "gradcam", ":s"),
                                  ("torch_tuned_split", "tuned_split", "--^")):
            pts = [(b, recs[(impl, mode, p, b)]) for b in batches if (impl, mode, p, b) in recs]
            if impl == "ours" and mode == "gradcam" and any(
                    (("ours", "gpu", p, b) in recs) for b in batches):
                continue  # the gpu mode is there: the host-tensor line would only crowd it
            if pts:
                name = "ours" if impl == "ours" else "PyTorch tuned"
                ax2.plot([b for b, _ in pts], [v for _, v in pts], style,
                         color=prec_colour.get(p, "#7f7f7f"), label=f"{name} {p}" + (" (host tensor)" if mode == "gradcam" else ""))
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("batch")
    ax2.set_ylabel("images/s (log)")
    ax2.set_title("throughput against batch size")
    ax2.legend(fontsize=7)
    ax2.grid(which="both", alpha=0.3)
    fig.suptitle(title(meta, batch), fontsize=10, color="red" if meta.get("smoke") else "black")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def with_opencv(recs, meta, batch, precs, out):
    """A plainer chart without matplotlib: log-scaled bars per precision, legend below."""
    import math

    import cv2
    import numpy as np

    present = [s for s in SERIES if any((s[0], s[1], p, batch) in recs for p in precs)]
    W, H, top, bottom, left = 1400, 700, 60, 60 + 22 * len(present), 80
    img = np.full((H + 22 * len(present), W, 3), 255, np.uint8)
    vals = [v for v in recs.values() if v > 0] or [1.0]
    lo, hi = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
    hi = max(hi, lo + 1)
    y_of = lambda v: int(H - 60 - (math.log10(v) - lo) / (hi - lo) * (H - 60 - top))
    for e in range(lo, hi + 1):
        y = y_of(10 ** e)
        cv2.line(img, (left, y), (W - 20, y), (220, 220, 220), 1)
        cv2.putText(img, f"1e{e}", (10, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    group = (W - left - 20) / max(1, len(precs))
    bw = group * 0.8 / max(1, len(present))
    for i, p in enumerate(precs):
        cv2.putText(img, p, (int(left + group * i + group / 2 - 15), H - 35),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
        for k, (impl, mode, label, colour) in enumerate(present):
            v = recs.get((impl, mode, p, batch))
            if not v:
                continue
            c = tuple(int(colour[j:j + 2], 16) for j in (5, 3, 1))  # BGR
            x0 = int(left + group * i + group * 0.1 + bw * k)
            cv2.rectangle(img, (x0, y_of(v)), (int(x0 + bw - 2), H - 60), c, -1)
    for k, (_, _, label, colour) in enumerate(present):
        c = tuple(int(colour[j:j + 2], 16) for j in (5, 3, 1))
        y = H + 22 * k
        cv2.rectangle(img, (left, y - 12), (left + 14, y + 2), c, -1)
        cv2.putText(img, label, (left + 20, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    # OpenCV's Hershey fonts are ASCII only
    text = (title(meta, batch) + f" - images/s at batch {batch}, log scale").replace("\u2014", "-")
    cv2.putText(img, text,
                (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 0, 200) if meta.get("smoke") else (0, 0, 0), 1)
    if not cv2.imwrite(out, img):
        raise SystemExit(f"plot_bench.py: cannot write {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("jsonl")
    ap.add_argument("png")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--opencv", action="store_true", help="the fallback, even with matplotlib")
    a = ap.parse_args()
    recs, meta = load(a.jsonl)
    if not recs:
        raise SystemExit("plot_bench.py: no successful measurements in " + a.jsonl)
    batches = sorted({k[3] for k in recs})
    precs = sorted({k[2] for k in recs}, key=lambda p: PREC_ORDER.index(p)
                   if p in PREC_ORDER else 99)
    batch = a.batch or max(batches)
    try:
        if a.opencv:
            raise ImportError("--opencv")
        with_matplotlib(recs, meta, batch, precs, batches, a.png)
        how = "matplotlib"
    except ImportError:
        with_opencv(recs, meta, batch, precs, a.png)
        how = "opencv"
    print(f"plot_bench.py: {a.png} ({how}; batch {batch}, {len(recs)} measurements)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
