/*
 * backend_batch.cu — one batch on the device, from the packed input to the raw cams: the
 * feature layers forward (cuDNN graphs, our pool kernels), the dense head (cuBLAS), the
 * class choice and score gradient (our kernel: no round trip to the host), the backward to
 * the target layer (and, for the guided methods, a second one to the input), the method's
 * channel weights and cam; with GC_CUDA_GRAPHS the whole batch is captured once per batch
 * size and replayed.
 */
#include <stdio.h>
#include <string.h>

#include "backend_state.cuh"
#include "gc_math.h"
#include "kernels.cuh"

/* The end of a profiled step after the features (gc_profile_step_ms), printf-style. */
#define STEP(...) GC_TRY(gcu_step(ctx, s, __VA_ARGS__))

/* The steps' prefix of a backward pass: the guided methods' second one is told apart. */
static const char *pass_name(int guided)
{
    return guided ? "guided backward" : "backward";
}

/* ---------------------------------------------------------------- GEMMs */

/* Y (rows, out) float = X (rows, in) W^T with X, W (out, in) of type T, all row-major
 * (gcu_dense_fwd_shape); dense layer j's. */
static gc_status dense_fwd(gc_context *ctx, cuda_state *s, int j, const void *X, const void *Wt,
                           int rows, int in, int out, float *Y)
{
    const gcu_gemm_shape g = gcu_dense_fwd_shape(rows, in, out);
    return gcu_head_gemm(ctx, s, j, 0, &g, Wt, X, Y);
}

/* Gin (rows, in) float = G (rows, out) W with the float G rounded to T first (not in
 * fp32/tf32) and W (out, in) of type T (gcu_dense_bwd_shape); dense layer j's. */
static gc_status dense_bwd(gc_context *ctx, cuda_state *s, int j, const float *G, const void *Wt,
                           int rows, int in, int out, float *Gin, const char *step)
{
    const void *g = G;
    if (s->dt != GC_DT_F32) {
        GC_TRY(gc_convert_cuda(s->stream, GC_DT_F32, G, s->dt, s->gd_t, (size_t)rows * out,
                               1.0f, &ctx->err));
        g = s->gd_t;
        STEP("%s rounding", step);
    }
    const gcu_gemm_shape sh = gcu_dense_bwd_shape(rows, in, out);
    GC_TRY(gcu_head_gemm(ctx, s, j, 1, &sh, Wt, g, Gin));
    STEP("%s GEMM", step);
    return GC_OK;
}

/* ---------------------------------------------------------------- the batch */

/* The input x (already packed) through every feature layer. */
static gc_status forward_features(gc_context *ctx, cuda_state *s, int32_t n)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const void *x = s->x;
    int32_t H = ctx->in_h, W = ctx->in_w;
    const int timed = ctx->opt.profile; /* runs without graphs (run_segment) */
    if (timed)
        GC_CUDA_TRY(err, cudaEventRecord(s->ev_layer[0], s->stream));
    int i = 0;
    if (s->first_conv == GC_FIRST_BLOCK) { /* layers 0..2 in one kernel, timed as layer 0 */
        LAYER_TRY(ctx, "forward of", "the first block",
                  gc_first_block_cuda(s->stream, s->dt, x, s->c0, s->w_fb, s->b_fb, layer_out(s, 2),
                                      n, H, W, m->layers[0].cout, s->fb_blocks,
                                      s->fb_clocks /* profiled: where its time goes */, err));
        LAYER_TRY(ctx, "forward of", "the first block", gcu_debug_sync(ctx, s));
        for (; i < 3; i++)
            if (timed)
                GC_CUDA_TRY(err, cudaEventRecord(s->ev_layer[i + 1], s->stream));
        H = s->geo.h[2];
        W = s->geo.w[2];
        x = layer_out(s, 2);
    }
    for (; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        void *y = layer_out(s, i);
        if (L->kind == GC_LAYER_POOL) {
            LAYER_TRY(ctx, "forward of", L->name,
                      gc_maxpool_fwd_cuda(s->stream, s->dt, x, n, H, W, L->cin, y, err));
        } else {
            /* a smaller batch on its own plans (backend_plans.cu): a plan runs its whole batch */
            const gc_conv_plan *p = s->cur ? &s->cur->fwd[i] : &s->fwd[i];
            const int pre = i == ctx->target && ctx->stage == GC_STAGE_PRE;
            void *out = pre ? s->pre : y;
            const size_t rows = (size_t)n * H * W;
            if (i == 0 && s->first_conv == GC_FIRST_TC) { /* bias and ReLU included */
                LAYER_TRY(ctx, "forward of", L->name,
                          gc_first_conv_tc_cuda(s->stream, s->dt, x, s->c0, s->w0_tc, s->b0,
                                                out, n, H, W, L->cout, !pre, err));
            } else if (i == 0 && s->first_conv) { /* the FMA kernel: bias and ReLU included */
                LAYER_TRY(ctx, "forward of", L->name,
                          gc_first_conv_cuda(s->stream, s->dt, x, s->c0, s->w0, out, n, H, W,
                                             L->cout, !pre, err));
            } else {
                LAYER_TRY(ctx, "forward of", L->name, gc_conv_plan_run(s->dnn, p, err));
                if (!p->fused)
                    LAYER_TRY(ctx, "forward (bias, ReLU) of", L->name,
                              gc_bias_act_cuda(s->stream, s->dt, out, s->cb[i], rows, L->cout,
                                               p->relu, err));
            }
            if (pre) /* the PRE target: keep the pre-activation, then ReLU */
                LAYER_TRY(ctx, "forward (ReLU) of", L->name,
                          gc_relu_cuda(s->stream, s->dt, out, y, rows * L->cout, err));
        }
        LAYER_TRY(ctx, "forward of", L->name, gcu_debug_sync(ctx, s));
        if (timed)
            GC_CUDA_TRY(err, cudaEventRecord(s->ev_layer[i + 1], s->stream));
        H = s->geo.h[i];
        W = s->geo.w[i];
        x = y;
    }
    s->layers_marked = timed;
    return GC_OK;
}

