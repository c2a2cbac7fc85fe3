"""rosterd as the stealth primary of its services zone (issue 12): AXFR,
and IXFR as differences from the journal, to a real NSD secondary; the
serial after a restart on a wiped data dir; the transfer ACL
(--xfr-allow); IXFR from kdig and over UDP; the AXFR output checked by
named-checkzone and kzonecheck. No TSIG or NOTIFY from rosterd yet: the
test sends NSD the NOTIFY itself."""
import re
import shutil
import subprocess
import time
import urllib.request

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

import harness
import nsd_helpers
from dns_helpers import wait_dns
from harness import Rosterd, run, wait_until

ZONE = "services.lon6.example.net."


def reg(c, service, protocol, host, port, addresses=()):
    r = c.register(service, protocol, host, port, addresses=list(addresses))
    assert r.error == 0, r.message
    return r.register.revision


def register_fleet(c, big=2500):
    for i in range(3):
        reg(c, "web", "http", f"web-{i}.lon6.example.net", 8080 + i,
            [f"10.0.0.{i + 1}", f"2001:db8::{i + 1}"])
    for i in range(big):
        reg(c, "big", "tcp", f"big-{i:04d}.lon6.example.net", 9000,
            [f"10.1.{i // 250}.{i % 250 + 1}"])


def serial_at(port, tcp=False):
    q = dns.message.make_query(ZONE, "SOA")
    try:
        f = dns.query.tcp if tcp else dns.query.udp
        r = f(q, "127.0.0.1", port=port, timeout=1)
    except Exception:
        return None
    if r.rcode() != 0 or not r.answer:
        return None
    return r.answer[0][0].serial


def settled_serial(port, timeout=10):
    """The primary's serial once the version holding every change made so
    far is published: the same serial twice, 0.2 s apart (versions come at
    most one per 50 ms interval, so a change is published within it)."""
    prev = [None]

    def same():
        s = serial_at(port)
        ok = s is not None and s == prev[0]
        prev[0] = s
        return s if ok else None
    return wait_until(same, timeout, f"a settled serial on port {port}", interval=0.2)


def newer(a, b):
    """RFC 1982: is serial a newer than b?"""
    return a != b and (a - b) % 2**32 < 2**31


def wait_serial(port, serial, procs, timeout=20):
    """The secondary's SOA serial once it reaches @p serial (AssertionError
    with the last one seen after @p timeout), while every process lives."""
    def at_serial():
        for p in procs:
            assert p.poll() is None, "a server exited"
        return serial_at(port)
    return wait_until(at_serial, timeout, f"serial {serial} on port {port}", want=serial)


def answer_set(port, name, rdtype, tcp=True):
    q = dns.message.make_query(name, rdtype)
    f = dns.query.tcp if tcp else dns.query.udp
    r = f(q, "127.0.0.1", port=port, timeout=5)
    assert r.rcode() == dns.rcode.NOERROR, r
    assert not r.flags & dns.flags.TC
    return sorted(rr.to_text() for rrset in r.answer for rr in rrset)


def start_nsd(tmp_path, port, primary_port):
    return nsd_helpers.start_secondary(tmp_path, port, ZONE, primary_port)


def stop(proc):
    harness.stop_process(proc)


def notify(port, serial):
    q = dns.message.make_query(ZONE, "SOA")
    q.flags = dns.flags.AA
    q.set_opcode(dns.opcode.NOTIFY)  # after the flags: the opcode lives in them
    # RFC 1996 3.7: the new SOA in the answer section, as a primary sends it.
    q.answer.append(dns.rrset.from_text(
        ZONE, 5, "IN", "SOA",
        f"ns1.example.net. hostmaster.example.net. {serial} 60 30 604800 5"))
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    assert r.rcode() == dns.rcode.NOERROR, r


def metrics(srv):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5) as f:
        return f.read().decode()


def metric(text, name, **labels):
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{re.escape(name)}{re.escape('{' + sel + '}') if sel else ''} (\d+)$",
                  text, re.M)
    return int(m.group(1)) if m else None


@pytest.fixture
def primary(tmp_path):
    with Rosterd(tmp_path, extra=["--xfr-allow", "192.0.2.0/24,127.0.0.1/32,::1"]) as s:
        yield wait_dns(s)


