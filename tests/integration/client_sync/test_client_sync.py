"""One-shot `roster` calls (libroster's blocking exchange, client/sync.c)
against fake registries that misbehave at each step of the exchange:
the connection is never accepted, the request is never read, the reply
never comes, comes in part and then stops, is cut by a close or a reset,
or is not a frame at all.

Every call must end within its one deadline (--timeout, for the whole
exchange, connect included), exit 3 with the registry and the reason on
stderr, and never hang or crash; a deadline that expires early is a
failure too. With a second, working registry in the list, the call is
answered by it once the first has had its deadline."""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402
from harness import Rosterd, binary, pb, serve_connections  # noqa: E402

TIMEOUT_MS = 1000
# Generous for a loaded 2-core machine, far below "forever".
SLACK = 3.0


class Peer:
    """A fake registry on 127.0.0.1. Each accepted connection is handed to
    serve(conn, peer) on its own thread; close() ends them all."""

    def __init__(self, serve, rcvbuf=None):
        self.serve = serve
        self.stop = threading.Event()
        self.ls = socket.socket()
        if rcvbuf:  # inherited by accepted sockets: set before listen()
            self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.requests = []
        serve_connections(self.ls, self._run)

    def _run(self, c):
        self.conns.append(c)
        try:
            self.serve(c, self)
        except OSError:
            pass

    def read_request(self, c):
        """One whole Request frame from @p c (None at EOF)."""
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = c.recv(65536)
            if not chunk:
                return None
            buf += chunk
        rq = pb().Request()
        rq.ParseFromString(buf[4:4 + struct.unpack(">I", buf[:4])[0]])
        self.requests.append(rq)
        return rq

    def hold(self):
        self.stop.wait(60)

    def close(self):
        self.stop.set()
        self.ls.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def reply_frame(rq):
    """A whole, valid answer to a Query (no instances)."""
    body = pb().Response(id=rq.id, query=pb().QueryResponse(revision=1)).SerializeToString()
    return struct.pack(">I", len(body)) + body


def call(port, *cmd, timeout_ms=TIMEOUT_MS):
    """roster against 127.0.0.1:@p port; (result, seconds it took)."""
    t0 = time.monotonic()
    r = roster("--server", f"127.0.0.1:{port}" if isinstance(port, int) else port,
               "--timeout", timeout_ms, *cmd, timeout=60)
    return r, time.monotonic() - t0


QUERY = ("query", "--service", "web")


def assert_deadline_kept(r, took, *words):
    """Exit 3, a reason naming one of @p words, and the whole call over
    after its deadline (not before: a wait cut short is a bug too) and
    within it plus slack."""
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert any(w in r.stderr for w in words), r.stderr
    assert TIMEOUT_MS / 1000 * 0.9 <= took < TIMEOUT_MS / 1000 + SLACK, (took, r.stderr)


def assert_fails_fast(r, took, *words):
    """Exit 3 with a reason, well before the deadline would have passed:
    a close or a bad frame is an answer, not a reason to wait."""
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert any(w in r.stderr for w in words), r.stderr
    assert took < SLACK, (took, r.stderr)


# ---- the reply never comes, or stops half-way -----------------------------------


def test_registry_that_never_answers_is_given_up_at_the_deadline():
    def serve(c, peer):
        peer.read_request(c)
        peer.hold()
    with Peer(serve) as peer:
        for cmd in (QUERY, ("list",), ("stats",)):
            r, took = call(peer.port, *cmd)
            assert_deadline_kept(r, took, "timed out")
        assert len(peer.requests) == 3  # each call did send its request


def test_reply_stalling_mid_frame_is_given_up_at_the_deadline():
    def serve(c, peer):
        rq = peer.read_request(c)
        frame = reply_frame(rq)
        c.sendall(frame[:6])  # the length and two octets of the message
        peer.hold()
    with Peer(serve) as peer:
        r, took = call(peer.port, *QUERY)
        assert_deadline_kept(r, took, "timed out")


