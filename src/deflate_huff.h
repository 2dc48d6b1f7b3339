/*
 * deflate_huff.h — a zlib stream (RFC 1950/1951) of Huffman-coded literals only, written in
 * pieces (deflate_huff.c). The PNG writer's coder for photo-like pixels, where a match
 * search finds almost nothing and costs the most.
 */
#ifndef GC_DEFLATE_HUFF_H
#define GC_DEFLATE_HUFF_H

#include <stddef.h>
#include <stdint.h>

/* Bytes per DEFLATE block: each block gets its own code (or is stored, when coding would
 * not pay), and a stored block holds at most 65535 bytes. */
#define GC_HUFF_BLOCK 65535u

/* The most bytes gc_huff_write writes for n input bytes, whatever the bytes and the call:
 * per block at most its bytes + 6 (a stored block's head, alignment and lengths), the zlib
 * head (2) and Adler-32 (4), a last partial byte, and 8 bytes of room that the writer's
 * 64-bit stores may touch beyond what it returns. */
#define GC_HUFF_BOUND(n) ((size_t)(n) + 6 * ((size_t)(n) / GC_HUFF_BLOCK + 1) + 15)

/* One stream being written: the bits not yet a whole byte, and the running checksum. */
typedef struct gc_huff {
    uint64_t bits;  /* pending bits, the first in bit 0 */
    unsigned nbits; /* how many (< 8 between calls) */
    uint32_t adler; /* Adler-32 of the input so far */
    int started;    /* the zlib head is written */
} gc_huff;

/* A new stream (the zlib head goes out with the first gc_huff_write). */
void gc_huff_init(gc_huff *h);

/* Codes in[0..n) into out, which has room for GC_HUFF_BOUND(n) bytes; returns the whole
 * bytes written (the last < 8 bits wait for the next call). last: the stream ends here (the
 * final block, the padding and Adler-32 written; n may be 0). Calls with n == 0 and !last
 * write nothing but the head. Cannot fail. */
size_t gc_huff_write(gc_huff *h, const uint8_t *in, size_t n, int last, uint8_t *out);

#endif /* GC_DEFLATE_HUFF_H */
