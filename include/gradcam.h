/*
 * gradcam.h — the public C API of libgradcam: Grad-CAM heatmaps for VGG-family classifiers.
 *
 * One header, plain C11, stable names. The flow for a user:
 *
 *     gc_options opt = gc_options_default();
 *     opt.weights_path = "vgg16.safetensors";
 *     gc_context *ctx = NULL;
 *     if (gc_context_create(&opt, &ctx) != GC_OK) { puts(gc_last_error(ctx)); ... }
 *     gc_model_info info; gc_model_info_get(ctx, &info);
 *     float *cams = malloc(sizeof(float) * n * info.cam_height * info.cam_width);
 *     gc_explain(ctx, images, n, NULL, results, cams, n * info.cam_height * info.cam_width);
 *     gc_context_destroy(ctx);
 *
 * Conventions
 * - Every fallible call returns a gc_status; GC_OK is 0. gc_status_string() names a status,
 *   gc_last_error(ctx) tells what failed in detail (which file, tensor, layer, and why).
 * - The library never prints, exits or aborts, and keeps no process-global error state.
 * - Buffers are owned by the caller and passed with their length in elements; a call whose
 *   buffer is too small fails with GC_ERR_BUFFER_TOO_SMALL and writes nothing. Only host
 *   pointers cross this API; the context owns every device resource.
 * - Thread safety: a context is used by one thread at a time (calls on one context must not
 *   overlap). Different contexts are independent and may be used concurrently from different
 *   threads. gc_status_string, gc_options_default and gc_version_string are thread-safe.
 * - CUDA state of the calling thread: calls on a CUDA context make its device the thread's
 *   current one (cudaSetDevice is per thread) and leave it so (putting back device 0 would
 *   initialize it, in every process of a multi-GPU node); with contexts on several devices,
 *   set your device again before your own CUDA calls. They also read (so clear) a pending
 *   non-sticky CUDA error: check yours with cudaGetLastError before calling.
 * - Numerics: a batch whose logits or cam come out NaN or infinite (fp16 overflows past
 *   65504) fails with GC_ERR_UNSUPPORTED naming the image, rather than explain class 0.
 * - Tensor shapes are written (N,C,H,W) as in PyTorch; activations and gradients read back
 *   through gc_tensor_get are in that order, whatever layout a backend uses inside.
 */
#ifndef GRADCAM_H
#define GRADCAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRADCAM_VERSION_MAJOR 0
#define GRADCAM_VERSION_MINOR 1
#define GRADCAM_VERSION_PATCH 0

#if defined(_WIN32) && defined(GRADCAM_SHARED)
#  ifdef GRADCAM_BUILDING
#    define GC_API __declspec(dllexport)
#  else
#    define GC_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define GC_API __attribute__((visibility("default")))
#else
#  define GC_API
#endif

/* ---------------------------------------------------------------- status codes */

typedef enum gc_status {
    GC_OK = 0,
    GC_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a value out of range, a bad option     */
    GC_ERR_OUT_OF_MEMORY = 2,    /* host or device allocation failed                       */
    GC_ERR_IO = 3,               /* a file could not be opened, mapped or read             */
    GC_ERR_WEIGHTS_FORMAT = 4,   /* the weights file is not valid safetensors              */
    GC_ERR_MODEL = 5,            /* valid file, but not a VGG we can run (keys, shapes)    */
    GC_ERR_LAYER = 6,            /* unknown or unusable target layer name                  */
    GC_ERR_UNSUPPORTED = 7,      /* the request is valid but this backend cannot do it     */
    GC_ERR_BACKEND = 8,          /* a CUDA / cuDNN / cuBLAS / BLAS call failed             */
    GC_ERR_BUFFER_TOO_SMALL = 9, /* a caller buffer is shorter than the size query says    */
    GC_ERR_BAD_STATE = 10,       /* the context hit a fatal error earlier and is unusable  */
    GC_ERR_NOT_AVAILABLE = 11,   /* asked for data that does not exist (yet)               */
} gc_status;

/* Name and meaning of a status; never NULL (unknown codes give "unknown status"). */
GC_API const char *gc_status_string(gc_status status);

