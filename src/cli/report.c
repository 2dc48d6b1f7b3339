/*
 * report.c — what the command tells: one results.jsonl line per input (flushed, so a killed
 * run keeps every finished line), messages for failures, a progress line on stderr, and the
 * .npy writer for raw cams.
 */
#include <cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "imagenet_labels.h"

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void free_labels(report *r)
{
    for (int32_t i = 0; i < r->n_labels; i++)
        free(r->labels[i]);
    free(r->labels);
    r->labels = NULL;
    r->n_labels = 0;
}

/* --labels FILE into r->labels; on failure nothing stays allocated (the caller exits 2). */
static int load_labels(report *r, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--labels %s: %s", path, strerror(errno));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0, len_cap = 0;
    int ok = 1;
    while (ok && getline(&line, &len_cap, f) >= 0) { /* lines of any length */
        line[strcspn(line, "\r\n")] = 0;
        if ((size_t)r->n_labels == cap) {
            cap = cap ? 2 * cap : 1024;
            char **l = realloc(r->labels, cap * sizeof *l);
            ok = l != NULL;
            if (l)
                r->labels = l;
        }
        char *copy = ok ? strdup(line) : NULL;
        if (!(ok = copy != NULL))
            break;
        r->labels[r->n_labels++] = copy;
    }
    const int read_error = ferror(f);
    free(line);
    fclose(f);
    while (r->n_labels > 0 && !*r->labels[r->n_labels - 1]) /* blank lines at the end */
        free(r->labels[--r->n_labels]);
    if (!ok || read_error) {
        snprintf(err, errlen, "--labels %s: %s", path,
                 read_error ? "cannot be read" : "out of memory");
        free_labels(r);
        return 0;
    }
    if (r->n_labels != r->num_classes) { /* a label off by one line names every class wrong */
        snprintf(err, errlen,
                 "--labels %s: %d line%s for a model of %d classes (one class name per line, "
                 "in class order)",
                 path, (int)r->n_labels, r->n_labels == 1 ? "" : "s", (int)r->num_classes);
        free_labels(r);
        return 0;
    }
    return 1;
}

int report_open(report *r, const cli_config *cfg, gc_context *ctx, const char *jsonl,
                char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->cfg = cfg;
    r->ctx = ctx;
    gc_model_info info;
    gc_model_info_get(ctx, &info);
    r->layer = info.target_layer;
    r->num_classes = info.num_classes;
    if (cfg->labels_path && !load_labels(r, cfg->labels_path, err, errlen))
        return 0;
    r->show_progress = cfg->progress > 0 || (cfg->progress < 0 && isatty(STDERR_FILENO));
    if (r->show_progress && cfg->rank == 0) { /* what runs, before the first progress line */
        fprintf(stderr, "gradcam: %s, %s, batch %d, layer %s\n",
                info.backend == GC_BACKEND_CUDA ? "CUDA" : "CPU",
                gc_precision_name(info.precision), info.max_batch, info.target_layer);
    }
    if (!getcwd(r->cwd, sizeof r->cwd) || r->cwd[0] != '/')
        r->cwd[0] = 0;
    r->jsonl_path = jsonl;
    r->jsonl = fopen(jsonl, cfg->resume ? "a" : "w");
    if (!r->jsonl) {
        snprintf(err, errlen, "%s: cannot write: %s", jsonl, strerror(errno));
        free_labels(r);
        return 0;
    }
    r->t0 = now_seconds();
    return 1;
}

int report_close(report *r)
{
    if (r->jsonl && fclose(r->jsonl) != 0 && !r->write_errno) {
        r->write_errno = errno;
        fprintf(stderr, "gradcam: %s: cannot write: %s\n", r->jsonl_path, strerror(errno));
    }
    r->jsonl = NULL;
    free_labels(r);
    pthread_mutex_destroy(&r->mu);
    return r->write_errno == 0;
}

const char *report_label(const report *r, int32_t class_id)
{
    if (class_id < 0)
        return NULL;
    if (r->labels)
        return class_id < r->n_labels ? r->labels[class_id] : NULL;
    const char *meta = gc_class_label(r->ctx, class_id);
    if (meta)
        return meta;
    return r->num_classes == 1000 && class_id < 1000 ? gc_imagenet_labels[class_id] : NULL;
}

