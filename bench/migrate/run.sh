#!/bin/bash
# bench/migrate/run.sh: bulk migration figures (docs/benchmarks.md, "Bulk
# migration"). 1. s3bench: N objects of 10–200 KB from one bucket of a local
# versitygw into ufop on S3 on the same server, side by side with rclone copy
# (server-side and streamed), then a run kill -9'd at 50% and resumed, with the
# server's PUT count per key. 2. scale: a synthetic job of many keys through
# etcd and JetStream, with peak RSS. Needs Go, versitygw and rclone.
#
#   bench/migrate/run.sh [N] [KEYS]      defaults 10000 objects, 10000000 keys
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="bench/out/migrate-$stamp"
mkdir -p "$out"
go run ./bench/migrate/s3bench -n "${1:-10000}" -workers 16 | tee "$out/s3.txt"
go run ./bench/migrate/scale -keys "${2:-10000000}" | tee "$out/scale.txt"
echo "results in $out"
