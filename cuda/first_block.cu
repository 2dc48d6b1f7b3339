/*
 * first_block.cu — the network's first block in one kernel, in fp16/bf16: conv 3x3 on the
 * image's three channels, bias, ReLU; conv 3x3 on its K channels, bias, ReLU; 2x2 max-pool
 * (gc_first_block_cuda). Both convs on the tensor cores (wmma m16n16k16, float accumulators).
 *
 * Why: VGG16's block1 at batch 256 in bf16 took 4.81 ms of a 16.0 ms batch on the H100
 * (block1_conv1 2.12, block1_conv2 2.02, block1_pool 0.67; 2026-11-27) while its arithmetic
 * is 0.99 TFLOP, ~1 ms at the dense peak: the three layers write and read 224x224x64 maps
 * (6.4 MB an image in bf16) three times. Here the first conv's 64 channels never leave
 * shared memory and the block writes only the pooled map (a quarter of one). NOT YET RUN ON
 * A GPU: opt-in (GC_FIRST_BLOCK=fused) until the device bench (step 1b) has timed it and the
 * GPU tests (kernels_gpu, gpu_features_first_block_*) have checked it.
 *
 * One block (8 warps, 1 a multiprocessor: ~190 KB of shared memory at K = 64) keeps both
 * convs' weights in shared memory and walks tiles of 32 x 16 second-conv outputs (16 x 8
 * pooled), image after image (a persistent grid, one block a multiprocessor):
 *   1. the first conv over the tile's halo, 34 x 18 pixels (its outputs outside the image are
 *      the second conv's zero padding), in 39 strips of 16 pixels spread over the warps: per
 *      strip a 16 x 32 matrix of the 27 taps and 5 zeros (as first_conv_tc.cu), times the
 *      32 x K weights, bias, ReLU, one rounding to T, into the halo: K / 16 planes of
 *      16 channels, a pixel's 16 channels 32 bytes (so 16 neighbouring pixels are a wmma tile
 *      whose rows are 32 bytes apart, 32-byte aligned as the PTX ISA asks);
 *   2. the second conv as an implicit GEMM: warp w takes tile rows 4w .. 4w + 3 (64 pixels)
 *      times all K outputs, 9 taps x K / 16 steps of 16 channels, each step 4 A tiles straight
 *      from the halo (the tap's shifted window: no im2col copy) and K / 16 weight tiles
 *      (pre-tiled on the host: each 16 x 16 tile's 512 bytes together);
 *   3. per pair of rows and 16 channels the accumulators go to the warp's scratch, the 2x2
 *      maximum is taken on them, then bias, ReLU and one rounding (max commutes with those,
 *      all monotone: the same value as rounding first and pooling the rounded map), and each
 *      lane writes 4 channels of one pooled pixel.
 * K = 8 (the test models' first block) runs as 16 whose other 8 channels have zero weights
 * and biases (zeros through both convs) and are not written.
 * Numerics: as cuDNN's path (conv, bias, ReLU, rounding; again; max-pool) up to the float
 * summation order of each conv: kernels_{emu,gpu} check it against the CPU's convs and pool.
 *
 * Under GC_CUDA_EMULATE (tests/emu) every emulated thread does the whole block's shares of
 * steps 1 and the weights' copy (wmma_common.cuh), its warp's whole tiles in step 2 and its
 * own lane's share of step 3: the same memory as the GPU's threads together.
 */
#include "gc_math.h"
#include "wmma_common.cuh"
#ifdef GC_CUDA_EMULATE
#include <chrono>
#endif

