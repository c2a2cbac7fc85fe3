"""The CLI footguns of issue 16, each against a real rosterd: JSON ids that
keep their precision, single-label hosts refused, `query NAME`, `query --all`
counting and succeeding on DOWN endpoints, an unreachable registry named as
such, and the plain-text columns of query and list."""
import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster, running  # noqa: E402
from harness import Rosterd, binary, dead_port  # noqa: E402


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


@pytest.fixture
def env(srv):
    return {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}


def reg(env, host, port, *extra, service="web", protocol="http"):
    r = roster("register", "--service", service, "--protocol", protocol, "--host", host,
               "--port", port, "--permanent", *extra, env=env)
    assert r.returncode == 0, r.stderr
    return r


def test_json_lease_ids_are_exact_strings(env, srv):
    with running([binary("client/roster"), "--json", "register", "--service", "web",
                  "--protocol", "http", "--host", "web1.lon6.example.net", "--port", "80",
                  "--ttl", "30"], env=env) as p:
        first = json.loads(p.stdout.readline())
        assert isinstance(first["lease"], str) and first["lease"].isdigit(), first
        with srv.client() as c:
            inst = c.query("web", "http").query.instances[0]
        # The registry's uint64, digit for digit (a JSON number past 2^53 is
        # rounded by jq, and went negative past 2^63).
        assert int(first["lease"]) == inst.lease and inst.lease > 0
        doc = json.loads(roster("--json", "query", "web", env=env).stdout)
        assert doc["instances"][0]["lease"] == str(inst.lease)
        p.terminate()
        p.wait(timeout=10)


def test_single_label_host_is_refused(env, srv):
    r = roster("register", "--service", "web", "--protocol", "http", "--host", "web1",
               "--port", 80, "--permanent", env=env)
    assert r.returncode == 2
    assert "single label" in r.stderr and "web1.lon6.example.net" in r.stderr, r.stderr
    with srv.client() as c:
        assert list(c.query("web", "http").query.instances) == []  # nothing published
    assert roster("register", "--service", "web", "--protocol", "http", "--host", "web1.",
                  "--port", 80, "--permanent", env=env).returncode == 2
    # deregister and status pass it on (a registry of an older version may
    # hold one, which the operator must be able to remove): not found here.
    for cmd in (["deregister"], ["status"]):
        r = roster(*cmd, "--service", "web", "--protocol", "http", "--host", "web1",
                   "--port", 80, *(["down"] if cmd == ["status"] else []), env=env)
        assert r.returncode == 1 and "no instance" in r.stderr, (cmd, r.stderr)


def test_query_takes_the_service_positionally(env):
    reg(env, "web1.lon6.example.net", 80)
    a = roster("query", "web", env=env)
    assert a.returncode == 0, a.stderr
    assert a.stdout == roster("query", "--service", "web", env=env).stdout
    assert "web1.lon6.example.net.:80" in a.stdout
    r = roster("query", "web", "--service", "db", env=env)
    assert r.returncode == 2 and "two services" in r.stderr
    r = roster("query", "we_b", env=env)
    assert r.returncode == 2 and "invalid service 'we_b'" in r.stderr


def test_query_all_with_only_down_succeeds_and_counts(env):
    reg(env, "web1.lon6.example.net", 80)
    r = roster("status", "--service", "web", "--protocol", "http", "--host",
               "web1.lon6.example.net", "--port", 80, "down", env=env)
    assert r.returncode == 0, r.stderr
    r = roster("query", "web", "--all", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == \
        "query: service:web, protocol:http (1 endpoint: 0 UP, 1 DOWN, 0 STARTING)"
    r = roster("query", "web", env=env)
    assert r.returncode == 1 and "no UP endpoint" in r.stderr


def test_unreachable_registry_names_no_internal_step():
    with dead_port() as d:  # refuses connections until closed
        unreachable_checks(d.getsockname()[1])


def unreachable_checks(port):
    for args in (["register", "--service", "web", "--protocol", "http", "--host",
                  "web1.lon6.example.net", "--port", "80"],
                 ["register", "--service", "web", "--protocol", "http", "--host",
                  "web1.lon6.example.net", "--port", "80", "--permanent"],
                 ["watch"]):
        r = roster("--server", f"127.0.0.1:{port}", "--timeout", "500", *args)
        assert r.returncode == 3, (args, r.stderr)
        assert "stats" not in r.stderr, r.stderr
        assert re.match(rf"^roster: (register|watch): no registry answered: 127\.0\.0\.1:{port}",
                        r.stderr), r.stderr


def test_query_and_list_columns(env):
    reg(env, "web1.lon6.example.net", 80, "--address", "10.0.0.1", "--address", "fd00::1",
        "--weight", "10", "--meta", "version=1.4")
    reg(env, "web10.lon6.example.net", 8080, "--priority", "5")
    reg(env, "db1.lon6.example.net", 5432, service="database", protocol="tcp")
    lines = roster("query", "web", env=env).stdout.splitlines()[2:]
    assert len(lines) == 2
    w1 = next(l for l in lines if l.startswith("web1."))
    w10 = next(l for l in lines if l.startswith("web10."))
    assert "weight:10" in w1 and "addresses:10.0.0.1,fd00::1" in w1 and "meta:version=1.4" in w1
    assert "priority:5" in w10 and "addresses:-" in w10 and w10.endswith("meta:-")
    for col in ("(UP since", "weight:", "priority:", "addresses:", "meta:"):
        assert w1.index(col) == w10.index(col), col  # aligned
    assert not any(l.endswith(" ") for l in lines)
    out = roster("list", env=env).stdout.splitlines()[2:]
    assert len(out) == 2
    assert len({l.index(" UP") for l in out}) == 1 and len({l.index(" stale") for l in out}) == 1
