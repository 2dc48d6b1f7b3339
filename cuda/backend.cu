/*
 * backend.cu — the CUDA backend behind gc_backend_ops (src/context.h): every CAM method of
 * the library, and guided backprop, on one GPU.
 *
 * The same algorithm, buffers and NHWC layout as the CPU reference (src/cpu_backend.c):
 * forward convs as cuDNN graphs (conv + bias + ReLU fused where an engine runs it), our
 * max-pool / adaptive-pool kernels, the dense head as cuBLAS GEMMs (row-major through the
 * transposition trick), and the backward from the score to the target layer only: dense
 * GEMMs transposed with ReLU masks, pool backwards, conv backward-data as a forward conv
 * graph with flipped, transposed weights (as the CPU code). Then the method's channel weights
 * and the raw cam (kernels.cu, with the per-element maths of src/gc_math.h). The guided
 * methods add a second backward from the score to the input image with the guided-ReLU rule
 * (the CPU's backward_features(stop = -1, guided = 1)); they keep every layer's output.
 *
 * Precisions: fp32 (true fp32 engines only), tf32 (tensor cores on float data), bf16 and
 * fp16: feature maps, conv and dense weights in the half type (converted once here), cuDNN
 * and cuBLAS computing in float; the input image padded from 3 to 8 channels (zero weights)
 * so that every conv's channels are 16-byte multiples; the dense outputs, logits, the target
 * activation and gradient, the channel weights and the cams in float. fp16 gradients are
 * computed ×1024 (undone at the target and at the input) so that small gradients do not
 * vanish below fp16's range; the scale is exact (a power of two) and every backward op is
 * linear or a sign test.
 *
 * Everything device-side is allocated once at create: one arena for weights and all tensors
 * of max_batch images, one cuDNN workspace, one stream, the handles, the conv plans (built
 * for max_batch) and, when profiling, the CUDA events. A batch of n < max_batch runs the
 * convs for max_batch (the plans' shape; the extra images are stale but finite and never
 * read) and every other op for n.
 *
 * Errors: every CUDA / cuDNN / cuBLAS status is checked (check.cuh); a failing layer adds its
 * name to the message. When a failure leaves the CUDA context unusable (a sticky error: an
 * illegal address in some kernel, a lost device), the gc_context enters its sticky bad state.
 * GC_CUDA_SYNC=1 in the environment synchronizes after every layer, so that an asynchronous
 * fault is reported at the layer that caused it.
 *
 * This file holds the entry points (the gc_backend_ops table at the end); the state they
 * share and the other files' jobs are in backend_state.cuh.
 */
#include <stdlib.h>
#include <string.h>

#include "backend_state.cuh"
#include "kernels.cuh"

/* The device image buffer, allocated at the first gc_explain of images (a context that never
 * calls it holds none): room for max_batch images of 4x the network's pixels (at least
 * 640x480), at most this much; a batch that needs more grows it. */
#define GC_IMG_STAGING_INITIAL_MAX ((size_t)256 << 20)

/* The staged images' buffer freed (the next batch of images allocates anew). */
static void release_images(gc_context *ctx, cuda_state *s)
{
    cudaFree(s->d_img);
    s->d_img = NULL;
    s->img_cap = 0;
    s->img_n = 0;
    gcu_account(ctx, s);
}

/* The rendered outputs' buffer freed (the next render allocates anew). */
static void release_out(gc_context *ctx, cuda_state *s)
{
    cudaFree(s->d_out);
    s->d_out = NULL;
    s->out_cap = 0;
    gcu_account(ctx, s);
}

/* d_img of exactly `bytes` (the old one, if any, is freed first: its contents are dropped).
 * On failure it is NULL, img_cap is 0, and the message says what to do. */
static gc_status alloc_images(gc_context *ctx, cuda_state *s, size_t bytes, int32_t n)
{
    release_images(ctx, s);
    cudaError_t e = cudaMalloc((void **)&s->d_img, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        s->d_img = NULL;
        return gc_fail(&ctx->err,
                       e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY : GC_ERR_BACKEND,
                       "CUDA backend: cudaMalloc (device image buffer) of %.1f MiB for a batch "
                       "of %d image(s) failed: %s (%s); use smaller images or batches, or "
                       "GC_CUDA_HOST_PREPROCESS=1",
                       bytes / 1048576.0, n, cudaGetErrorName(e), cudaGetErrorString(e));
    }
    s->img_cap = bytes;
    gcu_account(ctx, s);
    return GC_OK;
}

void gcu_free_ring(cuda_state *s)
{
    if (s->h_ring && s->ring_pinned)
        cudaFreeHost(s->h_ring);
    else
        free(s->h_ring);
    s->h_ring = NULL;
    s->ring_slot = 0;
}

/* The host ring h_ring (GC_RING_SLOTS slots of at least `slot` bytes, GC_RING_SLOT_BYTES
 * or GC_CUDA_RING_SLOT) and its events. Page-locked when the system allows, else plain
 * memory: the same copies, slower; either way a slot is touched only after its event (its
 * last copy done). */