#define FB_TH 32                      /* second-conv output rows of a tile                 */
#define FB_TW 16                      /* ... and columns: one wmma tile a row               */
#define FB_HW (FB_TW + 2)             /* the halo's width (first-conv outputs)              */
#define FB_HALO ((FB_TH + 2) * FB_HW) /* its pixels: 612                                   */
#define FB_STRIPS ((FB_HALO + 15) / 16)
#define FB_HPIX (FB_STRIPS * 16) /* halo pixels stored, the last strip's tail included */
#define FB_WARPS 8               /* 4 tile rows each                                    */
#define FB_THREADS (32 * FB_WARPS)
#define FB_LD 24 /* floats between two rows of the warp's scratch (96 bytes)          */
#define FB_SCRATCH (32 * FB_LD)      /* floats of a warp's scratch: 32 rows of 16 channels */
#define FB_KROWS 32                  /* the first conv's 27 taps and 5 zeros              */
#define FB_WX (FB_TW + 4)            /* the input window the halo reads: 20 pixels wide, */
#define FB_WIN ((FB_TH + 4) * FB_WX) /* 36 rows: 720 pixels of 4 channels (8 bytes),  */
                                     /* two of them: the next tile's comes in meanwhile */

/* 16-channel groups of K channels (8 channels take one, the other 8 zeros) */
static int fb_groups(int32_t K)
{
    return (K + 15) / 16;
}

/* Elements of T of the two convs' weights, in gc_first_block_weights_host's layout: the
 * second conv's 9 x groups^2 tiles of 256, then the first conv's (16 groups) x 32 */
static size_t fb_weight_elems(int32_t K)
{
    const size_t nc = (size_t)fb_groups(K);
    return 9 * nc * nc * 256 + 16 * nc * FB_KROWS;
}

/* Shared memory of a block: weights, halo, the warps' scratch, the two biases, the input
 * window */
static size_t fb_smem_bytes(int32_t K, size_t es)
{
    const size_t nc = (size_t)fb_groups(K);
    return fb_weight_elems(K) * es + nc * FB_HPIX * 16 * es +
           sizeof(float) * ((size_t)FB_WARPS * FB_SCRATCH + 2 * 16 * nc) + 2 * FB_WIN * 4 * es;
}

#ifdef GC_CUDA_EMULATE
#define FB_SMEM_MAX (227 << 10)
/* the block's shared memory: one per host thread (the emulated blocks run one by one) */
static unsigned char *fb_shared(void)
{
    alignas(128) static thread_local unsigned char buf[FB_SMEM_MAX];
    return buf;
}
#else
static __device__ __forceinline__ unsigned char *fb_shared(void)
{
    extern __shared__ __align__(128) unsigned char fb_dynamic[];
    return fb_dynamic;
}
#endif

/* The multiprocessor's cycle counter (the emulated device: the host's nanoseconds), for the
 * profiled runs' phase account (gc_first_block_cuda's clocks) */
static __device__ __forceinline__ unsigned long long fb_clock(void)
{
#ifdef GC_CUDA_EMULATE
    return (unsigned long long)std::chrono::steady_clock::now().time_since_epoch().count();
#else
    return (unsigned long long)clock64();
#endif
}

static __device__ __forceinline__ void fb_clock_add(unsigned long long *to, unsigned long long v)
{
#ifdef GC_CUDA_EMULATE
    *to += v; /* the emulated threads run one after another */
#else
    atomicAdd(to, v);
#endif
}

/* Where tile `tile` starts: its image and its first second-conv output row and column */
static __device__ __forceinline__ void fb_tile_at(size_t tile, int32_t tiles_y, int32_t tiles_x,
                                                  size_t *img, int32_t *oy0, int32_t *ox0)
{
    const size_t rest = tile / (size_t)tiles_x;
    *ox0 = (int32_t)(tile % (size_t)tiles_x) * FB_TW;
    *oy0 = (int32_t)(rest % (size_t)tiles_y) * FB_TH;
    *img = rest / (size_t)tiles_y;
}

