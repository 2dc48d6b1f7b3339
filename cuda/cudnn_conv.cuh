/*
 * cudnn_conv.cuh — one 3x3 convolution (stride 1, padding 1, NHWC; float32, fp16 or bf16 in
 * memory, float32 compute) as a cuDNN 9 graph,
 * optionally with the bias add and the ReLU fused into it. A plan is built for a fixed shape,
 * batch included (at context creation, and for smaller batches by backend_plans.cu); the
 * variant pack binds fixed device pointers once.
 */
#ifndef GC_CUDNN_CONV_CUH
#define GC_CUDNN_CONV_CUH

#include "check.cuh"

#define GC_CONV_MAX_KEEP 24

typedef struct gc_conv_plan {
    cudnnBackendDescriptor_t plan;            /* finalized execution plan            */
    cudnnBackendDescriptor_t pack;            /* variant pack, after gc_conv_plan_bind */
    cudnnBackendDescriptor_t keep[GC_CONV_MAX_KEEP]; /* descriptors the plan came from */
    int n_keep;
    cudnnBackendDescriptor_t *cfgs;           /* the heuristics' engine configs       */
    int64_t n_cfgs;
    int64_t workspace;                        /* bytes                                 */
    int bias, relu;                           /* what the caller asked for             */
    int fused;  /* 1: bias/ReLU are in the graph; 0: the caller must run them after   */
    cudnnDataType_t dtype;                    /* x, w, b, y in memory                  */
    int64_t n, h, w, c, k;
    int64_t ws_cap;                           /* build: configs needing more workspace are
                                                 skipped (-1: any)                        */
} gc_conv_plan;

/* Which engines a plan may use, judged by their numerical notes. */
typedef enum gc_conv_numerics {
    GC_CONV_TRUE_FP32 = 0, /* no tensor cores, down-conversion, FFT or Winograd (fp32)   */
    GC_CONV_FP32_ACCUM = 1,/* tensor cores allowed (tf32, fp16, bf16), but no reduced-
                              precision reduction: accumulation stays float             */
} gc_conv_numerics;

/* y (n, h, w, k) = conv(x (n, h, w, c), weights (k, 3, 3, c)) [+ b (k)] [then ReLU], all of
 * type dtype (CUDNN_DATA_FLOAT, _HALF or _BFLOAT16) in memory, computed in float.
 * Tries the fused graph first; when no engine runs it, builds the plain conv and sets
 * p->fused = 0. GC_ERR_UNSUPPORTED when no engine with the numerics runs even that. On
 * failure p holds nothing to free (gc_conv_plan_free on it is harmless). */
gc_status gc_conv_plan_build(cudnnHandle_t handle, cudnnDataType_t dtype, int64_t n, int64_t h,
                             int64_t w, int64_t c, int64_t k, int bias, int relu,
                             gc_conv_numerics numerics, gc_conv_plan *p, gc_errbuf *err);
/* The same, skipping engine configs that need more than ws_cap bytes of workspace (a plan
 * added to a context whose workspace is allocated); -1: no cap. */
gc_status gc_conv_plan_build_capped(cudnnHandle_t handle, cudnnDataType_t dtype, int64_t n,
                                    int64_t h, int64_t w, int64_t c, int64_t k, int bias,
                                    int relu, gc_conv_numerics numerics, int64_t ws_cap,
                                    gc_conv_plan *p, gc_errbuf *err);

/* The first conv's input channels (the image's 3) as the backend may pad them, in the order it
 * tries them until cuDNN builds the plans: 3, 4, 8 for float data; 8 for the 16-bit types
 * (16-byte channel vectors for the tensor-core engines). Returns how many; *c points at them. */
int gc_conv_first_channels(cudnnDataType_t dtype, const int32_t **c);

/* Fixes the device pointers (b may be NULL when !bias) and the workspace (p->workspace bytes). */
gc_status gc_conv_plan_bind(gc_conv_plan *p, const void *x, const void *wt, const void *b,
                            void *y, void *workspace, gc_errbuf *err);

gc_status gc_conv_plan_run(cudnnHandle_t handle, const gc_conv_plan *p, gc_errbuf *err);

void gc_conv_plan_free(gc_conv_plan *p);

