#!/usr/bin/env bash
# The production path benchmark, in one run: Trillian's log server and
# signer on MariaDB (scripts/trillian-mariadb.sh), then
#   1. raw Trillian: `glassbox loadtest --trillian-only`, QueueLeaf of
#      600-byte leaves at concurrency 64, closed loop, on a tree of its own;
#   2. glassbox: two replicas on that Trillian, closed loop at
#      concurrency 64 over both, with the round trips and MariaDB
#      transactions per decision counted from Trillian's and MariaDB's own
#      counters;
#   3. glassbox open loop at a steady half of the raw rate, for p99.
# It prints one JSON line per measurement and a summary with the ratios the
# targets are stated in (closed loop ≥ 90% of raw, p99 ≤ 100 ms at 50%).
#
#   scripts/bench-production.sh [STATE_DIR]
#
# Environment: DURATION (default 20s per measurement), WARMUP (5s),
# CONCURRENCY (64), OPEN_CONCURRENCY (256), TRILLIAN_TLS (1: TLS between
# glassbox and Trillian, as in production; 0: plaintext on loopback),
# KEEP_DB (1: keep the Trillian database afterwards), and
# trillian-mariadb.sh's own (TRILLIAN_DB, ports). Run it on a quiet
# machine: every figure is a ratio of two rates measured seconds apart.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=${1:-${TMPDIR:-/tmp}/glassbox-bench}
duration=${DURATION:-20s}
warmup=${WARMUP:-5s}
conc=${CONCURRENCY:-64}
open_conc=${OPEN_CONCURRENCY:-256}
export TRILLIAN_TLS=${TRILLIAN_TLS:-1}
export TRILLIAN_DB=${TRILLIAN_DB:-glassbox_bench}
http_port=${TRILLIAN_HTTP_PORT:-8091}
mysql_host=${MYSQL_HOST:-127.0.0.1}
mysql_port=${MYSQL_PORT:-3306}
ports=(18481 18482)
lender=bench-lender-0123456789abcdef0123
admin=bench-admin-0123456789abcdef01234
export GLASSBOX_API_KEYS="lender/bench:$lender,admin:$admin"

log() { echo "bench: $*" >&2; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$repo/scripts/trillian-mariadb.sh" stop "$state/trillian" || true
	if [ "${KEEP_DB:-0}" != 1 ]; then
		mysql -h "$mysql_host" -P "$mysql_port" -uroot -e "DROP DATABASE IF EXISTS \`$TRILLIAN_DB\`" || true
	fi
}
trap cleanup EXIT

mkdir -p "$state"
gb="$state/glassbox"
log "building glassbox"
(cd "$repo" && go build -o "$gb" ./cmd/glassbox)

"$repo/scripts/trillian-mariadb.sh" start "$state/trillian" >"$state/trillian.env"
# shellcheck disable=SC1091
. "$state/trillian.env"
tls_flags=()
curl_tls=(--silent --show-error)
scheme=http
if [ "$TRILLIAN_TLS" = 1 ]; then
	tls_flags=(--trillian-tls-ca "$TRILLIAN_TLS_CA" --trillian-tls-cert "$TRILLIAN_TLS_CERT" --trillian-tls-key "$TRILLIAN_TLS_KEY")
	curl_tls+=(--cacert "$TRILLIAN_TLS_CA")
	scheme=https
fi

# trillian_rpcs prints "method count" for every RPC the log server has
# answered (its own rpc_requests counter).
trillian_rpcs() {
	curl "${curl_tls[@]}" "$scheme://127.0.0.1:$http_port/metrics" |
		awk '/^log_rpc_requests\{/ { match($0, /method="[^"]*"/); m = substr($0, RSTART + 8, RLENGTH - 9); sub(/.*\//, "", m); print m, $NF }'
}

# mariadb_status prints the server-wide counters that count transactions,
# statements, log writes and fsyncs. Server-wide: on a MariaDB shared with
# other work they count that work too.
mariadb_status() {
	mysql -h "$mysql_host" -P "$mysql_port" -uroot -N -e \
		"SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_commit','Handler_commit','Com_select','Com_insert','Com_update','Com_delete','Innodb_data_fsyncs','Innodb_log_writes','Questions')"
}

# cpu_seconds prints "process cpu-seconds" (user + system) for the
# processes on the production path: CPU time is what the parts compete for
# on a small machine, and less disturbed by other load than wall time.
cpu_seconds() {
	local tck name pid
	tck=$(getconf CLK_TCK)
	for name in server signer; do
		echo "trillian_$name $(cpu_of "$(cat "$state/trillian/$name.pid")" "$tck")"
	done
	pid=$(pidof mariadbd mysqld 2>/dev/null | cut -d' ' -f1 || true)
	if [ -n "$pid" ]; then echo "mariadbd $(cpu_of "$pid" "$tck")"; fi
	local i=0
	for pid in "${pids[@]}"; do
		echo "glassbox_replica_$i $(cpu_of "$pid" "$tck")"
		i=$((i + 1))
	done
}

cpu_of() {
	# Fields 14 and 15 of /proc/PID/stat, counted after the command name,
	# which is in parentheses and may hold spaces.
	sed 's/.*) //' "/proc/$1/stat" | awk -v t="$2" '{ printf "%.2f", ($12 + $13) / t }'
}

