/*
 * backend.cu — the CUDA backend behind gc_backend_ops (src/context.h): every CAM method of
 * the library, and guided backprop, on one GPU.
 *
 * The same algorithm, buffers and NHWC layout as the CPU reference (src/cpu_backend.c):
 * forward convs as cuDNN graphs (conv + bias + ReLU fused where an engine runs it), our
 * max-pool / adaptive-pool kernels, the dense head as cuBLAS GEMMs (row-major through the
 * transposition trick), and the backward from the score to the target layer only: dense
 * GEMMs transposed with ReLU masks, pool backwards, conv backward-data as a forward conv
 * graph with flipped, transposed weights (as the CPU code). Then the method's channel weights
 * and the raw cam (kernels.cu, with the per-element maths of src/gc_math.h). The guided
 * methods add a second backward from the score to the input image with the guided-ReLU rule
 * (the CPU's backward_features(stop = -1, guided = 1)); they keep every layer's output.
 *
 * Precisions: fp32 (true fp32 engines only), tf32 (tensor cores on float data), bf16 and
 * fp16: feature maps, conv and dense weights in the half type (converted once here), cuDNN
 * and cuBLAS computing in float; the input image padded from 3 to 8 channels (zero weights)
 * so that every conv's channels are 16-byte multiples; the dense outputs, logits, the target
 * activation and gradient, the channel weights and the cams in float. fp16 gradients are
 * computed ×1024 (undone at the target and at the input) so that small gradients do not
 * vanish below fp16's range; the scale is exact (a power of two) and every backward op is
 * linear or a sign test.
 *
 * Everything device-side is allocated once at create: one arena for weights and all tensors
 * of max_batch images, one cuDNN workspace, one stream, the handles, the conv plans (built
 * for max_batch) and, when profiling, the CUDA events. A batch of n < max_batch runs the
 * convs for max_batch (the plans' shape; the extra images are stale but finite and never
 * read) and every other op for n.
 *
 * Errors: every CUDA / cuDNN / cuBLAS status is checked (check.cuh); a failing layer adds its
 * name to the message. When a failure leaves the CUDA context unusable (a sticky error: an
 * illegal address in some kernel, a lost device), the gc_context enters its sticky bad state.
 * GC_CUDA_SYNC=1 in the environment synchronizes after every layer, so that an asynchronous
 * fault is reported at the layer that caused it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.cuh"
#include "cudnn_conv.cuh"
#include "plan_cache.h"
#include "image_kernels.cuh"
#include "kernels.cuh"

extern "C" {
#include "context.h"
}

/* profiling: what the time since the previous mark was spent on */
enum { PROF_START, PROF_UPLOAD, PROF_FEATURES, PROF_HEAD, PROF_BACKWARD, PROF_CAM,
       PROF_DOWNLOAD, PROF_PREPROCESS };
#define GC_MAX_MARKS 24
#define GC_FP16_GRAD_SCALE 1024.0f

/* CUDA graphs (GC_CUDA_GRAPHS=1, run_segment): the forward and the backward segments, and
 * cuBLAS's own workspace then (it must not allocate during a capture; 32 MiB is cuBLAS's
 * recommendation for Hopper) */
#define GC_GRAPH_SEGMENTS 2
#define GC_BLAS_GRAPH_WS ((size_t)32 << 20)

typedef struct cuda_state {
    int device;
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    /* numerics of the context's precision */
    gc_dtype dt;                       /* feature maps and weights                          */
    size_t es;                         /* bytes per element of dt                           */
    cudnnDataType_t dnn_dt;
    cudaDataType_t blas_dt;
    cublasComputeType_t blas_compute;
    gc_conv_numerics numerics;
    float gscale;                      /* gradients are computed times this (fp16: 1024)    */
    int32_t c0;                        /* channels of the packed input image: 3, 4 or 8     */
    int guided;                        /* a second, guided backward to the input            */
    int32_t keep_from;                 /* layers >= this keep their outputs in act[]        */
    int debug_sync;                    /* GC_CUDA_SYNC: synchronize after every layer       */
    int graphs;                        /* GC_CUDA_GRAPHS: batches replayed as CUDA graphs   */
    cudaGraphExec_t *graph_exec;       /* [GC_GRAPH_SEGMENTS][N + 1]: per segment, batch size */
    void *blas_ws;                     /* cuBLAS's workspace when graphs are on             */
    int32_t N;                         /* max batch                                         */
    gc_geometry geo;                   /* layer and head sizes (model.c)                    */
    char *arena;                       /* one device allocation                             */
    size_t arena_bytes;
    void *workspace;                   /* cuDNN workspace                                   */
    size_t ws_bytes;
    /* device tensors (pointers into the arena); T = the element type dt */
    float *x_stage;                    /* (N, H, W, 3) float: the host batch before packing */
    void *x;                           /* (N, H, W, c0) T: the network input                */
    void *ping, *pong;                 /* T: outputs of layers below keep_from              */
    void *act[GC_MAX_LAYERS];          /* (N, h, w, C) T: outputs of layers >= keep_from    */
    void *pre;                         /* (N, h, w, K) T: target conv before ReLU (PRE)     */
    float *A;                          /* (N, h, w, K) float: the target activation (in
                                          fp32/tf32 the same memory as act[T] or pre)        */
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
    float *grad;                       /* (N, h, w, K) float: dy/dA at the target           */
    float *alpha;                      /* (N, K)                                            */
    float *cam;                        /* (N, h*w)                                          */
    float *logits;                     /* (N, classes)                                      */
    float *guided_in;                  /* (N, 3, H, W) float NCHW: guided dy/dinput         */
    void *cw[GC_MAX_LAYERS], *cb[GC_MAX_LAYERS]; /* T: conv (cout,3,3,cin'), (cout)         */
    void *wflip[GC_MAX_LAYERS];        /* T: (cin',3,3,cout) for the backward-data convs    */
    void *dw[GC_MAX_DENSE];            /* T: (out, in)                                      */
    float *db[GC_MAX_DENSE];           /* (out)                                             */
    gc_conv_plan fwd[GC_MAX_LAYERS], bwd[GC_MAX_LAYERS];
    int has_fwd[GC_MAX_LAYERS], has_bwd[GC_MAX_LAYERS];
    float *d_cams;                     /* (N, h*w) float: normalized cams to render          */
    uint8_t *d_luts;                   /* the 5 colormaps (gc_colormap order), 768 B each    */
    /* gc_explain's images, preprocessed and rendered here (explain_images, render) unless
     * GC_CUDA_HOST_PREPROCESS=1 (then context.c does both on the host) */
    int host_preprocess;
    uint8_t *h_img;                    /* pinned: the batch's descriptor table, its pixels  */
    uint8_t *d_img;                    /* device copy of h_img (one upload)                 */
    size_t img_cap;                    /* bytes of h_img and of d_img                       */
    uint8_t *d_out;                    /* device: heatmaps (img_pixels bytes), overlays     */
    size_t out_cap;
    gc_image_desc *descs;              /* host (N): the last batch's descriptors            */
    int32_t img_n;                     /* images of the last explain_images (0: none)       */
    size_t img_table;                  /* bytes before the pixels in h_img / d_img          */
    size_t img_pixels;                 /* the last batch's pixel bytes                      */
    int64_t img_max_px;                /* its largest width * height                        */
    float *h_grad_logits;              /* host (N*P*Q, classes): the score gradient         */
    float *h_tmp;                      /* host (h*w*K): read_tensor staging                 */
    /* profiling (ctx->opt.profile) */
    cudaEvent_t ev[GC_MAX_MARKS];
    int ev_stage[GC_MAX_MARKS];
    int n_marks;
} cuda_state;

/* ---------------------------------------------------------------- probe */

int32_t gc_cuda_count_devices(void)
{
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess ? (int32_t)count : 0;
}

gc_status gc_cuda_probe(int32_t device, gc_errbuf *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess)
        return gc_fail(err, GC_ERR_BACKEND, "no usable CUDA driver or device: %s (%s)",
                       cudaGetErrorName(e), cudaGetErrorString(e));
    if (count == 0)
        return gc_fail(err, GC_ERR_BACKEND, "no CUDA device found");
    if (device < 0 || device >= count)
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                       "CUDA device %d does not exist (this machine has %d: 0..%d)", device,
                       count, count - 1);
    cudaDeviceProp prop;
    e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess)
        return gc_fail(err, GC_ERR_BACKEND, "cudaGetDeviceProperties(%d): %s (%s)", device,
                       cudaGetErrorName(e), cudaGetErrorString(e));
    if (prop.major < 8)
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "CUDA device %d (%s) has compute capability %d.%d; the CUDA backend "
                       "needs 8.0 (Ampere) or newer", device, prop.name, prop.major, prop.minor);
    return GC_OK;
}

/* ---------------------------------------------------------------- errors */

/* Prefixes "<what> <layer>: " to the message of a failing step. */
#define LAYER_TRY(ctx, what, layer, expr)                                                      \
    do {                                                                                       \
        gc_status gc_l_ = (expr);                                                              \
        if (gc_l_ != GC_OK) {                                                                  \
            gc_err_prefix(&(ctx)->err, "%s %s: ", (what), (layer));                            \
            return gc_l_;                                                                      \
        }                                                                                      \
    } while (0)

