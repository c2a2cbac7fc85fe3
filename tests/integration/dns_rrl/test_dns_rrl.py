"""DNS response rate limiting (--rrl-rate, --rrl-slip, --rrl-exempt)
against the real rosterd: a UDP flood from one source gets about the rate
in full answers, every --rrl-slip-th limited answer comes back truncated
(TC=1, the question alone) and the rest are dropped, all counted in
roster_dns_rrl_total{action}; another /24 is unaffected, its own /24 is
not, an exempt source and TCP are never limited, and the rate is the
server's with --dns-threads workers too. Sources are 127.0.x.y: Linux
loopback answers for all of 127/8; the floods come from 127.0.5.0/24, apart
from 127.0.0.1, whose queries (wait_dns) would spend the same bucket.
"""
import socket
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from dns_helpers import ZONE, wait_dns
from harness import Rosterd, metric_sample, wait_until

RATE = 10
FLOOD = 300


def rrl(srv):
    text = srv.metrics()
    return {a: metric_sample(text, "roster_dns_rrl_total", action=a)
            for a in ("dropped", "slipped")}


def udp_queries(srv):
    return metric_sample(srv.metrics(), "roster_dns_queries_total", qtype="SOA",
                         transport="udp")


def flood(srv, source, n=FLOOD, name=ZONE):
    """Send @p n SOA queries from @p source as fast as the socket takes
    them, wait until rosterd counted them all, then read every response
    there is. Returns (full answers, TC answers, seconds the flood took)."""
    before = udp_queries(srv)
    rrl_before = rrl(srv)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((source, 0))
    try:
        t0 = time.monotonic()
        for i in range(n):
            q = dns.message.make_query(name, "SOA", id=i)
            s.sendto(q.to_wire(), ("127.0.0.1", srv.dns_port))
        took = time.monotonic() - t0
        wait_until(lambda: udp_queries(srv) - before >= n, 10, "every query counted")
        after = rrl(srv)
        dropped = after["dropped"] - rrl_before["dropped"]
        expect = n - dropped  # every other query was answered, in full or TC
        full = tc = 0
        s.settimeout(5)
        for _ in range(expect):
            r = dns.message.from_wire(s.recv(65535))
            assert r.rcode() == dns.rcode.NOERROR
            if r.flags & dns.flags.TC:
                assert not r.answer and not r.authority and not r.additional
                assert r.question[0].name.to_text() == name, "the question kept"
                tc += 1
            else:
                assert len(r.answer) == 1
                full += 1
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            s.recv(65535)  # nothing beyond what the counters said
        assert tc == after["slipped"] - rrl_before["slipped"]
        return full, tc, took
    finally:
        s.close()


def check_limited(full, tc, took, slip=2):
    # A new bucket holds one second's worth; it refills at RATE/s while
    # the flood lasts (and the counting wait, which sends nothing).
    assert RATE <= full <= RATE + RATE * took + 2, (full, took)
    limited = FLOOD - full
    assert abs(tc - limited // slip) <= 1, (tc, limited)


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path, extra=["--rrl-rate", str(RATE), "--rrl-exempt", "127.0.2.0/24"]) as s:
        yield wait_dns(s)


def test_a_flood_from_one_source_is_limited_and_slips_every_second(srv):
    full, tc, took = flood(srv, "127.0.5.2")
    check_limited(full, tc, took)
    got = rrl(srv)
    assert got["slipped"] == tc
    assert got["dropped"] + got["slipped"] == FLOOD - full
    assert "response rate limit 10/s" in srv.logs()


def test_another_network_is_unaffected_its_own_is_not_and_tcp_never_limited(srv):
    flood(srv, "127.0.5.2")
    q = dns.message.make_query(ZONE, "SOA")
    # Another /24: its own buckets, full answers at once.
    for _ in range(RATE // 2):
        r = dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=5, source="127.0.6.1")
        assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1
        assert not r.flags & dns.flags.TC
    # The flooder's /24 shares its bucket: limited as a whole (.3 gets at
    # most the trickle the refill allows).
    full, tc, took = flood(srv, "127.0.5.3", n=100)
    assert full <= RATE * (took + 1) + 2, (full, took)
    assert tc >= (100 - full) // 2 - 1
    # TCP is never limited.
    for _ in range(RATE * 3):
        r = dns.query.tcp(q, "127.0.0.1", port=srv.dns_port, timeout=5, source="127.0.5.2")
        assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1


def test_an_exempt_source_is_never_limited(srv):
    before = rrl(srv)
    full, tc, _ = flood(srv, "127.0.2.9")
    assert (full, tc) == (FLOOD, 0)
    assert rrl(srv) == before


def test_off_by_default(tmp_path):
    with Rosterd(tmp_path) as s:
        wait_dns(s)
        full, tc, _ = flood(s, "127.0.5.2")
        assert (full, tc) == (FLOOD, 0)
        assert rrl(s) == {"dropped": 0, "slipped": 0}


@pytest.mark.parametrize("slip", [0, 1, 3])
def test_the_slip_rate_is_followed(tmp_path, slip):
    extra = ["--rrl-rate", str(RATE), "--rrl-slip", str(slip)]
    with Rosterd(tmp_path, extra=extra) as s:
        wait_dns(s)
        full, tc, took = flood(s, "127.0.5.2")
        if slip == 0:
            assert tc == 0, "slip 0: every limited answer dropped"
            assert RATE <= full <= RATE + RATE * took + 2
        else:
            check_limited(full, tc, took, slip)


def test_worker_threads_share_one_rate(tmp_path):
    extra = ["--rrl-rate", str(RATE), "--dns-threads", "2"]
    with Rosterd(tmp_path, extra=extra) as s:
        wait_dns(s)
        full, tc, took = flood(s, "127.0.5.2")
        check_limited(full, tc, took)


def test_queries_with_our_valid_server_cookie_are_not_limited(srv):
    import os
    import dns.edns
    client = os.urandom(8)
    q = dns.message.make_query(ZONE, "SOA", use_edns=0,
                               options=[dns.edns.GenericOption(10, client)])
    r = dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=5, source="127.0.7.1")
    cookie = [o for o in r.options if o.otype == 10][0].data
    assert cookie[:8] == client and len(cookie) == 24
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.7.1", 0))
    s.settimeout(5)
    before = rrl(srv)
    try:
        for i in range(RATE * 5):  # paced: one at a time, each answered in full
            q = dns.message.make_query(ZONE, "SOA", use_edns=0, id=i,
                                       options=[dns.edns.GenericOption(10, cookie)])
            s.sendto(q.to_wire(), ("127.0.0.1", srv.dns_port))
            r = dns.message.from_wire(s.recv(65535))
            assert len(r.answer) == 1 and not r.flags & dns.flags.TC
    finally:
        s.close()
    assert rrl(srv) == before
    # Without the cookie, the same /24 is limited.
    full, tc, took = flood(srv, "127.0.7.2")
    assert full <= RATE * (took + 1) + 2
