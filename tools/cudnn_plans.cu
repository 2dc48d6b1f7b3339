/*
 * cudnn_plans.cu — which cuDNN engine our plan builder (cuda/cudnn_conv.cu) picks for every
 * conv of VGG16 (or of a weights file's model) at a batch size, in each precision: fused or not, the engine's tag (" rtc":
 * compiled at run time), its workspace and how long the plan took to build. On a GPU it asks
 * the GPU's cuDNN; without one, cuDNN's deviceless path (9.8+) answers for a device described
 * in a JSON file (tools/h100-sxm.json), so the engine choice can be read before a GPU run.
 *
 *   gradcam-cudnn-plans [--batch N (256)] [--size S (224)] [--precision fp32,tf32,bf16,fp16]
 *                       [--weights FILE]       (its architecture and input size, not VGG16's)
 *                       [--device-json FILE]   (no GPU: cuDNN's deviceless path)
 *                       [--expect-fused]       (fail when a forward plan is not fused, but
 *                                               in true fp32: unfused by default there)
 *
 * Without a GPU driver cuDNN still loads libcuda.so.1: put the toolkit's stub first, e.g.
 *   mkdir -p /tmp/stub && ln -sf /usr/local/cuda/lib64/stubs/libcuda.so /tmp/stub/libcuda.so.1
 *   LD_LIBRARY_PATH=/tmp/stub:$LD_LIBRARY_PATH gradcam-cudnn-plans --device-json tools/h100-sxm.json
 * Exit 0 when every plan built (and, with --expect-fused, every forward plan fused), 1
 * otherwise, 2 on a usage error, 77 when --device-json meets a cuDNN older than 9.8. CTest runs it deviceless against CI's cuDNN
 * (`cudnn_plans_deviceless`): our graphs, as the real library takes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cudnn_conv.cuh"
#include "gradcam.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = (char *)malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = 0;
    fclose(f);
    return s;
}

/* The device of the JSON file as a finalized deviceless property descriptor, or NULL. */
static cudnnBackendDescriptor_t deviceless(const char *path)
{
#if CUDNN_VERSION >= 90800
    char *json = read_file(path);
    if (!json) {
        fprintf(stderr, "%s: cannot read\n", path);
        return NULL;
    }
    cudnnBackendDescriptor_t d = NULL;
    cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, &d);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendSetAttribute(d, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION,
                                     CUDNN_TYPE_CHAR, (int64_t)strlen(json) + 1, json);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnBackendFinalize(d);
    free(json);
    if (s != CUDNN_STATUS_SUCCESS) {
        char m[512];
        cudnnGetLastErrorString(m, sizeof m);
        fprintf(stderr, "%s: cuDNN refused the device properties: %s (%s)\n", path,
                cudnnGetErrorString(s), m);
        return NULL;
    }
    return d;
#else
    fprintf(stderr, "%s: the deviceless path needs cuDNN 9.8 or newer headers\n", path);
    return NULL;
#endif
}

/* The convs of an architecture in torchvision's syntax ("64,64,M,128,..."): input and output
 * channels and the spatial size divisor (2^pools before each). Returns how many. */
#define MAX_CONVS 64
static int parse_arch(const char *arch, int32_t convs[MAX_CONVS][3])
{
    int n = 0, cin = 3, div = 1;
    for (const char *s = arch; *s && n < MAX_CONVS;) {
        if (*s == 'M') {
            div *= 2;
            s++;
        } else if (*s >= '0' && *s <= '9') {
            const int k = (int)strtol(s, (char **)&s, 10);
            convs[n][0] = cin, convs[n][1] = k, convs[n][2] = div;
            cin = k;
            n++;
        } else {
            s++;
        }
    }
    return n;
}

/* The architecture and input size of a weights file, read by a CPU context. */
static int from_weights(const char *path, char *arch, size_t len, long *w, long *h)
{
    gc_options o = gc_options_default();
    o.weights_path = path;
    o.backend = GC_BACKEND_CPU;
    gc_context *ctx = NULL;
    gc_model_info info;
    if (gc_context_create(&o, &ctx) != GC_OK || gc_model_info_get(ctx, &info) != GC_OK) {
        fprintf(stderr, "%s: %s\n", path, gc_last_error(ctx));
        gc_context_destroy(ctx);
        return 0;
    }
    snprintf(arch, len, "%s", info.arch);
    *w = info.input_width;
    *h = info.input_height;
    gc_context_destroy(ctx);
    return 1;
}

static int expect_fused;

