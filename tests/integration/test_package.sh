# The Debian package: scripts/package builds it and lintian finds no
# error; dpkg -i installs it into the real system; then mmstat-run -- true,
# man -w, a pkg-config build and a find_package build work with nothing
# but system paths, the systemd units verify, the user-tmpfiles.d entry
# makes the stats directories, bash-completion finds the completion; dpkg --purge
# removes it and leaves none of its files. The Python package imports
# and writes a file mmstat-read reads.
#
# It changes the system, so it runs only where that is wanted: as root
# with CI=true (CI's throwaway machine) or MMSTATS_TEST_SYSTEM_INSTALL=1;
# otherwise it exits 77 (skipped). It never touches an mmstats package it
# did not install, nor overwrites files already there. In a sanitizer
# build it is skipped too: the package has its own build tree
# (build/package), and the release build runs it.
. "$(dirname "$0")/lib.sh"
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

skip_sanitized "the release build tests the package"
if [ "${CI:-}" != true ] && [ "${MMSTATS_TEST_SYSTEM_INSTALL:-}" != 1 ]; then
    echo "SKIP: installs into the system: runs with CI=true or MMSTATS_TEST_SYSTEM_INSTALL=1"
    exit 77
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: dpkg -i needs root"
    exit 77
fi
MARK=/var/tmp/mmstats-test-package.installed
status=$(dpkg-query -W -f='${Status}' mmstats 2>/dev/null || true)
if [ -n "$status" ] && [ "$status" != "unknown ok not-installed" ] &&
    [ "$status" != "deinstall ok config-files" ]; then
    if [ -e "$MARK" ]; then
        echo "purging the mmstats package a killed run of this test left"
        dpkg --purge mmstats >/dev/null
    else
        echo "SKIP: an mmstats package is installed here ($status); not touching it"
        exit 77
    fi
fi

start=$(date +%s)
# At the lowest priority: ctest runs other tests beside this one, and a
# whole build must not starve them.
if ! nice -n 19 "$SRC/scripts/package" --out "$WORK/deb" >"$WORK/package.log" 2>&1; then
    echo "FAIL: scripts/package:" >&2
    tail -40 "$WORK/package.log" >&2
    exit 1
fi
built=$(date +%s)
deb=$(tail -1 "$WORK/package.log")
expect_match "$deb" "^$WORK/deb/mmstats_[0-9.]+(-[0-9]+)?_[a-z0-9]+\.deb$" "scripts/package prints the .deb"
# lintian ran (scripts/package fails on an error): nothing but I: and O:
# lines, and N: explanations, between its header and the path.
tags=$(sed -n '/^==> lintian/,$p' "$WORK/package.log" | grep -E '^[EWIOXPN]: ' || true)
expect_match "$(sed -n '/^==> lintian/p' "$WORK/package.log")" lintian "lintian ran"
checks=$((checks + 1))
if grep -qE '^[EW]: ' <<<"$tags"; then
    fail "lintian errors or warnings not overridden:"
    grep -E '^[EW]: ' <<<"$tags" | sed 's/^/    /' >&2
fi

# Its files: none may exist yet (dpkg would overwrite files of a manual
# install, and purge would then remove them).
# One path a line, relative to / ("usr/bin/mmstat-read").
dpkg-deb -c "$deb" | awk '{print substr($6, 3)}' | sed 's:/$::' | grep -v '^$' >"$WORK/files"
while read -r f; do
    if [ ! -d "/$f" ] && { [ -e "/$f" ] || [ -L "/$f" ]; }; then
        echo "SKIP: /$f exists already (a manual install?); not overwriting it"
        exit 77
    fi
done <"$WORK/files"

# Install; remove again whatever happens.
touch "$MARK"
cleanup() {
    if dpkg-query -W -f='${Status}' mmstats 2>/dev/null | grep -q installed; then
        dpkg --purge mmstats >/dev/null 2>&1 || true
    fi
    rm -f "$MARK"
    rm -rf "$WORK"
}
trap cleanup EXIT
if ! dpkg -i "$deb" >"$WORK/dpkg.log" 2>&1; then
    fail "dpkg -i: $(cat "$WORK/dpkg.log")"
    finish
    exit 1
fi
expect_eq "$(dpkg-query -W -f='${Status}' mmstats)" "install ok installed" "dpkg -i"
version=$(dpkg-query -W -f='${Version}' mmstats)
unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH MMSTATS_PRELOAD
export PATH=/usr/bin:/bin:/usr/sbin:/sbin

