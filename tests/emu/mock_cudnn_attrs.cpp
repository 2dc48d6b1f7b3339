/*
 * mock_cudnn_attrs.cpp — which attributes each emulated descriptor type of the cuDNN mock
 * has (the table below: element type, element count, settable and required or read-only,
 * the descriptor type of descriptor values), the values each attribute type takes, and the
 * typed reads and writes of stored attributes that the other mock_cudnn*.cpp files use.
 * The table follows the cuDNN 9 API reference's attribute lists for each descriptor type.
 */
#include <cstdio>
#include <cstring>

#include "mock_cudnn_internal.h"

namespace gc_mock_cudnn
{

/* ------------------------------------------------------------------ attribute table */

// clang-format off
#define S_(owner, attr, t1, t2, lo, hi, use, elem)                                             \
    {CUDNN_BACKEND_##owner##_DESCRIPTOR, CUDNN_ATTR_##attr, "CUDNN_ATTR_" #attr, CUDNN_TYPE_##t1, \
     CUDNN_TYPE_##t2, lo, hi, use, elem}
#define D_(owner, attr, lo, hi, use, elem)                                                      \
    S_(owner, attr, BACKEND_DESCRIPTOR, BACKEND_DESCRIPTOR, lo, hi, use, elem)
#define T_(t) CUDNN_BACKEND_##t##_DESCRIPTOR
static const int64_t MANY = 1 << 20;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const Spec SPECS[] = {
    S_(TENSOR, TENSOR_BYTE_ALIGNMENT, INT64, INT64, 1, 1, REQ, NO_DESC),
    S_(TENSOR, TENSOR_DATA_TYPE, DATA_TYPE, DATA_TYPE, 1, 1, REQ, NO_DESC),
    S_(TENSOR, TENSOR_DIMENSIONS, INT64, INT64, 1, CUDNN_DIM_MAX, REQ, NO_DESC),
    S_(TENSOR, TENSOR_STRIDES, INT64, INT64, 1, CUDNN_DIM_MAX, REQ, NO_DESC),
    S_(TENSOR, TENSOR_VECTOR_COUNT, INT64, INT64, 1, 1, OPT, NO_DESC),
    S_(TENSOR, TENSOR_VECTORIZED_DIMENSION, INT64, INT64, 1, 1, OPT, NO_DESC),
    S_(TENSOR, TENSOR_UNIQUE_ID, INT64, INT64, 1, 1, REQ, NO_DESC),
    S_(TENSOR, TENSOR_IS_VIRTUAL, BOOLEAN, BOOLEAN, 1, 1, OPT, NO_DESC),
    S_(TENSOR, TENSOR_IS_BY_VALUE, BOOLEAN, BOOLEAN, 1, 1, OPT, NO_DESC),
    S_(TENSOR, TENSOR_REORDERING_MODE, TENSOR_REORDERING_MODE, TENSOR_REORDERING_MODE, 1, 1, OPT,
       NO_DESC),

    S_(CONVOLUTION, CONVOLUTION_COMP_TYPE, DATA_TYPE, DATA_TYPE, 1, 1, REQ, NO_DESC),
    S_(CONVOLUTION, CONVOLUTION_CONV_MODE, CONVOLUTION_MODE, CONVOLUTION_MODE, 1, 1, REQ, NO_DESC),
    S_(CONVOLUTION, CONVOLUTION_SPATIAL_DIMS, INT64, INT64, 1, 1, REQ, NO_DESC),
    S_(CONVOLUTION, CONVOLUTION_DILATIONS, INT64, INT64, 1, CUDNN_DIM_MAX, REQ, NO_DESC),
    S_(CONVOLUTION, CONVOLUTION_FILTER_STRIDES, INT64, INT64, 1, CUDNN_DIM_MAX, REQ, NO_DESC),
    S_(CONVOLUTION, CONVOLUTION_PRE_PADDINGS, INT64, INT64, 1, CUDNN_DIM_MAX, REQ, NO_DESC),
    S_(CONVOLUTION, CONVOLUTION_POST_PADDINGS, INT64, INT64, 1, CUDNN_DIM_MAX, REQ, NO_DESC),

    S_(OPERATION_CONVOLUTION_FORWARD, OPERATION_CONVOLUTION_FORWARD_ALPHA, FLOAT, DOUBLE, 1, 1, REQ,
       NO_DESC),
    S_(OPERATION_CONVOLUTION_FORWARD, OPERATION_CONVOLUTION_FORWARD_BETA, FLOAT, DOUBLE, 1, 1, REQ,
       NO_DESC),
    D_(OPERATION_CONVOLUTION_FORWARD, OPERATION_CONVOLUTION_FORWARD_CONV_DESC, 1, 1, REQ,
       T_(CONVOLUTION)),
    D_(OPERATION_CONVOLUTION_FORWARD, OPERATION_CONVOLUTION_FORWARD_W, 1, 1, REQ, T_(TENSOR)),
    D_(OPERATION_CONVOLUTION_FORWARD, OPERATION_CONVOLUTION_FORWARD_X, 1, 1, REQ, T_(TENSOR)),
    D_(OPERATION_CONVOLUTION_FORWARD, OPERATION_CONVOLUTION_FORWARD_Y, 1, 1, REQ, T_(TENSOR)),

    S_(POINTWISE, POINTWISE_MODE, POINTWISE_MODE, POINTWISE_MODE, 1, 1, REQ, NO_DESC),
    S_(POINTWISE, POINTWISE_MATH_PREC, DATA_TYPE, DATA_TYPE, 1, 1, REQ, NO_DESC),
    S_(POINTWISE, POINTWISE_NAN_PROPAGATION, NAN_PROPOGATION, NAN_PROPOGATION, 1, 1, OPT, NO_DESC),
    S_(POINTWISE, POINTWISE_RELU_LOWER_CLIP, DOUBLE, FLOAT, 1, 1, OPT, NO_DESC),
    S_(POINTWISE, POINTWISE_RELU_UPPER_CLIP, DOUBLE, FLOAT, 1, 1, OPT, NO_DESC),
    S_(POINTWISE, POINTWISE_RELU_LOWER_CLIP_SLOPE, DOUBLE, FLOAT, 1, 1, OPT, NO_DESC),
    S_(POINTWISE, POINTWISE_ELU_ALPHA, DOUBLE, FLOAT, 1, 1, OPT, NO_DESC),
    S_(POINTWISE, POINTWISE_SOFTPLUS_BETA, DOUBLE, FLOAT, 1, 1, OPT, NO_DESC),
    S_(POINTWISE, POINTWISE_SWISH_BETA, DOUBLE, FLOAT, 1, 1, OPT, NO_DESC),
    S_(POINTWISE, POINTWISE_AXIS, INT64, INT64, 1, 1, OPT, NO_DESC),

    D_(OPERATION_POINTWISE, OPERATION_POINTWISE_PW_DESCRIPTOR, 1, 1, REQ, T_(POINTWISE)),
    D_(OPERATION_POINTWISE, OPERATION_POINTWISE_XDESC, 1, 1, REQ, T_(TENSOR)),
    D_(OPERATION_POINTWISE, OPERATION_POINTWISE_BDESC, 1, 1, OPT, T_(TENSOR)),
    D_(OPERATION_POINTWISE, OPERATION_POINTWISE_YDESC, 1, 1, OPT, T_(TENSOR)),
    S_(OPERATION_POINTWISE, OPERATION_POINTWISE_ALPHA1, FLOAT, DOUBLE, 1, 1, OPT, NO_DESC),
    S_(OPERATION_POINTWISE, OPERATION_POINTWISE_ALPHA2, FLOAT, DOUBLE, 1, 1, OPT, NO_DESC),
    D_(OPERATION_POINTWISE, OPERATION_POINTWISE_DXDESC, 1, 1, OPT, T_(TENSOR)),
    D_(OPERATION_POINTWISE, OPERATION_POINTWISE_DYDESC, 1, 1, OPT, T_(TENSOR)),
    D_(OPERATION_POINTWISE, OPERATION_POINTWISE_TDESC, 1, 1, OPT, T_(TENSOR)),

    /* deprecated in 9.19 (device properties instead), still accepted by cuDNN */
    S_(OPERATIONGRAPH, OPERATIONGRAPH_HANDLE, HANDLE, HANDLE, 1, 1, OPT, NO_DESC),
    D_(OPERATIONGRAPH, OPERATIONGRAPH_OPS, 1, MANY, REQ, ANY_OP),
    S_(OPERATIONGRAPH, OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, INT64, INT64, 1, 1, RO, NO_DESC),
    S_(OPERATIONGRAPH, OPERATIONGRAPH_IS_DYNAMIC_SHAPE_ENABLED, BOOLEAN, BOOLEAN, 1, 1, OPT,
       NO_DESC),

    S_(ENGINEHEUR, ENGINEHEUR_MODE, HEUR_MODE, HEUR_MODE, 1, 1, REQ, NO_DESC),
    D_(ENGINEHEUR, ENGINEHEUR_OPERATION_GRAPH, 1, 1, REQ, T_(OPERATIONGRAPH)),
    D_(ENGINEHEUR, ENGINEHEUR_RESULTS, 0, MANY, RO, T_(ENGINECFG)),
    S_(ENGINEHEUR, ENGINEHEUR_SM_COUNT_TARGET, INT32, INT32, 1, 1, OPT, NO_DESC),

    D_(ENGINE, ENGINE_OPERATION_GRAPH, 1, 1, REQ, T_(OPERATIONGRAPH)),
    S_(ENGINE, ENGINE_GLOBAL_INDEX, INT64, INT64, 1, 1, REQ, NO_DESC),
    D_(ENGINE, ENGINE_KNOB_INFO, 0, MANY, RO, T_(KNOB_INFO)),
    S_(ENGINE, ENGINE_NUMERICAL_NOTE, NUMERICAL_NOTE, NUMERICAL_NOTE, 0, MANY, RO, NO_DESC),
    S_(ENGINE, ENGINE_BEHAVIOR_NOTE, BEHAVIOR_NOTE, BEHAVIOR_NOTE, 0, MANY, RO, NO_DESC),
    S_(ENGINE, ENGINE_SM_COUNT_TARGET, INT32, INT32, 1, 1, OPT, NO_DESC),

    D_(ENGINECFG, ENGINECFG_ENGINE, 1, 1, REQ, T_(ENGINE)),
    D_(ENGINECFG, ENGINECFG_KNOB_CHOICES, 0, CUDNN_KNOB_TYPE_COUNTS, OPT, T_(KNOB_CHOICE)),
    S_(ENGINECFG, ENGINECFG_WORKSPACE_SIZE, INT64, INT64, 1, 1, RO, NO_DESC),
    S_(ENGINECFG, ENGINECFG_SHARED_MEMORY_USED, INT64, INT64, 1, 1, RO, NO_DESC),

    S_(KNOB_CHOICE, KNOB_CHOICE_KNOB_TYPE, KNOB_TYPE, KNOB_TYPE, 1, 1, REQ, NO_DESC),
    S_(KNOB_CHOICE, KNOB_CHOICE_KNOB_VALUE, INT64, INT64, 1, 1, REQ, NO_DESC),

    S_(KNOB_INFO, KNOB_INFO_TYPE, KNOB_TYPE, KNOB_TYPE, 1, 1, RO, NO_DESC),
    S_(KNOB_INFO, KNOB_INFO_MAXIMUM_VALUE, INT64, INT64, 1, 1, RO, NO_DESC),
    S_(KNOB_INFO, KNOB_INFO_MINIMUM_VALUE, INT64, INT64, 1, 1, RO, NO_DESC),
    S_(KNOB_INFO, KNOB_INFO_STRIDE, INT64, INT64, 1, 1, RO, NO_DESC),

    /* deprecated in 9.19; cudnn-frontend builds plans without it (needed only to deserialize) */
    S_(EXECUTION_PLAN, EXECUTION_PLAN_HANDLE, HANDLE, HANDLE, 1, 1, OPT, NO_DESC),
    D_(EXECUTION_PLAN, EXECUTION_PLAN_ENGINE_CONFIG, 1, 1, REQ, T_(ENGINECFG)),
    S_(EXECUTION_PLAN, EXECUTION_PLAN_WORKSPACE_SIZE, INT64, INT64, 1, 1, RO, NO_DESC),

    S_(VARIANT_PACK, VARIANT_PACK_UNIQUE_IDS, INT64, INT64, 0, MANY, OPT, NO_DESC),
    S_(VARIANT_PACK, VARIANT_PACK_DATA_POINTERS, VOID_PTR, VOID_PTR, 0, MANY, OPT, NO_DESC),
    S_(VARIANT_PACK, VARIANT_PACK_WORKSPACE, VOID_PTR, VOID_PTR, 1, 1, OPT, NO_DESC),
};
#pragma GCC diagnostic pop
// clang-format on

const Spec *spec_of(cudnnBackendDescriptorType_t owner, int name)
{
    for (const Spec &s : SPECS)
        if (s.owner == owner && s.name == name)
            return &s;
    return nullptr;
}

const char *attr_name(int a)
{
    for (const Spec &s : SPECS)
        if (s.name == a)
            return s.text;
    static thread_local char buf[48];
    snprintf(buf, sizeof buf, "attribute %d (not emulated)", a);
    return buf;
}

bool emulated_type(cudnnBackendDescriptorType_t t)
{
    for (const Spec &s : SPECS)
        if (s.owner == t)
            return true;
    return false;
}

bool is_op_type(cudnnBackendDescriptorType_t t)
{
    return t == CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR ||
           t == CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR;
}

int64_t type_size(cudnnBackendAttributeType_t t)
{
    switch (t) {
    case CUDNN_TYPE_HANDLE:
        return sizeof(cudnnHandle_t);
    case CUDNN_TYPE_DATA_TYPE:
        return sizeof(cudnnDataType_t);
    case CUDNN_TYPE_BOOLEAN:
        return sizeof(bool);
    case CUDNN_TYPE_INT64:
        return sizeof(int64_t);
    case CUDNN_TYPE_FLOAT:
        return sizeof(float);
    case CUDNN_TYPE_DOUBLE:
        return sizeof(double);
    case CUDNN_TYPE_VOID_PTR:
        return sizeof(void *);
    case CUDNN_TYPE_CONVOLUTION_MODE:
        return sizeof(cudnnConvolutionMode_t);
    case CUDNN_TYPE_HEUR_MODE:
        return sizeof(cudnnBackendHeurMode_t);
    case CUDNN_TYPE_KNOB_TYPE:
        return sizeof(cudnnBackendKnobType_t);
    case CUDNN_TYPE_NUMERICAL_NOTE:
        return sizeof(cudnnBackendNumericalNote_t);
    case CUDNN_TYPE_POINTWISE_MODE:
        return sizeof(cudnnPointwiseMode_t);
    case CUDNN_TYPE_BACKEND_DESCRIPTOR:
        return sizeof(cudnnBackendDescriptor_t);
    case CUDNN_TYPE_BEHAVIOR_NOTE:
        return sizeof(cudnnBackendBehaviorNote_t);
    case CUDNN_TYPE_TENSOR_REORDERING_MODE:
        return sizeof(cudnnBackendTensorReordering_t);
    case CUDNN_TYPE_INT32:
        return sizeof(int32_t);
    default:
        return sizeof(int32_t); /* the other enums (NAN_PROPOGATION, ...) */
    }
}

/* An enum value out of its range: cuDNN's "arrayOfElements contains values invalid for the
 * attributeType". */
bool enum_value_ok(cudnnBackendAttributeType_t t, int32_t v)
{
    switch (t) {
    case CUDNN_TYPE_DATA_TYPE:
        return v >= 0 && v <= CUDNN_DATA_COMPLEX_FP64;
    case CUDNN_TYPE_CONVOLUTION_MODE:
        return v == CUDNN_CONVOLUTION || v == CUDNN_CROSS_CORRELATION;
    case CUDNN_TYPE_HEUR_MODE:
        return v >= 0 && v < CUDNN_HEUR_MODES_COUNT;
    case CUDNN_TYPE_KNOB_TYPE:
        return v >= 0 && v < CUDNN_KNOB_TYPE_COUNTS;
    case CUDNN_TYPE_TENSOR_REORDERING_MODE:
        return v >= 0 && v <= CUDNN_TENSOR_REORDERING_F8_128x4;
    case CUDNN_TYPE_POINTWISE_MODE:
        return (v >= 0 && v <= 23) || (v >= 100 && v <= 107) || (v >= 200 && v <= 207) ||
               (v >= 300 && v <= 305) || (v >= 400 && v <= 402) || v == 501 || v == 601;
    default:
        return true;
    }
}

/* ------------------------------------------------------------------ attribute access */

const Attr *find_attr(const Desc &d, cudnnBackendAttributeName_t a)
{
    auto it = d.attrs.find(a);
    return it == d.attrs.end() ? nullptr : &it->second;
}

std::vector<int64_t> attr_i64s(const Attr &a)
{
    std::vector<int64_t> v((size_t)a.count);
    if (a.count)
        memcpy(v.data(), a.bytes.data(), sizeof(int64_t) * (size_t)a.count);
    return v;
}

int64_t attr_i64(const Attr &a)
{
    int64_t v;
    memcpy(&v, a.bytes.data(), sizeof v);
    return v;
}

int32_t attr_enum(const Attr &a)
{
    int32_t v;
    memcpy(&v, a.bytes.data(), sizeof v);
    return v;
}

bool attr_bool(const Attr &a)
{
    return a.bytes[0] != 0;
}

double attr_real(const Attr &a)
{
    if (a.type == CUDNN_TYPE_FLOAT) {
        float f;
        memcpy(&f, a.bytes.data(), sizeof f);
        return f;
    }
    double v;
    memcpy(&v, a.bytes.data(), sizeof v);
    return v;
}

void *attr_ptr(const Attr &a)
{
    void *p;
    memcpy(&p, a.bytes.data(), sizeof p);
    return p;
}

cudnnHandle_t attr_handle(const Attr &a)
{
    cudnnHandle_t h;
    memcpy(&h, a.bytes.data(), sizeof h);
    return h;
}

void put_i64s(Desc &d, cudnnBackendAttributeName_t a, const std::vector<int64_t> &v)
{
    Attr &x = d.attrs[a];
    x.type = CUDNN_TYPE_INT64;
    x.count = (int64_t)v.size();
    x.bytes.assign((const unsigned char *)v.data(),
                   (const unsigned char *)v.data() + sizeof(int64_t) * v.size());
    x.descs.clear();
}

void put_enums(Desc &d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t,
               const std::vector<int32_t> &v)
{
    Attr &x = d.attrs[a];
    x.type = t;
    x.count = (int64_t)v.size();
    x.bytes.assign((const unsigned char *)v.data(),
                   (const unsigned char *)v.data() + sizeof(int32_t) * v.size());
    x.descs.clear();
}

void put_descs(Desc &d, cudnnBackendAttributeName_t a, const std::vector<DescPtr> &v)
{
    Attr &x = d.attrs[a];
    x.type = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    x.count = (int64_t)v.size();
    x.bytes.clear();
    x.descs = v;
}

std::string dims_str(const std::vector<int64_t> &v)
{
    std::string s = "[";
    for (size_t i = 0; i < v.size(); i++)
        s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
}

/* The user descriptor behind h, with the checks every call makes. */
const Spec *missing_required(const Desc &d)
{
    for (const Spec &s : SPECS)
        if (s.owner == d.type && s.use == REQ && !find_attr(d, (cudnnBackendAttributeName_t)s.name))
            return &s;
    return nullptr;
}

const DescPtr &desc_attr(const Desc &d, cudnnBackendAttributeName_t a)
{
    static const DescPtr none;
    const Attr *x = find_attr(d, a);
    return x && x->count ? x->descs[0] : none;
}

} /* namespace gc_mock_cudnn */
