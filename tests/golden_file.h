/*
 * golden_file.h — reading a golden case (tests/golden/make_goldens.py, tests/full_vgg16.py):
 * the golden file, the input file and the weights path named in its metadata, which live
 * beside it. Shared by tests/test_golden.c and tests/gpu/test_gpu_vs_cpu.c.
 */
#ifndef GC_GOLDEN_FILE_H
#define GC_GOLDEN_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "gradcam.h"
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
/* gc_options_default() with what the golden's metadata says: its weights, layer, arch,
 * score, normalization, input size, method and counterfactual flag. The strings point into
 * gc; the backend, precision and max_batch are left to the caller. */
gc_options golden_options(const golden_case *gc);
/* The golden's explained classes (metadata "classes", -1 = top-1): malloc'd, *n of them;
 * prints why and exits(1) when missing. */
int32_t *golden_classes(const golden_case *gc, int32_t *n);

#endif
