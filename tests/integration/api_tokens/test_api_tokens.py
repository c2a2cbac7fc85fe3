"""Access control of the registration API (SPEC "Access control and abuse
limits"; issue 13) against the real rosterd: --api-tokens and its scopes
through raw frames, the CLI and libroster; ownership of leased instances
against a second client; the non-loopback guard; the audit log; SIGHUP
reload of the token file; names with a NUL or other bytes outside their
grammar refused in every field."""
import hashlib
import json
import os
import signal
import subprocess

import pytest

from harness import (ApiClient, Rosterd, binary, free_port, pb, wait_until)

OK = 0
INVALID_ARGUMENT = 1
INVALID_NAME = 2
PERMISSION_DENIED = 13

TOKENS = {
    "reader": ("r-secret-1", "read"),
    "web-deployer": ("w-secret-2", "write:web*"),
    "db-writer": ("d-secret-3", "write:db,read"),
    "ops": ("a-secret-4", "admin"),
}


def token_file(path, tokens=TOKENS, extra=""):
    lines = ["# name sha256:<hex> scopes"]
    for name, (secret, scopes) in tokens.items():
        lines.append(f"{name} sha256:{hashlib.sha256(secret.encode()).hexdigest()} {scopes}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra)
    return path


def auth(c, secret):
    return c.request(authenticate=pb().AuthenticateRequest(token=secret))


def inst_id(service, host="h1.lon6.example.net", port=80, protocol="tcp"):
    return pb().InstanceId(service=service, protocol=protocol, host=host, port=port)


def set_status(c, service, status, lease=0, **kw):
    return c.request(set_status=pb().SetStatusRequest(instance=inst_id(service, **kw),
                                                      status=status, lease=lease))


def deregister(c, service, owner_lease=0, **kw):
    return c.request(deregister=pb().DeregisterRequest(instance=inst_id(service, **kw),
                                                       owner_lease=owner_lease))


def audit_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f]


@pytest.fixture
def srv(tmp_path):
    tf = token_file(str(tmp_path / "tokens"))
    audit = str(tmp_path / "audit.log")
    with Rosterd(tmp_path, extra=["--api-tokens", tf, "--audit-log", audit]) as s:
        s.token_path, s.audit = tf, audit
        yield s


# ---- raw frames ------------------------------------------------------------


def test_unauthenticated_requests_are_refused_and_change_nothing(srv):
    with srv.client() as c:
        for op in ({"open_lease": pb().OpenLeaseRequest(ttl_seconds=10)},
                   {"list": pb().ListRequest()},
                   {"stats": pb().StatsRequest()},
                   {"query": pb().QueryRequest(service="web")}):
            r = c.request(**op)
            assert r.error == PERMISSION_DENIED, (op, r)
            assert "Authenticate" in r.message
        r = c.register("web", "tcp", "h1.lon6.example.net", 80, addresses=["10.0.0.1"])
        assert r.error == PERMISSION_DENIED
    with srv.client() as admin:
        assert auth(admin, "a-secret-4").error == OK
        assert list(admin.query("web").query.instances) == []
    assert srv.metric("roster_api_refused_total", reason="unauthenticated") == 5


def test_a_connection_that_keeps_being_refused_is_closed(srv):
    """Each refusal is an audit line: a client asking again and again what
    it may not do is closed after 16 refusals (their replies sent), so that
    it cannot rotate the audit history away on one connection."""
    with srv.client() as c:
        # One at a time: nothing unread is left on the socket at the close
        # (which would turn the FIN into a reset and lose the replies).
        replies = []
        for _ in range(16):
            c.send(list=pb().ListRequest())
            replies.append(c.recv().error)
        assert c.recv() is None, "closed after the 16th"
    assert replies == [PERMISSION_DENIED] * 16, replies
    wait_until(lambda: "16 requests refused, closing" in srv.logs(), 10, "the notice")
    assert len(audit_lines(srv.audit)) == 16
    with srv.client() as c:  # a new connection is served as before
        assert auth(c, "r-secret-1").error == OK


