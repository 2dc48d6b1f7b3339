/*
 * context.c — the public API: options, context life cycle, target-layer resolution,
 * preprocessing, the batch calls and what they return. Backend-independent.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "context.h"
#include "gc_math.h"
#include "resize.h"

#define GC_DEFAULT_INPUT 224
#define GC_DEFAULT_MAX_BATCH 8

/* Every time zero, no images; device_bytes is the backend's and stays. */
static void profile_reset(gc_context *ctx)
{
    int64_t bytes = ctx->prof.device_bytes;
    memset(&ctx->prof, 0, sizeof ctx->prof);
    ctx->prof.device_bytes = bytes;
    memset(ctx->layer_ms, 0, sizeof ctx->layer_ms);
    ctx->layers_timed = 0;
    ctx->n_steps = 0;
}

/* A batch of n images whose call started at t0 and spent preprocess_ms staging them; the
 * backend adds its stages next. */
static void profile_begin(gc_context *ctx, int32_t n, double t0, double preprocess_ms)
{
    profile_reset(ctx);
    ctx->prof.images = n;
    ctx->prof.conv_images = n; /* the CUDA backend says what its plans ran */
    ctx->prof.total_ms = -t0; /* profile_end adds the end time */
    ctx->prof.preprocess_ms = ctx->opt.profile ? preprocess_ms : 0.0;
}

/* The end of every gc_explain* / gc_predict* call: a failed one leaves no profile. */
static gc_status profile_end(gc_context *ctx, gc_status st)
{
    if (!ctx)
        return st;
    if (st == GC_OK) {
        ctx->prof.total_ms += gc_now_ms();
    } else {
        profile_reset(ctx);
        ctx->last_n = 0; /* a failed call leaves no batch, even one that failed its checks */
        ctx->split_last = 0;
    }
    return st;
}

int32_t gc_cuda_device_count(void)
{
#ifdef GC_WITH_CUDA
    return gc_cuda_count_devices();
#else
    return 0;
#endif
}

gc_status gc_profile_get(const gc_context *ctx, gc_profile *out)
{
    if (!ctx || !out)
        return GC_ERR_INVALID_ARGUMENT;
    if (ctx->sticky != GC_OK)
        return GC_ERR_BAD_STATE;
    *out = ctx->prof;
    return GC_OK;
}

double gc_profile_layer_ms(const gc_context *ctx, int32_t index)
{
    if (!ctx || ctx->sticky != GC_OK || !ctx->layers_timed || index < 0 ||
        index >= ctx->model.n_layers)
        return -1.0;
    return ctx->layer_ms[index];
}

void gc_profile_add_step(gc_context *ctx, const char *name, double ms)
{
    int32_t k = 0;
    while (k < ctx->n_steps && strcmp(ctx->step_name[k], name) != 0)
        k++;
    if (k == ctx->n_steps) {
        if (k == GC_MAX_STEPS)
            return;
        snprintf(ctx->step_name[k], sizeof ctx->step_name[k], "%s", name);
        ctx->step_ms[k] = 0.0;
        ctx->n_steps++;
    }
    ctx->step_ms[k] += ms;
}

double gc_profile_step_ms(const gc_context *ctx, int32_t index, const char **name)
{
    if (!ctx || ctx->sticky != GC_OK || index < 0 || index >= ctx->n_steps)
        return -1.0;
    if (name)
        *name = ctx->step_name[index];
    return ctx->step_ms[index];
}

gc_options gc_options_default(void)
{
    gc_options o;
    memset(&o, 0, sizeof o);
    o.backend = GC_BACKEND_AUTO;
    o.precision = GC_PRECISION_AUTO;
    o.score = GC_SCORE_LOGIT;
    o.norm = GC_NORM_MAX;
    o.preprocess = GC_PREPROCESS_AUTO;
    o.resize = GC_RESIZE_STRETCH;
    o.max_batch = GC_DEFAULT_MAX_BATCH;
    return o;
}

const char *gc_last_error(const gc_context *ctx)
{
    if (!ctx)
        return "no context (allocation failed or a NULL context was passed)";
    return ctx->err.msg;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Maps a layer name to (layer index, stage). Canonical names are Keras-style; torchvision's
 * features.N names the module at that index of the Sequential. */
static gc_status resolve_layer(gc_context *ctx, const char *name)
{
    const gc_model *m = &ctx->model;
    if (!name || !*name) {
        for (int i = m->n_layers - 1; i >= 0; i--)
            if (m->layers[i].kind == GC_LAYER_CONV) {
                ctx->target = i;
                ctx->stage = GC_STAGE_POST;
                return GC_OK;
            }
    }
    /* a name as gc_model_info.target_layer gives it back: "block4_conv3", or
     * "block4_conv3_preact" (a conv before its ReLU, as features.N names it) */
    static const char preact[] = "_preact";
    const size_t len = name ? strlen(name) : 0, plen = sizeof preact - 1;
    const int pre = len > plen && strcmp(name + len - plen, preact) == 0;
    for (int i = 0; name && i < m->n_layers; i++)
        if (strncmp(m->layers[i].name, name, pre ? len - plen : len) == 0 &&
            m->layers[i].name[pre ? len - plen : len] == 0 &&
            (!pre || m->layers[i].kind == GC_LAYER_CONV)) {
            ctx->target = i;
            ctx->stage = pre ? GC_STAGE_PRE : GC_STAGE_POST;
            return GC_OK;
        }
    int idx;
    char extra;
    if (name && sscanf(name, "features.%d%c", &idx, &extra) == 1) {
        for (int i = 0; i < m->n_layers; i++) {
            const gc_layer *L = &m->layers[i];
            int off = idx - L->tv_index;
            if (L->kind == GC_LAYER_POOL && off == 0) {
                ctx->target = i;
                ctx->stage = GC_STAGE_POST;
                return GC_OK;
            }
            if (L->kind != GC_LAYER_CONV || off < 0 || off > (m->has_bn ? 2 : 1))
                continue;
            if (m->has_bn && off == 0)
                return gc_fail(&ctx->err, GC_ERR_LAYER,
                               "layer '%s' is the conv before BatchNorm, whose output does not "
                               "exist once BatchNorm is folded; use features.%d (after BN) or "
                               "features.%d (after ReLU, = %s)", name, idx + 1, idx + 2, L->name);
            ctx->target = i;
            ctx->stage = off == (m->has_bn ? 2 : 1) ? GC_STAGE_POST : GC_STAGE_PRE;
            return GC_OK;
        }
    }
    char list[512] = "";
    for (int i = 0; i < m->n_layers; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 m->layers[i].name);
    return gc_fail(&ctx->err, GC_ERR_LAYER, "unknown layer '%s'; this model has: %s", name,
                   list);
}

static gc_status use_cpu(gc_context *ctx);

static gc_status resolve_options(gc_context *ctx)
{
    gc_options *o = &ctx->opt;
    const gc_model *m = &ctx->model;
    if (o->max_batch < 1 || o->max_batch > 65536)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "max_batch %d out of range 1..65536",
                       o->max_batch);
    if (o->threads < 0)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "threads %d is negative", o->threads);
    if (o->autotune < 0 || o->autotune > 64)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "autotune %d out of range 0..64",
                       o->autotune);
    if ((unsigned)o->score > GC_SCORE_SOFTMAX || (unsigned)o->norm > GC_NORM_MINMAX ||
        (unsigned)o->preprocess > GC_PREPROCESS_CAFFE || (unsigned)o->resize > GC_RESIZE_CROP ||
        (unsigned)o->precision > GC_PRECISION_FP16 || (unsigned)o->backend > GC_BACKEND_CUDA ||
        (unsigned)o->method > GC_METHOD_GUIDED_GRADCAM)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "an enum option is out of range");
    if (o->preprocess == GC_PREPROCESS_AUTO)
        o->preprocess = m->preprocess ? m->preprocess : GC_PREPROCESS_TORCH;
    if ((o->input_width == 0) != (o->input_height == 0))
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                       "input_width and input_height must be given together");
    ctx->in_w = o->input_width ? o->input_width
                               : (m->meta_input_w ? m->meta_input_w : GC_DEFAULT_INPUT);
    ctx->in_h = o->input_height ? o->input_height
                                : (m->meta_input_h ? m->meta_input_h : GC_DEFAULT_INPUT);
    gc_model_geometry(m, ctx->in_h, ctx->in_w, &ctx->geo);
    const int32_t fh = ctx->geo.h[m->n_layers - 1], fw = ctx->geo.w[m->n_layers - 1];
    if (ctx->in_w < 1 || ctx->in_h < 1 || ctx->in_w > 16384 || ctx->in_h > 16384 || fh < 1 ||
        fw < 1)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                       "input size %dx%d is too small for this network's pooling (or above "
                       "16384)", ctx->in_w, ctx->in_h);
