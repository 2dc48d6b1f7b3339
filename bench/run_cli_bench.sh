#!/usr/bin/env bash
# run_cli_bench.sh — the `gradcam` command end to end on the CPU backend: a folder of N
# photo-like 500x375 JPEGs to overlay + heatmap PNGs, with full-size VGG16 (the weights that
# bench/run_cpu_bench.sh generates) and with the small committed test model (where the
# command's own decode/render/encode work shows). Prints img/s. Timing only.
#   bench/run_cli_bench.sh [N (default 96)]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${1:-96}
BIN=$ROOT/build/gradcam
DATA=${GC_BENCH_DATA:-$ROOT/build/bench-data}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 - "$WORK/in" "$N" <<'PY'
import os, sys, numpy as np, cv2
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
rng = np.random.default_rng(0)
y, x = np.mgrid[0:375, 0:500]
for i in range(n):
    img = np.stack([127 + 100 * np.sin(x / (9.0 + c + i % 5)) * np.cos(y / 13.0 - c) for c in range(3)], -1)
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(os.path.join(out, f"p{i:04d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
PY
echo "$N JPEGs 500x375 -> overlay + heatmap PNGs, $(nproc) cores, commit $(git -C "$ROOT" rev-parse --short HEAD)"
run() {
    local name=$1 weights=$2
    local t0=$(date +%s.%N)
    "$BIN" -w "$weights" -o "$WORK/out-$name" -q "$WORK/in"
    local t1=$(date +%s.%N)
    python3 -c "print(f'{\"$name\":<34} {($t1-$t0):7.2f} s  {$N/($t1-$t0):8.1f} img/s')"
}
[ -f "$DATA/vgg16.safetensors" ] && run "VGG16 224x224 (138M params)" "$DATA/vgg16.safetensors" \
    || echo "(no $DATA/vgg16.safetensors: run bench/run_cpu_bench.sh once to generate it)"
run "VGG16/8 widths (tests/golden)" "$ROOT/tests/golden/tv_vgg16_small.safetensors"
