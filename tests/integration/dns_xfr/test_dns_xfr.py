"""rosterd as the stealth primary of its services zone (issue 12, first
slice): AXFR, and IXFR answered in full, to a real NSD secondary; the
transfer ACL (--xfr-allow); IXFR from kdig and over UDP; the AXFR output
checked by named-checkzone and kzonecheck. No TSIG or NOTIFY from rosterd
yet: the test sends NSD the NOTIFY itself."""
import re
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
import zonegen_common as zc
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
    d = tmp_path / "nsd"
    d.mkdir()
    conf = d / "nsd.conf"
    conf.write_text(zc.nsd_conf(d, port, f"""zone:
    name: "{ZONE}"
    zonefile: "{d}/secondary.zone"
    request-xfr: 127.0.0.1@{primary_port} NOKEY
    allow-notify: 127.0.0.1 NOKEY
    min-refresh-time: 3600
    max-retry-time: 1
    min-retry-time: 1
""", verbosity=2))
    chk = run(["nsd-checkconf", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    return proc, d / "nsd.log"


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
    serial = serial_at(primary.dns_port)
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
        assert answer_set(nport, "_status." + ZONE, "TXT")[0].find(f"revision={serial}") > 0

        # A change, then the NOTIFY rosterd does not send yet: NSD asks IXFR,
        # which rosterd answers in full (RFC 1995 4).
        reg(c, "web", "http", "web-9.lon6.example.net", 8089, ["10.0.0.9"])
        serial2 = serial_at(primary.dns_port)
        assert serial2 > serial
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
    assert full >= 2, m
    assert metric(m, "roster_dns_transfer_partial_rrsets_total") >= 2  # the SRV and the _ring


def test_axfr_and_ixfr_from_dig_and_kdig(tmp_path, primary):
    c = primary.client()
    register_fleet(c, big=300)
    serial = serial_at(primary.dns_port)
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

    # IXFR from an older serial: the whole zone, AXFR-style.
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
    conf.write_text("xfr-allow = 127.0.0.1/32\n")
    with Rosterd(tmp_path, extra=["--config", str(conf)]) as s:
        wait_dns(s)
        q = dns.message.make_query(ZONE, "AXFR")
        msgs = list(dns.query.xfr("127.0.0.1", ZONE, port=s.dns_port, timeout=5))
        assert msgs[0].answer[0].rdtype == dns.rdatatype.SOA
        assert q is not None
