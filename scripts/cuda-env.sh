# cuda-env.sh — sourced by scripts/device-check.sh (sh) and scripts/device-bench.sh (bash):
# where the CUDA toolkit and cuDNN are on a GPU machine, and the loader path that reaches
# them, defined once so that both scripts load the same libraries.

# gc_cuda_find PYTHON: sets NVCC (the toolkit's compiler), SITES (PYTHON's site-packages),
# CUDNN_ROOT (the toolkit's directory, else pip's nvidia-cudnn wheel; "" when neither has
# include/cudnn_version.h) and CUDNN_V ("9.19.0", or "").
gc_cuda_find() {
    NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    SITES=$("$1" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
    CUDNN_ROOT=
    for d in /usr/local/cuda /usr $(echo "$SITES" | tr ' ' '\n' | sed 's|$|/nvidia/cudnn|'); do
        if [ -f "$d/include/cudnn_version.h" ]; then CUDNN_ROOT=$d; break; fi
    done
    CUDNN_V=
    [ -n "$CUDNN_ROOT" ] && CUDNN_V=$(grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' \
        "$CUDNN_ROOT/include/cudnn_version.h" | awk '{printf "%s.", $3}' | sed 's/\.$//')
}

# gc_cuda_libpath: after gc_cuda_find, puts on LD_LIBRARY_PATH (exported) the toolkit's
# library folder, then cuDNN's in front of it (folders already there are left as they are).
# libcudnn.so.9 dlopens its sub-libraries (libcudnn_graph, _engines_precompiled, ...) by name:
# our RUNPATH does not reach them, pip's wheel may have none of its own
# (CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED / NOT_INITIALIZED at the first descriptor); the
# runtime-fusion engines also dlopen NVRTC, the toolkit's. The toolkit's folder (cudart,
# cuBLAS) goes on too: the build's RUNPATH names it as well, but a loader configuration
# elsewhere must not pick another copy. cuDNN's folder ends up first, so that a libcudnn
# beside the toolkit's libraries cannot shadow the one the build used.
gc_cuda_libpath() {
    for d in "$(dirname "$NVCC")/../lib64" "$CUDNN_ROOT/lib64" "$CUDNN_ROOT/lib"; do # last = first
        case ":${LD_LIBRARY_PATH:-}:" in *":$d:"*) continue ;; esac
        if ls "$d"/libcudnn.so* >/dev/null 2>&1 || ls "$d"/libnvrtc.so* >/dev/null 2>&1 ||
            ls "$d"/libcudart.so* >/dev/null 2>&1; then
            LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        fi
    done
    export LD_LIBRARY_PATH
}
