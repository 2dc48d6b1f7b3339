/*
 * mock_cudnn.cpp — a CPU stand-in for cuDNN 9's backend (graph) API, linked instead of
 * libcudnn by the emulated CUDA backend (gradcam_emu). This file: handles, descriptors and
 * their attributes (cudnnBackendCreateDescriptor / SetAttribute / GetAttribute / Destroy), the
 * entry points of Finalize and Execute, status strings and the last error message. The
 * other parts: mock_cudnn_attrs.cpp (the attributes of each descriptor type),
 * mock_cudnn_finalize.cpp and mock_cudnn_engines.cpp (validation, engines, heuristics, plans),
 * mock_cudnn_execute.cpp (running a plan); mock_cudnn_internal.h joins them.
 *
 * Strictness, as the cuDNN 9 API reference describes each call:
 *   SetAttribute   NOT_INITIALIZED on a finalized descriptor; BAD_PARAM for an attribute the
 *                  descriptor type does not have or that is read-only, a wrong attribute type
 *                  (_ATTRIBUTE_TYPE), an element count out of range, a value out of its enum,
 *                  NULL pointers (_NULL_POINTER), a descriptor value of the wrong type
 *                  (_DESCRIPTOR_TYPE) or not finalized (_NOT_FINALIZED).
 *   GetAttribute   NOT_INITIALIZED before finalization; BAD_PARAM as above. *elementCount is
 *                  the attribute's element count; at most requestedElementCount elements are
 *                  written, none when arrayOfElements is NULL (a count query, as
 *                  cudnn-frontend makes them). Descriptor values are copied into the caller's
 *                  descriptors, which must be of the right type and not finalized; the copies
 *                  come back finalized.
 *   Finalize       BAD_PARAM when a required attribute is missing or the values do not fit
 *                  together; NOT_SUPPORTED_* for what no (mock) engine runs.
 * Every failure leaves a message for cudnnGetLastErrorString (this thread's, cleared when
 * read) naming the call, the descriptor type and the attribute.
 */
#include <atomic>
#include <cstdarg>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "mock_cudart.h"
#include "mock_cudnn_internal.h"

namespace gc_mock_cudnn
{

static const uint32_t DESC_MAGIC = 0x64657363u, HANDLE_MAGIC = 0x68646e6cu;

/* ------------------------------------------------------------------------------ errors */

static thread_local std::string t_last_error; /* cudnnGetLastErrorString */
static thread_local std::string t_call;       /* "cudnnBackendSetAttribute(TENSOR, ...)" */

cudnnStatus_t fail(cudnnStatus_t s, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    t_last_error = t_call + ": " + msg;
    return s;
}

/* Sets the name of the API call that messages begin with. */
static void enter(const char *fn, const Desc *d = nullptr, int attr = -1)
{
    t_call = fn;
    if (d || attr >= 0) {
        t_call += "(";
        if (d)
            t_call += desc_type_name(d->type);
        if (attr >= 0)
            t_call += std::string(d ? ", " : "") + attr_name(attr);
        t_call += ")";
    }
}

const char *desc_type_name(cudnnBackendDescriptorType_t t)
{
    switch (t) {
    case CUDNN_BACKEND_POINTWISE_DESCRIPTOR:
        return "POINTWISE";
    case CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR:
        return "CONVOLUTION";
    case CUDNN_BACKEND_ENGINE_DESCRIPTOR:
        return "ENGINE";
    case CUDNN_BACKEND_ENGINECFG_DESCRIPTOR:
        return "ENGINECFG";
    case CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR:
        return "ENGINEHEUR";
    case CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR:
        return "EXECUTION_PLAN";
    case CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR:
        return "KNOB_CHOICE";
    case CUDNN_BACKEND_KNOB_INFO_DESCRIPTOR:
        return "KNOB_INFO";
    case CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR:
        return "OPERATION_CONVOLUTION_FORWARD";
    case CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR:
        return "OPERATION_POINTWISE";
    case CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR:
        return "OPERATIONGRAPH";
    case CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR:
        return "VARIANT_PACK";
    case CUDNN_BACKEND_TENSOR_DESCRIPTOR:
        return "TENSOR";
    default:
        return "(descriptor type not emulated)";
    }
}

/* ------------------------------------------------------------------ registries */

static std::mutex g_lock;
static std::unordered_map<const void *, DescPtr> g_descs; /* live user descriptors */
static std::unordered_set<const void *> g_handles;        /* live cudnnHandle_t */

DescPtr lookup(cudnnBackendDescriptor_t h)
{
    std::lock_guard<std::mutex> g(g_lock);
    auto it = g_descs.find(h);
    return it == g_descs.end() ? nullptr : it->second;
}

bool handle_ok(cudnnHandle_t h)
{
    std::lock_guard<std::mutex> g(g_lock);
    return h && g_handles.count(h) && h->magic == HANDLE_MAGIC;
}

DescPtr new_internal(cudnnBackendDescriptorType_t t)
{
    DescPtr d = std::make_shared<Desc>();
    d->magic = DESC_MAGIC;
    d->type = t;
    return d;
}

static cudnnStatus_t get_user(cudnnBackendDescriptor_t h, DescPtr *out, const char *what)
{
    *out = nullptr;
    if (!h)
        return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "%s is NULL", what);
    DescPtr d = lookup(h);
    if (!d || d->magic != DESC_MAGIC)
        return fail(CUDNN_STATUS_BAD_PARAM,
                    "%s %p is not a live backend descriptor (never created, or destroyed)", what,
                    h);
    *out = d;
    return CUDNN_STATUS_SUCCESS;
}

} /* namespace gc_mock_cudnn */

