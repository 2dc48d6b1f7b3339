/*
 * safetensors.c — see safetensors.h. The JSON header is parsed with cJSON (Debian's
 * libcjson); everything it says is checked against the file before use.
 */
#include "safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is not a weights file we want to parse (the reference
 * implementation uses the same limit). */
#define ST_MAX_HEADER (100u * 1024u * 1024u)

static const struct {
    const char *name;
    st_dtype dtype;
    int size;
} st_dtypes[] = {
    {"F64", ST_F64, 8},   {"F32", ST_F32, 4},   {"F16", ST_F16, 2},   {"BF16", ST_BF16, 2},
    {"I64", ST_I64, 8},   {"I32", ST_I32, 4},   {"I16", ST_I16, 2},   {"I8", ST_I8, 1},
    {"U8", ST_U8, 1},     {"BOOL", ST_BOOL, 1}, {"F8_E4M3", ST_F8_E4M3, 1},
    {"F8_E5M2", ST_F8_E5M2, 1}, {"U16", ST_U16, 2}, {"U32", ST_U32, 4}, {"U64", ST_U64, 8},
};

static int st_dtype_size(st_dtype dtype)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].dtype == dtype)
            return st_dtypes[i].size;
    return 0;
}

const char *st_dtype_name(st_dtype dtype)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (st_dtypes[i].dtype == dtype)
            return st_dtypes[i].name;
    return "?";
}

int st_dtype_is_float(st_dtype dtype)
{
    return dtype == ST_F32 || dtype == ST_F16 || dtype == ST_BF16 || dtype == ST_F64;
}

/* A JSON number that must be a whole number in [0, 2^53]. */
static int st_json_uint(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return 0;
    double v = item->valuedouble;
    if (!(v >= 0.0) || v > 9007199254740992.0 || floor(v) != v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int st_cmp_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    return (x->data > y->data) - (x->data < y->data);
}

static gc_status st_parse_tensor(st_file *f, const cJSON *item, const uint8_t *data,
                                 size_t data_len, st_tensor *t, gc_errbuf *err)
{
    const char *name = item->string;
    t->name = name;
    if (!cJSON_IsObject(item))
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: tensor '%s': entry is not an object",
                       f->path, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                       "%s: tensor '%s': needs string 'dtype', array 'shape' and array "
                       "'data_offsets'", f->path, name);
    int found = 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, dtype->valuestring) == 0) {
            t->dtype = st_dtypes[i].dtype;
            found = 1;
        }
    if (!found)
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: tensor '%s': unknown dtype '%s'",
                       f->path, name, dtype->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)",
                       f->path, name, ndim, ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!st_json_uint(cJSON_GetArrayItem(shape, d), &v))
            return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                           "%s: tensor '%s': shape[%d] is not a non-negative integer", f->path,
                           name, d);
        t->shape[d] = (int64_t)v;
        if (v != 0 && numel > (UINT64_C(1) << 53) / v)
            return gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: tensor '%s': shape too large",
                           f->path, name);
        numel *= v;
    }
    t->numel = (int64_t)numel;
    uint64_t begin, end;
    if (cJSON_GetArraySize(offs) != 2 || !st_json_uint(cJSON_GetArrayItem(offs, 0), &begin) ||
        !st_json_uint(cJSON_GetArrayItem(offs, 1), &end))
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                       "%s: tensor '%s': data_offsets must be two non-negative integers",
                       f->path, name);
    if (end < begin)
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                       f->path, name, (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] outside the data region "
                       "(%zu bytes; file truncated?)", f->path, name,
                       (unsigned long long)begin, (unsigned long long)end, data_len);
    uint64_t want = numel * (uint64_t)st_dtype_size(t->dtype);
    if (end - begin != want)
        return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                       "%s: tensor '%s': %llu bytes at data_offsets, but dtype %s and its "
                       "shape need %llu", f->path, name, (unsigned long long)(end - begin),
                       dtype->valuestring, (unsigned long long)want);
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    return GC_OK;
}

