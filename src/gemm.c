/*
 * gemm.c — see gemm.h.
 */
#include "gemm.h"

#ifdef GC_HAVE_OPENBLAS
#include <cblas.h>

void gc_sgemm(int transB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
              float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                A, lda, B, ldb, 0.0f, C, ldc);
}

void gc_blas_single_thread(void)
{
    openblas_set_num_threads(1); /* process-wide */
}

#else /* the fallback: blocked over K and N so a panel of B stays in cache */

#include <string.h>

enum { KB = 256, NB = 256 };

void gc_sgemm(int transB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
              float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        memset(C + (size_t)i * ldc, 0, sizeof(float) * (size_t)N);
    for (int k0 = 0; k0 < K; k0 += KB) {
        const int k1 = k0 + KB < K ? k0 + KB : K;
        for (int j0 = 0; j0 < N; j0 += NB) {
            const int j1 = j0 + NB < N ? j0 + NB : N;
            for (int i = 0; i < M; i++) {
                const float *a = A + (size_t)i * lda;
                float *c = C + (size_t)i * ldc;
                if (transB) { /* B (N, K): dot products along K */
                    for (int j = j0; j < j1; j++) {
                        const float *b = B + (size_t)j * ldb;
                        float acc = 0.0f;
                        for (int k = k0; k < k1; k++)
                            acc += a[k] * b[k];
                        c[j] += acc;
                    }
                } else { /* B (K, N): rows of B scaled by A's entries */
                    for (int k = k0; k < k1; k++) {
                        const float aik = a[k];
                        const float *b = B + (size_t)k * ldb;
                        for (int j = j0; j < j1; j++)
                            c[j] += aik * b[j];
                    }
                }
            }
        }
    }
}

void gc_blas_single_thread(void)
{
}

#endif
