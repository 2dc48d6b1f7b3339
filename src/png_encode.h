/*
 * png_encode.h — 8-bit RGB pixels to a PNG file image in memory (png_encode.c).
 */
#ifndef GC_PNG_ENCODE_H
#define GC_PNG_ENCODE_H

#include "gc_internal.h"

/* Above this many filtered bytes (an image of ~5.6 megapixels) zlib compresses strip by
 * strip instead of libdeflate on the whole image, so that memory stays bounded. */
#define GC_PNG_WHOLE_MAX ((size_t)16 << 20)

/* Encodes img (width, height >= 1, stride >= 3 * width) at zlib-scale level 0..9 into *out
 * (malloc'ed, *out_len bytes; the caller frees it). GC_OK, or GC_ERR_OUT_OF_MEMORY /
 * GC_ERR_INVALID_ARGUMENT with the cause in why (no path: the caller adds it). */
gc_status gc_png_encode(const gc_image *img, int level, uint8_t **out, size_t *out_len, char *why,
                        size_t why_len);

#endif /* GC_PNG_ENCODE_H */