decisions() {
	local total=0 n
	for p in "${ports[@]}"; do
		n=$(curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$p/metrics" |
			awk '/^glassbox_decisions_total\{/ { s += $NF } END { printf "%d", s }')
		total=$((total + n))
	done
	echo "$total"
}

# per_decision prints the difference of two "name count" snapshots divided
# by the number of decisions made between them.
per_decision() {
	awk -v n="$3" 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) printf "  %-28s %12.2f  %10.4f per decision\n", $1, d, d / n }' "$1" "$2"
}

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

log "1/3 raw Trillian QueueLeaf, concurrency $conc"
raw_tree=$("$repo/scripts/trillian-mariadb.sh" create-tree "$state/trillian")
trillian_rpcs >"$state/raw-rpcs.before"
mariadb_status >"$state/raw-db.before"
cpu_seconds >"$state/raw-cpu.before"
raw=$("$gb" loadtest --trillian-only --trillian "$TRILLIAN_ADDR" --tree-id "$raw_tree" "${tls_flags[@]}" \
	--concurrency "$conc" --warmup "$warmup" --duration "$duration")
trillian_rpcs >"$state/raw-rpcs.after"
mariadb_status >"$state/raw-db.after"
cpu_seconds >"$state/raw-cpu.after"
echo "$raw"
raw_rate=$(echo "$raw" | field per_second)
raw_leaves=$(awk '$1 == "QueueLeaf" { a = $2 } END { print a }' "$state/raw-rpcs.after")
raw_leaves=$((raw_leaves - $(awk '$1 == "QueueLeaf" { a = $2 } END { print a + 0 }' "$state/raw-rpcs.before")))

log "starting two glassbox replicas"
start_replica() {
	"$gb" serve --addr "127.0.0.1:$2" --data-dir "$1" --rate-limit 0 \
		--trillian "$TRILLIAN_ADDR" --tree-id "$TREE_ID" "${tls_flags[@]}" >"$1.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 240); do
		curl -sf "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && return
		sleep 0.25
	done
	log "replica on port $2 did not become ready"; cat "$1.log" >&2; exit 1
}
rm -rf "$state/a" "$state/b"
start_replica "$state/a" "${ports[0]}"
# Replicas of one deployment share the checkpoint key and token key.
mkdir -p "$state/b/ledger"
cp "$state/a/applicant-token.key" "$state/b/"
cp "$state/a/ledger/checkpoint.key" "$state/b/ledger/"
start_replica "$state/b" "${ports[1]}"
servers="http://127.0.0.1:${ports[0]},http://127.0.0.1:${ports[1]}"

log "2/3 glassbox closed loop, two replicas, concurrency $conc"
trillian_rpcs >"$state/rpcs.before"
mariadb_status >"$state/db.before"
cpu_seconds >"$state/cpu.before"
d0=$(decisions)
closed=$("$gb" loadtest --server "$servers" --api-key "$lender" --concurrency "$conc" --warmup "$warmup" --duration "$duration")
d1=$(decisions)
trillian_rpcs >"$state/rpcs.after"
mariadb_status >"$state/db.after"
cpu_seconds >"$state/cpu.after"
echo "$closed"
closed_rate=$(echo "$closed" | field per_second)
made=$((d1 - d0))

half=$(awk -v r="$raw_rate" 'BEGIN { printf "%.0f", r / 2 }')
log "3/3 glassbox open loop at $half/s (half the raw rate)"
open=$("$gb" loadtest --server "$servers" --api-key "$lender" --rate "$half" --concurrency "$open_conc" --warmup "$warmup" --duration "$duration")
echo "$open"

{
	echo
	echo "raw Trillian QueueLeaf:        $raw_rate/s (p99 $(echo "$raw" | field p99_ms) ms)"
	echo "glassbox closed loop (2 reps): $closed_rate/s = $(awk -v a="$closed_rate" -v b="$raw_rate" 'BEGIN { printf "%.1f", 100 * a / b }')% of raw (target ≥ 90%)"
	echo "glassbox at $half/s open loop:  p50 $(echo "$open" | field p50_ms) ms, p99 $(echo "$open" | field p99_ms) ms (target ≤ 100 ms)"
	echo
	echo "during the raw run, $raw_leaves QueueLeaf calls (warm-up included), per leaf:"
	echo "Trillian log server RPCs"
	per_decision "$state/raw-rpcs.before" "$state/raw-rpcs.after" "$raw_leaves" | sed 's/per decision/per leaf/'
	echo "MariaDB, server-wide"
	per_decision "$state/raw-db.before" "$state/raw-db.after" "$raw_leaves" | sed 's/per decision/per leaf/'
	echo "CPU seconds"
	per_decision "$state/raw-cpu.before" "$state/raw-cpu.after" "$raw_leaves" | sed 's/per decision/per leaf/'
	echo
	echo "during the closed loop, $made decisions (warm-up included):"
	echo "Trillian log server RPCs"
	per_decision "$state/rpcs.before" "$state/rpcs.after" "$made"
	echo "MariaDB, server-wide"
	per_decision "$state/db.before" "$state/db.after" "$made"
	echo "CPU seconds"
	per_decision "$state/cpu.before" "$state/cpu.after" "$made"
} | tee "$state/summary.txt"
