#!/usr/bin/env bash
# run_cpu_bench.sh — libgradcam's CPU backend against PyTorch on the same VGG16 weights, batch,
# input size and thread count, with one command:
#   1. seeded full-size VGG16 weights (138 M params, F32, torchvision layout) generated once
#      into the cache dir with tests/pyref/gcref.py (kept between runs),
#   2. gradcam-bench configured and built in its own build dir if needed,
#   3. bench/gradcam-bench, then bench/peers/torch_gradcam.py,
#   4. a side-by-side table with speedups (ours images/s / PyTorch images/s).
# Timing only; nothing is asserted. About 3 min on 2 cores at the defaults (plus ~10 s for
# the weights the first time).
#
# Usage: bench/run_cpu_bench.sh [--threads N] [--batch N] [--size N] [--iters N]
#                               [--warmup N] [--layer NAME]
# Environment: GC_BENCH_BUILD (build dir, default build-bench), GC_BENCH_DATA (weights and
# results, default build/bench-data), PYTHON (default /usr/bin/python3, Debian's torch).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${GC_BENCH_BUILD:-$ROOT/build-bench}
DATA=${GC_BENCH_DATA:-$ROOT/build/bench-data}
PYTHON=${PYTHON:-/usr/bin/python3}
THREADS=$(nproc)
BATCH=8
SIZE=224
ITERS=5
WARMUP=1
LAYER=block5_conv3

while [ $# -gt 0 ]; do
    case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --iters) ITERS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --layer) LAYER=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_cpu_bench.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

WEIGHTS=$DATA/vgg16.safetensors
mkdir -p "$DATA"

# ---------------------------------------------------------------- 1. weights
if [ ! -f "$WEIGHTS" ]; then
    echo "== generating seeded VGG16 weights into $WEIGHTS (once)" >&2
    "$PYTHON" - "$ROOT/tests/pyref" "$WEIGHTS" <<'EOF'
import os, sys, time
sys.path.insert(0, sys.argv[1])
import gcref
t0 = time.time()
model = gcref.randomize(gcref.TorchvisionVGG(gcref.CFGS["vgg16"]), seed=16)
tmp = sys.argv[2] + ".tmp"
gcref.write_safetensors(tmp, model.state_dict(), metadata={"gradcam.preprocess": "torch"})
os.replace(tmp, sys.argv[2])
n = sum(p.numel() for p in model.parameters())
print(f"   {n / 1e6:.2f} M parameters in {time.time() - t0:.1f} s", file=sys.stderr)
EOF
fi

# ---------------------------------------------------------------- 2. build
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGC_BUILD_BENCH=ON \
        -DGC_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" --target gradcam-bench -j "$(nproc)" >/dev/null

# ---------------------------------------------------------------- 3. run
# Other work on the machine skews both sides unevenly: say so instead of failing.
read -r LOAD1 _ </proc/loadavg
if awk -v l="$LOAD1" 'BEGIN { exit !(l > 0.5) }'; then
    echo "== warning: 1-min load average is $LOAD1 before the run; the timings will be noisy" >&2
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$DATA/results-$STAMP
mkdir -p "$OUT"
COMMON=(--weights "$WEIGHTS" --batch "$BATCH" --size "$SIZE" --iters "$ITERS"
    --warmup "$WARMUP" --threads "$THREADS" --layer "$LAYER")
echo "== ours: gradcam-bench (${THREADS} threads, batch $BATCH, ${SIZE}x${SIZE})" >&2
"$BUILD/bench/gradcam-bench" "${COMMON[@]}" --json >"$OUT/ours.json"
echo "== peer: torch_gradcam.py" >&2
"$PYTHON" "$ROOT/bench/peers/torch_gradcam.py" "${COMMON[@]}" --json >"$OUT/peer.json"

# ---------------------------------------------------------------- 4. table
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    COMMIT="$COMMIT + uncommitted changes"
fi
"$PYTHON" - "$OUT/ours.json" "$OUT/peer.json" "$COMMIT" <<'EOF' | tee "$OUT/table.md"
import json, sys
ours, peer = (json.load(open(p)) for p in sys.argv[1:3])
o, p, m = ours["modes"], peer["modes"], ours["machine"]
c = ours["config"]
print(f"commit {sys.argv[3]}; {m['cpu']}, {m['cores']} cores, {m['threads']} threads; "
      f"batch {c['batch']}, {c['size']}x{c['size']}, fp32; median of {c['iters']} after "
      f"{c['warmup']} warm-up")
print(f"OpenBLAS: {m['openblas_config']} (core {m['openblas_core']}); "
      f"torch {peer['torch_version']}, oneDNN {'on' if peer['mkldnn'] else 'off'}, "
      f"{peer['machine']['torch_threads']} threads")
env = " ".join(f"{k}={v}" for k, v in m.get("env", {}).items())
print(f"threading environment: {env or 'defaults (no OMP_*/GOMP_*/OPENBLAS_NUM_THREADS set)'}\n")
rows = [
    ("Grad-CAM", "gradcam", "pytorch-grad-cam style (hooks + full backward)", "hook_backward", 2.0),
    ("Grad-CAM", "gradcam", "tuned (frozen params, channels_last, grad to target only)", "tuned", None),
    ("forward (gc_predict_tensor)", "forward", "forward, inference_mode, NCHW", "forward", 1.2),
    ("forward (gc_predict_tensor)", "forward", "forward, inference_mode, channels_last", "forward_cl", None),
]
def cell(r):
    return f"{r['median_ms']:.0f} ({r['min_ms']:.0f}–{r['max_ms']:.0f})"
print("| ours | ms/batch (min–max) | img/s | PyTorch | ms/batch (min–max) | img/s "
      "| speedup ours/peer | target |")
print("|---|---:|---:|---|---:|---:|---:|---|")
for on, ok, pn, pk, target in rows:
    a, b = o.get(ok), p.get(pk)
    if not a or not b or not a.get("ok", True):
        print(f"| {on} | {a.get('error') if a else 'not run'} | | {pn} | | | | |")
        continue
    r = a["images_per_s"] / b["images_per_s"]
    t = "" if target is None else f"≥ {target}×: {'met' if r >= target else 'NOT met'}"
    print(f"| {on} | {cell(a)} | {a['images_per_s']:.2f} | {pn} | "
          f"{cell(b)} | {b['images_per_s']:.2f} | {r:.2f}× | {t} |")
for key, label in (("explain_u8", "gc_explain, 500×375 uint8 (incl. preprocessing)"),
                   ("preprocess", "gc_preprocess_images alone, 500×375 uint8")):
    e = o.get(key)
    if e and e.get("ok", True):
        print(f"| {label} | {cell(e)} | {e['images_per_s']:.2f} | — | | | | |")
EOF
read -r LOAD1 _ </proc/loadavg
echo "== results in $OUT (1-min load average after the run: $LOAD1)" >&2
