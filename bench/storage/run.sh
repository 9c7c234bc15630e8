#!/usr/bin/env bash
# Object PUT/GET throughput through the gateway, per storage backend (Disk,
# S3 on a local versitygw), side by side with the same operations sent
# straight to versitygw by rclone, in one run. Loopback only.
#
#   bench/storage/run.sh            SCALE=0.5 bench/storage/run.sh (fewer objects)
#
# Prints a markdown table; ufopd's RSS is sampled every 20 ms during each
# gateway op. Needs rclone (Debian package) and versitygw (installed by
# scripts/test.sh, or: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$PATH:$(go env GOPATH)/bin"
command -v rclone >/dev/null || { echo "run.sh: please install rclone (apt-get install rclone)" >&2; exit 1; }
command -v versitygw >/dev/null || go install github.com/versity/versitygw/cmd/versitygw@v1.8.0

WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
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
	echo "run.sh: $1 did not answer" >&2
	return 1
}

mkdir -p "$ROOT/bench/out"
(cd "$ROOT" && go build -o bench/out/ufopd ./cmd/ufopd &&
	go build -o bench/out/ufopctl ./cmd/ufopctl &&
	go build -o bench/out/storagebench ./bench/storage)

AK=benchak SK=benchsecretkey
S3PORT=$(freeport)
mkdir -p "$WORK/s3"
versitygw --access $AK --secret $SK --port "127.0.0.1:$S3PORT" --keep-alive --quiet posix "$WORK/s3" >"$WORK/versitygw.log" 2>&1 &
PIDS+=($!)
S3=http://127.0.0.1:$S3PORT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && break; sleep 0.1; done
REMOTE=":s3,provider=Other,endpoint=\"$S3\",access_key_id=$AK,secret_access_key=$SK:"
# rclone's transport cannot take a custom CA bundle; loopback http needs none.
env -u AWS_CA_BUNDLE rclone mkdir "${REMOTE}ufop" -q
env -u AWS_CA_BUNDLE rclone mkdir "${REMOTE}direct" -q

# start NAME STORAGE_URL: one `ufopd up` with its own ports and data dir.
GWFLAGS=()
start() {
	local name=$1 storage=$2 port
	port=$(freeport)
	mkdir -p "$WORK/$name"
	AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK "$ROOT/bench/out/ufopd" up --data "$WORK/$name" \
		--addr "127.0.0.1:$port" --etcd-addr "127.0.0.1:$(freeport)" --etcd-peer-addr "127.0.0.1:$(freeport)" \
		--nats-port -1 --storage "$storage" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	echo $! >"$WORK/$name/ufopd.pid"
	wait_http "http://127.0.0.1:$port/healthz" || { tail -20 "$WORK/$name.log" >&2; exit 1; }
	for _ in $(seq 100); do [ -s "$WORK/$name/ufopctl.json" ] && break; sleep 0.1; done
	GWFLAGS+=(-gateway "gateway ($name)=http://127.0.0.1:$port,$WORK/$name/ufopctl.json")
}
start disk "file://$WORK/disk/objects"
start s3 "s3://ufop/objects?endpoint=$S3"
# The benchmark's bucket on each gateway.
for g in disk s3; do "$ROOT/bench/out/ufopctl" --config "$WORK/$g/ufopctl.json" bucket create bench >/dev/null; done

{
	echo "date: $(date -u +%FT%TZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
	rclone version | head -1
}
"$ROOT/bench/out/storagebench" "${GWFLAGS[@]}" -s3-endpoint "$S3" -s3-ak $AK -s3-sk $SK -s3-bucket direct \
	-c "${CONC:-4}" -scale "${SCALE:-1}"
