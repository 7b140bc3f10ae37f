#!/usr/bin/env bash
# Alternated A/B closed-loop runs of two glassbox builds with wrk
# (docs/benchmarks.md, "API"). Each run starts the server on an empty
# data directory, warms up for 3 s, then measures for 15 s.
#
#   bash scripts/bench-ab.sh OLD_BINARY NEW_BINARY [PAIRS] [CONNECTIONS]
#
# Prints one line a run: build, decisions/s, p50, p99, non-2xx answers,
# server CPU per decision (from /proc/PID/stat over the measured run).
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1 b=$2 pairs=${3:-3} conns=${4:-256}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$b" loadtest --data testdata/credit_test.csv --write-bodies "$work/bodies.jsonl" >/dev/null
key=KEY0123456789abcdef
port=${PORT:-18080}
tck=$(getconf CLK_TCK)

run() {
	local name=$1 bin=$2 dir="$work/data-$RANDOM"
	GLASSBOX_API_KEYS=lender/acme:$key "$bin" serve --addr 127.0.0.1:$port --data-dir "$dir" --rate-limit 0 >"$work/serve.log" 2>&1 &
	local pid=$!
	for _ in $(seq 100); do curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1 && break; sleep 0.1; done
	GLASSBOX_BODIES=$work/bodies.jsonl GLASSBOX_API_KEY=$key \
		wrk -t1 -c"$conns" -d3s -s scripts/wrk-decisions.lua http://127.0.0.1:$port >/dev/null
	local t0; t0=$(awk '{print $14+$15}' /proc/$pid/stat)
	GLASSBOX_BODIES=$work/bodies.jsonl GLASSBOX_API_KEY=$key \
		wrk -t1 -c"$conns" -d15s --latency -s scripts/wrk-decisions.lua http://127.0.0.1:$port >"$work/wrk.out"
	local t1; t1=$(awk '{print $14+$15}' /proc/$pid/stat)
	kill "$pid"; wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
	local rps p50 p99 bad n
	rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
	p50=$(awk '$1=="50%" {print $2}' "$work/wrk.out")
	p99=$(awk '$1=="99%" {print $2}' "$work/wrk.out")
	bad=$(awk '/Non-2xx/ {print $5}' "$work/wrk.out"); bad=${bad:-0}
	n=$(awk '/requests in/ {print $1}' "$work/wrk.out")
	printf '%s\t%s/s\tp50 %s\tp99 %s\tnon-2xx %s\tCPU/decision %.3f ms\n' "$name" "$rps" "$p50" "$p99" "$bad" \
		"$(echo "($t1-$t0)/$tck*1000/$n" | bc -l)"
}

for i in $(seq "$pairs"); do
	run A "$a"
	run B "$b"
done
