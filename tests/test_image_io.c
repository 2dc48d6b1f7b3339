/*
 * test_image_io.c — gc_image_read against OpenCV, its errors, and gc_image_write.
 *
 *     test_image_io read IMAGE EXPECTED.ppm   one golden: decode == cv2.imread, byte for byte
 *     test_image_io errors GOLDEN_IMAGES_DIR  bad files: the right status, a message naming
 *                                             the file, never a crash (fuzzed copies too)
 *     test_image_io write                     round trips, bad arguments, atomic replacement,
 *                                             concurrent writers and readers
 *     test_image_io write-dir DIR             files for the cv2 check of image_write_cv2
 *     test_image_io bench                     timings (not a test; prints medians of 50)
 *
 * Goldens come from tests/golden/make_image_goldens.py: X.png / X.jpg / X.webp beside X.ppm
 * holding cv2.imread(X, IMREAD_COLOR) in RGB order. Every golden is byte-exact: the library
 * runs the same libpng, libjpeg-turbo and libwebp with the same settings as OpenCV, so there
 * is no tolerance.
 * Error cases run in child processes so that a crash fails its case and the run goes on.
 * Prints one line per case; exit 0 when all pass, 1 otherwise. Public API only.
 */
#define _GNU_SOURCE /* O_TMPFILE, for the probe of case_write_names */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradcam.h"

#if defined(__SANITIZE_ADDRESS__)
#define GC_TEST_ASAN 1 /* no address-space limits under ASan: its shadow needs terabytes */
#else
#define GC_TEST_ASAN 0
#endif

static char g_msg[2048]; /* the case's verdict detail, printed after PASS/FAIL */
static char g_dir[4096]; /* scratch folder */
static int g_failed;

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- files */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Binary PPM (P6, maxval 255) as make_image_goldens.py writes it. */
static uint8_t *read_ppm(const char *path, int32_t *w, int32_t *h)
{
    size_t len = 0;
    uint8_t *d = slurp(path, &len);
    if (!d)
        return NULL;
    long vals[3];
    size_t p = 2;
    if (len < 2 || d[0] != 'P' || d[1] != '6')
        goto bad;
    for (int i = 0; i < 3; i++) {
        while (p < len && (d[p] == ' ' || d[p] == '\n' || d[p] == '\r' || d[p] == '\t'))
            p++;
        long v = 0;
        int digits = 0;
        while (p < len && d[p] >= '0' && d[p] <= '9' && digits < 9)
            v = v * 10 + (d[p++] - '0'), digits++;
        if (!digits)
            goto bad;
        vals[i] = v;
    }
    p++; /* the single whitespace before the samples */
    if (vals[2] != 255 || vals[0] < 1 || vals[1] < 1 ||
        len - p != (size_t)vals[0] * (size_t)vals[1] * 3)
        goto bad;
    *w = (int32_t)vals[0];
    *h = (int32_t)vals[1];
    memmove(d, d + p, len - p);
    return d;
bad:
    free(d);
    return NULL;
}

static int write_ppm(const char *path, const gc_image *img)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fprintf(f, "P6\n%d %d\n255\n", img->width, img->height);
    int ok = 1;
    for (int32_t y = 0; y < img->height; y++)
        ok &= fwrite(img->data + (size_t)y * (size_t)img->stride, 1, (size_t)img->width * 3, f) ==
              (size_t)img->width * 3;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void scratch_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", g_dir, name);
}

static int make_scratch_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/gc_image_io_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create a scratch folder under %s: %s\n", g_dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[8192];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            chmod(p, 0700);
            remove_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Temporary files (".gradcam-tmp.") left in dir; 0 when none. */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".gradcam-tmp.") != NULL;
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- images */

/* Smooth structure plus noise (deterministic): (h, w, 3) at stride bytes per row. */
static uint8_t *make_photo(int32_t w, int32_t h, int32_t stride, int noise, uint32_t seed)
{
    uint8_t *p = malloc((size_t)stride * (size_t)h);
    if (!p)
        return NULL;
    memset(p, 0xAB, (size_t)stride * (size_t)h); /* padding bytes: never read as pixels */
    uint32_t s = seed;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                s = s * 1664525u + 1013904223u;
                int n = noise ? (int)((s >> 24) % (uint32_t)(2 * noise + 1)) - noise : 0;
                int v = (int)(40 + 170.0 * (x + 2 * y + 30 * c) / (w + 2 * h + 60)) + n;
                p[(size_t)y * (size_t)stride + (size_t)x * 3 + (size_t)c] =
                    (uint8_t)(v < 0     ? 0
                              : v > 255 ? 255
                                        : v);
            }
    return p;
}

/* Byte-exact comparison; the first difference goes to the note. */
static int same_pixels(const gc_image *a, const gc_image *b)
{
    if (a->width != b->width || a->height != b->height) {
        note("size %dx%d, expected %dx%d", a->width, a->height, b->width, b->height);
        return 0;
    }
    long diffs = 0;
    int32_t fx = -1, fy = -1;
    for (int32_t y = 0; y < a->height; y++) {
        const uint8_t *ra = a->data + (size_t)y * (size_t)a->stride;
        const uint8_t *rb = b->data + (size_t)y * (size_t)b->stride;
        for (int32_t x = 0; x < a->width * 3; x++)
            if (ra[x] != rb[x] && diffs++ == 0)
                fx = x / 3, fy = y;
    }
    if (diffs) {
        const uint8_t *pa = a->data + (size_t)fy * (size_t)a->stride + (size_t)fx * 3;
        const uint8_t *pb = b->data + (size_t)fy * (size_t)b->stride + (size_t)fx * 3;
        note("%ld bytes differ; first at (x %d, y %d): %u,%u,%u vs expected %u,%u,%u", diffs, fx,
             fy, pa[0], pa[1], pa[2], pb[0], pb[1], pb[2]);
        return 0;
    }
    return 1;
}

static double mean_abs_error(const gc_image *a, const gc_image *b)
{
    double sum = 0;
    for (int32_t y = 0; y < a->height; y++)
        for (int32_t x = 0; x < a->width * 3; x++)
            sum += abs((int)a->data[(size_t)y * (size_t)a->stride + (size_t)x] -
                       (int)b->data[(size_t)y * (size_t)b->stride + (size_t)x]);
    return sum / ((double)a->width * a->height * 3);
}

/* ---------------------------------------------------------------- read: one golden */

static int run_read(const char *image_path, const char *ppm_path)
{
    int32_t ew = 0, eh = 0;
    uint8_t *exp = read_ppm(ppm_path, &ew, &eh);
    if (!exp) {
        printf("FAIL %s: cannot read the expected pixels %s\n", image_path, ppm_path);
        return 1;
    }
    gc_image want = {exp, ew, eh, ew * 3}, got;
    char err[1024];
    int ok = 1;
    gc_status st = gc_image_read(image_path, 100000000, &got, err, sizeof err);
    if (st != GC_OK) {
        note("gc_image_read: %s: %s", gc_status_string(st), err);
        ok = 0;
    } else if (got.stride != 3 * got.width) {
        note("stride %d for width %d", got.stride, got.width);
        ok = 0;
    } else {
        ok = same_pixels(&got, &want);
    }
    gc_image_free(&got);
    if (got.data || got.width) {
        note("gc_image_free left the struct set");
        ok = 0;
    }
    if (ok) { /* the limit is on the decoded size: exactly at it passes, one below refuses */
        int64_t px = (int64_t)ew * eh;
        st = gc_image_read(image_path, px, &got, err, sizeof err);
        gc_image_free(&got);
        if (st != GC_OK) {
            note("max_pixels = %lld (the image's own size) refused: %s", (long long)px, err);
            ok = 0;
        } else if (px > 1) {
            st = gc_image_read(image_path, px - 1, &got, err, sizeof err);
            if (st != GC_ERR_INVALID_ARGUMENT || got.data || !strstr(err, image_path) ||
                !strstr(err, "over the limit")) {
                note("max_pixels = %lld: status %s, message \"%s\"", (long long)(px - 1),
                     gc_status_string(st), err);
                ok = 0;
            }
            gc_image_free(&got);
        }
    }
    if (ok)
        note("%dx%d byte-exact", ew, eh);
    printf("%s %s: %s\n", ok ? "PASS" : "FAIL", image_path, g_msg);
    free(exp);
    return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- errors */

/* gc_image_read(path) must give want and, when it fails, a message holding the path and each
 * of the NULL-terminated substrings. */
static int expect_read(const char *path, int64_t max_pixels, gc_status want, ...)
{
    char err[1024];
    memset(err, 'x', sizeof err);
    gc_image img = {(const uint8_t *)1, 1, 1, 1}; /* must be cleared on failure */
    gc_status st = gc_image_read(path, max_pixels, &img, err, sizeof err);
    int ok = st == want;
    if (!memchr(err, 0, sizeof err)) {
        note("message not NUL-terminated");
        gc_image_free(&img);
        return 0;
    }
    if (st != GC_OK && (img.data || img.width || img.height || img.stride))
        ok = 0;
    if (st != GC_OK && path && !strstr(err, path))
        ok = 0;
    va_list ap;
    va_start(ap, want);
    for (const char *s; (s = va_arg(ap, const char *));)
        if (!strstr(err, s))
            ok = 0;
    va_end(ap);
    note("%s: \"%s\"", gc_status_string(st), err);
    gc_image_free(&img);
    return ok;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
    return 4;
}

static size_t put_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t len)
{
    size_t n = put_be32(p, len);
    memcpy(p + n, type, 4);
    if (len)
        memcpy(p + n + 4, data, len);
    n += 4 + len;
    n += put_be32(p + n, crc32_of(p + 4, 4 + (size_t)len));
    return n;
}

