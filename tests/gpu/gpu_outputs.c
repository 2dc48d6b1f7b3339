/*
 * gpu_outputs.c — see gpu_outputs.h.
 */
#include "gpu_outputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void outputs_free(outputs *o)
{
    free(o->res), free(o->cams), free(o->logits), free(o->act), free(o->grad), free(o->alpha);
    free(o->raw);
    memset(o, 0, sizeof *o);
}

int outputs_run(gc_context *ctx, const float *x, int32_t n, const int32_t *classes,
                outputs *o)
{
    gc_model_info info;
    if (gc_model_info_get(ctx, &info) != GC_OK)
        return 1;
    o->hw = (size_t)info.cam_width * info.cam_height;
    o->K = (size_t)info.num_classes;
    o->Kc = (size_t)info.cam_channels;
    o->res = calloc((size_t)n, sizeof *o->res);
    o->cams = malloc(sizeof(float) * n * o->hw);
    o->raw = malloc(sizeof(float) * n * o->hw);
    o->logits = malloc(sizeof(float) * n * o->K);
    o->act = malloc(sizeof(float) * n * o->Kc * o->hw);
    o->grad = malloc(sizeof(float) * n * o->Kc * o->hw);
    o->alpha = malloc(sizeof(float) * n * o->Kc);
    if (!o->res || !o->cams || !o->raw || !o->logits || !o->act || !o->grad || !o->alpha) {
        printf("  out of memory\n");
        return 1;
    }
    if (gc_explain_tensor(ctx, x, n, classes, o->res, o->cams, n * o->hw) != GC_OK) {
        printf("  explain: %s\n", gc_last_error(ctx));
        return 1;
    }
    for (int32_t i = 0; i < n; i++)
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
    return 0;
}
