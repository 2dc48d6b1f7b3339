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
 *   - streams and events: real handles, never reused, so that a destroyed one is caught.
 *   - GC_EMU_TRACE=1: each kernel's name on stderr at its first launch ("gc_emu: kernel
 *     NAME"), for a test to see which path ran.
 *   - when work runs (GC_EMU_SCHEDULE): "lazy" (the default) keeps each stream's work
 *     (copies, memsets, kernels, GEMMs, cuDNN executes, graph launches) in the stream's queue
 *     until something waits for it: cudaStreamSynchronize and cudaStreamQuery (that stream;
 *     the legacy stream's: with the blocking streams), cudaEventSynchronize and
 *     cudaEventQuery (up to the event), cudaDeviceSynchronize, the synchronous cudaMemcpy
 *     (the legacy stream), cudaMemcpyAsync into pageable memory or between host buffers
 *     (its stream), cudaFree, cudaFreeHost and cudaHostUnregister (everything: they wait for
 *     the device). A destroyed stream's work still runs when the device is waited for. cudaStreamWaitEvent makes a stream's later work wait
 *     for the event's stream up to the event, and nothing else orders two streams, except
 *     the legacy stream's implicit synchronization with the blocking ones. A pageable source
 *     of cudaMemcpyAsync is staged at the call, as the runtime does; pinned and
 *     cudaHostRegister'ed memory is read and written when the copy runs. So a host that reads
 *     results, refills a pinned buffer or lets another stream use data before waiting for
 *     the work sees stale or changed data, as a GPU may show it, every time (the tests'
 *     mutations of the copy ring's event waits fail). cudaEventElapsedTime on an event whose
 *     stream has not got to it is cudaErrorNotReady; an event's time is taken when its
 *     stream gets to it. The work runs on the thread that waits, one thread at a time.
 *     A fault, and gc_emu_reset, drop the work still queued. "eager" runs all work at the
 *     call, in issue order.
 *   - stream capture and graphs (cudaStreamBeginCapture .. cudaStreamEndCapture,
 *     cudaGraphInstantiate, cudaGraphLaunch): all stream work goes through gc_emu_submit
 *     (mock_cudart.h), which records it, in issue order, into the graph of a capturing
 *     stream instead of running it: copies and memsets (validated when issued; only the data
 *     movement is deferred), our kernels (cuda_emulate.h), cublasGemmEx, cudnnBackendExecute.
 *     A graph is a chain of nodes; each cudaGraphLaunch runs them in order on the launching
 *     thread (or, into a capturing stream, appends them to that capture). Work that runs from
 *     a graph checks that the memory it was given is still allocated: memory freed since the
 *     capture is a sticky cudaErrorIllegalAddress, as the fault on a GPU. The rules, from the
 *     programming guide's "Prohibited and Unhandled Operations" and the API reference:
 *       . capture: not on the legacy stream (NULL, cudaStreamLegacy):
 *         cudaErrorStreamCaptureUnsupported; not twice on one stream, and cudaStreamEndCapture
 *         only on a capturing stream: cudaErrorIllegalState; ended from another thread than
 *         the one that began it (unless cudaStreamCaptureModeRelaxed):
 *         cudaErrorStreamCaptureWrongThread (the capture goes on).
 *       . synchronizing or querying a capturing stream (cudaStreamSynchronize,
 *         cudaStreamQuery), or the device while any of its streams captures
 *         (cudaDeviceSynchronize): cudaErrorStreamCaptureUnsupported; an event last recorded
 *         in a capture that is still going on (cudaEventSynchronize, cudaEventQuery,
 *         cudaEventElapsedTime): cudaErrorCapturedEvent.
 *       . "potentially unsafe" calls (cudaMalloc, cudaMallocManaged, cudaHostAlloc,
 *         cudaMallocHost, cudaFree, cudaFreeHost of a non-NULL pointer, the synchronous
 *         cudaMemcpy) by the thread's capture interaction mode
 *         (cudaThreadExchangeStreamCaptureMode, default global): refused with
 *         cudaErrorStreamCaptureUnsupported when this thread has a capture going on that was
 *         not begun relaxed, or, in global mode, when another thread has a global one. They are
 *         never captured (cudaMalloc in a relaxed capture allocates now).
 *       . the legacy stream (work on it, its synchronization) while a blocking stream (not
 *         cudaStreamNonBlocking) of the device captures: cudaErrorStreamCaptureImplicit.
 *       . events: cudaEventRecord on a capturing stream is a marker of the capture (no node);
 *         cudaStreamWaitEvent in a capture on an event of the same capture is fine, on one of
 *         another capture cudaErrorStreamCaptureMerge, on one recorded outside any capture
 *         cudaErrorStreamCaptureIsolation unless cudaEventWaitExternal is given (then a no-op:
 *         everything before it has run).
 *       Each of these invalidates the captures concerned: further work on such a stream
 *       returns cudaErrorStreamCaptureInvalidated, and cudaStreamEndCapture ends the capture
 *       with cudaErrorStreamCaptureInvalidated and a NULL graph. Argument errors of a call
 *       (a bad pointer, range or direction) are returned as outside a capture and invalidate
 *       nothing. Destroying a capturing stream discards its capture.
 *     Graphs: cudaGraphInstantiate copies the graph's nodes (the graph may then be destroyed;
 *     flags: AutoFreeOnLaunch, DeviceLaunch (not both), UseNodePriority; Upload and unknown bits
 *     are cudaErrorInvalidValue); a graph still being captured cannot be instantiated
 *     (cudaErrorInvalidValue) or destroyed (cudaErrorIllegalState); cudaGraphLaunch needs a
 *     live executable graph (else cudaErrorInvalidValue, as a destroyed graph) and a stream of
 *     the graph's device (another device's: cudaErrorInvalidValue); a node that faults ends
 *     the launch, which returns the sticky error.
 *     Mock-only strictness and limits: cudaMemcpyAsync between a capturing stream and pageable
 *     host memory is refused (cudaErrorStreamCaptureUnsupported): CUDA captures it, reading or
 *     writing that host memory at every launch, long after the call (pinned memory is
 *     captured). Not emulated: cudaStreamPerThread capture, a capture spreading to other
 *     streams (cudaStreamWaitEvent of a non-capturing stream on an event recorded in a
 *     capture: cudaErrorStreamCaptureUnsupported), dependencies in cudaStreamGetCaptureInfo
 *     (cudaErrorNotSupported when asked for), event record nodes (cudaEventRecordWithFlags),
 *     memory nodes, graph editing and update, the _ptsz entry points.
 *   - devices: GC_EMU_DEVICES of them (properties of an H100-like 9.0 part); the current
 *     device is per thread; memory, streams and events belong to the device current at
 *     their creation; an event recorded on another device's stream fails, as documented.
 *   - errors: a per-thread last error set by every failing call; gc_emu_inject_sticky_error
 *     poisons the context as a kernel fault does (mock_cudart.h). Device queries
 *     (cudaGetDeviceCount, cudaGetDeviceProperties, cudaGetDevice, versions) still answer.
 * What it cannot see: work of two streams overlapping in time (one runs at a time, in an
 * order the waits allow: a missing wait shows as stale data, not as a race), the lazy
 * schedule's one order standing for all the orders a GPU may take, host code dereferencing
 * device pointers (device memory is host memory here), reads past an allocation within its
 * guard bytes (outside an ASan build).
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
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mock_cudart.h"

