/*
 * gradcam_bench.c — timing of libgradcam through its public API, on the CPU or CUDA backend,
 * for comparison with the PyTorch peers in bench/peers/ (driven by bench/run_cpu_bench.sh on
 * the CPU and scripts/device-bench.sh on a GPU).
 *
 * For each method in --method (default gradcam), each precision in --precision and each batch
 * size in --batch, one context is created (and destroyed before the next: one at a time),
 * and each selected mode runs on it: the
 * median wall time (CLOCK_MONOTONIC) of one batch call over --iters calls after --warmup
 * calls. Every call is synchronous (the library returns when the batch is done and its
 * results are on the host), so wall time is what a user waits for. Modes:
 *   gradcam       gc_explain_tensor on a fixed, seeded random preprocessed (N,3,S,S) host
 *                 tensor, target = --layer (default: the last conv layer, post-ReLU)
 *   forward       gc_predict_tensor on the same tensor: the forward pass alone
 *   near_forward  gc_explain_tensor targeted at the last pool layer (own context; from
 *                 before gc_predict existed, kept for the CPU history)
 *   explain_u8    gc_explain on N seeded uint8 RGB images of --image-size (default 500x375)
 *   preprocess    gc_preprocess_images on the same images alone
 *   gpu           gc_explain_device on the tensor already in device memory (cudaMalloc'd once,
 *                 outside the timing): the compute alone. CUDA backend only.
 *   gpu_forward   gc_predict_device on the same device tensor: the forward alone, the
 *                 denominator of the Grad-CAM / forward ratio. CUDA backend only.
 *   host          gc_explain on the uint8 images (preprocessing, copies and all) and then
 *                 gc_render (heatmap + overlay at the image's size) of every image on a pool
 *                 of --threads host threads (default: all cores): the host's share of the
 *                 command's work, without file I/O. Reports the two parts too.
 *   files         the `gradcam` command itself (--gradcam-bin) on a folder of --files
 *                 generated photo-like JPEGs of --image-size, writing overlay PNGs; wall time
 *                 of the whole process, and the steady rate (N - B images over the time beyond
 *                 a run on B = batch images, which pays the same start-up).
 * --method sets options.method of every context (the files mode passes it to the command);
 * every record names it. With guided-backprop / guided-gradcam each timed call that explains
 * (gradcam, near_forward, explain_u8, gpu, host) also copies the guided tensor of every image
 * to the host with gc_tensor_get (GC_TENSOR_GUIDED_BACKPROP / _GUIDED_GRADCAM, (3,S,S) each):
 * what a user of those methods needs; the record's "what" says so.
 * After the timed modes, unless --profile-iters 0, a second context with options.profile = 1
 * runs each of gradcam / forward / gpu / host again and reports gc_profile_get()'s per-stage
 * milliseconds (medians): profiling synchronizes between stages, so those batches are slower
 * and are never the timed ones.
 *
 * Work: forward FLOPs per image are counted from the model's shapes: 2*9*C*K*H*W for each
 * 3x3 conv (from gc_model_info's cfg and the input size) plus 2 x the elements of every other
 * weight matrix in the safetensors file (the dense head, applied once per image). Achieved
 * TFLOP/s = forward FLOPs x images/s, for every mode (Grad-CAM's backward to the target adds
 * under 1% for VGG16 at block5_conv3 and is not counted); % of peak from the GPU's name (a
 * table in gpu.c; no % for a GPU not in it).
 *
 * Output: a text table, or --json (one object per precision and batch: the format
 * bench/run_cpu_bench.sh reads) or --jsonl (one self-contained record per line, flushed as
 * each mode finishes: what scripts/device-bench.sh collects).
 * Timing only: this program never checks results (tests/ does that).
 *
 * This file: main and run_group (one precision and batch: the contexts and their modes);
 * the rest is in the files listed in bench.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

/* ---------------------------------------------------------------- one precision and batch */

