"""LMDB failing under the real rosterd: a commit that fails (EIO, a full
disk, a full map), MDB_PANIC, a put that meets a full map, a map that
cannot grow and a map at its maximum. Faults come from tests/faults/
lmdbfault.c, an LD_PRELOAD shim over the real liblmdb (the product has no
switch for them); a marker file arms a fault, so the test decides when it
strikes.

What is asserted is what SPEC and docs/registry.md promise to the outside,
through the API, DNS, restarts, the exit status and the log lines
docs/operations.md lists: a write is acknowledged only once it is on disk;
a failed commit answers each write of its batch with STORAGE_ERROR
(STORAGE_FULL for a full disk or map) and leaves nothing of them served;
later writes succeed; a restart holds exactly what was acknowledged;
MDB_PANIC stops rosterd with exit 1; the map grows where it can, and at
--map-max new records get STORAGE_FULL while deregistrations, heartbeats
and DNS go on. Nothing here depends on which thread commits or in which
order the calls are made."""
import os
import re
import subprocess

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from harness import ApiClient, Rosterd, binary, pb, wait_until

ZONE = "services.lon6.example.net."
SHIM = "tests/faults/liblmdbfault.so"
MIB = 1 << 20


def preload():
    """LD_PRELOAD for the shim. In a sanitizer build the ASan runtime must
    come first in the process's library list, so it is named before the
    shim (ASan refuses to run otherwise)."""
    libs = [binary(SHIM)]
    ldd = subprocess.run(["ldd", binary("server/rosterd")], capture_output=True, text=True).stdout
    m = re.search(r"(\S*libasan\.so\S*) => (\S+)", ldd)
    if m:
        libs.insert(0, m.group(2))
    return ":".join(libs)


class FaultyRosterd(Rosterd):
    """rosterd with the shim preloaded and configured by @p fault
    (LMDBFAULT_* without the prefix: CALL, ERROR, TXN, WHILE, ONCE...).
    Every injected failure is logged to self.fault_log."""

    def __init__(self, tmpdir, fault, **kw):
        super().__init__(tmpdir, **kw)
        self.fault = dict(fault)
        self.fault_log = os.path.join(self.tmpdir, "faults.log")

    def env(self):
        e = dict(os.environ)
        e["LD_PRELOAD"] = preload()
        e["LMDBFAULT_LOG"] = self.fault_log
        for k, v in self.fault.items():
            e["LMDBFAULT_" + k] = str(v)
        return e

    def faults(self):
        """The failures injected so far, one "<call> <code> <n>" each."""
        if not os.path.exists(self.fault_log):
            return []
        with open(self.fault_log) as f:
            return f.read().splitlines()


def inst(service, host, port, weight=10, meta=None):
    return pb().Instance(service=service, protocol="tcp", host=host, port=port, weight=weight,
                         metadata=meta or {})


def register(c, i, lease=0):
    return c.request(register=pb().RegisterRequest(instance=i, lease=lease))


def deregister(c, i):
    ident = pb().InstanceId(service=i.service, protocol=i.protocol, host=i.host, port=i.port)
    return c.request(deregister=pb().DeregisterRequest(instance=ident))


def served(c, service):
    """(host, port, weight) of every instance Query shows for the service."""
    r = c.query(service, "tcp", include_down=True)
    assert r.error == 0, r.message
    return sorted((i.host, i.port, i.weight) for i in r.query.instances)


def dns_ask(srv, name, rdtype):
    q = dns.message.make_query(name, rdtype)
    return dns.query.tcp(q, "127.0.0.1", port=srv.dns_port, timeout=5)


def dns_srv(srv, service):
    """(target, port, weight) of the SRV answer for _service._tcp."""
    r = dns_ask(srv, f"_{service}._tcp.{ZONE}", "SRV")
    assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), dns.rcode.to_text(r.rcode())
    return sorted((rd.target.to_text(), rd.port, rd.weight) for rr in r.answer for rd in rr)


def soa_serial(srv):
    r = dns_ask(srv, ZONE, "SOA")
    return r.answer[0][0].serial


def metric(srv, name):
    return srv.metric(name)


def host(name):
    """The FQDN of a test host, as Query and DNS show it."""
    return f"{name}.lon6.example.net."


target = host


def stop_clean(srv):
    """SIGTERM, exit 0. (kill -9 is registry_restart's: here a clean stop
    also lets a coverage build write its counters.)"""
    rc = srv.stop()
    assert rc == 0, f"exit {rc}\n{srv.logs()[-3000:]}"