/* GC_CUDA_SYNC: wait for the stream, so that a fault is reported by the step that caused it */
static gc_status debug_sync(gc_context *ctx, cuda_state *s)
{
    if (s->debug_sync)
        GC_CUDA_TRY(&ctx->err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

/* At the entry of every batch call: our device, and no fault left over from earlier work. */
static gc_status enter(gc_context *ctx, cuda_state *s)
{
    cudaError_t e = cudaGetLastError(); /* clears a non-sticky error of someone else's call */
    if (gc_cuda_error_is_sticky(e)) {
        ctx->sticky = GC_ERR_BACKEND;
        return gc_fail(&ctx->err, GC_ERR_BACKEND,
                       "the CUDA context is unusable: a sticky error %s (%s) was pending "
                       "before this call", cudaGetErrorName(e), cudaGetErrorString(e));
    }
    GC_CUDA_TRY(&ctx->err, cudaSetDevice(s->device));
    return GC_OK;
}

/* At the exit of every batch call that failed: drain the stream and decide whether the
 * failure poisoned the CUDA context (then the gc_context becomes unusable: sticky). */
static gc_status settle(gc_context *ctx, cuda_state *s, gc_status st, const char *op)
{
    if (st == GC_OK)
        return GC_OK;
    cudaError_t last = cudaGetLastError();
    cudaError_t sync = cudaStreamSynchronize(s->stream);
    cudaError_t peek = cudaPeekAtLastError();
    cudaError_t bad = cudaSuccess;
    if (sync != cudaSuccess) /* queued work failed: an asynchronous fault */
        bad = sync;
    else if (gc_cuda_error_is_sticky(last))
        bad = last;
    else if (gc_cuda_error_is_sticky(peek))
        bad = peek;
    if (bad != cudaSuccess) {
        ctx->sticky = GC_ERR_BACKEND;
        gc_err_prefix(&ctx->err,
                      "CUDA backend, %s: the CUDA context is unusable after %s (%s); destroy "
                      "this context (a new one may fail as well: then restart the process). "
                      "First failure: ", op, cudaGetErrorName(bad), cudaGetErrorString(bad));
        if (st == GC_OK)
            st = GC_ERR_BACKEND;
    } else {
        gc_err_prefix(&ctx->err, "CUDA backend, %s: ", op);
    }
    cudaGetLastError();
    return st;
}

/* ---------------------------------------------------------------- profiling */

static gc_status mark(gc_context *ctx, cuda_state *s, int stage)
{
    if (!ctx->opt.profile || s->n_marks >= GC_MAX_MARKS)
        return GC_OK;
    GC_CUDA_TRY(&ctx->err, cudaEventRecord(s->ev[s->n_marks], s->stream));
    s->ev_stage[s->n_marks++] = stage;
    return GC_OK;
}

static gc_status prof_begin(gc_context *ctx, cuda_state *s)
{
    s->n_marks = 0;
    return mark(ctx, s, PROF_START);
}

/* After the batch's final synchronization: the time between marks into ctx->prof. */
static gc_status prof_collect(gc_context *ctx, cuda_state *s)
{
    for (int k = 1; k < s->n_marks; k++) {
        float ms = 0.0f;
        GC_CUDA_TRY(&ctx->err, cudaEventElapsedTime(&ms, s->ev[k - 1], s->ev[k]));
        double *f = NULL;
        switch (s->ev_stage[k]) {
        case PROF_UPLOAD: f = &ctx->prof.upload_ms; break;
        case PROF_FEATURES: f = &ctx->prof.features_ms; break;
        case PROF_HEAD: f = &ctx->prof.head_ms; break;
        case PROF_BACKWARD: f = &ctx->prof.backward_ms; break;
        case PROF_CAM: f = &ctx->prof.cam_ms; break;
        case PROF_DOWNLOAD: f = &ctx->prof.download_ms; break;
        case PROF_PREPROCESS: f = &ctx->prof.preprocess_ms; break;
        default: break;
        }
        if (f)
            *f += ms;
    }
    s->n_marks = 0;
    return GC_OK;
}

/* ---------------------------------------------------------------- image staging */

#define GC_N_COLORMAPS (GC_COLORMAP_MAGMA + 1)
#define GC_LUT_BYTES 768
/* Pinned staging, allocated at the first gc_explain of images (a context that never calls it
 * holds none): room for max_batch images of 4x the network's pixels (at least 640x480), at
 * most this much; a batch that needs more grows it. */
#define GC_IMG_STAGING_INITIAL_MAX ((size_t)256 << 20)

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

/* The memory the context holds on the device (gc_profile.device_bytes). */
static void account(gc_context *ctx, const cuda_state *s)
{
    ctx->prof.device_bytes = (int64_t)(s->arena_bytes + s->ws_bytes + s->img_cap + s->out_cap +
                                       (s->blas_ws ? GC_BLAS_GRAPH_WS : 0));
}

/* h_img and d_img of exactly `bytes` (the old ones, if any, are freed first: their contents
 * are dropped). On failure both are NULL, img_cap is 0, and the message says what to do. */
static gc_status alloc_images(gc_context *ctx, cuda_state *s, size_t bytes, int32_t n)
{
    if (s->h_img)
        cudaFreeHost(s->h_img);
    cudaFree(s->d_img);
    s->h_img = s->d_img = NULL;
    s->img_cap = 0;
    s->img_n = 0;
    account(ctx, s);
    cudaError_t e = cudaHostAlloc((void **)&s->h_img, bytes, cudaHostAllocDefault);
    const char *call = "cudaHostAlloc (pinned host staging)";
    if (e == cudaSuccess) {
        e = cudaMalloc((void **)&s->d_img, bytes);
        call = "cudaMalloc (device image buffer)";
    }
    if (e != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        if (s->h_img)
            cudaFreeHost(s->h_img);
        s->h_img = NULL;
        s->d_img = NULL;
        return gc_fail(&ctx->err,
                       e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY : GC_ERR_BACKEND,
                       "CUDA backend: %s of %.1f MiB for a batch of %d image(s) failed: %s "
                       "(%s); use smaller images or batches, or GC_CUDA_HOST_PREPROCESS=1",
                       call, bytes / 1048576.0, n, cudaGetErrorName(e), cudaGetErrorString(e));
    }
    s->img_cap = bytes;
    account(ctx, s);
    return GC_OK;
}

/* d_out of at least `bytes`, grown with headroom. */
static gc_status reserve_out(gc_context *ctx, cuda_state *s, size_t bytes)
{
    if (bytes <= s->out_cap)
        return GC_OK;
    const size_t cap = bytes + bytes / 2;
    cudaFree(s->d_out);
    s->d_out = NULL;
    s->out_cap = 0;
    account(ctx, s);
    cudaError_t e = cudaMalloc((void **)&s->d_out, cap);
    if (e != cudaSuccess) {
        cudaGetLastError();
        s->d_out = NULL;
        return gc_fail(&ctx->err,
                       e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY : GC_ERR_BACKEND,
                       "CUDA backend: cudaMalloc of %.1f MiB for the rendered heatmaps and "
                       "overlays failed: %s (%s); use smaller images or batches",
                       cap / 1048576.0, cudaGetErrorName(e), cudaGetErrorString(e));
    }
    s->out_cap = cap;
    account(ctx, s);
    return GC_OK;
}

/* ---------------------------------------------------------------- set-up */

static void cuda_destroy(void *state)
{
    cuda_state *s = (cuda_state *)state;
    if (!s)
        return;
    cudaSetDevice(s->device);
    if (s->stream)
        cudaStreamSynchronize(s->stream);
    for (int i = 0; i < GC_MAX_LAYERS; i++) {
        gc_conv_plan_free(&s->fwd[i]);
        gc_conv_plan_free(&s->bwd[i]);
    }
    for (int k = 0; k < GC_MAX_MARKS; k++)
        if (s->ev[k])
            cudaEventDestroy(s->ev[k]);
    if (s->graph_exec) {
        for (size_t k = 0; k < (size_t)GC_GRAPH_SEGMENTS * (size_t)(s->N + 1); k++)
            if (s->graph_exec[k])
                cudaGraphExecDestroy(s->graph_exec[k]);
        free(s->graph_exec);
    }
    cudaFree(s->blas_ws);
    if (s->blas)
        cublasDestroy(s->blas);
    if (s->dnn)
        cudnnDestroy(s->dnn);
    cudaFree(s->workspace);
    cudaFree(s->arena);
    cudaFree(s->d_img);
    cudaFree(s->d_out);
    if (s->h_img)
        cudaFreeHost(s->h_img);
    free(s->descs);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    cudaGetLastError(); /* nothing of ours stays pending after a failed teardown */
    free(s->h_grad_logits);
    free(s->h_tmp);
    free(s);
}

/* Bump allocator over the arena: a first pass (base NULL) only measures. */
typedef struct arena {
    char *base;
    size_t used;
} arena;

static void *take(arena *a, size_t bytes)
{
    bytes = (bytes + 255) / 256 * 256;
    void *p = a->base ? (void *)(a->base + a->used) : NULL;
    a->used += bytes;
    return p;
}

static float *take_f(arena *a, size_t floats)
{
    return (float *)take(a, floats * sizeof(float));
}

static void *take_t(arena *a, const cuda_state *s, size_t elems)
{
    return take(a, elems * s->es);
}

/* Input channels of conv layer i as the backend stores them (the first layer's are padded). */
static int32_t conv_cin(const gc_context *ctx, const cuda_state *s, int i)
{
    return i == 0 ? s->c0 : ctx->model.layers[i].cin;
}

/* Where the forward writes layer i's output. */
static void *layer_out(const cuda_state *s, int i)
{
    return i >= s->keep_from ? s->act[i] : (i % 2 ? s->pong : s->ping);
}

/* Assigns every device tensor (or measures their total when a->base is NULL). */
static void layout(const gc_context *ctx, cuda_state *s, arena *a)
{
    const gc_model *m = &ctx->model;
    const size_t N = (size_t)s->N, HW = (size_t)ctx->in_h * ctx->in_w;
    const int32_t T = ctx->target, K0 = s->keep_from;
    size_t below, above;
    gc_layer_extents(m, &s->geo, N, K0, &below, &above);
    if (s->guided) /* the first conv's backward-data writes the input's gradient */
        above = GC_MAX(above, N * HW * s->c0);
    const int32_t C = m->layers[m->n_layers - 1].cout;
    const size_t rows = N * s->geo.P * s->geo.Q, hw = (size_t)ctx->cam_h * ctx->cam_w;
    const size_t Kc = (size_t)ctx->cam_c;
    s->x_stage = take_f(a, N * HW * 3);
    s->x = take_t(a, s, N * HW * s->c0);
    s->ping = K0 > 0 ? take_t(a, s, below) : NULL;
    s->pong = K0 > 0 ? take_t(a, s, below) : NULL;
    for (int i = K0; i < m->n_layers; i++)
        s->act[i] = take_t(a, s, N * s->geo.h[i] * s->geo.w[i] * m->layers[i].cout);
    s->pre = ctx->stage == GC_STAGE_PRE ? take_t(a, s, N * hw * Kc) : NULL;
    if (s->dt == GC_DT_F32)
        s->A = (float *)(ctx->stage == GC_STAGE_PRE ? s->pre : s->act[T]);
    else
        s->A = take_f(a, N * hw * Kc);
    s->pooled = take_t(a, s, N * s->geo.ph * s->geo.pw * C);
    s->patches = s->geo.direct_patch ? NULL : take_t(a, s, rows * s->geo.kk_c);
    size_t widest = 1;
    for (int j = 0; j < m->n_dense; j++) {
        s->dense_out[j] = take_f(a, rows * m->dense[j].out);
        widest = GC_MAX(widest, (size_t)m->dense[j].out);
    }
    s->dense_in[0] = s->geo.direct_patch ? s->pooled : s->patches;
    for (int j = 1; j < m->n_dense; j++)
        s->dense_in[j] = s->dt == GC_DT_F32 ? (void *)s->dense_out[j - 1]
                                            : take_t(a, s, rows * m->dense[j - 1].out);
    s->gd_a = take_f(a, rows * widest);
    s->gd_b = take_f(a, rows * widest);
    s->gd_t = s->dt == GC_DT_F32 ? NULL : take_t(a, s, rows * widest);
    s->g_patch = take_f(a, rows * s->geo.kk_c);
    s->g_pool = s->geo.direct_patch ? NULL : take_f(a, N * s->geo.ph * s->geo.pw * C);
    s->g_a = take_t(a, s, above);
    s->g_b = take_t(a, s, above);
    s->grad = take_f(a, N * hw * Kc);
    s->alpha = take_f(a, N * Kc);
    s->cam = take_f(a, N * hw);
    s->logits = take_f(a, N * m->num_classes);
    s->guided_in = s->guided ? take_f(a, N * 3 * HW) : NULL;
    s->d_cams = take_f(a, N * hw);
    s->d_luts = (uint8_t *)take(a, (size_t)GC_N_COLORMAPS * GC_LUT_BYTES);
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        if (L->kind != GC_LAYER_CONV)
            continue;
        const size_t nw = (size_t)9 * conv_cin(ctx, s, i) * L->cout;
        s->cw[i] = take_t(a, s, nw);
        s->cb[i] = take_t(a, s, (size_t)L->cout);
        s->wflip[i] = s->has_bwd[i] ? take_t(a, s, nw) : NULL;
    }
    for (int j = 0; j < m->n_dense; j++) {
        s->dw[j] = take_t(a, s, (size_t)m->dense[j].in * m->dense[j].out);
        s->db[j] = take_f(a, (size_t)m->dense[j].out);
    }
}

/* dst (n elements of the context's type, on the device) = src (n host floats), rounded to
 * the type on the host. Synchronous: the staging buffer is freed before returning. */
static gc_status put_tensor(gc_context *ctx, cuda_state *s, void *dst, const float *src,
                            size_t n, gc_dtype t, const char *what)
{
    void *h = t == GC_DT_F32 ? (void *)src : malloc(n * gc_dtype_size(t) + 1);
    if (!h)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory converting %s", what);
    if (h != (void *)src)
        gc_dtype_from_float_host(t, src, h, n);
    cudaError_t e = cudaMemcpyAsync(dst, h, n * gc_dtype_size(t), cudaMemcpyHostToDevice,
                                    s->stream);
    cudaError_t e2 = cudaStreamSynchronize(s->stream);
    if (h != (void *)src)
        free(h);
    if (e != cudaSuccess || e2 != cudaSuccess) {
        cudaError_t b = e != cudaSuccess ? e : e2;
        return gc_fail(&ctx->err, GC_ERR_BACKEND, "uploading %s: cudaMemcpyAsync: %s (%s)",
                       what, cudaGetErrorName(b), cudaGetErrorString(b));
    }
    return GC_OK;
}

static gc_status upload_weights(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        if (L->kind != GC_LAYER_CONV)
            continue;
        const int32_t ci = conv_cin(ctx, s, i), co = L->cout;
        const size_t nw = (size_t)9 * ci * co;
        float *w = (float *)calloc(nw, sizeof(float)), *f = (float *)malloc(nw * sizeof(float));
        if (!w || !f) {
            free(w);
            free(f);
            return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (conv weights)");
        }
        /* (cout, 3, 3, ci): the model's cin channels, then zeros (the padded input's) */
        for (size_t r = 0; r < (size_t)co * 9; r++)
            memcpy(w + r * ci, L->w + r * L->cin, sizeof(float) * L->cin);
        /* dgrad weights: wflip[c][ky][kx][k] = w[k][2-ky][2-kx][c] (as cpu_backend.c) */
        for (int32_t kc = 0; kc < co; kc++)
            for (int32_t ky = 0; ky < 3; ky++)
                for (int32_t kx = 0; kx < 3; kx++)
                    for (int32_t c = 0; c < ci; c++)
                        f[(((size_t)c * 3 + ky) * 3 + kx) * co + kc] =
                            w[(((size_t)kc * 3 + (2 - ky)) * 3 + (2 - kx)) * ci + c];
        gc_status st = put_tensor(ctx, s, s->cw[i], w, nw, s->dt, "conv weights");
        if (st == GC_OK)
            st = put_tensor(ctx, s, s->cb[i], L->b, (size_t)co, s->dt, "conv bias");
        if (st == GC_OK && s->wflip[i])
            st = put_tensor(ctx, s, s->wflip[i], f, nw, s->dt, "flipped conv weights");
        free(w);
        free(f);
        LAYER_TRY(ctx, "CUDA backend, weights of", L->name, st);
    }
    for (int j = 0; j < m->n_dense; j++) {
        GC_TRY(put_tensor(ctx, s, s->dw[j], m->dense[j].w,
                          (size_t)m->dense[j].in * m->dense[j].out, s->dt, "dense weights"));
        GC_TRY(put_tensor(ctx, s, s->db[j], m->dense[j].b, (size_t)m->dense[j].out, GC_DT_F32,
                          "dense bias"));
    }
    return GC_OK;
}

