/*
 * kernels.cuh — the CUDA backend's own kernels, one per op, each with a host launcher that
 * checks the launch (cudaGetLastError) and returns a gc_status. Same algorithms as the CPU
 * reference in src/cpu_backend.c; every tensor is NHWC float32 on the device.
 */
#ifndef GC_CUDA_KERNELS_CUH
#define GC_CUDA_KERNELS_CUH

#include "check.cuh"

/* y (rows, C) = y + b[c], then ReLU when relu != 0 (b may be NULL: no bias). */
gc_status gc_bias_act_cuda(cudaStream_t st, float *y, const float *b, size_t rows, int32_t C,
                           int relu, gc_errbuf *err);
/* y (len) = max(x, 0) */
gc_status gc_relu_cuda(cudaStream_t st, const float *x, float *y, size_t len, gc_errbuf *err);
/* g (len) *= (act > 0) */
gc_status gc_relu_mask_cuda(cudaStream_t st, float *g, const float *act, size_t len,
                            gc_errbuf *err);
/* out (n, H/2, W/2, C) = 2x2 stride-2 max of in (n, H, W, C) */
gc_status gc_maxpool_fwd_cuda(cudaStream_t st, const float *in, int32_t n, int32_t H, int32_t W,
                              int32_t C, float *out, gc_errbuf *err);
/* g_in (n, H, W, C) = gradient g_out (n, H/2, W/2, C) routed to each window's first maximum */
gc_status gc_maxpool_bwd_cuda(cudaStream_t st, const float *in, const float *g_out, int32_t n,
                              int32_t H, int32_t W, int32_t C, float *g_in, gc_errbuf *err);
/* out (n, oh, ow, C) = PyTorch adaptive_avg_pool2d of in (n, H, W, C) */
gc_status gc_avgpool_fwd_cuda(cudaStream_t st, const float *in, int32_t n, int32_t H, int32_t W,
                              int32_t C, int32_t oh, int32_t ow, float *out, gc_errbuf *err);
/* g_in (n, H, W, C) = its backward from g_out (n, oh, ow, C) */
gc_status gc_avgpool_bwd_cuda(cudaStream_t st, const float *g_out, int32_t n, int32_t H,
                              int32_t W, int32_t C, int32_t oh, int32_t ow, float *g_in,
                              gc_errbuf *err);
/* col (n*P*Q, k*k*C) = the k x k patches (no padding) of in (n, ph, pw, C), columns (ky,kx,c) */
gc_status gc_patches_cuda(cudaStream_t st, const float *in, int32_t n, int32_t ph, int32_t pw,
                          int32_t C, int32_t k, float *col, gc_errbuf *err);
/* g_in (n, ph, pw, C) = the sum of the patch gradients g_col (n*P*Q, k*k*C) onto the map */
gc_status gc_patches_bwd_cuda(cudaStream_t st, const float *g_col, int32_t n, int32_t ph,
                              int32_t pw, int32_t C, int32_t k, float *g_in, gc_errbuf *err);
/* logits (n, K) = mean over the PQ positions of y (n*PQ, K) */
gc_status gc_mean_positions_cuda(cudaStream_t st, const float *y, int32_t n, int32_t PQ,
                                 int32_t K, float *logits, gc_errbuf *err);
/* alpha (n, Kc) = mean over hw of grad (n, hw, Kc) */
gc_status gc_alpha_cuda(cudaStream_t st, const float *grad, int32_t n, int32_t hw, int32_t Kc,
                        float *alpha, gc_errbuf *err);
/* cam (n, hw) = ReLU(sum_c alpha (n, Kc) * A (n, hw, Kc)) */
gc_status gc_cam_cuda(cudaStream_t st, const float *A, const float *alpha, int32_t n,
                      int32_t hw, int32_t Kc, float *cam, gc_errbuf *err);

#endif /* GC_CUDA_KERNELS_CUH */
