"""The roster CLI against the real rosterd: spnameless-style human output,
--json validity for every command, every exit code, registry selection."""
import json
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import interrupt, roster, running  # noqa: E402
from harness import SOURCE, Rosterd, binary, dead_port, hold_for  # noqa: E402

LINE = re.compile(r"^(\S+):(\d+)  \((UP|DOWN|STARTING) since "
                  r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d, expires (TIMED|NEVER)\)"
                  r"  weight:\d+  priority:\d+\s+addresses:\S+\s+meta:\S+$")


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


@pytest.fixture
def env(srv):
    return {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}


def reg(env, host, port, *extra, service="metadata", protocol="hm"):
    r = roster("register", "--service", service, "--protocol", protocol, "--host", host,
               "--port", port, "--permanent", *extra, env=env)
    assert r.returncode == 0, r.stderr
    return r


def test_query_human_output_is_spnameless(env):
    reg(env, "lon6-metadataproxy-a133t.lon6.example.net", 1234)
    reg(env, "LON6-metadataproxy-af00l.lon6.example.net.", 1234)
    r = roster("query", "--service", "metadata", env=env)
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0] == "query: service:metadata, protocol:hm (2 endpoints)"
    assert lines[1] == ""
    assert len(lines) == 4
    for line in lines[2:]:
        m = LINE.match(line)
        assert m, line
        assert m.group(3) == "UP" and m.group(4) == "NEVER" and m.group(2) == "1234"
    assert sorted(LINE.match(l).group(1) for l in lines[2:]) == [
        "lon6-metadataproxy-a133t.lon6.example.net.", "lon6-metadataproxy-af00l.lon6.example.net."]


def test_register_first_line_and_revision(env, srv):
    r = reg(env, "web1.lon6.example.net", 8080, "--address", "10.0.0.1", "--meta", "v=1",
            service="web", protocol="http")
    m = re.match(r"^registered web1\.lon6\.example\.net\.:8080 as "
                 r"_web\._http\.services\.lon6\.example\.net revision (\d+)$",
                 r.stdout.splitlines()[0])
    assert m, r.stdout
    assert int(m.group(1)) == srv.client().stats().revision


