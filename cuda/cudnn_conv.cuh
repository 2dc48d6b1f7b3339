/*
 * cudnn_conv.cuh — one 3x3 convolution (stride 1, padding 1, NHWC; float32, fp16 or bf16 in
 * memory, float32 compute) as a cuDNN 9 graph,
 * optionally with the bias add and the ReLU fused into it. Plans are built once, at context
 * creation, for a fixed shape; the variant pack binds fixed device pointers once.
 */
#ifndef GC_CUDNN_CONV_CUH
#define GC_CUDNN_CONV_CUH

#include "check.cuh"

#define GC_CONV_MAX_KEEP 24

typedef struct gc_conv_plan {
    cudnnBackendDescriptor_t plan;            /* finalized execution plan            */
    cudnnBackendDescriptor_t pack;            /* variant pack, after gc_conv_plan_bind */
    cudnnBackendDescriptor_t keep[GC_CONV_MAX_KEEP]; /* descriptors the plan came from */
    int n_keep;
    cudnnBackendDescriptor_t *cfgs;           /* the heuristics' engine configs       */
    int64_t n_cfgs;
    int64_t workspace;                        /* bytes                                 */
    int bias, relu;                           /* what the caller asked for             */
    int fused;  /* 1: bias/ReLU are in the graph; 0: the caller must run them after   */
    cudnnDataType_t dtype;                    /* x, w, b, y in memory                  */
    int64_t n, h, w, c, k;
} gc_conv_plan;

/* Which engines a plan may use, judged by their numerical notes. */
typedef enum gc_conv_numerics {
    GC_CONV_TRUE_FP32 = 0, /* no tensor cores, no down-conversion (fp32 mode)            */
    GC_CONV_FP32_ACCUM = 1,/* tensor cores allowed (tf32, fp16, bf16), but no reduced-
                              precision reduction: accumulation stays float             */
} gc_conv_numerics;

/* y (n, h, w, k) = conv(x (n, h, w, c), weights (k, 3, 3, c)) [+ b (k)] [then ReLU], all of
 * type dtype (CUDNN_DATA_FLOAT, _HALF or _BFLOAT16) in memory, computed in float.
 * Tries the fused graph first; when no engine runs it, builds the plain conv and sets
 * p->fused = 0. GC_ERR_UNSUPPORTED when no engine with the numerics runs even that. */
gc_status gc_conv_plan_build(cudnnHandle_t handle, cudnnDataType_t dtype, int64_t n, int64_t h,
                             int64_t w, int64_t c, int64_t k, int bias, int relu,
                             gc_conv_numerics numerics, gc_conv_plan *p, gc_errbuf *err);

/* Fixes the device pointers (b may be NULL when !bias) and the workspace (p->workspace bytes). */
gc_status gc_conv_plan_bind(gc_conv_plan *p, const void *x, const void *wt, const void *b,
                            void *y, void *workspace, gc_errbuf *err);

gc_status gc_conv_plan_run(cudnnHandle_t handle, const gc_conv_plan *p, gc_errbuf *err);

void gc_conv_plan_free(gc_conv_plan *p);

#endif /* GC_CUDNN_CONV_CUH */
