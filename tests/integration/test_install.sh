# The installed tree works from any prefix, and keeps working when moved:
# `cmake --install` into a temporary prefix, then the whole tree renamed.
# From there the tools start (RPATH $ORIGIN), mmstat-run finds the shim
# next to itself, and external programs build against the library with
# pkg-config (mmstats.pc computes its prefix) and with find_package
# (the CMake package config is relocatable), then run, and mmstat-read
# reads what they wrote.
. "$(dirname "$0")/lib.sh"

# A sanitizer build's library can only be linked into programs built
# with the same runtime; the install layout does not depend on the
# build type, and the release build tests it.
skip_sanitized "the release build tests the install"
for t in cc cmake pkg-config readelf; do
    command -v "$t" >/dev/null || { echo "FAIL: $t not found" >&2; exit 1; }
done

first=$WORK/first
pfx=$WORK/moved
cmake --install "$B" --prefix "$first" >"$WORK/install.log"
mv "$first" "$pfx"
# Nothing may point back into the build tree or the first prefix.
unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH MMSTATS_PRELOAD

libdir=$(dirname "$(find "$pfx" -name 'libmmstats.so.*' -type f | head -1)")
expect_match "$libdir" "^$pfx/lib" "the library is under the prefix's lib"
for t in mmstat-read mmstat-run mmstat-clean; do
    ver=$("$pfx/bin/$t" --version 2>&1) || ver="exit $?: $ver"
    expect_match "$ver" "^$t [0-9]+\.[0-9]+\.[0-9]+" "$t --version from the moved tree"
    rpath=$(readelf -d "$pfx/bin/$t" | grep -E 'R(UN)?PATH' || true)
    expect_match "$rpath" '\$ORIGIN/\.\./lib' "$t: RPATH relative to itself"
    checks=$((checks + 1))
    if grep -q -e "$B" -e "$first" <<<"$rpath"; then
        fail "$t: RPATH points outside the installed tree: $rpath"
    fi
done
# The library the tools load is the moved one.
loaded=$(ldd "$pfx/bin/mmstat-read" | awk '$1 ~ /^libmmstats\.so/ {print $3}')
expect_eq "$(realpath -m "$(dirname "$loaded")")" "$(realpath "$libdir")" \
    "mmstat-read loads the installed library"

# mmstat-run preloads the shim of its own tree (the child prints it).
run_out=$("$pfx/bin/mmstat-run" -o "$WORK/summary" -- \
    sh -c 'printf "%s\n" "$LD_PRELOAD"' 2>&1) || fail "mmstat-run failed: $run_out"
shim_path=$(realpath -m "$(head -1 <<<"$run_out")")
expect_eq "$shim_path" "$libdir/libmmstats_preload.so" \
    "mmstat-run preloads the shim next to itself"
"$pfx/bin/mmstat-run" -o "$WORK/summary" -- true ||
    fail "mmstat-run -- true exited $?"
expect_match "$(cat "$WORK/summary")" 'calls' "mmstat-run -- true prints a summary"

# An external program, built twice.
mkdir -p "$WORK/ext"
cp "$(dirname "$0")/ext/hits.c" "$WORK/ext/hits.c"
cat >"$WORK/ext/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(ext C)
find_package(mmstats 0 REQUIRED)
add_executable(hits_shared hits.c)
target_link_libraries(hits_shared PRIVATE mmstats::mmstats)
add_executable(hits_static hits.c)
target_link_libraries(hits_static PRIVATE mmstats::mmstats_static)
EOF
# check_hits PROGRAM WHAT: it runs, and mmstat-read reads its counter.
check_hits() {
    local path
    if ! path=$("$@"); then
        fail "$WHAT: exited $?"
        return
    fi
    expect_match "$("$pfx/bin/mmstat-read" "$path")" '^ *ext\.hits +42 hits' "$WHAT: counter read back"
}

pc=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs mmstats) ||
    fail "pkg-config mmstats failed"
expect_match "$pc" "-I$pfx/[^ ]*include" "pkg-config: include dir in the moved prefix"
expect_match "$pc" "-L$pfx/[^ ]*lib" "pkg-config: lib dir in the moved prefix"
# shellcheck disable=SC2086 # pkg-config's output is a list of words
if cc -o "$WORK/ext/hits_pc" "$WORK/ext/hits.c" $pc 2>"$WORK/cc.log"; then
    WHAT="pkg-config build" check_hits env LD_LIBRARY_PATH="$libdir" "$WORK/ext/hits_pc"
else
    fail "pkg-config build: $(cat "$WORK/cc.log")"
fi

if cmake -S "$WORK/ext" -B "$WORK/ext/build" -DCMAKE_PREFIX_PATH="$pfx" \
    >"$WORK/cmake.log" 2>&1 &&
    cmake --build "$WORK/ext/build" >>"$WORK/cmake.log" 2>&1; then
    WHAT="find_package build, shared" check_hits "$WORK/ext/build/hits_shared"
    WHAT="find_package build, static" check_hits "$WORK/ext/build/hits_static"
    dir=$(sed -n 's/^mmstats_DIR:PATH=//p' "$WORK/ext/build/CMakeCache.txt")
    expect_match "$dir" "^$pfx/" "find_package found the moved prefix"
else
    fail "find_package build:"
    sed 's/^/    /' "$WORK/cmake.log" >&2
fi
finish