def test_nsd_secondary_serves_the_zone_and_follows_a_change(tmp_path, primary):
    c = primary.client()
    register_fleet(c)
    serial = settled_serial(primary.dns_port)
    nport = harness.free_port(both=True)
    nsd = None
    try:
        nsd, nlog = start_nsd(tmp_path, nport, primary.dns_port)
        harness.wait_port(nport, proc=nsd)
        assert wait_serial(nport, serial, [nsd, primary.proc]) == serial, open(nlog).read()[-2000:]
        for name, t in [("_web._http." + ZONE, "SRV"), ("web." + ZONE, "A"),
                        ("web." + ZONE, "AAAA")]:
            assert answer_set(nport, name, t) == answer_set(primary.dns_port, name, t), name
        # The 2,500-endpoint service: a stable subset that fits, answered over TCP.
        big = answer_set(nport, "_big._tcp." + ZONE, "SRV")
        assert 500 < len(big) < 2500
        assert len(answer_set(nport, "big." + ZONE, "A")) == 2500
        ring = answer_set(nport, "_ring._big._tcp." + ZONE, "TXT")
        assert len(ring) == 1
        # The ring is whole on the secondary, over the shards _ring names.
        shards = int(ring[0].strip('"').split("=")[1])
        assert shards >= 2, ring
        vnodes = 0
        for k in range(1, shards + 1):
            part = answer_set(nport, f"{k}._ring._big._tcp." + ZONE, "TXT")
            assert part == answer_set(primary.dns_port, f"{k}._ring._big._tcp." + ZONE, "TXT")
            vnodes += sum(len(rd.split('" "')) for rd in part)
        assert vnodes == 2500 * 8
        assert answer_set(nport, "_status." + ZONE, "TXT")[0].find(f"serial={serial}") > 0

        # A change, then the NOTIFY rosterd does not send yet: NSD asks IXFR,
        # which rosterd answers with the difference (RFC 1995 4).
        reg(c, "web", "http", "web-9.lon6.example.net", 8089, ["10.0.0.9"])
        serial2 = settled_serial(primary.dns_port)
        assert newer(serial2, serial)
        notify(nport, serial2)
        assert wait_serial(nport, serial2, [nsd, primary.proc]) == serial2, open(nlog).read()[-2000:]
        srv = answer_set(nport, "_web._http." + ZONE, "SRV")
        assert srv == answer_set(primary.dns_port, "_web._http." + ZONE, "SRV")
        assert any("web-9.lon6.example.net." in r for r in srv)
        assert "10.0.0.9" in answer_set(nport, "web." + ZONE, "A", tcp=False)
    finally:
        stop(nsd)
    m = metrics(primary)
    full = sum(metric(m, "roster_dns_transfers_total", type=t, result="full") or 0
               for t in ("axfr", "ixfr"))
    assert full >= 1, m
    assert metric(m, "roster_dns_transfers_total", type="ixfr", result="incremental") >= 1, m
    assert metric(m, "roster_dns_transfer_partial_rrsets_total") >= 1  # the SRV; rings shard