def test_a_wrong_token_is_refused_and_the_connection_stays_unauthenticated(srv):
    with srv.client() as c:
        r = auth(c, "not-a-token")
        assert r.error == PERMISSION_DENIED and "token refused" in r.message
        assert c.request(list=pb().ListRequest()).error == PERMISSION_DENIED
        r = auth(c, "r-secret-1")
        assert r.error == OK and r.authenticate.name == "reader"
        assert list(r.authenticate.scopes) == ["read"]
        assert c.request(list=pb().ListRequest()).error == OK
    assert srv.metric("roster_api_refused_total", reason="bad_token") == 1


def test_read_scope_reads_and_writes_nothing(srv):
    with srv.client() as c:
        assert auth(c, "r-secret-1").error == OK
        for op in ({"list": pb().ListRequest()}, {"stats": pb().StatsRequest()},
                   {"query": pb().QueryRequest(service="web")}):
            assert c.request(**op).error == OK, op
        r = c.request(open_lease=pb().OpenLeaseRequest(ttl_seconds=10))
        assert r.error == PERMISSION_DENIED and "no write scope" in r.message
        r = c.register("web", "tcp", "h1.lon6.example.net", 80)
        assert r.error == PERMISSION_DENIED and "may not write service 'web'" in r.message
        # A watch is a read.
        rid = c.send(watch=pb().WatchRequest(service="web"))
        assert c.wait(rid).error == OK


def test_backup_needs_an_admin_token(srv, tmp_path):
    """Backup (an admin operation, docs/operations.md "Backup") is refused to
    every other scope, and unauthenticated; an admin token gets the file."""
    path = str(tmp_path / "now.mdb")
    for secret in (None, "r-secret-1", "w-secret-2"):
        with srv.client() as c:
            if secret:
                assert auth(c, secret).error == OK
            r = c.request(backup=pb().BackupRequest(path=path))
            assert r.error == PERMISSION_DENIED, (secret, r.message)
            assert not os.path.exists(path)
    with srv.client() as c:
        assert auth(c, "a-secret-4").error == OK
        r = c.request(backup=pb().BackupRequest(path=path))
        assert r.error == OK, r.message
        assert os.path.getsize(path) == r.backup.bytes > 0


def test_write_glob_covers_its_services_only(srv):
    with srv.client() as c:
        r = auth(c, "w-secret-2")
        assert r.error == OK and list(r.authenticate.scopes) == ["write:web*"]
        lease = c.open_lease()
        for svc in ("web", "web-api", "WEBX"):
            r = c.register(svc, "tcp", "h1.lon6.example.net", 80, lease=lease)
            assert r.error == OK, (svc, r.message)
        for svc in ("db", "api-web"):
            r = c.register(svc, "tcp", "h1.lon6.example.net", 80, lease=lease)
            assert r.error == PERMISSION_DENIED, svc
        assert c.heartbeat(lease).heartbeat.instances == 3
        # write implies read.
        assert len(c.query("web").query.instances) == 1
        r = set_status(c, "web", pb().DOWN, lease=lease)
        assert r.error == OK, r.message
        r = set_status(c, "db", pb().DOWN)
        assert r.error == PERMISSION_DENIED
    assert srv.metric("roster_api_refused_total", reason="scope") == 3


def test_permanent_instances_change_only_with_a_covering_scope(srv):
    with srv.client() as db, srv.client() as web, srv.client() as admin:
        assert auth(db, "d-secret-3").error == OK
        assert auth(web, "w-secret-2").error == OK
        assert auth(admin, "a-secret-4").error == OK
        assert db.register("db", "tcp", "h1.lon6.example.net", 5432).error == OK
        assert set_status(web, "db", pb().DOWN, port=5432).error == PERMISSION_DENIED
        assert deregister(web, "db", port=5432).error == PERMISSION_DENIED
        assert set_status(db, "db", pb().DOWN, port=5432).error == OK
        r = admin.query("db", include_down=True).query.instances
        assert [i.status for i in r] == [pb().DOWN]
        assert deregister(admin, "db", port=5432).error == OK


# ---- ownership ---------------------------------------------------------------