def test_register_status_deregister_name_the_host_alike(env):
    """The host as query shows it (SPEC: lower case, trailing dot), however it was typed."""
    ident = ["--service", "web", "--protocol", "http", "--host", "Web3.LON6.example.net",
             "--port", "8082"]
    r = roster("register", *ident, "--permanent", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("registered web3.lon6.example.net.:8082 as "), r.stdout
    r = roster("status", *ident, "down", env=env)
    assert r.returncode == 0, r.stderr
    assert re.match(r"^status web3\.lon6\.example\.net\.:8082 of service:web, protocol:http "
                    r"to DOWN revision \d+$", r.stdout.rstrip("\n")), r.stdout
    q = roster("query", "--service", "web", "--all", env=env)
    assert "web3.lon6.example.net.:8082  (DOWN since" in q.stdout, q.stdout
    r = roster("deregister", *ident, env=env)
    assert r.returncode == 0, r.stderr
    assert re.match(r"^deregistered web3\.lon6\.example\.net\.:8082 of service:web, "
                    r"protocol:http revision \d+$", r.stdout.rstrip("\n")), r.stdout
    ident[5] = "web3.lon6.example.net"  # typed another way: printed the same way
    for args in (["register", *ident, "--permanent"], ["status", *ident, "up"],
                 ["deregister", *ident]):
        doc = json.loads(roster("--json", *args, env=env).stdout)
        assert doc["host"] == "web3.lon6.example.net.", (args, doc)


def test_register_with_ttl_holds_until_interrupted_then_deregisters(env, srv):
    cmd = [binary("client/roster"), "register", "--service", "web", "--protocol", "http",
           "--host", "web2.lon6.example.net", "--port", "8081", "--ttl", "2"]
    with running(cmd, env=env) as p:
        first = p.stdout.readline().rstrip("\n")
        assert re.match(r"^registered web2\.lon6\.example\.net\.:8081 as "
                        r"_web\._http\.services\.lon6\.example\.net revision \d+$", first)
        def served():
            q = roster("query", "--service", "web", env=env)
            up = q.returncode == 0 and "web2.lon6.example.net.:8081  (UP since" in q.stdout
            return q if up else None
        # Over 2 TTLs: the CLI's heartbeats keep it.
        q = hold_for(4.5, served, "the CLI's endpoint served", interval=0.25)
        assert "expires TIMED" in q.stdout
        rc, out, err = interrupt(p)
        assert rc == 0, err
        assert out.startswith("deregistered web2.lon6.example.net.:8081")
        q = roster("query", "--service", "web", env=env)
        assert q.returncode == 1  # gone at once, not after the TTL


def test_json_output_of_every_command_is_valid(env, srv):
    doc = json.loads(roster("--json", "register", "--service", "web", "--protocol", "http",
                            "--host", "web1.lon6.example.net", "--port", 80, "--permanent",
                            "--weight", 5, "--priority", 1, "--address", "fd00::1",
                            env=env).stdout)
    assert doc["event"] == "registered" and doc["name"] == "_web._http.services.lon6.example.net"
    q = json.loads(roster("--json", "query", "--service", "web", env=env).stdout)
    i = q["instances"][0]
    assert (i["host"], i["port"], i["weight"], i["priority"], i["addresses"], i["status"],
            i["expiry"]) == ("web1.lon6.example.net.", 80, 5, 1, ["fd00::1"], "UP", "NEVER")
    assert q["stale"] is False and q["revision"] == doc["revision"]
    l = json.loads(roster("--json", "list", env=env).stdout)
    assert l["services"] == [{"service": "web", "protocol": "http", "up": 1, "down": 0,
                              "starting": 0, "stale": 0}]
    s = json.loads(roster("--json", "stats", env=env).stdout)
    assert s["zone"] == "services.lon6.example.net." and s["instances_up"] == 1
    rp = json.loads(roster("--json", "reports", env=env).stdout)
    assert rp["reports"] == {}
    ring = json.loads(roster("--json", "ring", "--service", "web", "--protocol", "http",
                             "--key", "k", env=env).stdout)
    assert ring["owner"]["host"] == "web1.lon6.example.net." and ring["points"] == 8
    st = json.loads(roster("--json", "status", "--service", "web", "--protocol", "http",
                           "--host", "web1.lon6.example.net", "--port", 80, "down",
                           env=env).stdout)
    assert st["status"] == "DOWN" and st["revision"] > doc["revision"]
    d = json.loads(roster("--json", "deregister", "--service", "web", "--protocol", "http",
                          "--host", "web1.lon6.example.net", "--port", 80, env=env).stdout)
    assert d["event"] == "deregistered" and d["revision"] > st["revision"]


def test_list_and_stats_human(env):
    reg(env, "a.lon6.example.net", 1)
    r = roster("list", env=env)
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].startswith("list: 1 services (revision ")
    assert re.search(r"^service:metadata, protocol:hm +1 UP +0 DOWN +0 STARTING +0 stale$",
                     r.stdout, re.M), r.stdout
    r = roster("stats", env=env)
    assert r.returncode == 0 and "zone services.lon6.example.net." in r.stdout


def test_exit_1_not_found_or_no_up_endpoint(env):
    r = roster("query", "--service", "nothing", env=env)
    assert r.returncode == 1 and "no UP endpoint" in r.stderr
    reg(env, "d.lon6.example.net", 1, "--starting")
    r = roster("query", "--service", "metadata", env=env)
    assert r.returncode == 1  # STARTING is not served
    r = roster("query", "--service", "metadata", "--all", env=env)
    assert r.returncode == 0 and "(STARTING since" in r.stdout  # --all found one
    assert roster("status", "--service", "metadata", "--protocol", "hm", "--host",
                  "d.lon6.example.net", "--port", 1, "up", env=env).returncode == 0
    assert roster("query", "--service", "metadata", env=env).returncode == 0
    for cmd in ("deregister", "status"):
        extra = ["up"] if cmd == "status" else []
        r = roster(cmd, "--service", "metadata", "--protocol", "hm", "--host",
                   "nope.lon6.example.net", "--port", 1, *extra, env=env)
        assert r.returncode == 1, (cmd, r.stderr)
        assert len(r.stderr.splitlines()) == 1
    r = roster("ring", "--service", "nothing", "--protocol", "hm", "--key", "k", env=env)
    assert r.returncode == 1


