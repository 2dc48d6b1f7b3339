#!/usr/bin/env bash
# device-bench.sh OUTDIR [--cpu-smoke] [--budget SECONDS] [--only REGEX]
#
# The GPU benchmark of issue 5 in one go, on the lent GPU machine (no network), from the repo
# root: VGG16 224x224, libgradcam (bench/gradcam-bench) and the PyTorch peers
# (bench/peers/torch_gradcam.py: pytorch-grad-cam's approach written out, pytorch-grad-cam
# itself, a tuned PyTorch Grad-CAM, forward-only), batches 256/128/32/1 x fp32/tf32/bf16/fp16,
# and the `gradcam` command on folders of JPEGs. Most important first, each step under its own
# `timeout`, within a total budget (default 360 s, set --budget), and a failing step never
# stops the rest:
#    1. ours bf16 b256, then (1b) with the first block in one kernel (GC_FIRST_BLOCK=fused),
#       peers bf16 b256                         2. ours fp32 b256, peers fp32 b256
#    2b. ours bf16 b256 again (gpu, gpu_forward) with --autotune: cuDNN engines timed per
#       conv at context creation (options.autotune; at most 45 s of it), beside step 1's
#    2c. ours bf16 b256, b32, b1 (gpu, gpu_forward) with CUDA graphs (GC_CUDA_GRAPHS=require)
#    2d. ours bf16 and fp32 b256 (gpu, gpu_forward) with the first conv the other way
#       (GC_FIRST_CONV: in bf16 the tensor-core kernel, then the FMA one; cuDNN's in fp32),
#       beside the defaults
#    2h. ours bf16 b256 (gpu, gpu_forward) with the head's GEMMs by cuBLASLt, each timed at
#       creation (GC_HEAD_GEMM=lt), beside the default's GEMM steps
#    2e. ours bf16 b256 and b32 with blocking-sync waits (GC_CUDA_BLOCKING_SYNC=1)
#    2f. gc_explain_render (host_lib) in two overlapped halves (GC_RENDER_PIPELINE=1)
#    2g. calls of 32 and 1 on contexts of max_batch 256: GC_BATCH_PLANS=off, then eager
#    3. files: 16384 JPEGs 224x224 (one context per GPU; in /dev/shm; with GRADCAM_IO_NICE=5; with
#       GC_CUDA_BLOCKING_SYNC=1; again; two contexts) and 4096 JPEGs 500x375 -> overlay PNGs (bf16, b256), with nvidia-smi
#       sampling GPU utilization every 100 ms
#    4. ours tf32+fp16 b256, peers tf32 b256, peers fp16 b256
#    5. ours b128, b32, b1 (all precisions), then peers b128,32,1 per precision
#    6. torch.compile'd tuned peer (bf16 b256), only if >= 100 s are left
#    7. methods (issue 8; late, lower priority, whatever is left up to ~90 s): Grad-CAM++,
#       XGrad-CAM, LayerCAM, HiResCAM, guided backprop, Guided Grad-CAM at bf16 b128: ours
#       (gpu mode, our Grad-CAM beside them in the same run; one context per method, each
#       building its plans), then pytorch-grad-cam's same method and the tuned peer
# Writes (at most 5 files, as the device tool returns 8):
#    OUTDIR/bench.jsonl   every record: meta, steps, ours, peers, GPU-utilization samples
#    OUTDIR/summary.md    the issue's targets and ratios, stages, the full table (also printed)
#    OUTDIR/bench.png     chart (tools/plot_bench.py)
#    OUTDIR/nvidia-smi.txt, OUTDIR/logs.tar.gz (each step's stderr and raw output)
#
# Before the device call, on the Debian machine (fills the git-ignored .deps/ with cJSON,
# libpng, libjpeg-turbo and pytorch-grad-cam's sdist):
#    sh scripts/pack-device-deps.sh
# Then one device call,
# carry [".deps"], e.g. after the GPU check, into a subfolder so that the files come back:
#    GC_COMMIT=<hash> sh scripts/device-check.sh $OUT/check; \
#    GC_COMMIT=<hash> bash scripts/device-bench.sh $OUT/bench
# (the machine gets no .git: GC_COMMIT names the commit in the records). It uses the build of
# scripts/device-check.sh ($GC_DEVICE_BUILD, default build-device/) and only (re)builds the
# bench targets there; without one it configures sm_90 with all cores itself.
# pytorch-grad-cam is installed from .deps/wheels with pip --no-index --no-deps into a temp
# folder (its sdist is unpacked when there is no wheel); without it that peer is reported
# as failed and everything else runs.
#
# --only REGEX: only the steps whose names match (extended regex; the rest are recorded as
# skipped), e.g. --only 'ours-bf16-b256$|files|methods' for a second call after a full run.
# --cpu-smoke: the same steps, tiny, on the CPU backend here (a 1/8-width VGG16, batches 1
# and 2, fp32 and bf16, 16 JPEGs; no GPU, no nvidia-smi): checks that every step, record and
# the summary and chart work. Numbers from it mean nothing.
# Environment: GC_DEVICE_BUILD, GC_BENCH_DATA (weights, JPEGs; default $BUILD/bench-data),
# PYTHON (default: the first of python3, /usr/bin/python3 that imports torch), GC_COMMIT.
set -u

