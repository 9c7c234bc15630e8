#!/usr/bin/env bash
# bench/images/run.sh: ufop's built-in image ops against vipsthumbnail and
# nginx's image_filter, per core, on the same files, in one run.
#
#   portrait.jpg (800x533)     -> 200x200 fill: images/s/core
#   9643x10328.jpg (100 MP)    -> 500x500 fit:  wall time and peak RSS
#
# Per core: every measured process is pinned to one CPU (taskset), ufop runs
# with GOMAXPROCS=1, vipsthumbnail with VIPS_CONCURRENCY=1 and many files in
# one call (its start-up is amortised), nginx with one worker; the load
# generator (wrk) runs on another CPU. Only 127.0.0.1 is used.
#
# Usage: bench/images/run.sh        (from anywhere; installs missing Debian
#                                    packages with apt-get when run as root)
# Env:   IMAGES (test image dir), UFOP_N (ufop portrait iterations, 300),
#        VIPS_FILES (portrait copies per vipsthumbnail call, 100),
#        HUGE_RUNS (runs of the 100 MP case, best taken, 5),
#        NGINX_SECONDS (wrk duration, 10), PORT (nginx port, 18089),
#        BENCH_CPU / LOAD_CPU (CPU for the measured process / for wrk).
# Output: a table on stdout, and results.md, results.json and the raw
#         outputs under bench/out/images-<UTC time>/ (gitignored).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGES=${IMAGES:-$ROOT/../shared/testdata/images}
UFOP_N=${UFOP_N:-300}
VIPS_FILES=${VIPS_FILES:-100}
HUGE_RUNS=${HUGE_RUNS:-5}
NGINX_SECONDS=${NGINX_SECONDS:-10}
PORT=${PORT:-18089}
NCPU=$(nproc)
BENCH_CPU=${BENCH_CPU:-$((NCPU - 1))}
LOAD_CPU=${LOAD_CPU:-0}
OUT=$ROOT/bench/out/images-$(date -u +%Y%m%dT%H%M%SZ)
PORTRAIT=$IMAGES/portrait.jpg
HUGE=$IMAGES/9643x10328.jpg

for f in "$PORTRAIT" "$HUGE"; do
	[ -r "$f" ] || { echo "run.sh: missing test image $f (set IMAGES)" >&2; exit 1; }
done

