# The bash completion, as installed: bash-completion finds it for every
# tool, and _mmstat completes each tool's options (all those of its
# --help), the PIDs that have stats files, the field names of a PID for
# --filter, option values (--dir, --sort, --by, --hooks) and mmstat-run's
# command. Run in a non-interactive bash with COMP_WORDS/COMP_CWORD set,
# as bash sets them.
. "$(dirname "$0")/lib.sh"

# The shim of a sanitizer build cannot be preloaded into /bin/true.
skip_sanitized "the release build tests the completion"
BC=/usr/share/bash-completion/bash_completion
[ -f "$BC" ] || { echo "FAIL: $BC missing (Debian package bash-completion)" >&2; exit 1; }
pfx=$WORK/pfx
cmake --install "$B" --prefix "$pfx" >"$WORK/install.log"
comp_dir=$pfx/share/bash-completion/completions

# Two processes with stats files in the private directory.
mkdir -p "$MMSTATS_DIR"
# (The shim makes a call's fields on its first use: dd's file has io.*,
# fs.* and mem.* fields; true's only the shim's own.)
LD_PRELOAD=$PRELOAD dd if=/dev/zero of=/dev/null count=1 status=none
MMSTATS_EAGER=1 LD_PRELOAD=$PRELOAD /bin/true
pids=$(cd "$MMSTATS_DIR" && ls | sed -n 's/.*-\([0-9]*\)\.mmstats$/\1/p' | sort -n)
expect_eq "$(wc -w <<<"$pids")" 2 "two stats files to complete"
pid=$(cd "$MMSTATS_DIR" && ls dd-*.mmstats | sed -n 's/^dd-\([0-9]*\)\.mmstats$/\1/p')

