/*
 * mock_cudnn_internal.h — what the files of the cuDNN mock (tests/emu/mock_cudnn*.cpp) share.
 * Private to tests/emu.
 *
 * Files: mock_cudnn.cpp (the C API: handles, descriptors, errors), mock_cudnn_attrs.cpp
 * (which attributes each descriptor type has), mock_cudnn_finalize.cpp (validation of
 * tensors, operations and graphs), mock_cudnn_engines.cpp (the fake engines, heuristics and
 * plans), mock_cudnn_execute.cpp (running a plan).
 *
 * A descriptor is a type, a table of attributes (each stored exactly as it was set: attribute
 * type, element count, bytes or descriptor references) and a finalized flag. Finalizing
 * validates the attributes and fills the descriptor's typed view (Tensor, Conv, Op, ...) that
 * the later stages read. A descriptor given as an attribute value is held by reference
 * (shared ownership): it must be finalized already, and finalized descriptors never change, so
 * sharing is the same as the deep copy cuDNN may make, and any destruction order is safe.
 */
#ifndef GC_MOCK_CUDNN_INTERNAL_H
#define GC_MOCK_CUDNN_INTERNAL_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <cudnn.h>

/* The handle: cudnnHandle_t is a pointer to this (cudnn_graph.h declares the tag). */
struct cudnnContext {
    uint32_t magic;
    int device;          /* current device at cudnnCreate */
    cudaStream_t stream; /* cudnnSetStream; NULL: the legacy default stream */
};

