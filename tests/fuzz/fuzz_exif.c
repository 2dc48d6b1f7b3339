/*
 * fuzz_exif.c — libFuzzer target for the EXIF reader in src/exif.h, on the fuzzer's own
 * buffer (exactly `size` bytes, so AddressSanitizer sees a read one past the end):
 *   - the bytes as a TIFF block (a PNG eXIf chunk, or an APP1 payload past "Exif\0\0"):
 *     gc_exif_orientation;
 *   - the bytes as a JPEG file: gc_jpeg_find_exif, then gc_exif_orientation on what it found.
 * Checked: orientations are 1..8 and a found payload lies inside the input.
 */
#include <stddef.h>
#include <stdint.h>

#include "exif.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int o = gc_exif_orientation(data, size);
    FUZZ_CHECK(o >= 1 && o <= 8);

    const uint8_t *tiff = NULL;
    size_t tiff_len = 0;
    if (gc_jpeg_find_exif(data, size, &tiff, &tiff_len)) {
        FUZZ_CHECK(tiff && tiff >= data && tiff_len > 0);
        FUZZ_CHECK((size_t)(tiff - data) <= size && tiff_len <= size - (size_t)(tiff - data));
        o = gc_exif_orientation(tiff, tiff_len);
        FUZZ_CHECK(o >= 1 && o <= 8);
    }
    return 0;
}
