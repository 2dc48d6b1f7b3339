/*
 * fuzz_png_write.c — libFuzzer target: the PNG encoder (src/png_encode.c) on pixels, sizes,
 * row padding and levels the bytes choose, its output read back through libpng
 * (gc_image_read, which checks every CRC and the stream's Adler-32).
 *
 * Input: byte 0 the level (-1..9), byte 1 the width (1..64), byte 2 the row padding (0..7
 * bytes), the rest the pixels, repeated to fill whole rows (the height: as many rows as the
 * rest fills, at least one). Checked: the encoder succeeds, the file decodes, byte-exact.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "gradcam.h"
#include "png_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const int level = data[0] % 11 - 1;
    const int32_t w = 1 + data[1] % 64, stride = 3 * w + data[2] % 8;
    const uint8_t *px = data + 3;
    const size_t n = size - 3;
    const int32_t h = (int32_t)(n / (size_t)(3 * w) > 0 ? n / (size_t)(3 * w) : 1);
    uint8_t *rows = malloc((size_t)stride * (size_t)h);
    FUZZ_CHECK(rows);
    for (size_t i = 0; i < (size_t)stride * (size_t)h; i++)
        rows[i] = px[i % n];
    gc_image img = {rows, w, h, stride};
    uint8_t *png = NULL;
    size_t png_len = 0;
    char why[256] = "";
    FUZZ_CHECK(gc_png_encode(&img, level < 0 ? 1 : level, &png, &png_len, why, sizeof why) ==
               GC_OK);
    const char *path = fuzz_file_write("png_write", png, png_len);
    gc_image back;
    char err[512] = "";
    FUZZ_CHECK(gc_image_read(path, 0, &back, err, sizeof err) == GC_OK);
    FUZZ_CHECK(back.width == w && back.height == h);
    for (int32_t y = 0; y < h; y++)
        FUZZ_CHECK(memcmp(back.data + (size_t)y * (size_t)back.stride,
                          rows + (size_t)y * (size_t)stride, (size_t)(3 * w)) == 0);
    gc_image_free(&back);
    free(png);
    free(rows);
    return 0;
}
