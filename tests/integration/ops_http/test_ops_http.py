"""rosterd's HTTP listener against the real daemon: /metrics parses as
Prometheus text and moves with registrations, heartbeats, expiries and DNS
queries; /v1/services is JSON; the status page renders in headless Chromium;
malformed requests are answered (or cut) without disturbing the daemon."""
import json
import os
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dns_helpers import wait_dns
from harness import Rosterd, run, wait_port, wait_until

# The contract of SPEC.md, section HTTP (plus the families we add).
SPEC_FAMILIES = {
    "roster_dns_queries_total": "counter",
    "roster_dns_responses_total": "counter",
    "roster_dns_truncated_total": "counter",
    "roster_dns_partial_answers_total": "counter",
    "roster_dns_bytes_total": "counter",
    "roster_registrations_total": "counter",
    "roster_instances": "gauge",
    "roster_leases": "gauge",
    "roster_heartbeats_total": "counter",
    "roster_expirations_total": "counter",
    "roster_self_preservation": "gauge",
    "roster_api_connections": "gauge",
    "roster_store_bytes": "gauge",
    "roster_client_reports_total": "counter",
}


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        # The harness waits for the API; HTTP binds a moment later.
        wait_port(s.http_port, proc=s.proc)
        yield s


def get(srv, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{srv.http_port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def scrape(srv):
    """/metrics as {(sample name, frozenset(labels)): value}, checked twice:
    by prometheus_client's parser and by our own reading of format 0.0.4."""
    status, headers, body = get(srv, "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families, text
    # Our own strict reading: HELP then TYPE once per family, every sample
    # after its family's TYPE, names and values well-formed.
    typed, helped, current = {}, set(), None
    name_re = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helped, f"HELP twice: {name}"
            helped.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped and name not in typed, line
            assert kind in ("counter", "gauge", "histogram")
            typed[name] = kind
            current = name
        else:
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\d+|\d+\.\d+)$', line)
            assert m, f"bad sample line: {line!r}"
            # A histogram's samples are its _bucket, _sum and _count series.
            own = {current} if typed[current] != "histogram" else {
                current + "_bucket", current + "_sum", current + "_count"}
            assert m.group(1) in own, f"{m.group(1)} outside its family ({current})"
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            key = (m.group(1), labels)
            assert key not in samples, f"duplicate sample {line}"
            samples[key] = float(m.group(3)) if "." in m.group(3) else int(m.group(3))
    assert all(name_re.match(n) for n in typed)
    for name, kind in SPEC_FAMILIES.items():
        assert typed.get(name) == kind, f"{name}: {typed.get(name)}"
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def scrape_until(srv, name, want, timeout):
    """Scrape until the unlabelled sample `name` reads `want`; the last scrape."""
    last = []

    def reads_want():
        last[:] = [scrape(srv)]
        return value(last[0], name)
    wait_until(reads_want, timeout, f"{name} = {want}", interval=0.1, want=want)
    return last[0]


def test_metrics_parse_and_move_with_registrations_heartbeats_expiries(srv):
    before = scrape(srv)
    assert value(before, "roster_self_preservation") == 0
    assert value(before, "roster_store_bytes") > 0
    with srv.client() as c:
        lease = c.open_lease(1)
        for port in (80, 81):
            assert c.register("web", "http", "web1.lon6.example.net", port, lease=lease).error == 0
        assert c.heartbeat(lease).error == 0
        m = scrape(srv)
        assert value(m, "roster_registrations_total") == value(before, "roster_registrations_total") + 2
        assert value(m, "roster_instances", status="up") == 2
        assert value(m, "roster_leases") == 1
        assert value(m, "roster_heartbeats_total") == value(before, "roster_heartbeats_total") + 1
        assert value(m, "roster_api_connections") == 1
        assert value(m, "roster_revision") >= 2
    # No more heartbeats: the lease expires within TTL + one tick.
    m = scrape_until(srv, "roster_expirations_total", 2, timeout=5)
    assert value(m, "roster_leases_expired_total") == 1
    assert value(m, "roster_instances", status="up") == 0
    assert value(m, "roster_leases") == 0
    assert value(m, "roster_api_connections") == 0
    assert value(m, "roster_http_requests_total", code="200") >= 3


def test_metrics_move_with_dns_queries(srv):
    wait_dns(srv)
    import dns.message
    import dns.query
    before = scrape(srv)
    name = f"_web._http.services.{srv.site}.{srv.domain}"
    for _ in range(3):
        dns.query.udp(dns.message.make_query(name, "SRV"), "127.0.0.1", port=srv.dns_port,
                      timeout=5)
    dns.query.tcp(dns.message.make_query(name, "SRV"), "127.0.0.1", port=srv.dns_port, timeout=5)
    dns.query.udp(dns.message.make_query(f"x.{srv.domain}", "A"), "127.0.0.1",
                  port=srv.dns_port, timeout=5)
    m = scrape(srv)
    delta = lambda n, **l: value(m, n, **l) - value(before, n, **l)
    assert delta("roster_dns_queries_total", qtype="SRV", transport="udp") == 3
    assert delta("roster_dns_queries_total", qtype="SRV", transport="tcp") == 1
    assert delta("roster_dns_responses_total", rcode="NXDOMAIN") == 4
    assert delta("roster_dns_responses_total", rcode="REFUSED") == 1
    assert delta("roster_dns_bytes_total", direction="in") > 0
    assert delta("roster_dns_bytes_total", direction="out") > 0


def test_services_json_and_healthz(srv):
    with srv.client() as c:
        assert c.register("db", "tcp", "db1.lon6.example.net", 5432,
                          addresses=["10.0.0.7"], metadata={"v": "1"}).error == 0
    status, headers, body = get(srv, "/v1/services")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert doc["site"] == "lon6" and doc["mode"] == "normal"
    assert doc["zone"] == "services.lon6.example.net."
    [svc] = doc["services"]
    assert (svc["service"], svc["protocol"], svc["up"]) == ("db", "tcp", 1)
    [inst] = svc["instances"]
    assert inst["host"] == "db1.lon6.example.net." and inst["port"] == 5432
    assert inst["addresses"] == ["10.0.0.7"] and inst["metadata"] == {"v": "1"}
    assert inst["status"] == "UP" and inst["expiry"] == "NEVER"
    assert get(srv, "/healthz")[:3:2] == (200, b"ok\n")
    status, headers, body = get(srv, "/healthz", method="HEAD")
    assert status == 200 and body == b"" and headers["Content-Length"] == "3"
    assert get(srv, "/nope")[0] == 404
    assert get(srv, "/", method="POST")[0] == 405


def raw(srv, data, read_timeout=10.0, half_close=False):
    """Send raw bytes (then our FIN, if half_close); return everything read
    until the server closes."""
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=read_timeout) as s:
        try:
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before we were done
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    (b"GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"PUT /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}", 405),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
]


