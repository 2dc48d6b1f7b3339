#!/usr/bin/env python3
"""Full-size VGG16 (138M seeded random parameters) at 224x224 against PyTorch, at test time.

    full_vgg16.py TEST_GOLDEN_BINARY WORK_DIR

Writes vgg16.safetensors (F32, ~553 MB) and two goldens (block5_conv3 with the logit score,
block5_pool with the softmax score) into WORK_DIR, then runs tests/test_golden.c's binary
on each. Exit 77 (skipped) when PyTorch is not installed, else the binaries' status.
"""
import os
import subprocess
import sys

try:
    import torch
except ImportError:
    print("python3-torch is not installed: skipping the full-size VGG16 test")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "pyref"))
import gcref  # noqa: E402


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    cfg = gcref.CFGS["vgg16"]
    model = gcref.randomize(gcref.TorchvisionVGG(cfg, num_classes=1000), 16)
    weights = os.path.join(work, "vgg16.safetensors")
    gcref.write_safetensors(weights, model.state_dict())
    g = torch.Generator().manual_seed(16)
    conv53 = gcref.layer_module(model, cfg, False, "block5_conv3")
    pool5 = gcref.layer_module(model, cfg, False, "block5_pool")
    x = gcref.well_conditioned_input(model, (1, 3, 224, 224), g, [conv53, pool5], tries=10)
    gcref.write_safetensors(os.path.join(work, "vgg16.input.safetensors"),
                            {"input": x.numpy()})
    m64 = model.double()
    status = 0
    for case, layer, idx, score in (("vgg16_block5_conv3", "block5_conv3", conv53, "logit"),
                                    ("vgg16_block5_pool", "block5_pool", pool5, "softmax")):
        ref = gcref.gradcam(m64, x.double(), idx, score, "max")
        meta = {"weights": "vgg16.safetensors", "input": "vgg16.input.safetensors",
                "layer": layer, "score": score, "norm": "max", "classes": "[-1]",
                "input_w": 224, "input_h": 224, "arch": ""}
        golden = os.path.join(work, case + ".golden.safetensors")
        gcref.write_safetensors(golden, ref, meta)
        r = subprocess.run([binary, golden])
        status = status or r.returncode
    os.remove(weights)  # 553 MB: do not leave it behind
    return status


if __name__ == "__main__":
    sys.exit(main())
