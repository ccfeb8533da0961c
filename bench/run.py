#!/usr/bin/env python3
"""make bench: cgrad-bench against the peers users install, on the same workloads, in one run.

    bench/run.py [BUILD]          (BUILD: the build folder, default build)

Peers (each when it is installed; the peer scripts in ../shared/peers run as they are):
  torch-debian  Debian's python3-torch (/usr/bin/python3), given cgrad's BLIS sub-configuration
                (it multiplies through libblas.so.3, BLIS here)
  torch-2       PyTorch 2.x from PyPI in the virtual environment (make venv; $VENV, default .venv)
  keras-3       Keras 3 with the TensorFlow backend in the same environment
For every workload, ROUNDS times (default 3), cgrad and each peer run back to back, each in a
process of its own (so peak RSS is per workload); the table gives the median samples/s, peak RSS
and, per peer, the median of the rounds' ratios. Inference (cg_predict, batch 256) is compared
with PyTorch 2.x under torch.inference_mode() (bench/torch_predict.py), the IMDB models' training
GEMM rate with BLIS's own on the same shapes (bench_matmul), and, when mpirun is there, one process
x 2 threads with 2 processes x 1 thread (cgrad-bench --mpi). Before and after each of cgrad's
runs the cores' round trip (cgrad-bench --round-trip) says how far apart the host had put the two
CPUs: on a VM that changes from minute to minute, and with it the speed of anything the two
threads share (bench/README.md, "The slow spells").
Settings from the environment: THREADS (2), ROUNDS (3), WORKLOADS, VENV, PEERS (a subset of the
names above), MATMUL=0 / MPI=0 to skip those parts."""
import os
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER_DIR = os.path.join(ROOT, "..", "shared", "peers")
WORKLOADS = ["imdb_simple_rnn", "imdb_lstm", "mulprob_gru", "mulprob_lstm", "deaths_lstm"]
TARGETS = {"imdb_simple_rnn": 5.0, "imdb_lstm": 2.5, "mulprob_gru": 5.0, "mulprob_lstm": 5.0, "deaths_lstm": 5.0}
LINE = re.compile(r"^(\S+) ([0-9.]+) s/epoch ([0-9.]+) samples/s ([0-9.]+) MiB")
PREDICT = re.compile(r"^(\S+)_predict ([0-9.]+) samples/s")
GEMM = re.compile(r"^(\S+)_train_gemm ([0-9.]+) GFLOP/s in its products, BLIS alone on the same products ([0-9.]+) GFLOP/s")
RTRIP = re.compile(r"^cores' round trip: CPUs [0-9]+ and [0-9]+, ([0-9.]+) ns")
NODES = re.compile(r"^(\S+)_step .*; ([0-9]+) nodes x ([0-9]+) parts?, ([0-9]+) ns CPU per node")


def run(cmd, env=None, timeout=3600):
    e = dict(os.environ, **(env or {}))
    r = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return None, " | ".join(tail)
    return r.stdout, None


def first_match(regex, out):
    return next((m for m in map(regex.match, (out or "").splitlines()) if m), None)


def round_trip(bench):
    m = first_match(RTRIP, run([bench, "--round-trip"])[0])
    return float(m.group(1)) if m else None


