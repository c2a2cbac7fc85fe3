"""Shared helpers of Roster's integration tests.

Every test gets its own temp dir and its own ports (asked from the kernel),
so tests stand alone and may run in any order. Only 127.0.0.1 / ::1 is ever
contacted.
"""
import os
import socket
import subprocess
import time

BUILD = os.environ.get("ROSTER_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("ROSTER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))


def binary(rel):
    """Path of a built binary, e.g. binary('server/rosterd')."""
    path = os.path.join(BUILD, rel)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is not built")
    return path


def free_port(kind=socket.SOCK_STREAM, both=False):
    """A port free on 127.0.0.1 (for TCP, and for UDP too when both=True)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if not both:
            s.close()
            return port
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            u.close()
            continue
        s.close()
        u.close()
        return port
    raise RuntimeError("no free port")


# ---- waiting on conditions ------------------------------------------------------
#
# Tests wait on what they can observe, never for a fixed time before an
# assertion: a fixed sleep is either too short on a loaded machine (a flaky
# test) or longer than needed (a slow one), and it cannot tell "late" from
# "never". tests/lint/no_sleeps.py enforces it; the polls below are the
# only sleeps it allows in this file.

POLL = 0.02  # seconds between two looks at a condition


_TRUE = object()


def wait_until(predicate, timeout, what, interval=POLL, ignore=(), want=_TRUE):
    """Call predicate() until it returns a true value (or, with @p want,
    a value equal to it), and return that value.

    After @p timeout seconds, AssertionError naming @p what and the last value
    seen. An exception of a type in @p ignore counts as "not yet" (a server
    still starting, say) and, if it is the last thing seen, is reported as
    the last value and chained; any other exception propagates at once."""
    deadline = time.monotonic() + timeout
    last, last_exc = None, None
    while True:
        try:
            last, last_exc = predicate(), None
            if (last if want is _TRUE else last == want):
                return last
        except ignore as e:
            last, last_exc = e, e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                 f"last value: {last!r}") from last_exc
        time.sleep(interval)  # the poll interval: allowed by tests/lint/no_sleeps.py


def hold_for(duration, predicate, what, interval=0.1):
    """Assert that predicate() stays true for @p duration seconds (checked
    every @p interval, and once more at the end); the last value. For
    "X still holds after T" (a lease kept alive by its heartbeats): stronger
    than sleeping T and looking once, since a gap in between fails too."""
    start = time.monotonic()
    while True:
        last = predicate()
        assert last, (f"{what} stopped holding {time.monotonic() - start:.2f} s into "
                      f"{duration} s; last value: {last!r}")
        if time.monotonic() - start >= duration:
            return last
        time.sleep(interval)  # the poll interval: allowed by tests/lint/no_sleeps.py


def wait_change(still, timeout, what, interval=POLL):
    """Poll still() (true while the old state holds) until it is false, for
    timing a change from outside: (when the last look that still saw the old
    state was sent, when the first that saw the change returned), monotonic.
    A bound "changed no later than T" is measured to the first, "not before
    T" to the second, so that a slow client cannot fail either."""
    seen = [None]

    def changed():
        asked = time.monotonic()
        if still():
            seen[0] = asked
            return False
        return True
    wait_until(changed, timeout, what, interval=interval)
    return seen[0], time.monotonic()


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Wait until a TCP connect to host:port succeeds."""
    def listening():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with socket.create_connection((host, port), timeout=0.5):
            return True
    wait_until(listening, timeout, f"{host}:{port} listening", ignore=(OSError,))


def run(cmd, check=False, timeout=60, **kw):
    """Run a command, capturing text output."""
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout, **kw)


# ---- the registration API (protobuf over TCP) -------------------------------

import importlib
import shutil
import signal
import struct
import sys
import tempfile

_pb = None


def pb():
    """The roster_pb2 module, generated from proto/roster.proto with protoc."""
    global _pb
    if _pb is None:
        out = tempfile.mkdtemp(prefix="roster-pb-")
        proto_dir = os.path.join(SOURCE, "proto")
        subprocess.run(["protoc", f"--proto_path={proto_dir}", f"--python_out={out}",
                        os.path.join(proto_dir, "roster.proto")], check=True)
        sys.path.insert(0, out)
        _pb = importlib.import_module("roster_pb2")
    return _pb


def parse_responses(data):
    """The whole Response frames in @p data (4-octet big-endian length
    prefix, then the message); a partial frame at the end is ignored."""
    out = []
    while len(data) >= 4:
        n = struct.unpack(">I", data[:4])[0]
        if len(data) < 4 + n:
            break
        r = pb().Response()
        r.ParseFromString(data[4:4 + n])
        out.append(r)
        data = data[4 + n:]
    return out


class ApiClient:
    """A minimal client of the registration API, for tests.

    request() sends one Request and waits for the Response with its id;
    send()/recv() give raw control for pipelining and bad input.
    """

    def __init__(self, port, host="127.0.0.1", timeout=10.0, source=None):
        # source: the local address to connect from (e.g. "127.0.0.2": Linux
        # loopback answers for all of 127/8), for the per-source caps.
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.next_id = 1
        self.buf = b""
        self.pending = {}

    @classmethod
    def adopt(cls, sock, next_id=1):
        """A client over a connection the test opened itself (its requests
        numbered from @p next_id on)."""
        c = cls.__new__(cls)
        c.sock, c.next_id, c.buf, c.pending = sock, next_id, b"", {}
        return c

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, **op):
        req = pb().Request(id=self.next_id, **op)
        self.next_id += 1
        body = req.SerializeToString()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        return req.id

    def recv(self):
        """The next Response frame, or None at EOF."""
        while len(self.buf) < 4:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        n = struct.unpack(">I", self.buf[:4])[0]
        while len(self.buf) < 4 + n:
            chunk = self.sock.recv(max(65536, n))
            if not chunk:
                return None
            self.buf += chunk
        body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        r = pb().Response()
        r.ParseFromString(body)
        return r

    def wait(self, rid):
        if rid in self.pending:
            return self.pending.pop(rid)
        while True:
            r = self.recv()
            if r is None:
                raise ConnectionError("connection closed")
            if r.id == rid:
                return r
            self.pending[r.id] = r

    def request(self, **op):
        return self.wait(self.send(**op))

    # Conveniences.
    def open_lease(self, ttl=10):
        r = self.request(open_lease=pb().OpenLeaseRequest(ttl_seconds=ttl))
        assert r.error == 0, r.message
        return r.open_lease.lease

    def register(self, service, protocol, host, port, lease=0, addresses=(), **kw):
        inst = pb().Instance(service=service, protocol=protocol, host=host, port=port,
                             addresses=list(addresses), **kw)
        return self.request(register=pb().RegisterRequest(instance=inst, lease=lease))

    def heartbeat(self, lease):
        return self.request(heartbeat=pb().HeartbeatRequest(lease=lease))

    def query(self, service, protocol="", include_down=False):
        return self.request(query=pb().QueryRequest(service=service, protocol=protocol,
                                                    include_down=include_down))

    def stats(self):
        return self.request(stats=pb().StatsRequest()).stats


def dns_io_args(extra):
    """ROSTER_DNS_IO=uring|mmsg|main (the DNS tests' further runs, see
    meson.build): rosterd's UDP workers use that I/O path, forced, with one
    worker when the test asked for none (the path is the workers'); main
    answers UDP on the main loop (--dns-threads 0) where the test did not
    choose."""
    io = os.environ.get("ROSTER_DNS_IO")
    if not io:
        return []
    if io == "main":
        return [] if "--dns-threads" in extra else ["--dns-threads", "0"]
    return ["--dns-io", io] + ([] if "--dns-threads" in extra else ["--dns-threads", "1"])


class Rosterd:
    """A real rosterd on loopback with its own data dir and ports."""

    def __init__(self, tmpdir, site="lon6", domain="example.net", extra=(), data=None):
        self.tmpdir = str(tmpdir)
        self.data = data or os.path.join(self.tmpdir, "data")
        self.api_port = free_port()
        self.dns_port = free_port(both=True)
        self.http_port = free_port()
        self.site, self.domain = site, domain
        self.extra = list(extra)
        self.proc = None
        self.log_path = os.path.join(self.tmpdir, f"rosterd-{self.api_port}.log")

    def args(self):
        # A fresh data dir with --xfr-allow holds its first zone version for
        # --xfr-warmup (60 s): the tests that are not about it start at once.
        warm = ["--xfr-warmup", "0"] if "--xfr-allow" in self.extra and \
            "--xfr-warmup" not in self.extra else []
        return [binary("server/rosterd"), "--site", self.site, "--domain", self.domain,
                "--data", self.data, "--api", f"127.0.0.1:{self.api_port}",
                "--dns", f"127.0.0.1:{self.dns_port}", "--http", f"127.0.0.1:{self.http_port}",
                "--log-level", "debug"] + self.extra + warm + dns_io_args(self.extra)

    def env(self):
        """The environment rosterd runs with (None: the test's own)."""
        return None

    def start(self, wait=True):
        for attempt in range(3):
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=self.log,
                                         env=self.env())
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                # Ports are picked free, then bound by rosterd: on a busy
                # machine another socket can take one in between. Pick new
                # ones and start again; any other exit is the test's failure.
                self.proc = None
                self.log.close()
                if attempt == 2 or "already in use" not in self.logs():
                    raise
                self.api_port, self.http_port = free_port(), free_port()
                self.dns_port = free_port(both=True)

    def wait_ready(self):
        # Every listener, not just the API's: they open one after another.
        for port in (self.api_port, self.dns_port, self.http_port):
            wait_port(port, proc=self.proc)
        def serving():  # signal handlers are in place
            if self.proc.poll() is not None:
                raise RuntimeError("rosterd did not finish starting:\n" + self.logs()[-2000:])
            return "rosterd serving" in self.logs()
        try:
            wait_until(serving, 10, "rosterd serving")
        except AssertionError:
            raise RuntimeError("rosterd did not finish starting:\n" + self.logs()[-2000:])

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def client(self):
        return ApiClient(self.api_port)

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def metrics(self):
        """GET /metrics: the Prometheus text."""
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics",
                                    timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        """One sample of /metrics, e.g. metric("roster_api_connections_rejected_total",
        reason="limit")."""
        return metric_sample(self.metrics(), name, **labels)

    def __enter__(self):
        # Already started (by start_rosterd(), say): not a second process.
        return self if self.proc is not None else self.start()

    def __exit__(self, *a):
        rc = self.stop()
        # ASan/UBSan abort the process: a clean run must end with 0.
        assert rc in (0, None), f"rosterd exited {rc}\n{self.logs()[-3000:]}"


class ProcFaultRosterd(Rosterd):
    """rosterd with tests/faults/sysfault.c preloaded: while the file
    self.watch exists, each fopen() and opendir() of a path under /proc/
    fails (EIO) and is logged, so a test sees which requests read /proc
    and what rosterd does when it cannot."""

    def __init__(self, tmpdir, **kw):
        super().__init__(tmpdir, **kw)
        self.watch = os.path.join(self.tmpdir, "proc-fails")
        self.fault_log = os.path.join(self.tmpdir, "proc-reads.log")

    def env(self):
        # The shim comes before ASan's runtime in an ASan build: let it.
        asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                      "verify_asan_link_order=0"]))
        return dict(os.environ, LD_PRELOAD=binary("tests/faults/libsysfault.so"),
                    SYSFAULT_CALL="fopen,opendir", SYSFAULT_PATH="/proc/",
                    SYSFAULT_WHILE=self.watch, SYSFAULT_LOG=self.fault_log,
                    ASAN_OPTIONS=asan)

    def proc_fails(self, on):
        if on:
            open(self.watch, "w").close()
        elif os.path.exists(self.watch):
            os.unlink(self.watch)

    def proc_reads(self):
        """The /proc reads that failed so far, a line each."""
        if not os.path.exists(self.fault_log):
            return ""
        with open(self.fault_log) as f:
            return f.read()