/* The input tile `tile` reads (input pixels oy0 - 2 .. + 33, ox0 - 2 .. + 17, channels 0..3:
 * 8 bytes of the backend's 8-channel packing, whose fourth channel is never read), zeros
 * outside the image, into the window win. From the 8-channel packing on sm_80+ the copies
 * are asynchronous (cp.async, zero-filled outside the image): fb_window_wait, then a
 * barrier, before the window is read. */
template <typename T>
static __device__ __forceinline__ void fb_stage_window(const T *x, int32_t C0, int32_t H, int32_t W,
                                                       size_t tile, int32_t tiles_y,
                                                       int32_t tiles_x, T *win)
{
    size_t img;
    int32_t oy0, ox0;
    fb_tile_at(tile, tiles_y, tiles_x, &img, &oy0, &ox0);
    const T *xi = x + img * (size_t)H * W * C0;
    GC_BLOCK_SHARE(i, FB_WIN)
    {
        const int32_t iy = oy0 - 2 + (int32_t)(i / FB_WX), ix = ox0 - 2 + (int32_t)(i % FB_WX);
        const int inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
        const T *src = inside ? xi + ((size_t)iy * W + (size_t)ix) * C0 : xi;
#if !defined(GC_CUDA_EMULATE) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        if (C0 == 8) {
            asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(
                             (unsigned)__cvta_generic_to_shared(win + i * 4)),
                         "l"(__cvta_generic_to_global(src)), "r"(inside ? 8 : 0)
                         : "memory");
            continue;
        }
#endif
        uint2 u = make_uint2(0, 0);
        if (inside && C0 == 8) {
            u = *(const uint2 *)src;
        } else if (inside) {
            u.x = bits16(src[0]) | bits16(src[1]) << 16;
            u.y = bits16(src[2]);
        }
        GC_STORE8(win + i * 4, u);
    }
}

