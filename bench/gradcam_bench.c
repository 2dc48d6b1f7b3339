/*
 * gradcam_bench.c — timing of libgradcam through its public API, on the CPU or CUDA backend,
 * for comparison with the PyTorch peers in bench/peers/ (driven by bench/run_cpu_bench.sh on
 * the CPU and scripts/device-bench.sh on a GPU).
 *
 * For each precision in --precision and each batch size in --batch, one context is created
 * (and destroyed before the next: one at a time), and each selected mode runs on it: the
 * median wall time (CLOCK_MONOTONIC) of one batch call over --iters calls after --warmup
 * calls. Every call is synchronous (the library returns when the batch is done and its
 * results are on the host), so wall time is what a user waits for. Modes:
 *   gradcam       gc_explain_tensor on a fixed, seeded random preprocessed (N,3,S,S) host
 *                 tensor, target = --layer (default: the last conv layer, post-ReLU)
 *   forward       gc_predict_tensor on the same tensor: the forward pass alone
 *   near_forward  gc_explain_tensor targeted at the last pool layer (own context; from
 *                 before gc_predict existed, kept for the CPU history)
 *   explain_u8    gc_explain on N seeded uint8 RGB images of --image-size (default 500x375)
 *   preprocess    gc_preprocess_images on the same images alone
 *   gpu           gc_explain_device on the tensor already in device memory (cudaMalloc'd once,
 *                 outside the timing): the compute alone. CUDA backend only.
 *   gpu_forward   gc_predict_device on the same device tensor: the forward alone, the
 *                 denominator of the Grad-CAM / forward ratio. CUDA backend only.
 *   host          gc_explain on the uint8 images (preprocessing, copies and all) and then
 *                 gc_render (heatmap + overlay at the image's size) of every image on a pool
 *                 of --threads host threads (default: all cores): the host's share of the
 *                 command's work, without file I/O. Reports the two parts too.
 *   files         the `gradcam` command itself (--gradcam-bin) on a folder of --files
 *                 generated photo-like JPEGs of --image-size, writing overlay PNGs; wall time
 *                 of the whole process, and the steady rate (N - B images over the time beyond
 *                 a run on B = batch images, which pays the same start-up).
 * After the timed modes, unless --profile-iters 0, a second context with options.profile = 1
 * runs each of gradcam / forward / gpu / host again and reports gc_profile_get()'s per-stage
 * milliseconds (medians): profiling synchronizes between stages, so those batches are slower
 * and are never the timed ones.
 *
 * Work: forward FLOPs per image are counted from the model's shapes: 2*9*C*K*H*W for each
 * 3x3 conv (from gc_model_info's cfg and the input size) plus 2 x the elements of every other
 * weight matrix in the safetensors file (the dense head, applied once per image). Achieved
 * TFLOP/s = forward FLOPs x images/s, for every mode (Grad-CAM's backward to the target adds
 * under 1% for VGG16 at block5_conv3 and is not counted); % of peak from the GPU's name (a
 * table below; no % for a GPU not in it).
 *
 * Output: a text table, or --json (one object per precision and batch: the format
 * bench/run_cpu_bench.sh reads) or --jsonl (one self-contained record per line, flushed as
 * each mode finishes: what scripts/device-bench.sh collects).
 * Timing only: this program never checks results (tests/ does that).
 */
#ifdef GC_HAVE_OPENBLAS
#include <cblas.h>
#else /* built without OpenBLAS: the library's built-in GEMM */
static const char *openblas_get_config(void) { return "none (built-in GEMM)"; }
static const char *openblas_get_corename(void) { return "none"; }
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#ifdef GC_BENCH_CUDA
#include <cuda_runtime_api.h>
#include <cudnn.h>
#endif

#include "gradcam.h"

extern char **environ;

#define BENCH_MAX_SAMPLES 1000
#define BENCH_MAX_LIST 8
#define BENCH_N_MODES 9

typedef struct bench_args {
    const char *weights;
    const char *layer; /* NULL = library default */
    const char *modes; /* comma-separated subset of the mode names; NULL = the backend's set */
    const char *gradcam_bin, *files_dir, *gpu_name, *commit;
    gc_backend backend;
    int32_t device;
    int32_t batches[BENCH_MAX_LIST], n_batches;
    gc_precision precisions[BENCH_MAX_LIST];
    int32_t n_precisions;
    int32_t size, iters, warmup, threads, profile_iters, image_w, image_h, files, files_runs;
    int json, jsonl, files_prepare;
} bench_args;

typedef struct bench_mode {
    const char *name;
    const char *what;
    char layer[64]; /* the canonical target layer the library resolved */
    int32_t batch;
    gc_precision precision;
    double samples_ms[BENCH_MAX_SAMPLES];
    int count;
    double median_ms, min_ms, max_ms, mean_ms;
    int ok, skipped;
    char error[320];
    /* host mode: the two parts, medians */
    double explain_ms, render_ms;
    /* gc_profile_get after the last timed call (total_ms, device_bytes) */
    gc_profile last;
    /* the profiled pass (medians per stage), when profiled */
    gc_profile stages;
    int profiled;
    char profile_error[320];
    /* files mode */
    int32_t files_images, files_ok;
    double files_wall_s, files_startup_s, files_steady_ips;
    double files_epoch[2]; /* the last full run's start and end, Unix seconds (CLOCK_REALTIME) */
    /* cudaMemGetInfo: device memory taken while the context lived (CUDA only; else -1) */
    int64_t device_used_bytes;
} bench_mode;

typedef struct gpu_info {
    int present;
    char name[256];
    int cc_major, cc_minor, sms;
    int64_t memory_bytes;
    int driver_api, runtime; /* CUDA versions as 1000 * major + 10 * minor */
    long cudnn;              /* cudnnGetVersion() */
    char error[256];
} gpu_info;

typedef struct model_work {
    double conv_flops, head_flops; /* per image, forward */
    int ok;
    char note[160];
} model_work;

