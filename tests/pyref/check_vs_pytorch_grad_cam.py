#!/usr/bin/env python3
"""Checks our PyTorch oracle (gcref.py), from which every golden is made, against
pytorch-grad-cam itself: the five CAM methods and guided backprop with deprocess_image.

    /usr/bin/python3 tests/pyref/check_vs_pytorch_grad_cam.py [PATH]

PATH: a folder or .tar.gz/.whl of pytorch-grad-cam (PyPI `grad-cam`, e.g. fetched with
`pip download grad-cam ttach --no-deps -d .deps/wheels`); without it the installed package is
used. ttach is found the same way. Modules pytorch-grad-cam imports for methods we do not
compare (scikit-learn, matplotlib, ...) are stubbed when missing. Exit 0 when every
comparison is within 1e-5 (float32 on both sides), 77 when pytorch-grad-cam is unavailable.
"""
import glob
import os
import sys
import tarfile
import tempfile
import types
import zipfile

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gcref  # noqa: E402


def unpack(path, into):
    """Puts pytorch_grad_cam and ttach from PATH (folder, sdist or wheel) on sys.path."""
    files = glob.glob(os.path.join(path, "*")) if os.path.isdir(path) else [path]
    for f in files:
        if f.endswith(".whl"):
            zipfile.ZipFile(f).extractall(into)
        elif f.endswith(".tar.gz"):
            with tarfile.open(f) as t:
                t.extractall(into)
    sys.path.insert(0, into)
    for d in glob.glob(os.path.join(into, "*")):  # an sdist's top folder holds the package
        if os.path.isdir(os.path.join(d, "pytorch_grad_cam")):
            sys.path.insert(0, d)


def stub_missing(names):
    """Empty stand-ins for optional imports (only used by methods not compared here)."""
    for name in names:
        try:
            __import__(name)
        except ImportError:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                mod = ".".join(parts[:i])
                sys.modules.setdefault(mod, types.ModuleType(mod))
            def attr(a):
                if a.startswith("__"):
                    raise AttributeError(a)
                return type(a, (), {})
            sys.modules[name].__getattr__ = attr


def main():
    tmp = tempfile.mkdtemp()
    if len(sys.argv) > 1 and os.path.exists(sys.argv[1]):
        unpack(sys.argv[1], tmp)
    stub_missing(["sklearn", "sklearn.decomposition", "matplotlib", "matplotlib.pyplot",
                  "scipy", "scipy.ndimage", "tqdm", "kornia"])
    try:
        import pytorch_grad_cam as pgc
        from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel
        from pytorch_grad_cam.utils.image import deprocess_image
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError as e:
        print(f"pytorch-grad-cam unavailable ({e}): skipped")
        return 77

    torch.manual_seed(0)
    cfg = gcref.scaled_cfg("vgg16", 8)
    model = gcref.randomize(gcref.TorchvisionVGG(cfg, num_classes=10, hidden=(64, 64)), 1)
    model = model.float().eval()
    x = torch.randn(2, 3, 224, 224)
    target = max(i for i, m in enumerate(model.features) if isinstance(m, torch.nn.ReLU))
    classes = [3, 7]
    worst = 0.0
    methods = {"gradcam": pgc.GradCAM, "gradcampp": pgc.GradCAMPlusPlus,
               "xgradcam": pgc.XGradCAM, "layercam": pgc.LayerCAM, "hirescam": pgc.HiResCAM}
    for name, cls in methods.items():
        with cls(model=model, target_layers=[model.features[target]]) as cam:
            # pytorch-grad-cam min-max normalizes and resizes to the input; compare at the
            # cam's own size by asking for no resize through the raw per-layer cams
            got = cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in classes])
        ref = gcref.gradcam(model, x, target, "logit", "minmax", classes, name)["cam"]
        # pytorch-grad-cam: min-max, resize to the input, then min-max again
        ref_up = np.stack([cv2.resize(c, (224, 224)) for c in ref])
        lo = ref_up.min((1, 2), keepdims=True)
        ref_up = (ref_up - lo) / (1e-7 + (ref_up - lo).max((1, 2), keepdims=True))
        err = float(np.abs(got - ref_up).max())
        worst = max(worst, err)
        print(f"{name:10s} cam (224x224, min-max) max |pytorch-grad-cam - gcref| = {err:.2e}")

    gb_model = GuidedBackpropReLUModel(model=model, device="cpu")
    for i, c in enumerate(classes):
        got = gb_model(x[i:i + 1].clone(), target_category=c)  # (H, W, 3)
        ref = gcref.guided_backprop(model, x[i:i + 1], "logit", [c])[0].numpy()
        ref = ref.transpose(1, 2, 0)
        scale = float(np.abs(ref).max())
        err = float(np.abs(got - ref).max()) / scale
        worst = max(worst, err)
        d = np.abs(deprocess_image(got).astype(int) - gcref.deprocess_image(ref).astype(int))
        print(f"guided backprop image {i}: max rel err {err:.2e}; deprocess_image differs at "
              f"{int((d > 0).sum())} bytes (max {int(d.max())})")
        worst = max(worst, float(d.max() > 1))
    ok = worst <= 1e-5
    print("passed" if ok else f"FAILED (worst {worst:.3g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
