#!/usr/bin/env bash
# bench/zonegen: roster-zonegen on a synthetic fleet beside the peer figure,
# named-checkzone loading the very same output, measured in the same run.
#
#   bench/zonegen/run.sh [path/to/roster-zonegen]     (or: ninja -C build bench-zonegen)
#
# Environment: HOSTS (100000), SITES (10), RUNS (5 timed generations; the
# median is shown), PEER_RUNS (1 named-checkzone pass over every zone).
# Prints generation time (fresh output dir, and a re-run with nothing
# changed), peak RSS, the peer's time and the ratio. Not a timed test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ZG=${1:-$root/build/zonegen/roster-zonegen}
HOSTS=${HOSTS:-100000}
SITES=${SITES:-10}
RUNS=${RUNS:-5}
PEER_RUNS=${PEER_RUNS:-1}
if [ ! -x "$ZG" ]; then
	echo "bench/zonegen: $ZG is not built (meson setup build && ninja -C build)" >&2
	exit 2
fi
for tool in named-checkzone /usr/bin/time python3; do
	command -v "$tool" >/dev/null || { echo "bench/zonegen: $tool missing" >&2; exit 2; }
done
work=$(mktemp -d /tmp/roster-bench-zonegen.XXXXXX)
trap 'rm -rf "$work"' EXIT

python3 "$here/mkfleet.py" --hosts "$HOSTS" --sites "$SITES" --out "$work/inv"
args=(--domain example.net --inventory "$work/inv/fleet.jsonl" --inventory "$work/inv/cloud.jsonl"
	--ns ns1.example.net --ns ns2.example.net --commit 0123456789abcdef --serial 2026010100
	--quiet)

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }

# Fresh generation: a new output dir each run (every zone written and fsynced).
gen_times=()
gen_cpu=()
rss_kb=0
for i in $(seq "$RUNS"); do
	rm -rf "$work/out"
	t0=$(now)
	/usr/bin/time -f '%M %U %S' -o "$work/rss" "$ZG" "${args[@]}" --out "$work/out"
	t1=$(now)
	gen_times+=("$(calc "$t1 - $t0")")
	read -r r u s <"$work/rss"
	gen_cpu+=("$(calc "$u + $s")")
	[ "$r" -gt "$rss_kb" ] && rss_kb=$r
done
gen=$(printf '%s\n' "${gen_times[@]}" | median)
gencpu=$(printf '%s\n' "${gen_cpu[@]}" | median)

# Re-run with the same input: nothing changes, nothing is rewritten.
re_times=()
for i in $(seq "$RUNS"); do
	t0=$(now)
	"$ZG" "${args[@]}" --out "$work/out"
	t1=$(now)
	re_times+=("$(calc "$t1 - $t0")")
done
regen=$(printf '%s\n' "${re_times[@]}" | median)

# One host more (the every-few-minutes case): its zones are diffed and rewritten.
echo '{"name": "s00-newhost-a999999", "ipv4": "10.0.255.254", "ipv6": "2001:db8::ffff"}' \
	>>"$work/inv/cloud.jsonl"
t0=$(now)
"$ZG" "${args[@]}" --out "$work/out"
t1=$(now)
onehost=$(calc "$t1 - $t0")
sed -i '$d' "$work/inv/cloud.jsonl"
"$ZG" "${args[@]}" --out "$work/out" --force

zones=$(find "$work/out" -name '*.zone' | wc -l)
records=$(cat "$work/out"/*.zone | grep -vc -E '^(;|\$|$)')
bytes=$(cat "$work/out"/*.zone | wc -c)

# The peer: named-checkzone loading every zone of the same output, with its
# post-load integrity checks off (-i none): the time it needs just to load.
peer_times=()
peer_cpu=()
for i in $(seq "$PEER_RUNS"); do
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$work/peer" bash -c '
		for f in "$1"/*.zone; do
			z=$(basename "$f" .zone)
			named-checkzone -q -i none "$z" "$f" || { echo "named-checkzone refused $z" >&2; exit 1; }
		done' _ "$work/out"
	t1=$(now)
	peer_times+=("$(calc "$t1 - $t0")")
	read -r u s <"$work/peer"
	peer_cpu+=("$(calc "$u + $s")")
done
peer=$(printf '%s\n' "${peer_times[@]}" | median)
peercpu=$(printf '%s\n' "${peer_cpu[@]}" | median)

printf 'fleet: %d hosts, %d sites, IPv4+IPv6 -> %d zones, %d records, %.1f MB\n' \
	"$HOSTS" "$SITES" "$zones" "$records" "$(calc "$bytes / 1048576")"
printf '%-48s %10s %10s\n' "what" "wall s" "cpu s"
printf '%-48s %10.3f %10.3f\n' "roster-zonegen, fresh output (median of $RUNS)" "$gen" "$gencpu"
printf '%-48s %10.3f %10s\n' "roster-zonegen, re-run, nothing changed" "$regen" "-"
printf '%-48s %10.3f %10s\n' "roster-zonegen, re-run, one host added" "$onehost" "-"
printf '%-48s %10.3f %10.3f\n' "named-checkzone loading the same zones (peer)" "$peer" "$peercpu"
printf 'peak RSS of roster-zonegen: %.1f MB\n' "$(calc "$rss_kb / 1024")"
printf 'ratio generation / peer load: %.3f wall (%.1fx faster), %.3f cpu (%.1fx faster)\n' \
	"$(calc "$gen / $peer")" "$(calc "$peer / $gen")" \
	"$(calc "$gencpu / $peercpu")" "$(calc "$peercpu / $gencpu")"
echo "(wall time includes fsync of every zone file; on a busy machine compare cpu)"
