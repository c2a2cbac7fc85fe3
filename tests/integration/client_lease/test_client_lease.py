"""libroster against the real rosterd: a lease opened, endpoints registered
and kept alive by heartbeats alone, deregistered on shutdown; on libroster's
own thread and on the caller's libuv loop."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import Probe, query_hosts, wait_for  # noqa: E402
from harness import Rosterd, wait_until  # noqa: E402


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


@pytest.mark.parametrize("mode", ["thread", "loop"])
def test_register_heartbeat_deregister(srv, mode):
    extra = ["--loop"] if mode == "loop" else []
    with Probe("hold", "--server", f"127.0.0.1:{srv.api_port}", "--ttl", "2",
               "--endpoints", "3", "--service", "web", "--protocol", "http",
               "--host-prefix", "web", "--port-base", "8080", *extra) as p:
        p.wait_event("started")
        p.wait_event("registered", n=3)
        want = [f"web{i}.example.net.:{8080 + i}" for i in range(3)]
        assert query_hosts(srv.api_port, "web") == want
        # One lease for the process, however many endpoints.
        leases = {e["lease"] for e in p.events if e["event"] == "registered"}
        assert len(leases) == 1 and 0 not in leases
        # Three TTLs later they are still there: heartbeats alone kept them.
        before = srv.client().stats().heartbeats_total
        wait_for(lambda: srv.client().stats().heartbeats_total >= before + 4, timeout=10,
                 what="heartbeats")
        assert query_hosts(srv.api_port, "web") == want
        assert srv.client().stats().leases == 1
        # Shutdown deregisters at once (not after the TTL).
        assert p.stop() == 0
        assert p.events[-1] == {"event": "stopped", "loop_close": 0}
        assert p.count("deregistered") == 1
        assert query_hosts(srv.api_port, "web") == []
        assert srv.client().stats().leases == 0


def test_heartbeat_interval_is_a_third_of_the_ttl(srv):
    with Probe("hold", "--server", f"127.0.0.1:{srv.api_port}", "--ttl", "3") as p:
        p.wait_event("registered")
        c = srv.client()

        def beat_after(n, timeout):
            """Wait for the heartbeat count to pass @p n: (the count, when)."""
            def count():
                h = c.stats().heartbeats_total
                return h if h > n else None
            return wait_until(count, timeout, f"heartbeat number {n + 1}"), time.monotonic()
        # Timed from one beat to the fifth after it (polled every 20 ms).
        h1, t1 = beat_after(c.stats().heartbeats_total, 5)
        h2, t2 = beat_after(h1 + 4, 15)
        interval = (t2 - t1) / (h2 - h1)
        # docs/client.md: every ttl/3 = 1 s with +-10 % uniform jitter; a
        # loaded machine may add a little, never take any away.
        assert 0.85 <= interval <= 1.25, (interval, h1, h2)
        assert p.stop() == 0


def test_invalid_endpoint_is_refused_before_the_network(srv):
    with Probe("hold", "--server", f"127.0.0.1:{srv.api_port}",
               "--service", "bad_name") as p:
        assert p.wait(timeout=10) == 2
        assert any("invalid service 'bad_name'" in l for l in p.stderr), p.stderr


def test_example_program_registers_at_startup_and_deregisters(srv):
    import signal
    import subprocess
    from harness import binary
    p = subprocess.Popen([binary("client/examples/register_at_startup"),
                          f"127.0.0.1:{srv.api_port}", "web", "http", "web9.lon6.example.net",
                          "8089"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "registered web9.lon6.example.net:8089\n"
        assert query_hosts(srv.api_port, "web") == ["web9.lon6.example.net.:8089"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
        assert query_hosts(srv.api_port, "web") == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_shared_library_exports_only_roster_symbols():
    import subprocess
    from harness import binary
    out = subprocess.run(["nm", "-D", "--defined-only", binary("client/libroster.so")],
                         capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert "roster_client_new" in names and "roster_query" in names
    assert [n for n in names if not n.startswith("roster_")] == []
