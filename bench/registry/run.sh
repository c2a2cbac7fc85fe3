#!/bin/bash
# bench/registry/run.sh - the registry benchmark (issue 3), one command.
#
#   bench/registry/run.sh [--quick] [--tokens] [--latency] [--dns-threads N]
#                         [--build DIR] [--keep]
#
# Builds rosterd and the load generator (release), starts rosterd and Knot
# on loopback with their own temp dirs and kernel-chosen ports, and prints:
#   heartbeats/s; durable registrations/s with p50/p99 acknowledgement
#   latency beside the same load as RFC 2136 UPDATEs to Knot (rounds
#   interleaved rosterd, Knot, rosterd, Knot...; medians); RSS per instance
#   with N permanent instances; time from exec to serving N persisted
#   instances after a restart; DNS latency p50/p99 while a stream of
#   sequential registrations runs, beside the same without it, with three
#   controls: Knot answering beside that stream, Knot under its own stream
#   of RFC 2136 UPDATEs, and rosterd with its store on tmpfs (the disk's
#   flushes taken out); with N instances, the
#   damage check's share of the restart, a hot backup's time and size
#   (roster backup), and registrations/s and ack p99 while backups run
#   back to back beside them, against the same without.
# Last, the cost of access control: heartbeats/s and registrations/s against
# a rosterd with --api-tokens (every connection authenticated with a
# write:* token) beside one without, rounds interleaved (target: within 5 %).
# --quick: short phases and N = 100,000 (under a minute). Full: N = 1,000,000.
# --tokens: the access-control phase alone.
# --latency: the DNS-latency-under-a-registration-stream phase alone.
# --dns-threads N: rosterd answers UDP on N worker threads (default: its own).
# Everything started here is stopped, and the temp dir removed, on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$ROOT/build-bench
QUICK=0
KEEP=0
TOKENS_ONLY=0
LATENCY_ONLY=0
DNS_THREADS=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--build) BUILD=$2; shift ;;
	--keep) KEEP=1 ;;
	--tokens) TOKENS_ONLY=1 ;;
	--latency) LATENCY_ONLY=1 ;;
	--dns-threads) DNS_THREADS=$2; shift ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ $QUICK = 1 ]; then
	HB_SECS=2; REG_SECS=2; ROUNDS=2; BULK_N=100000; LAT_SECS=3
else
	HB_SECS=5; REG_SECS=5; ROUNDS=3; BULK_N=1000000; LAT_SECS=5
fi
# DNS latency under writes: dnsperf at a fixed rate, well below saturation,
# so what it measures is the wait behind whatever else the server does.
LAT_RATE=5000
# The load: the same for rosterd and the peer. Registrations: 8 connections
# x 16 unanswered = 128 in flight (a busy site's deploy wave); the bulk load
# uses 1,024 in flight to fill the store fast. Heartbeats: 4 x 64.
REG_CONNS=8; REG_WINDOW=16
HB_CONNS=4; HB_WINDOW=64; HB_LEASES=10000
BULK_CONNS=16; BULK_WINDOW=64
SERVICES=1000

for tool in meson ninja knotd dnsperf; do
	command -v $tool >/dev/null || { echo "run.sh: $tool is missing (apt-get install meson ninja-build knot dnsperf)" >&2; exit 2; }
done
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" "$ROOT" -Dbuildtype=release -Dtests=disabled >/dev/null
fi
ninja -C "$BUILD" -j2 server/rosterd bench/registry/loadgen client/roster >/dev/null
ROSTERD=$BUILD/server/rosterd
ROSTER=$BUILD/client/roster
LOADGEN=$BUILD/bench/registry/loadgen

TMP=$(mktemp -d /tmp/roster-bench.XXXXXX)
SHM=
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	done
	if [ -n "$SHM" ]; then
		rm -rf "$SHM"
	fi
	if [ $KEEP = 1 ]; then
		echo "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $*" >&2; }
# field NAME < "RESULT a=1 b=2"
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
stop_pid() {
	kill -TERM "$1"
	while kill -0 "$1" 2>/dev/null; do sleep 0.02; done
}

read -r API DNS HTTP KNOT_PORT < <("$LOADGEN" ports --count 4 | tr "\n" " "; echo)

