#!/usr/bin/env python3
"""The `gradcam` command under mpirun (a GC_WITH_MPI build), on the CPU backend.

    test_mpi.py GRADCAM_BINARY SOURCE_DIR WORK_DIR

Checks, with the bundled demo model on examples/: `mpirun -np 2` writes the same files as one
process (images byte-identical, results.jsonl the same lines after sorting, no part files
left); --shard I/2 under mpirun is exactly the one-process shard; bad inputs get their line
and exit 1; --resume after a killed MPI run (part files left, torn lines) leaves one line per
input; --stats writes one file per rank; set-up errors exit 2 with one message. Exit 77 (skipped) when the binary has no MPI or
mpirun is missing. Prints 'N passed, M failed'.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

BIN, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
MPIRUN = shutil.which("mpirun")
version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout
if "MPI" not in version or not MPIRUN:
    print(f"no MPI in this build ({version.strip()}) or no mpirun: skipping")
    sys.exit(77)

EXAMPLES = os.path.join(SRC, "examples")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
# a container may forbid the shared-memory transport's single-copy mode (ptrace); the ranks
# exchange only a few integers
ENV.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from checks import check, finish  # noqa: E402


def gradcam(*args, np_=0, cwd=WORK, stdin=None):
    """np_ 0: one plain process; else mpirun -np np_."""
    cmd = ([MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", str(np_)] if np_ else [])
    return subprocess.run(cmd + [BIN, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          input=stdin, timeout=300)


def results(out):
    with open(os.path.join(WORK, out, "results.jsonl")) as f:
        return [l for l in f if l.strip()]


def lines_apart_from_cwd(out):
    """results.jsonl's lines, sorted, without their "cwd" (the run's working folder), and the
    set of those folders"""
    rows = [json.loads(l) for l in results(out)]
    return (sorted(json.dumps({k: v for k, v in r.items() if k != "cwd"}, sort_keys=True)
                   for r in rows), {r.get("cwd") for r in rows})


def files(out):
    root = os.path.join(WORK, out)
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def same_bytes(a, b, names):
    return all(open(os.path.join(WORK, a, n), "rb").read() ==
               open(os.path.join(WORK, b, n), "rb").read() for n in names)


shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
n_inputs = len([f for f in os.listdir(EXAMPLES) if f.endswith(".png")])

# ---------------------------------------------------------------- two ranks = one process
# --batch 1: an image's numbers do not depend on its batch only up to float32 rounding
# (gc_explain), and the ranks batch differently; the images are identical either way
# (-o out in two folders: the lines name the outputs by the path given)
for d in ("one", "two"):
    os.makedirs(os.path.join(WORK, d))
one = gradcam("-o", "out", "-q", "--batch", "1", "--outputs", "overlay,heatmap,cam", EXAMPLES,
              cwd=os.path.join(WORK, "one"))
two = gradcam("-o", "out", "-q", "--batch", "1", "--outputs", "overlay,heatmap,cam", EXAMPLES,
              np_=2, cwd=os.path.join(WORK, "two"))
check(one.returncode == 0 and two.returncode == 0, "one process and mpirun -np 2: exit 0",
      (one.returncode, one.stderr, two.returncode, two.stderr))
outs = [f for f in files("one/out") if f != "results.jsonl"]
check(files("one/out") == files("two/out") and len(outs) == 3 * n_inputs,
      "mpirun -np 2 writes the same files, no part files left",
      (files("one/out"), files("two/out")))
check(same_bytes("one/out", "two/out", outs), "outputs byte-identical to one process")
l1, cwd1 = lines_apart_from_cwd("one/out")
l2, cwd2 = lines_apart_from_cwd("two/out")
check(l1 == l2 and len(l2) == n_inputs and
      cwd1 == {os.path.realpath(os.path.join(WORK, "one"))} and
      cwd2 == {os.path.realpath(os.path.join(WORK, "two"))},
      "results.jsonl: the same lines after sorting (each naming its run's folder), one per input",
      (len(results("one/out")), len(results("two/out"))))
two_def = gradcam("-o", "two_b8", "-q", EXAMPLES, np_=2)
one_def = gradcam("-o", "one_b8", "-q", EXAMPLES)
outs8 = [f for f in files("one_b8") if f != "results.jsonl"]
check(two_def.returncode == 0 and files("one_b8") == files("two_b8") and
      same_bytes("one_b8", "two_b8", outs8),
      "default batches: images byte-identical too", two_def.stderr)

# ---------------------------------------------------------------- --stats, one file per rank
# each rank writes FILE.rank<R> (none writes FILE); their images add up to the inputs; each
# rank counts its share of the node's cores
st = os.path.join(WORK, "stats.json")
r = gradcam("-o", "two_st", "-q", "--stats", st, EXAMPLES, np_=2)
try:
    parts = [json.load(open(f"{st}.rank{k}")) for k in range(2)]
except (OSError, ValueError) as e:
    parts = [str(e)]
share = max(1, len(os.sched_getaffinity(0)) // 2)
check(r.returncode == 0 and len(parts) == 2 and all(isinstance(x, dict) for x in parts) and
      sum(x["images"] for x in parts) == n_inputs and not os.path.exists(st) and
      all(x["cores"] == share for x in parts),
      f"--stats under mpirun -np 2: a file per rank, {n_inputs} images between them, "
      f"{share} cores each", (r.returncode, r.stderr[-400:], parts))

# ---------------------------------------------------------------- --shard composes with ranks
seen = []
for i in range(2):
    r = gradcam("-o", f"mshard{i}", "-q", "--shard", f"{i}/2", "--outputs", "cam", EXAMPLES,
                np_=2)
    s = gradcam("-o", f"pshard{i}", "-q", "--shard", f"{i}/2", "--outputs", "cam", EXAMPLES)
    mine = sorted(json.loads(l)["input"] for l in results(f"mshard{i}"))
    plain = sorted(json.loads(l)["input"] for l in results(f"pshard{i}"))
    check(r.returncode == 0 and mine == plain,
          f"--shard {i}/2 under mpirun -np 2 = the one-process shard {i}/2", (mine, plain))
    seen += mine
check(sorted(seen) == sorted(os.path.join(EXAMPLES, f) for f in os.listdir(EXAMPLES)
                             if f.endswith(".png")),
      "the two shards of two ranks each cover every input exactly once")

# ---------------------------------------------------------------- bad inputs
bad_in = os.path.join(WORK, "bad_in")
shutil.copytree(EXAMPLES, bad_in)
open(os.path.join(bad_in, "zero.png"), "wb").close()
open(os.path.join(bad_in, "text.jpg"), "w").write("not an image\n")
r = gradcam("-o", "bad", "-q", bad_in, np_=2)
lines = [json.loads(l) for l in results("bad")]
errs = [x for x in lines if x["status"] == "error"]
check(r.returncode == 1 and len(lines) == n_inputs + 2 and len(errs) == 2 and
      all(os.path.basename(x["input"]) in x["error"] for x in errs),
      "bad inputs under mpirun: an error line each naming the file, exit 1",
      (r.returncode, len(lines), errs))

# ---------------------------------------------------------------- set-up errors
r = gradcam("-o", "two/out", "-q", EXAMPLES, np_=2)
check(r.returncode == 2 and r.stderr.count("--resume") == 1,
      "an output folder with results: exit 2, one message (rank 0's)", (r.returncode, r.stderr))
r = gradcam("-o", "stdin", "-q", "-", np_=2, stdin=EXAMPLES + "/star_01.png\n")
check(r.returncode == 2 and "stdin" in r.stderr, "'-' under mpirun: exit 2", r.stderr)
r = gradcam("-o", "nomodel", "-w", os.path.join(WORK, "missing.safetensors"), EXAMPLES, np_=2)
check(r.returncode == 2 and "missing.safetensors" in r.stderr, "missing weights: exit 2",
      r.stderr)

# ---------------------------------------------------------------- killed, then --resume
many = os.path.join(WORK, "many")
os.makedirs(many)
pngs = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".png"))
N_MANY = 800
for i in range(N_MANY):
    shutil.copy(os.path.join(EXAMPLES, pngs[i % len(pngs)]), os.path.join(many, f"m{i:03d}.png"))
args = ["-o", "killed", "-q", "--outputs", "overlay,cam", "--threads", "1"]
cmd = [MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", "2", BIN, *args, many]
p = subprocess.Popen(cmd, cwd=WORK, env=ENV, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
# kill once both ranks have written some lines (mid-run, whatever the machine's speed)
deadline = time.time() + 60
while p.poll() is None and time.time() < deadline:
    try:
        counts = [sum(1 for _ in open(os.path.join(WORK, "killed", f"results.rank{k}.jsonl")))
                  for k in range(2)]
    except OSError:
        counts = [0, 0]
    if min(counts) >= 20:
        break
    time.sleep(0.01)
killed = p.poll() is None
if killed:
    p.send_signal(signal.SIGTERM)  # mpirun passes it on to the ranks, which die mid-write
p.wait()
# as a crash would leave it: a torn line in a part file, a duplicate line of another run
parts = [f for f in os.listdir(os.path.join(WORK, "killed")) if f.startswith("results.rank")]
with open(os.path.join(WORK, "killed", "results.rank7.jsonl"), "w") as f:
    f.write('{"input": "torn')
r = gradcam(*args, "--resume", many, np_=2)
lines = [json.loads(l) for l in results("killed")]
inputs = [x["input"] for x in lines]
complete = all(os.path.isfile(os.path.join(WORK, "killed", f"m{i:03d}{ext}"))
               for i in range(N_MANY) for ext in (".overlay.png", ".cam.npy"))
left = [f for f in files("killed") if f.startswith("results.rank") or ".gradcam-tmp" in f]
check(r.returncode == 0 and len(inputs) == len(set(inputs)) == N_MANY and complete and not left,
      f"mpirun killed ({'SIGTERM mid-run' if killed else 'finished first'}; "
      f"{len(parts)} part files), then --resume under mpirun: one line per input, every output",
      (r.returncode, r.stderr[-500:], len(inputs), len(set(inputs)), complete, left))
r = gradcam(*args, "--resume", many)
check(r.returncode == 0 and len(results("killed")) == N_MANY,
      "then --resume in one process: nothing to do, still one line per input")
# more outputs asked under mpirun: each rank redoes its inputs and appends to its part file;
# rank 0 merges the parts and drops the old lines
r = gradcam("-o", "killed", "-q", "--outputs", "overlay,cam,heatmap", "--threads", "1",
            "--resume", many, np_=2)
lines = [json.loads(l) for l in results("killed")]
check(r.returncode == 0 and len(lines) == len({x["input"] for x in lines}) == N_MANY and
      all("heatmap" in x["outputs"] for x in lines) and
      not [f for f in files("killed") if f.startswith("results.rank") or ".gradcam-tmp" in f],
      "--resume under mpirun with another output asked: one line per input, the new ones",
      (r.returncode, r.stderr[-500:], len(lines)))

finish()