/* A PNG signature and an IHDR for w x h 8-bit RGB; returns the length written. */
static size_t png_head(uint8_t *p, uint32_t w, uint32_t h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13] = {0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = 8; /* depth */
    ihdr[9] = 2; /* RGB */
    memcpy(p, sig, 8);
    return 8 + put_chunk(p + 8, "IHDR", ihdr, 13);
}

/* The SOF segment's length field in a JPEG; 0 when there is none. */
static size_t jpeg_sof(const uint8_t *b, size_t n)
{
    size_t p = 2;
    while (p + 4 <= n && b[p] == 0xFF) {
        uint8_t m = b[p + 1];
        size_t len = ((size_t)b[p + 2] << 8) | b[p + 3];
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
            return p + 2;
        p += 2 + len;
    }
    return 0;
}

typedef struct golden_bytes {
    uint8_t *png, *jpeg, *png_interlaced, *jpeg_progressive, *webp, *webp_lossless, *webp_animated;
    size_t png_len, jpeg_len, png_interlaced_len, jpeg_progressive_len, webp_len, webp_lossless_len,
        webp_animated_len;
} golden_bytes;

static golden_bytes g_src;

static int write_scratch(const char *name, const void *data, size_t len, char *path, size_t n)
{
    scratch_path(path, n, name);
    if (spit(path, data, len) != 0) {
        note("cannot write %s", path);
        return -1;
    }
    return 0;
}

/* Writes the bytes as `name` in the scratch folder: gc_image_read must refuse them
 * (GC_ERR_INVALID_ARGUMENT) with a message holding `what` and, unless NULL, `more`. */
static int refused(const char *name, const void *data, size_t len, const char *what,
                   const char *more)
{
    char p[4200];
    if (write_scratch(name, data, len, p, sizeof p))
        return 0;
    return expect_read(p, 0, GC_ERR_INVALID_ARGUMENT, what, more, NULL);
}

static int case_missing(void)
{
    char p[4200];
    scratch_path(p, sizeof p, "no_such_file.png");
    return expect_read(p, 0, GC_ERR_IO, "cannot open", "No such file", NULL);
}

static int case_directory(void)
{
    return expect_read(g_dir, 0, GC_ERR_IO, "directory", NULL);
}

static int case_empty(void)
{
    return refused("empty.jpg", "", 0, "empty", NULL);
}

static int case_text_as_jpeg(void)
{
    char p[4200];
    const char *text = "this is text, not an image\n";
    if (write_scratch("text.jpg", text, strlen(text), p, sizeof p))
        return 0;
    return expect_read(p, 0, GC_ERR_INVALID_ARGUMENT, "not a PNG, JPEG or WebP", NULL);
}

static int case_unreadable(void)
{
    if (geteuid() == 0) {
        note("skipped: root reads any file");
        return 1;
    }
    char p[4200];
    if (write_scratch("unreadable.png", g_src.png, g_src.png_len, p, sizeof p))
        return 0;
    chmod(p, 0);
    return expect_read(p, 0, GC_ERR_IO, "cannot open", "Permission denied", NULL);
}

static int case_truncated_png(void)
{
    return refused("truncated.png", g_src.png, g_src.png_len / 2, "PNG", "truncated");
}

static int case_png_without_iend(void)
{
    return refused("no_iend.png", g_src.png, g_src.png_len - 12, "PNG", NULL);
}

static int case_png_signature_only(void)
{
    return refused("signature.png", g_src.png, 8, "PNG", NULL);
}

static int case_png_bad_crc(void)
{
    char p[4200];
    uint8_t *b = malloc(g_src.png_len);
    memcpy(b, g_src.png, g_src.png_len);
    b[g_src.png_len - 12 - 1] ^= 0x55; /* the last byte of the last IDAT's CRC */
    int ok = write_scratch("bad_crc.png", b, g_src.png_len, p, sizeof p) == 0 &&
             expect_read(p, 0, GC_ERR_INVALID_ARGUMENT, "CRC", NULL);
    free(b);
    return ok;
}

static int case_png_garbage_after_header(void)
{
    char p[4200];
    uint8_t b[256];
    size_t n = png_head(b, 37, 23);
    for (int i = 0; i < 100; i++)
        b[n++] = (uint8_t)(i * 37 + 11);
    if (write_scratch("garbage_after_ihdr.png", b, n, p, sizeof p))
        return 0;
    return expect_read(p, 0, GC_ERR_INVALID_ARGUMENT, "corrupt PNG", NULL);
}

/* 60000 x 60000: 10.8 GB of RGB, refused from the IHDR alone. Outside ASan the child gets a
 * 1 GiB address-space limit, so an attempt to allocate the image would fail. */
