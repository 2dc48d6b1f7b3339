/*
 * test_mock_cudart.cpp — the emulated CUDA runtime and cuBLAS (mock_cudart.cpp,
 * mock_cublas.cpp) against what CUDA documents, each rule provoked on purpose: allocation
 * kinds and pointer attributes (inside an allocation too), the 0xFF fill, guard bytes, copy
 * and memset validation, the memory limit, the device count, per-thread last errors, sticky
 * errors, streams and events (timing included), and cublasGemmEx against loops written out
 * here for every op combination and type, its argument checks and its memory checks; stream
 * capture and graphs: a memset, an emulated kernel, copies and a GEMM captured run only at
 * cudaGraphLaunch, at every launch; what a capture refuses and that it invalidates the
 * capture; memory freed before a launch faults. These run on the eager schedule; then the
 * lazy one (the default): work waits for a synchronize, event or free; pageable sources are
 * staged, pinned and registered memory read when the copy runs; streams ordered only by
 * events and the legacy stream's implicit synchronization; a fault drops queued work.
 *
 * Lines on stderr starting with "[cuda emulation]" are the mocks' diagnostics of the errors
 * provoked here: expected. Returns 0 when every check passed, 1 otherwise.
 */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cuda_emulate.h" /* gc_emu::make_launch, for a kernel in a captured stream */
#include "mock_cudart.h"

static int failures, checks;

#define GC_CHECK_COUNT checks++
#include "../check.h"

#define EXPECT(expr, want)                                                                         \
    do {                                                                                           \
        cudaError_t got_ = (expr);                                                                 \
        CHECK(got_ == (want), "%s = %s, want %s", #expr, cudaGetErrorName(got_),                   \
              cudaGetErrorName(want));                                                             \
    } while (0)

#define EXPECT_BLAS(expr, want)                                                                    \
    do {                                                                                           \
        cublasStatus_t got_ = (expr);                                                              \
        CHECK(got_ == (want), "%s = %s, want %s", #expr, cublasGetStatusName(got_),                \
              cublasGetStatusName(want));                                                          \
    } while (0)

/* The environment as the test wants it, re-read by the runtime. */
static void env(const char *devices, const char *memory)
{
    if (devices)
        setenv("GC_EMU_DEVICES", devices, 1);
    else
        unsetenv("GC_EMU_DEVICES");
    if (memory)
        setenv("GC_EMU_DEVICE_MEMORY", memory, 1);
    else
        unsetenv("GC_EMU_DEVICE_MEMORY");
    gc_emu_reset();
}

/* ---------------------------------------------------------------- memory */

static void test_allocations(void)
{
    printf("allocations and pointer attributes\n");
    void *d = NULL, *m = NULL, *h = NULL;
    std::vector<char> pageable(64);
    EXPECT(cudaMalloc(&d, 1000), cudaSuccess);
    EXPECT(cudaMallocManaged(&m, 300, cudaMemAttachGlobal), cudaSuccess);
    EXPECT(cudaHostAlloc(&h, 5000, cudaHostAllocDefault), cudaSuccess);
    CHECK(d && m && h, "allocations returned NULL");
    CHECK((uintptr_t)d % 256 == 0 && (uintptr_t)m % 256 == 0, "device memory 256-aligned");
    CHECK(gc_emu_device_bytes_in_use() == 1024 + 512, "in use %zu, want 1536",
          gc_emu_device_bytes_in_use());

    /* fresh memory is 0xFF: NaN in every float type */
    bool all_ff = true;
    for (int i = 0; i < 1000; i++)
        all_ff &= ((unsigned char *)d)[i] == 0xFF;
    CHECK(all_ff, "cudaMalloc memory is not all 0xFF");
    CHECK(std::isnan(((float *)d)[3]), "fresh device float is not NaN");
    CHECK(std::isnan(__half2float(((__half *)m)[7])), "fresh managed half is not NaN");
    CHECK(std::isnan(__bfloat162float(((__nv_bfloat16 *)d)[9])), "fresh bf16 is not NaN");

    cudaPointerAttributes pa;
    EXPECT(cudaPointerGetAttributes(&pa, d), cudaSuccess);
    CHECK(pa.type == cudaMemoryTypeDevice && pa.device == 0 && pa.devicePointer == d &&
              !pa.hostPointer,
          "device attributes: type %d device %d", (int)pa.type, pa.device);
    EXPECT(cudaPointerGetAttributes(&pa, (char *)d + 999), cudaSuccess);
    CHECK(pa.type == cudaMemoryTypeDevice, "the last byte of an allocation is device memory");
    EXPECT(cudaPointerGetAttributes(&pa, (char *)d + 1000), cudaSuccess);
    CHECK(pa.type == cudaMemoryTypeUnregistered, "one past the end is not device memory");
    EXPECT(cudaPointerGetAttributes(&pa, (char *)m + 10), cudaSuccess);
    CHECK(pa.type == cudaMemoryTypeManaged && pa.hostPointer && pa.devicePointer,
          "managed attributes: type %d", (int)pa.type);
    EXPECT(cudaPointerGetAttributes(&pa, (char *)h + 4999), cudaSuccess);
    CHECK(pa.type == cudaMemoryTypeHost, "pinned attributes: type %d", (int)pa.type);
    EXPECT(cudaPointerGetAttributes(&pa, pageable.data()), cudaSuccess);
    CHECK(pa.type == cudaMemoryTypeUnregistered, "pageable attributes: type %d", (int)pa.type);
    EXPECT(cudaGetLastError(), cudaSuccess);

    /* frees: the start of the right kind only */
    EXPECT(cudaFree((char *)d + 4), cudaErrorInvalidValue);
    EXPECT(cudaGetLastError(), cudaErrorInvalidValue);
    EXPECT(cudaFree(h), cudaErrorInvalidValue);
    EXPECT(cudaFree(pageable.data()), cudaErrorInvalidValue);
    EXPECT(cudaFreeHost(d), cudaErrorInvalidValue);
    EXPECT(cudaFree(NULL), cudaSuccess);
    EXPECT(cudaFreeHost(NULL), cudaSuccess);
    EXPECT(cudaFree(d), cudaSuccess);
    EXPECT(cudaFree(d), cudaErrorInvalidValue); /* twice */
    EXPECT(cudaFree(m), cudaSuccess);
    EXPECT(cudaFreeHost(h), cudaSuccess);
    EXPECT(cudaFreeHost(h), cudaErrorInvalidValue);
    cudaGetLastError();

    /* size 0: success and NULL; flags checked */
    void *z = (void *)1;
    EXPECT(cudaMalloc(&z, 0), cudaSuccess);
    CHECK(z == NULL, "cudaMalloc(0) gave %p", z);
    EXPECT(cudaMalloc(NULL, 16), cudaErrorInvalidValue);
    EXPECT(cudaMallocManaged(&z, 16, 0x4 /* cudaMemAttachSingle */), cudaErrorInvalidValue);
    EXPECT(cudaHostAlloc(&z, 16, 0x100), cudaErrorInvalidValue);
    EXPECT(cudaMallocHost(&z, 16), cudaSuccess);
    EXPECT(cudaFreeHost(z), cudaSuccess);
    cudaGetLastError();
    CHECK(gc_emu_device_bytes_in_use() == 0 && gc_emu_live_allocations() == 0,
          "leak: %zu bytes, %zu allocations", gc_emu_device_bytes_in_use(),
          gc_emu_live_allocations());
}

static void test_guards(void)
{
    if (gc_emu_check_guards() < 0) {
        printf("guard bytes: poisoned for AddressSanitizer in this build (not provoked)\n");
        return;
    }
    printf("guard bytes\n");
    char *d = NULL, *e = NULL;
    EXPECT(cudaMalloc((void **)&d, 100), cudaSuccess);
    EXPECT(cudaMalloc((void **)&e, 100), cudaSuccess);
    EXPECT(cudaDeviceSynchronize(), cudaSuccess);
    CHECK(gc_emu_check_guards() == 0, "intact guards reported as corrupted");
    d[100] = 1; /* one past the end, in the tail guard (100 is not a multiple of 256) */
    EXPECT(cudaStreamSynchronize(0), cudaErrorIllegalAddress);
    CHECK(gc_emu_sticky_error() == cudaErrorIllegalAddress, "a corruption is sticky");
    EXPECT(cudaGetLastError(), cudaErrorIllegalAddress);
    EXPECT(cudaGetLastError(), cudaErrorIllegalAddress); /* still: sticky */
    gc_emu_reset();
    EXPECT(cudaDeviceSynchronize(), cudaSuccess); /* reported once, then repaired */
    e[-1] = 7;                                    /* before the start */
    EXPECT(cudaFree(e), cudaErrorIllegalAddress); /* found at free; freed all the same */
    gc_emu_reset();
    EXPECT(cudaFree(d), cudaSuccess);
    CHECK(gc_emu_live_allocations() == 0, "%zu allocations left", gc_emu_live_allocations());

    /* pinned host memory is guarded too (host code overrunning its staging) */
    char *h = NULL;
    EXPECT(cudaHostAlloc((void **)&h, 4096, 0), cudaSuccess);
    h[4096 + 17] = 0;
    CHECK(gc_emu_check_guards() == 1, "pinned overrun not found");
    gc_emu_reset();
    EXPECT(cudaFreeHost(h), cudaSuccess);
}

