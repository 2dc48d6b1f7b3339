/*
 * main.c — `gradcam`: Grad-CAM heatmaps for whole image folders.
 * Options, set-up and the exit status; the work is in pipeline.c.
 * Exit: 0 every input ok; 1 some inputs failed (the rest written); 2 usage or set-up error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define DEMO_MODEL "shapes-vgg.safetensors"

static const char *usage_text =
    "usage: gradcam [OPTIONS] INPUT...\n"
    "\n"
    "Grad-CAM heatmaps (\"where did the CNN look?\") for VGG classifiers, for image files,\n"
    "whole folders, or paths streamed on standard input.\n"
    "\n"
    "  INPUT              image file, folder (recursed; .png .jpg .jpeg, any case), or '-'\n"
    "                     (paths read from stdin as they arrive, one per line)\n"
    "  -w, --weights F    safetensors weights, torchvision or timm VGG (default: the bundled\n"
    "                     demo model)\n"
    "  -o, --out DIR      output folder (default ./gradcam-out), mirroring input folders\n"
    "      --layer NAME   target layer: block5_conv3, block4_pool, features.29 (default: the\n"
    "                     last conv layer)\n"
    "      --class N      explain class N instead of the top-1 prediction\n"
    "      --method M     gradcam (default), gradcam++, xgradcam, layercam, hirescam\n"
    "      --counterfactual  map what speaks against the class (gradient of -score)\n"
    "      --score S      logit (default) or softmax\n"
    "      --norm N       max (default: cam/max) or minmax (as pytorch-grad-cam)\n"
    "      --arch CFG     VGG cfg overriding inference, e.g. 64,64,M,128,128,M,...\n"
    "      --preprocess P torch (RGB, ImageNet mean/std) or caffe (BGR, Keras VGG16)\n"
    "      --size N|WxH   network input size (default: the model's, else 224)\n"
    "      --resize R     stretch (default) or crop (center crop to the input's aspect)\n"
    "      --outputs LIST any of overlay,heatmap,cam (default overlay,heatmap)\n"
    "      --format F     png (default) or jpg, for overlay and heatmap\n"
    "      --colormap C   jet (default), turbo, viridis, inferno, magma\n"
    "      --alpha A      heatmap weight in the overlay (default 0.4; the image gets 1-A)\n"
    "      --png-level N  zlib level 0-9 for PNG outputs (default 1: fast)\n"
    "      --jpeg-quality N  1-100 (default 95)\n"
    "      --backend B    auto (default), cpu, cuda\n"
    "      --device N     CUDA device (default 0)\n"
    "      --batch N      images per batch (default 8)\n"
    "      --precision P  fp32, tf32, bf16, fp16 (default: fp32 on CPU, bf16 on GPU)\n"
    "      --threads N    decode/encode threads (default: all cores)\n"
    "      --labels FILE  class names, one per line (ImageNet's are built in for 1000 classes)\n"
    "      --max-pixels N refuse larger images (default 100000000)\n"
    "      --shard I/N    process only shard I (0-based) of N: a stable partition by path,\n"
    "                     for job arrays; the N shards together cover every input once\n"
    "      --resume       skip inputs whose outputs are complete; append to results.jsonl\n"
    "      --overwrite    start over in an output folder that has results\n"
    "      --progress     progress line on stderr even when it is not a terminal\n"
    "  -q, --quiet        no progress line\n"
    "  -h, --help         this text\n"
    "      --version      versions\n"
    "\n"
    "Outputs, for dir/sub/cat.jpg given as dir: OUT/sub/cat.overlay.png, OUT/sub/cat.heatmap.png,\n"
    "OUT/sub/cat.cam.npy (float32, the layer's h x w); OUT/results.jsonl gets one JSON line per\n"
    "input. Exit status: 0 all ok, 1 some inputs failed, 2 usage or set-up error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "gradcam: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'gradcam --help'.\n");
    return 2;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

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

static int parse_args(int argc, char **argv, cli_config *cfg)
{
    enum {
        O_LAYER = 256, O_CLASS, O_SCORE, O_NORM, O_ARCH, O_PRE, O_SIZE, O_RESIZE, O_OUTPUTS,
        O_FORMAT, O_CMAP, O_ALPHA, O_PNGL, O_JPGQ, O_BACKEND, O_DEVICE, O_BATCH, O_PREC,
        O_THREADS, O_LABELS, O_MAXPX, O_RESUME, O_OVERWRITE, O_PROGRESS, O_VERSION, O_SHARD,
        O_METHOD, O_COUNTER
    };
    static const struct option longs[] = {
        {"weights", required_argument, 0, 'w'}, {"out", required_argument, 0, 'o'},
        {"layer", required_argument, 0, O_LAYER}, {"class", required_argument, 0, O_CLASS},
        {"score", required_argument, 0, O_SCORE}, {"norm", required_argument, 0, O_NORM},
        {"arch", required_argument, 0, O_ARCH}, {"preprocess", required_argument, 0, O_PRE},
        {"size", required_argument, 0, O_SIZE}, {"resize", required_argument, 0, O_RESIZE},
        {"outputs", required_argument, 0, O_OUTPUTS}, {"format", required_argument, 0, O_FORMAT},
        {"colormap", required_argument, 0, O_CMAP}, {"alpha", required_argument, 0, O_ALPHA},
        {"png-level", required_argument, 0, O_PNGL},
        {"jpeg-quality", required_argument, 0, O_JPGQ},
        {"backend", required_argument, 0, O_BACKEND}, {"device", required_argument, 0, O_DEVICE},
        {"batch", required_argument, 0, O_BATCH}, {"precision", required_argument, 0, O_PREC},
        {"threads", required_argument, 0, O_THREADS}, {"labels", required_argument, 0, O_LABELS},
        {"max-pixels", required_argument, 0, O_MAXPX}, {"resume", no_argument, 0, O_RESUME},
        {"overwrite", no_argument, 0, O_OVERWRITE}, {"progress", no_argument, 0, O_PROGRESS},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, O_VERSION}, {"shard", required_argument, 0, O_SHARD},
        {"method", required_argument, 0, O_METHOD},
        {"counterfactual", no_argument, 0, O_COUNTER},
        {0, 0, 0, 0}};
    static const char *scores[] = {"logit", "softmax"}, *norms[] = {"max", "minmax"},
                      *pres[] = {"auto", "torch", "caffe"}, *resizes[] = {"stretch", "crop"},
                      *formats[] = {"png", "jpg"},
                      *cmaps[] = {"jet", "turbo", "viridis", "inferno", "magma"},
                      *backends[] = {"auto", "cpu", "cuda"},
                      *precs[] = {"auto", "fp32", "tf32", "bf16", "fp16"},
                      *methods[] = {"gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"};
    int c, v;
    long num;
    opterr = 0; /* our own messages, which name the program as "gradcam" */
    while ((c = getopt_long(argc, argv, ":w:o:qh", longs, NULL)) != -1) {
        switch (c) {
        case 'w': cfg->lib.weights_path = optarg; break;
        case 'o': cfg->out_dir = optarg; break;
        case O_LAYER: cfg->lib.layer = optarg; break;
        case O_CLASS:
            if (!parse_int(optarg, 0, INT32_MAX, &num))
                return usage_error("--class '%s' is not a class number", optarg);
            cfg->class_id = (int32_t)num;
            break;
        case O_SCORE:
            if ((v = pick(optarg, scores, 2)) < 0)
                return usage_error("--score '%s': logit or softmax", optarg);
            cfg->lib.score = (gc_score)v;
            break;
        case O_NORM:
            if ((v = pick(optarg, norms, 2)) < 0)
                return usage_error("--norm '%s': max or minmax", optarg);
            cfg->lib.norm = (gc_norm)v;
            break;
        case O_ARCH: cfg->lib.arch = optarg; break;
        case O_PRE:
            if ((v = pick(optarg, pres, 3)) < 0)
                return usage_error("--preprocess '%s': torch or caffe", optarg);
            cfg->lib.preprocess = (gc_preprocess)v;
            break;
        case O_SIZE: {
            int w = 0, h = 0;
            char x;
            if (sscanf(optarg, "%dx%d%c", &w, &h, &x) != 2) {
                if (!parse_int(optarg, 1, 16384, &num))
                    return usage_error("--size '%s': N or WxH", optarg);
                w = h = (int)num;
            }
            if (w < 1 || h < 1 || w > 16384 || h > 16384)
                return usage_error("--size '%s': sides 1..16384", optarg);
            cfg->lib.input_width = w;
            cfg->lib.input_height = h;
            break;
        }
        case O_RESIZE:
            if ((v = pick(optarg, resizes, 2)) < 0)
                return usage_error("--resize '%s': stretch or crop", optarg);
            cfg->lib.resize = (gc_resize)v;
            break;
        case O_OUTPUTS: {
            cfg->outputs = 0;
            char *list = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (strcmp(t, "overlay") == 0)
                    cfg->outputs |= OUT_OVERLAY;
                else if (strcmp(t, "heatmap") == 0)
                    cfg->outputs |= OUT_HEATMAP;
                else if (strcmp(t, "cam") == 0)
                    cfg->outputs |= OUT_CAM;
                else {
                    int r = usage_error("--outputs: unknown output '%s' (overlay, heatmap, cam)", t);
                    free(list);
                    return r;
                }
            }
            free(list);
            if (!cfg->outputs)
                return usage_error("--outputs '%s' names no output", optarg);
            break;
        }
        case O_FORMAT:
            if ((v = pick(strcmp(optarg, "jpeg") == 0 ? "jpg" : optarg, formats, 2)) < 0)
                return usage_error("--format '%s': png or jpg", optarg);
            cfg->format = (gc_file_format)v;
            break;
        case O_CMAP:
            if ((v = pick(optarg, cmaps, 5)) < 0)
                return usage_error("--colormap '%s': jet, turbo, viridis, inferno or magma",
                                   optarg);
            cfg->colormap = (gc_colormap)v;
            break;
        case O_ALPHA: {
            char *end;
            double a = strtod(optarg, &end);
            if (end == optarg || *end || !(a >= 0.0 && a <= 1.0))
                return usage_error("--alpha '%s': a number in [0, 1]", optarg);
            cfg->alpha = (float)a;
            break;
        }
        case O_PNGL:
            if (!parse_int(optarg, 0, 9, &num))
                return usage_error("--png-level '%s': 0..9", optarg);
            cfg->png_level = (int)num;
            break;
        case O_JPGQ:
            if (!parse_int(optarg, 1, 100, &num))
                return usage_error("--jpeg-quality '%s': 1..100", optarg);
            cfg->jpeg_quality = (int)num;
            break;
        case O_BACKEND:
            if ((v = pick(optarg, backends, 3)) < 0)
                return usage_error("--backend '%s': auto, cpu or cuda", optarg);
            cfg->lib.backend = (gc_backend)v;
            break;
        case O_DEVICE:
            if (!parse_int(optarg, 0, 1024, &num))
                return usage_error("--device '%s': a device number", optarg);
            cfg->lib.device = (int32_t)num;
            break;
        case O_BATCH:
            if (!parse_int(optarg, 1, 4096, &num))
                return usage_error("--batch '%s': 1..4096", optarg);
            cfg->lib.max_batch = (int32_t)num;
            break;
        case O_PREC:
            if ((v = pick(optarg, precs, 5)) < 0)
                return usage_error("--precision '%s': fp32, tf32, bf16 or fp16", optarg);
            cfg->lib.precision = (gc_precision)v;
            break;
        case O_THREADS:
            if (!parse_int(optarg, 1, 1024, &num))
                return usage_error("--threads '%s': 1..1024", optarg);
            cfg->threads = (int)num;
            break;
        case O_LABELS: cfg->labels_path = optarg; break;
        case O_MAXPX:
            if (!parse_int(optarg, 1, LONG_MAX, &num))
                return usage_error("--max-pixels '%s': a positive number", optarg);
            cfg->max_pixels = num;
            break;
        case O_METHOD:
            if ((v = pick(optarg, methods, 5)) < 0)
                return usage_error("--method '%s': gradcam, gradcam++, xgradcam, layercam or "
                                   "hirescam", optarg);
            cfg->lib.method = (gc_method)v;
            break;
        case O_COUNTER: cfg->lib.counterfactual = 1; break;
        case O_SHARD: {
            int si, sn;
            char x;
            if (sscanf(optarg, "%d/%d%c", &si, &sn, &x) != 2 || sn < 1 || si < 0 || si >= sn)
                return usage_error("--shard '%s': I/N with 0 <= I < N", optarg);
            cfg->shard_i = si;
            cfg->shard_n = sn;
            break;
        }
        case O_RESUME: cfg->resume = 1; break;
        case O_OVERWRITE: cfg->overwrite = 1; break;
        case O_PROGRESS: cfg->progress = 1; break;
        case 'q': cfg->progress = 0; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        case O_VERSION:
            printf("gradcam %s (libgradcam %s)\n", gc_version_string(), gc_version_string());
            exit(0);
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (cfg->resume && cfg->overwrite)
        return usage_error("%s", "--resume and --overwrite exclude each other");
    cfg->inputs = argv + optind;
    cfg->n_inputs = argc - optind;
    if (cfg->n_inputs == 0)
        return usage_error("%s", "no INPUT given (files, folders, or - for stdin)");
    return 0;
}

