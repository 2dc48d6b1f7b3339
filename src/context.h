/*
 * context.h — the gc_context behind the opaque handle, and the backend table.
 *
 * Backends are batch-oriented: one call runs n preprocessed images through forward,
 * backward to the target layer and the cam. They fill logits and raw cams; the shared host
 * code in context.c turns those into results (top-5, softmax, normalization).
 */
#ifndef GC_CONTEXT_H
#define GC_CONTEXT_H

#include "gc_internal.h"
#include "model.h"

typedef enum gc_stage {
    GC_STAGE_POST = 0, /* conv: after ReLU (Keras' blockN_convM); pool: its output */
    GC_STAGE_PRE = 1,  /* conv: before ReLU (torchvision's features.N on the conv)  */
} gc_stage;

/* gc_profile_step_ms: at most this many named steps a call, names this long (a layer's name,
 * up to 31 characters, with "guided backward: " before it and " data" after) */
#define GC_MAX_STEPS 128
#define GC_STEP_NAME 64

/* Adds ms to the call's step `name` (a new one at the end; beyond GC_MAX_STEPS: dropped). */
void gc_profile_add_step(gc_context *ctx, const char *name, double ms);

/* The part of an image (pixels) that preprocessing resizes to the network size: the whole
 * image, or its centered crop (GC_RESIZE_CROP). */
typedef struct gc_region {
    int32_t x, y, w, h;
} gc_region;

/* context.c's host work for images [from, to) of a batch whose logits, class ids and raw
 * cams (rows from .. to) are in its host buffers: their results, and their normalized cams
 * into the batch's cams, which *cams then points to (row i: the batch's image i). */
typedef gc_status (*gc_finish_fn)(gc_context *ctx, void *arg, int32_t from, int32_t to,
                                  const float **cams);

typedef struct gc_backend_ops {
    const char *name;
    gc_status (*create)(gc_context *ctx, void **state);
    void (*destroy)(void *state);
    /* input (n, H, W, 3) NHWC, preprocessed. classes: n ids, -1 = top-1.
     * Writes logits (n, num_classes), the explained class ids, and raw cams (n, h*w). */
    gc_status (*explain)(gc_context *ctx, void *state, const float *input, int32_t n,
                         const int32_t *classes, float *logits, int32_t *class_ids,
                         float *cams_raw);
    /* As explain, from a device pointer to an (n, 3, H, W) NCHW tensor (gc_explain_device).
     * NULL when the backend has no device memory. */
    gc_status (*explain_device)(gc_context *ctx, void *state, const float *device_input,
                                int32_t n, const int32_t *classes, float *logits,
                                int32_t *class_ids, float *cams_raw);
    /* Forward only: logits (n, num_classes). NULL when the backend cannot. */
    gc_status (*predict)(gc_context *ctx, void *state, const float *input, int32_t n,
                         float *logits);
    /* Forward only from a device tensor (gc_predict_device); NULL without device memory. */
    gc_status (*predict_device)(gc_context *ctx, void *state, const float *device_input,
                                int32_t n, float *logits);
    /* One tensor of one image of the last batch, in PyTorch order ((K,h,w) etc.): the
     * activation, gradient and weights, for the guided methods GC_TENSOR_GUIDED_BACKPROP
     * (3, H, W), and GC_TENSOR_INPUT (3, H, W) when explain_images or explain_tensor took
     * the batch's input.
     * context.c makes GC_TENSOR_GUIDED_GRADCAM from that and the cam. */
    gc_status (*read_tensor)(gc_context *ctx, void *state, gc_tensor which, int32_t image,
                             float *out);
    /* Optional pair (NULL: context.c preprocesses and renders on the host); used only while
     * ctx->backend_images is set (the backend's create decides).
     * explain_images: n checked 8-bit images of any sizes and the region of each to resize;
     * the backend preprocesses them itself, bit for bit as gc_preprocess_images does
     * (stage_images in context.c), then explains them as explain does. It keeps the images
     * for render. */
    gc_status (*explain_images)(gc_context *ctx, void *state, const gc_image *images,
                                const gc_region *regions, int32_t n, const int32_t *classes,
                                float *logits, int32_t *class_ids, float *cams_raw);
    /* predict_images (optional with explain_images): the same preprocessing, then the forward
     * only, as predict. It leaves no images for render. */
    gc_status (*predict_images)(gc_context *ctx, void *state, const gc_image *images,
                                const gc_region *regions, int32_t n, float *logits);
    /* render: the normalized cams (n, h*w) onto the n images of the last explain_images call,
     * byte for byte as gc_render; overlays / heatmaps as gc_explain_render (NULL, or n
     * pointers, NULL entries skipped; called only when some entry is set), colormap and
     * alpha already checked. */
    gc_status (*render)(gc_context *ctx, void *state, int32_t n, const float *cams,
                        gc_colormap colormap, float alpha, uint8_t *const *overlays,
                        uint8_t *const *heatmaps);
    /* explain_render (optional; used only while ctx->render_split is set, the backend's
     * create decides): explain_images and render of one batch in one call, in parts whose
     * copies and host work overlap another part's compute; finish(ctx, arg, from, to, &cams)
     * once part [from, to)'s logits, class ids and raw cams are in the host buffers. The
     * batch's tensors are not kept (gc_tensor_get has no batch after it). */
    gc_status (*explain_render)(gc_context *ctx, void *state, const gc_image *images,
                                const gc_region *regions, int32_t n, const int32_t *classes,
                                float *logits, int32_t *class_ids, float *cams_raw,
                                gc_finish_fn finish, void *arg, gc_colormap colormap,
                                float alpha, uint8_t *const *overlays,
                                uint8_t *const *heatmaps);
    /* Optional pair (NULL: context.c stages gc_explain_tensor's and gc_predict_tensor's
     * tensor into ctx->input, NHWC, for explain / predict): the caller's (n, 3, H, W) host
     * tensor as it is, which the backend copies where it needs it, checking every value with
     * gc_copy_finite. An image holding a NaN or an infinity: *bad = the first such, GC_OK and
     * nothing run (context.c reports it); else *bad = n and as explain / predict.
     * GC_TENSOR_INPUT then comes from read_tensor. */
    gc_status (*explain_tensor)(gc_context *ctx, void *state, const float *input, int32_t n,
                                const int32_t *classes, float *logits, int32_t *class_ids,
                                float *cams_raw, int32_t *bad);
    gc_status (*predict_tensor)(gc_context *ctx, void *state, const float *input, int32_t n,
                                float *logits, int32_t *bad);
} gc_backend_ops;

