#!/usr/bin/env bash
# Roster's whole test suite, from a bare Debian 12 machine:
#   1. installs the Debian packages the build and the tests need (apt-get
#      update runs only when something is missing);
#   2. builds twice: build/ (normal) and build-asan/ (AddressSanitizer +
#      UndefinedBehaviorSanitizer), each with -Wall -Wextra -Werror;
#   3. runs every registered test (criterion unit tests, integration tests
#      against the real binaries and real peers) in both builds;
#   4. ends with one line "N passed, M failed" over everything it ran.
# Exit status: 0 when nothing failed.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(build-essential pkg-config meson ninja-build
	libuv1-dev libldns-dev liblmdb-dev libprotobuf-c-dev protobuf-c-compiler
	libjansson-dev libsodium-dev libcriterion-dev)
# The real peers and tools of the integration tests.
PEER_PKGS=(python3 python3-pytest python3-dnspython python3-protobuf protobuf-compiler
	dnsutils knot-dnsutils knot-dnssecutils ldnsutils unbound nsd knot bind9 bind9-utils
	lmdb-utils faketime iproute2 procps python3-prometheus-client chromium systemd)

"$(dirname "$0")/../deploy/install-deps.sh" "${BUILD_PKGS[@]}" "${PEER_PKGS[@]}"

# The packaged daemons (unbound, nsd, knot, named) are not started by the
# install (deploy/install-deps.sh sets a policy-rc.d); every test starts its
# own on its own ports and files, so nothing else running is disturbed.

JOBS=$(nproc)
setup() { # dir, extra meson args...
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" -Dtests=enabled "$@" >/dev/null
	else
		meson configure "$dir" -Dtests=enabled >/dev/null
	fi
	ninja -C "$dir" -j "$JOBS"
}

setup build
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

passed=0
failed=0
run_suite() { # dir
	local dir=$1 rc=0
	ROSTER_BUILD_DIR="$PWD/$dir" meson test -C "$dir" --print-errorlogs \
		--num-processes "$JOBS" || rc=$?
	# meson writes one JSON object per test to testlog.json.
	local ok bad
	ok=$(grep -c '"result": "OK"' "$dir/meson-logs/testlog.json" || true)
	bad=$(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' \
		"$dir/meson-logs/testlog.json" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		failed=$((failed + 1)) # meson itself failed
	fi
}

run_suite build
run_suite build-asan

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