/* ---------------------------------------------------------------- helpers */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static double epoch_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, int n)
{
    double sorted[BENCH_MAX_SAMPLES];
    if (n <= 0)
        return 0.0;
    memcpy(sorted, v, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

static void summarize(bench_mode *m)
{
    double lo = m->samples_ms[0], hi = lo, sum = 0.0;
    for (int i = 0; i < m->count; i++) {
        lo = m->samples_ms[i] < lo ? m->samples_ms[i] : lo;
        hi = m->samples_ms[i] > hi ? m->samples_ms[i] : hi;
        sum += m->samples_ms[i];
    }
    m->median_ms = median_of(m->samples_ms, m->count);
    m->min_ms = lo;
    m->max_ms = hi;
    m->mean_ms = sum / m->count;
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
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
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

static const char *precision_name(gc_precision p)
{
    static const char *const names[] = {"auto", "fp32", "tf32", "bf16", "fp16"};
    return (unsigned)p <= GC_PRECISION_FP16 ? names[p] : "?";
}

static const char *backend_name(gc_backend b)
{
    return b == GC_BACKEND_CUDA ? "cuda" : b == GC_BACKEND_CPU ? "cpu" : "auto";
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
            if (n == strlen(precision_name((gc_precision)k)) &&
                !strncmp(p, precision_name((gc_precision)k), n))
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

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gradcam-bench --weights FILE [--backend cpu|cuda (cpu)] [--device N]\n"
            "         [--precision LIST (fp32 on cpu, bf16 on cuda)] [--batch LIST (8)]\n"
            "         [--size N (224)] [--iters N (5)] [--warmup N (1)] [--threads N (0 = all)]\n"
            "         [--layer NAME (last conv)] [--profile-iters N (3; 0 = none)]\n"
            "         [--modes LIST] [--image-size WxH (500x375)] [--json | --jsonl]\n"
            "         [--files N (256)] [--files-runs N (1)] [--files-dir DIR]\n"
            "         [--files-prepare (only write the JPEGs into --files-dir, then exit)]\n"
            "         [--gradcam-bin PATH (next to this program: ../gradcam)]\n"
            "         [--gpu-name NAME (for the peak table)] [--commit TEXT]\n"
            "Modes: gradcam, forward, near_forward, explain_u8, preprocess, gpu, host, files.\n"
            "Default modes: cpu: gradcam,near_forward,explain_u8,preprocess,forward;\n"
            "cuda: gpu,gradcam,forward,host. LISTs are comma-separated (--batch 1,32,128,256).\n");
}

static const char *const known_modes[BENCH_N_MODES] = {
    "gradcam", "near_forward", "explain_u8", "preprocess", "forward", "gpu", "gpu_forward",
    "host", "files"};

static int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.size = 224, .iters = 5, .warmup = 1, .profile_iters = 3,
                      .image_w = 500, .image_h = 375, .files = 256, .files_runs = 1,
                      .backend = GC_BACKEND_CPU, .batches = {8}, .n_batches = 1};
    const char *precisions = NULL;
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
        else if (!strcmp(f, "--gpu-name") && v)
            a->gpu_name = argv[++i];
        else if (!strcmp(f, "--commit") && v)
            a->commit = argv[++i];
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
static int mode_selected(const char *list, const char *name)
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

/* ---------------------------------------------------------------- the GPU and its peak */

/* Dense peak TFLOP/s by GPU name (NVIDIA's data sheets; tensor cores for tf32/bf16/fp16,
 * the plain FP32 pipes for fp32, which is what the library's fp32 mode uses). The first row
 * whose words all occur in the lower-cased name wins. bench/peers/torch_gradcam.py keeps
 * the same table (GPU_PEAKS): change both. */
typedef struct gpu_peak {
    const char *words[3];
    const char *label;
    double fp32, tf32, bf16, fp16;
} gpu_peak;

static const gpu_peak gpu_peaks[] = {
    {{"h100", "pcie", NULL}, "H100 PCIe", 51.2, 378.0, 756.0, 756.0},
    {{"h100", "nvl", NULL}, "H100 NVL", 60.0, 417.5, 835.0, 835.0},
    {{"h200", "nvl", NULL}, "H200 NVL", 60.0, 417.5, 835.0, 835.0},
    {{"gh200", NULL, NULL}, "GH200", 67.0, 494.7, 989.4, 989.4},
    {{"h200", NULL, NULL}, "H200 SXM", 67.0, 494.7, 989.4, 989.4},
    {{"h100", NULL, NULL}, "H100 SXM", 67.0, 494.7, 989.4, 989.4},
    {{"a100", NULL, NULL}, "A100", 19.5, 156.0, 312.0, 312.0},
};

static const gpu_peak *find_peak(const char *name)
{
    if (!name || !*name)
        return NULL;
    char low[256];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = 0;
    for (size_t r = 0; r < sizeof gpu_peaks / sizeof *gpu_peaks; r++) {
        int all = 1;
        for (int w = 0; w < 3 && gpu_peaks[r].words[w]; w++)
            all &= strstr(low, gpu_peaks[r].words[w]) != NULL;
        if (all)
            return &gpu_peaks[r];
    }
    return NULL;
}

static double peak_tflops(const gpu_peak *p, gc_precision prec)
{
    if (!p)
        return 0.0;
    switch (prec) {
    case GC_PRECISION_FP32:
        return p->fp32;
    case GC_PRECISION_TF32:
        return p->tf32;
    case GC_PRECISION_BF16:
    case GC_PRECISION_AUTO: /* the GPU's auto is bf16 */
        return p->bf16;
    case GC_PRECISION_FP16:
        return p->fp16;
    }
    return 0.0;
}

static void query_gpu(const bench_args *a, gpu_info *g)
{
    memset(g, 0, sizeof *g);
#ifdef GC_BENCH_CUDA
    struct cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, a->device);
    if (e != cudaSuccess) {
        snprintf(g->error, sizeof g->error, "cudaGetDeviceProperties: %s", cudaGetErrorString(e));
        return;
    }
    g->present = 1;
    snprintf(g->name, sizeof g->name, "%s", prop.name);
    g->cc_major = prop.major;
    g->cc_minor = prop.minor;
    g->sms = prop.multiProcessorCount;
    g->memory_bytes = (int64_t)prop.totalGlobalMem;
    cudaDriverGetVersion(&g->driver_api);
    cudaRuntimeGetVersion(&g->runtime);
    g->cudnn = (long)cudnnGetVersion();
#else
    (void)a;
    snprintf(g->error, sizeof g->error, "gradcam-bench built without the CUDA runtime");
#endif
}

/* Device memory in use on the bench's device (total - free), or -1. */
static int64_t device_used(const bench_args *a)
{
#ifdef GC_BENCH_CUDA
    size_t free_b = 0, total_b = 0;
    if (a->backend == GC_BACKEND_CUDA && cudaSetDevice(a->device) == cudaSuccess &&
        cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        return (int64_t)(total_b - free_b);
#else
    (void)a;
#endif
    return -1;
}

/* ---------------------------------------------------------------- work per image */

/* Elements of every weight tensor of >= 2 dimensions that is not a 3x3 feature conv (the
 * dense head: classifier.N / pre_logits.fc1/fc2 / head.fc), from the safetensors header. */
static int head_weight_elements(const char *path, double *elems, char *note, size_t note_len)
{
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    char *hdr = NULL;
    cJSON *root = NULL;
    int ok = 0;
    if (!f || fread(len8, 1, 8, f) != 8) {
        snprintf(note, note_len, "cannot read %s", path);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen == 0 || hlen > (100u << 20) || !(hdr = malloc(hlen + 1)) ||
        fread(hdr, 1, hlen, f) != hlen) {
        snprintf(note, note_len, "bad safetensors header in %s", path);
        goto done;
    }
    hdr[hlen] = 0;
    if (!(root = cJSON_Parse(hdr))) {
        snprintf(note, note_len, "safetensors header is not JSON");
        goto done;
    }
    *elems = 0.0;
    for (cJSON *t = root->child; t; t = t->next) {
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        const size_t nl = t->string ? strlen(t->string) : 0;
        if (!cJSON_IsArray(shape) || nl < 7 || strcmp(t->string + nl - 7, ".weight"))
            continue;
        int dims = cJSON_GetArraySize(shape);
        double e = 1.0;
        int s[4] = {0, 0, 0, 0};
        for (int d = 0; d < dims; d++) {
            double v = cJSON_GetArrayItem(shape, d)->valuedouble;
            e *= v;
            if (d < 4)
                s[d] = (int)v;
        }
        int feature_conv = dims == 4 && s[2] == 3 && s[3] == 3 &&
                           !strncmp(t->string, "features.", 9);
        if (dims >= 2 && !feature_conv)
            *elems += e;
    }
    ok = 1;
done:
    cJSON_Delete(root);
    free(hdr);
    if (f)
        fclose(f);
    return ok;
}

static void count_work(const bench_args *a, const gc_model_info *info, model_work *w)
{
    memset(w, 0, sizeof *w);
    double c = 3.0, h = info->input_height, wd = info->input_width;
    for (const char *p = info->arch; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == 1 && (*p == 'M' || *p == 'm')) {
            h = (double)((int)h / 2);
            wd = (double)((int)wd / 2);
        } else {
            double k = strtod(p, NULL);
            w->conv_flops += 2.0 * 9.0 * c * k * h * wd;
            c = k;
        }
        p += n + (p[n] == ',');
    }
    double elems = 0.0;
    if (!head_weight_elements(a->weights, &elems, w->note, sizeof w->note))
        return;
    w->head_flops = 2.0 * elems;
    w->ok = w->conv_flops > 0.0;
    snprintf(w->note, sizeof w->note,
             "forward only: 2*9*C*K*H*W per 3x3 conv + 2 x dense weight elements");
}

