/*
 * cpu_backend.c — the reference backend: Grad-CAM on the CPU in float32.
 *
 * Tensors are NHWC; convolutions are in cpu_conv.c (im2col or Winograd GEMMs). The backward
 * runs only from the score down to the target layer, without weight gradients: dense layers
 * as transposed GEMMs with ReLU masks, adaptive average pool and max-pool backward, and conv
 * backward-data as a forward conv with flipped, transposed weights. The guided methods add a
 * second backward, from the score to the input image with the guided-ReLU rule; they keep
 * every layer's output for it.
 * One thread pool: OpenMP splits the work, every sgemm call runs single-threaded (see
 * cpu_conv.h for why).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "context.h"
#include "cpu_conv.h"
#include "cpu_ops.h"
#include "gc_math.h"
#include "gemm.h"

typedef struct cpu_state {
    int threads;
    int guided;                       /* the guided methods: a second backward to the input */
    int32_t keep_from;                /* layers >= this keep their outputs in act[]   */
    int32_t N;                        /* max batch */
    gc_geometry geo;                  /* layer and head sizes (model.c)               */
    float *ping, *pong;               /* forward outputs of layers below keep_from    */
    float *act[GC_MAX_LAYERS];        /* (N, h, w, C) outputs of layers >= keep_from  */
    float *pre;                       /* (N, h, w, K) target conv before ReLU (PRE)   */
    float *scratch;                   /* threads * CPU_SCRATCH_FLOATS                 */
    cpu_conv fwd[GC_MAX_LAYERS];      /* forward convs                                */
    cpu_conv bwd[GC_MAX_LAYERS];      /* backward-data convs above the target (all of
                                         them when guided)                            */
    float *pooled;                    /* (N, ph, pw, C)                               */
    float *patches;                   /* (N*P*Q, k*k*C) when !direct_patch            */
    float *dense_out[GC_MAX_DENSE];   /* (N*P*Q, out_j)                               */
    float *gd_a, *gd_b;               /* dense gradients, (N*P*Q, widest)             */
    float *g_patch;                   /* (N*P*Q, k*k*C)                               */
    float *g_a, *g_b;                 /* feature-map gradients, largest map >= keep_from */
    float *grad;                      /* (N, h, w, K) dy/dA at the target             */
    float *alpha;                     /* (N, K)                                       */
    float *wflip[GC_MAX_LAYERS];      /* (cin, 3, 3, cout) for the bwd convs          */
    float *guided_grad;               /* (N, H, W, 3) guided d y / d input            */
    double t_mark;                    /* profiling: the end of the last timed stage   */
} cpu_state;

/* ---------------------------------------------------------------- building blocks */

/* C (M, N) = A (M, K) op(B), split over N across the threads; B is (N, K) when transB,
 * else (K, N). The head's GEMMs have few rows (the batch) and wide weights. */
static void par_sgemm(const cpu_state *s, int transB, int M, int N, int K, const float *A,
                      int lda, const float *B, int ldb, float *C, int ldc)
{
    int nb = (N + 4 * s->threads - 1) / (4 * s->threads);
    nb = (nb + 15) / 16 * 16;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s->threads)
    for (int j0 = 0; j0 < N; j0 += nb) {
        int nn = N - j0 < nb ? N - j0 : nb;
        const float *Bj = transB ? B + (size_t)j0 * ldb : B + j0;
        gc_sgemm(transB, M, nn, K, A, lda, Bj, ldb, C + j0, ldc);
    }
}

/* Profiling: ms since the last mark, when the context profiles (else 0). */
static double lap(const gc_context *ctx, cpu_state *s)
{
    if (!ctx->opt.profile)
        return 0.0;
    double t = gc_now_ms(), d = t - s->t_mark;
    s->t_mark = t;
    return d;
}

/* ---------------------------------------------------------------- set-up */

