/*
 * test_emu_faults.c — the CUDA backend's answers to device faults, on the emulated device
 * (gradcam_emu), where they can be provoked at will:
 *   oom       device memory too small for max_batch: context creation fails with
 *             GC_ERR_OUT_OF_MEMORY and a message that names the batch and suggests a smaller
 *             one, before building any cuDNN plan; a smaller max_batch then fits; nothing
 *             stays allocated. The AUTO backend gives the same error (no silent move to the
 *             CPU), as for a device number that does not exist, and, where the context
 *             fits, runs on the GPU in bf16
 *   sticky    a kernel fault (cudaErrorIllegalAddress) after a good batch: that call fails,
 *             the context reports GC_ERR_BAD_STATE from then on and says why; a CPU context
 *             in the same process is unaffected; an AUTO context made while the fault is
 *             pending falls back to a working CPU context
 *   leaks     every context destroyed: no device memory left allocated
 *   cudnnoom  cuDNN failing to allocate in the middle of a batch (its execute answering
 *             INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED), in gc_explain and in gc_predict, and
 *             cuBLAS in gc_explain (the head's GEMM answering ALLOC_FAILED): that
 *             call fails with GC_ERR_OUT_OF_MEMORY, gives back its staged photos (device memory
 *             below what a good batch leaves), and the context goes on: the next call gives
 *             the first one's class and score (an out-of-memory is not a fault); the same
 *             with a kernel fault pending: GC_ERR_BACKEND, the context unusable
 * and, with GC_EMU_DEVICES=0 in the environment (the test `emu_no_device`):
 *   nodevice  gc_cuda_device_count() is 0, the CUDA backend fails with a clear message, the
 *             AUTO backend runs on the CPU and its note says why
 * and, with GC_EMU_CUDNN_TC_ONLY=1 (cuDNN offers only tensor-core engines: `emu_tc_only`):
 *   tconly    true fp32 fails with GC_ERR_UNSUPPORTED naming the conv it has no engine for;
 *             tf32 and bf16 contexts work
 * and, with GC_EMU_CUDNN_VERSION set to a library older than the headers (`emu_cudnn_version`):
 *   cudnnversion  the CUDA backend fails with GC_ERR_UNSUPPORTED naming both versions; nothing
 *             stays allocated; AUTO runs on the CPU with a note saying why (gc_backend_note)
 * and, not faults but the backend's own answers:
 *   numerics  an fp16 batch whose activations overflow (an input 10000x too bright) fails with
 *             GC_ERR_UNSUPPORTED naming the image (before: NaN logits, class 0 explained,
 *             GC_OK); fp32 explains the same tensor, fp16 the normal one. gc_explain_render
 *             with every output entry NULL renders nothing (device memory as gc_explain's);
 *             with outputs and profiling, the render and its download are in cam_ms and
 *             download_ms (before: in no stage)
 * Usage: test_emu_faults WEIGHTS oom|sticky|cudnnoom|nodevice|tconly|cudnnversion|numerics
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_api.h>
#include <cudnn_graph.h>

#include "check.h"
#include "gradcam.h"
#include "mock_cudart.h"

static int failures;

static const char *weights;

static gc_options options(gc_backend backend, int32_t max_batch)
{
    gc_options o = gc_options_default();
    o.weights_path = weights;
    o.backend = backend;
    o.max_batch = max_batch;
    return o;
}

static gc_status make(gc_backend backend, int32_t max_batch, gc_context **ctx)
{
    gc_options o = options(backend, max_batch);
    return gc_context_create(&o, ctx);
}

/* A small gray-ish image with a bright square. */
static uint8_t pixels[96 * 64 * 3];
static gc_image image(void)
{
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 96; x++)
            for (int c = 0; c < 3; c++)
                pixels[(y * 96 + x) * 3 + c] =
                    (uint8_t)(x > 30 && x < 60 && y > 20 && y < 44 ? 230 - 40 * c : 60 + c);
    gc_image im = {pixels, 96, 64, 96 * 3};
    return im;
}

