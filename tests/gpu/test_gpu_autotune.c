/*
 * test_gpu_autotune.c — options.autotune: an autotuned fp32 CUDA context gives what the
 * default one gives, within the GPU-vs-CPU tolerances of test_gpu_vs_cpu.c.
 *
 *     test_gpu_autotune GOLDEN.golden.safetensors          (label gpu; 77 without a GPU)
 *     test_gpu_autotune GOLDEN.golden.safetensors --cpu    (label cpu)
 *
 * GPU: one default fp32 context and one with autotune = 3 (GC_CUDNN_AUTOTUNE is unset first,
 * so the environment decides nothing), the golden's input and classes on both; compared:
 * classes, logits, activation, gradient, alpha, raw and normalized cams. The tuned context is
 * made with GC_CUDNN_AUTOTUNE_PICK=other (test only: the fastest non-default candidate is
 * kept even when the default is faster), so that the plan swap and the workspace growth run
 * even on this small model; its report must say that at least one plan changed. The default
 * context's gc_autotune_report is "", the tuned one's names every plan (printed). Use a
 * golden whose target has convs above it (custom_block2), so backward-data plans are tuned.
 * --cpu: the CPU backend ignores the option (bit-identical results, empty report), and
 * autotune outside 0..64 is GC_ERR_INVALID_ARGUMENT.
 * Exit 0 pass, 1 fail, 77 when this machine has no usable CUDA device.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "golden_file.h"
#include "gpu_outputs.h"
#include "gradcam.h"

/* as test_gpu_vs_cpu.c: both float32, different summation orders */
#define TOL_GPU_REL 1e-3
#define TOL_GPU_CAM_ABS 1e-3
#define TOL_GPU_GRAD_OUTLIERS 1e-3

static int failures;

