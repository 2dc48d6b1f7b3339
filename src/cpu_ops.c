/*
 * cpu_ops.c — the CPU backend's element-wise, pooling and head ops (see cpu_ops.h).
 */
#include <string.h>

#include "cpu_ops.h"
#include "gc_math.h"

void cpu_relu(int threads, float *x, size_t len)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (size_t i = 0; i < len; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void cpu_relu_mask(int threads, float *g, const float *act, size_t len, int guided)
{
    if (guided) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (size_t i = 0; i < len; i++)
            g[i] = act[i] > 0.0f && g[i] > 0.0f ? g[i] : 0.0f;
    } else {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (size_t i = 0; i < len; i++)
            g[i] = act[i] > 0.0f ? g[i] : 0.0f;
    }
}

/* The 2x2 stride-2 window's winner: the first maximum in (dy, dx) scan order, as PyTorch's
 * max_pool2d (a later equal value does not replace it). Returns its offset (dy*2+dx). */
static inline int pool_argmax(const float *in, int32_t W, int32_t C, size_t base)
{
    const size_t off[4] = {0, (size_t)C, (size_t)W * C, (size_t)W * C + C};
    int best = 0;
    for (int i = 1; i < 4; i++)
        if (in[base + off[i]] > in[base + off[best]])
            best = i;
    return best;
}

void cpu_maxpool_fwd(int threads, const float *in, int32_t n, int32_t H, int32_t W,
                        int32_t C, float *out)
{
    const int32_t oh = H / 2, ow = W / 2;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int32_t i = 0; i < n; i++)
        for (int32_t y = 0; y < oh; y++)
            for (int32_t x = 0; x < ow; x++) {
                /* only the value: a plain max chain over contiguous channels vectorizes */
                const float *a = in + (((size_t)i * H + 2 * y) * W + 2 * x) * C;
                const float *b = a + C, *c2 = a + (size_t)W * C, *d = c2 + C;
                float *o = out + (((size_t)i * oh + y) * ow + x) * C;
                for (int32_t c = 0; c < C; c++) {
                    float m0 = a[c] > b[c] ? a[c] : b[c], m1 = c2[c] > d[c] ? c2[c] : d[c];
                    o[c] = m0 > m1 ? m0 : m1;
                }
            }
}

void cpu_maxpool_bwd(int threads, const float *in, const float *g_out, int32_t n,
                        int32_t H, int32_t W, int32_t C, float *g_in)
{
    const int32_t oh = H / 2, ow = W / 2;
    memset(g_in, 0, sizeof(float) * (size_t)n * H * W * C);
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int32_t i = 0; i < n; i++)
        for (int32_t y = 0; y < oh; y++)
            for (int32_t x = 0; x < ow; x++)
                for (int32_t c = 0; c < C; c++) {
                    size_t base = (((size_t)i * H + 2 * y) * W + 2 * x) * C + c;
                    int a = pool_argmax(in, W, C, base);
                    g_in[base + (size_t)(a >> 1) * W * C + (size_t)(a & 1) * C] =
                        g_out[(((size_t)i * oh + y) * ow + x) * C + c];
                }
}

void cpu_avgpool_fwd(int threads, const float *in, int32_t n, int32_t H, int32_t W,
                        int32_t C, int32_t oh, int32_t ow, float *out)
{
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads)
    for (int32_t i = 0; i < n; i++)
        for (int32_t y = 0; y < oh; y++) {
            int32_t y0 = gc_adaptive_start(y, H, oh), y1 = gc_adaptive_end(y, H, oh);
            for (int32_t x = 0; x < ow; x++) {
                int32_t x0 = gc_adaptive_start(x, W, ow), x1 = gc_adaptive_end(x, W, ow);
                float *o = out + (((size_t)i * oh + y) * ow + x) * C;
                float cnt = (float)((y1 - y0) * (x1 - x0));
                for (int32_t c = 0; c < C; c++) {
                    float acc = 0.0f;
                    for (int32_t yy = y0; yy < y1; yy++)
                        for (int32_t xx = x0; xx < x1; xx++)
                            acc += in[(((size_t)i * H + yy) * W + xx) * C + c];
                    o[c] = acc / cnt;
                }
            }
        }
}

void cpu_avgpool_bwd(int threads, const float *g_out, int32_t n, int32_t H, int32_t W,
                        int32_t C, int32_t oh, int32_t ow, float *g_in)
{
    memset(g_in, 0, sizeof(float) * (size_t)n * H * W * C);
    /* windows of neighbouring outputs can overlap: one thread per image */
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int32_t i = 0; i < n; i++)
        for (int32_t y = 0; y < oh; y++) {
            int32_t y0 = gc_adaptive_start(y, H, oh), y1 = gc_adaptive_end(y, H, oh);
            for (int32_t x = 0; x < ow; x++) {
                int32_t x0 = gc_adaptive_start(x, W, ow), x1 = gc_adaptive_end(x, W, ow);
                const float *g = g_out + (((size_t)i * oh + y) * ow + x) * C;
                float cnt = (float)((y1 - y0) * (x1 - x0));
                for (int32_t yy = y0; yy < y1; yy++)
                    for (int32_t xx = x0; xx < x1; xx++) {
                        float *d = g_in + (((size_t)i * H + yy) * W + xx) * C;
                        for (int32_t c = 0; c < C; c++)
                            d[c] += g[c] / cnt;
                    }
            }
        }
}

void cpu_bias_act(int threads, float *y, const float *b, size_t rows, int32_t C, int relu)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (size_t r = 0; r < rows; r++)
        for (int32_t o = 0; o < C; o++) {
            float v = y[r * C + o] + (b ? b[o] : 0.0f);
            y[r * C + o] = relu && v < 0.0f ? 0.0f : v;
        }
}

void cpu_patches_bwd(int threads, const float *g_col, int32_t n, int32_t ph, int32_t pw,
                     int32_t C, int32_t k, float *g_in)
{
    const int32_t P = ph - k + 1, Q = pw - k + 1;
    const size_t kkc = (size_t)k * k * C;
    memset(g_in, 0, sizeof(float) * (size_t)n * ph * pw * C);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int32_t i = 0; i < n; i++)
        for (int32_t py = 0; py < P; py++)
            for (int32_t px = 0; px < Q; px++) {
                const float *src = g_col + (((size_t)i * P + py) * Q + px) * kkc;
                for (int32_t ky = 0; ky < k; ky++)
                    for (int32_t kx = 0; kx < k; kx++) {
                        float *dst = g_in + (((size_t)i * ph + py + ky) * pw + px + kx) * C;
                        const float *sp = src + ((size_t)ky * k + kx) * C;
                        for (int32_t c = 0; c < C; c++)
                            dst[c] += sp[c];
                    }
            }
}

void cpu_mean_positions(const float *y, int32_t n, int32_t PQ, int32_t K, float *logits)
{
    for (int32_t i = 0; i < n; i++)
        for (int32_t c = 0; c < K; c++) {
            float acc = 0.0f;
            for (int32_t p = 0; p < PQ; p++)
                acc += y[((size_t)i * PQ + p) * K + c];
            logits[(size_t)i * K + c] = acc / (float)PQ;
        }
}