/* Layer i's forward plan and, when the backward passes it, its backward-data plan. */
static gc_status build_layer_plans(gc_context *ctx, cuda_state *s, int i, int32_t stop)
{
    const gc_layer *L = &ctx->model.layers[i];
    const int32_t T = ctx->target;
    const int32_t H = s->geo.h[i], W = s->geo.w[i], ci = conv_cin(ctx, s, i);
    const int pre = i == T && ctx->stage == GC_STAGE_PRE;
    LAYER_TRY(ctx, "CUDA backend, plan for the forward of", L->name,
              gc_conv_plan_build(s->dnn, s->dnn_dt, s->N, H, W, ci, L->cout, 1, !pre,
                                 s->numerics, &s->fwd[i], &ctx->err));
    s->has_fwd[i] = 1;
    if (i > stop) {
        LAYER_TRY(ctx, "CUDA backend, plan for the backward-data of", L->name,
                  gc_conv_plan_build(s->dnn, s->dnn_dt, s->N, H, W, L->cout, ci, 0, 0,
                                     s->numerics, &s->bwd[i], &ctx->err));
        s->has_bwd[i] = 1;
    }
    return GC_OK;
}

/* Every conv plan (no pointers yet: gc_conv_plan_bind comes after the arena). Chooses c0:
 * the first layer's input channels, 3 when an engine takes them, else padded to 4 or 8;
 * always 8 in fp16/bf16 (16-byte channel vectors for the tensor-core engines). */
static gc_status build_plans(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    const int32_t stop = s->guided ? -1 : ctx->target;
    static const int32_t c_float[] = {3, 4, 8}, c_half[] = {8};
    const int32_t *cands = s->dt == GC_DT_F32 ? c_float : c_half;
    const int n_cands = s->dt == GC_DT_F32 ? 3 : 1;
    gc_status st = GC_OK;
    s->c0 = cands[0];
    for (int k = 0; m->layers[0].kind == GC_LAYER_CONV && k < n_cands; k++) {
        s->c0 = cands[k];
        st = build_layer_plans(ctx, s, 0, stop);
        /* an engine refused, or cuDNN refused the graph itself: try wider padding */
        if (st == GC_OK || st == GC_ERR_OUT_OF_MEMORY)
            break;
        gc_conv_plan_free(&s->fwd[0]);
        gc_conv_plan_free(&s->bwd[0]);
        s->has_fwd[0] = s->has_bwd[0] = 0;
    }
    GC_TRY(st);
    for (int i = 1; i < m->n_layers; i++)
        if (m->layers[i].kind == GC_LAYER_CONV)
            GC_TRY(build_layer_plans(ctx, s, i, stop));
    s->ws_bytes = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (s->has_fwd[i])
            s->ws_bytes = GC_MAX(s->ws_bytes, (size_t)s->fwd[i].workspace);
        if (s->has_bwd[i])
            s->ws_bytes = GC_MAX(s->ws_bytes, (size_t)s->bwd[i].workspace);
    }
    return GC_OK;
}

/* The variant packs: fixed pointers, as forward_features() and backward_features() use them.
 * Every backward starts with the gradient in g_a at the last layer and alternates g_a / g_b
 * layer by layer, so a layer's buffers are the same in the normal and the guided backward. */
static gc_status bind_plans(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    const void *x = s->x;
    for (int i = 0; i < m->n_layers; i++) {
        void *y = layer_out(s, i);
        if (s->has_fwd[i]) {
            const int pre = i == ctx->target && ctx->stage == GC_STAGE_PRE;
            LAYER_TRY(ctx, "CUDA backend, binding the forward of", m->layers[i].name,
                      gc_conv_plan_bind(&s->fwd[i], x, s->cw[i], s->cb[i], pre ? s->pre : y,
                                        s->workspace, &ctx->err));
        }
        x = y;
    }
    void *g = s->g_a, *other = s->g_b;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        if (s->has_bwd[i])
            LAYER_TRY(ctx, "CUDA backend, binding the backward-data of", m->layers[i].name,
                      gc_conv_plan_bind(&s->bwd[i], g, s->wflip[i], NULL, other, s->workspace,
                                        &ctx->err));
        void *t = g;
        g = other;
        other = t;
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- autotuning (opt-in)
 * options.autotune, or GC_CUDNN_AUTOTUNE in the environment (which overrides it: 0 off, 1 on,
 * n > 1 up to n candidates). Off, none of this runs. */
#define GC_AUTOTUNE_CANDIDATES 8          /* per plan, besides the default (autotune = 1)   */
#define GC_AUTOTUNE_MAX_CANDIDATES 64
#define GC_AUTOTUNE_WS_CAP ((int64_t)256 << 20) /* bytes of workspace a candidate may use */
#define GC_AUTOTUNE_SECONDS 60.0          /* per context; GC_CUDNN_AUTOTUNE_SECONDS         */

/* Candidates per plan (0: no autotuning). */
static int autotune_candidates(const gc_context *ctx)
{
    long n = ctx->opt.autotune;
    const char *env = getenv("GC_CUDNN_AUTOTUNE");
    if (env && *env) {
        char *end;
        n = strtol(env, &end, 10);
        if (*end) /* not a number: "yes", "on", ... */
            n = 1;
    }
    if (n <= 0)
        return 0;
    return n == 1 ? GC_AUTOTUNE_CANDIDATES : (int)GC_MIN(n, (long)GC_AUTOTUNE_MAX_CANDIDATES);
}

/* Appends a formatted line to ctx->autotune_report (grown as needed; dropped on failure). */
static void report_line(gc_context *ctx, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const size_t old = ctx->autotune_report ? strlen(ctx->autotune_report) : 0;
    char *r = (char *)realloc(ctx->autotune_report, old + strlen(line) + 2);
    if (!r)
        return;
    memcpy(r + old, line, strlen(line));
    r[old + strlen(line)] = '\n';
    r[old + strlen(line) + 1] = 0;
    ctx->autotune_report = r;
}

/* One autotuning run over a context's plans: the tuner, the on-disk choices, counts. */
typedef struct tune_run {
    gc_conv_tuner *t;
    gc_plan_cache cache;
    int n_plans, changed, cached, cache_failed;
} tune_run;

/* The plan cache's key for plan p (cuda/plan_cache.h): everything its engine choice depends
 * on. */
static void plan_key(const cuda_state *s, const char *dir,
                     const gc_conv_plan *p, char *key, size_t len)
{
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, s->device) != cudaSuccess) {
        cudaGetLastError();
        snprintf(prop.name, sizeof prop.name, "device%d", s->device);
        prop.major = prop.minor = 0;
    }
    for (char *c = prop.name; *c; c++) /* the key's separators stay out */
        if (*c == '\t' || *c == '\n')
            *c = ' ';
    snprintf(key, len,
             "%s|sm%d%d|cudnn%zu|%s|dt%d|num%d|n%lld|h%lld|w%lld|c%lld|k%lld|b%d|r%d|f%d",
             prop.name, prop.major, prop.minor, cudnnGetVersion(), dir, (int)p->dtype,
             (int)s->numerics, (long long)p->n, (long long)p->h, (long long)p->w,
             (long long)p->c, (long long)p->k, p->bias, p->relu, p->fused);
}

