/*
 * test_mock_cudnn.cpp — the cuDNN mock (mock_cudnn*.cpp) checked on its own, against loops
 * written out here, before the CUDA backend is compared with the CPU backend through it.
 *
 *   1. graphs built directly with the backend API: a convolution (NHWC float, bf16 and half,
 *      an NCHW input, strides, dilations, uneven padding, CONVOLUTION mode, alpha and beta),
 *      conv + bias + ReLU fused, every engine of the catalogue, the nondeterministic one
 *   2. strictness: wrong y dims, an unconsumed virtual tensor, one id for two tensors,
 *      setting after finalize, getting before, wrong attribute types, a variant pack without
 *      a uid, misaligned, NULL or host pointers, a missing or aliasing workspace, destroyed
 *      descriptors, the last error string
 *   3. the environment knobs: GC_EMU_CUDNN_NO_FUSION, GC_EMU_CUDNN_TC_ONLY
 *   4. cuda/cudnn_conv.cu on the mock: gc_conv_plan_build / bind / run (and the autotuner) for
 *      several shapes, data types, fusions and numerics against a naive 3x3 convolution
 *   5. stream capture: an execute captured into a CUDA graph writes nothing (output, workspace)
 *      until cudaGraphLaunch, then the direct execute's bytes, at every launch, after its
 *      descriptors are destroyed too; into an invalidated capture it fails
 *
 * Returns 0 when every check passes, 1 otherwise.
 */
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "cudnn_conv.cuh"
#include "mock_cudart.h"

static std::atomic<int> failures, checks; /* the threads' checks too */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                          \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

/* A call expected to succeed; on failure, says what cuDNN said. */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        cudnnStatus_t s_ = (expr);                                                                 \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                          \
            char m_[512];                                                                          \
            cudnnGetLastErrorString(m_, sizeof m_);                                                \
            CHECK(false, "%s: %s (%s)", #expr, cudnnGetErrorString(s_), m_);                       \
        }                                                                                          \
    } while (0)

typedef cudnnBackendDescriptor_t Desc;
typedef std::vector<int64_t> Dims;

static std::string last_error()
{
    char m[1024];
    cudnnGetLastErrorString(m, sizeof m);
    return m;
}

/* ---------------------------------------------------------------- element types */

static size_t esize(cudnnDataType_t dt)
{
    return dt == CUDNN_DATA_FLOAT ? 4 : 2;
}

static float rounded(float v, cudnnDataType_t dt)
{
    if (dt == CUDNN_DATA_HALF)
        return __half2float(__float2half_rn(v));
    if (dt == CUDNN_DATA_BFLOAT16)
        return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}

/* Relative precision of a data type (one unit in the last place at 1.0). */
static double ulp(cudnnDataType_t dt)
{
    return dt == CUDNN_DATA_HALF       ? 1.0 / 1024
           : dt == CUDNN_DATA_BFLOAT16 ? 1.0 / 128
                                       : 1.0 / 8388608;
}

/* Host values (already representable in dt) packed as dt. */
static std::vector<unsigned char> pack_as(const std::vector<float> &v, cudnnDataType_t dt)
{
    std::vector<unsigned char> b(v.size() * esize(dt));
    for (size_t i = 0; i < v.size(); i++) {
        if (dt == CUDNN_DATA_FLOAT) {
            memcpy(&b[4 * i], &v[i], 4);
        } else if (dt == CUDNN_DATA_HALF) {
            __half h = __float2half_rn(v[i]);
            memcpy(&b[2 * i], &h, 2);
        } else {
            __nv_bfloat16 h = __float2bfloat16_rn(v[i]);
            memcpy(&b[2 * i], &h, 2);
        }
    }
    return b;
}

static std::vector<float> unpack(const std::vector<unsigned char> &b, cudnnDataType_t dt)
{
    std::vector<float> v(b.size() / esize(dt));
    for (size_t i = 0; i < v.size(); i++) {
        if (dt == CUDNN_DATA_FLOAT) {
            memcpy(&v[i], &b[4 * i], 4);
        } else if (dt == CUDNN_DATA_HALF) {
            __half h;
            memcpy(&h, &b[2 * i], 2);
            v[i] = __half2float(h);
        } else {
            __nv_bfloat16 h;
            memcpy(&h, &b[2 * i], 2);
            v[i] = __bfloat162float(h);
        }
    }
    return v;
}

static thread_local uint32_t rng = 12345u;
static float uniform() /* in [-1, 1) */
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

static std::vector<float> random_values(size_t n, cudnnDataType_t dt)
{
    std::vector<float> v(n);
    for (float &x : v)
        x = rounded(uniform(), dt);
    return v;
}

/* Device memory holding `bytes`; freed at scope end. */
struct DevBuf {
    void *p = nullptr;
    size_t n = 0;
    explicit DevBuf(size_t bytes) : n(bytes)
    {
        if (cudaMalloc(&p, bytes) != cudaSuccess)
            p = nullptr;
    }
    ~DevBuf()
    {
        cudaFree(p);
    }
    DevBuf(const DevBuf &) = delete;
    DevBuf &operator=(const DevBuf &) = delete;
    void put(const std::vector<unsigned char> &b)
    {
        cudaMemcpy(p, b.data(), b.size(), cudaMemcpyHostToDevice);
    }
    std::vector<unsigned char> get() const
    {
        std::vector<unsigned char> b(n);
        cudaMemcpy(b.data(), p, n, cudaMemcpyDeviceToHost);
        return b;
    }
};

/* --------------------------------------------------------- backend API helpers */

struct Keep { /* destroys its descriptors at scope end */
    std::vector<Desc> d;
    ~Keep()
    {
        for (Desc x : d)
            cudnnBackendDestroyDescriptor(x);
    }
    Desc make(cudnnBackendDescriptorType_t t)
    {
        Desc x = nullptr;
        OK(cudnnBackendCreateDescriptor(t, &x));
        d.push_back(x);
        return x;
    }
};

static void set(Desc d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, int64_t n,
                const void *v)
{
    OK(cudnnBackendSetAttribute(d, a, t, n, v));
}

static Desc tensor(Keep &k, int64_t uid, cudnnDataType_t dt, const Dims &dims, const Dims &strides,
                   bool is_virtual = false, int64_t align = 16, bool finalize = true)
{
    Desc t = k.make(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
    set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, (int64_t)dims.size(), dims.data());
    set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, (int64_t)strides.size(), strides.data());
    set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
    if (finalize)
        OK(cudnnBackendFinalize(t));
    return t;
}

