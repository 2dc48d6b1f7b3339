/*
 * model.c — from a safetensors file to a gc_model: find the layout (torchvision or timm,
 * with or without BatchNorm, any key prefix such as "module."), infer or take the cfg,
 * check every shape against it, fold BatchNorm, reorder weights for NHWC.
 */
#include "model.h"

#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

#define GC_BN_EPS 1e-5f /* torch.nn.BatchNorm2d's default */

typedef struct loader {
    st_file f;
    char prefix[128]; /* e.g. "module." before "features.0.weight" */
    gc_errbuf *err;
} loader;

static const st_tensor *ld_find(loader *ld, const char *fmt, int index, const char *suffix)
{
    char key[256];
    char mid[128];
    snprintf(mid, sizeof mid, fmt, index);
    snprintf(key, sizeof key, "%s%s%s", ld->prefix, mid, suffix);
    return st_find(&ld->f, key);
}

/* Checks dtype and shape, then converts. shape has ndim entries; -1 = any. */
static gc_status ld_read(loader *ld, const st_tensor *t, int ndim, const int64_t *shape,
                         float **out)
{
    if (!st_dtype_is_float(t->dtype))
        return gc_fail(ld->err, GC_ERR_WEIGHTS_FORMAT,
                       "%s: tensor '%s': dtype %s, expected F32, F16 or BF16", ld->f.path,
                       t->name, st_dtype_name(t->dtype));
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = shape[d] < 0 || t->shape[d] == shape[d];
    if (!ok) {
        char want[128] = "", got[128] = "";
        for (int d = 0; d < ndim; d++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                     (long long)shape[d]);
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        return gc_fail(ld->err, GC_ERR_MODEL,
                       "%s: tensor '%s': shape (%s), expected (%s) for this architecture",
                       ld->f.path, t->name, got, want);
    }
    float *buf = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
    if (!buf)
        return gc_fail(ld->err, GC_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", t->name);
    gc_status st = st_to_float(&ld->f, t, buf, ld->err);
    if (st != GC_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return GC_OK;
}

/* (O, C, kh, kw) -> (O, kh, kw, C): the order of an NHWC patch. */
static float *reorder_ockk(const float *src, int O, int C, int kh, int kw)
{
    float *dst = malloc(sizeof(float) * (size_t)O * C * kh * kw);
    if (!dst)
        return NULL;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    dst[(((size_t)o * kh + y) * kw + x) * C + c] =
                        src[(((size_t)o * C + c) * kh + y) * kw + x];
    return dst;
}

/* ---------------------------------------------------------------- cfg strings */

/* Parses "64,64,M,128" into widths (pool = 0). Returns the count, or -1. */
static int parse_cfg(const char *s, int32_t *items, int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '[' || *p == ']' || *p == '\'' || *p == '"')
            p++;
        if (!*p)
            break;
        if (n == max)
            return -1;
        if (*p == 'M' || *p == 'm') {
            items[n++] = 0;
            p++;
        } else if (isdigit((unsigned char)*p)) {
            long v = strtol(p, (char **)&p, 10);
            if (v <= 0 || v > 65536)
                return -1;
            items[n++] = (int32_t)v;
        } else {
            return -1;
        }
        while (*p == ' ' || *p == '\'' || *p == '"' || *p == ']')
            p++;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

static void format_cfg(const int32_t *items, int n, char *out, size_t len)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t used = strlen(out);
        if (items[i])
            snprintf(out + used, len - used, "%s%d", i ? "," : "", items[i]);
        else
            snprintf(out + used, len - used, "%sM", i ? "," : "");
    }
}

/* torchvision convention: conv (+BN) + ReLU per conv, one module per pool, and the feature
 * stack ends with a pool. The index gaps between conv weights tell where the pools are. */
