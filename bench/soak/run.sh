#!/usr/bin/env bash
# bench/soak/run.sh: a soak of `ufopd up` under mixed traffic, reporting the
# whole process's RSS every 30 s (issue 12).
#
# It starts `ufopd up` on a fresh data dir (127.0.0.1 only), uploads
# portrait.jpg, deploys the examples/sepia UFOP (static binary, image FROM
# scratch, built by the platform on the local Docker engine) with one
# instance, and runs bench/soak/mix: uncached built-ins, cached hits and
# built-in|sepia requests in turn from CLIENTS clients for DURATION. Each
# line of samples.jsonl is one interval: VmRSS and VmHWM of ufopd and the
# answers by kind; mix fails if any answer was not a 200. (The sepia
# instance's own memory is its container's, not ufopd's.)
#
# Usage: bench/soak/run.sh
# Env:   DURATION (10m), EVERY (30s), CLIENTS (4), IMAGES.
# Output: samples.jsonl and ufopd.log under bench/out/soak-<UTC time>/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGES=${IMAGES:-$ROOT/../shared/testdata/images}
DURATION=${DURATION:-10m}
EVERY=${EVERY:-30s}
CLIENTS=${CLIENTS:-4}
OUT=$ROOT/bench/out/soak-$(date -u +%Y%m%dT%H%M%SZ)
UFOP=soak-sepia

command -v docker >/dev/null || { echo "soak: needs the Docker engine" >&2; exit 1; }
command -v curl >/dev/null || { echo "soak: needs curl" >&2; exit 1; }
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ufop-bench-soak.XXXXXX)
UFOPD_PID=
cleanup() {
	if [ -n "$UFOPD_PID" ]; then
		[ -n "${CONF:-}" ] && "$WORK/ufopctl" --config "$CONF" resize "$UFOP" -n 0 >/dev/null 2>&1 || true
		kill -TERM "$UFOPD_PID" 2>/dev/null || true
		for _ in $(seq 300); do kill -0 "$UFOPD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$UFOPD_PID" 2>/dev/null || true
		wait "$UFOPD_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== build" >&2
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/ufopd" ./cmd/ufopd &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/ufopctl" ./cmd/ufopctl &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/mix" ./bench/soak/mix)
"$ROOT/examples/package.sh" sepia "$WORK/pkg" >/dev/null
{
	date -u +%FT%TZ
	git -C "$ROOT" rev-parse --short HEAD
	go version
	echo "DURATION=$DURATION EVERY=$EVERY CLIENTS=$CLIENTS"
	echo "start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/env.txt"

GW_PORT=$(freeport)
"$WORK/ufopd" up --data "$WORK/data" --addr "127.0.0.1:$GW_PORT" --admin-addr "127.0.0.1:$(freeport)" \
	--etcd-addr "127.0.0.1:$(freeport)" --etcd-peer-addr "127.0.0.1:$(freeport)" --nats-port -1 \
	>"$OUT/ufopd.log" 2>&1 &
UFOPD_PID=$!
GW=http://127.0.0.1:$GW_PORT
for _ in $(seq 600); do curl -fs -o /dev/null "$GW/healthz" && break; sleep 0.1; done
CONF=$WORK/data/ufopctl.json
for _ in $(seq 100); do [ -s "$CONF" ] && break; sleep 0.1; done
ctl() { "$WORK/ufopctl" --config "$CONF" "$@"; }
ctl bucket create pics >/dev/null
ctl put pics portrait.jpg "$IMAGES/portrait.jpg" >/dev/null 2>&1
ctl limit set admin --rps 1000000 --burst 1000000 >/dev/null
echo "== deploy $UFOP" >&2
ctl reg "$UFOP" -m 0 -d "soak sepia" >/dev/null
ctl build "$UFOP" -f "$WORK/pkg/sepia.tar.gz" >"$OUT/build.log" 2>&1
ctl chver "$UFOP" -c 1 >/dev/null
ctl resize "$UFOP" -n 1 --wait --timeout 120s >/dev/null
echo "rss before load: $(awk '/VmRSS/ {print $2 / 1024 " MB"}' "/proc/$UFOPD_PID/status")" >>"$OUT/env.txt"

echo "== mixed traffic for $DURATION, RSS every $EVERY" >&2
"$WORK/mix" -gw "$GW" -path /pics/portrait.jpg -ufop "$UFOP" -pid "$UFOPD_PID" -d "$DURATION" -every "$EVERY" \
	-c "$CLIENTS" | tee "$OUT/samples.jsonl"
echo "end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/env.txt"
python3 - "$OUT/samples.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| t s | VmRSS MB | VmHWM MB | answers in the interval (kind-status: n) |")
print("|---:|---:|---:|---|")
for r in rows:
    c = ", ".join(f"{k}: {v}" for k, v in sorted(r["counts"].items()))
    print(f"| {r['t_s']:.0f} | {r['rss_mb']:.0f} | {r['hwm_mb']:.0f} | {c} |")
PY
echo "results in $OUT" >&2
