/*
 * stats.c — where the command's time went (--stats FILE): each pipeline stage's busy and
 * waiting thread-seconds, the process's CPU time, and which stage holds the run back. The
 * benchmark's `files` mode records it; a user sweeping a collection reads the same line.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"

static double seconds(struct timeval tv)
{
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

process_usage process_usage_now(void)
{
    process_usage u = {0.0, 0.0, 0};
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return u;
    u.sys_s = seconds(ru.ru_stime);
    u.cpu_s = seconds(ru.ru_utime) + u.sys_s;
    u.minflt = ru.ru_minflt;
    return u;
}

void stage_thread_usage(stage_time *t)
{
#ifdef RUSAGE_THREAD
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return;
    t->cpu_s += seconds(ru.ru_utime) + seconds(ru.ru_stime);
    t->sys_s += seconds(ru.ru_stime);
    t->minflt += ru.ru_minflt;
    t->nvcsw += ru.ru_nvcsw;
    t->nivcsw += ru.ru_nivcsw;
#else
    (void)t;
#endif
}

/* The machine's CPU time by kind (the first line of /proc/stat, in clock ticks). */
static void proc_stat_cpu(machine_usage *m)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0}; /* user nice system idle iowait irq softirq steal */
    const long hz = sysconf(_SC_CLK_TCK);
    int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                         &v[3], &v[4], &v[5], &v[6], &v[7])
                : 0;
    if (f)
        fclose(f);
    if (got < 8 || hz <= 0)
        return;
    const double t = 1.0 / (double)hz;
    m->busy_s = t * (double)(v[0] + v[1] + v[2] + v[5] + v[6]);
    m->idle_s = t * (double)v[3];
    m->iowait_s = t * (double)v[4];
    m->steal_s = t * (double)v[7];
}

/* A /proc/pressure file's "some" and "full" totals (microseconds) in seconds. */
static void pressure(const char *what, double *some, double *full)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/pressure/%s", what);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char kind[8];
    unsigned long long total;
    while (fscanf(f, "%7s avg10=%*f avg60=%*f avg300=%*f total=%llu", kind, &total) == 2) {
        if (!strcmp(kind, "some") && some)
            *some = 1e-6 * (double)total;
        else if (!strcmp(kind, "full") && full)
            *full = 1e-6 * (double)total;
    }
    fclose(f);
}

machine_usage machine_usage_now(void)
{
    machine_usage m = {-1, -1, -1, -1, -1, -1, -1, -1};
    proc_stat_cpu(&m);
    pressure("cpu", &m.cpu_some_s, NULL);
    pressure("io", &m.io_some_s, &m.io_full_s);
    pressure("memory", &m.memory_some_s, NULL);
    return m;
}

static double delta(double a, double b)
{
    return a < 0.0 || b < 0.0 ? -1.0 : b - a;
}

machine_usage machine_usage_delta(machine_usage a, machine_usage b)
{
    machine_usage d = {delta(a.busy_s, b.busy_s),         delta(a.idle_s, b.idle_s),
                       delta(a.iowait_s, b.iowait_s),     delta(a.steal_s, b.steal_s),
                       delta(a.cpu_some_s, b.cpu_some_s), delta(a.io_some_s, b.io_some_s),
                       delta(a.io_full_s, b.io_full_s),   delta(a.memory_some_s, b.memory_some_s)};
    return d;
}

/* "name":value, or null where unknown */
static void json_seconds(FILE *f, const char *name, double v)
{
    if (v < 0.0)
        fprintf(f, "\"%s\":null", name);
    else
        fprintf(f, "\"%s\":%.4f", name, v);
}

static double share(double busy, int threads, double wall)
{
    return threads > 0 && wall > 0.0 ? busy / (threads * wall) : 0.0;
}

/* The stage that bounds the run: the library calls when their thread(s) were busy most of
 * the time (the device, or the CPU backend's compute); else the cores, when decode and
 * encode (which share them) kept them nearly full; else the busiest of decode and encode. */
const char *stats_bound(const run_stats *s)
{
    if (!s->batchers || !s->images || s->wall_s <= 0.0)
        return "none"; /* nothing ran (or every input was done before: --resume) */
    const double lib = share(s->library.busy_s, s->batchers, s->wall_s),
                 cpu = share(s->cpu_s, s->cores, s->wall_s),
                 dec = share(s->decode.busy_s, s->decode_threads, s->wall_s),
                 enc = share(s->encode.busy_s, s->encode_threads, s->wall_s);
    if (lib >= 0.85)
        return "library";
    if (cpu >= 0.85)
        return "cpu";
    if (lib >= dec && lib >= enc)
        return "library";
    return dec >= enc ? "decode" : "encode";
}

