/*
 * explain.c — the smallest complete use of libgradcam: load a VGG, explain one image,
 * print the prediction and the heatmap as text.
 *
 *     cc explain.c $(pkg-config --cflags --libs gradcam) -lm -o explain
 *     ./explain vgg16.safetensors
 *
 * The image here is synthesized (a bright disc on a dark background) to keep the example
 * free of codecs; the `gradcam` command reads PNG and JPEG files.
 */
#include <gradcam.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WEIGHTS.safetensors\n", argv[0]);
        return 2;
    }
    enum { W = 320, H = 240 };
    static uint8_t pixels[H][W][3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int inside = hypot(x - 200.0, y - 90.0) < 50.0;
            pixels[y][x][0] = inside ? 240 : 20;
            pixels[y][x][1] = inside ? 200 : 30;
            pixels[y][x][2] = inside ? 40 : 60;
        }

    gc_options opt = gc_options_default();
    opt.weights_path = argv[1];
    opt.max_batch = 1;
    gc_context *ctx = NULL;
    if (gc_context_create(&opt, &ctx) != GC_OK) {
        fprintf(stderr, "gradcam: %s\n", gc_last_error(ctx));
        gc_context_destroy(ctx);
        return 1;
    }
    gc_model_info info;
    gc_model_info_get(ctx, &info);
    float *cam = malloc(sizeof(float) * (size_t)(info.cam_width * info.cam_height));
    gc_image img = {&pixels[0][0][0], W, H, 3 * W};
    gc_result res;
    gc_status st = gc_explain(ctx, &img, 1, NULL, &res, cam,
                              (size_t)(info.cam_width * info.cam_height));
    if (st != GC_OK) {
        fprintf(stderr, "gradcam: %s: %s\n", gc_status_string(st), gc_last_error(ctx));
        return 1;
    }
    const char *label = gc_class_label(ctx, res.class_id);
    printf("class %d%s%s  p=%.3f  logit=%.3f  layer %s (%dx%d)\n", res.class_id,
           label ? " " : "", label ? label : "", res.prob, res.logit, info.target_layer,
           info.cam_width, info.cam_height);
    const char *shades = " .:-=+*#%@";
    for (int y = 0; y < info.cam_height; y++) {
        for (int x = 0; x < info.cam_width; x++) {
            int s = (int)(cam[y * info.cam_width + x] * 9.0f + 0.5f);
            putchar(shades[s < 0 ? 0 : s > 9 ? 9 : s]);
            putchar(shades[s < 0 ? 0 : s > 9 ? 9 : s]);
        }
        putchar('\n');
    }
    free(cam);
    gc_context_destroy(ctx);
    return 0;
}
