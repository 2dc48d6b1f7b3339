/*
 * mock_cudart.cpp — a CPU stand-in for the CUDA runtime (libcudart), so that the CUDA
 * backend (the .cu files of cuda/, built by the host compiler with GC_CUDA_EMULATE) runs, host
 * orchestration included, on machines without a GPU, and is compared with the CPU reference.
 *
 * The emulated device is strict where a GPU would fault, corrupt or silently differ:
 *   - memory: one table of allocations (device, managed, pinned host), looked up by range, so
 *     that pointers inside an allocation are known; device memory starts as 0xFF bytes (NaN
 *     in float, half and bf16), never zeros, so that reading what nothing wrote shows up;
 *     guard bytes before and after every allocation are checked at free and at every
 *     synchronize (a corruption is reported on stderr and becomes a sticky
 *     cudaErrorIllegalAddress), or, under AddressSanitizer, poisoned so that ASan stops at
 *     the first access, read or write; a memory limit per device (GC_EMU_DEVICE_MEMORY).
 *   - copies and memsets: the direction is checked against the pointers' kinds and the range
 *     against the allocation (an overrun is cudaErrorInvalidValue with a line on stderr).
 *   - streams and events: real handles, never reused, so that a destroyed one is caught;
 *     all work runs synchronously in issue order (a stream is always idle), events hold a
 *     steady-clock time.
 *   - devices: GC_EMU_DEVICES of them (properties of an H100-like 9.0 part); the current
 *     device is per thread; memory, streams and events belong to the device current at
 *     their creation; an event recorded on another device's stream fails, as documented.
 *   - errors: a per-thread last error set by every failing call; gc_emu_inject_sticky_error
 *     poisons the context as a kernel fault does (mock_cudart.h). Device queries
 *     (cudaGetDeviceCount, cudaGetDeviceProperties, cudaGetDevice, versions) still answer.
 * What it cannot see: races between streams, work that a real GPU would still be running
 * when the host reads, reuses or frees its buffers (everything here is finished at once),
 * host code dereferencing device pointers (device memory is host memory here), reads past
 * an allocation within its guard bytes (outside an ASan build).
 */
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "mock_cudart.h"

/* Under AddressSanitizer the guards are poisoned instead of checked: any read or write of
 * them stops the program at the faulting access, with its stack (a pattern check would only
 * see writes, later, and would hide reads from ASan, the guards being inside the block). */
