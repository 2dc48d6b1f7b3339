/*
 * cudnn_conv.cu — building and running the conv graphs of cudnn_conv.cuh with the cuDNN 9
 * backend (graph) API from C-style code: every descriptor is created, given its attributes
 * and finalized; every status is checked. See shared/notes/cudnn-graph-from-c.md.
 *
 * Tensor ids in a graph: 1 x, 2 w, 3 b, 4 y, 5 and 6 virtual intermediates. x, w, b and y
 * are of the plan's element type (float, half or bfloat16); the convolution computes in float
 * and the virtual intermediates are float.
 */
#include <float.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cudnn_conv.cuh"
#include "device_common.cuh" /* GC_LAUNCH */

enum { ID_X = 1, ID_W = 2, ID_B = 3, ID_Y = 4, ID_V1 = 5, ID_V2 = 6 };

static void release_build(gc_conv_plan *p)
{
    for (int i = 0; i < p->n_keep; i++)
        if (p->keep[i])
            cudnnBackendDestroyDescriptor(p->keep[i]);
    p->n_keep = 0;
    for (int64_t i = 0; i < p->n_cfgs; i++)
        if (p->cfgs[i])
            cudnnBackendDestroyDescriptor(p->cfgs[i]);
    free(p->cfgs);
    p->cfgs = NULL;
    p->n_cfgs = 0;
}

void gc_conv_plan_free(gc_conv_plan *p)
{
    if (!p)
        return;
    if (p->pack)
        cudnnBackendDestroyDescriptor(p->pack);
    if (p->plan)
        cudnnBackendDestroyDescriptor(p->plan);
    p->pack = p->plan = NULL;
    release_build(p);
}

/* cuDNN's deviceless path (gc_conv_set_deviceless): the target device's properties, or NULL */
static cudnnBackendDescriptor_t deviceless_prop;

void gc_conv_set_deviceless(cudnnBackendDescriptor_t devprop)
{
    deviceless_prop = devprop;
}

/* A new descriptor owned by p (destroyed by gc_conv_plan_free). */
static gc_status make(gc_conv_plan *p, cudnnBackendDescriptorType_t type,
                      cudnnBackendDescriptor_t *d, gc_errbuf *err)
{
    *d = NULL;
    if (p->n_keep >= GC_CONV_MAX_KEEP)
        return gc_fail(err, GC_ERR_BACKEND, "cuDNN graph: too many descriptors (internal)");
    GC_CUDNN_TRY(err, cudnnBackendCreateDescriptor(type, d));
    p->keep[p->n_keep++] = *d;
    return GC_OK;
}

/* An NHWC tensor with dims given as (n, c, h, w): of the plan's element type in memory,
 * float32 when virtual (cuDNN's advice for fused intermediates). */
static gc_status tensor(gc_conv_plan *p, int64_t id, int64_t n, int64_t c, int64_t h, int64_t w,
                        bool is_virtual, cudnnBackendDescriptor_t *t, gc_errbuf *err)
{
    GC_TRY(make(p, CUDNN_BACKEND_TENSOR_DESCRIPTOR, t, err));
    cudnnDataType_t dt = is_virtual ? CUDNN_DATA_FLOAT : p->dtype;
    int64_t dims[4] = {n, c, h, w};
    int64_t strides[4] = {c * h * w, 1, w * c, c};
    int64_t align = 16;
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_DATA_TYPE,
                                               CUDNN_TYPE_DATA_TYPE, 1, &dt));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                               CUDNN_TYPE_INT64, 4, dims));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64,
                                               4, strides));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_UNIQUE_ID,
                                               CUDNN_TYPE_INT64, 1, &id));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT,
                                               CUDNN_TYPE_INT64, 1, &align));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*t, CUDNN_ATTR_TENSOR_IS_VIRTUAL,
                                               CUDNN_TYPE_BOOLEAN, 1, &is_virtual));
    GC_CUDNN_TRY(err, cudnnBackendFinalize(*t));
    return GC_OK;
}

/* out = mode(x [, b]) as a pointwise operation. */
static gc_status pointwise(gc_conv_plan *p, cudnnPointwiseMode_t mode,
                           cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                           cudnnBackendDescriptor_t y, cudnnBackendDescriptor_t *op,
                           gc_errbuf *err)
{
    cudnnBackendDescriptor_t pw;
    GC_TRY(make(p, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pw, err));
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE,
                                               CUDNN_TYPE_POINTWISE_MODE, 1, &mode));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC,
                                               CUDNN_TYPE_DATA_TYPE, 1, &prec));
    if (mode == CUDNN_POINTWISE_RELU_FWD) {
        /* a plain ReLU, stated as cudnn-frontend states it (the upper clip within float) */
        double lower = 0.0, upper = FLT_MAX, slope = 0.0;
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP,
                                                   CUDNN_TYPE_DOUBLE, 1, &lower));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP,
                                                   CUDNN_TYPE_DOUBLE, 1, &upper));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE,
                                                   CUDNN_TYPE_DOUBLE, 1, &slope));
    }
    GC_CUDNN_TRY(err, cudnnBackendFinalize(pw));
    GC_TRY(make(p, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, op, err));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
    if (b)
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y));
    GC_CUDNN_TRY(err, cudnnBackendFinalize(*op));
    return GC_OK;
}

