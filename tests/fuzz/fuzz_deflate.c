/*
 * fuzz_deflate.c — libFuzzer target: the Huffman-only DEFLATE coder (src/deflate_huff.c) on
 * bytes, lengths and piece splits the input chooses, the stream decoded by zlib's inflate
 * (Adler-32 checked).
 *
 * Input: bytes 0-1 the stream's length, 1..65535 x 4 bytes (the rest repeated to fill it, so
 * a 16 KB input reaches several blocks), bytes 2-3 the pieces' length, 256..65535: the calls
 * take that, nothing, its half, that, nothing, ..., the rest the bytes. Checked: every call
 * within GC_HUFF_BOUND (guard bytes after it intact), the stream decodes, byte-exact.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate_huff.h"
#include "fuzz_file.h"

#define GUARD 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    const size_t n = (size_t)4 * (1 + (size_t)(data[0] | data[1] << 8) % 65535);
    const size_t first = 256 + (size_t)(data[2] | data[3] << 8) % 65280;
    const uint8_t *px = data + 4;
    const size_t npx = size - 4;
    uint8_t *in = malloc(n), *back = malloc(n);
    FUZZ_CHECK(in && back);
    for (size_t i = 0; i < n; i++)
        in[i] = px[i % npx];
    /* each call's room is its bytes + 6 a block + 21 at most (GC_HUFF_BOUND) */
    const size_t calls = 3 * (n / 128 + 1);
    uint8_t *out = malloc(n + 6 * (n / GC_HUFF_BLOCK + 1) + 21 * calls + GUARD);
    FUZZ_CHECK(out);
    gc_huff h;
    gc_huff_init(&h);
    size_t at = 0, len = 0;
    for (size_t k = 0;; k++) {
        size_t piece = k % 3 == 0 ? first : k % 3 == 1 ? 0 : first / 2;
        if (piece > n - at)
            piece = n - at;
        const int last = at + piece == n;
        const size_t room = GC_HUFF_BOUND(piece);
        memset(out + len + room, 0xa5, GUARD);
        const size_t w = gc_huff_write(&h, in + at, piece, last, out + len);
        FUZZ_CHECK(w + 8 <= room);
        for (int g = 0; g < GUARD; g++)
            FUZZ_CHECK(out[len + room + g] == 0xa5);
        at += piece, len += w;
        if (last)
            break;
    }
    uLongf blen = (uLongf)n;
    FUZZ_CHECK(uncompress(back, &blen, out, (uLong)len) == Z_OK);
    FUZZ_CHECK(blen == n && memcmp(back, in, n) == 0);
    free(out);
    free(back);
    free(in);
    return 0;
}
