"""Bad DNS input against the real rosterd (robustness-catalogue.md section 2).

A hand-rolled client sends packets no library would build: compression
loops, pointers past the end, 64-octet labels, names over 255 octets, short
headers, QDCOUNT 0 and 2, random bytes from a fixed seed; over TCP, bad
length prefixes, stalled messages, too many connections and a reader that
never reads. After each, a good query must still be answered at once: none
crashes or stalls the server, each gets the right rcode or is dropped.
"""
import os
import random
import select
import signal
import socket
import struct
import time

import dns.message
import dns.query
import pytest

from dns_helpers import wait_dns
from harness import ProcFaultRosterd, Rosterd, metric_sample, wait_until

ZONE = "services.lon6.example.net."


def serve(rosterd):
    """Started with 60 instances of _big._tcp."""
    with rosterd as s:
        wait_dns(s)
        with s.client() as c:
            for i in range(60):
                r = c.register("big", "tcp", f"lon6-big-a{i:04d}.lon6.example.net", 8000,
                               addresses=[f"10.1.0.{i + 1}"])
                assert r.error == 0
        yield s


ARGS = ["--tcp-idle-timeout", "700ms", "--tcp-max-connections", "20"]


@pytest.fixture
def srv(tmp_path):
    yield from serve(Rosterd(tmp_path, extra=ARGS))


@pytest.fixture
def psrv(tmp_path):
    """One whose reads of /proc can be made to fail (ProcFaultRosterd)."""
    yield from serve(ProcFaultRosterd(tmp_path, extra=ARGS))


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def header(qd=1, an=0, ns=0, ar=0, flags=0x0100, qid=0xBEEF):
    return struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar)


QZONE = wire_name(ZONE) + b"\0\x06\0\x01"

# (what, packet, expected rcode or None for a drop)
CASES = [
    ("empty datagram", b"", None),
    ("one octet", b"\0", None),
    ("11 octets", header()[:11], None),
    ("QR=1 response", header(flags=0x8100) + QZONE, None),
    ("header only", header(), 1),
    ("QDCOUNT 0", header(qd=0), 1),
    ("QDCOUNT 2", header(qd=2) + QZONE + QZONE, 1),
    ("ANCOUNT 1", header(an=1) + QZONE, 1),
    ("compression loop in question", header() + b"\xc0\x0c\0\x06\0\x01", 1),
    ("mutual pointers in additional", header(ar=1) + QZONE + b"\xc0\x2d\xc0\x2b\0\x01\0\x01" +
     b"\0" * 6, 1),
    ("pointer past the end", header() + b"\xff\xff\0\x06\0\x01", 1),
    ("pointer to offset 0", header(ar=1) + QZONE + b"\xc0\x00\0\x01\0\x01" + b"\0" * 6, 1),
    ("64-octet label", header() + b"\x40" + b"a" * 64 + b"\0\0\x01\0\x01", 1),
    ("name over 255 octets", header() + (b"\x3f" + b"b" * 63) * 4 + b"\0\0\x01\0\x01", 1),
    ("truncated question", header() + wire_name(ZONE)[:10], 1),
    ("two OPT records", header(ar=2) + QZONE + (b"\0\0\x29\x04\xd0\0\0\0\0\0\0") * 2, 1),
    ("OPT owner not root", header(ar=1) + QZONE + b"\x01a\0\0\x29\x04\xd0\0\0\0\0\0\0", 1),
    ("OPT option overruns", header(ar=1) + QZONE + b"\0\0\x29\x04\xd0\0\0\0\0\0\x06\0\x03\0\x09ab", 1),
    ("duplicate COOKIE", header(ar=1) + QZONE + b"\0\0\x29\x04\xd0\0\0\0\0\0\x18" +
     (b"\0\x0a\0\x08" + b"12345678") * 2, 1),
    ("RDLENGTH past the end", header(ar=1) + QZONE + b"\0\0\x29\x04\xd0\0\0\0\0\0\x40", 1),
    ("UPDATE opcode", struct.pack(">HHHHHH", 0xBEEF, 0x2800, 1, 0, 0, 0) + QZONE, 4),
    ("trailing bytes ignored", header() + QZONE + b"\xde\xad\xbe\xef", 0),
]


