#!/usr/bin/env bash
# bench/gateway/pinned.sh: the cached path against nginx per core, in one
# run, loopback only (issue 12). One core each, in turn:
#
#   ufop    `ufopd up` with GOMAXPROCS=1, pinned to CPU 1 (taskset), serving
#           GET /pics/portrait.jpg?imageView2/1/w/200/h/200 warmed, so every
#           request is a gateway memory-cache hit (the fast path)
#   nginx   one worker, sendfile, access_log off, pinned to CPU 1, serving
#           the very same bytes as a static file
#
# wrk -t1 -c32 is pinned to CPU 0. Rounds interleave ufop and nginx so that
# a change in the machine's background load hits both; every run is
# printed, with each round's ratio and the median of the ratios.
#
# Usage: bench/gateway/pinned.sh
# Env:   DURATION (seconds per wrk run, 10), ROUNDS (5), CONNS (32),
#        SERVER_CPU (1), CLIENT_CPU (0), UFOP_LOG_LEVEL (ufopd's, info),
#        IMAGES (test image dir), BUILD_FROM (worktree | head, as run.sh).
# Output: the table on stdout; raw outputs under bench/out/pinned-<UTC>/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGES=${IMAGES:-$ROOT/../shared/testdata/images}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-32}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
BUILD_FROM=${BUILD_FROM:-worktree}
OUT=$ROOT/bench/out/pinned-$(date -u +%Y%m%dT%H%M%SZ)
PORTRAIT=$IMAGES/portrait.jpg
FOP=imageView2/1/w/200/h/200
[ -r "$PORTRAIT" ] || { echo "pinned.sh: missing test image $PORTRAIT (set IMAGES)" >&2; exit 1; }

need=()
for c in wrk nginx curl taskset python3; do
	command -v $c >/dev/null || need+=("$c")
done
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
install_packages "${need[@]/taskset/util-linux}" || exit 1

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ufop-bench-pinned.XXXXXX)
chmod 755 "$WORK"
UFOPD_PID=
NGINX_PID=
stop() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	for pid in "$NGINX_PID" "$UFOPD_PID"; do
		[ -n "$pid" ] && stop "$pid"
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_http() {
	for _ in $(seq 600); do
		curl -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "pinned.sh: $1 did not come up" >&2
	return 1
}

echo "== build ufopd, ufopctl ($BUILD_FROM)" >&2
SRC=$ROOT
if [ "$BUILD_FROM" = head ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
fi
(cd "$SRC" && CGO_ENABLED=0 go build -trimpath -o "$OUT/ufopd" ./cmd/ufopd &&
	CGO_ENABLED=0 go build -trimpath -o "$OUT/ufopctl" ./cmd/ufopctl)
{
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git -C "$ROOT" rev-parse --short HEAD) (built from $BUILD_FROM)"
	go version
	nginx -v 2>&1
	echo "params: DURATION=$DURATION ROUNDS=$ROUNDS CONNS=$CONNS SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU"
} >"$OUT/env.txt"

GW_PORT=$(freeport)
ADMIN_PORT=$(freeport)
GOMAXPROCS=1 UFOP_LOG_LEVEL=${UFOP_LOG_LEVEL:-info} taskset -c "$SERVER_CPU" "$OUT/ufopd" up --data "$WORK/data" \
	--addr "127.0.0.1:$GW_PORT" --admin-addr "127.0.0.1:$ADMIN_PORT" \
	--etcd-addr "127.0.0.1:$(freeport)" --etcd-peer-addr "127.0.0.1:$(freeport)" --nats-port -1 \
	>"$WORK/ufopd.log" 2>&1 &