/* One node of a captured graph: the work one asynchronous call issued (gc_emu_submit). */
struct gc_emu_node {
    std::string what;
    std::function<void()> work;
};

/* What cudaGraph_t and cudaGraphExec_t point to (driver_types.h declares the tags). Kept
 * after destruction (emptied, marked dead) so that a handle is never reused and a destroyed
 * one is recognized. */
struct CUgraph_st {
    bool live = true;
    bool capturing = false; /* still being built by a stream capture */
    int device = 0;
    std::vector<gc_emu_node> nodes; /* in issue order: a chain */
};

struct CUgraphExec_st {
    bool live = true;
    int device = 0;
    std::shared_ptr<const std::vector<gc_emu_node>> nodes; /* a copy of the graph's */
};

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

/* A stream capture going on (cudaStreamBeginCapture .. cudaStreamEndCapture). */
struct capture_rec {
    unsigned long long id;
    cudaStreamCaptureMode mode;
    std::thread::id thread; /* that began it */
    int device;
    bool blocking; /* the stream synchronizes with the legacy stream */
    bool invalidated;
    uintptr_t stream;
    CUgraph_st *graph; /* being built */
};

/* The lazy schedule (GC_EMU_SCHEDULE, the default): work issued on a stream waits in the
 * stream's queue until something waits for it (a synchronize, an event, a synchronous copy,
 * a free); see "deferred execution" below. An op is a call's work, or a wait for op
 * `wait_seq` of another queue (cudaStreamWaitEvent; the legacy stream's implicit
 * synchronization with the blocking streams). */
struct queue_rec;
struct pending_op {
    std::string what;
    std::function<void()> work; /* empty for a wait */
    std::shared_ptr<queue_rec> wait_q;
    uint64_t wait_seq = 0;
};

/* One stream's queue: ops numbered from 1 in issue order, `done` of them run. */
struct queue_rec {
    int device = 0;
    bool blocking = true; /* synchronizes with the legacy stream */
    bool legacy = false;  /* the legacy stream's */
    std::deque<pending_op> ops;
    uint64_t issued = 0, done = 0;
};

struct stream_rec {
    int device;
    unsigned flags;
    std::shared_ptr<capture_rec> cap; /* set while capturing */
    std::shared_ptr<queue_rec> q;
};

struct event_rec {
    int device;
    unsigned flags;
    bool recorded;
    clock_type::time_point when;
    std::weak_ptr<capture_rec> captured; /* last recorded in this capture (while it goes on) */
    /* the lazy schedule: the op of the last record (complete when q->done >= seq), and
     * which record that is (an earlier one's op running later must not set the time) */
    std::shared_ptr<queue_rec> q;
    uint64_t seq = 0, record = 0;
};

