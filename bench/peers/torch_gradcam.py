#!/usr/bin/python3
"""torch_gradcam.py — the PyTorch peers of bench/gradcam_bench.c: the same Grad-CAM work on the
same weights file, batch, input size and precision, on the CPU or a CUDA GPU. Timing only;
never asserts (--check prints how far each mode's cam is from a float64 reference).

Modes (median wall time of one batch over --iters after --warmup, time.perf_counter; on CUDA
the device is synchronized before the clock starts and before it stops, and every mode ends
with its cams on the host, as libgradcam's calls do):
  hook_backward  pytorch-grad-cam's way, written out: a forward hook on the target module
                 stores the activation (.cpu()) and registers a tensor hook for its gradient,
                 parameters require grad (so autograd also computes every weight gradient),
                 the top-1 logits are summed and loss.backward(retain_graph=True) runs, then
                 alpha / the weighted sum / ReLU / min-max normalization in NumPy on the host.
                 (pytorch-grad-cam also upsamples each cam to the input size; not done here.)
  grad_cam_pkg   pytorch-grad-cam itself (PyPI grad-cam: GradCAM(model, target_layers)
                 called on the batch with targets=None), when importable; it returns min-max
                 cams upsampled to the input size with cv2.resize. Optional dependencies it
                 imports but GradCAM never calls (sklearn, tqdm, ...) are stubbed when
                 missing, and the record says which. Under bf16/fp16 autocast the model is
                 wrapped to return float32 logits, and with bf16 its reshape_transform hook
                 casts activation and gradient to float32 (NumPy has no bfloat16).
  tuned          parameters frozen, input not requiring grad, channels_last: the forward hook
                 detaches the target activation and makes it the only leaf that requires
                 grad; torch.autograd.grad to it, cam in torch (the CPU benchmark's row).
  tuned_split    parameters frozen, channels_last, model and input cast to bf16/fp16 when
                 asked (fp32/tf32: float32): features up to the target under torch.no_grad(),
                 then A.requires_grad_() and torch.autograd.grad(score, A) through the layers
                 above only; class choice, cam and max-normalization on the device; on CUDA the
                 whole step is captured once as a CUDA graph (torch.cuda.graph) and replayed,
                 with cudnn.benchmark on; --compile instead wraps the two halves in
                 torch.compile (failures are caught and reported).
  forward        model(x) under torch.inference_mode(), NCHW (autocast for bf16/fp16).
  forward_cl     the same with the model and input in channels_last (cast for bf16/fp16).
Methods (--method, a comma-separated list of the `gradcam` command's names; default gradcam):
gradcam++, xgradcam, layercam, hirescam compute their weights / cam exactly as
tests/pyref/gcref.gradcam does (NumPy in hook_backward, torch on the device in tuned and
tuned_split); grad_cam_pkg uses pytorch-grad-cam's GradCAMPlusPlus / XGradCAM / LayerCAM /
HiResCAM. guided-backprop and guided-gradcam compute Grad-CAM's cam plus the guided-backprop
gradient of the class score to the input (every nn.ReLU a guided ReLU, gcref.guided_backprop),
and guided-gradcam its product with the cam resized to the input: hook_backward by a second
forward/backward through a guided copy of the model; grad_cam_pkg with GuidedBackpropReLUModel
on its own copy (it takes one image per call: looped over the batch, as the record says);
tuned_split by one forward through the guided copy's features with the graph kept from the
input and one extra guided backward to it (channels_last; if the CUDA graph capture fails the
step runs eagerly and the record says why); tuned has no guided variant. forward and
forward_cl run once per batch (no method). Every record names its method; --check compares
the cam and the guided tensor with float64 gcref.
Precision: fp32 turns TF32 off for cuDNN and matmuls (PyTorch's default leaves it on for
cuDNN), tf32 turns it on for both; bf16/fp16 use torch.autocast in hook_backward,
grad_cam_pkg and forward (what a user adds to existing code) and cast the model in
tuned_split and forward_cl.

Usage: torch_gradcam.py --weights vgg16.safetensors [--device cpu|cuda] [--precision P]
       [--batch 8 | 1,32,128,256] [--size 224] [--iters 3] [--warmup 1] [--threads N]
       [--layer block5_conv3] [--modes a,b] [--method LIST] [--no-graph] [--compile] [--check]
       [--json | --jsonl] [--gpu-name NAME] [--commit TEXT]
--json: one object (the first batch; what bench/run_cpu_bench.sh reads); --jsonl: one record
per mode and batch, flushed as each finishes (what scripts/device-bench.sh collects).
"""
import argparse
import contextlib
import copy
import json
import os
import platform
import statistics
import struct
import sys
import time
import types

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "pyref"))
import gcref  # noqa: E402

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
       "I32": np.int32, "U8": np.uint8}

