"""The roster CLI when registries fail under it: a deregistration nobody
confirmed, writes across several registries with one down (in both list
orders), the cache file left alone when an answer has not changed, and the
wait for a first registration sized from the effective timeout."""
import os
import re
import socket
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import interrupt, roster, running  # noqa: E402
from harness import Rosterd, binary, free_port  # noqa: E402

IDENT = ["--service", "web", "--protocol", "http", "--host", "web1.lon6.example.net",
         "--port", "8080"]


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


def registry(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    return Rosterd(d)


def start_register(servers, *extra):
    cmd = [binary("client/roster"), "--server", ",".join(servers), "register", *IDENT, *extra]
    return cmd


# ---- register --ttl, then SIGINT -------------------------------------------------


def test_register_interrupted_with_registry_down_is_not_deregistered(srv):
    """kill -9 the registry, then SIGINT: nothing confirmed the deregistration."""
    server = f"127.0.0.1:{srv.api_port}"
    with running(start_register([server], "--ttl", "30")) as p:
        first = p.stdout.readline()
        assert first.startswith("registered web1.lon6.example.net.:8080 as "), first
        srv.kill9()
        rc, out, err = interrupt(p)
    assert rc == 3, (rc, out, err)
    assert "deregistered" not in out, out
    assert (f"roster: register: not deregistered at {server} (unreachable); the endpoint "
            "stays until its lease expires (TTL 30 s)") in err, err


def test_register_interrupted_reports_each_registry(tmp_path):
    """Two registries, one killed: deregistered at one, not at the other; exit 3."""
    with registry(tmp_path, "a") as a, registry(tmp_path, "b") as b:
        sa, sb = f"127.0.0.1:{a.api_port}", f"127.0.0.1:{b.api_port}"
        with running(start_register([sa, sb], "--ttl", "30")) as p:
            assert p.stdout.readline().startswith("registered ")
            # both registries must hold the lease before one is killed
            for line in iter(p.stderr.readline, ""):
                if "registered at" in line:
                    break
            b.kill9()
            rc, out, err = interrupt(p)
        assert rc == 3, (rc, out, err)
        assert re.match(r"^deregistered web1\.lon6\.example\.net\.:8080 of service:web, "
                        r"protocol:http revision \d+$", out.rstrip("\n")), out
        assert f"not deregistered at {sb} (unreachable)" in err, err
        assert f"not deregistered at {sa}" not in err, err
        q = roster("--server", sa, "query", "--service", "web")
        assert q.returncode == 1, q.stdout  # gone from the live registry


def test_register_interrupted_with_registry_up_deregisters(srv):
    server = f"127.0.0.1:{srv.api_port}"
    with running(start_register([server], "--ttl", "30")) as p:
        assert p.stdout.readline().startswith("registered ")
        rc, out, err = interrupt(p)
    assert rc == 0, err
    assert out.startswith("deregistered web1.lon6.example.net.:8080"), out
    assert "not deregistered" not in err


# ---- writes across several registries, one down ------------------------------------


def both_orders(up, down):
    return [f"{up},{down}", f"{down},{up}"]


def test_write_verdict_does_not_depend_on_registry_order(srv):
    """Not found at one registry, the other down: the same exit code in both orders
    (unreachable wins over not found: the down registry may hold the instance)."""
    up, down = f"127.0.0.1:{srv.api_port}", f"127.0.0.1:{free_port()}"
    results = []
    for servers in both_orders(up, down):
        r = roster("--server", servers, "deregister", "--service", "zz", "--protocol", "tcp",
                   "--host", "zz.example.net", "--port", 9)
        results.append((r.returncode, sorted(r.stderr.splitlines())))
        assert r.stdout == "", r.stdout
    assert results[0] == results[1], results
    rc, lines = results[0]
    assert rc == 3, results
    assert any(l.startswith(f"roster: deregister: registry {down}: ") for l in lines), lines
    assert any(l.startswith(f"roster: deregister: registry {up}: no instance") for l in lines), \
        lines


def test_permanent_register_with_one_registry_down_is_not_plain_success(srv):
    up, down = f"127.0.0.1:{srv.api_port}", f"127.0.0.1:{free_port()}"
    ident = ["--service", "perm", "--protocol", "tcp", "--host", "p.example.net", "--port", 9]
    for servers in both_orders(up, down):
        r = roster("--server", servers, "register", *ident, "--permanent")
        assert r.returncode == 3, (servers, r.stdout, r.stderr)
        assert r.stdout.startswith("registered p.example.net.:9 as "), r.stdout
        assert r.stderr == (f"roster: register: warning: not applied at registry {down}: "
                            "registry unreachable\n"), r.stderr
        r = roster("--server", servers, "status", *ident, "down")
        assert r.returncode == 3, (servers, r.stdout, r.stderr)
        assert r.stdout.startswith("status p.example.net.:9 of service:perm"), r.stdout
        assert f"warning: not applied at registry {down}" in r.stderr, r.stderr
        r = roster("--server", servers, "deregister", *ident)
        assert r.returncode == 3, (servers, r.stdout, r.stderr)
        assert r.stdout.startswith("deregistered p.example.net.:9 of service:perm"), r.stdout
        assert f"warning: not applied at registry {down}" in r.stderr, r.stderr


def test_write_applied_everywhere_or_unknown_somewhere_is_success(tmp_path):
    with registry(tmp_path, "a") as a, registry(tmp_path, "b") as b:
        sa, sb = f"127.0.0.1:{a.api_port}", f"127.0.0.1:{b.api_port}"
        ident = ["--service", "perm", "--protocol", "tcp", "--host", "p.example.net",
                 "--port", 9]
        r = roster("--server", sa, "register", *ident, "--permanent")
        assert r.returncode == 0, r.stderr
        # known at a only: applied there, nothing to do at b
        for servers in (f"{sa},{sb}", f"{sb},{sa}"):
            r = roster("--server", servers, "status", *ident, "up")
            assert r.returncode == 0 and r.stderr == "", (servers, r.stderr)
        r = roster("--server", f"{sb},{sa}", "deregister", *ident)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        r = roster("--server", f"{sb},{sa}", "deregister", *ident)
        assert r.returncode == 1, r.stderr


# ---- the cache file ---------------------------------------------------------------


def test_cache_file_is_rewritten_only_when_the_answer_changes(srv, tmp_path):
    server = f"127.0.0.1:{srv.api_port}"
    cache = tmp_path / "cache.json"
    ident = ["--service", "web", "--protocol", "http", "--port", 80, "--permanent"]
    assert roster("--server", server, "register", "--host", "a.example.net", *ident).returncode == 0
    q = ["--server", server, "--cache", cache, "query", "--service", "web"]
    assert roster(*q).returncode == 0
    first = os.stat(cache)
    for _ in range(3):
        assert roster(*q).returncode == 0
    again = os.stat(cache)
    # the file is replaced by rename on every write: a new inode
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert roster("--server", server, "register", "--host", "b.example.net", *ident).returncode == 0
    assert roster(*q).returncode == 0
    assert os.stat(cache).st_ino != first.st_ino
    assert "b.example.net." in cache.read_text()


# ---- register's first wait ----------------------------------------------------------


class StatsOnly:
    """A registry that answers Stats and nothing else: the CLI gets its zone,
    then the engine's OpenLease goes unanswered. answer() says what else it
    answers (a subclass's)."""

    def __init__(self):
        from harness import pb
        self.pb = pb()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        while True:
            try:
                chunk = c.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
                n = int.from_bytes(buf[:4], "big")
                rq = self.pb.Request()
                rq.ParseFromString(buf[4:4 + n])
                buf = buf[4 + n:]
                rs = self.answer(rq)
                if rs is not None:
                    body = rs.SerializeToString()
                    c.sendall(len(body).to_bytes(4, "big") + body)

    def answer(self, rq):
        if rq.WhichOneof("op") == "stats":
            return self.pb.Response(id=rq.id, stats=self.pb.StatsResponse(
                zone="services.lon6.example.net.", site="lon6", domain="example.net"))
        return None

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def test_register_waits_twice_the_effective_timeout_plus_a_second():
    """No --timeout: the library's default (2000 ms) sizes the wait, 5000 ms."""
    mock = StatsOnly()
    try:
        r = roster("--server", f"127.0.0.1:{mock.port}", "register", *IDENT, "--ttl", 30,
                   timeout=30)
    finally:
        mock.close()
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "roster: register: endpoints not registered within 5000 ms" in r.stderr, r.stderr


class LeaseGoneAtStop(StatsOnly):
    """Grants a lease and the registration, then, at the deregistration,
    no longer knows the lease: it expired in between (e.g. the host was
    suspended past its TTL)."""

    def answer(self, rq):
        op, pb = rq.WhichOneof("op"), self.pb
        if op == "open_lease":
            return pb.Response(id=rq.id, open_lease=pb.OpenLeaseResponse(lease=42, ttl_seconds=30))
        if op == "register":
            return pb.Response(id=rq.id, register=pb.RegisterResponse(revision=7))
        if op == "heartbeat":
            return pb.Response(id=rq.id, heartbeat=pb.HeartbeatResponse(ttl_seconds=30,
                                                                         instances=1))
        if op == "deregister":
            return pb.Response(id=rq.id, error=pb.UNKNOWN_LEASE, message="unknown lease 42")
        return super().answer(rq)


def test_register_interrupted_after_its_lease_expired_is_not_a_failure():
    """The lease is gone at the registry: so is the endpoint. Not
    "deregistered" (nothing was), not "stays until its lease expires"
    (it did), and exit 0: the endpoint is out of rotation."""
    mock = LeaseGoneAtStop()
    try:
        server = f"127.0.0.1:{mock.port}"
        with running(start_register([server], "--ttl", "30")) as p:
            first = p.stdout.readline()
            assert first.startswith("registered web1.lon6.example.net.:8080 as "), first
            rc, out, err = interrupt(p)
    finally:
        mock.close()
    assert rc == 0, (rc, out, err)
    assert "deregistered" not in out and "stays until" not in err, (out, err)
    assert (f"roster: register: the lease had already expired at {server}: the endpoint "
            "is not served there") in err, err