static gc_status explain_one(gc_context *ctx, gc_result *r)
{
    gc_image im = image();
    return gc_explain(ctx, &im, 1, NULL, r, NULL, 0);
}

/* AUTO when CUDA cannot be had: a working CPU context, fp32, and a note saying why
 * (containing `why`); nothing left on the device. */
static void check_auto_falls_back(int32_t max_batch, const char *why)
{
    gc_context *ctx = NULL;
    gc_status st = make(GC_BACKEND_AUTO, max_batch, &ctx);
    const char *note = gc_backend_note(ctx);
    printf("  AUTO, max_batch %d: %s; note: %s\n", max_batch, gc_status_string(st),
           note ? note : "(none)");
    CHECK(st == GC_OK, "AUTO should fall back to the CPU: %s", gc_last_error(ctx));
    CHECK(note && strstr(note, "no GPU used") && strstr(note, why),
          "the note should say no GPU was used and why (%s): %s", why, note ? note : "(none)");
    gc_model_info info;
    if (st == GC_OK && gc_model_info_get(ctx, &info) == GC_OK)
        CHECK(info.backend == GC_BACKEND_CPU && info.precision == GC_PRECISION_FP32,
              "AUTO's fallback: backend %d precision %d, want CPU fp32", (int)info.backend,
              (int)info.precision);
    gc_result r;
    if (st == GC_OK)
        CHECK(explain_one(ctx, &r) == GC_OK, "AUTO explain on the CPU: %s", gc_last_error(ctx));
    gc_context_destroy(ctx);
    CHECK(gc_emu_device_bytes_in_use() == 0 && gc_emu_live_allocations() == 0,
          "%zu device bytes, %zu allocations left after AUTO's fallback",
          gc_emu_device_bytes_in_use(), gc_emu_live_allocations());
}

static void test_oom(void)
{
    /* GC_EMU_DEVICE_MEMORY (set by the test) is far below max_batch 4096's arena */
    gc_context *ctx = NULL;
    const size_t plans_before = gc_emu_cudnn_plan_finalizes();
    gc_status st = make(GC_BACKEND_CUDA, 4096, &ctx);
    const char *msg = gc_last_error(ctx);
    /* the arena is probed before the plans: a size that cannot fit builds none */
    CHECK(gc_emu_cudnn_plan_finalizes() == plans_before,
          "%zu cuDNN plans finalized for a context that could not fit",
          gc_emu_cudnn_plan_finalizes() - plans_before);
    printf("  max_batch 4096: %s: %s\n", gc_status_string(st), msg);
    CHECK(st == GC_ERR_OUT_OF_MEMORY, "status %s, want GC_ERR_OUT_OF_MEMORY",
          gc_status_string(st));
    CHECK(strstr(msg, "4096") && strstr(msg, "smaller"),
          "the message should name max_batch 4096 and suggest a smaller one: %s", msg);
    gc_context_destroy(ctx);
    CHECK(gc_emu_device_bytes_in_use() == 0, "%zu device bytes left after a failed create",
          gc_emu_device_bytes_in_use());

    ctx = NULL;
    st = make(GC_BACKEND_CUDA, 2, &ctx);
    CHECK(st == GC_OK, "max_batch 2 should fit: %s", gc_last_error(ctx));
    if (st == GC_OK) {
        gc_result r;
        st = explain_one(ctx, &r);
        CHECK(st == GC_OK, "explain after a failed create: %s", gc_last_error(ctx));
    }
    gc_context_destroy(ctx);
    CHECK(gc_emu_device_bytes_in_use() == 0, "%zu device bytes left after destroy",
          gc_emu_device_bytes_in_use());

    /* AUTO where the CUDA context does not fit: the same error, no move to the CPU */
    ctx = NULL;
    st = make(GC_BACKEND_AUTO, 4096, &ctx);
    CHECK(st == GC_ERR_OUT_OF_MEMORY && strstr(gc_last_error(ctx), "smaller"),
          "AUTO, max_batch 4096: %s (%s), want GC_ERR_OUT_OF_MEMORY suggesting a smaller batch",
          gc_status_string(st), gc_last_error(ctx));
    gc_context_destroy(ctx);
    CHECK(gc_emu_device_bytes_in_use() == 0, "%zu device bytes left", gc_emu_device_bytes_in_use());
    /* AUTO naming a device that does not exist: an error, no move to the CPU */
    gc_options o = options(GC_BACKEND_AUTO, 2);
    o.device = 5;
    ctx = NULL;
    st = gc_context_create(&o, &ctx);
    CHECK(st == GC_ERR_INVALID_ARGUMENT && strstr(gc_last_error(ctx), "device 5"),
          "AUTO, device 5 of 1: %s (%s), want GC_ERR_INVALID_ARGUMENT naming the device",
          gc_status_string(st), gc_last_error(ctx));
    gc_context_destroy(ctx);
    /* AUTO where it fits: the GPU, bf16, no note */
    ctx = NULL;
    st = make(GC_BACKEND_AUTO, 2, &ctx);
    gc_model_info info;
    CHECK(st == GC_OK && gc_model_info_get(ctx, &info) == GC_OK &&
              info.backend == GC_BACKEND_CUDA && info.precision == GC_PRECISION_BF16 &&
              gc_backend_note(ctx) == NULL,
          "AUTO with a device: %s; want CUDA, bf16, no note", gc_last_error(ctx));
    gc_context_destroy(ctx);
}

