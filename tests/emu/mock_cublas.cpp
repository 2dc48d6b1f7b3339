/*
 * mock_cublas.cpp — a CPU stand-in for the part of cuBLAS the CUDA backend uses (handles, the
 * stream, the math mode, cublasGemmEx; cuBLASLt's matmul, below), for the emulated backend
 * (tests/emu, no GPU).
 *
 * cublasGemmEx has cuBLAS's column-major semantics, C = alpha op(A) op(B) + beta C, with its
 * argument checks (INVALID_VALUE for a bad size, op, leading dimension or NULL scalar;
 * NOT_SUPPORTED for a type combination cuBLAS does not have) and the types this project uses:
 * A and B in CUDA_R_32F, CUDA_R_16F or CUDA_R_16BF, C in their type or CUDA_R_32F, computing
 * in float (CUBLAS_COMPUTE_32F and its variants; alpha and beta are host floats).
 *
 * Numerics: products summed in float in runs of 32 along k (as a GPU's k-tiles), the runs'
 * sums added in order, then alpha and beta applied, one rounding to C's type; beta == 0 does
 * not read C (it may hold NaN) and alpha == 0 does not read A or B, as BLAS specifies. The
 * "fast" compute types round the float inputs as the tensor cores would: _FAST_TF32 (and
 * CUBLAS_TF32_TENSOR_OP_MATH with CUBLAS_COMPUTE_32F) to TF32 (to nearest, ties away, as
 * cvt.rna.tf32.f32), _FAST_16F to half, _FAST_16BF to bfloat16. The order of the additions
 * does not depend on the thread count: results are reproducible.
 *
 * As on a GPU, A, B and C must be device (or managed) memory of the current device, whole
 * matrices inside their allocations: anything else is CUBLAS_STATUS_EXECUTION_FAILED here (a
 * faulting kernel on a GPU), with a line on stderr saying which matrix and why.
 *
 * Streams and graphs: cublasGemmEx checks its arguments when called, then issues the
 * computation on the handle's stream through gc_emu_submit (mock_cudart.h): on a capturing
 * stream it is recorded into the graph (the scalars alpha and beta taken by value, as cuBLAS
 * captures host-pointer-mode scalars) and runs at each cudaGraphLaunch, where it checks again
 * that A, B, C and the workspace are still allocated (else a sticky cudaErrorIllegalAddress,
 * the fault on a GPU). cublasSetWorkspace gives the handle a user-owned workspace (pointer
 * aligned to 256 bytes, else INVALID_VALUE, as documented; NULL with size 0: none);
 * cublasSetStream resets it to cuBLAS's own pool, as documented. A GEMM with a user workspace
 * checks it like a matrix (device memory of the current device, whole, not overlapping A, B
 * or C: EXECUTION_FAILED / INVALID_VALUE) and overwrites it with 0xFF bytes when it runs, so
 * that a workspace shared with data, or with a handle running at the same time, shows.
 * Without one, a captured GEMM would get memory nodes from cuBLAS's stream-ordered
 * allocations on a GPU (fine in a graph launched from the host); the mock captures it as it
 * is (no memory nodes emulated).
 */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "mock_cudart.h"

