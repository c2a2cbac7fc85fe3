"""The roster CLI's usage errors of rarely combined flags, and the paths of
its main program that other scenarios do not take, each through the real
binary (against a real rosterd where a registry is needed).

SPEC: "Exit codes: 0 ok, 1 not found or no UP endpoint, 2 usage, 3 server
unreachable or error". A usage error is one line on stderr, "roster: ...
(roster --help for usage)", nothing on stdout, exit 2, and nothing sent."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster, running  # noqa: E402
from harness import Rosterd, binary, dead_port, wait_until  # noqa: E402

IDENT = ["--service", "web", "--protocol", "http", "--host", "w1.lon6.example.net",
         "--port", "80"]


def usage_error(r, *words):
    """Exit 2, one stderr line naming each word, nothing on stdout."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("roster: "), r.stderr
    for w in words:
        assert w in lines[0], (w, r.stderr)


@pytest.fixture
def dead():
    """A port where nothing answers (refused), for the registry."""
    s = dead_port()
    yield s.getsockname()[1]
    s.close()


@pytest.mark.parametrize("args,words", [
    # --server lists
    (["--server", ",127.0.0.1:7600", "list"], ["invalid --server ',127.0.0.1:7600'",
                                               "expected HOST:PORT"]),
    (["--server", "127.0.0.1:7600,", "list"], ["trailing comma"]),
    (["--server", ",".join(f"127.0.0.1:{7600 + i}" for i in range(9)), "list"],
     ["too many --server (at most 8)"]),
    (["--server", "localhost:7600", "list"], ["not an IP address"]),
    (["--server", "127.0.0.1", "list"], ["bad or missing port"]),
    (["-s", "lon_6", "list"], ["invalid site name 'lon_6'"]),
    # register's repeatable options past their limits
    (["register", *IDENT, "--permanent"] + [a for i in range(17)
                                            for a in ("--address", f"10.0.0.{i + 1}")],
     ["too many --address (at most 16)"]),
    (["register", *IDENT, "--permanent", "--address", "10.0.0.300"],
     ["invalid --address '10.0.0.300'"]),
    (["register", *IDENT, "--permanent"] + [a for i in range(33)
                                            for a in ("--meta", f"k{i}=v")],
     ["too many --meta (at most 32)"]),
    (["register", *IDENT, "--permanent", "--meta", "=v"], ["invalid --meta '=v'"]),
    (["register", *IDENT, "--permanent", "--meta", "novalue"], ["invalid --meta 'novalue'"]),
    (["register", *IDENT, "--permanent", "--meta", "k" * 300 + "=v"], ["invalid --meta"]),
    (["register", *IDENT, "--ttl", "5", "--permanent"],
     ["--ttl and --permanent exclude each other"]),
    (["register", "--service", "web", "--protocol", "http", "--port", "80"],
     ["register needs --host"]),
    (["register", "--service", "web", "--protocol", "http", "--host", "w1.example.net"],
     ["register needs --port"]),
    (["deregister", "--service", "web", "--host", "w1.example.net", "--port", "80"],
     ["deregister needs --protocol"]),
    (["register", "--service", "w_b", *IDENT[2:]], ["invalid --service 'w_b'"]),
    # status
    (["status", *IDENT], ["status needs up, down or starting"]),
    (["status", *IDENT, "sideways"], ["invalid status 'sideways'"]),
    (["status", *IDENT, "up", "down"], ["unexpected argument 'down'"]),
    # doctor
    (["doctor", "--secondary", "ns1.example.net"], ["invalid --secondary 'ns1.example.net'"]),
    (["doctor"] + [a for i in range(9) for a in ("--secondary", f"127.0.0.1:{5300 + i}")],
     ["too many --secondary (at most 8)"]),
    (["doctor", "--max-lag", "0"], ["--max-lag"]),
    # ring, backup, query
    (["ring", "--service", "web", "--protocol", "http"], ["ring needs --key"]),
    (["ring", "--service", "web", "--protocol", "http", "--key", ""], ["empty --key"]),
    (["backup"], ["backup needs a FILE"]),
    (["backup", "a.mdb", "b.mdb"], ["unexpected argument 'b.mdb'"]),
    (["query", "web", "--service", "api"], ["two services: 'web' and --service 'api'"]),
    (["query", "w_b"], ["invalid service 'w_b'"]),
    (["query", "--protocol", "http"], ["query needs --service"]),
    (["list", "--host", "w1.example.net"], ["option '--host' does not apply to list"]),
    (["watch", "--protocol", "http"], ["option '--protocol' does not apply to watch"]),
    (["--timeout", "0", "list"], ["--timeout"]),
    (["--max-stale", "2592001", "list"], ["--max-stale"]),
    (["frobnicate"], ["unknown command 'frobnicate'"]),
    (["help", "frobnicate"], ["unknown command 'frobnicate'"]),
    ([], ["no command"]),
    (["--json"], ["no command"]),
])
def test_usage_errors_exit_2_with_one_line(args, words, dead):
    usage_error(roster(*args, env={"ROSTER_SERVER": f"127.0.0.1:{dead}"}), *words)


