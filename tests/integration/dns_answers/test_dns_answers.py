"""rosterd's DNS answers, checked from outside with dig, kdig and dnspython.

Each test registers through the real API and queries the real binary on
127.0.0.1: every row of SPEC's DNS table, EDNS, truncation and the TCP
retry, the 2,500-endpoint role over TCP, pipelining, stale answers and the
client report zone.
"""
import os
import json
import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from dns_helpers import wait_dns
from harness import Rosterd, free_port, pb, run, start_rosterd, wait_until

ZONE = "services.lon6.example.net."


# Every test runs with UDP on the main loop and with two UDP worker threads.
@pytest.fixture(params=[0, 2], ids=["loop", "threads"])
def srv(tmp_path, request):
    with Rosterd(tmp_path, extra=["--ns", "ns1.example.net.", "--ns", "ns2.example.net.",
                                  "--report-zone", "errors.example.net",
                                  "--ttl", "5", "--negative-ttl", "7",
                                  "--dns-threads", str(request.param)]) as s:
        yield wait_dns(s)


def dig(srv, *args):
    r = run(["dig", "@127.0.0.1", "-p", str(srv.dns_port), "+time=5", "+tries=1"] + list(args))
    assert r.returncode == 0, r.stderr
    return r.stdout


def dig_short(srv, *args):
    return [l for l in dig(srv, "+short", *args).splitlines() if l]


def udp(srv, q, timeout=5.0):
    return dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=timeout)


def tcp(srv, q, timeout=5.0):
    return dns.query.tcp(q, "127.0.0.1", port=srv.dns_port, timeout=timeout)


def reg(c, service, protocol, host, port, addresses=(), **kw):
    r = c.register(service, protocol, host, port, addresses=addresses, **kw)
    assert r.error == 0, r.message
    return r.register.revision


def test_srv_with_additional_addresses(srv):
    with srv.client() as c:
        reg(c, "web", "http", "web1.lon6.example.net", 8080, ["10.0.0.1"])
        reg(c, "web", "http", "web2.lon6.example.net", 8081, ["2001:db8::2"])
    out = dig(srv, "+norec", "_web._http." + ZONE, "SRV")
    assert "status: NOERROR" in out and " aa" in out.split("flags:")[1].split(";")[0]
    answers = dig_short(srv, "_web._http." + ZONE, "SRV")
    assert sorted(answers) == ["0 0 8080 web1.lon6.example.net.",
                               "0 0 8081 web2.lon6.example.net."]
    r = udp(srv, dns.message.make_query("_web._http." + ZONE, "SRV"))
    add = {(str(rr.name), rr.rdtype) for rr in r.additional}
    assert ("web1.lon6.example.net.", dns.rdatatype.A) in add
    assert ("web2.lon6.example.net.", dns.rdatatype.AAAA) in add


def test_a_aaaa_deduplicated_and_down_not_served(srv):
    with srv.client() as c:
        reg(c, "api", "tcp", "h1.lon6.example.net", 1, ["10.0.0.1"])
        reg(c, "api", "udp", "h1.lon6.example.net", 2, ["10.0.0.1", "2001:db8::1"])
        reg(c, "api", "tcp", "h2.lon6.example.net", 1, ["10.0.0.2"], status=pb().STARTING)
        reg(c, "api", "tcp", "h3.lon6.example.net", 1, ["10.0.0.3"])
        r = c.request(set_status=pb().SetStatusRequest(instance=pb().InstanceId(
            service="api", protocol="tcp", host="h3.lon6.example.net", port=1),
            status=pb().DOWN))
        assert r.error == 0
    assert dig_short(srv, "api." + ZONE, "A") == ["10.0.0.1"]
    assert dig_short(srv, "api." + ZONE, "AAAA") == ["2001:db8::1"]


def test_ring_txt(srv):
    with srv.client() as c:
        reg(c, "cache", "tcp", "c1.lon6.example.net", 11211)
        reg(c, "cache", "tcp", "c2.lon6.example.net", 11211)
    r = tcp(srv, dns.message.make_query("_ring._cache._tcp." + ZONE, "TXT"))
    strings = [s.decode() for s in r.answer[0][0].strings]
    assert len(strings) == 16
    tokens = [int(s.split()[0], 16) for s in strings]
    assert tokens == sorted(tokens)
    assert {s.split()[1] for s in strings} == {"c1.lon6.example.net.", "c2.lon6.example.net."}
    assert all(s.split()[2] == "11211" and len(s.split()[0]) == 8 for s in strings)


def test_status_soa_ns(srv):
    with srv.client() as c:
        rev = reg(c, "web", "http", "web1.lon6.example.net", 8080)
    status = dig_short(srv, "_status." + ZONE, "TXT")[0]
    assert '"mode=normal"' in status and f'"revision={rev}"' in status
    assert '"instances=1"' in status
    soa = dig_short(srv, ZONE, "SOA")[0].split()
    assert soa[0] == "ns1.example.net." and int(soa[2]) == rev and soa[6] == "7"
    assert sorted(dig_short(srv, ZONE, "NS")) == ["ns1.example.net.", "ns2.example.net."]


