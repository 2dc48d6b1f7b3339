/*
 * render.c — a normalized cam onto its image, as the classic OpenCV code renders it:
 *
 *     heat = cv2.resize(cam, (W, H))                      # INTER_LINEAR, float32
 *     heat = cv2.applyColorMap(np.uint8(255 * heat), cv2.COLORMAP_JET)
 *     overlay = cv2.addWeighted(img, 1 - alpha, heat, alpha, 0)
 *
 * The resize follows OpenCV's float path: a horizontal pass (S[x0]*a0 + S[x1]*a1) into row
 * buffers, then a vertical one (R0*b0 + R1*b1). np.uint8 truncates; addWeighted rounds half
 * to even (cvRound) after float32 arithmetic. The per-pixel formulas are image_math.h's,
 * shared with the CUDA render kernel (cuda/image_kernels.cu).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "colormap_tables.h"
#include "gc_internal.h"
#include "image_math.h"

const uint8_t *gc_colormap_table(gc_colormap colormap)
{
    switch (colormap) {
    case GC_COLORMAP_JET: return gc_cmap_jet;
    case GC_COLORMAP_TURBO: return gc_cmap_turbo;
    case GC_COLORMAP_VIRIDIS: return gc_cmap_viridis;
    case GC_COLORMAP_INFERNO: return gc_cmap_inferno;
    case GC_COLORMAP_MAGMA: return gc_cmap_magma;
    }
    return NULL;
}

/* The horizontal half of cv2.resize's float INTER_LINEAR from cw to W columns: each output
 * column's two source columns and weight, and two row buffers for the vertical half. */
typedef struct hpass {
    int32_t *x0, *x1;
    float *fx, *rows;
} hpass;

static int hpass_init(hpass *h, int32_t cw, int32_t W)
{
    h->x0 = malloc(sizeof(int32_t) * 2 * (size_t)W);
    h->fx = malloc(sizeof(float) * (size_t)W);
    h->rows = malloc(sizeof(float) * 2 * (size_t)W);
    if (!h->x0 || !h->fx || !h->rows)
        return 0;
    h->x1 = h->x0 + W;
    const double sx = (double)cw / W;
    for (int32_t x = 0; x < W; x++)
        gc_linear_taps(x, sx, cw, &h->x0[x], &h->x1[x], &h->fx[x]);
    return 1;
}

static void hpass_free(hpass *h)
{
    free(h->x0);
    free(h->fx);
    free(h->rows);
}

/* One cam row resized horizontally to W values. */
static void hresize(const hpass *h, const float *src, int32_t W, float *dst)
{
    for (int32_t x = 0; x < W; x++)
        dst[x] = gc_lerp(src[h->x0[x]], src[h->x1[x]], h->fx[x]);
}

gc_status gc_upsample_cam(const float *cam, int32_t cw, int32_t ch, float *dst, int32_t W,
                          int32_t H)
{
    hpass h;
    if (!hpass_init(&h, cw, W)) {
        hpass_free(&h);
        return GC_ERR_OUT_OF_MEMORY;
    }
    const double sy = (double)ch / H;
    for (int32_t y = 0; y < H; y++) {
        int32_t y0, y1;
        float fy;
        gc_linear_taps(y, sy, ch, &y0, &y1, &fy);
        hresize(&h, cam + (size_t)y0 * cw, W, h.rows);
        hresize(&h, cam + (size_t)y1 * cw, W, h.rows + W);
        for (int32_t x = 0; x < W; x++)
            dst[(size_t)y * W + x] = gc_lerp(h.rows[x], h.rows[W + x], fy);
    }
    hpass_free(&h);
    return GC_OK;
}

/* One output row: vertical interpolation, colormap, blend (image_math.h, shared with the
 * CUDA render kernel). */