USAGE = [
    ([], "no command"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["query"], "query needs --service"),
    (["query", "--service"], "option '--service' needs a value"),
    (["query", "--service", "bad_name"], "invalid --service 'bad_name'"),
    (["query", "--service", "-x-"], "invalid --service '-x-'"),
    (["query", "--service", "a" * 64], "invalid --service"),
    (["query", "--service", "web", "--port", "80"], "option '--port' does not apply to query"),
    (["query", "--service", "web", "--bogus"], "unknown option '--bogus'"),
    (["query", "--service", "web", "extra"], "two services: 'extra' and --service 'web'"),
    (["query", "web", "extra"], "unexpected argument 'extra'"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "0"], "invalid --port '0' (1-65535)"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "65536"], "invalid --port '65536'"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "http"], "invalid --port 'http'"),
    (["register", "--service", "web", "--protocol", "http", "--host", "bad host",
      "--port", "1"], "invalid --host 'bad host'"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net"],
     "register needs --port"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "1", "--ttl", "0"], "invalid --ttl '0'"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "1", "--ttl", "5", "--permanent"], "--ttl and --permanent exclude each other"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "1", "--address", "10.0.0.256"], "invalid --address '10.0.0.256'"),
    (["register", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "1", "--meta", "novalue"], "invalid --meta 'novalue'"),
    (["status", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "1", "sideways"], "invalid status 'sideways'"),
    (["status", "--service", "web", "--protocol", "http", "--host", "h.example.net",
      "--port", "1"], "status needs up, down or starting"),
    (["ring", "--service", "web", "--protocol", "http"], "ring needs --key"),
    (["--server", "localhost:7600", "list"], "invalid --server 'localhost:7600': not an IP"),
    (["--server", "127.0.0.1", "list"], "invalid --server '127.0.0.1'"),
    (["--server", "127.0.0.1:99999", "list"], "invalid --server '127.0.0.1:99999'"),
    (["--timeout", "0", "list"], "invalid --timeout '0'"),
]


