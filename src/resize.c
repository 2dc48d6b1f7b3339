/*
 * resize.c — see resize.h. Both are separable: a horizontal pass, then a vertical one.
 * INTER_LINEAR in OpenCV's fixed point (resize_linear_u8); INTER_AREA in float with
 * precomputed taps: destination pixel d covers source [d*scale, (d+1)*scale), each source
 * pixel weighted by its overlap.
 */
#include "resize.h"

#include <math.h>
#include <stdlib.h>

#include "gc_math.h"

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
        double f1 = d * scale, f2 = f1 + scale;
        double cell = GC_MIN(scale, src - f1);
        int32_t s1 = (int32_t)ceil(f1), s2 = (int32_t)floor(f2);
        s2 = GC_MIN(s2, src);
        s1 = GC_MIN(s1, src);
        int32_t n = 0, first = s1;
        float *w = t->weight + (size_t)maxc * d;
        if (s1 - f1 > 1e-3) {
            first = s1 - 1;
            w[n++] = (float)((s1 - f1) / cell);
        }
        for (int32_t s = s1; s < s2; s++)
            w[n++] = (float)(1.0 / cell);
        if (f2 - s2 > 1e-3 && s2 < src)
            w[n++] = (float)(GC_MIN(GC_MIN(f2 - s2, 1.0), src - s2) / cell);
        t->start[d] = first;
        t->count[d] = n;
        t->offset[d] = maxc * d;
    }
    return 1;
}

/* OpenCV's 8-bit INTER_LINEAR in its fixed-point form: weights rounded to 11 bits, a
 * horizontal pass in int, and the vertical combination as its x86 vector path computes it:
 * ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2. */
static gc_status resize_linear_u8(const uint8_t *src, int32_t sw, int32_t sh, int32_t sstride,
                                  uint8_t *dst, int32_t dw, int32_t dh)
{
    enum { ONE = 2048 };
    int32_t *xo = malloc(sizeof(int32_t) * 2 * (size_t)dw);
    int16_t *xa = malloc(sizeof(int16_t) * 2 * (size_t)dw);
    int32_t *rows = malloc(sizeof(int32_t) * 2 * 3 * (size_t)dw);
    if (!xo || !xa || !rows) {
        free(xo), free(xa), free(rows);
        return GC_ERR_OUT_OF_MEMORY;
    }
    const double scx = (double)sw / dw, scy = (double)sh / dh;
    for (int32_t x = 0; x < dw; x++) {
        float f;
        gc_linear_taps(x, scx, sw, &xo[2 * x], &xo[2 * x + 1], &f);
        xa[2 * x] = (int16_t)lrintf((1.0f - f) * ONE);
        xa[2 * x + 1] = (int16_t)lrintf(f * ONE);
    }
    int32_t *r0 = rows, *r1 = rows + 3 * (size_t)dw;
    for (int32_t y = 0; y < dh; y++) {
        /* Unlike columns, OpenCV does not zero the weight at the top and bottom borders: it
         * clamps the row index and keeps both weights on the same row (which can round
         * differently from weight ONE in the vector formula). */
        float f = (float)((y + 0.5) * scy - 0.5);
        int32_t fl = (int32_t)floorf(f);
        f -= (float)fl;
        int32_t y0 = GC_MIN(GC_MAX(fl, 0), sh - 1), y1 = GC_MIN(GC_MAX(fl + 1, 0), sh - 1);
        int32_t b0 = (int16_t)lrintf((1.0f - f) * ONE), b1 = (int16_t)lrintf(f * ONE);
        const int32_t sy[2] = {y0, y1};
        int32_t *r[2] = {r0, r1};
        for (int i = 0; i < 2; i++) {
            const uint8_t *row = src + (size_t)sy[i] * sstride;
            for (int32_t x = 0; x < dw; x++) {
                const uint8_t *p0 = row + 3 * (size_t)xo[2 * x], *p1 = row + 3 * (size_t)xo[2 * x + 1];
                for (int c = 0; c < 3; c++)
                    r[i][3 * x + c] = p0[c] * xa[2 * x] + p1[c] * xa[2 * x + 1];
            }
        }
        uint8_t *out = dst + (size_t)y * dw * 3;
        /* OpenCV's SSE loop covers 16 values a step, then 8 while more than 8 remain; the
         * rest of the row takes its scalar formula (b0*r0 + b1*r1 + 2^21) >> 22. */
        const int32_t width = 3 * dw;
        int32_t vec = 0;
        while (vec <= width - 16)
            vec += 16;
        while (vec < width - 8)
            vec += 8;
        for (int32_t x = 0; x < width; x++) {
            int32_t v = x < vec ? ((((r0[x] >> 4) * b0) >> 16) + (((r1[x] >> 4) * b1) >> 16) + 2) >> 2
                                : (int32_t)(((int64_t)b0 * r0[x] + (int64_t)b1 * r1[x] + (1 << 21)) >> 22);
            out[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(xo), free(xa), free(rows);
    return GC_OK;
}

gc_status gc_resize_rgb8(const uint8_t *src, int32_t sw, int32_t sh, int32_t sstride,
                         uint8_t *dst, int32_t dw, int32_t dh, gc_interp interp)
{
    if (interp == GC_INTERP_AUTO)
        interp = (dw <= sw && dh <= sh) ? GC_INTERP_AREA : GC_INTERP_LINEAR;
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
                acc[0] += w[k] * p[0];
                acc[1] += w[k] * p[1];
                acc[2] += w[k] * p[2];
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
                acc += w[k] * tmp[(size_t)(ty.start[y] + k) * dw * 3 + x];
            long v = (long)(acc + 0.5f); /* OpenCV rounds these half up */
            out[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    return GC_OK;
}
