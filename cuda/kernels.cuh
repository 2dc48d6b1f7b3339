/*
 * kernels.cuh — the CUDA backend's own kernels, one per op, each with a host launcher that
 * checks the launch (cudaGetLastError) and returns a gc_status. Same algorithms as the CPU
 * reference in src/cpu_backend.c; every tensor is NHWC on the device.
 *
 * Feature maps (activations and their gradients) are of the context's element type
 * (gc_dtype: float32, or fp16 / bf16 in the low-precision modes); every kernel reads them
 * into float, computes in float and rounds once when it stores. The head's dense outputs,
 * the logits, the target's activation and gradient copies, the channel weights and the cams
 * are always float32. Pointers to typed maps are void *; the shape comment says the type.
 */
#ifndef GC_CUDA_KERNELS_CUH
#define GC_CUDA_KERNELS_CUH

#include "check.cuh"

typedef enum gc_dtype {
    GC_DT_F32 = 0,
    GC_DT_F16 = 1,
    GC_DT_BF16 = 2,
} gc_dtype;

static inline size_t gc_dtype_size(gc_dtype t)
{
    return t == GC_DT_F32 ? 4 : 2;
}

/* Host-side rounding of float32 to the element type (round to nearest even), for weights. */
void gc_dtype_from_float_host(gc_dtype t, const float *src, void *dst, size_t len);

/* y (rows, C) of type t = y + b[c], then ReLU when relu != 0 (b of type t, may be NULL). */
gc_status gc_bias_act_cuda(cudaStream_t st, gc_dtype t, void *y, const void *b, size_t rows,
                           int32_t C, int relu, gc_errbuf *err);
/* y (len) = max(x, 0), both of type t */
gc_status gc_relu_cuda(cudaStream_t st, gc_dtype t, const void *x, void *y, size_t len,
                       gc_errbuf *err);
/* The ReLU backward given the ReLU's output act: g (len) *= (act > 0); guided backprop's rule
 * when guided != 0: g *= (act > 0) * (g > 0). g and act of type t. */
gc_status gc_relu_mask_cuda(cudaStream_t st, gc_dtype t, void *g, const void *act, size_t len,
                            int guided, gc_errbuf *err);
/* dst (len) of type td = src (len) of type ts * scale (float arithmetic, one rounding) */
gc_status gc_convert_cuda(cudaStream_t st, gc_dtype ts, const void *src, gc_dtype td, void *dst,
                          size_t len, float scale, gc_errbuf *err);
/* x (n, H, W, C0) of type t = the float32 image batch src, channels 0..2 from
 * src[i * s_img + c * s_ch + (y * W + x) * s_px], channels 3..C0-1 zero. NHWC input:
 * s_img = 3HW, s_ch = 1, s_px = 3; NCHW input: s_img = 3HW, s_ch = HW, s_px = 1. */
gc_status gc_pack_input_cuda(cudaStream_t st, const float *src, size_t s_img, size_t s_ch,
                             size_t s_px, int32_t n, int32_t H, int32_t W, int32_t C0,
                             gc_dtype t, void *x, gc_errbuf *err);
/* out (n, 3, H, W) float32 NCHW = channels 0..2 of g (n, H, W, C0) of type t, times scale */
gc_status gc_unpack_grad_cuda(cudaStream_t st, gc_dtype t, const void *g, int32_t n, int32_t H,
                              int32_t W, int32_t C0, float scale, float *out, gc_errbuf *err);
/* out (n, H/2, W/2, C) = 2x2 stride-2 max of in (n, H, W, C), type t */
gc_status gc_maxpool_fwd_cuda(cudaStream_t st, gc_dtype t, const void *in, int32_t n, int32_t H,
                              int32_t W, int32_t C, void *out, gc_errbuf *err);
/* g_in (n, H, W, C) = gradient g_out (n, H/2, W/2, C) routed to each window's first maximum
 * in the forward input in (n, H, W, C); all of type t */
gc_status gc_maxpool_bwd_cuda(cudaStream_t st, gc_dtype t, const void *in, const void *g_out,
                              int32_t n, int32_t H, int32_t W, int32_t C, void *g_in,
                              gc_errbuf *err);
