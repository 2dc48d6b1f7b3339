/*
 * pipeline.c — inputs to outputs with every stage busy at once:
 *
 *   feeder ──tasks──▶ decode workers ──decoded──▶ batchers (gc_explain on batches; one
 *   thread per context, i.e. per device) ──encode──▶ render/encode workers ──▶ files +
 *   results.jsonl
 *
 * On the CUDA backend the batchers call gc_explain_render instead: the GPU, which already
 * holds the images, renders the overlays and heatmaps, and the workers only encode.
 *
 * Queues are bounded, so memory stays flat whatever the number of inputs. A bad input fails
 * alone: it gets its error line and the run goes on. Each context is touched only by its own
 * batcher (and, read-only, by the report's label lookup); the batchers pull from one queue,
 * so a faster device simply takes more batches.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "key_map.h"
#include "queue.h"

typedef struct pipeline {
    const cli_config *cfg;
    report *rep;
    input_list *list;
    int from_stdin;
    const resume_set *done; /* --resume: inputs finished by an earlier run */
    key_map claims;         /* output names so far -> their input (the feeder's) */
    key_map inputs;         /* the input files (file_key), listed and streamed (mu) */
    queue tasks, decoded, encode;
    int decoders_left; /* the last decode worker to finish closes `decoded` */
    int batchers_left; /* the last batcher to finish closes `encode` */
    pthread_mutex_t mu;
    pthread_cond_t mem_freed; /* host memory in flight went down, or the turn moved (mu)    */
    size_t mem_used;          /* the costs of the decoded jobs not yet finished              */
    unsigned long mem_next, mem_turn; /* tickets: jobs take memory in the order they ask    */
    run_stats stats;          /* each thread adds its times at its end (with mu)             */
    int32_t cam_w, cam_h, max_batch;
    int32_t in_w, in_h; /* network input: the guided saliency's size                     */
    int bgr;            /* caffe preprocessing: the saliency's channels are B, G, R      */
    gc_tensor guided;   /* the tensor written as .guided.png, with a guided method       */
    int render_in_batch;/* overlays/heatmaps come from gc_explain_render (CUDA backend)  */
    int io_nice;        /* GRADCAM_IO_NICE: decode and encode threads this much nicer     */
} pipeline;

/* One batcher: a context and its batch buffers. */
typedef struct batcher {
    pipeline *p;
    gc_context *ctx;
    int64_t pixel_limit;        /* pixels per call, 0 for none: set when a batch of large
                                   images did not fit in device memory (what the library
                                   stages and renders grows with the pixels, not the count) */
    stage_time time;            /* in library calls, waiting for images, handing them on  */
    size_t calls, call_images;
    job **batch;
    gc_image *imgs;
    gc_result *res;
    int32_t *classes;
    float *cams;                /* (max_batch, cam_h, cam_w)                          */
    uint8_t **overlays, **heatmaps; /* gc_explain_render's per-image output pointers  */
    size_t *lens;                   /* ... and their byte counts                       */
} batcher;

void output_path(const cli_config *cfg, const job *j, int which, char *buf, size_t len)
{
    const char *ext = cfg->format == GC_FORMAT_JPEG ? "jpg" : "png";
    if (which == OUT_CAM)
        snprintf(buf, len, "%s.cam.npy", j->out_base);
    else
        snprintf(buf, len, "%s.%s.%s", j->out_base,
                 which == OUT_OVERLAY ? "overlay" : which == OUT_HEATMAP ? "heatmap" : "guided",
                 ext);
}

/* Output `bit` of j: -1 when this run does not write it; else its path into path (4096
 * bytes) and 1 when a file is there now (its stat into *sb), 0 when none is. */
static int output_file(const pipeline *p, const job *j, int bit, char *path, struct stat *sb)
{
    if (!(p->cfg->outputs & bit))
        return -1;
    output_path(p->cfg, j, bit, path, 4096);
    return stat(path, sb) == 0;
}

/* Who holds an output name (the claims map's two values): an input of this run, as its file
 * (file_key, 0 when unknown) and its path (name_key); or an input an earlier run finished
 * (--resume), as its index in the resume set (the path is read only on a clash) with
 * EARLIER_RUN in the second value. */
#define EARLIER_RUN (1ull << 63)

enum { CLAIM_OK, CLAIM_SAME_INPUT, CLAIM_CLASH };

/* The claims' key of j's output names: its out_base below the output folder, as the resume
 * set's bases (so that -o out and -o /abs/out claim the same names). */
static uint64_t out_key(const pipeline *p, const job *j)
{
    return name_key(j->out_base + strlen(p->cfg->out_dir) + 1); /* OUT "/" rel */
}

/* The second value of a holder of this run: j's path, its key without the EARLIER_RUN bit. */
static uint64_t path_hold(const job *j)
{
    return name_key(j->path) & ~EARLIER_RUN;
}

