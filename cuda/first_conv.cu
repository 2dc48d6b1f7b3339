/*
 * first_conv.cu — the network's first convolution (3x3, stride 1, padding 1, on the image's
 * three channels) with its bias and ReLU, on the CUDA cores: gc_first_conv_cuda.
 *
 * Why: three input channels make a GEMM whose reduction is 27 long (72 with the input padded
 * to 8 channels for the tensor-core engines), and the layer's cost is writing its output (64
 * channels per pixel), not its FLOPs. Float FMAs do the 27 taps with every output written
 * once, 16-byte stores. Measured on an H100 (VGG16 block1_conv1, batch 256, 2026-11-27;
 * docs/device-runs/2026-11-27-h100): true fp32 2.67 ms, where cuDNN's non-tensor-core engines
 * took 6.03 ms unfused and 4.36 fused, so the backend takes it there by default; bf16 2.13
 * ms, where cuDNN's tensor-core engine takes 2.02 (both ~4x the memory floor of 0.55 ms: the
 * FMAs, 22 G per batch, run at a third of the fp32 peak here). GC_FIRST_CONV=ours|cudnn
 * (cuda/backend_create.cu) overrides the choice.
 *
 * Each thread computes FC_PIX neighbouring pixels of one output row times FC_CH output
 * channels (16 in fp32, 8 in fp16/bf16 or where the layer's outputs are not a multiple of
 * 16) in float accumulators. The K
 * / FC_CH threads of one pixel group are neighbours in the warp, so together they write each
 * pixel's channels as one contiguous run, and they read the same input pixels (one load serves them
 * all). The weights come as (27, K) floats, tap (ky, kx, c) major, already rounded to the element
 * type as cuDNN's would be, then the K biases (rounded likewise): a thread reads its FC_CH weights
 * of a tap as four float4.
 *
 * Numerics: the taps summed in (ky, kx, c) order in float (nvcc contracts each step into an
 * FMA; the emulated build on the host does not: both are within float rounding of the exact
 * sum, which is what kernels_{emu,gpu} check), the bias added, ReLU, one rounding to T. No
 * tensor cores, no transform: the true-fp32 mode's rules hold, and the result does not
 * depend on scheduling.
 */
#include <string.h>

#include "device_common.cuh"
#include "gc_math.h"

#define FC_PIX 4
#define FC_TAPS 27

/* 16 channels a thread: two blocks per SM, 128 registers (162 unbounded, which left one
 * block of 8 warps per SM to hide the loads' latency; ptxas spills 16 bytes for it). 8: three
 * blocks, 80 registers (spilling 8 bytes; with four, 64 registers, it spilled 200). */
template <typename T, int FC_CH>
static __global__ void __launch_bounds__(GC_BLOCK, FC_CH == 8 ? 3 : 2)
    op_first_conv_kernel(const T *x, int32_t C0, const float *wb, T *y, int32_t H, int32_t W,
                         int32_t K, int relu, size_t len)
{
    const int32_t G = K / FC_CH, PG = (W + FC_PIX - 1) / FC_PIX;
    GRID_STRIDE(t, len)
    {
        const int32_t cg = (int32_t)(t % (size_t)G);
        const size_t pg = t / (size_t)G;
        const int32_t x0 = (int32_t)(pg % (size_t)PG) * FC_PIX;
        const size_t row = pg / (size_t)PG; /* image * H + output row */
        const int32_t oy = (int32_t)(row % (size_t)H);
        const float *wt = wb + (size_t)cg * FC_CH;
        float acc[FC_PIX][FC_CH];
        for (int p = 0; p < FC_PIX; p++)
            for (int k = 0; k < FC_CH; k++)
                acc[p][k] = 0.0f;
        for (int ky = 0; ky < 3; ky++) {
            const int32_t iy = oy + ky - 1;
            if (iy < 0 || iy >= H)
                continue; /* zero padding: no terms */
            const T *src = x + (row + (size_t)ky - 1) * (size_t)W * (size_t)C0;
            float in[FC_PIX + 2][3];
            for (int j = 0; j < FC_PIX + 2; j++) {
                const int32_t ix = x0 - 1 + j;
                const bool inside = ix >= 0 && ix < W;
                for (int c = 0; c < 3; c++)
                    in[j][c] = inside ? ld(src[(size_t)ix * C0 + c]) : 0.0f;
            }
            for (int kx = 0; kx < 3; kx++) {
                for (int c = 0; c < 3; c++) {
                    const float4 *w4 = (const float4 *)(wt + (size_t)((ky * 3 + kx) * 3 + c) * K);
                    float w[FC_CH];
                    for (int q = 0; q < FC_CH / 4; q++) {
                        const float4 v = w4[q];
                        w[4 * q] = v.x, w[4 * q + 1] = v.y, w[4 * q + 2] = v.z, w[4 * q + 3] = v.w;
                    }
                    for (int p = 0; p < FC_PIX; p++) {
                        const float v = in[p + kx][c];
                        for (int k = 0; k < FC_CH; k++)
                            acc[p][k] += v * w[k];
                    }
                }
            }
        }
        const float *bias = wb + (size_t)FC_TAPS * K + (size_t)cg * FC_CH;
        constexpr int per = 16 / (int)sizeof(T); /* elements in a 16-byte store */
        for (int p = 0; p < FC_PIX && x0 + p < W; p++) {
            uint4 *dst = (uint4 *)(y + ((row * (size_t)W + (size_t)(x0 + p)) * (size_t)K +
                                        (size_t)cg * FC_CH));
            for (int v = 0; v < FC_CH / per; v++) {
                T out[per];
                for (int e = 0; e < per; e++) {
                    const float s = acc[p][v * per + e] + bias[v * per + e];
                    put(&out[e], relu ? gc_relu(s) : s);
                }
                uint4 u;
                memcpy(&u, out, sizeof u);
                dst[v] = u;
            }
        }
    }
}