# ---- rosterd ------------------------------------------------------------------
# Fair settings: no lease limit in the way, a map big enough that it never
# grows during the run, logs at notice (nothing per request either way).
rosterd_args() {
	echo "$ROSTERD --site lon6 --domain example.net --data $1 --api 127.0.0.1:$API \
		--dns 127.0.0.1:$DNS --http 127.0.0.1:$HTTP --max-instances-per-lease 10000000 \
		--map-size 4G --log-level info${DNS_THREADS:+ --dns-threads $DNS_THREADS}"
}
# start_rosterd DATA MIN_INSTANCES: sets RPID; the startup RESULT line goes
# to $TMP/startup (not a $(...) subshell: RPID and PIDS must survive).
start_rosterd() {
	# shellcheck disable=SC2046
	"$LOADGEN" startup --server "127.0.0.1:$API" --count "$2" --pidfile "$TMP/rosterd.pid" \
		--log "$TMP/rosterd.log" -- $(rosterd_args "$1") >"$TMP/startup"
	RPID=$(cat "$TMP/rosterd.pid")
	PIDS+=("$RPID")
}

# ---- Knot, the peer ---------------------------------------------------------------
# Its best durable configuration: the journal (LMDB) in its default robust
# mode, which syncs every commit; DDNS answers are sent after the commit.
# zonefile-sync -1: the zone file is not rewritten after every update (the
# journal is the durable copy; flushing a growing zone file per batch would
# only slow Knot down). Logging at warning: Knot logs every DDNS batch at info.
start_knot() {
	local k=$TMP/knot
	mkdir -p "$k"
	cat >"$k/knot.conf" <<EOF
server:
    rundir: "$k"
    listen: 127.0.0.1@$KNOT_PORT
log:
  - target: stderr
    any: warning
database:
    storage: "$k"
    journal-db: "$k/journal"
    journal-db-mode: robust
control:
    listen: "$k/knot.sock"
acl:
  - id: update_local
    address: 127.0.0.1
    action: update
template:
  - id: default
    storage: "$k"
    zonefile-sync: -1
    journal-content: changes
zone:
  - domain: example.net
    file: example.net.zone
    acl: update_local
EOF
	cat >"$k/example.net.zone" <<'EOF'
$ORIGIN example.net.
$TTL 300
@ SOA ns1 hostmaster 1 3600 600 86400 300
@ NS ns1
ns1 A 127.0.0.1
EOF
	knotd -c "$k/knot.conf" 2>"$k/knotd.log" &
	KPID=$!
	PIDS+=("$KPID")
	local i
	for i in $(seq 200); do
		if "$LOADGEN" dnsupdate --server "127.0.0.1:$KNOT_PORT" --conns 1 --window 1 \
				--count 1 --id-base 900000000 >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	echo "run.sh: knotd did not accept updates; its log:" >&2
	cat "$k/knotd.log" >&2
	exit 1
}

