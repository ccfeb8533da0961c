#!/bin/bash
# Data-parallel training across two hosts, for real: two network namespaces
# on this machine (iproute2's `ip netns`), joined by a veth pair, each with
# a hostname of its own (a UTS namespace), one rank in each. mpirun runs in
# host A with a hostfile naming both; Open MPI starts the daemon on host B
# through a small launcher agent that enters B's namespaces where ssh would
# log in (--mca plm_rsh_agent). The ranks talk TCP over the veth only.
#
#     tests/dist/two_hosts.sh BUILD_DIR [mpi|no-mpi]
#
# Exits 77 (CTest: skipped) when namespaces cannot be made here (not root,
# no `ip`, a container without the capability) or cgrad was built without
# MPI (no-mpi, as CTest passes it then).
set -u
build=$(cd "${1:-build}" && pwd)
worker=$build/tests/test_dist
skip() { echo "two_hosts: skipped: $*"; exit 77; }
[ "${2:-mpi}" = mpi ] || skip "cgrad was built without MPI"
[ "$(id -u)" = 0 ] || skip "needs root to make network namespaces"
for c in ip unshare mpirun hostname; do command -v $c >/dev/null || skip "no $c"; done
[ -x "$worker" ] || skip "no $worker"

tag=$$
A=cgdistA$tag B=cgdistB$tag net=10.77.$((tag % 250)).0
work=$(mktemp -d "${TMPDIR:-/tmp}/cgrad-two-hosts.XXXXXX")
cleanup() {
    ip netns del "$A" 2>/dev/null
    ip netns del "$B" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$A" 2>/dev/null || skip "cannot make a network namespace"
ip netns add "$B" 2>/dev/null || skip "cannot make a second network namespace"
ip link add "va$tag" type veth peer name "vb$tag" 2>/dev/null || skip "cannot make a veth pair"
ip link set "va$tag" netns "$A" && ip link set "vb$tag" netns "$B" || skip "cannot move the veth ends"
ipA=${net%.0}.1 ipB=${net%.0}.2
ip -n "$A" addr add "$ipA/24" dev "va$tag" && ip -n "$A" link set "va$tag" up && ip -n "$A" link set lo up &&
    ip -n "$B" addr add "$ipB/24" dev "vb$tag" && ip -n "$B" link set "vb$tag" up && ip -n "$B" link set lo up ||
    skip "cannot configure the namespaces"
unshare --uts true 2>/dev/null || skip "cannot make a UTS namespace"

# The launcher agent: called like ssh, `agent [options] HOST COMMAND...`.
cat >"$work/agent" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
case \$host in
    $ipA|hostA) ns=$A name=hostA ;;
    $ipB|hostB) ns=$B name=hostB ;;
    *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name; \$*"
AGENT
chmod +x "$work/agent"
printf '%s slots=1\n%s slots=1\n' "$ipA" "$ipB" >"$work/hosts"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run() { # worker arguments; output in $work/out
    ip netns exec "$A" unshare --uts sh -c "hostname hostA; exec mpirun --hostfile '$work/hosts' -np 2 --map-by node \
        --mca plm_rsh_agent '$work/agent' --mca btl tcp,self --mca btl_tcp_if_include $net/24 \
        --mca oob_tcp_if_include $net/24 '$worker' --worker $*" >"$work/out" 2>&1
}
fail() {
    echo "two_hosts: $*" >&2
    cat "$work/out" >&2
    exit 1
}
value() { sed -n "s/^RESULT $1 //p" "$work/out" | head -n 1; }

run hosts || fail "mpirun over two namespaces failed"
[ "$(value hosts)" = "hostA hostB" ] || fail "the ranks did not run on hostA and hostB"
[ "$(value local_size)" = "1" ] || fail "Open MPI sees both ranks on one machine"
run niter lstm float64 || fail "the DDP check over two hosts failed"
awk -v r="$(value max_rel_diff)" 'BEGIN { exit !(r != "" && r <= 1e-6) }' || fail "max relative difference $(value max_rel_diff)"
[ "$(value same_on_every_rank)" = 1 ] || fail "the hosts ended with different weights"
[ "$(value repeat_same_bits)" = 1 ] || fail "a second run gave other bits"
echo "two_hosts: 2 ranks on hostA ($ipA) and hostB ($ipB) over TCP: DDP check max relative difference $(value max_rel_diff), same bits on both hosts and on a second run"
