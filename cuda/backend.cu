/*
 * backend.cu — the CUDA backend behind gc_backend_ops (src/context.h): Grad-CAM on one GPU.
 *
 * The same algorithm, buffers and NHWC layout as the CPU reference (src/cpu_backend.c):
 * forward convs as cuDNN graphs (conv + bias + ReLU fused where an engine runs it), our
 * max-pool / adaptive-pool kernels, the dense head as cuBLAS GEMMs (row-major through the
 * transposition trick), and the backward from the score to the target layer only: dense
 * GEMMs transposed with ReLU masks, pool backwards, conv backward-data as a forward conv
 * graph with flipped, transposed weights (as the CPU code). Then alpha and the raw cam.
 *
 * Everything device-side is allocated once at create: one arena for weights and all
 * activations of max_batch images, one cuDNN workspace, one stream, the handles and the
 * conv plans (built for max_batch). A batch of n < max_batch runs the convs for max_batch
 * (the plans' shape; the extra images are stale but finite and never read) and every other
 * op for n. Precision: fp32 (no tensor cores) and tf32; bf16/fp16 are not implemented yet.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.cuh"
#include "cudnn_conv.cuh"
#include "kernels.cuh"

extern "C" {
#include "context.h"
}

typedef struct cuda_state {
    int device;
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    int32_t N;                                   /* max batch                              */
    gc_geometry geo;                             /* layer and head sizes (model.c)         */
    char *arena;                                 /* one device allocation                  */
    void *workspace;                             /* cuDNN workspace                         */
    /* device tensors (pointers into the arena) */
    float *x;                          /* (N, H, W, 3) input                                */
    float *ping, *pong;                /* outputs of layers below the target                */
    float *act[GC_MAX_LAYERS];         /* (N, h, w, C) outputs of layers >= target           */
    float *pre;                        /* (N, h, w, K) target conv before ReLU (PRE)         */
    float *pooled;                     /* (N, ph, pw, C)                                     */
    float *patches;                    /* (N*P*Q, k*k*C) when !direct_patch                  */
    float *dense_out[GC_MAX_DENSE];    /* (N*P*Q, out_j)                                     */
    float *gd_a, *gd_b;                /* dense gradients, (N*P*Q, widest)                   */
    float *g_patch;                    /* (N*P*Q, k*k*C)                                     */
    float *g_a, *g_b;                  /* feature-map gradients                              */
    float *grad;                       /* (N, h, w, K) dy/dA at the target                   */
    float *alpha;                      /* (N, K)                                             */
    float *cam;                        /* (N, h*w)                                           */
    float *logits;                     /* (N, classes)                                       */
    float *cw[GC_MAX_LAYERS], *cb[GC_MAX_LAYERS]; /* conv (cout,3,3,cin), (cout)            */
    float *wflip[GC_MAX_LAYERS];       /* (cin,3,3,cout) for convs above the target          */
    float *dw[GC_MAX_DENSE], *db[GC_MAX_DENSE];
    /* where each forward conv reads and writes (for the variant packs) */
    float *fin[GC_MAX_LAYERS], *fout[GC_MAX_LAYERS];
    gc_conv_plan fwd[GC_MAX_LAYERS], bwd[GC_MAX_LAYERS];
    int has_fwd[GC_MAX_LAYERS], has_bwd[GC_MAX_LAYERS];
    float *h_grad_logits;              /* host (N*P*Q, classes): the score gradient          */
    float *h_tmp;                      /* host (h*w*K): read_tensor staging                  */
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
    if (s->blas)
        cublasDestroy(s->blas);
    if (s->dnn)
        cudnnDestroy(s->dnn);
    cudaFree(s->workspace);
    cudaFree(s->arena);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    free(s->h_grad_logits);
    free(s->h_tmp);
    free(s);
}

/* Bump allocator over the arena: a first pass (base NULL) only measures. */
typedef struct arena {
    char *base;
    size_t used;
} arena;

static float *take(arena *a, size_t floats)
{
    size_t bytes = (floats * sizeof(float) + 255) / 256 * 256;
    float *p = a->base ? (float *)(a->base + a->used) : NULL;
    a->used += bytes;
    return p;
}