static void cpu_destroy(void *state)
{
    cpu_state *s = state;
    if (!s)
        return;
    free(s->ping);
    free(s->pong);
    for (int i = 0; i < GC_MAX_LAYERS; i++) {
        free(s->act[i]);
        free(s->wflip[i]);
    }
    free(s->pre);
    free(s->scratch);
    for (int i = 0; i < GC_MAX_LAYERS; i++) {
        cpu_conv_free(&s->fwd[i]);
        cpu_conv_free(&s->bwd[i]);
    }
    free(s->pooled);
    free(s->patches);
    for (int i = 0; i < GC_MAX_DENSE; i++)
        free(s->dense_out[i]);
    free(s->gd_a);
    free(s->gd_b);
    free(s->g_patch);
    free(s->g_a);
    free(s->g_b);
    free(s->grad);
    free(s->alpha);
    free(s->guided_grad);
    free(s);
}

static gc_status cpu_create(gc_context *ctx, void **state)
{
    const gc_model *m = &ctx->model;
    cpu_state *s = calloc(1, sizeof *s);
    if (!s)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
    *state = s;
#ifdef _OPENMP
    s->threads = ctx->opt.threads > 0 ? ctx->opt.threads : omp_get_num_procs();
#else
    s->threads = 1;
#endif
    /* One pool: ours. OpenBLAS's thread count is process-wide. */
    gc_blas_single_thread();
    const size_t N = (size_t)ctx->opt.max_batch;
    s->N = (int32_t)N;
    const int32_t T = ctx->target;
    s->guided = gc_method_guided(ctx->opt.method);
    s->keep_from = s->guided ? 0 : T;
    const int32_t K0 = s->keep_from;
    size_t below, above;
    s->geo = ctx->geo;
    gc_layer_extents(m, &s->geo, N, K0, &below, &above);
    if (s->guided)
        above = GC_MAX(above, N * ctx->in_h * ctx->in_w * 3);
    const int32_t C = m->layers[m->n_layers - 1].cout;
    const size_t rows = N * s->geo.P * s->geo.Q;
    above = GC_MAX(above, N * s->geo.ph * s->geo.pw * C);
    int ok = 1;
    if (K0 > 0) {
        ok &= (s->ping = malloc(sizeof(float) * below)) != NULL;
        ok &= (s->pong = malloc(sizeof(float) * below)) != NULL;
    }
    if (s->guided)
        ok &= (s->guided_grad = malloc(sizeof(float) * N * ctx->in_h * ctx->in_w * 3)) != NULL;
    for (int i = K0; i < m->n_layers; i++)
        ok &= (s->act[i] = malloc(sizeof(float) * N * s->geo.h[i] * s->geo.w[i] *
                                  m->layers[i].cout)) != NULL;
    if (ctx->stage == GC_STAGE_PRE)
        ok &= (s->pre = malloc(sizeof(float) * N * s->geo.h[T] * s->geo.w[T] * ctx->cam_c)) != NULL;
    ok &= (s->scratch = malloc(sizeof(float) * CPU_SCRATCH_FLOATS * (size_t)s->threads)) != NULL;
    for (int i = 0; ok && i < m->n_layers; i++)
        if (m->layers[i].kind == GC_LAYER_CONV)
            ok &= cpu_conv_init(&s->fwd[i], m->layers[i].w, m->layers[i].b, m->layers[i].cin,
                                m->layers[i].cout);
    ok &= (s->pooled = malloc(sizeof(float) * N * s->geo.ph * s->geo.pw * C)) != NULL;
    if (!s->geo.direct_patch)
        ok &= (s->patches = malloc(sizeof(float) * rows * s->geo.kk_c)) != NULL;
    size_t widest = 1;
    for (int j = 0; j < m->n_dense; j++) {
        ok &= (s->dense_out[j] = malloc(sizeof(float) * rows * m->dense[j].out)) != NULL;
        widest = GC_MAX(widest, (size_t)m->dense[j].out);
    }
    ok &= (s->gd_a = malloc(sizeof(float) * rows * widest)) != NULL;
    ok &= (s->gd_b = malloc(sizeof(float) * rows * widest)) != NULL;
    ok &= (s->g_patch = malloc(sizeof(float) * rows * s->geo.kk_c)) != NULL;
    ok &= (s->g_a = malloc(sizeof(float) * above)) != NULL;
    ok &= (s->g_b = malloc(sizeof(float) * above)) != NULL;
    ok &= (s->grad = malloc(sizeof(float) * N * ctx->cam_h * ctx->cam_w * ctx->cam_c)) != NULL;
    ok &= (s->alpha = malloc(sizeof(float) * N * ctx->cam_c)) != NULL;
    /* dgrad weights: wflip[c][ky][kx][k] = w[k][2-ky][2-kx][c] */
    for (int i = s->guided ? 0 : T + 1; ok && i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        if (L->kind != GC_LAYER_CONV)
            continue;
        float *f = malloc(sizeof(float) * 9 * L->cin * L->cout);
        if (!(ok = f != NULL))
            break;
        for (int32_t kc = 0; kc < L->cout; kc++)
            for (int32_t ky = 0; ky < 3; ky++)
                for (int32_t kx = 0; kx < 3; kx++)
                    for (int32_t c = 0; c < L->cin; c++)
                        f[(((size_t)c * 3 + ky) * 3 + kx) * L->cout + kc] =
                            L->w[(((size_t)kc * 3 + (2 - ky)) * 3 + (2 - kx)) * L->cin + c];
        s->wflip[i] = f;
        ok &= cpu_conv_init(&s->bwd[i], f, NULL, L->cout, L->cin);
    }
    if (!ok)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY,
                       "CPU backend: out of memory for max_batch %d at %dx%d; try a smaller "
                       "max_batch", ctx->opt.max_batch, ctx->in_w, ctx->in_h);
    return GC_OK;
}