#ifdef GC_WITH_CUDA
    /* AUTO: the GPU when one is usable (bf16 by default), else the CPU with a note saying
     * why (gc_backend_note); CUDA: the GPU or an error. */
    if (o->backend == GC_BACKEND_CUDA || o->backend == GC_BACKEND_AUTO) {
        gc_errbuf why;
        gc_status probe = gc_cuda_probe(o->device, &why);
        if (probe == GC_OK) {
            ctx->auto_backend = o->backend == GC_BACKEND_AUTO;
            ctx->auto_precision = o->precision == GC_PRECISION_AUTO;
            o->backend = GC_BACKEND_CUDA;
            if (o->precision == GC_PRECISION_AUTO)
                o->precision = GC_PRECISION_BF16;
            ctx->ops = &gc_cuda_backend;
            return GC_OK;
        }
        /* a device number that does not exist is the caller's to fix, AUTO or not */
        if (o->backend == GC_BACKEND_CUDA || probe == GC_ERR_INVALID_ARGUMENT)
            return gc_fail(&ctx->err, probe, "CUDA backend unavailable: %s", why.msg);
        snprintf(ctx->backend_note, sizeof ctx->backend_note, "no GPU used: %s", why.msg);
    }
#else
    if (o->backend == GC_BACKEND_CUDA)
        return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED,
                       "this build of libgradcam has no CUDA backend; use the CPU backend");
    if (o->backend == GC_BACKEND_AUTO)
        snprintf(ctx->backend_note, sizeof ctx->backend_note,
                 "no GPU used: this build of libgradcam has no CUDA backend");
#endif
    return use_cpu(ctx);
}

/* The CPU backend for ctx (fp32 only). */
static gc_status use_cpu(gc_context *ctx)
{
    gc_options *o = &ctx->opt;
    o->backend = GC_BACKEND_CPU;
    if (o->precision == GC_PRECISION_AUTO)
        o->precision = GC_PRECISION_FP32;
    if (o->precision != GC_PRECISION_FP32)
        return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED,
                       "the CPU backend computes in fp32 only (precision %s asked)%s%s",
                       gc_precision_name(o->precision), ctx->backend_note[0] ? "; " : "",
                       ctx->backend_note);
    ctx->ops = &gc_cpu_backend;
    return GC_OK;
}

gc_status gc_context_create(const gc_options *options, gc_context **out)
{
    if (!out)
        return GC_ERR_INVALID_ARGUMENT;
    gc_context *ctx = calloc(1, sizeof *ctx);
    *out = ctx;
    if (!ctx)
        return GC_ERR_OUT_OF_MEMORY;
    gc_status st = GC_OK;
    if (!options || !options->weights_path) {
        st = gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "options.weights_path is required");
        goto fail;
    }
    ctx->opt = *options;
    ctx->weights_path = dup_or_null(options->weights_path);
    ctx->arch = dup_or_null(options->arch);
    ctx->layer = dup_or_null(options->layer);
    ctx->opt.weights_path = ctx->weights_path;
    ctx->opt.arch = ctx->arch;
    ctx->opt.layer = ctx->layer;
    if ((st = gc_model_load(&ctx->model, ctx->weights_path, ctx->arch, &ctx->err)) != GC_OK)
        goto fail;
    if ((st = resolve_options(ctx)) != GC_OK || (st = resolve_layer(ctx, ctx->layer)) != GC_OK)
        goto fail;
    const gc_layer *T = &ctx->model.layers[ctx->target];
    ctx->cam_h = ctx->geo.h[ctx->target];
    ctx->cam_w = ctx->geo.w[ctx->target];
    ctx->cam_c = T->cout;
    snprintf(ctx->target_name, sizeof ctx->target_name, "%s%s", T->name,
             ctx->stage == GC_STAGE_PRE ? "_preact" : "");
    for (int i = 0; i < ctx->model.n_layers; i++)
        ctx->layer_names[i] = ctx->model.layers[i].name;

    size_t B = (size_t)ctx->opt.max_batch, HW = (size_t)ctx->in_h * ctx->in_w;
    ctx->input = malloc(sizeof(float) * B * HW * 3);
#ifdef _OPENMP
    ctx->pre_threads = ctx->opt.threads > 0 ? ctx->opt.threads : omp_get_num_procs();
#else
    ctx->pre_threads = 1;
