# The example programs run, and mmstat-read, a separate process, reads
# back exactly what they wrote.
. "$(dirname "$0")/lib.sh"
R=$READ

out=$("$B/examples/basic" 1 2)
pid=$(sed -n 's/^pid \([0-9]*\) .*/\1/p' <<<"$out")
dump=$("$R" "$pid")
expect_match "$dump" "^basic pid $pid .* finished" "basic: header line"
expect_match "$dump" 'app\.threads +2 threads' "basic: static value"
expect_match "$dump" 'app\.version +"1\.0"' "basic: static string"
expect_match "$dump" 'app\.phase +"done"' "basic: string"
expect_match "$dump" 'app\.in_flight +0 ' "basic: gauge back to 0"
req=$(awk '$1 == "app.requests" {print $2}' <<<"$dump")
bytes=$(awk '$1 == "app.bytes" {print $2}' <<<"$dump")
checks=$((checks + 1))
# Thread 0 adds 100 and thread 1 adds 101 per request: bytes is between
# 100 and 101 times the requests.
if [ -z "$req" ] || [ "$req" -le 0 ] || [ "$bytes" -lt $((req * 100)) ] ||
    [ "$bytes" -gt $((req * 101)) ]; then
    fail "basic: requests=$req bytes=$bytes inconsistent"
fi

out=$("$B/examples/timers" 1)
pid=$(sed -n 's/^pid \([0-9]*\) .*/\1/p' <<<"$out")
dump=$("$R" "$pid")
n=$(awk '$1 == "req.count" {print $2}' <<<"$dump")
expect_match "$dump" "req\.latency +$n samples +mean" "timers: one latency per request"
expect_match "$dump" "req\.size +$n samples" "timers: one size per request"
expect_match "$dump" 'pool +idle=[0-9]+ busy=[0-9]+ utilisation=' "timers: struct"
expect_match "$dump" 'req\.size_avg100 .* mean of last 100' "timers: moving average"
expect_match "$dump" 'rate/s 1s:' "timers: window rates"

out=$("$B/examples/model")
path=${out#writing }
expect_match "$path" "/model-http_stats-[0-9]+\.mmstats$" "model: file named after the model"
dump=$("$R" "$path")
expect_match "$dump" 'requests +1000 requests' "model: counter"
expect_match "$dump" 'errors +10 requests' "model: second counter"
expect_match "$dump" 'last_path +"/index\.html"' "model: string"
expect_match "$dump" 'latency +1000 samples' "model: timer"
finish