static void holder_set(uint64_t *h, const job *j)
{
    h[0] = j->id;
    h[1] = path_hold(j);
}

/* Whether holder h (an earlier run's input) is j's file: the same path, or the same file by
 * another path (another spelling, a link). */
static int earlier_is(const pipeline *p, const uint64_t *h, const job *j)
{
    if (!p->done || h[0] >= p->done->count)
        return 0;
    const char *path = p->done->inputs[h[0]];
    if (strcmp(path, j->path) == 0)
        return 1;
    struct stat sb;
    return j->id && stat(path, &sb) == 0 && file_key(&sb) == j->id;
}

/* Done before: an earlier run's ok line for j (for j's output names, under any spelling of
 * j's path; or for j's path, as when the output folder was copied: its lines name the old
 * folder's files) and every output this run asks for is there. */
static int already_done(const pipeline *p, const job *j)
{
    if (!p->done)
        return 0;
    const uint64_t *h = key_map_get(&p->claims, out_key(p, j));
    const int mine = h && (h[1] & EARLIER_RUN) && earlier_is(p, h, j);
    if (!mine && !resume_contains(p->done, j->path))
        return 0;
    for (int bit = 1; bit <= OUT_LAST; bit <<= 1) {
        char path[4096];
        struct stat sb;
        const int there = output_file(p, j, bit, path, &sb);
        if (there == 0 || (there == 1 && !S_ISREG(sb.st_mode)))
            return 0;
    }
    return 1;
}

/* Claims j's output names for it: CLAIM_OK (j's now: no one held them, or an earlier run
 * held them for this same input, which runs again), CLAIM_SAME_INPUT (an input of this run
 * that is the same file or path holds them), CLAIM_CLASH (another input, of this run or of
 * an earlier one: j fails, the message says why; also when the map cannot grow). The first
 * input in the order given keeps the names. Inputs that would clash are always in one shard:
 * shards go by the output name. */
static int claim_outputs(pipeline *p, job *j)
{
    const uint64_t name = out_key(p, j);
    uint64_t *h = key_map_get(&p->claims, name);
    if (!h) {
        if (key_map_put(&p->claims, name, j->id, path_hold(j)) == 1)
            return CLAIM_OK;
        job_fail(j, "%s: out of memory remembering output names", j->path);
        return CLAIM_CLASH;
    }
    if (h[1] & EARLIER_RUN) {
        if (earlier_is(p, h, j)) {
            holder_set(h, j); /* the earlier run's input itself, to be redone */
            p->stats.redone++; /* its old line goes at the end (results_compact) */
            return CLAIM_OK;
        }
    } else if ((j->id && h[0] == j->id) || h[1] == path_hold(j)) {
        holder_set(h, j); /* the file may have been replaced: compare with the new one next */
        return CLAIM_SAME_INPUT;
    }
    job_fail(j,
             "%s: its outputs (%s.*) would replace those of another input: the names differ "
             "only in the extension, or the same file name came from two folders (files "
             "given as arguments are named by file name alone), or an earlier run in this "
             "folder (--resume) wrote them for another file; rename one, or give their folder",
             j->path, j->out_base);
    return CLAIM_CLASH;
}

/* 1 when job j is still to run; else it is dealt with and freed: another shard's (or
 * rank's) dropped, one found broken while listing reported, one done before skipped (its
 * names claimed), one whose names another input holds failed, the same input listed twice
 * skipped (from stdin it runs again: a file sent again may have changed). */
static int still_to_run(pipeline *p, job *j, int streamed)
{
    if (!in_shard(p->cfg, j)) {
        job_free(j);
        return 0;
    }
    if (j->failed) {
        report_job(p->rep, j);
    } else if (already_done(p, j)) {
        const uint64_t name = out_key(p, j);
        uint64_t *h = key_map_get(&p->claims, name);
        if (!h)
            key_map_put(&p->claims, name, j->id, path_hold(j));
        else if (h[1] & EARLIER_RUN)
            holder_set(h, j);
        report_skip(p->rep);
    } else {
        const int c = claim_outputs(p, j);
        if (c == CLAIM_OK && p->done && resume_contains(p->done, j->path))
            p->stats.redone++; /* a line for this path (a copied output folder's) goes too */
        if (c == CLAIM_OK || (c == CLAIM_SAME_INPUT && streamed))
            return 1;
        if (c == CLAIM_CLASH)
            report_job(p->rep, j);
        else
            report_skip(p->rep); /* listed twice: counted once done, once skipped */
    }
    job_free(j);
    return 0;
}

static void feed(pipeline *p, job *j, int streamed)
{
    if (still_to_run(p, j, streamed) && !queue_push(&p->tasks, j))
        job_free(j);
}

/* 1 when an output of j would replace an input file of this run (j then fails): with the
 * output folder holding inputs given as files, x.png's x.heatmap.png could be one. */