static int one(cudnnHandle_t h, const char *layer, const char *dir, cudnnDataType_t dt,
               int64_t n, int64_t ph, int64_t pw, int64_t c, int64_t k, int fuse,
               gc_conv_numerics num)
{
    gc_conv_plan p;
    gc_errbuf err;
    err.msg[0] = 0;
    const double t0 = now_s();
    gc_status st = gc_conv_plan_build(h, dt, n, ph, pw, c, k, fuse, fuse, num, &p, &err);
    const double secs = now_s() - t0;
    if (st != GC_OK) {
        printf("  %-8s %-13s %4lldx%-4lld %4lld->%-4lld  FAILED (%.2f s): %s\n", layer, dir,
               (long long)pw, (long long)ph, (long long)c, (long long)k, secs, err.msg);
        return 0;
    }
    char tag[128];
    gc_conv_plan_tag(&p, tag, sizeof tag);
    printf("  %-8s %-13s %4lldx%-4lld %4lld->%-4lld  %-7s %-32s ws %7.1f MiB  %6.2f s\n", layer,
           dir, (long long)pw, (long long)ph, (long long)c, (long long)k,
           fuse ? (p.fused ? "fused" : "unfused") : "plain", tag, p.workspace / 1048576.0, secs);
    const int unfused = fuse && !p.fused;
    gc_conv_plan_free(&p);
    if (unfused && expect_fused && num != GC_CONV_TRUE_FP32) { /* unfused there by default */
        printf("  %-8s %-13s NOT FUSED (--expect-fused)\n", layer, dir);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    long batch = 256, size = 224;
    const char *precs = "fp32,tf32,bf16,fp16", *json = NULL, *weights = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atol(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = atol(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc)
            precs = argv[++i];
        else if (!strcmp(argv[i], "--device-json") && i + 1 < argc)
            json = argv[++i];
        else if (!strcmp(argv[i], "--expect-fused"))
            expect_fused = 1;
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc)
            weights = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--batch N] [--size S] [--precision fp32,tf32,bf16,fp16] "
                            "[--weights FILE] [--device-json FILE] [--expect-fused]\n", argv[0]);
            return 2;
        }
    }
    if (batch < 1 || size < 16) {
        fprintf(stderr, "--batch >= 1, --size >= 16\n");
        return 2;
    }
    char arch[512] = "64,64,M,128,128,M,256,256,256,M,512,512,512,M,512,512,512,M"; /* VGG16 */
    long in_w = size, in_h = size;
    if (weights && !from_weights(weights, arch, sizeof arch, &in_w, &in_h))
        return 1;
    int32_t convs[MAX_CONVS][3];
    const int n_convs = parse_arch(arch, convs);
    cudnnHandle_t h = NULL;
    cudnnBackendDescriptor_t dev = NULL;
    if (json) {
        if (CUDNN_VERSION < 90800 || cudnnGetVersion() < 90800) {
            printf("cuDNN %zu (headers %d): the deviceless path needs 9.8 or newer: skipped\n",
                   cudnnGetVersion(), CUDNN_VERSION);
            return 77;
        }
        if (!(dev = deviceless(json)))
            return 1;
        gc_conv_set_deviceless(dev);
    } else if (cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) {
        fprintf(stderr, "cudnnCreate failed (no usable GPU?): use --device-json FILE\n");
        return 1;
    }
    printf("cuDNN %zu (headers %d), %s, batch %ld, %ldx%ld, %s\n", cudnnGetVersion(),
           CUDNN_VERSION, json ? json : "this GPU", batch, in_w, in_h,
           weights ? weights : "VGG16");
    const char *rtc = getenv("GC_CUDNN_RTC");
    if (rtc && !strcmp(rtc, "0"))
        printf("GC_CUDNN_RTC=0: runtime-compiled engines refused\n");
    static const struct {
        const char *name;
        cudnnDataType_t dt;
        gc_conv_numerics num;
    } P[4] = {{"fp32", CUDNN_DATA_FLOAT, GC_CONV_TRUE_FP32},
              {"tf32", CUDNN_DATA_FLOAT, GC_CONV_FP32_ACCUM},
              {"bf16", CUDNN_DATA_BFLOAT16, GC_CONV_FP32_ACCUM},
              {"fp16", CUDNN_DATA_HALF, GC_CONV_FP32_ACCUM}};
    int ok = 1;
    const double t0 = now_s();
    for (int q = 0; q < 4; q++) {
        if (!strstr(precs, P[q].name))
            continue;
        printf("%s:\n", P[q].name);
        for (int i = 0; i < n_convs; i++) {
            char layer[16];
            snprintf(layer, sizeof layer, "conv%d", i + 1);
            const int64_t k = convs[i][1];
            const int64_t ph = in_h / convs[i][2], pw = in_w / convs[i][2];
            /* the first conv's input channels as the backend pads them, tried in its order */
            const int32_t *cands = &convs[i][0];
            const int n_cands = i ? 1 : gc_conv_first_channels(P[q].dt, &cands);
            int good = 0;
            for (int j = 0; j < n_cands && !good; j++) {
                const int64_t c = cands[j];
                if (j)
                    printf("  (conv1 with its input padded to %lld channels, as the backend "
                           "retries)\n", (long long)c);
                const int f = one(h, layer, "forward", P[q].dt, batch, ph, pw, c, k, 1, P[q].num);
                const int b = one(h, layer, "backward-data", P[q].dt, batch, ph, pw, k, c, 0,
                                  P[q].num);
                good = f && b;
            }
            ok &= good;
        }
    }
    printf("%s in %.1f s\n", ok ? "every plan built" : "SOME PLANS FAILED", now_s() - t0);
    gc_conv_set_deviceless(NULL);
    if (dev)
        cudnnBackendDestroyDescriptor(dev);
    if (h)
        cudnnDestroy(h);
    return ok ? 0 : 1;
}
