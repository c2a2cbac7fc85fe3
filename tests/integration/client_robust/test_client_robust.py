"""libroster against registries that restart, reset or misbehave: a watch
resumes from the stream's revision after the registry's revision went back
(restarted from an empty data dir); requests over the registry's frame limit
fail with the registry's verdict instead of a reconnect loop or
"unreachable"; a peer that floods frames cannot hold a call past its
deadline."""
import json
import os
import shutil
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import binary, roster, running, wait_for  # noqa: E402
from harness import Rosterd, serve_connections  # noqa: E402


class PausableProxy:
    """A TCP relay 127.0.0.1:port -> upstream. While paused, it accepts
    clients and holds what they send, connecting upstream only on resume: a
    client whose registry is out of reach while the registry itself takes
    changes. Upstream closing closes the client side."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.resumed = threading.Event()
        self.resumed.set()
        self.socks = []
        self.lock = threading.Lock()
        self.holding = 0  # connections that sent something while paused
        serve_connections(self.ls, self._serve)

    def pause(self):
        self.resumed.clear()

    def resume(self):
        self.resumed.set()

    def drop_all(self):
        with self.lock:
            for s in self.socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.socks = []

    def _serve(self, c):
        with self.lock:
            self.socks.append(c)
        held = b""
        c.settimeout(0.05)
        while not self.resumed.is_set():
            try:
                d = c.recv(65536)
                if not d:
                    c.close()
                    return
                if not held:
                    with self.lock:
                        self.holding += 1
                held += d
            except socket.timeout:
                pass
            except OSError:
                return
        c.settimeout(None)
        try:
            u = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
        except OSError:
            c.close()
            return
        with self.lock:
            self.socks.append(u)
        u.settimeout(None)
        if held:
            u.sendall(held)

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(u, c), daemon=True).start()
        pump(c, u)

    def close(self):
        self.ls.close()
        self.drop_all()


def reg(srv, name):
    r = roster("--server", f"127.0.0.1:{srv.api_port}", "register", "--permanent",
               "--service", name, "--protocol", "tcp", "--host", f"{name}.example.net",
               "--port", "80")
    assert r.returncode == 0, (r.stdout, r.stderr)


class WatchOutput:
    """`roster watch --json` output collected by a thread."""

    def __init__(self, proc):
        self.proc = proc
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.events.append(json.loads(line))

    def upserts(self, since_index=0):
        return [e["instance"]["service"] for e in self.events[since_index:]
                if e["event"] == "UPSERT"]

    def kinds(self):
        return [e["event"] for e in self.events]


def test_watch_resumes_from_the_stream_after_a_revision_reset(tmp_path):
    srv = Rosterd(tmp_path).start()
    proxy = PausableProxy(srv.api_port)
    try:
        for i in range(1, 7):
            reg(srv, f"p{i}")  # revision 6
        cmd = [binary("client/roster"), "--server", f"127.0.0.1:{proxy.port}", "--json",
               "watch"]
        with running(cmd) as p:
            w = WatchOutput(p)
            wait_for(lambda: sorted(w.upserts()) == [f"p{i}" for i in range(1, 7)],
                     what="the first snapshot")

            # The registry comes back from an empty data dir: revision 0.
            mark = len(w.events)
            srv.kill9()
            proxy.drop_all()
            shutil.rmtree(srv.data)
            srv.start()
            wait_for(lambda: "SNAPSHOT_END" in w.kinds()[mark:], timeout=20,
                     what="a snapshot of the empty registry")
            reg(srv, "q1")  # revision 1
            wait_for(lambda: "q1" in w.upserts(mark), what="q1")

            # Out of reach, while the registry restarts again (same data
            # dir) and takes q2..q7: its revision passes the watch's old 6.
            mark = len(w.events)
            proxy.pause()
            holding = proxy.holding
            srv.kill9()
            proxy.drop_all()
            srv.start()
            wait_for(lambda: "RESYNC" in w.kinds()[mark:], what="the resync")
            wait_for(lambda: proxy.holding > holding,
                     what="the watch reconnected to the paused proxy")
            for i in range(2, 8):
                reg(srv, f"q{i}")  # revisions 2..7
            proxy.resume()
            want = [f"q{i}" for i in range(2, 8)]
            try:
                wait_for(lambda: all(q in w.upserts(mark) for q in want), timeout=20,
                         what="q2..q7 reported")
            finally:
                resync = [e for e in w.events[mark:] if e["event"] == "RESYNC"]
                print("after the second restart:", w.events[mark:])
            assert resync[0]["revision"] == 1, resync
            assert p.poll() is None
    finally:
        proxy.close()
        srv.stop()


class FloodPeer:
    """A fake registry that answers every request with an endless stream of
    well-formed Response frames for another id."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.stop = threading.Event()
        serve_connections(self.ls, self._flood)

    def _flood(self, c):
        body = b"\x08\xbf\x84\x3d"  # Response{id: 999999}
        burst = (struct.pack(">I", len(body)) + body) * 1000
        try:
            c.recv(65536)
            while not self.stop.is_set():
                c.sendall(burst)
        except OSError:
            pass
        c.close()

    def close(self):
        self.stop.set()
        self.ls.close()