def test_axfr_and_ixfr_from_dig_and_kdig(tmp_path, primary):
    c = primary.client()
    register_fleet(c, big=300)
    serial = settled_serial(primary.dns_port)
    p = str(primary.dns_port)
    out = run(["dig", "@127.0.0.1", "-p", p, "+time=5", "+tries=1", "AXFR", ZONE]).stdout
    zone = tmp_path / "axfr.zone"
    zone.write_text(out)
    rrs = [l.split() for l in out.splitlines() if l and not l.startswith(";")]
    assert rrs[0][3] == "SOA" and rrs[-1][3] == "SOA" and rrs[0][6] == str(serial)
    assert sum(1 for r in rrs if r[3] == "SOA") == 2
    types = {(r[0], r[3]) for r in rrs}
    for want in [(ZONE, "NS"), ("_status." + ZONE, "TXT"), ("_web._http." + ZONE, "SRV"),
                 ("_ring._web._http." + ZONE, "TXT"), ("web." + ZONE, "A"),
                 ("web." + ZONE, "AAAA"), ("_big._tcp." + ZONE, "SRV"), ("big." + ZONE, "A")]:
        assert want in types, want
    assert sum(1 for r in rrs if r[0] == "_big._tcp." + ZONE) == 300
    chk = run(["named-checkzone", "-i", "none", ZONE, str(zone)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    chk = run(["kzonecheck", "-o", ZONE, str(zone)])
    assert chk.returncode == 0, chk.stdout + chk.stderr

    # IXFR from an older serial that is not in the journal: the whole zone,
    # AXFR-style.
    r = run(["kdig", "@127.0.0.1", "-p", p, "+time=5", f"IXFR={serial - 1}", ZONE])
    assert r.returncode == 0, r.stderr
    lines = [l.split() for l in r.stdout.splitlines() if l and not l.startswith(";")]
    assert lines[0][3] == "SOA" and lines[-1][3] == "SOA"
    assert any(l[3] == "SRV" for l in lines)
    # Up to date: our SOA alone.
    r = run(["kdig", "@127.0.0.1", "-p", p, "+time=5", f"IXFR={serial}", ZONE])
    lines = [l.split() for l in r.stdout.splitlines() if l and not l.startswith(";")]
    assert [l[3] for l in lines] == ["SOA"] and lines[0][6] == str(serial), r.stdout
    # Over UDP: our SOA alone (RFC 1995 2), whatever the client's serial.
    r = run(["dig", "@127.0.0.1", "-p", p, "+time=5", "+tries=1", "+notcp", "IXFR=1", ZONE])
    lines = [l.split() for l in r.stdout.splitlines() if l and not l.startswith(";")]
    assert [l[3] for l in lines] == ["SOA"] and lines[0][6] == str(serial), r.stdout
    # AXFR over UDP: FORMERR (RFC 5936 4.2).
    q = dns.message.make_query(ZONE, "AXFR")
    assert dns.query.udp(q, "127.0.0.1", port=primary.dns_port, timeout=5).rcode() == \
        dns.rcode.FORMERR
    # A name below the apex is not a zone: REFUSED.
    q = dns.message.make_query("web." + ZONE, "AXFR")
    assert dns.query.tcp(q, "127.0.0.1", port=primary.dns_port, timeout=5).rcode() == \
        dns.rcode.REFUSED
    m = metrics(primary)
    assert metric(m, "roster_dns_transfers_total", type="ixfr", result="soa") == 2
    assert metric(m, "roster_dns_transfers_total", type="axfr", result="formerr") == 1


@pytest.mark.parametrize("extra", [[], ["--xfr-allow", "10.0.0.0/8,2001:db8::/32"]],
                         ids=["no-acl", "other-sources"])
def test_transfers_refused_outside_the_acl(tmp_path, extra):
    with Rosterd(tmp_path, extra=extra) as s:
        wait_dns(s)
        reg(s.client(), "web", "http", "web-0.lon6.example.net", 8080, ["10.0.0.1"])
        r = run(["dig", "@127.0.0.1", "-p", str(s.dns_port), "+time=5", "+tries=1", "AXFR", ZONE])
        assert "Transfer failed" in r.stdout, r.stdout
        q = dns.message.make_query(ZONE, "AXFR")
        assert dns.query.tcp(q, "127.0.0.1", port=s.dns_port, timeout=5).rcode() == \
            dns.rcode.REFUSED
        r = run(["kdig", "@127.0.0.1", "-p", str(s.dns_port), "+time=5", "IXFR=1", ZONE])
        assert "REFUSED" in r.stdout + r.stderr, r.stdout + r.stderr
        q = dns.message.make_query(ZONE, "IXFR")
        q.authority.append(dns.rrset.from_text(
            ZONE, 5, "IN", "SOA", "ns1.example.net. hostmaster.example.net. 1 60 30 604800 5"))
        r = dns.query.udp(q, "127.0.0.1", port=s.dns_port, timeout=5)
        assert r.rcode() == dns.rcode.REFUSED and not r.answer
        # Queries are answered as ever.
        assert answer_set(s.dns_port, "web." + ZONE, "A") == ["10.0.0.1"]
        m = metrics(s)
        assert metric(m, "roster_dns_transfers_total", type="axfr", result="refused_acl") == 2
        assert metric(m, "roster_dns_transfers_total", type="ixfr", result="refused_acl") == 2


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "10.1.2.3/8", "example.net/8", "10.0.0.0/8,,::1",
                                 "10.0.0.0/8,"])
def test_a_bad_prefix_exits_2_naming_the_flag(tmp_path, bad):
    s = Rosterd(tmp_path, extra=["--xfr-allow", bad])
    r = run(s.args())
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "xfr-allow" in err[0], r.stderr