def wait_exit(srv, timeout=15):
    """The exit status of a rosterd that stops by itself."""
    rc = srv.proc.wait(timeout=timeout)
    srv.proc = None
    srv.log.close()
    return rc


# ---- a commit that fails ----------------------------------------------------------


@pytest.mark.parametrize("error, code", [
    ("EIO", "STORAGE_ERROR"),
    ("ENOSPC", "STORAGE_FULL"),
    ("MAP_FULL", "STORAGE_FULL"),
])
def test_failed_commit_refuses_its_batch_and_loses_nothing(tmp_path, error, code):
    marker = tmp_path / "fail-commits"
    srv = FaultyRosterd(tmp_path, {"CALL": "commit", "TXN": "top", "ERROR": error,
                                   "WHILE": marker})
    with srv:
        c = srv.client()
        keep, gone = inst("web", host("keep"), 80), inst("web", host("gone"), 80)
        for i in (keep, gone):
            r = register(c, i)
            assert r.error == 0, r.message
        acked_rev = r.register.revision
        assert soa_serial(srv) == acked_rev % 2**32
        before = served(c, "web")
        assert before == [(host("gone"), 80, 10), (host("keep"), 80, 10)]
        # A watcher that started before the failure.
        w = ApiClient(srv.api_port)
        w.send(watch=pb().WatchRequest(service="web", since_revision=acked_rev))

        marker.touch()
        # One pipelined burst of writes of every kind while commits fail:
        # new instances, an update, a deregistration, a status change.
        new = [inst("web", host(f"new{k}"), 80) for k in range(3)]
        ids = [c.send(register=pb().RegisterRequest(instance=i)) for i in new]
        ids.append(c.send(register=pb().RegisterRequest(instance=inst("web", host("keep"), 80,
                                                                       weight=77))))
        gone_id = pb().InstanceId(service="web", protocol="tcp", host=host("gone"), port=80)
        ids.append(c.send(deregister=pb().DeregisterRequest(instance=gone_id)))
        ids.append(c.send(set_status=pb().SetStatusRequest(
            instance=pb().InstanceId(service="web", protocol="tcp", host=host("keep"), port=80),
            status=pb().DOWN)))
        want = getattr(pb(), code)
        for rid in ids:
            r = c.wait(rid)
            assert r.error == want, (rid, r)
        assert srv.faults(), "the shim never failed a commit"
        assert "store commit failed" in srv.logs()
        # Nothing of the refused writes is served, by Query or by DNS, and
        # the zone is at the acknowledged revision.
        assert served(c, "web") == before
        assert dns_srv(srv, "web") == [(target("gone"), 80, 10), (target("keep"), 80, 10)]
        assert soa_serial(srv) == acked_rev % 2**32
        # Reads go on while commits fail.
        assert c.stats().instances == 2

        # The watcher never reports a refused write as done: it either saw
        # its stream closed (and must resubscribe), or it sees the next
        # acknowledged change without any refused one before it.
        marker.unlink()
        later = inst("web", host("later"), 80)
        r = register(c, later)
        assert r.error == 0, r.message
        assert r.register.revision > acked_rev
        seen, closed = [], False
        w.sock.settimeout(10)
        while True:
            ev = w.recv()
            if ev is None:
                closed = True
                break
            assert ev.error == 0, ev
            seen.append(ev.watch_event.instance.host)
            if ev.watch_event.instance.host == host("later"):
                break
        refused_seen = {host(f"new{k}") for k in range(3)} & set(seen)
        assert closed or not refused_seen, (
            f"the watch stream reported refused writes {refused_seen} and went on: {seen}")
        w.close()

        assert served(c, "web") == before + [(host("later"), 80, 10)]
        assert (target("later"), 80, 10) in dns_srv(srv, "web")
        c.close()
        srv.kill9()  # what was acknowledged is on disk, not in a final flush
    # A restart, without the shim, holds exactly what was acknowledged.
    with Rosterd(tmp_path, data=srv.data) as again:
        with again.client() as c:
            assert served(c, "web") == before + [(host("later"), 80, 10)]
        assert dns_srv(again, "web") == [(target("gone"), 80, 10), (target("keep"), 80, 10),
                                         (target("later"), 80, 10)]


