/*
 * test_gpu_vs_cpu.c — the CUDA backend against the CPU reference on one golden case.
 *
 *     test_gpu_vs_cpu GOLDEN.golden.safetensors
 *
 * The golden's metadata gives the weights, input, layer, score, normalization, classes and
 * architecture (as test_golden.c reads them). Runs, each CUDA vs a CPU context on the same
 * input: fp32 at the golden's layer with the whole batch, then image 0 again on the same
 * context; fp32 with a batch of 1 on a max_batch context; fp32 at block3_conv3 and
 * block5_pool (when the model has them; only on goldens of the default layer); tf32 at the
 * golden's layer (the CPU's classes; logits, cam correlation). Every run uses the golden's
 * method and counterfactual flag. Compared: logits, classes, activation, gradient, alpha (the
 * method's channel weights), raw and normalized cams.
 * Exit 0 pass, 1 fail, 77 when this machine has no usable CUDA device.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcam.h"
#include "compare.h"
#include "golden_file.h"
#include "gpu_outputs.h"

/* Tolerances of the CUDA backend against the CPU backend (both float32): different
 * summation orders (cuDNN, cuBLAS, our reductions) over ~20 layers. */
#define TOL_GPU_REL 1e-3         /* logits, activation, gradient, alpha, raw cam: relative */
#define TOL_GPU_CAM_ABS 1e-3     /* the normalized cam in [0,1]                            */
#define TOL_GPU_GRAD_OUTLIERS 1e-3 /* fraction: max-pool near-ties may route elsewhere       */
#define TOL_TF32_CAM_CORR 0.99   /* tf32: Pearson correlation of the cams with fp32 CPU   */
#define TOL_TF32_REL 2e-2        /* tf32: logits, relative to max|logit|                  */

static int failures;

static void compare(const char *run, const char *what, const float *got, const float *ref,
                    size_t n, double tol, int relative, size_t max_outliers)
{
    failures += !tc_compare(run, what, got, ref, n, tol, relative, max_outliers);
}

