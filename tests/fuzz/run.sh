#!/bin/sh
# Build every tests/fuzz/fuzz_*.c with clang's libFuzzer, AddressSanitizer
# and UBSan, then run each for N seconds (default 60) on its seed corpus
# tests/fuzz/corpus/<name>/ (<name> = file name without "fuzz_").
#
#   tests/fuzz/run.sh [seconds]        e.g. tests/fuzz/run.sh 5 in CI
#
# Needs clang and libclang-rt-dev (libFuzzer). Library sources compiled in:
# tensor/, autograd/, nn/ and datasets/ (override with FUZZ_MODULES="tensor datasets").
# New inputs go to a scratch copy of the corpus, never into the repository.
# Prints the executions per target; exits non-zero if any target crashes.
set -eu

secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
fuzzdir=$root/tests/fuzz
work=${FUZZ_WORK:-$(mktemp -d /tmp/cgrad-fuzz.XXXXXX)}
modules=${FUZZ_MODULES:-tensor autograd nn datasets}
cc=${CC_FUZZ:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run.sh: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi

# Include dirs: each module folder, <cgrad/*.h> as installed, BLIS, cJSON, HDF5.
mkdir -p "$work/include/cgrad" "$work/obj"
incs="-I$work/include"
for m in $modules; do
    incs="$incs -I$root/$m"
    ln -sf "$root/$m/$m.h" "$work/include/cgrad/$m.h"
done
for d in /usr/include/x86_64-linux-gnu/blis-openmp /usr/include/blis /usr/include/cjson; do
    [ -d "$d" ] && incs="$incs -I$d"
done
cflags="-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fopenmp -fno-omit-frame-pointer -Wno-pass-failed"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
incs="$incs $(pkg-config --cflags hdf5)"
libs="-lblis -lcjson -lutf8proc -larchive $(pkg-config --libs hdf5) -lcsv -lm -fopenmp"

echo "run.sh: compiling the library ($modules) with $cc"
objs=""
for m in $modules; do
    for src in "$root/$m"/*.c; do
        obj="$work/obj/${m}_$(basename "$src" .c).o"
        # shellcheck disable=SC2086
        $cc $cflags $san -fsanitize=fuzzer-no-link $incs -c "$src" -o "$obj"
        objs="$objs $obj"
    done
done

status=0
for src in "$fuzzdir"/fuzz_*.c; do
    target=$(basename "$src" .c)
    name=${target#fuzz_}
    exe="$work/$target"
    # shellcheck disable=SC2086
    if ! $cc $cflags $san -fsanitize=fuzzer $incs "$src" $objs $libs -o "$exe"; then
        echo "run.sh: $target: build failed" >&2
        status=1
        continue
    fi
    mkdir -p "$work/corpus/$name"
    seeds=$fuzzdir/corpus/$name
    [ -d "$seeds" ] || seeds=""
    log="$work/$target.log"
    # shellcheck disable=SC2086
    if ASAN_OPTIONS=detect_leaks=1 "$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/$target-" -print_final_stats=1 "$work/corpus/$name" $seeds >"$log" 2>&1; then
        runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 executions in \2 s/p' "$log" | tail -n 1)
        echo "$target: ${runs:-finished} (corpus $(ls "$work/corpus/$name" | wc -l) inputs)"
    else
        echo "$target: CRASH — log $log, input $(ls "$work/$target"-* 2>/dev/null | head -n 1)" >&2
        grep -E "ERROR|runtime error|SUMMARY" "$log" | head -n 5 >&2 || true
        status=1
    fi
done
exit $status