/* Plan p of layer i (dir: "forward" or "backward-data"): the engine config the cache holds
 * for it when cuDNN still offers that config, else timed against the candidates (and the
 * winner cached). One line of the report either way. */
static gc_status tune_one(gc_context *ctx, cuda_state *s, tune_run *run, const char *dir,
                          int i, gc_conv_plan *p, const void *x, const void *w, const void *b,
                          void *y)
{
    gc_errbuf *err = &ctx->err;
    const char *name = ctx->model.layers[i].name;
    const cudnnBackendDescriptor_t before = p->plan;
    const double l0 = gc_conv_tuner_now();
    char key[512], tag[128], why[300];
    plan_key(s, dir, p, key, sizeof key);
    const char *cached = gc_plan_cache_find(&run->cache, key);
    if (cached) {
        int found = 0;
        GC_TRY(gc_conv_plan_select(s->dnn, p, s->numerics, cached, &found, err));
        if (found) {
            report_line(ctx, "%s %s: %s (cached) [%.2f s]", dir, name, cached,
                        gc_conv_tuner_now() - l0);
            run->n_plans++;
            run->cached++;
            run->changed += p->plan != before;
            return GC_OK;
        }
        report_line(ctx, "%s %s: the cached %s is not offered any more: timing again", dir,
                    name, cached);
    }
    run->t->out_of_time = 0;
    if (l0 > run->t->deadline_s) {
        report_line(ctx, "%s %s: default kept (time budget spent)", dir, name);
        return GC_OK;
    }
    char line[400];
    gc_status st = gc_conv_plan_tune(s->dnn, run->t, p, s->numerics, x, w, b, y, line,
                                     sizeof line, err);
    if (st != GC_OK) {
        gc_err_prefix(err, "CUDA backend, autotuning the %s of %s: ", dir, name);
        return st;
    }
    report_line(ctx, "%s %s: %s [%.2f s]", dir, name, line, gc_conv_tuner_now() - l0);
    run->n_plans++;
    run->changed += p->plan != before;
    /* a search cut short by the time budget is not a choice worth keeping */
    if (!run->t->out_of_time) {
        gc_conv_plan_tag(p, tag, sizeof tag);
        if (strncmp(tag, "eng?", 4) != 0 && strcmp(tag, "default") != 0 &&
            gc_plan_cache_add(&run->cache, key, tag, why, sizeof why) != 0 &&
            !run->cache_failed++)
            report_line(ctx, "plan cache: %s", why);
    }
    return GC_OK;
}

/* Every conv plan timed against the heuristics' other candidates on the arena's buffers (as
 * bind_plans binds them), filled with random values first; the fastest kept. Then the arena
 * is zeroed again (as create leaves it) and the workspace grown when a winner needs more.
 * Runs after layout() and before upload_weights() and bind_plans(). */
static gc_status autotune_plans(gc_context *ctx, cuda_state *s, int n_cands)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const double t0 = gc_conv_tuner_now();
    double budget = GC_AUTOTUNE_SECONDS;
    const char *bs = getenv("GC_CUDNN_AUTOTUNE_SECONDS");
    if (bs && *bs && atof(bs) > 0.0)
        budget = atof(bs);
    /* the cap: 256 MiB, or half the free device memory when that is less */
    size_t free_b = 0, total_b = 0;
    int64_t cap = GC_AUTOTUNE_WS_CAP;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        cap = GC_MIN(cap, (int64_t)(free_b / 2));
    else
        cudaGetLastError();
    cap = GC_MAX(cap, (int64_t)s->ws_bytes); /* the defaults' own workspace always fits */
    GC_TRY(gc_conv_fill_random(s->stream, s->arena, s->arena_bytes & ~(size_t)3, s->dnn_dt,
                               0x9e3779b9u, 1.0f, err));
    /* the conv weights scaled to keep the values' spread from layer to layer (uniform within
     * sqrt(3 / fan-in): variance 1 / fan-in), so that the timed runs stay finite in fp16
     * (weights within [-1, 1] grow a feature map ~20x per layer: inf after a few) */
    for (int i = 0; i < m->n_layers; i++) {
        if (!s->cw[i])
            continue;
        const size_t cin = (size_t)conv_cin(ctx, s, i), cout = (size_t)m->layers[i].cout;
        const size_t bytes = (9 * cin * cout * s->es) & ~(size_t)3;
        GC_TRY(gc_conv_fill_random(s->stream, s->cw[i], bytes, s->dnn_dt, 0x85ebca6bu + i,
                                   sqrtf(3.0f / (9.0f * cin)), err));
        if (s->wflip[i])
            GC_TRY(gc_conv_fill_random(s->stream, s->wflip[i], bytes, s->dnn_dt,
                                       0xc2b2ae35u + i, sqrtf(3.0f / (9.0f * cout)), err));
    }
    gc_conv_tuner t;
    GC_TRY(gc_conv_tuner_init(&t, s->stream, n_cands, cap, err));
    t.deadline_s = t0 + budget;
    /* tests only: make the plan swap and the workspace growth below run on a small model,
     * where the default may win every timing */
    const char *pick = getenv("GC_CUDNN_AUTOTUNE_PICK");
    t.pick_other = pick && strcmp(pick, "other") == 0;
    static const char *const prec[] = {"auto", "fp32", "tf32", "bf16", "fp16"};
    report_line(ctx, "cuDNN autotune: %s, max_batch %d, %dx%d, up to %d candidates per conv "
                     "(heuristics A then B), workspace cap %.0f MiB, min of %d runs after %d "
                     "warm-up%s",
                ctx->opt.precision >= 0 && ctx->opt.precision <= 4 ? prec[ctx->opt.precision]
                                                                   : "?",
                s->N, ctx->in_w, ctx->in_h, n_cands, cap / 1048576.0, t.iters, t.warmup,
                t.pick_other ? "; GC_CUDNN_AUTOTUNE_PICK=other (test only: the fastest "
                               "non-default candidate is kept)"
                             : "");
    gc_status st = GC_OK;
    tune_run run = {&t, {}, 0, 0, 0, 0};
    char path[1024], why[300];
    /* the on-disk choices (cuda/plan_cache.h); a test that forces swaps neither reads nor
     * writes them */
    const char *cache_path = t.pick_other ? NULL : gc_plan_cache_path(path, sizeof path);
    if (gc_plan_cache_open(&run.cache, cache_path, why, sizeof why) != 0)
        report_line(ctx, "plan cache off: %s", why);
    else if (cache_path)
        report_line(ctx, "plan cache: %s (%d choices)", cache_path, run.cache.n);
    const void *x = s->x;
    for (int i = 0; st == GC_OK && i < m->n_layers; i++) {
        void *y = layer_out(s, i);
        if (s->has_fwd[i]) {
            const int pre = i == ctx->target && ctx->stage == GC_STAGE_PRE;
            st = tune_one(ctx, s, &run, "forward", i, &s->fwd[i], x, s->cw[i], s->cb[i],
                          pre ? s->pre : y);
        }
        x = y;
    }
    void *g = s->g_a, *other = s->g_b;
    for (int i = m->n_layers - 1; st == GC_OK && i >= 0; i--) {
        if (s->has_bwd[i])
            st = tune_one(ctx, s, &run, "backward-data", i, &s->bwd[i], g, s->wflip[i], NULL,
                          other);
        void *tmp = g;
        g = other;
        other = tmp;
    }
    gc_plan_cache_close(&run.cache);
    gc_conv_tuner_free(&t);
    GC_TRY(st);
    /* back to the state create leaves without autotuning: zeros, then the weights */
    GC_CUDA_TRY(err, cudaMemsetAsync(s->arena, 0, s->arena_bytes, s->stream));
    size_t ws = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (s->has_fwd[i])
            ws = GC_MAX(ws, (size_t)s->fwd[i].workspace);
        if (s->has_bwd[i])
            ws = GC_MAX(ws, (size_t)s->bwd[i].workspace);
    }
    if (ws > s->ws_bytes) {
        GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
        cudaFree(s->workspace);
        s->workspace = NULL;
        s->ws_bytes = 0;
        cudaError_t e = cudaMalloc(&s->workspace, ws);
        if (e != cudaSuccess) {
            cudaGetLastError();
            return gc_fail(err, e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY
                                                               : GC_ERR_BACKEND,
                           "CUDA backend: cannot allocate the autotuned plans' cuDNN workspace "
                           "of %.1f MiB: %s; try a smaller max_batch or no autotuning",
                           ws / 1048576.0, cudaGetErrorString(e));
        }
        s->ws_bytes = ws;
        account(ctx, s);
    }
    report_line(ctx, "cuDNN autotune: %d plans tuned (%d from the plan cache), %d changed, "
                     "workspace %.1f MiB, %.2f s",
                run.n_plans, run.cached, run.changed, s->ws_bytes / 1048576.0,
                gc_conv_tuner_now() - t0);
    return GC_OK;
}

