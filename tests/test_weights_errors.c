/*
 * test_weights_errors.c — every way a weights file can be bad gives its own clear error.
 *
 *     test_weights_errors
 *
 * Writes crafted safetensors files (a tiny writer below: 8-byte little-endian header length,
 * JSON header, data) into a fresh directory under $TMPDIR (or /tmp), starting from a valid
 * minimal torchvision VGG (cfg "4,M", one Linear), and checks for each case the exact
 * gc_status of gc_context_create and substrings of gc_last_error: the file's path and, where
 * it applies, the tensor. Every failing create must still give a context (in the bad state)
 * for gc_last_error. Each case runs in a child process so that a crash in the library is
 * reported as that case's failure instead of ending the program.
 * Prints one line per case; exit 0 when all pass, 1 otherwise. Public API only.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gradcam.h"

/* The valid model: cfg "4,M", 32x32 input, adaptive pool to 7x7, one Linear 196 -> 3. */
#define M_COUT 4
#define M_CLASSES 3
#define M_POOL 7
#define M_FC_IN (M_COUT * M_POOL * M_POOL)
#define M_INPUT 32

static char g_dir[4096];
static char g_msg[2048]; /* the case's verdict detail, printed after PASS/FAIL */

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- dtype conversion */

/* float -> IEEE half, round to nearest even (the test's values are exact anyway). */
static uint16_t float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = (int32_t)((x >> 23) & 0xffu);
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0u));
    int32_t e = exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

/* float -> bfloat16, round to nearest even; NaN stays NaN. */
static uint16_t float_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

/* ---------------------------------------------------------------- a safetensors writer */

typedef struct tensor {
    char name[64];
    char dtype[16]; /* "F32", "F16", "BF16", "I32", or anything (written as given) */
    int ndim;
    int64_t shape[4];
    uint8_t *data; /* owned */
    size_t nbytes;
    /* tampering (all zero / empty = an honest entry) */
    const char *shape_json; /* replaces the shape array, e.g. "[-4,3,3,3]" */
    int64_t begin_delta;    /* added to the computed data_offsets */
    int64_t end_delta;
    int64_t abs_begin; /* > 0: begin = abs_begin, end = abs_begin + nbytes */
    size_t pad_after;  /* zero bytes written after this tensor's data */
    int omit;          /* left out of the file */
} tensor;

typedef struct model_file {
    int n;
    tensor t[16];
    const char *metadata; /* raw JSON for "__metadata__", NULL = none */
} model_file;

static int64_t shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= shape[d];
    return n;
}

/* Appends a tensor of ndim dims with values (numel floats, may be NULL = zeros), stored as
 * dtype: F32, F16, BF16 convert; I32 stores the values truncated to integers. */
static tensor *mf_add(model_file *mf, const char *name, const char *dtype, int ndim,
                      const int64_t *shape, const float *values)
{
    if (mf->n == (int)(sizeof mf->t / sizeof mf->t[0])) {
        fprintf(stderr, "test bug: too many tensors\n");
        exit(2);
    }
    tensor *t = &mf->t[mf->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    size_t numel = (size_t)shape_numel(ndim, shape);
    size_t esize = strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0 ? 2 : 4;
    t->nbytes = numel * esize;
    t->data = calloc(t->nbytes ? t->nbytes : 1, 1);
    if (!t->data) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; values && i < numel; i++) {
        float v = values[i];
        if (strcmp(dtype, "F16") == 0) {
            uint16_t h = float_to_half(v);
            memcpy(t->data + 2 * i, &h, 2);
        } else if (strcmp(dtype, "BF16") == 0) {
            uint16_t h = float_to_bf16(v);
            memcpy(t->data + 2 * i, &h, 2);
        } else if (strcmp(dtype, "I32") == 0) {
            int32_t k = (int32_t)v;
            memcpy(t->data + 4 * i, &k, 4);
        } else {
            memcpy(t->data + 4 * i, &v, 4);
        }
    }
    return t;
}

static tensor *mf_find(model_file *mf, const char *name)
{
    for (int i = 0; i < mf->n; i++)
        if (strcmp(mf->t[i].name, name) == 0)
            return &mf->t[i];
    fprintf(stderr, "test bug: no tensor '%s' in the model\n", name);
    exit(2);
}

/* Replaces element i of t's data with value v (in t's float dtype). */
static void mf_poke(tensor *t, size_t i, float v)
{
    if (strcmp(t->dtype, "F16") == 0) {
        uint16_t h = float_to_half(v);
        memcpy(t->data + 2 * i, &h, 2);
    } else if (strcmp(t->dtype, "BF16") == 0) {
        uint16_t h = float_to_bf16(v);
        memcpy(t->data + 2 * i, &h, 2);
    } else {
        memcpy(t->data + 4 * i, &v, 4);
    }
}

