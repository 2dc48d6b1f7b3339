/*
 * test_api.c — the public API's contract, on the committed golden model.
 *
 *     test_api tests/golden/tv_vgg16_small.safetensors
 *
 * tv_vgg16_small is VGG16 at 1/8 width in torchvision's layout: 224x224 input, 10 classes,
 * 13 convs and 5 pools, no metadata. Checked: status and version strings, option defaults,
 * model info, layer names and aliases, argument and buffer-size errors, intermediate tensor
 * queries, images of mixed sizes in one batch, independence of an image's results from the
 * rest of its batch (up to float32 rounding), torch and caffe preprocessing against the formulas, cam
 * normalization, unsupported backend / precision requests, that a failed call does not
 * leave gc_tensor_get reading a mix of two batches, profiling, the device-pointer call on the
 * CPU, gc_explain_render against gc_explain + gc_render, and the guided methods' tensors and
 * saliency rendering. Guard values after every output buffer.
 * Prints one line per check; exit 0 when all pass, 1 otherwise. Public API only.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcam.h"

#define GUARD 16
#define GUARD_VALUE -12345.0f

/* tv_vgg16_small */
#define NET 224
#define CLASSES 10
#define CAM 14
#define CAM_HW (CAM * CAM)
#define CAM_K 64
#define N_LAYERS 18 /* 13 convs + 5 pools */

/* Tolerances (absolute), against formulas evaluated in double:
 * torch preprocessing (x/255 - mean)/std is three float32 operations on values up to ~2.6,
 * so a few float32 ulps (~5e-7); the required bound is 1e-6. */
#define TOL_TORCH_PREPROCESS 1e-6
/* caffe preprocessing x - mean on values up to 255: float32 rounding of the mean constant and
 * of the difference, ~1e-5. */
#define TOL_CAFFE_PREPROCESS 1e-4
/* a max-normalized cam against raw/max(raw) recomputed here in float32: one division. */
#define TOL_NORM_MAX 1e-6
/* Everything else is exact: statuses, sizes, and bit-for-bit comparisons where the same
 * image goes through the same computation. */

static int failures, checks;
static const char *g_weights;

static void check(int ok, const char *name, const char *fmt, ...)
{
    char detail[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("%s  %-34s %s\n", ok ? "PASS" : "FAIL", name, detail);
    checks++;
    failures += !ok;
}

/* ---------------------------------------------------------------- helpers */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

typedef struct image_buf {
    gc_image img;
    uint8_t *pixels;
} image_buf;

/* A w x h RGB image with `pad` bytes after each row: smooth gradients, a bright blob at a
 * seed-dependent place, and a little noise, so that cams have structure. */
static image_buf make_image(int32_t w, int32_t h, int32_t pad, uint32_t seed)
{
    image_buf b;
    b.img.width = w;
    b.img.height = h;
    b.img.stride = 3 * w + pad;
    b.pixels = xmalloc((size_t)b.img.stride * h);
    memset(b.pixels, 0xAB, (size_t)b.img.stride * h);
    uint32_t s = seed * 747796405u + 2891336453u;
    double cx = (0.2 + 0.6 * (seed % 7) / 6.0) * w, cy = (0.3 + 0.4 * (seed % 5) / 4.0) * h;
    double r = 0.2 * (w < h ? w : h) + 1.0;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            uint8_t *px = b.pixels + (size_t)y * b.img.stride + 3 * (size_t)x;
            double d2 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (r * r);
            double blob = 180.0 * exp(-d2);
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                double v = 40.0 +
                           120.0 * ((c == 0   ? x
                                     : c == 1 ? y
                                              : x + y) /
                                    (double)(w + h)) +
                           blob * (c == (int)(seed % 3) ? 1.0 : 0.3) + (double)(s >> 28);
                px[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    b.img.data = b.pixels;
    return b;
}

static gc_context *create(const gc_options *opt)
{
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(opt, &ctx);
    if (st != GC_OK) {
        fprintf(stderr, "gc_context_create(%s): %s: %s\n", opt->weights_path, gc_status_string(st),
                gc_last_error(ctx));
        exit(1);
    }
    return ctx;
}

static gc_options base_options(void)
{
    gc_options opt = gc_options_default();
    opt.weights_path = g_weights;
    return opt;
}

static float *guarded_floats(size_t n)
{
    float *p = xmalloc(sizeof(float) * (n + GUARD));
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    for (size_t i = 0; i < GUARD; i++)
        p[n + i] = GUARD_VALUE;
    return p;
}

static int guard_intact(const float *p, size_t n)
{
    for (size_t i = 0; i < GUARD; i++)
        if (p[n + i] != GUARD_VALUE)
            return 0;
    return 1;
}

/* One explained batch: results, cams, and each image's logits read back. */
typedef struct batch_out {
    gc_result res[8];
    float cams[8 * CAM_HW];
    float logits[8 * CLASSES];
} batch_out;

static gc_status explain_images(gc_context *ctx, const gc_image *imgs, int32_t n,
                                const int32_t *classes, batch_out *out)
{
    memset(out, 0, sizeof *out);
    gc_status st = gc_explain(ctx, imgs, n, classes, out->res, out->cams, (size_t)n * CAM_HW);
    for (int32_t i = 0; st == GC_OK && i < n; i++)
        st = gc_tensor_get(ctx, GC_TENSOR_LOGITS, i, out->logits + i * CLASSES, CLASSES, NULL);
    return st;
}

static int contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* ---------------------------------------------------------------- checks */

static void check_status_strings(void)
{
    const char *seen[12];
    int ok = 1;
    char bad[256] = "";
    for (int s = 0; s <= GC_ERR_NOT_AVAILABLE; s++) {
        const char *str = gc_status_string((gc_status)s);
        seen[s] = str;
        if (!str || !*str || strcmp(str, "unknown status") == 0) {
            ok = 0;
            snprintf(bad, sizeof bad, "status %d gives '%s'", s, str ? str : "(null)");
            break;
        }
        for (int t = 0; t < s; t++)
            if (strcmp(seen[t], str) == 0) {
                ok = 0;
                snprintf(bad, sizeof bad, "statuses %d and %d both '%s'", t, s, str);
            }
    }
    const int unknown[] = {GC_ERR_NOT_AVAILABLE + 1, 99, 1 << 20};
    for (size_t i = 0; ok && i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *str = gc_status_string((gc_status)unknown[i]);
        if (!str || strcmp(str, "unknown status") != 0) {
            ok = 0;
            snprintf(bad, sizeof bad, "unknown code %d gives '%s'", unknown[i],
                     str ? str : "(null)");
        }
    }
    check(ok, "status_strings", "%s",
          ok ? "12 distinct names; unknown codes 'unknown status'" : bad);
}

/* the command's --precision words, in enum order; anything else "?" */
static void check_precision_names(void)
{
    static const char *const want[] = {"auto", "fp32", "tf32", "bf16", "fp16"};
    int ok = 1;
    for (int p = GC_PRECISION_AUTO; p <= GC_PRECISION_FP16; p++)
        ok &= strcmp(gc_precision_name((gc_precision)p), want[p]) == 0;
    ok &= strcmp(gc_precision_name((gc_precision)(GC_PRECISION_FP16 + 1)), "?") == 0 &&
          strcmp(gc_precision_name((gc_precision)-1), "?") == 0;
    check(ok, "precision_names", "bf16 '%s', past the end '%s'",
          gc_precision_name(GC_PRECISION_BF16), gc_precision_name((gc_precision)5));
}

static void check_version(void)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", GRADCAM_VERSION_MAJOR, GRADCAM_VERSION_MINOR,
             GRADCAM_VERSION_PATCH);
    const char *got = gc_version_string();
    check(got && strcmp(got, want) == 0, "version_string", "'%s' (header %s)", got ? got : "(null)",
          want);
}

static void check_options_default(void)
{
    gc_options o = gc_options_default();
    int ok = o.weights_path == NULL && o.arch == NULL && o.layer == NULL &&
             o.backend == GC_BACKEND_AUTO && o.device == 0 && o.precision == GC_PRECISION_AUTO &&
             o.score == GC_SCORE_LOGIT && o.norm == GC_NORM_MAX &&
             o.preprocess == GC_PREPROCESS_AUTO && o.resize == GC_RESIZE_STRETCH &&
             o.input_width == 0 && o.input_height == 0 && o.max_batch == 8 && o.threads == 0;
    check(ok, "options_default",
          "backend %d precision %d score %d norm %d preprocess %d resize %d input %dx%d "
          "max_batch %d threads %d device %d",
          o.backend, o.precision, o.score, o.norm, o.preprocess, o.resize, o.input_width,
          o.input_height, o.max_batch, o.threads, o.device);
}