def test_no_command_lists_every_command_of_help(dead):
    """The hint names every command --help documents (doctor was missing)."""
    r = roster(env={"ROSTER_SERVER": f"127.0.0.1:{dead}"})
    listed = r.stderr.split("no command (", 1)[1].split(")", 1)[0].split(", ")
    helped = roster("--help").stdout
    commands = re.findall(r"^  ([a-z]+)\b", helped, re.M)
    assert commands and set(commands) <= set(listed) | {"help"}, (commands, listed)


def test_help_for_a_command_after_options_and_version():
    r = roster("--json", "ring", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: roster [GLOBAL OPTIONS] ring"), r
    assert "--key" in r.stdout and "--host" not in r.stdout
    # Every command has its synopsis and text (backup had none: "(null)").
    for cmd in ("query", "register", "deregister", "status", "list", "watch", "ring",
                "reports", "stats", "doctor", "backup", "help"):
        r = roster("help", cmd)
        assert r.returncode == 0 and "(null)" not in r.stdout, r
        assert r.stdout.startswith(f"usage: roster [GLOBAL OPTIONS] {cmd}"), r.stdout
    r = roster("backup", "--help")
    assert "backup FILE" in r.stdout and "registry" in r.stdout, r.stdout
    r = roster("help")
    assert r.returncode == 0 and r.stdout.startswith("usage: roster [--server"), r
    r = roster("list", "--version")
    assert r.returncode == 0 and r.stdout.startswith("roster "), r


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


def test_token_file_errors_are_usage_errors(tmp_path, srv):
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    missing = tmp_path / "nope"
    usage_error(roster("--token-file", missing, "list", env=env),
                f"--token-file {missing}: No such file or directory")
    blank = tmp_path / "blank"
    blank.write_text("  \t \nsecond-line-token\n")
    usage_error(roster("--token-file", blank, "list", env=env),
                f"--token-file {blank}: no token on its first line")
    empty = tmp_path / "empty"
    empty.write_text("")
    usage_error(roster("--token-file", empty, "list", env=env), "no token on its first line")
    # A token with blanks around it is cut and sent; a registry without
    # --api-tokens answers Authenticate UNSUPPORTED and serves the call.
    tok = tmp_path / "tok"
    tok.write_text("\t some-token  \r\n")
    r = roster("--token-file", tok, "list", env=env)
    assert r.returncode == 0, r.stderr
    r = roster("list", env={**env, "ROSTER_TOKEN": "from-env"})
    assert r.returncode == 0, r.stderr


def test_backup_relative_file_and_unreachable(tmp_path, srv, dead):
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    r = roster("--json", "backup", "b1.mdb", env=env, timeout=60)
    # The registry writes the file; a relative FILE is taken from our cwd.
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["file"] == os.path.join(os.getcwd(), "b1.mdb"), doc
    os.unlink(doc["file"])
    # A directory missing on the registry's host is the registry's error
    # (exit 3), not "not found" (exit 1, which SPEC keeps for endpoints).
    r = roster("backup", "/nonexistent-dir/b.mdb", env=env, timeout=60)
    assert r.returncode == 3 and r.stderr.startswith("roster: backup: "), r.stderr
    assert "No such file or directory" in r.stderr, r.stderr
    r = roster("backup", tmp_path / "b2.mdb", env={"ROSTER_SERVER": f"127.0.0.1:{dead}"})
    assert r.returncode == 3 and "registry unreachable" in r.stderr, r.stderr


def test_watch_and_register_name_an_unreachable_registry_not_the_stats_step(dead):
    env = {"ROSTER_SERVER": f"127.0.0.1:{dead}"}
    for cmd in (["watch"], ["register", *IDENT, "--ttl", "5"]):
        r = roster(*cmd, "--timeout", "300", env=env)
        assert r.returncode == 3, r
        line = r.stderr.strip()
        assert line.startswith(f"roster: {cmd[0]}: no registry answered"), line
        assert "stats" not in line, line


def test_doctor_with_servers_and_an_unknown_site(tmp_path, srv):
    # --server: the registry's own address for DNS (port 53) and HTTP
    # (7680), which nothing serves here: those checks fail, the API passes.
    r = roster("--server", f"127.0.0.1:{srv.api_port}", "--timeout", "500", "doctor")
    assert r.returncode == 1, r
    assert f"ok   127.0.0.1:{srv.api_port} api" in r.stdout, r.stdout
    assert "FAIL 127.0.0.1:53 dns-udp" in r.stdout, r.stdout
    assert "FAIL 127.0.0.1:7680 http" in r.stdout, r.stdout
    sites = tmp_path / "sites.conf"
    sites.write_text(f"lon6 127.0.0.1:{srv.api_port}\n")
    r = roster("-s", "par1", "doctor", env={"ROSTER_SITES": str(sites)})
    assert r.returncode == 2 and "par1" in r.stderr and r.stdout == "", r


def test_register_reports_what_happens_while_it_holds_the_lease(tmp_path):
    """Two registries: the first registration is stdout's line, the
    second's goes to stderr; a registry restarted empty loses the lease
    (said on stderr, registered again); at the interrupt each registry's
    deregistration is reported, the second's on stderr."""
    a = Rosterd(tmp_path / "a")
    b = Rosterd(tmp_path / "b")
    os.makedirs(a.tmpdir, exist_ok=True)
    os.makedirs(b.tmpdir, exist_ok=True)
    a.start()
    b.start()
    try:
        servers = f"127.0.0.1:{a.api_port},127.0.0.1:{b.api_port}"
        with running([binary("client/roster"), "--server", servers, "--timeout", "1000",
                      "register", *IDENT, "--ttl", "2"]) as p:
            first = p.stdout.readline()
            assert first.startswith("registered w1.lon6.example.net.:80"), first
            err = []
            reader = threading.Thread(target=lambda: err.extend(iter(p.stderr.readline, "")),
                                      daemon=True)
            reader.start()

            def said(word):
                return any(word in line for line in list(err))
            wait_until(lambda: said(f"registered at 127.0.0.1:{b.api_port}")
                       or said(f"registered at 127.0.0.1:{a.api_port}"), 10,
                       "the second registration on stderr")
            # b loses everything: its lease is unknown at the next heartbeat.
            port = b.api_port
            b.kill9()
            shutil.rmtree(b.data)
            b.start()
            assert b.api_port == port
            wait_until(lambda: said("lost the lease; registering again"), 15,
                       "the lost lease on stderr")
            wait_until(lambda: sum("registered at" in line for line in list(err)) >= 2, 15,
                       "registered at b again")
            p.send_signal(signal.SIGINT)
            out = p.stdout.read()
            p.wait(timeout=20)
            reader.join(timeout=10)
            assert p.returncode == 0, (out, err)
            assert out.startswith("deregistered w1.lon6.example.net.:80"), out
            assert said("deregistered at 127.0.0.1:"), err
    finally:
        a.stop()
        b.stop()


def test_a_refused_token_is_the_answer_and_a_registered_lease_reports_it(tmp_path):
    """A registry with --api-tokens: the one-shot calls get the refusal of
    the token as their answer (exit 3, the registry's words), and so does
    `register`, whose engine says it once as the endpoint's refusal."""
    secret = "r-secret"
    tf = tmp_path / "tokens"
    tf.write_text(f"ro sha256:{hashlib.sha256(secret.encode()).hexdigest()} read\n")
    with Rosterd(tmp_path, extra=["--api-tokens", str(tf)]) as s:
        env = {"ROSTER_SERVER": f"127.0.0.1:{s.api_port}"}
        assert roster("list", env={**env, "ROSTER_TOKEN": secret}).returncode == 0
        r = roster("list", env={**env, "ROSTER_TOKEN": "wrong"})
        assert r.returncode == 3 and r.stderr.startswith("roster: list: registry "), r.stderr
        r = roster("register", *IDENT, "--ttl", "5", "--timeout", "500",
                   env={**env, "ROSTER_TOKEN": secret})
        # read scope: the stats call passes, the engine's writes are refused.
        assert r.returncode == 3 and "registry 127.0.0.1:" in r.stderr, r.stderr


def test_a_registry_address_no_route_reaches_fails_at_once():
    # A multicast address: connect() fails at once (ENETUNREACH), for the
    # one-shot calls and for register's engine alike.
    r = roster("--server", "224.0.0.1:7600", "--timeout", "5000", "list")
    assert r.returncode == 3 and "224.0.0.1:7600 (registry unreachable)" in r.stderr, r.stderr


def test_output_that_cannot_be_written_is_an_error(srv):
    """stdout on a full device: the answer is lost, so exit 3, not 0."""
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    for args in (["--help"], ["list"], ["--json", "stats"]):
        with open("/dev/full", "w") as full:
            p = subprocess.run([binary("client/roster"), *args], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=30,
                               env={**os.environ, **env})
        assert p.returncode == 3, (args, p.returncode, p.stderr)


def test_query_ring_and_watch_paths(srv, dead):
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}", "ROSTER_CACHE": "",
           "ROSTER_SITES": ""}
    r = roster("query", "web", "--all", env=env)
    assert r.returncode == 1 and r.stderr.strip() == "roster: query: no endpoint", r
    r = roster("ring", "--service", "web", "--protocol", "http", "--key", "k",
               env={"ROSTER_SERVER": f"127.0.0.1:{dead}"})
    # The query is ring's own step: not named (as register's stats are not).
    assert r.returncode == 3 and r.stderr.startswith("roster: ring: no registry answered"), r
    assert "query" not in r.stderr, r.stderr
    for extra, what in (([], "every service"), (["--service", "web"], "service:web")):
        with running([binary("client/roster"), "watch", *extra], env=env) as p:
            line = p.stderr.readline()
            assert line.startswith(f"roster: watch: watching {what} at 127.0.0.1:"), line
            p.send_signal(signal.SIGINT)
            assert p.wait(timeout=10) == 0


