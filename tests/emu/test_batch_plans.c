/*
 * test_batch_plans.c — batches smaller than max_batch on conv plans of their own
 * (cuda/backend_plans.cu), on the emulated device, whose cuDNN counts the images each
 * convolution run computes (gc_emu_cudnn_conv_images: a plan runs the batch it was built for).
 * Every call's results are compared with a twin context made with GC_BATCH_PLANS=off (every
 * batch on the full plans, as before), and its convolved images with what its plans should run
 * (R images a call per image of the plans' batch; R measured on the twin's full batch):
 *   eager   GC_BATCH_PLANS=eager: a batch of n runs on plans for the power of two at or above
 *           n (1, 2, 4, 8 of 16), or the full plans when that power is not below max_batch;
 *           gc_predict too; results as the twin's
 *   auto    the default: the first small batch runs on the full plans (building costs more
 *           than one batch wastes); repeated ones build their set once the time wasted passes
 *           a build's (within 30 calls here, where the emulated convs are slow and builds
 *           fast; under a sanitizer a missing build is said, not failed); the same with the
 *           build's cost given as three full batches' time (GC_BATCH_PLANS=<ms>), with and
 *           without CUDA graphs; a smaller batch then takes that set without building its
 *           own; a full batch still runs on the full plans
 *   stale   graphs recorded on the full plans for gc_explain and gc_predict of 4 images are
 *           dropped when batches of 3 build the set for 4: later batches of 4 run on it
 *   workspace  engines that want more workspace at small batches than the context has
 *           (GC_EMU_CUDNN_SMALL_BATCH_WS) are passed over: the set is built all the same
 *   refused an engine refusing the size (GC_EMU_CUDNN_REFUSE_BATCH=4): the batch runs on the
 *           full plans, succeeds without a message, and the size is not tried again (no plan
 *           built at the next such batch)
 *   halves  GC_RENDER_PIPELINE=1 with eager: gc_explain_render's halves take the smaller sets
 *           too (built between the halves); overlays as the twin's
 *   leaks   nothing left on the device after every context is destroyed
 * Usage: test_batch_plans WEIGHTS
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gradcam.h"
#include "mock_cudart.h"

#define N_MAX 16
#define IMG_W 80
#define IMG_H 56

static int failures;
static const char *weights;
static uint8_t pixels[N_MAX][IMG_H * IMG_W * 3];
static gc_image images[N_MAX];

/* Images that differ from one another, so that a set bound to the wrong images shows. */
static void make_images(void)
{
    for (int i = 0; i < N_MAX; i++) {
        for (int y = 0; y < IMG_H; y++)
            for (int x = 0; x < IMG_W; x++)
                for (int c = 0; c < 3; c++) {
                    const int in = abs(x - 5 * i - 10) < 12 && abs(y - 3 * i - 8) < 10;
                    pixels[i][(y * IMG_W + x) * 3 + c] =
                        (uint8_t)(in ? 220 - 50 * ((c + i) % 3) : 40 + 7 * i + 20 * c);
                }
        images[i] = (gc_image){pixels[i], IMG_W, IMG_H, IMG_W * 3};
    }
}

static const char *target; /* options.layer of the contexts made (NULL: the default) */

static gc_context *make(const char *plans, const char *graphs, const char *split)
{
    setenv("GC_BATCH_PLANS", plans, 1);
    if (graphs)
        setenv("GC_CUDA_GRAPHS", graphs, 1);
    else
        unsetenv("GC_CUDA_GRAPHS");
    if (split)
        setenv("GC_RENDER_PIPELINE", split, 1);
    else
        unsetenv("GC_RENDER_PIPELINE");
    gc_options o = gc_options_default();
    o.weights_path = weights;
    o.backend = GC_BACKEND_CUDA;
    o.precision = GC_PRECISION_BF16;
    o.max_batch = N_MAX;
    o.input_width = o.input_height = 64; /* a quarter of the demo's 128: the emulated convs
                                            are the test's time, sanitized ten times more */
    o.layer = target;
    gc_context *ctx = NULL;
    const gc_status st = gc_context_create(&o, &ctx);
    CHECK(st == GC_OK, "create (GC_BATCH_PLANS=%s): %s", plans, gc_last_error(ctx));
    unsetenv("GC_CUDA_GRAPHS");
    unsetenv("GC_RENDER_PIPELINE");
    if (st != GC_OK) {
        gc_context_destroy(ctx);
        return NULL;
    }
    return ctx;
}

