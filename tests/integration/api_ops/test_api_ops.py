"""Every operation of the registration API against the real rosterd."""

import pytest

from harness import Rosterd, hold_for, pb


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


def test_open_lease_defaults_and_bounds(srv):
    with srv.client() as c:
        r = c.request(open_lease=pb().OpenLeaseRequest())
        assert r.error == 0 and r.open_lease.ttl_seconds == 10 and r.open_lease.lease != 0
        r2 = c.request(open_lease=pb().OpenLeaseRequest(ttl_seconds=3600))
        assert r2.error == 0 and r2.open_lease.lease != r.open_lease.lease
        for bad in (3601, 100000):
            r = c.request(open_lease=pb().OpenLeaseRequest(ttl_seconds=bad))
            assert r.error == pb().INVALID_ARGUMENT and "out of range" in r.message


def test_register_query_revision_and_update(srv):
    with srv.client() as c:
        lease = c.open_lease(10)
        r = c.register("Metadata", "hm", "Lon6-MetadataProxy-a1.lon6.example.net", 1234,
                       lease=lease, addresses=["10.0.0.1", "fd00::1"], weight=5, priority=1,
                       metadata={"version": "1.2"})
        assert r.error == 0, r.message
        assert r.register.created and r.register.revision >= 1
        rev1 = r.register.revision
        q = c.query("metadata", "hm")
        assert q.error == 0 and len(q.query.instances) == 1
        i = q.query.instances[0]
        assert i.service == "metadata" and i.protocol == "hm"
        assert i.host == "lon6-metadataproxy-a1.lon6.example.net."
        assert list(i.addresses) == ["10.0.0.1", "fd00::1"]
        assert i.weight == 5 and i.priority == 1 and i.metadata["version"] == "1.2"
        assert i.status == pb().UP and i.expiry == pb().TIMED and i.lease == lease
        assert i.registered_at_ms > 1.7e12
        # the same identity again: an update, not a second instance
        r = c.register("metadata", "hm", "lon6-metadataproxy-a1.lon6.example.net.", 1234,
                       lease=lease, addresses=["10.0.0.2"])
        assert r.error == 0 and not r.register.created and r.register.revision > rev1
        q = c.query("metadata")
        assert [list(x.addresses) for x in q.query.instances] == [["10.0.0.2"]]
        # identical re-registration changes nothing
        r2 = c.register("metadata", "hm", "lon6-metadataproxy-a1.lon6.example.net.", 1234,
                        lease=lease, addresses=["10.0.0.2"])
        assert r2.register.revision == r.register.revision
        assert c.stats().revision == r.register.revision


def test_permanent_registration_and_deregister(srv):
    with srv.client() as c:
        r = c.register("db", "tcp", "db1.lon6.example.net", 5432)
        assert r.error == 0
        i = c.query("db").query.instances[0]
        assert i.expiry == pb().NEVER and i.lease == 0
        d = c.request(deregister=pb().DeregisterRequest(instance=pb().InstanceId(
            service="db", protocol="tcp", host="db1.lon6.example.net", port=5432)))
        assert d.error == 0 and d.deregister.removed == 1
        assert len(c.query("db").query.instances) == 0
        d = c.request(deregister=pb().DeregisterRequest(instance=pb().InstanceId(
            service="db", protocol="tcp", host="db1.lon6.example.net", port=5432)))
        assert d.error == pb().NOT_FOUND


def test_heartbeat_renews_every_instance_of_lease(srv):
    with srv.client() as c:
        lease = c.open_lease(2)
        for port in (1, 2, 3):
            assert c.register("web", "http", "web1.lon6.example.net", port, lease=lease).error == 0
        def beat():
            h = c.heartbeat(lease)
            assert h.error == 0 and h.heartbeat.instances == 3 and h.heartbeat.ttl_seconds == 2
            return len(c.query("web").query.instances) == 3
        # 3 s > TTL, kept alive by heartbeats alone (one every 0.5 s).
        hold_for(3.0, beat, "the lease's instances kept by heartbeats", interval=0.5)
        h = c.heartbeat(12345)
        assert h.error == pb().UNKNOWN_LEASE


def test_deregister_lease_removes_all(srv):
    with srv.client() as c:
        lease = c.open_lease()
        for port in (1, 2):
            c.register("a", "tcp", "h.example.net", port, lease=lease)
        d = c.request(deregister=pb().DeregisterRequest(lease=lease))
        assert d.error == 0 and d.deregister.removed == 2
        assert c.heartbeat(lease).error == pb().UNKNOWN_LEASE
        assert c.register("a", "tcp", "h.example.net", 3, lease=lease).error == pb().UNKNOWN_LEASE


