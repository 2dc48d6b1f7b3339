/*
 * backend_state.cuh — what the CUDA backend's files share (cuda/backend*.cu): the state of
 * one context on its GPU, the constants of its buffers, and the functions one file offers
 * the others (prefix gcu_; hidden like the rest of the library: CUDA_VISIBILITY_PRESET).
 *
 *   backend.cu           the backend's entry points (gc_backend_ops): batches in and out,
 *                        images staged and rendered on the device, tensors read back
 *   backend_create.cu    create / destroy: numerics, plans, the arena, weights, graphs table
 *   backend_autotune.cu  the opt-in engine autotuning at create, with the plan cache
 *   backend_plans.cu     conv plans for batches smaller than max_batch (sets of plans)
 *   backend_batch.cu     one batch on the device: forward, head, backward(s), cam; the dense
 *                        layers' GEMMs; CUDA-graph capture and replay of those segments
 *   backend_common.cu    device probe, error entry/exit (sticky faults), profiling marks
 */
#ifndef GC_BACKEND_STATE_CUH
#define GC_BACKEND_STATE_CUH

#include <stdint.h>

#include <cublasLt.h>

#include "check.cuh"
#include "cudnn_conv.cuh"
#include "image_kernels.cuh"

extern "C" {
#include "context.h"
}

/* profiling: what the time since the previous mark was spent on */
enum { PROF_START, PROF_UPLOAD, PROF_FEATURES, PROF_HEAD, PROF_BACKWARD, PROF_CAM,
       PROF_DOWNLOAD, PROF_PREPROCESS };
#define GC_MAX_MARKS 24
#define GCU_STEP_EVENTS (GC_MAX_STEPS + 8) /* the steps' ends and a few runs' starts */
#define GC_FP16_GRAD_SCALE 1024.0f

/* CUDA graphs (GC_CUDA_GRAPHS=1, run_segment): the forward (gc_predict) and whole-batch
 * (gc_explain) segments */
#define GC_GRAPH_SEGMENTS 2
/* cuBLAS's workspace, ours in every context: cuBLAS must not allocate inside a graph
 * capture, and a context with graphs and one without then use the same GEMM kernels (their
 * outputs are compared bit for bit). 32 MiB is cuBLAS's recommendation for Hopper. */
#define GC_BLAS_WS ((size_t)32 << 20)
/* cuda_state.first_conv: which kernel runs the network's first conv */
#define GC_FIRST_CUDNN 0
#define GC_FIRST_FMA 1 /* cuda/first_conv.cu */
#define GC_FIRST_TC 2  /* cuda/first_conv_tc.cu */
#define GC_FIRST_BLOCK 3 /* cuda/first_block.cu: layers 0..2 (conv, conv, pool) at once */
/* gc_explain's images go up, and gc_explain_render's outputs come down, through a ring of two
 * host slots (page-locked when allowed): host threads fill or empty one chunk of images in a
 * slot while the other slot's chunk is in flight. A slot holds this much, or one image's
 * bytes (both outputs') when they are larger. */
#define GC_RING_SLOTS 2
#define GC_RING_SLOT_BYTES ((size_t)32 << 20)

/* A head GEMM, column-major as cuBLAS: C (m x n, float, ldc) = op(A) (m x k) B (k x n), A of
 * lda rows transposed when ta, A and B in the network's type (backend_head_gemm.cu). */
typedef struct gcu_gemm_shape {
    int ta, m, n, k, lda, ldb, ldc;
} gcu_gemm_shape;
/* Dense layer (in -> out) over `rows` rows, row-major X (rows, in), W (out, in), Y (rows, out):
 * forward Y^T = W X^T (W's storage is W^T column-major, ld in); backward Gin^T = W^T G^T. */
