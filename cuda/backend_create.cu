/*
 * backend_create.cu — a CUDA context's creation and teardown: the precision's numerics, the
 * cuDNN plans for every conv (with the first layer's channel padding), one device arena laid
 * out for max_batch images, the weights converted and uploaded, the plans bound to their
 * fixed pointers, and the table of CUDA graphs when GC_CUDA_GRAPHS asks for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_state.cuh"

void gcu_destroy(void *state)
{
    cuda_state *s = (cuda_state *)state;
    if (!s)
        return;
    cudaSetDevice(s->device);
    if (s->stream)
        cudaStreamSynchronize(s->stream);
    if (s->copy) /* before the buffers its copies read and write are freed */
        cudaStreamSynchronize(s->copy);
    for (int i = 0; i < GC_MAX_LAYERS; i++) {
        gc_conv_plan_free(&s->fwd[i]);
        gc_conv_plan_free(&s->bwd[i]);
    }
    gcu_plans_free(s);
    for (int k = 0; k < GC_MAX_MARKS; k++)
        if (s->ev[k])
            cudaEventDestroy(s->ev[k]);
    for (int k = 0; k <= GC_MAX_LAYERS; k++)
        if (s->ev_layer[k])
            cudaEventDestroy(s->ev_layer[k]);
    for (int k = 0; k < GCU_STEP_EVENTS; k++)
        if (s->ev_step[k])
            cudaEventDestroy(s->ev_step[k]);
    if (s->graph_exec) {
        for (size_t k = 0; k < (size_t)GC_GRAPH_SEGMENTS * (size_t)(s->N + 1); k++)
            if (s->graph_exec[k])
                cudaGraphExecDestroy(s->graph_exec[k]);
        free(s->graph_exec);
    }
    gcu_head_gemm_free(s);
    if (s->blas) /* before its workspace */
        cublasDestroy(s->blas);
    cudaFree(s->blas_ws);
    if (s->dnn)
        cudnnDestroy(s->dnn);
    cudaFree(s->workspace);
    cudaFree(s->arena);
    cudaFree(s->d_img);
    cudaFree(s->d_out);
    gcu_free_ring(s);
    for (int k = 0; k < GC_RING_SLOTS; k++)
        if (s->ring_ev[k])
            cudaEventDestroy(s->ring_ev[k]);
    if (s->ev_wait)
        cudaEventDestroy(s->ev_wait);
    if (s->h_classes)
        cudaFreeHost(s->h_classes);
    if (s->h_input) /* before context.c frees them */
        cudaHostUnregister(s->h_input);
    if (s->h_logits)
        cudaHostUnregister(s->h_logits);
    if (s->h_cams)
        cudaHostUnregister(s->h_cams);
    free(s->descs);
    for (int k = 0; k < 4; k++)
        if (s->split_ev[k])
            cudaEventDestroy(s->split_ev[k]);
    if (s->ev_head)
        cudaEventDestroy(s->ev_head);
    if (s->ev_logits)
        cudaEventDestroy(s->ev_logits);
    if (s->copy)
        cudaStreamDestroy(s->copy);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    cudaGetLastError(); /* nothing of ours stays pending after a failed teardown */
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
    s->A = ctx->stage == GC_STAGE_PRE ? s->pre : s->act[T];
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
    s->grad_keep = s->guided ? take_t(a, s, N * hw * Kc) : NULL;
    s->t_tmp = take_f(a, hw * Kc);
    s->alpha = take_f(a, N * Kc);
    s->cam = take_f(a, N * hw);
    s->logits = take_f(a, N * m->num_classes);
    s->classes = (int32_t *)take(a, N * sizeof(int32_t));
    s->score_stats = (double *)take(a, N * 3 * sizeof(double));
    s->guided_in = s->guided ? take_f(a, N * 3 * HW) : NULL;
    s->d_cams = take_f(a, N * hw);
    s->d_luts = (uint8_t *)take(a, (size_t)GC_N_COLORMAPS * GC_LUT_BYTES);
    const int32_t k0 = m->n_layers > 0 ? m->layers[0].cout : 0;
    s->w0 = s->first_conv == GC_FIRST_FMA ? take_f(a, gc_first_conv_weight_floats(k0)) : NULL;
    s->w0_tc = s->first_conv == GC_FIRST_TC ? take_t(a, s, gc_first_conv_tc_weight_elems(k0))
                                            : NULL;
    s->b0 = s->first_conv == GC_FIRST_TC ? take_f(a, (size_t)k0) : NULL;
    s->w_fb = s->first_conv == GC_FIRST_BLOCK ? take_t(a, s, gc_first_block_weight_elems(k0))
                                              : NULL;
    s->b_fb = s->first_conv == GC_FIRST_BLOCK ? take_f(a, gc_first_block_bias_floats(k0)) : NULL;
    /* profiled runs: the fused block's cycles per phase (gc_first_block_cuda's clocks) */
    s->fb_clocks = s->first_conv == GC_FIRST_BLOCK && ctx->opt.profile
                       ? (unsigned long long *)take(a, GC_FB_PHASES * sizeof(unsigned long long))
                       : NULL;
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
    if (s->w0) { /* the first conv in our kernel's layout */
        const size_t nf = gc_first_conv_weight_floats(m->layers[0].cout);
        float *wb = (float *)malloc(nf * sizeof(float));
        if (!wb)
            return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (conv weights)");
        gc_first_conv_weights_host(s->dt, m->layers[0].w, m->layers[0].b, m->layers[0].cout, wb);
        gc_status st = put_tensor(ctx, s, s->w0, wb, nf, GC_DT_F32, "first conv weights");
        free(wb);
        LAYER_TRY(ctx, "CUDA backend, weights of", m->layers[0].name, st);
    }
    if (s->w0_tc) { /* the first conv in the tensor-core kernel's layout */
        const int32_t k0 = m->layers[0].cout;
        const size_t nw = gc_first_conv_tc_weight_elems(k0);
        float *wt = (float *)malloc((nw + (size_t)k0) * sizeof(float));
        if (!wt)
            return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (conv weights)");
        gc_first_conv_tc_weights_host(s->dt, m->layers[0].w, m->layers[0].b, k0, wt, wt + nw);
        gc_status st = put_tensor(ctx, s, s->w0_tc, wt, nw, s->dt, "first conv weights");
        if (st == GC_OK)
            st = put_tensor(ctx, s, s->b0, wt + nw, (size_t)k0, GC_DT_F32, "first conv bias");
        free(wt);
        LAYER_TRY(ctx, "CUDA backend, weights of", m->layers[0].name, st);
    }
    if (s->w_fb) { /* the first block's two convs in its kernel's layout */
        const int32_t k0 = m->layers[0].cout;
        const size_t nw = gc_first_block_weight_elems(k0);
        const size_t nb = gc_first_block_bias_floats(k0);
        float *wt = (float *)malloc((nw + nb) * sizeof(float));
        if (!wt)
            return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (conv weights)");
        gc_first_block_weights_host(s->dt, m->layers[0].w, m->layers[0].b, m->layers[1].w,
                                    m->layers[1].b, k0, wt, wt + nw);
        gc_status st = put_tensor(ctx, s, s->w_fb, wt, nw, s->dt, "first block weights");
        if (st == GC_OK)
            st = put_tensor(ctx, s, s->b_fb, wt + nw, nb, GC_DT_F32, "first block biases");
        free(wt);
        LAYER_TRY(ctx, "CUDA backend, weights of", m->layers[1].name, st);
    }
    for (int j = 0; j < m->n_dense; j++) {
        GC_TRY(put_tensor(ctx, s, s->dw[j], m->dense[j].w,
                          (size_t)m->dense[j].in * m->dense[j].out, s->dt, "dense weights"));
        GC_TRY(put_tensor(ctx, s, s->db[j], m->dense[j].b, (size_t)m->dense[j].out, GC_DT_F32,
                          "dense bias"));
    }
    return GC_OK;
}

