#!/bin/bash
# bench/queue/run.sh: issue 5's figures. 1. the burst on `ufopd up`'s
# platform (scaler on): time to the first new instance and to all 5,
# latency during the burst, return to min; samples.csv and burst.png
# (queue depth, healthy and desired instances over time). 2. queue
# overhead per job: the same UFOP call through a gateway that queues the
# job on NATS JetStream and one that calls the agent over HTTP, side by
# side in one run (bench/ufop/roundtrip, targets http and queue, with the
# container itself as the floor). Needs Go and a Docker engine.
#
#   bench/queue/run.sh            both
#   bench/queue/run.sh burst      only the burst
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="bench/out/queue-$stamp"
mkdir -p "$out"
go run ./bench/queue/burst -images ../shared/testdata/images -out "$out" | tee "$out/burst.txt"
if [ "${1:-}" != burst ]; then
	go run ./bench/ufop/roundtrip -images ../shared/testdata/images -payload grayscale.jpg \
		-targets container,http,queue | tee "$out/overhead.txt"
fi
echo "results in $out"
