/*
 * mock_cudart.h — test hooks of the emulated CUDA runtime (tests/emu/mock_cudart.cpp), the
 * CPU stand-in for libcudart that the emulated CUDA backend links in CI (no GPU).
 *
 * The emulated device: its memory is host memory (cudaMalloc'd bytes start as 0xFF, NaN in
 * float, half and bf16; guard bytes around every allocation are checked at free and at every
 * synchronize); streams and events are validated handles; work issued on a stream waits in
 * its queue until something waits for it (the lazy schedule: mock_cudart.cpp's header lists
 * what waits), except on a stream that is capturing (cudaStreamBeginCapture): there it is
 * recorded into the graph and runs at each cudaGraphLaunch (gc_emu_submit below; the capture
 * rules are listed in mock_cudart.cpp's header). Environment, read at the first call and
 * again by gc_emu_reset():
 *   GC_EMU_DEVICES        number of emulated devices (default 1; 0: cudaErrorNoDevice)
 *   GC_EMU_DEVICE_MEMORY  bytes of memory per device (default 80 GiB)
 *   GC_EMU_QUIET=1        no diagnostic lines on stderr (errors are still returned)
 *   GC_EMU_SCHEDULE       lazy (default): stream work runs when waited for; eager: at the call
 *
 * The mocks of cuBLAS and cuDNN use the checks below so that a bad pointer or stream in a
 * library call is reported as on a GPU (a failed launch), with a line saying what was wrong.
 */
#ifndef GC_MOCK_CUDART_H
#define GC_MOCK_CUDART_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cudaStream_t without the CUDA headers (C test programs include this file too) */
struct CUstream_st;

/* From now on every runtime call (and every cudaGetLastError, cudaPeekAtLastError and
 * synchronize) returns `code`, as after a kernel fault (e.g. cudaErrorIllegalAddress): the
 * CUDA context is unusable; the work still queued never runs. Frees and destroys still
 * release what they are given. */
void gc_emu_inject_sticky_error(int code);

/* Clears the sticky error and every thread's last error, and re-reads the environment.
 * Allocations, streams, events and handles stay as they are. */
void gc_emu_reset(void);

/* The pending sticky error (a cudaError_t), 0 when none. */
int gc_emu_sticky_error(void);

/* Bytes of device and managed memory allocated and not freed, all devices together (what
 * cudaMemGetInfo counts: each allocation's size rounded up to 256). */
size_t gc_emu_device_bytes_in_use(void);

/* Execution plans finalized by the emulated cuDNN so far, refused ones included
 * (mock_cudnn_finalize.cpp): what a context creation built. */
size_t gc_emu_cudnn_plan_finalizes(void);

/* Images convolved by the emulated cuDNN so far: each convolution run adds its x's batch
 * dimension (a plan runs the whole batch it was built for), graph launches included
 * (mock_cudnn_execute.cpp). */
size_t gc_emu_cudnn_conv_images(void);

/* The emulated cuDNN's cudnnBackendExecute lets `after` more calls run, then answers the next
 * one with `status` (a cudnnStatus_t, e.g. CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
 * cuDNN failing to allocate what it needs, which a busy GPU can do at any call) without running
 * it, once; the calls after it run again. With `sticky` (a cudaError_t, else 0) that call also
 * leaves the runtime with that sticky error, as when earlier queued work faulted. A negative
 * `after` cancels (mock_cudnn.cpp). */
void gc_emu_cudnn_fail_execute(int after, int status, int sticky);

/* The emulated cuBLAS's cublasGemmEx likewise: `after` more calls run, the next one answers
 * `status` (a cublasStatus_t, e.g. CUBLAS_STATUS_ALLOC_FAILED) without running, once; a
 * negative `after` cancels (mock_cublas.cpp). */
void gc_emu_cublas_fail_gemm(int after, int status);

/* Number of live allocations (device, managed and pinned host together), for leak checks. */
size_t gc_emu_live_allocations(void);

/* 0 when [p, p + bytes) lies inside one device allocation of the current device or one
 * managed allocation (any device); otherwise -1, with a line on stderr that begins with
 * `what` and says why (host memory, past the end by how much, another device's memory).
 * bytes == 0 checks p alone (which may then also point one past the end). */
int gc_emu_check_device_range(const void *p, size_t bytes, const char *what);

/* What a kernel launch on `stream` would return now (a cudaError_t): 0, the sticky error, or
 * cudaErrorInvalidResourceHandle for an unknown or destroyed stream or a stream of another
 * device than the current one (a launch there fails on a GPU). A failure also becomes the
 * calling thread's last error, as a failed launch does, with a line on stderr naming `what`. */
int gc_emu_launch_check(struct CUstream_st *stream, const char *what);

/* A launch whose grid or block is beyond the device's limits: becomes the calling thread's
 * last error (cudaErrorInvalidConfiguration, returned), with a line on stderr. */
int gc_emu_launch_config_error(const char *what, unsigned gx, unsigned gy, unsigned gz,
                               unsigned bx, unsigned by, unsigned bz);

/* The device of a stream (the current device for NULL, cudaStreamLegacy and
 * cudaStreamPerThread), or -1 when the handle is unknown or destroyed. */
int gc_emu_stream_device(struct CUstream_st *stream);

/* Checks every allocation's guard bytes now (as a synchronize does): the number of corrupted
 * allocations, each named on stderr; any corruption makes cudaErrorIllegalAddress sticky.
 * -1 in a build with AddressSanitizer, where the guards are poisoned instead: ASan stops the
 * program at the first read or write of one. */
int gc_emu_check_guards(void);

/* Graphs (cudaStreamEndCapture) and executable graphs (cudaGraphInstantiate) not destroyed
 * yet, together, for leak checks. */
size_t gc_emu_live_graphs(void);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
/* ---- for the mocks (C++ only): the one way stream work is issued ---- */
#include <driver_types.h>

#include <functional>

/* Issues `work` (the data movement or computation of an asynchronous call, whose arguments
 * the caller has already validated) on `stream`:
 *   - a stream that is capturing: `work` becomes the next node of the capture's graph, in
 *     issue order, and runs at each cudaGraphLaunch of an instantiation of it (on the thread
 *     that launches, with the graph's device current); nothing runs now;
 *   - a stream whose capture was invalidated: cudaErrorStreamCaptureInvalidated;
 *   - the legacy stream (NULL, cudaStreamLegacy) while a blocking stream of the current device
 *     is capturing: cudaErrorStreamCaptureImplicit, and that capture is invalidated;
 *   - otherwise `work` joins the stream's queue and runs when something waits for it, on the
 *     thread that waits (GC_EMU_SCHEDULE=eager: now, before this returns).
 * A failure becomes the calling thread's last error (as a failed launch), with a line on
 * stderr naming `what`; `work` is then dropped. `work` must own what it reads (copies, or
 * shared references): a graph or the queue may run it long after the call that issued it
 * returned. */
cudaError_t gc_emu_submit(cudaStream_t stream, const char *what, std::function<void()> work);

/* For `work` given to gc_emu_submit: 0 when [p, p + bytes) is still inside one device or
 * managed allocation of the current device (gc_emu_check_device_range). Otherwise the fault
 * a GPU takes when a graph touches memory freed since its capture: cudaErrorIllegalAddress
 * becomes sticky, with a line on stderr naming `what`; returns -1 and `work` should stop. */
int gc_emu_work_check_range(const void *p, size_t bytes, const char *what);
#endif

#endif /* GC_MOCK_CUDART_H */
