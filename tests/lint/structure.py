#!/usr/bin/env python3
"""tests/lint/structure.py - the shape of the product code, checked in CI.

    structure.py SOURCE_DIR BUILD_DIR

Product code: the C files under common/, proto/, server/, client/ and
zonegen/ (client/examples/ excepted: sample programs, not the product).
A module is one .c/.h pair (server/dns/answer.c + server/dns/answer.h).

Checks, each printing every offender:
  1. no product C file has more than MAX_LINES lines;
  2. no include cycle among modules: module A depends on module B when A's
     .c or .h includes B's header;
  3. no function over MAX_FUNCTION lines, but those in LONG_FUNCTIONS,
     each with the reason it stays whole;
  4. no call cycle among modules: module A depends on module B when A's
     object file uses a symbol that B's object defines (read with nm from
     the static libraries of BUILD_DIR, mapped back to sources through
     compile_commands.json). This is the cycle an include check misses: a
     header declared in one place and defined in another.
Exit status 0 when every check passes, 1 otherwise.
"""
import json
import os
import re
import subprocess
import sys

MAX_LINES = 1000
MAX_FUNCTION = 100
# "path:function": why it stays one function.
LONG_FUNCTIONS = {
}
FUNC_NAME = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)\s*\(")
PRODUCT_DIRS = ("common", "proto", "server", "client", "zonegen")
EXCLUDED = ("client/examples/",)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def product_files(src):
    out = []
    for top in PRODUCT_DIRS:
        for d, _, files in os.walk(os.path.join(src, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    rel = os.path.relpath(os.path.join(d, f), src)
                    if not rel.startswith(EXCLUDED):
                        out.append(rel)
    return sorted(out)


def module_of(rel):
    """A private header (foo_internal.h) belongs to its module (foo)."""
    m = os.path.splitext(rel)[0]
    return m[:-len("_internal")] if m.endswith("_internal") else m


def cycles(edges):
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(edges) | {b for bs in edges.values() for b in bs}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def explain(comp, edges, why):
    lines = []
    for a in comp:
        for b in sorted(edges.get(a, ())):
            if b in comp:
                lines.append(f"    {a} -> {b}: {why(a, b)}")
    return "\n".join(lines)


def check_lengths(src, files):
    bad = []
    for rel in files:
        with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            bad.append(f"  {rel}: {n} lines (at most {MAX_LINES})")
    return bad


def function_lengths(path):
    """(name, first line, lines) of each function of a C file written in
    STYLE's form: the body's braces alone at column 0."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    out, start = [], None
    for i, line in enumerate(lines):
        if line == "{" and start is None:
            start = i
        elif line.startswith("}") and start is not None and not line.startswith("};"):
            k, sig = start - 1, []
            while k >= 0 and lines[k].strip() and not lines[k].rstrip().endswith((";", "}", "*/")):
                sig.insert(0, lines[k])
                k -= 1
            head = " ".join(sig)
            names = FUNC_NAME.findall(head)
            if names and "=" not in head:
                out.append((names[-1] if head.startswith("#") else names[0], start, i - start + 1))
            start = None
    return out


def check_functions(src, files):
    bad = []
    for rel in files:
        if not rel.endswith(".c"):
            continue
        for name, line, n in function_lengths(os.path.join(src, rel)):
            if n > MAX_FUNCTION and f"{rel}:{name}" not in LONG_FUNCTIONS:
                bad.append(f"  {rel}:{line}: {name}: {n} lines (at most {MAX_FUNCTION}, "
                           "or a reason in LONG_FUNCTIONS)")
    for key, why in sorted(LONG_FUNCTIONS.items()):
        print(f"  allowed: {key}: {why}")
    return bad


def check_includes(src, files):
    known = set(files)
    edges, via = {}, {}
    for rel in files:
        with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        a = module_of(rel)
        for inc in INCLUDE.findall(text):
            if inc not in known:
                continue  # generated (roster.pb-c.h) or not ours
            b = module_of(inc)
            if a != b:
                edges.setdefault(a, set()).add(b)
                via.setdefault((a, b), []).append(f"{rel} includes {inc}")
    return [f"  include cycle among {', '.join(c)}:\n" +
            explain(c, edges, lambda a, b: "; ".join(via[(a, b)]))
            for c in cycles(edges)]


def check_symbols(src, build, files):
    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    obj_src = {}
    for c in commands:
        path = os.path.relpath(os.path.normpath(os.path.join(c["directory"], c["file"])), src)
        obj_src[os.path.normpath(os.path.join(c["directory"], c["output"]))] = path
    product = set(files)
    defined, used, seen = {}, {}, set()
    libs = sorted({os.path.dirname(o) for o in obj_src if o.endswith(".o")})
    for libdir in libs:
        # meson keeps a library's objects in <lib>.p/
        if not re.search(r"\.(a|so[.0-9]*)\.p$", libdir):
            continue
        for obj in sorted(os.listdir(libdir)):
            full = os.path.join(libdir, obj)
            rel = obj_src.get(full)
            if rel is None or rel not in product:
                continue
            out = subprocess.run(["nm", full], capture_output=True, text=True,
                                 check=True).stdout
            if rel in seen:
                continue  # one source built into two libraries
            seen.add(rel)
            m = module_of(rel)
            for line in out.splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == "U":
                    used.setdefault(m, set()).add(parts[1])
                elif len(parts) == 3 and parts[1] in "TDBR":
                    defined.setdefault(parts[2], set()).add(m)
    edges, via = {}, {}
    for a, syms in used.items():
        for s in syms:
            for b in defined.get(s, ()):
                if a != b:
                    edges.setdefault(a, set()).add(b)
                    via.setdefault((a, b), set()).add(s)
    return [f"  call cycle among {', '.join(c)}:\n" +
            explain(c, edges, lambda a, b: ", ".join(sorted(via[(a, b)])[:6]))
            for c in cycles(edges)]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, build = (os.path.abspath(a) for a in sys.argv[1:])
    files = product_files(src)
    failed = False
    for name, problems in (
            (f"files over {MAX_LINES} lines", check_lengths(src, files)),
            (f"functions over {MAX_FUNCTION} lines", check_functions(src, files)),
            ("include cycles among modules", check_includes(src, files)),
            ("call cycles among modules", check_symbols(src, build, files))):
        print(f"{name}: {len(problems)}")
        for p in problems:
            print(p)
        failed |= bool(problems)
    print(f"{len(files)} product files checked")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
