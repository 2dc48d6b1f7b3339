/*
 * inputs.c — INPUT arguments to jobs: a file as given, a folder recursively (sorted, so runs
 * are reproducible), keeping the path relative to the folder for the outputs.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "key_map.h"

int has_image_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".webp") == 0);
}

void strip_extension(char *s)
{
    char *dot = strrchr(s, '.'), *slash = strrchr(s, '/');
    if (dot && (!slash || dot > slash))
        *dot = 0;
}

size_t path_parts(const char *path, int drop_up, char *out)
{
    size_t n = 0;
    for (const char *p = path; *p;) {
        const char *end = strchr(p, '/');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        const int skip = len == 0 || (len == 1 && p[0] == '.') ||
                         (drop_up && len == 2 && p[0] == '.' && p[1] == '.');
        if (!skip) {
            if (n)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len + (end != NULL);
    }
    out[n] = 0;
    return n;
}

/* A job for `path` whose outputs go to out_dir/rel without its extension. */
static job *job_make(const char *path, const char *rel, const char *out_dir)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->path = strdup(path);
    size_t len = strlen(out_dir) + strlen(rel) + 2;
    j->out_base = malloc(len);
    if (!j->path || !j->out_base) {
        job_free(j);
        return NULL;
    }
    snprintf(j->out_base, len, "%s/%s", out_dir, rel);
    strip_extension(j->out_base);
    /* output paths are built in 4096-byte buffers (PATH_MAX), with ".heatmap.jpeg.tmp.<pid>"
     * and more after the base: refused here, not cut short there (two cut names may meet) */
    if (strlen(j->out_base) + 64 > 4096)
        job_fail(j, "%s: its output path would be too long", path);
    return j;
}

job *job_new(const char *path, const char *root, const char *out_dir)
{
    const char *rel;
    if (root) {
        size_t n = strlen(root);
        rel = path + n;
        while (*rel == '/')
            rel++;
    } else {
        const char *slash = strrchr(path, '/');
        rel = slash ? slash + 1 : path;
    }
    return job_make(path, rel, out_dir);
}

job *job_new_streamed(const char *path, const char *out_dir)
{
    /* the path's components but "", "." and ".." (rsync -R's rule): below out_dir always */
    char *rel = malloc(strlen(path) + 1);
    if (!rel)
        return NULL;
    const size_t n = path_parts(path, 1, rel);
    job *j = job_make(path, n ? rel : "unnamed", out_dir);
    free(rel);
    if (j && !n && !j->failed)
        job_fail(j, "%s: not a file's path", path);
    return j;
}

void job_free(job *j)
{
    if (!j)
        return;
    free(j->path);
    free(j->out_base);
    gc_image_free(&j->img);
    free(j->cam);
    free(j->saliency);
    free(j->overlay);
    free(j->heatmap);
    free(j->error);
    free(j);
}

void job_fail(job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (msg) {
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    free(j->error);
    j->error = msg; /* NULL when out of memory: the report says so */
    j->failed = 1;
}

static int push(input_list *l, job *j)
{
    if (!j)
        return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        job **jobs = realloc(l->jobs, cap * sizeof *jobs);
        if (!jobs)
            return 0;
        l->jobs = jobs;
        l->cap = cap;
    }
    l->jobs[l->count++] = j;
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder being walked, and the folders it is in: a link back to one of them is a loop. */
typedef struct walk_dir {
    dev_t dev;
    ino_t ino;
    const struct walk_dir *up;
} walk_dir;

/* What a walk leaves out: the output folder (when it lies inside an input folder, a rerun or
 * --resume would take the outputs for inputs), and folders it is already inside (a symbolic
 * link back up would list the same images again and again, down to the system's limit). */
typedef struct walk_ctx {
    const cli_config *cfg;
    input_list *list;
    int have_out;
    dev_t out_dev;
    ino_t out_ino;
    char *out_real;   /* the output folder's real path, NULL when it does not exist yet   */
    int in_out_tree;  /* the folder argument being walked lies inside the output folder */
    size_t out_named; /* files skipped there for their output names (said at the end)   */
} walk_ctx;

/* "x.overlay.png", "x.heatmap.jpg", "x.guided.png" ...: named as this command's outputs */
int is_output_name(const char *name)
{
    static const char *const tails[] = {".overlay.png", ".overlay.jpg", ".heatmap.png",
                                         ".heatmap.jpg", ".guided.png",  ".guided.jpg"};
    const size_t n = strlen(name);
    for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
        const size_t t = strlen(tails[k]);
        if (n > t && strcmp(name + n - t, tails[k]) == 0)
            return 1;
    }
    return 0;
}

static int is_out_dir(const walk_ctx *wc, const struct stat *sb)
{
    return wc->have_out && sb->st_dev == wc->out_dev && sb->st_ino == wc->out_ino;
}

static int on_path(const walk_dir *w, const struct stat *sb)
{
    for (; w; w = w->up)
        if (w->dev == sb->st_dev && w->ino == sb->st_ino)
            return 1;
    return 0;
}