static int png_bomb(char *p, size_t n)
{
    uint8_t b[256];
    static const uint8_t empty_zlib[8] = {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
    size_t len = png_head(b, 60000, 60000);
    len += put_chunk(b + len, "IDAT", empty_zlib, sizeof empty_zlib);
    len += put_chunk(b + len, "IEND", NULL, 0);
    return write_scratch("bomb.png", b, len, p, n);
}

/* What the process has mapped now plus 512 MiB: small allocations still work, the image
 * of a bomb cannot. */
static void limit_address_space(void)
{
#if !GC_TEST_ASAN
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
    struct rlimit rl = {lim, lim};
    setrlimit(RLIMIT_AS, &rl);
#endif
}

static int case_png_bomb(void)
{
    char p[4200];
    if (png_bomb(p, sizeof p))
        return 0;
    limit_address_space();
    double t0 = now_s();
    int ok = expect_read(p, 100000000, GC_ERR_INVALID_ARGUMENT, "60000x60000", "3600 MP",
                         "over the limit of 100000000 (--max-pixels)", "--max-pixels", NULL);
    double dt = now_s() - t0;
    if (ok && dt > 0.5) {
        note("refused, but only after %.2f s", dt);
        ok = 0;
    }
    return ok;
}

/* With no limit the bomb must still fail cleanly (its data is missing), whether or not the
 * allocation succeeds. Not under ASan: it would reserve the 10.8 GB for real. */
static int case_png_bomb_no_limit(void)
{
    if (GC_TEST_ASAN) {
        note("skipped under ASan");
        return 1;
    }
    char p[4200];
    if (png_bomb(p, sizeof p))
        return 0;
    limit_address_space();
    char err[1024];
    gc_image img;
    gc_status st = gc_image_read(p, 0, &img, err, sizeof err);
    note("%s: \"%s\"", gc_status_string(st), err);
    gc_image_free(&img);
    return (st == GC_ERR_OUT_OF_MEMORY || st == GC_ERR_INVALID_ARGUMENT) && strstr(err, p);
}

static int case_jpeg_bomb(void)
{
    char p[4200];
    size_t sof = jpeg_sof(g_src.jpeg, g_src.jpeg_len);
    if (!sof) {
        note("no SOF in the golden JPEG");
        return 0;
    }
    uint8_t *b = malloc(g_src.jpeg_len);
    memcpy(b, g_src.jpeg, g_src.jpeg_len);
    b[sof + 3] = 65000 >> 8, b[sof + 4] = 65000 & 255; /* height */
    b[sof + 5] = 65000 >> 8, b[sof + 6] = 65000 & 255; /* width */
    int ok = write_scratch("bomb.jpg", b, g_src.jpeg_len, p, sizeof p) == 0;
    free(b);
    if (!ok)
        return 0;
    limit_address_space();
    return expect_read(p, 100000000, GC_ERR_INVALID_ARGUMENT, "65000x65000", "4225 MP",
                       "over the limit of 100000000 (--max-pixels)", NULL);
}

static int case_truncated_jpeg(void)
{
    return refused("truncated.jpg", g_src.jpeg, g_src.jpeg_len * 6 / 10,
                   "corrupt or truncated JPEG", NULL);
}

static int case_truncated_progressive_jpeg(void)
{
    return refused("truncated_progressive.jpg", g_src.jpeg_progressive,
                   g_src.jpeg_progressive_len * 7 / 10, "JPEG", NULL);
}

static int case_jpeg_without_eoi(void)
{
    return refused("no_eoi.jpg", g_src.jpeg, g_src.jpeg_len - 2, "JPEG", NULL);
}

static int case_jpeg_magic_only(void)
{
    return refused("magic.jpg", "\xFF\xD8\xFF", 3, "JPEG", NULL);
}

static int case_jpeg_garbage_after_header(void)
{
    char p[4200];
    uint8_t b[256];
    /* SOI, a JFIF APP0, then bytes that are no marker */
    static const uint8_t head[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F',
                                   0,    1,    1,    0,    0,    1,    0,   1,   0,   0};
    size_t n = sizeof head;
    memcpy(b, head, n);
    for (int i = 0; i < 100; i++)
        b[n++] = (uint8_t)(i * 37 + 11);
    if (write_scratch("garbage_after_app0.jpg", b, n, p, sizeof p))
        return 0;
    return expect_read(p, 0, GC_ERR_INVALID_ARGUMENT, "JPEG", NULL);
}

static int case_jpeg_scan_garbage(void)
{
    /* the entropy-coded data replaced by a run of bytes that cannot be valid Huffman codes
     * followed by an early EOI */
    char p[4200];
    uint8_t *b = malloc(g_src.jpeg_len);
    memcpy(b, g_src.jpeg, g_src.jpeg_len);
    size_t sos = 0;
    for (size_t i = 2; i + 1 < g_src.jpeg_len; i++)
        if (b[i] == 0xFF && b[i + 1] == 0xDA) {
            sos = i;
            break;
        }
    int ok = sos != 0;
    if (ok) {
        size_t start = sos + 2 + (((size_t)b[sos + 2] << 8) | b[sos + 3]);
        for (size_t i = start; i < start + 40 && i + 2 < g_src.jpeg_len; i++)
            b[i] = 0xFE;
        b[start + 40] = 0xFF, b[start + 41] = 0xD9;
        ok = write_scratch("scan_garbage.jpg", b, start + 42, p, sizeof p) == 0 &&
             expect_read(p, 0, GC_ERR_INVALID_ARGUMENT, "corrupt", NULL);
    } else {
        note("no SOS in the golden JPEG");
    }
    free(b);
    return ok;
}

static int case_truncated_webp(void)
{
    return refused("truncated.webp", g_src.webp, g_src.webp_len * 6 / 10, "WebP", "truncated");
}

static int case_truncated_lossless_webp(void)
{
    return refused("truncated_lossless.webp", g_src.webp_lossless, g_src.webp_lossless_len * 6 / 10,
                   "WebP", NULL);
}

static int case_webp_header_only(void)
{
    return refused("riff_only.webp", "RIFF\x04\0\0\0WEBP", 12, "corrupt WebP", NULL);
}

/* OpenCV 4.6 refuses animated WebP too (make_image_goldens.py checks): so do we, by name */
/* a valid 1x1 lossless file of 28 bytes: OpenCV reads no WebP under 32 bytes, nor do we */
static int case_webp_under_32_bytes(void)
{
    static const uint8_t tiny[28] = {'R', 'I', 'F', 'F', 20,   0,    0,    0,   'W', 'E',
                                     'B', 'P', 'V', 'P', '8',  'L',  8,    0,   0,   0,
                                     0x2f, 0,  0,   0,   0,    0x88, 0x88, 0x08};
    return refused("tiny.webp", tiny, sizeof tiny, "corrupt WebP", "only 28 bytes");
}

static int case_webp_animated(void)
{
    return refused("animated.webp", g_src.webp_animated, g_src.webp_animated_len, "animated WebP",
                   "37x23");
}

/* A lossless header claiming the format's largest image, 16384 x 16384, and nothing after
 * it: refused from the header, before any decoding or allocation. */
static int case_webp_bomb(void)
{
    char p[4200];
    uint8_t b[64] = "RIFF\0\0\0\0WEBPVP8L";
    const uint32_t w = 16383, h = 16383; /* minus one, 14 bits each */
    const uint8_t vp8l[] = {0x2f, (uint8_t)w, (uint8_t)((w >> 8) | (h << 6)), (uint8_t)(h >> 2),
                            (uint8_t)(h >> 10)};
    size_t n = 16;
    b[n++] = 32, b[n++] = 0, b[n++] = 0, b[n++] = 0; /* the chunk's size */
    memcpy(b + n, vp8l, sizeof vp8l);
    n += 32;
    const uint32_t riff = (uint32_t)(n - 8);
    b[4] = (uint8_t)riff, b[5] = (uint8_t)(riff >> 8);
    if (write_scratch("bomb.webp", b, n, p, sizeof p))
        return 0;
    limit_address_space();
    return expect_read(p, 100000000, GC_ERR_INVALID_ARGUMENT, "16384x16384", "268.4 MP",
                       "over the limit of 100000000 (--max-pixels)", NULL);
}

static int case_bad_arguments(void)
{
    char p[4200], err[256];
    gc_image img;
    scratch_path(p, sizeof p, "x.png");
    if (gc_image_read(NULL, 0, &img, err, sizeof err) != GC_ERR_INVALID_ARGUMENT ||
        gc_image_read(p, 0, NULL, err, sizeof err) != GC_ERR_INVALID_ARGUMENT) {
        note("NULL path or out accepted");
        return 0;
    }
    if (!expect_read(p, -1, GC_ERR_INVALID_ARGUMENT, "max_pixels", NULL))
        return 0;
    /* err may be NULL; a short buffer gets a truncated, terminated message */
    if (gc_image_read(p, 0, &img, NULL, 0) != GC_ERR_IO) {
        note("NULL err buffer: wrong status");
        return 0;
    }
    char small[8];
    memset(small, 'x', sizeof small);
    if (gc_image_read(p, 0, &img, small, sizeof small) != GC_ERR_IO ||
        small[sizeof small - 1] != 0) {
        note("short err buffer not terminated");
        return 0;
    }
    note("NULLs refused; NULL and short err buffers fine");
    return 1;
}

static int case_fifo(void)
{
    /* a stream (pipe) is read until EOF: the PNG must decode as from a file */
    char p[4200];
    scratch_path(p, sizeof p, "stream.png");
    if (mkfifo(p, 0600) != 0) {
        note("mkfifo: %s", strerror(errno));
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = fopen(p, "wb");
        if (!f)
            _exit(1);
        size_t put = fwrite(g_src.png, 1, g_src.png_len, f);
        fclose(f);
        _exit(put == g_src.png_len ? 0 : 1);
    }
    char err[1024];
    gc_image img;
    gc_status st = gc_image_read(p, 0, &img, err, sizeof err);
    int wst = 0;
    waitpid(pid, &wst, 0);
    note("%s: %dx%d %s", gc_status_string(st), img.width, img.height, err);
    int ok = st == GC_OK && img.width == 37 && img.height == 23;
    gc_image_free(&img);
    return ok;
}

/* Recomputes the CRC of every whole chunk, so that corrupted PNGs get past libpng's CRC
 * check into IHDR, zlib and filter handling. */
static void fix_png_crcs(uint8_t *b, size_t n)
{
    size_t p = 8;
    while (p + 12 <= n) {
        size_t len =
            ((size_t)b[p] << 24) | ((size_t)b[p + 1] << 16) | ((size_t)b[p + 2] << 8) | b[p + 3];
        if (len > n - p - 12)
            break;
        put_be32(b + p + 8 + len, crc32_of(b + p + 4, 4 + len));
        p += 12 + len;
    }
}

/* Random corruption of golden files: any outcome but a crash, a hang or a wrong status. */
static int fuzz(const char *name, const uint8_t *src, size_t len, int iters)
{
    int png = len > 8 && src[0] == 0x89;
    char p[4200];
    scratch_path(p, sizeof p, name);
    uint8_t *b = malloc(len);
    uint32_t s = 12345u + (uint32_t)len;
    int decoded = 0, refused = 0;
    for (int it = 0; it < iters; it++) {
        memcpy(b, src, len);
        size_t n = len;
        s = s * 1664525u + 1013904223u;
        int flips = 1 + (int)((s >> 28) & 3);
        for (int k = 0; k < flips; k++) {
            s = s * 1664525u + 1013904223u;
            size_t at = (s >> 8) % len;
            s = s * 1664525u + 1013904223u;
            b[at] = (uint8_t)(s >> 24);
        }
        s = s * 1664525u + 1013904223u;
        if (png && (s >> 31)) /* half the PNGs: with valid CRCs */
            fix_png_crcs(b, n);
        s = s * 1664525u + 1013904223u;
        if ((s >> 29) == 0) /* one in eight: also cut */
            n = 1 + (s >> 4) % len;
        if (spit(p, b, n) != 0) {
            note("cannot write %s", p);
            free(b);
            return 0;
        }
        char err[1024];
        gc_image img;
        gc_status st = gc_image_read(p, 1000000, &img, err, sizeof err);
        if (st == GC_OK) {
            decoded++;
        } else if (st == GC_ERR_INVALID_ARGUMENT && strstr(err, p)) {
            refused++;
        } else {
            note("iteration %d: %s: \"%s\"", it, gc_status_string(st), err);
            gc_image_free(&img);
            free(b);
            return 0;
        }
        gc_image_free(&img);
    }
    free(b);
    note("%d corrupted copies: %d decoded, %d refused with a message", iters, decoded, refused);
    return 1;
}

static int case_fuzz_png(void)
{
    return fuzz("fuzz.png", g_src.png, g_src.png_len, 400);
}
static int case_fuzz_png_interlaced(void)
{
    return fuzz("fuzz_interlaced.png", g_src.png_interlaced, g_src.png_interlaced_len, 400);
}
static int case_fuzz_jpeg(void)
{
    return fuzz("fuzz.jpg", g_src.jpeg, g_src.jpeg_len, 400);
}
static int case_fuzz_jpeg_progressive(void)
{
    return fuzz("fuzz_progressive.jpg", g_src.jpeg_progressive, g_src.jpeg_progressive_len, 400);
}
static int case_fuzz_webp(void)
{
    return fuzz("fuzz.webp", g_src.webp, g_src.webp_len, 400);
}
static int case_fuzz_webp_lossless(void)
{
    return fuzz("fuzz_lossless.webp", g_src.webp_lossless, g_src.webp_lossless_len, 400);
}

typedef struct test_case {
    const char *name;
    int (*fn)(void);
} test_case;

/* Runs fn in a child: a crash fails the case, not the run. */
static void run_case(const test_case *tc)
{
    fflush(stdout);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        printf("FAIL %s: pipe: %s\n", tc->name, strerror(errno));
        g_failed++;
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        g_msg[0] = 0;
        int ok = tc->fn();
        size_t n = strlen(g_msg);
        ssize_t w = write(pipefd[1], g_msg, n);
        (void)w;
        close(pipefd[1]);
        _exit(ok ? 0 : 1);
    }
    close(pipefd[1]);
    char msg[2048];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof msg - 1 && (got = read(pipefd[0], msg + n, sizeof msg - 1 - n)) > 0)
        n += (size_t)got;
    msg[n] = 0;
    close(pipefd[0]);
    int wst = 0;
    waitpid(pid, &wst, 0);
    if (WIFSIGNALED(wst)) {
        printf("FAIL %s: crashed with signal %d (%s)\n", tc->name, WTERMSIG(wst), msg);
        g_failed++;
    } else if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) {
        printf("FAIL %s: %s\n", tc->name, msg);
        g_failed++;
    } else {
        printf("PASS %s: %s\n", tc->name, msg);
    }
}