def test_a_leased_instance_changes_only_through_its_lease_or_admin(srv):
    with srv.client() as owner, srv.client() as other, srv.client() as admin:
        for c in (owner, other):
            assert auth(c, "w-secret-2").error == OK
        assert auth(admin, "a-secret-4").error == OK
        mine = owner.open_lease()
        theirs = other.open_lease()
        r = owner.register("web", "tcp", "h1.lon6.example.net", 80, lease=mine,
                           addresses=["10.0.0.1"])
        assert r.error == OK
        # The same identity under another lease, or as permanent: a takeover.
        for lease in (theirs, 0):
            r = other.register("web", "tcp", "h1.lon6.example.net", 80, lease=lease,
                               addresses=["10.6.6.6"])
            assert r.error == PERMISSION_DENIED, lease
            assert "registered under lease" in r.message
            # The refusal names the lease without handing its id over.
            assert str(mine) not in r.message and f"{mine:016x}" not in r.message
            assert f"{mine >> 32:08x}..." in r.message
        assert set_status(other, "web", pb().DOWN).error == PERMISSION_DENIED
        assert set_status(other, "web", pb().DOWN, lease=theirs).error == PERMISSION_DENIED
        assert deregister(other, "web").error == PERMISSION_DENIED
        # Nothing changed: still UP, same address, still the owner's.
        got = admin.query("web").query.instances
        assert [(i.status, list(i.addresses), i.lease) for i in got] == \
            [(pb().UP, ["10.0.0.1"], mine)]
        assert owner.heartbeat(mine).heartbeat.instances == 1
        # Through the lease it works; an admin may too.
        assert set_status(owner, "web", pb().DOWN, lease=mine).error == OK
        assert set_status(admin, "web", pb().UP).error == OK
        assert deregister(owner, "web", owner_lease=mine).error == OK
    assert srv.metric("roster_api_refused_total", reason="owner") == 5


def test_a_lease_is_its_openers_token_s(tmp_path):
    """With tokens, a lease is acted through only with the token that opened
    it (or an admin one): another token with the same scope that learns the
    id (Query carries it) can neither renew, close nor write through it. A
    lease loaded after a restart is claimed by the first token that uses it."""
    tokens = {"web-a": ("wa-secret", "write:web*"), "web-b": ("wb-secret", "write:web*"),
              "db": ("db-secret", "read,write:db*"), "ops": ("a-secret-4", "admin")}
    tf = token_file(str(tmp_path / "tokens"), tokens)
    with Rosterd(tmp_path, extra=["--api-tokens", tf]) as s:
        with s.client() as a, s.client() as b, s.client() as admin:
            assert auth(a, "wa-secret").error == OK
            assert auth(b, "wb-secret").error == OK
            assert auth(admin, "a-secret-4").error == OK
            lease = a.open_lease()
            assert a.register("web", "tcp", "h1.lon6.example.net", 80, lease=lease).error == OK
            assert b.query("web").query.instances[0].lease == lease  # b can learn it
            refused = [
                b.request(heartbeat=pb().HeartbeatRequest(lease=lease)),
                b.register("web", "tcp", "h2.lon6.example.net", 80, lease=lease),
                set_status(b, "web", pb().DOWN, lease=lease),
                deregister(b, "web", owner_lease=lease),
                b.request(deregister=pb().DeregisterRequest(lease=lease)),
            ]
            for r in refused:
                assert r.error == PERMISSION_DENIED, r
                assert "opened with another token" in r.message, r.message
                assert str(lease) not in r.message and f"{lease:016x}" not in r.message
            got = a.query("web").query.instances
            assert [(i.host, i.status) for i in got] == [("h1.lon6.example.net.", pb().UP)]
            assert a.heartbeat(lease).heartbeat.instances == 1
            assert admin.heartbeat(lease).heartbeat.instances == 1  # an admin may
        s.stop()
        s.start()
        with s.client() as a, s.client() as b, s.client() as d:
            assert auth(a, "wa-secret").error == OK
            assert auth(b, "wb-secret").error == OK
            # Unowned after the restart, but not for a token that may not
            # write what it holds: "db" reads the id and cannot take the
            # lease, nor the web instance with it.
            assert auth(d, "db-secret").error == OK
            assert d.query("web").query.instances[0].lease == lease
            for r in (d.request(heartbeat=pb().HeartbeatRequest(lease=lease)),
                      d.request(deregister=pb().DeregisterRequest(lease=lease))):
                assert r.error == PERMISSION_DENIED, r
                assert "holds an instance of service 'web'" in r.message, r.message
            assert len(a.query("web").query.instances) == 1
            assert a.heartbeat(lease).heartbeat.instances == 1  # claims it again
            r = b.request(deregister=pb().DeregisterRequest(lease=lease))
            assert r.error == PERMISSION_DENIED, r
            assert a.heartbeat(lease).heartbeat.instances == 1


