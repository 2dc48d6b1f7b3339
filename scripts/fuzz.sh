#!/bin/sh
# Fuzzes the parsers with libFuzzer: builds tests/fuzz/ into build-fuzz/ (clang, ASan + UBSan,
# apart from the normal build) and runs each target for a set time, one after the other.
#
#     scripts/fuzz.sh [SECONDS_PER_TARGET (60)] [TARGET...]
#
# Targets: safetensors model image exif png_write deflate (default: all). Each runs over a scratch
# corpus, build-fuzz/corpus/<target>/, which starts from the committed seeds
# (tests/fuzz/corpus/) and regression inputs (tests/fuzz/regressions/) and keeps what earlier
# runs found; the committed corpus is never written. Crash, timeout and out-of-memory inputs land in
# build-fuzz/artifacts/<run>/<target>/, logs in build-fuzz/logs/<run>/. Prints one summary
# line per target; exits 1 when any target found something (or failed to run), 2 when it
# cannot build. A fixed finding goes to tests/fuzz/regressions/<target>/ (CTest replays it).
# Needs clang with libFuzzer: on Debian, apt-get install clang libclang-rt-14-dev.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-safetensors model image exif png_write deflate}
BUILD=$ROOT/build-fuzz
CC_FUZZ=${CC_FUZZ:-clang}

case $SECS in
'' | *[!0-9]*) echo "fuzz.sh: SECONDS_PER_TARGET must be a number, not '$SECS'" >&2; exit 2 ;;
esac

probe=$(mktemp -d)
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' \
    >"$probe/p.c"
if ! "$CC_FUZZ" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "fuzz.sh: '$CC_FUZZ -fsanitize=fuzzer' does not link; on Debian:" \
        "apt-get install clang libclang-rt-14-dev" >&2
    exit 2
fi
rm -rf "$probe"

cmake -S tests/fuzz -B "$BUILD" -DCMAKE_C_COMPILER="$CC_FUZZ" >"$BUILD.configure.log" 2>&1 || {
    cat "$BUILD.configure.log" >&2
    exit 2
}
mv "$BUILD.configure.log" "$BUILD/configure.log"
cmake --build "$BUILD" -j"$(nproc)" >"$BUILD/build.log" 2>&1 || {
    cat "$BUILD/build.log" >&2
    exit 2
}

RUN=$(date +%Y%m%d-%H%M%S)
# the targets' scratch files (st_open and gc_image_read take paths), kept inside build-fuzz/
export TMPDIR="$BUILD/tmp"
mkdir -p "$TMPDIR" "$BUILD/logs/$RUN"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

status=0
for t in $TARGETS; do
    case $t in
    safetensors | model) max_len=262144 dict=tests/fuzz/safetensors.dict ;;
    image) max_len=65536 dict= ;;
    exif | png_write | deflate) max_len=16384 dict= ;;
    *) echo "fuzz.sh: unknown target '$t' (safetensors model image exif png_write deflate)" >&2
        exit 2 ;;
    esac
    corpus=$BUILD/corpus/$t
    artifacts=$BUILD/artifacts/$RUN/$t
    log=$BUILD/logs/$RUN/$t.log
    mkdir -p "$corpus" "$artifacts"
    for seeds in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
        if [ -d "$seeds" ]; then
            find "$seeds" -maxdepth 1 -type f -exec cp -p {} "$corpus/" \;
        fi
    done
    rc=0
    "$BUILD/fuzz_$t" "$corpus" ${dict:+-dict="$dict"} -max_len=$max_len \
        -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    found=$(find "$artifacts" -type f | wc -l)
    files=$(find "$corpus" -maxdepth 1 -type f | wc -l)
    echo "fuzz_$t: ${SECS} s, ${execs:-?} execs (${secs:-?}/s), $found crash(es)," \
        "exit $rc, corpus $files files; log $log"
    if [ "$found" -gt 0 ] || [ "$rc" -ne 0 ]; then
        status=1
        find "$artifacts" -type f | sed 's/^/    /'
        grep -m 1 -E "^(==[0-9]+==ERROR|.*runtime error|fuzz: check failed|.*Timeout|.*out-of-memory)" \
            "$log" | sed 's/^/    /' || true
    fi
done
exit $status