/* This thread's asynchronous window copies landed (a barrier then shows them to all) */
static __device__ __forceinline__ void fb_window_wait(void)
{
#if !defined(GC_CUDA_EMULATE) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

/* Step 1 for strip `strip` of the halo of the tile at (oy0, ox0) of an H x W image: the
 * warp's A rows (16 pixels x 32 taps) from the window, times the first conv's weights, bias,
 * ReLU, one rounding, zeros outside the image, into the halo's planes */
template <typename T, int NC>
static __device__ __forceinline__ void
fb_first_conv_strip(const T *win, int32_t H, int32_t W, int32_t oy0, int32_t ox0, int strip,
                    int lane, const T *w1, const float *b1, T *halo, float *scr, T *arows)
{
    using namespace nvcuda;
    (void)lane; /* the emulated build's lane shares take every lane */
    const int p0 = strip * 16;
    /* slot i: half h of row r (taps 16 h .. 16 h + 15) as two 16-byte stores */
    GC_LANE_SHARE(i, lane, 32)
    {
        const int r = i >> 1, h = i & 1, p = p0 + r;
        /* halo pixel (hy, hx)'s tap (ky, kx) reads window pixel (hy + ky, hx + kx) */
        const T *at = win + ((p / FB_HW) * FB_WX + p % FB_HW) * 4;
        uint32_t w8[8];
        for (int j = 0; j < 16; j++) {
            const int t = 16 * h + j;
            const uint32_t b = t < 27 && p < FB_HALO
                                   ? staged_bits(at + ((t / 9) * FB_WX + t / 3 % 3) * 4 + t % 3)
                                   : 0u;
            w8[j / 2] = j % 2 ? w8[j / 2] | b << 16 : b;
        }
        const uint4 lo = make_uint4(w8[0], w8[1], w8[2], w8[3]),
                    hi = make_uint4(w8[4], w8[5], w8[6], w8[7]);
        T *dst = arows + (size_t)r * FB_KROWS + 16 * h;
        GC_STORE16(dst, lo);
        GC_STORE16(dst + 8, hi);
    }
    GC_SYNCWARP();
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[NC];
    GC_UNROLL
    for (int nc = 0; nc < NC; nc++)
        wmma::fill_fragment(acc[nc], 0.0f);
    GC_UNROLL
    for (int kh = 0; kh < FB_KROWS / 16; kh++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        load_shared(a, arows + kh * 16, FB_KROWS);
        GC_UNROLL
        for (int nc = 0; nc < NC; nc++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
            load_shared(b, w1 + (size_t)nc * 16 * FB_KROWS + kh * 16, FB_KROWS);
            wmma::mma_sync(acc[nc], a, b, acc[nc]);
        }
    }
    GC_UNROLL
    for (int nc = 0; nc < NC; nc++) {
        GC_SYNCWARP(); /* the lanes are done reading the scratch (the last plane's values) */
        wmma::store_matrix_sync(scr, acc[nc], FB_LD, wmma::mem_row_major);
        GC_SYNCWARP();
        /* slot i: 8 channels (half h of the plane) of pixel p0 + r, one 16-byte store */
        GC_LANE_SHARE(i, lane, 32)
        {
            const int r = i >> 1, h = i & 1, p = p0 + r;
            const int32_t cy = oy0 - 1 + p / FB_HW, cx = ox0 - 1 + p % FB_HW;
            const int inside = p < FB_HALO && cy >= 0 && cy < H && cx >= 0 && cx < W;
            const float *s = scr + r * FB_LD + 8 * h;
            const float *b = b1 + nc * 16 + 8 * h;
            uint32_t w[4] = {0, 0, 0, 0};
            if (inside) {
                float4 v0, v1;
                GC_LDS4(v0, s);
                GC_LDS4(v1, s + 4);
                pack_four_values<T>(v0, make_float4(b[0], b[1], b[2], b[3]), 1, w);
                pack_four_values<T>(v1, make_float4(b[4], b[5], b[6], b[7]), 1, w + 2);
            }
            const uint4 u = make_uint4(w[0], w[1], w[2], w[3]);
            GC_STORE16(halo + ((size_t)nc * FB_HPIX + (size_t)p) * 16 + 8 * h, u);
        }
    }
}

/* The larger of a and b as the pool kernels compare */
static __device__ __forceinline__ float fb_max(float a, float b)
{
    return a > b ? a : b;
}

/* CLOCKS (profiled runs only, gc_first_block_cuda's clocks): each warp's cycles in each
 * phase (GC_FB_PHASES, gc_first_block_phase_name), summed over the warps into clocks; the
 * plain kernel has none of it. FB_LAP(k): the cycles since the last lap go to phase k. */
#define FB_LAP(k)                                                                                  \
    do {                                                                                           \
        if (CLOCKS) {                                                                              \
            const unsigned long long now_ = fb_clock();                                            \
            ph[k] += now_ - lap;                                                                   \
            lap = now_;                                                                            \
        }                                                                                          \
    } while (0)

template <typename T, int NC, bool CLOCKS>
static __global__ void __launch_bounds__(FB_THREADS, 1)
    op_first_block_kernel(const T *x, int32_t C0, const T *wt, const float *bias, T *y, int32_t H,
                          int32_t W, int32_t K, size_t tiles, int32_t tiles_y, int32_t tiles_x,
                          unsigned long long *clocks)
{
#ifdef TC_HAVE
    using namespace nvcuda;
    unsigned long long ph[GC_FB_PHASES] = {0}, lap = CLOCKS ? fb_clock() : 0;
    constexpr int KP = 16 * NC; /* K, or 16 where K is 8 (its other 8 channels zeros) */
    constexpr size_t W2 = (size_t)9 * NC * NC * 256, W1 = (size_t)KP * FB_KROWS;
    unsigned char *const sm = fb_shared();
    T *const w2 = (T *)sm, *const w1 = w2 + W2, *const halo = w1 + W1;
    float *const scratch = (float *)(halo + (size_t)NC * FB_HPIX * 16);
    float *const b1 = scratch + FB_WARPS * FB_SCRATCH, *const b2 = b1 + KP;
    T *const win0 = (T *)(b2 + KP); /* two windows, FB_WIN * 4 elements apart */
    const int warp = (int)(threadIdx.x >> 5), lane = (int)(threadIdx.x & 31);
    float *const scr = scratch + warp * FB_SCRATCH;
    T *const arows = (T *)(scr + 16 * FB_LD); /* step 1's A rows after 16 rows of floats */

    /* the weights (16-byte copies: their sizes are multiples of 512 bytes) and biases */
    GC_BLOCK_SHARE(i, (W2 + W1) * sizeof(T) / 16)
    {
        const uint4 u = ((const uint4 *)wt)[i];
        GC_STORE16(sm + 16 * i, u);
    }
    GC_BLOCK_SHARE(i, 2 * KP)
    {
        b1[i] = bias[i];
    }
    const int32_t PH = H / 2, PW = W / 2;
    if (blockIdx.x < tiles)
        fb_stage_window(x, C0, H, W, blockIdx.x, tiles_y, tiles_x, win0);
    FB_LAP(0);
    int cur = 0; /* the window of this tile; the other takes the next tile's */
    for (size_t tile = blockIdx.x; tile < tiles; tile += gridDim.x, cur ^= 1) {
        size_t img;
        int32_t oy0, ox0;
        fb_tile_at(tile, tiles_y, tiles_x, &img, &oy0, &ox0);
        fb_window_wait();
        GC_SYNCTHREADS(); /* the weights and window are in; the last step 2 read the halo */
        FB_LAP(1);
        GC_WARP_SHARE(strip, warp, FB_WARPS, FB_STRIPS)
        {
            fb_first_conv_strip<T, NC>(win0 + cur * FB_WIN * 4, H, W, oy0, ox0, strip, lane, w1, b1,
                                       halo, scr, arows);
        }
        FB_LAP(2);
        GC_SYNCTHREADS(); /* the halo is whole; the other window's last reader (the last
                             tile's step 1) is done: the next tile's input comes in under step 2 */
        if (tile + gridDim.x < tiles)
            fb_stage_window(x, C0, H, W, tile + gridDim.x, tiles_y, tiles_x,
                            win0 + (cur ^ 1) * FB_WIN * 4);
        FB_LAP(3);

        /* 2: rows 4 warp + m (m < 4) times KP outputs over 9 taps x NC steps of 16 inputs */
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][NC];
        GC_UNROLL
        for (int m = 0; m < 4; m++) {
            GC_UNROLL
            for (int nc = 0; nc < NC; nc++)
                wmma::fill_fragment(acc[m][nc], 0.0f);
        }
        for (int tap = 0; tap < 9; tap++) {
            const int dy = tap / 3, dx = tap % 3;
            GC_UNROLL
            for (int kc = 0; kc < NC; kc++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[4];
                const T *plane = halo + (size_t)kc * FB_HPIX * 16;
                GC_UNROLL
                for (int m = 0; m < 4; m++)
                    load_shared(a[m], plane + (size_t)((4 * warp + m + dy) * FB_HW + dx) * 16, 16);
                const T *wk = w2 + (size_t)(tap * NC + kc) * NC * 256;
                GC_UNROLL
                for (int nc = 0; nc < NC; nc++) {
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
                    load_shared(b, wk + (size_t)nc * 256, 16);
                    GC_UNROLL
                    for (int m = 0; m < 4; m++)
                        wmma::mma_sync(acc[m][nc], a[m], b, acc[m][nc]);
                }
            }
        }

        FB_LAP(4);

        /* 3: per pair of rows and 16 channels: 2x2 maximum, bias, ReLU, one rounding; lane:
         * pooled pixel lane / 4 of the 8, channels 4 (lane % 4) .. + 3 of the 16 */
        const int q = lane >> 2, g = lane & 3;
        const int32_t px = ox0 / 2 + q;
        GC_UNROLL
        for (int j = 0; j < 2; j++) {
            const int32_t py = oy0 / 2 + 2 * warp + j;
            GC_UNROLL
            for (int nc = 0; nc < NC; nc++) {
                GC_SYNCWARP(); /* the lanes are done reading the scratch */
                wmma::store_matrix_sync(scr, acc[2 * j][nc], FB_LD, wmma::mem_row_major);
                wmma::store_matrix_sync(scr + 16 * FB_LD, acc[2 * j + 1][nc], FB_LD,
                                        wmma::mem_row_major);
                GC_SYNCWARP();
                if (py >= PH || px >= PW || nc * 16 + 4 * g >= K)
                    continue;
                float4 v[4];
                GC_LDS4(v[0], scr + (2 * q) * FB_LD + 4 * g);
                GC_LDS4(v[1], scr + (2 * q + 1) * FB_LD + 4 * g);
                GC_LDS4(v[2], scr + (16 + 2 * q) * FB_LD + 4 * g);
                GC_LDS4(v[3], scr + (16 + 2 * q + 1) * FB_LD + 4 * g);
                /* the pool kernels' comparisons, in their order */
                const float4 mx =
                    make_float4(fb_max(fb_max(v[0].x, v[1].x), fb_max(v[2].x, v[3].x)),
                                fb_max(fb_max(v[0].y, v[1].y), fb_max(v[2].y, v[3].y)),
                                fb_max(fb_max(v[0].z, v[1].z), fb_max(v[2].z, v[3].z)),
                                fb_max(fb_max(v[0].w, v[1].w), fb_max(v[2].w, v[3].w)));
                const float *b = b2 + nc * 16 + 4 * g;
                uint32_t w[2];
                pack_four_values<T>(mx, make_float4(b[0], b[1], b[2], b[3]), 1, w);
                const uint2 u = make_uint2(w[0], w[1]);
                GC_STG8(y + ((img * (size_t)PH + (size_t)py) * (size_t)PW + (size_t)px) * K +
                            nc * 16 + 4 * g,
                        u);
            }
        }
        FB_LAP(5);
    }
    if (CLOCKS && lane == 0)
        for (int k = 0; k < GC_FB_PHASES; k++)
            fb_clock_add(clocks + k, ph[k]);
#else
    __trap(); /* code for a GPU before sm_80: loud rather than a silent wrong result */
#endif
}
#undef FB_LAP