static inline gcu_gemm_shape gcu_dense_fwd_shape(int rows, int in, int out)
{
    const gcu_gemm_shape g = {1, out, rows, in, in, in, out};
    return g;
}
static inline gcu_gemm_shape gcu_dense_bwd_shape(int rows, int in, int out)
{
    const gcu_gemm_shape g = {0, in, rows, out, in, out, in};
    return g;
}
/* GC_HEAD_GEMM=lt: one GEMM's cuBLASLt descriptors and the algorithm timed fastest (use: it
 * beat cublasGemmEx at creation) */
typedef struct gcu_lt_gemm {
    gcu_gemm_shape shape;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    int use;
} gcu_lt_gemm;

/* A set of conv plans for n < N images (backend_plans.cu): fwd[i] where has_fwd[i], bwd[i]
 * where has_bwd[i], with the full plans' engines' heuristics and their own workspaces (at most
 * ws_bytes). */
typedef struct gcu_plan_set {
    int32_t n;
    gc_conv_plan fwd[GC_MAX_LAYERS], bwd[GC_MAX_LAYERS];
} gcu_plan_set;
#define GCU_POW2_SETS 16 /* sets for 1, 2, 4, ..., 2^15 images */
enum { GCU_SETS_OFF, GCU_SETS_AUTO, GCU_SETS_EAGER };

