#!/bin/sh
# The main job on the bundled defaults: builds, then runs the `gradcam` command with the
# bundled demo model on the sample scenes in examples/, writing overlays, heatmaps and
# results.jsonl to ./gradcam-out. Extra arguments go to the command (e.g. --class 3).
# The CPU benchmark against PyTorch is bench/run_cpu_bench.sh.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
exec ./build/gradcam -o gradcam-out --overwrite "$@" examples