def test_commit_failing_again_and_again_keeps_refusing_then_recovers(tmp_path):
    """Several batches in a row fail (each rebuild from the disk must itself
    work); the first commit after the fault clears is acknowledged."""
    marker = tmp_path / "fail-commits"
    srv = FaultyRosterd(tmp_path, {"CALL": "commit", "TXN": "top", "ERROR": "EIO",
                                   "WHILE": marker})
    with srv, srv.client() as c:
        assert register(c, inst("db", host("a"), 5432)).error == 0
        marker.touch()
        for k in range(5):
            r = register(c, inst("db", host(f"x{k}"), 5432))
            assert r.error == pb().STORAGE_ERROR, r
        assert len(srv.faults()) >= 5
        assert served(c, "db") == [(host("a"), 5432, 10)]
        marker.unlink()
        r = register(c, inst("db", host("b"), 5432))
        assert r.error == 0, r.message
        assert served(c, "db") == [(host("a"), 5432, 10), (host("b"), 5432, 10)]
        assert metric(srv, "roster_store_commit_failures_total") >= 5


def test_lease_writes_refused_by_a_failed_commit_leave_no_lease(tmp_path):
    """OpenLease is a write too: refused with its batch, the lease does not
    exist afterwards (a heartbeat on its id is UNKNOWN_LEASE)."""
    marker = tmp_path / "fail-commits"
    srv = FaultyRosterd(tmp_path, {"CALL": "commit", "TXN": "top", "ERROR": "EIO",
                                   "WHILE": marker})
    with srv, srv.client() as c:
        lease = c.open_lease(ttl=30)
        assert register(c, inst("api", host("a"), 1), lease=lease).error == 0
        marker.touch()
        r = c.request(open_lease=pb().OpenLeaseRequest(ttl_seconds=30))
        assert r.error == pb().STORAGE_ERROR, r
        refused = r.open_lease.lease
        r = c.request(deregister=pb().DeregisterRequest(lease=lease))
        assert r.error == pb().STORAGE_ERROR, r
        marker.unlink()
        # The acknowledged lease still holds its instance; the refused
        # deregistration changed nothing.
        r = c.heartbeat(lease)
        assert r.error == 0 and r.heartbeat.instances == 1, r
        if refused:
            assert c.heartbeat(refused).error == pb().UNKNOWN_LEASE
        assert served(c, "api") == [(host("a"), 1, 10)]


# ---- MDB_PANIC ------------------------------------------------------------------------


def panic_after_one_write(tmp_path):
    """A rosterd whose second write batch meets MDB_PANIC at its commit:
    (the rosterd, the reply or exception of the second write)."""
    marker = tmp_path / "panic"
    srv = FaultyRosterd(tmp_path, {"CALL": "commit", "TXN": "top", "ERROR": "PANIC",
                                   "WHILE": marker})
    srv.start()
    with srv.client() as c:
        r = register(c, inst("db", host("acked"), 5432))
        assert r.error == 0, r.message
        marker.touch()
        rid = c.send(register=pb().RegisterRequest(instance=inst("db", host("lost"), 5432)))
        # Never acknowledged: an error reply, or a close as the process stops.
        try:
            r = c.wait(rid)
            assert r.error != 0, r
        except (ConnectionError, OSError) as e:
            r = e
    assert srv.faults(), "the shim never failed a commit"
    return srv, r


def test_panic_on_commit_refuses_the_write_and_the_restart_serves_what_was_acked(tmp_path):
    srv, _ = panic_after_one_write(tmp_path)
    try:
        wait_until(lambda: "store commit failed" in srv.logs(), 10, "the commit failure logged")
        # It stops by itself (no signal: one sent while it exits would
        # race its own exit code).
        rc = wait_exit(srv, timeout=15)
        assert rc == 1, f"exit {rc}\n{srv.logs()[-3000:]}"
    finally:
        if srv.proc is not None:
            srv.kill9()
    # The supervisor's restart serves the acknowledged state.
    with Rosterd(tmp_path, data=srv.data) as again:
        assert dns_srv(again, "db") == [(target("acked"), 5432, 10)]
        with again.client() as c:
            assert served(c, "db") == [(host("acked"), 5432, 10)]


def test_panic_on_commit_exits_1_by_itself(tmp_path):
    """docs/registry.md: MDB_PANIC "stops the process with exit 1 for the
    supervisor to restart it" - without anyone sending it a signal."""
    srv, _ = panic_after_one_write(tmp_path)
    try:
        rc = wait_exit(srv, timeout=10)
        assert rc == 1, f"exit {rc}\n{srv.logs()[-3000:]}"
    except subprocess.TimeoutExpired:
        raise AssertionError("rosterd still running 10 s after MDB_PANIC:\n" + srv.logs()[-2000:])
    finally:
        if srv.proc is not None:
            srv.kill9()


# ---- the map: growing, failing to grow, at its maximum ----------------------------


