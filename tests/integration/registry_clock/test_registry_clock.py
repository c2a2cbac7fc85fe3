"""Liveness runs on the monotonic clock: a wall-clock jump (NTP step, VM
resume) neither expires leases nor keeps dead ones alive (catalogue 4.5).
libfaketime moves the wall clock of the real rosterd while it runs."""
import os
import time

from harness import Rosterd, hold_for, wait_change

LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def preload_list(binary):
    """libfaketime, after ASan's runtime when the binary is instrumented
    (ASan must be the first library loaded)."""
    import subprocess
    libs = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    asan = [l.split("=>")[1].split()[0] for l in libs.splitlines() if "libasan" in l]
    return ":".join(asan + [LIB])


class FakeClockRosterd(Rosterd):
    def __init__(self, tmpdir, offset_file, **kw):
        super().__init__(tmpdir, **kw)
        self.offset_file = offset_file

    # Through Rosterd.start(), which picks new ports if one was taken.
    def env(self):
        return dict(os.environ, LD_PRELOAD=preload_list(self.args()[0]), FAKETIME_TIMESTAMP_FILE=str(self.offset_file),
                    FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1")


def test_wall_clock_jumps_do_not_touch_leases(tmp_path):
    assert os.path.exists(LIB), "libfaketime is installed by tests/run.sh"
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    s = FakeClockRosterd(tmp_path, offset)
    with s, s.client() as c:
        lease = c.open_lease(2)
        assert c.register("web", "http", "w1.example.net", 80, lease=lease).error == 0
        before = c.query("web").query.instances[0].registered_at_ms
        offset.write_text("+2h\n")  # the wall clock jumps two hours ahead
        hold_for(0.5, lambda: len(c.query("web").query.instances) == 1,
                 "the lease after a forward jump of the wall clock")
        assert c.heartbeat(lease).error == 0
        assert c.register("web", "http", "w2.example.net", 80, lease=lease).error == 0
        later = [i.registered_at_ms for i in c.query("web").query.instances
                 if i.host == "w2.example.net."][0]
        assert later - before > 7000 * 1000, "the faked wall clock is in effect"
        offset.write_text("-2h\n")  # and two hours back
        hold_for(0.5, lambda: len(c.query("web").query.instances) == 2,
                 "the lease after a backward jump of the wall clock")
        t_sent = time.monotonic()
        assert c.heartbeat(lease).error == 0
        # Without heartbeats, the lease dies on time whatever the wall clock
        # says. The renewal happened between t_sent and t0: "not before" is
        # measured from t_sent to the reply that saw it gone, "not after"
        # from t0 to the send of a query that still saw it, so a slow client
        # under load cannot fail either bound.
        t0 = time.monotonic()
        last_served, gone_at = wait_change(lambda: c.query("web").query.instances, 10,
                                           "the lease expired (TTL 2 s)", interval=0.05)
        seen = (last_served or t0) - t0
        assert seen <= 3.5, f"still served {seen:.2f}s after the heartbeat (TTL 2 s)"
        gone = gone_at - t_sent
        assert gone >= 1.5, f"expired after {gone:.2f}s (TTL 2 s)"