#endif
    ctx->pre_threads = (int32_t)GC_MIN((size_t)ctx->pre_threads, B);
    ctx->resized = malloc(HW * 3 * (size_t)ctx->pre_threads);
    ctx->logits = malloc(sizeof(float) * B * (size_t)ctx->model.num_classes);
    ctx->cams_raw = malloc(sizeof(float) * B * (size_t)ctx->cam_h * ctx->cam_w);
    ctx->class_ids = malloc(sizeof(int32_t) * B);
    ctx->early_ids = malloc(sizeof(int32_t) * B);
    ctx->early_buf = malloc(sizeof(gc_result) * B);
    ctx->cams_norm = malloc(sizeof(float) * B * (size_t)ctx->cam_h * ctx->cam_w);
    ctx->regions = malloc(sizeof(gc_region) * B);
    if (!ctx->input || !ctx->resized || !ctx->logits || !ctx->cams_raw || !ctx->class_ids ||
        !ctx->early_ids || !ctx->early_buf || !ctx->cams_norm || !ctx->regions) {
        st = gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY,
                     "out of memory for batch buffers (max_batch %zu at %dx%d); try a smaller "
                     "max_batch", B, ctx->in_w, ctx->in_h);
        goto fail;
    }
    st = ctx->ops->create(ctx, &ctx->be);
    /* a usable GPU whose context could not be made (its libraries, say): the CPU, saying
     * why. Not for a max_batch too large for the device: that is the caller's to fix, and a
     * silent move to a CPU a hundred times slower would hide it. */
    if (st != GC_OK && ctx->auto_backend && st != GC_ERR_OUT_OF_MEMORY) {
        snprintf(ctx->backend_note, sizeof ctx->backend_note,
                 "no GPU used: the CUDA backend failed: %s: %s", gc_status_string(st),
                 ctx->err.msg);
        if (ctx->be) /* what the failed creation had made */
            ctx->ops->destroy(ctx->be);
        ctx->be = NULL;
        ctx->err.msg[0] = 0;
        ctx->sticky = GC_OK; /* a CUDA fault found at its start (gcu_enter) marks it */
        ctx->prof.device_bytes = 0;
        ctx->backend_images = 0;
        ctx->render_split = 0;
        ctx->backend_tensors = 0;
        free(ctx->autotune_report);
        ctx->autotune_report = NULL;
        if (ctx->auto_precision)
            ctx->opt.precision = GC_PRECISION_AUTO;
        if ((st = use_cpu(ctx)) == GC_OK)
            st = ctx->ops->create(ctx, &ctx->be);
    }
    if (st != GC_OK)
        goto fail;
    return GC_OK;
fail:
    ctx->sticky = st;
    return st;
}

void gc_context_destroy(gc_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->ops && ctx->be)
        ctx->ops->destroy(ctx->be);
    gc_model_free(&ctx->model);
    free(ctx->weights_path);
    free(ctx->arch);
    free(ctx->layer);
    free(ctx->input);
    free(ctx->resized);
    free(ctx->logits);
    free(ctx->cams_raw);
    free(ctx->class_ids);
    free(ctx->early_ids);
    free(ctx->early_buf);
    free(ctx->cams_norm);
    free(ctx->regions);
    free(ctx->autotune_report);
    free(ctx);
}

const char *gc_autotune_report(const gc_context *ctx)
{
    return ctx && ctx->autotune_report ? ctx->autotune_report : "";
}

static gc_status check_usable(const gc_context *ctx)
{
    if (!ctx)
        return GC_ERR_INVALID_ARGUMENT;
    return ctx->sticky != GC_OK ? GC_ERR_BAD_STATE : GC_OK;
}

gc_status gc_model_info_get(gc_context *ctx, gc_model_info *info)
{
    gc_status st = check_usable(ctx);
    if (st != GC_OK)
        return st;
    if (!info)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "info is NULL");
    memset(info, 0, sizeof *info);
    info->num_classes = ctx->model.num_classes;
    info->input_width = ctx->in_w;
    info->input_height = ctx->in_h;
    for (int i = 0; i < ctx->model.n_layers; i++)
        info->num_conv_layers += ctx->model.layers[i].kind == GC_LAYER_CONV;
    info->cam_width = ctx->cam_w;
    info->cam_height = ctx->cam_h;
    info->cam_channels = ctx->cam_c;
    info->max_batch = ctx->opt.max_batch;
    info->preprocess = ctx->opt.preprocess;
    info->backend = ctx->opt.backend;
    info->precision = ctx->opt.precision;
    info->target_layer = ctx->target_name;
    info->arch = ctx->model.arch;
    info->head = ctx->model.head == GC_HEAD_TIMM ? "timm" : "torchvision";
    return GC_OK;
}

const char *gc_backend_note(const gc_context *ctx)
{
    return ctx && ctx->backend_note[0] ? ctx->backend_note : NULL;
}

const char *gc_class_label(const gc_context *ctx, int32_t class_id)
{
    if (!ctx || class_id < 0 || class_id >= ctx->model.n_labels)
        return NULL;
    return ctx->model.labels[class_id];
}

const char *gc_layer_name(const gc_context *ctx, int32_t index)
{
    if (!ctx || index < 0 || index >= ctx->model.n_layers)
        return NULL;
    return ctx->layer_names[index];
}

/* ---------------------------------------------------------------- preprocessing */

/* One image to (H, W, 3) NHWC floats in the model's channel order. */
static gc_status check_image(gc_context *ctx, const gc_image *img, int32_t index)
{
    if (!img->data || img->width < 1 || img->height < 1 ||
        img->stride < 3 * (int64_t)img->width) /* a width over INT32_MAX / 3 must not wrap */
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                       "image %d: data %s, %dx%d, stride %d (need data, sizes >= 1, "
                       "stride >= 3*width)", index, img->data ? "set" : "NULL", img->width,
                       img->height, img->stride);
    return GC_OK;
}

/* The part of a checked image that is resized to the network size: all of it, or with
 * GC_RESIZE_CROP the largest centered region with the network's aspect ratio. */
static gc_region resize_region(const gc_context *ctx, const gc_image *img)
{
    gc_region r = {0, 0, img->width, img->height};
    if (ctx->opt.resize == GC_RESIZE_CROP) {
        const int32_t sw = img->width, sh = img->height;
        double want = (double)ctx->in_w / ctx->in_h;
        if ((double)sw / sh > want) {
            int32_t cw = (int32_t)lround(sh * want);
            cw = GC_MAX(1, GC_MIN(cw, sw));
            r.x = (sw - cw) / 2;
            r.w = cw;
        } else {
            int32_t ch = (int32_t)lround(sw / want);
            ch = GC_MAX(1, GC_MIN(ch, sh));
            r.y = (sh - ch) / 2;
            r.h = ch;
        }
    }
    return r;
}

/* One checked image: resized into `resized` (H, W, 3), then normalized into dst. Runs on
 * several threads at once: touches nothing of ctx but the options and sizes. */