typedef struct call {
    gc_result res[N_MAX];
    float cams[N_MAX * 4096];
    uint8_t over[N_MAX][IMG_H * IMG_W * 3];
    size_t images; /* images convolved during the call */
} call;

static size_t cam_len(gc_context *ctx)
{
    gc_model_info info;
    if (gc_model_info_get(ctx, &info) != GC_OK)
        return 0;
    return (size_t)info.cam_width * info.cam_height;
}

/* gc_explain (render: gc_explain_render) of images first .. first + n - 1. */
static gc_status run(gc_context *ctx, int32_t first, int32_t n, int render, call *c)
{
    const size_t hw = cam_len(ctx);
    if (!hw || hw * N_MAX > sizeof c->cams / sizeof c->cams[0]) {
        CHECK(0, "cam of %zu elements: the test's buffers are too small", hw);
        return GC_ERR_INVALID_ARGUMENT;
    }
    const size_t before = gc_emu_cudnn_conv_images();
    gc_status st;
    if (render) {
        uint8_t *over[N_MAX];
        size_t lens[N_MAX];
        for (int32_t i = 0; i < n; i++)
            over[i] = c->over[i], lens[i] = sizeof c->over[i];
        st = gc_explain_render(ctx, images + first, n, NULL, c->res, c->cams, hw * (size_t)n,
                               GC_COLORMAP_JET, 0.4f, over, NULL, lens);
    } else {
        st = gc_explain(ctx, images + first, n, NULL, c->res, c->cams, hw * (size_t)n);
    }
    c->images = gc_emu_cudnn_conv_images() - before;
    CHECK(st == GC_OK, "explain of %d images: %s", n, gc_last_error(ctx));
    return st;
}

/* c (from the context under test) against the twin's t for n images. */
static void same_results(const char *what, int32_t n, const call *c, const call *t, size_t hw,
                         int render)
{
    double cam_err = 0, logit_err = 0;
    int classes = 0, over_err = 0;
    for (int32_t i = 0; i < n; i++) {
        classes += c->res[i].class_id != t->res[i].class_id;
        logit_err = fmax(logit_err, fabs(c->res[i].logit - t->res[i].logit));
        for (size_t j = 0; j < hw; j++)
            cam_err = fmax(cam_err, fabs(c->cams[i * hw + j] - t->cams[i * hw + j]));
        for (size_t j = 0; render && j < sizeof c->over[i]; j++)
            over_err = abs((int)c->over[i][j] - (int)t->over[i][j]) > over_err
                           ? abs((int)c->over[i][j] - (int)t->over[i][j])
                           : over_err;
    }
    /* the same maths on the same bits (the emulated engines do not depend on the batch) */
    CHECK(!classes && logit_err <= 1e-5 && cam_err <= 1e-5 && over_err <= 1,
          "%s, %d images: %d classes differ, logit error %g, cam error %g, overlay error %d "
          "against the full plans' twin",
          what, n, classes, logit_err, cam_err, over_err);
}

static size_t R;             /* images convolved per image of a plan's batch in one gc_explain */
static double full_batch_ms; /* the twin's gc_explain of N_MAX images */