static void mf_free(model_file *mf)
{
    for (int i = 0; i < mf->n; i++)
        free(mf->t[i].data);
    memset(mf, 0, sizeof *mf);
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", g_dir, name);
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (len && fwrite(bytes, 1, len, fp) != len) || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

/* Serializes mf. raw_header (may be NULL) replaces the JSON header; trailer (may be NULL) is
 * appended to the header text; keep (SIZE_MAX = all) cuts the file to that many bytes. */
static void mf_write_ex(const model_file *mf, const char *path, const char *raw_header,
                        const char *trailer, size_t keep)
{
    size_t cap = 1 << 16, hlen = 0, dlen = 0;
    char *hdr = malloc(cap);
    size_t dcap = 0;
    for (int i = 0; i < mf->n; i++)
        dcap += mf->t[i].nbytes + mf->t[i].pad_after;
    uint8_t *data = calloc(dcap ? dcap : 1, 1);
    if (!hdr || !data) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    hlen += (size_t)snprintf(hdr + hlen, cap - hlen, "{");
    int first = 1;
    if (mf->metadata) {
        hlen += (size_t)snprintf(hdr + hlen, cap - hlen, "\"__metadata__\":%s", mf->metadata);
        first = 0;
    }
    for (int i = 0; i < mf->n; i++) {
        const tensor *t = &mf->t[i];
        if (t->omit)
            continue;
        int64_t begin = (int64_t)dlen, end = begin + (int64_t)t->nbytes;
        if (t->abs_begin > 0) {
            begin = t->abs_begin;
            end = begin + (int64_t)t->nbytes;
        }
        begin += t->begin_delta;
        end += t->end_delta;
        memcpy(data + dlen, t->data, t->nbytes);
        dlen += t->nbytes + t->pad_after;
        char shape[128] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "",
                     (long long)t->shape[d]);
        strcat(shape, "]");
        hlen += (size_t)snprintf(hdr + hlen, cap - hlen,
                                 "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,"
                                 "\"data_offsets\":[%lld,%lld]}",
                                 first ? "" : ",", t->name, t->dtype,
                                 t->shape_json ? t->shape_json : shape, (long long)begin,
                                 (long long)end);
        first = 0;
    }
    hlen += (size_t)snprintf(hdr + hlen, cap - hlen, "}%s", trailer ? trailer : "");
    if (raw_header) {
        hlen = strlen(raw_header);
        memcpy(hdr, raw_header, hlen);
    }
    /* safetensors pads the header with spaces to a multiple of 8 */
    while (hlen % 8)
        hdr[hlen++] = ' ';
    size_t total = 8 + hlen + dlen;
    uint8_t *file = malloc(total);
    if (!file) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (int i = 0; i < 8; i++)
        file[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(file + 8, hdr, hlen);
    memcpy(file + 8 + hlen, data, dlen);
    write_bytes(path, file, keep < total ? keep : total);
    free(file);
    free(hdr);
    free(data);
}

static void mf_write(const model_file *mf, const char *path)
{
    mf_write_ex(mf, path, NULL, NULL, SIZE_MAX);
}

/* A file of just the 8-byte length and the given header text (no data region). */
static void write_header_only(const char *path, const char *header)
{
    model_file empty;
    memset(&empty, 0, sizeof empty);
    mf_write_ex(&empty, path, header, NULL, SIZE_MAX);
}

/* Offset in the file where tensor `name`'s data starts (header as mf_write writes it). */
static size_t mf_data_start(const model_file *mf, const char *path, const char *name)
{
    FILE *fp = fopen(path, "rb");
    uint8_t b[8];
    if (!fp || fread(b, 1, 8, fp) != 8) {
        fprintf(stderr, "cannot read back %s\n", path);
        exit(2);
    }
    fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | b[i];
    size_t off = 8 + (size_t)hlen;
    for (int i = 0; i < mf->n; i++) {
        if (strcmp(mf->t[i].name, name) == 0)
            return off;
        if (!mf->t[i].omit)
            off += mf->t[i].nbytes + mf->t[i].pad_after;
    }
    fprintf(stderr, "test bug: no tensor '%s'\n", name);
    exit(2);
}

/* ---------------------------------------------------------------- the valid model */

/* Deterministic values k/64 with k in [-32, 32]: exactly representable in F16 and BF16. */
static void fill_values(float *v, size_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        int k = (int)((s >> 16) % 65u) - 32;
        v[i] = (float)k / 64.0f;
    }
}

/* The minimal valid torchvision VGG "4,M" with a one-Linear classifier, all tensors in dtype. */
static void valid_model(model_file *mf, const char *dtype)
{
    static float w0[M_COUT * 3 * 3 * 3], b0[M_COUT], w1[M_CLASSES * M_FC_IN], b1[M_CLASSES];
    fill_values(w0, sizeof w0 / sizeof w0[0], 1);
    fill_values(b0, sizeof b0 / sizeof b0[0], 2);
    fill_values(w1, sizeof w1 / sizeof w1[0], 3);
    fill_values(b1, sizeof b1 / sizeof b1[0], 4);
    memset(mf, 0, sizeof *mf);
    mf_add(mf, "features.0.weight", dtype, 4, (int64_t[]){M_COUT, 3, 3, 3}, w0);
    mf_add(mf, "features.0.bias", dtype, 1, (int64_t[]){M_COUT}, b0);
    mf_add(mf, "classifier.0.weight", dtype, 2, (int64_t[]){M_CLASSES, M_FC_IN}, w1);
    mf_add(mf, "classifier.0.bias", dtype, 1, (int64_t[]){M_CLASSES}, b1);
}

