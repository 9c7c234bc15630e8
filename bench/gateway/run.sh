#!/usr/bin/env bash
# bench/gateway/run.sh: the platform spine's throughput over HTTP, in one
# run, loopback only. `ufopd up` (gateway + agent + embedded etcd/NATS in one
# process) is measured with wrk at a fixed concurrency on:
#
#   cached    GET /pics/portrait.jpg?imageView2/1/w/200/h/200, warmed first:
#             every request a hit in the agent's result cache
#   uncached  every request a distinct imageView2 fop on portrait.jpg
#             (uncached.lua), so every answer is a miss that is processed;
#             clients honour Retry-After on 503; a last run where they do not
#             (hammer) shows the overload behaviour
#   nginx     nginx, one worker, sendfile on, access_log off, serving the
#             cached case's very bytes as a static file
#   gostatic  the same bytes from memory by a bare Go net/http server
#             (gostatic/): the floor for any Go server on this box
#
# Rounds interleave the cases (cached, nginx, gostatic, uncached, ...) so a
# change in background load hits all of them; the table gives the median
# round. The machine's cores are shared by wrk and the server (no pinning):
# what is compared is the whole box's request rate; the server's CPU time
# per request, read from /proc around each run, is the figure that other
# load on the box disturbs least.
#
# Usage: bench/gateway/run.sh       (from anywhere; installs wrk and nginx
#                                    with apt-get when missing, as root)
# Env:   DURATION (seconds per wrk run, 15), THREADS (wrk -t, 2),
#        CONNS (wrk -c, 32), ROUNDS (3), PROFILE (1: perf-record ufopd on
#        one extra cached run, after the measurements, when perf exists,
#        and sort its samples by part of the request with attribute.py),
#        IMAGES (test image dir), BUILD_FROM (worktree: build the checkout
#        as it is; head: build the last commit, exported with git archive,
#        so others' edits in progress do not break or change the run).
# Output: the table on stdout; results.md, results.json, attribution.md and
#         the raw wrk, metrics, log and profile outputs under
#         bench/out/gateway-<UTC>/ (gitignored). The binaries are built to
#         bench/out/. Exits non-zero when a check fails (a cached request
#         that missed, an uncached one that hit, error answers).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGES=${IMAGES:-$ROOT/../shared/testdata/images}
DURATION=${DURATION:-15}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-1}
BUILD_FROM=${BUILD_FROM:-worktree}
OUT=$ROOT/bench/out/gateway-$(date -u +%Y%m%dT%H%M%SZ)
PORTRAIT=$IMAGES/portrait.jpg
FOP=imageView2/1/w/200/h/200
LUA=$ROOT/bench/gateway/uncached.lua

[ -r "$PORTRAIT" ] || { echo "run.sh: missing test image $PORTRAIT (set IMAGES)" >&2; exit 1; }

# --- tools -----------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
install_packages "${need[@]}" || exit 1

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ufop-bench-gateway.XXXXXX)
chmod 755 "$WORK" # nginx's worker runs as nobody
UFOPD_PID=
NGINX_PID=
GOSTATIC_PID=
PERF_PID=

# stop PID: TERM, wait up to 30 s for the drain, then KILL.
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
	for pid in "$PERF_PID" "$GOSTATIC_PID" "$NGINX_PID" "$UFOPD_PID"; do
		[ -n "$pid" ] && stop "$pid"
	done
	[ -f "$WORK/ufopd.log" ] && cp "$WORK/ufopd.log" "$OUT/ufopd.log"
	rm -rf "$WORK"
}
trap cleanup EXIT

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: polls until URL answers 2xx, for up to 60 s.
wait_http() {
	for _ in $(seq 600); do
		curl -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "run.sh: $1 did not come up" >&2
	return 1
}

# cache_counts: "hit miss" from the gateway's result cache counters.
cache_counts() {
	curl -fs "$ADMIN/metrics" | awk '
		/^ufop_gateway_result_cache_total\{result="hit"\}/ {h = $2}
		/^ufop_gateway_result_cache_total\{result="miss"\}/ {m = $2}
		END {printf "%d %d\n", h, m}'
}

