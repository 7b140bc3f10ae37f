#!/usr/bin/env bash
# A production-like Trillian on MariaDB, on this machine, for glassbox.
#
#   scripts/trillian-mariadb.sh start [STATE_DIR]   # MariaDB database, log server, log signer, one tree
#   scripts/trillian-mariadb.sh stop  [STATE_DIR]
#   scripts/trillian-mariadb.sh ensure-mariadb     # only make sure MariaDB runs
#   scripts/trillian-mariadb.sh check-version      # tools/go.mod pins go.mod's Trillian
#   scripts/trillian-mariadb.sh start-server|start-signer [STATE_DIR]
#                                 # (re)start one Trillian process after a fault
#   scripts/trillian-mariadb.sh create-tree [STATE_DIR]   # one more tree; prints its id
#
# start prints (and writes to STATE_DIR/env) TRILLIAN_ADDR and TREE_ID; run
#   glassbox serve --trillian "$TRILLIAN_ADDR" --tree-id "$TREE_ID"
# Trillian's binaries and MySQL schema come from the tools/ module (its tool
# directives), which must pin the same Trillian version as the main go.mod, so
# the stack matches the code that talks to it; start refuses a mismatch. The
# servers' dependencies (MySQL, etcd, cloud storage drivers) stay out of the
# service's own module graph that way.
# With TRILLIAN_TLS=1 the log server and signer serve gRPC (and their
# metrics endpoints) over TLS with certificates made by this script in
# STATE_DIR/tls: a CA, a server certificate for 127.0.0.1 and localhost, and
# a client certificate for mutual TLS. start then also prints
# TRILLIAN_TLS_CA, TRILLIAN_TLS_CERT and TRILLIAN_TLS_KEY for
#   glassbox serve --trillian-tls-ca "$TRILLIAN_TLS_CA" \
#     --trillian-tls-cert "$TRILLIAN_TLS_CERT" --trillian-tls-key "$TRILLIAN_TLS_KEY"
# Trillian v1.8.0's servers cannot require client certificates (they load
# only a certificate and key); the client certificate is for a front that
# does, such as the one the production test puts before the log server.
# Environment: TRILLIAN_DB (database name, default glassbox_trillian),
# TRILLIAN_RPC_PORT (default 8090), TRILLIAN_HTTP_PORT (8091),
# TRILLIAN_SIGNER_HTTP_PORT (8092), MYSQL_HOST (127.0.0.1), MYSQL_PORT (3306),
# TRILLIAN_MYSQL_MAX_CONNS (64), TRILLIAN_SIGNER_MYSQL_MAX_CONNS (16).
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
# Trillian's MySQL pools are unbounded by default: under load the log server
# opens a connection per concurrent call, and past MariaDB's max_connections
# (151 by default) calls fail with "Error 1040: Too many connections" (seen
# in scripts/bench-production.sh at 256 concurrent requests). Bounded, the
# excess waits in the pool instead.
server_conns=${TRILLIAN_MYSQL_MAX_CONNS:-64}
signer_conns=${TRILLIAN_SIGNER_MYSQL_MAX_CONNS:-16}

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
tls_dir="$state/tls"

# make_certs creates the test PKI once per state directory: throwaway keys
# for a test or a benchmark, never for a deployment.
make_certs() {
	[ -f "$tls_dir/client.key" ] && return
	if ! command -v openssl >/dev/null 2>&1; then
		log "installing openssl from Debian packages"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq openssl >/dev/null
	fi
	mkdir -p "$tls_dir"
	log "making test certificates in $tls_dir"
	(
		cd "$tls_dir"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
			-subj "/CN=glassbox test CA" -keyout ca.key -out ca.pem 2>/dev/null
		for who in server client; do
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-subj "/CN=trillian $who" -keyout "$who.key" -out "$who.csr" 2>/dev/null
		done
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		for who in server client; do
			openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 \
				-extfile "$who.ext" -out "$who.pem" 2>/dev/null
		done
		rm -f ./*.csr ./*.ext ca.srl
		chmod 600 ./*.key
	)
}

# tls_server_flags are Trillian's server flags for TLS, if asked for.
tls_server_flags() {
	[ "${TRILLIAN_TLS:-0}" = 1 ] || return 0
	echo "--tls_cert_file=$tls_dir/server.pem --tls_key_file=$tls_dir/server.key"
}

# tls_client_flags are the flags of Trillian's own clients (createtree).
tls_client_flags() {
	[ "${TRILLIAN_TLS:-0}" = 1 ] || return 0
	echo "--tls_cert_file=$tls_dir/ca.pem"
}

tls_env() {
	[ "${TRILLIAN_TLS:-0}" = 1 ] || return 0
	printf 'TRILLIAN_TLS_CA=%s\nTRILLIAN_TLS_CERT=%s\nTRILLIAN_TLS_KEY=%s\n' \
		"$tls_dir/ca.pem" "$tls_dir/client.pem" "$tls_dir/client.key"
}

start_server() {
	# shellcheck disable=SC2046 # the flags are words
	"$state/bin/trillian_log_server" --storage_system=mysql --mysql_uri="$uri" $(tls_server_flags) \
		--mysql_max_conns="$server_conns" \
		--rpc_endpoint="127.0.0.1:$rpc_port" --http_endpoint="127.0.0.1:$http_port" \
		>>"$state/server.log" 2>&1 &
	echo $! >"$state/server.pid"
	wait_port "$rpc_port"
}

start_signer() {
	# shellcheck disable=SC2046
	"$state/bin/trillian_log_signer" --storage_system=mysql --mysql_uri="$uri" --force_master $(tls_server_flags) \
		--mysql_max_conns="$signer_conns" \
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
	if [ "${TRILLIAN_TLS:-0}" = 1 ]; then make_certs; fi
	start_server
	start_signer
	# shellcheck disable=SC2046
	tree=$("$state/bin/createtree" --admin_server="127.0.0.1:$rpc_port" $(tls_client_flags) --display_name=glassbox 2>>"$state/createtree.log")
	cat >"$state/env" <<ENV
TRILLIAN_ADDR=127.0.0.1:$rpc_port
TREE_ID=$tree
TRILLIAN_MYSQL_URI='$uri'
TRILLIAN_STATE=$state
$(tls_env)
ENV
	cat "$state/env"
}

# create_tree makes one more tree on the running log server and prints its
# id, e.g. for a raw QueueLeaf benchmark that must not write into the tree
# glassbox uses.
create_tree() {
	# shellcheck disable=SC2046
	"$state/bin/createtree" --admin_server="127.0.0.1:$rpc_port" $(tls_client_flags) --display_name=glassbox-bench 2>>"$state/createtree.log"
}

case "$cmd" in
start) start ;;
create-tree) create_tree ;;
ensure-mariadb) ensure_mariadb ;;
check-version) check_trillian_version ;;
start-server) start_server ;;
start-signer) start_signer ;;
stop) stop ;;
*)
	echo "usage: $0 start|stop|ensure-mariadb|check-version|start-server|start-signer|create-tree [STATE_DIR]" >&2
	exit 2
	;;
esac
