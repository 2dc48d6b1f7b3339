/*
 * test_gpu_oom.c — device memory running out, on a GPU (label gpu) and on the emulated device
 * (emu_gpu_oom, GC_EMU_DEVICE_MEMORY), with the rest of the device's memory taken by this
 * program (a "hog" of cudaMalloc'd blocks) so that the sizes stay small:
 *   create   with ~256 MiB free, a context for max_batch 4096 fails with GC_ERR_OUT_OF_MEMORY
 *            naming the batch and suggesting a smaller one, and gives back what it took; a
 *            context for max_batch 2 then fits and runs
 *   photos   a working context, then ~40 MiB free: eight 1200x900 photos through
 *            gc_explain_render (the command's call on the GPU: photos staged and rendered on
 *            the device) fail with GC_ERR_OUT_OF_MEMORY, give back the device memory their
 *            batch had taken, and the context stays usable (the command then runs the batch
 *            in halves): one photo goes through, and once the memory is back, all eight, the
 *            first with the same cam
 * Not a crash, not a dead context, nothing left allocated. Exit 77 without a usable device.
 *
 *     test_gpu_oom WEIGHTS (the demo model: models/demo/shapes-vgg.safetensors)
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcam.h"

static int failures;

#define MIB ((size_t)1 << 20)
#define PHOTOS 8
#define PHOTO_W 1200
#define PHOTO_H 900

static const char *weights;

static size_t device_free(void)
{
    size_t free_b = 0, total = 0;
    if (cudaMemGetInfo(&free_b, &total) != cudaSuccess)
        return 0;
    return free_b;
}

/* Takes device memory until about `leave` bytes are free: blocks of 256 MiB, then one for the
 * rest (a single block of everything may not be allocatable at once). */
typedef struct hog {
    void *blocks[4096];
    int n;
} hog;

static void hog_take(hog *h, size_t leave)
{
    h->n = 0;
    for (size_t f = device_free(); f > leave && h->n < 4096; f = device_free()) {
        size_t want = f - leave > 256 * MIB ? 256 * MIB : f - leave;
        void *p = NULL;
        while (want >= MIB && cudaMalloc(&p, want) != cudaSuccess) {
            cudaGetLastError(); /* an allocation failure is not sticky */
            want /= 2;
        }
        if (want < MIB)
            break;
        h->blocks[h->n++] = p;
    }
    printf("  hog: %d blocks, %.0f MiB left free\n", h->n, device_free() / (double)MIB);
}

static void hog_free(hog *h)
{
    for (int i = 0; i < h->n; i++)
        cudaFree(h->blocks[i]);
    h->n = 0;
}

static gc_status make(int32_t max_batch, gc_context **ctx)
{
    gc_options o = gc_options_default();
    o.weights_path = weights;
    o.backend = GC_BACKEND_CUDA;
    o.max_batch = max_batch;
    *ctx = NULL;
    return gc_context_create(&o, ctx);
}

static void test_create(void)
{
    hog h;
    hog_take(&h, 256 * MIB);
    const size_t before = device_free();
    gc_context *ctx = NULL;
    gc_status st = make(4096, &ctx);
    printf("  max_batch 4096 with %.0f MiB free: %s: %s\n", before / (double)MIB,
           gc_status_string(st), gc_last_error(ctx));
    CHECK(st == GC_ERR_OUT_OF_MEMORY, "status %s, want GC_ERR_OUT_OF_MEMORY", gc_status_string(st));
    CHECK(strstr(gc_last_error(ctx), "4096") && strstr(gc_last_error(ctx), "smaller"),
          "the message should name max_batch 4096 and suggest a smaller one");
    gc_context_destroy(ctx);
    const size_t after = device_free();
    CHECK(after + 16 * MIB >= before, "%.1f MiB of device memory not given back",
          (before - after) / (double)MIB);

    st = make(2, &ctx);
    CHECK(st == GC_OK, "max_batch 2 should fit in %.0f MiB: %s", before / (double)MIB,
          gc_last_error(ctx));
    if (st == GC_OK) {
        static uint8_t px[64 * 48 * 3];
        for (size_t i = 0; i < sizeof px; i++)
            px[i] = (uint8_t)(i * 7);
        gc_image im = {px, 64, 48, 64 * 3};
        gc_result r;
        CHECK(gc_explain(ctx, &im, 1, NULL, &r, NULL, 0) == GC_OK, "explain: %s",
              gc_last_error(ctx));
    }
    gc_context_destroy(ctx);
    hog_free(&h);
}

/* A photo-like image: a bright disc on a gradient, one per seed. */
static uint8_t *photo(int seed)
{
    uint8_t *p = malloc((size_t)PHOTO_W * PHOTO_H * 3);
    if (!p)
        return NULL;
    const double cx = PHOTO_W * (0.3 + 0.05 * seed), cy = PHOTO_H * 0.5, r = PHOTO_H * 0.2;
    for (int y = 0; y < PHOTO_H; y++)
        for (int x = 0; x < PHOTO_W; x++) {
            const int in = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
            for (int c = 0; c < 3; c++)
                p[((size_t)y * PHOTO_W + x) * 3 + c] =
                    (uint8_t)(in ? 220 - 60 * c : 40 + (x + y) * 60 / (PHOTO_W + PHOTO_H) + c);
        }
    return p;
}

