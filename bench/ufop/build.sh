#!/bin/sh
# bench/ufop/build.sh: how long it takes to turn the sepia example UFOP into
# an image, in two parts:
#   1. compiling the static binary (examples/package.sh): cold (empty Go
#      build cache) and warm;
#   2. building the image through builder.Builder against the local Docker
#      engine (BenchmarkBuild): cold (new content, COPY runs) and warm
#      (same content, layer cache hits).
# Run from anywhere; needs Go and a Docker engine. Results go to stdout.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

echo "== go build of examples/sepia (CGO_ENABLED=0, static)"
t0=$(now)
GOCACHE="$tmp/gocache" "$root/examples/package.sh" sepia "$tmp/cold" >/dev/null
t1=$(now)
"$root/examples/package.sh" sepia "$tmp/warm" >/dev/null # fills the normal cache
t2=$(now)
"$root/examples/package.sh" sepia "$tmp/warm" >/dev/null
t3=$(now)
echo "cold (empty GOCACHE): $(elapsed "$t0" "$t1") s"
echo "warm:                 $(elapsed "$t2" "$t3") s"
echo "package: $(du -b "$tmp/warm/sepia.tar.gz" | cut -f1) bytes compressed, handler $(du -b "$tmp/warm/sepia/handler" | cut -f1) bytes"

echo "== image build through the Engine API (builder.Builder)"
cd "$root"
go test -run '^$' -bench '^BenchmarkBuild$' -benchtime "${BENCHTIME:-3x}" ./builder/