UFOPD_PID=$!
GW=http://127.0.0.1:$GW_PORT
wait_http "$GW/healthz"
CONF=$WORK/data/ufopctl.json
for _ in $(seq 100); do [ -s "$CONF" ] && break; sleep 0.1; done
"$OUT/ufopctl" --config "$CONF" bucket create pics >/dev/null
"$OUT/ufopctl" --config "$CONF" put pics portrait.jpg "$PORTRAIT" >/dev/null 2>&1
# Lift the owner's rate limit as run.sh does; the limiter still runs.
"$OUT/ufopctl" --config "$CONF" limit set admin --rps 1000000 --burst 1000000 >/dev/null
mkdir -p "$WORK/www"
for _ in 1 2 3; do # miss, hit (remembered by the fast path), fast
	curl -fs -o "$WORK/www/result.jpg" -D "$OUT/cached-headers.txt" "$GW/pics/portrait.jpg?$FOP"
done
grep -qi '^x-ufop-cache: hit' "$OUT/cached-headers.txt" || { echo "pinned.sh: the warmed request was not a hit" >&2; exit 1; }
chmod -R a+rX "$WORK/www"

NGX_PORT=$(freeport)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity $(python3 -c "print(format(1 << $SERVER_CPU, 'b'))");
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	types { image/jpeg jpg; }
	client_body_temp_path $WORK/nginx/tmp/body;
	proxy_temp_path $WORK/nginx/tmp/proxy;
	fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
	uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
	scgi_temp_path $WORK/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$NGX_PORT;
		root $WORK/www;
	}
}
CONF
cp "$WORK/nginx/nginx.conf" "$OUT/nginx.conf"
taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" -g 'daemon off;' &
NGINX_PID=$!
NGX=http://127.0.0.1:$NGX_PORT
wait_http "$NGX/result.jpg"
cmp -s <(curl -fs "$NGX/result.jpg") "$WORK/www/result.jpg" || { echo "pinned.sh: nginx serves other bytes" >&2; exit 1; }

run() { # NAME URL
	echo "== $1 (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$2" >"$OUT/$1.txt"
	echo "loadavg-before: $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/$1.txt"
}
for r in $(seq "$ROUNDS"); do
	run "ufop-$r" "$GW/pics/portrait.jpg?$FOP"
	run "nginx-$r" "$NGX/result.jpg"
done
cp "$WORK/ufopd.log" "$OUT/ufopd.log" 2>/dev/null || true

python3 - "$OUT" "$ROUNDS" "$DURATION" "$CONNS" <<'PY'
import re, statistics, sys
out, rounds, duration, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def ms(v):
    n, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
def parse(name):
    t = open(f"{out}/{name}.txt").read()
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t)[1]),
            "p50": ms(re.search(r"\s50%\s+(\S+)", t)[1]), "p99": ms(re.search(r"\s99%\s+(\S+)", t)[1]),
            "bad": int((re.search(r"Non-2xx or 3xx responses: (\d+)", t) or [0, 0])[1]) +
                   sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", t))}
print(f"wrk -t1 -c{conns} -d{duration}s on CPU 0; server on CPU 1 (ufopd GOMAXPROCS=1 / nginx 1 worker); rounds interleaved")
print("| round | ufop req/s | ufop p50 ms | ufop p99 ms | nginx req/s | nginx p50 ms | nginx p99 ms | req/s ratio | p99 ratio |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
ratios, p99s, bad = [], [], 0
for i in range(1, rounds + 1):
    u, n = parse(f"ufop-{i}"), parse(f"nginx-{i}")
    bad += u["bad"] + n["bad"]
    ratios.append(u["rps"] / n["rps"]); p99s.append(u["p99"] / n["p99"])
    print(f"| {i} | {u['rps']:.0f} | {u['p50']:.3f} | {u['p99']:.3f} | {n['rps']:.0f} | {n['p50']:.3f} | {n['p99']:.3f} | {ratios[-1]:.2f} | {p99s[-1]:.2f} |")
print(f"\nmedian ufop/nginx req/s = {statistics.median(ratios):.2f} (all: {', '.join(f'{r:.2f}' for r in ratios)}); "
      f"median p99 ufop/nginx = {statistics.median(p99s):.2f}")
if bad:
    print(f"PROBLEM: {bad} non-2xx answers or socket errors"); sys.exit(1)
PY
echo "results in $OUT" >&2