/* One call of n on ctx and on the twin; ctx's convolved images must be R * want. */
static void step(const char *what, gc_context *ctx, gc_context *twin, int32_t first, int32_t n,
                 int render, size_t want)
{
    static call c, t;
    if (run(ctx, first, n, render, &c) != GC_OK || run(twin, first, n, render, &t) != GC_OK)
        return;
    same_results(what, n, &c, &t, cam_len(ctx), render);
    gc_profile p; /* read after the twin's call: each context keeps its own */
    CHECK(gc_profile_get(ctx, &p) == GC_OK && p.conv_images == (int32_t)want,
          "%s, %d images: gc_profile.conv_images %d, want %zu", what, n, p.conv_images, want);
    printf("  %s, %2d images: %zu images convolved (the plans' batch %zu), twin %zu\n", what, n,
           c.images, R ? c.images / R : 0, t.images);
    CHECK(c.images == R * want, "%s, %d images: %zu images convolved, want %zu (plans for %zu)",
          what, n, c.images, R * want, want);
}

static void test_eager(gc_context *twin)
{
    printf("eager\n");
    gc_context *ctx = make("eager", NULL, NULL);
    if (!ctx)
        return;
    const int32_t ns[] = {3, 3, 1, 16, 9, 5, 2, 4, 8};
    const size_t want[] = {4, 4, 1, 16, 16, 8, 2, 4, 8};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        step("eager", ctx, twin, (int32_t)k % 4 + ns[k] <= N_MAX ? (int32_t)k % 4 : 0, ns[k], 0,
             want[k]);
    /* gc_predict: the forward's convs only, on the same sets */
    gc_result res[N_MAX];
    size_t b = gc_emu_cudnn_conv_images();
    gc_status st = gc_predict(ctx, images, N_MAX, res);
    const size_t full = gc_emu_cudnn_conv_images() - b;
    b = gc_emu_cudnn_conv_images();
    if (st == GC_OK)
        st = gc_predict(ctx, images, 3, res);
    const size_t small = gc_emu_cudnn_conv_images() - b;
    CHECK(st == GC_OK && full > 0 && small * 4 == full,
          "gc_predict: %zu images convolved for 3 images, %zu for 16 (want a quarter): %s", small,
          full, gc_last_error(ctx));
    gc_context_destroy(ctx);
}

/* Calls of n until the convolved images drop to R * want; returns the calls it took (0: never
 * within `most`). */
static int until_built(gc_context *ctx, gc_context *twin, int32_t n, size_t want, int most)
{
    static call c, t;
    for (int k = 1; k <= most; k++) {
        if (run(ctx, k % 5, n, 0, &c) != GC_OK || run(twin, k % 5, n, 0, &t) != GC_OK)
            return 0;
        same_results("auto", n, &c, &t, cam_len(ctx), 0);
        if (k == 1)
            CHECK(c.images == R * N_MAX,
                  "auto: the first batch of %d ran %zu images' convs, want the full plans' %zu "
                  "(one small batch must not pay a build)",
                  n, c.images, R * N_MAX);
        if (c.images == R * want)
            return k;
    }
    return 0;
}

/* The rule with the build's cost as GC_BATCH_PLANS gives it: "auto" (measured at create;
 * under a sanitizer the mock's allocation-heavy builds slow down far more than its convs, so
 * there the build may not come within the calls: said, not failed) or a number of ms (a few
 * full batches' time: the build comes after a few calls whatever the machine). */
static void test_auto(gc_context *twin, const char *graphs, const char *plans)
{
    printf("auto (GC_BATCH_PLANS=%s)%s\n", plans, graphs ? " with CUDA graphs" : "");
    gc_context *ctx = make(plans, graphs, NULL);
    if (!ctx)
        return;
    /* under a sanitizer the measured rule may wait long: a few calls show its first call's
     * choice, and every call is a whole batch's convs there */
    const char *san = getenv("GC_TEST_SANITIZER");
    const int sanitized = san && *san && !strcmp(plans, "auto");
    const int most = sanitized ? 3 : 30, k = until_built(ctx, twin, 3, 4, most);
    printf("  auto: batches of 3 on plans for 4 from call %d\n", k);
    if (!k && sanitized) {
        printf("  auto: no build within %d calls under %s (slow builds): the rest skipped\n",
               most, san);
        gc_context_destroy(ctx);
        return;
    }
    CHECK(k >= 2, "auto: batches of 3 never got plans for 4 in %d calls", most);
    step("auto, after", ctx, twin, 2, 3, 0, 4);
    step("auto, a smaller batch takes the set for 4", ctx, twin, 0, 1, 0, 4);
    step("auto, a full batch", ctx, twin, 0, 16, 0, 16);
    step("auto, 9 images (no power of two below 16 holds them)", ctx, twin, 1, 9, 0, 16);
    gc_context_destroy(ctx);
}

