/*
 * cpu_conv.c — see cpu_conv.h.
 */
#include "cpu_conv.h"
#include "gc_internal.h"
#include "gemm.h"

#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#define THREAD_ID() omp_get_thread_num()
#else
#define THREAD_ID() 0
#endif

/* Below this many input channels the Winograd GEMMs are too thin to pay (the RGB layer). */
#define WINO_MIN_C 8

/* The element-wise transforms come in an AVX2 variant (GC_VARIANTS, gc_internal.h). */

void cpu_im2col(const float *in, int32_t H, int32_t W, int32_t C, int32_t kh, int32_t kw,
                int32_t pad, int32_t oh, int32_t ow, size_t r0, size_t rows, float *col)
{
    const size_t ohw = (size_t)oh * ow, rowlen = (size_t)kh * kw * C;
    for (size_t i = 0; i < rows; i++) {
        size_t r = r0 + i, n = r / ohw, rem = r % ohw;
        int32_t oy = (int32_t)(rem / ow), ox = (int32_t)(rem % ow);
        float *dst = col + i * rowlen;
        for (int32_t ky = 0; ky < kh; ky++) {
            int32_t iy = oy + ky - pad;
            for (int32_t kx = 0; kx < kw; kx++, dst += C) {
                int32_t ix = ox + kx - pad;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                    memset(dst, 0, sizeof(float) * (size_t)C);
                else
                    memcpy(dst, in + (((n * H) + iy) * W + ix) * (size_t)C,
                           sizeof(float) * (size_t)C);
            }
        }
    }
}

/* bias and ReLU on rows x K outputs, while they are in cache */
GC_BODY void epilogue_body(float *y, size_t rows, int32_t K, const float *b, int relu)
{
    for (size_t r = 0; r < rows; r++) {
        float *row = y + r * K;
        if (b)
            for (int32_t k = 0; k < K; k++)
                row[k] += b[k];
        if (relu)
            for (int32_t k = 0; k < K; k++)
                row[k] = row[k] > 0.0f ? row[k] : 0.0f;
    }
}
GC_VARIANTS(epilogue, (float *y, size_t rows, int32_t K, const float *b, int relu),
            (y, rows, K, b, relu))

static void conv_im2col(const cpu_conv *cv, const float *in, int32_t n, int32_t H, int32_t W,
                        float *out, int relu, int threads, float *scratch)
{
    const size_t total = (size_t)n * H * W, rowlen = (size_t)9 * cv->C;
    size_t chunk = CPU_SCRATCH_FLOATS / rowlen;
    chunk = chunk ? chunk : 1;
    const size_t nchunks = (total + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t ch = 0; ch < nchunks; ch++) {
        float *col = scratch + (size_t)THREAD_ID() * CPU_SCRATCH_FLOATS;
        size_t r0 = ch * chunk, rows = total - r0 < chunk ? total - r0 : chunk;
        cpu_im2col(in, H, W, cv->C, 3, 3, 1, H, W, r0, rows, col);
        gc_sgemm(1, (int)rows, cv->K, (int)rowlen, col, (int)rowlen, cv->w, (int)rowlen,
                 out + r0 * cv->K, cv->K);
        epilogue(out + r0 * cv->K, rows, cv->K, cv->b, relu);
    }
}

/* ---------------------------------------------------------------- Winograd F(2x2, 3x3) */

/* U = G g G^T for every (k, c), stored (16, C, K): the B operand of 16 GEMMs.
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. Computed in double. */
static void wino_weights(const float *w, int32_t C, int32_t K, float *U)
{
    for (int32_t k = 0; k < K; k++)
        for (int32_t c = 0; c < C; c++) {
            double g[3][3], t[4][3], u[4][4];
            for (int r = 0; r < 3; r++)
                for (int s = 0; s < 3; s++)
                    g[r][s] = w[(((size_t)k * 3 + r) * 3 + s) * C + c];
            for (int s = 0; s < 3; s++) {
                t[0][s] = g[0][s];
                t[1][s] = 0.5 * (g[0][s] + g[1][s] + g[2][s]);
                t[2][s] = 0.5 * (g[0][s] - g[1][s] + g[2][s]);
                t[3][s] = g[2][s];
            }
            for (int i = 0; i < 4; i++) {
                u[i][0] = t[i][0];
                u[i][1] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
                u[i][2] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
                u[i][3] = t[i][2];
            }
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    U[((size_t)(4 * i + j) * C + c) * K + k] = (float)u[i][j];
        }
}