def test_doctor_addresses_from_the_sites_file_or_the_servers(tmp_path, srv):
    # A sites line without dns= and http=: the registry's address, ports 53
    # and 7680. ROSTER_SERVER wins over the file, as for every command.
    sites = tmp_path / "sites.conf"
    sites.write_text(f"lon6 127.0.0.1:{srv.api_port}\n")
    r = roster("-s", "lon6", "--timeout", "300", "doctor", env={"ROSTER_SITES": str(sites)})
    assert r.returncode == 1, r
    assert "127.0.0.1:53 dns-udp" in r.stdout and "127.0.0.1:7680 http" in r.stdout, r.stdout
    r = roster("-s", "lon6", "--timeout", "300", "--json", "doctor",
               env={"ROSTER_SITES": str(sites),
                    "ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"})
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["ok"] is False, r
    assert any(c["check"] == f"127.0.0.1:{srv.api_port} api" and c["ok"]
               for c in doc["checks"]), doc


def test_token_blanks_and_an_empty_token_variable(tmp_path):
    """A registry with --api-tokens: a token file whose token ends in a tab
    is cut and accepted; ROSTER_TOKEN set but empty is no token at all,
    refused exactly as a call without one."""
    secret = "t-secret"
    tf = tmp_path / "tokens"
    tf.write_text(f"ro sha256:{hashlib.sha256(secret.encode()).hexdigest()} read\n")
    tok = tmp_path / "tok"
    tok.write_text(f"{secret}\t\t\n")
    with Rosterd(tmp_path, extra=["--api-tokens", str(tf)]) as s:
        env = {"ROSTER_SERVER": f"127.0.0.1:{s.api_port}"}
        r = roster("--token-file", tok, "list", env=env)
        assert r.returncode == 0, r
        bare = roster("list", env=env)
        empty = roster("list", env={**env, "ROSTER_TOKEN": ""})
        assert bare.returncode == 3, bare
        assert (empty.returncode, empty.stdout, empty.stderr) == \
            (bare.returncode, bare.stdout, bare.stderr)


