/*
 * gpu_outputs.h — one batch's outputs read back stage by stage, for comparing a CUDA
 * context with a CPU one (or with another CUDA context): test_gpu_vs_cpu.c,
 * test_gpu_features.c, test_gpu_autotune.c.
 */
#ifndef GC_TEST_GPU_OUTPUTS_H
#define GC_TEST_GPU_OUTPUTS_H

#include <stddef.h>

#include "gradcam.h"

typedef struct outputs {
    int32_t n;
    size_t hw, K, Kc, HW3;
    gc_result *res;
    float *cams, *logits, *act, *grad, *alpha, *raw;
    float *gbp, *ggc; /* (n, 3, H, W) guided tensors, zero unless the method has them */
} outputs;

/* Buffers for n images of ctx's model. 0 on success. */
int outputs_alloc(gc_context *ctx, int32_t n, outputs *o);
/* Every tensor of ctx's last batch into o (the guided ones when `method` has them). 0 on
 * success; else 1, with the reason printed. */
int outputs_read_back(gc_context *ctx, gc_method method, outputs *o);
/* Each result follows from the batch's logits and raw cams read back (the test's own
 * softmax and top-5): its class's logit and probability, the top-5 and their probabilities,
 * cam_max. 0 when all do; else 1, with the first few printed. */
int outputs_check_results(const outputs *o);
/* outputs_alloc, gc_explain_tensor of the (n, 3, H, W) tensor x, outputs_read_back,
 * outputs_check_results. */
int outputs_run(gc_context *ctx, gc_method method, const float *x, int32_t n,
                const int32_t *classes, outputs *o);
void outputs_free(outputs *o);

#endif
