/*
 * mock_cudnn_execute.cpp — cudnnBackendExecute of the cuDNN mock: checks the variant pack as
 * a GPU would experience it, then interprets the operation graph on the CPU.
 *
 * Checks, before anything is computed (each a BAD_PARAM* status and a message):
 *   every non-virtual tensor of the graph has a unique id in the pack, bound to a non-NULL
 *   pointer aligned to the tensor's byte alignment, whose whole extent (through its strides)
 *   lies in one device or managed allocation of the current device (gc_emu_check_device_range
 *   of the cudart mock); the workspace is non-NULL, 16-byte aligned and device memory when the
 *   plan needs one; the workspace overlaps no bound tensor and no output overlaps another bound
 *   tensor (mock-only strictness: on a GPU that silently gives garbage); the handle's stream
 *   can take a launch (else the launch's error, EXECUTION_FAILED_CUDART).
 *
 * Then the run is issued on the handle's stream through gc_emu_submit (mock_cudart.h): now,
 * or, on a capturing stream, at every cudaGraphLaunch of the graph (a capture refusing it:
 * EXECUTION_FAILED_CUDART). The run holds references to the plan and the variant pack (and
 * through them the whole operation graph), so destroying the descriptors after the capture
 * is safe, as the kernels' parameters are in the graph on a GPU. When it runs it first checks
 * that every bound pointer and the workspace are still allocated (else a sticky
 * cudaErrorIllegalAddress, the fault on a GPU), then fills the workspace with 0xFF bytes
 * (NaN), so that reading it before writing it shows, at every run.
 *
 * Maths: operations in topological order on float values held in a packed channels-last
 * layout (read and written through each tensor's own strides, whatever the layout). The
 * convolution sums x * w over (filter row, filter column, channel) in that order, in float, for
 * each output element (eng3: over four channel slices whose partial sums are combined in an
 * order that rotates every run, as a nondeterministic split-K engine does), then
 * y = alpha * sum + beta * y_old. Pointwise operations broadcast dims of 1. A virtual tensor
 * keeps float values (rounded to its data type when that is HALF or BFLOAT16); a non-virtual
 * output is rounded once, to nearest even, into its data type. With GC_EMU_CUDNN_TF32=1 the
 * TF32 engines round float x and w to TF32 first; the DOWN_CONVERT_INPUTS engine (eng8)
 * always rounds them to fp16.
 */
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "mock_cudart.h"
#include "mock_cudnn_internal.h"

namespace gc_mock_cudnn
{

namespace
{

/* Below this many elements a loop runs on one thread: OpenMP's start-up (and its spinning
 * threads on a busy CI machine) would cost more than the work. */
[[maybe_unused]] const int64_t PARALLEL_MIN = 1 << 15;

/* A tensor's values: packed, channels last (dims N, C, D1.. stored as N, D1.., C). */
struct Value {
    std::vector<int64_t> dims;
    std::vector<float> v;
};

int64_t count_of(const std::vector<int64_t> &dims)
{
    int64_t n = 1;
    for (int64_t d : dims)
        n *= d;
    return n;
}

/* Dims from the fastest-varying to the slowest in the channels-last order: 1, R-1, .., 2, 0. */
std::vector<int> fast_to_slow(size_t rank)
{
    std::vector<int> o;
    if (rank == 1)
        return {0};
    o.push_back(1);
    for (int i = (int)rank - 1; i >= 2; i--)
        o.push_back(i);
    o.push_back(0);
    return o;
}

/* The memory offset (in elements) of each value of the canonical order. */
std::vector<int64_t> offsets(const std::vector<int64_t> &dims, const std::vector<int64_t> &strides)
{
    const int64_t n = count_of(dims);
    const std::vector<int> order = fast_to_slow(dims.size());
    std::vector<int64_t> off((size_t)n);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, o = 0;
        for (int j : order) {
            o += rem % dims[j] * strides[j];
            rem /= dims[j];
        }
        off[(size_t)i] = o;
    }
    return off;
}

float to_float(const void *base, int64_t off, cudnnDataType_t dt)
{
    switch (dt) {
    case CUDNN_DATA_HALF:
        return __half2float(((const __half *)base)[off]);
    case CUDNN_DATA_BFLOAT16:
        return __bfloat162float(((const __nv_bfloat16 *)base)[off]);
    default:
        return ((const float *)base)[off];
    }
}

void from_float(void *base, int64_t off, cudnnDataType_t dt, float v)
{
    switch (dt) {
    case CUDNN_DATA_HALF:
        ((__half *)base)[off] = __float2half_rn(v);
        break;
    case CUDNN_DATA_BFLOAT16:
        ((__nv_bfloat16 *)base)[off] = __float2bfloat16_rn(v);
        break;
    default:
        ((float *)base)[off] = v;
        break;
    }
}

/* v rounded to dt and back (virtual tensors of a 16-bit type). */
float round_to(float v, cudnnDataType_t dt)
{
    if (dt == CUDNN_DATA_HALF)
        return __half2float(__float2half_rn(v));
    if (dt == CUDNN_DATA_BFLOAT16)
        return __bfloat162float(__float2bfloat16_rn(v));
    return v;
}

/* TF32: the float rounded to a 10-bit mantissa, to nearest even (infinities and NaN kept). */
float tf32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) {
        u += 0xfffu + ((u >> 13) & 1u);
        u &= 0xffffe000u;
    }
    memcpy(&f, &u, 4);
    return f;
}

