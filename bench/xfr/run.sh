#!/bin/bash
# bench/xfr/run.sh - the transfer benchmark (issue 12), one command.
#
#   bench/xfr/run.sh [--quick] [--build DIR] [--keep]
#
# How fresh a stock NSD secondary is: the time from a change's
# acknowledgement by the primary to the secondary's first answer for it,
# median, p99 and max, at 10, 100 and 1,000 changes/s (bench/xfr/fresh.py).
#   ours: rosterd (release build) as the stealth primary, NOTIFYing an NSD
#         secondary (--notify, --xfr-allow), changes as API registrations;
#   peer: BIND as the primary of the same zone, changes as RFC 2136
#         UPDATEs, NOTIFYing its own NSD secondary (notify-delay 0), the
#         path a fleet would build from stock parts.
# Both secondaries have the same configuration (xfrd-reload-timeout 0, no
# zone file writes). Also: transfer octets per change as each NSD received
# them (its log names every transfer it applied), and rosterd's transfers
# by type. Rates run in turn, ours then the peer's, twice (once
# with --quick); each figure is the median over the rounds.
# Everything started here is stopped, and the temp dir removed, on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build-bench
QUICK=0
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--build)
		BUILD=$2
		shift
		;;
	--keep) KEEP=1 ;;
	-h | --help)
		sed -n '2,20p' "$0"
		exit 0
		;;
	*)
		echo "run.sh: unknown option $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
if [ $QUICK = 1 ]; then
	ROUNDS=1
	SECS=4
else
	ROUNDS=2
	SECS=10
fi
RATES="10 100 1000"

for tool in meson ninja nsd named curl; do
	command -v $tool >/dev/null || {
		echo "run.sh: $tool is missing (apt-get install meson ninja-build nsd bind9 curl)" >&2
		exit 2
	}
done
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" -Dbuildtype=release -Dtests=disabled >/dev/null
fi
ninja -C "$BUILD" -j2 server/rosterd >/dev/null
ROSTERD=$BUILD/server/rosterd
PY=/usr/bin/python3
ZONE=services.lon6.example.net

