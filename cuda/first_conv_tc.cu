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
 * One warp computes 16 MT neighbouring pixels of one output row (MT = 2 wherever the row is
 * wider than 16, else 1) times 16 NT output channels (NT = 4, 64 channels, wherever the
 * outputs are a multiple of 64, as in every VGG; else 2 or 1):
 *   - the warp stages the input its pixels read in its shared memory: 3 kernel rows of
 *     16 MT + 2 pixels, 4 channels each (one 8-byte load a pixel from the backend's 8-channel
 *     packing; zeros outside the image: the padding);
 *   - from it, one 16 x 32 matrix A per 16 pixels: row r holds pixel x0 + r's 27 taps
 *     (ky, kx, c) in the weights' order and 5 zeros. Rows are 64 bytes apart, every row start
 *     32-byte aligned as the PTX ISA asks of wmma loads. The input's fourth (padding) channel
 *     is staged but never read, so whatever it holds never reaches a product;
 *   - A times the 32 x 16 NT weight matrix, stored column-major (an output channel's 27 taps
 *     and 5 zeros together, so its fragments load without transposes): 2 reduction steps x
 *     NT column tiles, each weight fragment loaded once for the MT
 *     tiles (2 x NT fragments a warp task: a third of a layout with a 32-deep step per kernel
 *     row, and half again per pixel with MT = 2);
 *   - per 16-pixel tile, the accumulators go to the same shared memory as floats (rows
 *     16 x 4 + 8 floats apart: 32-byte aligned), and each lane adds the bias (two 16-byte
 *     loads), applies ReLU, rounds once and writes half a pixel's 16 NT channels (NT 16-byte
 *     stores, each pair of lanes one whole 32-byte sector). The A rows' and the epilogue's
 *     16-byte shared-memory accesses are ordered per lane so that no wavefront has a bank
 *     conflict (a read-only review's count, session 15).
 * Numerics: the products exact (fp16/bf16 times fp16/bf16 in float), the 27 taps summed in
 * float in the tensor cores' order, the bias added, ReLU, one rounding to T: within float
 * rounding of cuda/first_conv.cu's result (kernels_{emu,gpu} check both against the CPU).
 *
 * Under GC_CUDA_EMULATE (tests/emu) the threads run one after another: each emulated thread
 * fills its warp's whole staging and computes whole tiles (tests/emu/wmma_emulate.h), which
 * gives the same shared memory contents as the warp's lanes together; the lanes' shares of the
 * epilogue are the real ones.
 */
#include "gc_math.h"
#include "wmma_common.cuh"

#define TC_PIX 16   /* output pixels of one wmma tile (its rows)                     */
#define TC_NT_MAX 4 /* 16-wide column tiles a warp, at most (64 channels)           */
#define TC_TAPS 27  /* the reduction: 3 kernel rows x 3 columns x 3 channels          */
#define TC_KROWS 32 /* ... padded with zeros to two 16-deep wmma steps                */
#define TC_WARPS (GC_BLOCK / 32)
#define TC_OUT_LD (16 * TC_NT_MAX + 8) /* floats between two pixels' accumulators     */

/* Four accumulators s (16-byte aligned, in shared memory) plus their biases b, ReLU'd
 * (relu), rounded to T and packed two a word into w[0..1] */
template <typename T>
static __device__ __forceinline__ void pack_four(const float *s, float4 b, int relu, uint32_t *w)
{
    float4 v;
    GC_LDS4(v, s);
    pack_four_values<T>(v, b, relu, w);
}

/* Where tap t (ky * 9 + kx * 3 + c, t < 27) of the warp's first output pixel sits in the
 * staged window: 4-element entries, one an input pixel, S entries a kernel row */
static __host__ __device__ constexpr int tap_at(int S, int t)
{
    return (t / 9) * S * 4 + (t / 3 % 3) * 4 + t % 3;
}

template <typename T, int NT, int MT>
static __global__ void __launch_bounds__(GC_BLOCK)
    op_first_conv_tc_kernel(const T *x, int32_t C0, const T *wt, const float *bias, T *y, int32_t H,
                            int32_t W, int32_t K, int relu, size_t tasks)
{
#ifdef TC_HAVE
    using namespace nvcuda;
    constexpr int OUT = 16 * NT;                 /* output channels a warp */
    constexpr int PIX = TC_PIX * MT;             /* output pixels a warp   */
    constexpr int S = PIX + 2;                   /* input pixels a kernel row reads */
    constexpr int WIN = 3 * S * 4;               /* the staged window: 3 rows of S pixels, 4 each */
    constexpr int A0 = (WIN * 2 + 63) / 64 * 32; /* the A tiles' start (elements, 64-byte
                                                    aligned); 32 elements a row */
    static_assert(A0 + MT * TC_PIX * TC_KROWS <= 2 * TC_PIX * TC_OUT_LD,
                  "the staging fits under the accumulators' room");
    /* per warp: the window and the A tiles (MT x 16 x 32 of T), then over them the
     * accumulators of one 16-pixel tile at a time (16 x TC_OUT_LD floats, 4.5 KB) */
    GC_SHARED __align__(32) float smem[TC_WARPS][TC_PIX * TC_OUT_LD];
    const int warp = (int)(threadIdx.x >> 5), lane = (int)(threadIdx.x & 31);
    float *const out = smem[warp];
    T *const win = (T *)out, *const tiles_a = win + A0;
    const int32_t tiles = (W + PIX - 1) / PIX, groups = K / OUT;
    const size_t first = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const size_t step = ((size_t)gridDim.x * blockDim.x) >> 5;
    for (size_t task = first; task < tasks; task += step) { /* the same for the whole warp */
        const int32_t g = (int32_t)(task % (size_t)groups);
        const size_t tile = task / (size_t)groups;
        const int32_t x0 = (int32_t)(tile % (size_t)tiles) * PIX;
        const size_t row = tile / (size_t)tiles; /* image * H + output row */
        const int32_t oy = (int32_t)(row % (size_t)H);
        GC_SYNCWARP(); /* the last task's epilogue has read the accumulators */
        /* 1: the window — entry i: kernel row i / S, input pixel x0 - 1 + i % S, its
         * channels 0..3 (the fourth is never read), zeros outside the image */
        GC_LANE_SHARE(i, lane, 3 * S)
        {
            const int ky = i / S;
            const int32_t iy = oy + ky - 1, ix = x0 - 1 + i % S;
            T v[4];
            const T zero = T(0.0f);
            for (int c = 0; c < 4; c++)
                v[c] = zero;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                const T *src = x + ((row + (size_t)ky - 1) * (size_t)W + (size_t)ix) * C0;
                if (C0 == 8) { /* the backend's packing in fp16/bf16: one 8-byte load */
                    const uint2 in = *(const uint2 *)src;
                    memcpy((void *)v, &in, sizeof in);
                } else {
                    v[0] = src[0], v[1] = src[1], v[2] = src[2];
                }
            }
            uint2 u;
            memcpy(&u, v, sizeof u);
            GC_STORE8(win + (size_t)i * 4, u);
        }
        GC_SYNCWARP();
        /* 2: the A tiles — row r of tile m is output pixel x0 + 16 m + r, its 27 taps and 5
         * zeros (whatever the window holds never meets the weights' zero rows: 0 x NaN);
         * slot i writes half h of a row (taps 16 h .. 16 h + 15) as two 16-byte stores */
        GC_LANE_SHARE(i, lane, MT * TC_PIX * 2)
        {
            const int h = i & 1;
            const T *at = win + (size_t)(i >> 1) * 4; /* i >> 1: the warp's pixel 16 m + r */
            uint32_t w8[8];
            for (int j = 0; j < 16; j++) {
                const uint32_t b = h ? (16 + j < TC_TAPS ? staged_bits(at + tap_at(S, 16 + j)) : 0u)
                                     : staged_bits(at + tap_at(S, j));
                w8[j / 2] = j % 2 ? w8[j / 2] | b << 16 : b;
            }
            /* the second four of each eight slots store their upper 16 bytes first: the
             * eight 16-byte stores of a shared-memory wavefront then take distinct banks */
            T *dst = tiles_a + (size_t)(i >> 1) * TC_KROWS + h * 16;
            const int sw = (i >> 2) & 1;
            const uint4 lo = make_uint4(w8[0], w8[1], w8[2], w8[3]),
                        hi = make_uint4(w8[4], w8[5], w8[6], w8[7]);
            const uint4 first_half = sw ? hi : lo, second_half = sw ? lo : hi;
            GC_STORE16(dst + 8 * sw, first_half);
            GC_STORE16(dst + 8 * (1 - sw), second_half);
        }
        GC_SYNCWARP();
        /* 3: (MT x 16) x 32 times 32 x OUT: each weight fragment serves the MT tiles */
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[MT][NT];
        for (int m = 0; m < MT; m++)
            for (int nt = 0; nt < NT; nt++)
                wmma::fill_fragment(acc[m][nt], 0.0f);
        for (int kh = 0; kh < TC_KROWS / 16; kh++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[MT];
            for (int m = 0; m < MT; m++)
                load_shared(a[m], tiles_a + m * TC_PIX * TC_KROWS + kh * 16, TC_KROWS);
            /* the weights column-major (an output channel's 32 taps together): loaded as
             * they are used, without the transposes a row-major B takes */
            const T *wk = wt + (size_t)g * OUT * TC_KROWS + kh * 16;
            for (int nt = 0; nt < NT; nt++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
                wmma::load_matrix_sync(b, wk + nt * 16 * TC_KROWS, TC_KROWS);
                for (int m = 0; m < MT; m++)
                    wmma::mma_sync(acc[m][nt], a[m], b, acc[m][nt]);
            }
        }
        /* 4: per 16-pixel tile, the accumulators over the staging, then bias, ReLU, one
         * rounding; lane: pixel lane / 2, channels 16 v + 8 (lane % 2) .. + 7 for v < NT: at
         * each store the pixel's two lanes write one whole 32-byte sector of its line */
        const int p = lane >> 1, h = lane & 1;
        GC_UNROLL
        for (int m = 0; m < MT; m++) {
            GC_SYNCWARP(); /* every lane is done with the staging, or the last tile's values */
            for (int nt = 0; nt < NT; nt++)
                wmma::store_matrix_sync(out + nt * 16, acc[m][nt], TC_OUT_LD, wmma::mem_row_major);
            GC_SYNCWARP();
            const int32_t ox = x0 + m * TC_PIX + p;
            T *dst = y + (row * (size_t)W + (size_t)ox) * (size_t)K + (size_t)g * OUT;
            for (int v = 0; v < NT && ox < W; v++) {
                const int c = v * 16 + h * 8;
                const float4 *bv = (const float4 *)(bias + (size_t)g * OUT + c);
                const float4 b0 = bv[0], b1 = bv[1]; /* bias 16-byte aligned: checked */
                /* lanes of odd h read their second 16 bytes first: the two lanes of a pixel
                 * then read distinct banks */
                const float *acc8 = out + p * TC_OUT_LD + c;
                uint32_t mine[2], other[2];
                pack_four<T>(acc8 + 4 * h, h ? b1 : b0, relu, mine);
                pack_four<T>(acc8 + 4 * (1 - h), h ? b0 : b1, relu, other);
                const uint4 u = h ? make_uint4(other[0], other[1], mine[0], mine[1])
                                  : make_uint4(mine[0], mine[1], other[0], other[1]);
                GC_STG16(dst + c, u);
            }
        }
    }
#else
    __trap(); /* code for a GPU before sm_80 (a build with CMAKE_CUDA_ARCHITECTURES below 80,
                 its PTX compiled at run time): loud rather than a silent wrong result */
#endif
}