static gc_status reserve_ring(gc_context *ctx, cuda_state *s, size_t slot)
{
    slot = GC_MAX(slot, s->ring_slot_min);
    for (int k = 0; k < GC_RING_SLOTS; k++)
        if (!s->ring_ev[k])
            GC_CUDA_TRY(&ctx->err,
                        cudaEventCreateWithFlags(&s->ring_ev[k], gcu_event_flags(s)));
    if (s->h_ring && s->ring_slot >= slot)
        return GC_OK;
    /* the slots' last copies are done before they go */
    for (int k = 0; s->h_ring && k < GC_RING_SLOTS; k++)
        GC_CUDA_TRY(&ctx->err, cudaEventSynchronize(s->ring_ev[k]));
    gcu_free_ring(s);
    s->ring_pinned = cudaHostAlloc((void **)&s->h_ring, GC_RING_SLOTS * slot,
                                   cudaHostAllocDefault) == cudaSuccess;
    if (!s->ring_pinned) {
        cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        s->h_ring = (uint8_t *)malloc(GC_RING_SLOTS * slot);
    }
    if (!s->h_ring)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY,
                       "CUDA backend: out of host memory for the %.1f MiB copy ring",
                       GC_RING_SLOTS * slot / 1048576.0);
    s->ring_slot = slot;
    return GC_OK;
}

/* Where image j's pixels end in the staged batch's packing (gcu_stage_table packs them in
 * order, each 16-byte aligned): where image j + 1's start, the last at img_pixels. */
static size_t image_end(const cuda_state *s, int32_t j)
{
    return j + 1 < s->img_count ? s->descs[j + 1].offset : s->img_pixels;
}

/* The images from `from` on, before `to`, that fit a ring slot `parts` times over (at least
 * one): the first past them. */
static int32_t chunk_end(const cuda_state *s, int32_t to, int32_t from, size_t parts)
{
    int32_t end = from + 1;
    while (end < to && parts * (image_end(s, end) - s->descs[from].offset) <= s->ring_slot)
        end++;
    return end;
}

/* The staged batch's largest image's packed bytes (a ring slot holds at least one image). */
static size_t largest_image(const cuda_state *s)
{
    size_t m = 0;
    for (int32_t i = 0; i < s->img_count; i++)
        m = GC_MAX(m, image_end(s, i) - s->descs[i].offset);
    return m;
}

/* d_out of at least `bytes`, grown with headroom where the device has room for it. */
gc_status gcu_reserve_out(gc_context *ctx, cuda_state *s, size_t bytes)
{
    if (bytes <= s->out_cap)
        return GC_OK;
    size_t cap = bytes + bytes / 2;
    release_out(ctx, s);
    cudaError_t e = cudaMalloc((void **)&s->d_out, cap);
    if (e == cudaErrorMemoryAllocation) { /* exactly what this batch needs */
        cudaGetLastError();
        cap = bytes;
        e = cudaMalloc((void **)&s->d_out, cap);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        s->d_out = NULL;
        return gc_fail(&ctx->err,
                       e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY : GC_ERR_BACKEND,
                       "CUDA backend: cudaMalloc of %.1f MiB for the rendered heatmaps and "
                       "overlays failed: %s (%s); use smaller images or batches",
                       cap / 1048576.0, cudaGetErrorName(e), cudaGetErrorString(e));
    }
    s->out_cap = cap;
    gcu_account(ctx, s);
    return GC_OK;
}

static gc_status check_n(gc_context *ctx, cuda_state *s, int32_t n)
{
    if (n < 1 || n > s->N)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "batch of %d; max_batch is %d", n,
                       s->N);
    return GC_OK;
}

/* A caller's tensor goes up in this many parts (fewer for fewer images): the first part's
 * copy and the last part's upload are what the overlap leaves, an eighth of each. */
#define GC_TENSOR_PARTS 8
/* Floats a host thread copies at a time (64 KiB): an image's planes in pieces, so that a
 * part of a few images still spreads over every thread. */
#define GC_TENSOR_PIECE ((size_t)16 << 10)

/* The caller's (n, 3, H, W) host tensor copied into ctx->input (checked finite) a part at a
 * time, each part going up into x_stage while the next is copied (host threads: this file is
 * the one built with OpenMP), then packed into s->x. An image holding a NaN or an infinity:
 * *bad = the first such and nothing packed (the parts already on their way waited for); else
 * *bad = n.
 * Why not as gcu_upload_host_input: gc_explain_tensor copied the caller's tensor into
 * ctx->input as NHWC on all cores, then it went up whole: in a 23.3 ms batch of 256 images at
 * 224x224 on the H100 machine (bf16, 2026-11-27) the upload took 3.0 ms (~50 GB/s) and 4.8 ms
 * went outside every profiled stage, most of it that copy: the GPU waited for both. Here the
 * copy keeps the caller's layout (the packing kernel reads NCHW as gc_explain_device's; a
 * plain copy and a transposing one cost about the same on one core here: memory-bound) and
 * each part goes up as soon as it is copied, so that the copies and the link work at once:
 * expected ~5 ms where they took ~7.8 (not yet measured on a GPU). */
