#!/bin/bash
# Two builds of cgrad on the same workloads in one run: each workload runs
# in build A and in build B back to back (which goes first alternates by
# round), ROUNDS times (default 3); the table shows B's samples/s over A's
# per round and the median.
#   bench/compare_builds.sh build build-native        # portable vs -march=native
# Each side prints its build information first.
set -u
A=${1:?usage: compare_builds.sh BUILD_A BUILD_B}
B=${2:?usage: compare_builds.sh BUILD_A BUILD_B}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKLOADS=${WORKLOADS:-"imdb_simple_rnn imdb_lstm mulprob_gru mulprob_lstm deaths_lstm"}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads: $THREADS; rounds: $ROUNDS; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for side in A B; do
    dir=${!side}
    echo "$side = $dir:"
    "$dir/bench/cgrad-bench" --info | sed 's/^/  /'
done
for r in $(seq "$ROUNDS"); do
    for w in $WORKLOADS; do
        order="A B"
        [ $((r % 2)) = 0 ] && order="B A"
        for side in $order; do
            dir=${!side}
            "$dir/bench/cgrad-bench" --no-info --threads "$THREADS" "$w" | grep "^$w " | sed "s/^/$r $side /" | tee -a "$out"
        done
    done
done
echo
printf "%-16s %-28s %8s %14s %14s\n" workload "B/A per round" median "A samp/s" "B samp/s"
for w in $WORKLOADS; do
    rows=$(for r in $(seq "$ROUNDS"); do
        a=$(grep "^$r A $w " "$out" | awk '{print $6}') b=$(grep "^$r B $w " "$out" | awk '{print $6}')
        [ -n "$a" ] && [ -n "$b" ] && echo "$a $b"
    done)
    [ -n "$rows" ] || continue
    echo "$rows" | awk -v w="$w" '{ s[NR] = $2 / $1; a[NR] = $1; b[NR] = $2 }
        END { n = NR; list = "";
              for (i = 1; i <= n; i++) { list = list sprintf("%.3f ", s[i]); idx[i] = i }
              for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[idx[j]] < s[idx[i]]) { k = idx[i]; idx[i] = idx[j]; idx[j] = k }
              m = idx[int((n + 1) / 2)];
              printf "%-16s %-28s %7.3fx %14.0f %14.0f\n", w, list, s[m], a[m], b[m] }'
done
