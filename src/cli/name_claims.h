/*
 * name_claims.h — which output names the inputs of a run have claimed: two inputs whose
 * outputs would have the same names (a.jpg and a.png in one folder; cat.jpg from two folders
 * given as files or on stdin, named by file name alone) must not write over each other.
 */
#ifndef GC_CLI_NAME_CLAIMS_H
#define GC_CLI_NAME_CLAIMS_H

#include <stddef.h>
#include <stdint.h>

/* A set of 64-bit hashes of names (open addressing, at most half full): 16 bytes per name or
 * less, however long the names, so that a long-lived worker reading paths from stdin stays
 * small. Two different names share a hash with probability 2^-64 per pair. */
typedef struct name_claims {
    uint64_t *slots; /* 0: empty */
    size_t cap, count;
} name_claims;

/* 1 when `name` was not claimed before (it is now), 0 when it was, -1 when out of memory
 * (nothing claimed). */
int name_claim(name_claims *c, const char *name);

void name_claims_free(name_claims *c);

#endif
