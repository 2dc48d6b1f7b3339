/*
 * fuzz_regress.c — replays inputs through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that the normal build (CTest) keeps every crash the fuzzers found fixed.
 * Compiled together with one fuzz_<target>.c.
 *
 *     fuzz_regress_<target> FILE_OR_DIR...
 *
 * A directory stands for the regular files directly inside it (sorted by name). Each input is
 * read into a buffer of exactly its size, as libFuzzer does. A broken promise aborts (the
 * target's FUZZ_CHECK); a memory error shows under GC_SANITIZE=ON builds. Prints one line per
 * input and exits 0 when all ran, 1 when an input could not be read or none were given.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fuzz_regress: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "fuzz_regress: out of memory reading %s\n", path);
            fclose(fp);
            return -1;
        }
        len += fread(buf + len, 1, cap - len, fp);
        if (len < cap)
            break;
        cap *= 2;
        uint8_t *nbuf = realloc(buf, cap);
        if (!nbuf)
            free(buf);
        buf = nbuf;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        fprintf(stderr, "fuzz_regress: cannot read %s\n", path);
        free(buf);
        return -1;
    }
    /* exactly len bytes, so that a sanitizer build sees a read past the end */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    printf("replay %s (%zu bytes)\n", path, len);
    fflush(stdout);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the number of inputs replayed, or -1. */
static int replay(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "fuzz_regress: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode))
        return replay_file(path) == 0 ? 1 : -1;
    DIR *dir = opendir(path);
    if (!dir) {
        fprintf(stderr, "fuzz_regress: cannot list %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) {
            rc = -1;
            break;
        }
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(dir);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat fs;
        if (rc >= 0 && stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode))
            rc = replay_file(names[i]) == 0 ? rc + 1 : -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        int n = replay(argv[i]);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%d input(s) replayed\n", total);
    return total > 0 ? 0 : 1;
}
