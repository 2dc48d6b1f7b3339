/*
 * test_pointing — the pointing game on the bundled demo model, through the public API only.
 *
 *     test_pointing WEIGHTS SCENES
 *
 * SCENES is written by tests/demo/make_scenes.py (fresh scenes from tools/scenes.py, a seed
 * the model never saw; the format is described there). For every scene the library computes
 * Grad-CAM on the CPU backend at the default layer (the last conv, after its ReLU) and we ask
 * where the cam's maximum lies, by the cell-centre rule: cell (i, j) of an h x w cam covers
 * image pixels [j*W/w, (j+1)*W/w) x [i*H/h, (i+1)*H/h), and it points into a box
 * [x0, x1) x [y0, y1) when its centre ((j+0.5)*W/w, (i+0.5)*H/h) does. The maximum is the
 * first largest cell in row-major order; an all-zero cam points nowhere (a miss).
 *
 *   single-object scenes: the predicted class (classes = NULL). Accuracy is reported; among
 *     the correct predictions, the maximum must lie in the object's box in >= 90% of scenes.
 *   two-object scenes: each object's class in turn (the classes array); the maximum must move
 *     into that object's box in >= 80% of the cases.
 * Exit 0 when every rate holds (accuracy must also be >= 90%, a guard against a broken
 * model load), 1 otherwise.
 *
 * The guided methods point with a pixel map instead of the cam: sum over channels of
 * |GC_TENSOR_GUIDED_GRADCAM| (or |GC_TENSOR_GUIDED_BACKPROP|) at the network's input size,
 * by the same centre rule with one cell per input pixel, and the same thresholds.
 */
#include "gradcam.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJECTS 2
#define BATCH 8
#define MIN_ACCURACY 0.90
#define MIN_SINGLE 0.90
#define MIN_DOUBLE 0.80

typedef struct {
    int32_t cls, x0, y0, x1, y1;
} box;

typedef struct {
    int32_t count;
    box obj[MAX_OBJECTS];
} scene;

static int32_t rd32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

/* Reads the whole SCENES file; returns 0 on success. */
static int load_scenes(const char *path, int32_t *n, int32_t *h, int32_t *w, scene **sc,
                       uint8_t **pixels)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    uint8_t hdr[24];
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, "GCSCENE1", 8) != 0) {
        fprintf(stderr, "%s: not a GCSCENE1 file\n", path);
        fclose(f);
        return 1;
    }
    *n = rd32(hdr + 8);
    *h = rd32(hdr + 12);
    *w = rd32(hdr + 16);
    int32_t maxo = rd32(hdr + 20);
    if (*n < 1 || *n > 100000 || *h < 1 || *h > 4096 || *w < 1 || *w > 4096 ||
        maxo != MAX_OBJECTS) {
        fprintf(stderr, "%s: bad header (n %d, %dx%d, max_objects %d)\n", path, *n, *w, *h,
                maxo);
        fclose(f);
        return 1;
    }
    size_t rec_len = (size_t)(1 + 5 * MAX_OBJECTS) * 4;
    size_t img_len = (size_t)*h * (size_t)*w * 3;
    uint8_t *rec = malloc(rec_len * (size_t)*n);
    *sc = calloc((size_t)*n, sizeof **sc);
    *pixels = malloc(img_len * (size_t)*n);
    if (!rec || !*sc || !*pixels) {
        fprintf(stderr, "out of memory\n");
        free(rec);
        fclose(f);
        return 1;
    }
    if (fread(rec, rec_len, (size_t)*n, f) != (size_t)*n ||
        fread(*pixels, img_len, (size_t)*n, f) != (size_t)*n) {
        fprintf(stderr, "%s: truncated\n", path);
        free(rec);
        fclose(f);
        return 1;
    }
    fclose(f);
    for (int32_t i = 0; i < *n; i++) {
        const uint8_t *r = rec + rec_len * (size_t)i;
        scene *s = &(*sc)[i];
        s->count = rd32(r);
        if (s->count < 1 || s->count > MAX_OBJECTS) {
            fprintf(stderr, "%s: scene %d has %d objects\n", path, i, s->count);
            free(rec);
            return 1;
        }
        for (int k = 0; k < MAX_OBJECTS; k++) {
            const uint8_t *b = r + 4 + 20 * k;
            s->obj[k] = (box){rd32(b), rd32(b + 4), rd32(b + 8), rd32(b + 12), rd32(b + 16)};
        }
    }
    free(rec);
    return 0;
}

