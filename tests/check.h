/*
 * check.h — CHECK(cond, fmt, ...) for test programs that go on after a failed expectation:
 * prints "FAIL file:line: message" and counts it in `failures`, which the including file
 * defines (static int failures;) and turns into its exit status.
 */
#ifndef GC_TEST_CHECK_H
#define GC_TEST_CHECK_H

#include <stdio.h>

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("  FAIL %s:%d: ", __FILE__, __LINE__);                                      \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

#endif /* GC_TEST_CHECK_H */