static gc_options small_options(const char *path)
{
    gc_options opt = gc_options_default();
    opt.weights_path = path;
    opt.input_width = M_INPUT;
    opt.input_height = M_INPUT;
    opt.max_batch = 1;
    opt.threads = 1;
    return opt;
}

/* Loads path and runs one 1x3x32x32 input; logits (M_CLASSES) out. 1 on success. */
static int load_and_run(const char *path, float *logits)
{
    gc_options opt = small_options(path);
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&opt, &ctx);
    if (st != GC_OK) {
        note("gc_context_create: %s: %s", gc_status_string(st), gc_last_error(ctx));
        gc_context_destroy(ctx);
        return 0;
    }
    gc_model_info info;
    if (gc_model_info_get(ctx, &info) != GC_OK || info.num_classes != M_CLASSES ||
        strcmp(info.arch, "4,M") != 0 || info.cam_width != M_INPUT || info.cam_height != M_INPUT ||
        strcmp(info.target_layer, "block1_conv1") != 0) {
        note("unexpected model info (classes %d, arch '%s', cam %dx%d, layer %s)", info.num_classes,
             info.arch, info.cam_width, info.cam_height, info.target_layer);
        gc_context_destroy(ctx);
        return 0;
    }
    static float x[3 * M_INPUT * M_INPUT], cams[M_INPUT * M_INPUT];
    fill_values(x, sizeof x / sizeof x[0], 99);
    gc_result res;
    st = gc_explain_tensor(ctx, x, 1, NULL, &res, cams, sizeof cams / sizeof cams[0]);
    if (st == GC_OK)
        st = gc_tensor_get(ctx, GC_TENSOR_LOGITS, 0, logits, M_CLASSES, NULL);
    if (st != GC_OK) {
        note("gc_explain_tensor: %s: %s", gc_status_string(st), gc_last_error(ctx));
        gc_context_destroy(ctx);
        return 0;
    }
    for (int i = 0; i < M_CLASSES; i++)
        if (!isfinite(logits[i])) {
            note("logit %d is not finite", i);
            gc_context_destroy(ctx);
            return 0;
        }
    gc_context_destroy(ctx);
    return 1;
}

/* ---------------------------------------------------------------- checking a failure */

/* gc_context_create(opt) must fail with want, give a context in the bad state, and a message
 * containing every substring (NULL-terminated list; a substring starting with '!' must NOT
 * appear). EXPECT_FAIL is the usual way in: the small options on a path, with an arch. */
static int expect_fail_opt(const gc_options *opt, gc_status want, ...)
{
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(opt, &ctx);
    if (!ctx) {
        note("status %s but no context for gc_last_error", gc_status_string(st));
        return 0;
    }
    const char *msg = gc_last_error(ctx);
    int ok = 1;
    char why[512] = "";
    if (st != want) {
        ok = 0;
        snprintf(why, sizeof why, "status %d '%s', want %d '%s'", (int)st, gc_status_string(st),
                 (int)want, gc_status_string(want));
    } else if (!msg || !*msg) {
        ok = 0;
        snprintf(why, sizeof why, "empty message");
    } else {
        va_list ap;
        va_start(ap, want);
        for (const char *sub; ok && (sub = va_arg(ap, const char *)) != NULL;) {
            if (sub[0] == '!' ? strstr(msg, sub + 1) != NULL : strstr(msg, sub) == NULL) {
                ok = 0;
                snprintf(why, sizeof why, "message %s \"%s\"",
                         sub[0] == '!' ? "must not contain" : "lacks", sub + (sub[0] == '!'));
            }
        }
        va_end(ap);
    }
    if (ok) {
        /* the failed context is in the bad state, not half-usable */
        gc_model_info info;
        float x[3 * M_INPUT * M_INPUT] = {0};
        gc_result res;
        gc_status s1 = gc_model_info_get(ctx, &info);
        gc_status s2 = gc_explain_tensor(ctx, x, 1, NULL, &res, NULL, 0);
        if (s1 != GC_ERR_BAD_STATE || s2 != GC_ERR_BAD_STATE) {
            ok = 0;
            snprintf(why, sizeof why, "failed context not in the bad state (info %d, explain %d)",
                     (int)s1, (int)s2);
        }
    }
    if (st == GC_OK) {
        gc_model_info info;
        if (gc_model_info_get(ctx, &info) == GC_OK)
            snprintf(why + strlen(why), sizeof why - strlen(why),
                     " (loaded as arch '%s', %d classes)", info.arch, info.num_classes);
    }
    if (ok)
        note("%s: %s", gc_status_string(st), msg);
    else
        note("%s; got %s: %s", why, gc_status_string(st), msg ? msg : "(null)");
    gc_context_destroy(ctx);
    return ok;
}

#define EXPECT_FAIL(path_, arch_, want_, ...)                                                      \
    do {                                                                                           \
        gc_options opt_ = small_options(path_);                                                    \
        opt_.arch = (arch_);                                                                       \
        return expect_fail_opt(&opt_, want_, __VA_ARGS__, (const char *)NULL);                     \
    } while (0)

/* Declares path and mf, and writes the valid F32 model, edited by the statements given last,
 * to dir/name. */
