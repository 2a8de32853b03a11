#!/usr/bin/env bash
# test-tools.sh: install the real clients keyward's tests drive, when missing: openssl (PKCS#12
# bundles, CRLs), curl (mutual TLS with a PKCS#12 bundle), kubectl (Debian's kubernetes-client,
# reading issued kubeconfigs), nginx (the forward-auth example), systemd-analyze (checking the
# shipped unit), script(1) (a terminal for the password prompt test), Node.js with npm (the
# real ServiceStack client, installed from npm by its test) and Chromium (the console's browser
# tests drive it headless): Debian packages, as root (directly or through sudo -n); and
# gitleaks, built with go install. Run by `make test`; quiet and quick when all are there. A
# tool that cannot be installed is reported here, and the test that needs it fails saying so.
set -euo pipefail

log() { echo "test-tools: $*" >&2; }

# shellcheck source=as-root.sh
. "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
	missing+=(nginx-light)
fi

# gitleaks (no Debian package): built from its Go module into $(go env GOPATH)/bin, where the
# test of contrib/gitleaks/keyward.toml finds it; a few minutes once, nothing after.
gobin="$(go env GOPATH)/bin"
if ! command -v gitleaks >/dev/null 2>&1 && [ ! -x "$gobin/gitleaks" ]; then
	log "building gitleaks v8.30.1 into $gobin"
	if ! GOBIN="$gobin" go install github.com/zricethezav/gitleaks/v8@v8.30.1 >/dev/null 2>&1; then
		log "could not build gitleaks: run 'go install github.com/zricethezav/gitleaks/v8@v8.30.1'"
	fi
fi

[ ${#missing[@]} -eq 0 ] && exit 0

log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get update -qq >/dev/null 2>&1 ||
	! as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
	log "could not install ${missing[*]}: run 'apt-get install ${missing[*]}' as root"
	exit 0
fi
# Debian starts nginx on port 80 after installing it; the tests run their own.
as_root sh -c 'service nginx stop >/dev/null 2>&1 || pkill -x nginx || true'
log "installed ${missing[*]}"