# Dense peak TFLOP/s by GPU name, first row whose words all occur in the lower-cased name
# (fp32: the plain FP32 pipes; tf32/bf16/fp16: tensor cores). bench/gradcam_bench.c keeps
# the same table (gpu_peaks): change both.
GPU_PEAKS = [
    (("h100", "pcie"), "H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0}),
    (("h100", "nvl"), "H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.0, "fp16": 835.0}),
    (("h200", "nvl"), "H200 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.0, "fp16": 835.0}),
    (("gh200",), "GH200", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (("h200",), "H200 SXM", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (("h100",), "H100 SXM", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    (("a100",), "A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
]


def find_peak(name):
    low = (name or "").lower()
    for words, label, peaks in GPU_PEAKS:
        if low and all(w in low for w in words):
            return label, peaks
    return None, {}


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


def forward_flops(cfg, sd, size):
    """Per image, forward: 2*9*C*K*H*W per 3x3 conv + 2 x the elements of every other weight
    matrix (the dense head), as gradcam-bench counts them."""
    c, h, w, conv = 3, size, size, 0.0
    for v in cfg:
        if v == "M":
            h, w = h // 2, w // 2
        else:
            conv += 2.0 * 9 * c * v * h * w
            c = v
    head = sum(t.numel() for k, t in sd.items() if k.endswith(".weight") and t.dim() >= 2
               and not (k.startswith("features.") and t.dim() == 4 and t.shape[2:] == (3, 3)))
    return conv + 2.0 * head


def last_conv_name(cfg):
    block, conv, name = 1, 0, None
    for v in cfg:
        if v == "M":
            block, conv = block + 1, 0
        else:
            conv += 1
            name = f"block{block}_conv{conv}"
    return name


# ---------------------------------------------------------------- the methods

# --method names (the `gradcam` command's) -> gcref.gradcam's method for the cam; the guided
# methods compute Grad-CAM's cam plus the guided-backprop gradient to the input.
METHODS = {"gradcam": "gradcam", "gradcam++": "gradcampp", "xgradcam": "xgradcam",
           "layercam": "layercam", "hirescam": "hirescam", "guided-backprop": "gradcam",
           "guided-gradcam": "gradcam"}
GUIDED = ("guided-backprop", "guided-gradcam")
PKG_CLASS = {"gradcam": "GradCAM", "gradcampp": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
             "layercam": "LayerCAM", "hirescam": "HiResCAM"}


def cam_numpy(method, A, G):
    """The raw cam (N,h,w) of A, G (N,K,h,w) float32, exactly as gcref.gradcam computes it
    (pytorch-grad-cam's get_cam_weights / element-wise cams), in NumPy."""
    if method == "gradcampp":
        g2 = G ** 2
        g3 = g2 * G
        sum_a = A.sum(axis=(2, 3))
        aij = g2 / (2 * g2 + sum_a[:, :, None, None] * g3 + 1e-6)
        aij = np.where(G != 0, aij, 0)
        w = (np.maximum(G, 0) * aij).sum(axis=(2, 3))
    elif method == "xgradcam":
        sum_a = A.sum(axis=(2, 3))
        w = (G * A / (sum_a[:, :, None, None] + 1e-7)).sum(axis=(2, 3))
    elif method == "layercam":
        return np.maximum((np.maximum(G, 0) * A).sum(axis=1), 0)
    elif method == "hirescam":
        return np.maximum((G * A).sum(axis=1), 0)
    else:
        w = np.mean(G, axis=(2, 3))
    return np.maximum((w[:, :, None, None] * A).sum(axis=1), 0)


def cam_torch(method, A, G):
    """cam_numpy in torch on A's device, float32."""
    A, G = A.float(), G.float()
    if method == "gradcampp":
        g2 = G * G
        g3 = g2 * G
        sum_a = A.sum((2, 3))
        aij = g2 / (2 * g2 + sum_a[:, :, None, None] * g3 + 1e-6)
        aij = torch.where(G != 0, aij, torch.zeros_like(aij))
        w = (F.relu(G) * aij).sum((2, 3))
    elif method == "xgradcam":
        sum_a = A.sum((2, 3))
        w = (G * A / (sum_a[:, :, None, None] + 1e-7)).sum((2, 3))
    elif method == "layercam":
        return F.relu((F.relu(G) * A).sum(1))
    elif method == "hirescam":
        return F.relu((G * A).sum(1))
    else:
        w = G.mean((2, 3))
    return F.relu((w[:, :, None, None] * A).sum(1))


def guided_model(model):
    """A copy of the model with every nn.ReLU swapped for a guided ReLU (gcref.GuidedReLU: a
    gradient passes only where it and the input are both positive), as gcref.guided_backprop
    and pytorch-grad-cam's GuidedBackpropReLUModel do."""
    g = copy.deepcopy(model)
    gcref._swap_relus(g)
    return g


def resize_cams(cams, size):
    """(N,h,w) -> (N,size,size) with cv2.resize INTER_LINEAR, as the library and
    pytorch-grad-cam upsample a cam."""
    import cv2
    return np.stack([cv2.resize(np.float32(c), (size, size)) for c in cams])


# ---------------------------------------------------------------- the modes

def gradcam_hook_backward(model, target, x, amp, method="gradcam", gmodel=None,
                          guided=None):
    """pytorch-grad-cam's BaseCAM.forward with ActivationsAndGradients and the method's
    weights; guided: then a second forward/backward through gmodel (guided ReLUs) to the
    input, and for Guided Grad-CAM that times the min-max cam resized to the input."""
    store = {}

    def fwd_hook(_m, _inp, out):
        store["A"] = out.cpu().detach()
        out.register_hook(lambda g: store.__setitem__("G", g.cpu().detach()))

    h = target.register_forward_hook(fwd_hook)
    try:
        with amp():
            outputs = model(x)
    finally:
        h.remove()
    cats = np.argmax(outputs.float().cpu().data.numpy(), axis=-1)
    model.zero_grad()
    with amp():
        loss = sum(outputs[i, int(c)] for i, c in enumerate(cats))
    loss.backward(retain_graph=True)
    A, G = store["A"].float().numpy(), store["G"].float().numpy()
    cam = cam_numpy(method, A, G)
    lo = cam.min(axis=(1, 2), keepdims=True)
    cam = cam - lo
    cam = cam / (1e-7 + cam.max(axis=(1, 2), keepdims=True))
    if guided is None:
        return cam
    xg = x.detach().clone().requires_grad_(True)
    with amp():
        out_g = gmodel(xg)
    gmodel.zero_grad()
    with amp():
        loss_g = sum(out_g[i, int(c)] for i, c in enumerate(cats))
    loss_g.backward()
    gb = xg.grad.float().cpu().numpy()  # (N,3,H,W)
    if guided == "guided-gradcam":
        gb = gb * resize_cams(cam, x.shape[-1])[:, None]
    return {"cam": cam, "guided": gb}


def forward_only(model, x, amp):
    with torch.inference_mode(), amp():
        return model(x).float().cpu()


def gradcam_tuned(model, target, x, method="gradcam"):
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
        cam = cam_torch(method, store["A"], G)
        hi = cam.amax((1, 2), keepdim=True)
        return torch.where(hi > 0, cam / hi.clamp_min(1e-30), torch.zeros_like(cam)).cpu()


class SplitGradCAM:
    """Grad-CAM (or the method's cam) with the backward only where it is needed: features up
    to the target under no_grad, then autograd through the layers above the target and the
    head alone. Guided methods (gmodel: the model with guided ReLUs, same weights): the
    features run once through gmodel's (same values) with the graph kept from the input, the
    cam's backward goes through the ordinary head from a detached copy of A, and one extra
    guided backward from gmodel's head to the input gives the guided gradient (times the
    cam upsampled bilinearly to the input for Guided Grad-CAM)."""

    def __init__(self, model, target_index, method="gradcam", guided=None, gmodel=None):
        self.lo = model.features[:target_index + 1]
        self.hi = model.features[target_index + 1:]
        self.avgpool, self.classifier = model.avgpool, model.classifier
        self.method, self.guided = method, guided
        if guided:
            self.glo = gmodel.features[:target_index + 1]
            self.ghi = gmodel.features[target_index + 1:]
            self.gavgpool, self.gclassifier = gmodel.avgpool, gmodel.classifier

    def head(self, a):
        return self.classifier(torch.flatten(self.avgpool(self.hi(a)), 1))

    def ghead(self, a):
        return self.gclassifier(torch.flatten(self.gavgpool(self.ghi(a)), 1))

    def step(self, x):
        if self.guided:
            xg = x.detach().requires_grad_(True)
            a_g = self.glo(xg)
            a = a_g.detach().requires_grad_(True)
        else:
            with torch.no_grad():
                a = self.lo(x)
            a = a.detach().requires_grad_(True)
        logits = self.head(a)
        cls = logits.detach().argmax(1)
        score = logits.gather(1, cls[:, None]).sum()
        (g,) = torch.autograd.grad(score, a)
        with torch.no_grad():
            cam = cam_torch(self.method, a.detach(), g)
            hi = cam.amax((1, 2), keepdim=True)
            cam = torch.where(hi > 0, cam / hi.clamp_min(1e-30), torch.zeros_like(cam))
        if not self.guided:
            return cam, cls
        score_g = self.ghead(a_g).gather(1, cls[:, None]).sum()
        (gx,) = torch.autograd.grad(score_g, xg)
        with torch.no_grad():
            gx = gx.float()
            if self.guided == "guided-gradcam":
                up = F.interpolate(cam[:, None], size=tuple(x.shape[-2:]), mode="bilinear",
                                   align_corners=False)
                gx = gx * up
        return cam, cls, gx


class FloatLogits(torch.nn.Module):
    """The model with float32 logits: pytorch-grad-cam calls .numpy() on them, and NumPy has
    no bfloat16 (what a user running it under autocast has to add too)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).float()


_OPTIONAL = {"sklearn", "tqdm", "matplotlib", "scipy", "ttach", "PIL", "torchvision"}


class _Stub:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Stub()

    def __getattr__(self, name):
        return _Stub()

    def __iter__(self):
        return iter(())


def _stub_getattr(attr):
    # no dunders: inspect.getmodule walks sys.modules asking each for __file__ (torchvision's
    # import does so under torch 2.x), and a class there is no file name
    if attr.startswith("__"):
        raise AttributeError(attr)
    return _Stub


def _stub_module(name):
    m = types.ModuleType(name)
    m.__path__ = []  # a package, so that submodules can be stubbed too
    m.__getattr__ = _stub_getattr
    sys.modules[name] = m


def import_grad_cam(class_name="GradCAM"):
    """(the CAM class, [stubbed module names], where); pytorch-grad-cam's __init__ imports
    every method, and with them libraries the gradient methods never call: stub those when
    missing."""
    stubbed = []
    for _ in range(30):
        try:
            import pytorch_grad_cam
            return (getattr(pytorch_grad_cam, class_name), stubbed,
                    getattr(pytorch_grad_cam, "__file__", None))
        except ModuleNotFoundError as e:
            name = e.name or ""
            if name.split(".")[0] not in _OPTIONAL or name in stubbed:
                raise
            for k in [k for k in sys.modules if k.startswith("pytorch_grad_cam")]:
                del sys.modules[k]
            _stub_module(name)
            stubbed.append(name)
    raise ImportError("pytorch_grad_cam: too many missing optional modules")


def time_it(fn, iters, warmup, name, quiet, sync):
    samples = []
    for it in range(warmup + iters):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        dt = (time.perf_counter() - t0) * 1e3
        if not quiet:
            kind = "warm-up" if it < warmup else "iter"
            print(f"  {name:<14} {kind} {it + 1 if it < warmup else it - warmup + 1}: "
                  f"{dt:.2f} ms", file=sys.stderr)
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


WHAT = {
    "hook_backward": "pytorch-grad-cam style: hooks, params require grad, "
                     "loss.backward(retain_graph=True), cam in NumPy on the host",
    "grad_cam_pkg": "pytorch-grad-cam (PyPI grad-cam) GradCAM on the batch, targets=None "
                    "(cams min-max normalized and upsampled to the input with cv2.resize)",
    "tuned": "frozen params, input without grad, channels_last, "
             "torch.autograd.grad to the target activation only (forward hook)",
    "tuned_split": "frozen params, channels_last, model cast to the precision, features "
                   "under no_grad, autograd.grad through the head only, cam on the device; "
                   "CUDA graph on CUDA",
    "forward": "model(x) under torch.inference_mode(), NCHW",
    "forward_cl": "model(x) under torch.inference_mode(), channels_last",
}
WHAT_GUIDED = {
    "hook_backward": "; guided: a second forward/backward through a copy of the model with "
                     "every nn.ReLU a guided ReLU, to the input (.cpu())",
    "grad_cam_pkg": "; guided: GuidedBackpropReLUModel on its own copy of the model, one "
                    "image per call (its API), looped over the batch",
    "tuned": "",
    "tuned_split": "; guided: the features once through the guided-ReLU copy with the graph "
                   "kept from the input, one extra guided backward to the input, channels_last",
}


def what(name, method):
    """The mode's description for this method."""
    w = WHAT[name]
    if name in ("forward", "forward_cl") or method == "gradcam":
        return w
    if name == "grad_cam_pkg":
        w = w.replace("GradCAM on the batch", f"{PKG_CLASS[METHODS[method]]} on the batch")
    w += f"; method {method}"
    if method in GUIDED:
        w += WHAT_GUIDED[name]
        if method == "guided-gradcam":
            w += "; Guided Grad-CAM: that times the cam resized to the input"
    return w


IMPL = {"hook_backward": "torch_hooks", "grad_cam_pkg": "pytorch_grad_cam", "tuned": "torch_tuned",
        "tuned_split": "torch_tuned_split", "forward": "torch_forward",
        "forward_cl": "torch_forward_cl"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "fp16"])
    ap.add_argument("--batch", default="8", help="a size or a comma-separated list")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--layer", default=None, help="Keras-style name; default the last conv")
    ap.add_argument("--modes", default=None,
                    help="default: hook_backward,forward,forward_cl,tuned on the CPU; "
                         "tuned_split,hook_backward,grad_cam_pkg,forward,forward_cl on CUDA")
    ap.add_argument("--method", default="gradcam",
                    help="a comma-separated list of " + ", ".join(METHODS) + " (gradcam)")
    ap.add_argument("--no-graph", action="store_true", help="tuned_split without a CUDA graph")
    ap.add_argument("--compile", action="store_true", help="tuned_split through torch.compile")
    ap.add_argument("--check", action="store_true",
                    help="compare each mode's cams (first 2 images) with a float64 reference")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--jsonl", action="store_true")
    ap.add_argument("--gpu-name", default=None, help="for the peak table (default: torch's)")
    ap.add_argument("--commit", default=None)
    a = ap.parse_args()
    batches = [int(b) for b in str(a.batch).split(",") if b]
    if a.modes is None:
        a.modes = ("tuned_split,hook_backward,grad_cam_pkg,forward,forward_cl"
                   if a.device == "cuda" else "hook_backward,forward,forward_cl,tuned")
    modes_list = [m for m in a.modes.split(",") if m]
    for m in modes_list:
        if m not in WHAT:
            raise SystemExit(f"torch_gradcam.py: unknown mode {m!r}")
    methods = [m for m in a.method.split(",") if m]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"torch_gradcam.py: unknown method {m!r} (" + ", ".join(METHODS)
                             + ")")

    cores = os.cpu_count() or 1
    threads = a.threads if a.threads > 0 else cores
    torch.set_num_threads(threads)
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("torch_gradcam.py: --device cuda but torch sees no CUDA device")
    dev = torch.device(a.device)
    tf32 = a.precision == "tf32"
    if cuda:
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)

    def amp():
        if half is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=a.device, dtype=half)

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sd = read_safetensors(a.weights)
    base, cfg, bn = infer_model(sd)
    flops = forward_flops(cfg, sd, a.size)
    del sd
    layer = a.layer or last_conv_name(cfg)
    target_index = gcref.layer_module(base, cfg, bn, layer)

    gpu = None
    if cuda:
        p = torch.cuda.get_device_properties(dev)
        name = a.gpu_name or p.name
        label, peaks = find_peak(name)
        gpu = {"name": p.name, "cc": f"{p.major}.{p.minor}", "sms": p.multi_processor_count,
               "memory_bytes": p.total_memory, "torch_cuda": torch.version.cuda,
               "cudnn": torch.backends.cudnn.version(), "peak_row": label}
    else:
        label, peaks = find_peak(a.gpu_name)
    peak = peaks.get(a.precision)

    def fresh(requires_grad, channels_last, dtype=None):
        m = copy.deepcopy(base)
        for prm in m.parameters():
            prm.requires_grad_(requires_grad)
        m = m.to(dev)
        if dtype is not None:
            m = m.to(dtype)
        if channels_last:
            m = m.to(memory_format=torch.channels_last)
        return m

    ref = {}

    def reference(x, method):
        """float64 cams of the first 2 images on the CPU (gcref), per normalization, and for
        the guided methods gcref.guided_backprop's input gradient."""
        if method not in ref:
            m64 = copy.deepcopy(base).double()
            x64 = x[:2].detach().to("cpu", torch.float64).contiguous()
            r = {norm: gcref.gradcam(m64, x64, target_index, norm=norm,
                                     method=METHODS[method])["cam"]
                 for norm in ("max", "minmax")}
            if method in GUIDED:
                r["gb"] = gcref.guided_backprop(m64, x64).numpy()
            ref[method] = r
        return ref[method]

    def pkg_upsampled(cams):
        """pytorch-grad-cam's scale_cam_image: resize to the input, then min-max again."""
        want = []
        for u in resize_cams(cams, a.size):
            u = np.maximum(u, 0)
            u = u - u.min()
            want.append(u / (1e-7 + u.max()))
        return np.stack(want)

    def check(name, method, out, x):
        """max |cam - float64 cam|, and for the guided methods max |guided - float64| /
        max |float64| (the guided gradient or Guided Grad-CAM's product)."""
        r = reference(x, method)
        guided = None
        if name == "hook_backward":
            if isinstance(out, dict):
                out, guided = out["cam"], out["guided"]
            got, want = np.asarray(out)[:2], r["minmax"]
            up = resize_cams(want, a.size)
        elif name == "grad_cam_pkg":
            if isinstance(out, dict):
                out, guided = out["cam"], np.stack(out["guided"]).transpose(0, 3, 1, 2)
            got, want = np.asarray(out)[:2], pkg_upsampled(r["minmax"])
            up = want
        elif name in ("tuned", "tuned_split"):
            if isinstance(out, tuple):
                if len(out) == 3:
                    guided = out[2].float().cpu().numpy()
                out = out[0]
            got, want = out[:2].float().cpu().numpy(), r["max"]
            up = resize_cams(want, a.size)
        else:
            return None, None
        cam_diff = float(np.max(np.abs(got.astype(np.float64) - want)))
        if guided is None or "gb" not in r:
            return cam_diff, None
        gw = r["gb"] * (up[:, None] if method == "guided-gradcam" else 1.0)
        gd = np.abs(np.asarray(guided)[:2].astype(np.float64) - gw).max()
        return cam_diff, float(gd / max(float(np.abs(gw).max()), 1e-30))

    def machine():
        return {"cpu": cpu_model(), "cores": cores, "threads": threads,
                "torch_threads": torch.get_num_threads()}

    records = []
    for batch in batches:
        g = torch.Generator().manual_seed(0)
        x = torch.randn((batch, 3, a.size, a.size), generator=g).to(dev)
        for mi, method in enumerate(methods):
            cam_method, guided = METHODS[method], method if method in GUIDED else None
            for name in modes_list:
                forward_mode = name in ("forward", "forward_cl")
                if forward_mode and mi > 0:
                    continue  # no cam, no method: once per batch
                # a compiled tuned_split is its own row (impl and mode), next to the graph one
                compiled = name == "tuned_split" and a.compile
                rec = {"impl": "torch_tuned_compile" if compiled else IMPL[name],
                       "tool": "torch_gradcam.py",
                       "mode": "tuned_compile" if compiled else name,
                       "method": None if forward_mode else method,
                       "backend": a.device, "precision": a.precision, "batch": batch,
                       "size": a.size, "ok": False, "error": None,
                       "what": what(name, method),
                       "layer": layer if not forward_mode else None,
                       "torch_version": torch.__version__, "commit": a.commit,
                       "flops_per_image": flops, "machine": machine(), "gpu": gpu}
                m = fn = extra = None
                try:
                    if cuda:
                        torch.cuda.empty_cache()
                        torch.cuda.reset_peak_memory_stats(dev)
                    torch.backends.cudnn.benchmark = False
                    if name == "hook_backward":
                        m = fresh(True, False)
                        t = m.features[target_index]
                        gm = guided_model(m) if guided else None
                        fn = (lambda m=m, t=t, gm=gm: gradcam_hook_backward(
                            m, t, x, amp, cam_method, gm, guided))
                    elif name == "grad_cam_pkg":
                        cls_name = PKG_CLASS[cam_method]
                        CamClass, stubbed, where = import_grad_cam(cls_name)
                        rec["grad_cam_class"] = cls_name
                        rec["grad_cam_stubbed"] = stubbed
                        rec["grad_cam_from"] = where
                        try:
                            from importlib.metadata import version
                            rec["grad_cam_version"] = version("grad-cam")
                        except Exception:  # noqa: BLE001 (from an unpacked sdist: no metadata)
                            rec["grad_cam_version"] = None
                        m = fresh(True, False)
                        rt = (lambda t: t.float()) if half is torch.bfloat16 else None
                        # under autocast the logits are bf16/fp16, which it hands to NumPy
                        wrapped = FloatLogits(m) if half is not None else m
                        cam_obj = CamClass(model=wrapped,
                                           target_layers=[m.features[target_index]],
                                           reshape_transform=rt)
                        gb_model = None
                        if guided:
                            from pytorch_grad_cam.guided_backprop import \
                                GuidedBackpropReLUModel
                            # its own copy: it swaps the ReLUs back for new modules after
                            # each call, which would orphan the CAM object's hooks
                            gm = copy.deepcopy(m)
                            gb_model = GuidedBackpropReLUModel(
                                model=FloatLogits(gm) if half is not None else gm,
                                device=a.device)
                            rec["grad_cam_guided"] = ("GuidedBackpropReLUModel: one image per "
                                                      "call, looped over the batch")

                        def fn(cam_obj=cam_obj, gb_model=gb_model):
                            with amp():
                                cams = cam_obj(input_tensor=x, targets=None)
                            if gb_model is None:
                                return cams
                            out = []
                            for i in range(x.shape[0]):
                                with amp():
                                    gb = gb_model(x[i:i + 1].clone(), target_category=None)
                                if guided == "guided-gradcam":  # its README's cam_mask * gb
                                    gb = np.stack([cams[i]] * 3, axis=-1) * gb
                                out.append(gb)
                            return {"cam": cams, "guided": out}
                    elif name == "tuned":
                        if guided:
                            raise NotImplementedError("guided methods: see tuned_split")
                        m = fresh(False, True)
                        t = m.features[target_index]
                        xc = x.contiguous(memory_format=torch.channels_last)
                        fn = lambda m=m, t=t, xc=xc: gradcam_tuned(m, t, xc, cam_method)
                    elif name == "tuned_split":
                        fn, extra, m = build_tuned_split(fresh, target_index, x, half, cuda, a,
                                                         cam_method, guided)
                    elif name == "forward":
                        m = fresh(False, False)
                        fn = lambda m=m: forward_only(m, x, amp)
                    elif name == "forward_cl":
                        m = fresh(False, True, half)
                        xc = x.to(half or x.dtype).contiguous(memory_format=torch.channels_last)
                        fn = lambda m=m, xc=xc: forward_only(m, xc, contextlib.nullcontext)
                    if extra:
                        rec.update(extra)
                    label = f"{name} {method} b{batch}" if not forward_mode else f"{name} b{batch}"
                    s = time_it(fn, a.iters, a.warmup, label, a.json or a.jsonl, sync)
                    med = statistics.median(s)
                    ips = 1e3 * batch / med
                    rec.update({"ok": True, "median_ms": med, "min_ms": min(s),
                                "max_ms": max(s), "mean_ms": statistics.fmean(s),
                                "images_per_s": ips, "iters": a.iters, "warmup": a.warmup,
                                "samples_ms": s, "tflops": flops * ips * 1e-12})
                    if peak:
                        rec.update({"peak_tflops": peak,
                                    "pct_peak": 100 * flops * ips * 1e-12 / peak})
                    if cuda:
                        rec["peak_alloc_bytes"] = torch.cuda.max_memory_allocated(dev)
                    if a.check and not forward_mode:
                        cd, gd = check(name, method, fn(), x)
                        rec["check_max_abs_diff_vs_float64"] = cd
                        if gd is not None:
                            rec["check_guided_max_rel_diff_vs_float64"] = gd
                except Exception as e:  # noqa: BLE001 (one mode failing must not stop the others)
                    rec["error"] = f"{type(e).__name__}: {e}"[:600]
                finally:
                    torch.backends.cudnn.benchmark = False
                    del m, fn
                records.append(rec)
                if a.jsonl:
                    print(json.dumps(rec), flush=True)
        del x

    if a.jsonl:
        return
    modes = {}
    for rec in records:
        if rec["batch"] != batches[0] or rec["method"] not in (None, methods[0]):
            continue
        r = {"what": rec["what"], "layer": rec["layer"]}
        if rec["ok"]:
            r.update({k: rec[k] for k in ("median_ms", "min_ms", "max_ms", "mean_ms",
                                          "images_per_s", "samples_ms")})
        else:
            r["error"] = rec["error"]
        modes[rec["mode"]] = r
    report = {
        "tool": "torch_gradcam.py",
        "torch_version": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "device": a.device, "precision": a.precision, "method": methods[0], "gpu": gpu,
        "machine": machine(),
        "config": {"weights": a.weights, "batch": batches[0], "size": a.size,
                   "iters": a.iters, "warmup": a.warmup, "layer": layer},
        "modes": modes,
    }
    if a.json:
        print(json.dumps(report))
        return
    print(f"torch_gradcam.py  torch {torch.__version__}, {a.device}, {a.precision}, "
          f"{torch.get_num_threads()} threads, {report['machine']['cpu']}, {cores} cores"
          + (f", {gpu['name']}" if gpu else ""))
    print(f"workload  {a.weights}, {a.size}x{a.size}, target {layer}, {a.iters} iters after "
          f"{a.warmup} warm-up, median; {flops / 1e9:.2f} GFLOP per image forward")
    print(f"{'mode':<14} {'method':<15} {'batch':>5} {'ms/batch':>10} {'min ms':>10} {'max ms':>10} "
          f"{'images/s':>10} {'TFLOP/s':>8}")
    for r in records:
        if not r["ok"]:
            print(f"{r['mode']:<14} {r['method'] or '-':<15} {r['batch']:>5} failed: "
                  f"{r['error']}")
            continue
        chk = r.get("check_max_abs_diff_vs_float64")
        gchk = r.get("check_guided_max_rel_diff_vs_float64")
        print(f"{r['mode']:<14} {r['method'] or '-':<15} {r['batch']:>5} {r['median_ms']:>10.2f} "
              f"{r['min_ms']:>10.2f} {r['max_ms']:>10.2f} {r['images_per_s']:>10.2f} "
              f"{r['tflops']:>8.3f}"
              + (f"  check {chk:.2e}" if chk is not None else "")
              + (f", guided {gchk:.2e} rel" if gchk is not None else ""))
    for name in modes_list:
        print(f"  {name:<14} {WHAT[name]}")


def build_tuned_split(fresh, target_index, x, half, cuda, a, method="gradcam", guided=None):
    """tuned_split's batch function, what it used (graph, compile), and its model."""
    m = fresh(False, True, half)
    xs = x.to(half or x.dtype).contiguous(memory_format=torch.channels_last)
    gm = guided_model(m) if guided else None
    split = SplitGradCAM(m, target_index, method, guided, gm)
    extra = {"cuda_graph": False, "compiled": False}
    if cuda:
        torch.backends.cudnn.benchmark = True
        extra["cudnn_benchmark"] = True
    step = split.step
    if a.compile:
        if not hasattr(torch, "compile"):
            raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
        split.lo = torch.compile(split.lo)
        split.hi = torch.compile(split.hi)
        if guided:
            split.glo = torch.compile(split.glo)
            split.ghi = torch.compile(split.ghi)
        step(xs)  # compile now (errors surface here, reported by the caller)
        extra["compiled"] = True
    if cuda and not a.no_graph and not a.compile:
        static_x = xs.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up on a side stream, as torch.cuda.graph asks
                step(static_x)
        torch.cuda.current_stream().wait_stream(side)
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = step(static_x)
        except Exception as e:  # noqa: BLE001 (capture refused: time it eagerly, say why)
            extra["cuda_graph_error"] = f"{type(e).__name__}: {e}"[:300]
            torch.cuda.synchronize()
        else:
            extra["cuda_graph"] = True

            def run():
                graph.replay()
                return tuple(t.cpu() for t in static_out)
            return run, extra, m

    def run_eager():
        return tuple(t.cpu() for t in step(xs))
    return run_eager, extra, m


if __name__ == "__main__":
    main()
