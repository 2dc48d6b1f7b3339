/*
 * golden_file.h — reading a golden case (tests/golden/make_goldens.py, tests/full_vgg16.py):
 * the golden file, the input file and the weights path named in its metadata, which live
 * beside it. Shared by tests/test_golden.c and tests/gpu/test_gpu_vs_cpu.c.
 */
#ifndef GC_GOLDEN_FILE_H
#define GC_GOLDEN_FILE_H

#include <stddef.h>

#include "safetensors.h"

typedef struct golden_case {
    st_file golden, input;
    char weights[2048];
} golden_case;

/* Opens path and the input beside it; prints why and returns 0 on failure. */
int golden_open(const char *path, golden_case *gc);
void golden_close(golden_case *gc);
/* A tensor as floats (I32 and U8 converted), count elements; exits(1) when missing. Free it. */
float *golden_tensor(const st_file *f, const char *name, size_t *count);
/* A metadata value, "" when absent. */
const char *golden_meta(const st_file *f, const char *key);

#endif