/* context.c: n floats copied; 1 when one of them is a NaN or an infinity (an input the
 * ReLUs would turn into a plausible answer), else 0. */
int gc_copy_finite(float *dst, const float *src, size_t n);

/* score.c, shared by the backends. Top-1 where classes is NULL or -1. */
void gc_pick_classes(const gc_context *ctx, const float *logits, int32_t n,
                     const int32_t *classes, int32_t *class_ids);
/* dy/dlogits, (n * positions, num_classes): one-hot for the logit score, p_c (delta_cj - p_j)
 * for the softmax score, divided over the positions the logits were averaged from; negated
 * for counterfactual maps. */
void gc_score_gradient(const gc_context *ctx, const float *logits, int32_t n,
                       const int32_t *cls, int32_t positions, float *grad);

/* The guided methods: their cam is Grad-CAM's; the backend also computes the guided
 * gradient down to the input. */
static inline int gc_method_guided(gc_method m)
{
    return m == GC_METHOD_GUIDED_BACKPROP || m == GC_METHOD_GUIDED_GRADCAM;
}

/* cam_methods.c: one image's cam (hw) and channel weights (K) from A and G, both (hw, K). */
void gc_cam_compute(gc_method method, const float *A, const float *G, size_t hw, size_t K,
                    float *alpha, float *cam);

extern const gc_backend_ops gc_cpu_backend;
#ifdef GC_WITH_CUDA
extern const gc_backend_ops gc_cuda_backend;
/* GC_OK when a usable CUDA device `device` exists (driver, compute capability >= 8.0);
 * otherwise a status and a message saying why (no device, driver too old, ...). */
gc_status gc_cuda_probe(int32_t device, gc_errbuf *err);
/* cudaGetDeviceCount, 0 on any error. */
int32_t gc_cuda_count_devices(void);
#endif