def python_has(python, *modules):
    if not os.path.exists(python):
        return None
    code = "import " + ", ".join(modules) + "; print(" + " + ' ' + ".join(f"{m}.__version__" for m in modules) + ")"
    env = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out, err = run([python, "-c", code], env)
    return out.strip().splitlines()[-1] if out else None


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    threads = os.environ.get("THREADS", "2")
    rounds = int(os.environ.get("ROUNDS", "3"))
    workloads = os.environ.get("WORKLOADS", " ".join(WORKLOADS)).split()
    venv = os.environ.get("VENV", os.path.join(ROOT, ".venv"))
    vpy = os.path.join(venv, "bin", "python")
    bench = os.path.join(build, "bench", "cgrad-bench")
    torch_peer, keras_peer = os.path.join(PEER_DIR, "torch_bench.py"), os.path.join(PEER_DIR, "keras_bench.py")
    blis = os.environ.get("BLIS_ARCH_TYPE") or run([bench, "--blis-arch-type"])[0].strip()
    peers = []  # (name, command, env, version)
    v = python_has("/usr/bin/python3", "torch")
    if v and os.path.exists(torch_peer):
        peers.append(("torch-debian", ["/usr/bin/python3", torch_peer, "--threads", threads],
                      {"BLIS_ARCH_TYPE": blis}, f"torch {v} (Debian)"))
    v = python_has(vpy, "torch")
    if v and os.path.exists(torch_peer):
        peers.append(("torch-2", [vpy, torch_peer, "--threads", threads], {}, f"torch {v} (PyPI)"))
    v = python_has(vpy, "keras", "tensorflow")
    if v and os.path.exists(keras_peer):
        peers.append(("keras-3", [vpy, keras_peer, "--threads", threads],
                      {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}, f"keras, tensorflow {v}"))
    if os.environ.get("PEERS"):
        wanted = os.environ["PEERS"].split()
        peers = [p for p in peers if p[0] in wanted]

    load = open("/proc/loadavg").read().split()[:3]
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"machine: {model}, {os.cpu_count()} cores; threads {threads}; rounds {rounds}; load {' '.join(load)}")
    print(run([bench, "--info"])[0].rstrip())
    out, err = run([bench, "--round-trip"])
    print("  " + (out.strip() if out else f"(cgrad-bench --round-trip failed: {err})"))
    for name, _, env, version in peers:
        print(f"peer {name}: {version}" + (f", BLIS_ARCH_TYPE={env['BLIS_ARCH_TYPE']}" if "BLIS_ARCH_TYPE" in env else ""))
    if not peers:
        print("(no peer installed: python3-torch, or `make venv` for PyTorch 2.x and Keras 3)")
    if os.environ.get("MATMUL", "1") != "0":
        out, err = run([os.path.join(build, "bench", "bench_matmul"), "--threads", threads])
        print(out if out else f"(bench_matmul failed: {err})")

    ours, theirs, notes = {}, {}, []  # ours[w] = [(sps, mib)], theirs[(peer, w)] = [...]
    predict, gemm, nodes, trips = {}, {}, {}, []
    for r in range(rounds):
        for w in workloads:
            before = round_trip(bench)
            out, err = run([bench, "--no-info", "--threads", threads, w])
            rt = (before, round_trip(bench))
            trips += [x for x in rt if x is not None]
            for line in (out or "").splitlines():
                m = LINE.match(line)
                if m and m.group(1) == w:
                    ours.setdefault(w, []).append((float(m.group(3)), float(m.group(4))))
                if (m := PREDICT.match(line)):
                    predict.setdefault(m.group(1), []).append(float(m.group(2)))
                if (m := GEMM.match(line)):
                    gemm.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
                if (m := NODES.match(line)):
                    nodes.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3)), float(m.group(4))))
            if err:
                notes.append(f"cgrad-bench {w}: {err}")
            print(f"round {r + 1} {w}: cgrad " + (f"{ours[w][-1][0]:.0f} samples/s {ours[w][-1][1]:.0f} MiB" if w in ours else "failed"),
                  end="", flush=True)
            for name, cmd, env, _ in peers:
                out, err = run(cmd + [w], env)
                m = first_match(LINE, out)
                if m:
                    theirs.setdefault((name, w), []).append((float(m.group(3)), float(m.group(4))))
                    print(f", {name} {float(m.group(3)):.0f} samples/s {float(m.group(4)):.0f} MiB", end="", flush=True)
                else:
                    notes.append(f"{name} {w} failed: {err}")
                    print(f", {name} failed", end="", flush=True)
            print(f" (cores' round trip before and after cgrad: {' and '.join('-' if x is None else f'{x:.0f}' for x in rt)} ns)",
                  flush=True)

    # inference against PyTorch 2.x
    tpred = {}
    predict_peer = vpy if python_has(vpy, "torch") else None
    if predict_peer:
        for r in range(rounds):
            out, err = run([predict_peer, os.path.join(ROOT, "bench", "torch_predict.py"), "--threads", threads])
            for line in (out or "").splitlines():
                if (m := PREDICT.match(line)):
                    tpred.setdefault(m.group(1), []).append(float(m.group(2)))
            if err:
                notes.append(f"torch_predict.py: {err}")

    print()
    head = f"{'workload':<16} {'cgrad samp/s':>12} {'MiB':>5}"
    for name, *_ in peers:
        head += f" | {name + ' samp/s':>19} {'MiB':>5} {'ratio':>6} {'per round':>20}"
    print(head + " | vs fastest  target")
    for w in workloads:
        if w not in ours:
            continue
        sps = statistics.median(x[0] for x in ours[w])
        mib = max(x[1] for x in ours[w])
        row = f"{w:<16} {sps:>12.0f} {mib:>5.0f}"
        fastest = None
        for name, *_ in peers:
            t = theirs.get((name, w), [])
            if not t:
                row += f" | {'-':>19} {'-':>5} {'-':>6} {'':>20}"
                continue
            ratios = [o[0] / p[0] for o, p in zip(ours[w], t)]
            med = statistics.median(ratios)
            tsps = statistics.median(x[0] for x in t)
            if fastest is None or tsps > fastest[0]:
                fastest = (tsps, med, name)
            row += f" | {tsps:>19.0f} {max(x[1] for x in t):>5.0f} {med:>5.2f}x {' '.join(f'{x:.2f}' for x in ratios):>20}"
        if fastest:
            row += f" | {fastest[1]:.2f}x ({fastest[2]}) {TARGETS.get(w, 0):.1f}x"
        print(row)
    print()
    for w in workloads:
        if w in ours:
            peak = {name: max(x[1] for x in theirs[(name, w)]) for name, *_ in peers if (name, w) in theirs}
            if peak:
                worst = min(peak.values())
                print(f"peak RSS {w}: cgrad {max(x[1] for x in ours[w]):.0f} MiB, the leanest peer {worst:.0f} MiB: "
                      f"{max(x[1] for x in ours[w]) / worst:.2f} of it (target <= 0.33)")
    for w in sorted(predict):
        if w in tpred:
            o, t = statistics.median(predict[w]), statistics.median(tpred[w])
            print(f"inference {w} (batch 256): cgrad {o:.0f}, torch-2 inference_mode {t:.0f} samples/s: {o / t:.2f}x (target >= 3x)")
    for w in sorted(gemm):
        ours_g = statistics.median(x[0] for x in gemm[w])
        blis_g = statistics.median(x[1] for x in gemm[w])
        print(f"training GEMMs {w}: {ours_g:.1f} GFLOP/s in its products, BLIS alone on the same products "
              f"{blis_g:.1f}: {100 * ours_g / blis_g:.0f}% (target >= 85%)")
    for w in workloads:
        if w in nodes:
            n, parts, _ = nodes[w][0]
            print(f"cost per op {w}: {n} nodes a batch x {parts} part{'s' if parts > 1 else ''}, "
                  f"{statistics.median(x[2] for x in nodes[w]):.0f} ns of CPU per node (forward, backward, update)")
    if trips:
        print(f"cores' round trip before and after cgrad's runs: {min(trips):.0f}-{max(trips):.0f} ns")
    for n in notes:
        print("note:", n)

    if os.environ.get("MPI", "1") != "0" and shutil.which("mpirun"):
        print()
        out, err = run([bench, "--no-info", "--mpi"] + workloads)
        print(out if out else f"(cgrad-bench --mpi failed: {err})")


if __name__ == "__main__":
    main()
