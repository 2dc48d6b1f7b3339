/*
 * mock_cudnn_finalize.cpp — cudnnBackendFinalize of the cuDNN mock for the descriptors that
 * describe a graph (tensor, convolution, pointwise, the operations, the operation graph) and
 * for the variant pack: the checks cuDNN makes of their consistency, each a BAD_PARAM* status
 * with a message: missing or inconsistent values, conv output dims that differ from
 * (in + pre + post - ((filter - 1) * dilation + 1)) / stride + 1, pointwise shapes that do not
 * broadcast to the output, one unique id for two different tensors, an operation given twice,
 * a tensor produced twice, a virtual tensor that no operation produces or consumes, a cycle.
 * What no engine runs (data types, layouts, ...) is not an error here: plans refuse it
 * (mock_cudnn_engines.cpp). Engines, configs, heuristics and plans finalize there too.
 */
#include <atomic>
#include <cstring>
#include <set>

#include "mock_cudnn_internal.h"

namespace gc_mock_cudnn
{

static std::atomic<size_t> g_plan_finalizes{0};

int64_t elem_bytes(cudnnDataType_t dt)
{
    switch (dt) {
    case CUDNN_DATA_DOUBLE:
    case CUDNN_DATA_INT64:
    case CUDNN_DATA_COMPLEX_FP32:
        return 8;
    case CUDNN_DATA_COMPLEX_FP64:
        return 16;
    case CUDNN_DATA_HALF:
    case CUDNN_DATA_BFLOAT16:
        return 2;
    case CUDNN_DATA_INT8:
    case CUDNN_DATA_UINT8:
    case CUDNN_DATA_BOOLEAN:
    case CUDNN_DATA_FP8_E4M3:
    case CUDNN_DATA_FP8_E5M2:
    case CUDNN_DATA_FP8_E8M0:
    case CUDNN_DATA_INT4:
    case CUDNN_DATA_UINT4:
    case CUDNN_DATA_FP4_E2M1:
        return 1;
    default:
        return 4;
    }
}

const char *dtype_name(cudnnDataType_t dt)
{
    switch (dt) {
    case CUDNN_DATA_FLOAT:
        return "FLOAT";
    case CUDNN_DATA_HALF:
        return "HALF";
    case CUDNN_DATA_BFLOAT16:
        return "BFLOAT16";
    case CUDNN_DATA_DOUBLE:
        return "DOUBLE";
    default:
        return "(a data type not emulated)";
    }
}

std::vector<DescPtr> Op::inputs() const
{
    std::vector<DescPtr> v;
    for (const DescPtr &t : {x, w, b})
        if (t)
            v.push_back(t);
    return v;
}

/* ---------------------------------------------------------------- simple descriptors */

static cudnnStatus_t finalize_tensor(Desc &d)
{
    Tensor &t = d.tensor;
    t.dt = (cudnnDataType_t)attr_enum(*find_attr(d, CUDNN_ATTR_TENSOR_DATA_TYPE));
    t.dims = attr_i64s(*find_attr(d, CUDNN_ATTR_TENSOR_DIMENSIONS));
    t.strides = attr_i64s(*find_attr(d, CUDNN_ATTR_TENSOR_STRIDES));
    t.uid = attr_i64(*find_attr(d, CUDNN_ATTR_TENSOR_UNIQUE_ID));
    t.align = attr_i64(*find_attr(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT));
    const Attr *v = find_attr(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL);
    t.is_virtual = v && attr_bool(*v);
    if (t.dims.size() != t.strides.size())
        return fail(CUDNN_STATUS_BAD_PARAM, "uid %lld: %zu dimensions but %zu strides",
                    (long long)t.uid, t.dims.size(), t.strides.size());
    for (size_t i = 0; i < t.dims.size(); i++)
        if (t.dims[i] <= 0 || t.strides[i] <= 0)
            return fail(CUDNN_STATUS_BAD_PARAM, "uid %lld: dims %s and strides %s must be positive",
                        (long long)t.uid, dims_str(t.dims).c_str(), dims_str(t.strides).c_str());
    if (t.align <= 0 || (t.align & (t.align - 1)))
        return fail(CUDNN_STATUS_BAD_PARAM, "uid %lld: byte alignment %lld is not a power of 2",
                    (long long)t.uid, (long long)t.align);
    const Attr *vc = find_attr(d, CUDNN_ATTR_TENSOR_VECTOR_COUNT);
    const Attr *bv = find_attr(d, CUDNN_ATTR_TENSOR_IS_BY_VALUE);
    const Attr *ro = find_attr(d, CUDNN_ATTR_TENSOR_REORDERING_MODE);
    if ((vc && attr_i64(*vc) != 1) || (bv && attr_bool(*bv)) ||
        (ro && attr_enum(*ro) != CUDNN_TENSOR_REORDERING_NONE))
        return fail(CUDNN_STATUS_NOT_SUPPORTED,
                    "uid %lld: vectorized, by-value or reordered tensors are not emulated",
                    (long long)t.uid);
    t.elem_bytes = elem_bytes(t.dt);
    int64_t last = 0;
    for (size_t i = 0; i < t.dims.size(); i++)
        last += (t.dims[i] - 1) * t.strides[i];
    t.extent_bytes = (last + 1) * t.elem_bytes;
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_conv_desc(Desc &d)
{
    ConvDesc &c = d.conv;
    c.comp = (cudnnDataType_t)attr_enum(*find_attr(d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE));
    c.mode = (cudnnConvolutionMode_t)attr_enum(*find_attr(d, CUDNN_ATTR_CONVOLUTION_CONV_MODE));
    c.nsp = attr_i64(*find_attr(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS));
    c.dil = attr_i64s(*find_attr(d, CUDNN_ATTR_CONVOLUTION_DILATIONS));
    c.stride = attr_i64s(*find_attr(d, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES));
    c.pre = attr_i64s(*find_attr(d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS));
    c.post = attr_i64s(*find_attr(d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS));
    if (c.nsp < 1 || c.nsp > CUDNN_DIM_MAX - 2)
        return fail(CUDNN_STATUS_BAD_PARAM, "%lld spatial dims", (long long)c.nsp);
    const std::pair<const char *, const std::vector<int64_t> *> arrays[] = {
        {"dilations", &c.dil},
        {"filter strides", &c.stride},
        {"pre-paddings", &c.pre},
        {"post-paddings", &c.post}};
    for (const auto &a : arrays) {
        if ((int64_t)a.second->size() != c.nsp)
            return fail(CUDNN_STATUS_BAD_PARAM, "%zu %s for %lld spatial dims", a.second->size(),
                        a.first, (long long)c.nsp);
        for (int64_t v : *a.second)
            if (v < (a.second == &c.pre || a.second == &c.post ? 0 : 1))
                return fail(CUDNN_STATUS_BAD_PARAM, "%s %s out of range", a.first,
                            dims_str(*a.second).c_str());
    }
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_pw_desc(Desc &d)
{
    PwDesc &p = d.pw;
    p.mode = (cudnnPointwiseMode_t)attr_enum(*find_attr(d, CUDNN_ATTR_POINTWISE_MODE));
    p.prec = (cudnnDataType_t)attr_enum(*find_attr(d, CUDNN_ATTR_POINTWISE_MATH_PREC));
    if (const Attr *a = find_attr(d, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP))
        p.relu_lower = attr_real(*a);
    if (const Attr *a = find_attr(d, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP))
        p.relu_upper = attr_real(*a);
    if (const Attr *a = find_attr(d, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE))
        p.relu_slope = attr_real(*a);
    if (p.relu_lower > p.relu_upper)
        return fail(CUDNN_STATUS_BAD_PARAM, "ReLU lower clip %g above the upper clip %g",
                    p.relu_lower, p.relu_upper);
    return CUDNN_STATUS_SUCCESS;
}

/* ------------------------------------------------------------------------ operations */

static cudnnStatus_t finalize_conv_op(Desc &d)
{
    Op &o = d.op;
    o.kind = OP_CONV_FWD;
    o.x = desc_attr(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X);
    o.w = desc_attr(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W);
    o.y = desc_attr(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y);
    o.conv = desc_attr(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC);
    o.alpha = attr_real(*find_attr(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA));
    o.beta = attr_real(*find_attr(d, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA));
    const Tensor &x = o.x->tensor, &w = o.w->tensor, &y = o.y->tensor;
    const ConvDesc &c = o.conv->conv;
    const size_t rank = (size_t)c.nsp + 2;
    if (x.dims.size() != rank || w.dims.size() != rank || y.dims.size() != rank)
        return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                    "x, w, y have %zu, %zu, %zu dims; %lld spatial dims need %zu", x.dims.size(),
                    w.dims.size(), y.dims.size(), (long long)c.nsp, rank);
    if (x.uid == y.uid || w.uid == y.uid)
        return fail(CUDNN_STATUS_BAD_PARAM, "y (uid %lld) is also an input", (long long)y.uid);
    if (x.dims[1] % w.dims[1] != 0 || w.dims[0] % (x.dims[1] / w.dims[1]) != 0)
        return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                    "x dims %s and w dims %s: the input channels do not match",
                    dims_str(x.dims).c_str(), dims_str(w.dims).c_str());
    std::vector<int64_t> want = {x.dims[0], w.dims[0]};
    for (size_t i = 0; i < (size_t)c.nsp; i++) {
        const int64_t span = (w.dims[2 + i] - 1) * c.dil[i] + 1;
        const int64_t padded = x.dims[2 + i] + c.pre[i] + c.post[i];
        if (padded < span)
            return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                        "the dilated filter %s is larger than the padded input %s",
                        dims_str(w.dims).c_str(), dims_str(x.dims).c_str());
        want.push_back((padded - span) / c.stride[i] + 1);
    }
    if (want != y.dims)
        return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                    "y dims %s do not match the conv output %s (x %s, w %s, pre-pad %s, "
                    "post-pad %s, strides %s, dilations %s)",
                    dims_str(y.dims).c_str(), dims_str(want).c_str(), dims_str(x.dims).c_str(),
                    dims_str(w.dims).c_str(), dims_str(c.pre).c_str(), dims_str(c.post).c_str(),
                    dims_str(c.stride).c_str(), dims_str(c.dil).c_str());
    return CUDNN_STATUS_SUCCESS;
}