/* NHWC strides for dims (n, c, h, w). */
static Dims nhwc(const Dims &d)
{
    return {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
}

static Dims nchw(const Dims &d)
{
    return {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
}

struct ConvParams {
    int64_t pre[2] = {1, 1}, post[2] = {1, 1}, stride[2] = {1, 1}, dil[2] = {1, 1};
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    float alpha = 1.0f, beta = 0.0f;
};

static Desc conv_op(Keep &k, Desc x, Desc w, Desc y, const ConvParams &cp)
{
    Desc cd = k.make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    int64_t two = 2;
    set(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    set(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &cp.mode);
    set(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &two);
    set(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, cp.dil);
    set(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, cp.stride);
    set(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, cp.pre);
    set(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, cp.post);
    OK(cudnnBackendFinalize(cd));
    Desc op = k.make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
    set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
        &cd);
    set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &cp.alpha);
    set(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &cp.beta);
    return op; /* not finalized: some checks expect it to fail */
}

static Desc pw_op(Keep &k, cudnnPointwiseMode_t mode, Desc x, Desc b, Desc y)
{
    Desc pw = k.make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    OK(cudnnBackendFinalize(pw));
    Desc op = k.make(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    set(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    set(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (b)
        set(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &b);
    set(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    return op;
}

static Desc graph(Keep &k, cudnnHandle_t h, const std::vector<Desc> &ops)
{
    Desc g = k.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    set(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, (int64_t)ops.size(),
        ops.data());
    set(g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    return g;
}

/* The heuristics' engine configs for a finalized graph in one mode. */
static std::vector<Desc> configs(Keep &k, Desc g, cudnnBackendHeurMode_t mode)
{
    Desc heur = k.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    set(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
    set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    OK(cudnnBackendFinalize(heur));
    int64_t n = -1;
    OK(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                0, &n, nullptr));
    std::vector<Desc> cfgs;
    for (int64_t i = 0; i < n; i++)
        cfgs.push_back(k.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    int64_t got = -1;
    if (n > 0)
        OK(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, n, &got, cfgs.data()));
    CHECK(n <= 0 || got == n, "heuristics: %lld configs counted, %lld returned", (long long)n,
          (long long)got);
    return cfgs;
}

/* The engine global index and numerical notes of an engine config. */
static int64_t engine_of(Desc cfg, std::vector<cudnnBackendNumericalNote_t> *notes = nullptr)
{
    Desc e = nullptr;
    OK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &e));
    int64_t n = 0, index = -1;
    OK(cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                &n, &e));
    OK(cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                                &index));
    if (notes) {
        cudnnBackendNumericalNote_t buf[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
        OK(cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                    CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, buf));
        notes->assign(buf, buf + n);
    }
    cudnnBackendDestroyDescriptor(e);
    return index;
}

static bool has_note(const std::vector<cudnnBackendNumericalNote_t> &v,
                     cudnnBackendNumericalNote_t n)
{
    for (auto x : v)
        if (x == n)
            return true;
    return false;
}

/* A plan from an engine config, or NULL (with the status in *st) when it does not finalize. */
static Desc plan_of(Keep &k, Desc cfg, int64_t *ws, cudnnStatus_t *st = nullptr)
{
    Desc p = k.make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    set(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg);
    cudnnStatus_t s = cudnnBackendFinalize(p);
    if (st)
        *st = s;
    if (s != CUDNN_STATUS_SUCCESS)
        return nullptr;
    int64_t n = 0;
    OK(cudnnBackendGetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                &n, ws));
    return p;
}

/* The plan of the first config (in mode A) whose engine has the global index `engine`. */
static Desc plan_with(Keep &k, Desc g, int64_t engine, int64_t *ws)
{
    for (cudnnBackendHeurMode_t m : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_B})
        for (Desc c : configs(k, g, m))
            if (engine_of(c) == engine)
                return plan_of(k, c, ws);
    return nullptr;
}

static Desc pack(Keep &k, const Dims &uids, const std::vector<void *> &ptrs, void *ws)
{
    Desc p = k.make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    set(p, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, (int64_t)uids.size(), uids.data());
    set(p, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, (int64_t)ptrs.size(),
        ptrs.data());
    set(p, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws);
    OK(cudnnBackendFinalize(p));
    return p;
}

/* ------------------------------------------------------------------ naive reference */

/* y (n, k, p, q) by cuDNN's definition, in double, from logical (n,c,h,w) / (k,c,r,s) values
 * read through the given strides; returns the values in logical NCHW order and, per output,
 * the sum of |x * w| (the scale of its rounding error). */
static std::vector<double> naive_conv(const std::vector<float> &x, const Dims &xd, const Dims &xs,
                                      const std::vector<float> &w, const Dims &wd, const Dims &ws,
                                      const Dims &yd, const ConvParams &cp,
                                      std::vector<double> *mag)
{
    std::vector<double> y((size_t)(yd[0] * yd[1] * yd[2] * yd[3]));
    mag->assign(y.size(), 0.0);
    for (int64_t n = 0; n < yd[0]; n++)
        for (int64_t k = 0; k < yd[1]; k++)
            for (int64_t p = 0; p < yd[2]; p++)
                for (int64_t q = 0; q < yd[3]; q++) {
                    double acc = 0.0, m = 0.0;
                    for (int64_t c = 0; c < xd[1]; c++)
                        for (int64_t r = 0; r < wd[2]; r++)
                            for (int64_t s = 0; s < wd[3]; s++) {
                                const int64_t h = p * cp.stride[0] - cp.pre[0] + r * cp.dil[0];
                                const int64_t ww = q * cp.stride[1] - cp.pre[1] + s * cp.dil[1];
                                if (h < 0 || h >= xd[2] || ww < 0 || ww >= xd[3])
                                    continue;
                                const int64_t rr = cp.mode == CUDNN_CONVOLUTION ? wd[2] - 1 - r : r;
                                const int64_t ss = cp.mode == CUDNN_CONVOLUTION ? wd[3] - 1 - s : s;
                                const double a =
                                    x[(size_t)(n * xs[0] + c * xs[1] + h * xs[2] + ww * xs[3])];
                                const double b =
                                    w[(size_t)(k * ws[0] + c * ws[1] + rr * ws[2] + ss * ws[3])];
                                acc += a * b;
                                m += std::fabs(a * b);
                            }
                    const size_t i = (size_t)(((n * yd[1] + k) * yd[2] + p) * yd[3] + q);
                    y[i] = acc;
                    (*mag)[i] = m;
                }
    return y;
}

/* |got - want| within the output type's rounding plus float summation error. */
static bool close(double got, double want, double mag, cudnnDataType_t dt)
{
    return std::fabs(got - want) <= ulp(dt) * std::fabs(want) + 1e-6 * mag + 1e-30;
}

/* ----------------------------------------------------------- 1. convolutions */

struct ConvCase {
    const char *name;
    cudnnDataType_t dt;
    Dims xd, wd; /* (n, c, h, w), (k, c, r, s) */
    bool x_nchw;
    ConvParams cp;
    int64_t engine; /* -1: the first config of mode A that finalizes */
    bool bias_relu;
    bool exact; /* small integers: every sum exact, so y must be the sum rounded to nearest
                   even into the data type, bit for bit */
};

