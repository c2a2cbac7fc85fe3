"""A site with two registries named in sites.conf: every roster write made
with `-s SITE` reaches both (register --permanent, status, deregister, a
leased register held and released); libroster given the same site (the
probe's --site, roster_site_servers()) holds its lease at both; with one
registry down, each write says which registry missed it and exits 3."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import Probe, interrupt, query_hosts, roster, running, wait_for  # noqa: E402
from harness import Rosterd, binary  # noqa: E402

IDENT = ["--service", "web", "--protocol", "http", "--host", "w1.lon6.example.net",
         "--port", "80"]
WANT = ["w1.lon6.example.net.:80"]


@pytest.fixture
def site(tmp_path):
    regs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        regs.append(Rosterd(tmp_path / name).start())
    sites = tmp_path / "sites.conf"
    sites.write_text("# site registry\n"
                     f"lon6 127.0.0.1:{regs[0].api_port}\n"
                     "ash2 127.0.0.1:1\n"
                     f"lon6 127.0.0.1:{regs[1].api_port}  # the second registry\n")
    try:
        yield regs, {"ROSTER_SITES": str(sites)}
    finally:
        for r in regs:
            r.stop()


def on_each(regs, service="web", all=True):
    return [query_hosts(r.api_port, service, all=all) for r in regs]


def test_every_cli_write_reaches_every_registry_of_the_site(site):
    regs, env = site
    r = roster("-s", "lon6", "register", *IDENT, "--permanent", env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert on_each(regs) == [WANT, WANT]
    r = roster("-s", "lon6", "status", *IDENT, "down", env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert on_each(regs, all=False) == [[], []]  # DOWN at both
    assert on_each(regs) == [WANT, WANT]
    r = roster("-s", "lon6", "deregister", *IDENT, env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert on_each(regs) == [[], []]


def test_a_leased_cli_registration_is_held_at_both_and_released_at_both(site):
    regs, env = site
    cmd = [binary("client/roster"), "-s", "lon6", "register", *IDENT, "--ttl", "5"]
    with running(cmd, env=env) as p:
        assert p.stdout.readline().startswith("registered w1.lon6.example.net.:80 as ")
        wait_for(lambda: on_each(regs) == [WANT, WANT], what="registered at both")
        rc, out, err = interrupt(p)
    assert rc == 0, (out, err)
    assert on_each(regs) == [[], []]


def test_libroster_given_the_site_holds_a_lease_at_each_registry(site):
    regs, env = site
    os.environ["ROSTER_SITES"] = env["ROSTER_SITES"]
    try:
        with Probe("hold", "--site", "lon6", "--ttl", "3", "--service", "web",
                   "--protocol", "http", "--host-prefix", "web") as p:
            p.wait_event("registered", registry=0)
            p.wait_event("registered", registry=1)
            want = ["web0.example.net.:8000"]
            assert on_each(regs) == [want, want]
            assert p.stop() == 0
        assert on_each(regs) == [[], []]
    finally:
        del os.environ["ROSTER_SITES"]


def test_libroster_and_the_cli_refuse_a_registry_listed_twice(tmp_path):
    sites = tmp_path / "sites.conf"
    sites.write_text("lon6 127.0.0.1:7600\nlon6 127.0.0.1:7600\n")
    r = roster("-s", "lon6", "list", env={"ROSTER_SITES": str(sites)})
    assert r.returncode == 2
    assert r.stderr == (f"roster: list: {sites}:2: registry 127.0.0.1:7600 is listed twice "
                        "for site 'lon6'\n"), r.stderr
    os.environ["ROSTER_SITES"] = str(sites)
    try:
        p = Probe("hold", "--site", "lon6")
        assert p.wait(timeout=10) == 2
        assert "listed twice for site 'lon6'" in "".join(p.stderr), p.stderr
    finally:
        del os.environ["ROSTER_SITES"]


def test_with_one_registry_of_the_site_down_each_write_names_it(site):
    regs, env = site
    down = f"127.0.0.1:{regs[1].api_port}"
    regs[1].kill9()
    r = roster("-s", "lon6", "register", *IDENT, "--permanent", env=env)
    assert r.returncode == 3, r.stderr
    assert r.stdout.startswith("registered w1.lon6.example.net.:80 as ")
    assert r.stderr == (f"roster: register: warning: not applied at registry {down}: "
                        "registry unreachable\n"), r.stderr
    for args in (["status", *IDENT, "up"], ["deregister", *IDENT]):
        r = roster("-s", "lon6", *args, env=env)
        assert r.returncode == 3, (args, r.stderr)
        assert f"warning: not applied at registry {down}" in r.stderr, r.stderr
    assert query_hosts(regs[0].api_port, "web", all=True) == []
