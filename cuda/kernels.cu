/*
 * kernels.cu — the CUDA backend's element-wise, pooling and CAM kernels (see kernels.cuh).
 * One thread per output element, grid-stride loops, gathers instead of scatters (no atomics:
 * results do not depend on scheduling). Typed feature maps are templates over the element
 * type T (float, __half, __nv_bfloat16), read into float with ld() and stored with put().
 * Naming: op_x_kernel -> gc_x_cuda.
 */
#include <string.h>

#include "device_common.cuh"
#include "gc_math.h"

void gc_dtype_from_float_host(gc_dtype t, const float *src, void *dst, size_t len)
{
    if (t == GC_DT_F32) {
        memcpy(dst, src, len * sizeof(float));
    } else if (t == GC_DT_F16) {
        __half *d = (__half *)dst;
        for (size_t i = 0; i < len; i++)
            d[i] = __float2half_rn(src[i]);
    } else {
        __nv_bfloat16 *d = (__nv_bfloat16 *)dst;
        for (size_t i = 0; i < len; i++)
            d[i] = __float2bfloat16_rn(src[i]);
    }
}

/* The (image, row, column, channel) of flat index e in an (n, H, W, C) NHWC tensor. */
struct nhwc_at {
    size_t i;
    int32_t y, x, c;
};
static __device__ __forceinline__ nhwc_at nhwc_split(size_t e, int32_t H, int32_t W, int32_t C)
{
    nhwc_at p;
    p.c = (int32_t)(e % C);
    size_t r = e / C;
    p.x = (int32_t)(r % W);
    r /= W;
    p.y = (int32_t)(r % H);
    p.i = r / H;
    return p;
}

/* ---------------------------------------------------------------- 16-byte vectors */

/* The wide kernels (input packing, max-pools) move 16 bytes of channels per thread (8
 * bf16/fp16 or 4 float) as one load or store, where the channels fill whole vectors and the
 * tensors start on 16 bytes (the arena's are 256-aligned); else one element per thread. On
 * the 2-byte types the element kernels moved a quarter of the bytes per access, with 64-bit
 * index divisions per element, and the pools alone read and write ~4 GB per VGG16 batch of
 * 256. I is the index type: 32-bit where every index fits (its divisions are several times
 * cheaper), else size_t. */
#define GC_VEC_BYTES 16
typedef uint4 vec16;

/* Whether a kernel over `count` elements (its largest index below count) may take I =
 * uint32_t: every index and the products it forms stay below 2^31. */
static inline bool index_fits_32(size_t count)
{
    return count < ((size_t)1 << 31);
}

template <typename T> struct lanes {
    static constexpr int n = GC_VEC_BYTES / sizeof(T);
    T v[n];
};
template <typename T> static __device__ __forceinline__ lanes<T> unpack(vec16 u)
{
    lanes<T> l;
    memcpy((void *)l.v, &u, sizeof u); /* the bytes as they are (T has no padding) */
    return l;
}
template <typename T> static __device__ __forceinline__ vec16 repack(const lanes<T> &l)
{
    vec16 u;
    memcpy(&u, l.v, sizeof u);
    return u;
}

static inline int vec_ok(const void *a, const void *b, const void *c, int32_t C, size_t esz)
{
    const uintptr_t mis = ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % GC_VEC_BYTES;
    return mis == 0 && ((size_t)C * esz) % GC_VEC_BYTES == 0;
}

/* ---------------------------------------------------------------- element-wise */

template <typename T>
static __global__ void op_bias_act_kernel(T *y, const T *b, size_t len, int32_t C, int relu)
{
    GRID_STRIDE(i, len)
    {
        float v = ld(y[i]) + (b ? ld(b[i % (size_t)C]) : 0.0f);
        put(&y[i], relu ? gc_relu(v) : v);
    }
}

/* The same on whole vectors (the unfused convs' epilogue: every activation once) */
template <typename T, typename I>
static __global__ void op_bias_act_vec_kernel(vec16 *y, const vec16 *b, I len, int32_t Cv,
                                              int relu)
{
    for (I v = (I)(blockIdx.x * blockDim.x + threadIdx.x); v < len;
         v += (I)(gridDim.x * blockDim.x)) {
        lanes<T> l = unpack<T>(y[v]);
        const lanes<T> bl = b ? unpack<T>(b[v % (I)Cv]) : lanes<T>{};
        for (int k = 0; k < lanes<T>::n; k++) {
            const float x = ld(l.v[k]) + (b ? ld(bl.v[k]) : 0.0f);
            put(&l.v[k], relu ? gc_relu(x) : x);
        }
        y[v] = repack(l);
    }
}