static gc_status forward_head(gc_context *ctx, cuda_state *s, int32_t n)
{
    const gc_model *m = &ctx->model;
    gc_errbuf *err = &ctx->err;
    const int last = m->n_layers - 1;
    const int32_t C = m->layers[last].cout, k = m->fc1_kernel;
    const int rows = n * s->geo.P * s->geo.Q;
    GC_TRY(gcu_steps_open(ctx, s));
    LAYER_TRY(ctx, "head", "average pool",
              gc_avgpool_fwd_cuda(s->stream, s->dt, s->act[last], n, s->geo.h[last],
                                  s->geo.w[last], C, s->geo.ph, s->geo.pw, s->pooled, err));
    STEP("head: average pool");
    if (!s->geo.direct_patch) {
        LAYER_TRY(ctx, "head", "patches",
                  gc_patches_cuda(s->stream, s->dt, s->pooled, n, s->geo.ph, s->geo.pw, C, k,
                                  s->patches, err));
        STEP("head: patches");
    }
    for (int j = 0; j < m->n_dense; j++) {
        const gc_dense *d = &m->dense[j];
        char name[32];
        snprintf(name, sizeof name, "dense %d", j);
        LAYER_TRY(
            ctx, "head forward,", name,
            dense_fwd(ctx, s, j, s->dense_in[j], s->dw[j], rows, d->in, d->out, s->dense_out[j]));
        STEP("head: %s GEMM", name);
        const int hidden = j + 1 < m->n_dense;
        LAYER_TRY(ctx, "head forward (bias, ReLU),", name,
                  gc_bias_act_cuda(s->stream, GC_DT_F32, s->dense_out[j], s->db[j],
                                   (size_t)rows, d->out, hidden, err));
        STEP("head: %s bias%s", name, hidden ? ", ReLU" : "");
        if (hidden && s->dt != GC_DT_F32) {
            LAYER_TRY(ctx, "head forward (rounding),", name,
                      gc_convert_cuda(s->stream, GC_DT_F32, s->dense_out[j], s->dt,
                                      s->dense_in[j + 1], (size_t)rows * d->out, 1.0f, err));
            STEP("head: %s rounding", name);
        }
    }
    LAYER_TRY(ctx, "head", "logits",
              gc_mean_positions_cuda(s->stream, s->dense_out[m->n_dense - 1], n,
                                     s->geo.P * s->geo.Q, m->num_classes, s->logits, err));
    STEP("head: logits");
    LAYER_TRY(ctx, "head", "forward", gcu_debug_sync(ctx, s));
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
    const char *pass = pass_name(guided);
    float *g = s->gd_a, *other = s->gd_b;
    for (int j = m->n_dense - 1; j >= 1; j--) {
        const gc_dense *d = &m->dense[j];
        char name[32], step[64];
        snprintf(name, sizeof name, "dense %d", j);
        snprintf(step, sizeof step, "%s: %s", pass, name);
        LAYER_TRY(ctx, "head backward,", name,
                  dense_bwd(ctx, s, j, g, s->dw[j], rows, d->in, d->out, other, step));
        LAYER_TRY(ctx, "head backward (ReLU),", name,
                  gc_relu_mask_cuda(s->stream, GC_DT_F32, other, s->dense_out[j - 1],
                                    (size_t)rows * d->in, guided, err));
        STEP("%s ReLU", step);
        float *t = g;
        g = other;
        other = t;
    }
    const gc_dense *d0 = &m->dense[0];
    char step0[64];
    snprintf(step0, sizeof step0, "%s: dense 0", pass);
    LAYER_TRY(ctx, "head backward,", "dense 0",
              dense_bwd(ctx, s, 0, g, s->dw[0], rows, d0->in, d0->out, s->g_patch, step0));
    const float *g_pooled = s->g_patch;
    if (!s->geo.direct_patch) {
        LAYER_TRY(ctx, "head backward,", "patches",
                  gc_patches_bwd_cuda(s->stream, s->g_patch, n, s->geo.ph, s->geo.pw, C, k,
                                      s->g_pool, err));
        STEP("%s: patches", pass);
        g_pooled = s->g_pool;
    }
    LAYER_TRY(ctx, "head backward,", "average pool",
              gc_avgpool_bwd_cuda(s->stream, g_pooled, n, s->geo.h[last], s->geo.w[last], C,
                                  s->geo.ph, s->geo.pw, s->dt, s->g_a, err));
    STEP("%s: average pool", pass);
    LAYER_TRY(ctx, "head", "backward", gcu_debug_sync(ctx, s));
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
    const char *pass = pass_name(guided);
    GC_TRY(backward_head(ctx, s, n, guided));
    void *g = s->g_a, *other = s->g_b;
    for (int i = m->n_layers - 1; i > stop; i--) {
        const gc_layer *L = &m->layers[i];
        const int32_t H = i ? s->geo.h[i - 1] : ctx->in_h, W = i ? s->geo.w[i - 1] : ctx->in_w;
        if (L->kind == GC_LAYER_POOL) {
            LAYER_TRY(ctx, "backward of", L->name,
                      gc_maxpool_bwd_cuda(s->stream, s->dt, s->act[i - 1], g, n, H, W, L->cin,
                                          other, err));
            STEP("%s: %s", pass, L->name);
        } else {
            LAYER_TRY(ctx, "backward (ReLU) of", L->name,
                      gc_relu_mask_cuda(s->stream, s->dt, g, s->act[i],
                                        (size_t)n * H * W * L->cout, guided, err));
            STEP("%s: %s ReLU", pass, L->name);
            LAYER_TRY(ctx, "backward-data of", L->name,
                      gc_conv_plan_run(s->dnn, s->cur ? &s->cur->bwd[i] : &s->bwd[i],
                                       err)); /* bound: g -> other */
            STEP("%s: %s data", pass, L->name);
        }
        LAYER_TRY(ctx, "backward of", L->name, gcu_debug_sync(ctx, s));
        void *t = g;
        g = other;
        other = t;
    }
    *out = g;
    return GC_OK;
}

