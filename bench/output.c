/*
 * output.c — gradcam-bench's outputs: the text table, --json (one object per precision and
 * batch, what bench/run_cpu_bench.sh reads) and --jsonl (one self-contained record per mode,
 * what scripts/device-bench.sh collects).
 */
#ifdef GC_HAVE_OPENBLAS
#include <cblas.h>
#else /* built without OpenBLAS: the library's built-in GEMM */
static const char *openblas_get_config(void) { return "none (built-in GEMM)"; }
static const char *openblas_get_corename(void) { return "none"; }
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static double images_per_s(const bench_mode *m)
{
    if (!strcmp(m->name, "files"))
        return m->files_wall_s > 0.0 ? m->files_images / m->files_wall_s : 0.0;
    return m->median_ms > 0.0 ? 1e3 * m->batch / m->median_ms : 0.0;
}

/* Layer l's achieved TFLOP/s in the profiled pass (0 for a pool or without the counts). */
static double layer_tflops(const bench_meta *meta, const bench_mode *m, int l)
{
    if (l >= meta->work.n_layers || m->layer_ms[l] <= 0.0) /* the convs' counts need only
                                                              the arch, not the head's */
        return 0.0;
    return meta->work.layer_flops[l] * m->stages.images / (m->layer_ms[l] * 1e9);
}