template <typename T>
static void bias_act(cudaStream_t st, T *y, const T *b, size_t rows, int32_t C, int relu)
{
    const size_t len = rows * (size_t)C;
    if (!vec_ok(y, b, NULL, C, sizeof(T))) {
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_bias_act_kernel<T>)(y, b, len, C, relu);
        return;
    }
    const size_t nv = len * sizeof(T) / GC_VEC_BYTES;
    const int32_t Cv = (int32_t)((size_t)C * sizeof(T) / GC_VEC_BYTES);
    if (index_fits_32(nv))
        GC_LAUNCH(grid_for(nv), GC_BLOCK, st, op_bias_act_vec_kernel<T, uint32_t>)(
            (vec16 *)y, (const vec16 *)b, (uint32_t)nv, Cv, relu);
    else
        GC_LAUNCH(grid_for(nv), GC_BLOCK, st, op_bias_act_vec_kernel<T, size_t>)(
            (vec16 *)y, (const vec16 *)b, nv, Cv, relu);
}

gc_status gc_bias_act_cuda(cudaStream_t st, gc_dtype t, void *y, const void *b, size_t rows,
                           int32_t C, int relu, gc_errbuf *err)
{
    DISPATCH_DT(t, T, bias_act<T>(st, (T *)y, (const T *)b, rows, C, relu));
    LAUNCH_CHECK(err);
    return GC_OK;
}

template <typename T> static __global__ void op_relu_kernel(const T *x, T *y, size_t len)
{
    GRID_STRIDE(i, len)
    {
        put(&y[i], gc_relu(ld(x[i])));
    }
}

gc_status gc_relu_cuda(cudaStream_t st, gc_dtype t, const void *x, void *y, size_t len,
                       gc_errbuf *err)
{
    DISPATCH_DT(t, T,
                GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_relu_kernel<T>)((const T *)x, (T *)y,
                                                                      len));
    LAUNCH_CHECK(err);
    return GC_OK;
}

template <typename T>
static __global__ void op_relu_mask_kernel(T *g, const T *act, size_t len, int guided)
{
    GRID_STRIDE(i, len)
    {
        const float gi = ld(g[i]);
        const int pass = ld(act[i]) > 0.0f && (!guided || gi > 0.0f);
        put(&g[i], pass ? gi : 0.0f);
    }
}

/* The same on whole vectors (the guided backward runs it on every layer's gradient) */
template <typename T>
static __global__ void op_relu_mask_vec_kernel(vec16 *g, const vec16 *act, size_t len,
                                               int guided)
{
    GRID_STRIDE(v, len)
    {
        lanes<T> l = unpack<T>(g[v]);
        const lanes<T> a = unpack<T>(act[v]);
        for (int k = 0; k < lanes<T>::n; k++) {
            const float gi = ld(l.v[k]);
            const int pass = ld(a.v[k]) > 0.0f && (!guided || gi > 0.0f);
            put(&l.v[k], pass ? gi : 0.0f);
        }
        g[v] = repack(l);
    }
}

template <typename T>
static void relu_mask(cudaStream_t st, T *g, const T *act, size_t len, int guided)
{
    if ((len * sizeof(T)) % GC_VEC_BYTES || !vec_ok(g, act, NULL, 0, sizeof(T))) {
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_relu_mask_kernel<T>)(g, act, len, guided);
        return;
    }
    const size_t nv = len * sizeof(T) / GC_VEC_BYTES;
    GC_LAUNCH(grid_for(nv), GC_BLOCK, st, op_relu_mask_vec_kernel<T>)((vec16 *)g,
                                                                   (const vec16 *)act, nv,
                                                                   guided);
}

gc_status gc_relu_mask_cuda(cudaStream_t st, gc_dtype t, void *g, const void *act, size_t len,
                            int guided, gc_errbuf *err)
{
    DISPATCH_DT(t, T, relu_mask<T>(st, (T *)g, (const T *)act, len, guided));
    LAUNCH_CHECK(err);
    return GC_OK;
}

template <typename S, typename D>
static __global__ void op_convert_kernel(const S *src, D *dst, size_t len, float scale)
{
    GRID_STRIDE(i, len)
    {
        put(&dst[i], ld(src[i]) * scale);
    }
}

