#!/bin/sh
# Start-to-healthy time of a UFOP instance on the local Docker engine
# (package container; needs /var/run/docker.sock and root for iptables).
# Usage: bench/container-start.sh [count]   (default 10 starts)
set -eu
cd "$(dirname "$0")/.."
exec go test ./container -run '^$' -bench BenchmarkStartToHealthy -benchtime "${1:-10}x" -count 1