/* Upload of a host batch (n, H, W, 3) NHWC and its packing into x. */
gc_status gcu_upload_host_input(gc_context *ctx, cuda_state *s, const float *input, int32_t n)
{
    const size_t HW = (size_t)ctx->in_h * ctx->in_w;
    s->x_stage_nchw = 0;
    GC_CUDA_TRY(&ctx->err, cudaMemcpyAsync(s->x_stage, input, sizeof(float) * (size_t)n * HW * 3,
                                           cudaMemcpyHostToDevice, s->stream));
    GC_TRY(gc_pack_input_cuda(s->stream, s->x_stage, 3 * HW, 1, 3, n, ctx->in_h, ctx->in_w,
                              s->c0, s->dt, s->x, &ctx->err));
    return GC_OK;
}

/* ---------------------------------------------------------------- CUDA graphs (opt-in)
 * GC_CUDA_GRAPHS=1: a batch's device work between two host interactions — the forward from
 * the packed input to the logits (gc_predict, and gc_explain's first segment), and the rest
 * from the logits and the uploaded classes to the cam (gc_explain's second, every method;
 * the logits' early download goes between the two) — runs directly the first time
 * for a batch size n (libraries set themselves up at their first call, which must not happen
 * inside a capture), is then captured into a CUDA graph (recorded, not run) and replayed from
 * the next call on: one launch instead of dozens. Every pointer in it is fixed (the arena,
 * the plans' variant packs, cuBLAS's workspace); copies from and to the caller's memory stay
 * outside. Not while profiling or with GC_CUDA_SYNC (both act between stages). A capture that
 * fails (an engine that cannot be captured, say) turns graphs off for the context, which goes
 * on running the work directly (GC_CUDA_GRAPHS=require, for tests: fails the call instead,
 * saying why). Off by default until its gain is measured on a GPU (bench: GC_CUDA_GRAPHS=1). */
