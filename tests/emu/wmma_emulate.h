/*
 * wmma_emulate.h — nvcuda::wmma as cuda/first_conv_tc.cu uses it, for the emulated build
 * (tests/emu): m16n16k16 tiles, fp16/bf16 inputs in row- or column-major memory, float
 * accumulators.
 *
 * On a GPU a fragment is spread over a warp's 32 lanes and every wmma call is made by all of
 * them together. The emulated threads run one after another, so here each thread's fragment
 * holds the whole 16x16 tile and each call does the whole warp's work: a load reads the
 * tile, mma_sync multiplies whole tiles (k in order, in float), a store writes the tile.
 * Every lane of a warp computes the same tiles, so the memory a store leaves is what the
 * warp's store leaves. The PTX ISA's rules for the memory are checked, and a breach aborts:
 * the matrix's start and every row's start 32-byte aligned (a stride a multiple of 32
 * bytes; stricter than the CUDA guide's 16-byte ldm on purpose: what the PTX ISA says is
 * what a later ptxas may rely on). What this cannot check: the hardware's summation order, the
 * lanes' split of a fragment (the kernel never touches fragment elements, so it has none to get
 * wrong), and
 * __syncwarp (the emulated lanes run one after another).
 */
#ifndef GC_WMMA_EMULATE_H
#define GC_WMMA_EMULATE_H

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

namespace nvcuda
{
namespace wmma
{

struct matrix_a {
};
struct matrix_b {
};
struct accumulator {
};
struct row_major {
};
struct col_major {
};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
    float v[16 * 16]; /* the whole tile, row-major (a: M x K, b: K x N, accumulator: M x N) */
};

static inline float emu_value(float f)
{
    return f;
}
static inline float emu_value(__half h)
{
    return __half2float(h);
}
static inline float emu_value(__nv_bfloat16 h)
{
    return __bfloat162float(h);
}

/* The PTX ISA's alignment rule for wmma loads and stores: aborts on a breach. */
static inline void emu_check_rows(const char *what, const void *p, unsigned ldm, size_t elem)
{
    if ((uintptr_t)p % 32 != 0 || (ldm * elem) % 32 != 0) {
        fprintf(stderr,
                "wmma_emulate: %s at %p with a stride of %u x %zu bytes: the start and "
                "every row's start must be 32-byte aligned\n",
                what, p, ldm, elem);
        abort();
    }
}

/* Where element (r, c) of a tile sits: row-major r * ldm + c; column-major c * ldm + r (each
 * column's start then 32-byte aligned) */
static inline size_t emu_offset(row_major, int r, int c, unsigned ldm)
{
    return (size_t)r * ldm + c;
}
static inline size_t emu_offset(col_major, int r, int c, unsigned ldm)
{
    return (size_t)c * ldm + r;
}

template <typename Use, typename T, typename Layout>
static inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout> &f, const T *p,
                                    unsigned ldm)
{
    emu_check_rows("load_matrix_sync", p, ldm, sizeof(T));
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++)
            f.v[r * 16 + c] = emu_value(p[emu_offset(Layout(), r, c, ldm)]);
}

static inline void fill_fragment(fragment<accumulator, 16, 16, 16, float> &f, float x)
{
    for (int i = 0; i < 16 * 16; i++)
        f.v[i] = x;
}

template <typename T, typename LA, typename LB>
static inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
                            const fragment<matrix_a, 16, 16, 16, T, LA> &a,
                            const fragment<matrix_b, 16, 16, 16, T, LB> &b,
                            const fragment<accumulator, 16, 16, 16, float> &c)
{
    float t[16 * 16];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) {
            float s = c.v[i * 16 + j];
            for (int k = 0; k < 16; k++)
                s += a.v[i * 16 + k] * b.v[k * 16 + j];
            t[i * 16 + j] = s;
        }
    for (int i = 0; i < 16 * 16; i++)
        d.v[i] = t[i];
}

static inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f,
                                     unsigned ldm, layout_t layout)
{
    emu_check_rows("store_matrix_sync", p, ldm, sizeof(float));
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            const float x = f.v[r * 16 + c];
            if (layout == mem_row_major)
                p[(size_t)r * ldm + c] = x;
            else
                p[(size_t)c * ldm + r] = x;
        }
}

} // namespace wmma
} // namespace nvcuda

#endif /* GC_WMMA_EMULATE_H */