def test_ownership_holds_without_tokens(tmp_path):
    # The defect: a re-registration moved a leased instance out of
    # its owner's lease, and its heartbeat then held 0 instances.
    with Rosterd(tmp_path) as s, s.client() as owner, s.client() as other:
        mine = owner.open_lease()
        assert owner.register("web", "tcp", "h1.lon6.example.net", 80, lease=mine).error == OK
        theirs = other.open_lease()
        r = other.register("web", "tcp", "h1.lon6.example.net", 80, lease=theirs)
        assert r.error == PERMISSION_DENIED
        assert "admin" not in r.message  # no tokens: nobody is admin
        assert set_status(other, "web", pb().DOWN).error == PERMISSION_DENIED
        assert owner.heartbeat(mine).heartbeat.instances == 1
        # Authenticate against an open API: OK, no name.
        r = auth(other, "anything")
        assert r.error == OK and r.authenticate.name == ""
        # Permanent instances stay open without tokens.
        assert other.register("db", "tcp", "h2.lon6.example.net", 5432).error == OK
        assert set_status(owner, "db", pb().DOWN, host="h2.lon6.example.net",
                          port=5432).error == OK


# ---- audit ---------------------------------------------------------------------


def test_audit_lines_for_accepted_and_refused_writes(srv):
    with srv.client() as c, srv.client() as anon:
        assert auth(c, "w-secret-2").error == OK
        lease = c.open_lease()
        assert c.register("web", "tcp", "h1.lon6.example.net", 80, lease=lease).error == OK
        assert c.heartbeat(lease).error == OK
        assert c.register("db", "tcp", "h1.lon6.example.net", 80, lease=lease).error \
            == PERMISSION_DENIED
        assert anon.register("web", "tcp", "h\"q.example.net", 1).error == PERMISSION_DENIED
        port = anon.sock.getsockname()[1]
    lines = audit_lines(srv.audit)
    ops = [(l["op"], l["token"], l["result"], l.get("reason")) for l in lines]
    assert ops == [
        ("open_lease", "web-deployer", "OK", None),
        ("register", "web-deployer", "OK", None),
        ("register", "web-deployer", "PERMISSION_DENIED", "scope"),
        ("register", None, "PERMISSION_DENIED", "unauthenticated"),
    ]
    assert lines[1]["instance"] == "_web._tcp h1.lon6.example.net:80"
    assert lines[0]["instance"].startswith("lease ") and lines[0]["instance"].endswith("...")
    assert lines[3]["instance"] == '_web._tcp h"q.example.net:1'
    assert lines[3]["source"] == f"127.0.0.1:{port}"
    assert all(l["time"].endswith("Z") for l in lines)
    assert srv.metric("roster_api_audit_lines_total") == 4