def test_nodata_nxdomain_refused(srv):
    with srv.client() as c:
        reg(c, "web", "http", "web1.lon6.example.net", 8080, ["10.0.0.1"])
    out = dig(srv, "_web._http." + ZONE, "A")
    assert "status: NOERROR" in out and "ANSWER: 0" in out and "AUTHORITY: 1" in out
    out = dig(srv, "nothere." + ZONE, "A")
    assert "status: NXDOMAIN" in out and "AUTHORITY: 1" in out
    # SPEC: negative answers carry the negative TTL (--negative-ttl 7), here
    # above --ttl 5: RFC 2308 3 takes the smaller of the SOA's MINIMUM and
    # the SOA record's own TTL, so the record's own is the larger of the two.
    for name, rtype in (("nothere." + ZONE, "A"), ("_web._http." + ZONE, "A")):
        auth = [l for l in dig(srv, "+noall", "+authority", name, rtype).splitlines() if l]
        assert auth[0].split()[1] == "7", ("negative TTL", name, auth)
    soa = [l for l in dig(srv, "+noall", "+answer", ZONE, "SOA").splitlines() if l]
    assert soa[0].split()[1] == "7", soa
    out = dig(srv, "www.example.org.", "A")
    assert "status: REFUSED" in out
    assert " aa" not in out.split("flags:")[1].split(";")[0]
    out = dig(srv, "-c", "CH", "version.bind.", "TXT")
    assert "status: REFUSED" in out


def test_any_is_minimal(srv):
    with srv.client() as c:
        reg(c, "web", "http", "web1.lon6.example.net", 8080, ["10.0.0.1"])
    r = udp(srv, dns.message.make_query(ZONE, "ANY"))
    assert len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.SOA
    r = udp(srv, dns.message.make_query("_web._http." + ZONE, "ANY"))
    assert len(r.answer) == 1 and r.answer[0].rdtype == dns.rdatatype.SRV


def test_notimp_and_formerr(srv):
    for op in (dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY, dns.opcode.UPDATE):
        q = dns.message.make_query(ZONE, "SOA")
        q.set_opcode(op)
        assert udp(srv, q).rcode() == dns.rcode.NOTIMP
    # RFC 6891 7: an OPT in the query, an OPT in the NOTIMP reply; none
    # without. RD is copied (RFC 1035 4.1.1), CD is not (RFC 4035 3.1.6).
    for edns in (0, -1):
        q = dns.message.make_query(ZONE, "SOA", use_edns=edns)
        q.set_opcode(dns.opcode.UPDATE)
        q.flags |= dns.flags.RD | dns.flags.CD
        r = udp(srv, q)
        assert r.rcode() == dns.rcode.NOTIMP
        assert (r.edns == 0) == (edns == 0), edns
        assert r.flags & dns.flags.RD and not r.flags & dns.flags.CD
    # QDCOUNT 0: FORMERR
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(struct.pack(">HHHHHH", 0x1234, 0x0100, 0, 0, 0, 0), ("127.0.0.1", srv.dns_port))
    data = s.recv(4096)
    assert struct.unpack(">H", data[:2])[0] == 0x1234 and data[3] & 0xF == 1
    s.close()


def test_case_insensitive_question_echoed(srv):
    with srv.client() as c:
        reg(c, "web", "http", "web1.lon6.example.net", 8080)
    name = "_WEB._Http.SERVICES.Lon6.example.NET."
    out = dig(srv, name, "SRV")
    assert f";{name}" in out and "ANSWER: 1" in out


def test_edns_opt_echo_badvers_and_sizes(srv):
    with srv.client() as c:
        reg(c, "web", "http", "web1.lon6.example.net", 8080)
    r = udp(srv, dns.message.make_query(ZONE, "SOA", use_edns=0, payload=4096))
    assert r.edns == 0 and r.payload == 1232
    r = udp(srv, dns.message.make_query(ZONE, "SOA", use_edns=False))
    assert r.edns == -1
    out = dig(srv, "+edns=1", "+noednsneg", ZONE, "SOA")
    assert "status: BADVERS" in out
    out = run(["kdig", "@127.0.0.1", "-p", str(srv.dns_port), "+edns=1", ZONE, "SOA"]).stdout
    assert "BADVERS" in out


def test_tcp_keepalive_advertised(srv):
    out = dig(srv, "+tcp", "+keepalive", ZONE, "SOA")
    assert "TCP KEEPALIVE: 10.0 secs" in out, out
    out = dig(srv, "+keepalive", ZONE, "SOA")
    assert "KEEPALIVE" not in out, "never over UDP"