#if defined(__SANITIZE_ADDRESS__)
#define GC_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GC_EMU_ASAN 1
#endif
#endif
#ifdef GC_EMU_ASAN
#include <sanitizer/asan_interface.h>
#define GUARDS_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define GUARDS_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define GUARDS_POISON(p, n) ((void)(p), (void)(n))
#define GUARDS_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace
{

typedef std::chrono::steady_clock clock_type;

const int MAX_DEVICES = 64;
const size_t DEFAULT_MEMORY = (size_t)80 << 30;
const unsigned char FILL = 0xFF; /* fresh allocations: NaN in float, half and bf16 */
const size_t TAIL_GUARD = 256;   /* at least this many guard bytes after an allocation */

enum mem_kind { MEM_DEVICE, MEM_MANAGED, MEM_PINNED, MEM_PAGEABLE };

const char *kind_name(mem_kind k)
{
    switch (k) {
    case MEM_DEVICE:
        return "device";
    case MEM_MANAGED:
        return "managed";
    case MEM_PINNED:
        return "pinned host";
    default:
        return "pageable host";
    }
}

struct allocation {
    char *block;  /* what malloc returned: [front guard][user bytes][tail guard] */
    size_t front; /* bytes before the user pointer (the alignment) */
    size_t size;  /* bytes asked for */
    size_t block_bytes;
    size_t charged; /* against the device's memory: size rounded up to 256 */
    mem_kind kind;
    int device;
};

struct stream_rec {
    int device;
    unsigned flags;
};

struct event_rec {
    int device;
    unsigned flags;
    bool recorded;
    clock_type::time_point when;
};

struct emu_state {
    std::mutex mu;
    std::map<uintptr_t, allocation> allocs; /* by user pointer */
    std::map<uintptr_t, stream_rec> streams;
    std::map<uintptr_t, event_rec> events;
    uintptr_t next_handle = 0x5eed0000; /* streams and events: never reused */
    /* the environment's settings: atomic, as gc_emu_reset may re-read them at any time */
    std::atomic<int> n_devices{1};
    std::atomic<size_t> limit{DEFAULT_MEMORY};
    size_t used[MAX_DEVICES] = {};
    size_t live = 0;
    std::atomic<bool> quiet{false};
    std::atomic<int> sticky{0};
    std::atomic<unsigned> generation{1};
};

void read_env(emu_state *s)
{
    const char *d = getenv("GC_EMU_DEVICES");
    int n = 1;
    if (d && *d)
        n = (int)std::max(0L, std::min(strtol(d, NULL, 10), (long)MAX_DEVICES));
    s->n_devices = n;
    const char *m = getenv("GC_EMU_DEVICE_MEMORY");
    s->limit = m && *m ? (size_t)strtoull(m, NULL, 10) : DEFAULT_MEMORY;
    const char *q = getenv("GC_EMU_QUIET");
    s->quiet = q && *q && strcmp(q, "0") != 0;
}

/* Never destroyed: a static destructor elsewhere may still free device memory at exit. */
emu_state &S()
{
    static emu_state *s = [] {
        emu_state *n = new emu_state;
        read_env(n);
        return n;
    }();
    return *s;
}

void note(const char *fmt, ...)
{
    if (S().quiet)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[cuda emulation] %s\n", line);
}

/* the runtime's per-thread state */
thread_local cudaError_t t_error = cudaSuccess;
thread_local unsigned t_error_gen = 0;
thread_local int t_device = 0;

cudaError_t fail(cudaError_t e)
{
    t_error = e;
    t_error_gen = S().generation.load();
    return e;
}

cudaError_t pending_error()
{
    return t_error_gen == S().generation.load() ? t_error : cudaSuccess;
}

/* At the entry of every call that needs the device: a sticky error or no device at all. */
cudaError_t gate()
{
    emu_state &s = S();
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    if (s.n_devices == 0)
        return fail(cudaErrorNoDevice);
    if (t_device >= s.n_devices) /* the device count shrank under gc_emu_reset */
        return fail(cudaErrorInvalidDevice);
    return cudaSuccess;
}

unsigned char guard_byte(size_t i)
{
    return (unsigned char)(0xA5u ^ (i * 37u));
}

/* The allocation holding p (user bytes only), or NULL. Caller holds the lock. */
allocation *find_locked(const void *p)
{
    emu_state &s = S();
    if (!p || s.allocs.empty())
        return NULL;
    auto it = s.allocs.upper_bound((uintptr_t)p);
    if (it == s.allocs.begin())
        return NULL;
    --it;
    allocation &a = it->second;
    if ((uintptr_t)p < it->first + a.size)
        return &a;
    return NULL;
}

/* Describes where p is (for messages) when it is not inside any allocation's user bytes:
 * in a guard, or just past the end of one. */
void describe_outside_locked(const void *p, char *buf, size_t len)
{
    emu_state &s = S();
    snprintf(buf, len, "not memory the emulated runtime allocated");
    auto it = s.allocs.upper_bound((uintptr_t)p);
    if (it != s.allocs.end()) {
        const allocation &a = it->second;
        if ((uintptr_t)p >= (uintptr_t)a.block) {
            snprintf(buf, len, "%zu bytes before a %s allocation of %zu bytes",
                     (size_t)(it->first - (uintptr_t)p), kind_name(a.kind), a.size);
            return;
        }
    }
    if (it != s.allocs.begin()) {
        --it;
        const allocation &a = it->second;
        if ((uintptr_t)p < (uintptr_t)a.block + a.block_bytes)
            snprintf(buf, len, "%zu bytes past the end of a %s allocation of %zu bytes",
                     (size_t)((uintptr_t)p - it->first - a.size), kind_name(a.kind), a.size);
    }
}

mem_kind kind_of_locked(const void *p, allocation **out)
{
    allocation *a = find_locked(p);
    if (out)
        *out = a;
    return a ? a->kind : MEM_PAGEABLE;
}

/* 0 when the guards of a are intact; else prints and returns 1. */
int check_one_guard_locked(uintptr_t user, allocation &a, const char *when)
{
#ifdef GC_EMU_ASAN
    (void)user, (void)a, (void)when;
    return 0; /* poisoned: ASan reports any access when it happens */
#endif
    const unsigned char *b = (const unsigned char *)a.block;
    size_t bad_front = 0, bad_tail = 0, first_tail = (size_t)-1, first_front = (size_t)-1;
    for (size_t i = 0; i < a.front; i++)
        if (b[i] != guard_byte(i)) {
            bad_front++;
            first_front = std::min(first_front, a.front - i);
        }
    const size_t tail0 = a.front + a.size;
    for (size_t i = tail0; i < a.block_bytes; i++)
        if (b[i] != guard_byte(i)) {
            bad_tail++;
            if (first_tail == (size_t)-1)
                first_tail = i - tail0;
        }
    if (!bad_front && !bad_tail)
        return 0;
    if (bad_tail)
        note("%s: memory corruption: %zu guard byte(s) written after the end of a %s "
             "allocation of %zu bytes at %p (the first at end + %zu): an out-of-bounds write "
             "(reported as cudaErrorIllegalAddress)",
             when, bad_tail, kind_name(a.kind), a.size, (void *)user, first_tail);
    if (bad_front)
        note("%s: memory corruption: %zu guard byte(s) written before the start of a %s "
             "allocation of %zu bytes at %p (the first at start - %zu): an out-of-bounds write "
             "(reported as cudaErrorIllegalAddress)",
             when, bad_front, kind_name(a.kind), a.size, (void *)user, first_front);
    /* repaired, so that one corruption is reported once */
    unsigned char *w = (unsigned char *)a.block;
    for (size_t i = 0; i < a.front; i++)
        w[i] = guard_byte(i);
    for (size_t i = tail0; i < a.block_bytes; i++)
        w[i] = guard_byte(i);
    return 1;
}

int check_guards_locked(const char *when)
{
    int bad = 0;
    for (auto &kv : S().allocs)
        bad += check_one_guard_locked(kv.first, kv.second, when);
    if (bad) {
        int expected = 0;
        S().sticky.compare_exchange_strong(expected, (int)cudaErrorIllegalAddress);
    }
    return bad;
}

/* A synchronize: the guards checked, then the pending sticky error if any. */
cudaError_t synchronize(const char *when)
{
    emu_state &s = S();
    {
        std::lock_guard<std::mutex> lock(s.mu);
        check_guards_locked(when);
    }
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    return cudaSuccess;
}

cudaError_t allocate(void **out, size_t size, mem_kind kind, const char *who)
{
    if (!out)
        return fail(cudaErrorInvalidValue);
    *out = NULL;
    if (cudaError_t e = gate())
        return e;
    if (size == 0) /* as the runtime: success and a NULL pointer */
        return cudaSuccess;
    emu_state &s = S();
    const size_t align = kind == MEM_PINNED ? 4096 : 256;
    const size_t charged = (size + 255) / 256 * 256;
    if (size > ((size_t)1 << 60))
        return fail(cudaErrorMemoryAllocation);
    const size_t block_bytes = align + (size + TAIL_GUARD + align - 1) / align * align;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        if (kind != MEM_PINNED && s.used[t_device] + charged > s.limit) {
            note("%s(%zu bytes): out of memory on emulated device %d (%zu of %zu bytes in "
                 "use; GC_EMU_DEVICE_MEMORY)",
                 who, size, t_device, s.used[t_device], s.limit.load());
            return fail(cudaErrorMemoryAllocation);
        }
        if (kind != MEM_PINNED) /* reserved before the (slow) fill, outside the lock */
            s.used[t_device] += charged;
    }
    char *block = (char *)aligned_alloc(align, block_bytes);
    if (!block) {
        std::lock_guard<std::mutex> lock(s.mu);
        if (kind != MEM_PINNED)
            s.used[t_device] -= charged;
        note("%s(%zu bytes): the host could not provide the memory", who, size);
        return fail(cudaErrorMemoryAllocation);
    }
    for (size_t i = 0; i < align; i++)
        block[i] = (char)guard_byte(i);
    memset(block + align, FILL, size);
    for (size_t i = align + size; i < block_bytes; i++)
        block[i] = (char)guard_byte(i);
    GUARDS_POISON(block, align);
    GUARDS_POISON(block + align + size, block_bytes - align - size);
    allocation a;
    a.block = block;
    a.front = align;
    a.size = size;
    a.block_bytes = block_bytes;
    a.charged = kind == MEM_PINNED ? 0 : charged;
    a.kind = kind;
    a.device = t_device;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        s.allocs[(uintptr_t)(block + align)] = a;
        s.live++;
    }
    *out = block + align;
    return cudaSuccess;
}