static int replaces_input(pipeline *p, job *j)
{
    for (int bit = 1; bit <= OUT_LAST; bit <<= 1) {
        char path[4096];
        struct stat sb;
        if (output_file(p, j, bit, path, &sb) != 1)
            continue;
        pthread_mutex_lock(&p->mu);
        const int input = key_map_get(&p->inputs, file_key(&sb)) != NULL;
        pthread_mutex_unlock(&p->mu);
        if (input) {
            job_fail(j, "%s: its output %s is an input of this run: give another output folder",
                     j->path, path);
            return 1;
        }
    }
    return 0;
}

/* A path read from stdin that lies in the output folder and is named like an output: never
 * an input, as a folder's walk leaves such files out (find . | gradcam -o out - would
 * otherwise explain an earlier run's outputs, or this run's, and x.png's x.heatmap.png
 * written before x.heatmap.png's line arrives). */
static int streamed_output(const char *path, const char *out_real)
{
    const char *slash = strrchr(path, '/');
    if (!out_real || !is_output_name(slash ? slash + 1 : path))
        return 0;
    if (!slash)
        return inside(".", out_real);
    char *dir = strndup(path, (size_t)(slash - path) + (slash == path));
    const int in = dir && inside(dir, out_real);
    free(dir);
    return in;
}

static void *feeder(void *arg)
{
    pipeline *p = arg;
    for (size_t i = 0; i < p->list->count; i++) {
        job *j = p->list->jobs[i];
        p->list->jobs[i] = NULL;
        feed(p, j, 0);
    }
    if (p->from_stdin) { /* a long-lived worker: paths arrive one per line */
        char *line = NULL, *out_real = realpath(p->cfg->out_dir, NULL);
        size_t cap = 0, out_named = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = 0;
            if (n == 0)
                continue;
            if (streamed_output(line, out_real)) {
                out_named++; /* an earlier run's output, most likely (find . | gradcam -) */
                continue;
            }
            job *j = job_new_streamed(line, p->cfg->out_dir);
            struct stat sb;
            if (j && stat(line, &sb) == 0 && S_ISREG(sb.st_mode)) {
                j->id = file_key(&sb);
                pthread_mutex_lock(&p->mu);
                key_map_put(&p->inputs, j->id, 0, 0);
                pthread_mutex_unlock(&p->mu);
            }
            if (j)
                feed(p, j, 1);
        }
        free(line);
        free(out_real);
        if (out_named && !p->cfg->quiet && p->cfg->rank == 0)
            fprintf(stderr,
                    "gradcam: note: %zu path%s on stdin inside the output folder named like "
                    "this command's outputs (*.overlay.png, *.heatmap.png, *.guided.png, .jpg) "
                    "left out\n",
                    out_named, out_named == 1 ? "" : "s");
    }
    queue_close(&p->tasks);
    return NULL;
}

/* What a decoded job holds until it is finished: its pixels, and the overlay and heatmap
 * rendered for it. Waits while the jobs in flight hold the budget (cfg->host_memory); one job
 * alone always goes, however large, and jobs go in the order they asked (a large one is not
 * overtaken for ever by small ones). Batches run short rather than memory running out (the
 * batcher sends a partial batch after 50 ms without a new image). The budget counts a job
 * once it is decoded: each decode thread may hold one image more while it waits. */
static void take_memory(pipeline *p, job *j)
{
    const int outs = !!(p->cfg->outputs & OUT_OVERLAY) + !!(p->cfg->outputs & OUT_HEATMAP);
    j->cost = (size_t)3 * j->img.width * j->img.height * (size_t)(1 + outs);
    pthread_mutex_lock(&p->mu);
    const unsigned long ticket = p->mem_next++;
    while (ticket != p->mem_turn ||
           (p->mem_used > 0 && p->mem_used + j->cost > p->cfg->host_memory))
        pthread_cond_wait(&p->mem_freed, &p->mu);
    p->mem_used += j->cost;
    p->mem_turn++;
    pthread_cond_broadcast(&p->mem_freed); /* the next ticket's turn */
    pthread_mutex_unlock(&p->mu);
}

static void give_memory(pipeline *p, size_t cost)
{
    if (!cost)
        return;
    pthread_mutex_lock(&p->mu);
    p->mem_used -= cost;
    pthread_cond_broadcast(&p->mem_freed);
    pthread_mutex_unlock(&p->mu);
}

/* Adds the seconds since *t to *into and moves *t to now. */
static void lap(double *t, double *into)
{
    const double now = now_seconds();
    *into += now - *t;
    *t = now;
}

