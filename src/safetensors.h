/*
 * safetensors.h — a validating reader for the safetensors format (memory-mapped, read-only).
 *
 * Layout of a file: 8 bytes little-endian u64 N, N bytes of UTF-8 JSON header, then the data
 * region. The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets
 * relative to the data region) plus an optional "__metadata__" string-to-string map.
 * st_open checks everything a malformed or hostile file could lie about before any tensor is
 * touched: header length, JSON syntax, dtypes, shapes, byte counts, offsets inside the file,
 * and overlapping tensors.
 */
#ifndef GC_SAFETENSORS_H
#define GC_SAFETENSORS_H

#include "gc_internal.h"

#define ST_MAX_DIMS 8

typedef enum st_dtype {
    ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
    ST_F8_E4M3, ST_F8_E5M2, ST_U16, ST_U32, ST_U64,
} st_dtype;

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* inside the mapping */
    size_t nbytes;
} st_tensor;

typedef struct st_file {
    char *path;
    void *map;
    size_t map_len;
    void *json;          /* cJSON root, owns the name strings */
    int32_t n_tensors;
    st_tensor *tensors;
} st_file;

/* Maps and validates path. On failure returns GC_ERR_IO or GC_ERR_WEIGHTS_FORMAT with a
 * message naming the file and, where it applies, the tensor; *f is left closed. */
gc_status st_open(const char *path, st_file *f, gc_errbuf *err);
void st_close(st_file *f);

/* NULL when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* A "__metadata__" value, or NULL. */
const char *st_metadata(const st_file *f, const char *key);

const char *st_dtype_name(st_dtype dtype);
/* True for the dtypes st_to_float converts: F32, F16, BF16, F64. */
int st_dtype_is_float(st_dtype dtype);

/* Converts all numel elements to float32 into out. Non-float dtypes and non-finite values
 * are rejected (GC_ERR_WEIGHTS_FORMAT naming the tensor and the element). */
gc_status st_to_float(const st_file *f, const st_tensor *t, float *out, gc_errbuf *err);

/* half / bfloat16 bit patterns to float (exact). */
float st_half_to_float(uint16_t h);
float st_bf16_to_float(uint16_t b);

#endif /* GC_SAFETENSORS_H */