def test_sighup_reopens_the_logs_after_logrotate(tmp_path):
    """SPEC: SIGHUP reopens logs. logrotate renames the audit log and the
    client-report log, then reloads rosterd: the next lines go to new files
    under the old names, none to the renamed ones."""
    audit = str(tmp_path / "audit.log")
    with Rosterd(tmp_path, extra=["--audit-log", audit,
                                  "--report-zone", "errors.example.net"]) as s, s.client() as c:
        reports = os.path.join(s.data, "client-reports.log")

        def report(code):
            subprocess.run(["dig", "@127.0.0.1", "-p", str(s.dns_port), "+tries=1",
                            f"{code}.v1.linux.n1.errors.example.net.", "A"],
                           capture_output=True, timeout=10, check=True)

        assert c.register("web", "tcp", "h1.lon6.example.net", 80).error == OK
        report("e1")
        os.rename(audit, audit + ".rot")
        os.rename(reports, reports + ".rot")
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: limits" in s.logs(), 10, "SIGHUP handled")
        assert c.register("web", "tcp", "h2.lon6.example.net", 80).error == OK
        report("e2")
        assert [l["instance"] for l in audit_lines(audit)] == ["_web._tcp h2.lon6.example.net:80"]
        assert [l["instance"] for l in audit_lines(audit + ".rot")] == \
            ["_web._tcp h1.lon6.example.net:80"]
        assert [json.loads(l)["code"] for l in open(reports)] == ["e2"]
        assert [json.loads(l)["code"] for l in open(reports + ".rot")] == ["e1"]


def test_audit_log_is_capped_and_rotated(tmp_path):
    audit = str(tmp_path / "audit.log")
    with Rosterd(tmp_path, extra=["--audit-log", audit, "--audit-log-max", "4096"]) as s, \
            s.client() as c:
        for port in range(1, 60):
            assert c.register("web", "tcp", "h1.lon6.example.net", port).error == OK
    assert os.path.getsize(audit) <= 4096
    assert os.path.getsize(audit + ".1") <= 4096
    n = len(audit_lines(audit)) + len(audit_lines(audit + ".1"))
    assert 20 < n <= 59


# ---- reload ----------------------------------------------------------------------


def test_sighup_reloads_tokens_and_a_bad_file_keeps_the_old_set(srv):
    with srv.client() as c:
        assert auth(c, "r-secret-1").error == OK
        # Revoke "reader", add "new".
        tokens = dict(TOKENS)
        del tokens["reader"]
        tokens["new"] = ("n-secret-5", "read")
        token_file(srv.token_path, tokens)
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: limits" in srv.logs(), 10, "SIGHUP handled")
        # The revoked token no longer reads, on an open connection too.
        assert c.request(list=pb().ListRequest()).error == PERMISSION_DENIED
        with srv.client() as n:
            assert auth(n, "n-secret-5").error == OK
        # A bad file: one error line naming the line, the old set stays.
        token_file(srv.token_path, tokens, extra="broken sha256:abc read\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "tokens not reloaded" in srv.logs(), 10, "the error line")
        line = [l for l in srv.logs().splitlines() if "tokens not reloaded" in l]
        assert len(line) == 1 and "line 6" in line[0] and "sha256" in line[0]
        assert srv.metric("roster_api_token_reload_failures_total") == 1
        with srv.client() as n:
            assert auth(n, "n-secret-5").error == OK
            assert auth(n, "r-secret-1").error == PERMISSION_DENIED
        # A file with no token left (a truncating config push): refused
        # too, since in force it would refuse every heartbeat of the site.
        with open(srv.token_path, "w") as f:
            f.write("# emptied\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "no token in the file" in srv.logs(), 10, "the error line")
        assert srv.metric("roster_api_token_reload_failures_total") == 2
        with srv.client() as n:
            assert auth(n, "n-secret-5").error == OK


def test_dropping_dry_run_from_the_config_file_enforces_the_tokens(tmp_path):
    """docs/operations.md "Rolling tokens out": drop api-tokens-dry-run from
    the config file and send SIGHUP. A setting the file no longer names goes
    back to its default, as at a start, and the notice names it."""
    tf = token_file(str(tmp_path / "tokens"))
    conf = tmp_path / "rosterd.conf"
    conf.write_text("api-tokens-dry-run = true\nmax-inflight = 64\n")
    with Rosterd(tmp_path, extra=["--api-tokens", tf, "--config", str(conf)]) as s:
        with s.client() as anon:
            assert anon.request(list=pb().ListRequest()).error == OK  # dry run: served
        conf.write_text("max-inflight = 64\n")
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "changed: api-tokens-dry-run" in s.logs(), 10, "the reload's notice")
        with s.client() as anon:
            assert anon.request(list=pb().ListRequest()).error == PERMISSION_DENIED


def test_a_revoked_tokens_watch_ends(srv):
    """A Watch is one request: after a SIGHUP that removes its token, the
    stream ends PERMISSION_DENIED and the connection closes, instead of
    carrying every later change to a revoked reader."""
    with srv.client() as w:
        assert auth(w, "r-secret-1").error == OK
        wid = w.send(watch=pb().WatchRequest(service="web"))
        tokens = dict(TOKENS)
        del tokens["reader"]
        token_file(srv.token_path, tokens)
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "its token was removed" in srv.logs(), 10, "the notice")
        with srv.client() as a:
            assert auth(a, "w-secret-2").error == OK
            assert a.register("web", "tcp", "after.lon6.example.net", 80).error == OK
        seen = []
        while True:
            r = w.recv()
            if r is None:
                break
            seen.append(r)
        assert seen and seen[-1].id == wid and seen[-1].error == PERMISSION_DENIED, seen
        assert not any("after.lon6" in str(r) for r in seen), "no change after the revocation"