/* Tools only (tools/cudnn_plans.cu): cuDNN's deviceless path (cuDNN 9.8+). With a finalized
 * CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR set, plans are built for that device on a machine
 * without it: graphs carry no handle, heuristics and plans carry the device properties (the
 * handle passed to gc_conv_plan_build may be NULL); such plans are for inspection, not to
 * run. NULL (the default) restores the normal path. Not thread-safe: set it before building. */
void gc_conv_set_deviceless(cudnnBackendDescriptor_t devprop);

/* ---------------------------------------------------------------- autotuning (opt-in)
 * options.autotune / GC_CUDNN_AUTOTUNE: at context creation each plan built above (the first
 * engine config of the heuristics that finalizes) is timed against other candidates on the
 * context's own buffers, and the fastest is kept. Nothing here runs when autotuning is off. */
typedef struct gc_conv_tuner {
    cudaStream_t stream;   /* the handle's stream                                        */
    int max_candidates;    /* engine configs timed per plan besides the default one      */
    int64_t ws_cap;        /* bytes: candidates needing a larger workspace are skipped    */
    void *scratch;         /* the candidates' workspace, grown on demand (owned)          */
    int64_t scratch_bytes;
    cudaEvent_t ev[2];
    int warmup, iters;     /* runs of each plan: untimed, then timed (the minimum counts) */
    double deadline_s;     /* gc_conv_tuner_now() past which no candidate is built (0: none) */
    int out_of_time;       /* set when a plan's search stopped at the deadline            */
    int pick_other;        /* tests only (GC_CUDNN_AUTOTUNE_PICK=other): the fastest
                              candidate other than the default replaces it, however slow  */
} gc_conv_tuner;

/* CLOCK_MONOTONIC in seconds, for deadline_s. */
double gc_conv_tuner_now(void);

gc_status gc_conv_tuner_init(gc_conv_tuner *t, cudaStream_t stream, int max_candidates,
                             int64_t ws_cap, gc_errbuf *err);
void gc_conv_tuner_free(gc_conv_tuner *t);

/* Times p's plan, then up to t->max_candidates other engine configs of the same graph (the
 * heuristics' results in order, mode A then mode B, filtered by `numerics` as the build was
 * and nondeterministic engines refused as well, each once, those over t->ws_cap skipped and
 * not counted), every one on the given pointers (as gc_conv_plan_bind) with t's scratch
 * workspace: t->warmup runs, then the minimum of t->iters runs timed with CUDA events. A
 * candidate at least 1% faster than p's plan (with t->pick_other: the fastest candidate
 * whenever one was timed) replaces it
 * (p->plan, its descriptors, p->workspace; p->fused and the graph stay). p is left without a
 * variant pack: bind it afterwards. `line` gets a one-line account (the winner's engine tag
 * "eng<global index>_k<knob>=<value>..." and ms, the default's, candidates timed / skipped).
 * Candidates that fail to build or run are skipped and p keeps its plan; only a sticky CUDA
 * error fails. Past t->deadline_s no further candidate is built (t->out_of_time is set). */
gc_status gc_conv_plan_tune(cudnnHandle_t handle, gc_conv_tuner *t, gc_conv_plan *p,
                            gc_conv_numerics numerics, const void *x, const void *wt,
                            const void *b, void *y, char *line, size_t line_len,
                            gc_errbuf *err);

/* The engine config tag of p's plan, as the tuner reports it ("eng<index>_k<knob>=<value>...";
 * "default" when cuDNN does not give the config back). */
void gc_conv_plan_tag(const gc_conv_plan *p, char *tag, size_t len);

/* Rebuilds p's plan from the engine config of the heuristics (mode A, then B) whose tag is
 * `tag` and whose numerics pass as the tuner's do; *found = 0 (p unchanged) when cuDNN offers
 * no such config any more or it does not build. p is left without a variant pack. */
gc_status gc_conv_plan_select(cudnnHandle_t handle, gc_conv_plan *p, gc_conv_numerics numerics,
                              const char *tag, int *found, gc_errbuf *err);

/* Fills `bytes` (a multiple of 4) at p with pseudo-random values in [-scale, scale] of type
 * dt (pairs of 16-bit values for half/bfloat16), so that the candidates are not timed on
 * zeros. */
gc_status gc_conv_fill_random(cudaStream_t stream, void *p, size_t bytes, cudnnDataType_t dt,
                              uint32_t seed, float scale, gc_errbuf *err);

#endif /* GC_CUDNN_CONV_CUH */