/* The operation graph for the requested fusion, bound to the handle; *graph is finalized. */
static gc_status build_graph(cudnnHandle_t handle, gc_conv_plan *p, int bias, int relu,
                             cudnnBackendDescriptor_t *graph, gc_errbuf *err)
{
    const int64_t n = p->n, h = p->h, w = p->w, c = p->c, k = p->k;
    cudnnBackendDescriptor_t x, wt, y, tb = NULL, v1 = NULL, v2 = NULL;
    GC_TRY(tensor(p, ID_X, n, c, h, w, false, &x, err));
    /* weights (k, 3, 3, c) in memory: dims (k, c, 3, 3) with KRSC strides */
    GC_TRY(make(p, CUDNN_BACKEND_TENSOR_DESCRIPTOR, &wt, err));
    {
        cudnnDataType_t dt = p->dtype;
        int64_t dims[4] = {k, c, 3, 3}, strides[4] = {9 * c, 1, 3 * c, c};
        int64_t id = ID_W, align = 16;
        bool virt = false;
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(wt, CUDNN_ATTR_TENSOR_DATA_TYPE,
                                                   CUDNN_TYPE_DATA_TYPE, 1, &dt));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(wt, CUDNN_ATTR_TENSOR_DIMENSIONS,
                                                   CUDNN_TYPE_INT64, 4, dims));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(wt, CUDNN_ATTR_TENSOR_STRIDES,
                                                   CUDNN_TYPE_INT64, 4, strides));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(wt, CUDNN_ATTR_TENSOR_UNIQUE_ID,
                                                   CUDNN_TYPE_INT64, 1, &id));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(wt, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT,
                                                   CUDNN_TYPE_INT64, 1, &align));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(wt, CUDNN_ATTR_TENSOR_IS_VIRTUAL,
                                                   CUDNN_TYPE_BOOLEAN, 1, &virt));
        GC_CUDNN_TRY(err, cudnnBackendFinalize(wt));
    }
    GC_TRY(tensor(p, ID_Y, n, k, h, w, false, &y, err));
    if (bias) {
        GC_TRY(tensor(p, ID_B, 1, k, 1, 1, false, &tb, err));
        GC_TRY(tensor(p, ID_V1, n, k, h, w, true, &v1, err));
        if (relu)
            GC_TRY(tensor(p, ID_V2, n, k, h, w, true, &v2, err));
    } else if (relu) {
        GC_TRY(tensor(p, ID_V1, n, k, h, w, true, &v1, err));
    }

    cudnnBackendDescriptor_t cd;
    GC_TRY(make(p, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &cd, err));
    {
        cudnnDataType_t comp = CUDNN_DATA_FLOAT;
        cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
        int64_t dims = 2, one[2] = {1, 1}, pad[2] = {1, 1};
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE,
                                                   CUDNN_TYPE_DATA_TYPE, 1, &comp));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE,
                                                   CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS,
                                                   CUDNN_TYPE_INT64, 1, &dims));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS,
                                                   CUDNN_TYPE_INT64, 2, one));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES,
                                                   CUDNN_TYPE_INT64, 2, one));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS,
                                                   CUDNN_TYPE_INT64, 2, pad));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS,
                                                   CUDNN_TYPE_INT64, 2, pad));
        GC_CUDNN_TRY(err, cudnnBackendFinalize(cd));
    }

    cudnnBackendDescriptor_t ops[3];
    int n_ops = 0;
    cudnnBackendDescriptor_t conv_out = v1 ? v1 : y;
    GC_TRY(make(p, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, &ops[0], err));
    {
        float alpha = 1.0f, beta = 0.0f;
        cudnnBackendDescriptor_t op = ops[0];
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &wt));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv_out));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(op,
                                                   CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(op,
                                                   CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                                                   CUDNN_TYPE_FLOAT, 1, &alpha));
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(op,
                                                   CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
                                                   CUDNN_TYPE_FLOAT, 1, &beta));
        GC_CUDNN_TRY(err, cudnnBackendFinalize(op));
    }
    n_ops = 1;
    if (bias) {
        /* the broadcast bias is B, never X (see the notes) */
        GC_TRY(pointwise(p, CUDNN_POINTWISE_ADD, v1, tb, relu ? v2 : y, &ops[n_ops++], err));
        if (relu)
            GC_TRY(pointwise(p, CUDNN_POINTWISE_RELU_FWD, v2, NULL, y, &ops[n_ops++], err));
    } else if (relu) {
        GC_TRY(pointwise(p, CUDNN_POINTWISE_RELU_FWD, v1, NULL, y, &ops[n_ops++], err));
    }

    GC_TRY(make(p, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, graph, err));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*graph, CUDNN_ATTR_OPERATIONGRAPH_OPS,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, n_ops, ops));
    /* cuDNN 9.19 marks CUDNN_ATTR_OPERATIONGRAPH_HANDLE deprecated in favour of a
     * device-properties descriptor, but a handle-less graph is cuDNN's deviceless
     * (ahead-of-time) path, whose plans cudnn-frontend serializes and reloads with a handle
     * before executing them. The path that runs directly with cudnnBackendExecute, which
     * cudnn-frontend's Graph::build(handle) still takes, is a graph carrying the handle and a
     * plan from a plain engine config. So: the deprecated attribute, on this one line only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const cudnnBackendAttributeName_t graph_handle = CUDNN_ATTR_OPERATIONGRAPH_HANDLE;
#pragma GCC diagnostic pop
    if (!deviceless_prop) /* deviceless: the heuristics and plans carry the device instead */
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(*graph, graph_handle, CUDNN_TYPE_HANDLE, 1,
                                                   &handle));
    GC_CUDNN_TRY(err, cudnnBackendFinalize(*graph));
    return GC_OK;
}

/* 0 when the environment sets `name` to "0" (a switch that is on unless turned off). */
static int env_switch_on(const char *name)
{
    const char *v = getenv(name);
    return !(v && !strcmp(v, "0"));
}

/* GC_CUDNN_RTC=0 in the environment: no engine compiled at run time (NVRTC), whose plans
 * can take seconds each to build; a fused graph then takes a precompiled engine or runs
 * unfused (the conv, then our bias + ReLU kernel). */
static int runtime_compilation_allowed(void)
{
    return env_switch_on("GC_CUDNN_RTC");
}

/* Whether a conv with bias or ReLU gets the fused graph. By default in every precision but
 * true fp32: there cuDNN's fused engines were slower than the plain conv followed by our
 * bias + ReLU kernel (H100, VGG16 b256: 823 img/s fused, 981 unfused, 2026-11-27), while in
 * bf16 fusion pays (15,709 against 12,593). GC_CUDNN_FUSE=0 unfuses every conv, =1 fuses
 * every one (for measuring what fusion buys per precision, and for bisecting). */
static int fusion_allowed(gc_conv_numerics numerics)
{
    const char *v = getenv("GC_CUDNN_FUSE");
    if (v && *v)
        return strcmp(v, "0") != 0;
    return numerics != GC_CONV_TRUE_FP32;
}

