/*
 * image_kernels.cu — see image_kernels.cuh. Exactness: every float and double operation of
 * the shared formulas (src/image_math.h) is a round-to-nearest intrinsic, which nvcc never
 * fuses; this file is also compiled with -fmad=false (cuda/cuda.cmake), so that nothing else
 * here is contracted into an FMA either. The one FMA is the explicit fmaf of the blend, as in
 * render.c (OpenCV's vector addWeighted). Divisions are IEEE (no fast math anywhere).
 */
#include "device_common.cuh"
#include "image_kernels.cuh"
#include "image_math.h"

/* ---------------------------------------------------------------- preprocessing */

/* One pixel per thread: its three channels resized (gc_resize_*_px, resize.c's choice of
 * INTER_AREA or INTER_LINEAR), normalized, stored as float and as the network's type. */
template <typename T>
static __global__ void op_preprocess_images_kernel(const gc_image_desc *descs,
                                                   const uint8_t *pixels, int32_t n, int32_t H,
                                                   int32_t W, int caffe, float *x_f, int32_t C0,
                                                   T *x)
{
    const size_t HW = (size_t)H * W;
    const int32_t vec = gc_linear_u8_vec_end(3 * W);
    for (int32_t i = blockIdx.y; i < n; i += gridDim.y) {
        const gc_image_desc d = descs[i];
        const int32_t stride = 3 * d.width;
        const uint8_t *src = pixels + d.offset + (size_t)d.ry * stride + 3 * (size_t)d.rx;
        const int area = gc_resize_is_area(d.rw, d.rh, W, H);
        GRID_STRIDE(p, HW)
        {
            const int32_t y = (int32_t)(p / W), xx = (int32_t)(p % W);
            uint8_t rgb[3];
            if (area)
                gc_resize_area_px(src, stride, d.rw, d.rh, W, H, xx, y, rgb);
            else
                gc_resize_linear_px(src, stride, d.rw, d.rh, W, H, vec, xx, y, rgb);
            float *xf = x_f + ((size_t)i * HW + p) * 3;
            T *xo = x + ((size_t)i * HW + p) * C0;
            for (int c = 0; c < 3; c++) {
                const float v = gc_normalize_pixel(caffe, c, rgb[0], rgb[1], rgb[2]);
                xf[c] = v;
                put(&xo[c], v);
            }
            for (int32_t c = 3; c < C0; c++)
                put(&xo[c], 0.0f);
        }
    }
}

/* blocks for one image of `len` elements (x) and the batch's images (y) */
static dim3 batch_grid(size_t len, int32_t n)
{
    size_t gx = (len + GC_BLOCK - 1) / GC_BLOCK;
    gx = gx < 1 ? 1 : gx > 65535 ? 65535 : gx;
    return dim3((unsigned)gx, (unsigned)(n < 65535 ? n : 65535), 1);
}

gc_status gc_preprocess_images_cuda(cudaStream_t st, const gc_image_desc *descs,
                                    const uint8_t *pixels, int32_t n, int32_t H, int32_t W,
                                    int caffe, float *x_f, int32_t C0, gc_dtype t, void *x,
                                    gc_errbuf *err)
{
    const dim3 grid = batch_grid((size_t)H * W, n);
    DISPATCH_DT(t, T,
                GC_LAUNCH(grid, GC_BLOCK, st, op_preprocess_images_kernel<T>)(
                    descs, pixels, n, H, W, caffe, x_f, C0, (T *)x));
    LAUNCH_CHECK(err);
    return GC_OK;
}

/* ---------------------------------------------------------------- rendering */

/* One pixel per thread: render.c's cam interpolation (gc_cam_at), colormap index, blend. */
static __global__ void op_render_images_kernel(const gc_image_desc *descs,
                                               const uint8_t *pixels, int32_t n,
                                               const float *cams, int32_t cw, int32_t ch,
                                               const uint8_t *lut, float wi, float wh,
                                               uint8_t *heat, uint8_t *over)
{
    const size_t hw = (size_t)cw * ch;
    for (int32_t i = blockIdx.y; i < n; i += gridDim.y) {
        const gc_image_desc d = descs[i];
        const int32_t W = d.width, H = d.height;
        const float *cam = cams + (size_t)i * hw;
        const uint8_t *img = pixels + d.offset;
        uint8_t *ho = heat + d.offset, *oo = over + d.offset;
        GRID_STRIDE(p, (size_t)W * H)
        {
            const int32_t y = (int32_t)(p / W), x = (int32_t)(p % W);
            const uint8_t *c = lut + 3 * gc_cmap_index(gc_cam_at(cam, cw, ch, W, H, x, y));
            for (int k = 0; k < 3; k++) {
                ho[3 * p + k] = c[k];
                oo[3 * p + k] = gc_blend_u8(img[3 * p + k], c[k], wi, wh);
            }
        }
    }
}

gc_status gc_render_images_cuda(cudaStream_t st, const gc_image_desc *descs,
                                const uint8_t *pixels, int32_t n, int64_t max_pixels,
                                const float *cams, int32_t cw, int32_t ch, const uint8_t *lut,
                                float alpha, uint8_t *heat, uint8_t *over, gc_errbuf *err)
{
    float wi, wh; /* on the host, as gc_render computes them */
    gc_blend_weights(alpha, &wi, &wh);
    const dim3 grid = batch_grid((size_t)max_pixels, n);
    GC_LAUNCH(grid, GC_BLOCK, st, op_render_images_kernel)(descs, pixels, n, cams, cw, ch, lut, wi,
                                                       wh, heat, over);
    LAUNCH_CHECK(err);
    return GC_OK;
}
