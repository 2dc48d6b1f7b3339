"""gcref — the PyTorch side of gradcam's tests: VGG builders in torchvision and timm layouts,
a safetensors writer, and Grad-CAM computed the way pytorch-grad-cam does it (forward hook on
the target module, gradient hook, alpha = mean gradient, ReLU of the weighted sum).

Used by tests/golden/make_goldens.py (committed goldens), tests/full_vgg16.py (full-size
VGG16 at test time) and bench/peers/. Runs with Debian's python3-torch and python3-numpy.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CFGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def scaled_cfg(name, div):
    return [v if v == "M" else max(1, v // div) for v in CFGS[name]]


def cfg_string(cfg):
    return ",".join(str(v) for v in cfg)


def make_features(cfg, batch_norm):
    """torchvision's vgg.make_layers, with non-inplace ReLUs so hooks see clean tensors."""
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(c, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=False))
            c = v
    return nn.Sequential(*layers), c


class TorchvisionVGG(nn.Module):
    """Same module tree and state-dict keys as torchvision.models.VGG, with a configurable
    adaptive-pool size and classifier widths (hidden=[] gives a single Linear)."""

    def __init__(self, cfg, batch_norm=False, num_classes=1000, pool=7, hidden=(4096, 4096)):
        super().__init__()
        self.features, c = make_features(cfg, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
        layers, d = [], c * pool * pool
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(inplace=False), nn.Dropout()]
            d = h
        layers.append(nn.Linear(d, num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class _ConvMlp(nn.Module):
    def __init__(self, c, d1, d2):
        super().__init__()
        self.fc1 = nn.Conv2d(c, d1, 7)
        self.act1 = nn.ReLU()  # modules (not F.relu) so guided_backprop can swap them
        self.fc2 = nn.Conv2d(d1, d2, 1)
        self.act2 = nn.ReLU()

    def forward(self, x):  # timm's ConvMlp: pool up to at least 7x7, 7x7 conv, 1x1 conv
        if x.shape[-2] < 7 or x.shape[-1] < 7:
            x = F.adaptive_avg_pool2d(x, (max(7, x.shape[-2]), max(7, x.shape[-1])))
        return self.act2(self.fc2(self.act1(self.fc1(x))))


class _Head(nn.Module):
    def __init__(self, d, num_classes):
        super().__init__()
        self.fc = nn.Linear(d, num_classes)

    def forward(self, x):  # timm's ClassifierHead with global average pooling
        return self.fc(x.mean((2, 3)))


class TimmVGG(nn.Module):
    """Same keys and forward as timm.models.vgg.VGG (features, pre_logits.fc1/fc2, head.fc)."""

    def __init__(self, cfg, batch_norm=False, num_classes=1000, d1=4096, d2=4096):
        super().__init__()
        self.features, c = make_features(cfg, batch_norm)
        self.pre_logits = _ConvMlp(c, d1, d2)
        self.head = _Head(d2, num_classes)

    def forward(self, x):
        return self.head(self.pre_logits(self.features(x)))


def randomize(model, seed):
    """Seeded weights with non-trivial biases and BatchNorm statistics, so that every part
    of the maths (bias, BN folding, ReLU masks) matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(100)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.in_features) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.05)
    return model.eval()


_DTYPES = {np.float32: "F32", np.float16: "F16", np.float64: "F64", np.int64: "I64",
           np.int32: "I32", np.uint8: "U8"}


def write_safetensors(path, tensors, metadata=None, dtype=None):
    """tensors: name -> numpy array or torch tensor. dtype 'F16' / 'BF16' converts float
    tensors (BF16 by truncation-free rounding through torch)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu()
            if dtype == "BF16" and t.is_floating_point():
                raw = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
                code, shape = "BF16", list(t.shape)
            else:
                a = t.numpy()
                if dtype == "F16" and a.dtype.kind == "f":
                    a = a.astype(np.float16)
                raw, code, shape = a.tobytes(), _DTYPES[a.dtype.type], list(a.shape)
        else:
            a = np.ascontiguousarray(t)
            raw, code, shape = a.tobytes(), _DTYPES[a.dtype.type], list(a.shape)
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def roundtrip(model, dtype):
    """The weights exactly as a file of that dtype stores them (F16 / BF16 rounding)."""
    with torch.no_grad():
        for p in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            if dtype == "F16":
                p.copy_(p.half().float())
            elif dtype == "BF16":
                p.copy_(p.bfloat16().float())
    return model


def layer_module(model, cfg, batch_norm, name):
    """Keras-style name (block3_conv2 = after ReLU, block3_pool) or features.N -> index."""
    if name.startswith("features."):
        return int(name.split(".")[1])
    idx, block, conv = 0, 1, 0
    for v in cfg:
        if v == "M":
            if name == f"block{block}_pool":
                return idx
            idx, block, conv = idx + 1, block + 1, 0
        else:
            conv += 1
            step = 3 if batch_norm else 2
            if name == f"block{block}_conv{conv}":
                return idx + step - 1  # the ReLU
            idx += step
    raise KeyError(name)


def gradcam(model, x, module_index, score="logit", norm="max", classes=None, method="gradcam",
            counterfactual=False):
    """Grad-CAM (or Grad-CAM++, XGrad-CAM, LayerCAM, HiResCAM) as pytorch-grad-cam computes
    it. Returns a dict of numpy arrays; "alpha" is the method's channel weights (the mean
    gradient for the element-wise methods, which have none)."""
    store = {}
    target = model.features[module_index]

    def fwd_hook(_m, _inp, out):
        store["A"] = out
        out.register_hook(lambda g: store.__setitem__("G", g))

    h = target.register_forward_hook(fwd_hook)
    try:
        logits = model(x)
    finally:
        h.remove()
    top = logits.argmax(1)
    cls = torch.tensor([top[i].item() if classes is None or classes[i] < 0 else classes[i]
                        for i in range(x.shape[0])])
    out = logits.softmax(1) if score == "softmax" else logits
    model.zero_grad()
    y = out.gather(1, cls[:, None]).sum()
    (-y if counterfactual else y).backward()  # counterfactual: what speaks against the class
    A, G = store["A"].detach(), store["G"].detach()
    if method == "gradcampp":  # pytorch-grad-cam's GradCAMPlusPlus.get_cam_weights
        g2, g3 = G ** 2, G ** 3
        sum_a = A.sum((2, 3))
        aij = g2 / (2 * g2 + sum_a[:, :, None, None] * g3 + 1e-6)
        aij = torch.where(G != 0, aij, torch.zeros_like(aij))
        alpha = (F.relu(G) * aij).sum((2, 3))
    elif method == "xgradcam":
        sum_a = A.sum((2, 3))
        alpha = (G * A / (sum_a[:, :, None, None] + 1e-7)).sum((2, 3))
    else:
        alpha = G.mean((2, 3))
    if method == "layercam":
        cam_raw = F.relu((F.relu(G) * A).sum(1))
    elif method == "hirescam":
        cam_raw = F.relu((G * A).sum(1))
    else:
        cam_raw = F.relu((alpha[:, :, None, None] * A).sum(1))
    n = cam_raw.shape[0]
    flat = cam_raw.reshape(n, -1)
    if norm == "minmax":
        lo = flat.min(1, keepdim=True).values
        cam = (flat - lo) / ((flat - lo).max(1, keepdim=True).values + 1e-7)
    else:
        hi = flat.max(1, keepdim=True).values
        cam = torch.where(hi > 0, flat / torch.where(hi > 0, hi, torch.ones_like(hi)),
                          torch.zeros_like(flat))
    f32 = lambda t: t.detach().float().numpy()
    return {
        "logits": f32(logits), "classes": cls.numpy().astype(np.int32),
        "probs": f32(logits.softmax(1)), "activation": f32(A), "gradient": f32(G),
        "alpha": f32(alpha), "cam_raw": f32(cam_raw), "cam": f32(cam.reshape(cam_raw.shape)),
    }



class _GuidedReLUFunction(torch.autograd.Function):
    """ReLU whose backward passes a gradient only where both it and the input are positive
    (Springenberg et al.; pytorch-grad-cam's GuidedBackpropReLU)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0).to(g.dtype) * (g > 0).to(g.dtype)


class GuidedReLU(nn.Module):
    def forward(self, x):
        return _GuidedReLUFunction.apply(x)


def _swap_relus(module):
    # _modules, not named_children(): that skips repeats of one shared ReLU instance
    for name, child in list(module._modules.items()):
        if isinstance(child, nn.ReLU):
            setattr(module, name, GuidedReLU())
        else:
            _swap_relus(child)


def guided_backprop(model, x, score="logit", classes=None, counterfactual=False):
    """d y^c / d input with every ReLU (features and head) in guided mode, as
    pytorch-grad-cam's GuidedBackpropReLUModel (which swaps all nn.ReLU modules). Returns
    the gradient (n, 3, H, W) as a tensor of x's dtype."""
    import copy
    m = copy.deepcopy(model)
    _swap_relus(m)
    x = x.detach().clone().requires_grad_(True)
    logits = m(x)
    top = logits.argmax(1)
    cls = torch.tensor([top[i].item() if classes is None or classes[i] < 0 else classes[i]
                        for i in range(x.shape[0])])
    out = logits.softmax(1) if score == "softmax" else logits
    y = out.gather(1, cls[:, None]).sum()
    (-y if counterfactual else y).backward()
    return x.grad.detach()


def deprocess_image(img):
    """pytorch-grad-cam's utils.image.deprocess_image (the Grad-CAM authors' rendering of
    a guided gradient), on a float32 (H, W, 3) array."""
    img = img - np.mean(img)
    img = img / (np.std(img) + 1e-5)
    img = img * 0.1
    img = img + 0.5
    img = np.clip(img, 0, 1)
    return np.uint8(img * 255)


def well_conditioned_input(model, shape, generator, targets, tol=1e-5, tries=100, guided=False):
    """A random input (n, 3, h, w) on which float32 PyTorch agrees with float64 PyTorch at
    every target module index: gradient within tol of its maximum, cam within tol.

    Random networks put much of the gradient on a few max-pool winners, and a window whose
    two largest values differ by less than float32's rounding routes its gradient to another
    pixel in float32 than in float64 (both right). Such an input says nothing about our code,
    so the goldens use inputs where float32 is stable; what remains is our own error.
    guided: also the guided-backprop input gradient, which crosses every max-pool."""
    import copy
    m32, m64 = copy.deepcopy(model).float(), copy.deepcopy(model).double()
    for attempt in range(tries):
        x = torch.randn(shape, generator=generator)
        worst = 0.0
        for idx in targets:
            a = gradcam(m32, x.float(), idx)
            b = gradcam(m64, x.double(), idx)
            gscale = max(float(np.abs(b["gradient"]).max()), 1e-30)
            worst = max(worst, float(np.abs(a["gradient"] - b["gradient"]).max()) / gscale,
                        float(np.abs(a["cam"] - b["cam"]).max()))
        if guided:
            a = guided_backprop(m32, x.float()).numpy()
            b = guided_backprop(m64, x.double()).numpy()
            worst = max(worst, float(np.abs(a - b).max()) / max(float(np.abs(b).max()), 1e-30))
        if worst <= tol:
            return x
        print(f"  input {attempt} rejected: float32 vs float64 differ by {worst:.2g}",
              file=sys.stderr)
    raise RuntimeError(f"no well-conditioned input in {tries} tries")