/* ---------------------------------------------------------------- the batch */

static void forward_features(gc_context *ctx, cpu_state *s, const float *input, int32_t n)
{
    const gc_model *m = &ctx->model;
    const float *x = input;
    int32_t H = ctx->in_h, W = ctx->in_w;
    double t_layer = ctx->opt.profile ? gc_now_ms() : 0.0; /* gc_profile_layer_ms */
    for (int i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        float *y = i >= s->keep_from ? s->act[i] : (i % 2 ? s->pong : s->ping);
        if (L->kind == GC_LAYER_POOL) {
            cpu_maxpool_fwd(s->threads, x, n, H, W, L->cin, y);
        } else if (i == ctx->target && ctx->stage == GC_STAGE_PRE) {
            size_t len = (size_t)n * H * W * L->cout;
            cpu_conv_run(&s->fwd[i], x, n, H, W, y, 0, s->threads, s->scratch);
            memcpy(s->pre, y, sizeof(float) * len);
            cpu_relu(s->threads, y, len);
        } else {
            cpu_conv_run(&s->fwd[i], x, n, H, W, y, 1, s->threads, s->scratch);
        }
        if (ctx->opt.profile) {
            const double t = gc_now_ms();
            ctx->layer_ms[i] += t - t_layer;
            ctx->layers_timed = 1;
            t_layer = t;
        }
        H = s->geo.h[i];
        W = s->geo.w[i];
        x = y;
    }
}