static gc_status set_numerics(gc_context *ctx, cuda_state *s)
{
    switch (ctx->opt.precision) {
    case GC_PRECISION_TF32:
        s->dt = GC_DT_F32, s->dnn_dt = CUDNN_DATA_FLOAT, s->blas_dt = CUDA_R_32F;
        s->blas_compute = CUBLAS_COMPUTE_32F_FAST_TF32, s->numerics = GC_CONV_FP32_ACCUM;
        break;
    case GC_PRECISION_BF16:
        s->dt = GC_DT_BF16, s->dnn_dt = CUDNN_DATA_BFLOAT16, s->blas_dt = CUDA_R_16BF;
        s->blas_compute = CUBLAS_COMPUTE_32F, s->numerics = GC_CONV_FP32_ACCUM;
        break;
    case GC_PRECISION_FP16:
        s->dt = GC_DT_F16, s->dnn_dt = CUDNN_DATA_HALF, s->blas_dt = CUDA_R_16F;
        s->blas_compute = CUBLAS_COMPUTE_32F, s->numerics = GC_CONV_FP32_ACCUM;
        break;
    case GC_PRECISION_FP32:
        s->dt = GC_DT_F32, s->dnn_dt = CUDNN_DATA_FLOAT, s->blas_dt = CUDA_R_32F;
        s->blas_compute = CUBLAS_COMPUTE_32F_PEDANTIC, s->numerics = GC_CONV_TRUE_FP32;
        break;
    default:
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                       "CUDA backend: precision %d not resolved", (int)ctx->opt.precision);
    }
    s->es = gc_dtype_size(s->dt);
    s->gscale = s->dt == GC_DT_F16 ? GC_FP16_GRAD_SCALE : 1.0f;
    return GC_OK;
}

/* GC_CUDA_GRAPHS=1 (run_segment): the table of graphs, and cuBLAS's workspace given once. */
static gc_status graphs_init(gc_context *ctx, cuda_state *s)
{
    const char *env = getenv("GC_CUDA_GRAPHS");
    if (!env || !*env || !strcmp(env, "0"))
        return GC_OK;
    s->graph_exec = (cudaGraphExec_t *)calloc((size_t)GC_GRAPH_SEGMENTS * (size_t)(s->N + 1),
                                              sizeof(cudaGraphExec_t));
    if (!s->graph_exec)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (CUDA graphs)");
    cudaError_t e = cudaMalloc(&s->blas_ws, GC_BLAS_GRAPH_WS);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* not sticky: run without graphs */
        s->blas_ws = NULL;
        return GC_OK;
    }
    GC_CUBLAS_TRY(&ctx->err, cublasSetWorkspace(s->blas, s->blas_ws, GC_BLAS_GRAPH_WS));
    s->graphs = strcmp(env, "require") == 0 ? 2 : 1;
    account(ctx, s);
    return GC_OK;
}

static gc_status cuda_create(gc_context *ctx, void **state)
{
    const gc_model *m = &ctx->model;
    cuda_state *s = (cuda_state *)calloc(1, sizeof *s);
    if (!s)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
    *state = s;
    gc_errbuf *err = &ctx->err;
    s->device = ctx->opt.device;
    s->guided = gc_method_guided(ctx->opt.method);
    s->keep_from = s->guided ? 0 : ctx->target;
    const char *dbg = getenv("GC_CUDA_SYNC");
    s->debug_sync = dbg && *dbg && strcmp(dbg, "0") != 0;
    GC_TRY(set_numerics(ctx, s));
    GC_CUDA_TRY(err, cudaSetDevice(s->device));
    GC_CUDA_TRY(err, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    GC_CUDNN_TRY(err, cudnnCreate(&s->dnn));
    GC_CUDNN_TRY(err, cudnnSetStream(s->dnn, s->stream));
    GC_CUBLAS_TRY(err, cublasCreate(&s->blas));
    GC_CUBLAS_TRY(err, cublasSetStream(s->blas, s->stream));
    /* the GEMMs' compute type says it all; fp32 also forbids TF32 through the math mode */
    GC_CUBLAS_TRY(err, cublasSetMathMode(s->blas, ctx->opt.precision == GC_PRECISION_FP32
                                                      ? CUBLAS_PEDANTIC_MATH
                                                      : CUBLAS_DEFAULT_MATH));
    s->N = ctx->opt.max_batch;
    s->geo = ctx->geo;

    GC_TRY(build_plans(ctx, s));

    arena a = {NULL, 0};
    layout(ctx, s, &a);
    s->arena_bytes = a.used;
    cudaError_t e = cudaMalloc(&s->arena, a.used);
    if (e == cudaSuccess && s->ws_bytes > 0)
        e = cudaMalloc(&s->workspace, s->ws_bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the (non-sticky) allocation error */
        return gc_fail(err, e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY : GC_ERR_BACKEND,
                       "CUDA backend: cannot allocate %.1f MiB of device memory (+ %.1f MiB "
                       "cuDNN workspace) for max_batch %d at %dx%d: %s; try a smaller "
                       "max_batch", a.used / 1048576.0, s->ws_bytes / 1048576.0,
                       ctx->opt.max_batch, ctx->in_w, ctx->in_h, cudaGetErrorString(e));
    }
    account(ctx, s);
    /* zeros: images beyond n in a batch stay finite */
    GC_CUDA_TRY(err, cudaMemsetAsync(s->arena, 0, a.used, s->stream));
    arena b = {s->arena, 0};
    layout(ctx, s, &b);
    const int tune = autotune_candidates(ctx);
    if (tune > 0) /* opt-in: options.autotune / GC_CUDNN_AUTOTUNE */
        GC_TRY(autotune_plans(ctx, s, tune));
    GC_TRY(upload_weights(ctx, s));
    GC_TRY(bind_plans(ctx, s));
    for (int k = 0; k < GC_N_COLORMAPS; k++)
        GC_CUDA_TRY(err, cudaMemcpyAsync(s->d_luts + (size_t)GC_LUT_BYTES * k,
                                         gc_colormap_table((gc_colormap)k), GC_LUT_BYTES,
                                         cudaMemcpyHostToDevice, s->stream));

    const size_t rows = (size_t)s->N * s->geo.P * s->geo.Q, hw = (size_t)ctx->cam_h * ctx->cam_w;
    s->h_grad_logits = (float *)malloc(sizeof(float) * rows * m->num_classes);
    s->h_tmp = (float *)malloc(sizeof(float) * hw * ctx->cam_c);
    s->descs = (gc_image_desc *)malloc(sizeof(gc_image_desc) * (size_t)s->N);
    if (!s->h_grad_logits || !s->h_tmp || !s->descs)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory (host staging)");
    /* gc_explain's images: uploaded as bytes, preprocessed and rendered on the GPU, unless
     * GC_CUDA_HOST_PREPROCESS=1 asks for the host path (for bisecting a mismatch) */
    const char *hp = getenv("GC_CUDA_HOST_PREPROCESS");
    s->host_preprocess = hp && *hp && strcmp(hp, "0") != 0;
    /* its staging comes with the first batch of images (explain_images_impl) */
    ctx->backend_images = !s->host_preprocess;
    if (ctx->opt.profile)
        for (int k = 0; k < GC_MAX_MARKS; k++)
            GC_CUDA_TRY(err, cudaEventCreate(&s->ev[k]));
    GC_TRY(graphs_init(ctx, s));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

/* ---------------------------------------------------------------- GEMMs */

/* Y (rows, out) float = X (rows, in) W^T with X, W (out, in) of type T, all row-major.
 * Column-major view: Y^T (out, rows) = W (out, in) X^T; W row-major is W^T column-major. */
static gc_status dense_fwd(gc_context *ctx, cuda_state *s, const void *X, const void *Wt,
                           int rows, int in, int out, float *Y)
{
    const float one = 1.0f, zero = 0.0f;
    GC_CUBLAS_TRY(&ctx->err,
                  cublasGemmEx(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &one, Wt,
                               s->blas_dt, in, X, s->blas_dt, in, &zero, Y, CUDA_R_32F, out,
                               s->blas_compute, CUBLAS_GEMM_DEFAULT));
    return GC_OK;
}

/* Gin (rows, in) float = G (rows, out) W with the float G rounded to T first (not in
 * fp32/tf32) and W (out, in) of type T. Column-major: Gin^T (in, rows) = W^T (in, out)
 * G^T (out, rows), where W's storage is W^T column-major (ld in). */
static gc_status dense_bwd(gc_context *ctx, cuda_state *s, const float *G, const void *Wt,
                           int rows, int in, int out, float *Gin)
{
    const float one = 1.0f, zero = 0.0f;
    const void *g = G;
    if (s->dt != GC_DT_F32) {
        GC_TRY(gc_convert_cuda(s->stream, GC_DT_F32, G, s->dt, s->gd_t, (size_t)rows * out,
                               1.0f, &ctx->err));
        g = s->gd_t;
    }
    GC_CUBLAS_TRY(&ctx->err,
                  cublasGemmEx(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, &one, Wt,
                               s->blas_dt, in, g, s->blas_dt, out, &zero, Gin, CUDA_R_32F, in,
                               s->blas_compute, CUBLAS_GEMM_DEFAULT));
    return GC_OK;
}

/* ---------------------------------------------------------------- the batch */

/* The input x (already packed) through every feature layer; then the target activation in
 * float (s->A). */
static gc_status forward_features(gc_context *ctx, cuda_state *s, int32_t n)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const void *x = s->x;
    int32_t H = ctx->in_h, W = ctx->in_w;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        void *y = layer_out(s, i);
        if (L->kind == GC_LAYER_POOL) {
            LAYER_TRY(ctx, "forward of", L->name,
                      gc_maxpool_fwd_cuda(s->stream, s->dt, x, n, H, W, L->cin, y, err));
        } else {
            const gc_conv_plan *p = &s->fwd[i];
            const int pre = i == ctx->target && ctx->stage == GC_STAGE_PRE;
            void *out = pre ? s->pre : y;
            const size_t rows = (size_t)n * H * W;
            LAYER_TRY(ctx, "forward of", L->name, gc_conv_plan_run(s->dnn, p, err));
            if (!p->fused)
                LAYER_TRY(ctx, "forward (bias, ReLU) of", L->name,
                          gc_bias_act_cuda(s->stream, s->dt, out, s->cb[i], rows, L->cout,
                                           p->relu, err));
            if (pre) /* the PRE target: keep the pre-activation, then ReLU */
                LAYER_TRY(ctx, "forward (ReLU) of", L->name,
                          gc_relu_cuda(s->stream, s->dt, out, y, rows * L->cout, err));
        }
        LAYER_TRY(ctx, "forward of", L->name, debug_sync(ctx, s));
        H = s->geo.h[i];
        W = s->geo.w[i];
        x = y;
    }
    if (s->dt != GC_DT_F32) {
        const size_t len = (size_t)n * ctx->cam_h * ctx->cam_w * ctx->cam_c;
        const void *a = ctx->stage == GC_STAGE_PRE ? s->pre : s->act[ctx->target];
        LAYER_TRY(ctx, "float copy of the activation of", ctx->target_name,
                  gc_convert_cuda(s->stream, s->dt, a, GC_DT_F32, s->A, len, 1.0f, err));
    }
    return GC_OK;
}

