/*
 * fuzz_image.c — libFuzzer target: the bytes as an image file through gc_image_read (PNG by
 * libpng, JPEG by TurboJPEG, EXIF orientation applied, WebP by libwebp), with a 4 MP limit so that
 * decompression bombs are refused before decoding instead of costing the fuzzer its time.
 *
 * Checked beyond "no crash": a decoded image is width x height packed RGB within the limit,
 * every byte of it readable (AddressSanitizer sees a buffer shorter than promised); a refusal
 * comes with a message and leaves *out zeroed.
 */
#include <stdint.h>

#include "fuzz_file.h"
#include "gradcam.h"

#define FUZZ_MAX_PIXELS 4000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write("image", data, size);
    gc_image img;
    char err[512] = "";
    gc_status st = gc_image_read(path, FUZZ_MAX_PIXELS, &img, err, sizeof err);
    if (st != GC_OK) {
        FUZZ_CHECK(st == GC_ERR_INVALID_ARGUMENT || st == GC_ERR_IO || st == GC_ERR_OUT_OF_MEMORY);
        FUZZ_CHECK(err[0] != 0);
        FUZZ_CHECK(!img.data && img.width == 0 && img.height == 0 && img.stride == 0);
        return 0;
    }
    FUZZ_CHECK(img.data && img.width >= 1 && img.height >= 1);
    FUZZ_CHECK((int64_t)img.width * img.height <= FUZZ_MAX_PIXELS);
    FUZZ_CHECK(img.stride == 3 * img.width);
    unsigned sum = 0;
    size_t n = (size_t)img.stride * (size_t)img.height;
    for (size_t i = 0; i < n; i++)
        sum += img.data[i];
    gc_image_free(&img);
    FUZZ_CHECK(!img.data);
    (void)sum;
    return 0;
}
