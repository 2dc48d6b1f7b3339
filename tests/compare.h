/*
 * compare.h — the numerical comparisons the tests share (test_golden.c, tests/gpu/): one
 * array against its reference, printed as one line, and Pearson correlation.
 */
#ifndef GC_TEST_COMPARE_H
#define GC_TEST_COMPARE_H

#include <stddef.h>

/* max |got - ref| against tol, relative to max|ref| (floored at 1e-6) when `relative`, else
 * absolute; up to max_outliers elements may exceed the bound (NaN always does). Prints
 * "  [run] what  max err ... " and, on failure, the worst element. Returns 1 when within. */
int tc_compare(const char *run, const char *what, const float *got, const float *ref,
               size_t n, double tol, int relative, size_t max_outliers);

/* Pearson correlation of a and b; 1 when both are constant (e.g. all-zero cams). */
double tc_correlation(const float *a, const float *b, size_t n);

#endif