enum { SEG_FORWARD = 0, SEG_BACKWARD = 1 }; /* GC_GRAPH_SEGMENTS of them */
typedef gc_status (*segment_fn)(gc_context *ctx, cuda_state *s, int32_t n);

/* The segment recorded into *slot (its work already ran directly for this batch). On a
 * capture failure: GC_CUDA_GRAPHS=require fails, saying why; otherwise graphs are turned off
 * for the context, the message restored, GC_OK. */
static gc_status capture_segment(gc_context *ctx, cuda_state *s, int seg, int32_t n,
                                 segment_fn fn, cudaGraphExec_t *slot)
{
    const gc_errbuf saved = ctx->err;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal);
    const int began = e == cudaSuccess;
    gc_status st = GC_ERR_BACKEND;
    if (began) {
        st = fn(ctx, s, n);
        e = cudaStreamEndCapture(s->stream, &graph); /* always leave capture mode */
    }
    if (st == GC_OK && e == cudaSuccess)
        e = cudaGraphInstantiate(slot, graph, 0);
    if (graph)
        cudaGraphDestroy(graph);
    if (st == GC_OK && e == cudaSuccess)
        return GC_OK;
    *slot = NULL;
    const cudaError_t last = cudaGetLastError();
    if (gc_cuda_error_is_sticky(e) || gc_cuda_error_is_sticky(last))
        return gc_fail(&ctx->err, GC_ERR_BACKEND, "CUDA graph capture: %s",
                       cudaGetErrorString(gc_cuda_error_is_sticky(e) ? e : last));
    if (s->graphs == 2) { /* GC_CUDA_GRAPHS=require (tests): say why, do not hide it */
        if (st == GC_OK || !began) /* a CUDA call failed: its text, not a stale message */
            gc_fail(&ctx->err, GC_ERR_BACKEND, "%s (%s)", cudaGetErrorName(e),
                    cudaGetErrorString(e));
        gc_err_prefix(&ctx->err, "CUDA graph capture of the %s (n %d) failed: ",
                      seg == SEG_FORWARD ? "forward" : "backward", n);
        return st != GC_OK ? st : GC_ERR_BACKEND;
    }
    s->graphs = 0; /* not capturable here: this context runs without graphs from now on */
    ctx->err = saved;
    return GC_OK;
}

static gc_status run_segment(gc_context *ctx, cuda_state *s, int seg, int32_t n, segment_fn fn)
{
    /* s->cur: the plans for n, which fn's graph records; the backward segment always follows
       its batch's forward and runs the set that chose (conv_images counted once a batch) */
    if (seg == SEG_FORWARD)
        GC_TRY(gcu_plans_select(ctx, s, n));
    if (!s->graphs || ctx->opt.profile || s->debug_sync)
        return fn(ctx, s, n);
    cudaGraphExec_t *slot = &s->graph_exec[(size_t)seg * (size_t)(s->N + 1) + (size_t)n];
    if (!*slot) { /* the first batch of n: run it, then record it for the next ones */
        GC_TRY(fn(ctx, s, n));
        return capture_segment(ctx, s, seg, n, fn, slot);
    }
    GC_CUDA_TRY(&ctx->err, cudaGraphLaunch(*slot, s->stream));
    return GC_OK;
}

/* The forward from the packed input x to the logits, on the device. */
static gc_status forward_segment(gc_context *ctx, cuda_state *s, int32_t n)
{
    GC_TRY(forward_features(ctx, s, n));
    GC_TRY(gcu_mark(ctx, s, PROF_FEATURES));
    GC_TRY(forward_head(ctx, s, n));
    return gcu_mark(ctx, s, PROF_HEAD);
}