struct emu_state {
    std::mutex mu;
    std::map<uintptr_t, allocation> allocs; /* by user pointer */
    std::map<uintptr_t, stream_rec> streams;
    std::map<uintptr_t, event_rec> events;
    uintptr_t next_handle = 0x5eed0000; /* streams and events: never reused */
    /* graphs and executable graphs, by handle, destroyed ones included (never reused) */
    std::map<uintptr_t, std::unique_ptr<CUgraph_st>> graphs;
    std::map<uintptr_t, std::unique_ptr<CUgraphExec_st>> execs;
    size_t live_graphs = 0;
    unsigned long long next_capture = 0;
    /* the environment's settings: atomic, as gc_emu_reset may re-read them at any time */
    std::atomic<int> n_devices{1};
    std::atomic<size_t> limit{DEFAULT_MEMORY};
    size_t used[MAX_DEVICES] = {};
    size_t live = 0; /* allocations and host registrations */
    std::map<uintptr_t, size_t> registered; /* cudaHostRegister'ed host ranges, by start */
    std::atomic<bool> quiet{false};
    std::atomic<int> sticky{0};
    std::atomic<unsigned> generation{1};
    std::atomic<bool> lazy{true};                 /* GC_EMU_SCHEDULE */
    bool trace = false;                           /* GC_EMU_TRACE                       */
    std::vector<std::string> launched;            /* kernels traced so far (mu)         */
    std::shared_ptr<queue_rec> legacy[MAX_DEVICES]; /* each device's legacy stream */
    /* destroyed streams' queues with work left: it still runs (device-wide waits drain it) */
    std::vector<std::shared_ptr<queue_rec>> orphans;
    /* held while device work runs: one executor, and whoever waited sees what it wrote */
    std::recursive_mutex run_mu;
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
    const char *sch = getenv("GC_EMU_SCHEDULE");
    s->lazy = !(sch && strcmp(sch, "eager") == 0);
    const char *tr = getenv("GC_EMU_TRACE");
    s->trace = tr && *tr && strcmp(tr, "0") != 0;
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

void fault_locked();

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
thread_local cudaStreamCaptureMode t_capture_mode = cudaStreamCaptureModeGlobal;

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
    if (bad)
        fault_locked();
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

/* ---------------------------------------------------------------- stream capture rules */

const char *mode_name(cudaStreamCaptureMode m)
{
    return m == cudaStreamCaptureModeGlobal        ? "global"
           : m == cudaStreamCaptureModeThreadLocal ? "thread-local"
                                                   : "relaxed";
}

bool is_legacy(cudaStream_t st)
{
    return st == 0 || st == cudaStreamLegacy;
}

/* Marks a capture invalidated (once, with a line saying why). Caller holds the lock. */
void invalidate_locked(capture_rec &c, const char *why)
{
    if (c.invalidated)
        return;
    c.invalidated = true;
    note("the capture on stream %p is invalidated by %s: its further work returns "
         "cudaErrorStreamCaptureInvalidated and cudaStreamEndCapture gives no graph",
         (void *)c.stream, why);
}

/* The legacy stream used (invalidate) or queried while a blocking stream of device dev is
 * capturing: cudaErrorStreamCaptureImplicit. Caller holds the lock. */
cudaError_t legacy_conflict_locked(int dev, const char *who, bool invalidate)
{
    bool hit = false;
    for (auto &kv : S().streams) {
        capture_rec *c = kv.second.cap.get();
        if (!c || c->device != dev || !c->blocking)
            continue;
        if (!hit)
            note("%s: the legacy stream while the blocking stream %p (not cudaStreamNonBlocking) "
                 "of device %d is capturing: it would depend on the capture",
                 who, (void *)c->stream, dev);
        hit = true;
        if (invalidate)
            invalidate_locked(*c, who);
    }
    return hit ? cudaErrorStreamCaptureImplicit : cudaSuccess;
}

/* Where work issued on st goes: *cap set when st is capturing (the work is to be recorded);
 * an error when it may not be issued at all. Caller holds the lock. */
cudaError_t route_locked(cudaStream_t st, const char *who, std::shared_ptr<capture_rec> *cap)
{
    cap->reset();
    if (is_legacy(st))
        return legacy_conflict_locked(t_device, who, true);
    if (st == cudaStreamPerThread)
        return cudaSuccess;
    auto it = S().streams.find((uintptr_t)st);
    if (it == S().streams.end()) {
        note("%s: stream %p is not a live stream (destroyed, or never created)", who, (void *)st);
        return cudaErrorInvalidResourceHandle;
    }
    if (const std::shared_ptr<capture_rec> &c = it->second.cap) {
        if (c->invalidated) {
            note("%s: stream %p: its capture was invalidated (only cudaStreamEndCapture ends it)",
                 who, (void *)st);
            return cudaErrorStreamCaptureInvalidated;
        }
        *cap = c;
    }
    return cudaSuccess;
}

/* The capture going on on st (a live stream's), or NULL. Caller holds the lock. */
capture_rec *capture_of_locked(cudaStream_t st)
{
    if (is_legacy(st) || st == cudaStreamPerThread)
        return NULL;
    auto it = S().streams.find((uintptr_t)st);
    return it == S().streams.end() ? NULL : it->second.cap.get();
}

/* A "potentially unsafe" call (cudaThreadExchangeStreamCaptureMode): refused, and the
 * captures it conflicts with invalidated, when this thread has a capture not begun relaxed
 * or, this thread being in global mode, another thread has a global one. */
cudaError_t unsafe_call(const char *who)
{
    if (t_capture_mode == cudaStreamCaptureModeRelaxed)
        return cudaSuccess;
    const std::thread::id me = std::this_thread::get_id();
    bool hit = false;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        for (auto &kv : S().streams) {
            capture_rec *c = kv.second.cap.get();
            if (!c)
                continue;
            const bool mine = c->thread == me;
            if (mine ? c->mode == cudaStreamCaptureModeRelaxed
                     : t_capture_mode != cudaStreamCaptureModeGlobal ||
                           c->mode != cudaStreamCaptureModeGlobal)
                continue;
            if (!hit)
                note("%s: not permitted while stream %p is capturing (a %s capture begun by %s; "
                     "this thread's capture interaction mode: %s)",
                     who, (void *)c->stream, mode_name(c->mode),
                     mine ? "this thread" : "another thread", mode_name(t_capture_mode));
            hit = true;
            invalidate_locked(*c, who);
        }
    }
    return hit ? fail(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

/* Synchronizing or querying stream st: not while it (or, for the legacy stream, a blocking
 * stream of the device) is capturing. */
cudaError_t sync_conflict(cudaStream_t st, const char *who)
{
    std::lock_guard<std::mutex> lock(S().mu);
    if (is_legacy(st))
        return legacy_conflict_locked(t_device, who, true);
    capture_rec *c = capture_of_locked(st);
    if (!c)
        return cudaSuccess;
    if (c->invalidated)
        return cudaErrorStreamCaptureInvalidated;
    note("%s: stream %p is capturing: it has no work to wait for", who, (void *)st);
    invalidate_locked(*c, who);
    return cudaErrorStreamCaptureUnsupported;
}

/* An event last recorded in a capture that is still going on: cudaErrorCapturedEvent, and
 * that capture invalidated. Caller holds the lock. */
cudaError_t captured_event_locked(event_rec &r, cudaEvent_t ev, const char *who)
{
    std::shared_ptr<capture_rec> c = r.captured.lock();
    if (!c)
        return cudaSuccess;
    note("%s: event %p was last recorded in the capture on stream %p, which goes on", who,
         (void *)ev, (void *)c->stream);
    invalidate_locked(*c, who);
    return cudaErrorCapturedEvent;
}

/* ---------------------------------------------------------------- deferred execution */

/* The queue of work issued on st: a live stream's, or the legacy stream's of the current
 * device. cudaStreamPerThread shares it: ordered after the blocking streams and the other
 * threads, where a GPU orders it with neither, so a race through it would not show (the
 * backend does not use it). NULL for an unknown stream. Caller holds the lock. */
std::shared_ptr<queue_rec> queue_locked(cudaStream_t st)
{
    emu_state &s = S();
    if (is_legacy(st) || st == cudaStreamPerThread) {
        std::shared_ptr<queue_rec> &q = s.legacy[t_device];
        if (!q) {
            q = std::make_shared<queue_rec>();
            q->device = t_device;
            q->legacy = true;
        }
        return q;
    }
    auto it = s.streams.find((uintptr_t)st);
    return it == s.streams.end() ? nullptr : it->second.q;
}

/* Appends op to q. Work on the legacy stream first waits for all work issued so far on the
 * device's blocking streams, and work on a blocking stream for the legacy stream's (the
 * legacy default stream's implicit synchronization). Caller holds the lock. */
void enqueue_locked(const std::shared_ptr<queue_rec> &q, pending_op op)
{
    emu_state &s = S();
    auto wait_for = [&q](const std::shared_ptr<queue_rec> &o) {
        if (o && o != q && o->issued > o->done) {
            pending_op w;
            w.what = "(implicit synchronization with the legacy stream)";
            w.wait_q = o;
            w.wait_seq = o->issued;
            q->ops.push_back(std::move(w));
            q->issued++;
        }
    };
    if (q->legacy) {
        for (auto &kv : s.streams)
            if (kv.second.q->blocking && kv.second.device == q->device)
                wait_for(kv.second.q);
    } else if (q->blocking) {
        wait_for(s.legacy[q->device]);
    }
    q->ops.push_back(std::move(op));
    q->issued++;
}

/* Runs q's ops up to number `upto` in order, on this thread, with q's device current; a wait
 * first runs what it waits for. One thread runs device work at a time (run_mu: the device is
 * one executor), and a thread that waited for work sees what that work wrote (the mutex
 * orders them, for ThreadSanitizer too). After a sticky error the rest is dropped: a faulted
 * context runs nothing more. Called without the state lock. Waits only ever point at ops
 * issued before them, so the recursion ends. */
void drain(const std::shared_ptr<queue_rec> &q, uint64_t upto)
{
    emu_state &s = S();
    std::lock_guard<std::recursive_mutex> run(s.run_mu);
    for (;;) {
        pending_op op;
        uint64_t seq;
        {
            std::lock_guard<std::mutex> lock(s.mu);
            if (q->done >= upto || q->ops.empty())
                return;
            op = std::move(q->ops.front());
            q->ops.pop_front();
            seq = q->done + 1;
        }
        if (op.wait_q) {
            drain(op.wait_q, op.wait_seq);
        } else if (!s.sticky.load()) {
            const int saved = t_device;
            t_device = q->device;
            op.work();
            t_device = saved;
        }
        std::lock_guard<std::mutex> lock(s.mu);
        q->done = std::max(q->done, seq); /* a fault may have dropped the rest meanwhile */
    }
}

/* A fault: the work still queued never runs (as in a CUDA context that faulted). Caller
 * holds the lock. */
void drop_pending_locked()
{
    emu_state &s = S();
    auto drop = [](queue_rec &q) {
        q.ops.clear();
        q.done = q.issued;
    };
    for (auto &kv : s.streams)
        drop(*kv.second.q);
    for (auto &q : s.legacy)
        if (q)
            drop(*q);
    for (auto &q : s.orphans)
        drop(*q);
    s.orphans.clear();
}

/* A kernel's fault (an illegal address): sticky, unless an error already is, and the queued
 * work dropped. Caller holds the lock. */
void fault_locked()
{
    int expected = 0;
    S().sticky.compare_exchange_strong(expected, (int)cudaErrorIllegalAddress);
    drop_pending_locked();
}

/* All work issued so far on q, or on st, run. */
void drain_all(const std::shared_ptr<queue_rec> &q)
{
    if (!q)
        return;
    uint64_t upto;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        upto = q->issued;
    }
    drain(q, upto);
}

void drain_stream(cudaStream_t st)
{
    std::shared_ptr<queue_rec> q;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        q = queue_locked(st);
    }
    drain_all(q);
}

