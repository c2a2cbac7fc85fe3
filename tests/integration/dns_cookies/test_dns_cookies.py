"""DNS Cookies (RFC 7873, RFC 9018 server cookies) from the outside: dig and
kdig as real clients, dnspython and hand-built packets for the rest, against
the real rosterd on 127.0.0.1.
"""
import os
import re
import socket
import struct
import time
import urllib.request

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from dns_helpers import wait_dns
from harness import Rosterd, run

ZONE = "services.lon6.example.net."
COOKIE = 10


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield wait_dns(s)


def cookie_query(client, server=b"", name=ZONE, rdtype="SOA"):
    q = dns.message.make_query(name, rdtype, use_edns=0)
    q.use_edns(0, 0, 1232, options=[dns.edns.GenericOption(COOKIE, client + server)])
    return q


def reply_cookie(r):
    opts = [o for o in r.options if o.otype == COOKIE]
    assert len(opts) <= 1
    return opts[0].data if opts else None


def ask(srv, q, tcp=False):
    f = dns.query.tcp if tcp else dns.query.udp
    return f(q, "127.0.0.1", port=srv.dns_port, timeout=5)


def check_server_cookie(cookie, client, now):
    assert cookie is not None, "no COOKIE option in the reply"
    assert len(cookie) == 24, cookie.hex()
    assert cookie[:8] == client, "the client cookie is echoed as sent"
    assert cookie[8] == 1 and cookie[9:12] == b"\0\0\0", "RFC 9018 version 1, reserved 0"
    ts = struct.unpack(">I", cookie[12:16])[0]
    assert abs(ts - now) <= 5, f"timestamp {ts} vs now {now}"


def test_client_cookie_gets_a_server_cookie_and_it_is_accepted_back(srv):
    client = os.urandom(8)
    r = ask(srv, cookie_query(client))
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
    cookie = reply_cookie(r)
    check_server_cookie(cookie, client, int(time.time()))
    # Sent back, over UDP and TCP: valid and fresh, so echoed unchanged.
    for tcp in (False, True):
        r2 = ask(srv, cookie_query(client, cookie[8:]), tcp=tcp)
        assert r2.rcode() == dns.rcode.NOERROR and len(r2.answer) == 1
        assert reply_cookie(r2) == cookie
    # A tampered server cookie is not ours: answered anyway (we do not
    # require cookies, so no BADCOOKIE), with a fresh, different cookie.
    bad = bytearray(cookie[8:])
    bad[-1] ^= 0xff
    r3 = ask(srv, cookie_query(client, bytes(bad)))
    assert r3.rcode() == dns.rcode.NOERROR and len(r3.answer) == 1
    fresh = reply_cookie(r3)
    check_server_cookie(fresh, client, int(time.time()))
    assert fresh[16:] != bytes(bad[8:])
    # The counters moved: new, good (twice), bad.
    text = urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5).read()
    counts = dict(re.findall(rb'roster_dns_cookies_total\{result="(\w+)"\} (\d+)', text))
    assert int(counts[b"new"]) >= 1 and int(counts[b"good"]) >= 2 and int(counts[b"bad"]) >= 1


def test_dig_and_kdig_see_a_good_cookie(srv):
    out = run(["dig", "@127.0.0.1", "-p", str(srv.dns_port), "+cookie", "+time=5", "+tries=1",
               ZONE, "SOA"]).stdout
    m = re.search(r"; COOKIE: ([0-9a-f]{48}) \(good\)", out)
    assert m, out
    # dig sends the cookie back; the echo is the same cookie, still "good".
    out2 = run(["dig", "@127.0.0.1", "-p", str(srv.dns_port), f"+cookie={m.group(1)}",
                "+time=5", "+tries=1", ZONE, "SOA"]).stdout
    assert f"; COOKIE: {m.group(1)} (good)" in out2, out2
    kd = run(["kdig", "@127.0.0.1", "-p", str(srv.dns_port), "+cookie", "+time=5",
              "+retry=0", ZONE, "SOA"]).stdout
    assert re.search(r"COOKIE: [0-9a-f]{48}", kd, re.I), kd
    assert "NOERROR" in kd


