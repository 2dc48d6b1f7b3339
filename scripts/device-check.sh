#!/bin/sh
# device-check.sh OUTDIR — build and test the CUDA backend on a GPU machine (no network).
#
# Prints the GPU, driver, nvcc and cuDNN versions; checks the Debian dev packages the build
# needs (exit 3, listing what is missing: the device machine cannot install them); configures
# with -DCMAKE_CUDA_ARCHITECTURES=90 -DGC_BUILD_BENCH=ON, builds with all cores, runs
# `ctest -L gpu` and `ctest -L cpu -R golden`, copies the logs to OUTDIR and prints a summary.
# Exit 0 when both test runs pass.
set -u
OUT=${1:?usage: scripts/device-check.sh OUTDIR}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${GC_DEVICE_BUILD:-$SRC/build-device}
mkdir -p "$OUT"
T0=$(date +%s)

echo "== GPU"
nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt" | head -20 || echo "nvidia-smi not found"

NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
echo "== nvcc: $NVCC"
"$NVCC" --version 2>&1 | tail -2

# cuDNN: the toolkit's directory, else pip's nvidia-cudnn wheel in a site-packages
CUDNN_ROOT=
for d in /usr/local/cuda /usr $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null | tr ' ' '\n' | sed 's|$|/nvidia/cudnn|'); do
    if [ -f "$d/include/cudnn_version.h" ]; then CUDNN_ROOT=$d; break; fi
done
if [ -z "$CUDNN_ROOT" ]; then
    echo "cuDNN not found (looked for include/cudnn_version.h in /usr/local/cuda, /usr, site-packages/nvidia/cudnn)"
    exit 3
fi
echo "== cuDNN in $CUDNN_ROOT: $(grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$CUDNN_ROOT/include/cudnn_version.h" | awk '{printf "%s ", $3}')"

# C dependencies: the machine's own (pkg-config), else .deps/ made on a Debian machine by
# scripts/pack-device-deps.sh and named in the device call's `carry`. OpenBLAS is optional
# (without it the CPU reference uses its built-in GEMM).
if [ -d "$SRC/.deps/lib" ]; then
    LD_LIBRARY_PATH="$SRC/.deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    echo "== using $SRC/.deps"
fi
missing=
for p in libcjson:cJSON.h libpng16:png.h libturbojpeg:turbojpeg.h; do
    pc=${p%%:*} h=${p##*:}
    pkg-config --exists "$pc" 2>/dev/null || [ -f "$SRC/.deps/include/$h" ] || missing="$missing $pc"
done
command -v cmake >/dev/null || missing="$missing cmake"
if [ -n "$missing" ]; then
    echo "MISSING build dependencies:$missing"
    echo "  run scripts/pack-device-deps.sh on the Debian machine and carry .deps"
    exit 3
fi

echo "== configure"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DGC_BUILD_BENCH=ON -DCUDNN_ROOT="$CUDNN_ROOT" >"$OUT/configure.log" 2>&1
rc=$?
grep -E "gradcam:" "$OUT/configure.log"
if [ $rc -ne 0 ]; then tail -30 "$OUT/configure.log"; echo "configure FAILED"; exit 1; fi
grep -q "CUDA backend ON" "$OUT/configure.log" || { echo "CUDA backend not enabled: see configure.log"; exit 1; }

echo "== build"
cmake --build "$BUILD" -j"$(nproc)" >"$OUT/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then grep -E "error|Error" "$OUT/build.log" | head -40; echo "build FAILED"; exit 1; fi
T1=$(date +%s)
echo "built in $((T1 - T0)) s"

cd "$BUILD" || exit 1
echo "== ctest -L gpu"
timeout 360 ctest -L gpu -j4 --output-on-failure >"$OUT/ctest-gpu.log" 2>&1
gpu_rc=$?
tail -25 "$OUT/ctest-gpu.log"
if grep -q "No tests were found" "$OUT/ctest-gpu.log"; then
    echo "NO gpu tests: is tests/gpu/gpu_tests.cmake included from tests/CMakeLists.txt?"
    gpu_rc=5
elif grep -q "(Skipped)" "$OUT/ctest-gpu.log"; then
    echo "gpu tests were SKIPPED on a GPU machine: the CUDA backend found no usable device"
    grep -m3 "skipping" "$OUT/ctest-gpu.log"
    gpu_rc=4
fi
echo "== ctest -L cpu -R golden"
timeout 120 ctest -L cpu -R golden -j"$(nproc)" --output-on-failure >"$OUT/ctest-cpu-golden.log" 2>&1
cpu_rc=$?
tail -5 "$OUT/ctest-cpu-golden.log"
cp -f Testing/Temporary/LastTest.log "$OUT/LastTest.log" 2>/dev/null

T2=$(date +%s)
echo "== summary: gpu tests rc=$gpu_rc, cpu golden tests rc=$cpu_rc, total $((T2 - T0)) s"
echo "   logs in $OUT"
[ $gpu_rc -eq 0 ] && [ $cpu_rc -eq 0 ]