namespace
{

struct blas_handle {
    int device;
    cudaStream_t stream;
    cublasMath_t mode;
    void *ws; /* cublasSetWorkspace; NULL: cuBLAS's own pool */
    size_t ws_size;
};

std::mutex handles_mu;
std::map<uintptr_t, blas_handle> &handles()
{
    static std::map<uintptr_t, blas_handle> *h = new std::map<uintptr_t, blas_handle>;
    return *h;
}
uintptr_t next_handle = 0xb1a50000; /* never reused: a destroyed handle stays unknown */

bool quiet()
{
    const char *q = getenv("GC_EMU_QUIET");
    return q && *q && strcmp(q, "0") != 0;
}

/* Copy of the handle's state, or false when it is not a live handle. */
bool get_handle(cublasHandle_t h, blas_handle *out)
{
    std::lock_guard<std::mutex> lock(handles_mu);
    auto it = handles().find((uintptr_t)h);
    if (it == handles().end())
        return false;
    *out = it->second;
    return true;
}

enum input_rounding { ROUND_NONE, ROUND_TF32, ROUND_F16, ROUND_BF16 };

inline float round_input(float x, input_rounding r)
{
    switch (r) {
    case ROUND_TF32: { /* to nearest, ties away from zero (cvt.rna.tf32.f32) */
        uint32_t u;
        memcpy(&u, &x, 4);
        if ((u & 0x7f800000u) == 0x7f800000u) /* inf, nan */
            return x;
        u = (u + 0x1000u) & 0xffffe000u;
        memcpy(&x, &u, 4);
        return x;
    }
    case ROUND_F16:
        return __half2float(__float2half(x));
    case ROUND_BF16:
        return __bfloat162float(__float2bfloat16(x));
    default:
        return x;
    }
}

inline float load(const float *p, size_t i)
{
    return p[i];
}
inline float load(const __half *p, size_t i)
{
    return __half2float(p[i]);
}
inline float load(const __nv_bfloat16 *p, size_t i)
{
    return __bfloat162float(p[i]);
}

void store(void *C, cudaDataType t, size_t i, float v)
{
    switch (t) {
    case CUDA_R_16F:
        ((__half *)C)[i] = __float2half(v);
        break;
    case CUDA_R_16BF:
        ((__nv_bfloat16 *)C)[i] = __float2bfloat16(v);
        break;
    default:
        ((float *)C)[i] = v;
        break;
    }
}

float load_c(const void *C, cudaDataType t, size_t i)
{
    switch (t) {
    case CUDA_R_16F:
        return load((const __half *)C, i);
    case CUDA_R_16BF:
        return load((const __nv_bfloat16 *)C, i);
    default:
        return load((const float *)C, i);
    }
}

const int KRUN = 32;    /* products summed before joining the total */
const int MBLOCK = 128; /* rows of C per task in the column-wise (transa == N) form */
const int NBLOCK = 16;  /* columns of C per task: each element of A is converted once per task */

struct gemm_args {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const void *A, *B;
    void *C;
    cudaDataType ct;
    input_rounding rnd;
};

template <input_rounding R> inline float rounded(float x)
{
    if constexpr (R == ROUND_NONE)
        return x;
    else
        return round_input(x, R);
}

/* C (m, n) = alpha op(A) op(B) + beta C. op(B) is first converted to float (and rounded as
 * the compute type says), column by column: Bf[j * k + l] = op(B)(l, j). For every element of
 * C the products are added in order of l, in runs of KRUN, each run's sum then added to the
 * total: both loop forms below give the same bits, on any number of threads. */
template <typename T, input_rounding R> bool gemm(const gemm_args &g)
{
    const T *A = (const T *)g.A, *B = (const T *)g.B;
    const int64_t m = g.m, n = g.n, k = g.k;
    const bool read_ab = g.alpha != 0.0f && k > 0;
    const double work = (double)m * n * (double)k; /* for OpenMP's if() */
    (void)work;
    auto finish = [&](int64_t i, int64_t j, float sum) {
        const size_t at = (size_t)(i + j * g.ldc);
        float v = g.alpha * sum;
        if (g.beta != 0.0f)
            v += g.beta * load_c(g.C, g.ct, at);
        store(g.C, g.ct, at, v);
    };
    if (!read_ab) {
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++)
                finish(i, j, 0.0f);
        return true;
    }
    float *Bf = (float *)malloc(sizeof(float) * (size_t)k * (size_t)n);
    if (!Bf)
        return false;
    for (int64_t j = 0; j < n; j++)
        for (int64_t l = 0; l < k; l++)
            Bf[(size_t)j * k + l] =
                rounded<R>(load(B, g.tb ? (size_t)(j + l * g.ldb) : (size_t)(l + j * g.ldb)));
    const int64_t jblocks = (n + NBLOCK - 1) / NBLOCK;
    if (g.ta) {
        /* op(A) = A^T: row i of op(A) is column i of A, contiguous: dot products, each
         * element of A converted once for NBLOCK columns of C */
#pragma omp parallel for collapse(2) schedule(static) if (work > 65536.0)
        for (int64_t jb = 0; jb < jblocks; jb++)
            for (int64_t i = 0; i < m; i++) {
                const int64_t j0 = jb * NBLOCK, nj = std::min(n - j0, (int64_t)NBLOCK);
                const T *a = A + (size_t)i * g.lda;
                const float *bf = Bf + (size_t)j0 * k;
                float total[NBLOCK] = {}, run[NBLOCK];
                for (int64_t l0 = 0; l0 < k; l0 += KRUN) {
                    const int64_t l1 = std::min(k, l0 + KRUN);
                    for (int64_t jj = 0; jj < nj; jj++)
                        run[jj] = 0.0f;
                    for (int64_t l = l0; l < l1; l++) {
                        const float av = rounded<R>(load(a, (size_t)l));
                        for (int64_t jj = 0; jj < nj; jj++)
                            run[jj] += av * bf[(size_t)jj * k + l];
                    }
                    for (int64_t jj = 0; jj < nj; jj++)
                        total[jj] += run[jj];
                }
                for (int64_t jj = 0; jj < nj; jj++)
                    finish(i, j0 + jj, total[jj]);
            }
    } else {
        /* op(A) = A: column l of A is contiguous; a block of rows of C gathers
         * sum_l A(:, l) op(B)(l, j), for NBLOCK columns j at once */
        const int64_t iblocks = (m + MBLOCK - 1) / MBLOCK;
#pragma omp parallel for collapse(2) schedule(static) if (work > 65536.0)
        for (int64_t jb = 0; jb < jblocks; jb++)
            for (int64_t ib = 0; ib < iblocks; ib++) {
                const int64_t j0 = jb * NBLOCK, nj = std::min(n - j0, (int64_t)NBLOCK);
                const int64_t i0 = ib * MBLOCK, ni = std::min(m - i0, (int64_t)MBLOCK);
                const float *bf = Bf + (size_t)j0 * k;
                static thread_local float total[NBLOCK][MBLOCK], run[NBLOCK][MBLOCK];
                float a[MBLOCK];
                for (int64_t jj = 0; jj < nj; jj++)
                    for (int64_t ii = 0; ii < ni; ii++)
                        total[jj][ii] = 0.0f;
                for (int64_t l0 = 0; l0 < k; l0 += KRUN) {
                    const int64_t l1 = std::min(k, l0 + KRUN);
                    for (int64_t jj = 0; jj < nj; jj++)
                        for (int64_t ii = 0; ii < ni; ii++)
                            run[jj][ii] = 0.0f;
                    for (int64_t l = l0; l < l1; l++) {
                        const T *col = A + (size_t)l * g.lda + i0;
                        for (int64_t ii = 0; ii < ni; ii++)
                            a[ii] = rounded<R>(load(col, (size_t)ii));
                        for (int64_t jj = 0; jj < nj; jj++) {
                            const float b = bf[(size_t)jj * k + l];
                            float *r = run[jj];
                            for (int64_t ii = 0; ii < ni; ii++)
                                r[ii] += a[ii] * b;
                        }
                    }
                    for (int64_t jj = 0; jj < nj; jj++)
                        for (int64_t ii = 0; ii < ni; ii++)
                            total[jj][ii] += run[jj][ii];
                }
                for (int64_t jj = 0; jj < nj; jj++)
                    for (int64_t ii = 0; ii < ni; ii++)
                        finish(i0 + ii, j0 + jj, total[jj][ii]);
            }
    }
    free(Bf);
    return true;
}