static gc_status upload_host_tensor(gc_context *ctx, cuda_state *s, const float *input, int32_t n,
                                    int32_t *bad)
{
    const size_t HW = (size_t)ctx->in_h * ctx->in_w, per = 3 * HW;
    const size_t pieces_per = (per + GC_TENSOR_PIECE - 1) / GC_TENSOR_PIECE;
    const int32_t parts = GC_MIN(n, GC_TENSOR_PARTS);
    float *const h = ctx->input; /* page-locked at create where the system allowed it */
    *bad = n;
    s->x_stage_nchw = 1;
    for (int32_t p = 0; p < parts; p++) {
        const int32_t from = (int32_t)((int64_t)n * p / parts),
                      to = (int32_t)((int64_t)n * (p + 1) / parts);
        const int64_t pieces = (int64_t)(to - from) * (int64_t)pieces_per;
        int32_t first_bad = n;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(ctx->pre_threads)                            \
    reduction(min                                                                                  \
              : first_bad) if (pieces > 1)
#endif
        for (int64_t k = 0; k < pieces; k++) {
            const int32_t i = from + (int32_t)(k / (int64_t)pieces_per);
            const size_t at = (size_t)i * per + (size_t)(k % (int64_t)pieces_per) * GC_TENSOR_PIECE;
            const size_t len = GC_MIN(GC_TENSOR_PIECE, (size_t)(i + 1) * per - at);
            if (gc_copy_finite(h + at, input + at, len))
                first_bad = GC_MIN(first_bad, i);
        }
        if (first_bad < n) { /* the parts on their way read ctx->input: done before it changes */
            *bad = first_bad;
            return gcu_wait(ctx, s);
        }
        const size_t lo = (size_t)from * per;
        GC_CUDA_TRY(&ctx->err, cudaMemcpyAsync(s->x_stage + lo, h + lo,
                                               sizeof(float) * (size_t)(to - from) * per,
                                               cudaMemcpyHostToDevice, s->stream));
    }
    GC_TRY(gc_pack_input_cuda(s->stream, s->x_stage, per, HW, 1, n, ctx->in_h, ctx->in_w, s->c0,
                              s->dt, s->x, &ctx->err));
    return GC_OK;
}

/* A host batch up and packed, the upload stage timed: ctx->input's NHWC staging (explain,
 * predict: tensor NULL), or the caller's NCHW tensor (*_tensor: *bad as gc_backend_ops says;
 * a bad image leaves nothing to run). */
static gc_status upload_host_batch(gc_context *ctx, cuda_state *s, const float *input,
                                   const float *tensor, int32_t n, int32_t *bad)
{
    *bad = n;
    GC_TRY(check_n(ctx, s, n));
    GC_TRY(gcu_enter(ctx, s));
    GC_TRY(gcu_prof_begin(ctx, s));
    if (tensor)
        GC_TRY(upload_host_tensor(ctx, s, tensor, n, bad));
    else
        GC_TRY(gcu_upload_host_input(ctx, s, input, n));
    return *bad < n ? GC_OK : gcu_mark(ctx, s, PROF_UPLOAD);
}

static gc_status predict_impl(gc_context *ctx, cuda_state *s, const float *input,
                              const float *tensor, int32_t n, float *logits, int32_t *bad)
{
    GC_TRY(upload_host_batch(ctx, s, input, tensor, n, bad));
    if (*bad < n)
        return GC_OK;
    GC_TRY(gcu_forward_to_logits(ctx, s, n, logits));
    GC_TRY(gcu_prof_collect(ctx, s));
    return GC_OK;
}

static gc_status cuda_predict(gc_context *ctx, void *state, const float *input, int32_t n,
                              float *logits)
{
    cuda_state *s = (cuda_state *)state;
    int32_t bad;
    return gcu_settle(ctx, s, predict_impl(ctx, s, input, NULL, n, logits, &bad), "predict");
}

static gc_status cuda_predict_tensor(gc_context *ctx, void *state, const float *input, int32_t n,
                                     float *logits, int32_t *bad)
{
    cuda_state *s = (cuda_state *)state;
    return gcu_settle(ctx, s, predict_impl(ctx, s, NULL, input, n, logits, bad), "predict");
}

static gc_status explain_impl(gc_context *ctx, cuda_state *s, const float *input,
                              const float *tensor, int32_t n, const int32_t *classes, float *logits,
                              int32_t *class_ids, float *cams_raw, int32_t *bad)
{
    GC_TRY(upload_host_batch(ctx, s, input, tensor, n, bad));
    if (*bad < n)
        return GC_OK;
    return gcu_explain_packed(ctx, s, n, classes, logits, class_ids, cams_raw);
}

static gc_status cuda_explain(gc_context *ctx, void *state, const float *input, int32_t n,
                              const int32_t *classes, float *logits, int32_t *class_ids,
                              float *cams_raw)
{
    cuda_state *s = (cuda_state *)state;
    int32_t bad;
    return gcu_settle(
        ctx, s, explain_impl(ctx, s, input, NULL, n, classes, logits, class_ids, cams_raw, &bad),
        "explain");
}