static gc_status render(gc_context *ctx, const gc_image *ims, int n, gc_result *res, float *cams,
                        size_t cam_len, uint8_t **outs, size_t *lens)
{
    return gc_explain_render(ctx, ims, n, NULL, res, cams, cam_len * (size_t)n, GC_COLORMAP_JET,
                             0.4f, outs, outs + PHOTOS, lens);
}

static void test_photos(void)
{
    gc_context *ctx = NULL;
    gc_status st = make(PHOTOS, &ctx);
    CHECK(st == GC_OK, "a context for %d photos: %s", PHOTOS, gc_last_error(ctx));
    gc_model_info info;
    if (st != GC_OK || gc_model_info_get(ctx, &info) != GC_OK) {
        gc_context_destroy(ctx);
        return;
    }
    const size_t cam_len = (size_t)info.cam_width * info.cam_height;
    const size_t img_len = (size_t)PHOTO_W * PHOTO_H * 3;
    gc_image ims[PHOTOS];
    uint8_t *outs[2 * PHOTOS] = {0};
    size_t lens[PHOTOS];
    float *cams = malloc(sizeof(float) * cam_len * PHOTOS);
    float *cam_one = malloc(sizeof(float) * cam_len);
    gc_result res[PHOTOS];
    int ok = cams && cam_one;
    for (int i = 0; i < PHOTOS; i++) {
        ims[i] = (gc_image){photo(i), PHOTO_W, PHOTO_H, PHOTO_W * 3};
        outs[i] = malloc(img_len);
        outs[PHOTOS + i] = malloc(img_len);
        lens[i] = img_len;
        ok = ok && ims[i].data && outs[i] && outs[PHOTOS + i];
    }
    CHECK(ok, "out of host memory");
    /* one photo first, with the memory there: kernels load on first use (CUDA's lazy module
     * loading) and must not be what runs out below; it also leaves a render buffer held, as
     * the command's earlier batches do */
    if (ok) {
        st = render(ctx, ims, 1, res, cam_one, cam_len, outs, lens);
        CHECK(st == GC_OK, "one photo, warm-up: %s", gc_last_error(ctx));
        ok = st == GC_OK;
    }
    if (ok) {
        hog h;
        hog_take(&h, 40 * MIB);
        const size_t free_before = device_free();
        st = render(ctx, ims, PHOTOS, res, cams, cam_len, outs, lens);
        const size_t free_after = device_free();
        printf("  %d photos of %dx%d with %.0f MiB free: %s: %s; %.0f MiB free after\n", PHOTOS,
               PHOTO_W, PHOTO_H, free_before / (double)MIB, gc_status_string(st),
               gc_last_error(ctx), free_after / (double)MIB);
        CHECK(st == GC_ERR_OUT_OF_MEMORY, "status %s, want GC_ERR_OUT_OF_MEMORY",
              gc_status_string(st));
        /* the failed batch gave its photo buffers back (the warm-up's among them), so that
         * fewer photos find the room: none of it may stay taken */
        CHECK(free_after >= free_before, "the failed batch kept %.1f MiB of device memory",
              (free_before - free_after) / (double)MIB);
        st = render(ctx, ims, 1, res, cam_one, cam_len, outs, lens);
        CHECK(st == GC_OK, "one photo after the out-of-memory: %s: %s", gc_status_string(st),
              gc_last_error(ctx));
        hog_free(&h);
        const gc_status st8 = render(ctx, ims, PHOTOS, res, cams, cam_len, outs, lens);
        CHECK(st8 == GC_OK, "%d photos with the memory back: %s: %s", PHOTOS, gc_status_string(st8),
              gc_last_error(ctx));
        if (st == GC_OK && st8 == GC_OK) {
            double worst = 0.0;
            for (size_t k = 0; k < cam_len; k++)
                worst = fmax(worst, fabs((double)cams[k] - (double)cam_one[k]));
            printf("  photo 0 alone and in the batch of %d: cam max |diff| %.2e\n", PHOTOS, worst);
            /* bf16 on the GPU; cuBLAS may pick other kernels for 1 row than for 8 */
            CHECK(worst < 5e-3, "photo 0's cam differs by %.2e between the two calls", worst);
        }
    }
    for (int i = 0; i < PHOTOS; i++)
        free((void *)ims[i].data), free(outs[i]), free(outs[PHOTOS + i]);
    free(cams), free(cam_one);
    gc_context_destroy(ctx);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WEIGHTS\n", argv[0]);
        return 2;
    }
    weights = argv[1];
    if (gc_cuda_device_count() <= 0 || device_free() == 0) {
        printf("SKIP: no usable CUDA device\n");
        return 77;
    }
    /* what the process keeps once loaded (kernel modules, cuDNN's engines) is not a leak:
     * the baseline comes after one context has run */
    gc_context *warm = NULL;
    if (make(2, &warm) == GC_OK) {
        static uint8_t px[64 * 48 * 3];
        gc_image im = {px, 64, 48, 64 * 3};
        gc_result r;
        gc_explain(warm, &im, 1, NULL, &r, NULL, 0);
    }
    gc_context_destroy(warm);
    const size_t start = device_free();
    printf("create:\n");
    test_create();
    printf("photos:\n");
    test_photos();
    const size_t end = device_free();
    CHECK(end + 16 * MIB >= start, "%.1f MiB of device memory not given back in all",
          (start - end) / (double)MIB);
    printf(failures ? "FAILED (%d)\n" : "all passed\n", failures);
    return failures ? 1 : 0;
}
