#!/usr/bin/env bash
# Roster's whole test suite, from a bare Debian 12 machine:
#   1. installs the Debian packages the build and the tests need (apt-get
#      update runs only when something is missing);
#   2. builds four times: build/ (normal), build-asan/ (AddressSanitizer +
#      UndefinedBehaviorSanitizer), build-release/ (-O3, compiled only) and
#      build-fuzz/ (clang, libFuzzer targets of tests/fuzz with ASan + UBSan),
#      each with -Wall -Wextra -Werror;
#   3. runs every registered test (criterion unit tests, integration tests
#      against the real binaries and real peers) in the first two builds,
#      and the fuzz suite (each target a fixed number of runs from its seed
#      corpus, about a minute in all) in build-fuzz;
#   4. ends with one line "N passed, M failed" over everything it ran.
# Exit status: 0 when nothing failed.
#
# ./tests/run.sh --coverage instead builds build-cov/ (gcc, -Db_coverage=true),
# runs the unit, integration and lint suites there, prints line and branch
# coverage per directory (gcovr; docs/testing.md keeps the figures), and
# ends with the same "N passed, M failed" line.
#
# ./tests/run.sh --packages instead builds the Debian packages
# (deploy/debian-build.sh: dpkg-buildpackage, lintian, the packaged binaries
# run from the unpacked packages), then installs them into a fresh Debian 12
# (deploy/debian-install-check.sh: debootstrap, apt-get install, the
# binaries, files and a running rosterd checked there; root, the Debian
# archive and about 1 GB). A few minutes, so not in the default run; it
# ends with the same "N passed, M failed" line.
#
# ./tests/run.sh --mutants instead runs the standing mutation check
# (tests/mutants/run.py: each mutant on a scratch copy against the tests
# that should kill it; about 10 minutes here) and ends with its score.
set -euo pipefail
cd "$(dirname "$0")/.."

coverage=false
mutants=false
packages=false
case "${1:-}" in
"") ;;
--coverage) coverage=true ;;
--mutants) mutants=true ;;
--packages) packages=true ;;
*)
	echo "usage: $0 [--coverage | --mutants | --packages]" >&2
	exit 2
	;;
esac

BUILD_PKGS=(build-essential pkg-config meson ninja-build
	libuv1-dev libldns-dev liblmdb-dev libprotobuf-c-dev protobuf-c-compiler
	libjansson-dev libsodium-dev libcriterion-dev libsystemd-dev scdoc liburing-dev)
# The real peers and tools of the integration tests.
PEER_PKGS=(python3 python3-pytest python3-dnspython python3-protobuf protobuf-compiler
	dnsutils knot-dnsutils knot-dnssecutils ldnsutils unbound nsd knot bind9 bind9-utils
	lmdb-utils faketime iproute2 procps python3-prometheus-client chromium systemd
	clang-format python3-setuptools python3-pip python3-venv bash-completion groff-base
	prometheus)
# The fuzz build: clang, and libclang-rt-14-dev for libFuzzer and the
# sanitizer runtimes of Debian 12's clang 14.
FUZZ_PKGS=(clang libclang-rt-14-dev)

# The coverage mode: gcovr reads gcc's counters.
COV_PKGS=(gcovr)

if $coverage; then
	"$(dirname "$0")/../deploy/install-deps.sh" "${BUILD_PKGS[@]}" "${PEER_PKGS[@]}" \
		"${COV_PKGS[@]}"
else
	"$(dirname "$0")/../deploy/install-deps.sh" "${BUILD_PKGS[@]}" "${PEER_PKGS[@]}" \
		"${FUZZ_PKGS[@]}"
fi

# The packaged daemons (unbound, nsd, knot, named) are not started by the
# install (deploy/install-deps.sh sets a policy-rc.d); every test starts its
# own on its own ports and files, so nothing else running is disturbed.

JOBS=$(nproc)
setup() { # dir, tests feature, extra meson args...
	local dir=$1 tests=$2
	shift 2
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" -Dtests="$tests" "$@" >/dev/null
	else
		meson configure "$dir" -Dtests="$tests" >/dev/null
	fi
	ninja -C "$dir" -j "$JOBS"
}

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

if $mutants; then
	exec python3 tests/mutants/run.py
fi

if $packages; then
	# The build and lintian, then the install into a fresh Debian 12 (only
	# when there are packages to install).
	if deploy/debian-build.sh build-deb; then
		if deploy/debian-install-check.sh --debs build-deb; then
			echo "2 passed, 0 failed"
			exit 0
		fi
		echo "1 passed, 1 failed"
	else
		echo "0 passed, 2 failed"
	fi
	exit 1
fi

if $coverage; then
	# -O0: every line and branch of the source is one the counters can see.
	CC=gcc setup build-cov enabled -Db_coverage=true -Dbuildtype=debug
	find build-cov -name '*.gcda' -delete # counters of this run only
	run_suite build-cov
	gcovr -r . build-cov --exclude 'build-cov/' --exclude 'tests/' --exclude 'bench/' \
		--exclude 'client/examples/' --json-summary -o build-cov/coverage.json
	python3 tests/coverage/summary.py build-cov/coverage.json
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
fi

setup build enabled
setup build-asan enabled -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
# The release build (-O3) is only compiled: its inlining lets the compiler
# see warnings the other builds do not, and -Werror holds them too.
setup build-release disabled -Dbuildtype=release
# Only the fuzz targets are tests here (the unit and integration tests ran
# in the two builds above). The compiler is fixed when the directory is set up.
CC=clang setup build-fuzz disabled -Dfuzz=enabled -Db_sanitize=address,undefined \
	-Db_lundef=false

run_suite build
run_suite build-asan
run_suite build-fuzz

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