/* "MAJOR.MINOR.PATCH" of the linked library (may differ from the header's macros). */
GC_API const char *gc_version_string(void);

/* ---------------------------------------------------------------- options */

typedef enum gc_backend {
    GC_BACKEND_AUTO = 0, /* CUDA when built in and a usable GPU (compute capability 8.0+)
                            is present, else the CPU; gc_backend_note says why not */
    GC_BACKEND_CPU = 1,  /* the plain-C reference backend (OpenBLAS GEMMs)           */
    GC_BACKEND_CUDA = 2,
} gc_backend;

typedef enum gc_score {
    GC_SCORE_LOGIT = 0,   /* y^c = the class logit (Grad-CAM paper, pytorch-grad-cam) */
    GC_SCORE_SOFTMAX = 1, /* y^c = the softmax probability (the classic Keras code)   */
} gc_score;

typedef enum gc_norm {
    GC_NORM_MAX = 0,    /* cam / max(cam); an all-zero cam stays zero                  */
    GC_NORM_MINMAX = 1, /* (cam - min) / (max(cam - min) + 1e-7), as pytorch-grad-cam  */
} gc_norm;

typedef enum gc_method {
    GC_METHOD_GRADCAM = 0,   /* w_k = mean_ij G;  cam = ReLU(sum_k w_k A_k)  (Selvaraju et al.) */
    GC_METHOD_GRADCAM_PP = 1,/* Grad-CAM++ (Chattopadhyay et al., eq. 19, as pytorch-grad-cam):
                                w_k = sum_ij ReLU(G) a_ij, a = G^2 / (2G^2 + sum(A) G^3 + 1e-6) */
    GC_METHOD_XGRADCAM = 2,  /* w_k = sum_ij G A / (sum_ij A + 1e-7)                         */
    GC_METHOD_LAYERCAM = 3,  /* cam = ReLU(sum_k ReLU(G_k) A_k), element-wise                  */
    GC_METHOD_HIRESCAM = 4,  /* cam = ReLU(sum_k G_k A_k), element-wise                        */
    /* The guided methods compute Grad-CAM's cam and, in the same batch, the gradient of y^c
     * with respect to the input image through the whole network with the guided-backprop
     * rule (Springenberg et al.): at every ReLU, conv and dense layers alike, a gradient
     * passes only where both it and the activation are positive. Read it with
     * gc_tensor_get, draw it with gc_render_saliency. It costs about one more forward. */
    GC_METHOD_GUIDED_BACKPROP = 5, /* GC_TENSOR_GUIDED_BACKPROP: the guided gradient      */
    GC_METHOD_GUIDED_GRADCAM = 6,  /* also GC_TENSOR_GUIDED_GRADCAM: that gradient times the
                                      normalized cam resized to the input size (Selvaraju
                                      et al., section 3.1)                                  */
} gc_method;

typedef enum gc_preprocess {
    GC_PREPROCESS_AUTO = 0,  /* the weights' metadata "gradcam.preprocess", else TORCH   */
    GC_PREPROCESS_TORCH = 1, /* RGB, x/255, ImageNet mean/std (torchvision, timm)         */
    GC_PREPROCESS_CAFFE = 2, /* BGR, x - [103.939, 116.779, 123.68] (Keras' VGG16)        */
} gc_preprocess;

typedef enum gc_resize {
    GC_RESIZE_STRETCH = 0, /* the whole image to the network size, aspect not kept       */
    GC_RESIZE_CROP = 1,    /* scale the shorter side to fit, then take the center        */
} gc_resize;

typedef enum gc_precision {
    GC_PRECISION_AUTO = 0, /* fp32 on the CPU, bf16 on the GPU */
    GC_PRECISION_FP32 = 1,
    GC_PRECISION_TF32 = 2,
    GC_PRECISION_BF16 = 3,
    GC_PRECISION_FP16 = 4,
} gc_precision;

/* "auto", "fp32", "tf32", "bf16", "fp16" (the command's --precision words); "?" for any
 * other value. Thread-safe. */
GC_API const char *gc_precision_name(gc_precision precision);