OUT=
ONLY=
SMOKE=0
BUDGET=360
while [ $# -gt 0 ]; do
    case "$1" in
    --cpu-smoke) SMOKE=1; shift ;;
    --budget) BUDGET=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h | --help) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "device-bench.sh: unknown option $1" >&2; exit 2 ;;
    *) OUT=$1; shift ;;
    esac
done
[ -n "$OUT" ] || { echo "usage: scripts/device-bench.sh OUTDIR [--cpu-smoke] [--budget S]" >&2; exit 2; }
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1 # relative to the caller's folder
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
LOGS=$OUT/logs
mkdir -p "$LOGS"
JSONL=$OUT/bench.jsonl
: >"$JSONL"
T0=$(date +%s)
RESERVE=12 # seconds kept for the summary, the chart and the log archive
NPROC=$(nproc)
COMMIT=${GC_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}

elapsed() { echo $(($(date +%s) - T0)); }
left() { echo $((BUDGET - $(elapsed) - RESERVE)); }
say() { echo "== [$(elapsed) s] $*"; }

# A JSON line for the record of each step: name, exit status, seconds, note.
step_record() {
    printf '{"impl":"step","name":"%s","rc":%s,"seconds":%s,"timeout":%s,"note":"%s"}\n' \
        "$1" "${2:-null}" "${3:-0}" "${4:-null}" "$5" >>"$JSONL"
}

# wanted NAME: the step is to run (no --only, or its name matches --only's extended regex);
# else it is recorded as skipped
wanted() {
    [ -z "$ONLY" ] && return 0
    echo "$1" | grep -Eq -- "$ONLY" && return 0
    step_record "$1" "" 0 "" "skipped: not in --only"
    return 1
}

# run_step NAME LIMIT CMD...: stdout's JSON lines go to bench.jsonl, stderr to logs/NAME.log.
run_step() {
    local name=$1 limit=$2
    shift 2
    wanted "$name" || return 0
    local l
    l=$(left)
    if [ "$l" -lt 15 ]; then
        say "$name: skipped (out of time)"
        step_record "$name" "" 0 "" "skipped: out of time"
        return 0
    fi
    [ "$limit" -gt "$l" ] && limit=$l
    say "$name (limit ${limit} s)"
    local t0 rc
    t0=$(date +%s)
    timeout -k 5 "$limit" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.log"
    rc=$?
    grep '^{' "$LOGS/$name.out" >>"$JSONL"
    local n ok pend
    n=$(grep -c '^{' "$LOGS/$name.out")
    ok=$(grep -c '"ok": *true' "$LOGS/$name.out")
    # with a profiled pass gradcam-bench prints each good record twice: at once ("pending")
    # and complete after that pass; count each mode once
    pend=$(grep -c '"profile_error": *"pending' "$LOGS/$name.out")
    if [ "$pend" -gt 0 ]; then
        n=$((n - ok + pend))
        ok=$pend
    fi
    step_record "$name" "$rc" $(($(date +%s) - t0)) "$limit" "$ok of $n records ok"
    echo "   rc=$rc, $ok of $n records ok, $(($(date +%s) - t0)) s"
    [ "$rc" -ne 0 ] && tail -3 "$LOGS/$name.log" | sed 's/^/   | /'
    return 0
}

# the end (also on TERM): summary, chart, and the logs packed into one file
finish() {
    trap - TERM INT
    say "summary"
    "$PY" "$ROOT/bench/summarize.py" "$JSONL" >"$OUT/summary.md" 2>"$LOGS/summary.log" ||
        { echo "summary FAILED:"; tail -5 "$LOGS/summary.log"; }
    "$PY" "$ROOT/tools/plot_bench.py" "$JSONL" "$OUT/bench.png" >"$LOGS/plot.log" 2>&1 ||
        { echo "chart FAILED:"; tail -5 "$LOGS/plot.log"; }
    tar czf "$OUT/logs.tar.gz" -C "$OUT" logs 2>/dev/null && rm -rf "$LOGS"
    cat "$OUT/summary.md"
}
# stopped from outside (a caller's timeout): summarize what was measured and pack the logs, so
# that OUT keeps its 5 files (the device tool returns 8)
trap 'echo "== stopped: writing what was measured"; step_record stopped "" 0 "" "TERM"; finish; exit 143' TERM INT