static gc_status forward_head(gc_context *ctx, cuda_state *s, int32_t n)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const int last = m->n_layers - 1;
    const int32_t C = m->layers[last].cout, k = m->fc1_kernel;
    const int rows = n * s->geo.P * s->geo.Q;
    LAYER_TRY(ctx, "head", "average pool",
              gc_avgpool_fwd_cuda(s->stream, s->dt, s->act[last], n, s->geo.h[last],
                                  s->geo.w[last], C, s->geo.ph, s->geo.pw, s->pooled, err));
    if (!s->geo.direct_patch)
        LAYER_TRY(ctx, "head", "patches",
                  gc_patches_cuda(s->stream, s->dt, s->pooled, n, s->geo.ph, s->geo.pw, C, k,
                                  s->patches, err));
    for (int j = 0; j < m->n_dense; j++) {
        const gc_dense *d = &m->dense[j];
        char name[32];
        snprintf(name, sizeof name, "dense %d", j);
        LAYER_TRY(ctx, "head forward,", name,
                  dense_fwd(ctx, s, s->dense_in[j], s->dw[j], rows, d->in, d->out,
                            s->dense_out[j]));
        const int hidden = j + 1 < m->n_dense;
        LAYER_TRY(ctx, "head forward (bias, ReLU),", name,
                  gc_bias_act_cuda(s->stream, GC_DT_F32, s->dense_out[j], s->db[j],
                                   (size_t)rows, d->out, hidden, err));
        if (hidden && s->dt != GC_DT_F32)
            LAYER_TRY(ctx, "head forward (rounding),", name,
                      gc_convert_cuda(s->stream, GC_DT_F32, s->dense_out[j], s->dt,
                                      s->dense_in[j + 1], (size_t)rows * d->out, 1.0f, err));
    }
    LAYER_TRY(ctx, "head", "logits",
              gc_mean_positions_cuda(s->stream, s->dense_out[m->n_dense - 1], n,
                                     s->geo.P * s->geo.Q, m->num_classes, s->logits, err));
    LAYER_TRY(ctx, "head", "forward", debug_sync(ctx, s));
    return GC_OK;
}

/* From dy/dlogits (float, in gd_a) to dy/d(last feature map), left in g_a (type T).
 * guided: the dense ReLUs pass only positive gradients. */
static gc_status backward_head(gc_context *ctx, cuda_state *s, int32_t n, int guided)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const int last = m->n_layers - 1;
    const int32_t C = m->layers[last].cout, k = m->fc1_kernel;
    const int rows = n * s->geo.P * s->geo.Q;
    float *g = s->gd_a, *other = s->gd_b;
    for (int j = m->n_dense - 1; j >= 1; j--) {
        const gc_dense *d = &m->dense[j];
        char name[32];
        snprintf(name, sizeof name, "dense %d", j);
        LAYER_TRY(ctx, "head backward,", name,
                  dense_bwd(ctx, s, g, s->dw[j], rows, d->in, d->out, other));
        LAYER_TRY(ctx, "head backward (ReLU),", name,
                  gc_relu_mask_cuda(s->stream, GC_DT_F32, other, s->dense_out[j - 1],
                                    (size_t)rows * d->in, guided, err));
        float *t = g;
        g = other;
        other = t;
    }
    const gc_dense *d0 = &m->dense[0];
    LAYER_TRY(ctx, "head backward,", "dense 0",
              dense_bwd(ctx, s, g, s->dw[0], rows, d0->in, d0->out, s->g_patch));
    const float *g_pooled = s->g_patch;
    if (!s->geo.direct_patch) {
        LAYER_TRY(ctx, "head backward,", "patches",
                  gc_patches_bwd_cuda(s->stream, s->g_patch, n, s->geo.ph, s->geo.pw, C, k,
                                      s->g_pool, err));
        g_pooled = s->g_pool;
    }
    LAYER_TRY(ctx, "head backward,", "average pool",
              gc_avgpool_bwd_cuda(s->stream, g_pooled, n, s->geo.h[last], s->geo.w[last], C,
                                  s->geo.ph, s->geo.pw, s->dt, s->g_a, err));
    LAYER_TRY(ctx, "head", "backward", debug_sync(ctx, s));
    return GC_OK;
}

/* From dy/dlogits (in gd_a) down to the output of layer `stop` (-1: the input image);
 * *out = the buffer holding the gradient (type T). guided: the guided-ReLU rule at every
 * ReLU. As the CPU's backward_features. */
static gc_status backward_features(gc_context *ctx, cuda_state *s, int32_t n, int32_t stop,
                                   int guided, void **out)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    GC_TRY(backward_head(ctx, s, n, guided));
    void *g = s->g_a, *other = s->g_b;
    for (int i = m->n_layers - 1; i > stop; i--) {
        const gc_layer *L = &m->layers[i];
        const int32_t H = i ? s->geo.h[i - 1] : ctx->in_h, W = i ? s->geo.w[i - 1] : ctx->in_w;
        if (L->kind == GC_LAYER_POOL) {
            LAYER_TRY(ctx, "backward of", L->name,
                      gc_maxpool_bwd_cuda(s->stream, s->dt, s->act[i - 1], g, n, H, W, L->cin,
                                          other, err));
        } else {
            LAYER_TRY(ctx, "backward (ReLU) of", L->name,
                      gc_relu_mask_cuda(s->stream, s->dt, g, s->act[i],
                                        (size_t)n * H * W * L->cout, guided, err));
            LAYER_TRY(ctx, "backward-data of", L->name,
                      gc_conv_plan_run(s->dnn, &s->bwd[i], err)); /* bound: g -> other */
        }
        LAYER_TRY(ctx, "backward of", L->name, debug_sync(ctx, s));
        void *t = g;
        g = other;
        other = t;
    }
    *out = g;
    return GC_OK;
}

/* The score gradient of the explained classes into gd_a (times gscale). */
static gc_status upload_score_gradient(gc_context *ctx, cuda_state *s, int32_t n)
{
    const size_t len = (size_t)n * s->geo.P * s->geo.Q * ctx->model.num_classes;
    GC_CUDA_TRY(&ctx->err, cudaMemcpyAsync(s->gd_a, s->h_grad_logits, sizeof(float) * len,
                                           cudaMemcpyHostToDevice, s->stream));
    return GC_OK;
}

/* Upload of a host batch (n, H, W, 3) NHWC and its packing into x. */
static gc_status upload_host_input(gc_context *ctx, cuda_state *s, const float *input, int32_t n)
{
    const size_t HW = (size_t)ctx->in_h * ctx->in_w;
    GC_CUDA_TRY(&ctx->err, cudaMemcpyAsync(s->x_stage, input, sizeof(float) * (size_t)n * HW * 3,
                                           cudaMemcpyHostToDevice, s->stream));
    GC_TRY(gc_pack_input_cuda(s->stream, s->x_stage, 3 * HW, 1, 3, n, ctx->in_h, ctx->in_w,
                              s->c0, s->dt, s->x, &ctx->err));
    return GC_OK;
}

/* ---------------------------------------------------------------- CUDA graphs (opt-in)
 * GC_CUDA_GRAPHS=1: a batch's device work between two host interactions — the forward from
 * the packed input to the logits; for the non-guided methods the backward from the uploaded
 * score gradient to the cam — is captured once per batch size n into a CUDA graph and
 * replayed: one launch instead of dozens. Every pointer in it is fixed (the arena, the
 * plans' variant packs); copies from and to the caller's memory stay outside. Not while
 * profiling or with GC_CUDA_SYNC (both act between stages), nor for the guided methods'
 * backward (a second upload sits in it). A capture that fails (an engine that cannot be
 * captured, say) turns graphs off for the context, which then runs the work directly
 * (GC_CUDA_GRAPHS=require, for tests: fails the call instead, saying why). Off by default
 * until its gain is measured on a GPU (bench: GC_CUDA_GRAPHS=1). */
enum { SEG_FORWARD = 0, SEG_BACKWARD = 1 }; /* GC_GRAPH_SEGMENTS of them */
typedef gc_status (*segment_fn)(gc_context *ctx, cuda_state *s, int32_t n);

static gc_status run_segment(gc_context *ctx, cuda_state *s, int seg, int32_t n, segment_fn fn)
{
    if (!s->graphs || ctx->opt.profile || s->debug_sync)
        return fn(ctx, s, n);
    cudaGraphExec_t *slot = &s->graph_exec[(size_t)seg * (size_t)(s->N + 1) + (size_t)n];
    if (!*slot) {
        const gc_errbuf saved = ctx->err;
        cudaGraph_t graph = NULL;
        cudaError_t e = cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal);
        gc_status st = e == cudaSuccess ? fn(ctx, s, n) : GC_ERR_BACKEND;
        if (e == cudaSuccess) /* always leave capture mode, whatever happened in it */
            e = cudaStreamEndCapture(s->stream, &graph);
        if (st == GC_OK && e == cudaSuccess)
            e = cudaGraphInstantiate(slot, graph, 0);
        if (graph)
            cudaGraphDestroy(graph);
        if (st != GC_OK || e != cudaSuccess) {
            const cudaError_t last = cudaGetLastError();
            if (gc_cuda_error_is_sticky(e) || gc_cuda_error_is_sticky(last))
                return gc_fail(&ctx->err, GC_ERR_BACKEND, "CUDA graph capture: %s",
                               cudaGetErrorString(gc_cuda_error_is_sticky(e) ? e : last));
            if (s->graphs == 2) { /* GC_CUDA_GRAPHS=require (tests): say why, do not hide it */
                if (st == GC_OK)
                    gc_fail(&ctx->err, GC_ERR_BACKEND, "%s", cudaGetErrorString(e));
                gc_err_prefix(&ctx->err, "CUDA graph capture of the %s (n %d) failed: ",
                              seg == SEG_FORWARD ? "forward" : "backward", n);
                return st != GC_OK ? st : GC_ERR_BACKEND;
            }
            /* not capturable here: this context runs without graphs from now on */
            *slot = NULL;
            s->graphs = 0;
            ctx->err = saved;
            return fn(ctx, s, n);
        }
    }
    GC_CUDA_TRY(&ctx->err, cudaGraphLaunch(*slot, s->stream));
    return GC_OK;
}

/* The forward from the packed input x to the logits, on the device. */
static gc_status forward_segment(gc_context *ctx, cuda_state *s, int32_t n)
{
    GC_TRY(forward_features(ctx, s, n));
    GC_TRY(mark(ctx, s, PROF_FEATURES));
    GC_TRY(forward_head(ctx, s, n));
    return mark(ctx, s, PROF_HEAD);
}

