#!/usr/bin/env python3
"""tests/mutants/run.py - the standing mutation check (issue 19).

    tests/mutants/run.py [--only ID,...] [--keep] [--list]

Each mutant in tests/mutants/mutants.py is one small bug: a piece of text
that occurs exactly once in the product code (server/, client/, common/,
zonegen/, proto/), and what to put in its place. For each mutant, one at a
time, on a scratch copy of the tree (never the checkout itself):
  1. the text is replaced (a mutant whose text is not found exactly once is
     reported STALE: the code moved on, the mutant must be rewritten);
  2. the scratch tree is rebuilt (a mutant that does not compile is
     reported STILLBORN: it tells nothing);
  3. the tests named by the mutant run; the mutant is KILLED when one of
     them fails, and SURVIVED when all pass;
  4. the file is restored.
The report lists every mutant's verdict and ends with the score: killed /
(killed + survived). Exit status 0 when the score is at least --min-score
(default 0.95) and no mutant is stale, 1 otherwise.

Slow (a build and a test run per mutant: tens of minutes), so it is opt-in:
./tests/run.sh --mutants, or this script directly after a normal build.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from mutants import MUTANTS  # noqa: E402

PRODUCT = ("server", "client", "common", "zonegen", "proto")
SKIP_DIRS = {".git"}


def product_files(root):
    for top in PRODUCT:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def locate(root, text):
    """(path, offset) of the one occurrence of @text, or (None, count)."""
    hits = []
    for path in product_files(root):
        with open(path, encoding="utf-8") as f:
            body = f.read()
        start = 0
        while True:
            i = body.find(text, start)
            if i < 0:
                break
            hits.append((path, i))
            start = i + 1
    if len(hits) == 1:
        return hits[0]
    return None, len(hits)


def scratch_copy(dest):
    def ignore(d, names):
        # Build directories sit at the top (build, build-asan, build-cov...);
        # deeper names starting with "build" are sources (build_tree.py).
        top = os.path.samefile(d, SOURCE)
        return [n for n in names if n in SKIP_DIRS or (top and n.startswith("build"))]
    shutil.copytree(SOURCE, dest, ignore=ignore, symlinks=True)


def run(cmd, cwd, timeout, env=None):
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           env=env)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        return -1, f"timed out after {timeout} s: {e}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--keep", action="store_true", help="keep the scratch tree")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--min-score", type=float, default=0.95)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per mutant's tests")
    args = ap.parse_args()
    mutants = MUTANTS
    if args.only:
        want = set(args.only.split(","))
        mutants = [m for m in MUTANTS if m["id"] in want]
    if args.list:
        for m in mutants:
            print(f"{m['id']:<28} {', '.join(m['tests'])}: {m['what']}")
        return 0

    tmp = tempfile.mkdtemp(prefix="roster-mutants-")
    tree = os.path.join(tmp, "src")
    build = os.path.join(tree, "build")
    print(f"scratch tree {tree}", flush=True)
    scratch_copy(tree)
    rc, out = run(["meson", "setup", build, "-Dtests=enabled"], tree, 600)
    if rc == 0:
        rc, out = run(["ninja", "-C", build], tree, 1800)
    if rc != 0:
        print(out[-4000:])
        print("the unmutated tree does not build")
        return 1
    env = dict(os.environ, ROSTER_BUILD_DIR=build)
    results = []
    try:
        for m in mutants:
            t0 = time.monotonic()
            path, where = locate(tree, m["find"])
            if path is None:
                results.append((m, "STALE", f"text found {where} times"))
                print(f"{m['id']:<28} STALE ({where} occurrences)", flush=True)
                continue
            with open(path, encoding="utf-8") as f:
                original = f.read()
            mutated = original[:where] + m["replace"] + original[where + len(m["find"]):]
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(mutated)
                rc, out = run(["ninja", "-C", build], tree, 1800)
                if rc != 0:
                    verdict, detail = "STILLBORN", "does not compile"
                else:
                    rc, out = run(["meson", "test", "-C", build, "--no-rebuild",
                                   "--num-processes", "2", *m["tests"]], tree, args.timeout, env)
                    if rc == 0:
                        verdict, detail = "SURVIVED", "every test passed"
                    else:
                        failed = [ln.strip()
                                  for ln in out.splitlines()
                                  if " FAIL " in ln or " TIMEOUT " in ln or " ERROR " in ln]
                        verdict = "KILLED"
                        detail = "; ".join(f.split("/", 1)[-1][:60] for f in failed[:3]) \
                            or "a test failed"
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(original)
                # The restored file must not look older than its object.
                os.utime(path, None)
            rel = os.path.relpath(path, tree)
            results.append((m, verdict, detail))
            print(f"{m['id']:<28} {verdict:<9} {time.monotonic() - t0:5.0f} s  {rel}: {detail}",
                  flush=True)
        # Leave the scratch build as the unmutated tree.
        run(["ninja", "-C", build], tree, 1800)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    killed = sum(1 for _, v, _ in results if v == "KILLED")
    survived = [m for m, v, _ in results if v == "SURVIVED"]
    stale = [m for m, v, _ in results if v == "STALE"]
    stillborn = [m for m, v, _ in results if v == "STILLBORN"]
    scored = killed + len(survived)
    score = killed / scored if scored else 0.0
    print(f"\n{len(results)} mutants: {killed} killed, {len(survived)} survived, "
          f"{len(stillborn)} stillborn, {len(stale)} stale; score {score:.1%}")
    for m in survived:
        print(f"  survived: {m['id']}: {m['what']}"
              + (f" (equivalent: {m['equivalent']})" if m.get("equivalent") else ""))
    for m in stale:
        print(f"  stale: {m['id']}: rewrite its text")
    return 0 if score >= args.min_score and not stale else 1


if __name__ == "__main__":
    sys.exit(main())