typedef struct gc_options {
    const char *weights_path; /* safetensors file (F32, F16 or BF16); required              */
    const char *arch;         /* NULL, or a torchvision cfg "64,64,M,128,...,M" that
                                 overrides what is inferred from the weights               */
    const char *layer;        /* target layer: NULL = the last conv layer; "block5_conv3"
                                 (post-ReLU), "block5_conv3_preact" (before its ReLU),
                                 "block5_pool", or a torchvision "features.N"              */
    gc_backend backend;
    int32_t device;           /* CUDA device ordinal                                         */
    gc_precision precision;
    gc_score score;
    gc_norm norm;
    gc_preprocess preprocess;
    gc_resize resize;
    int32_t input_width;      /* network input size; 0 = metadata "gradcam.input_size",
                                 else 224                                                   */
    int32_t input_height;
    int32_t max_batch;        /* most images per gc_explain call; buffers are sized for it  */
    gc_method method;         /* the CAM method (default Grad-CAM)                          */
    int32_t counterfactual;   /* nonzero: explain what speaks AGAINST the class, from the
                                 gradient of -y^c (the Grad-CAM paper's counterfactual maps) */
    int32_t threads;          /* CPU threads for the CPU backend and for preprocessing a
                                 batch's images on the host (the CUDA backend does that on
                                 the GPU); 0 = all cores. The CPU
                                 backend sets OpenBLAS (process-wide) to 1 thread and
                                 parallelizes itself                                        */
    int32_t profile;          /* nonzero: time every stage of each batch (gc_profile_get). On
                                 the GPU this synchronizes between stages: slower batches  */
    int32_t autotune;         /* CUDA backend: 0 (default) = each conv takes the first cuDNN
                                 engine config of the heuristics that builds; 1 = at context
                                 creation, time up to 8 other candidates per conv plan
                                 (heuristics mode A then B, same numerics, workspace <= 256
                                 MiB) on the context's buffers at max_batch and keep the
                                 fastest (costs seconds to a minute of creation; see
                                 gc_autotune_report); n = 2..64: up to n candidates. The
                                 environment's GC_CUDNN_AUTOTUNE=0/1/n overrides it. The
                                 choices are kept on disk (GC_CUDNN_PLAN_CACHE, docs/api.md)
                                 and reused without timing. The CPU backend ignores it      */
} gc_options;

/* Defaults: last conv layer, logit score, max normalization, auto preprocessing, stretch,
 * auto backend and precision, 224x224 unless the weights say otherwise, max_batch 8. */
GC_API gc_options gc_options_default(void);

/* ---------------------------------------------------------------- context */

typedef struct gc_context gc_context;

/* Loads and validates the weights, infers the VGG configuration, prepares the backend.
 * On failure *out is still set (to a context in the bad state, or NULL when even that
 * could not be allocated) so gc_last_error(*out) can say why; destroy it either way. */
GC_API gc_status gc_context_create(const gc_options *options, gc_context **out);

/* How many CUDA devices there are (ordinals 0 .. count-1, for one context per device);
 * 0 when this build has no CUDA backend or there is no usable driver or GPU. A context on
 * a device the backend cannot use (compute capability below 8.0) fails and says so.
 * Thread-safe. */
GC_API int32_t gc_cuda_device_count(void);

/* What options.autotune chose, one line per conv plan ("forward block1_conv1: eng42_k2=1
 * 0.512 ms (default eng0 0.590 ms; 8 candidates timed) ..."; engines are cuDNN's global
 * engine index and knob choices, " rtc" when compiled at run time), or "" when the context
 * did not autotune (CPU backend, autotune 0, NULL ctx); with GC_HEAD_GEMM=lt in the
 * environment also a line per dense GEMM ("head GEMM dense 0 forward ..."). Valid for the
 * context's lifetime. */
GC_API const char *gc_autotune_report(const gc_context *ctx);

/* Frees everything the context owns. NULL is allowed. */
GC_API void gc_context_destroy(gc_context *ctx);

/* The detailed message of the last failure on this context ("" when none). Valid until the
 * next call on the context. NULL ctx gives a message about allocation failure. */
GC_API const char *gc_last_error(const gc_context *ctx);

/* ---------------------------------------------------------------- the model */