for t in mmstat-read mmstat-run mmstat-clean mmstat-exporter; do
    expect_eq "$(/usr/bin/$t --version 2>&1)" "$t ${version%%-*}" "$t --version is the package's"
done
expect_match "$(ldconfig -p)" "libmmstats\.so\.0 .*=> (/usr)?/lib/" "ldconfig knows libmmstats"

# mmstat-run with the packaged shim.
out=$(/usr/bin/mmstat-run -o "$WORK/summary" -- sh -c 'printf "%s\n" "$LD_PRELOAD"') ||
    fail "mmstat-run -- sh exited $?"
expect_match "$(realpath -m "$out")" "^/usr/lib/[^ ]*libmmstats_preload\.so$" \
    "mmstat-run preloads the packaged shim"
/usr/bin/mmstat-run -o "$WORK/summary" -- true || fail "mmstat-run -- true exited $?"
expect_match "$(cat "$WORK/summary")" 'calls' "mmstat-run -- true: summary"

# Man pages through man's own search path.
expect_eq "$(man -w mmstat-read)" /usr/share/man/man1/mmstat-read.1.gz "man -w mmstat-read"
expect_eq "$(man -w 7 mmstats)" /usr/share/man/man7/mmstats.7.gz "man -w 7 mmstats"
expect_eq "$(man -w 3 mmstats)" /usr/share/man/man3/mmstats.3.gz "man -w 3 mmstats"

# External programs, with system paths only.
mkdir -p "$WORK/ext"
cp "$(dirname "$0")/ext/hits.c" "$WORK/ext/hits.c"
cat >"$WORK/ext/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(ext C)
find_package(mmstats 0 REQUIRED)
add_executable(hits_cmake hits.c)
target_link_libraries(hits_cmake PRIVATE mmstats::mmstats)
EOF
# check_hits PROGRAM WHAT: it runs, and mmstat-read reads its counter.
check_hits() {
    local path
    if ! path=$("$1"); then
        fail "$2: exited $?"
        return
    fi
    expect_match "$(/usr/bin/mmstat-read "$path")" '^ *ext\.hits +42 hits' "$2: counter read back"
}
# shellcheck disable=SC2046 # pkg-config's output is a list of words
if cc -o "$WORK/ext/hits_pc" "$WORK/ext/hits.c" $(pkg-config --cflags --libs mmstats) \
    2>"$WORK/cc.log"; then
    check_hits "$WORK/ext/hits_pc" "pkg-config build"
else
    fail "pkg-config build: $(cat "$WORK/cc.log")"
fi
if cmake -S "$WORK/ext" -B "$WORK/ext/build" >"$WORK/cmake.log" 2>&1 &&
    cmake --build "$WORK/ext/build" >>"$WORK/cmake.log" 2>&1; then
    check_hits "$WORK/ext/build/hits_cmake" "find_package build"
else
    fail "find_package build: $(cat "$WORK/cmake.log")"
fi

