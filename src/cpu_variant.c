/*
 * cpu_variant.c — which variant of the hot loops this CPU runs (GC_VARIANTS, gc_internal.h).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "gc_internal.h"

int gc_cpu_avx2_fma(void)
{
    static atomic_int known = -1; /* every thread computes the same answer: no lock */
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v < 0) {
        const char *base = getenv("GC_CPU_BASELINE");
        v = !(base && *base && *base != '0');
#if defined(__GNUC__) && defined(__x86_64__)
        v = v && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        v = 0;
#endif
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
}
