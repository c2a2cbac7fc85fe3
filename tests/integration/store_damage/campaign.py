#!/usr/bin/python3
"""The store damage campaign (issue 14): N random-damage variants of a copy
of a real store of M instances, rosterd started on each. Every variant
must end one of the acceptable ways (store_common.verdict()): exit 2 with
one line naming the damage, or serving every instance, or serving fewer and
saying so; never a signal. Prints the tally by damage kind and outcome.

    tests/integration/store_damage/campaign.py [--variants 1000] [--instances 100000]
        [--build DIR] [--seed 0]

Independent of tests/run.sh; CI runs a 30-variant slice
(test_store_damage.py::test_damage_campaign_slice). See docs/testing.md."""
import argparse
import collections
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "..", "build"))
    a = ap.parse_args()
    os.environ.setdefault("ROSTER_BUILD_DIR", os.path.abspath(a.build))
    from store_common import copy_store, damage_variant, make_store, start_once, verdict

    tmp = tempfile.mkdtemp(prefix="roster-damage.")
    try:
        t0 = time.monotonic()
        template = make_store(tmp, a.instances)
        tally = collections.Counter()
        bad = []
        for k in range(a.variants):
            seed = a.seed + k
            d = copy_store(template, os.path.join(tmp, "v"))
            kind = damage_variant(d, seed)
            o = start_once(os.path.join(tmp, "r"), d)
            v = verdict(o, a.instances)
            if v:
                bad.append((seed, kind, v))
                outcome = "BAD"
            elif o.served is None:
                outcome = "refused (exit 2)"
            elif o.served == a.instances:
                outcome = "served all"
            else:
                outcome = "served fewer, said so"
            tally[(kind, outcome)] += 1
            shutil.rmtree(d)
            shutil.rmtree(os.path.join(tmp, "r"))
        print(f"{a.variants} variants of a {a.instances}-instance store "
              f"in {time.monotonic() - t0:.0f} s")
        for (kind, outcome), n in sorted(tally.items()):
            print(f"  {kind:20} {outcome:24} {n}")
        for seed, kind, v in bad:
            print(f"  BAD seed {seed} ({kind}): {v}")
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
