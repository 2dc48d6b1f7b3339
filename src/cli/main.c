/*
 * main.c — `gradcam`: Grad-CAM heatmaps for whole image folders.
 * Set-up and the exit status; options are in options.c, the work in pipeline.c.
 * Exit: 0 every input ok; 1 some inputs failed (the rest written); 2 usage or set-up error.
 *
 * Under mpirun the set-up runs in steps that every rank finishes before the next begins
 * (mpi_agree), so that one rank's set-up error stops them all before any work, and rank 0
 * alone changes shared files (stale temps, results.jsonl) while nobody writes.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "mpi_shard.h"

#define DEMO_MODEL "shapes-vgg.safetensors"

/* The bundled demo model: beside the installed program, or in the source tree it was built
 * from. */
static const char *find_demo_model(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *tries[3] = {"%s/../share/gradcam/" DEMO_MODEL, "%s/../models/demo/" DEMO_MODEL,
                            NULL};
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        for (int i = 0; tries[i]; i++) {
            snprintf(buf, len, tries[i], exe);
            if (access(buf, R_OK) == 0)
                return buf;
        }
    }
#ifdef GC_SOURCE_DIR
    snprintf(buf, len, "%s/models/demo/" DEMO_MODEL, GC_SOURCE_DIR);
    if (access(buf, R_OK) == 0)
        return buf;
#endif
    return NULL;
}

/* Set-up errors: each rank keeps its first message; at the next step boundary (agree) the
 * lowest failing rank prints it, so a run of K ranks says it once, and a fault that only one
 * node sees (a path missing there, a GPU) is still told. */
static char setup_msg[2048];

static int setup_error(const char *fmt, ...)
{
    if (!setup_msg[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(setup_msg, sizeof setup_msg, fmt, ap);
        va_end(ap);
    }
    return 2;
}

/* Every rank's rc to the largest; the first failing rank prints its message. */
static int agree(const mpi_world *w, int rc)
{
    int first;
    rc = mpi_agree(w, rc, &first);
    if (first == w->rank && setup_msg[0]) {
        char prefix[64] = "gradcam: ";
        if (w->size > 1 && w->rank != 0)
            snprintf(prefix, sizeof prefix, "gradcam: rank %d: ", w->rank);
        print_escaped_line(prefix, setup_msg);
    }
    return rc;
}

/* One context for o. Without --batch, on a GPU: GPU_DEFAULT_BATCH, halved while the device's
 * memory refuses it (said so), and the CPU's default again when --backend auto ended on the
 * CPU (said why). */
static gc_status create_one(const cli_config *cfg, gc_options o, gc_context **out)
{
    const int gpu_batch =
        !cfg->batch_given && o.backend != GC_BACKEND_CPU && gc_cuda_device_count() > 0;
    if (gpu_batch)
        o.max_batch = GPU_DEFAULT_BATCH;
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&o, &ctx);
    while (gpu_batch && st == GC_ERR_OUT_OF_MEMORY && o.max_batch > 1) {
        gc_context_destroy(ctx);
        ctx = NULL;
        o.max_batch /= 2;
        if ((st = gc_context_create(&o, &ctx)) == GC_OK)
            print_note(cfg, "device %d: batches of %d (%d did not fit in memory)", o.device,
                       o.max_batch, 2 * o.max_batch);
    }
    const char *why = st == GC_OK ? gc_backend_note(ctx) : NULL;
    if (why) {
        print_note(cfg, "%s; running on the CPU", why);
        if (gpu_batch && o.max_batch != cfg->lib.max_batch) { /* sized for a GPU */
            gc_context_destroy(ctx);
            ctx = NULL;
            o.max_batch = cfg->lib.max_batch;
            o.backend = GC_BACKEND_CPU; /* no second try of the GPU */
            st = gc_context_create(&o, &ctx);
        }
    }
    *out = ctx;
    return st;
}

/* per_device contexts per device (one in all but --device all / a list and
 * --workers-per-device), device by device; --class checked. */
static int create_contexts(const cli_config *cfg, gc_context **ctxs, int *n_ctx)
{
    for (int k = 0; k < cfg->n_devices * cfg->per_device; k++) {
        const int i = k / cfg->per_device;
        gc_options o = cfg->lib;
        o.device = cfg->devices[i];
        gc_context *ctx = NULL;
        if (create_one(cfg, o, &ctx) != GC_OK) {
            int rc = cfg->n_devices > 1
                         ? setup_error("device %d: %s", o.device, gc_last_error(ctx))
                         : setup_error("%s", gc_last_error(ctx));
            gc_context_destroy(ctx);
            return rc;
        }
        ctxs[(*n_ctx)++] = ctx;
    }
    gc_model_info info;
    gc_model_info_get(ctxs[0], &info);
    if (cfg->class_id >= info.num_classes)
        return setup_error("--class %d: the model has classes 0..%d", cfg->class_id,
                           info.num_classes - 1);
    return 0;
}

/* Bytes of images and rendered outputs the pipeline may hold at once: a quarter of the
 * usable memory, split among a node's MPI ranks; GRADCAM_HOST_MEMORY_MB (a whole number of
 * MiB) sets it. Batches of 128 large photos would otherwise queue tens of GB (two batches
 * decoded ahead, one in the library, two rendered behind). */