static void test_sticky(void)
{
    gc_context *gpu = NULL, *cpu = NULL;
    gc_status st = make(GC_BACKEND_CUDA, 2, &gpu);
    CHECK(st == GC_OK, "CUDA context: %s", gc_last_error(gpu));
    st = make(GC_BACKEND_CPU, 2, &cpu);
    CHECK(st == GC_OK, "CPU context: %s", gc_last_error(cpu));
    if (!gpu || !cpu || failures) {
        gc_context_destroy(gpu);
        gc_context_destroy(cpu);
        return;
    }
    gc_result r;
    CHECK(explain_one(gpu, &r) == GC_OK, "a good batch first: %s", gc_last_error(gpu));

    gc_emu_inject_sticky_error(700 /* cudaErrorIllegalAddress */);
    st = explain_one(gpu, &r);
    printf("  after the fault: %s: %s\n", gc_status_string(st), gc_last_error(gpu));
    CHECK(st == GC_ERR_BACKEND, "the faulting call: %s, want GC_ERR_BACKEND",
          gc_status_string(st));
    CHECK(strstr(gc_last_error(gpu), "unusable") != NULL,
          "the message should say the CUDA context is unusable: %s", gc_last_error(gpu));
    st = explain_one(gpu, &r);
    CHECK(st == GC_ERR_BAD_STATE, "the next call: %s, want GC_ERR_BAD_STATE",
          gc_status_string(st));
    gc_model_info info;
    CHECK(gc_model_info_get(gpu, &info) == GC_ERR_BAD_STATE,
          "gc_model_info_get on a bad context should say GC_ERR_BAD_STATE");
    CHECK(explain_one(cpu, &r) == GC_OK, "a CPU context is unaffected: %s",
          gc_last_error(cpu));
    /* AUTO with the fault still pending: the CUDA backend refuses at its start, and the CPU
     * context AUTO falls back to must work (before: GC_OK, then GC_ERR_BAD_STATE at every
     * call, the fault's sticky mark left on it) */
    gc_context *fallback = NULL;
    st = make(GC_BACKEND_AUTO, 2, &fallback);
    const char *note = gc_backend_note(fallback);
    CHECK(st == GC_OK && note && strstr(note, "no GPU used"),
          "AUTO with a CUDA fault pending: %s, note %s", gc_status_string(st),
          note ? note : "(none)");
    CHECK(st == GC_OK && gc_model_info_get(fallback, &info) == GC_OK &&
              info.backend == GC_BACKEND_CPU && explain_one(fallback, &r) == GC_OK,
          "AUTO's CPU fallback must work: %s", gc_last_error(fallback));
    gc_context_destroy(fallback);
    gc_context_destroy(gpu);
    gc_emu_reset();
    gc_context_destroy(cpu);
}

