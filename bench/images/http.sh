#!/usr/bin/env bash
# bench/images/http.sh: uncached built-ins over HTTP through `ufopd up`
# against vipsthumbnail, one core each, in one run (issue 12).
#
#   portrait.jpg (800x533) -> 200x200 fill: requests/s vs vipsthumbnail's images/s
#   9643x10328.jpg (100 MP) -> 500x500 fit: wall time, whole-process peak RSS
#   quality at q80: PSNR and SSIM against a Lanczos reference, output bytes
#   16 concurrent 100 MP requests (ufopd unpinned, default GOMAXPROCS): none
#   may fail, whole-process peak RSS
#
# ufopd runs with GOMAXPROCS=1 pinned to BENCH_CPU, vipsthumbnail with
# VIPS_CONCURRENCY=1 pinned to BENCH_CPU (one call for VIPS_FILES files), the
# load generator (httpload) on LOAD_CPU. Uncached: every request reads its own
# copy of the source (bytes differ after EOI, so the pixels and the work are
# the same and the result caches miss; httpload fails on any hit). Peak RSS
# is VmHWM of the whole ufopd process (gateway, agent, etcd, NATS), reset
# through /proc/PID/clear_refs before each measured phase. Only 127.0.0.1.
#
# Usage: bench/images/http.sh
# Env:   IMAGES, ROUNDS (interleaved rounds, 3), PORTRAIT_N (requests per
#        round, 200), VIPS_FILES (100), HUGE_N (100 MP requests per round, 3),
#        CONC (concurrent 100 MP requests, 16), BENCH_CPU (1), LOAD_CPU (0).
# Output: results.jsonl and the logs under bench/out/imghttp-<UTC time>/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGES=${IMAGES:-$ROOT/../shared/testdata/images}
ROUNDS=${ROUNDS:-3}
PORTRAIT_N=${PORTRAIT_N:-200}
VIPS_FILES=${VIPS_FILES:-100}
HUGE_N=${HUGE_N:-3}
CONC=${CONC:-16}
BENCH_CPU=${BENCH_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
OUT=$ROOT/bench/out/imghttp-$(date -u +%Y%m%dT%H%M%SZ)
PORTRAIT=$IMAGES/portrait.jpg
HUGE=$IMAGES/9643x10328.jpg

need=()
command -v vipsthumbnail >/dev/null || need+=(libvips-tools)
[ -x /usr/bin/time ] || need+=(time)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
install_packages "${need[@]}" || exit 1

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ufop-bench-imghttp.XXXXXX)
UFOPD_PID=
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
	[ -n "$UFOPD_PID" ] && stop "$UFOPD_PID"
	rm -rf "$WORK"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() {
	for _ in $(seq 600); do
		curl -fs -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "http.sh: $1 did not come up" >&2
	return 1
}

echo "== build" >&2
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/ufopd" ./cmd/ufopd &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/ufopctl" ./cmd/ufopctl &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/httpload" ./bench/images/httpload &&
	CGO_ENABLED=0 go build -trimpath -o "$WORK/quality" ./bench/images/quality)
{
	date -u +%FT%TZ
	git -C "$ROOT" rev-parse --short HEAD
	go version
	vips --version
	grep -m1 'model name' /proc/cpuinfo
	echo "ROUNDS=$ROUNDS PORTRAIT_N=$PORTRAIT_N VIPS_FILES=$VIPS_FILES HUGE_N=$HUGE_N CONC=$CONC"
} >"$OUT/env.txt"

# start_ufopd [taskset/env prefix...]: a fresh `ufopd up` on a new data dir,
# with the bucket and the copies uploaded.
start_ufopd() {
	local data=$WORK/data-$RANDOM
	GW_PORT=$(freeport)
	"$@" "$WORK/ufopd" up --data "$data" --addr "127.0.0.1:$GW_PORT" --admin-addr "127.0.0.1:$(freeport)" \
		--etcd-addr "127.0.0.1:$(freeport)" --etcd-peer-addr "127.0.0.1:$(freeport)" --nats-port -1 \
		>>"$OUT/ufopd.log" 2>&1 &
	UFOPD_PID=$!
	GW=http://127.0.0.1:$GW_PORT
	wait_http "$GW/healthz"
	CONF=$data/ufopctl.json
	for _ in $(seq 100); do [ -s "$CONF" ] && break; sleep 0.1; done
	"$WORK/ufopctl" --config "$CONF" bucket create pics >/dev/null
	"$WORK/ufopctl" --config "$CONF" limit set admin --rps 1000000 --burst 1000000 >/dev/null
}
load() { taskset -c "$LOAD_CPU" "$WORK/httpload" -mode get -gw "$GW" -pid "$UFOPD_PID" "$@"; }
vips_time() { # OUT CMD...: "wall_ms cpu_ms max_rss_kb"
	local out=$1 t0 t1
	shift
	t0=$(date +%s%3N)
	VIPS_CONCURRENCY=1 taskset -c "$BENCH_CPU" /usr/bin/time -f "%U %S %M" -o "$WORK/time" "$@" >/dev/null 2>>"$OUT/vips.log"
	t1=$(date +%s%3N)
	awk -v w=$((t1 - t0)) -v n="$2" '{printf "{\"wall_ms\":%d,\"cpu_ms\":%d,\"max_rss_mb\":%.1f}\n", w, ($1 + $2) * 1000, $3 / 1024}' "$WORK/time" >"$out"
}