static void test_copies(void)
{
    printf("copies and memsets\n");
    float *d = NULL, *d2 = NULL, *m = NULL, *p = NULL;
    float host[64], back[64];
    for (int i = 0; i < 64; i++)
        host[i] = (float)i;
    EXPECT(cudaMalloc((void **)&d, sizeof host), cudaSuccess);
    EXPECT(cudaMalloc((void **)&d2, sizeof host), cudaSuccess);
    EXPECT(cudaMallocManaged((void **)&m, sizeof host, cudaMemAttachGlobal), cudaSuccess);
    EXPECT(cudaMallocHost((void **)&p, sizeof host), cudaSuccess);
    cudaStream_t s;
    EXPECT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);

    EXPECT(cudaMemcpyAsync(d, host, sizeof host, cudaMemcpyHostToDevice, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(d2, d, sizeof host, cudaMemcpyDeviceToDevice, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(p, d2, sizeof host, cudaMemcpyDeviceToHost, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(m, p, sizeof host, cudaMemcpyHostToDevice, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(back, m, sizeof host, cudaMemcpyDefault, s), cudaSuccess);
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(memcmp(back, host, sizeof host) == 0, "round trip through every kind differs");
    EXPECT(cudaMemcpy(back, d + 8, 8 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    CHECK(back[0] == 8.0f && back[7] == 15.0f, "an inner range copied wrong");
    EXPECT(cudaMemcpyAsync(m, host, sizeof host, cudaMemcpyDeviceToDevice, s),
           cudaErrorInvalidValue); /* managed and device is fine, but host is not */

    /* directions that contradict the pointers */
    EXPECT(cudaMemcpyAsync(d, d2, 16, cudaMemcpyHostToDevice, s), cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(back, host, 16, cudaMemcpyHostToDevice, s), cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(d, host, 16, cudaMemcpyDeviceToHost, s), cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(back, host, 16, cudaMemcpyDeviceToHost, s), cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(d, host, 16, cudaMemcpyDeviceToDevice, s), cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(back, d, 16, cudaMemcpyHostToHost, s), cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(p, host, 16, cudaMemcpyHostToDevice, s), cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(d, host, 16, (cudaMemcpyKind)7, s), cudaErrorInvalidMemcpyDirection);
    EXPECT(cudaGetLastError(), cudaErrorInvalidMemcpyDirection);
    /* overruns: past the end of the destination, of the source, from inside */
    EXPECT(cudaMemcpyAsync(d, host, sizeof host + 4, cudaMemcpyHostToDevice, s),
           cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(back, d + 1, sizeof back, cudaMemcpyDeviceToHost, s),
           cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(d + 60, d2, 5 * sizeof(float), cudaMemcpyDefault, s),
           cudaErrorInvalidValue);
    EXPECT(cudaMemcpyAsync(d + 60, d2, 4 * sizeof(float), cudaMemcpyDefault, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(d, NULL, 0, cudaMemcpyHostToDevice, s), cudaSuccess); /* nothing */
    EXPECT(cudaMemcpyAsync(d, NULL, 4, cudaMemcpyHostToDevice, s), cudaErrorInvalidValue);

    /* memsets: device or managed memory only, inside it */
    EXPECT(cudaMemsetAsync(d, 0, sizeof host, s), cudaSuccess);
    EXPECT(cudaMemcpy(back, d, sizeof back, cudaMemcpyDeviceToHost), cudaSuccess);
    CHECK(back[0] == 0.0f && back[63] == 0.0f, "memset did not zero");
    EXPECT(cudaMemsetAsync(m, 0, sizeof host, s), cudaSuccess);
    EXPECT(cudaMemset(d + 1, 0, sizeof host), cudaErrorInvalidValue);
    EXPECT(cudaMemsetAsync(p, 0, 16, s), cudaErrorInvalidValue);
    EXPECT(cudaMemsetAsync(host, 0, 16, s), cudaErrorInvalidValue);
    EXPECT(cudaStreamSynchronize(s), cudaSuccess); /* none of these is sticky */
    CHECK(gc_emu_check_guards() <= 0, "a refused copy wrote out of bounds");
    cudaGetLastError();

    /* the hook the library mocks use */
    CHECK(gc_emu_check_device_range(d, sizeof host, "test") == 0, "whole allocation");
    CHECK(gc_emu_check_device_range(d + 64, 0, "test") == 0, "one past the end, 0 bytes");
    CHECK(gc_emu_check_device_range(d + 1, sizeof host, "test") != 0, "overrun accepted");
    CHECK(gc_emu_check_device_range(p, 4, "test") != 0, "pinned accepted as device memory");
    CHECK(gc_emu_check_device_range(host, 4, "test") != 0, "host accepted as device memory");
    CHECK(gc_emu_check_device_range(m + 3, 4, "test") == 0, "managed refused");

    EXPECT(cudaStreamDestroy(s), cudaSuccess);
    EXPECT(cudaFree(d), cudaSuccess);
    EXPECT(cudaFree(d2), cudaSuccess);
    EXPECT(cudaFree(m), cudaSuccess);
    EXPECT(cudaFreeHost(p), cudaSuccess);
}

static void test_limit_and_devices(void)
{
    printf("memory limit and devices\n");
    env(NULL, "1048576"); /* 1 MiB */
    size_t fr = 0, total = 0;
    EXPECT(cudaMemGetInfo(&fr, &total), cudaSuccess);
    CHECK(fr == 1048576 && total == 1048576, "free %zu total %zu", fr, total);
    void *a = NULL, *b = NULL;
    EXPECT(cudaMalloc(&a, 600000), cudaSuccess);
    EXPECT(cudaMemGetInfo(&fr, &total), cudaSuccess);
    CHECK(fr == 1048576 - 600064, "free %zu after 600000 bytes", fr);
    EXPECT(cudaMalloc(&b, 600000), cudaErrorMemoryAllocation);
    CHECK(b == NULL, "a failed cudaMalloc leaves %p", b);
    CHECK(gc_emu_sticky_error() == 0, "out of memory is not sticky");
    EXPECT(cudaGetLastError(), cudaErrorMemoryAllocation);
    EXPECT(cudaGetLastError(), cudaSuccess);
    EXPECT(cudaMallocManaged(&b, 600000, cudaMemAttachGlobal), cudaErrorMemoryAllocation);
    EXPECT(cudaHostAlloc(&b, 2000000, 0), cudaSuccess); /* pinned is host memory */
    EXPECT(cudaFreeHost(b), cudaSuccess);
    EXPECT(cudaFree(a), cudaSuccess);
    EXPECT(cudaMalloc(&b, 600000), cudaSuccess);
    EXPECT(cudaFree(b), cudaSuccess);
    cudaGetLastError();
    cudaDeviceProp prop;
    EXPECT(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
    CHECK(prop.totalGlobalMem == 1048576, "totalGlobalMem %zu", prop.totalGlobalMem);

    env(NULL, NULL);
    int n = -1;
    EXPECT(cudaGetDeviceCount(&n), cudaSuccess);
    CHECK(n == 1, "default device count %d", n);
    EXPECT(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
    CHECK(strcmp(prop.name, "gradcam emulated GPU (CPU)") == 0 && prop.major == 9 &&
              prop.minor == 0 && prop.multiProcessorCount == 132 && prop.warpSize == 32 &&
              prop.maxThreadsPerBlock == 1024 && prop.maxGridSize[0] == 2147483647 &&
              prop.maxGridSize[1] == 65535 && prop.totalGlobalMem == ((size_t)80 << 30),
          "properties: %s %d.%d", prop.name, prop.major, prop.minor);
    EXPECT(cudaGetDeviceProperties(&prop, 1), cudaErrorInvalidDevice);
    EXPECT(cudaSetDevice(1), cudaErrorInvalidDevice);
    EXPECT(cudaSetDevice(-1), cudaErrorInvalidDevice);
    cudaGetLastError();

    env("2", NULL);
    EXPECT(cudaGetDeviceCount(&n), cudaSuccess);
    CHECK(n == 2, "GC_EMU_DEVICES=2: %d devices", n);
    cudaStream_t s1;
    cudaEvent_t e0, e1;
    void *p1 = NULL;
    EXPECT(cudaEventCreate(&e0), cudaSuccess);
    EXPECT(cudaSetDevice(1), cudaSuccess);
    int cur = -1;
    EXPECT(cudaGetDevice(&cur), cudaSuccess);
    CHECK(cur == 1, "current device %d", cur);
    EXPECT(cudaStreamCreate(&s1), cudaSuccess);
    EXPECT(cudaEventCreate(&e1), cudaSuccess);
    EXPECT(cudaMalloc(&p1, 64), cudaSuccess);
    cudaPointerAttributes pa;
    EXPECT(cudaPointerGetAttributes(&pa, p1), cudaSuccess);
    CHECK(pa.type == cudaMemoryTypeDevice && pa.device == 1, "device %d", pa.device);
    CHECK(gc_emu_launch_check(s1, "test") == cudaSuccess, "launch on its own device");
    std::thread([&] { /* the current device is per thread: 0 in a new one */
                      int c = -1;
                      cudaGetDevice(&c);
                      CHECK(c == 0, "a new thread's device %d", c);
    })
        .join();
    EXPECT(cudaSetDevice(0), cudaSuccess);
    CHECK(gc_emu_launch_check(s1, "test") == cudaErrorInvalidResourceHandle,
          "a launch on another device's stream");
    CHECK(gc_emu_check_device_range(p1, 64, "test") != 0, "another device's memory");
    EXPECT(cudaEventRecord(e1, s1), cudaSuccess); /* recording needs no current device */
    EXPECT(cudaEventRecord(e0, s1), cudaErrorInvalidResourceHandle);
    EXPECT(cudaMemcpyAsync(p1, &n, sizeof n, cudaMemcpyHostToDevice, s1), cudaSuccess);
    cudaGetLastError();
    EXPECT(cudaFree(p1), cudaSuccess);
    EXPECT(cudaStreamDestroy(s1), cudaSuccess);
    EXPECT(cudaEventDestroy(e0), cudaSuccess);
    EXPECT(cudaEventDestroy(e1), cudaSuccess);

    env("0", NULL);
    EXPECT(cudaGetDeviceCount(&n), cudaErrorNoDevice);
    EXPECT(cudaMalloc(&p1, 64), cudaErrorNoDevice);
    EXPECT(cudaSetDevice(0), cudaErrorNoDevice);
    cudaGetLastError();
    env(NULL, NULL);
}

/* ---------------------------------------------------------------- errors */

static void test_errors(void)
{
    printf("last error, sticky errors, names\n");
    cudaGetLastError();
    EXPECT(cudaSetDevice(5), cudaErrorInvalidDevice);
    int n;
    EXPECT(cudaGetDeviceCount(&n), cudaSuccess); /* a success does not clear it */
    EXPECT(cudaPeekAtLastError(), cudaErrorInvalidDevice);
    EXPECT(cudaPeekAtLastError(), cudaErrorInvalidDevice);
    std::thread([] { /* per thread */
                     EXPECT(cudaGetLastError(), cudaSuccess);
                     EXPECT(cudaMalloc(NULL, 4), cudaErrorInvalidValue);
    })
        .join();
    EXPECT(cudaGetLastError(), cudaErrorInvalidDevice);
    EXPECT(cudaGetLastError(), cudaSuccess);
    EXPECT(cudaMalloc(NULL, 4), cudaErrorInvalidValue);
    EXPECT(cudaSetDevice(7), cudaErrorInvalidDevice); /* the last one wins */
    EXPECT(cudaGetLastError(), cudaErrorInvalidDevice);
    EXPECT(cudaMalloc(NULL, 4), cudaErrorInvalidValue);
    gc_emu_reset(); /* clears every thread's */
    EXPECT(cudaPeekAtLastError(), cudaSuccess);

    void *d = NULL;
    EXPECT(cudaMalloc(&d, 128), cudaSuccess);
    cudaStream_t s;
    EXPECT(cudaStreamCreate(&s), cudaSuccess);
    gc_emu_inject_sticky_error(cudaErrorIllegalAddress);
    void *e = NULL;
    EXPECT(cudaMalloc(&e, 16), cudaErrorIllegalAddress);
    EXPECT(cudaStreamSynchronize(s), cudaErrorIllegalAddress);
    EXPECT(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
    EXPECT(cudaSetDevice(0), cudaErrorIllegalAddress);
    EXPECT(cudaMemsetAsync(d, 0, 128, s), cudaErrorIllegalAddress);
    EXPECT(cudaGetLastError(), cudaErrorIllegalAddress);
    EXPECT(cudaGetLastError(), cudaErrorIllegalAddress);
    EXPECT(cudaPeekAtLastError(), cudaErrorIllegalAddress);
    EXPECT(cudaGetDeviceCount(&n), cudaSuccess); /* no context needed */
    cublasHandle_t h;
    EXPECT_BLAS(cublasCreate(&h), CUBLAS_STATUS_NOT_INITIALIZED);
    /* frees and destroys release all the same, and report the error */
    EXPECT(cudaFree(d), cudaErrorIllegalAddress);
    EXPECT(cudaStreamDestroy(s), cudaErrorIllegalAddress);
    CHECK(gc_emu_device_bytes_in_use() == 0, "a free under a sticky error kept the memory");
    gc_emu_reset();
    EXPECT(cudaGetLastError(), cudaSuccess);
    EXPECT(cudaStreamSynchronize(s), cudaErrorInvalidResourceHandle); /* destroyed */
    cudaGetLastError();

    CHECK(strcmp(cudaGetErrorName(cudaErrorIllegalAddress), "cudaErrorIllegalAddress") == 0,
          "name %s", cudaGetErrorName(cudaErrorIllegalAddress));
    CHECK(strcmp(cudaGetErrorString(cudaErrorMemoryAllocation), "out of memory") == 0, "string %s",
          cudaGetErrorString(cudaErrorMemoryAllocation));
    CHECK(strcmp(cudaGetErrorString(cudaSuccess), "no error") == 0, "success string");
    CHECK(strcmp(cudaGetErrorName((cudaError_t)12345), "unrecognized error code") == 0,
          "unknown code");
    const cudaError_t sticky_codes[] = {cudaErrorIllegalAddress,
                                        cudaErrorLaunchFailure,
                                        cudaErrorLaunchTimeout,
                                        cudaErrorHardwareStackError,
                                        cudaErrorIllegalInstruction,
                                        cudaErrorMisalignedAddress,
                                        cudaErrorInvalidAddressSpace,
                                        cudaErrorInvalidPc,
                                        cudaErrorAssert,
                                        cudaErrorECCUncorrectable,
                                        cudaErrorContextIsDestroyed,
                                        cudaErrorDevicesUnavailable,
                                        cudaErrorNoDevice,
                                        cudaErrorCudartUnloading,
                                        cudaErrorUnknown};
    for (cudaError_t c : sticky_codes)
        CHECK(strncmp(cudaGetErrorName(c), "cudaError", 9) == 0, "no name for code %d", (int)c);
    for (int st = 0; st <= 16; st++)
        CHECK(cublasGetStatusName((cublasStatus_t)st) && cublasGetStatusString((cublasStatus_t)st),
              "cuBLAS status %d", st);
    CHECK(strcmp(cublasGetStatusName(CUBLAS_STATUS_EXECUTION_FAILED),
                 "CUBLAS_STATUS_EXECUTION_FAILED") == 0,
          "cuBLAS status name");
}

/* ---------------------------------------------------------------- streams and events */

static void test_streams_events(void)
{
    printf("streams and events\n");
    cudaStream_t s, dead;
    EXPECT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    EXPECT(cudaStreamCreateWithFlags(&dead, 0x8), cudaErrorInvalidValue);
    EXPECT(cudaStreamCreate(&dead), cudaSuccess);
    EXPECT(cudaStreamDestroy(dead), cudaSuccess);
    EXPECT(cudaStreamDestroy(dead), cudaErrorInvalidResourceHandle);
    EXPECT(cudaStreamSynchronize(dead), cudaErrorInvalidResourceHandle);
    EXPECT(cudaMemsetAsync(NULL, 0, 0, dead), cudaErrorInvalidResourceHandle);
    EXPECT(cudaStreamDestroy(NULL), cudaErrorInvalidResourceHandle);
    EXPECT(cudaStreamSynchronize(NULL), cudaSuccess);
    EXPECT(cudaStreamSynchronize(cudaStreamLegacy), cudaSuccess);
    EXPECT(cudaStreamSynchronize(cudaStreamPerThread), cudaSuccess);
    EXPECT(cudaStreamQuery(s), cudaSuccess);
    CHECK(gc_emu_stream_device(dead) == -1 && gc_emu_stream_device(s) == 0 &&
              gc_emu_stream_device(NULL) == 0,
          "gc_emu_stream_device");

    cudaEvent_t a, b, quiet, never, gone;
    EXPECT(cudaEventCreate(&a), cudaSuccess);
    EXPECT(cudaEventCreateWithFlags(&b, cudaEventBlockingSync), cudaSuccess);
    EXPECT(cudaEventCreateWithFlags(&quiet, cudaEventDisableTiming), cudaSuccess);
    EXPECT(cudaEventCreateWithFlags(&never, cudaEventDefault), cudaSuccess);
    EXPECT(cudaEventCreateWithFlags(&gone, cudaEventInterprocess), cudaErrorInvalidValue);
    EXPECT(cudaEventCreate(&gone), cudaSuccess);
    EXPECT(cudaEventDestroy(gone), cudaSuccess);
    EXPECT(cudaEventDestroy(gone), cudaErrorInvalidResourceHandle);
    EXPECT(cudaEventRecord(gone, s), cudaErrorInvalidResourceHandle);
    EXPECT(cudaEventRecord(a, dead), cudaErrorInvalidResourceHandle);

    EXPECT(cudaEventRecord(a, s), cudaSuccess);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT(cudaEventRecord(b, s), cudaSuccess);
    EXPECT(cudaEventRecord(quiet, cudaStreamLegacy), cudaSuccess);
    EXPECT(cudaEventSynchronize(b), cudaSuccess);
    float ms = -1.0f;
    EXPECT(cudaEventElapsedTime(&ms, a, b), cudaSuccess);
    CHECK(ms >= 29.0f && ms < 2000.0f, "elapsed %.3f ms for a 30 ms sleep", ms);
    EXPECT(cudaEventElapsedTime(&ms, b, a), cudaSuccess);
    CHECK(ms < 0.0f, "reversed events: %.3f ms", ms);
    EXPECT(cudaEventElapsedTime(&ms, a, quiet), cudaErrorInvalidResourceHandle);
    EXPECT(cudaEventElapsedTime(&ms, a, never), cudaErrorInvalidResourceHandle);
    EXPECT(cudaEventElapsedTime(&ms, gone, a), cudaErrorInvalidResourceHandle);
    EXPECT(cudaEventElapsedTime(NULL, a, b), cudaErrorInvalidValue);
    EXPECT(cudaStreamWaitEvent(s, quiet, 0), cudaSuccess);
    EXPECT(cudaStreamWaitEvent(s, never, 0), cudaSuccess);
    EXPECT(cudaStreamWaitEvent(s, gone, 0), cudaErrorInvalidResourceHandle);
    EXPECT(cudaStreamWaitEvent(dead, a, 0), cudaErrorInvalidResourceHandle);
    EXPECT(cudaEventQuery(never), cudaSuccess);
    EXPECT(cudaEventSynchronize(gone), cudaErrorInvalidResourceHandle);
    cudaGetLastError();
    for (cudaEvent_t e : {a, b, quiet, never})
        EXPECT(cudaEventDestroy(e), cudaSuccess);
    EXPECT(cudaStreamDestroy(s), cudaSuccess);
}

/* ---------------------------------------------------------------- cuBLAS */

static uint64_t rng = 0x243f6a8885a308d3ull;
static float uniform(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static size_t esize(cudaDataType t)
{
    return t == CUDA_R_32F ? 4 : 2;
}

static float get(cudaDataType t, const void *p, size_t i)
{
    switch (t) {
    case CUDA_R_16F:
        return __half2float(((const __half *)p)[i]);
    case CUDA_R_16BF:
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default:
        return ((const float *)p)[i];
    }
}

static void put(cudaDataType t, void *p, size_t i, float v)
{
    switch (t) {
    case CUDA_R_16F:
        ((__half *)p)[i] = __float2half(v);
        break;
    case CUDA_R_16BF:
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16(v);
        break;
    default:
        ((float *)p)[i] = v;
        break;
    }
}

static float tf32(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, 4);
    return x;
}

/* One GemmEx against C = alpha op(A) op(B) + beta C in double, written out. */
static void gemm_case(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                      int k, cudaDataType ab, cudaDataType ct, cublasComputeType_t comp,
                      float alpha, float beta, int pad)
{
    const bool TA = ta != CUBLAS_OP_N, TB = tb != CUBLAS_OP_N;
    const int ra = TA ? k : m, ca = TA ? m : k, rb = TB ? n : k, cb = TB ? k : n;
    const int lda = ra + pad, ldb = rb + 2 * pad, ldc = m + pad;
    const size_t na = (size_t)lda * ca, nb = (size_t)ldb * cb, nc = (size_t)ldc * n;
    std::vector<char> hA(na * esize(ab)), hB(nb * esize(ab)), hC(nc * esize(ct)),
        out(nc * esize(ct));
    for (size_t i = 0; i < na; i++)
        put(ab, hA.data(), i, uniform());
    for (size_t i = 0; i < nb; i++)
        put(ab, hB.data(), i, uniform());
    for (size_t i = 0; i < nc; i++)
        put(ct, hC.data(), i, uniform());
    void *dA, *dB, *dC;
    cudaMalloc(&dA, hA.size());
    cudaMalloc(&dB, hB.size());
    cudaMalloc(&dC, hC.size());
    cudaMemcpy(dA, hA.data(), hA.size(), cudaMemcpyHostToDevice);
    cudaMemcpy(dB, hB.data(), hB.size(), cudaMemcpyHostToDevice);
    if (beta != 0.0f)
        cudaMemcpy(dC, hC.data(), hC.size(), cudaMemcpyHostToDevice);
    /* else dC keeps the 0xFF (NaN) fill: beta == 0 must not read it, but the padding rows
     * (ldc > m) must stay as they were */
    cublasStatus_t st = cublasGemmEx(h, ta, tb, m, n, k, &alpha, dA, ab, lda, dB, ab, ldb, &beta,
                                     dC, ct, ldc, comp, CUBLAS_GEMM_DEFAULT);
    CHECK(st == CUBLAS_STATUS_SUCCESS, "GemmEx: %s", cublasGetStatusName(st));
    cudaMemcpy(out.data(), dC, out.size(), cudaMemcpyDeviceToHost);
    const bool round_tf32 = comp == CUBLAS_COMPUTE_32F_FAST_TF32;
    bool reported = false;
    int bad_pad = 0;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double sum = 0.0, mag = 0.0;
            for (int l = 0; l < k; l++) {
                float a = get(ab, hA.data(),
                              TA ? (size_t)l + (size_t)i * lda : (size_t)i + (size_t)l * lda);
                float b = get(ab, hB.data(),
                              TB ? (size_t)j + (size_t)l * ldb : (size_t)l + (size_t)j * ldb);
                if (round_tf32) {
                    a = tf32(a);
                    b = tf32(b);
                }
                sum += (double)a * b;
                mag += fabs((double)a * b);
            }
            const size_t at = (size_t)i + (size_t)j * ldc;
            double want = alpha * sum, scale = fabs(alpha) * mag;
            if (beta != 0.0f) {
                want += beta * (double)get(ct, hC.data(), at);
                scale += fabs(beta * (double)get(ct, hC.data(), at));
            }
            const double got = get(ct, out.data(), at);
            /* float sums in runs of 32: a few ulps of float per run, plus C's rounding */
            const double ulp_c = ct == CUDA_R_32F ? 6e-8 : ct == CUDA_R_16F ? 4.9e-4 : 3.9e-3;
            const double tol = scale * (6e-8 * (k / 32 + 32) + ulp_c) + 1e-30;
            if (!(fabs(got - want) <= tol) && !reported) {
                CHECK(false, "op %c%c m%d n%d k%d types %d/%d: C(%d,%d) = %.9g, want %.9g",
                      TA ? 'T' : 'N', TB ? 'T' : 'N', m, n, k, (int)ab, (int)ct, i, j, got, want);
                reported = true; /* one line per case */
            }
        }
        for (int i = m; i < ldc; i++) {
            const size_t at = (size_t)i + (size_t)j * ldc;
            const bool same = beta != 0.0f ? memcmp(out.data() + at * esize(ct),
                                                    hC.data() + at * esize(ct), esize(ct)) == 0
                                           : std::isnan(get(ct, out.data(), at));
            bad_pad += !same;
        }
    }
    checks++;
    CHECK(bad_pad == 0, "op %c%c: %d padding elements of C written", TA ? 'T' : 'N', TB ? 'T' : 'N',
          bad_pad);
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dC);
}

static void test_gemm(void)
{
    printf("cublasGemmEx\n");
    cublasHandle_t h;
    EXPECT_BLAS(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    cudaStream_t s;
    cudaStreamCreate(&s);
    EXPECT_BLAS(cublasSetStream(h, s), CUBLAS_STATUS_SUCCESS);
    EXPECT_BLAS(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH), CUBLAS_STATUS_SUCCESS);
    const cublasOperation_t ops[] = {CUBLAS_OP_N, CUBLAS_OP_T};
    struct {
        cudaDataType ab, c;
        cublasComputeType_t comp;
    } types[] = {{CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_PEDANTIC},
                 {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F},
                 {CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32},
                 {CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F},
                 {CUDA_R_16F, CUDA_R_16F, CUBLAS_COMPUTE_32F},
                 {CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F},
                 {CUDA_R_16BF, CUDA_R_16BF, CUBLAS_COMPUTE_32F_PEDANTIC}};
    const int shapes[][3] = {
        {1, 1, 1},    {7, 5, 3},     {33, 2, 70},
        {130, 3, 45}, {300, 4, 200}, {150, 37, 40}}; /* n > 16 and m > 128: the loops' blocks */
    for (auto &t : types)
        for (cublasOperation_t ta : ops)
            for (cublasOperation_t tb : ops)
                for (auto &sh : shapes) {
                    gemm_case(h, ta, tb, sh[0], sh[1], sh[2], t.ab, t.c, t.comp, 1.0f, 0.0f, 0);
                    gemm_case(h, ta, tb, sh[0], sh[1], sh[2], t.ab, t.c, t.comp, -0.5f, 0.75f, 3);
                }
    gemm_case(h, CUBLAS_OP_N, CUBLAS_OP_N, 9, 4, 0, CUDA_R_32F, CUDA_R_32F, CUBLAS_COMPUTE_32F,
              1.0f, 0.5f, 1); /* k = 0: C = beta C */
    gemm_case(h, CUBLAS_OP_N, CUBLAS_OP_T, 9, 4, 6, CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F,
              0.0f, 2.0f, 1); /* alpha = 0 */

    /* both forms of the loops (transa N and T) add in the same order: bit-identical; and the
     * thread count changes nothing */
    {
        const int m = 200, n = 3, k = 150;
        std::vector<float> A((size_t)m * k), At((size_t)k * m), B((size_t)k * n);
        for (int i = 0; i < m; i++)
            for (int l = 0; l < k; l++)
                At[(size_t)l + (size_t)i * k] = A[(size_t)i + (size_t)l * m] = uniform();
        for (float &v : B)
            v = uniform();
        float *dA, *dAt, *dB, *c1, *c2, *c3;
        cudaMalloc((void **)&dA, A.size() * 4);
        cudaMalloc((void **)&dAt, At.size() * 4);
        cudaMalloc((void **)&dB, B.size() * 4);
        cudaMalloc((void **)&c1, (size_t)m * n * 4);
        cudaMalloc((void **)&c2, (size_t)m * n * 4);
        cudaMalloc((void **)&c3, (size_t)m * n * 4);
        cudaMemcpy(dA, A.data(), A.size() * 4, cudaMemcpyHostToDevice);
        cudaMemcpy(dAt, At.data(), At.size() * 4, cudaMemcpyHostToDevice);
        cudaMemcpy(dB, B.data(), B.size() * 4, cudaMemcpyHostToDevice);
        const float one = 1.0f, zero = 0.0f;
        EXPECT_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m, dB,
                                 CUDA_R_32F, k, &zero, c1, CUDA_R_32F, m,
                                 CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT),
                    CUBLAS_STATUS_SUCCESS);
        EXPECT_BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, dAt, CUDA_R_32F, k, dB,
                                 CUDA_R_32F, k, &zero, c2, CUDA_R_32F, m,
                                 CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT),
                    CUBLAS_STATUS_SUCCESS);
#ifdef _OPENMP
        const int threads = omp_get_max_threads();
        omp_set_num_threads(1);
#endif
        EXPECT_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m, dB,
                                 CUDA_R_32F, k, &zero, c3, CUDA_R_32F, m,
                                 CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT),
                    CUBLAS_STATUS_SUCCESS);
#ifdef _OPENMP
        omp_set_num_threads(threads);
#endif
        std::vector<float> r1((size_t)m * n), r2(r1.size()), r3(r1.size());
        cudaMemcpy(r1.data(), c1, r1.size() * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(r2.data(), c2, r2.size() * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(r3.data(), c3, r3.size() * 4, cudaMemcpyDeviceToHost);
        CHECK(memcmp(r1.data(), r2.data(), r1.size() * 4) == 0, "N and T forms differ");
        CHECK(memcmp(r1.data(), r3.data(), r1.size() * 4) == 0, "1 thread and many differ");

        /* argument checks */
        const void *A_ = dA, *B_ = dB;
        void *C_ = c1;
#define GEMM(h_, ta_, tb_, m_, n_, k_, al_, a_, at_, lda_, b_, ldb_, be_, c_, ct_, ldc_, comp_)    \
    cublasGemmEx(h_, ta_, tb_, m_, n_, k_, al_, a_, at_, lda_, b_, at_, ldb_, be_, c_, ct_, ldc_,  \
                 comp_, CUBLAS_GEMM_DEFAULT)
        const cublasOperation_t N = CUBLAS_OP_N, T = CUBLAS_OP_T;
        const cudaDataType F = CUDA_R_32F;
        const cublasComputeType_t P = CUBLAS_COMPUTE_32F_PEDANTIC;
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m - 1, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_INVALID_VALUE); /* lda < m */
        EXPECT_BLAS(GEMM(h, T, N, m, n, k, &one, A_, F, k - 1, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_INVALID_VALUE); /* lda < k */
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k - 1, &zero, C_, F, m, P),
                    CUBLAS_STATUS_INVALID_VALUE); /* ldb < k */
        EXPECT_BLAS(GEMM(h, N, T, m, n, k, &one, A_, F, m, B_, n - 1, &zero, C_, F, m, P),
                    CUBLAS_STATUS_INVALID_VALUE); /* ldb < n */
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m - 1, P),
                    CUBLAS_STATUS_INVALID_VALUE); /* ldc < m */
        EXPECT_BLAS(GEMM(h, N, N, -1, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_INVALID_VALUE);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, NULL, A_, F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_INVALID_VALUE);
        EXPECT_BLAS(
            GEMM(h, (cublasOperation_t)9, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m, P),
            CUBLAS_STATUS_INVALID_VALUE);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, CUDA_R_16F, m, P),
                    CUBLAS_STATUS_NOT_SUPPORTED); /* 32F inputs, 16F output */
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, CUDA_R_16F, m, B_, k, &zero, C_, F, m,
                         CUBLAS_COMPUTE_32F_FAST_TF32),
                    CUBLAS_STATUS_NOT_SUPPORTED);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, CUDA_R_64F, m, B_, k, &zero, C_, CUDA_R_64F, m,
                         CUBLAS_COMPUTE_64F),
                    CUBLAS_STATUS_NOT_SUPPORTED);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m,
                         (cublasComputeType_t)1234),
                    CUBLAS_STATUS_INVALID_VALUE);
        EXPECT_BLAS(cublasGemmEx(h, N, N, m, n, k, &one, A_, F, m, B_, CUDA_R_16F, k, &zero, C_, F,
                                 m, P, CUBLAS_GEMM_DEFAULT),
                    CUBLAS_STATUS_NOT_SUPPORTED); /* A and B of different types */
        EXPECT_BLAS(GEMM(h, N, N, 0, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_SUCCESS); /* nothing to do */
        EXPECT_BLAS(GEMM(NULL, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_NOT_INITIALIZED);

        /* memory: host matrices, overruns, another device's stream, a sticky context */
        std::vector<float> hostC((size_t)m * n);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A.data(), F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_EXECUTION_FAILED);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, hostC.data(), F, m, P),
                    CUBLAS_STATUS_EXECUTION_FAILED);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m + 1, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_EXECUTION_FAILED); /* lda too large for A's allocation */
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m + 1, P),
                    CUBLAS_STATUS_EXECUTION_FAILED); /* C overruns */
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, (void *)A_, F, m, P),
                    CUBLAS_STATUS_INVALID_VALUE); /* C is A */
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &zero, A.data(), F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_SUCCESS); /* alpha 0: A is not read */
        gc_emu_inject_sticky_error(cudaErrorLaunchFailure);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_EXECUTION_FAILED);
        gc_emu_reset();
        cudaStream_t dead;
        cudaStreamCreate(&dead);
        EXPECT_BLAS(cublasSetStream(h, dead), CUBLAS_STATUS_SUCCESS);
        cudaStreamDestroy(dead);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_EXECUTION_FAILED); /* the stream was destroyed */
        EXPECT_BLAS(cublasSetStream(h, dead), CUBLAS_STATUS_INVALID_VALUE);
        EXPECT_BLAS(cublasSetStream(h, NULL), CUBLAS_STATUS_SUCCESS);
        EXPECT_BLAS(GEMM(h, N, N, m, n, k, &one, A_, F, m, B_, k, &zero, C_, F, m, P),
                    CUBLAS_STATUS_SUCCESS);
        cudaGetLastError();
        CHECK(gc_emu_check_guards() <= 0, "GemmEx wrote out of bounds");