static gc_status preprocess_one(const gc_context *ctx, const gc_image *img, uint8_t *resized,
                                float *dst)
{
    const gc_region r = resize_region(ctx, img);
    const uint8_t *src = img->data + (size_t)img->stride * r.y + 3 * (size_t)r.x;
    const int32_t sw = r.w, sh = r.h;
    if (gc_resize_rgb8(src, sw, sh, img->stride, resized, ctx->in_w, ctx->in_h,
                       GC_INTERP_AUTO) != GC_OK)
        return GC_ERR_OUT_OF_MEMORY;
    const int caffe = ctx->opt.preprocess == GC_PREPROCESS_CAFFE;
    const size_t HW = (size_t)ctx->in_w * ctx->in_h;
    for (size_t p = 0; p < HW; p++) {
        const uint8_t *px = resized + 3 * p;
        for (int c = 0; c < 3; c++)
            dst[3 * p + c] = gc_normalize_pixel(caffe, c, px[0], px[1], px[2]);
    }
    return GC_OK;
}

static gc_status check_batch(gc_context *ctx, const void *in, int32_t n)
{
    gc_status st = check_usable(ctx);
    if (st != GC_OK)
        return st;
    if (!in)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "input is NULL");
    if (n < 1 || n > ctx->opt.max_batch)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                       "batch of %d images; this context takes 1..%d (options.max_batch)", n,
                       ctx->opt.max_batch);
    return GC_OK;
}

/* One image's (H, W, 3) staging pixels as (3, H, W), PyTorch's order. */
static void nhwc_to_chw(const float *src, size_t HW, float *dst)
{
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < HW; p++)
            dst[c * HW + p] = src[3 * p + c];
}

static gc_status stage_images(gc_context *ctx, const gc_image *images, int32_t n,
                              double *ms);

gc_status gc_preprocess_images(gc_context *ctx, const gc_image *images, int32_t n, float *out,
                               size_t out_len)
{
    gc_status st = check_batch(ctx, images, n);
    if (st != GC_OK)
        return st;
    const size_t HW = (size_t)ctx->in_w * ctx->in_h;
    if (!out)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "out is NULL");
    if (out_len < (size_t)n * 3 * HW)
        return gc_fail(&ctx->err, GC_ERR_BUFFER_TOO_SMALL,
                       "output holds %zu floats; %d images need %zu", out_len, n,
                       (size_t)n * 3 * HW);
    double ms;
    if ((st = stage_images(ctx, images, n, &ms)) != GC_OK)
        return st;
    for (int32_t i = 0; i < n; i++)
        nhwc_to_chw(ctx->input + (size_t)i * HW * 3, HW, out + (size_t)i * 3 * HW);
    return GC_OK;
}

/* ---------------------------------------------------------------- explaining */

/* One image's result from its logits: the explained class cls, its softmax probability and
 * the top-5, from the softmax sums the score gradient uses (gc_math.h). */
static void summarize(const gc_context *ctx, const float *logits, int32_t cls, gc_result *r)
{
    const int32_t K = ctx->model.num_classes;
    double mx, sum;
    gc_softmax_sums(logits, K, &mx, &sum);
    memset(r, 0, sizeof *r);
    r->class_id = cls;
    r->logit = logits[cls];
    r->prob = (float)gc_softmax_p(logits[cls], mx, sum);
    r->score = ctx->opt.score == GC_SCORE_SOFTMAX ? r->prob : r->logit;
    gc_top_classes(logits, K, GC_TOPK, r->top_class);
    for (int t = 0; t < GC_TOPK; t++) {
        const int32_t c = r->top_class[t];
        r->top_prob[t] = c < 0 ? 0.0f : (float)gc_softmax_p(logits[c], mx, sum);
    }
}

/* The smallest and largest value of a raw cam (hw >= 1). */
static void cam_range(const float *raw, size_t hw, float *lo, float *hi)
{
    *lo = *hi = raw[0];
    for (size_t p = 1; p < hw; p++) {
        *lo = raw[p] < *lo ? raw[p] : *lo;
        *hi = raw[p] > *hi ? raw[p] : *hi;
    }
}

/* 1 for a NaN or an infinity: the exponent bits all set (by bits, so it vectorizes with the
 * copy and holds under any floating-point flags) */
static inline uint32_t exponent_all_ones(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u;
}

/* Whether n values are all finite. */
static int all_finite(const float *v, size_t n)
{
    uint32_t bad = 0;
    for (size_t k = 0; k < n; k++)
        bad |= exponent_all_ones(v[k]);
    return !bad;
}

int gc_copy_finite(float *dst, const float *src, size_t n)
{
    uint32_t bad = 0;
    for (size_t k = 0; k < n; k++) {
        dst[k] = src[k];
        bad |= exponent_all_ones(src[k]);
    }
    return bad != 0;
}

static gc_status nonfinite_tensor(gc_context *ctx, int32_t image)
{
    return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                   "input tensor: image %d holds a NaN or an infinity (the ReLUs would turn NaN "
                   "into 0 and give a plausible, meaningless answer)",
                   image);
}

/* Where a batch call's input is, when not staged in ctx->input (run_batch, predict_batch):
 * at most one set. */
typedef struct batch_input {
    const float *device;    /* the caller's device tensor (gc_*_device)                   */
    const gc_image *images; /* checked images, their regions in ctx->regions (the backend
                               preprocesses them)                                         */
    const float *tensor;    /* the caller's host tensor, for the backend's *_tensor ops   */
} batch_input;

/* A backend's logits (unless logits is 0: checked already) and, with hw, raw cams are
 * finite: fp16 activations overflow past 65504 (a bright, unnormalized input can get there),
 * and NaN logits would pick class 0 and explain it as if all were well. */
static gc_status check_finite(gc_context *ctx, int32_t from, int32_t to, int logits, size_t hw)
{
    const size_t C = (size_t)ctx->model.num_classes;
    for (int32_t i = from; i < to; i++) {
        const int bad = (logits && !all_finite(ctx->logits + (size_t)i * C, C)) ||
                        !all_finite(ctx->cams_raw + (size_t)i * hw, hw);
        if (bad) {
            const int fp16 = ctx->opt.precision == GC_PRECISION_FP16;
            return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED,
                           "image %d: the network's values overflowed in %s (logits or cam "
                           "not finite)%s", i, gc_precision_name(ctx->opt.precision),
                           fp16 ? "; fp16 holds up to 65504: use bf16 or fp32, or check the "
                                  "input's scale"
                                : ": check the weights and the input's scale");
        }
    }
    return GC_OK;
}

