#!/bin/bash
# bench/ufop/roundtrip.sh: issue 4's UFOP figures in one run — build of the
# slow example through the platform, instance start to healthy, and the
# round trip of a UFOP call through the platform (HTTP path and queue
# path) against calling the instance container directly, same payload,
# interleaved rounds. Needs Go and a Docker engine; talks to loopback and
# the Docker bridge only. Output: stdout and bench/out/ufop-<time>.txt.
#
#   bench/ufop/roundtrip.sh [flags of bench/ufop/roundtrip]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="bench/out/ufop-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p bench/out
go run ./bench/ufop/roundtrip -images ../shared/testdata/images "$@" | tee "$out"
echo "saved $out"