/* 1 when the engine config may run our convs. Its numerical notes must fit `numerics`
 * (gc_conv_numerics): never a reduced-precision reduction, never down-converted inputs (cuDNN
 * flags an engine that converts float data to fp16 so; TF32 engines carry TENSOR_CORE alone;
 * PyTorch and TensorFlow refuse the note whatever the precision); in true fp32 also no
 * tensor cores, FFT or Winograd (their transforms round differently from a direct float
 * sum). `deterministic` also refuses nondeterministic engines, so that a context gives the
 * same bits on every run (the autotuner's candidates always; the default plan unless no
 * deterministic engine runs the graph). And no runtime-compiled engine with GC_CUDNN_RTC=0. */
static gc_status engine_ok(cudnnBackendDescriptor_t cfg, gc_conv_numerics numerics,
                           int deterministic, int *ok, gc_errbuf *err)
{
    cudnnBackendDescriptor_t engine;
    *ok = 0;
    GC_CUDNN_TRY(err, cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine));
    int64_t got = 0;
    cudnnStatus_t s = cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &engine);
    cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    int64_t n_notes = 0, n_behavior = 0;
    if (s == CUDNN_STATUS_SUCCESS && got == 1)
        s = cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                     CUDNN_TYPE_NUMERICAL_NOTE, CUDNN_NUMERICAL_NOTE_TYPE_COUNT,
                                     &n_notes, notes);
    if (s == CUDNN_STATUS_SUCCESS && !runtime_compilation_allowed())
        s = cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                     CUDNN_TYPE_BEHAVIOR_NOTE, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT,
                                     &n_behavior, behavior);
    cudnnBackendDestroyDescriptor(engine);
    GC_CUDNN_TRY(err, s);
    *ok = 1;
    for (int64_t i = 0; i < n_behavior; i++)
        if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION)
            *ok = 0;
    for (int64_t i = 0; i < n_notes; i++) {
        if (notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION ||
            notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)
            *ok = 0;
        if (numerics == GC_CONV_TRUE_FP32 &&
            (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE ||
             notes[i] == CUDNN_NUMERICAL_NOTE_FFT || notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD ||
             notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4 ||
             notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6 ||
             notes[i] == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13))
            *ok = 0;
        if (deterministic && notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC)
            *ok = 0;
    }
    return GC_OK;
}

/* A finalize that failed for memory, host or device: an out-of-memory for the caller (who
 * may retry with a smaller batch), not an engine's refusal of the graph. */
static int cudnn_out_of_memory(cudnnStatus_t s)
{
    return s == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
           s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
}

/* The heuristics' engine configs for the graph in one mode, appended to p->cfgs (a plan's
 * config must outlive the plan; release_build frees them all): *cfgs points at the first new
 * one, *got says how many. *got = 0 with GC_OK when the mode has none for this graph (why, when
 * not NULL, then says cuDNN's reason). */
static gc_status heuristic_configs(gc_conv_plan *p, cudnnBackendDescriptor_t graph,
                                   cudnnBackendHeurMode_t mode, cudnnBackendDescriptor_t **cfgs,
                                   int64_t *got, char *why, size_t why_len, gc_errbuf *err)
{
    *cfgs = NULL;
    *got = 0;
    cudnnBackendDescriptor_t heur;
    GC_TRY(make(p, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur, err));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE,
                                               CUDNN_TYPE_HEUR_MODE, 1, &mode));
#if CUDNN_VERSION >= 90800
    if (deviceless_prop)
        GC_CUDNN_TRY(err, cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP,
                                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                                   &deviceless_prop));
#endif
    /* mode B's finalize is not thread-safe: cudnn-frontend serializes it with a process-wide
     * lock (contexts may be created in several threads: the command's workers) */
    static pthread_mutex_t heur_b_lock = PTHREAD_MUTEX_INITIALIZER;
    if (mode == CUDNN_HEUR_MODE_B)
        pthread_mutex_lock(&heur_b_lock);
    const cudnnStatus_t fin = cudnnBackendFinalize(heur);
    if (mode == CUDNN_HEUR_MODE_B)
        pthread_mutex_unlock(&heur_b_lock);
    if (cudnn_out_of_memory(fin))
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "cuDNN engine heuristics: %s",
                       cudnnGetErrorString(fin));
    if (fin != CUDNN_STATUS_SUCCESS) {
        if (why)
            cudnnGetLastErrorString(why, why_len);
        return GC_OK; /* no engine for this graph in this mode */
    }
    int64_t count = 0;
    GC_CUDNN_TRY(err, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, NULL));
    if (count <= 0)
        return GC_OK;
    cudnnBackendDescriptor_t *all = (cudnnBackendDescriptor_t *)realloc(
        p->cfgs, sizeof *all * (size_t)(p->n_cfgs + count));
    if (!all)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory (cuDNN engine configs)");
    p->cfgs = all;
    cudnnBackendDescriptor_t *mine = all + p->n_cfgs;
    for (int64_t i = 0; i < count; i++) { /* counted as each is made: released if one fails */
        GC_CUDNN_TRY(err, cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR,
                                                       &mine[i]));
        p->n_cfgs++;
    }
    GC_CUDNN_TRY(err, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, count, got, mine));
    *got = *got < count ? *got : count;
    *cfgs = mine;
    return GC_OK;
}

/* Why a config did not become a plan, into why: cuDNN's status and message. A status other
 * than NOT_SUPPORTED_* (which is how an engine says "not this graph") is not expected from a
 * correct graph (BAD_PARAM, say): it is kept, marked, over the refusals of later configs, so
 * that the error when no config runs names it. The next config is still tried. */
static void note_refusal(cudnnStatus_t s, char *why, size_t why_len)
{
    static const char mark[] = "unexpected ";
    const int expected = CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED;
    if (expected && !strncmp(why, mark, sizeof mark - 1))
        return;
    char msg[400];
    cudnnGetLastErrorString(msg, sizeof msg);
    snprintf(why, why_len, "%splan finalize: %s (%s)", expected ? "" : mark,
             cudnnGetErrorString(s), msg);
}

