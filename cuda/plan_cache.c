/*
 * plan_cache.c — see plan_cache.h.
 */
#define _POSIX_C_SOURCE 200809L /* strdup, O_CLOEXEC, whatever the build defines */
#include "plan_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GC_PLAN_CACHE_FILE "gradcam/cudnn-plans.tsv"

const char *gc_plan_cache_path(char *buf, size_t len)
{
    const char *env = getenv("GC_CUDNN_PLAN_CACHE");
    if (env && *env) {
        if (!strcmp(env, "off") || !strcmp(env, "0"))
            return NULL;
        snprintf(buf, len, "%s", env);
        return buf;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(buf, len, "%s/" GC_PLAN_CACHE_FILE, xdg);
    else if (home && *home)
        snprintf(buf, len, "%s/.cache/" GC_PLAN_CACHE_FILE, home);
    else
        return NULL;
    return buf;
}

static int fail(char *why, size_t why_len, const char *what, const char *path)
{
    if (why)
        snprintf(why, why_len, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/* Sets key -> tag in memory (replacing an earlier tag). */
static int put(gc_plan_cache *c, const char *key, const char *tag)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->keys[i], key)) {
            char *t = strdup(tag);
            if (!t)
                return -1;
            free(c->tags[i]);
            c->tags[i] = t;
            return 0;
        }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        char **k = (char **)realloc(c->keys, sizeof(char *) * (size_t)cap);
        if (!k)
            return -1;
        c->keys = k;
        char **t = (char **)realloc(c->tags, sizeof(char *) * (size_t)cap);
        if (!t)
            return -1;
        c->tags = t;
        c->cap = cap;
    }
    char *k = strdup(key), *t = strdup(tag);
    if (!k || !t) {
        free(k);
        free(t);
        return -1;
    }
    c->keys[c->n] = k;
    c->tags[c->n++] = t;
    return 0;
}

int gc_plan_cache_open(gc_plan_cache *c, const char *path, char *why, size_t why_len)
{
    memset(c, 0, sizeof *c);
    if (why && why_len)
        why[0] = 0;
    if (!path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) /* nothing cached yet */
            return (c->path = strdup(path)) ? 0 : -1;
        return fail(why, why_len, "cannot read", path);
    }
    char line[1024];
    int ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') { /* too long, or cut short by a crash */
            if (len == sizeof line - 1) { /* skip the rest of an over-long line */
                int ch;
                while ((ch = fgetc(f)) != EOF && ch != '\n') {
                }
            }
            continue;
        }
        line[len - 1] = 0;
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab || tab == line || !tab[1] || strchr(tab + 1, '\t'))
            continue;
        *tab = 0;
        ok = put(c, line, tab + 1) == 0;
    }
    fclose(f);
    if (!ok || !(c->path = strdup(path))) {
        gc_plan_cache_close(c);
        if (why)
            snprintf(why, why_len, "out of memory reading %s", path);
        return -1;
    }
    return 0;
}

const char *gc_plan_cache_find(const gc_plan_cache *c, const char *key)
{
    for (int i = c->n - 1; i >= 0; i--)
        if (!strcmp(c->keys[i], key))
            return c->tags[i];
    return NULL;
}

/* mkdir -p of path's folder */
static int make_parent(const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(dir, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int gc_plan_cache_add(gc_plan_cache *c, const char *key, const char *tag, char *why,
                      size_t why_len)
{
    if (!c->path)
        return 0;
    if (!*key || !*tag || strpbrk(key, "\t\n") || strpbrk(tag, "\t\n")) {
        if (why)
            snprintf(why, why_len, "a key or tag with a tab or newline");
        return -1;
    }
    if (put(c, key, tag) != 0) {
        if (why)
            snprintf(why, why_len, "out of memory");
        return -1;
    }
    char line[1024];
    int len = snprintf(line, sizeof line, "%s\t%s\n", key, tag);
    if (len < 0 || (size_t)len >= sizeof line) {
        if (why)
            snprintf(why, why_len, "an entry over %zu bytes", sizeof line);
        return -1;
    }
    if (make_parent(c->path) != 0)
        return fail(why, why_len, "cannot create the folder of", c->path);
    int fd = open(c->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(why, why_len, "cannot open", c->path);
    /* one write: appends from several processes never interleave within a line */
    ssize_t w = write(fd, line, (size_t)len);
    int saved = errno;
    close(fd);
    if (w != len) {
        errno = w < 0 ? saved : ENOSPC;
        return fail(why, why_len, "cannot append to", c->path);
    }
    return 0;
}

void gc_plan_cache_close(gc_plan_cache *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->keys[i]);
        free(c->tags[i]);
    }
    free(c->keys);
    free(c->tags);
    free(c->path);
    memset(c, 0, sizeof *c);
}
