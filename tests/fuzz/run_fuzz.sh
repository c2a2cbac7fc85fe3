#!/bin/sh
# Run one libFuzzer target as a test: RUNS inputs with a fixed seed, starting
# from the seed corpus, which is read but never written (new inputs go to a
# temporary directory, removed afterwards). A crash, a leak, a sanitizer
# report or a broken invariant makes the fuzzer exit non-zero: the test
# fails, and the input is kept as ARTIFACT_DIR/crash-<sha1> (or leak-,
# timeout-, oom-) to reproduce with `<target> <file>` (docs/fuzzing.md).
# libFuzzer's own error exit code is 77, which meson reads as SKIP: a crash
# would pass as a skipped test. -error_exitcode=1 makes it a failure.
# Usage: run_fuzz.sh TARGET SEED_CORPUS ARTIFACT_DIR RUNS
set -eu
target=$1 seeds=$2 artifacts=$3 runs=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$target" -runs="$runs" -seed=1 -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$seeds"
