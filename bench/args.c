/*
 * args.c — gradcam-bench's command line: parse_args (with its defaults per backend), usage,
 * and mode_selected for the comma-separated --modes list.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int parse_int(const char *flag, const char *v, int32_t lo, int32_t *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || x < lo || x > 1000000) {
        fprintf(stderr, "gradcam-bench: %s needs an integer >= %d\n", flag, lo);
        return 0;
    }
    *out = (int32_t)x;
    return 1;
}

static int parse_batches(const char *v, bench_args *a)
{
    a->n_batches = 0;
    for (const char *p = v; p && *p;) {
        size_t n = strcspn(p, ",");
        char tok[32];
        if (n == 0 || n >= sizeof tok || a->n_batches == BENCH_MAX_LIST)
            return 0;
        memcpy(tok, p, n);
        tok[n] = 0;
        if (!parse_int("--batch", tok, 1, &a->batches[a->n_batches++]))
            return 0;
        p += n + (p[n] == ',');
    }
    return a->n_batches > 0;
}

static int parse_precisions(const char *v, bench_args *a)
{
    a->n_precisions = 0;
    for (const char *p = v; p && *p;) {
        size_t n = strcspn(p, ",");
        gc_precision found = (gc_precision)-1;
        for (int k = GC_PRECISION_AUTO; k <= GC_PRECISION_FP16; k++)
            if (n == strlen(gc_precision_name((gc_precision)k)) &&
                !strncmp(p, gc_precision_name((gc_precision)k), n))
                found = (gc_precision)k;
        if ((int)found < 0 || a->n_precisions == BENCH_MAX_LIST) {
            fprintf(stderr, "gradcam-bench: --precision takes auto,fp32,tf32,bf16,fp16\n");
            return 0;
        }
        a->precisions[a->n_precisions++] = found;
        p += n + (p[n] == ',');
    }
    return a->n_precisions > 0;
}

static int parse_methods(const char *v, bench_args *a)
{
    a->n_methods = 0;
    for (const char *p = v; p && *p;) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int k = GC_METHOD_GRADCAM; k <= GC_METHOD_GUIDED_GRADCAM; k++)
            if (n == strlen(method_name((gc_method)k)) &&
                !strncmp(p, method_name((gc_method)k), n))
                found = k;
        if (found < 0 || a->n_methods == BENCH_MAX_LIST) {
            fprintf(stderr, "gradcam-bench: --method takes gradcam, gradcam++, xgradcam, "
                            "layercam, hirescam, guided-backprop, guided-gradcam\n");
            return 0;
        }
        a->methods[a->n_methods++] = (gc_method)found;
        p += n + (p[n] == ',');
    }
    return a->n_methods > 0;
}

void usage(FILE *f)
{
    fprintf(f,
            "usage: gradcam-bench --weights FILE [--backend cpu|cuda (cpu)] [--device N]\n"
            "         [--precision LIST (fp32 on cpu, bf16 on cuda)] [--batch LIST (8)]\n"
            "         [--size N (224)] [--iters N (5)] [--warmup N (1)] [--threads N (0 = all)]\n"
            "         [--layer NAME (last conv)] [--profile-iters N (3; 0 = none)]\n"
            "         [--modes LIST] [--image-size WxH (500x375)] [--json | --jsonl]\n"
            "         [--files N (256)] [--files-runs N (1)] [--files-dir DIR]\n"
            "         [--files-prepare (only write the JPEGs into --files-dir, then exit)]\n"
            "         [--files-format png|jpg (png)] [--files-workers K (1): the command's\n"
            "          --workers-per-device]\n"
            "         [--gradcam-bin PATH (next to this program: ../gradcam)]\n"
            "         [--gpu-name NAME (for the peak table)] [--commit TEXT]\n"
            "         [--method LIST (gradcam): gradcam, gradcam++, xgradcam, layercam,\n"
            "          hirescam, guided-backprop, guided-gradcam]\n"
            "         [--autotune (options.autotune = 1: cuDNN engines timed per conv at\n"
            "          context creation; the CPU backend ignores it)]\n"
            "         [--context-batch N (contexts of max_batch N, calls of --batch: calls\n"
            "          smaller than max_batch, GC_BATCH_PLANS)]\n"
            "Modes: gradcam, forward, near_forward, explain_u8, preprocess, gpu, gpu_forward, host,\n"
            "       host_lib, files.\n"
            "Default modes: cpu: gradcam,near_forward,explain_u8,preprocess,forward;\n"
            "cuda: gpu,gradcam,forward,host. LISTs are comma-separated (--batch 1,32,128,256).\n");
}

static const char *const known_modes[BENCH_N_MODES] = {
    "gradcam", "near_forward", "explain_u8", "preprocess", "forward", "gpu", "gpu_forward",
    "host", "files", "host_lib"};

int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.size = 224, .iters = 5, .warmup = 1, .profile_iters = 3,
                      .image_w = 500, .image_h = 375, .files = 256, .files_runs = 1,
                      .files_format = "png", .files_workers = 1,
                      .backend = GC_BACKEND_CPU, .batches = {8}, .n_batches = 1};
    const char *precisions = NULL, *methods = "gradcam";
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(f, "--weights") && v)
            a->weights = argv[++i];
        else if (!strcmp(f, "--layer") && v)
            a->layer = argv[++i];
        else if (!strcmp(f, "--modes") && v)
            a->modes = argv[++i];
        else if (!strcmp(f, "--gradcam-bin") && v)
            a->gradcam_bin = argv[++i];
        else if (!strcmp(f, "--files-dir") && v)
            a->files_dir = argv[++i];
        else if (!strcmp(f, "--files-format") && v &&
                 (!strcmp(argv[i + 1], "png") || !strcmp(argv[i + 1], "jpg")))
            a->files_format = argv[++i];
        else if (!strcmp(f, "--files-workers"))
            ok = parse_int(f, v, 1, &a->files_workers) && a->files_workers <= 8, i++;
        else if (!strcmp(f, "--gpu-name") && v)
            a->gpu_name = argv[++i];
        else if (!strcmp(f, "--commit") && v)
            a->commit = argv[++i];
        else if (!strcmp(f, "--method") && v)
            methods = argv[++i];
        else if (!strcmp(f, "--precision") && v)
            precisions = argv[++i];
        else if (!strcmp(f, "--backend") && v) {
            v = argv[++i];
            if (!strcmp(v, "cpu"))
                a->backend = GC_BACKEND_CPU;
            else if (!strcmp(v, "cuda"))
                a->backend = GC_BACKEND_CUDA;
            else {
                fprintf(stderr, "gradcam-bench: --backend cpu or cuda\n");
                ok = 0;
            }
        } else if (!strcmp(f, "--batch")) {
            ok = v && parse_batches(v, a), i++;
            if (!ok)
                fprintf(stderr, "gradcam-bench: --batch takes a list of up to %d sizes\n",
                        BENCH_MAX_LIST);
        } else if (!strcmp(f, "--image-size")) {
            int w = 0, h = 0;
            char tail = 0;
            ok = v && sscanf(v, "%dx%d%c", &w, &h, &tail) == 2 && w >= 8 && h >= 8 &&
                 w <= 8192 && h <= 8192;
            if (!ok)
                fprintf(stderr, "gradcam-bench: --image-size WxH (8..8192)\n");
            a->image_w = w;
            a->image_h = h;
            i++;
        } else if (!strcmp(f, "--device"))
            ok = parse_int(f, v, 0, &a->device), i++;
        else if (!strcmp(f, "--size"))
            ok = parse_int(f, v, 32, &a->size), i++;
        else if (!strcmp(f, "--iters"))
            ok = parse_int(f, v, 1, &a->iters), i++;
        else if (!strcmp(f, "--warmup"))
            ok = parse_int(f, v, 0, &a->warmup), i++;
        else if (!strcmp(f, "--threads"))
            ok = parse_int(f, v, 0, &a->threads), i++;
        else if (!strcmp(f, "--profile-iters"))
            ok = parse_int(f, v, 0, &a->profile_iters), i++;
        else if (!strcmp(f, "--files"))
            ok = parse_int(f, v, 1, &a->files), i++;
        else if (!strcmp(f, "--files-runs"))
            ok = parse_int(f, v, 1, &a->files_runs), i++;
        else if (!strcmp(f, "--json"))
            a->json = 1;
        else if (!strcmp(f, "--jsonl"))
            a->jsonl = 1;
        else if (!strcmp(f, "--files-prepare"))
            a->files_prepare = 1;
        else if (!strcmp(f, "--autotune"))
            a->autotune = 1;
        else if (!strcmp(f, "--context-batch"))
            ok = parse_int(f, v, 1, &a->context_batch), i++;
        else if (!strcmp(f, "-h") || !strcmp(f, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "gradcam-bench: unknown or incomplete option '%s'\n", f);
            ok = 0;
        }
        if (!ok)
            return 0;
    }
    if (!a->weights) {
        fprintf(stderr, "gradcam-bench: --weights is required\n");
        return 0;
    }
    if (a->json && a->jsonl) {
        fprintf(stderr, "gradcam-bench: --json or --jsonl, not both\n");
        return 0;
    }
    if (!parse_precisions(precisions ? precisions
                                     : a->backend == GC_BACKEND_CUDA ? "bf16" : "fp32",
                          a))
        return 0;
    if (!parse_methods(methods, a))
        return 0;
    if (!a->modes)
        a->modes = a->backend == GC_BACKEND_CUDA ? "gpu,gradcam,forward,host"
                                                 : "gradcam,near_forward,explain_u8,"
                                                   "preprocess,forward";
    for (const char *p = a->modes; *p;) {
        size_t n = strcspn(p, ","), ok = 0;
        for (size_t k = 0; k < BENCH_N_MODES; k++)
            ok |= n == strlen(known_modes[k]) && !strncmp(p, known_modes[k], n);
        if (!ok) {
            fprintf(stderr, "gradcam-bench: unknown mode '%.*s' in --modes\n", (int)n, p);
            return 0;
        }
        p += n + (p[n] == ',');
    }
    if (a->iters > BENCH_MAX_SAMPLES || a->profile_iters > BENCH_MAX_SAMPLES ||
        a->files_runs > BENCH_MAX_SAMPLES) {
        fprintf(stderr, "gradcam-bench: --iters, --profile-iters, --files-runs: at most %d\n",
                BENCH_MAX_SAMPLES);
        return 0;
    }
    return 1;
}

/* Whether `name` is in the comma-separated list. */
int mode_selected(const char *list, const char *name)
{
    const size_t len = strlen(name);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && !strncmp(p, name, len))
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}