static int load_golden(const char *dir, const char *name, uint8_t **data, size_t *len)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    *data = slurp(p, len);
    if (!*data || *len < 64) {
        fprintf(stderr, "cannot read the golden %s\n", p);
        return -1;
    }
    return 0;
}

static int run_errors(const char *golden_dir)
{
    if (load_golden(golden_dir, "png_rgb8_37x23.png", &g_src.png, &g_src.png_len) ||
        load_golden(golden_dir, "jpeg_420_37x23.jpg", &g_src.jpeg, &g_src.jpeg_len) ||
        load_golden(golden_dir, "png_interlaced_rgb8_37x23.png", &g_src.png_interlaced,
                    &g_src.png_interlaced_len) ||
        load_golden(golden_dir, "jpeg_progressive_37x23.jpg", &g_src.jpeg_progressive,
                    &g_src.jpeg_progressive_len) ||
        load_golden(golden_dir, "webp_lossy_37x23.webp", &g_src.webp, &g_src.webp_len) ||
        load_golden(golden_dir, "webp_lossless_37x23.webp", &g_src.webp_lossless,
                    &g_src.webp_lossless_len) ||
        load_golden(golden_dir, "webp_animated_refused_37x23.webp", &g_src.webp_animated,
                    &g_src.webp_animated_len))
        return 1;
    static const test_case cases[] = {
        {"missing_file", case_missing},
        {"directory", case_directory},
        {"zero_bytes", case_empty},
        {"text_named_jpg", case_text_as_jpeg},
        {"unreadable", case_unreadable},
        {"truncated_png", case_truncated_png},
        {"png_without_iend", case_png_without_iend},
        {"png_signature_only", case_png_signature_only},
        {"png_bad_crc", case_png_bad_crc},
        {"png_garbage_after_ihdr", case_png_garbage_after_header},
        {"png_bomb_60000x60000", case_png_bomb},
        {"png_bomb_no_limit", case_png_bomb_no_limit},
        {"jpeg_bomb_65000x65000", case_jpeg_bomb},
        {"truncated_jpeg", case_truncated_jpeg},
        {"truncated_progressive_jpeg", case_truncated_progressive_jpeg},
        {"jpeg_without_eoi", case_jpeg_without_eoi},
        {"jpeg_magic_only", case_jpeg_magic_only},
        {"jpeg_garbage_after_app0", case_jpeg_garbage_after_header},
        {"jpeg_scan_garbage", case_jpeg_scan_garbage},
        {"bad_arguments", case_bad_arguments},
        {"fifo", case_fifo},
        {"fuzz_png", case_fuzz_png},
        {"fuzz_png_interlaced", case_fuzz_png_interlaced},
        {"fuzz_jpeg", case_fuzz_jpeg},
        {"fuzz_jpeg_progressive", case_fuzz_jpeg_progressive},
        {"truncated_webp", case_truncated_webp},
        {"truncated_lossless_webp", case_truncated_lossless_webp},
        {"webp_header_only", case_webp_header_only},
        {"webp_animated", case_webp_animated},
        {"webp_under_32_bytes", case_webp_under_32_bytes},
        {"webp_bomb_16384x16384", case_webp_bomb},
        {"fuzz_webp", case_fuzz_webp},
        {"fuzz_webp_lossless", case_fuzz_webp_lossless},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    free(g_src.png);
    free(g_src.jpeg);
    free(g_src.png_interlaced);
    free(g_src.jpeg_progressive);
    return g_failed ? 1 : 0;
}

/* ---------------------------------------------------------------- write */

/* Writes img, reads it back; the status of each step must be OK. */
static int write_read(const char *path, const gc_image *img, gc_file_format fmt, int level,
                      int quality, gc_image *back)
{
    char err[1024];
    gc_status st = gc_image_write(path, img, fmt, level, quality, err, sizeof err);
    if (st != GC_OK) {
        note("gc_image_write: %s: %s", gc_status_string(st), err);
        return 0;
    }
    st = gc_image_read(path, 0, back, err, sizeof err);
    if (st != GC_OK) {
        note("gc_image_read of what we wrote: %s: %s", gc_status_string(st), err);
        return 0;
    }
    return 1;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static int case_png_round_trip(void)
{
    const int32_t w = 37, h = 23, stride = 3 * w + 7; /* padded rows */
    uint8_t *px = make_photo(w, h, stride, 20, 1);
    gc_image img = {px, w, h, stride};
    static const int levels[] = {-1, 0, 1, 3, 6, 9};
    char p[4200], detail[512] = "";
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof levels / sizeof levels[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "round_trip_level%d.png", levels[i]);
        scratch_path(p, sizeof p, name);
        gc_image back;
        ok = write_read(p, &img, GC_FORMAT_PNG, levels[i], 0, &back) && same_pixels(&back, &img);
        gc_image_free(&back);
        size_t dl = strlen(detail);
        snprintf(detail + dl, sizeof detail - dl, "%slevel %d: %ld B", i ? ", " : "", levels[i],
                 file_size(p));
    }
    if (ok)
        note("byte-exact from a padded stride; %s", detail);
    free(px);
    return ok;
}

/* PNG level 1 picks its compressor from the pixels: a smooth heatmap gets libdeflate's match
 * search on Sub-filtered rows (13.5 KB here; zlib's level 1 through libpng wrote ~18 KB, its
 * Huffman-only strategy ~30 KB), a noisy photo-like overlay zlib's Huffman coding alone (a
 * match search is slower and writes it larger: 109.8 KB against 102.8 KB), and both come back
 * byte-exact. */
static int case_png_level1_heatmap(void)
{
    const int32_t w = 224, h = 224;
    float cam[14 * 14];
    for (int i = 0; i < 14 * 14; i++) {
        const double dx = i % 14 - 6.0, dy = i / 14 - 7.0;
        cam[i] = (float)exp(-(dx * dx + dy * dy) / 18.0);
    }
    uint8_t *px = make_photo(w, h, 3 * w, 20, 6);
    uint8_t *heat = malloc((size_t)w * h * 3), *over = malloc((size_t)w * h * 3);
    gc_image photo = {px, w, h, 3 * w}, hm = {heat, w, h, 3 * w}, ov = {over, w, h, 3 * w};
    gc_image back_hm = {0}, back_ov = {0};
    char ph[4200], po[4200];
    scratch_path(ph, sizeof ph, "level1_heatmap.png");
    scratch_path(po, sizeof po, "level1_overlay.png");
    const size_t n = (size_t)w * h * 3;
    int ok = heat && over &&
             gc_render(cam, 14, 14, &photo, GC_COLORMAP_JET, 0.4f, heat, n, over, n) == GC_OK;
    ok = ok && write_read(ph, &hm, GC_FORMAT_PNG, 1, 0, &back_hm) && same_pixels(&back_hm, &hm);
    ok = ok && write_read(po, &ov, GC_FORMAT_PNG, 1, 0, &back_ov) && same_pixels(&back_ov, &ov);
    const long s_hm = file_size(ph), s_ov = file_size(po);
    if (ok)
        note("heatmap %ld B (limit 16000), overlay %ld B (limit 106000), both byte-exact", s_hm,
             s_ov);
    ok = ok && s_hm > 0 && s_hm < 16000 && s_ov > 0 && s_ov < 106000;
    gc_image_free(&back_hm);
    gc_image_free(&back_ov);
    free(px), free(heat), free(over);
    return ok;
}

/* One test image of a kind: 0 photo-like (noisy gradient), 1 smooth (a rendered heatmap),
 * 2 flat, 3 noise (incompressible). Rows padded by 5 bytes (0xAB, never pixels). */
static uint8_t *make_kind(int kind, int32_t w, int32_t h, int32_t *stride)
{
    *stride = 3 * w + 5;
    uint8_t *px = make_photo(w, h, *stride, kind == 3 ? 127 : 20, (uint32_t)(w * 31 + h));
    if (!px || kind == 0 || kind == 3)
        return px;
    for (int32_t y = 0; y < h; y++)
        memset(px + (size_t)y * (size_t)*stride, 77, (size_t)w * 3);
    if (kind == 2)
        return px;
    float cam[14 * 14];
    for (int i = 0; i < 14 * 14; i++) {
        const double dx = i % 14 - 4.0, dy = i / 14 - 8.0;
        cam[i] = (float)exp(-(dx * dx + dy * dy) / 12.0);
    }
    const size_t n = (size_t)w * (size_t)h * 3;
    uint8_t *heat = malloc(n);
    gc_image src = {px, w, h, *stride};
    int ok = heat && gc_render(cam, 14, 14, &src, GC_COLORMAP_JET, 0.4f, heat, n, NULL, 0) == GC_OK;
    for (int32_t y = 0; ok && y < h; y++)
        memcpy(px + (size_t)y * (size_t)*stride, heat + (size_t)y * (size_t)w * 3, (size_t)w * 3);
    free(heat);
    if (!ok) {
        free(px);
        return NULL;
    }
    return px;
}

/* Every level (-1, 0..9) on every kind of image and odd sizes (one pixel, one row, one
 * column): each of the encoder's paths (stored; Sub + libdeflate; Up + zlib Huffman-only;
 * each row's best of the five filters + libdeflate) must come back byte-exact through libpng,
 * which checks every chunk's CRC and the stream's Adler-32. */
static int case_png_levels(void)
{
    static const int32_t sizes[][2] = {{1, 1}, {2, 3}, {5, 1}, {1, 7}, {37, 23}, {224, 224}};
    static const char *kinds[] = {"photo", "heatmap", "flat", "noise"};
    char p[4200];
    scratch_path(p, sizeof p, "levels.png");
    int ok = 1, files = 0;
    for (int kind = 0; ok && kind < 4; kind++)
        for (size_t s = 0; ok && s < sizeof sizes / sizeof sizes[0]; s++) {
            const int32_t w = sizes[s][0], h = sizes[s][1];
            int32_t stride;
            uint8_t *px = make_kind(kind, w, h, &stride);
            gc_image img = {px, w, h, stride};
            for (int level = -1; ok && level <= 9; level++) {
                gc_image back = {0};
                ok = px && write_read(p, &img, GC_FORMAT_PNG, level, 0, &back) &&
                     same_pixels(&back, &img);
                if (!ok) {
                    char why[sizeof g_msg];
                    snprintf(why, sizeof why, "%s", g_msg);
                    note("%s %dx%d level %d: %s", kinds[kind], w, h, level,
                         px ? why : "out of memory");
                }
                gc_image_free(&back);
                files++;
            }
            free(px);
        }
    if (ok)
        note("%d files (4 kinds x 6 sizes x 11 levels), each byte-exact", files);
    return ok;
}

/* Images whose filtered rows pass 16 MiB go to zlib strip by strip (libdeflate would hold
 * the whole filtered image): a 2400x2400 heatmap at levels 1 and 4, a photo at levels 0 and
 * 1 (stored; Huffman-only, which always streams), each byte-exact, and the heatmap still far
 * smaller than the photo. */
static int case_png_large_strips(void)
{
    const int32_t w = 2400, h = 2400;
    char p[4200];
    scratch_path(p, sizeof p, "large.png");
    static const struct {
        int kind, level;
    } runs[] = {{1, 1}, {1, 4}, {0, 0}, {0, 1}};
    long sizes[4] = {0};
    int ok = 1;
    for (size_t i = 0; ok && i < 4; i++) {
        int32_t stride;
        uint8_t *px = make_kind(runs[i].kind, w, h, &stride);
        gc_image img = {px, w, h, stride}, back = {0};
        ok = px && write_read(p, &img, GC_FORMAT_PNG, runs[i].level, 0, &back) &&
             same_pixels(&back, &img);
        if (!ok && !px)
            note("out of memory");
        else if (!ok) {
            char why[sizeof g_msg];
            snprintf(why, sizeof why, "%s", g_msg);
            note("%s level %d: %s", runs[i].kind ? "heatmap" : "photo", runs[i].level, why);
        }
        sizes[i] = file_size(p);
        gc_image_free(&back);
        free(px);
    }
    if (ok)
        note("2400x2400, byte-exact: heatmap level 1 %ld B, level 4 %ld B; photo level 0 %ld B, "
             "level 1 %ld B",
             sizes[0], sizes[1], sizes[2], sizes[3]);
    /* stored: the pixels, a filter byte a row and the stream's framing */
    ok = ok && sizes[2] > 3L * w * h + h && sizes[0] * 10 < sizes[3] && sizes[1] <= sizes[0];
    return ok;
}

static int case_jpeg_round_trip(void)
{
    const int32_t w = 64, h = 48, stride = 3 * w + 5;
    uint8_t *px = make_photo(w, h, stride, 3, 2);
    gc_image img = {px, w, h, stride}, back95, back0, back50;
    char p95[4200], p0[4200], p50[4200];
    scratch_path(p95, sizeof p95, "q95.jpg");
    scratch_path(p0, sizeof p0, "q0.jpg");
    scratch_path(p50, sizeof p50, "q50.jpg");
    int ok = write_read(p95, &img, GC_FORMAT_JPEG, 0, 95, &back95);
    ok = ok && write_read(p0, &img, GC_FORMAT_JPEG, 0, 0, &back0);
    ok = ok && write_read(p50, &img, GC_FORMAT_JPEG, 0, 50, &back50);
    if (ok) {
        double mae95 = mean_abs_error(&back95, &img), mae50 = mean_abs_error(&back50, &img);
        long s95 = file_size(p95), s0 = file_size(p0), s50 = file_size(p50);
        size_t l95 = 0, l0 = 0;
        uint8_t *b95 = slurp(p95, &l95), *b0 = slurp(p0, &l0);
        int same = b95 && b0 && l95 == l0 && !memcmp(b95, b0, l95);
        free(b95);
        free(b0);
        /* q95 4:2:0 on a smooth image: a fraction of a level; sizes from a header (~600 B)
         * to the raw pixels */
        ok = back95.width == w && back95.height == h && mae95 < 3.0 && mae50 < 6.0 && s95 > 600 &&
             s95 < (long)w * h * 3 && s50 < s95 && same;
        note("q95: MAE %.3f, %ld B; q50: MAE %.3f, %ld B; q0 (= 95) %s (%ld B)", mae95, s95, mae50,
             s50, same ? "identical" : "DIFFERS", s0);
    }
    gc_image_free(&back95);
    gc_image_free(&back0);
    gc_image_free(&back50);
    free(px);
    return ok;
}

static int case_overwrite(void)
{
    const int32_t w = 9, h = 7;
    uint8_t *a = make_photo(w, h, 3 * w, 20, 3), *b = make_photo(w, h, 3 * w, 20, 4);
    gc_image ia = {a, w, h, 3 * w}, ib = {b, w, h, 3 * w}, back;
    char p[4200];
    scratch_path(p, sizeof p, "overwrite.png");
    int ok = write_read(p, &ia, GC_FORMAT_PNG, -1, 0, &back) && same_pixels(&back, &ia);
    gc_image_free(&back);
    ok = ok && write_read(p, &ib, GC_FORMAT_PNG, -1, 0, &back) && same_pixels(&back, &ib);
    gc_image_free(&back);
    if (ok)
        note("the second write replaced the first; %d temporary files left",
             count_temp_files(g_dir));
    ok = ok && count_temp_files(g_dir) == 0;
    free(a);
    free(b);
    return ok;
}

/* The names a write makes appear in its folder, seen by inotify (created, moved in), in
 * order. A new file written the nameless way (O_TMPFILE, then linkat) shows only its own name;
 * the classic way (GC_ATOMIC_WRITE=rename, or a filesystem without O_TMPFILE) a temporary
 * name first, renamed to it. Replacing a file goes through a temporary name either way. */
static void names_seen(int in, char *names, size_t len)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    names[0] = 0;
    ssize_t got;
    while ((got = read(in, buf, sizeof buf)) > 0) {
        for (char *at = buf; at < buf + got;) {
            const struct inotify_event *ev = (const struct inotify_event *)at;
            const size_t used = strlen(names);
            snprintf(names + used, len - used, "%s%s%s", used ? " " : "",
                     ev->mask & IN_MOVED_TO ? "->" : "+",
                     strncmp(ev->name, ".gradcam-tmp.", 13) == 0 ? "tmp" : ev->name);
            at += sizeof *ev + ev->len;
        }
    }
}

