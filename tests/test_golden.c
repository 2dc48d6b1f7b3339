/*
 * test_golden.c — one golden case against the library, stage by stage.
 *
 *     test_golden GOLDEN.golden.safetensors [WEIGHTS]
 *
 * The golden file (tests/golden/make_goldens.py, or tests/full_vgg16.py) holds PyTorch's
 * float64 results for an input tensor and its metadata says which weights, layer, score,
 * normalization, classes and architecture to use. Checked: logits, the chosen classes,
 * probabilities, the target activation, its gradient, alpha, the raw and the normalized cam;
 * for the guided methods also the guided input gradient, Guided Grad-CAM, and
 * gc_render_saliency on PyTorch's own float32 tensors against pytorch-grad-cam's
 * deprocess_image.
 * Exit 0 when every stage is within tests/tolerances.h, 1 otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcam.h"
#include "compare.h"
#include "golden_file.h"
#include "tolerances.h"

static int failures;

static void compare_outliers(const char *what, const float *got, const float *ref, size_t n,
                             double tol, int relative, size_t max_outliers)
{
    failures += !tc_compare(NULL, what, got, ref, n, tol, relative, max_outliers);
}

static void compare(const char *what, const float *got, const float *ref, size_t n, double tol,
                    int relative)
{
    compare_outliers(what, got, ref, n, tol, relative, 0);
}

/* image i's guided tensors against the golden, and the saliency rendering */
static void check_guided(gc_context *ctx, const st_file *gf, int32_t n, int32_t i,
                         gc_method method, int bgr)
{
    static const struct {
        const char *key;
        gc_tensor which;
    } kinds[] = {{"guided", GC_TENSOR_GUIDED_BACKPROP},
                 {"guided_gradcam", GC_TENSOR_GUIDED_GRADCAM}};
    for (int k = 0; k < (method == GC_METHOD_GUIDED_GRADCAM ? 2 : 1); k++) {
        size_t total, need = 0, n_img;
        float *ref = golden_tensor(gf, kinds[k].key, &total);
        char key[64];
        snprintf(key, sizeof key, "%s_image", kinds[k].key);
        float *img = golden_tensor(gf, key, &n_img);
        gc_tensor_get(ctx, kinds[k].which, i, NULL, 0, &need);
        if (total != (size_t)n * need || n_img != (size_t)n * need) {
            printf("  %s: golden holds %zu values and %zu image bytes; %d images of %zu "
                   "expected  FAIL\n", kinds[k].key, total, n_img, n, need);
            failures++;
            free(ref), free(img);
            continue;
        }
        float *got = malloc(sizeof(float) * need);
        if (gc_tensor_get(ctx, kinds[k].which, i, got, need, NULL) != GC_OK) {
            printf("  %s: %s  FAIL\n", kinds[k].key, gc_last_error(ctx));
            failures++;
        } else {
            compare_outliers(kinds[k].key, got, ref + i * need, need, TOL_GUIDED_REL, 1,
                             (size_t)(TOL_GRADIENT_OUTLIER_FRACTION * (double)need));
        }
        /* the renderer on PyTorch's float32 tensor, channels back to HWC by the library */
        const size_t HW = need / 3;
        uint8_t *rgb = malloc(3 * HW);
        const int32_t W = atoi(golden_meta(gf, "input_w")), H = atoi(golden_meta(gf, "input_h"));
        size_t off = 0, worst = 0;
        if (gc_render_saliency(ref + i * need, W, H, bgr, rgb, 3 * HW) != GC_OK) {
            printf("  gc_render_saliency failed  FAIL\n");
            failures++;
        }
        for (size_t p = 0; p < HW; p++)
            for (int c = 0; c < 3; c++) {
                /* deprocess_image keeps the tensor's channel order; ours is RGB */
                int want = (int)img[i * 3 * HW + 3 * p + (bgr ? 2 - c : c)];
                int d = abs((int)rgb[3 * p + c] - want);
                off += d != 0;
                worst = d > (int)worst ? (size_t)d : worst;
            }
        int ok = worst <= 1 && (double)off <= TOL_SALIENCY_FRACTION * 3.0 * (double)HW;
        printf("  %s image: %zu of %zu bytes differ, by at most %zu%s\n", kinds[k].key, off,
               3 * HW, worst, ok ? "" : "  FAIL");
        failures += !ok;
        free(rgb), free(got), free(ref), free(img);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_golden GOLDEN [WEIGHTS]\n");
        return 2;
    }
    golden_case gc;
    if (!golden_open(argv[1], &gc))
        return 1;
    const st_file *gf = &gc.golden, *inf = &gc.input;
    const char *weights = argc > 2 ? argv[2] : gc.weights; /* weights beside it unless given */

    gc_options opt = golden_options(&gc);
    opt.weights_path = weights;
    opt.backend = GC_BACKEND_CPU; /* the reference; tests/gpu compares the GPU against it */

    size_t n_in, n_logits, n_cls, n_probs, n_act, n_grad, n_alpha, n_raw, n_cam;
    float *x = golden_tensor(inf, "input", &n_in);
    float *logits = golden_tensor(gf, "logits", &n_logits);
    float *cls = golden_tensor(gf, "classes", &n_cls);
    float *probs = golden_tensor(gf, "probs", &n_probs);
    float *act = golden_tensor(gf, "activation", &n_act);
    float *grad = golden_tensor(gf, "gradient", &n_grad);
    float *alpha = golden_tensor(gf, "alpha", &n_alpha);
    float *cam_raw = golden_tensor(gf, "cam_raw", &n_raw);
    float *cam = golden_tensor(gf, "cam", &n_cam);
    int32_t n;
    int32_t *classes = golden_classes(&gc, &n);
    if ((size_t)n != n_cls) {
        printf("  %d requested classes but %zu explained ones in the golden  FAIL\n", n, n_cls);
        return 1;
    }
    opt.max_batch = n;

    gc_context *ctx = NULL;
    if (gc_context_create(&opt, &ctx) != GC_OK) {
        fprintf(stderr, "context: %s\n", gc_last_error(ctx));
        return 1;
    }
    gc_model_info info;
    gc_model_info_get(ctx, &info);
    printf("%s: %s head, arch %s, layer %s, cam %dx%d\n", argv[1], info.head, info.arch,
           info.target_layer, info.cam_width, info.cam_height);
    const size_t hw = (size_t)info.cam_width * info.cam_height;
    const size_t K = (size_t)info.num_classes, Kc = (size_t)info.cam_channels;
    if (n_cam != n * hw || n_logits != n * K || n_act != n * Kc * hw) {
        printf("  shape mismatch: cam %zu vs %zu, logits %zu vs %zu, activation %zu vs %zu\n",
               n_cam, n * hw, n_logits, n * K, n_act, n * Kc * hw);
        return 1;
    }
    /* Guard values after the cam buffer catch overruns. */
    float *cams = malloc(sizeof(float) * (n * hw + 16));
    for (int i = 0; i < 16; i++)
        cams[n * hw + i] = -12345.0f;
    gc_result *res = calloc((size_t)n, sizeof *res);
    if (gc_explain_tensor(ctx, x, n, classes, res, cams, n * hw) != GC_OK) {
        fprintf(stderr, "explain: %s\n", gc_last_error(ctx));
        return 1;
    }
    for (int i = 0; i < 16; i++)
        if (cams[n * hw + i] != -12345.0f) {
            printf("  guard overwritten after the cams\n");
            failures++;
            break;
        }

    float *buf = malloc(sizeof(float) * (Kc * hw + K + 16));
    for (int32_t i = 0; i < n; i++) {
        printf(" image %d: class %d (want %d), logit %.5g, prob %.5g\n", i, res[i].class_id,
               (int)cls[i], res[i].logit, res[i].prob);
        if (res[i].class_id != (int32_t)cls[i]) {
            printf("  class mismatch  FAIL\n");
            failures++;
        }
        gc_tensor_get(ctx, GC_TENSOR_LOGITS, i, buf, K, NULL);
        compare("logits", buf, logits + i * K, K, TOL_LOGITS_REL, 1);
        float p = probs[i * K + (size_t)cls[i]];
        compare("prob", &res[i].prob, &p, 1, TOL_PROB_ABS, 0);
        if (res[i].top_class[0] < 0 || logits[i * K + (size_t)res[i].top_class[0]] <
                                           logits[i * K + (size_t)cls[i]] - 1e-4f * fabsf(logits[i * K + (size_t)cls[i]]) - 1e-6f) {
            /* top-1 must be the largest reference logit (up to the tolerance) */
            float best = logits[i * K];
            for (size_t j = 1; j < K; j++)
                best = fmaxf(best, logits[i * K + j]);
            if (logits[i * K + (size_t)res[i].top_class[0]] < best - 1e-4f * fabsf(best)) {
                printf("  top-1 is not the largest logit  FAIL\n");
                failures++;
            }
        }
        gc_tensor_get(ctx, GC_TENSOR_ACTIVATION, i, buf, Kc * hw, NULL);
        compare("activation", buf, act + i * Kc * hw, Kc * hw, TOL_ACTIVATION_REL, 1);
        gc_tensor_get(ctx, GC_TENSOR_GRADIENT, i, buf, Kc * hw, NULL);
        compare_outliers("gradient", buf, grad + i * Kc * hw, Kc * hw, TOL_GRADIENT_REL, 1,
                         (size_t)(TOL_GRADIENT_OUTLIER_FRACTION * (double)(Kc * hw)));
        gc_tensor_get(ctx, GC_TENSOR_WEIGHTS, i, buf, Kc, NULL);
        compare("alpha", buf, alpha + i * Kc, Kc, TOL_ALPHA_REL, 1);
        gc_tensor_get(ctx, GC_TENSOR_CAM_RAW, i, buf, hw, NULL);
        compare("cam_raw", buf, cam_raw + i * hw, hw, TOL_CAM_RAW_REL, 1);
        compare("cam", cams + i * hw, cam + i * hw, hw, TOL_CAM_ABS, 0);
        if (opt.method == GC_METHOD_GUIDED_BACKPROP || opt.method == GC_METHOD_GUIDED_GRADCAM)
            check_guided(ctx, gf, n, i, opt.method, info.preprocess == GC_PREPROCESS_CAFFE);
    }
    /* the forward-only call gives the same logits and top-1 as the full pass */
    gc_result *pred = calloc((size_t)n, sizeof *pred);
    if (gc_predict_tensor(ctx, x, n, pred) != GC_OK) {
        printf("  gc_predict_tensor: %s  FAIL\n", gc_last_error(ctx));
        failures++;
    }
    for (int32_t i = 0; i < n; i++) {
        float want = -1e30f;
        for (size_t j = 0; j < K; j++)
            want = fmaxf(want, logits[i * K + j]);
        if (pred[i].class_id != pred[i].top_class[0] ||
            fabsf(pred[i].logit - want) > TOL_LOGITS_REL * fmaxf(fabsf(want), 1.0f)) {
            printf("  predict image %d: class %d logit %g, want the top logit %g  FAIL\n", i,
                   pred[i].class_id, pred[i].logit, want);
            failures++;
        }
    }
    free(pred);
    printf("%s\n", failures ? "FAILED" : "passed");
    gc_context_destroy(ctx);
    golden_close(&gc);
    free(x), free(logits), free(cls), free(probs), free(act), free(grad), free(alpha);
    free(cam_raw), free(cam), free(cams), free(res), free(buf), free(classes);
    (void)n_in, (void)n_probs, (void)n_grad, (void)n_alpha, (void)n_raw;
    return failures ? 1 : 0;
}
