#!/bin/sh
# The main job on the bundled defaults. Until the bundled demo model exists (see the issues),
# that is the CPU benchmark: full-size VGG16 Grad-CAM, ours beside PyTorch, as ratios.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
exec bash bench/run_cpu_bench.sh "$@"
