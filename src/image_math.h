/*
 * image_math.h — the per-pixel maths of preprocessing (OpenCV's 8-bit INTER_LINEAR and
 * INTER_AREA, src/resize.c) and of rendering (OpenCV's float INTER_LINEAR of the cam, the
 * colormap index, addWeighted; src/render.c), written once for the C code and the CUDA kernels
 * (cuda/image_kernels.cu). Everything here must give the same bits on both sides:
 *
 * - Float and double arithmetic goes through GC_FMUL / GC_FADD / ... : plain operators in C
 *   (ISO C mode: GCC does not contract them into FMAs) and the round-to-nearest intrinsics
 *   under nvcc, which nvcc never contracts either, whatever -fmad says. The one fused
 *   multiply-add is explicit (fmaf in gc_blend_u8, as OpenCV's vector addWeighted).
 * - Divisions are IEEE (nvcc's default -prec-div=true; never --use_fast_math).
 * - Rounding to integer is lrintf (round half to even) on both sides; truncation is a cast.
 * Loops and buffers stay in the callers; these are the element formulas.
 */
#ifndef GC_IMAGE_MATH_H
#define GC_IMAGE_MATH_H

#include "gc_math.h"

#ifdef __CUDA_ARCH__
#define GC_FMUL(a, b) __fmul_rn((a), (b))
#define GC_FADD(a, b) __fadd_rn((a), (b))
#define GC_FSUB(a, b) __fsub_rn((a), (b))
#define GC_DMUL(a, b) __dmul_rn((a), (b))
#define GC_DADD(a, b) __dadd_rn((a), (b))
#define GC_DSUB(a, b) __dsub_rn((a), (b))
#else
#define GC_FMUL(a, b) ((a) * (b))
#define GC_FADD(a, b) ((a) + (b))
#define GC_FSUB(a, b) ((a) - (b))
#define GC_DMUL(a, b) ((a) * (b))
#define GC_DADD(a, b) ((a) + (b))
#define GC_DSUB(a, b) ((a) - (b))
#endif

/* ---------------------------------------------------------------- float INTER_LINEAR */

/* OpenCV INTER_LINEAR source position for destination index d: centers aligned,
 * src = (d + 0.5) * scale - 0.5, clamped at both borders. *s0 and *s1 are the two taps
 * (equal at the border), f the weight of the second. scale = src_size / dst_size. */
static inline GC_HD void gc_linear_taps(int32_t d, double scale, int32_t src_size, int32_t *s0,
                                        int32_t *s1, float *f)
{
    float fx = (float)GC_DSUB(GC_DMUL(GC_DADD((double)d, 0.5), scale), 0.5);
    int32_t sx = (int32_t)floorf(fx);
    fx = GC_FSUB(fx, (float)sx);
    if (sx < 0) {
        sx = 0;
        fx = 0.0f;
    }
    if (sx >= src_size - 1) {
        sx = src_size - 1;
        fx = 0.0f;
    }
    *s0 = sx;
    *s1 = sx + 1 < src_size ? sx + 1 : sx;
    *f = fx;
}

/* a * (1 - f) + b * f, in that order: OpenCV's float INTER_LINEAR (both passes). */
static inline GC_HD float gc_lerp(float a, float b, float f)
{
    return GC_FADD(GC_FMUL(a, GC_FSUB(1.0f, f)), GC_FMUL(b, f));
}

/* ---------------------------------------------------------------- 8-bit INTER_LINEAR */

/* OpenCV's fixed point: interpolation weights rounded to 11 bits. */
#define GC_LINEAR_U8_ONE 2048

/* Column taps of destination column x and their weights (sum ONE; zero weight past the
 * borders, as gc_linear_taps). */
static inline GC_HD void gc_linear_u8_xtaps(int32_t x, double scale, int32_t src_size,
                                            int32_t *x0, int32_t *x1, int32_t *a0, int32_t *a1)
{
    float f;
    gc_linear_taps(x, scale, src_size, x0, x1, &f);
    *a0 = (int16_t)lrintf(GC_FMUL(GC_FSUB(1.0f, f), (float)GC_LINEAR_U8_ONE));
    *a1 = (int16_t)lrintf(GC_FMUL(f, (float)GC_LINEAR_U8_ONE));
}

/* Row taps of destination row y. Unlike columns, OpenCV does not zero the weight at the top
 * and bottom borders: it clamps the row index and keeps both weights on the same row (which
 * can round differently from weight ONE in the vector formula). */
static inline GC_HD void gc_linear_u8_ytaps(int32_t y, double scale, int32_t src_size,
                                            int32_t *y0, int32_t *y1, int32_t *b0, int32_t *b1)
{
    float f = (float)GC_DSUB(GC_DMUL(GC_DADD((double)y, 0.5), scale), 0.5);
    int32_t fl = (int32_t)floorf(f);
    f = GC_FSUB(f, (float)fl);
    *y0 = fl < 0 ? 0 : fl > src_size - 1 ? src_size - 1 : fl;
    *y1 = fl + 1 < 0 ? 0 : fl + 1 > src_size - 1 ? src_size - 1 : fl + 1;
    *b0 = (int16_t)lrintf(GC_FMUL(GC_FSUB(1.0f, f), (float)GC_LINEAR_U8_ONE));
    *b1 = (int16_t)lrintf(GC_FMUL(f, (float)GC_LINEAR_U8_ONE));
}

