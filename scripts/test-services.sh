#!/usr/bin/env bash
# test-services.sh: make sure the services keyward's tests talk to are running, and say where.
#
#   eval "$(scripts/test-services.sh)"      # what `make test` does
#
# PostgreSQL: the server of $KEYWARD_TEST_POSTGRES_URL when it answers; else the one on
# 127.0.0.1:5432 when user postgres gets in without a password (trust); else a throwaway cluster
# of our own (initdb + pg_ctl, trust auth, loopback only, fsync off) on a free port, kept under
# $KEYWARD_TEST_SERVICES_DIR (default /tmp/keyward-test-services) and reused by later runs.
# Debian's postgresql package is installed with apt-get when initdb is missing (as root).
#
# Redis, likewise: $KEYWARD_TEST_REDIS_URL, else 127.0.0.1:6379, else `redis-server --save ''`
# on a free port, installing Debian's redis-server package when missing.
#
# KEYWARD_TEST_SERVICES_OWN=1 skips the servers on the standard ports and always uses (or
# starts) the throwaway ones.
#
# It prints `export` lines for KEYWARD_TEST_POSTGRES_URL and KEYWARD_TEST_REDIS_URL on stdout
# (progress goes to stderr) and writes the same lines to scripts/.test-services.env (or
# $KEYWARD_TEST_SERVICES_ENV). Running it again when everything answers takes a fraction of a
# second and changes nothing. `scripts/test-services.sh stop` stops what it started.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state="${KEYWARD_TEST_SERVICES_DIR:-${TMPDIR:-/tmp}/keyward-test-services}"
envfile="${KEYWARD_TEST_SERVICES_ENV:-$here/.test-services.env}"
own="${KEYWARD_TEST_SERVICES_OWN:-}"

log() { echo "test-services: $*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=as-root.sh
. "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

apt_updated=
# apt_install installs Debian packages non-interactively, refreshing the package lists first
# when they are missing, and once more when the install fails.
apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "apt-get is not here: install $* by hand"
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "$apt_updated" ] && ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
		log "apt-get update"
		as_root apt-get update -qq >&2 || die "apt-get update failed (are we root?); install $* by hand"
		apt_updated=1
	fi
	log "apt-get install $*"
	if ! as_root apt-get install -y -qq --no-install-recommends "$@" >&2; then
		[ -z "$apt_updated" ] || die "apt-get install $* failed"
		as_root apt-get update -qq >&2 || die "apt-get update failed; install $* by hand"
		apt_updated=1
		as_root apt-get install -y -qq --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
	fi
}

# port_open tells whether something listens on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a loopback port nothing listens on, from $1 upwards.
free_port() {
	local p=$1
	while port_open "$p"; do p=$((p + 1)); done
	echo "$p"
}

# ---------------------------------------------------------------- PostgreSQL

