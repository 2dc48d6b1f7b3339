/*
 * gc_math.h — per-element maths that the CPU backend and the CUDA kernels must compute
 * identically: input normalization, pooling windows, cam normalization, the CAM methods'
 * per-element terms, the class choice and the score gradient. `static inline GC_HD` so nvcc
 * compiles them for the device too. Reductions over a tensor (sums, maxima) stay in each
 * backend; only the score's, over one image's logits, is here (one thread does it on the GPU).
 */
#ifndef GC_MATH_H
#define GC_MATH_H

#include <math.h>
#include <stdint.h>

#include "gradcam.h" /* gc_method */

#ifdef __CUDACC__
#define GC_HD __host__ __device__
#else
#define GC_HD
#endif

/* torchvision / timm ImageNet statistics, in RGB order */
#define GC_TORCH_MEAN_R 0.485f
#define GC_TORCH_MEAN_G 0.456f
#define GC_TORCH_MEAN_B 0.406f
#define GC_TORCH_STD_R 0.229f
#define GC_TORCH_STD_G 0.224f
#define GC_TORCH_STD_B 0.225f
/* Keras / Caffe VGG16: BGR order, mean subtraction only, 0..255 scale */
#define GC_CAFFE_MEAN_B 103.939f
#define GC_CAFFE_MEAN_G 116.779f
#define GC_CAFFE_MEAN_R 123.68f

/* The network input value of channel `ch` (0,1,2 in the model's order) for an RGB pixel.
 * caffe != 0: the model's channel 0 is blue. Written as torchvision computes it:
 * (x / 255 - mean) / std, in float. */
static inline GC_HD float gc_normalize_pixel(int caffe, int ch, float r, float g, float b)
{
    if (caffe) {
        if (ch == 0)
            return b - GC_CAFFE_MEAN_B;
        if (ch == 1)
            return g - GC_CAFFE_MEAN_G;
        return r - GC_CAFFE_MEAN_R;
    }
    if (ch == 0)
        return (r / 255.0f - GC_TORCH_MEAN_R) / GC_TORCH_STD_R;
    if (ch == 1)
        return (g / 255.0f - GC_TORCH_MEAN_G) / GC_TORCH_STD_G;
    return (b / 255.0f - GC_TORCH_MEAN_B) / GC_TORCH_STD_B;
}

/* The resizing and rendering maths (OpenCV's INTER_LINEAR and INTER_AREA taps, colormap
 * index, blend) is in image_math.h. */

/* PyTorch's adaptive pooling window [start, end) of output index o. */
static inline GC_HD int32_t gc_adaptive_start(int32_t o, int32_t in, int32_t out)
{
    return (int32_t)(((int64_t)o * in) / out);
}
static inline GC_HD int32_t gc_adaptive_end(int32_t o, int32_t in, int32_t out)
{
    return (int32_t)((((int64_t)(o + 1) * in) + out - 1) / out);
}

/* Normalization of one cam value, given the cam's min and max (after the ReLU).
 * minmax != 0: pytorch-grad-cam's (v - min) / (max - min + 1e-7);
 * else the classic v / max, where an all-zero cam stays zero. */
static inline GC_HD float gc_cam_normalize(int minmax, float v, float lo, float hi)
{
    if (minmax)
        return (v - lo) / ((hi - lo) + 1e-7f);
    return hi > 0.0f ? v / hi : 0.0f;
}

/* ---- CAM methods (cam_methods.c on the CPU, kernels.cu on the GPU): the per-element terms.
 * `method` is a gc_method (gradcam.h); the guided methods' cam is Grad-CAM's. Each backend
 * sums the terms in its own order; pytorch-grad-cam's formulas, one image, one channel c:
 *   Grad-CAM (and LayerCAM, HiResCAM, guided):  alpha_c = sum_ij G / hw
 *   Grad-CAM++:  alpha_c = sum_ij gc_gradcampp_term(G, sum_ij A)
 *   XGrad-CAM:   alpha_c = sum_ij gc_xgradcam_term(G, A, sum_ij A)
 *   cam_ij = ReLU(sum_c gc_cam_term(method, alpha_c, G_cij, A_cij)) */

/* 1 when the method's channel weights need sum_ij A first (Grad-CAM++, XGrad-CAM). */
static inline GC_HD int gc_method_needs_sum_a(int method)
{
    return method == GC_METHOD_GRADCAM_PP || method == GC_METHOD_XGRADCAM;
}