# The Python package, for the system's python3: its writer finds the
# packaged library, mmstat-read reads what it wrote, its reader reads it
# back. (Run as root, python3 writes bytecode beside it: the prerm
# removes it, checked by the purge below.)
if command -v python3 >/dev/null; then
    py=$(cd "$WORK" && /usr/bin/python3 -c '
import mmstats3
w = mmstats3.Writer()
w.counter("py.hits", units="hits").add(42)
print(w.path)
w.close()
print(mmstats3.values(w.path)["py.hits"], mmstats3.__file__)' 2>&1) ||
        fail "python3 -c 'import mmstats3...': $py"
    expect_match "$(/usr/bin/mmstat-read "$(head -1 <<<"$py")")" '^ *py\.hits +42 hits' \
        "python: its writer's counter read by mmstat-read"
    expect_match "$(tail -1 <<<"$py")" '^42 /usr/lib/python3/dist-packages/mmstats3/__init__\.py$' \
        "python: the packaged mmstats3 reads it back"
fi

# The systemd user units parse and run the packaged programs.
unit=/usr/lib/systemd/user/mmstat-exporter.service
expect_match "$(grep '^ExecStart=' "$unit")" "^ExecStart=/usr/bin/mmstat-exporter " "unit runs the packaged exporter"
clean_unit=/usr/lib/systemd/user/mmstat-clean.service
expect_match "$(grep -c '^ExecStart=/usr/bin/mmstat-clean ' "$clean_unit")" "^4$" \
    "mmstat-clean.service cleans both directories"
expect_match "$(grep -c '^ExecStart=/usr/bin/mmstat-clean .*--fold --older-than 10d$' "$clean_unit")" "^2$" \
    "mmstat-clean.service folds kept files after 10 days (counters never go backwards)"
if command -v systemd-analyze >/dev/null; then
    for u in "$unit" "$clean_unit" /usr/lib/systemd/user/mmstat-clean.timer; do
        v=$(systemd-analyze verify "$u" 2>&1) || fail "systemd-analyze verify $u: $v"
        checks=$((checks + 1))
    done
fi

# The user-tmpfiles.d entry makes a user's two stats directories, mode
# 0700, as that user (here nobody, with a scratch XDG_RUNTIME_DIR); and
# the package no longer ages files out (no system tmpfiles.d entry).
expect_eq "$(ls /usr/lib/tmpfiles.d/mmstats.conf 2>/dev/null)" "" "no system tmpfiles.d ageing rule"
if command -v systemd-tmpfiles >/dev/null && command -v runuser >/dev/null; then
    nuid=$(id -u nobody)
    if [ -e "/tmp/mmstats-$nuid" ]; then
        fail "/tmp/mmstats-$nuid exists already: the tmpfiles entry was not checked"
    else
        # Not under $WORK: nobody must be able to reach it.
        rt=$(mktemp -d /tmp/mmstats-test-runtime.XXXXXX)
        chmod 777 "$rt"
        runuser -u nobody -- env XDG_RUNTIME_DIR="$rt" systemd-tmpfiles --user --create \
            /usr/share/user-tmpfiles.d/mmstats.conf || fail "systemd-tmpfiles --user --create exited $?"
        expect_eq "$(stat -c '%a %U' "$rt/mmstats" "/tmp/mmstats-$nuid" 2>&1 | tr '\n' ' ')" \
            "700 nobody 700 nobody " "user-tmpfiles.d: both stats directories, 0700, the user's"
        rmdir "/tmp/mmstats-$nuid" "$rt/mmstats" 2>/dev/null || true
        rmdir "$rt" 2>/dev/null || true
    fi
else
    fail "systemd-tmpfiles or runuser missing: the tmpfiles entry was not checked"
fi

# bash-completion finds the completion in the system directory.
if [ -f /usr/share/bash-completion/bash_completion ]; then
    c=$(bash -c '. /usr/share/bash-completion/bash_completion &&
        __load_completion mmstat-run && complete -p mmstat-run' 2>&1)
    expect_match "$c" "complete -F _mmstat .*mmstat-run" "bash-completion loads ours"
fi

# zsh finds its completion on the default fpath (vendor-completions).
if command -v zsh >/dev/null; then
    z=$(zsh -f -c 'autoload -U compinit; compinit -u -D; print -r -- $_comps[mmstat-read]' 2>&1)
    expect_eq "$z" "_mmstat_tools" "zsh: compinit knows mmstat-read"
fi

# Purge: nothing of it is left.
dpkg --purge mmstats >"$WORK/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$WORK/dpkg.log")"
left=$(dpkg-query -W -f='${Status}' mmstats 2>/dev/null || true)
checks=$((checks + 1))
case "$left" in
"" | "unknown ok not-installed") ;;
*) fail "dpkg --purge: the package is still there: $left" ;;
esac
while read -r f; do
    case "$f" in
    # Shared directories that other packages own too.
    usr | usr/bin | usr/include | usr/lib | usr/lib/systemd | usr/lib/systemd/user | \
        usr/share/user-tmpfiles.d | usr/lib/*-linux-gnu | usr/lib/*-linux-gnu/cmake | \
        usr/lib/*-linux-gnu/pkgconfig | usr/share | usr/share/bash-completion | \
        usr/share/bash-completion/completions | usr/share/doc | usr/share/lintian | \
        usr/share/zsh | usr/share/zsh/vendor-completions | \
        usr/share/lintian/overrides | usr/share/man | usr/share/man/man[0-9] | \
        usr/lib/python3 | usr/lib/python3/dist-packages) continue ;;
    esac
    checks=$((checks + 1))
    if [ -e "/$f" ] || [ -L "/$f" ]; then
        fail "left after purge: /$f"
    fi
done <"$WORK/files"
checks=$((checks + 1))
if ldconfig -p | grep -q libmmstats; then
    fail "ldconfig still lists libmmstats"
fi
done_at=$(date +%s)
echo "package build + lintian: $((built - start)) s; install, checks, purge: $((done_at - built)) s"
finish
