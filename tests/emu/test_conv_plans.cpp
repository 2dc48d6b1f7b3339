/*
 * test_conv_plans.cpp — which cuDNN engine our plan builder (cuda/cudnn_conv.cu) takes, on
 * the emulated device, against the mock's catalogue (tests/emu/mock_cudnn_engines.cpp):
 *   float plain conv, tensor cores allowed (tf32)   eng1 (TF32: TENSOR_CORE alone), never
 *                                                   eng8 ahead of it (DOWN_CONVERT_INPUTS:
 *                                                   float converted to fp16)
 *   float plain conv, true fp32                     eng0 (no tensor cores)
 *   half conv + bias + ReLU                         eng4 fused (runtime-compiled)
 *   float conv + bias + ReLU, true fp32             eng0 unfused (the default in true fp32)
 *   the same with GC_CUDNN_FUSE=1                   eng7 fused (runtime-compiled, no TC)
 *   the same two with GC_CUDNN_RTC=0                unfused, a precompiled plain engine
 *   half conv + bias + ReLU with GC_CUDNN_FUSE=0    unfused, the plain conv's engine
 *   true fp32 with only tensor-core engines         GC_ERR_UNSUPPORTED naming the notes
 *   tensors over 2^31 elements                      GC_ERR_UNSUPPORTED naming max_batch
 * Each expectation follows from the engine notes alone; a filter that let a refused note
 * through picks another engine here and fails.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cudnn_conv.cuh"

static int failures, checks;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond)) {                                                                         \
            printf("  FAIL ");                                                                 \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

/* Builds the plan and checks the engine (tag prefix "eng<index>_" or "eng<index>" alone)
 * and whether bias and ReLU are in the graph. */
static void expect(cudnnHandle_t h, const char *what, cudnnDataType_t dt, int fused_ops,
                   gc_conv_numerics numerics, int want_engine, int want_fused)
{
    gc_conv_plan p;
    gc_errbuf err;
    err.msg[0] = 0;
    /* channels in 16-byte vectors for every type, so that tensor-core engines take them */
    gc_status st = gc_conv_plan_build(h, dt, 2, 6, 6, 8, 16, fused_ops, fused_ops, numerics,
                                      &p, &err);
    CHECK(st == GC_OK, "%s: %s", what, err.msg);
    if (st != GC_OK)
        return;
    char tag[128], want[16];
    gc_conv_plan_tag(&p, tag, sizeof tag);
    snprintf(want, sizeof want, "eng%d", want_engine);
    const size_t n = strlen(want);
    const int engine_ok = !strncmp(tag, want, n) && (tag[n] == 0 || tag[n] == '_');
    CHECK(engine_ok && p.fused == want_fused, "%s: %s, fused %d (want %s, fused %d)", what, tag,
          p.fused, want, want_fused);
    printf("  %-52s %s%s\n", what, tag, p.fused ? " (bias + ReLU fused)" : "");
    gc_conv_plan_free(&p);
}

int main(void)
{
    unsetenv("GC_CUDNN_RTC");
    unsetenv("GC_CUDNN_FUSE");
    unsetenv("GC_EMU_CUDNN_TC_ONLY");
    cudnnHandle_t h;
    if (cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) {
        printf("cudnnCreate failed\n");
        return 1;
    }
    const cudnnDataType_t F = CUDNN_DATA_FLOAT, H = CUDNN_DATA_HALF;
    expect(h, "float plain conv, tf32 (not the fp16 down-conversion)", F, 0, GC_CONV_FP32_ACCUM,
           1, 0);
    expect(h, "float plain conv, true fp32", F, 0, GC_CONV_TRUE_FP32, 0, 0);
    expect(h, "half conv + bias + ReLU", H, 1, GC_CONV_FP32_ACCUM, 4, 1);
    expect(h, "float conv + bias + ReLU, true fp32", F, 1, GC_CONV_TRUE_FP32, 0, 0);
    setenv("GC_CUDNN_FUSE", "1", 1);
    expect(h, "float conv + bias + ReLU, true fp32, GC_CUDNN_FUSE=1", F, 1, GC_CONV_TRUE_FP32,
           7, 1);

    setenv("GC_CUDNN_RTC", "0", 1);
    expect(h, "half conv + bias + ReLU, GC_CUDNN_RTC=0", H, 1, GC_CONV_FP32_ACCUM, 1, 0);
    expect(h, "float conv + bias + ReLU, true fp32, GC_CUDNN_RTC=0", F, 1, GC_CONV_TRUE_FP32, 0,
           0);
    unsetenv("GC_CUDNN_RTC");
    setenv("GC_CUDNN_FUSE", "0", 1);
    expect(h, "half conv + bias + ReLU, GC_CUDNN_FUSE=0", H, 1, GC_CONV_FP32_ACCUM, 1, 0);
    unsetenv("GC_CUDNN_FUSE");

    /* no engine without tensor cores: true fp32 has none, and says why */
    setenv("GC_EMU_CUDNN_TC_ONLY", "1", 1);
    gc_conv_plan p;
    gc_errbuf err;
    err.msg[0] = 0;
    gc_status st = gc_conv_plan_build(h, F, 2, 6, 6, 8, 16, 0, 0, GC_CONV_TRUE_FP32, &p, &err);
    CHECK(st == GC_ERR_UNSUPPORTED && strstr(err.msg, "true-fp32") &&
              strstr(err.msg, "tensor cores"),
          "true fp32 with tensor-core engines only: status %d, \"%s\"", (int)st, err.msg);
    printf("  %-52s %s\n", "true fp32, tensor-core engines only", err.msg);
    if (st == GC_OK)
        gc_conv_plan_free(&p);
    unsetenv("GC_EMU_CUDNN_TC_ONLY");

    /* a batch whose tensors pass 2^31 elements (engines index with 32 bits): the error says
     * so and what to do, rather than blaming the numerics (only plans: nothing allocated) */
    err.msg[0] = 0;
    st = gc_conv_plan_build(h, CUDNN_DATA_BFLOAT16, 1024, 224, 224, 8, 64, 1, 1,
                            GC_CONV_FP32_ACCUM, &p, &err);
    CHECK(st == GC_ERR_UNSUPPORTED && strstr(err.msg, "2^31") && strstr(err.msg, "max_batch"),
          "a 3.3e9-element tensor: status %d, \"%s\"", (int)st, err.msg);
    printf("  %-52s %s\n", "n 1024 at 224x224x64", err.msg);
    if (st == GC_OK)
        gc_conv_plan_free(&p);

    cudnnDestroy(h);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