/* A host tensor holding NaN or an infinity is refused, naming the image: the ReLUs would
 * otherwise make any such input a plausible answer. */
static void check_nonfinite_tensor(gc_context *ctx)
{
    const size_t per = (size_t)3 * NET * NET;
    float *x = xmalloc(sizeof(float) * 2 * per);
    gc_result res[2];
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    int ok = 1;
    char why[1200] = "";
    for (int k = 0; k < 3 && ok; k++) {
        for (size_t i = 0; i < 2 * per; i++)
            x[i] = 0.25f * (float)(i % 7) - 0.5f;
        x[per + 2 * NET * NET + 17] = bad[k]; /* image 1, blue channel */
        gc_status s1 = gc_explain_tensor(ctx, x, 2, NULL, res, NULL, 0);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", gc_last_error(ctx));
        gc_status s2 = gc_predict_tensor(ctx, x, 2, res);
        x[per + 2 * NET * NET + 17] = 1.0f;
        gc_status s3 = gc_explain_tensor(ctx, x, 2, NULL, res, NULL, 0);
        if (s1 != GC_ERR_INVALID_ARGUMENT || s2 != GC_ERR_INVALID_ARGUMENT || s3 != GC_OK ||
            !contains(msg, "image 1") || !contains(msg, "NaN")) {
            ok = 0;
            snprintf(why, sizeof why, "value %g: explain %s, predict %s, finite again %s: %s",
                     (double)bad[k], gc_status_string(s1), gc_status_string(s2),
                     gc_status_string(s3), msg);
        }
    }
    check(ok, "nonfinite_tensor_refused", "%s", ok ? "NaN, +Inf, -Inf in image 1" : why);
    free(x);
}

/* The test context asked for GC_BACKEND_AUTO and runs on the CPU (no GPU here, or no CUDA in
 * this build): gc_backend_note must say why. */
static void check_backend_note(gc_context *ctx)
{
    const char *note = gc_backend_note(ctx);
    check(note && strncmp(note, "no GPU used: ", 13) == 0, "backend_note_auto_on_cpu", "%s",
          note ? note : "(null)");
}

static void check_null_handling(gc_context *ctx)
{
    gc_model_info info;
    gc_result res;
    float f;
    image_buf a = make_image(8, 8, 0, 1);
    gc_status s1 = gc_model_info_get(NULL, &info);
    gc_status s2 = gc_model_info_get(ctx, NULL);
    gc_status s3 = gc_explain(NULL, &a.img, 1, NULL, &res, NULL, 0);
    gc_status s4 = gc_explain(ctx, NULL, 1, NULL, &res, NULL, 0);
    gc_status s5 = gc_explain(ctx, &a.img, 1, NULL, NULL, NULL, 0);
    gc_status s6 = gc_tensor_get(NULL, GC_TENSOR_LOGITS, 0, &f, 1, NULL);
    gc_status s7 = gc_explain_tensor(ctx, NULL, 1, NULL, &res, NULL, 0);
    gc_status s8 = gc_preprocess_images(NULL, &a.img, 1, &f, 1);
    gc_status s9 = gc_preprocess_images(ctx, &a.img, 1, NULL, 0); /* was BUFFER_TOO_SMALL */
    /* n past max_batch (8) with arrays of max_batch entries (on the heap: ASan sees a read
     * past them): refused before any entry is read (it read all n first) */
    gc_image *nine = xmalloc(sizeof *nine * 9);
    gc_result *res9 = xmalloc(sizeof *res9 * 9);
    uint8_t **eight = xmalloc(sizeof *eight * 8);
    size_t *lens8 = xmalloc(sizeof *lens8 * 8);
    for (int i = 0; i < 9; i++)
        nine[i] = a.img;
    for (int i = 0; i < 8; i++)
        eight[i] = NULL, lens8[i] = 0;
    gc_status s10 = gc_explain_render(ctx, nine, 9, NULL, res9, NULL, 0, GC_COLORMAP_JET, 0.4f,
                                      eight, NULL, lens8);
    free(nine), free(res9), free(eight), free(lens8);
    const char *e = gc_last_error(NULL);
    int ok = s1 == GC_ERR_INVALID_ARGUMENT && s2 == GC_ERR_INVALID_ARGUMENT &&
             s3 == GC_ERR_INVALID_ARGUMENT && s4 == GC_ERR_INVALID_ARGUMENT &&
             s5 == GC_ERR_INVALID_ARGUMENT && s6 == GC_ERR_INVALID_ARGUMENT &&
             s7 == GC_ERR_INVALID_ARGUMENT && s8 == GC_ERR_INVALID_ARGUMENT &&
             s9 == GC_ERR_INVALID_ARGUMENT && s10 == GC_ERR_INVALID_ARGUMENT && e && *e &&
             gc_layer_name(NULL, 0) == NULL && gc_class_label(NULL, 0) == NULL;
    check(ok, "null_arguments",
          "statuses %d %d %d %d %d %d %d %d %d %d (want 1); last_error(NULL) '%s'", s1, s2, s3,
          s4, s5, s6, s7, s8, s9, s10, e ? e : "(null)");
    gc_context_destroy(NULL);
    check(1, "destroy_null", "gc_context_destroy(NULL) returned");
    free(a.pixels);
}

static void check_model_info(gc_context *ctx)
{
    gc_model_info info;
    gc_status st = gc_model_info_get(ctx, &info);
    int ok = st == GC_OK && info.num_classes == CLASSES && info.input_width == NET &&
             info.input_height == NET && info.num_conv_layers == 13 && info.cam_width == CAM &&
             info.cam_height == CAM && info.cam_channels == CAM_K && info.max_batch == 8 &&
             info.preprocess == GC_PREPROCESS_TORCH && info.backend == GC_BACKEND_CPU &&
             info.precision == GC_PRECISION_FP32 && info.target_layer &&
             strcmp(info.target_layer, "block5_conv3") == 0 && info.arch &&
             strncmp(info.arch, "8,8,M", 5) == 0 &&
             strcmp(info.arch, "8,8,M,16,16,M,32,32,32,M,64,64,64,M,64,64,64,M") == 0 &&
             info.head && strcmp(info.head, "torchvision") == 0;
    check(ok, "model_info",
          "%s: classes %d input %dx%d convs %d cam %dx%dx%d max_batch %d preprocess %d "
          "backend %d precision %d layer %s head %s arch %s",
          gc_status_string(st), info.num_classes, info.input_width, info.input_height,
          info.num_conv_layers, info.cam_channels, info.cam_height, info.cam_width, info.max_batch,
          info.preprocess, info.backend, info.precision,
          info.target_layer ? info.target_layer : "(null)", info.head ? info.head : "(null)",
          info.arch ? info.arch : "(null)");
    check(gc_class_label(ctx, 0) == NULL && gc_class_label(ctx, -1) == NULL,
          "class_label_without_metadata", "NULL for 0 and -1");
}

static void check_layer_names(gc_context *ctx)
{
    int32_t count = 0;
    while (count < 1000 && gc_layer_name(ctx, count))
        count++;
    const char *first = gc_layer_name(ctx, 0), *last = gc_layer_name(ctx, count - 1);
    int ok = count == N_LAYERS && first && strcmp(first, "block1_conv1") == 0 && last &&
             strcmp(last, "block5_pool") == 0 && gc_layer_name(ctx, -1) == NULL &&
             gc_layer_name(ctx, count) == NULL;
    check(ok, "layer_name_enumeration", "%d names, first %s, last %s, NULL past the end", count,
          first ? first : "(null)", last ? last : "(null)");

    /* every enumerated name is a usable target whose canonical name is itself */
    int all = 1;
    char bad[256] = "";
    for (int32_t i = 0; i < count; i++) {
        gc_options opt = base_options();
        opt.layer = gc_layer_name(ctx, i);
        opt.max_batch = 1;
        gc_context *c = NULL;
        gc_status st = gc_context_create(&opt, &c);
        gc_model_info info;
        if (st != GC_OK || gc_model_info_get(c, &info) != GC_OK ||
            strcmp(info.target_layer, opt.layer) != 0) {
            all = 0;
            snprintf(bad, sizeof bad, "%s: %s %s", opt.layer, gc_status_string(st),
                     gc_last_error(c));
        }
        gc_context_destroy(c);
    }
    check(all, "layer_names_are_targets", "%s",
          all ? "each name creates a context targeting it" : bad);
}