static gc_status infer_cfg(loader *ld, int has_bn, int32_t *items, int *n_items)
{
    int step = has_bn ? 3 : 2;
    int n = 0, pos = 0, found = 0;
    for (int idx = 0; idx < 4096; idx++) {
        const st_tensor *t = ld_find(ld, "features.%d", idx, ".weight");
        if (!t || t->ndim == 1) /* absent, or a BatchNorm weight */
            continue;
        /* K as parse_cfg allows it: an int32, and never negative (ld_read's "any") */
        if (t->ndim != 4 || t->shape[0] < 1 || t->shape[0] > 65536)
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: conv weight '%s' must be 4-D (K, C, 3, 3) with 1 <= K <= 65536",
                           ld->f.path, t->name);
        if (idx != pos && idx != pos + 1)
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: conv '%sfeatures.%d.weight' does not follow torchvision's VGG "
                           "layout (expected index %d or %d); give the architecture explicitly "
                           "(--arch / gradcam.arch)", ld->f.path, ld->prefix, idx, pos, pos + 1);
        /* room for a pool before this conv, the conv, and the final pool */
        if (n + (idx == pos + 1) + 2 > GC_MAX_LAYERS)
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: conv '%sfeatures.%d.weight': more than %d layers (convs and "
                           "pools)", ld->f.path, ld->prefix, idx, GC_MAX_LAYERS);
        if (idx == pos + 1)
            items[n++] = 0;
        items[n++] = (int32_t)t->shape[0];
        pos = idx + step;
        found++;
    }
    if (!found)
        return gc_fail(ld->err, GC_ERR_MODEL, "%s: no conv weights 'features.N.weight' found",
                       ld->f.path);
    items[n++] = 0; /* the final max-pool */
    *n_items = n;
    return GC_OK;
}

/* ---------------------------------------------------------------- feature layers */

