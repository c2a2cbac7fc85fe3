#!/usr/bin/env bash
# Install Roster's Debian packages into a fresh Debian 12 (bookworm) root
# and check them there: the five .debs are installed with apt-get (their
# dependencies come from the Debian archive, as on a new machine), then the
# binaries, pkg-config, the man pages, the units, the sysusers and tmpfiles
# snippets and the roster user are checked, and the packaged rosterd, run
# with the packaged config as the roster user, answers a dig SOA query.
#
#   deploy/debian-install-check.sh [--debs DIR] [OUTDIR]
#
# Without --debs it first builds the packages into OUTDIR (default
# build-deb/) with deploy/debian-build.sh (dpkg-buildpackage, lintian);
# with --debs it installs the .debs already in DIR.
# ./tests/run.sh --packages runs both steps; it is not part of the default run.
#
# Needs root (debootstrap, chroot, mounts), the Debian archive of this
# machine's apt sources, and about 1 GB under /var. The root is a minbase
# debootstrap of bookworm, cached as a tarball in
# /var/cache/roster-debootstrap (ROSTER_DEBOOTSTRAP_CACHE) and made again
# when older than 30 days; every run unpacks it into a new directory under
# /var/tmp, which is removed at the end (ROSTER_KEEP_ROOT=1 keeps it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
debs=
case "${1:-}" in
--debs)
	debs=${2:?--debs needs a directory}
	shift 2
	;;
-*)
	echo "usage: $0 [--debs DIR] [OUTDIR]" >&2
	exit 2
	;;
esac
out=${1:-$root/build-deb}
suite=bookworm
arch=$(dpkg --print-architecture)
cache=${ROSTER_DEBOOTSTRAP_CACHE:-/var/cache/roster-debootstrap}
tarball=$cache/$suite-minbase-$arch.tar.gz
pkgs=(rosterd roster roster-zonegen libroster0 libroster-dev)

say() { echo "debian-install-check: $*"; }
die() {
	say "FAIL: $*" >&2
	exit 1
}
if [ "$(id -u)" -ne 0 ]; then
	die "needs root (debootstrap, chroot and mounts)"
fi

t0=$(date +%s)
timings=()
phase_start=$t0
phase() { # name: the time since the previous phase ended
	local now
	now=$(date +%s)
	timings+=("$1 $((now - phase_start))s")
	phase_start=$now
}

# --- the packages -----------------------------------------------------------
if [ -z "$debs" ]; then
	"$root/deploy/debian-build.sh" "$out"
	debs=$out
	phase build+lintian