/* Head forward; logits (n, classes) are the mean over the P*Q positions. */
static void forward_head(gc_context *ctx, cpu_state *s, int32_t n, float *logits)
{
    const gc_model *m = &ctx->model;
    const int last = m->n_layers - 1;
    const int32_t C = m->layers[last].cout, k = m->fc1_kernel;
    cpu_avgpool_fwd(s->threads, s->act[last], n, s->geo.h[last], s->geo.w[last], C, s->geo.ph, s->geo.pw, s->pooled);
    const size_t rows = (size_t)n * s->geo.P * s->geo.Q;
    const float *x = s->pooled;
    if (!s->geo.direct_patch) {
        const size_t per = (size_t)s->geo.P * s->geo.Q;
#pragma omp parallel for schedule(static) num_threads(s->threads)
        for (int32_t i = 0; i < n; i++)
            cpu_im2col(s->pooled, s->geo.ph, s->geo.pw, C, k, k, 0, s->geo.P, s->geo.Q, i * per, per,
                       s->patches + i * per * s->geo.kk_c);
        x = s->patches;
    }
    for (int j = 0; j < m->n_dense; j++) {
        const gc_dense *d = &m->dense[j];
        float *y = s->dense_out[j];
        par_sgemm(s, 1, (int)rows, d->out, d->in, x, d->in, d->w, d->in, y, d->out);
        cpu_bias_act(s->threads, y, d->b, rows, d->out, j + 1 < m->n_dense);
        x = y;
    }
    cpu_mean_positions(x, n, s->geo.P * s->geo.Q, m->num_classes, logits);
}

/* From dy/dlogits (in gd_a) to dy/d(last feature map); returns the buffer holding it.
 * guided: the dense ReLUs pass only positive gradients. */
static float *backward_head(gc_context *ctx, cpu_state *s, int32_t n, int guided)
{
    const gc_model *m = &ctx->model;
    const int last = m->n_layers - 1;
    const int32_t C = m->layers[last].cout, k = m->fc1_kernel;
    const size_t rows = (size_t)n * s->geo.P * s->geo.Q;
    float *g = s->gd_a, *other = s->gd_b;
    for (int j = m->n_dense - 1; j >= 1; j--) {
        const gc_dense *d = &m->dense[j];
        par_sgemm(s, 0, (int)rows, d->in, d->out, g, d->out, d->w, d->in, other, d->in);
        cpu_relu_mask(s->threads, other, s->dense_out[j - 1], rows * d->in, guided);
        float *t = g;
        g = other;
        other = t;
    }
    const gc_dense *d0 = &m->dense[0];
    float *g_pooled = s->geo.direct_patch ? s->g_b : s->g_patch;
    par_sgemm(s, 0, (int)rows, d0->in, d0->out, g, d0->out, d0->w, d0->in, g_pooled, d0->in);
    if (!s->geo.direct_patch) { /* col2im of the patch gradients onto the pooled map */
        g_pooled = s->g_b;
        cpu_patches_bwd(s->threads, s->g_patch, n, s->geo.ph, s->geo.pw, C, k, g_pooled);
    }
    cpu_avgpool_bwd(s->threads, g_pooled, n, s->geo.h[last], s->geo.w[last], C, s->geo.ph, s->geo.pw, s->g_a);
    return s->g_a;
}

/* From dy/dlogits (in gd_a) down to the output of layer `stop` (-1: the input image);
 * returns the buffer holding the gradient. guided: the guided-ReLU rule at every ReLU. */
static float *backward_features(gc_context *ctx, cpu_state *s, int32_t n, int32_t stop,
                                int guided)
{
    const gc_model *m = &ctx->model;
    float *g = backward_head(ctx, s, n, guided);
    float *other = g == s->g_a ? s->g_b : s->g_a;
    for (int i = m->n_layers - 1; i > stop; i--) {
        const gc_layer *L = &m->layers[i];
        const int32_t H = i ? s->geo.h[i - 1] : ctx->in_h, W = i ? s->geo.w[i - 1] : ctx->in_w;
        if (L->kind == GC_LAYER_POOL) {
            cpu_maxpool_bwd(s->threads, s->act[i - 1], g, n, H, W, L->cin, other);
        } else {
            cpu_relu_mask(s->threads, g, s->act[i], (size_t)n * H * W * L->cout, guided);
            cpu_conv_run(&s->bwd[i], g, n, H, W, other, 0, s->threads, s->scratch);
        }
        float *t = g;
        g = other;
        other = t;
    }
    return g;
}

