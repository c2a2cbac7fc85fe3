#!/bin/bash
# bench/client/run.sh - the client's own cost, Python beside libroster (issue 17).
#
#   bench/client/run.sh [--build DIR] [--clients N] [--seconds S] [--ttl S]
#
# Builds rosterd, roster-probe and the Python package (release build in
# build-bench/ unless --build), starts one rosterd on loopback (temp dir,
# kernel-chosen ports), and measures for each client:
#   - client CPU per heartbeat: N clients (each its own lease and
#     connection) in one process, user+system CPU over the window divided
#     by the heartbeats acknowledged (libroster: N clients on one libuv
#     loop, `roster-probe many`; Python: N roster.Client, each with its
#     engine thread, bench/client/pymany.py);
#   - memory per client: (RSS with N clients - RSS with one) / (N - 1);
#   - memory per endpoint: one client, N endpoints under one lease, the
#     same difference;
# and prints them side by side with the Python/libroster ratio.
# Defaults: N = 1,000, TTL 3 s (a heartbeat per client per second), 6 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build-bench
ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--clients|--seconds|--ttl) ARGS+=("$1" "$2"); shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=disabled >/dev/null
fi
ninja -C "$BUILD" -j2 server/rosterd client/examples/roster-probe \
	clients/python/roster-python.stamp >/dev/null
exec /usr/bin/python3 "$ROOT/bench/client/bench.py" --build "$BUILD" "${ARGS[@]}"
