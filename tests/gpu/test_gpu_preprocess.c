/*
 * test_gpu_preprocess.c — the CUDA backend's image path against the host code, bit for bit:
 *
 *     test_gpu_preprocess GOLDEN
 *
 *   preprocess  gc_explain / gc_explain_render on a CUDA context upload the 8-bit images and
 *               resize + normalize them on the GPU; GC_TENSOR_INPUT read back from it must
 *               equal gc_preprocess_images on a CPU context with the same options bit for
 *               bit: images from 1x1 to 3000x2000, odd sizes, upscaling (INTER_LINEAR),
 *               downscaling (INTER_AREA), mixed, rows with padding, in stretch + torch mode
 *               and in crop + caffe mode (another network size, W < H)
 *   render      gc_explain_render's heatmaps and overlays must equal gc_render (CPU) of the
 *               GPU's own cams byte for byte, every colormap, several alphas; a NULL entry
 *               is skipped (every fourth batch: the first half's images all NULL); guard
 *               bytes after every buffer stay intact
 *   host path   the same batches on a CUDA context made with GC_CUDA_HOST_PREPROCESS=1 (the
 *               host preprocesses, the CPU renders): same classes, cams within 1e-6
 *   GPU path    the GPU contexts really took the GPU path (GC_CUDA_HOST_PREPROCESS is unset
 *               first): their device_bytes grew (staging, render buffers) past the host
 *               path twin's, which did not grow
 *   growth      a 3000x2000 image outgrows the device image buffer sized at the first batch;
 *               later batches still pass; profiling reports the GPU preprocessing time
 *   halves      with GC_RENDER_PIPELINE=1 (gpu_preprocess_split), the unprofiled GPU
 *               context's batches of more than one image go through gc_explain_render in two
 *               overlapped halves: the render and host-path checks above hold the same, and
 *               the input check is replaced by gc_tensor_get's refusal (the halves keep no
 *               tensors: that they ran); the profiled context takes the whole batch
 * One CUDA context per configuration, reused for every batch (its plans built at create;
 * smaller batches may build plans of their own as they come: GC_BATCH_PLANS).
 * --cpu-as-gpu runs the same checks with CPU contexts in place of the CUDA ones (a self-test
 * of this program and of the CPU side of gc_explain_render, label cpu).
 * Exit 0 pass, 1 fail, 77 when this machine has no usable CUDA device.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden_file.h"
#include "gradcam.h"

#define GUARD 64
#define GUARD_BYTE 0xA5
/* host path vs GPU preprocessing: the same input bits through the same kernels; a cuDNN
 * engine that is not deterministic may still reorder a sum */
#define TOL_HOST_PATH 1e-6

static int failures;
static int no_device;

#define FAIL(...)                                                                              \
    do {                                                                                       \
        printf(__VA_ARGS__);                                                                   \
        printf("  FAIL\n");                                                                    \
        failures++;                                                                            \
    } while (0)

static gc_options base;
static int cpu_as_gpu; /* --cpu-as-gpu: the "GPU" contexts are CPU ones */
static int halves;     /* GC_RENDER_PIPELINE=1 (CUDA): unprofiled batches in two halves */
static const gc_context *unprofiled; /* the GPU context that takes them (the other profiles) */

static gc_context *make(const char *what, gc_backend backend, gc_preprocess pre, gc_resize rs,
                        int32_t in_w, int32_t in_h, int profile)
{
    gc_options o = base;
    o.backend = cpu_as_gpu ? GC_BACKEND_CPU : backend;
    o.precision = GC_PRECISION_FP32;
    o.preprocess = pre;
    o.resize = rs;
    o.input_width = in_w;
    o.input_height = in_h;
    o.max_batch = 8;
    o.profile = profile;
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&o, &ctx);
    if (st == GC_OK)
        return ctx;
    const char *m = gc_last_error(ctx);
    if (backend == GC_BACKEND_CUDA &&
        (strstr(m, "CUDA backend unavailable") || strstr(m, "no CUDA backend"))) {
        printf("  %-12s %s (skipping: no usable GPU)\n", what, m);
        no_device = 1;
    } else {
        FAIL("  %-12s context: %s: %s", what, gc_status_string(st), m);
    }
    gc_context_destroy(ctx);
    return NULL;
}