def test_doctor_takes_roster_server_over_the_site_file_and_the_default_path(tmp_path, srv):
    """`doctor -s SITE` reads the sites file only when no registry is given:
    ROSTER_SERVER wins (the file named by ROSTER_SITES does not exist and is
    never opened); ROSTER_SITES empty means the default path."""
    missing = tmp_path / "no-sites.conf"
    r = roster("-s", "lon6", "--timeout", "500", "doctor",
               env={"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}",
                    "ROSTER_SITES": str(missing)})
    assert r.returncode == 1, r
    assert f"ok   127.0.0.1:{srv.api_port} api" in r.stdout, r.stdout
    assert str(missing) not in r.stderr, r.stderr
    r = roster("-s", "lon6", "doctor", env={"ROSTER_SITES": ""})
    assert r.returncode == 2 and "/etc/roster/sites.conf" in r.stderr, r


def test_backup_relative_file_too_long_to_make_absolute(dead):
    r = roster("backup", "b" * 4090, env={"ROSTER_SERVER": f"127.0.0.1:{dead}"})
    usage_error(r, "backup: cannot make the FILE path absolute")


def test_register_held_lease_lost_with_its_registry_fails_the_interrupt(tmp_path, dead):
    """Two registries, one never reached: it holds no lease, so says
    nothing at the interrupt. The other is gone (killed) by then: its
    lease was not deregistered, so the endpoint stays in DNS until the
    lease ends and the command fails (exit 3), naming the default TTL."""
    a = Rosterd(tmp_path / "a")
    os.makedirs(a.tmpdir, exist_ok=True)
    a.start()
    try:
        servers = f"127.0.0.1:{a.api_port},127.0.0.1:{dead}"
        with running([binary("client/roster"), "--server", servers, "--timeout", "1000",
                      "register", *IDENT]) as p:
            first = p.stdout.readline()
            assert first.startswith("registered w1.lon6.example.net.:80"), first
            err = []
            reader = threading.Thread(target=lambda: err.extend(iter(p.stderr.readline, "")),
                                      daemon=True)
            reader.start()

            def said(word):
                return any(word in line for line in list(err))
            wait_until(lambda: said("holding the lease (TTL 10 s)"), 10, "the banner")
            a.kill9()
            wait_until(lambda: said(f"registry 127.0.0.1:{a.api_port}: connection lost"), 15,
                       "the lost connection on stderr")
            p.send_signal(signal.SIGINT)
            out = p.stdout.read()
            p.wait(timeout=30)
            reader.join(timeout=10)
            assert p.returncode == 3, (out, err)
            assert out == "", out
            assert said(f"not deregistered at 127.0.0.1:{a.api_port} ("), err
            assert said("the endpoint stays until its lease expires (TTL 10 s)"), err
            assert not said(f"not deregistered at 127.0.0.1:{dead}"), err
    finally:
        a.stop()


