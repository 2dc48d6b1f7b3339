/*
 * io_bench.c — gradcam-io-bench: per-image, single-thread costs of the command's CPU stages,
 * the ones that must keep up with the GPU: JPEG decode, decode + preprocessing (resize to the
 * network size + normalize), rendering (cam upsample + colormap + blend) and PNG / JPEG
 * encoding (overlay and heatmap; each written to a file, as the command does), for a 224x224
 * and a 500x375 photo-like image.
 *
 *     gradcam-io-bench WEIGHTS [--iters N]
 *
 * WEIGHTS is any model (only its input size matters; e.g. tests/golden/tv_vgg16_small).
 * Median wall time of N calls (default 50). Timing only; never asserts.
 * Targets (issue): PNG encode of a 224x224 overlay <= 2 ms per core; decode + resize of a
 * 500x375 JPEG <= 1.5 ms per core.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gradcam.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* a photo-like image: smooth shading, edges and sensor noise (compresses like a photo) */
static uint8_t *photo(int w, int h, unsigned seed)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    srand(seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 127 + 90 * sin(x / (13.0 + 3 * c)) * cos(y / 17.0) +
                           ((x / 40 + y / 30) % 2 ? 25 : -25) + (rand() % 21 - 10);
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

#define TIME(label, iters, stmt)                                                              \
    do {                                                                                      \
        double *t_ = malloc(sizeof(double) * (size_t)(iters));                                \
        for (int i_ = 0; i_ < (iters); i_++) {                                                \
            double t0_ = now_ms();                                                            \
            stmt;                                                                             \
            t_[i_] = now_ms() - t0_;                                                          \
        }                                                                                     \
        printf("%-44s %8.3f ms\n", label, median(t_, iters));                                \
        free(t_);                                                                             \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gradcam-io-bench WEIGHTS [--iters N]\n");
        return 2;
    }
    int iters = argc > 3 && strcmp(argv[2], "--iters") == 0 ? atoi(argv[3]) : 50;
    if (iters < 1)
        iters = 1;
    gc_options opt = gc_options_default();
    opt.weights_path = argv[1];
    opt.max_batch = 1;
    opt.threads = 1;
    gc_context *ctx = NULL;
    if (gc_context_create(&opt, &ctx) != GC_OK) {
        fprintf(stderr, "gradcam-io-bench: %s\n", gc_last_error(ctx));
        return 1;
    }
    gc_model_info info;
    gc_model_info_get(ctx, &info);
    const size_t in_len = 3 * (size_t)info.input_width * info.input_height;
    float *tensor = malloc(sizeof(float) * in_len);
    char dir[] = "/tmp/gradcam-io-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    printf("single thread, median of %d; network input %dx%d\n", iters, info.input_width,
           info.input_height);
    const int sizes[2][2] = {{224, 224}, {500, 375}};
    for (int s = 0; s < 2; s++) {
        const int w = sizes[s][0], h = sizes[s][1];
        uint8_t *px = photo(w, h, 7u + (unsigned)s);
        gc_image img = {px, w, h, 3 * w};
        char jpg[256], png[256], label[96];
        snprintf(jpg, sizeof jpg, "%s/photo_%dx%d.jpg", dir, w, h);
        snprintf(png, sizeof png, "%s/overlay_%dx%d.png", dir, w, h);
        gc_image_write(jpg, &img, GC_FORMAT_JPEG, -1, 90, NULL, 0);
        struct stat sb;
        stat(jpg, &sb);
        printf("-- %dx%d (JPEG q90: %lld bytes)\n", w, h, (long long)sb.st_size);
        gc_image dec = {0};
        snprintf(label, sizeof label, "decode JPEG");
        TIME(label, iters, (gc_image_read(jpg, 0, &dec, NULL, 0), gc_image_free(&dec)));
        snprintf(label, sizeof label, "decode JPEG + resize + normalize to %dx%d",
                 info.input_width, info.input_height);
        TIME(label, iters,
             (gc_image_read(jpg, 0, &dec, NULL, 0),
              gc_preprocess_images(ctx, &dec, 1, tensor, in_len), gc_image_free(&dec)));
        float cam[14 * 14];
        for (int i = 0; i < 14 * 14; i++)
            cam[i] = (float)(0.5 + 0.5 * sin(i * 0.37));
        uint8_t *heat = malloc((size_t)w * h * 3), *over = malloc((size_t)w * h * 3);
        const size_t n = (size_t)w * h * 3;
        TIME("render heatmap + overlay (14x14 cam)", iters,
             gc_render(cam, 14, 14, &img, GC_COLORMAP_JET, 0.4f, heat, n, over, n));
        gc_image ov = {over, w, h, 3 * w}, hm = {heat, w, h, 3 * w};
        for (int k = 0; k < 3; k++) { /* overlay level 1, heatmap level 1, overlay level 6 */
            const int level = k == 2 ? 6 : 1;
            snprintf(label, sizeof label, "PNG write %s (level %d)",
                     k == 1 ? "heatmap" : "overlay", level);
            TIME(label, iters,
                 gc_image_write(png, k == 1 ? &hm : &ov, GC_FORMAT_PNG, level, 0, NULL, 0));
            stat(png, &sb);
            printf("%-44s %8lld bytes\n", "  size", (long long)sb.st_size);
        }
        TIME("JPEG write overlay (q95)", iters,
             gc_image_write(jpg, &ov, GC_FORMAT_JPEG, -1, 95, NULL, 0));
        free(px), free(heat), free(over);
        unlink(jpg);
        unlink(png);
    }
    rmdir(dir);
    free(tensor);
    gc_context_destroy(ctx);
    return 0;
}
