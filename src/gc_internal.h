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

/* gc_fail for a plain buffer (the image file functions' err, err_len): formats the message
 * into err when err_len > 0 and returns status. */
gc_status gc_fail_text(char *err, size_t err_len, gc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* strerror(e), thread-safe: the text in buf (len bytes), returned. */
const char *gc_errno_text(int e, char *buf, size_t len);

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

/* Hot element-wise loops come in two variants, one compiled for AVX2 + FMA and one for the
 * x86-64 baseline (SSE2), and each call runs the one this CPU supports. GC_VARIANTS(name,
 * (params), (args)) defines name(params) around the always-inline body name_body(params).
 * No reduction is reordered and ISO C mode keeps FMA contraction off, so both variants
 * compute the same bits (explicit fmaf is exact in both; with FMA it is an instruction, in
 * the baseline a call). GCC's target_clones did this before, but its "arch=haswell" clone
 * is picked by CPU model (__builtin_cpu_is), so it never ran on AMD or on any Intel CPU
 * after Haswell; its load-time resolvers also kept ThreadSanitizer from starting.
 * GC_CPU_BASELINE=1 in the environment forces the baseline (the tests run both). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GC_BODY static inline __attribute__((always_inline))
#define GC_VARIANTS(name, params, args)                                                   \
    static void name##_base params { name##_body args; }                                  \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; } \
    static void name params                                                               \
    {                                                                                     \
        if (gc_cpu_avx2_fma())                                                            \
            name##_avx2 args;                                                             \
        else                                                                              \
            name##_base args;                                                             \
    }
#else
#define GC_BODY static inline
#define GC_VARIANTS(name, params, args) \
    static void name params { name##_body args; }
#endif

/* cpu_variant.c: 1 when the CPU runs AVX2 and FMA and GC_CPU_BASELINE is not set. */
int gc_cpu_avx2_fma(void);

/* status.c: a monotonic clock in milliseconds (profiling). */
double gc_now_ms(void);

/* render.c: cv2.resize(cam, (W, H)) INTER_LINEAR on float32, cam (ch, cw) to dst (H, W).
 * GC_ERR_OUT_OF_MEMORY or GC_OK. */
gc_status gc_upsample_cam(const float *cam, int32_t cw, int32_t ch, float *dst, int32_t W,
                          int32_t H);

#define GC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif /* GC_INTERNAL_H */
