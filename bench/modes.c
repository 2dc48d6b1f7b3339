/*
 * modes.c — the timed work of one context: the seeded inputs (host tensor, uint8 images,
 * the device copy), the mode table, one batch call of each mode, the timed loop and the
 * profiled pass (gc_profile_get medians).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GC_BENCH_CUDA
#include <cuda_runtime_api.h>
#endif

#include "bench.h"

int make_inputs(const bench_args *a, bench_inputs *in)
{
    memset(in, 0, sizeof *in);
    for (int i = 0; i < a->n_batches; i++)
        in->max_batch = a->batches[i] > in->max_batch ? a->batches[i] : in->max_batch;
    const size_t HW = (size_t)a->size * a->size;
    const size_t npix = (size_t)a->image_w * a->image_h;
    in->tensor_len = (size_t)in->max_batch * 3 * HW;
    in->tensor = malloc(sizeof(float) * in->tensor_len);
    in->pixels = malloc((size_t)in->max_batch * npix * 3);
    in->images = malloc(sizeof(gc_image) * (size_t)in->max_batch);
    if (!in->tensor || !in->pixels || !in->images)
        return 0;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < in->tensor_len; i++)
        in->tensor[i] = rng_normal(&seed);
    for (size_t i = 0; i < (size_t)in->max_batch * npix * 3; i++)
        in->pixels[i] = (uint8_t)(rng_next(&seed) >> 56);
    for (int32_t i = 0; i < in->max_batch; i++)
        in->images[i] = (gc_image){.data = in->pixels + (size_t)i * npix * 3,
                                   .width = a->image_w, .height = a->image_h,
                                   .stride = 3 * a->image_w};
    return 1;
}

/* The tensor in device memory, copied once (outside every timing). */
const float *device_tensor(bench_inputs *in, const bench_args *a, char *err,
                                  size_t err_len)
{
#ifdef GC_BENCH_CUDA
    if (in->device_tensor)
        return in->device_tensor;
    cudaError_t e = cudaSetDevice(a->device);
    if (e == cudaSuccess)
        e = cudaMalloc(&in->device_tensor, sizeof(float) * in->tensor_len);
    if (e == cudaSuccess)
        e = cudaMemcpy(in->device_tensor, in->tensor, sizeof(float) * in->tensor_len,
                       cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        snprintf(err, err_len, "input in device memory: %s", cudaGetErrorString(e));
        if (in->device_tensor)
            cudaFree(in->device_tensor);
        in->device_tensor = NULL;
        return NULL;
    }
    return in->device_tensor;
#else
    (void)in;
    (void)a;
    snprintf(err, err_len, "gpu mode: this gradcam-bench was built without CUDA");
    return NULL;
#endif
}

void free_inputs(bench_inputs *in)
{
#ifdef GC_BENCH_CUDA
    if (in->device_tensor)
        cudaFree(in->device_tensor);
#endif
    free(in->tensor);
    free(in->pixels);
    free(in->images);
    free(in->render_buf);
    free(in->lib_buf);
    free(in->lib_over);
    free(in->lib_heat);
    free(in->lib_lens);
}

/* host_lib's output buffers: a heatmap and an overlay per image, for max_batch images. */
static int lib_buffers(bench_inputs *in)
{
    if (in->lib_buf)
        return 1;
    const size_t one = (size_t)in->images[0].width * in->images[0].height * 3;
    in->lib_buf = malloc(2 * one * (size_t)in->max_batch);
    in->lib_lens = malloc(sizeof(size_t) * (size_t)in->max_batch);
    in->lib_over = calloc((size_t)in->max_batch, sizeof *in->lib_over);
    in->lib_heat = calloc((size_t)in->max_batch, sizeof *in->lib_heat);
    if (!in->lib_buf || !in->lib_over || !in->lib_heat || !in->lib_lens)
        return 0;
    for (int32_t i = 0; i < in->max_batch; i++) {
        in->lib_lens[i] = one;
        in->lib_over[i] = in->lib_buf + 2 * one * (size_t)i;
        in->lib_heat[i] = in->lib_over[i] + one;
    }
    return 1;
}

/* ---------------------------------------------------------------- host-mode rendering */

typedef struct render_job {
    const gc_image *images;
    const float *cams;
    int32_t cam_w, cam_h;
    uint8_t *bufs;
    size_t buf_len; /* heatmap + overlay, per thread */
    atomic_int failures;
} render_job;