void print_record(const bench_args *a, const bench_meta *meta, const bench_mode *m)
{
    FILE *o = stdout;
    const double ips = m->ok ? images_per_s(m) : 0.0;
    const double flops = meta->work.ok ? meta->work.conv_flops + meta->work.head_flops : 0.0;
    const double peak = peak_tflops(meta->peak, m->precision);
    fprintf(o, "{\"impl\":\"ours\",\"tool\":\"gradcam-bench\",\"mode\":");
    json_string(o, m->name);
    fprintf(o, ",\"method\":\"%s\"", method_name(m->method));
    fprintf(o, ",\"backend\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"size\":%d,\"ok\":%s",
            backend_name(a->backend), gc_precision_name(m->precision), m->batch, a->size,
            m->ok ? "true" : "false");
    fprintf(o, ",\"error\":");
    json_string(o, *m->error ? m->error : NULL);
    fprintf(o, ",\"what\":");
    json_string(o, m->what);
    fprintf(o, ",\"layer\":");
    json_string(o, *m->layer ? m->layer : NULL);
    fprintf(o, ",\"autotune\":%s", a->autotune ? "true" : "false");
    /* calls smaller than the context's max_batch (--context-batch; 0: max_batch is the batch)
     * and GC_BATCH_PLANS (null: the default, auto), the conv plans such calls run on */
    fprintf(o, ",\"context_batch\":%d,\"batch_plans\":",
            a->context_batch > m->batch ? a->context_batch : 0);
    const char *plans = getenv("GC_BATCH_PLANS");
    json_string(o, plans && *plans ? plans : NULL);
    /* the CUDA backend's graph replay (GC_CUDA_GRAPHS=1, off by default) */
    const char *graphs = getenv("GC_CUDA_GRAPHS");
    fprintf(o, ",\"cuda_graphs\":%s", graphs && *graphs && strcmp(graphs, "0") ? "true" : "false");
    /* the command's GRADCAM_IO_NICE (files mode), from the environment: a failed run has no
     * --stats to say it */
    const char *io_nice = getenv("GRADCAM_IO_NICE");
    fprintf(o, ",\"io_nice\":%d", io_nice && *io_nice ? atoi(io_nice) : 0);
    /* a batch's waits sleeping on blocking-sync events (GC_CUDA_BLOCKING_SYNC=1, off by
     * default) instead of spinning */
    const char *blocking = getenv("GC_CUDA_BLOCKING_SYNC");
    fprintf(o, ",\"cuda_blocking_sync\":%s", blocking && !strcmp(blocking, "1") ? "true" : "false");
    /* gc_explain_render's batches in two overlapped halves (GC_RENDER_PIPELINE=1, off by
     * default; the backend takes it only for unprofiled calls of more than one image) */
    const char *split = getenv("GC_RENDER_PIPELINE");
    fprintf(o, ",\"render_pipeline\":%s", split && !strcmp(split, "1") ? "true" : "false");
    /* conv + bias + ReLU as one cuDNN graph: by default but in fp32 (cuda/cudnn_conv.cu);
     * GC_CUDNN_FUSE=0 unfuses every conv (the plain conv, then our bias + ReLU kernel), =1
     * fuses every one */
    const char *fuse = getenv("GC_CUDNN_FUSE");
    const int fused = fuse && *fuse ? strcmp(fuse, "0") != 0 : m->precision != GC_PRECISION_FP32;
    fprintf(o, ",\"cudnn_fusion\":%s,\"cudnn_fuse_env\":", fused ? "true" : "false");
    json_string(o, fuse && *fuse ? fuse : NULL);
    /* the first conv by our kernels (cuda/first_conv.cu, by default in fp32; first_conv_tc.cu)
     * or cuDNN's: which one GC_FIRST_CONV asked for ("ours", "cudnn", "tc"; null: the
     * default) */
    const char *first = getenv("GC_FIRST_CONV");
    fprintf(o, ",\"first_conv_env\":");
    json_string(o, first && *first ? first : NULL);
    /* the first block (conv, conv, pool) in one kernel: GC_FIRST_BLOCK ("fused", the backend's
     * one value; cuda/first_block.cu) */
    const char *block = getenv("GC_FIRST_BLOCK");
    fprintf(o, ",\"first_block_env\":");
    json_string(o, block && *block ? block : NULL);
    /* the head's GEMMs through cuBLASLt, each on the algorithm timed fastest at creation
     * (GC_HEAD_GEMM=lt, cuda/backend_head_gemm.cu; its choices in autotune_report) */
    const char *head = getenv("GC_HEAD_GEMM");
    fprintf(o, ",\"head_gemm_env\":");
    json_string(o, head && *head ? head : NULL);
    /* the tensor calls' upload: "whole" (GC_TENSOR_UPLOAD=whole: one host copy, then one
     * upload, as before session 20); null: the default, in overlapping parts */
    const char *tu = getenv("GC_TENSOR_UPLOAD");
    fprintf(o, ",\"tensor_upload_env\":");
    json_string(o, tu && *tu ? tu : NULL);
    /* no runtime-compiled cuDNN engines (GC_CUDNN_RTC=0, which scripts/device-check.sh sets
     * when plans build slowly): a fused conv may then have run unfused */
    const char *rtc = getenv("GC_CUDNN_RTC");
    fprintf(o, ",\"cudnn_rtc\":%s", rtc && !strcmp(rtc, "0") ? "false" : "true");
    if (m->context_ms > 0.0)
        fprintf(o, ",\"context_ms\":%.1f", m->context_ms);
    if (*m->autotune_report) {
        fprintf(o, ",\"autotune_report\":");
        json_string(o, m->autotune_report);
    }
    if (m->ok && m->count > 0) {
        fprintf(o, ",\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"mean_ms\":%.4f,"
                   "\"images_per_s\":%.3f,\"iters\":%d,\"warmup\":%d,\"samples_ms\":[",
                m->median_ms, m->min_ms, m->max_ms, m->mean_ms, ips, m->count,
                strcmp(m->name, "files") ? a->warmup : 0);
        for (int j = 0; j < m->count; j++)
            fprintf(o, "%s%.4f", j ? "," : "", m->samples_ms[j]);
        fprintf(o, "]");
        if (flops > 0.0 && strcmp(m->name, "preprocess")) {
            const double tf = flops * ips * 1e-12;
            fprintf(o, ",\"tflops\":%.3f", tf);
            if (peak > 0.0)
                fprintf(o, ",\"peak_tflops\":%.1f,\"pct_peak\":%.2f", peak, 100.0 * tf / peak);
        }
    }
    if (!strcmp(m->name, "host") && m->ok)
        fprintf(o, ",\"explain_ms\":%.4f,\"render_ms\":%.4f,\"render_threads\":%d",
                m->explain_ms, m->render_ms, meta->threads);
    if (!strcmp(m->name, "files"))
        fprintf(o, ",\"files\":{\"images\":%d,\"ok\":%d,\"image_size\":[%d,%d],\"wall_s\":%.3f,"
                   "\"startup_s\":%.3f,\"steady_images_per_s\":%.2f,\"run_epoch_s\":[%.3f,%.3f],"
                   "\"format\":\"%s\",\"workers_per_device\":%d,\"out_fs\":\"%s\",\"stats\":%s}",
                m->files_images, m->files_ok, a->image_w, a->image_h, m->files_wall_s,
                m->files_startup_s, m->files_steady_ips, m->files_epoch[0], m->files_epoch[1],
                a->files_format, a->files_workers, *m->files_fs ? m->files_fs : "unknown",
                *m->files_stats ? m->files_stats : "null");
    if (strcmp(m->name, "files") && m->ok)
        fprintf(o, ",\"device_bytes\":%lld,\"device_used_bytes\":%lld,\"conv_images\":%d",
                (long long)m->last.device_bytes, (long long)m->device_used_bytes,
                m->last.conv_images);
    if (m->profiled) {
        const gc_profile *p = &m->stages;
        fprintf(o, ",\"stages_ms\":{\"total\":%.4f,\"preprocess\":%.4f,\"upload\":%.4f,"
                   "\"features\":%.4f,\"head\":%.4f,\"backward\":%.4f,\"cam\":%.4f,"
                   "\"download\":%.4f,\"results\":%.4f",
                p->total_ms, p->preprocess_ms, p->upload_ms, p->features_ms, p->head_ms,
                p->backward_ms, p->cam_ms, p->download_ms, p->results_ms);
        if (!strcmp(m->name, "host"))
            fprintf(o, ",\"render\":%.4f", m->render_ms);
        fprintf(o, "},\"profile_iters\":%d", a->profile_iters);
        if (m->n_layers > 0) {
            fprintf(o, ",\"layers\":[");
            for (int l = 0; l < m->n_layers; l++) {
                fprintf(o, "%s{\"name\":", l ? "," : "");
                json_string(o, m->layer_name[l]);
                const int conv = l < meta->work.n_layers && meta->work.layer_flops[l] > 0.0;
                fprintf(o, ",\"kind\":\"%s\",\"ms\":%.4f,\"tflops\":%.4g}",
                        l >= meta->work.n_layers ? "?" : conv ? "conv" : "pool", m->layer_ms[l],
                        layer_tflops(meta, m, l));
            }
            fprintf(o, "]");
        }
        if (m->n_steps > 0) {
            fprintf(o, ",\"steps\":[");
            for (int k = 0; k < m->n_steps; k++) {
                fprintf(o, "%s{\"name\":", k ? "," : "");
                json_string(o, m->step_name[k]);
                fprintf(o, ",\"ms\":%.4f}", m->step_ms[k]);
            }
            fprintf(o, "]");
        }
    } else if (*m->profile_error) {
        fprintf(o, ",\"profile_error\":");
        json_string(o, m->profile_error);
    }
    fprintf(o, ",\"flops_per_image\":%.6g,\"flops_note\":", flops);
    json_string(o, meta->work.note);
    fprintf(o, ",\"input\":");
    if (!strcmp(m->name, "gpu") || !strcmp(m->name, "gpu_forward") ||
        !strcmp(m->name, "gradcam") || !strcmp(m->name, "forward") ||
        !strcmp(m->name, "near_forward"))
        fprintf(o, "\"seeded random float32 (N,3,%d,%d)\"", a->size, a->size);
    else
        fprintf(o, "\"uint8 RGB %dx%d\"", a->image_w, a->image_h);
    fprintf(o, ",\"library_version\":");
    json_string(o, gc_version_string());
    fprintf(o, ",\"commit\":");
    json_string(o, a->commit);
    fprintf(o, ",\"machine\":{\"cpu\":");
    json_string(o, meta->cpu);
    fprintf(o, ",\"cores\":%ld,\"threads\":%d", meta->cores, meta->threads);
    if (a->backend == GC_BACKEND_CPU) {
        fprintf(o, ",\"openblas_core\":");
        json_string(o, openblas_get_corename());
    }
    fprintf(o, "},\"gpu\":");
    if (meta->gpu.present) {
        fprintf(o, "{\"name\":");
        json_string(o, meta->gpu.name);
        fprintf(o, ",\"cc\":\"%d.%d\",\"sms\":%d,\"memory_bytes\":%lld,\"cuda_driver\":%d,"
                   "\"cuda_runtime\":%d,\"cudnn\":%ld",
                meta->gpu.cc_major, meta->gpu.cc_minor, meta->gpu.sms,
                (long long)meta->gpu.memory_bytes, meta->gpu.driver_api, meta->gpu.runtime,
                meta->gpu.cudnn);
        fprintf(o, ",\"peak_row\":");
        json_string(o, meta->peak ? meta->peak->label : NULL);
        fprintf(o, "}");
    } else if (a->backend == GC_BACKEND_CUDA) {
        fprintf(o, "{\"name\":");
        json_string(o, meta->gpu_name);
        fprintf(o, ",\"error\":");
        json_string(o, meta->gpu.error);
        fprintf(o, ",\"peak_row\":");
        json_string(o, meta->peak ? meta->peak->label : NULL);
        fprintf(o, "}");
    } else {
        fprintf(o, "null");
    }
    fprintf(o, "}\n");
    fflush(o);
}