/* The arena (+ cuDNN's workspace) could not be allocated: out of memory, and what to do. */
static gc_status arena_failed(gc_context *ctx, size_t arena_bytes, size_t ws_bytes,
                              cudaError_t e)
{
    cudaGetLastError(); /* clear the (non-sticky) allocation error */
    char ws[64] = "";
    if (ws_bytes > 0)
        snprintf(ws, sizeof ws, " (+ %.1f MiB cuDNN workspace)", ws_bytes / 1048576.0);
    return gc_fail(&ctx->err,
                   e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY : GC_ERR_BACKEND,
                   "CUDA backend: cannot allocate %.1f MiB of device memory%s for max_batch %d "
                   "at %dx%d: %s; try a smaller max_batch",
                   arena_bytes / 1048576.0, ws, ctx->opt.max_batch, ctx->in_w, ctx->in_h,
                   cudaGetErrorString(e));
}

/* Before the plans (seconds each where cuDNN compiles engines at run time): an arena that
 * cannot fit fails now, so that a caller stepping max_batch down after an out-of-memory does
 * not build every plan again for each size that cannot fit. The probe measures at most what
 * the plans will ask for (the narrowest first-layer padding, no backward through the first
 * layer): its failure is certain, its success only likely. */
static gc_status probe_arena(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    const int32_t stop = s->guided ? -1 : ctx->target;
    const int32_t *cands;
    gc_conv_first_channels(s->dnn_dt, &cands);
    s->c0 = cands[0];
    for (int i = 1; i < m->n_layers; i++)
        s->has_bwd[i] = i > stop && m->layers[i].kind == GC_LAYER_CONV;
    arena a = {NULL, 0};
    layout(ctx, s, &a);
    memset(s->has_bwd, 0, sizeof s->has_bwd); /* build_plans decides them */
    void *probe = NULL;
    const cudaError_t e = cudaMalloc(&probe, a.used);
    if (e != cudaSuccess)
        return arena_failed(ctx, a.used, 0, e);
    GC_CUDA_TRY(&ctx->err, cudaFree(probe));
    return GC_OK;
}

