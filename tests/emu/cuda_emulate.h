/*
 * cuda_emulate.h — just enough of CUDA's execution model to run the backend's own kernels
 * (cuda/kernels.cu, cuda/image_kernels.cu) on the CPU, built by the host compiler: the
 * built-in index variables and a GC_LAUNCH that walks the grid. Included by
 * cuda/device_common.cuh when GC_CUDA_EMULATE is defined (tests/emu only).
 *
 * Sequential execution is a faithful schedule for these kernels because each thread writes
 * only its own outputs and reads nothing another thread writes (no shared memory, barriers,
 * atomics or warp operations; cuda/kernels.cu says so at its top). What it checks: every
 * index computation, grid-stride loop, bound and the maths. What it cannot: timing, races,
 * device-only intrinsics' rounding (the image maths' intrinsics are shared with the host
 * code through src/image_math.h and checked in test_pixel_paths), launch limits.
 *
 * A launch goes through gc_emu_submit (mock_cudart.h): on a capturing stream the grid walk is
 * recorded into the graph, with copies of the kernel's arguments, and runs at each
 * cudaGraphLaunch; pointers among the arguments are not checked when it runs (the runtime's
 * copies and the library mocks re-check theirs).
 */
#ifndef GC_CUDA_EMULATE_H
#define GC_CUDA_EMULATE_H

#include <cuda_runtime.h>
#include <string.h>

#include <atomic>

#include "mock_cudart.h"

/* CUDA's built-in variables: one set per host thread (contexts on several threads, as the
 * command's workers, each walk their own grids). */
inline thread_local uint3 blockIdx, threadIdx;
inline thread_local dim3 blockDim, gridDim;

/* nvcc's occupancy hint; the host compiler's CUDA headers leave it undefined */
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif

/* device intrinsics the kernels use that the CUDA headers declare for device code only */
static inline unsigned int __float_as_uint(float f)
{
    unsigned int u;
    memcpy(&u, &f, sizeof u);
    return u;
}

namespace gc_emu {

/* Counts every emulated launch that ran (a captured one at each launch of its graph), for
 * the test to check that a call launched at all. */
inline std::atomic<unsigned long> launches;

template <typename K> struct launch {
    dim3 grid, block;
    cudaStream_t stream;
    const char *name;
    K kernel;
    template <typename... A> void operator()(A... args) const
    {
        /* what the runtime refuses at launch, as it does: the last error, no kernel run */
        const unsigned long threads = (unsigned long)block.x * block.y * block.z;
        if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
            grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
            gc_emu_launch_config_error(name, grid.x, grid.y, grid.z, block.x, block.y, block.z);
            return;
        }
        if (gc_emu_launch_check(stream, name) != 0) /* a dead stream, another device's, a
                                                       sticky fault */
            return;
        /* the grid walk: now, or at every launch of the graph of a capturing stream (the
         * kernel and its arguments copied; the built-in variables set when it runs, on the
         * thread that runs it). A capture refusing it is a launch error (the last error). */
        const dim3 g = grid, b = block;
        const K k = kernel;
        gc_emu_submit(stream, name, [g, b, k, args...] {
            gridDim = g;
            blockDim = b;
            launches++;
            for (unsigned bz = 0; bz < g.z; bz++)
                for (unsigned by = 0; by < g.y; by++)
                    for (unsigned bx = 0; bx < g.x; bx++)
                        for (unsigned tz = 0; tz < b.z; tz++)
                            for (unsigned ty = 0; ty < b.y; ty++)
                                for (unsigned tx = 0; tx < b.x; tx++) {
                                    blockIdx = make_uint3(bx, by, bz);
                                    threadIdx = make_uint3(tx, ty, tz);
                                    k(args...);
                                }
        });
    }
};

template <typename K>
launch<K> make_launch(dim3 grid, dim3 block, cudaStream_t stream, const char *name, K kernel)
{
    return launch<K>{grid, block, stream, name, kernel};
}

} /* namespace gc_emu */

/* The launch is checked by the emulated runtime (tests/emu/mock_cudart.cpp) as a GPU's would
 * be: limits, the stream, a pending sticky fault; LAUNCH_CHECK then reads the last error. */
#define GC_LAUNCH(grid, block, st, ...)                                                        \
    gc_emu::make_launch((grid), (block), (st), #__VA_ARGS__, __VA_ARGS__)
/* dynamic shared memory: the kernel keeps its own buffer per host thread (its emulated blocks
 * run one by one); what a GPU allows is the kernel's own check */
#define GC_LAUNCH_SMEM(grid, block, bytes, st, ...)                                            \
    ((void)(bytes), gc_emu::make_launch((grid), (block), (st), #__VA_ARGS__, __VA_ARGS__))

#endif /* GC_CUDA_EMULATE_H */
