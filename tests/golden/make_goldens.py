#!/usr/bin/env python3
"""Regenerates the committed goldens in tests/golden/ from PyTorch (Debian's python3-torch).

    /usr/bin/python3 tests/golden/make_goldens.py

For each small model it writes <model>.safetensors (the weights) and, for each case,
<case>.golden.safetensors: the preprocessed input tensor and what PyTorch computes from it in
float64 (logits, target activation A, dy/dA, alpha, raw and normalized cam), stored as
float32, plus metadata telling tests/test_golden.c which options to use.
Deterministic: seeded weights and inputs.
"""
import json
import os
import sys

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pyref"))
import gcref  # noqa: E402

torch.use_deterministic_algorithms(True)


def save_model(name, model, dtype, metadata=None, prefix=""):
    sd = {prefix + k: v for k, v in model.state_dict().items()}
    gcref.write_safetensors(os.path.join(HERE, name + ".safetensors"), sd, metadata, dtype)
    return gcref.roundtrip(model, dtype).double()


def save_input(name, x):
    """One input tensor per model, shared by its cases (keeps the goldens small)."""
    gcref.write_safetensors(os.path.join(HERE, name + ".input.safetensors"),
                            {"input": x.float().numpy()})
    return name, x


def save_case(case, weights, model, cfg, bn, x, layer="", score="logit", norm="max",
              classes=None, arch="", method="gradcam", counterfactual=False):
    idx = gcref.layer_module(model, cfg, bn, layer) if layer else \
        max(i for i, m in enumerate(model.features) if isinstance(m, torch.nn.ReLU))
    input_name, x = x
    guided = method.startswith("guided")
    ref = gcref.gradcam(model, x.double(), idx, score, norm, classes,
                        "gradcam" if guided else method, counterfactual)
    if guided:  # the input gradient, and Guided Grad-CAM: it times the cam at input size
        gb = gcref.guided_backprop(model, x.double(), score, classes, counterfactual).numpy()
        ref["guided"] = gb.astype(np.float32)
        if method == "guided_gradcam":
            up = np.stack([cv2.resize(c, (x.shape[3], x.shape[2])) for c in ref["cam"]])
            ref["guided_gradcam"] = (gb * up[:, None].astype(np.float64)).astype(np.float32)
        # what pytorch-grad-cam's deprocess_image draws from the float32 tensors (HWC)
        for key in ("guided", "guided_gradcam"):
            if key in ref:
                ref[key + "_image"] = np.stack([gcref.deprocess_image(t.transpose(1, 2, 0))
                                                for t in ref[key]])
    meta = {"weights": weights + ".safetensors", "input": input_name + ".input.safetensors",
            "layer": layer, "score": score, "norm": norm,
            "classes": json.dumps(classes if classes else [-1] * x.shape[0]),
            "input_w": x.shape[3], "input_h": x.shape[2], "arch": arch, "method": method,
            "counterfactual": int(counterfactual)}
    gcref.write_safetensors(os.path.join(HERE, case + ".golden.safetensors"), ref, meta)
    print(f"{case}: classes {ref['classes'].tolist()} cam {ref['cam'].shape[1:]}")