def big_register_in_small_netns(mode):
    """`roster register --permanent` of about 200 KB against unread_peer.py
    in MODE, both in a network namespace of their own (unshare(1), as
    ops_diskfull does) whose TCP buffers are 4 KiB: loopback's usual ones
    take a whole 1 MiB frame at once, and the send would never wait. The
    outcome: {"rc", "stderr", "took"}."""
    meta = []
    for k in range(2):
        meta += ["--meta", f"k{k}=" + "v" * 100000]
    script = os.path.join(os.path.dirname(__file__), "unread_peer.py")
    cmd = ["unshare", "--user", "--map-root-user", "--net", "sh", "-c",
           'ip link set lo up && sysctl -qw net.ipv4.tcp_wmem="4096 4096 4096" '
           '&& sysctl -qw net.ipv4.tcp_rmem="4096 4096 4096" && exec "$0" "$@"',
           sys.executable, script, mode, binary("client/roster"), "--timeout", str(TIMEOUT_MS),
           "register", "--permanent", "--service", "web", "--protocol", "tcp", "--host",
           "big.lon6.example.net", "--port", "80"] + meta
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_request_never_read_is_given_up_at_the_deadline():
    """A registry that stops reading, and a request that does not fit the
    socket buffers: the send itself must honour the deadline."""
    out = big_register_in_small_netns("unread")
    assert out["rc"] == 3, out
    assert "timed out" in out["stderr"], out
    assert TIMEOUT_MS / 1000 * 0.9 <= out["took"] < TIMEOUT_MS / 1000 + SLACK, out


def test_request_reset_while_sent_fails_at_once():
    """The registry resets the connection in the middle of our request:
    "unreachable" at once, not a wait for the deadline, not a crash on
    SIGPIPE."""
    out = big_register_in_small_netns("reset")
    assert out["rc"] == 3, out
    assert "unreachable" in out["stderr"], out
    assert out["took"] < SLACK, out


def test_connect_that_never_completes_is_given_up_at_the_deadline():
    """A listener whose backlog is full and never accepts: the kernel drops
    our SYN, so connect() itself must honour the deadline."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    try:
        # Fill the accept queue (backlog 0 holds one; a second may sit in
        # the SYN queue): connects that complete without accept().
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        r, took = call(port, *QUERY)
        assert_deadline_kept(r, took, "unreachable")
    finally:
        for s in fillers:
            s.close()
        ls.close()


# ---- the reply is cut or is not a frame -------------------------------------------


def test_reply_trickling_byte_by_byte_is_given_up_at_the_deadline():
    """Every read returns something, never a whole frame: the deadline is
    checked on each pass, not only when nothing arrives."""
    def serve(c, peer):
        peer.read_request(c)
        for b in struct.pack(">I", 1000) + b"\x08" * 1000:  # a frame of 1000 octets
            c.sendall(bytes([b]))
            if peer.stop.wait(0.05):  # the peer's pace (it ends at close())
                return
    with Peer(serve) as peer:
        r, took = call(peer.port, *QUERY)
        assert_deadline_kept(r, took, "timed out")


@pytest.mark.parametrize("how", ["close", "reset"])
def test_reply_cut_mid_frame_fails_at_once(how):
    def serve(c, peer):
        rq = peer.read_request(c)
        c.sendall(reply_frame(rq)[:6])
        if how == "reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    with Peer(serve) as peer:
        r, took = call(peer.port, *QUERY)
        assert_fails_fast(r, took, "unreachable")


def test_close_without_a_reply_fails_at_once():
    def serve(c, peer):
        peer.read_request(c)
        c.shutdown(socket.SHUT_WR)
        peer.hold()
    with Peer(serve) as peer:
        r, took = call(peer.port, *QUERY)
        assert_fails_fast(r, took, "unreachable")


@pytest.mark.parametrize("junk", [
    struct.pack(">I", 0xFFFFFFF0) + b"\x08\x01",  # a length far over any limit
    struct.pack(">I", 4) + b"\xff\xff\xff\xff",   # a frame that is no protobuf
], ids=["huge-length", "not-protobuf"])
def test_reply_that_is_not_a_response_fails_at_once(junk):
    def serve(c, peer):
        peer.read_request(c)
        c.sendall(junk)
        peer.hold()
    with Peer(serve) as peer:
        r, took = call(peer.port, *QUERY)
        assert_fails_fast(r, took, "malformed")


# ---- the next registry answers once the first has had its deadline ------------------


def test_stalled_registry_is_failed_over_after_its_deadline(tmp_path):
    def serve(c, peer):
        peer.read_request(c)
        peer.hold()
    with Peer(serve) as peer, Rosterd(tmp_path) as srv:
        with srv.client() as c:
            assert c.register("web", "tcp", "w1.lon6.example.net", 80).error == 0
        servers = f"127.0.0.1:{peer.port},127.0.0.1:{srv.api_port}"
        r, took = call(servers, *QUERY)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert "w1.lon6.example.net.:80" in r.stdout
        assert TIMEOUT_MS / 1000 * 0.9 <= took < TIMEOUT_MS / 1000 + SLACK, took
        assert len(peer.requests) == 1