int gc_first_conv_supported(int32_t cin, int32_t cout)
{
    return cin == 3 && cout > 0 && cout % 8 == 0;
}

size_t gc_first_conv_weight_floats(int32_t cout)
{
    return (size_t)(FC_TAPS + 1) * (size_t)cout;
}

void gc_first_conv_weights_host(gc_dtype t, const float *w, const float *b, int32_t cout, float *wb)
{
    for (int32_t k = 0; k < cout; k++) {
        for (int tap = 0; tap < FC_TAPS; tap++) /* w (cout, 3, 3, 3): tap = (ky * 3 + kx) * 3 + c */
            wb[(size_t)tap * cout + k] = w[(size_t)k * FC_TAPS + tap];
        wb[(size_t)FC_TAPS * cout + k] = b ? b[k] : 0.0f;
    }
    /* rounded to the element type and back: the weights the conv would see in t */
    const size_t n = gc_first_conv_weight_floats(cout);
    if (t == GC_DT_F16) {
        for (size_t i = 0; i < n; i++)
            wb[i] = __half2float(__float2half_rn(wb[i]));
    } else if (t == GC_DT_BF16) {
        for (size_t i = 0; i < n; i++)
            wb[i] = __bfloat162float(__float2bfloat16_rn(wb[i]));
    }
}

gc_status gc_first_conv_cuda(cudaStream_t st, gc_dtype t, const void *x, int32_t C0,
                             const float *wb, void *y, int32_t n, int32_t H, int32_t W, int32_t K,
                             int relu, gc_errbuf *err)
{
    if (!gc_first_conv_supported(3, K) || C0 < 3 || ((uintptr_t)y | (uintptr_t)wb) % 16 != 0)
        return gc_fail(err, GC_ERR_BACKEND,
                       "first conv kernel: %d output channels from %d, or unaligned buffers",
                       (int)K, (int)C0);
    /* output channels a thread: 16 in fp32, as measured on the H100 (2.67 ms for VGG16's
     * block1_conv1 at batch 256); 8 in fp16/bf16, one 16-byte store a pixel, the 8 threads of
     * a pixel writing its 128-byte line whole in one instruction (at 16 a thread, two stores of
     * half of every 32-byte sector each: 2.13 ms in bf16, where cuDNN takes 2.02; 8 is not
     * measured yet: GC_FIRST_CONV=ours, device-bench step 2d); 8 wherever K is not a multiple
     * of 16 */
    const int ch = t == GC_DT_F32 && K % 16 == 0 ? 16 : 8;
    const size_t len = (size_t)n * H * (size_t)((W + FC_PIX - 1) / FC_PIX) * (size_t)(K / ch);
    if (len == 0)
        return GC_OK;
    if (ch == 16) { /* fp32 only */
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_first_conv_kernel<float, 16>)
        ((const float *)x, C0, wb, (float *)y, H, W, K, relu, len);
    } else {
        DISPATCH_DT(t, T,
                    GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_first_conv_kernel<T, 8>)(
                        (const T *)x, C0, wb, (T *)y, H, W, K, relu, len));
    }
    LAUNCH_CHECK(err);
    return GC_OK;
}