static void check_unknown_layer(void)
{
    gc_options opt = base_options();
    opt.layer = "block9_conv9";
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&opt, &ctx);
    const char *m = ctx ? gc_last_error(ctx) : NULL;
    int ok = st == GC_ERR_LAYER && contains(m, "block9_conv9") && contains(m, "block1_conv1") &&
             contains(m, "block3_conv3") && contains(m, "block5_pool");
    check(ok, "unknown_layer_lists_names", "%s: %s", gc_status_string(st), m ? m : "(no ctx)");
    gc_context_destroy(ctx);

    const char *bad[] = {"features.31", "features.-1", "features.29x", "features.", "Block1_conv1"};
    int all = 1;
    char why[256] = "";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        opt.layer = bad[i];
        ctx = NULL;
        st = gc_context_create(&opt, &ctx);
        if (st != GC_ERR_LAYER || !ctx) {
            all = 0;
            snprintf(why, sizeof why, "'%s' gives %s", bad[i], gc_status_string(st));
        }
        gc_context_destroy(ctx);
    }
    check(all, "bad_layer_names_rejected", "%s",
          all ? "features.31, features.-1, features.29x, features., Block1_conv1" : why);
}

static void check_aliases(const image_buf *img)
{
    /* torchvision VGG16 without BN: conv N, its ReLU N+1; pools at 4, 9, 16, 23, 30 */
    static const struct {
        const char *alias, *canonical;
        int cam;
    } map[] = {
        {"features.29", "block5_conv3", 14}, {"features.28", "block5_conv3_preact", 14},
        {"features.30", "block5_pool", 7},   {"features.0", "block1_conv1_preact", 224},
        {"features.1", "block1_conv1", 224}, {"features.3", "block1_conv2", 224},
        {"features.4", "block1_pool", 112},  {"features.6", "block2_conv1", 112},
        {"features.23", "block4_pool", 14},  {"features.27", "block5_conv2", 14},
    };
    int all = 1;
    char why[512] = "";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        gc_options opt = base_options();
        opt.layer = map[i].alias;
        opt.max_batch = 1;
        gc_context *c = NULL;
        gc_status st = gc_context_create(&opt, &c);
        gc_model_info info;
        if (st != GC_OK || gc_model_info_get(c, &info) != GC_OK ||
            strcmp(info.target_layer, map[i].canonical) != 0 || info.cam_width != map[i].cam) {
            all = 0;
            snprintf(why, sizeof why, "%s -> %s (want %s, cam %d): %s", map[i].alias,
                     st == GC_OK ? info.target_layer : gc_status_string(st), map[i].canonical,
                     map[i].cam, gc_last_error(c));
        }
        gc_context_destroy(c);
        /* the canonical name given back as options.layer: the same layer (the "_preact"
         * names were refused before session 16) */
        opt.layer = map[i].canonical;
        c = NULL;
        st = gc_context_create(&opt, &c);
        if (st != GC_OK || gc_model_info_get(c, &info) != GC_OK ||
            strcmp(info.target_layer, map[i].canonical) != 0) {
            all = 0;
            snprintf(why, sizeof why, "%s given back -> %s: %s", map[i].canonical,
                     st == GC_OK ? info.target_layer : gc_status_string(st), gc_last_error(c));
        }
        gc_context_destroy(c);
    }
    gc_options pool = base_options();
    pool.layer = "block5_pool_preact"; /* a pool has no activation before a ReLU */
    gc_context *pc = NULL;
    if (gc_context_create(&pool, &pc) != GC_ERR_LAYER) {
        all = 0;
        snprintf(why, sizeof why, "block5_pool_preact accepted");
    }
    gc_context_destroy(pc);
    check(all, "features_aliases", "%s",
          all ? "10 aliases map to their canonical layers, which name them back" : why);

    /* the alias and the canonical name give the very same cam */
    gc_options opt = base_options();
    opt.max_batch = 1;
    opt.layer = "features.29";
    gc_context *a = create(&opt);
    opt.layer = "block5_conv3";
    gc_context *b = create(&opt);
    batch_out *oa = xmalloc(sizeof *oa), *ob = xmalloc(sizeof *ob);
    gc_status sa = explain_images(a, &img->img, 1, NULL, oa);
    gc_status sb = explain_images(b, &img->img, 1, NULL, ob);
    int same = sa == GC_OK && sb == GC_OK &&
               memcmp(oa->cams, ob->cams, sizeof(float) * CAM_HW) == 0 &&
               memcmp(oa->logits, ob->logits, sizeof(float) * CLASSES) == 0;
    check(same, "alias_same_cam", "features.29 vs block5_conv3: %s",
          same ? "bit-identical" : "differ");
    free(oa);
    free(ob);
    gc_context_destroy(a);
    gc_context_destroy(b);
}

static void check_tensor_get_before_batch(gc_context *ctx)
{
    static const struct {
        gc_tensor t;
        size_t count;
    } want[] = {
        {GC_TENSOR_INPUT, (size_t)3 * NET * NET},
        {GC_TENSOR_LOGITS, CLASSES},
        {GC_TENSOR_ACTIVATION, (size_t)CAM_K * CAM_HW},
        {GC_TENSOR_GRADIENT, (size_t)CAM_K * CAM_HW},
        {GC_TENSOR_WEIGHTS, CAM_K},
        {GC_TENSOR_CAM_RAW, CAM_HW},
    };
    int ok = 1;
    char why[256] = "";
    float buf[3 * NET * NET];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t count = 0;
        gc_status s1 = gc_tensor_get(ctx, want[i].t, 0, NULL, 0, &count);
        gc_status s2 = gc_tensor_get(ctx, want[i].t, 0, buf, sizeof buf / sizeof buf[0], NULL);
        if (s1 != GC_OK || count != want[i].count || s2 != GC_ERR_NOT_AVAILABLE) {
            ok = 0;
            snprintf(why, sizeof why, "tensor %d: query %s count %zu (want %zu), read %s",
                     want[i].t, gc_status_string(s1), count, want[i].count, gc_status_string(s2));
        }
    }
    check(ok, "tensor_get_before_batch", "%s",
          ok ? "out=NULL gives the counts; reading gives GC_ERR_NOT_AVAILABLE" : why);
}

static void check_batch_limits(gc_context *ctx, const image_buf *img)
{
    gc_image imgs[9];
    for (int i = 0; i < 9; i++)
        imgs[i] = img->img;
    gc_result res[9];
    float *cams = xmalloc(sizeof(float) * 9 * CAM_HW);
    float *x = xmalloc(sizeof(float) * 9 * 3 * NET * NET);
    memset(x, 0, sizeof(float) * 9 * 3 * NET * NET);
    gc_status s[6];
    s[0] = gc_explain(ctx, imgs, 0, NULL, res, cams, 9 * CAM_HW);
    s[1] = gc_explain(ctx, imgs, 9, NULL, res, cams, 9 * CAM_HW);
    s[2] = gc_explain_tensor(ctx, x, 0, NULL, res, cams, 9 * CAM_HW);
    s[3] = gc_explain_tensor(ctx, x, 9, NULL, res, cams, 9 * CAM_HW);
    s[4] = gc_preprocess_images(ctx, imgs, 0, x, (size_t)9 * 3 * NET * NET);
    s[5] = gc_preprocess_images(ctx, imgs, 9, x, (size_t)9 * 3 * NET * NET);
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= s[i] == GC_ERR_INVALID_ARGUMENT;
    check(ok, "batch_size_0_and_over_max", "statuses %d %d %d %d %d %d (want 1): %s", s[0], s[1],
          s[2], s[3], s[4], s[5], gc_last_error(ctx));
    free(cams);
    free(x);
}