typedef struct cuda_state {
    int device;
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    cublasLtHandle_t lt;  /* GC_HEAD_GEMM=lt: cuBLASLt for the head's GEMMs     */
    gcu_lt_gemm *lt_gemm; /* ... 2 GC_MAX_DENSE of them (dense j: 2j fwd, 2j+1) */
    int lt_always;        /* GC_HEAD_GEMM=lt-always (tests): no fallback in a batch */
    /* numerics of the context's precision */
    gc_dtype dt;                       /* feature maps and weights                          */
    size_t es;                         /* bytes per element of dt                           */
    cudnnDataType_t dnn_dt;
    cudaDataType_t blas_dt;
    cublasComputeType_t blas_compute;
    gc_conv_numerics numerics;
    float gscale;                      /* gradients are computed times this (fp16: 1024)    */
    int32_t c0;                        /* channels of the packed input image: 3, 4 or 8     */
    int first_conv;                    /* who runs the first conv: GC_FIRST_CUDNN, or our
                                          kernel (no forward plan for layer 0): FMA
                                          (first_conv.cu; true fp32), TC (first_conv_tc.cu),
                                          BLOCK (first_block.cu: no plans for layers 0, 1)  */
    int fb_blocks;                     /* GC_FIRST_BLOCK: its grid (one block an SM)        */
    unsigned long long *fb_clocks;     /* profiled GC_FIRST_BLOCK: its phases' cycles (device,
                                          GC_FB_PHASES, zeroed at each call; NULL else)     */
    int guided;                        /* a second, guided backward to the input            */
    int32_t keep_from;                 /* layers >= this keep their outputs in act[]        */
    int debug_sync;                    /* GC_CUDA_SYNC: synchronize after every layer       */
    int blocking_sync;                 /* GC_CUDA_BLOCKING_SYNC=1: a batch's waits sleep
                                          (blocking-sync events) instead of spinning a core  */
    cudaEvent_t ev_wait;               /* the blocking wait's event (blocking_sync only)     */
    int early_off;                     /* GC_EARLY_RESULTS=0: no results beside the backward */
    int graphs;                        /* GC_CUDA_GRAPHS: batches replayed as CUDA graphs   */
    cudaGraphExec_t *graph_exec;       /* [GC_GRAPH_SEGMENTS][N + 1]: per segment, batch size */
    void *blas_ws;                     /* cuBLAS's workspace (GC_BLAS_WS; NULL: its own)    */
    int32_t N;                         /* max batch                                         */
    gc_geometry geo;                   /* layer and head sizes (model.c)                    */
    char *arena;                       /* one device allocation                             */
    size_t arena_bytes;
    void *workspace;                   /* cuDNN workspace                                   */
    size_t ws_bytes;
    /* device tensors (pointers into the arena); T = the element type dt */
    float *x_stage;                    /* the host batch before packing, float: (N, H, W, 3),
                                          or (N, 3, H, W) where x_stage_nchw is set          */
    int x_stage_nchw;                  /* x_stage holds a caller's tensor (explain_tensor)  */
    void *x;                           /* (N, H, W, c0) T: the network input                */
    void *ping, *pong;                 /* T: outputs of layers below keep_from              */
    void *act[GC_MAX_LAYERS];          /* (N, h, w, C) T: outputs of layers >= keep_from    */
    void *pre;                         /* (N, h, w, K) T: target conv before ReLU (PRE)     */
    const void *A;                     /* (N, h, w, K) T: the target activation (act[T], or
                                          pre for the PRE stage), read as it is by the cam
                                          kernels and gc_tensor_get                          */
    void *pooled;                      /* (N, ph, pw, C) T                                  */
    void *patches;                     /* (N*P*Q, k*k*C) T when !direct_patch               */
    float *dense_out[GC_MAX_DENSE];    /* (N*P*Q, out_j) float, after bias and ReLU         */
    void *dense_in[GC_MAX_DENSE];      /* (N*P*Q, in_j) T: dense j's GEMM input             */
    float *gd_a, *gd_b;                /* (N*P*Q, widest) float: dense gradients            */
    void *gd_t;                        /* (N*P*Q, widest) T: a gradient as GEMM input (not
                                          in fp32/tf32, where the float one is used)         */
    float *g_patch;                    /* (N*P*Q, k*k*C) float: dense[0]'s input gradient   */
    float *g_pool;                     /* (N, ph, pw, C) float, when !direct_patch          */
    void *g_a, *g_b;                   /* T: feature-map gradients                          */
    const void *grad;                  /* (N, h, w, K) T: dy/dA at the target times gscale,
                                          the last batch's (g_a or g_b, or grad_keep)        */
    void *grad_keep;                   /* (N, h, w, K) T: that gradient kept from the guided
                                          methods' second backward (guided only)             */
    float *t_tmp;                      /* (h, w, K) float: gc_tensor_get's float copy       */
    float *alpha;                      /* (N, K)                                            */
    float *cam;                        /* (N, h*w)                                          */
    float *logits;                     /* (N, classes)                                      */
    int32_t *classes;                  /* (N): asked-for classes (-1: top-1), then the chosen */
    double *score_stats;               /* (N, 3): the softmax's max, sum and p_c per image  */
    float *guided_in;                  /* (N, 3, H, W) float NCHW: guided dy/dinput         */
    void *cw[GC_MAX_LAYERS], *cb[GC_MAX_LAYERS]; /* T: conv (cout,3,3,cin'), (cout)         */
    void *wflip[GC_MAX_LAYERS];        /* T: (cin',3,3,cout) for the backward-data convs    */
    float *w0;                         /* (27 + 1, cout) float: the first conv for our FMA
                                          kernel (gc_first_conv_weights_host); NULL else     */
    void *w0_tc;                       /* T: (32, cout): the first conv for the TC
                                          kernel (gc_first_conv_tc_weights_host); NULL else  */
    float *b0;                         /* (cout): its biases, rounded to T; NULL else       */
    void *w_fb;                        /* T: the first block's two convs for its kernel
                                          (gc_first_block_weights_host); NULL else          */
    float *b_fb;                       /* their biases, rounded to T, each padded to a
                                          multiple of 16 (gc_first_block_bias_floats)       */
    void *dw[GC_MAX_DENSE];            /* T: (out, in)                                      */
    float *db[GC_MAX_DENSE];           /* (out)                                             */
    gc_conv_plan fwd[GC_MAX_LAYERS], bwd[GC_MAX_LAYERS]; /* for N images                 */
    int has_fwd[GC_MAX_LAYERS], has_bwd[GC_MAX_LAYERS];
    /* plans for fewer images, bound to the same buffers (backend_plans.cu): a cuDNN plan runs
     * its whole batch, so n images on the plans for N cost N images' convs */
    int32_t N_half;                    /* GC_RENDER_PIPELINE: the halves' size; 0: no halves */
    gcu_plan_set *half;                /* plans for N_half, built at create; NULL: none     */
    gcu_plan_set *pow2[GCU_POW2_SETS]; /* plans for 2^k < N images; NULL: not built (yet)   */
    uint8_t pow2_refused[GCU_POW2_SETS]; /* its build failed once: not tried again          */
    double pow2_waste_ms[GCU_POW2_SETS]; /* time batches of (2^(k-1), 2^k] images spent on
                                          the images their plans ran beyond 2^k            */
    int batch_plans;                   /* GC_BATCH_PLANS: GCU_SETS_OFF, _AUTO or _EAGER     */
    double set_build_ms;               /* what building (and binding) a set of plans took   */
    double fixed_build_ms;             /* GC_BATCH_PLANS=<ms>: that in its place (-1: none)  */
    const gcu_plan_set *cur;           /* the running batch's plans; NULL: the full ones    */
    int call_k;                        /* the running call's waste goes to pow2_waste_ms[k]
                                          (-1: none), call_frac of its time from call_t0    */
    double call_frac, call_t0;
    int call_segs;                     /* batch segments the running call has run (its
                                          gc_profile.conv_images adds them up)              */
    float *d_cams;                     /* (N, h*w) float: normalized cams to render          */
    uint8_t *d_luts;                   /* the 5 colormaps (gc_colormap order), 768 B each    */
    /* gc_explain's images, preprocessed and rendered here (explain_images, render) unless
     * GC_CUDA_HOST_PREPROCESS=1 (then context.c does both on the host) */
    int host_preprocess;
    uint8_t *d_img;                    /* device: the batch's descriptor table, its pixels  */
    size_t img_cap;                    /* bytes of d_img                                    */
    uint8_t *d_out;                    /* device: heatmaps (img_pixels bytes), overlays     */
    size_t out_cap;
    uint8_t *h_ring;                   /* GC_RING_SLOTS x ring_slot bytes: images up, the
                                          rendered outputs down                             */
    size_t ring_slot;
    size_t ring_slot_min;              /* GC_RING_SLOT_BYTES, or GC_CUDA_RING_SLOT (tests)  */
    int ring_pinned;                   /* h_ring is page-locked (else malloc'd)             */
    cudaEvent_t ring_ev[GC_RING_SLOTS];/* a slot's last copy is done                        */
    gc_image_desc *descs;              /* host (N): the last batch's descriptors            */
    int32_t img_n;                     /* images of the last explain_images (0: none)       */
    int32_t img_count;                 /* images of the batch staged last (gcu_stage_table) */
    size_t img_table;                  /* bytes before the pixels in d_img                  */
    size_t img_pixels;                 /* the last batch's pixel bytes                      */
    int64_t img_max_px;                /* its largest width * height                        */
    int32_t *h_classes;                /* pinned (N): the classes' upload and download      */
    /* GC_RENDER_PIPELINE=1 (backend_pipeline.cu): gc_explain_render's batch in two halves,
     * the copies and renders on `copy` beside the compute on `stream`; made at first use */
    cudaStream_t copy;
    cudaEvent_t split_ev[4];           /* a half's pixels up (0, 1), its results down (2, 3) */
    /* a batch's logits down on `copy` while the backward runs (gcu_explain_packed): the
     * head done on `stream` (ev_head), the logits on the host (ev_logits); made at first use */
    cudaEvent_t ev_head, ev_logits;
    float *h_input;                    /* ctx->input when page-locked in place (else NULL)  */
    float *h_logits, *h_cams;          /* ctx->logits, ctx->cams_raw likewise: a batch's
                                          results come down asynchronously, and the wait for
                                          them is gcu_wait's (a copy to pageable memory
                                          waits for the stream inside cudaMemcpyAsync)       */
    float *h_tmp;                      /* host (h*w*K): read_tensor staging                 */
    /* profiling (ctx->opt.profile) */
    cudaEvent_t ev[GC_MAX_MARKS];
    int ev_stage[GC_MAX_MARKS];
    int n_marks;
    cudaEvent_t ev_layer[GC_MAX_LAYERS + 1]; /* before the first feature layer, after each */
    int layers_marked;                       /* the forward recorded them (gc_profile_layer_ms) */
    /* the steps after the features (gcu_steps_open, gcu_step; gc_profile_step_ms): events
     * recorded in order, step k from event step_from[k] to step_from[k] + 1 */
    cudaEvent_t ev_step[GCU_STEP_EVENTS];
    char step_name[GC_MAX_STEPS][GC_STEP_NAME];
    int step_from[GC_MAX_STEPS];
    int n_steps, n_step_ev;
} cuda_state;