/* ---------------------------------------------------------------- a thread pool */

/* Persistent host threads that run fn(arg, item, thread) for items 0..n-1 (dynamic split),
 * for the host mode's rendering and the files mode's JPEG generation. */
typedef void (*pool_fn)(void *arg, int32_t item, int32_t thread);

typedef struct pool {
    int32_t threads;
    pthread_t *tid;
    pthread_barrier_t start, done;
    pool_fn fn;
    void *arg;
    int32_t n;
    atomic_int next;
    int stop;
} pool;

typedef struct pool_worker {
    pool *p;
    int32_t index;
} pool_worker;

static void pool_drain(pool *p, int32_t thread)
{
    for (;;) {
        int32_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            break;
        p->fn(p->arg, i, thread);
    }
}

static void *pool_main(void *arg)
{
    pool_worker *w = arg;
    pool *p = w->p;
    for (;;) {
        pthread_barrier_wait(&p->start);
        if (p->stop)
            break;
        pool_drain(p, w->index);
        pthread_barrier_wait(&p->done);
    }
    return NULL;
}

static pool_worker pool_workers[1024];

/* threads - 1 helpers; the caller is thread 0. Returns 0 on failure. */
static int pool_init(pool *p, int32_t threads)
{
    memset(p, 0, sizeof *p);
    p->threads = threads < 1 ? 1 : threads > 1024 ? 1024 : threads;
    p->tid = calloc((size_t)p->threads, sizeof *p->tid);
    if (!p->tid || pthread_barrier_init(&p->start, NULL, (unsigned)p->threads) ||
        pthread_barrier_init(&p->done, NULL, (unsigned)p->threads))
        return 0;
    for (int32_t t = 1; t < p->threads; t++) {
        pool_workers[t] = (pool_worker){p, t};
        if (pthread_create(&p->tid[t], NULL, pool_main, &pool_workers[t]))
            return 0; /* not reached in practice; the bench exits on it */
    }
    return 1;
}

static void pool_run(pool *p, pool_fn fn, void *arg, int32_t n)
{
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    atomic_store(&p->next, 0);
    pthread_barrier_wait(&p->start);
    pool_drain(p, 0);
    pthread_barrier_wait(&p->done);
}

static void pool_destroy(pool *p)
{
    p->stop = 1;
    pthread_barrier_wait(&p->start);
    for (int32_t t = 1; t < p->threads; t++)
        pthread_join(p->tid[t], NULL);
    pthread_barrier_destroy(&p->start);
    pthread_barrier_destroy(&p->done);
    free(p->tid);
}

/* ---------------------------------------------------------------- inputs */

typedef struct bench_inputs {
    int32_t max_batch;
    float *tensor;    /* (max_batch, 3, S, S) host */
    uint8_t *pixels;  /* max_batch images of image_w x image_h x 3 */
    gc_image *images; /* max_batch */
    void *device_tensor; /* the same tensor in device memory, allocated on first use */
    size_t tensor_len;
    /* host-mode rendering: one heatmap + overlay buffer per thread */
    uint8_t *render_buf;
    size_t render_len; /* bytes per buffer */
} bench_inputs;

static int make_inputs(const bench_args *a, bench_inputs *in)
{
    memset(in, 0, sizeof *in);
    for (int i = 0; i < a->n_batches; i++)
        in->max_batch = a->batches[i] > in->max_batch ? a->batches[i] : in->max_batch;
    const size_t HW = (size_t)a->size * a->size;
    const size_t npix = (size_t)a->image_w * a->image_h;
    in->tensor_len = (size_t)in->max_batch * 3 * HW;
    in->tensor = malloc(sizeof(float) * in->tensor_len);
    in->pixels = malloc((size_t)in->max_batch * npix * 3);
    in->images = malloc(sizeof(gc_image) * (size_t)in->max_batch);
    if (!in->tensor || !in->pixels || !in->images)
        return 0;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < in->tensor_len; i++)
        in->tensor[i] = rng_normal(&seed);
    for (size_t i = 0; i < (size_t)in->max_batch * npix * 3; i++)
        in->pixels[i] = (uint8_t)(rng_next(&seed) >> 56);
    for (int32_t i = 0; i < in->max_batch; i++)
        in->images[i] = (gc_image){.data = in->pixels + (size_t)i * npix * 3,
                                   .width = a->image_w, .height = a->image_h,
                                   .stride = 3 * a->image_w};
    return 1;
}

/* The tensor in device memory, copied once (outside every timing). */
static const float *device_tensor(bench_inputs *in, const bench_args *a, char *err,
                                  size_t err_len)
{
#ifdef GC_BENCH_CUDA
    if (in->device_tensor)
        return in->device_tensor;
    cudaError_t e = cudaSetDevice(a->device);
    if (e == cudaSuccess)
        e = cudaMalloc(&in->device_tensor, sizeof(float) * in->tensor_len);
    if (e == cudaSuccess)
        e = cudaMemcpy(in->device_tensor, in->tensor, sizeof(float) * in->tensor_len,
                       cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        snprintf(err, err_len, "input in device memory: %s", cudaGetErrorString(e));
        if (in->device_tensor)
            cudaFree(in->device_tensor);
        in->device_tensor = NULL;
        return NULL;
    }
    return in->device_tensor;
#else
    (void)in;
    (void)a;
    snprintf(err, err_len, "gpu mode: this gradcam-bench was built without CUDA");
    return NULL;
#endif
}

static void free_inputs(bench_inputs *in)
{
#ifdef GC_BENCH_CUDA
    if (in->device_tensor)
        cudaFree(in->device_tensor);
#endif
    free(in->tensor);
    free(in->pixels);
    free(in->images);
    free(in->render_buf);
}

/* ---------------------------------------------------------------- host-mode rendering */

typedef struct render_job {
    const gc_image *images;
    const float *cams;
    int32_t cam_w, cam_h;
    uint8_t *bufs;
    size_t buf_len; /* heatmap + overlay, per thread */
    atomic_int failures;
} render_job;

static void render_one(void *arg, int32_t item, int32_t thread)
{
    render_job *j = arg;
    const gc_image *img = &j->images[item];
    const size_t half = j->buf_len / 2;
    uint8_t *heat = j->bufs + (size_t)thread * j->buf_len;
    if (gc_render(j->cams + (size_t)item * j->cam_w * j->cam_h, j->cam_w, j->cam_h, img,
                  GC_COLORMAP_JET, 0.4f, heat, half, heat + half, half) != GC_OK)
        atomic_fetch_add(&j->failures, 1);
}

/* ---------------------------------------------------------------- one context, its modes */

typedef enum bench_call {
    CALL_TENSOR, CALL_IMAGES, CALL_PREPROCESS, CALL_PREDICT, CALL_DEVICE, CALL_DEVICE_PREDICT,
    CALL_HOST
} bench_call;

typedef struct mode_def {
    const char *name, *what;
    bench_call call;
} mode_def;

/* In known_modes' order (run_group indexes gpu 5, gpu_forward 6, files 8). */
static const mode_def mode_defs[BENCH_N_MODES] = {
    {"gradcam", "gc_explain_tensor on a host (N,3,S,S) float tensor: upload (GPU), forward, "
                "backward to the target, cam, results to the host", CALL_TENSOR},
    {"near_forward", "gc_explain_tensor targeted at the last pool layer: forward + head "
                     "backward (history: from before gc_predict)", CALL_TENSOR},
    {"explain_u8", "gc_explain on uint8 RGB images: resize + normalize + the gradcam mode",
     CALL_IMAGES},
    {"preprocess", "gc_preprocess_images on the uint8 images alone", CALL_PREPROCESS},
    {"forward", "gc_predict_tensor on the host tensor: the forward pass alone (upload "
                "included on the GPU)", CALL_PREDICT},
    {"gpu", "gc_explain_device: the input already in device memory; compute + cams and "
            "results to the host", CALL_DEVICE},
    {"gpu_forward", "gc_predict_device: the forward alone from device memory (the fair "
                    "denominator for Grad-CAM / forward)", CALL_DEVICE_PREDICT},
    {"host", "gc_explain on uint8 images (preprocessing, copies) + gc_render of every image "
             "(heatmap + overlay) on a host thread pool", CALL_HOST},
    {"files", "the gradcam command on a folder of JPEGs to overlay PNGs (whole process)",
     CALL_HOST},
};

