/*
 * options.c — the command line of `gradcam` into a cli_config.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mpi_shard.h"

static const char *usage_text =
    "usage: gradcam [OPTIONS] INPUT...\n"
    "\n"
    "Grad-CAM heatmaps (\"where did the CNN look?\") for VGG classifiers, for image files,\n"
    "whole folders, or paths streamed on standard input.\n"
    "\n"
    "  INPUT              image file, folder (recursed; .png .jpg .jpeg .webp, any case), or\n"
    "                     '-' (paths read from stdin as they arrive, one per line; their\n"
    "                     outputs mirror each path below OUT, without '.' and '..')\n"
    "  -w, --weights F    safetensors weights, torchvision or timm VGG (default: the bundled\n"
    "                     demo model)\n"
    "  -o, --out DIR      output folder (default ./gradcam-out), mirroring input folders\n"
    "      --layer NAME   target layer: block5_conv3, block4_pool, features.29 (default: the\n"
    "                     last conv layer)\n"
    "      --class N      explain class N instead of the top-1 prediction\n"
    "      --method M     gradcam (default), gradcam++, xgradcam, layercam, hirescam,\n"
    "                     guided-backprop, guided-gradcam (these add OUT/cat.guided.png)\n"
    "      --counterfactual  map what speaks against the class (gradient of -score)\n"
    "      --score S      logit (default) or softmax\n"
    "      --norm N       max (default: cam/max) or minmax (as pytorch-grad-cam)\n"
    "      --arch CFG     VGG cfg overriding inference, e.g. 64,64,M,128,128,M,...\n"
    "      --preprocess P torch (RGB, ImageNet mean/std) or caffe (BGR, Keras VGG16)\n"
    "      --size N|WxH   network input size (default: the model's, else 224)\n"
    "      --resize R     stretch (default) or crop (center crop to the input's aspect)\n"
    "      --outputs LIST any of overlay,heatmap,cam,guided (default overlay,heatmap, and\n"
    "                     guided with a guided method)\n"
    "      --format F     png (default) or jpg, for the image outputs\n"
    "      --colormap C   jet (default), turbo, viridis, inferno, magma\n"
    "      --alpha A      heatmap weight in the overlay (default 0.4; the image gets 1-A)\n"
    "      --png-level N  PNG compression 0-9, as zlib's levels (default 1: fast)\n"
    "      --jpeg-quality N  1-100 (default 95)\n"
    "      --backend B    auto (default: the GPU when one is usable, else the CPU), cpu,\n"
    "                     cuda\n"
    "      --device D     CUDA device N (default 0), 'all', or a list N,M,...: one worker\n"
    "                     per device; under mpirun each rank takes one (by node-local rank)\n"
    "      --workers-per-device K  contexts per GPU (default 1; 2 lets one batch's copies\n"
    "                     and host work overlap another's compute, for twice the memory)\n"
    "      --batch N      images per batch (default 128 on a GPU, 8 on the CPU)\n"
    "      --precision P  fp32, tf32, bf16, fp16 (default bf16 on a GPU; the CPU has only\n"
    "                     fp32)\n"
    "      --threads N    decode/encode threads (default: the cores this process may use,\n"
    "                     its CPU affinity and a container's CPU quota, split among the\n"
    "                     MPI ranks of a node)\n"
    "      --labels FILE  class names, one per line (ImageNet's are built in for 1000 classes)\n"
    "      --max-pixels N refuse larger images (default 100000000)\n"
    "      --shard I/N    process only shard I (0-based) of N: a stable partition by path,\n"
    "                     for job arrays; the N shards together cover every input once.\n"
    "                     Under mpirun -np K (an MPI build) the K ranks split the shard and\n"
    "                     rank 0 merges results.jsonl\n"
    "      --resume       skip inputs whose outputs are complete; results.jsonl kept,\n"
    "                     one line an input\n"
    "      --overwrite    start over in an output folder that has results\n"
    "      --progress     progress line on stderr even when it is not a terminal\n"
    "      --stats FILE   where the time went, as JSON: each stage's busy and waiting\n"
    "                     seconds (decode, library batches, encode), CPU use, and which\n"
    "                     holds the run back (also a note at the end)\n"
    "  -q, --quiet        no progress line, no notes\n"
    "  -h, --help         this text\n"
    "      --version      versions\n"
    "\n"
    "Outputs, for dir/sub/cat.jpg given as dir: OUT/sub/cat.overlay.png, OUT/sub/cat.heatmap.png,\n"
    "OUT/sub/cat.cam.npy (float32, the layer's h x w), OUT/sub/cat.guided.png (guided methods);\n"
    "OUT/results.jsonl gets one JSON line per input. Exit status: 0 all ok, 1 some inputs\n"
    "failed, 2 usage or set-up error. Memory: decoded images and their outputs in flight\n"
    "stay within a quarter of RAM (GRADCAM_HOST_MEMORY_MB=N sets N MiB); a batch of photos\n"
    "too large for the GPU's memory goes in halves, later batches holding at most the\n"
    "pixels that fitted.\n";

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

/* The output folder as one spelling: "out", "out/", "./out" and "out//" are all "out" (its
 * name starts every output path, and results.jsonl's paths are compared with them under
 * --resume). Kept in a static buffer: parsed once. */
static const char *tidy_folder(const char *dir)
{
    static char buf[3002];
    const int absolute = dir[0] == '/';
    const size_t n = path_parts(dir, 0, buf + 1);
    if (n == 0) /* "/" or "." */
        return absolute ? "/" : ".";
    if (!absolute)
        return buf + 1;
    buf[0] = '/';
    return buf;
}