fi
debs=$(cd "$debs" && pwd)
declare -A deb
for p in "${pkgs[@]}"; do
	mapfile -t found < <(find "$debs" -maxdepth 1 -name "${p}_*_*.deb" | sort)
	[ ${#found[@]} -eq 1 ] || die "want one ${p}_*.deb in $debs, found ${#found[@]}"
	deb[$p]=${found[0]}
done

# --- the mirror: the one this machine's apt uses -----------------------------
# First URI of the stanza (deb822) or line (one-line format) for a suite.
apt_uri() { # suite
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v s="$1" 'BEGIN { RS = "" }
			/(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ {
				u = ""; ok = 0; n = split($0, l, "\n")
				for (i = 1; i <= n; i++) {
					if (l[i] ~ /^URIs:/) { split(l[i], w, /[ \t]+/); u = w[2] }
					if (l[i] ~ /^Suites:/) {
						m = split(l[i], w, /[ \t]+/)
						for (j = 2; j <= m; j++) if (w[j] == s) ok = 1
					}
				}
				if (ok && u != "") { print u; exit }
			}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk -v s="$1" '$1 == "deb" {
			i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++
			if ($i ~ /^\[/ || $i ~ /\]$/) i++
			if ($(i + 1) == s) print $i
		}' "$f"
	done
}
mirror=$(apt_uri "$suite" | sed -n 1p)
security=$(apt_uri "$suite-security" | sed -n 1p)
[ -n "$mirror" ] || die "no '$suite' source in /etc/apt: cannot tell which Debian mirror to use"
say "mirror $mirror${security:+, security $security}"

# --- a fresh Debian 12 root ---------------------------------------------------
"$root/deploy/install-deps.sh" debootstrap debian-archive-keyring dnsutils python3
mkdir -p "$cache"
remove_root() { # dir: unmount what is mounted under it, then remove it
	awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		xargs -r umount -l
	# Never remove a tree with the host's /dev or /proc still under it.
	if grep -q " $1/" /proc/mounts; then
		say "still mounted under $1, not removed:" >&2
		grep " $1/" /proc/mounts >&2
		return 1
	fi
	rm -rf --one-file-system "$1"
}
if [ -z "$(find "$tarball" -mtime -30 2>/dev/null)" ]; then
	say "debootstrap --variant=minbase $suite (cached in $tarball)"
	boot=$(mktemp -d /var/tmp/roster-debootstrap.XXXXXX)
	trap 'rc=$?; rm -f "$tarball.new"; remove_root "$boot"; exit $rc' EXIT
	trap 'exit 130' INT TERM HUP
	if ! debootstrap --variant=minbase --arch="$arch" "$suite" "$boot" "$mirror" \
		>"$cache/debootstrap.log" 2>&1; then
		tail -30 "$cache/debootstrap.log" >&2
		die "debootstrap failed (log: $cache/debootstrap.log)"
	fi
	chmod 755 "$boot"
	tar -C "$boot" --numeric-owner -czf "$tarball.new" .
	mv "$tarball.new" "$tarball"
	remove_root "$boot"
	trap - EXIT
	phase debootstrap
fi

chroot_dir=$(mktemp -d /var/tmp/roster-install-check.XXXXXX)
mounts=()
cleanup() {
	local rc=$? m i pid
	# Whatever still runs in the root (a rosterd of the check): killed by pid.
	for pid in /proc/[0-9]*; do
		[ "$(readlink "$pid/root" 2>/dev/null)" = "$chroot_dir" ] || continue
		kill -KILL "${pid#/proc/}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		m=${mounts[i]}
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	if [ "${ROSTER_KEEP_ROOT:-0}" = 1 ] && ! grep -q " $chroot_dir/" /proc/mounts; then
		say "kept the root in $chroot_dir"
	else
		remove_root "$chroot_dir" || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

tar -C "$chroot_dir" --numeric-owner -xzf "$tarball"
chmod 755 "$chroot_dir" # mktemp's 0700 would shut out _apt and the roster user
mnt() { # fstype-or-bind source target
	local target=$chroot_dir$3
	if [ "$1" = bind ]; then
		mount --bind "$2" "$target"
	else
		mount -t "$1" "$2" "$target"
	fi
	mounts+=("$target")
}
mnt proc proc /proc
mnt sysfs sysfs /sys
mnt bind /dev /dev
mnt bind /dev/pts /dev/pts
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
{
	echo "deb $mirror $suite main"
	echo "deb $mirror $suite-updates main"
	[ -z "$security" ] || echo "deb $security $suite-security main"
} >"$chroot_dir/etc/apt/sources.list"
# No daemon is started by a package's install scripts in here.
printf '#!/bin/sh\nexit 101\n' >"$chroot_dir/usr/sbin/policy-rc.d"
chmod +x "$chroot_dir/usr/sbin/policy-rc.d"
mkdir "$chroot_dir/tmp/debs"
for p in "${pkgs[@]}"; do
	cp "${deb[$p]}" "$chroot_dir/tmp/debs/"
done
phase fresh-root

in_root() { chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# --- install: the dependencies from the archive --------------------------------
say "apt-get install ${pkgs[*]} in a fresh $suite"
log=$chroot_dir/tmp/apt.log
if ! in_root apt-get update >"$log" 2>&1 ||
	! in_root sh -c 'cd /tmp/debs && apt-get install -y ./rosterd_*.deb ./roster_*.deb \
		./roster-zonegen_*.deb ./libroster0_*.deb ./libroster-dev_*.deb pkg-config' \
		>>"$log" 2>&1; then
	tail -40 "$log" >&2
	die "apt-get install failed"
fi
grep -E "^(E:|W:|Setting up ($(
	IFS='|'
	echo "${pkgs[*]}"
)) )" "$log" | sed 's/^/  /' || true
phase install

# --- checks -----------------------------------------------------------------
failed=0
checks=0
check() { # description, command...
	local what=$1 output
	shift
	checks=$((checks + 1))
	if output=$("$@" 2>&1); then
		printf '  ok    %s%s\n' "$what" "${output:+: $(echo "$output" | head -1)}"
	else
		printf '  FAIL  %s\n' "$what"
		[ -z "$output" ] || echo "$output" | sed 's/^/        /'
		failed=$((failed + 1))
	fi
}
installed() {
	local p s
	for p in "${pkgs[@]}"; do
		s=$(in_root dpkg-query -W -f='${Status} ${Version}' "$p") || return 1
		case $s in "install ok installed "*) ;; *) echo "$p: $s" && return 1 ;; esac
	done
	echo "${pkgs[*]} $(in_root dpkg-query -W -f='${Version}' rosterd)"
}
files() { # every path must exist in the root
	local f missing=0
	for f in "$@"; do
		[ -e "$chroot_dir$f" ] || { echo "missing $f" && missing=1; }
	done
	return $missing
}
check "dpkg: the five packages installed" installed
check "rosterd --version" in_root rosterd --version
check "roster --version" in_root roster --version
check "roster-zonegen --version" in_root roster-zonegen --version
check "pkg-config --modversion roster" in_root pkg-config --modversion roster
check "pkg-config --cflags --libs roster" in_root pkg-config --cflags --libs roster
check "man pages" files /usr/share/man/man8/rosterd.8.gz /usr/share/man/man1/roster.1.gz \
	/usr/share/man/man1/roster-zonegen.1.gz /usr/share/man/man3/libroster.3.gz