static bool pw_binary(cudnnPointwiseMode_t m)
{
    return (m >= CUDNN_POINTWISE_ADD && m <= CUDNN_POINTWISE_SUB) || m == CUDNN_POINTWISE_ATAN2 ||
           (m >= CUDNN_POINTWISE_CMP_EQ && m <= CUDNN_POINTWISE_CMP_LE) ||
           m == CUDNN_POINTWISE_LOGICAL_AND || m == CUDNN_POINTWISE_LOGICAL_OR;
}

static cudnnStatus_t finalize_pw_op(Desc &d)
{
    Op &o = d.op;
    o.kind = OP_POINTWISE;
    o.pw = desc_attr(d, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR);
    o.x = desc_attr(d, CUDNN_ATTR_OPERATION_POINTWISE_XDESC);
    o.b = desc_attr(d, CUDNN_ATTR_OPERATION_POINTWISE_BDESC);
    o.y = desc_attr(d, CUDNN_ATTR_OPERATION_POINTWISE_YDESC);
    if (const Attr *a = find_attr(d, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1))
        o.alpha1 = attr_real(*a);
    if (const Attr *a = find_attr(d, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2))
        o.alpha2 = attr_real(*a);
    const cudnnPointwiseMode_t m = o.pw->pw.mode;
    if (m >= CUDNN_POINTWISE_RELU_BWD && m <= CUDNN_POINTWISE_GELU_APPROX_TANH_BWD)
        return fail(CUDNN_STATUS_NOT_SUPPORTED,
                    "backward pointwise modes (mode %d) are not emulated", (int)m);
    if (m == CUDNN_POINTWISE_BINARY_SELECT || m == CUDNN_POINTWISE_GEN_INDEX)
        return fail(CUDNN_STATUS_NOT_SUPPORTED, "pointwise mode %d is not emulated", (int)m);
    if (!o.y)
        return fail(CUDNN_STATUS_BAD_PARAM, "a forward pointwise mode needs YDESC");
    if (pw_binary(m) != (bool)o.b)
        return fail(CUDNN_STATUS_BAD_PARAM, "pointwise mode %d %s BDESC", (int)m,
                    o.b ? "is unary: it takes no" : "is binary: it needs");
    const Tensor &y = o.y->tensor;
    for (const DescPtr &in : o.inputs()) {
        const Tensor &t = in->tensor;
        if (t.uid == y.uid)
            return fail(CUDNN_STATUS_BAD_PARAM, "y (uid %lld) is also an input", (long long)y.uid);
        bool ok = t.dims.size() == y.dims.size();
        for (size_t i = 0; ok && i < t.dims.size(); i++)
            ok = t.dims[i] == y.dims[i] || t.dims[i] == 1;
        if (!ok)
            return fail(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                        "%s dims %s do not broadcast to y dims %s", in == o.x ? "x" : "b",
                        dims_str(t.dims).c_str(), dims_str(y.dims).c_str());
    }
    return CUDNN_STATUS_SUCCESS;
}