# ---------------------------------------------------------------- machine and tools
if [ -d "$ROOT/.deps/lib" ]; then
    export LD_LIBRARY_PATH="$ROOT/.deps/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "device-bench.sh: no python with torch (set PYTHON)"; PY=python3; }

if [ $SMOKE -eq 1 ]; then
    BACKEND=cpu
    BUILD=${GC_DEVICE_BUILD:-$ROOT/build-bench}
    DEV=cpu
else
    BACKEND=cuda
    BUILD=${GC_DEVICE_BUILD:-$ROOT/build-device}
    DEV=cuda
fi
DATA=${GC_BENCH_DATA:-$BUILD/bench-data}
mkdir -p "$DATA"

say "machine"
GPU_NAME=
if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 30 nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 # bounded: it can hang on a sick GPU
    timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit,pstate,temperature.gpu \
        --format=csv >"$LOGS/nvidia-smi-query.csv" 2>&1
    GPU_NAME=$(timeout 30 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
    head -12 "$OUT/nvidia-smi.txt"
else
    echo "no nvidia-smi" >"$OUT/nvidia-smi.txt"
fi
# the toolkit and cuDNN, and (CUDA runs) the loader path, as scripts/device-check.sh finds
# them: the same libraries when this runs alone
. "$ROOT/scripts/cuda-env.sh"
gc_cuda_find "$PY"
NVCC_V=$("$NVCC" --version 2>/dev/null | grep -o 'release [0-9.]*' | head -1)
[ $SMOKE -eq 0 ] && [ -n "$CUDNN_ROOT" ] && gc_cuda_libpath

# ---------------------------------------------------------------- pytorch-grad-cam
GCSITE=$(mktemp -d)
trap 'rm -rf "$GCSITE"' EXIT
GC_PYPATH=$GCSITE/site
for w in "$ROOT"/.deps/wheels/*.whl; do
    [ -f "$w" ] || continue
    "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check \
        --target "$GCSITE/site" "$w" >>"$LOGS/pip.log" 2>&1 ||
        "$PY" -m zipfile -e "$w" "$GCSITE/site" >>"$LOGS/pip.log" 2>&1 ||
        echo "   could not install $w (see logs/pip.log)"
done
for s in "$ROOT"/.deps/wheels/grad_cam-*.tar.gz; do
    [ -f "$s" ] || continue
    [ -d "$GCSITE/site/pytorch_grad_cam" ] && break # a wheel was there
    mkdir -p "$GCSITE/src" && tar xzf "$s" -C "$GCSITE/src" 2>>"$LOGS/pip.log"
    d=$(ls -d "$GCSITE"/src/*/pytorch_grad_cam 2>/dev/null | head -1)
    [ -n "$d" ] && GC_PYPATH=$GC_PYPATH:$(dirname "$d")
done
GRAD_CAM_V=$(ls "$ROOT"/.deps/wheels/grad_cam-* 2>/dev/null | head -1 | sed -n 's/.*grad_cam-\([0-9.]*[0-9]\).*/\1/p')
if PYTHONPATH=$GC_PYPATH "$PY" -c 'import pytorch_grad_cam' >>"$LOGS/pip.log" 2>&1; then
    echo "   pytorch-grad-cam ${GRAD_CAM_V:-?} importable"
else
    echo "   pytorch-grad-cam not importable as is (the peer stubs missing optional modules; see logs/pip.log)"
    [ -z "$GRAD_CAM_V" ] && GRAD_CAM_V="not carried (.deps/wheels)"
fi
export PEER_PYTHONPATH=$GC_PYPATH

# ---------------------------------------------------------------- build (bench targets only)
say "build in $BUILD"
tb=$(date +%s)
brc=0
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    if [ $SMOKE -eq 1 ]; then
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGC_BUILD_BENCH=ON \
            -DGC_BUILD_TESTS=OFF >"$LOGS/configure.log" 2>&1 || brc=$?
    else
        # as scripts/device-check.sh: cuDNN deprecations stay warnings (cuda/cuda.cmake)
        cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
            -DGC_BUILD_BENCH=ON -DGC_BUILD_TESTS=OFF -DGC_BUILD_EMU=OFF \
            -DGC_CUDNN_DEPRECATION_ERRORS=OFF ${CUDNN_ROOT:+-DCUDNN_ROOT=$CUDNN_ROOT} \
            >"$LOGS/configure.log" 2>&1 || brc=$?
    fi