template <typename T> bool gemm_typed(const gemm_args &g)
{
    switch (g.rnd) {
    case ROUND_TF32:
        return gemm<T, ROUND_TF32>(g);
    case ROUND_F16:
        return gemm<T, ROUND_F16>(g);
    case ROUND_BF16:
        return gemm<T, ROUND_BF16>(g);
    default:
        return gemm<T, ROUND_NONE>(g);
    }
}

size_t type_size(cudaDataType t)
{
    return t == CUDA_R_32F ? 4 : 2;
}

const char *type_name(cudaDataType t)
{
    switch (t) {
    case CUDA_R_32F:
        return "CUDA_R_32F";
    case CUDA_R_16F:
        return "CUDA_R_16F";
    case CUDA_R_16BF:
        return "CUDA_R_16BF";
    default:
        return "an unsupported type";
    }
}

bool valid_algo(cublasGemmAlgo_t a)
{
    const int v = (int)a;
    return v == CUBLAS_GEMM_DEFAULT || (v >= CUBLAS_GEMM_ALGO0 && v <= CUBLAS_GEMM_ALGO23) ||
           (v >= CUBLAS_GEMM_DEFAULT_TENSOR_OP && v <= CUBLAS_GEMM_ALGO15_TENSOR_OP) ||
           v == CUBLAS_GEMM_AUTOTUNE;
}

/* The bytes a column-major rows x cols matrix with leading dimension ld spans. */
size_t span(int64_t rows, int64_t cols, int64_t ld, size_t es)
{
    if (rows == 0 || cols == 0)
        return 0;
    return (size_t)((cols - 1) * ld + rows) * es;
}

bool overlap(const void *a, size_t na, const void *b, size_t nb)
{
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return na && nb && x < y + nb && y < x + na;
}

} /* namespace */