def main():
    g = torch.Generator().manual_seed(1234)
    model = None  # the model whose backward paths the next inputs must keep tie-free

    def img(n, h, w, cfg, bn, layers, guided=False):
        targets = [gcref.layer_module(model, cfg, bn, name) for name in layers]
        return gcref.well_conditioned_input(model, (n, 3, h, w), g, targets, guided=guided)

    # A reduced-width VGG16 (channels / 8) in torchvision's layout, F32, 224x224.
    cfg = gcref.scaled_cfg("vgg16", 8)
    m = gcref.randomize(gcref.TorchvisionVGG(cfg, num_classes=10, hidden=(64, 64)), 1)
    m = model = tv16 = save_model("tv_vgg16_small", m, None)
    x = save_input("tv16", img(2, 224, 224, cfg, False, ["block3_conv3", "block4_conv3", "block5_conv3",
                                                     "block5_pool", "features.28"]))
    save_case("tv16_default", "tv_vgg16_small", m, cfg, False, x)
    save_case("tv16_softmax_minmax", "tv_vgg16_small", m, cfg, False, x, "block5_conv3",
              "softmax", "minmax")
    save_case("tv16_block4_class", "tv_vgg16_small", m, cfg, False, x, "block4_conv3",
              classes=[3, -1])
    save_case("tv16_block3", "tv_vgg16_small", m, cfg, False, x, "block3_conv3")
    save_case("tv16_pool5", "tv_vgg16_small", m, cfg, False, x, "block5_pool")
    save_case("tv16_preact", "tv_vgg16_small", m, cfg, False, x, "features.28", "softmax")
    # the other methods, as pytorch-grad-cam defines them
    save_case("tv16_gradcampp", "tv_vgg16_small", m, cfg, False, x, method="gradcampp")
    save_case("tv16_xgradcam_block4", "tv_vgg16_small", m, cfg, False, x, "block4_conv3",
              method="xgradcam")
    save_case("tv16_layercam_block3", "tv_vgg16_small", m, cfg, False, x, "block3_conv3",
              norm="minmax", method="layercam")
    save_case("tv16_hirescam_softmax", "tv_vgg16_small", m, cfg, False, x, score="softmax",
              method="hirescam")
    save_case("tv16_counterfactual", "tv_vgg16_small", m, cfg, False, x, counterfactual=True)

    # VGG11 with BatchNorm, F16 weights, a non-square 128x96 input: the 3x4 feature map is
    # smaller than the 7x7 adaptive pool (overlapping windows).
    cfg = gcref.scaled_cfg("vgg11", 8)
    m = gcref.randomize(gcref.TorchvisionVGG(cfg, batch_norm=True, num_classes=7,
                                             hidden=(48, 32)), 2)
    m = model = save_model("tv_vgg11_bn_small", m, "F16")
    x = save_input("tv11bn", img(2, 96, 128, cfg, True, ["features.5", "block4_conv1", "block5_conv2"]))
    save_case("tv11bn_default", "tv_vgg11_bn_small", m, cfg, True, x)
    save_case("tv11bn_block4_softmax", "tv_vgg11_bn_small", m, cfg, True, x, "block4_conv1",
              "softmax")
    save_case("tv11bn_after_bn", "tv_vgg11_bn_small", m, cfg, True, x, "features.5",
              classes=[0, 6])

    # timm's layout (pre_logits.fc1 as a 7x7 conv, fc2 1x1, head.fc), BF16 weights:
    # at 224 one position; at 256x288 3x2 positions averaged; at 160 the 5x5 map pooled up.
    cfg = gcref.scaled_cfg("vgg13", 8)
    m = gcref.randomize(gcref.TimmVGG(cfg, num_classes=5, d1=32, d2=24), 3)
    m = model = timm13 = save_model("timm_vgg13_small", m, "BF16")
    save_case("timm13_224", "timm_vgg13_small", m, cfg, False,
              save_input("timm13_224", img(2, 224, 224, cfg, False, ["block5_conv2"])))
    save_case("timm13_288x256", "timm_vgg13_small", m, cfg, False,
              save_input("timm13_288x256", img(1, 256, 288, cfg, False, ["block5_conv2"])), "block5_conv2", "softmax",
              "minmax")
    save_case("timm13_160", "timm_vgg13_small", m, cfg, False,
              save_input("timm13_160", img(1, 160, 160, cfg, False, ["block5_conv2"])))

    # A custom cfg that does not end with a pool (so it cannot be inferred): stated in the
    # file's gradcam.arch metadata; a 2x2 adaptive pool and a single Linear; keys saved
    # with DataParallel's "module." prefix.
    cfg = [16, "M", 24, 24, "M", 32]
    m = gcref.randomize(gcref.TorchvisionVGG(cfg, num_classes=6, pool=2, hidden=()), 4)
    meta = {"gradcam.arch": gcref.cfg_string(cfg), "gradcam.preprocess": "caffe",
            "gradcam.input_size": "64x48",
            "gradcam.classes": json.dumps(["a", "b", "c", "d", "e", "f"])}
    m = model = custom = save_model("custom_small", m, None, meta, prefix="module.")
    x = save_input("custom", img(2, 48, 64, cfg, False, ["block1_pool", "block2_conv2", "block3_conv1"]))
    save_case("custom_default", "custom_small", m, cfg, False, x)
    save_case("custom_block2", "custom_small", m, cfg, False, x, "block2_conv2", "softmax",
              "minmax", [5, 1])
    # the same weights with the architecture given through the options instead
    save_case("custom_arch_option", "custom_small", m, cfg, False, x, "block1_pool",
              arch=gcref.cfg_string(cfg))

    # A dead target layer (zero weights, negative bias): the cam is all zero and must stay
    # zero under both normalizations, never NaN.
    cfg = [4, "M", 4, "M"]
    m = gcref.randomize(gcref.TorchvisionVGG(cfg, num_classes=3, pool=1, hidden=()), 5)
    with torch.no_grad():
        m.features[3].weight.zero_()
        m.features[3].bias.fill_(-1.0)
    m = model = save_model("dead_small", m, None)
    x = save_input("dead", img(1, 32, 32, cfg, False, ["block2_conv1"]))
    save_case("dead_cam_max", "dead_small", m, cfg, False, x)
    save_case("dead_cam_minmax", "dead_small", m, cfg, False, x, norm="minmax")

    # Guided backprop and Guided Grad-CAM, on inputs whose guided gradient (through every
    # max-pool) float32 PyTorch computes as float64 does. Last, so that the inputs above
    # stay what they were.
    cfg = gcref.scaled_cfg("vgg16", 8)
    model = tv16
    save_case("tv16_guided_gradcam", "tv_vgg16_small", tv16, cfg, False,
              save_input("tv16g", img(1, 224, 224, cfg, False, ["block5_conv3"], True)),
              method="guided_gradcam")
    cfg = [16, "M", 24, 24, "M", 32]
    model = custom
    save_case("custom_guided_backprop", "custom_small", custom, cfg, False,
              save_input("customg", img(2, 48, 64, cfg, False, ["block3_conv1"], True)),
              score="softmax", classes=[5, -1], method="guided_backprop")
    cfg = gcref.scaled_cfg("vgg13", 8)
    model = timm13
    save_case("timm13_guided_counterfactual", "timm_vgg13_small", timm13, cfg, False,
              save_input("timm13g", img(1, 160, 160, cfg, False, ["block5_conv2"], True)),
              norm="minmax", method="guided_gradcam", counterfactual=True)


if __name__ == "__main__":
    main()