fi
if [ $brc -eq 0 ]; then
    timeout 300 cmake --build "$BUILD" --target gradcam-bench gradcam_cli -j"$NPROC" \
        >"$LOGS/build.log" 2>&1 || brc=$?
fi
step_record build "$brc" $(($(date +%s) - tb)) 300 "$BUILD"
BENCH=$BUILD/bench/gradcam-bench
CLI=$BUILD/gradcam
if [ $brc -ne 0 ] || [ ! -x "$BENCH" ]; then
    echo "   build FAILED (rc=$brc): ours will be missing; the peers still run"
    grep -E "error|Error" "$LOGS/build.log" "$LOGS/configure.log" 2>/dev/null | head -10
fi
if [ $SMOKE -eq 0 ] && [ -x "$BENCH" ] && ! ldd "$BENCH" 2>/dev/null | grep -q cudart; then
    echo "   WARNING: gradcam-bench is not linked with the CUDA runtime (CUDA backend off?)"
fi

# ---------------------------------------------------------------- weights
if [ $SMOKE -eq 1 ]; then
    WEIGHTS=$DATA/vgg16-div8.safetensors
    DIV=8
else
    WEIGHTS=$DATA/vgg16.safetensors
    DIV=1
fi
if [ ! -f "$WEIGHTS" ]; then
    say "weights: seeded random VGG16 (width / $DIV) into $WEIGHTS"
    tw=$(date +%s)
    "$PY" - "$ROOT/tests/pyref" "$WEIGHTS" "$DIV" >"$LOGS/weights.log" 2>&1 <<'EOF'
import os, sys, time
sys.path.insert(0, sys.argv[1])
import torch
import gcref
torch.set_num_threads(os.cpu_count() or 1)
t0 = time.time()
div = int(sys.argv[3])
cfg = gcref.CFGS["vgg16"] if div == 1 else gcref.scaled_cfg("vgg16", div)
model = gcref.randomize(gcref.TorchvisionVGG(cfg), seed=16)
tmp = sys.argv[2] + ".tmp"
gcref.write_safetensors(tmp, model.state_dict(), metadata={"gradcam.preprocess": "torch"})
os.replace(tmp, sys.argv[2])
n = sum(p.numel() for p in model.parameters())
print(f"{n / 1e6:.2f} M parameters in {time.time() - t0:.1f} s")
EOF
    step_record weights $? $(($(date +%s) - tw)) "" "$(tail -1 "$LOGS/weights.log" | tr -d '"\\')"
    cat "$LOGS/weights.log" | tail -2
fi

# ---------------------------------------------------------------- the meta record
"$PY" - "$LOGS/nvidia-smi-query.csv" >>"$JSONL" 2>>"$LOGS/meta.log" <<EOF
import csv, datetime, json, os, sys
smi = {}
try:
    rows = list(csv.reader(open(sys.argv[1])))
    if len(rows) >= 2 and not rows[0][0].startswith(("No", "NVIDIA-SMI has")):
        smi = {h.strip().split(" [")[0]: v.strip() for h, v in zip(rows[0], rows[1])}
except OSError:
    pass
try:
    import torch
    tv = torch.__version__
except Exception as e:
    tv = f"not importable: {e}"
# where the files steps write: the filesystem and its mount options (its inode allocation and
# folder lock are part of what files mode measures)
data_fs = "unknown"
try:
    best = ""
    for line in open("/proc/mounts"):
        dev, mnt, fstype, opts = line.split()[:4]
        if os.path.realpath("$DATA").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best):
            best, data_fs = mnt, f"{fstype} on {mnt} ({dev}; {opts})"
except (OSError, ValueError):
    pass
try: # ext4 without a journal scans recently deleted inodes on every file it creates
    data_fs += "; jbd2 journals: " + (", ".join(sorted(os.listdir("/proc/fs/jbd2"))) or "none")
except OSError:
    pass
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
print(json.dumps({"impl": "meta", "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    "commit": "$COMMIT", "smoke": bool($SMOKE), "nvidia_smi": smi, "nvcc": "$NVCC_V",
    "cudnn": "$CUDNN_V", "torch": tv, "grad_cam": "$GRAD_CAM_V", "cpu": cpu,
    "cores": os.cpu_count(), "data_fs": data_fs, "weights": "$WEIGHTS", "budget_s": $BUDGET, "build": "$BUILD"}))
EOF

