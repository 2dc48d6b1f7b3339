#!/bin/sh
# Installs what gradcam needs to build and test, from Debian's packages (skips what is there).
#   C: cmake, a compiler, pkg-config, OpenBLAS (CPU GEMMs), cJSON (safetensors headers),
#      libpng, libjpeg-turbo and libwebp (image files), libdeflate and zlib (writing PNGs).
#   Test oracles: python3-torch and python3-numpy (the goldens and the full-size VGG16 test),
#      python3-opencv (resizing, colormaps, image decoding goldens); GNU time (peak memory).
#   MPI (the command's GC_WITH_MPI build, off by default; CI builds it): Open MPI.
#   Charts of benchmark results (tools/plot_bench.py): matplotlib.
set -eu
pkgs="build-essential cmake pkg-config libopenblas-dev libcjson-dev libpng-dev
libturbojpeg0-dev libwebp-dev libdeflate-dev zlib1g-dev python3 python3-numpy python3-torch python3-opencv time
libopenmpi-dev openmpi-bin python3-matplotlib"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
