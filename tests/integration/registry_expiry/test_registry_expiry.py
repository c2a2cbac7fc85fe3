"""Lease expiry on time: not before the TTL, no later than 1 s after it."""
import time

from harness import Rosterd, hold_for, pb, wait_change


def test_expiry_after_ttl_not_before(tmp_path):
    with Rosterd(tmp_path) as s, s.client() as c:
        lease = c.open_lease(1)
        # The last renewal happened at the server between the heartbeat's
        # send (t_sent) and its reply (t0). Each bound is measured from the
        # side of that interval that cannot blame the server for a slow
        # client: "not before" from t_sent to the reply that saw it gone,
        # "not after" from t0 to the send of a query that still saw it.
        t_sent = time.monotonic()
        hb = c.heartbeat(lease)
        t0 = time.monotonic()
        assert hb.error == 0
        assert c.register("web", "http", "w1.example.net", 80, lease=lease).error == 0
        last_served, gone = wait_change(lambda: c.query("web").query.instances, 4,
                                        "the lease expired (TTL 1 s)")
        seen = (last_served or t0) - t0
        assert seen <= 2.0, f"still served {seen:.3f}s after the last heartbeat (> TTL + 1 s)"
        gone_at = gone - t_sent
        assert gone_at >= 1.0, f"expired {gone_at:.3f}s after the last heartbeat (TTL 1 s)"
        assert c.heartbeat(lease).error == pb().UNKNOWN_LEASE
        st = c.stats()
        assert st.expirations_total == 1 and st.leases == 0
    assert "expired 1 lease" in s.logs()


def test_heartbeats_keep_many_leases_alive(tmp_path):
    with Rosterd(tmp_path) as s, s.client() as c:
        leases = [c.open_lease(2) for _ in range(50)]
        for k, l in enumerate(leases):
            assert c.register("web", "http", f"w{k}.example.net", 80, lease=l).error == 0
        def beat_all():
            ids = [c.send(heartbeat=pb().HeartbeatRequest(lease=l)) for l in leases]
            assert all(c.wait(i).error == 0 for i in ids)
            return len(c.query("web").query.instances) == 50
        # 3 s > TTL, every lease renewed every 0.3 s.
        hold_for(3.0, beat_all, "50 leases kept by heartbeats", interval=0.3)
        assert c.stats().expirations_total == 0
