# mmstat-read --sum and --by exe across processes with known totals:
# three runs of the model example (1000 requests, 10 errors, 1000
# latencies each), three of tool_rate (exactly 500 ticks each) and basic
# with 1, 2 and 3 threads (a static gauge): counters summed exactly,
# histograms merged, gauges as min/avg/max/sum, strings counted; as text,
# JSON and (checked in test_tools_prom) Prometheus.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"

mpids=()
for i in 1 2 3; do
    out=$("$B/examples/model")
    p=${out##*-}
    mpids+=("${p%.mmstats}")
    "$PROGS/tool_rate" 1000 0.5 >/dev/null
done
for t in 1 2 3; do
    "$B/examples/basic" 1 "$t" >/dev/null &
    bg_pids+=($!)
done
wait

# ---- one group: everything
s=$("$READ" --sum)
expect_match "$s" '^sum of 9 processes \(pids( [0-9]+){9}\)$' "sum: header"
expect_match "$s" '^  requests +3000 requests +\[3 processes\]$' "sum: counter"
expect_match "$s" '^  errors +30 requests +\[3 processes\]$' "sum: second counter"
expect_match "$s" '^  rate\.ticks +1500 ticks +\[3 processes\]$' "sum: tool_rate counter"
expect_match "$s" '^  latency +3000 samples +mean ' "sum: merged histogram"
expect_match "$s" '^  app\.threads +min 1  avg 2  max 3  sum 6 threads +\[3 processes\]$' \
    "sum: gauge min/avg/max/sum"
expect_match "$s" '^  last_path +"/index\.html" x3 +\[3 processes\]$' "sum: strings counted"

"$READ" --sum --json >"$WORK/sum.json"
expect_json "$WORK/sum.json" "sum: json"
G='d["groups"][0]'
F="$G[\"fields\"]"
expect_eq "$(jpy "$WORK/sum.json" "d['aggregate'], len(d['groups']), $G['key'], $G['processes']")" \
    "('sum', 1, None, 9)" "sum json: one group of 9"
expect_eq "$(jpy "$WORK/sum.json" "$F['requests']['value'], $F['requests']['processes'], $F['errors']['value'], $F['rate.ticks']['value']")" \
    "(3000, 3, 30, 1500)" "sum json: exact totals"
expect_eq "$(jpy "$WORK/sum.json" "$F['latency']['value']['count'], sum(b[2] for b in $F['latency']['value']['buckets']), $F['rate.work']['value']['count'], $F['rate.work']['value']['sum']")" \
    "(3000, 3000, 150, 150000)" "sum json: histograms merged"
expect_eq "$(jpy "$WORK/sum.json" "$F['app.threads']['value']")" \
    "{'min': 1, 'max': 3, 'avg': 2, 'sum': 6}" "sum json: gauge aggregates"
expect_eq "$(jpy "$WORK/sum.json" "$F['last_path']['value']")" \
    "{'/index.html': 3}" "sum json: string values"
# The merged histogram is the merge of the three (mms_hist_merge): the
# min is the smallest min, the max the largest max.
for p in "${mpids[@]}"; do
    "$READ" --json "$p" >"$WORK/m$p.json"
done
expect_eq "$(python3 -c '
import json, sys
hs = [json.load(open(f))["processes"][0]["fields"]["latency"]["value"]
      for f in sys.argv[2:]]
s = json.load(open(sys.argv[1]))["groups"][0]["fields"]["latency"]["value"]
buckets = {}
for h in hs:
    for lo, hi, n in h["buckets"]:
        buckets[(lo, hi)] = buckets.get((lo, hi), 0) + n
print(s["min"] == min(h["min"] for h in hs),
      s["max"] == max(h["max"] for h in hs),
      s["sum"] == sum(h["sum"] for h in hs),
      {(lo, hi): n for lo, hi, n in s["buckets"]} == buckets)
' "$WORK/sum.json" "$WORK"/m*.json)" "True True True True" \
    "sum json: histogram merge is exact"

# ---- --by exe: one group per program, sorted
"$READ" --by exe --json >"$WORK/by.json"
expect_json "$WORK/by.json" "by exe: json"
expect_eq "$(jpy "$WORK/by.json" "d['aggregate'], [(g['key'], g['processes']) for g in d['groups']]")" \
    "('exe', [('basic', 3), ('model', 3), ('tool_rate', 3)])" "by exe: groups"
expect_eq "$(jpy "$WORK/by.json" "d['groups'][1]['fields']['requests']['value'], sorted(d['groups'][1]['pids']) == sorted([${mpids[*]/%/,}])")" \
    "(3000, True)" "by exe: model's totals and pids"
expect_eq "$(jpy "$WORK/by.json" "'requests' in d['groups'][0]['fields'], d['groups'][2]['fields']['rate.ticks']['value']")" \
    "(False, 1500)" "by exe: fields stay in their group"
b=$("$READ" --by exe)
expect_match "$b" '^exe model: 3 processes \(pids' "by exe: text header"
expect_match "$b" '^exe tool_rate: 3 processes' "by exe: text, third group"
# Aggregates of chosen files, filtered.
f=$("$READ" --sum -f 'req*' "${mpids[0]}" "${mpids[1]}")
expect_match "$f" '^sum of 2 processes' "sum of given pids"
expect_match "$f" '^  requests +2000 requests' "sum of given pids: total"
expect_no_match "$f" 'errors' "sum: filter"
finish
