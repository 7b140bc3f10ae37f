#!/usr/bin/env bash
# Does a second tree on the same Trillian and MariaDB add capacity?
# (docs/deploy.md, "Past one tree's rate".) Starts Trillian on MariaDB
# (scripts/trillian-mariadb.sh), creates two trees, and measures raw
# QueueLeaf (glassbox loadtest --trillian-only, 600-byte leaves, closed
# loop) on one tree alone, then on both trees at once, each at the same
# concurrency. Prints one JSON line per tree and run.
#
#   scripts/bench-shards.sh [STATE_DIR]
#
# Environment: DURATION (15s), CONCURRENCY (64 per tree).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
state=${1:-${TMPDIR:-/tmp}/glassbox-shards}
duration=${DURATION:-15s}
conc=${CONCURRENCY:-64}
export TRILLIAN_TLS=0 TRILLIAN_DB=${TRILLIAN_DB:-glassbox_shards}
rm -rf "$state"; mkdir -p "$state"
trap '"$repo/scripts/trillian-mariadb.sh" stop "$state/trillian" >/dev/null 2>&1 || true' EXIT
"$repo/scripts/trillian-mariadb.sh" start "$state/trillian" >"$state/env"
# shellcheck disable=SC1091
. "$state/env"
tree2=$("$repo/scripts/trillian-mariadb.sh" create-tree "$state/trillian")
gb="$state/glassbox"
(cd "$repo" && go build -o "$gb" ./cmd/glassbox)
run() { "$gb" loadtest --trillian-only --trillian "$TRILLIAN_ADDR" --tree-id "$1" --concurrency "$conc" --duration "$duration"; }
echo "# one tree alone"
run "$TREE_ID"
echo "# two trees at once"
run "$TREE_ID" >"$state/a.json" & a=$!
run "$tree2" >"$state/b.json" & b=$!
wait "$a" "$b"
cat "$state/a.json" "$state/b.json"
