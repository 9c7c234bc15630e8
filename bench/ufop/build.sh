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

# measure LABEL CMD...: wall time, and CPU time when GNU time is there (the
# machine may be shared: CPU seconds are the steadier number).
measure() {
	label=$1
	shift
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f "$label: %e s wall, %U s user + %S s sys CPU" "$@" >/dev/null
	else
		t0=$(date +%s.%N)
		"$@" >/dev/null
		echo "$label: $(echo "$(date +%s.%N) - $t0" | bc) s wall"
	fi
}

echo "== go build of examples/sepia (CGO_ENABLED=0, static), load: $(cut -d' ' -f1-3 /proc/loadavg)"
measure "cold (empty GOCACHE)" env GOCACHE="$tmp/gocache" "$root/examples/package.sh" sepia "$tmp/cold"
"$root/examples/package.sh" sepia "$tmp/warm" >/dev/null # fills the normal cache
measure "warm" "$root/examples/package.sh" sepia "$tmp/warm"
echo "package: $(du -b "$tmp/warm/sepia.tar.gz" | cut -f1) bytes compressed, handler $(du -b "$tmp/warm/sepia/handler" | cut -f1) bytes"

echo "== image build through the Engine API (builder.Builder)"
cd "$root"
go test -run '^$' -bench '^BenchmarkBuild$' -benchtime "${BENCHTIME:-3x}" ./builder/