/* Frees p when it starts an allocation of one of the kinds wanted; the guards are checked. */
cudaError_t release(void *p, bool pinned, const char *who)
{
    emu_state &s = S();
    cudaError_t e = cudaSuccess;
    if (p) {
        std::lock_guard<std::mutex> lock(s.mu);
        auto it = s.allocs.find((uintptr_t)p);
        const bool kind_ok = it != s.allocs.end() && (pinned ? it->second.kind == MEM_PINNED
                                                             : it->second.kind != MEM_PINNED);
        if (!kind_ok) {
            allocation *in = find_locked(p);
            char where[160];
            if (in) {
                const size_t off = (size_t)((char *)p - (in->block + in->front));
                if (off == 0)
                    snprintf(where, sizeof where, "the start of a %s allocation of %zu bytes",
                             kind_name(in->kind), in->size);
                else
                    snprintf(where, sizeof where,
                             "at offset %zu inside a %s allocation of %zu bytes", off,
                             kind_name(in->kind), in->size);
            } else {
                describe_outside_locked(p, where, sizeof where);
            }
            note("%s(%p): not the start of a %s allocation (it is %s%s)", who, p,
                 pinned ? "pinned host" : "device or managed", where, in ? "" : "; freed already?");
            e = cudaErrorInvalidValue;
        } else {
            allocation a = it->second;
            if (check_one_guard_locked(it->first, a, who)) {
                int expected = 0;
                s.sticky.compare_exchange_strong(expected, (int)cudaErrorIllegalAddress);
            }
            s.used[a.device] -= a.charged;
            s.live--;
            s.allocs.erase(it);
            GUARDS_UNPOISON(a.block, a.block_bytes);
            free(a.block);
        }
    }
    if (int st = s.sticky.load()) /* released all the same: "errors of earlier launches" */
        return fail((cudaError_t)st);
    if (s.n_devices == 0)
        return fail(cudaErrorNoDevice);
    return e ? fail(e) : cudaSuccess;
}