/* All work issued so far on device dev's streams (dev < 0: every device's), or, for
 * blocking_only, on its legacy and blocking streams (what synchronizing the legacy stream
 * waits for). */
void drain_device(int dev, bool blocking_only = false)
{
    std::vector<std::pair<std::shared_ptr<queue_rec>, uint64_t>> qs;
    {
        emu_state &s = S();
        std::lock_guard<std::mutex> lock(s.mu);
        for (auto &kv : s.streams)
            if ((dev < 0 || kv.second.device == dev) && (!blocking_only || kv.second.q->blocking))
                qs.emplace_back(kv.second.q, kv.second.q->issued);
        for (int d = 0; d < MAX_DEVICES; d++)
            if (s.legacy[d] && (dev < 0 || d == dev))
                qs.emplace_back(s.legacy[d], s.legacy[d]->issued);
        if (!blocking_only) {
            for (auto &q : s.orphans)
                if (dev < 0 || q->device == dev)
                    qs.emplace_back(q, q->issued);
        }
    }
    for (auto &qu : qs)
        drain(qu.first, qu.second);
    std::lock_guard<std::mutex> lock(S().mu);
    std::vector<std::shared_ptr<queue_rec>> &o = S().orphans;
    o.erase(std::remove_if(o.begin(), o.end(),
                           [](const std::shared_ptr<queue_rec> &q) { return q->done >= q->issued; }),
            o.end());
}

/* What synchronizing stream st waits for: its work; for the legacy stream, also that of the
 * device's blocking streams. */
void drain_for_sync(cudaStream_t st)
{
    if (is_legacy(st))
        drain_device(t_device, true);
    else
        drain_stream(st);
}

/* [p, p + n) inside a cudaHostRegister'ed range (page-locked: copies from and to it are as
 * asynchronous as from pinned memory). Caller holds the lock. */
bool registered_locked(const void *p, size_t n)
{
    const emu_state &s = S();
    auto it = s.registered.upper_bound((uintptr_t)p);
    if (it == s.registered.begin())
        return false;
    --it;
    return (uintptr_t)p + n <= it->first + it->second;
}

/* For work that runs later: [p, p + n) still inside a live allocation of kind k (pageable
 * memory is never captured, so never checked); otherwise the fault a GPU would take. */
bool still_there(const void *p, size_t n, mem_kind k, const char *who, const char *role)
{
    if (k == MEM_PAGEABLE)
        return true;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        allocation *a = find_locked(p);
        if (a && a->kind == k && n <= a->size - (size_t)((const char *)p - (a->block + a->front)))
            return true;
    }
    note("%s: the %s range of %zu bytes at %p (%s memory when the call was issued) is no longer "
         "allocated when the work runs (freed since the capture?): an illegal address "
         "(cudaErrorIllegalAddress, sticky)",
         who, role, n, p, kind_name(k));
    std::lock_guard<std::mutex> lock(S().mu);
    fault_locked();
    return false;
}

/* A graph, executable graph: the live one behind a handle, or NULL. Caller holds the lock. */
CUgraph_st *graph_locked(cudaGraph_t g)
{
    auto it = S().graphs.find((uintptr_t)g);
    return it != S().graphs.end() && it->second->live ? it->second.get() : NULL;
}

CUgraphExec_st *exec_locked(cudaGraphExec_t x)
{
    auto it = S().execs.find((uintptr_t)x);
    return it != S().execs.end() && it->second->live ? it->second.get() : NULL;
}

void destroy_graph_locked(CUgraph_st *g)
{
    g->live = false;
    g->capturing = false;
    std::vector<gc_emu_node>().swap(g->nodes); /* the work's references released now */
    S().live_graphs--;
}

