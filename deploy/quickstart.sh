#!/usr/bin/env bash
# Quickstart: install build dependencies, build, start rosterd on loopback
# with its store in ./roster-data, register demo services, and show them
# through `roster query` and `dig`. Leaves rosterd running.
set -euo pipefail
cd "$(dirname "$0")/.."

"$PWD/deploy/install-deps.sh" build-essential pkg-config meson ninja-build \
	libuv1-dev libldns-dev liblmdb-dev libprotobuf-c-dev protobuf-c-compiler \
	libjansson-dev dnsutils

if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build