typedef struct gc_model_info {
    int32_t num_classes;
    int32_t input_width, input_height;  /* network input size                             */
    int32_t num_conv_layers;
    int32_t cam_width, cam_height;      /* target layer's spatial size = the cam's size   */
    int32_t cam_channels;               /* K, channels of the target activation           */
    int32_t max_batch;
    gc_preprocess preprocess;           /* resolved: TORCH or CAFFE                        */
    gc_backend backend;                 /* resolved: CPU or CUDA                           */
    gc_precision precision;             /* resolved                                        */
    const char *target_layer;           /* canonical name, e.g. "block5_conv3" (options.layer
                                           takes it back)                                 */
    const char *arch;                   /* the cfg in torchvision syntax, e.g. "64,64,M,..." */
    const char *head;                   /* "torchvision" or "timm"                         */
} gc_model_info;

/* Strings in *info stay valid for the context's lifetime. */
GC_API gc_status gc_model_info_get(gc_context *ctx, gc_model_info *info);

/* Why a context created with GC_BACKEND_AUTO runs on the CPU ("no GPU used: no CUDA device
 * found", or the CUDA backend's creation error — but for GC_ERR_OUT_OF_MEMORY, which AUTO
 * returns as it is: a max_batch too large for the GPU), for the caller to show; NULL when
 * AUTO chose the GPU or the backend was named. Valid for the context's lifetime. */
GC_API const char *gc_backend_note(const gc_context *ctx);

/* Class name from the weights' metadata ("gradcam.classes"), or NULL when there is none. */
GC_API const char *gc_class_label(const gc_context *ctx, int32_t class_id);

/* The names of all layers that can be targets, in network order: index 0 .. count-1.
 * Returns NULL past the end. */
GC_API const char *gc_layer_name(const gc_context *ctx, int32_t index);

/* ---------------------------------------------------------------- explaining images */

/* An 8-bit RGB image in host memory: row y starts at data + y * stride (stride >= 3*width). */
typedef struct gc_image {
    const uint8_t *data;
    int32_t width, height;
    int32_t stride;
} gc_image;

#define GC_TOPK 5

typedef struct gc_result {
    int32_t class_id;       /* the explained class                                         */
    float score;            /* y^c: the logit or the probability, as options.score         */
    float logit;            /* the explained class's logit                                 */
    float prob;             /* its softmax probability                                     */
    float cam_max;          /* max of the raw (unnormalized) cam, >= 0                     */
    int32_t top_class[GC_TOPK]; /* top-5 by logit (fewer classes: the rest are -1)        */
    float top_prob[GC_TOPK];
} gc_result;

/* Runs Grad-CAM on n images (1 <= n <= max_batch) of any sizes: preprocessing (resize to the
 * network size, normalization), forward, backward to the target layer, the cam.
 *   classes  NULL, or n class ids; -1 means the top-1 prediction for that image
 *   results  n results (written)
 *   cams     (n, cam_height, cam_width) normalized cams (written), cams_len elements; may be
 *            NULL (with cams_len 0) when only predictions and gc_tensor_get are wanted.
 * An image's results do not depend on the other images in its batch, up to float32
 * rounding (BLAS kernels may treat a matrix's last rows differently: ~1e-6 relative).
 * On error nothing is guaranteed about the outputs, and gc_tensor_get has no batch. */
GC_API gc_status gc_explain(gc_context *ctx, const gc_image *images, int32_t n,
                            const int32_t *classes, gc_result *results,
                            float *cams, size_t cams_len);

/* As gc_explain, from an already preprocessed (n, 3, input_height, input_width) float tensor
 * in PyTorch's NCHW order (channels in the order the model expects: RGB for torch mode,
 * BGR for caffe mode). A tensor holding a NaN or an infinity is GC_ERR_INVALID_ARGUMENT,
 * naming the first such image (the device calls below do not look). */
GC_API gc_status gc_explain_tensor(gc_context *ctx, const float *input, int32_t n,
                                   const int32_t *classes, gc_result *results,
                                   float *cams, size_t cams_len);