static gc_status cuda_explain_tensor(gc_context *ctx, void *state, const float *input, int32_t n,
                                     const int32_t *classes, float *logits, int32_t *class_ids,
                                     float *cams_raw, int32_t *bad)
{
    cuda_state *s = (cuda_state *)state;
    return gcu_settle(
        ctx, s, explain_impl(ctx, s, NULL, input, n, classes, logits, class_ids, cams_raw, bad),
        "explain");
}

/* A batch of images (gc_explain's, gc_predict's) staged: their descriptors, d_img sized for
 * them, the ring for `parts` outputs an image (at least one), the table up on `st`. The
 * table goes up from s->descs by a pageable copy: safe, as every batch call synchronizes
 * before it returns (gcu_settle on failure) and s->descs is rewritten only by the next one. */
gc_status gcu_stage_table(gc_context *ctx, cuda_state *s, const gc_image *images,
                          const gc_region *regions, int32_t n, size_t parts, cudaStream_t st)
{
    gc_errbuf *err = &ctx->err;
    GC_TRY(check_n(ctx, s, n));
    GC_TRY(gcu_enter(ctx, s));
    s->img_n = 0;
    const size_t table = align_up(sizeof(gc_image_desc) * (size_t)n, 256);
    size_t pixels = 0;
    int64_t max_px = 1;
    for (int32_t i = 0; i < n; i++) {
        gc_image_desc *d = &s->descs[i];
        d->offset = pixels;
        d->width = images[i].width;
        d->height = images[i].height;
        d->rx = regions[i].x;
        d->ry = regions[i].y;
        d->rw = regions[i].w;
        d->rh = regions[i].h;
        const size_t bytes = (size_t)3 * images[i].width * images[i].height;
        pixels += align_up(bytes, 16);
        max_px = GC_MAX(max_px, (int64_t)images[i].width * images[i].height);
    }
    size_t want = 0;
    if (table + pixels > s->img_cap) /* grow, with headroom for the next batches */
        want = table + pixels + pixels / 2;
    if (!s->d_img) { /* the first batch (or the first after a failed allocation) */
        const size_t per_image = (size_t)3 * GC_MAX((size_t)4 * ctx->in_w * ctx->in_h,
                                                    (size_t)640 * 480);
        const size_t table_n = align_up(sizeof(gc_image_desc) * (size_t)s->N, 256);
        want = GC_MAX(want, table_n + GC_MIN((size_t)s->N * per_image,
                                             GC_IMG_STAGING_INITIAL_MAX));
    }
    if (want) {
        gc_status st = alloc_images(ctx, s, want, n);
        if (st == GC_ERR_OUT_OF_MEMORY && want > table + pixels) /* no room for headroom */
            st = alloc_images(ctx, s, table + pixels, n);
        GC_TRY(st);
    }
    s->img_pixels = pixels;
    s->img_count = n;
    s->img_table = table;
    s->img_max_px = max_px;
    GC_TRY(reserve_ring(ctx, s, GC_MAX(parts, (size_t)1) * largest_image(s)));
    GC_TRY(gcu_prof_begin(ctx, s));
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->d_img, s->descs, sizeof(gc_image_desc) * (size_t)n,
                                     cudaMemcpyHostToDevice, st));
    return GC_OK;
}

/* The staged batch's images [from, to) up into d_img through the ring, on `st`: host threads
 * pack chunk c into slot c % 2 while chunk c - 1 goes up from the other. */
gc_status gcu_upload_pixels(gc_context *ctx, cuda_state *s, const gc_image *images,
                            int32_t from, int32_t to, cudaStream_t st)
{
    gc_errbuf *err = &ctx->err;
    const gc_image_desc *const descs = s->descs;
    for (int32_t c = 0; from < to; c++) {
        const int k = c % GC_RING_SLOTS;
        const int32_t end = chunk_end(s, to, from, 1);
        const size_t lo = descs[from].offset, len = image_end(s, end - 1) - lo;
        uint8_t *const slot = s->h_ring + (size_t)k * s->ring_slot;
        GC_CUDA_TRY(err, cudaEventSynchronize(s->ring_ev[k])); /* its last upload is done */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx->pre_threads) if (end - from > 1)
#endif
        for (int32_t i = from; i < end; i++) { /* rows packed, as context.c's staging */
            const gc_image *im = &images[i];
            const size_t row = (size_t)3 * im->width;
            uint8_t *dst = slot + (descs[i].offset - lo);
            if ((size_t)im->stride == row) {
                memcpy(dst, im->data, row * im->height);
            } else {
                for (int32_t y = 0; y < im->height; y++)
                    memcpy(dst + row * y, im->data + (size_t)im->stride * y, row);
            }
        }
        GC_CUDA_TRY(err, cudaMemcpyAsync(s->d_img + s->img_table + lo, slot, len,
                                         cudaMemcpyHostToDevice, st));
        GC_CUDA_TRY(err, cudaEventRecord(s->ring_ev[k], st));
        from = end;
    }
    return GC_OK;
}

