/*
 * cli.h — the `gradcam` command: shared types of its parts.
 *   main.c      set-up (in the order several MPI ranks need), exit status
 *   options.c   the command line
 *   devices.c   --device N | all | N,M,...: which GPUs, one context each
 *   inputs.c    files, folders (recursive) and stdin to jobs with output paths
 *   pipeline.c  decode workers -> batches on the context(s) -> render/encode workers
 *   report.c    results.jsonl lines, .npy files, progress on stderr, messages
 *   resume.c    what --resume keeps from an earlier run
 *   parts.c     per-rank results files of an MPI run, merged into results.jsonl
 *   mpi_shard.c ranks under mpirun (no-op stubs without GC_WITH_MPI), see mpi_shard.h
 * The command uses only the public API (include/gradcam.h), like any user program.
 */
#ifndef GC_CLI_H
#define GC_CLI_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "gradcam.h"

enum { OUT_OVERLAY = 1, OUT_HEATMAP = 2, OUT_CAM = 4, OUT_GUIDED = 8, OUT_LAST = OUT_GUIDED };

#define MAX_DEVICES 64
#define GPU_DEFAULT_BATCH 128 /* --batch on a GPU: within 1% of 256's speed on an H100 (bf16) */
#define MAX_PER_DEVICE 8 /* --workers-per-device */

typedef struct cli_config {
    gc_options lib;              /* weights, layer, arch, backend, precision, ...        */
    const char *out_dir;
    int32_t class_id;            /* -1: top-1                                             */
    int outputs;                 /* OUT_* bits                                            */
    gc_file_format format;
    gc_colormap colormap;
    float alpha;
    int png_level, jpeg_quality;
    int threads;                 /* decode/encode threads                                 */
    const char *labels_path;
    int resume, overwrite;
    int progress;                /* -1 auto (a terminal), 0 quiet, 1 forced               */
    int64_t max_pixels;
    int shard_i, shard_n;        /* --shard I/N; shard_n 0: every input                   */
    int rank, ranks;             /* MPI: this process's sub-shard of the shard (0 / 1)    */
    int threads_given;           /* --threads was given (MPI ranks split the cores else)  */
    const char *stats_path;      /* --stats FILE: where the time went, as JSON (stats.c)   */
    size_t host_memory;          /* bytes of decoded pixels and rendered outputs in flight:
                                    a quarter of RAM, shared by a node's MPI ranks, or
                                    GRADCAM_HOST_MEMORY_MB (pipeline.c)                   */
    int cores;                   /* the cores this process may use, its MPI rank's share of
                                    the node's (machine.c), read once at start             */
    int device_given, device_all;/* --device given; --device all                          */
    int quiet;                   /* -q: no progress line, no notes                        */
    int batch_given;             /* --batch given (else 8 on the CPU, GPU_DEFAULT_BATCH on a GPU) */
    int32_t devices[MAX_DEVICES];/* --device N,M,...; after devices_resolve: one context
                                    per entry                                             */
    int n_devices;
    int per_device;              /* --workers-per-device: contexts (workers) per device    */
    char **inputs;
    int n_inputs;
} cli_config;

/* One input's way through the pipeline. */
typedef struct job {
    char *path;                  /* the input file                                        */
    char *out_base;              /* OUT/rel/dir/stem: outputs append ".overlay.png" etc.  */
    uint64_t id;                 /* file_key of the input file when listed, 0 if unknown  */
    gc_image img;                /* decoded pixels (owned)                                */
    int failed;
    char *error;                 /* why it failed (owned; job_fail), NULL when out of memory:
                                    allocated only then, a listed job stays small          */
    gc_result res;
    float *cam;                  /* (cam_h, cam_w), owned                                 */
    float *saliency;             /* (3, in_h, in_w) guided gradient, owned; guided methods */
    uint8_t *overlay, *heatmap;  /* (img.height, img.width, 3), owned: rendered by the
                                    library with the batch (gc_explain_render), or NULL */
    size_t cost;                 /* its share of cfg->host_memory, taken once decoded     */
} job;

/* ---- inputs.c */
typedef struct input_list {
    job **jobs;
    size_t count, cap;
} input_list;
/* Expands every INPUT argument except "-" (files as given, folders recursively, sorted).
 * Problems (missing paths) become failed jobs, so that they get their results line. */