# ---- the access-control phase: tokens on beside off ----------------------------------
# Two rosterd, same settings, one with --api-tokens (a file of 100 tokens,
# the loadgen's a write:* one among them, so the lookup compares them all);
# each round measures heartbeats then registrations on one, then the
# other, alternating which goes first; medians.
tokens_phase() {
	local t=$TMP/tokens r
	mkdir -p "$t"
	: >"$t/file"
	for r in $(seq 99); do
		echo "svc$r sha256:$(printf 'secret-%d' "$r" | sha256sum | cut -d' ' -f1) write:svc$r" >>"$t/file"
	done
	echo "bench sha256:$(printf 'bench-token' | sha256sum | cut -d' ' -f1) write:*" >>"$t/file"
	read -r A2 D2 H2 < <("$LOADGEN" ports --count 3 | tr "\n" " "; echo)
	# shellcheck disable=SC2046
	"$LOADGEN" startup --server "127.0.0.1:$API" --count 0 --pidfile "$t/off.pid" \
		--log "$t/off.log" -- $(rosterd_args "$t/off") >/dev/null
	OFFPID=$(cat "$t/off.pid"); PIDS+=("$OFFPID")
	# shellcheck disable=SC2046
	"$LOADGEN" startup --server "127.0.0.1:$A2" --count 0 --pidfile "$t/on.pid" \
		--token bench-token --log "$t/on.log" -- \
		$(rosterd_args "$t/on" | sed "s/:$API /:$A2 /; s/:$DNS /:$D2 /; s/:$HTTP /:$H2 /") \
		--api-tokens "$t/file" >/dev/null
	ONPID=$(cat "$t/on.pid"); PIDS+=("$ONPID")
	: >"$t/hb.off"; : >"$t/hb.on"; : >"$t/reg.off"; : >"$t/reg.on"
	tok_round() { # WHICH PORT PID ROUND [--token T]; the server's CPU ticks per phase too
		local which=$1 port=$2 pid=$3 round=$4 c0 line
		shift 4
		c0=$(cpu_ticks "$pid")
		line=$("$LOADGEN" heartbeat --server "127.0.0.1:$port" --conns $HB_CONNS \
			--window $HB_WINDOW --leases $HB_LEASES --duration $HB_SECS "$@" |
			grep 'mode=heartbeat')
		echo "$line cpu=$(( $(cpu_ticks "$pid") - c0 ))" >>"$t/hb.$which"
		c0=$(cpu_ticks "$pid")
		line=$("$LOADGEN" register --server "127.0.0.1:$port" --conns $REG_CONNS \
			--window $REG_WINDOW --duration $REG_SECS \
			--id-base $((700000000 + round * 10000000)) --services $SERVICES "$@")
		echo "$line cpu=$(( $(cpu_ticks "$pid") - c0 ))" >>"$t/reg.$which"
		echo "   round $round tokens $which: $(tail -1 "$t/hb.$which" | field rate) heartbeats/s," \
			"$(tail -1 "$t/reg.$which" | field rate) registrations/s" >&2
	}
	log "access control: heartbeats and registrations, tokens off beside on, $ROUNDS rounds"
	for r in $(seq $ROUNDS); do
		if [ $((r % 2)) = 1 ]; then
			tok_round off "$API" "$OFFPID" "$r"
			tok_round on "$A2" "$ONPID" "$r" --token bench-token
		else
			tok_round on "$A2" "$ONPID" "$r" --token bench-token
			tok_round off "$API" "$OFFPID" "$r"
		fi
	done
	stop_pid "$OFFPID"; stop_pid "$ONPID"
	local hoff hon roff ron choff chon croff cron
	hoff=$(field rate <"$t/hb.off" | median); hon=$(field rate <"$t/hb.on" | median)
	roff=$(field rate <"$t/reg.off" | median); ron=$(field rate <"$t/reg.on" | median)
	# Server CPU per operation (us), per round, then the median: steadier
	# than rates on a machine shared with other work.
	per_op() { awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print v["cpu"] * 1e6 / '"$(getconf CLK_TCK)"' / v["ops"] }' "$1" | median; }
	choff=$(per_op "$t/hb.off"); chon=$(per_op "$t/hb.on")
	croff=$(per_op "$t/reg.off"); cron=$(per_op "$t/reg.on")
	awk -v hoff="$hoff" -v hon="$hon" -v roff="$roff" -v ron="$ron" -v rounds="$ROUNDS" \
		-v choff="$choff" -v chon="$chon" -v croff="$croff" -v cron="$cron" '
	function row(m, a, b, c, d) { printf "| %-30s | %12s | %12s | %8s | %-8s |\n", m, a, b, c, d }
	BEGIN {
		printf "\nAccess control cost (--api-tokens, 100 tokens, Authenticate per connection), median of %d interleaved rounds\n\n", rounds
		row("metric", "tokens off", "tokens on", "on/off", "target")
		row("---", "---", "---", "---", "---")
		row("heartbeats/s", sprintf("%.0f", hoff), sprintf("%.0f", hon), sprintf("%.3f", hon / hoff), ">= 0.95")
		row("durable registrations/s", sprintf("%.0f", roff), sprintf("%.0f", ron), sprintf("%.3f", ron / roff), ">= 0.95")
		row("  server CPU per heartbeat (us)", sprintf("%.2f", choff), sprintf("%.2f", chon), sprintf("%.3f", chon / choff), "<= 1.05")
		row("  server CPU per registration (us)", sprintf("%.1f", croff), sprintf("%.1f", cron), sprintf("%.3f", cron / croff), "<= 1.05")
	}'
}
# ---- phase 3: DNS latency while registrations stream in ------------------------------
# One writer, one registration at a time (each sent when the last is
# acknowledged: the steady trickle of a fleet's deploys), while dnsperf asks
# at a fixed rate; the same without the writer. Rounds interleave quiet and
# loaded runs; medians. The controls, because a stream of commits is a
# stream of fdatasyncs and this machine's disk flushes stall every process
# on it (docs/benchmarks.md):
#  - Knot answering beside the same stream into a third rosterd, its store
#    on the same disk (Knot itself writes nothing): the floor the machine
#    sets for any server under that disk load;
#  - Knot under its own stream of RFC 2136 UPDATEs (its own write path);
#  - a second rosterd with its store on tmpfs (/dev/shm) under a stream
#    paced to the rate the disk allowed: the server's own cost of that
#    write stream, without the disk's flushes.
# dns_lat PORT QFILE OUT: appends "p50_us p99_us answered" of one run.
dns_lat() {
	dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$LAT_SECS" -Q "$LAT_RATE" -c 4 -v 2>/dev/null |
		awk '/^> /{print $NF * 1e6}' | sort -g |
		awk '{v[NR] = $1} END {if (NR == 0) print "nan nan 0";
			else print v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], NR}' >>"$3"
}
# with_stream MODE ENDPOINT BASE STREAMFILE RATE CMD...: CMD while one
# writer streams (at most RATE requests a second; 0: as fast as it is
# acknowledged); the writer's RESULT line is appended to STREAMFILE.
with_stream() {
	local mode=$1 ep=$2 base=$3 out=$4 rate=$5
	shift 5
	"$LOADGEN" "$mode" --server "$ep" --conns 1 --window 1 --duration $((LAT_SECS + 1)) \
		--id-base "$base" --services 100 --rate "$rate" >>"$out" &
	local lg=$!
	"$@"
	wait "$lg"
}
latency_phase() {
	log "DNS latency at $LAT_RATE qps, ${LAT_SECS}s per run, quiet and under a registration stream"
	local mem="" mpid="" bpid r
	start_rosterd "$TMP/data3" 0
	"$LOADGEN" register --server "127.0.0.1:$API" --conns 1 --window 64 --count 1000 \
		--services 100 --id-base 500000000 >/dev/null
	# The stream Knot answers beside goes to a rosterd of its own (its store
	# on the same disk), so that the measured ones grow alike: one stream a
	# round each.
	read -r BAPI BDNS BHTTP < <("$LOADGEN" ports --count 3 | tr "\n" " "; echo)
	# shellcheck disable=SC2046
	"$LOADGEN" startup --server "127.0.0.1:$BAPI" --count 0 --pidfile "$TMP/beside.pid" \
		--log "$TMP/beside.log" -- $(rosterd_args "$TMP/data-beside" |
		sed "s/:$API /:$BAPI /; s/:$DNS /:$BDNS /; s/:$HTTP /:$BHTTP /") >/dev/null
	bpid=$(cat "$TMP/beside.pid"); PIDS+=("$bpid")
	read -r MAPI MDNS MHTTP < <("$LOADGEN" ports --count 3 | tr "\n" " "; echo)
	if [ -d /dev/shm ] && mem=$(mktemp -d /dev/shm/roster-bench.XXXXXX); then
		SHM=$mem
		# shellcheck disable=SC2046
		"$LOADGEN" startup --server "127.0.0.1:$MAPI" --count 0 --pidfile "$TMP/mem.pid" \
			--log "$TMP/mem.log" -- $(rosterd_args "$mem/data" |
			sed "s/:$API /:$MAPI /; s/:$DNS /:$MDNS /; s/:$HTTP /:$MHTTP /") >/dev/null
		mpid=$(cat "$TMP/mem.pid"); PIDS+=("$mpid")
		"$LOADGEN" register --server "127.0.0.1:$MAPI" --conns 1 --window 64 --count 1000 \
			--services 100 --id-base 500000000 >/dev/null
	else
		log "no /dev/shm: the tmpfs control is left out"
	fi
	start_knot
	for i in $(seq 0 99); do echo "_bench$i._tcp.services.lon6.example.net SRV"; done >"$TMP/q-ours"
	echo "ns1.example.net A" >"$TMP/q-peer"
	local f
	for f in lat-ours-quiet lat-ours-load lat-peer-quiet lat-peer-beside lat-peer-load \
			lat-mem-quiet lat-mem-load stream.register stream.beside stream.dnsupdate stream.mem; do
		: >"$TMP/$f"
	done
	dnsperf -s 127.0.0.1 -p "$DNS" -d "$TMP/q-ours" -n 1 >/dev/null 2>&1 # prepared answers
	for r in $(seq $ROUNDS); do
		local base=$((600000000 + r * 10000000))
		dns_lat "$DNS" "$TMP/q-ours" "$TMP/lat-ours-quiet"
		with_stream register "127.0.0.1:$API" $base "$TMP/stream.register" 0 \
			dns_lat "$DNS" "$TMP/q-ours" "$TMP/lat-ours-load"
		dns_lat "$KNOT_PORT" "$TMP/q-peer" "$TMP/lat-peer-quiet"
		with_stream register "127.0.0.1:$BAPI" $base "$TMP/stream.beside" 0 \
			dns_lat "$KNOT_PORT" "$TMP/q-peer" "$TMP/lat-peer-beside"
		with_stream dnsupdate "127.0.0.1:$KNOT_PORT" $base "$TMP/stream.dnsupdate" 0 \
			dns_lat "$KNOT_PORT" "$TMP/q-peer" "$TMP/lat-peer-load"
		if [ -n "$mpid" ]; then
			dns_lat "$MDNS" "$TMP/q-ours" "$TMP/lat-mem-quiet"
			# paced to the rate the disk allowed this round: only the disk differs
			with_stream register "127.0.0.1:$MAPI" $base "$TMP/stream.mem" \
				"$(tail -1 "$TMP/stream.register" | field rate)" dns_lat "$MDNS" "$TMP/q-ours" "$TMP/lat-mem-load"
		fi
		echo "   round $r (p50 us, p99 us, answers): rosterd quiet $(tail -1 "$TMP/lat-ours-quiet")," \
			"streaming $(tail -1 "$TMP/lat-ours-load"); knot quiet $(tail -1 "$TMP/lat-peer-quiet")," \
			"beside rosterd's stream $(tail -1 "$TMP/lat-peer-beside"), its own updates" \
			"$(tail -1 "$TMP/lat-peer-load")${mpid:+; rosterd on tmpfs quiet $(tail -1 "$TMP/lat-mem-quiet"), streaming $(tail -1 "$TMP/lat-mem-load")}" >&2
	done
	stop_pid "$RPID"
	stop_pid "$KPID"
	stop_pid "$bpid"
	if [ -n "$mpid" ]; then
		stop_pid "$mpid"
	fi
}
# latency_rows: the phase's rows of the table (run after latency_phase).
latency_rows() {
	col() { awk -v c="$1" '{print $c}' "$2" | median; }
	awk -v lq50="$(col 1 "$TMP/lat-ours-quiet")" -v lq99="$(col 2 "$TMP/lat-ours-quiet")" \
		-v ll50="$(col 1 "$TMP/lat-ours-load")" -v ll99="$(col 2 "$TMP/lat-ours-load")" \
		-v kq50="$(col 1 "$TMP/lat-peer-quiet")" -v kq99="$(col 2 "$TMP/lat-peer-quiet")" \
		-v kb50="$(col 1 "$TMP/lat-peer-beside")" -v kb99="$(col 2 "$TMP/lat-peer-beside")" \
		-v kl50="$(col 1 "$TMP/lat-peer-load")" -v kl99="$(col 2 "$TMP/lat-peer-load")" \
		-v mq50="$(col 1 "$TMP/lat-mem-quiet")" -v mq99="$(col 2 "$TMP/lat-mem-quiet")" \
		-v ml50="$(col 1 "$TMP/lat-mem-load")" -v ml99="$(col 2 "$TMP/lat-mem-load")" \
		-v ostream="$(field rate <"$TMP/stream.register" | median)" \
		-v bstream="$(field rate <"$TMP/stream.beside" | median)" \
		-v pstream="$(field rate <"$TMP/stream.dnsupdate" | median)" \
		-v mstream="$(field rate <"$TMP/stream.mem" | median)" -v latrate="$LAT_RATE" '
	function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
	function ms(v) { return v == "" ? "-" : sprintf("%.3f", v / 1000) }
	function row(m, o, p, r, t) { printf "| %-50s | %12s | %12s | %7s | %-10s |\n", m, o, p, r, t }
	BEGIN {
		row(sprintf("DNS latency p50, quiet (ms, %d qps)", latrate), ms(lq50), ms(kq50), ratio(kq50, lq50), "")
		row("DNS latency p99, quiet (ms)", ms(lq99), ms(kq99), ratio(kq99, lq99), "")
		row("DNS latency p50, rosterd streaming to disk (ms)", ms(ll50), ms(kb50), ratio(kb50, ll50), "")
		row("DNS latency p99, rosterd streaming to disk (ms)", ms(ll99), ms(kb99), ratio(kb99, ll99), "")
		row("  the stream: sequential registrations/s", sprintf("%.0f", ostream), sprintf("%.0f", bstream), "", "")
		row("DNS latency p50, Knot under its own UPDATEs (ms)", "-", ms(kl50), "", "")
		row("DNS latency p99, Knot under its own UPDATEs (ms)", "-", ms(kl99), "", "")
		row("  the stream: sequential UPDATEs/s", "-", sprintf("%.0f", pstream), "", "")
		if (mq99 != "") {
			row("DNS latency p50, quiet, store on tmpfs (ms)", ms(mq50), "-", "", "")
			row("DNS latency p99, quiet, store on tmpfs (ms)", ms(mq99), "-", "", "")
			row("DNS latency p50, streaming, store on tmpfs (ms)", ms(ml50), "-", "", "")
			row("DNS latency p99, streaming, store on tmpfs (ms)", ms(ml99), "-", "", sprintf("< %.3f", (2 * mq99 + 200) / 1000))
			row("  the stream: sequential registrations/s", sprintf("%.0f", mstream), "-", "", "")
		}
	}'
}

