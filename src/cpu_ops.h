/*
 * cpu_ops.h — the CPU reference backend's element-wise, pooling and head ops on NHWC float
 * tensors: the CPU twin of each kernel in cuda/kernels.cuh (tests/emu checks them against
 * each other). `threads`: the OpenMP threads to split the work over (1 is fine).
 */
#ifndef GC_CPU_OPS_H
#define GC_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

/* x (len) = max(x, 0) */
void cpu_relu(int threads, float *x, size_t len);
/* The ReLU backward given the ReLU's output act: g *= (act > 0); guided backprop's rule
 * when guided != 0: g *= (act > 0) * (g > 0). */
void cpu_relu_mask(int threads, float *g, const float *act, size_t len, int guided);
/* y (rows, C) = y + b[c], then ReLU when relu != 0 */
void cpu_bias_act(int threads, float *y, const float *b, size_t rows, int32_t C, int relu);
/* out (n, H/2, W/2, C) = 2x2 stride-2 max of in (n, H, W, C) */
void cpu_maxpool_fwd(int threads, const float *in, int32_t n, int32_t H, int32_t W, int32_t C,
                     float *out);
/* g_in (n, H, W, C) = g_out (n, H/2, W/2, C) routed to each window's first maximum (in
 * (dy, dx) scan order, as PyTorch's max_pool2d) in the forward input in; 0 elsewhere */
void cpu_maxpool_bwd(int threads, const float *in, const float *g_out, int32_t n, int32_t H,
                     int32_t W, int32_t C, float *g_in);
/* out (n, oh, ow, C) = PyTorch's adaptive_avg_pool2d of in (n, H, W, C) */
void cpu_avgpool_fwd(int threads, const float *in, int32_t n, int32_t H, int32_t W, int32_t C,
                     int32_t oh, int32_t ow, float *out);
/* g_in (n, H, W, C) = its backward from g_out (n, oh, ow, C) */
void cpu_avgpool_bwd(int threads, const float *g_out, int32_t n, int32_t H, int32_t W,
                     int32_t C, int32_t oh, int32_t ow, float *g_in);
/* g_in (n, ph, pw, C) = the sum of the k x k patch gradients g_col (n*P*Q, k*k*C), columns
 * (ky, kx, c), onto the map (P = ph-k+1, Q = pw-k+1): col2im without padding */
void cpu_patches_bwd(int threads, const float *g_col, int32_t n, int32_t ph, int32_t pw,
                     int32_t C, int32_t k, float *g_in);
/* logits (n, K) = mean over the PQ positions of y (n*PQ, K) */
void cpu_mean_positions(const float *y, int32_t n, int32_t PQ, int32_t K, float *logits);

#endif /* GC_CPU_OPS_H */
