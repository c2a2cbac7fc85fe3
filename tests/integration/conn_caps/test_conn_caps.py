"""Per-source connection caps on the real rosterd (robustness catalogue 2.26
and 3.10): one source gets its cap's worth of DNS TCP and API connections
and no more; the next is accepted and closed without an answer, while
another source (127.0.0.2: Linux loopback answers for all of 127/8) is
still served, and closing one connection frees its place."""
import signal
import socket
import struct

import dns.message
import pytest

from dns_helpers import wait_dns
from harness import ApiClient, Rosterd, parse_responses, pb, wait_until
from harness import metric_sample as sample

ZONE = "services.lon6.example.net."
CAP = 4


def wait_sample(srv, name, want, timeout=5.0, **labels):
    wait_until(lambda: sample(srv.metrics(), name, **labels), timeout, f"{name} {labels}",
               interval=0.05, want=want)


def dns_connect(srv, source="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", srv.dns_port), timeout=5,
                                    source_address=(source, 0))


def dns_ask(sock, qid=1):
    """Send an SOA query over TCP; the response, or None when the server
    closed the connection without answering."""
    q = dns.message.make_query(ZONE, "SOA")
    q.id = qid
    wire = q.to_wire()
    try:
        sock.sendall(struct.pack(">H", len(wire)) + wire)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = sock.recv(65535)
            if not chunk:
                return None
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None
    r = dns.message.from_wire(data[2:])
    assert r.id == qid
    return r


def closed_without_answer(sock, timeout=5.0):
    """True when the peer closes (FIN or reset) before sending anything."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def dns_srv(tmp_path):
    extra = ["--tcp-max-connections-per-source", str(CAP), "--tcp-max-connections", "100"]
    with Rosterd(tmp_path, extra=extra) as s:
        wait_dns(s)
        # The harness's readiness probe connected to the DNS port; wait until
        # its connection has been closed, so the count starts at zero.
        wait_sample(s, "roster_dns_tcp_connections", 0)
        yield s


def test_dns_tcp_per_source_cap(dns_srv):
    s = dns_srv
    held = [dns_connect(s) for _ in range(CAP)]
    for k, c in enumerate(held):
        r = dns_ask(c, qid=100 + k)
        assert r is not None and r.answer, f"admitted connection {k} not answered"
    # One more from the same address: accepted, then closed, no answer.
    over = dns_connect(s)
    assert dns_ask(over, qid=7) is None
    over.close()
    # Another source is served.
    other = dns_connect(s, source="127.0.0.2")
    assert other.getsockname()[0] == "127.0.0.2"
    r = dns_ask(other, qid=8)
    assert r is not None and r.answer
    # The held connections still work: the refusal touched nobody else.
    assert dns_ask(held[1], qid=9) is not None
    text = s.metrics()
    assert sample(text, "roster_dns_tcp_rejected_total", reason="per_source") == 1
    assert sample(text, "roster_dns_tcp_rejected_total", reason="limit") == 0
    # Closing one frees its place; the server notices the FIN and releases
    # it, so the next connection from 127.0.0.1 is answered.
    held.pop(0).close()

    def admitted():
        c = dns_connect(s)
        r = dns_ask(c, qid=10)
        if r is None:
            c.close()
            return None
        held.append(c)
        return r
    r = wait_until(admitted, 5, "the closed connection's place given back", interval=0.05)
    assert r.answer
    # And the cap still holds after the reuse.
    again = dns_connect(s)
    assert dns_ask(again, qid=11) is None
    again.close()
    for c in held + [other]:
        c.close()


def test_dns_global_cap_still_applies(tmp_path):
    with Rosterd(tmp_path, extra=["--tcp-max-connections", "3",
                                  "--tcp-max-connections-per-source", "2"]) as s:
        wait_dns(s)
        wait_sample(s, "roster_dns_tcp_connections", 0)
        held = [dns_connect(s, "127.0.0.1"), dns_connect(s, "127.0.0.1"),
                dns_connect(s, "127.0.0.2")]
        for k, c in enumerate(held):
            assert dns_ask(c, qid=k + 1) is not None
        # 127.0.0.3 is under its own cap, but the listener is full.
        extra = dns_connect(s, "127.0.0.3")
        assert dns_ask(extra, qid=9) is None
        extra.close()
        text = s.metrics()
        assert sample(text, "roster_dns_tcp_rejected_total", reason="limit") == 1
        assert sample(text, "roster_dns_tcp_rejected_total", reason="per_source") == 0
        for c in held:
            c.close()


def api_frames(sock):
    """Every Response frame until the server closes the connection."""
    sock.settimeout(5)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return parse_responses(data)


def test_api_per_source_cap(tmp_path):
    with Rosterd(tmp_path, extra=["--max-connections-per-source", str(CAP)]) as s:
        first = ApiClient(s.api_port)
        wait_until(lambda: first.stats().api_connections, 5,  # the start-up probe has gone
                   "one API connection open", want=1)
        held = [first] + [ApiClient(s.api_port) for _ in range(CAP - 1)]
        # A frame round-trip on every admitted connection.
        for k, c in enumerate(held):
            r = c.register("capped", "tcp", f"h{k}.example.net", 80)
            assert r.error == 0, r.message
        # The next one from 127.0.0.1 gets UNAVAILABLE and is closed.
        over = socket.create_connection(("127.0.0.1", s.api_port), timeout=5)
        frames = api_frames(over)
        over.close()
        assert len(frames) == 1, frames
        assert frames[0].error == pb().UNAVAILABLE
        assert "per-source" in frames[0].message
        # 127.0.0.2 is another source: served.
        with ApiClient(s.api_port, source="127.0.0.2") as other:
            assert other.sock.getsockname()[0] == "127.0.0.2"
            st = other.stats()
            assert st.instances == CAP
        text = s.metrics()
        assert sample(text, "roster_api_connections_rejected_total", reason="per_source") == 1
        assert sample(text, "roster_api_connections_rejected_total", reason="limit") == 0
        # Closing one frees its place.
        held.pop().close()

        def admitted():
            c = ApiClient(s.api_port)
            try:
                st = c.stats()
            except ConnectionError:
                c.close()
                raise
            held.append(c)
            return st
        st = wait_until(admitted, 5, "the closed connection's place given back",
                        interval=0.05, ignore=(ConnectionError,))
        assert st.instances == CAP
        for c in held:
            c.close()


def test_dns_per_source_cap_reloads_on_sighup(tmp_path):
    conf = tmp_path / "rosterd.conf"
    conf.write_text("tcp-max-connections-per-source = 1\n")
    with Rosterd(tmp_path, extra=["--config", str(conf)]) as s:
        wait_dns(s)
        wait_sample(s, "roster_dns_tcp_connections", 0)
        a = dns_connect(s)
        assert dns_ask(a, qid=1) is not None
        b = dns_connect(s)
        assert dns_ask(b, qid=2) is None
        b.close()
        conf.write_text("tcp-max-connections-per-source = 2\n")
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP" in s.logs(), 5, "SIGHUP logged", interval=0.05)
        # The admitted connection stays; one more from the source now fits.
        c = dns_connect(s)
        assert dns_ask(c, qid=3) is not None
        assert dns_ask(a, qid=4) is not None
        d = dns_connect(s)
        assert dns_ask(d, qid=5) is None
        for x in (a, c, d):
            x.close()
        assert "applied at a restart only" not in s.logs()
        # A setting only a restart applies (the site): said, by name.
        conf.write_text("tcp-max-connections-per-source = 2\nsite = ams1\n")
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: changed in the config file, applied at a restart only: "
                   "site" in s.logs(), 5, "the unapplied setting named", interval=0.05)


def http_get(sock, path="/healthz"):
    """One keep-alive GET; the status line's code, or None at EOF/reset."""
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = sock.recv(4096)
            if not chunk:
                break
            out += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None
    return int(out.split()[1]) if out.startswith(b"HTTP/1.1 ") else None


