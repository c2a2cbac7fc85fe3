"""Self-preservation: a mass expiry stops expiry, keeps serving, says so,
and ends by itself once the leases that still renew have renewed for a
window, re-basing on them."""
import time

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from dns_helpers import ZONE, wait_dns
from harness import Rosterd, hold_for, pb, wait_until


def gauge(srv, name):
    return srv.metric(name)


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
        wait_until(lambda: renew() or c.stats().preserving, 8,
                   "self-preservation (75% of leases lost at once look like a partition)",
                   interval=0.2)
        # The 30 deadlines spread over a few ticks: once the last has passed,
        # 9 expired (the 10th would pass 15% and the minimum of 10) and 21
        # are held, stale; and it stays so while the 10 renew.
        def held():
            renew()
            st = c.stats()
            return st if st.preserving and st.instances == 31 and st.instances_stale == 21 \
                else None
        wait_until(held, 5, "9 expired and 21 held", interval=0.2)
        st = hold_for(1.0, held, "9 expired and 21 held", interval=0.2)
        q = c.query("web").query
        assert q.preserving and sum(1 for i in q.instances if i.stale) == 21
        assert "self-preservation ON" in s.logs()
        # Renewals of the 10 continue for a whole window: it leaves, dropping the held.
        def left():
            renew()
            st = c.stats()
            return None if st.preserving else st
        st = wait_until(left, 10, "self-preservation left", interval=0.2)
        assert not st.preserving and st.instances == 10 and st.instances_stale == 0, st
        assert "self-preservation OFF" in s.logs()


def test_keep_last_keeps_service_alive(tmp_path):
    extra = ["--keep-last", "--no-self-preservation"]
    with Rosterd(tmp_path, extra=extra) as s, s.client() as c:
        lease = c.open_lease(1)
        assert c.register("solo", "tcp", "s1.example.net", 80, lease=lease).error == 0
        # Wait for the expiry (registry_expiry times it) rather than a fixed
        # 2.5 s; all along, the instance must never leave the answer.
        def stale():
            q = c.query("solo").query
            assert len(q.instances) == 1, "keep-last let the service's last instance go"
            return q.instances[0].stale
        wait_until(stale, 10, "the lease expired, its instance kept stale", interval=0.05)
        assert c.heartbeat(lease).error == pb().UNKNOWN_LEASE
        # The service comes back: registering again makes it fresh.
        lease = c.open_lease(5)
        assert c.register("solo", "tcp", "s1.example.net", 80, lease=lease).error == 0
        assert not c.query("solo").query.instances[0].stale


def test_keep_last_keeps_every_lease_that_stops_together(tmp_path):
    """The audit's case: a service on two leases whose hosts stop together.
    The leases expire a few ticks apart; both instances are kept, stale,
    not only the one whose lease happened to go last."""
    extra = ["--keep-last", "--keep-last-max-age", "4"]
    with Rosterd(tmp_path, extra=extra) as s, s.client() as c:
        wait_dns(s)
        name = "_kl._tcp." + ZONE
        first = c.open_lease(1)
        assert c.register("kl", "tcp", "k1.example.net", 80, lease=first).error == 0
        time.sleep(0.3)  # time passing is the test: the second lease expires 3 ticks later
        second = c.open_lease(1)
        assert c.register("kl", "tcp", "k2.example.net", 80, lease=second).error == 0
        # Neither lease is renewed. Until the second expires its instance is
        # fresh; from then on the answer is stale (EDE 3) and must hold both.
        q = dns.message.make_query(name, "SRV", use_edns=0)
        def stale_answer():
            r = dns.query.udp(q, "127.0.0.1", port=s.dns_port, timeout=5)
            return r if any(o.otype == dns.edns.EDE for o in r.options) else None
        r = wait_until(stale_answer, 5, "the answer stale (EDE)", interval=0.05)
        ede = [o for o in r.options if o.otype == dns.edns.EDE]
        assert ede[0].code == 3, "Stale Answer"
        targets = sorted(str(rd.target) for rrset in r.answer
                         if rrset.rdtype == dns.rdatatype.SRV for rd in rrset)
        assert targets == ["k1.example.net.", "k2.example.net."], r
        inst = c.query("kl").query.instances
        assert sorted(i.host.rstrip(".") for i in inst) == ["k1.example.net", "k2.example.net"]
        assert all(i.stale for i in inst)
        st = c.stats()
        assert st.instances == 2 and st.instances_stale == 2 and st.leases == 0, st
        # --keep-last-max-age still ends it, for both.
        wait_until(lambda: not c.query("kl").query.instances, 8,
                   "the kept instances dropped at --keep-last-max-age", interval=0.1)
        r = dns.query.udp(q, "127.0.0.1", port=s.dns_port, timeout=5)
        assert r.rcode() == dns.rcode.NXDOMAIN
        for host in ("k1", "k2"):  # served stale until now: their going is logged
            assert s.logs().count(f"keep-last: removed _kl._tcp {host}.example.net.:80") == 1


def test_keep_last_drops_an_instance_while_others_renew(tmp_path):
    """Only instances that stop with the service's last fresh one are kept:
    one that stops while another keeps renewing leaves the answer at once,
    and is not brought back by an expiry more than a TTL later."""
    extra = ["--keep-last"]
    with Rosterd(tmp_path, extra=extra) as s, s.client() as c:
        dead = c.open_lease(1)
        alive = c.open_lease(1)
        assert c.register("kl", "tcp", "k1.example.net", 80, lease=dead).error == 0
        assert c.register("kl", "tcp", "k2.example.net", 80, lease=alive).error == 0
        pending = set()

        def beat_and_look():
            assert c.heartbeat(alive).error == 0
            pending.add(gauge(s, "roster_instances_pending"))
            return True
        # > 2 s: k1's expiry plus its 1 s hold.
        hold_for(3.5, beat_and_look, "k2's lease renewed", interval=0.2)
        # k1 was held, unserved, for its 1 s hold, then let go.
        assert pending == {0, 1}, pending
        assert gauge(s, "roster_instances_pending") == 0
        inst = c.query("kl").query.instances
        assert [i.host.rstrip(".") for i in inst] == ["k2.example.net"]
        assert not inst[0].stale
        assert c.stats().expirations_total == 1
        # Now k2 stops too: it is kept alone, stale once its lease expires
        # (waited for, not a fixed 2.5 s), and never leaves the answer.
        t_stop = time.monotonic()

        def k2_alone():
            inst = c.query("kl").query.instances
            assert [i.host.rstrip(".") for i in inst] == ["k2.example.net"]
            return inst[0].stale
        wait_until(k2_alone, 10, "k2's lease expired, k2 kept stale", interval=0.05)
        # And still alone a while after (k1 is not brought back later).
        hold_for(max(0.0, t_stop + 2.5 - time.monotonic()), k2_alone, "k2 alone and stale")
