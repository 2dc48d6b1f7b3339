/*
 * backend_head_gemm.cu — the dense head's GEMMs (forward and backward of every dense layer):
 * cublasGemmEx by default; with GC_HEAD_GEMM=lt (an experiment, opt-in, NOT YET RUN ON A
 * GPU) each of them goes through cuBLASLt on the algorithm timed fastest at context creation
 * among the heuristic's first GCU_LT_CANDIDATES and cublasGemmEx itself (kept where it won).
 *
 * Why: run 2 (H100, bf16, batch 256) spent 0.40 ms in the head and 0.57 ms in the backward,
 * most of it in six GEMMs whose floor (the 247 MB of weights read once each way, 63 GFLOP
 * each way) is ~0.08 ms each way: ~180 TFLOP/s. cublasGemmEx takes its heuristic's first
 * choice for these skinny shapes (n = 256 rows against k = 25088), where a split-K or
 * another tile may well be faster; timing the candidates says, on the GPU at hand. The
 * step profile (gc_profile_step_ms: "head: dense 0 GEMM", "backward: dense 0 GEMM", ...)
 * compares the two ways side by side in the device bench.
 *
 * Scope: the context's full batch (rows = max_batch's); a call of another size, and true
 * fp32 (CUBLAS_COMPUTE_32F_PEDANTIC), take cublasGemmEx. Any cuBLASLt failure at creation
 * leaves that GEMM (or, failing to start, all of them) on cublasGemmEx, said in
 * gc_autotune_report, never failing the context. Numerics: the same types (T in, float out,
 * float accumulation), another summation order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_state.cuh"

#define GCU_LT_CANDIDATES 8 /* the heuristic's first choices timed per GEMM */
#define GCU_LT_REPS 3       /* timed runs of each, after one warm-up */

/* cublasGemmEx of the shape, as the batch runs it */
static cublasStatus_t run_ex(cuda_state *s, const gcu_gemm_shape *g, const void *A, const void *B,
                             float *C)
{
    const float one = 1.0f, zero = 0.0f;
    return cublasGemmEx(s->blas, g->ta ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, g->m, g->n, g->k,
                        &one, A, s->blas_dt, g->lda, B, s->blas_dt, g->ldb, &zero, C, CUDA_R_32F,
                        g->ldc, s->blas_compute, CUBLAS_GEMM_DEFAULT);
}

#ifndef GC_NO_CUBLASLT /* (cuda/cuda.cmake: a toolkit without cuBLASLt) */
/* GEMM slot of dense layer j's forward (dir 0) or backward (dir 1) */
static int lt_slot(int j, int dir)
{
    return 2 * j + dir;
}

static cublasStatus_t run_lt(cuda_state *s, gcu_lt_gemm *L, const cublasLtMatmulAlgo_t *algo,
                             const void *A, const void *B, float *C)
{
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(s->lt, L->op, &one, A, L->a, B, L->b, &zero, C, L->c, C, L->c, algo,
                          s->blas_ws, s->blas_ws ? GC_BLAS_WS : 0, s->stream);
}

#endif

gc_status gcu_head_gemm(gc_context *ctx, cuda_state *s, int j, int dir, const gcu_gemm_shape *g,
                        const void *A, const void *B, float *C)
{
#ifndef GC_NO_CUBLASLT
    gcu_lt_gemm *L = s->lt_gemm ? &s->lt_gemm[lt_slot(j, dir)] : NULL;
    if (L && L->use && g->n == L->shape.n) {
        const cublasStatus_t st = run_lt(s, L, &L->algo, A, B, C);
        cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
        if (st == CUBLAS_STATUS_SUCCESS)
            return GC_OK;
        if (s->lt_always || cudaStreamIsCapturing(s->stream, &cap) != cudaSuccess ||
            cap != cudaStreamCaptureStatusNone || gc_cuda_error_is_sticky(cudaPeekAtLastError()))
            GC_CUBLAS_TRY(&ctx->err, st); /* tests, a capture's failure, a fault: the caller's */
        /* refused at run time after it ran at creation: this GEMM on cublasGemmEx from now
           on (the experiment must not cost a benchmark step; gc_autotune_report's text stays
           as it was, valid for the context's lifetime) */
        cudaGetLastError();
        L->use = 0;
    }
#else
    (void)j;
    (void)dir;
#endif
    GC_CUBLAS_TRY(&ctx->err, run_ex(s, g, A, B, C));
    return GC_OK;
}