static size_t host_memory_budget(const cli_config *cfg, int local_ranks)
{
    const char *env = getenv("GRADCAM_HOST_MEMORY_MB");
    if (env && *env) {
        char *end = NULL;
        errno = 0;
        const unsigned long long mb = strtoull(env, &end, 10);
        if (*env != '-' && !errno && !*end && mb > 0 && mb <= (SIZE_MAX >> 20))
            return (size_t)mb << 20;
        print_note(cfg, "GRADCAM_HOST_MEMORY_MB='%s' is not a number of MiB: ignored", env);
    }
    return usable_memory() / 4 / (size_t)(local_ranks > 1 ? local_ranks : 1);
}

static int run(cli_config *cfg, const mpi_world *w)
{
    const int mpi = w->size > 1;
    gc_context *ctxs[MAX_DEVICES * MAX_PER_DEVICE] = {0};
    int n_ctx = 0, rep_open = 0, rc = 0, from_stdin = 0;
    report rep;
    input_list list = {0};
    resume_set earlier = {0};
    char err[1024], results[PATH_MAX], jsonl[PATH_MAX], demo[PATH_MAX], made[PATH_MAX] = "";
    int working = 0; /* the work began: what the run made of the output folder stays */
    cfg->rank = w->rank;
    cfg->ranks = w->size;
    for (int i = 0; i < cfg->n_inputs; i++)
        from_stdin |= strcmp(cfg->inputs[i], "-") == 0;
    cfg->cores = rank_cores(w->local_size); /* a node's ranks share its cores */
    if (!cfg->threads_given)
        cfg->threads = cfg->cores;
    if (w->local_size > 1 && !cfg->lib.threads)
        cfg->lib.threads = (int32_t)cfg->cores;
    cfg->host_memory = host_memory_budget(cfg, w->local_size);
    if (w->rank != 0)
        cfg->progress = 0; /* one progress line, rank 0's */
    snprintf(results, sizeof results, "%s/results.jsonl", cfg->out_dir);

    /* 1. every rank checks; nothing is written yet */
    struct stat sb;
    if (!cfg->lib.weights_path && !(cfg->lib.weights_path = find_demo_model(demo, sizeof demo)))
        rc = setup_error("no --weights given and the bundled demo model (%s) was not found "
                         "beside the program", DEMO_MODEL);
    else if (mpi && from_stdin)
        rc = setup_error("'-' (paths on stdin) under mpirun: only one rank would read them; "
                         "give files or folders, which the ranks share out");
    else if (!devices_resolve(cfg, mpi ? w->local_rank : -1, err, sizeof err))
        rc = setup_error("%s", err);
    else if (!make_parent_dirs_noting(results, made, sizeof made))
        rc = setup_error("cannot create %s: %s", cfg->out_dir, strerror(errno));
    else if (!cfg->resume && !cfg->overwrite &&
             ((stat(results, &sb) == 0 && sb.st_size > 0) || parts_exist(cfg->out_dir)))
        rc = setup_error("%s holds results of an earlier run; use --resume to go on or "
                         "--overwrite to start over", cfg->out_dir);
    if (!rc)
        rc = create_contexts(cfg, ctxs, &n_ctx);
    if ((rc = agree(w, rc)))
        goto done;

    /* 2. rank 0 tidies the folder while nobody writes: temp files of killed writes, part
     * files of a killed MPI run (merged for --resume), then the one-line-per-input rewrite */
    if (w->rank == 0) {
        if (cfg->resume || cfg->overwrite)
            remove_stale_temps(cfg->out_dir);
        if (!parts_merge(cfg->out_dir, !cfg->resume, err, sizeof err))
            rc = setup_error("%s", err);
        else if (cfg->resume && !resume_load(results, cfg->out_dir, 1, &earlier, err, sizeof err))
            rc = setup_error("--resume: %s", err);
        else if (mpi && !cfg->resume) { /* the ranks append to their parts; this is merged */
            FILE *f = fopen(results, "w");
            if (!f || fclose(f) != 0)
                rc = setup_error("%s: cannot write: %s", results, strerror(errno));
        }
    }
    if ((rc = agree(w, rc)))
        goto done;

    /* 3. every rank: what is done, where its lines go, its inputs */
    if (w->rank != 0 && cfg->resume &&
        !resume_load(results, cfg->out_dir, 0, &earlier, err, sizeof err))
        rc = setup_error("--resume: %s", err);
    if (mpi)
        part_path(cfg->out_dir, w->rank, jsonl, sizeof jsonl);
    else
        snprintf(jsonl, sizeof jsonl, "%s", results);
    if (!rc && !(rep_open = report_open(&rep, cfg, ctxs[0], jsonl, err, sizeof err)))
        rc = setup_error("%s", err);
    if (!rc && !inputs_collect(cfg, &list))
        rc = setup_error("out of memory listing the inputs");
    if ((rc = agree(w, rc)))
        goto done;

    /* 4. the work */
    working = 1;
    if (!from_stdin) {
        size_t members = 0;
        for (size_t i = 0; i < list.count; i++)
            members += in_shard(cfg, list.jobs[i]);
        report_set_total(&rep, members);
    }
    run_stats stats = {0};
    const size_t failed = pipeline_run(cfg, ctxs, n_ctx, &rep, &list, from_stdin,
                                       cfg->resume ? &earlier : NULL, &stats);
    report_finish(&rep);
    if (cfg->stats_path && !stats_write(cfg, &stats, err, sizeof err)) {
        fprintf(stderr, "gradcam: %s\n", err);
        rc = 1;
    }
    uint64_t sums[4] = {rep.done, rep.failed, list.count, stats.redone};
    if (!report_close(&rep))
        rc = 1; /* lines lost: said */
    rep_open = 0;

    /* 5. every rank's part file is closed: rank 0 merges them, and drops the lines of
     * inputs redone for more outputs than an earlier run wrote (one line per input) */
    mpi_sum(w, sums, 4);
    if (mpi && w->rank == 0 && !parts_merge(cfg->out_dir, 0, err, sizeof err)) {
        fprintf(stderr, "gradcam: %s (--resume merges what is left)\n", err);
        rc = 1;
    } else if (sums[3] && w->rank == 0 &&
               !results_compact(results, cfg->out_dir, err, sizeof err)) {
        fprintf(stderr, "gradcam: %s (--resume drops the stale lines)\n", err);
        rc = 1;
    }
    if (sums[0] == 0 && !from_stdin && sums[2] == 0) {
        if (w->rank == 0)
            fprintf(stderr, "gradcam: no images found in the inputs (.png .jpg .jpeg .webp)\n");
        rc = 1;
    }
    if (sums[1] || failed)
        rc = 1;
    rc = mpi_agree(w, rc, NULL);
done:
    if (rep_open)
        report_close(&rep);
    if (rc && !working) /* a set-up error (a usage error found late, say --labels): the
                           output folder this run created goes again while it is empty */
        remove_made_dirs(results, made);
    resume_free(&earlier);
    for (size_t i = 0; i < list.count; i++)
        job_free(list.jobs[i]);
    free(list.jobs);
    for (int i = 0; i < n_ctx; i++)
        gc_context_destroy(ctxs[i]);
    return rc;
}

