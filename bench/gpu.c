/*
 * gpu.c — what the records say about the GPU and the work: device properties and versions
 * (CUDA runtime, cuDNN), device memory in use, the dense peak TFLOP/s table by GPU name, and
 * the forward FLOPs per image counted from the model's cfg and its safetensors header.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#ifdef GC_BENCH_CUDA
#include <cuda_runtime_api.h>
#include <cudnn.h>
#endif

#include "bench.h"

/* Dense peak TFLOP/s by GPU name (NVIDIA's data sheets; tensor cores for tf32/bf16/fp16,
 * the plain FP32 pipes for fp32, which is what the library's fp32 mode uses). The first row
 * whose words all occur in the lower-cased name wins. bench/peers/torch_gradcam.py keeps
 * the same table (GPU_PEAKS): change both. */
static const gpu_peak gpu_peaks[] = {
    {{"h100", "pcie", NULL}, "H100 PCIe", 51.2, 378.0, 756.0, 756.0},
    {{"h100", "nvl", NULL}, "H100 NVL", 60.0, 417.5, 835.0, 835.0},
    {{"h200", "nvl", NULL}, "H200 NVL", 60.0, 417.5, 835.0, 835.0},
    {{"gh200", NULL, NULL}, "GH200", 67.0, 494.7, 989.4, 989.4},
    {{"h200", NULL, NULL}, "H200 SXM", 67.0, 494.7, 989.4, 989.4},
    {{"h100", NULL, NULL}, "H100 SXM", 67.0, 494.7, 989.4, 989.4},
    {{"a100", NULL, NULL}, "A100", 19.5, 156.0, 312.0, 312.0},
};

const gpu_peak *find_peak(const char *name)
{
    if (!name || !*name)
        return NULL;
    char low[256];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)name[i]);
    low[i] = 0;
    for (size_t r = 0; r < sizeof gpu_peaks / sizeof *gpu_peaks; r++) {
        int all = 1;
        for (int w = 0; w < 3 && gpu_peaks[r].words[w]; w++)
            all &= strstr(low, gpu_peaks[r].words[w]) != NULL;
        if (all)
            return &gpu_peaks[r];
    }
    return NULL;
}

double peak_tflops(const gpu_peak *p, gc_precision prec)
{
    if (!p)
        return 0.0;
    switch (prec) {
    case GC_PRECISION_FP32:
        return p->fp32;
    case GC_PRECISION_TF32:
        return p->tf32;
    case GC_PRECISION_BF16:
    case GC_PRECISION_AUTO: /* the GPU's auto is bf16 */
        return p->bf16;
    case GC_PRECISION_FP16:
        return p->fp16;
    }
    return 0.0;
}

void query_gpu(const bench_args *a, gpu_info *g)
{
    memset(g, 0, sizeof *g);
#ifdef GC_BENCH_CUDA
    struct cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, a->device);
    if (e != cudaSuccess) {
        snprintf(g->error, sizeof g->error, "cudaGetDeviceProperties: %s", cudaGetErrorString(e));
        return;
    }
    g->present = 1;
    snprintf(g->name, sizeof g->name, "%s", prop.name);
    g->cc_major = prop.major;
    g->cc_minor = prop.minor;
    g->sms = prop.multiProcessorCount;
    g->memory_bytes = (int64_t)prop.totalGlobalMem;
    cudaDriverGetVersion(&g->driver_api);
    cudaRuntimeGetVersion(&g->runtime);
    g->cudnn = (long)cudnnGetVersion();
#else
    (void)a;
    snprintf(g->error, sizeof g->error, "gradcam-bench built without the CUDA runtime");
#endif
}

/* Device memory in use on the bench's device (total - free), or -1. */
int64_t device_used(const bench_args *a)
{
#ifdef GC_BENCH_CUDA
    size_t free_b = 0, total_b = 0;
    if (a->backend == GC_BACKEND_CUDA && cudaSetDevice(a->device) == cudaSuccess &&
        cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
        return (int64_t)(total_b - free_b);
#else
    (void)a;
#endif
    return -1;
}

/* ---------------------------------------------------------------- work per image */

/* Elements of every weight tensor of >= 2 dimensions that is not a 3x3 feature conv (the
 * dense head: classifier.N / pre_logits.fc1/fc2 / head.fc), from the safetensors header. */
static int head_weight_elements(const char *path, double *elems, char *note, size_t note_len)
{
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    char *hdr = NULL;
    cJSON *root = NULL;
    int ok = 0;
    if (!f || fread(len8, 1, 8, f) != 8) {
        snprintf(note, note_len, "cannot read %s", path);
        goto done;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | len8[i];
    if (hlen == 0 || hlen > (100u << 20) || !(hdr = malloc(hlen + 1)) ||
        fread(hdr, 1, hlen, f) != hlen) {
        snprintf(note, note_len, "bad safetensors header in %s", path);
        goto done;
    }
    hdr[hlen] = 0;
    if (!(root = cJSON_Parse(hdr))) {
        snprintf(note, note_len, "safetensors header is not JSON");
        goto done;
    }
    *elems = 0.0;
    for (cJSON *t = root->child; t; t = t->next) {
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
        const size_t nl = t->string ? strlen(t->string) : 0;
        if (!cJSON_IsArray(shape) || nl < 7 || strcmp(t->string + nl - 7, ".weight"))
            continue;
        int dims = cJSON_GetArraySize(shape);
        double e = 1.0;
        int s[4] = {0, 0, 0, 0};
        for (int d = 0; d < dims; d++) {
            double v = cJSON_GetArrayItem(shape, d)->valuedouble;
            e *= v;
            if (d < 4)
                s[d] = (int)v;
        }
        int feature_conv = dims == 4 && s[2] == 3 && s[3] == 3 &&
                           !strncmp(t->string, "features.", 9);
        if (dims >= 2 && !feature_conv)
            *elems += e;
    }
    ok = 1;
done:
    cJSON_Delete(root);
    free(hdr);
    if (f)
        fclose(f);
    return ok;
}

void count_work(const bench_args *a, const gc_model_info *info, model_work *w)
{
    memset(w, 0, sizeof *w);
    double c = 3.0, h = info->input_height, wd = info->input_width;
    for (const char *p = info->arch; p && *p;) {
        size_t n = strcspn(p, ",");
        double f = 0.0;
        if (n == 1 && (*p == 'M' || *p == 'm')) {
            h = (double)((int)h / 2);
            wd = (double)((int)wd / 2);
        } else {
            double k = strtod(p, NULL);
            f = 2.0 * 9.0 * c * k * h * wd;
            w->conv_flops += f;
            c = k;
        }
        if (w->n_layers < BENCH_MAX_LAYERS) /* the arch's tokens are gc_layer_name's layers */
            w->layer_flops[w->n_layers++] = f;
        p += n + (p[n] == ',');
    }
    double elems = 0.0;
    if (!head_weight_elements(a->weights, &elems, w->note, sizeof w->note))
        return;
    w->head_flops = 2.0 * elems;
    w->ok = w->conv_flops > 0.0;
    snprintf(w->note, sizeof w->note,
             "forward only: 2*9*C*K*H*W per 3x3 conv + 2 x dense weight elements");
}
