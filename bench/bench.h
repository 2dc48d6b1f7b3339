/*
 * bench.h — the internal header of gradcam-bench (bench/gradcam_bench.c and the files beside
 * it): the shared types and the functions each file offers the others. Not installed; the
 * library's own API is include/gradcam.h.
 *
 *   util.c     clocks, medians, the seeded random stream, names, JSON strings, the CPU model
 *   args.c     the command line (parse_args, usage, mode_selected)
 *   gpu.c      the GPU (name, versions, memory in use), its peak table, FLOPs per image
 *   pool.c     a persistent host thread pool
 *   modes.c    inputs, one context's modes: the timed calls and the profiled pass
 *   files.c    the files mode: JPEG folders and runs of the gradcam command
 *   output.c   the text table, --json and --jsonl records
 *   gradcam_bench.c  main: one context per precision and batch, the modes on it
 */
#ifndef GC_BENCH_H
#define GC_BENCH_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>

#include "gradcam.h"

#define BENCH_MAX_SAMPLES 1000
#define BENCH_MAX_LIST 8
#define BENCH_N_MODES 10

#define BENCH_MAX_LAYERS 64 /* the library's GC_MAX_LAYERS */
#define BENCH_MAX_STEPS 128 /* the library's GC_MAX_STEPS */

typedef struct bench_args {
    const char *weights;
    const char *layer; /* NULL = library default */
    const char *modes; /* comma-separated subset of the mode names; NULL = the backend's set */
    const char *gradcam_bin, *files_dir, *gpu_name, *commit;
    const char *files_format; /* files mode: the command's --format (png) */
    int32_t files_workers;    /* files mode: its --workers-per-device (1)  */
    gc_backend backend;
    int32_t device;
    int32_t batches[BENCH_MAX_LIST], n_batches;
    gc_precision precisions[BENCH_MAX_LIST];
    int32_t n_precisions;
    gc_method methods[BENCH_MAX_LIST]; /* --method: options.method of every context */
    int32_t n_methods;
    int32_t size, iters, warmup, threads, profile_iters, image_w, image_h, files, files_runs;
    int json, jsonl, files_prepare;
    int autotune; /* --autotune: options.autotune = 1 on every context (CUDA; the CPU ignores it) */
    int32_t context_batch; /* --context-batch: every context's max_batch when larger than the
                              batch timed (0: the batch), for calls smaller than max_batch */
} bench_args;

typedef struct bench_mode {
    const char *name;
    const char *what; /* the mode table's words, or what_text */
    char what_text[512]; /* ... plus what a guided method adds */
    char layer[64]; /* the canonical target layer the library resolved */
    int32_t batch;
    gc_precision precision;
    gc_method method;
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
    double layer_ms[BENCH_MAX_LAYERS]; /* ... and each feature layer's forward (medians) */
    char layer_name[BENCH_MAX_LAYERS][32];
    int n_layers;
    double step_ms[BENCH_MAX_STEPS]; /* ... and the device's steps after the features (medians
                                        over the profiled calls; gc_profile_step_ms) */
    char step_name[BENCH_MAX_STEPS][64]; /* the library's GC_STEP_NAME */
    int n_steps;
    char profile_error[320];
    /* files mode */
    int32_t files_images, files_ok;
    double files_wall_s, files_startup_s, files_steady_ips;
    char files_fs[24]; /* the filesystem the outputs went to ("ext2/3/4", "tmpfs", ...) */
    double files_epoch[2]; /* the last full run's start and end, Unix seconds (CLOCK_REALTIME) */
    char files_stats[2048]; /* the command's --stats JSON of the last run ("" without) */
    /* cudaMemGetInfo: device memory taken while the context lived (CUDA only; else -1) */
    int64_t device_used_bytes;
    /* the shared context's creation (wall ms; includes autotuning) and, when autotuned, its
     * gc_autotune_report */
    double context_ms;
    char autotune_report[6144];
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
    double layer_flops[BENCH_MAX_LAYERS]; /* each feature layer's (0 for a pool), per image */
    int n_layers;
    int ok;
    char note[160];
} model_work;

/* A row of the peak table (gpu.c). */
typedef struct gpu_peak {
    const char *words[3];
    const char *label;
    double fp32, tf32, bf16, fp16;
} gpu_peak;

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

