/*
 * fuzz_safetensors.c — libFuzzer target: the bytes as a safetensors file through st_open,
 * st_find, st_metadata and st_to_float on every float tensor, then st_close.
 *
 * Checked beyond "no crash, no sanitizer report": a file st_open accepts keeps its promises
 * (every tensor's bytes inside the mapping, past the header, sized numel * dtype size; the
 * shape's product is numel), st_to_float writes exactly numel finite values (into a buffer of
 * exactly that size, so AddressSanitizer sees any overrun), and a refusal comes with a message
 * and leaves the st_file closed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "safetensors.h"

/* Conversions above this many elements are skipped: they cost time, not coverage. */
#define FUZZ_MAX_CONVERT (1 << 20)

static size_t float_size(st_dtype dtype)
{
    switch (dtype) {
    case ST_F64:
        return 8;
    case ST_F32:
        return 4;
    case ST_F16:
    case ST_BF16:
        return 2;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write("safetensors", data, size);
    st_file f;
    gc_errbuf err = {{0}};
    gc_status st = st_open(path, &f, &err);
    if (st != GC_OK) {
        FUZZ_CHECK(st == GC_ERR_WEIGHTS_FORMAT || st == GC_ERR_IO || st == GC_ERR_OUT_OF_MEMORY);
        FUZZ_CHECK(err.msg[0] != 0);
        FUZZ_CHECK(!f.map && !f.json && !f.tensors && f.n_tensors == 0);
        return 0;
    }
    FUZZ_CHECK(f.map && f.map_len == size && f.n_tensors >= 0);
    const uint8_t *lo = (const uint8_t *)f.map + 8, *hi = (const uint8_t *)f.map + f.map_len;
    unsigned sink = 0;
    for (int32_t i = 0; i < f.n_tensors; i++) {
        const st_tensor *t = &f.tensors[i];
        FUZZ_CHECK(t->name != NULL);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_CHECK(t->shape[d] >= 0);
            numel *= t->shape[d]; /* st_open keeps the product under 2^53 */
        }
        FUZZ_CHECK(numel == t->numel);
        FUZZ_CHECK(t->data >= lo && t->data <= hi && t->nbytes <= (size_t)(hi - t->data));
        if (t->nbytes) /* the first and last byte must be readable */
            sink += t->data[0] + t->data[t->nbytes - 1];
        const st_tensor *found = st_find(&f, t->name);
        FUZZ_CHECK(found && strcmp(found->name, t->name) == 0);

        size_t esize = float_size(t->dtype);
        FUZZ_CHECK(esize != 0 || !st_dtype_is_float(t->dtype));
        if (esize == 0 || t->numel > FUZZ_MAX_CONVERT)
            continue;
        FUZZ_CHECK(t->nbytes == (size_t)t->numel * esize);
        float *out = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
        FUZZ_CHECK(out != NULL);
        gc_errbuf cerr = {{0}};
        if (st_to_float(&f, t, out, &cerr) == GC_OK) {
            for (int64_t k = 0; k < t->numel; k++)
                FUZZ_CHECK(out[k] - out[k] == 0.0f); /* finite */
        } else {
            FUZZ_CHECK(cerr.msg[0] != 0);
        }
        free(out);
    }
    /* the keys the library asks for, plus one that is never there */
    const char *keys[] = {"gradcam.arch", "gradcam.preprocess", "gradcam.input_size",
                          "gradcam.classes", "no such key"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v = st_metadata(&f, keys[k]);
        if (v)
            sink += (unsigned char)v[0];
    }
    st_close(&f);
    FUZZ_CHECK(!f.map && !f.tensors);
    (void)sink;
    return 0;
}