/* The staged images [from, to) preprocessed into x (and its float copy x_stage, for
 * GC_TENSOR_INPUT), rows 0 .. to - from, on the compute stream: one launch. */
gc_status gcu_preprocess_range(gc_context *ctx, cuda_state *s, int32_t from, int32_t to)
{
    s->x_stage_nchw = 0;
    LAYER_TRY(ctx, "preprocessing", "(GPU)",
              gc_preprocess_images_cuda(s->stream, (const gc_image_desc *)s->d_img + from,
                                        s->d_img + s->img_table, to - from, ctx->in_h, ctx->in_w,
                                        ctx->opt.preprocess == GC_PREPROCESS_CAFFE, s->x_stage,
                                        s->c0, s->dt, s->x, &ctx->err));
    return GC_OK;
}

/* A batch of images staged whole (gcu_stage_table), up (the packing profiled within the
 * upload stage, which it overlaps) and preprocessed. explain_images then takes the same path
 * as explain; the images stay on the device for render. */
static gc_status stage_images_gpu(gc_context *ctx, cuda_state *s, const gc_image *images,
                                  const gc_region *regions, int32_t n)
{
    GC_TRY(gcu_stage_table(ctx, s, images, regions, n, 1, s->stream));
    GC_TRY(gcu_upload_pixels(ctx, s, images, 0, n, s->stream));
    GC_TRY(gcu_mark(ctx, s, PROF_UPLOAD));
    GC_TRY(gcu_preprocess_range(ctx, s, 0, n));
    GC_TRY(gcu_mark(ctx, s, PROF_PREPROCESS));
    LAYER_TRY(ctx, "preprocessing", "(GPU)", gcu_debug_sync(ctx, s));
    return GC_OK;
}

/* A batch of images that ran out of device memory anywhere (staging, a cuDNN or cuBLAS
 * call, a kernel module loaded on first use, the render's buffer) gives its photo buffers
 * back, so that the caller's retry with fewer images (the command's halves) finds their
 * room; kept, a failed render of eight 1200x900 photos left their staging in place and one
 * photo could not render either (gpu_oom). */
static gc_status release_on_oom(gc_context *ctx, cuda_state *s, gc_status st)
{
    if (st == GC_ERR_OUT_OF_MEMORY) {
        release_images(ctx, s);
        release_out(ctx, s);
    }
    return st;
}

static gc_status explain_images_impl(gc_context *ctx, cuda_state *s, const gc_image *images,
                                     const gc_region *regions, int32_t n,
                                     const int32_t *classes, float *logits, int32_t *class_ids,
                                     float *cams_raw)
{
    gc_status st = stage_images_gpu(ctx, s, images, regions, n);
    if (st == GC_OK)
        st = gcu_explain_packed(ctx, s, n, classes, logits, class_ids, cams_raw);
    s->img_n = st == GC_OK ? n : 0;
    return release_on_oom(ctx, s, st);
}

/* gc_predict's images: staged and preprocessed as gc_explain's, then the forward only. */
static gc_status predict_images_impl(gc_context *ctx, cuda_state *s, const gc_image *images,
                                     const gc_region *regions, int32_t n, float *logits)
{
    gc_status st = stage_images_gpu(ctx, s, images, regions, n);
    if (st == GC_OK)
        st = gcu_forward_to_logits(ctx, s, n, logits);
    if (st == GC_OK)
        st = gcu_prof_collect(ctx, s);
    return release_on_oom(ctx, s, st);
}

static gc_status cuda_predict_images(gc_context *ctx, void *state, const gc_image *images,
                                     const gc_region *regions, int32_t n, float *logits)
{
    cuda_state *s = (cuda_state *)state;
    return gcu_settle(ctx, s, predict_images_impl(ctx, s, images, regions, n, logits),
                  "predict");
}

static gc_status cuda_explain_images(gc_context *ctx, void *state, const gc_image *images,
                                     const gc_region *regions, int32_t n,
                                     const int32_t *classes, float *logits, int32_t *class_ids,
                                     float *cams_raw)
{
    cuda_state *s = (cuda_state *)state;
    return gcu_settle(ctx, s,
                  explain_images_impl(ctx, s, images, regions, n, classes, logits, class_ids,
                                      cams_raw),
                  "explain (GPU preprocessing)");
}

/* A slot of the ring and the chunk of images in it: images first .. end - 1, len bytes of
 * each asked-for output (heatmaps first, overlays after them). first == to (the end of the
 * images going down): empty. */
typedef struct out_chunk {
    int32_t first, end;
    size_t len;
} out_chunk;

/* The next chunk from image `from`, before `to` (as many images as fit the slot, at least
 * one) down into slot k on `st`, then the slot's event. */