using namespace gc_mock_cudnn;

/* =============================================================================== API */

extern "C" {

/* The headers' version, or GC_EMU_CUDNN_VERSION (tests: a library other than the headers) */
size_t cudnnGetVersion(void)
{
    const char *v = getenv("GC_EMU_CUDNN_VERSION");
    return v && *v ? (size_t)strtoull(v, nullptr, 10) : (size_t)CUDNN_VERSION;
}

const char *cudnnGetErrorString(cudnnStatus_t status)
{
    switch (status) {
#define N_(s)                                                                                      \
    case s:                                                                                        \
        return #s;
        N_(CUDNN_STATUS_SUCCESS)
        N_(CUDNN_STATUS_NOT_INITIALIZED)
        N_(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH)
        N_(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH)
        N_(CUDNN_STATUS_DEPRECATED)
        N_(CUDNN_STATUS_LICENSE_ERROR)
        N_(CUDNN_STATUS_RUNTIME_IN_PROGRESS)
        N_(CUDNN_STATUS_RUNTIME_FP_OVERFLOW)
        N_(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
        N_(CUDNN_STATUS_BAD_PARAM)
        N_(CUDNN_STATUS_BAD_PARAM_NULL_POINTER)
        N_(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER)
        N_(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED)
        N_(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND)
        N_(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT)
        N_(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH)
        N_(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH)
        N_(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES)
        N_(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE)
        N_(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH)
        N_(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE)
        N_(CUDNN_STATUS_NOT_SUPPORTED)
        N_(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN)
        N_(CUDNN_STATUS_NOT_SUPPORTED_SHAPE)
        N_(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE)
        N_(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT)
        N_(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER)
        N_(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART)
        N_(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH)
        N_(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING)
        N_(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE)
        N_(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT)
        N_(CUDNN_STATUS_NOT_SUPPORTED_PADDING)
        N_(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM)
        N_(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API)
        N_(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE)
        N_(CUDNN_STATUS_INTERNAL_ERROR)
        N_(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED)
        N_(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE)
        N_(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED)
        N_(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
        N_(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM)
        N_(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED)
        N_(CUDNN_STATUS_EXECUTION_FAILED)
        N_(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER)
        N_(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS)
        N_(CUDNN_STATUS_EXECUTION_FAILED_CUDART)
        N_(CUDNN_STATUS_EXECUTION_FAILED_CURAND)
#undef N_
    default:
        return "CUDNN_STATUS_UNKNOWN (not a cudnnStatus_t)";
    }
}

void cudnnGetLastErrorString(char *message, size_t max_size)
{
    if (!message || max_size == 0)
        return;
    snprintf(message, max_size, "%s", t_last_error.c_str());
    t_last_error.clear();
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *handle)
{
    enter("cudnnCreate");
    if (!handle)
        return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "handle is NULL");
    *handle = nullptr;
    int n = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n > 0)
        e = cudaGetDevice(&dev);
    if (e != cudaSuccess || n <= 0) {
        if (e != cudaSuccess)
            cudaGetLastError(); /* cuDNN's own query: not the caller's error */
        return fail(CUDNN_STATUS_NOT_INITIALIZED, "no usable CUDA device (%s)",
                    e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
    }
    cudnnContext *h = new cudnnContext{HANDLE_MAGIC, dev, nullptr};
    std::lock_guard<std::mutex> g(g_lock);
    g_handles.insert(h);
    *handle = h;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t handle)
{
    enter("cudnnDestroy");
    {
        std::lock_guard<std::mutex> g(g_lock);
        if (handle && g_handles.erase(handle)) {
            handle->magic = 0;
            delete handle;
            return CUDNN_STATUS_SUCCESS;
        }
    }
    return fail(handle ? CUDNN_STATUS_BAD_PARAM : CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
                "%p is not a live cuDNN handle", (void *)handle);
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream)
{
    enter("cudnnSetStream");
    if (!handle_ok(handle))
        return fail(CUDNN_STATUS_BAD_PARAM, "%p is not a live cuDNN handle", (void *)handle);
    const int dev = gc_emu_stream_device(stream);
    if (dev < 0)
        return fail(CUDNN_STATUS_BAD_PARAM, "stream %p is not a live CUDA stream", (void *)stream);
    if (dev != handle->device)
        return fail(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH,
                    "stream %p belongs to device %d, the handle to device %d", (void *)stream, dev,
                    handle->device);
    handle->stream = stream;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t *stream)
{
    enter("cudnnGetStream");
    if (!handle_ok(handle))
        return fail(CUDNN_STATUS_BAD_PARAM, "%p is not a live cuDNN handle", (void *)handle);
    if (!stream)
        return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "streamId is NULL");
    *stream = handle->stream;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t descriptorType,
                                           cudnnBackendDescriptor_t *descriptor)
{
    enter("cudnnBackendCreateDescriptor");
    if (!descriptor)
        return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "descriptor is NULL");
    *descriptor = nullptr;
    if (!emulated_type(descriptorType))
        return fail(CUDNN_STATUS_NOT_SUPPORTED,
                    "descriptor type %d is not emulated by the cuDNN mock", (int)descriptorType);
    DescPtr d = new_internal(descriptorType);
    std::lock_guard<std::mutex> g(g_lock);
    g_descs[d.get()] = d;
    *descriptor = d.get();
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t descriptor)
{
    enter("cudnnBackendDestroyDescriptor");
    DescPtr keep; /* released after the lock: may free a chain of descriptors */
    {
        std::lock_guard<std::mutex> g(g_lock);
        auto it = descriptor ? g_descs.find(descriptor) : g_descs.end();
        if (it != g_descs.end()) {
            keep = it->second;
            g_descs.erase(it);
        }
    }
    if (!keep)
        return fail(descriptor ? CUDNN_STATUS_BAD_PARAM : CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
                    "%p is not a live backend descriptor (never created, or destroyed twice)",
                    descriptor);
    /* descriptors that were given this one as a value still hold (and keep) its contents */
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t descriptor,
                                       cudnnBackendAttributeName_t attributeName,
                                       cudnnBackendAttributeType_t attributeType,
                                       int64_t elementCount, const void *arrayOfElements)
{
    enter("cudnnBackendSetAttribute", nullptr, attributeName);
    DescPtr d;
    if (cudnnStatus_t s = get_user(descriptor, &d, "descriptor"))
        return s;
    enter("cudnnBackendSetAttribute", d.get(), attributeName);
    const Spec *sp = spec_of(d->type, attributeName);
    if (!sp)
        return fail(CUDNN_STATUS_BAD_PARAM, "not an attribute of a %s descriptor",
                    desc_type_name(d->type));
    if (sp->use == RO)
        return fail(CUDNN_STATUS_BAD_PARAM, "a read-only attribute (computed by finalization)");
    if (d->finalized)
        return fail(CUDNN_STATUS_NOT_INITIALIZED, "the descriptor is already finalized");
    if (attributeType != sp->t1 && attributeType != sp->t2)
        return fail(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE,
                    "attribute type %d given, the attribute takes type %d%s", (int)attributeType,
                    (int)sp->t1, sp->t2 != sp->t1 ? " or its alternative" : "");
    if (elementCount < sp->min_n || elementCount > sp->max_n)
        return fail(CUDNN_STATUS_BAD_PARAM, "%lld elements given, %lld to %lld expected",
                    (long long)elementCount, (long long)sp->min_n, (long long)sp->max_n);
    if (elementCount > 0 && !arrayOfElements)
        return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "arrayOfElements is NULL");
    Attr a;
    a.type = attributeType;
    a.count = elementCount;
    if (attributeType == CUDNN_TYPE_BACKEND_DESCRIPTOR) {
        const cudnnBackendDescriptor_t *hs = (const cudnnBackendDescriptor_t *)arrayOfElements;
        for (int64_t i = 0; i < elementCount; i++) {
            DescPtr e;
            char what[48];
            snprintf(what, sizeof what, "element %lld", (long long)i);
            if (cudnnStatus_t s = get_user(hs[i], &e, what))
                return s;
            const bool type_ok =
                sp->elem == ANY_OP ? is_op_type(e->type) : (int)e->type == sp->elem;
            if (!type_ok)
                return fail(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
                            "element %lld is a %s descriptor, expected %s", (long long)i,
                            desc_type_name(e->type),
                            sp->elem == ANY_OP
                                ? "an operation"
                                : desc_type_name((cudnnBackendDescriptorType_t)sp->elem));
            if (!e->finalized)
                return fail(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED,
                            "element %lld (a %s descriptor) is not finalized", (long long)i,
                            desc_type_name(e->type));
            a.descs.push_back(e);
        }
    } else {
        const int64_t sz = type_size(attributeType);
        a.bytes.assign((const unsigned char *)arrayOfElements,
                       (const unsigned char *)arrayOfElements + sz * elementCount);
        if (sz == 4 && attributeType != CUDNN_TYPE_FLOAT && attributeType != CUDNN_TYPE_INT32)
            for (int64_t i = 0; i < elementCount; i++) {
                int32_t v;
                memcpy(&v, a.bytes.data() + 4 * i, 4);
                if (!enum_value_ok(attributeType, v))
                    return fail(CUDNN_STATUS_BAD_PARAM, "element %lld: %d is not a valid value",
                                (long long)i, v);
            }
        if (attributeType == CUDNN_TYPE_HANDLE)
            for (int64_t i = 0; i < elementCount; i++)
                if (!handle_ok(((const cudnnHandle_t *)arrayOfElements)[i]))
                    return fail(CUDNN_STATUS_BAD_PARAM, "not a live cuDNN handle");
    }
    d->attrs[attributeName] = std::move(a);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const descriptor,
                                       cudnnBackendAttributeName_t attributeName,
                                       cudnnBackendAttributeType_t attributeType,
                                       int64_t requestedElementCount, int64_t *elementCount,
                                       void *arrayOfElements)
{
    enter("cudnnBackendGetAttribute", nullptr, attributeName);
    DescPtr d;
    if (cudnnStatus_t s = get_user(descriptor, &d, "descriptor"))
        return s;
    enter("cudnnBackendGetAttribute", d.get(), attributeName);
    const Spec *sp = spec_of(d->type, attributeName);
    if (!sp)
        return fail(CUDNN_STATUS_BAD_PARAM, "not an attribute of a %s descriptor",
                    desc_type_name(d->type));
    if (!d->finalized)
        return fail(CUDNN_STATUS_NOT_INITIALIZED, "the descriptor is not finalized");
    if (attributeType != sp->t1 && attributeType != sp->t2)
        return fail(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE,
                    "attribute type %d requested, the attribute has type %d", (int)attributeType,
                    (int)sp->t1);
    if (!elementCount)
        return fail(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "elementCount is NULL");
    if (requestedElementCount < 0)
        return fail(CUDNN_STATUS_BAD_PARAM, "requestedElementCount %lld is negative",
                    (long long)requestedElementCount);
    const Attr *a = find_attr(*d, attributeName);
    if (!a) { /* an optional attribute never set */
        *elementCount = 0;
        return CUDNN_STATUS_SUCCESS;
    }
    if (a->type != attributeType)
        return fail(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE,
                    "attribute type %d requested, it was set as type %d", (int)attributeType,
                    (int)a->type);
    const int64_t n = requestedElementCount < a->count ? requestedElementCount : a->count;
    if (arrayOfElements && n > 0) {
        if (attributeType == CUDNN_TYPE_BACKEND_DESCRIPTOR) {
            cudnnBackendDescriptor_t *hs = (cudnnBackendDescriptor_t *)arrayOfElements;
            std::vector<DescPtr> targets;
            for (int64_t i = 0; i < n; i++) { /* all checked before any is written */
                DescPtr t;
                char what[48];
                snprintf(what, sizeof what, "arrayOfElements[%lld]", (long long)i);
                if (cudnnStatus_t s = get_user(hs[i], &t, what))
                    return s;
                if (t->type != a->descs[i]->type)
                    return fail(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
                                "arrayOfElements[%lld] is a %s descriptor, the value a %s one",
                                (long long)i, desc_type_name(t->type),
                                desc_type_name(a->descs[i]->type));
                if (t->finalized)
                    return fail(CUDNN_STATUS_BAD_PARAM,
                                "arrayOfElements[%lld] is finalized already (pass new "
                                "descriptors)",
                                (long long)i);
                targets.push_back(t);
            }
            for (int64_t i = 0; i < n; i++)
                *targets[i] = *a->descs[i]; /* a finalized copy */
        } else {
            memcpy(arrayOfElements, a->bytes.data(), (size_t)(type_size(a->type) * n));
        }
    }
    *elementCount = a->count;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t descriptor)
{
    enter("cudnnBackendFinalize");
    DescPtr d;
    if (cudnnStatus_t s = get_user(descriptor, &d, "descriptor"))
        return s;
    enter("cudnnBackendFinalize", d.get());
    if (d->finalized)
        return fail(CUDNN_STATUS_BAD_PARAM, "the descriptor is finalized already");
    if (const Spec *s = missing_required(*d))
        return fail(CUDNN_STATUS_BAD_PARAM, "required attribute %s not set", s->text);
    cudnnStatus_t s = finalize_desc(*d);
    if (s == CUDNN_STATUS_SUCCESS)
        d->finalized = true;
    return s;
}