int main(int argc, char **argv)
{
    /* The CPU backend's OpenMP workers spin between parallel regions by default, taking the
     * cores our decode and encode threads need (measured: the command took twice as long).
     * libgomp reads its wait policy when it loads, before main, so set it and start again. */
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
        execv("/proc/self/exe", argv); /* on failure, just go on with the default policy */
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
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.threads = cores > 0 ? (int)cores : 1;
    int rc = parse_args(argc, argv, &cfg);
    if (rc)
        return rc;

    char demo[PATH_MAX];
    if (!cfg.lib.weights_path && !(cfg.lib.weights_path = find_demo_model(demo, sizeof demo))) {
        fprintf(stderr, "gradcam: no --weights given and the bundled demo model (%s) was not "
                        "found beside the program\n", DEMO_MODEL);
        return 2;
    }
    int from_stdin = 0;
    for (int i = 0; i < cfg.n_inputs; i++)
        from_stdin |= strcmp(cfg.inputs[i], "-") == 0;

    char results[PATH_MAX];
    snprintf(results, sizeof results, "%s/results.jsonl", cfg.out_dir);
    if (!make_parent_dirs(results)) {
        fprintf(stderr, "gradcam: cannot create %s: %s\n", cfg.out_dir, strerror(errno));
        return 2;
    }
    struct stat sb;
    if (!cfg.resume && !cfg.overwrite && stat(results, &sb) == 0) {
        fprintf(stderr, "gradcam: %s holds results of an earlier run; use --resume to go on "
                        "or --overwrite to start over\n", cfg.out_dir);
        return 2;
    }

    gc_context *ctx = NULL;
    if (gc_context_create(&cfg.lib, &ctx) != GC_OK) {
        fprintf(stderr, "gradcam: %s\n", gc_last_error(ctx));
        gc_context_destroy(ctx);
        return 2;
    }
    if (cfg.class_id >= 0) {
        gc_model_info info;
        gc_model_info_get(ctx, &info);
        if (cfg.class_id >= info.num_classes) {
            fprintf(stderr, "gradcam: --class %d: the model has classes 0..%d\n", cfg.class_id,
                    info.num_classes - 1);
            gc_context_destroy(ctx);
            return 2;
        }
    }
    report rep;
    char err[1024];
    input_list list;
    if (cfg.resume || cfg.overwrite)
        remove_stale_temps(cfg.out_dir); /* left by a run that was killed mid-write */
    resume_set earlier = {0};
    if (cfg.resume && !resume_load(results, &earlier, err, sizeof err)) {
        fprintf(stderr, "gradcam: --resume: %s\n", err);
        gc_context_destroy(ctx);
        return 2;
    }
    if (!report_open(&rep, &cfg, ctx, err, sizeof err)) {
        fprintf(stderr, "gradcam: %s\n", err);
        gc_context_destroy(ctx);
        return 2;
    }
    if (!inputs_collect(&cfg, &list)) {
        fprintf(stderr, "gradcam: out of memory listing the inputs\n");
        return 2;
    }
    if (!from_stdin) {
        size_t members = 0;
        for (size_t i = 0; i < list.count; i++)
            members += in_shard(&cfg, list.jobs[i]);
        report_set_total(&rep, members);
    }
    size_t failed = pipeline_run(&cfg, ctx, &rep, &list, from_stdin, cfg.resume ? &earlier : NULL);
    resume_free(&earlier);
    report_finish(&rep);
    size_t done = rep.done;
    report_close(&rep);
    free(list.jobs);
    gc_context_destroy(ctx);
    if (done == 0 && !from_stdin && list.count == 0) {
        fprintf(stderr, "gradcam: no images found in the inputs (.png .jpg .jpeg)\n");
        return 1;
    }
    return failed ? 1 : 0;
}
