#!/usr/bin/env bash
# Install a built cgrad into a temporary prefix and build and run a small
# consumer program against it with CMake (find_package(cgrad), cgrad::cgrad);
# it must print expected.txt. Then follow the README as written: its short
# example and the shell commands after it (install to $HOME/.local,
# pkg-config, cc, ./app), run with HOME in a scratch folder and no
# LD_LIBRARY_PATH; the example must learn (final val_loss < 0.01).
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
trap 'echo "check_install: a command failed at line $LINENO" >&2' ERR
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

# --- the README, as written --------------------------------------------------
# The C block and the first sh block of its "## A short example" section.
readme=$2/README.md
block() { # the first fenced block in language $1 of README's "## A short example" section
    # (one awk reading the file: a pipe into an awk that exits early would
    # fail the script under pipefail when the writer got SIGPIPE)
    awk -v lang="$1" '
        /^## / { on = ($0 == "## A short example") }
        on && !inside && $0 == "```" lang { inside = 1; next }
        inside && $0 == "```" { exit }
        inside { print }' "$readme"
}
mkdir -p "$work/readme" "$work/home"
block c >"$work/readme/app.c"
block sh >"$work/readme/commands.sh"
[ -s "$work/readme/app.c" ] || fail "README.md has no C block under '## A short example'"
[ -s "$work/readme/commands.sh" ] || fail "README.md has no sh block under '## A short example'"
grep -q '^cc .*pkg-config --cflags --libs cgrad' "$work/readme/commands.sh" ||
    fail "README's commands do not build with pkg-config:"$'\n'"$(cat "$work/readme/commands.sh")"
ln -s "$build" "$work/readme/build" # the commands run in a checkout whose build/ is this tree
echo "check_install: running README.md's commands:" >&2
sed 's/^/    /' "$work/readme/commands.sh" >&2
(cd "$work/readme" && env -u LD_LIBRARY_PATH -u PKG_CONFIG_PATH -u CMAKE_PREFIX_PATH HOME="$work/home" \
    bash -e commands.sh) >"$work/readme/out.txt" 2>"$work/readme/err.txt" || {
    cat "$work/readme/out.txt" "$work/readme/err.txt" >&2
    fail "README's commands failed"
}
# ./app found the library it was built against, through the rpath cgrad.pc gave it
linked=$(env -u LD_LIBRARY_PATH ldd "$work/readme/app")
loaded=$(sed -n 's/^[[:space:]]*libcgrad\.so\.0 => \(.*\) (0x[0-9a-f]*)$/\1/p' <<<"$linked")
[ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$work/home/.local/lib/libcgrad.so.0")" ] ||
    fail "the README's app does not load $work/home/.local/lib/libcgrad.so.0:"$'\n'"$linked"
# it learned: "val_loss A after epoch 1, B after epoch 20" with B < 0.01
result=$(grep -E '^val_loss [0-9.]+ after epoch 1, [0-9.]+ after epoch [0-9]+$' "$work/readme/out.txt") || {
    tail -n 5 "$work/readme/out.txt" >&2
    fail "the README's example did not print its val_loss line"
}
final=$(awk '{print $6}' <<<"$result")
awk -v v="$final" 'BEGIN { exit !(v < 0.01) }' ||
    fail "the README's example did not learn: $result (final val_loss must be < 0.01)"
echo "check_install: README example: $result" >&2

echo "check_install: OK ($prefix: the CMake consumer; README.md's commands and example)"