/* Grad-CAM++: ReLU(g) * a_ij with a = g^2 / (2 g^2 + sum_a g^3 + 1e-6); zero where g is
 * (pytorch-grad-cam's np.where(grads != 0, aij, 0)). */
static inline GC_HD float gc_gradcampp_term(float g, float sum_a)
{
    if (g == 0.0f)
        return 0.0f;
    const float g2 = g * g, g3 = g2 * g;
    const float a = g2 / (2.0f * g2 + sum_a * g3 + 1e-6f);
    return (g > 0.0f ? g : 0.0f) * a;
}

/* XGrad-CAM: g * a / (sum_a + 1e-7). */
static inline GC_HD float gc_xgradcam_term(float g, float a, float sum_a)
{
    return g * a / (sum_a + 1e-7f);
}

/* One channel's contribution to the cam at one position, before the final ReLU. */
static inline GC_HD float gc_cam_term(int method, float alpha, float g, float a)
{
    if (method == GC_METHOD_LAYERCAM)
        return (g > 0.0f ? g : 0.0f) * a;
    if (method == GC_METHOD_HIRESCAM)
        return g * a;
    return alpha * a;
}

static inline GC_HD float gc_relu(float v)
{
    return v > 0.0f ? v : 0.0f;
}

/* ---- The explained class and the score's gradient w.r.t. the logits z (score.c on the host,
 * kernels.cu's gc_score_grad_cuda on the GPU), one image's K logits at a time. */

/* The order of classes by logit: v ranks above w when larger; NaN below every number (a
 * NaN cannot hide the numbers after it); equal values keep index order (the callers scan j
 * ascending and move only on "above"). */
static inline GC_HD int gc_ranks_above(float v, float w)
{
    return v > w || (w != w && v == v);
}

/* The class explained when none is asked for: the first largest logit, as torch.argmax
 * (which, unlike this, would pick a NaN). */
static inline GC_HD int32_t gc_top1(const float *z, int32_t K)
{
    int32_t c = 0;
    for (int32_t j = 1; j < K; j++)
        if (gc_ranks_above(z[j], z[c]))
            c = j;
    return c;
}

/* The k (>= 1) first classes in that order, best first (top[0] == gc_top1), -1 past K: one
 * pass, each logit compared with the current k-th first (host; gc_result's top-5). */
static inline void gc_top_classes(const float *z, int32_t K, int32_t k, int32_t *top)
{
    int32_t m = 0; /* filled */
    for (int32_t j = 0; j < K; j++) {
        if (m == k && !gc_ranks_above(z[j], z[top[k - 1]]))
            continue;
        int32_t t = m < k ? m++ : k - 1; /* a full list drops its last */
        for (; t > 0 && gc_ranks_above(z[j], z[top[t - 1]]); t--)
            top[t] = top[t - 1];
        top[t] = j;
    }
    for (int32_t t = m; t < k; t++)
        top[t] = -1;
}

/* The softmax's largest logit and sum of exp(z_j - max), in double, j ascending. */
static inline GC_HD void gc_softmax_sums(const float *z, int32_t K, double *mx, double *sum)
{
    double m = z[0], t = 0.0;
    for (int32_t j = 1; j < K; j++)
        m = z[j] > m ? z[j] : m;
    for (int32_t j = 0; j < K; j++)
        t += exp((double)z[j] - m);
    *mx = m;
    *sum = t;
}

/* p_j, the softmax probability of a logit zj, from gc_softmax_sums */
static inline GC_HD double gc_softmax_p(float zj, double mx, double sum)
{
    return exp((double)zj - mx) / sum;
}

/* d score / d z_j for the explained class c (is_c: j == c), times `scale`: 1 for the logit
 * score; p_c (1[j = c] - p_j) for the softmax score (pc = p_c, pj = p_j). The caller's scale
 * holds the counterfactual sign and the 1 / positions of the head's mean. */
static inline GC_HD float gc_score_grad(int softmax, int is_c, double pc, double pj, float scale)
{
    const float g = softmax ? (float)(pc * ((double)is_c - pj)) : (is_c ? 1.0f : 0.0f);
    return g * scale;
}

/* That scale: -1 for counterfactual maps (they follow -y^c), over the head's positions. */
static inline GC_HD float gc_score_scale(int counterfactual, int32_t positions)
{
    return (counterfactual ? -1.0f : 1.0f) / (float)positions;
}

#endif /* GC_MATH_H */