static void run_conv_case(cudnnHandle_t h, const ConvCase &cc)
{
    Keep k;
    const Dims xd = cc.xd, wd = cc.wd;
    Dims yd = {xd[0], wd[0], 0, 0};
    for (int i = 0; i < 2; i++)
        yd[2 + i] =
            (xd[2 + i] + cc.cp.pre[i] + cc.cp.post[i] - ((wd[2 + i] - 1) * cc.cp.dil[i] + 1)) /
                cc.cp.stride[i] +
            1;
    const Dims xs = cc.x_nchw ? nchw(xd) : nhwc(xd), ws = nhwc(wd), ys = nhwc(yd);
    const Dims bd = {1, wd[0], 1, 1};
    Desc x = tensor(k, 1, cc.dt, xd, xs), w = tensor(k, 2, cc.dt, wd, ws),
         y = tensor(k, 4, cc.dt, yd, ys);
    std::vector<Desc> ops;
    Desc b = nullptr;
    if (cc.bias_relu) {
        Desc v1 = tensor(k, 5, CUDNN_DATA_FLOAT, yd, ys, true),
             v2 = tensor(k, 6, CUDNN_DATA_FLOAT, yd, ys, true);
        b = tensor(k, 3, cc.dt, bd, nhwc(bd));
        ops = {conv_op(k, x, w, v1, cc.cp), pw_op(k, CUDNN_POINTWISE_ADD, v1, b, v2),
               pw_op(k, CUDNN_POINTWISE_RELU_FWD, v2, nullptr, y)};
    } else {
        ops = {conv_op(k, x, w, y, cc.cp)};
    }
    for (Desc o : ops)
        OK(cudnnBackendFinalize(o));
    Desc g = graph(k, h, ops);
    OK(cudnnBackendFinalize(g));
    int64_t wsb = 0;
    Desc plan = nullptr;
    if (cc.engine >= 0) {
        plan = plan_with(k, g, cc.engine, &wsb);
    } else {
        for (Desc c : configs(k, g, CUDNN_HEUR_MODE_A))
            if ((plan = plan_of(k, c, &wsb)))
                break;
    }
    CHECK(plan, "%s: no plan", cc.name);
    if (!plan)
        return;

    const size_t nx = (size_t)(xd[0] * xd[1] * xd[2] * xd[3]),
                 nw = (size_t)(wd[0] * wd[1] * wd[2] * wd[3]),
                 ny = (size_t)(yd[0] * yd[1] * yd[2] * yd[3]);
    std::vector<float> xv = random_values(nx, cc.dt), wv = random_values(nw, cc.dt),
                       bv = random_values((size_t)wd[0], cc.dt), yold = random_values(ny, cc.dt);
    if (cc.exact)
        for (std::vector<float> *v : {&xv, &wv, &bv, &yold})
            for (float &e : *v) /* 0..8: sums of hundreds of terms need rounding in 16 bits */
                e = std::round((e + 1.0f) * 4.0f);
    DevBuf dx(nx * esize(cc.dt)), dw(nw * esize(cc.dt)), db((size_t)wd[0] * esize(cc.dt)),
        dy(ny * esize(cc.dt)), dws((size_t)(wsb ? wsb : 1));
    dx.put(pack_as(xv, cc.dt));
    dw.put(pack_as(wv, cc.dt));
    db.put(pack_as(bv, cc.dt));
    dy.put(pack_as(yold, cc.dt)); /* y_old in memory, NHWC */
    Dims uids = {1, 2, 4};
    std::vector<void *> ptrs = {dx.p, dw.p, dy.p};
    if (cc.bias_relu) {
        uids.push_back(3);
        ptrs.push_back(db.p);
    }
    Desc vp = pack(k, uids, ptrs, dws.p);
    OK(cudnnBackendExecute(h, plan, vp));
    const std::vector<float> got = unpack(dy.get(), cc.dt);

    std::vector<double> mag;
    const std::vector<double> ref = naive_conv(xv, xd, xs, wv, wd, ws, yd, cc.cp, &mag);
    int bad = 0;
    for (int64_t n = 0; n < yd[0]; n++)
        for (int64_t kk = 0; kk < yd[1]; kk++)
            for (int64_t p = 0; p < yd[2]; p++)
                for (int64_t q = 0; q < yd[3]; q++) {
                    const size_t li = (size_t)(((n * yd[1] + kk) * yd[2] + p) * yd[3] + q);
                    const size_t mi = (size_t)(n * ys[0] + kk * ys[1] + p * ys[2] + q * ys[3]);
                    double want = cc.cp.alpha * ref[li] + cc.cp.beta * (double)yold[mi];
                    double m = std::fabs(cc.cp.alpha) * mag[li] + std::fabs(cc.cp.beta * yold[mi]);
                    if (cc.bias_relu) {
                        want = std::max(0.0, want + bv[(size_t)kk]);
                        m += std::fabs(bv[(size_t)kk]);
                    }
                    const bool ok = cc.exact ? got[mi] == rounded((float)want, cc.dt)
                                             : close(got[mi], want, m, cc.dt);
                    if (!ok && bad++ < 3)
                        CHECK(false, "%s: y[%lld,%lld,%lld,%lld] = %.8g, want %.8g", cc.name,
                              (long long)n, (long long)kk, (long long)p, (long long)q, got[mi],
                              want);
                }
    CHECK(bad == 0, "%s: %d of %zu outputs wrong", cc.name, bad, ny);
}

static void test_convolutions(cudnnHandle_t h)
{
    const cudnnDataType_t F = CUDNN_DATA_FLOAT, H = CUDNN_DATA_HALF, B = CUDNN_DATA_BFLOAT16;
    ConvParams plain;
    ConvParams odd;
    odd.pre[0] = 2, odd.pre[1] = 0, odd.post[0] = 0, odd.post[1] = 1;
    odd.stride[0] = 2, odd.stride[1] = 1, odd.dil[0] = 1, odd.dil[1] = 2;
    odd.mode = CUDNN_CONVOLUTION;
    odd.alpha = 0.5f, odd.beta = -0.75f;
    /* name, type, x dims, w dims, x in NCHW, params, engine (-1: mode A's first), bias+ReLU,
     * exact */
    // clang-format off
    const ConvCase cases[] = {
        {"float NHWC pad 1", F, {2, 5, 7, 6}, {4, 5, 3, 3}, false, plain, -1, false, false},
        {"bf16 NHWC pad 1", B, {2, 8, 6, 5}, {16, 8, 3, 3}, false, plain, -1, false, false},
        {"half NHWC pad 1", H, {1, 16, 5, 7}, {8, 16, 3, 3}, false, plain, -1, false, false},
        {"float NCHW input", F, {2, 3, 6, 6}, {4, 3, 3, 3}, true, plain, 0, false, false},
        {"float strides, dilations, uneven pads, CONVOLUTION, alpha, beta", F, {2, 3, 9, 8},
         {5, 3, 3, 2}, true, odd, 0, false, false},
        {"float fused bias+ReLU (eng7)", F, {2, 6, 5, 5}, {7, 6, 3, 3}, false, plain, 7, true,
         false},
        {"half fused bias+ReLU (eng4)", H, {2, 8, 5, 6}, {16, 8, 3, 3}, false, plain, 4, true,
         false},
        {"bf16 fused bias+ReLU (mode A)", B, {1, 8, 4, 4}, {8, 8, 3, 3}, false, plain, -1, true,
         false},
        {"bf16 exact: rounded to nearest even", B, {2, 16, 5, 5}, {8, 16, 3, 3}, false, plain, -1,
         false, true},
        {"half exact: rounded to nearest even", H, {2, 32, 5, 5}, {8, 32, 3, 3}, false, plain, -1,
         false, true},
        {"half exact fused bias+ReLU: rounded once", H, {1, 32, 4, 4}, {8, 32, 3, 3}, false,
         plain, -1, true, true},
        {"float exact, alpha and beta", F, {1, 3, 9, 8}, {5, 3, 3, 2}, true, odd, 0, false, true},
    };
    // clang-format on
    for (const ConvCase &c : cases)
        run_conv_case(h, c);
    /* every engine of a plain graph gives the same results */
    for (int64_t e : {0, 1, 2, 3, 4, 5, 7}) {
        ConvCase c = {
            "engine", CUDNN_DATA_FLOAT, {2, 8, 5, 5}, {8, 8, 3, 3}, false, plain, e, false, false};
        char name[32];
        snprintf(name, sizeof name, "float eng%lld", (long long)e);
        c.name = name;
        run_conv_case(h, c);
    }
    ConvCase c6 = {"half eng6", CUDNN_DATA_HALF, {1, 8, 4, 4}, {8, 8, 3, 3}, false, plain,
                   6,           false,           false};
    run_conv_case(h, c6);
}

