/*
 * test_pixel_paths.c — the one-pixel-at-a-time forms of preprocessing and rendering that the
 * CUDA kernels run (src/image_math.h: gc_resize_linear_px, gc_resize_area_px, gc_cam_at with
 * gc_cmap_index and gc_blend_u8) against the row passes of src/resize.c and src/render.c,
 * byte for byte, on the CPU. The GPU kernels are these functions in a grid loop, with every
 * float operation a round-to-nearest intrinsic; this checks the gathering logic here, so that
 * a GPU mismatch can only come from the device side.
 *
 *     test_pixel_paths
 *
 * Sizes: every source and destination size from 1 to 9 (both interpolations, every border
 * case), then odd large ones (upscaling, 2x..23x downscaling, mixed), rows with padding and a
 * region inside a larger image (crop mode). Renders: cams of 1x1 to 14x14 onto images of 1x1
 * to 640x480, every colormap, several alphas. Exit 0 when all agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcam.h"
#include "image_math.h"
#include "resize.h"

static int failures;
static long cases;

static uint8_t *noise(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    uint32_t s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        /* mostly smooth, some extremes: 0 and 255 exercise saturation */
        p[i] = (uint8_t)((i % 7 == 0) ? ((s >> 31) ? 255 : 0) : (s >> 24));
    }
    return p;
}

/* A (sw, sh) region at (ox, oy) of a (bw, bh) image with `pad` bytes after each row, resized
 * to (dw, dh) both ways. */
static void check_resize(int32_t bw, int32_t bh, int32_t pad, int32_t ox, int32_t oy, int32_t sw,
                         int32_t sh, int32_t dw, int32_t dh)
{
    const int32_t stride = 3 * bw + pad;
    uint8_t *img = noise((size_t)stride * bh, (uint32_t)(sw * 131 + sh * 7 + dw * 3 + dh));
    const uint8_t *src = img + (size_t)oy * stride + 3 * (size_t)ox;
    uint8_t *ref = malloc((size_t)dw * dh * 3), *got = malloc((size_t)dw * dh * 3);
    if (!ref || !got || gc_resize_rgb8(src, sw, sh, stride, ref, dw, dh, GC_INTERP_AUTO) != GC_OK) {
        fprintf(stderr, "resize failed\n");
        exit(2);
    }
    const int area = gc_resize_is_area(sw, sh, dw, dh);
    const int32_t vec = gc_linear_u8_vec_end(3 * dw);
    for (int32_t y = 0; y < dh; y++)
        for (int32_t x = 0; x < dw; x++) {
            uint8_t *px = got + ((size_t)y * dw + x) * 3;
            if (area)
                gc_resize_area_px(src, stride, sw, sh, dw, dh, x, y, px);
            else
                gc_resize_linear_px(src, stride, sw, sh, dw, dh, vec, x, y, px);
        }
    cases++;
    if (memcmp(ref, got, (size_t)dw * dh * 3) != 0) {
        size_t k = 0;
        while (ref[k] == got[k])
            k++;
        if (failures++ < 20)
            printf("FAIL resize %dx%d (region of %dx%d +%d pad) -> %dx%d (%s): byte %zu (y %zu "
                   "x %zu c %zu) %d vs %d\n", sw, sh, bw, bh, pad, dw, dh,
                   area ? "area" : "linear", k, k / 3 / dw, k / 3 % dw, k % 3, got[k], ref[k]);
    }
    free(img), free(ref), free(got);
}