static void render_one(void *arg, int32_t item, int32_t thread)
{
    render_job *j = arg;
    const gc_image *img = &j->images[item];
    const size_t half = j->buf_len / 2;
    uint8_t *heat = j->bufs + (size_t)thread * j->buf_len;
    if (gc_render(j->cams + (size_t)item * j->cam_w * j->cam_h, j->cam_w, j->cam_h, img,
                  GC_COLORMAP_JET, 0.4f, heat, half, heat + half, half) != GC_OK)
        atomic_fetch_add(&j->failures, 1);
}

/* ---------------------------------------------------------------- one context, its modes */

/* In known_modes' order (run_group indexes gpu 5, gpu_forward 6, files 8). */
const mode_def mode_defs[BENCH_N_MODES] = {
    {"gradcam", "gc_explain_tensor on a host (N,3,S,S) float tensor: upload (GPU), forward, "
                "backward to the target, cam, results to the host", CALL_TENSOR},
    {"near_forward", "gc_explain_tensor targeted at the last pool layer: forward + head "
                     "backward (history: from before gc_predict)", CALL_TENSOR},
    {"explain_u8", "gc_explain on uint8 RGB images: resize + normalize + the gradcam mode",
     CALL_IMAGES},
    {"preprocess", "gc_preprocess_images on the uint8 images alone", CALL_PREPROCESS},
    {"forward", "gc_predict_tensor on the host tensor: the forward pass alone (upload "
                "included on the GPU)", CALL_PREDICT},
    {"gpu", "gc_explain_device: the input already in device memory; compute + cams and "
            "results to the host", CALL_DEVICE},
    {"gpu_forward", "gc_predict_device: the forward alone from device memory (the fair "
                    "denominator for Grad-CAM / forward)", CALL_DEVICE_PREDICT},
    {"host", "gc_explain on uint8 images (preprocessing, copies) + gc_render of every image "
             "(heatmap + overlay) on a host thread pool", CALL_HOST},
    {"files", "the gradcam command on a folder of JPEGs to overlay PNGs (whole process)",
     CALL_HOST},
    {"host_lib", "gc_explain_render on uint8 images: preprocessing and the heatmap + overlay "
                 "of every image inside the library (on the GPU with CUDA; what the command "
                 "does there)", CALL_HOST_LIB},
};

/* A guided method's input-space tensor of each of the n images to the host: what a user of
 * guided-backprop / guided-gradcam reads after every batch. */
static gc_status fetch_guided(gc_context *ctx, run_env *e, int32_t n)
{
    const int which = guided_tensor(e->method);
    for (int32_t i = 0; which >= 0 && i < n; i++) {
        gc_status st = gc_tensor_get(ctx, (gc_tensor)which, i,
                                     e->guided + (size_t)i * e->guided_len, e->guided_len, NULL);
        if (st != GC_OK)
            return st;
    }
    return GC_OK;
}

/* One batch call of a mode; for the host mode *explain_ms / *render_ms get the parts. */
static gc_status call_once(gc_context *ctx, run_env *e, bench_call call, int32_t n,
                           const float *dev, double *explain_ms, double *render_ms,
                           char *err, size_t err_len)
{
    gc_status st;
    switch (call) {
    case CALL_TENSOR:
        st = gc_explain_tensor(ctx, e->in->tensor, n, NULL, e->results, e->cams, e->cams_len);
        return st == GC_OK ? fetch_guided(ctx, e, n) : st;
    case CALL_IMAGES:
        st = gc_explain(ctx, e->in->images, n, NULL, e->results, e->cams, e->cams_len);
        return st == GC_OK ? fetch_guided(ctx, e, n) : st;
    case CALL_PREDICT:
        return gc_predict_tensor(ctx, e->in->tensor, n, e->results);
    case CALL_PREPROCESS:
        return gc_preprocess_images(ctx, e->in->images, n, e->pre, e->pre_len);
    case CALL_DEVICE:
        st = gc_explain_device(ctx, dev, n, NULL, e->results, e->cams, e->cams_len);
        return st == GC_OK ? fetch_guided(ctx, e, n) : st;
    case CALL_DEVICE_PREDICT:
        return gc_predict_device(ctx, dev, n, e->results);
    case CALL_HOST_LIB:
        if (!lib_buffers(e->in)) {
            snprintf(err, err_len, "out of memory for %d heatmaps and overlays", n);
            return GC_ERR_OUT_OF_MEMORY;
        }
        st = gc_explain_render(ctx, e->in->images, n, NULL, e->results, e->cams, e->cams_len,
                               GC_COLORMAP_JET, 0.4f, e->in->lib_over, e->in->lib_heat,
                               e->in->lib_lens);
        return st == GC_OK ? fetch_guided(ctx, e, n) : st;
    case CALL_HOST: {
        double t0 = now_ms();
        st = gc_explain(ctx, e->in->images, n, NULL, e->results, e->cams, e->cams_len);
        if (st == GC_OK)
            st = fetch_guided(ctx, e, n);
        double t1 = now_ms();
        if (st != GC_OK)
            return st;
        render_job j = {.images = e->in->images, .cams = e->cams, .cam_w = e->cam_w,
                        .cam_h = e->cam_h, .bufs = e->in->render_buf,
                        .buf_len = e->in->render_len};
        atomic_init(&j.failures, 0);
        pool_run(e->threads, render_one, &j, n);
        double t2 = now_ms();
        *explain_ms = t1 - t0;
        *render_ms = t2 - t1;
        if (atomic_load(&j.failures)) {
            snprintf(err, err_len, "gc_render failed on %d images", atomic_load(&j.failures));
            return GC_ERR_INVALID_ARGUMENT;
        }
        return GC_OK;
    }
    }
    return GC_ERR_INVALID_ARGUMENT;
}