static void add_time(stage_time *to, const stage_time *t)
{
    to->busy_s += t->busy_s;
    to->wait_in_s += t->wait_in_s;
    to->wait_out_s += t->wait_out_s;
    to->cpu_s += t->cpu_s;
    to->sys_s += t->sys_s;
    to->minflt += t->minflt;
    to->nvcsw += t->nvcsw;
    to->nivcsw += t->nivcsw;
}

static void *decoder(void *arg)
{
    pipeline *p = arg;
    job *j;
    stage_time t = {0};
    if (p->io_nice) {
        const int seen = lower_thread_priority(p->io_nice);
        pthread_mutex_lock(&p->mu);
        p->stats.io_nice_seen = seen;
        pthread_mutex_unlock(&p->mu);
    }
    double mark = now_seconds();
    while ((j = queue_pop(&p->tasks))) {
        lap(&mark, &t.wait_in_s);
        char msg[GC_CLI_MSG];
        msg[0] = 0;
        gc_status st = gc_image_read(j->path, p->cfg->max_pixels, &j->img, msg, sizeof msg);
        lap(&mark, &t.busy_s);
        if (st != GC_OK) {
            if (msg[0])
                job_fail(j, "%s", msg);
            else
                job_fail(j, "%s: %s", j->path, gc_status_string(st));
        } else {
            take_memory(p, j);
        }
        queue_push(&p->decoded, j);
        lap(&mark, &t.wait_out_s);
    }
    lap(&mark, &t.wait_in_s);
    stage_thread_usage(&t);
    pthread_mutex_lock(&p->mu);
    add_time(&p->stats.decode, &t);
    int last = --p->decoders_left == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        queue_close(&p->decoded);
    return NULL;
}

/* The guided gradient as <stem>.guided.png, at the network input size (it lives there). */
static void encode_saliency(pipeline *p, job *j)
{
    const cli_config *cfg = p->cfg;
    const size_t bytes = (size_t)p->in_w * p->in_h * 3;
    uint8_t *px = malloc(bytes);
    char path[4096];
    output_path(cfg, j, OUT_GUIDED, path, sizeof path);
    gc_status st = GC_ERR_OUT_OF_MEMORY;
    if (!px || (st = gc_render_saliency(j->saliency, p->in_w, p->in_h, p->bgr, px, bytes)) !=
                   GC_OK) {
        job_fail(j, "%s: rendering the guided saliency failed: %s", j->path, gc_status_string(st));
    } else {
        gc_image out = {px, p->in_w, p->in_h, 3 * p->in_w};
        char msg[GC_CLI_MSG];
        if (gc_image_write(path, &out, cfg->format, cfg->png_level, cfg->jpeg_quality, msg,
                           sizeof msg) != GC_OK)
            job_fail(j, "%s", msg);
    }
    free(px);
}

static void encode_one(pipeline *p, job *j)
{
    if (replaces_input(p, j))
        return;
    const cli_config *cfg = p->cfg;
    const size_t bytes = (size_t)j->img.width * j->img.height * 3;
    const int rendered = j->overlay || j->heatmap; /* by the library, with the batch */
    uint8_t *heat = rendered ? j->heatmap : cfg->outputs & OUT_HEATMAP ? malloc(bytes) : NULL;
    uint8_t *over = rendered ? j->overlay : cfg->outputs & OUT_OVERLAY ? malloc(bytes) : NULL;
    char path[4096];
    output_path(cfg, j, OUT_CAM, path, sizeof path);
    if (!make_parent_dirs(path)) {
        const int e = errno;
        *strrchr(path, '/') = 0; /* the folder: out_base always has a '/' (OUT/...) */
        job_fail(j, "%s: cannot create folder: %s", path, strerror(e));
        goto done;
    }
    if ((cfg->outputs & OUT_HEATMAP && !heat) || (cfg->outputs & OUT_OVERLAY && !over)) {
        job_fail(j, "%s: out of memory rendering %dx%d", j->path, j->img.width, j->img.height);
        goto done;
    }
    if (!rendered && (heat || over)) {
        gc_status st = gc_render(j->cam, p->cam_w, p->cam_h, &j->img, cfg->colormap, cfg->alpha,
                                 heat, heat ? bytes : 0, over, over ? bytes : 0);
        if (st != GC_OK) {
            job_fail(j, "%s: rendering failed: %s", j->path, gc_status_string(st));
            goto done;
        }
    }
    const struct {
        int bit;
        uint8_t *px;
    } imgs[2] = {{OUT_OVERLAY, over}, {OUT_HEATMAP, heat}};
    for (int k = 0; k < 2; k++) {
        if (!imgs[k].px)
            continue;
        output_path(cfg, j, imgs[k].bit, path, sizeof path);
        gc_image out = {imgs[k].px, j->img.width, j->img.height, 3 * j->img.width};
        char msg[GC_CLI_MSG];
        if (gc_image_write(path, &out, cfg->format, cfg->png_level, cfg->jpeg_quality, msg,
                           sizeof msg) != GC_OK) {
            job_fail(j, "%s", msg);
            goto done;
        }
    }
    if (cfg->outputs & OUT_CAM) {
        output_path(cfg, j, OUT_CAM, path, sizeof path);
        if (!write_npy(path, j->cam, p->cam_h, p->cam_w)) {
            job_fail(j, "%s: cannot write: %s", path, strerror(errno));
            goto done;
        }
    }
    if (cfg->outputs & OUT_GUIDED)
        encode_saliency(p, j);
done:
    if (!rendered) {
        free(heat);
        free(over);
    }
}

