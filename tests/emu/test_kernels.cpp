/*
 * test_kernels.cpp — every kernel of the CUDA backend (cuda/kernels.cuh, image_kernels.cuh)
 * against its CPU twin: src/cpu_ops.c, cpu_conv.c's im2col and conv, cam_methods.c, score.c, the
 * library's host preprocessing (gc_preprocess_images) and renderer (gc_render).
 *
 * One source, two programs:
 *   test_kernels_emu  the kernels built by the host compiler and run on the CPU
 *                     (cuda_emulate.h, gradcam_emu's runtime): CI (labels cpu, emu)
 *   test_kernels_gpu  the library's real kernels on a GPU (label gpu; exit 77 without one)
 * Buffers are managed memory (the emulated runtime's in emulation, with guard bytes that each
 * synchronize checks), so the checks read them in place. Every output buffer starts as
 * all-ones bytes (NaN in every element
 * type): an element a kernel leaves unwritten fails. Shapes are odd on purpose (a pool over
 * an odd size, overlapping adaptive-pool windows, images of 1x1 to 4200x4000).
 *
 * Exactness: each kernel computes in float and rounds once, in the same order as its twin,
 * so results must be bit-identical; the only tolerances are for the adaptive-pool backward,
 * whose twin scatters where the kernel gathers, and the first conv, whose twin is a GEMM
 * (different orders of additions).
 *
 * Usage: test_kernels_{emu,gpu} WEIGHTS (any model the library loads: the preprocessing
 * reference needs a context).
 */
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "image_kernels.cuh"
#ifdef GC_CUDA_EMULATE
#include "cuda_emulate.h" /* gc_emu::launches */
#endif

extern "C" {
#include "context.h"
#include "cpu_conv.h"
#include "cpu_ops.h"
}
#include "gc_math.h"

static int failures, checks;

#define FAIL(...)                                                                              \
    do {                                                                                       \
        printf("  FAIL ");                                                                     \
        printf(__VA_ARGS__);                                                                   \
        printf("\n");                                                                          \
        failures++;                                                                            \
    } while (0)

/* ---------------------------------------------------------------- buffers */

static void *buf(size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMallocManaged(&p, bytes ? bytes : 1, cudaMemAttachGlobal);
    if (e != cudaSuccess) {
        printf("cudaMallocManaged(%zu): %s\n", bytes, cudaGetErrorString(e));
        exit(1);
    }
    memset(p, 0xff, bytes);
    return p;
}
static void release(void *p)
{
    cudaFree(p);
}
static int finish(const char *what)
{
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        FAIL("%s: %s", what, cudaGetErrorString(e));
        return 1;
    }
    return 0;
}

template <typename T> static T *alloc_n(size_t n)
{
    return (T *)buf(n * sizeof(T));
}

