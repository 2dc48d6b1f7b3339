/*
 * deflate_huff.c — DEFLATE with literals only: each block's bytes counted, a Huffman code
 * built for them (at most 15 bits, RFC 1951 section 3.2.7), the bytes written with it.
 *
 * Why our own: the PNG writer's overlays (photos blended with a heatmap, Up-filtered) are
 * coded best for their time without a match search, and zlib's Z_HUFFMAN_ONLY pushes each
 * byte through its general block machinery at ~160 MB/s (most of a 224x224 overlay's 1 ms
 * on a Zen 4 core; ours: ~1.3 GB/s). libdeflate has no such strategy; zlib-ng, which has a
 * fast one, is not in Debian 12. The format part is small: a code per block, its lengths sent
 * with a second code (the code-length alphabet, without its run-length symbols: overlays use
 * nearly every byte value, so there are few runs to shorten), two unused distance codes of
 * one bit (a complete code, as zlib writes it). A block whose code would cost more than its
 * bytes is stored instead, which bounds the output (GC_HUFF_BOUND).
 */
#include "deflate_huff.h"

#include <libdeflate.h>
#include <string.h>

#define NLIT 257 /* literals 0..255 and end-of-block (256); no lengths, no distances */
#define EOB 256
#define MAXBITS 15   /* literal/length code lengths */
#define CL_MAXBITS 7 /* code-length code lengths */
#define NCL 19       /* the code-length alphabet */

/* ---------------------------------------------------------------- bits out */

/* Bits go out in 64-bit little-endian stores of which only the whole bytes count: cheap,
 * and why the bound keeps 8 bytes of room after the end. */
typedef struct bitw {
    uint64_t bits;
    unsigned n; /* < 64 always; <= 7 after a flush */
    uint8_t *p;
} bitw;

static inline void store64le(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* len <= 56 - w->n */
static inline void put(bitw *w, uint64_t v, unsigned len)
{
    w->bits |= v << w->n;
    w->n += len;
}

static inline void flush(bitw *w)
{
    store64le(w->p, w->bits);
    const unsigned k = w->n >> 3; /* <= 7: n < 64 */
    w->p += k;
    w->bits >>= 8 * k;
    w->n &= 7;
}

/* To the next byte boundary with zero bits, then flushed: n == 0 after. */
static void align(bitw *w)
{
    put(w, 0, (8 - (w->n & 7)) & 7);
    flush(w);
}

/* ---------------------------------------------------------------- codes */

/* Sorts keys ascending (Shell sort, Ciura's gaps: at most 257 keys, no call per compare). */
static void sort_keys(uint64_t *k, int n)
{
    static const int gaps[] = {132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        const int gap = gaps[g];
        for (int i = gap; i < n; i++) {
            const uint64_t v = k[i];
            int j = i;
            for (; j >= gap && k[j - gap] > v; j -= gap)
                k[j] = k[j - gap];
            k[j] = v;
        }
    }
}

/* Huffman code lengths for freq[0..nsym) (nsym <= NLIT), none longer than limit: zero for
 * unused symbols. At least two symbols must be used, so that the code is complete (inflate
 * rejects incomplete codes): block() always has end-of-block and a byte, and among the code
 * lengths the distance codes' 1 and the bytes' lengths, which cannot all be 1. When the
 * Huffman code runs too deep, the counts are halved (rounding up, so none reaches zero) and
 * the code built again: a few % worse than the optimal limited code in that rare case, and
 * simpler. */
static void code_lengths(const uint32_t *freq, int nsym, int limit, uint8_t *len)
{
    uint64_t key[NLIT];   /* count << 16 | symbol, sorted */
    uint64_t w[2 * NLIT]; /* node weights: leaves, then inner nodes in order */
    int parent[2 * NLIT], depth[2 * NLIT];
    uint32_t f[NLIT];
    int m;
    memset(len, 0, (size_t)nsym);
    for (int s = 0; s < nsym; s++)
        f[s] = freq[s];
    for (;;) {
        m = 0;
        for (int s = 0; s < nsym; s++)
            if (f[s])
                key[m++] = (uint64_t)f[s] << 16 | (uint64_t)s;
        sort_keys(key, m);
        for (int i = 0; i < m; i++)
            w[i] = key[i] >> 16;
        /* two queues: the sorted leaves, and the inner nodes, made in increasing weight */
        int leaf = 0, inner = m;
        for (int next = m; next < 2 * m - 1; next++) {
            int pick[2];
            for (int t = 0; t < 2; t++)
                pick[t] = leaf < m && (inner >= next || w[leaf] <= w[inner]) ? leaf++ : inner++;
            w[next] = w[pick[0]] + w[pick[1]];
            parent[pick[0]] = parent[pick[1]] = next;
        }
        depth[2 * m - 2] = 0;
        int deepest = 0;
        for (int i = 2 * m - 3; i >= 0; i--) {
            depth[i] = depth[parent[i]] + 1;
            deepest = depth[i] > deepest ? depth[i] : deepest;
        }
        if (deepest <= limit) {
            for (int i = 0; i < m; i++)
                len[key[i] & 0xffff] = (uint8_t)depth[i];
            return;
        }
        for (int s = 0; s < nsym; s++)
            f[s] = (f[s] + 1) >> 1;
    }
}

static unsigned reverse_bits(unsigned v, unsigned n)
{
    unsigned r = 0;
    for (unsigned i = 0; i < n; i++, v >>= 1)
        r = r << 1 | (v & 1);
    return r;
}

/* Canonical codes for the lengths (RFC 1951 section 3.2.2), bit-reversed: DEFLATE sends a
 * code's first bit first, and our bits go out from bit 0 up. */
static void canonical_codes(const uint8_t *len, int nsym, uint16_t *code)
{
    unsigned count[MAXBITS + 1] = {0}, next[MAXBITS + 1];
    for (int s = 0; s < nsym; s++)
        count[len[s]]++;
    count[0] = 0;
    unsigned c = 0;
    for (int b = 1; b <= MAXBITS; b++) {
        c = (c + count[b - 1]) << 1;
        next[b] = c;
    }
    for (int s = 0; s < nsym; s++)
        code[s] = len[s] ? (uint16_t)reverse_bits(next[len[s]]++, len[s]) : 0;
}

/* ---------------------------------------------------------------- blocks */

static const uint8_t cl_order[NCL] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};