typedef struct run_env {
    const bench_args *a;
    bench_inputs *in;
    pool *threads;
    gc_result *results;
    float *cams, *pre;
    size_t cams_len, pre_len;
    int32_t cam_w, cam_h;
} run_env;

/* One batch call of a mode; for the host mode *explain_ms / *render_ms get the parts. */
static gc_status call_once(gc_context *ctx, run_env *e, bench_call call, int32_t n,
                           const float *dev, double *explain_ms, double *render_ms,
                           char *err, size_t err_len)
{
    gc_status st;
    switch (call) {
    case CALL_TENSOR:
        return gc_explain_tensor(ctx, e->in->tensor, n, NULL, e->results, e->cams, e->cams_len);
    case CALL_IMAGES:
        return gc_explain(ctx, e->in->images, n, NULL, e->results, e->cams, e->cams_len);
    case CALL_PREDICT:
        return gc_predict_tensor(ctx, e->in->tensor, n, e->results);
    case CALL_PREPROCESS:
        return gc_preprocess_images(ctx, e->in->images, n, e->pre, e->pre_len);
    case CALL_DEVICE:
        return gc_explain_device(ctx, dev, n, NULL, e->results, e->cams, e->cams_len);
    case CALL_DEVICE_PREDICT:
        return gc_predict_device(ctx, dev, n, e->results);
    case CALL_HOST: {
        double t0 = now_ms();
        st = gc_explain(ctx, e->in->images, n, NULL, e->results, e->cams, e->cams_len);
        double t1 = now_ms();
        if (st != GC_OK)
            return st;
        render_job j = {.images = e->in->images, .cams = e->cams, .cam_w = e->cam_w,
                        .cam_h = e->cam_h, .bufs = e->in->render_buf,
                        .buf_len = e->in->render_len};
        atomic_init(&j.failures, 0);
        pool_run(e->threads, render_one, &j, n);
        double t2 = now_ms();
        *explain_ms = t1 - t0;
        *render_ms = t2 - t1;
        if (atomic_load(&j.failures)) {
            snprintf(err, err_len, "gc_render failed on %d images", atomic_load(&j.failures));
            return GC_ERR_INVALID_ARGUMENT;
        }
        return GC_OK;
    }
    }
    return GC_ERR_INVALID_ARGUMENT;
}

static gc_status create_context(const bench_args *a, gc_precision prec, int32_t batch,
                                const char *layer, int profile, gc_context **ctx)
{
    gc_options opt = gc_options_default();
    opt.weights_path = a->weights;
    opt.backend = a->backend;
    opt.device = a->device;
    opt.precision = prec;
    opt.threads = a->threads;
    opt.max_batch = batch;
    opt.input_width = a->size;
    opt.input_height = a->size;
    opt.layer = layer;
    opt.profile = profile;
    return gc_context_create(&opt, ctx);
}

/* The last pool layer's name ("block5_pool" for VGG16), from a context's layer list. */
static void last_pool_layer(const gc_context *ctx, char *out, size_t len)
{
    *out = 0;
    for (int32_t i = 0; gc_layer_name(ctx, i); i++)
        if (strstr(gc_layer_name(ctx, i), "pool"))
            snprintf(out, len, "%s", gc_layer_name(ctx, i));
}

static int env_buffers(run_env *e, const gc_model_info *info, int32_t batch, char *err,
                       size_t err_len)
{
    e->cam_w = info->cam_width;
    e->cam_h = info->cam_height;
    e->cams_len = (size_t)batch * info->cam_height * info->cam_width;
    e->pre_len = (size_t)batch * 3 * e->a->size * e->a->size;
    e->results = malloc(sizeof *e->results * (size_t)batch);
    e->cams = malloc(sizeof *e->cams * e->cams_len);
    e->pre = malloc(sizeof *e->pre * e->pre_len);
    if (!e->results || !e->cams || !e->pre) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    return 1;
}

static void env_free(run_env *e)
{
    free(e->results);
    free(e->cams);
    free(e->pre);
    e->results = NULL;
    e->cams = e->pre = NULL;
}

/* Times one mode on ctx into m. */
static void time_mode(gc_context *ctx, run_env *e, bench_mode *m, bench_call call)
{
    const bench_args *a = e->a;
    const int32_t n = m->batch;
    const float *dev = NULL;
    double explain[BENCH_MAX_SAMPLES], render[BENCH_MAX_SAMPLES];
    if ((call == CALL_DEVICE || call == CALL_DEVICE_PREDICT) && !(dev = device_tensor(e->in, a, m->error, sizeof m->error)))
        return;
    for (int32_t it = 0; it < a->warmup + a->iters; it++) {
        double ex = 0.0, re = 0.0, t0 = now_ms();
        gc_status st = call_once(ctx, e, call, n, dev, &ex, &re, m->error, sizeof m->error);
        double t1 = now_ms();
        if (st != GC_OK) {
            if (!*m->error)
                snprintf(m->error, sizeof m->error, "%s: %s", gc_status_string(st),
                         gc_last_error(ctx));
            return;
        }
        if (!a->json && !a->jsonl)
            fprintf(stderr, "  %-12s %s b%d %s %d/%d: %.2f ms\n", m->name,
                    precision_name(m->precision), n, it < a->warmup ? "warm-up" : "iter",
                    it < a->warmup ? it + 1 : it - a->warmup + 1,
                    it < a->warmup ? a->warmup : a->iters, t1 - t0);
        if (it >= a->warmup) {
            explain[m->count] = ex;
            render[m->count] = re;
            m->samples_ms[m->count++] = t1 - t0;
        }
    }
    summarize(m);
    if (call == CALL_HOST) {
        m->explain_ms = median_of(explain, m->count);
        m->render_ms = median_of(render, m->count);
    }
    gc_profile_get(ctx, &m->last);
    m->ok = 1;
}

/* The profiled pass of one mode: per-stage medians over --profile-iters calls (after one
 * warm-up call) into m->stages. */
static void profile_mode(gc_context *ctx, run_env *e, bench_mode *m, bench_call call)
{
    const bench_args *a = e->a;
    const float *dev = NULL;
    double v[9][BENCH_MAX_SAMPLES];
    int count = 0;
    if ((call == CALL_DEVICE || call == CALL_DEVICE_PREDICT) &&
        !(dev = device_tensor(e->in, a, m->profile_error, sizeof m->profile_error)))
        return;
    for (int32_t it = 0; it < 1 + a->profile_iters; it++) {
        double ex = 0.0, re = 0.0;
        gc_status st = call_once(ctx, e, call, m->batch, dev, &ex, &re, m->profile_error,
                                 sizeof m->profile_error);
        gc_profile p;
        if (st == GC_OK)
            st = gc_profile_get(ctx, &p);
        if (st != GC_OK) {
            if (!*m->profile_error)
                snprintf(m->profile_error, sizeof m->profile_error, "%s: %s",
                         gc_status_string(st), gc_last_error(ctx));
            return;
        }
        if (it == 0)
            continue;
        const double f[9] = {p.total_ms, p.preprocess_ms, p.upload_ms, p.features_ms,
                             p.head_ms, p.backward_ms, p.cam_ms, p.download_ms,
                             call == CALL_HOST ? re : 0.0};
        for (int k = 0; k < 9; k++)
            v[k][count] = f[k];
        count++;
        m->stages.device_bytes = p.device_bytes;
        m->stages.images = p.images;
    }
    m->stages.total_ms = median_of(v[0], count);
    m->stages.preprocess_ms = median_of(v[1], count);
    m->stages.upload_ms = median_of(v[2], count);
    m->stages.features_ms = median_of(v[3], count);
    m->stages.head_ms = median_of(v[4], count);
    m->stages.backward_ms = median_of(v[5], count);
    m->stages.cam_ms = median_of(v[6], count);
    m->stages.download_ms = median_of(v[7], count);
    m->profiled = count > 0;
}