def metric_sample(text, name, **labels):
    """The value of the sample @p name{@p labels} in Prometheus text (an
    integer); AssertionError when it is not there."""
    import re
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pat = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\d+)$"
    m = re.search(pat, text, re.M)
    assert m, f"no {name} {labels} in /metrics"
    return int(m.group(1))


def start_rosterd(make, attempts=3):
    """make() builds a Rosterd whose extra args name ports of their own,
    picked by free_port() (a second listener, say); it is started, and built
    again with newly picked ports when one of them was taken by another
    socket between the pick and rosterd's bind (start() only re-picks the
    ports it chose itself). The started Rosterd; `with` it stops it."""
    for attempt in range(attempts):
        s = make()
        try:
            return s.start()
        except RuntimeError:
            if attempt == attempts - 1 or "already in use" not in s.logs():
                raise


def serve_connections(listener, handle):
    """Accept on @p listener (a listening socket) on a thread of its own
    until it is closed, and run handle(conn) for each connection on a
    thread of its own: the skeleton of the tests' fake peers."""
    import threading

    def accept():
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()


def dead_port(kind=socket.SOCK_STREAM):
    """A socket bound to a port of 127.0.0.1 that never answers: a TCP
    connect is refused (bound, never listening), a datagram never read.
    Keep it open while the port must stay dead, then close it: a port from
    free_port() is free only at the pick, and a parallel test's server may
    bind it meanwhile. The port is dead_port().getsockname()[1]."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    return s


def stop_process(proc):
    """Terminate a peer server (NSD, knotd...) started by a test, then kill it
    if it lingers; None or an exited process is fine."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