const char *gc_first_block_phase_name(int phase)
{
    static const char *const names[GC_FB_PHASES] = {"weights and the first window",
                                                    "window wait and barrier",
                                                    "first conv",
                                                    "barrier after the first conv",
                                                    "second conv",
                                                    "pool, bias, ReLU, stores"};
    return phase >= 0 && phase < GC_FB_PHASES ? names[phase] : NULL;
}

int gc_first_block_supported(gc_dtype t, int32_t cin, int32_t k1, int32_t k2)
{
    return (t == GC_DT_BF16 || t == GC_DT_F16) && cin == 3 && k1 == k2 &&
           (k1 == 8 || k1 == 16 || k1 == 32 || k1 == 64);
}

size_t gc_first_block_weight_elems(int32_t K)
{
    return fb_weight_elems(K);
}

size_t gc_first_block_smem_bytes(gc_dtype t, int32_t K)
{
    return fb_smem_bytes(K, gc_dtype_size(t));
}

size_t gc_first_block_bias_floats(int32_t K)
{
    return 2 * 16 * (size_t)fb_groups(K);
}

void gc_first_block_weights_host(gc_dtype t, const float *w1, const float *b1, const float *w2,
                                 const float *b2, int32_t K, float *wt, float *bias)
{
    const int32_t nc = fb_groups(K);
    memset(wt, 0, sizeof(float) * fb_weight_elems(K));
    memset(bias, 0, sizeof(float) * gc_first_block_bias_floats(K));
    /* the second conv, w2 (K, 3, 3, K): tile (tap, kc, nc) holds inputs kc * 16 + k and
     * outputs nc * 16 + o at o * 16 + k (column-major: an output's 16 inputs together) */
    for (int32_t tap = 0; tap < 9; tap++)
        for (int32_t kc = 0; kc < nc; kc++)
            for (int32_t oc = 0; oc < nc; oc++)
                for (int32_t o = 0; o < 16; o++)
                    for (int32_t k = 0; k < 16; k++)
                        if (oc * 16 + o < K && kc * 16 + k < K)
                            wt[((size_t)(tap * nc + kc) * nc + oc) * 256 + (size_t)o * 16 + k] =
                                w2[((size_t)(oc * 16 + o) * 9 + tap) * K + kc * 16 + k];
    /* the first conv, w1 (K, 3, 3, 3): column o (32 apart) holds its 27 taps, then zeros */
    float *first = wt + (size_t)9 * nc * nc * 256;
    for (int32_t o = 0; o < K; o++)
        for (int32_t tap = 0; tap < 27; tap++)
            first[(size_t)o * FB_KROWS + tap] = w1[(size_t)o * 27 + tap];
    /* the biases rounded to t and back, as cuDNN's bias tensors are: the first conv's
     * (16 groups, zeros past K), then the second's */
    for (int32_t o = 0; o < K; o++)
        for (int c = 0; c < 2; c++) {
            const float *b = c ? b2 : b1;
            const float v = b ? b[o] : 0.0f;
            bias[(size_t)c * 16 * nc + o] = tc_rounded(t, v);
        }
}

