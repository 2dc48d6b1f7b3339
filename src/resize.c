/*
 * resize.c — see resize.h. Separable: a horizontal pass into a float buffer, then a vertical
 * pass, each with precomputed taps. The area taps follow OpenCV's definition: destination
 * pixel d covers source [d*scale, (d+1)*scale), each source pixel weighted by its overlap.
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

static int taps_linear(taps *t, int32_t src, int32_t dst)
{
    t->start = malloc(sizeof(int32_t) * (size_t)dst);
    t->count = malloc(sizeof(int32_t) * (size_t)dst);
    t->offset = malloc(sizeof(int32_t) * (size_t)dst);
    t->weight = malloc(sizeof(float) * 2 * (size_t)dst);
    if (!t->start || !t->count || !t->offset || !t->weight)
        return 0;
    double scale = (double)src / dst;
    for (int32_t d = 0; d < dst; d++) {
        int32_t s0, s1;
        float f;
        gc_linear_taps(d, scale, src, &s0, &s1, &f);
        t->start[d] = s0;
        t->count[d] = s1 > s0 ? 2 : 1;
        t->offset[d] = 2 * d;
        t->weight[2 * d] = s1 > s0 ? 1.0f - f : 1.0f;
        t->weight[2 * d + 1] = f;
    }
    return 1;
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

gc_status gc_resize_rgb8(const uint8_t *src, int32_t sw, int32_t sh, int32_t sstride,
                         uint8_t *dst, int32_t dw, int32_t dh, gc_interp interp)
{
    if (interp == GC_INTERP_AUTO)
        interp = (dw <= sw && dh <= sh) ? GC_INTERP_AREA : GC_INTERP_LINEAR;
    taps tx = {0}, ty = {0};
    float *tmp = malloc(sizeof(float) * (size_t)sh * dw * 3);
    int ok = tmp != NULL;
    if (ok)
        ok = interp == GC_INTERP_AREA ? taps_area(&tx, sw, dw) && taps_area(&ty, sh, dh)
                                      : taps_linear(&tx, sw, dw) && taps_linear(&ty, sh, dh);
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
            long v = lrintf(acc);
            out[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
    return GC_OK;
}