# complete WORD...: COMPREPLY for the command line WORD... (the last word
# is the one being completed), one per line, sorted, in a fresh bash
# that loaded bash-completion and found ours through XDG_DATA_DIRS, as
# an interactive shell does.
complete_line() {
    XDG_DATA_DIRS=$pfx/share PATH=$pfx/bin:$PATH bash -c '
        . "$0" || exit 1
        __load_completion "$1" || { echo "no completion for $1"; exit 1; }
        COMP_WORDS=("$@")
        COMP_CWORD=$(($# - 1))
        COMP_LINE="$*"
        COMP_POINT=${#COMP_LINE}
        COMPREPLY=()
        _mmstat
        printf "%s\n" "${COMPREPLY[@]}"' "$BC" "$@" | sort
}
# has LIST WORD...: each WORD is a line of LIST.
has() {
    local list=$1 what=$2 w
    shift 2
    for w in "$@"; do
        checks=$((checks + 1))
        grep -qxF -- "$w" <<<"$list" || fail "$what: no '$w' in: $(echo $list)"
    done
}

tools=$(cd "$pfx/bin" && ls mmstat-*)
for t in $tools; do
    checks=$((checks + 1))
    [ -e "$comp_dir/$t" ] || fail "$t: no $comp_dir/$t"
    # Every option word of --help is offered after "-".
    opts=$("$pfx/bin/$t" --help | grep -E '^ +-' |
        grep -oE '(^|[ ,])--?[A-Za-z0-9][A-Za-z0-9.-]*' | tr -d ' ,' | sort -u)
    got=$(complete_line "$t" -)
    # shellcheck disable=SC2086 # one word per option
    has "$got" "$t -<TAB>" $opts
done

expect_eq "$(complete_line mmstat-read --filt)" "--filter" "mmstat-read --filt<TAB>"
# shellcheck disable=SC2086
has "$(complete_line mmstat-read "")" "mmstat-read <TAB>: PIDs" $pids
expect_eq "$(complete_line mmstat-read -d "$MMSTATS_DIR" "$pid")" "$pid" \
    "mmstat-read -d DIR $pid<TAB>"
# Stats files by path once a path is begun.
expect_match "$(complete_line mmstat-read "$MMSTATS_DIR/d")" \
    "^$MMSTATS_DIR/dd-$pid\.mmstats$" "mmstat-read DIR/d<TAB>: a file"

# Field names of the PID for --filter, in every spelling.
fields=$("$pfx/bin/mmstat-read" "$pid" | awk '$1 ~ /^io\.write\./ {print $1}')
expect_match "$fields" '^io\.write\.calls$' "fields of $pid read"
# shellcheck disable=SC2086
has "$(complete_line mmstat-read "$pid" --filter io.wr)" "--filter io.wr<TAB>" \
    $fields io.write.*
# shellcheck disable=SC2086
has "$(complete_line mmstat-read -f io.wr "$pid")" "-f: PID after it" "$pid"
# shellcheck disable=SC2086
has "$(complete_line mmstat-read "$pid" -f io.wr)" "-f io.wr<TAB>" $fields
# shellcheck disable=SC2086
has "$(complete_line mmstat-read "$pid" --filter = io.wr)" "--filter=io.wr<TAB>" $fields
has "$(complete_line mmstat-read "$pid" --filter "")" "--filter <TAB>: prefixes" \
    "io.*" "fs.*" "mem.*"
got=$(complete_line mmstat-read -d "$MMSTATS_DIR" "$pid" -f mem.li)
expect_eq "$got" "mem.live_bytes" "-d DIR PID -f mem.li<TAB>"

# Option values.
has "$(complete_line mmstat-read -d "$WORK/st")" "-d <dir>" "$MMSTATS_DIR"
has "$(complete_line mmstat-clean --dir = "$WORK/st")" "--dir=<dir>" "$MMSTATS_DIR"
has "$(complete_line mmstat-run --sort "")" "mmstat-run --sort" time calls errors name
expect_eq "$(complete_line mmstat-read --by "")" "$(printf 'exe\nlabel\nprogram')" "mmstat-read --by"
has "$(complete_line mmstat-run --hooks io,f)" "--hooks io,f<TAB>" io,fs
has "$(complete_line mmstat-run --hooks all,-m)" "--hooks all,-m<TAB>" all,-mem

# mmstat-run: the command, then the command's own completion.
has "$(complete_line mmstat-run --json -s calls ta)" "mmstat-run ... ta<TAB>" tar tail
has "$(complete_line mmstat-run -- ech)" "mmstat-run -- ech<TAB>" echo
expect_eq "$(complete_line mmstat-run -o "$WORK/su")" "" "mmstat-run -o FILE: no file yet"
touch "$WORK/summary.txt"
expect_eq "$(complete_line mmstat-run -o "$WORK/su")" "$WORK/summary.txt" \
    "mmstat-run -o <file>"
has "$(complete_line mmstat-run -- tar --crea)" "mmstat-run -- tar --crea<TAB>" --create

# zsh: an interactive zsh in a pseudo-terminal finds _mmstat_tools on
# its fpath; for each case, type it, TAB, then print the line as
# completed. Each step waits for a marker the shell prints (no sleeps).
if ! command -v zsh >/dev/null; then
    fail "zsh missing (Debian package zsh): the zsh completion was not tested"
    finish
    exit 1
fi
checks=$((checks + 1))
[ -f "$pfx/share/zsh/site-functions/_mmstat_tools" ] || fail "no zsh completion installed"
cat >"$WORK/drive.zsh" <<'EOF'
pfx=$1; shift
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "unset zle_bracketed_paste; PS1='%% '; fpath=($pfx/share/zsh/site-functions \$fpath); autoload -U compinit; compinit -u -D; PATH=$pfx/bin:\$PATH; print SYNC\$((40+2))"
zpty -r z out '*SYNC42*' || exit 1
n=0
for c in "$@"; do
    n=$((n + 1))
    zpty -w -n z "$c"$'\t\C-aprint -r -- RESULT: \n'
    zpty -w z "print SYNC\$((1000+$n))"
    zpty -r z out "*SYNC$((1000 + n))*" || exit 1
    print -r -- "$out"
done
zpty -w z exit
zpty -d z
EOF
zout=$(cd "$WORK" && timeout 120 zsh -f "$WORK/drive.zsh" "$pfx" \
    'mmstat-read --filt' 'mmstat-run --sort ti' "mmstat-read $pid -f mem.li" \
    "mmstat-clean --dir $WORK/st" 2>&1 | tr -d '\r' |
    sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | grep -a '^RESULT: ' || true)
has "$zout" "zsh" "RESULT: mmstat-read --filter" "RESULT: mmstat-run --sort time" \
    "RESULT: mmstat-read $pid -f mem.live_bytes" "RESULT: mmstat-clean --dir $MMSTATS_DIR"
finish
