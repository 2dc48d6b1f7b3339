/*
 * test_render.c — preprocessing resizes and cam rendering against OpenCV.
 *
 *     test_render tests/golden/render_opencv.safetensors
 *
 * Goldens from tests/golden/make_render_goldens.py (cv2.resize, cv2.applyColorMap,
 * cv2.addWeighted). Everything must be byte-exact: the cam resize is float arithmetic in the
 * same order as OpenCV's, the colormap tables are OpenCV's, the blend is OpenCV's fused
 * multiply-add rounded half to even, and the 8-bit preprocessing resizes follow OpenCV's
 * fixed-point INTER_LINEAR (its x86 vector formula) and its INTER_AREA rounding.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcam.h"
#include "resize.h"
#include "safetensors.h"

static int failures;

static const st_tensor *get(const st_file *f, const char *fmt, int i, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, fmt, i);
    strncat(name, suffix, sizeof name - strlen(name) - 1);
    const st_tensor *t = st_find(f, name);
    if (!t) {
        fprintf(stderr, "golden has no '%s'\n", name);
        exit(1);
    }
    return t;
}

/* counts of |a-b| == 1 and > 1 */
static void diff_u8(const uint8_t *a, const uint8_t *b, size_t n, size_t *one, size_t *more)
{
    *one = *more = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        *one += d == 1;
        *more += d > 1;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_render GOLDEN\n");
        return 2;
    }
    st_file f;
    gc_errbuf err = {{0}};
    if (st_open(argv[1], &f, &err) != GC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const int n_resize = atoi(st_metadata(&f, "resizes")), n_render = atoi(st_metadata(&f, "renders"));
    for (int i = 0; i < n_resize; i++) {
        const st_tensor *src = get(&f, "resize%d", i, "_src"), *dst = get(&f, "resize%d", i, "_dst");
        int32_t sh = (int32_t)src->shape[0], sw = (int32_t)src->shape[1];
        int32_t dh = (int32_t)dst->shape[0], dw = (int32_t)dst->shape[1];
        uint8_t *out = malloc(dst->nbytes + 16);
        memset(out + dst->nbytes, 0xA5, 16);
        gc_status st = gc_resize_rgb8(src->data, sw, sh, 3 * sw, out, dw, dh, GC_INTERP_AUTO);
        size_t one, more;
        diff_u8(out, dst->data, dst->nbytes, &one, &more);
        int guard = 1;
        for (int g = 0; g < 16; g++)
            guard &= out[dst->nbytes + g] == 0xA5;
        int ok = st == GC_OK && more == 0 && one == 0 && guard;
        char key[32];
        snprintf(key, sizeof key, "resize%d", i);
        printf("%s resize %dx%d -> %dx%d (%s): %zu values off by 1, %zu by more%s\n",
               ok ? "PASS" : "FAIL", sw, sh, dw, dh, st_metadata(&f, key), one, more,
               guard ? "" : ", guard overwritten");
        failures += !ok;
        free(out);
    }
    for (int i = 0; i < n_render; i++) {
        const st_tensor *img = get(&f, "render%d", i, "_img"), *cam = get(&f, "render%d", i, "_cam");
        const st_tensor *heat = get(&f, "render%d", i, "_heat");
        const st_tensor *over = get(&f, "render%d", i, "_overlay");
        char key[32];
        snprintf(key, sizeof key, "render%d", i);
        char cmap_name[32];
        float alpha = 0;
        sscanf(st_metadata(&f, key), "%31[^,],%f", cmap_name, &alpha);
        gc_colormap cmap = GC_COLORMAP_JET;
        const char *names[] = {"jet", "turbo", "viridis", "inferno", "magma"};
        for (int k = 0; k < 5; k++)
            if (strcmp(names[k], cmap_name) == 0)
                cmap = (gc_colormap)k;
        float *camf = malloc(sizeof(float) * (size_t)cam->numel);
        st_to_float(&f, cam, camf, NULL);
        gc_image im = {img->data, (int32_t)img->shape[1], (int32_t)img->shape[0],
                       3 * (int32_t)img->shape[1]};
        uint8_t *h = malloc(heat->nbytes + 16), *o = malloc(over->nbytes + 16);
        memset(h + heat->nbytes, 0xA5, 16);
        memset(o + over->nbytes, 0xA5, 16);
        gc_status st = gc_render(camf, (int32_t)cam->shape[1], (int32_t)cam->shape[0], &im, cmap,
                                 alpha, h, heat->nbytes, o, over->nbytes);
        size_t h1, hm, o1, om;
        diff_u8(h, heat->data, heat->nbytes, &h1, &hm);
        diff_u8(o, over->data, over->nbytes, &o1, &om);
        int guard = 1;
        for (int g = 0; g < 16; g++)
            guard &= h[heat->nbytes + g] == 0xA5 && o[over->nbytes + g] == 0xA5;
        int ok = st == GC_OK && h1 + hm + o1 + om == 0 && guard;
        printf("%s render %dx%d cam %dx%d %s alpha %.2f: heatmap %zu/%zu values differ, overlay "
               "%zu/%zu%s\n", ok ? "PASS" : "FAIL", im.width, im.height, (int)cam->shape[1],
               (int)cam->shape[0], cmap_name, alpha, h1 + hm, heat->nbytes, o1 + om,
               over->nbytes, guard ? "" : ", guard overwritten");
        failures += !ok;
        free(camf), free(h), free(o);
    }
    /* argument checks */
    float c1 = 1.0f;
    uint8_t px[3] = {1, 2, 3}, out[3];
    gc_image one = {px, 1, 1, 3};
    int args_ok = gc_render(NULL, 1, 1, &one, GC_COLORMAP_JET, 0.4f, out, 3, NULL, 0) ==
                      GC_ERR_INVALID_ARGUMENT &&
                  gc_render(&c1, 1, 1, &one, GC_COLORMAP_JET, 1.5f, out, 3, NULL, 0) ==
                      GC_ERR_INVALID_ARGUMENT &&
                  gc_render(&c1, 1, 1, &one, (gc_colormap)99, 0.4f, out, 3, NULL, 0) ==
                      GC_ERR_INVALID_ARGUMENT &&
                  gc_render(&c1, 1, 1, &one, GC_COLORMAP_JET, 0.4f, out, 2, NULL, 0) ==
                      GC_ERR_BUFFER_TOO_SMALL &&
                  gc_colormap_table((gc_colormap)99) == NULL;
    printf("%s argument checks\n", args_ok ? "PASS" : "FAIL");
    failures += !args_ok;
    st_close(&f);
    printf("%d failure(s)\n", failures);
    return failures != 0;
}