# --latency: phase 3 alone, with its own table.
if [ $LATENCY_ONLY = 1 ]; then
	log "build: $BUILD; temp: $TMP; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)${DNS_THREADS:+; --dns-threads $DNS_THREADS}"
	latency_phase
	printf "\nDNS latency under a registration stream, median of %d rounds; load average at the end %s\n\n" \
		"$ROUNDS" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf "| %-50s | %12s | %12s | %7s | %-10s |\n" metric rosterd knot ratio target --- --- --- --- ---
	latency_rows
	exit 0
fi
if [ $TOKENS_ONLY = 1 ]; then
	log "build: $BUILD; temp: $TMP; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
	tokens_phase
	exit 0
fi

# ---- phase 1: heartbeats and registrations, rosterd beside Knot ---------------------
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
log "build: $BUILD; temp: $TMP; $(nproc) CPUs; load average $LOAD0"
start_rosterd "$TMP/data1" 0
start_knot
log "rosterd pid $RPID on 127.0.0.1:$API, knotd pid $KPID on 127.0.0.1:$KNOT_PORT"

log "heartbeats: $HB_LEASES leases, $HB_CONNS x $HB_WINDOW in flight, ${HB_SECS}s"
HB=$("$LOADGEN" heartbeat --server "127.0.0.1:$API" --conns $HB_CONNS --window $HB_WINDOW \
	--leases $HB_LEASES --duration $HB_SECS | grep 'mode=heartbeat')
