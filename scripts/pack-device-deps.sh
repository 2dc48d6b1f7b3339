#!/bin/sh
# pack-device-deps.sh — gathers, from this Debian machine, the C libraries the build needs
# into .deps/ (git-ignored), for a GPU machine that has no network and no Debian dev packages:
# headers and the shared libraries of libpng16, libturbojpeg, libwebp, libdeflate, zlib and cJSON (Debian's static
# libturbojpeg.a is not position-independent, so it cannot go into libgradcam.so).
# OpenBLAS is left out (58 MB static): there the CPU backend uses its built-in GEMM, which is
# enough to check the GPU against the CPU on the small golden models.
# The device command then names .deps in `carry`; CMake finds it (GC_DEPS_PREFIX) without
# pkg-config, and scripts/device-check.sh puts .deps/lib on LD_LIBRARY_PATH. .deps/wheels
# holds pytorch-grad-cam for the GPU benchmark's peer.
set -eu
cd "$(dirname "$0")/.."
D=.deps
rm -rf "$D" && mkdir -p "$D/include/cjson" "$D/include/webp" "$D/lib"
M=/usr/lib/x86_64-linux-gnu
cp /usr/include/cjson/cJSON.h "$D/include/cjson/"
cp /usr/include/cjson/cJSON.h "$D/include/"
cp /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h "$D/include/" 2>/dev/null ||
    cp /usr/include/libpng16/png.h /usr/include/libpng16/pngconf.h /usr/include/libpng16/pnglibconf.h "$D/include/"
cp /usr/include/zlib.h /usr/include/zconf.h /usr/include/turbojpeg.h /usr/include/libdeflate.h "$D/include/"
cp /usr/include/webp/decode.h /usr/include/webp/types.h "$D/include/webp/"
for lib in libcjson.so.1 libpng16.so.16 libturbojpeg.so.0 libwebp.so.7 libdeflate.so.0; do
    cp -L "$M/$lib" "$D/lib/$lib"
    ln -s "$lib" "$D/lib/${lib%.so.*}.so"
done
# zlib for the link only (named libz.so, not libz.so.1): at run time the machine's own
# libz.so.1 serves, so that no other program under LD_LIBRARY_PATH (PyTorch) gets ours
cp -L "$M/libz.so.1" "$D/lib/libz.so"
# pytorch-grad-cam (an sdist) and ttach for bench/peers and the oracle check: pure Python,
# installed there from these files (scripts/device-bench.sh); not fatal when PyPI is away.
python3 -m pip download grad-cam ttach --no-deps -d "$D/wheels" -q ||
    echo "pack-device-deps: pip download of grad-cam failed; the pytorch-grad-cam peer will be skipped" >&2
du -sh "$D"
