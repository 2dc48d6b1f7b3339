/*
 * png_encode.c — 8-bit RGB to a PNG file image in memory: the row filters and the chunks here,
 * the DEFLATE compression by libdeflate, zlib or our Huffman-only coder (deflate_huff.c).
 *
 * Why not libpng, which reads our PNGs: its writer drives zlib row by row through its own
 * filter machinery, and zlib has no fast match search. Heatmaps (the command's second default
 * output) compress 2x faster and smaller with libdeflate's level 1, which needs the whole
 * filtered image in one buffer; photo-like overlays compress fastest with Huffman coding
 * alone, which libdeflate does not offer and zlib does slowly. Measured on one Zen 4 core,
 * Debian's zlib 1.2.13 and libdeflate 1.14 (224x224 / 500x375, written to a file): heatmap at
 * level 1 through libpng (Up filter, default strategy) 1.05 / 2.6 ms, here (Sub, libdeflate)
 * 0.42 / 1.6 ms, 15% / 25% smaller; overlay 0.99 / 3.6 ms through libpng, 0.97 / 4.2 ms here
 * with zlib's Huffman-only, 0.32 / 0.87 ms with ours (+0.2% / +0.9% bytes: a code per 64 KiB
 * block where zlib has one per 16K bytes). What remains is the format's own work: five
 * filter types (PNG spec section 9), CRC-32 per chunk, IDAT chunks of at most 2^31 - 1 bytes.
 *
 * Strategy by level (the zlib scale, 0..9, that --png-level takes):
 *   0      no filter, stored blocks (libdeflate level 0)
 *   1      smooth pixels (heatmaps): Sub filter, libdeflate level 1
 *          noisy pixels (overlays): Up filter, Huffman coding alone (deflate_huff.c: the
 *          match search finds almost nothing there and costs the most), strip by strip
 *   2..9   each row's filter picked by the least sum of |signed bytes| (libpng's heuristic),
 *          libdeflate at that level
 * libdeflate holds the whole filtered image (the image's size again) while it works; above
 * GC_PNG_WHOLE_MAX bytes zlib compresses strip by strip instead (the same filters, zlib at
 * the same level), so a 100-megapixel image costs a strip of filtered rows, not another
 * 300 MB. Either way the compressed stream goes straight into the file image being built
 * (libdeflate's as one IDAT chunk, zlib's as IDAT chunks of 256 KiB, filled in turn, ours as
 * a chunk for each 256 KiB of filtered rows): the only other copy is the filtered data.
 */
#include <libdeflate.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate_huff.h"
#include "png_encode.h"

#define BPP 3                        /* bytes per pixel: 8-bit RGB */
#define STRIP_BYTES (256u << 10)     /* filtered rows handed to zlib at a time */
#define IDAT_MAX ((size_t)256 << 10) /* bytes per IDAT chunk (libpng writes 8 KiB ones) */

enum { F_NONE, F_SUB, F_UP, F_AVG, F_PAETH, F_ADAPTIVE };