int parse_args(int argc, char **argv, cli_config *cfg)
{
    enum {
        O_LAYER = 256, O_CLASS, O_SCORE, O_NORM, O_ARCH, O_PRE, O_SIZE, O_RESIZE, O_OUTPUTS,
        O_FORMAT, O_CMAP, O_ALPHA, O_PNGL, O_JPGQ, O_BACKEND, O_DEVICE, O_BATCH, O_PREC,
        O_THREADS, O_LABELS, O_MAXPX, O_RESUME, O_OVERWRITE, O_PROGRESS, O_VERSION, O_SHARD,
        O_METHOD, O_COUNTER, O_PERDEV, O_STATS
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
        {"workers-per-device", required_argument, 0, O_PERDEV},
        {"stats", required_argument, 0, O_STATS},
        {0, 0, 0, 0}};
    static const char *scores[] = {"logit", "softmax"}, *norms[] = {"max", "minmax"},
                      *pres[] = {"auto", "torch", "caffe"}, *resizes[] = {"stretch", "crop"},
                      *formats[] = {"png", "jpg"},
                      *cmaps[] = {"jet", "turbo", "viridis", "inferno", "magma"},
                      *backends[] = {"auto", "cpu", "cuda"},
                      *precs[] = {"auto", "fp32", "tf32", "bf16", "fp16"},
                      *methods[] = {"gradcam", "gradcam++", "xgradcam", "layercam", "hirescam",
                                    "guided-backprop", "guided-gradcam"};
    int c, v, outputs_given = 0;
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
                else if (strcmp(t, "guided") == 0)
                    cfg->outputs |= OUT_GUIDED;
                else {
                    int r = usage_error("--outputs: unknown output '%s' (overlay, heatmap, cam, "
                                        "guided)", t);
                    free(list);
                    return r;
                }
            }
            free(list);
            if (!cfg->outputs)
                return usage_error("--outputs '%s' names no output", optarg);
            outputs_given = 1;
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
            if (!devices_parse(optarg, cfg))
                return usage_error("--device '%s': a device number, 'all', or distinct numbers "
                                   "N,M,...", optarg);
            break;
        case O_PERDEV:
            _Static_assert(MAX_PER_DEVICE == 8, "the message says 1..8");
            if (!parse_int(optarg, 1, MAX_PER_DEVICE, &num))
                return usage_error("--workers-per-device '%s': 1..8", optarg);
            cfg->per_device = (int)num;
            break;
        case O_BATCH:
            if (!parse_int(optarg, 1, 4096, &num))
                return usage_error("--batch '%s': 1..4096", optarg);
            cfg->lib.max_batch = (int32_t)num;
            cfg->batch_given = 1;
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
            cfg->threads_given = 1;
            break;
        case O_LABELS: cfg->labels_path = optarg; break;
        case O_MAXPX:
            if (!parse_int(optarg, 1, LONG_MAX, &num))
                return usage_error("--max-pixels '%s': a positive number", optarg);
            cfg->max_pixels = num;
            break;
        case O_METHOD:
            if ((v = pick(optarg, methods, 7)) < 0)
                return usage_error("--method '%s': gradcam, gradcam++, xgradcam, layercam, "
                                   "hirescam, guided-backprop or guided-gradcam", optarg);
            cfg->lib.method = (gc_method)v;
            break;
        case O_COUNTER: cfg->lib.counterfactual = 1; break;
        case O_SHARD: {
            /* each number whole and in range: sscanf's %d would wrap 4294967298 to 2 */
            char buf[64];
            char *slash = strlen(optarg) < sizeof buf ? strchr(strcpy(buf, optarg), '/') : NULL;
            long si = -1, sn = 0;
            if (slash)
                *slash = 0;
            if (!slash || !parse_int(buf, 0, INT32_MAX, &si) ||
                !parse_int(slash + 1, 1, INT32_MAX, &sn) || si >= sn)
                return usage_error("--shard '%s': I/N with 0 <= I < N", optarg);
            cfg->shard_i = (int)si;
            cfg->shard_n = (int)sn;
            break;
        }
        case O_RESUME: cfg->resume = 1; break;
        case O_OVERWRITE: cfg->overwrite = 1; break;
        case O_PROGRESS: cfg->progress = 1; break;
        case O_STATS: cfg->stats_path = optarg; break;
        case 'q': cfg->progress = 0; cfg->quiet = 1; break;
        case 'h': fputs(usage_text, stdout); exit(0);
        case O_VERSION:
            printf("gradcam %s (libgradcam %s%s)\n", gc_version_string(), gc_version_string(),
                   mpi_built() ? "; MPI" : "");
            exit(0);
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: /* a short option's letter (optopt) may sit inside a group, "-zq" */
            if (optopt > 0 && optopt < 128) {
                const char opt[3] = {'-', (char)optopt, 0};
                return usage_error("unknown option '%s'", opt);
            }
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (cfg->resume && cfg->overwrite)
        return usage_error("%s", "--resume and --overwrite exclude each other");
    if (!*cfg->out_dir || strlen(cfg->out_dir) >= 3000)
        return usage_error("%s", "-o needs a folder name (under 3000 bytes)");
    cfg->out_dir = tidy_folder(cfg->out_dir);
    const int guided = cfg->lib.method == GC_METHOD_GUIDED_BACKPROP ||
                       cfg->lib.method == GC_METHOD_GUIDED_GRADCAM;
    if (guided && !outputs_given)
        cfg->outputs |= OUT_GUIDED; /* the point of asking for a guided method */
    if (!guided && cfg->outputs & OUT_GUIDED)
        return usage_error("%s", "--outputs guided needs --method guided-backprop or "
                                 "guided-gradcam");
    cfg->inputs = argv + optind;
    cfg->n_inputs = argc - optind;
    if (cfg->n_inputs == 0)
        return usage_error("%s", "no INPUT given (files, folders, or - for stdin)");
    return 0;
}