gc_status create_context(const bench_args *a, gc_precision prec, gc_method method,
                         int32_t batch, const char *layer, int profile, gc_context **ctx)
{
    gc_options opt = gc_options_default();
    opt.weights_path = a->weights;
    opt.backend = a->backend;
    opt.device = a->device;
    opt.precision = prec;
    opt.method = method;
    opt.threads = a->threads;
    opt.max_batch = a->context_batch > batch ? a->context_batch : batch;
    opt.input_width = a->size;
    opt.input_height = a->size;
    opt.layer = layer;
    opt.profile = profile;
    opt.autotune = a->autotune;
    return gc_context_create(&opt, ctx);
}

/* The last pool layer's name ("block5_pool" for VGG16), from a context's layer list. */
void last_pool_layer(const gc_context *ctx, char *out, size_t len)
{
    *out = 0;
    for (int32_t i = 0; gc_layer_name(ctx, i); i++)
        if (strstr(gc_layer_name(ctx, i), "pool"))
            snprintf(out, len, "%s", gc_layer_name(ctx, i));
}

int env_buffers(run_env *e, const gc_model_info *info, int32_t batch, char *err,
                       size_t err_len)
{
    e->cam_w = info->cam_width;
    e->cam_h = info->cam_height;
    e->cams_len = (size_t)batch * info->cam_height * info->cam_width;
    e->pre_len = (size_t)batch * 3 * e->a->size * e->a->size;
    e->guided_len = guided_tensor(e->method) >= 0 ? (size_t)3 * e->a->size * e->a->size : 0;
    e->guided = e->guided_len ? malloc(sizeof *e->guided * e->guided_len * (size_t)batch) : NULL;
    if (e->guided_len && !e->guided) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    e->results = malloc(sizeof *e->results * (size_t)batch);
    e->cams = malloc(sizeof *e->cams * e->cams_len);
    e->pre = malloc(sizeof *e->pre * e->pre_len);
    if (!e->results || !e->cams || !e->pre) {
        snprintf(err, err_len, "out of memory");
        return 0;
    }
    return 1;
}

void env_free(run_env *e)
{
    free(e->results);
    free(e->cams);
    free(e->pre);
    free(e->guided);
    e->guided = NULL;
    e->results = NULL;
    e->cams = e->pre = NULL;
}

/* Times one mode on ctx into m. */
void time_mode(gc_context *ctx, run_env *e, bench_mode *m, bench_call call)
{
    const bench_args *a = e->a;
    const int32_t n = m->batch;
    const float *dev = NULL;
    double explain[BENCH_MAX_SAMPLES], render[BENCH_MAX_SAMPLES];
    if ((call == CALL_DEVICE || call == CALL_DEVICE_PREDICT) && !(dev = device_tensor(e->in, a, m->error, sizeof m->error)))
        return;
    for (int32_t it = 0; it < a->warmup + a->iters; it++) {
        double ex = 0.0, re = 0.0, t0 = now_ms();
        gc_status st = call_once(ctx, e, call, n, dev, &ex, &re, m->error, sizeof m->error);
        double t1 = now_ms();
        if (st != GC_OK) {
            if (!*m->error)
                snprintf(m->error, sizeof m->error, "%s: %s", gc_status_string(st),
                         gc_last_error(ctx));
            return;
        }
        if (!a->json && !a->jsonl)
            fprintf(stderr, "  %-12s %s b%d %s %d/%d: %.2f ms\n", m->name,
                    gc_precision_name(m->precision), n, it < a->warmup ? "warm-up" : "iter",
                    it < a->warmup ? it + 1 : it - a->warmup + 1,
                    it < a->warmup ? a->warmup : a->iters, t1 - t0);
        if (it >= a->warmup) {
            explain[m->count] = ex;
            render[m->count] = re;
            m->samples_ms[m->count++] = t1 - t0;
        }
    }
    summarize(m);
    if (call == CALL_HOST) {
        m->explain_ms = median_of(explain, m->count);
        m->render_ms = median_of(render, m->count);
    }
    gc_profile_get(ctx, &m->last);
    m->ok = 1;
}

