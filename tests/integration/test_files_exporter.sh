# mmstat-exporter and the shim's per-file records (issue 15): the
# dashboard's top-files panel reads /api/v1/processes/PID/files, which is
# mmstat-read --files --json of that process (?top, ?sort; 404 and 400 as
# the other endpoints); /metrics has per-file metrics only with
# --file-metrics N, N files per process and (other), accepted by
# promtool.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
. "$(dirname "$0")/exporter_lib.sh"
skip_sanitized "the shim cannot be preloaded into plain programs"
PRELOAD=${MMS_PRELOAD:-$B/preload/libmmstats_preload.so}

FIN=$WORK/fin
mkdir -m 700 "$FIN" "$WORK/data"
MMSTATS_DIR=$FIN LD_PRELOAD=$PRELOAD "$PROGS/files_pattern" "$WORK/data" \
    >/dev/null || fail "files_pattern under the shim: status $?"
F=$(ls "$FIN"/files_pattern-*.mmstats 2>/dev/null | head -1 || true)
pid=$(sed -n 's/.*-\([0-9]*\)\.mmstats$/\1/p' <<<"$F")
"$READ" --files --json "${F:-none}" >"$WORK/read.json" ||
    fail "mmstat-read --files --json: status $?"

start_exporter fin --dir "$FIN" --per-process --include-finished \
    --file-metrics 1 || {
    finish
    exit 1
}

# The endpoint: what mmstat-read --files --json says of the process.
expect_code "/api/v1/processes/$pid/files?top=0" 200 "files"
checks=$((checks + 1))
python3 - "$WORK/body" "$WORK/read.json" "$pid" <<'EOF' >"$WORK/cmp.out" 2>&1 ||
import json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
assert a["pid"] == int(sys.argv[3]), a["pid"]
assert a["files"] == b["files"], "differ"
EOF
    fail "the endpoint differs from mmstat-read --files --json: $(cat "$WORK/cmp.out")"
expect_code "/api/v1/processes/$pid/files" 200 "files, default top"
expect_eq "$(jpy "$WORK/body" "[r['key'] for r in d['files']['records']][0]")" \
    "$WORK/data/pattern.dat" "files: most bytes first"
expect_code "/api/v1/processes/$pid/files?top=1&sort=name" 200 "files, top 1"
expect_eq "$(jpy "$WORK/body" "len([r for r in d['files']['records'] if not r['other']])")" \
    1 "files?top=1: one file"
expect_code "/api/v1/processes/$pid/files?sort=size" 400 "files, bad sort"
expect_code "/api/v1/processes/$pid/files?top=x" 400 "files, bad top"
expect_code "/api/v1/processes/999999999/files" 404 "files, no such process"
expect_code "/api/v1/processes/$pid/filesx" 404 "files, bad path"

# /metrics: one file per process (and its (other)), with the process's
# labels.
expect_code /metrics 200 "metrics"
cp "$WORK/body" "$WORK/m.prom"
expect_match "$(cat "$WORK/m.prom")" \
    "^mmstats_file_written_bytes_total\{pid=\"$pid\",exe=\"files_pattern\",file=\"$WORK/data/pattern.dat\"\} 10551808$" \
    "metrics: bytes written to the file"
expect_match "$(cat "$WORK/m.prom")" \
    "^mmstats_file_reads_total\{pid=\"$pid\",exe=\"files_pattern\",file=\"$WORK/data/pattern.dat\"\} 1641$" \
    "metrics: reads of the file"
expect_eq "$(grep -c '^mmstats_file_opens_total{' "$WORK/m.prom")" 2 \
    "metrics: --file-metrics 1 gives one file and (other)"
if command -v promtool >/dev/null; then
    expect_promtool_ok "$WORK/m.prom" "/metrics --file-metrics 1"
fi
stop_pid "$exp_pid"

# Without the option: no per-file metrics at all.
start_exporter plain --dir "$FIN" --per-process --include-finished || {
    finish
    exit 1
}
expect_code /metrics 200 "metrics without --file-metrics"
expect_eq "$(grep -c '^mmstats_file_' "$WORK/body" || true)" 0 \
    "no per-file metrics without --file-metrics"
expect_code "/api/v1/processes/$pid/files" 200 "files without --file-metrics"
stop_pid "$exp_pid"
checks=$((checks + 1))
"$B/tools/mmstat-exporter" --file-metrics -1 >/dev/null 2>&1 &&
    fail "--file-metrics -1 accepted"
finish