gc_status gc_convert_cuda(cudaStream_t st, gc_dtype ts, const void *src, gc_dtype td, void *dst,
                          size_t len, float scale, gc_errbuf *err)
{
    DISPATCH_DT(ts, S,
                DISPATCH_DT(td, D,
                            GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_convert_kernel<S, D>)(
                                (const S *)src, (D *)dst, len, scale)));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* One thread per pixel: its three channels read (along x for NCHW: coalesced), its C0
 * channels written at once, as one vector where C0 elements of T make exactly 16 bytes (bf16
 * and fp16 pad to 8). */
template <typename T, typename I, bool VEC>
static __global__ void op_pack_input_kernel(const float *src, size_t s_img, size_t s_ch,
                                            size_t s_px, I HW, I npix, int32_t C0, T *x)
{
    for (I p = (I)(blockIdx.x * blockDim.x + threadIdx.x); p < npix;
         p += (I)(gridDim.x * blockDim.x)) {
        const I i = p / HW, q = p - i * HW;
        const float *px = src + (size_t)i * s_img + (size_t)q * s_px;
        const float rgb[3] = {px[0], px[s_ch], px[2 * s_ch]};
        if (VEC) {
            lanes<T> l;
            for (int c = 0; c < lanes<T>::n; c++)
                put(&l.v[c], c < 3 ? rgb[c] : 0.0f);
            ((vec16 *)x)[p] = repack(l);
        } else {
            T *o = x + (size_t)p * C0;
            for (int32_t c = 0; c < C0; c++)
                put(&o[c], c < 3 ? rgb[c] : 0.0f);
        }
    }
}

template <typename T>
static void pack_input(cudaStream_t st, const float *src, size_t s_img, size_t s_ch,
                       size_t s_px, int32_t n, int32_t H, int32_t W, int32_t C0, T *x)
{
    const size_t HW = (size_t)H * W, npix = (size_t)n * HW;
    const int vec = (size_t)C0 * sizeof(T) == GC_VEC_BYTES && vec_ok(x, NULL, NULL, C0, sizeof(T));
    if (index_fits_32(npix * (size_t)C0)) {
        if (vec)
            GC_LAUNCH(grid_for(npix), GC_BLOCK, st, op_pack_input_kernel<T, uint32_t, true>)(
                src, s_img, s_ch, s_px, (uint32_t)HW, (uint32_t)npix, C0, x);
        else
            GC_LAUNCH(grid_for(npix), GC_BLOCK, st, op_pack_input_kernel<T, uint32_t, false>)(
                src, s_img, s_ch, s_px, (uint32_t)HW, (uint32_t)npix, C0, x);
    } else {
        GC_LAUNCH(grid_for(npix), GC_BLOCK, st, op_pack_input_kernel<T, size_t, false>)(
            src, s_img, s_ch, s_px, HW, npix, C0, x);
    }
}