/* A batch call's results, cams and classes fit n images. */
static gc_status check_batch_outputs(gc_context *ctx, int32_t n, const int32_t *classes,
                                     const gc_result *results, const float *cams,
                                     size_t cams_len)
{
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    if (!results)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "results is NULL");
    if (cams && cams_len < (size_t)n * hw)
        return gc_fail(&ctx->err, GC_ERR_BUFFER_TOO_SMALL,
                       "cams holds %zu floats; %d cams of %dx%d need %zu", cams_len, n,
                       ctx->cam_w, ctx->cam_h, (size_t)n * hw);
    for (int32_t i = 0; classes && i < n; i++)
        if (classes[i] < -1 || classes[i] >= ctx->model.num_classes)
            return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                           "image %d: class %d out of range (-1 for top-1, or 0..%d)", i,
                           classes[i], ctx->model.num_classes - 1);
    return GC_OK;
}

/* The results of images [0, n) from their logits, in parallel: the softmax sums alone are
 * n * classes double exp (~1 ms of one core for 256 ImageNet images). */
static void summarize_images(gc_context *ctx, int32_t n, const int32_t *class_ids,
                             gc_result *results)
{
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(ctx->pre_threads) if (n > 1)
#endif
    for (int32_t i = 0; i < n; i++)
        summarize(ctx, ctx->logits + (size_t)i * ctx->model.num_classes, class_ids[i], &results[i]);
}

void gc_early_results(gc_context *ctx, int32_t n)
{
    const size_t C = (size_t)ctx->model.num_classes;
    if (!ctx->early_wanted || !all_finite(ctx->logits, (size_t)n * C))
        return;
    gc_pick_classes(ctx, ctx->logits, n, ctx->early_classes, ctx->early_ids);
    summarize_images(ctx, n, ctx->early_ids, ctx->early_buf);
    ctx->early_done = n;
}

/* Images [from, to) of a batch the backend explained (logits, class ids and raw cams in
 * ctx's buffers): finite, then their results (unless gc_early_results made them) and (cams
 * non-NULL) normalized cams. */
static gc_status finish_images(gc_context *ctx, int32_t from, int32_t to, gc_result *results,
                               float *cams)
{
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    const int early = ctx->early_done >= to; /* run_batch's whole batch: from is 0 */
    gc_status st = check_finite(ctx, from, to, !early, hw);
    if (st != GC_OK)
        return st;
    const int minmax = ctx->opt.norm == GC_NORM_MINMAX;
    /* images in parallel, which on the GPU would otherwise leave it idle longer */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(ctx->pre_threads) if (to - from > 1)
#endif
    for (int32_t i = from; i < to; i++) {
        /* the class the cam explains, should the device have picked another (it picks as
           gc_pick_classes from the same logits) */
        if (!early || ctx->class_ids[i] != ctx->early_ids[i])
            summarize(ctx, ctx->logits + (size_t)i * ctx->model.num_classes, ctx->class_ids[i],
                      &results[i]);
        else /* made beside the device's work, kept apart until the batch succeeded */
            results[i] = ctx->early_buf[i];
        const float *raw = ctx->cams_raw + (size_t)i * hw;
        float lo, hi;
        cam_range(raw, hw, &lo, &hi);
        results[i].cam_max = hi;
        for (size_t p = 0; cams && p < hw; p++)
            cams[(size_t)i * hw + p] = gc_cam_normalize(minmax, raw[p], lo, hi);
    }
    return GC_OK;
}

/* The staged batch in ctx->input, or in = the caller's device tensor, the checked images
 * (their regions in ctx->regions) for the backend's explain_images, or the caller's host
 * tensor for its explain_tensor, through the backend, then the results and normalized
 * cams. */
static gc_status run_batch(gc_context *ctx, int32_t n, const int32_t *classes, gc_result *results,
                           float *cams, size_t cams_len, batch_input in)
{
    gc_status st = check_batch_outputs(ctx, n, classes, results, cams, cams_len);
    if (st != GC_OK)
        return st;
    ctx->last_n = 0;
    ctx->split_last = 0;
    ctx->input_on_device = in.device != NULL;
    ctx->input_in_backend = in.images != NULL || in.tensor != NULL;
    ctx->early_wanted = 1;
    ctx->early_classes = classes;
    ctx->early_done = 0;
    int32_t bad = n; /* the first image of in.tensor holding a NaN or an infinity */
    if (in.device)
        st = ctx->ops->explain_device(ctx, ctx->be, in.device, n, classes, ctx->logits,
                                      ctx->class_ids, ctx->cams_raw);
    else if (in.images)
        st = ctx->ops->explain_images(ctx, ctx->be, in.images, ctx->regions, n, classes,
                                      ctx->logits, ctx->class_ids, ctx->cams_raw);
    else if (in.tensor)
        st = ctx->ops->explain_tensor(ctx, ctx->be, in.tensor, n, classes, ctx->logits,
                                      ctx->class_ids, ctx->cams_raw, &bad);
    else
        st = ctx->ops->explain(ctx, ctx->be, ctx->input, n, classes, ctx->logits,
                               ctx->class_ids, ctx->cams_raw);
    ctx->early_wanted = 0;
    if (st == GC_OK && bad < n)
        st = nonfinite_tensor(ctx, bad);
    /* the results stage: the host work after the batch (not the early results, which ran
       beside the device's backward) */
    const double t_results = gc_now_ms();
    if (st == GC_OK)
        st = finish_images(ctx, 0, n, results, cams);
    ctx->early_done = 0; /* finish_images of a later split batch must not see it */
    if (st != GC_OK)
        return st;
    if (ctx->opt.profile)
        ctx->prof.results_ms += gc_now_ms() - t_results;
    ctx->last_n = n;
    return GC_OK;
}

/* The batch in ctx->input, or `in` (as run_batch's, for the backend's predict_device,
 * predict_images or predict_tensor) through the forward only. */
static gc_status predict_batch(gc_context *ctx, int32_t n, gc_result *results, batch_input in)
{
    if (!results)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "results is NULL");
    if (!ctx->ops->predict)
        return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED, "the %s backend has no forward-only call",
                       ctx->ops->name);
    ctx->last_n = 0; /* no cam, no gradient: nothing for gc_tensor_get */
    ctx->split_last = 0;
    int32_t bad = n;
    gc_status st =
        in.device ? ctx->ops->predict_device(ctx, ctx->be, in.device, n, ctx->logits)
        : in.images
            ? ctx->ops->predict_images(ctx, ctx->be, in.images, ctx->regions, n, ctx->logits)
        : in.tensor ? ctx->ops->predict_tensor(ctx, ctx->be, in.tensor, n, ctx->logits, &bad)
                    : ctx->ops->predict(ctx, ctx->be, ctx->input, n, ctx->logits);
    if (st == GC_OK && bad < n)
        st = nonfinite_tensor(ctx, bad);
    if (st != GC_OK || (st = check_finite(ctx, 0, n, 1, 0)) != GC_OK)
        return st;
    const double t_results = gc_now_ms();
    gc_pick_classes(ctx, ctx->logits, n, NULL, ctx->class_ids);
    summarize_images(ctx, n, ctx->class_ids, results);
    if (ctx->opt.profile)
        ctx->prof.results_ms += gc_now_ms() - t_results;
    return GC_OK;
}

