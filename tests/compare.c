/*
 * compare.c — see compare.h.
 */
#include "compare.h"

#include <math.h>
#include <stdio.h>

int tc_compare(const char *run, const char *what, const float *got, const float *ref,
               size_t n, double tol, int relative, size_t max_outliers)
{
    double maxref = 0, maxerr = 0;
    size_t at = 0, outliers = 0;
    for (size_t i = 0; i < n; i++)
        maxref = fmax(maxref, fabs(ref[i]));
    const double bound = relative ? tol * fmax(maxref, 1e-6) : tol;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (isnan(e))
            e = INFINITY;
        outliers += e > bound;
        if (e > maxerr) {
            maxerr = e;
            at = i;
        }
    }
    const int ok = outliers <= max_outliers;
    if (run)
        printf("  %-16s", run);
    printf("  %-16s max err %.3g (bound %.3g, max|ref| %.3g)", what, maxerr, bound, maxref);
    if (outliers)
        printf(", %zu beyond (%zu allowed)", outliers, max_outliers);
    printf("%s\n", ok ? "" : "  FAIL");
    if (!ok && n)
        printf("      worst at %zu: got %.9g, want %.9g\n", at, got[at], ref[at]);
    return ok;
}

double tc_correlation(const float *a, const float *b, size_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++)
        ma += a[i], mb += b[i];
    ma /= (double)(n ? n : 1), mb /= (double)(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    if (saa == 0 && sbb == 0)
        return 1.0;
    return sab / sqrt(saa * sbb + 1e-300);
}
