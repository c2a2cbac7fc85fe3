"""Address ACLs per listener (--api-allow, --dns-allow, --http-allow) and
--acl-dry-run, against the real rosterd: a source outside a list is refused
on each listener (API and HTTP connections closed at accept, DNS over TCP
closed at accept, DNS over UDP answered REFUSED), counted in
roster_acl_refused_total{listener} and logged with its address once per
source per minute; under --acl-dry-run it is served, logged and counted in
roster_acl_dry_run_total. Sources are 127.0.0.x: Linux loopback answers for
all of 127/8.
"""
import re
import socket

import dns.message
import dns.query
import dns.rcode
import pytest

from dns_helpers import ZONE, wait_dns
from harness import ApiClient, Rosterd, binary, metric_sample, run, wait_until

ALLOW = ["--api-allow", "127.0.0.1", "--dns-allow", "127.0.0.1/32,::1",
         "--http-allow", "127.0.0.1"]
LISTENERS = ("api", "dns", "http")


def api_stats_from(srv, source):
    """Stats over the API from @p source: the response, or None when the
    connection was closed before it (after the "not admitted" frame)."""
    try:
        with ApiClient(srv.api_port, source=source, timeout=5) as c:
            return c.stats()
    except (ConnectionError, OSError):
        return None


def http_get_from(srv, source, path="/healthz"):
    """The raw HTTP response to a GET from @p source (b"" when closed unanswered)."""
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=5,
                                 source_address=(source, 0))
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def dns_udp_from(srv, source):
    q = dns.message.make_query(ZONE, "SOA")
    return dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=5, source=source)


def dns_tcp_from(srv, source):
    """The TCP answer from @p source, or None when the connection was closed."""
    q = dns.message.make_query(ZONE, "SOA")
    try:
        return dns.query.tcp(q, "127.0.0.1", port=srv.dns_port, timeout=5, source=source)
    except (EOFError, ConnectionError, OSError):
        return None


def acl_lines(srv, verb, listener, source):
    return len(re.findall(rf"acl: {listener} {verb} {re.escape(source)} ", srv.logs()))


def counters(srv, family):
    text = srv.metrics()
    return {k: metric_sample(text, family, listener=k) for k in LISTENERS}


@pytest.fixture
def acl(tmp_path):
    with Rosterd(tmp_path, extra=ALLOW) as s:
        yield wait_dns(s)


def test_outside_sources_are_refused_on_every_listener_counted_and_logged_once(acl):
    # Allowed: served as ever.
    assert api_stats_from(acl, "127.0.0.1") is not None
    assert dns_udp_from(acl, "127.0.0.1").rcode() == dns.rcode.NOERROR
    assert dns_tcp_from(acl, "127.0.0.1").rcode() == dns.rcode.NOERROR
    assert http_get_from(acl, "127.0.0.1").startswith(b"HTTP/1.1 200")
    before = counters(acl, "roster_acl_refused_total")
    assert before == {"api": 0, "dns": 0, "http": 0}

    for _ in range(3):
        assert api_stats_from(acl, "127.0.0.2") is None, "API: refused at accept"
        r = dns_udp_from(acl, "127.0.0.2")
        assert r.rcode() == dns.rcode.REFUSED, "UDP: REFUSED, as BIND's allow-query"
        assert not r.answer
        assert dns_tcp_from(acl, "127.0.0.2") is None, "DNS TCP: closed at accept"
        assert http_get_from(acl, "127.0.0.2") == b"", "HTTP: closed without a word"

    got = counters(acl, "roster_acl_refused_total")
    assert got == {"api": 3, "dns": 6, "http": 3}, got
    # Once per source per minute: one line per listener for 127.0.0.2 (the
    # DNS line covers UDP and TCP: one ACL), whatever the count.
    for listener in LISTENERS:
        wait_until(lambda: acl_lines(acl, "refused", listener, "127.0.0.2") >= 1, 5,
                   f"the {listener} refusal logged")
        assert acl_lines(acl, "refused", listener, "127.0.0.2") == 1, acl.logs()[-3000:]
    assert "outside --dns-allow" in acl.logs()
    # Another source has a line of its own.
    assert dns_udp_from(acl, "127.0.0.3").rcode() == dns.rcode.REFUSED
    wait_until(lambda: acl_lines(acl, "refused", "dns", "127.0.0.3") == 1, 5,
               "127.0.0.3 logged")
    assert acl_lines(acl, "refused", "dns", "127.0.0.2") == 1
    # The allowed source is still served, and nothing was served dry.
    assert dns_udp_from(acl, "127.0.0.1").rcode() == dns.rcode.NOERROR
    assert counters(acl, "roster_acl_dry_run_total") == {"api": 0, "dns": 0, "http": 0}