/* Forward of the packed batch, logits to the host (synchronizes). */
static gc_status forward_to_logits(gc_context *ctx, cuda_state *s, int32_t n, float *logits)
{
    GC_TRY(run_segment(ctx, s, SEG_FORWARD, n, forward_segment));
    GC_CUDA_TRY(&ctx->err,
                cudaMemcpyAsync(logits, s->logits,
                                sizeof(float) * (size_t)n * ctx->model.num_classes,
                                cudaMemcpyDeviceToHost, s->stream));
    GC_TRY(mark(ctx, s, PROF_DOWNLOAD));
    GC_CUDA_TRY(&ctx->err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

/* From the uploaded score gradient to dy/dA at the target, as float (s->grad). */
static gc_status backward_to_target(gc_context *ctx, cuda_state *s, int32_t n)
{
    gc_errbuf *err = &ctx->err;
    const int32_t T = ctx->target;
    const size_t len = (size_t)n * ctx->cam_h * ctx->cam_w * ctx->cam_c;
    void *g;
    GC_TRY(backward_features(ctx, s, n, T, 0, &g));
    if (ctx->stage == GC_STAGE_PRE)
        LAYER_TRY(ctx, "backward (ReLU) of", ctx->target_name,
                  gc_relu_mask_cuda(s->stream, s->dt, g, s->act[T], len, 0, err));
    return gc_convert_cuda(s->stream, s->dt, g, GC_DT_F32, s->grad, len, 1.0f / s->gscale, err);
}

/* The method's channel weights and the raw cam from A and the gradient. */
static gc_status cam_kernels(gc_context *ctx, cuda_state *s, int32_t n)
{
    gc_errbuf *err = &ctx->err;
    const int32_t hw = ctx->cam_h * ctx->cam_w, Kc = ctx->cam_c;
    const int method = (int)ctx->opt.method;
    GC_TRY(gc_cam_weights_cuda(s->stream, method, s->A, s->grad, n, hw, Kc, s->alpha, err));
    GC_TRY(gc_cam_cuda(s->stream, method, s->A, s->grad, s->alpha, n, hw, Kc, s->cam, err));
    return mark(ctx, s, PROF_CAM);
}

/* The non-guided methods' whole backward, on the device (one graph segment). */
static gc_status backward_segment(gc_context *ctx, cuda_state *s, int32_t n)
{
    GC_TRY(backward_to_target(ctx, s, n));
    GC_TRY(mark(ctx, s, PROF_BACKWARD));
    return cam_kernels(ctx, s, n);
}

/* Everything after the input is packed: forward, class choice, backward(s), cam. */
static gc_status explain_packed(gc_context *ctx, cuda_state *s, int32_t n,
                                const int32_t *classes, float *logits, int32_t *class_ids,
                                float *cams_raw)
{
    gc_errbuf *err = &ctx->err;
    const int32_t PQ = s->geo.P * s->geo.Q;
    GC_TRY(forward_to_logits(ctx, s, n, logits));
    /* the same host code as the CPU backend (score.c) */
    gc_pick_classes(ctx, logits, n, classes, class_ids);
    gc_score_gradient(ctx, logits, n, class_ids, PQ, s->h_grad_logits);
    const size_t glen = (size_t)n * PQ * ctx->model.num_classes;
    if (s->gscale != 1.0f)
        for (size_t i = 0; i < glen; i++)
            s->h_grad_logits[i] *= s->gscale;
    GC_TRY(mark(ctx, s, PROF_HEAD));
    GC_TRY(upload_score_gradient(ctx, s, n));
    GC_TRY(mark(ctx, s, PROF_UPLOAD));
    if (!s->guided) {
        GC_TRY(run_segment(ctx, s, SEG_BACKWARD, n, backward_segment));
    } else { /* the same score again, down to the input with the guided rule */
        GC_TRY(backward_to_target(ctx, s, n));
        GC_TRY(upload_score_gradient(ctx, s, n));
        void *g;
        GC_TRY(backward_features(ctx, s, n, -1, 1, &g));
        GC_TRY(gc_unpack_grad_cuda(s->stream, s->dt, g, n, ctx->in_h, ctx->in_w, s->c0,
                                   1.0f / s->gscale, s->guided_in, err));
        GC_TRY(mark(ctx, s, PROF_BACKWARD));
        GC_TRY(cam_kernels(ctx, s, n));
    }
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    GC_CUDA_TRY(err, cudaMemcpyAsync(cams_raw, s->cam, sizeof(float) * (size_t)n * hw,
                                     cudaMemcpyDeviceToHost, s->stream));
    GC_TRY(mark(ctx, s, PROF_DOWNLOAD));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    GC_TRY(prof_collect(ctx, s));
    return GC_OK;
}

static gc_status check_n(gc_context *ctx, cuda_state *s, int32_t n)
{
    if (n < 1 || n > s->N)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "batch of %d; max_batch is %d", n,
                       s->N);
    return GC_OK;
}

static gc_status predict_impl(gc_context *ctx, cuda_state *s, const float *input, int32_t n,
                              float *logits)
{
    GC_TRY(check_n(ctx, s, n));
    GC_TRY(enter(ctx, s));
    GC_TRY(prof_begin(ctx, s));
    GC_TRY(upload_host_input(ctx, s, input, n));
    GC_TRY(mark(ctx, s, PROF_UPLOAD));
    GC_TRY(forward_to_logits(ctx, s, n, logits));
    GC_TRY(prof_collect(ctx, s));
    return GC_OK;
}

static gc_status cuda_predict(gc_context *ctx, void *state, const float *input, int32_t n,
                              float *logits)
{
    cuda_state *s = (cuda_state *)state;
    return settle(ctx, s, predict_impl(ctx, s, input, n, logits), "predict");
}

static gc_status explain_impl(gc_context *ctx, cuda_state *s, const float *input, int32_t n,
                              const int32_t *classes, float *logits, int32_t *class_ids,
                              float *cams_raw)
{
    GC_TRY(check_n(ctx, s, n));
    GC_TRY(enter(ctx, s));
    GC_TRY(prof_begin(ctx, s));
    GC_TRY(upload_host_input(ctx, s, input, n));
    GC_TRY(mark(ctx, s, PROF_UPLOAD));
    return explain_packed(ctx, s, n, classes, logits, class_ids, cams_raw);
}

static gc_status cuda_explain(gc_context *ctx, void *state, const float *input, int32_t n,
                              const int32_t *classes, float *logits, int32_t *class_ids,
                              float *cams_raw)
{
    cuda_state *s = (cuda_state *)state;
    return settle(ctx, s, explain_impl(ctx, s, input, n, classes, logits, class_ids, cams_raw),
                  "explain");
}

/* A batch of images (gc_explain's, gc_predict's): packed into the pinned staging behind their
 * descriptor table, one upload, one preprocessing launch into x (and its float copy x_stage,
 * for GC_TENSOR_INPUT). explain_images then takes the same path as explain; the images stay
 * on the device for render. */
static gc_status stage_images_gpu(gc_context *ctx, cuda_state *s, const gc_image *images,
                                  const gc_region *regions, int32_t n)
{
    gc_errbuf *err = &ctx->err;
    GC_TRY(check_n(ctx, s, n));
    GC_TRY(enter(ctx, s));
    s->img_n = 0;
    const size_t table = align_up(sizeof(gc_image_desc) * (size_t)n, 256);
    size_t pixels = 0;
    int64_t max_px = 1;
    for (int32_t i = 0; i < n; i++) {
        gc_image_desc *d = &s->descs[i];
        d->offset = pixels;
        d->width = images[i].width;
        d->height = images[i].height;
        d->rx = regions[i].x;
        d->ry = regions[i].y;
        d->rw = regions[i].w;
        d->rh = regions[i].h;
        const size_t bytes = (size_t)3 * images[i].width * images[i].height;
        pixels += align_up(bytes, 16);
        max_px = GC_MAX(max_px, (int64_t)images[i].width * images[i].height);
    }
    size_t want = 0;
    if (table + pixels > s->img_cap) /* grow, with headroom for the next batches */
        want = table + pixels + pixels / 2;
    if (!s->h_img) { /* the first batch (or the first after a failed allocation) */
        const size_t per_image = (size_t)3 * GC_MAX((size_t)4 * ctx->in_w * ctx->in_h,
                                                    (size_t)640 * 480);
        const size_t table_n = align_up(sizeof(gc_image_desc) * (size_t)s->N, 256);
        want = GC_MAX(want, table_n + GC_MIN((size_t)s->N * per_image,
                                             GC_IMG_STAGING_INITIAL_MAX));
    }
    if (want)
        GC_TRY(alloc_images(ctx, s, want, n));
    /* rows packed into the pinned staging, images in parallel (as context.c preprocesses
     * them on the host); profiled as preprocessing */
    const double t_pack = gc_now_ms();
    memcpy(s->h_img, s->descs, sizeof(gc_image_desc) * (size_t)n);
    uint8_t *const h_pixels = s->h_img + table;
    const gc_image_desc *const descs = s->descs;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx->pre_threads) if (n > 1)
#endif
    for (int32_t i = 0; i < n; i++) {
        const gc_image *im = &images[i];
        const size_t row = (size_t)3 * im->width;
        uint8_t *dst = h_pixels + descs[i].offset;
        if ((size_t)im->stride == row) {
            memcpy(dst, im->data, row * im->height);
        } else {
            for (int32_t y = 0; y < im->height; y++)
                memcpy(dst + row * y, im->data + (size_t)im->stride * y, row);
        }
    }
    if (ctx->opt.profile) /* context.c zeroed it for this batch; the kernel's time is added */
        ctx->prof.preprocess_ms += gc_now_ms() - t_pack;
    GC_TRY(prof_begin(ctx, s));
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->d_img, s->h_img, table + pixels,
                                     cudaMemcpyHostToDevice, s->stream));
    GC_TRY(mark(ctx, s, PROF_UPLOAD));
    LAYER_TRY(ctx, "preprocessing", "(GPU)",
              gc_preprocess_images_cuda(s->stream, (const gc_image_desc *)s->d_img,
                                        s->d_img + table, n, ctx->in_h, ctx->in_w,
                                        ctx->opt.preprocess == GC_PREPROCESS_CAFFE, s->x_stage,
                                        s->c0, s->dt, s->x, err));
    GC_TRY(mark(ctx, s, PROF_PREPROCESS));
    LAYER_TRY(ctx, "preprocessing", "(GPU)", debug_sync(ctx, s));
    s->img_table = table;
    s->img_pixels = pixels;
    s->img_max_px = max_px;
    return GC_OK;
}