def test_truncation_then_tcp_retry(srv):
    with srv.client() as c:
        for i in range(40):
            reg(c, "big", "tcp", f"lon6-big-a{i:04d}.lon6.example.net", 8000, [f"10.1.0.{i + 1}"])
    out = dig(srv, "+ignore", "+noedns", "_big._tcp." + ZONE, "SRV")
    assert " tc" in out.split("flags:")[1].split(";")[0] and "ANSWER: 0" in out
    r = udp(srv, dns.message.make_query("_big._tcp." + ZONE, "SRV", use_edns=0, payload=1232))
    assert r.flags & dns.flags.TC and not r.answer and r.edns == 0
    # dig retries over TCP by itself on TC=1.
    out = dig(srv, "+noedns", "_big._tcp." + ZONE, "SRV")
    assert "Truncated, retrying in TCP mode" in out and "ANSWER: 40" in out
    # kdig retries over TCP by itself too.
    out = run(["kdig", "@127.0.0.1", "-p", str(srv.dns_port), "_big._tcp." + ZONE, "SRV"]).stdout
    assert "ANSWER: 40" in out and "(TCP)" in out, out


def test_2500_endpoints_over_tcp(srv):
    with srv.client() as c:
        ids = []
        for i in range(2500):
            inst = pb().Instance(service="role", protocol="tcp",
                                 host=f"lon6-role-a{i:04d}.lon6.example.net", port=8000,
                                 addresses=[f"10.2.{i // 250}.{i % 250 + 1}"], weight=1 + i % 4)
            ids.append(c.send(register=pb().RegisterRequest(instance=inst)))
        for rid in ids:
            assert c.wait(rid).error == 0
    for tool in (["dig", "+tcp"], ["kdig", "+tcp"]):
        r = run(tool + ["@127.0.0.1", "-p", str(srv.dns_port), "_role._tcp." + ZONE, "SRV"])
        assert "NOERROR" in r.stdout, r.stdout[:500]
    r = tcp(srv, dns.message.make_query("_role._tcp." + ZONE, "SRV"))
    wire = r.to_wire()
    n = len(r.answer[0])
    assert 900 < n < 2500 and not (r.flags & dns.flags.TC)
    assert len(wire) <= 65535
    r = tcp(srv, dns.message.make_query("role." + ZONE, "A"))
    assert len(r.answer[0]) == 2500, "2,500 A records fit in 64 KiB"


def test_pipelined_tcp_queries(srv):
    with srv.client() as c:
        reg(c, "web", "http", "web1.lon6.example.net", 8080, ["10.0.0.1"])
    names = [("_web._http." + ZONE, "SRV"), ("web." + ZONE, "A"), (ZONE, "SOA"),
             ("nope." + ZONE, "A")] * 5
    qs = []
    blob = b""
    for i, (n, t) in enumerate(names):
        q = dns.message.make_query(n, t)
        q.id = 1000 + i
        w = q.to_wire()
        qs.append(q)
        blob += struct.pack(">H", len(w)) + w
    s = socket.create_connection(("127.0.0.1", srv.dns_port), timeout=5)
    s.sendall(blob)
    buf = b""
    got = []
    while len(got) < len(qs):
        chunk = s.recv(65536)
        assert chunk, "closed early"
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            n = struct.unpack(">H", buf[:2])[0]
            got.append(dns.message.from_wire(buf[2:2 + n]))
            buf = buf[2 + n:]
    s.close()
    assert [m.id for m in got] == [q.id for q in qs]
    assert all(m.rcode() == (dns.rcode.NXDOMAIN if i % 4 == 3 else 0) for i, m in enumerate(got))


def test_registration_visible_at_once_and_gone_after_deregister(srv):
    with srv.client() as c:
        rev = reg(c, "fast", "tcp", "f1.lon6.example.net", 1, ["10.9.9.9"])
        assert dig_short(srv, "fast." + ZONE, "A") == ["10.9.9.9"]
        assert int(dig_short(srv, ZONE, "SOA")[0].split()[2]) >= rev
        r = c.request(deregister=pb().DeregisterRequest(instance=pb().InstanceId(
            service="fast", protocol="tcp", host="f1.lon6.example.net", port=1)))
        assert r.error == 0
    assert "NXDOMAIN" in dig(srv, "_fast._tcp." + ZONE, "SRV")


