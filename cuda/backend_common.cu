/*
 * backend_common.cu — what every entry point of the CUDA backend goes through: the device
 * probe, the error entry and exit of a batch call (a sticky fault makes the context unusable
 * and says so), and the profiling marks (CUDA events between stages).
 */
#include <stdarg.h>
#include <stdio.h>

#include "backend_state.cuh"

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
    if (e == cudaErrorInsufficientDriver) /* what the runtime says when there is none at all */
        return gc_fail(err, GC_ERR_BACKEND,
                       "no usable NVIDIA driver (none installed, or older than this build's "
                       "CUDA %d.%d runtime needs): %s",
                       CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10, cudaGetErrorName(e));
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

/* GC_CUDA_SYNC: wait for the stream, so that a fault is reported by the step that caused it */
gc_status gcu_debug_sync(gc_context *ctx, cuda_state *s)
{
    if (s->debug_sync)
        GC_CUDA_TRY(&ctx->err, cudaStreamSynchronize(s->stream));
    return GC_OK;
}

gc_status gcu_wait(gc_context *ctx, cuda_state *s)
{
    if (!s->blocking_sync) {
        GC_CUDA_TRY(&ctx->err, cudaStreamSynchronize(s->stream));
        return GC_OK;
    }
    GC_CUDA_TRY(&ctx->err, cudaEventRecord(s->ev_wait, s->stream));
    GC_CUDA_TRY(&ctx->err, cudaEventSynchronize(s->ev_wait));
    return GC_OK;
}

unsigned gcu_event_flags(const cuda_state *s)
{
    return cudaEventDisableTiming | (s->blocking_sync ? cudaEventBlockingSync : 0u);
}

/* At the entry of every batch call: our device, and no fault left over from earlier work. */
gc_status gcu_enter(gc_context *ctx, cuda_state *s)
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
gc_status gcu_settle(gc_context *ctx, cuda_state *s, gc_status st, const char *op)
{
    gcu_plans_call_end(s);
    if (st == GC_OK)
        return GC_OK;
    cudaError_t last = cudaGetLastError();
    cudaError_t sync = cudaStreamSynchronize(s->stream);
    if (s->copy) { /* the early logits' copy, the halves' copies: drained even after a fault
                      (nothing may still write into memory the caller frees), first error kept */
        const cudaError_t c = cudaStreamSynchronize(s->copy);
        if (sync == cudaSuccess)
            sync = c;
    }
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
        /* whatever failed first (an out-of-memory, say), the caller must not retry on this
         * context: the pipeline halves batches on GC_ERR_OUT_OF_MEMORY */
        st = GC_ERR_BACKEND;
    } else {
        gc_err_prefix(&ctx->err, "CUDA backend, %s: ", op);
    }
    cudaGetLastError();
    return st;
}

/* ---------------------------------------------------------------- lazy resources */

gc_status gcu_copy_stream(gc_context *ctx, cuda_state *s)
{
    if (!s->copy)
        GC_CUDA_TRY(&ctx->err, cudaStreamCreateWithFlags(&s->copy, cudaStreamNonBlocking));
    return GC_OK;
}

gc_status gcu_event_once(gc_context *ctx, cudaEvent_t *ev, unsigned flags)
{
    if (!*ev)
        GC_CUDA_TRY(&ctx->err, cudaEventCreateWithFlags(ev, flags));
    return GC_OK;
}

/* ---------------------------------------------------------------- profiling */

gc_status gcu_mark(gc_context *ctx, cuda_state *s, int stage)
{
    if (!ctx->opt.profile || s->n_marks >= GC_MAX_MARKS)
        return GC_OK;
    GC_CUDA_TRY(&ctx->err, cudaEventRecord(s->ev[s->n_marks], s->stream));
    s->ev_stage[s->n_marks++] = stage;
    return GC_OK;
}