@pytest.mark.parametrize("args,message", USAGE, ids=[" ".join(a) or "empty" for a, _ in USAGE])
def test_exit_2_usage_errors_one_clear_line(args, message):
    r = roster(*args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("roster: "), r.stderr
    assert message in r.stderr, r.stderr


def test_exit_3_unreachable_registry():
    with dead_port() as d:  # refuses connections until closed
        exit_3_unreachable_registry(d.getsockname()[1])


def exit_3_unreachable_registry(port):
    r = roster("--server", f"127.0.0.1:{port}", "query", "--service", "web")
    assert r.returncode == 3
    assert r.stderr == (f"roster: query: no registry answered: 127.0.0.1:{port} "
                        f"(registry unreachable)\n")
    for args in (["list"], ["stats"], ["reports"], ["watch"],
                 ["register", "--service", "w", "--protocol", "p", "--host", "h.example.net",
                  "--port", "1"],
                 ["deregister", "--service", "w", "--protocol", "p", "--host", "h.example.net",
                  "--port", "1"]):
        r = roster("--server", f"127.0.0.1:{port}", *args, timeout=20)
        assert r.returncode == 3, (args, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and "unreachable" in r.stderr


def test_exit_3_registry_error(env):
    # The registry refuses what our own checks cannot know: metadata over
    # its size limit.
    r = roster("register", "--service", "web", "--protocol", "http", "--host",
               "h.lon6.example.net", "--port", 1, "--permanent", "--meta", "k=" + "x" * 70000,
               env=env)
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("roster: register: registry 127.0.0.1:")
    assert len(r.stderr.splitlines()) == 1
    # The same refusal while registering under a lease: one line, exit 3.
    r = roster("register", "--service", "web", "--protocol", "http", "--host",
               "h.lon6.example.net", "--port", 1, "--ttl", 5, "--meta", "k=" + "x" * 70000,
               env=env)
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("roster: register: registry 127.0.0.1:"), r.stderr
    assert len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stdout == ""


def test_site_selection_and_precedence(tmp_path, srv):
    sites = tmp_path / "sites.conf"
    sites.write_text("# site registry\n"
                     f"lon6 127.0.0.1:{srv.api_port}\n"
                     "ash2 127.0.0.1:1\n")
    reg({"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}, "a.lon6.example.net", 1)
    e = {"ROSTER_SITES": str(sites)}
    assert roster("-s", "lon6", "query", "--service", "metadata", env=e).returncode == 0
    assert roster("--site", "lon6", "list", env=e).returncode == 0
    assert roster("-s", "ash2", "list", env=e).returncode == 3
    r = roster("-s", "fra1", "list", env=e)
    assert r.returncode == 2
    assert r.stderr == f"roster: list: unknown site 'fra1' (not in {sites})\n"
    # ROSTER_SERVER and --server win over -s.
    e2 = {**e, "ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    assert roster("-s", "ash2", "list", env=e2).returncode == 0
    assert roster("-s", "ash2", "--server", f"127.0.0.1:{srv.api_port}", "list",
                  env=e).returncode == 0
    r = roster("-s", "lon6", "list", env={"ROSTER_SITES": str(tmp_path / "missing.conf")})
    assert r.returncode == 2 and "cannot read" in r.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("lon6\n")
    r = roster("-s", "lon6", "list", env={"ROSTER_SITES": str(bad)})
    assert r.returncode == 2 and f"{bad}:1: expected 'SITE ADDRESS:PORT'" in r.stderr


def test_default_server_is_loopback_7600():
    r = roster("list", timeout=20)
    # Nothing of ours listens on 7600 in the tests: unreachable, naming it.
    if r.returncode == 3:
        assert "127.0.0.1:7600" in r.stderr
    else:
        assert r.returncode == 0


def test_watch_prints_changes_until_interrupted(env, srv):
    with running([binary("client/roster"), "--json", "watch", "--service", "web"],
                 env=env) as p:
        first = json.loads(p.stdout.readline())
        assert first["event"] in ("SNAPSHOT_BEGIN", "SNAPSHOT_END")
        reg(env, "w1.lon6.example.net", 80, service="web", protocol="http")
        reg(env, "other.lon6.example.net", 80, service="db", protocol="tcp")
        roster("deregister", "--service", "web", "--protocol", "http", "--host",
               "w1.lon6.example.net", "--port", 80, env=env)
        events = []
        while len([e for e in events if e["event"] in ("UPSERT", "REMOVE")]) < 2:
            events.append(json.loads(p.stdout.readline()))
        changes = [(e["event"], e["instance"]["host"]) for e in events
                   if e["event"] in ("UPSERT", "REMOVE")]
        assert changes == [("UPSERT", "w1.lon6.example.net."), ("REMOVE", "w1.lon6.example.net.")]
        assert interrupt(p)[0] == 0


def watch_into(env, stdout):
    """`roster watch` with its events going to @p stdout (a file or a pipe's
    write end); its stderr piped."""
    e = dict(os.environ)
    for k in ("ROSTER_SERVER", "ROSTER_SITES", "ROSTER_CACHE"):
        e.pop(k, None)
    e.update(env)
    return subprocess.Popen([str(binary("client/roster")), "watch"], env=e, stdout=stdout,
                            stderr=subprocess.PIPE, text=True)


def test_watch_to_a_full_device_stops_with_the_reason(env, srv):
    """Events that cannot be written end the watch with the reason (exit 3)
    instead of being dropped while it carries on."""
    with open("/dev/full", "w") as full:
        p = watch_into(env, full)
    try:
        reg(env, "w1.lon6.example.net", 80, service="web", protocol="http")
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 3
    assert "roster: watch: cannot write the events: No space left on device" in err


def test_watch_stops_when_its_reader_goes_away(env, srv):
    """`roster watch | head -1`: once the reader is gone the watch ends, and
    says nothing (nobody is left to read it)."""
    r, w = os.pipe()
    p = watch_into(env, w)
    os.close(w)
    try:
        with os.fdopen(r) as reader:
            assert reader.readline().startswith("revision ")
        reg(env, "w2.lon6.example.net", 80, service="web", protocol="http")
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 3
    assert "cannot write" not in err


def test_registered_revision_is_served_by_dns(env, srv):
    import dns.message
    import dns.query
    r = reg(env, "web7.lon6.example.net", 8087, service="web", protocol="http")
    revision = int(r.stdout.split()[-1])
    zone = "services.lon6.example.net."
    soa = dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=srv.dns_port,
                        timeout=5)
    assert soa.answer[0][0].serial >= revision
    srv_ans = dns.query.udp(dns.message.make_query(f"_web._http.{zone}", "SRV"), "127.0.0.1",
                            port=srv.dns_port, timeout=5)
    targets = [(rd.target.to_text(), rd.port) for rrset in srv_ans.answer for rd in rrset]
    assert targets == [("web7.lon6.example.net.", 8087)]


def test_readme_documents_every_command_of_help():
    """README's command table gives each command's usage as roster --help does."""
    r = roster("--help")
    assert r.returncode == 0
    usages, cur = [], None
    for line in r.stdout.splitlines():
        if re.match(r"^  [a-z]", line):
            cur = line.strip()
            usages.append(cur)
        elif re.match(r"^ {5,}\S", line) and cur is not None:  # a continued usage line
            usages[-1] += " " + line.strip()
        else:
            cur = None
    assert len(usages) >= 9, r.stdout
    with open(os.path.join(SOURCE, "README.md")) as f:
        readme = f.read().replace("\\|", "|")
    for usage in usages:
        assert f"| `{usage}` |" in readme, f"README lacks `{usage}`"
    row = next(l for l in readme.splitlines() if l.startswith("| `roster` |"))
    for usage in usages:
        assert f"`{usage.split()[0]}`" in row, f"{usage.split()[0]} missing from {row}"
