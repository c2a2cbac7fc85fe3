#!/usr/bin/env python3
"""Line and branch coverage per directory, from gcovr's JSON summary.

    gcovr -r . BUILD --json-summary -o cov.json
    tests/coverage/summary.py cov.json [--files]

One row per top-level directory (server/, client/, common/, zonegen/,
proto/), then one per subdirectory of it (server/api/, client/cli/...);
files directly in a directory with subdirectories are also shown as
"<dir>/ (top)". client/examples/ is left out (demo programs, not the
library). --files adds one row per file, weakest branches first.
Used by ./tests/run.sh --coverage; docs/testing.md records its output."""
import json
import sys

EXCLUDED = ("client/examples/",)
TOPS = ("server", "client", "common", "zonegen", "proto")


def pct(covered, total):
    return f"{100.0 * covered / total:5.1f}%" if total else "    - "


def row(name, c, width=22):
    return (f"{name:<{width}} {pct(c[0], c[1])} {c[0]:>6}/{c[1]:<6} "
            f"{pct(c[2], c[3])} {c[2]:>6}/{c[3]:<6}")


def add(acc, key, f):
    a = acc.setdefault(key, [0, 0, 0, 0])
    a[0] += f["line_covered"]
    a[1] += f["line_total"]
    a[2] += f["branch_covered"]
    a[3] += f["branch_total"]


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    doc = json.load(open(argv[1]))
    files = [f for f in doc["files"]
             if f["filename"].split("/")[0] in TOPS and not f["filename"].startswith(EXCLUDED)]
    acc = {}
    for f in files:
        parts = f["filename"].split("/")
        add(acc, parts[0] + "/", f)
        add(acc, "all", f)
        sub = parts[0] + "/" + (parts[1] + "/" if len(parts) > 2 else " (top)")
        add(acc, sub, f)
    print(f"{'directory':<22} {'lines':>20} {'branches':>20}")
    for top in TOPS:
        key = top + "/"
        if key not in acc:
            continue
        print(row(key, acc[key]))
        subs = sorted(k for k in acc if k.startswith(key) and k != key)
        if any(k.endswith("/") for k in subs):
            for k in subs:
                print(row("  " + k, acc[k]))
    print(row("all", acc["all"]))
    if "--files" in argv:
        print()
        print(f"{'file':<34} {'lines':>20} {'branches':>20}")
        def weak(f):
            t = f["branch_total"]
            return f["branch_covered"] / t if t else 1.0
        for f in sorted(files, key=weak):
            c = [f["line_covered"], f["line_total"], f["branch_covered"], f["branch_total"]]
            print(row(f["filename"], c, width=34))


if __name__ == "__main__":
    main(sys.argv)
