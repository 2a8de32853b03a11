#!/usr/bin/env bash
# bench-tools.sh: install the load generators `make bench` drives, when missing: wrk (Debian's
# package; closed-loop saturation runs) and vegeta (constant-rate, open-loop runs for latency at
# a fixed offered load), the latter with `go install` into <repo>/.cache/bin. Debian packages as
# root (directly or through sudo -n). Quiet when all are there; when a tool cannot be installed
# it fails saying what to install, since the benchmark cannot run without it.
set -euo pipefail

VEGETA_VERSION=v12.13.0

log() { echo "bench-tools: $*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}

repo=$(cd "$(dirname "$0")/.." && pwd)
bin="$repo/.cache/bin"
failed=0

if ! command -v wrk >/dev/null 2>&1; then
	log "installing wrk"
	export DEBIAN_FRONTEND=noninteractive
	if as_root apt-get update -qq >/dev/null 2>&1 &&
		as_root apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 &&
		command -v wrk >/dev/null 2>&1; then
		log "installed wrk"
	else
		log "could not install wrk: run 'apt-get install wrk' as root"
		failed=1
	fi
fi

if ! command -v vegeta >/dev/null 2>&1 && [ ! -x "$bin/vegeta" ]; then
	log "installing vegeta $VEGETA_VERSION into $bin"
	mkdir -p "$bin"
	if out=$(cd "$repo" && GOBIN="$bin" go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION" 2>&1); then
		log "installed vegeta"
	else
		echo "$out" >&2
		log "could not install vegeta: run 'GOBIN=$bin go install github.com/tsenart/vegeta/v12@$VEGETA_VERSION'"
		failed=1
	fi
fi

exit $failed