gc_status gc_pack_input_cuda(cudaStream_t st, const float *src, size_t s_img, size_t s_ch,
                             size_t s_px, int32_t n, int32_t H, int32_t W, int32_t C0,
                             gc_dtype t, void *x, gc_errbuf *err)
{
    DISPATCH_DT(t, T, pack_input<T>(st, src, s_img, s_ch, s_px, n, H, W, C0, (T *)x));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* One thread per output element (i, c, y, x) of the NCHW result. */
template <typename T>
static __global__ void op_unpack_grad_kernel(const T *g, int32_t n, int32_t H, int32_t W,
                                             int32_t C0, float scale, float *out)
{
    const size_t HW = (size_t)H * W, len = (size_t)n * 3 * HW;
    GRID_STRIDE(o, len)
    {
        const size_t p = o % HW, c = (o / HW) % 3, i = o / HW / 3;
        out[o] = ld(g[(i * HW + p) * C0 + c]) * scale;
    }
}

gc_status gc_unpack_grad_cuda(cudaStream_t st, gc_dtype t, const void *g, int32_t n, int32_t H,
                              int32_t W, int32_t C0, float scale, float *out, gc_errbuf *err)
{
    size_t len = (size_t)n * 3 * H * W;
    DISPATCH_DT(t, T,
                GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_unpack_grad_kernel<T>)(
                    (const T *)g, n, H, W, C0, scale, out));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- max-pool 2x2 */

/* Output vector o of a 2x2 pool over an (n, H, W, Cv vectors) map: the index of its window's
 * first (top-left) input vector. */
template <typename I>
static __device__ __forceinline__ I window_base(I o, int32_t H, int32_t W, int32_t Cv,
                                                int32_t oh, int32_t ow)
{
    I r = o / (I)Cv;
    const I c = o - r * (I)Cv;
    const I x = r % (I)ow;
    r /= (I)ow;
    const I y = r % (I)oh, i = r / (I)oh;
    return ((i * (I)H + 2 * y) * (I)W + 2 * x) * (I)Cv + c;
}

template <typename T, typename I>
static __global__ void op_maxpool_fwd_vec_kernel(const vec16 *in, int32_t H, int32_t W,
                                                 int32_t Cv, int32_t oh, int32_t ow, I len,
                                                 vec16 *out)
{
    for (I o = (I)(blockIdx.x * blockDim.x + threadIdx.x); o < len;
         o += (I)(gridDim.x * blockDim.x)) {
        const vec16 *a = in + window_base(o, H, W, Cv, oh, ow);
        const lanes<T> v0 = unpack<T>(a[0]), v1 = unpack<T>(a[Cv]),
                       v2 = unpack<T>(a[(I)W * (I)Cv]), v3 = unpack<T>(a[(I)W * (I)Cv + Cv]);
        lanes<T> m;
        for (int k = 0; k < lanes<T>::n; k++) { /* the scalar kernel's comparisons, in order */
            const float a0 = ld(v0.v[k]), a1 = ld(v1.v[k]), a2 = ld(v2.v[k]), a3 = ld(v3.v[k]);
            const float m0 = a0 > a1 ? a0 : a1, m1 = a2 > a3 ? a2 : a3;
            put(&m.v[k], m0 > m1 ? m0 : m1);
        }
        out[o] = repack(m);
    }
}

template <typename T>
static __global__ void op_maxpool_fwd_kernel(const T *in, int32_t n, int32_t H, int32_t W,
                                             int32_t C, T *out)
{
    const int32_t oh = H / 2, ow = W / 2;
    const size_t len = (size_t)n * oh * ow * C;
    GRID_STRIDE(o, len)
    {
        const nhwc_at at = nhwc_split(o, oh, ow, C);
        const T *a = in + ((at.i * H + 2 * at.y) * W + 2 * at.x) * C + at.c;
        float v0 = ld(a[0]), v1 = ld(a[C]), v2 = ld(a[(size_t)W * C]),
              v3 = ld(a[(size_t)W * C + C]);
        float m0 = v0 > v1 ? v0 : v1, m1 = v2 > v3 ? v2 : v3;
        put(&out[o], m0 > m1 ? m0 : m1); /* exact: a value of T back into T */
    }
}

template <typename T>
static void maxpool_fwd(cudaStream_t st, const T *in, int32_t n, int32_t H, int32_t W,
                        int32_t C, T *out)
{
    const int32_t oh = H / 2, ow = W / 2;
    if (!vec_ok(in, out, NULL, C, sizeof(T))) {
        const size_t len = (size_t)n * oh * ow * C;
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_maxpool_fwd_kernel<T>)(in, n, H, W, C, out);
        return;
    }
    const int32_t Cv = (int32_t)((size_t)C * sizeof(T) / GC_VEC_BYTES);
    const size_t len = (size_t)n * oh * ow * Cv, in_len = (size_t)n * H * W * Cv;
    if (index_fits_32(in_len))
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_maxpool_fwd_vec_kernel<T, uint32_t>)(
            (const vec16 *)in, H, W, Cv, oh, ow, (uint32_t)len, (vec16 *)out);
    else
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_maxpool_fwd_vec_kernel<T, size_t>)(
            (const vec16 *)in, H, W, Cv, oh, ow, len, (vec16 *)out);
}

