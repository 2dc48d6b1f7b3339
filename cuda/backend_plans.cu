/*
 * backend_plans.cu — conv plans for batches smaller than max_batch.
 *
 * A cuDNN execution plan runs the whole batch it was built for: a call of n images on the
 * plans for N (max_batch) costs N images' convolutions, the images past n computing zeros.
 * Besides the full plans (backend_create.cu), a context may hold sets of plans for fewer
 * images (gcu_plan_set), bound to the same buffers (their first images) and the same
 * workspace, and a batch runs on the smallest one that holds it (s->cur; NULL: the full
 * plans):
 *   - the halves' (N_half, GC_RENDER_PIPELINE=1), built at create;
 *   - one for each power of two 2^k below N, built while batches run, as GC_BATCH_PLANS says:
 *     "auto" (the default) builds the set for 2^k once the batches of (2^(k-1), 2^k] images
 *     have spent, on the images their plans ran beyond 2^k, as much time as building a set
 *     takes (measured at create, then at each build). This is the rent-or-buy rule: whatever
 *     the calls to come, it never costs more than twice the better of building at the first
 *     such call and never building. A one-off small batch (a run's last) builds nothing;
 *     a caller whose every call is small pays about one set's build, once.
 *     "eager" builds at the first such batch; "off" never builds (every small batch then
 *     costs a whole one, as before); a number N is "auto" with N ms in place of the build's
 *     measured time.
 * The time a call spent counts from its batch's start to the call's end (gcu_settle), so
 * the host's part of the call (uploads, render, downloads) counts as waste too: builds come
 * somewhat early, never late. A set whose build fails (an engine refusing the size, a larger
 * workspace than the context's) is not tried again; the batch runs on the full plans.
 * With autotuning, the sets take the heuristics' engines (tuning runs at create only).
 */
#include <stdlib.h>
#include <string.h>

#include "backend_state.cuh"

/* 0 for 1, else the smallest k with 2^k >= n */
static int ceil_log2(int32_t n)
{
    int k = 0;
    while (k < 31 && ((int32_t)1 << k) < n)
        k++;
    return k;
}

/* Layer i's forward plan into pf and its backward-data plan into pb, for n images (either
 * pointer NULL: not that one). */
gc_status gcu_build_layer_plans(gc_context *ctx, cuda_state *s, int i, int32_t n, int64_t ws_cap,
                                gc_conv_plan *pf, gc_conv_plan *pb)
{
    const gc_layer *L = &ctx->model.layers[i];
    const int32_t H = s->geo.h[i], W = s->geo.w[i], ci = conv_cin(ctx, s, i);
    const int pre = i == ctx->target && ctx->stage == GC_STAGE_PRE;
    const char *size = n == s->N ? "" : " (fewer images)";
    gc_status st = GC_OK;
    if (pf)
        st = gc_conv_plan_build_capped(s->dnn, s->dnn_dt, n, H, W, ci, L->cout, 1, !pre,
                                       s->numerics, ws_cap, pf, &ctx->err);
    if (st != GC_OK) {
        gc_err_prefix(&ctx->err, "CUDA backend, plan%s for the forward of %s: ", size, L->name);
        return st;
    }
    if (pb)
        st = gc_conv_plan_build_capped(s->dnn, s->dnn_dt, n, H, W, L->cout, ci, 0, 0, s->numerics,
                                       ws_cap, pb, &ctx->err);
    if (st != GC_OK)
        gc_err_prefix(&ctx->err, "CUDA backend, plan%s for the backward-data of %s: ", size,
                      L->name);
    return st;
}

void gcu_plan_set_free(gcu_plan_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < GC_MAX_LAYERS; i++) {
        gc_conv_plan_free(&set->fwd[i]);
        gc_conv_plan_free(&set->bwd[i]);
    }
    free(set);
}

