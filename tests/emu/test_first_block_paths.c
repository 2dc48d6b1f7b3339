/*
 * test_first_block_paths.c — when the CUDA backend takes the first block in one kernel
 * (GC_FIRST_BLOCK=fused, cuda/first_block.cu) and when it must not, on the emulated device.
 * The emulated cuDNN counts the images its convolutions compute (gc_emu_cudnn_conv_images):
 * with the kernel, the block's two convs are not cuDNN's, so a call of n images on plans
 * for N computes 2 N images' convs fewer than its twin made without the switch. Cases (VGG16's
 * layout, bf16 unless said):
 *   taken      Grad-CAM at the default layer and at block1_pool (the pool's output is what
 *              the kernel writes): 2 N fewer, and classes and cams as the twin's
 *   not taken  the target at block1_conv2 (its map is wanted), guided backprop (the backward
 *              through the block needs its ReLU masks), fp32 (the kernel is fp16/bf16) and
 *              GC_FIRST_BLOCK=1 (not the switch's value): as many as the twin, results as its
 * Usage: test_first_block_paths WEIGHTS (a model whose first block is conv, conv, pool)
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcam.h"
#include "mock_cudart.h"

#define N 2
#define SIDE 64

static int failures;
static const char *weights;
static uint8_t pixels[N][SIDE * SIDE * 3];
static gc_image images[N];

typedef struct run_out {
    gc_result res[N];
    float cams[N * SIDE * SIDE];
    size_t conv_images;
    int ok;
} run_out;

/* A context (precision, method, layer; GC_FIRST_BLOCK=env, NULL: unset) and one call of N
 * images; its convolved images counted. */
static void run(const char *env, gc_precision prec, gc_method method, const char *layer,
                run_out *out)
{
    memset(out, 0, sizeof *out);
    if (env)
        setenv("GC_FIRST_BLOCK", env, 1);
    else
        unsetenv("GC_FIRST_BLOCK");
    gc_options o = gc_options_default();
    o.weights_path = weights;
    o.backend = GC_BACKEND_CUDA;
    o.precision = prec;
    o.method = method;
    o.layer = layer;
    o.max_batch = N;
    o.input_width = o.input_height = SIDE;
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&o, &ctx);
    unsetenv("GC_FIRST_BLOCK");
    CHECK(st == GC_OK, "create (GC_FIRST_BLOCK=%s, layer %s): %s", env ? env : "(unset)",
          layer ? layer : "(default)", gc_last_error(ctx));
    if (st == GC_OK) {
        gc_model_info info;
        gc_model_info_get(ctx, &info);
        const size_t hw = (size_t)info.cam_width * info.cam_height;
        const size_t before = gc_emu_cudnn_conv_images();
        st = hw * N <= sizeof out->cams / sizeof out->cams[0]
                 ? gc_explain(ctx, images, N, NULL, out->res, out->cams, hw * N)
                 : GC_ERR_INVALID_ARGUMENT;
        out->conv_images = gc_emu_cudnn_conv_images() - before;
        CHECK(st == GC_OK, "explain (GC_FIRST_BLOCK=%s): %s", env ? env : "(unset)",
              gc_last_error(ctx));
        out->ok = st == GC_OK;
    }
    gc_context_destroy(ctx);
}

/* One case: the switch's context against its twin without it. */
static void check_case(const char *what, gc_precision prec, gc_method method, const char *layer,
                       const char *env, int taken)
{
    static run_out a, b;
    run(NULL, prec, method, layer, &a);
    run(env, prec, method, layer, &b);
    if (!a.ok || !b.ok)
        return;
    const size_t want = taken ? a.conv_images - 2 * N : a.conv_images;
    printf("  %-28s cuDNN convolved %zu images, %zu without the switch\n", what, b.conv_images,
           a.conv_images);
    CHECK(b.conv_images == want, "%s: %zu images convolved by cuDNN, want %zu (%s)", what,
          b.conv_images, want, taken ? "the block by our kernel" : "every conv by cuDNN");
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        CHECK(a.res[i].class_id == b.res[i].class_id, "%s: image %d class %d, twin's %d", what, i,
              (int)b.res[i].class_id, (int)a.res[i].class_id);
        for (size_t p = 0; p < sizeof a.cams / sizeof a.cams[0] / N; p++)
            worst = fmax(worst, fabs(a.cams[i * (sizeof a.cams / sizeof a.cams[0] / N) + p] -
                                     b.cams[i * (sizeof a.cams / sizeof a.cams[0] / N) + p]));
    }
    /* the kernel sums each conv in another order than cuDNN's (bf16 maps: a rounding flips
     * now and then); without it the twins run the same code */
    CHECK(worst <= (taken ? 0.05 : 0.0), "%s: cams differ by %.3g from the twin's", what, worst);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WEIGHTS\n", argv[0]);
        return 2;
    }
    weights = argv[1];
    for (int i = 0; i < N; i++) {
        for (int p = 0; p < SIDE * SIDE * 3; p++)
            pixels[i][p] = (uint8_t)((p * (7 + 4 * i) + (p / (SIDE * 3)) * 13) % 251);
        images[i] = (gc_image){pixels[i], SIDE, SIDE, SIDE * 3};
    }
    check_case("Grad-CAM, default layer", GC_PRECISION_BF16, GC_METHOD_GRADCAM, NULL, "fused", 1);
    check_case("Grad-CAM at block1_pool", GC_PRECISION_BF16, GC_METHOD_GRADCAM, "block1_pool",
               "fused", 1);
    check_case("Grad-CAM at block1_conv2", GC_PRECISION_BF16, GC_METHOD_GRADCAM, "block1_conv2",
               "fused", 0);
    check_case("guided backprop", GC_PRECISION_BF16, GC_METHOD_GUIDED_BACKPROP, NULL, "fused", 0);
    check_case("fp32", GC_PRECISION_FP32, GC_METHOD_GRADCAM, NULL, "fused", 0);
    check_case("GC_FIRST_BLOCK=1", GC_PRECISION_BF16, GC_METHOD_GRADCAM, NULL, "1", 0);
    CHECK(gc_emu_live_allocations() == 0, "%zu device allocations left after every context",
          gc_emu_live_allocations());
    printf("%s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