/* One engine config finalized into an execution plan, and the plan's workspace bytes.
 * *plan = NULL with GC_OK when the config cannot run the graph (why, when not NULL, then
 * says cuDNN's reason). The plan carries the handle, as the graph does (build_graph): cuDNN
 * before 9.11 requires it (cudnn-frontend set it until v1.13); later versions take the device
 * from the graph and accept the deprecated attribute. */
static gc_status config_plan(cudnnHandle_t handle, cudnnBackendDescriptor_t cfg,
                             cudnnBackendDescriptor_t *plan, int64_t *ws, char *why,
                             size_t why_len, gc_errbuf *err)
{
    *plan = NULL;
    *ws = 0;
    cudnnBackendDescriptor_t pl;
    GC_CUDNN_TRY(err, cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &pl));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const cudnnBackendAttributeName_t plan_handle = CUDNN_ATTR_EXECUTION_PLAN_HANDLE;
#pragma GCC diagnostic pop
    cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
#if CUDNN_VERSION >= 90800
    if (deviceless_prop)
        s = cudnnBackendSetAttribute(pl, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &deviceless_prop);
    else
#endif
        s = cudnnBackendSetAttribute(pl, plan_handle, CUDNN_TYPE_HANDLE, 1, &handle);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendSetAttribute(pl, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                     CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendFinalize(pl);
    int64_t n_ws = 0;
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendGetAttribute(pl, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                     CUDNN_TYPE_INT64, 1, &n_ws, ws);
    if (s != CUDNN_STATUS_SUCCESS) {
        /* the reason read before the destroy: cuDNN's last-error text is per thread and any
         * later call may replace it */
        const int oom = cudnn_out_of_memory(s);
        if (!oom && why)
            note_refusal(s, why, why_len);
        cudnnBackendDestroyDescriptor(pl);
        if (oom) /* not a refusal: the caller may retry smaller */
            return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "cuDNN plan finalize: %s",
                           cudnnGetErrorString(s));
        return GC_OK;
    }
    *plan = pl;
    return GC_OK;
}

/* Heuristics for the graph, then the first engine config that finalizes into a plan.
 * *found = 0 (and GC_OK) when none does; other failures return a status. */
static gc_status pick_plan(cudnnHandle_t handle, gc_conv_plan *p,
                           cudnnBackendDescriptor_t graph,
                           cudnnBackendHeurMode_t mode, gc_conv_numerics numerics,
                           int deterministic, int *found, char *why, size_t why_len,
                           gc_errbuf *err)
{
    *found = 0;
    cudnnBackendDescriptor_t *cfgs;
    int64_t got;
    GC_TRY(heuristic_configs(p, graph, mode, &cfgs, &got, why, why_len, err));
    int rejected = 0;
    for (int64_t i = 0; i < got; i++) {
        int ok;
        if (engine_ok(cfgs[i], numerics, deterministic, &ok, err) != GC_OK || !ok) {
            if (!why[0] && ++rejected)
                snprintf(why, why_len, "engine configs refused for their notes (reduced-"
                                       "precision reduction, down-converted inputs; in fp32 "
                                       "also tensor cores, FFT or Winograd; runtime "
                                       "compilation with GC_CUDNN_RTC=0)");
            continue;
        }
        cudnnBackendDescriptor_t plan;
        int64_t ws;
        GC_TRY(config_plan(handle, cfgs[i], &plan, &ws, why, why_len, err));
        if (!plan)
            continue; /* this config cannot run the graph: try the next */
        if (p->ws_cap >= 0 && ws > p->ws_cap) { /* the context's workspace is what it is */
            cudnnBackendDestroyDescriptor(plan);
            if (!why[0])
                snprintf(why, why_len, "engine configs needing more workspace than the %lld "
                                       "bytes there are (%lld)",
                         (long long)p->ws_cap, (long long)ws);
            continue;
        }
        p->plan = plan;
        p->workspace = ws;
        *found = 1;
        return GC_OK;
    }
    return GC_OK;
}

static gc_status try_build(cudnnHandle_t handle, gc_conv_plan *p, int bias, int relu,
                           gc_conv_numerics numerics, int *found, char *why, size_t why_len,
                           gc_errbuf *err)
{
    cudnnBackendDescriptor_t graph;
    *found = 0;
    release_build(p);
    GC_TRY(build_graph(handle, p, bias, relu, &graph, err));
    /* a deterministic engine if any runs the graph (mode A, then the fallback list); else
     * whatever runs it */
    for (int deterministic = 1; deterministic >= 0 && !*found; deterministic--) {
        GC_TRY(pick_plan(handle, p, graph, CUDNN_HEUR_MODE_A, numerics, deterministic, found,
                         why, why_len, err));
        if (!*found)
            GC_TRY(pick_plan(handle, p, graph, CUDNN_HEUR_MODE_FALLBACK, numerics,
                             deterministic, found, why, why_len, err));
    }
    return GC_OK;
}

