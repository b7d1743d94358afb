# docs/grafana/mmstats.json works against real data: a real Prometheus
# scrapes mmstat-exporter (the default, per program) every second while a
# workload runs under the shim, and every query of every panel of the
# dashboard (its template variables given values as Grafana would: all
# programs and families, a rate interval, a range) returns data, at least
# one finite value; so does each template variable's label_values query.
# The file is checked as a dashboard too: JSON, unique panel ids, each
# panel with a type, title, position and the Prometheus data source
# variable, each query with a refId. Needs prometheus, promtool and curl
# (fails without them); skipped (77) in sanitizer builds, where the shim,
# which makes the metrics the dashboard shows, cannot be preloaded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools_lib.sh"
skip_sanitized "the shim cannot be preloaded"
. "$(dirname "$0")/exporter_lib.sh"
need_prometheus || { finish; exit 1; }
DASH=${MMS_SOURCE_DIR:-$(dirname "$0")/../..}/docs/grafana/mmstats.json

# The dashboard's queries: "PANEL<TAB>EXPR" per line (variables as they
# are), or a failure if the file is not a sound dashboard.
rc=0
python3 - "$DASH" >"$WORK/queries.tsv" 2>"$WORK/dash.err" <<'EOF' || rc=$?
import json, sys
d = json.load(open(sys.argv[1]))
ids, out = set(), []
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
for p in panels(d["panels"]):
    for k in ("id", "type", "title", "gridPos"):
        assert k in p, "panel %r: no %s" % (p.get("title"), k)
    assert p["id"] not in ids, "panel id %d twice" % p["id"]
    ids.add(p["id"])
    if p["type"] == "row":
        continue
    assert p["datasource"]["uid"] == "${datasource}", p["title"]
    assert p["targets"], "panel %r: no query" % p["title"]
    refs = [t["refId"] for t in p["targets"]]
    assert len(set(refs)) == len(refs), "panel %r: refIds twice" % p["title"]
    for t in p["targets"]:
        out.append("%s/%s\t%s" % (p["title"], t["refId"], t["expr"]))
names = [v["name"] for v in d["templating"]["list"]]
assert names[0] == "datasource", names
for v in d["templating"]["list"][1:]:
    q = v["query"]["query"]
    assert q.startswith("label_values(") and q.endswith(")"), q
    out.append("variable %s\t%s" % (v["name"], q))
print("\n".join(out))
EOF
expect_eq "$rc" 0 "docs/grafana/mmstats.json is a sound dashboard: $(cat "$WORK/dash.err")"
nq=$(wc -l <"$WORK/queries.tsv")
checks=$((checks + 1))
[ "$nq" -ge 10 ] || fail "only $nq queries in the dashboard"

# A workload under the shim (writes, reads, allocations: every family the
# dashboard shows), running for the whole test.
LD_PRELOAD=$PRELOAD "$PROGS/exp_work" -x -r 200 -t 0 &
bg_pids+=("$!")
start_exporter grafana || { finish; exit 1; }
start_prometheus 1s || { finish; exit 1; }

# Until Prometheus holds 15 s of samples (bounded against a hang): a rate
# over 10 s then has points in its window.
for ((i = 0; i < 3000; i++)); do
    n=$(query 'count_over_time(mmstats_exporter_scrapes_total[1m])')
    [ "${n:-0}" -ge 15 ] && break
    sleep 0.1
done
checks=$((checks + 1))
[ "${n:-0}" -ge 15 ] || fail "Prometheus has ${n:-0} scrapes, not 15"

# Each query as Grafana would send it: all programs and families, a rate
# interval of 10 s (scrapes every 1 s), a range of 1 minute.
while IFS=$'\t' read -r what expr; do
    q=${expr//'$job'/mmstats}
    q=${q//'$exe'/.*}
    q=${q//'$family'/.*}
    q=${q//'$__rate_interval'/10s}
    q=${q//'$__range'/1m}
    if [[ $q == label_values\(* ]]; then
        # label_values(SELECTOR, LABEL): the series API, as Grafana does.
        sel=${q#label_values(}
        sel=${sel%, *}
        label=${q##*, }
        label=${label%)}
        curl -s --max-time 60 -G --data-urlencode "match[]=$sel" \
            "$PROM/api/v1/series" >"$WORK/query.json" || true
        got=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(len({s[sys.argv[2]] for s in d["data"] if sys.argv[2] in s}))' \
            "$WORK/query.json" "$label" 2>/dev/null || echo 0)
        checks=$((checks + 1))
        [ "${got:-0}" -ge 1 ] || fail "$what: no values ($q)"
        continue
    fi
    query "$q" >/dev/null
    got=$(python3 -c 'import json, math, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
print(sum(1 for s in r if math.isfinite(float(s["value"][1]))))' \
        "$WORK/query.json" 2>/dev/null || echo 0)
    checks=$((checks + 1))
    if [ "${got:-0}" -lt 1 ]; then
        fail "$what: no data: $q: $(head -c 300 "$WORK/query.json")"
    else
        echo "ok: $what: $got series"
    fi
done <"$WORK/queries.tsv"

stop_pid "$prom_pid"
stop_pid "$exp_pid"
finish