static void test_cudnn_oom(void)
{
    gc_context *ctx = NULL;
    gc_status st = make(GC_BACKEND_CUDA, 2, &ctx);
    CHECK(st == GC_OK, "CUDA context: %s", gc_last_error(ctx));
    gc_result first, r;
    if (st != GC_OK || explain_one(ctx, &first) != GC_OK) {
        CHECK(0, "a good batch first: %s", gc_last_error(ctx));
        gc_context_destroy(ctx);
        return;
    }
    const size_t after_good = gc_emu_device_bytes_in_use();
    /* cuDNN failing in gc_explain, then in gc_predict, then cuBLAS (the head) in gc_explain */
    for (int call = 0; call < 3; call++) {
        const char *name = call == 0 ? "gc_explain, cuDNN" : call == 1 ? "gc_predict, cuDNN"
                                                                        : "gc_explain, cuBLAS";
        gc_image im = image();
        if (call < 2)
            gc_emu_cudnn_fail_execute(3, CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED, 0);
        else
            gc_emu_cublas_fail_gemm(0, CUBLAS_STATUS_ALLOC_FAILED);
        st = call == 1 ? gc_predict(ctx, &im, 1, &r) : explain_one(ctx, &r);
        const size_t after_fail = gc_emu_device_bytes_in_use();
        gc_emu_cudnn_fail_execute(-1, 0, 0);
        gc_emu_cublas_fail_gemm(-1, 0);
        printf("  %s out of memory: %s: %s; device bytes %zu after a good batch, %zu "
               "after this one\n",
               name, gc_status_string(st), gc_last_error(ctx), after_good, after_fail);
        CHECK(st == GC_ERR_OUT_OF_MEMORY, "%s: %s, want GC_ERR_OUT_OF_MEMORY", name,
              gc_status_string(st));
        CHECK(after_fail < after_good, "%s: the staged photo not given back (%zu bytes, %zu "
              "after a good batch)", name, after_fail, after_good);
        st = explain_one(ctx, &r);
        CHECK(st == GC_OK && r.class_id == first.class_id && r.score == first.score,
              "after %s's out-of-memory: %s, class %d score %g; want class %d score %g", name,
              gc_last_error(ctx), r.class_id, r.score, first.class_id, first.score);
    }
    /* the same out-of-memory with a fault pending from earlier work: the context is gone, and
     * the call must say so (GC_ERR_BACKEND), or the command would retry in halves on it */
    gc_emu_cudnn_fail_execute(3, CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED,
                              700 /* cudaErrorIllegalAddress */);
    st = explain_one(ctx, &r);
    gc_emu_cudnn_fail_execute(-1, 0, 0);
    printf("  cuDNN out of memory, a fault pending: %s: %s\n", gc_status_string(st),
           gc_last_error(ctx));
    CHECK(st == GC_ERR_BACKEND && strstr(gc_last_error(ctx), "unusable"),
          "out of memory with a fault pending: %s (%s), want GC_ERR_BACKEND, unusable",
          gc_status_string(st), gc_last_error(ctx));
    CHECK(explain_one(ctx, &r) == GC_ERR_BAD_STATE, "the next call: want GC_ERR_BAD_STATE");
    gc_context_destroy(ctx);
    gc_emu_reset();
}

static void test_no_device(void)
{
    CHECK(gc_cuda_device_count() == 0, "gc_cuda_device_count() = %d, want 0",
          gc_cuda_device_count());
    gc_context *ctx = NULL;
    gc_status st = make(GC_BACKEND_CUDA, 2, &ctx);
    printf("  --backend cuda: %s: %s\n", gc_status_string(st), gc_last_error(ctx));
    CHECK(st != GC_OK, "the CUDA backend without a device should fail");
    CHECK(strstr(gc_last_error(ctx), "CUDA backend unavailable") != NULL,
          "message: %s", gc_last_error(ctx));
    gc_context_destroy(ctx);
    check_auto_falls_back(2, "no CUDA-capable device");
}