def alive(srv):
    q = dns.message.make_query(ZONE, "SOA")
    r = dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=5.0)
    assert r.rcode() == 0 and r.answer


@pytest.mark.parametrize("what,packet,rcode", CASES, ids=[c[0] for c in CASES])
def test_bad_udp_packet(srv, what, packet, rcode):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3 if rcode is None else 5.0)
    s.sendto(packet, ("127.0.0.1", srv.dns_port))
    try:
        data = s.recv(65535)
    except socket.timeout:
        data = None
    s.close()
    if rcode is None:
        assert data is None, f"{what}: expected a drop"
    else:
        assert data is not None, f"{what}: no answer"
        assert data[:2] == b"\xbe\xef" and data[2] & 0x80, f"{what}: id and QR"
        assert data[3] & 0x0F == rcode, f"{what}: rcode {data[3] & 0x0F}"
    alive(srv)


def test_random_bytes_fixed_seed(srv):
    random_bytes(srv)


def test_random_bytes_with_worker_threads(tmp_path):
    with Rosterd(tmp_path, extra=["--dns-threads", "2"]) as s:
        wait_dns(s)
        with s.client() as c:
            assert c.register("big", "tcp", "b1.lon6.example.net", 80,
                              addresses=["10.1.0.1"]).error == 0
        random_bytes(s)


def random_bytes(srv):
    rnd = random.Random(20261126)
    good = dns.message.make_query("_big._tcp." + ZONE, "SRV", use_edns=0).to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(3000):
        if i % 2:
            pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 300)))
        else:
            b = bytearray(good)
            for _ in range(rnd.randrange(1, 4)):
                b[rnd.randrange(len(b))] = rnd.getrandbits(8)
            pkt = bytes(b)
        s.sendto(pkt, ("127.0.0.1", srv.dns_port))
    s.close()
    t0 = time.monotonic()
    alive(srv)
    assert time.monotonic() - t0 < 1.0


def tcp_conn(srv):
    return socket.create_connection(("127.0.0.1", srv.dns_port), timeout=3)


def closed(s, within=3.0):
    s.settimeout(within)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_tcp_length_prefix_zero_or_short_closes(srv):
    accepted = srv.metric("roster_dns_tcp_connections_accepted_total")
    for prefix in (b"\0\0", b"\0\x05", b"\x7f\x7f"):
        s = tcp_conn(srv)
        s.sendall(prefix + b"\0" * 5)
        assert closed(s, 3.0)
        s.close()
    alive(srv)
    assert srv.metric("roster_dns_tcp_closed_total", reason="malformed") == 3
    assert srv.metric("roster_dns_tcp_closed_total", reason="idle") == 0
    assert srv.metric("roster_dns_tcp_connections_accepted_total") - accepted == 3


def test_tcp_stalled_message_and_idle_closed(srv):
    s = tcp_conn(srv)
    s.sendall(b"\x0f\x00" + b"\0" * 20)  # promises 3,840 octets, sends 20
    idle = tcp_conn(srv)
    t0 = time.monotonic()
    assert closed(s, 3.0) and closed(idle, 3.0)
    assert time.monotonic() - t0 < 2.5
    alive(srv)
    assert srv.metric("roster_dns_tcp_closed_total", reason="idle") == 2
    assert srv.metric("roster_dns_tcp_closed_total", reason="malformed") == 0