static gc_status load_conv(loader *ld, gc_model *m, gc_layer *L, int cin)
{
    const int idx = L->tv_index;
    const st_tensor *tw = ld_find(ld, "features.%d", idx, ".weight");
    if (!tw)
        return gc_fail(ld->err, GC_ERR_MODEL, "%s: missing tensor '%sfeatures.%d.weight' (%s)",
                       ld->f.path, ld->prefix, idx, L->name);
    int64_t wshape[4] = {L->cout, cin, 3, 3};
    float *w = NULL, *b = NULL, *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    gc_status st = ld_read(ld, tw, 4, wshape, &w);
    if (st != GC_OK)
        goto done;
    const st_tensor *tb = ld_find(ld, "features.%d", idx, ".bias");
    int64_t cshape[1] = {L->cout};
    if (tb) {
        if ((st = ld_read(ld, tb, 1, cshape, &b)) != GC_OK)
            goto done;
    } else if (!(b = calloc((size_t)L->cout, sizeof *b))) {
        st = gc_fail(ld->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    if (m->has_bn) {
        const char *names[4] = {".weight", ".bias", ".running_mean", ".running_var"};
        float **dst[4] = {&g, &beta, &mean, &var};
        for (int i = 0; i < 4; i++) {
            const st_tensor *t = ld_find(ld, "features.%d", idx + 1, names[i]);
            if (!t) {
                st = gc_fail(ld->err, GC_ERR_MODEL,
                             "%s: missing BatchNorm tensor '%sfeatures.%d%s' (after %s)",
                             ld->f.path, ld->prefix, idx + 1, names[i], L->name);
                goto done;
            }
            if ((st = ld_read(ld, t, 1, cshape, dst[i])) != GC_OK)
                goto done;
        }
        for (int k = 0; k < L->cout; k++) {
            if (!(var[k] >= 0.0f)) {
                st = gc_fail(ld->err, GC_ERR_WEIGHTS_FORMAT,
                             "%s: '%sfeatures.%d.running_var'[%d] is negative", ld->f.path,
                             ld->prefix, idx + 1, k);
                goto done;
            }
            /* Folded as PyTorch evaluates BN: (x - mean) / sqrt(var + eps) * gamma + beta */
            float scale = g[k] / sqrtf(var[k] + GC_BN_EPS);
            for (int j = 0; j < cin * 9; j++)
                w[(size_t)k * cin * 9 + j] *= scale;
            b[k] = (b[k] - mean[k]) * scale + beta[k];
        }
    }
    L->w = reorder_ockk(w, L->cout, cin, 3, 3);
    L->b = b;
    b = NULL;
    if (!L->w)
        st = gc_fail(ld->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
done:
    free(w);
    free(b);
    free(g);
    free(beta);
    free(mean);
    free(var);
    return st;
}

/* Every features tensor must be a conv's (or its BatchNorm's) of the cfg: a cfg
 * (options.arch, gradcam.arch) with fewer layers than the weights would otherwise run a
 * truncated network with GC_OK (the head's twin: check_classifier_keys). */
static gc_status check_feature_keys(loader *ld, const gc_model *m)
{
    const size_t plen = strlen(ld->prefix);
    for (int i = 0; i < ld->f.n_tensors; i++) {
        const char *name = ld->f.tensors[i].name;
        int k = -1, used = 0, ours = 0;
        if (strncmp(name, ld->prefix, plen) != 0 ||
            sscanf(name + plen, "features.%d.%n", &k, &used) != 1 || used == 0)
            continue;
        for (int l = 0; l < m->n_layers && !ours; l++)
            ours = m->layers[l].kind == GC_LAYER_CONV &&
                   (k == m->layers[l].tv_index || (m->has_bn && k == m->layers[l].tv_index + 1));
        if (!ours)
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: '%s' belongs to no conv of the architecture (cfg %s): the cfg "
                           "does not match the weights' layers",
                           ld->f.path, name, m->arch);
    }
    return GC_OK;
}

static gc_status build_features(loader *ld, gc_model *m, const int32_t *items, int n)
{
    int cin = 3, block = 1, conv_in_block = 0, idx = 0;
    if (n > GC_MAX_LAYERS)
        return gc_fail(ld->err, GC_ERR_MODEL, "architecture has %d layers (at most %d)", n,
                       GC_MAX_LAYERS);
    for (int i = 0; i < n; i++) {
        gc_layer *L = &m->layers[m->n_layers++];
        L->tv_index = idx;
        L->block = block;
        if (items[i] == 0) {
            L->kind = GC_LAYER_POOL;
            L->cin = L->cout = cin;
            snprintf(L->name, sizeof L->name, "block%d_pool", block);
            block++;
            conv_in_block = 0;
            idx += 1;
        } else {
            L->kind = GC_LAYER_CONV;
            L->cin = cin;
            L->cout = items[i];
            snprintf(L->name, sizeof L->name, "block%d_conv%d", block, ++conv_in_block);
            gc_status st = load_conv(ld, m, L, cin);
            if (st != GC_OK)
                return st;
            cin = items[i];
            idx += m->has_bn ? 3 : 2;
        }
    }
    if (m->n_layers == 0 || m->layers[0].kind != GC_LAYER_CONV)
        return gc_fail(ld->err, GC_ERR_MODEL, "architecture must start with a conv layer");
    return check_feature_keys(ld, m);
}

/* ---------------------------------------------------------------- head */

static gc_status load_dense(loader *ld, gc_model *m, const char *wkey, const char *bkey,
                            int ndim, const int64_t *shape, gc_dense *d, int kernel, int cin)
{
    char key[256];
    snprintf(key, sizeof key, "%s%s", ld->prefix, wkey);
    const st_tensor *tw = st_find(&ld->f, key);
    snprintf(key, sizeof key, "%s%s", ld->prefix, bkey);
    const st_tensor *tb = st_find(&ld->f, key);
    if (!tw || !tb)
        return gc_fail(ld->err, GC_ERR_MODEL, "%s: missing tensor '%s%s'", ld->f.path,
                       ld->prefix, tw ? bkey : wkey);
    float *w = NULL;
    gc_status st = ld_read(ld, tw, ndim, shape, &w);
    if (st != GC_OK)
        return st;
    if (shape[0] < 1) {
        free(w);
        return gc_fail(ld->err, GC_ERR_MODEL, "%s: '%s' has no outputs", ld->f.path, tw->name);
    }
    int64_t bshape[1] = {shape[0]};
    if ((st = ld_read(ld, tb, 1, bshape, &d->b)) != GC_OK) {
        free(w);
        return st;
    }
    d->out = (int32_t)shape[0];
    d->in = (int32_t)(tw->numel / shape[0]);
    if (kernel > 0) { /* the patch layer: (O, C, k, k) -> (O, k, k, C) */
        d->w = reorder_ockk(w, d->out, cin, kernel, kernel);
        free(w);
        if (!d->w)
            return gc_fail(ld->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
    } else {
        d->w = w;
    }
    (void)m;
    return GC_OK;
}

/* Every classifier tensor must be a Linear's "classifier.N.weight" or its ".bias": a head
 * of another shape (classifier[6] = Sequential(Dropout, Linear) gives "classifier.6.1.weight")
 * would otherwise load without its last layer, as a network with other classes. */
static gc_status check_classifier_keys(loader *ld)
{
    const size_t plen = strlen(ld->prefix);
    for (int i = 0; i < ld->f.n_tensors; i++) {
        const char *name = ld->f.tensors[i].name;
        if (strncmp(name, ld->prefix, plen) != 0 || strncmp(name + plen, "classifier.", 11) != 0)
            continue;
        const char *rest = name + plen + 11;
        int idx = -1, used = 0;
        char tail[8] = "";
        if (sscanf(rest, "%d.%7s%n", &idx, tail, &used) == 2 && rest[used] == 0 &&
            (strcmp(tail, "weight") == 0 || strcmp(tail, "bias") == 0) &&
            ld_find(ld, "classifier.%d", idx, ".weight") &&
            ld_find(ld, "classifier.%d", idx, ".bias"))
            continue;
        return gc_fail(ld->err, GC_ERR_MODEL,
                       "%s: '%s' is not part of a Linear layer of the classifier (expected "
                       "'classifier.N.weight' and 'classifier.N.bias' only; a head wrapped in "
                       "Sequential or Dropout needs its keys renamed)", ld->f.path, name);
    }
    return GC_OK;
}

static gc_status build_head(loader *ld, gc_model *m)
{
    const int C = m->layers[m->n_layers - 1].cout;
    char key[256];
    snprintf(key, sizeof key, "%spre_logits.fc1.weight", ld->prefix);
    const st_tensor *timm_fc1 = st_find(&ld->f, key);
    if (timm_fc1) {
        m->head = GC_HEAD_TIMM;
        m->head_pool = 7;
        m->fc1_kernel = 7;
        if (timm_fc1->ndim != 4)
            return gc_fail(ld->err, GC_ERR_MODEL, "%s: '%s' must be 4-D (O, C, 7, 7)",
                           ld->f.path, timm_fc1->name);
        int64_t s1[4] = {timm_fc1->shape[0], C, 7, 7};
        gc_status st = load_dense(ld, m, "pre_logits.fc1.weight", "pre_logits.fc1.bias", 4, s1,
                                  &m->dense[0], 7, C);
        if (st != GC_OK)
            return st;
        snprintf(key, sizeof key, "%spre_logits.fc2.weight", ld->prefix);
        const st_tensor *t2 = st_find(&ld->f, key);
        int64_t d2 = t2 && t2->ndim == 4 ? t2->shape[0] : -1;
        int64_t s2[4] = {d2, m->dense[0].out, 1, 1};
        if ((st = load_dense(ld, m, "pre_logits.fc2.weight", "pre_logits.fc2.bias", 4, s2,
                             &m->dense[1], 0, 0)) != GC_OK)
            return st;
        snprintf(key, sizeof key, "%shead.fc.weight", ld->prefix);
        const st_tensor *t3 = st_find(&ld->f, key);
        int64_t s3[2] = {t3 && t3->ndim == 2 ? t3->shape[0] : -1, m->dense[1].out};
        if ((st = load_dense(ld, m, "head.fc.weight", "head.fc.bias", 2, s3, &m->dense[2], 0,
                             0)) != GC_OK)
            return st;
        m->n_dense = 3;
    } else {
        m->head = GC_HEAD_TORCHVISION;
        int32_t prev = -1;
        for (int idx = 0; idx < 64; idx++) {
            const st_tensor *t = ld_find(ld, "classifier.%d", idx, ".weight");
            if (!t)
                continue;
            if (m->n_dense == GC_MAX_DENSE)
                return gc_fail(ld->err, GC_ERR_MODEL, "%s: more than %d classifier layers",
                               ld->f.path, GC_MAX_DENSE);
            if (t->ndim != 2)
                return gc_fail(ld->err, GC_ERR_MODEL, "%s: '%s' must be 2-D (Linear)",
                               ld->f.path, t->name);
            char wkey[64], bkey[64];
            snprintf(wkey, sizeof wkey, "classifier.%d.weight", idx);
            snprintf(bkey, sizeof bkey, "classifier.%d.bias", idx);
            if (m->n_dense == 0) {
                /* in_features = C * s * s tells the adaptive pool's output size */
                int64_t in = t->shape[1];
                int s = (int)llround(sqrt((double)in / C));
                if (s < 1 || (int64_t)C * s * s != in)
                    return gc_fail(ld->err, GC_ERR_MODEL,
                                   "%s: '%s' has %lld inputs; the last conv has %d channels, so "
                                   "it must be %d*s*s", ld->f.path, t->name, (long long)in, C, C);
                m->head_pool = m->fc1_kernel = s;
                int64_t sh[4] = {t->shape[0], C, s, s};
                /* a Linear over the (C,s,s) flatten is a conv with an s x s kernel */
                gc_status st = load_dense(ld, m, wkey, bkey, 2, (int64_t[2]){t->shape[0], in},
                                          &m->dense[0], 0, 0);
                if (st != GC_OK)
                    return st;
                float *w = reorder_ockk(m->dense[0].w, (int)sh[0], C, s, s);
                if (!w)
                    return gc_fail(ld->err, GC_ERR_OUT_OF_MEMORY, "out of memory");
                free(m->dense[0].w);
                m->dense[0].w = w;
            } else {
                int64_t sh[2] = {t->shape[0], prev};
                gc_status st = load_dense(ld, m, wkey, bkey, 2, sh, &m->dense[m->n_dense], 0,
                                          0);
                if (st != GC_OK)
                    return st;
            }
            prev = m->dense[m->n_dense].out;
            m->n_dense++;
        }
        if (m->n_dense == 0)
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: no classifier: expected 'classifier.N.weight' (torchvision) or "
                           "'pre_logits.fc1.weight' and 'head.fc.weight' (timm)", ld->f.path);
        gc_status st = check_classifier_keys(ld);
        if (st != GC_OK)
            return st;
    }
    m->num_classes = m->dense[m->n_dense - 1].out;
    return GC_OK;
}

/* ---------------------------------------------------------------- metadata */

static gc_status read_metadata(loader *ld, gc_model *m)
{
    const char *pre = st_metadata(&ld->f, "gradcam.preprocess");
    if (pre) {
        if (strcmp(pre, "torch") == 0)
            m->preprocess = GC_PREPROCESS_TORCH;
        else if (strcmp(pre, "caffe") == 0)
            m->preprocess = GC_PREPROCESS_CAFFE;
        else
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: metadata gradcam.preprocess is '%s' (torch or caffe)",
                           ld->f.path, pre);
    }
    const char *size = st_metadata(&ld->f, "gradcam.input_size");
    if (size) {
        int w = 0, h = 0;
        if (sscanf(size, "%dx%d", &w, &h) != 2)
            h = w;
        if (w <= 0 || h <= 0 || w > 65536 || h > 65536)
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: metadata gradcam.input_size is '%s' (N or WxH)", ld->f.path,
                           size);
        m->meta_input_w = w;
        m->meta_input_h = h;
    }
    const char *classes = st_metadata(&ld->f, "gradcam.classes");
    if (classes) {
        cJSON *arr = cJSON_Parse(classes);
        int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
        if (n < 0) {
            cJSON_Delete(arr);
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: metadata gradcam.classes must be a JSON array of strings",
                           ld->f.path);
        }
        int bad = -1; /* the first entry that is not a string */
        for (int i = 0; i < n && bad < 0; i++)
            if (!cJSON_IsString(cJSON_GetArrayItem(arr, i)))
                bad = i;
        if (bad >= 0 || n != m->num_classes) {
            cJSON_Delete(arr);
            if (bad >= 0)
                return gc_fail(ld->err, GC_ERR_MODEL,
                               "%s: metadata gradcam.classes: entry %d is not a string",
                               ld->f.path, bad);
            return gc_fail(ld->err, GC_ERR_MODEL,
                           "%s: metadata gradcam.classes names %d classes; the classifier has %d",
                           ld->f.path, n, m->num_classes);
        }
        m->labels = calloc((size_t)(n ? n : 1), sizeof *m->labels);
        for (int i = 0; m->labels && i < n; i++)
            m->labels[i] = strdup(cJSON_GetArrayItem(arr, i)->valuestring);
        m->n_labels = m->labels ? n : 0;
        cJSON_Delete(arr);
    }
    return GC_OK;
}

