"""Every zone roster-zonegen writes loads in named-checkzone, kzonecheck and
nsd-checkzone, with the record counts the inventory implies; the BIND include
loads in a real named (with a big role over BIND's default
max-records-per-type), and named answers from it."""
import collections
import json
import os
import subprocess

import dns.message
import dns.query
import dns.rdatatype

import harness
import zonegen_common as zc


def assert_three_checkers_load(files):
    for f in files:
        z = zc.zone_name(f)
        b = harness.run(["named-checkzone", "-i", "full", z, f])
        assert b.returncode == 0 and "OK" in b.stdout, f"named-checkzone {z}: {b.stdout}{b.stderr}"
        k = harness.run(["kzonecheck", "-o", z, f])
        assert k.returncode == 0, f"kzonecheck {z}: {k.stdout}{k.stderr}"
        n = harness.run(["nsd-checkzone", z.rstrip("."), f])
        assert n.returncode == 0 and "is ok" in n.stdout, f"nsd-checkzone {z}: {n.stdout}{n.stderr}"


def test_every_zone_loads_in_three_checkers_with_inventory_counts(tmp_path):
    inv = zc.mkfleet(str(tmp_path / "inv"), hosts=3000, sites=3, roles=12, big_role=2600)
    static = tmp_path / "static"
    static.mkdir()
    (static / "s00.example.net.zone").write_text(
        "$TTL 300\nwww IN CNAME s00-hadoopslave-a0\nmail IN MX 10 s00-hadoopslave-a1\n"
        "_sip._tcp IN SRV 0 5 5060 s00-hadoopslave-a2\n")
    out = str(tmp_path / "zones")
    r = zc.run(out, inv, "--records", str(static), "--ns", "ns1.example.net",
               "--ns", "ns2.example.net", "--commit", "cafe01", "--shard-large", check=0)
    files = zc.zone_files(out)
    # 3 sites x (host + roles) + 3 /16 IPv4 + 3 /48 IPv6 reverse zones
    assert len(files) == 12, files
    assert_three_checkers_load(files)

    hosts = []
    for path in inv:
        with open(path) as fh:
            hosts += [json.loads(line) for line in fh]
    as_list = lambda v: v if isinstance(v, list) else [v]
    n4 = sum(len(as_list(h["ipv4"])) for h in hosts)
    n6 = sum(len(as_list(h["ipv6"])) for h in hosts)
    by_type = collections.Counter()
    ptr_rev = 0
    roles_ptr = 0
    for f in files:
        recs = zc.records(f)
        z = zc.zone_name(f)
        if z.endswith(".arpa."):
            ptr_rev += sum(1 for r_ in recs if r_[1] == "PTR")
        elif z.startswith("roles."):
            roles_ptr += sum(1 for r_ in recs if r_[1] == "PTR")
        else:
            for r_ in recs:
                by_type[r_[1]] += 1
    assert by_type["A"] == n4 and by_type["AAAA"] == n6
    assert ptr_rev == n4 + n6, "one PTR per address"
    assert roles_ptr == len(hosts), "one role PTR per host (sharded or not)"
    assert by_type["CNAME"] == 1 and by_type["MX"] == 1 and by_type["SRV"] == 1
    # the summary names every zone with its counts
    assert "zone s00.example.net. serial" in r.stdout
    assert "CNAME 1" in r.stdout