/* gc_predict of images 0 .. n - 1: the images ctx convolved. */
static size_t predict_images(gc_context *ctx, int32_t n)
{
    gc_result res[N_MAX];
    const size_t before = gc_emu_cudnn_conv_images();
    const gc_status st = gc_predict(ctx, images, n, res);
    CHECK(st == GC_OK, "gc_predict of %d images: %s", n, gc_last_error(ctx));
    return gc_emu_cudnn_conv_images() - before;
}

/* CUDA graphs recorded on the full plans for sizes a new set takes: gone with the build. The
 * batches of 4 (gc_explain and gc_predict) are recorded on the full plans, then batches of 3
 * build the set for 4 (auto); the next batches of 4 must run on it, both segments. */
static void test_stale_graphs(gc_context *twin)
{
    printf("stale graphs\n");
    /* a build once the waste reaches four full batches' time: not while the batches of 4 are
     * recorded (under two batches' waste), within the calls of 3 below */
    char threshold[32];
    snprintf(threshold, sizeof threshold, "%.1f", 4 * full_batch_ms);
    gc_context *ctx = make(threshold, "require", NULL);
    if (!ctx)
        return;
    static call c;
    run(ctx, 0, 4, 0, &c); /* run directly, then recorded: the full plans */
    const size_t fwd_full = predict_images(ctx, 4);
    CHECK(c.images == R * N_MAX, "the first batch of 4: %zu images convolved, want %zu", c.images,
          R * N_MAX);
    int k = 0;
    for (k = 1; k <= 60; k++) {
        if (run(ctx, 1, 3, 0, &c) != GC_OK)
            break;
        if (k == 1)
            CHECK(c.images == R * N_MAX,
                  "a batch of 3 right after the recording ran on plans "
                  "for %zu: the threshold is too low for this test",
                  c.images / R);
        if (c.images == R * 4)
            break;
    }
    printf("  batches of 3 on plans for 4 from call %d\n", k);
    CHECK(c.images == R * 4, "batches of 3 never got plans for 4 in 60 calls");
    step("stale graphs: a batch of 4 after the build", ctx, twin, 2, 4, 0, 4);
    step("stale graphs: again (its graph recorded on the set)", ctx, twin, 3, 4, 0, 4);
    const size_t fwd_set = predict_images(ctx, 4);
    CHECK(fwd_full > 0 && fwd_set * 4 == fwd_full,
          "gc_predict of 4 after the build convolved %zu images, on the full plans %zu (want a "
          "quarter: its graph recorded on the full plans must be gone)",
          fwd_set, fwd_full);
    gc_context_destroy(ctx);
}

/* At small batches cuDNN may rank first engines that want more workspace than the context
 * has (GC_EMU_CUDNN_SMALL_BATCH_WS: below 16 images every engine with a workspace wants 64
 * times its own): the set passes over them instead of being refused. */
