#!/usr/bin/python3
"""Trains gradcam's bundled demo model: a small torchvision-layout VGG (BatchNorm, a global
average pool, one Linear) that tells the shapes of tools/scenes.py apart, on the CPU.

    /usr/bin/python3 tools/train_demo_model.py    # -> models/demo/shapes-vgg.safetensors

Every training batch is fresh scenes from one seeded generator (no epochs, no augmentation),
with a curriculum on the clutter (clean scenes first, full ones from 40 % of the steps on);
validation is 2000 single-object scenes from another seed. The weights are stored as F16 with
the metadata gradcam reads (arch, preprocess, input size, class names); the accuracy reported
at the end is measured on the F16 weights exactly as stored. Needs Debian's python3-torch
(1.13) and python3-numpy; see models/demo/README.md for the measured run.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "pyref"))
import gcref    # noqa: E402
import scenes   # noqa: E402

CFG = "16,M,32,M,64,64,M,128,128,128,M"   # 128 input -> last conv (block4_conv3) at 16x16
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def to_tensor(imgs):
    """uint8 (N, H, W, 3) RGB -> the library's "torch" preprocessing, NCHW float32."""
    x = (imgs.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def build(cfg):
    c = [v if v == "M" else int(v) for v in cfg.split(",")]
    return gcref.TorchvisionVGG(c, batch_norm=True, num_classes=len(scenes.CLASSES), pool=1,
                                hidden=()), c


@torch.no_grad()
def accuracy(model, imgs, labels, bs=250):
    model.eval()
    hits = 0
    for i in range(0, len(imgs), bs):
        hits += (model(to_tensor(imgs[i:i + bs])).argmax(1).numpy() == labels[i:i + bs]).sum()
    return hits / len(imgs)


def pointing(model, imgs, objs, size):
    """The pointing game as tests/demo/test_pointing.c plays it (cell-centre rule), in
    PyTorch: for each object, the cam of its class; a hit when the centre of the cam's
    maximum cell lies in the object's box. Returns (hits, trials)."""
    # gradcam's default layer: the last conv's output after its ReLU
    idx = max(i for i, m in enumerate(model.features) if isinstance(m, torch.nn.ReLU))
    hits = trials = 0
    for k in range(len(objs[0])):
        classes = [o[k].cls for o in objs]
        for i in range(0, len(imgs), 50):
            r = gcref.gradcam(model, to_tensor(imgs[i:i + 50]), idx, classes=classes[i:i + 50])
            cam = r["cam"]
            n, h, w = cam.shape
            for j in range(n):
                a = int(np.argmax(cam[j]))
                cy, cx = (a // w + 0.5) * size / h, (a % w + 0.5) * size / w
                x0, y0, x1, y1 = objs[i + j][k].box
                hits += int(cam[j].max() > 0 and x0 <= cx < x1 and y0 <= cy < y1)
                trials += 1
    return hits, trials


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "demo", "shapes-vgg.safetensors"))
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--cfg", default=CFG)
    ap.add_argument("--size", type=int, default=scenes.SIZE)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--val", type=int, default=2000, help="validation scenes (single-object)")
    ap.add_argument("--ramp", type=float, default=0.4,
                    help="fraction of the steps over which clutter ramps up to full")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model, cfg = build(args.cfg)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.15)
    val_imgs, val_objs = scenes.batch(args.seed + 1, args.val, 0.0, args.size)
    val_labels = np.array([o[0].cls for o in val_objs])

    t0 = time.time()
    gen_s = 0.0
    run_loss = run_acc = 0.0
    for step in range(1, args.steps + 1):
        g = time.time()
        imgs = np.empty((args.batch, args.size, args.size, 3), np.uint8)
        labels = np.empty(args.batch, np.int64)
        # curriculum: from scratch, a small object in full clutter gives almost no signal
        # (the loss stays at ln 6 for hundreds of steps), so each scene's clutter is uniform
        # in [2r - 1, 2r] clipped to [0, 1], r rising from 0 to 1 over the first `ramp` of
        # the steps: clean scenes first, the full scenes only from then on
        r = min(1.0, (step - 1) / max(1.0, args.ramp * args.steps))
        for i in range(args.batch):
            clutter = min(1.0, max(0.0, 2 * r - 1 + rng.random()))
            imgs[i], o = scenes.scene(rng, 1, args.size, clutter=clutter)
            labels[i] = o[0].cls
        gen_s += time.time() - g
        x = to_tensor(imgs).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labels)
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run_loss = 0.95 * run_loss + 0.05 * loss.item() if step > 1 else loss.item()
        acc = (logits.argmax(1) == y).float().mean().item()
        run_acc = 0.95 * run_acc + 0.05 * acc if step > 1 else acc
        if step % 50 == 0 or step == args.steps:
            print(f"step {step:5d}  loss {run_loss:.3f}  train acc {run_acc:.3f}  "
                  f"{time.time() - t0:6.0f} s (scenes {gen_s:.0f} s)", flush=True)
        if step % 300 == 0 and step < args.steps:
            print(f"  validation accuracy {accuracy(model, val_imgs, val_labels):.4f}",
                  flush=True)
    train_s = time.time() - t0

    # store as F16, with what gradcam reads from the metadata
    model = model.to(memory_format=torch.contiguous_format).eval()
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    meta = {
        "gradcam.arch": args.cfg,
        "gradcam.preprocess": "torch",
        "gradcam.input_size": str(args.size),
        "gradcam.classes": json.dumps(list(scenes.CLASSES)),
        "gradcam.demo": json.dumps({"trainer": "tools/train_demo_model.py", "seed": args.seed,
                                    "steps": args.steps, "batch": args.batch}),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    gcref.write_safetensors(args.out, sd, meta, dtype="F16")

    gcref.roundtrip(model, "F16")  # evaluate the weights as stored
    acc = accuracy(model, val_imgs, val_labels)
    n_pt = 400
    h1, t1 = pointing(model, val_imgs[:n_pt], val_objs[:n_pt], args.size)
    two_imgs, two_objs = scenes.batch(args.seed + 2, 100, 1.0, args.size)
    h2, t2 = pointing(model, two_imgs, two_objs, args.size)
    print(f"trained {args.steps} steps x {args.batch} scenes in {train_s:.0f} s "
          f"({gen_s:.0f} s making scenes), {args.threads} threads")
    print(f"validation accuracy (F16 weights, {args.val} single-object scenes): {acc:.4f}")
    print(f"pointing game (PyTorch, true class): single {h1}/{t1} = {h1 / t1:.3f}, "
          f"two-object {h2}/{t2} = {h2 / t2:.3f}")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
