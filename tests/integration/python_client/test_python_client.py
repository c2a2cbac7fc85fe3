"""The Python client (clients/python) against the real rosterd, in the
scenarios libroster is tested with (client_restart, client_fanout,
client_stale, client_lease): a registry killed and restarted, a wiped
registry, two registries with one down, a lost lease, stale answers while
no registry answers, a watch across a restart."""
import os
import shutil
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Rosterd, dead_port, hold_for, wait_until  # noqa: E402
from pyclient import Recorder, hosts, roster, server_hosts  # noqa: E402

K = roster.EventKind
WANT = ["api0.example.net.:9000", "api1.example.net.:9001"]


def client(srvs, rec, **kw):
    """A started client with the two endpoints of WANT, TTL 2 s."""
    kw.setdefault("ttl", 2)
    kw.setdefault("backoff_max", 1.0)
    servers = [s if isinstance(s, str) else f"127.0.0.1:{s.api_port}" for s in srvs]
    c = roster.Client(servers, on_event=rec, **kw)
    for i in range(2):
        c.add("api", "grpc", f"api{i}.example.net", 9000 + i, addresses=[f"10.0.0.{i + 1}"])
    return c.start()


def test_register_heartbeat_deregister(tmp_path):
    with Rosterd(tmp_path) as srv:
        rec = Recorder()
        c = client([srv], rec)
        c.wait(10)
        assert server_hosts(srv.api_port, "api") == WANT
        # Kept alive by heartbeats over more than two TTLs: one lease, one
        # heartbeat per ttl/3 for both endpoints.
        hold_for(4.5, lambda: server_hosts(srv.api_port, "api") == WANT,
                 "the endpoints kept alive", interval=0.25)
        assert len(rec.of(K.LEASE)) == 1
        assert srv.client().stats().leases == 1
        beats = rec.count(K.HEARTBEAT)
        assert 4 <= beats <= 10, beats  # ~6.75 at ttl/3 +-10 % over 4.5 s
        c.close()
        assert rec.count(K.DEREGISTERED) == 1
        assert server_hosts(srv.api_port, "api") == []  # at once, not a TTL later


def test_register_context_manager_shares_one_lease(tmp_path):
    with Rosterd(tmp_path) as srv:
        servers = [f"127.0.0.1:{srv.api_port}"]
        with roster.register("web", "http", "web1.example.net", 80, servers=servers, ttl=3,
                             wait=10) as a:
            with roster.register("web", "http", "web2.example.net", 81, servers=servers,
                                 ttl=3, wait=10) as b:
                assert a.client is b.client  # one lease per process
                assert srv.client().stats().leases == 1
                assert server_hosts(srv.api_port, "web") == ["web1.example.net.:80",
                                                             "web2.example.net.:81"]
                with pytest.raises(roster.StateError):
                    roster.register("web", "http", "web3.example.net", 82, servers=servers,
                                    ttl=4)
            wait_until(lambda: server_hosts(srv.api_port, "web") == ["web1.example.net.:80"],
                       5, "web2 deregistered when its block ends")
        assert server_hosts(srv.api_port, "web") == []
        assert srv.client().stats().leases == 0


def test_bad_input_fails_before_sending():
    c = roster.Client(["127.0.0.1:1"])
    with pytest.raises(roster.InvalidName):
        c.add("_web", "http", "h.example.net", 80)
    with pytest.raises(roster.InvalidName):
        c.add("web", "http", "h..example.net", 80)
    with pytest.raises(roster.InvalidArgument):
        c.add("web", "http", "h.example.net", 0)
    with pytest.raises(roster.InvalidArgument):
        c.add("web", "http", "h.example.net", 80, addresses=["10.0.0.300"])
    with pytest.raises(roster.LimitExceeded):  # over the 1 MiB frame: never sent
        c.add("web", "http", "h.example.net", 80, metadata={"k": "x" * (1 << 20)})
    with pytest.raises(roster.InvalidArgument):
        roster.Client(["localhost:7600"])  # IP literals only
    with pytest.raises(roster.InvalidArgument):
        roster.Client(["127.0.0.1:7600"], ttl=0)


def test_registry_refusal_is_register_failed_and_not_retried(tmp_path):
    with Rosterd(tmp_path, extra=["--max-instances-per-lease", "1"]) as srv:
        rec = Recorder()
        c = client([srv], rec)
        failed = rec.wait(K.REGISTER_FAILED)
        assert isinstance(failed[0].error, roster.LimitExceeded)
        assert "max-instances-per-lease" in failed[0].error.message
        c.wait(5)  # settled: one registered, one refused
        hold_for(1.5, lambda: rec.count(K.REGISTER_FAILED) == 1,
                 "a refusal not retried until the endpoint changes")
        c.close()