/* Whether /proc/self/exe is this program's file: under valgrind or a loader run by hand
 * (ld-linux.so gradcam ...) it is that tool, and executing it again with our arguments would
 * fail. Compares it with the file /proc/self/maps maps this function's code from. */
static int self_exe_is_us(void)
{
    struct stat exe, code;
    FILE *f = fopen("/proc/self/maps", "r");
    if (stat("/proc/self/exe", &exe) != 0 || !f) {
        if (f)
            fclose(f);
        return 0;
    }
    const uintptr_t here = (uintptr_t)&self_exe_is_us;
    char line[PATH_MAX + 256];
    int us = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) < 2 || here < lo ||
            here >= hi)
            continue;
        line[strcspn(line, "\n")] = 0;
        us = at > 0 && line[at] == '/' && stat(line + at, &code) == 0 &&
             code.st_dev == exe.st_dev && code.st_ino == exe.st_ino;
        break;
    }
    fclose(f);
    return us;
}

int main(int argc, char **argv)
{
    /* The CPU backend's OpenMP workers spin between parallel regions by default, taking the
     * cores our decode and encode threads need (measured: the command took twice as long).
     * libgomp reads its wait policy when it loads, before main, so set it and start again
     * (not under valgrind or a loader run by hand: they keep the default policy). */
    if (!getenv("OMP_WAIT_POLICY") && self_exe_is_us() &&
        setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
        execv("/proc/self/exe", argv); /* on failure, just go on with the default policy */
    /* Decoded photos and their outputs are large, short-lived buffers passed between threads:
     * glibc would keep freed ones in per-thread arenas (the host memory budget bounds what
     * is in use, not what the allocator keeps). From 1 MiB up they are mapped and unmapped.
     * Setting that also pins the trim threshold at 128 KiB, and every PNG encode's zlib
     * state (~270 KiB, allocated and freed per image) then went back to the kernel and
     * faulted in again, each write fault a TLB shootdown across the threads: a third of the
     * command's CPU time was the kernel's. An arena keeps up to 4 MiB free at its top now. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
    cli_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.lib = gc_options_default();
    cfg.out_dir = "gradcam-out";
    cfg.class_id = -1;
    cfg.outputs = OUT_OVERLAY | OUT_HEATMAP;
    cfg.format = GC_FORMAT_PNG;
    cfg.colormap = GC_COLORMAP_JET;
    cfg.alpha = 0.4f;
    cfg.png_level = 1;
    cfg.jpeg_quality = 95;
    cfg.progress = -1;
    cfg.max_pixels = 100000000;
    cfg.per_device = 1;
    int rc = parse_args(argc, argv, &cfg);
    if (rc)
        return rc;
    mpi_world w;
    if (!mpi_start(&w))
        return 2;
    rc = run(&cfg, &w);
    mpi_stop(&w);
    return rc;
}
