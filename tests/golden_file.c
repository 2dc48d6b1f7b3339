/*
 * golden_file.c — see golden_file.h.
 */
#include "golden_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *golden_meta(const st_file *f, const char *key)
{
    const char *v = st_metadata(f, key);
    return v ? v : "";
}

float *golden_tensor(const st_file *f, const char *name, size_t *count)
{
    const st_tensor *t = st_find(f, name);
    if (!t) {
        fprintf(stderr, "golden has no tensor '%s'\n", name);
        exit(1);
    }
    float *buf = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    if (!buf) {
        fprintf(stderr, "out of memory for '%s'\n", name);
        exit(1);
    }
    if (t->dtype == ST_I32) {
        for (int64_t i = 0; i < t->numel; i++) {
            int32_t v;
            memcpy(&v, t->data + 4 * i, 4);
            buf[i] = (float)v;
        }
    } else if (t->dtype == ST_U8) {
        for (int64_t i = 0; i < t->numel; i++)
            buf[i] = (float)t->data[i];
    } else if (st_to_float(f, t, buf, NULL) != GC_OK) {
        fprintf(stderr, "golden tensor '%s' unreadable\n", name);
        exit(1);
    }
    *count = (size_t)t->numel;
    return buf;
}

int golden_open(const char *path, golden_case *gc)
{
    gc_errbuf err = {{0}};
    memset(gc, 0, sizeof *gc);
    if (st_open(path, &gc->golden, &err) != GC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    char dir[1024], input[2048];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = 0;
    else
        strcpy(dir, "./");
    snprintf(gc->weights, sizeof gc->weights, "%s%s", dir, golden_meta(&gc->golden, "weights"));
    snprintf(input, sizeof input, "%s%s", dir, golden_meta(&gc->golden, "input"));
    if (st_open(input, &gc->input, &err) != GC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        st_close(&gc->golden);
        return 0;
    }
    return 1;
}

void golden_close(golden_case *gc)
{
    st_close(&gc->golden);
    st_close(&gc->input);
}