/* Assigns every device tensor (or measures their total when a->base is NULL). */
static void layout(const gc_context *ctx, cuda_state *s, arena *a)
{
    const gc_model *m = &ctx->model;
    const size_t N = (size_t)s->N;
    const int32_t T = ctx->target;
    size_t below = 1, above = 1;
    for (int i = 0; i < m->n_layers; i++) {
        size_t sz = N * s->geo.h[i] * s->geo.w[i] * m->layers[i].cout;
        if (i < T)
            below = GC_MAX(below, sz);
        else
            above = GC_MAX(above, sz);
    }
    const int32_t C = m->layers[m->n_layers - 1].cout;
    const size_t rows = N * s->geo.P * s->geo.Q;
    above = GC_MAX(above, N * s->geo.ph * s->geo.pw * C);
    s->x = take(a, N * ctx->in_h * ctx->in_w * 3);
    s->ping = take(a, below);
    s->pong = take(a, below);
    for (int i = T; i < m->n_layers; i++)
        s->act[i] = take(a, N * s->geo.h[i] * s->geo.w[i] * m->layers[i].cout);
    s->pre = ctx->stage == GC_STAGE_PRE ? take(a, N * s->geo.h[T] * s->geo.w[T] * ctx->cam_c) : NULL;
    s->pooled = take(a, N * s->geo.ph * s->geo.pw * C);
    s->patches = s->geo.direct_patch ? NULL : take(a, rows * s->geo.kk_c);
    size_t widest = 1;
    for (int j = 0; j < m->n_dense; j++) {
        s->dense_out[j] = take(a, rows * m->dense[j].out);
        widest = GC_MAX(widest, (size_t)m->dense[j].out);
    }
    s->gd_a = take(a, rows * widest);
    s->gd_b = take(a, rows * widest);
    s->g_patch = take(a, rows * s->geo.kk_c);
    s->g_a = take(a, above);
    s->g_b = take(a, above);
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    s->grad = take(a, N * hw * ctx->cam_c);
    s->alpha = take(a, N * ctx->cam_c);
    s->cam = take(a, N * hw);
    s->logits = take(a, N * m->num_classes);
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        if (L->kind != GC_LAYER_CONV)
            continue;
        s->cw[i] = take(a, (size_t)9 * L->cin * L->cout);
        s->cb[i] = take(a, (size_t)L->cout);
        s->wflip[i] = i > T ? take(a, (size_t)9 * L->cin * L->cout) : NULL;
    }
    for (int j = 0; j < m->n_dense; j++) {
        s->dw[j] = take(a, (size_t)m->dense[j].in * m->dense[j].out);
        s->db[j] = take(a, (size_t)m->dense[j].out);
    }
}

static gc_status upload(gc_context *ctx, cuda_state *s, float *dst, const float *src,
                        size_t floats)
{
    GC_CUDA_TRY(&ctx->err, cudaMemcpyAsync(dst, src, floats * sizeof(float),
                                           cudaMemcpyHostToDevice, s->stream));
    return GC_OK;
}