static gc_status plan_build(cudnnHandle_t handle, cudnnDataType_t dtype, int64_t n, int64_t h,
                            int64_t w, int64_t c, int64_t k, int bias, int relu,
                            gc_conv_numerics numerics, int64_t ws_cap, gc_conv_plan *p,
                            gc_errbuf *err)
{
    memset(p, 0, sizeof *p);
    p->ws_cap = ws_cap;
    p->dtype = dtype;
    p->n = n, p->h = h, p->w = w, p->c = c, p->k = k;
    p->bias = bias, p->relu = relu;
    char why[512] = "";
    int found = 0;
    if ((bias || relu) && fusion_allowed(numerics)) {
        gc_status st = try_build(handle, p, bias, relu, numerics, &found, why, sizeof why,
                                 err);
        if (st == GC_ERR_OUT_OF_MEMORY)
            return st;
        if (st != GC_OK) { /* cuDNN refused the fused graph itself: build the plain conv */
            snprintf(why, sizeof why, "fused graph: %.480s", err->msg);
            found = 0;
        }
        p->fused = found;
    }
    if (!found)
        GC_TRY(try_build(handle, p, 0, 0, numerics, &found, why, sizeof why, err));
    /* engines index with 32 bits: a larger tensor is refused as "not supported" */
    const int64_t widest = c > k ? c : k, elems = n * h * w * widest;
    if (!found && elems > INT32_MAX)
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "cuDNN has no engine for a 3x3 conv whose tensor has %lld elements (n "
                       "%lld, %lldx%lld, %lld channels; cuDNN's engines take at most 2^31 - 1): "
                       "use a smaller max_batch",
                       (long long)elems, (long long)n, (long long)h, (long long)w,
                       (long long)widest);
    if (!found)
        return gc_fail(err, GC_ERR_UNSUPPORTED,
                       "cuDNN has no %s engine for a 3x3 conv (n %lld, %lldx%lld, %lld -> %lld "
                       "channels, NHWC %s): %s",
                       numerics == GC_CONV_TRUE_FP32 ? "true-fp32 (non-tensor-core)"
                                                     : "float-accumulating",
                       (long long)n,
                       (long long)h, (long long)w, (long long)c, (long long)k,
                       dtype == CUDNN_DATA_HALF       ? "fp16"
                       : dtype == CUDNN_DATA_BFLOAT16 ? "bf16"
                                                      : "float",
                       why[0] ? why : "no engine config finalized");
    return GC_OK;
}

gc_status gc_conv_plan_build_capped(cudnnHandle_t handle, cudnnDataType_t dtype, int64_t n,
                                    int64_t h, int64_t w, int64_t c, int64_t k, int bias,
                                    int relu, gc_conv_numerics numerics, int64_t ws_cap,
                                    gc_conv_plan *p, gc_errbuf *err)
{
    gc_status st =
        plan_build(handle, dtype, n, h, w, c, k, bias, relu, numerics, ws_cap, p, err);
    if (st != GC_OK) /* nothing of a failed build stays allocated */
        gc_conv_plan_free(p);
    return st;
}

gc_status gc_conv_plan_build(cudnnHandle_t handle, cudnnDataType_t dtype, int64_t n, int64_t h,
                             int64_t w, int64_t c, int64_t k, int bias, int relu,
                             gc_conv_numerics numerics, gc_conv_plan *p, gc_errbuf *err)
{
    return gc_conv_plan_build_capped(handle, dtype, n, h, w, c, k, bias, relu, numerics, -1, p,
                                     err);
}

int gc_conv_first_channels(cudnnDataType_t dtype, const int32_t **c)
{
    static const int32_t c_float[] = {3, 4, 8}, c_half[] = {8};
    *c = dtype == CUDNN_DATA_FLOAT ? c_float : c_half;
    return dtype == CUDNN_DATA_FLOAT ? 3 : 1;
}

gc_status gc_conv_plan_bind(gc_conv_plan *p, const void *x, const void *wt, const void *b,
                            void *y, void *workspace, gc_errbuf *err)
{
    int64_t ids[4] = {ID_X, ID_W, ID_Y, ID_B};
    void *ptrs[4] = {(void *)x, (void *)wt, (void *)y, (void *)b};
    int64_t n = p->fused && p->bias ? 4 : 3;
    if (p->pack)
        cudnnBackendDestroyDescriptor(p->pack);
    p->pack = NULL;
    GC_CUDNN_TRY(err, cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR,
                                                   &p->pack));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(p->pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                               CUDNN_TYPE_INT64, n, ids));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(p->pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                               CUDNN_TYPE_VOID_PTR, n, ptrs));
    GC_CUDNN_TRY(err, cudnnBackendSetAttribute(p->pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                               CUDNN_TYPE_VOID_PTR, 1, &workspace));
    GC_CUDNN_TRY(err, cudnnBackendFinalize(p->pack));
    return GC_OK;
}

gc_status gc_conv_plan_run(cudnnHandle_t handle, const gc_conv_plan *p, gc_errbuf *err)
{
    GC_CUDNN_TRY(err, cudnnBackendExecute(handle, p->plan, p->pack));
    return GC_OK;
}

/* ---------------------------------------------------------------- autotuning (opt-in)
 * Only gc_conv_plan_tune and the helpers below run it; the default path above never calls
 * them. Learned from cuDNN's backend documentation (heuristic modes, engine configs, knob
 * choices, behavior notes) and from how cudnn-frontend autotunes (each candidate plan
 * executed after a warm-up, timed with CUDA events, the fastest kept). */

double gc_conv_tuner_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

gc_status gc_conv_tuner_init(gc_conv_tuner *t, cudaStream_t stream, int max_candidates,
                             int64_t ws_cap, gc_errbuf *err)
{
    memset(t, 0, sizeof *t);
    t->stream = stream;
    t->max_candidates = max_candidates;
    t->ws_cap = ws_cap;
    t->warmup = 1;
    t->iters = 3;
    cudaError_t e = cudaEventCreate(&t->ev[0]);
    if (e == cudaSuccess)
        e = cudaEventCreate(&t->ev[1]);
    if (e != cudaSuccess) {
        gc_conv_tuner_free(t); /* the first event is not left behind */
        return gc_fail(err, e == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY
                                                           : GC_ERR_BACKEND,
                       "cudaEventCreate (the autotuner's timer) failed at %s:%d: %s (%s)",
                       __FILE__, __LINE__, cudaGetErrorName(e), cudaGetErrorString(e));
    }
    return GC_OK;
}

void gc_conv_tuner_free(gc_conv_tuner *t)
{
    if (!t)
        return;
    cudaFree(t->scratch);
    for (int k = 0; k < 2; k++)
        if (t->ev[k])
            cudaEventDestroy(t->ev[k]);
    memset(t, 0, sizeof *t);
}

