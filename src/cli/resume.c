/*
 * resume.c — what --resume trusts from an earlier run. An input counts as done when
 * results.jsonl has an "ok" line for it AND every output that line names exists (outputs are
 * written by rename, so a file that exists is whole). The file is rewritten with exactly those
 * lines (atomically), so after any number of interrupted runs and resumes it holds one line
 * per input: error lines are dropped and their inputs tried again, and an input whose outputs
 * were written but whose line was lost to a kill is simply done again. A run that redoes
 * inputs for outputs asked anew appends their new lines beside the old, and at its end
 * drops the old ones (results_compact).
 */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* parse_line's pairs back into bytes: U+0001 U+0001 is the byte 1, U+0001 U+00XX the byte XX. */
static void unescape_bytes(char *s)
{
    unsigned char *r = (unsigned char *)s, *w = r;
    while (*r) {
        if (r[0] == 1 && r[1] == 1) {
            *w++ = 1;
            r += 2;
        } else if (r[0] == 1 && (r[1] == 0xc2 || r[1] == 0xc3) && (r[2] & 0xc0) == 0x80) {
            *w++ = (unsigned char)(((r[1] & 3) << 6) | (r[2] & 0x3f)); /* U+0080..U+00FF */
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

/* Whether r starts with the escape \uXXXX whose first two hex digits are d and one of
 * `second` (any case). */
static int u_escape(const char *r, const char *second)
{
    return r[0] == '\\' && r[1] == 'u' && (r[2] == 'd' || r[2] == 'D') && r[3] &&
           strchr(second, r[3]) && strspn(r + 4, "0123456789abcdefABCDEF") >= 2;
}

/* A results line as cJSON, with the bytes of non-UTF-8 names back in its strings. report.c
 * writes each such byte as \udcXX (Python's surrogateescape), a lone surrogate that cJSON
 * refuses: so, before parsing, \udcXX becomes \u0001\u00XX and a name's own \u0001
 * becomes \u0001\u0001 (unambiguous pairs), and after parsing, unescape_bytes turns each pair
 * back into its byte. A surrogate pair (Python's json.dumps writes one for a character
 * outside the BMP) stays as it is. NULL for a line that does not parse (torn by a kill). */
static cJSON *parse_line(const char *line)
{
    if (!strstr(line, "\\u")) /* no escape of the kind: as it is */
        return cJSON_Parse(line);
    const size_t len = strlen(line);
    char *t = malloc(2 * len + 1), *w = t; /* each 6-byte escape grows to 12 at most */
    if (!t)
        return NULL;
    for (const char *r = line; *r;) {
        if (u_escape(r, "89abAB")) { /* a high surrogate, and its low half if it follows */
            const size_t n = u_escape(r + 6, "cdefCDEF") ? 12 : 6;
            memcpy(w, r, n);
            w += n;
            r += n;
        } else if (u_escape(r, "cC") && strchr("89abcdefABCDEF", r[4])) {
            w += sprintf(w, "\\u0001\\u00%c%c", r[4], r[5]);
            r += 6;
        } else if (r[0] == '\\' && strncmp(r + 1, "u0001", 5) == 0) {
            w += sprintf(w, "\\u0001\\u0001");
            r += 6;
        } else if (r[0] == '\\' && r[1]) { /* any other escape, "\\\\" included: as is */
            *w++ = *r++;
            *w++ = *r++;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    cJSON *o = cJSON_Parse(t);
    free(t);
    const cJSON *input = o ? cJSON_GetObjectItemCaseSensitive(o, "input") : NULL;
    const cJSON *outs = o ? cJSON_GetObjectItemCaseSensitive(o, "outputs") : NULL;
    const cJSON *cwd = o ? cJSON_GetObjectItemCaseSensitive(o, "cwd") : NULL;
    if (cJSON_IsString(input))
        unescape_bytes(input->valuestring);
    if (cJSON_IsString(cwd))
        unescape_bytes(cwd->valuestring);
    for (const cJSON *it = cJSON_IsObject(outs) ? outs->child : NULL; it; it = it->next)
        if (cJSON_IsString(it))
            unescape_bytes(it->valuestring);
    return o;
}

/* Item `it` of object `parent`, a relative path, made absolute from the folder `cwd` (a new
 * string item under its name). 0 when out of memory. */
static int resolve_item(cJSON *parent, cJSON *it, const char *cwd)
{
    if (!cJSON_IsString(it) || it->valuestring[0] == '/')
        return 1;
    const size_t n = strlen(cwd) + strlen(it->valuestring) + 2;
    char *abs = malloc(n);
    cJSON *item =
        abs ? (snprintf(abs, n, "%s/%s", cwd, it->valuestring), cJSON_CreateString(abs)) : NULL;
    free(abs);
    if (item && cJSON_ReplaceItemInObjectCaseSensitive(parent, it->string, item))
        return 1;
    cJSON_Delete(item);
    return 0;
}

/* Where the relative paths of lines written from folder `cwd` lead from here: the folders
 * seen last, and whether their lines' paths are taken from there (1) or as written (0). */
typedef struct cwd_seen {
    char *cwd;
    int resolve;
    struct stat here; /* this process's working folder ("." at the start), here_known */
    int here_known;
} cwd_seen;

/* Whether lines written from cwd (absolute) have their relative paths taken from there: not
 * when that is this very folder (by identity: another spelling, a link), nor when it is
 * gone (a project folder moved whole, resumed from the same place in it: its paths as
 * written still hold). Otherwise yes, even where the paths as written name files from here
 * too: another project of the same layout would have them, and its outputs are not this
 * line's. A stat per new folder. */
static int resolve_from(cwd_seen *seen, const char *cwd)
{
    if (seen->cwd && strcmp(seen->cwd, cwd) == 0)
        return seen->resolve;
    struct stat sb;
    const int gone = stat(cwd, &sb) != 0;
    const int same = !gone && seen->here_known && sb.st_dev == seen->here.st_dev &&
                     sb.st_ino == seen->here.st_ino;
    free(seen->cwd);
    seen->cwd = strdup(cwd); /* NULL: no memory for the cache, only the next stat again */
    seen->resolve = !gone && !same;
    return seen->resolve;
}

/* A line written from another working folder (its "cwd", report.c): its relative paths (the
 * input, the outputs) made absolute from there (resolve_from says when), so that they name
 * the same files from here. Lines of runs before session 15 have none: their relative paths
 * are taken from here, as then. 0 when out of memory. */
static int resolve_line(cJSON *o, cwd_seen *seen)
{
    const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(o, "cwd");
    if (!cJSON_IsString(cwd) || cwd->valuestring[0] != '/' || !resolve_from(seen, cwd->valuestring))
        return 1;
    const char *from = cwd->valuestring; /* its item stays: only input and outputs change */
    cJSON *outs = cJSON_GetObjectItemCaseSensitive(o, "outputs");
    int ok = resolve_item(o, cJSON_GetObjectItemCaseSensitive(o, "input"), from);
    for (cJSON *it = cJSON_IsObject(outs) ? outs->child : NULL, *next; ok && it; it = next) {
        next = it->next;
        ok = resolve_item(outs, it, from);
    }
    return ok;
}

static int line_done(const cJSON *o)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(o, "status");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(o, "outputs");
    if (!cJSON_IsString(status) || strcmp(status->valuestring, "ok") != 0 || !cJSON_IsObject(outs))
        return 0;
    for (const cJSON *it = outs->child; it; it = it->next) {
        struct stat sb;
        if (!cJSON_IsString(it) || stat(it->valuestring, &sb) != 0 || !S_ISREG(sb.st_mode))
            return 0;
    }
    return 1;
}

typedef struct kept {
    char *input, *line, *base;
    size_t order;
    int dup;
} kept;

/* The output folder, to name a line's outputs relative to it whatever the spelling of -o in
 * the run that wrote it ("out/x", "./out/x" and "/abs/out/x" are all "x"): the folder's
 * identity, and the spellings already found to name it. */
typedef struct out_folder {
    int known;
    dev_t dev;
    ino_t ino;
    char *spelled[8];
    int n_spelled;
    char *last_miss; /* the folder of the last path found outside it: its neighbours (a
                        copied output folder's lines, all alike) cost no stat */
} out_folder;

static void out_folder_open(out_folder *f, const char *dir)
{
    struct stat sb;
    memset(f, 0, sizeof *f);
    if (stat(dir, &sb) == 0) {
        f->known = 1;
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
    }
}

static void out_folder_close(out_folder *f)
{
    for (int i = 0; i < f->n_spelled; i++)
        free(f->spelled[i]);
    free(f->last_miss);
}

/* path's part below the output folder, or NULL when no folder above it is that folder (a
 * copied output folder's lines name the old one's files). A stat per new spelling only. */
static const char *below_out(out_folder *f, const char *path)
{
    for (int i = 0; i < f->n_spelled; i++) {
        const size_t n = strlen(f->spelled[i]);
        if (strncmp(path, f->spelled[i], n) == 0 && path[n] == '/')
            return path + n + 1;
    }
    const char *slash = strrchr(path, '/');
    const size_t dir_len = slash ? (size_t)(slash - path) : 0;
    if (f->last_miss && strlen(f->last_miss) == dir_len &&
        strncmp(path, f->last_miss, dir_len) == 0)
        return NULL;
    char *buf = f->known ? strdup(path) : NULL;
    const char *rel = NULL;
    for (char *q = buf ? strchr(buf + 1, '/') : NULL; q && !rel; q = strchr(q + 1, '/')) {
        *q = 0;
        struct stat sb;
        if (stat(buf, &sb) == 0 && sb.st_dev == f->dev && sb.st_ino == f->ino) {
            rel = path + (q - buf) + 1;
            if (f->n_spelled < 8 && (f->spelled[f->n_spelled] = strdup(buf)))
                f->n_spelled++;
        }
        *q = '/';
    }
    free(buf);
    if (!rel && f->known) {
        free(f->last_miss);
        f->last_miss = strndup(path, dir_len);
    }
    return rel;
}

/* The out_base of an "ok" line below the output folder, relative to it: its first output's
 * path less the last two extensions ("out/sub/cat.overlay.png", "out/sub/cat.cam.npy":
 * "sub/cat"); NULL when none. */
static char *line_base(const cJSON *o, out_folder *f)
{
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(o, "outputs");
    const cJSON *first = outs ? outs->child : NULL;
    const char *rel = cJSON_IsString(first) ? below_out(f, first->valuestring) : NULL;
    char *b = rel ? strdup(rel) : NULL;
    if (b) {
        strip_extension(b);
        strip_extension(b);
    }
    return b;
}

/* Lines by output files (those without at the end), each group in file order. */
static int cmp_base(const void *a, const void *b)
{
    const kept *x = a, *y = b;
    int c = !x->base - !y->base;
    if (!c && x->base)
        c = strcmp(x->base, y->base);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int cmp_input(const void *a, const void *b)
{
    const kept *x = a, *y = b;
    int c = strcmp(x->input, y->input);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int cmp_order(const void *a, const void *b)
{
    const kept *x = a, *y = b;
    return (x->order > y->order) - (x->order < y->order);
}

static void free_lines(kept *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(k[i].input);
        free(k[i].line);
        free(k[i].base);
    }
    free(k);
}

/* The lines of results.jsonl: with `all`, every line that parses (a compaction at the end of
 * a run, which keeps its error lines), else the "ok" lines whose outputs all exist (what
 * --resume trusts). Each remembers its place. 1 when read, 0 when the file cannot be opened
 * (errno set; ENOENT: none), -1 out of memory (nothing returned). */
static int read_lines(const char *jsonl, const char *out_dir, int all, kept **out,
                      size_t *count)
{
    *out = NULL;
    *count = 0;
    FILE *f = fopen(jsonl, "r");
    if (!f)
        return 0;
    kept *k = NULL;
    size_t n = 0, cap_k = 0, cap = 0;
    char *line = NULL;
    int oom = 0;
    out_folder folder;
    out_folder_open(&folder, out_dir);
    cwd_seen seen = {0};
    seen.here_known = stat(".", &seen.here) == 0;
    while (!oom && getline(&line, &cap, f) > 0) {
        cJSON *o = parse_line(line); /* a torn last line (killed mid-write) fails here */
        if (o && !resolve_line(o, &seen)) {
            oom = 1;
            cJSON_Delete(o);
            break;
        }
        const cJSON *input = o ? cJSON_GetObjectItemCaseSensitive(o, "input") : NULL;
        if (cJSON_IsString(input) && (all || line_done(o))) {
            if (n == cap_k) {
                cap_k = cap_k ? 2 * cap_k : 1024;
                kept *nk = realloc(k, cap_k * sizeof *k);
                if (!nk) {
                    oom = 1;
                    cJSON_Delete(o);
                    break;
                }
                k = nk;
            }
            line[strcspn(line, "\n")] = 0;
            k[n] = (kept){strdup(input->valuestring), strdup(line), line_base(o, &folder), n, 0};
            oom = !k[n].input || !k[n].line;
            n++;
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    free(seen.cwd);
    out_folder_close(&folder);
    if (oom) {
        free_lines(k, n);
        return -1;
    }
    *out = k;
    *count = n;
    return 1;
}

/* Marks as dup every line that a later line supersedes: one about the same output files, or
 * about the same input (by its path as written), so that one line per input is left; leaves
 * k sorted by input. Two runs
 * both finished an input (a kill between its outputs and its line), or a later run redid it
 * asking for more outputs (its path spelled otherwise, maybe) and may have failed at it, or,
 * before session 11, another input wrote over them: the last run's line is the one that
 * holds. An input's path is never compared with output names (other things). */
static void mark_dups(kept *k, size_t n)
{
    qsort(k, n, sizeof *k, cmp_base);
    for (size_t i = 0; i + 1 < n; i++)
        k[i].dup = k[i].base && k[i + 1].base && strcmp(k[i].base, k[i + 1].base) == 0;
    qsort(k, n, sizeof *k, cmp_input);
    for (size_t i = 0; i + 1 < n; i++)
        k[i].dup |= strcmp(k[i].input, k[i + 1].input) == 0;
}

/* Writes the lines not marked dup, in their first order, to jsonl through a temp file and a
 * rename (a kill leaves the old file or the new one). 0 on failure (err set). */
static int rewrite_lines(const char *jsonl, kept *k, size_t n, char *err, size_t errlen)
{
    qsort(k, n, sizeof *k, cmp_order);
    char tmp[4200];
    FILE *out = open_temp(jsonl, "w", tmp, sizeof tmp);
    if (!out) {
        snprintf(err, errlen, "%s: cannot rewrite: %s", jsonl, strerror(errno));
        return 0;
    }
    int ok = 1;
    for (size_t i = 0; ok && i < n; i++)
        if (!k[i].dup)
            ok = fprintf(out, "%s\n", k[i].line) > 0;
    ok = (fclose(out) == 0) && ok;
    if (!ok || rename(tmp, jsonl) != 0) {
        snprintf(err, errlen, "%s: cannot rewrite: %s", jsonl, strerror(errno));
        unlink(tmp); /* ours: open_temp created it */
        return 0;
    }
    return 1;
}

int resume_load(const char *jsonl, const char *out_dir, int rewrite, resume_set *set, char *err,
                size_t errlen)
{
    memset(set, 0, sizeof *set);
    kept *k;
    size_t n;
    const int r = read_lines(jsonl, out_dir, 0, &k, &n);
    if (r == 0 && errno == ENOENT)
        return 1;
    if (r == 0) {
        snprintf(err, errlen, "%s: %s", jsonl, strerror(errno));
        return 0;
    }
    if (r > 0) {
        set->inputs = malloc(sizeof *set->inputs * (n ? n : 1));
        set->bases = malloc(sizeof *set->bases * (n ? n : 1));
    }
    if (r < 0 || !set->inputs || !set->bases) { /* nothing trusted, nor the file rewritten */
        free_lines(k, n);
        resume_free(set);
        snprintf(err, errlen, "%s: out of memory reading it", jsonl);
        return 0;
    }
    mark_dups(k, n); /* k by input: as the set is searched (resume_contains) */
    for (size_t i = 0; i < n; i++)
        if (!k[i].dup) { /* moved, not copied: the strings go with the set */
            set->bases[set->count] = k[i].base;
            set->inputs[set->count++] = k[i].input;
            k[i].base = k[i].input = NULL;
        }
    const int ok = !rewrite || rewrite_lines(jsonl, k, n, err, errlen);
    free_lines(k, n);
    if (!ok)
        resume_free(set);
    return ok;
}

int results_compact(const char *jsonl, const char *out_dir, char *err, size_t errlen)
{
    kept *k;
    size_t n;
    const int r = read_lines(jsonl, out_dir, 1, &k, &n);
    if (r <= 0) {
        snprintf(err, errlen, "%s: %s", jsonl, r < 0 ? "out of memory reading it"
                                                     : strerror(errno));
        return 0;
    }
    mark_dups(k, n);
    const int ok = rewrite_lines(jsonl, k, n, err, errlen);
    free_lines(k, n);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int resume_contains(const resume_set *set, const char *input)
{
    return set->count &&
           bsearch(&input, set->inputs, set->count, sizeof *set->inputs, cmp_str) != NULL;
}

void resume_free(resume_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        free(set->inputs[i]);
        free(set->bases[i]);
    }
    free(set->inputs);
    free(set->bases);
    memset(set, 0, sizeof *set);
}

FILE *open_temp(const char *path, const char *mode, char *buf, size_t len)
{
    static unsigned counter;
    const char *slash = strrchr(path, '/');
    const int dir_len = slash ? (int)(slash - path + 1) : 0;
    char xmode[8];
    snprintf(xmode, sizeof xmode, "%sx", mode); /* O_EXCL: never through a file or link
                                                   put there */
    /* "-cli": the library numbers its own temporaries in the same folders from 0 too. The
     * pid alone is not unique on a folder that several hosts (MPI ranks) or containers (each
     * its pid 1) share: a name taken goes to the next number. */
    for (int attempt = 0; attempt < 64; attempt++) {
        snprintf(buf, len, "%.*s.gradcam-tmp-cli.%d.%u", dir_len, path, (int)getpid(),
                 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        FILE *f = fopen(buf, xmode);
        if (f || errno != EEXIST)
            return f;
    }
    return NULL;
}

/* ".gradcam-tmp.<pid>.<n>" (the library's gc_image_write) or ".gradcam-tmp-cli.<pid>.<n>"
 * (open_temp): how our atomic writers name their files, and nothing a user would name one */
static int is_our_temp(const char *name)
{
    const char *p = strncmp(name, ".gradcam-tmp.", 13) == 0       ? name + 13
                    : strncmp(name, ".gradcam-tmp-cli.", 17) == 0 ? name + 17
                                                                  : NULL;
    if (!p)
        return 0;
    int dots = 0, digits = 0;
    for (; *p; p++) {
        if (*p == '.' && digits && !dots) {
            dots++;
            digits = 0;
        } else if (*p >= '0' && *p <= '9') {
            digits++;
        } else {
            return 0;
        }
    }
    return digits > 0;
}

size_t remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            removed += remove_stale_temps(path);
        else if (S_ISREG(sb.st_mode) && is_our_temp(e->d_name) && unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