static gc_status cpu_explain(gc_context *ctx, void *state, const float *input, int32_t n,
                             const int32_t *classes, float *logits, int32_t *class_ids,
                             float *cams_raw)
{
    cpu_state *s = state;
    const int32_t T = ctx->target;
    lap(ctx, s);
    forward_features(ctx, s, input, n);
    ctx->prof.features_ms += lap(ctx, s);
    forward_head(ctx, s, n, logits);
    gc_pick_classes(ctx, logits, n, classes, class_ids);
    ctx->prof.head_ms += lap(ctx, s);
    gc_score_gradient(ctx, logits, n, class_ids, s->geo.P * s->geo.Q, s->gd_a);
    float *g = backward_features(ctx, s, n, T, 0);
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w, Kc = (size_t)ctx->cam_c;
    if (ctx->stage == GC_STAGE_PRE)
        cpu_relu_mask(s->threads, g, s->act[T], (size_t)n * hw * Kc, 0);
    memcpy(s->grad, g, sizeof(float) * (size_t)n * hw * Kc);
    if (s->guided) { /* the same score again, down to the input with the guided rule */
        gc_score_gradient(ctx, logits, n, class_ids, s->geo.P * s->geo.Q, s->gd_a);
        g = backward_features(ctx, s, n, -1, 1);
        memcpy(s->guided_grad, g, sizeof(float) * (size_t)n * ctx->in_h * ctx->in_w * 3);
    }
    ctx->prof.backward_ms += lap(ctx, s);
    const float *A = ctx->stage == GC_STAGE_PRE ? s->pre : s->act[T];
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int32_t i = 0; i < n; i++)
        gc_cam_compute(ctx->opt.method, A + (size_t)i * hw * Kc, s->grad + (size_t)i * hw * Kc,
                       hw, Kc, s->alpha + (size_t)i * Kc, cams_raw + (size_t)i * hw);
    ctx->prof.cam_ms += lap(ctx, s);
    return GC_OK;
}

static gc_status cpu_predict(gc_context *ctx, void *state, const float *input, int32_t n,
                             float *logits)
{
    cpu_state *s = state;
    lap(ctx, s);
    forward_features(ctx, s, input, n);
    ctx->prof.features_ms += lap(ctx, s);
    forward_head(ctx, s, n, logits);
    ctx->prof.head_ms += lap(ctx, s);
    return GC_OK;
}

static gc_status cpu_read_tensor(gc_context *ctx, void *state, gc_tensor which, int32_t image,
                                 float *out)
{
    cpu_state *s = state;
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w, Kc = (size_t)ctx->cam_c;
    const float *src;
    switch (which) {
    case GC_TENSOR_ACTIVATION:
        src = ctx->stage == GC_STAGE_PRE ? s->pre : s->act[ctx->target];
        break;
    case GC_TENSOR_GRADIENT: src = s->grad; break;
    case GC_TENSOR_WEIGHTS:
        memcpy(out, s->alpha + (size_t)image * Kc, sizeof(float) * Kc);
        return GC_OK;
    case GC_TENSOR_GUIDED_BACKPROP: {
        const size_t HW = (size_t)ctx->in_h * ctx->in_w;
        const float *gi = s->guided_grad + (size_t)image * HW * 3;
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < HW; p++)
                out[c * HW + p] = gi[3 * p + c];
        return GC_OK;
    }
    default:
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "tensor %d not held by the backend",
                       which);
    }
    src += (size_t)image * hw * Kc;
    for (size_t c = 0; c < Kc; c++)
        for (size_t p = 0; p < hw; p++)
            out[c * hw + p] = src[p * Kc + c];
    return GC_OK;
}

const gc_backend_ops gc_cpu_backend = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .explain = cpu_explain,
    .predict = cpu_predict,
    .read_tensor = cpu_read_tensor,
};