pg_bindir() {
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return
	fi
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# pg_answers tells whether $1 lets us in and run a query, within a few seconds.
pg_answers() {
	local url=$1
	if command -v psql >/dev/null 2>&1; then
		PGCONNECT_TIMEOUT=3 psql "$url" -XAtqc 'SELECT 1' >/dev/null 2>&1
	else
		local bin
		bin=$(pg_bindir) || return 1
		PGCONNECT_TIMEOUT=3 "$bin/psql" "$url" -XAtqc 'SELECT 1' >/dev/null 2>&1
	fi
}

postgres_url() {
	local url
	if [ -n "${KEYWARD_TEST_POSTGRES_URL:-}" ] && pg_answers "$KEYWARD_TEST_POSTGRES_URL"; then
		echo "$KEYWARD_TEST_POSTGRES_URL"
		return
	fi
	url="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if [ -z "$own" ] && command -v psql >/dev/null 2>&1 && port_open 5432 && pg_answers "$url"; then
		echo "$url"
		return
	fi
	# A cluster an earlier run started.
	if [ -f "$state/pg.port" ]; then
		url="postgres://postgres@127.0.0.1:$(cat "$state/pg.port")/postgres?sslmode=disable"
		if pg_answers "$url"; then
			echo "$url"
			return
		fi
	fi
	start_postgres
}

start_postgres() {
	local bin user port data
	bin=$(pg_bindir) || true
	if [ -z "$bin" ]; then
		apt_install postgresql postgresql-client >/dev/null
		bin=$(pg_bindir) || die "initdb not found after installing postgresql"
		# The package may have started its own cluster on 5432; its TCP logins want a password,
		# so ours is still needed.
	fi
	data="$state/pg"
	mkdir -p "$state"
	# initdb and postgres refuse to run as root: run them as the postgres user (or nobody).
	user=$(id -un)
	if [ "$(id -u)" = 0 ]; then
		if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
	fi
	run_as() {
		if [ "$user" = "$(id -un)" ]; then "$@"; else runuser -u "$user" -- "$@"; fi
	}
	if [ -f "$data/postmaster.pid" ]; then
		run_as "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
	fi
	rm -rf "$data"
	mkdir -p "$data"
	chmod 700 "$data"
	[ "$user" = "$(id -un)" ] || chown "$user" "$state" "$data"
	port=$(free_port 55432)
	log "starting a throwaway PostgreSQL ($bin) on 127.0.0.1:$port, data in $data"
	run_as "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --no-sync >"$state/initdb.log" 2>&1 ||
		die "initdb failed: $(tail -n 5 "$state/initdb.log")"
	run_as "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start \
		-o "-p $port -c listen_addresses=127.0.0.1 -k $data -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null ||
		die "pg_ctl start failed: $(tail -n 5 "$data/server.log" 2>/dev/null)"
	echo "$port" >"$state/pg.port"
	echo "$bin" >"$state/pg.bin"
	echo "$user" >"$state/pg.user"
	local url="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	pg_answers "$url" || die "the throwaway PostgreSQL does not answer at $url"
	echo "$url"
}

# ---------------------------------------------------------------- Redis

# redis_answers tells whether a Redis on 127.0.0.1:$1 answers PING.
redis_answers() {
	local port=$1 line=
	port_open "$port" || return 1
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf 'PING\r\n' >&3
	IFS= read -r -t 2 line <&3 || true
	exec 3<&- 3>&-
	[[ "$line" == "+PONG"* ]]
}

# redis_port prints the port of a redis:// URL on 127.0.0.1 or localhost, or fails.
redis_port() {
	local rest=${1#redis://}
	rest=${rest#*@}
	rest=${rest%%/*}
	case "$rest" in
	127.0.0.1:* | localhost:*) echo "${rest#*:}" ;;
	127.0.0.1 | localhost) echo 6379 ;;
	*) return 1 ;;
	esac
}

redis_url() {
	local port
	if [ -n "${KEYWARD_TEST_REDIS_URL:-}" ]; then
		if port=$(redis_port "$KEYWARD_TEST_REDIS_URL") && redis_answers "$port"; then
			echo "$KEYWARD_TEST_REDIS_URL"
			return
		elif ! redis_port "$KEYWARD_TEST_REDIS_URL" >/dev/null; then
			echo "$KEYWARD_TEST_REDIS_URL" # a remote Redis: trust the caller
			return
		fi
	fi
	if [ -z "$own" ] && redis_answers 6379; then
		echo "redis://127.0.0.1:6379/0"
		return
	fi
	if [ -f "$state/redis.port" ] && redis_answers "$(cat "$state/redis.port")"; then
		echo "redis://127.0.0.1:$(cat "$state/redis.port")/0"
		return
	fi
	if ! command -v redis-server >/dev/null 2>&1; then
		apt_install redis-server >/dev/null
		command -v redis-server >/dev/null 2>&1 || die "redis-server not found after installing it"
		# The package may have started the system Redis on 6379.
		if [ -z "$own" ] && redis_answers 6379; then
			echo "redis://127.0.0.1:6379/0"
			return
		fi
	fi
	mkdir -p "$state"
	port=$(free_port 56379)
	log "starting a throwaway Redis on 127.0.0.1:$port"
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--dir "$state" --pidfile "$state/redis.pid" --logfile "$state/redis.log" >/dev/null ||
		die "redis-server failed to start: $(tail -n 5 "$state/redis.log" 2>/dev/null)"
	for _ in $(seq 50); do
		redis_answers "$port" && break
		sleep 0.1
	done
	redis_answers "$port" || die "the throwaway Redis does not answer on port $port"
	echo "$port" >"$state/redis.port"
	echo "redis://127.0.0.1:$port/0"
}

# ---------------------------------------------------------------- stop

stop() {
	if [ -f "$state/pg.port" ] && [ -f "$state/pg.bin" ]; then
		local user
		user=$(cat "$state/pg.user" 2>/dev/null || id -un)
		log "stopping the throwaway PostgreSQL"
		if [ "$user" = "$(id -un)" ]; then
			"$(cat "$state/pg.bin")/pg_ctl" -D "$state/pg" -m fast stop >/dev/null 2>&1 || true
		else
			runuser -u "$user" -- "$(cat "$state/pg.bin")/pg_ctl" -D "$state/pg" -m fast stop >/dev/null 2>&1 || true
		fi
		rm -f "$state/pg.port"
	fi
	if [ -f "$state/redis.pid" ]; then
		log "stopping the throwaway Redis"
		kill "$(cat "$state/redis.pid")" 2>/dev/null || true
		rm -f "$state/redis.pid" "$state/redis.port"
	fi
}

case "${1:-}" in
stop)
	stop
	exit 0
	;;
"") ;;
*) die "usage: $0 [stop]" ;;
esac

pg=$(postgres_url)
redis=$(redis_url)
out="export KEYWARD_TEST_POSTGRES_URL='$pg'
export KEYWARD_TEST_REDIS_URL='$redis'"
printf '%s\n' "$out" >"$envfile" 2>/dev/null || log "could not write $envfile"
printf '%s\n' "$out"
# Never show a password in the log.
log "PostgreSQL $(printf '%s' "$pg" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:xxxxx@#; s#password=[^& ]*#password=xxxxx#'), Redis $(printf '%s' "$redis" | sed -E 's#://[^@/]*@#://xxxxx@#')"
