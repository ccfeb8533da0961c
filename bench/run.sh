#!/bin/bash
# make bench: cgrad-bench and, when Debian's python3-torch is installed, the
# PyTorch peer on the same workloads in the same run, each workload in its
# own process (so peak RSS is per workload), then the ratios.
set -u
BUILD=${1:-build}
THREADS=${THREADS:-2}
PEER=${PEER:-../shared/peers/torch_bench.py}
WORKLOADS="imdb_simple_rnn imdb_lstm mulprob_gru mulprob_lstm deaths_lstm"
ours=$(mktemp) theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads: $THREADS"
"$BUILD/bench/bench_matmul" --threads "$THREADS" 2>/dev/null || true
for w in $WORKLOADS; do
    "$BUILD/bench/cgrad-bench" --threads "$THREADS" "$w" | tee -a "$ours"
    if [ -f "$PEER" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
        /usr/bin/python3 "$PEER" --threads "$THREADS" "$w" | sed 's/^/torch /' | tee -a "$theirs"
    fi
done
[ -s "$theirs" ] || { echo "(python3-torch not installed: no peer figures)"; exit 0; }
echo
printf "%-16s %14s %14s %10s %10s %10s\n" workload "cgrad samp/s" "torch samp/s" speedup "cgrad MiB" "torch MiB"
for w in $WORKLOADS; do
    o=$(grep "^$w " "$ours") t=$(grep "^torch $w " "$theirs" | cut -d' ' -f2-)
    [ -n "$o" ] && [ -n "$t" ] || continue
    awk -v o="$o" -v t="$t" -v w="$w" 'BEGIN { split(o, a, " "); split(t, b, " ");
        printf "%-16s %14.0f %14.0f %9.2fx %10.0f %10.0f\n", w, a[4], b[4], a[4] / b[4], a[6], b[6] }'
done
