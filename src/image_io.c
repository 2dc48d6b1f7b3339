/*
 * image_io.c — PNG, JPEG and WebP files to packed 8-bit RGB (libpng, TurboJPEG and libwebp
 * read), PNG and JPEG files from it (png_encode.c and TurboJPEG write).
 *
 * Reading gives the pixels cv2.imread(path, cv2.IMREAD_COLOR) gives (in RGB order), byte for
 * byte: the same libpng transforms OpenCV asks for (16-bit: high byte; alpha and tRNS dropped,
 * not composited; gray replicated), libjpeg's defaults (ISLOW IDCT, fancy upsampling), OpenCV's
 * CMYK formula, EXIF orientation found and applied as OpenCV does (exif.h), libwebp's default
 * decoding (fancy upsampling; alpha dropped; no orientation, as OpenCV 4.6). Where we part
 * from OpenCV we refuse: a corrupt or truncated file is an error here, not a partial image.
 *
 * Writing encodes in memory, then writes the file so that no reader sees half of it
 * (file_write.c). No fsync: atomic, not durable.
 *
 * Thread-safe: every call has its own libpng, TurboJPEG, libwebp and compressor state. Messages
 * go to the caller's err buffer (libpng and TurboJPEG messages included); nothing is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <webp/decode.h>

#include "exif.h"
#include "file_write.h"
#include "gc_internal.h"
#include "png_encode.h"

/* A pipe or device is read until EOF, but not past this; regular files have no cap (their
 * size costs the caller nothing unexpected, unlike a decompression bomb). */
#define GC_IMAGE_STREAM_MAX ((size_t)1 << 30)

/* ---------------------------------------------------------------- messages */

/* "108 MP", "1.5 MP", "0.001 MP" */
static double megapixels(int64_t pixels)
{
    return (double)pixels / 1e6;
}

static gc_status check_pixels(const char *path, int64_t width, int64_t height, int64_t max_pixels,
                              char *err, size_t err_len)
{
    int64_t pixels = width * height; /* both < 2^31 */
    if (max_pixels > 0 && pixels > max_pixels)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "%s: image is %lldx%lld = %lld pixels (%.4g MP), over the limit "
                            "of %lld (--max-pixels)",
                            path, (long long)width, (long long)height, (long long)pixels,
                            megapixels(pixels), (long long)max_pixels);
    return GC_OK;
}

/* ---------------------------------------------------------------- reading the file */

static gc_status read_whole_file(const char *path, uint8_t **out, size_t *out_len, char *err,
                                 size_t err_len)
{
    char ebuf[128];
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot open: %s", path,
                            gc_errno_text(errno, ebuf, sizeof ebuf));
    gc_status st = GC_OK;
    uint8_t *buf = NULL;
    size_t len = 0, cap;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot stat: %s", path,
                          gc_errno_text(errno, ebuf, sizeof ebuf));
        goto cleanup;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot read: %s", path,
                          gc_errno_text(EISDIR, ebuf, sizeof ebuf));
        goto cleanup;
    }
    int regular = S_ISREG(sb.st_mode);
    if (regular && (uint64_t)sb.st_size >= SIZE_MAX) {
        st = gc_fail_text(err, err_len, GC_ERR_IO, "%s: file too large", path);
        goto cleanup;
    }
    /* one byte more than the size, so that EOF shows without a second buffer */
    cap = regular ? (size_t)sb.st_size + 1 : 65536;
    buf = malloc(cap);
    if (!buf) {
        st = gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path,
                          cap);
        goto cleanup;
    }
    for (;;) {
        if (len == cap) { /* the file grew, or a stream */
            if (!regular && cap >= GC_IMAGE_STREAM_MAX) {
                st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                                  "%s: not a regular file and longer than %zu bytes", path,
                                  GC_IMAGE_STREAM_MAX);
                goto cleanup;
            }
            size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                st = gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY,
                                  "%s: cannot allocate %zu bytes", path, ncap);
                goto cleanup;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            st = gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot read: %s", path,
                              gc_errno_text(errno, ebuf, sizeof ebuf));
            goto cleanup;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len == 0) {
        st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT, "%s: empty file (0 bytes)", path);
        goto cleanup;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