static __global__ void fill_random_kernel(uint32_t *p, size_t n, int kind, uint32_t seed, float scale)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 16;
        h *= 0x7feb352du;
        h ^= h >> 15;
        h *= 0x846ca68bu;
        h ^= h >> 16;
        const float u = ((float)(h >> 8) * (2.0f / 16777216.0f) - 1.0f) * scale,
                    v = ((float)(h & 0xffffu) * (2.0f / 65536.0f) - 1.0f) * scale;
        uint32_t w;
        if (kind == 0) /* float */
            w = __float_as_uint(u);
        else if (kind == 1) /* bfloat16: the high half of a float */
            w = (__float_as_uint(u) >> 16) | (__float_as_uint(v) & 0xffff0000u);
        else /* half */
            w = (uint32_t)__half_as_ushort(__float2half(u)) |
                ((uint32_t)__half_as_ushort(__float2half(v)) << 16);
        p[i] = w;
    }
}

gc_status gc_conv_fill_random(cudaStream_t stream, void *p, size_t bytes, cudnnDataType_t dt,
                              uint32_t seed, float scale, gc_errbuf *err)
{
    const size_t n = bytes / 4;
    if (n == 0)
        return GC_OK;
    const int kind = dt == CUDNN_DATA_BFLOAT16 ? 1 : dt == CUDNN_DATA_HALF ? 2 : 0;
    const size_t blocks = (n + 255) / 256;
    GC_LAUNCH((unsigned)(blocks < 65535 ? blocks : 65535), 256, stream, fill_random_kernel)(
        (uint32_t *)p, n, kind, seed, scale);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* "eng<global index>[_k<knob type>=<value>...]" for an engine config, with " rtc" when the
 * engine compiles its kernel at run time; "?" parts when cuDNN does not say. */
static void cfg_tag(cudnnBackendDescriptor_t cfg, char *tag, size_t len)
{
    size_t at = 0;
    tag[0] = 0;
    cudnnBackendDescriptor_t engine = NULL;
    int64_t got = 0, index = -1;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) ==
            CUDNN_STATUS_SUCCESS &&
        cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &engine) ==
            CUDNN_STATUS_SUCCESS &&
        got == 1) {
        int64_t n = 0;
        if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                     &n, &index) != CUDNN_STATUS_SUCCESS)
            index = -1;
    }
    if (index >= 0)
        at += (size_t)snprintf(tag + at, len - at, "eng%lld", (long long)index);
    else
        at += (size_t)snprintf(tag + at, len - at, "eng?");
    /* the knob choices */
    cudnnBackendDescriptor_t knobs[CUDNN_KNOB_TYPE_COUNTS];
    int made = 0;
    for (; made < CUDNN_KNOB_TYPE_COUNTS; made++)
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, &knobs[made]) !=
            CUDNN_STATUS_SUCCESS)
            break;
    int64_t n_knobs = 0;
    if (made == CUDNN_KNOB_TYPE_COUNTS &&
        cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, CUDNN_KNOB_TYPE_COUNTS, &n_knobs,
                                 knobs) == CUDNN_STATUS_SUCCESS) {
        for (int64_t k = 0; k < n_knobs && k < CUDNN_KNOB_TYPE_COUNTS && at < len; k++) {
            cudnnBackendKnobType_t type;
            int64_t value = 0, n = 0;
            if (cudnnBackendGetAttribute(knobs[k], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                         CUDNN_TYPE_KNOB_TYPE, 1, &n, &type) ==
                    CUDNN_STATUS_SUCCESS &&
                cudnnBackendGetAttribute(knobs[k], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                         CUDNN_TYPE_INT64, 1, &n, &value) == CUDNN_STATUS_SUCCESS)
                at += (size_t)snprintf(tag + at, len - at, "_k%d=%lld", (int)type,
                                       (long long)value);
        }
    }
    for (int k = 0; k < made; k++)
        cudnnBackendDestroyDescriptor(knobs[k]);
    /* run-time compiled (NVRTC) engines: slower to build, worth knowing in the report */
    if (index >= 0 && at < len) {
        cudnnBackendBehaviorNote_t notes[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
        int64_t n_notes = 0;
        if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE,
                                     CUDNN_TYPE_BEHAVIOR_NOTE, CUDNN_BEHAVIOR_NOTE_TYPE_COUNT,
                                     &n_notes, notes) == CUDNN_STATUS_SUCCESS)
            for (int64_t k = 0; k < n_notes && k < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; k++)
                if (notes[k] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION && at < len)
                    at += (size_t)snprintf(tag + at, len - at, " rtc");
    }
    if (engine)
        cudnnBackendDestroyDescriptor(engine);
}

/* The tag of the engine config a finalized plan was made from ("default" if cuDNN does not
 * give it back). */
static void plan_tag(cudnnBackendDescriptor_t plan, char *tag, size_t len)
{
    cudnnBackendDescriptor_t cfg = NULL;
    int64_t got = 0;
    snprintf(tag, len, "default");
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg) !=
        CUDNN_STATUS_SUCCESS)
        return;
    if (cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &cfg) ==
            CUDNN_STATUS_SUCCESS &&
        got == 1)
        cfg_tag(cfg, tag, len);
    cudnnBackendDestroyDescriptor(cfg);
}

/* Outcome of timing one plan. */
enum { TIMED_OK = 0, TIMED_SKIP = 1, TIMED_FATAL = 2 };

/* Times `plan` (workspace ws bytes) on the pointers: t->warmup runs, then the minimum of
 * t->iters runs between CUDA events, into *ms. TIMED_SKIP when it cannot run here (no room
 * for its workspace, cuDNN refuses to execute it); TIMED_FATAL (message in err) on a sticky
 * CUDA error, which leaves the device unusable. */
