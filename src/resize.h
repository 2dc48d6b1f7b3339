/*
 * resize.h — resizing 8-bit RGB images the way OpenCV's cv2.resize does: INTER_LINEAR
 * (center-aligned bilinear, OpenCV's fixed-point arithmetic) when any side grows, INTER_AREA
 * (exact pixel-area averaging, anti-aliased) when both sides shrink. Byte-exact with
 * cv2.resize (tests/test_render.c).
 */
#ifndef GC_RESIZE_H
#define GC_RESIZE_H

#include "gc_internal.h"

typedef enum gc_interp { GC_INTERP_AUTO, GC_INTERP_LINEAR, GC_INTERP_AREA } gc_interp;

/* src: (sh, sw, 3) rows sstride bytes apart; dst: (dh, dw, 3) packed.
 * Returns GC_ERR_OUT_OF_MEMORY or GC_OK. */
gc_status gc_resize_rgb8(const uint8_t *src, int32_t sw, int32_t sh, int32_t sstride,
                         uint8_t *dst, int32_t dw, int32_t dh, gc_interp interp);

#endif /* GC_RESIZE_H */