def fill(c, srv, upto_pct, service="fill"):
    """Permanent instances with 3.5 KB of metadata each, a few at a time,
    until the store uses @p upto_pct per cent of its map. The map must not
    grow meanwhile (batches are small against the room left)."""
    map0 = metric(srv, "roster_store_map_bytes")
    n = 0
    while c.stats().store_bytes * 100 < map0 * upto_pct:
        ids = [c.send(register=pb().RegisterRequest(
            instance=inst(service, host(f"f{n + k}"), 9000, meta={"pad": "x" * 3500})))
            for k in range(8)]
        for rid in ids:
            r = c.wait(rid)
            assert r.error == 0, r.message
        n += 8
    assert metric(srv, "roster_store_map_bytes") == map0, "the map grew while filling"
    return n


# Each write that may meet a full map, given a client and arm() (which arms
# the fault once the write's own set-up is done): (its reply, or None for
# one no client asked for; a check that it took effect, run against any
# client of the registry).


def op_open_lease(c, arm):
    arm()
    r = c.request(open_lease=pb().OpenLeaseRequest(ttl_seconds=30))
    return r, lambda c: c.heartbeat(r.open_lease.lease).error == 0


def op_register(c, arm):
    arm()
    i = inst("grow", host("new"), 1)
    return register(c, i), lambda c: served(c, "grow") == [(host("new"), 1, 10)]


def op_update(c, arm):
    arm()
    return (register(c, inst("fill", host("f0"), 9000, weight=99)),
            lambda c: (host("f0"), 9000, 99) in served(c, "fill"))


def op_set_status(c, arm):
    arm()
    ident = pb().InstanceId(service="fill", protocol="tcp", host=host("f0"), port=9000)
    r = c.request(set_status=pb().SetStatusRequest(instance=ident, status=pb().DOWN))

    def down(c):
        return [i.status for i in c.query("fill", "tcp", include_down=True).query.instances
                if i.host == host("f0")] == [pb().DOWN]
    return r, down


def op_deregister(c, arm):
    arm()
    return (deregister(c, inst("fill", host("f1"), 9000)),
            lambda c: host("f1") not in [h for h, _, _ in served(c, "fill")])


def op_deregister_lease(c, arm):
    lease = c.open_lease(ttl=30)
    for port in (1, 2):
        assert register(c, inst("leased", host("l"), port), lease=lease).error == 0
    arm()
    r = c.request(deregister=pb().DeregisterRequest(lease=lease))
    return r, lambda c: (served(c, "leased") == [] and
                         c.heartbeat(lease).error == pb().UNKNOWN_LEASE)


def op_expiry(c, arm):
    """Not a request: the expiry of a lease, on rosterd's own tick."""
    lease = c.open_lease(ttl=1)
    assert register(c, inst("expiring", host("e"), 1), lease=lease).error == 0
    arm()
    wait_until(lambda: served(c, "expiring") == [], 10, "the lease expired")
    return None, lambda c: served(c, "expiring") == []


@pytest.mark.parametrize("op", [op_open_lease, op_register, op_update, op_set_status,
                                op_deregister, op_deregister_lease, op_expiry],
                         ids=lambda f: f.__name__[3:])
def test_write_meeting_a_full_map_grows_it_and_succeeds(tmp_path, op):
    """Past half of a 1 MiB map, the next write's first put (or delete)
    meets MDB_MAP_FULL once: the map grows and the write is done (and
    acknowledged, for a request), and it is there after a restart."""
    marker = tmp_path / "map-full"
    call = "del" if op in (op_deregister, op_deregister_lease, op_expiry) else "put"
    srv = FaultyRosterd(tmp_path, {"CALL": call, "ERROR": "MAP_FULL", "ONCE": marker},
                        extra=["--map-size", "1M", "--map-max", "8M"])
    with srv, srv.client() as c:
        fill(c, srv, 55)
        map0 = metric(srv, "roster_store_map_bytes")
        assert map0 == MIB
        r, check = op(c, marker.touch)
        assert not marker.exists(), "the write never reached LMDB"
        assert srv.faults(), "no fault injected"
        assert r is None or r.error == 0, r
        assert check(c)
        assert metric(srv, "roster_store_map_bytes") > map0
        assert "map grown" in srv.logs()
        rev = c.stats().revision
        stop_clean(srv)
    with Rosterd(tmp_path, data=srv.data, extra=["--map-size", "1M", "--map-max", "8M"]) as again:
        with again.client() as c:
            assert c.stats().revision == rev
            assert check(c)


