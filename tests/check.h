/*
 * check.h — CHECK(cond, fmt, ...) for test programs that go on after a failed expectation:
 * prints "FAIL file:line: message" and counts it in `failures`, which the including file
 * defines (static int failures;) and turns into its exit status. A file that also counts
 * its checks defines GC_CHECK_COUNT (e.g. `checks++`) before including this.
 */
#ifndef GC_TEST_CHECK_H
#define GC_TEST_CHECK_H

#include <stdio.h>

#ifndef GC_CHECK_COUNT
#define GC_CHECK_COUNT (void)0
#endif

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        GC_CHECK_COUNT;                                                                        \
        if (!(cond)) {                                                                         \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                      \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

#endif /* GC_TEST_CHECK_H */