template <typename T, int MT>
static void launch_tc(cudaStream_t st, unsigned grid, int nt, const void *x, int32_t C0,
                      const void *wt, const float *bias, void *y, int32_t H, int32_t W, int32_t K,
                      int relu, size_t tasks)
{
    const T *xt = (const T *)x, *w = (const T *)wt;
    T *yt = (T *)y;
    if (nt == 4) {
        GC_LAUNCH(grid, GC_BLOCK, st, op_first_conv_tc_kernel<T, 4, MT>)
        (xt, C0, w, bias, yt, H, W, K, relu, tasks);
    } else if (nt == 2) {
        GC_LAUNCH(grid, GC_BLOCK, st, op_first_conv_tc_kernel<T, 2, MT>)
        (xt, C0, w, bias, yt, H, W, K, relu, tasks);
    } else {
        GC_LAUNCH(grid, GC_BLOCK, st, op_first_conv_tc_kernel<T, 1, MT>)
        (xt, C0, w, bias, yt, H, W, K, relu, tasks);
    }
}

int gc_first_conv_tc_supported(gc_dtype t, int32_t cin, int32_t cout)
{
    return (t == GC_DT_BF16 || t == GC_DT_F16) && cin == 3 && cout > 0 && cout % 16 == 0;
}

size_t gc_first_conv_tc_weight_elems(int32_t cout)
{
    return (size_t)TC_KROWS * (size_t)cout;
}