/* -------------------------------------------------------------------- operation graph */

static bool same_tensor(const Tensor &a, const Tensor &b)
{
    return a.dt == b.dt && a.dims == b.dims && a.strides == b.strides &&
           a.is_virtual == b.is_virtual && a.align == b.align;
}

static cudnnStatus_t finalize_graph(Desc &d)
{
    Graph &g = d.graph;
    if (const Attr *h = find_attr(d, CUDNN_ATTR_OPERATIONGRAPH_HANDLE))
        g.handle = attr_handle(*h);
    const std::vector<DescPtr> &ops = find_attr(d, CUDNN_ATTR_OPERATIONGRAPH_OPS)->descs;
    std::map<int64_t, DescPtr> by_uid;
    std::map<int64_t, int> producer; /* uid -> index in ops */
    std::map<int64_t, int> consumers;
    std::set<const Desc *> seen;
    for (size_t i = 0; i < ops.size(); i++) {
        const Op &o = ops[i]->op;
        if (!seen.insert(ops[i].get()).second)
            return fail(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES, "operation %zu given twice", i);
        std::vector<DescPtr> ts = o.inputs();
        ts.push_back(o.y);
        for (const DescPtr &t : ts) {
            auto it = by_uid.find(t->tensor.uid);
            if (it == by_uid.end())
                by_uid[t->tensor.uid] = t;
            else if (it->second != t && !same_tensor(it->second->tensor, t->tensor))
                return fail(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES,
                            "uid %lld names two different tensors (dims %s and %s)",
                            (long long)t->tensor.uid, dims_str(it->second->tensor.dims).c_str(),
                            dims_str(t->tensor.dims).c_str());
        }
        if (producer.count(o.y->tensor.uid))
            return fail(CUDNN_STATUS_BAD_PARAM, "uid %lld is the output of two operations",
                        (long long)o.y->tensor.uid);
        producer[o.y->tensor.uid] = (int)i;
        for (const DescPtr &t : o.inputs())
            consumers[t->tensor.uid]++;
    }
    for (const auto &u : by_uid) {
        if (!u.second->tensor.is_virtual)
            continue;
        if (!producer.count(u.first))
            return fail(CUDNN_STATUS_BAD_PARAM,
                        "virtual tensor uid %lld is not produced by any operation",
                        (long long)u.first);
        if (!consumers.count(u.first))
            return fail(CUDNN_STATUS_BAD_PARAM,
                        "virtual tensor uid %lld is produced but never consumed",
                        (long long)u.first);
    }
    /* topological order (Kahn): an op runs once every input it reads was produced */
    std::vector<bool> done(ops.size(), false);
    std::set<int64_t> ready;
    for (const auto &u : by_uid)
        if (!producer.count(u.first))
            ready.insert(u.first);
    g.ops.clear();
    for (bool progress = true; progress;) {
        progress = false;
        for (size_t i = 0; i < ops.size(); i++) {
            if (done[i])
                continue;
            bool ok = true;
            for (const DescPtr &t : ops[i]->op.inputs())
                ok = ok && ready.count(t->tensor.uid);
            if (ok) {
                done[i] = progress = true;
                g.ops.push_back(ops[i]);
                ready.insert(ops[i]->op.y->tensor.uid);
            }
        }
    }
    if (g.ops.size() != ops.size())
        return fail(CUDNN_STATUS_BAD_PARAM, "the operations form a cycle");
    g.tensors.clear();
    for (const auto &u : by_uid)
        g.tensors.push_back(u.second);
    g.n_conv = g.n_pointwise = 0;
    for (const DescPtr &o : g.ops)
        (o->op.kind == OP_CONV_FWD ? g.n_conv : g.n_pointwise)++;
    put_i64s(d, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, {8});
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize_pack(Desc &d)
{
    Pack &p = d.pack;
    const Attr *u = find_attr(d, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS);
    const Attr *ptrs = find_attr(d, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS);
    const Attr *ws = find_attr(d, CUDNN_ATTR_VARIANT_PACK_WORKSPACE);
    p.uids = u ? attr_i64s(*u) : std::vector<int64_t>{};
    p.ptrs.assign((size_t)(ptrs ? ptrs->count : 0), nullptr);
    if (ptrs && ptrs->count)
        memcpy(p.ptrs.data(), ptrs->bytes.data(), sizeof(void *) * (size_t)ptrs->count);
    p.workspace = ws && ws->count ? attr_ptr(*ws) : nullptr;
    if (p.uids.size() != p.ptrs.size())
        return fail(CUDNN_STATUS_BAD_PARAM, "%zu unique ids but %zu data pointers", p.uids.size(),
                    p.ptrs.size());
    std::set<int64_t> seen;
    for (int64_t id : p.uids)
        if (!seen.insert(id).second)
            return fail(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES, "uid %lld given twice",
                        (long long)id);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_desc(Desc &d)
{
    switch (d.type) {
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR:
        return finalize_tensor(d);
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR:
        return finalize_conv_desc(d);
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR:
        return finalize_pw_desc(d);
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR:
        return finalize_conv_op(d);
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
        return finalize_pw_op(d);
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
        return finalize_graph(d);
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
        return finalize_heur(d);
    case CUDNN_BACKEND_ENGINE_DESCRIPTOR:
        return finalize_engine(d);
    case CUDNN_BACKEND_ENGINECFG_DESCRIPTOR:
        return finalize_cfg(d);
    case CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR:
        return CUDNN_STATUS_SUCCESS;
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR:
        g_plan_finalizes.fetch_add(1);
        return finalize_plan(d);
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR:
        return finalize_pack(d);
    default:
        return fail(CUDNN_STATUS_BAD_PARAM,
                    "descriptors of this type are filled by cudnnBackendGetAttribute only");
    }
}

} /* namespace gc_mock_cudnn */

/* mock_cudart.h: execution plans finalized so far (tests: what context creation built) */
extern "C" size_t gc_emu_cudnn_plan_finalizes(void)
{
    return gc_mock_cudnn::g_plan_finalizes.load();
}
