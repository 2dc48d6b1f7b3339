#!/bin/sh
# device-check.sh OUTDIR — build and test the CUDA backend on a GPU machine (no network).
#
# Prints the GPU, driver, nvcc and cuDNN versions; checks the Debian dev packages the build
# needs (exit 3, listing what is missing: the device machine cannot install them); configures
# with -DCMAKE_CUDA_ARCHITECTURES=90 -DGC_BUILD_BENCH=ON, builds with all cores, runs the quick
# GPU test alone (GC_CUDA_SYNC=1), then the rest of `ctest -L gpu` (-j4, 240 s; the long tests
# start first: COST in tests/gpu/gpu_tests.cmake) and `ctest -L cpu -R golden` (60 s); then,
# with GC_DEVICE_BENCH=SECONDS and the GPU tests run (failed ones too; not hung),
# scripts/device-bench.sh into
# OUTDIR/bench with a budget of that, or of the time left before the deadline less 180 s kept
# for the sanitizers (GC_DEVICE_SANITIZER_RESERVE), whichever is less (skipped under 60 s);
# then compute-sanitizer memcheck and racecheck over the quick test, memcheck and racecheck
# over kernels_gpu and memcheck over the guided tv16 case of gpu_vs_cpu, 60 s each (memory errors
# and races fail it; a sanitizer run cut by its time limit, or one the machine cannot run —
# gVisor — is reported, not failed). Copies
# the logs to OUTDIR and prints a summary. Exit 0 when tests and sanitizers pass. Every step
# is bounded by one deadline, 450 s after the start (GC_DEVICE_BUDGET), each cut to the time
# left (a killed test step fails: rc 124).
# When gpu_quick fails (not for want of a device), it runs again with the defaults new since
# the last GPU run turned off (GC_SAFE_ENV, default GC_EARLY_RESULTS=0 GC_BATCH_PLANS=off
# GC_TENSOR_UPLOAD=whole); if that passes, every later step runs with them off and the
# summary says so
# (GC_DEVICE_NO_SAFE=1: no second try).
# When gpu_quick takes longer than 30 s (GC_DEVICE_RTC_LIMIT; runtime-compiled cuDNN engines
# can cost seconds per plan), the later steps run with GC_CUDNN_RTC=0 and the summary says so.
# GC_DEVICE_NO_SANITIZER=1 skips the sanitizers; GC_DEVICE_BENCH_ONLY=REGEX passes --only REGEX
# to the bench (its steps by name).
# What comes back: the device tool returns at most 8 files, 2 folders deep; so the logs end up
# in OUTDIR/check-logs.tar.gz beside OUTDIR/check-summary.txt (and the bench's 5 files in
# OUTDIR/bench/). Call it with $OUT itself as OUTDIR.
set -u
OUT=${1:?usage: scripts/device-check.sh OUTDIR}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1 # absolute: the script changes folders
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${GC_DEVICE_BUILD:-$SRC/build-device}
T0=$(date +%s)
# One deadline for the whole script (GC_DEVICE_BUDGET seconds, default 450): each step gets
# min(its own limit, the time left) and is skipped when less than 20 s are left.
DEADLINE=$((T0 + ${GC_DEVICE_BUDGET:-450}))
left() { # left LIMIT: prints min(LIMIT, seconds to the deadline)
    l=$((DEADLINE - $(date +%s)))
    [ "$l" -gt "$1" ] && l=$1
    [ "$l" -lt 1 ] && l=1 # timeout 0 would mean no limit
    echo "$l"
}

echo "== GPU"
if command -v nvidia-smi >/dev/null; then
    timeout 30 nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt" | head -20
else
    echo "nvidia-smi not found" | tee "$OUT/nvidia-smi.txt"
fi

. "$SRC/scripts/cuda-env.sh"
gc_cuda_find python3
echo "== nvcc: $NVCC"
"$NVCC" --version 2>&1 | tail -2
# where the CUDA libraries are (for reading a configure failure): the toolkit beside nvcc,
# and pip's (nvidia/cu13, nvidia/cudnn) in the Python that holds torch
TK=$(cd "$(dirname "$NVCC")/.." 2>/dev/null && pwd)
echo "   toolkit $TK: $(ls "$TK"/lib64 "$TK"/lib 2>/dev/null | grep -oE '^lib(cudart|cublas|cudnn|nvrtc)\.so\.[0-9]+' | sort -u | tr '\n' ' ')"
for d in $SITES; do
    [ -d "$d/nvidia" ] && echo "   pip $d/nvidia: $(ls "$d/nvidia" | tr '\n' ' ')"