# cpu_ticks PID...: user+system CPU ticks the processes have used so far.
cpu_ticks() {
	local t=0 pid
	for pid in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
	done
	echo "$t"
}

# bench NAME ufop|nginx|gostatic ARGS...: one wrk run into $OUT/NAME.txt, followed by
# the server's CPU time over the run and, for ufop, the gateway's cache
# counters over the run.
bench() {
	local name=$1 kind=$2
	shift 2
	local before='' pids c0 c1
	case $kind in
	ufop)
		before=$(cache_counts)
		pids=$UFOPD_PID
		;;
	nginx)
		# The master and its worker (the master only waits).
		pids="$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
		;;
	gostatic) pids=$GOSTATIC_PID ;;
	esac
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "== $name (load average $load)" >&2
	# shellcheck disable=SC2086 # pids is a list
	c0=$(cpu_ticks $pids)
	wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" >"$OUT/$name.txt"
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	{
		echo "loadavg-before: $load"
		echo "loadavg-after: $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "server-cpu-seconds: $(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {print t / hz}')"
	} >>"$OUT/$name.txt"
	if [ "$kind" = ufop ]; then
		read -r h0 m0 <<<"$before"
		read -r h1 m1 <<<"$(cache_counts)"
		echo "gateway-cache-delta: hit=$((h1 - h0)) miss=$((m1 - m0))" >>"$OUT/$name.txt"
	fi
}

# --- build and start ufopd ---------------------------------------------------
echo "== build ufopd, ufopctl ($BUILD_FROM)" >&2
SRC=$ROOT
if [ "$BUILD_FROM" = head ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
fi
(cd "$SRC" && CGO_ENABLED=0 go build -trimpath -o "$ROOT/bench/out/ufopd" ./cmd/ufopd &&
	CGO_ENABLED=0 go build -trimpath -o "$ROOT/bench/out/ufopctl" ./cmd/ufopctl &&
	CGO_ENABLED=0 go build -trimpath -o "$ROOT/bench/out/gostatic" ./bench/gateway/gostatic)
UFOPD=$ROOT/bench/out/ufopd
UFOPCTL=$ROOT/bench/out/ufopctl
{
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) (built from $BUILD_FROM)"
	go version
	wrk -v 2>&1 | head -n1 || true
	nginx -v 2>&1
	uname -sr
	grep -m1 'model name' /proc/cpuinfo
	echo "cpus: $(nproc)"
	echo "params: DURATION=$DURATION THREADS=$THREADS CONNS=$CONNS ROUNDS=$ROUNDS"
} >"$OUT/env.txt"

GW_PORT=$(freeport)
ADMIN_PORT=$(freeport)
# /metrics is served on the admin listener (the public one wants the
# cluster token).
"$UFOPD" up --data "$WORK/data" --addr "127.0.0.1:$GW_PORT" --admin-addr "127.0.0.1:$ADMIN_PORT" \
	--etcd-addr "127.0.0.1:$(freeport)" --etcd-peer-addr "127.0.0.1:$(freeport)" --nats-port -1 \
	>"$WORK/ufopd.log" 2>&1 &
UFOPD_PID=$!
GW=http://127.0.0.1:$GW_PORT
ADMIN=http://127.0.0.1:$ADMIN_PORT
wait_http "$GW/healthz"
CONF=$WORK/data/ufopctl.json
for _ in $(seq 100); do [ -s "$CONF" ] && break; sleep 0.1; done
"$UFOPCTL" --config "$CONF" bucket create pics >/dev/null
"$UFOPCTL" --config "$CONF" put pics portrait.jpg "$PORTRAIT" >/dev/null 2>&1
# The owner's rate limit (paid tier: 1000 requests/s) would turn most of
# the cached case into 429s: lift it, the limiter still runs on every
# request. The admin account is "admin" on a fresh data dir.
"$UFOPCTL" --config "$CONF" limit set admin --rps 1000000 --burst 1000000 >/dev/null

