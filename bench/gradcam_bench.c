/*
 * gradcam_bench.c — CPU timing of libgradcam through its public API, for comparison with the
 * PyTorch peer in bench/peers/torch_gradcam.py (driven by bench/run_cpu_bench.sh).
 *
 * Modes, each the median wall time (CLOCK_MONOTONIC) of one batch call over --iters calls
 * after --warmup calls:
 *   gradcam       gc_explain_tensor on a fixed, seeded random preprocessed (N,3,S,S) batch,
 *                 target = --layer (default: the last conv layer, post-ReLU)
 *   near_forward  the same call with the target at the last pool layer (block5_pool for
 *                 VGG16). The API has no forward-only call yet, so this is the full forward
 *                 plus the head's backward (dense layers and adaptive pool), nothing below
 *                 the pool: an upper bound on the forward time, reported as such.
 *   explain_u8    gc_explain on N seeded uint8 RGB images of 500x375, which adds the resize
 *                 to SxS and the normalization to the gradcam mode.
 *   preprocess    gc_preprocess_images on the same images alone (resize + normalize +
 *                 NCHW copy), to split explain_u8 into its parts.
 *
 * Timing only: this program never checks results (tests/ does that).
 */
#ifdef GC_HAVE_OPENBLAS
#include <cblas.h>
#else /* built without OpenBLAS: the library's built-in GEMM */
static const char *openblas_get_config(void) { return "none (built-in GEMM)"; }
static const char *openblas_get_corename(void) { return "none"; }
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gradcam.h"

#define BENCH_MAX_SAMPLES 1000
#define BENCH_IMG_W 500
#define BENCH_IMG_H 375

typedef struct bench_args {
    const char *weights;
    const char *layer; /* NULL = library default */
    const char *modes; /* comma-separated subset of the mode names; NULL = all */
    int32_t batch, size, iters, warmup, threads;
    int json;
} bench_args;

typedef struct bench_mode {
    const char *name;
    const char *what;
    const char *layer;     /* the canonical target layer the library resolved */
    double samples_ms[BENCH_MAX_SAMPLES];
    int count;
    double median_ms, min_ms, max_ms, mean_ms;
    int ok, skipped;
    char error[256];
} bench_mode;

/* ---------------------------------------------------------------- helpers */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarize(bench_mode *m)
{
    double sorted[BENCH_MAX_SAMPLES], sum = 0.0;
    memcpy(sorted, m->samples_ms, sizeof(double) * (size_t)m->count);
    qsort(sorted, (size_t)m->count, sizeof(double), cmp_double);
    for (int i = 0; i < m->count; i++)
        sum += sorted[i];
    int c = m->count;
    m->median_ms = c % 2 ? sorted[c / 2] : 0.5 * (sorted[c / 2 - 1] + sorted[c / 2]);
    m->min_ms = sorted[0];
    m->max_ms = sorted[c - 1];
    m->mean_ms = sum / c;
}

/* xorshift64*: a seeded, platform-independent stream for the inputs. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Roughly N(0,1) (sum of 4 uniforms, rescaled): like a normalized ImageNet image. */
static float rng_normal(uint64_t *s)
{
    double acc = 0.0;
    for (int i = 0; i < 4; i++)
        acc += (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)((acc - 2.0) * 1.7320508075688772);
}