static int case_write_names(void)
{
    const int32_t w = 6, h = 5;
    uint8_t *a = make_photo(w, h, 3 * w, 20, 11), *b = make_photo(w, h, 3 * w, 20, 12);
    gc_image ia = {a, w, h, 3 * w}, ib = {b, w, h, 3 * w}, back;
    char dir[4200], p[4300], fresh[512] = "", again[512] = "";
    scratch_path(dir, sizeof dir, "names");
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/new.png", dir);
    const char *way = getenv("GC_ATOMIC_WRITE");
    const int classic = way && !strcmp(way, "rename");
    int nameless = 0; /* this filesystem has O_TMPFILE */
#ifdef O_TMPFILE
    const int probe = open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0600);
    nameless = probe >= 0;
    if (probe >= 0)
        close(probe);
#endif
    const int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    int ok = in >= 0 && inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO) >= 0;
    /* the umask applies as to open(O_CREAT, 0666) (kernels before 6.0 skipped it for
     * O_TMPFILE files on some filesystems; file_write.c puts it back). Each case runs in a
     * child of its own, so this is the umask the library reads at its first write. */
    const mode_t old_mask = umask(027);
    ok = ok && write_read(p, &ia, GC_FORMAT_PNG, -1, 0, &back) && same_pixels(&back, &ia);
    umask(old_mask);
    gc_image_free(&back);
    struct stat sb;
    const int mode = stat(p, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
    if (ok)
        names_seen(in, fresh, sizeof fresh);
    ok = ok && write_read(p, &ib, GC_FORMAT_PNG, -1, 0, &back) && same_pixels(&back, &ib);
    gc_image_free(&back);
    if (ok)
        names_seen(in, again, sizeof again);
    const char *want_fresh = classic || !nameless ? "+tmp ->new.png" : "+new.png";
    note("%s way (O_TMPFILE %s here): a new file showed \"%s\" (expected \"%s\"), mode %o "
         "under umask 027 (expected 640), a replaced one \"%s\"",
         classic ? "classic" : "default", nameless ? "works" : "refused", fresh, want_fresh,
         mode, again);
    ok = ok && !strcmp(fresh, want_fresh) && mode == 0640 && !strcmp(again, "+tmp ->new.png") &&
         count_temp_files(dir) == 0;
    if (in >= 0)
        close(in);
    free(a);
    free(b);
    return ok;
}