/* The device a stream belongs to, or -1. Caller holds the lock. */
int stream_device_locked(cudaStream_t st)
{
    if (st == 0 || st == cudaStreamLegacy || st == cudaStreamPerThread)
        return t_device;
    auto it = S().streams.find((uintptr_t)st);
    return it == S().streams.end() ? -1 : it->second.device;
}

cudaError_t check_stream(cudaStream_t st, const char *who)
{
    std::lock_guard<std::mutex> lock(S().mu);
    if (stream_device_locked(st) < 0) {
        note("%s: stream %p is not a live stream (destroyed, or never created)", who, (void *)st);
        return cudaErrorInvalidResourceHandle;
    }
    return cudaSuccess;
}

bool is_dev(mem_kind k)
{
    return k == MEM_DEVICE || k == MEM_MANAGED;
}

/* The range [p, p + count) inside its allocation when p is in one; the kind into *kind. */
cudaError_t check_range_locked(const void *p, size_t count, const char *who, const char *role,
                               mem_kind *kind)
{
    allocation *a = NULL;
    *kind = kind_of_locked(p, &a);
    if (a) {
        const size_t off = (size_t)((uintptr_t)p - (uintptr_t)(a->block + a->front));
        if (count > a->size - off) {
            note("%s: the %s range of %zu bytes at %p runs %zu bytes past the end of its %s "
                 "allocation of %zu bytes (it starts at offset %zu)",
                 who, role, count, p, count - (a->size - off), kind_name(a->kind), a->size, off);
            return cudaErrorInvalidValue;
        }
    }
    return cudaSuccess;
}

cudaError_t copy(void *dst, const void *src, size_t count, cudaMemcpyKind kind, cudaStream_t st,
                 const char *who)
{
    if (cudaError_t e = gate())
        return e;
    if ((int)kind < (int)cudaMemcpyHostToHost || (int)kind > (int)cudaMemcpyDefault)
        return fail(cudaErrorInvalidMemcpyDirection);
    if (cudaError_t e = check_stream(st, who))
        return fail(e);
    if (count == 0)
        return cudaSuccess;
    if (!dst || !src) {
        note("%s: NULL %s pointer for %zu bytes", who, dst ? "source" : "destination", count);
        return fail(cudaErrorInvalidValue);
    }
    mem_kind kd, ks;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        cudaError_t e = check_range_locked(dst, count, who, "destination", &kd);
        if (!e)
            e = check_range_locked(src, count, who, "source", &ks);
        if (e)
            return fail(e);
    }
    static const char *const names[] = {"cudaMemcpyHostToHost", "cudaMemcpyHostToDevice",
                                        "cudaMemcpyDeviceToHost", "cudaMemcpyDeviceToDevice",
                                        "cudaMemcpyDefault"};
    bool ok = true;
    switch (kind) {
    case cudaMemcpyHostToHost:
        ok = kd != MEM_DEVICE && ks != MEM_DEVICE;
        break;
    case cudaMemcpyHostToDevice:
        ok = is_dev(kd) && ks != MEM_DEVICE;
        break;
    case cudaMemcpyDeviceToHost:
        ok = is_dev(ks) && kd != MEM_DEVICE;
        break;
    case cudaMemcpyDeviceToDevice:
        ok = is_dev(kd) && is_dev(ks);
        break;
    default:
        break;
    }
    if (!ok) {
        note("%s(%p <- %p, %zu bytes, %s): the destination is %s memory and the source %s "
             "memory",
             who, dst, src, count, names[(int)kind], kind_name(kd), kind_name(ks));
        return fail(cudaErrorInvalidValue);
    }
    memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t set(void *p, int value, size_t count, cudaStream_t st, const char *who)
{
    if (cudaError_t e = gate())
        return e;
    if (cudaError_t e = check_stream(st, who))
        return fail(e);
    if (count == 0)
        return cudaSuccess;
    mem_kind k;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        if (cudaError_t e = check_range_locked(p, count, who, "destination", &k))
            return fail(e);
    }
    if (!is_dev(k)) {
        note("%s(%p, %zu bytes): %s memory, not device memory", who, p, count, kind_name(k));
        return fail(cudaErrorInvalidValue);
    }
    memset(p, value, count);
    return cudaSuccess;
}

uintptr_t new_handle_locked()
{
    emu_state &s = S();
    s.next_handle += 0x10;
    return s.next_handle;
}

struct err_entry {
    cudaError_t code;
    const char *name, *text;
};

