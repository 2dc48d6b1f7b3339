/*
 * gc_internal.h — what every source file of the library shares: the error buffer and its
 * helpers, checked allocation, and small utilities. Nothing here is public.
 */
#ifndef GC_INTERNAL_H
#define GC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "gradcam.h"

#define GC_ERRMSG_LEN 1024

/* Where a failing call leaves its detailed message. The context embeds one. */
typedef struct gc_errbuf {
    char msg[GC_ERRMSG_LEN];
} gc_errbuf;

/* Formats the message into err (when err is not NULL) and returns status, so that a failing
 * function ends with `return gc_fail(err, GC_ERR_..., "...", ...);`. */
gc_status gc_fail(gc_errbuf *err, gc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prefixes the message already in err with more context ("loading weights: " + msg). */
void gc_err_prefix(gc_errbuf *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Multiplies sizes, failing (returning 0 and setting *overflow) instead of wrapping. */
static inline size_t gc_mul_size(size_t a, size_t b, int *overflow)
{
    if (a != 0 && b > SIZE_MAX / a) {
        *overflow = 1;
        return 0;
    }
    return a * b;
}

/* Hot element-wise loops get clones for newer x86-64 CPUs, picked at load time (glibc
 * ifunc): a generic x86-64 build would otherwise run them with SSE2 only. No reduction is
 * reordered and ISO C mode keeps FMA contraction off, so every clone computes the same bits
 * (explicit fmaf is exact in all of them; the FMA clone just makes it an instruction). */
/* Not under ThreadSanitizer: its runtime is not yet set up when glibc runs the resolvers at
 * load, and the process dies before main. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_THREAD__)
#define GC_CLONES __attribute__((target_clones("avx2", "default")))
#define GC_CLONES_FMA __attribute__((target_clones("arch=haswell", "default")))
#else
#define GC_CLONES
#define GC_CLONES_FMA
#endif

/* status.c: a monotonic clock in milliseconds (profiling). */
double gc_now_ms(void);

/* render.c: cv2.resize(cam, (W, H)) INTER_LINEAR on float32, cam (ch, cw) to dst (H, W).
 * GC_ERR_OUT_OF_MEMORY or GC_OK. */
gc_status gc_upsample_cam(const float *cam, int32_t cw, int32_t ch, float *dst, int32_t W,
                          int32_t H);

#define GC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* GC_INTERNAL_H */