static void check_render(int32_t cw, int32_t ch, int32_t W, int32_t H, int32_t pad,
                         gc_colormap map, float alpha)
{
    float *cam = malloc(sizeof(float) * cw * ch);
    uint32_t s = (uint32_t)(cw * 977 + ch * 31 + W + H);
    for (int32_t i = 0; i < cw * ch; i++) {
        s = s * 1664525u + 1013904223u;
        /* [0, 1], with exact 0 and 1 and values near the colormap's steps */
        cam[i] = i % 5 == 0 ? (float)(i % 2) : (float)(s >> 8) / 16777216.0f;
    }
    gc_image im = {NULL, W, H, 3 * W + pad};
    uint8_t *pix = noise((size_t)im.stride * H, s);
    im.data = pix;
    const size_t len = (size_t)W * H * 3;
    uint8_t *rh = malloc(len), *ro = malloc(len), *gh = malloc(len), *go = malloc(len);
    if (gc_render(cam, cw, ch, &im, map, alpha, rh, len, ro, len) != GC_OK) {
        fprintf(stderr, "gc_render failed\n");
        exit(2);
    }
    const uint8_t *lut = gc_colormap_table(map);
    float wi, wh;
    gc_blend_weights(alpha, &wi, &wh);
    for (int32_t y = 0; y < H; y++)
        for (int32_t x = 0; x < W; x++) {
            const size_t p = (size_t)y * W + x;
            const uint8_t *c = lut + 3 * gc_cmap_index(gc_cam_at(cam, cw, ch, W, H, x, y));
            for (int k = 0; k < 3; k++) {
                gh[3 * p + k] = c[k];
                go[3 * p + k] = gc_blend_u8(pix[(size_t)y * im.stride + 3 * x + k], c[k], wi, wh);
            }
        }
    cases++;
    if (memcmp(rh, gh, len) != 0 || memcmp(ro, go, len) != 0) {
        size_t k = 0;
        while (rh[k] == gh[k] && ro[k] == go[k])
            k++;
        if (failures++ < 20)
            printf("FAIL render cam %dx%d onto %dx%d, map %d alpha %g: byte %zu: heat %d vs %d, "
                   "overlay %d vs %d\n", cw, ch, W, H, (int)map, alpha, k, gh[k], rh[k], go[k],
                   ro[k]);
    }
    free(cam), free(pix), free(rh), free(ro), free(gh), free(go);
}

int main(void)
{
    for (int32_t sw = 1; sw <= 9; sw++)
        for (int32_t sh = 1; sh <= 9; sh++)
            for (int32_t dw = 1; dw <= 9; dw++)
                for (int32_t dh = 1; dh <= 9; dh++)
                    check_resize(sw, sh, (sw + dh) % 3, 0, 0, sw, sh, dw, dh);
    static const int32_t big[][4] = {
        {500, 375, 224, 224}, {640, 480, 224, 224}, {224, 224, 224, 224}, {223, 225, 224, 224},
        {37, 23, 224, 224},   {1001, 77, 64, 48},   {77, 1001, 64, 48},   {3000, 2000, 224, 224},
        {129, 97, 64, 48},    {1, 1, 224, 224},     {5000, 3, 40, 56},    {7, 300, 40, 56},
        {448, 448, 224, 224}, {449, 447, 224, 224}, {100, 100, 99, 101},  {1024, 768, 299, 299},
        {64, 48, 64, 48},     {65, 47, 64, 48},     {2048, 10, 256, 5},   {333, 333, 7, 7},
    };
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        check_resize(big[i][0], big[i][1], (int32_t)i % 4, 0, 0, big[i][0], big[i][1], big[i][2],
                     big[i][3]);
        /* the same as a centered region of a larger, padded image */
        check_resize(big[i][0] + 10, big[i][1] + 6, 5, 5, 3, big[i][0], big[i][1], big[i][2],
                     big[i][3]);
    }
    static const float alphas[] = {0.4f, 0.0f, 1.0f, 0.5f, 0.3f, 0.77f};
    static const int32_t cams[][2] = {{1, 1}, {2, 3}, {7, 7}, {14, 14}, {6, 8}, {13, 1}};
    static const int32_t imgs[][2] = {{1, 1}, {3, 2}, {37, 23}, {64, 48}, {500, 375}, {640, 480},
                                      {7, 300}, {224, 224}, {13, 14}};
    int k = 0;
    for (size_t c = 0; c < sizeof cams / sizeof cams[0]; c++)
        for (size_t i = 0; i < sizeof imgs / sizeof imgs[0]; i++, k++)
            check_render(cams[c][0], cams[c][1], imgs[i][0], imgs[i][1], k % 3,
                         (gc_colormap)(k % 5), alphas[k % 6]);
    printf("%ld cases, %d failed\n", cases, failures);
    return failures ? 1 : 0;
}
