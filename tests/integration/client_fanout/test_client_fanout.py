"""Two registries: a registration reaches both; one of them going away and
coming back (SIGKILL, restart) does not disturb the other, and the client
restores its endpoints there on its own."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import Probe, interrupt, query_hosts, roster, running, wait_for  # noqa: E402
from harness import Rosterd, hold_for  # noqa: E402


def test_registration_reaches_both_registries(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Rosterd(tmp_path / "a").start()
    b = Rosterd(tmp_path / "b").start()
    try:
        want = ["web0.example.net.:8000"]
        with Probe("hold", "--server", f"127.0.0.1:{a.api_port}", "--server",
                   f"127.0.0.1:{b.api_port}", "--ttl", "2", "--service", "web",
                   "--protocol", "http", "--host-prefix", "web", "--backoff-max", "1000") as p:
            p.wait_event("registered", registry=0)
            p.wait_event("registered", registry=1)
            assert query_hosts(a.api_port, "web") == want
            assert query_hosts(b.api_port, "web") == want
            la = {e["lease"] for e in p.events if e["event"] == "registered" and e["registry"] == 0}
            lb = {e["lease"] for e in p.events if e["event"] == "registered" and e["registry"] == 1}
            assert la and lb and la != lb  # a lease per registry
            b.kill9()
            # Longer than the TTL (+ 1 s): a keeps it alive regardless.
            hold_for(3.5, lambda: query_hosts(a.api_port, "web") == want,
                     "the endpoint on a while b is down", interval=0.25)
            b.start()
            wait_for(lambda: query_hosts(b.api_port, "web") == want, timeout=10,
                     what="b restored")
            # b kept the instance on disk; the client must also be back on
            # it (registered again) before its shutdown can deregister there.
            p.wait_event("registered", n=2, registry=1)
            # Past b's grace (a TTL from its restart, + 1 s): b's copy lives
            # on the client's heartbeats.
            hold_for(3.5, lambda: query_hosts(b.api_port, "web") == want,
                     "the endpoint on b after its restart", interval=0.25)
            assert p.stop() == 0
            assert query_hosts(a.api_port, "web") == [] and query_hosts(b.api_port, "web") == []
    finally:
        a.stop()
        b.stop()


def test_cli_queries_fall_back_to_the_second_registry(tmp_path):
    b = Rosterd(tmp_path).start()
    try:
        c = b.client()
        assert c.register("db", "tcp", "db1.lon6.example.net", 5432).error == 0
        from harness import dead_port
        with dead_port() as d:  # refuses connections until closed
            dead = d.getsockname()[1]
            r = roster("--server", f"127.0.0.1:{dead},127.0.0.1:{b.api_port}", "query",
                       "--service", "db")
        assert r.returncode == 0 and "db1.lon6.example.net.:5432" in r.stdout, r.stderr
    finally:
        b.stop()


def test_watch_moves_to_the_other_registry_when_its_own_dies(tmp_path):
    import json
    from harness import binary
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Rosterd(tmp_path / "a").start()
    b = Rosterd(tmp_path / "b").start()
    both = f"127.0.0.1:{a.api_port},127.0.0.1:{b.api_port}"
    try:
        with running([binary("client/roster"), "--json", "--server", both, "watch",
                      "--service", "web"]) as p:
            def next_event():
                return json.loads(p.stdout.readline())

            def until(pred):
                while True:
                    e = next_event()
                    if pred(e):
                        return e

            until(lambda e: e["event"] == "SNAPSHOT_END")
            # A permanent registration through the CLI reaches both registries.
            r = roster("--server", both, "register", "--service", "web", "--protocol", "http",
                       "--host", "w1.lon6.example.net", "--port", 80, "--permanent")
            assert r.returncode == 0, r.stderr
            assert query_hosts(b.api_port, "web") == ["w1.lon6.example.net.:80"]
            first = until(lambda e: e["event"] == "UPSERT")
            watched = first["server"]
            dead, alive = (a, b) if watched == f"127.0.0.1:{a.api_port}" else (b, a)
            dead.kill9()
            until(lambda e: e["event"] == "RESYNC")
            # Continued on the other registry, from a snapshot of its state.
            e = until(lambda e: e["event"] == "UPSERT")
            assert e["server"] == f"127.0.0.1:{alive.api_port}"
            assert e["instance"]["host"] == "w1.lon6.example.net."
            c = alive.client()
            assert c.register("web", "http", "w2.lon6.example.net", 80).error == 0
            e = until(lambda e: e["event"] == "UPSERT" and e["instance"]["host"].startswith("w2"))
            assert e["server"] == f"127.0.0.1:{alive.api_port}"
            assert interrupt(p)[0] == 0
    finally:
        a.stop()
        b.stop()