/* V[xi][t][c] = (B^T d B)[xi] for the tiles [t0, t0+tiles) (4x4 input patches at stride 2,
 * starting one pixel up-left: the padding), B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
GC_BODY void wino_input_body(const float *in, int32_t H, int32_t W, int32_t C, int32_t th,
                             int32_t tw, size_t t0, size_t tiles, const float *zeros, float *V)
{
    const size_t stride = tiles * C;
    for (size_t t = 0; t < tiles; t++) {
        size_t g = t0 + t, n = g / ((size_t)th * tw), rem = g % ((size_t)th * tw);
        int32_t ty = (int32_t)(rem / tw), tx = (int32_t)(rem % tw);
        const float *p[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                int32_t iy = 2 * ty - 1 + i, ix = 2 * tx - 1 + j;
                p[i][j] = iy < 0 || iy >= H || ix < 0 || ix >= W
                              ? zeros
                              : in + ((n * H + iy) * (size_t)W + ix) * C;
            }
        float *v = V + t * C;
        for (int32_t c = 0; c < C; c++) {
            float d[4][4], r[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    d[i][j] = p[i][j][c];
            for (int j = 0; j < 4; j++) { /* B^T d */
                r[0][j] = d[0][j] - d[2][j];
                r[1][j] = d[1][j] + d[2][j];
                r[2][j] = d[2][j] - d[1][j];
                r[3][j] = d[1][j] - d[3][j];
            }
            for (int i = 0; i < 4; i++) { /* (B^T d) B */
                v[(4 * i + 0) * stride + c] = r[i][0] - r[i][2];
                v[(4 * i + 1) * stride + c] = r[i][1] + r[i][2];
                v[(4 * i + 2) * stride + c] = r[i][2] - r[i][1];
                v[(4 * i + 3) * stride + c] = r[i][1] - r[i][3];
            }
        }
    }
}
GC_VARIANTS(wino_input,
            (const float *in, int32_t H, int32_t W, int32_t C, int32_t th, int32_t tw,
             size_t t0, size_t tiles, const float *zeros, float *V),
            (in, H, W, C, th, tw, t0, tiles, zeros, V))

/* out = A^T m A (+ bias, ReLU) for each tile, A^T = [1 1 1 0; 0 1 -1 -1]; the 2x2 outputs
 * that fall outside an odd-sized map are dropped. */
