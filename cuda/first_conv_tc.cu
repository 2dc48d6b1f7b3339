/*
 * first_conv_tc.cu — the first convolution (3x3, stride 1, padding 1, on the image's three
 * channels) with its bias and ReLU on the tensor cores, in fp16/bf16: gc_first_conv_tc_cuda.
 *
 * Why: the layer writes 64 channels a pixel (VGG16 at batch 256: 1.64 GB in bf16, 0.49 ms at
 * the H100's memory rate), and its 27-long reduction is too short for cuDNN's tensor-core
 * engines to stream (2.02 ms) and too many FMAs for the CUDA cores at 64 outputs a pixel
 * (cuda/first_conv.cu: 2.13 ms in bf16, the FMAs at a third of the fp32 peak). Here the
 * products go to the tensor cores (wmma, m16n16k16, float accumulators), which leaves the
 * layer to its memory traffic. NOT YET RUN ON A GPU: opt-in (GC_FIRST_CONV=tc) until the
 * device bench (step 2d) has timed it and the GPU tests have checked it.
 *
 * One warp computes 16 neighbouring pixels of one output row times 16 x NT output channels
 * (NT = 4, 64 channels, wherever the outputs are a multiple of 64, as in every VGG; else 2
 * or 1):
 *   - for each kernel row ky, the warp writes a 16x32 matrix A_ky into its shared memory:
 *     row r holds the 8-channel vectors of input pixels x0-1+r, x0+r, x0+1+r (channels 0..2
 *     of the input, zeros for the rest and for pixels outside the image: the padding) and
 *     an all-zero fourth vector, so that whatever the input's padding channels or a
 *     neighbour hold never reaches a product. Rows are 64 bytes apart, which keeps every
 *     row start 32-byte aligned, as the PTX ISA asks of wmma loads (rows that overlap in
 *     memory, one 16-byte vector apart, would save the copies but break that rule);
 *   - A_ky times a 32 x 16NT weight matrix whose rows kx * 8 + c hold w[co][ky][kx][c] for
 *     kx, c < 3 and zeros elsewhere: 3 rows x 2 halves x NT column tiles = 6 NT wmma steps;
 *   - the accumulators go to the same shared memory as floats (rows 16NT + 8 floats apart:
 *     32-byte aligned, and the epilogue's reads at most 2-way bank conflicts), and each lane
 *     adds the bias, applies ReLU, rounds once and writes half a pixel's 16 NT channels
 *     (NT 16-byte stores, each pair of lanes one whole 32-byte sector).
 * Numerics: the products exact (fp16/bf16 times fp16/bf16 in float), the 27 taps summed in
 * float in the tensor cores' order, the bias added, ReLU, one rounding to T: within float
 * rounding of cuda/first_conv.cu's result (kernels_{emu,gpu} check both against the CPU).
 *
 * Under GC_CUDA_EMULATE (tests/emu) the threads run one after another: each emulated thread
 * fills its warp's whole staging and computes whole tiles (tests/emu/wmma_emulate.h), which
 * gives the same shared memory contents as the warp's lanes together; the lanes' shares of the
 * epilogue are the real ones.
 */
#include <string.h>

#include "device_common.cuh"
#include "gc_math.h"

/* GC_STORE16: a 16-byte store into the staging, whose memory is declared float and read as
 * T: by memcpy in the emulated build (the host compiler's aliasing rules), by one vector
 * store on the GPU */
#ifdef GC_CUDA_EMULATE
#include "wmma_emulate.h"
#define GC_SHARED static thread_local
#define GC_SYNCWARP() ((void)0)
#define GC_LANE_SHARE(i, lane, n) for (int i = 0; i < (n); i++)
#define GC_STORE16(dst, u) memcpy((void *)(dst), &(u), 16)
#else
#include <mma.h>
#define GC_SHARED __shared__
#define GC_SYNCWARP() __syncwarp()
#define GC_LANE_SHARE(i, lane, n) for (int i = (lane); i < (n); i += 32)
#define GC_STORE16(dst, u) (*(uint4 *)(dst) = (u))
#endif

#define TC_PIX 16                /* output pixels a warp (the wmma tile's rows)       */
#define TC_NT_MAX 4              /* 16-wide column tiles a warp, at most (64 channels) */
#define TC_KROWS 32              /* reduction terms a kernel row: 4 vectors x 8 channels */
#define TC_A (TC_PIX * TC_KROWS) /* elements of one A_ky                                */
#define TC_WARPS (GC_BLOCK / 32)

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define TC_HAVE 1 /* bf16 wmma needs sm_80; the build's architectures start there */
#endif

/* A T's 16 bits, for packing two into a 32-bit word */
static __device__ __forceinline__ uint32_t bits16(__half v)
{
    return ((__half_raw)v).x;
}
static __device__ __forceinline__ uint32_t bits16(__nv_bfloat16 v)
{
    return ((__nv_bfloat16_raw)v).x;
}

