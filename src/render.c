/*
 * render.c — cam to heatmap and overlay, as OpenCV renders them. Placeholder: being written.
 */
#include "gc_internal.h"

gc_status gc_render(const float *cam, int32_t cam_width, int32_t cam_height,
                    const gc_image *image, gc_colormap colormap, float alpha, uint8_t *heatmap,
                    size_t heatmap_len, uint8_t *overlay, size_t overlay_len)
{
    (void)cam, (void)cam_width, (void)cam_height, (void)image, (void)colormap, (void)alpha,
        (void)heatmap, (void)heatmap_len, (void)overlay, (void)overlay_len;
    return GC_ERR_UNSUPPORTED;
}

const uint8_t *gc_colormap_table(gc_colormap colormap)
{
    (void)colormap;
    return NULL;
}
