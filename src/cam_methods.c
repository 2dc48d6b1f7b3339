/*
 * cam_methods.c — one image's cam from its target activation A and gradient G, for every
 * method the library offers (gc_method in gradcam.h), written as pytorch-grad-cam computes
 * them. Host code for the CPU backend; both tensors (hw, K), NHWC.
 */
#include "context.h"

void gc_cam_compute(gc_method method, const float *A, const float *G, size_t hw, size_t K,
                    float *alpha, float *cam)
{
    for (size_t c = 0; c < K; c++)
        alpha[c] = 0.0f;
    if (method == GC_METHOD_GRADCAM_PP || method == GC_METHOD_XGRADCAM) {
        /* both need sum_ij A per channel; alpha holds it until the weights replace it */
        for (size_t p = 0; p < hw; p++)
            for (size_t c = 0; c < K; c++)
                alpha[c] += A[p * K + c];
        for (size_t c = 0; c < K; c++) {
            const float sum_a = alpha[c];
            float w = 0.0f;
            for (size_t p = 0; p < hw; p++) {
                const float g = G[p * K + c];
                if (method == GC_METHOD_XGRADCAM) {
                    w += g * A[p * K + c] / (sum_a + 1e-7f);
                } else if (g != 0.0f) { /* Grad-CAM++'s a_ij, zero where the gradient is */
                    const float g2 = g * g, g3 = g2 * g;
                    const float a = g2 / (2.0f * g2 + sum_a * g3 + 1e-6f);
                    w += (g > 0.0f ? g : 0.0f) * a;
                }
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
        switch (method) {
        case GC_METHOD_LAYERCAM:
            for (size_t c = 0; c < K; c++)
                acc += (g[c] > 0.0f ? g[c] : 0.0f) * a[c];
            break;
        case GC_METHOD_HIRESCAM:
            for (size_t c = 0; c < K; c++)
                acc += g[c] * a[c];
            break;
        default:
            for (size_t c = 0; c < K; c++)
                acc += alpha[c] * a[c];
        }
        cam[p] = acc > 0.0f ? acc : 0.0f;
    }
}