static gc_status explain_images_impl(gc_context *ctx, cuda_state *s, const gc_image *images,
                                     const gc_region *regions, int32_t n,
                                     const int32_t *classes, float *logits, int32_t *class_ids,
                                     float *cams_raw)
{
    GC_TRY(stage_images_gpu(ctx, s, images, regions, n));
    gc_status st = explain_packed(ctx, s, n, classes, logits, class_ids, cams_raw);
    s->img_n = st == GC_OK ? n : 0;
    return st;
}

/* gc_predict's images: staged and preprocessed as gc_explain's, then the forward only. */
static gc_status predict_images_impl(gc_context *ctx, cuda_state *s, const gc_image *images,
                                     const gc_region *regions, int32_t n, float *logits)
{
    GC_TRY(stage_images_gpu(ctx, s, images, regions, n));
    GC_TRY(forward_to_logits(ctx, s, n, logits));
    return prof_collect(ctx, s);
}

static gc_status cuda_predict_images(gc_context *ctx, void *state, const gc_image *images,
                                     const gc_region *regions, int32_t n, float *logits)
{
    cuda_state *s = (cuda_state *)state;
    return settle(ctx, s, predict_images_impl(ctx, s, images, regions, n, logits),
                  "predict");
}

static gc_status cuda_explain_images(gc_context *ctx, void *state, const gc_image *images,
                                     const gc_region *regions, int32_t n,
                                     const int32_t *classes, float *logits, int32_t *class_ids,
                                     float *cams_raw)
{
    cuda_state *s = (cuda_state *)state;
    return settle(ctx, s,
                  explain_images_impl(ctx, s, images, regions, n, classes, logits, class_ids,
                                      cams_raw),
                  "explain (GPU preprocessing)");
}

/* The normalized cams onto the images of the last explain_images call: cams up, one render
 * launch (heatmaps and overlays of every image), the asked-for outputs down. */
static gc_status render_impl(gc_context *ctx, cuda_state *s, int32_t n, const float *cams,
                             gc_colormap colormap, float alpha, uint8_t *const *overlays,
                             uint8_t *const *heatmaps)
{
    gc_errbuf *err = &ctx->err;
    GC_TRY(enter(ctx, s));
    if (n != s->img_n || (int)colormap < 0 || (int)colormap >= GC_N_COLORMAPS)
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                       "render of %d image(s) with colormap %d: the last batch on the GPU has "
                       "%d", n, (int)colormap, s->img_n);
    GC_TRY(reserve_out(ctx, s, 2 * s->img_pixels));
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->d_cams, cams, sizeof(float) * (size_t)n * hw,
                                     cudaMemcpyHostToDevice, s->stream));
    uint8_t *heat = s->d_out, *over = s->d_out + s->img_pixels;
    LAYER_TRY(ctx, "rendering", "(GPU)",
              gc_render_images_cuda(s->stream, (const gc_image_desc *)s->d_img,
                                    s->d_img + s->img_table, n, s->img_max_px, s->d_cams,
                                    ctx->cam_w, ctx->cam_h,
                                    s->d_luts + (size_t)GC_LUT_BYTES * (int)colormap, alpha,
                                    heat, over, err));
    LAYER_TRY(ctx, "rendering", "(GPU)", debug_sync(ctx, s));
    for (int32_t i = 0; i < n; i++) {
        const gc_image_desc *d = &s->descs[i];
        const size_t bytes = (size_t)3 * d->width * d->height;
        if (heatmaps && heatmaps[i])
            GC_CUDA_TRY(err, cudaMemcpyAsync(heatmaps[i], heat + d->offset, bytes,
                                             cudaMemcpyDeviceToHost, s->stream));
        if (overlays && overlays[i])
            GC_CUDA_TRY(err, cudaMemcpyAsync(overlays[i], over + d->offset, bytes,
                                             cudaMemcpyDeviceToHost, s->stream));
    }
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

static gc_status cuda_render(gc_context *ctx, void *state, int32_t n, const float *cams,
                             gc_colormap colormap, float alpha, uint8_t *const *overlays,
                             uint8_t *const *heatmaps)
{
    cuda_state *s = (cuda_state *)state;
    return settle(ctx, s, render_impl(ctx, s, n, cams, colormap, alpha, overlays, heatmaps),
                  "render (GPU)");
}

/* The caller's (n, 3, H, W) device tensor, checked and packed into s->x on our stream after
 * the work the caller queued on the legacy default stream (or a blocking stream). */
static gc_status stage_device_input(gc_context *ctx, cuda_state *s, const float *device_input,
                                    int32_t n)
{
    gc_errbuf *err = &ctx->err;
    GC_TRY(check_n(ctx, s, n));
    GC_TRY(enter(ctx, s));
    cudaPointerAttributes pa;
    cudaError_t e = cudaPointerGetAttributes(&pa, device_input);
    if (e != cudaSuccess || (pa.type != cudaMemoryTypeDevice && pa.type != cudaMemoryTypeManaged)) {
        cudaGetLastError();
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                       "device_input %p is not CUDA device memory (%s)", (const void *)device_input,
                       e != cudaSuccess ? cudaGetErrorString(e)
                       : pa.type == cudaMemoryTypeHost ? "it is pinned host memory"
                                                       : "it is host memory");
    }
    if (pa.type == cudaMemoryTypeDevice && pa.device != s->device)
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                       "device_input is on CUDA device %d; this context runs on device %d",
                       pa.device, s->device);
    GC_TRY(prof_begin(ctx, s));
    cudaEvent_t ready;
    GC_CUDA_TRY(err, cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    e = cudaEventRecord(ready, cudaStreamLegacy);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(s->stream, ready, 0);
    cudaEventDestroy(ready);
    GC_CUDA_TRY(err, e);
    const size_t HW = (size_t)ctx->in_h * ctx->in_w;
    GC_TRY(gc_pack_input_cuda(s->stream, device_input, 3 * HW, HW, 1, n, ctx->in_h, ctx->in_w,
                              s->c0, s->dt, s->x, err));
    return mark(ctx, s, PROF_UPLOAD);
}

static gc_status explain_device_impl(gc_context *ctx, cuda_state *s, const float *device_input,
                                     int32_t n, const int32_t *classes, float *logits,
                                     int32_t *class_ids, float *cams_raw)
{
    GC_TRY(stage_device_input(ctx, s, device_input, n));
    return explain_packed(ctx, s, n, classes, logits, class_ids, cams_raw);
}

static gc_status cuda_explain_device(gc_context *ctx, void *state, const float *device_input,
                                     int32_t n, const int32_t *classes, float *logits,
                                     int32_t *class_ids, float *cams_raw)
{
    cuda_state *s = (cuda_state *)state;
    return settle(ctx, s,
                  explain_device_impl(ctx, s, device_input, n, classes, logits, class_ids,
                                      cams_raw),
                  "explain_device");
}

static gc_status predict_device_impl(gc_context *ctx, cuda_state *s, const float *device_input,
                                     int32_t n, float *logits)
{
    GC_TRY(stage_device_input(ctx, s, device_input, n));
    GC_TRY(forward_to_logits(ctx, s, n, logits));
    return prof_collect(ctx, s);
}

static gc_status cuda_predict_device(gc_context *ctx, void *state, const float *device_input,
                                     int32_t n, float *logits)
{
    cuda_state *s = (cuda_state *)state;
    return settle(ctx, s, predict_device_impl(ctx, s, device_input, n, logits),
                  "predict_device");
}

static gc_status read_tensor_impl(gc_context *ctx, cuda_state *s, gc_tensor which,
                                  int32_t image, float *out)
{
    gc_errbuf *err = &ctx->err;
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w, Kc = (size_t)ctx->cam_c;
    const float *src;
    GC_TRY(enter(ctx, s));
    switch (which) {
    case GC_TENSOR_ACTIVATION: src = s->A; break;
    case GC_TENSOR_GRADIENT: src = s->grad; break;
    case GC_TENSOR_WEIGHTS:
        GC_CUDA_TRY(err, cudaMemcpyAsync(out, s->alpha + (size_t)image * Kc, sizeof(float) * Kc,
                                         cudaMemcpyDeviceToHost, s->stream));
        GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
        return GC_OK;
    case GC_TENSOR_INPUT: { /* preprocessed here (explain_images): the float copy */
        const size_t HW = (size_t)ctx->in_h * ctx->in_w;
        float *h = (float *)malloc(sizeof(float) * 3 * HW);
        if (!h)
            return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory reading the input");
        cudaError_t e = cudaMemcpyAsync(h, s->x_stage + (size_t)image * 3 * HW,
                                        sizeof(float) * 3 * HW, cudaMemcpyDeviceToHost,
                                        s->stream);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(s->stream);
        if (e == cudaSuccess)
            for (int c = 0; c < 3; c++)
                for (size_t p = 0; p < HW; p++)
                    out[c * HW + p] = h[3 * p + c];
        free(h);
        GC_CUDA_TRY(err, e);
        return GC_OK;
    }
    case GC_TENSOR_GUIDED_BACKPROP: {
        if (!s->guided_in)
            return gc_fail(err, GC_ERR_NOT_AVAILABLE, "no guided backprop in this context");
        const size_t len = (size_t)3 * ctx->in_h * ctx->in_w; /* already (3, H, W) */
        GC_CUDA_TRY(err, cudaMemcpyAsync(out, s->guided_in + (size_t)image * len,
                                         sizeof(float) * len, cudaMemcpyDeviceToHost,
                                         s->stream));
        GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
        return GC_OK;
    }
    default:
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT, "tensor %d not held by the backend",
                       (int)which);
    }
    src += (size_t)image * hw * Kc;
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->h_tmp, src, sizeof(float) * hw * Kc,
                                     cudaMemcpyDeviceToHost, s->stream));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    for (size_t c = 0; c < Kc; c++)
        for (size_t p = 0; p < hw; p++)
            out[c * hw + p] = s->h_tmp[p * Kc + c];
    return GC_OK;
}

static gc_status cuda_read_tensor(gc_context *ctx, void *state, gc_tensor which, int32_t image,
                                  float *out)
{
    cuda_state *s = (cuda_state *)state;
    gc_status st = read_tensor_impl(ctx, s, which, image, out);
    /* an unknown tensor or a missing guided pass is the caller's error, not the device's */
    if (st == GC_ERR_INVALID_ARGUMENT || st == GC_ERR_NOT_AVAILABLE)
        return st;
    return settle(ctx, s, st, "read_tensor");
}

extern "C" const gc_backend_ops gc_cuda_backend = {
    "cuda",
    cuda_create,
    cuda_destroy,
    cuda_explain,
    cuda_explain_device,
    cuda_predict,
    cuda_predict_device,
    cuda_read_tensor,
    cuda_explain_images,
    cuda_predict_images,
    cuda_render,
};