struct gc_context {
    gc_errbuf err;
    gc_status sticky; /* GC_OK, or the fatal status that made the context unusable */
    gc_options opt;   /* resolved; string fields point at the copies below */
    char *weights_path, *arch, *layer;
    gc_model model;
    int32_t in_w, in_h;
    gc_geometry geo;        /* layer and head sizes at this input size (model.c) */
    int32_t target;         /* index into model.layers */
    gc_stage stage;
    int32_t cam_h, cam_w, cam_c;
    char target_name[64];
    char backend_note[512]; /* gc_backend_note: why AUTO left the GPU out ("" when it did not) */
    int auto_backend;       /* options.backend was AUTO and chose CUDA                        */
    int auto_precision;     /* ... and options.precision was AUTO                             */
    char *layer_names[GC_MAX_LAYERS];
    const gc_backend_ops *ops;
    void *be;
    int32_t last_n;         /* images in the last successful batch; 0 = none yet */
    int32_t input_on_device;/* the last batch came from gc_explain_device: no host input */
    int32_t backend_images; /* the backend preprocesses and renders images itself
                               (ops->explain_images / ops->render); set by its create */
    int32_t render_split;   /* gc_explain_render goes through ops->explain_render; set by
                               the backend's create (GC_RENDER_PIPELINE=1 on CUDA)        */
    int32_t backend_tensors; /* the tensor calls hand the caller's tensor to the backend
                                (ops->explain_tensor / predict_tensor); set by its create
                                (on CUDA unless GC_TENSOR_UPLOAD=whole)                    */
    int32_t split_last;     /* the last batch went that way (it keeps no tensors)         */
    int32_t input_in_backend; /* the last batch's input was taken by the backend (images it
                                preprocessed, a tensor it staged): read back through
                                ops->read_tensor, not ctx->input */
    gc_profile prof;        /* the last batch's stage times: backends fill the stages and
                               device_bytes, context.c the rest (gc_profile_get) */
    double layer_ms[GC_MAX_LAYERS]; /* ... and each feature layer's forward (profiling)   */
    int32_t layers_timed;   /* layer_ms holds the last call's times                      */
    int32_t n_steps;        /* the device's steps after the features (gc_profile_step_ms) */
    double step_ms[GC_MAX_STEPS];
    char step_name[GC_MAX_STEPS][GC_STEP_NAME];
    /* host staging, sized for max_batch */
    float *input;           /* (max_batch, H, W, 3) */
    uint8_t *resized;       /* (pre_threads, H, W, 3): one resize buffer per thread */
    int32_t pre_threads;    /* threads preprocessing a batch (options.threads, <= max_batch) */
    float *logits;          /* (max_batch, num_classes) */
    float *cams_raw;        /* (max_batch, h*w) */
    int32_t *class_ids;     /* (max_batch) */
    /* a batch's results made from its logits while the backend's device computes its cams
     * (gc_early_results): run_batch sets early_wanted and early_classes around the
     * backend's call; early_done = the images done, early_ids their classes */
    int32_t early_wanted; /* set while a gc_explain batch is in the backend */
    const int32_t *early_classes;
    gc_result *early_buf; /* (max_batch): copied to the caller's once the batch succeeds */
    int32_t *early_ids;   /* (max_batch) */
    int32_t early_done;
    float *cams_norm;       /* (max_batch, h*w): gc_explain_render's cams when the caller
                               passes none */
    gc_region *regions;     /* (max_batch): the regions of a batch for explain_images */
    char *autotune_report;  /* NULL, or what options.autotune chose (the CUDA backend
                               writes it at create; gc_autotune_report) */
};

/* context.c, for a backend whose device goes on after a batch's head (the backward, the
 * cams): once the batch's n logits are in ctx->logits, the results of its images (the class
 * each is explained as picked from the logits as the device picks it), made while the device
 * works; the cams' part follows the batch. Nothing when no gc_explain batch wants it or a
 * logit is not finite (the batch's end reports that). */
void gc_early_results(gc_context *ctx, int32_t n);

/* Whether a batch call would take gc_early_results now. */
static inline int gc_early_wanted(const gc_context *ctx)
{
    return ctx->early_wanted;
}

#endif /* GC_CONTEXT_H */