gc_status gcu_prof_begin(gc_context *ctx, cuda_state *s)
{
    s->n_marks = 0;
    s->layers_marked = 0;
    s->n_steps = s->n_step_ev = 0;
    if (s->fb_clocks) /* the fused first block's phase counters (profiled), before any stage */
        GC_CUDA_TRY(&ctx->err, cudaMemsetAsync(s->fb_clocks, 0, GC_FB_PHASES * sizeof *s->fb_clocks,
                                               s->stream));
    return gcu_mark(ctx, s, PROF_START);
}

gc_status gcu_steps_open(gc_context *ctx, cuda_state *s)
{
    if (!ctx->opt.profile || s->n_step_ev >= GCU_STEP_EVENTS)
        return GC_OK;
    GC_CUDA_TRY(&ctx->err, cudaEventRecord(s->ev_step[s->n_step_ev++], s->stream));
    return GC_OK;
}

gc_status gcu_step(gc_context *ctx, cuda_state *s, const char *fmt, ...)
{
    /* not opened (a step outside a run), or out of room: not timed */
    if (!ctx->opt.profile || s->n_step_ev == 0 || s->n_step_ev >= GCU_STEP_EVENTS ||
        s->n_steps >= GC_MAX_STEPS)
        return GC_OK;
    GC_CUDA_TRY(&ctx->err, cudaEventRecord(s->ev_step[s->n_step_ev], s->stream));
    s->step_from[s->n_steps] = s->n_step_ev++ - 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->step_name[s->n_steps++], GC_STEP_NAME, fmt, ap);
    va_end(ap);
    return GC_OK;
}

/* The fused first block's time (layer 0's, ms) split by its warps' cycles in each phase:
 * profile steps "first block: <phase>" (before the steps after the features); none when the
 * call ran no forward (the counters, zeroed by gcu_prof_begin, all zero). */
static gc_status first_block_phases(gc_context *ctx, cuda_state *s, double ms)
{
    unsigned long long c[GC_FB_PHASES];
    GC_CUDA_TRY(&ctx->err,
                cudaMemcpyAsync(c, s->fb_clocks, sizeof c, cudaMemcpyDeviceToHost, s->stream));
    GC_CUDA_TRY(&ctx->err, cudaStreamSynchronize(s->stream));
    double all = 0.0;
    for (int k = 0; k < GC_FB_PHASES; k++)
        all += (double)c[k];
    for (int k = 0; all > 0.0 && k < GC_FB_PHASES; k++) {
        char name[GC_STEP_NAME];
        snprintf(name, sizeof name, "first block: %s", gc_first_block_phase_name(k));
        gc_profile_add_step(ctx, name, ms * (double)c[k] / all);
    }
    return GC_OK;
}

/* After the batch's final synchronization: the time between marks into ctx->prof. */
gc_status gcu_prof_collect(gc_context *ctx, cuda_state *s)
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
    for (int i = 0; s->layers_marked && i < ctx->model.n_layers; i++) {
        float ms = 0.0f;
        GC_CUDA_TRY(&ctx->err, cudaEventElapsedTime(&ms, s->ev_layer[i], s->ev_layer[i + 1]));
        ctx->layer_ms[i] += ms;
        ctx->layers_timed = 1;
        if (i == 0 && s->fb_clocks)
            GC_TRY(first_block_phases(ctx, s, ms));
    }
    s->layers_marked = 0;
    for (int k = 0; k < s->n_steps; k++) {
        const int e = s->step_from[k];
        float ms = 0.0f;
        GC_CUDA_TRY(&ctx->err, cudaEventElapsedTime(&ms, s->ev_step[e], s->ev_step[e + 1]));
        gc_profile_add_step(ctx, s->step_name[k], ms);
    }
    s->n_steps = s->n_step_ev = 0;
    return GC_OK;
}

/* The memory the context holds on the device (gc_profile.device_bytes). */
void gcu_account(gc_context *ctx, const cuda_state *s)
{
    ctx->prof.device_bytes = (int64_t)(s->arena_bytes + s->ws_bytes + s->img_cap + s->out_cap +
                                       (s->blas_ws ? GC_BLAS_WS : 0));
}