done

# cuDNN: the toolkit's directory, else pip's nvidia-cudnn wheel (scripts/cuda-env.sh)
if [ -z "$CUDNN_ROOT" ]; then
    echo "cuDNN not found (looked for include/cudnn_version.h in /usr/local/cuda, /usr, site-packages/nvidia/cudnn)"
    exit 3
fi
echo "== cuDNN in $CUDNN_ROOT: $CUDNN_V"
gc_cuda_libpath
echo "== LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

# C dependencies: the machine's own (pkg-config), else .deps/ made on a Debian machine by
# scripts/pack-device-deps.sh and named in the device call's `carry`. OpenBLAS is optional
# (without it the CPU reference uses its built-in GEMM).
if [ -d "$SRC/.deps/lib" ]; then
    LD_LIBRARY_PATH="$SRC/.deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    echo "== using $SRC/.deps"
fi
missing=
for p in libcjson:cJSON.h libpng16:png.h libturbojpeg:turbojpeg.h libwebp:webp/decode.h libdeflate:libdeflate.h zlib:zlib.h; do
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
    -DGC_BUILD_BENCH=ON -DGC_BUILD_EMU=OFF -DGC_CUDNN_DEPRECATION_ERRORS=OFF \
    -DGC_GPU_TEST_TIMEOUT="${GC_DEVICE_TEST_TIMEOUT:-90}" \
    -DCUDNN_ROOT="$CUDNN_ROOT" >"$OUT/configure.log" 2>&1
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
# First the quick test alone, so that a first-run failure shows in seconds with the
# backend's own message (GC_CUDA_SYNC=1: every layer synchronizes, faults name their layer).
echo "== gpu_quick (GC_CUDA_SYNC=1)"
# cuDNN's own error and warning log of this run (why a graph, heuristic or plan was refused),
# cut to its last 256 KiB so that it comes back with the other logs.
TQ=$(date +%s)
GC_CUDA_SYNC=1 CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG="$OUT/cudnn-quick.full.log" \
    timeout "$(left 90)" ./tests/test_gpu_features "$SRC/tests/golden/custom_default.golden.safetensors" \
    --quick >"$OUT/gpu-quick.log" 2>&1
quick_rc=$?
quick_s=$(($(date +%s) - TQ))
grep -E "context created" "$OUT/gpu-quick.log" | head -3
# Runtime-compiled cuDNN engines (NVRTC) can take seconds per plan; the suite below creates
# many more contexts of larger models than the quick test. When the quick test was slow,
# the rest runs without them (GC_CUDNN_RTC=0: precompiled engines, else unfused convs).
# Every GPU test is configured with a 90 s timeout (GC_DEVICE_TEST_TIMEOUT): a hang costs
# that much and is named, the rest still run (the step's own limit is 240 s).
rtc=default
if [ -z "${GC_CUDNN_RTC:-}" ] && [ "$quick_s" -gt "${GC_DEVICE_RTC_LIMIT:-30}" ]; then
    export GC_CUDNN_RTC=0
    rtc="off (gpu_quick took $quick_s s)"
    echo "   gpu_quick took $quick_s s: the rest runs with GC_CUDNN_RTC=0"
fi
if [ -f "$OUT/cudnn-quick.full.log" ]; then
    tail -c 262144 "$OUT/cudnn-quick.full.log" >"$OUT/cudnn-quick.log"
    rm -f "$OUT/cudnn-quick.full.log"