def cookie_only_packet(client, qid=0x4242, version=0):
    header = struct.pack(">HHHHHH", qid, 0, 0, 0, 0, 1)
    opt = b"\0" + struct.pack(">HHIH", 41, 1232, version << 16, 4 + len(client))
    return header + opt + struct.pack(">HH", COOKIE, len(client)) + client


def udp_raw(srv, pkt):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(pkt, ("127.0.0.1", srv.dns_port))
        return s.recv(4096)


def test_cookie_only_query_gets_noerror_and_a_cookie(srv):
    client = os.urandom(8)
    r = dns.message.from_wire(udp_raw(srv, cookie_only_packet(client)))
    assert r.id == 0x4242
    assert r.rcode() == dns.rcode.NOERROR, "RFC 7873 5.4"
    assert not r.question and not r.answer and not r.authority
    check_server_cookie(reply_cookie(r), client, int(time.time()))
    # With no cookie in it, a question-less query is still FORMERR.
    header = struct.pack(">HHHHHH", 7, 0, 0, 0, 0, 1)
    plain = header + b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    r = dns.message.from_wire(udp_raw(srv, plain))
    assert r.rcode() == dns.rcode.FORMERR
    # A cookie of a length RFC 7873 forbids: FORMERR, and no cookie back.
    for n in (7, 9, 15, 41):
        raw = udp_raw(srv, cookie_only_packet(os.urandom(n)))
        assert raw[3] & 0xf == dns.rcode.FORMERR, n
    # EDNS version 1: BADVERS, with the cookie.
    r = dns.message.from_wire(udp_raw(srv, cookie_only_packet(client, version=1)))
    assert r.rcode() == dns.rcode.BADVERS
    assert reply_cookie(r)[:8] == client


def test_cookie_survives_a_restart(tmp_path):
    s = Rosterd(tmp_path)
    with s:
        wait_dns(s)
        client = os.urandom(8)
        cookie = reply_cookie(ask(s, cookie_query(client)))
        secret = os.path.join(s.data, "dns-cookie-secret")
        assert os.stat(secret).st_mode & 0o777 == 0o600
    with Rosterd(tmp_path, data=s.data) as s2:
        wait_dns(s2)
        # The secret is kept in the data dir: the cookie is still ours.
        assert reply_cookie(ask(s2, cookie_query(client, cookie[8:]))) == cookie


def test_no_dns_cookies_ignores_the_option(tmp_path):
    with Rosterd(tmp_path, extra=["--no-dns-cookies"]) as s:
        wait_dns(s)
        r = ask(s, cookie_query(os.urandom(8)))
        assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
        assert reply_cookie(r) is None
        raw = udp_raw(s, cookie_only_packet(os.urandom(8)))
        assert raw[3] & 0xf == dns.rcode.FORMERR
        assert not os.path.exists(os.path.join(s.data, "dns-cookie-secret"))


def test_shared_secret_file_and_a_malformed_one(tmp_path):
    secret = tmp_path / "shared-secret"
    # Two servers with one secret (anycast): a cookie from one is good at
    # the other. The second line is the previous secret, still accepted.
    secret.write_text("e5e973e5a6b2a43f48e7dc849e37bfcf\ndd3bdf9344b678b185a6f5cb60fca715\n")
    a = Rosterd(tmp_path / "a", extra=["--dns-cookie-secret", str(secret)])
    b = Rosterd(tmp_path / "b", extra=["--dns-cookie-secret", str(secret)])
    os.makedirs(tmp_path / "a")
    os.makedirs(tmp_path / "b")
    with a, b:
        wait_dns(a)
        wait_dns(b)
        client = os.urandom(8)
        cookie = reply_cookie(ask(a, cookie_query(client)))
        assert reply_cookie(ask(b, cookie_query(client, cookie[8:]))) == cookie
    bad = tmp_path / "bad-secret"
    bad.write_text("not-a-secret\n")
    c = Rosterd(tmp_path / "c", extra=["--dns-cookie-secret", str(bad)])
    os.makedirs(tmp_path / "c")
    c.start(wait=False)
    rc = c.proc.wait(timeout=10)
    c.log.close()
    logs = c.logs()
    assert rc == 2, logs
    assert str(bad) in logs and "32 hex digits" in logs, logs
