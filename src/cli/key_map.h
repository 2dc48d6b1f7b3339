/*
 * key_map.h — a map of 64-bit keys (hashes of names, file identities) to two 64-bit values,
 * for what the command must remember about every input of a run without keeping its strings:
 * the output names claimed so far (and by which input), the files that are inputs.
 */
#ifndef GC_CLI_KEY_MAP_H
#define GC_CLI_KEY_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Open addressing, at most half full: 48 to 96 bytes per key (144 while growing), however
 * long the names, so that a long-lived worker reading paths from stdin stays small. Two
 * different names share a key with probability 2^-64 per pair. */
typedef struct key_map {
    uint64_t *slots; /* key, value a, value b; key 0: empty */
    size_t cap, count;
} key_map;

/* 1 when key was not there (it now maps to a, b), 0 when it was (nothing changes), -1 when
 * out of memory (nothing added). key must not be 0. */
int key_map_put(key_map *m, uint64_t key, uint64_t a, uint64_t b);
/* key's two values (to read or change in place; valid until the next put), or NULL. key must
 * not be 0. */
uint64_t *key_map_get(const key_map *m, uint64_t key);
void key_map_free(key_map *m);

/* The key of a name (FNV-1a and a finalizer), and of a file (its device and inode, from its
 * stat): never 0 (callers keep 0 for "unknown"). */
uint64_t name_key(const char *name);
uint64_t file_key(const struct stat *sb);

#endif