fi
tail -15 "$OUT/gpu-quick.log"
echo "   gpu_quick rc=$quick_rc"
# A failure of the quick test (not "no device", 77): once more with the defaults that never
# ran on a GPU before this run turned off (GC_SAFE_ENV: the results beside the backward, the
# smaller batches' own plans). When that passes, the rest — tests and benchmark — runs that
# way, so the call still brings numbers back, and the summary says which defaults were off.
safe=
if [ "$quick_rc" -ne 0 ] && [ "$quick_rc" -ne 77 ] && [ -z "${GC_DEVICE_NO_SAFE:-}" ]; then
    SAFE_ENV=${GC_SAFE_ENV:-GC_EARLY_RESULTS=0 GC_BATCH_PLANS=off GC_TENSOR_UPLOAD=whole}
    echo "== gpu_quick again with $SAFE_ENV"
    TQ=$(date +%s)
    env GC_CUDA_SYNC=1 $SAFE_ENV timeout "$(left 90)" ./tests/test_gpu_features \
        "$SRC/tests/golden/custom_default.golden.safetensors" --quick >"$OUT/gpu-quick-safe.log" 2>&1
    safe_rc=$?
    tail -8 "$OUT/gpu-quick-safe.log"
    echo "   gpu_quick ($SAFE_ENV) rc=$safe_rc in $(($(date +%s) - TQ)) s"
    if [ $safe_rc -eq 0 ]; then
        for kv in $SAFE_ENV; do export "$kv"; done
        safe=" (first run rc=$quick_rc; the rest ran with $SAFE_ENV)"
        quick_rc=0
    fi
fi
echo "== ctest -L gpu (but gpu_quick, which ran just above)"
timeout "$(left 240)" ctest -L gpu -E '^gpu_quick$' -j4 --output-on-failure >"$OUT/ctest-gpu.log" 2>&1
gpu_rc=$?
tail -25 "$OUT/ctest-gpu.log"
if grep -q "No tests were found" "$OUT/ctest-gpu.log"; then
    echo "NO gpu tests: is tests/gpu/gpu_tests.cmake included from tests/CMakeLists.txt?"
    gpu_rc=5
elif grep -q "(Skipped)" "$OUT/ctest-gpu.log"; then
    # every test skipped: no usable device (a failure here); some: a test that cannot run on
    # this machine (kernels_gpu without managed memory, say), reported
    n_skip=$(grep -c "(Skipped)" "$OUT/ctest-gpu.log")
    n_all=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$OUT/ctest-gpu.log" | tail -1)
    if [ "$quick_rc" -eq 77 ] || [ "$n_skip" -ge "${n_all:-0}" ]; then
        echo "gpu tests were SKIPPED on a GPU machine: the CUDA backend found no usable device"
        gpu_rc=4
    fi
    grep "(Skipped)" "$OUT/ctest-gpu.log" | sed 's/^/   skipped: /'
    grep -m3 "skipping\|skipped" "$OUT/ctest-gpu.log"
fi
echo "== ctest -L cpu -R golden"
timeout "$(left 60)" ctest -L cpu -R golden -j"$(nproc)" --output-on-failure >"$OUT/ctest-cpu-golden.log" 2>&1
cpu_rc=$?
tail -5 "$OUT/ctest-cpu-golden.log"
cp -f Testing/Temporary/LastTest.log "$OUT/LastTest.log" 2>/dev/null

bench_rc=-
# the benchmark also after a failing GPU test (its numbers decide what stays default: a
# failed new path is opt-in anyway), not after a hang (124), no device (4) or no tests (5)
if [ -n "${GC_DEVICE_BENCH:-}" ] && [ "$quick_rc" -eq 0 ] && [ $gpu_rc -ne 124 ] &&
    [ $gpu_rc -ne 4 ] && [ $gpu_rc -ne 5 ]; then
    [ $gpu_rc -ne 0 ] && echo "   (some GPU tests FAILED: the benchmark runs all the same)"
    # the sanitizers come after it: keep them their time (GC_DEVICE_SANITIZER_RESERVE s)
    reserve=${GC_DEVICE_SANITIZER_RESERVE:-180}
    [ -n "${GC_DEVICE_NO_SANITIZER:-}" ] && reserve=0
    t=$(left "$GC_DEVICE_BENCH")
    t_room=$((DEADLINE - $(date +%s) - reserve))
    [ "$t_room" -lt "$t" ] && t=$t_room
    if [ "$t" -ge 60 ]; then
        echo "== device-bench.sh (budget $t s) into $OUT/bench"
        # its own budget stops its steps in time; the timeout only guards against a hang
        (cd "$SRC" && GC_DEVICE_BUILD="$BUILD" timeout "$t" bash scripts/device-bench.sh \
            "$OUT/bench" --budget "$((t - 10))" \
            ${GC_DEVICE_BENCH_ONLY:+--only "$GC_DEVICE_BENCH_ONLY"}) >"$OUT/device-bench.log" 2>&1
        bench_rc=$?
        tail -30 "$OUT/device-bench.log"
    else
        echo "== device-bench.sh skipped: $t s left"
    fi