static gc_status enqueue_chunk(gc_context *ctx, cuda_state *s, int32_t to, int32_t from,
                               int heat, int over, int k, out_chunk *c, cudaStream_t st)
{
    const size_t lo = s->descs[from].offset;
    c->first = from;
    c->end = chunk_end(s, to, from, (size_t)(heat + over));
    c->len = image_end(s, c->end - 1) - lo;
    uint8_t *slot = s->h_ring + (size_t)k * s->ring_slot;
    if (heat)
        GC_CUDA_TRY(&ctx->err,
                    cudaMemcpyAsync(slot, s->d_out + lo, c->len, cudaMemcpyDeviceToHost, st));
    if (over)
        GC_CUDA_TRY(&ctx->err,
                    cudaMemcpyAsync(slot + (heat ? c->len : 0), s->d_out + s->img_pixels + lo,
                                    c->len, cudaMemcpyDeviceToHost, st));
    GC_CUDA_TRY(&ctx->err, cudaEventRecord(s->ring_ev[k], st));
    return GC_OK;
}

/* The rendered heatmaps and overlays (d_out) of images [from, to) into the caller's buffers
 * through the ring, on `st`: chunk c lands in slot c % 2 while host threads copy chunk c - 1
 * out of the other. (Per-image copies straight into the caller's pageable buffers were most
 * of gc_explain_render's time on an H100: docs/benchmarks.md.) Returns when they are there. */
gc_status gcu_download_outputs(gc_context *ctx, cuda_state *s, int32_t from, int32_t to,
                               uint8_t *const *overlays, uint8_t *const *heatmaps,
                               cudaStream_t st)
{
    const gc_image_desc *const d = s->descs;
    int heat, over; /* some is set: the callers download only then */
    gcu_outputs_asked(overlays, heatmaps, from, to, &heat, &over);
    GC_TRY(reserve_ring(ctx, s, (size_t)(heat + over) * largest_image(s)));
    out_chunk ring[GC_RING_SLOTS];
    int32_t next = from; /* the first image not yet enqueued */
    for (int k = 0; k < GC_RING_SLOTS; k++) {
        ring[k].first = to;
        if (next < to) {
            GC_TRY(enqueue_chunk(ctx, s, to, next, heat, over, k, &ring[k], st));
            next = ring[k].end;
        }
    }
    for (int c = 0; ring[c % GC_RING_SLOTS].first < to; c++) {
        const int k = c % GC_RING_SLOTS;
        const out_chunk ch = ring[k];
        GC_CUDA_TRY(&ctx->err, cudaEventSynchronize(s->ring_ev[k]));
        const uint8_t *const h_heat = s->h_ring + (size_t)k * s->ring_slot;
        const uint8_t *const h_over = h_heat + (heat ? ch.len : 0);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx->pre_threads) \
    if (ch.end - ch.first > 1)
#endif
        for (int32_t i = ch.first; i < ch.end; i++) {
            const size_t at = d[i].offset - d[ch.first].offset;
            const size_t bytes = (size_t)3 * d[i].width * d[i].height;
            if (heatmaps && heatmaps[i])
                memcpy(heatmaps[i], h_heat + at, bytes);
            if (overlays && overlays[i])
                memcpy(overlays[i], h_over + at, bytes);
        }
        ring[k].first = to; /* the slot is free: the next chunk goes into it */
        if (next < to) {
            GC_TRY(enqueue_chunk(ctx, s, to, next, heat, over, k, &ring[k], st));
            next = ring[k].end;
        }
    }
    return GC_OK;
}

/* The normalized cams of the staged images [from, to) (host, the batch's rows from .. to
 * of `cams`) up, and their heatmaps and overlays rendered into d_out (one launch), on `st`. */
gc_status gcu_enqueue_render(gc_context *ctx, cuda_state *s, int32_t from, int32_t to,
                             const float *cams, gc_colormap colormap, float alpha,
                             cudaStream_t st)
{
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    GC_CUDA_TRY(&ctx->err, cudaMemcpyAsync(s->d_cams + (size_t)from * hw, cams + (size_t)from * hw,
                                           sizeof(float) * (size_t)(to - from) * hw,
                                           cudaMemcpyHostToDevice, st));
    LAYER_TRY(ctx, "rendering", "(GPU)",
              gc_render_images_cuda(st, (const gc_image_desc *)s->d_img + from,
                                    s->d_img + s->img_table, to - from, s->img_max_px,
                                    s->d_cams + (size_t)from * hw, ctx->cam_w, ctx->cam_h,
                                    s->d_luts + (size_t)GC_LUT_BYTES * (int)colormap, alpha,
                                    s->d_out, s->d_out + s->img_pixels, &ctx->err));
    return GC_OK;
}

/* The normalized cams onto the images of the last explain_images call: cams up, one render
 * launch (heatmaps and overlays of every image), the asked-for outputs down. */