/* A w x h image with `pad` bytes after each row: gradients, a blob and noise, so that every
 * interpolation weight matters; the padding holds a value no pixel reads. */
static gc_image synth(int32_t w, int32_t h, int32_t pad, uint32_t seed)
{
    gc_image im;
    im.width = w;
    im.height = h;
    im.stride = 3 * w + pad;
    uint8_t *p = malloc((size_t)im.stride * h);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memset(p, 0xEE, (size_t)im.stride * h);
    uint32_t s = seed * 2654435761u + 12345u;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            uint8_t *q = p + (size_t)y * im.stride + 3 * (size_t)x;
            const int blob = (x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) <
                             (w * w + h * h) / 30 + 1;
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                int v = (c == 0 ? x * 255 / (w > 1 ? w - 1 : 1) : c == 1 ? y * 7 : (x + y) * 3) +
                        (blob ? 90 : 0) + (int)(s >> 29);
                q[c] = (uint8_t)(v & 255);
            }
        }
    im.data = p;
    return im;
}

typedef struct sizes {
    int32_t w, h, pad;
} sizes;

/* One batch on one configuration: CPU reference preprocessing, the GPU's explain_render,
 * its input read back, its renders against gc_render, and the host-path CUDA context. */
static void check_batch(const char *run, gc_context *cpu, gc_context *gpu, gc_context *host,
                        const gc_image *im, int32_t n, gc_colormap map, float alpha,
                        int first_half_bare)
{
    gc_model_info info;
    gc_model_info_get(gpu, &info);
    const size_t HW3 = (size_t)3 * info.input_width * info.input_height;
    const size_t hw = (size_t)info.cam_width * info.cam_height;
    float *ref = malloc(sizeof(float) * HW3 * n), *got = malloc(sizeof(float) * HW3);
    float *cams = malloc(sizeof(float) * hw * n), *hcams = malloc(sizeof(float) * hw * n);
    gc_result *res = calloc((size_t)n, sizeof *res), *hres = calloc((size_t)n, sizeof *hres);
    uint8_t *ov[8], *hm[8], *ref_o = NULL, *ref_h = NULL;
    size_t len[8], biggest = 0;
    for (int32_t i = 0; i < n; i++) {
        len[i] = (size_t)3 * im[i].width * im[i].height;
        biggest = len[i] > biggest ? len[i] : biggest;
        ov[i] = malloc(len[i] + GUARD);
        hm[i] = malloc(len[i] + GUARD);
        memset(ov[i], GUARD_BYTE, len[i] + GUARD);
        memset(hm[i], GUARD_BYTE, len[i] + GUARD);
    }
    ref_o = malloc(biggest);
    ref_h = malloc(biggest);
    if (gc_preprocess_images(cpu, im, n, ref, HW3 * n) != GC_OK) {
        FAIL("  %-12s cpu preprocess: %s", run, gc_last_error(cpu));
        goto done;
    }
    /* the last image's overlay is skipped (a NULL entry); with first_half_bare, both outputs
     * of the first (n + 1) / 2 images too: in halves, the first half then renders nothing and
     * its download waits for nothing, so the second half's preprocessing runs with only its
     * own wait for its pixels to order it (removing that wait fails the cams check) */
    uint8_t *ovs[8], *hms[8];
    for (int32_t i = 0; i < n; i++) {
        const int bare = first_half_bare && i < (n + 1) / 2;
        ovs[i] = (i == n - 1 && n > 1) || bare ? NULL : ov[i];
        hms[i] = bare ? NULL : hm[i];
    }
    if (gc_explain_render(gpu, im, n, NULL, res, cams, hw * n, map, alpha, ovs, hms, len) !=
        GC_OK) {
        FAIL("  %-12s gpu explain_render: %s", run, gc_last_error(gpu));
        goto done;
    }
    /* preprocessing: bit for bit; in two halves no tensors are kept, which says they ran */
    size_t bad_in = 0;
    const int split = halves && n > 1 && gpu == unprofiled;
    if (split && (gc_tensor_get(gpu, GC_TENSOR_INPUT, 0, got, HW3, NULL) != GC_ERR_NOT_AVAILABLE ||
                  !strstr(gc_last_error(gpu), "two halves"))) {
        FAIL("  %-12s tensor_get after the halves: want GC_ERR_NOT_AVAILABLE naming them, got "
             "'%s'", run, gc_last_error(gpu));
        goto done;
    }
    for (int32_t i = 0; i < n && !split; i++) {
        if (gc_tensor_get(gpu, GC_TENSOR_INPUT, i, got, HW3, NULL) != GC_OK) {
            FAIL("  %-12s tensor_get(INPUT): %s", run, gc_last_error(gpu));
            goto done;
        }
        size_t bad = 0, first = 0;
        for (size_t k = 0; k < HW3; k++)
            if (memcmp(&got[k], &ref[(size_t)i * HW3 + k], sizeof(float)) != 0 && !bad++)
                first = k;
        if (bad) {
            const size_t HW = HW3 / 3;
            FAIL("  %-12s image %d (%dx%d): %zu of %zu input values differ; first: channel %zu "
                 "y %zu x %zu: gpu %.9g vs cpu %.9g", run, i, im[i].width, im[i].height, bad,
                 HW3, first / HW, first % HW / (size_t)info.input_width,
                 first % HW % (size_t)info.input_width, got[first], ref[(size_t)i * HW3 + first]);
        }
        bad_in += bad;
    }
    /* rendering: byte for byte gc_render of the GPU's own cams */
    size_t bad_px = 0;
    int guards = 1, skipped = 1, max_diff = 0;
    for (int32_t i = 0; i < n; i++) {
        if (gc_render(cams + (size_t)i * hw, info.cam_width, info.cam_height, &im[i], map, alpha,
                      ref_h, len[i], ref_o, len[i]) != GC_OK) {
            FAIL("  %-12s gc_render image %d", run, i);
            goto done;
        }
        for (size_t k = 0; k < len[i]; k++) {
            int dh = hms[i] ? abs((int)hm[i][k] - (int)ref_h[k]) : 0;
            int dov = ovs[i] ? abs((int)ov[i][k] - (int)ref_o[k]) : 0;
            bad_px += (dh != 0) + (dov != 0);
            max_diff = dh > max_diff ? dh : max_diff;
            max_diff = dov > max_diff ? dov : max_diff;
            skipped &= (ovs[i] || ov[i][k] == GUARD_BYTE) && (hms[i] || hm[i][k] == GUARD_BYTE);
        }
        for (size_t g = 0; g < GUARD; g++)
            guards &= hm[i][len[i] + g] == GUARD_BYTE && ov[i][len[i] + g] == GUARD_BYTE;
    }
    if (bad_px || !guards || !skipped)
        FAIL("  %-12s render: %zu bytes differ (max %d), guards %s, skipped overlay %s", run,
             bad_px, max_diff, guards ? "intact" : "OVERWRITTEN", skipped ? "untouched" : "WRITTEN");
    /* the host path on the GPU: same input bits, so the same results */
    if (gc_explain_render(host, im, n, NULL, hres, hcams, hw * n, map, alpha, NULL, NULL, NULL) !=
        GC_OK) {
        FAIL("  %-12s host-path explain_render: %s", run, gc_last_error(host));
        goto done;
    }
    double cam_err = 0.0;
    int same_class = 1;
    for (int32_t i = 0; i < n; i++)
        same_class &= res[i].class_id == hres[i].class_id;
    for (size_t k = 0; k < hw * n; k++)
        cam_err = fmax(cam_err, fabs((double)cams[k] - hcams[k]));
    if (!same_class || cam_err > TOL_HOST_PATH)
        FAIL("  %-12s vs the host path: classes %s, max cam difference %.3g (<= %.0e)", run,
             same_class ? "equal" : "DIFFER", cam_err, TOL_HOST_PATH);
    printf("  %-12s %d image(s)%s%s, colormap %d alpha %.2f: %zu input values differ, %zu "
           "rendered bytes differ, cams vs host path %.3g%s\n", run, n, split ? " in halves" : "",
           first_half_bare ? " (first half's outputs NULL)" : "", (int)map, alpha, bad_in, bad_px,
           cam_err, bad_in || bad_px ? "  FAIL" : "");
done:
    for (int32_t i = 0; i < n; i++)
        free(ov[i]), free(hm[i]);
    free(ref_o), free(ref_h), free(ref), free(got), free(cams), free(hcams), free(res), free(hres);
}