static gc_status upload_weights(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        if (L->kind != GC_LAYER_CONV)
            continue;
        const size_t n = (size_t)9 * L->cin * L->cout;
        GC_TRY(upload(ctx, s, s->cw[i], L->w, n));
        GC_TRY(upload(ctx, s, s->cb[i], L->b, (size_t)L->cout));
        if (!s->wflip[i])
            continue;
        /* dgrad weights: wflip[c][ky][kx][k] = w[k][2-ky][2-kx][c] (as cpu_backend.c) */
        float *f = (float *)malloc(sizeof(float) * n);
        if (!f)
            return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (flipped weights)");
        for (int32_t kc = 0; kc < L->cout; kc++)
            for (int32_t ky = 0; ky < 3; ky++)
                for (int32_t kx = 0; kx < 3; kx++)
                    for (int32_t c = 0; c < L->cin; c++)
                        f[(((size_t)c * 3 + ky) * 3 + kx) * L->cout + kc] =
                            L->w[(((size_t)kc * 3 + (2 - ky)) * 3 + (2 - kx)) * L->cin + c];
        gc_status st = upload(ctx, s, s->wflip[i], f, n);
        /* the copy is asynchronous from pageable memory: finish it before freeing */
        cudaError_t e = cudaStreamSynchronize(s->stream);
        free(f);
        GC_TRY(st);
        GC_CUDA_TRY(&ctx->err, e);
    }
    for (int j = 0; j < m->n_dense; j++) {
        GC_TRY(upload(ctx, s, s->dw[j], m->dense[j].w,
                      (size_t)m->dense[j].in * m->dense[j].out));
        GC_TRY(upload(ctx, s, s->db[j], m->dense[j].b, (size_t)m->dense[j].out));
    }
    GC_CUDA_TRY(&ctx->err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

static gc_status build_plans(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    const int32_t T = ctx->target;
    const int allow_tf32 = ctx->opt.precision == GC_PRECISION_TF32;
    int32_t H = ctx->in_h, W = ctx->in_w;
    const float *x = s->x;
    size_t ws = 0;
    /* forward: where each layer reads and writes, as forward_features() walks them */
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        float *y = i >= T ? s->act[i] : (i % 2 ? s->pong : s->ping);
        if (L->kind == GC_LAYER_CONV) {
            const int pre = i == T && ctx->stage == GC_STAGE_PRE;
            s->fin[i] = (float *)x;
            s->fout[i] = pre ? s->pre : y;
            gc_status st = gc_conv_plan_build(s->dnn, s->N, H, W, L->cin, L->cout, 1, !pre,
                                              allow_tf32, &s->fwd[i], &ctx->err);
            if (st != GC_OK) {
                gc_err_prefix(&ctx->err, "CUDA backend, %s forward: ", L->name);
                return st;
            }
            s->has_fwd[i] = 1;
            ws = GC_MAX(ws, (size_t)s->fwd[i].workspace);
        }
        H = s->geo.h[i];
        W = s->geo.w[i];
        x = y;
    }
    /* backward-data above the target, with the g / other alternation of explain() */
    float *g = s->g_a, *other = s->g_b;
    for (int i = m->n_layers - 1; i > T; i--) {
        const gc_layer *L = &m->layers[i];
        if (L->kind == GC_LAYER_CONV) {
            gc_status st = gc_conv_plan_build(s->dnn, s->N, s->geo.h[i], s->geo.w[i], L->cout, L->cin, 0,
                                              0, allow_tf32, &s->bwd[i], &ctx->err);
            if (st != GC_OK) {
                gc_err_prefix(&ctx->err, "CUDA backend, %s backward-data: ", L->name);
                return st;
            }
            s->has_bwd[i] = 1;
            ws = GC_MAX(ws, (size_t)s->bwd[i].workspace);
        }
        float *t = g;
        g = other;
        other = t;
    }
    if (ws > 0) {
        cudaError_t e = cudaMalloc(&s->workspace, ws);
        if (e != cudaSuccess)
            return gc_fail(&ctx->err, e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY
                                                                     : GC_ERR_BACKEND,
                           "CUDA backend: cuDNN workspace of %zu bytes: %s; try a smaller "
                           "max_batch", ws, cudaGetErrorString(e));
    }
    /* variant packs: fixed pointers */
    for (int i = 0; i < m->n_layers; i++)
        if (s->has_fwd[i])
            GC_TRY(gc_conv_plan_bind(&s->fwd[i], s->fin[i], s->cw[i], s->cb[i], s->fout[i],
                                     s->workspace, &ctx->err));
    g = s->g_a, other = s->g_b;
    for (int i = m->n_layers - 1; i > T; i--) {
        if (s->has_bwd[i])
            GC_TRY(gc_conv_plan_bind(&s->bwd[i], g, s->wflip[i], NULL, other, s->workspace,
                                     &ctx->err));
        float *t = g;
        g = other;
        other = t;
    }
    return GC_OK;
}