extern "C" cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    if (!handle)
        return CUBLAS_STATUS_INVALID_VALUE;
    *handle = NULL;
    int dev = 0;
    /* no device, or a context already unusable: cuBLAS cannot initialize */
    if (cudaGetDevice(&dev) != cudaSuccess || gc_emu_sticky_error() != 0) {
        cudaGetLastError();
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    std::lock_guard<std::mutex> lock(handles_mu);
    next_handle += 0x10;
    handles()[next_handle] = blas_handle{dev, 0, CUBLAS_DEFAULT_MATH, nullptr, 0};
    *handle = (cublasHandle_t)next_handle;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
{
    std::lock_guard<std::mutex> lock(handles_mu);
    if (!handles().erase((uintptr_t)handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)
{
    std::lock_guard<std::mutex> lock(handles_mu);
    auto it = handles().find((uintptr_t)handle);
    if (it == handles().end())
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (gc_emu_stream_device(streamId) < 0) { /* cuBLAS would fail at the first launch */
        if (!quiet())
            fprintf(stderr, "[cuda emulation] cublasSetStream: %p is not a live stream\n",
                    (void *)streamId);
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    it->second.stream = streamId;
    it->second.ws = nullptr; /* "unconditionally resets the workspace to the default pool" */
    it->second.ws_size = 0;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *workspace,
                                                size_t workspaceSizeInBytes)
{
    std::lock_guard<std::mutex> lock(handles_mu);
    auto it = handles().find((uintptr_t)handle);
    if (it == handles().end())
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((uintptr_t)workspace % 256 || (!workspace && workspaceSizeInBytes)) {
        if (!quiet())
            fprintf(stderr,
                    "[cuda emulation] cublasSetWorkspace(%p, %zu bytes): the workspace must be "
                    "aligned to 256 bytes%s\n",
                    workspace, workspaceSizeInBytes, workspace ? "" : " (and not NULL)");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    it->second.ws = workspaceSizeInBytes ? workspace : nullptr;
    it->second.ws_size = workspace ? workspaceSizeInBytes : 0;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t *streamId)
{
    blas_handle h;
    if (!get_handle(handle, &h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!streamId)
        return CUBLAS_STATUS_INVALID_VALUE;
    *streamId = h.stream;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    const unsigned base =
        (unsigned)mode & ~(unsigned)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
    std::lock_guard<std::mutex> lock(handles_mu);
    auto it = handles().find((uintptr_t)handle);
    if (it == handles().end())
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (base != CUBLAS_DEFAULT_MATH && base != CUBLAS_TENSOR_OP_MATH &&
        base != CUBLAS_PEDANTIC_MATH && base != CUBLAS_TF32_TENSOR_OP_MATH &&
        base != CUBLAS_FP32_EMULATED_BF16X9_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    it->second.mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t *mode)
{
    blas_handle h;
    if (!get_handle(handle, &h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode)
        return CUBLAS_STATUS_INVALID_VALUE;
    *mode = h.mode;
    return CUBLAS_STATUS_SUCCESS;
}

/* gc_emu_cublas_fail_gemm: GEMMs to let through before the failing one (-1: none) */
static std::atomic<int> g_fail_after{-1}, g_fail_status{0};

extern "C" void gc_emu_cublas_fail_gemm(int after, int status)
{
    g_fail_status.store(status);
    g_fail_after.store(after);
}

/* The GEMM of cublasGemmEx and cublasLtMatmul (`who` in messages), on h's device, stream,
 * math mode and workspace: the checks, then the computation issued on the stream. */
static cublasStatus_t gemm_call(const char *who, const blas_handle &h, cublasOperation_t transa,
                                cublasOperation_t transb, int m, int n, int k, const void *alpha,
                                const void *A, cudaDataType Atype, int lda, const void *B,
                                cudaDataType Btype, int ldb, const void *beta, void *C,
                                cudaDataType Ctype, int ldc, cublasComputeType_t computeType)
{
    const bool op_ok = (transa == CUBLAS_OP_N || transa == CUBLAS_OP_T || transa == CUBLAS_OP_C) &&
                       (transb == CUBLAS_OP_N || transb == CUBLAS_OP_T || transb == CUBLAS_OP_C);
    const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N; /* C = T for reals */
    if (!op_ok || m < 0 || n < 0 || k < 0 || !alpha || !beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (lda < std::max(1, ta ? k : m) || ldb < std::max(1, tb ? n : k) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    /* cuBLAS's table of GemmEx types, reduced to what float compute offers */
    input_rounding rnd = ROUND_NONE;
    switch (computeType) {
    case CUBLAS_COMPUTE_32F:
    case CUBLAS_COMPUTE_32F_PEDANTIC: {
        const bool ok = Atype == Btype && ((Atype == CUDA_R_32F && Ctype == CUDA_R_32F) ||
                                           ((Atype == CUDA_R_16F || Atype == CUDA_R_16BF) &&
                                            (Ctype == Atype || Ctype == CUDA_R_32F)));
        if (!ok)
            return CUBLAS_STATUS_NOT_SUPPORTED;
        const unsigned base =
            (unsigned)h.mode & ~(unsigned)CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION;
        if (computeType == CUBLAS_COMPUTE_32F && Atype == CUDA_R_32F &&
            base == CUBLAS_TF32_TENSOR_OP_MATH)
            rnd = ROUND_TF32;
        break;
    }
    case CUBLAS_COMPUTE_32F_FAST_TF32:
    case CUBLAS_COMPUTE_32F_FAST_16F:
    case CUBLAS_COMPUTE_32F_FAST_16BF:
        if (Atype != CUDA_R_32F || Btype != CUDA_R_32F || Ctype != CUDA_R_32F)
            return CUBLAS_STATUS_NOT_SUPPORTED;
        rnd = computeType == CUBLAS_COMPUTE_32F_FAST_TF32  ? ROUND_TF32
              : computeType == CUBLAS_COMPUTE_32F_FAST_16F ? ROUND_F16
                                                           : ROUND_BF16;
        break;
    case CUBLAS_COMPUTE_16F:
    case CUBLAS_COMPUTE_16F_PEDANTIC:
    case CUBLAS_COMPUTE_32F_EMULATED_16BFX9:
    case CUBLAS_COMPUTE_64F:
    case CUBLAS_COMPUTE_64F_PEDANTIC:
    case CUBLAS_COMPUTE_64F_EMULATED_FIXEDPOINT:
    case CUBLAS_COMPUTE_32I:
    case CUBLAS_COMPUTE_32I_PEDANTIC:
        return CUBLAS_STATUS_NOT_SUPPORTED; /* exist in cuBLAS, not in this emulation */
    default:
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (m == 0 || n == 0)
        return CUBLAS_STATUS_SUCCESS;

    /* the launch: the context, the stream, then the memory the kernel would touch */
    if (gc_emu_launch_check(h.stream, who) != cudaSuccess)
        return CUBLAS_STATUS_EXECUTION_FAILED;
    int dev = -1;
    cudaGetDevice(&dev);
    if (dev != h.device) {
        if (!quiet())
            fprintf(stderr,
                    "[cuda emulation] %s: the handle was created on device %d "
                    "and is used while device %d is current\n",
                    who, h.device, dev);
        return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    float a_s, b_s;
    memcpy(&a_s, alpha, sizeof a_s); /* pointer mode host: the scalars are host floats */
    memcpy(&b_s, beta, sizeof b_s);
    const bool read_ab = a_s != 0.0f && k > 0;
    const size_t ea = type_size(Atype), ec = type_size(Ctype);
    const size_t bytes_a = read_ab ? span(ta ? k : m, ta ? m : k, lda, ea) : 0;
    const size_t bytes_b = read_ab ? span(tb ? n : k, tb ? k : n, ldb, ea) : 0;
    const size_t bytes_c = span(m, n, ldc, ec);
    char what[160];
    struct {
        const void *p;
        size_t bytes, es;
        const char *name;
        cudaDataType t;
    } mats[3] = {
        {A, bytes_a, ea, "A", Atype}, {B, bytes_b, ea, "B", Btype}, {C, bytes_c, ec, "C", Ctype}};
    for (auto &x : mats) {
        if (!x.bytes)
            continue;
        snprintf(what, sizeof what, "%s: matrix %s (%s, m %d n %d k %d, ld a %d b %d c %d)", who,
                 x.name, type_name(x.t), m, n, k, lda, ldb, ldc);
        if ((uintptr_t)x.p % x.es) {
            if (!quiet())
                fprintf(stderr, "[cuda emulation] %s: %p is misaligned for its type\n", what, x.p);
            return CUBLAS_STATUS_EXECUTION_FAILED;
        }
        if (gc_emu_check_device_range(x.p, x.bytes, what) != 0)
            return CUBLAS_STATUS_EXECUTION_FAILED;
    }
    if (overlap(C, bytes_c, A, bytes_a) || overlap(C, bytes_c, B, bytes_b)) {
        if (!quiet())
            fprintf(stderr,
                    "[cuda emulation] %s: C overlaps %s (the result would be "
                    "undefined on a GPU)\n",
                    who, overlap(C, bytes_c, A, bytes_a) ? "A" : "B");
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    if (h.ws) {
        snprintf(what, sizeof what, "%s: the workspace", who);
        if (gc_emu_check_device_range(h.ws, h.ws_size, what) != 0)
            return CUBLAS_STATUS_EXECUTION_FAILED;
        for (auto &x : mats)
            if (overlap(h.ws, h.ws_size, x.p, x.bytes)) {
                if (!quiet())
                    fprintf(stderr,
                            "[cuda emulation] %s: the workspace (%p, %zu bytes) overlaps "
                            "matrix %s\n",
                            who, h.ws, h.ws_size, x.name);
                return CUBLAS_STATUS_INVALID_VALUE;
            }
    }

    gemm_args g;
    g.ta = ta;
    g.tb = tb;
    g.m = m;
    g.n = n;
    g.k = k;
    g.lda = lda;
    g.ldb = ldb;
    g.ldc = ldc;
    g.alpha = a_s;
    g.beta = b_s;
    g.A = A;
    g.B = B;
    g.C = C;
    g.ct = Ctype;
    g.rnd = rnd;
    /* the kernel: now, or at every launch of the graph that captures it; *ran: -1 not run
     * yet, 1 done, 0 no host memory for the emulation, -2 runs later (captured, queued) */
    auto ran = std::make_shared<std::atomic<int>>(-1);
    struct range {
        const void *p;
        size_t bytes;
    };
    const range used[4] = {{A, bytes_a}, {B, bytes_b}, {C, bytes_c}, {h.ws, h.ws ? h.ws_size : 0}};
    const cudaDataType at = Atype;
    void *const ws = h.ws;
    const size_t ws_size = h.ws_size;
    const int e = gc_emu_submit(h.stream, who, [g, at, used, ws, ws_size, ran, who] {
        char running[96];
        snprintf(running, sizeof running, "%s (running)", who);
        for (const range &r : used)
            if (r.bytes && gc_emu_work_check_range(r.p, r.bytes, running) != 0)
                return;
        if (ws)
            memset(ws, 0xff, ws_size);
        bool done;
        switch (at) {
        case CUDA_R_16F:
            done = gemm_typed<__half>(g);
            break;
        case CUDA_R_16BF:
            done = gemm_typed<__nv_bfloat16>(g);
            break;
        default:
            done = gemm_typed<float>(g);
            break;
        }
        int before = -1; /* run within the call itself, which returns the status */
        if (ran->compare_exchange_strong(before, done ? 1 : 0)) {
        } else if (!done) { /* later (a graph, a stream's queue): nobody to return it to */
            if (!quiet())
                fprintf(stderr,
                        "[cuda emulation] %s (running): the host could not provide memory for "
                        "the emulation\n",
                        who);
            gc_emu_inject_sticky_error(cudaErrorLaunchFailure);
        }
    });
    if (e != cudaSuccess)
        return CUBLAS_STATUS_EXECUTION_FAILED; /* the launch refused (a capture's rules) */
    int now = -1; /* not run yet (captured, or queued): it runs later, a failure then sticky */
    ran->compare_exchange_strong(now, -2);
    return now == 0 ? CUBLAS_STATUS_ALLOC_FAILED : CUBLAS_STATUS_SUCCESS; /* host memory */
}

extern "C" cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                       cublasOperation_t transb, int m, int n, int k,
                                       const void *alpha, const void *A, cudaDataType Atype,
                                       int lda, const void *B, cudaDataType Btype, int ldb,
                                       const void *beta, void *C, cudaDataType Ctype, int ldc,
                                       cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    if (g_fail_after.load() >= 0 && g_fail_after.fetch_sub(1) == 0)
        return (cublasStatus_t)g_fail_status.load(); /* the test's fault */
    blas_handle h;
    if (!get_handle(handle, &h))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!valid_algo(algo))
        return CUBLAS_STATUS_INVALID_VALUE;
    return gemm_call("cublasGemmEx", h, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype,
                     ldb, beta, C, Ctype, ldc, computeType);
}

/* ---------------------------------------------------------------- cuBLASLt
 * The part of cuBLASLt the backend's head-GEMM experiment uses (GC_HEAD_GEMM=lt): a handle,
 * matmul descriptors (compute and scale type, TRANSA/TRANSB), matrix layouts, a preference
 * (the workspace's size), a heuristic that offers two algorithms (one without a workspace,
 * one asking 1 MiB), and cublasLtMatmul: the layouts checked against each other as cuBLASLt
 * does (INVALID_VALUE), then cublasGemmEx's checks and computation (gemm_call) on the
 * given stream and workspace. Only C == D with one layout, host float scalars and beta == 0
 * are emulated (what the backend passes); anything else is NOT_SUPPORTED here. */
namespace
{
struct lt_handle {
    int device;
};
struct lt_desc {
    cublasComputeType_t compute;
    cudaDataType_t scale;
    int32_t ta, tb;
};
struct lt_layout {
    cudaDataType type;
    uint64_t rows, cols;
    int64_t ld;
};
struct lt_pref {
    uint64_t ws;
};
const uint64_t LT_ALGO_MARK = 0x6c74616c676fULL; /* an algorithm this mock offered */
const size_t LT_ALGO_WS = (size_t)1 << 20;       /* the second one's workspace */

/* m, n, k of D = op(A) op(B) from the layouts, or false when they do not fit together */
bool lt_shape(const lt_desc *d, const lt_layout *a, const lt_layout *b, const lt_layout *c, int *m,
              int *n, int *k)
{
    const bool ta = d->ta != CUBLAS_OP_N, tb = d->tb != CUBLAS_OP_N;
    const uint64_t am = ta ? a->cols : a->rows, ak = ta ? a->rows : a->cols;
    const uint64_t bk = tb ? b->cols : b->rows, bn = tb ? b->rows : b->cols;
    if (am != c->rows || bn != c->cols || ak != bk || c->rows > INT32_MAX || c->cols > INT32_MAX ||
        ak > INT32_MAX)
        return false;
    if (a->ld < (int64_t)std::max<uint64_t>(1, a->rows) ||
        b->ld < (int64_t)std::max<uint64_t>(1, b->rows) ||
        c->ld < (int64_t)std::max<uint64_t>(1, c->rows) || a->ld > INT32_MAX || b->ld > INT32_MAX ||
        c->ld > INT32_MAX)
        return false;
    *m = (int)c->rows;
    *n = (int)c->cols;
    *k = (int)ak;
    return true;
}
} /* namespace */

extern "C" cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle)
{
    if (!handle)
        return CUBLAS_STATUS_INVALID_VALUE;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess) {
        cudaGetLastError();
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    *handle = reinterpret_cast<cublasLtHandle_t>(new lt_handle{dev});
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle)
{
    delete reinterpret_cast<lt_handle *>(handle);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc,
                                                   cublasComputeType_t computeType,
                                                   cudaDataType_t scaleType)
{
    if (!desc)
        return CUBLAS_STATUS_INVALID_VALUE;
    *desc = reinterpret_cast<cublasLtMatmulDesc_t>(
        new lt_desc{computeType, scaleType, CUBLAS_OP_N, CUBLAS_OP_N});
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc)
{
    delete reinterpret_cast<lt_desc *>(desc);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                                         cublasLtMatmulDescAttributes_t attr,
                                                         const void *buf, size_t size)
{
    lt_desc *d = reinterpret_cast<lt_desc *>(desc);
    if (!d || !buf)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (attr != CUBLASLT_MATMUL_DESC_TRANSA && attr != CUBLASLT_MATMUL_DESC_TRANSB)
        return CUBLAS_STATUS_NOT_SUPPORTED; /* exists in cuBLASLt, not in this emulation */
    int32_t v;
    if (size != sizeof v) /* cuBLASLt's rule: the attribute's own size */
        return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(&v, buf, sizeof v);
    if (v != CUBLAS_OP_N && v != CUBLAS_OP_T && v != CUBLAS_OP_C)
        return CUBLAS_STATUS_INVALID_VALUE;
    (attr == CUBLASLT_MATMUL_DESC_TRANSA ? d->ta : d->tb) = v;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout,
                                                     cudaDataType type, uint64_t rows,
                                                     uint64_t cols, int64_t ld)
{
    if (!layout)
        return CUBLAS_STATUS_INVALID_VALUE;
    *layout = reinterpret_cast<cublasLtMatrixLayout_t>(new lt_layout{type, rows, cols, ld});
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout)
{
    delete reinterpret_cast<lt_layout *>(layout);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref)
{
    if (!pref)
        return CUBLAS_STATUS_INVALID_VALUE;
    *pref = reinterpret_cast<cublasLtMatmulPreference_t>(new lt_pref{0});
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref)
{
    delete reinterpret_cast<lt_pref *>(pref);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                     cublasLtMatmulPreferenceAttributes_t attr, const void *buf,
                                     size_t size)
{
    lt_pref *p = reinterpret_cast<lt_pref *>(pref);
    if (!p || !buf)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (attr != CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (size != sizeof p->ws)
        return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(&p->ws, buf, sizeof p->ws);
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t
cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                               cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc,
                               cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
                               cublasLtMatmulPreference_t pref, int requested,
                               cublasLtMatmulHeuristicResult_t results[], int *returned)
{
    const lt_desc *d = reinterpret_cast<const lt_desc *>(desc);
    const lt_layout *a = reinterpret_cast<const lt_layout *>(Adesc),
                    *b = reinterpret_cast<const lt_layout *>(Bdesc),
                    *c = reinterpret_cast<const lt_layout *>(Cdesc),
                    *dd = reinterpret_cast<const lt_layout *>(Ddesc);
    const lt_pref *p = reinterpret_cast<const lt_pref *>(pref);
    int m, n, k;
    if (!handle || !d || !a || !b || !c || !dd || !p || requested < 1 || !results || !returned)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!lt_shape(d, a, b, c, &m, &n, &k) || memcmp(c, dd, sizeof *c) != 0)
        return CUBLAS_STATUS_INVALID_VALUE;
    int got = 0;
    for (int cand = 0; cand < 2 && got < requested; cand++) {
        const size_t ws = cand ? LT_ALGO_WS : 0;
        if (ws > p->ws)
            continue;
        cublasLtMatmulHeuristicResult_t &r = results[got++];
        memset(&r, 0, sizeof r);
        r.algo.data[0] = LT_ALGO_MARK;
        r.algo.data[1] = ws;
        r.workspaceSize = ws;
        r.state = CUBLAS_STATUS_SUCCESS;
        r.wavesCount = 1.0f;
    }
    *returned = got;
    return got ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_SUPPORTED;
}

extern "C" cublasStatus_t
cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void *alpha, const void *A,
               cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc,
               const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
               cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo, void *workspace,
               size_t workspaceSize, cudaStream_t stream)
{
    if (g_fail_after.load() >= 0 && g_fail_after.fetch_sub(1) == 0)
        return (cublasStatus_t)g_fail_status.load(); /* the test's fault, as cublasGemmEx */
    const lt_handle *h = reinterpret_cast<const lt_handle *>(handle);
    const lt_desc *d = reinterpret_cast<const lt_desc *>(desc);
    const lt_layout *a = reinterpret_cast<const lt_layout *>(Adesc),
                    *b = reinterpret_cast<const lt_layout *>(Bdesc),
                    *c = reinterpret_cast<const lt_layout *>(Cdesc),
                    *dd = reinterpret_cast<const lt_layout *>(Ddesc);
    int m, n, k;
    if (!h || !d || !a || !b || !c || !dd || !alpha || !beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!lt_shape(d, a, b, c, &m, &n, &k) || memcmp(c, dd, sizeof *c) != 0 || a->type != b->type)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (algo && (algo->data[0] != LT_ALGO_MARK || algo->data[1] > workspaceSize))
        return CUBLAS_STATUS_INVALID_VALUE; /* not ours, or its workspace not given */
    float b_s;
    memcpy(&b_s, beta, sizeof b_s);
    if (C != D || b_s != 0.0f || d->scale != CUDA_R_32F || d->tb != CUBLAS_OP_N)
        return CUBLAS_STATUS_NOT_SUPPORTED; /* cuBLASLt has them; this emulation does not */
    if (workspaceSize && !workspace)
        return CUBLAS_STATUS_INVALID_VALUE;
    if ((uintptr_t)workspace % 256)
        return CUBLAS_STATUS_INVALID_VALUE; /* as cublasSetWorkspace's rule */
    blas_handle bh;
    bh.device = h->device;
    bh.stream = stream;
    bh.mode = CUBLAS_DEFAULT_MATH;
    bh.ws = workspaceSize ? workspace : NULL;
    bh.ws_size = workspaceSize;
    return gemm_call("cublasLtMatmul", bh, (cublasOperation_t)d->ta, CUBLAS_OP_N, m, n, k, alpha, A,
                     a->type, (int)a->ld, B, b->type, (int)b->ld, beta, D, c->type, (int)c->ld,
                     d->compute);
}

extern "C" const char *cublasGetStatusName(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS:
        return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
        return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
        return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
        return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

extern "C" const char *cublasGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS:
        return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE:
        return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR:
        return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED:
        return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR:
        return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED:
        return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR:
        return "the functionality requested requires some license";
    }
    return "unknown error";
}