/* The kernel for (T, NC, CLOCKS) */
template <typename T, bool CLOCKS> static const void *fb_kernel(int nc)
{
    return nc == 4   ? (const void *)op_first_block_kernel<T, 4, CLOCKS>
           : nc == 2 ? (const void *)op_first_block_kernel<T, 2, CLOCKS>
                     : (const void *)op_first_block_kernel<T, 1, CLOCKS>;
}

gc_status gc_first_block_prepare(int device, gc_dtype t, int32_t K, int *blocks, gc_errbuf *err)
{
    const size_t bytes = fb_smem_bytes(K, gc_dtype_size(t));
    cudaDeviceProp prop;
    GC_CUDA_TRY(err, cudaGetDeviceProperties(&prop, device));
    if (prop.major < 8 || prop.sharedMemPerBlockOptin < bytes)
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "fused first block: %zu bytes of shared memory a block wanted, the "
                       "device (sm_%d%d) allows %zu",
                       bytes, prop.major, prop.minor, (size_t)prop.sharedMemPerBlockOptin);
#ifndef GC_CUDA_EMULATE
    const int nc = fb_groups(K);
    const void *k =
        t == GC_DT_BF16 ? fb_kernel<__nv_bfloat16, false>(nc) : fb_kernel<__half, false>(nc);
    const void *kc = t == GC_DT_BF16 ? fb_kernel<__nv_bfloat16, true>(nc)
                                     : fb_kernel<__half, true>(nc); /* profiled runs' */
    GC_CUDA_TRY(err, cudaSetDevice(device)); /* the attribute is the current device's */
    GC_CUDA_TRY(err,
                cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    GC_CUDA_TRY(err,
                cudaFuncSetAttribute(kc, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    /* a block that cannot be resident (registers, a carveout) refused here, where the caller
       falls back to the layers one by one, not at the first batch */
    int resident = 0;
    GC_CUDA_TRY(err, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, k, FB_THREADS,
                                                                   bytes));
    if (resident < 1)
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "fused first block: no block of %d threads with %zu bytes of shared "
                       "memory fits a multiprocessor of this device",
                       FB_THREADS, bytes);
#else
    (void)fb_kernel<__half, false>;
    (void)fb_kernel<__nv_bfloat16, false>;
    (void)fb_kernel<__half, true>;
    (void)fb_kernel<__nv_bfloat16, true>;
#endif
    *blocks = prop.multiProcessorCount > 0 ? prop.multiProcessorCount : 1;
    return GC_OK;
}

