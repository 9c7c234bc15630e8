#!/usr/bin/env bash
# The project's test command: installs what the tests need (on Debian, as
# root), then vets, runs every test against real etcd, NATS and Docker, and
# gives each fuzz target a short run on top of its committed corpus.
#
#   scripts/test.sh            everything
#   FUZZTIME=30s scripts/test.sh   longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need: "package|check", where check is a file that must
# exist or a command that must be on PATH.
needs=(
	"fonts-wqy-microhei|/usr/share/fonts/truetype/wqy/wqy-microhei.ttc" # CJK text watermarks (images tests)
	"iptables|iptables"                                                 # the agent's instance firewall
	"busybox-static|/bin/busybox"                                       # a static shell for the builder's build_script base
	"chromium|chromium"                                                 # the web console's browser test (console)
)
present() {
	case $1 in
	/*) [ -e "$1" ] ;;
	*) command -v "$1" >/dev/null ;;
	esac
}
missing() {
	local n
	for n in "${needs[@]}"; do
		present "${n#*|}" || echo "${n%%|*}"
	done
}
need_pkgs=($(missing))
if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "test.sh: installing ${need_pkgs[*]}"
		apt-get update -qq >/dev/null || echo "test.sh: apt-get update failed; trying the install anyway" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null || true
		# An install can fail, or succeed without providing the file:
		# check what the tests use, and stop here rather than skip them.
		still=($(missing))
		if [ ${#still[@]} -gt 0 ]; then
			for n in "${needs[@]}"; do
				present "${n#*|}" || echo "test.sh: ${n%%|*} did not install: ${n#*|} is missing" >&2
			done
			exit 1
		fi
	else
		echo "test.sh: missing ${need_pkgs[*]}; some tests will skip" >&2
	fi
fi

if [ ! -d ../shared/testdata/images ]; then
	echo "test.sh: ../shared/testdata/images not found: clone the project with shared/ beside it" >&2
	exit 1
fi

# --- S3: one versitygw on loopback for the whole run (storage and gateway
# tests use it through UFOP_TEST_S3_*; see internal/testenv/s3.go) ---
export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v versitygw >/dev/null; then
	echo "test.sh: installing versitygw"
	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
s3dir=$(mktemp -d)
s3pid=
stop_s3() {
	if [ -n "$s3pid" ]; then kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; fi
	rm -rf "$s3dir" "$s3dir.log"
}
trap stop_s3 EXIT
export UFOP_TEST_S3_ACCESS_KEY=ufoptest UFOP_TEST_S3_SECRET_KEY=ufoptestsecret
for try in 1 2 3 4 5; do
	s3port=$((20000 + RANDOM % 20000))
	versitygw --access "$UFOP_TEST_S3_ACCESS_KEY" --secret "$UFOP_TEST_S3_SECRET_KEY" \
		--port "127.0.0.1:$s3port" --keep-alive --quiet posix "$s3dir" >"$s3dir.log" 2>&1 &
	s3pid=$!
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$s3port") 2>/dev/null; then break 2; fi
		kill -0 "$s3pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; s3pid=
done
if [ -z "$s3pid" ]; then
	echo "test.sh: versitygw did not start:" >&2; cat "$s3dir.log" >&2; exit 1
fi
export UFOP_TEST_S3_ENDPOINT="http://127.0.0.1:$s3port"
echo "test.sh: versitygw on $UFOP_TEST_S3_ENDPOINT"
# --- end S3 ---

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