gc_status gc_maxpool_fwd_cuda(cudaStream_t st, gc_dtype t, const void *in, int32_t n, int32_t H,
                              int32_t W, int32_t C, void *out, gc_errbuf *err)
{
    DISPATCH_DT(t, T, maxpool_fwd<T>(st, (const T *)in, n, H, W, C, (T *)out));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* Wide backward, for even H and W (every input row and column in a window): one thread per
 * output pixel and vector of channels writes its window's four input vectors, the gradient
 * where the first maximum is, zero elsewhere (the scalar kernel's rule). */
template <typename T, typename I>
static __global__ void op_maxpool_bwd_vec_kernel(const vec16 *in, const vec16 *g_out,
                                                 int32_t W, int32_t Cv, int32_t oh,
                                                 int32_t ow, I len, vec16 *g_in)
{
    for (I o = (I)(blockIdx.x * blockDim.x + threadIdx.x); o < len;
         o += (I)(gridDim.x * blockDim.x)) {
        const I base = window_base(o, 2 * oh, W, Cv, oh, ow);
        const I off[4] = {0, (I)Cv, (I)W * (I)Cv, (I)W * (I)Cv + (I)Cv};
        lanes<T> v[4], g[4];
        for (int q = 0; q < 4; q++)
            v[q] = unpack<T>(in[base + off[q]]);
        const lanes<T> go = unpack<T>(g_out[o]);
        for (int k = 0; k < lanes<T>::n; k++) {
            /* the best value kept in a register: indexing v[best] by a runtime value put the
             * lanes in local memory (a 64-byte stack frame, ptxas -v) */
            int best = 0;
            float bv = ld(v[0].v[k]);
            for (int q = 1; q < 4; q++) {
                const float xq = ld(v[q].v[k]);
                if (xq > bv)
                    bv = xq, best = q;
            }
            const float gk = ld(go.v[k]);
            for (int q = 0; q < 4; q++)
                put(&g[q].v[k], q == best ? gk : 0.0f);
        }
        for (int q = 0; q < 4; q++)
            g_in[base + off[q]] = repack(g[q]);
    }
}

/* Each input element takes its window's gradient when it is the window's first maximum in
 * (dy, dx) scan order, as PyTorch and the CPU backend; rows/columns beyond 2*(H/2) get 0. */
template <typename T>
static __global__ void op_maxpool_bwd_kernel(const T *in, const T *g_out, int32_t n, int32_t H,
                                             int32_t W, int32_t C, T *g_in)
{
    const int32_t oh = H / 2, ow = W / 2;
    const size_t len = (size_t)n * H * W * C;
    GRID_STRIDE(e, len)
    {
        const nhwc_at at = nhwc_split(e, H, W, C);
        const int32_t py = at.y / 2, px = at.x / 2;
        float g = 0.0f;
        if (py < oh && px < ow) {
            const size_t base = ((at.i * H + 2 * py) * W + 2 * px) * C + at.c;
            const size_t off[4] = {0, (size_t)C, (size_t)W * C, (size_t)W * C + C};
            int best = 0;
            float bv = ld(in[base]);
            for (int k = 1; k < 4; k++) {
                const float xk = ld(in[base + off[k]]);
                if (xk > bv)
                    bv = xk, best = k;
            }
            if (best == (at.y & 1) * 2 + (at.x & 1))
                g = ld(g_out[((at.i * oh + py) * ow + px) * C + at.c]);
        }
        put(&g_in[e], g);
    }
}

template <typename T>
static void maxpool_bwd(cudaStream_t st, const T *in, const T *g_out, int32_t n, int32_t H,
                        int32_t W, int32_t C, T *g_in)
{
    if (H % 2 || W % 2 || !vec_ok(in, g_out, g_in, C, sizeof(T))) {
        const size_t len = (size_t)n * H * W * C;
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_maxpool_bwd_kernel<T>)(in, g_out, n, H, W,
                                                                        C, g_in);
        return;
    }
    const int32_t Cv = (int32_t)((size_t)C * sizeof(T) / GC_VEC_BYTES), oh = H / 2, ow = W / 2;
    const size_t len = (size_t)n * oh * ow * Cv, in_len = (size_t)n * H * W * Cv;
    if (index_fits_32(in_len))
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_maxpool_bwd_vec_kernel<T, uint32_t>)(
            (const vec16 *)in, (const vec16 *)g_out, W, Cv, oh, ow, (uint32_t)len,
            (vec16 *)g_in);
    else
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_maxpool_bwd_vec_kernel<T, size_t>)(
            (const vec16 *)in, (const vec16 *)g_out, W, Cv, oh, ow, len, (vec16 *)g_in);
}

