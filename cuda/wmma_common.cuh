/*
 * wmma_common.cuh — what the tensor-core kernels (cuda/first_conv_tc.cu,
 * cuda/first_block.cu) share: nvcuda::wmma (or its emulation, tests/emu/wmma_emulate.h), the
 * shares of work between a warp's lanes and a block's warps, and 16-bit packing.
 *
 * Under GC_CUDA_EMULATE (tests/emu) the threads run one after another, so there are no
 * barriers: a share of work that other threads read later is done whole by every emulated
 * thread (GC_LANE_SHARE: all lanes' shares; GC_WARP_SHARE, GC_BLOCK_SHARE: all warps' and
 * all threads'), which leaves shared memory as the lanes, warps and threads together would.
 * Shared memory is declared float or bytes and holds T: in the emulated build it is written
 * and read by memcpy (the host compiler's aliasing rules), on the GPU by plain vector stores.
 */
#ifndef GC_CUDA_WMMA_COMMON_CUH
#define GC_CUDA_WMMA_COMMON_CUH

#include <stdint.h>
#include <string.h>

#include "device_common.cuh"
#include "gc_math.h"

#ifdef GC_CUDA_EMULATE
#include "wmma_emulate.h"
#define GC_SHARED static thread_local
#define GC_SYNCWARP() ((void)0)
#define GC_SYNCTHREADS() ((void)0)
#define GC_LANE_SHARE(i, lane, n) for (int i = 0; i < (n); i++)
#define GC_WARP_SHARE(i, warp, warps, n) for (int i = 0; i < (n); i++)
#define GC_BLOCK_SHARE(i, n) for (size_t i = 0; i < (size_t)(n); i++)
#define GC_STORE8(dst, u) memcpy((void *)(dst), &(u), 8)
#define GC_STORE16(dst, u) memcpy((void *)(dst), &(u), 16)
#define GC_STG8(dst, u) memcpy((void *)(dst), &(u), 8)
#define GC_STG16(dst, u) memcpy((void *)(dst), &(u), 16)
#define GC_LDS4(v, src) memcpy(&(v), (src), 16)
#define GC_UNROLL
#else
#include <mma.h>
#define GC_SHARED __shared__
#define GC_SYNCWARP() __syncwarp()
#define GC_SYNCTHREADS() __syncthreads()
#define GC_LANE_SHARE(i, lane, n) for (int i = (lane); i < (n); i += 32)
#define GC_WARP_SHARE(i, warp, warps, n) for (int i = (warp); i < (n); i += (warps))
#define GC_BLOCK_SHARE(i, n) for (size_t i = threadIdx.x; i < (size_t)(n); i += blockDim.x)
#define GC_STORE8(dst, u) (*(uint2 *)(dst) = (u))
#define GC_STORE16(dst, u) (*(uint4 *)(dst) = (u))
/* the output's vector stores: a plain uint4 store here compiled to four 4-byte ones */
#define GC_STG8(dst, u) __stcg((uint2 *)(dst), (u))
#define GC_STG16(dst, u) __stcg((uint4 *)(dst), (u))
#define GC_LDS4(v, src) ((v) = *(const float4 *)(src))
#define GC_UNROLL _Pragma("unroll") /* fragments indexed by the loop stay in registers */
#endif

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define TC_HAVE 1 /* bf16 wmma needs sm_80; the build's architectures start there */
#endif

/* A 16x16 wmma tile of T from shared memory at p (rows or columns ldm elements apart), as
 * wmma::load_matrix_sync. Why not that: for bf16 nvcc 13.0 compiles it to generic 64-bit
 * loads (LD.E, 4 a tile) where fp16's becomes one ldmatrix (LDSM.16.M88.4) from the
 * .shared state space: its bf16 builtins get no address-space inference (a review of the
 * SASS, session 17). The same PTX instruction, given .shared, loads the same fragment. */
template <typename Frag, typename T>
static __device__ __forceinline__ void load_shared(Frag &f, const T *p, unsigned ldm)
{
    nvcuda::wmma::load_matrix_sync(f, p, ldm);
}
#if !defined(GC_CUDA_EMULATE) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
/* "memory": the load must not move across the barriers that order the tile's writes. The
 * modifiers in the PTX ISA's order, as nvcc writes fp16's (wmma.load.a.sync.aligned.row...;
 * ptxas 13.0 also took the layout before .sync, a review found: a stricter one might not) */
#define GC_WMMA_LD_BF16(matrix, layout)                                                            \
    unsigned *r = reinterpret_cast<unsigned *>(&f.x[0]);                                           \
    asm volatile("wmma.load." matrix ".sync.aligned." layout ".m16n16k16.shared.bf16 "             \
                 "{%0, %1, %2, %3}, "                                                              \
                 "[%4], %5;"                                                                       \
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])                                  \
                 : "r"((unsigned)__cvta_generic_to_shared(p)), "r"(ldm)                            \
                 : "memory")
static __device__ __forceinline__ void
load_shared(nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16,
                                   nvcuda::wmma::row_major> &f,
            const __nv_bfloat16 *p, unsigned ldm)
{
    GC_WMMA_LD_BF16("a", "row");
}
static __device__ __forceinline__ void
load_shared(nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16,
                                   nvcuda::wmma::col_major> &f,
            const __nv_bfloat16 *p, unsigned ldm)
{
    GC_WMMA_LD_BF16("b", "col");
}
#undef GC_WMMA_LD_BF16
#endif

/* v rounded to t (fp16 or bf16) and back, on the host: a bias as the tensor-core kernels add
 * it, the value cuDNN's bias tensor of type t holds */
static inline float tc_rounded(gc_dtype t, float v)
{
    return t == GC_DT_F16 ? __half2float(__float2half_rn(v))
                          : __bfloat162float(__float2bfloat16_rn(v));
}

/* t's name in the kernels' messages */
static inline const char *tc_dtype_name(gc_dtype t)
{
    return t == GC_DT_BF16 ? "bf16" : t == GC_DT_F16 ? "fp16" : "fp32";
}

/* A T's 16 bits, for packing two into a 32-bit word */
static __device__ __forceinline__ uint32_t bits16(__half v)
{
    return ((__half_raw)v).x;
}
static __device__ __forceinline__ uint32_t bits16(__nv_bfloat16 v)
{
    return ((__nv_bfloat16_raw)v).x;
}

/* The 16 bits of the T at p (in shared memory) */
template <typename T> static __device__ __forceinline__ uint32_t staged_bits(const T *p)
{
    uint16_t b;
    memcpy(&b, p, sizeof b);
    return b;
}

/* v plus the biases b, ReLU'd (relu), rounded to T (once each) and packed two a word into
 * w[0..1] */
template <typename T>
static __device__ __forceinline__ void pack_four_values(float4 v, float4 b, int relu, uint32_t *w)
{
    const float x[4] = {v.x + b.x, v.y + b.y, v.z + b.z, v.w + b.w};
    for (int e = 0; e < 4; e += 2) {
        T lo, hi;
        put(&lo, relu ? gc_relu(x[e]) : x[e]);
        put(&hi, relu ? gc_relu(x[e + 1]) : x[e + 1]);
        w[e / 2] = bits16(lo) | bits16(hi) << 16;
    }
}

#endif /* GC_CUDA_WMMA_COMMON_CUH */