static gc_status render_impl(gc_context *ctx, cuda_state *s, int32_t n, const float *cams,
                             gc_colormap colormap, float alpha, uint8_t *const *overlays,
                             uint8_t *const *heatmaps)
{
    gc_errbuf *err = &ctx->err;
    GC_TRY(gcu_enter(ctx, s));
    if (n != s->img_n || (int)colormap < 0 || (int)colormap >= GC_N_COLORMAPS)
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                       "render of %d image(s) with colormap %d: the last batch on the GPU has "
                       "%d", n, (int)colormap, s->img_n);
    GC_TRY(gcu_reserve_out(ctx, s, 2 * s->img_pixels));
    /* profiled as the cam stage (cams up, the render kernel) and the download (the rendered
     * images through the ring), added to the explain's own times */
    GC_TRY(gcu_prof_begin(ctx, s));
    GC_TRY(gcu_enqueue_render(ctx, s, 0, n, cams, colormap, alpha, s->stream));
    LAYER_TRY(ctx, "rendering", "(GPU)", gcu_debug_sync(ctx, s));
    GC_TRY(gcu_mark(ctx, s, PROF_CAM));
    GC_TRY(gcu_download_outputs(ctx, s, 0, n, overlays, heatmaps, s->stream));
    if (!ctx->opt.profile)
        return GC_OK;
    GC_TRY(gcu_mark(ctx, s, PROF_DOWNLOAD));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream)); /* the last mark, for its time */
    return gcu_prof_collect(ctx, s);
}

static gc_status cuda_render(gc_context *ctx, void *state, int32_t n, const float *cams,
                             gc_colormap colormap, float alpha, uint8_t *const *overlays,
                             uint8_t *const *heatmaps)
{
    cuda_state *s = (cuda_state *)state;
    return gcu_settle(
        ctx, s,
        release_on_oom(ctx, s, render_impl(ctx, s, n, cams, colormap, alpha, overlays, heatmaps)),
        "render (GPU)");
}

/* The caller's (n, 3, H, W) device tensor, checked and packed into s->x on our stream after
 * the work the caller queued on the legacy default stream (or a blocking stream). */
static gc_status stage_device_input(gc_context *ctx, cuda_state *s, const float *device_input,
                                    int32_t n)
{
    gc_errbuf *err = &ctx->err;
    GC_TRY(check_n(ctx, s, n));
    GC_TRY(gcu_enter(ctx, s));
    cudaPointerAttributes pa;
    cudaError_t e = cudaPointerGetAttributes(&pa, device_input);
    if (e != cudaSuccess || (pa.type != cudaMemoryTypeDevice && pa.type != cudaMemoryTypeManaged)) {
        cudaGetLastError();
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                       "device_input %p is not CUDA device memory (%s)", (const void *)device_input,
                       e != cudaSuccess ? cudaGetErrorString(e)
                       : pa.type == cudaMemoryTypeHost ? "it is pinned host memory"
                                                       : "it is host memory");
    }
    if (pa.type == cudaMemoryTypeDevice && pa.device != s->device)
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                       "device_input is on CUDA device %d; this context runs on device %d",
                       pa.device, s->device);
    GC_TRY(gcu_prof_begin(ctx, s));
    cudaEvent_t ready;
    GC_CUDA_TRY(err, cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    e = cudaEventRecord(ready, cudaStreamLegacy);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(s->stream, ready, 0);
    cudaEventDestroy(ready);
    GC_CUDA_TRY(err, e);
    const size_t HW = (size_t)ctx->in_h * ctx->in_w;
    GC_TRY(gc_pack_input_cuda(s->stream, device_input, 3 * HW, HW, 1, n, ctx->in_h, ctx->in_w,
                              s->c0, s->dt, s->x, err));
    return gcu_mark(ctx, s, PROF_UPLOAD);
}

static gc_status explain_device_impl(gc_context *ctx, cuda_state *s, const float *device_input,
                                     int32_t n, const int32_t *classes, float *logits,
                                     int32_t *class_ids, float *cams_raw)
{
    GC_TRY(stage_device_input(ctx, s, device_input, n));
    return gcu_explain_packed(ctx, s, n, classes, logits, class_ids, cams_raw);
}

static gc_status cuda_explain_device(gc_context *ctx, void *state, const float *device_input,
                                     int32_t n, const int32_t *classes, float *logits,
                                     int32_t *class_ids, float *cams_raw)
{
    cuda_state *s = (cuda_state *)state;
    return gcu_settle(ctx, s,
                  explain_device_impl(ctx, s, device_input, n, classes, logits, class_ids,
                                      cams_raw),
                  "explain_device");
}

static gc_status predict_device_impl(gc_context *ctx, cuda_state *s, const float *device_input,
                                     int32_t n, float *logits)
{
    GC_TRY(stage_device_input(ctx, s, device_input, n));
    GC_TRY(gcu_forward_to_logits(ctx, s, n, logits));
    return gcu_prof_collect(ctx, s);
}

static gc_status cuda_predict_device(gc_context *ctx, void *state, const float *device_input,
                                     int32_t n, float *logits)
{
    cuda_state *s = (cuda_state *)state;
    return gcu_settle(ctx, s, predict_device_impl(ctx, s, device_input, n, logits),
                  "predict_device");
}