/* Must hold r->mu. */
static void draw_progress(report *r, int final)
{
    if (!r->show_progress)
        return;
    double now = now_seconds();
    if (!final && now - r->last_draw < 0.1)
        return;
    r->last_draw = now;
    double el = now - r->t0, rate = el > 0 ? (double)r->done / el : 0;
    char eta[32] = "";
    if (r->total && rate > 0 && r->done < r->total) {
        double s = (double)(r->total - r->done - r->skipped) / rate;
        snprintf(eta, sizeof eta, "  ETA %dm%02ds", (int)(s / 60), (int)s % 60);
    }
    char total[32] = "?";
    if (r->total)
        snprintf(total, sizeof total, "%zu", r->total);
    fprintf(stderr, "\r\033[K%zu/%s  %.1f img/s%s  %zu failed%s", r->done + r->skipped, total,
            rate, eta, r->failed, final ? "\n" : "");
    if (r->skipped && final)
        fprintf(stderr, "(%zu skipped: outputs already complete)\n", r->skipped);
    fflush(stderr);
}

/* s as a JSON string literal. Valid UTF-8 passes through; quotes, backslashes and control
 * characters are escaped; each byte of an invalid UTF-8 sequence (file names are bytes)
 * becomes \udcXX, Python's surrogateescape: os.fsencode(json.loads(line)["input"]) gives
 * back the exact path. */
static char *json_quote(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    char *out = malloc(6 * len + 3), *o = out;
    if (!out)
        return NULL;
    *o++ = '"';
    while (*p) {
        unsigned c = *p;
        int n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = n > 0;
        for (int k = 1; ok && k < n; k++)
            ok = (p[k] & 0xc0) == 0x80;
        if (ok && n == 3) /* no overlongs, no UTF-16 surrogates */
            ok = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] > 0x9f);
        if (ok && n == 4)
            ok = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] > 0x8f);
        if (!ok) {
            o += sprintf(o, "\\udc%02x", c);
            p++;
        } else if (n > 1) {
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        } else {
            if (c == '"' || c == '\\') {
                *o++ = '\\';
                *o++ = (char)c;
            } else if (c < 0x20) {
                o += sprintf(o, "\\u%04x", c);
            } else {
                *o++ = (char)c;
            }
            p++;
        }
    }
    *o++ = '"';
    *o = 0;
    return out;
}

static void add_string(cJSON *o, const char *key, const char *value)
{
    char *q = json_quote(value);
    if (q)
        cJSON_AddRawToObject(o, key, q);
    free(q);
}

/* float32 values printed as what they are (7 significant digits), not as 17-digit doubles */
static void add_float(cJSON *o, const char *key, float v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", v);
    cJSON_AddNumberToObject(o, key, strtod(buf, NULL));
}

static void add_label(cJSON *o, const char *key, const char *label)
{
    if (label)
        add_string(o, key, label); /* --labels files and metadata need not be UTF-8 */
    else
        cJSON_AddNullToObject(o, key);
}

void report_job(report *r, const job *j)
{
    cJSON *o = cJSON_CreateObject();
    add_string(o, "input", j->path);
    cJSON_AddStringToObject(o, "status", j->failed ? "error" : "ok");
    if (j->failed) {
        add_string(o, "error", j->error ? j->error : "(out of memory describing the error)");
    } else {
        cJSON_AddNullToObject(o, "error");
        cJSON_AddNumberToObject(o, "class", j->res.class_id);
        add_label(o, "label", report_label(r, j->res.class_id));
        add_float(o, "score", j->res.score);
        add_float(o, "prob", j->res.prob);
        cJSON *top = cJSON_AddArrayToObject(o, "top5");
        for (int k = 0; k < GC_TOPK && j->res.top_class[k] >= 0; k++) {
            cJSON *t = cJSON_CreateObject();
            cJSON_AddNumberToObject(t, "class", j->res.top_class[k]);
            add_label(t, "label", report_label(r, j->res.top_class[k]));
            add_float(t, "prob", j->res.top_prob[k]);
            cJSON_AddItemToArray(top, t);
        }
        cJSON_AddStringToObject(o, "layer", r->layer);
        cJSON_AddNumberToObject(o, "width", j->img.width);
        cJSON_AddNumberToObject(o, "height", j->img.height);
        cJSON *outs = cJSON_AddObjectToObject(o, "outputs");
        static const struct {
            int bit;
            const char *name;
        } kinds[] = {{OUT_OVERLAY, "overlay"}, {OUT_HEATMAP, "heatmap"}, {OUT_CAM, "cam"},
                     {OUT_GUIDED, "guided"}};
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (r->cfg->outputs & kinds[k].bit) {
                char p[4096];
                output_path(r->cfg, j, kinds[k].bit, p, sizeof p);
                add_string(outs, kinds[k].name, p);
            }
    }
    /* relative paths name files from the working folder: --resume from another one finds
     * them through it (resume.c) */
    if (r->cwd[0] && (j->path[0] != '/' || r->cfg->out_dir[0] != '/'))
        add_string(o, "cwd", r->cwd);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    pthread_mutex_lock(&r->mu);
    errno = 0;
    if (line && (fputs(line, r->jsonl) < 0 || fputc('\n', r->jsonl) == EOF ||
                 fflush(r->jsonl) != 0) && !r->write_errno) {
        r->write_errno = errno ? errno : EIO;
        if (r->show_progress)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "gradcam: %s: cannot write: %s; the lines of this input and any after "
                "it may be lost (--resume redoes their inputs)\n", r->jsonl_path,
                strerror(r->write_errno));
    }
    r->done++;
    if (j->failed) {
        r->failed++;
        if (r->show_progress)
            fprintf(stderr, "\r\033[K");
        print_escaped_line("gradcam: ", j->error ? j->error : j->path);
    }
    draw_progress(r, 0);
    pthread_mutex_unlock(&r->mu);
    free(line);
}