/* n images into ctx->input (NHWC, preprocessed); *ms: the time it took. */
static gc_status stage_images(gc_context *ctx, const gc_image *images, int32_t n, double *ms)
{
    gc_status st = check_batch(ctx, images, n);
    if (st != GC_OK)
        return st;
    ctx->last_n = 0; /* the staging buffer is about to change */
    const size_t HW = (size_t)ctx->in_w * ctx->in_h;
    const double t0 = gc_now_ms();
    for (int32_t i = 0; i < n; i++)
        if ((st = check_image(ctx, &images[i], i)) != GC_OK)
            return st;
    /* Images in parallel, one resize buffer per thread: on the GPU this host work is what
     * feeds it (a 500x375 photo costs ~0.7 ms of one core). */
    int32_t failed = n;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx->pre_threads) if (n > 1)
#endif
    for (int32_t i = 0; i < n; i++) {
#ifdef _OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        if (preprocess_one(ctx, &images[i], ctx->resized + (size_t)t * HW * 3,
                           ctx->input + (size_t)i * HW * 3) != GC_OK) {
#ifdef _OPENMP
#pragma omp critical(gc_preprocess_failed)
#endif
            failed = i < failed ? i : failed;
        }
    }
    if (failed < n)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "image %d: out of memory resizing",
                       failed);
    *ms = gc_now_ms() - t0;
    return GC_OK;
}

/* an (n, 3, H, W) tensor into ctx->input (NHWC); a tensor holding NaN or infinity refused
 * (checked already: check_batch) */
static gc_status stage_tensor(gc_context *ctx, const float *input, int32_t n)
{
    ctx->last_n = 0; /* the staging buffer is about to change */
    const size_t HW = (size_t)ctx->in_w * ctx->in_h;
    /* (n, 3, H, W) to NHWC, images in parallel, each read as three streams and written as
     * one: the single-threaded channel-by-channel form was most of the ~57 ms of host time
     * in a 256-image gc_explain_tensor on the H100 machine, more than the GPU's whole
     * Grad-CAM (docs/benchmarks.md) */
    int32_t bad = n; /* the first image holding a NaN or an infinity */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(ctx->pre_threads) if (n > 1)
#endif
    for (int32_t i = 0; i < n; i++) {
        const float *r = input + (size_t)i * 3 * HW, *g = r + HW, *b = g + HW;
        float *dst = ctx->input + (size_t)i * HW * 3;
        uint32_t nonfinite = 0;
        for (size_t p = 0; p < HW; p++) {
            dst[3 * p] = r[p];
            dst[3 * p + 1] = g[p];
            dst[3 * p + 2] = b[p];
            nonfinite |= exponent_all_ones(r[p]) | exponent_all_ones(g[p]) |
                         exponent_all_ones(b[p]);
        }
        if (nonfinite) {
#ifdef _OPENMP
#pragma omp critical(gc_stage_nonfinite)
#endif
            bad = i < bad ? i : bad;
        }
    }
    return bad < n ? nonfinite_tensor(ctx, bad) : GC_OK;
}

/* The tensor calls' input checked, then staged into ctx->input here, unless the backend takes
 * the caller's tensor itself (ops->explain_tensor and predict_tensor: the GPU's, whose copies
 * up then overlap the copying): *in says which. */
static gc_status begin_tensor(gc_context *ctx, const float *input, int32_t n, batch_input *in)
{
    memset(in, 0, sizeof *in);
    gc_status st = check_batch(ctx, input, n);
    if (st != GC_OK)
        return st;
    if (ctx->backend_tensors && ctx->ops->explain_tensor && ctx->ops->predict_tensor) {
        ctx->last_n = 0; /* the backend's staging is about to change */
        in->tensor = input;
        return GC_OK;
    }
    return stage_tensor(ctx, input, n);
}

/* The public batch calls: stage the input, open the profile, run, close the profile. */

/* The backend preprocesses images itself (on the GPU): ops->explain_images and ops->render. */
static int backend_takes_images(const gc_context *ctx)
{
    return ctx && ctx->ops && ctx->backend_images && ctx->ops->explain_images &&
           ctx->ops->render;
}

/* n images of a batch call that started at t0, then its profile opened: with `backend`,
 * checked here and their regions put in ctx->regions for the backend to preprocess (on the
 * GPU); else preprocessed here into ctx->input. */
static gc_status stage_batch_images(gc_context *ctx, const gc_image *images, int32_t n,
                                    int backend, double t0)
{
    double pre = 0.0;
    gc_status st;
    if (backend) {
        if ((st = check_batch(ctx, images, n)) != GC_OK)
            return st;
        ctx->last_n = 0;
        for (int32_t i = 0; i < n; i++) {
            if ((st = check_image(ctx, &images[i], i)) != GC_OK)
                return st;
            ctx->regions[i] = resize_region(ctx, &images[i]);
        }
    } else if ((st = stage_images(ctx, images, n, &pre)) != GC_OK) {
        return st;
    }
    profile_begin(ctx, n, t0, pre);
    return GC_OK;
}

gc_status gc_predict(gc_context *ctx, const gc_image *images, int32_t n, gc_result *results)
{
    const double t0 = gc_now_ms();
    const int backend = backend_takes_images(ctx) && ctx->ops->predict_images;
    gc_status st = stage_batch_images(ctx, images, n, backend, t0);
    if (st == GC_OK)
        st = predict_batch(ctx, n, results, (batch_input){NULL, backend ? images : NULL, NULL});
    return profile_end(ctx, st);
}

gc_status gc_predict_tensor(gc_context *ctx, const float *input, int32_t n, gc_result *results)
{
    const double t0 = gc_now_ms();
    batch_input in;
    gc_status st = begin_tensor(ctx, input, n, &in);
    if (st == GC_OK) {
        profile_begin(ctx, n, t0, 0.0);
        st = predict_batch(ctx, n, results, in);
    }
    return profile_end(ctx, st);
}

/* gc_explain's work, from a call that started at t0; the caller closes the profile. */
static gc_status explain_batch(gc_context *ctx, const gc_image *images, int32_t n,
                               const int32_t *classes, gc_result *results, float *cams,
                               size_t cams_len, double t0)
{
    const int backend = backend_takes_images(ctx);
    gc_status st = stage_batch_images(ctx, images, n, backend, t0);
    if (st != GC_OK)
        return st;
    return run_batch(ctx, n, classes, results, cams, cams_len,
                     (batch_input){NULL, backend ? images : NULL, NULL});
}

gc_status gc_explain(gc_context *ctx, const gc_image *images, int32_t n, const int32_t *classes,
                     gc_result *results, float *cams, size_t cams_len)
{
    const double t0 = gc_now_ms();
    return profile_end(ctx, explain_batch(ctx, images, n, classes, results, cams, cams_len, t0));
}

