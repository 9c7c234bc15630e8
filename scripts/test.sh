#!/usr/bin/env bash
# The project's test command: installs what the tests need (on Debian, as
# root), then vets, runs every test against real etcd, NATS and Docker, and
# gives each fuzz target a short run on top of its committed corpus.
#
#   scripts/test.sh            everything
#   FUZZTIME=30s scripts/test.sh   longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
# CJK text watermarks need a CJK font (images tests).
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_pkgs+=(fonts-wqy-microhei)
command -v iptables >/dev/null || need_pkgs+=(iptables)
# The builder's build_script test needs a static shell for a base image.
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test.sh: installing ${need_pkgs[*]}"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
	else
		echo "test.sh: missing ${need_pkgs[*]}; some tests will skip" >&2
	fi
fi

if [ ! -d ../shared/testdata/images ]; then
	echo "test.sh: ../shared/testdata/images not found: clone the project with shared/ beside it" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test"
# Packages run one at a time: the machine has two cores and several
# packages start etcd, NATS or containers.
go test -p 1 -count=1 -timeout 20m ./...

echo "== fuzz (${FUZZTIME:=10s} each)"
# Every fuzz target in the tree, found from the source.
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | cut -d' ' -f2); do
		echo "-- $pkg $target"
		# A real failure always writes its input under testdata/fuzz; Go's
		# fuzzer can also stop with "context deadline exceeded" when
		# -fuzztime ends while it minimizes a new input, which is no finding:
		# that case is retried once.
		for try in 1 2; do
			if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/ufop-fuzz.log 2>&1; then
				break
			fi
			if grep -q "Failing input written" /tmp/ufop-fuzz.log || [ "$try" = 2 ]; then
				cat /tmp/ufop-fuzz.log
				exit 1
			fi
			echo "   (stopped without a finding: $(grep -m1 -o 'context deadline exceeded' /tmp/ufop-fuzz.log || echo 'no reason given'); again)"
		done
	done
done
echo "== all tests passed"