Value load(const Tensor &t, const void *p)
{
    Value x{t.dims, {}};
    const std::vector<int64_t> off = offsets(t.dims, t.strides);
    x.v.resize(off.size());
#pragma omp parallel for schedule(static) if (off.size() > PARALLEL_MIN)
    for (int64_t i = 0; i < (int64_t)off.size(); i++)
        x.v[(size_t)i] = to_float(p, off[(size_t)i], t.dt);
    return x;
}

void store(const Tensor &t, void *p, const Value &x)
{
    const std::vector<int64_t> off = offsets(t.dims, t.strides);
#pragma omp parallel for schedule(static) if (off.size() > PARALLEL_MIN)
    for (int64_t i = 0; i < (int64_t)off.size(); i++)
        from_float(p, off[(size_t)i], t.dt, x.v[(size_t)i]);
}

/* x's values laid out as dims `to` (dims of 1 in x repeat). */
std::vector<float> broadcast(const Value &x, const std::vector<int64_t> &to)
{
    if (x.dims == to)
        return x.v;
    const size_t rank = to.size();
    const std::vector<int> order = fast_to_slow(rank);
    std::vector<int64_t> cs(rank, 0); /* x's canonical strides, 0 where it broadcasts */
    int64_t s = 1;
    for (int j : order) {
        cs[(size_t)j] = x.dims[(size_t)j] == 1 ? 0 : s;
        s *= x.dims[(size_t)j];
    }
    const int64_t n = count_of(to);
    std::vector<float> out((size_t)n);
#pragma omp parallel for schedule(static) if (n > PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, o = 0;
        for (int j : order) {
            o += rem % to[(size_t)j] * cs[(size_t)j];
            rem /= to[(size_t)j];
        }
        out[(size_t)i] = x.v[(size_t)o];
    }
    return out;
}

/* The 2-D convolution, channels last: x (N, H, W, C), wt (R, S, C, K) (filter rows, columns,
 * input channels, output channels), y (N, P, Q, K). The K lanes are independent, so the loop
 * over them vectorizes while each output keeps its own summation order. */
struct ConvShape {
    int64_t n, h, w, c, k, r, s, p, q;
    int64_t pad_h, pad_w, str_h, str_w, dil_h, dil_w;
    bool flip; /* CUDNN_CONVOLUTION: the filter is applied rotated by 180 degrees */
};