template <typename T, int NT>
static __global__ void __launch_bounds__(GC_BLOCK)
    op_first_conv_tc_kernel(const T *x, int32_t C0, const T *wt, const float *bias, T *y, int32_t H,
                            int32_t W, int32_t K, int relu, size_t tasks)
{
#ifdef TC_HAVE
    using namespace nvcuda;
    constexpr int OUT = 16 * NT;    /* output channels a warp */
    constexpr int OUT_LD = OUT + 8; /* a pixel's accumulators apart (floats) */
    /* per warp: the three A_ky (3 x 16 x 32 of T, 3 KB), then over them the accumulators
     * (TC_PIX x OUT_LD floats, 4.5 KB at NT = 4) */
    GC_SHARED __align__(32) float smem[TC_WARPS][TC_PIX * (16 * TC_NT_MAX + 8)];
    const int warp = (int)(threadIdx.x >> 5), lane = (int)(threadIdx.x & 31);
    float *const out = smem[warp];
    T *const stage = (T *)out;
    const int32_t tiles = (W + TC_PIX - 1) / TC_PIX, groups = K / OUT;
    const size_t first = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t step = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t task = first; task < tasks; task += step) { /* the same for the whole warp */
        const int32_t g = (int32_t)(task % (size_t)groups);
        const size_t tile = task / (size_t)groups;
        const int32_t x0 = (int32_t)(tile % (size_t)tiles) * TC_PIX;
        const size_t row = tile / (size_t)tiles; /* image * H + output row */
        const int32_t oy = (int32_t)(row % (size_t)H);
        GC_SYNCWARP(); /* the last task's epilogue has read the accumulators */
        /* slot i: A_ky row r, vector q (input pixel x0-1+r+q; q = 3 stays zero) */
        GC_LANE_SHARE(i, lane, 3 * TC_PIX * 4)
        {
            const int ky = i / (TC_PIX * 4), r = (i / 4) % TC_PIX, q = i % 4;
            const int32_t iy = oy + ky - 1, ix = x0 - 1 + r + q;
            T v[8];
            const T zero = T(0.0f);
            for (int c = 0; c < 8; c++)
                v[c] = zero;
            if (q < 3 && iy >= 0 && iy < H && ix >= 0 && ix < W) {
                const T *src = x + ((row + (size_t)ky - 1) * (size_t)W + (size_t)ix) * C0;
                if (C0 == 8) { /* the backend's packing in fp16/bf16: one 16-byte load */
                    T w8[8];
                    const uint4 in = *(const uint4 *)src;
                    memcpy((void *)w8, &in, sizeof in);
                    v[0] = w8[0], v[1] = w8[1], v[2] = w8[2];
                } else {
                    v[0] = src[0], v[1] = src[1], v[2] = src[2];
                }
            }
            uint4 u;
            memcpy(&u, v, sizeof u);
            GC_STORE16(stage + (size_t)i * 8, u);
        }
        GC_SYNCWARP();
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[NT];
        for (int nt = 0; nt < NT; nt++)
            wmma::fill_fragment(acc[nt], 0.0f);
        for (int ky = 0; ky < 3; ky++) {
            for (int kh = 0; kh < TC_KROWS / 16; kh++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
                wmma::load_matrix_sync(a, stage + ky * TC_A + kh * 16, TC_KROWS);
                const T *wk = wt + (size_t)(ky * TC_KROWS + kh * 16) * K + (size_t)g * OUT;
                for (int nt = 0; nt < NT; nt++) {
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
                    wmma::load_matrix_sync(b, wk + nt * 16, (unsigned)K);
                    wmma::mma_sync(acc[nt], a, b, acc[nt]);
                }
            }
        }
        GC_SYNCWARP(); /* every lane has read the staging: the accumulators go over it */
        for (int nt = 0; nt < NT; nt++)
            wmma::store_matrix_sync(out + nt * 16, acc[nt], OUT_LD, wmma::mem_row_major);
        GC_SYNCWARP();
        /* lane: pixel lane / 2, channels 16 v + 8 (lane % 2) .. + 7 for v < NT: at each
         * store the pixel's two lanes write one whole 32-byte sector of its line */
        const int p = lane >> 1, h = lane & 1;
        if (x0 + p < W) {
            T *dst = y + (row * (size_t)W + (size_t)(x0 + p)) * (size_t)K + (size_t)g * OUT;
            for (int v = 0; v < NT; v++) {
                const int c = v * 16 + h * 8;
                uint32_t w4[4];
                for (int e = 0; e < 8; e += 2) { /* two rounded values a word */
                    const float s0 = out[p * OUT_LD + c + e] + bias[(size_t)g * OUT + c + e];
                    const float s1 =
                        out[p * OUT_LD + c + e + 1] + bias[(size_t)g * OUT + c + e + 1];
                    T lo, hi;
                    put(&lo, relu ? gc_relu(s0) : s0);
                    put(&hi, relu ? gc_relu(s1) : s1);
                    w4[e / 2] = bits16(lo) | bits16(hi) << 16;
                }
                *(uint4 *)(dst + c) = make_uint4(w4[0], w4[1], w4[2], w4[3]);
            }
        }
    }