static gc_status cuda_create(gc_context *ctx, void **state)
{
    const gc_model *m = &ctx->model;
    if (ctx->opt.precision == GC_PRECISION_BF16 || ctx->opt.precision == GC_PRECISION_FP16)
        return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED,
                       "the CUDA backend computes in fp32 or tf32 only for now (precision %s "
                       "asked); set options.precision to GC_PRECISION_FP32 or TF32",
                       ctx->opt.precision == GC_PRECISION_BF16 ? "bf16" : "fp16");
    if (ctx->opt.method != GC_METHOD_GRADCAM)
        return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED,
                       "the CUDA backend computes Grad-CAM only for now; use the CPU backend "
                       "for Grad-CAM++, XGrad-CAM, LayerCAM and HiResCAM");
    cuda_state *s = (cuda_state *)calloc(1, sizeof *s);
    if (!s)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
    *state = s;
    s->device = ctx->opt.device;
    gc_errbuf *err = &ctx->err;
    GC_CUDA_TRY(err, cudaSetDevice(s->device));
    GC_CUDA_TRY(err, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    GC_CUDNN_TRY(err, cudnnCreate(&s->dnn));
    GC_CUDNN_TRY(err, cudnnSetStream(s->dnn, s->stream));
    GC_CUBLAS_TRY(err, cublasCreate(&s->blas));
    GC_CUBLAS_TRY(err, cublasSetStream(s->blas, s->stream));
    /* fp32: plain FP32 GEMMs (no TF32 tensor-core math); tf32: allowed */
    GC_CUBLAS_TRY(err, cublasSetMathMode(s->blas, ctx->opt.precision == GC_PRECISION_TF32
                                                      ? CUBLAS_TF32_TENSOR_OP_MATH
                                                      : CUBLAS_PEDANTIC_MATH));

    /* shapes, as cpu_create */
    s->N = ctx->opt.max_batch;
    s->geo = ctx->geo;

    arena a = {NULL, 0};
    layout(ctx, s, &a);
    cudaError_t e = cudaMalloc(&s->arena, a.used);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the (non-sticky) allocation error */
        return gc_fail(err, e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY : GC_ERR_BACKEND,
                       "CUDA backend: cannot allocate %.1f MiB of device memory for max_batch "
                       "%d at %dx%d: %s; try a smaller max_batch", a.used / 1048576.0,
                       ctx->opt.max_batch, ctx->in_w, ctx->in_h, cudaGetErrorString(e));
    }
    /* zeros: images beyond n in a batch stay finite */
    GC_CUDA_TRY(err, cudaMemsetAsync(s->arena, 0, a.used, s->stream));
    arena b = {s->arena, 0};
    layout(ctx, s, &b);
    GC_TRY(upload_weights(ctx, s));
    GC_TRY(build_plans(ctx, s));

    const size_t rows = (size_t)s->N * s->geo.P * s->geo.Q, hw = (size_t)ctx->cam_h * ctx->cam_w;
    s->h_grad_logits = (float *)malloc(sizeof(float) * rows * m->num_classes);
    s->h_tmp = (float *)malloc(sizeof(float) * hw * ctx->cam_c);
    if (!s->h_grad_logits || !s->h_tmp)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory (host staging)");
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

/* ---------------------------------------------------------------- GEMMs */

/* Y (rows, out) = X (rows, in) W^T with W (out, in), all row-major. Column-major view:
 * Y^T (out, rows) = W (out, in) X^T, and W row-major is W^T column-major: op T on it. */
static gc_status dense_fwd(gc_context *ctx, cuda_state *s, const float *X, const float *Wt,
                           int rows, int in, int out, float *Y)
{
    const float one = 1.0f, zero = 0.0f;
    GC_CUBLAS_TRY(&ctx->err, cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &one,
                                         Wt, in, X, in, &zero, Y, out));
    return GC_OK;
}

/* Gin (rows, in) = G (rows, out) W with W (out, in). Column-major: Gin^T (in, rows) =
 * W^T (in, out) G^T (out, rows), where W's storage is W^T column-major (ld in). */
static gc_status dense_bwd(gc_context *ctx, cuda_state *s, const float *G, const float *Wt,
                           int rows, int in, int out, float *Gin)
{
    const float one = 1.0f, zero = 0.0f;
    GC_CUBLAS_TRY(&ctx->err, cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, &one,
                                         Wt, in, G, out, &zero, Gin, in));
    return GC_OK;
}

/* ---------------------------------------------------------------- the batch */