static void cpu_model(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                snprintf(out, len, "%s", p);
                out[strcspn(out, "\n")] = 0;
            }
            break;
        }
    }
    fclose(f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

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

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gradcam-bench --weights FILE [--batch N (8)] [--size N (224)]\n"
            "                     [--iters N (5)] [--warmup N (1)] [--threads N (0 = all)]\n"
            "                     [--layer NAME (last conv)] [--json]\n"
            "                     [--modes gradcam,near_forward,explain_u8,preprocess (all)]\n"
            "Times Grad-CAM (gc_explain_tensor), near-forward (Grad-CAM at the last pool\n"
            "layer), gc_explain on 500x375 uint8 images and the preprocessing alone on the\n"
            "CPU backend.\n");
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.batch = 8, .size = 224, .iters = 5, .warmup = 1};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (!strcmp(f, "--weights") && v)
            a->weights = argv[++i];
        else if (!strcmp(f, "--layer") && v)
            a->layer = argv[++i];
        else if (!strcmp(f, "--modes") && v)
            a->modes = argv[++i];
        else if (!strcmp(f, "--batch"))
            ok = parse_int(f, v, 1, &a->batch), i++;
        else if (!strcmp(f, "--size"))
            ok = parse_int(f, v, 32, &a->size), i++;
        else if (!strcmp(f, "--iters"))
            ok = parse_int(f, v, 1, &a->iters), i++;
        else if (!strcmp(f, "--warmup"))
            ok = parse_int(f, v, 0, &a->warmup), i++;
        else if (!strcmp(f, "--threads"))
            ok = parse_int(f, v, 0, &a->threads), i++;
        else if (!strcmp(f, "--json"))
            a->json = 1;
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
    for (const char *p = a->modes; p && *p;) {
        static const char *const known[] = {"gradcam", "near_forward", "forward", "explain_u8",
                                            "preprocess"};
        size_t n = strcspn(p, ","), ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++)
            ok |= n == strlen(known[k]) && !strncmp(p, known[k], n);
        if (!ok) {
            fprintf(stderr, "gradcam-bench: unknown mode '%.*s' in --modes\n", (int)n, p);
            return 0;
        }
        p += n + (p[n] == ',');
    }
    if (a->iters > BENCH_MAX_SAMPLES) {
        fprintf(stderr, "gradcam-bench: --iters is at most %d\n", BENCH_MAX_SAMPLES);
        return 0;
    }
    return 1;
}

/* Whether `name` is in the comma-separated list (NULL = every mode). */
static int mode_selected(const char *list, const char *name)
{
    if (!list)
        return 1;
    const size_t len = strlen(name);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && !strncmp(p, name, len))
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* ---------------------------------------------------------------- one mode */

typedef struct bench_inputs {
    const float *tensor;     /* (N, 3, S, S) */
    const gc_image *images;  /* N */
} bench_inputs;

typedef enum bench_call { CALL_TENSOR, CALL_IMAGES, CALL_PREPROCESS, CALL_PREDICT } bench_call;

/* Creates a context with target `layer` (NULL = default, "" = the last pool layer), times
 * gc_explain_tensor, gc_explain or gc_preprocess_images, and destroys the context. One context at a
 * time keeps memory (and the weights in cache) comparable between modes. */
static void run_mode(const bench_args *a, const char *layer, bench_call call,
                     const bench_inputs *in, bench_mode *m, char *layer_out, size_t layer_len)
{
    gc_options opt = gc_options_default();
    opt.weights_path = a->weights;
    opt.backend = GC_BACKEND_CPU;
    opt.threads = a->threads;
    opt.max_batch = a->batch;
    opt.input_width = a->size;
    opt.input_height = a->size;
    gc_context *ctx = NULL;
    gc_result *results = NULL;
    float *cams = NULL, *pre = NULL;
    char last_pool[64] = "";
    m->ok = 0;
    if (layer && !*layer) { /* find the last pool layer's name from a probe context */
        gc_status st = gc_context_create(&opt, &ctx);
        if (st != GC_OK) {
            snprintf(m->error, sizeof m->error, "%s", gc_last_error(ctx));
            goto cleanup;
        }
        for (int32_t i = 0; gc_layer_name(ctx, i); i++)
            if (strstr(gc_layer_name(ctx, i), "pool"))
                snprintf(last_pool, sizeof last_pool, "%s", gc_layer_name(ctx, i));
        gc_context_destroy(ctx);
        ctx = NULL;
        if (!*last_pool) {
            snprintf(m->error, sizeof m->error, "the model has no pool layer");
            goto cleanup;
        }
        layer = last_pool;
    }
    opt.layer = layer;
    gc_status st = gc_context_create(&opt, &ctx);
    if (st != GC_OK) {
        snprintf(m->error, sizeof m->error, "%s", gc_last_error(ctx));
        goto cleanup;
    }
    gc_model_info info;
    gc_model_info_get(ctx, &info);
    snprintf(layer_out, layer_len, "%s", info.target_layer);
    m->layer = layer_out;
    const size_t cams_len = (size_t)a->batch * info.cam_height * info.cam_width;
    const size_t pre_len = (size_t)a->batch * 3 * a->size * a->size;
    results = malloc(sizeof *results * (size_t)a->batch);
    cams = malloc(sizeof *cams * cams_len);
    pre = malloc(sizeof *pre * pre_len);
    if (!results || !cams || !pre) {
        snprintf(m->error, sizeof m->error, "out of memory");
        goto cleanup;
    }
    for (int32_t it = 0; it < a->warmup + a->iters; it++) {
        double t0 = now_ms();
        switch (call) {
        case CALL_TENSOR:
            st = gc_explain_tensor(ctx, in->tensor, a->batch, NULL, results, cams, cams_len);
            break;
        case CALL_IMAGES:
            st = gc_explain(ctx, in->images, a->batch, NULL, results, cams, cams_len);
            break;
        case CALL_PREDICT:
            st = gc_predict_tensor(ctx, in->tensor, a->batch, results);
            break;
        default:
            st = gc_preprocess_images(ctx, in->images, a->batch, pre, pre_len);
            break;
        }
        double t1 = now_ms();
        if (st != GC_OK) {
            snprintf(m->error, sizeof m->error, "%s", gc_last_error(ctx));
            goto cleanup;
        }
        if (!a->json)
            fprintf(stderr, "  %-13s %s %d/%d: %.1f ms\n", m->name,
                    it < a->warmup ? "warm-up" : "iter", it < a->warmup ? it + 1 : it - a->warmup + 1,
                    it < a->warmup ? a->warmup : a->iters, t1 - t0);
        if (it >= a->warmup)
            m->samples_ms[m->count++] = t1 - t0;
    }
    summarize(m);
    m->ok = 1;
cleanup:
    free(results);
    free(cams);
    free(pre);
    gc_context_destroy(ctx);
}