#define E(c, t)                                                                                    \
    {                                                                                              \
        c, #c, t                                                                                   \
    }
const err_entry error_table[] = {
    E(cudaSuccess, "no error"),
    E(cudaErrorInvalidValue, "invalid argument"),
    E(cudaErrorMemoryAllocation, "out of memory"),
    E(cudaErrorInitializationError, "initialization error"),
    E(cudaErrorCudartUnloading, "driver shutting down"),
    E(cudaErrorInvalidConfiguration, "invalid configuration argument"),
    E(cudaErrorInvalidMemcpyDirection, "invalid copy direction for memcpy"),
    E(cudaErrorInsufficientDriver, "CUDA driver version is insufficient for CUDA runtime version"),
    E(cudaErrorDevicesUnavailable, "CUDA-capable device(s) is/are busy or unavailable"),
    E(cudaErrorNoDevice, "no CUDA-capable device is detected"),
    E(cudaErrorInvalidDevice, "invalid device ordinal"),
    E(cudaErrorECCUncorrectable, "uncorrectable ECC error encountered"),
    E(cudaErrorNoKernelImageForDevice, "no kernel image is available for execution on the device"),
    E(cudaErrorInvalidResourceHandle, "invalid resource handle"),
    E(cudaErrorIllegalState, "the operation cannot be performed in the present state"),
    E(cudaErrorNotReady, "device not ready"),
    E(cudaErrorIllegalAddress, "an illegal memory access was encountered"),
    E(cudaErrorLaunchOutOfResources, "too many resources requested for launch"),
    E(cudaErrorLaunchTimeout, "the launch timed out and was terminated"),
    E(cudaErrorContextIsDestroyed, "context is destroyed"),
    E(cudaErrorAssert, "device-side assert triggered"),
    E(cudaErrorHardwareStackError, "hardware stack error"),
    E(cudaErrorIllegalInstruction, "an illegal instruction was encountered"),
    E(cudaErrorMisalignedAddress, "misaligned address"),
    E(cudaErrorInvalidAddressSpace, "operation not supported on global/shared address space"),
    E(cudaErrorInvalidPc, "invalid program counter"),
    E(cudaErrorLaunchFailure, "unspecified launch failure"),
    E(cudaErrorNotPermitted, "operation not permitted"),
    E(cudaErrorNotSupported, "operation not supported"),
    E(cudaErrorUnknown, "unknown error"),
};
#undef E

const err_entry *lookup_error(cudaError_t e)
{
    for (const err_entry &x : error_table)
        if (x.code == e)
            return &x;
    return NULL;
}

} /* namespace */

/* ---------------------------------------------------------------- test hooks */

extern "C" void gc_emu_inject_sticky_error(int code)
{
    S().sticky.store(code);
}

extern "C" void gc_emu_reset(void)
{
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    s.sticky.store(0);
    s.generation.fetch_add(1);
    read_env(&s);
}

extern "C" int gc_emu_sticky_error(void)
{
    return S().sticky.load();
}

extern "C" size_t gc_emu_device_bytes_in_use(void)
{
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    size_t total = 0;
    for (int d = 0; d < MAX_DEVICES; d++)
        total += s.used[d];
    return total;
}

extern "C" size_t gc_emu_live_allocations(void)
{
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    return s.live;
}

extern "C" int gc_emu_check_device_range(const void *p, size_t bytes, const char *what)
{
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    allocation *a = find_locked(p);
    if (!a && bytes == 0 && p) { /* one past the end of an allocation */
        a = find_locked((const char *)p - 1);
        if (a && (const char *)p != a->block + a->front + a->size)
            a = NULL;
    }
    if (!a) {
        char where[160];
        describe_outside_locked(p, where, sizeof where);
        note("%s: %p is not device memory (%s)", what, p, where);
        return -1;
    }
    if (a->kind == MEM_PINNED) {
        note("%s: %p is pinned host memory, not device memory", what, p);
        return -1;
    }
    if (a->kind == MEM_DEVICE && a->device != t_device) {
        note("%s: %p is memory of device %d while device %d is current (no peer access)", what, p,
             a->device, t_device);
        return -1;
    }
    const size_t off = (size_t)((const char *)p - (a->block + a->front));
    if (bytes > a->size - off) {
        note("%s: %zu bytes at %p run %zu bytes past the end of a %s allocation of %zu bytes "
             "(from offset %zu)",
             what, bytes, p, bytes - (a->size - off), kind_name(a->kind), a->size, off);
        return -1;
    }
    return 0;
}

extern "C" int gc_emu_launch_check(cudaStream_t stream, const char *what)
{
    if (cudaError_t e = gate())
        return e;
    int dev;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        dev = stream_device_locked(stream);
    }
    if (dev < 0) {
        note("%s: launch on stream %p, which is not a live stream", what, (void *)stream);
        return fail(cudaErrorInvalidResourceHandle);
    }
    if (dev != t_device) {
        note("%s: launch on a stream of device %d while device %d is current", what, dev, t_device);
        return fail(cudaErrorInvalidResourceHandle);
    }
    return cudaSuccess;
}

