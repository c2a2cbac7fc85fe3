#!/usr/bin/env python3
"""Write a synthetic fleet inventory (JSON Lines) for roster-zonegen.

Hosts follow the naming convention <site>-<role>-<pool><id>, spread over
--sites sites and --roles roles per site, each with one IPv4 address
(10.<site>.x.y) and one IPv6 address (2001:db8:<site>::/48). Two files are
written, like a physical fleet and a cloud: every fifth host goes to the
second one with an explicit "site"/"role" and "source": "cloud".
Deterministic: the same arguments give the same files.
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=100000)
    ap.add_argument("--sites", type=int, default=10)
    ap.add_argument("--roles", type=int, default=40)
    ap.add_argument("--big-role", type=int, default=0,
                    help="put this many hosts of site 0 in role 'hadoopslave'")
    ap.add_argument("--out", required=True, help="directory for fleet.jsonl and cloud.jsonl")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    per_site = a.hosts // a.sites
    sites = [f"s{n:02d}" for n in range(a.sites)]
    with open(os.path.join(a.out, "fleet.jsonl"), "w") as phys, \
            open(os.path.join(a.out, "cloud.jsonl"), "w") as cloud:
        for si, site in enumerate(sites):
            count = per_site + (1 if si < a.hosts % a.sites else 0)
            for i in range(count):
                if si == 0 and i < a.big_role:
                    role = "hadoopslave"
                else:
                    role = f"role{i % a.roles:02d}"
                pool = "abcd"[i % 4]
                name = f"{site}-{role}-{pool}{i}"
                v4 = f"10.{si}.{i // 250}.{i % 250 + 1}"
                v6 = f"2001:db8:{si:x}:{i // 4096:x}::{i % 4096 + 1:x}"
                if i % 5 == 4:
                    rec = {"name": f"{name}.{site}.example.net", "ipv4": [v4], "ipv6": v6,
                           "site": site, "role": role, "source": "cloud"}
                    cloud.write(json.dumps(rec) + "\n")
                else:
                    rec = {"name": name, "ipv4": v4, "ipv6": [v6]}
                    phys.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