#define CRAFT(name, path, mf, ...)                                                                 \
    char path[4200];                                                                               \
    model_file mf;                                                                                 \
    path_of(path, sizeof path, name);                                                              \
    valid_model(&mf, "F32");                                                                       \
    __VA_ARGS__;                                                                                   \
    mf_write(&mf, path);                                                                           \
    mf_free(&mf)

/* ---------------------------------------------------------------- the cases */

static int case_valid_f32(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "valid_f32.safetensors");
    valid_model(&mf, "F32");
    mf_write(&mf, path);
    mf_free(&mf);
    float logits[M_CLASSES];
    if (!load_and_run(path, logits))
        return 0;
    note("loads, arch 4,M, logits %g %g %g", logits[0], logits[1], logits[2]);
    return 1;
}

static int same_logits_as_f32(const char *dtype)
{
    char p32[4200], p16[4200], name[64];
    model_file mf;
    path_of(p32, sizeof p32, "ref_f32.safetensors");
    valid_model(&mf, "F32");
    mf_write(&mf, p32);
    mf_free(&mf);
    snprintf(name, sizeof name, "valid_%s.safetensors", dtype);
    path_of(p16, sizeof p16, name);
    valid_model(&mf, dtype);
    mf_write(&mf, p16);
    mf_free(&mf);
    float a[M_CLASSES], b[M_CLASSES];
    if (!load_and_run(p32, a) || !load_and_run(p16, b))
        return 0;
    for (int i = 0; i < M_CLASSES; i++) {
        /* the values are exact in half and bfloat16, so the networks are identical */
        if (fabsf(a[i] - b[i]) > 1e-2f * fabsf(a[i]) || memcmp(&a[i], &b[i], sizeof a[i]) != 0) {
            note("logit %d: %s %.9g vs F32 %.9g (want bit-identical)", i, dtype, b[i], a[i]);
            return 0;
        }
    }
    note("%s loads; logits bit-identical to F32 (%g %g %g)", dtype, b[0], b[1], b[2]);
    return 1;
}

static int case_valid_f16(void)
{
    return same_logits_as_f32("F16");
}
static int case_valid_bf16(void)
{
    return same_logits_as_f32("BF16");
}

static int case_null_options(void)
{
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(NULL, &ctx);
    int ok = st == GC_ERR_INVALID_ARGUMENT && ctx && strstr(gc_last_error(ctx), "weights_path");
    note("%s: %s", gc_status_string(st), ctx ? gc_last_error(ctx) : "(no context)");
    gc_context_destroy(ctx);
    return ok;
}

static int case_null_weights_path(void)
{
    gc_options opt = small_options(NULL);
    return expect_fail_opt(&opt, GC_ERR_INVALID_ARGUMENT, "weights_path", (const char *)NULL);
}

static int case_null_out(void)
{
    char path[4200];
    path_of(path, sizeof path, "valid_f32.safetensors");
    gc_options opt = small_options(path);
    gc_status st = gc_context_create(&opt, NULL);
    note("gc_context_create(&opt, NULL): %s", gc_status_string(st));
    return st == GC_ERR_INVALID_ARGUMENT;
}

static int case_missing_file(void)
{
    char path[4200];
    path_of(path, sizeof path, "does_not_exist.safetensors");
    EXPECT_FAIL(path, NULL, GC_ERR_IO, path, "cannot open");
}

static int case_directory(void)
{
    EXPECT_FAIL(g_dir, NULL, GC_ERR_IO, g_dir, "not a regular file");
}

static int case_zero_bytes(void)
{
    char path[4200];
    path_of(path, sizeof path, "zero_bytes.safetensors");
    write_bytes(path, "", 0);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "0 bytes");
}

static int case_short_file(void)
{
    char path[4200];
    path_of(path, sizeof path, "five_bytes.safetensors");
    write_bytes(path, "\x10\0\0\0\0", 5);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "5 bytes");
}

static int case_header_beyond_file(void)
{
    char path[4200];
    path_of(path, sizeof path, "header_beyond.safetensors");
    /* says 1000 header bytes; 16 follow */
    uint8_t b[24] = {0xe8, 0x03, 0, 0, 0, 0, 0, 0, '{', '}'};
    memset(b + 10, ' ', 14);
    write_bytes(path, b, sizeof b);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "header length 1000");
}

static int case_header_length_huge(void)
{
    char path[4200];
    path_of(path, sizeof path, "header_huge.safetensors");
    /* 2^64 - 8: would wrap a naive 8 + N bound check */
    uint8_t b[16] = {0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                     '{',  '}',  ' ',  ' ',  ' ',  ' ',  ' ',  ' '};
    write_bytes(path, b, sizeof b);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "header length");
}

static int case_header_not_json(void)
{
    char path[4200];
    path_of(path, sizeof path, "not_json.safetensors");
    write_header_only(path, "{\"features.0.weight\": {dtype: F32");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "JSON");
}

static int case_header_json_array(void)
{
    char path[4200];
    path_of(path, sizeof path, "json_array.safetensors");
    write_header_only(path, "[1, 2, 3]");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "JSON but not an object");
}