template <typename T, bool CLOCKS>
static void launch_fb(cudaStream_t st, unsigned grid, size_t bytes, int nc, const void *x,
                      int32_t C0, const void *wt, const float *bias, void *y, int32_t H, int32_t W,
                      int32_t K, size_t tiles, int32_t tiles_y, int32_t tiles_x,
                      unsigned long long *clocks)
{
    const T *xt = (const T *)x, *w = (const T *)wt;
    T *yt = (T *)y;
    if (nc == 4) {
        GC_LAUNCH_SMEM(grid, FB_THREADS, bytes, st, op_first_block_kernel<T, 4, CLOCKS>)
        (xt, C0, w, bias, yt, H, W, K, tiles, tiles_y, tiles_x, clocks);
    } else if (nc == 2) {
        GC_LAUNCH_SMEM(grid, FB_THREADS, bytes, st, op_first_block_kernel<T, 2, CLOCKS>)
        (xt, C0, w, bias, yt, H, W, K, tiles, tiles_y, tiles_x, clocks);
    } else {
        GC_LAUNCH_SMEM(grid, FB_THREADS, bytes, st, op_first_block_kernel<T, 1, CLOCKS>)
        (xt, C0, w, bias, yt, H, W, K, tiles, tiles_y, tiles_x, clocks);
    }
}

