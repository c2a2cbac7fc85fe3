#!/usr/bin/env bash
# Build Roster's Debian 12 packages (rosterd, roster, roster-zonegen,
# libroster0, libroster-dev) with `dpkg-buildpackage -us -uc -b` from a copy
# of this tree, check them with lintian (no error or warning may remain),
# and run the packaged binaries from the unpacked packages.
#
#   deploy/debian-build.sh [OUTDIR]     # the .debs land in OUTDIR (default build-deb/)
#
# ./tests/run.sh --packages runs it, then deploy/debian-install-check.sh
# (the packages installed into a fresh Debian 12); it is not part of the
# default run (a release build from scratch: about a minute here).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-deb}
"$root/deploy/install-deps.sh" build-essential debhelper dpkg-dev lintian meson ninja-build \
	pkg-config libuv1-dev libldns-dev liblmdb-dev libprotobuf-c-dev protobuf-c-compiler \
	libjansson-dev libsodium-dev libsystemd-dev scdoc

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The tracked files as they are now (edits included), not the build dirs.
mkdir "$work/roster"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 cp --parents -P -t "$work/roster")
cd "$work/roster"
dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || {
	tail -50 "$work/build.log" >&2
	echo "debian-build: dpkg-buildpackage failed" >&2
	exit 1
}
changes=$(ls "$work"/roster_*.changes)
echo "debian-build: built $(grep -c '\.deb$' <(awk '/^Files:/,0' "$changes")) packages"
# lintian: errors and warnings fail the build (informational tags do not).
lintian --fail-on error,warning --tag-display-limit 0 "$changes"
echo "debian-build: lintian clean"

# What an install puts on a machine: each package unpacked into one root.
mkdir "$work/root"
for deb in "$work"/*.deb; do
	dpkg-deb -x "$deb" "$work/root"
done
lib=$(dirname "$(ls "$work"/root/usr/lib/*/libroster.so.0)")
"$work/root/usr/sbin/rosterd" --version
"$work/root/usr/bin/roster" --version
"$work/root/usr/bin/roster-zonegen" --version
test -f "$work/root/lib/systemd/system/rosterd.service"
test -f "$work/root/usr/lib/sysusers.d/rosterd.conf"
test -f "$work/root/usr/share/man/man8/rosterd.8.gz"
PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$work/root" \
	pkg-config --modversion roster

mkdir -p "$out"
# Only this build's packages in OUTDIR (deploy/debian-install-check.sh
# installs what it finds there).
rm -f "$out"/roster_*.changes "$out"/{rosterd,roster,roster-zonegen,libroster0,libroster-dev}_*.deb \
	"$out"/{rosterd,roster,roster-zonegen,libroster0}-dbgsym_*.deb
cp "$work"/*.deb "$changes" "$out/"
ls "$out"/*.deb