static void test_tc_only(void)
{
    gc_options o = options(GC_BACKEND_CUDA, 2);
    o.precision = GC_PRECISION_FP32;
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&o, &ctx);
    printf("  fp32: %s: %s\n", gc_status_string(st), gc_last_error(ctx));
    CHECK(st == GC_ERR_UNSUPPORTED, "fp32 without a non-tensor-core engine: %s, want "
          "GC_ERR_UNSUPPORTED", gc_status_string(st));
    CHECK(strstr(gc_last_error(ctx), "true-fp32") != NULL, "the message should say which "
          "engine is missing: %s", gc_last_error(ctx));
    gc_context_destroy(ctx);
    CHECK(gc_emu_device_bytes_in_use() == 0, "%zu device bytes left after a failed create",
          gc_emu_device_bytes_in_use());
    const gc_precision others[2] = {GC_PRECISION_TF32, GC_PRECISION_BF16};
    for (int k = 0; k < 2; k++) {
        ctx = NULL;
        o.precision = others[k];
        st = gc_context_create(&o, &ctx);
        CHECK(st == GC_OK, "precision %d with tensor-core engines: %s", (int)others[k],
              gc_last_error(ctx));
        gc_result r;
        if (st == GC_OK)
            CHECK(explain_one(ctx, &r) == GC_OK, "explain: %s", gc_last_error(ctx));
        gc_context_destroy(ctx);
    }
}

static void test_cudnn_version(void)
{
    gc_context *ctx = NULL;
    gc_status st = make(GC_BACKEND_CUDA, 2, &ctx);
    printf("  --backend cuda: %s: %s\n", gc_status_string(st), gc_last_error(ctx));
    CHECK(st == GC_ERR_UNSUPPORTED, "an older cuDNN than the headers: %s, want "
          "GC_ERR_UNSUPPORTED", gc_status_string(st));
    CHECK(strstr(gc_last_error(ctx), "cuDNN 9.0.1 is loaded") != NULL &&
              strstr(gc_last_error(ctx), "built against cuDNN 9.") != NULL,
          "the message should name both versions: %s", gc_last_error(ctx));
    gc_context_destroy(ctx);
    check_auto_falls_back(2, "cuDNN 9.0.1 is loaded");
}

static gc_context *make_prec(gc_precision prec, int profile)
{
    gc_options o = options(GC_BACKEND_CUDA, 1);
    o.precision = prec;
    o.profile = profile;
    gc_context *ctx = NULL;
    if (gc_context_create(&o, &ctx) != GC_OK) {
        CHECK(0, "context (precision %d): %s", (int)prec, gc_last_error(ctx));
        gc_context_destroy(ctx);
        return NULL;
    }
    return ctx;
}

