/*
 * test_ranking.c — the class ranking of gc_result (src/gc_math.h: gc_top1, the explained
 * class when none is asked for, on the CPU and in the GPU's score kernel; gc_top_classes,
 * the top-5) against an independent oracle: qsort of the indices by logit, largest first,
 * NaN after every number, equal logits in index order.
 *
 *     test_ranking
 *
 * Logits: random draws from a few values (many ties), with NaN and +-infinity mixed in, for
 * every K from 1 to 40 and ImageNet's 1000; k = 1..7 (fewer classes than k: -1 past K).
 * Exit 0 when every case agrees.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gc_math.h"

static const float *sort_z; /* qsort has no context argument */

static int by_rank(const void *pa, const void *pb)
{
    const int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    const float za = sort_z[a], zb = sort_z[b];
    const int na = isnan(za), nb = isnan(zb);
    if (na != nb)
        return na - nb; /* NaN last */
    if (!na && za != zb)
        return za > zb ? -1 : 1;
    return (a > b) - (a < b);
}

static uint32_t rng = 12345u;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static float draw(int spice)
{
    const uint32_t r = next() % 16;
    if (spice && r == 0)
        return NAN;
    if (spice && r == 1)
        return INFINITY;
    if (spice && r == 2)
        return -INFINITY;
    return (float)(int)(next() % 7) - 3.0f; /* seven values: ties everywhere */
}

int main(void)
{
    enum { KMAX = 1000 };
    static float z[KMAX];
    static int32_t order[KMAX];
    long cases = 0, failures = 0;
    for (int round = 0; round < 200; round++) {
        for (int32_t K = 1; K <= 41; K++) {
            const int32_t n = K == 41 ? KMAX : K;
            const int spice = round % 2;
            for (int32_t j = 0; j < n; j++) {
                z[j] = round % 4 == 2 ? (float)(next() % 100000) : draw(spice);
                order[j] = j;
            }
            sort_z = z;
            qsort(order, (size_t)n, sizeof order[0], by_rank);
            const int32_t t1 = gc_top1(z, n);
            cases++;
            if (t1 != order[0] && failures++ < 10)
                fprintf(stderr, "K %d round %d: gc_top1 %d, oracle %d\n", n, round, t1,
                        order[0]);
            for (int32_t k = 1; k <= 7; k++) {
                int32_t top[7];
                gc_top_classes(z, n, k, top);
                cases++;
                for (int32_t t = 0; t < k; t++) {
                    const int32_t want = t < n ? order[t] : -1;
                    if (top[t] != want) {
                        if (failures++ < 10)
                            fprintf(stderr, "K %d k %d round %d: rank %d is %d, oracle %d\n", n,
                                    k, round, t, top[t], want);
                        break;
                    }
                }
            }
        }
    }
    printf("%ld cases, %ld failed\n", cases, failures);
    return failures ? 1 : 0;
}