static int case_header_trailing_garbage(void)
{
    /* the format allows only spaces after the JSON object */
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "trailing_garbage.safetensors");
    valid_model(&mf, "F32");
    mf_write_ex(&mf, path, NULL, "xyz", SIZE_MAX);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "JSON");
}

static int case_truncated_data(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "truncated.safetensors");
    valid_model(&mf, "F32");
    mf_write(&mf, path);
    /* cut in the middle of classifier.0.weight */
    size_t start = mf_data_start(&mf, path, "classifier.0.weight");
    mf_write_ex(&mf, path, NULL, NULL, start + mf_find(&mf, "classifier.0.weight")->nbytes / 2);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'classifier.0.weight'", "truncated");
}

static int case_offsets_size_mismatch(void)
{
    /* 20 bytes for 4 F32 values (padding after it keeps the span clear of the next tensor) */
    CRAFT("offsets_mismatch.safetensors", path, mf, {
        tensor *t = mf_find(&mf, "features.0.bias");
        t->end_delta = 4;
        t->pad_after = 4;
    });
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.bias'", "20 bytes",
                "need 16");
}

static int case_end_before_begin(void)
{
    CRAFT("end_before_begin.safetensors", path, mf, {
        tensor *t = mf_find(&mf, "features.0.bias");
        t->begin_delta = 16;
        t->end_delta = -16;
    });
    /* both offsets lie inside the data region: the message must not claim they are outside
     * or that the file is truncated */
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.bias'", "data_offsets",
                "!outside", "!truncated");
}

static int case_overlap(void)
{
    /* classifier.0.bias's 12 bytes point into features.0.weight's data */
    CRAFT("overlap.safetensors", path, mf, mf_find(&mf, "classifier.0.bias")->abs_begin = 8);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "overlap", "'features.0.weight'",
                "'classifier.0.bias'");
}

static int case_shape_negative(void)
{
    CRAFT("shape_negative.safetensors", path, mf,
          mf_find(&mf, "features.0.weight")->shape_json = "[-4,3,3,3]");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "shape[0]");
}

static int case_shape_fraction(void)
{
    CRAFT("shape_fraction.safetensors", path, mf,
          mf_find(&mf, "features.0.weight")->shape_json = "[4,3.5,3,3]");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "shape[1]");
}

static int case_shape_string(void)
{
    CRAFT("shape_string.safetensors", path, mf,
          mf_find(&mf, "features.0.weight")->shape_json = "[4,3,\"3\",3]");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "shape[2]");
}

static int case_shape_overflow(void)
{
    CRAFT("shape_overflow.safetensors", path, mf,
          mf_find(&mf, "features.0.weight")->shape_json = "[4294967296,4294967296,3,3]");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "too large");
}

static int case_unknown_dtype(void)
{
    CRAFT("dtype_q7.safetensors", path, mf, strcpy(mf_find(&mf, "features.0.weight")->dtype, "Q7"));
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "'Q7'");
}

static int case_int_weight(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "int_weight.safetensors");
    valid_model(&mf, "F32");
    /* same byte count: I32 is 4 bytes like F32 */
    strcpy(mf_find(&mf, "features.0.weight")->dtype, "I32");
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "I32");
}

static int case_missing_offsets(void)
{
    char path[4200];
    path_of(path, sizeof path, "missing_offsets.safetensors");
    write_header_only(path, "{\"features.0.weight\":{\"dtype\":\"F32\",\"shape\":[4,3,3,3]}}");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "data_offsets");
}

static int case_entry_not_object(void)
{
    char path[4200];
    path_of(path, sizeof path, "entry_not_object.safetensors");
    write_header_only(path, "{\"features.0.weight\":[1,2,3]}");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'features.0.weight'", "not an object");
}

static int nonfinite_case(const char *file, const char *dtype, const char *tensor_name,
                          size_t index, float value, const char *word)
{
    char path[4200], elem[64], quoted[96];
    model_file mf;
    path_of(path, sizeof path, file);
    valid_model(&mf, dtype);
    mf_poke(mf_find(&mf, tensor_name), index, value);
    mf_write(&mf, path);
    mf_free(&mf);
    snprintf(elem, sizeof elem, "element %zu", index);
    snprintf(quoted, sizeof quoted, "'%s'", tensor_name);
    gc_options opt = small_options(path);
    return expect_fail_opt(&opt, GC_ERR_WEIGHTS_FORMAT, path, quoted, elem, word,
                           (const char *)NULL);
}

static int case_nan_weight(void)
{
    return nonfinite_case("nan_f32.safetensors", "F32", "features.0.weight", 5, NAN, "NaN");
}

static int case_inf_weight(void)
{
    return nonfinite_case("inf_f32.safetensors", "F32", "classifier.0.weight", 7, INFINITY,
                          "infinite");
}

static int case_nan_f16_bias(void)
{
    return nonfinite_case("nan_f16.safetensors", "F16", "features.0.bias", 2, NAN, "NaN");
}

static int case_inf_bf16_bias(void)
{
    return nonfinite_case("inf_bf16.safetensors", "BF16", "classifier.0.bias", 1, -INFINITY,
                          "infinite");
}

