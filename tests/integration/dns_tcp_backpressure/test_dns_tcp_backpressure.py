"""DNS over TCP with a reader that does not read (docs/dns.md, "TCP"): a
client pipelines queries and leaves the answers unread. rosterd must stop
reading its queries once its queued output passes the bound (the client's
sends then block: the server is not buffering answers without end), go on
answering everybody else at once, answer every query in order once the
client reads again, and close the connection after the idle timeout if it
never does.

Whether rosterd paused is seen from outside: a client whose queries are
still read can send without end; one that is paused is blocked by TCP's
own flow control after a bounded amount (kernel buffers and rosterd's read
buffer)."""
import select
import socket
import struct
import time

import dns.message
import dns.query
import pytest

from dns_helpers import ZONE, wait_dns
from harness import Rosterd, pb, wait_until

INSTANCES = 20
# Sent at most before a paused reader blocks: the socket buffers on both
# sides and rosterd's read buffer, a few hundred KB on Linux loopback (the
# client's send buffer is pinned small below). A server that did not
# pause would read all of it: then the test fails instead of queueing
# answers without end (2 MiB of queries is about 60 MB of answers).
PUSH_CAP = 2 << 20
STALL = 3.0  # no room to send for this long: the server stopped reading


@pytest.fixture
def zone_with_answers(request, tmp_path):
    """A rosterd whose _web._tcp SRV answer is about 1.3 KB (20 instances
    with addresses), with the DNS TCP idle timeout the test asks for."""
    idle = getattr(request, "param", "60s")
    with Rosterd(tmp_path, extra=["--tcp-idle-timeout", idle]) as srv:
        wait_dns(srv)
        with srv.client() as c:
            ids = [c.send(register=pb().RegisterRequest(instance=pb().Instance(
                service="web", protocol="tcp", host=f"w{k}.lon6.example.net", port=80,
                addresses=[f"10.1.0.{k + 1}"]))) for k in range(INSTANCES)]
            for rid in ids:
                assert c.wait(rid).error == 0
        yield srv


def query_frame(qid):
    q = dns.message.make_query(f"_web._tcp.{ZONE}", "SRV")
    q.id = qid
    w = q.to_wire()
    return struct.pack(">H", len(w)) + w


def slow_reader(srv):
    """A TCP connection with small buffers (so that the bound is reached
    quickly and nothing but rosterd's own pause can stop the sends)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    s.connect(("127.0.0.1", srv.dns_port))
    return s


def push_until_blocked(sock, cap=PUSH_CAP):
    """Pipeline queries (ids 0, 1, 2... mod 65536) without reading, until
    the connection takes nothing for STALL seconds or @p cap bytes went.
    (bytes sent, whole queries sent, blocked?)"""
    frame_len = len(query_frame(0))
    stream = b"".join(query_frame(k) for k in range(4096))
    sock.setblocking(False)
    sent = 0
    while sent < cap:
        _, writable, _ = select.select([], [sock], [], STALL)
        if not writable:
            return sent, sent // frame_len, True
        # The stream repeats every 4096 queries (ids 0..4095): stay aligned.
        off = sent % len(stream)
        sent += sock.send(stream[off:off + 65536])
    return sent, sent // frame_len, False


def read_answers(sock, n, timeout=30.0):
    """The first @p n answers on @p sock: a list of (id, rcode, ancount);
    fewer when the connection ends first."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    out, buf = [], b""
    while len(out) < n:
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            m = buf[2:2 + struct.unpack(">H", buf[:2])[0]]
            buf = buf[2 + len(m):]
            qid, flags, _, ancount = struct.unpack(">HHHH", m[:8])
            out.append((qid, flags & 0xF, ancount))
    return out


