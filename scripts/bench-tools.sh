#!/usr/bin/env bash
# bench-tools.sh: install the load generator `make bench` drives, when missing: wrk (Debian's
# package; closed-loop saturation runs), as root (directly or through sudo -n). The constant-rate
# runs need no tool: keyward-bench generates that load itself (cmd/keyward-bench/rate.go). Quiet
# when wrk is there; when it cannot be installed it fails saying what to install, since the
# benchmark cannot run without it.
set -euo pipefail

log() { echo "bench-tools: $*" >&2; }

# shellcheck source=as-root.sh
. "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

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

exit $failed
