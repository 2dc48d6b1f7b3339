#!/usr/bin/env python3
"""The `gradcam` command when it cannot start all its threads (a thread limit: ulimit -u, a
container's pids.max), with tests/cli/fail_pthread_create.c preloaded to make pthread_create
fail with EAGAIN after the first K calls.

    test_thread_start.py GRADCAM_BINARY SHIM SOURCE_DIR WORK_DIR

With --threads 2 the pipeline starts 2 encode, 1 batch and 2 decode threads (the feeder is
the main thread). Checks: K = 0..3 (a stage without a thread): every input gets its error
line naming the cause, no output file, exit 1, no hang; from stdin the same, stdin not read;
one decode thread short (K = 4), or one encode thread (only call 1 failing): a warning, and
every output byte-identical to a run with all threads; --resume with no thread: the inputs
done before skipped (before the fix, each got an error line), a new one failed with the cause. OpenMP and OpenBLAS are held to one thread (their own thread failures are not
the command's: libgomp exits the process). Prints 'N passed, M failed'.
"""
import filecmp
import glob
import json
import os
import shutil
import subprocess
import sys

BIN, SHIM, SRC, WORK = sys.argv[1:5]
WEIGHTS = os.path.join(SRC, "tests/golden/custom_small.safetensors")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402


def run(k, out, inputs, stdin=None, fail=None, extra=()):
    env = dict(os.environ, LD_PRELOAD=SHIM, OMP_THREAD_LIMIT="1", OPENBLAS_NUM_THREADS="1")
    # the sanitizer runtime would refuse a library loaded before it
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    if k is not None:
        env["GC_TEST_THREADS_OK"] = str(k)
    if fail is not None:
        env["GC_TEST_THREADS_FAIL"] = fail
    try:
        return subprocess.run([BIN, "-w", WEIGHTS, "--backend", "cpu", "--threads", "2", "-q",
                               *extra, "-o", out, *inputs], input=stdin, capture_output=True,
                              text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        return None


def results(out):
    path = os.path.join(out, "results.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def images(out):
    return sorted(os.path.relpath(p, out) for p in glob.glob(os.path.join(out, "**", "*.png"),
                                                               recursive=True))


shutil.rmtree(WORK, ignore_errors=True)
data = os.path.join(WORK, "in")
os.makedirs(data)
for p in sorted(glob.glob(os.path.join(SRC, "examples", "*.png")))[:6]:
    shutil.copy(p, data)
n = len(os.listdir(data))
assert n >= 2, "examples/ has too few PNGs"

ref = os.path.join(WORK, "ref")
r = run(None, ref, [data])
check(r is not None and r.returncode == 0 and len(results(ref)) == n and
      all(x["status"] == "ok" for x in results(ref)), "all threads: every input ok",
      r and (r.returncode, r.stderr))

for k in range(3):
    out = os.path.join(WORK, f"k{k}")
    r = run(k, out, [data])
    if r is None:
        check(False, f"{k} threads: the run ends (it hung)")
        continue
    lines = results(out)
    check(r.returncode == 1 and len(lines) == n and all(
        x["status"] == "error" and "cannot start the worker threads" in x["error"] and
        "Resource temporarily unavailable" in x["error"] for x in lines) and not images(out),
          f"{k} of 5 threads: every input an error line naming the cause, no outputs, exit 1",
          (r.returncode, r.stderr, lines[:2]))

out = os.path.join(WORK, "stdin")
r = run(0, out, ["-"], stdin="\n".join(glob.glob(os.path.join(data, "*.png"))) + "\n")
check(r is not None and r.returncode == 1 and "stdin not read" in r.stderr and
      "cannot start the worker threads" in r.stderr, "no threads, paths on stdin: not read, exit 1",
      r and (r.returncode, r.stderr))


def same_outputs(out):
    return images(out) == images(ref) and len(images(ref)) == 2 * n and all(
        filecmp.cmp(os.path.join(out, f), os.path.join(ref, f), shallow=False)
        for f in images(ref))


# short of threads: the limit reached (K = 3: one thread a stage, as they start in turns,
# where starting all encoders first left no decoder; K = 4: the second decoder), or touched
# once (call 3: the second encoder; the second decoder starts after it)
for k, fail, warning, what in (
        (3, None, "started 1 of 2 decode, 1 of 2 encode and 1 of 1 batch", "one_each"),
        (4, None, "started 1 of 2 decode, 2 of 2 encode and 1 of 1 batch", "decode"),
        (None, "3", "started 2 of 2 decode, 1 of 2 encode and 1 of 1 batch", "encode")):
    out = os.path.join(WORK, f"short_{what}")
    r = run(k, out, [data], fail=fail)
    check(r is not None and r.returncode == 0 and f"warning: {warning} threads" in r.stderr,
          f"short of threads ({what}): a warning, exit 0", r and (r.returncode, r.stderr))
    check(same_outputs(out), f"short of threads ({what}): every output as with all threads",
          (images(out), images(ref)))

# --resume with no thread: what is done stays done; a new input fails with the cause
new_input = os.path.join(data, "zz_new.png")
shutil.copy(os.path.join(data, sorted(os.listdir(data))[0]), new_input)
out = os.path.join(WORK, "resume")
shutil.copytree(ref, out)
r = run(0, out, [data], extra=("--resume",))
new = results(out)[n:]
check(r is not None and r.returncode == 1 and len(new) == 1 and new[0]["status"] == "error" and
      "zz_new.png" in new[0]["input"] and "cannot start the worker threads" in new[0]["error"]
      and same_outputs(out), "--resume, no thread: the inputs done skipped, the new one failed",
      r and (r.returncode, r.stderr, new))
os.remove(new_input)

finish()