/* Layer i's forward plan (unless our kernel runs it) and, when the backward passes it, its
 * backward-data plan, for N images. */
static gc_status build_layer_plans(gc_context *ctx, cuda_state *s, int i, int32_t stop)
{
    s->has_fwd[i] = (i > 0 || !s->first_conv) && !(i == 1 && s->first_conv == GC_FIRST_BLOCK);
    s->has_bwd[i] = i > stop;
    return gcu_build_layer_plans(ctx, s, i, s->N, -1, s->has_fwd[i] ? &s->fwd[i] : NULL,
                                 s->has_bwd[i] ? &s->bwd[i] : NULL);
}

size_t gcu_plans_workspace(const gc_context *ctx, const cuda_state *s)
{
    size_t ws = gcu_plan_set_workspace(ctx, s, s->fwd, s->bwd);
    if (s->half)
        ws = GC_MAX(ws, gcu_plan_set_workspace(ctx, s, s->half->fwd, s->half->bwd));
    return ws;
}

/* Every conv plan (no pointers yet: binding comes after the arena), the halves' set too (a
 * size cuDNN refuses leaves the halves to the smaller sets or the full plans, as a refused
 * power of two does). Chooses c0: the first layer's input channels, 3 when an engine takes
 * them, else padded to 4 or 8; always 8 in fp16/bf16 (16-byte channel vectors for the
 * tensor-core engines). Keeps what one set's build takes, for the rent-or-buy rule of
 * backend_plans.cu: the halves' build, else the layers after the first scaled to all of them
 * (the first layer's build also pays cuDNN's first use in the process, and its padding tries). */
