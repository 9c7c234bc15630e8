#!/bin/bash
# bench/pfop/run.sh: persistent processing beside the synchronous path, in
# one run on one in-process platform: 1,000 jobs of three imageView2
# thumbnails with saveas on portrait.jpg, and the same 3,000 thumbnails as
# GETs, with the same concurrency. Prints jobs/s, the ratio to the sync
# rate and p50/p99 completion time (pfop: submission to notification).
#
#   bench/pfop/run.sh [pfopbench flags, e.g. -jobs 200 -c 8 -order pfop,sync]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="bench/out/pfop-$stamp"
mkdir -p "$out"
go run ./bench/pfop/pfopbench -image ../shared/testdata/images/portrait.jpg "$@" | tee "$out/pfop.txt"
echo "results in $out"