# ---------------------------------------------------------------- the steps
if [ $SMOKE -eq 1 ]; then
    B_BIG=2; B_REST=1; B_REST_LIST=1; FILES_BIG=16; FILES_SMALL=8
    M_PREC=fp32; M_B=2; M_MODES=gradcam; M_IT=(--iters 1 --warmup 1); M_IT_PEER=(--iters 1 --warmup 0 --check)
    IT=(--iters 2 --warmup 1); IT_PEER=(--iters 1 --warmup 1 --check)
    PRECS_MAIN=(bf16 fp32); PRECS_REST=tf32
    FILE_BATCH=2; FILE_PREC=fp32 # the CPU backend computes in fp32 only
else
    # files: enough images that the run after start-up lasts seconds even at the target rate
    B_BIG=256; B_REST="128 32 1"; B_REST_LIST=128,32,1; FILES_BIG=16384; FILES_SMALL=4096
    M_PREC=bf16; M_B=128; M_MODES=gpu; M_IT=(--iters 5 --warmup 2); M_IT_PEER=(--iters 2 --warmup 1)
    IT=(--iters 10 --warmup 3); IT_PEER=(--iters 5 --warmup 2)
    PRECS_MAIN=(bf16 fp32); PRECS_REST="tf32 fp16"
    FILE_BATCH=256; FILE_PREC=bf16
fi
COMMON=(--weights "$WEIGHTS" --size 224 --commit "$COMMIT")
[ -n "$GPU_NAME" ] && COMMON+=(--gpu-name "$GPU_NAME")
OURS=("$BENCH" "${COMMON[@]}" --backend "$BACKEND" --jsonl --profile-iters 3)
PEER=(env PYTHONPATH="$PEER_PYTHONPATH" PYTHONUNBUFFERED=1 "$PY" "$ROOT/bench/peers/torch_gradcam.py"
    "${COMMON[@]}" --device "$DEV" --jsonl)
PEER_MODES=tuned_split,hook_backward,grad_cam_pkg,forward,forward_cl

# 1-2: the headline precisions at the headline batch, ours then the peers
for p in "${PRECS_MAIN[@]}"; do
    run_step "ours-$p-b$B_BIG" 90 "${OURS[@]}" "${IT[@]}" --precision "$p" --batch "$B_BIG" \
        --modes gpu,gpu_forward,gradcam,forward,host,host_lib
    # 1b: the first block (conv, conv, pool) in one kernel (cuda/first_block.cu, session 17,
    # opt-in, never timed) right after the default it is compared with: the largest gain in
    # reach (block1 was 4.8 of 16.0 ms), so it comes before the peers and everything else
    if [ $SMOKE -eq 0 ] && [ "$p" = "${PRECS_MAIN[0]}" ]; then
        run_step "ours-first-block-$p-b$B_BIG" 60 env GC_FIRST_BLOCK=fused "${OURS[@]}" \
            "${IT[@]}" --precision "$p" --batch "$B_BIG" --modes gpu,gpu_forward \
            --profile-iters 1
    fi
    run_step "peers-$p-b$B_BIG" 150 "${PEER[@]}" "${IT_PEER[@]}" --precision "$p" \
        --batch "$B_BIG" --modes "$PEER_MODES"
done

# 2b: the headline precision and batch again with options.autotune (every conv plan timed
# against up to 8 other cuDNN engine configs when the context is created; the records carry
# "autotune":true, "context_ms" and the per-layer "autotune_report"); summary.md puts them
# beside step 1's default plans. GC_CUDNN_AUTOTUNE_SECONDS bounds the tuning itself.
if [ $SMOKE -eq 1 ]; then
    TUNE_PREC=fp32; TUNE_MODES=gradcam,forward # the CPU ignores the option
else
    TUNE_PREC=${PRECS_MAIN[0]}; TUNE_MODES=gpu,gpu_forward
fi
run_step "ours-$TUNE_PREC-b$B_BIG-autotune" 90 env GC_CUDNN_AUTOTUNE_SECONDS=45 "${OURS[@]}" \
    "${IT[@]}" --precision "$TUNE_PREC" --batch "$B_BIG" --modes "$TUNE_MODES" \
    --profile-iters 0 --autotune

# 2c: CUDA graphs (each batch's forward and backward replayed as graphs, off by default until
# measured): the headline precision at the big batch and at 32 and 1, where launch overhead
# weighs most; records carry "cuda_graphs":true. GC_CUDA_GRAPHS=require, not 1: with 1 a
# failed capture quietly runs without graphs, and the record would still say graphs
if [ $SMOKE -eq 0 ]; then
    run_step "ours-${PRECS_MAIN[0]}-graphs" 90 env GC_CUDA_GRAPHS=require "${OURS[@]}" "${IT[@]}" \
        --precision "${PRECS_MAIN[0]}" --batch "$B_BIG,32,1" --modes gpu,gpu_forward \
        --profile-iters 0