def test_sigkill_restart_same_data_dir(tmp_path):
    srv = Rosterd(tmp_path).start()
    rec = Recorder()
    c = client([srv], rec)
    try:
        c.wait(10)
        lease = c.leases()[f"127.0.0.1:{srv.api_port}"]
        srv.kill9()
        rec.wait(K.DISCONNECTED)
        hold_for(1.0, lambda: rec.count(K.REGISTERED) == 2, "the client retrying, alive")
        srv.start()
        # Back without any action by the service, under the same lease (the
        # registry persisted it and gives it a TTL of grace).
        rec.wait(K.REGISTERED, n=4)
        assert server_hosts(srv.api_port, "api") == WANT
        assert c.leases()[f"127.0.0.1:{srv.api_port}"] == lease
        assert rec.count(K.LEASE_LOST) == 0
        hold_for(4.5, lambda: server_hosts(srv.api_port, "api") == WANT,
                 "the endpoints kept alive after the restart", interval=0.25)
        c.close()
        assert server_hosts(srv.api_port, "api") == []
    finally:
        c.close()
        srv.stop()


def test_wiped_registry_gets_a_new_lease(tmp_path):
    srv = Rosterd(tmp_path).start()
    rec = Recorder()
    c = client([srv], rec)
    try:
        c.wait(10)
        first = rec.of(K.LEASE)[0].lease
        srv.kill9()
        shutil.rmtree(srv.data)  # the registry forgets everything
        srv.start()
        lost = rec.wait(K.LEASE_LOST)
        assert isinstance(lost[0].error, roster.UnknownLease)
        wait_until(lambda: server_hosts(srv.api_port, "api") == WANT, 10,
                   "endpoints registered again under a new lease")
        leases = {e.lease for e in rec.of(K.LEASE)}
        assert len(leases) == 2 and first in leases
        c.close()
    finally:
        c.close()
        srv.stop()


def test_lost_lease_is_reopened(tmp_path):
    """The registry drops the lease (here: someone closes it, as expiry
    during a partition would): the next heartbeat gets UNKNOWN_LEASE, and
    the client opens a new lease and registers everything again."""
    with Rosterd(tmp_path) as srv:
        rec = Recorder()
        c = client([srv], rec)
        c.wait(10)
        lease = rec.of(K.LEASE)[0].lease
        api = srv.client()
        r = api.request(deregister=roster.wire.pb.DeregisterRequest(lease=lease))
        assert r.error == 0 and r.deregister.removed == 2
        assert server_hosts(srv.api_port, "api") == []
        rec.wait(K.LEASE_LOST)
        wait_until(lambda: server_hosts(srv.api_port, "api") == WANT, 5,
                   "endpoints back under a new lease within a heartbeat interval")
        assert rec.of(K.LEASE)[-1].lease != lease
        assert rec.count(K.DISCONNECTED) == 0  # on the same connection
        c.close()