void conv2d(const ConvShape &cs, const float *x, const float *wt, float *y, int slices, int rot)
{
    const int64_t per = (cs.c + slices - 1) / slices;
#pragma omp parallel if (cs.n * cs.p * cs.q * cs.k * cs.r * cs.s * cs.c > PARALLEL_MIN * 16)
    {
        std::vector<float> part((size_t)(slices * cs.k));
#pragma omp for collapse(2) schedule(static)
        for (int64_t n = 0; n < cs.n; n++)
            for (int64_t p = 0; p < cs.p; p++)
                for (int64_t q = 0; q < cs.q; q++) {
                    std::fill(part.begin(), part.end(), 0.0f);
                    for (int64_t r = 0; r < cs.r; r++) {
                        const int64_t ih = p * cs.str_h - cs.pad_h + r * cs.dil_h;
                        if (ih < 0 || ih >= cs.h)
                            continue;
                        const int64_t rr = cs.flip ? cs.r - 1 - r : r;
                        for (int64_t s = 0; s < cs.s; s++) {
                            const int64_t iw = q * cs.str_w - cs.pad_w + s * cs.dil_w;
                            if (iw < 0 || iw >= cs.w)
                                continue;
                            const int64_t ss = cs.flip ? cs.s - 1 - s : s;
                            const float *xp = x + ((n * cs.h + ih) * cs.w + iw) * cs.c;
                            const float *wp = wt + (rr * cs.s + ss) * cs.c * cs.k;
                            for (int sl = 0; sl < slices; sl++) {
                                float *acc = part.data() + sl * cs.k;
                                const int64_t c1 = std::min(cs.c, (sl + 1) * per);
                                for (int64_t c = sl * per; c < c1; c++) {
                                    const float xv = xp[c];
                                    const float *wk = wp + c * cs.k;
#pragma omp simd
                                    for (int64_t k = 0; k < cs.k; k++)
                                        acc[k] += xv * wk[k];
                                }
                            }
                        }
                    }
                    float *out = y + ((n * cs.p + p) * cs.q + q) * cs.k;
                    for (int64_t k = 0; k < cs.k; k++) {
                        float sum = part[(size_t)(rot % slices * cs.k + k)];
                        for (int j = 1; j < slices; j++)
                            sum += part[(size_t)((rot + j) % slices * cs.k + k)];
                        out[k] = sum;
                    }
                }
    }
}

std::atomic<unsigned> g_runs{0}; /* eng3's rotation */
std::atomic<size_t> g_conv_images{0}; /* images convolved, every run (gc_emu_cudnn_conv_images) */

Value run_conv(const Op &o, const Value &x, const Value &w, const Value *y_old, const EngineMath &m)
{
    const Tensor &yt = o.y->tensor;
    const ConvDesc &cd = o.conv->conv;
    ConvShape cs;
    cs.n = x.dims[0], cs.c = x.dims[1], cs.h = x.dims[2], cs.w = x.dims[3];
    cs.k = w.dims[0], cs.r = w.dims[2], cs.s = w.dims[3];
    cs.p = yt.dims[2], cs.q = yt.dims[3];
    cs.pad_h = cd.pre[0], cs.pad_w = cd.pre[1];
    cs.str_h = cd.stride[0], cs.str_w = cd.stride[1];
    cs.dil_h = cd.dil[0], cs.dil_w = cd.dil[1];
    cs.flip = cd.mode == CUDNN_CONVOLUTION;
    g_conv_images.fetch_add((size_t)cs.n);
    /* w's values come as (K, R, S, C); the kernel wants (R, S, C, K) */
    std::vector<float> wt(w.v.size());
    for (int64_t k = 0; k < cs.k; k++)
        for (int64_t rsc = 0; rsc < cs.r * cs.s * cs.c; rsc++)
            wt[(size_t)(rsc * cs.k + k)] = w.v[(size_t)(k * cs.r * cs.s * cs.c + rsc)];
    std::vector<float> xin;
    const float *xp = x.v.data();
    if (m.tf32_inputs || m.half_inputs) {
        xin = x.v;
        for (float &v : xin)
            v = m.half_inputs ? round_to(v, CUDNN_DATA_HALF) : tf32(v);
        for (float &v : wt)
            v = m.half_inputs ? round_to(v, CUDNN_DATA_HALF) : tf32(v);
        xp = xin.data();
    }
    const int slices = m.nondeterministic ? (int)std::min<int64_t>(4, cs.c) : 1;
    const int rot = m.nondeterministic ? (int)(g_runs.fetch_add(1) % (unsigned)slices) : 0;
    Value y{yt.dims, std::vector<float>((size_t)count_of(yt.dims))};
    conv2d(cs, xp, wt.data(), y.v.data(), slices, rot);
    const float alpha = (float)o.alpha, beta = (float)o.beta;
    if (alpha != 1.0f || (beta != 0.0f && y_old))
        for (size_t i = 0; i < y.v.size(); i++)
            y.v[i] = alpha * y.v[i] + (beta != 0.0f && y_old ? beta * y_old->v[i] : 0.0f);
    return y;
}