static gc_status forward_features(gc_context *ctx, cuda_state *s, int32_t n)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const float *x = s->x;
    int32_t H = ctx->in_h, W = ctx->in_w;
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        float *y = i >= ctx->target ? s->act[i] : (i % 2 ? s->pong : s->ping);
        if (L->kind == GC_LAYER_POOL) {
            GC_TRY(gc_maxpool_fwd_cuda(s->stream, x, n, H, W, L->cin, y, err));
        } else {
            const gc_conv_plan *p = &s->fwd[i];
            const size_t rows = (size_t)n * H * W;
            GC_TRY(gc_conv_plan_run(s->dnn, p, err));
            if (!p->fused)
                GC_TRY(gc_bias_act_cuda(s->stream, s->fout[i], s->cb[i], rows, L->cout, p->relu,
                                        err));
            if (s->fout[i] != y) /* the PRE target: keep the pre-activation, then ReLU */
                GC_TRY(gc_relu_cuda(s->stream, s->fout[i], y, rows * L->cout, err));
        }
        H = s->geo.h[i];
        W = s->geo.w[i];
        x = y;
    }
    return GC_OK;
}

static gc_status forward_head(gc_context *ctx, cuda_state *s, int32_t n)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const int last = m->n_layers - 1;
    const int32_t C = m->layers[last].cout, k = m->fc1_kernel;
    GC_TRY(gc_avgpool_fwd_cuda(s->stream, s->act[last], n, s->geo.h[last], s->geo.w[last], C, s->geo.ph,
                               s->geo.pw, s->pooled, err));
    const int rows = n * s->geo.P * s->geo.Q;
    const float *x = s->pooled;
    if (!s->geo.direct_patch) {
        GC_TRY(gc_patches_cuda(s->stream, s->pooled, n, s->geo.ph, s->geo.pw, C, k, s->patches, err));
        x = s->patches;
    }
    for (int j = 0; j < m->n_dense; j++) {
        const gc_dense *d = &m->dense[j];
        GC_TRY(dense_fwd(ctx, s, x, s->dw[j], rows, d->in, d->out, s->dense_out[j]));
        GC_TRY(gc_bias_act_cuda(s->stream, s->dense_out[j], s->db[j], (size_t)rows, d->out,
                                j + 1 < m->n_dense, err));
        x = s->dense_out[j];
    }
    GC_TRY(gc_mean_positions_cuda(s->stream, x, n, s->geo.P * s->geo.Q, m->num_classes, s->logits,
                                  err));
    return GC_OK;
}

/* From dy/dlogits (in gd_a) to dy/d(last feature map), left in g_a. */
static gc_status backward_head(gc_context *ctx, cuda_state *s, int32_t n)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const int last = m->n_layers - 1;
    const int32_t C = m->layers[last].cout, k = m->fc1_kernel;
    const int rows = n * s->geo.P * s->geo.Q;
    float *g = s->gd_a, *other = s->gd_b;
    for (int j = m->n_dense - 1; j >= 1; j--) {
        const gc_dense *d = &m->dense[j];
        GC_TRY(dense_bwd(ctx, s, g, s->dw[j], rows, d->in, d->out, other));
        GC_TRY(gc_relu_mask_cuda(s->stream, other, s->dense_out[j - 1], (size_t)rows * d->in,
                                 err));
        float *t = g;
        g = other;
        other = t;
    }
    const gc_dense *d0 = &m->dense[0];
    float *g_pooled = s->geo.direct_patch ? s->g_b : s->g_patch;
    GC_TRY(dense_bwd(ctx, s, g, s->dw[0], rows, d0->in, d0->out, g_pooled));
    if (!s->geo.direct_patch) {
        GC_TRY(gc_patches_bwd_cuda(s->stream, s->g_patch, n, s->geo.ph, s->geo.pw, C, k, s->g_b, err));
        g_pooled = s->g_b;
    }
    GC_TRY(gc_avgpool_bwd_cuda(s->stream, g_pooled, n, s->geo.h[last], s->geo.w[last], C, s->geo.ph, s->geo.pw,
                               s->g_a, err));
    return GC_OK;
}

/* Upload the batch, run the forward, copy the logits back. */
static gc_status forward_to_logits(gc_context *ctx, cuda_state *s, const float *input, int32_t n,
                                   float *logits)
{
    gc_errbuf *err = &ctx->err;
    if (n < 1 || n > s->N)
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT, "batch of %d; max_batch is %d", n, s->N);
    GC_CUDA_TRY(err, cudaSetDevice(s->device));
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->x, input,
                                     sizeof(float) * (size_t)n * ctx->in_h * ctx->in_w * 3,
                                     cudaMemcpyHostToDevice, s->stream));
    GC_TRY(forward_features(ctx, s, n));
    GC_TRY(forward_head(ctx, s, n));
    GC_CUDA_TRY(err, cudaMemcpyAsync(logits, s->logits,
                                     sizeof(float) * (size_t)n * ctx->model.num_classes,
                                     cudaMemcpyDeviceToHost, s->stream));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