/* As gc_explain_tensor, but `device_input` is a CUDA device pointer (on options.device) to
 * the (n, 3, input_height, input_width) float tensor: for pipelines that decode and
 * preprocess on the GPU, and for timing the compute alone. The call returns when the batch
 * is done; the tensor is only read. The library waits for the legacy default stream before
 * reading it; work that writes it on a stream of your own must be finished (or that stream
 * synchronized) before the call. GC_ERR_UNSUPPORTED on the CPU backend; a host pointer or one
 * on another device is GC_ERR_INVALID_ARGUMENT. gc_tensor_get(GC_TENSOR_INPUT) is not
 * available after it. */
GC_API gc_status gc_explain_device(gc_context *ctx, const float *device_input, int32_t n,
                                   const int32_t *classes, gc_result *results,
                                   float *cams, size_t cams_len);

/* Classification only: the forward pass, no gradient and no cam (cheaper than gc_explain).
 * results[i] gets the top-1 class (class_id, logit, prob, score as options.score) and the
 * top-5; cam_max is 0. gc_tensor_get has no batch afterwards. */
GC_API gc_status gc_predict(gc_context *ctx, const gc_image *images, int32_t n,
                            gc_result *results);
GC_API gc_status gc_predict_tensor(gc_context *ctx, const float *input, int32_t n,
                                   gc_result *results);
/* The forward alone from a device tensor, with gc_explain_device's rules. */
GC_API gc_status gc_predict_device(gc_context *ctx, const float *device_input, int32_t n,
                                   gc_result *results);

/* The preprocessing alone: n images to an (n, 3, input_height, input_width) tensor,
 * exactly what gc_explain feeds the network. out_len is in elements. It shares the context's
 * staging buffer, so gc_tensor_get has no batch afterwards (GC_ERR_NOT_AVAILABLE). */
GC_API gc_status gc_preprocess_images(gc_context *ctx, const gc_image *images, int32_t n,
                                      float *out, size_t out_len);

/* ---------------------------------------------------------------- intermediate tensors */

typedef enum gc_tensor {
    GC_TENSOR_INPUT = 0,      /* (3, H, W) the network input                              */
    GC_TENSOR_LOGITS = 1,     /* (num_classes)                                             */
    GC_TENSOR_ACTIVATION = 2, /* (K, h, w) the target layer's activation A                 */
    GC_TENSOR_GRADIENT = 3,   /* (K, h, w) dy^c / dA                                       */
    GC_TENSOR_WEIGHTS = 4,    /* (K) the method's channel weights alpha_k (for LayerCAM and
                                 HiResCAM, which have none: the mean gradient)             */
    GC_TENSOR_CAM_RAW = 5,    /* (h, w) ReLU(sum_k alpha_k A_k), before normalization      */
    GC_TENSOR_GUIDED_BACKPROP = 6, /* (3, H, W) the guided-backprop d y^c / d input, in the
                                      input's channel order (guided methods only)          */
    GC_TENSOR_GUIDED_GRADCAM = 7,  /* (3, H, W) that times the normalized cam resized to H x W
                                      as cv2.resize INTER_LINEAR does (GUIDED_GRADCAM only) */
} gc_tensor;

/* Copies one tensor of image `image` of the last gc_explain* call into out (out_len floats).
 * *count (may be NULL) receives the tensor's element count; call with out = NULL to query
 * it. GC_ERR_NOT_AVAILABLE before any successful gc_explain* call. */
GC_API gc_status gc_tensor_get(gc_context *ctx, gc_tensor which, int32_t image,
                               float *out, size_t out_len, size_t *count);

/* ---------------------------------------------------------------- profiling */

/* Where the last gc_explain* / gc_predict* call spent its time, in milliseconds. Always
 * set: images, total_ms (the whole call, host wall clock) and device_bytes. The stages are
 * measured only when options.profile is set (else 0); on the GPU they come from CUDA events
 * around each stage. After a failed call images and every time are 0. Other calls
 * (gc_preprocess_images, gc_tensor_get) leave it as it was. */
