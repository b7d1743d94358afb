# The man pages, as installed: one per tool (every bin/mmstat-*), with
# every option its --help lists; mmstats(7) with every variable of the
# shim's own option table; mmstats(3) with every MMS_API function; each
# found by man -w, with a NAME line that whatis can parse, rendered by
# man without a warning.
. "$(dirname "$0")/lib.sh"
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

if ! grep -q '^MMS_BUILD_MAN:BOOL=ON' "$B/CMakeCache.txt"; then
    # Sanitizer builds make none (packaging/CMakeLists.txt); a release
    # build without help2man or lowdown makes none either: that fails.
    skip_sanitized "no man pages there"
    echo "FAIL: MMS_BUILD_MAN is off in $B" >&2
    exit 1
fi
pfx=$WORK/pfx
cmake --install "$B" --prefix "$pfx" >"$WORK/install.log"
man_dir=$pfx/share/man
export MANPATH=$man_dir

# render PAGE: the page as plain ASCII text on very long lines (no
# hyphenation at line ends), for grepping.
render() { LC_ALL=C MANWIDTH=1000 man -l "$1" 2>/dev/null | col -b; }
# check_page PAGE: found by man -w, NAME parseable, no warnings.
check_page() {
    local page=$1 name section found warn
    name=$(basename "$page" | sed 's/\.[0-9]\.gz$//')
    section=$(basename "$page" | sed 's/.*\.\([0-9]\)\.gz$/\1/')
    found=$(man -w "$section" "$name" 2>&1) || true
    expect_eq "$found" "$page" "man -w $section $name"
    expect_match "$(lexgrog "$page" 2>&1)" "^$page: \"$name - .+\"" \
        "$name($section): NAME line for whatis"
    # As lintian checks them (groff-message), and as a terminal shows
    # them (tables through tbl); "cannot adjust"/"can't break" included.
    for roffseq in "" default; do
        if [ "$roffseq" = default ]; then
            warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l \
                -Tutf8 -Z "$page" 2>&1 >/dev/null)
        else
            warn=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings \
                -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
        fi
        checks=$((checks + 1))
        [ -z "$warn" ] || fail "$name($section) renders with warnings:
$warn"
    done
}

# Tools: every installed mmstat-* program has a page with all its options.
tools=$(cd "$pfx/bin" && ls mmstat-*)
expect_match "$tools" "mmstat-read" "tools installed"
for t in $tools; do
    page=$man_dir/man1/$t.1.gz
    if [ ! -f "$page" ]; then
        fail "$t has no man page ($page)"
        continue
    fi
    check_page "$page"
    text=$(render "$page")
    # Option names: the words that start an option line of --help
    # ("  -d, --dir DIR   ...", "      --host NAME ...").
    opts=$("$pfx/bin/$t" --help | grep -E '^ +-' |
        grep -oE '(^|[ ,])--?[A-Za-z0-9][A-Za-z0-9-]*' | tr -d ' ,' | sort -u)
    n=$(wc -w <<<"$opts")
    checks=$((checks + 1))
    [ "$n" -ge 3 ] || fail "$t --help: only $n options found: $opts"
    for o in $opts; do
        checks=$((checks + 1))
        grep -qE -- "(^|[^A-Za-z0-9-])$o([^A-Za-z0-9-]|$)" <<<"$text" ||
            fail "$t(1) lacks option $o"
    done
    v=$("$pfx/bin/$t" --version | awk '{print $2}')
    expect_match "$(zcat "$page" | grep '^\.TH')" "$v" "$t(1) names version $v"
done

# mmstats(7): every variable of the shim's table, in ENVIRONMENT.
page=$man_dir/man7/mmstats.7.gz
if [ -f "$page" ]; then
    check_page "$page"
    env_section=$(render "$page" | sed -n '/^ENVIRONMENT/,/^FILES/p')
    vars=$(MMSTATS_VERBOSE=1 LD_PRELOAD="$PRELOAD" /bin/true 2>&1 |
        grep -oE '^mmstats: MMSTATS_[A-Z_]+' | cut -d' ' -f2)
    n=$(wc -w <<<"$vars")
    checks=$((checks + 1))
    [ "$n" -ge 5 ] || fail "the shim printed only $n options"
    for v in $vars; do
        expect_match "$env_section" "^ +$v\$" "mmstats(7) ENVIRONMENT lists $v"
    done
else
    fail "no mmstats(7) page"
fi

# mmstats(3): every function of the public headers.
page=$man_dir/man3/mmstats.3.gz
if [ -f "$page" ]; then
    check_page "$page"
    text=$(render "$page")
    funcs=$(sed -n 's/^MMS_API.*[ *]\(mms_[a-z0-9_]*\)(.*/\1/p' \
        "$SRC"/include/mmstats/*.h | sort -u)
    n=$(wc -w <<<"$funcs")
    checks=$((checks + 1))
    [ "$n" -ge 20 ] || fail "only $n MMS_API functions found in the headers"
    for f in $funcs; do
        expect_match "$text" "[ *]$f\(" "mmstats(3) declares $f"
    done
else
    fail "no mmstats(3) page"
fi
finish