/* ---------------------------------------------------------------- output */

static void print_text(const bench_args *a, const char *cpu, long cores, int threads,
                       bench_mode *modes, int n_modes)
{
    printf("gradcam-bench  libgradcam %s, CPU backend, fp32\n", gc_version_string());
    printf("machine        %s, %ld cores online, %d threads (OpenBLAS %s, core %s)\n", cpu,
           cores, threads, openblas_get_config(), openblas_get_corename());
    printf("workload       %s, batch %d, %dx%d, %d iters after %d warm-up, median\n",
           a->weights, a->batch, a->size, a->size, a->iters, a->warmup);
    printf("%-13s %-16s %12s %12s %12s %10s\n", "mode", "target", "ms/batch", "min ms",
           "max ms", "images/s");
    for (int i = 0; i < n_modes; i++) {
        const bench_mode *m = &modes[i];
        if (m->skipped)
            continue;
        if (!m->ok) {
            printf("%-13s failed: %s\n", m->name, m->error);
            continue;
        }
        printf("%-13s %-16s %12.1f %12.1f %12.1f %10.2f\n", m->name, m->layer, m->median_ms,
               m->min_ms, m->max_ms, 1e3 * a->batch / m->median_ms);
    }
    for (int i = 0; i < n_modes; i++)
        if (!modes[i].skipped)
            printf("  %-13s %s\n", modes[i].name, modes[i].what);
}