static void check_buffers_and_classes(gc_context *ctx, const image_buf *a, const image_buf *b)
{
    gc_image imgs[2] = {a->img, b->img};
    gc_result res[2 + 1];
    float *cams = guarded_floats(2 * CAM_HW);
    for (int i = 0; i < 2 * CAM_HW; i++)
        cams[i] = 7.0f;
    memset(res, 0x5a, sizeof res);
    gc_result res_before[3];
    memcpy(res_before, res, sizeof res);
    gc_status st = gc_explain(ctx, imgs, 2, NULL, res, cams, 2 * CAM_HW - 1);
    int untouched = memcmp(res, res_before, sizeof res) == 0;
    for (int i = 0; i < 2 * CAM_HW; i++)
        untouched &= cams[i] == 7.0f;
    check(st == GC_ERR_BUFFER_TOO_SMALL && untouched && guard_intact(cams, 2 * CAM_HW),
          "cams_buffer_too_small", "%s, outputs %s: %s", gc_status_string(st),
          untouched ? "untouched" : "WRITTEN", gc_last_error(ctx));

    /* still usable after the error; cams NULL with length 0 is allowed */
    st = gc_explain(ctx, imgs, 2, NULL, res, cams, 2 * CAM_HW);
    gc_status st2 = gc_explain(ctx, imgs, 1, NULL, res, NULL, 0);
    check(st == GC_OK && st2 == GC_OK && guard_intact(cams, 2 * CAM_HW) &&
              memcmp(&res[2], &res_before[2], sizeof res[2]) == 0,
          "usable_after_error_and_null_cams", "exact length %s, cams NULL %s, guards %s",
          gc_status_string(st), gc_status_string(st2),
          guard_intact(cams, 2 * CAM_HW) ? "intact" : "OVERWRITTEN");

    const int32_t bad[][2] = {{10, 0}, {0, -2}, {INT32_MAX, 0}, {0, INT32_MIN}};
    int ok = 1;
    char why[512] = "";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st = gc_explain(ctx, imgs, 2, bad[i], res, cams, 2 * CAM_HW);
        if (st != GC_ERR_INVALID_ARGUMENT) {
            ok = 0;
            snprintf(why, sizeof why, "classes {%d,%d}: %s", bad[i][0], bad[i][1],
                     gc_status_string(st));
        }
    }
    check(ok, "class_out_of_range", "%s", ok ? gc_last_error(ctx) : why);

    const int32_t good[2] = {9, -1};
    st = gc_explain(ctx, imgs, 2, good, res, cams, 2 * CAM_HW);
    float logits[CLASSES];
    gc_status st3 = gc_tensor_get(ctx, GC_TENSOR_LOGITS, 1, logits, CLASSES, NULL);
    int top = 0;
    for (int j = 1; j < CLASSES; j++)
        top = logits[j] > logits[top] ? j : top;
    ok = st == GC_OK && st3 == GC_OK && res[0].class_id == 9 && res[1].class_id == top &&
         res[1].top_class[0] == top;
    check(ok, "class_choice", "{9,-1} -> {%d,%d}, argmax of image 1's logits %d: %s",
          res[0].class_id, res[1].class_id, top, gc_status_string(st));
    free(cams);
}

static void check_tensor_get_errors(gc_context *ctx, const image_buf *a)
{
    gc_result res;
    float buf[CAM_K * CAM_HW];
    gc_status s0 = gc_explain(ctx, &a->img, 1, NULL, &res, NULL, 0);
    gc_status s1 = gc_tensor_get(ctx, GC_TENSOR_LOGITS, 1, buf, CLASSES, NULL);
    gc_status s2 = gc_tensor_get(ctx, GC_TENSOR_LOGITS, -1, buf, CLASSES, NULL);
    gc_status s3 = gc_tensor_get(ctx, GC_TENSOR_ACTIVATION, 0, buf, CAM_K * CAM_HW - 1, NULL);
    gc_status s4 = gc_tensor_get(ctx, (gc_tensor)42, 0, buf, CAM_K * CAM_HW, NULL);
    size_t count = 0;
    gc_status s5 = gc_tensor_get(ctx, GC_TENSOR_GRADIENT, 0, buf, CAM_K * CAM_HW, &count);
    int ok = s0 == GC_OK && s1 == GC_ERR_INVALID_ARGUMENT && s2 == GC_ERR_INVALID_ARGUMENT &&
             s3 == GC_ERR_BUFFER_TOO_SMALL && s4 == GC_ERR_INVALID_ARGUMENT && s5 == GC_OK &&
             count == (size_t)CAM_K * CAM_HW;
    check(ok, "tensor_get_errors",
          "image past the batch %d, image -1 %d, short buffer %d, unknown tensor %d, "
          "exact %d (count %zu)",
          s1, s2, s3, s4, s5, count);
}

static void check_bad_images(gc_context *ctx, const image_buf *a)
{
    gc_result res[2];
    float *x = xmalloc(sizeof(float) * 2 * 3 * NET * NET);
    struct {
        const char *what;
        gc_image img;
    } bad[] = {
        {"NULL data", {NULL, 8, 8, 24}},
        {"stride < 3*width", {a->img.data, a->img.width, a->img.height, 3 * a->img.width - 1}},
        {"width 0", {a->img.data, 0, 8, 24}},
        {"height -1", {a->img.data, 8, -1, 24}},
        /* 3 * width wraps to a negative int32: the stride check must not pass */
        {"width 0x40000000, stride 192", {a->img.data, 0x40000000, 1, 192}},
    };
    int ok = 1;
    char why[2048] = "", last[1100] = "";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gc_image imgs[2] = {a->img, bad[i].img};
        gc_status s1 = gc_explain(ctx, imgs, 2, NULL, res, NULL, 0);
        snprintf(last, sizeof last, "%s", gc_last_error(ctx));
        gc_status s2 = gc_preprocess_images(ctx, imgs, 2, x, (size_t)2 * 3 * NET * NET);
        if (s1 != GC_ERR_INVALID_ARGUMENT || s2 != GC_ERR_INVALID_ARGUMENT ||
            !contains(last, "image 1")) {
            ok = 0;
            snprintf(why, sizeof why, "%s: explain %s, preprocess %s: %s", bad[i].what,
                     gc_status_string(s1), gc_status_string(s2), last);
        }
    }
    check(ok, "bad_images_rejected", "%s%s",
          ok ? "NULL data, short stride, width 0, height -1; last: " : "", ok ? last : why);
    free(x);
}

static void check_cam_values(const char *name, const batch_out *o, int32_t n, int minmax)
{
    int ok = 1;
    char why[256] = "";
    for (int32_t i = 0; i < n; i++) {
        const float *c = o->cams + (size_t)i * CAM_HW;
        float lo = c[0], hi = c[0];
        for (int p = 0; p < CAM_HW; p++) {
            if (!(c[p] >= 0.0f && c[p] <= 1.0f)) {
                ok = 0;
                snprintf(why, sizeof why, "image %d: cam[%d] = %g outside [0,1]", i, p, c[p]);
            }
            lo = c[p] < lo ? c[p] : lo;
            hi = c[p] > hi ? c[p] : hi;
        }
        if (minmax && lo != 0.0f) {
            ok = 0;
            snprintf(why, sizeof why, "image %d: min %.9g, want exactly 0", i, lo);
        }
        if (!minmax && !(hi == 1.0f || (hi == 0.0f && o->res[i].cam_max == 0.0f))) {
            ok = 0;
            snprintf(why, sizeof why, "image %d: max %.9g (raw max %g), want exactly 1", i, hi,
                     o->res[i].cam_max);
        }
    }
    check(ok, name, "%s",
          ok ? (minmax ? "in [0,1], min exactly 0" : "in [0,1], max exactly 1") : why);
}

