#!/bin/bash
# The scaling efficiency of data-parallel training on paper
# (docs/distributed.md, "Scaling on paper"): for W ranks, each with a fixed
# local batch, on a network of bandwidth B and latency ALPHA per message,
# with a ring all-reduce for the dense gradients, a ring allgather for the
# row-sparse rows (or ids + the dense table, whichever is cheaper, as
# CG_DIST_SPARSE_AUTO chooses) and a recursive-doubling allgather for the
# per-step header; the averaging after the backward, no overlap:
#
#   T_dense(S)  = 2 (W-1) ALPHA + 2 (W-1)/W S / B
#   T_rows      = (W-1) ALPHA + (W-1) s / B
#   T_ids+dense = (W-1) ALPHA + (W-1) s_ids / B + T_dense(D)
#   T_header    = ceil(log2 W) ALPHA + (W-1) 8 (4 + P) / B
#   E(W)        = T_c / (T_c + T_dense(S) + min(T_rows, T_ids+dense) + T_header)
#
# Input lines on stdin (measured: see the doc), one per workload:
#   name T_c_ms S_bytes s_bytes s_ids_bytes D_bytes P
# (s, s_ids, D: 0 when there is no row-sparse parameter). Prints E and the
# time of each part at each W.
#   bench/dist_scaling.sh < table      B=3.125e9 ALPHA=10e-6 W="8 64 512" by default
B=${B:-3.125e9}
ALPHA=${ALPHA:-10e-6}
WS=${W:-8 64 512}
awk -v B="$B" -v a="$ALPHA" -v ws="$WS" '
function dense(S, W) { return 2 * (W - 1) * a + 2 * (W - 1) / W * S / B }
function lg2(W) { return int(log(W) / log(2) + 0.999999) }
NF >= 7 && $1 !~ /^#/ {
    n = split(ws, Ws, " ")
    printf "%-16s T_c %7.3f ms", $1, $2
    for (i = 1; i <= n; i++) {
        W = Ws[i]; tc = $2 / 1e3
        td = dense($3, W)
        ts = 0; how = ""
        if ($4 > 0) {
            rows = (W - 1) * a + (W - 1) * $4 / B
            ids = (W - 1) * a + (W - 1) * $5 / B + dense($6, W)
            ts = rows < ids ? rows : ids; how = rows < ids ? "rows" : "ids+dense"
        }
        th = lg2(W) * a + (W - 1) * 8 * (4 + $7) / B
        printf " | W=%d: E %5.1f%% (dense %.3f, sparse %.3f%s%s, header %.3f ms)", W, 100 * tc / (tc + td + ts + th),
               td * 1e3, ts * 1e3, how == "" ? "" : " as ", how, th * 1e3
    }
    printf "\n"
}'