/* ------------------------------------------------------------------ 2. strictness */

static void test_strictness(cudnnHandle_t h)
{
    Keep k;
    const Dims xd = {1, 4, 5, 5}, wd = {4, 4, 3, 3}, yd = {1, 4, 5, 5};
    ConvParams cp;

    /* setting after finalize, getting before, wrong types and counts */
    Desc t = tensor(k, 1, CUDNN_DATA_FLOAT, xd, nhwc(xd), false, 16, false);
    int64_t n = 0, v = 0;
    CHECK(cudnnBackendGetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &n, &v) ==
              CUDNN_STATUS_NOT_INITIALIZED,
          "get before finalize");
    float f = 1.0f;
    CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_FLOAT, 1, &f) ==
              CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE,
          "a FLOAT unique id");
    CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 2, &v) ==
              CUDNN_STATUS_BAD_PARAM,
          "two unique ids");
    CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                                   &v) == CUDNN_STATUS_BAD_PARAM,
          "a convolution attribute on a tensor");
    CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, nullptr) ==
              CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
          "NULL values");
    int32_t bad_dt = 1000;
    CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                                   &bad_dt) == CUDNN_STATUS_BAD_PARAM,
          "data type 1000");
    OK(cudnnBackendFinalize(t));
    int64_t uid = 9;
    CHECK(cudnnBackendSetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid) ==
              CUDNN_STATUS_NOT_INITIALIZED,
          "set after finalize");
    std::string m = last_error();
    CHECK(m.find("cudnnBackendSetAttribute(TENSOR, CUDNN_ATTR_TENSOR_UNIQUE_ID)") == 0,
          "message names call, type and attribute: \"%s\"", m.c_str());
    CHECK(last_error().empty(), "the last error is cleared once read");
    CHECK(cudnnBackendGetAttribute(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &n, &v) ==
                  CUDNN_STATUS_SUCCESS &&
              n == 1 && v == 1,
          "get after finalize: n %lld, uid %lld", (long long)n, (long long)v);
    Desc nf = tensor(k, 1, CUDNN_DATA_FLOAT, {1, 4, 5, 5, 1}, {100, 1, 20, 4, 1}, false, 16, false);
    CHECK(cudnnBackendFinalize(nf) == CUDNN_STATUS_SUCCESS, "a 5-d tensor finalizes");
    Desc unfin = tensor(k, 2, CUDNN_DATA_FLOAT, wd, nhwc(wd), false, 16, false);
    Desc op0 = k.make(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    CHECK(cudnnBackendSetAttribute(op0, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                   &unfin) == CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
          "a descriptor value not finalized");
    Desc cd0 = k.make(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    CHECK(cudnnBackendSetAttribute(op0, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                   &cd0) == CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
          "a convolution descriptor as W");
    CHECK(cudnnBackendFinalize(op0) == CUDNN_STATUS_BAD_PARAM &&
              last_error().find("required attribute") != std::string::npos,
          "finalize without required attributes");
    Desc tmp = nullptr;
    OK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_TENSOR_DESCRIPTOR, &tmp));
    OK(cudnnBackendDestroyDescriptor(tmp));
    CHECK(cudnnBackendFinalize(tmp) == CUDNN_STATUS_BAD_PARAM, "a destroyed descriptor");
    CHECK(cudnnBackendDestroyDescriptor(tmp) == CUDNN_STATUS_BAD_PARAM, "destroyed twice");

    /* wrong y dims */
    Desc x = tensor(k, 1, CUDNN_DATA_FLOAT, xd, nhwc(xd)),
         w = tensor(k, 2, CUDNN_DATA_FLOAT, wd, nhwc(wd));
    const Dims ybad = {1, 4, 3, 3};
    Desc yb = tensor(k, 4, CUDNN_DATA_FLOAT, ybad, nhwc(ybad));
    Desc opb = conv_op(k, x, w, yb, cp);
    CHECK(cudnnBackendFinalize(opb) == CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH, "wrong y dims");
    m = last_error();
    CHECK(m.find("cudnnBackendFinalize(OPERATION_CONVOLUTION_FORWARD): y dims [1,4,3,3] do not "
                 "match the conv output [1,4,5,5]") == 0,
          "message: \"%s\"", m.c_str());

    /* graph checks: an unconsumed virtual tensor, one uid for two tensors */
    Desc y = tensor(k, 4, CUDNN_DATA_FLOAT, yd, nhwc(yd));
    Desc vy = tensor(k, 5, CUDNN_DATA_FLOAT, yd, nhwc(yd), true);
    Desc opv = conv_op(k, x, w, vy, cp);
    OK(cudnnBackendFinalize(opv));
    Desc gv = graph(k, h, {opv});
    CHECK(cudnnBackendFinalize(gv) == CUDNN_STATUS_BAD_PARAM &&
              last_error().find("never consumed") != std::string::npos,
          "a virtual output nobody consumes");
    Desc y2 = tensor(k, 1, CUDNN_DATA_FLOAT, yd, nchw(yd)); /* uid 1 again, other strides */
    Desc opd = conv_op(k, x, w, y2, cp);
    CHECK(cudnnBackendFinalize(opd) == CUDNN_STATUS_BAD_PARAM, "y is x");
    const Dims b3 = {1, 3, 1, 1};
    Desc b = tensor(k, 3, CUDNN_DATA_FLOAT, b3, nhwc(b3));
    Desc opp = pw_op(k, CUDNN_POINTWISE_ADD, vy, b, y);
    CHECK(cudnnBackendFinalize(opp) == CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
          "a bias of 3 channels on 4");

    /* a good plain graph, then bad variant packs */
    Desc op = conv_op(k, x, w, y, cp);
    OK(cudnnBackendFinalize(op));
    Desc g = graph(k, h, {op});
    OK(cudnnBackendFinalize(g));
    int64_t ws1 = 0, ws0 = 0;
    Desc plan1 = plan_with(k, g, 1, &ws1); /* 1 MiB of workspace */
    Desc plan0 = plan_with(k, g, 0, &ws0);
    CHECK(plan1 && ws1 == (1 << 20) && plan0 && ws0 == 0, "plans of eng1 and eng0");
    if (!plan1 || !plan0)
        return;
    const size_t nb = 100 * 4;
    DevBuf dx(nb), dw(144 * 4), dy(nb), dws((size_t)ws1 + 2048);
    dx.put(pack_as(random_values(100, CUDNN_DATA_FLOAT), CUDNN_DATA_FLOAT));
    dw.put(pack_as(random_values(144, CUDNN_DATA_FLOAT), CUDNN_DATA_FLOAT));
    Desc good = pack(k, {1, 2, 4}, {dx.p, dw.p, dy.p}, dws.p);
    OK(cudnnBackendExecute(h, plan1, good));
    Desc missing = pack(k, {1, 4}, {dx.p, dy.p}, dws.p);
    CHECK(cudnnBackendExecute(h, plan1, missing) == CUDNN_STATUS_BAD_PARAM &&
              last_error().find("binds no pointer to tensor uid 2") != std::string::npos,
          "a variant pack without the weights");
    Desc mis = pack(k, {1, 2, 4}, {(char *)dx.p + 4, dw.p, dy.p}, dws.p);
    CHECK(cudnnBackendExecute(h, plan1, mis) == CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER,
          "x 4 bytes off its 16-byte alignment");
    std::vector<float> host(100);
    Desc hostp = pack(k, {1, 2, 4}, {host.data(), dw.p, dy.p}, dws.p);
    printf("  (a line from the cudart mock about host memory is expected next)\n");
    CHECK(cudnnBackendExecute(h, plan1, hostp) == CUDNN_STATUS_BAD_PARAM, "x in host memory");
    DevBuf small(nb - 4);
    Desc shortp = pack(k, {1, 2, 4}, {dx.p, dw.p, small.p}, dws.p);
    printf("  (a line from the cudart mock about a short allocation is expected next)\n");
    CHECK(cudnnBackendExecute(h, plan1, shortp) == CUDNN_STATUS_BAD_PARAM, "y one element short");
    Desc nows = pack(k, {1, 2, 4}, {dx.p, dw.p, dy.p}, nullptr);
    CHECK(cudnnBackendExecute(h, plan1, nows) == CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
          "no workspace for eng1");
    OK(cudnnBackendExecute(h, plan0, nows)); /* eng0 needs none */
    Desc alias = pack(k, {1, 2, 4}, {dx.p, dw.p, dws.p}, dws.p);
    CHECK(cudnnBackendExecute(h, plan1, alias) == CUDNN_STATUS_BAD_PARAM &&
              last_error().find("workspace") != std::string::npos,
          "the workspace is y");
    Desc inplace = pack(k, {1, 2, 4}, {dx.p, dw.p, dx.p}, dws.p);
    CHECK(cudnnBackendExecute(h, plan0, inplace) == CUDNN_STATUS_BAD_PARAM, "y is x");
    Desc null_ptr = pack(k, {1, 2, 4}, {dx.p, nullptr, dy.p}, dws.p);
    CHECK(cudnnBackendExecute(h, plan0, null_ptr) == CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "w NULL");
    Desc unfin_pack = k.make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    CHECK(cudnnBackendExecute(h, plan0, unfin_pack) == CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
          "a variant pack not finalized");
    Desc dup = k.make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    const Dims dupids = {1, 1};
    void *dupp[2] = {dx.p, dx.p};
    set(dup, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 2, dupids.data());
    set(dup, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 2, dupp);
    CHECK(cudnnBackendFinalize(dup) == CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES, "uid 1 twice");

    /* a workspace that is an input's buffer (and long enough) */
    Desc wsx = pack(k, {1, 2, 4}, {(char *)dws.p + 1024, dw.p, dy.p}, dws.p);
    CHECK(cudnnBackendExecute(h, plan1, wsx) == CUDNN_STATUS_BAD_PARAM &&
              last_error().find("overlaps") != std::string::npos,
          "the workspace holds x");

    /* the engine's notes, and a count query with a NULL array */
    std::vector<Desc> a = configs(k, g, CUDNN_HEUR_MODE_A);
    CHECK(a.size() == 8, "mode A lists %zu float engines (8 expected)", a.size());
    std::vector<cudnnBackendNumericalNote_t> notes;
    CHECK(!a.empty() && engine_of(a[0], &notes) == 8 &&
              has_note(notes, CUDNN_NUMERICAL_NOTE_TENSOR_CORE) &&
              has_note(notes, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS),
          "mode A ranks eng8 (tensor cores, float inputs converted down) first");
    CHECK(a.size() > 1 && engine_of(a[1], &notes) == 1 && notes.size() == 1 &&
              has_note(notes, CUDNN_NUMERICAL_NOTE_TENSOR_CORE),
          "then eng1 (TF32 tensor cores: TENSOR_CORE alone)");
    Desc e = nullptr;
    OK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &e));
    if (!a.empty())
        OK(cudnnBackendGetAttribute(a[0], CUDNN_ATTR_ENGINECFG_ENGINE,
                                    CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &e));
    n = -1;
    OK(cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n, nullptr));
    CHECK(n == 2, "count query: %lld notes", (long long)n);
    cudnnBackendNumericalNote_t one;
    OK(cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE, 1,
                                &n, &one));
    CHECK(n == 2 && one == CUDNN_NUMERICAL_NOTE_TENSOR_CORE,
          "one of two notes requested: count %lld", (long long)n);
    CHECK(cudnnBackendGetAttribute(a.empty() ? e : a[0], CUDNN_ATTR_ENGINECFG_ENGINE,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n,
                                   &e) == CUDNN_STATUS_BAD_PARAM,
          "copying into a finalized engine descriptor");
    cudnnBackendDestroyDescriptor(e);

    /* nondeterministic eng3: right within rounding, possibly different bits per run */
    int64_t ws3 = 0;
    Desc plan3 = plan_with(k, g, 3, &ws3);
    CHECK(plan3 && ws3 > 0, "eng3 plan");
    if (plan3) {
        OK(cudnnBackendExecute(h, plan0, good));
        const std::vector<float> ref = unpack(dy.get(), CUDNN_DATA_FLOAT);
        for (int r = 0; r < 3; r++) {
            OK(cudnnBackendExecute(h, plan3, good));
            const std::vector<float> got = unpack(dy.get(), CUDNN_DATA_FLOAT);
            for (size_t i = 0; i < ref.size(); i++)
                if (std::fabs(got[i] - ref[i]) > 1e-5f * (1 + std::fabs(ref[i]))) {
                    CHECK(false, "eng3 run %d: y[%zu] = %g, eng0 %g", r, i, got[i], ref[i]);
                    break;
                }
        }
    }

    /* GC_EMU_CUDNN_TF32: eng1 (TF32 tensor cores) rounds float inputs to TF32, eng0 not */
    OK(cudnnBackendExecute(h, plan0, good));
    const std::vector<float> ref0 = unpack(dy.get(), CUDNN_DATA_FLOAT);
    setenv("GC_EMU_CUDNN_TF32", "1", 1);
    OK(cudnnBackendExecute(h, plan1, good));
    const std::vector<float> tf = unpack(dy.get(), CUDNN_DATA_FLOAT);
    OK(cudnnBackendExecute(h, plan0, good));
    const std::vector<float> again = unpack(dy.get(), CUDNN_DATA_FLOAT);
    unsetenv("GC_EMU_CUDNN_TF32");
    size_t differ = 0;
    for (size_t i = 0; i < ref0.size(); i++)
        differ += tf[i] != ref0[i];
    CHECK(differ > ref0.size() / 2 && again == ref0,
          "GC_EMU_CUDNN_TF32: %zu of %zu eng1 outputs differ from eng0's; eng0 %s", differ,
          ref0.size(), again == ref0 ? "unchanged" : "changed");
    OK(cudnnBackendExecute(h, plan1, good));
    CHECK(unpack(dy.get(), CUDNN_DATA_FLOAT) == ref0, "eng1 without GC_EMU_CUDNN_TF32 = eng0");

    /* eng8 (DOWN_CONVERT_INPUTS) rounds float x and w to fp16, always: its outputs are
     * those of eng0 on the rounded inputs */
    int64_t ws8 = 0;
    Desc plan8 = plan_with(k, g, 8, &ws8);
    CHECK(plan8 != nullptr, "eng8 plan");
    if (plan8) {
        OK(cudnnBackendExecute(h, plan8, good));
        const std::vector<float> half = unpack(dy.get(), CUDNN_DATA_FLOAT);
        size_t moved = 0;
        for (size_t i = 0; i < ref0.size(); i++)
            moved += half[i] != ref0[i];
        CHECK(moved > ref0.size() / 2, "eng8: %zu of %zu outputs differ from eng0's", moved,
              ref0.size());
    }
}