gc_status st_open(const char *path, st_file *f, gc_errbuf *err)
{
    memset(f, 0, sizeof *f);
    gc_status st = GC_OK;
    int fd = -1;
    f->path = strdup(path ? path : "");
    if (!f->path)
        return gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = gc_fail(err, GC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = gc_fail(err, GC_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    size_t len = (size_t)sb.st_size;
    if (len < 8) {
        st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                     "%s: %zu bytes, too short for a safetensors file (truncated?)", path, len);
        goto fail;
    }
    f->map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        st = gc_fail(err, GC_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    f->map_len = len;
    close(fd);
    fd = -1;

    const uint8_t *bytes = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | bytes[i];
    if (hlen > len - 8 || hlen > ST_MAX_HEADER) {
        st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                     "%s: header length %llu exceeds the file (%zu bytes) or the %u-byte limit "
                     "(not safetensors, or truncated)", path, (unsigned long long)hlen, len,
                     ST_MAX_HEADER);
        goto fail;
    }
    const char *hbegin = (const char *)bytes + 8, *hend = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hbegin, (size_t)hlen, &hend, 0);
    f->json = root;
    if (!root) {
        st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: header is not valid JSON (at byte %td)",
                     path, (hend ? hend : cJSON_GetErrorPtr()) - hbegin);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: header is JSON but not an object", path);
        goto fail;
    }
    for (const char *q = hend; q < hbegin + hlen; q++)
        if (*q != ' ') { /* the format pads the header with spaces, nothing else */
            st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                         "%s: bytes after the header's JSON object (at byte %td)", path,
                         q - hbegin);
            goto fail;
        }
    const uint8_t *data = bytes + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;
    int count = 0;
    for (const cJSON *it = root->child; it; it = it->next)
        count += strcmp(it->string, "__metadata__") != 0;
    f->tensors = calloc((size_t)(count ? count : 1), sizeof *f->tensors);
    if (!f->tensors) {
        st = gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(it)) {
                st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: __metadata__ is not an object",
                             path);
                goto fail;
            }
            for (const cJSON *m = it->child; m; m = m->next)
                if (!cJSON_IsString(m)) {
                    st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                                 "%s: __metadata__ value '%s' is not a string", path, m->string);
                    goto fail;
                }
            continue;
        }
        st = st_parse_tensor(f, it, data, data_len, &f->tensors[f->n_tensors], err);
        if (st != GC_OK)
            goto fail;
        f->n_tensors++;
    }
    /* Overlapping tensors mean a corrupt or crafted file. */
    st_tensor *sorted = malloc(sizeof *sorted * (size_t)(count ? count : 1));
    if (!sorted) {
        st = gc_fail(err, GC_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    memcpy(sorted, f->tensors, sizeof *sorted * (size_t)f->n_tensors);
    qsort(sorted, (size_t)f->n_tensors, sizeof *sorted, st_cmp_offset);
    for (int i = 1; i < f->n_tensors; i++)
        if (sorted[i - 1].data + sorted[i - 1].nbytes > sorted[i].data) {
            st = gc_fail(err, GC_ERR_WEIGHTS_FORMAT, "%s: tensors '%s' and '%s' overlap", path,
                         sorted[i - 1].name, sorted[i].name);
            free(sorted);
            goto fail;
        }
    free(sorted);
    return GC_OK;

fail:
    if (fd >= 0)
        close(fd);
    st_close(f);
    return st;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap(f->map, f->map_len);
    cJSON_Delete(f->json);
    free(f->tensors);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key)
{
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(f->json, "__metadata__");
    const cJSON *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

float st_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalize */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

float st_bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float out;
    memcpy(&out, &bits, sizeof out);
    return out;
}

gc_status st_to_float(const st_file *f, const st_tensor *t, float *out, gc_errbuf *err)
{
    /* The data region has no alignment guarantee: read through memcpy. */
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < t->numel; i++) {
        float v;
        switch (t->dtype) {
        case ST_F32: memcpy(&v, p + 4 * i, 4); break;
        case ST_F64: {
            double d;
            memcpy(&d, p + 8 * i, 8);
            v = (float)d;
            break;
        }
        case ST_F16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            v = st_half_to_float(h);
            break;
        }
        case ST_BF16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            v = st_bf16_to_float(h);
            break;
        }
        default:
            return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                           "%s: tensor '%s': dtype %s is not a float type (F32, F16, BF16)",
                           f->path, t->name, st_dtype_name(t->dtype));
        }
        if (!isfinite(v))
            return gc_fail(err, GC_ERR_WEIGHTS_FORMAT,
                           "%s: tensor '%s': element %lld is %s", f->path, t->name,
                           (long long)i, isnan(v) ? "NaN" : "infinite");
        out[i] = v;
    }
    return GC_OK;
}
