#!/usr/bin/env bash
# Install a built cgrad into a temporary prefix, then build and run a small
# consumer program against it twice: with CMake (find_package(cgrad),
# cgrad::cgrad) and with pkg-config. Both must print expected.txt.
#
#     check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$2/tests/install" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cgrad-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() {
    echo "check_install: $*" >&2
    exit 1
}

# --- install -------------------------------------------------------------
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
    cat "$work/install.log" >&2
    fail "cmake --install failed"
}
for h in cgrad.h tensor.h autograd.h; do
    [ -f "$prefix/include/cgrad/$h" ] || fail "header <cgrad/$h> was not installed"
done
lib=$(find "$prefix" -name 'libcgrad.so' | head -n 1)
[ -n "$lib" ] || fail "libcgrad.so was not installed"
libdir=$(dirname "$lib")
[ -f "$libdir/libcgrad.a" ] || fail "libcgrad.a was not installed next to libcgrad.so"
[ -f "$libdir/cmake/cgrad/cgradConfig.cmake" ] || fail "no cgradConfig.cmake under $libdir/cmake/cgrad"
[ -f "$libdir/pkgconfig/cgrad.pc" ] || fail "no cgrad.pc under $libdir/pkgconfig"

# The shared library carries its dependencies (consumers link it alone).
deps=$(ldd "$lib")
for dep in libblis libgomp; do
    grep -q "$dep" <<<"$deps" || fail "ldd $lib does not list $dep:"$'\n'"$deps"
done

check_output() { # name, output file
    if ! diff -u "$here/expected.txt" "$2" >&2; then fail "$1 consumer printed the wrong output"; fi
}

# --- consumer 1: CMake find_package ---------------------------------------
cmake -S "$here" -B "$work/cmake-app" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    >"$work/cmake-app.log" 2>&1 || {
    cat "$work/cmake-app.log" >&2
    fail "configuring the CMake consumer failed"
}
found=$(sed -n 's/^cgrad_DIR:PATH=//p' "$work/cmake-app/CMakeCache.txt")
[ "$found" = "$libdir/cmake/cgrad" ] || fail "find_package(cgrad) used $found, not the installed package"
cmake --build "$work/cmake-app" >"$work/cmake-build.log" 2>&1 || {
    cat "$work/cmake-build.log" >&2
    fail "building the CMake consumer failed"
}
"$work/cmake-app/app" >"$work/cmake-app.out" || fail "the CMake consumer exited with $?"
check_output CMake "$work/cmake-app.out"

# --- consumer 2: pkg-config ------------------------------------------------
# cgrad.pc locates its prefix relative to itself, so the installed tree may
# be anywhere.
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=$(pkg-config --cflags --libs cgrad) || fail "pkg-config does not know cgrad"
incdir=$(pkg-config --variable=includedir cgrad)
[ "$(realpath "$incdir")" = "$(realpath "$prefix/include")" ] ||
    fail "pkg-config's includedir $incdir is not $prefix/include"
# shellcheck disable=SC2086
cc -std=c11 -o "$work/pc-app" "$here/app.c" $flags || fail "building the pkg-config consumer failed"
LD_LIBRARY_PATH=$libdir "$work/pc-app" >"$work/pc-app.out" || fail "the pkg-config consumer exited with $?"
check_output pkg-config "$work/pc-app.out"
# (a here-string, not a pipe: grep -q would stop reading and, with pipefail,
# ldd's SIGPIPE would fail the check at random)
linked=$(LD_LIBRARY_PATH=$libdir ldd "$work/pc-app")
grep -q "$libdir/libcgrad.so" <<<"$linked" ||
    fail "the pkg-config consumer is not linked to the installed libcgrad.so"

echo "check_install: OK ($prefix: CMake and pkg-config consumers)"