/* Forward of the packed batch, logits to the host (synchronizes). */
gc_status gcu_forward_to_logits(gc_context *ctx, cuda_state *s, int32_t n, float *logits)
{
    GC_TRY(run_segment(ctx, s, SEG_FORWARD, n, forward_segment));
    GC_CUDA_TRY(&ctx->err,
                cudaMemcpyAsync(logits, s->logits,
                                sizeof(float) * (size_t)n * ctx->model.num_classes,
                                cudaMemcpyDeviceToHost, s->stream));
    GC_TRY(gcu_mark(ctx, s, PROF_DOWNLOAD));
    return gcu_wait(ctx, s);
}

/* The explained classes (s->classes: asked for, or -1 before) and the score gradient into
 * gd_a, from the logits on the device. */
static gc_status score_gradient(gc_context *ctx, cuda_state *s, int32_t n)
{
    const int32_t PQ = s->geo.P * s->geo.Q;
    LAYER_TRY(ctx, "head", "score gradient",
              gc_score_grad_cuda(s->stream, s->logits, n, PQ, ctx->model.num_classes,
                                 ctx->opt.score == GC_SCORE_SOFTMAX,
                                 gc_score_scale(ctx->opt.counterfactual, PQ), s->gscale,
                                 s->classes, s->score_stats, s->gd_a, &ctx->err));
    STEP("head: class and score gradient");
    return GC_OK;
}

/* From the score gradient in gd_a to dy/dA at the target (s->grad, type T, times gscale:
 * the cam kernels and gc_tensor_get read it as it is). */
static gc_status backward_to_target(gc_context *ctx, cuda_state *s, int32_t n)
{
    gc_errbuf *err = &ctx->err;
    const int32_t T = ctx->target;
    const size_t len = (size_t)n * ctx->cam_h * ctx->cam_w * ctx->cam_c;
    void *g;
    GC_TRY(backward_features(ctx, s, n, T, 0, &g));
    if (ctx->stage == GC_STAGE_PRE) {
        LAYER_TRY(ctx, "backward (ReLU) of", ctx->target_name,
                  gc_relu_mask_cuda(s->stream, s->dt, g, s->act[T], len, 0, err));
        STEP("backward: %s ReLU", ctx->target_name);
    }
    if (s->guided) { /* the second backward reuses g_a and g_b */
        GC_CUDA_TRY(err, cudaMemcpyAsync(s->grad_keep, g, len * s->es, cudaMemcpyDeviceToDevice,
                                         s->stream));
        g = s->grad_keep;
        STEP("backward: the gradient kept");
    }
    s->grad = g;
    return GC_OK;
}

/* The method's channel weights and the raw cam from A and the gradient. */
static gc_status cam_kernels(gc_context *ctx, cuda_state *s, int32_t n)
{
    gc_errbuf *err = &ctx->err;
    const int32_t hw = ctx->cam_h * ctx->cam_w, Kc = ctx->cam_c;
    const int method = (int)ctx->opt.method;
    const float gs = 1.0f / s->gscale;
    GC_TRY(
        gc_cam_weights_cuda(s->stream, method, s->dt, s->A, s->grad, gs, n, hw, Kc, s->alpha, err));
    STEP("cam: channel weights");
    GC_TRY(
        gc_cam_cuda(s->stream, method, s->dt, s->A, s->grad, gs, s->alpha, n, hw, Kc, s->cam, err));
    STEP("cam: map");
    return gcu_mark(ctx, s, PROF_CAM);
}

/* The rest of a batch on the device after forward_segment, from the logits and the uploaded
 * classes to the cam (one graph segment): class choice and score gradient, backward(s), cam. */
static gc_status backward_segment(gc_context *ctx, cuda_state *s, int32_t n)
{
    GC_TRY(score_gradient(ctx, s, n));
    GC_TRY(gcu_mark(ctx, s, PROF_HEAD));
    GC_TRY(backward_to_target(ctx, s, n));
    if (s->guided) { /* the same score again (gd_a was used up), down to the input with the
                        guided rule */
        GC_TRY(score_gradient(ctx, s, n));
        void *g;
        GC_TRY(backward_features(ctx, s, n, -1, 1, &g));
        GC_TRY(gc_unpack_grad_cuda(s->stream, s->dt, g, n, ctx->in_h, ctx->in_w, s->c0,
                                   1.0f / s->gscale, s->guided_in, &ctx->err));
        STEP("guided backward: the input's gradient unpacked");
    }
    GC_TRY(gcu_mark(ctx, s, PROF_BACKWARD));
    return cam_kernels(ctx, s, n);
}