/* gc_profile.device_bytes, -1 when it cannot be read. */
static long long device_bytes(gc_context *ctx)
{
    gc_profile pr;
    return gc_profile_get(ctx, &pr) == GC_OK ? (long long)pr.device_bytes : -1;
}

/* The GPU context really took the GPU image path (else the checks above compared the host
 * code with itself): its staging and render buffers (counted in device_bytes only on that
 * path, allocated at its first gc_explain / gc_explain_render) make it hold more device
 * memory than before its batches and than the host-path twin, which holds what it held. */
static void check_gpu_path(const char *name, gc_context *gpu, gc_context *host,
                           long long gpu_before, long long host_before)
{
    if (cpu_as_gpu) /* CPU contexts: no device memory at all */
        return;
    const long long g = device_bytes(gpu), h = device_bytes(host);
    if (!(g > gpu_before && g > h && h == host_before))
        FAIL("  %-12s GPU image path: device_bytes %lld (before its batches %lld) vs the "
             "host path's %lld (before %lld): want the GPU's larger and grown, the host "
             "path's unchanged", name, g, gpu_before, h, host_before);
    else
        printf("  %-12s GPU image path taken: device %.1f MiB (%.1f before its batches), "
               "host path %.1f MiB\n", name, g / 1048576.0, gpu_before / 1048576.0,
               h / 1048576.0);
}