/* 77 when the CUDA backend is unavailable on this machine, else 0 (ok) or 1 (failed). */
static int check_case(const char *name, gc_options opt, gc_precision prec, const float *x,
                      int32_t n, int32_t max_batch, const int32_t *classes)
{
    gc_context *cpu = NULL, *gpu = NULL;
    outputs a = {0}, b = {0};
    int rc = 0;
    opt.max_batch = max_batch;
    opt.backend = GC_BACKEND_CPU;
    opt.precision = GC_PRECISION_FP32;
    gc_status st = gc_context_create(&opt, &cpu);
    if (st == GC_ERR_LAYER) {
        printf("  %-14s (no such layer in this model: skipped)\n", name);
        gc_context_destroy(cpu);
        return 0;
    }
    if (st != GC_OK) {
        printf("  %-14s cpu context: %s  FAIL\n", name, gc_last_error(cpu));
        gc_context_destroy(cpu);
        failures++;
        return 1;
    }
    opt.backend = GC_BACKEND_CUDA;
    opt.precision = prec;
    st = gc_context_create(&opt, &gpu);
    if (st != GC_OK) {
        const char *m = gc_last_error(gpu);
        int no_device = (st == GC_ERR_UNSUPPORTED || st == GC_ERR_BACKEND) &&
                        (strstr(m, "CUDA backend unavailable") || strstr(m, "no CUDA backend"));
        printf("  %-14s cuda context: %s: %s%s\n", name, gc_status_string(st), m,
               no_device ? " (skipping: no usable GPU)" : "  FAIL");
        gc_context_destroy(cpu);
        gc_context_destroy(gpu);
        if (no_device)
            return 77;
        failures++;
        return 1;
    }
    if (outputs_run(cpu, GC_METHOD_GRADCAM, x, n, classes, &a)) {
        printf("  %-14s cpu FAIL\n", name);
        failures++;
        rc = 1;
        goto done;
    }
    /* tf32 explains the classes the fp32 CPU picked: a near-tie of two logits may flip the
     * top-1 under tf32 rounding, and the cams of two classes cannot be compared */
    int32_t *gpu_classes = malloc(sizeof(int32_t) * (size_t)n);
    if (!gpu_classes) {
        printf("  %-14s out of memory  FAIL\n", name);
        failures++;
        rc = 1;
        goto done;
    }
    for (int32_t i = 0; i < n; i++)
        gpu_classes[i] = prec == GC_PRECISION_FP32 ? classes[i] : a.res[i].class_id;
    int gpu_failed = outputs_run(gpu, GC_METHOD_GRADCAM, x, n, gpu_classes, &b);
    free(gpu_classes);
    if (gpu_failed) {
        printf("  %-14s cuda FAIL\n", name);
        failures++;
        rc = 1;
        goto done;
    }
    for (int32_t i = 0; i < n; i++)
        if (a.res[i].class_id != b.res[i].class_id) {
            printf("  %-14s image %d: class %d (cuda) vs %d (cpu)  FAIL\n", name, i,
                   b.res[i].class_id, a.res[i].class_id);
            failures++;
        }
    const size_t nn = (size_t)n;
    if (prec == GC_PRECISION_FP32) {
        compare(name, "logits", b.logits, a.logits, nn * a.K, TOL_GPU_REL, 1, 0);
        compare(name, "activation", b.act, a.act, nn * a.Kc * a.hw, TOL_GPU_REL, 1, 0);
        compare(name, "gradient", b.grad, a.grad, nn * a.Kc * a.hw, TOL_GPU_REL, 1,
                (size_t)(TOL_GPU_GRAD_OUTLIERS * (double)(nn * a.Kc * a.hw)));
        compare(name, "alpha", b.alpha, a.alpha, nn * a.Kc, TOL_GPU_REL, 1, 0);
        compare(name, "cam_raw", b.raw, a.raw, nn * a.hw, TOL_GPU_REL, 1, 0);
        compare(name, "cam", b.cams, a.cams, nn * a.hw, TOL_GPU_CAM_ABS, 0, 0);
        if (n > 1) {
            /* the same context again with one image: buffers and plans for max_batch hold
             * the previous batch's data beyond image 0, which must not leak into it */
            outputs c = {0};
            if (outputs_run(gpu, GC_METHOD_GRADCAM, x, 1, classes, &c)) {
                printf("  %-14s reuse, batch 1  FAIL\n", name);
                failures++;
                rc = 1;
            } else {
                compare(name, "reuse logits", c.logits, a.logits, a.K, TOL_GPU_REL, 1, 0);
                compare(name, "reuse camraw", c.raw, a.raw, a.hw, TOL_GPU_REL, 1, 0);
                compare(name, "reuse cam", c.cams, a.cams, a.hw, TOL_GPU_CAM_ABS, 0, 0);
            }
            outputs_free(&c);
        }
    } else {
        compare(name, "logits", b.logits, a.logits, nn * a.K, TOL_TF32_REL, 1, 0);
        for (int32_t i = 0; i < n; i++) {
            double r = tc_correlation(b.cams + i * a.hw, a.cams + i * a.hw, a.hw);
            int ok = r >= TOL_TF32_CAM_CORR;
            printf("  %-14s image %d: cam correlation %.5f (>= %.2f)%s\n", name, i, r,
                   TOL_TF32_CAM_CORR, ok ? "" : "  FAIL");
            failures += !ok;
        }
    }
done:
    outputs_free(&a);
    outputs_free(&b);
    gc_context_destroy(cpu);
    gc_context_destroy(gpu);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpu_vs_cpu GOLDEN\n");
        return 2;
    }
    golden_case gc;
    if (!golden_open(argv[1], &gc))
        return 1;
    const st_file *inf = &gc.input;
    gc_options opt = golden_options(&gc);
    const char *layer = opt.layer;
    opt.layer = NULL; /* each run below names its layer */
    size_t n_in;
    float *x = golden_tensor(inf, "input", &n_in);
    int32_t n;
    int32_t *classes = golden_classes(&gc, &n);
    printf("%s: %d image(s), layer %s, method %d%s\n", argv[1], n, layer ? layer : "(default)",
           (int)opt.method, opt.counterfactual ? ", counterfactual" : "");

    struct {
        const char *name, *layer;
        gc_precision prec;
        int32_t n;
    } runs[] = {
        {"fp32", layer, GC_PRECISION_FP32, n},
        {"fp32 batch 1", layer, GC_PRECISION_FP32, 1},
        {"block3_conv3", "block3_conv3", GC_PRECISION_FP32, n},
        {"block5_pool", "block5_pool", GC_PRECISION_FP32, n},
        {"tf32", layer, GC_PRECISION_TF32, n},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        /* the fixed extra layers once per model (on its default-layer goldens), not again on
         * every golden of it: GPU time is short, and each context builds its cuDNN plans */
        if (layer && runs[r].layer != layer)
            continue;
        opt.layer = runs[r].layer;
        int rc = check_case(runs[r].name, opt, runs[r].prec, x, runs[r].n, n, classes);
        if (rc == 77) {
            printf("skipped: no usable CUDA device\n");
            return 77;
        }
    }
    printf("%s\n", failures ? "FAILED" : "passed");
    golden_close(&gc);
    free(x);
    free(classes);
    return failures ? 1 : 0;
}