static gc_status cuda_predict(gc_context *ctx, void *state, const float *input, int32_t n,
                              float *logits)
{
    return forward_to_logits(ctx, (cuda_state *)state, input, n, logits);
}

static gc_status cuda_explain(gc_context *ctx, void *state, const float *input, int32_t n,
                              const int32_t *classes, float *logits, int32_t *class_ids,
                              float *cams_raw)
{
    cuda_state *s = (cuda_state *)state;
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const int32_t K = m->num_classes, T = ctx->target;
    GC_TRY(forward_to_logits(ctx, s, input, n, logits));
    /* the same host code as the CPU backend (score.c) */
    gc_pick_classes(ctx, logits, n, classes, class_ids);
    gc_score_gradient(ctx, logits, n, class_ids, s->geo.P * s->geo.Q, s->h_grad_logits);
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->gd_a, s->h_grad_logits,
                                     sizeof(float) * (size_t)n * s->geo.P * s->geo.Q * K,
                                     cudaMemcpyHostToDevice, s->stream));
    GC_TRY(backward_head(ctx, s, n));
    float *g = s->g_a, *other = s->g_b;
    for (int i = m->n_layers - 1; i > T; i--) {
        const gc_layer *L = &m->layers[i];
        int32_t H = s->geo.h[i - 1], W = s->geo.w[i - 1];
        if (L->kind == GC_LAYER_POOL) {
            GC_TRY(gc_maxpool_bwd_cuda(s->stream, s->act[i - 1], g, n, H, W, L->cin, other,
                                       err));
        } else {
            GC_TRY(gc_relu_mask_cuda(s->stream, g, s->act[i], (size_t)n * H * W * L->cout, err));
            GC_TRY(gc_conv_plan_run(s->dnn, &s->bwd[i], err)); /* bound: g -> other */
        }
        float *t = g;
        g = other;
        other = t;
    }
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w, Kc = (size_t)ctx->cam_c;
    if (ctx->stage == GC_STAGE_PRE)
        GC_TRY(gc_relu_mask_cuda(s->stream, g, s->act[T], (size_t)n * hw * Kc, err));
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->grad, g, sizeof(float) * (size_t)n * hw * Kc,
                                     cudaMemcpyDeviceToDevice, s->stream));
    const float *A = ctx->stage == GC_STAGE_PRE ? s->pre : s->act[T];
    GC_TRY(gc_alpha_cuda(s->stream, s->grad, n, (int32_t)hw, (int32_t)Kc, s->alpha, err));
    GC_TRY(gc_cam_cuda(s->stream, A, s->alpha, n, (int32_t)hw, (int32_t)Kc, s->cam, err));
    GC_CUDA_TRY(err, cudaMemcpyAsync(cams_raw, s->cam, sizeof(float) * (size_t)n * hw,
                                     cudaMemcpyDeviceToHost, s->stream));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

static gc_status cuda_read_tensor(gc_context *ctx, void *state, gc_tensor which, int32_t image,
                                  float *out)
{
    cuda_state *s = (cuda_state *)state;
    gc_errbuf *err = &ctx->err;
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w, Kc = (size_t)ctx->cam_c;
    const float *src;
    switch (which) {
    case GC_TENSOR_ACTIVATION:
        src = ctx->stage == GC_STAGE_PRE ? s->pre : s->act[ctx->target];
        break;
    case GC_TENSOR_GRADIENT: src = s->grad; break;
    case GC_TENSOR_WEIGHTS:
        GC_CUDA_TRY(err, cudaMemcpyAsync(out, s->alpha + (size_t)image * Kc, sizeof(float) * Kc,
                                         cudaMemcpyDeviceToHost, s->stream));
        GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
        return GC_OK;
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

extern "C" const gc_backend_ops gc_cuda_backend = {
    "cuda",
    cuda_create,
    cuda_destroy,
    cuda_explain,
    NULL, /* explain_device: not yet */
    cuda_predict,
    cuda_read_tensor,
};
