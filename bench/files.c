/*
 * files.c — the files mode: generated photo-like JPEG folders (made once, on the thread
 * pool) and timed runs of the `gradcam` command on them (posix_spawn), whole process.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

typedef struct jpeg_job {
    const char *dir;
    int32_t w, h;
    uint8_t *bufs; /* one image per thread */
    atomic_int failures;
    char err[256];
} jpeg_job;

/* A photo-like image: smooth colour waves (per-image frequencies) plus noise, so that JPEG
 * sizes and decode times are like a photograph's rather than a flat or random image's. */
static void jpeg_one(void *arg, int32_t item, int32_t thread)
{
    jpeg_job *j = arg;
    uint8_t *px = j->bufs + (size_t)thread * j->w * j->h * 3;
    float sx[3][8192], cy[3][8192];
    for (int c = 0; c < 3; c++) {
        for (int x = 0; x < j->w; x++)
            sx[c][x] = sinf((float)x / (9.0f + (float)c + (float)(item % 5)));
        for (int y = 0; y < j->h; y++)
            cy[c][y] = cosf((float)y / 13.0f - (float)c + 0.1f * (float)(item % 7));
    }
    uint64_t seed = 0x1234567ULL + (uint64_t)item * 0x9E3779B97F4A7C15ULL;
    for (int y = 0; y < j->h; y++)
        for (int x = 0; x < j->w; x++)
            for (int c = 0; c < 3; c++) {
                float v = 127.0f + 100.0f * sx[c][x] * cy[c][y] +
                          (float)((int)(rng_next(&seed) >> 60) - 8);
                px[((size_t)y * j->w + x) * 3 + c] =
                    (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
            }
    char path[4096];
    snprintf(path, sizeof path, "%s/p%06d.jpg", j->dir, item);
    gc_image img = {px, j->w, j->h, 3 * j->w};
    char err[256];
    if (gc_image_write(path, &img, GC_FORMAT_JPEG, 0, 90, err, sizeof err) != GC_OK) {
        if (atomic_fetch_add(&j->failures, 1) == 0)
            snprintf(j->err, sizeof j->err, "%s", err);
    }
}

int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* `n` JPEGs of w x h in dir (made once: a ".complete-N" marker says they are there), and a
 * list file of the first `small` of them. */
int make_jpegs(const char *dir, int32_t n, int32_t w, int32_t h, int32_t small,
                      pool *threads, char *err, size_t err_len)
{
    char marker[4096], list[4096];
    snprintf(marker, sizeof marker, "%s/.complete-%d", dir, n);
    snprintf(list, sizeof list, "%s.list-%d", dir, small);
    if (!is_file(marker)) {
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            snprintf(err, err_len, "mkdir %s: %s", dir, strerror(errno));
            return 0;
        }
        jpeg_job j = {.dir = dir, .w = w, .h = h};
        atomic_init(&j.failures, 0);
        j.bufs = malloc((size_t)threads->threads * w * h * 3);
        if (!j.bufs) {
            snprintf(err, err_len, "out of memory");
            return 0;
        }
        double t0 = now_ms();
        pool_run(threads, jpeg_one, &j, n);
        free(j.bufs);
        if (atomic_load(&j.failures)) {
            snprintf(err, err_len, "writing JPEGs: %s", j.err);
            return 0;
        }
        FILE *f = fopen(marker, "w");
        if (f)
            fclose(f);
        fprintf(stderr, "gradcam-bench: %d JPEGs %dx%d in %s (%.1f s)\n", n, w, h, dir,
                (now_ms() - t0) * 1e-3);
    }
    FILE *f = fopen(list, "w");
    if (!f) {
        snprintf(err, err_len, "cannot write %s", list);
        return 0;
    }
    for (int32_t i = 0; i < small && i < n; i++)
        fprintf(f, "%s/p%06d.jpg\n", dir, i);
    fclose(f);
    return 1;
}

/* Runs argv with stdin from `in` (or /dev/null) and stdout+stderr appended to `log`.
 * Returns the exit status (-1: could not start; 128+N: killed by signal N). */
static int spawn_wait(char *const argv[], const char *in, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in ? in : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int32_t count_ok_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[16384];
    int32_t n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, "\"status\":\"ok\"") || strstr(line, "\"status\": \"ok\"");
    fclose(f);
    return n;
}

/* The kind of filesystem dir is on, by statfs's magic number (linux/magic.h), into name:
 * its inode allocation and folder locking are part of what files mode measures. */
