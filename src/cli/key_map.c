/*
 * key_map.c — 64-bit keys to 64-bit values (key_map.h).
 */
#include <stdlib.h>

#include "key_map.h"

/* splitmix64's finalizer: every input bit moves the low bits that pick a slot */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

uint64_t name_key(const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    h = mix(h);
    return h ? h : 1;
}

uint64_t file_key(const struct stat *sb)
{
    const uint64_t h = mix(mix((uint64_t)sb->st_dev) ^ (uint64_t)sb->st_ino);
    return h ? h : 1;
}

/* The slot of key in slots (cap a power of two, a free slot left): where it is, or the free
 * slot where it would go. */
static size_t find(const uint64_t *slots, size_t cap, uint64_t key)
{
    size_t i = (size_t)key & (cap - 1);
    while (slots[3 * i] != 0 && slots[3 * i] != key)
        i = (i + 1) & (cap - 1);
    return i;
}

int key_map_put(key_map *m, uint64_t key, uint64_t a, uint64_t b)
{
    if (key_map_get(m, key))
        return 0;
    if (2 * (m->count + 1) > m->cap) {
        const size_t cap = m->cap ? 2 * m->cap : 1024;
        uint64_t *slots = calloc(3 * cap, sizeof *slots);
        if (!slots)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[3 * i]) {
                const size_t j = find(slots, cap, m->slots[3 * i]);
                for (int w = 0; w < 3; w++)
                    slots[3 * j + w] = m->slots[3 * i + w];
            }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    const size_t i = find(m->slots, m->cap, key);
    m->slots[3 * i] = key;
    m->slots[3 * i + 1] = a;
    m->slots[3 * i + 2] = b;
    m->count++;
    return 1;
}

uint64_t *key_map_get(const key_map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    const size_t i = find(m->slots, m->cap, key);
    return m->slots[3 * i] == key ? m->slots + 3 * i + 1 : NULL;
}

void key_map_free(key_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}