gc_status gc_first_block_cuda(cudaStream_t st, gc_dtype t, const void *x, int32_t C0,
                              const void *wt, const float *bias, void *y, int32_t n, int32_t H,
                              int32_t W, int32_t K, int blocks, unsigned long long *clocks,
                              gc_errbuf *err)
{
    if (!gc_first_block_supported(t, 3, K, K) || C0 < 3 || blocks < 1 ||
        ((uintptr_t)wt % 16 != 0) || (uintptr_t)y % 8 != 0 || (C0 == 8 && (uintptr_t)x % 8 != 0))
        return gc_fail(err, GC_ERR_BACKEND,
                       "fused first block: %d channels (8, 16, 32 or 64) from %d in %s, or "
                       "unaligned buffers",
                       (int)K, (int)C0, tc_dtype_name(t));
    const int32_t tiles_y = (H + FB_TH - 1) / FB_TH, tiles_x = (W + FB_TW - 1) / FB_TW;
    const size_t tiles = (size_t)n * (size_t)tiles_y * (size_t)tiles_x;
    if (tiles == 0 || H < 2 || W < 2)
        return GC_OK; /* no pooled pixel */
    const unsigned grid = (unsigned)(tiles < (size_t)blocks ? tiles : (size_t)blocks);
    const size_t bytes = fb_smem_bytes(K, gc_dtype_size(t));
    const int nc = fb_groups(K);
    if (t == GC_DT_BF16 && clocks)
        launch_fb<__nv_bfloat16, true>(st, grid, bytes, nc, x, C0, wt, bias, y, H, W, K, tiles,
                                       tiles_y, tiles_x, clocks);
    else if (t == GC_DT_BF16)
        launch_fb<__nv_bfloat16, false>(st, grid, bytes, nc, x, C0, wt, bias, y, H, W, K, tiles,
                                        tiles_y, tiles_x, NULL);
    else if (clocks)
        launch_fb<__half, true>(st, grid, bytes, nc, x, C0, wt, bias, y, H, W, K, tiles, tiles_y,
                                tiles_x, clocks);
    else
        launch_fb<__half, false>(st, grid, bytes, nc, x, C0, wt, bias, y, H, W, K, tiles, tiles_y,
                                 tiles_x, NULL);
    LAUNCH_CHECK(err);
    return GC_OK;
}