def test_a_held_lease_is_marked_up_and_down_by_signals(tmp_path):
    """`register --ttl --starting`: the endpoint is the lease's, so another
    `roster status` is refused (SPEC's ownership) and says how to change
    it; SIGUSR1 to the holding process marks it UP (served in DNS), SIGUSR2
    DOWN, each through the lease; SIGINT still deregisters."""
    import dns.message
    import dns.query
    import dns.rdatatype
    with Rosterd(tmp_path) as s:
        env = {"ROSTER_SERVER": f"127.0.0.1:{s.api_port}"}
        name = "_web._http.services.lon6.example.net."

        def status():
            r = roster("--json", "query", "--service", "web", "--all", env=env)
            eps = json.loads(r.stdout)["instances"] if r.returncode in (0, 1) else []
            return eps[0]["status"] if eps else None

        def srv_answers():
            q = dns.message.make_query(name, dns.rdatatype.SRV)
            return len(dns.query.udp(q, "127.0.0.1", port=s.dns_port, timeout=5).answer)

        with running([binary("client/roster"), "register", *IDENT, "--ttl", "5",
                      "--starting"], env=env) as p:
            assert p.stdout.readline().startswith("registered w1.lon6.example.net.:80")
            held = p.stderr.readline()
            assert "SIGUSR1 marks it UP, SIGUSR2 DOWN" in held, held
            assert f"(pid {p.pid})" in held, held
            assert status() == "STARTING" and srv_answers() == 0
            r = roster("status", *IDENT, "up", env=env)
            assert r.returncode == 3, r
            assert "registered under lease" in r.stderr, r.stderr
            assert "changes through that process: kill -USR1 PID" in r.stderr, r.stderr
            p.send_signal(signal.SIGUSR1)
            assert "SIGUSR1: marking the endpoint UP" in p.stderr.readline()
            wait_until(status, 10, "UP through the lease", want="UP")
            assert srv_answers() == 1
            p.send_signal(signal.SIGUSR2)
            wait_until(status, 10, "DOWN through the lease", want="DOWN")
            assert srv_answers() == 0
            p.send_signal(signal.SIGINT)
            assert p.wait(timeout=20) == 0
        assert status() is None