static int case_conv_wrong_shape(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "conv_5x5.safetensors");
    valid_model(&mf, "F32");
    mf_find(&mf, "features.0.weight")->omit = 1;
    mf_add(&mf, "features.0.weight", "F32", 4, (int64_t[]){M_COUT, 3, 5, 5}, NULL);
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "'features.0.weight'", "(4,3,5,5)", "(4,3,3,3)");
}

static int case_conv_wrong_rank(void)
{
    /* a conv weight flattened to 2-D: the tensor exists, so the message must name it */
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "conv_2d.safetensors");
    valid_model(&mf, "F32");
    mf_find(&mf, "features.0.weight")->omit = 1;
    mf_add(&mf, "features.0.weight", "F32", 2, (int64_t[]){M_COUT, 27}, NULL);
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "features.0.weight");
}

static int case_conv_zero_channels(void)
{
    /* a second conv with 0 output channels must not be taken for a max-pool */
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "conv_zero.safetensors");
    valid_model(&mf, "F32");
    mf_add(&mf, "features.2.weight", "F32", 4, (int64_t[]){0, M_COUT, 3, 3}, NULL);
    mf_add(&mf, "features.2.bias", "F32", 1, (int64_t[]){0}, NULL);
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "features.2.weight");
}

static int case_conv_zero_first(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "conv0_zero.safetensors");
    valid_model(&mf, "F32");
    mf_find(&mf, "features.0.weight")->omit = 1;
    mf_find(&mf, "features.0.bias")->omit = 1;
    mf_add(&mf, "features.0.weight", "F32", 4, (int64_t[]){0, 3, 3, 3}, NULL);
    mf_add(&mf, "features.0.bias", "F32", 1, (int64_t[]){0}, NULL);
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "features.0.weight");
}

static int case_linear_missing_bias(void)
{
    CRAFT("no_fc_bias.safetensors", path, mf, mf_find(&mf, "classifier.0.bias")->omit = 1);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "'classifier.0.bias'");
}

static int case_linear_zero_outputs(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "fc_zero_out.safetensors");
    valid_model(&mf, "F32");
    mf_find(&mf, "classifier.0.weight")->omit = 1;
    mf_find(&mf, "classifier.0.bias")->omit = 1;
    mf_add(&mf, "classifier.0.weight", "F32", 2, (int64_t[]){0, M_FC_IN}, NULL);
    mf_add(&mf, "classifier.0.bias", "F32", 1, (int64_t[]){0}, NULL);
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "classifier.0.weight");
}

/* The valid model's features with a timm head (pre_logits.fc1 7x7 conv, fc2 1x1, head.fc)
 * of `classes` outputs. */
static void timm_model(model_file *mf, int64_t classes)
{
    valid_model(mf, "F32");
    mf_find(mf, "classifier.0.weight")->omit = 1;
    mf_find(mf, "classifier.0.bias")->omit = 1;
    static float w1[8 * M_COUT * 7 * 7], w2[8 * 8], w3[M_CLASSES * 8];
    fill_values(w1, sizeof w1 / sizeof w1[0], 5);
    fill_values(w2, sizeof w2 / sizeof w2[0], 6);
    fill_values(w3, sizeof w3 / sizeof w3[0], 7);
    mf_add(mf, "pre_logits.fc1.weight", "F32", 4, (int64_t[]){8, M_COUT, 7, 7}, w1);
    mf_add(mf, "pre_logits.fc1.bias", "F32", 1, (int64_t[]){8}, NULL);
    mf_add(mf, "pre_logits.fc2.weight", "F32", 4, (int64_t[]){8, 8, 1, 1}, w2);
    mf_add(mf, "pre_logits.fc2.bias", "F32", 1, (int64_t[]){8}, NULL);
    mf_add(mf, "head.fc.weight", "F32", 2, (int64_t[]){classes, 8}, w3);
    mf_add(mf, "head.fc.bias", "F32", 1, (int64_t[]){classes}, NULL);
}

static int case_valid_timm(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "valid_timm.safetensors");
    timm_model(&mf, M_CLASSES);
    mf_write(&mf, path);
    mf_free(&mf);
    float logits[M_CLASSES];
    if (!load_and_run(path, logits))
        return 0;
    note("timm head loads, logits %g %g %g", logits[0], logits[1], logits[2]);
    return 1;
}

static int case_timm_zero_classes(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "timm_zero_classes.safetensors");
    timm_model(&mf, 0);
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "head.fc.weight");
}

static int case_linear_bad_inputs(void)
{
    char path[4200];
    model_file mf;
    path_of(path, sizeof path, "fc_101_in.safetensors");
    valid_model(&mf, "F32");
    /* 101 inputs is not 4 channels * s * s for any pool size s (100 would be: s = 5) */
    mf_find(&mf, "classifier.0.weight")->omit = 1;
    mf_add(&mf, "classifier.0.weight", "F32", 2, (int64_t[]){M_CLASSES, 101}, NULL);
    mf_write(&mf, path);
    mf_free(&mf);
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "'classifier.0.weight'", "101");
}

static int case_no_classifier(void)
{
    CRAFT("no_classifier.safetensors", path, mf, {
        mf_find(&mf, "classifier.0.weight")->omit = 1;
        mf_find(&mf, "classifier.0.bias")->omit = 1;
    });
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "no classifier");
}