# Warm the cached case and keep its bytes for nginx.
mkdir -p "$WORK/www"
curl -fs -o "$WORK/www/result.jpg" "$GW/pics/portrait.jpg?$FOP"
curl -fs -D "$OUT/cached-headers.txt" -o "$OUT/result.jpg" "$GW/pics/portrait.jpg?$FOP"
grep -qi '^x-ufop-cache: hit' "$OUT/cached-headers.txt" ||
	{ echo "run.sh: the warmed request was not a cache hit" >&2; exit 1; }
chmod -R a+rX "$WORK/www"

# --- nginx -------------------------------------------------------------------
NGX_PORT=$(freeport)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	# Go's server keeps connections open indefinitely; so does this one,
	# so neither side pays for reconnects.
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
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" -g 'daemon off;' &
NGINX_PID=$!
NGX=http://127.0.0.1:$NGX_PORT
wait_http "$NGX/result.jpg"
curl -fs -o "$WORK/nginx-result.jpg" "$NGX/result.jpg"
cmp -s "$WORK/nginx-result.jpg" "$OUT/result.jpg" ||
	{ echo "run.sh: nginx does not serve the same bytes" >&2; exit 1; }

GS_PORT=$(freeport)
"$ROOT/bench/out/gostatic" -addr "127.0.0.1:$GS_PORT" -file "$OUT/result.jpg" 2>"$OUT/gostatic.log" &
GOSTATIC_PID=$!
GS=http://127.0.0.1:$GS_PORT
wait_http "$GS/result.jpg"

# --- measurements --------------------------------------------------------------
for r in $(seq "$ROUNDS"); do
	bench "cached-$r" ufop "$GW/pics/portrait.jpg?$FOP"
	bench "nginx-$r" nginx "$NGX/result.jpg"
	bench "gostatic-$r" gostatic "$GS/result.jpg"
	# Each uncached run has its own million fops (uncached.lua).
	bench "uncached-$r" ufop -s "$LUA" "$GW" -- /pics/portrait.jpg "$THREADS" $((r * 1000000)) retry-after
done
bench "uncached-hammer" ufop -s "$LUA" "$GW" -- /pics/portrait.jpg "$THREADS" 0 hammer
curl -fs "$ADMIN/metrics" >"$OUT/metrics.txt"
stop "$NGINX_PID"
NGINX_PID=
stop "$GOSTATIC_PID"
GOSTATIC_PID=

# --- profile -------------------------------------------------------------------
if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
	echo "== perf record of ufopd on a cached run (not in the table)" >&2
	perf record -q -F 499 -g -p "$UFOPD_PID" -o "$OUT/perf.data" -- sleep "$((DURATION + 1))" 2>"$OUT/perf-record.log" &
	PERF_PID=$!
	sleep 0.5 # perf attached
	c0=$(cpu_ticks "$UFOPD_PID")
	wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "$GW/pics/portrait.jpg?$FOP" >"$OUT/cached-profiled.txt"
	c1=$(cpu_ticks "$UFOPD_PID")
	wait "$PERF_PID" || true
	PERF_PID=
	# Inclusive time per function, and the same samples by part of the
	# request path, in CPU microseconds per request of this run.
	perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9]' | awk '{printf "%8s %8s  %s\n", $1, $2, $4}' | head -n 150 >"$OUT/perf-cached.txt" || true
	perf script -i "$OUT/perf.data" 2>/dev/null |
		python3 "$ROOT/bench/gateway/attribute.py" \
			"$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {print t / hz}')" \
			"$(awk '/requests in/ {print $1}' "$OUT/cached-profiled.txt")" >"$OUT/attribution.md" || true
fi

stop "$UFOPD_PID"
UFOPD_PID=

# --- table -----------------------------------------------------------------------
python3 - "$OUT" "$ROUNDS" "$DURATION" "$THREADS" "$CONNS" <<'PY'
import json, os, re, sys