Value run_pointwise(const Op &o, const Value &x, const Value *b)
{
    const PwDesc &pw = o.pw->pw;
    const std::vector<int64_t> &dims = o.y->tensor.dims;
    const std::vector<float> xv = broadcast(x, dims);
    const std::vector<float> bv = b ? broadcast(*b, dims) : std::vector<float>();
    const float a1 = (float)o.alpha1, a2 = (float)o.alpha2;
    const float lo = (float)pw.relu_lower, hi = (float)pw.relu_upper, slope = (float)pw.relu_slope;
    Value y{dims, std::vector<float>(xv.size())};
#pragma omp parallel for schedule(static) if (xv.size() > PARALLEL_MIN)
    for (int64_t i = 0; i < (int64_t)xv.size(); i++) {
        const float u = a1 * xv[(size_t)i], v = b ? a2 * bv[(size_t)i] : 0.0f;
        float r;
        switch (pw.mode) {
        case CUDNN_POINTWISE_ADD:
            r = u + v;
            break;
        case CUDNN_POINTWISE_SUB:
            r = u - v;
            break;
        case CUDNN_POINTWISE_MUL:
            r = u * v;
            break;
        case CUDNN_POINTWISE_MAX:
            r = std::fmax(u, v);
            break;
        case CUDNN_POINTWISE_MIN:
            r = std::fmin(u, v);
            break;
        case CUDNN_POINTWISE_RELU_FWD:
            r = u >= lo ? (u <= hi ? u : hi) : lo + slope * (u - lo);
            break;
        default:
            r = u;
            break; /* IDENTITY (plan finalization allowed no other mode) */
        }
        y.v[(size_t)i] = r;
    }
    return y;
}

bool overlap(const char *a, int64_t na, const char *b, int64_t nb)
{
    return a < b + nb && b < a + na;
}

/* The run of a checked plan: the workspace NaN-filled, the graph interpreted. */
void run_plan(const Desc &plan_d, const std::map<int64_t, void *> &ptr, void *ws)
{
    const Plan &plan = plan_d.plan;
    const Engine &eng = plan.cfg->cfg.engine->engine;
    const Graph &g = eng.graph->graph;
    if (plan.workspace > 0)
        memset(ws, 0xff, (size_t)plan.workspace);

    /* the graph, operation by operation */
    const EngineMath m = engine_math(eng);
    std::map<int64_t, Value> val;
    auto value = [&](const DescPtr &td) -> const Value & {
        const Tensor &t = td->tensor;
        auto it = val.find(t.uid);
        if (it == val.end()) /* a graph input: read it from memory */
            it = val.emplace(t.uid, load(t, ptr.at(t.uid))).first;
        return it->second;
    };
    for (const DescPtr &od : g.ops) {
        const Op &o = od->op;
        const Tensor &yt = o.y->tensor;
        Value y;
        if (o.kind == OP_CONV_FWD) {
            Value old;
            const bool blend = o.beta != 0.0 && !yt.is_virtual;
            if (blend)
                old = load(yt, ptr.at(yt.uid));
            y = run_conv(o, value(o.x), value(o.w), blend ? &old : nullptr, m);
        } else {
            y = run_pointwise(o, value(o.x), o.b ? &value(o.b) : nullptr);
        }
        if (yt.is_virtual) {
            if (yt.dt != CUDNN_DATA_FLOAT)
                for (float &v : y.v)
                    v = round_to(v, yt.dt);
        } else {
            store(yt, ptr.at(yt.uid), y);
        }
        val[yt.uid] = std::move(y);
    }
}

} /* namespace */

