/*
 * test_deflate.c — the PNG writer's Huffman-only DEFLATE coder (src/deflate_huff.c) against
 * two independent decoders, zlib's inflate (uncompress: Adler-32 checked) and libdeflate's:
 * every stream must decode to its input in both, stay within GC_HUFF_BOUND (guard bytes
 * after the bound untouched), and on photo-like residues (the coder's use) come within 2% of
 * zlib's own Z_HUFFMAN_ONLY size. Inputs: empty, one byte, one byte value, uniform noise
 * (stored blocks), counts in a Fibonacci series (a Huffman code 21 deep, cut to 15), block
 * edges (65535, 65536, 3 x 65535 + 1), and streams written in uneven pieces, some empty.
 */
#include <libdeflate.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "deflate_huff.h"

static int failures;

#define GUARD 64
#define GUARD_BYTE 0xa5

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Residues of Up-filtered photo pixels: a two-sided geometric around 0 (mod 256). */
static void fill_residues(uint8_t *p, size_t n, unsigned spread)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        while (v < 255 && rnd() % (spread + 1) != 0)
            v++;
        p[i] = (uint8_t)(rnd() & 1 ? v : -v);
    }
}

/* Byte value k fib(k) times for k = 0..21 (a code 21 deep without the limit), shuffled: in
 * order, zlib's smaller blocks would each see few values and win by that alone. */
static size_t fill_fibonacci(uint8_t *p, size_t cap)
{
    size_t n = 0, a = 1, b = 1;
    for (int k = 0; k < 22; k++) {
        for (size_t i = 0; i < a && n < cap; i++)
            p[n++] = (uint8_t)k;
        const size_t c = a + b;
        a = b, b = c;
    }
    for (size_t i = n - 1; i > 0; i--) {
        const size_t j = rnd() % (i + 1);
        const uint8_t t = p[i];
        p[i] = p[j], p[j] = t;
    }
    return n;
}

/* zlib's Huffman-only size for in: the reference the coder should stay near. */
static size_t zlib_huffman_size(const uint8_t *in, size_t n)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit2(&s, 1, Z_DEFLATED, 15, 8, Z_HUFFMAN_ONLY) != Z_OK)
        return 0;
    const size_t cap = compressBound((uLong)n);
    uint8_t *out = malloc(cap);
    s.next_in = (uint8_t *)in;
    s.avail_in = (uInt)n;
    s.next_out = out;
    s.avail_out = (uInt)cap;
    const int r = deflate(&s, Z_FINISH);
    const size_t z = r == Z_STREAM_END ? s.total_out : 0;
    deflateEnd(&s);
    free(out);
    return z;
}

/* Codes in (n bytes) in the given pieces (their sizes summing to n), decodes the stream with
 * both decoders; returns the stream's size (0 on a failure, already counted). */
static size_t round_trip(const char *name, const uint8_t *in, size_t n, const size_t *pieces,
                         int npieces)
{
    size_t cap = 0;
    for (int i = 0; i < npieces; i++)
        cap += GC_HUFF_BOUND(pieces[i]);
    uint8_t *out = malloc(cap + GUARD), *back = malloc(n + 1);
    gc_huff h;
    gc_huff_init(&h);
    size_t len = 0, at = 0, z = 0;
    int ok = 1;
    for (int i = 0; i < npieces && ok; i++) {
        /* this call's room, then guard bytes that must survive it */
        const size_t room = GC_HUFF_BOUND(pieces[i]);
        memset(out + len, GUARD_BYTE, room + GUARD);
        const size_t w = gc_huff_write(&h, in + at, pieces[i], i == npieces - 1, out + len);
        CHECK(w <= room - 8, "%s piece %d: %zu bytes, bound %zu less the 8 of room", name, i, w,
              room);
        for (size_t g = 0; g < GUARD; g++)
            if (out[len + room + g] != GUARD_BYTE) {
                CHECK(0, "%s piece %d: wrote past GC_HUFF_BOUND", name, i);
                ok = 0;
                break;
            }
        len += w, at += pieces[i];
    }
    uLongf zlen = (uLongf)n + 1;
    const int zr = uncompress(back, &zlen, out, (uLong)len);
    CHECK(zr == Z_OK && zlen == n && (n == 0 || memcmp(back, in, n) == 0),
          "%s: zlib inflate: %d, %lu of %zu bytes, %s", name, zr, (unsigned long)zlen, n,
          zr == Z_OK && zlen == n ? "different bytes" : "");
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    size_t dlen = 0;
    memset(back, 0, n + 1);
    const enum libdeflate_result dr = libdeflate_zlib_decompress(d, out, len, back, n + 1, &dlen);
    libdeflate_free_decompressor(d);
    CHECK(dr == LIBDEFLATE_SUCCESS && dlen == n && (n == 0 || memcmp(back, in, n) == 0),
          "%s: libdeflate: result %d, %zu of %zu bytes", name, (int)dr, dlen, n);
    if (ok && zr == Z_OK && dr == LIBDEFLATE_SUCCESS)
        z = len;
    free(out);
    free(back);
    return z;
}

static size_t one_piece(const char *name, const uint8_t *in, size_t n)
{
    return round_trip(name, in, n, &n, 1);
}

int main(void)
{
    const size_t max = 3 * (size_t)GC_HUFF_BLOCK + 1;
    uint8_t *buf = calloc(max, 1);
    if (!buf)
        return 1;

    one_piece("empty", buf, 0);
    buf[0] = 7;
    one_piece("one byte", buf, 1);
    memset(buf, 200, 100000);
    const size_t same = one_piece("one value x100000", buf, 100000);
    CHECK(same && same < 100000 / 8 + 200, "one value: %zu bytes (1 bit a byte expected)", same);

    for (size_t i = 0; i < max; i++)
        buf[i] = (uint8_t)rnd();
    const size_t noise = one_piece("uniform noise", buf, max);
    CHECK(noise && noise <= max + 6 * 4 + 7, "noise: %zu bytes, more than stored blocks", noise);

    const size_t nf = fill_fibonacci(buf, max);
    const size_t fib = one_piece("fibonacci counts", buf, nf);
    const size_t fib_zlib = zlib_huffman_size(buf, nf);
    CHECK(fib && fib <= fib_zlib * 105 / 100, "fibonacci: %zu bytes, zlib %zu", fib, fib_zlib);

    const size_t sizes[] = {GC_HUFF_BLOCK, GC_HUFF_BLOCK + 1, max, 150976};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        fill_residues(buf, sizes[k], k + 2);
        char name[64];
        snprintf(name, sizeof name, "residues x%zu", sizes[k]);
        const size_t ours = one_piece(name, buf, sizes[k]);
        const size_t theirs = zlib_huffman_size(buf, sizes[k]);
        CHECK(ours && ours <= theirs * 102 / 100, "%s: %zu bytes, zlib Huffman-only %zu", name,
              ours, theirs);
    }

    /* pieces as the PNG writer hands strips over, with empty ones between */
    fill_residues(buf, max, 3);
    const size_t pieces[] = {1000, 0, 70000, 1, 0, 65535, max - 1000 - 70000 - 1 - 65535 - 7, 7, 0};
    round_trip("pieces", buf, max, pieces, sizeof pieces / sizeof pieces[0]);

    free(buf);
    printf("%s (%d failure%s)\n", failures ? "FAIL" : "PASS", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