typedef struct gc_profile {
    int32_t images;        /* in the batch                                                  */
    double total_ms;
    double preprocess_ms;  /* resize + normalize (0 for the *_tensor calls)                 */
    double upload_ms;      /* host-to-device copies (0 on the CPU)                          */
    double features_ms;    /* every feature layer forward: convs (bias, ReLU) and pools     */
    double head_ms;        /* average pool, dense layers, class choice                     */
    double backward_ms;    /* score gradient down to the target (to the input when guided) */
    double cam_ms;         /* channel weights, cam, normalization (on the GPU: its kernels;
                              with gc_explain_render on the GPU also the render kernel)     */
    double download_ms;    /* device-to-host copies (0 on the CPU), gc_explain_render's
                              rendered images included                                     */
    int64_t device_bytes;  /* device memory the context holds now (0 on the CPU); grows at
                              the first call with images, which adds their staging buffers */
    double results_ms;     /* the host's per-image results: softmax, top-5, each cam's range
                              and its normalized copy into the caller's array             */
    int32_t conv_images;   /* images each convolution of the call ran (profiling or not):
                              `images` on the CPU; on the GPU the batch its cuDNN plans were
                              built for (max_batch, or fewer: GC_BATCH_PLANS), summed over
                              a call that ran in parts (GC_RENDER_PIPELINE's halves)      */
} gc_profile;

GC_API gc_status gc_profile_get(const gc_context *ctx, gc_profile *out);

/* The forward time in ms of feature layer `index` (gc_layer_name's numbering: every conv and
 * pool, the conv's bias and ReLU included) in the last gc_explain* / gc_predict* call, when
 * options.profile is set; on the GPU from CUDA events between the layers. They add up to
 * about features_ms. Negative where nothing was measured: profiling off, a failed call, an
 * index past the last layer. */
GC_API double gc_profile_layer_ms(const gc_context *ctx, int32_t index);

/* The device's work after the feature layers in the last call, step by step, when
 * options.profile is set, on the CUDA backend (CUDA events between the steps): the head's
 * pool, GEMMs and their bias/ReLU kernels, the class choice and score gradient, the head's
 * and each layer's backward, the cam kernels. Step `index` (0, 1, ...): its time in ms, its
 * name in *name when name is non-NULL (valid until the next call on ctx). A step run more than
 * once in a call (the guided methods' second score gradient) adds up under one name. With
 * the first block in one kernel (GC_FIRST_BLOCK=fused) the list starts with its phases,
 * "first block: ...": layer 0's time split by its warps' cycles (they add up to
 * gc_profile_layer_ms(ctx, 0)). Negative past the last step and where nothing was measured
 * (profiling off, a failed call, the CPU backend). */
GC_API double gc_profile_step_ms(const gc_context *ctx, int32_t index, const char **name);

/* ---------------------------------------------------------------- rendering (CPU) */

typedef enum gc_colormap {
    GC_COLORMAP_JET = 0,  /* identical to OpenCV's COLORMAP_JET (the classic default) */
    GC_COLORMAP_TURBO = 1,
    GC_COLORMAP_VIRIDIS = 2,
    GC_COLORMAP_INFERNO = 3,
    GC_COLORMAP_MAGMA = 4,
} gc_colormap;

/* Renders a normalized cam onto its image, at the image's own size, exactly as the classic
 * OpenCV code does: cv2.resize(cam, (width, height), INTER_LINEAR) on float32,
 * np.uint8(255 * h) (truncation), cv2.applyColorMap, then
 * cv2.addWeighted(image, 1 - alpha, heat, alpha, 0) with saturating rounding.
 *   cam       (cam_height, cam_width) floats in [0, 1]
 *   heatmap   NULL, or (image->height, image->width, 3) packed RGB, heatmap_len bytes
 *   overlay   NULL, or the same size: the blend
 * Stateless and thread-safe. GC_ERR_INVALID_ARGUMENT / GC_ERR_BUFFER_TOO_SMALL on bad
 * arguments (no message: there is no context; the status says which). */
GC_API gc_status gc_render(const float *cam, int32_t cam_width, int32_t cam_height,
                           const gc_image *image, gc_colormap colormap, float alpha,
                           uint8_t *heatmap, size_t heatmap_len, uint8_t *overlay,
                           size_t overlay_len);

