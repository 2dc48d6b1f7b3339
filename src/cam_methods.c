/*
 * cam_methods.c — one image's cam from its target activation A and gradient G, for every
 * method the library offers (gc_method in gradcam.h), written as pytorch-grad-cam computes
 * them. Host code for the CPU backend; both tensors (hw, K), NHWC. The per-element terms are
 * gc_math.h's, shared with the CUDA kernels (cuda/kernels.cu); the sums are this file's.
 */
#include "context.h"
#include "gc_math.h"

void gc_cam_compute(gc_method method, const float *A, const float *G, size_t hw, size_t K,
                    float *alpha, float *cam)
{
    for (size_t c = 0; c < K; c++)
        alpha[c] = 0.0f;
    if (gc_method_needs_sum_a(method)) {
        /* both need sum_ij A per channel; alpha holds it until the weights replace it */
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < K; c++)
                alpha[c] += A[p * K + c];
        for (size_t c = 0; c < K; c++) {
            const float sum_a = alpha[c];
            float w = 0.0f;
            for (size_t p = 0; p < hw; p++) {
                const float g = G[p * K + c];
                w += method == GC_METHOD_XGRADCAM ? gc_xgradcam_term(g, A[p * K + c], sum_a)
                                                  : gc_gradcampp_term(g, sum_a);
            }
            alpha[c] = w;
        }
    } else {
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < K; c++)
                alpha[c] += G[p * K + c];
        for (size_t c = 0; c < K; c++)
            alpha[c] /= (float)hw;
    }
    for (size_t p = 0; p < hw; p++) {
        float acc = 0.0f;
        const float *a = A + p * K, *g = G + p * K;
        for (size_t c = 0; c < K; c++)
            acc += gc_cam_term(method, alpha[c], g[c], a[c]);
        cam[p] = gc_relu(acc);
    }
}
