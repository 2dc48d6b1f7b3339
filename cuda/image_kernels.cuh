/*
 * image_kernels.cuh — preprocessing and rendering of 8-bit images on the GPU, bit for bit what
 * the host code does (src/context.c's preprocess_one with src/resize.c; src/render.c's
 * gc_render): the per-pixel formulas are src/image_math.h's, shared with that code. One
 * launch per batch of images of any sizes: blockIdx.y walks the images, blockIdx.x and the
 * threads walk one image's pixels.
 */
#ifndef GC_CUDA_IMAGE_KERNELS_CUH
#define GC_CUDA_IMAGE_KERNELS_CUH

#include "kernels.cuh"

/* One image of a batch in device memory: (height, width, 3) packed bytes at `offset` from the
 * batch's pixel base, and the region of it that preprocessing resizes (context.c's
 * resize_region: all of it, or its centered crop). */
typedef struct gc_image_desc {
    uint64_t offset;
    int32_t width, height;
    int32_t rx, ry, rw, rh;
} gc_image_desc;

/* x_f (n, H, W, 3) float = each image's region resized to W x H (INTER_AREA when neither side
 * grows, else INTER_LINEAR; OpenCV's 8-bit arithmetic) and normalized (caffe != 0: BGR minus
 * the Caffe means; else torch's (x/255 - mean)/std in RGB): bit for bit context.c's staging
 * buffer. x (n, H, W, C0) of type t = the same values, channels 3..C0-1 zero: what
 * gc_pack_input_cuda makes of x_f. descs: n device descriptors; pixels: their base. */
gc_status gc_preprocess_images_cuda(cudaStream_t st, const gc_image_desc *descs,
                                    const uint8_t *pixels, int32_t n, int32_t H, int32_t W,
                                    int caffe, float *x_f, int32_t C0, gc_dtype t, void *x,
                                    gc_errbuf *err);

/* For each image i (descs, pixels as above): heat and over at descs[i].offset, each
 * (height, width, 3) bytes = gc_render's heatmap and overlay of cams[i] ((ch, cw) floats,
 * normalized) with the colormap lut (256 RGB entries, device) and alpha. max_pixels: the
 * largest width * height of the batch (sizes the grid). */
gc_status gc_render_images_cuda(cudaStream_t st, const gc_image_desc *descs,
                                const uint8_t *pixels, int32_t n, int64_t max_pixels,
                                const float *cams, int32_t cw, int32_t ch, const uint8_t *lut,
                                float alpha, uint8_t *heat, uint8_t *over, gc_errbuf *err);

#endif /* GC_CUDA_IMAGE_KERNELS_CUH */