/* Everything after the input is packed: the classes up, the forward (forward_segment) and
 * the rest (backward_segment), then the classes, logits and cams down. With logits_early the
 * logits go down on `copy` between the two segments (outside any graph), overlapping the
 * backward. */
gc_status gcu_explain_enqueue(gc_context *ctx, cuda_state *s, int32_t n, const int32_t *classes,
                              int32_t *h_cls, float *logits, float *cams_raw, int logits_early)
{
    gc_errbuf *err = &ctx->err;
    const size_t logit_bytes = sizeof(float) * (size_t)n * ctx->model.num_classes;
    for (int32_t i = 0; i < n; i++) /* pinned: the copy is asynchronous */
        h_cls[i] = classes ? classes[i] : -1;
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->classes, h_cls, sizeof(int32_t) * (size_t)n,
                                     cudaMemcpyHostToDevice, s->stream));
    GC_TRY(gcu_mark(ctx, s, PROF_UPLOAD));
    GC_TRY(run_segment(ctx, s, SEG_FORWARD, n, forward_segment));
    if (logits_early) {
        GC_CUDA_TRY(err, cudaEventRecord(s->ev_head, s->stream));
        GC_CUDA_TRY(err, cudaStreamWaitEvent(s->copy, s->ev_head, 0));
        GC_CUDA_TRY(
            err, cudaMemcpyAsync(logits, s->logits, logit_bytes, cudaMemcpyDeviceToHost, s->copy));
        GC_CUDA_TRY(err, cudaEventRecord(s->ev_logits, s->copy));
    }
    GC_TRY(run_segment(ctx, s, SEG_BACKWARD, n, backward_segment));
    /* after the backward (which the copy overlaps): the next batch's head must not overwrite
       s->logits under the copy (a failed call's gcu_settle drains `copy` too) */
    if (logits_early)
        GC_CUDA_TRY(err, cudaStreamWaitEvent(s->stream, s->ev_logits, 0));
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    GC_CUDA_TRY(err, cudaMemcpyAsync(h_cls, s->classes, sizeof(int32_t) * (size_t)n,
                                     cudaMemcpyDeviceToHost, s->stream));
    if (!logits_early)
        GC_CUDA_TRY(err, cudaMemcpyAsync(logits, s->logits, logit_bytes, cudaMemcpyDeviceToHost,
                                         s->stream));
    GC_CUDA_TRY(err, cudaMemcpyAsync(cams_raw, s->cam, sizeof(float) * (size_t)n * hw,
                                     cudaMemcpyDeviceToHost, s->stream));
    return gcu_mark(ctx, s, PROF_DOWNLOAD);
}

/* The copy stream and the early logits' events, made at the first batch that wants them. */
static gc_status early_resources(gc_context *ctx, cuda_state *s)
{
    GC_TRY(gcu_copy_stream(ctx, s));
    GC_TRY(gcu_event_once(ctx, &s->ev_head, cudaEventDisableTiming));
    return gcu_event_once(ctx, &s->ev_logits, gcu_event_flags(s));
}

gc_status gcu_explain_packed(gc_context *ctx, cuda_state *s, int32_t n,
                                const int32_t *classes, float *logits, int32_t *class_ids,
                                float *cams_raw)
{
    /* the results from the logits while the backward runs (~0.3 ms of host work for 256
       ImageNet images, which otherwise followed the batch with the GPU idle); only into
       page-locked logits and cams (a copy into pageable memory returns once it is done: the
       logits' would hold this thread until the head is done, with the backward not yet
       queued; the cams', queued before the host's early work, until the batch is done) */
    const int early =
        gc_early_wanted(ctx) && logits == s->h_logits && cams_raw == s->h_cams && !s->early_off;
    if (early)
        GC_TRY(early_resources(ctx, s));
    GC_TRY(gcu_explain_enqueue(ctx, s, n, classes, s->h_classes, logits, cams_raw, early));
    if (early) {
        GC_CUDA_TRY(&ctx->err, cudaEventSynchronize(s->ev_logits));
        gc_early_results(ctx, n);
    }
    GC_TRY(gcu_wait(ctx, s));
    memcpy(class_ids, s->h_classes, sizeof(int32_t) * (size_t)n);
    GC_TRY(gcu_prof_collect(ctx, s));
    return GC_OK;
}
