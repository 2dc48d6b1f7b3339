/*
 * kernels.cu — the CUDA backend's element-wise and pooling kernels (see kernels.cuh).
 * One thread per output element, grid-stride loops, gathers instead of scatters (no atomics:
 * results do not depend on scheduling). Naming: op_x_kernel -> gc_x_cuda.
 */
#include "gc_math.h"
#include "kernels.cuh"

#define GC_BLOCK 256

static unsigned grid_for(size_t len)
{
    size_t g = (len + GC_BLOCK - 1) / GC_BLOCK;
    if (g < 1)
        g = 1;
    return (unsigned)(g > ((size_t)1 << 20) ? ((size_t)1 << 20) : g);
}

#define GRID_STRIDE(i, len)                                                                    \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (len);                  \
         i += (size_t)gridDim.x * blockDim.x)

#define LAUNCH_CHECK(err) GC_CUDA_TRY(err, cudaGetLastError())

/* The (image, row, column, channel) of flat index e in an (n, H, W, C) NHWC tensor. */
struct nhwc_at {
    size_t i;
    int32_t y, x, c;
};
static __device__ __forceinline__ nhwc_at nhwc_split(size_t e, int32_t H, int32_t W, int32_t C)
{
    nhwc_at p;
    p.c = (int32_t)(e % C);
    size_t r = e / C;
    p.x = (int32_t)(r % W);
    r /= W;
    p.y = (int32_t)(r % H);
    p.i = r / H;
    return p;
}

/* ---------------------------------------------------------------- element-wise */

static __global__ void op_bias_act_kernel(float *y, const float *b, size_t len, int32_t C,
                                          int relu)
{
    GRID_STRIDE(i, len)
    {
        float v = y[i] + (b ? b[i % (size_t)C] : 0.0f);
        y[i] = relu && v < 0.0f ? 0.0f : v;
    }
}

gc_status gc_bias_act_cuda(cudaStream_t st, float *y, const float *b, size_t rows, int32_t C,
                           int relu, gc_errbuf *err)
{
    size_t len = rows * (size_t)C;
    op_bias_act_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(y, b, len, C, relu);
    LAUNCH_CHECK(err);
    return GC_OK;
}