static void print_json(const bench_args *a, const char *cpu, long cores, int threads,
                       bench_mode *modes, int n_modes)
{
    printf("{\"tool\":\"gradcam-bench\",\"library_version\":");
    json_string(stdout, gc_version_string());
    printf(",\"backend\":\"cpu\",\"precision\":\"fp32\",\"machine\":{\"cpu\":");
    json_string(stdout, cpu);
    printf(",\"cores\":%ld,\"threads\":%d,\"openblas_config\":", cores, threads);
    json_string(stdout, openblas_get_config());
    printf(",\"openblas_core\":");
    json_string(stdout, openblas_get_corename());
    printf(",\"openblas_coretype_env\":");
    json_string(stdout, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
    /* threading knobs that change the numbers a lot (see docs/benchmarks.md) */
    static const char *const knobs[] = {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                        "OPENBLAS_NUM_THREADS", "OMP_PROC_BIND"};
    printf(",\"env\":{");
    for (size_t k = 0, first = 1; k < sizeof knobs / sizeof *knobs; k++) {
        const char *v = getenv(knobs[k]);
        if (!v)
            continue;
        printf("%s\"%s\":", first ? "" : ",", knobs[k]);
        json_string(stdout, v);
        first = 0;
    }
    printf("}},\"config\":{\"weights\":");
    json_string(stdout, a->weights);
    printf(",\"batch\":%d,\"size\":%d,\"iters\":%d,\"warmup\":%d,\"image_size\":[%d,%d]},"
           "\"modes\":{",
           a->batch, a->size, a->iters, a->warmup, BENCH_IMG_W, BENCH_IMG_H);
    for (int i = 0, first = 1; i < n_modes; i++) {
        const bench_mode *m = &modes[i];
        if (m->skipped)
            continue;
        printf("%s", first ? "" : ",");
        first = 0;
        json_string(stdout, m->name);
        printf(":{\"ok\":%s,\"what\":", m->ok ? "true" : "false");
        json_string(stdout, m->what);
        if (!m->ok) {
            printf(",\"error\":");
            json_string(stdout, m->error);
            printf("}");
            continue;
        }
        printf(",\"layer\":");
        json_string(stdout, m->layer);
        printf(",\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
               "\"images_per_s\":%.4f,\"samples_ms\":[",
               m->median_ms, m->min_ms, m->max_ms, m->mean_ms, 1e3 * a->batch / m->median_ms);
        for (int j = 0; j < m->count; j++)
            printf("%s%.3f", j ? "," : "", m->samples_ms[j]);
        printf("]}");
    }
    printf("}}\n");
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    bench_args a;
    if (!parse_args(argc, argv, &a)) {
        usage(stderr);
        return 2;
    }
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int threads = a.threads > 0 ? a.threads : (int)cores;

    const size_t HW = (size_t)a.size * a.size, npix = (size_t)BENCH_IMG_W * BENCH_IMG_H;
    float *tensor = malloc(sizeof(float) * (size_t)a.batch * 3 * HW);
    uint8_t *pixels = malloc((size_t)a.batch * npix * 3);
    gc_image *images = malloc(sizeof(gc_image) * (size_t)a.batch);
    if (!tensor || !pixels || !images) {
        fprintf(stderr, "gradcam-bench: out of memory for the inputs\n");
        return 1;
    }
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < (size_t)a.batch * 3 * HW; i++)
        tensor[i] = rng_normal(&seed);
    for (size_t i = 0; i < (size_t)a.batch * npix * 3; i++)
        pixels[i] = (uint8_t)(rng_next(&seed) >> 56);
    for (int32_t i = 0; i < a.batch; i++)
        images[i] = (gc_image){.data = pixels + (size_t)i * npix * 3, .width = BENCH_IMG_W,
                               .height = BENCH_IMG_H, .stride = 3 * BENCH_IMG_W};
    const bench_inputs in = {.tensor = tensor, .images = images};

    enum { N_MODES = 5 };
    static bench_mode modes[N_MODES];
    modes[0] = (bench_mode){.name = "gradcam",
                            .what = "gc_explain_tensor: forward + backward to the target + cam"};
    modes[1] = (bench_mode){
        .name = "near_forward",
        .what = "gc_explain_tensor targeted at the last pool layer: forward + head backward "
                "(no forward-only API yet; an upper bound on the forward)"};
    modes[2] = (bench_mode){.name = "explain_u8",
                            .what = "gc_explain on 500x375 uint8 RGB: resize + normalize + "
                                    "the gradcam mode"};
    modes[3] = (bench_mode){.name = "preprocess",
                            .what = "gc_preprocess_images on the 500x375 uint8 images alone"};
    modes[4] = (bench_mode){.name = "forward",
                            .what = "gc_predict_tensor: the forward pass alone"};
    char layers[N_MODES][64];
    if (!a.json)
        fprintf(stderr, "gradcam-bench: %s, batch %d, %dx%d, %d threads\n", a.weights, a.batch,
                a.size, a.size, threads);
    const char *mode_layer[N_MODES] = {a.layer, "", a.layer, a.layer, a.layer};
    const bench_call mode_call[N_MODES] = {CALL_TENSOR, CALL_TENSOR, CALL_IMAGES,
                                           CALL_PREPROCESS, CALL_PREDICT};
    int all_ok = 1;
    for (int i = 0; i < N_MODES; i++) {
        if (!mode_selected(a.modes, modes[i].name)) {
            modes[i].skipped = 1;
            continue;
        }
        run_mode(&a, mode_layer[i], mode_call[i], &in, &modes[i], layers[i], sizeof layers[i]);
        all_ok &= modes[i].ok;
    }

    if (a.json)
        print_json(&a, cpu, cores, threads, modes, N_MODES);
    else
        print_text(&a, cpu, cores, threads, modes, N_MODES);
    free(tensor);
    free(pixels);
    free(images);
    return all_ok ? 0 : 1;
}