/* Mixed sizes in one batch, results sane, and each image's results as when alone. */
static void check_mixed_batch(gc_context *ctx, const image_buf *imgs3)
{
    gc_image imgs[3] = {imgs3[0].img, imgs3[1].img, imgs3[2].img};
    batch_out *all = xmalloc(sizeof *all), *one = xmalloc(sizeof *one);
    gc_status st = explain_images(ctx, imgs, 3, NULL, all);
    int ok = st == GC_OK;
    char why[512] = "";
    for (int32_t i = 0; ok && i < 3; i++) {
        const gc_result *r = &all->res[i];
        int top = 0;
        for (int j = 1; j < CLASSES; j++)
            top = all->logits[i * CLASSES + j] > all->logits[i * CLASSES + top] ? j : top;
        int distinct = 1;
        for (int t = 0; t < GC_TOPK; t++)
            for (int u = 0; u < t; u++)
                distinct &= r->top_class[t] != r->top_class[u];
        int sorted = 1;
        for (int t = 1; t < GC_TOPK; t++)
            sorted &= r->top_prob[t] <= r->top_prob[t - 1] && r->top_class[t] >= 0 &&
                      r->top_class[t] < CLASSES;
        if (r->class_id != top || r->top_class[0] != top || !isfinite(r->logit) ||
            r->logit != all->logits[i * CLASSES + top] || !(r->prob > 0.0f && r->prob <= 1.0f) ||
            r->score != r->logit || !(r->cam_max >= 0.0f) || !distinct || !sorted) {
            ok = 0;
            snprintf(why, sizeof why,
                     "image %d: class %d (argmax %d) logit %g prob %g score %g "
                     "cam_max %g top5 distinct %d sorted %d",
                     i, r->class_id, top, r->logit, r->prob, r->score, r->cam_max, distinct,
                     sorted);
        }
    }
    check(ok, "mixed_sizes_batch", "%dx%d, %dx%d, %dx%d: %s", imgs[0].width, imgs[0].height,
          imgs[1].width, imgs[1].height, imgs[2].width, imgs[2].height,
          ok ? "classes, logits, probs, top-5 consistent" : why);
    if (st == GC_OK)
        check_cam_values("norm_max_cams", all, 3, 0);

    /* Each image alone, and A as the second of [B, A]: the same class and the same logits
     * and cams up to float32 rounding. Not bit for bit: BLAS kernels may compute a matrix's
     * last rows with another kernel, so an image's rows can round differently in a larger
     * GEMM (measured ~1e-6). The bound is 1e-5 relative for logits, 1e-5 for cams. */
    int same = st == GC_OK;
    double dl = 0, dc = 0;
    for (int32_t i = 0; same && i < 4; i++) {
        const gc_image *im = i < 3 ? &imgs[i] : NULL;
        gc_image ba[2] = {imgs[1], imgs[0]};
        batch_out *o = i < 3 ? one : xmalloc(sizeof *o);
        gc_status s1 = i < 3 ? explain_images(ctx, im, 1, NULL, o)
                             : explain_images(ctx, ba, 2, NULL, o);
        const int j = i < 3 ? i : 0;                  /* which image of [A,B,C] */
        const float *ol = o->logits + (i < 3 ? 0 : CLASSES);
        const float *oc = o->cams + (i < 3 ? 0 : CAM_HW);
        const gc_result *orr = &o->res[i < 3 ? 0 : 1];
        double scale = 0;
        for (int k = 0; k < CLASSES; k++) {
            scale = fmax(scale, fabs(all->logits[j * CLASSES + k]));
            dl = fmax(dl, fabs((double)ol[k] - all->logits[j * CLASSES + k]));
        }
        for (int p = 0; p < CAM_HW; p++)
            dc = fmax(dc, fabs((double)oc[p] - all->cams[(size_t)j * CAM_HW + p]));
        if (s1 != GC_OK || orr->class_id != all->res[j].class_id ||
            dl > 1e-5 * fmax(scale, 1e-6) || dc > 1e-5) {
            same = 0;
            snprintf(why, sizeof why,
                     "image %d %s: %s, class %d vs %d, max |d logit| %.3g, max |d cam| %.3g", j,
                     i < 3 ? "alone" : "as the second of [B, A]", gc_status_string(s1),
                     orr->class_id, all->res[j].class_id, dl, dc);
        }
        if (i == 3)
            free(o);
    }
    check(same, "batch_composition_independent", "%s%s",
          same ? "alone, in [A,B,C] and in [B,A]: same classes; logits and cams within 1e-5"
               : why,
          "");
    if (same)
        printf("      (largest differences: logit %.3g, cam %.3g)\n", dl, dc);
    free(all);
    free(one);
}

static void check_preprocess_torch(gc_context *ctx)
{
    image_buf im = make_image(NET, NET, 7, 11);
    const size_t HW = (size_t)NET * NET;
    float *x = guarded_floats(3 * HW);
    gc_status st = gc_preprocess_images(ctx, &im.img, 1, x, 3 * HW);
    const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
    double maxerr = 0;
    for (int c = 0; st == GC_OK && c < 3; c++)
        for (int y = 0; y < NET; y++)
            for (int xx = 0; xx < NET; xx++) {
                double v = im.pixels[(size_t)y * im.img.stride + 3 * (size_t)xx + c];
                double want = (v / 255.0 - mean[c]) / stdv[c];
                double e = fabs(x[(size_t)c * HW + (size_t)y * NET + xx] - want);
                maxerr = isnan(e) ? INFINITY : e > maxerr ? e : maxerr;
            }
    check(st == GC_OK && maxerr <= TOL_TORCH_PREPROCESS && guard_intact(x, 3 * HW),
          "preprocess_torch", "%s, max error %.3g vs (x/255-mean)/std (bound %g), guards %s",
          gc_status_string(st), maxerr, TOL_TORCH_PREPROCESS,
          guard_intact(x, 3 * HW) ? "intact" : "OVERWRITTEN");

    gc_status small = gc_preprocess_images(ctx, &im.img, 1, x, 3 * HW - 1);
    check(small == GC_ERR_BUFFER_TOO_SMALL, "preprocess_buffer_too_small", "%s: %s",
          gc_status_string(small), gc_last_error(ctx));

    /* what gc_explain feeds the network is exactly this preprocessing */
    gc_result res;
    float *in = guarded_floats(3 * HW);
    gc_status s1 = gc_explain(ctx, &im.img, 1, NULL, &res, NULL, 0);
    gc_status s2 = gc_tensor_get(ctx, GC_TENSOR_INPUT, 0, in, 3 * HW, NULL);
    check(s1 == GC_OK && s2 == GC_OK && memcmp(in, x, sizeof(float) * 3 * HW) == 0 &&
              guard_intact(in, 3 * HW),
          "explain_input_equals_preprocess", "%s / %s", gc_status_string(s1), gc_status_string(s2));
    free(in);
    free(x);
    free(im.pixels);
}

static void check_preprocess_caffe(void)
{
    gc_options opt = base_options();
    opt.preprocess = GC_PREPROCESS_CAFFE;
    opt.max_batch = 1;
    gc_context *ctx = create(&opt);
    gc_model_info info;
    gc_model_info_get(ctx, &info);
    image_buf im = make_image(NET, NET, 0, 12);
    const size_t HW = (size_t)NET * NET;
    float *x = guarded_floats(3 * HW);
    gc_status st = gc_preprocess_images(ctx, &im.img, 1, x, 3 * HW);
    /* the model's channel 0 is blue: B - 103.939, G - 116.779, R - 123.68 */
    const double mean[3] = {103.939, 116.779, 123.68};
    const int rgb_of[3] = {2, 1, 0};
    double maxerr = 0;
    for (int c = 0; st == GC_OK && c < 3; c++)
        for (size_t p = 0; p < HW; p++) {
            double v = im.pixels[3 * p + (size_t)rgb_of[c]];
            double e = fabs(x[(size_t)c * HW + p] - (v - mean[c]));
            maxerr = isnan(e) ? INFINITY : e > maxerr ? e : maxerr;
        }
    check(st == GC_OK && info.preprocess == GC_PREPROCESS_CAFFE && maxerr <= TOL_CAFFE_PREPROCESS &&
              guard_intact(x, 3 * HW),
          "preprocess_caffe", "%s, info.preprocess %d, max error %.3g vs BGR - mean (bound %g)",
          gc_status_string(st), info.preprocess, maxerr, TOL_CAFFE_PREPROCESS);
    free(x);
    free(im.pixels);
    gc_context_destroy(ctx);
}

static void check_norm_minmax(const image_buf *imgs3)
{
    gc_options opt = base_options();
    opt.norm = GC_NORM_MINMAX;
    gc_context *ctx = create(&opt);
    gc_image imgs[3] = {imgs3[0].img, imgs3[1].img, imgs3[2].img};
    batch_out *o = xmalloc(sizeof *o);
    gc_status st = explain_images(ctx, imgs, 3, NULL, o);
    if (st == GC_OK)
        check_cam_values("norm_minmax_cams", o, 3, 1);
    else
        check(0, "norm_minmax_cams", "%s: %s", gc_status_string(st), gc_last_error(ctx));
    free(o);
    gc_context_destroy(ctx);
}