cleanup:
    free(buf);
    close(fd);
    return st;
}

/* ---------------------------------------------------------------- orientation */

/* Turns (H, W, 3) pixels as OpenCV's ExifTransform does for EXIF orientation 2..8: flips and
 * transposes. Destination pixel (x, y) comes from source byte base + x * ax + y * ay. */
static gc_status orient(uint8_t **pixels, int32_t *width, int32_t *height, int orientation)
{
    if (orientation < 2 || orientation > 8)
        return GC_OK;
    const int32_t W = *width, H = *height;
    const ptrdiff_t S = (ptrdiff_t)W * 3, last_row = (ptrdiff_t)(H - 1) * S,
                    last_col = (ptrdiff_t)(W - 1) * 3;
    ptrdiff_t base = 0, ax = 3, ay = S;
    int transposed = orientation >= 5;
    /* clang-format off */
    switch (orientation) {
    case 2: base = last_col, ax = -3, ay = S; break;             /* flip(1)               */
    case 3: base = last_row + last_col, ax = -3, ay = -S; break; /* flip(-1)              */
    case 4: base = last_row, ax = 3, ay = -S; break;             /* flip(0)               */
    case 5: base = 0, ax = S, ay = 3; break;                     /* transpose             */
    case 6: base = last_row, ax = -S, ay = 3; break;             /* transpose, flip(1)    */
    case 7: base = last_row + last_col, ax = -S, ay = -3; break; /* flip(-1), transpose   */
    case 8: base = last_col, ax = S, ay = -3; break;             /* transpose, flip(0)    */
    }
    /* clang-format on */
    const int32_t OW = transposed ? H : W, OH = transposed ? W : H;
    uint8_t *dst = malloc((size_t)W * (size_t)H * 3);
    if (!dst)
        return GC_ERR_OUT_OF_MEMORY;
    const uint8_t *src = *pixels;
    for (int32_t y = 0; y < OH; y++) {
        const uint8_t *s = src + base + (ptrdiff_t)y * ay;
        uint8_t *d = dst + (size_t)y * (size_t)OW * 3;
        for (int32_t x = 0; x < OW; x++, s += ax, d += 3) {
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        }
    }
    free(*pixels);
    *pixels = dst;
    *width = OW;
    *height = OH;
    return GC_OK;
}

/* ---------------------------------------------------------------- PNG decoding */

typedef struct png_job {
    const uint8_t *data; /* the whole file */
    size_t size, pos;
    const char *path;
    int64_t max_pixels;
    char *err;
    size_t err_len;
    gc_status status;  /* set when png_read_run fails for a reason of ours (limit, memory) */
    char msg[256];     /* libpng's error message */
    char warning[256]; /* libpng's first warning, kept for the error message */
    uint8_t *pixels;   /* (H, W, 3) */
    png_bytep *rows;
    int32_t width, height;
    int orientation;
} png_job;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_job *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    png_job *job = png_get_error_ptr(png);
    if (!job->warning[0])
        snprintf(job->warning, sizeof job->warning, "%s", msg ? msg : "");
}

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->size - job->pos)
        png_error(png, "unexpected end of file (truncated PNG)");
    memcpy(out, job->data + job->pos, n);
    job->pos += n;
}

/* Everything libpng does, under one setjmp; all state lives in *job, so nothing local needs
 * to survive a longjmp. Returns 0, or -1 (libpng error: job->msg) or -2 (job->status). */
static int png_read_run(png_structp png, png_infop info, png_infop end, png_job *job)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_read_fn(png, job, png_read_mem);
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &color, NULL, NULL, NULL);
    /* libpng caps both sides at 1,000,000 (png_set_user_limits' default): the products
     * below fit easily */
    job->status = check_pixels(job->path, w, h, job->max_pixels, job->err, job->err_len);
    if (job->status != GC_OK)
        return -2;

    /* OpenCV's PngDecoder::readData for an 8-bit 3-channel Mat, in its order */
    if (depth == 16)
        png_set_strip_16(png); /* the high byte, as OpenCV (not png_set_scale_16) */
    png_set_strip_alpha(png);  /* drops alpha and tRNS (expanded to alpha), no compositing */
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected pixel layout after conversion to 8-bit RGB");

    job->width = (int32_t)w;
    job->height = (int32_t)h;
    job->pixels = malloc((size_t)w * h * 3);
    job->rows = malloc(sizeof(png_bytep) * h);
    if (!job->pixels || !job->rows) {
        job->status = gc_fail_text(job->err, job->err_len, GC_ERR_OUT_OF_MEMORY,
                                   "%s: cannot allocate %ux%u RGB pixels", job->path, (unsigned)w,
                                   (unsigned)h);
        return -2;
    }
    for (png_uint_32 y = 0; y < h; y++)
        job->rows[y] = job->pixels + (size_t)y * w * 3;
    png_read_image(png, job->rows);
    png_read_end(png, end);