gc_status gcu_plan_set_build(gc_context *ctx, cuda_state *s, int32_t n, int64_t ws_cap,
                             gcu_plan_set **out)
{
    *out = NULL;
    gcu_plan_set *set = (gcu_plan_set *)calloc(1, sizeof *set);
    if (!set)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory (conv plans for %d images)",
                       n);
    set->n = n;
    for (int i = 0; i < ctx->model.n_layers; i++) {
        const gc_status st =
            gcu_build_layer_plans(ctx, s, i, n, ws_cap, s->has_fwd[i] ? &set->fwd[i] : NULL,
                                  s->has_bwd[i] ? &set->bwd[i] : NULL);
        if (st != GC_OK) {
            gcu_plan_set_free(set);
            return st;
        }
    }
    *out = set;
    return GC_OK;
}

size_t gcu_plan_set_workspace(const gc_context *ctx, const cuda_state *s, const gc_conv_plan *fwd,
                              const gc_conv_plan *bwd)
{
    size_t ws = 0;
    for (int i = 0; i < ctx->model.n_layers; i++) {
        if (s->has_fwd[i])
            ws = GC_MAX(ws, (size_t)fwd[i].workspace);
        if (s->has_bwd[i])
            ws = GC_MAX(ws, (size_t)bwd[i].workspace);
    }
    return ws;
}

/* The variant packs: fixed pointers, as forward_features() and backward_features() use them.
 * Every backward starts with the gradient in g_a at the last layer and alternates g_a / g_b
 * layer by layer, so a layer's buffers are the same in the normal and the guided backward. A
 * set for fewer images takes the first images of the same buffers (NHWC: no stride depends on
 * the batch). */
gc_status gcu_bind_plans(gc_context *ctx, cuda_state *s, gc_conv_plan *fwd, gc_conv_plan *bwd)
{
    const gc_model *m = &ctx->model;
    const void *x = s->x;
    for (int i = 0; i < m->n_layers; i++) {
        void *y = layer_out(s, i);
        if (s->has_fwd[i]) {
            const int pre = i == ctx->target && ctx->stage == GC_STAGE_PRE;
            LAYER_TRY(ctx, "CUDA backend, binding the forward of", m->layers[i].name,
                      gc_conv_plan_bind(&fwd[i], x, s->cw[i], s->cb[i], pre ? s->pre : y,
                                        s->workspace, &ctx->err));
        }
        x = y;
    }
    void *g = s->g_a, *other = s->g_b;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        if (s->has_bwd[i])
            LAYER_TRY(
                ctx, "CUDA backend, binding the backward-data of", m->layers[i].name,
                gc_conv_plan_bind(&bwd[i], g, s->wflip[i], NULL, other, s->workspace, &ctx->err));
        void *t = g;
        g = other;
        other = t;
    }
    return GC_OK;
}

void gcu_plans_init(cuda_state *s)
{
    const char *e = getenv("GC_BATCH_PLANS");
    const int off = e && (!strcmp(e, "off") || !strcmp(e, "0") || !strcmp(e, "no") ||
                          !strcmp(e, "false") || !strcmp(e, "never"));
    s->batch_plans = off ? GCU_SETS_OFF : e && !strcmp(e, "eager") ? GCU_SETS_EAGER : GCU_SETS_AUTO;
    /* a number: auto, with that many milliseconds in place of the measured build */
    char *end = NULL;
    const double ms = e && *e ? strtod(e, &end) : -1.0;
    s->fixed_build_ms = end && !*end && ms >= 0.0 ? ms : -1.0;
    s->call_k = -1;
}

void gcu_plans_free(cuda_state *s)
{
    gcu_plan_set_free(s->half);
    s->half = NULL;
    for (int k = 0; k < GCU_POW2_SETS; k++) {
        gcu_plan_set_free(s->pow2[k]);
        s->pow2[k] = NULL;
    }
    s->cur = NULL;
}

/* The smallest set that holds n images; NULL: the full plans. */
static const gcu_plan_set *smallest_holding(const cuda_state *s, int32_t n)
{
    const gcu_plan_set *best = s->half && n <= s->half->n ? s->half : NULL;
    for (int k = ceil_log2(n); k < GCU_POW2_SETS; k++)
        if (s->pow2[k]) { /* the first from 2^ceil(log2 n) up is the smallest power */
            if (!best || s->pow2[k]->n < best->n)
                best = s->pow2[k];
            break;
        }
    return best;
}