static uint8_t paeth(int a, int b, int c)
{
    const int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* One row through filter type f: out[0] = f, out[1..n] the filtered bytes. prev is the row
 * above, unfiltered, or NULL on the first row (zeros). */
static void filter_row(int f, const uint8_t *row, const uint8_t *prev, size_t n, uint8_t *out)
{
    out[0] = (uint8_t)f;
    uint8_t *o = out + 1;
    size_t x = 0;
    switch (f) {
    case F_NONE:
        memcpy(o, row, n);
        break;
    case F_SUB:
        for (; x < BPP && x < n; x++)
            o[x] = row[x];
        for (; x < n; x++)
            o[x] = (uint8_t)(row[x] - row[x - BPP]);
        break;
    case F_UP:
        if (!prev)
            memcpy(o, row, n);
        else
            for (; x < n; x++)
                o[x] = (uint8_t)(row[x] - prev[x]);
        break;
    case F_AVG:
        for (; x < n; x++) {
            const int a = x >= BPP ? row[x - BPP] : 0, b = prev ? prev[x] : 0;
            o[x] = (uint8_t)(row[x] - ((a + b) >> 1));
        }
        break;
    default: /* F_PAETH */
        for (; x < n; x++) {
            const int a = x >= BPP ? row[x - BPP] : 0, b = prev ? prev[x] : 0;
            const int c = x >= BPP && prev ? prev[x - BPP] : 0;
            o[x] = (uint8_t)(row[x] - paeth(a, b, c));
        }
        break;
    }
}

/* The sum of the filtered bytes read as signed: small when the filter predicted well. */
static uint64_t row_cost(const uint8_t *filtered, size_t n)
{
    uint64_t s = 0;
    for (size_t x = 1; x <= n; x++)
        s += filtered[x] < 128 ? filtered[x] : 256u - filtered[x];
    return s;
}

/* Rows [y0, y1) of img, filtered into dst (1 + 3w bytes a row). F_ADAPTIVE tries all five
 * in scratch (5 rows) and keeps the cheapest. */
static void filter_rows(const gc_image *img, int f, int32_t y0, int32_t y1, uint8_t *dst,
                        uint8_t *scratch)
{
    const size_t n = (size_t)BPP * (size_t)img->width;
    for (int32_t y = y0; y < y1; y++, dst += n + 1) {
        const uint8_t *row = img->data + (size_t)y * (size_t)img->stride;
        const uint8_t *prev = y ? row - (size_t)img->stride : NULL;
        if (f != F_ADAPTIVE) {
            filter_row(f, row, prev, n, dst);
            continue;
        }
        int best = 0;
        uint64_t best_cost = UINT64_MAX;
        for (int k = F_NONE; k <= F_PAETH; k++) {
            uint8_t *cand = scratch + (size_t)k * (n + 1);
            filter_row(k, row, prev, n, cand);
            const uint64_t c = row_cost(cand, n);
            if (c < best_cost)
                best = k, best_cost = c;
        }
        memcpy(dst, scratch + (size_t)best * (n + 1), n + 1);
    }
}

/* Whether the pixels are smooth (a heatmap, a drawing) rather than photo-like: at least half
 * of every 16th row's bytes equal the byte above. Overlays of photos have 10-20%. */
static int looks_smooth(const gc_image *img)
{
    const size_t n = (size_t)BPP * (size_t)img->width;
    size_t same = 0, seen = 0;
    for (int64_t y = 1; y < img->height; y += 16) { /* 64-bit: y + 16 passes INT32_MAX */
        const uint8_t *r = img->data + (size_t)y * (size_t)img->stride;
        const uint8_t *up = r - (size_t)img->stride;
        for (size_t x = 0; x < n; x++)
            same += r[x] == up[x];
        seen += n;
    }
    return 2 * same >= seen;
}

/* ---------------------------------------------------------------- the file image */

/* The PNG being built: grows as the chunks come. */
typedef struct png_out {
    uint8_t *data;
    size_t len, cap;
} png_out;

/* Room for `more` bytes after len, growing to twice the capacity or to what is asked,
 * whichever is more (the first reservation exactly: a rounded-up 1 MiB would pass the
 * command's mmap threshold and be mapped and faulted in anew for every file); 0 when out of
 * memory. */
static int out_reserve(png_out *o, size_t more)
{
    if (more <= o->cap - o->len)
        return 1;
    if (more > SIZE_MAX - o->len)
        return 0;
    const size_t want = o->len + more;
    const size_t cap = o->cap > SIZE_MAX / 2 ? want : GC_MAX(want, 2 * o->cap);
    uint8_t *d = realloc(o->data, cap);
    if (!d)
        return 0;
    o->data = d;
    o->cap = cap;
    return 1;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* Completes the chunk whose 8-byte head is at `at`, its n data bytes already after it:
 * length, type, and the CRC-32 of type and data. */
static void chunk_close(png_out *o, size_t at, const char type[4], size_t n)
{
    uint8_t *h = o->data + at;
    put32(h, (uint32_t)n);
    memcpy(h + 4, type, 4);
    put32(h + 8 + n, (uint32_t)libdeflate_crc32(0, h + 4, 4 + n));
    o->len = at + 12 + n;
}

/* A whole chunk from data (room reserved by the caller). */
static void chunk_put(png_out *o, const char type[4], const uint8_t *data, size_t n)
{
    const size_t at = o->len;
    if (n)
        memcpy(o->data + at + 8, data, n);
    chunk_close(o, at, type, n);
}

static gc_status out_of_memory(char *why, size_t why_len)
{
    snprintf(why, why_len, "out of memory");
    return GC_ERR_OUT_OF_MEMORY;
}

/* ---------------------------------------------------------------- the zlib stream */

/* The whole image filtered at once, then libdeflate, into one IDAT chunk (at most ~16 MiB:
 * GC_PNG_WHOLE_MAX). */
static gc_status idat_whole(const gc_image *img, int f, int level, size_t filtered_len, png_out *o,
                            char *why, size_t why_len)
{
    const size_t n = (size_t)BPP * (size_t)img->width;
    uint8_t *filtered = malloc(filtered_len);
    uint8_t *scratch = f == F_ADAPTIVE ? malloc(5 * (n + 1)) : NULL;
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    gc_status st = GC_OK;
    if (!filtered || (f == F_ADAPTIVE && !scratch) || !c) {
        st = out_of_memory(why, why_len);
        goto cleanup;
    }
    filter_rows(img, f, 0, img->height, filtered, scratch);
    const size_t bound = libdeflate_zlib_compress_bound(c, filtered_len);
    if (!out_reserve(o, 12 + bound)) { /* reserved by the caller: this does not grow it */
        st = out_of_memory(why, why_len);
        goto cleanup;
    }
    const size_t at = o->len;
    const size_t z = libdeflate_zlib_compress(c, filtered, filtered_len, o->data + at + 8, bound);
    if (z == 0) { /* cannot happen with the bound's room; never write a broken file */
        snprintf(why, why_len, "libdeflate could not compress into its own bound");
        st = GC_ERR_BACKEND;
        goto cleanup;
    }
    chunk_close(o, at, "IDAT", z);
cleanup:
    libdeflate_free_compressor(c);
    free(scratch);
    free(filtered);
    return st;
}

/* Opens an IDAT chunk for zlib's output: its head reserved, then as much room as the buffer
 * has (at most IDAT_MAX bytes; the buffer grows when it has less than 4 KiB). *given: the
 * room handed to zlib, which the chunk holds when it fills. */
static int idat_open(png_out *o, size_t *at, size_t *given, z_stream *s)
{
    if (o->cap - o->len < 12 + 4096 && !out_reserve(o, 12 + IDAT_MAX))
        return 0;
    *at = o->len;
    *given = GC_MIN(IDAT_MAX, o->cap - o->len - 12);
    s->next_out = o->data + *at + 8;
    s->avail_out = (uInt)*given;
    return 1;
}

/* Rows a strip: STRIP_BYTES of filtered rows, or one row when a row is longer. */
static int64_t strip_rows(const gc_image *img)
{
    const size_t row = (size_t)BPP * (size_t)img->width + 1;
    return (int64_t)GC_MAX((size_t)1, GC_MIN((size_t)img->height, STRIP_BYTES / row));
}

/* Strip by strip through zlib: memory for a strip of filtered rows, whatever the image's
 * size; the stream fills IDAT chunks of IDAT_MAX bytes in turn. */
static gc_status idat_strips(const gc_image *img, int f, int level, png_out *o, char *why,
                             size_t why_len)
{
    const size_t n = (size_t)BPP * (size_t)img->width;
    const int64_t rows = strip_rows(img);
    uint8_t *strip = malloc((size_t)rows * (n + 1));
    uint8_t *scratch = f == F_ADAPTIVE ? malloc(5 * (n + 1)) : NULL;
    z_stream s;
    memset(&s, 0, sizeof s);
    int zinit = Z_MEM_ERROR;
    gc_status st = GC_OK;
    size_t at = 0, given = 0;
    if (!strip || (f == F_ADAPTIVE && !scratch)) {
        st = out_of_memory(why, why_len);
        goto cleanup;
    }
    zinit = deflateInit2(&s, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY);
    if (zinit != Z_OK) {
        if (zinit == Z_MEM_ERROR)
            st = out_of_memory(why, why_len);
        else
            snprintf(why, why_len, "zlib: deflateInit2 failed (%d)", zinit), st = GC_ERR_BACKEND;
        goto cleanup;
    }
    if (!idat_open(o, &at, &given, &s)) {
        st = out_of_memory(why, why_len);
        goto cleanup;
    }
    /* 64-bit rows: y + rows passes INT32_MAX on the last strip of a tall image */
    for (int64_t y = 0; y < img->height; y += rows) {
        const int64_t y1 = GC_MIN((int64_t)img->height, y + rows);
        filter_rows(img, f, (int32_t)y, (int32_t)y1, strip, scratch);
        s.next_in = strip;
        s.avail_in = (uInt)((size_t)(y1 - y) * (n + 1)); /* < STRIP_BYTES or one row */
        const int flush = y1 == img->height ? Z_FINISH : Z_NO_FLUSH;
        for (;;) {
            const int r = deflate(&s, flush);
            if (r == Z_STREAM_END) /* all written; the last chunk is closed below */
                break;
            if (r != Z_OK) {
                snprintf(why, why_len, "zlib: %s", s.msg ? s.msg : "deflate failed");
                st = GC_ERR_BACKEND;
                goto cleanup;
            }
            if (s.avail_out == 0) { /* this chunk is full: close it, go on in the next */
                chunk_close(o, at, "IDAT", given);
                if (!idat_open(o, &at, &given, &s)) {
                    st = out_of_memory(why, why_len);
                    goto cleanup;
                }
                continue;
            }
            if (flush == Z_NO_FLUSH && s.avail_in == 0)
                break; /* the strip is in; the next one follows */
            /* Z_FINISH without the end, and room left: never expected; no broken file */
            snprintf(why, why_len, "zlib: deflate made no progress");
            st = GC_ERR_BACKEND;
            goto cleanup;
        }
    }
    const size_t last = given - s.avail_out;
    if (last)
        chunk_close(o, at, "IDAT", last);
cleanup:
    if (zinit == Z_OK)
        deflateEnd(&s);
    free(scratch);
    free(strip);
    return st;
}

/* Up-filtered strips through our Huffman-only coder (deflate_huff.c), a strip's stream in
 * IDAT chunks of at most STRIP_BYTES of its filtered bytes each (a one-row strip of a very wide
 * image is longer, and a chunk holds at most 2^31 - 1 bytes): memory for a strip, whatever the
 * image's size. */
static gc_status idat_huffman(const gc_image *img, png_out *o, char *why, size_t why_len)
{
    const size_t n = (size_t)BPP * (size_t)img->width;
    const int64_t rows = strip_rows(img);
    uint8_t *strip = malloc((size_t)rows * (n + 1));
    if (!strip)
        return out_of_memory(why, why_len);
    gc_huff h;
    gc_huff_init(&h);
    gc_status st = GC_OK;
    for (int64_t y = 0; y < img->height && st == GC_OK; y += rows) {
        const int64_t y1 = GC_MIN((int64_t)img->height, y + rows);
        const size_t len = (size_t)(y1 - y) * (n + 1);
        filter_rows(img, F_UP, (int32_t)y, (int32_t)y1, strip, NULL);
        for (size_t at_in = 0; at_in < len;) {
            const size_t piece = GC_MIN((size_t)STRIP_BYTES, len - at_in);
            if (!out_reserve(o, 12 + GC_HUFF_BOUND(piece))) { /* reserved by the caller */
                st = out_of_memory(why, why_len);
                break;
            }
            at_in += piece;
            const size_t at = o->len;
            const int last = y1 == img->height && at_in == len;
            const size_t z =
                gc_huff_write(&h, strip + at_in - piece, piece, last, o->data + at + 8);
            if (z)
                chunk_close(o, at, "IDAT", z);
        }
    }
    free(strip);
    return st;
}

/* The bytes idat_huffman writes at most for a strip of len filtered bytes: its chunks'
 * heads and CRCs, and the coder's bound for each. */
static size_t huffman_strip_bound(size_t len)
{
    const size_t full = (len - 1) / STRIP_BYTES; /* chunks of STRIP_BYTES before the last */
    return full * (12 + GC_HUFF_BOUND(STRIP_BYTES)) + 12 + GC_HUFF_BOUND(len - full * STRIP_BYTES);
}

/* ---------------------------------------------------------------- the file */

gc_status gc_png_encode(const gc_image *img, int level, uint8_t **out, size_t *out_len, char *why,
                        size_t why_len)
{
    *out = NULL;
    *out_len = 0;
    /* width and height are positive int32 and stride >= 3 * width an int32 (checked by the
     * caller): a row's n + 1 bytes stay below 2^31, and no size overflows in 64 bits */
    const size_t n = (size_t)BPP * (size_t)img->width;
    const size_t filtered_len = (n + 1) * (size_t)img->height;

    enum { WHOLE, STRIPS, HUFFMAN } path = filtered_len <= GC_PNG_WHOLE_MAX ? WHOLE : STRIPS;
    int f;
    if (level == 0) {
        f = F_NONE;
    } else if (level == 1 && !looks_smooth(img)) {
        f = F_UP, path = HUFFMAN;
    } else {
        f = level == 1 ? F_SUB : F_ADAPTIVE;
    }

    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    /* One buffer for the whole file at the stream's bound, allocated once: pages never
     * written cost nothing, and growing it as the chunks came cost page faults and copies
     * (10-40% slower with glibc's default thresholds). idat_open still grows it should zlib
     * pass its bound. */
    size_t idat_bound;
    if (path == HUFFMAN) { /* strips of `rows` rows, the last one shorter */
        const size_t rows = (size_t)strip_rows(img), strips = ((size_t)img->height - 1) / rows + 1;
        idat_bound = (strips - 1) * huffman_strip_bound(rows * (n + 1)) +
                     huffman_strip_bound(filtered_len - (strips - 1) * rows * (n + 1));
    } else {
        const size_t bound = path == WHOLE ? libdeflate_zlib_compress_bound(NULL, filtered_len)
                                           : (size_t)compressBound((uLong)filtered_len);
        idat_bound = bound + 12 * (bound / IDAT_MAX + 1);
    }
    png_out o = {NULL, 0, 0};
    if (!out_reserve(&o, sizeof signature + 25 + idat_bound + 12))
        return out_of_memory(why, why_len);
    memcpy(o.data, signature, sizeof signature);
    o.len = sizeof signature;
    uint8_t ihdr[13];
    put32(put32(ihdr, (uint32_t)img->width), (uint32_t)img->height);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* compression: DEFLATE */
    ihdr[11] = 0; /* filter method: the five adaptive types */
    ihdr[12] = 0; /* no interlace */
    chunk_put(&o, "IHDR", ihdr, sizeof ihdr);

    gc_status st = path == WHOLE     ? idat_whole(img, f, level, filtered_len, &o, why, why_len)
                   : path == HUFFMAN ? idat_huffman(img, &o, why, why_len)
                                     : idat_strips(img, f, level, &o, why, why_len);
    if (st == GC_OK && !out_reserve(&o, 12))
        st = out_of_memory(why, why_len);
    if (st != GC_OK) {
        free(o.data);
        return st;
    }
    chunk_put(&o, "IEND", NULL, 0);
    *out = o.data;
    *out_len = o.len;
    return GC_OK;
}