static void check(int ok, const char *what)
{
    printf("  %-60s %s\n", what, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* b against a: tolerances (tol_rel 0: bit for bit). */
static void compare_all(const char *run_name, const outputs *a, const outputs *b, int32_t n,
                        int exact)
{
    const size_t nn = (size_t)n;
    for (int32_t i = 0; i < n; i++)
        if (a->res[i].class_id != b->res[i].class_id) {
            printf("  %s image %d: class %d vs %d  FAIL\n", run_name, i, b->res[i].class_id,
                   a->res[i].class_id);
            failures++;
        }
    const double rel = exact ? 0.0 : TOL_GPU_REL, cam = exact ? 0.0 : TOL_GPU_CAM_ABS;
    const size_t outliers =
        exact ? 0 : (size_t)(TOL_GPU_GRAD_OUTLIERS * (double)(nn * a->Kc * a->hw));
    failures += !tc_compare(run_name, "logits", b->logits, a->logits, nn * a->K, rel, 1, 0);
    failures += !tc_compare(run_name, "activation", b->act, a->act, nn * a->Kc * a->hw, rel, 1,
                            0);
    failures += !tc_compare(run_name, "gradient", b->grad, a->grad, nn * a->Kc * a->hw, rel, 1,
                            outliers);
    failures += !tc_compare(run_name, "alpha", b->alpha, a->alpha, nn * a->Kc, rel, 1, 0);
    failures += !tc_compare(run_name, "cam_raw", b->raw, a->raw, nn * a->hw, rel, 1, 0);
    failures += !tc_compare(run_name, "cam", b->cams, a->cams, nn * a->hw, cam, 0, 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpu_autotune GOLDEN [--cpu]\n");
        return 2;
    }
    const int cpu = argc > 2 && !strcmp(argv[2], "--cpu");
    unsetenv("GC_CUDNN_AUTOTUNE"); /* the option alone decides here */
    golden_case gc;
    if (!golden_open(argv[1], &gc))
        return 1;
    const st_file *inf = &gc.input;
    gc_options opt = golden_options(&gc);
    size_t n_in;
    float *x = golden_tensor(inf, "input", &n_in);
    int32_t n;
    int32_t *classes = golden_classes(&gc, &n);
    opt.max_batch = n;
    opt.precision = GC_PRECISION_FP32;
    printf("%s: %d image(s), layer %s, %s\n", argv[1], n, opt.layer ? opt.layer : "(default)",
           cpu ? "CPU backend (the option is ignored)" : "CUDA fp32, default vs autotuned");

    gc_context *a = NULL, *b = NULL;
    outputs oa = {0}, ob = {0};
    int rc = 0;
    opt.backend = cpu ? GC_BACKEND_CPU : GC_BACKEND_CUDA;
    gc_status st = gc_context_create(&opt, &a);
    if (st != GC_OK) {
        const char *m = gc_last_error(a);
        const int no_device = !cpu && (st == GC_ERR_UNSUPPORTED || st == GC_ERR_BACKEND) &&
                              (strstr(m, "CUDA backend unavailable") ||
                               strstr(m, "no CUDA backend"));
        printf("  default context: %s: %s%s\n", gc_status_string(st), m,
               no_device ? " (skipping: no usable GPU)" : "  FAIL");
        rc = no_device ? 77 : 1;
        goto done;
    }
    check(!strcmp(gc_autotune_report(a), ""), "default context: empty gc_autotune_report");
    if (cpu) {
        gc_options bad = opt;
        gc_context *c = NULL;
        bad.autotune = -1;
        check(gc_context_create(&bad, &c) == GC_ERR_INVALID_ARGUMENT, "autotune -1 refused");
        gc_context_destroy(c);
        c = NULL;
        bad.autotune = 65;
        check(gc_context_create(&bad, &c) == GC_ERR_INVALID_ARGUMENT, "autotune 65 refused");
        gc_context_destroy(c);
        check(!strcmp(gc_autotune_report(NULL), ""), "gc_autotune_report(NULL) is \"\"");
    }
    opt.autotune = 3; /* candidates per plan: few, for the device check's time */
    /* swap plans even where the default is fastest: the swap itself is what is tested */
    setenv("GC_CUDNN_AUTOTUNE_PICK", "other", 1);
    st = gc_context_create(&opt, &b);
    unsetenv("GC_CUDNN_AUTOTUNE_PICK");
    if (st != GC_OK) {
        printf("  autotuned context: %s: %s  FAIL\n", gc_status_string(st), gc_last_error(b));
        rc = 1;
        goto done;
    }
    const char *report = gc_autotune_report(b);
    if (cpu) {
        check(!strcmp(report, ""), "CPU, autotune 3: empty gc_autotune_report");
    } else {
        printf("gc_autotune_report:\n%s", report);
        check(strstr(report, "cuDNN autotune") && strstr(report, "forward ") &&
                  strstr(report, "plans tuned"),
              "autotuned context: the report names its plans");
        check(opt.layer == NULL || strstr(report, "backward-data ") != NULL ||
                  strstr(report, "time budget") != NULL,
              "autotuned context: backward-data plans tuned (convs above the target)");
        const char *tally = strstr(report, "plans tuned, ");
        int tuned = 0, changed = 0;
        if (tally) /* "cuDNN autotune: %d plans tuned, %d changed, ..." */
            while (tally > report && tally[-1] != ':')
                tally--;
        check(tally && sscanf(tally, "%d plans tuned, %d changed", &tuned, &changed) == 2 &&
                  changed >= 1,
              "autotuned context: at least one plan changed (PICK=other)");
        printf("  %d plans tuned, %d changed\n", tuned, changed);
    }
    if (outputs_run(a, GC_METHOD_GRADCAM, x, n, classes, &oa) ||
        outputs_run(b, GC_METHOD_GRADCAM, x, n, classes, &ob)) {
        printf("  explain  FAIL\n");
        rc = 1;
        goto done;
    }
    compare_all(cpu ? "cpu autotune 1 vs 0" : "autotuned vs default", &oa, &ob, n, cpu);
done:
    outputs_free(&oa);
    outputs_free(&ob);
    gc_context_destroy(a);
    gc_context_destroy(b);
    golden_close(&gc);
    free(x);
    free(classes);
    if (rc)
        return rc;
    printf("%s\n", failures ? "FAILED" : "passed");
    return failures ? 1 : 0;
}