static __global__ void op_relu_kernel(const float *x, float *y, size_t len)
{
    GRID_STRIDE(i, len)
    {
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

gc_status gc_relu_cuda(cudaStream_t st, const float *x, float *y, size_t len, gc_errbuf *err)
{
    op_relu_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(x, y, len);
    LAUNCH_CHECK(err);
    return GC_OK;
}

static __global__ void op_relu_mask_kernel(float *g, const float *act, size_t len)
{
    GRID_STRIDE(i, len)
    {
        g[i] = act[i] > 0.0f ? g[i] : 0.0f;
    }
}

gc_status gc_relu_mask_cuda(cudaStream_t st, float *g, const float *act, size_t len,
                            gc_errbuf *err)
{
    op_relu_mask_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(g, act, len);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- max-pool 2x2 */

static __global__ void op_maxpool_fwd_kernel(const float *in, int32_t n, int32_t H, int32_t W,
                                             int32_t C, float *out)
{
    const int32_t oh = H / 2, ow = W / 2;
    const size_t len = (size_t)n * oh * ow * C;
    GRID_STRIDE(o, len)
    {
        const nhwc_at at = nhwc_split(o, oh, ow, C);
        const size_t i = at.i;
        const int32_t y = at.y, x = at.x, c = at.c;
        const float *a = in + ((i * H + 2 * y) * W + 2 * x) * C + c;
        float v0 = a[0], v1 = a[C], v2 = a[(size_t)W * C], v3 = a[(size_t)W * C + C];
        float m0 = v0 > v1 ? v0 : v1, m1 = v2 > v3 ? v2 : v3;
        out[o] = m0 > m1 ? m0 : m1;
    }
}

gc_status gc_maxpool_fwd_cuda(cudaStream_t st, const float *in, int32_t n, int32_t H, int32_t W,
                              int32_t C, float *out, gc_errbuf *err)
{
    size_t len = (size_t)n * (H / 2) * (W / 2) * C;
    op_maxpool_fwd_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(in, n, H, W, C, out);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* Each input element takes its window's gradient when it is the window's first maximum in
 * (dy, dx) scan order, as PyTorch and the CPU backend; rows/columns beyond 2*(H/2) get 0. */
static __global__ void op_maxpool_bwd_kernel(const float *in, const float *g_out, int32_t n,
                                             int32_t H, int32_t W, int32_t C, float *g_in)
{
    const int32_t oh = H / 2, ow = W / 2;
    const size_t len = (size_t)n * H * W * C;
    GRID_STRIDE(e, len)
    {
        const nhwc_at at = nhwc_split(e, H, W, C);
        const size_t i = at.i;
        const int32_t y = at.y, x = at.x, c = at.c;
        int32_t py = y / 2, px = x / 2;
        float g = 0.0f;
        if (py < oh && px < ow) {
            size_t base = ((i * H + 2 * py) * W + 2 * px) * C + c;
            const size_t off[4] = {0, (size_t)C, (size_t)W * C, (size_t)W * C + C};
            int best = 0;
            for (int k = 1; k < 4; k++)
                if (in[base + off[k]] > in[base + off[best]])
                    best = k;
            if (best == (y & 1) * 2 + (x & 1))
                g = g_out[((i * oh + py) * ow + px) * C + c];
        }
        g_in[e] = g;
    }
}

gc_status gc_maxpool_bwd_cuda(cudaStream_t st, const float *in, const float *g_out, int32_t n,
                              int32_t H, int32_t W, int32_t C, float *g_in, gc_errbuf *err)
{
    size_t len = (size_t)n * H * W * C;
    op_maxpool_bwd_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(in, g_out, n, H, W, C, g_in);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- adaptive average pool */

static __global__ void op_avgpool_fwd_kernel(const float *in, int32_t n, int32_t H, int32_t W,
                                             int32_t C, int32_t oh, int32_t ow, float *out)
{
    const size_t len = (size_t)n * oh * ow * C;
    GRID_STRIDE(o, len)
    {
        const nhwc_at at = nhwc_split(o, oh, ow, C);
        const size_t i = at.i;
        const int32_t y = at.y, x = at.x, c = at.c;
        int32_t y0 = gc_adaptive_start(y, H, oh), y1 = gc_adaptive_end(y, H, oh);
        int32_t x0 = gc_adaptive_start(x, W, ow), x1 = gc_adaptive_end(x, W, ow);
        float acc = 0.0f;
        for (int32_t yy = y0; yy < y1; yy++)
            for (int32_t xx = x0; xx < x1; xx++)
                acc += in[((i * H + yy) * W + xx) * C + c];
        out[o] = acc / (float)((y1 - y0) * (x1 - x0));
    }
}

gc_status gc_avgpool_fwd_cuda(cudaStream_t st, const float *in, int32_t n, int32_t H, int32_t W,
                              int32_t C, int32_t oh, int32_t ow, float *out, gc_errbuf *err)
{
    size_t len = (size_t)n * oh * ow * C;
    op_avgpool_fwd_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(in, n, H, W, C, oh, ow, out);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* Gather: each input pixel sums g/cnt over the (possibly overlapping) windows holding it. */
static __global__ void op_avgpool_bwd_kernel(const float *g_out, int32_t n, int32_t H, int32_t W,
                                             int32_t C, int32_t oh, int32_t ow, float *g_in)
{
    const size_t len = (size_t)n * H * W * C;
    GRID_STRIDE(e, len)
    {
        const nhwc_at at = nhwc_split(e, H, W, C);
        const size_t i = at.i;
        const int32_t y = at.y, x = at.x, c = at.c;
        float acc = 0.0f;
        for (int32_t oy = 0; oy < oh; oy++) {
            int32_t y0 = gc_adaptive_start(oy, H, oh), y1 = gc_adaptive_end(oy, H, oh);
            if (y < y0 || y >= y1)
                continue;
            for (int32_t ox = 0; ox < ow; ox++) {
                int32_t x0 = gc_adaptive_start(ox, W, ow), x1 = gc_adaptive_end(ox, W, ow);
                if (x < x0 || x >= x1)
                    continue;
                float cnt = (float)((y1 - y0) * (x1 - x0));
                acc += g_out[((i * oh + oy) * ow + ox) * C + c] / cnt;
            }
        }
        g_in[e] = acc;
    }
}

gc_status gc_avgpool_bwd_cuda(cudaStream_t st, const float *g_out, int32_t n, int32_t H,
                              int32_t W, int32_t C, int32_t oh, int32_t ow, float *g_in,
                              gc_errbuf *err)
{
    size_t len = (size_t)n * H * W * C;
    op_avgpool_bwd_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(g_out, n, H, W, C, oh, ow, g_in);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- the head's patch layer */

static __global__ void op_patches_kernel(const float *in, int32_t n, int32_t ph, int32_t pw,
                                         int32_t C, int32_t k, float *col)
{
    const int32_t P = ph - k + 1, Q = pw - k + 1;
    const size_t kkc = (size_t)k * k * C, len = (size_t)n * P * Q * kkc;
    GRID_STRIDE(e, len)
    {
        size_t j = e % kkc, r = e / kkc;
        int32_t c = (int32_t)(j % C);
        int32_t kx = (int32_t)((j / C) % k), ky = (int32_t)(j / C / k);
        int32_t px = (int32_t)(r % Q), py = (int32_t)((r / Q) % P);
        size_t i = r / Q / P;
        col[e] = in[((i * ph + py + ky) * pw + px + kx) * C + c];
    }
}

gc_status gc_patches_cuda(cudaStream_t st, const float *in, int32_t n, int32_t ph, int32_t pw,
                          int32_t C, int32_t k, float *col, gc_errbuf *err)
{
    size_t len = (size_t)n * (ph - k + 1) * (pw - k + 1) * k * k * C;
    op_patches_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(in, n, ph, pw, C, k, col);
    LAUNCH_CHECK(err);
    return GC_OK;
}

static __global__ void op_patches_bwd_kernel(const float *g_col, int32_t n, int32_t ph,
                                             int32_t pw, int32_t C, int32_t k, float *g_in)
{
    const int32_t P = ph - k + 1, Q = pw - k + 1;
    const size_t kkc = (size_t)k * k * C, len = (size_t)n * ph * pw * C;
    GRID_STRIDE(e, len)
    {
        const nhwc_at at = nhwc_split(e, ph, pw, C);
        const size_t i = at.i;
        const int32_t y = at.y, x = at.x, c = at.c;
        float acc = 0.0f;
        for (int32_t py = y - k + 1 > 0 ? y - k + 1 : 0; py <= y && py < P; py++)
            for (int32_t px = x - k + 1 > 0 ? x - k + 1 : 0; px <= x && px < Q; px++)
                acc += g_col[((i * P + py) * Q + px) * kkc +
                             ((size_t)(y - py) * k + (x - px)) * C + c];
        g_in[e] = acc;
    }
}

gc_status gc_patches_bwd_cuda(cudaStream_t st, const float *g_col, int32_t n, int32_t ph,
                              int32_t pw, int32_t C, int32_t k, float *g_in, gc_errbuf *err)
{
    size_t len = (size_t)n * ph * pw * C;
    op_patches_bwd_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(g_col, n, ph, pw, C, k, g_in);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- reductions */

static __global__ void op_mean_positions_kernel(const float *y, int32_t n, int32_t PQ, int32_t K,
                                                float *logits)
{
    const size_t len = (size_t)n * K;
    GRID_STRIDE(e, len)
    {
        size_t i = e / K, c = e % K;
        float acc = 0.0f;
        for (int32_t p = 0; p < PQ; p++)
            acc += y[(i * PQ + p) * K + c];
        logits[e] = acc / (float)PQ;
    }
}

gc_status gc_mean_positions_cuda(cudaStream_t st, const float *y, int32_t n, int32_t PQ,
                                 int32_t K, float *logits, gc_errbuf *err)
{
    size_t len = (size_t)n * K;
    op_mean_positions_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(y, n, PQ, K, logits);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* One thread per (image, channel): neighbouring threads read neighbouring channels. */
static __global__ void op_alpha_kernel(const float *grad, int32_t n, int32_t hw, int32_t Kc,
                                       float *alpha)
{
    const size_t len = (size_t)n * Kc;
    GRID_STRIDE(e, len)
    {
        size_t i = e / Kc, c = e % Kc;
        float acc = 0.0f;
        for (int32_t p = 0; p < hw; p++)
            acc += grad[(i * hw + p) * Kc + c];
        alpha[e] = acc / (float)hw;
    }
}

gc_status gc_alpha_cuda(cudaStream_t st, const float *grad, int32_t n, int32_t hw, int32_t Kc,
                        float *alpha, gc_errbuf *err)
{
    size_t len = (size_t)n * Kc;
    op_alpha_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(grad, n, hw, Kc, alpha);
    LAUNCH_CHECK(err);
    return GC_OK;
}

static __global__ void op_cam_kernel(const float *A, const float *alpha, int32_t n, int32_t hw,
                                     int32_t Kc, float *cam)
{
    const size_t len = (size_t)n * hw;
    GRID_STRIDE(e, len)
    {
        size_t i = e / hw;
        const float *a = A + e * Kc, *al = alpha + i * Kc;
        float acc = 0.0f;
        for (int32_t c = 0; c < Kc; c++)
            acc += al[c] * a[c];
        cam[e] = acc > 0.0f ? acc : 0.0f;
    }
}

gc_status gc_cam_cuda(cudaStream_t st, const float *A, const float *alpha, int32_t n,
                      int32_t hw, int32_t Kc, float *cam, gc_errbuf *err)
{
    size_t len = (size_t)n * hw;
    op_cam_kernel<<<grid_for(len), GC_BLOCK, 0, st>>>(A, alpha, n, hw, Kc, cam);
    LAUNCH_CHECK(err);
    return GC_OK;
}