@pytest.mark.parametrize("data,code", MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
def test_malformed_requests_get_an_error_and_a_close(srv, data, code):
    out = raw(srv, data)
    assert out.startswith(f"HTTP/1.1 {code} ".encode()), out[:200]
    assert b"Connection: close\r\n" in out
    assert get(srv, "/healthz")[0] == 200


def test_keep_alive_pipelining_and_http10(srv):
    two = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    out = raw(srv, two)
    assert out.count(b"HTTP/1.1 200 OK") == 2 and out.endswith(b"ok\n")
    out = raw(srv, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in out


def test_slow_and_silent_clients_do_not_block_others(srv):
    silent = socket.create_connection(("127.0.0.1", srv.http_port))
    slow = socket.create_connection(("127.0.0.1", srv.http_port))
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHo")
    try:
        assert get(srv, "/healthz")[0] == 200
    finally:
        silent.close()
        slow.close()


def test_random_bytes_never_hurt_the_daemon(srv):
    import random
    rng = random.Random(6)
    for k in range(200):
        n = rng.choice([1, 7, 64, 512, 4096, 9000])
        data = bytes(rng.getrandbits(8) for _ in range(n))
        if k % 2:  # half of them look like a request that goes wrong later
            data = b"GET /metrics HTTP/1.1\r\nHost: a\r\n" + data
        # Our FIN ends what cannot complete: an incomplete head is closed at once.
        out = raw(srv, data, half_close=True)
        assert out == b"" or out.startswith(b"HTTP/1.1 "), out[:100]
    assert get(srv, "/healthz")[0] == 200


def test_connection_limit_answers_503_and_recovers(srv):
    held = []
    try:
        # Each connection is answered before the next opens, so the count the
        # server holds is exact: the harness's own probe (wait_port) closed
        # long ago, but its FIN may still be unread when a burst of 256
        # connects is accepted in one loop turn.
        for _ in range(256):  # the default limit
            s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=5)
            held.append(s)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 200 ")
        out = raw(srv, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 503 "), out[:100]
    finally:
        for s in held:
            s.close()
    # Until the server has read the FINs of the 256 just closed, a new
    # connection may still be refused: each such 503 is counted too.
    refused = []

    def served():
        code = get(srv, "/healthz")[0]
        assert code in (200, 503), code
        refused.append(code == 503)
        return code == 200
    wait_until(served, 10, "/healthz served again", interval=0.05)
    refused = sum(refused)
    assert value(scrape(srv), "roster_http_requests_total", code="503") == 1 + refused


def chromium_args(profile):
    return ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps",
            "--no-default-browser-check", "--disable-breakpad", "--no-proxy-server",
            "--disable-features=Translate,OptimizationHints,MediaRouter",
            f"--user-data-dir={profile}"]


def test_status_page_renders_in_headless_chromium(srv, tmp_path):
    assert os.path.exists("/usr/bin/chromium"), "tests/run.sh installs chromium"
    with srv.client() as c:
        lease = c.open_lease(60)
        assert c.register("metadata", "hm", "lon6-metadataproxy-a1.lon6.example.net", 1234,
                          lease=lease, addresses=["10.0.0.1"]).error == 0
        assert c.register("metadata", "hm", "lon6-metadataproxy-a2.lon6.example.net", 1234,
                          lease=lease, status=1).error == 0  # STARTING
        url = f"http://127.0.0.1:{srv.http_port}/"
        r = run(chromium_args(tmp_path / "profile") + ["--dump-dom", url], timeout=90)
        dom = r.stdout
        assert "<h1>" in dom, r.stderr[-2000:]
        # the DOM chromium built, not just our bytes: the table parsed
        assert re.search(r'<table id="services">.*<a href="#_metadata._hm">metadata</a>', dom,
                         re.S), dom
        assert "lon6-metadataproxy-a1.lon6.example.net.:1234" in dom
        assert "STARTING" in dom and ">NORMAL<" in dom
        shot = tmp_path / "status.png"
        r = run(chromium_args(tmp_path / "profile") +
                [f"--screenshot={shot}", "--window-size=1200,800", url], timeout=90)
        assert shot.exists() and shot.stat().st_size > 5000, r.stderr[-2000:]
        if os.environ.get("ROSTER_KEEP_SCREENSHOT"):
            shutil.copy(shot, os.environ["ROSTER_KEEP_SCREENSHOT"])


def test_self_preservation_shows_in_metrics_json_and_page(srv):
    # 20 leases stop renewing at once: far over 15 % and the minimum of 10.
    with srv.client() as c:
        for k in range(20):
            lease = c.open_lease(1)
            assert c.register("web", "http", f"w{k}.lon6.example.net", 80, lease=lease).error == 0
    m = scrape_until(srv, "roster_self_preservation", 1, timeout=10)
    assert value(m, "roster_self_preservation_entered_total") == 1
    assert value(m, "roster_instances_stale") > 0
    assert json.loads(get(srv, "/v1/services")[2])["mode"] == "preserving"
    page = get(srv, "/")[2].decode()
    assert ">SELF-PRESERVATION<" in page and "(stale)" in page