void gc_first_conv_tc_weights_host(gc_dtype t, const float *w, const float *b, int32_t cout,
                                   float *wt, float *bias)
{
    memset(wt, 0, sizeof(float) * gc_first_conv_tc_weight_elems(cout));
    for (int32_t k = 0; k < cout; k++) {
        /* w (cout, 3, 3, 3): tap t = (ky * 3 + kx) * 3 + c; column k of wt (32 apart) holds
         * its 27 taps, then 5 zeros */
        for (int tap = 0; tap < TC_TAPS; tap++)
            wt[(size_t)k * TC_KROWS + tap] = w[(size_t)k * TC_TAPS + tap];
        /* the bias rounded to t and back, as cuDNN's bias tensor and first_conv.cu's are (the
         * weights are rounded where they go up in t) */
        const float v = b ? b[k] : 0.0f;
        bias[k] = tc_rounded(t, v);
    }
}

gc_status gc_first_conv_tc_cuda(cudaStream_t st, gc_dtype t, const void *x, int32_t C0,
                                const void *wt, const float *bias, void *y, int32_t n, int32_t H,
                                int32_t W, int32_t K, int relu, gc_errbuf *err)
{
    if (!gc_first_conv_tc_supported(t, 3, K) || C0 < 3 ||
        ((uintptr_t)y | (uintptr_t)wt) % 32 != 0 || (uintptr_t)bias % 16 != 0 ||
        (C0 == 8 && (uintptr_t)x % 16 != 0))
        return gc_fail(err, GC_ERR_BACKEND,
                       "first conv tensor-core kernel: %d output channels (a multiple of 16) "
                       "from %d in %s, or unaligned buffers",
                       (int)K, (int)C0, tc_dtype_name(t));
    const int nt = K % 64 == 0 ? 4 : K % 32 == 0 ? 2 : 1; /* 16-wide tiles a warp */
    const int mt = W > TC_PIX ? 2 : 1;                    /* 16-pixel tiles a warp */
    const size_t tasks =
        (size_t)n * H * (size_t)((W + TC_PIX * mt - 1) / (TC_PIX * mt)) * (size_t)(K / (16 * nt));
    if (tasks == 0)
        return GC_OK;
    const unsigned grid = grid_for(tasks * 32);
    if (t == GC_DT_BF16 && mt == 2)
        launch_tc<__nv_bfloat16, 2>(st, grid, nt, x, C0, wt, bias, y, H, W, K, relu, tasks);
    else if (t == GC_DT_BF16)
        launch_tc<__nv_bfloat16, 1>(st, grid, nt, x, C0, wt, bias, y, H, W, K, relu, tasks);
    else if (mt == 2)
        launch_tc<__half, 2>(st, grid, nt, x, C0, wt, bias, y, H, W, K, relu, tasks);
    else
        launch_tc<__half, 1>(st, grid, nt, x, C0, wt, bias, y, H, W, K, relu, tasks);
    LAUNCH_CHECK(err);
    return GC_OK;
}