def test_config_file_key(tmp_path):
    conf = tmp_path / "rosterd.conf"
    conf.write_text("xfr-allow = 127.0.0.1/32\nxfr-warmup = 0\n")
    with Rosterd(tmp_path, extra=["--config", str(conf)]) as s:
        wait_dns(s)
        q = dns.message.make_query(ZONE, "AXFR")
        msgs = list(dns.query.xfr("127.0.0.1", ZONE, port=s.dns_port, timeout=5))
        assert msgs[0].answer[0].rdtype == dns.rdatatype.SOA
        assert q is not None


def test_nsd_follows_changes_by_ixfr_and_after_a_wiped_data_dir(tmp_path):
    """Registrations, a deregistration and a status change reach NSD as IXFR
    differences; after rosterd's data dir is wiped and rosterd restarted,
    its serial is still newer (the clock's), so NSD follows on."""
    s = Rosterd(tmp_path, extra=["--xfr-allow", "127.0.0.1/32"])
    nsd = None
    try:
        wait_dns(s.start())
        c = s.client()
        for i in range(3):
            reg(c, "web", "http", f"web-{i}.lon6.example.net", 8080 + i, [f"10.0.0.{i + 1}"])
        # The rest of the zone: a difference is answered as such only when
        # smaller than the zone, which three instances' rings are not.
        register_fleet(c, big=100)
        serial = settled_serial(s.dns_port)
        nport = harness.free_port(both=True)
        nsd, nlog = start_nsd(tmp_path, nport, s.dns_port)
        harness.wait_port(nport, proc=nsd)
        assert wait_serial(nport, serial, [nsd, s.proc]) == serial, open(nlog).read()[-2000:]

        def iid(i):
            return harness.pb().InstanceId(service="web", protocol="http",
                                           host=f"web-{i}.lon6.example.net", port=8080 + i)
        changes = [
            lambda: reg(c, "web", "http", "web-9.lon6.example.net", 8089, ["10.0.0.9"]),
            lambda: c.request(deregister=harness.pb().DeregisterRequest(instance=iid(0))),
            lambda: c.request(set_status=harness.pb().SetStatusRequest(
                instance=iid(1), status=harness.pb().DOWN)),
            lambda: reg(c, "api", "tcp", "api-1.lon6.example.net", 443, ["2001:db8::7"]),
        ]
        names = [("_web._http." + ZONE, "SRV"), ("web." + ZONE, "A"),
                 ("_ring._web._http." + ZONE, "TXT")]
        for change in changes:
            r = change()
            assert getattr(r, "error", 0) == 0, r
            new = settled_serial(s.dns_port)
            assert newer(new, serial), (new, serial)
            notify(nport, new)
            assert wait_serial(nport, new, [nsd, s.proc]) == new, open(nlog).read()[-2000:]
            serial = new
            for name, t in names:
                assert answer_set(nport, name, t) == answer_set(s.dns_port, name, t), name
        assert answer_set(nport, "api." + ZONE, "AAAA") == ["2001:db8::7"]
        m = metrics(s)
        assert metric(m, "roster_dns_transfers_total", type="ixfr",
                      result="incremental") >= len(changes), m
        assert metric(m, "roster_dns_transfer_bytes_total", type="ixfr") > 0
        assert metric(m, "roster_dns_zone_serial") == serial
        assert metric(m, "roster_dns_zone_versions_total") >= len(changes) + 1
        assert metric(m, "roster_dns_zone_journal_bytes") > 0

        # The data dir wiped: the store starts empty at revision 0, the
        # serial at the clock, newer than NSD's copy.
        assert s.stop() == 0
        shutil.rmtree(s.data)
        wait_dns(s.start())
        reg(s.client(), "web", "http", "web-5.lon6.example.net", 8085, ["10.0.0.5"])
        wiped = settled_serial(s.dns_port)
        assert newer(wiped, serial), (wiped, serial)
        notify(nport, wiped)
        assert wait_serial(nport, wiped, [nsd, s.proc]) == wiped, open(nlog).read()[-2000:]
        srv = answer_set(nport, "_web._http." + ZONE, "SRV")
        assert len(srv) == 1 and "web-5.lon6.example.net." in srv[0], srv
        m = metrics(s)
        assert metric(m, "roster_dns_transfers_total", type="ixfr", result="full") >= 1, m
    finally:
        stop(nsd)
        assert s.stop() in (0, None), s.logs()[-3000:]