/* gc_emu_cudnn_fail_execute: executes to let through before the failing one (-1: none) */
static std::atomic<int> g_fail_after{-1}, g_fail_status{0}, g_fail_sticky{0};

extern "C" void gc_emu_cudnn_fail_execute(int after, int status, int sticky)
{
    g_fail_status.store(status);
    g_fail_sticky.store(sticky);
    g_fail_after.store(after);
}

cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle, cudnnBackendDescriptor_t executionPlan,
                                  cudnnBackendDescriptor_t variantPack)
{
    enter("cudnnBackendExecute");
    if (g_fail_after.load() >= 0 && g_fail_after.fetch_sub(1) == 0) {
        if (g_fail_sticky.load())
            gc_emu_inject_sticky_error(g_fail_sticky.load());
        return fail((cudnnStatus_t)g_fail_status.load(),
                    "injected by gc_emu_cudnn_fail_execute (the test's fault)");
    }
    if (!handle_ok(handle))
        return fail(handle ? CUDNN_STATUS_BAD_PARAM : CUDNN_STATUS_BAD_PARAM_NULL_POINTER,
                    "%p is not a live cuDNN handle", (void *)handle);
    DescPtr plan, pack;
    if (cudnnStatus_t s = get_user(executionPlan, &plan, "executionPlan"))
        return s;
    if (cudnnStatus_t s = get_user(variantPack, &pack, "variantPack"))
        return s;
    if (plan->type != CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR ||
        pack->type != CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR)
        return fail(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE,
                    "executionPlan is a %s descriptor, variantPack a %s one",
                    desc_type_name(plan->type), desc_type_name(pack->type));
    if (!plan->finalized || !pack->finalized)
        return fail(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED, "the %s is not finalized",
                    !plan->finalized ? "execution plan" : "variant pack");
    return execute(*handle, plan, pack);
}

} /* extern "C" */