/* ---------------------------------------------------------------- files mode */

typedef struct jpeg_job {
    const char *dir;
    int32_t w, h;
    uint8_t *bufs; /* one image per thread */
    atomic_int failures;
    char err[256];
} jpeg_job;

/* A photo-like image: smooth colour waves (per-image frequencies) plus noise, so that JPEG
 * sizes and decode times are like a photograph's rather than a flat or random image's. */
static void jpeg_one(void *arg, int32_t item, int32_t thread)
{
    jpeg_job *j = arg;
    uint8_t *px = j->bufs + (size_t)thread * j->w * j->h * 3;
    float sx[3][8192], cy[3][8192];
    for (int c = 0; c < 3; c++) {
        for (int x = 0; x < j->w; x++)
            sx[c][x] = sinf((float)x / (9.0f + (float)c + (float)(item % 5)));
        for (int y = 0; y < j->h; y++)
            cy[c][y] = cosf((float)y / 13.0f - (float)c + 0.1f * (float)(item % 7));
    }
    uint64_t seed = 0x1234567ULL + (uint64_t)item * 0x9E3779B97F4A7C15ULL;
    for (int y = 0; y < j->h; y++)
        for (int x = 0; x < j->w; x++)
            for (int c = 0; c < 3; c++) {
                float v = 127.0f + 100.0f * sx[c][x] * cy[c][y] +
                          (float)((int)(rng_next(&seed) >> 60) - 8);
                px[((size_t)y * j->w + x) * 3 + c] =
                    (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
            }
    char path[4096];
    snprintf(path, sizeof path, "%s/p%06d.jpg", j->dir, item);
    gc_image img = {px, j->w, j->h, 3 * j->w};
    char err[256];
    if (gc_image_write(path, &img, GC_FORMAT_JPEG, 0, 90, err, sizeof err) != GC_OK) {
        if (atomic_fetch_add(&j->failures, 1) == 0)
            snprintf(j->err, sizeof j->err, "%s", err);
    }
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* `n` JPEGs of w x h in dir (made once: a ".complete-N" marker says they are there), and a
 * list file of the first `small` of them. */
static int make_jpegs(const char *dir, int32_t n, int32_t w, int32_t h, int32_t small,
                      pool *threads, char *err, size_t err_len)
{
    char marker[4096], list[4096];
    snprintf(marker, sizeof marker, "%s/.complete-%d", dir, n);
    snprintf(list, sizeof list, "%s.list-%d", dir, small);
    if (!is_file(marker)) {
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, err_len, "mkdir %s: %s", dir, strerror(errno));
            return 0;
        }
        jpeg_job j = {.dir = dir, .w = w, .h = h};
        atomic_init(&j.failures, 0);
        j.bufs = malloc((size_t)threads->threads * w * h * 3);
        if (!j.bufs) {
            snprintf(err, err_len, "out of memory");
            return 0;
        }
        double t0 = now_ms();
        pool_run(threads, jpeg_one, &j, n);
        free(j.bufs);
        if (atomic_load(&j.failures)) {
            snprintf(err, err_len, "writing JPEGs: %s", j.err);
            return 0;
        }
        FILE *f = fopen(marker, "w");
        if (f)
            fclose(f);
        fprintf(stderr, "gradcam-bench: %d JPEGs %dx%d in %s (%.1f s)\n", n, w, h, dir,
                (now_ms() - t0) * 1e-3);
    }
    FILE *f = fopen(list, "w");
    if (!f) {
        snprintf(err, err_len, "cannot write %s", list);
        return 0;
    }
    for (int32_t i = 0; i < small && i < n; i++)
        fprintf(f, "%s/p%06d.jpg\n", dir, i);
    fclose(f);
    return 1;
}

/* Runs argv with stdin from `in` (or /dev/null) and stdout+stderr appended to `log`.
 * Returns the exit status (-1: could not start; 128+N: killed by signal N). */
static int spawn_wait(char *const argv[], const char *in, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int32_t count_ok_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[16384];
    int32_t n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "\"status\":\"ok\"") || strstr(line, "\"status\": \"ok\"");
    fclose(f);
    return n;
}

static void remove_tree(const char *dir, const char *log)
{
    char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
    spawn_wait(argv, NULL, log);
}

/* One run of the command; returns wall seconds, or -1 (err set). *ok_images: ok lines. */
static double run_command(const bench_args *a, const char *bin, const char *input,
                          const char *stdin_list, const char *out, gc_precision prec,
                          int32_t batch, const char *log, int32_t *ok_images, char *err,
                          size_t err_len)
{
    char b[16], t[16], d[16];
    snprintf(b, sizeof b, "%d", batch);
    snprintf(t, sizeof t, "%d", a->threads);
    snprintf(d, sizeof d, "%d", a->device);
    char *argv[32];
    int k = 0;
    argv[k++] = (char *)bin;
    argv[k++] = "-w";
    argv[k++] = (char *)a->weights;
    argv[k++] = "-o";
    argv[k++] = (char *)out;
    argv[k++] = "--outputs";
    argv[k++] = "overlay";
    argv[k++] = "--backend";
    argv[k++] = (char *)backend_name(a->backend);
    argv[k++] = "--device";
    argv[k++] = d;
    if (prec != GC_PRECISION_AUTO) {
        argv[k++] = "--precision";
        argv[k++] = (char *)precision_name(prec);
    }
    argv[k++] = "--batch";
    argv[k++] = b;
    if (a->threads > 0) {
        argv[k++] = "--threads";
        argv[k++] = t;
    }
    if (a->layer) {
        argv[k++] = "--layer";
        argv[k++] = (char *)a->layer;
    }
    argv[k++] = "--overwrite";
    argv[k++] = "-q";
    argv[k++] = (char *)input;
    argv[k] = NULL;
    remove_tree(out, log);
    double t0 = now_ms();
    int rc = spawn_wait(argv, stdin_list, log);
    double t1 = now_ms();
    char results[4096];
    snprintf(results, sizeof results, "%s/results.jsonl", out);
    *ok_images = count_ok_lines(results);
    remove_tree(out, log);
    if (rc != 0 && rc != 1) {
        snprintf(err, err_len, "%s exited with status %d (log: %s)", bin, rc, log);
        return -1.0;
    }
    return (t1 - t0) * 1e-3;
}

