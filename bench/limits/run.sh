#!/usr/bin/env bash
# bench/limits/run.sh: what limits cost per request, loopback only.
#
#   BenchmarkAdmit         the limiter on the download/processing path:
#                          catalog look-ups (user, limit rows: JSON decodes
#                          of the watched copy), token buckets, release;
#                          "defaults" (tier limits) and "rows" (user and
#                          command rows set)
#   BenchmarkReplayGuard   the admin API's replay check: in memory, and with
#                          the create-only etcd record (embedded etcd)
#   BenchmarkReplayCache   auth.ReplayCache alone (includes signing)
#
# Usage: bench/limits/run.sh   Env: BENCHTIME (go test -benchtime, 2s)
# Output: stdout, and bench/out/limits-<UTC time>.txt. Note the machine's
# load average with the numbers: on shared cores they move a lot.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
out=bench/out/limits-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p bench/out
{
	echo "# $(date -u) load: $(cut -d' ' -f1-3 /proc/loadavg) cores: $(nproc)"
	go test ./gateway -run '^$' -bench 'BenchmarkAdmit|BenchmarkReplayGuard' -benchtime "${BENCHTIME:-2s}" -cpu 1,2
	go test ./auth -run '^$' -bench 'BenchmarkReplayCache' -benchtime "${BENCHTIME:-2s}"
} 2>&1 | grep -E '^(#|Benchmark|ok|FAIL)' | tee "$out"