/* ---------------------------------------------------------------- values */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float uniform(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
/* few distinct values, so that max-pool windows hold ties and ReLUs see exact zeros */
static float coarse(void)
{
    return std::floor(uniform() * 4.0f) * 0.5f;
}

static float elem(gc_dtype t, const void *p, size_t i)
{
    if (t == GC_DT_F16)
        return __half2float(((const __half *)p)[i]);
    if (t == GC_DT_BF16)
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return ((const float *)p)[i];
}

/* A device buffer of type t holding float values v rounded to t; v becomes the rounded
 * values (what the kernel reads). */
static void *typed(gc_dtype t, std::vector<float> &v)
{
    void *d = buf(v.size() * gc_dtype_size(t));
    if (v.empty()) /* a pool's output of a 1-row map */
        return d;
    gc_dtype_from_float_host(t, v.data(), d, v.size());
    for (size_t i = 0; i < v.size(); i++)
        v[i] = elem(t, d, i);
    return d;
}

static std::vector<float> values(size_t n, int coarse_values)
{
    std::vector<float> v(n);
    for (auto &x : v)
        x = coarse_values ? coarse() : uniform();
    return v;
}

static float rounded(gc_dtype t, float v)
{
    if (t == GC_DT_F32)
        return v;
    float h; /* room for one element of any type */
    gc_dtype_from_float_host(t, &v, &h, 1);
    return elem(t, &h, 0);
}

/* got (len elements of type t) against ref rounded to t: bit for bit when tol == 0, else
 * |got - ref| <= tol * (1 + |ref|). */
static void expect(const char *what, gc_dtype t, const void *got, const float *ref, size_t len,
                   float tol = 0.0f)
{
    static const char *names[] = {"f32", "f16", "bf16"};
    checks++;
    size_t bad = 0, first = 0;
    float worst = 0.0f;
    for (size_t i = 0; i < len; i++) {
        const float g = elem(t, got, i), r = rounded(t, ref[i]);
        int ok;
        if (tol == 0.0f)
            ok = std::memcmp(&g, &r, sizeof g) == 0 || (g == 0.0f && r == 0.0f);
        else
            ok = std::fabs(g - r) <= tol * (1.0f + std::fabs(r));
        if (!ok) {
            if (!bad++)
                first = i;
            if (!(std::fabs(g - r) <= worst))
                worst = std::fabs(g - r);
        }
    }
    if (bad)
        FAIL("%s [%s]: %zu of %zu elements differ; first at %zu: got %.9g, want %.9g (max "
             "diff %.3g)",
             what, names[t], bad, len, first, elem(t, got, first), rounded(t, ref[first]),
             worst);
}

static void expect_ok(const char *what, gc_status st, gc_errbuf *err)
{
    if (st != GC_OK)
        FAIL("%s: status %d: %s", what, (int)st, err->msg);
}

static const gc_dtype dtypes[] = {GC_DT_F32, GC_DT_F16, GC_DT_BF16};

/* ---------------------------------------------------------------- element-wise */

static void test_elementwise(gc_errbuf *err)
{
    /* 13 channels: the element kernels; 16: whole 16-byte vectors in every type */
    for (int32_t C : {13, 16})
    for (gc_dtype t : dtypes) {
        const size_t rows = 37, len = rows * (size_t)C;
        for (int relu = 0; relu < 2; relu++)
            for (int with_b = 0; with_b < 2; with_b++) {
                std::vector<float> y = values(len, 0), b = values(C, 0);
                void *dy = typed(t, y), *db = with_b ? typed(t, b) : NULL;
                expect_ok("bias_act", gc_bias_act_cuda(0, t, dy, db, rows, C, relu, err), err);
                finish("bias_act");
                cpu_bias_act(1, y.data(), with_b ? b.data() : NULL, rows, C, relu);
                expect(relu ? "bias+relu" : "bias", t, dy, y.data(), len);
                release(dy);
                release(db);
            }

        std::vector<float> x = values(len, 1);
        void *dx = typed(t, x), *dout = buf(len * gc_dtype_size(t));
        expect_ok("relu", gc_relu_cuda(0, t, dx, dout, len, err), err);
        finish("relu");
        cpu_relu(1, x.data(), len);
        expect("relu", t, dout, x.data(), len);
        release(dx);
        release(dout);

        for (int guided = 0; guided < 2; guided++) {
            std::vector<float> g = values(len, 1), act = values(len, 1);
            for (auto &a : act)
                a = a > 0.0f ? a : 0.0f; /* a ReLU's output */
            void *dg = typed(t, g), *da = typed(t, act);
            expect_ok("relu_mask", gc_relu_mask_cuda(0, t, dg, da, len, guided, err), err);
            finish("relu_mask");
            cpu_relu_mask(1, g.data(), act.data(), len, guided);
            expect(guided ? "relu_mask guided" : "relu_mask", t, dg, g.data(), len);
            release(dg);
            release(da);
        }

        for (gc_dtype td : dtypes) {
            const float scale = td == GC_DT_F16 ? 1024.0f : 0.25f;
            std::vector<float> src = values(len, 0);
            void *ds = typed(t, src), *dd = buf(len * gc_dtype_size(td));
            expect_ok("convert", gc_convert_cuda(0, t, ds, td, dd, len, scale, err), err);
            finish("convert");
            for (auto &v : src)
                v *= scale;
            expect("convert", td, dd, src.data(), len);
            release(ds);
            release(dd);
        }
    }
}

/* The network input: an NHWC or NCHW float batch into (n, H, W, C0) of type t, and the
 * guided gradient's way back to NCHW float. The reference is the layouts' definition. */
static void test_pack_unpack(gc_errbuf *err)
{
    const int32_t n = 2, H = 5, W = 7;
    const size_t HW = (size_t)H * W;
    for (gc_dtype t : dtypes)
        for (int32_t C0 : {3, 4, 8})
            for (int nchw = 0; nchw < 2; nchw++) {
                std::vector<float> src = values(n * 3 * HW, 0);
                float *dsrc = alloc_n<float>(src.size());
                memcpy(dsrc, src.data(), sizeof(float) * src.size());
                const size_t len = n * HW * C0;
                void *dx = buf(len * gc_dtype_size(t));
                const size_t s_ch = nchw ? HW : 1, s_px = nchw ? 1 : 3;
                expect_ok("pack_input", gc_pack_input_cuda(0, dsrc, 3 * HW, s_ch, s_px, n, H, W,
                                                           C0, t, dx, err),
                          err);
                finish("pack_input");
                std::vector<float> ref(len, 0.0f);
                for (int32_t i = 0; i < n; i++)
                    for (size_t p = 0; p < HW; p++)
                        for (int c = 0; c < 3; c++)
                            ref[((size_t)i * HW + p) * C0 + c] =
                                src[(size_t)i * 3 * HW + c * s_ch + p * s_px];
                expect(nchw ? "pack_input nchw" : "pack_input nhwc", t, dx, ref.data(), len);

                std::vector<float> g = values(len, 0);
                void *dg = typed(t, g);
                float *out = alloc_n<float>(n * 3 * HW);
                expect_ok("unpack_grad",
                          gc_unpack_grad_cuda(0, t, dg, n, H, W, C0, 0.5f, out, err), err);
                finish("unpack_grad");
                std::vector<float> back(n * 3 * HW);
                for (int32_t i = 0; i < n; i++)
                    for (int c = 0; c < 3; c++)
                        for (size_t p = 0; p < HW; p++)
                            back[((size_t)i * 3 + c) * HW + p] =
                                g[((size_t)i * HW + p) * C0 + c] * 0.5f;
                expect("unpack_grad", GC_DT_F32, out, back.data(), back.size());
                release(dsrc);
                release(dx);
                release(dg);
                release(out);
            }
}

/* ---------------------------------------------------------------- the first conv */

/* One case of a first-conv kernel: the inputs as the backend packs them, the CPU backend's
 * conv of the same rounded values as the reference (cpu_conv_run: im2col and a GEMM, another
 * order of additions), and the check: within one rounding to t plus float error. NaN fills
 * the input's padding channels and 16 pixels past its end (the backend packs zeros there):
 * a kernel reading them fails. */
struct first_conv_case {
    gc_dtype t;
    int32_t n, H, W, K, C0;
    int relu;
    std::vector<float> x, w, b; /* x (n, H, W, 3), w (K, 3, 3, 3), b (K): rounded to t */
    void *dx, *dy;              /* the packed input, the output (device) */

    first_conv_case(gc_dtype t_, int32_t n_, int32_t H_, int32_t W_, int32_t K_, int32_t C0_,
                    int relu_)
        : t(t_), n(n_), H(H_), W(W_), K(K_), C0(C0_), relu(relu_)
    {
        const size_t px = (size_t)n * H * W;
        x = values(px * 3, 0), w = values((size_t)K * 27, 0), b = values((size_t)K, 0);
        for (float &v : x)
            v = rounded(t, v);
        std::vector<float> xp((px + 16) * C0, NAN);
        for (size_t p = 0; p < px; p++)
            for (int c = 0; c < 3; c++)
                xp[p * C0 + c] = x[p * 3 + c];
        dx = typed(t, xp);
        dy = buf(px * K * gc_dtype_size(t));
    }
    first_conv_case(const first_conv_case &) = delete; /* owns dx, dy */
    first_conv_case &operator=(const first_conv_case &) = delete;
    /* after the kernel's weights are made from w and b: the values it sees */
    void round_weights()
    {
        for (float &v : w)
            v = rounded(t, v);
        for (float &v : b)
            v = rounded(t, v);
    }
    void check(const char *name, std::vector<float> &scratch)
    {
        finish(name);
        cpu_conv cv;
        if (!cpu_conv_init(&cv, w.data(), b.data(), 3, K)) {
            FAIL("cpu_conv_init");
            return;
        }
        const size_t len = (size_t)n * H * W * K;
        std::vector<float> ref(len);
        cpu_conv_run(&cv, x.data(), n, H, W, ref.data(), relu, 1, scratch.data());
        cpu_conv_free(&cv);
        const float tol = t == GC_DT_BF16 ? 1.0f / 128 : t == GC_DT_F16 ? 1.0f / 1024 : 1e-4f;
        char what[96];
        snprintf(what, sizeof what, "%s %dx%dx%dx%d C0 %d relu %d", name, n, H, W, K, C0, relu);
        expect(what, t, dy, ref.data(), len, tol);
    }
    ~first_conv_case()
    {
        release(dx);
        release(dy);
    }
};

/* gc_first_conv_cuda (the FMA kernel) in every precision; widths not a multiple of the 4
 * pixels a thread takes. */
static void test_first_conv(gc_errbuf *err)
{
    struct shape {
        int32_t n, H, W, K;
    };
    /* 8 and 24 outputs: threads of 8 channels; else of 16 */
    static const shape shapes[] = {{2, 5, 7, 32}, {1, 1, 1, 16}, {3, 9, 13, 64}, {1, 2, 4, 48},
                                   {2, 3, 6, 8},  {1, 4, 5, 24}};
    std::vector<float> scratch(CPU_SCRATCH_FLOATS);
    for (const shape &sh : shapes)
        for (gc_dtype t : dtypes)
            for (int32_t C0 : {3, 8})
                for (int relu = 0; relu < 2; relu++) {
                    first_conv_case c(t, sh.n, sh.H, sh.W, sh.K, C0, relu);
                    float *wb = alloc_n<float>(gc_first_conv_weight_floats(sh.K));
                    gc_first_conv_weights_host(t, c.w.data(), c.b.data(), sh.K, wb);
                    c.round_weights();
                    expect_ok("first_conv",
                              gc_first_conv_cuda(0, t, c.dx, C0, wb, c.dy, sh.n, sh.H, sh.W,
                                                 sh.K, relu, err),
                              err);
                    c.check("first_conv", scratch);
                    release(wb);
                }
    /* a width of channels the kernel does not take is refused, not run */
    checks++;
    if (gc_first_conv_cuda(0, GC_DT_F32, NULL, 3, NULL, NULL, 1, 1, 1, 12, 0, err) == GC_OK)
        FAIL("first_conv with 12 output channels was not refused");
}

/* gc_first_conv_tc_cuda (the tensor-core kernel) in fp16/bf16: widths up to 16 (one 16-pixel
 * tile a warp: 5, 1, 16, 7, 9) and wider (two: 17, 18, 20, 33, each leaving a partial or an
 * empty second tile); 64 and 128 outputs (one and two
 * groups of 64 a warp), 16 and 48 (16 a warp), 32 and 96 (32 a warp). */
static void test_first_conv_tc(gc_errbuf *err)
{
    struct shape {
        int32_t n, H, W, K;
    };
    static const shape shapes[] = {{1, 3, 5, 64}, {2, 5, 17, 64}, {1, 2, 33, 128},
                                   {1, 1, 1, 64}, {1, 4, 16, 64}, {1, 3, 18, 16},
                                   {2, 2, 7, 48},  {1, 3, 9, 32},  {1, 2, 20, 96}};
    std::vector<float> scratch(CPU_SCRATCH_FLOATS);
    for (const shape &sh : shapes)
        for (gc_dtype t : {GC_DT_F16, GC_DT_BF16})
            for (int32_t C0 : {3, 8})
                for (int relu = 0; relu < 2; relu++) {
                    first_conv_case c(t, sh.n, sh.H, sh.W, sh.K, C0, relu);
                    std::vector<float> wt(gc_first_conv_tc_weight_elems(sh.K));
                    float *bias = alloc_n<float>((size_t)sh.K);
                    gc_first_conv_tc_weights_host(t, c.w.data(), c.b.data(), sh.K, wt.data(),
                                                  bias);
                    void *dw = typed(t, wt);
                    c.round_weights();
                    expect_ok("first_conv_tc",
                              gc_first_conv_tc_cuda(0, t, c.dx, C0, dw, bias, c.dy, sh.n, sh.H,
                                                    sh.W, sh.K, relu, err),
                              err);
                    c.check("first_conv_tc", scratch);
                    release(dw);
                    release(bias);
                }
    /* what the kernel does not take is refused, not run: fp32, 24 outputs */
    checks++;
    if (gc_first_conv_tc_cuda(0, GC_DT_F32, NULL, 3, NULL, NULL, NULL, 1, 1, 1, 64, 0, err) ==
            GC_OK ||
        gc_first_conv_tc_cuda(0, GC_DT_BF16, NULL, 3, NULL, NULL, NULL, 1, 1, 1, 24, 0, err) ==
            GC_OK)
        FAIL("first_conv_tc in fp32 or with 24 output channels was not refused");
}

/* gc_first_block_cuda (the first block fused: conv, ReLU, conv, ReLU, 2x2 max-pool) in
 * fp16/bf16 against the CPU's convs and pool of the same rounded values, the first conv's
 * map rounded to t as a layer's output is: 16 channels on sizes of one tile (32 x 16) or
 * less, odd sizes, several tiles with partial ones and one row (no pooled pixel); 8 (half a
 * group) on three tiles; 32 on two tiles, 64 on two rows of tiles and on 2 x 3 partial ones
 * (one block: its second window in use, at every width). The grid: one block a multiprocessor, and one block walking every tile. */
static void test_first_block(gc_errbuf *err)
{
    struct shape {
        int32_t n, H, W, K, C0, blocks_one;
    };
    static const shape shapes[] = {
        {2, 5, 7, 16, 3, 0},   {1, 34, 18, 16, 8, 1}, {1, 1, 9, 16, 8, 0},  {1, 3, 3, 16, 3, 0},
        {2, 33, 35, 16, 8, 0}, {1, 7, 36, 8, 8, 1},   {1, 9, 20, 32, 8, 1},
        {1, 40, 10, 64, 8, 0}, {1, 34, 33, 64, 8, 1}};
    std::vector<float> scratch(CPU_SCRATCH_FLOATS);
    /* under a sanitizer (CI's Debug build, where the emulated tiles cost ten times more)
     * 32 and 64 channels in bf16 only */
    const int sanitized = getenv("GC_TEST_SANITIZER") != NULL;
    for (const shape &sh : shapes)
        for (gc_dtype t : {GC_DT_F16, GC_DT_BF16}) {
            if (sanitized && sh.K >= 32 && t == GC_DT_F16)
                continue;
            const int32_t K = sh.K, H = sh.H, W = sh.W, n = sh.n;
            int blocks = 0;
            const gc_status pst = gc_first_block_prepare(0, t, K, &blocks, err);
            if (pst == GC_ERR_UNSUPPORTED) { /* a GPU with less shared memory: the backend's
                                                layers one by one, as here */
                cudaDeviceProp prop;
                cudaGetDeviceProperties(&prop, 0);
                checks++;
                if (prop.major >= 8 &&
                    prop.sharedMemPerBlockOptin >= gc_first_block_smem_bytes(t, K))
                    FAIL("first_block %d channels refused with %zu bytes of shared memory "
                         "allowed: %s",
                         K, (size_t)prop.sharedMemPerBlockOptin, err->msg);
                else
                    printf("  first_block %d channels: %s (skipped)\n", K, err->msg);
                continue;
            }
            expect_ok("first_block_prepare", pst, err);
            if (sh.blocks_one)
                blocks = 1;
            const size_t px = (size_t)n * H * W;
            std::vector<float> x = values(px * 3, 0), w1 = values((size_t)K * 27, 0),
                               b1 = values((size_t)K, 0), w2 = values((size_t)K * 9 * K, 0),
                               b2 = values((size_t)K, 0);
            for (float &v : x)
                v = rounded(t, v);
            std::vector<float> xp((px + 16) * sh.C0, NAN); /* NaN padding: must stay unread */
            for (size_t p = 0; p < px; p++)
                for (int c = 0; c < 3; c++)
                    xp[p * sh.C0 + c] = x[p * 3 + c];
            void *dx = typed(t, xp);
            std::vector<float> wt(gc_first_block_weight_elems(K));
            float *bias = alloc_n<float>(gc_first_block_bias_floats(K));
            gc_first_block_weights_host(t, w1.data(), b1.data(), w2.data(), b2.data(), K, wt.data(),
                                        bias);
            void *dw = typed(t, wt);
            const int32_t PH = H / 2, PW = W / 2;
            const size_t olen = (size_t)n * PH * PW * K;
            void *dy = buf(olen * gc_dtype_size(t) + 1);
            expect_ok(
                "first_block",
                gc_first_block_cuda(0, t, dx, sh.C0, dw, bias, dy, n, H, W, K, blocks, NULL, err),
                err);
            finish("first_block");
            /* the profiled runs' variant: the same bytes, and cycles in both convs' phases */
            void *dy2 = buf(olen * gc_dtype_size(t) + 1);
            unsigned long long *clocks = alloc_n<unsigned long long>(GC_FB_PHASES);
            memset(clocks, 0, GC_FB_PHASES * sizeof *clocks);
            expect_ok("first_block (clocks)",
                      gc_first_block_cuda(0, t, dx, sh.C0, dw, bias, dy2, n, H, W, K, blocks,
                                          clocks, err),
                      err);
            finish("first_block (clocks)");
            checks++;
            const int ran = H >= 2 && W >= 2; /* else no pooled pixel: no launch */
            if (memcmp(dy, dy2, olen * gc_dtype_size(t)) != 0 ||
                (ran && (clocks[2] == 0 || clocks[4] == 0)))
                FAIL("first_block %dx%dx%d K %d: the clocked variant differs, or its first (%llu) "
                     "or second conv (%llu) took no cycles",
                     n, H, W, K, clocks[2], clocks[4]);
            for (int k = 0; k < GC_FB_PHASES; k++) {
                checks++;
                if (!gc_first_block_phase_name(k))
                    FAIL("first_block: phase %d has no name", k);
            }
            release(dy2);
            release(clocks);
            for (std::vector<float> *v : {&w1, &b1, &w2, &b2})
                for (float &e : *v)
                    e = rounded(t, e);
            /* the CPU: conv1, ReLU, rounding; conv2, ReLU, rounding; the pool */
            std::vector<float> a1(px * K), a2(px * K), ref(olen);
            cpu_conv c1, c2;
            if (!cpu_conv_init(&c1, w1.data(), b1.data(), 3, K) ||
                !cpu_conv_init(&c2, w2.data(), b2.data(), K, K)) {
                FAIL("cpu_conv_init");
                return;
            }
            cpu_conv_run(&c1, x.data(), n, H, W, a1.data(), 1, 1, scratch.data());
            for (float &v : a1)
                v = rounded(t, v);
            cpu_conv_run(&c2, a1.data(), n, H, W, a2.data(), 1, 1, scratch.data());
            for (float &v : a2)
                v = rounded(t, v);
            cpu_maxpool_fwd(1, a2.data(), n, H, W, K, ref.data());
            cpu_conv_free(&c1);
            cpu_conv_free(&c2);
            char what[96];
            snprintf(what, sizeof what, "first_block %dx%dx%dx%d C0 %d blocks %d", n, H, W, K,
                     sh.C0, blocks);
            /* one rounding of t, plus the first conv's roundings that the two sums' orders
             * may flip */
            expect(what, t, dy, ref.data(), olen, t == GC_DT_BF16 ? 1.0f / 64 : 1.0f / 512);
            release(dx);
            release(dw);
            release(dy);
            release(bias);
        }
    /* what the kernel does not take is refused, not run: fp32, 48 channels, two widths */
    checks++;
    if (gc_first_block_supported(GC_DT_F32, 3, 64, 64) ||
        gc_first_block_supported(GC_DT_BF16, 3, 48, 48) ||
        gc_first_block_supported(GC_DT_BF16, 3, 32, 64) ||
        gc_first_block_cuda(0, GC_DT_F32, NULL, 3, NULL, NULL, NULL, 1, 2, 2, 64, 1, NULL, err) ==
            GC_OK)
        FAIL("first_block in fp32, with 48 channels or two widths was not refused");
}

/* ---------------------------------------------------------------- pooling */

static void test_pools(gc_errbuf *err)
{
    /* C that fills 16-byte vectors (8 of the 2-byte types, 4 floats) takes the wide kernels
     * (the backward only with even H and W); the others, and every tensor moved off its
     * 16-byte alignment by one element (shift), the element kernels */
    struct {
        int32_t n, H, W, C;
    } shapes[] = {{2, 8, 6, 5}, {3, 7, 9, 4}, {1, 1, 3, 2}, {2, 6, 4, 16}, {1, 4, 6, 8},
                  {2, 5, 3, 24}, {1, 2, 2, 64}};
    for (gc_dtype t : dtypes)
        for (auto s : shapes)
            for (size_t shift : {0, 1}) {
                const size_t len = (size_t)s.n * s.H * s.W * s.C, es = gc_dtype_size(t);
                const int32_t oh = s.H / 2, ow = s.W / 2;
                const size_t olen = (size_t)s.n * oh * ow * s.C;
                std::vector<float> in = values(len + shift, 1), g_out = values(olen + shift, 0);
                char *din = (char *)typed(t, in), *dgo = (char *)typed(t, g_out);
                char *dout = (char *)buf((olen + shift) * es), *dgi = (char *)buf((len + shift) * es);
                const size_t off = shift * es;
                expect_ok("maxpool_fwd",
                          gc_maxpool_fwd_cuda(0, t, din + off, s.n, s.H, s.W, s.C, dout + off,
                                              err),
                          err);
                expect_ok("maxpool_bwd",
                          gc_maxpool_bwd_cuda(0, t, din + off, dgo + off, s.n, s.H, s.W, s.C,
                                              dgi + off, err),
                          err);
                finish("maxpool");
                std::vector<float> out(olen), gi(len);
                cpu_maxpool_fwd(1, in.data() + shift, s.n, s.H, s.W, s.C, out.data());
                cpu_maxpool_bwd(1, in.data() + shift, g_out.data() + shift, s.n, s.H, s.W, s.C,
                                gi.data());
                expect("maxpool_fwd", t, dout + off, out.data(), olen);
                expect("maxpool_bwd (ties: the first maximum)", t, dgi + off, gi.data(), len);
                release(din);
                release(dgo);
                release(dout);
                release(dgi);
            }

    /* adaptive average pool: 14 -> 7 (disjoint windows), 13 -> 7 and 5 -> 3 (overlapping),
     * 3 -> 7 (windows of one pixel, repeated) */
    struct {
        int32_t H, W, oh, ow;
    } pools[] = {{14, 14, 7, 7}, {13, 11, 7, 7}, {5, 5, 3, 3}, {3, 4, 7, 7}};
    const int32_t n = 2, C = 6;
    for (gc_dtype t : dtypes)
        for (auto p : pools) {
            const size_t len = (size_t)n * p.H * p.W * C, olen = (size_t)n * p.oh * p.ow * C;
            std::vector<float> in = values(len, 0), g_out = values(olen, 0);
            void *din = typed(t, in);
            float *dgo = alloc_n<float>(olen);
            memcpy(dgo, g_out.data(), sizeof(float) * olen);
            void *dout = buf(olen * gc_dtype_size(t)), *dgi = buf(len * gc_dtype_size(t));
            expect_ok("avgpool_fwd",
                      gc_avgpool_fwd_cuda(0, t, din, n, p.H, p.W, C, p.oh, p.ow, dout, err), err);
            expect_ok("avgpool_bwd",
                      gc_avgpool_bwd_cuda(0, dgo, n, p.H, p.W, C, p.oh, p.ow, t, dgi, err), err);
            finish("avgpool");
            std::vector<float> out(olen), gi(len);
            cpu_avgpool_fwd(1, in.data(), n, p.H, p.W, C, p.oh, p.ow, out.data());
            cpu_avgpool_bwd(1, g_out.data(), n, p.H, p.W, C, p.oh, p.ow, gi.data());
            char what[64];
            snprintf(what, sizeof what, "avgpool_fwd %dx%d->%dx%d", p.H, p.W, p.oh, p.ow);
            expect(what, t, dout, out.data(), olen);
            snprintf(what, sizeof what, "avgpool_bwd %dx%d->%dx%d", p.H, p.W, p.oh, p.ow);
            /* f32: a few ulps (order of additions); the narrow types: one rounding step of
             * theirs, when the two float sums straddle a rounding boundary */
            expect(what, t, dgi, gi.data(), len,
                   t == GC_DT_F32 ? 1e-6f : t == GC_DT_F16 ? 1e-3f : 8e-3f);
            release(din);
            release(dgo);
            release(dout);
            release(dgi);
        }
}

/* ---------------------------------------------------------------- the head */

static void test_head(gc_errbuf *err)
{
    const int32_t n = 2, ph = 7, pw = 6, C = 5;
    for (int32_t k : {1, 3, 6}) {
        const int32_t P = ph - k + 1, Q = pw - k + 1;
        const size_t kkc = (size_t)k * k * C, rows = (size_t)n * P * Q;
        for (gc_dtype t : dtypes) {
            std::vector<float> in = values((size_t)n * ph * pw * C, 0);
            void *din = typed(t, in), *dcol = buf(rows * kkc * gc_dtype_size(t));
            expect_ok("patches", gc_patches_cuda(0, t, din, n, ph, pw, C, k, dcol, err), err);
            finish("patches");
            std::vector<float> col(rows * kkc);
            for (int32_t i = 0; i < n; i++)
                cpu_im2col(in.data(), ph, pw, C, k, k, 0, P, Q, (size_t)i * P * Q, (size_t)P * Q,
                           col.data() + (size_t)i * P * Q * kkc);
            expect("patches (im2col)", t, dcol, col.data(), col.size());
            release(din);
            release(dcol);
        }
        std::vector<float> g_col = values(rows * kkc, 0);
        float *dgc = alloc_n<float>(g_col.size()), *dgi = alloc_n<float>((size_t)n * ph * pw * C);
        memcpy(dgc, g_col.data(), sizeof(float) * g_col.size());
        expect_ok("patches_bwd", gc_patches_bwd_cuda(0, dgc, n, ph, pw, C, k, dgi, err), err);
        finish("patches_bwd");
        std::vector<float> gi((size_t)n * ph * pw * C);
        cpu_patches_bwd(1, g_col.data(), n, ph, pw, C, k, gi.data());
        expect("patches_bwd (col2im)", GC_DT_F32, dgi, gi.data(), gi.size());
        release(dgc);
        release(dgi);
    }

    const int32_t PQ = 6, K = 11;
    std::vector<float> y = values((size_t)n * PQ * K, 0);
    float *dy = alloc_n<float>(y.size()), *dl = alloc_n<float>((size_t)n * K);
    memcpy(dy, y.data(), sizeof(float) * y.size());
    expect_ok("mean_positions", gc_mean_positions_cuda(0, dy, n, PQ, K, dl, err), err);
    finish("mean_positions");
    std::vector<float> logits((size_t)n * K);
    cpu_mean_positions(y.data(), n, PQ, K, logits.data());
    expect("mean_positions", GC_DT_F32, dl, logits.data(), logits.size());
    release(dy);
    release(dl);
}

/* ---------------------------------------------------------------- class and score gradient */

/* gc_score_grad_cuda against score.c's gc_pick_classes + gc_score_gradient: classes asked for
 * and top-1 (coarse logits, so the first of tied maxima must win), both scores, counterfactual,
 * one and several head positions, the fp16 gradient scale, 300 images (two blocks of the
 * per-image kernel). The logit score is exact; the softmax's double exp may differ from the
 * host's libm by an ulp on a GPU: 1e-6 there. The formulas themselves (gc_math.h, shared with
 * the reference) are checked against PyTorch by the gpu_vs_cpu goldens. */
static void test_score(gc_errbuf *err)
{
    const int32_t n = 300, K = 11; /* more images than one block's threads */
    int32_t asked[n];
    for (int32_t i = 0; i < n; i++) /* top-1, or a class including the first and last */
        asked[i] = i % 3 == 1 ? -1 : (i * 7) % K;
    for (int softmax = 0; softmax < 2; softmax++)
        for (int cf = 0; cf < 2; cf++)
            for (int32_t PQ : {1, 4})
                for (float gscale : {1.0f, 1024.0f}) {
                    gc_context ctx;
                    memset(&ctx, 0, sizeof ctx);
                    ctx.model.num_classes = K;
                    ctx.opt.score = softmax ? GC_SCORE_SOFTMAX : GC_SCORE_LOGIT;
                    ctx.opt.counterfactual = cf;
                    std::vector<float> z = values((size_t)n * K, 1);
                    float *dz = alloc_n<float>(z.size()), *dg = alloc_n<float>((size_t)n * PQ * K);
                    int32_t *dc = alloc_n<int32_t>(n);
                    double *stats = alloc_n<double>(3 * (size_t)n);
                    memcpy(dz, z.data(), sizeof(float) * z.size());
                    memcpy(dc, asked, sizeof asked);
                    expect_ok("score_grad",
                              gc_score_grad_cuda(0, dz, n, PQ, K, softmax,
                                                 gc_score_scale(cf, PQ), gscale, dc, stats, dg,
                                                 err),
                              err);
                    finish("score_grad");
                    int32_t want[n];
                    gc_pick_classes(&ctx, z.data(), n, asked, want);
                    checks++;
                    for (int32_t i = 0; i < n; i++)
                        if (dc[i] != want[i])
                            FAIL("score class of image %d (asked %d): got %d, want %d", i,
                                 asked[i], dc[i], want[i]);
                    std::vector<float> g((size_t)n * PQ * K);
                    gc_score_gradient(&ctx, z.data(), n, want, PQ, g.data());
                    for (auto &v : g)
                        v *= gscale;
                    char what[96];
                    snprintf(what, sizeof what, "score gradient (%s%s, PQ %d, x%g)",
                             softmax ? "softmax" : "logit", cf ? ", counterfactual" : "", PQ,
                             (double)gscale);
                    expect(what, GC_DT_F32, dg, g.data(), g.size(), softmax ? 1e-6f : 0.0f);
                    release(dz);
                    release(dg);
                    release(dc);
                    release(stats);
                }
}

/* ---------------------------------------------------------------- cams */

/* The cam kernels read A and G in the network's type t, each gradient value times gs (the
 * fp16 gradient scale undone); the reference is gc_cam_compute on those values in float. */
static void test_cams_of(gc_errbuf *err, int32_t Kc)
{
    const int32_t n = 3, hw = 14 * 14;
    const size_t len = (size_t)n * hw * Kc;
    const gc_method methods[] = {GC_METHOD_GRADCAM, GC_METHOD_GRADCAM_PP, GC_METHOD_XGRADCAM,
                                 GC_METHOD_LAYERCAM, GC_METHOD_HIRESCAM};
    const char *names[] = {"gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"};
    for (gc_dtype t : dtypes) {
        const float gs = t == GC_DT_F16 ? 1.0f / 1024 : t == GC_DT_BF16 ? 0.75f : 1.0f;
        std::vector<float> A = values(len, 0), G = values(len, 0);
        for (auto &a : A)
            a = a > 0.0f ? a : 0.0f; /* post-ReLU activations */
        for (auto &g : G)
            g *= t == GC_DT_F16 ? 1024.0f : 1.0f; /* as the scaled fp16 backward holds it */
        void *dA = typed(t, A), *dG = typed(t, G);
        for (auto &g : G) /* the float values the kernels use */
            g *= gs;
        for (int m = 0; m < 5; m++) {
            float *dal = alloc_n<float>((size_t)n * Kc), *dcam = alloc_n<float>((size_t)n * hw);
            expect_ok("cam_weights",
                      gc_cam_weights_cuda(0, methods[m], t, dA, dG, gs, n, hw, Kc, dal, err), err);
            expect_ok("cam", gc_cam_cuda(0, methods[m], t, dA, dG, gs, dal, n, hw, Kc, dcam, err),
                      err);
            finish("cam");
            std::vector<float> alpha((size_t)n * Kc), cam((size_t)n * hw);
            for (int32_t i = 0; i < n; i++)
                gc_cam_compute(methods[m], A.data() + (size_t)i * hw * Kc,
                               G.data() + (size_t)i * hw * Kc, (size_t)hw, (size_t)Kc,
                               alpha.data() + (size_t)i * Kc, cam.data() + (size_t)i * hw);
            char what[64];
            snprintf(what, sizeof what, "cam_weights %s (Kc %d)", names[m], Kc);
            expect(what, GC_DT_F32, dal, alpha.data(), alpha.size());
            snprintf(what, sizeof what, "cam %s (Kc %d)", names[m], Kc);
            expect(what, GC_DT_F32, dcam, cam.data(), cam.size());
            release(dal);
            release(dcam);
        }
        release(dA);
        release(dG);
    }
}

/* The cam map reads 16 bytes at a time where a row of Kc fills them: Kc 48 in every type, 44
 * in float only, 42 in none. */
static void test_cams(gc_errbuf *err)
{
    for (int32_t Kc : {42, 44, 48})
        test_cams_of(err, Kc);
}

/* ---------------------------------------------------------------- images */

struct test_image {
    int32_t w, h;
    int32_t rx, ry, rw, rh; /* the region preprocessing resizes */
};

static std::vector<uint8_t> pixels_of(int32_t w, int32_t h)
{
    std::vector<uint8_t> p((size_t)w * h * 3);
    for (size_t i = 0; i < p.size(); i++)
        p[i] = (uint8_t)((uniform() + 1.0f) * 127.99f);
    return p;
}

/* Packs the images' bytes one after another into one device buffer with their descriptors. */
static uint8_t *pack_images(const std::vector<test_image> &ims,
                            const std::vector<std::vector<uint8_t>> &px, gc_image_desc **descs)
{
    size_t total = 0;
    for (auto &p : px)
        total += p.size();
    uint8_t *d = alloc_n<uint8_t>(total);
    *descs = alloc_n<gc_image_desc>(ims.size());
    size_t off = 0;
    for (size_t i = 0; i < ims.size(); i++) {
        memcpy(d + off, px[i].data(), px[i].size());
        gc_image_desc g;
        g.offset = off;
        g.width = ims[i].w;
        g.height = ims[i].h;
        g.rx = ims[i].rx;
        g.ry = ims[i].ry;
        g.rw = ims[i].rw;
        g.rh = ims[i].rh;
        (*descs)[i] = g;
        off += px[i].size();
    }
    return d;
}

/* The kernel resizes each image's region; the reference is the library's host path given
 * that region as an image of its own (the host path resizes a region in place the same
 * way: context.c's resize_region only offsets the source pointer). */
static void test_preprocess(const char *weights)
{
    const std::vector<test_image> ims = {
        {500, 375, 0, 0, 500, 375}, /* shrinks: INTER_AREA                  */
        {100, 60, 0, 0, 100, 60},   /* grows: INTER_LINEAR                  */
        {1, 1, 0, 0, 1, 1},         /* one pixel                            */
        {640, 200, 220, 0, 200, 200}, /* a centered crop of a wide image    */
        {97, 301, 3, 101, 91, 97},  /* an odd region of a tall one          */
    };
    std::vector<std::vector<uint8_t>> px;
    for (auto &im : ims)
        px.push_back(pixels_of(im.w, im.h));
    gc_image_desc *descs;
    uint8_t *dpix = pack_images(ims, px, &descs);
    const int32_t n = (int32_t)ims.size();

    for (gc_preprocess pre : {GC_PREPROCESS_TORCH, GC_PREPROCESS_CAFFE}) {
        gc_options o = gc_options_default();
        o.weights_path = weights;
        o.backend = GC_BACKEND_CPU;
        o.preprocess = pre;
        o.input_width = 96;
        o.input_height = 80;
        o.max_batch = n;
        gc_context *ctx = NULL;
        if (gc_context_create(&o, &ctx) != GC_OK) {
            FAIL("context for %s: %s", weights, gc_last_error(ctx));
            gc_context_destroy(ctx);
            break;
        }
        const int32_t H = o.input_height, W = o.input_width;
        const size_t HW = (size_t)H * W;
        std::vector<gc_image> host(n);
        for (int32_t i = 0; i < n; i++) {
            const test_image &im = ims[i];
            host[i].data = px[i].data() + ((size_t)im.ry * im.w + im.rx) * 3;
            host[i].width = im.rw;
            host[i].height = im.rh;
            host[i].stride = 3 * im.w;
        }
        std::vector<float> nchw((size_t)n * 3 * HW), ref((size_t)n * HW * 3);
        if (gc_preprocess_images(ctx, host.data(), n, nchw.data(), nchw.size()) != GC_OK)
            FAIL("gc_preprocess_images: %s", gc_last_error(ctx));
        for (int32_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++)
                for (size_t p = 0; p < HW; p++)
                    ref[((size_t)i * HW + p) * 3 + c] = nchw[((size_t)i * 3 + c) * HW + p];
        for (gc_dtype t : dtypes) {
            const int32_t C0 = t == GC_DT_F32 ? 3 : 8;
            float *x_f = alloc_n<float>((size_t)n * HW * 3);
            void *x = buf((size_t)n * HW * C0 * gc_dtype_size(t));
            expect_ok("preprocess_images",
                      gc_preprocess_images_cuda(0, descs, dpix, n, H, W,
                                                pre == GC_PREPROCESS_CAFFE, x_f, C0, t, x,
                                                &ctx->err),
                      &ctx->err);
            finish("preprocess_images");
            expect(pre == GC_PREPROCESS_CAFFE ? "preprocess caffe (float)"
                                              : "preprocess torch (float)",
                   GC_DT_F32, x_f, ref.data(), ref.size());
            std::vector<float> padded((size_t)n * HW * C0, 0.0f);
            for (size_t p = 0; p < (size_t)n * HW; p++)
                for (int c = 0; c < 3; c++)
                    padded[p * C0 + c] = ref[p * 3 + c];
            expect("preprocess (network type, padded)", t, x, padded.data(), padded.size());
            release(x_f);
            release(x);
        }
        gc_context_destroy(ctx);
    }
    release(dpix);
    release(descs);
}

/* Rendering: every pixel of images from 1x1 to 4200x4000 (more pixels than one grid row of
 * blocks covers: the grid-stride loop goes round) against gc_render. */
static void test_render(void)
{
    const std::vector<test_image> ims = {
        {224, 224, 0, 0, 0, 0}, {500, 375, 0, 0, 0, 0}, {1, 1, 0, 0, 0, 0},
        {37, 1111, 0, 0, 0, 0}, {4200, 4000, 0, 0, 0, 0}};
    std::vector<std::vector<uint8_t>> px;
    int64_t max_pixels = 0;
    for (auto &im : ims) {
        px.push_back(pixels_of(im.w, im.h));
        max_pixels = std::max<int64_t>(max_pixels, (int64_t)im.w * im.h);
    }
    gc_image_desc *descs;
    uint8_t *dpix = pack_images(ims, px, &descs);
    const int32_t n = (int32_t)ims.size(), cw = 14, ch = 12;
    size_t total = 0;
    for (auto &p : px)
        total += p.size();

    float *cams = alloc_n<float>((size_t)n * cw * ch);
    for (size_t i = 0; i < (size_t)n * cw * ch; i++)
        cams[i] = (uniform() + 1.0f) * 0.5f;
    for (int32_t i = 0; i < n; i++) /* one exact 1 and 0 per cam, as normalized cams have */
        cams[(size_t)i * cw * ch] = 1.0f, cams[(size_t)i * cw * ch + 5] = 0.0f;

    for (gc_colormap cm : {GC_COLORMAP_JET, GC_COLORMAP_VIRIDIS})
        for (float alpha : {0.4f, 0.0f, 1.0f}) {
            uint8_t *lut = alloc_n<uint8_t>(768);
            memcpy(lut, gc_colormap_table(cm), 768);
            uint8_t *heat = alloc_n<uint8_t>(total), *over = alloc_n<uint8_t>(total);
            gc_errbuf err = {};
            expect_ok("render_images",
                      gc_render_images_cuda(0, descs, dpix, n, max_pixels, cams, cw, ch, lut,
                                            alpha, heat, over, &err),
                      &err);
            finish("render_images");
            checks++;
            for (int32_t i = 0; i < n; i++) {
                const gc_image im = {px[i].data(), ims[i].w, ims[i].h, 3 * ims[i].w};
                const size_t bytes = px[i].size();
                std::vector<uint8_t> rh(bytes), ro(bytes);
                if (gc_render(cams + (size_t)i * cw * ch, cw, ch, &im, cm, alpha, rh.data(),
                              bytes, ro.data(), bytes) != GC_OK) {
                    FAIL("gc_render %dx%d", im.width, im.height);
                    continue;
                }
                const uint8_t *gh = heat + descs[i].offset, *go = over + descs[i].offset;
                size_t bad_h = 0, bad_o = 0;
                for (size_t b = 0; b < bytes; b++) {
                    bad_h += gh[b] != rh[b];
                    bad_o += go[b] != ro[b];
                }
                if (bad_h || bad_o)
                    FAIL("render %dx%d colormap %d alpha %.1f: %zu heatmap and %zu overlay "
                         "bytes of %zu differ from gc_render",
                         im.width, im.height, (int)cm, alpha, bad_h, bad_o, bytes);
            }
            release(lut);
            release(heat);
            release(over);
        }
    release(cams);
    release(dpix);
    release(descs);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WEIGHTS\n", argv[0]);
        return 2;
    }
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
        printf("no usable GPU: skipped\n");
        return 77;
    }
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    printf("kernels on %s\n", prop.name);
    /* the checks read the buffers in place: managed memory, which a sandboxed GPU machine
     * (gVisor) may not offer; that is not the kernels' failure */
    void *probe = NULL;
    if (cudaMallocManaged(&probe, 256, cudaMemAttachGlobal) != cudaSuccess) {
        printf("managed memory unavailable here (%s): skipped\n",
               cudaGetErrorString(cudaGetLastError()));
        return 77;
    }
    cudaFree(probe);
    gc_errbuf err = {};
    test_elementwise(&err);
    test_pack_unpack(&err);
    test_first_conv(&err);
    test_first_conv_tc(&err);
    test_first_block(&err);
    test_pools(&err);
    test_head(&err);
    test_score(&err);
    test_cams(&err);
    test_preprocess(argv[1]);
    test_render();
#ifdef GC_CUDA_EMULATE
    if (gc_emu::launches == 0)
        FAIL("no kernel launched");
    printf("%lu kernel launches emulated\n", gc_emu::launches.load());
#endif
    printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