/* gc_explain_render's batch through the backend's explain_render (two overlapped halves):
 * where the backend asks for it (ctx->render_split), for more than one image, without
 * profiling (its stages would overlap) and without a guided method (whose tensors the
 * caller reads after the call; the split keeps none). */
static int split_render(const gc_context *ctx, int32_t n)
{
    return ctx->render_split && ctx->ops->explain_render && backend_takes_images(ctx) && n > 1 &&
           !ctx->opt.profile && !gc_method_guided(ctx->opt.method);
}

/* What explain_render's finish gets: where a part's results and normalized cams go. */
typedef struct split_outputs {
    gc_result *results;
    float *cams;
} split_outputs;

static gc_status split_finish(gc_context *ctx, void *arg, int32_t from, int32_t to,
                              const float **cams)
{
    const split_outputs *o = (const split_outputs *)arg;
    *cams = o->cams;
    return finish_images(ctx, from, to, o->results, o->cams);
}

static gc_status explain_render_split(gc_context *ctx, const gc_image *images, int32_t n,
                                      const int32_t *classes, gc_result *results, float *cams,
                                      size_t cams_len, gc_colormap colormap, float alpha,
                                      uint8_t *const *overlays, uint8_t *const *heatmaps,
                                      double t0)
{
    gc_status st = stage_batch_images(ctx, images, n, 1, t0);
    if (st == GC_OK)
        st = check_batch_outputs(ctx, n, classes, results, cams, cams_len);
    if (st != GC_OK)
        return st;
    ctx->last_n = 0; /* and so it stays: the halves leave no whole batch's tensors */
    ctx->input_on_device = 0;
    ctx->input_in_backend = 1;
    split_outputs o = {results, cams};
    st = ctx->ops->explain_render(ctx, ctx->be, images, ctx->regions, n, classes, ctx->logits,
                                  ctx->class_ids, ctx->cams_raw, split_finish, &o, colormap,
                                  alpha, overlays, heatmaps);
    ctx->split_last = st == GC_OK;
    return st;
}

/* Each image's cam rendered on the host (gc_render), images in parallel. */
static gc_status render_host(gc_context *ctx, const gc_image *images, int32_t n,
                             const float *cams, gc_colormap colormap, float alpha,
                             uint8_t *const *overlays, uint8_t *const *heatmaps,
                             const size_t *buffer_lens)
{
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w;
    int32_t failed = n;
    gc_status why = GC_OK;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx->pre_threads) if (n > 1)
#endif
    for (int32_t i = 0; i < n; i++) {
        uint8_t *ov = overlays ? overlays[i] : NULL, *hm = heatmaps ? heatmaps[i] : NULL;
        const size_t len = buffer_lens[i];
        gc_status st = gc_render(cams + (size_t)i * hw, ctx->cam_w, ctx->cam_h, &images[i],
                                 colormap, alpha, hm, len, ov, len);
        if (st != GC_OK) {
#ifdef _OPENMP
#pragma omp critical(gc_render_failed)
#endif
            if (i < failed) {
                failed = i;
                why = st;
            }
        }
    }
    if (failed < n)
        return gc_fail(&ctx->err, why, "image %d: rendering failed: %s", failed,
                       gc_status_string(why));
    return GC_OK;
}

gc_status gc_explain_render(gc_context *ctx, const gc_image *images, int32_t n,
                            const int32_t *classes, gc_result *results, float *cams,
                            size_t cams_len, gc_colormap colormap, float alpha,
                            uint8_t *const *overlays, uint8_t *const *heatmaps,
                            const size_t *buffer_lens)
{
    const double t0 = gc_now_ms();
    gc_status st = check_usable(ctx);
    if (st != GC_OK)
        return profile_end(ctx, st);
    if (!gc_colormap_table(colormap))
        return profile_end(ctx, gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                                        "unknown colormap %d", (int)colormap));
    if (!(alpha >= 0.0f && alpha <= 1.0f))
        return profile_end(ctx, gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                                        "alpha %g is not in [0, 1]", (double)alpha));
    if ((overlays || heatmaps) && !buffer_lens)
        return profile_end(ctx, gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                                        "overlays/heatmaps given without buffer_lens"));
    if ((st = check_batch(ctx, images, n)) != GC_OK) /* before the caller's arrays are read */
        return profile_end(ctx, st);
    /* every buffer holds its image before any work (bad images: explain_batch says so) */
    for (int32_t i = 0; (overlays || heatmaps) && i < n; i++) {
        const int has = (overlays && overlays[i]) || (heatmaps && heatmaps[i]);
        const size_t need = (size_t)GC_MAX(images[i].width, 0) * GC_MAX(images[i].height, 0) * 3;
        if (has && buffer_lens[i] < need)
            return profile_end(ctx, gc_fail(&ctx->err, GC_ERR_BUFFER_TOO_SMALL,
                                            "image %d: its buffers hold %zu bytes; %dx%d RGB "
                                            "needs %zu", i, buffer_lens[i], images[i].width,
                                            images[i].height, need));
    }
    /* the cams to render: the caller's, or the context's own buffer */
    float *c = cams ? cams : ctx->cams_norm;
    const size_t c_len = cams ? cams_len : (size_t)ctx->opt.max_batch * ctx->cam_h * ctx->cam_w;
    int wanted = 0; /* NULL entries skip their image: all NULL is no render at all */
    for (int32_t i = 0; i < n && !wanted; i++)
        wanted = (overlays && overlays[i]) || (heatmaps && heatmaps[i]);
    if (wanted && split_render(ctx, n))
        return profile_end(ctx, explain_render_split(ctx, images, n, classes, results, c, c_len,
                                                     colormap, alpha, overlays, heatmaps, t0));
    st = explain_batch(ctx, images, n, classes, results, c, c_len, t0);
    if (st != GC_OK || !wanted)
        return profile_end(ctx, st);
    if (ctx->input_in_backend)
        st = ctx->ops->render(ctx, ctx->be, n, c, colormap, alpha, overlays, heatmaps);
    else
        st = render_host(ctx, images, n, c, colormap, alpha, overlays, heatmaps, buffer_lens);
    return profile_end(ctx, st);
}

gc_status gc_explain_tensor(gc_context *ctx, const float *input, int32_t n,
                            const int32_t *classes, gc_result *results, float *cams,
                            size_t cams_len)
{
    const double t0 = gc_now_ms();
    batch_input in;
    gc_status st = begin_tensor(ctx, input, n, &in);
    if (st == GC_OK) {
        profile_begin(ctx, n, t0, 0.0);
        st = run_batch(ctx, n, classes, results, cams, cams_len, in);
    }
    return profile_end(ctx, st);
}