extern "C" int gc_emu_launch_config_error(const char *what, unsigned gx, unsigned gy,
                                          unsigned gz, unsigned bx, unsigned by, unsigned bz)
{
    note("%s: launch configuration grid (%u, %u, %u) block (%u, %u, %u) is beyond the "
         "device's limits", what, gx, gy, gz, bx, by, bz);
    return fail(cudaErrorInvalidConfiguration);
}

extern "C" int gc_emu_stream_device(cudaStream_t stream)
{
    std::lock_guard<std::mutex> lock(S().mu);
    return stream_device_locked(stream);
}

extern "C" int gc_emu_check_guards(void)
{
#ifdef GC_EMU_ASAN
    return -1;
#endif
    std::lock_guard<std::mutex> lock(S().mu);
    return check_guards_locked("gc_emu_check_guards");
}

/* ---------------------------------------------------------------- errors */

extern "C" cudaError_t cudaGetLastError(void)
{
    if (int st = S().sticky.load())
        return (cudaError_t)st;
    cudaError_t e = pending_error();
    t_error = cudaSuccess;
    return e;
}

extern "C" cudaError_t cudaPeekAtLastError(void)
{
    if (int st = S().sticky.load())
        return (cudaError_t)st;
    return pending_error();
}

extern "C" const char *cudaGetErrorName(cudaError_t error)
{
    const err_entry *x = lookup_error(error);
    return x ? x->name : "unrecognized error code";
}

extern "C" const char *cudaGetErrorString(cudaError_t error)
{
    const err_entry *x = lookup_error(error);
    return x ? x->text : "unrecognized error code";
}

/* ---------------------------------------------------------------- devices */

extern "C" cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count)
        return fail(cudaErrorInvalidValue);
    *count = S().n_devices.load();
    if (*count == 0)
        return fail(cudaErrorNoDevice);
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (!prop)
        return fail(cudaErrorInvalidValue);
    emu_state &s = S();
    if (s.n_devices == 0)
        return fail(cudaErrorNoDevice);
    if (device < 0 || device >= s.n_devices)
        return fail(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "gradcam emulated GPU (CPU)");
    for (int i = 0; i < 16; i++)
        prop->uuid.bytes[i] = (char)(0x60 + i + 16 * device);
    prop->totalGlobalMem = s.limit;
    prop->sharedMemPerBlock = 48 << 10;
    prop->regsPerBlock = 65536;
    prop->warpSize = 32;
    prop->memPitch = 2147483647;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = 1024;
    prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 2147483647;
    prop->maxGridSize[1] = 65535;
    prop->maxGridSize[2] = 65535;
    prop->totalConstMem = 65536;
    prop->major = 9;
    prop->minor = 0;
    prop->textureAlignment = 512;
    prop->texturePitchAlignment = 32;
    prop->multiProcessorCount = 132;
    prop->canMapHostMemory = 1;
    prop->concurrentKernels = 1;
    prop->ECCEnabled = 1;
    prop->pciBusID = 0x18 + device;
    prop->asyncEngineCount = 3;
    prop->unifiedAddressing = 1;
    prop->memoryBusWidth = 5120;
    prop->l2CacheSize = 50 << 20;
    prop->persistingL2CacheMaxSize = 30 << 20;
    prop->maxThreadsPerMultiProcessor = 2048;
    prop->streamPrioritiesSupported = 1;
    prop->globalL1CacheSupported = 1;
    prop->localL1CacheSupported = 1;
    prop->sharedMemPerMultiprocessor = 228 << 10;
    prop->regsPerMultiprocessor = 65536;
    prop->managedMemory = 1;
    prop->concurrentManagedAccess = 1;
    prop->computePreemptionSupported = 1;
    prop->cooperativeLaunch = 1;
    prop->sharedMemPerBlockOptin = 227 << 10;
    prop->maxBlocksPerMultiProcessor = 32;
    prop->reservedSharedMemPerBlock = 1024;
    prop->hostRegisterSupported = 1;
    prop->memoryPoolsSupported = 1;
    prop->clusterLaunch = 1;
    prop->hostNumaId = -1;
    return cudaSuccess;
}