/* The normalized cam is raw / max(raw), and cam_max is that max. */
static void check_norm_max_vs_raw(gc_context *ctx, const image_buf *a)
{
    gc_result res;
    float cam[CAM_HW], raw[CAM_HW];
    gc_status s1 = gc_explain(ctx, &a->img, 1, NULL, &res, cam, CAM_HW);
    gc_status s2 = gc_tensor_get(ctx, GC_TENSOR_CAM_RAW, 0, raw, CAM_HW, NULL);
    float hi = 0.0f;
    for (int p = 0; p < CAM_HW; p++)
        hi = raw[p] > hi ? raw[p] : hi;
    double maxerr = 0;
    for (int p = 0; p < CAM_HW; p++)
        maxerr = fmax(maxerr, fabs((double)cam[p] - (hi > 0 ? raw[p] / hi : 0.0f)));
    check(s1 == GC_OK && s2 == GC_OK && res.cam_max == hi && maxerr <= TOL_NORM_MAX,
          "norm_max_is_raw_over_max", "cam_max %g, max raw %g, max |cam - raw/max| %.3g",
          res.cam_max, hi, maxerr);
}

static void check_unsupported(void)
{
    gc_options opt = base_options();
    opt.backend = GC_BACKEND_CUDA;
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&opt, &ctx);
    const char *m = ctx ? gc_last_error(ctx) : "(no context)";
#if GC_TEST_CPU_ONLY
    check(st == GC_ERR_UNSUPPORTED && ctx && contains(m, "CUDA"), "backend_cuda_unsupported",
          "%s: %s", gc_status_string(st), m);
#else
    /* a CUDA build: fine with a GPU, a clear status without one */
    check(st == GC_OK || st == GC_ERR_UNSUPPORTED || st == GC_ERR_BACKEND, "backend_cuda", "%s: %s",
          gc_status_string(st), m);
#endif
    gc_context_destroy(ctx);

    opt = base_options();
    opt.backend = GC_BACKEND_CPU;
    opt.precision = GC_PRECISION_BF16;
    ctx = NULL;
    st = gc_context_create(&opt, &ctx);
    m = ctx ? gc_last_error(ctx) : "(no context)";
    check(st == GC_ERR_UNSUPPORTED && ctx && contains(m, "precision") && contains(m, "fp32"),
          "cpu_bf16_unsupported", "%s: %s", gc_status_string(st), m);
    gc_context_destroy(ctx);

#if GC_TEST_CPU_ONLY
    opt = base_options();
    opt.precision = GC_PRECISION_BF16; /* AUTO backend = CPU in this build */
    ctx = NULL;
    st = gc_context_create(&opt, &ctx);
    check(st == GC_ERR_UNSUPPORTED && ctx, "auto_backend_bf16_unsupported", "%s: %s",
          gc_status_string(st), ctx ? gc_last_error(ctx) : "(no context)");
    gc_context_destroy(ctx);
#endif

    opt = base_options();
    opt.input_width = 224; /* height missing */
    ctx = NULL;
    st = gc_context_create(&opt, &ctx);
    check(st == GC_ERR_INVALID_ARGUMENT && ctx, "input_width_without_height", "%s: %s",
          gc_status_string(st), ctx ? gc_last_error(ctx) : "(no context)");
    gc_context_destroy(ctx);
}

/* A call that fails leaves no batch (gradcam.h: "On error ... gc_tensor_get has no batch"),
 * whether it failed in its work or in its first checks: never the batch before it, never a
 * mix of two. */
static void check_failed_call_leaves_no_batch(gc_context *ctx, const image_buf *a,
                                              const image_buf *b)
{
    const size_t HW = (size_t)NET * NET;
    float *in_now = xmalloc(sizeof(float) * 3 * HW);
    float logits_now[CLASSES];
    gc_result res[2];
    const int32_t bad_class = CLASSES;
    gc_image bad_second[2] = {b->img, {NULL, 4, 4, 12}};
    uint8_t *ov = xmalloc((size_t)3 * a->img.width * a->img.height);
    uint8_t *const overlays[1] = {ov};
    const size_t lens[1] = {(size_t)3 * a->img.width * a->img.height};
    const char *what[] = {"gc_explain(B, class 10)", "gc_explain([B, NULL image])",
                          "gc_explain(n = 0)", "gc_explain_render(colormap 99)",
                          "gc_predict(NULL images)", "gc_explain_tensor(NULL)"};
    int ok = 1;
    char why[512] = "";
    for (int k = 0; k < 6 && ok; k++) {
        gc_status st = gc_explain(ctx, &a->img, 1, NULL, res, NULL, 0); /* a batch to lose */
        if (st != GC_OK) {
            snprintf(why, sizeof why, "setup: %s", gc_status_string(st));
            ok = 0;
            break;
        }
        switch (k) {
        case 0: st = gc_explain(ctx, &b->img, 1, &bad_class, res, NULL, 0); break;
        case 1: st = gc_explain(ctx, bad_second, 2, NULL, res, NULL, 0); break;
        case 2: st = gc_explain(ctx, &b->img, 0, NULL, res, NULL, 0); break;
        case 3:
            st = gc_explain_render(ctx, &a->img, 1, NULL, res, NULL, 0, (gc_colormap)99, 0.4f,
                                   overlays, NULL, lens);
            break;
        case 4: st = gc_predict(ctx, NULL, 1, res); break;
        default: st = gc_explain_tensor(ctx, NULL, 1, NULL, res, NULL, 0); break;
        }
        gc_status s_in = gc_tensor_get(ctx, GC_TENSOR_INPUT, 0, in_now, 3 * HW, NULL);
        gc_status s_lg = gc_tensor_get(ctx, GC_TENSOR_LOGITS, 0, logits_now, CLASSES, NULL);
        if (st == GC_OK || s_in != GC_ERR_NOT_AVAILABLE || s_lg != GC_ERR_NOT_AVAILABLE) {
            ok = 0;
            snprintf(why, sizeof why, "after a failed %s (%s), gc_tensor_get gives input %s "
                     "and logits %s", what[k], gc_status_string(st), gc_status_string(s_in),
                     gc_status_string(s_lg));
        }
    }
    check(ok, "failed_call_leaves_no_batch", "%s",
          ok ? "six failed calls (in their work and in their first checks): NOT_AVAILABLE"
             : why);
    free(in_now);
    free(ov);
}

