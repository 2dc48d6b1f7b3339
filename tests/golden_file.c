/*
 * golden_file.c — see golden_file.h.
 */
#include "golden_file.h"

#include <cJSON.h>
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

gc_options golden_options(const golden_case *gc)
{
    const st_file *f = &gc->golden;
    static const char *methods[] = {"gradcam",  "gradcampp",       "xgradcam",
                                    "layercam", "hirescam",        "guided_backprop",
                                    "guided_gradcam"};
    gc_options o = gc_options_default();
    o.weights_path = gc->weights;
    o.layer = *golden_meta(f, "layer") ? golden_meta(f, "layer") : NULL;
    o.arch = *golden_meta(f, "arch") ? golden_meta(f, "arch") : NULL;
    o.score = strcmp(golden_meta(f, "score"), "softmax") == 0 ? GC_SCORE_SOFTMAX : GC_SCORE_LOGIT;
    o.norm = strcmp(golden_meta(f, "norm"), "minmax") == 0 ? GC_NORM_MINMAX : GC_NORM_MAX;
    o.input_width = atoi(golden_meta(f, "input_w"));
    o.input_height = atoi(golden_meta(f, "input_h"));
    o.counterfactual = atoi(golden_meta(f, "counterfactual"));
    for (int k = 0; k < (int)(sizeof methods / sizeof methods[0]); k++)
        if (strcmp(golden_meta(f, "method"), methods[k]) == 0)
            o.method = (gc_method)k;
    return o;
}

int32_t *golden_classes(const golden_case *gc, int32_t *n)
{
    cJSON *req = cJSON_Parse(golden_meta(&gc->golden, "classes"));
    *n = req ? (int32_t)cJSON_GetArraySize(req) : 0;
    int32_t *classes = *n > 0 ? malloc(sizeof(int32_t) * (size_t)*n) : NULL;
    if (!classes) {
        fprintf(stderr, "golden metadata 'classes' missing\n");
        exit(1);
    }
    for (int32_t i = 0; i < *n; i++)
        classes[i] = (int32_t)cJSON_GetArrayItem(req, i)->valueint;
    cJSON_Delete(req);
    return classes;
}