static void files_mode(const bench_args *a, pool *threads, bench_mode *m, const char *bin,
                       const char *root)
{
    char dir[4096], list[4096], out[4096], log[4096];
    snprintf(dir, sizeof dir, "%s/jpeg-%dx%d-%d", root, a->image_w, a->image_h, a->files);
    snprintf(list, sizeof list, "%s.list-%d", dir, m->batch);
    snprintf(out, sizeof out, "%s/out", root);
    snprintf(log, sizeof log, "%s/command-%s-b%d.log", root, precision_name(m->precision),
             m->batch);
    if (!is_file(bin)) {
        snprintf(m->error, sizeof m->error, "no gradcam command at %s (--gradcam-bin)", bin);
        return;
    }
    if (!make_jpegs(dir, a->files, a->image_w, a->image_h, m->batch, threads, m->error,
                    sizeof m->error))
        return;
    /* start-up: a run on one batch (weights, context, first batch) */
    int32_t ok_small = 0, ok_big = 0;
    double small = run_command(a, bin, "-", list, out, m->precision, m->batch, log, &ok_small,
                               m->error, sizeof m->error);
    if (small < 0.0)
        return;
    for (int32_t r = 0; r < a->files_runs; r++) {
        m->files_epoch[0] = epoch_s();
        double s = run_command(a, bin, dir, NULL, out, m->precision, m->batch, log, &ok_big,
                               m->error, sizeof m->error);
        m->files_epoch[1] = epoch_s();
        if (s < 0.0)
            return;
        if (!a->json && !a->jsonl)
            fprintf(stderr, "  files %s b%d run %d/%d: %.2f s, %d ok\n",
                    precision_name(m->precision), m->batch, r + 1, a->files_runs, s, ok_big);
        m->samples_ms[m->count++] = s * 1e3;
    }
    summarize(m);
    m->files_images = a->files;
    m->files_ok = ok_big;
    m->files_wall_s = m->median_ms * 1e-3;
    m->files_startup_s = small;
    const int32_t rest = a->files - (m->batch < a->files ? m->batch : 0);
    m->files_steady_ips = m->files_wall_s > small && rest > 0 ? rest / (m->files_wall_s - small)
                                                              : 0.0;
    if (ok_big != a->files || ok_small != (m->batch < a->files ? m->batch : a->files)) {
        snprintf(m->error, sizeof m->error,
                 "the command wrote %d of %d ok results (start-up run: %d); log: %s", ok_big,
                 a->files, ok_small, log);
        return;
    }
    m->ok = 1;
}

/* ---------------------------------------------------------------- output */

typedef struct bench_meta {
    char cpu[256];
    long cores;
    int threads;
    gpu_info gpu;
    const gpu_peak *peak;
    model_work work;
    const char *gpu_name; /* the name the peak came from */
} bench_meta;

static double images_per_s(const bench_mode *m)
{
    if (!strcmp(m->name, "files"))
        return m->files_wall_s > 0.0 ? m->files_images / m->files_wall_s : 0.0;
    return m->median_ms > 0.0 ? 1e3 * m->batch / m->median_ms : 0.0;
}

static void print_record(const bench_args *a, const bench_meta *meta, const bench_mode *m)
{
    FILE *o = stdout;
    const double ips = m->ok ? images_per_s(m) : 0.0;
    const double flops = meta->work.ok ? meta->work.conv_flops + meta->work.head_flops : 0.0;
    const double peak = peak_tflops(meta->peak, m->precision);
    fprintf(o, "{\"impl\":\"ours\",\"tool\":\"gradcam-bench\",\"mode\":");
    json_string(o, m->name);
    fprintf(o, ",\"backend\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"size\":%d,\"ok\":%s",
            backend_name(a->backend), precision_name(m->precision), m->batch, a->size,
            m->ok ? "true" : "false");
    fprintf(o, ",\"error\":");
    json_string(o, *m->error ? m->error : NULL);
    fprintf(o, ",\"what\":");
    json_string(o, m->what);
    fprintf(o, ",\"layer\":");
    json_string(o, *m->layer ? m->layer : NULL);
    if (m->ok && m->count > 0) {
        fprintf(o, ",\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"mean_ms\":%.4f,"
                   "\"images_per_s\":%.3f,\"iters\":%d,\"warmup\":%d,\"samples_ms\":[",
                m->median_ms, m->min_ms, m->max_ms, m->mean_ms, ips, m->count,
                strcmp(m->name, "files") ? a->warmup : 0);
        for (int j = 0; j < m->count; j++)
            fprintf(o, "%s%.4f", j ? "," : "", m->samples_ms[j]);
        fprintf(o, "]");
        if (flops > 0.0 && strcmp(m->name, "preprocess")) {
            const double tf = flops * ips * 1e-12;
            fprintf(o, ",\"tflops\":%.3f", tf);
            if (peak > 0.0)
                fprintf(o, ",\"peak_tflops\":%.1f,\"pct_peak\":%.2f", peak, 100.0 * tf / peak);
        }
    }
    if (!strcmp(m->name, "host") && m->ok)
        fprintf(o, ",\"explain_ms\":%.4f,\"render_ms\":%.4f,\"render_threads\":%d",
                m->explain_ms, m->render_ms, meta->threads);
    if (!strcmp(m->name, "files"))
        fprintf(o, ",\"files\":{\"images\":%d,\"ok\":%d,\"image_size\":[%d,%d],\"wall_s\":%.3f,"
                   "\"startup_s\":%.3f,\"steady_images_per_s\":%.2f,\"run_epoch_s\":[%.3f,%.3f]}",
                m->files_images, m->files_ok, a->image_w, a->image_h, m->files_wall_s,
                m->files_startup_s, m->files_steady_ips, m->files_epoch[0], m->files_epoch[1]);
    if (strcmp(m->name, "files") && m->ok)
        fprintf(o, ",\"device_bytes\":%lld,\"device_used_bytes\":%lld",
                (long long)m->last.device_bytes, (long long)m->device_used_bytes);
    if (m->profiled) {
        const gc_profile *p = &m->stages;
        fprintf(o, ",\"stages_ms\":{\"total\":%.4f,\"preprocess\":%.4f,\"upload\":%.4f,"
                   "\"features\":%.4f,\"head\":%.4f,\"backward\":%.4f,\"cam\":%.4f,"
                   "\"download\":%.4f",
                p->total_ms, p->preprocess_ms, p->upload_ms, p->features_ms, p->head_ms,
                p->backward_ms, p->cam_ms, p->download_ms);
        if (!strcmp(m->name, "host"))
            fprintf(o, ",\"render\":%.4f", m->render_ms);
        fprintf(o, "},\"profile_iters\":%d", a->profile_iters);
    } else if (*m->profile_error) {
        fprintf(o, ",\"profile_error\":");
        json_string(o, m->profile_error);
    }
    fprintf(o, ",\"flops_per_image\":%.6g,\"flops_note\":", flops);
    json_string(o, meta->work.note);
    fprintf(o, ",\"input\":");
    if (!strcmp(m->name, "gpu") || !strcmp(m->name, "gpu_forward") ||
        !strcmp(m->name, "gradcam") || !strcmp(m->name, "forward") ||
        !strcmp(m->name, "near_forward"))
        fprintf(o, "\"seeded random float32 (N,3,%d,%d)\"", a->size, a->size);
    else
        fprintf(o, "\"uint8 RGB %dx%d\"", a->image_w, a->image_h);
    fprintf(o, ",\"library_version\":");
    json_string(o, gc_version_string());
    fprintf(o, ",\"commit\":");
    json_string(o, a->commit);
    fprintf(o, ",\"machine\":{\"cpu\":");
    json_string(o, meta->cpu);
    fprintf(o, ",\"cores\":%ld,\"threads\":%d", meta->cores, meta->threads);
    if (a->backend == GC_BACKEND_CPU) {
        fprintf(o, ",\"openblas_core\":");
        json_string(o, openblas_get_corename());
    }
    fprintf(o, "},\"gpu\":");
    if (meta->gpu.present) {
        fprintf(o, "{\"name\":");
        json_string(o, meta->gpu.name);
        fprintf(o, ",\"cc\":\"%d.%d\",\"sms\":%d,\"memory_bytes\":%lld,\"cuda_driver\":%d,"
                   "\"cuda_runtime\":%d,\"cudnn\":%ld",
                meta->gpu.cc_major, meta->gpu.cc_minor, meta->gpu.sms,
                (long long)meta->gpu.memory_bytes, meta->gpu.driver_api, meta->gpu.runtime,
                meta->gpu.cudnn);
        fprintf(o, ",\"peak_row\":");
        json_string(o, meta->peak ? meta->peak->label : NULL);
        fprintf(o, "}");
    } else if (a->backend == GC_BACKEND_CUDA) {
        fprintf(o, "{\"name\":");
        json_string(o, meta->gpu_name);
        fprintf(o, ",\"error\":");
        json_string(o, meta->gpu.error);
        fprintf(o, ",\"peak_row\":");
        json_string(o, meta->peak ? meta->peak->label : NULL);
        fprintf(o, "}");
    } else {
        fprintf(o, "null");
    }
    fprintf(o, "}\n");
    fflush(o);
}

