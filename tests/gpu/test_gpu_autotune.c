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
 * Then the plan cache: two more tuned contexts with GC_CUDNN_PLAN_CACHE in a fresh folder,
 * the second taking every plan from the file (check_plan_cache).
 * --cpu: the CPU backend ignores the option (bit-identical results, empty report), and
 * autotune outside 0..64 is GC_ERR_INVALID_ARGUMENT.
 * Exit 0 pass, 1 fail, 77 when this machine has no usable CUDA device.
 */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv, mkdtemp */
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

/* The report's tally "cuDNN autotune: %d plans tuned (%d from the plan cache), %d changed". */
static int tally(const char *report, int *tuned, int *cached, int *changed)
{
    const char *t = strstr(report, "cuDNN autotune: ");
    while (t && !strstr(t, "plans tuned"))
        t = strstr(t + 1, "cuDNN autotune: ");
    for (; t; t = strstr(t + 1, "cuDNN autotune: "))
        if (sscanf(t, "cuDNN autotune: %d plans tuned (%d from the plan cache), %d changed",
                   tuned, cached, changed) == 3)
            return 1;
    return 0;
}

/* The on-disk plan cache (cuda/plan_cache.h) in a fresh folder: a first tuned context times
 * its plans and stores the winners; a second one takes every plan from the file, times
 * none, and computes bit for bit what the first one does (the same engine configs). */
static void check_plan_cache(const gc_options *base, const float *x, int32_t n,
                            const int32_t *classes)
{
    char dir[] = "/tmp/gradcam-plan-cache-XXXXXX", path[64], cmd[96];
    if (!mkdtemp(dir)) {
        check(0, "plan cache: a scratch folder");
        return;
    }
    snprintf(path, sizeof path, "%s/plans.tsv", dir);
    setenv("GC_CUDNN_PLAN_CACHE", path, 1);
    gc_options o = *base;
    o.autotune = 2;
    gc_context *c = NULL, *d = NULL;
    outputs oc = {0}, od = {0};
    int tuned = 0, cached = 0, changed = 0;
    if (gc_context_create(&o, &c) != GC_OK) {
        printf("  plan cache, first context: %s  FAIL\n", gc_last_error(c));
        failures++;
        goto out;
    }
    check(tally(gc_autotune_report(c), &tuned, &cached, &changed) && tuned > 0 && cached == 0,
          "plan cache: the first context times its plans");
    const int first_tuned = tuned;
    /* what the first context stored: one line per plan whose search finished within the
     * time budget (GC_CUDNN_AUTOTUNE_SECONDS; a search cut short is not stored) */
    int stored = 0;
    FILE *f = fopen(path, "r");
    for (int ch; f && (ch = fgetc(f)) != EOF;)
        stored += ch == '\n';
    if (f)
        fclose(f);
    check(stored > 0 && stored <= first_tuned, "plan cache: the first context stores its plans");
    if (stored < first_tuned)
        printf("  plan cache: %d of %d plans stored (the time budget cut the other searches "
               "short)\n", stored, first_tuned);
    if (gc_context_create(&o, &d) != GC_OK) {
        printf("  plan cache, second context: %s  FAIL\n", gc_last_error(d));
        failures++;
        goto out;
    }
    printf("second context's gc_autotune_report:\n%s", gc_autotune_report(d));
    check(tally(gc_autotune_report(d), &tuned, &cached, &changed) && cached == stored,
          "plan cache: the second context takes every stored plan from the file");
    if (stored == first_tuned)
        check(tuned == first_tuned && strstr(gc_autotune_report(d), "ms (default") == NULL &&
                  strstr(gc_autotune_report(d), "ms kept") == NULL,
              "plan cache: the second context times nothing");
    if (outputs_run(c, GC_METHOD_GRADCAM, x, n, classes, &oc) ||
        outputs_run(d, GC_METHOD_GRADCAM, x, n, classes, &od)) {
        check(0, "plan cache: explain");
        goto out;
    }
    compare_all("cached plans vs tuned", &oc, &od, n, 1);
out:
    outputs_free(&oc);
    outputs_free(&od);
    gc_context_destroy(c);
    gc_context_destroy(d);
    unsetenv("GC_CUDNN_PLAN_CACHE");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("  (could not remove %s)\n", dir);
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
        int tuned = 0, from_cache = 0, changed = 0;
        check(tally(report, &tuned, &from_cache, &changed) && changed >= 1 && from_cache == 0,
              "autotuned context: at least one plan changed (PICK=other), none cached");
        printf("  %d plans tuned, %d changed\n", tuned, changed);
    }
    if (outputs_run(a, GC_METHOD_GRADCAM, x, n, classes, &oa) ||
        outputs_run(b, GC_METHOD_GRADCAM, x, n, classes, &ob)) {
        printf("  explain  FAIL\n");
        rc = 1;
        goto done;
    }
    compare_all(cpu ? "cpu autotune 1 vs 0" : "autotuned vs default", &oa, &ob, n, cpu);
    if (!cpu)
        check_plan_cache(&opt, x, n, classes);
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