/* Returns 1 when every selected mode ran. */
static int run_group(const bench_args *a, bench_meta *meta, run_env *e, pool *threads,
                     const char *bin, const char *files_root, gc_method method,
                     gc_precision prec, int32_t batch)
{
    static bench_mode modes[BENCH_N_MODES];
    e->method = method;
    for (int i = 0; i < BENCH_N_MODES; i++) {
        modes[i] = (bench_mode){.name = mode_defs[i].name, .what = mode_defs[i].what,
                                .batch = batch, .precision = prec, .method = method,
                                .device_used_bytes = -1};
        modes[i].skipped = !mode_selected(a->modes, modes[i].name);
        const bench_call c = mode_defs[i].call;
        const int explains = c == CALL_TENSOR || c == CALL_IMAGES || c == CALL_DEVICE ||
                             c == CALL_HOST || c == CALL_HOST_LIB;
        if (!strcmp(modes[i].name, "files") && method != GC_METHOD_GRADCAM) {
            snprintf(modes[i].what_text, sizeof modes[i].what_text, "%s; --method %s",
                     mode_defs[i].what, method_name(method));
            modes[i].what = modes[i].what_text;
        } else if (explains && guided_tensor(method) >= 0) {
            snprintf(modes[i].what_text, sizeof modes[i].what_text,
                     "%s; then gc_tensor_get(%s) of every image: (3,%d,%d) to the host",
                     mode_defs[i].what,
                     method == GC_METHOD_GUIDED_GRADCAM ? "GC_TENSOR_GUIDED_GRADCAM"
                                                        : "GC_TENSOR_GUIDED_BACKPROP",
                     a->size, a->size);
            modes[i].what = modes[i].what_text;
        }
    }
    /* the shared context: every mode but near_forward and files */
    int any = 0;
    for (int i = 0; i < BENCH_N_MODES; i++)
        any |= !modes[i].skipped && strcmp(modes[i].name, "near_forward") &&
               strcmp(modes[i].name, "files");
    char err[320] = "";
    if (any) {
        if (!modes[5].skipped || !modes[6].skipped) { /* gpu modes' input, outside the
                                                          memory delta */
            char ignored[320];
            device_tensor(e->in, a, ignored, sizeof ignored);
        }
        const int64_t used0 = device_used(a);
        gc_context *ctx = NULL;
        const double c0 = now_ms();
        gc_status st = create_context(a, prec, method, batch, a->layer, 0, &ctx);
        const double context_ms = now_ms() - c0;
        for (int i = 0; i < BENCH_N_MODES; i++) {
            if (!strcmp(modes[i].name, "near_forward") || !strcmp(modes[i].name, "files"))
                continue; /* their own contexts */
            modes[i].context_ms = context_ms;
            snprintf(modes[i].autotune_report, sizeof modes[i].autotune_report, "%s",
                     st == GC_OK ? gc_autotune_report(ctx) : "");
        }
        gc_model_info info;
        if (st == GC_OK)
            st = gc_model_info_get(ctx, &info);
        if (st != GC_OK)
            snprintf(err, sizeof err, "context: %s: %s", gc_status_string(st),
                     gc_last_error(ctx));
        else if (!meta->work.ok)
            count_work(a, &info, &meta->work);
        if (!*err && !env_buffers(e, &info, batch, err, sizeof err))
            st = GC_ERR_OUT_OF_MEMORY;
        for (int i = 0; i < BENCH_N_MODES; i++) {
            bench_mode *m = &modes[i];
            if (m->skipped || !strcmp(m->name, "near_forward") || !strcmp(m->name, "files"))
                continue;
            if (*err)
                snprintf(m->error, sizeof m->error, "%s", err);
            else {
                snprintf(m->layer, sizeof m->layer, "%s",
                         strcmp(m->name, "preprocess") && strcmp(m->name, "forward") &&
                                 strcmp(m->name, "gpu_forward")
                             ? info.target_layer : "");
                time_mode(ctx, e, m, mode_defs[i].call);
                const int64_t used1 = device_used(a);
                m->device_used_bytes = used0 >= 0 && used1 >= 0 ? used1 - used0 : -1;
            }
            /* every record at once: a profiled pass cut short (a step's time limit) must not
             * take the timed results with it; a good one prints the record again, complete
             * (readers keep the later record of a key: bench/summarize.py) */
            if (a->profile_iters > 0 && m->ok)
                snprintf(m->profile_error, sizeof m->profile_error,
                         "pending: the profiled pass had not finished");
            if (a->jsonl)
                print_record(a, meta, m);
            if (a->profile_iters > 0 && m->ok)
                m->profile_error[0] = 0;
        }
        env_free(e);
        gc_context_destroy(ctx);

        /* the profiled pass, on its own context */
        if (a->profile_iters > 0 && !*err) {
            ctx = NULL;
            st = create_context(a, prec, method, batch, a->layer, 1, &ctx);
            if (st == GC_OK && gc_model_info_get(ctx, &info) == GC_OK &&
                env_buffers(e, &info, batch, err, sizeof err)) {
                for (int i = 0; i < BENCH_N_MODES; i++) {
                    bench_mode *m = &modes[i];
                    if (m->skipped || !m->ok || !strcmp(m->name, "preprocess"))
                        continue;
                    if (!strcmp(m->name, "near_forward") || !strcmp(m->name, "files"))
                        continue;
                    profile_mode(ctx, e, m, mode_defs[i].call);
                }
            } else {
                for (int i = 0; i < BENCH_N_MODES; i++)
                    snprintf(modes[i].profile_error, sizeof modes[i].profile_error,
                             "profiled context: %s", *err ? err : gc_last_error(ctx));
            }
            env_free(e);
            gc_context_destroy(ctx);
            if (a->jsonl)
                for (int i = 0; i < BENCH_N_MODES; i++) {
                    bench_mode *m = &modes[i];
                    if (!m->skipped && m->ok && strcmp(m->name, "near_forward") &&
                        strcmp(m->name, "files"))
                        print_record(a, meta, m);
                }
        }
    }

    /* near_forward: its own context at the last pool layer */
    bench_mode *nf = &modes[1];
    if (!nf->skipped) {
        gc_context *ctx = NULL;
        char pool_name[64] = "";
        gc_status st = create_context(a, prec, method, batch, a->layer, 0, &ctx);
        if (st == GC_OK)
            last_pool_layer(ctx, pool_name, sizeof pool_name);
        gc_context_destroy(ctx);
        ctx = NULL;
        if (st == GC_OK && !*pool_name) {
            snprintf(nf->error, sizeof nf->error, "the model has no pool layer");
        } else if (st == GC_OK) {
            st = create_context(a, prec, method, batch, pool_name, 0, &ctx);
            gc_model_info info;
            char e2[320] = "";
            if (st == GC_OK && gc_model_info_get(ctx, &info) == GC_OK &&
                env_buffers(e, &info, batch, e2, sizeof e2)) {
                snprintf(nf->layer, sizeof nf->layer, "%s", info.target_layer);
                time_mode(ctx, e, nf, CALL_TENSOR);
            } else {
                snprintf(nf->error, sizeof nf->error, "%s", *e2 ? e2 : gc_last_error(ctx));
            }
            env_free(e);
            gc_context_destroy(ctx);
        } else {
            snprintf(nf->error, sizeof nf->error, "context: %s", gc_status_string(st));
        }
        if (a->jsonl)
            print_record(a, meta, nf);
    }

    bench_mode *fm = &modes[8];
    if (!fm->skipped) {
        files_mode(a, threads, fm, bin, files_root);
        if (a->jsonl)
            print_record(a, meta, fm);
    }

    if (a->json)
        print_json(a, meta, modes, BENCH_N_MODES, batch, prec);
    else if (!a->jsonl)
        print_text(a, meta, modes, BENCH_N_MODES, batch, prec);
    int all_ok = 1;
    for (int i = 0; i < BENCH_N_MODES; i++)
        all_ok &= modes[i].skipped || modes[i].ok;
    return all_ok;
}

