/*
 * backend_autotune.cu — opt-in engine autotuning at context creation (options.autotune,
 * GC_CUDNN_AUTOTUNE): each conv plan timed against other engine configs of the heuristics on
 * the context's own buffers, the fastest kept, choices remembered on disk (plan_cache.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_state.cuh"
#include "plan_cache.h"

/* ---------------------------------------------------------------- autotuning (opt-in)
 * options.autotune, or GC_CUDNN_AUTOTUNE in the environment (which overrides it: 0 off, 1 on,
 * n > 1 up to n candidates). Off, none of this runs. */
#define GC_AUTOTUNE_CANDIDATES 8          /* per plan, besides the default (autotune = 1)   */
#define GC_AUTOTUNE_MAX_CANDIDATES 64
#define GC_AUTOTUNE_WS_CAP ((int64_t)256 << 20) /* bytes of workspace a candidate may use */
#define GC_AUTOTUNE_SECONDS 60.0          /* per context; GC_CUDNN_AUTOTUNE_SECONDS         */

/* Candidates per plan (0: no autotuning). */
int gcu_autotune_candidates(const gc_context *ctx)
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
void gcu_report_line(gc_context *ctx, const char *fmt, ...)
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
            gcu_report_line(ctx, "%s %s: %s (cached) [%.2f s]", dir, name, cached,
                            gc_conv_tuner_now() - l0);
            run->n_plans++;
            run->cached++;
            run->changed += p->plan != before;
            return GC_OK;
        }
        gcu_report_line(ctx, "%s %s: the cached %s is not offered any more: timing again", dir,
                        name, cached);
    }
    run->t->out_of_time = 0;
    if (l0 > run->t->deadline_s) {
        gcu_report_line(ctx, "%s %s: default kept (time budget spent)", dir, name);
        return GC_OK;
    }
    char line[400];
    gc_status st = gc_conv_plan_tune(s->dnn, run->t, p, s->numerics, x, w, b, y, line,
                                     sizeof line, err);
    if (st != GC_OK) {
        gc_err_prefix(err, "CUDA backend, autotuning the %s of %s: ", dir, name);
        return st;
    }
    gcu_report_line(ctx, "%s %s: %s [%.2f s]", dir, name, line, gc_conv_tuner_now() - l0);
    run->n_plans++;
    run->changed += p->plan != before;
    /* a search cut short by the time budget is not a choice worth keeping */
    if (!run->t->out_of_time) {
        gc_conv_plan_tag(p, tag, sizeof tag);
        if (strncmp(tag, "eng?", 4) != 0 && strcmp(tag, "default") != 0 &&
            gc_plan_cache_add(&run->cache, key, tag, why, sizeof why) != 0 &&
            !run->cache_failed++)
            gcu_report_line(ctx, "plan cache: %s", why);
    }
    return GC_OK;
}

/* Every conv plan timed against the heuristics' other candidates on the arena's buffers (as
 * bind_plans binds them), filled with random values first; the fastest kept. Then the arena
 * is zeroed again (as create leaves it) and the workspace grown when a winner needs more.
 * Runs after layout() and before upload_weights() and bind_plans(). */
gc_status gcu_autotune_plans(gc_context *ctx, cuda_state *s, int n_cands)
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
    gcu_report_line(ctx,
                    "cuDNN autotune: %s, max_batch %d, %dx%d, up to %d candidates per conv "
                    "(heuristics A then B), workspace cap %.0f MiB, min of %d runs after %d "
                    "warm-up%s",
                    gc_precision_name(ctx->opt.precision), s->N, ctx->in_w, ctx->in_h, n_cands,
                    cap / 1048576.0, t.iters, t.warmup,
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
        gcu_report_line(ctx, "plan cache off: %s", why);
    else if (cache_path)
        gcu_report_line(ctx, "plan cache: %s (%d choices)", cache_path, run.cache.n);
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
    const size_t ws = gcu_plans_workspace(ctx, s);
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
        gcu_account(ctx, s);
    }
    gcu_report_line(ctx,
                    "cuDNN autotune: %d plans tuned (%d from the plan cache), %d changed, "
                    "workspace %.1f MiB, %.2f s",
                    run.n_plans, run.cached, run.changed, s->ws_bytes / 1048576.0,
                    gc_conv_tuner_now() - t0);
    return GC_OK;
}

