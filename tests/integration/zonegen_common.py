"""Helpers shared by the zonegen_* integration scenarios."""
import glob
import json
import os
import subprocess
import sys

import dns.message
import dns.query

import harness
from nsd_helpers import nsd_conf  # noqa: F401 (zonegen_checkers' NSD)


def zonegen_bin():
    return harness.binary("zonegen/roster-zonegen")


def mkfleet(out, hosts=3000, sites=3, roles=12, big_role=0):
    """The bench's synthetic fleet: fleet.jsonl and cloud.jsonl in @out."""
    script = os.path.join(harness.SOURCE, "bench/zonegen/mkfleet.py")
    subprocess.run([sys.executable, script, "--hosts", str(hosts), "--sites", str(sites),
                    "--roles", str(roles), "--big-role", str(big_role), "--out", out],
                   check=True)
    return [os.path.join(out, "fleet.jsonl"), os.path.join(out, "cloud.jsonl")]


def write_jsonl(path, hosts):
    with open(path, "w") as f:
        for h in hosts:
            f.write(json.dumps(h) + "\n")
    return path


def run(out, inventories, *extra, domain="example.net", check=None):
    cmd = [zonegen_bin(), "--domain", domain, "--out", out]
    for inv in inventories:
        cmd += ["--inventory", inv]
    cmd += list(extra)
    r = harness.run(cmd, timeout=120)
    if check is not None:
        assert r.returncode == check, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def zone_files(out):
    return sorted(glob.glob(os.path.join(out, "*.zone")))


def zone_name(path):
    return os.path.basename(path)[: -len("zone")]


def soa_serial(path):
    with open(path) as f:
        for line in f:
            if line.startswith("@\tIN\tSOA\t"):
                return int(line.split()[5])
    raise AssertionError(f"no SOA in {path}")


def records(path):
    """Record lines of one of our zone files: (owner, type, rdata)."""
    out = []
    with open(path) as f:
        for line in f:
            if not line.strip() or line[0] in ";$":
                continue
            parts = line.rstrip("\n").split("\t")
            if parts[1] == "IN":
                out.append((parts[0], parts[2], parts[3]))
            else:  # a hand record with its TTL
                out.append((parts[0], parts[3], parts[4]))
    return out


def query_until_answered(name, rdtype, port, tcp=False, timeout=30.0):
    """Ask 127.0.0.1:port until the answer section is not empty (a server
    that just started may still be loading; under load that may take a
    while, hence a deadline rather than a count of tries); return the last
    response."""
    q = dns.message.make_query(name, rdtype)
    ask = dns.query.tcp if tcp else dns.query.udp
    last = []

    def answered():
        last[:] = [ask(q, "127.0.0.1", port=port, timeout=5)]
        return last[0].answer
    try:
        harness.wait_until(answered, timeout, f"an answer to {name} {rdtype}", interval=0.1)
    except AssertionError:
        pass  # the caller asserts on the answer, and names what it lacks
    return last[0]