/* The horizontal pass of one channel: p0 * a0 + p1 * a1 (int). */
static inline GC_HD int32_t gc_linear_u8_h(int32_t p0, int32_t p1, int32_t a0, int32_t a1)
{
    return p0 * a0 + p1 * a1;
}

/* OpenCV's SSE loop covers 16 values a step, then 8 while more than 8 remain; values of a
 * row (of `width` = 3 * dst width values) from this index on take its scalar formula. */
static inline GC_HD int32_t gc_linear_u8_vec_end(int32_t width)
{
    int32_t vec = 0;
    while (vec <= width - 16)
        vec += 16;
    while (vec < width - 8)
        vec += 8;
    return vec;
}

/* The vertical pass of one value: OpenCV's x86 vector formula
 * ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2 where `vector`, else its
 * scalar one (b0*r0 + b1*r1 + 2^21) >> 22; saturated to 0..255. */
static inline GC_HD uint8_t gc_linear_u8_v(int32_t r0, int32_t r1, int32_t b0, int32_t b1,
                                           int vector)
{
    int32_t v = vector ? ((((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16) + 2) >> 2
                       : (int32_t)(((int64_t)b0 * r0 + (int64_t)b1 * r1 + (1 << 21)) >> 22);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* ---------------------------------------------------------------- INTER_AREA */

/* The source span of destination index d when shrinking src to dst (scale = src / dst):
 * destination d covers source [d*scale, (d+1)*scale); `count` taps from `first`, each
 * source pixel weighted by its overlap / the cell size: an optional partial head tap
 * (w_head), whole taps (w_body), an optional partial tail tap (w_tail). */
typedef struct gc_area_span {
    int32_t first, count;
    int32_t n_head, n_body; /* taps [0, n_head) are the head, then n_body body taps */
    float w_head, w_body, w_tail;
} gc_area_span;

static inline GC_HD gc_area_span gc_area_taps(int32_t d, double scale, int32_t src)
{
    gc_area_span sp;
    const double f1 = GC_DMUL((double)d, scale), f2 = GC_DADD(f1, scale);
    const double rest = GC_DSUB((double)src, f1);
    const double cell = scale < rest ? scale : rest;
    int32_t s1 = (int32_t)ceil(f1), s2 = (int32_t)floor(f2);
    s2 = s2 < src ? s2 : src;
    s1 = s1 < src ? s1 : src;
    sp.first = s1;
    sp.n_head = 0;
    sp.w_head = sp.w_tail = 0.0f;
    if (GC_DSUB((double)s1, f1) > 1e-3) {
        sp.first = s1 - 1;
        sp.n_head = 1;
        sp.w_head = (float)(GC_DSUB((double)s1, f1) / cell);
    }
    sp.n_body = s2 > s1 ? s2 - s1 : 0;
    sp.w_body = (float)(1.0 / cell);
    sp.count = sp.n_head + sp.n_body;
    const double tail = GC_DSUB(f2, (double)s2);
    if (tail > 1e-3 && s2 < src) {
        double t = tail < 1.0 ? tail : 1.0;
        const double room = (double)(src - s2);
        t = t < room ? t : room;
        sp.w_tail = (float)(t / cell);
        sp.count++;
    }
    return sp;
}

/* The weight of tap k of a span. */
static inline GC_HD float gc_area_weight(const gc_area_span *sp, int32_t k)
{
    return k < sp->n_head ? sp->w_head : k < sp->n_head + sp->n_body ? sp->w_body : sp->w_tail;
}

/* acc + w * v: one step of either pass's weighted sum (taps in order, from 0). */
static inline GC_HD float gc_area_acc(float acc, float w, float v)
{
    return GC_FADD(acc, GC_FMUL(w, v));
}

/* The final value: OpenCV rounds INTER_AREA's 8-bit results half up, then saturates. */
static inline GC_HD uint8_t gc_area_u8(float acc)
{
    long v = (long)GC_FADD(acc, 0.5f);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* ---------------------------------------------------------------- one pixel at a time */

/* The GPU computes each destination pixel on its own (a gather); these give the same bytes
 * as resize.c's row passes (tests/test_pixel_paths.c checks that on the CPU). src: the
 * region's first pixel, rows `stride` bytes apart, sw x sh; destination pixel (x, y) of
 * dw x dh; rgb: its three channels. */

/* INTER_LINEAR (8-bit fixed point): resize_linear_u8's two horizontal sums of rows y0 and y1
 * and its vertical combination, whose row value 3x+c takes the vector formula below
 * vec = gc_linear_u8_vec_end(3 * dw). */
static inline GC_HD void gc_resize_linear_px(const uint8_t *src, int32_t stride, int32_t sw,
                                             int32_t sh, int32_t dw, int32_t dh, int32_t vec,
                                             int32_t x, int32_t y, uint8_t rgb[3])
{
    int32_t x0, x1, a0, a1, y0, y1, b0, b1;
    gc_linear_u8_xtaps(x, (double)sw / dw, sw, &x0, &x1, &a0, &a1);
    gc_linear_u8_ytaps(y, (double)sh / dh, sh, &y0, &y1, &b0, &b1);
    const uint8_t *r0 = src + (size_t)y0 * stride, *r1 = src + (size_t)y1 * stride;
    for (int c = 0; c < 3; c++) {
        const int32_t h0 = gc_linear_u8_h(r0[3 * x0 + c], r0[3 * x1 + c], a0, a1);
        const int32_t h1 = gc_linear_u8_h(r1[3 * x0 + c], r1[3 * x1 + c], a0, a1);
        rgb[c] = gc_linear_u8_v(h0, h1, b0, b1, 3 * x + c < vec);
    }
}

/* INTER_AREA: resize.c's horizontal sums (one per source row of the span, taps in order from
 * 0) and its vertical sum of those, in the same order. */
static inline GC_HD void gc_resize_area_px(const uint8_t *src, int32_t stride, int32_t sw,
                                           int32_t sh, int32_t dw, int32_t dh, int32_t x,
                                           int32_t y, uint8_t rgb[3])
{
    const gc_area_span sx = gc_area_taps(x, (double)sw / dw, sw);
    const gc_area_span sy = gc_area_taps(y, (double)sh / dh, sh);
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int32_t ky = 0; ky < sy.count; ky++) {
        const uint8_t *row = src + (size_t)(sy.first + ky) * stride;
        float h[3] = {0.0f, 0.0f, 0.0f};
        for (int32_t kx = 0; kx < sx.count; kx++) {
            const float w = gc_area_weight(&sx, kx);
            const uint8_t *p = row + 3 * (size_t)(sx.first + kx);
            for (int c = 0; c < 3; c++)
                h[c] = gc_area_acc(h[c], w, (float)p[c]);
        }
        const float w = gc_area_weight(&sy, ky);
        for (int c = 0; c < 3; c++)
            acc[c] = gc_area_acc(acc[c], w, h[c]);
    }
    for (int c = 0; c < 3; c++)
        rgb[c] = gc_area_u8(acc[c]);
}

/* gc_resize_rgb8's choice (GC_INTERP_AUTO): INTER_AREA when neither side grows. */
static inline GC_HD int gc_resize_is_area(int32_t sw, int32_t sh, int32_t dw, int32_t dh)
{
    return dw <= sw && dh <= sh;
}

/* ---------------------------------------------------------------- rendering */

/* np.uint8(255 * v) as a colormap index: truncation toward zero, saturated (NaN -> 0). */
static inline GC_HD int gc_cmap_index(float v)
{
    float s = GC_FMUL(255.0f, v);
    return s >= 255.0f ? 255 : s > 0.0f ? (int)s : 0;
}

/* cv2.addWeighted(img, wi, heat, wh, 0) for one 8-bit value as OpenCV's vector path computes
 * it: fma(img, wi, heat * wh), then cvRound (round half to even) and saturation. The rounding
 * adds and subtracts 1.5 * 2^23, which leaves the nearest integer, ties to even (exact for
 * |b| < 2^22; here b is in [0, 256)): lrintf's result without its libm call. */
static inline GC_HD uint8_t gc_blend_u8(uint8_t img, uint8_t heat, float wi, float wh)
{
    float b = fmaf((float)img, wi, GC_FMUL((float)heat, wh));
    b = GC_FSUB(GC_FADD(b, 0x1.8p23f), 0x1.8p23f);
    return (uint8_t)(b < 0.0f ? 0.0f : b > 255.0f ? 255.0f : b);
}

/* addWeighted's two weights from alpha, as its float arguments: 1 - alpha computed in
 * double, then rounded (cv2 receives the Python float 1 - alpha). */
static inline GC_HD void gc_blend_weights(float alpha, float *wi, float *wh)
{
    *wi = (float)GC_DSUB(1.0, (double)alpha);
    *wh = alpha;
}

/* The cam value of image pixel (x, y) of a W x H image: render.c's horizontal interpolations
 * of cam rows y0 and y1 (hresize) and its vertical one. cam: (ch, cw). */
static inline GC_HD float gc_cam_at(const float *cam, int32_t cw, int32_t ch, int32_t W,
                                    int32_t H, int32_t x, int32_t y)
{
    int32_t x0, x1, y0, y1;
    float fx, fy;
    gc_linear_taps(x, (double)cw / W, cw, &x0, &x1, &fx);
    gc_linear_taps(y, (double)ch / H, ch, &y0, &y1, &fy);
    const float *c0 = cam + (size_t)y0 * cw, *c1 = cam + (size_t)y1 * cw;
    return gc_lerp(gc_lerp(c0[x0], c0[x1], fx), gc_lerp(c1[x0], c1[x1], fx), fy);
}

#endif /* GC_IMAGE_MATH_H */
