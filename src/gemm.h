/*
 * gemm.h — the one matrix product the CPU backend needs, row-major, single-threaded:
 *     C (M, N) = A (M, K) · op(B),  op(B) = B (K, N), or B^T when B is stored (N, K).
 * OpenBLAS's sgemm when the build found it (GC_HAVE_OPENBLAS), else a small cache-blocked
 * loop in gemm.c: slow, but enough for the reference on machines without OpenBLAS's
 * development files (a GPU machine, where the CPU backend only checks the GPU on small models).
 */
#ifndef GC_GEMM_H
#define GC_GEMM_H

void gc_sgemm(int transB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
              float *C, int ldc);
/* BLAS threads to 1 (the backend parallelizes around single-threaded products). */
void gc_blas_single_thread(void);

#endif