gc_status gc_maxpool_bwd_cuda(cudaStream_t st, gc_dtype t, const void *in, const void *g_out,
                              int32_t n, int32_t H, int32_t W, int32_t C, void *g_in,
                              gc_errbuf *err)
{
    DISPATCH_DT(t, T, maxpool_bwd<T>(st, (const T *)in, (const T *)g_out, n, H, W, C,
                                     (T *)g_in));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- adaptive average pool */

template <typename T>
static __global__ void op_avgpool_fwd_kernel(const T *in, int32_t n, int32_t H, int32_t W,
                                             int32_t C, int32_t oh, int32_t ow, T *out)
{
    const size_t len = (size_t)n * oh * ow * C;
    GRID_STRIDE(o, len)
    {
        const nhwc_at at = nhwc_split(o, oh, ow, C);
        int32_t y0 = gc_adaptive_start(at.y, H, oh), y1 = gc_adaptive_end(at.y, H, oh);
        int32_t x0 = gc_adaptive_start(at.x, W, ow), x1 = gc_adaptive_end(at.x, W, ow);
        float acc = 0.0f;
        for (int32_t yy = y0; yy < y1; yy++)
            for (int32_t xx = x0; xx < x1; xx++)
                acc += ld(in[((at.i * H + yy) * W + xx) * C + at.c]);
        put(&out[o], acc / (float)((y1 - y0) * (x1 - x0)));
    }
}

gc_status gc_avgpool_fwd_cuda(cudaStream_t st, gc_dtype t, const void *in, int32_t n, int32_t H,
                              int32_t W, int32_t C, int32_t oh, int32_t ow, void *out,
                              gc_errbuf *err)
{
    size_t len = (size_t)n * oh * ow * C;
    DISPATCH_DT(t, T,
                GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_avgpool_fwd_kernel<T>)(
                    (const T *)in, n, H, W, C, oh, ow, (T *)out));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* Gather: each input pixel sums g/cnt over the (possibly overlapping) windows holding it. */
template <typename T>
static __global__ void op_avgpool_bwd_kernel(const float *g_out, int32_t n, int32_t H,
                                             int32_t W, int32_t C, int32_t oh, int32_t ow,
                                             T *g_in)
{
    const size_t len = (size_t)n * H * W * C;
    GRID_STRIDE(e, len)
    {
        const nhwc_at at = nhwc_split(e, H, W, C);
        float acc = 0.0f;
        for (int32_t oy = 0; oy < oh; oy++) {
            int32_t y0 = gc_adaptive_start(oy, H, oh), y1 = gc_adaptive_end(oy, H, oh);
            if (at.y < y0 || at.y >= y1)
                continue;
            for (int32_t ox = 0; ox < ow; ox++) {
                int32_t x0 = gc_adaptive_start(ox, W, ow), x1 = gc_adaptive_end(ox, W, ow);
                if (at.x < x0 || at.x >= x1)
                    continue;
                float cnt = (float)((y1 - y0) * (x1 - x0));
                acc += g_out[((at.i * oh + oy) * ow + ox) * C + at.c] / cnt;
            }
        }
        put(&g_in[e], acc);
    }
}

gc_status gc_avgpool_bwd_cuda(cudaStream_t st, const float *g_out, int32_t n, int32_t H,
                              int32_t W, int32_t C, int32_t oh, int32_t ow, gc_dtype t,
                              void *g_in, gc_errbuf *err)
{
    size_t len = (size_t)n * H * W * C;
    DISPATCH_DT(t, T,
                GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_avgpool_bwd_kernel<T>)(
                    g_out, n, H, W, C, oh, ow, (T *)g_in));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- the head's patch layer */

template <typename T>
static __global__ void op_patches_kernel(const T *in, int32_t n, int32_t ph, int32_t pw,
                                         int32_t C, int32_t k, T *col)
{
    const int32_t P = ph - k + 1, Q = pw - k + 1;
    const size_t kkc = (size_t)k * k * C, len = (size_t)n * P * Q * kkc;
    GRID_STRIDE(e, len)
    {
        size_t j = e % kkc, r = e / kkc;
        int32_t c = (int32_t)(j % C);
        int32_t kx = (int32_t)((j / C) % k), ky = (int32_t)(j / C / k);
        int32_t px = (int32_t)(r % Q), py = (int32_t)((r / Q) % P);
        size_t i = r / Q / P;
        col[e] = in[((i * ph + py + ky) * pw + px + kx) * C + c];
    }
}

gc_status gc_patches_cuda(cudaStream_t st, gc_dtype t, const void *in, int32_t n, int32_t ph,
                          int32_t pw, int32_t C, int32_t k, void *col, gc_errbuf *err)
{
    size_t len = (size_t)n * (ph - k + 1) * (pw - k + 1) * k * k * C;
    DISPATCH_DT(t, T,
                GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_patches_kernel<T>)(
                    (const T *)in, n, ph, pw, C, k, (T *)col));
    LAUNCH_CHECK(err);
    return GC_OK;
}

static __global__ void op_patches_bwd_kernel(const float *g_col, int32_t n, int32_t ph,
                                             int32_t pw, int32_t C, int32_t k, float *g_in)
{
    const int32_t P = ph - k + 1, Q = pw - k + 1;
    const size_t kkc = (size_t)k * k * C, len = (size_t)n * ph * pw * C;
    GRID_STRIDE(e, len)
    {
        const nhwc_at at = nhwc_split(e, ph, pw, C);
        const size_t i = at.i;
        const int32_t y = at.y, x = at.x, c = at.c;
        float acc = 0.0f;
        for (int32_t py = y - k + 1 > 0 ? y - k + 1 : 0; py <= y && py < P; py++)
            for (int32_t px = x - k + 1 > 0 ? x - k + 1 : 0; px <= x && px < Q; px++)
                acc += g_col[((i * P + py) * Q + px) * kkc +
                             ((size_t)(y - py) * k + (x - px)) * C + c];
        g_in[e] = acc;
    }
}

