#!/bin/sh
# package.sh NAME OUTDIR: build the example UFOP NAME (sepia, slow) as a
# static linux binary into OUTDIR/NAME/ with its ufop.yaml, and pack that
# directory as OUTDIR/NAME.tar.gz, ready for `ufopctl build NAME -f`.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 NAME OUTDIR" >&2
	exit 2
fi
name=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "$here/$name/ufop.yaml" ]; then
	echo "package.sh: no example named $name in $here" >&2
	exit 2
fi

mkdir -p "$out/$name"
(cd "$here" && CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' \
	-o "$(cd "$out/$name" && pwd)/handler" "./$name")
cp "$here/$name/ufop.yaml" "$out/$name/ufop.yaml"
# Sorted names, root ownership and a fixed time: the same input gives the
# same tarball.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
	-C "$out/$name" -czf "$out/$name.tar.gz" .
echo "$out/$name.tar.gz"