/* The block's bytes counted in four tables, so that runs of one byte do not wait on each
 * other's increments. */
static void count_bytes(const uint8_t *in, size_t n, uint32_t *freq)
{
    uint32_t t[4][256];
    memset(t, 0, sizeof t);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        t[0][in[i]]++;
        t[1][in[i + 1]]++;
        t[2][in[i + 2]]++;
        t[3][in[i + 3]]++;
    }
    for (; i < n; i++)
        t[0][in[i]]++;
    for (int s = 0; s < 256; s++)
        freq[s] = t[0][s] + t[1][s] + t[2][s] + t[3][s];
}

static void stored_block(bitw *w, const uint8_t *in, size_t n, int bfinal)
{
    put(w, (uint64_t)bfinal, 1);
    put(w, 0, 2); /* BTYPE 00 */
    align(w);
    w->p[0] = (uint8_t)n, w->p[1] = (uint8_t)(n >> 8);
    w->p[2] = (uint8_t)~n, w->p[3] = (uint8_t)(~n >> 8);
    if (n)
        memcpy(w->p + 4, in, n);
    w->p += 4 + n;
}

/* One block of n <= GC_HUFF_BLOCK bytes: a dynamic Huffman block, or stored when that is
 * no longer. */
static void block(bitw *w, const uint8_t *in, size_t n, int bfinal)
{
    uint32_t freq[NLIT];
    uint8_t len[NLIT], cl_len[NCL];
    uint16_t code[NLIT], cl_code[NCL];
    uint32_t cl_freq[NCL] = {0};

    count_bytes(in, n, freq);
    freq[EOB] = 1;
    code_lengths(freq, NLIT, MAXBITS, len);
    /* the code lengths sent: 257 literal/length ones, then two distance ones of 1 bit */
    for (int s = 0; s < NLIT; s++)
        cl_freq[len[s]]++;
    cl_freq[1] += 2;
    code_lengths(cl_freq, NCL, CL_MAXBITS, cl_len);
    int hclen = NCL;
    while (hclen > 4 && !cl_len[cl_order[hclen - 1]])
        hclen--;

    uint64_t cost = 3 + 5 + 5 + 4 + 3 * (uint64_t)hclen;
    for (int s = 0; s < NCL; s++)
        cost += (uint64_t)cl_freq[s] * cl_len[s];
    for (int s = 0; s < NLIT; s++)
        cost += (uint64_t)freq[s] * len[s];
    const uint64_t stored_cost = 3 + ((8 - ((w->n + 3) & 7)) & 7) + 32 + 8 * (uint64_t)n;
    if (cost > stored_cost) {
        stored_block(w, in, n, bfinal);
        return;
    }

    canonical_codes(len, NLIT, code);
    canonical_codes(cl_len, NCL, cl_code);
    put(w, (uint64_t)bfinal, 1);
    put(w, 2, 2);          /* BTYPE 10: dynamic Huffman codes */
    put(w, NLIT - 257, 5); /* HLIT */
    put(w, 2 - 1, 5);      /* HDIST: two distance codes */
    put(w, (uint64_t)hclen - 4, 4);
    flush(w);
    for (int i = 0; i < hclen; i++) {
        put(w, cl_len[cl_order[i]], 3);
        flush(w);
    }
    for (int s = 0; s < NLIT; s++) {
        put(w, cl_code[len[s]], cl_len[len[s]]);
        flush(w);
    }
    for (int d = 0; d < 2; d++) {
        put(w, cl_code[1], cl_len[1]);
        flush(w);
    }
    /* the bytes, three codes (<= 45 bits) between flushes, each code and its length in one
     * word; the writer's state in locals, which the stores through p cannot alias */
    uint32_t enc[NLIT];
    for (int s = 0; s < NLIT; s++)
        enc[s] = (uint32_t)code[s] | (uint32_t)len[s] << 16;
    bitw l = *w;
#define PUT_BYTE(b) (l.bits |= (uint64_t)(enc[b] & 0xffff) << l.n, l.n += enc[b] >> 16)
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        PUT_BYTE(in[i]);
        PUT_BYTE(in[i + 1]);
        PUT_BYTE(in[i + 2]);
        flush(&l);
    }
    for (; i < n; i++) {
        PUT_BYTE(in[i]);
        flush(&l);
    }
