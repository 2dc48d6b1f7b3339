/*
 * gpu_outputs.h — one batch's outputs read back stage by stage, for comparing a CUDA
 * context with a CPU one (or with another CUDA context): test_gpu_vs_cpu.c,
 * test_gpu_autotune.c.
 */
#ifndef GC_TEST_GPU_OUTPUTS_H
#define GC_TEST_GPU_OUTPUTS_H

#include <stddef.h>

#include "gradcam.h"

typedef struct outputs {
    gc_result *res;
    float *cams, *logits, *act, *grad, *alpha, *raw;
    size_t hw, K, Kc;
} outputs;

/* n images of the (n, 3, H, W) tensor x through ctx (gc_explain_tensor), then every stage
 * read back with gc_tensor_get. 0 on success; else 1, with the reason printed. */
int outputs_run(gc_context *ctx, const float *x, int32_t n, const int32_t *classes,
                outputs *o);
void outputs_free(outputs *o);

#endif
