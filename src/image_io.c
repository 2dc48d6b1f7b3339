/*
 * image_io.c — PNG and JPEG files to and from 8-bit RGB (libpng, libturbojpeg).
 * Placeholder: being written.
 */
#include <stdlib.h>
#include <string.h>

#include "gc_internal.h"

gc_status gc_image_read(const char *path, int64_t max_pixels, gc_image *out, char *err,
                        size_t err_len)
{
    (void)path, (void)max_pixels, (void)out, (void)err, (void)err_len;
    return GC_ERR_UNSUPPORTED;
}

void gc_image_free(gc_image *img)
{
    if (!img)
        return;
    free((void *)img->data);
    memset(img, 0, sizeof *img);
}

gc_status gc_image_write(const char *path, const gc_image *image, gc_file_format format,
                         int32_t png_level, int32_t jpeg_quality, char *err, size_t err_len)
{
    (void)path, (void)image, (void)format, (void)png_level, (void)jpeg_quality, (void)err,
        (void)err_len;
    return GC_ERR_UNSUPPORTED;
}