/* ---------------------------------------------------------------- main */

/* The gradcam command next to this program: <dir>/../gradcam (build/bench/gradcam-bench). */
static void default_bin(const char *argv0, char *out, size_t len)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0)
        self[n] = 0;
    else
        snprintf(self, sizeof self, "%s", argv0);
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(self, sizeof self, ".");
    snprintf(out, len, "%s/../gradcam", self);
}

int main(int argc, char **argv)
{
    bench_args a;
    if (!parse_args(argc, argv, &a)) {
        usage(stderr);
        return 2;
    }
    bench_meta meta;
    memset(&meta, 0, sizeof meta);
    cpu_model(meta.cpu, sizeof meta.cpu);
    meta.cores = sysconf(_SC_NPROCESSORS_ONLN);
    meta.threads = a.threads > 0 ? a.threads : (int)meta.cores;
    if (a.backend == GC_BACKEND_CUDA)
        query_gpu(&a, &meta.gpu);
    meta.gpu_name = a.gpu_name ? a.gpu_name : meta.gpu.present ? meta.gpu.name : NULL;
    meta.peak = find_peak(meta.gpu_name);

    bench_inputs in;
    pool threads;
    if (!make_inputs(&a, &in) || !pool_init(&threads, meta.threads)) {
        fprintf(stderr, "gradcam-bench: out of memory (or threads) for the inputs\n");
        return 1;
    }
    in.render_len = 2 * (size_t)a.image_w * a.image_h * 3;
    in.render_buf = malloc(in.render_len * (size_t)threads.threads);
    if (!in.render_buf) {
        fprintf(stderr, "gradcam-bench: out of memory for the render buffers\n");
        return 1;
    }

    char bin[4096], files_root[4096] = "";
    if (a.gradcam_bin)
        snprintf(bin, sizeof bin, "%s", a.gradcam_bin);
    else
        default_bin(argv[0], bin, sizeof bin);
    int made_root = 0;
    if (mode_selected(a.modes, "files")) {
        if (a.files_dir) {
            snprintf(files_root, sizeof files_root, "%s", a.files_dir);
            if (mkdir(files_root, 0755) != 0 && errno != EEXIST) {
                fprintf(stderr, "gradcam-bench: mkdir %s: %s\n", files_root, strerror(errno));
                return 1;
            }
        } else {
            const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
            snprintf(files_root, sizeof files_root, "%s/gradcam-bench-XXXXXX", tmp);
            if (!mkdtemp(files_root)) {
                fprintf(stderr, "gradcam-bench: mkdtemp: %s\n", strerror(errno));
                return 1;
            }
            made_root = 1;
        }
    }

    if (a.files_prepare) { /* the JPEGs only (e.g. before a GPU-utilization sampler starts) */
        char dir[4096], err[320] = "";
        snprintf(dir, sizeof dir, "%s/jpeg-%dx%d-%d", files_root, a.image_w, a.image_h, a.files);
        int ok = *files_root && make_jpegs(dir, a.files, a.image_w, a.image_h, a.batches[0],
                                           &threads, err, sizeof err);
        if (!ok)
            fprintf(stderr, "gradcam-bench: --files-prepare: %s\n",
                    *err ? err : "needs --modes files and --files-dir");
        pool_destroy(&threads);
        free_inputs(&in);
        return ok ? 0 : 1;
    }
    if (!a.json && !a.jsonl)
        fprintf(stderr, "gradcam-bench: %s, %s backend, %dx%d, %d threads\n", a.weights,
                backend_name(a.backend), a.size, a.size, meta.threads);
    run_env e = {.a = &a, .in = &in, .threads = &threads};
    int all_ok = 1;
    for (int32_t k = 0; k < a.n_methods; k++)
        for (int32_t p = 0; p < a.n_precisions; p++)
            for (int32_t b = 0; b < a.n_batches; b++)
                all_ok &= run_group(&a, &meta, &e, &threads, bin, files_root, a.methods[k],
                                    a.precisions[p], a.batches[b]);
    if (made_root && is_dir(files_root))
        remove_tree(files_root, "/dev/null");
    pool_destroy(&threads);
    free_inputs(&in);
    return all_ok ? 0 : 1; /* 1: some selected mode failed (the output says which and why) */
}