static void *encoder(void *arg)
{
    pipeline *p = arg;
    job *j;
    stage_time t = {0};
    if (p->io_nice)
        lower_thread_priority(p->io_nice);
    double mark = now_seconds();
    while ((j = queue_pop(&p->encode))) {
        lap(&mark, &t.wait_in_s);
        if (!j->failed)
            encode_one(p, j);
        report_job(p->rep, j);
        const size_t cost = j->cost;
        job_free(j);
        give_memory(p, cost);
        lap(&mark, &t.busy_s);
    }
    lap(&mark, &t.wait_in_s);
    stage_thread_usage(&t);
    pthread_mutex_lock(&p->mu);
    add_time(&p->stats.encode, &t);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The guided gradient of image i of the batch just explained, kept with its job. */
static int fetch_saliency(batcher *b, job *j, int32_t i)
{
    const pipeline *p = b->p;
    const size_t n = (size_t)3 * p->in_w * p->in_h;
    gc_status st = GC_ERR_OUT_OF_MEMORY;
    if ((j->saliency = malloc(sizeof(float) * n)) &&
        (st = gc_tensor_get(b->ctx, p->guided, i, j->saliency, n, NULL)) == GC_OK)
        return 1;
    job_fail(j, "%s: guided saliency: %s%s%s", j->path, gc_status_string(st),
             j->saliency ? ": " : "", j->saliency ? gc_last_error(b->ctx) : "");
    return 0;
}

/* The library renders these images (render_in_batch): their output buffers (kept from a try
 * that did not fit). A job whose buffers cannot be had fails alone (out of memory) and gets
 * NULL entries. */
static void render_buffers(batcher *b, job **jobs, int32_t n)
{
    const int over = b->p->cfg->outputs & OUT_OVERLAY, heat = b->p->cfg->outputs & OUT_HEATMAP;
    for (int32_t i = 0; i < n; i++) {
        job *j = jobs[i];
        const size_t bytes = (size_t)j->img.width * j->img.height * 3;
        if (j->failed || (over && j->overlay) || (heat && j->heatmap)) {
            b->overlays[i] = j->overlay;
            b->heatmaps[i] = j->heatmap;
            b->lens[i] = bytes;
            continue;
        }
        j->overlay = over ? malloc(bytes) : NULL;
        j->heatmap = heat ? malloc(bytes) : NULL;
        if ((over && !j->overlay) || (heat && !j->heatmap)) {
            free(j->overlay), free(j->heatmap);
            j->overlay = j->heatmap = NULL;
            job_fail(j, "%s: out of memory rendering %dx%d", j->path, j->img.width, j->img.height);
        }
        b->overlays[i] = j->overlay;
        b->heatmaps[i] = j->heatmap;
        b->lens[i] = bytes;
    }
}

static int64_t pixels_of(const job *j)
{
    return (int64_t)j->img.width * j->img.height;
}

/* gc_explain (or gc_explain_render) on jobs[0..n), then hand them to the encoders; 1 when
 * every call it took succeeded. A batch of large images that does not fit in device memory
 * (the context was sized for the network, not for the photos it stages and renders) goes
 * again in halves; when both halves fit, later batches hold at most the pixels of the larger
 * half, and a note says so: more large photos go in smaller batches, while small images
 * still fill whole ones. A photo too large for the device even alone fails by itself and
 * lowers nothing. */
static int run_batch(batcher *b, job **jobs, int32_t n)
{
    pipeline *p = b->p;
    const size_t hw = (size_t)p->cam_w * p->cam_h;
    for (int32_t i = 0; i < n; i++) {
        b->imgs[i] = jobs[i]->img;
        b->classes[i] = p->cfg->class_id;
    }
    gc_status st;
    double mark = now_seconds();
    if (p->render_in_batch) {
        render_buffers(b, jobs, n);
        st = gc_explain_render(b->ctx, b->imgs, n, b->classes, b->res, b->cams, (size_t)n * hw,
                               p->cfg->colormap, p->cfg->alpha, b->overlays, b->heatmaps,
                               b->lens);
    } else {
        st = gc_explain(b->ctx, b->imgs, n, b->classes, b->res, b->cams, (size_t)n * hw);
    }
    lap(&mark, &b->time.busy_s); /* a try that did not fit counts as busy, not as a call */
    if (st == GC_OK) {
        b->calls++;
        b->call_images += (size_t)n;
    }
    /* Again in halves: a batch that did not fit in device memory, and a failure one image
     * causes (its values overflowing the precision, say: the library refuses the whole
     * call), down to that image alone, so that the others are not lost with it. A dead
     * context (GC_ERR_BACKEND, then BAD_STATE) is not split: every later call would fail. */
    const int oom = st == GC_ERR_OUT_OF_MEMORY;
    if ((oom || st == GC_ERR_UNSUPPORTED || st == GC_ERR_INVALID_ARGUMENT) && n > 1) {
        char why[512];
        snprintf(why, sizeof why, "%s", gc_last_error(b->ctx));
        int32_t w = 0, h = 0; /* the largest image, for the note */
        int64_t halves[2] = {0, 0};
        const int32_t half = (n + 1) / 2;
        for (int32_t i = 0; i < n; i++) {
            if (pixels_of(jobs[i]) > (int64_t)w * h)
                w = jobs[i]->img.width, h = jobs[i]->img.height;
            halves[i >= half] += pixels_of(jobs[i]);
        }
        const int first = run_batch(b, jobs, half);
        const int second = run_batch(b, jobs + half, n - half);
        const int64_t fits = halves[0] > halves[1] ? halves[0] : halves[1];
        if (oom && first && second && (!b->pixel_limit || fits < b->pixel_limit)) {
            report_note(p->rep, "a batch of %d images (%.1f megapixels, the largest %dx%d) did "
                        "not fit in device memory: batches hold at most %.1f megapixels from "
                        "now on (%s)", (int)n, 1e-6 * (double)(halves[0] + halves[1]), (int)w,
                        (int)h, 1e-6 * (double)fits, why);
            b->pixel_limit = fits;
        }
        return first && second;
    }
    for (int32_t i = 0; i < n; i++) {
        job *j = jobs[i];
        if (j->failed) { /* no buffers for its outputs */
        } else if (st != GC_OK) {
            job_fail(j, "%s: %s: %s", j->path, gc_status_string(st), gc_last_error(b->ctx));
        } else if (!(j->cam = malloc(sizeof(float) * hw))) {
            job_fail(j, "%s: out of memory", j->path);
        } else if (p->cfg->outputs & OUT_GUIDED && !fetch_saliency(b, j, i)) {
            j->failed = 1;
        } else {
            j->res = b->res[i];
            memcpy(j->cam, b->cams + i * hw, sizeof(float) * hw);
            if (p->render_in_batch) { /* rendered with the batch: the encoders need only the
                                         image's size, so its pixels go now (a third of what
                                         a job holds while it waits to be encoded) */
                free((void *)j->img.data);
                j->img.data = NULL;
            }
        }
        queue_push(&p->encode, j);
    }
    lap(&mark, &b->time.wait_out_s); /* the results' copies too: small beside the call */
    return st == GC_OK;
}

static void *batcher_main(void *arg)
{
    batcher *b = arg;
    pipeline *p = b->p;
    int32_t n = 0;
    int64_t pixels = 0; /* in b->batch[0..n) */
    for (;;) {
        int timed_out = 0;
        /* a partial batch waits briefly for company, then goes (stdin may be slow) */
        double mark = now_seconds();
        job *j = n ? queue_pop_timed(&p->decoded, 50, &timed_out) : queue_pop(&p->decoded);
        lap(&mark, &b->time.wait_in_s);
        if (timed_out) {
            run_batch(b, b->batch, n);
            n = 0, pixels = 0;
            continue;
        }
        if (!j)
            break;
        if (j->failed) {
            queue_push(&p->encode, j); /* the encoders report it in order with the rest */
            continue;
        }
        if (n && b->pixel_limit && pixels + pixels_of(j) > b->pixel_limit) {
            run_batch(b, b->batch, n); /* j would take the batch past what fits */
            n = 0, pixels = 0;
        }
        b->batch[n++] = j;
        pixels += pixels_of(j);
        if (n >= p->max_batch) {
            run_batch(b, b->batch, n);
            n = 0, pixels = 0;
        }
    }
    if (n)
        run_batch(b, b->batch, n);
    stage_thread_usage(&b->time);
    pthread_mutex_lock(&p->mu);
    add_time(&p->stats.library, &b->time);
    p->stats.calls += b->calls;
    p->stats.call_images += b->call_images;
    int last = --p->batchers_left == 0;
    pthread_mutex_unlock(&p->mu);
    if (last)
        queue_close(&p->encode);
    return NULL;
}

/* Starts up to n threads of fn, thread k with args + k * arg_size; how many started (the
 * first failure, its errno in *err, ends the starts). */
static int start_threads(pthread_t *t, int n, void *(*fn)(void *), void *args, size_t arg_size,
                         int *err)
{
    for (int k = 0; k < n; k++) {
        const int e = pthread_create(&t[k], NULL, fn, (char *)args + (size_t)k * arg_size);
        if (e) {
            *err = e;
            return k;
        }
    }
    return n;
}

/* Threads of a stage that never started never count themselves out: taken off its count
 * here, and when that leaves none running, the queue the stage's last thread closes. */
static void stop_unstarted(pipeline *p, int *left, int unstarted, queue *closes)
{
    if (!unstarted)
        return;
    pthread_mutex_lock(&p->mu);
    *left -= unstarted;
    const int none = *left == 0;
    pthread_mutex_unlock(&p->mu);
    if (none)
        queue_close(closes);
}

/* Before any work: the listed input files (no output may replace one) and, under --resume,
 * the output names of the inputs an earlier run finished (held by their paths). */
static void seed_keys(pipeline *p)
{
    for (size_t i = 0; i < p->list->count; i++)
        if (p->list->jobs[i] && p->list->jobs[i]->id)
            key_map_put(&p->inputs, p->list->jobs[i]->id, 0, 0);
    for (size_t i = 0; p->done && i < p->done->count; i++)
        if (p->done->bases[i])
            key_map_put(&p->claims, name_key(p->done->bases[i]), i, EARLIER_RUN);
}

/* The run could not start: each input goes as the feeder would send it (still_to_run),
 * except that those still to run get `why` as their error. From stdin nothing is read, which
 * counts as one more failure (returned; the report counts the others). */
static size_t fail_unstarted(pipeline *p, const char *why)
{
    if (p->from_stdin)
        fprintf(stderr, "gradcam: %s; paths on stdin not read\n", why);
    for (size_t i = 0; i < p->list->count; i++) {
        job *j = p->list->jobs[i];
        p->list->jobs[i] = NULL;
        if (!still_to_run(p, j, 0))
            continue;
        job_fail(j, "%s: %s", j->path, why);
        report_job(p->rep, j);
        job_free(j);
    }
    return p->from_stdin ? 1 : 0;
}

static int batcher_init(batcher *b, pipeline *p, gc_context *ctx)
{
    const size_t B = (size_t)p->max_batch;
    *b = (batcher){.p = p, .ctx = ctx,
                   .batch = calloc(B, sizeof *b->batch), .imgs = calloc(B, sizeof *b->imgs),
                   .res = calloc(B, sizeof *b->res), .classes = calloc(B, sizeof *b->classes),
                   .cams = malloc(sizeof(float) * B * p->cam_w * p->cam_h),
                   .overlays = calloc(B, sizeof *b->overlays),
                   .heatmaps = calloc(B, sizeof *b->heatmaps), .lens = calloc(B, sizeof *b->lens)};
    return b->batch && b->imgs && b->res && b->classes && b->cams && b->overlays &&
           b->heatmaps && b->lens;
}

static void batcher_free(batcher *b)
{
    free(b->batch), free(b->imgs), free(b->res), free(b->classes), free(b->cams);
    free(b->overlays), free(b->heatmaps), free(b->lens);
}

size_t pipeline_run(const cli_config *cfg, gc_context *const *ctxs, int n_ctx, report *rep,
                    input_list *list, int from_stdin, const resume_set *done,
                    run_stats *stats)
{
    pipeline p = {.cfg = cfg, .rep = rep, .list = list, .from_stdin = from_stdin,
                  .done = done};
    const double t0 = now_seconds();
    const process_usage u0 = process_usage_now();
    const machine_usage m0 = machine_usage_now();
    const size_t done0 = rep->done;
    gc_model_info info; /* the same model on every context */
    gc_model_info_get(ctxs[0], &info);
    p.cam_w = info.cam_width;
    p.cam_h = info.cam_height;
    p.in_w = info.input_width;
    p.in_h = info.input_height;
    p.max_batch = info.max_batch;
    for (int k = 1; k < n_ctx; k++) { /* contexts sized to fit may differ: the smallest */
        gc_model_info other;
        if (gc_model_info_get(ctxs[k], &other) == GC_OK && other.max_batch < p.max_batch)
            p.max_batch = other.max_batch;
    }
    p.bgr = info.preprocess == GC_PREPROCESS_CAFFE;
    p.guided = cfg->lib.method == GC_METHOD_GUIDED_GRADCAM ? GC_TENSOR_GUIDED_GRADCAM
                                                           : GC_TENSOR_GUIDED_BACKPROP;
    /* the GPU renders where it holds the images; GRADCAM_RENDER_IN_BATCH=1 takes that path
     * on the CPU backend too (the tests compare the two) */
    const char *rib = getenv("GRADCAM_RENDER_IN_BATCH");
    p.render_in_batch = (info.backend == GC_BACKEND_CUDA || (rib && *rib == '1')) &&
                        cfg->outputs & (OUT_OVERLAY | OUT_HEATMAP);
    p.io_nice = p.stats.io_nice = io_nice_setting(cfg);
    p.stats.io_nice_seen = INT_MIN;
    const int workers = cfg->threads > 1 ? cfg->threads : 1;
    queue_init(&p.tasks, 4 * (size_t)p.max_batch);
    /* enough decoded images in flight to keep every device's next batch ready */
    queue_init(&p.decoded, 2 * (size_t)p.max_batch * (size_t)n_ctx);
    queue_init(&p.encode, 2 * (size_t)p.max_batch * (size_t)n_ctx);
    pthread_mutex_init(&p.mu, NULL);
    seed_keys(&p);
    pthread_cond_init(&p.mem_freed, NULL);
    p.decoders_left = workers;
    batcher *bs = calloc((size_t)n_ctx, sizeof *bs);
    int n_b = 0;
    while (bs && n_b < n_ctx && batcher_init(&bs[n_b], &p, ctxs[n_b]))
        n_b++;
    if (bs && n_b < n_ctx)
        batcher_free(&bs[n_b]); /* the partly allocated one */
    p.batchers_left = n_b;
    pthread_t *dec = calloc((size_t)workers, sizeof *dec),
              *enc = calloc((size_t)workers, sizeof *enc),
              *bat = calloc((size_t)n_ctx, sizeof *bat);
    size_t unstarted = 0;
    if (n_b == 0 || !dec || !enc || !bat) {
        unstarted = fail_unstarted(&p, "out of memory starting the pipeline");
        goto out;
    }
    /* One encoder, the batchers, one decoder (the order in which the data drains), then the
     * other encoders and decoders in turns; the feeder is this thread. One that cannot start
     * (EAGAIN at the process's, the user's or the container's thread limit) leaves the run
     * with fewer, each stage with its share of those that did (all the encoders first could
     * leave no decoder); a stage with none fails every input. Nothing has been fed yet, so
     * no thread can finish before the counts of those left are set. */
    int err = 0;
    int n_enc = start_threads(enc, 1, encoder, &p, 0, &err);
    const int n_bat = start_threads(bat, n_b, batcher_main, bs, sizeof *bs, &err);
    int n_dec = start_threads(dec, 1, decoder, &p, 0, &err);
    for (int i = 1; i < workers; i++) {
        n_enc += start_threads(enc + n_enc, 1, encoder, &p, 0, &err);
        n_dec += start_threads(dec + n_dec, 1, decoder, &p, 0, &err);
    }
    stop_unstarted(&p, &p.batchers_left, n_b - n_bat, &p.encode);
    stop_unstarted(&p, &p.decoders_left, workers - n_dec, &p.decoded);
    if (n_enc && n_bat && n_dec) {
        if (err)
            fprintf(stderr,
                    "gradcam: warning: started %d of %d decode, %d of %d encode and %d of %d "
                    "batch threads (%s); going on with those\n",
                    n_dec, workers, n_enc, workers, n_bat, n_b, strerror(err));
        feeder(&p);
    } else {
        queue_close(&p.tasks); /* the threads that did start drain out */
    }
    for (int i = 0; i < n_bat; i++)
        pthread_join(bat[i], NULL);
    for (int i = 0; i < n_dec; i++)
        pthread_join(dec[i], NULL);
    for (int i = 0; i < n_enc; i++)
        pthread_join(enc[i], NULL);
    if (!(n_enc && n_bat && n_dec)) {
        char why[128];
        snprintf(why, sizeof why, "cannot start the worker threads: %s", strerror(err));
        unstarted = fail_unstarted(&p, why);
    }
    p.stats.decode_threads = n_dec;
    p.stats.encode_threads = n_enc;
    p.stats.batchers = n_bat;
out: /* the stats also when nothing could start (no threads: no bound) */
    p.stats.wall_s = now_seconds() - t0;
    const process_usage u1 = process_usage_now();
    p.stats.cpu_s = u1.cpu_s - u0.cpu_s;
    p.stats.sys_s = u1.sys_s - u0.sys_s;
    p.stats.minflt = u1.minflt - u0.minflt;
    p.stats.machine = machine_usage_delta(m0, machine_usage_now());
    p.stats.cores = cfg->cores;
    p.stats.images = rep->done - done0;
    if (stats)
        *stats = p.stats;
    for (int i = 0; i < n_b; i++)
        batcher_free(&bs[i]);
    free(bs), free(dec), free(enc), free(bat);
    queue_destroy(&p.tasks);
    queue_destroy(&p.decoded);
    queue_destroy(&p.encode);
    pthread_mutex_destroy(&p.mu);
    key_map_free(&p.claims);
    key_map_free(&p.inputs);
    pthread_cond_destroy(&p.mem_freed);
    return rep->failed + unstarted;
}