fi

# 2d: the first conv the other way (GC_FIRST_CONV): the tensor-core kernel
# (cuda/first_conv_tc.cu, opt-in, first: never timed yet) and our FMA kernel
# (cuda/first_conv.cu) in the headline precision, where cuDNN's is the default, and cuDNN's
# in fp32, where ours is; profiled, so that the records carry each layer's time. (Until
# 2026-11-27 2d ran every conv unfused, GC_CUDNN_FUSE=0: since then fp32 is unfused by
# default and bf16 stays fused.)
if [ $SMOKE -eq 0 ]; then
    run_step "ours-first-tc-${PRECS_MAIN[0]}-b$B_BIG" 60 env GC_FIRST_CONV=tc "${OURS[@]}" \
        "${IT[@]}" --precision "${PRECS_MAIN[0]}" --batch "$B_BIG" --modes gpu,gpu_forward \
        --profile-iters 1
    run_step "ours-first-ours-${PRECS_MAIN[0]}-b$B_BIG" 60 env GC_FIRST_CONV=ours "${OURS[@]}" \
        "${IT[@]}" --precision "${PRECS_MAIN[0]}" --batch "$B_BIG" --modes gpu,gpu_forward \
        --profile-iters 1
    run_step "ours-first-cudnn-fp32-b$B_BIG" 60 env GC_FIRST_CONV=cudnn "${OURS[@]}" "${IT[@]}" \
        --precision fp32 --batch "$B_BIG" --modes gpu,gpu_forward --profile-iters 1
fi

# 2h: the head's GEMMs by cuBLASLt (GC_HEAD_GEMM=lt, cuda/backend_head_gemm.cu, session 19,
# opt-in, never run): each dense layer's forward and backward GEMM on the algorithm timed
# fastest at context creation; profiled, so that the summary sets its GEMM steps beside the
# default's (run 2: head 0.40 + backward 0.57 ms against a GEMM floor near 0.16), with the
# choices from the record's autotune_report. "head_gemm_env":"lt"
if [ $SMOKE -eq 0 ]; then
    run_step "ours-${PRECS_MAIN[0]}-b$B_BIG-head-lt" 60 env GC_HEAD_GEMM=lt "${OURS[@]}" \
        "${IT[@]}" --precision "${PRECS_MAIN[0]}" --batch "$B_BIG" --modes gpu,gpu_forward \
        --profile-iters 1
fi

# 2i: the host tensor calls (modes gradcam, forward) the way before session 20
# (GC_TENSOR_UPLOAD=whole: one host copy, then one upload), beside step 1's default (8
# overlapping parts, never run); profiled, so that the upload stages sit side by side
# (run 2: upload 3.0 ms and ~4.8 ms outside every stage). "tensor_upload_env":"whole"
if [ $SMOKE -eq 0 ]; then
    run_step "ours-${PRECS_MAIN[0]}-b$B_BIG-tensor-whole" 45 env GC_TENSOR_UPLOAD=whole \
        "${OURS[@]}" "${IT[@]}" --precision "${PRECS_MAIN[0]}" --batch "$B_BIG" \
        --modes gradcam,forward --profile-iters 1
fi

# 2e: the headline precision at the big batch and at 32 with blocking-sync waits
# (GC_CUDA_BLOCKING_SYNC=1: what sleeping instead of spinning costs where nothing else wants
# the cores; the command's side is files-224x224-blocking); "cuda_blocking_sync":true
if [ $SMOKE -eq 0 ]; then
    run_step "ours-${PRECS_MAIN[0]}-blocking" 45 env GC_CUDA_BLOCKING_SYNC=1 "${OURS[@]}" \
        "${IT[@]}" --precision "${PRECS_MAIN[0]}" --batch "$B_BIG,32" \
        --modes gpu,gpu_forward,host_lib --profile-iters 0
fi
# 2f: gc_explain_render (host_lib: 500x375 photos, the library's part of the command) with
# each batch in two overlapped halves (GC_RENDER_PIPELINE=1, since session 15: each half's
# copies, results and render beside the other half's compute); its command side is
# files-224x224-split. "render_pipeline":true (the smoke: fp32, the CPU's only precision)
if [ $SMOKE -eq 1 ]; then SPLIT_PREC=fp32; else SPLIT_PREC=${PRECS_MAIN[0]}; fi
run_step "ours-$SPLIT_PREC-split" 45 env GC_RENDER_PIPELINE=1 "${OURS[@]}" "${IT[@]}" \
    --precision "$SPLIT_PREC" --batch "$B_BIG" --modes host_lib --profile-iters 0