def test_stale_answer_ede(tmp_path):
    with Rosterd(tmp_path, extra=["--keep-last"]) as s:
        wait_dns(s)
        with s.client() as c:
            lease = c.open_lease(1)
            reg(c, "k", "tcp", "k1.lon6.example.net", 1, ["10.0.0.1"], lease=lease)
        def stale_answer():
            r = udp(s, dns.message.make_query("_k._tcp." + ZONE, "SRV", use_edns=0))
            return r if any(o.otype == dns.edns.EDE for o in r.options) else None
        r = wait_until(stale_answer, 5, "an answer with an EDE", interval=0.1)
        assert r.answer, "keep-last serves the last instance"
        ede = [o for o in r.options if o.otype == dns.edns.EDE]
        assert ede and ede[0].code == 3, "Stale Answer"
        out = run(["dig", "@127.0.0.1", "-p", str(s.dns_port), "_k._tcp." + ZONE, "SRV"]).stdout
        assert "EDE: 3 (Stale Answer)" in out


def test_report_zone(srv):
    out = dig(srv, "e503.v2-1-0.android.abc123.errors.example.net.", "A")
    assert "status: NXDOMAIN" in out
    auth = [l for l in dig(srv, "+noall", "+authority",
                           "e503.v2-1-0.android.abc124.errors.example.net.").splitlines() if l]
    assert auth[0].split()[1] == "0", "TTL 0"
    dig(srv, "garbage.errors.example.net.", "A")
    log = os.path.join(srv.data, "client-reports.log")
    lines = [json.loads(l) for l in open(log)]
    assert len(lines) == 2
    assert lines[0]["code"] == "e503" and lines[0]["platform"] == "android"
    assert lines[0]["source"].startswith("127.0.0.1")
    # Rate limit: 50 per second per /24; a burst of 200 gets about 50 answers.
    q = dns.message.make_query("e1.v1.linux.n.errors.example.net.", "A")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    for _ in range(200):
        s.sendto(q.to_wire(), ("127.0.0.1", srv.dns_port))
    answered = 0
    try:
        while True:
            s.recv(4096)
            answered += 1
    except socket.timeout:
        pass
    s.close()
    assert 20 <= answered <= 100, answered
    # Over TCP a report over the limit is answered, not logged: a drop would
    # close the connection, and the queries pipelined behind it with it.
    logged = len(open(log).readlines())
    t = socket.create_connection(("127.0.0.1", srv.dns_port), timeout=5)
    wire = b""
    for i in range(70):
        m = dns.message.make_query(f"e1.v1.linux.t{i}.errors.example.net.", "A")
        m.id = i
        wire += len(m.to_wire()).to_bytes(2, "big") + m.to_wire()
    last = dns.message.make_query(ZONE, "SOA")
    last.id = 999
    wire += len(last.to_wire()).to_bytes(2, "big") + last.to_wire()
    t.sendall(wire)
    replies = []
    buf = b""
    while len(replies) < 71:
        chunk = t.recv(65536)
        assert chunk, f"closed after {len(replies)} answers"
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
            n = int.from_bytes(buf[:2], "big")
            replies.append(dns.message.from_wire(buf[2:2 + n]))
            buf = buf[2 + n:]
    t.close()
    assert [r.id for r in replies] == list(range(70)) + [999]
    assert all(r.rcode() == dns.rcode.NXDOMAIN for r in replies[:70])
    assert replies[70].rcode() == dns.rcode.NOERROR and replies[70].answer
    assert len(open(log).readlines()) - logged <= 50, "the limit still bounds the log"


def test_ipv4_and_ipv6_listeners(tmp_path):
    def make():
        # A port of our own, picked again if another socket takes it first.
        s = Rosterd(tmp_path, extra=["--dns", f"[::1]:{free_port(both=True)}"])
        s.port6 = int(s.extra[-1].rsplit(":", 1)[1])
        return s

    with start_rosterd(make) as s:
        port = s.port6
        wait_dns(s)
        with s.client() as c:
            reg(c, "web", "http", "web1.lon6.example.net", 8080, ["2001:db8::1"])
        q = dns.message.make_query("web." + ZONE, "AAAA")
        for addr, p in (("127.0.0.1", s.dns_port), ("::1", port)):
            r = dns.query.udp(q, addr, port=p, timeout=5)
            assert [rr.address for rr in r.answer[0]] == ["2001:db8::1"]
            r = dns.query.tcp(q, addr, port=p, timeout=5)
            assert [rr.address for rr in r.answer[0]] == ["2001:db8::1"]
        r = run(["dig", "@::1", "-p", str(port), "+short", "web." + ZONE, "AAAA"])
        assert r.stdout.split() == ["2001:db8::1"]


def test_an_ns_inside_the_zone_is_warned_about(tmp_path):
    """An --ns name inside the services zone has no glue: start-up says so
    once, naming it (and not an NS outside the zone)."""
    with Rosterd(tmp_path, extra=["--ns", "ns1.services.lon6.example.net",
                                  "--ns", "ns2.example.net"]) as s:
        wait_dns(s)
        logs = s.logs()
        assert logs.count("NS ns1.services.lon6.example.net. is inside") == 1, logs
        assert "NS ns2.example.net. is inside" not in logs