def test_a_bad_token_file_stops_the_start(tmp_path):
    bad = tmp_path / "tokens"
    bad.write_text("ops sha256:" + "0" * 64 + " admin,root\n")
    s = Rosterd(tmp_path, extra=["--api-tokens", str(bad)])
    s.start(wait=False)
    assert s.proc.wait(timeout=20) == 2
    s.proc = None
    s.log.close()
    assert "line 1: unknown scope 'root'" in s.logs()


# ---- the non-loopback guard ----------------------------------------------------------


def test_an_open_api_on_a_non_loopback_address_needs_api_open(tmp_path):
    args = [binary("server/rosterd"), "--site", "lon6", "--domain", "example.net",
            "--data", str(tmp_path / "d"), "--api", "0.0.0.0:%d" % free_port(),
            "--dns", "127.0.0.1:%d" % free_port(both=True), "--http",
            "127.0.0.1:%d" % free_port()]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "not a loopback address" in p.stderr and "--api-open" in p.stderr
    assert "--api-tokens" in p.stderr


def test_api_open_and_tokens_each_lift_the_guard(tmp_path):
    tf = token_file(str(tmp_path / "tokens"))
    for extra in (["--api-open"], ["--api-tokens", tf]):
        s = Rosterd(tmp_path, extra=extra)
        s.args = (lambda s=s: [a.replace("127.0.0.1:%d" % s.api_port, "0.0.0.0:%d" % s.api_port)
                               for a in Rosterd.args(s)])
        with s:
            with ApiClient(s.api_port) as c:
                r = c.request(list=pb().ListRequest())
                assert r.error == (OK if extra == ["--api-open"] else PERMISSION_DENIED)
            # An open API past loopback is said once at start, as a warning.
            warned = f"api: 0.0.0.0:{s.api_port} is open (--api-open, no --api-tokens)"
            assert (s.logs().count(warned) == 1) == (extra == ["--api-open"]), s.logs()


# ---- names refused byte for byte -------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("service", "web\0x"),
    ("protocol", "tcp\0"),
    ("host", "evil.lon6.example.net\0.good.net"),
    ("metadata-key", "ver\0sion"),
    ("metadata-value", "1.2\0.3"),
    ("address", "10.0.0.1\0"),
])
def test_a_nul_byte_is_refused_in_every_field(tmp_path, field, value):
    with Rosterd(tmp_path) as s, s.client() as c:
        kw = dict(service="web", protocol="tcp", host="h1.lon6.example.net", port=80,
                  addresses=["10.0.0.1"], metadata={"version": "1"})
        if field.startswith("metadata-"):
            kw["metadata"] = {value: "1"} if field == "metadata-key" else {"version": value}
        elif field == "address":
            kw["addresses"] = [value]
        else:
            kw[field] = value
        r = c.request(register=pb().RegisterRequest(instance=pb().Instance(**kw)))
        assert r.error == INVALID_NAME, r
        assert "NUL" in r.message
        assert list(c.query("web", include_down=True).query.instances) == []
        assert list(c.request(list=pb().ListRequest()).list.services) == []
        # Reads too: a query for "web\0x" is not a query for "web".
        assert c.query("web\0x").error == INVALID_NAME


