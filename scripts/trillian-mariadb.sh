#!/usr/bin/env bash
# A production-like Trillian on MariaDB, on this machine, for glassbox.
#
#   scripts/trillian-mariadb.sh start [STATE_DIR]   # MariaDB database, log server, log signer, one tree
#   scripts/trillian-mariadb.sh stop  [STATE_DIR]
#   scripts/trillian-mariadb.sh ensure-mariadb     # only make sure MariaDB runs
#   scripts/trillian-mariadb.sh check-version      # tools/go.mod pins go.mod's Trillian
#   scripts/trillian-mariadb.sh start-server|start-signer [STATE_DIR]
#                                 # (re)start one Trillian process after a fault
#
# start prints (and writes to STATE_DIR/env) TRILLIAN_ADDR and TREE_ID; run
#   glassbox serve --trillian "$TRILLIAN_ADDR" --tree-id "$TREE_ID"
# Trillian's binaries and MySQL schema come from the tools/ module (its tool
# directives), which must pin the same Trillian version as the main go.mod, so
# the stack matches the code that talks to it; start refuses a mismatch. The
# servers' dependencies (MySQL, etcd, cloud storage drivers) stay out of the
# service's own module graph that way.
# Environment: TRILLIAN_DB (database name, default glassbox_trillian),
# TRILLIAN_RPC_PORT (default 8090), TRILLIAN_HTTP_PORT (8091),
# TRILLIAN_SIGNER_HTTP_PORT (8092), MYSQL_HOST (127.0.0.1), MYSQL_PORT (3306).
set -euo pipefail

cmd=${1:-start}
state=${2:-${TMPDIR:-/tmp}/glassbox-trillian}
repo=$(cd "$(dirname "$0")/.." && pwd)
db=${TRILLIAN_DB:-glassbox_trillian}
rpc_port=${TRILLIAN_RPC_PORT:-8090}
http_port=${TRILLIAN_HTTP_PORT:-8091}
signer_port=${TRILLIAN_SIGNER_HTTP_PORT:-8092}
mysql_host=${MYSQL_HOST:-127.0.0.1}
mysql_port=${MYSQL_PORT:-3306}

log() { echo "trillian-mariadb: $*" >&2; }

ensure_mariadb() {
	if mysqladmin -h "$mysql_host" -P "$mysql_port" -uroot ping >/dev/null 2>&1; then
		return
	fi
	if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
		log "installing mariadb-server from Debian packages"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq mariadb-server mariadb-client >/dev/null
	fi
	log "starting MariaDB"
	mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
	for _ in $(seq 60); do
		mysqladmin -h "$mysql_host" -P "$mysql_port" -uroot ping >/dev/null 2>&1 && return
		sleep 0.5
	done
	log "MariaDB did not come up"
	exit 1
}

wait_port() {
	for _ in $(seq 120); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
		sleep 0.25
	done
	log "nothing listens on port $1"
	exit 1
}

stop() {
	for p in signer server; do
		if [ -f "$state/$p.pid" ]; then
			kill "$(cat "$state/$p.pid")" 2>/dev/null || true
			rm -f "$state/$p.pid"
		fi
	done
}

# trillian_version DIR prints the Trillian version the module in DIR selects.
trillian_version() {
	(cd "$1" && go list -m -f '{{.Version}}' github.com/google/trillian)
}

# check_trillian_version fails unless tools/go.mod builds the Trillian servers
# at the version the service's own go.mod links against.
check_trillian_version() {
	local main tools
	main=$(trillian_version "$repo")
	tools=$(trillian_version "$repo/tools")
	if [ "$main" != "$tools" ]; then
		log "go.mod selects Trillian $main but tools/go.mod builds $tools; pin the same version in both"
		exit 1
	fi
}

uri="root@tcp($mysql_host:$mysql_port)/$db"

start_server() {
	"$state/bin/trillian_log_server" --storage_system=mysql --mysql_uri="$uri" \
		--rpc_endpoint="127.0.0.1:$rpc_port" --http_endpoint="127.0.0.1:$http_port" \
		>>"$state/server.log" 2>&1 &
	echo $! >"$state/server.pid"
	wait_port "$rpc_port"
}

start_signer() {
	"$state/bin/trillian_log_signer" --storage_system=mysql --mysql_uri="$uri" --force_master \
		--sequencer_interval=50ms --batch_size=1000 --num_sequencers=2 \
		--rpc_endpoint="127.0.0.1:0" --http_endpoint="127.0.0.1:$signer_port" \
		>>"$state/signer.log" 2>&1 &
	echo $! >"$state/signer.pid"
}

start() {
	mkdir -p "$state/bin"
	ensure_mariadb
	check_trillian_version
	cd "$repo/tools"
	log "building Trillian $(trillian_version "$repo/tools") from tools/go.mod"
	go build -o "$state/bin/" github.com/google/trillian/cmd/trillian_log_server \
		github.com/google/trillian/cmd/trillian_log_signer github.com/google/trillian/cmd/createtree
	schema="$(go list -m -f '{{.Dir}}' github.com/google/trillian)/storage/mysql/schema/storage.sql"
	cd "$repo"
	log "creating database $db with Trillian's schema"
	mysql -h "$mysql_host" -P "$mysql_port" -uroot -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\`;"
	mysql -h "$mysql_host" -P "$mysql_port" -uroot "$db" <"$schema"
	stop
	start_server
	start_signer
	tree=$("$state/bin/createtree" --admin_server="127.0.0.1:$rpc_port" --display_name=glassbox 2>>"$state/createtree.log")
	cat >"$state/env" <<ENV
TRILLIAN_ADDR=127.0.0.1:$rpc_port
TREE_ID=$tree
TRILLIAN_MYSQL_URI='$uri'
TRILLIAN_STATE=$state
ENV
	cat "$state/env"
}

case "$cmd" in
start) start ;;
ensure-mariadb) ensure_mariadb ;;
check-version) check_trillian_version ;;
start-server) start_server ;;
start-signer) start_signer ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop|ensure-mariadb|check-version|start-server|start-signer [STATE_DIR]" >&2
	exit 2
	;;
esac