#undef GEMM
        for (float *p : {dA, dAt, dB, c1, c2, c3})
            cudaFree(p);
    }
    EXPECT_BLAS(cublasSetMathMode(h, (cublasMath_t)77), CUBLAS_STATUS_INVALID_VALUE);
    const cublasMath_t tf32_mode = (cublasMath_t)(CUBLAS_TF32_TENSOR_OP_MATH |
                                                  CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION);
    EXPECT_BLAS(cublasSetMathMode(h, tf32_mode), CUBLAS_STATUS_SUCCESS);
    { /* the TF32 math mode lets CUBLAS_COMPUTE_32F round to TF32; _PEDANTIC never does */
        const int m = 20, n = 3, k = 50;
        std::vector<float> A((size_t)m * k), B((size_t)k * n);
        for (float &v : A)
            v = uniform();
        for (float &v : B)
            v = uniform();
        float *dA, *dB, *dC;
        cudaMalloc((void **)&dA, A.size() * 4);
        cudaMalloc((void **)&dB, B.size() * 4);
        cudaMalloc((void **)&dC, (size_t)3 * m * n * 4);
        cudaMemcpy(dA, A.data(), A.size() * 4, cudaMemcpyHostToDevice);
        cudaMemcpy(dB, B.data(), B.size() * 4, cudaMemcpyHostToDevice);
        const float one = 1.0f, zero = 0.0f;
        const cublasComputeType_t comps[3] = {CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_COMPUTE_32F,
                                              CUBLAS_COMPUTE_32F_PEDANTIC};
        for (int c = 0; c < 3; c++)
            EXPECT_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m,
                                     dB, CUDA_R_32F, k, &zero, dC + (size_t)c * m * n, CUDA_R_32F,
                                     m, comps[c], CUBLAS_GEMM_DEFAULT),
                        CUBLAS_STATUS_SUCCESS);
        std::vector<float> r((size_t)3 * m * n);
        cudaMemcpy(r.data(), dC, r.size() * 4, cudaMemcpyDeviceToHost);
        CHECK(memcmp(r.data(), r.data() + m * n, (size_t)m * n * 4) == 0,
              "COMPUTE_32F under the TF32 math mode differs from FAST_TF32");
        CHECK(memcmp(r.data(), r.data() + 2 * m * n, (size_t)m * n * 4) != 0,
              "COMPUTE_32F_PEDANTIC rounded to TF32");
        for (float *p : {dA, dB, dC})
            cudaFree(p);
    }
    EXPECT_BLAS(cublasDestroy(h), CUBLAS_STATUS_SUCCESS);
    EXPECT_BLAS(cublasDestroy(h), CUBLAS_STATUS_NOT_INITIALIZED);
    EXPECT_BLAS(cublasSetStream(h, NULL), CUBLAS_STATUS_NOT_INITIALIZED);
    EXPECT_BLAS(cublasCreate(NULL), CUBLAS_STATUS_INVALID_VALUE);
    cudaStreamDestroy(s);
}