@pytest.mark.parametrize("field,value,code", [
    ("service", "web x", INVALID_NAME),
    ("service", "wéb", INVALID_NAME),
    ("protocol", "t_p", INVALID_NAME),
    ("host", "evil\x01.example.net", INVALID_NAME),
    ("host", "a..b", INVALID_NAME),
    ("metadata-key", "a=b", INVALID_ARGUMENT),
    ("metadata-key", "a b", INVALID_ARGUMENT),
    ("metadata-value", "line\nbreak", INVALID_ARGUMENT),
    ("metadata-value", "bell\x07", INVALID_ARGUMENT),
])
def test_bytes_outside_the_grammar_are_refused(tmp_path, field, value, code):
    with Rosterd(tmp_path) as s, s.client() as c:
        kw = dict(service="web", protocol="tcp", host="h1.lon6.example.net", port=80)
        if field == "metadata-key":
            kw["metadata"] = {value: "1"}
        elif field == "metadata-value":
            kw["metadata"] = {"k": value}
        else:
            kw[field] = value
        r = c.request(register=pb().RegisterRequest(instance=pb().Instance(**kw)))
        assert r.error == code, r
        assert list(c.request(list=pb().ListRequest()).list.services) == []


# ---- the CLI and libroster ------------------------------------------------------------

import sys  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import interrupt, roster, running  # noqa: E402

IDENT = ["--host", "h1.lon6.example.net", "--port", "80", "--protocol", "tcp"]


def cli_env(srv, token=None):
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    if token is not None:
        env["ROSTER_TOKEN"] = token
    return env


def test_cli_scopes_through_roster_token_and_token_file(srv, tmp_path):
    # No token: refused, exit 3, the reason said.
    r = roster("list", env=cli_env(srv))
    assert r.returncode == 3 and "permission denied" in r.stderr.lower(), r.stderr
    # read: list yes, register no.
    assert roster("list", env=cli_env(srv, "r-secret-1")).returncode == 0
    r = roster("register", "--service", "web", *IDENT, "--permanent",
               env=cli_env(srv, "r-secret-1"))
    assert r.returncode == 3 and "may not write service 'web'" in r.stderr, r.stderr
    # write:web* from a token file (first line, blanks cut) wins over ROSTER_TOKEN.
    tf = tmp_path / "tok"
    tf.write_text("  w-secret-2 \nignored\n")
    env = cli_env(srv, "r-secret-1")
    r = roster("--token-file", str(tf), "register", "--service", "web", *IDENT, "--permanent",
               env=env)
    assert r.returncode == 0, r.stderr
    r = roster("--token-file", str(tf), "register", "--service", "db", *IDENT, "--permanent",
               env=env)
    assert r.returncode == 3 and "permission denied" in r.stderr.lower()
    r = roster("--token-file", str(tf), "status", "--service", "web", *IDENT, "down", env=env)
    assert r.returncode == 0, r.stderr
    # A wrong token.
    r = roster("list", env=cli_env(srv, "nope"))
    assert r.returncode == 3 and "token refused" in r.stderr, r.stderr
    # A token file without a token is a usage error.
    empty = tmp_path / "empty"
    empty.write_text("\n")
    r = roster("--token-file", str(empty), "list", env=cli_env(srv))
    assert r.returncode == 2 and "no token" in r.stderr