GC_BODY void wino_output_body(const float *M, int32_t H, int32_t W, int32_t K, int32_t th,
                              int32_t tw, size_t t0, size_t tiles, const float *b, int relu,
                              float *out, float *row)
{
    const size_t stride = tiles * K;
    for (size_t t = 0; t < tiles; t++) {
        size_t g = t0 + t, n = g / ((size_t)th * tw), rem = g % ((size_t)th * tw);
        int32_t ty = (int32_t)(rem / tw), tx = (int32_t)(rem % tw);
        const float *m = M + t * K;
        /* the four outputs of the tile go to row[0..4K) first: straight vector loops */
        float *y00 = row, *y01 = row + K, *y10 = row + 2 * (size_t)K, *y11 = row + 3 * (size_t)K;
        for (int32_t k = 0; k < K; k++) {
            float s0[4], s1[4];
            for (int j = 0; j < 4; j++) {
                float v0 = m[j * stride + k], v1 = m[(4 + j) * stride + k];
                float v2 = m[(8 + j) * stride + k], v3 = m[(12 + j) * stride + k];
                s0[j] = v0 + v1 + v2;
                s1[j] = v1 - v2 - v3;
            }
            const float bias = b ? b[k] : 0.0f;
            float a = s0[0] + s0[1] + s0[2] + bias, c = s0[1] - s0[2] - s0[3] + bias;
            float d = s1[0] + s1[1] + s1[2] + bias, e = s1[1] - s1[2] - s1[3] + bias;
            if (relu) {
                a = a > 0.0f ? a : 0.0f;
                c = c > 0.0f ? c : 0.0f;
                d = d > 0.0f ? d : 0.0f;
                e = e > 0.0f ? e : 0.0f;
            }
            y00[k] = a;
            y01[k] = c;
            y10[k] = d;
            y11[k] = e;
        }
        const float *src[2][2] = {{y00, y01}, {y10, y11}};
        for (int r = 0; r < 2; r++)
            for (int q = 0; q < 2; q++) {
                int32_t y = 2 * ty + r, x = 2 * tx + q;
                if (y < H && x < W)
                    memcpy(out + ((n * H + y) * (size_t)W + x) * K, src[r][q],
                           sizeof(float) * (size_t)K);
            }
    }
}
GC_VARIANTS(wino_output,
            (const float *M, int32_t H, int32_t W, int32_t K, int32_t th, int32_t tw,
             size_t t0, size_t tiles, const float *b, int relu, float *out, float *row),
            (M, H, W, K, th, tw, t0, tiles, b, relu, out, row))

static void conv_winograd(const cpu_conv *cv, const float *in, int32_t n, int32_t H, int32_t W,
                          float *out, int relu, int threads, float *scratch)
{
    const int32_t C = cv->C, K = cv->K, th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t total = (size_t)n * th * tw;
    /* per thread: V (16, tiles, C), M (16, tiles, K), one zero pixel (C), one output row
     * of a tile (4K) */
    size_t chunk = (CPU_SCRATCH_FLOATS - (size_t)C - 4 * (size_t)K) / (16 * (size_t)(C + K));
    chunk = chunk ? chunk : 1;
    const size_t nchunks = (total + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t ch = 0; ch < nchunks; ch++) {
        float *V = scratch + (size_t)THREAD_ID() * CPU_SCRATCH_FLOATS;
        size_t t0 = ch * chunk, tiles = total - t0 < chunk ? total - t0 : chunk;
        float *M = V + 16 * tiles * C, *zeros = M + 16 * tiles * K;
        memset(zeros, 0, sizeof(float) * (size_t)C);
        wino_input(in, H, W, C, th, tw, t0, tiles, zeros, V);
        for (int xi = 0; xi < 16; xi++)
            gc_sgemm(0, (int)tiles, K, C, V + xi * tiles * C, C,
                     cv->wino + (size_t)xi * C * K, K, M + xi * tiles * K, K);
        wino_output(M, H, W, K, th, tw, t0, tiles, cv->b, relu, out, zeros + C);
    }
}

/* ---------------------------------------------------------------- entry points */

int cpu_conv_init(cpu_conv *cv, const float *w, const float *b, int32_t C, int32_t K)
{
    cv->C = C;
    cv->K = K;
    cv->w = w;
    cv->b = b;
    cv->wino = NULL;
    if (C < WINO_MIN_C || (size_t)16 * (C + K) + C + 4 * (size_t)K > CPU_SCRATCH_FLOATS)
        return 1;
    cv->wino = malloc(sizeof(float) * 16 * (size_t)C * K);
    if (!cv->wino)
        return 0;
    wino_weights(w, C, K, cv->wino);
    return 1;
}

void cpu_conv_free(cpu_conv *cv)
{
    free(cv->wino);
    cv->wino = NULL;
}

void cpu_conv_run(const cpu_conv *cv, const float *in, int32_t n, int32_t H, int32_t W,
                  float *out, int relu, int threads, float *scratch)
{
    if (cv->wino)
        conv_winograd(cv, in, n, H, W, out, relu, threads, scratch);
    else
        conv_im2col(cv, in, n, H, W, out, relu, threads, scratch);
}