echo "   $HB" >&2

: >"$TMP/ours" ; : >"$TMP/peer"
# measure PID MODE ENDPOINT BASE OUT LABEL: one round of one server, with the
# server's CPU time (user+kernel, and kernel) over the round.
measure() {
	local c0 s0 line
	c0=$(cpu_ticks "$1"); s0=$(sys_ticks "$1")
	line=$("$LOADGEN" "$2" --server "$3" --conns $REG_CONNS --window $REG_WINDOW \
		--duration $REG_SECS --id-base "$4" --services $SERVICES)
	line="$line cpu=$(( $(cpu_ticks "$1") - c0 )) sys=$(( $(sys_ticks "$1") - s0 ))"
	echo "$line" >>"$5"
	echo "   $6 $line" >&2
}
for r in $(seq $ROUNDS); do
	log "round $r/$ROUNDS: registrations, $REG_CONNS x $REG_WINDOW in flight, ${REG_SECS}s each"
	measure "$RPID" register "127.0.0.1:$API" $((r * 10000000)) "$TMP/ours" "rosterd"
	measure "$KPID" dnsupdate "127.0.0.1:$KNOT_PORT" $((r * 10000000)) "$TMP/peer" "knot   "
done
stop_pid "$RPID"
stop_pid "$KPID"