def test_libroster_engine_authenticates_and_owns_its_lease(srv):
    cmd = [binary("client/roster"), "register", "--service", "web", *IDENT, "--ttl", "5"]
    with running(cmd, env=cli_env(srv, "w-secret-2")) as p:
        first = p.stdout.readline()
        assert first.startswith("registered h1.lon6.example.net.:80"), first
        # A second client with the same scopes cannot take it over or drain it.
        other = cli_env(srv, "w-secret-2")
        r = roster("status", "--service", "web", *IDENT, "down", env=other)
        assert r.returncode == 3 and "registered under lease" in r.stderr, r.stderr
        r = roster("register", "--service", "web", *IDENT, "--permanent",
                   "--address", "10.6.6.6", env=other)
        assert r.returncode == 3
        r = roster("deregister", "--service", "web", *IDENT, env=other)
        assert r.returncode == 3
        # An admin can.
        r = roster("status", "--service", "web", *IDENT, "down", env=cli_env(srv, "a-secret-4"))
        assert r.returncode == 0, r.stderr
        rc, out, err = interrupt(p)
        assert rc == 0, err
        assert out.startswith("deregistered h1.lon6.example.net.:80")
    with srv.client() as c:
        assert auth(c, "a-secret-4").error == OK
        assert list(c.query("web", include_down=True).query.instances) == []


def test_libroster_engine_out_of_scope_fails_with_the_reason(srv):
    cmd = [binary("client/roster"), "register", "--service", "db", *IDENT, "--ttl", "5",
           "--timeout", "2000"]
    r = subprocess.run(cmd, env=cli_env(srv, "w-secret-2"), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0
    assert "permission denied" in r.stderr.lower(), r.stderr


def test_a_restarted_process_gets_its_identity_back_when_the_old_lease_expires(tmp_path):
    # The old owner died without deregistering: its lease holds the
    # identity for one TTL, and the new process's registration is refused
    # until then; libroster retries and takes it once the lease is gone.
    with Rosterd(tmp_path) as s, s.client() as old:
        lease = old.open_lease(ttl=2)
        assert old.register("web", "tcp", "h1.lon6.example.net", 80, lease=lease).error == OK
        cmd = [binary("client/roster"), "register", "--service", "web", *IDENT, "--ttl", "2"]
        with running(cmd, env=cli_env(s)) as p:
            def mine():
                with s.client() as c:
                    got = c.query("web").query.instances
                return got and got[0].lease != lease
            wait_until(mine, 15, "the new process's lease holds the identity")
            interrupt(p)


def test_dry_run_serves_what_tokens_would_refuse_and_says_so(tmp_path):
    tf = token_file(str(tmp_path / "tokens"))
    audit = str(tmp_path / "audit.log")
    with Rosterd(tmp_path, extra=["--api-tokens", tf, "--api-tokens-dry-run",
                                  "--audit-log", audit]) as s:
        with s.client() as anon, s.client() as reader, s.client() as owner:
            # A wrong token: answered as an open API would.
            r = auth(anon, "wrong")
            assert r.error == OK and r.authenticate.name == ""
            assert anon.register("web", "tcp", "h1.lon6.example.net", 80).error == OK
            assert auth(reader, "r-secret-1").error == OK
            assert reader.register("db", "tcp", "h1.lon6.example.net", 80).error == OK
            # Ownership is not a token matter: enforced in dry run too.
            assert auth(owner, "w-secret-2").error == OK
            lease = owner.open_lease()
            assert owner.register("web", "tcp", "h9.lon6.example.net", 80,
                                  lease=lease).error == OK
            assert set_status(reader, "web", pb().DOWN, host="h9.lon6.example.net").error \
                == PERMISSION_DENIED
        assert s.metric("roster_api_refused_total", reason="bad_token") == 1
        assert s.metric("roster_api_refused_total", reason="unauthenticated") == 1
        # The reader's SetStatus: outside its scopes (served in dry run),
        # then another lease's instance (refused).
        assert s.metric("roster_api_refused_total", reason="scope") == 2
        assert s.metric("roster_api_refused_total", reason="owner") == 1
    lines = audit_lines(audit)
    would = [(l["op"], l["result"], l["would_refuse"]) for l in lines if "would_refuse" in l]
    assert would == [("authenticate", "OK", "bad_token"), ("register", "OK", "unauthenticated"),
                     ("register", "OK", "scope")]
    assert [l["reason"] for l in lines if "reason" in l] == ["owner"]