static int walk(const char *dir, const char *root, walk_ctx *wc, const walk_dir *here)
{
    const cli_config *cfg = wc->cfg;
    input_list *l = wc->list;
    DIR *d = opendir(dir);
    if (!d) {
        job *j = job_new(dir, NULL, cfg->out_dir);
        if (!j)
            return 0;
        job_fail(j, "%s: cannot read folder: %s", dir, strerror(errno));
        return push(l, j);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* ".", "..", hidden files and our own temp files */
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *p = malloc(len);
        if (!p) {
            ok = 0;
            free(names[i]);
            continue;
        }
        snprintf(p, len, "%s/%s", dir, names[i]);
        struct stat sb;
        const int found = stat(p, &sb) == 0;
        if (found && S_ISDIR(sb.st_mode)) {
            if (is_out_dir(wc, &sb)) {
                /* the output folder: never inputs */
            } else if (on_path(here, &sb)) {
                if (!cfg->quiet)
                    fprintf(stderr, "gradcam: %s leads back to a folder it is in: skipped\n", p);
            } else {
                const walk_dir sub = {sb.st_dev, sb.st_ino, here};
                ok &= walk(p, root, wc, &sub);
            }
        } else if (wc->in_out_tree && is_output_name(names[i])) {
            wc->out_named++; /* an earlier run's output, most likely: never read back */
        } else if (has_image_extension(names[i])) {
            job *j = job_new(p, root, cfg->out_dir);
            if (j && found && S_ISREG(sb.st_mode))
                j->id = file_key(&sb);
            else if (j && found) /* a FIFO would block the decoder that opens it for good */
                job_fail(j, "%s: not a regular file (a FIFO, socket or device): not read", p);
            ok &= push(l, j);
        }
        free(p);
        free(names[i]);
    }
    free(names);
    return ok;
}

/* Whether folder `dir` is out_real or below it (by their real paths). */
int inside(const char *dir, const char *out_real)
{
    if (!out_real)
        return 0;
    char *real = realpath(dir, NULL);
    const size_t n = strlen(out_real);
    const int in = real && strncmp(real, out_real, n) == 0 &&
                   (real[n] == '/' || real[n] == 0 || (n == 1 && out_real[0] == '/'));
    free(real);
    return in;
}

int inputs_collect(const cli_config *cfg, input_list *out)
{
    memset(out, 0, sizeof *out);
    walk_ctx wc = {.cfg = cfg, .list = out};
    struct stat ob;
    if (stat(cfg->out_dir, &ob) == 0 && S_ISDIR(ob.st_mode)) {
        wc.have_out = 1;
        wc.out_dev = ob.st_dev;
        wc.out_ino = ob.st_ino;
        wc.out_real = realpath(cfg->out_dir, NULL);
    }
    for (int i = 0; i < cfg->n_inputs; i++) {
        const char *arg = cfg->inputs[i];
        if (strcmp(arg, "-") == 0)
            continue;
        /* drop trailing slashes so relative paths come out clean */
        char *p = strdup(arg);
        size_t len = strlen(p);
        while (len > 1 && p[len - 1] == '/')
            p[--len] = 0;
        struct stat sb;
        const int found = stat(p, &sb) == 0;
        int ok;
        if (found && S_ISDIR(sb.st_mode) && is_out_dir(&wc, &sb)) {
            job *j = job_new(p, NULL, cfg->out_dir);
            ok = push(out, j);
            if (j) {
                job_fail(j,
                         "%s: is the output folder too (-o %s): its outputs would be read as "
                         "inputs and could replace input files; give another output folder",
                         p, cfg->out_dir);
            }
        } else if (found && S_ISDIR(sb.st_mode)) {
            /* a folder inside the output folder may hold outputs (-o . photos: photos/sub's
             * go to ./sub, into photos/sub when photos has a folder photos) */
            const walk_dir top = {sb.st_dev, sb.st_ino, NULL};
            wc.in_out_tree = inside(p, wc.out_real);
            ok = walk(p, p, &wc, &top);
        } else {
            job *j = job_new(p, NULL, cfg->out_dir);
            if (j && found && S_ISREG(sb.st_mode))
                j->id = file_key(&sb);
            ok = push(out, j);
        }
        free(p);
        if (!ok) {
            free(wc.out_real);
            return 0;
        }
    }
    free(wc.out_real);
    if (wc.out_named && !cfg->quiet && cfg->rank == 0)
        fprintf(stderr,
                "gradcam: note: %zu file%s inside the output folder named like this "
                "command's outputs (*.overlay.png, *.heatmap.png, *.guided.png, .jpg) left "
                "out\n",
                wc.out_named, wc.out_named == 1 ? "" : "s");
    return 1;
}

int in_shard(const cli_config *cfg, const job *j)
{
    const uint64_t n = cfg->shard_n > 1 ? (uint64_t)cfg->shard_n : 1,
                   k = cfg->ranks > 1 ? (uint64_t)cfg->ranks : 1;
    if (n == 1 && k == 1)
        return 1;
    const char *rel = j->out_base + strlen(cfg->out_dir);
    while (*rel == '/')
        rel++;
    /* FNV-1a, 64-bit, but from 1469598103934665603: a digit short of FNV's offset basis
     * 14695981039346656037. Kept as it is, since another start would reshuffle the shards of
     * job arrays already under way (docs/cluster.md gives the hash in Python). */
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    /* the shard by h % N as always; its ranks by the next digit, (h / N) % K, so that the
     * ranks partition exactly the shard's inputs */
    return h % n == (uint64_t)cfg->shard_i && (h / n) % k == (uint64_t)cfg->rank;
}