#undef PUT_BYTE
    put(&l, code[EOB], len[EOB]);
    flush(&l);
    *w = l;
}

/* ---------------------------------------------------------------- the stream */

void gc_huff_init(gc_huff *h)
{
    memset(h, 0, sizeof *h);
    h->adler = 1;
}

size_t gc_huff_write(gc_huff *h, const uint8_t *in, size_t n, int last, uint8_t *out)
{
    bitw w = {h->bits, h->nbits, out};
    if (!h->started) {
        /* CMF 0x78: DEFLATE, 32 KiB window; FLG 0x01: fastest, no dictionary, and
         * (CMF * 256 + FLG) % 31 == 0 */
        put(&w, 0x78, 8);
        put(&w, 0x01, 8);
        flush(&w);
        h->started = 1;
    }
    if (n) {
        h->adler = libdeflate_adler32(h->adler, in, n);
        const size_t blocks = (n + GC_HUFF_BLOCK - 1) / GC_HUFF_BLOCK;
        for (size_t b = 0, at = 0; b < blocks; b++) { /* equal blocks, no runt at the end */
            const size_t len = n / blocks + (b < n % blocks);
            block(&w, in + at, len, last && b == blocks - 1);
            at += len;
        }
    } else if (last) {
        stored_block(&w, NULL, 0, 1);
    }
    if (last) {
        align(&w);
        for (int i = 3; i >= 0; i--)
            *w.p++ = (uint8_t)(h->adler >> (8 * i));
    }
    h->bits = w.bits;
    h->nbits = w.n;
    return (size_t)(w.p - out);
}