# ---- phase 2: N permanent instances: RSS, then restart to serving --------------------
log "bulk: $BULK_N permanent instances, $BULK_CONNS x $BULK_WINDOW in flight"
start_rosterd "$TMP/data2" 0
RSS0=$("$LOADGEN" rss --pid "$RPID")
BULK=$("$LOADGEN" register --server "127.0.0.1:$API" --conns $BULK_CONNS --window $BULK_WINDOW \
	--count $BULK_N --services $SERVICES)
echo "   $BULK" >&2
RSS1=$("$LOADGEN" rss --pid "$RPID")
stop_pid "$RPID"
log "restart with $BULK_N persisted instances"
: >"$TMP/rosterd.log"
start_rosterd "$TMP/data2" 1
START=$(cat "$TMP/startup")
echo "   $START" >&2
RSS2=$("$LOADGEN" rss --pid "$RPID")
LOADED=$(grep -o 'loaded [0-9]* instances.* in [0-9.]* ms' "$TMP/rosterd.log" | tail -1)
CHECK_MS=$(grep -o 'damage check passed: .* in [0-9.]* ms' "$TMP/rosterd.log" | tail -1 |
	sed 's/.* in \([0-9.]*\) ms/\1/')
DBSIZE=$(stat -c %s "$TMP/data2/data.mdb")

