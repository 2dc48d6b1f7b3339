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
    fprintf(f, ",\"bound\":\"%s\"}\n", bound);
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