#define GC_N_COLORMAPS (GC_COLORMAP_MAGMA + 1)
#define GC_LUT_BYTES 768

/* Prefixes "<what> <layer>: " to the message of a failing step. */
#define LAYER_TRY(ctx, what, layer, expr)                                                      \
    do {                                                                                       \
        gc_status gc_l_ = (expr);                                                              \
        if (gc_l_ != GC_OK) {                                                                  \
            gc_err_prefix(&(ctx)->err, "%s %s: ", (what), (layer));                            \
            return gc_l_;                                                                      \
        }                                                                                      \
    } while (0)

/* Whether gc_explain_render asked for any output of images [from, to): *heat / *over, some
 * heatmap / some overlay. */
static inline int gcu_outputs_asked(uint8_t *const *overlays, uint8_t *const *heatmaps,
                                    int32_t from, int32_t to, int *heat, int *over)
{
    *heat = *over = 0;
    for (int32_t i = from; i < to; i++) {
        *heat |= heatmaps && heatmaps[i];
        *over |= overlays && overlays[i];
    }
    return *heat || *over;
}

static inline size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

/* Input channels of conv layer i as the backend stores them (the first layer's are padded). */
static inline int32_t conv_cin(const gc_context *ctx, const cuda_state *s, int i)
{
    return i == 0 ? s->c0 : ctx->model.layers[i].cin;
}