/* ------------------------------------------------------------ 3. environment knobs */

static void test_environment(cudnnHandle_t h)
{
    Keep k;
    const Dims xd = {1, 8, 4, 4}, wd = {8, 8, 3, 3}, yd = {1, 8, 4, 4}, bd = {1, 8, 1, 1};
    ConvParams cp;
    Desc x = tensor(k, 1, CUDNN_DATA_FLOAT, xd, nhwc(xd)),
         w = tensor(k, 2, CUDNN_DATA_FLOAT, wd, nhwc(wd)),
         y = tensor(k, 4, CUDNN_DATA_FLOAT, yd, nhwc(yd)),
         b = tensor(k, 3, CUDNN_DATA_FLOAT, bd, nhwc(bd)),
         v = tensor(k, 5, CUDNN_DATA_FLOAT, yd, nhwc(yd), true);
    Desc c = conv_op(k, x, w, v, cp), add = pw_op(k, CUDNN_POINTWISE_ADD, v, b, y);
    OK(cudnnBackendFinalize(c));
    OK(cudnnBackendFinalize(add));
    Desc g = graph(k, h, {c, add});
    OK(cudnnBackendFinalize(g));
    CHECK(configs(k, g, CUDNN_HEUR_MODE_A).size() == 2, "fused graph: two engines in mode A");

    setenv("GC_EMU_CUDNN_NO_FUSION", "1", 1);
    CHECK(configs(k, g, CUDNN_HEUR_MODE_A).empty() && configs(k, g, CUDNN_HEUR_MODE_B).empty(),
          "NO_FUSION: no configs in modes A and B");
    std::vector<Desc> fb = configs(k, g, CUDNN_HEUR_MODE_FALLBACK);
    int64_t ws = 0;
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    CHECK(fb.size() == 1 && !plan_of(k, fb[0], &ws, &st) &&
              st == CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN &&
              last_error().find("GC_EMU_CUDNN_NO_FUSION") != std::string::npos,
          "NO_FUSION: the fallback config does not finalize into a plan");
    unsetenv("GC_EMU_CUDNN_NO_FUSION");

    Desc y2 = tensor(k, 4, CUDNN_DATA_FLOAT, yd, nhwc(yd));
    Desc plain = conv_op(k, x, w, y2, cp);
    OK(cudnnBackendFinalize(plain));
    Desc gp = graph(k, h, {plain});
    OK(cudnnBackendFinalize(gp));
    setenv("GC_EMU_CUDNN_TC_ONLY", "1", 1);
    for (cudnnBackendHeurMode_t m :
         {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_B, CUDNN_HEUR_MODE_FALLBACK}) {
        std::vector<Desc> cs = configs(k, gp, m);
        CHECK(!cs.empty(), "TC_ONLY: configs in mode %d", (int)m);
        for (Desc cfg : cs) {
            std::vector<cudnnBackendNumericalNote_t> notes;
            const int64_t e = engine_of(cfg, &notes);
            CHECK(has_note(notes, CUDNN_NUMERICAL_NOTE_TENSOR_CORE),
                  "TC_ONLY: eng%lld without tensor cores", (long long)e);
        }
    }
    unsetenv("GC_EMU_CUDNN_TC_ONLY");
    CHECK(configs(k, gp, CUDNN_HEUR_MODE_B).size() == 8, "mode B: 8 float engines");
}