# ---- phase 2b: hot backups of the N instances, and registrations beside them --------
log "hot backup of $BULK_N instances (roster backup)"
BK=$("$ROSTER" --server "127.0.0.1:$API" --json backup "$TMP/backup0.mdb")
echo "   $BK" >&2
BK_MS=$(echo "$BK" | sed 's/.*"duration_ms":\([0-9]*\).*/\1/')
BK_BYTES=$(echo "$BK" | sed 's/.*"bytes":\([0-9]*\).*/\1/')
: >"$TMP/reg-plain"; : >"$TMP/reg-backup"; : >"$TMP/backups"
# backups_loop: back-to-back backups until $TMP/stop-backups exists.
backups_loop() {
	while [ ! -e "$TMP/stop-backups" ]; do
		"$ROSTER" --server "127.0.0.1:$API" --json backup "$TMP/backup1.mdb" >>"$TMP/backups"
	done
}
for r in $(seq $ROUNDS); do
	measure "$RPID" register "127.0.0.1:$API" $((700000000 + r * 10000000)) "$TMP/reg-plain" \
		"no backup    "
	rm -f "$TMP/stop-backups"
	backups_loop &
	BKL=$!
	measure "$RPID" register "127.0.0.1:$API" $((800000000 + r * 10000000)) "$TMP/reg-backup" \
		"beside backup"
	touch "$TMP/stop-backups"
	wait "$BKL"
done
N_BACKUPS=$(wc -l <"$TMP/backups")
stop_pid "$RPID"

latency_phase

# ---- the table ---------------------------------------------------------------------
med() { field "$1" <"$2" | median; }
hb_rate=$(echo "$HB" | field rate)
o_rate=$(med rate "$TMP/ours"); p_rate=$(med rate "$TMP/peer")
o_p50=$(med p50_us "$TMP/ours"); p_p50=$(med p50_us "$TMP/peer")
o_p99=$(med p99_us "$TMP/ours"); p_p99=$(med p99_us "$TMP/peer")
o_p999=$(med p999_us "$TMP/ours"); p_p999=$(med p999_us "$TMP/peer")
# CPU per registration, per round, then the median.
per_reg() { awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	print v["'"$1"'"] * 1e6 / '"$(getconf CLK_TCK)"' / v["ops"] }' "$2" | median; }
o_cpu=$(per_reg cpu "$TMP/ours"); p_cpu=$(per_reg cpu "$TMP/peer")
o_sys=$(per_reg sys "$TMP/ours"); p_sys=$(per_reg sys "$TMP/peer")
hb_p99=$(echo "$HB" | field p99_us)
n_inst=$BULK_N
rss0=$(echo "$RSS0" | field rss); rss1=$(echo "$RSS1" | field rss)
anon0=$(echo "$RSS0" | field anon); anon1=$(echo "$RSS1" | field anon)
rss2=$(echo "$RSS2" | field rss); anon2=$(echo "$RSS2" | field anon)
serving=$(echo "$START" | field serving_ms)
serving_cpu=$(echo "$START" | field cpu_ms)
b_rate=$(med rate "$TMP/reg-plain"); b_p99=$(med p99_us "$TMP/reg-plain")
bb_rate=$(med rate "$TMP/reg-backup"); bb_p99=$(med p99_us "$TMP/reg-backup")

awk -v hb="$hb_rate" -v orate="$o_rate" -v prate="$p_rate" -v op50="$o_p50" -v pp50="$p_p50" \
	-v op99="$o_p99" -v pp99="$p_p99" -v op999="$o_p999" -v pp999="$p_p999" \
	-v ocpu="$o_cpu" -v pcpu="$p_cpu" -v osys="$o_sys" -v psys="$p_sys" -v hbp99="$hb_p99" \
	-v secs="$REG_SECS" -v n="$n_inst" \
	-v rss0="$rss0" -v rss1="$rss1" -v anon0="$anon0" -v anon1="$anon1" -v rss2="$rss2" \
	-v anon2="$anon2" -v serving="$serving" -v servcpu="$serving_cpu" -v loaded="$LOADED" \
	-v db="$DBSIZE" -v load0="$LOAD0" -v ncpu="$(nproc)" -v load1="$(cut -d' ' -f1-3 /proc/loadavg)" \
	-v checkms="$CHECK_MS" -v bkms="$BK_MS" -v bkbytes="$BK_BYTES" \
	-v brate="$b_rate" -v bp99="$b_p99" -v bbrate="$bb_rate" -v bbp99="$bb_p99" \
	-v nbackups="$N_BACKUPS" \
	-v bulk="$(echo "$BULK" | field rate)" -v rounds="$ROUNDS" -v inflight="$((REG_CONNS * REG_WINDOW))" '