#ifdef PNG_eXIf_SUPPORTED
    /* OpenCV reads the eXIf chunk before or after the image data, in that order */
    png_uint_32 exif_len = 0;
    png_bytep exif = NULL;
    if (png_get_valid(png, info, PNG_INFO_eXIf))
        png_get_eXIf_1(png, info, &exif_len, &exif);
    else if (png_get_valid(png, end, PNG_INFO_eXIf))
        png_get_eXIf_1(png, end, &exif_len, &exif);
    job->orientation = exif && exif_len ? gc_exif_orientation(exif, exif_len) : 1;
#else
    job->orientation = 1;
#endif
    return 0;
}

static gc_status decode_png(const char *path, const uint8_t *data, size_t size, int64_t max_pixels,
                            gc_image *out, char *err, size_t err_len)
{
    png_job job;
    memset(&job, 0, sizeof job);
    job.data = data;
    job.size = size;
    job.path = path;
    job.max_pixels = max_pixels;
    job.err = err;
    job.err_len = err_len;

    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_infop end = info ? png_create_info_struct(png) : NULL;
    gc_status st = GC_OK;
    if (!end) {
        st = gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY, "%s: cannot start libpng", path);
        goto cleanup;
    }
    int rc = png_read_run(png, info, end, &job);
    if (rc == -1) {
        char note[300] = "";
        if (job.warning[0])
            snprintf(note, sizeof note, " (after the warning: %s)", job.warning);
        st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT, "%s: corrupt PNG: %s%s", path,
                          job.msg, note);
        goto cleanup;
    }
    if (rc == -2) {
        st = job.status;
        goto cleanup;
    }
    st = orient(&job.pixels, &job.width, &job.height, job.orientation);
    if (st != GC_OK) {
        gc_fail_text(err, err_len, st, "%s: cannot allocate the rotated image", path);
        goto cleanup;
    }
    out->data = job.pixels;
    out->width = job.width;
    out->height = job.height;
    out->stride = job.width * 3;
    job.pixels = NULL;
cleanup:
    if (png)
        png_destroy_read_struct(&png, info ? &info : NULL, end ? &end : NULL);
    free(job.rows);
    free(job.pixels);
    return st;
}

/* ---------------------------------------------------------------- JPEG decoding */

/* OpenCV's icvCvt_CMYK2BGR_8u_C4C3R (libjpeg gives Adobe's inverted CMYK), in place: pixel i
 * is read (bytes 4i..4i+3) before anything is written over it (3i..3i+2 only reaches bytes
 * already read). */
static void cmyk_to_rgb(uint8_t *p, size_t pixels)
{
    for (size_t i = 0; i < pixels; i++) {
        const uint8_t *s = p + 4 * i;
        int c = s[0], m = s[1], y = s[2], k = s[3];
        uint8_t r = (uint8_t)(k - ((255 - c) * k >> 8));
        uint8_t g = (uint8_t)(k - ((255 - m) * k >> 8));
        uint8_t b = (uint8_t)(k - ((255 - y) * k >> 8));
        uint8_t *d = p + 3 * i;
        d[0] = r;
        d[1] = g;
        d[2] = b;
    }
}