/* The CPU script's format: one object per precision and batch, modes by name. */
static void print_json(const bench_args *a, const bench_meta *meta, const bench_mode *modes,
                       int n_modes, int32_t batch, gc_precision prec)
{
    printf("{\"tool\":\"gradcam-bench\",\"library_version\":");
    json_string(stdout, gc_version_string());
    printf(",\"backend\":\"%s\",\"precision\":\"%s\",\"machine\":{\"cpu\":",
           backend_name(a->backend), precision_name(prec));
    json_string(stdout, meta->cpu);
    printf(",\"cores\":%ld,\"threads\":%d,\"openblas_config\":", meta->cores, meta->threads);
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
           batch, a->size, a->iters, a->warmup, a->image_w, a->image_h);
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
        json_string(stdout, *m->layer ? m->layer : NULL);
        printf(",\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
               "\"images_per_s\":%.4f,\"samples_ms\":[",
               m->median_ms, m->min_ms, m->max_ms, m->mean_ms, images_per_s(m));
        for (int j = 0; j < m->count; j++)
            printf("%s%.3f", j ? "," : "", m->samples_ms[j]);
        printf("]}");
    }
    printf("}}\n");
    fflush(stdout);
}

static void print_text(const bench_args *a, const bench_meta *meta, const bench_mode *modes,
                       int n_modes, int32_t batch, gc_precision prec)
{
    const double flops = meta->work.ok ? meta->work.conv_flops + meta->work.head_flops : 0.0;
    const double peak = peak_tflops(meta->peak, prec);
    printf("gradcam-bench  libgradcam %s, %s backend, %s, batch %d, %dx%d\n",
           gc_version_string(), backend_name(a->backend), precision_name(prec), batch, a->size,
           a->size);
    printf("machine        %s, %ld cores online, %d threads (OpenBLAS core %s)\n", meta->cpu,
           meta->cores, meta->threads, openblas_get_corename());
    if (meta->gpu.present)
        printf("gpu            %s (cc %d.%d, %d SMs), CUDA driver %d runtime %d, cuDNN %ld, "
               "peak %s\n",
               meta->gpu.name, meta->gpu.cc_major, meta->gpu.cc_minor, meta->gpu.sms,
               meta->gpu.driver_api, meta->gpu.runtime, meta->gpu.cudnn,
               meta->peak ? meta->peak->label : "unknown");
    printf("work           %.2f GFLOP per image forward (%s)\n", flops * 1e-9, meta->work.note);
    printf("%-12s %-14s %10s %10s %10s %11s %8s %7s\n", "mode", "target", "ms/batch", "min ms",
           "max ms", "images/s", "TFLOP/s", "% peak");
    for (int i = 0; i < n_modes; i++) {
        const bench_mode *m = &modes[i];
        if (m->skipped)
            continue;
        if (!m->ok) {
            printf("%-12s failed: %s\n", m->name, m->error);
            continue;
        }
        const int no_work = !strcmp(m->name, "preprocess");
        const double ips = images_per_s(m), tf = no_work ? 0.0 : flops * ips * 1e-12;
        printf("%-12s %-14s %10.2f %10.2f %10.2f %11.2f %8.3f", m->name,
               *m->layer ? m->layer : "-", m->median_ms, m->min_ms, m->max_ms, ips, tf);
        if (peak > 0.0 && !no_work)
            printf(" %6.1f%%", 100.0 * tf / peak);
        printf("\n");
        if (!strcmp(m->name, "host"))
            printf("%12s explain %.2f ms + render %.2f ms (%d threads)\n", "", m->explain_ms,
                   m->render_ms, meta->threads);
        if (!strcmp(m->name, "files"))
            printf("%12s %d JPEGs %dx%d: %.2f s wall, start-up %.2f s, steady %.1f img/s\n",
                   "", m->files_images, a->image_w, a->image_h, m->files_wall_s,
                   m->files_startup_s, m->files_steady_ips);
        if (m->last.device_bytes > 0 || m->device_used_bytes > 0)
            printf("%12s device memory: context %.1f MiB, in use %.1f MiB\n", "",
                   m->last.device_bytes / 1048576.0, m->device_used_bytes / 1048576.0);
        if (m->profiled)
            printf("%12s stages ms: preprocess %.2f upload %.2f features %.2f head %.2f "
                   "backward %.2f cam %.2f download %.2f (total %.2f, profiled)\n",
                   "", m->stages.preprocess_ms, m->stages.upload_ms, m->stages.features_ms,
                   m->stages.head_ms, m->stages.backward_ms, m->stages.cam_ms,
                   m->stages.download_ms, m->stages.total_ms);
        else if (*m->profile_error)
            printf("%12s profile: %s\n", "", m->profile_error);
    }
    for (int i = 0; i < n_modes; i++)
        if (!modes[i].skipped)
            printf("  %-12s %s\n", modes[i].name, modes[i].what);
    printf("\n");
}

/* ---------------------------------------------------------------- one precision and batch */

