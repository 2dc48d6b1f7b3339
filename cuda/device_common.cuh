/*
 * device_common.cuh — what every kernel file of the CUDA backend shares: the block size and
 * grid of its grid-stride loops, the launch check, and the element types of feature maps
 * (float, __half, __nv_bfloat16) read into float with ld() and stored with put() (one
 * rounding, to nearest even), with DISPATCH_DT binding a gc_dtype to its C++ type; and
 * GC_LAUNCH, the one way a kernel is launched.
 */
#ifndef GC_CUDA_DEVICE_COMMON_CUH
#define GC_CUDA_DEVICE_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels.cuh"

#define GC_BLOCK 256

static inline unsigned grid_for(size_t len)
{
    size_t g = (len + GC_BLOCK - 1) / GC_BLOCK;
    if (g < 1)
        g = 1;
    return (unsigned)(g > ((size_t)1 << 20) ? ((size_t)1 << 20) : g);
}

#define GRID_STRIDE(i, len)                                                                    \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (len);                  \
         i += (size_t)gridDim.x * blockDim.x)

/* GC_LAUNCH(grid, block, stream, kernel)(arguments): a kernel launch, the kernel last so that
 * template arguments with commas pass through. Under GC_CUDA_EMULATE (tests/emu: these files
 * built by the host compiler, every kernel run on the CPU against its CPU twin) it runs the
 * grid's blocks and threads one after another, which the kernels allow: no shared memory, no
 * barriers, no atomics, each thread writes only its own outputs. */
#ifdef GC_CUDA_EMULATE
#include "cuda_emulate.h"
#else
#define GC_LAUNCH(grid, block, st, ...) __VA_ARGS__<<<(grid), (block), 0, (st)>>>
/* the same with `bytes` of dynamic shared memory (the tensor-core kernels) */
#define GC_LAUNCH_SMEM(grid, block, bytes, st, ...)                                            \
    __VA_ARGS__<<<(grid), (block), (bytes), (st)>>>
#endif
#define LAUNCH_CHECK(err) GC_CUDA_TRY(err, cudaGetLastError())

/* Runs the statement with T bound to the element type of dt. */
#define DISPATCH_DT(dt, T, ...)                                                                \
    switch (dt) {                                                                              \
    case GC_DT_F16: {                                                                          \
        typedef __half T;                                                                      \
        __VA_ARGS__;                                                                           \
    } break;                                                                                   \
    case GC_DT_BF16: {                                                                         \
        typedef __nv_bfloat16 T;                                                               \
        __VA_ARGS__;                                                                           \
    } break;                                                                                   \
    default: {                                                                                 \
        typedef float T;                                                                       \
        __VA_ARGS__;                                                                           \
    } break;                                                                                   \
    }

static __device__ __forceinline__ float ld(float v)
{
    return v;
}
static __device__ __forceinline__ float ld(__half v)
{
    return __half2float(v);
}
static __device__ __forceinline__ float ld(__nv_bfloat16 v)
{
    return __bfloat162float(v);
}
static __device__ __forceinline__ void put(float *p, float v)
{
    *p = v;
}
static __device__ __forceinline__ void put(__half *p, float v)
{
    *p = __float2half_rn(v);
}
static __device__ __forceinline__ void put(__nv_bfloat16 *p, float v)
{
    *p = __float2bfloat16_rn(v);
}

#endif /* GC_CUDA_DEVICE_COMMON_CUH */