static gc_status build_plans(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    const int32_t stop = s->guided ? -1 : ctx->target;
    const int32_t *cands;
    const int n_cands = gc_conv_first_channels(s->dnn_dt, &cands);
    const double t0 = gc_now_ms();
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
    const double t1 = gc_now_ms();
    int convs = 1;
    for (int i = 1; i < m->n_layers; i++)
        if (m->layers[i].kind == GC_LAYER_CONV) {
            GC_TRY(build_layer_plans(ctx, s, i, stop));
            convs += s->has_fwd[i] || s->has_bwd[i]; /* the fused first block's second conv
                                                        builds nothing (no backward there) */
        }
    const double t2 = gc_now_ms();
    s->set_build_ms = convs > 1 ? (t2 - t1) * convs / (convs - 1) : t2 - t0;
    if (s->N_half) {
        const gc_errbuf saved = ctx->err;
        st = gcu_plan_set_build(ctx, s, s->N_half, -1, &s->half);
        if (st == GC_OK)
            s->set_build_ms = gc_now_ms() - t2;
        else if (st == GC_ERR_UNSUPPORTED)
            ctx->err = saved;
        else
            return st;
    }
    s->ws_bytes = gcu_plans_workspace(ctx, s);
    return GC_OK;
}

/* The full plans and the halves' bound to the arena's buffers. */
static gc_status bind_plans(gc_context *ctx, cuda_state *s)
{
    GC_TRY(gcu_bind_plans(ctx, s, s->fwd, s->bwd));
    return s->half ? gcu_bind_plans(ctx, s, s->half->fwd, s->half->bwd) : GC_OK;
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

/* p (bytes) page-locked in place; NULL, and no error left, when refused (a locked-memory
 * limit, a range sharing pages with one registered before): the pageable copies then. */
static float *host_register(float *p, size_t bytes)
{
    if (cudaHostRegister(p, bytes, cudaHostRegisterDefault) == cudaSuccess)
        return p;
    cudaGetLastError(); /* not sticky: clear it */
    return NULL;
}

/* Who runs the first conv (GC_FIRST_*): our FMA kernel (cuda/first_conv.cu) on a conv on
 * the RGB image with a multiple of 8 outputs (every VGG) in true fp32, where it measured
 * faster than cuDNN's (H100, VGG16 b256, 2026-11-27: block1_conv1 2.67 ms against 6.03
 * unfused and 4.36 fused; 984 img/s against 823 before); in bf16 cuDNN's was faster (2.02 ms
 * against 2.13), and tf32 and fp16 were not measured, so they keep cuDNN's. GC_FIRST_CONV=ours
 * or =cudnn picks one in every precision (to measure one against the other, or to bisect);
 * =tc the tensor-core kernel (cuda/first_conv_tc.cu, not yet run on a GPU) where it applies
 * (fp16/bf16, a multiple of 16 outputs), else as =ours. */
static int first_conv_by_kernel(const gc_context *ctx, const cuda_state *s)
{
    const gc_model *m = &ctx->model;
    if (m->n_layers < 1 || m->layers[0].kind != GC_LAYER_CONV ||
        !gc_first_conv_supported(m->layers[0].cin, m->layers[0].cout))
        return GC_FIRST_CUDNN;
    const char *env = getenv("GC_FIRST_CONV");
    if (env && !strcmp(env, "cudnn"))
        return GC_FIRST_CUDNN;
    if (env && !strcmp(env, "tc"))
        return gc_first_conv_tc_supported(s->dt, m->layers[0].cin, m->layers[0].cout)
                   ? GC_FIRST_TC
                   : GC_FIRST_FMA;
    if (env && !strcmp(env, "ours"))
        return GC_FIRST_FMA;
    return s->numerics == GC_CONV_TRUE_FP32 ? GC_FIRST_FMA : GC_FIRST_CUDNN;
}

/* GC_FIRST_BLOCK=fused: the first block (conv, conv, pool) in one kernel (cuda/first_block.cu,
 * not yet run on a GPU) where it applies: fp16/bf16, two convs of 8, 16, 32 or 64 channels on
 * the RGB image and a pool, nothing below the pool wanted (the target at or above it, no
 * guided backward) and the device's shared memory for it; else as without it. */
static int first_block_fused(gc_context *ctx, cuda_state *s)
{
    const gc_model *m = &ctx->model;
    const char *env = getenv("GC_FIRST_BLOCK");
    if (!env || strcmp(env, "fused") != 0 || m->n_layers < 3 || s->guided || ctx->target < 2 ||
        m->layers[0].kind != GC_LAYER_CONV || m->layers[1].kind != GC_LAYER_CONV ||
        m->layers[2].kind != GC_LAYER_POOL || m->layers[1].cin != m->layers[0].cout ||
        !gc_first_block_supported(s->dt, m->layers[0].cin, m->layers[0].cout,
                                  m->layers[1].cout))
        return 0;
    const gc_errbuf saved = ctx->err;
    if (gc_first_block_prepare(s->device, s->dt, m->layers[0].cout, &s->fb_blocks, &ctx->err) !=
        GC_OK) {
        ctx->err = saved; /* the device has not the shared memory: the layers one by one */
        cudaGetLastError();
        return 0;
    }
    return 1;
}

/* GC_CUDA_GRAPHS=1 (run_segment): the table of graphs. */
static gc_status graphs_init(gc_context *ctx, cuda_state *s)
{
    const char *env = getenv("GC_CUDA_GRAPHS");
    if (!env || !*env || !strcmp(env, "0"))
        return GC_OK;
    s->graph_exec = (cudaGraphExec_t *)calloc((size_t)GC_GRAPH_SEGMENTS * (size_t)(s->N + 1),
                                              sizeof(cudaGraphExec_t));
    if (!s->graph_exec)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (CUDA graphs)");
    if (s->blas_ws) /* else cuBLAS could allocate during a capture: no graphs */
        s->graphs = strcmp(env, "require") == 0 ? 2 : 1;
    return GC_OK;
}

/* cuBLAS's workspace (GC_BLAS_WS), set after cublasSetStream (which resets it). When it
 * cannot be allocated, cuBLAS keeps its own pool and the context runs without graphs. */
static gc_status blas_workspace(gc_context *ctx, cuda_state *s)
{
    if (cudaMalloc(&s->blas_ws, GC_BLAS_WS) != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is not sticky */
        s->blas_ws = NULL;
        return GC_OK;
    }
    GC_CUBLAS_TRY(&ctx->err, cublasSetWorkspace(s->blas, s->blas_ws, GC_BLAS_WS));
    gcu_account(ctx, s);
    return GC_OK;
}

/* The cuDNN loaded at run time is the headers' major version and no older than they are (a
 * pip wheel's libcudnn beside a toolkit's, say, can differ; an older library may not know
 * an attribute or value the headers gave us): a clear error, not a failure somewhere in the
 * graph API. */
static gc_status check_cudnn_version(gc_context *ctx)
{
    const size_t v = cudnnGetVersion(); /* major * 10000 + minor * 100 + patch */
    if (v / 10000 == (size_t)CUDNN_MAJOR && v >= (size_t)CUDNN_VERSION)
        return GC_OK;
    return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED,
                   "CUDA backend: cuDNN %zu.%zu.%zu is loaded, but this library was built "
                   "against cuDNN %d.%d.%d: put that libcudnn.so.%d (or a later %d.x) first on "
                   "the library path", v / 10000, v / 100 % 100, v % 100, CUDNN_MAJOR,
                   CUDNN_MINOR, CUDNN_PATCHLEVEL, CUDNN_MAJOR, CUDNN_MAJOR);
}