def test_http_connection_cap_is_a_flag(tmp_path):
    with Rosterd(tmp_path, extra=["--http-max-connections", "2"]) as s:
        # The harness's readiness probe may still hold a place: retry until
        # two keep-alive connections are both served.
        def two_served():
            held = [socket.create_connection(("127.0.0.1", s.http_port), timeout=5)
                    for _ in range(2)]
            if all(http_get(c) == 200 for c in held):
                return held
            for c in held:
                c.close()
            return None
        held = wait_until(two_served, 5, "two keep-alive connections served", interval=0.1)
        third = socket.create_connection(("127.0.0.1", s.http_port), timeout=5)
        assert http_get(third) == 503
        third.close()
        # The held ones are still served.
        assert http_get(held[0]) == 200
        for c in held:
            c.close()
        # A 503 (an OSError from urllib) while the closed ones are released.
        text = wait_until(lambda: s.metrics(), 5, "/metrics served", interval=0.05,
                          ignore=(OSError,))
        assert sample(text, "roster_http_connections_rejected_total") >= 1


class NofileRosterd(Rosterd):
    """rosterd started under prlimit with a given RLIMIT_NOFILE."""

    def __init__(self, tmp_path, soft, hard, **kw):
        super().__init__(tmp_path, **kw)
        self.nofile = (soft, hard)

    def args(self):
        return ["prlimit", f"--nofile={self.nofile[0]}:{self.nofile[1]}", "--"] + super().args()


def open_files_limit(pid):
    with open(f"/proc/{pid}/limits") as f:
        line = next(l for l in f if l.startswith("Max open files"))
    return line.split()[3]


def test_the_descriptor_limit_is_raised_or_named(tmp_path):
    """The connection caps (10,000 API + 1,000 DNS TCP + 256 HTTP by
    default) need descriptors: rosterd raises its soft limit to the hard
    one, and says at start when even that is short, since past it
    connections go unanswered with no frame to explain why."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    hard = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    for d in ("raised", "short"):
        (tmp_path / d).mkdir()
    with NofileRosterd(tmp_path / "raised", 256, hard) as s:
        assert open_files_limit(s.proc.pid) == str(hard)
        if hard >= 11320:
            assert "file descriptors: the limit is" not in s.logs()
    with NofileRosterd(tmp_path / "short", 256, 256) as s:
        assert open_files_limit(s.proc.pid) == "256"
        wait_until(lambda: "file descriptors: the limit is 256, under the 11320" in s.logs(),
                   10, "the warning")