/* gc_image_write must give want with the path in the message. */
static int expect_write(const char *path, const gc_image *img, gc_file_format fmt, int level,
                        int quality, gc_status want, const char *what)
{
    char err[1024];
    gc_status st = gc_image_write(path, img, fmt, level, quality, err, sizeof err);
    if (st != want || (path && !strstr(err, path))) {
        note("%s: %s, expected %s: \"%s\"", what, gc_status_string(st), gc_status_string(want),
             err);
        return 0;
    }
    return 1;
}

static int case_write_bad_arguments(void)
{
    const int32_t w = 5, h = 4;
    uint8_t *px = make_photo(w, h, 3 * w, 0, 5);
    gc_image good = {px, w, h, 3 * w};
    char p[4200];
    scratch_path(p, sizeof p, "bad.png");
    gc_image nodata = good, zero_w = good, short_stride = good;
    nodata.data = NULL;
    zero_w.width = 0;
    short_stride.stride = 3 * w - 1;
    char err[256];
    int ok =
        gc_image_write(NULL, &good, GC_FORMAT_PNG, -1, 0, err, sizeof err) ==
            GC_ERR_INVALID_ARGUMENT &&
        gc_image_write(p, NULL, GC_FORMAT_PNG, -1, 0, err, sizeof err) == GC_ERR_INVALID_ARGUMENT;
    if (!ok)
        note("NULL path or image accepted");
    const gc_status E = GC_ERR_INVALID_ARGUMENT;
    ok = ok && expect_write(p, &nodata, GC_FORMAT_PNG, -1, 0, E, "NULL data");
    ok = ok && expect_write(p, &zero_w, GC_FORMAT_PNG, -1, 0, E, "width 0");
    ok = ok && expect_write(p, &short_stride, GC_FORMAT_PNG, -1, 0, E, "stride < 3 * width");
    ok = ok && expect_write(p, &good, (gc_file_format)7, -1, 0, E, "format 7");
    ok = ok && expect_write(p, &good, GC_FORMAT_PNG, 10, 0, E, "level 10");
    ok = ok && expect_write(p, &good, GC_FORMAT_PNG, -2, 0, E, "level -2");
    ok = ok && expect_write(p, &good, GC_FORMAT_JPEG, 0, 101, E, "quality 101");
    ok = ok && expect_write(p, &good, GC_FORMAT_JPEG, 0, -1, E, "quality -1");
    uint8_t *wide = calloc(70000 * 3, 1);
    gc_image too_wide = {wide, 70000, 1, 70000 * 3};
    ok = ok && expect_write(p, &too_wide, GC_FORMAT_JPEG, 0, 0, E, "70000 wide JPEG");
    free(wide);
    ok = ok && access(p, F_OK) != 0 && count_temp_files(g_dir) == 0;
    if (ok)
        note("each refused with the path in the message; nothing written");
    free(px);
    return ok;
}

