/*
 * model.h — the VGG network as the backends see it: feature layers (3x3 convs with folded
 * BatchNorm, 2x2 max-pools) and a dense head, with weights converted to float32 in the
 * layouts the backends use, plus what the weights' metadata says (labels, preprocessing).
 *
 * Head, both layouts in one form: the final feature map (C,h,w) is average-pooled to
 * (C,ph,pw); dense[0] is a "patch" layer with a kh x kw kernel applied without padding at
 * every position (P = ph-kh+1 by Q = pw-kw+1 positions); dense[1..] act per position; a ReLU
 * follows every dense layer but the last; logits are averaged over the P*Q positions.
 *   torchvision: adaptive pool to (s,s), kernel s x s, so P = Q = 1 and this is
 *                Linear(C*s*s) -> ReLU -> ... -> Linear, flattened in (C,s,s) order.
 *   timm:        pool only when h or w < 7 (to max(7,h) x max(7,w)), kernel 7x7 (fc1),
 *                1x1 fc2, then global average and head.fc: equal to averaging the logits.
 */
#ifndef GC_MODEL_H
#define GC_MODEL_H

#include "gc_internal.h"

#define GC_MAX_LAYERS 64
#define GC_MAX_DENSE 8

typedef enum gc_layer_kind { GC_LAYER_CONV, GC_LAYER_POOL } gc_layer_kind;

typedef struct gc_layer {
    gc_layer_kind kind;
    int32_t cin, cout;      /* a pool keeps its channels: cin == cout             */
    int32_t block;          /* 1-based VGG block (a block ends at a pool)          */
    int32_t tv_index;       /* torchvision features.N of the conv or pool module    */
    float *w;               /* conv: (cout, 3, 3, cin), BatchNorm folded in         */
    float *b;               /* conv: (cout)                                          */
    char name[32];          /* "block2_conv1", "block2_pool"                         */
} gc_layer;

typedef struct gc_dense {
    int32_t in, out;
    float *w;               /* (out, in); dense[0]: (out, kh, kw, C)                 */
    float *b;               /* (out)                                                 */
} gc_dense;

typedef enum gc_head_kind { GC_HEAD_TORCHVISION, GC_HEAD_TIMM } gc_head_kind;

typedef struct gc_model {
    int32_t n_layers;
    gc_layer layers[GC_MAX_LAYERS];
    int32_t has_bn;
    gc_head_kind head;
    int32_t head_pool;      /* torchvision: pool to head_pool^2; timm: minimum size 7  */
    int32_t fc1_kernel;     /* kh = kw of dense[0]                                      */
    int32_t n_dense;
    gc_dense dense[GC_MAX_DENSE];
    int32_t num_classes;
    char arch[512];         /* torchvision cfg syntax: "64,64,M,128,..."                */
    /* from "__metadata__" (0 / NULL when absent) */
    gc_preprocess preprocess;
    int32_t meta_input_w, meta_input_h;
    int32_t n_labels;
    char **labels;
} gc_model;

/* Sizes that follow from the model and the input size, the same for every backend. */
typedef struct gc_geometry {
    int32_t h[GC_MAX_LAYERS], w[GC_MAX_LAYERS]; /* output size of each feature layer        */
    int32_t ph, pw;      /* the head's pooled map                                           */
    int32_t P, Q;        /* positions of dense[0]'s kernel on it                            */
    int32_t kk_c;        /* length of one patch: k * k * C                                  */
    int direct_patch;    /* one position covering the whole pooled map: no patch copy       */
} gc_geometry;

void gc_model_geometry(const gc_model *m, int32_t in_h, int32_t in_w, gc_geometry *g);
/* The largest batch-of-N layer output (N * h * w * cout elements, at least 1) among the
 * layers before `split` and among those from `split` on: what a backend's ping-pong buffers
 * and its kept outputs / gradient buffers must each hold. */
void gc_layer_extents(const gc_model *m, const gc_geometry *g, size_t N, int32_t split,
                      size_t *below, size_t *above);

/* Reads, validates and converts the weights. arch_override (may be NULL) wins over the
 * file's "gradcam.arch" metadata, which wins over inference from keys and shapes. */
gc_status gc_model_load(gc_model *m, const char *path, const char *arch_override,
                        gc_errbuf *err);
void gc_model_free(gc_model *m);

#endif /* GC_MODEL_H */