function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
function row(m, o, p, r, t) { printf "| %-50s | %12s | %12s | %7s | %-10s |\n", m, o, p, r, t }
BEGIN {
	printf "\nRoster registry benchmark, %s, rosterd vs Knot DNS (RFC 2136 UPDATE over TCP)\n", strftime("%Y-%m-%d %H:%M UTC", systime(), 1)
	printf "registrations: median of %d interleaved rounds, %d in flight, %ds each\n", rounds, inflight, secs
	printf "load average at the start %s, at the end %s (%d CPUs)\n\n", load0, load1, ncpu
	row("metric", "rosterd", "knot", "ratio", "target")
	row("---", "---", "---", "---", "---")
	row("heartbeats/s", sprintf("%.0f", hb), "-", "-", ">= 200000")
	row("  heartbeat latency p99 (ms)", sprintf("%.2f", hbp99 / 1000), "-", "-", "")
	row("durable registrations/s", sprintf("%.0f", orate), sprintf("%.0f", prate), ratio(orate, prate), ">= 50000")
	row("  ack latency p50 (ms)", sprintf("%.2f", op50 / 1000), sprintf("%.2f", pp50 / 1000), ratio(pp50, op50), "")
	row("  ack latency p99 (ms)", sprintf("%.2f", op99 / 1000), sprintf("%.2f", pp99 / 1000), ratio(pp99, op99), "< 5")
	row("  ack latency p99.9 (ms)", sprintf("%.2f", op999 / 1000), sprintf("%.2f", pp999 / 1000), ratio(pp999, op999), "")
	row("  server CPU per registration (us)", sprintf("%.1f", ocpu), sprintf("%.1f", pcpu), ratio(pcpu, ocpu), "")
	row("    of which in the kernel (us)", sprintf("%.1f", osys), sprintf("%.1f", psys), "", "")
	row(sprintf("bulk load of %d instances (registrations/s)", n), sprintf("%.0f", bulk), "-", "-", "")
	row(sprintf("RSS per instance, live, at %d (bytes)", n), sprintf("%.0f", (rss1 - rss0) / n), "-", "-", "<= 600")
	row("  of which anonymous memory (bytes)", sprintf("%.0f", (anon1 - anon0) / n), "-", "-", "")
	row(sprintf("RSS per instance after restart (bytes)"), sprintf("%.0f", (rss2 - rss0) / n), "-", "-", "")
	row("  of which anonymous memory (bytes)", sprintf("%.0f", (anon2 - anon0) / n), "-", "-", "")
	row(sprintf("restart to serving %d instances (ms)", n), sprintf("%.0f", serving), "-", "-", "< 3000")
	row("  CPU time rosterd used until serving (ms)", sprintf("%.0f", servcpu), "-", "-", "")
	row("  of which the damage check (ms)", sprintf("%.0f", checkms), "-", "-", "")
	row(sprintf("hot backup of %d instances (ms)", n), sprintf("%.0f", bkms), "-", "-", "")
	row("  backup size (MB)", sprintf("%.1f", bkbytes / 1e6), "-", "-", "")
	row(sprintf("registrations/s into %d, no backup", n), sprintf("%.0f", brate), "-", "-", "")
	row("  ack latency p99 (ms)", sprintf("%.2f", bp99 / 1000), "-", "-", "")
	row(sprintf("  the same beside %d back-to-back backups", nbackups), sprintf("%.0f", bbrate), "-", ratio(bbrate, brate), "")
	row("  ack latency p99 beside backups (ms)", sprintf("%.2f", bbp99 / 1000), "-", ratio(bbp99, bp99), "")
}'
latency_rows
awk -v loaded="$LOADED" -v db="$DBSIZE" -v n="$n_inst" 'BEGIN {
	printf "\nrosterd log: %s; LMDB file %.0f MiB (%.0f bytes per instance)\n", loaded, db / 1048576, db / n
	printf "RSS: VmRSS of rosterd minus its VmRSS when empty; live = right after the load (includes the change journal, default 100,000 entries), restart = after loading from LMDB.\n"
	printf "ratio: rosterd / knot for rates, knot / rosterd for latencies (above 1 = rosterd better).\n"
	printf "DNS latency while rosterd streams to disk: the knot column is Knot answering beside that stream, writing nothing itself (the machine'"'"'s floor under that disk load).\n"
}'

tokens_phase