extern "C" cudaError_t cudaSetDevice(int device)
{
    emu_state &s = S();
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    if (s.n_devices == 0)
        return fail(cudaErrorNoDevice);
    if (device < 0 || device >= s.n_devices)
        return fail(cudaErrorInvalidDevice);
    t_device = device;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetDevice(int *device)
{
    if (!device)
        return fail(cudaErrorInvalidValue);
    if (S().n_devices == 0)
        return fail(cudaErrorNoDevice);
    *device = t_device;
    return cudaSuccess;
}

extern "C" cudaError_t cudaDriverGetVersion(int *version)
{
    if (!version)
        return fail(cudaErrorInvalidValue);
    *version = CUDART_VERSION;
    return cudaSuccess;
}

extern "C" cudaError_t cudaRuntimeGetVersion(int *version)
{
    if (!version)
        return fail(cudaErrorInvalidValue);
    *version = CUDART_VERSION;
    return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceSynchronize(void)
{
    if (cudaError_t e = gate())
        return e;
    return synchronize("cudaDeviceSynchronize");
}

extern "C" cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    if (cudaError_t e = gate())
        return e;
    if (!free_bytes || !total_bytes)
        return fail(cudaErrorInvalidValue);
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    const size_t used = s.used[t_device];
    const size_t limit = s.limit.load();
    *total_bytes = limit;
    *free_bytes = used < limit ? limit - used : 0;
    return cudaSuccess;
}

/* ---------------------------------------------------------------- memory */

extern "C" cudaError_t cudaMalloc(void **devPtr, size_t size)
{
    return allocate(devPtr, size, MEM_DEVICE, "cudaMalloc");
}

extern "C" cudaError_t cudaMallocManaged(void **devPtr, size_t size, unsigned int flags)
{
    if (flags != cudaMemAttachGlobal && flags != cudaMemAttachHost) {
        if (devPtr)
            *devPtr = NULL;
        return fail(cudaErrorInvalidValue);
    }
    return allocate(devPtr, size, MEM_MANAGED, "cudaMallocManaged");
}

extern "C" cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
    if (flags &
        ~(unsigned)(cudaHostAllocPortable | cudaHostAllocMapped | cudaHostAllocWriteCombined)) {
        if (pHost)
            *pHost = NULL;
        return fail(cudaErrorInvalidValue);
    }
    return allocate(pHost, size, MEM_PINNED, "cudaHostAlloc");
}

extern "C" cudaError_t cudaMallocHost(void **ptr, size_t size)
{
    return allocate(ptr, size, MEM_PINNED, "cudaMallocHost");
}

extern "C" cudaError_t cudaFree(void *devPtr)
{
    return release(devPtr, false, "cudaFree");
}

extern "C" cudaError_t cudaFreeHost(void *ptr)
{
    return release(ptr, true, "cudaFreeHost");
}

extern "C" cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *attributes, const void *ptr)
{
    if (cudaError_t e = gate())
        return e;
    if (!attributes)
        return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(S().mu);
    allocation *a = NULL;
    const mem_kind k = kind_of_locked(ptr, &a);
    memset(attributes, 0, sizeof *attributes);
    switch (k) {
    case MEM_DEVICE:
        attributes->type = cudaMemoryTypeDevice;
        attributes->device = a->device;
        attributes->devicePointer = (void *)ptr;
        attributes->hostPointer = NULL;
        break;
    case MEM_MANAGED:
        attributes->type = cudaMemoryTypeManaged;
        attributes->device = a->device;
        attributes->devicePointer = (void *)ptr;
        attributes->hostPointer = (void *)ptr;
        break;
    case MEM_PINNED:
        attributes->type = cudaMemoryTypeHost;
        attributes->device = a->device;
        attributes->devicePointer = (void *)ptr;
        attributes->hostPointer = (void *)ptr;
        break;
    default: /* CUDA 11+: pageable memory is "unregistered", and no error */
        attributes->type = cudaMemoryTypeUnregistered;
        attributes->device = cudaInvalidDeviceId;
        attributes->devicePointer = NULL;
        attributes->hostPointer = (void *)ptr;
        break;
    }
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count,
                                       enum cudaMemcpyKind kind, cudaStream_t stream)
{
    return copy(dst, src, count, kind, stream, "cudaMemcpyAsync");
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t count,
                                  enum cudaMemcpyKind kind)
{
    cudaError_t e = copy(dst, src, count, kind, 0, "cudaMemcpy");
    if (e)
        return e;
    return synchronize("cudaMemcpy"); /* synchronous with the legacy default stream */
}

extern "C" cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
    return set(devPtr, value, count, stream, "cudaMemsetAsync");
}

extern "C" cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
    return set(devPtr, value, count, 0, "cudaMemset");
}

/* ---------------------------------------------------------------- streams */

extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
{
    if (cudaError_t e = gate())
        return e;
    if (!pStream || (flags & ~(unsigned)cudaStreamNonBlocking))
        return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(S().mu);
    const uintptr_t h = new_handle_locked();
    S().streams[h] = stream_rec{t_device, flags};
    *pStream = (cudaStream_t)h;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
    return cudaStreamCreateWithFlags(pStream, cudaStreamDefault);
}