namespace gc_mock_cudnn
{

struct Desc;
using DescPtr = std::shared_ptr<Desc>;

/* One attribute as set (or as finalization computed it). */
struct Attr {
    cudnnBackendAttributeType_t type = CUDNN_TYPE_INT64;
    int64_t count = 0;
    std::vector<unsigned char> bytes; /* count elements of `type` (not descriptors) */
    std::vector<DescPtr> descs;       /* CUDNN_TYPE_BACKEND_DESCRIPTOR */
};

/* ---- typed views, filled by cudnnBackendFinalize ---- */

struct Tensor {
    cudnnDataType_t dt = CUDNN_DATA_FLOAT;
    std::vector<int64_t> dims, strides; /* cuDNN's order: N, C, spatial... */
    int64_t uid = 0, align = 0;
    bool is_virtual = false;
    int64_t elem_bytes = 4;
    int64_t extent_bytes = 0; /* bytes from the first element to one past the last */
};

struct ConvDesc {
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    int64_t nsp = 0;
    std::vector<int64_t> pre, post, dil, stride;
};

struct PwDesc {
    cudnnPointwiseMode_t mode = CUDNN_POINTWISE_ADD;
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    double relu_lower = 0.0, relu_upper = 3.4028234663852886e38, relu_slope = 0.0;
};

enum OpKind { OP_NONE, OP_CONV_FWD, OP_POINTWISE };

/* An operation: its inputs and output tensors (descriptors of type TENSOR). */
struct Op {
    OpKind kind = OP_NONE;
    DescPtr x, w, b, y, conv, pw;   /* w, conv: convolution; b, pw: pointwise */
    double alpha = 1.0, beta = 0.0; /* convolution; alpha1 and alpha2 for a pointwise op */
    double alpha1 = 1.0, alpha2 = 1.0;
    std::vector<DescPtr> inputs() const;
};

struct Graph {
    cudnnHandle_t handle = nullptr;
    std::vector<DescPtr> ops;     /* in topological order */
    std::vector<DescPtr> tensors; /* one descriptor per unique id */
    int n_conv = 0, n_pointwise = 0;
};

struct EngineSpec; /* mock_cudnn_finalize.cpp: the fake engine catalogue */

struct Engine {
    const EngineSpec *spec = nullptr;
    int64_t index = -1;
    DescPtr graph;
};

struct EngineCfg {
    DescPtr engine;
    std::vector<std::pair<int, int64_t>> knobs; /* (cudnnBackendKnobType_t, value) */
    int64_t workspace = 0;
};

struct Plan {
    DescPtr cfg;
    int64_t workspace = 0;
};

struct Pack {
    std::vector<int64_t> uids;
    std::vector<void *> ptrs;
    void *workspace = nullptr;
};

struct Desc {
    uint32_t magic = 0;
    cudnnBackendDescriptorType_t type = CUDNN_BACKEND_TENSOR_DESCRIPTOR;
    bool finalized = false;
    std::map<int, Attr> attrs; /* by cudnnBackendAttributeName_t */
    /* the typed view of this descriptor's type, valid once finalized */
    Tensor tensor;
    ConvDesc conv;
    PwDesc pw;
    Op op;
    Graph graph;
    Engine engine;
    EngineCfg cfg;
    Plan plan;
    Pack pack;
    /* heuristics results are made on finalize (ENGINEHEUR) and kept in attrs */
};

/* ---- errors, handles and descriptor registry (mock_cudnn.cpp) ---- */

/* Records "<current call>: <message>" as this thread's last error and returns s. */
cudnnStatus_t fail(cudnnStatus_t s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Names for messages. */
const char *desc_type_name(cudnnBackendDescriptorType_t t);
const char *attr_name(int a);
std::string dims_str(const std::vector<int64_t> &v);
/* A new descriptor, not registered as a user handle (heuristics results and their parts). */
DescPtr new_internal(cudnnBackendDescriptorType_t t);
/* The live descriptor behind a user handle; null when it is not one. */
DescPtr lookup(cudnnBackendDescriptor_t h);
bool handle_ok(cudnnHandle_t h);

/* ---- the attribute table and attribute access (mock_cudnn_attrs.cpp) ---- */

enum Use { OPT, REQ, RO }; /* settable and optional / settable and required / read-only */
enum { ANY_OP = -1, NO_DESC = -2 };

struct Spec {
    cudnnBackendDescriptorType_t owner;
    int name;
    const char *text;
    cudnnBackendAttributeType_t t1, t2; /* accepted types (t2 == t1 when one) */
    int64_t min_n, max_n;
    Use use;
    int elem; /* BACKEND_DESCRIPTOR values: their descriptor type, ANY_OP, or NO_DESC */
};

/* The attribute `name` of descriptors of type `owner`; null when they have none such. */
const Spec *spec_of(cudnnBackendDescriptorType_t owner, int name);
/* The first required attribute d lacks; null when none. */
const Spec *missing_required(const Desc &d);
bool emulated_type(cudnnBackendDescriptorType_t t); /* the mock creates descriptors of t */
bool is_op_type(cudnnBackendDescriptorType_t t);    /* an OPERATION_* type */
int64_t type_size(cudnnBackendAttributeType_t t);   /* bytes of one element */
/* v is a value of the enum behind t (true for types that are not enums). */
bool enum_value_ok(cudnnBackendAttributeType_t t, int32_t v);

const Attr *find_attr(const Desc &d, cudnnBackendAttributeName_t a);
/* The first descriptor value of a BACKEND_DESCRIPTOR attribute; null when not set. */
const DescPtr &desc_attr(const Desc &d, cudnnBackendAttributeName_t a);
/* Typed reads of a present attribute (the caller checked presence and the table its type). */
std::vector<int64_t> attr_i64s(const Attr &a);
int64_t attr_i64(const Attr &a);
int32_t attr_enum(const Attr &a); /* enum-typed attributes (4 bytes) */
bool attr_bool(const Attr &a);
double attr_real(const Attr &a); /* FLOAT or DOUBLE */
void *attr_ptr(const Attr &a);
cudnnHandle_t attr_handle(const Attr &a);
/* Stores values as a computed (read-only) attribute. */
void put_i64s(Desc &d, cudnnBackendAttributeName_t a, const std::vector<int64_t> &v);
void put_enums(Desc &d, cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t,
               const std::vector<int32_t> &v);
void put_descs(Desc &d, cudnnBackendAttributeName_t a, const std::vector<DescPtr> &v);

/* ---- finalization of tensors, operations, graphs, variant packs (mock_cudnn_finalize.cpp) */

/* The type-specific checks of cudnnBackendFinalize (required attributes are present). */
cudnnStatus_t finalize_desc(Desc &d);
int64_t elem_bytes(cudnnDataType_t dt);
const char *dtype_name(cudnnDataType_t dt);

/* ---- the fake engines, heuristics and plans (mock_cudnn_engines.cpp) ---- */

cudnnStatus_t finalize_engine(Desc &d);
cudnnStatus_t finalize_cfg(Desc &d);
cudnnStatus_t finalize_heur(Desc &d);
cudnnStatus_t finalize_plan(Desc &d);

/* What execution needs to know about an engine. */
struct EngineMath {
    bool tf32_inputs;      /* GC_EMU_CUDNN_TF32=1, float data on a TF32 tensor-core engine */
    bool nondeterministic; /* partial sums combined in an order that changes per run */
    bool half_inputs;      /* float data on a DOWN_CONVERT_INPUTS engine: rounded to fp16 */
};
EngineMath engine_math(const Engine &e);

/* ---- execute (mock_cudnn_execute.cpp) ---- */

/* Checks the variant pack against the plan now; the run goes through gc_emu_submit on the
 * handle's stream (now, or from a graph), holding references to both descriptors. */
cudnnStatus_t execute(cudnnContext &h, const DescPtr &plan, const DescPtr &pack);

} /* namespace gc_mock_cudnn */

#endif /* GC_MOCK_CUDNN_INTERNAL_H */