out, rounds, duration, threads, conns = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]

def ms(v):
    n, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]

def parse(name):
    text = open(f"{out}/{name}.txt").read()
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
         "p50": ms(re.search(r"\s50%\s+(\S+)", text).group(1)),
         "p99": ms(re.search(r"\s99%\s+(\S+)", text).group(1)),
         "requests": int(re.search(r"(\d+) requests in", text).group(1)),
         "cpu_s": float(re.search(r"server-cpu-seconds: ([\d.]+)", text).group(1)),
         "load": float(re.search(r"loadavg-before: ([\d.]+)", text).group(1)),
         "non2xx": int((re.search(r"Non-2xx or 3xx responses: (\d+)", text) or [0, 0])[1]),
         "errors": sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))}
    if m := re.search(r"gateway-cache-delta: hit=(\d+) miss=(\d+)", text):
        r["hits"], r["misses"] = int(m[1]), int(m[2])
    if m := re.search(r"misses/sec: ([\d.]+)", text):
        r["miss_rps"] = float(m[1])
    if m := re.search(r"ufop-cache: hit=(\d+) miss=(\d+)", text):
        r["hdr_hits"], r["hdr_misses"] = int(m[1]), int(m[2])
    if m := re.search(r"statuses: (.*)", text):
        r["statuses"] = m[1]
    return r

def median(runs, key):
    # The run with the median rate, so its latencies belong to it.
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]

res = {k: [parse(f"{k}-{i}") for i in range(1, rounds + 1)] for k in ("cached", "nginx", "gostatic", "uncached")}
hammer = parse("uncached-hammer")
cached, nginx, uncached = median(res["cached"], "rps"), median(res["nginx"], "rps"), median(res["uncached"], "miss_rps")
gostatic = median(res["gostatic"], "rps")

problems = []
for r in res["cached"]:
    if r["misses"] or r["non2xx"]:
        problems.append(f"cached run had {r['misses']} misses and {r['non2xx']} non-2xx answers")
for r in res["uncached"] + [hammer]:
    if r["hdr_hits"] or r["hits"]:
        problems.append(f"uncached run had {r['hdr_hits']} hits (header), {r['hits']} (gateway)")
    # 503 (queue full) is admission doing its job; anything else is a fault.
    odd = [c for c in r.get("statuses", "").split() if c.split("=")[0] not in ("200", "503")]
    if odd:
        problems.append(f"uncached run answered {' '.join(odd)}")
for r in res["nginx"] + res["gostatic"]:
    if r["non2xx"]:
        problems.append(f"nginx answered {r['non2xx']} non-2xx")

for r in res["cached"] + res["nginx"] + res["gostatic"]:
    r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["requests"]
for r in res["uncached"] + [hammer]:
    r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / max(r["misses"], 1)

def rates(runs, key, fmt):
    return ", ".join(fmt.format(r[key]) for r in runs)