static int case_write_failures(void)
{
    const int32_t w = 5, h = 4;
    uint8_t *px = make_photo(w, h, 3 * w, 0, 6);
    gc_image img = {px, w, h, 3 * w};
    char p[4300], sub[4200];
    int ok = 1;
    /* a folder that does not exist */
    scratch_path(p, sizeof p, "no_such_dir/out.png");
    ok = ok && expect_write(p, &img, GC_FORMAT_PNG, -1, 0, GC_ERR_IO, "missing folder");
    scratch_path(p, sizeof p, "no_such_dir/out.jpg");
    ok = ok && expect_write(p, &img, GC_FORMAT_JPEG, 0, 0, GC_ERR_IO, "missing folder (JPEG)");
    /* the target is a folder: the temporary file is written, the rename fails, and the
     * temporary file must go */
    scratch_path(p, sizeof p, "a_folder.png");
    mkdir(p, 0700);
    ok = ok && expect_write(p, &img, GC_FORMAT_PNG, -1, 0, GC_ERR_IO, "target is a folder");
    ok = ok && expect_write(p, &img, GC_FORMAT_JPEG, 0, 0, GC_ERR_IO, "target is a folder");
    int left = count_temp_files(g_dir);
    if (ok && left) {
        note("%d temporary files left after failed writes", left);
        ok = 0;
    }
    /* a read-only folder (root writes anyway: skipped then) */
    const char *ro = "skipped (root)";
    if (ok && geteuid() != 0) {
        scratch_path(sub, sizeof sub, "read_only");
        mkdir(sub, 0700);
        snprintf(p, sizeof p, "%s/out.png", sub);
        chmod(sub, 0500);
        ok = expect_write(p, &img, GC_FORMAT_PNG, -1, 0, GC_ERR_IO, "read-only folder");
        chmod(sub, 0700);
        ok = ok && count_temp_files(sub) == 0 && access(p, F_OK) != 0;
        ro = "refused";
    }
    if (ok)
        note("missing folder, folder as target: GC_ERR_IO, no temporary file left; read-only "
             "folder: %s",
             ro);
    free(px);
    return ok;
}

/* A file name near NAME_MAX (255 bytes) is written as any other: its temporary file is
 * named short ("<dir>/.gradcam-tmp.<pid>.<n>"), not the name plus a suffix. */
static int case_write_long_name(void)
{
    const int32_t w = 6, h = 5;
    uint8_t *px = make_photo(w, h, 3 * w, 0, 9);
    gc_image img = {px, w, h, 3 * w};
    char name[256], p[4400], err[1024] = "";
    memset(name, 'n', 250);
    memcpy(name + 250, ".png", 5); /* 254 bytes */
    scratch_path(p, sizeof p, name);
    gc_status st = gc_image_write(p, &img, GC_FORMAT_PNG, -1, 0, err, sizeof err);
    gc_image back = {0};
    char rerr[1024] = "";
    gc_status rs = st == GC_OK ? gc_image_read(p, 0, &back, rerr, sizeof rerr) : st;
    int ok = st == GC_OK && rs == GC_OK && back.width == w && back.height == h &&
             memcmp(back.data, px, (size_t)3 * w * h) == 0 && count_temp_files(g_dir) == 0;
    note("254-byte file name: write %s%s%s, read back %s", gc_status_string(st),
         err[0] ? ": " : "", err, ok ? "identical" : gc_status_string(rs));
    gc_image_free(&back);
    unlink(p);
    free(px);
    return ok;
}

/* Two writers replace one file over and over with image A or B while two readers read it:
 * every read must succeed and give exactly A or B (never half a file). */
typedef struct race {
    const char *path;
    const gc_image *a, *b;
    atomic_int stop;
    atomic_int writes, reads, bad;
    char msg[1100];
} race;