static gc_status read_tensor_impl(gc_context *ctx, cuda_state *s, gc_tensor which,
                                  int32_t image, float *out)
{
    gc_errbuf *err = &ctx->err;
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w, Kc = (size_t)ctx->cam_c;
    const void *src;
    float scale = 1.0f;
    GC_TRY(gcu_enter(ctx, s));
    switch (which) {
    case GC_TENSOR_ACTIVATION: src = s->A; break;
    case GC_TENSOR_GRADIENT:
        src = s->grad;
        scale = 1.0f / s->gscale; /* the fp16 backward's scale undone, as the cam kernels do */
        break;
    case GC_TENSOR_WEIGHTS:
        GC_CUDA_TRY(err, cudaMemcpyAsync(out, s->alpha + (size_t)image * Kc, sizeof(float) * Kc,
                                         cudaMemcpyDeviceToHost, s->stream));
        GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
        return GC_OK;
    case GC_TENSOR_INPUT: { /* preprocessed here (explain_images): the float copy */
        const size_t HW = (size_t)ctx->in_h * ctx->in_w;
        if (s->x_stage_nchw) { /* a caller's tensor (explain_tensor): as it came */
            GC_CUDA_TRY(err,
                        cudaMemcpyAsync(out, s->x_stage + (size_t)image * 3 * HW,
                                        sizeof(float) * 3 * HW, cudaMemcpyDeviceToHost, s->stream));
            GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
            return GC_OK;
        }
        float *h = (float *)malloc(sizeof(float) * 3 * HW);
        if (!h)
            return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory reading the input");
        cudaError_t e = cudaMemcpyAsync(h, s->x_stage + (size_t)image * 3 * HW,
                                        sizeof(float) * 3 * HW, cudaMemcpyDeviceToHost,
                                        s->stream);
        if (e == cudaSuccess)
            e = cudaStreamSynchronize(s->stream);
        if (e == cudaSuccess)
            for (int c = 0; c < 3; c++)
                for (size_t p = 0; p < HW; p++)
                    out[c * HW + p] = h[3 * p + c];
        free(h);
        GC_CUDA_TRY(err, e);
        return GC_OK;
    }
    case GC_TENSOR_GUIDED_BACKPROP: {
        if (!s->guided_in)
            return gc_fail(err, GC_ERR_NOT_AVAILABLE, "no guided backprop in this context");
        const size_t len = (size_t)3 * ctx->in_h * ctx->in_w; /* already (3, H, W) */
        GC_CUDA_TRY(err, cudaMemcpyAsync(out, s->guided_in + (size_t)image * len,
                                         sizeof(float) * len, cudaMemcpyDeviceToHost,
                                         s->stream));
        GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
        return GC_OK;
    }
    default:
        return gc_fail(err, GC_ERR_INVALID_ARGUMENT, "tensor %d not held by the backend",
                       (int)which);
    }
    /* the image's (h, w, K) in float (the values the cam kernels used), then down */
    GC_TRY(gc_convert_cuda(s->stream, s->dt, (const char *)src + (size_t)image * hw * Kc * s->es,
                           GC_DT_F32, s->t_tmp, hw * Kc, scale, err));
    GC_CUDA_TRY(err, cudaMemcpyAsync(s->h_tmp, s->t_tmp, sizeof(float) * hw * Kc,
                                     cudaMemcpyDeviceToHost, s->stream));
    GC_CUDA_TRY(err, cudaStreamSynchronize(s->stream));
    for (size_t c = 0; c < Kc; c++)
        for (size_t p = 0; p < hw; p++)
            out[c * hw + p] = s->h_tmp[p * Kc + c];
    return GC_OK;
}

static gc_status cuda_read_tensor(gc_context *ctx, void *state, gc_tensor which, int32_t image,
                                  float *out)
{
    cuda_state *s = (cuda_state *)state;
    gc_status st = read_tensor_impl(ctx, s, which, image, out);
    /* an unknown tensor or a missing guided pass is the caller's error, not the device's */
    if (st == GC_ERR_INVALID_ARGUMENT || st == GC_ERR_NOT_AVAILABLE)
        return st;
    return gcu_settle(ctx, s, st, "read_tensor");
}

static gc_status cuda_explain_render(gc_context *ctx, void *state, const gc_image *images,
                                     const gc_region *regions, int32_t n,
                                     const int32_t *classes, float *logits, int32_t *class_ids,
                                     float *cams_raw, gc_finish_fn finish, void *arg,
                                     gc_colormap colormap, float alpha, uint8_t *const *overlays,
                                     uint8_t *const *heatmaps)
{
    cuda_state *s = (cuda_state *)state;
    gc_status st = gcu_explain_render_split(ctx, s, images, regions, n, classes, logits,
                                            class_ids, cams_raw, finish, arg, colormap, alpha,
                                            overlays, heatmaps);
    if (st != GC_OK) {
        s->img_n = 0;
        if (s->copy) /* its copies done before anything is released or reported */
            cudaStreamSynchronize(s->copy);
    }
    return gcu_settle(ctx, s, release_on_oom(ctx, s, st), "explain + render in two halves");
}

extern "C" const gc_backend_ops gc_cuda_backend = {
    "cuda",
    gcu_create,
    gcu_destroy,
    cuda_explain,
    cuda_explain_device,
    cuda_predict,
    cuda_predict_device,
    cuda_read_tensor,
    cuda_explain_images,
    cuda_predict_images,
    cuda_render,
    cuda_explain_render,
    cuda_explain_tensor,
    cuda_predict_tensor,
};