/* out (n, oh, ow, C) = PyTorch adaptive_avg_pool2d of in (n, H, W, C), both of type t */
gc_status gc_avgpool_fwd_cuda(cudaStream_t st, gc_dtype t, const void *in, int32_t n, int32_t H,
                              int32_t W, int32_t C, int32_t oh, int32_t ow, void *out,
                              gc_errbuf *err);
/* g_in (n, H, W, C) of type t = its backward from the float32 g_out (n, oh, ow, C) */
gc_status gc_avgpool_bwd_cuda(cudaStream_t st, const float *g_out, int32_t n, int32_t H,
                              int32_t W, int32_t C, int32_t oh, int32_t ow, gc_dtype t,
                              void *g_in, gc_errbuf *err);
/* col (n*P*Q, k*k*C) = the k x k patches (no padding) of in (n, ph, pw, C), columns (ky,kx,c),
 * both of type t */
gc_status gc_patches_cuda(cudaStream_t st, gc_dtype t, const void *in, int32_t n, int32_t ph,
                          int32_t pw, int32_t C, int32_t k, void *col, gc_errbuf *err);
/* g_in (n, ph, pw, C) = the sum of the patch gradients g_col (n*P*Q, k*k*C) onto the map
 * (float32) */
gc_status gc_patches_bwd_cuda(cudaStream_t st, const float *g_col, int32_t n, int32_t ph,
                              int32_t pw, int32_t C, int32_t k, float *g_in, gc_errbuf *err);
/* logits (n, K) = mean over the PQ positions of y (n*PQ, K) (float32) */
gc_status gc_mean_positions_cuda(cudaStream_t st, const float *y, int32_t n, int32_t PQ,
                                 int32_t K, float *logits, gc_errbuf *err);
/* The explained classes and the score gradient from the logits (n, K), as the host's
 * gc_pick_classes + gc_score_gradient (score.c, gc_math.h): classes (n) holds each image's
 * asked-for class or -1 (top-1) and gets the chosen one; grad (n, PQ, K) = d score / d logits
 * at each of the head's PQ positions, times scale (gc_score_scale), then times gscale (the
 * fp16 gradient scale). softmax != 0: the softmax score, else the logit. stats: 3n doubles
 * of scratch (per image the softmax's max, sum and p_c). All float32 but stats. */
gc_status gc_score_grad_cuda(cudaStream_t st, const float *logits, int32_t n, int32_t PQ,
                             int32_t K, int softmax, float scale, float gscale,
                             int32_t *classes, double *stats, float *grad, gc_errbuf *err);
/* alpha (n, Kc) float32 = the method's channel weights from A and G (n, hw, Kc) of type t,
 * each gradient value times gs (in float: 1 / the fp16 gradient scale), as gc_cam_compute
 * (src/cam_methods.c) on the float values, with gc_math.h's terms */
gc_status gc_cam_weights_cuda(cudaStream_t st, int method, gc_dtype t, const void *A, const void *G,
                              float gs, int32_t n, int32_t hw, int32_t Kc, float *alpha,
                              gc_errbuf *err);
/* cam (n, hw) float32 = ReLU(sum_c gc_cam_term(method, alpha, G * gs, A)), A and G as above */
gc_status gc_cam_cuda(cudaStream_t st, int method, gc_dtype t, const void *A, const void *G,
                      float gs, const float *alpha, int32_t n, int32_t hw, int32_t Kc, float *cam,
                      gc_errbuf *err);

/* The first conv on the CUDA cores (cuda/first_conv.cu): y (n, H, W, K) of type t = ReLU
 * (when relu) of the 3x3 conv (padding 1) of channels 0..2 of x (n, H, W, C0) plus the bias,
 * with wb the (27, K) weights and K biases of gc_first_conv_weights_host (16-byte aligned, as
 * y). Possible when gc_first_conv_supported(cin, cout): 3 inputs, a multiple of 8 outputs;
 * taken by default in true fp32 (cuda/backend_create.cu). */
int gc_first_conv_supported(int32_t cin, int32_t cout);
size_t gc_first_conv_weight_floats(int32_t cout);
/* wb = the model's (cout, 3, 3, 3) float weights w and biases b (may be NULL) in the
 * kernel's layout, rounded to t as the other layers' weights are */
void gc_first_conv_weights_host(gc_dtype t, const float *w, const float *b, int32_t cout,
                                float *wb);
