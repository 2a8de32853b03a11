#!/usr/bin/env bash
# vendor-assets.sh: re-fetch the console's third-party files (console/static/vendor/manifest.json)
# from the npm registry with `npm pack`, check each tarball against the manifest's integrity, and
# compare (default) or copy (--write, after changing a version there) each listed file. --write
# also records the new sha256s and integrity in the manifest. Needs npm and jq. What the server
# serves is the committed copy: nothing here runs at build time.
set -euo pipefail

mode=check
case "${1:-}" in
--write) mode=write ;;
"") ;;
*) echo "usage: $0 [--write]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor="$root/console/static/vendor"
manifest="$vendor/manifest.json"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fail=0
n=$(jq '.packages | length' "$manifest")
for ((i = 0; i < n; i++)); do
	name=$(jq -r ".packages[$i].name" "$manifest")
	version=$(jq -r ".packages[$i].version" "$manifest")
	want=$(jq -r ".packages[$i].integrity" "$manifest")
	dir="$tmp/$name"
	mkdir -p "$dir"
	(cd "$dir" && npm pack --silent "$name@$version" >/dev/null)
	tgz=$(ls "$dir"/*.tgz)
	got="sha512-$(sha512sum "$tgz" | cut -d' ' -f1 | xxd -r -p | base64 -w0)"
	registry=$(npm view "$name@$version" dist.integrity)
	if [ "$got" != "$registry" ]; then
		echo "$name@$version: the tarball's digest $got is not the registry's $registry" >&2
		exit 1
	fi
	if [ "$got" != "$want" ]; then
		if [ "$mode" = write ]; then
			jq --arg i "$i" --arg v "$got" '.packages[($i|tonumber)].integrity = $v' "$manifest" >"$tmp/m" && mv "$tmp/m" "$manifest"
		else
			echo "$name@$version: integrity $got, manifest says $want" >&2
			fail=1
		fi
	fi
	tar -xzf "$tgz" -C "$dir"
	m=$(jq ".packages[$i].files | length" "$manifest")
	for ((j = 0; j < m; j++)); do
		from=$(jq -r ".packages[$i].files[$j].from" "$manifest")
		to=$(jq -r ".packages[$i].files[$j].to" "$manifest")
		src="$dir/package/$from"
		sum=$(sha256sum "$src" | cut -d' ' -f1)
		if [ "$mode" = write ]; then
			mkdir -p "$(dirname "$vendor/$to")"
			cp "$src" "$vendor/$to"
			jq --arg i "$i" --arg j "$j" --arg s "$sum" '.packages[($i|tonumber)].files[($j|tonumber)].sha256 = $s' "$manifest" >"$tmp/m" && mv "$tmp/m" "$manifest"
			echo "copied $name@$version $from -> $to"
		elif ! cmp -s "$src" "$vendor/$to"; then
			echo "$to differs from $name@$version's $from" >&2
			fail=1
		fi
	done
done
[ "$fail" = 0 ] && echo "vendored assets match their npm packages"
exit "$fail"
