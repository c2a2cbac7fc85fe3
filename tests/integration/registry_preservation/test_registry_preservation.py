"""Self-preservation: a mass expiry stops expiry, keeps serving, says so,
and ends by itself once the leases that still renew have renewed for a
window, re-basing on them."""
import time

from harness import Rosterd, pb


def test_engages_then_rebases(tmp_path):
    extra = ["--preserve-window", "5s"]
    with Rosterd(tmp_path, extra=extra) as s, s.client() as c:
        leases = [c.open_lease(2) for _ in range(40)]
        alive = leases[:10]  # 30 of 40 stop renewing at once

        def renew():
            for l in alive:
                assert c.heartbeat(l).error == 0

        for k, l in enumerate(leases):
            assert c.register("web", "http", f"w{k}.example.net", 80, lease=l).error == 0
            if k % 10 == 0:
                renew()  # a slow (sanitizer) build must not lose the live ones
        t0 = time.monotonic()
        while time.monotonic() - t0 < 8 and not c.stats().preserving:
            renew()
            time.sleep(0.2)
        assert c.stats().preserving, "75% of leases lost at once must look like a partition"
        # The 30 deadlines spread over a few ticks: let the last ones pass.
        t1 = time.monotonic()
        while time.monotonic() - t1 < 2.5:
            renew()
            time.sleep(0.2)
        st = c.stats()
        # 9 expired (the 10th would pass 15% and the minimum of 10): 21 held, stale.
        assert st.preserving and st.instances == 31 and st.instances_stale == 21, st
        q = c.query("web").query
        assert q.preserving and sum(1 for i in q.instances if i.stale) == 21
        assert "self-preservation ON" in s.logs()
        # Renewals of the 10 continue for a whole window: it leaves, dropping the held.
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            renew()
            time.sleep(0.2)
            if not c.stats().preserving:
                break
        st = c.stats()
        assert not st.preserving and st.instances == 10 and st.instances_stale == 0, st
        assert "self-preservation OFF" in s.logs()


def test_keep_last_keeps_service_alive(tmp_path):
    extra = ["--keep-last", "--no-self-preservation"]
    with Rosterd(tmp_path, extra=extra) as s, s.client() as c:
        lease = c.open_lease(1)
        assert c.register("solo", "tcp", "s1.example.net", 80, lease=lease).error == 0
        time.sleep(2.5)
        q = c.query("solo").query
        assert len(q.instances) == 1 and q.instances[0].stale
        assert c.heartbeat(lease).error == pb().UNKNOWN_LEASE
        # The service comes back: registering again makes it fresh.
        lease = c.open_lease(5)
        assert c.register("solo", "tcp", "s1.example.net", 80, lease=lease).error == 0
        assert not c.query("solo").query.instances[0].stale