/* ---------------------------------------------------------------- entry points */

gc_status gc_model_load(gc_model *m, const char *path, const char *arch_override,
                        gc_errbuf *err)
{
    memset(m, 0, sizeof *m);
    loader ld = {.err = err};
    gc_status st = st_open(path, &ld.f, err);
    if (st != GC_OK)
        return st;
    /* The key prefix: whatever stands before the first "features.N.weight". */
    int found = 0;
    for (int i = 0; i < ld.f.n_tensors && !found; i++) {
        const char *name = ld.f.tensors[i].name;
        const char *p = strstr(name, "features.");
        int idx;
        char tail[16];
        if (p && sscanf(p, "features.%d.%15s", &idx, tail) == 2 && strcmp(tail, "weight") == 0 &&
            (size_t)(p - name) < sizeof ld.prefix) {
            memcpy(ld.prefix, name, (size_t)(p - name));
            ld.prefix[p - name] = 0;
            found = 1;
        }
    }
    if (!found) {
        st = gc_fail(err, GC_ERR_MODEL,
                     "%s: no 'features.N.weight' tensors: not a torchvision/timm VGG state dict",
                     path);
        goto done;
    }
    const st_tensor *first = ld_find(&ld, "features.%d", 0, ".weight");
    m->has_bn = ld_find(&ld, "features.%d", 1, ".running_mean") != NULL;
    if (!first)
        m->has_bn = 0;

    int32_t items[GC_MAX_LAYERS];
    int n = 0;
    const char *arch = arch_override ? arch_override : st_metadata(&ld.f, "gradcam.arch");
    if (arch) {
        n = parse_cfg(arch, items, GC_MAX_LAYERS);
        if (n <= 0) {
            if (arch_override)
                st = gc_fail(err, GC_ERR_INVALID_ARGUMENT,
                             "options.arch '%s' is not a cfg like '64,64,M,128,128,M'", arch);
            else
                st = gc_fail(err, GC_ERR_MODEL,
                             "%s: metadata gradcam.arch '%s' is not a cfg like "
                             "'64,64,M,128,128,M'", path, arch);
            goto done;
        }
    } else if ((st = infer_cfg(&ld, m->has_bn, items, &n)) != GC_OK) {
        goto done;
    }
    format_cfg(items, n, m->arch, sizeof m->arch);
    if ((st = build_features(&ld, m, items, n)) != GC_OK)
        goto done;
    if ((st = build_head(&ld, m)) != GC_OK)
        goto done;
    st = read_metadata(&ld, m);
done:
    st_close(&ld.f);
    if (st != GC_OK)
        gc_model_free(m);
    return st;
}

