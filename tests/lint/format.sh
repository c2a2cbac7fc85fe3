#!/bin/sh
# tests/lint/format.sh SOURCE_DIR: every C file of the tree is as
# clang-format (14, with the root .clang-format) would write it.
# Prints the files that differ; to fix them: clang-format -i FILE...
set -eu
cd "$1"
bad=0
for f in $(find common proto server client zonegen tests bench -name '*.[ch]' | sort); do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=$((bad + 1))
	fi
done
echo "$bad files differ from clang-format"
[ "$bad" -eq 0 ]