# --- tools -----------------------------------------------------------------
need=()
command -v vipsthumbnail >/dev/null || need+=(libvips-tools)
command -v nginx >/dev/null || need+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_image_filter_module.so ] || need+=(libnginx-mod-http-image-filter)
command -v wrk >/dev/null || need+=(wrk)
[ -x /usr/bin/time ] || need+=(time)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
install_packages "${need[@]}" || exit 1

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/ufop-bench-images.XXXXXX)
NGINX_PID=
cleanup() {
	if [ -n "$NGINX_PID" ]; then
		kill "$NGINX_PID" 2>/dev/null || true
		wait "$NGINX_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK"

pin() { taskset -c "$BENCH_CPU" "$@"; }

# now_ms prints a monotonic-enough wall clock in milliseconds.
now_ms() { date +%s%3N; }

# timed OUTFILE CMD...: runs CMD pinned, appends "wall_ms cpu_ms max_rss_kb"
# to OUTFILE (cpu = user + system).
timed() {
	local out=$1
	shift
	local t0 t1
	t0=$(now_ms)
	pin /usr/bin/time -f "%U %S %M" -o "$WORK/time" "$@" >>"$OUT/stdout.log" 2>>"$OUT/stderr.log"
	t1=$(now_ms)
	awk -v w=$((t1 - t0)) '{printf "%d %d %d\n", w, ($1 + $2) * 1000, $3}' "$WORK/time" >>"$out"
}

# proc_cpu_ms PID: user+system CPU time of a process so far, in ms.
proc_cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$1/stat"; }

echo "== build imgbench" >&2
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/imgbench" ./bench/images/imgbench)
go version >"$OUT/env.txt"
{ vips --version; nginx -v 2>&1; uname -sr; grep -m1 'model name' /proc/cpuinfo; nproc; echo "start: $(uptime)"; } >>"$OUT/env.txt"

# --- ufop --------------------------------------------------------------------
echo "== ufop portrait -> imageView2/1/w/200/h/200 (GOMAXPROCS=1, $UFOP_N runs)" >&2
GOMAXPROCS=1 pin "$WORK/imgbench" -op imageView2/1/w/200/h/200 -n "$UFOP_N" -warmup 10 \
	-out "$OUT/ufop-portrait.jpg" "$PORTRAIT" >"$OUT/ufop-portrait.json"
echo "== plain Go portrait (image/jpeg + imaging Lanczos + encode)" >&2
GOMAXPROCS=1 pin "$WORK/imgbench" -mode plain -op imageView2/1/w/200/h/200 -n $((UFOP_N / 3)) -warmup 3 \
	-out "$OUT/plain-portrait.jpg" "$PORTRAIT" >"$OUT/plain-portrait.json"

echo "== ufop 100 MP -> imageView2/2/w/500/h/500 ($HUGE_RUNS fresh processes)" >&2
: >"$WORK/ufop-huge"
for _ in $(seq "$HUGE_RUNS"); do
	GOMAXPROCS=1 timed "$WORK/ufop-huge" "$WORK/imgbench" -op imageView2/2/w/500/h/500 -n 1 -warmup 0 \
		-out "$OUT/ufop-huge.jpg" "$HUGE"
done
grep -F '"mode":"ufop","op":"imageView2/2/w/500/h/500"' "$OUT/stdout.log" >"$OUT/ufop-huge.jsonl"
echo "== plain Go 100 MP -> 500x500 fit (one run: several seconds, ~300 MB)" >&2
: >"$WORK/plain-huge"
GOMAXPROCS=1 timed "$WORK/plain-huge" "$WORK/imgbench" -mode plain -op imageView2/2/w/500/h/500 -n 1 -warmup 0 "$HUGE"

# --- vipsthumbnail -----------------------------------------------------------
echo "== vipsthumbnail portrait x$VIPS_FILES -> 200x200 centre crop (VIPS_CONCURRENCY=1)" >&2
mkdir -p "$WORK/portraits" "$WORK/vips-out"
for i in $(seq -w "$VIPS_FILES"); do cp "$PORTRAIT" "$WORK/portraits/p$i.jpg"; done
: >"$WORK/vips-portrait"
for _ in 1 2 3; do
	VIPS_CONCURRENCY=1 timed "$WORK/vips-portrait" vipsthumbnail -s 200x200 -m centre \
		-o "$WORK/vips-out/%s.jpg[Q=85,strip]" "$WORK"/portraits/*.jpg
done
cp "$WORK/vips-out/p$(seq -w "$VIPS_FILES" | head -n1).jpg" "$OUT/vips-portrait.jpg"

echo "== vipsthumbnail 100 MP -> 500x500 fit ($HUGE_RUNS runs)" >&2
: >"$WORK/vips-huge"
for _ in $(seq "$HUGE_RUNS"); do
	VIPS_CONCURRENCY=1 timed "$WORK/vips-huge" vipsthumbnail -s 500x500 \
		-o "$WORK/vips-out/%s.jpg[Q=85,strip]" "$HUGE"
done
cp "$WORK/vips-out/9643x10328.jpg" "$OUT/vips-huge.jpg"

# --- nginx image_filter ------------------------------------------------------
echo "== nginx image_filter (1 worker), wrk ${NGINX_SECONDS}s per case" >&2
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp" "$WORK/www"
cp "$PORTRAIT" "$WORK/www/portrait.jpg"
chmod -R a+rX "$WORK/www"
cat >"$WORK/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_image_filter_module.so;
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx/tmp/body;
	proxy_temp_path $WORK/nginx/tmp/proxy;
	fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
	uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
	scgi_temp_path $WORK/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$PORT;
		image_filter_buffer 20M;
		image_filter_jpeg_quality 85;
		location /crop/ { alias $WORK/www/; image_filter crop 200 200; }
		location /resize/ { alias $WORK/www/; image_filter resize 200 200; }
	}
}
CONF
# taskset execs nginx, so $! is the master's pid (a shell function would
# put a subshell in between).
taskset -c "$BENCH_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 50); do
	if python3 - "$PORT" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/crop/portrait.jpg", timeout=1).read()
PY
	sleep 0.1
done
python3 - "$PORT" "$OUT/nginx-portrait.jpg" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/crop/portrait.jpg", timeout=5).read()
open(sys.argv[2], "wb").write(body)
PY
# The master only waits; the single worker does the work on BENCH_CPU.
WORKER=$(pgrep -P "$NGINX_PID" | head -n1)
[ -n "$WORKER" ] || { echo "run.sh: no nginx worker process" >&2; exit 1; }
for kind in crop resize; do
	c0=$(proc_cpu_ms "$WORKER")
	taskset -c "$LOAD_CPU" wrk -t1 -c4 -d"${NGINX_SECONDS}s" "http://127.0.0.1:$PORT/$kind/portrait.jpg" >"$OUT/wrk-$kind.txt"
	c1=$(proc_cpu_ms "$WORKER")
	awk -v c0="$c0" -v c1="$c1" '/ requests in / {printf "%d %d\n", $1, c1 - c0}' "$OUT/wrk-$kind.txt" >"$OUT/nginx-$kind-cpu.txt"
done
kill "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=

# --- table -------------------------------------------------------------------
cp "$WORK"/ufop-huge "$WORK"/vips-huge "$WORK"/vips-portrait "$WORK"/plain-huge "$OUT/"
if grep -q Non-2xx "$OUT"/wrk-*.txt; then echo "run.sh: nginx answered errors, see $OUT/wrk-*.txt" >&2; fi
echo "end: $(uptime)" >>"$OUT/env.txt"
echo "VIPS_FILES=$VIPS_FILES HUGE_RUNS=$HUGE_RUNS NGINX_SECONDS=$NGINX_SECONDS UFOP_N=$UFOP_N" >>"$OUT/env.txt"
python3 "$ROOT/bench/images/report.py" "$OUT" "$VIPS_FILES"
echo "results in $OUT" >&2
