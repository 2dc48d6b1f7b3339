/*
 * parts.c — the results of an MPI run. Each rank appends its lines to its own file,
 * OUT/results.rank<R>.jsonl, so no two processes ever write one file; rank 0 merges them into
 * OUT/results.jsonl when every rank is done (and, with --resume, first thing, the parts of a
 * run that was killed).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void part_path(const char *out_dir, int rank, char *buf, size_t len)
{
    snprintf(buf, len, "%s/results.rank%d.jsonl", out_dir, rank);
}

/* "results.rank<digits>.jsonl" -> the rank, else -1 */
static long part_rank(const char *name)
{
    const char *p = name + strlen("results.rank");
    if (strncmp(name, "results.rank", strlen("results.rank")) != 0 || *p < '0' || *p > '9')
        return -1;
    char *end;
    long r = strtol(p, &end, 10);
    return strcmp(end, ".jsonl") == 0 ? r : -1;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The ranks that have part files in dir, sorted. NULL (count 0) when there are none. */
static long *list_parts(const char *dir, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    long *ranks = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long r = part_rank(e->d_name);
        if (r < 0)
            continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 16;
            long *nr = realloc(ranks, cap * sizeof *nr);
            if (!nr)
                break;
            ranks = nr;
        }
        ranks[(*count)++] = r;
    }
    closedir(d);
    if (*count)
        qsort(ranks, *count, sizeof *ranks, cmp_long);
    return ranks;
}

int parts_exist(const char *out_dir)
{
    size_t n;
    free(list_parts(out_dir, &n));
    return n > 0;
}

/* Copies `from` to the end of `to`; a torn last line (a killed rank) gets its newline so that
 * it stays a line of its own, which --resume then ignores. */
static int append_file(FILE *to, const char *from)
{
    FILE *f = fopen(from, "r");
    if (!f)
        return errno == ENOENT;
    char buf[65536];
    size_t n;
    int last = '\n', ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        ok = fwrite(buf, 1, n, to) == n;
        last = buf[n - 1];
    }
    ok = ok && !ferror(f);
    fclose(f);
    if (ok && last != '\n')
        ok = fputc('\n', to) != EOF;
    return ok && fflush(to) == 0;
}

int parts_merge(const char *out_dir, int discard, char *err, size_t errlen)
{
    size_t n;
    long *ranks = list_parts(out_dir, &n);
    char results[4096], part[4096];
    snprintf(results, sizeof results, "%s/results.jsonl", out_dir);
    FILE *to = NULL;
    int ok = 1;
    if (n && !discard) {
        to = fopen(results, "a+");
        ok = to != NULL;
        int torn = ok && fseek(to, -1, SEEK_END) == 0 && fgetc(to) != '\n';
        /* from reading to writing needs a positioning call (C11 7.21.5.3) */
        ok = ok && fseek(to, 0, SEEK_END) == 0 && (!torn || fputc('\n', to) != EOF);
        if (!ok)
            snprintf(err, errlen, "%s: cannot write: %s", results, strerror(errno));
    }
    for (size_t i = 0; ok && i < n; i++) {
        part_path(out_dir, (int)ranks[i], part, sizeof part);
        if (to && !append_file(to, part)) {
            snprintf(err, errlen, "%s: cannot merge %s: %s", results, part, strerror(errno));
            ok = 0;
        } else if (unlink(part) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "%s: cannot remove: %s", part, strerror(errno));
            ok = 0;
        }
    }
    if (to && fclose(to) != 0 && ok) {
        snprintf(err, errlen, "%s: cannot write: %s", results, strerror(errno));
        ok = 0;
    }
    free(ranks);
    return ok;
}