static int time_plan(cudnnHandle_t handle, gc_conv_tuner *t, const gc_conv_plan *p,
                     cudnnBackendDescriptor_t plan, int64_t ws, const void *x, const void *wt,
                     const void *b, void *y, double *ms, gc_errbuf *err)
{
    *ms = 0.0;
    if (ws > t->scratch_bytes) {
        cudaFree(t->scratch);
        t->scratch = NULL;
        t->scratch_bytes = 0;
        if (cudaMalloc(&t->scratch, (size_t)ws) != cudaSuccess) {
            cudaGetLastError(); /* an allocation failure is not sticky */
            t->scratch = NULL;
            return TIMED_SKIP;
        }
        t->scratch_bytes = ws;
    }
    int64_t ids[4] = {ID_X, ID_W, ID_Y, ID_B}; /* as gc_conv_plan_bind */
    void *ptrs[4] = {(void *)x, (void *)wt, y, (void *)b};
    const int64_t n = p->fused && p->bias ? 4 : 3;
    void *ws_ptr = t->scratch;
    cudnnBackendDescriptor_t pack = NULL;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack) !=
        CUDNN_STATUS_SUCCESS)
        return TIMED_SKIP;
    int outcome = TIMED_SKIP;
    float best = -1.0f;
    if (cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n,
                                 ids) != CUDNN_STATUS_SUCCESS ||
        cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                 CUDNN_TYPE_VOID_PTR, n, ptrs) != CUDNN_STATUS_SUCCESS ||
        cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                                 &ws_ptr) != CUDNN_STATUS_SUCCESS ||
        cudnnBackendFinalize(pack) != CUDNN_STATUS_SUCCESS)
        goto done;
    for (int r = 0; r < t->warmup; r++)
        if (cudnnBackendExecute(handle, plan, pack) != CUDNN_STATUS_SUCCESS)
            goto check;
    for (int r = 0; r < t->iters; r++) {
        float e = 0.0f;
        if (cudaEventRecord(t->ev[0], t->stream) != cudaSuccess ||
            cudnnBackendExecute(handle, plan, pack) != CUDNN_STATUS_SUCCESS ||
            cudaEventRecord(t->ev[1], t->stream) != cudaSuccess ||
            cudaEventSynchronize(t->ev[1]) != cudaSuccess ||
            cudaEventElapsedTime(&e, t->ev[0], t->ev[1]) != cudaSuccess)
            goto check;
        if (best < 0.0f || e < best)
            best = e;
    }
    outcome = TIMED_OK;
    *ms = best;
check: {
    /* whatever failed: a sticky error ends everything, another one only this candidate */
    cudaError_t e = cudaStreamSynchronize(t->stream);
    if (e == cudaSuccess)
        e = cudaGetLastError();
    else
        cudaGetLastError();
    if (e != cudaSuccess && gc_cuda_error_is_sticky(e)) {
        gc_fail(err, GC_ERR_BACKEND, "cuDNN autotuning: a candidate plan failed: %s (%s)",
                cudaGetErrorName(e), cudaGetErrorString(e));
        outcome = TIMED_FATAL;
    } else if (e != cudaSuccess) {
        outcome = TIMED_SKIP;
    }
}
done:
    cudnnBackendDestroyDescriptor(pack);
    return outcome;
}

/* Candidate plans of one heuristic mode, each timed as it is built; the fastest so far in
 * *best (destroying the one it replaces). Up to t->max_candidates in *n_cands (with the
 * other modes'): those over the workspace cap are not counted (counted in *over_cap), nor
 * are duplicates of a tag in `seen` (known engines only: a config whose engine index cannot
 * be read is never taken for another). Counts in *timed. */
static gc_status tune_mode(cudnnHandle_t handle, gc_conv_tuner *t, gc_conv_plan *c,
                           cudnnBackendDescriptor_t graph, cudnnBackendHeurMode_t mode,
                           gc_conv_numerics numerics, char (*seen)[128], int *n_seen,
                           int max_seen, int *n_cands, const void *x, const void *wt,
                           const void *b, void *y,
                           cudnnBackendDescriptor_t *best, int64_t *best_ws, double *best_ms,
                           char *best_tag, int *timed, int *over_cap, int *fatal,
                           gc_errbuf *err)
{
    /* c->cfgs keeps the configs of every mode (a plan's config must outlive it) */
    cudnnBackendDescriptor_t *cfgs;
    int64_t got;
    GC_TRY(heuristic_configs(c, graph, mode, &cfgs, &got, NULL, 0, err));
    for (int64_t i = 0; i < got && *n_cands < t->max_candidates; i++) {
        if (t->deadline_s > 0.0 && gc_conv_tuner_now() > t->deadline_s) {
            t->out_of_time = 1;
            break;
        }
        int ok = 0;
        if (engine_ok(cfgs[i], numerics, 1, &ok, err) != GC_OK || !ok)
            continue;
        char tag[128];
        cfg_tag(cfgs[i], tag, sizeof tag);
        const int known = strncmp(tag, "eng?", 4) != 0;
        int dup = 0;
        for (int k = 0; known && k < *n_seen && !dup; k++)
            dup = strcmp(seen[k], tag) == 0;
        if (dup)
            continue;
        cudnnBackendDescriptor_t plan;
        int64_t ws;
        GC_TRY(config_plan(handle, cfgs[i], &plan, &ws, NULL, 0, err));
        if (!plan) /* cannot run this graph: not a candidate */
            continue;
        if (known && *n_seen < max_seen)
            snprintf(seen[(*n_seen)++], 128, "%s", tag);
        if (ws > t->ws_cap) { /* not a candidate here: does not count */
            ++*over_cap;
            cudnnBackendDestroyDescriptor(plan);
            continue;
        }
        ++*n_cands;
        double ms = 0.0;
        const int outcome = time_plan(handle, t, c, plan, ws, x, wt, b, y, &ms, err);
        if (outcome == TIMED_FATAL) {
            cudnnBackendDestroyDescriptor(plan);
            *fatal = 1;
            return GC_ERR_BACKEND;
        }
        if (outcome != TIMED_OK) {
            cudnnBackendDestroyDescriptor(plan);
            continue;
        }
        ++*timed;
        if (*best && ms >= *best_ms) {
            cudnnBackendDestroyDescriptor(plan);
            continue;
        }
        if (*best)
            cudnnBackendDestroyDescriptor(*best);
        *best = plan;
        *best_ws = ws;
        *best_ms = ms;
        snprintf(best_tag, 128, "%s", tag);
    }
    return GC_OK;
}

/* c: an empty plan of p's shape, type and fusion, and *graph: p's graph built again and owned
 * by c (release_build frees it), for the heuristics' other configs of the same graph. */
