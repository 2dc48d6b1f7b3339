/*
 * score.c — what every backend does on the host between its forward and its backward:
 * choose the class to explain, and the gradient of the chosen score w.r.t. the logits.
 * One copy, so the backends cannot differ here.
 */
#include <math.h>
#include <string.h>

#include "context.h"

void gc_pick_classes(const gc_context *ctx, const float *logits, int32_t n,
                     const int32_t *classes, int32_t *class_ids)
{
    const int32_t K = ctx->model.num_classes;
    for (int32_t i = 0; i < n; i++) {
        int32_t c = classes ? classes[i] : -1;
        if (c < 0) { /* top-1: the first largest logit, as torch.argmax */
            c = 0;
            for (int32_t j = 1; j < K; j++)
                if (logits[(size_t)i * K + j] > logits[(size_t)i * K + c])
                    c = j;
        }
        class_ids[i] = c;
    }
}

void gc_score_gradient(const gc_context *ctx, const float *logits, int32_t n,
                       const int32_t *cls, int32_t positions, float *grad)
{
    const int32_t K = ctx->model.num_classes, PQ = positions;
    for (int32_t i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        float *g = grad + (size_t)i * PQ * K;
        if (ctx->opt.score == GC_SCORE_SOFTMAX) {
            double mx = z[0], sum = 0.0;
            for (int32_t j = 1; j < K; j++)
                mx = z[j] > mx ? z[j] : mx;
            for (int32_t j = 0; j < K; j++)
                sum += exp((double)z[j] - mx);
            double pc = exp((double)z[cls[i]] - mx) / sum;
            for (int32_t j = 0; j < K; j++) {
                double pj = exp((double)z[j] - mx) / sum;
                g[j] = (float)(pc * ((j == cls[i]) - pj));
            }
        } else {
            for (int32_t j = 0; j < K; j++)
                g[j] = j == cls[i] ? 1.0f : 0.0f;
        }
        /* counterfactual maps follow -y^c: every gradient below changes sign */
        const float scale = (ctx->opt.counterfactual ? -1.0f : 1.0f) / (float)PQ;
        for (int32_t j = 0; j < K; j++)
            g[j] *= scale;
        for (int32_t p = 1; p < PQ; p++)
            memcpy(g + (size_t)p * K, g, sizeof(float) * K);
    }
}
