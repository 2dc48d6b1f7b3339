#!/bin/sh
# Installs the built library into a scratch prefix, then builds docs/examples/explain.c
# the two ways a user would (pkg-config and CMake's find_package), runs both on a committed
# model, and checks the SONAME and that the header is the only one installed.
#   test_install.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -eu
build=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
headers=$(cd "$prefix/include" && find . -type f | sort)
[ "$headers" = "./gradcam.h" ] || { echo "installed headers: $headers"; exit 1; }
lib=$(ls "$prefix"/lib*/libgradcam.so.0 2>/dev/null || ls "$prefix"/lib/*/libgradcam.so.0)
objdump -p "$lib" | grep -q 'SONAME *libgradcam.so.0' || { echo "no SONAME on $lib"; exit 1; }
libdir=$(dirname "$lib")
weights=$src/tests/golden/tv_vgg16_small.safetensors

PKG_CONFIG_PATH=$libdir/pkgconfig
export PKG_CONFIG_PATH
cc -std=c11 -Wall -Werror "$src/docs/examples/explain.c" $(pkg-config --cflags --libs gradcam) \
   -lm -Wl,-rpath,"$libdir" -o "$work/explain_pc"
"$work/explain_pc" "$weights" > "$work/pc.out"
grep -q '^class [0-9]' "$work/pc.out" || { cat "$work/pc.out"; exit 1; }

cmake -S "$src/docs/examples" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" > "$work/cmake.log"
cmake --build "$work/cmake" > "$work/cmake-build.log"
LD_LIBRARY_PATH=$libdir "$work/cmake/explain" "$weights" > "$work/cmake.out"
cmp "$work/pc.out" "$work/cmake.out" || { echo "the two builds disagree"; exit 1; }
cat "$work/pc.out"
echo "install test passed"