/* ------------------------------------------------------ 4. cuda/cudnn_conv.cu on the mock */

/* y (n, h, w, k) = conv3x3(x (n, h, w, c), wt (k, 3, 3, c)) [+ b] [ReLU], double sums. */
static std::vector<double> naive3x3(const std::vector<float> &x, const std::vector<float> &wt,
                                    const std::vector<float> &b, int64_t n, int64_t h, int64_t w,
                                    int64_t c, int64_t k, bool bias, bool relu,
                                    std::vector<double> *mag)
{
    std::vector<double> y((size_t)(n * h * w * k));
    mag->assign(y.size(), 0.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < h; p++)
            for (int64_t q = 0; q < w; q++)
                for (int64_t o = 0; o < k; o++) {
                    double acc = 0.0, m = 0.0;
                    for (int64_t r = 0; r < 3; r++)
                        for (int64_t s = 0; s < 3; s++) {
                            const int64_t hh = p + r - 1, ww = q + s - 1;
                            if (hh < 0 || hh >= h || ww < 0 || ww >= w)
                                continue;
                            for (int64_t ch = 0; ch < c; ch++) {
                                const double t =
                                    (double)x[(size_t)(((i * h + hh) * w + ww) * c + ch)] *
                                    wt[(size_t)(((o * 3 + r) * 3 + s) * c + ch)];
                                acc += t;
                                m += std::fabs(t);
                            }
                        }
                    if (bias) {
                        acc += b[(size_t)o];
                        m += std::fabs(b[(size_t)o]);
                    }
                    if (relu)
                        acc = std::max(acc, 0.0);
                    const size_t yi = (size_t)(((i * h + p) * w + q) * k + o);
                    y[yi] = acc;
                    (*mag)[yi] = m;
                }
    return y;
}

struct PlanCase {
    cudnnDataType_t dt;
    int64_t n, h, w, c, k;
    int bias, relu;
    gc_conv_numerics numerics;
    const char *env;  /* set for this case (NULL: none) */
    int expect_fused; /* -1: not checked */
    int engine;       /* the global index of the engine the plan must end up with */
    bool tune;        /* autotuned (forced to take another candidate) before binding */
};

