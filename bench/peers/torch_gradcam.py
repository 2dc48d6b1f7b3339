#!/usr/bin/python3
"""torch_gradcam.py — the PyTorch peer of bench/gradcam_bench.c: the same Grad-CAM work on the
same weights file, batch and input size, on the CPU. Timing only; never asserts.

Modes (median wall time of one batch over --iters after --warmup, time.perf_counter):
  hook_backward     pytorch-grad-cam's way: a forward hook on the target module stores the
                    activation and registers a tensor hook for its gradient, parameters
                    require grad (so autograd also computes every weight gradient), the
                    top-1 logits are summed and loss.backward(retain_graph=True) runs, then
                    alpha / the weighted sum / ReLU / normalization in NumPy. (pytorch-grad-cam
                    also upsamples each cam to the input size with cv2.resize; not done here,
                    as libgradcam returns the cam at the layer's size.)
  forward           model(x) under torch.inference_mode(), NCHW (the default layout).
  forward_cl        the same with the model and input in channels_last.
  tuned             parameters frozen, input not requiring grad, channels_last: the forward
                    hook detaches the target activation and makes it the only leaf that
                    requires grad, so autograd records and differentiates only the layers
                    above the target (no weight gradients); torch.autograd.grad to the
                    activation, cam in torch.

Usage: torch_gradcam.py --weights vgg16.safetensors [--batch 8] [--size 224] [--iters 3]
       [--warmup 1] [--threads N] [--layer block5_conv3] [--modes a,b] [--json]
"""
import argparse
import json
import os
import platform
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "pyref"))
import gcref  # noqa: E402

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
       "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """name -> torch tensor (float32), from a memory map; BF16 widened to float32."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
    header.pop("__metadata__", None)
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + hlen)
    out = {}
    for name, t in header.items():
        lo, hi = t["data_offsets"]
        buf = raw[lo:hi]
        if t["dtype"] == "BF16":
            a = (buf.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = buf.view(_NP[t["dtype"]])
        a = np.array(a.reshape(t["shape"]))
        out[name] = torch.from_numpy(a.astype(np.float32) if a.dtype.kind == "f" else a)
    return out


def infer_model(sd):
    """A TorchvisionVGG from a torchvision-layout state dict: cfg, BatchNorm, head widths."""
    conv = sorted(int(k.split(".")[1]) for k in sd
                  if k.startswith("features.") and k.endswith(".weight")
                  and sd[k].dim() == 4)
    if not conv or "classifier.0.weight" not in sd:
        raise SystemExit("torch_gradcam.py: expects a torchvision-layout VGG "
                         "(features.N.*, classifier.N.*)")
    bn = f"features.{conv[0] + 1}.running_mean" in sd
    step = 3 if bn else 2
    cfg, idx, convs = [], 0, set(conv)
    while idx <= conv[-1]:
        if idx in convs:
            cfg.append(int(sd[f"features.{idx}.weight"].shape[0]))
            idx += step
        else:
            cfg.append("M")
            idx += 1
    cfg.append("M")  # torchvision's VGG features end with a pool
    lin = sorted(int(k.split(".")[1]) for k in sd
                 if k.startswith("classifier.") and k.endswith(".weight"))
    hidden = [int(sd[f"classifier.{i}.weight"].shape[0]) for i in lin[:-1]]
    num_classes = int(sd[f"classifier.{lin[-1]}.weight"].shape[0])
    c = cfg[-2]
    pool = int(round((sd["classifier.0.weight"].shape[1] / c) ** 0.5))
    model = gcref.TorchvisionVGG(cfg, batch_norm=bn, num_classes=num_classes, pool=pool,
                                 hidden=hidden)
    model.load_state_dict(sd, strict=True)
    return model.eval(), cfg, bn


def last_conv_name(cfg):
    block, conv, name = 1, 0, None
    for v in cfg:
        if v == "M":
            block, conv = block + 1, 0
        else:
            conv += 1
            name = f"block{block}_conv{conv}"
    return name


# ---------------------------------------------------------------- the modes

def gradcam_hook_backward(model, target, x):
    """pytorch-grad-cam's BaseCAM.forward with ActivationsAndGradients, GradCAM weights."""
    store = {}

    def fwd_hook(_m, _inp, out):
        store["A"] = out.cpu().detach()
        out.register_hook(lambda g: store.__setitem__("G", g.cpu().detach()))

    h = target.register_forward_hook(fwd_hook)
    try:
        outputs = model(x)
    finally:
        h.remove()
    cats = np.argmax(outputs.cpu().data.numpy(), axis=-1)
    model.zero_grad()
    loss = sum(outputs[i, int(c)] for i, c in enumerate(cats))
    loss.backward(retain_graph=True)
    A, G = store["A"].numpy(), store["G"].numpy()
    weights = np.mean(G, axis=(2, 3))
    cam = np.maximum((weights[:, :, None, None] * A).sum(axis=1), 0)
    lo = cam.min(axis=(1, 2), keepdims=True)
    cam = cam - lo
    return cam / (1e-7 + cam.max(axis=(1, 2), keepdims=True))


def forward_only(model, x):
    with torch.inference_mode():
        return model(x)


def gradcam_tuned(model, target, x):
    store = {}

    def fwd_hook(_m, _inp, out):
        a = out.detach().requires_grad_(True)
        store["A"] = a
        return a  # the layers above build their graph from this leaf only

    h = target.register_forward_hook(fwd_hook)
    try:
        logits = model(x)
    finally:
        h.remove()
    cls = logits.detach().argmax(1)
    score = logits.gather(1, cls[:, None]).sum()
    (G,) = torch.autograd.grad(score, store["A"])
    with torch.no_grad():
        A = store["A"]
        alpha = G.mean((2, 3))
        cam = F.relu((alpha[:, :, None, None] * A).sum(1))
        hi = cam.amax((1, 2), keepdim=True)
        return torch.where(hi > 0, cam / hi.clamp_min(1e-30), torch.zeros_like(cam))


def time_it(fn, iters, warmup, name, quiet):
    samples = []
    for it in range(warmup + iters):
        t0 = time.perf_counter()
        fn()
        dt = (time.perf_counter() - t0) * 1e3
        if not quiet:
            kind = "warm-up" if it < warmup else "iter"
            print(f"  {name:<14} {kind} {it + 1 if it < warmup else it - warmup + 1}: "
                  f"{dt:.1f} ms", file=sys.stderr)
        if it >= warmup:
            samples.append(dt)
    return samples


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--layer", default=None, help="Keras-style name; default the last conv")
    ap.add_argument("--modes", default="hook_backward,forward,forward_cl,tuned")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    cores = os.cpu_count() or 1
    threads = a.threads if a.threads > 0 else cores
    torch.set_num_threads(threads)
    model, cfg, bn = infer_model(read_safetensors(a.weights))
    layer = a.layer or last_conv_name(cfg)
    target_index = gcref.layer_module(model, cfg, bn, layer)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((a.batch, 3, a.size, a.size), generator=g)

    # Separate models per layout, so that one mode's state (grads, layout) cannot leak.
    def fresh(requires_grad, channels_last):
        m = infer_model(read_safetensors(a.weights))[0] if fresh.used else model
        fresh.used = True
        for p in m.parameters():
            p.requires_grad_(requires_grad)
        if channels_last:
            m = m.to(memory_format=torch.channels_last)
        return m
    fresh.used = False

    modes = {}
    what = {
        "hook_backward": "pytorch-grad-cam style: hooks, params require grad, "
                         "loss.backward(retain_graph=True), cam in NumPy",
        "forward": "model(x) under torch.inference_mode(), NCHW",
        "forward_cl": "model(x) under torch.inference_mode(), channels_last",
        "tuned": "frozen params, input without grad, channels_last, "
                 "torch.autograd.grad to the target activation only",
    }
    for name in a.modes.split(","):
        if name == "hook_backward":
            m = fresh(True, False)
            t = m.features[target_index]
            fn = lambda: gradcam_hook_backward(m, t, x)
        elif name == "forward":
            m = fresh(False, False)
            fn = lambda: forward_only(m, x)
        elif name == "forward_cl":
            m = fresh(False, True)
            xc = x.contiguous(memory_format=torch.channels_last)
            fn = lambda: forward_only(m, xc)
        elif name == "tuned":
            m = fresh(False, True)
            t = m.features[target_index]
            xc = x.contiguous(memory_format=torch.channels_last)
            fn = lambda: gradcam_tuned(m, t, xc)
        else:
            raise SystemExit(f"torch_gradcam.py: unknown mode {name!r}")
        s = time_it(fn, a.iters, a.warmup, name, a.json)
        med = statistics.median(s)
        modes[name] = {"what": what[name], "layer": layer if name in ("hook_backward", "tuned")
                       else None, "median_ms": med, "min_ms": min(s), "max_ms": max(s),
                       "mean_ms": statistics.fmean(s), "images_per_s": 1e3 * a.batch / med,
                       "samples_ms": s}
        del m, fn

    report = {
        "tool": "torch_gradcam.py",
        "torch_version": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "machine": {"cpu": cpu_model(), "cores": cores, "threads": threads,
                    "torch_threads": torch.get_num_threads()},
        "config": {"weights": a.weights, "batch": a.batch, "size": a.size, "iters": a.iters,
                   "warmup": a.warmup, "layer": layer},
        "modes": modes,
    }
    if a.json:
        print(json.dumps(report))
        return
    print(f"torch_gradcam.py  torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{report['machine']['cpu']}, {cores} cores")
    print(f"workload  {a.weights}, batch {a.batch}, {a.size}x{a.size}, target {layer}, "
          f"{a.iters} iters after {a.warmup} warm-up, median")
    print(f"{'mode':<14} {'ms/batch':>10} {'min ms':>10} {'max ms':>10} {'images/s':>10}")
    for name, r in modes.items():
        print(f"{name:<14} {r['median_ms']:>10.1f} {r['min_ms']:>10.1f} {r['max_ms']:>10.1f} "
              f"{r['images_per_s']:>10.2f}")
    for name, r in modes.items():
        print(f"  {name:<14} {r['what']}")


if __name__ == "__main__":
    main()