/* Returns 1 when every selected mode ran. */
static int run_group(const bench_args *a, bench_meta *meta, run_env *e, pool *threads,
                     const char *bin, const char *files_root, gc_precision prec, int32_t batch)
{
    static bench_mode modes[BENCH_N_MODES];
    for (int i = 0; i < BENCH_N_MODES; i++) {
        modes[i] = (bench_mode){.name = mode_defs[i].name, .what = mode_defs[i].what,
                                .batch = batch, .precision = prec, .device_used_bytes = -1};
        modes[i].skipped = !mode_selected(a->modes, modes[i].name);
    }
    /* the shared context: every mode but near_forward and files */
    int any = 0;
    for (int i = 0; i < BENCH_N_MODES; i++)
        any |= !modes[i].skipped && strcmp(modes[i].name, "near_forward") &&
               strcmp(modes[i].name, "files");
    char err[320] = "";
    if (any) {
        if (!modes[5].skipped || !modes[6].skipped) { /* gpu modes' input, outside the
                                                          memory delta */
            char ignored[320];
            device_tensor(e->in, a, ignored, sizeof ignored);
        }
        const int64_t used0 = device_used(a);
        gc_context *ctx = NULL;
        gc_status st = create_context(a, prec, batch, a->layer, 0, &ctx);
        gc_model_info info;
        if (st == GC_OK)
            st = gc_model_info_get(ctx, &info);
        if (st != GC_OK)
            snprintf(err, sizeof err, "context: %s: %s", gc_status_string(st),
                     gc_last_error(ctx));
        else if (!meta->work.ok)
            count_work(a, &info, &meta->work);
        if (!*err && !env_buffers(e, &info, batch, err, sizeof err))
            st = GC_ERR_OUT_OF_MEMORY;
        for (int i = 0; i < BENCH_N_MODES; i++) {
            bench_mode *m = &modes[i];
            if (m->skipped || !strcmp(m->name, "near_forward") || !strcmp(m->name, "files"))
                continue;
            if (*err)
                snprintf(m->error, sizeof m->error, "%s", err);
            else {
                snprintf(m->layer, sizeof m->layer, "%s",
                         strcmp(m->name, "preprocess") && strcmp(m->name, "forward") &&
                                 strcmp(m->name, "gpu_forward")
                             ? info.target_layer : "");
                time_mode(ctx, e, m, mode_defs[i].call);
                const int64_t used1 = device_used(a);
                m->device_used_bytes = used0 >= 0 && used1 >= 0 ? used1 - used0 : -1;
            }
            if (a->jsonl && (a->profile_iters == 0 || !m->ok))
                print_record(a, meta, m);
        }
        env_free(e);
        gc_context_destroy(ctx);

        /* the profiled pass, on its own context */
        if (a->profile_iters > 0 && !*err) {
            ctx = NULL;
            st = create_context(a, prec, batch, a->layer, 1, &ctx);
            if (st == GC_OK && gc_model_info_get(ctx, &info) == GC_OK &&
                env_buffers(e, &info, batch, err, sizeof err)) {
                for (int i = 0; i < BENCH_N_MODES; i++) {
                    bench_mode *m = &modes[i];
                    if (m->skipped || !m->ok || !strcmp(m->name, "preprocess"))
                        continue;
                    if (!strcmp(m->name, "near_forward") || !strcmp(m->name, "files"))
                        continue;
                    profile_mode(ctx, e, m, mode_defs[i].call);
                }
            } else {
                for (int i = 0; i < BENCH_N_MODES; i++)
                    snprintf(modes[i].profile_error, sizeof modes[i].profile_error,
                             "profiled context: %s", *err ? err : gc_last_error(ctx));
            }
            env_free(e);
            gc_context_destroy(ctx);
            if (a->jsonl)
                for (int i = 0; i < BENCH_N_MODES; i++) {
                    bench_mode *m = &modes[i];
                    if (!m->skipped && m->ok && strcmp(m->name, "near_forward") &&
                        strcmp(m->name, "files"))
                        print_record(a, meta, m);
                }
        }
    }

    /* near_forward: its own context at the last pool layer */
    bench_mode *nf = &modes[1];
    if (!nf->skipped) {
        gc_context *ctx = NULL;
        char pool_name[64] = "";
        gc_status st = create_context(a, prec, batch, a->layer, 0, &ctx);
        if (st == GC_OK)
            last_pool_layer(ctx, pool_name, sizeof pool_name);
        gc_context_destroy(ctx);
        ctx = NULL;
        if (st == GC_OK && !*pool_name) {
            snprintf(nf->error, sizeof nf->error, "the model has no pool layer");
        } else if (st == GC_OK) {
            st = create_context(a, prec, batch, pool_name, 0, &ctx);
            gc_model_info info;
            char e2[320] = "";
            if (st == GC_OK && gc_model_info_get(ctx, &info) == GC_OK &&
                env_buffers(e, &info, batch, e2, sizeof e2)) {
                snprintf(nf->layer, sizeof nf->layer, "%s", info.target_layer);
                time_mode(ctx, e, nf, CALL_TENSOR);
            } else {
                snprintf(nf->error, sizeof nf->error, "%s", *e2 ? e2 : gc_last_error(ctx));
            }
            env_free(e);
            gc_context_destroy(ctx);
        } else {
            snprintf(nf->error, sizeof nf->error, "context: %s", gc_status_string(st));
        }
        if (a->jsonl)
            print_record(a, meta, nf);
    }

    bench_mode *fm = &modes[8];
    if (!fm->skipped) {
        files_mode(a, threads, fm, bin, files_root);
        if (a->jsonl)
            print_record(a, meta, fm);
    }

    if (a->json)
        print_json(a, meta, modes, BENCH_N_MODES, batch, prec);
    else if (!a->jsonl)
        print_text(a, meta, modes, BENCH_N_MODES, batch, prec);
    int all_ok = 1;
    for (int i = 0; i < BENCH_N_MODES; i++)
        all_ok &= modes[i].skipped || modes[i].ok;
    return all_ok;
}

/* ---------------------------------------------------------------- main */

/* The gradcam command next to this program: <dir>/../gradcam (build/bench/gradcam-bench). */
static void default_bin(const char *argv0, char *out, size_t len)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = 0;
    else
        snprintf(self, sizeof self, "%s", argv0);
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(self, sizeof self, ".");
    snprintf(out, len, "%s/../gradcam", self);
}

int main(int argc, char **argv)
{
    bench_args a;
    if (!parse_args(argc, argv, &a)) {
        usage(stderr);
        return 2;
    }
    bench_meta meta;
    memset(&meta, 0, sizeof meta);
    cpu_model(meta.cpu, sizeof meta.cpu);
    meta.cores = sysconf(_SC_NPROCESSORS_ONLN);
    meta.threads = a.threads > 0 ? a.threads : (int)meta.cores;
    if (a.backend == GC_BACKEND_CUDA)
        query_gpu(&a, &meta.gpu);
    meta.gpu_name = a.gpu_name ? a.gpu_name : meta.gpu.present ? meta.gpu.name : NULL;
    meta.peak = find_peak(meta.gpu_name);

    bench_inputs in;
    pool threads;
    if (!make_inputs(&a, &in) || !pool_init(&threads, meta.threads)) {
        fprintf(stderr, "gradcam-bench: out of memory (or threads) for the inputs\n");
        return 1;
    }
    in.render_len = 2 * (size_t)a.image_w * a.image_h * 3;
    in.render_buf = malloc(in.render_len * (size_t)threads.threads);
    if (!in.render_buf) {
        fprintf(stderr, "gradcam-bench: out of memory for the render buffers\n");
        return 1;
    }

    char bin[4096], files_root[4096] = "";
    if (a.gradcam_bin)
        snprintf(bin, sizeof bin, "%s", a.gradcam_bin);
    else
        default_bin(argv[0], bin, sizeof bin);
    int made_root = 0;
    if (mode_selected(a.modes, "files")) {
        if (a.files_dir) {
            snprintf(files_root, sizeof files_root, "%s", a.files_dir);
            if (mkdir(files_root, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "gradcam-bench: mkdir %s: %s\n", files_root, strerror(errno));
                return 1;
            }
        } else {
            const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
            snprintf(files_root, sizeof files_root, "%s/gradcam-bench-XXXXXX", tmp);
            if (!mkdtemp(files_root)) {
                fprintf(stderr, "gradcam-bench: mkdtemp: %s\n", strerror(errno));
                return 1;
            }
            made_root = 1;
        }
    }

    if (a.files_prepare) { /* the JPEGs only (e.g. before a GPU-utilization sampler starts) */
        char dir[4096], err[320] = "";
        snprintf(dir, sizeof dir, "%s/jpeg-%dx%d-%d", files_root, a.image_w, a.image_h, a.files);
        int ok = *files_root && make_jpegs(dir, a.files, a.image_w, a.image_h, a.batches[0],
                                           &threads, err, sizeof err);
        if (!ok)
            fprintf(stderr, "gradcam-bench: --files-prepare: %s\n",
                    *err ? err : "needs --modes files and --files-dir");
        pool_destroy(&threads);
        free_inputs(&in);
        return ok ? 0 : 1;
    }
    if (!a.json && !a.jsonl)
        fprintf(stderr, "gradcam-bench: %s, %s backend, %dx%d, %d threads\n", a.weights,
                backend_name(a.backend), a.size, a.size, meta.threads);
    run_env e = {.a = &a, .in = &in, .threads = &threads};
    int all_ok = 1;
    for (int32_t p = 0; p < a.n_precisions; p++)
        for (int32_t b = 0; b < a.n_batches; b++)
            all_ok &= run_group(&a, &meta, &e, &threads, bin, files_root, a.precisions[p],
                                a.batches[b]);
    if (made_root && is_dir(files_root))
        remove_tree(files_root, "/dev/null");
    pool_destroy(&threads);
    free_inputs(&in);
    return all_ok ? 0 : 1; /* 1: some selected mode failed (the output says which and why) */
}