cudaError_t allocate(void **out, size_t size, mem_kind kind, const char *who)
{
    if (!out)
        return fail(cudaErrorInvalidValue);
    *out = NULL;
    if (cudaError_t e = gate())
        return e;
    if (cudaError_t e = unsafe_call(who))
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
    if (p)
        if (cudaError_t c = unsafe_call(who))
            return c;
    if (p) /* a free waits for the work issued before it, as on a GPU */
        drain_device(-1);
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
            if (check_one_guard_locked(it->first, a, who))
                fault_locked();
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
    if (kd == MEM_PAGEABLE || ks == MEM_PAGEABLE) {
        std::lock_guard<std::mutex> lock(S().mu);
        if (capture_rec *c = capture_of_locked(st)) {
            if (c->invalidated)
                return fail(cudaErrorStreamCaptureInvalidated);
            note("%s(%p <- %p, %zu bytes): pageable host memory (the %s) in a capture: the graph "
                 "would read or write it at every launch, long after this call (mock "
                 "strictness: CUDA captures it; use pinned memory, or copy outside the graph)",
                 who, dst, src, count, kd == MEM_PAGEABLE ? "destination" : "source");
            invalidate_locked(*c, who);
            return fail(cudaErrorStreamCaptureUnsupported);
        }
    }
    /* Pageable host memory (not page-locked by cudaHostRegister) on the lazy schedule, as
     * the runtime documents cudaMemcpyAsync: a source is copied to a staging buffer before
     * the call returns (the caller may then reuse it); a destination is written before it
     * returns (the call waits for its stream). Pinned and registered memory is read and
     * written when the copy runs. */
    bool stage_src = false, wait_dst = false;
    if (S().lazy && (kd == MEM_PAGEABLE || ks == MEM_PAGEABLE || (!is_dev(kd) && !is_dev(ks)))) {
        std::lock_guard<std::mutex> lock(S().mu);
        if (!capture_of_locked(st)) {
            stage_src = ks == MEM_PAGEABLE && !registered_locked(src, count);
            wait_dst = (kd == MEM_PAGEABLE && !registered_locked(dst, count)) ||
                       (!is_dev(kd) && !is_dev(ks)); /* host to host: done at return */
        }
    }
    std::string w = who;
    cudaError_t e;
    if (stage_src) {
        std::shared_ptr<std::vector<char>> staged =
            std::make_shared<std::vector<char>>((const char *)src, (const char *)src + count);
        e = gc_emu_submit(st, who, [dst, staged, count, kd, w] {
            if (still_there(dst, count, kd, w.c_str(), "destination"))
                memcpy(dst, staged->data(), count);
        });
    } else {
        /* the data movement: when the stream gets to it, or at every launch of the graph
         * that captures it */
        e = gc_emu_submit(st, who, [dst, src, count, kd, ks, w] {
            if (still_there(dst, count, kd, w.c_str(), "destination") &&
                still_there(src, count, ks, w.c_str(), "source"))
                memmove(dst, src, count);
        });
    }
    if (e == cudaSuccess && wait_dst)
        drain_stream(st);
    return e;
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
    std::string w = who;
    return gc_emu_submit(st, who, [p, value, count, k, w] {
        if (still_there(p, count, k, w.c_str(), "destination"))
            memset(p, value, count);
    });
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
    E(cudaErrorStreamCaptureUnsupported, "operation not permitted when stream is capturing"),
    E(cudaErrorStreamCaptureInvalidated, "operation failed due to a previous error during capture"),
    E(cudaErrorStreamCaptureMerge, "operation would result in a merge of separate capture "
                                   "sequences"),
    E(cudaErrorStreamCaptureUnmatched, "capture was not ended in the same stream as it began"),
    E(cudaErrorStreamCaptureUnjoined, "capturing stream has unjoined work"),
    E(cudaErrorStreamCaptureIsolation, "dependency created on uncaptured work in another stream"),
    E(cudaErrorStreamCaptureImplicit, "operation would make the legacy stream depend on a "
                                      "capturing blocking stream"),
    E(cudaErrorCapturedEvent, "operation not permitted on an event last recorded in a capturing "
                              "stream"),
    E(cudaErrorStreamCaptureWrongThread, "attempt to terminate a thread-local capture sequence "
                                         "from another thread"),
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
    std::lock_guard<std::mutex> lock(S().mu);
    S().sticky.store(code);
    if (code)
        drop_pending_locked();
}