def test_flooding_peer_cannot_hold_a_call_past_its_deadline():
    peer = FloodPeer()
    try:
        for cmd in (["list"], ["query", "--service", "web"], ["stats"]):
            t0 = time.monotonic()
            r = roster("--server", f"127.0.0.1:{peer.port}", "--timeout", "1000", *cmd,
                       timeout=30)
            took = time.monotonic() - t0
            assert r.returncode == 3, (cmd, r.returncode, r.stdout, r.stderr)
            # One deadline of 1 s for the whole call; generous slack for a
            # loaded machine, far below "forever".
            assert took < 4.0, (cmd, took, r.stderr)
            assert "timed out" in r.stderr or "did not answer" in r.stderr, r.stderr
    finally:
        peer.close()


def register_cmd(srv, service, value_len, copies, *mode):
    meta = []
    for i in range(copies):
        meta += ["--meta", f"k{i}=" + "a" * value_len]
    return ["--server", f"127.0.0.1:{srv.api_port}", "--timeout", "1000", "register", *mode,
            "--service", service, "--protocol", "tcp", "--host", f"{service}.example.net",
            "--port", "3", *meta]


def test_request_over_the_default_frame_limit_is_refused_client_side(tmp_path):
    """About 1.2 MB: over rosterd's default 1 MiB. Refused before sending,
    as the registry would refuse it: no reconnect loop, no "unreachable"."""
    with Rosterd(tmp_path) as srv:
        t0 = time.monotonic()
        r = roster(*register_cmd(srv, "big", 120000, 10, "--ttl", "5"), timeout=60)
        took = time.monotonic() - t0
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "frame limit" in r.stderr, r.stderr
        assert "connection lost" not in r.stderr, r.stderr
        assert took < 10, took
        r = roster(*register_cmd(srv, "big", 120000, 10, "--permanent"), timeout=60)
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "frame limit" in r.stderr and "unreachable" not in r.stderr, r.stderr
        # The registry never saw a frame over its limit.
        assert "closing" not in srv.logs(), srv.logs()[-2000:]


def test_registry_frame_limit_verdict_is_reported(tmp_path):
    """rosterd --max-frame 65536 and a 100 KB endpoint: the registry's
    connection-level verdict (error with id 0, then close) is what the
    caller sees, and the engine does not reconnect for ever."""
    with Rosterd(tmp_path, extra=["--max-frame", "65536"]) as srv:
        t0 = time.monotonic()
        r = roster(*register_cmd(srv, "big", 100000, 1, "--ttl", "5"), timeout=60)
        took = time.monotonic() - t0
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "65536-byte limit" in r.stderr, r.stderr
        assert r.stderr.count("connection lost") <= 1, r.stderr
        assert took < 10, took
        # The sync path (a permanent registration): the verdict, not
        # "registry unreachable".
        r = roster(*register_cmd(srv, "big", 100000, 1, "--permanent"))
        print(r.stderr)
        assert "closing" in srv.logs()  # the registry did refuse it
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "65536-byte limit" in r.stderr and "unreachable" not in r.stderr, r.stderr
        # The registry is fine and takes normal requests.
        r = roster(*register_cmd(srv, "small", 10, 1, "--permanent"))
        assert r.returncode == 0, r.stderr


def test_a_registry_turning_connections_away_is_failed_over(tmp_path):
    """A registry at its connection limit answers a new connection with an
    id-0 UNAVAILABLE frame and closes it. For a query that is "this registry
    cannot answer": the next one in the list does. (Only FRAME_TOO_LARGE,
    about our own request, is an answer.)"""
    a = Rosterd(tmp_path / "a", extra=["--max-connections", "1"])
    b = Rosterd(tmp_path / "b")
    os.makedirs(tmp_path / "a"), os.makedirs(tmp_path / "b")
    with a, b:
        with b.client() as cb:
            assert cb.register("db", "tcp", "db1.lon6.example.net", 5432).error == 0
        with a.client() as held:  # a's one place is taken
            assert held.stats() is not None
            servers = f"127.0.0.1:{a.api_port},127.0.0.1:{b.api_port}"
            r = roster("--server", servers, "query", "--service", "db")
            assert r.returncode == 0, (r.stdout, r.stderr)
            assert "db1.lon6.example.net.:5432" in r.stdout
            r = roster("--server", servers, "stats")
            assert r.returncode == 0, (r.stdout, r.stderr)