gc_status gcu_create(gc_context *ctx, void **state)
{
    cuda_state *s = (cuda_state *)calloc(1, sizeof *s);
    if (!s)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
    *state = s;
    gc_errbuf *err = &ctx->err;
    s->device = ctx->opt.device;
    s->guided = gc_method_guided(ctx->opt.method);
    s->keep_from = s->guided ? 0 : ctx->target;
    /* GC_CUDA_RING_SLOT=BYTES: smaller copy-ring slots (tests: many chunks of few images) */
    const char *slot = getenv("GC_CUDA_RING_SLOT");
    s->ring_slot_min = slot && *slot ? (size_t)strtoull(slot, NULL, 10) : GC_RING_SLOT_BYTES;
    s->ring_slot_min = GC_MIN(s->ring_slot_min, (size_t)1 << 30);
    const char *dbg = getenv("GC_CUDA_SYNC");
    s->debug_sync = dbg && *dbg && strcmp(dbg, "0") != 0;
    /* GC_CUDA_BLOCKING_SYNC=1: sleep in a batch's waits (an experiment, off by default: the
     * command's decode and encode threads want the core a spinning wait takes) */
    const char *blk = getenv("GC_CUDA_BLOCKING_SYNC");
    s->blocking_sync = blk && !strcmp(blk, "1");
    /* GC_EARLY_RESULTS=0: the results after the batch, as before session 18 (for bisecting
     * on a GPU: the early path never ran on one before its first device run) */
    const char *early = getenv("GC_EARLY_RESULTS");
    s->early_off = early && (!strcmp(early, "0") || !strcmp(early, "off"));
    GC_TRY(set_numerics(ctx, s));
    GC_TRY(check_cudnn_version(ctx));
    GC_TRY(gcu_enter(ctx, s)); /* our device; no error of the caller's left pending */
    GC_CUDA_TRY(err, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    if (s->blocking_sync)
        GC_CUDA_TRY(err, cudaEventCreateWithFlags(&s->ev_wait, gcu_event_flags(s)));
    GC_CUDNN_TRY(err, cudnnCreate(&s->dnn));
    GC_CUDNN_TRY(err, cudnnSetStream(s->dnn, s->stream));
    GC_CUBLAS_TRY(err, cublasCreate(&s->blas));
    GC_CUBLAS_TRY(err, cublasSetStream(s->blas, s->stream));
    /* the GEMMs' compute type says it all; fp32 also forbids TF32 through the math mode */
    GC_CUBLAS_TRY(err, cublasSetMathMode(s->blas, ctx->opt.precision == GC_PRECISION_FP32
                                                      ? CUBLAS_PEDANTIC_MATH
                                                      : CUBLAS_DEFAULT_MATH));
    GC_TRY(blas_workspace(ctx, s));
    const char *graphs = getenv("GC_CUDA_GRAPHS");
    if (!s->blas_ws && graphs && !strcmp(graphs, "require")) /* none would run: say so now */
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "GC_CUDA_GRAPHS=require: no CUDA graphs without cuBLAS's own workspace "
                       "(%d MiB), which could not be allocated",
                       (int)(GC_BLAS_WS >> 20));
    s->N = ctx->opt.max_batch;
    /* gc_explain's images: uploaded as bytes, preprocessed and rendered on the GPU, unless
     * GC_CUDA_HOST_PREPROCESS=1 asks for the host path (for bisecting a mismatch) */
    const char *hp = getenv("GC_CUDA_HOST_PREPROCESS");
    s->host_preprocess = hp && *hp && strcmp(hp, "0") != 0;
    /* GC_RENDER_PIPELINE=1: gc_explain_render's batches in two overlapped halves (an
     * experiment, off by default: backend_pipeline.cu), with conv plans for the half too */
    const char *split = getenv("GC_RENDER_PIPELINE");
    s->N_half = !s->host_preprocess && s->N > 1 && split && !strcmp(split, "1") ? (s->N + 1) / 2
                                                                                : 0;
    s->geo = ctx->geo;
    s->first_conv = first_block_fused(ctx, s) ? GC_FIRST_BLOCK : first_conv_by_kernel(ctx, s);
    gcu_plans_init(s);

    GC_TRY(probe_arena(ctx, s));
    GC_TRY(build_plans(ctx, s));

    arena a = {NULL, 0};
    layout(ctx, s, &a);
    s->arena_bytes = a.used;
    cudaError_t e = cudaMalloc(&s->arena, a.used);
    if (e == cudaSuccess && s->ws_bytes > 0)
        e = cudaMalloc(&s->workspace, s->ws_bytes);
    if (e != cudaSuccess)
        return arena_failed(ctx, a.used, s->ws_bytes, e);
    gcu_account(ctx, s);
    /* zeros: images beyond n in a batch stay finite */
    GC_CUDA_TRY(err, cudaMemsetAsync(s->arena, 0, a.used, s->stream));
    arena b = {s->arena, 0};
    layout(ctx, s, &b);
    const int tune = gcu_autotune_candidates(ctx);
    if (tune > 0) /* opt-in: options.autotune / GC_CUDNN_AUTOTUNE */
        GC_TRY(gcu_autotune_plans(ctx, s, tune));
    GC_TRY(upload_weights(ctx, s));
    GC_TRY(bind_plans(ctx, s));
    GC_TRY(gcu_head_gemm_tune(ctx, s)); /* GC_HEAD_GEMM=lt only */
    for (int k = 0; k < GC_N_COLORMAPS; k++)
        GC_CUDA_TRY(err, cudaMemcpyAsync(s->d_luts + (size_t)GC_LUT_BYTES * k,
                                         gc_colormap_table((gc_colormap)k), GC_LUT_BYTES,
                                         cudaMemcpyHostToDevice, s->stream));

    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    s->h_tmp = (float *)malloc(sizeof(float) * hw * ctx->cam_c);
    s->descs = (gc_image_desc *)malloc(sizeof(gc_image_desc) * (size_t)s->N);
    if (!s->h_tmp || !s->descs)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory (host staging)");
    /* ctx->input (the host batch of gc_explain_tensor, and of gc_explain with
     * GC_CUDA_HOST_PREPROCESS) page-locked in place: its upload ran at ~8 GB/s pageable on the
     * H100 machine (18 ms for 256 images at 224x224), pinned copies run near the link's
     * ~50 GB/s. Refused (a locked-memory limit, say): the pageable copy, no error. */
    s->h_input =
        host_register(ctx->input, sizeof(float) * (size_t)s->N * ctx->in_h * ctx->in_w * 3);
    /* the results' host buffers too: their copies then queue like the rest, and the batch's
     * one wait is gcu_wait's (a copy into pageable memory returns only when the stream has
     * finished everything before it, waiting the runtime's way, whatever gcu_wait does) */
    s->h_logits = host_register(ctx->logits,
                                sizeof(float) * (size_t)s->N * (size_t)ctx->model.num_classes);
    s->h_cams = host_register(ctx->cams_raw,
                              sizeof(float) * (size_t)s->N * (size_t)ctx->cam_h * ctx->cam_w);
    /* pinned: the classes' copies are asynchronous, inside the batch's stream order */
    GC_CUDA_TRY(err, cudaHostAlloc((void **)&s->h_classes, sizeof(int32_t) * (size_t)s->N,
                                   cudaHostAllocDefault));
    /* its staging comes with the first batch of images (explain_images_impl) */
    ctx->backend_images = !s->host_preprocess;
    ctx->render_split = ctx->backend_images && s->N_half > 0;
    /* the tensor calls' copy and upload in overlapping parts (backend.cu, session 20), unless
     * GC_TENSOR_UPLOAD=whole asks for the way before: context.c's NHWC copy, one upload (for
     * bisecting, and the benchmark's same-run comparison) */
    const char *tu = getenv("GC_TENSOR_UPLOAD");
    ctx->backend_tensors = !(tu && !strcmp(tu, "whole"));
    if (ctx->opt.profile) {
        for (int k = 0; k < GC_MAX_MARKS; k++)
            GC_CUDA_TRY(err, cudaEventCreate(&s->ev[k]));
        for (int k = 0; k <= ctx->model.n_layers; k++)
            GC_CUDA_TRY(err, cudaEventCreate(&s->ev_layer[k]));
        for (int k = 0; k < GCU_STEP_EVENTS; k++)
            GC_CUDA_TRY(err, cudaEventCreate(&s->ev_step[k]));
    }
    GC_TRY(graphs_init(ctx, s));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