/* Where the forward writes layer i's output. */
static inline void *layer_out(const cuda_state *s, int i)
{
    return i >= s->keep_from ? s->act[i] : (i % 2 ? s->pong : s->ping);
}

/* ---------------------------------------------------------------- backend_common.cu */

/* At the entry of every batch call: our device, and no fault left over from earlier work. */
gc_status gcu_enter(gc_context *ctx, cuda_state *s);
/* At the exit of every batch call (st: its status): a failure that poisoned the CUDA context
 * makes the gc_context sticky; the message is prefixed with "CUDA backend, <op>: ". */
gc_status gcu_settle(gc_context *ctx, cuda_state *s, gc_status st, const char *op);
/* GC_CUDA_SYNC: waits for the stream, so that a fault is reported by the step that caused it */
gc_status gcu_debug_sync(gc_context *ctx, cuda_state *s);
/* Waits for the stream's work so far: cudaStreamSynchronize, or with blocking_sync a
 * blocking-sync event (the thread sleeps until the device is done, leaving its core to the
 * caller's other threads; CUDA spins by default while a process has no more contexts than
 * cores). The events of the copy ring follow the same choice (gcu_event_flags). */
gc_status gcu_wait(gc_context *ctx, cuda_state *s);
unsigned gcu_event_flags(const cuda_state *s);
/* The copy stream (GC_RENDER_PIPELINE's halves, the early logits' download) and the events
 * of those paths, each made at its first use. */
gc_status gcu_copy_stream(gc_context *ctx, cuda_state *s);
gc_status gcu_event_once(gc_context *ctx, cudaEvent_t *ev, unsigned flags);
/* Profiling (ctx->opt.profile): an event at the end of a stage (PROF_*), the first at the
 * start of the batch, the times into ctx->prof after the batch's final synchronization. */
gc_status gcu_mark(gc_context *ctx, cuda_state *s, int stage);
gc_status gcu_prof_begin(gc_context *ctx, cuda_state *s);
gc_status gcu_prof_collect(gc_context *ctx, cuda_state *s);
/* ... and the steps after the features (gc_profile_step_ms): gcu_steps_open records the
 * event before the first step of a run of them (each half's head), each gcu_step the end of
 * the step called `fmt` (printf-style), which began at the event before. */
