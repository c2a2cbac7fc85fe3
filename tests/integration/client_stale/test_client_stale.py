"""A registry unreachable for a while: queries keep answering from the
last-known-good copy and say so (stale), for up to max-stale; the copy
survives the process in the cache file, which the CLI uses too."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import Probe, roster  # noqa: E402
from harness import Rosterd, hold_for, wait_until  # noqa: E402


def test_stale_copy_served_while_unreachable_then_expires(tmp_path):
    srv = Rosterd(tmp_path).start()
    c = srv.client()
    assert c.register("db", "tcp", "db1.lon6.example.net", 5432).error == 0
    assert c.register("db", "tcp", "db2.lon6.example.net", 5432).error == 0
    c.close()
    max_stale = 5
    with Probe("query", "--server", f"127.0.0.1:{srv.api_port}", "--service", "db",
               "--max-stale", max_stale, "--timeout", "500", stdin=True) as p:
        # The copy is fetched between the ask and its answer: its age is
        # measured from t_asked for "still young", from t_answered for
        # "too old", whatever a slow stop() of the registry took.
        t_asked = time.monotonic()
        live = p.ask()
        t_answered = time.monotonic()
        assert live == {"rc": 0, "stale": False, "instances": 2, "revision": live["revision"],
                        "server": f"127.0.0.1:{srv.api_port}"}
        srv.stop()
        checked = []

        def stale_copy_served():
            asked = time.monotonic()
            r = p.ask()
            if asked - t_asked < max_stale - 0.5:  # surely younger than max-stale
                checked.append(r)
                return (r["rc"] == 0 and r["stale"] is True and r["instances"] == 2 and
                        r["revision"] == live["revision"]) or r
            return True
        # A while: every query answers, marked stale.
        hold_for(1.5, stale_copy_served, "the stale copy served", interval=0.5)
        assert checked, "rosterd took the whole max-stale to stop"

        # Past max-stale the copy is no longer served: not before (the copy
        # was fetched after t_asked), and at once after (it was fetched
        # before t_answered; + half a second for a loaded machine).
        def refused():
            r = p.ask()
            return r if r["rc"] != 0 else None
        r = wait_until(refused, max_stale + 5, "the copy refused past max-stale", interval=0.1)
        t_refused = time.monotonic()
        assert r["rc"] == -1100 and r["error"] == "registry unreachable", r
        assert t_asked + max_stale <= t_refused <= t_answered + max_stale + 1.0, \
            (t_refused - t_asked, t_refused - t_answered)
        srv.start()
        r = p.ask()
        assert r["rc"] == 0 and r["stale"] is False and r["instances"] == 2
        p.stop()
    srv.stop()


def test_cli_cache_file_serves_stale_copy_across_processes(tmp_path):
    srv = Rosterd(tmp_path).start()
    cache = tmp_path / "roster-cache.json"
    c = srv.client()
    assert c.register("db", "tcp", "db1.lon6.example.net", 5432).error == 0
    c.close()
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}", "ROSTER_CACHE": str(cache)}
    t_fetch = time.monotonic()
    r = roster("query", "--service", "db", env=env)
    assert r.returncode == 0 and "stale" not in r.stdout
    assert json.loads(cache.read_text())["version"] == 1
    srv.stop()
    r = roster("query", "--service", "db", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "query: service:db, protocol:tcp (1 endpoint)"
    assert lines[1].startswith("stale: no registry answered; last known copy from ")
    assert "db1.lon6.example.net.:5432  (UP since " in r.stdout
    assert "registry unreachable" in r.stderr and "last known copy" in r.stderr
    doc = json.loads(roster("--json", "query", "--service", "db", env=env).stdout)
    assert doc["stale"] is True and doc["stale_age_seconds"] >= 0 and len(doc["instances"]) == 1
    # Past --max-stale the copy is refused: unreachable, exit 3; not before
    # a second from the fetch.
    def refused():
        r = roster("--max-stale", "1", "query", "--service", "db", env=env)
        return r if r.returncode != 0 else None
    r = wait_until(refused, 10, "the cached copy refused past --max-stale 1", interval=0.1)
    assert time.monotonic() - t_fetch >= 1.0
    assert r.returncode == 3 and "no registry answered" in r.stderr
    # Without a cache nothing can be answered.
    r = roster("query", "--service", "db", env={"ROSTER_SERVER": env["ROSTER_SERVER"]})
    assert r.returncode == 3