/* The images of `sz` in batches of up to 8 through one configuration. */
static void run_config(const char *name, gc_context *cpu, gc_context *gpu, gc_context *host,
                       const sizes *sz, int32_t count)
{
    gc_image *im = malloc(sizeof(gc_image) * (size_t)count);
    for (int32_t i = 0; i < count; i++)
        im[i] = synth(sz[i].w, sz[i].h, sz[i].pad, (uint32_t)i + 1);
    static const float alphas[] = {0.4f, 0.5f, 0.25f, 1.0f, 0.0f, 0.7f};
    int batch = 0;
    for (int32_t first = 0; first < count; batch++) {
        /* batches of 8, 1, 5, 8, ...: every batch size path, images in new company */
        int32_t n = batch % 3 == 0 ? 8 : batch % 3 == 1 ? 1 : 5;
        n = n < count - first ? n : count - first;
        char run[48];
        snprintf(run, sizeof run, "%s b%d", name, batch);
        check_batch(run, cpu, gpu, host, im + first, n, (gc_colormap)(batch % 5),
                    alphas[batch % 6], batch % 4 == 3);
        first += n;
    }
    for (int32_t i = 0; i < count; i++)
        free((void *)im[i].data);
    free(im);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpu_preprocess GOLDEN [--cpu-as-gpu]\n");
        return 2;
    }
    cpu_as_gpu = argc > 2 && strcmp(argv[2], "--cpu-as-gpu") == 0;
    const char *pipe = getenv("GC_RENDER_PIPELINE");
    halves = !cpu_as_gpu && pipe && !strcmp(pipe, "1");
    /* the GPU contexts must take the GPU image path: the switch only for the host twins */
    unsetenv("GC_CUDA_HOST_PREPROCESS");
    golden_case gcase;
    if (!golden_open(argv[1], &gcase))
        return 1;
    const st_file *gf = &gcase.golden;
    base = gc_options_default();
    base.weights_path = gcase.weights;
    base.arch = *golden_meta(gf, "arch") ? golden_meta(gf, "arch") : NULL;
    const int32_t W = atoi(golden_meta(gf, "input_w")), H = atoi(golden_meta(gf, "input_h"));
    printf("%s: network %dx%d (stretch, torch) and %dx%d (crop, caffe)\n", argv[1], W, H,
           W - 24 > 8 ? W - 24 : W, H + 8);

    /* stretch + torch at the golden's size; the host-path twin made with the switch set */
    gc_context *gpu = make("stretch", GC_BACKEND_CUDA, GC_PREPROCESS_TORCH, GC_RESIZE_STRETCH, W,
                           H, 0);
    gc_context *cpu = NULL, *host = NULL, *gpu_b = NULL, *cpu_b = NULL, *host_b = NULL;
    if (!gpu)
        goto out;
    unprofiled = gpu;
    setenv("GC_CUDA_HOST_PREPROCESS", "1", 1);
    host = make("stretch/host", GC_BACKEND_CUDA, GC_PREPROCESS_TORCH, GC_RESIZE_STRETCH, W, H, 0);
    unsetenv("GC_CUDA_HOST_PREPROCESS");
    cpu = make("stretch/cpu", GC_BACKEND_CPU, GC_PREPROCESS_TORCH, GC_RESIZE_STRETCH, W, H, 0);
    if (!host || !cpu)
        goto out;
    const sizes a[] = {
        {1, 1, 0},          {1, 7, 1},          {9, 1, 2},          {3, 3, 0},
        {37, 23, 5},        {W, H, 0},          {W + 1, H - 1, 3},  {2 * W + 3, 2 * H + 1, 7},
        {5 * W, 3 * H, 1},  {W - 5, H + 20, 0}, {640, 480, 0},      {1001, 77, 4},
        {77, 1001, 2},      {W / 2, H / 3, 1},  {3 * W - 1, H, 0},  {W, 4 * H + 3, 9},
        {500, 375, 0},      {2 * W, 2 * H, 0},  {W - 1, H - 1, 1},  {123, 45, 0},
        {3000, 2000, 1},    {64, 64, 0},        {7, 300, 3},        {300, 7, 0},
    };
    long long gpu_before = device_bytes(gpu), host_before = device_bytes(host);
    run_config("stretch", cpu, gpu, host, a, (int32_t)(sizeof a / sizeof a[0]));
    check_gpu_path("stretch", gpu, host, gpu_before, host_before);

    /* crop + caffe at another size (W < H), profiling on */
    const int32_t W2 = W - 24 > 8 ? W - 24 : W, H2 = H + 8;
    gpu_b = make("crop", GC_BACKEND_CUDA, GC_PREPROCESS_CAFFE, GC_RESIZE_CROP, W2, H2, 1);
    setenv("GC_CUDA_HOST_PREPROCESS", "1", 1);
    host_b = gpu_b ? make("crop/host", GC_BACKEND_CUDA, GC_PREPROCESS_CAFFE, GC_RESIZE_CROP, W2,
                          H2, 0)
                   : NULL;
    unsetenv("GC_CUDA_HOST_PREPROCESS");
    cpu_b = make("crop/cpu", GC_BACKEND_CPU, GC_PREPROCESS_CAFFE, GC_RESIZE_CROP, W2, H2, 0);
    if (!gpu_b || !host_b || !cpu_b)
        goto out;
    const sizes b[] = {
        {1, 1, 0},     {2, 9, 0},       {37, 23, 5},   {W2, H2, 0},    {W2 * 3, H2, 2},
        {W2, H2 * 3, 1}, {1001, 77, 4}, {77, 1001, 2}, {640, 480, 0},  {W2 - 3, H2 - 5, 0},
        {2999, 2001, 3}, {W2 + 9, H2 + 1, 0}, {5, 5, 11},
    };
    gpu_before = device_bytes(gpu_b), host_before = device_bytes(host_b);
    run_config("crop", cpu_b, gpu_b, host_b, b, (int32_t)(sizeof b / sizeof b[0]));
    check_gpu_path("crop", gpu_b, host_b, gpu_before, host_before);
    gc_profile pr;
    if (gc_profile_get(gpu_b, &pr) != GC_OK ||
        !(pr.preprocess_ms > 0.0 && (cpu_as_gpu || (pr.upload_ms > 0.0 && pr.device_bytes > 0))))
        FAIL("  profile: preprocess %.3f ms, upload %.3f ms, device %lld bytes (want > 0)",
             pr.preprocess_ms, pr.upload_ms, (long long)pr.device_bytes);
    else
        printf("  profile: preprocess %.3f ms, upload %.3f ms (last batch, %d images), device "
               "%.1f MiB\n", pr.preprocess_ms, pr.upload_ms, pr.images,
               pr.device_bytes / 1048576.0);
out:
    gc_context_destroy(gpu);
    gc_context_destroy(host);
    gc_context_destroy(cpu);
    gc_context_destroy(gpu_b);
    gc_context_destroy(host_b);
    gc_context_destroy(cpu_b);
    golden_close(&gcase);
    if (no_device) {
        printf("skipped: no usable CUDA device\n");
        return 77;
    }
    printf("%s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
