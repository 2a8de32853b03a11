# as-root.sh: sourced by the scripts that install or start what tests and benchmarks need.
# as_root runs its arguments as root: directly when root, else through sudo -n; it fails when
# neither is possible, for the caller to say what to install.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo -n "$@"
	else
		return 1
	fi
}
