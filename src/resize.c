/*
 * resize.c — see resize.h. Both are separable: a horizontal pass, then a vertical one.
 * INTER_LINEAR in OpenCV's fixed point (resize_linear_u8); INTER_AREA in float with
 * precomputed taps: destination pixel d covers source [d*scale, (d+1)*scale), each source
 * pixel weighted by its overlap. The per-pixel formulas are image_math.h's, shared with the
 * CUDA preprocessing kernel (cuda/image_kernels.cu).
 */
#include "resize.h"

#include <math.h>
#include <stdlib.h>

#include "image_math.h"

typedef struct taps {
    int32_t *start; /* first source index of each destination index */
    int32_t *count;
    float *weight;  /* count[d] weights from offset[d] */
    int32_t *offset;
} taps;

static void taps_free(taps *t)
{
    free(t->start);
    free(t->count);
    free(t->weight);
    free(t->offset);
}

/* Every destination index's span (image_math.h's gc_area_taps) as arrays of weights. */
static int taps_area(taps *t, int32_t src, int32_t dst)
{
    double scale = (double)src / dst;
    int32_t maxc = (int32_t)ceil(scale) + 1;
    t->start = malloc(sizeof(int32_t) * (size_t)dst);
    t->count = malloc(sizeof(int32_t) * (size_t)dst);
    t->offset = malloc(sizeof(int32_t) * (size_t)dst);
    t->weight = malloc(sizeof(float) * (size_t)maxc * (size_t)dst);
    if (!t->start || !t->count || !t->offset || !t->weight)
        return 0;
    for (int32_t d = 0; d < dst; d++) {
        const gc_area_span sp = gc_area_taps(d, scale, src);
        float *w = t->weight + (size_t)maxc * d;
        for (int32_t k = 0; k < sp.count; k++)
            w[k] = gc_area_weight(&sp, k);
        t->start[d] = sp.first;
        t->count[d] = sp.count;
        t->offset[d] = maxc * d;
    }
    return 1;
}

/* OpenCV's 8-bit INTER_LINEAR in its fixed-point form (image_math.h): weights rounded to 11
 * bits, a horizontal pass in int, and the vertical combination as its x86 vector path
 * computes it (its scalar formula for a row's tail). */
static gc_status resize_linear_u8(const uint8_t *src, int32_t sw, int32_t sh, int32_t sstride,
                                  uint8_t *dst, int32_t dw, int32_t dh)
{
    int32_t *xo = malloc(sizeof(int32_t) * 2 * (size_t)dw);
    int32_t *xa = malloc(sizeof(int32_t) * 2 * (size_t)dw);
    int32_t *rows = malloc(sizeof(int32_t) * 2 * 3 * (size_t)dw);
    if (!xo || !xa || !rows) {
        free(xo), free(xa), free(rows);
        return GC_ERR_OUT_OF_MEMORY;
    }
    const double scx = (double)sw / dw, scy = (double)sh / dh;
    for (int32_t x = 0; x < dw; x++)
        gc_linear_u8_xtaps(x, scx, sw, &xo[2 * x], &xo[2 * x + 1], &xa[2 * x], &xa[2 * x + 1]);
    int32_t *r0 = rows, *r1 = rows + 3 * (size_t)dw;
    const int32_t width = 3 * dw, vec = gc_linear_u8_vec_end(width);
    for (int32_t y = 0; y < dh; y++) {
        int32_t y0, y1, b0, b1;
        gc_linear_u8_ytaps(y, scy, sh, &y0, &y1, &b0, &b1);
        const int32_t sy[2] = {y0, y1};
        int32_t *r[2] = {r0, r1};
        for (int i = 0; i < 2; i++) {
            const uint8_t *row = src + (size_t)sy[i] * sstride;
            for (int32_t x = 0; x < dw; x++) {
                const uint8_t *p0 = row + 3 * (size_t)xo[2 * x], *p1 = row + 3 * (size_t)xo[2 * x + 1];
                for (int c = 0; c < 3; c++)
                    r[i][3 * x + c] = gc_linear_u8_h(p0[c], p1[c], xa[2 * x], xa[2 * x + 1]);
            }
        }
        uint8_t *out = dst + (size_t)y * dw * 3;
        for (int32_t x = 0; x < width; x++)
            out[x] = gc_linear_u8_v(r0[x], r1[x], b0, b1, x < vec);
    }
    free(xo), free(xa), free(rows);
    return GC_OK;
}

gc_status gc_resize_rgb8(const uint8_t *src, int32_t sw, int32_t sh, int32_t sstride,
                         uint8_t *dst, int32_t dw, int32_t dh, gc_interp interp)
{
    if (interp == GC_INTERP_AUTO)
        interp = gc_resize_is_area(sw, sh, dw, dh) ? GC_INTERP_AREA : GC_INTERP_LINEAR;
    if (interp == GC_INTERP_LINEAR)
        return resize_linear_u8(src, sw, sh, sstride, dst, dw, dh);
    taps tx = {0}, ty = {0};
    float *tmp = malloc(sizeof(float) * (size_t)sh * dw * 3);
    int ok = tmp != NULL;
    if (ok)
        ok = taps_area(&tx, sw, dw) && taps_area(&ty, sh, dh);
    if (!ok) {
        free(tmp);
        taps_free(&tx);
        taps_free(&ty);
        return GC_ERR_OUT_OF_MEMORY;
    }
    for (int32_t y = 0; y < sh; y++) {
        const uint8_t *row = src + (size_t)y * sstride;
        float *out = tmp + (size_t)y * dw * 3;
        for (int32_t x = 0; x < dw; x++) {
            float acc[3] = {0, 0, 0};
            const float *w = tx.weight + tx.offset[x];
            for (int32_t k = 0; k < tx.count[x]; k++) {
                const uint8_t *p = row + 3 * (size_t)(tx.start[x] + k);
                acc[0] = gc_area_acc(acc[0], w[k], p[0]);
                acc[1] = gc_area_acc(acc[1], w[k], p[1]);
                acc[2] = gc_area_acc(acc[2], w[k], p[2]);
            }
            out[3 * x] = acc[0];
            out[3 * x + 1] = acc[1];
            out[3 * x + 2] = acc[2];
        }
    }
    for (int32_t y = 0; y < dh; y++) {
        const float *w = ty.weight + ty.offset[y];
        uint8_t *out = dst + (size_t)y * dw * 3;
        for (int32_t x = 0; x < dw * 3; x++) {
            float acc = 0;
            for (int32_t k = 0; k < ty.count[y]; k++)
                acc = gc_area_acc(acc, w[k], tmp[(size_t)(ty.start[y] + k) * dw * 3 + x]);
            out[x] = gc_area_u8(acc); /* OpenCV rounds these half up */
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    return GC_OK;
}