def test_set_status_and_starting(srv):
    with srv.client() as c:
        assert c.register("svc", "tcp", "h1.example.net", 80, status=pb().STARTING).error == 0
        assert len(c.query("svc").query.instances) == 0, "STARTING is not served"
        assert len(c.query("svc", include_down=True).query.instances) == 1
        iid = pb().InstanceId(service="svc", protocol="tcp", host="h1.example.net", port=80)
        for st, served in ((pb().UP, 1), (pb().DOWN, 0), (pb().UP, 1)):
            r = c.request(set_status=pb().SetStatusRequest(instance=iid, status=st))
            assert r.error == 0 and r.set_status.revision > 0
            assert len(c.query("svc").query.instances) == served
        r = c.request(set_status=pb().SetStatusRequest(instance=iid, status=0))
        assert r.error == pb().INVALID_ARGUMENT
        iid.port = 81
        r = c.request(set_status=pb().SetStatusRequest(instance=iid, status=pb().UP))
        assert r.error == pb().NOT_FOUND


def test_list_and_stats(srv):
    with srv.client() as c:
        c.register("b", "tcp", "h1.example.net", 1)
        c.register("a", "udp", "h1.example.net", 1)
        c.register("a", "tcp", "h1.example.net", 1)
        c.register("a", "tcp", "h2.example.net", 1, status=pb().DOWN)
        lst = c.request(list=pb().ListRequest()).list
        assert [(s.service, s.protocol, s.up, s.down) for s in lst.services] == [
            ("a", "tcp", 1, 1), ("a", "udp", 1, 0), ("b", "tcp", 1, 0)]
        st = c.stats()
        assert st.instances == 4 and st.instances_up == 3 and st.services == 3
        assert st.site == "lon6" and st.zone == "services.lon6.example.net."
        assert st.api_connections >= 1 and not st.preserving and st.store_bytes > 0


@pytest.mark.parametrize("field,value,code,word", [
    ("service", "bad_name", "INVALID_NAME", "service"),
    ("service", "", "INVALID_NAME", "service"),
    ("service", "a" * 64, "INVALID_NAME", "service"),
    ("protocol", "-tcp", "INVALID_NAME", "protocol"),
    ("host", "a..b.example.net", "INVALID_NAME", "host"),
    ("host", "x" * 64 + ".example.net", "INVALID_NAME", "host"),
    ("host", ".".join(["abcdefghi"] * 26), "INVALID_NAME", "host"),
    ("host", "10.1.2.3", "INVALID_NAME", "host"),
    ("host", "h;rm -rf.example.net", "INVALID_NAME", "host"),
    ("host", "web1", "INVALID_NAME", "a single label is not a fully qualified host name"),
    ("port", 0, "INVALID_ARGUMENT", "port"),
    ("port", 65536, "INVALID_ARGUMENT", "port"),
    ("weight", 70000, "INVALID_ARGUMENT", "invalid weight 70000 (0-65535)"),
    ("priority", 65536, "INVALID_ARGUMENT", "invalid priority 65536 (0-65535)"),
    ("addresses", ["10.0.0.300"], "INVALID_ARGUMENT", "address"),
    ("addresses", ["host.example.net"], "INVALID_ARGUMENT", "address"),
])
def test_register_rejects_bad_values(srv, field, value, code, word):
    base = dict(service="web", protocol="http", host="web1.example.net", port=80)
    if field == "addresses":
        inst = pb().Instance(**base, addresses=value)
    else:
        base[field] = value
        inst = pb().Instance(**base)
    with srv.client() as c:
        r = c.request(register=pb().RegisterRequest(instance=inst))
        assert r.error == getattr(pb(), code), r
        assert word in r.message
        assert c.stats().instances == 0, "nothing was stored"


def test_limits_instances_per_lease_and_metadata(tmp_path):
    with Rosterd(tmp_path, extra=["--max-instances-per-lease", "2", "--max-metadata", "16"]) as s:
        with s.client() as c:
            lease = c.open_lease()
            assert c.register("a", "tcp", "h.example.net", 1, lease=lease).error == 0
            assert c.register("a", "tcp", "h.example.net", 2, lease=lease).error == 0
            r = c.register("a", "tcp", "h.example.net", 3, lease=lease)
            assert r.error == pb().LIMIT_EXCEEDED and "limit" in r.message
            r = c.register("m", "tcp", "h.example.net", 1, metadata={"k": "v" * 20})
            assert r.error == pb().LIMIT_EXCEEDED


def test_limit_exceeded_names_the_limit_and_its_value(tmp_path):
    extra = ["--max-instances-per-lease", "2", "--max-metadata", "16", "--max-instances", "3"]
    with Rosterd(tmp_path, extra=extra) as s:
        with s.client() as c:
            lease = c.open_lease()
            for port in (1, 2):
                assert c.register("a", "tcp", "h.example.net", port, lease=lease).error == 0
            r = c.register("a", "tcp", "h.example.net", 3, lease=lease)
            assert r.error == pb().LIMIT_EXCEEDED
            assert r.message == (f"limit exceeded: 3 instances under lease {lease:016x} "
                                 "(max-instances-per-lease 2)"), r.message
            r = c.register("m", "tcp", "h.example.net", 1, metadata={"k": "v" * 20})
            assert r.error == pb().LIMIT_EXCEEDED
            assert r.message == ("limit exceeded: 21 metadata bytes on _m._tcp h.example.net:1 "
                                 "(max-metadata 16)"), r.message
            assert c.register("b", "tcp", "h.example.net", 1).error == 0
            r = c.register("b", "tcp", "h.example.net", 2)
            assert r.error == pb().LIMIT_EXCEEDED
            assert r.message == ("limit exceeded: 4 instances in the registry "
                                 "(max-instances 3)"), r.message
            r = c.register("b", "tcp", "h.example.net", 3, addresses=["10.0.0.1"] * 17)
            assert r.error == pb().LIMIT_EXCEEDED
            assert r.message == "limit exceeded: 17 addresses on one instance (limit 16)"
            assert c.stats().instances == 3, "nothing refused was stored"