/* gc_profile_get: what is always set, the stages when profiling, and a failed call. */
static void check_profile(gc_context *ctx, const image_buf *img)
{
    batch_out out;
    gc_image im = img->img;
    gc_profile p;
    explain_images(ctx, &im, 1, NULL, &out);
    gc_status st = gc_profile_get(ctx, &p);
    int ok = st == GC_OK && p.images == 1 && p.total_ms > 0.0 && p.features_ms == 0.0 &&
             p.preprocess_ms == 0.0 && p.device_bytes == 0 && p.conv_images == 1;
    /* gc_preprocess_images is no batch call: the profile stays */
    float *pre = xmalloc(sizeof(float) * 3 * NET * NET);
    gc_profile same;
    ok &= gc_preprocess_images(ctx, &im, 1, pre, 3 * NET * NET) == GC_OK &&
          gc_profile_get(ctx, &same) == GC_OK && same.images == 1 &&
          same.total_ms == p.total_ms;
    free(pre);
    gc_options opt = base_options();
    opt.profile = 1;
    gc_context *prof = create(&opt);
    gc_profile q;
    explain_images(prof, &im, 1, NULL, &out);
    gc_profile_get(prof, &q);
    const double stages = q.preprocess_ms + q.upload_ms + q.features_ms + q.head_ms +
                          q.backward_ms + q.cam_ms + q.download_ms + q.results_ms;
    ok &= q.images == 1 && q.features_ms > 0.0 && q.backward_ms > 0.0 && q.head_ms > 0.0 &&
          q.cam_ms > 0.0 && q.results_ms > 0.0 && p.results_ms == 0.0 &&
          q.preprocess_ms > 0.0 && stages <= q.total_ms * 1.001 + 1e-3;
    /* each feature layer's time: every layer measured, together within the features stage
     * (which times the same loop); nothing past the last layer, nothing when not profiling */
    int32_t layers = 0;
    double layer_sum = 0.0, layer_min = 1e30;
    while (gc_layer_name(prof, layers)) {
        const double ms = gc_profile_layer_ms(prof, layers++);
        layer_sum += ms;
        layer_min = ms < layer_min ? ms : layer_min;
    }
    ok &= layers > 0 && layer_min >= 0.0 && layer_sum > 0.0 &&
          layer_sum <= q.features_ms * 1.001 + 1e-3 && layer_sum >= 0.5 * q.features_ms &&
          gc_profile_layer_ms(prof, layers) < 0.0 && gc_profile_layer_ms(prof, -1) < 0.0 &&
          gc_profile_layer_ms(ctx, 0) < 0.0 && gc_profile_layer_ms(NULL, 0) < 0.0;
    /* the steps after the features are the CUDA backend's (tests/gpu/test_gpu_features.c) */
    const char *step = "unset";
    ok &= gc_profile_step_ms(prof, 0, &step) < 0.0 && strcmp(step, "unset") == 0 &&
          gc_profile_step_ms(NULL, 0, NULL) < 0.0;
    gc_profile f;
    gc_status bad = gc_explain(prof, &im, 0, NULL, out.res, out.cams, CAM_HW);
    gc_profile_get(prof, &f);
    ok &= bad == GC_ERR_INVALID_ARGUMENT && f.images == 0 && f.conv_images == 0 &&
          f.total_ms == 0.0 &&
          f.features_ms == 0.0 && gc_profile_layer_ms(prof, 0) < 0.0;
    /* a refused device call (the CPU takes no device pointers) also leaves no profile */
    explain_images(prof, &im, 1, NULL, &out);
    float x = 0.0f;
    bad = gc_explain_device(prof, &x, 1, NULL, out.res, out.cams, CAM_HW);
    gc_profile_get(prof, &f);
    ok &= bad == GC_ERR_UNSUPPORTED && f.images == 0;
    ok &= gc_profile_get(NULL, &f) == GC_ERR_INVALID_ARGUMENT &&
          gc_profile_get(prof, NULL) == GC_ERR_INVALID_ARGUMENT;
    gc_context_destroy(prof);
    check(ok, "profile", "plain: %d image(s) in %.2f ms; profiled: features %.2f head %.2f "
          "backward %.2f cam %.3f of %.2f ms; %d layers, %.2f ms together (least %.3f); after "
          "a failed call %d images", p.images, p.total_ms, q.features_ms, q.head_ms,
          q.backward_ms, q.cam_ms, q.total_ms, (int)layers, layer_sum, layer_min, f.images);
}

/* gc_explain_render on the CPU: gc_explain's results and cams, and each image's overlay and
 * heatmap byte for byte gc_render's of that cam; NULL arrays and entries skip outputs;
 * guard bytes after every buffer; bad colormap / alpha refused before any work. */
#define RENDER_GUARD 64
static void check_explain_render(gc_context *ctx, const image_buf *imgs3)
{
    gc_image im[3] = {imgs3[0].img, imgs3[1].img, imgs3[2].img};
    static const struct {
        gc_colormap map;
        float alpha;
    } looks[] = {{GC_COLORMAP_JET, 0.4f}, {GC_COLORMAP_VIRIDIS, 0.75f}, {GC_COLORMAP_MAGMA, 0.0f},
                 {GC_COLORMAP_TURBO, 1.0f}};
    uint8_t *ov[3], *hm[3], *ref_o[3], *ref_h[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        len[i] = (size_t)3 * im[i].width * im[i].height;
        ov[i] = xmalloc(len[i] + RENDER_GUARD);
        hm[i] = xmalloc(len[i] + RENDER_GUARD);
        ref_o[i] = xmalloc(len[i]);
        ref_h[i] = xmalloc(len[i]);
    }
    batch_out a, b;
    int ok = 1, same_results = 1, same_bytes = 1, guards = 1, skipped = 1;
    for (size_t k = 0; k < sizeof looks / sizeof looks[0]; k++) {
        gc_status st = explain_images(ctx, im, 3, NULL, &a);
        for (int i = 0; i < 3; i++) {
            memset(ov[i], 0x5A, len[i] + RENDER_GUARD);
            memset(hm[i], 0x5A, len[i] + RENDER_GUARD);
        }
        /* image 1's overlay is skipped (a NULL entry) */
        uint8_t *ovs[3] = {ov[0], NULL, ov[2]};
        memset(&b, 0, sizeof b);
        gc_status st2 = gc_explain_render(ctx, im, 3, NULL, b.res, b.cams, 3 * CAM_HW,
                                          looks[k].map, looks[k].alpha, ovs, hm, len);
        ok &= st == GC_OK && st2 == GC_OK;
        if (st != GC_OK || st2 != GC_OK)
            break;
        same_results &= memcmp(a.res, b.res, sizeof(gc_result) * 3) == 0 &&
                        memcmp(a.cams, b.cams, sizeof(float) * 3 * CAM_HW) == 0;
        for (int i = 0; i < 3; i++) {
            ok &= gc_render(b.cams + i * CAM_HW, CAM, CAM, &im[i], looks[k].map, looks[k].alpha,
                            ref_h[i], len[i], ref_o[i], len[i]) == GC_OK;
            same_bytes &= memcmp(hm[i], ref_h[i], len[i]) == 0 &&
                          (i == 1 || memcmp(ov[i], ref_o[i], len[i]) == 0);
            for (size_t g = 0; g < RENDER_GUARD; g++)
                guards &= hm[i][len[i] + g] == 0x5A && ov[i][len[i] + g] == 0x5A;
        }
        for (size_t j = 0; j < len[1]; j++)
            skipped &= ov[1][j] == 0x5A;
    }
    /* no cams buffer, no heatmaps: overlays still rendered from the context's own cams */
    for (int i = 0; i < 3; i++)
        memset(ov[i], 0x5A, len[i] + RENDER_GUARD);
    gc_status st = gc_explain_render(ctx, im, 3, NULL, b.res, NULL, 0, GC_COLORMAP_JET, 0.4f, ov,
                                     NULL, len);
    ok &= st == GC_OK;
    for (int i = 0; st == GC_OK && i < 3; i++) {
        ok &= gc_render(a.cams + i * CAM_HW, CAM, CAM, &im[i], GC_COLORMAP_JET, 0.4f, NULL, 0,
                        ref_o[i], len[i]) == GC_OK;
        same_bytes &= memcmp(ov[i], ref_o[i], len[i]) == 0;
    }
    /* neither output: just the explanation */
    ok &= gc_explain_render(ctx, im, 2, NULL, b.res, b.cams, 2 * CAM_HW, GC_COLORMAP_JET, 0.4f,
                            NULL, NULL, NULL) == GC_OK &&
          a.res[0].class_id == b.res[0].class_id && a.res[1].class_id == b.res[1].class_id;
    gc_profile prof;
    ok &= gc_profile_get(ctx, &prof) == GC_OK && prof.images == 2 && prof.total_ms > 0.0;
    /* refused before any work */
    gc_status bad_map = gc_explain_render(ctx, im, 1, NULL, b.res, NULL, 0, (gc_colormap)99, 0.4f,
                                          ov, NULL, len);
    gc_status bad_alpha = gc_explain_render(ctx, im, 1, NULL, b.res, NULL, 0, GC_COLORMAP_JET,
                                            1.5f, ov, NULL, len);
    gc_status bad_nan = gc_explain_render(ctx, im, 1, NULL, b.res, NULL, 0, GC_COLORMAP_JET, NAN,
                                          ov, NULL, len);
    gc_status bad_n = gc_explain_render(ctx, im, 0, NULL, b.res, NULL, 0, GC_COLORMAP_JET, 0.4f,
                                        ov, NULL, len);
    gc_status small = gc_explain_render(ctx, im, 2, NULL, b.res, b.cams, CAM_HW, GC_COLORMAP_JET,
                                        0.4f, ov, NULL, len);
    gc_status no_lens = gc_explain_render(ctx, im, 1, NULL, b.res, NULL, 0, GC_COLORMAP_JET, 0.4f,
                                          ov, NULL, NULL);
    size_t short_lens[3] = {len[0], len[1] - 1, len[2]};
    gc_status short_buf = gc_explain_render(ctx, im, 3, NULL, b.res, NULL, 0, GC_COLORMAP_JET,
                                            0.4f, ov, NULL, short_lens);
    ok &= bad_map == GC_ERR_INVALID_ARGUMENT && bad_alpha == GC_ERR_INVALID_ARGUMENT &&
          bad_nan == GC_ERR_INVALID_ARGUMENT && bad_n == GC_ERR_INVALID_ARGUMENT &&
          small == GC_ERR_BUFFER_TOO_SMALL && no_lens == GC_ERR_INVALID_ARGUMENT &&
          short_buf == GC_ERR_BUFFER_TOO_SMALL &&
          gc_explain_render(NULL, im, 1, NULL, b.res, NULL, 0, GC_COLORMAP_JET, 0.4f, ov, NULL,
                            len) == GC_ERR_INVALID_ARGUMENT;
    check(ok && same_results && same_bytes && guards && skipped, "explain_render",
          "results and cams as gc_explain: %s; overlays/heatmaps as gc_render: %s; guards %s; "
          "NULL entry untouched: %s; refused: colormap %s, alpha %s, NaN %s, n=0 %s, short cams "
          "%s", same_results ? "yes" : "NO", same_bytes ? "yes" : "NO",
          guards ? "intact" : "OVERWRITTEN", skipped ? "yes" : "NO",
          gc_status_string(bad_map), gc_status_string(bad_alpha), gc_status_string(bad_nan),
          gc_status_string(bad_n), gc_status_string(small));
    for (int i = 0; i < 3; i++)
        free(ov[i]), free(hm[i]), free(ref_o[i]), free(ref_h[i]);
}