static void test_numerics(void)
{
    gc_context *h = make_prec(GC_PRECISION_FP16, 0), *f = make_prec(GC_PRECISION_FP32, 0);
    gc_model_info info;
    if (!h || !f || gc_model_info_get(f, &info) != GC_OK)
        goto out;
    const size_t len = (size_t)3 * info.input_width * info.input_height;
    float *x = malloc(sizeof(float) * len);
    gc_image im = image();
    gc_result r;
    if (!x || gc_preprocess_images(f, &im, 1, x, len) != GC_OK) {
        CHECK(0, "preprocess: %s", gc_last_error(f));
        free(x);
        goto out;
    }
    gc_status st = gc_explain_tensor(h, x, 1, NULL, &r, NULL, 0);
    CHECK(st == GC_OK, "fp16, a normal input: %s", gc_last_error(h));
    for (size_t i = 0; i < len; i++)
        x[i] *= 1e4f; /* inputs up to ~2e4 (fp16 holds them), activations past 65504 */
    st = gc_explain_tensor(h, x, 1, NULL, &r, NULL, 0);
    printf("  fp16, the input x10000: %s: %s\n", gc_status_string(st), gc_last_error(h));
    CHECK(st == GC_ERR_UNSUPPORTED && strstr(gc_last_error(h), "image 0") &&
              strstr(gc_last_error(h), "overflowed"),
          "fp16 overflow: %s (%s), class %d logit %g", gc_status_string(st), gc_last_error(h),
          r.class_id, (double)r.logit);
    st = gc_explain_tensor(f, x, 1, NULL, &r, NULL, 0);
    CHECK(st == GC_OK, "fp32, the input x10000: %s", gc_last_error(f));
    free(x);

    /* all entries NULL: no render, no room for one */
    enum { W = 1600, H = 1200 };
    uint8_t *big = malloc((size_t)3 * W * H), *ov = malloc((size_t)3 * W * H);
    gc_context *a = make_prec(GC_PRECISION_FP32, 0), *b = make_prec(GC_PRECISION_FP32, 0),
               *p = make_prec(GC_PRECISION_FP32, 1);
    if (big && ov && a && b && p) {
        for (size_t i = 0; i < (size_t)3 * W * H; i++)
            big[i] = (uint8_t)(i * 2654435761u >> 24);
        gc_image bi = {big, W, H, 3 * W};
        uint8_t *none[1] = {NULL}, *some[1] = {ov};
        const size_t lens[1] = {(size_t)3 * W * H};
        gc_profile pa, pb, p0, p1;
        CHECK(gc_explain(a, &bi, 1, NULL, &r, NULL, 0) == GC_OK, "%s", gc_last_error(a));
        CHECK(gc_explain_render(b, &bi, 1, NULL, &r, NULL, 0, GC_COLORMAP_JET, 0.4f, none, none,
                                lens) == GC_OK, "%s", gc_last_error(b));
        gc_profile_get(a, &pa);
        gc_profile_get(b, &pb);
        CHECK(pb.device_bytes == pa.device_bytes,
              "gc_explain_render with no output asked holds %lld device bytes, gc_explain %lld",
              (long long)pb.device_bytes, (long long)pa.device_bytes);
        CHECK(gc_explain_render(p, &bi, 1, NULL, &r, NULL, 0, GC_COLORMAP_JET, 0.4f, NULL, NULL,
                                NULL) == GC_OK, "%s", gc_last_error(p));
        gc_profile_get(p, &p0);
        CHECK(gc_explain_render(p, &bi, 1, NULL, &r, NULL, 0, GC_COLORMAP_JET, 0.4f, some, some,
                                lens) == GC_OK, "%s", gc_last_error(p));
        gc_profile_get(p, &p1);
        printf("  profile without / with outputs: cam %.3f / %.3f ms, download %.3f / %.3f ms, "
               "total %.1f / %.1f ms\n", p0.cam_ms, p1.cam_ms, p0.download_ms, p1.download_ms,
               p0.total_ms, p1.total_ms);
        CHECK(p1.cam_ms > p0.cam_ms && p1.download_ms > p0.download_ms,
              "the render and its download are not in the profile");
    }
    free(big);
    free(ov);
    gc_context_destroy(a);
    gc_context_destroy(b);
    gc_context_destroy(p);
out:
    gc_context_destroy(h);
    gc_context_destroy(f);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s WEIGHTS oom|sticky|cudnnoom|nodevice|tconly|cudnnversion|"
                "numerics\n",
                argv[0]);
        return 2;
    }
    weights = argv[1];
    if (!strcmp(argv[2], "oom"))
        test_oom();
    else if (!strcmp(argv[2], "sticky"))
        test_sticky();
    else if (!strcmp(argv[2], "cudnnoom"))
        test_cudnn_oom();
    else if (!strcmp(argv[2], "nodevice"))
        test_no_device();
    else if (!strcmp(argv[2], "tconly"))
        test_tc_only();
    else if (!strcmp(argv[2], "cudnnversion"))
        test_cudnn_version();
    else if (!strcmp(argv[2], "numerics"))
        test_numerics();
    else
        return 2;
    CHECK(gc_emu_device_bytes_in_use() == 0, "%zu device bytes still allocated at exit",
          gc_emu_device_bytes_in_use());
    printf("%s: %d failures\n", argv[2], failures);
    return failures ? 1 : 0;
}