static int case_no_features(void)
{
    CRAFT("no_features.safetensors", path, mf, {
        mf_find(&mf, "features.0.weight")->omit = 1;
        mf_find(&mf, "features.0.bias")->omit = 1;
    });
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "features.N.weight");
}

static int case_conv_index_gap(void)
{
    /* convs at 0 and 5: torchvision puts the next conv at 2 (same block) or 3 (after a pool) */
    CRAFT("index_gap.safetensors", path, mf, {
        mf_add(&mf, "features.5.weight", "F32", 4, (int64_t[]){M_COUT, M_COUT, 3, 3}, NULL);
        mf_add(&mf, "features.5.bias", "F32", 1, (int64_t[]){M_COUT}, NULL);
    });
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "features.5.weight", "torchvision");
}

static int case_arch_meta_unparsable(void)
{
    /* a bad value in the file is a problem of the file, not of the caller's arguments */
    CRAFT("arch_meta_bad.safetensors", path, mf, mf.metadata = "{\"gradcam.arch\":\"4,X\"}");
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "gradcam.arch", "4,X");
}

static int case_arch_meta_disagrees(void)
{
    CRAFT("arch_meta_8.safetensors", path, mf, mf.metadata = "{\"gradcam.arch\":\"8,M\"}");
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "'features.0.weight'", "(4,3,3,3)", "(8,3,3,3)");
}

static int case_arch_option_unparsable(void)
{
    char path[4200];
    path_of(path, sizeof path, "valid_f32.safetensors");
    EXPECT_FAIL(path, "4;M", GC_ERR_INVALID_ARGUMENT, "'4;M'");
}

static int case_arch_option_wrong_width(void)
{
    char path[4200];
    path_of(path, sizeof path, "valid_f32.safetensors");
    EXPECT_FAIL(path, "8,M", GC_ERR_MODEL, path, "'features.0.weight'", "(4,3,3,3)", "(8,3,3,3)");
}

static int case_arch_option_extra_conv(void)
{
    char path[4200];
    path_of(path, sizeof path, "valid_f32.safetensors");
    EXPECT_FAIL(path, "4,4,M", GC_ERR_MODEL, path, "missing", "features.2.weight");
}

static int case_arch_option_fewer_convs(void)
{
    /* weights with a second conv after the pool (features.3), a cfg without it: the network
     * would run truncated, its last conv's tensors unused, with GC_OK (a QA session's find) */
    CRAFT("conv_after_pool.safetensors", path, mf, {
        mf_add(&mf, "features.3.weight", "F32", 4, (int64_t[]){M_COUT, M_COUT, 3, 3}, NULL);
        mf_add(&mf, "features.3.bias", "F32", 1, (int64_t[]){M_COUT}, NULL);
    });
    EXPECT_FAIL(path, "4,M", GC_ERR_MODEL, path, "'features.3.weight'", "belongs to no conv",
                "4,M");
}

static int case_meta_non_string(void)
{
    CRAFT("meta_number.safetensors", path, mf, mf.metadata = "{\"gradcam.arch\":5}");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "'gradcam.arch'", "not a string");
}

static int case_meta_not_object(void)
{
    CRAFT("meta_string.safetensors", path, mf, mf.metadata = "\"4,M\"");
    EXPECT_FAIL(path, NULL, GC_ERR_WEIGHTS_FORMAT, path, "__metadata__");
}

static int case_meta_bad_preprocess(void)
{
    CRAFT("meta_preprocess.safetensors", path, mf,
          mf.metadata = "{\"gradcam.preprocess\":\"rgb\"}");
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "gradcam.preprocess", "'rgb'");
}

static int case_meta_bad_input_size(void)
{
    CRAFT("meta_input_size.safetensors", path, mf,
          mf.metadata = "{\"gradcam.input_size\":\"big\"}");
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "gradcam.input_size", "'big'");
}

/* A head wrapped in Sequential (classifier[6] = Sequential(Dropout, Linear)) has its last
 * Linear at "classifier.N.1.weight": loading without it would give another network. */
static int case_head_in_sequential(void)
{
    CRAFT("head_sequential.safetensors", path, mf,
          mf_add(&mf, "classifier.3.1.weight", "F32", 2, (int64_t[]){5, M_CLASSES}, NULL),
          mf_add(&mf, "classifier.3.1.bias", "F32", 1, (int64_t[]){5}, NULL));
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "'classifier.3.1.", "Sequential");
}

static int case_linear_bias_alone(void)
{
    CRAFT("fc_bias_alone.safetensors", path, mf,
          mf_add(&mf, "classifier.3.bias", "F32", 1, (int64_t[]){5}, NULL));
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "'classifier.3.bias'");
}

static int case_meta_classes_count(void)
{
    CRAFT("meta_classes_count.safetensors", path, mf,
          mf.metadata = "{\"gradcam.classes\":\"[\\\"a\\\",\\\"b\\\",\\\"c\\\",\\\"d\\\"]\"}");
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "gradcam.classes", "4 classes", "has 3");
}