/* Where the cam's maximum points (cell-centre rule); 1 when inside b. *ci, *cj: the cell. */
static int points_into(const float *cam, int32_t ch, int32_t cw, int32_t H, int32_t W,
                       const box *b, int *ci, int *cj)
{
    int best = 0;
    for (int k = 1; k < ch * cw; k++)
        if (cam[k] > cam[best])
            best = k;
    *ci = best / cw;
    *cj = best % cw;
    if (!(cam[best] > 0.0f))
        return 0;
    /* centre x = (j + 0.5) * W / w, compared in integers: x0 <= cx < x1 */
    long long cx2 = (2LL * *cj + 1) * W, cy2 = (2LL * *ci + 1) * H; /* 2 * w * cx, 2 * h * cy */
    return 2LL * cw * b->x0 <= cx2 && cx2 < 2LL * cw * b->x1 && 2LL * ch * b->y0 <= cy2 &&
           cy2 < 2LL * ch * b->y1;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s WEIGHTS SCENES [gradcam|gradcam++|xgradcam|layercam|hirescam|"
                        "guided-backprop|guided-gradcam]\n", argv[0]);
        return 2;
    }
    static const char *methods[] = {"gradcam",  "gradcam++",       "xgradcam",      "layercam",
                                    "hirescam", "guided-backprop", "guided-gradcam"};
    int method = 0;
    while (argc == 4 && method < 7 && strcmp(argv[3], methods[method]) != 0)
        method++;
    if (method == 7) {
        fprintf(stderr, "unknown method '%s'\n", argv[3]);
        return 2;
    }
    printf("method: %s\n", methods[method]);
    int32_t n, H, W;
    scene *sc = NULL;
    uint8_t *pixels = NULL;
    if (load_scenes(argv[2], &n, &H, &W, &sc, &pixels) != 0)
        return 1;

    gc_options opt = gc_options_default();
    opt.weights_path = argv[1];
    opt.backend = GC_BACKEND_CPU;
    opt.max_batch = BATCH;
    opt.method = (gc_method)method;
    gc_context *ctx = NULL;
    gc_status st = gc_context_create(&opt, &ctx);
    if (st != GC_OK) {
        fprintf(stderr, "gc_context_create: %s: %s\n", gc_status_string(st), gc_last_error(ctx));
        gc_context_destroy(ctx);
        return 1;
    }
    gc_model_info info;
    gc_model_info_get(ctx, &info);
    printf("model: arch %s, %d classes, input %dx%d, layer %s, cam %dx%d\n", info.arch,
           info.num_classes, info.input_width, info.input_height, info.target_layer,
           info.cam_width, info.cam_height);
    const int guided = method >= GC_METHOD_GUIDED_BACKPROP;
    const gc_tensor pixel_map = method == GC_METHOD_GUIDED_GRADCAM ? GC_TENSOR_GUIDED_GRADCAM
                                                                    : GC_TENSOR_GUIDED_BACKPROP;
    /* the map that points: the cam, or the guided pixel map at the input size */
    const int32_t ch = guided ? info.input_height : info.cam_height;
    const int32_t cw = guided ? info.input_width : info.cam_width;
    const size_t cam_n = (size_t)ch * (size_t)cw;
    const size_t small_n = (size_t)info.cam_height * (size_t)info.cam_width;
    float *cams = malloc(sizeof(float) * cam_n * BATCH), *grad = malloc(sizeof(float) * 3 * cam_n);
    if (!cams || !grad) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    /* the scenes of each kind, as index lists */
    int32_t *single = malloc(sizeof(int32_t) * (size_t)n), *dbl = malloc(sizeof(int32_t) * (size_t)n);
    int32_t n1 = 0, n2 = 0;
    for (int32_t i = 0; i < n; i++) {
        if (sc[i].count == 1)
            single[n1++] = i;
        else
            dbl[n2++] = i;
    }

    int correct = 0, hits1 = 0, hits1_true = 0, misses_shown = 0;
    int hits2 = 0, trials2 = 0;
    int fail = 0;
    /* pass 0: single scenes, predicted class; pass 1: single scenes, true class (reported
     * only); passes 2, 3: two-object scenes, object 0's class, then object 1's */
    for (int pass = 0; pass < 4 && !fail; pass++) {
        const int32_t *list = pass < 2 ? single : dbl;
        int32_t count = pass < 2 ? n1 : n2;
        int k = pass == 3 ? 1 : 0;
        for (int32_t b0 = 0; b0 < count && !fail; b0 += BATCH) {
            int32_t m = count - b0 < BATCH ? count - b0 : BATCH;
            gc_image imgs[BATCH];
            int32_t classes[BATCH];
            gc_result res[BATCH];
            for (int32_t j = 0; j < m; j++) {
                int32_t s = list[b0 + j];
                imgs[j] = (gc_image){pixels + (size_t)s * (size_t)H * (size_t)W * 3, W, H, 3 * W};
                classes[j] = sc[s].obj[k].cls;
            }
            st = gc_explain(ctx, imgs, m, pass == 0 ? NULL : classes, res, cams, small_n * BATCH);
            for (int32_t j = 0; guided && st == GC_OK && j < m; j++) {
                if ((st = gc_tensor_get(ctx, pixel_map, j, grad, 3 * cam_n, NULL)) != GC_OK)
                    break;
                for (size_t p = 0; p < cam_n; p++) /* overwrites the small cams: not used */
                    cams[cam_n * (size_t)j + p] =
                        fabsf(grad[p]) + fabsf(grad[cam_n + p]) + fabsf(grad[2 * cam_n + p]);
            }
            if (st != GC_OK) {
                fprintf(stderr, "gc_explain: %s: %s\n", gc_status_string(st), gc_last_error(ctx));
                fail = 1;
                break;
            }
            for (int32_t j = 0; j < m; j++) {
                const scene *s = &sc[list[b0 + j]];
                const box *b = &s->obj[k];
                int ci, cj;
                int hit = points_into(cams + cam_n * (size_t)j, ch, cw, H, W, b, &ci, &cj);
                if (pass == 0) {
                    if (res[j].class_id != b->cls)
                        continue;
                    correct++;
                    hits1 += hit;
                } else if (pass == 1) {
                    hits1_true += hit;
                } else {
                    hits2 += hit;
                    trials2++;
                }
                if (!hit && pass != 1 && misses_shown < 8) {
                    misses_shown++;
                    printf("  miss (%s): scene %d, class %s, box [%d,%d)x[%d,%d), max at cell "
                           "(%d,%d) = pixel centre (%.1f, %.1f)\n",
                           pass == 0 ? "single" : "two-object", list[b0 + j],
                           gc_class_label(ctx, b->cls), b->x0, b->x1, b->y0, b->y1, ci, cj,
                           (cj + 0.5) * W / cw, (ci + 0.5) * H / ch);
                }
            }
        }
    }

    if (!fail) {
        double acc = n1 ? (double)correct / n1 : 0.0;
        double r1 = correct ? (double)hits1 / correct : 0.0;
        double r1t = n1 ? (double)hits1_true / n1 : 0.0;
        double r2 = trials2 ? (double)hits2 / trials2 : 0.0;
        printf("single-object scenes: %d, accuracy %d/%d = %.3f (need >= %.2f)\n", n1, correct,
               n1, acc, MIN_ACCURACY);
        printf("pointing game, predicted class, correct predictions: %d/%d = %.3f (need >= %.2f)\n",
               hits1, correct, r1, MIN_SINGLE);
        printf("pointing game, true class, all single-object scenes: %d/%d = %.3f\n",
               hits1_true, n1, r1t);
        printf("two-object scenes: %d; pointing game, each object's class in turn: %d/%d = %.3f "
               "(need >= %.2f)\n", n2, hits2, trials2, r2, MIN_DOUBLE);
        if (n1 == 0 || n2 == 0) {
            fprintf(stderr, "FAIL: need both single- and two-object scenes\n");
            fail = 1;
        }
        if (acc < MIN_ACCURACY || r1 < MIN_SINGLE || r2 < MIN_DOUBLE) {
            fprintf(stderr, "FAIL: a rate is below its threshold\n");
            fail = 1;
        }
    }
    if (!fail)
        printf("PASS\n");
    free(single);
    free(dbl);
    free(cams);
    free(grad);
    free(sc);
    free(pixels);
    gc_context_destroy(ctx);
    return fail;
}