/* The CPU script's format: one object per precision and batch, modes by name. */
void print_json(const bench_args *a, const bench_meta *meta, const bench_mode *modes,
                       int n_modes, int32_t batch, gc_precision prec)
{
    printf("{\"tool\":\"gradcam-bench\",\"library_version\":");
    json_string(stdout, gc_version_string());
    printf(",\"backend\":\"%s\",\"precision\":\"%s\",\"method\":\"%s\",\"machine\":"
           "{\"cpu\":",
           backend_name(a->backend), gc_precision_name(prec), method_name(modes[0].method));
    json_string(stdout, meta->cpu);
    printf(",\"cores\":%ld,\"threads\":%d,\"openblas_config\":", meta->cores, meta->threads);
    json_string(stdout, openblas_get_config());
    printf(",\"openblas_core\":");
    json_string(stdout, openblas_get_corename());
    printf(",\"openblas_coretype_env\":");
    json_string(stdout, getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "");
    /* threading knobs that change the numbers a lot (see docs/benchmarks.md) */
    static const char *const knobs[] = {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
                                        "OPENBLAS_NUM_THREADS", "OMP_PROC_BIND"};
    printf(",\"env\":{");
    for (size_t k = 0, first = 1; k < sizeof knobs / sizeof *knobs; k++) {
        const char *v = getenv(knobs[k]);
        if (!v)
            continue;
        printf("%s\"%s\":", first ? "" : ",", knobs[k]);
        json_string(stdout, v);
        first = 0;
    }
    printf("}},\"config\":{\"weights\":");
    json_string(stdout, a->weights);
    printf(",\"batch\":%d,\"size\":%d,\"iters\":%d,\"warmup\":%d,\"image_size\":[%d,%d],"
           "\"autotune\":%s},\"modes\":{",
           batch, a->size, a->iters, a->warmup, a->image_w, a->image_h,
           a->autotune ? "true" : "false");
    for (int i = 0, first = 1; i < n_modes; i++) {
        const bench_mode *m = &modes[i];
        if (m->skipped)
            continue;
        printf("%s", first ? "" : ",");
        first = 0;
        json_string(stdout, m->name);
        printf(":{\"ok\":%s,\"what\":", m->ok ? "true" : "false");
        json_string(stdout, m->what);
        if (!m->ok) {
            printf(",\"error\":");
            json_string(stdout, m->error);
            printf("}");
            continue;
        }
        printf(",\"layer\":");
        json_string(stdout, *m->layer ? m->layer : NULL);
        printf(",\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
               "\"images_per_s\":%.4f,\"samples_ms\":[",
               m->median_ms, m->min_ms, m->max_ms, m->mean_ms, images_per_s(m));
        for (int j = 0; j < m->count; j++)
            printf("%s%.3f", j ? "," : "", m->samples_ms[j]);
        printf("]}");
    }
    printf("}}\n");
    fflush(stdout);
}