def test_map_that_cannot_grow_refuses_writes_then_recovers(tmp_path):
    """Every resize fails (EIO) while the marker exists: the map fills up
    for real and a write that meets MDB_MAP_FULL is refused, nothing
    acknowledged is lost, DNS goes on; once resizing works again the map
    grows and writes succeed."""
    marker = tmp_path / "no-resize"
    srv = FaultyRosterd(tmp_path, {"CALL": "mapsize", "ERROR": "EIO", "WHILE": marker},
                        extra=["--map-size", "1M", "--map-max", "8M"])
    with srv, srv.client() as c:
        marker.touch()
        acked, refused = [], None
        for n in range(400):
            i = inst("big", host(f"b{n}"), 1, meta={"pad": "x" * 3500})
            r = register(c, i)
            if r.error != 0:
                refused = r
                break
            acked.append(host(f"b{n}"))
        assert refused is not None, "a 1 MiB map took 1.4 MB"
        assert refused.error in (pb().STORAGE_FULL, pb().STORAGE_ERROR), refused
        assert srv.faults()
        assert metric(srv, "roster_store_map_bytes") == MIB
        assert [h for h, _, _ in served(c, "big")] == sorted(acked)
        assert len(dns_ask(srv, f"_big._tcp.{ZONE}", "SRV").answer) == 1
        if refused.error == pb().STORAGE_FULL:
            # The log names the limit that was met, not --map-max (8 MiB,
            # far away): the map could not grow past 1 MiB.
            wait_until(lambda: "the map cannot grow past 1 MiB (--map-max is 8 MiB)"
                       in srv.logs(), 10, "the real limit in the log")
            assert "full at its maximum" not in srv.logs()
        marker.unlink()
        wait_until(lambda: register(c, inst("big", host("after"), 1)).error == 0, 10,
                   "a write once the map can grow")
        assert metric(srv, "roster_store_map_bytes") > MIB
        assert len(served(c, "big")) == len(acked) + 1
        stop_clean(srv)
    with Rosterd(tmp_path, data=srv.data) as again, again.client() as c:
        assert [h for h, _, _ in served(c, "big")] == sorted(acked + [host("after")])


def test_map_at_its_maximum_refuses_new_records_but_deletes_and_heartbeats_work(tmp_path):
    """No fault injected: a real 1 MiB map at --map-max 1 MiB fills up.
    New records get STORAGE_FULL and the log says so; deregistrations,
    heartbeats, Query and DNS go on; a restart holds what was acknowledged."""
    with Rosterd(tmp_path, extra=["--map-size", "1M", "--map-max", "1M"]) as srv:
        c = srv.client()
        lease = c.open_lease(ttl=60)
        assert register(c, inst("leased", host("l"), 1), lease=lease).error == 0
        acked, refused = [], None
        for n in range(400):
            r = register(c, inst("big", host(f"b{n}"), 1, meta={"pad": "x" * 3500}))
            if r.error != 0:
                refused = r
                break
            acked.append(host(f"b{n}"))
        assert refused is not None, "a 1 MiB map took 1.4 MB"
        assert refused.error == pb().STORAGE_FULL, refused
        # Logged (at most every few seconds, docs/registry.md), maybe after the reply.
        wait_until(lambda: "store: full at its maximum" in srv.logs(), 10,
                   "the refusal logged")
        assert metric(srv, "roster_store_map_bytes") == MIB
        # A smaller record may still fit under the mark, or be refused too:
        # either way, the restart below must agree with the reply.
        r = register(c, inst("small", host("s"), 1))
        assert r.error in (0, pb().STORAGE_FULL), r
        small = [(host("s"), 1, 10)] if r.error == 0 else []
        # Deregistrations work, and DNS follows them.
        for h in acked[:5]:
            r = deregister(c, inst("big", h, 1))
            assert r.error == 0 and r.deregister.removed == 1, r
        acked = acked[5:]
        assert [h for h, _, _ in served(c, "big")] == sorted(acked)
        answer = dns_ask(srv, f"_big._tcp.{ZONE}", "SRV")
        assert sorted(rd.target.to_text() for rr in answer.answer for rd in rr) == \
            sorted(acked)
        # Heartbeats work.
        r = c.heartbeat(lease)
        assert r.error == 0 and r.heartbeat.instances == 1, r
        c.close()
        stop_clean(srv)
    with Rosterd(tmp_path, data=srv.data, extra=["--map-size", "1M", "--map-max", "1M"]) as again:
        with again.client() as c:
            assert [h for h, _, _ in served(c, "big")] == sorted(acked)
            assert served(c, "small") == small
