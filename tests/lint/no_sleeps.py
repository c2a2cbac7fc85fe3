#!/usr/bin/env python3
"""No fixed sleeps in the integration tests.

A test waits on what it can observe (harness.wait_until(), hold_for(),
wait_change()), with the bounds SPEC sets, never for a fixed time before an
assertion: a fixed sleep is flaky on a loaded machine or needlessly slow,
and cannot tell "late" from "never". This fails on every `sleep(` in
tests/integration/**/*.py except the lines listed in ALLOWED, where time
passing is itself the test's action (or the harness's poll interval);
each of those lines must carry a comment saying why, and an entry that no
longer matches fails too, so that the list stays short and true.

    no_sleeps.py [ROOT]     (ROOT: tests/integration; exit 0 when clean)
"""
import os
import re
import sys

# (file under tests/integration, text of the line without its comment, how many)
ALLOWED = [
    # wait_until() and hold_for(): the poll interval between two looks.
    ("harness.py", "time.sleep(interval)", 2),
    # The registry is down while most of a lease's TTL runs out.
    ("registry_restart/test_registry_restart.py", "time.sleep(2.5)", 1),
    # Two leases opened three expiry ticks apart.
    ("registry_preservation/test_registry_preservation.py", "time.sleep(0.3)", 1),
    # A client trickling a query a byte every 0.1 s.
    ("dns_robust/test_dns_robust.py", "time.sleep(0.1)", 1),
]

SLEEP = re.compile(r"\bsleep\s*\(")


def code_of(line):
    """The line without its comment (a '#' outside quotes, roughly), stripped."""
    out, quote = [], None
    for ch in line:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out).strip()


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                      "integration")
    allowed = {(path, code): n for path, code, n in ALLOWED}
    seen = {key: 0 for key in allowed}
    errors = []
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not SLEEP.search(code_of(line)):
                        continue
                    key = (rel, code_of(line))
                    if key not in allowed:
                        errors.append(f"{rel}:{lineno}: a fixed sleep: wait on the condition "
                                      f"(harness.wait_until/hold_for): {line.strip()}")
                        continue
                    seen[key] += 1
                    if "#" not in line[line.index(key[1]) + len(key[1]):]:
                        errors.append(f"{rel}:{lineno}: an allowed sleep must say why in a "
                                      f"comment on its line")
    for key, n in allowed.items():
        if seen[key] != n:
            errors.append(f"{key[0]}: {seen[key]} lines '{key[1]}', the allow-list says {n}: "
                          f"update tests/lint/no_sleeps.py")
    for e in errors:
        print(e)
    if errors:
        return 1
    print(f"no fixed sleeps in {root} ({sum(seen.values())} allowed lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