static gc_status decode_jpeg(const char *path, const uint8_t *data, size_t size, int64_t max_pixels,
                             gc_image *out, char *err, size_t err_len)
{
    gc_status st = GC_OK;
    uint8_t *pixels = NULL;
    if (size > ULONG_MAX)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT, "%s: JPEG file too large", path);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY, "%s: cannot start TurboJPEG: %s",
                            path, tjGetErrorStr2(NULL));

    int width = 0, height = 0, subsamp = -1, colorspace = -1;
    if (tjDecompressHeader3(tj, data, (unsigned long)size, &width, &height, &subsamp,
                            &colorspace) != 0) {
        /* TurboJPEG 2.x refuses to name uncommon sampling factors (4:4:1, ...) after reading
         * a good header; libjpeg decodes those as OpenCV does, so only that complaint is let
         * through. Warnings are refused as below. */
        int header_ok = tjGetErrorCode(tj) != TJERR_WARNING && width > 0 && height > 0 &&
                        colorspace >= 0 && subsamp < 0;
        if (!header_ok) {
            st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT, "%s: corrupt JPEG header: %s",
                              path, tjGetErrorStr2(tj));
            goto cleanup;
        }
    }
    if (width < 1 || height < 1) {
        /* libjpeg calls a stream that ends (or turns to garbage) before its first frame a
         * "tables-only" JPEG: no error, no size */
        st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                          "%s: corrupt JPEG: no image before the data ends", path);
        goto cleanup;
    }
    st = check_pixels(path, width, height, max_pixels, err, err_len);
    if (st != GC_OK)
        goto cleanup;

    /* OpenCV asks libjpeg for RGB from 1- and 3-component files and for CMYK from 4-component
     * ones (CMYK and YCCK), which it converts itself */
    const int cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
    const int pf = cmyk ? TJPF_CMYK : TJPF_RGB;
    const size_t npix = (size_t)width * (size_t)height;
    pixels = malloc(npix * (size_t)tjPixelSize[pf]);
    if (!pixels) {
        st = gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %dx%d pixels",
                          path, width, height);
        goto cleanup;
    }
    /* Flags: none of FASTDCT / FASTUPSAMPLE, so libjpeg's defaults (JDCT_ISLOW, fancy
     * upsampling) as in OpenCV. STOPONWARNING: a warning means corrupt or truncated data
     * (libjpeg would fill the rest with gray and OpenCV returns that partial image); we refuse
     * such files, since users want to know, and stop at the first warning. LIMITSCANS:
     * progressive files with over 500 scans are refused (a known denial of service). */
    int flags = TJFLAG_STOPONWARNING;
#ifdef TJFLAG_LIMITSCANS
    flags |= TJFLAG_LIMITSCANS;
#endif
    int rc = tjDecompress2(tj, data, (unsigned long)size, pixels, width, 0, height, pf, flags);
    int stray = 0;
    unsigned marker = 0;
    if (rc != 0 && tjGetErrorCode(tj) == TJERR_WARNING &&
        sscanf(tjGetErrorStr2(tj), "Corrupt JPEG data: %d extraneous bytes before marker 0x%x",
               &stray, &marker) == 2 &&
        marker == 0xd9 && stray > 0) {
        /* Stray bytes before the end marker (many cameras write them) are harmless: OpenCV and
         * PIL open such files. Cut them out and decode again, still stopping at any other
         * warning (decoding on past a warning would make libjpeg print it). */
        size_t eoi = size;
        while (eoi >= 2 && !(data[eoi - 2] == 0xff && data[eoi - 1] == 0xd9))
            eoi--;
        if (eoi >= 2 + (size_t)stray) {
            uint8_t *fixed = malloc(size - (size_t)stray);
            if (fixed) {
                size_t head = eoi - 2 - (size_t)stray;
                memcpy(fixed, data, head);
                memcpy(fixed + head, data + eoi - 2, size - (eoi - 2));
                rc = tjDecompress2(tj, fixed, (unsigned long)(size - (size_t)stray), pixels, width,
                                   0, height, pf, flags);
                free(fixed);
            }
        }
    }
    if (rc != 0) {
        int warning = tjGetErrorCode(tj) == TJERR_WARNING;
        st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT, "%s: %s: %s", path,
                          warning ? "corrupt or truncated JPEG data" : "cannot decode JPEG",
                          tjGetErrorStr2(tj));
        goto cleanup;
    }
    if (cmyk) {
        cmyk_to_rgb(pixels, npix);
        uint8_t *shrunk = realloc(pixels, npix * 3);
        if (shrunk)
            pixels = shrunk;
    }

    const uint8_t *tiff = NULL;
    size_t tiff_len = 0;
    int orientation = 1;
    if (gc_jpeg_find_exif(data, size, &tiff, &tiff_len))
        orientation = gc_exif_orientation(tiff, tiff_len);
    int32_t w = width, h = height;
    st = orient(&pixels, &w, &h, orientation);
    if (st != GC_OK) {
        gc_fail_text(err, err_len, st, "%s: cannot allocate the rotated image", path);
        goto cleanup;
    }
    out->data = pixels;
    out->width = w;
    out->height = h;
    out->stride = w * 3;
    pixels = NULL;