void gc_model_free(gc_model *m)
{
    /* every slot, counted or not: a load that failed half-way may have filled the next one */
    for (int i = 0; i < GC_MAX_LAYERS; i++) {
        free(m->layers[i].w);
        free(m->layers[i].b);
    }
    for (int i = 0; i < GC_MAX_DENSE; i++) {
        free(m->dense[i].w);
        free(m->dense[i].b);
    }
    for (int i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    free(m->labels);
    memset(m, 0, sizeof *m);
}

void gc_model_geometry(const gc_model *m, int32_t in_h, int32_t in_w, gc_geometry *g)
{
    int32_t H = in_h, W = in_w;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].kind == GC_LAYER_POOL) {
            H /= 2; /* MaxPool2d(2, 2), floor mode */
            W /= 2;
        }
        g->h[i] = H;
        g->w[i] = W;
    }
    const int32_t C = m->layers[m->n_layers - 1].cout, k = m->fc1_kernel;
    if (m->head == GC_HEAD_TIMM) { /* pooled only up to >= 7x7 */
        g->ph = GC_MAX(H, m->head_pool);
        g->pw = GC_MAX(W, m->head_pool);
    } else {
        g->ph = g->pw = m->head_pool;
    }
    g->P = g->ph - k + 1;
    g->Q = g->pw - k + 1;
    g->kk_c = k * k * C;
    g->direct_patch = g->P == 1 && g->Q == 1;
}

void gc_layer_extents(const gc_model *m, const gc_geometry *g, size_t N, int32_t split,
                      size_t *below, size_t *above)
{
    *below = *above = 1;
    for (int i = 0; i < m->n_layers; i++) {
        const size_t sz = N * (size_t)g->h[i] * (size_t)g->w[i] * (size_t)m->layers[i].cout;
        size_t *into = i < split ? below : above;
        *into = *into > sz ? *into : sz;
    }
}