gc_status gcu_steps_open(gc_context *ctx, cuda_state *s);
gc_status gcu_step(gc_context *ctx, cuda_state *s, const char *fmt, ...);
/* ctx->prof.device_bytes = what the context holds on the device now */
void gcu_account(gc_context *ctx, const cuda_state *s);

/* ---------------------------------------------------------------- backend.cu */

/* Frees the copy ring h_ring (page-locked or plain, as it was allocated). */
void gcu_free_ring(cuda_state *s);
/* gc_explain's images in steps (stage_images_gpu, backend_pipeline.cu): the staged batch's
 * descriptors, d_img, the ring (for `parts` outputs an image) and the table up on `st`;
 * images [from, to) up on `st`; preprocessed into x (rows 0 .. to - from) on the compute
 * stream. */
gc_status gcu_stage_table(gc_context *ctx, cuda_state *s, const gc_image *images,
                          const gc_region *regions, int32_t n, size_t parts, cudaStream_t st);
gc_status gcu_upload_pixels(gc_context *ctx, cuda_state *s, const gc_image *images,
                            int32_t from, int32_t to, cudaStream_t st);
gc_status gcu_preprocess_range(gc_context *ctx, cuda_state *s, int32_t from, int32_t to);
/* d_out of at least `bytes` (the rendered heatmaps and overlays) */
gc_status gcu_reserve_out(gc_context *ctx, cuda_state *s, size_t bytes);
/* The staged images [from, to)'s normalized cams (host, the batch's rows) up and their
 * outputs rendered into d_out, on `st`; then down into the caller's buffers through the
 * ring, on `st` (returns when they are there). */
gc_status gcu_enqueue_render(gc_context *ctx, cuda_state *s, int32_t from, int32_t to,
                             const float *cams, gc_colormap colormap, float alpha,
                             cudaStream_t st);
gc_status gcu_download_outputs(gc_context *ctx, cuda_state *s, int32_t from, int32_t to,
                               uint8_t *const *overlays, uint8_t *const *heatmaps,
                               cudaStream_t st);

/* ---------------------------------------------------------------- backend_pipeline.cu */

/* gc_explain_render's batch in two halves (ops.explain_render, while ctx->render_split):
 * see there. */
gc_status gcu_explain_render_split(gc_context *ctx, cuda_state *s, const gc_image *images,
                                   const gc_region *regions, int32_t n, const int32_t *classes,
                                   float *logits, int32_t *class_ids, float *cams_raw,
                                   gc_finish_fn finish, void *arg, gc_colormap colormap,
                                   float alpha, uint8_t *const *overlays,
                                   uint8_t *const *heatmaps);

/* ---------------------------------------------------------------- backend_create.cu */

gc_status gcu_create(gc_context *ctx, void **state);
void gcu_destroy(void *state);
/* The cuDNN workspace the full plans and the halves' need, in bytes. */
size_t gcu_plans_workspace(const gc_context *ctx, const cuda_state *s);

/* ---------------------------------------------------------------- backend_plans.cu */

/* Layer i's forward plan into pf and its backward-data plan into pb for n images (either
 * NULL: not that one; ws_cap as gc_conv_plan_build_capped's); the message names the layer. */
gc_status gcu_build_layer_plans(gc_context *ctx, cuda_state *s, int i, int32_t n,
                                int64_t ws_cap, gc_conv_plan *pf, gc_conv_plan *pb);
/* A set of plans for n images (those has_fwd / has_bwd ask for), not bound yet; engine
 * configs needing more than ws_cap bytes of workspace are passed over (-1: any). */
gc_status gcu_plan_set_build(gc_context *ctx, cuda_state *s, int32_t n, int64_t ws_cap,
                             gcu_plan_set **out);
