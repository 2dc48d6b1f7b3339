#!/usr/bin/env python3
"""roofline.py — lower bounds on VGG16's Grad-CAM batch time on a GPU from its FLOPs and its
unavoidable memory traffic, layer by layer: what the 20,000 img/s target (issue 5) asks of
the convolutions. Computed, not measured; the benchmark's per-layer table (gc_profile_layer_ms)
is what to hold against it.

    bench/roofline.py [--batch 256] [--size 224] [--tflops 989] [--tbps 3.35] [--bytes 2]
                      [--conv-eff 0.75] [--mem-eff 0.85] [--markdown]

Each conv: 2*9*C*K*H*W FLOPs per image (the first conv's 3 input channels padded to 8, as
the CUDA backend stores them), and at least its input and output activations through memory
once (weights are small beside them at batch 256). Each pool: its input and output once.
A layer takes max(FLOPs / compute peak, bytes / memory peak) at the peaks, and the same at
the given efficiencies. The head and the Grad-CAM backward (under 1% of the FLOPs) are left
out: this is a floor for the features alone.
"""
import argparse

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def layers(size, first_c=8):
    c, h, out, blk, idx = first_c, size, [], 1, 1
    for v in CFG:
        if v == "M":
            out.append((f"block{blk}_pool", "pool", 0, h * h * c, (h // 2) ** 2 * c))
            h //= 2
            blk, idx = blk + 1, 1
        else:
            out.append((f"block{blk}_conv{idx}", "conv", 2 * 9 * c * v * h * h, h * h * c,
                        h * h * v))
            c, idx = v, idx + 1
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--tflops", type=float, default=989.4, help="dense tensor peak (H100 SXM bf16)")
    ap.add_argument("--tbps", type=float, default=3.35, help="memory bandwidth (H100 SXM HBM3)")
    ap.add_argument("--bytes", type=int, default=2, help="bytes per activation (bf16: 2)")
    ap.add_argument("--conv-eff", type=float, default=0.75, help="share of the compute peak")
    ap.add_argument("--mem-eff", type=float, default=0.85, help="share of the memory peak")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    rows, tot_peak, tot_eff, tot_flops = [], 0.0, 0.0, 0.0
    for name, kind, flops, n_in, n_out in layers(a.size):
        f = flops * a.batch
        b = (n_in + n_out) * a.batch * a.bytes
        t_c, t_m = f / (a.tflops * 1e12), b / (a.tbps * 1e12)
        peak = max(t_c, t_m) * 1e3
        eff = max(t_c / a.conv_eff, t_m / a.mem_eff) * 1e3
        rows.append((name, f / 1e9, b / 1e9, peak, eff, "compute" if t_c >= t_m else "memory"))
        tot_peak, tot_eff, tot_flops = tot_peak + peak, tot_eff + eff, tot_flops + f
    head = (f"VGG16 features, batch {a.batch}, {a.size}x{a.size}, {a.bytes}-byte activations; "
            f"peaks {a.tflops:g} TFLOP/s and {a.tbps:g} TB/s; efficiencies {a.conv_eff:.0%} "
            f"(compute) and {a.mem_eff:.0%} (memory)")
    if a.markdown:
        print(head + "\n")
        print("| layer | GFLOP | GB moved | ms at the peaks | ms at the efficiencies | bound |")
        print("|---|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]:.0f} | {r[2]:.2f} | {r[3]:.3f} | {r[4]:.3f} | {r[5]} |")
        print(f"| **all** | {tot_flops / 1e9:.0f} | {sum(r[2] for r in rows):.2f} | "
              f"**{tot_peak:.2f}** | **{tot_eff:.2f}** | |")
    else:
        print(head)
        print(f"{'layer':<14} {'GFLOP':>8} {'GB':>7} {'ms@peak':>9} {'ms@eff':>9}  bound")
        for r in rows:
            print(f"{r[0]:<14} {r[1]:8.0f} {r[2]:7.2f} {r[3]:9.3f} {r[4]:9.3f}  {r[5]}")
        print(f"{'all':<14} {tot_flops / 1e9:8.0f} {sum(r[2] for r in rows):7.2f} "
              f"{tot_peak:9.2f} {tot_eff:9.2f}")
    print(f"\nfloor for the features: {tot_peak:.2f} ms at the peaks "
          f"({a.batch / tot_peak * 1e3:,.0f} img/s), {tot_eff:.2f} ms at the efficiencies "
          f"({a.batch / tot_eff * 1e3:,.0f} img/s); 20,000 img/s leaves "
          f"{a.batch / 20000 * 1e3:.2f} ms per batch for everything")


if __name__ == "__main__":
    main()