fi

# compute-sanitizer over the quick test (cuDNN's and cuBLAS's kernels included): memcheck
# (out-of-bounds and misaligned accesses) and racecheck (shared-memory hazards). Skipped when
# the tool is absent; each bounded by 60 s and the deadline.
san_rc=0
san_note=
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -n "${GC_DEVICE_NO_SANITIZER:-}" ]; then
    echo "== compute-sanitizer skipped (GC_DEVICE_NO_SANITIZER)"
elif [ -n "$SAN" ] && [ $quick_rc -eq 0 ]; then
    # gpu_quick under both tools; then every kernel of ours at its test's sizes (kernels_gpu:
    # the cam, score, pooling, image, first-conv and first-block kernels) under memcheck, and
    # under racecheck for those that share memory between lanes and warps (the tensor-core
    # first conv's staging and accumulators, ordered by __syncwarp only; the first block's
    # window, halo and scratch, ordered by __syncthreads, __syncwarp and cp.async waits)
    for run in memcheck:quick racecheck:quick memcheck:kernels racecheck:kernels \
        memcheck:guided; do
        tool=${run%%:*} what=${run##*:}
        echo "== compute-sanitizer --tool $tool ($what)"
        t=$(left 60)
        if [ "$t" -lt 20 ]; then echo "   no time left: skipped"; continue; fi
        # memory errors and races only: failed API calls are our own checks' business (and
        # cuDNN probes engines with calls that may fail), and device memory a library keeps
        # to the end is not ours (the emulated device accounts for our allocations)
        if [ "$what" = quick ]; then
            set -- ./tests/test_gpu_features \
                "$SRC/tests/golden/custom_default.golden.safetensors" --quick
        elif [ "$what" = guided ]; then # a whole VGG16-layout case against the CPU: our
            # first conv, cuDNN's convs forward and backward-data through every layer
            set -- ./tests/test_gpu_vs_cpu "$SRC/tests/golden/tv16_guided_gradcam.golden.safetensors"
        else
            set -- ./tests/test_kernels_gpu "$SRC/models/demo/shapes-vgg.safetensors"
        fi
        timeout "$t" "$SAN" --tool $tool --report-api-errors no --error-exitcode 9 \
            "$@" >"$OUT/sanitizer-$tool-$what.log" 2>&1
        rc=$?
        tail -6 "$OUT/sanitizer-$tool-$what.log"
        echo "   $tool ($what) rc=$rc (9 = the tool found errors; 124 = timed out, other = the tool could not run here: reported, not counted)"
        # only the tool's own verdict counts: on a gVisor machine (the H200s) compute-sanitizer
        # cannot attach at all, which says nothing about our code
        [ $rc -eq 9 ] && san_rc=9
        [ $rc -ne 0 ] && [ $rc -ne 9 ] && san_note="$san_note $tool-$what:rc$rc"
    done
elif [ -z "$SAN" ]; then
    echo "== compute-sanitizer not found: skipped"
else
    echo "== compute-sanitizer skipped: gpu_quick failed"
fi

T2=$(date +%s)
summary="gpu_quick rc=$quick_rc ($quick_s s)$safe, gpu tests rc=$gpu_rc (runtime-compiled cuDNN engines: $rtc), cpu golden tests rc=$cpu_rc, sanitizers rc=$san_rc${san_note:+ (inconclusive:$san_note)}, bench rc=$bench_rc, total $((T2 - T0)) s"
echo "== summary: $summary"
{
    echo "$summary"
    grep -hE "FAIL|Passed|Failed|tests passed" "$OUT/ctest-gpu.log" 2>/dev/null | tail -60
} >"$OUT/check-summary.txt"
# at most 8 files come back: every log into one archive
(cd "$OUT" && tar czf check-logs.tar.gz --exclude ./check-summary.txt ./*.log ./*.txt &&
    find . -maxdepth 1 -type f \( -name '*.log' -o -name 'nvidia-smi.txt' \) -delete)
echo "   logs in $OUT/check-logs.tar.gz"
[ $quick_rc -eq 0 ] && [ $gpu_rc -eq 0 ] && [ $cpu_rc -eq 0 ] && [ $san_rc -eq 0 ]