void gcu_plan_set_free(gcu_plan_set *set);
/* The workspace the plans fwd[] and bwd[] (full or a set's) need, in bytes. */
size_t gcu_plan_set_workspace(const gc_context *ctx, const cuda_state *s, const gc_conv_plan *fwd,
                              const gc_conv_plan *bwd);
/* Binds fwd[] and bwd[] to the arena's buffers and the workspace. */
gc_status gcu_bind_plans(gc_context *ctx, cuda_state *s, gc_conv_plan *fwd, gc_conv_plan *bwd);
/* GC_BATCH_PLANS read; no sets yet. */
void gcu_plans_init(cuda_state *s);
/* Every set freed (destroy). */
void gcu_plans_free(cuda_state *s);
/* Before a batch of n runs (outside any graph capture): s->cur, the smallest set holding n
 * (NULL: the full plans), after building the set for n's power of two when GC_BATCH_PLANS
 * says it is time; starts the call's account of the time its plans' extra images cost. */
gc_status gcu_plans_select(gc_context *ctx, cuda_state *s, int32_t n);
/* At the end of every batch call (gcu_settle): that account closed. */
void gcu_plans_call_end(cuda_state *s);

/* ---------------------------------------------------------------- backend_autotune.cu */

/* Candidates per plan from options.autotune / GC_CUDNN_AUTOTUNE (0: no autotuning). */
int gcu_autotune_candidates(const gc_context *ctx);
/* Every plan timed against other engine configs on the arena's buffers (after the layout,
 * before the weights are uploaded and the plans bound); the arena is zeroed again after. */
gc_status gcu_autotune_plans(gc_context *ctx, cuda_state *s, int n_cands);

/* A line of gc_autotune_report's text. */
void gcu_report_line(gc_context *ctx, const char *fmt, ...);

/* ---------------------------------------------------------------- backend_head_gemm.cu */

/* Dense layer j's forward (dir 0) or backward (dir 1) GEMM of shape g: cublasGemmEx, or
 * with GC_HEAD_GEMM=lt cuBLASLt's algorithm chosen at creation for the full batch. */
gc_status gcu_head_gemm(gc_context *ctx, cuda_state *s, int j, int dir, const gcu_gemm_shape *g,
                        const void *A, const void *B, float *C);
/* GC_HEAD_GEMM=lt: every head GEMM timed on the context's buffers (weights uploaded), each
 * kept on the faster way; the choices in gc_autotune_report. Never fails for the experiment
 * itself (only for a sticky fault during it). */
gc_status gcu_head_gemm_tune(gc_context *ctx, cuda_state *s);
void gcu_head_gemm_free(cuda_state *s);

/* ---------------------------------------------------------------- backend_batch.cu */

/* Upload of a host batch (n, H, W, 3) NHWC and its packing into s->x. */
gc_status gcu_upload_host_input(gc_context *ctx, cuda_state *s, const float *input, int32_t n);
/* Forward of the packed batch, logits to the host (synchronizes). */
gc_status gcu_forward_to_logits(gc_context *ctx, cuda_state *s, int32_t n, float *logits);
/* Everything after the input is packed: forward, class choice, backward(s), cam to the host.
 * During a gc_explain batch (gc_early_results wanted) the logits come down first and
 * context.c makes the results from them while the device runs the backward. */
gc_status gcu_explain_packed(gc_context *ctx, cuda_state *s, int32_t n, const int32_t *classes,
                             float *logits, int32_t *class_ids, float *cams_raw);
/* The same queued on the stream without waiting: the classes up from h_cls (pinned, n
 * entries, written here), the batch, then the class ids back into h_cls, the logits and raw
 * cams down (all there once the stream gets past this). logits_early: the logits go down on
 * `copy` as soon as the head is done, ev_logits recorded after them (the stream waits for
 * them too, so its end still means all is down). */
gc_status gcu_explain_enqueue(gc_context *ctx, cuda_state *s, int32_t n, const int32_t *classes,
                              int32_t *h_cls, float *logits, float *cams_raw, int logits_early);

#endif