/* A device-pointer call can start: the batch is valid and the backend takes them. */
static gc_status check_device_batch(gc_context *ctx, const float *device_input, int32_t n,
                                    int explain)
{
    gc_status st = check_batch(ctx, device_input, n);
    if (st != GC_OK)
        return st;
    if (explain ? !ctx->ops->explain_device : !ctx->ops->predict_device)
        return gc_fail(&ctx->err, GC_ERR_UNSUPPORTED,
                       "the %s backend takes no device pointers; use gc_%s_tensor",
                       ctx->ops->name, explain ? "explain" : "predict");
    ctx->last_n = 0;
    return GC_OK;
}

gc_status gc_explain_device(gc_context *ctx, const float *device_input, int32_t n,
                            const int32_t *classes, gc_result *results, float *cams,
                            size_t cams_len)
{
    const double t0 = gc_now_ms();
    gc_status st = check_device_batch(ctx, device_input, n, 1);
    if (st == GC_OK) {
        profile_begin(ctx, n, t0, 0.0);
        st = run_batch(ctx, n, classes, results, cams, cams_len,
                       (batch_input){device_input, NULL, NULL});
    }
    return profile_end(ctx, st);
}

gc_status gc_predict_device(gc_context *ctx, const float *device_input, int32_t n,
                            gc_result *results)
{
    const double t0 = gc_now_ms();
    gc_status st = check_device_batch(ctx, device_input, n, 0);
    if (st == GC_OK) {
        profile_begin(ctx, n, t0, 0.0);
        st = predict_batch(ctx, n, results, (batch_input){device_input, NULL, NULL});
    }
    return profile_end(ctx, st);
}

/* Guided Grad-CAM of one image: the guided gradient (3, H, W) times the normalized cam
 * resized to H x W (cv2.resize INTER_LINEAR on float32, as pytorch-grad-cam scales it). */
static gc_status guided_gradcam(gc_context *ctx, int32_t image, float *out)
{
    const size_t hw = (size_t)ctx->cam_h * ctx->cam_w, HW = (size_t)ctx->in_h * ctx->in_w;
    float *cam = malloc(sizeof(float) * (hw + HW));
    if (!cam)
        return gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
    float *up = cam + hw;
    gc_status st = ctx->ops->read_tensor(ctx, ctx->be, GC_TENSOR_GUIDED_BACKPROP, image, out);
    if (st == GC_OK) {
        const float *raw = ctx->cams_raw + (size_t)image * hw;
        float lo, hi;
        cam_range(raw, hw, &lo, &hi);
        for (size_t p = 0; p < hw; p++)
            cam[p] = gc_cam_normalize(ctx->opt.norm == GC_NORM_MINMAX, raw[p], lo, hi);
        if (gc_upsample_cam(cam, ctx->cam_w, ctx->cam_h, up, ctx->in_w, ctx->in_h) != GC_OK)
            st = gc_fail(&ctx->err, GC_ERR_OUT_OF_MEMORY, "out of memory upsampling the cam");
    }
    if (st == GC_OK) {
        for (int c = 0; c < 3; c++)
            for (size_t p = 0; p < HW; p++)
                out[c * HW + p] *= up[p];
    }
    free(cam);
    return st;
}

gc_status gc_tensor_get(gc_context *ctx, gc_tensor which, int32_t image, float *out,
                        size_t out_len, size_t *count)
{
    gc_status st = check_usable(ctx);
    if (st != GC_OK)
        return st;
    size_t hw = (size_t)ctx->cam_h * ctx->cam_w, need;
    switch (which) {
    case GC_TENSOR_INPUT: need = (size_t)3 * ctx->in_h * ctx->in_w; break;
    case GC_TENSOR_LOGITS: need = (size_t)ctx->model.num_classes; break;
    case GC_TENSOR_ACTIVATION:
    case GC_TENSOR_GRADIENT: need = (size_t)ctx->cam_c * hw; break;
    case GC_TENSOR_WEIGHTS: need = (size_t)ctx->cam_c; break;
    case GC_TENSOR_CAM_RAW: need = hw; break;
    case GC_TENSOR_GUIDED_BACKPROP:
    case GC_TENSOR_GUIDED_GRADCAM: need = (size_t)3 * ctx->in_h * ctx->in_w; break;
    default: return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT, "unknown tensor %d", which);
    }
    if (count)
        *count = need;
    if (!out)
        return GC_OK;
    if (ctx->last_n == 0)
        return gc_fail(&ctx->err, GC_ERR_NOT_AVAILABLE,
                       ctx->split_last ? "the last batch went through gc_explain_render in two "
                                         "halves (GC_RENDER_PIPELINE=1), which keeps no tensors"
                                       : "no batch has been explained yet");
    if (image < 0 || image >= ctx->last_n)
        return gc_fail(&ctx->err, GC_ERR_INVALID_ARGUMENT,
                       "image %d out of range; the last batch had %d", image, ctx->last_n);
    if (out_len < need)
        return gc_fail(&ctx->err, GC_ERR_BUFFER_TOO_SMALL, "tensor needs %zu floats, got %zu",
                       need, out_len);
    if ((which == GC_TENSOR_GUIDED_BACKPROP && !gc_method_guided(ctx->opt.method)) ||
        (which == GC_TENSOR_GUIDED_GRADCAM && ctx->opt.method != GC_METHOD_GUIDED_GRADCAM))
        return gc_fail(&ctx->err, GC_ERR_NOT_AVAILABLE,
                       "tensor %d needs options.method %s", which,
                       which == GC_TENSOR_GUIDED_GRADCAM ? "GC_METHOD_GUIDED_GRADCAM"
                                                         : "GC_METHOD_GUIDED_*");
    switch (which) {
    case GC_TENSOR_INPUT: {
        if (ctx->input_on_device)
            return gc_fail(&ctx->err, GC_ERR_NOT_AVAILABLE,
                           "the last batch came from device memory (gc_explain_device)");
        if (ctx->input_in_backend) /* preprocessed by the backend (on the GPU) */
            return ctx->ops->read_tensor(ctx, ctx->be, which, image, out);
        const size_t HW = (size_t)ctx->in_w * ctx->in_h;
        nhwc_to_chw(ctx->input + (size_t)image * HW * 3, HW, out);
        return GC_OK;
    }
    case GC_TENSOR_LOGITS:
        memcpy(out, ctx->logits + (size_t)image * need, need * sizeof *out);
        return GC_OK;
    case GC_TENSOR_CAM_RAW:
        memcpy(out, ctx->cams_raw + (size_t)image * need, need * sizeof *out);
        return GC_OK;
    case GC_TENSOR_GUIDED_GRADCAM:
        return guided_gradcam(ctx, image, out);
    default:
        return ctx->ops->read_tensor(ctx, ctx->be, which, image, out);
    }
}
