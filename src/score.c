/*
 * score.c — the host's class choice and score gradient, between a forward and its backward:
 * the CPU backend's (the CUDA backend does the same on the device, gc_score_grad_cuda, with
 * the same gc_math.h formulas), and the class of gc_predict's results.
 */
#include <string.h>

#include "context.h"
#include "gc_math.h"

void gc_pick_classes(const gc_context *ctx, const float *logits, int32_t n,
                     const int32_t *classes, int32_t *class_ids)
{
    const int32_t K = ctx->model.num_classes;
    for (int32_t i = 0; i < n; i++) {
        const int32_t c = classes ? classes[i] : -1;
        class_ids[i] = c >= 0 ? c : gc_top1(logits + (size_t)i * K, K);
    }
}

void gc_score_gradient(const gc_context *ctx, const float *logits, int32_t n,
                       const int32_t *cls, int32_t positions, float *grad)
{
    const int32_t K = ctx->model.num_classes, PQ = positions;
    const int softmax = ctx->opt.score == GC_SCORE_SOFTMAX;
    const float scale = gc_score_scale(ctx->opt.counterfactual, PQ);
    for (int32_t i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        float *g = grad + (size_t)i * PQ * K;
        double mx = 0.0, sum = 1.0, pc = 0.0;
        if (softmax) {
            gc_softmax_sums(z, K, &mx, &sum);
            pc = gc_softmax_p(z[cls[i]], mx, sum);
        }
        for (int32_t j = 0; j < K; j++)
            g[j] = gc_score_grad(softmax, j == cls[i], pc,
                                 softmax ? gc_softmax_p(z[j], mx, sum) : 0.0, scale);
        for (int32_t p = 1; p < PQ; p++) /* the same at every position of the head */
            memcpy(g + (size_t)p * K, g, sizeof(float) * K);
    }
}