TMP=$(mktemp -d /tmp/roster-xfr-bench.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	done
	if [ $KEEP = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "== $*" >&2; }
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_dns() { # port: until it answers the zone's SOA
	local i
	for i in $(seq 200); do
		if dig +time=1 +tries=1 @127.0.0.1 -p "$1" $ZONE SOA +short 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.05
	done
	echo "run.sh: nothing answers on port $1" >&2
	exit 1
}

API=$(port)
DNS=$(port)
HTTP=$(port)
NSD_OURS=$(port)
NSD_PEER=$(port)
BIND=$(port)
BIND_CTL=$(port)

# ---- the secondaries: NSD, the same for both primaries ------------------------
start_nsd() { # name port primary_port
	local d=$TMP/$1
	mkdir -p "$d"
	cat >"$d/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1
	port: $2
	zonesdir: "$d"
	database: ""
	pidfile: "$d/nsd.pid"
	xfrdfile: "$d/xfrd.state"
	zonelistfile: "$d/zone.list"
	logfile: "$d/nsd.log"
	username: ""
	chroot: ""
	verbosity: 1
	# Apply every transfer at once (the default waits up to a second
	# between reloads), and keep zones in memory only.
	xfrd-reload-timeout: 0
	zonefiles-write: 0
	# Large RRsets (docs/operations.md): a 2,500-endpoint SRV set is fine.
remote-control:
	control-enable: no
pattern:
	name: "roster"
	allow-notify: 127.0.0.1 NOKEY
	request-xfr: 127.0.0.1@$3 NOKEY
zone:
	name: "$ZONE"
	include-pattern: "roster"
EOF
	nsd -d -c "$d/nsd.conf" >/dev/null 2>&1 &
	PIDS+=($!)
}

# ---- the peer: BIND as a primary taking UPDATEs --------------------------------
start_bind() {
	local d=$TMP/bind
	mkdir -p "$d"
	cat >"$d/zone.db" <<EOF
\$TTL 5
@ IN SOA ns1.example.net. hostmaster.example.net. 1 60 30 604800 5
@ IN NS ns1.example.net.
EOF
	cat >"$d/named.conf" <<EOF
options {
	directory "$d";
	listen-on port $BIND { 127.0.0.1; };
	listen-on-v6 { none; };
	pid-file "$d/named.pid";
	recursion no;
	notify explicit;
	notify-delay 0;
	also-notify { 127.0.0.1 port $NSD_PEER; };
	allow-transfer { 127.0.0.1; };
	max-records-per-type 0;
};
controls { };
logging {
	category default { null; };
};
zone "$ZONE" {
	type primary;
	file "$d/zone.db";
	allow-update { 127.0.0.1; };
};
EOF
	named -g -c "$d/named.conf" >"$d/named.out" 2>&1 &
	PIDS+=($!)
}

log "rosterd (primary, NOTIFY to NSD on $NSD_OURS), BIND (primary, NOTIFY to NSD on $NSD_PEER)"
mkdir -p "$TMP/data"
"$ROSTERD" --site lon6 --domain example.net --data "$TMP/data" --api 127.0.0.1:$API \
	--dns 127.0.0.1:$DNS --http 127.0.0.1:$HTTP --xfr-allow 127.0.0.1 --xfr-warmup 0 \
	--notify 127.0.0.1:$NSD_OURS --log-level notice 2>"$TMP/rosterd.log" &
PIDS+=($!)
start_bind
wait_dns $DNS
wait_dns $BIND
start_nsd nsd-ours $NSD_OURS $DNS
start_nsd nsd-peer $NSD_PEER $BIND
wait_dns $NSD_OURS
wait_dns $NSD_PEER

# Transfer octets as each secondary received them (NSD logs every applied
# transfer: "received update to serial N ... of B bytes"), the same measure
# for both primaries.
xfr_bytes() { # nsd dir
	{ grep -o 'received update to serial [0-9]* .* of [0-9]* bytes' "$TMP/$1/nsd.log" ||
		true; } | awk '{s += $(NF - 1)} END {print s + 0}'
}

: >"$TMP/results"
for r in $(seq $ROUNDS); do
	for rate in $RATES; do
		for side in ours peer; do
			if [ $side = ours ]; then
				args=(--mode roster --port $API --secondary $NSD_OURS)
			else
				args=(--mode update --port $BIND --secondary $NSD_PEER)
			fi
			b0=$(xfr_bytes nsd-$side)
			out=$($PY "$ROOT/bench/xfr/fresh.py" "${args[@]}" --rate "$rate" --secs $SECS \
				--prefix "r${r}x${rate}" || true)
			b1=$(xfr_bytes nsd-$side)
			echo "$side $rate $out bytes=$((b1 - b0))" >>"$TMP/results"
			echo "   round $r, $rate/s, $side: ${out#RESULT } xfr_bytes=$((b1 - b0))" >&2
		done
	done
done

# ---- the table ---------------------------------------------------------------------
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
get() { # side rate field
	awk -v s="$1" -v r="$2" -v f="$3" '$1 == s && $2 == r {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' \
		"$TMP/results" | median
}
printf '\n%-34s %12s %12s %8s\n' "freshness through an NSD secondary" "rosterd" "BIND+UPDATE" "ratio"
for rate in $RATES; do
	for f in p50_ms p99_ms max_ms; do
		o=$(get ours "$rate" $f)
		p=$(get peer "$rate" $f)
		printf '%-34s %12s %12s %8s\n' "$rate changes/s, $f" "$o" "$p" \
			"$(awk -v o="$o" -v p="$p" 'BEGIN {if (p > 0) printf "%.2fx", o / p; else print "-"}')"
	done
	n=$(get ours "$rate" n)
	o=$(get ours "$rate" bytes)
	np=$(get peer "$rate" n)
	p=$(get peer "$rate" bytes)
	printf '%-34s %12s %12s\n' "$rate changes/s, transfer octets/change" \
		"$(awk -v b="$o" -v n="$n" 'BEGIN {if (n > 0) printf "%.0f", b / n; else print "-"}')" \
		"$(awk -v b="$p" -v n="$np" 'BEGIN {if (n > 0) printf "%.0f", b / n; else print "-"}')"
	printf '%-34s %12s %12s\n' "$rate changes/s, lost (not seen)" "$(get ours "$rate" lost)" \
		"$(get peer "$rate" lost)"
done
echo
echo "transfers by rosterd: $(curl -s "http://127.0.0.1:$HTTP/metrics" |
	awk '/^roster_dns_transfers_total/ && $2 > 0 {printf "%s=%s ", $1, $2}')"
echo "targets (issue 12): 100/s p50 <= 50 ms, p99 <= 250 ms; 1000/s max <= 1000 ms"