#ifndef GC_NO_CUBLASLT

/* ms per run of fn over GCU_LT_REPS runs after a warm-up; < 0 when a run failed */
template <typename F> static double time_runs(cuda_state *s, cudaEvent_t e0, cudaEvent_t e1, F fn)
{
    if (fn() != CUBLAS_STATUS_SUCCESS)
        return -1.0;
    if (cudaEventRecord(e0, s->stream) != cudaSuccess)
        return -1.0;
    for (int r = 0; r < GCU_LT_REPS; r++)
        if (fn() != CUBLAS_STATUS_SUCCESS)
            return -1.0;
    float ms = 0.0f;
    if (cudaEventRecord(e1, s->stream) != cudaSuccess || cudaEventSynchronize(e1) != cudaSuccess ||
        cudaEventElapsedTime(&ms, e0, e1) != cudaSuccess)
        return -1.0;
    return ms / GCU_LT_REPS;
}

static void lt_free_one(gcu_lt_gemm *L)
{
    if (L->a)
        cublasLtMatrixLayoutDestroy(L->a);
    if (L->b)
        cublasLtMatrixLayoutDestroy(L->b);
    if (L->c)
        cublasLtMatrixLayoutDestroy(L->c);
    if (L->op)
        cublasLtMatmulDescDestroy(L->op);
    memset(L, 0, sizeof *L);
}

/* The descriptors of shape g (column-major: A stored lda x (ta ? m : k), B ldb x n, C ldc x
 * n); CUBLAS_STATUS_SUCCESS or the first failure */
static cublasStatus_t lt_describe(cuda_state *s, gcu_lt_gemm *L, const gcu_gemm_shape *g)
{
    L->shape = *g;
    cublasStatus_t st = cublasLtMatmulDescCreate(&L->op, s->blas_compute, CUDA_R_32F);
    const cublasOperation_t ta = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = CUBLAS_OP_N;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(L->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(L->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&L->a, s->blas_dt, (uint64_t)(g->ta ? g->k : g->m),
                                        (uint64_t)(g->ta ? g->m : g->k), g->lda);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&L->b, s->blas_dt, (uint64_t)g->k, (uint64_t)g->n, g->ldb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&L->c, CUDA_R_32F, (uint64_t)g->m, (uint64_t)g->n, g->ldc);
    return st;
}

/* One GEMM: the heuristic's candidates and cublasGemmEx timed on the batch's own buffers;
 * L->use when a candidate beat cublasGemmEx. A line of the report either way. */
static void lt_tune_one(gc_context *ctx, cuda_state *s, gcu_lt_gemm *L, const gcu_gemm_shape *g,
                        const void *A, const void *B, float *C, const char *name, cudaEvent_t e0,
                        cudaEvent_t e1, int always)
{
    cublasStatus_t st = lt_describe(s, L, g);
    cublasLtMatmulPreference_t pref = NULL;
    const uint64_t ws = s->blas_ws ? GC_BLAS_WS : 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceCreate(&pref);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &ws, sizeof ws);
    cublasLtMatmulHeuristicResult_t res[GCU_LT_CANDIDATES];
    int got = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(s->lt, L->op, L->a, L->b, L->c, L->c, pref,
                                            GCU_LT_CANDIDATES, res, &got);
    if (pref)
        cublasLtMatmulPreferenceDestroy(pref);
    const double ex = time_runs(s, e0, e1, [&] { return run_ex(s, g, A, B, C); });
    if (st != CUBLAS_STATUS_SUCCESS || got <= 0) {
        gcu_report_line(ctx, "head GEMM %s: cuBLASLt offered nothing (%s): cublasGemmEx %.4f ms",
                        name, cublasGetStatusName(st), ex);
        cudaGetLastError();
        return;
    }
    double best = -1.0;
    int pick = -1, tried = 0;
    for (int c = 0; c < got; c++) {
        if (res[c].state != CUBLAS_STATUS_SUCCESS || res[c].workspaceSize > ws)
            continue;
        tried++;
        const double ms = time_runs(s, e0, e1, [&] { return run_lt(s, L, &res[c].algo, A, B, C); });
        cudaGetLastError(); /* a refused candidate is not an error of the context's */
        if (ms > 0.0 && (best < 0.0 || ms < best)) {
            best = ms;
            pick = c;
        }
    }
    /* cublasGemmEx stays unless a candidate is faster by 2% (noise) or always (tests) */
    L->use = pick >= 0 && (always || ex < 0.0 || best < 0.98 * ex);
    if (L->use)
        L->algo = res[pick].algo;
    gcu_report_line(ctx,
                    "head GEMM %s (m %d n %d k %d): %s — cublasGemmEx %.4f ms, cuBLASLt's best of "
                    "%d %.4f ms (candidate %d, %.2f waves)",
                    name, g->m, g->n, g->k, L->use ? "cuBLASLt" : "cublasGemmEx", ex, tried, best,
                    pick, pick >= 0 ? (double)res[pick].wavesCount : 0.0);
}