mkdir -p "$WORK/portraits" "$WORK/vout"
for i in $(seq -w "$VIPS_FILES"); do cp "$PORTRAIT" "$WORK/portraits/p$i.jpg"; done

# --- one core: portrait and 100 MP, interleaved with vipsthumbnail ----------
echo "== ufopd up (GOMAXPROCS=1, CPU $BENCH_CPU): upload copies" >&2
start_ufopd env GOMAXPROCS=1 taskset -c "$BENCH_CPU"
echo "rss after start: $(awk '/VmRSS/ {print $2 / 1024 " MB"}' "/proc/$UFOPD_PID/status")" >>"$OUT/env.txt"
taskset -c "$LOAD_CPU" "$WORK/httpload" -mode upload -config "$CONF" -key p -copies $((PORTRAIT_N * ROUNDS + 10)) "$PORTRAIT"
taskset -c "$LOAD_CPU" "$WORK/httpload" -mode upload -config "$CONF" -key h -copies $((HUGE_N * ROUNDS + 1)) "$HUGE"
# Warm-up (first use of code paths), not measured.
load -key p -copies 10 -n 10 -c 2 -fop imageView2/1/w/200/h/200 >/dev/null
: >"$OUT/results.jsonl"
for r in $(seq "$ROUNDS"); do
	la=$(cut -d' ' -f1 /proc/loadavg)
	echo "== round $r (load $la)" >&2
	first=$((10 + (r - 1) * PORTRAIT_N))
	res=$(load -key p -copies $((PORTRAIT_N * ROUNDS + 10)) -first "$first" -n "$PORTRAIT_N" -c 2 \
		-fop imageView2/1/w/200/h/200 -out "$OUT/ufop-portrait.jpg")
	echo "{\"round\":$r,\"case\":\"ufop-portrait\",\"load\":$la,\"r\":$res}" >>"$OUT/results.jsonl"
	vips_time "$WORK/v" vipsthumbnail -s 200x200 -m centre -o "$WORK/vout/%s.jpg[Q=85,strip]" "$WORK"/portraits/*.jpg
	echo "{\"round\":$r,\"case\":\"vips-portrait\",\"load\":$la,\"files\":$VIPS_FILES,\"r\":$(cat "$WORK/v")}" >>"$OUT/results.jsonl"
	res=$(load -key h -copies $((HUGE_N * ROUNDS + 1)) -first $(((r - 1) * HUGE_N)) -n "$HUGE_N" -c 1 \
		-fop imageView2/2/w/500/h/500 -out "$OUT/ufop-huge.jpg")
	echo "{\"round\":$r,\"case\":\"ufop-huge\",\"load\":$la,\"r\":$res}" >>"$OUT/results.jsonl"
	for _ in $(seq "$HUGE_N"); do
		vips_time "$WORK/v" vipsthumbnail -s 500x500 -o "$WORK/vout/%s.jpg[Q=85,strip]" "$HUGE"
		echo "{\"round\":$r,\"case\":\"vips-huge\",\"load\":$la,\"r\":$(cat "$WORK/v")}" >>"$OUT/results.jsonl"
	done
done
cp "$WORK/vout/p$(seq -w "$VIPS_FILES" | head -n1).jpg" "$OUT/vips-portrait.jpg"
cp "$WORK/vout/9643x10328.jpg" "$OUT/vips-huge.jpg"

# --- quality at q80 against a Lanczos reference from the full decode --------
echo "== quality at q80" >&2
load -key p -copies 10 -n 1 -fop imageView2/1/w/200/h/200/q/80 -out "$OUT/q80-ufop-portrait.jpg" >/dev/null
load -key h -copies $((HUGE_N * ROUNDS + 1)) -first $((HUGE_N * ROUNDS)) -n 1 -fop imageView2/2/w/500/h/500/q/80 \
	-out "$OUT/q80-ufop-huge.jpg" >/dev/null
VIPS_CONCURRENCY=1 vipsthumbnail -s 200x200 -m centre -o "$OUT/q80-vips-portrait.jpg[Q=80,strip]" "$PORTRAIT"
VIPS_CONCURRENCY=1 vipsthumbnail -s 500x500 -o "$OUT/q80-vips-huge.jpg[Q=80,strip]" "$HUGE"
stop "$UFOPD_PID"
UFOPD_PID=
"$WORK/quality" -mode fill "$PORTRAIT" "$OUT/q80-ufop-portrait.jpg" "$OUT/q80-vips-portrait.jpg" >"$OUT/quality.jsonl"
"$WORK/quality" -mode fit "$HUGE" "$OUT/q80-ufop-huge.jpg" "$OUT/q80-vips-huge.jpg" >>"$OUT/quality.jsonl"

# --- concurrency: CONC 100 MP requests at once, default GOMAXPROCS ----------
echo "== ufopd up (all CPUs): $CONC concurrent 100 MP requests" >&2
start_ufopd env
taskset -c "$LOAD_CPU" "$WORK/httpload" -mode upload -config "$CONF" -key c -copies "$CONC" "$HUGE"
res=$(load -key c -copies "$CONC" -n "$CONC" -c "$CONC" -fop imageView2/2/w/500/h/500)
echo "{\"round\":0,\"case\":\"ufop-huge-concurrent\",\"load\":$(cut -d' ' -f1 /proc/loadavg),\"r\":$res}" >>"$OUT/results.jsonl"
stop "$UFOPD_PID"
UFOPD_PID=

python3 "$ROOT/bench/images/httpreport.py" "$OUT" "$VIPS_FILES"
echo "results in $OUT" >&2