static void stage_json(FILE *f, const char *name, const stage_time *t, int threads, double wall)
{
    fprintf(f, "\"%s\":{\"threads\":%d,\"busy_s\":%.4f,\"wait_input_s\":%.4f,"
               "\"wait_output_s\":%.4f,\"busy_share\":%.4f,\"cpu_s\":%.4f,\"sys_s\":%.4f,"
               "\"minflt\":%ld,\"nvcsw\":%ld,\"nivcsw\":%ld}",
            name, threads, t->busy_s, t->wait_in_s, t->wait_out_s,
            share(t->busy_s, threads, wall), t->cpu_s, t->sys_s, t->minflt, t->nvcsw, t->nivcsw);
}

int stats_write(const cli_config *cfg, const run_stats *s, char *err, size_t errlen)
{
    char path[4096];
    if (cfg->ranks > 1)
        snprintf(path, sizeof path, "%s.rank%d", cfg->stats_path, cfg->rank);
    else
        snprintf(path, sizeof path, "%s", cfg->stats_path);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return 0;
    }
    /* other_cpu_s: the threads of no stage (the library's OpenMP workers, the feeder, the
     * CUDA runtime's) */
    const double other = s->cpu_s - s->decode.cpu_s - s->library.cpu_s - s->encode.cpu_s;
    fprintf(f, "{\"wall_s\":%.4f,\"images\":%zu,\"cpu_s\":%.4f,\"cores\":%d,\"cpu_share\":%.4f,"
               "\"sys_s\":%.4f,\"minflt\":%ld,\"other_cpu_s\":%.4f,\"io_nice\":%d,",
            s->wall_s, s->images, s->cpu_s, s->cores, share(s->cpu_s, s->cores, s->wall_s),
            s->sys_s, s->minflt, other > 0.0 ? other : 0.0, s->io_nice);
    if (s->io_nice && s->io_nice_seen != INT_MIN) /* the kernel's word for it */
        fprintf(f, "\"io_nice_seen\":%d,", s->io_nice_seen);
    stage_json(f, "decode", &s->decode, s->decode_threads, s->wall_s);
    fputc(',', f);
    stage_json(f, "library", &s->library, s->batchers, s->wall_s);
    fprintf(f, ",\"calls\":%zu,\"call_images\":%zu,", s->calls, s->call_images);
    stage_json(f, "encode", &s->encode, s->encode_threads, s->wall_s);
    const char *bound = stats_bound(s);
    /* the machine's side: CPU time its hypervisor gave away (steal), waits on I/O, and the
     * pressure stalls of every task on it (not only ours) */
    const machine_usage *m = &s->machine;
    const struct {
        const char *name;
        double v;
    } fields[] = {{"busy_s", m->busy_s},
                  {"idle_s", m->idle_s},
                  {"iowait_s", m->iowait_s},
                  {"steal_s", m->steal_s},
                  {"psi_cpu_some_s", m->cpu_some_s},
                  {"psi_io_some_s", m->io_some_s},
                  {"psi_io_full_s", m->io_full_s},
                  {"psi_memory_some_s", m->memory_some_s}};
    fprintf(f, ",\"machine\":{");
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        if (k)
            fputc(',', f);
        json_seconds(f, fields[k].name, fields[k].v);
    }
    fprintf(f, "},\"bound\":\"%s\"}\n", bound);
    const int ok = !ferror(f) & (fclose(f) == 0);
    if (!ok)
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
    print_note(cfg,
               "%zu images in %.2f s: decode %.0f%% busy (%d thread%s), library %.0f%% (%d "
               "thread%s, %zu calls of %.1f images), encode %.0f%% (%d thread%s), CPU %.0f%% "
               "of %d core%s; bound by %s",
               s->images, s->wall_s, 100 * share(s->decode.busy_s, s->decode_threads, s->wall_s),
               s->decode_threads, s->decode_threads == 1 ? "" : "s",
               100 * share(s->library.busy_s, s->batchers, s->wall_s),
               s->batchers, s->batchers == 1 ? "" : "s", s->calls,
               s->calls ? (double)s->call_images / (double)s->calls : 0.0,
               100 * share(s->encode.busy_s, s->encode_threads, s->wall_s), s->encode_threads,
               s->encode_threads == 1 ? "" : "s", 100 * share(s->cpu_s, s->cores, s->wall_s),
               s->cores, s->cores == 1 ? "" : "s",
               !strcmp(bound, "cpu")       ? "the CPU (decode + encode)"
               : !strcmp(bound, "library") ? "the library's batches"
               : !strcmp(bound, "none")    ? "nothing (no image ran)"
                                           : bound);
    return ok;
}