#endif /* GC_NO_CUBLASLT */

/* GC_HEAD_GEMM=lt: 1; =lt-always (tests: cuBLASLt's best candidate whatever cublasGemmEx
 * took): 2; else 0 */
static int head_gemm_lt_wanted(const cuda_state *s)
{
    const char *e = getenv("GC_HEAD_GEMM");
    if (!e || s->numerics == GC_CONV_TRUE_FP32)
        return 0;
    return !strcmp(e, "lt") ? 1 : !strcmp(e, "lt-always") ? 2 : 0;
}

gc_status gcu_head_gemm_tune(gc_context *ctx, cuda_state *s)
{
    const int want = head_gemm_lt_wanted(s);
    if (!want)
        return GC_OK;
    s->lt_always = want == 2;
#ifdef GC_NO_CUBLASLT
    gcu_report_line(ctx, "head GEMMs: built without cuBLASLt: cublasGemmEx");
    return GC_OK;
#else
    const gc_model *m = &ctx->model;
    if (cublasLtCreate(&s->lt) != CUBLAS_STATUS_SUCCESS) {
        s->lt = NULL;
        gcu_report_line(ctx, "head GEMMs: cuBLASLt unavailable: cublasGemmEx");
        cudaGetLastError();
        return GC_OK;
    }
    s->lt_gemm = (gcu_lt_gemm *)calloc(2 * GC_MAX_DENSE, sizeof(gcu_lt_gemm));
    cudaEvent_t e0 = NULL, e1 = NULL;
    if (!s->lt_gemm || cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
        if (e0)
            cudaEventDestroy(e0);
        gcu_head_gemm_free(s);
        cudaGetLastError();
        return GC_OK; /* the experiment cannot run: the default */
    }
    const int rows = s->N * s->geo.P * s->geo.Q;
    for (int j = 0; j < m->n_dense; j++) {
        const gc_dense *d = &m->dense[j];
        char name[48];
        gcu_gemm_shape f = gcu_dense_fwd_shape(rows, d->in, d->out);
        snprintf(name, sizeof name, "dense %d forward", j);
        lt_tune_one(ctx, s, &s->lt_gemm[lt_slot(j, 0)], &f, s->dw[j], s->dense_in[j],
                    s->dense_out[j], name, e0, e1, want == 2);
        /* the backward's: the gradient (rounded to T, or float in fp32) times W into the
           layer's input gradient (dense 0: g_patch; else a float ping-pong buffer) */
        gcu_gemm_shape b = gcu_dense_bwd_shape(rows, d->in, d->out);
        const void *g = s->dt == GC_DT_F32 ? (const void *)s->gd_a : s->gd_t;
        float *gin = j == 0 ? s->g_patch : s->gd_b;
        snprintf(name, sizeof name, "dense %d backward", j);
        lt_tune_one(ctx, s, &s->lt_gemm[lt_slot(j, 1)], &b, s->dw[j], g, gin, name, e0, e1,
                    want == 2);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    /* a sticky fault during the timing is the context's (the next call reports it) */
    GC_CUDA_TRY(&ctx->err, cudaStreamSynchronize(s->stream));
    return GC_OK;
#endif
}

void gcu_head_gemm_free(cuda_state *s)
{
#ifndef GC_NO_CUBLASLT
    for (int k = 0; s->lt_gemm && k < 2 * GC_MAX_DENSE; k++)
        lt_free_one(&s->lt_gemm[k]);
    if (s->lt)
        cublasLtDestroy(s->lt);
#endif
    free(s->lt_gemm);
    s->lt_gemm = NULL;
    s->lt = NULL;
}