static void run_plan_case(cudnnHandle_t h, const PlanCase &pc)
{
    char name[160];
    snprintf(name, sizeof name, "gc_conv_plan %s n%lld %lldx%lld %lld->%lld bias %d relu %d %s%s%s",
             pc.dt == CUDNN_DATA_FLOAT  ? "float"
             : pc.dt == CUDNN_DATA_HALF ? "half"
                                        : "bf16",
             (long long)pc.n, (long long)pc.h, (long long)pc.w, (long long)pc.c, (long long)pc.k,
             pc.bias, pc.relu, pc.numerics == GC_CONV_TRUE_FP32 ? "fp32" : "fp32-accum",
             pc.env ? " " : "", pc.env ? pc.env : "");
    if (pc.env)
        setenv(pc.env, "1", 1);
    gc_conv_plan p;
    gc_errbuf err;
    err.msg[0] = 0;
    gc_status st = gc_conv_plan_build(h, pc.dt, pc.n, pc.h, pc.w, pc.c, pc.k, pc.bias, pc.relu,
                                      pc.numerics, &p, &err);
    if (pc.env)
        unsetenv(pc.env);
    CHECK(st == GC_OK, "%s: build: %s", name, err.msg);
    if (st != GC_OK) {
        gc_conv_plan_free(&p);
        return;
    }
    if (pc.expect_fused >= 0)
        CHECK(p.fused == pc.expect_fused, "%s: fused %d, expected %d", name, p.fused,
              pc.expect_fused);
    const size_t nx = (size_t)(pc.n * pc.h * pc.w * pc.c), nw = (size_t)(pc.k * 9 * pc.c),
                 ny = (size_t)(pc.n * pc.h * pc.w * pc.k);
    const std::vector<float> xv = random_values(nx, pc.dt), wv = random_values(nw, pc.dt),
                             bv = random_values((size_t)pc.k, pc.dt);
    DevBuf dx(nx * esize(pc.dt)), dw(nw * esize(pc.dt)), db((size_t)pc.k * esize(pc.dt)),
        dy(ny * esize(pc.dt));
    dx.put(pack_as(xv, pc.dt));
    dw.put(pack_as(wv, pc.dt));
    db.put(pack_as(bv, pc.dt));
    if (pc.tune) {
        gc_conv_tuner t;
        char line[512] = "";
        CHECK(gc_conv_tuner_init(&t, nullptr, 8, 64 << 20, &err) == GC_OK, "%s: tuner: %s", name,
              err.msg);
        t.pick_other = 1;
        st = gc_conv_plan_tune(h, &t, &p, pc.numerics, dx.p, dw.p, pc.bias ? db.p : nullptr, dy.p,
                               line, sizeof line, &err);
        CHECK(st == GC_OK, "%s: tune: %s", name, err.msg);
        printf("  %s: autotune: %s\n", name, line);
        gc_conv_tuner_free(&t);
    }
    DevBuf dws((size_t)(p.workspace > 0 ? p.workspace : 1)); /* the (tuned) plan's */
    char tag[128];
    gc_conv_plan_tag(&p, tag, sizeof tag);
    CHECK(atoi(tag + 3) == pc.engine && !strncmp(tag, "eng", 3), "%s: plan %s, expected eng%d",
          name, tag, pc.engine);
    st = gc_conv_plan_bind(&p, dx.p, dw.p, pc.bias ? db.p : nullptr, dy.p, dws.p, &err);
    CHECK(st == GC_OK, "%s: bind: %s", name, err.msg);
    if (st == GC_OK) {
        st = gc_conv_plan_run(h, &p, &err);
        CHECK(st == GC_OK, "%s: run: %s", name, err.msg);
    }
    if (st == GC_OK) {
        const std::vector<float> got = unpack(dy.get(), pc.dt);
        std::vector<double> mag;
        /* unfused: the caller adds the bias and applies the ReLU afterwards */
        const std::vector<double> ref = naive3x3(xv, wv, bv, pc.n, pc.h, pc.w, pc.c, pc.k,
                                                 pc.bias && p.fused, pc.relu && p.fused, &mag);
        int bad = 0;
        for (size_t i = 0; i < ny; i++)
            if (!close(got[i], ref[i], mag[i], pc.dt) && bad++ < 3)
                CHECK(false, "%s: y[%zu] = %.8g, want %.8g", name, i, got[i], ref[i]);
        CHECK(bad == 0, "%s: %d of %zu wrong", name, bad, ny);
    }
    gc_conv_plan_free(&p);
}

static void test_cudnn_conv(cudnnHandle_t h)
{
    const cudnnDataType_t F = CUDNN_DATA_FLOAT, H = CUDNN_DATA_HALF, B = CUDNN_DATA_BFLOAT16;
    const gc_conv_numerics T = GC_CONV_TRUE_FP32, A = GC_CONV_FP32_ACCUM;
    /* type, n, h, w, c, k, bias, relu, numerics, environment (set to 1), fused, engine, tuned. The
     * engines follow from the catalogue (mock_cudnn_engines.cpp): true fp32 refuses the
     * tensor-core ones (1, 4); eng4 needs channel counts in 16-byte vectors */
    const PlanCase cases[] = {
        {F, 2, 5, 6, 3, 8, 1, 1, T, nullptr, 0, 0, false}, /* true fp32: unfused by default */
        {F, 2, 5, 6, 3, 8, 1, 1, T, "GC_CUDNN_FUSE", 1, 7, false},
        {F, 2, 5, 6, 3, 8, 1, 1, A, nullptr, 1, 7, false},
        {F, 1, 7, 4, 16, 12, 1, 0, A, nullptr, 1, 4, false},
        {F, 1, 4, 4, 8, 8, 0, 0, T, nullptr, 0, 0, false},
        {F, 1, 4, 4, 8, 8, 0, 1, T, "GC_CUDNN_FUSE", 1, 7, false},
        {H, 2, 6, 5, 8, 16, 1, 1, A, nullptr, 1, 4, false},
        {B, 2, 6, 5, 8, 16, 1, 1, A, nullptr, 1, 4, false},
        {B, 1, 3, 3, 16, 8, 1, 0, T, "GC_CUDNN_FUSE", 1, 7, false},
        {F, 2, 5, 6, 8, 8, 1, 1, T, "GC_EMU_CUDNN_NO_FUSION", 0, 0, false},
        {H, 1, 4, 4, 8, 8, 1, 1, A, "GC_EMU_CUDNN_NO_FUSION", 0, 1, false},
        {F, 1, 4, 4, 8, 8, 1, 1, A, "GC_EMU_CUDNN_TC_ONLY", 1, 4, false},
        {F, 2, 5, 5, 8, 8, 1, 1, A, nullptr, 1, 7, true},
        {H, 1, 6, 6, 16, 8, 0, 0, T, nullptr, 0, 7, true},
    };
    for (const PlanCase &pc : cases)
        run_plan_case(h, pc);

    /* true fp32 with tensor-core engines only: a clean GC_ERR_UNSUPPORTED */
    setenv("GC_EMU_CUDNN_TC_ONLY", "1", 1);
    gc_conv_plan p;
    gc_errbuf err;
    err.msg[0] = 0;
    const gc_status st = gc_conv_plan_build(h, F, 1, 4, 4, 8, 8, 1, 1, T, &p, &err);
    unsetenv("GC_EMU_CUDNN_TC_ONLY");
    CHECK(st == GC_ERR_UNSUPPORTED, "TC_ONLY + true fp32: status %d (%s)", (int)st, err.msg);
    printf("  TC_ONLY + true fp32 says: %s\n", err.msg);
    gc_conv_plan_free(&p);
}