GC_BODY void render_row_body(const float *r0, const float *r1, float fy, int32_t W,
                             const uint8_t *lut, float wi, float wh, const uint8_t *src,
                             uint8_t *hrow, uint8_t *orow)
{
    for (int32_t x = 0; x < W; x++) {
        const uint8_t *c = lut + 3 * gc_cmap_index(gc_lerp(r0[x], r1[x], fy));
        if (hrow)
            memcpy(hrow + 3 * x, c, 3);
        if (orow)
            for (int k = 0; k < 3; k++)
                orow[3 * x + k] = gc_blend_u8(src[3 * x + k], c[k], wi, wh);
    }
}
GC_VARIANTS(render_row,
            (const float *r0, const float *r1, float fy, int32_t W, const uint8_t *lut,
             float wi, float wh, const uint8_t *src, uint8_t *hrow, uint8_t *orow),
            (r0, r1, fy, W, lut, wi, wh, src, hrow, orow))

gc_status gc_render(const float *cam, int32_t cam_width, int32_t cam_height,
                    const gc_image *image, gc_colormap colormap, float alpha, uint8_t *heatmap,
                    size_t heatmap_len, uint8_t *overlay, size_t overlay_len)
{
    const uint8_t *lut = gc_colormap_table(colormap);
    if (!cam || cam_width < 1 || cam_height < 1 || !image || image->width < 1 ||
        image->height < 1 || !lut || !(alpha >= 0.0f && alpha <= 1.0f) ||
        (overlay && (!image->data || image->stride < 3 * (int64_t)image->width)))
        return GC_ERR_INVALID_ARGUMENT;
    const int32_t W = image->width, H = image->height;
    const size_t need = (size_t)W * H * 3;
    if ((heatmap && heatmap_len < need) || (overlay && overlay_len < need))
        return GC_ERR_BUFFER_TOO_SMALL;
    if (!heatmap && !overlay)
        return GC_OK;

    hpass h;
    if (!hpass_init(&h, cam_width, W)) {
        hpass_free(&h);
        return GC_ERR_OUT_OF_MEMORY;
    }
    const double sy = (double)cam_height / H;
    float *r0 = h.rows, *r1 = h.rows + W;
    int32_t have0 = -1, have1 = -1; /* cam rows currently in r0 / r1 */
    float wi, wh; /* as addWeighted's floats */
    gc_blend_weights(alpha, &wi, &wh);
    for (int32_t y = 0; y < H; y++) {
        int32_t y0, y1;
        float fy;
        gc_linear_taps(y, sy, cam_height, &y0, &y1, &fy);
        if (have0 != y0) {
            if (have1 == y0) { /* moving down: reuse the row */
                float *t = r0;
                r0 = r1;
                r1 = t;
                have1 = -1;
            } else {
                hresize(&h, cam + (size_t)y0 * cam_width, W, r0);
            }
            have0 = y0;
        }
        if (have1 != y1) {
            hresize(&h, cam + (size_t)y1 * cam_width, W, r1);
            have1 = y1;
        }
        render_row(r0, r1, fy, W, lut, wi, wh,
                   overlay ? image->data + (size_t)y * image->stride : NULL,
                   heatmap ? heatmap + (size_t)y * W * 3 : NULL,
                   overlay ? overlay + (size_t)y * W * 3 : NULL);
    }
    hpass_free(&h);
    return GC_OK;
}

gc_status gc_render_saliency(const float *grad, int32_t width, int32_t height, int32_t bgr,
                             uint8_t *out, size_t out_len)
{
    if (!grad || !out || width < 1 || height < 1)
        return GC_ERR_INVALID_ARGUMENT;
    const size_t HW = (size_t)width * height, n = 3 * HW;
    if (out_len < n)
        return GC_ERR_BUFFER_TOO_SMALL;
    /* numpy's float32 mean and std; in double here, which differs from numpy's pairwise
     * float32 sums only in the last bits */
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += grad[i];
    const double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sq += ((double)grad[i] - mean) * ((double)grad[i] - mean);
    const float m = (float)mean, sd = (float)sqrt(sq / (double)n) + 1e-5f;
    for (int c = 0; c < 3; c++) {
        const float *src = grad + (size_t)(bgr ? 2 - c : c) * HW;
        for (size_t p = 0; p < HW; p++) {
            float v = (src[p] - m) / sd * 0.1f + 0.5f;
            v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN -> 0 */
            out[3 * p + c] = (uint8_t)(255.0f * v); /* np.uint8: truncation */
        }
    }
    return GC_OK;
}
