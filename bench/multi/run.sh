#!/bin/bash
# bench/multi/run.sh - a site with two registries: how long a registry that
# was killed and restarted empty lacks instances (issue 15), one command.
#
#   bench/multi/run.sh [--build DIR] [--clients N] [--ttl S] [--rounds R] [--down S]
#
# Builds rosterd and roster-probe (release build in build-bench/ unless
# --build), starts two rosterd on loopback (temp dirs, kernel-chosen ports)
# named as one site in a sites.conf, and N libroster clients in one process
# (`roster-probe many --site`, each client its own lease, connection pair
# and endpoint) that hold their leases at both. Then, R rounds, the two
# registries in turn: kill -9 one, wipe its data dir, restart it on the same
# ports (after --down S seconds down, default 0: at once, a crash and a
# restart by systemd; 5: a host that is down a while, so that the clients'
# reconnect backoff has grown), and time until it holds all N leased
# instances again (every
# client's writes reaching both again), from the kill and from the
# restart's exec. Prints each round and the median/max.
# Defaults: N = 1,000, TTL 10 s (libroster's default), 5 rounds.
# Everything started here is stopped, and the temp dir removed, on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build-bench
ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$2; shift ;;
	--clients|--ttl|--rounds|--down) ARGS+=("$1" "$2"); shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" --buildtype=release -Dtests=disabled >/dev/null
fi
ninja -C "$BUILD" -j2 server/rosterd client/examples/roster-probe >/dev/null
exec /usr/bin/python3 "$ROOT/bench/multi/bench.py" --build "$BUILD" "${ARGS[@]}"