cleanup:
    free(pixels);
    tjDestroy(tj);
    return st;
}

/* ---------------------------------------------------------------- WebP decoding */

static const char *webp_status_text(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY:
        return "out of memory";
    case VP8_STATUS_INVALID_PARAM:
        return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR:
        return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return "a feature libwebp does not support";
    case VP8_STATUS_SUSPENDED:
        return "suspended";
    case VP8_STATUS_USER_ABORT:
        return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return "truncated (not enough data)";
    default:
        return "unknown libwebp status";
    }
}

/* A failed libwebp call's status for our caller: out of memory, or the file at fault. */
static gc_status webp_failure(VP8StatusCode s)
{
    return s == VP8_STATUS_OUT_OF_MEMORY ? GC_ERR_OUT_OF_MEMORY : GC_ERR_INVALID_ARGUMENT;
}

/* A still WebP image, lossy or lossless, with libwebp's default decoding (what OpenCV's
 * WebP decoder asks for): alpha dropped, not composited, as IMREAD_COLOR does; no EXIF
 * orientation (OpenCV 4.6 applies none to WebP). Animated files are refused, as OpenCV 4.6
 * refuses them (which frame would be "the" image is a choice neither makes for the user).
 * Memory: a lossless image is decoded by libwebp into its own 4 bytes a pixel first (up to
 * 400 MB more at the default 100 MP limit), beside our 3. */
static gc_status decode_webp(const char *path, const uint8_t *data, size_t size, int64_t max_pixels,
                             gc_image *out, char *err, size_t err_len)
{
    if (size < 32) /* OpenCV reads no WebP file shorter than its 32-byte header window */
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "%s: corrupt WebP: only %zu bytes (OpenCV reads none under 32)", path,
                            size);
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg))
        return gc_fail_text(err, err_len, GC_ERR_BACKEND,
                            "%s: libwebp's ABI does not match its header", path);
    VP8StatusCode vs = WebPGetFeatures(data, size, &cfg.input);
    if (vs != VP8_STATUS_OK)
        return gc_fail_text(err, err_len, webp_failure(vs), "%s: corrupt WebP: %s", path,
                            webp_status_text(vs));
    if (cfg.input.has_animation)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "%s: animated WebP is not supported (%dx%d; OpenCV does not read it "
                            "either): save the frame to explain as a still image",
                            path, cfg.input.width, cfg.input.height);
    gc_status st = check_pixels(path, cfg.input.width, cfg.input.height, max_pixels, err, err_len);
    if (st != GC_OK)
        return st;
    const size_t stride = (size_t)3 * (size_t)cfg.input.width;
    const size_t len = stride * (size_t)cfg.input.height;
    uint8_t *pixels = (uint8_t *)malloc(len ? len : 1);
    if (!pixels)
        return gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %dx%d pixels",
                            path, cfg.input.width, cfg.input.height);
    cfg.output.colorspace = MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA.rgba = pixels;
    cfg.output.u.RGBA.stride = (int)stride;
    cfg.output.u.RGBA.size = len;
    vs = WebPDecode(data, size, &cfg);
    WebPFreeDecBuffer(&cfg.output); /* nothing of ours: the memory is external */
    if (vs != VP8_STATUS_OK) {
        free(pixels);
        return gc_fail_text(err, err_len, webp_failure(vs), "%s: corrupt or truncated WebP: %s",
                            path, webp_status_text(vs));
    }
    out->data = pixels;
    out->width = cfg.input.width;
    out->height = cfg.input.height;
    out->stride = (int32_t)stride;
    return GC_OK;
}