cfg = f"wrk -t{threads} -c{conns} -d{duration}s, median of {rounds} interleaved rounds"
row = "| {} | {:.{prec}f} | {:.2f} | {:.2f} | {:.0f} | {} |"
lines = [
    f"| case ({cfg}) | req/s | p50 ms | p99 ms | server CPU µs/req | all rounds |",
    "|---|---:|---:|---:|---:|---|",
    row.format("ufop cached: `?imageView2/1/w/200/h/200`, agent result-cache hit",
               cached["rps"], cached["p50"], cached["p99"], cached["cpu_us_per_req"], rates(res["cached"], "rps", "{:.0f}"), prec=0),
    row.format("ufop uncached: a distinct imageView2 fop per request; 200 misses/s, Retry-After honoured",
               uncached["miss_rps"], uncached["p50"], uncached["p99"], uncached["cpu_us_per_req"], rates(res["uncached"], "miss_rps", "{:.1f}"), prec=1),
    row.format("nginx, 1 worker, sendfile: the same 200x200 bytes as a static file",
               nginx["rps"], nginx["p50"], nginx["p99"], nginx["cpu_us_per_req"], rates(res["nginx"], "rps", "{:.0f}"), prec=0),
    row.format("bare Go net/http (gostatic): the same bytes from memory",
               gostatic["rps"], gostatic["p50"], gostatic["p99"], gostatic["cpu_us_per_req"], rates(res["gostatic"], "rps", "{:.0f}"), prec=0),
    row.format("ufop uncached, clients retry 503 at once (one run); 200 misses/s",
               hammer["miss_rps"], hammer["p50"], hammer["p99"], hammer["cpu_us_per_req"], hammer["statuses"], prec=1),
    "",
    f"ufop cached / nginx = {cached['rps'] / nginx['rps']:.3f}; ufop uncached / nginx = {uncached['miss_rps'] / nginx['rps']:.4f}; "
    f"server CPU per request, ufop cached / nginx = {cached['cpu_us_per_req'] / nginx['cpu_us_per_req']:.1f}x, "
    f"ufop cached / bare Go = {cached['cpu_us_per_req'] / gostatic['cpu_us_per_req']:.1f}x",
    f"uncached median run: {uncached['statuses']} (wrk's latencies include the 503s); "
    f"the gateway counted {uncached['misses']} misses, {uncached['hits']} hits",
    f"cached median run: the gateway counted {cached['hits']} hits, {cached['misses']} misses",
    "server CPU µs/req: ufopd's (or nginx's master+worker) CPU time over the run divided by the requests"
    " wrk completed (uncached: by the 200 misses the gateway counted)",
]
ncpu = os.cpu_count()
lines.append(f"ceiling from CPU per request alone (server with the CPUs to itself, load generator not counted): "
             f"ufop cached {ncpu * 1e6 / cached['cpu_us_per_req']:.0f}/s on {ncpu} CPUs, "
             f"ufop uncached {ncpu * 1e6 / uncached['cpu_us_per_req']:.0f}/s on {ncpu} CPUs, "
             f"nginx {1e6 / nginx['cpu_us_per_req']:.0f}/s on its 1 worker's CPU")

# Agent-reported stages of every uncached request of the run (wall time,
# so it includes waiting for a CPU on a loaded machine).
stages = {}
for m in re.finditer(r'^ufop_gateway_stage_seconds_(sum|count)\{stage="(\w+)"\} (\S+)$', open(f"{out}/metrics.txt").read(), re.M):
    stages.setdefault(m[2], {})[m[1]] = float(m[3])
stage_ms = {k: 1000 * v["sum"] / v["count"] for k, v in stages.items() if v.get("count") and v.get("sum")}
if stage_ms:
    lines.append("uncached stages, mean wall ms per miss (all uncached runs): " +
                 ", ".join(f"{k} {stage_ms[k]:.1f}" for k in ("queue", "fetch", "decode", "process", "encode") if k in stage_ms))
loads = [r["load"] for runs in res.values() for r in runs] + [hammer["load"]]
lines.append(f"1-minute load average at the start of the runs: {min(loads):.1f} to {max(loads):.1f} "
             f"on {os.cpu_count()} CPUs (other work on the machine competes with every case)")
lines += [f"PROBLEM: {p}" for p in problems]
open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
json.dump({"cached": res["cached"], "nginx": res["nginx"], "gostatic": res["gostatic"], "uncached": res["uncached"], "uncached_hammer": hammer,
           "ratio_cached_over_nginx": cached["rps"] / nginx["rps"],
           "ratio_uncached_over_nginx": uncached["miss_rps"] / nginx["rps"], "uncached_stage_ms": stage_ms,
           "problems": problems},
          open(f"{out}/results.json", "w"), indent=2)
print("\n".join(lines))
sys.exit(1 if problems else 0)
PY
[ -s "$OUT/attribution.md" ] && { echo; echo "where ufopd's CPU goes on the cached case (perf, extra run):"; cat "$OUT/attribution.md"; }
echo "results in $OUT" >&2
