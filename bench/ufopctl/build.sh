#!/bin/sh
# bench/ufopctl/build.sh: the UFOP life cycle as a user sees it, timed
# through ufopctl against a real `ufopd up` on loopback (needs Go and a
# Docker engine):
#   1. build the sepia example from its directory: first build, then the
#      same package again (layer cache), then as a .tar.gz;
#   2. build a package with a 64 MiB data file (upload-bound);
#   3. chver + resize to 2 instances, wait until healthy; build a new
#      version, chver, upgrade --step 1 --wait.
# Each line gives wall seconds (and ufopctl's own upload time where it
# prints one). Everything it creates (data dir, images) is removed at exit.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
name=benchsepia
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	for v in 1 2 3 4 5 6; do docker rmi -f "ufop/$name:v$v" >/dev/null 2>&1 || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

cd "$root"
go build -o "$tmp/bin/" ./cmd/ufopd ./cmd/ufopctl
ctl="$tmp/bin/ufopctl"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tmp/bin/ufopd" up --data "$tmp/data" --addr "127.0.0.1:$port" >"$tmp/ufopd.log" 2>&1 &
pid=$!
i=0
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 120 ]; then
		echo "ufopd did not become healthy; its log:" >&2
		tail -20 "$tmp/ufopd.log" >&2
		exit 1
	fi
	sleep 0.5
done
export UFOP_CONFIG="$tmp/data/ufopctl.json"

"$root/examples/package.sh" sepia "$tmp/pkg" >/dev/null
cp -r "$tmp/pkg/sepia" "$tmp/big"
head -c 64M /dev/urandom >"$tmp/big/data.bin"

# timed LABEL CMD...: runs CMD, prints wall time and the upload line.
timed() {
	label=$1
	shift
	t0=$(date +%s.%N)
	"$@" >"$tmp/out" 2>"$tmp/err" || {
		echo "$label: FAILED" >&2
		tail -5 "$tmp/err" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	up=$(grep -o 'package: 100% ([^)]*)' "$tmp/err" | sed 's/package: 100% //' || true)
	printf '%-34s %6.2f s wall %s\n' "$label:" "$(echo "$t1 - $t0" | bc)" "$up"
}

echo "== ufopctl against ufopd up on 127.0.0.1:$port, load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$ctl" reg "$name" -m 2 -d "bench/ufopctl/build.sh" >/dev/null
timed "build dir (first)" "$ctl" build "$name" -f "$tmp/pkg/sepia"
timed "build dir (same package again)" "$ctl" build "$name" -f "$tmp/pkg/sepia"
timed "build tar.gz" "$ctl" build "$name" -f "$tmp/pkg/sepia.tar.gz"
timed "build dir with 64 MiB data" "$ctl" build "$name" -f "$tmp/big"
"$ctl" chver "$name" -c 1 >/dev/null
"$ctl" resize "$name" -n 2 >/dev/null
timed "2 instances healthy" "$ctl" upgrade "$name" --wait --interval 100ms
v=$("$ctl" build "$name" -f "$tmp/pkg/sepia" 2>/dev/null)
"$ctl" chver "$name" -c "$v" >/dev/null 2>&1
timed "upgrade --step 1 --wait (2 inst.)" "$ctl" upgrade "$name" --step 1 --wait --interval 100ms
"$ctl" unreg "$name" --force >/dev/null