def test_two_registries_one_down(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    a = Rosterd(tmp_path / "a").start()
    b = Rosterd(tmp_path / "b")  # not started yet
    rec = Recorder()
    c = client([b, a], rec, timeout=1)
    try:
        c.wait(10)  # registered at a, whatever b does
        assert server_hosts(a.api_port, "api") == WANT
        # Queries skip the registry that is down (first in the list).
        assert hosts(c.query("api", "grpc")) == WANT
        # A write to every registry: applied at a, b unreachable -> partial.
        perm = roster.make_instance("db", "pg", "db1.example.net", 5432)
        with pytest.raises(roster.PartialWrite) as ex:
            c.register_permanent(perm)
        kinds = [o.kind for o in ex.value.outcomes]
        assert kinds == [roster.OutcomeKind.UNREACHABLE, roster.OutcomeKind.APPLIED]
        assert ex.value.server == f"127.0.0.1:{b.api_port}"
        # Not known anywhere reachable, one unreachable: Unreachable, not NotFound.
        ghost = roster.make_instance("db", "pg", "ghost.example.net", 1)
        with pytest.raises(roster.Unreachable):
            c.deregister(ghost)
        # b comes up: the engine registers there too, without any call.
        b.start()
        wait_until(lambda: server_hosts(b.api_port, "api") == WANT, 10,
                   "endpoints at the registry that came up")
        assert c.register_permanent(perm).revision > 0  # both applied (an update at a)
        with pytest.raises(roster.NotFound):
            c.deregister(ghost)  # every registry says so
        res = c.deregister(perm)
        assert [o.kind for o in res.outcomes] == [roster.OutcomeKind.APPLIED] * 2
        # A registry that does not know it while another applies it: success.
        c.register_permanent(perm)
        c.deregister(perm)
        assert c.register_permanent(perm) and c.deregister(perm)
        c.close()
        assert server_hosts(a.api_port, "api") == [] == server_hosts(b.api_port, "api")
    finally:
        c.close()
        a.stop()
        b.stop()


def test_stale_answers_while_unreachable(tmp_path):
    cache = str(tmp_path / "cache.json")
    srv = Rosterd(tmp_path).start()
    try:
        api = srv.client()
        assert api.register("web", "http", "web1.example.net", 80).error == 0
        c = roster.Client([f"127.0.0.1:{srv.api_port}"], cache_path=cache, max_stale=600,
                          timeout=1)
        fresh = c.query("web", "http")
        assert not fresh.stale and hosts(fresh) == ["web1.example.net.:80"]
        # A write elsewhere moves the registry's revision: the unchanged
        # answer is not written to the file again (no fsync per lookup).
        ino = os.stat(cache).st_ino
        assert api.register("other", "tcp", "o1.example.net", 1).error == 0
        fresh = c.query("web", "http")
        assert hosts(fresh) == ["web1.example.net.:80"]
        assert os.stat(cache).st_ino == ino, "the file was rewritten"
        srv.stop()
        before = int(time.time() * 1000)
        stale = c.query("web", "http")
        assert stale.stale and hosts(stale) == hosts(fresh)
        assert stale.fetched_at_ms == fresh.fetched_at_ms <= before
        assert stale.server == f"127.0.0.1:{srv.api_port}"
        with pytest.raises(roster.Unreachable):
            c.query("web", "http", use_cache=False)
        with pytest.raises(roster.Unreachable):
            c.query("web", "http", include_down=True)  # another key: no copy
        # Another process (a new client) finds the copy in the file.
        again = roster.Client([f"127.0.0.1:{srv.api_port}"], cache_path=cache, timeout=1)
        assert again.query("web", "http").stale
        # A copy older than max_stale is not served.
        short = roster.Client([f"127.0.0.1:{srv.api_port}"], cache_path=cache,
                              max_stale=0.5, timeout=1)
        wait_until(lambda: _unreachable(short), 5, "the copy aged past max_stale")
        # Back up: fresh answers again.
        srv.start()
        assert not c.query("web", "http").stale
    finally:
        srv.stop()


def _unreachable(c):
    try:
        c.query("web", "http")
        return False
    except roster.Unreachable:
        return True


def test_libroster_cache_file_is_read(tmp_path):
    """The cache file is libroster's format: a copy the roster CLI wrote is
    served by the Python client, and the other way round."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
    from clientkit import roster as cli
    cache = str(tmp_path / "c.json")
    with Rosterd(tmp_path) as srv:
        assert srv.client().register("web", "http", "web1.example.net", 80).error == 0
        server = f"127.0.0.1:{srv.api_port}"
        assert cli("--server", server, "--cache", cache, "query", "--service", "web",
                   "--protocol", "http").returncode == 0
    got = roster.Client([server], cache_path=cache, timeout=1).query("web", "http")
    assert got.stale and hosts(got) == ["web1.example.net.:80"]
    py_cache = str(tmp_path / "p.json")
    (tmp_path / "2").mkdir()
    with Rosterd(tmp_path / "2") as srv2:
        assert srv2.client().register("db", "pg", "db1.example.net", 5432).error == 0
        server2 = f"127.0.0.1:{srv2.api_port}"
        roster.Client([server2], cache_path=py_cache).query("db", "pg")
    r = cli("--server", server2, "--cache", py_cache, "query", "--service", "db",
            "--protocol", "pg")
    assert r.returncode == 0 and "db1.example.net.:5432" in r.stdout
    assert "stale: no registry answered" in r.stdout


def test_watch_across_a_restart(tmp_path):
    srv = Rosterd(tmp_path).start()
    c = roster.Client([f"127.0.0.1:{srv.api_port}"], ttl=3, backoff_max=0.5)
    try:
        api = srv.client()
        assert api.register("web", "http", "web1.example.net", 80).error == 0
        w = c.watch("web")
        kinds = [w.get(5).kind for _ in range(3)]
        W = roster.WatchKind
        assert kinds == [W.SNAPSHOT_BEGIN, W.UPSERT, W.SNAPSHOT_END]
        assert api.register("web", "http", "web2.example.net", 81).error == 0
        ev = w.get(5)
        assert ev.kind == W.UPSERT and ev.instance.host == "web2.example.net."
        api.close()
        srv.kill9()
        assert w.get(5).kind == W.RESYNC
        srv.start()
        # After the reconnect the stream resumes (from the last revision
        # seen, or from a snapshot when the journal does not reach back):
        # either way, a change made now arrives.
        api = srv.client()
        assert api.register("web", "http", "web3.example.net", 82).error == 0
        seen = []
        wait_until(lambda: seen.append(w.get(0.2)) or any(
            e is not None and e.kind == W.UPSERT and e.instance.host == "web3.example.net."
            for e in seen), 10, "the change after the restart")
        # Other services are not in this watch.
        assert api.register("db", "pg", "db1.example.net", 1).error == 0
        assert api.register("web", "http", "web4.example.net", 83).error == 0
        nxt = w.get(5)
        while nxt is not None and nxt.kind != W.UPSERT:
            nxt = w.get(5)
        assert nxt.instance.service == "web" and nxt.instance.host == "web4.example.net."
        w.cancel()
        assert w.get(0.1) is None and list(w) == []
    finally:
        c.close()
        srv.stop()


def test_sites_file_as_the_cli_reads_it(tmp_path, monkeypatch):
    sites = tmp_path / "sites.conf"
    sites.write_text("# registries per site\n"
                     "lon6 10.0.0.5:7600\n"
                     "ash2 [2001:db8::5]:7600   # another site\n"
                     "\n"
                     "lon6 10.0.0.6:7600\n")
    assert roster.load_site("lon6", str(sites)) == ["10.0.0.5:7600", "10.0.0.6:7600"]
    monkeypatch.delenv("ROSTER_SERVER", raising=False)
    monkeypatch.setenv("ROSTER_SITES", str(sites))
    assert roster.Client(site="ash2").servers == ["[2001:db8::5]:7600"]
    assert roster.Client(site="lon6").addrs == [("10.0.0.5", 7600), ("10.0.0.6", 7600)]
    assert roster.Client().servers == ["127.0.0.1:7600"]  # the default
    monkeypatch.setenv("ROSTER_SERVER", "127.0.0.1:1,127.0.0.2:2")  # wins over the site
    assert roster.Client(site="lon6").servers == ["127.0.0.1:1", "127.0.0.2:2"]
    assert roster.Client(["127.0.0.3:3"], site="lon6").servers == ["127.0.0.3:3"]
    with pytest.raises(roster.InvalidArgument, match="unknown site 'par1'"):
        roster.load_site("par1", str(sites))
    bad = tmp_path / "bad.conf"
    bad.write_text("lon6 10.0.0.5:7600 extra\n")
    with pytest.raises(roster.InvalidArgument, match="bad.conf:1: expected"):
        roster.load_site("lon6", str(bad))
    bad.write_text("lon6 registry.example.net:7600\n")  # IP literals only
    with pytest.raises(roster.InvalidArgument, match="invalid registry address"):
        roster.load_site("lon6", str(bad))
    with pytest.raises(roster.InvalidArgument, match="cannot read"):
        roster.load_site("lon6", str(tmp_path / "missing.conf"))


def test_backoff_is_full_jitter_with_the_ttl_cap():
    from roster.engine import Backoff
    b = Backoff(0.1, 10.0)
    caps = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    for cap in caps:
        assert 0 <= b.next() <= cap
    b.attempt = 0
    delays = [Backoff(0.1, 10.0) for _ in range(200)]
    for d in delays:
        d.attempt = 20
    got = [d.next(limit=1.0) for d in delays]  # a lease at stake, TTL 3 s
    assert max(got) <= 1.0 and min(got) < 0.2 and max(got) > 0.8  # spread, capped


def test_site_with_a_registry_down(tmp_path, monkeypatch):
    """register() with site=: the sites file lists two registries, one is
    down; the endpoint is at the other, and the write verdicts name it."""
    (tmp_path / "a").mkdir()
    with Rosterd(tmp_path / "a") as up:
        down = dead_port()
        try:
            sites = tmp_path / "sites.conf"
            sites.write_text(f"lon6 127.0.0.1:{down.getsockname()[1]}\n"
                             f"lon6 127.0.0.1:{up.api_port}\n")
            monkeypatch.delenv("ROSTER_SERVER", raising=False)
            monkeypatch.setenv("ROSTER_SITES", str(sites))
            with roster.register("web", "http", "web1.example.net", 80, site="lon6", ttl=2,
                                 wait=10, timeout=1) as reg:
                assert server_hosts(up.api_port, "web") == ["web1.example.net.:80"]
                assert reg.client.leases()[f"127.0.0.1:{up.api_port}"] != 0
                assert reg.client.leases()[f"127.0.0.1:{down.getsockname()[1]}"] == 0
            assert server_hosts(up.api_port, "web") == []
        finally:
            down.close()


def _tokens(tmp_path):
    import hashlib
    path = tmp_path / "tokens"
    lines = [f"{name} sha256:{hashlib.sha256(secret.encode()).hexdigest()} {scopes}"
             for name, secret, scopes in (("api", "api-secret", "write:api"),
                                          ("ro", "ro-secret", "read"),
                                          ("ops", "ops-secret", "admin"))]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_token_registers_and_queries_with_its_scopes(tmp_path):
    with Rosterd(tmp_path, extra=["--api-tokens", _tokens(tmp_path)]) as srv:
        rec = Recorder()
        c = client([srv], rec, token="api-secret")
        c.wait(10)
        ro = roster.Client([f"127.0.0.1:{srv.api_port}"], timeout=2, token="ro-secret")
        assert hosts(ro.query("api", use_cache=False)) == WANT
        with pytest.raises(roster.PermissionDenied):
            ro.register_permanent(roster.Instance(service="api", protocol="grpc",
                                                  host="api9.example.net", port=9009))
        c.close()


def test_token_refused(tmp_path):
    with Rosterd(tmp_path, extra=["--api-tokens", _tokens(tmp_path)]) as srv:
        server = f"127.0.0.1:{srv.api_port}"
        for token in ("wrong", None):
            q = roster.Client([server], timeout=2, token=token)
            with pytest.raises(roster.PermissionDenied) as e:
                q.query("api", use_cache=False)
            assert ("token refused" if token else "Authenticate") in e.value.message
        # The engine: every registration refused, said by an event, nothing held.
        rec = Recorder()
        c = client([srv], rec, token="wrong")
        failed = rec.wait(K.REGISTER_FAILED)
        assert isinstance(failed[0].error, roster.PermissionDenied)
        c.close()
        admin = roster.Client([server], timeout=2, token="ops-secret")
        assert hosts(admin.query("api", use_cache=False)) == []
        with pytest.raises(roster.InvalidArgument):
            roster.Client([server], token="a\0b")


def test_register_wait_raises_the_refusal_not_success(tmp_path):
    """`with roster.register(..., wait=N):` must not start serving when no
    registry holds the endpoint: a refusal of it (a limit) is raised as the
    registry said it, at once; a token without write scope, whose refusal
    is retried (tokens reload on SIGHUP), as PermissionDenied when the wait
    ends, not as a bare Timeout."""
    with Rosterd(tmp_path, extra=["--api-tokens", _tokens(tmp_path),
                                  "--max-metadata", "64"]) as srv:
        server = f"127.0.0.1:{srv.api_port}"
        t0 = time.monotonic()
        with pytest.raises(roster.LimitExceeded) as e:
            roster.register("api", "grpc", "api0.example.net", 9000, servers=[server],
                            token="api-secret", ttl=5, wait=10, metadata={"k": "v" * 200})
        assert "metadata" in e.value.message and time.monotonic() - t0 < 5, e.value.message
        with pytest.raises(roster.PermissionDenied) as e:
            roster.register("api", "grpc", "api0.example.net", 9000, servers=[server],
                            token="ro-secret", ttl=5, wait=1)
        assert "not registered within 1 s" in e.value.message, e.value.message
        with roster.register("api", "grpc", "api0.example.net", 9000, servers=[server],
                             token="api-secret", ttl=5, wait=10):
            admin = roster.Client([server], timeout=2, token="ops-secret")
            assert hosts(admin.query("api", use_cache=False)) == ["api0.example.net.:9000"]


def test_a_cache_that_cannot_be_written_is_logged_once(tmp_path, caplog):
    with Rosterd(tmp_path) as srv:
        assert srv.client().register("api", "grpc", "api0.example.net", 9000).error == 0
        c = roster.Client([f"127.0.0.1:{srv.api_port}"], timeout=2,
                          cache_path=str(tmp_path / "nodir" / "cache"))
        with caplog.at_level("WARNING", logger="roster"):
            for _ in range(3):
                assert hosts(c.query("api")) == ["api0.example.net.:9000"]
        said = [r for r in caplog.records if "cannot write the query cache" in r.getMessage()]
        assert len(said) == 1, [r.getMessage() for r in caplog.records]