int inputs_collect(const cli_config *cfg, input_list *out);
/* A job for one path found under `root` (NULL: a file given directly, named by its file name
 * alone). */
job *job_new(const char *path, const char *root, const char *out_dir);
/* A job for a path read from stdin: its outputs mirror the path below out_dir, without its
 * "", "." and ".." components (find /data | gradcam -: out/data/a/x.*). */
job *job_new_streamed(const char *path, const char *out_dir);
void job_free(job *j);
/* Marks j failed, with the message (any length: the whole path and the cause). */
void job_fail(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Room for a message from the library about one file (gc_image_read/gc_image_write): its
 * path (up to PATH_MAX) and the cause. */
#define GC_CLI_MSG (4096 + 512)
int has_image_extension(const char *name);
/* "x.overlay.png", "x.heatmap.jpg", "x.guided.png" ...: a file name of this command's outputs */
int is_output_name(const char *name);
/* Whether folder `dir` is out_real or below it, by their real paths (out_real NULL: no). */
int inside(const char *dir, const char *out_real);
/* Cuts s's last extension off ("a/b.c.png" -> "a/b.c"; none past the last '/': unchanged). */
void strip_extension(char *s);
/* path's components but "" and "." (and ".." with drop_up), joined by '/' into out (room for
 * strlen(path) + 1 bytes), without a leading '/': its length. */
size_t path_parts(const char *path, int drop_up, char *out);
/* --shard I/N membership: a hash of the input's output path relative to the output folder
 * (its path relative to the folder given, its path as read from stdin, or its file name), so the partition does not
 * depend on listing order and the shards' union is every input exactly once. Under MPI,
 * rank r of K takes the inputs of the shard with (hash / N) % K == r: a partition of it. */
int in_shard(const cli_config *cfg, const job *j);

/* ---- report.c */
typedef struct report {
    pthread_mutex_t mu;
    FILE *jsonl;
    const cli_config *cfg;
    gc_context *ctx;             /* labels and layer name (read-only after set-up)        */
    char **labels;               /* --labels, or NULL                                     */
    int32_t n_labels;
    const char *layer;
    int32_t num_classes;
    int show_progress;
    size_t done, failed, skipped, total; /* total 0: unknown (stdin)                      */
    double t0;
    double last_draw;
    const char *jsonl_path;
    int write_errno; /* the first failed write of a line (its message said once), else 0    */
    char cwd[4096];  /* the working folder, for lines with relative paths ("" if unknown)   */
} report;

/* Opens `jsonl` for the lines: appended to with --resume, else started over. */
int report_open(report *r, const cli_config *cfg, gc_context *ctx, const char *jsonl,
                char *err, size_t errlen);
/* 0 when a line could not be written or the file not closed (said on stderr): lines are
 * lost, the run must not end as a success. */
int report_close(report *r);
/* One results.jsonl line for a finished (or failed) job, a stderr message for a failure,
 * and the progress line. Thread-safe. */
void report_job(report *r, const job *j);
void report_skip(report *r);
/* "gradcam: note: ..." on stderr above the progress line (nothing under -q). Thread-safe. */
void report_note(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same line without a report (set-up, before it opens): rank-prefixed under MPI,
 * nothing under -q. */
void print_note(const cli_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_set_total(report *r, size_t total);
void report_finish(report *r);
const char *report_label(const report *r, int32_t class_id);
double now_seconds(void);

/* Writes a float32 .npy array atomically (temp + rename). 0 on failure, errno set. */
int write_npy(const char *path, const float *data, int32_t h, int32_t w);
/* s to f with its control characters escaped (\n, \t, \xHH): a file's name in a message
 * cannot break the line or send the terminal escape sequences; other bytes (UTF-8) as they
 * are */
void fput_escaped(const char *s, FILE *f);
/* One line on stderr: prefix as it is, then msg escaped (fput_escaped) */
void print_escaped_line(const char *prefix, const char *msg);
/* mkdir -p of the folder part of path. 0 on failure. */
int make_parent_dirs(const char *path);
/* The same; made (len bytes) then names the outermost folder it created ("" when none). */
int make_parent_dirs_noting(const char *path, char *made, size_t len);
/* The folders make_parent_dirs_noting made for path, innermost first, up to made, removed
 * while they are empty: a run that stops before writing anything leaves no folder behind. */
void remove_made_dirs(const char *path, const char *made);

/* ---- resume.c */
typedef struct resume_set {
    char **inputs; /* the inputs of the lines kept (one per set of output files), sorted */
    char **bases;  /* each input's out_base below the output folder ("sub/cat" for its
                      outputs out/sub/cat.overlay.png etc., whatever the spelling of out),
                      NULL when its outputs are not in the output folder */
    size_t count;
} resume_set;
/* Reads an earlier run's results.jsonl, keeps (and, with rewrite, rewrites the file with) the
 * "ok" lines whose outputs all exist, the last of those naming the same output files. A
 * missing file is an empty set. 0 on failure (err set). Under MPI rank 0 rewrites, the others
 * only read. The pipeline holds each kept line's output names for its input (pipeline.c). */
int resume_load(const char *jsonl, const char *out_dir, int rewrite, resume_set *set, char *err,
                size_t errlen);
/* Rewrites results.jsonl (atomically) keeping, of the lines about the same output files,
 * the last, and every other line: for the end of a --resume run that redid inputs an earlier
 * run had finished (asked for more outputs), whose old lines are then stale. 0 on failure
 * (err set). */
int results_compact(const char *jsonl, const char *out_dir, char *err, size_t errlen);
int resume_contains(const resume_set *set, const char *input);
void resume_free(resume_set *set);
/* A new temporary file for an atomic write of path (then renamed to it), opened with fopen's
 * `mode` and O_EXCL, its name in buf: beside path, hidden, short whatever the file name's
 * length, and (with the library's) the only names remove_stale_temps deletes. NULL on
 * failure (errno set). */
FILE *open_temp(const char *path, const char *mode, char *buf, size_t len);
/* Deletes, below dir, the temporary files of writes that a killed run left behind. */
size_t remove_stale_temps(const char *dir);

/* ---- parts.c */
/* OUT/results.rank<R>.jsonl: where rank R of an MPI run writes its lines. */
void part_path(const char *out_dir, int rank, char *buf, size_t len);
/* Whether out_dir holds part files (of a finished or killed MPI run). */
int parts_exist(const char *out_dir);
/* Appends every part file's lines to OUT/results.jsonl (in rank order) and deletes the part
 * files; with discard, deletes them unread. Killed half-way, a later merge repeats lines,
 * which --resume drops. 0 on failure (err set). */
int parts_merge(const char *out_dir, int discard, char *err, size_t errlen);

/* ---- options.c */
/* Fills cfg (already holding the defaults) from the command line. 0, or the exit status of a
 * usage error (2, message printed). --help and --version exit here. */
int parse_args(int argc, char **argv, cli_config *cfg);

/* ---- devices.c */
/* --device N | all | N,M,... into cfg. 0 on a malformed list. */
int devices_parse(const char *s, cli_config *cfg);
/* Decides the devices this process drives (one context each): several for --device all or a
 * list (CUDA only: an error without a CUDA device or with --backend cpu), or under MPI the
 * one of this rank's node-local number (local_rank % the list's or the node's devices).
 * 0 on error (err set). */
int devices_resolve(cli_config *cfg, int local_rank, char *err, size_t errlen);

/* ---- stats.c: where the time went (--stats FILE) */
typedef struct stage_time {
    double busy_s;     /* thread-seconds working                                          */
    double wait_in_s;  /* ... waiting for work (the stage before was behind)              */
    double wait_out_s; /* ... waiting to hand work on (the stage after was behind, or the
                          host memory budget was taken)                                   */
    /* what the kernel says of the stage's threads (getrusage RUSAGE_THREAD; the library's
     * OpenMP workers are not the batcher's): busy time far above CPU time is time off the
     * CPU (preempted: nivcsw; blocked: nvcsw); sys time and minor faults, the kernel's part */
    double cpu_s, sys_s;
    long minflt, nvcsw, nivcsw;
} stage_time;
/* The whole machine's CPU time by kind (/proc/stat, seconds over all its cores) and its
 * pressure stall totals (/proc/pressure, seconds; Linux 4.20+ with PSI): where a stage's
 * busy time went when the process's own CPU time does not account for it. A field is < 0
 * where the system does not say. */
typedef struct machine_usage {
    double busy_s, idle_s, iowait_s, steal_s; /* steal: the hypervisor ran something else  */
    double cpu_some_s, io_some_s, io_full_s, memory_some_s;
} machine_usage;
machine_usage machine_usage_now(void);
/* b - a field by field (-1 where either is unknown) */
machine_usage machine_usage_delta(machine_usage a, machine_usage b);

typedef struct run_stats {
    double wall_s, cpu_s; /* the pipeline's wall time; the process's CPU time in it        */
    double sys_s;         /* ... of which in the kernel                                    */
    long minflt;          /* the process's minor page faults in it                         */
    int io_nice;          /* GRADCAM_IO_NICE in effect (0: none)                           */
    int io_nice_seen;     /* a decode thread's nice value after lowering it (INT_MIN: not
                             read), what the kernel says it has                            */
    int cores, decode_threads, encode_threads, batchers;
    size_t images;        /* jobs finished (ok or not)                                     */
    size_t calls, call_images; /* library batch calls and the images they took            */
    size_t redone;        /* > 0: inputs an earlier run finished ran again (more outputs
                             asked, or a copied folder's): their old lines go at the end   */
    stage_time decode, library, encode;
    machine_usage machine; /* the machine's, over the pipeline's wall time              */
} run_stats;
/* The process's CPU seconds so far, the part of them in the kernel, and its minor faults
 * (all 0 when unknown). */
typedef struct process_usage {
    double cpu_s, sys_s;
    long minflt;
} process_usage;
process_usage process_usage_now(void);
/* Adds the calling thread's CPU time, faults and context switches so far to t (a stage
 * thread calls it once, at its end). */
void stage_thread_usage(stage_time *t);
/* "library", "cpu", "decode" or "encode": what holds the run back ("none": nothing ran) */
const char *stats_bound(const run_stats *s);
/* cfg->stats_path (".rank<R>" appended under MPI) as one JSON object, and a note. 0 on a
 * write error (err set). */
int stats_write(const cli_config *cfg, const run_stats *s, char *err, size_t errlen);

/* ---- machine.c */
/* The cores this process may use: its affinity mask (else those online), capped by the CPU
 * quota of its cgroup or a parent's. As one of `local_ranks` MPI ranks of a node: ranks
 * bound to their own cores keep their mask, unbound ones split the machine, and the quota
 * is split among them. At least 1. */
int rank_cores(int local_ranks);
/* Bytes of memory this process may use: the machine's, or its cgroup's limit when lower. */
size_t usable_memory(void);
/* GRADCAM_IO_NICE=N (1..19): how many nice steps the decode and encode threads lower their
 * scheduling priority by, so that the library's batcher and its OpenMP workers, which pack
 * and unpack each batch while the device waits, get the cores first when decode and encode
 * want more than there are; 0 (the default) when unset. An invalid value is noted and
 * ignored. */
int io_nice_setting(const cli_config *cfg);
/* Lowers the calling thread's priority by `by` nice steps (Linux: nice is per thread);
 * returns the thread's nice value after, or INT_MIN when it could not be read. */
int lower_thread_priority(int by);

/* ---- pipeline.c */
/* Runs every job of `list` (or, with from_stdin, the paths read from standard input) through
 * the pipeline, batches going to whichever of the n_ctx contexts is free (one thread each).
 * Returns the number of failed inputs, plus one when the pipeline could not start at all
 * with inputs from stdin (then nothing was read; said on stderr). */
size_t pipeline_run(const cli_config *cfg, gc_context *const *ctxs, int n_ctx, report *rep,
                    input_list *list, int from_stdin, const resume_set *done,
                    run_stats *stats);

/* The output file of a job: out_base + ".overlay.png" / ".heatmap.jpg" / ".cam.npy" /
 * ".guided.png". */
void output_path(const cli_config *cfg, const job *j, int which, char *buf, size_t len);

#endif /* GC_CLI_H */