# 2g: calls smaller than max_batch (since session 16, cuda/backend_plans.cu): contexts of
# max_batch B_BIG, calls of 32 and 1 images, every call on the plans for max_batch
# (GC_BATCH_PLANS=off: as before) and on plans for the call's power of two (eager: built at
# the first call, a warm-up); beside step 5's contexts of max_batch 32 and 1. "context_batch"
# (the smoke: fp32 host tensors on the CPU, which records conv_images = the call's images)
if [ $SMOKE -eq 1 ]; then
    SMALL_CALLS=1 SMALL_PREC=fp32 SMALL_MODES=gradcam
else
    SMALL_CALLS=32,1 SMALL_PREC=${PRECS_MAIN[0]} SMALL_MODES=gpu
fi
for plans in off eager; do
    run_step "ours-$SMALL_PREC-small-$plans" 45 env GC_BATCH_PLANS=$plans "${OURS[@]}" \
        "${IT[@]}" --precision "$SMALL_PREC" --batch "$SMALL_CALLS" --context-batch "$B_BIG" \
        --modes "$SMALL_MODES" --profile-iters 0
done

# 3: the command on JPEG folders, with GPU utilization sampled during it
files_step() { # SIZE COUNT [NAME-SUFFIX BENCH-ARGS...]: more arguments go to the bench
    local size=$1 count=$2 name=files-${1}${3:-}
    shift 2
    [ $# -gt 0 ] && shift
    local extra=("$@")
    local fdir=${FILES_DIR:-$DATA/files} # FILES_DIR: another folder (the -shm step's tmpfs)
    wanted "$name" || return 0
    if [ "$(left)" -lt 20 ]; then
        say "$name: skipped (out of time)"
        step_record "$name" "" 0 "" "skipped: out of time"
        return 0
    fi
    timeout 120 "$BENCH" "${COMMON[@]}" --modes files --files "$count" --files-dir "$fdir" \
        --image-size "$size" --batch "$FILE_BATCH" --files-prepare >>"$LOGS/$name-prepare.log" 2>&1
    local spid=
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
            -lms 100 >"$LOGS/$name-util.csv" 2>/dev/null &
        spid=$!
    fi
    run_step "$name" 100 "${OURS[@]}" --modes files --files "$count" --files-dir "$fdir" \
        --image-size "$size" --batch "$FILE_BATCH" --precision "$FILE_PREC" \
        --gradcam-bin "$CLI" "${extra[@]}"
    if [ -n "$spid" ]; then
        kill "$spid" 2>/dev/null
        wait "$spid" 2>/dev/null
        "$PY" - "$LOGS/$name-util.csv" >>"$JSONL" 2>>"$LOGS/$name-prepare.log" <<'EOF'
import json, sys, time, datetime
for line in open(sys.argv[1]):
    parts = [p.strip() for p in line.split(",")]
    try:
        t = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f")
        print(json.dumps({"impl": "gpu_util", "t": time.mktime(t.timetuple()) + t.microsecond * 1e-6,
                          "util": float(parts[1]), "mem_mib": float(parts[2])}))
    except (ValueError, IndexError):
        pass
EOF
    fi
}
# the command in the first precision whose host mode worked at the headline batch (the CUDA
# backend may lack bf16), else the default
for p in "${PRECS_MAIN[@]}"; do
    if grep '"impl":"ours"' "$JSONL" | grep '"mode":"host"' | grep "\"precision\":\"$p\"" |
        grep -q '"ok":true'; then
        FILE_PREC=$p
        break
    fi
done
files_step 224x224 "$FILES_BIG"
# the same with the JPEGs and the outputs in memory (/dev/shm, tmpfs): what the disk's
# filesystem costs the encoders (creating 16,384 files, their pages), which run 2 could not
# tell from their CPU time; the folder goes after the step. Only with room there (a container's
# /dev/shm may be 64 MB; the step needs ~2 GB, 4 asked)
shm_free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
if [ -w /dev/shm ] && [ "${shm_free_kb:-0}" -gt 4000000 ]; then
    FILES_DIR=/dev/shm/gradcam-bench-files files_step 224x224 "$FILES_BIG" -shm
    rm -rf /dev/shm/gradcam-bench-files
else
    say "files-224x224-shm: skipped (/dev/shm: ${shm_free_kb:-no} KB free)"
fi
# the decode and encode threads 5 nice steps below the library's batcher and its OpenMP
# workers (GRADCAM_IO_NICE, the command's experiment since 2026-11-27: run 2's 224² run was
# bound by the library's calls, 29.6 ms each against ~19 ms of work, with more threads
# wanting the cores than there were); then the default again, for the spread between runs
GRADCAM_IO_NICE=5 files_step 224x224 "$FILES_BIG" -nice5
# the library's waits sleeping on blocking-sync events instead of spinning a core that the
# encoders want (GC_CUDA_BLOCKING_SYNC=1, the backend's experiment since 2026-11-27); its
# cost in pure compute is step 2e
GC_CUDA_BLOCKING_SYNC=1 files_step 224x224 "$FILES_BIG" -blocking
# the library's batches in two overlapped halves (GC_RENDER_PIPELINE=1, the backend's
# experiment since session 15): aimed at the same 29.6 ms calls; its library side is step 2f
GC_RENDER_PIPELINE=1 files_step 224x224 "$FILES_BIG" -split
[ "$SMOKE" = 1 ] || files_step 224x224 "$FILES_BIG" -again
[ "$SMOKE" = 1 ] || files_step 224x224 "$FILES_BIG" -w2 --files-workers 2
files_step 500x375 "$FILES_SMALL"
# what the CPU's PNG encoding costs, and two contexts per GPU overlapping their batches
# (--workers-per-device needs the CUDA backend: not in the CPU smoke run)
if [ "$SMOKE" = 1 ]; then
    files_step 500x375 "$FILES_SMALL" -jpg --files-format jpg
else
    files_step 500x375 "$FILES_SMALL" -jpg-w2 --files-format jpg --files-workers 2
fi

# 4: the other precisions at the headline batch
run_step "ours-rest-b$B_BIG" 90 "${OURS[@]}" "${IT[@]}" --precision "$(echo $PRECS_REST | tr ' ' ,)" \
    --batch "$B_BIG" --modes gpu,gpu_forward,gradcam,forward,host,host_lib
for p in $PRECS_REST; do
    run_step "peers-$p-b$B_BIG" 120 "${PEER[@]}" "${IT_PEER[@]}" --precision "$p" \
        --batch "$B_BIG" --modes "$PEER_MODES"
done

# 5: the smaller batches, every precision
ALLP=$(echo "${PRECS_MAIN[*]} $PRECS_REST" | tr ' ' ,)
for b in $B_REST; do
    run_step "ours-b$b" 60 "${OURS[@]}" "${IT[@]}" --precision "$ALLP" --batch "$b" \
        --modes gpu,gpu_forward,gradcam,forward --profile-iters 0
done
for p in "${PRECS_MAIN[@]}" $PRECS_REST; do
    run_step "peers-$p-rest" 90 "${PEER[@]}" "${IT_PEER[@]}" --precision "$p" \
        --batch "$B_REST_LIST" --modes tuned_split,hook_backward,grad_cam_pkg,forward
done

# 6: torch.compile, if time is left (it may fail offline: the record says why)
if [ "$(left)" -ge 100 ] || [ $SMOKE -eq 1 ]; then
    run_step "peers-compile-${PRECS_MAIN[0]}-b$B_BIG" 120 "${PEER[@]}" "${IT_PEER[@]}" \
        --precision "${PRECS_MAIN[0]}" --batch "$B_BIG" --modes tuned_split --compile
else
    step_record "peers-compile" "" 0 "" "skipped: under 100 s left"
fi

# 7: the other CAM methods at one setting (issue 8), after everything else: ours (with our
# Grad-CAM in the same run, for the ratio), then pytorch-grad-cam's same method and the tuned
# peer; ~90 s in all when the budget has them
METHODS_OTHER=gradcam++,xgradcam,layercam,hirescam,guided-backprop,guided-gradcam
run_step "methods-ours-$M_PREC-b$M_B" 40 "${OURS[@]}" "${M_IT[@]}" --precision "$M_PREC" \
    --batch "$M_B" --modes "$M_MODES" --profile-iters 0 --method "gradcam,$METHODS_OTHER"
run_step "methods-peers-$M_PREC-b$M_B" 50 "${PEER[@]}" "${M_IT_PEER[@]}" --precision "$M_PREC" \
    --batch "$M_B" --modes tuned_split,grad_cam_pkg --method "$METHODS_OTHER"

# ---------------------------------------------------------------- summary, chart, logs
finish
say "done: $OUT (bench.jsonl, summary.md, bench.png, nvidia-smi.txt, logs.tar.gz)"
exit 0