/* gc_explain, then each image's cam rendered onto that image as gc_render does (byte for
 * byte the same heatmap and overlay), in one call. On the CUDA backend the images uploaded for
 * the explanation are resized, normalized and rendered on the GPU, so the host only copies
 * pixels; on the CPU backend it is gc_explain followed by gc_render per image (images in
 * parallel).
 *   images .. cams_len   as gc_explain; cams may be NULL (the context renders from its own
 *                        copy of the normalized cams)
 *   colormap, alpha      as gc_render (alpha in [0, 1])
 *   overlays, heatmaps   NULL, or n pointers, each NULL (skip that image) or a caller buffer
 *                        of (images[i].height, images[i].width, 3) packed RGB bytes
 *   buffer_lens          n byte counts: image i's overlay and heatmap buffers each hold
 *                        buffer_lens[i] bytes (required when overlays or heatmaps is given)
 * Errors as gc_explain's, GC_ERR_INVALID_ARGUMENT for an unknown colormap or an alpha
 * outside [0, 1], GC_ERR_BUFFER_TOO_SMALL for a buffer shorter than its image (then nothing
 * is computed). When rendering fails after a successful explanation, the status says so and
 * results / cams hold the explanation. */
GC_API gc_status gc_explain_render(gc_context *ctx, const gc_image *images, int32_t n,
                                   const int32_t *classes, gc_result *results, float *cams,
                                   size_t cams_len, gc_colormap colormap, float alpha,
                                   uint8_t *const *overlays, uint8_t *const *heatmaps,
                                   const size_t *buffer_lens);

/* Draws a (3, height, width) input-space gradient (GC_TENSOR_GUIDED_*) as an 8-bit RGB image
 * the way the Grad-CAM authors and pytorch-grad-cam's deprocess_image do: over all values,
 * x = (x - mean) / (std + 1e-5) * 0.1 + 0.5, clipped to [0, 1], then uint8(255 x)
 * (truncation). bgr: nonzero when the tensor's channels are B, G, R (caffe preprocessing);
 * the output is RGB either way. out: (height, width, 3) packed, out_len bytes.
 * Stateless and thread-safe. */
GC_API gc_status gc_render_saliency(const float *grad, int32_t width, int32_t height,
                                    int32_t bgr, uint8_t *out, size_t out_len);

/* The colormap's 256 RGB entries (768 bytes), e.g. for a legend. NULL for unknown maps. */
GC_API const uint8_t *gc_colormap_table(gc_colormap colormap);

/* ---------------------------------------------------------------- image files */

typedef enum gc_file_format {
    GC_FORMAT_PNG = 0,
    GC_FORMAT_JPEG = 1,
} gc_file_format;

/* Decodes a PNG (8/16-bit, gray, palette, alpha: to RGB, alpha dropped, 16-bit keeps the high
 * byte), JPEG (grayscale and CMYK handled) or still WebP (lossy or lossless, alpha dropped) to
 * packed 8-bit RGB, pixel for pixel what OpenCV's cv2.imread(path, IMREAD_COLOR) gives, EXIF
 * orientation included (JPEG, and PNG eXIf chunks as OpenCV 4.6 does; not WebP's, which
 * OpenCV ignores). Animated WebP is refused, as OpenCV refuses it. Corrupt or truncated data is refused, not half-decoded
 * (stray bytes between JPEG markers are tolerated, as OpenCV does). The format is sniffed from the bytes, not the name. On success out->data is
 * allocated (free with gc_image_free) and out->stride = 3 * width. Images over max_pixels
 * (width * height; 0 = no limit) are refused before decoding. On failure err (err_len
 * bytes, may be NULL) says why, naming the file. Thread-safe. */
GC_API gc_status gc_image_read(const char *path, int64_t max_pixels, gc_image *out, char *err,
                               size_t err_len);

/* Frees what gc_image_read allocated and clears *img. NULL-safe. */
GC_API void gc_image_free(gc_image *img);

/* Encodes packed-or-strided 8-bit RGB to path, atomically: a temporary file in the same
 * folder, then rename, so a reader never sees half a file. png_level is zlib's level 0..9
 * (-1: a fast default); jpeg_quality 1..100 (0: 95). Thread-safe. */
GC_API gc_status gc_image_write(const char *path, const gc_image *image, gc_file_format format,
                                int32_t png_level, int32_t jpeg_quality, char *err,
                                size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* GRADCAM_H */
