#!/bin/sh
# run_pointing.sh PYTHON TEST_POINTING WEIGHTS WORKDIR [METHOD] — the demo_pointing ctests:
# fresh scenes (tests/demo/make_scenes.py), then the pointing game on them (test_pointing).
# Exit 77 (skipped) when PYTHON or NumPy is missing.
set -u
py=$1 exe=$2 weights=$3 work=$4 method=${5:-gradcam}
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$py" ]; then
    echo "SKIP: no python3 at '$py'"
    exit 77
fi
if ! "$py" -c "import numpy" 2>/dev/null; then
    echo "SKIP: $py has no numpy"
    exit 77
fi
mkdir -p "$work" || exit 1
"$py" "$here/make_scenes.py" "$work/scenes.bin" --seed 777 --single 400 --double 100 || exit $?
exec "$exe" "$weights" "$work/scenes.bin" "$method"
