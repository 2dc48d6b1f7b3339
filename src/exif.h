/*
 * exif.h — the EXIF orientation of a JPEG or PNG, found the way OpenCV's imread finds it, so
 * that gc_image_read turns an image exactly as cv2.imread(path, IMREAD_COLOR) does.
 * Included by image_io.c only (header-only: no change to the build's source list).
 *
 * What OpenCV 4.6 does (Debian 12's python3-opencv, which made the goldens; imgcodecs'
 * grfmt_jpeg.cpp, grfmt_png.cpp, exif.cpp), and we with it:
 * - JPEG: the FIRST APP1 segment before the first SOS (libjpeg's saved markers), whatever it
 *   holds: the "Exif\0\0" signature is not checked, the TIFF block starts 6 bytes in. A file
 *   whose first APP1 is XMP gets no orientation even when an Exif APP1 follows.
 *   PNG: the eXIf chunk (libpng keeps it only when it starts with "II" or "MM").
 * - TIFF: "II" means little-endian, anything else big-endian; the tag mark must be 42; IFD0's
 *   entries are read in order and the first 0x0112 entry wins, its value the 16 bits at
 *   entry + 8 whatever its type. An entry that OpenCV decodes (strings, rationals, shorts)
 *   whose data lies outside the block ends the walk, as OpenCV's exception does: entries
 *   before it count, so an orientation read before the damage still applies.
 * - Values outside 1..8 mean no change. Broken EXIF never fails a decode: it gives 1.
 * Every read is bounds-checked against the block; nothing is allocated.
 */
#ifndef GC_EXIF_H
#define GC_EXIF_H

#include <stddef.h>
#include <stdint.h>

/* Reads 16 or 32 bits at off when they lie inside the n bytes of d; 0 when they don't. */
static inline int gc_exif_get(const uint8_t *d, size_t n, int le, size_t off, int bytes,
                              uint32_t *v)
{
    if (off > n || n - off < (size_t)bytes)
        return 0;
    uint32_t x = 0;
    for (int i = 0; i < bytes; i++) {
        int k = le ? bytes - 1 - i : i;
        x = (x << 8) | d[off + (size_t)k];
    }
    *v = x;
    return 1;
}

/* The orientation 1..8 in a TIFF-structured EXIF block (d, n bytes); 1 when there is none. */
static inline int gc_exif_orientation(const uint8_t *d, size_t n)
{
    if (!d || n < 2)
        return 1;
    int le = d[0] == 'I' && d[1] == 'I';
    uint32_t mark, ifd, count;
    if (!gc_exif_get(d, n, le, 2, 2, &mark) || mark != 42)
        return 1;
    if (!gc_exif_get(d, n, le, 4, 4, &ifd) || !gc_exif_get(d, n, le, ifd, 2, &count))
        return 1;
    size_t e = (size_t)ifd + 2; /* 12-byte entries: tag, type, count, value or offset */
    for (uint32_t i = 0; i < count; i++, e += 12) {
        uint32_t tag, v, cnt, off;
        size_t rationals = 0;
        if (!gc_exif_get(d, n, le, e, 2, &tag))
            return 1;
        /* clang-format off */
        switch (tag) {
        case 0x0112: /* Orientation */
            if (!gc_exif_get(d, n, le, e + 8, 2, &v))
                return 1;
            return v >= 1 && v <= 8 ? (int)v : 1;
        case 0x010E: /* ImageDescription, Make, Model, Software, DateTime, Copyright */
        case 0x010F:
        case 0x0110:
        case 0x0131:
        case 0x0132:
        case 0x8298:
            if (!gc_exif_get(d, n, le, e + 4, 4, &cnt))
                return 1;
            off = 8; /* OpenCV 4.6 checks inline strings at 8 from the block's start */
            if (cnt > 4 && !gc_exif_get(d, n, le, e + 8, 4, &off))
                return 1;
            if (off > n || cnt > n - off)
                return 1;
            break;
        case 0x011A: /* XResolution, YResolution */
        case 0x011B: rationals = 1; break;
        case 0x013E: rationals = 2; break; /* WhitePoint */
        case 0x013F: rationals = 6; break; /* PrimaryChromaticities */
        case 0x0211: rationals = 3; break; /* YCbCrCoefficients */
        case 0x0214: rationals = 6; break; /* ReferenceBlackWhite */
        case 0x0128: /* ResolutionUnit, YCbCrPositioning */
        case 0x0213:
            if (!gc_exif_get(d, n, le, e + 8, 2, &v))
                return 1;
            break;
        default: break; /* ignored by OpenCV, the Exif IFD pointer included */
        }
        /* clang-format on */
        if (rationals) {
            if (!gc_exif_get(d, n, le, e + 8, 4, &off))
                return 1;
            if (off > n || 8 * rationals > n - off)
                return 1;
        }
    }
    return 1;
}

/* Finds the first APP1 segment of a JPEG before its first SOS, as libjpeg's jpeg_read_header
 * sees the markers; *tiff and *tiff_len get its payload past the 6-byte "Exif\0\0" header.
 * 0 when there is none (or it is too short to hold anything past that header). */
static inline int gc_jpeg_find_exif(const uint8_t *b, size_t n, const uint8_t **tiff,
                                    size_t *tiff_len)
{
    size_t p = 2; /* past SOI */
    for (;;) {
        /* bytes other than 0xFF between segments are "extraneous data" to libjpeg: a
         * warning, which gc_image_read refuses anyway; stop looking */
        if (p >= n || b[p] != 0xFF)
            return 0;
        while (p < n && b[p] == 0xFF) /* fill bytes */
            p++;
        if (p >= n)
            return 0;
        uint8_t m = b[p++];
        if (m == 0xDA || m == 0xD9) /* SOS, EOI */
            return 0;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) /* TEM, RSTn: no length */
            continue;
        if (n - p < 2)
            return 0;
        size_t len = ((size_t)b[p] << 8) | b[p + 1]; /* includes its own 2 bytes */
        if (len < 2 || len > n - p)
            return 0;
        if (m == 0xE1) {
            if (len - 2 <= 6)
                return 0;
            *tiff = b + p + 2 + 6;
            *tiff_len = len - 2 - 6;
            return 1;
        }
        p += len;
    }
}

#endif /* GC_EXIF_H */