static void filesystem_name(const char *dir, char *name, size_t len)
{
    static const struct {
        unsigned long magic;
        const char *name;
    } known[] = {{0xEF53, "ext2/3/4"},   {0x01021994, "tmpfs"}, {0x58465342, "xfs"},
                 {0x9123683E, "btrfs"},  {0x794C7630, "overlayfs"}, {0x6969, "nfs"},
                 {0x65735546, "fuse"},   {0x2FC12FC1, "zfs"}};
    struct statfs sf;
    if (statfs(dir, &sf) != 0) {
        snprintf(name, len, "unknown");
        return;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if ((unsigned long)sf.f_type == known[i].magic) {
            snprintf(name, len, "%s", known[i].name);
            return;
        }
    snprintf(name, len, "0x%lx", (unsigned long)sf.f_type);
}

void remove_tree(const char *dir, const char *log)
{
    char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
    spawn_wait(argv, NULL, log);
}

/* One run of the command; returns wall seconds, or -1 (err set). *ok_images: ok lines. */
static double run_command(const bench_args *a, const char *bin, const char *input,
                          const char *stdin_list, const char *out, gc_precision prec,
                          gc_method method, int32_t batch, const char *log,
                          const char *stats, int32_t *ok_images, char *err, size_t err_len)
{
    char b[16], t[16], d[16], wk[16];
    snprintf(b, sizeof b, "%d", batch);
    snprintf(wk, sizeof wk, "%d", a->files_workers);
    snprintf(t, sizeof t, "%d", a->threads);
    snprintf(d, sizeof d, "%d", a->device);
    char *argv[32];
    int k = 0;
    argv[k++] = (char *)bin;
    argv[k++] = "-w";
    argv[k++] = (char *)a->weights;
    argv[k++] = "-o";
    argv[k++] = (char *)out;
    argv[k++] = "--outputs";
    argv[k++] = "overlay";
    argv[k++] = "--format";
    argv[k++] = (char *)a->files_format;
    if (a->files_workers > 1) {
        argv[k++] = "--workers-per-device";
        argv[k++] = wk;
    }
    argv[k++] = "--backend";
    argv[k++] = (char *)backend_name(a->backend);
    argv[k++] = "--device";
    argv[k++] = d;
    if (prec != GC_PRECISION_AUTO) {
        argv[k++] = "--precision";
        argv[k++] = (char *)gc_precision_name(prec);
    }
    if (method != GC_METHOD_GRADCAM) {
        argv[k++] = "--method";
        argv[k++] = (char *)method_name(method);
    }
    argv[k++] = "--batch";
    argv[k++] = b;
    if (a->threads > 0) {
        argv[k++] = "--threads";
        argv[k++] = t;
    }
    if (a->layer) {
        argv[k++] = "--layer";
        argv[k++] = (char *)a->layer;
    }
    if (stats) {
        argv[k++] = "--stats";
        argv[k++] = (char *)stats;
    }
    argv[k++] = "--overwrite";
    argv[k++] = "-q";
    argv[k++] = (char *)input;
    argv[k] = NULL;
    remove_tree(out, log);
    double t0 = now_ms();
    int rc = spawn_wait(argv, stdin_list, log);
    double t1 = now_ms();
    char results[4096];
    snprintf(results, sizeof results, "%s/results.jsonl", out);
    *ok_images = count_ok_lines(results);
    remove_tree(out, log);
    if (rc != 0 && rc != 1) {
        snprintf(err, err_len, "%s exited with status %d (log: %s)", bin, rc, log);
        return -1.0;
    }
    return (t1 - t0) * 1e-3;
}

/* The command's --stats object of the last run (one line of JSON), or "" without one. */
static void read_stats(const char *path, char *out, size_t len)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    /* one whole line, an object: else nothing (a cut line would break the record's JSON) */
    if (!fgets(out, (int)len, f) || out[0] != '{' || !strchr(out, '\n'))
        out[0] = 0;
    fclose(f);
    out[strcspn(out, "\n")] = 0;
    if (*out && out[strlen(out) - 1] != '}')
        out[0] = 0;
}

void files_mode(const bench_args *a, pool *threads, bench_mode *m, const char *bin,
                       const char *root)
{
    char dir[4096], list[4096], out[4096], log[4096];
    snprintf(dir, sizeof dir, "%s/jpeg-%dx%d-%d", root, a->image_w, a->image_h, a->files);
    snprintf(list, sizeof list, "%s.list-%d", dir, m->batch);
    snprintf(out, sizeof out, "%s/out", root);
    snprintf(log, sizeof log, "%s/command-%s-b%d.log", root, gc_precision_name(m->precision),
             m->batch);
    if (!is_file(bin)) {
        snprintf(m->error, sizeof m->error, "no gradcam command at %s (--gradcam-bin)", bin);
        return;
    }
    if (!make_jpegs(dir, a->files, a->image_w, a->image_h, m->batch, threads, m->error,
                    sizeof m->error))
        return;
    /* start-up: a run on one batch (weights, context, first batch) */
    int32_t ok_small = 0, ok_big = 0;
    double small = run_command(a, bin, "-", list, out, m->precision, m->method, m->batch, log,
                               NULL, &ok_small, m->error, sizeof m->error);
    char stats[4096];
    snprintf(stats, sizeof stats, "%s/stats.json", root);
    if (small < 0.0)
        return;
    for (int32_t r = 0; r < a->files_runs; r++) {
        m->files_epoch[0] = epoch_s();
        remove(stats);
        double s = run_command(a, bin, dir, NULL, out, m->precision, m->method, m->batch, log,
                               stats, &ok_big, m->error, sizeof m->error);
        m->files_epoch[1] = epoch_s();
        if (s < 0.0)
            return;
        if (!a->json && !a->jsonl)
            fprintf(stderr, "  files %s b%d run %d/%d: %.2f s, %d ok\n",
                    gc_precision_name(m->precision), m->batch, r + 1, a->files_runs, s, ok_big);
        m->samples_ms[m->count++] = s * 1e3;
    }
    summarize(m);
    read_stats(stats, m->files_stats, sizeof m->files_stats);
    m->files_images = a->files;
    m->files_ok = ok_big;
    m->files_wall_s = m->median_ms * 1e-3;
    m->files_startup_s = small;
    filesystem_name(root, m->files_fs, sizeof m->files_fs);
    const int32_t rest = a->files - (m->batch < a->files ? m->batch : 0);
    m->files_steady_ips = m->files_wall_s > small && rest > 0 ? rest / (m->files_wall_s - small)
                                                              : 0.0;
    if (ok_big != a->files || ok_small != (m->batch < a->files ? m->batch : a->files)) {
        snprintf(m->error, sizeof m->error,
                 "the command wrote %d of %d ok results (start-up run: %d); log: %s", ok_big,
                 a->files, ok_small, log);
        return;
    }
    m->ok = 1;
}