def test_watch_snapshot_then_events_and_replay(srv):
    with srv.client() as c, srv.client() as w:
        c.register("web", "http", "w1.example.net", 80)
        c.register("other", "http", "o1.example.net", 80)
        wid = w.send(watch=pb().WatchRequest(service="web"))
        evs = [w.wait(wid)]
        while evs[-1].watch_event.kind != pb().WatchEvent.SNAPSHOT_END:
            evs.append(w.wait(wid))
        kinds = [e.watch_event.kind for e in evs]
        assert kinds == [pb().WatchEvent.SNAPSHOT_BEGIN, pb().WatchEvent.UPSERT,
                         pb().WatchEvent.SNAPSHOT_END]
        assert evs[1].watch_event.instance.host == "w1.example.net."
        snap_rev = evs[-1].watch_event.revision
        r = c.register("web", "http", "w2.example.net", 80)
        c.register("other", "http", "o2.example.net", 80)  # filtered out
        ev = w.wait(wid).watch_event
        assert ev.kind == pb().WatchEvent.UPSERT and ev.instance.host == "w2.example.net."
        assert ev.revision == r.register.revision
        c.request(deregister=pb().DeregisterRequest(instance=pb().InstanceId(
            service="web", protocol="http", host="w1.example.net", port=80)))
        ev = w.wait(wid).watch_event
        assert ev.kind == pb().WatchEvent.REMOVE and ev.reason == "deregistered"
    # a new watcher replays from the journal without a snapshot
    with srv.client() as w2:
        wid = w2.send(watch=pb().WatchRequest(service="web", since_revision=snap_rev))
        e1 = w2.wait(wid).watch_event
        e2 = w2.wait(wid).watch_event
        assert (e1.kind, e2.kind) == (pb().WatchEvent.UPSERT, pb().WatchEvent.REMOVE)
        assert e1.revision > snap_rev


def test_pipelined_requests_answered_with_their_ids(srv):
    with srv.client() as c:
        ids = []
        for k in range(200):
            ids.append(c.send(register=pb().RegisterRequest(instance=pb().Instance(
                service="p", protocol="tcp", host=f"h{k}.example.net", port=80))))
        got = {}
        while len(got) < len(ids):
            r = c.recv()
            got[r.id] = r
        assert all(got[i].error == 0 for i in ids)
        revs = [got[i].register.revision for i in ids]
        assert revs == sorted(revs) and len(set(revs)) == 200
        assert len(c.query("p").query.instances) == 200


def test_unknown_operation_is_an_error_not_a_close(srv):
    with srv.client() as c:
        r = c.request()  # an envelope with no operation
        assert r.error == pb().UNSUPPORTED
        assert c.stats().revision == 0


def test_cancel_watch_stops_events(srv):
    with srv.client() as c, srv.client() as w:
        wid = w.send(watch=pb().WatchRequest())
        while w.wait(wid).watch_event.kind != pb().WatchEvent.SNAPSHOT_END:
            pass
        r = w.request(cancel_watch=pb().CancelWatchRequest(watch_id=wid))
        assert r.error == 0
        c.register("web", "http", "w1.example.net", 80)
        # the next reply on the watcher's connection is for its next request, not an event
        r = w.request(stats=pb().StatsRequest())
        assert r.error == 0 and r.stats.instances == 1
        assert wid not in w.pending
        r = w.request(cancel_watch=pb().CancelWatchRequest(watch_id=wid))
        assert r.error == pb().NOT_FOUND


def test_listens_on_ipv4_and_ipv6(tmp_path):
    import socket
    from harness import free_port, start_rosterd

    def make():
        # Ports of our own, picked again if another socket takes one first.
        s = Rosterd(tmp_path, extra=["--api", "127.0.0.1:%d" % free_port(),
                                     "--api", "[::1]:%d" % free_port()])
        s.port6 = int(s.extra[-1].rsplit(":", 1)[1])
        return s

    with start_rosterd(make) as s:
        port6 = s.port6
        c6 = socket.create_connection(("::1", port6), timeout=5)
        c6.close()
        assert "api listening on [::1]:%d" % port6 in s.logs()


def test_stats_counts_dns_queries(srv):
    import dns.message
    import dns.query
    with srv.client() as c:
        before = c.stats().dns_queries_total
        for _ in range(3):
            dns.query.udp(dns.message.make_query("services.lon6.example.net", "SOA"),
                          "127.0.0.1", port=srv.dns_port, timeout=5)
        assert c.stats().dns_queries_total == before + 3