extern "C" void gc_emu_reset(void)
{
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    s.sticky.store(0);
    s.generation.fetch_add(1);
    drop_pending_locked(); /* as a device reset: queued work is gone */
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
        std::vector<std::string> &seen = S().launched;
        if (S().trace && std::find(seen.begin(), seen.end(), what) == seen.end()) {
            seen.push_back(what);
            fprintf(stderr, "gc_emu: kernel %s\n", what);
        }
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

extern "C" size_t gc_emu_live_graphs(void)
{
    std::lock_guard<std::mutex> lock(S().mu);
    return S().live_graphs;
}

cudaError_t gc_emu_submit(cudaStream_t stream, const char *what, std::function<void()> work)
{
    {
        std::lock_guard<std::mutex> lock(S().mu);
        std::shared_ptr<capture_rec> cap;
        if (cudaError_t e = route_locked(stream, what ? what : "(work)", &cap))
            return fail(e);
        if (cap) {
            cap->graph->nodes.push_back(gc_emu_node{what ? what : "", std::move(work)});
            return cudaSuccess;
        }
        if (S().lazy) {
            pending_op op;
            op.what = what ? what : "";
            op.work = std::move(work);
            enqueue_locked(queue_locked(stream), std::move(op));
            return cudaSuccess;
        }
    }
    work();
    return cudaSuccess;
}

int gc_emu_work_check_range(const void *p, size_t bytes, const char *what)
{
    if (gc_emu_check_device_range(p, bytes, what) == 0)
        return 0;
    note("%s: the memory is not there when the work runs (freed since the capture?): an "
         "illegal address (cudaErrorIllegalAddress, sticky)",
         what);
    std::lock_guard<std::mutex> lock(S().mu);
    fault_locked();
    return -1;
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
    {
        std::lock_guard<std::mutex> lock(S().mu);
        bool hit = false;
        for (auto &kv : S().streams) {
            capture_rec *c = kv.second.cap.get();
            if (!c || c->device != t_device)
                continue;
            if (!hit)
                note("cudaDeviceSynchronize: stream %p of device %d is capturing",
                     (void *)c->stream, t_device);
            hit = true;
            invalidate_locked(*c, "cudaDeviceSynchronize");
        }
        if (hit)
            return fail(cudaErrorStreamCaptureUnsupported);
    }
    drain_device(t_device);
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

/* Page-locking host memory in place: the ranges are kept (to refuse overlaps and to find a
 * missing cudaHostUnregister through gc_emu_live_allocations); copies treat them as pageable,
 * which is only stricter (in a graph capture). */
extern "C" cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags)
{
    if (!ptr || size == 0 ||
        (flags & ~(unsigned)(cudaHostRegisterPortable | cudaHostRegisterMapped |
                             cudaHostRegisterIoMemory | cudaHostRegisterReadOnly)))
        return fail(cudaErrorInvalidValue);
    if (cudaError_t e = gate())
        return e;
    if (cudaError_t e = unsafe_call("cudaHostRegister"))
        return e;
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    const uintptr_t lo = (uintptr_t)ptr, hi = lo + size;
    for (const auto &r : s.registered)
        if (lo < r.first + r.second && r.first < hi) {
            note("cudaHostRegister(%p, %zu bytes): overlaps a registered range", ptr, size);
            return fail(cudaErrorHostMemoryAlreadyRegistered);
        }
    s.registered[lo] = size;
    s.live++;
    return cudaSuccess;
}

extern "C" cudaError_t cudaHostUnregister(void *ptr)
{
    if (cudaError_t e = unsafe_call("cudaHostUnregister"))
        return e;
    drain_device(-1); /* no copy of the range is left to run */
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.registered.find((uintptr_t)ptr);
    if (it == s.registered.end()) {
        note("cudaHostUnregister(%p): not the start of a registered range", ptr);
        return fail(cudaErrorHostMemoryNotRegistered);
    }
    s.registered.erase(it);
    s.live--;
    return cudaSuccess;
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
    if (cudaError_t e = gate())
        return e;
    if (cudaError_t e = unsafe_call("cudaMemcpy")) /* host-blocking */
        return e;
    cudaError_t e = copy(dst, src, count, kind, 0, "cudaMemcpy");
    if (e)
        return e;
    drain_stream(0);
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
    std::shared_ptr<queue_rec> q = std::make_shared<queue_rec>();
    q->device = t_device;
    q->blocking = !(flags & cudaStreamNonBlocking);
    S().streams[h] = stream_rec{t_device, flags, nullptr, q};
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
            if (capture_rec *c = it->second.cap.get()) {
                note("cudaStreamDestroy(%p): the stream is capturing: the capture is discarded",
                     (void *)stream);
                destroy_graph_locked(c->graph);
            }
            /* the call returns at once; the work issued still runs, when something waits for
             * the device (or for an event recorded on the stream) */
            if (it->second.q->done < it->second.q->issued)
                s.orphans.push_back(it->second.q);
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
    if (cudaError_t e = sync_conflict(stream, "cudaStreamSynchronize"))
        return fail(e);
    drain_for_sync(stream);
    return synchronize("cudaStreamSynchronize");
}

extern "C" cudaError_t cudaStreamQuery(cudaStream_t stream)
{
    if (cudaError_t e = gate())
        return e;
    if (cudaError_t e = check_stream(stream, "cudaStreamQuery"))
        return fail(e);
    if (cudaError_t e = sync_conflict(stream, "cudaStreamQuery"))
        return fail(e);
    /* the lazy schedule runs the work now (a GPU gets through it eventually: a caller polling
     * for it must not wait forever) */
    drain_for_sync(stream);
    if (int st = S().sticky.load())
        return fail((cudaError_t)st);
    return cudaSuccess;
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
    auto it = S().events.find((uintptr_t)event);
    if (it == S().events.end()) {
        note("cudaStreamWaitEvent: event %p is not a live event", (void *)event);
        return fail(cudaErrorInvalidResourceHandle);
    }
    std::shared_ptr<capture_rec> cap;
    if (cudaError_t e = route_locked(stream, "cudaStreamWaitEvent", &cap))
        return fail(e);
    const std::shared_ptr<capture_rec> ec = it->second.captured.lock();
    if (cap) {
        if (ec && ec != cap) {
            note("cudaStreamWaitEvent: stream %p (capturing) waits on event %p of the capture on "
                 "stream %p: two captures would merge",
                 (void *)stream, (void *)event, (void *)ec->stream);
            invalidate_locked(*cap, "cudaStreamWaitEvent");
            return fail(cudaErrorStreamCaptureMerge);
        }
        if (!ec && it->second.recorded && !(flags & cudaEventWaitExternal)) {
            note("cudaStreamWaitEvent: stream %p (capturing) waits on event %p, recorded outside "
                 "the capture (cudaEventWaitExternal makes that an external wait)",
                 (void *)stream, (void *)event);
            invalidate_locked(*cap, "cudaStreamWaitEvent");
            return fail(cudaErrorStreamCaptureIsolation);
        }
    } else if (ec) {
        note("cudaStreamWaitEvent: stream %p would join the capture on stream %p through event %p "
             "(a capture over several streams is not emulated)",
             (void *)stream, (void *)ec->stream, (void *)event);
        invalidate_locked(*ec, "cudaStreamWaitEvent");
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    if (!cap && it->second.q) { /* the lazy schedule: the stream's later work waits */
        pending_op w;
        w.what = "cudaStreamWaitEvent";
        w.wait_q = it->second.q;
        w.wait_seq = it->second.seq;
        enqueue_locked(queue_locked(stream), std::move(w));
    }
    return cudaSuccess; /* the eager schedule: in order already */
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
    std::shared_ptr<capture_rec> cap;
    if (cudaError_t e = route_locked(stream, "cudaEventRecord", &cap))
        return fail(e);
    if (cap) { /* a marker of the capture (for cudaStreamWaitEvent in it), no node */
        it->second.captured = cap;
        it->second.recorded = false;
        it->second.q.reset();
        return cudaSuccess;
    }
    it->second.captured.reset();
    it->second.recorded = true;
    it->second.when = clock_type::now();
    it->second.q.reset();
    if (S().lazy) { /* complete, and its time taken, when the stream gets to it */
        const uintptr_t h = (uintptr_t)event;
        const uint64_t record = ++it->second.record;
        pending_op op;
        op.what = "cudaEventRecord";
        op.work = [h, record] {
            std::lock_guard<std::mutex> lock(S().mu);
            auto e = S().events.find(h);
            if (e != S().events.end() && e->second.record == record)
                e->second.when = clock_type::now();
        };
        std::shared_ptr<queue_rec> q = queue_locked(stream);
        enqueue_locked(q, std::move(op));
        it->second.q = q;
        it->second.seq = q->issued;
    }
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    if (cudaError_t e = gate())
        return e;
    std::shared_ptr<queue_rec> q;
    uint64_t seq = 0;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        auto it = S().events.find((uintptr_t)event);
        if (it == S().events.end()) {
            note("cudaEventSynchronize: event %p is not a live event", (void *)event);
            return fail(cudaErrorInvalidResourceHandle);
        }
        if (cudaError_t e = captured_event_locked(it->second, event, "cudaEventSynchronize"))
            return fail(e);
        q = it->second.q;
        seq = it->second.seq;
    }
    if (q)
        drain(q, seq);
    return synchronize("cudaEventSynchronize");
}

extern "C" cudaError_t cudaEventQuery(cudaEvent_t event)
{
    if (cudaError_t e = gate())
        return e;
    std::shared_ptr<queue_rec> q;
    uint64_t seq = 0;
    {
        std::lock_guard<std::mutex> lock(S().mu);
        auto it = S().events.find((uintptr_t)event);
        if (it == S().events.end())
            return fail(cudaErrorInvalidResourceHandle);
        if (cudaError_t e = captured_event_locked(it->second, event, "cudaEventQuery"))
            return fail(e);
        q = it->second.q;
        seq = it->second.seq;
    }
    if (q) /* run now, as cudaStreamQuery */
        drain(q, seq);
    if (int st = S().sticky.load())
        return fail((cudaError_t)st);
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
    for (auto *r : {&a->second, &b->second})
        if (cudaError_t e =
                captured_event_locked(*r, r == &a->second ? start : end, "cudaEventElapsedTime"))
            return fail(e);
    const event_rec &x = a->second, &y = b->second;
    /* as documented: timing disabled, or never recorded -> invalid resource handle */
    if ((x.flags | y.flags) & cudaEventDisableTiming)
        return fail(cudaErrorInvalidResourceHandle);
    if (!x.recorded || !y.recorded)
        return fail(cudaErrorInvalidResourceHandle);
    for (const event_rec *r : {&x, &y})
        if (r->q && r->q->done < r->seq) {
            note("cudaEventElapsedTime: event %p has not completed (its stream has not got to "
                 "it: synchronize on it first)",
                 (void *)(r == &x ? start : end));
            return fail(cudaErrorNotReady);
        }
    if (x.device != y.device)
        return fail(cudaErrorInvalidResourceHandle);
    *ms = (float)std::chrono::duration<double, std::milli>(y.when - x.when).count();
    return cudaSuccess;
}

/* ---------------------------------------------------------------- stream capture, graphs */

extern "C" cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode)
{
    if (!mode ||
        (*mode != cudaStreamCaptureModeGlobal && *mode != cudaStreamCaptureModeThreadLocal &&
         *mode != cudaStreamCaptureModeRelaxed))
        return fail(cudaErrorInvalidValue);
    std::swap(*mode, t_capture_mode);
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
    if (cudaError_t e = gate())
        return e;
    if (mode != cudaStreamCaptureModeGlobal && mode != cudaStreamCaptureModeThreadLocal &&
        mode != cudaStreamCaptureModeRelaxed)
        return fail(cudaErrorInvalidValue);
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    if (is_legacy(stream)) {
        note("cudaStreamBeginCapture: the legacy stream (%p) cannot be captured", (void *)stream);
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    if (stream == cudaStreamPerThread) {
        note("cudaStreamBeginCapture: capturing cudaStreamPerThread is not emulated");
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    auto it = s.streams.find((uintptr_t)stream);
    if (it == s.streams.end()) {
        note("cudaStreamBeginCapture: stream %p is not a live stream", (void *)stream);
        return fail(cudaErrorInvalidResourceHandle);
    }
    stream_rec &r = it->second;
    if (r.cap) {
        note("cudaStreamBeginCapture: stream %p is capturing already", (void *)stream);
        return fail(cudaErrorIllegalState);
    }
    std::unique_ptr<CUgraph_st> g(new CUgraph_st);
    g->capturing = true;
    g->device = r.device;
    std::shared_ptr<capture_rec> c = std::make_shared<capture_rec>();
    c->id = ++s.next_capture;
    c->mode = mode;
    c->thread = std::this_thread::get_id();
    c->device = r.device;
    c->blocking = !(r.flags & cudaStreamNonBlocking);
    c->invalidated = false;
    c->stream = (uintptr_t)stream;
    c->graph = g.get();
    s.graphs[(uintptr_t)g.get()] = std::move(g);
    s.live_graphs++;
    r.cap = c;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *pGraph)
{
    if (!pGraph)
        return fail(cudaErrorInvalidValue);
    *pGraph = NULL;
    emu_state &s = S();
    std::shared_ptr<capture_rec> c;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        auto it = s.streams.find((uintptr_t)stream);
        if (it == s.streams.end() && !is_legacy(stream) && stream != cudaStreamPerThread) {
            note("cudaStreamEndCapture: stream %p is not a live stream", (void *)stream);
            return fail(cudaErrorInvalidResourceHandle);
        }
        if (it == s.streams.end() || !it->second.cap) {
            note("cudaStreamEndCapture: stream %p is not capturing", (void *)stream);
            return fail(cudaErrorIllegalState);
        }
        c = it->second.cap;
        if (c->mode != cudaStreamCaptureModeRelaxed && c->thread != std::this_thread::get_id()) {
            note("cudaStreamEndCapture: the %s capture on stream %p was begun by another thread",
                 mode_name(c->mode), (void *)stream);
            return fail(cudaErrorStreamCaptureWrongThread);
        }
        it->second.cap.reset();
        c->graph->capturing = false;
        if (c->invalidated || s.sticky.load()) {
            destroy_graph_locked(c->graph);
            if (!s.sticky.load())
                return fail(cudaErrorStreamCaptureInvalidated);
        } else {
            *pGraph = c->graph;
        }
    }
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    return cudaSuccess;
}

/* The capture status of stream (IsCapturing, GetCaptureInfo); *c the capture when active. */
static cudaError_t capture_status(cudaStream_t stream, const char *who,
                                  enum cudaStreamCaptureStatus *status, capture_rec *c_out)
{
    if (cudaError_t e = gate())
        return e;
    if (!status)
        return fail(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(S().mu);
    *status = cudaStreamCaptureStatusNone;
    if (is_legacy(stream)) /* the blocking captures are not invalidated by a query */
        return legacy_conflict_locked(t_device, who, false) ? fail(cudaErrorStreamCaptureImplicit)
                                                            : cudaSuccess;
    if (stream == cudaStreamPerThread)
        return cudaSuccess;
    auto it = S().streams.find((uintptr_t)stream);
    if (it == S().streams.end()) {
        note("%s: stream %p is not a live stream", who, (void *)stream);
        return fail(cudaErrorInvalidResourceHandle);
    }
    if (const capture_rec *c = it->second.cap.get()) {
        *status =
            c->invalidated ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
        if (c_out)
            *c_out = *c;
    }
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamIsCapturing(cudaStream_t stream,
                                             enum cudaStreamCaptureStatus *pCaptureStatus)
{
    return capture_status(stream, "cudaStreamIsCapturing", pCaptureStatus, NULL);
}

extern "C" cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream,
                                                enum cudaStreamCaptureStatus *captureStatus_out,
                                                unsigned long long *id_out, cudaGraph_t *graph_out,
                                                const cudaGraphNode_t **dependencies_out,
                                                const cudaGraphEdgeData **edgeData_out,
                                                size_t *numDependencies_out)
{
    if (edgeData_out && !dependencies_out)
        return fail(cudaErrorInvalidValue);
    capture_rec c{};
    if (cudaError_t e = capture_status(stream, "cudaStreamGetCaptureInfo", captureStatus_out, &c))
        return e;
    if (*captureStatus_out != cudaStreamCaptureStatusActive)
        return cudaSuccess;
    if (dependencies_out || edgeData_out || numDependencies_out) {
        note("cudaStreamGetCaptureInfo: the capture's dependencies are not emulated");
        return fail(cudaErrorNotSupported);
    }
    if (id_out)
        *id_out = c.id;
    if (graph_out)
        *graph_out = c.graph;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphInstantiate(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
                                            unsigned long long flags)
{
    if (cudaError_t e = gate())
        return e;
    if (!pGraphExec)
        return fail(cudaErrorInvalidValue);
    *pGraphExec = NULL;
    const unsigned long long known =
        cudaGraphInstantiateFlagAutoFreeOnLaunch | cudaGraphInstantiateFlagUpload |
        cudaGraphInstantiateFlagDeviceLaunch | cudaGraphInstantiateFlagUseNodePriority;
    if ((flags & ~known) || (flags & cudaGraphInstantiateFlagUpload) || /* WithParams only */
        ((flags & cudaGraphInstantiateFlagAutoFreeOnLaunch) &&
         (flags & cudaGraphInstantiateFlagDeviceLaunch))) {
        note("cudaGraphInstantiate: flags 0x%llx are not valid here", flags);
        return fail(cudaErrorInvalidValue);
    }
    emu_state &s = S();
    std::lock_guard<std::mutex> lock(s.mu);
    CUgraph_st *g = graph_locked(graph);
    if (!g || g->capturing) {
        note("cudaGraphInstantiate: %p is not a live graph%s", (void *)graph,
             g ? " (it is still being captured)" : "");
        return fail(cudaErrorInvalidValue);
    }
    std::unique_ptr<CUgraphExec_st> x(new CUgraphExec_st);
    x->device = g->device;
    x->nodes = std::make_shared<const std::vector<gc_emu_node>>(g->nodes);
    *pGraphExec = x.get();
    s.execs[(uintptr_t)x.get()] = std::move(x);
    s.live_graphs++;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream)
{
    if (cudaError_t e = gate())
        return e;
    emu_state &s = S();
    std::shared_ptr<const std::vector<gc_emu_node>> nodes;
    int dev = 0;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        CUgraphExec_st *x = exec_locked(graphExec);
        if (!x) {
            note("cudaGraphLaunch: %p is not a live executable graph (destroyed?)",
                 (void *)graphExec);
            return fail(cudaErrorInvalidValue);
        }
        const int sdev = stream_device_locked(stream);
        if (sdev < 0) {
            note("cudaGraphLaunch: stream %p is not a live stream", (void *)stream);
            return fail(cudaErrorInvalidResourceHandle);
        }
        if (sdev != x->device) {
            note("cudaGraphLaunch: a graph of device %d on a stream of device %d", x->device, sdev);
            return fail(cudaErrorInvalidValue);
        }
        std::shared_ptr<capture_rec> cap;
        if (cudaError_t e = route_locked(stream, "cudaGraphLaunch", &cap))
            return fail(e);
        if (cap) { /* launched into a capture: its nodes become that graph's */
            cap->graph->nodes.insert(cap->graph->nodes.end(), x->nodes->begin(), x->nodes->end());
            return cudaSuccess;
        }
        nodes = x->nodes;
        dev = x->device;
        if (s.lazy) { /* one op: the nodes in order, a fault ending the launch */
            pending_op op;
            op.what = "cudaGraphLaunch";
            op.work = [nodes] {
                for (const gc_emu_node &n : *nodes) {
                    if (S().sticky.load())
                        break;
                    n.work();
                }
            };
            enqueue_locked(queue_locked(stream), std::move(op));
            return cudaSuccess;
        }
    }
    /* the nodes in order, with the graph's device current (their checks use it); a node
     * that faults ends the launch, as the fault ends the graph's execution on a GPU */
    const int saved = t_device;
    t_device = dev;
    for (const gc_emu_node &n : *nodes) {
        if (s.sticky.load())
            break;
        n.work();
    }
    t_device = saved;
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphExecDestroy(cudaGraphExec_t graphExec)
{
    emu_state &s = S();
    {
        std::lock_guard<std::mutex> lock(s.mu);
        CUgraphExec_st *x = exec_locked(graphExec);
        if (!x) {
            note("cudaGraphExecDestroy(%p): not a live executable graph (destroyed twice?)",
                 (void *)graphExec);
            return fail(cudaErrorInvalidValue);
        }
        x->live = false;
        x->nodes.reset();
        s.live_graphs--;
    }
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    emu_state &s = S();
    {
        std::lock_guard<std::mutex> lock(s.mu);
        CUgraph_st *g = graph_locked(graph);
        if (!g) {
            note("cudaGraphDestroy(%p): not a live graph (destroyed twice?)", (void *)graph);
            return fail(cudaErrorInvalidValue);
        }
        if (g->capturing) {
            note("cudaGraphDestroy(%p): the graph is being captured into", (void *)graph);
            return fail(cudaErrorIllegalState);
        }
        destroy_graph_locked(g);
    }
    if (int st = s.sticky.load())
        return fail((cudaError_t)st);
    return cudaSuccess;
}