static gc_status same_graph(cudnnHandle_t handle, const gc_conv_plan *p, gc_conv_plan *c,
                            cudnnBackendDescriptor_t *graph, gc_errbuf *err)
{
    memset(c, 0, sizeof *c);
    c->dtype = p->dtype;
    c->n = p->n, c->h = p->h, c->w = p->w, c->c = p->c, c->k = p->k;
    c->bias = p->bias, c->relu = p->relu, c->fused = p->fused;
    return build_graph(handle, c, p->fused ? p->bias : 0, p->fused ? p->relu : 0, graph, err);
}

gc_status gc_conv_plan_tune(cudnnHandle_t handle, gc_conv_tuner *t, gc_conv_plan *p,
                            gc_conv_numerics numerics, const void *x, const void *wt,
                            const void *b, void *y, char *line, size_t line_len, gc_errbuf *err)
{
    line[0] = 0;
    char def_tag[128];
    plan_tag(p->plan, def_tag, sizeof def_tag);
    /* the default plan first: what an untuned context runs, and the time to beat */
    double def_ms = 0.0;
    const int outcome = time_plan(handle, t, p, p->plan, p->workspace, x, wt, b, y, &def_ms,
                                  err);
    if (outcome == TIMED_FATAL)
        return GC_ERR_BACKEND;
    if (outcome != TIMED_OK) {
        snprintf(line, line_len, "%s kept: it could not be timed (workspace %.1f MiB)",
                 def_tag, p->workspace / 1048576.0);
        return GC_OK;
    }
    /* the same graph again, owned by c, for the heuristics' other configs */
    const gc_errbuf saved = *err;
    gc_conv_plan c;
    memset(&c, 0, sizeof c);
    cudnnBackendDescriptor_t graph = NULL, best = NULL;
    int64_t best_ws = 0;
    double best_ms = 0.0;
    char best_tag[128] = "";
    /* the default's tag, the candidates', and room for some over the workspace cap (when it
     * is full, further duplicates are timed again: harmless) */
    const int max_seen = t->max_candidates + 1 + 64;
    char(*seen)[128] = (char(*)[128])calloc((size_t)max_seen, 128);
    int n_seen = 0, n_cands = 0, timed = 0, over_cap = 0, fatal = 0;
    gc_status st = seen ? GC_OK
                        : gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory (autotuning)");
    if (st == GC_OK) {
        snprintf(seen[n_seen++], 128, "%s", def_tag); /* never timed twice */
        st = same_graph(handle, p, &c, &graph, err);
    }
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_B};
    for (int m = 0; st == GC_OK && m < 2; m++)
        st = tune_mode(handle, t, &c, graph, modes[m], numerics, seen, &n_seen, max_seen,
                       &n_cands, x, wt, b, y, &best, &best_ws, &best_ms, best_tag, &timed,
                       &over_cap, &fatal, err);
    free(seen);
    if (fatal) { /* a sticky CUDA error: the device is gone for this process */
        if (best)
            cudnnBackendDestroyDescriptor(best);
        release_build(&c);
        return st;
    }
    char why[200] = "";
    if (st != GC_OK) /* cuDNN refused something of the candidates: what was timed counts */
        snprintf(why, sizeof why, "; stopped: %.150s", err->msg);
    *err = saved; /* nothing failed: no message from refused candidates stays behind */
    char cap[96] = "";
    if (over_cap)
        snprintf(cap, sizeof cap, ", %d over the workspace cap", over_cap);
    if (t->out_of_time)
        snprintf(cap + strlen(cap), sizeof cap - strlen(cap), ", time budget spent");
    if (best && (best_ms < 0.99 * def_ms || t->pick_other)) {
        /* the candidate wins (or a test forces the swap): its plan and descriptors replace
         * the default's */
        snprintf(line, line_len, "%s %.3f ms (default %s %.3f ms; %d candidates timed%s%s%s)",
                 best_tag, best_ms, def_tag, def_ms, timed, cap, why,
                 best_ms < 0.99 * def_ms ? "" : "; GC_CUDNN_AUTOTUNE_PICK=other");
        gc_conv_plan_free(p);
        c.plan = best;
        c.workspace = best_ws;
        *p = c;
        return GC_OK;
    }
    snprintf(line, line_len, "%s %.3f ms kept (default; %d other candidates timed%s%s)",
             def_tag, def_ms, timed, cap, why);
    if (best)
        cudnnBackendDestroyDescriptor(best);
    release_build(&c);
    return GC_OK;
}

void gc_conv_plan_tag(const gc_conv_plan *p, char *tag, size_t len)
{
    plan_tag(p->plan, tag, len);
}

gc_status gc_conv_plan_select(cudnnHandle_t handle, gc_conv_plan *p, gc_conv_numerics numerics,
                              const char *tag, int *found, gc_errbuf *err)
{
    *found = 0;
    char cur[128];
    plan_tag(p->plan, cur, sizeof cur);
    if (!strcmp(cur, tag)) { /* the default is that config already */
        *found = 1;
        return GC_OK;
    }
    /* the same graph again, as gc_conv_plan_tune builds it, and its configs searched */
    const gc_errbuf saved = *err;
    gc_conv_plan c;
    cudnnBackendDescriptor_t graph = NULL, plan = NULL;
    int64_t ws = 0;
    gc_status st = same_graph(handle, p, &c, &graph, err);
    static const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_B};
    for (int m = 0; st == GC_OK && !plan && m < 2; m++) {
        cudnnBackendDescriptor_t *cfgs;
        int64_t got;
        st = heuristic_configs(&c, graph, modes[m], &cfgs, &got, NULL, 0, err);
        for (int64_t i = 0; st == GC_OK && !plan && i < got; i++) {
            int ok = 0;
            if (engine_ok(cfgs[i], numerics, 1, &ok, err) != GC_OK || !ok)
                continue;
            char t[128];
            cfg_tag(cfgs[i], t, sizeof t);
            if (!strcmp(t, tag))
                st = config_plan(handle, cfgs[i], &plan, &ws, NULL, 0, err);
        }
    }
    *err = saved; /* not finding it is an answer, not a failure */
    if (!plan) {
        release_build(&c);
        return GC_OK;
    }
    gc_conv_plan_free(p);
    c.plan = plan;
    c.workspace = ws;
    *p = c;
    *found = 1;
    return GC_OK;
}