/* The device's steps after the features of the call just profiled (gc_profile_step_ms) into
 * column `count` of sv, by name: the first call's steps name m's rows; a step a later call
 * lacks (or adds) counts 0 there. */
static void record_steps(gc_context *ctx, bench_mode *m, double sv[][BENCH_MAX_SAMPLES],
                         int count)
{
    for (int k = 0; k < m->n_steps; k++)
        sv[k][count] = 0.0;
    const char *name;
    double ms;
    for (int32_t i = 0; (ms = gc_profile_step_ms(ctx, i, &name)) >= 0.0; i++) {
        int k = 0;
        while (k < m->n_steps && strcmp(m->step_name[k], name) != 0)
            k++;
        if (k == m->n_steps) {
            if (count > 0 || k == BENCH_MAX_STEPS)
                continue;
            snprintf(m->step_name[k], sizeof m->step_name[k], "%s", name);
            m->n_steps++;
        }
        sv[k][count] = ms;
    }
}

/* The profiled pass of one mode: per-stage medians over --profile-iters calls (after one
 * warm-up call) into m->stages. */
void profile_mode(gc_context *ctx, run_env *e, bench_mode *m, bench_call call)
{
    const bench_args *a = e->a;
    const float *dev = NULL;
    enum { STAGES = 9 };
    double v[STAGES][BENCH_MAX_SAMPLES];
    static double lv[BENCH_MAX_LAYERS][BENCH_MAX_SAMPLES]; /* one bench thread profiles */
    static double sv[BENCH_MAX_STEPS][BENCH_MAX_SAMPLES];
    int count = 0, layers = 0;
    m->n_steps = 0;
    while (layers < BENCH_MAX_LAYERS && gc_layer_name(ctx, layers))
        layers++;
    if ((call == CALL_DEVICE || call == CALL_DEVICE_PREDICT) &&
        !(dev = device_tensor(e->in, a, m->profile_error, sizeof m->profile_error)))
        return;
    for (int32_t it = 0; it < 1 + a->profile_iters; it++) {
        double ex = 0.0, re = 0.0; /* host mode: time_mode keeps the render part */
        gc_status st = call_once(ctx, e, call, m->batch, dev, &ex, &re, m->profile_error,
                                 sizeof m->profile_error);
        gc_profile p;
        if (st == GC_OK)
            st = gc_profile_get(ctx, &p);
        if (st != GC_OK) {
            if (!*m->profile_error)
                snprintf(m->profile_error, sizeof m->profile_error, "%s: %s",
                         gc_status_string(st), gc_last_error(ctx));
            return;
        }
        if (it == 0)
            continue;
        const double f[STAGES] = {p.total_ms, p.preprocess_ms, p.upload_ms, p.features_ms,
                                  p.head_ms, p.backward_ms, p.cam_ms, p.download_ms,
                                  p.results_ms};
        for (int k = 0; k < STAGES; k++)
            v[k][count] = f[k];
        for (int l = 0; l < layers; l++)
            lv[l][count] = gc_profile_layer_ms(ctx, l);
        record_steps(ctx, m, sv, count);
        count++;
        m->stages.device_bytes = p.device_bytes;
        m->stages.images = p.images;
    }
    double *const into[STAGES] = {&m->stages.total_ms,    &m->stages.preprocess_ms,
                                  &m->stages.upload_ms,   &m->stages.features_ms,
                                  &m->stages.head_ms,     &m->stages.backward_ms,
                                  &m->stages.cam_ms,      &m->stages.download_ms,
                                  &m->stages.results_ms}; /* in f's order */
    for (int k = 0; k < STAGES; k++)
        *into[k] = median_of(v[k], count);
    m->profiled = count > 0;
    /* each feature layer, where the calls ran the forward (a negative time: not measured) */
    m->n_layers = 0;
    for (int l = 0; count > 0 && l < layers; l++) {
        const double ms = median_of(lv[l], count);
        if (ms < 0.0)
            break;
        m->layer_ms[l] = ms;
        snprintf(m->layer_name[l], sizeof m->layer_name[l], "%s", gc_layer_name(ctx, l));
        m->n_layers = l + 1;
    }
    for (int k = 0; count > 0 && k < m->n_steps; k++)
        m->step_ms[k] = median_of(sv[k], count);
}
