/*
 * cpu_conv.h — 3x3 convolutions (stride 1, padding 1) on NHWC float tensors for the CPU
 * backend, and the threading rule they share with it.
 *
 * Threading: one pool. OpenBLAS runs single-threaded; OpenMP splits every convolution into
 * chunks of output pixels (or Winograd tiles), and each thread does its own packing, its own
 * sgemm and the epilogue (bias, ReLU) on its chunk while the chunk is in cache. Two pools
 * (OpenMP loops around multi-threaded sgemm calls) spin against each other on few cores;
 * measured in docs/benchmarks.md.
 *
 * Two algorithms, the same result up to float rounding:
 *   im2col  rows = output pixels, columns = (ky, kx, c), times the (K, 3, 3, C) weights;
 *           used for few input channels (the RGB layer).
 *   Winograd F(2x2, 3x3)  16 GEMMs on transformed 4x4 input tiles: 2.25x fewer
 *           multiplications. Transforms as in Lavin & Gray, "Fast Algorithms for
 *           Convolutional Neural Networks" (2016).
 */
#ifndef GC_CPU_CONV_H
#define GC_CPU_CONV_H

#include <stddef.h>
#include <stdint.h>

typedef struct cpu_conv {
    int32_t C, K;
    const float *w;  /* (K, 3, 3, C), not owned */
    const float *b;  /* (K) or NULL, not owned  */
    float *wino;     /* (16, C, K) transformed weights, owned; NULL: the im2col path */
} cpu_conv;

/* Floats of scratch each thread needs (the same for every layer). */
#define CPU_SCRATCH_FLOATS ((size_t)1 << 20)

/* 0 on allocation failure. */
int cpu_conv_init(cpu_conv *cv, const float *w, const float *b, int32_t C, int32_t K);
void cpu_conv_free(cpu_conv *cv);

/* out (n, H, W, K) = conv(in (n, H, W, C)) + b, then ReLU when relu != 0.
 * scratch: threads * CPU_SCRATCH_FLOATS floats. */
void cpu_conv_run(const cpu_conv *cv, const float *in, int32_t n, int32_t H, int32_t W,
                  float *out, int relu, int threads, float *scratch);

/* Rows [r0, r0+rows) of the im2col matrix of in (n, H, W, C) for a kh x kw kernel with
 * padding pad and output size oh x ow; columns (ky, kx, c). Single-threaded. */
void cpu_im2col(const float *in, int32_t H, int32_t W, int32_t C, int32_t kh, int32_t kw,
                int32_t pad, int32_t oh, int32_t ow, size_t r0, size_t rows, float *col);

#endif /* GC_CPU_CONV_H */
