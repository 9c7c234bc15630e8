# Shared by the bench scripts: source it, don't run it.

# install_packages PKG...: installs Debian packages when run as root, else
# says which are missing and fails.
install_packages() {
	[ $# -gt 0 ] || return 0
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		echo "$(basename "$0"): please install: $*" >&2
		return 1
	fi
	echo "installing $*" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