/* cudnnBackendExecute on a capturing stream: recorded, run at each graph launch. */
static void test_capture(cudnnHandle_t h)
{
    const Dims xd = {2, 8, 7, 6}, wd = {16, 8, 3, 3}, yd = {2, 16, 7, 6}, bd = {1, 16, 1, 1};
    const cudnnDataType_t dt = CUDNN_DATA_FLOAT;
    const size_t nx = 2 * 8 * 7 * 6, nw = 16 * 8 * 3 * 3, ny = 2 * 16 * 7 * 6;
    std::vector<float> xv = random_values(nx, dt), wv = random_values(nw, dt),
                       bv = random_values(16, dt);
    for (std::vector<float> *v : {&xv, &wv, &bv}) /* exact in any summation order */
        for (float &e : *v)
            e = std::round((e + 1.0f) * 4.0f);
    DevBuf dx(nx * 4), dw(nw * 4), db(16 * 4), dy1(ny * 4), dy2(ny * 4), dws((size_t)4 << 20);
    dx.put(pack_as(xv, dt));
    dw.put(pack_as(wv, dt));
    db.put(pack_as(bv, dt));
    cudaStream_t s = nullptr;
    CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "stream");
    OK(cudnnSetStream(h, s));
    cudaGraphExec_t exec = nullptr;
    for (int64_t engine : {2, 4}) { /* Winograd (3 MiB workspace), fused conv + bias + ReLU */
        exec = nullptr;
        {
            Keep k;
            const bool fused = engine == 4;
            Desc x = tensor(k, 1, dt, xd, nhwc(xd)), w = tensor(k, 2, dt, wd, nhwc(wd)),
                 y = tensor(k, 4, dt, yd, nhwc(yd));
            std::vector<Desc> ops;
            ConvParams cp;
            if (fused) {
                Desc v1 = tensor(k, 5, dt, yd, nhwc(yd), true),
                     v2 = tensor(k, 6, dt, yd, nhwc(yd), true), b = tensor(k, 3, dt, bd, nhwc(bd));
                ops = {conv_op(k, x, w, v1, cp), pw_op(k, CUDNN_POINTWISE_ADD, v1, b, v2),
                       pw_op(k, CUDNN_POINTWISE_RELU_FWD, v2, nullptr, y)};
            } else {
                ops = {conv_op(k, x, w, y, cp)};
            }
            for (Desc o : ops)
                OK(cudnnBackendFinalize(o));
            Desc g = graph(k, h, ops);
            OK(cudnnBackendFinalize(g));
            int64_t wsb = 0;
            Desc plan = plan_with(k, g, engine, &wsb);
            CHECK(plan && (size_t)wsb <= dws.n, "capture: no plan with eng%lld", (long long)engine);
            if (!plan)
                continue;
            Desc p1 = pack(k, fused ? Dims{1, 2, 4, 3} : Dims{1, 2, 4},
                           fused ? std::vector<void *>{dx.p, dw.p, dy1.p, db.p}
                                 : std::vector<void *>{dx.p, dw.p, dy1.p},
                           dws.p),
                 p2 = pack(k, fused ? Dims{1, 2, 4, 3} : Dims{1, 2, 4},
                           fused ? std::vector<void *>{dx.p, dw.p, dy2.p, db.p}
                                 : std::vector<void *>{dx.p, dw.p, dy2.p},
                           dws.p);
            OK(cudnnBackendExecute(h, plan, p1)); /* direct, on s */
            cudaMemset(dy2.p, 0xFF, dy2.n);
            cudaMemset(dws.p, 0, dws.n);
            CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess,
                  "begin capture");
            OK(cudnnBackendExecute(h, plan, p2));
            cudaGraph_t cg = nullptr;
            CHECK(cudaStreamEndCapture(s, &cg) == cudaSuccess && cg, "end capture");
            const std::vector<unsigned char> y_cap = dy2.get(), ws_cap = dws.get();
            bool untouched = true;
            for (unsigned char c : y_cap)
                untouched &= c == 0xFF;
            for (size_t i = 0; i < (size_t)wsb; i++)
                untouched &= ws_cap[i] == 0;
            CHECK(untouched, "eng%lld: a captured execute wrote at capture", (long long)engine);
            CHECK(cudaGraphInstantiate(&exec, cg, 0) == cudaSuccess, "instantiate");
            cudaGraphDestroy(cg);
            CHECK(cudaGraphLaunch(exec, s) == cudaSuccess, "launch");
            CHECK(cudaStreamSynchronize(s) == cudaSuccess, "synchronize");
            CHECK(dy1.get() == dy2.get(),
                  "eng%lld: the graph's output differs from the direct "
                  "execute's",
                  (long long)engine);
            bool nan_ws = true;
            const std::vector<unsigned char> ws_run = dws.get();
            for (size_t i = 0; i < (size_t)wsb; i++)
                nan_ws &= ws_run[i] == 0xFF;
            CHECK(nan_ws, "eng%lld: the workspace was not NaN-filled when the graph ran",
                  (long long)engine);

            /* into an invalidated capture: a failed launch */
            CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess,
                  "begin capture");
            CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported, "synchronize");
            CHECK(cudnnBackendExecute(h, plan, p2) == CUDNN_STATUS_EXECUTION_FAILED_CUDART,
                  "an execute into an invalidated capture: %s", last_error().c_str());
            CHECK(cudaStreamEndCapture(s, &cg) == cudaErrorStreamCaptureInvalidated && !cg,
                  "end of an invalidated capture");
            cudaGetLastError();
        } /* the descriptors are destroyed: the graph holds what it needs */
        if (!exec)
            continue;
        cudaMemsetAsync(dy2.p, 0xFF, dy2.n, s); /* ordered before the graph (the legacy
                                                   stream's would not be: s is non-blocking) */
        CHECK(cudaGraphLaunch(exec, s) == cudaSuccess, "launch after the descriptors' end");
        CHECK(cudaStreamSynchronize(s) == cudaSuccess, "synchronize");
        CHECK(dy1.get() == dy2.get(), "eng%lld: a launch after the descriptors were destroyed",
              (long long)engine);
        CHECK(cudaGraphExecDestroy(exec) == cudaSuccess, "exec destroy");
    }
    CHECK(gc_emu_live_graphs() == 0, "%zu graphs left", gc_emu_live_graphs());
    OK(cudnnSetStream(h, nullptr));
    cudaStreamDestroy(s);
}

/* Two threads, each with its own handle, build and run graphs at the same time (the mock's
 * global state: the registries and the last error, which is per thread). */
static void test_threads(void)
{
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; t++)
        ts.emplace_back([t] {
            cudnnHandle_t h = nullptr;
            OK(cudnnCreate(&h));
            ConvParams plain;
            ConvCase c = {t ? "thread 1" : "thread 0",
                          t ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT,
                          {2, 8, 6, 6},
                          {8, 8, 3, 3},
                          false,
                          plain,
                          -1,
                          true,
                          false};
            for (int r = 0; r < 20; r++)
                run_conv_case(h, c);
            OK(cudnnDestroy(h));
        });
    for (std::thread &t : ts)
        t.join();
}

int main()
{
    const auto t0 = std::chrono::steady_clock::now();
    cudnnHandle_t h = nullptr;
    OK(cudnnCreate(&h));
    if (!h) {
        printf("FAIL: cudnnCreate\n");
        return 1;
    }
    printf("convolutions through the backend API\n");
    test_convolutions(h);
    printf("strictness\n");
    test_strictness(h);
    printf("environment knobs\n");
    test_environment(h);
    printf("cuda/cudnn_conv.cu on the mock\n");
    test_cudnn_conv(h);
    printf("stream capture\n");
    test_capture(h);
    printf("two threads\n");
    test_threads();
    OK(cudnnDestroy(h));
    CHECK(gc_emu_live_allocations() == 0, "%zu device allocations leaked",
          gc_emu_live_allocations());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("%d of %d checks failed (%.2f s)\n", failures.load(), checks.load(), s);
    return failures ? 1 : 0;
}