extern "C" cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    emu_state &s = S();
    cudaError_t e = cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        auto it = s.streams.find((uintptr_t)stream);
        if (it == s.streams.end()) {
            note("cudaStreamDestroy(%p): not a live stream (destroyed twice?)", (void *)stream);
            e = cudaErrorInvalidResourceHandle;
        } else {
            s.streams.erase(it); /* the handle value is never given out again */
        }
    }
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    return e ? fail(e) : cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    if (cudaError_t e = gate())
        return e;
    if (cudaError_t e = check_stream(stream, "cudaStreamSynchronize"))
        return fail(e);
    return synchronize("cudaStreamSynchronize");
}

extern "C" cudaError_t cudaStreamQuery(cudaStream_t stream)
{
    if (cudaError_t e = gate())
        return e;
    if (cudaError_t e = check_stream(stream, "cudaStreamQuery"))
        return fail(e);
    return cudaSuccess; /* all work is done at once */
}

extern "C" cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
                                           unsigned int flags)
{
    if (cudaError_t e = gate())
        return e;
    if (flags & ~(unsigned)cudaEventWaitExternal)
        return fail(cudaErrorInvalidValue);
    if (cudaError_t e = check_stream(stream, "cudaStreamWaitEvent"))
        return fail(e);
    std::lock_guard<std::mutex> lock(S().mu);
    if (!S().events.count((uintptr_t)event)) {
        note("cudaStreamWaitEvent: event %p is not a live event", (void *)event);
        return fail(cudaErrorInvalidResourceHandle);
    }
    return cudaSuccess; /* in order already */
}

/* ---------------------------------------------------------------- events */

extern "C" cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
    if (cudaError_t e = gate())
        return e;
    const unsigned known = cudaEventBlockingSync | cudaEventDisableTiming | cudaEventInterprocess;
    if (!event || (flags & ~known) ||
        ((flags & cudaEventInterprocess) && !(flags & cudaEventDisableTiming)))
        return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(S().mu);
    const uintptr_t h = new_handle_locked();
    event_rec r;
    r.device = t_device;
    r.flags = flags;
    r.recorded = false;
    S().events[h] = r;
    *event = (cudaEvent_t)h;
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    return cudaEventCreateWithFlags(event, cudaEventDefault);
}

extern "C" cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    emu_state &s = S();
    cudaError_t e = cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        auto it = s.events.find((uintptr_t)event);
        if (it == s.events.end()) {
            note("cudaEventDestroy(%p): not a live event (destroyed twice?)", (void *)event);
            e = cudaErrorInvalidResourceHandle;
        } else {
            s.events.erase(it);
        }
    }
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    return e ? fail(e) : cudaSuccess;
}

extern "C" cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    if (cudaError_t e = gate())
        return e;
    std::lock_guard<std::mutex> lock(S().mu);
    auto it = S().events.find((uintptr_t)event);
    if (it == S().events.end()) {
        note("cudaEventRecord: event %p is not a live event", (void *)event);
        return fail(cudaErrorInvalidResourceHandle);
    }
    const int dev = stream_device_locked(stream);
    if (dev < 0) {
        note("cudaEventRecord: stream %p is not a live stream", (void *)stream);
        return fail(cudaErrorInvalidResourceHandle);
    }
    if (dev != it->second.device) {
        note("cudaEventRecord: an event of device %d on a stream of device %d", it->second.device,
             dev);
        return fail(cudaErrorInvalidResourceHandle);
    }
    it->second.recorded = true;
    it->second.when = clock_type::now();
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    if (cudaError_t e = gate())
        return e;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        if (!S().events.count((uintptr_t)event)) {
            note("cudaEventSynchronize: event %p is not a live event", (void *)event);
            return fail(cudaErrorInvalidResourceHandle);
        }
    }
    return synchronize("cudaEventSynchronize");
}

extern "C" cudaError_t cudaEventQuery(cudaEvent_t event)
{
    if (cudaError_t e = gate())
        return e;
    std::lock_guard<std::mutex> lock(S().mu);
    if (!S().events.count((uintptr_t)event))
        return fail(cudaErrorInvalidResourceHandle);
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    if (cudaError_t e = gate())
        return e;
    if (!ms)
        return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(S().mu);
    auto a = S().events.find((uintptr_t)start), b = S().events.find((uintptr_t)end);
    if (a == S().events.end() || b == S().events.end()) {
        note("cudaEventElapsedTime: event %p is not a live event",
             (void *)(a == S().events.end() ? start : end));
        return fail(cudaErrorInvalidResourceHandle);
    }
    const event_rec &x = a->second, &y = b->second;
    /* as documented: timing disabled, or never recorded -> invalid resource handle */
    if ((x.flags | y.flags) & cudaEventDisableTiming)
        return fail(cudaErrorInvalidResourceHandle);
    if (!x.recorded || !y.recorded)
        return fail(cudaErrorInvalidResourceHandle);
    if (x.device != y.device)
        return fail(cudaErrorInvalidResourceHandle);
    *ms = (float)std::chrono::duration<double, std::milli>(y.when - x.when).count();
    return cudaSuccess;
}