def test_json_writes_say_what_each_registry_did(tmp_path, dead):
    """A one-shot write to two registries, one of them down: --json's line
    carries one outcome per registry, in --server order (the exit code
    alone says only that one did not apply it)."""
    with Rosterd(tmp_path) as s:
        servers = f"127.0.0.1:{s.api_port},127.0.0.1:{dead}"
        r = roster("--server", servers, "--json", "--timeout", "500", "register", *IDENT,
                   "--permanent")
        assert r.returncode == 3, r
        doc = json.loads(r.stdout)
        out = doc["outcomes"]
        assert [o["server"] for o in out] == [f"127.0.0.1:{s.api_port}", f"127.0.0.1:{dead}"]
        assert out[0]["result"] == "applied" and out[0]["revision"] == doc["revision"] > 0
        assert out[1]["result"] == "unreachable" and out[1]["error"], out
        r = roster("--server", servers, "--json", "--timeout", "500", "status", *IDENT, "down")
        assert r.returncode == 3, r
        assert [o["result"] for o in json.loads(r.stdout)["outcomes"]] == ["applied",
                                                                           "unreachable"]
        r = roster("--server", servers, "--json", "--timeout", "500", "deregister", *IDENT)
        out = json.loads(r.stdout)["outcomes"]
        assert [o["result"] for o in out] == ["applied", "unreachable"], out


def test_a_cache_that_cannot_be_written_is_said(tmp_path):
    """--cache FILE in a directory that does not exist (a typo in a unit)
    would keep no copy for an outage, and nothing would say so until the
    outage: the CLI warns on stderr, and answers all the same."""
    with Rosterd(tmp_path) as s:
        env = {"ROSTER_SERVER": f"127.0.0.1:{s.api_port}"}
        assert s.client().register("web", "http", "w1.lon6.example.net", 80).error == 0
        r = roster("--cache", str(tmp_path / "nodir" / "cache"), "query", "web", env=env)
        assert r.returncode == 0, r.stderr
        assert "warning: --cache" in r.stderr and "no copy is kept" in r.stderr, r.stderr
        r = roster("--cache", str(tmp_path / "cache"), "query", "web", env=env)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert os.path.exists(tmp_path / "cache")