void print_text(const bench_args *a, const bench_meta *meta, const bench_mode *modes,
                       int n_modes, int32_t batch, gc_precision prec)
{
    const double flops = meta->work.ok ? meta->work.conv_flops + meta->work.head_flops : 0.0;
    const double peak = peak_tflops(meta->peak, prec);
    printf("gradcam-bench  libgradcam %s, %s backend, %s, %s, batch %d, %dx%d%s\n",
           gc_version_string(), backend_name(a->backend), method_name(modes[0].method),
           gc_precision_name(prec), batch, a->size, a->size, a->autotune ? ", autotune" : "");
    printf("machine        %s, %ld cores online, %d threads (OpenBLAS core %s)\n", meta->cpu,
           meta->cores, meta->threads, openblas_get_corename());
    if (meta->gpu.present)
        printf("gpu            %s (cc %d.%d, %d SMs), CUDA driver %d runtime %d, cuDNN %ld, "
               "peak %s\n",
               meta->gpu.name, meta->gpu.cc_major, meta->gpu.cc_minor, meta->gpu.sms,
               meta->gpu.driver_api, meta->gpu.runtime, meta->gpu.cudnn,
               meta->peak ? meta->peak->label : "unknown");
    printf("work           %.2f GFLOP per image forward (%s)\n", flops * 1e-9, meta->work.note);
    printf("%-12s %-14s %10s %10s %10s %11s %8s %7s\n", "mode", "target", "ms/batch", "min ms",
           "max ms", "images/s", "TFLOP/s", "% peak");
    for (int i = 0; i < n_modes; i++) {
        const bench_mode *m = &modes[i];
        if (m->skipped)
            continue;
        if (!m->ok) {
            printf("%-12s failed: %s\n", m->name, m->error);
            continue;
        }
        const int no_work = !strcmp(m->name, "preprocess");
        const double ips = images_per_s(m), tf = no_work ? 0.0 : flops * ips * 1e-12;
        printf("%-12s %-14s %10.2f %10.2f %10.2f %11.2f %8.3f", m->name,
               *m->layer ? m->layer : "-", m->median_ms, m->min_ms, m->max_ms, ips, tf);
        if (peak > 0.0 && !no_work)
            printf(" %6.1f%%", 100.0 * tf / peak);
        printf("\n");
        if (!strcmp(m->name, "host"))
            printf("%12s explain %.2f ms + render %.2f ms (%d threads)\n", "", m->explain_ms,
                   m->render_ms, meta->threads);
        if (!strcmp(m->name, "files"))
            printf("%12s %d JPEGs %dx%d: %.2f s wall, start-up %.2f s, steady %.1f img/s\n",
                   "", m->files_images, a->image_w, a->image_h, m->files_wall_s,
                   m->files_startup_s, m->files_steady_ips);
        if (!strcmp(m->name, "files") && *m->files_stats)
            printf("%12s the command's --stats: %s\n", "", m->files_stats);
        if (m->last.device_bytes > 0 || m->device_used_bytes > 0)
            printf("%12s device memory: context %.1f MiB, in use %.1f MiB\n", "",
                   m->last.device_bytes / 1048576.0, m->device_used_bytes / 1048576.0);
        if (m->profiled)
            printf("%12s stages ms: preprocess %.2f upload %.2f features %.2f head %.2f "
                   "backward %.2f cam %.2f download %.2f results %.2f (total %.2f, "
                   "profiled)\n",
                   "", m->stages.preprocess_ms, m->stages.upload_ms, m->stages.features_ms,
                   m->stages.head_ms, m->stages.backward_ms, m->stages.cam_ms,
                   m->stages.download_ms, m->stages.results_ms, m->stages.total_ms);
        else if (*m->profile_error)
            printf("%12s profile: %s\n", "", m->profile_error);
        for (int l = 0; m->profiled && l < m->n_layers; l++) { /* four to a line */
            if (l % 4 == 0)
                printf("%12s layers ms:", "");
            const double ltf = layer_tflops(meta, m, l);
            printf(" %s %.3f", m->layer_name[l], m->layer_ms[l]);
            if (ltf > 0.0)
                printf(ltf >= 10.0 ? " (%.0f TF/s)" : " (%.2f TF/s)", ltf);
            printf(l % 4 == 3 || l + 1 == m->n_layers ? "\n" : ",");
        }
        for (int k = 0; m->profiled && k < m->n_steps; k++) /* three to a line */
            printf("%s %s %.3f%s", k % 3 == 0 ? "             steps ms:" : "",
                   m->step_name[k], m->step_ms[k],
                   k % 3 == 2 || k + 1 == m->n_steps ? "\n" : ",");
    }
    for (int i = 0; i < n_modes; i++)
        if (!modes[i].skipped)
            printf("  %-12s %s\n", modes[i].name, modes[i].what);
    for (int i = 0; i < n_modes; i++)
        if (!modes[i].skipped && *modes[i].autotune_report) {
            printf("context created in %.0f ms\n%s", modes[i].context_ms,
                   modes[i].autotune_report);
            break;
        }
    printf("\n");
}