/* The seeded inputs, made once for the largest batch (modes.c). */
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
    /* host_lib mode: a heatmap and an overlay per image of the batch, allocated on first use */
    uint8_t *lib_buf, **lib_over, **lib_heat;
    size_t *lib_lens;
} bench_inputs;

/* What one timed call of a mode does (modes.c: call_once). */
typedef enum bench_call {
    CALL_TENSOR, CALL_IMAGES, CALL_PREPROCESS, CALL_PREDICT, CALL_DEVICE, CALL_DEVICE_PREDICT,
    CALL_HOST, CALL_HOST_LIB
} bench_call;

typedef struct mode_def {
    const char *name, *what;
    bench_call call;
} mode_def;

/* One context's output buffers, with the inputs and the pool. */
typedef struct run_env {
    const bench_args *a;
    bench_inputs *in;
    pool *threads;
    gc_method method;
    gc_result *results;
    float *cams, *pre;
    size_t cams_len, pre_len;
    float *guided;     /* (N,3,S,S): a guided method's input-space tensor of every image */
    size_t guided_len; /* elements per image (3*S*S); 0 for the other methods */
    int32_t cam_w, cam_h;
} run_env;

/* The machine, GPU, peak and work, shared by every record. */
typedef struct bench_meta {
    char cpu[256];
    long cores;
    int threads;
    gpu_info gpu;
    const gpu_peak *peak;
    model_work work;
    const char *gpu_name; /* the name the peak came from */
} bench_meta;

/* util.c */
double now_ms(void);  /* CLOCK_MONOTONIC */
double epoch_s(void); /* CLOCK_REALTIME, Unix seconds */
double median_of(const double *v, int n);
void summarize(bench_mode *m); /* median/min/max/mean of m->samples_ms */
uint64_t rng_next(uint64_t *s);
float rng_normal(uint64_t *s);
void cpu_model(char *out, size_t len);
void json_string(FILE *f, const char *s);
const char *backend_name(gc_backend b);
const char *method_name(gc_method m); /* the `gradcam` command's --method names */
/* The input-space tensor a guided method yields for every image (GUIDED_GRADCAM for
 * guided-gradcam, GUIDED_BACKPROP for guided-backprop), or -1 for the other methods. */
int guided_tensor(gc_method m);

/* args.c */
void usage(FILE *f);
int parse_args(int argc, char **argv, bench_args *a); /* 0: bad command line (said why) */
int mode_selected(const char *list, const char *name);

/* gpu.c */
const gpu_peak *find_peak(const char *name);
double peak_tflops(const gpu_peak *p, gc_precision prec);
void query_gpu(const bench_args *a, gpu_info *g);
int64_t device_used(const bench_args *a);
void count_work(const bench_args *a, const gc_model_info *info, model_work *w);

/* pool.c */
int pool_init(pool *p, int32_t threads);
void pool_run(pool *p, pool_fn fn, void *arg, int32_t n);
void pool_destroy(pool *p);

/* modes.c */
extern const mode_def mode_defs[BENCH_N_MODES];
int make_inputs(const bench_args *a, bench_inputs *in);
const float *device_tensor(bench_inputs *in, const bench_args *a, char *err, size_t err_len);
void free_inputs(bench_inputs *in);
gc_status create_context(const bench_args *a, gc_precision prec, gc_method method,
                         int32_t batch, const char *layer, int profile, gc_context **ctx);
void last_pool_layer(const gc_context *ctx, char *out, size_t len);
int env_buffers(run_env *e, const gc_model_info *info, int32_t batch, char *err,
                size_t err_len);
void env_free(run_env *e);
void time_mode(gc_context *ctx, run_env *e, bench_mode *m, bench_call call);
void profile_mode(gc_context *ctx, run_env *e, bench_mode *m, bench_call call);

/* files.c */
int is_dir(const char *p);
int make_jpegs(const char *dir, int32_t n, int32_t w, int32_t h, int32_t small, pool *threads,
               char *err, size_t err_len);
void remove_tree(const char *dir, const char *log);
void files_mode(const bench_args *a, pool *threads, bench_mode *m, const char *bin,
                const char *root);

/* output.c */
void print_record(const bench_args *a, const bench_meta *meta, const bench_mode *m);
void print_json(const bench_args *a, const bench_meta *meta, const bench_mode *modes,
                int n_modes, int32_t batch, gc_precision prec);
void print_text(const bench_args *a, const bench_meta *meta, const bench_mode *modes,
                int n_modes, int32_t batch, gc_precision prec);

#endif /* GC_BENCH_H */