/* The graphs recorded for the batch sizes that now run on `set` ran on other plans: gone,
 * recorded again at their next batch (whose first run is direct: cuDNN's first use of the
 * new plans happens outside a capture). */
static void forget_graphs(cuda_state *s, const gcu_plan_set *set)
{
    if (!s->graph_exec)
        return;
    for (int32_t n = 1; n <= set->n && n <= s->N; n++) {
        if (smallest_holding(s, n) != set)
            continue;
        for (int seg = 0; seg < GC_GRAPH_SEGMENTS; seg++) {
            cudaGraphExec_t *slot = &s->graph_exec[(size_t)seg * (size_t)(s->N + 1) + (size_t)n];
            if (*slot)
                cudaGraphExecDestroy(*slot);
            *slot = NULL;
        }
    }
}

/* The set for 2^k images, built and bound; a failure other than a dead CUDA context refuses
 * the size for good (the batch goes on with the plans it has) and leaves no message. */
static gc_status build_pow2(gc_context *ctx, cuda_state *s, int k)
{
    const gc_errbuf saved = ctx->err;
    /* nothing of an earlier batch in flight (the split's first half): the graphs' slots are
     * replaced and cuDNN may allocate while it builds */
    GC_TRY(gcu_wait(ctx, s));
    const double t0 = gc_now_ms();
    gcu_plan_set *set = NULL;
    /* engine configs needing more workspace than the context's are passed over (at small
     * batches cuDNN may rank split-K engines with large workspaces first) */
    gc_status st = gcu_plan_set_build(ctx, s, (int32_t)1 << k, (int64_t)s->ws_bytes, &set);
    if (st == GC_OK)
        st = gcu_bind_plans(ctx, s, set->fwd, set->bwd);
    if (st != GC_OK) {
        gcu_plan_set_free(set);
        const cudaError_t last = cudaGetLastError();
        if (gc_cuda_error_is_sticky(last) || gc_cuda_error_is_sticky(cudaPeekAtLastError()))
            return st; /* gcu_settle says what happened */
        s->pow2_refused[k] = 1;
        ctx->err = saved;
        return GC_OK;
    }
    s->pow2[k] = set;
    s->set_build_ms = gc_now_ms() - t0;
    forget_graphs(s, set);
    return GC_OK;
}

gc_status gcu_plans_select(gc_context *ctx, cuda_state *s, int32_t n)
{
    const int k = ceil_log2(n);
    const gcu_plan_set *have = smallest_holding(s, n);
    const int32_t runs = have ? have->n : s->N;
    const int fits = k < GCU_POW2_SETS && ((int32_t)1 << k) < runs && !s->pow2_refused[k];
    if (fits && s->batch_plans != GCU_SETS_OFF &&
        (s->batch_plans == GCU_SETS_EAGER ||
         s->pow2_waste_ms[k] >= (s->fixed_build_ms >= 0.0 ? s->fixed_build_ms : s->set_build_ms))) {
        GC_TRY(build_pow2(ctx, s, k));
        have = smallest_holding(s, n);
    }
    s->cur = have;
    const int32_t ran = have ? have->n : s->N;
    ctx->prof.conv_images = (s->call_segs++ ? ctx->prof.conv_images : 0) + ran;
    if (s->call_k < 0 && s->batch_plans == GCU_SETS_AUTO && k < GCU_POW2_SETS &&
        ((int32_t)1 << k) < ran && !s->pow2_refused[k]) {
        s->call_k = k;
        s->call_frac = 1.0 - (double)((int32_t)1 << k) / ran;
        s->call_t0 = gc_now_ms();
    }
    return GC_OK;
}

void gcu_plans_call_end(cuda_state *s)
{
    if (s->call_k >= 0)
        s->pow2_waste_ms[s->call_k] += (gc_now_ms() - s->call_t0) * s->call_frac;
    s->call_k = -1;
    s->call_segs = 0;
}
