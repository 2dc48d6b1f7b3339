/*
 * name_claims.c — the set of output names claimed in a run (name_claims.h).
 */
#include <stdlib.h>

#include "name_claims.h"

/* FNV-1a over the bytes, then a 64-bit finalizer (splitmix64's) so that the low bits that
 * pick a slot depend on every byte; never 0 (the empty slot). */
static uint64_t name_hash(const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

/* h into slots (cap a power of two, a free slot left): 1 when added, 0 when there. */
static int insert(uint64_t *slots, size_t cap, uint64_t h)
{
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (slots[i] == h)
            return 0;
        if (slots[i] == 0) {
            slots[i] = h;
            return 1;
        }
    }
}

int name_claim(name_claims *c, const char *name)
{
    if (2 * (c->count + 1) > c->cap) {
        const size_t cap = c->cap ? 2 * c->cap : 1024;
        uint64_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < c->cap; i++)
            if (c->slots[i])
                insert(slots, cap, c->slots[i]);
        free(c->slots);
        c->slots = slots;
        c->cap = cap;
    }
    const int added = insert(c->slots, c->cap, name_hash(name));
    c->count += (size_t)added;
    return added;
}

void name_claims_free(name_claims *c)
{
    free(c->slots);
    c->slots = NULL;
    c->cap = c->count = 0;
}