def test_tcp_trickle_is_closed_by_the_idle_timer(srv):
    s = tcp_conn(srv)
    q = dns.message.make_query(ZONE, "SOA").to_wire()
    msg = struct.pack(">H", len(q)) + q
    t0 = time.monotonic()
    try:
        for b in msg:
            s.send(bytes([b]))
            time.sleep(0.1)  # time passing is the test: a byte every 0.1 s, the trickle
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert closed(s, 3.0)
    assert time.monotonic() - t0 < 4.0
    s.close()


def test_tcp_connection_limit(srv):
    conns = [tcp_conn(srv) for _ in range(20)]
    # All twenty accepted before the next one arrives.
    wait_until(lambda: srv.metric("roster_dns_tcp_connections"), 5, "20 DNS TCP connections open", want=20)
    extra = tcp_conn(srv)
    assert closed(extra, 3.0), "over the limit: accepted and closed"
    for c in conns:
        c.close()
    # The next connection may be accepted before the server has read the
    # FINs of the twenty just closed, and refused while they still count:
    # retry until one is answered.
    r = wait_until(lambda: dns.query.tcp(dns.message.make_query(ZONE, "SOA"), "127.0.0.1",
                                         port=srv.dns_port, timeout=5),
                   10, "the closed places given back", interval=0.05,
                   ignore=(EOFError, ConnectionError))
    assert r.answer


def test_tcp_response_to_server_closes(srv):
    s = tcp_conn(srv)
    pkt = header(flags=0x8100) + QZONE
    s.sendall(struct.pack(">H", len(pkt)) + pkt)
    assert closed(s, 3.0)


def test_slow_reader_does_not_block_others(srv):
    slow = tcp_conn(srv)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    q = dns.message.make_query("_big._tcp." + ZONE, "SRV").to_wire()
    msg = (struct.pack(">H", len(q)) + q) * 500
    slow.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 2
    while sent < len(msg) and time.monotonic() < deadline:
        try:
            sent += slow.send(msg[sent:])
        except BlockingIOError:
            select.select([], [slow], [], 0.05)  # until it takes more, or a moment passed
    # The slow one never reads; everyone else is answered at once.
    for _ in range(20):
        t0 = time.monotonic()
        r = dns.query.tcp(dns.message.make_query("_big._tcp." + ZONE, "SRV"), "127.0.0.1",
                          port=srv.dns_port, timeout=2)
        assert len(r.answer[0]) == 60
        assert time.monotonic() - t0 < 0.5
    alive(srv)
    slow.close()


def test_queries_a_full_socket_dropped_are_counted(psrv):
    """While rosterd is stopped (SIGSTOP), queries overflow its socket's
    receive buffer and the kernel drops them: once it runs again, every
    query sent is either answered or counted in
    roster_dns_udp_receive_drops_total (the kernel's own count, read from
    /proc/net/udp), on every UDP path. The count is a counter: while
    /proc/net/udp cannot be read it stays, it does not fall to 0 (which a
    scraper would take for a restart, and an alert for new drops)."""
    srv = psrv
    def counted():
        text = srv.metrics()
        return (metric_sample(text, "roster_dns_queries_total", qtype="SOA", transport="udp"),
                metric_sample(text, "roster_dns_udp_receive_drops_total"))

    alive(srv)
    q0, d0 = counted()
    assert d0 == 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    query = dns.message.make_query(ZONE, "SOA").to_wire()
    sent = 20000
    os.kill(srv.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(sent):
            s.sendto(query, ("127.0.0.1", srv.dns_port))
    finally:
        os.kill(srv.proc.pid, signal.SIGCONT)
    s.close()
    wait_until(lambda: sum(counted()) - q0 - d0, 20,
               "every query answered or counted as dropped", want=sent)
    q1, d1 = counted()
    assert d1 - d0 > 0, "the buffer overflowed"
    alive(srv)
    srv.proc_fails(True)
    assert counted()[1] == d1
    assert "/proc/net/udp" in srv.proc_reads()
    srv.proc_fails(False)
    assert counted()[1] == d1