gc_status gc_patches_bwd_cuda(cudaStream_t st, const float *g_col, int32_t n, int32_t ph,
                              int32_t pw, int32_t C, int32_t k, float *g_in, gc_errbuf *err)
{
    size_t len = (size_t)n * ph * pw * C;
    GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_patches_bwd_kernel)(g_col, n, ph, pw, C, k, g_in);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- reductions */

static __global__ void op_mean_positions_kernel(const float *y, int32_t n, int32_t PQ, int32_t K,
                                                float *logits)
{
    const size_t len = (size_t)n * K;
    GRID_STRIDE(e, len)
    {
        size_t i = e / K, c = e % K;
        float acc = 0.0f;
        for (int32_t p = 0; p < PQ; p++)
            acc += y[(i * PQ + p) * K + c];
        logits[e] = acc / (float)PQ;
    }
}

gc_status gc_mean_positions_cuda(cudaStream_t st, const float *y, int32_t n, int32_t PQ,
                                 int32_t K, float *logits, gc_errbuf *err)
{
    size_t len = (size_t)n * K;
    GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_mean_positions_kernel)(y, n, PQ, K, logits);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- class and score gradient
 * gc_score_grad_cuda: the host's gc_pick_classes + gc_score_gradient (score.c) on the device,
 * so that a batch needs no round trip between its forward and its backward. First one thread
 * per image (the class, and the softmax's sums in double, over the logits in ascending order
 * as the host, and p_c), then one thread per gradient element. */
static __global__ void op_score_class_kernel(const float *logits, int32_t n, int32_t K,
                                             int softmax, int32_t *classes, double *stats)
{
    GRID_STRIDE(i, (size_t)n)
    {
        const float *z = logits + i * K;
        const int32_t c = classes[i] >= 0 ? classes[i] : gc_top1(z, K);
        classes[i] = c;
        if (softmax) {
            double mx, sum;
            gc_softmax_sums(z, K, &mx, &sum);
            stats[3 * i] = mx;
            stats[3 * i + 1] = sum;
            stats[3 * i + 2] = gc_softmax_p(z[c], mx, sum);
        }
    }
}

static __global__ void op_score_grad_kernel(const float *logits, int32_t n, int32_t PQ,
                                            int32_t K, int softmax, const int32_t *classes,
                                            const double *stats, float scale, float gscale,
                                            float *grad)
{
    const size_t len = (size_t)n * PQ * K;
    GRID_STRIDE(e, len)
    {
        const size_t i = e / ((size_t)PQ * K);
        const int32_t j = (int32_t)(e % K), c = classes[i];
        const float *z = logits + i * K;
        double pc = 0.0, pj = 0.0;
        if (softmax) {
            pc = stats[3 * i + 2];
            pj = gc_softmax_p(z[j], stats[3 * i], stats[3 * i + 1]);
        }
        grad[e] = gc_score_grad(softmax, j == c, pc, pj, scale) * gscale;
    }
}

