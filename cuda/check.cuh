/*
 * check.cuh — status checks for CUDA, cuDNN and cuBLAS calls inside the CUDA backend.
 *
 * Each macro evaluates one library call; on failure it writes the statement, file, line and
 * the library's own message into the context's error buffer and RETURNS a gc_status from the
 * enclosing function (GC_ERR_OUT_OF_MEMORY for allocation failures, else GC_ERR_BACKEND).
 * `err` is a gc_errbuf *.
 */
#ifndef GC_CUDA_CHECK_CUH
#define GC_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "gc_internal.h"
}

#define GC_CUDA_TRY(err, expr)                                                                 \
    do {                                                                                       \
        cudaError_t gc_e_ = (expr);                                                            \
        if (gc_e_ != cudaSuccess)                                                              \
            return gc_fail((err),                                                              \
                           gc_e_ == cudaErrorMemoryAllocation ? GC_ERR_OUT_OF_MEMORY           \
                                                              : GC_ERR_BACKEND,                \
                           "%s failed at %s:%d: %s (%s)", #expr, __FILE__, __LINE__,           \
                           cudaGetErrorName(gc_e_), cudaGetErrorString(gc_e_));                \
    } while (0)

#define GC_CUDNN_TRY(err, expr)                                                                \
    do {                                                                                       \
        cudnnStatus_t gc_s_ = (expr);                                                          \
        if (gc_s_ != CUDNN_STATUS_SUCCESS) {                                                   \
            char gc_m_[512];                                                                   \
            cudnnGetLastErrorString(gc_m_, sizeof gc_m_);                                      \
            return gc_fail((err),                                                              \
                           gc_s_ == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||    \
                                   gc_s_ == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED \
                               ? GC_ERR_OUT_OF_MEMORY                                    \
                               : GC_ERR_BACKEND,                                         \
                           "%s failed at %s:%d: %s (%s)", #expr, __FILE__, __LINE__,           \
                           cudnnGetErrorString(gc_s_), gc_m_);                                 \
        }                                                                                      \
    } while (0)

#define GC_CUBLAS_TRY(err, expr)                                                               \
    do {                                                                                       \
        cublasStatus_t gc_b_ = (expr);                                                         \
        if (gc_b_ != CUBLAS_STATUS_SUCCESS)                                                    \
            return gc_fail((err),                                                              \
                           gc_b_ == CUBLAS_STATUS_ALLOC_FAILED ? GC_ERR_OUT_OF_MEMORY          \
                                                               : GC_ERR_BACKEND,               \
                           "%s failed at %s:%d: %s (%s)", #expr, __FILE__, __LINE__,           \
                           cublasGetStatusName(gc_b_), cublasGetStatusString(gc_b_));          \
    } while (0)

/* 1 when e leaves the CUDA context unusable: a kernel fault or a lost device. The runtime
 * then returns the same error from every later call of the process ("sticky" errors, in the
 * CUDA Runtime API's description of cudaError); the backend turns it into the context's
 * sticky bad state (gc_context.sticky). Any other error (a bad argument, a failed allocation,
 * a launch configuration refused) is reported and the context stays usable. */
static inline int gc_cuda_error_is_sticky(cudaError_t e)
{
    switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorLaunchTimeout:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorNvlinkUncorrectable:
    case cudaErrorContextIsDestroyed:
    case cudaErrorDevicesUnavailable:
    case cudaErrorNoDevice:
    case cudaErrorCudartUnloading:
    case cudaErrorContained:           /* the headers: "the process must be terminated and */
    case cudaErrorTensorMemoryLeak:    /* relaunched" after each of these four */
    case cudaErrorMpsClientTerminated:
    case cudaErrorExternalDevice:
    case cudaErrorUnknown:
        return 1;
    default:
        return 0;
    }
}

/* Propagates a gc_status from a helper that already wrote its message. */
#define GC_TRY(expr)                                                                           \
    do {                                                                                       \
        gc_status gc_t_ = (expr);                                                              \
        if (gc_t_ != GC_OK)                                                                    \
            return gc_t_;                                                                      \
    } while (0)

#endif /* GC_CUDA_CHECK_CUH */