def others_are_served(srv, within=2.0):
    """A fresh TCP client, a UDP client and the API are each answered
    within @p within seconds while the slow reader holds its connection."""
    # Over UDP the SRV answer would not fit: the service's addresses do.
    for ask, name, rdtype in ((dns.query.tcp, f"_web._tcp.{ZONE}", "SRV"),
                              (dns.query.udp, f"web.{ZONE}", "A")):
        t0 = time.monotonic()
        r = ask(dns.message.make_query(name, rdtype), "127.0.0.1", port=srv.dns_port,
                timeout=within)
        assert r.answer and len(r.answer[0]) == INSTANCES, r
        assert time.monotonic() - t0 < within
    with srv.client() as c:
        t0 = time.monotonic()
        assert c.stats().instances == INSTANCES
        assert time.monotonic() - t0 < within


def tcp_connections(srv):
    return srv.metric("roster_dns_tcp_connections")


def test_slow_reader_is_paused_others_are_served_and_it_gets_every_answer_in_order(
        zone_with_answers):
    srv = zone_with_answers
    a = slow_reader(srv)
    sent, queries, blocked = push_until_blocked(a)
    assert blocked, f"rosterd kept reading an unread connection's queries ({sent} bytes)"
    assert queries > 200, "blocked before the output bound could even be reached"
    assert srv.metric("roster_dns_tcp_read_pauses_total") >= 1, "counted as a pause"
    # Everybody else is answered at once, while the slow reader stays paused.
    others_are_served(srv)
    _, still, _ = select.select([], [a], [], 0.5)
    assert not still, "the paused reader's queries were read again without it reading"
    # It reads now: every whole query it sent is answered, in order, whole.
    answers = read_answers(a, queries)
    assert len(answers) == queries, f"{len(answers)} answers to {queries} queries"
    for k, (qid, rcode, ancount) in enumerate(answers):
        assert (qid, rcode, ancount) == (k % 4096, 0, INSTANCES), (k, qid, rcode, ancount)
    # And the connection goes on as before: the query cut at the block is
    # completed, one more is sent, both are answered.
    flen = len(query_frame(0))
    a.setblocking(True)
    a.settimeout(10)
    a.sendall(query_frame(queries % 4096)[sent % flen:] + query_frame(4242))
    tail = read_answers(a, 2, timeout=10)
    assert tail == [(queries % 4096, 0, INSTANCES), (4242, 0, INSTANCES)], tail
    a.close()


@pytest.mark.parametrize("zone_with_answers", ["1500ms"], indirect=True)
def test_reader_that_never_reads_is_closed_after_the_idle_timeout(zone_with_answers):
    srv = zone_with_answers
    wait_until(lambda: tcp_connections(srv) == 0, 10, "no DNS TCP connection open")
    t0 = time.monotonic()
    a = slow_reader(srv)
    # Short stalls: the idle timer (1.5 s) is shorter than STALL.
    a.setblocking(False)
    stream = b"".join(query_frame(k) for k in range(4096))
    sent = 0
    while True:
        _, writable, _ = select.select([], [a], [], 0.3)
        if not writable:
            break
        off = sent % len(stream)
        try:
            sent += a.send(stream[off:off + 65536])
        except (ConnectionResetError, BrokenPipeError):
            break
        assert sent < PUSH_CAP, "rosterd kept reading an unread connection's queries"
    t_blocked = time.monotonic()
    assert tcp_connections(srv) == 1
    others_are_served(srv)
    # Closed by the idle timer: not before its 1.5 s from the connect (the
    # timer restarts only when a whole query is read), and soon after the
    # last query it read, which was before the sends blocked.
    wait_until(lambda: tcp_connections(srv) == 0, 1.5 + 5, "the paused connection closed")
    closed = time.monotonic()
    assert closed - t0 >= 1.4, closed - t0
    assert closed - t_blocked < 1.5 + 5
    # What it reads now ends early: the rest of its queries were never answered.
    answers = read_answers(a, sent // len(query_frame(0)), timeout=10)
    assert len(answers) < sent // len(query_frame(0))
    others_are_served(srv)
    a.close()
