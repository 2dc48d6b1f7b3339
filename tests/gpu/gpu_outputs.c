/*
 * gpu_outputs.c — see gpu_outputs.h.
 */
#include "gpu_outputs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void outputs_free(outputs *o)
{
    free(o->res), free(o->cams), free(o->logits), free(o->act), free(o->grad);
    free(o->alpha), free(o->raw), free(o->gbp), free(o->ggc);
    memset(o, 0, sizeof *o);
}

int outputs_alloc(gc_context *ctx, int32_t n, outputs *o)
{
    gc_model_info info;
    memset(o, 0, sizeof *o);
    if (gc_model_info_get(ctx, &info) != GC_OK)
        return 1;
    o->n = n;
    o->hw = (size_t)info.cam_width * info.cam_height;
    o->K = (size_t)info.num_classes;
    o->Kc = (size_t)info.cam_channels;
    o->HW3 = (size_t)3 * info.input_width * info.input_height;
    const size_t nn = (size_t)n;
    o->res = calloc(nn, sizeof *o->res);
    o->cams = malloc(sizeof(float) * nn * o->hw);
    o->raw = malloc(sizeof(float) * nn * o->hw);
    o->logits = malloc(sizeof(float) * nn * o->K);
    o->act = malloc(sizeof(float) * nn * o->Kc * o->hw);
    o->grad = malloc(sizeof(float) * nn * o->Kc * o->hw);
    o->alpha = malloc(sizeof(float) * nn * o->Kc);
    o->gbp = calloc(nn * o->HW3, sizeof(float));
    o->ggc = calloc(nn * o->HW3, sizeof(float));
    if (!o->res || !o->cams || !o->raw || !o->logits || !o->act || !o->grad || !o->alpha ||
        !o->gbp || !o->ggc) {
        printf("  out of memory\n");
        return 1;
    }
    return 0;
}

int outputs_read_back(gc_context *ctx, gc_method method, outputs *o)
{
    for (int32_t i = 0; i < o->n; i++) {
        if (gc_tensor_get(ctx, GC_TENSOR_LOGITS, i, o->logits + i * o->K, o->K, NULL) ||
            gc_tensor_get(ctx, GC_TENSOR_ACTIVATION, i, o->act + i * o->Kc * o->hw,
                          o->Kc * o->hw, NULL) ||
            gc_tensor_get(ctx, GC_TENSOR_GRADIENT, i, o->grad + i * o->Kc * o->hw,
                          o->Kc * o->hw, NULL) ||
            gc_tensor_get(ctx, GC_TENSOR_WEIGHTS, i, o->alpha + i * o->Kc, o->Kc, NULL) ||
            gc_tensor_get(ctx, GC_TENSOR_CAM_RAW, i, o->raw + i * o->hw, o->hw, NULL)) {
            printf("  tensor_get: %s\n", gc_last_error(ctx));
            return 1;
        }
        if ((method == GC_METHOD_GUIDED_BACKPROP || method == GC_METHOD_GUIDED_GRADCAM) &&
            gc_tensor_get(ctx, GC_TENSOR_GUIDED_BACKPROP, i, o->gbp + i * o->HW3, o->HW3,
                          NULL)) {
            printf("  tensor_get(guided backprop): %s\n", gc_last_error(ctx));
            return 1;
        }
        if (method == GC_METHOD_GUIDED_GRADCAM &&
            gc_tensor_get(ctx, GC_TENSOR_GUIDED_GRADCAM, i, o->ggc + i * o->HW3, o->HW3, NULL)) {
            printf("  tensor_get(guided Grad-CAM): %s\n", gc_last_error(ctx));
            return 1;
        }
    }
    return 0;
}

/* p's softmax probability against the logits z (K), in double: the test's own sum. */
static double softmax_p(const float *z, size_t K, size_t c)
{
    double mx = z[0], sum = 0.0;
    for (size_t j = 1; j < K; j++)
        mx = z[j] > mx ? z[j] : mx;
    for (size_t j = 0; j < K; j++)
        sum += exp((double)z[j] - mx);
    return exp((double)z[c] - mx) / sum;
}

static int prob_close(float got, double want)
{
    return fabs((double)got - want) <= 1e-5 * want + 1e-12;
}

int outputs_check_results(const outputs *o)
{
    int bad = 0;
    for (int32_t i = 0; i < o->n && bad < 5; i++) {
        const gc_result *r = &o->res[i];
        const float *z = o->logits + (size_t)i * o->K, *raw = o->raw + (size_t)i * o->hw;
        const int bad_before = bad;
        if (r->class_id < 0 || (size_t)r->class_id >= o->K) {
            printf("  result %d: class %d out of range  FAIL\n", i, r->class_id);
            bad++;
            continue;
        }
        if (r->logit != z[r->class_id] || !prob_close(r->prob, softmax_p(z, o->K, r->class_id)))
            bad++;
        float cam_max = raw[0];
        for (size_t p = 1; p < o->hw; p++)
            cam_max = raw[p] > cam_max ? raw[p] : cam_max;
        bad += r->cam_max != cam_max;
        /* the top-5: the largest logit not taken yet, the lower index first among equals */
        unsigned char taken[4096] = {0};
        for (int t = 0; t < GC_TOPK && o->K <= sizeof taken; t++) {
            size_t best = o->K;
            for (size_t j = 0; j < o->K; j++)
                if (!taken[j] && (best == o->K || z[j] > z[best]))
                    best = j;
            const int32_t want = best < o->K ? (int32_t)best : -1;
            if (want >= 0)
                taken[best] = 1;
            if (r->top_class[t] != want ||
                (want >= 0 && !prob_close(r->top_prob[t], softmax_p(z, o->K, best))))
                bad++;
        }
        if (bad != bad_before)
            printf("  result %d: class %d logit %g prob %g cam_max %g top %d %d %d %d %d do "
                   "not follow from its logits and raw cam (logit %g, prob %g)  FAIL\n",
                   i, r->class_id, r->logit, r->prob, r->cam_max, r->top_class[0], r->top_class[1],
                   r->top_class[2], r->top_class[3], r->top_class[4], z[r->class_id],
                   softmax_p(z, o->K, r->class_id));
    }
    return bad != 0;
}

int outputs_run(gc_context *ctx, gc_method method, const float *x, int32_t n,
                const int32_t *classes, outputs *o)
{
    if (outputs_alloc(ctx, n, o))
        return 1;
    if (gc_explain_tensor(ctx, x, n, classes, o->res, o->cams, (size_t)n * o->hw) != GC_OK) {
        printf("  explain: %s\n", gc_last_error(ctx));
        return 1;
    }
    if (outputs_read_back(ctx, method, o))
        return 1;
    return outputs_check_results(o);
}
