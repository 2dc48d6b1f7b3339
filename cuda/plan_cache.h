/*
 * plan_cache.h — the autotuner's choices kept on disk, so that a context created again on
 * the same GPU, cuDNN and shapes takes its engine configs without timing them (seconds to a
 * minute saved per context; docs/api.md, options.autotune).
 *
 * A text file, one choice per line: "<key>\t<engine config tag>\n", the key saying everything
 * the choice depends on (device, compute capability, cuDNN version, which conv, its shape,
 * element type, numerics, fusion). Lines are appended with one write() each (O_APPEND), so
 * processes sharing the file (MPI ranks, --workers-per-device) never interleave within a
 * line; a later line for a key wins; lines that do not parse are ignored. Nothing here is
 * fatal: a cache that cannot be read or written only costs the timing again (the reason goes
 * into the autotune report).
 *
 * Where: GC_CUDNN_PLAN_CACHE (a file path; "off" or "0" turns the cache off), else
 * $XDG_CACHE_HOME/gradcam/cudnn-plans.tsv, else $HOME/.cache/gradcam/cudnn-plans.tsv.
 * Plain C, no CUDA: tests/test_plan_cache.c checks it on any machine.
 */
#ifndef GC_PLAN_CACHE_H
#define GC_PLAN_CACHE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gc_plan_cache {
    char *path;   /* NULL: the cache is off */
    char **keys;  /* n entries, owned */
    char **tags;
    int n, cap;
} gc_plan_cache;

/* The file to use (see above) into buf; returns buf, or NULL when the cache is off or no
 * location is known. */
const char *gc_plan_cache_path(char *buf, size_t len);

/* Loads path's choices (a missing file is an empty cache). path NULL: an off cache, every
 * call below then does nothing. 0 on success; -1 with why (errno's text) when the file
 * exists but cannot be read, or on out of memory: the cache is then off. */
int gc_plan_cache_open(gc_plan_cache *c, const char *path, char *why, size_t why_len);

/* The tag stored for key, or NULL. */
const char *gc_plan_cache_find(const gc_plan_cache *c, const char *key);

/* Records key -> tag in memory and appends it to the file (creating its folder). Keys and
 * tags must not contain tabs or newlines (-1 if they do). 0 on success; -1 with why. */
int gc_plan_cache_add(gc_plan_cache *c, const char *key, const char *tag, char *why,
                      size_t why_len);

void gc_plan_cache_close(gc_plan_cache *c);

#ifdef __cplusplus
}
#endif

#endif /* GC_PLAN_CACHE_H */