gc_status gc_first_conv_cuda(cudaStream_t st, gc_dtype t, const void *x, int32_t C0,
                             const float *wb, void *y, int32_t n, int32_t H, int32_t W,
                             int32_t K, int relu, gc_errbuf *err);

/* The same on the tensor cores (cuda/first_conv_tc.cu), fp16/bf16 only: y (n, H, W, K) of
 * type t from channels 0..2 of x (n, H, W, C0), with wt the (32, K) weights of
 * gc_first_conv_tc_weights_host in t and bias its K floats (wt and y 32-byte aligned, bias
 * 16-byte aligned; x 16-byte aligned when C0 is 8).
 * Possible when gc_first_conv_tc_supported(t, cin, cout): 3 inputs, a multiple of 16
 * outputs. Opt-in (GC_FIRST_CONV=tc) until timed on a GPU. */
int gc_first_conv_tc_supported(gc_dtype t, int32_t cin, int32_t cout);
size_t gc_first_conv_tc_weight_elems(int32_t cout);
/* wt (gc_first_conv_tc_weight_elems floats, to go up in t) and bias (cout floats, rounded to
 * t) from the model's (cout, 3, 3, 3) float weights w and biases b (may be NULL) */
void gc_first_conv_tc_weights_host(gc_dtype t, const float *w, const float *b, int32_t cout,
                                   float *wt, float *bias);
gc_status gc_first_conv_tc_cuda(cudaStream_t st, gc_dtype t, const void *x, int32_t C0,
                                const void *wt, const float *bias, void *y, int32_t n,
                                int32_t H, int32_t W, int32_t K, int relu, gc_errbuf *err);

/* The first block fused (cuda/first_block.cu), fp16/bf16 only: y (n, H/2, W/2, K) of type t
 * = the 2x2 max-pool of ReLU(conv2(ReLU(conv1(x) + b1)) + b2), conv1 on channels 0..2 of x
 * (n, H, W, C0), both 3x3 with padding 1, the first conv's map rounded to t as a layer's
 * output is; wt the gc_first_block_weights_host weights in t (16-byte aligned), bias its
 * floats, y 8-byte aligned. Possible when gc_first_block_supported(t, cin, k1, k2): 3 inputs,
 * k1 = k2 = 8, 16, 32 or 64; gc_first_block_prepare (once per device and type) then says whether
 * the device has the shared memory (GC_ERR_UNSUPPORTED if not) and gives the grid's blocks
 * (one a multiprocessor). Opt-in (GC_FIRST_BLOCK=fused) until timed on a GPU. */
int gc_first_block_supported(gc_dtype t, int32_t cin, int32_t k1, int32_t k2);
size_t gc_first_block_weight_elems(int32_t K);
size_t gc_first_block_bias_floats(int32_t K);
/* the dynamic shared memory a block takes (what gc_first_block_prepare asks of the device) */
size_t gc_first_block_smem_bytes(gc_dtype t, int32_t K);
/* wt (gc_first_block_weight_elems floats, to go up in t) and bias
 * (gc_first_block_bias_floats: the two convs' biases, each padded to a multiple of 16)
 * from the model's float weights w1 (K, 3, 3, 3), w2 (K, 3, 3, K) and biases (may be NULL) */
void gc_first_block_weights_host(gc_dtype t, const float *w1, const float *b1, const float *w2,
                                 const float *b2, int32_t K, float *wt, float *bias);
gc_status gc_first_block_prepare(int device, gc_dtype t, int32_t K, int *blocks, gc_errbuf *err);
/* clocks: NULL, or GC_FB_PHASES counters on the device that the kernel's warps add their
 * cycles in each phase to (a variant of the kernel for profiled runs: where its time goes;
 * gc_first_block_phase_name names them) */
#define GC_FB_PHASES 6
gc_status gc_first_block_cuda(cudaStream_t st, gc_dtype t, const void *x, int32_t C0,
                              const void *wt, const float *bias, void *y, int32_t n, int32_t H,
                              int32_t W, int32_t K, int blocks, unsigned long long *clocks,
                              gc_errbuf *err);
const char *gc_first_block_phase_name(int phase);

#endif /* GC_CUDA_KERNELS_CUH */