/* The head GEMMs exactly as cuda/backend.cu calls them (row-major through column-major). */
static void test_backend_gemms(void)
{
    printf("the backend's dense GEMMs (row-major trick)\n");
    const int rows = 5, in = 70, out = 33;
    std::vector<float> X((size_t)rows * in), W((size_t)out * in), G((size_t)rows * out);
    for (float &v : X)
        v = uniform();
    for (float &v : W)
        v = uniform();
    for (float &v : G)
        v = uniform();
    float *dX, *dW, *dY, *dG, *dGin;
    cudaMalloc((void **)&dX, X.size() * 4);
    cudaMalloc((void **)&dW, W.size() * 4);
    cudaMalloc((void **)&dG, G.size() * 4);
    cudaMalloc((void **)&dY, (size_t)rows * out * 4);
    cudaMalloc((void **)&dGin, (size_t)rows * in * 4);
    cudaMemcpy(dX, X.data(), X.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dW, W.data(), W.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dG, G.data(), G.size() * 4, cudaMemcpyHostToDevice);
    cublasHandle_t h;
    cublasCreate(&h);
    const float one = 1.0f, zero = 0.0f;
    /* dense_fwd: Y (rows, out) = X (rows, in) W^T, W (out, in) */
    EXPECT_BLAS(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &one, dW, CUDA_R_32F, in,
                             dX, CUDA_R_32F, in, &zero, dY, CUDA_R_32F, out,
                             CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_SUCCESS);
    /* dense_bwd: Gin (rows, in) = G (rows, out) W */
    EXPECT_BLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, &one, dW, CUDA_R_32F, in,
                             dG, CUDA_R_32F, out, &zero, dGin, CUDA_R_32F, in,
                             CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_SUCCESS);
    std::vector<float> Y((size_t)rows * out), Gin((size_t)rows * in);
    cudaMemcpy(Y.data(), dY, Y.size() * 4, cudaMemcpyDeviceToHost);
    cudaMemcpy(Gin.data(), dGin, Gin.size() * 4, cudaMemcpyDeviceToHost);
    double worst_y = 0.0, worst_g = 0.0;
    for (int r = 0; r < rows; r++) {
        for (int o = 0; o < out; o++) {
            double s = 0.0;
            for (int i = 0; i < in; i++)
                s += (double)X[(size_t)r * in + i] * W[(size_t)o * in + i];
            worst_y = std::max(worst_y, fabs(Y[(size_t)r * out + o] - s));
        }
        for (int i = 0; i < in; i++) {
            double s = 0.0;
            for (int o = 0; o < out; o++)
                s += (double)G[(size_t)r * out + o] * W[(size_t)o * in + i];
            worst_g = std::max(worst_g, fabs(Gin[(size_t)r * in + i] - s));
        }
    }
    CHECK(worst_y < 1e-5 && worst_g < 1e-5, "row-major GEMMs: errors %.3g, %.3g", worst_y, worst_g);
    cublasDestroy(h);
    for (float *p : {dX, dW, dY, dG, dGin})
        cudaFree(p);
}