#else
    __trap(); /* code for a GPU before sm_80 (a build with CMAKE_CUDA_ARCHITECTURES below 80,
                 its PTX compiled at run time): loud rather than a silent wrong result */
#endif
}

template <typename T>
static void launch_tc(cudaStream_t st, unsigned grid, int nt, const void *x, int32_t C0,
                      const void *wt, const float *bias, void *y, int32_t H, int32_t W, int32_t K,
                      int relu, size_t tasks)
{
    const T *xt = (const T *)x, *w = (const T *)wt;
    T *yt = (T *)y;
    if (nt == 4) {
        GC_LAUNCH(grid, GC_BLOCK, st, op_first_conv_tc_kernel<T, 4>)
        (xt, C0, w, bias, yt, H, W, K, relu, tasks);
    } else if (nt == 2) {
        GC_LAUNCH(grid, GC_BLOCK, st, op_first_conv_tc_kernel<T, 2>)
        (xt, C0, w, bias, yt, H, W, K, relu, tasks);
    } else {
        GC_LAUNCH(grid, GC_BLOCK, st, op_first_conv_tc_kernel<T, 1>)
        (xt, C0, w, bias, yt, H, W, K, relu, tasks);
    }
}

int gc_first_conv_tc_supported(gc_dtype t, int32_t cin, int32_t cout)
{
    return (t == GC_DT_BF16 || t == GC_DT_F16) && cin == 3 && cout > 0 && cout % 16 == 0;
}

size_t gc_first_conv_tc_weight_elems(int32_t cout)
{
    return (size_t)3 * TC_KROWS * (size_t)cout;
}

void gc_first_conv_tc_weights_host(gc_dtype t, const float *w, const float *b, int32_t cout,
                                   float *wt, float *bias)
{
    memset(wt, 0, sizeof(float) * gc_first_conv_tc_weight_elems(cout));
    for (int32_t k = 0; k < cout; k++) {
        for (int ky = 0; ky < 3; ky++) /* w (cout, 3, 3, 3): (ky * 3 + kx) * 3 + c */
            for (int kx = 0; kx < 3; kx++)
                for (int c = 0; c < 3; c++)
                    wt[(size_t)(ky * TC_KROWS + kx * 8 + c) * cout + k] =
                        w[(size_t)k * 27 + (ky * 3 + kx) * 3 + c];
        /* the bias rounded to t and back, as cuDNN's bias tensor and first_conv.cu's are (the
         * weights are rounded where they go up in t) */
        const float v = b ? b[k] : 0.0f;
        bias[k] = t == GC_DT_F16 ? __half2float(__float2half_rn(v))
                                 : __bfloat162float(__float2bfloat16_rn(v));
    }
}

gc_status gc_first_conv_tc_cuda(cudaStream_t st, gc_dtype t, const void *x, int32_t C0,
                                const void *wt, const float *bias, void *y, int32_t n, int32_t H,
                                int32_t W, int32_t K, int relu, gc_errbuf *err)
{
    if (!gc_first_conv_tc_supported(t, 3, K) || C0 < 3 ||
        ((uintptr_t)y | (uintptr_t)wt) % 32 != 0 || (C0 == 8 && (uintptr_t)x % 16 != 0))
        return gc_fail(err, GC_ERR_BACKEND,
                       "first conv tensor-core kernel: %d output channels (a multiple of 16) "
                       "from %d in %s, or unaligned buffers",
                       (int)K, (int)C0,
                       t == GC_DT_BF16  ? "bf16"
                       : t == GC_DT_F16 ? "fp16"
                                        : "fp32");
    const int nt = K % 64 == 0 ? 4 : K % 32 == 0 ? 2 : 1; /* 16-wide tiles a warp */
    const size_t tasks =
        (size_t)n * H * (size_t)((W + TC_PIX - 1) / TC_PIX) * (size_t)(K / (16 * nt));
    if (tasks == 0)
        return GC_OK;
    const unsigned grid = grid_for(tasks * 32);
    if (t == GC_DT_BF16)
        launch_tc<__nv_bfloat16>(st, grid, nt, x, C0, wt, bias, y, H, W, K, relu, tasks);
    else
        launch_tc<__half>(st, grid, nt, x, C0, wt, bias, y, H, W, K, relu, tasks);
    LAUNCH_CHECK(err);
    return GC_OK;
}