static void test_workspace(gc_context *twin)
{
    printf("workspace\n");
    /* the target at the second conv: the convs above it have backward-data plans, whose
     * engine (bf16: eng1) has a workspace */
    char layer[64] = "";
    for (int32_t i = 0, convs = 0; gc_layer_name(twin, i) && !*layer; i++)
        if (strstr(gc_layer_name(twin, i), "conv") && ++convs == 2)
            snprintf(layer, sizeof layer, "%s", gc_layer_name(twin, i));
    target = layer;
    gc_context *ctx = make("eager", NULL, NULL), *mid = make("off", NULL, NULL);
    target = NULL;
    if (ctx && mid) {
        printf("  target %s\n", layer);
        const size_t r = R;
        static call c;
        if (run(mid, 0, N_MAX, 0, &c) == GC_OK)
            R = c.images / N_MAX; /* the backward's convs too */
        setenv("GC_EMU_CUDNN_SMALL_BATCH_WS", "16", 1);
        step("workspace", ctx, mid, 0, 3, 0, 4);
        unsetenv("GC_EMU_CUDNN_SMALL_BATCH_WS");
        R = r;
    }
    gc_context_destroy(ctx);
    gc_context_destroy(mid);
}

static void test_refused(gc_context *twin)
{
    printf("refused\n");
    gc_context *ctx = make("eager", NULL, NULL);
    if (!ctx)
        return;
    setenv("GC_EMU_CUDNN_REFUSE_BATCH", "4", 1);
    step("refused", ctx, twin, 0, 3, 0, 16);
    CHECK(!*gc_last_error(ctx), "a refused set must leave no message: %s", gc_last_error(ctx));
    const size_t plans = gc_emu_cudnn_plan_finalizes();
    step("refused, again", ctx, twin, 1, 4, 0, 16);
    CHECK(gc_emu_cudnn_plan_finalizes() == plans,
          "a refused size was tried again: %zu plans finalized",
          gc_emu_cudnn_plan_finalizes() - plans);
    step("refused, another size", ctx, twin, 0, 2, 0, 2);
    unsetenv("GC_EMU_CUDNN_REFUSE_BATCH");
    gc_context_destroy(ctx);
}

static void test_halves(void)
{
    printf("halves\n");
    gc_context *ctx = make("eager", NULL, "1");
    gc_context *twin = make("off", NULL, NULL);
    if (ctx && twin) {
        step("halves (3 + 2: sets for 4 and 2)", ctx, twin, 0, 5, 1, 4 + 2);
        step("halves (8 + 8: the halves' set)", ctx, twin, 0, 16, 1, 16);
        step("halves (2 + 1)", ctx, twin, 3, 3, 1, 2 + 1);
    }
    gc_context_destroy(ctx);
    gc_context_destroy(twin);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WEIGHTS\n", argv[0]);
        return 2;
    }
    weights = argv[1];
    make_images();
    unsetenv("GC_EMU_CUDNN_REFUSE_BATCH");
    gc_context *twin = make("off", NULL, NULL);
    if (!twin)
        return 1;
    static call c;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (run(twin, 0, N_MAX, 0, &c) == GC_OK)
        R = c.images / N_MAX;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    full_batch_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("the full plans: %zu images convolved for %d (R = %zu)\n", c.images, N_MAX, R);
    CHECK(R > 0 && c.images == R * N_MAX, "the twin convolved %zu images for %d", c.images, N_MAX);
    step("off", twin, twin, 0, 3, 0, 16); /* the twin itself: small batches cost a whole one */
    if (R) {
        test_eager(twin);
        char few[32]; /* three full batches' time */
        snprintf(few, sizeof few, "%.1f", 3 * full_batch_ms);
        test_auto(twin, NULL, "auto");
        test_auto(twin, NULL, few);
        test_auto(twin, "require", few);
        test_stale_graphs(twin);
        test_workspace(twin);
        test_refused(twin);
        test_halves();
    }
    gc_context_destroy(twin);
    CHECK(gc_emu_device_bytes_in_use() == 0 && gc_emu_live_allocations() == 0,
          "%zu device bytes, %zu allocations left", gc_emu_device_bytes_in_use(),
          gc_emu_live_allocations());
    printf(failures ? "FAILED (%d)\n" : "all passed\n", failures);
    return failures ? 1 : 0;
}