def test_real_named_loads_the_include_and_answers_a_big_role(tmp_path):
    inv = zc.mkfleet(str(tmp_path / "inv"), hosts=1200, sites=1, roles=2, big_role=700)
    out = str(tmp_path / "zones")
    zc.run(out, inv, check=0)
    include = os.path.join(out, "roster.named.conf")
    text = open(include).read()
    assert "max-records-per-type" in text, "the 700-host role needs more than BIND's 100"
    port = harness.free_port(both=True)
    conf = tmp_path / "named.conf"
    conf.write_text(f"""options {{
    directory "{tmp_path}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    pid-file "{tmp_path}/named.pid";
    recursion no;
}};
include "{include}";
""")
    chk = harness.run(["named-checkconf", "-z", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    proc = subprocess.Popen(["named", "-g", "-u", "root", "-c", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        harness.wait_port(port, proc=proc, timeout=30)
        ans = zc.query_until_answered("hadoopslave.roles.s00.example.net.", "A", port, tcp=True)
        assert ans.rcode() == 0 and ans.answer, ans
        assert len(ans.answer[0]) == 700
        q = dns.message.make_query("s00.example.net.", "SOA")
        ans = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
        assert ans.answer[0][0].serial == zc.soa_serial(os.path.join(out, "s00.example.net.zone"))
    finally:
        proc.terminate()
        out_text = proc.communicate(timeout=20)[0]
    assert "loaded serial" in out_text


def named_log(tmp_path, zone_stmt):
    """Start a real named with one zone statement, return its log once it runs."""
    port = harness.free_port(both=True)
    conf = tmp_path / f"named-{port}.conf"
    conf.write_text(f"""options {{ directory "{tmp_path}"; listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }}; pid-file "{tmp_path}/named-{port}.pid"; recursion no; }};
{zone_stmt}
""")
    log_path = tmp_path / f"named-{port}.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(["named", "-g", "-u", "root", "-c", str(conf)],
                                stdout=log_file, stderr=subprocess.STDOUT, text=True)
    try:
        harness.wait_port(port, proc=proc, timeout=30)
        # named listens before it has loaded its zones: wait for the line it
        # logs once every zone is loaded (or refused), not a fixed 0.5 s.
        def running():
            assert proc.poll() is None, log_path.read_text()[-2000:]
            return " running\n" in log_path.read_text()
        harness.wait_until(running, 30, "named running (its zones loaded)", interval=0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return log_path.read_text()


def test_without_the_raised_limit_named_refuses_the_big_role(tmp_path):
    """The include's max-records-per-type is what makes the role loadable:
    the same zone file without it is refused by named 9.18."""
    inv = zc.mkfleet(str(tmp_path / "inv"), hosts=400, sites=1, roles=2, big_role=300)
    out = str(tmp_path / "zones")
    zc.run(out, inv, check=0)
    f = os.path.join(out, "roles.s00.example.net.zone")
    log = named_log(tmp_path, f'zone "roles.s00.example.net" {{ type primary; file "{f}"; }};')
    assert "too many records" in log and "not loaded due to errors" in log, log[-2000:]
    include = os.path.join(out, "roster.named.conf")
    log = named_log(tmp_path, f'include "{include}";')
    assert "too many records" not in log
    assert "zone roles.s00.example.net/IN: loaded serial" in log, log[-2000:]


def test_other_reverse_prefixes_split_and_load(tmp_path):
    hosts = [dict(name="lon6-web-a1", ipv4=["10.6.1.1", "10.6.2.1"],
                  ipv6=["2001:db8:6:1::1", "2001:db8:6:2::1"]),
             dict(name="lon6-web-a2", ipv6="2001:db8:6:1::2"),
             dict(name="lon6-db-b1", ipv4="192.0.2.10")]
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", hosts)
    out = str(tmp_path / "zones")
    zc.run(out, [inv], "--reverse-prefix", "24", "--reverse6-prefix", "64", check=0)
    names = [zc.zone_name(f) for f in zc.zone_files(out)]
    assert names == sorted(names)
    assert set(n for n in names if n.endswith("in-addr.arpa.")) == {
        "1.6.10.in-addr.arpa.", "2.6.10.in-addr.arpa.", "2.0.192.in-addr.arpa."}
    assert set(n for n in names if n.endswith("ip6.arpa.")) == {
        "1.0.0.0.6.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "2.0.0.0.6.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."}
    recs = zc.records(os.path.join(out, "1.0.0.0.6.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.zone"))
    assert ("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", "PTR", "lon6-web-a2.lon6.example.net.") in recs
    assert_three_checkers_load(zc.zone_files(out))
    # a host without a role is in no roles zone; an IPv6-only host has no A
    roles = zc.records(os.path.join(out, "roles.lon6.example.net.zone"))
    assert sum(1 for o, t, _ in roles if o == "web" and t == "PTR") == 2
    assert sum(1 for o, t, _ in roles if o == "web" and t == "AAAA") == 3


def test_real_nsd_serves_every_zone_through_the_nsd_include_and_pattern(tmp_path):
    inv = zc.mkfleet(str(tmp_path / "inv"), hosts=600, sites=2, roles=3)
    out = str(tmp_path / "zones")
    zc.run(out, inv, "--serial", "42", "--nsd-pattern", "fleet", check=0)
    port = harness.free_port(both=True)
    d = tmp_path / "nsd"
    d.mkdir()
    conf = d / "nsd.conf"
    include = os.path.join(out, "roster.nsd.conf")
    # the pattern gives every zone the operator's transfer ACL
    conf.write_text(zc.nsd_conf(d, port, f"""pattern:
    name: "fleet"
    provide-xfr: 127.0.0.1 NOKEY
include: "{include}"
"""))
    chk = harness.run(["nsd-checkconf", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        harness.wait_port(port, proc=proc, timeout=20)
        for f in zc.zone_files(out):
            z = zc.zone_name(f)
            ans = zc.query_until_answered(z, "SOA", port)
            assert ans.rcode() == 0 and ans.answer[0][0].serial == 42, (z, ans)
        q = dns.message.make_query("role01.roles.s01.example.net.", "PTR")
        ans = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
        assert len(ans.answer[0]) == 100
        xfr = dns.query.xfr("127.0.0.1", "roles.s00.example.net.", port=port, timeout=5)
        axfr = [rr for m in xfr for rr in m.answer]
        assert sum(len(rr) for rr in axfr if rr.rdtype == dns.rdatatype.PTR) == 300
        q = dns.message.make_query("1.0.1.10.in-addr.arpa.", "PTR")
        ans = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
        assert str(ans.answer[0][0].target) == "s01-role00-a0.s01.example.net."
    finally:
        proc.terminate()
        proc.wait(timeout=10)
