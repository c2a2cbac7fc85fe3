#!/usr/bin/env bash
# Roster in one command, on loopback:
#   1. installs the missing build dependencies (Debian 12, apt);
#   2. builds everything into build/;
#   3. starts rosterd in the background (DNS 127.0.0.1:8053, API :7600,
#      HTTP :7680), its LMDB store, pid file and log in ./roster-data;
#   4. registers demo services and shows them through `roster query` and `dig`;
#   5. leaves rosterd running and prints how to stop it.
# Running it again reuses the rosterd it started (the demo registrations are
# idempotent). `./deploy/quickstart.sh stop` stops it: the one on
# ROSTER_DATA when that is set, else the one of the last run (whatever data
# dir it used); the hint printed at the end says exactly what to run.
#
# Environment: ROSTER_DNS_PORT, ROSTER_API_PORT, ROSTER_HTTP_PORT and
# ROSTER_DATA override the ports and the data dir; ROSTER_SITE and
# ROSTER_DOMAIN the zone (services.<site>.<domain>).
set -euo pipefail
invoked_from=$PWD
cd "$(dirname "$0")/.."
root=$PWD

site=${ROSTER_SITE:-lon6}
domain=${ROSTER_DOMAIN:-example.net}
dns_port=${ROSTER_DNS_PORT:-8053}
api_port=${ROSTER_API_PORT:-7600}
http_port=${ROSTER_HTTP_PORT:-7680}
data=${ROSTER_DATA:-$root/roster-data}
# The data dir of the last run, for a `stop` given no ROSTER_DATA.
lastfile=$root/build/quickstart-last-data
if [ "${1:-}" = stop ] && [ -z "${ROSTER_DATA:-}" ] && [ -f "$lastfile" ]; then
	data=$(cat "$lastfile")
fi
zone="services.$site.$domain"
pidfile=$data/rosterd.pid
logfile=$data/rosterd.log
rosterd=$root/build/server/rosterd
roster=$root/build/client/roster

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

# The pid of the rosterd this script started, if it still runs.
running_pid() {
	local pid cmd
	[ -f "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	# A recycled pid is not ours: check it is our rosterd on our data dir.
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ "$cmd" == "$rosterd "*" --data $data "* ]] || return 1
	echo "$pid"
}

# Is something listening on 127.0.0.1:<port> (TCP)?
port_busy() {
	# shellcheck disable=SC2016 # $1 is the inner shell's
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Does rosterd's /healthz answer 200? (bash's /dev/tcp: curl is not in the base image)
healthy() {
	local reply
	# shellcheck disable=SC2016 # $1 is the inner shell's
	reply=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3 &&
		cat <&3' _ "$http_port" 2>/dev/null) || return 1
	[[ "$reply" == "HTTP/1.1 200 "* ]]
}

if [ "${1:-}" = stop ]; then
	if pid=$(running_pid); then
		kill -TERM "$pid"
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		rm -f "$pidfile"
		if [ -f "$lastfile" ] && [ "$(cat "$lastfile")" = "$data" ]; then
			rm -f "$lastfile"
		fi
		echo "rosterd (pid $pid) stopped; its store stays in $data"
	else
		echo "no rosterd started by the quickstart is running"
	fi
	exit 0
fi

say "Installing missing build dependencies"
"$root/deploy/install-deps.sh" build-essential pkg-config meson ninja-build \
	libuv1-dev libldns-dev liblmdb-dev libprotobuf-c-dev protobuf-c-compiler \
	libjansson-dev libsodium-dev libsystemd-dev liburing-dev dnsutils
echo "ok"

say "Building into build/"
if [ ! -f build/build.ninja ]; then
	# Without the test programs: criterion is not needed to try Roster
	# (tests/run.sh enables them in this same build dir).
	meson setup build -Dtests=disabled >/dev/null
fi
ninja -C build
if [ ! -x "$rosterd" ] || [ ! -x "$roster" ]; then
	die "the build did not produce $rosterd and $roster"
fi

say "Starting rosterd for $zone"
mkdir -p "$data"
if pid=$(running_pid); then
	echo "already running (pid $pid): reusing it"
else
	for p in "$dns_port" "$api_port" "$http_port"; do
		if port_busy "$p"; then
			die "127.0.0.1:$p is taken by another program; choose other ports with" \
				"ROSTER_DNS_PORT, ROSTER_API_PORT, ROSTER_HTTP_PORT"
		fi
	done
	# setsid: rosterd outlives this shell and its terminal.
	setsid "$rosterd" --site "$site" --domain "$domain" --data "$data" \
		--dns "127.0.0.1:$dns_port" --api "127.0.0.1:$api_port" \
		--http "127.0.0.1:$http_port" </dev/null >>"$logfile" 2>&1 &
	pid=$!
	echo "$pid" >"$pidfile"
	for _ in $(seq 100); do
		healthy && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! healthy; then
		tail -n 20 "$logfile" >&2
		rm -f "$pidfile"
		die "rosterd did not start (log: $logfile)"
	fi
	echo "started (pid $pid), log in $logfile"
fi
printf '%s\n' "$data" >"$lastfile"

say "Registering demo services"
r() { "$roster" --server "127.0.0.1:$api_port" "$@"; }
for i in 1 2 3; do
	r register --service metadata --protocol hm --host "$site-metadataproxy-a$i.$site.$domain" \
		--port 1234 --address "10.0.0.1$i" --address "fd00::1$i" --weight $((i * 10)) \
		--permanent
done
for i in 1 2; do
	r register --service web --protocol http --host "$site-web-a$i.$site.$domain" \
		--port 8080 --address "10.0.1.$i" --meta version=1.4.2 --permanent
done

say "roster query --service metadata --protocol hm"
r query --service metadata --protocol hm

say "dig @127.0.0.1 -p $dns_port _metadata._hm.$zone SRV"
dig @127.0.0.1 -p "$dns_port" "_metadata._hm.$zone" SRV +noall +answer +additional

say "dig @127.0.0.1 -p $dns_port web.$zone A +short"
dig @127.0.0.1 -p "$dns_port" "web.$zone" A +short

say "dig @127.0.0.1 -p $dns_port _status.$zone TXT +short"
dig @127.0.0.1 -p "$dns_port" "_status.$zone" TXT +short

pid=$(running_pid) || die "rosterd is gone (log: $logfile)"
# The stop command as it works from where this was run: the script's path
# from there, and the override stop needs (the data dir holds the pid file;
# the ports and the zone do not matter to it).
script=./deploy/quickstart.sh
if [ "$invoked_from" != "$root" ]; then
	script=$(printf '%q' "$root/deploy/quickstart.sh")
fi
stop_cmd="$script stop"
if [ -n "${ROSTER_DATA:-}" ]; then
	stop_cmd="ROSTER_DATA=$(printf '%q' "$ROSTER_DATA") $stop_cmd"
fi
cat <<EOF

rosterd is running (pid $pid) with its store in $data.
  status page   http://127.0.0.1:$http_port/
  metrics       http://127.0.0.1:$http_port/metrics
  try           $roster --server 127.0.0.1:$api_port list
                dig @127.0.0.1 -p $dns_port _web._http.$zone SRV
  stop it with  $stop_cmd      (or: kill $pid)
EOF