def test_dry_run_serves_what_it_would_refuse_logs_and_counts_it(tmp_path):
    with Rosterd(tmp_path, extra=ALLOW + ["--acl-dry-run"]) as srv:
        wait_dns(srv)
        assert "--acl-dry-run" in srv.logs()
        for _ in range(2):
            assert api_stats_from(srv, "127.0.0.2") is not None, "API served"
            assert dns_udp_from(srv, "127.0.0.2").rcode() == dns.rcode.NOERROR
            assert dns_tcp_from(srv, "127.0.0.2").rcode() == dns.rcode.NOERROR
            assert http_get_from(srv, "127.0.0.2").startswith(b"HTTP/1.1 200")
        got = counters(srv, "roster_acl_dry_run_total")
        assert got == {"api": 2, "dns": 4, "http": 2}, got
        assert counters(srv, "roster_acl_refused_total") == {"api": 0, "dns": 0, "http": 0}
        for listener in LISTENERS:
            wait_until(lambda: acl_lines(srv, "would refuse", listener, "127.0.0.2") >= 1, 5,
                       f"the {listener} dry run logged")
            assert acl_lines(srv, "would refuse", listener, "127.0.0.2") == 1
        assert "--acl-dry-run: served" in srv.logs()
        assert acl_lines(srv, "refused", "dns", "127.0.0.2") == 0


def test_without_lists_every_source_is_served_and_nothing_counted(tmp_path):
    with Rosterd(tmp_path) as srv:
        wait_dns(srv)
        assert api_stats_from(srv, "127.0.0.2") is not None
        assert dns_udp_from(srv, "127.0.0.2").rcode() == dns.rcode.NOERROR
        assert dns_tcp_from(srv, "127.0.0.2").rcode() == dns.rcode.NOERROR
        assert http_get_from(srv, "127.0.0.2").startswith(b"HTTP/1.1 200")
        assert counters(srv, "roster_acl_refused_total") == {"api": 0, "dns": 0, "http": 0}
        assert counters(srv, "roster_acl_dry_run_total") == {"api": 0, "dns": 0, "http": 0}
        assert "acl:" not in srv.logs()


def test_the_cli_says_it_was_not_admitted(tmp_path):
    """A refused source is told why, and `roster` passes it on instead of
    the "registry unreachable" of a dead host: the operator of the
    article's Docker upgrade looks at the address list, not the network."""
    with Rosterd(tmp_path, extra=["--api-allow", "127.0.0.2"]) as srv:
        r = run([binary("client/roster"), "--server", f"127.0.0.1:{srv.api_port}", "list"])
        assert r.returncode == 3, r.stdout + r.stderr
        assert (f"no registry answered: 127.0.0.1:{srv.api_port} (turned away: not admitted: "
                "this address is not in the registry's --api-allow)") in r.stderr, r.stderr
        r = run([binary("client/roster"), "--server", f"127.0.0.1:{srv.api_port}", "register",
                 "--service", "web", "--protocol", "tcp", "--host", "w1.lon6.example.net",
                 "--port", "80", "--permanent"])
        assert r.returncode == 3, r.stdout + r.stderr
        assert "turned away: not admitted" in r.stderr, r.stderr
        assert counters(srv, "roster_acl_refused_total")["api"] >= 2


def test_dns_workers_apply_the_acl_to_udp(tmp_path):
    with Rosterd(tmp_path, extra=ALLOW + ["--dns-threads", "2"]) as srv:
        wait_dns(srv)
        for _ in range(5):
            assert dns_udp_from(srv, "127.0.0.2").rcode() == dns.rcode.REFUSED
        assert dns_udp_from(srv, "127.0.0.1").rcode() == dns.rcode.NOERROR
        assert counters(srv, "roster_acl_refused_total")["dns"] == 5
        wait_until(lambda: acl_lines(srv, "refused", "dns", "127.0.0.2") == 1, 5, "logged")


def test_a_bad_list_stops_rosterd_with_one_clear_line(tmp_path):
    srv = Rosterd(tmp_path, extra=["--dns-allow", "10.0.0.1/8"])
    srv.start(wait=False)
    rc = srv.proc.wait(timeout=10)
    srv.proc = None
    srv.log.close()
    assert rc == 2
    assert "invalid dns-allow prefix '10.0.0.1/8'" in srv.logs()