void fput_escaped(const char *s, FILE *f)
{
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

void print_escaped_line(const char *prefix, const char *msg)
{
    fputs(prefix, stderr);
    fput_escaped(msg, stderr);
    fputc('\n', stderr);
}

static void vprint_note(const cli_config *cfg, const char *fmt, va_list ap)
{
    char msg[1200], prefix[64] = "gradcam: note: ";
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (cfg->ranks > 1)
        snprintf(prefix, sizeof prefix, "gradcam: rank %d: note: ", cfg->rank);
    print_escaped_line(prefix, msg);
}

void print_note(const cli_config *cfg, const char *fmt, ...)
{
    if (cfg->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprint_note(cfg, fmt, ap);
    va_end(ap);
}

void report_note(report *r, const char *fmt, ...)
{
    if (r->cfg->quiet)
        return;
    pthread_mutex_lock(&r->mu);
    if (r->show_progress)
        fprintf(stderr, "\r\033[K");
    va_list ap;
    va_start(ap, fmt);
    vprint_note(r->cfg, fmt, ap);
    va_end(ap);
    r->last_draw = 0.0; /* the progress line again at once */
    draw_progress(r, 0);
    pthread_mutex_unlock(&r->mu);
}

void report_skip(report *r)
{
    pthread_mutex_lock(&r->mu);
    r->skipped++;
    draw_progress(r, 0);
    pthread_mutex_unlock(&r->mu);
}

void report_set_total(report *r, size_t total)
{
    pthread_mutex_lock(&r->mu);
    r->total = total;
    pthread_mutex_unlock(&r->mu);
}

void report_finish(report *r)
{
    pthread_mutex_lock(&r->mu);
    draw_progress(r, 1);
    pthread_mutex_unlock(&r->mu);
}

int make_parent_dirs_noting(const char *path, char *made, size_t len)
{
    char buf[4096];
    if (made && len)
        made[0] = 0;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) == 0) {
            if (made && len && !made[0])
                snprintf(made, len, "%s", buf);
        } else if (errno != EEXIST) {
            return 0;
        }
        *p = '/';
    }
    return 1;
}

int make_parent_dirs(const char *path)
{
    return make_parent_dirs_noting(path, NULL, 0);
}

void remove_made_dirs(const char *path, const char *made)
{
    if (!made || !*made)
        return;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    const size_t outermost = strlen(made);
    for (char *slash = strrchr(buf, '/'); slash && (size_t)(slash - buf) >= outermost;
         slash = strrchr(buf, '/')) {
        *slash = 0;
        if (rmdir(buf) != 0) /* not empty (or gone): what is in it stays */
            return;
    }
}

int write_npy(const char *path, const float *data, int32_t h, int32_t w)
{
    /* NPY v1.0: magic, header length, a Python dict literal padded to a multiple of 64 */
    const uint16_t probe = 1;
    const int little = *(const uint8_t *)&probe == 1; /* the floats go out in host order */
    char header[128];
    int n = snprintf(header, sizeof header,
                     "{'descr': '%cf4', 'fortran_order': False, 'shape': (%d, %d), }",
                     little ? '<' : '>', h, w);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    char tmp[4200];
    FILE *f = open_temp(path, "wb", tmp, sizeof tmp);
    if (!f)
        return 0;
    uint16_t hl = (uint16_t)(n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff),
                             (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(data, sizeof(float), (size_t)h * w, f) == (size_t)h * w;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) == 0)
        return 1;
    int e = errno;
    unlink(tmp);
    errno = e;
    return 0;
}