/* ---------------------------------------------------------------- stream capture */

/* A kernel as cuda/kernels.cu writes them, launched through the emulation's GC_LAUNCH path. */
static void add_one(float *p, int n)
{
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n)
        p[i] += 1.0f;
}

static bool all_bytes(const void *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != v)
            return false;
    return true;
}

static bool all_floats(const float *p, int n, float v)
{
    for (int i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static cudaStreamCaptureStatus capture_status(cudaStream_t s)
{
    cudaStreamCaptureStatus st = (cudaStreamCaptureStatus)-1;
    const cudaError_t e = cudaStreamIsCapturing(s, &st);
    return e == cudaSuccess ? st : (cudaStreamCaptureStatus)-1;
}

static void test_capture(void)
{
    printf("stream capture and graphs\n");
    const int n = 50;
    const size_t bytes = n * sizeof(float);
    cudaStream_t s, blocking, dead;
    EXPECT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    EXPECT(cudaStreamCreate(&blocking), cudaSuccess);
    EXPECT(cudaStreamCreate(&dead), cudaSuccess);
    EXPECT(cudaStreamDestroy(dead), cudaSuccess);
    float *a = NULL, *b = NULL, *c = NULL, *h = NULL;
    EXPECT(cudaMalloc((void **)&a, bytes), cudaSuccess);
    EXPECT(cudaMalloc((void **)&b, bytes), cudaSuccess);
    EXPECT(cudaMalloc((void **)&c, bytes), cudaSuccess);
    EXPECT(cudaHostAlloc((void **)&h, bytes, cudaHostAllocDefault), cudaSuccess);
    std::vector<float> zeros(n, 0.0f), pageable(n, 5.0f);
    EXPECT(cudaMemcpy(a, zeros.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    for (int i = 0; i < n; i++)
        h[i] = -1.0f;
    const size_t graphs0 = gc_emu_live_graphs();

    /* where capture cannot begin or end */
    EXPECT(cudaStreamBeginCapture(NULL, cudaStreamCaptureModeGlobal),
           cudaErrorStreamCaptureUnsupported);
    EXPECT(cudaStreamBeginCapture(cudaStreamLegacy, cudaStreamCaptureModeThreadLocal),
           cudaErrorStreamCaptureUnsupported);
    EXPECT(cudaStreamBeginCapture(s, (cudaStreamCaptureMode)7), cudaErrorInvalidValue);
    EXPECT(cudaStreamBeginCapture(dead, cudaStreamCaptureModeGlobal),
           cudaErrorInvalidResourceHandle);
    cudaGraph_t graph = (cudaGraph_t)&graph;
    EXPECT(cudaStreamEndCapture(s, &graph), cudaErrorIllegalState);
    CHECK(graph == NULL, "a failed cudaStreamEndCapture leaves a graph");
    EXPECT(cudaStreamEndCapture(s, NULL), cudaErrorInvalidValue);
    CHECK(capture_status(s) == cudaStreamCaptureStatusNone, "status before any capture");
    CHECK(strcmp(cudaGetErrorName(cudaErrorStreamCaptureInvalidated),
                 "cudaErrorStreamCaptureInvalidated") == 0,
          "capture errors have names");
    cudaGetLastError();

    /* a capture: memset, kernel, device-to-device and device-to-pinned copies: none runs */
    const unsigned long launches0 = gc_emu::launches;
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaErrorIllegalState);
    CHECK(capture_status(s) == cudaStreamCaptureStatusActive, "status while capturing");
    CHECK(capture_status(blocking) == cudaStreamCaptureStatusNone, "another stream's status");
    CHECK(capture_status(NULL) == cudaStreamCaptureStatusNone,
          "the legacy stream with a non-blocking stream capturing");
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    unsigned long long id = 0;
    cudaGraph_t building = NULL;
    EXPECT(cudaStreamGetCaptureInfo(s, &st, &id, &building), cudaSuccess);
    CHECK(st == cudaStreamCaptureStatusActive && id != 0 && building,
          "capture info: status %d id %llu graph %p", (int)st, id, (void *)building);
    size_t ndeps = 0;
    EXPECT(cudaStreamGetCaptureInfo(s, &st, NULL, NULL, NULL, NULL, &ndeps), cudaErrorNotSupported);
    cudaGetLastError();
    EXPECT(cudaMemsetAsync(c, 7, bytes, s), cudaSuccess);
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(a, n);
    EXPECT(cudaGetLastError(), cudaSuccess);
    EXPECT(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(h, b, bytes, cudaMemcpyDeviceToHost, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(b, a, 0, cudaMemcpyDeviceToDevice, s), cudaSuccess);
    EXPECT(cudaMemcpyAsync(b, h, bytes + 4, cudaMemcpyHostToDevice, s), cudaErrorInvalidValue);
    cudaGetLastError(); /* argument errors are still found at the call, and do not invalidate */
    CHECK(gc_emu::launches == launches0, "a captured kernel ran at capture");
    CHECK(all_bytes(c, bytes, 0xFF), "a captured memset ran at capture");
    CHECK(all_floats(a, n, 0.0f) && all_bytes(b, bytes, 0xFF) && all_floats(h, n, -1.0f),
          "captured work ran at capture");
    EXPECT(cudaGraphDestroy(building), cudaErrorIllegalState);
    EXPECT(cudaStreamEndCapture(s, &graph), cudaSuccess);
    CHECK(graph == building, "the graph of the capture info is the captured graph");
    CHECK(capture_status(s) == cudaStreamCaptureStatusNone, "status after the capture");
    EXPECT(cudaStreamGetCaptureInfo(s, &st, &id), cudaSuccess);
    CHECK(st == cudaStreamCaptureStatusNone, "capture info after the capture");
    CHECK(gc_emu_live_graphs() == graphs0 + 1, "%zu graphs live, want %zu", gc_emu_live_graphs(),
          graphs0 + 1);

    cudaGraphExec_t x = NULL, x2 = NULL;
    EXPECT(cudaGraphInstantiate(NULL, graph, 0), cudaErrorInvalidValue);
    EXPECT(cudaGraphInstantiate(&x2, graph, cudaGraphInstantiateFlagUpload), cudaErrorInvalidValue);
    EXPECT(cudaGraphInstantiate(&x2, graph,
                                cudaGraphInstantiateFlagAutoFreeOnLaunch |
                                    cudaGraphInstantiateFlagDeviceLaunch),
           cudaErrorInvalidValue);
    EXPECT(cudaGraphInstantiate(&x2, graph, 0x100), cudaErrorInvalidValue);
    CHECK(x2 == NULL, "a failed instantiation gave %p", (void *)x2);
    EXPECT(cudaGraphInstantiate(&x, graph, 0), cudaSuccess);
    EXPECT(cudaGraphDestroy(graph), cudaSuccess); /* the executable graph does not need it */
    EXPECT(cudaGraphDestroy(graph), cudaErrorInvalidValue);
    EXPECT(cudaGraphInstantiate(&x2, graph, 0), cudaErrorInvalidValue);
    cudaGetLastError();
    CHECK(all_floats(h, n, -1.0f) && gc_emu::launches == launches0, "instantiation ran the graph");

    /* every launch runs it all, in order */
    EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(gc_emu::launches == launches0 + 1, "%lu kernel runs after one launch",
          gc_emu::launches.load() - launches0);
    CHECK(all_bytes(c, bytes, 7), "the graph's memset");
    CHECK(all_floats(a, n, 1.0f) && all_floats(b, n, 1.0f) && all_floats(h, n, 1.0f),
          "one launch: h[0] = %g, want 1", h[0]);
    EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(all_floats(h, n, 2.0f) && gc_emu::launches == launches0 + 2,
          "two launches: h[0] = %g, want 2", h[0]);
    EXPECT(cudaGraphLaunch(x, NULL), cudaSuccess); /* any stream of the graph's device */
    CHECK(all_floats(h, n, 3.0f), "a launch on the legacy stream: h[0] = %g", h[0]);
    EXPECT(cudaGraphLaunch(x, dead), cudaErrorInvalidResourceHandle);

    /* a graph launched into a capture: its nodes become that capture's */
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
    EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
    EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
    CHECK(all_floats(h, n, 3.0f), "a graph launched into a capture ran");
    cudaGraph_t outer = NULL;
    EXPECT(cudaStreamEndCapture(s, &outer), cudaSuccess);
    EXPECT(cudaGraphInstantiate(&x2, outer, 0), cudaSuccess);
    EXPECT(cudaGraphLaunch(x2, s), cudaSuccess);
    CHECK(all_floats(h, n, 5.0f), "the outer graph: h[0] = %g, want 5", h[0]);
    EXPECT(cudaGraphExecDestroy(x2), cudaSuccess);
    EXPECT(cudaGraphDestroy(outer), cudaSuccess);

    EXPECT(cudaGraphExecDestroy(x), cudaSuccess);
    EXPECT(cudaGraphExecDestroy(x), cudaErrorInvalidValue);
    EXPECT(cudaGraphLaunch(x, s), cudaErrorInvalidValue);
    cudaGetLastError();
    CHECK(gc_emu_live_graphs() == graphs0, "%zu graphs left", gc_emu_live_graphs() - graphs0);

    /* what a capture refuses: the call fails, the capture is invalidated (its further work
     * refused), cudaStreamEndCapture gives no graph, and nothing captured ever runs */
    EXPECT(cudaMemset(c, 0, bytes), cudaSuccess);
    cudaEvent_t ev, outside;
    EXPECT(cudaEventCreate(&ev), cudaSuccess);
    EXPECT(cudaEventCreate(&outside), cudaSuccess);
    EXPECT(cudaEventRecord(outside, s), cudaSuccess);
    auto refused = [&](const char *what, cudaStreamCaptureMode mode, cudaStream_t on,
                       cudaError_t want, const std::function<cudaError_t()> &call) {
        EXPECT(cudaStreamBeginCapture(on, mode), cudaSuccess);
        EXPECT(cudaMemsetAsync(c, 1, bytes, on), cudaSuccess);
        const cudaError_t got = call();
        CHECK(got == want, "%s in a capture: %s, want %s", what, cudaGetErrorName(got),
              cudaGetErrorName(want));
        CHECK(capture_status(on) == cudaStreamCaptureStatusInvalidated,
              "%s: the capture is not invalidated", what);
        EXPECT(cudaMemsetAsync(c, 2, bytes, on), cudaErrorStreamCaptureInvalidated);
        gc_emu::make_launch(dim3(1), dim3(32), on, "add_one", add_one)(c, n);
        EXPECT(cudaGetLastError(), cudaErrorStreamCaptureInvalidated);
        cudaGraph_t g = (cudaGraph_t)&g;
        EXPECT(cudaStreamEndCapture(on, &g), cudaErrorStreamCaptureInvalidated);
        CHECK(g == NULL, "%s: an invalidated capture gave a graph", what);
        CHECK(capture_status(on) == cudaStreamCaptureStatusNone, "%s: still capturing", what);
        EXPECT(cudaMemsetAsync(c, 0, bytes, on), cudaSuccess); /* the stream works again */
        cudaGetLastError();
    };
    const cudaStreamCaptureMode TL = cudaStreamCaptureModeThreadLocal,
                                G = cudaStreamCaptureModeGlobal;
    refused("cudaStreamSynchronize", TL, s, cudaErrorStreamCaptureUnsupported,
            [&] { return cudaStreamSynchronize(s); });
    refused("cudaStreamQuery", TL, s, cudaErrorStreamCaptureUnsupported,
            [&] { return cudaStreamQuery(s); });
    refused("cudaDeviceSynchronize", TL, s, cudaErrorStreamCaptureUnsupported,
            [] { return cudaDeviceSynchronize(); });
    void *p = (void *)&p;
    refused("cudaMalloc", TL, s, cudaErrorStreamCaptureUnsupported,
            [&] { return cudaMalloc(&p, 64); });
    CHECK(p == NULL, "a refused cudaMalloc gave %p", p);
    refused("cudaHostAlloc", G, s, cudaErrorStreamCaptureUnsupported,
            [&] { return cudaHostAlloc(&p, 64, cudaHostAllocDefault); });
    refused("cudaFree", TL, s, cudaErrorStreamCaptureUnsupported, [&] { return cudaFree(b); });
    refused("cudaMemcpy", TL, s, cudaErrorStreamCaptureUnsupported,
            [&] { return cudaMemcpy(h, b, bytes, cudaMemcpyDeviceToHost); });
    refused("cudaMemcpyAsync to pageable memory", TL, s, cudaErrorStreamCaptureUnsupported,
            [&] { return cudaMemcpyAsync(pageable.data(), b, bytes, cudaMemcpyDeviceToHost, s); });
    refused("cudaMemcpyAsync from pageable memory", TL, s, cudaErrorStreamCaptureUnsupported,
            [&] { return cudaMemcpyAsync(b, pageable.data(), bytes, cudaMemcpyDefault, s); });
    refused("cudaEventQuery of an event recorded in the capture", TL, s, cudaErrorCapturedEvent,
            [&] {
                cudaEventRecord(ev, s);
                return cudaEventQuery(ev);
            });
    refused("cudaEventSynchronize of an event recorded in the capture", TL, s,
            cudaErrorCapturedEvent, [&] {
                cudaEventRecord(ev, s);
                return cudaEventSynchronize(ev);
            });
    refused("cudaStreamWaitEvent on an event recorded outside", TL, s,
            cudaErrorStreamCaptureIsolation, [&] { return cudaStreamWaitEvent(s, outside, 0); });
    refused("the legacy stream while a blocking stream captures", G, blocking,
            cudaErrorStreamCaptureImplicit, [&] {
                CHECK(capture_status(NULL) == (cudaStreamCaptureStatus)-1,
                      "cudaStreamIsCapturing of the legacy stream");
                CHECK(capture_status(blocking) == cudaStreamCaptureStatusActive,
                      "a query of the legacy stream invalidated the capture");
                return cudaMemsetAsync(c, 3, bytes, NULL);
            });
    refused("cudaStreamSynchronize of the legacy stream", G, blocking,
            cudaErrorStreamCaptureImplicit, [] { return cudaStreamSynchronize(NULL); });
    refused("cudaMalloc in another thread (global capture)", G, s,
            cudaErrorStreamCaptureUnsupported, [&] {
                cudaError_t e = cudaSuccess;
                void *q = NULL;
                std::thread t([&] { e = cudaMalloc(&q, 64); });
                t.join();
                return e;
            });
    CHECK(all_bytes(c, bytes, 0), "work of a refused capture ran");
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    EXPECT(cudaEventQuery(ev), cudaSuccess); /* its capture is over */

    /* what a capture allows */
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT(cudaEventRecord(ev, s), cudaSuccess);
    EXPECT(cudaStreamWaitEvent(s, ev, 0), cudaSuccess); /* an event of the same capture */
    EXPECT(cudaStreamWaitEvent(s, outside, cudaEventWaitExternal), cudaSuccess);
    EXPECT(cudaMemsetAsync(c, 9, bytes, NULL), cudaSuccess); /* legacy: s is non-blocking */
    CHECK(all_bytes(c, bytes, 9), "work on the legacy stream did not run at once");
    void *q = NULL;
    std::thread other([&] { /* a thread-local capture does not concern other threads */
                            EXPECT(cudaMalloc(&q, 64), cudaSuccess);
                            EXPECT(cudaFree(q), cudaSuccess);
                            cudaGraph_t g = NULL;
                            EXPECT(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureWrongThread);
    });
    other.join();
    cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    EXPECT(cudaThreadExchangeStreamCaptureMode(&mode), cudaSuccess);
    CHECK(mode == cudaStreamCaptureModeGlobal, "the default thread mode is %d", (int)mode);
    EXPECT(cudaMalloc(&q, 64), cudaSuccess); /* this thread relaxed: allowed, not captured */
    EXPECT(cudaFree(q), cudaSuccess);
    EXPECT(cudaThreadExchangeStreamCaptureMode(&mode), cudaSuccess);
    CHECK(mode == cudaStreamCaptureModeRelaxed, "the exchanged mode is %d", (int)mode);
    EXPECT(cudaThreadExchangeStreamCaptureMode(NULL), cudaErrorInvalidValue);
    CHECK(capture_status(s) == cudaStreamCaptureStatusActive, "allowed calls invalidated");
    EXPECT(cudaStreamEndCapture(s, &graph), cudaSuccess);
    EXPECT(cudaGraphDestroy(graph), cudaSuccess);
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
    EXPECT(cudaMalloc(&q, 64), cudaSuccess); /* a relaxed capture */
    EXPECT(cudaFree(q), cudaSuccess);
    std::thread ender([&] { EXPECT(cudaStreamEndCapture(s, &graph), cudaSuccess); });
    ender.join();
    EXPECT(cudaGraphDestroy(graph), cudaSuccess);
    cudaGetLastError();

    /* a capture discarded with its stream */
    cudaStream_t gone;
    EXPECT(cudaStreamCreateWithFlags(&gone, cudaStreamNonBlocking), cudaSuccess);
    EXPECT(cudaStreamBeginCapture(gone, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT(cudaMemsetAsync(c, 4, bytes, gone), cudaSuccess);
    EXPECT(cudaStreamDestroy(gone), cudaSuccess);
    CHECK(gc_emu_live_graphs() == graphs0 && all_bytes(c, bytes, 9),
          "a capture discarded with its stream");

    /* memory freed between the capture and the launch: the fault a GPU takes */
    void *tmp = NULL;
    EXPECT(cudaMalloc(&tmp, 256), cudaSuccess);
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT(cudaMemsetAsync(tmp, 0, 256, s), cudaSuccess);
    EXPECT(cudaMemsetAsync(c, 5, bytes, s), cudaSuccess);
    EXPECT(cudaStreamEndCapture(s, &graph), cudaSuccess);
    EXPECT(cudaGraphInstantiate(&x, graph, 0), cudaSuccess);
    EXPECT(cudaGraphDestroy(graph), cudaSuccess);
    EXPECT(cudaFree(tmp), cudaSuccess);
    EXPECT(cudaGraphLaunch(x, s), cudaErrorIllegalAddress);
    CHECK(gc_emu_sticky_error() == cudaErrorIllegalAddress, "the fault is not sticky");
    CHECK(all_bytes(c, bytes, 9), "the nodes after a fault ran");
    EXPECT(cudaGraphExecDestroy(x), cudaErrorIllegalAddress); /* destroyed all the same */
    gc_emu_reset();
    CHECK(gc_emu_live_graphs() == graphs0, "%zu graphs left", gc_emu_live_graphs() - graphs0);

    for (cudaEvent_t e : {ev, outside})
        EXPECT(cudaEventDestroy(e), cudaSuccess);
    for (float *d : {a, b, c})
        EXPECT(cudaFree(d), cudaSuccess);
    EXPECT(cudaFreeHost(h), cudaSuccess);
    EXPECT(cudaStreamDestroy(s), cudaSuccess);
    EXPECT(cudaStreamDestroy(blocking), cudaSuccess);
}

/* cublasGemmEx in a capture, and cuBLAS's workspace. */
static void test_gemm_capture(void)
{
    printf("cublasGemmEx captured; cublasSetWorkspace\n");
    const int m = 37, n = 21, k = 70;
    std::vector<float> A((size_t)m * k), B((size_t)k * n);
    for (float &v : A)
        v = uniform();
    for (float &v : B)
        v = uniform();
    const size_t cbytes = (size_t)m * n * 4, wsbytes = (size_t)1 << 20;
    float *dA, *dB, *dC1, *dC2;
    void *ws;
    cudaMalloc((void **)&dA, A.size() * 4);
    cudaMalloc((void **)&dB, B.size() * 4);
    cudaMalloc((void **)&dC1, cbytes);
    cudaMalloc((void **)&dC2, cbytes);
    cudaMalloc(&ws, wsbytes);
    cudaMemcpy(dA, A.data(), A.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dB, B.data(), B.size() * 4, cudaMemcpyHostToDevice);
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cublasHandle_t hb;
    EXPECT_BLAS(cublasCreate(&hb), CUBLAS_STATUS_SUCCESS);
    EXPECT_BLAS(cublasSetStream(hb, s), CUBLAS_STATUS_SUCCESS);
    EXPECT_BLAS(cublasSetWorkspace(hb, (char *)ws + 16, wsbytes - 16), CUBLAS_STATUS_INVALID_VALUE);
    EXPECT_BLAS(cublasSetWorkspace(hb, NULL, 64), CUBLAS_STATUS_INVALID_VALUE);
    EXPECT_BLAS(cublasSetWorkspace(hb, NULL, 0), CUBLAS_STATUS_SUCCESS);
    EXPECT_BLAS(cublasSetWorkspace((cublasHandle_t)&hb, ws, wsbytes),
                CUBLAS_STATUS_NOT_INITIALIZED);
    EXPECT_BLAS(cublasSetWorkspace(hb, ws, wsbytes), CUBLAS_STATUS_SUCCESS);
    const float one = 1.0f, zero = 0.0f;
    auto gemm = [&](float *C) {
        return cublasGemmEx(hb, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m, dB,
                            CUDA_R_32F, k, &zero, C, CUDA_R_32F, m, CUBLAS_COMPUTE_32F_PEDANTIC,
                            CUBLAS_GEMM_DEFAULT);
    };
    cudaMemset(ws, 0, wsbytes);
    EXPECT_BLAS(gemm(dC1), CUBLAS_STATUS_SUCCESS); /* direct */
    CHECK(all_bytes(ws, wsbytes, 0xFF), "a GEMM did not use its workspace");
    cudaMemset(ws, 0, wsbytes);

    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT_BLAS(gemm(dC2), CUBLAS_STATUS_SUCCESS);
    cudaGraph_t graph = NULL;
    EXPECT(cudaStreamEndCapture(s, &graph), cudaSuccess);
    CHECK(all_bytes(dC2, cbytes, 0xFF) && all_bytes(ws, wsbytes, 0),
          "a captured GEMM ran at capture");
    cudaGraphExec_t x = NULL;
    EXPECT(cudaGraphInstantiate(&x, graph, 0), cudaSuccess);
    EXPECT(cudaGraphDestroy(graph), cudaSuccess);
    EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(memcmp(dC1, dC2, cbytes) == 0, "the captured GEMM differs from the direct one");
    CHECK(all_bytes(ws, wsbytes, 0xFF), "the captured GEMM did not use its workspace");
    cudaMemset(dC2, 0xFF, cbytes);
    EXPECT(cudaGraphLaunch(x, s), cudaSuccess); /* again */
    CHECK(memcmp(dC1, dC2, cbytes) == 0, "the second launch differs");
    EXPECT(cudaGraphExecDestroy(x), cudaSuccess);

    /* the workspace may not overlap a matrix; cublasSetStream gives it back to cuBLAS */
    EXPECT_BLAS(cublasSetWorkspace(hb, dC2, cbytes / 256 * 256), CUBLAS_STATUS_SUCCESS);
    EXPECT_BLAS(gemm(dC2), CUBLAS_STATUS_INVALID_VALUE);
    EXPECT_BLAS(cublasSetWorkspace(hb, ws, wsbytes), CUBLAS_STATUS_SUCCESS);
    EXPECT_BLAS(cublasSetStream(hb, s), CUBLAS_STATUS_SUCCESS);
    cudaMemset(ws, 0, wsbytes);
    EXPECT_BLAS(gemm(dC2), CUBLAS_STATUS_SUCCESS);
    CHECK(all_bytes(ws, wsbytes, 0), "cublasSetStream kept the user workspace");

    /* a GEMM into an invalidated capture is a failed launch */
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    EXPECT(cudaStreamQuery(s), cudaErrorStreamCaptureUnsupported);
    EXPECT_BLAS(gemm(dC2), CUBLAS_STATUS_EXECUTION_FAILED);
    EXPECT(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated);
    cudaGetLastError();

    EXPECT_BLAS(cublasDestroy(hb), CUBLAS_STATUS_SUCCESS);
    for (void *d : {(void *)dA, (void *)dB, (void *)dC1, (void *)dC2, ws})
        EXPECT(cudaFree(d), cudaSuccess);
    EXPECT(cudaStreamDestroy(s), cudaSuccess);
}

/* ---------------------------------------------------------------- the lazy schedule */

/* GC_EMU_SCHEDULE=lazy (the default; the tests above run eager, their rules being about when
 * calls fail): work waits in its stream until something waits for it, so that a host that
 * reads, reuses or frees a buffer before the work on it is done sees what a GPU may show it.
 * Device memory is read here directly (it is host memory in the emulation). */
static void test_lazy(void)
{
    printf("the lazy schedule\n");
    setenv("GC_EMU_SCHEDULE", "lazy", 1);
    gc_emu_reset();
    const int n = 64;
    const size_t bytes = n * sizeof(float);
    cudaStream_t s, t, blocking;
    EXPECT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    EXPECT(cudaStreamCreateWithFlags(&t, cudaStreamNonBlocking), cudaSuccess);
    EXPECT(cudaStreamCreate(&blocking), cudaSuccess);
    float *d = NULL, *d2 = NULL, *h = NULL;
    EXPECT(cudaMalloc((void **)&d, bytes), cudaSuccess);
    EXPECT(cudaMalloc((void **)&d2, bytes), cudaSuccess);
    EXPECT(cudaHostAlloc((void **)&h, bytes, cudaHostAllocDefault), cudaSuccess);
    std::vector<float> zeros(n, 0.0f), page(n, 7.0f);
    EXPECT(cudaMemcpy(d, zeros.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
    CHECK(all_floats(d, n, 0.0f), "cudaMemcpy did not finish before returning");

    /* a kernel and a memset wait for a synchronize */
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    CHECK(all_floats(d, n, 0.0f), "a kernel ran before anything waited for it");
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(all_floats(d, n, 1.0f), "cudaStreamSynchronize did not run the kernel");
    EXPECT(cudaMemsetAsync(d2, 0, bytes, s), cudaSuccess);
    CHECK(all_bytes(d2, bytes, 0xFF), "a memset ran before anything waited for it");
    EXPECT(cudaStreamQuery(s), cudaSuccess);
    CHECK(all_bytes(d2, bytes, 0), "cudaStreamQuery did not run the work");

    /* pinned memory is written when the copy runs; a pageable destination before return */
    for (int i = 0; i < n; i++)
        h[i] = -1.0f;
    cudaEvent_t ev, ev2;
    EXPECT(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), cudaSuccess);
    EXPECT(cudaEventCreate(&ev2), cudaSuccess);
    EXPECT(cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, s), cudaSuccess);
    EXPECT(cudaEventRecord(ev, s), cudaSuccess);
    CHECK(all_floats(h, n, -1.0f), "a copy into pinned memory ran at the call");
    EXPECT(cudaEventSynchronize(ev), cudaSuccess);
    CHECK(all_floats(h, n, 1.0f), "cudaEventSynchronize did not run the copy before it");
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    std::vector<float> out(n, -1.0f);
    EXPECT(cudaMemcpyAsync(out.data(), d, bytes, cudaMemcpyDeviceToHost, s), cudaSuccess);
    CHECK(all_floats(out.data(), n, 2.0f), "a copy into pageable memory returned before it ran");

    /* a pageable source is staged at the call; a pinned or registered one read when it runs */
    EXPECT(cudaMemcpyAsync(d2, page.data(), bytes, cudaMemcpyHostToDevice, s), cudaSuccess);
    std::fill(page.begin(), page.end(), 8.0f);
    for (int i = 0; i < n; i++)
        h[i] = 3.0f;
    EXPECT(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, s), cudaSuccess);
    for (int i = 0; i < n; i++)
        h[i] = 4.0f; /* a host that reuses the slot before the copy is done */
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(all_floats(d2, n, 7.0f), "a pageable source was not staged at the call");
    CHECK(all_floats(d, n, 4.0f), "a pinned source was read at the call, not when the copy ran");
    EXPECT(cudaHostRegister(page.data(), bytes, cudaHostRegisterDefault), cudaSuccess);
    EXPECT(cudaMemcpyAsync(d2, page.data(), bytes, cudaMemcpyHostToDevice, s), cudaSuccess);
    std::fill(page.begin(), page.end(), 9.0f);
    EXPECT(cudaHostUnregister(page.data()), cudaSuccess); /* waits for the copy */
    CHECK(all_floats(d2, n, 9.0f), "a registered source was staged like pageable memory");

    /* events between streams: t's work waits for s's up to the event, not beyond */
    EXPECT(cudaMemsetAsync(d, 0, bytes, s), cudaSuccess);
    EXPECT(cudaEventRecord(ev, s), cudaSuccess);
    EXPECT(cudaMemsetAsync(d2, 0, bytes, s), cudaSuccess);
    EXPECT(cudaStreamWaitEvent(t, ev, 0), cudaSuccess);
    gc_emu::make_launch(dim3(2), dim3(32), t, "add_one", add_one)(d, n);
    EXPECT(cudaStreamSynchronize(t), cudaSuccess);
    CHECK(all_floats(d, n, 1.0f), "the wait did not run s's memset first");
    CHECK(all_floats(d2, n, 9.0f), "s's work after the event ran for t's wait");
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(all_bytes(d2, bytes, 0), "s's work after the event did not run");

    /* without a wait, another stream's pending work is not seen */
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    EXPECT(cudaMemcpyAsync(d2, d, bytes, cudaMemcpyDeviceToDevice, t), cudaSuccess);
    EXPECT(cudaStreamSynchronize(t), cudaSuccess);
    CHECK(all_floats(d2, n, 1.0f), "t's copy saw s's kernel without waiting for it");
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);

    /* the legacy stream synchronizes with blocking streams only */
    gc_emu::make_launch(dim3(2), dim3(32), blocking, "add_one", add_one)(d, n);
    EXPECT(cudaMemcpy(out.data(), d, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    CHECK(all_floats(out.data(), n, 3.0f), "cudaMemcpy did not wait for a blocking stream");
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    EXPECT(cudaMemcpy(out.data(), d, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    CHECK(all_floats(out.data(), n, 3.0f), "cudaMemcpy waited for a non-blocking stream");

    /* timing: not ready before its stream got there */
    EXPECT(cudaEventRecord(ev2, s), cudaSuccess);
    cudaEvent_t ev3;
    EXPECT(cudaEventCreate(&ev3), cudaSuccess);
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    EXPECT(cudaEventRecord(ev3, s), cudaSuccess);
    float ms = -1.0f;
    EXPECT(cudaEventElapsedTime(&ms, ev2, ev3), cudaErrorNotReady);
    EXPECT(cudaEventQuery(ev3), cudaSuccess); /* runs the work: a poll ends */
    EXPECT(cudaEventElapsedTime(&ms, ev2, ev3), cudaSuccess);
    CHECK(ms >= 0.0f && all_floats(d, n, 5.0f), "elapsed %.3f ms; d[0] = %g", ms, d[0]);

    /* a free waits for the work issued before it; so does a stream's destruction */
    for (int i = 0; i < n; i++)
        h[i] = -1.0f;
    EXPECT(cudaMemcpyAsync(h, d, bytes, cudaMemcpyDeviceToHost, t), cudaSuccess);
    EXPECT(cudaFree(d2), cudaSuccess);
    CHECK(all_floats(h, n, 5.0f), "cudaFree did not wait for another stream's copy");
    gc_emu::make_launch(dim3(2), dim3(32), t, "add_one", add_one)(d, n);
    EXPECT(cudaStreamDestroy(t), cudaSuccess); /* returns at once; the work still runs */
    CHECK(all_floats(d, n, 5.0f), "a destroyed stream's work ran at the destroy");
    EXPECT(cudaDeviceSynchronize(), cudaSuccess);
    CHECK(all_floats(d, n, 6.0f), "a destroyed stream's work did not run at a device sync");

    /* an event recorded again: an earlier record running late does not set its time */
    cudaStream_t u;
    cudaEvent_t start;
    EXPECT(cudaStreamCreateWithFlags(&u, cudaStreamNonBlocking), cudaSuccess);
    EXPECT(cudaEventCreate(&start), cudaSuccess);
    EXPECT(cudaEventRecord(ev2, s), cudaSuccess); /* pending on s */
    EXPECT(cudaEventRecord(start, u), cudaSuccess);
    EXPECT(cudaEventRecord(ev2, u), cudaSuccess);
    EXPECT(cudaEventSynchronize(ev2), cudaSuccess);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT(cudaStreamSynchronize(s), cudaSuccess); /* runs the first record of ev2 */
    ms = -1.0f;
    EXPECT(cudaEventElapsedTime(&ms, start, ev2), cudaSuccess);
    CHECK(ms >= 0.0f && ms < 40.0f, "elapsed %.3f ms: a stale record set the time", ms);
    EXPECT(cudaEventDestroy(start), cudaSuccess);
    EXPECT(cudaStreamDestroy(u), cudaSuccess);

    /* a copy between host buffers is done when it returns */
    float *h2 = NULL;
    EXPECT(cudaHostAlloc((void **)&h2, bytes, cudaHostAllocDefault), cudaSuccess);
    for (int i = 0; i < n; i++)
        h[i] = 11.0f;
    EXPECT(cudaMemcpyAsync(h2, h, bytes, cudaMemcpyHostToHost, s), cudaSuccess);
    CHECK(all_floats(h2, n, 11.0f), "a host-to-host copy was still to run at its return");
    EXPECT(cudaFreeHost(h2), cudaSuccess);

    /* a graph's launch waits too */
    cudaGraph_t g = NULL;
    cudaGraphExec_t x = NULL;
    EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    EXPECT(cudaStreamEndCapture(s, &g), cudaSuccess);
    EXPECT(cudaGraphInstantiate(&x, g, 0), cudaSuccess);
    EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
    CHECK(all_floats(d, n, 6.0f), "a graph ran at its launch");
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(all_floats(d, n, 7.0f), "a graph did not run at the synchronize");
    EXPECT(cudaGraphExecDestroy(x), cudaSuccess);
    EXPECT(cudaGraphDestroy(g), cudaSuccess);

    /* pending work when a fault is injected is dropped: a faulted context runs nothing; and
     * at gc_emu_reset (a device reset) */
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    gc_emu_inject_sticky_error(cudaErrorIllegalAddress);
    EXPECT(cudaStreamSynchronize(s), cudaErrorIllegalAddress);
    gc_emu_reset();
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(all_floats(d, n, 7.0f), "work ran after a fault");
    gc_emu::make_launch(dim3(2), dim3(32), s, "add_one", add_one)(d, n);
    gc_emu_reset();
    EXPECT(cudaStreamSynchronize(s), cudaSuccess);
    CHECK(all_floats(d, n, 7.0f), "work queued before gc_emu_reset ran after it");

    for (cudaEvent_t e : {ev, ev2, ev3})
        EXPECT(cudaEventDestroy(e), cudaSuccess);
    EXPECT(cudaFree(d), cudaSuccess);
    EXPECT(cudaFreeHost(h), cudaSuccess);
    EXPECT(cudaStreamDestroy(s), cudaSuccess);
    EXPECT(cudaStreamDestroy(blocking), cudaSuccess);
}

int main(void)
{
    const auto t0 = std::chrono::steady_clock::now();
    setenv("GC_EMU_SCHEDULE", "eager", 1);
    env(NULL, NULL);
    test_allocations();
    test_guards();
    test_copies();
    test_limit_and_devices();
    test_errors();
    test_streams_events();
    test_gemm();
    test_backend_gemms();
    test_capture();
    test_gemm_capture();
    test_lazy();
    cudaGetLastError();
    CHECK(gc_emu_device_bytes_in_use() == 0 && gc_emu_live_allocations() == 0,
          "the test leaked %zu bytes in %zu allocations", gc_emu_device_bytes_in_use(),
          gc_emu_live_allocations());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("%d checks, %d failures (%.2f s)\n", checks, failures, s);
    return failures ? 1 : 0;
}