static int case_meta_classes_non_string(void)
{
    CRAFT("meta_classes_number.safetensors", path, mf,
          mf.metadata = "{\"gradcam.classes\":\"[\\\"a\\\",7,\\\"c\\\"]\"}");
    EXPECT_FAIL(path, NULL, GC_ERR_MODEL, path, "gradcam.classes", "entry 1");
}

/* ---------------------------------------------------------------- driver */

typedef struct test_case {
    const char *name;
    int (*fn)(void);
} test_case;

static const test_case cases[] = {
    {"valid_f32", case_valid_f32},
    {"valid_f16_same_logits", case_valid_f16},
    {"valid_bf16_same_logits", case_valid_bf16},
    {"null_options", case_null_options},
    {"null_weights_path", case_null_weights_path},
    {"null_out", case_null_out},
    {"missing_file", case_missing_file},
    {"directory", case_directory},
    {"zero_bytes", case_zero_bytes},
    {"shorter_than_8_bytes", case_short_file},
    {"header_length_beyond_file", case_header_beyond_file},
    {"header_length_huge", case_header_length_huge},
    {"header_not_json", case_header_not_json},
    {"header_json_not_object", case_header_json_array},
    {"header_trailing_garbage", case_header_trailing_garbage},
    {"truncated_data", case_truncated_data},
    {"offsets_not_dtype_x_shape", case_offsets_size_mismatch},
    {"offsets_end_before_begin", case_end_before_begin},
    {"overlapping_tensors", case_overlap},
    {"shape_negative", case_shape_negative},
    {"shape_non_integer", case_shape_fraction},
    {"shape_string", case_shape_string},
    {"shape_overflow", case_shape_overflow},
    {"unknown_dtype", case_unknown_dtype},
    {"integer_weight", case_int_weight},
    {"missing_data_offsets", case_missing_offsets},
    {"entry_not_object", case_entry_not_object},
    {"nan_weight_f32", case_nan_weight},
    {"inf_weight_f32", case_inf_weight},
    {"nan_bias_f16", case_nan_f16_bias},
    {"inf_bias_bf16", case_inf_bf16_bias},
    {"conv_wrong_shape", case_conv_wrong_shape},
    {"conv_wrong_rank", case_conv_wrong_rank},
    {"conv_zero_out_channels", case_conv_zero_channels},
    {"first_conv_zero_channels", case_conv_zero_first},
    {"linear_missing_bias", case_linear_missing_bias},
    {"linear_zero_outputs", case_linear_zero_outputs},
    {"linear_bad_in_features", case_linear_bad_inputs},
    {"valid_timm_head", case_valid_timm},
    {"timm_head_zero_classes", case_timm_zero_classes},
    {"no_classifier", case_no_classifier},
    {"no_features", case_no_features},
    {"conv_index_gap", case_conv_index_gap},
    {"arch_metadata_unparsable", case_arch_meta_unparsable},
    {"arch_metadata_disagrees", case_arch_meta_disagrees},
    {"arch_option_fewer_convs", case_arch_option_fewer_convs},
    {"arch_option_unparsable", case_arch_option_unparsable},
    {"arch_option_wrong_width", case_arch_option_wrong_width},
    {"arch_option_extra_conv", case_arch_option_extra_conv},
    {"metadata_non_string", case_meta_non_string},
    {"metadata_not_object", case_meta_not_object},
    {"metadata_bad_preprocess", case_meta_bad_preprocess},
    {"head_in_sequential", case_head_in_sequential},
    {"linear_bias_alone", case_linear_bias_alone},
    {"metadata_classes_count", case_meta_classes_count},
    {"metadata_classes_non_string", case_meta_classes_non_string},
    {"metadata_bad_input_size", case_meta_bad_input_size},
};

/* Runs one case in a child so that a crash fails the case, not the program. */
static int run_case(const test_case *c)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL  %-28s fork failed\n", c->name);
        return 0;
    }
    if (pid == 0) {
        g_msg[0] = 0;
        int ok = c->fn();
        printf("%s  %-28s %s\n", ok ? "PASS" : "FAIL", c->name, g_msg);
        fflush(stdout);
        _exit(ok ? 0 : 3); /* 3: failed, line printed */
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        printf("FAIL  %-28s waitpid failed\n", c->name);
        return 0;
    }
    if (WIFSIGNALED(status)) {
        printf("FAIL  %-28s crashed with signal %d\n", c->name, WTERMSIG(status));
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3) {
        /* e.g. a sanitizer report ended the child */
        printf("FAIL  %-28s died with exit code %d\n", c->name, WEXITSTATUS(status));
        return 0;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[8192];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/gc_weights_errors_XXXXXX", tmp);
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "mkdtemp %s failed\n", g_dir);
        return 1;
    }
    /* the shared valid file several cases load with other options */
    {
        char path[4200];
        model_file mf;
        path_of(path, sizeof path, "valid_f32.safetensors");
        valid_model(&mf, "F32");
        mf_write(&mf, path);
        mf_free(&mf);
    }
    const int n = (int)(sizeof cases / sizeof cases[0]);
    int failed = 0;
    for (int i = 0; i < n; i++)
        failed += !run_case(&cases[i]);
    remove_dir(g_dir);
    printf("%d of %d cases passed\n", n - failed, n);
    return failed ? 1 : 0;
}