check "systemd units" files /lib/systemd/system/rosterd.service \
	/lib/systemd/system/roster-register@.service
check "sysusers and tmpfiles snippets" files /usr/lib/sysusers.d/rosterd.conf \
	/usr/lib/tmpfiles.d/roster.conf
check "config, header, bash completion" files /etc/roster/rosterd.conf \
	/usr/include/roster/client.h /usr/share/bash-completion/completions/roster
check "the roster user (postinst)" in_root getent passwd roster
check "/var/lib/roster (tmpfiles, postinst)" in_root test -d /var/lib/roster

# rosterd as the roster user, with the packaged config, on loopback ports
# of its own (the command line's listeners replace the config's), a data
# dir of its own; one SOA query, then SIGTERM and a clean exit.
free_port() { # a port free on 127.0.0.1 for TCP and UDP
	python3 -c 'import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass'
}
serve() {
	local dns api http data soa='' i rc rosterd_pid
	dns=$(free_port) api=$(free_port) http=$(free_port)
	data=$(in_root mktemp -d /tmp/rosterd-data.XXXXXX)
	in_root chown roster:roster "$data"
	chroot --userspec=roster:roster "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin \
		/usr/sbin/rosterd \
		--config /etc/roster/rosterd.conf --data "$data" \
		--dns "127.0.0.1:$dns" --api "127.0.0.1:$api" --http "127.0.0.1:$http" \
		>"$chroot_dir/tmp/rosterd.log" 2>&1 &
	rosterd_pid=$!
	# Until it answers (each try waits up to 1 s), at most 30 tries.
	for ((i = 0; i < 30; i++)); do
		kill -0 "$rosterd_pid" 2>/dev/null || break
		soa=$(dig -p "$dns" @127.0.0.1 +norec +tries=1 +time=1 \
			services.lon6.example.net SOA 2>/dev/null) || true
		grep -q 'status: NOERROR' <<<"$soa" && break
	done
	local ok=0
	if grep -q 'status: NOERROR' <<<"$soa" && grep -q 'flags: qr aa' <<<"$soa" &&
		grep -qE '^services\.lon6\.example\.net\.[[:space:]].*SOA' <<<"$soa"; then
		ok=1
	fi
	if kill -TERM "$rosterd_pid" 2>/dev/null; then
		wait "$rosterd_pid" && rc=0 || rc=$?
	else
		wait "$rosterd_pid" && rc=0 || rc=$?
		rc="exited early ($rc)"
	fi
	if [ $ok = 1 ] && [ "$rc" = 0 ]; then
		echo "$(grep -E '^services\.lon6\.example\.net\.[[:space:]].*SOA' <<<"$soa" |
			tr -s ' \t' ' '); SIGTERM: exit 0"
		return 0
	fi
	echo "dig: ${soa:-no answer}"
	echo "rosterd exit: $rc; its log:"
	tail -20 "$chroot_dir/tmp/rosterd.log"
	return 1
}
check "rosterd (packaged config, roster user) answers SOA, stops on SIGTERM" serve
phase checks

# --- summary ----------------------------------------------------------------
say "timings: ${timings[*]}, total $(($(date +%s) - t0))s"
if [ $failed -eq 0 ]; then
	say "PASS: $checks checks in a fresh Debian 12 ($suite, $arch)"
else
	say "FAIL: $failed of $checks checks failed in a fresh Debian 12 ($suite, $arch)"
	exit 1
fi