gc_status gc_score_grad_cuda(cudaStream_t st, const float *logits, int32_t n, int32_t PQ,
                             int32_t K, int softmax, float scale, float gscale,
                             int32_t *classes, double *stats, float *grad, gc_errbuf *err)
{
    GC_LAUNCH(grid_for((size_t)n), GC_BLOCK, st, op_score_class_kernel)(logits, n, K, softmax,
                                                                         classes, stats);
    LAUNCH_CHECK(err);
    const size_t len = (size_t)n * PQ * K;
    GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_score_grad_kernel)(logits, n, PQ, K, softmax,
                                                                 classes, stats, scale, gscale,
                                                                 grad);
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* One thread per (image, channel), summing over the positions in ascending order as
 * gc_cam_compute does; neighbouring threads read neighbouring channels. A and G of type T
 * (the network's layers, read as they are: no float copies), each gradient times gs first,
 * the float product the backend's float copy of the gradient held before (session 18). */
template <typename T>
static __global__ void op_cam_weights_kernel(int method, const T *A, const T *G, float gs,
                                             int32_t n, int32_t hw, int32_t Kc, float *alpha)
{
    const size_t len = (size_t)n * Kc;
    GRID_STRIDE(e, len)
    {
        const size_t i = e / Kc, c = e % Kc;
        const T *a = A + i * hw * Kc + c, *g = G + i * hw * Kc + c;
        if (gc_method_needs_sum_a(method)) {
            float sum_a = 0.0f;
            for (int32_t p = 0; p < hw; p++)
                sum_a += ld(a[(size_t)p * Kc]);
            float w = 0.0f;
            for (int32_t p = 0; p < hw; p++) {
                const float gp = ld(g[(size_t)p * Kc]) * gs;
                w += method == GC_METHOD_XGRADCAM
                         ? gc_xgradcam_term(gp, ld(a[(size_t)p * Kc]), sum_a)
                         : gc_gradcampp_term(gp, sum_a);
            }
            alpha[e] = w;
        } else {
            float acc = 0.0f;
            for (int32_t p = 0; p < hw; p++)
                acc += ld(g[(size_t)p * Kc]) * gs;
            alpha[e] = acc / (float)hw;
        }
    }
}

gc_status gc_cam_weights_cuda(cudaStream_t st, int method, gc_dtype t, const void *A, const void *G,
                              float gs, int32_t n, int32_t hw, int32_t Kc, float *alpha,
                              gc_errbuf *err)
{
    size_t len = (size_t)n * Kc;
    DISPATCH_DT(t, T,
                GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_cam_weights_kernel<T>)(
                    method, (const T *)A, (const T *)G, gs, n, hw, Kc, alpha));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* One thread per (image, position), summing over the channels in ascending order; the
 * gradient read only by the methods whose term has it (Grad-CAM's cam is A weighted). A
 * thread's channels are contiguous and its neighbours' are Kc elements away, so with VEC
 * (16-byte aligned rows) it reads them 16 bytes at a time: one load where it made 8 in bf16,
 * each of which asked the cache for 32 lines a warp (~0.1 ms of VGG16's batch of 256 on an
 * H100, by the count of cache requests; not yet measured). The same order, the same sum. */
template <typename T, bool VEC>
static __global__ void op_cam_kernel(int method, const T *A, const T *G, float gs,
                                     const float *alpha, int32_t n, int32_t hw, int32_t Kc,
                                     float *cam)
{
    const size_t len = (size_t)n * hw;
    const int uses_g = method == GC_METHOD_LAYERCAM || method == GC_METHOD_HIRESCAM;
    constexpr int L = VEC ? lanes<T>::n : 1;
    GRID_STRIDE(e, len)
    {
        const size_t i = e / hw;
        const T *a = A + e * Kc, *g = G + e * Kc;
        const float *al = alpha + i * Kc;
        float acc = 0.0f;
        for (int32_t c0 = 0; c0 < Kc; c0 += L) {
            T av[L], gv[L];
            if (VEC) {
                const lanes<T> la = unpack<T>(*(const vec16 *)(a + c0));
                const lanes<T> lg = uses_g ? unpack<T>(*(const vec16 *)(g + c0)) : lanes<T>{};
                for (int k = 0; k < L; k++)
                    av[k] = la.v[k], gv[k] = lg.v[k];
            } else {
                av[0] = a[c0];
                gv[0] = uses_g ? g[c0] : T{};
            }
            for (int k = 0; k < L; k++)
                acc += gc_cam_term(method, al[c0 + k], uses_g ? ld(gv[k]) * gs : 0.0f, ld(av[k]));
        }
        cam[e] = gc_relu(acc);
    }
}

template <typename T>
static void cam_map(cudaStream_t st, int method, const T *A, const T *G, float gs,
                    const float *alpha, int32_t n, int32_t hw, int32_t Kc, float *cam)
{
    const size_t len = (size_t)n * hw;
    if (vec_ok(A, G, NULL, Kc, sizeof(T)))
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_cam_kernel<T, true>)
        (method, A, G, gs, alpha, n, hw, Kc, cam);
    else
        GC_LAUNCH(grid_for(len), GC_BLOCK, st, op_cam_kernel<T, false>)
        (method, A, G, gs, alpha, n, hw, Kc, cam);
}

gc_status gc_cam_cuda(cudaStream_t st, int method, gc_dtype t, const void *A, const void *G,
                      float gs, const float *alpha, int32_t n, int32_t hw, int32_t Kc, float *cam,
                      gc_errbuf *err)
{
    DISPATCH_DT(t, T,
                cam_map<T>(st, method, (const T *)A, (const T *)G, gs, alpha, n, hw, Kc, cam));
    LAUNCH_CHECK(err);
    return GC_OK;
}