static void *race_writer(void *arg)
{
    race *r = arg;
    char err[1024];
    for (int i = 0; i < 60 && !atomic_load(&r->bad); i++) {
        const gc_image *img = (i & 1) ? r->a : r->b;
        gc_status st = gc_image_write(r->path, img, GC_FORMAT_PNG, -1, 0, err, sizeof err);
        if (st != GC_OK) {
            snprintf(r->msg, sizeof r->msg, "write: %s", err);
            atomic_store(&r->bad, 1);
        }
        atomic_fetch_add(&r->writes, 1);
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    race *r = arg;
    char err[1024];
    while (!atomic_load(&r->stop) && !atomic_load(&r->bad)) {
        gc_image img;
        gc_status st = gc_image_read(r->path, 0, &img, err, sizeof err);
        if (st != GC_OK) {
            snprintf(r->msg, sizeof r->msg, "read: %s", err);
            atomic_store(&r->bad, 1);
        } else {
            int is_a = img.width == r->a->width && img.height == r->a->height &&
                       !memcmp(img.data, r->a->data, (size_t)img.width * img.height * 3);
            int is_b = img.width == r->b->width && img.height == r->b->height &&
                       !memcmp(img.data, r->b->data, (size_t)img.width * img.height * 3);
            if (!is_a && !is_b) {
                snprintf(r->msg, sizeof r->msg, "read gave neither A nor B");
                atomic_store(&r->bad, 1);
            }
        }
        gc_image_free(&img);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static int case_concurrent(void)
{
    const int32_t w = 40, h = 30;
    uint8_t *a = make_photo(w, h, 3 * w, 20, 7), *b = make_photo(w, h, 3 * w, 20, 8);
    gc_image ia = {a, w, h, 3 * w}, ib = {b, w, h, 3 * w};
    char p[4200], err[1024];
    scratch_path(p, sizeof p, "raced.png");
    race r;
    memset(&r, 0, sizeof r);
    r.path = p;
    r.a = &ia;
    r.b = &ib;
    int ok = gc_image_write(p, &ia, GC_FORMAT_PNG, -1, 0, err, sizeof err) == GC_OK;
    pthread_t wt[2], rt[2];
    for (int i = 0; ok && i < 2; i++) {
        pthread_create(&rt[i], NULL, race_reader, &r);
        pthread_create(&wt[i], NULL, race_writer, &r);
    }
    if (ok) {
        for (int i = 0; i < 2; i++)
            pthread_join(wt[i], NULL);
        atomic_store(&r.stop, 1);
        for (int i = 0; i < 2; i++)
            pthread_join(rt[i], NULL);
    }
    int left = count_temp_files(g_dir);
    ok = ok && !atomic_load(&r.bad) && left == 0;
    note("%d writes, %d reads, %s; %d temporary files left", atomic_load(&r.writes),
         atomic_load(&r.reads), r.msg[0] ? r.msg : "every read whole", left);
    free(a);
    free(b);
    return ok;
}

/* Rows longer than the encoder's strips (100,000 noisy pixels: 300,001 filtered bytes a
 * row, past 256 KiB): a row's stream is cut into several IDAT chunks of at most ~256 KiB,
 * not one per row (a chunk holds at most 2^31 - 1 bytes, which rows of ~716M pixels would
 * pass), and the file reads back byte-exact. */
static int case_png_wide_rows(void)
{
    const int32_t w = 100000, h = 4, stride = 3 * w;
    char p[4200];
    scratch_path(p, sizeof p, "wide.png");
    uint8_t *px = make_photo(w, h, stride, 40, 5);
    gc_image img = {px, w, h, stride}, back = {0};
    int ok = px && write_read(p, &img, GC_FORMAT_PNG, 1, 0, &back) && same_pixels(&back, &img);
    size_t len = 0, idats = 0, longest = 0;
    uint8_t *b = ok ? slurp(p, &len) : NULL;
    for (size_t at = 8; b && at + 12 <= len;) { /* the chunks after the signature */
        const size_t n =
            (size_t)b[at] << 24 | (size_t)b[at + 1] << 16 | (size_t)b[at + 2] << 8 | b[at + 3];
        if (memcmp(b + at + 4, "IDAT", 4) == 0)
            idats++, longest = n > longest ? n : longest;
        at += 12 + n;
    }
    char why[sizeof g_msg];
    snprintf(why, sizeof why, "%s", ok ? "byte-exact" : px ? g_msg : "out of memory");
    note("100000x4 noisy, level 1: %s, %zu IDAT chunks, the longest %zu B", why, idats, longest);
    ok = ok && b && idats >= 2 * (size_t)h && longest <= (256u << 10) + 1024;
    free(b);
    gc_image_free(&back);
    free(px);
    return ok;
}

static int run_write(void)
{
    static const test_case cases[] = {
        {"png_round_trip", case_png_round_trip},
        {"png_level1_heatmap", case_png_level1_heatmap},
        {"png_levels", case_png_levels},
        {"png_large_strips", case_png_large_strips},
        {"png_wide_rows", case_png_wide_rows},
        {"jpeg_round_trip", case_jpeg_round_trip},
        {"overwrite", case_overwrite},
        {"write_names", case_write_names},
        {"write_bad_arguments", case_write_bad_arguments},
        {"write_failures_atomic", case_write_failures},
        {"write_long_name", case_write_long_name},
        {"concurrent_writers_and_readers", case_concurrent},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    return g_failed ? 1 : 0;
}

/* ---------------------------------------------------------------- write-dir (for cv2) */

static int run_write_dir(const char *dir)
{
    const int32_t w = 97, h = 61, stride = 3 * w + 3;
    uint8_t *px = make_photo(w, h, stride, 20, 9);
    gc_image img = {px, w, h, stride};
    char p[4200], err[1024];
    int bad = 0;
    snprintf(p, sizeof p, "%s/source.ppm", dir);
    bad |= write_ppm(p, &img) != 0;
    /* a photo-like image and a smooth heatmap (the encoder's two level-1 paths), every level */
    int32_t heat_stride;
    uint8_t *heat_px = make_kind(1, w, h, &heat_stride);
    gc_image heat = {heat_px, w, h, heat_stride};
    snprintf(p, sizeof p, "%s/heat_source.ppm", dir);
    bad |= !heat_px || write_ppm(p, &heat) != 0;
    for (int level = -1; heat_px && level <= 9; level++)
        for (int k = 0; k < 2; k++) {
            snprintf(p, sizeof p, "%s/%slevel%d.png", dir, k ? "heat_" : "", level);
            if (gc_image_write(p, k ? &heat : &img, GC_FORMAT_PNG, level, 0, err, sizeof err) !=
                GC_OK) {
                fprintf(stderr, "%s\n", err);
                bad = 1;
            }
        }
    free(heat_px);
    static const int qualities[] = {95, 75};
    for (size_t i = 0; i < sizeof qualities / sizeof qualities[0]; i++) {
        snprintf(p, sizeof p, "%s/q%d.jpg", dir, qualities[i]);
        gc_image back;
        if (gc_image_write(p, &img, GC_FORMAT_JPEG, 0, qualities[i], err, sizeof err) != GC_OK ||
            gc_image_read(p, 0, &back, err, sizeof err) != GC_OK) {
            fprintf(stderr, "%s\n", err);
            bad = 1;
            continue;
        }
        char q[4300];
        snprintf(q, sizeof q, "%s.decoded.ppm", p);
        bad |= write_ppm(q, &back) != 0;
        gc_image_free(&back);
    }
    free(px);
    return bad;
}

/* ---------------------------------------------------------------- bench */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BENCH_N 50

static double median_ms(double *t)
{
    qsort(t, BENCH_N, sizeof t[0], cmp_double);
    return 1e3 * 0.5 * (t[BENCH_N / 2 - 1] + t[BENCH_N / 2]);
}

static int run_bench(void)
{
    char p[4200], err[1024];
    double t[BENCH_N];
    /* decode: a 500x375 photo-like JPEG at quality 95, 4:2:0 */
    uint8_t *px = make_photo(500, 375, 1500, 12, 10);
    gc_image img = {px, 500, 375, 1500};
    scratch_path(p, sizeof p, "bench.jpg");
    if (gc_image_write(p, &img, GC_FORMAT_JPEG, 0, 95, err, sizeof err) != GC_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("bench file: %s (%ld bytes)\n", p, file_size(p));
    for (int i = 0; i < BENCH_N; i++) {
        gc_image back;
        double t0 = now_s();
        gc_status st = gc_image_read(p, 0, &back, err, sizeof err);
        t[i] = now_s() - t0;
        gc_image_free(&back);
        if (st != GC_OK)
            return 1;
    }
    printf("gc_image_read  500x375 JPEG q95 4:2:0         median %.3f ms\n", median_ms(t));
    free(px);

    /* encode: a 224x224 overlay-like image (smooth gradient + noise) */
    px = make_photo(224, 224, 672, 6, 11);
    img = (gc_image){px, 224, 224, 672};
    scratch_path(p, sizeof p, "bench.png");
    static const int levels[] = {-1, 3, 6, 9};
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        for (int i = 0; i < BENCH_N; i++) {
            double t0 = now_s();
            gc_status st = gc_image_write(p, &img, GC_FORMAT_PNG, levels[l], 0, err, sizeof err);
            t[i] = now_s() - t0;
            if (st != GC_OK) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
        }
        printf("gc_image_write 224x224 PNG level %2d            median %.3f ms (%ld bytes)\n",
               levels[l], median_ms(t), file_size(p));
    }
    for (int i = 0; i < BENCH_N; i++) {
        gc_image back;
        double t0 = now_s();
        gc_image_read(p, 0, &back, err, sizeof err);
        t[i] = now_s() - t0;
        gc_image_free(&back);
    }
    printf("gc_image_read  224x224 PNG (level 9)          median %.3f ms\n", median_ms(t));
    scratch_path(p, sizeof p, "bench_overlay.jpg");
    for (int i = 0; i < BENCH_N; i++) {
        double t0 = now_s();
        gc_image_write(p, &img, GC_FORMAT_JPEG, 0, 95, err, sizeof err);
        t[i] = now_s() - t0;
    }
    printf("gc_image_write 224x224 JPEG q95               median %.3f ms (%ld bytes)\n",
           median_ms(t), file_size(p));
    free(px);
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && !strcmp(argv[1], "read"))
        return run_read(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "write-dir"))
        return run_write_dir(argv[2]);
    int rc;
    if (argc == 3 && !strcmp(argv[1], "errors")) {
        if (make_scratch_dir())
            return 1;
        rc = run_errors(argv[2]);
    } else if (argc == 2 && !strcmp(argv[1], "write")) {
        if (make_scratch_dir())
            return 1;
        rc = run_write();
    } else if (argc == 2 && !strcmp(argv[1], "bench")) {
        if (make_scratch_dir())
            return 1;
        rc = run_bench();
    } else {
        fprintf(stderr,
                "usage: %s read IMAGE EXPECTED.ppm | errors GOLDEN_IMAGES_DIR | write | "
                "write-dir DIR | bench\n",
                argv[0]);
        return 2;
    }
    remove_tree(g_dir);
    printf("%s\n", rc ? "FAILED" : "all passed");
    return rc;
}