cudnnStatus_t execute(cudnnContext &h, const DescPtr &plan_ref, const DescPtr &pack_ref)
{
    const Plan &plan = plan_ref->plan;
    const Engine &eng = plan.cfg->cfg.engine->engine;
    const Graph &g = eng.graph->graph;
    const Pack &pack = pack_ref->pack;

    /* bindings */
    std::map<int64_t, void *> ptr;
    std::map<int64_t, bool> is_output;
    for (const DescPtr &o : g.ops)
        is_output[o->op.y->tensor.uid] = true;
    for (const DescPtr &td : g.tensors) {
        const Tensor &t = td->tensor;
        if (t.is_virtual)
            continue;
        size_t i = 0;
        while (i < pack.uids.size() && pack.uids[i] != t.uid)
            i++;
        if (i == pack.uids.size())
            return fail(CUDNN_STATUS_BAD_PARAM,
                        "the variant pack binds no pointer to tensor uid %lld (dims %s)",
                        (long long)t.uid, dims_str(t.dims).c_str());
        void *p = pack.ptrs[i];
        if (!p)
            return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "tensor uid %lld is bound to NULL",
                        (long long)t.uid);
        if ((uintptr_t)p % (uintptr_t)t.align)
            return fail(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER,
                        "tensor uid %lld at %p is not aligned to its byte alignment %lld",
                        (long long)t.uid, p, (long long)t.align);
        char what[96];
        snprintf(what, sizeof what, "cudnnBackendExecute: tensor uid %lld", (long long)t.uid);
        if (gc_emu_check_device_range(p, (size_t)t.extent_bytes, what) != 0)
            return fail(CUDNN_STATUS_BAD_PARAM,
                        "tensor uid %lld at %p (%lld bytes through its strides) is not inside "
                        "one device allocation",
                        (long long)t.uid, p, (long long)t.extent_bytes);
        ptr[t.uid] = p;
    }
    void *ws = pack.workspace;
    if (plan.workspace > 0) {
        if (!ws)
            return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
                        "the plan (eng%lld) needs %lld bytes of workspace; the variant pack has "
                        "none",
                        (long long)eng.index, (long long)plan.workspace);
        if ((uintptr_t)ws % 16)
            return fail(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER,
                        "the workspace %p is not 16-byte aligned", ws);
        if (gc_emu_check_device_range(ws, (size_t)plan.workspace,
                                      "cudnnBackendExecute: workspace") != 0)
            return fail(CUDNN_STATUS_BAD_PARAM,
                        "the workspace %p (%lld bytes) is not inside one device allocation", ws,
                        (long long)plan.workspace);
    }
    for (const DescPtr &ad : g.tensors) {
        const Tensor &a = ad->tensor;
        if (a.is_virtual)
            continue;
        const char *pa = (const char *)ptr[a.uid];
        if (plan.workspace > 0 && overlap(pa, a.extent_bytes, (const char *)ws, plan.workspace))
            return fail(CUDNN_STATUS_BAD_PARAM, "the workspace %p overlaps tensor uid %lld at %p",
                        ws, (long long)a.uid, (const void *)pa);
        if (!is_output[a.uid])
            continue;
        for (const DescPtr &bd : g.tensors) {
            const Tensor &b = bd->tensor;
            if (b.is_virtual || b.uid == a.uid)
                continue;
            if (overlap(pa, a.extent_bytes, (const char *)ptr[b.uid], b.extent_bytes))
                return fail(CUDNN_STATUS_BAD_PARAM,
                            "output tensor uid %lld at %p overlaps tensor uid %lld at %p",
                            (long long)a.uid, (const void *)pa, (long long)b.uid, ptr[b.uid]);
        }
    }
    int e = gc_emu_launch_check(h.stream, "cudnnBackendExecute");
    if (e != 0)
        return fail(CUDNN_STATUS_EXECUTION_FAILED_CUDART, "the kernel launch fails: %s",
                    cudaGetErrorName((cudaError_t)e));

    /* the run: now, or at every launch of the graph that captures it. It holds the plan and
     * the pack (the operation graph through them) and checks its memory again when it runs */
    struct range {
        const void *p;
        size_t bytes;
    };
    std::vector<range> used;
    for (const DescPtr &td : g.tensors)
        if (!td->tensor.is_virtual)
            used.push_back(range{ptr[td->tensor.uid], (size_t)td->tensor.extent_bytes});
    if (plan.workspace > 0)
        used.push_back(range{ws, (size_t)plan.workspace});
    DescPtr plan_keep = plan_ref, pack_keep = pack_ref;
    e = gc_emu_submit(h.stream, "cudnnBackendExecute", [plan_keep, pack_keep, ptr, ws, used] {
        for (const range &r : used)
            if (gc_emu_work_check_range(r.p, r.bytes, "cudnnBackendExecute (running)") != 0)
                return;
        run_plan(*plan_keep, ptr, ws);
    });
    if (e != 0)
        return fail(CUDNN_STATUS_EXECUTION_FAILED_CUDART, "the launch is refused: %s",
                    cudaGetErrorName((cudaError_t)e));
    return CUDNN_STATUS_SUCCESS;
}

} /* namespace gc_mock_cudnn */

/* mock_cudart.h: images convolved by every convolution run so far */
extern "C" size_t gc_emu_cudnn_conv_images(void)
{
    return gc_mock_cudnn::g_conv_images.load();
}
