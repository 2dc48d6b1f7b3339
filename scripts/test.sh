#!/bin/sh
# The test command: installs dependencies, builds, runs the whole CTest suite.
# Extra arguments go to ctest (e.g. -L cpu, -R golden).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
sh scripts/build.sh
cd build && ctest --output-on-failure -j"$(nproc)" "$@"
