#!/bin/bash
# make bench: cgrad-bench and, when Debian's python3-torch is installed, the
# PyTorch peer on the same workloads in the same run, each workload in its
# own process (so peak RSS is per workload), then the ratios; and
# cgrad-bench --mpi (one process x 2 threads against 2 processes over MPI).
#
# A shared machine's speed drifts by tens of percent within minutes, so the
# two sides run back to back per workload, ROUNDS times (default 3), and the
# table shows each round's ratio and their median.
set -u
BUILD=${1:-build}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PEER=${PEER:-../shared/peers/torch_bench.py}
WORKLOADS=${WORKLOADS:-"imdb_simple_rnn imdb_lstm mulprob_gru mulprob_lstm deaths_lstm"}
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
have_peer=0
[ -f "$PEER" ] && /usr/bin/python3 -c "import torch" 2>/dev/null && have_peer=1
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads: $THREADS; rounds: $ROUNDS"
"$BUILD/bench/cgrad-bench" --info
# The peer's BLIS (Debian's torch multiplies through libblas.so.3, BLIS here)
# runs the sub-configuration cgrad's does, so a ratio compares like with like.
BLIS_FOR_PEER=${BLIS_ARCH_TYPE:-$("$BUILD/bench/cgrad-bench" --blis-arch-type)}
echo "the peer runs with BLIS_ARCH_TYPE=$BLIS_FOR_PEER (libblas.so.3: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null))"
[ "${MATMUL:-1}" = 0 ] || "$BUILD/bench/bench_matmul" --threads "$THREADS" 2>/dev/null || true
for r in $(seq "$ROUNDS"); do
    for w in $WORKLOADS; do
        "$BUILD/bench/cgrad-bench" --no-info --threads "$THREADS" "$w" | sed "s/^/$r /" | tee -a "$ours"
        [ "$have_peer" = 1 ] && BLIS_ARCH_TYPE=$BLIS_FOR_PEER /usr/bin/python3 "$PEER" --threads "$THREADS" "$w" | sed "s/^/$r torch /" | tee -a "$theirs"
    done
done
# One process x 2 threads against 2 processes x 1 thread over MPI (MPI=0:
# not), when mpirun is installed and cgrad was built with MPI.
if [ "${MPI:-1}" != 0 ] && command -v mpirun >/dev/null; then
    echo
    # shellcheck disable=SC2086
    "$BUILD/bench/cgrad-bench" --no-info --mpi $WORKLOADS || echo "(cgrad-bench --mpi failed)"
fi
[ -s "$theirs" ] || { echo "(python3-torch not installed: no peer figures)"; exit 0; }
echo
printf "%-16s %-28s %8s %14s %14s %10s %10s\n" workload "speedup per round" median "cgrad samp/s" "torch samp/s" "cgrad MiB" "torch MiB"
for w in $WORKLOADS; do
    # round, ours samples/s, theirs samples/s, ours MiB, theirs MiB
    rows=$(for r in $(seq "$ROUNDS"); do
        o=$(grep "^$r $w " "$ours" | head -1) t=$(grep "^$r torch $w " "$theirs" | head -1)
        [ -n "$o" ] && [ -n "$t" ] && echo "$o" "$t" | awk '{ print $5, $14, $7, $16 }'
    done)
    [ -n "$rows" ] || continue
    echo "$rows" | awk -v w="$w" '{ s[NR] = $1 / $2; o[NR] = $1; t[NR] = $2; if ($3 > om) om = $3; if ($4 > tm) tm = $4 }
        END { n = NR; list = "";
              for (i = 1; i <= n; i++) list = list sprintf("%.2fx ", s[i]);
              # median of the ratios, and that round'"'"'s figures
              for (i = 1; i <= n; i++) { idx[i] = i }
              for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[idx[j]] < s[idx[i]]) { k = idx[i]; idx[i] = idx[j]; idx[j] = k }
              m = idx[int((n + 1) / 2)];
              printf "%-16s %-28s %7.2fx %14.0f %14.0f %10.0f %10.0f\n", w, list, s[m], o[m], t[m], om, tm }'
done