/* gc_explain_device is a GPU call; gc_cuda_device_count without a usable GPU. */
static void check_device_calls(gc_context *ctx)
{
    float x = 0.0f;
    gc_result r;
    gc_status st = gc_explain_device(ctx, &x, 1, NULL, &r, NULL, 0);
    int32_t count = gc_cuda_device_count();
    int ok = st == GC_ERR_UNSUPPORTED && contains(gc_last_error(ctx), "device") && count >= 0;
#ifdef GC_TEST_CPU_ONLY
    ok &= count == 0;
#endif
    check(ok, "device_calls", "gc_explain_device on the CPU: %s (%s); %d CUDA device(s)",
          gc_status_string(st), gc_last_error(ctx), count);
}

/* The guided tensors: absent for other methods; with a guided method the cam is Grad-CAM's
 * (bit for bit: the guided pass runs after it) and Guided Grad-CAM is the guided gradient
 * times the upsampled cam. */
static void check_guided(gc_context *plain, const image_buf *img)
{
    const size_t HW = (size_t)NET * NET;
    gc_image im = img->img;
    batch_out a, b;
    explain_images(plain, &im, 1, NULL, &a);
    size_t count = 0;
    float *gb = guarded_floats(3 * HW), *ggc = guarded_floats(3 * HW);
    gc_status na = gc_tensor_get(plain, GC_TENSOR_GUIDED_BACKPROP, 0, gb, 3 * HW, &count);
    int ok = na == GC_ERR_NOT_AVAILABLE && count == 3 * HW;
    gc_options opt = base_options();
    opt.method = GC_METHOD_GUIDED_GRADCAM;
    gc_context *ctx = create(&opt);
    explain_images(ctx, &im, 1, NULL, &b);
    ok &= memcmp(a.cams, b.cams, sizeof(float) * CAM_HW) == 0;
    ok &= gc_tensor_get(ctx, GC_TENSOR_GUIDED_BACKPROP, 0, gb, 3 * HW, NULL) == GC_OK &&
          gc_tensor_get(ctx, GC_TENSOR_GUIDED_GRADCAM, 0, ggc, 3 * HW, NULL) == GC_OK &&
          guard_intact(gb, 3 * HW) && guard_intact(ggc, 3 * HW);
    /* where the cam is 1 (its maximum, upsampled onto a pixel center or not) the product
     * cannot exceed the gradient, and where the gradient is 0 so is the product */
    double nonzero = 0;
    for (size_t i = 0; i < 3 * HW; i++) {
        ok &= fabsf(ggc[i]) <= fabsf(gb[i]) * 1.000001f + 1e-30f;
        ok &= gb[i] != 0.0f || ggc[i] == 0.0f;
        nonzero += gb[i] != 0.0f;
    }
    ok &= nonzero > 0.01 * 3 * HW;
    uint8_t *rgb = xmalloc(3 * HW), *rgb2 = xmalloc(3 * HW);
    ok &= gc_render_saliency(gb, NET, NET, 0, rgb, 3 * HW) == GC_OK &&
          gc_render_saliency(gb, NET, NET, 1, rgb2, 3 * HW) == GC_OK;
    for (size_t p = 0; p < HW; p++) /* bgr swaps the channels, nothing else */
        ok &= rgb[3 * p] == rgb2[3 * p + 2] && rgb[3 * p + 1] == rgb2[3 * p + 1];
    /* a constant tensor is mid-gray: (0 - 0) / (0 + 1e-5) * 0.1 + 0.5 -> uint8(127.5) */
    for (size_t i = 0; i < 3 * HW; i++)
        gb[i] = 3.0f;
    ok &= gc_render_saliency(gb, NET, NET, 0, rgb, 3 * HW) == GC_OK && rgb[0] == 127 &&
          rgb[3 * HW - 1] == 127;
    ok &= gc_render_saliency(NULL, NET, NET, 0, rgb, 3 * HW) == GC_ERR_INVALID_ARGUMENT &&
          gc_render_saliency(gb, 0, NET, 0, rgb, 3 * HW) == GC_ERR_INVALID_ARGUMENT &&
          gc_render_saliency(gb, NET, NET, 0, rgb, 3 * HW - 1) == GC_ERR_BUFFER_TOO_SMALL;
    gc_context_destroy(ctx);
    opt.method = GC_METHOD_GUIDED_BACKPROP;
    ctx = create(&opt);
    explain_images(ctx, &im, 1, NULL, &b);
    ok &= gc_tensor_get(ctx, GC_TENSOR_GUIDED_GRADCAM, 0, ggc, 3 * HW, NULL) ==
          GC_ERR_NOT_AVAILABLE;
    gc_context_destroy(ctx);
    check(ok, "guided_tensors", "absent without a guided method (%s); same cam as Grad-CAM; "
          "|guided grad-cam| <= |guided backprop|, %.0f%% nonzero; saliency renders",
          gc_status_string(na), 100.0 * nonzero / (3.0 * HW));
    free(gb), free(ggc), free(rgb), free(rgb2);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_api tests/golden/tv_vgg16_small.safetensors\n");
        return 2;
    }
    g_weights = argv[1];

    check_status_strings();
    check_precision_names();
    check_version();
    check_options_default();

    gc_options opt = base_options();
    gc_context *ctx = create(&opt);
    const char *e = gc_last_error(ctx);
    check(e && *e == 0, "last_error_empty_after_create", "'%s'", e ? e : "(null)");
    check_tensor_get_before_batch(ctx);
    check_null_handling(ctx);
    check_model_info(ctx);
    check_layer_names(ctx);
    check_unknown_layer();

    image_buf imgs[3] = {make_image(300, 200, 5, 1), make_image(NET, NET, 0, 2),
                         make_image(50, 40, 3, 3)};
    check_aliases(&imgs[0]);
    check_batch_limits(ctx, &imgs[0]);
    check_buffers_and_classes(ctx, &imgs[0], &imgs[1]);
    check_tensor_get_errors(ctx, &imgs[0]);
    check_bad_images(ctx, &imgs[0]);
    check_mixed_batch(ctx, imgs);
    check_norm_max_vs_raw(ctx, &imgs[2]);
    check_norm_minmax(imgs);
    check_preprocess_torch(ctx);
    check_preprocess_caffe();
    check_unsupported();
    check_failed_call_leaves_no_batch(ctx, &imgs[0], &imgs[1]);
    check_backend_note(ctx);
    check_nonfinite_tensor(ctx);
    check_profile(ctx, &imgs[0]);
    check_device_calls(ctx);
    check_explain_render(ctx, imgs);
    check_guided(ctx, &imgs[0]);

    gc_context_destroy(ctx);
    for (int i = 0; i < 3; i++)
        free(imgs[i].pixels);
    printf("%d of %d checks passed\n", checks - failures, checks);
    return failures ? 1 : 0;
}