/* ---------------------------------------------------------------- gc_image_read */

gc_status gc_image_read(const char *path, int64_t max_pixels, gc_image *out, char *err,
                        size_t err_len)
{
    if (err && err_len)
        err[0] = 0;
    if (out)
        memset(out, 0, sizeof *out);
    if (!path || !out)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "gc_image_read: path and out must not be NULL");
    if (max_pixels < 0)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "%s: max_pixels is %lld (0 = no limit)", path, (long long)max_pixels);
    uint8_t *data = NULL;
    size_t size = 0;
    gc_status st = read_whole_file(path, &data, &size, err, err_len);
    if (st != GC_OK)
        return st;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size >= 8 && memcmp(data, png_sig, 8) == 0)
        st = decode_png(path, data, size, max_pixels, out, err, err_len);
    else if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        st = decode_jpeg(path, data, size, max_pixels, out, err, err_len);
    else if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
        st = decode_webp(path, data, size, max_pixels, out, err, err_len);
    else
        st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                          "%s: not a PNG, JPEG or WebP image", path);
    free(data);
    return st;
}

void gc_image_free(gc_image *img)
{
    if (!img)
        return;
    free((void *)img->data);
    memset(img, 0, sizeof *img);
}

/* ---------------------------------------------------------------- gc_image_write */

gc_status gc_image_write(const char *path, const gc_image *image, gc_file_format format,
                         int32_t png_level, int32_t jpeg_quality, char *err, size_t err_len)
{
    if (err && err_len)
        err[0] = 0;
    if (!path || !image)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "gc_image_write: path and image must not be NULL");
    if (!image->data || image->width < 1 || image->height < 1 ||
        (int64_t)image->stride < 3 * (int64_t)image->width)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "%s: invalid image (data %s, %dx%d, stride %d; stride must be >= 3 * "
                            "width)",
                            path, image->data ? "set" : "NULL", image->width, image->height,
                            image->stride);
    if (format != GC_FORMAT_PNG && format != GC_FORMAT_JPEG)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT, "%s: unknown file format %d",
                            path, (int)format);

    gc_status st = GC_OK;
    if (format == GC_FORMAT_PNG) {
        if (png_level < -1 || png_level > 9)
            return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                                "%s: PNG level %d is not in -1..9", path, png_level);
        uint8_t *png = NULL;
        size_t png_len = 0;
        char why[256];
        st = gc_png_encode(image, png_level < 0 ? 1 : png_level, &png, &png_len, why, sizeof why);
        if (st != GC_OK)
            st = gc_fail_text(err, err_len, st, "%s: PNG encoding failed: %s", path, why);
        else
            st = gc_write_file_atomically(path, png, png_len, err, err_len);
        free(png);
        return st;
    }

    if (jpeg_quality < 0 || jpeg_quality > 100)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "%s: JPEG quality %d is not in 1..100 (0: 95)", path, jpeg_quality);
    if (image->width > 65535 || image->height > 65535)
        return gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT,
                            "%s: %dx%d is too large for JPEG (65535 at most per side)", path,
                            image->width, image->height);
    tjhandle tj = tjInitCompress();
    if (!tj)
        return gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY, "%s: cannot start TurboJPEG: %s",
                            path, tjGetErrorStr2(NULL));
    unsigned char *jpeg = NULL;
    unsigned long jpeg_len = 0;
    /* flags 0: libjpeg's accurate integer DCT; 4:2:0 as cv2.imwrite's default */
    if (tjCompress2(tj, image->data, image->width, image->stride, image->height, TJPF_RGB, &jpeg,
                    &jpeg_len, TJSAMP_420, jpeg_quality ? jpeg_quality : 95, 0) != 0)
        st = gc_fail_text(err, err_len, GC_ERR_INVALID_ARGUMENT, "%s: JPEG encoding failed: %s",
                          path, tjGetErrorStr2(tj));
    else
        st = gc_write_file_atomically(path, jpeg, jpeg_len, err, err_len);
    tjFree(jpeg);
    tjDestroy(tj);
    return st;
}
