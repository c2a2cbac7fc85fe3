"""Slow or hostile API clients cannot hold resources (SPEC "Access control
and abuse limits", issue 13): 500 connections trickling a frame one byte at
a time are all closed within twice the idle timeout while another client
keeps being answered; a client that sends Watch after Watch and never reads
is cut off once what is held and queued for it passes --max-outbuf, with
rosterd's RSS bounded near it."""
import selectors
import socket
import struct
import time

from harness import ApiClient, Rosterd, pb, wait_until

IDLE_S = 2.0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_500_slow_frame_connections_are_closed_within_twice_the_idle_timeout(tmp_path):
    with Rosterd(tmp_path, extra=["--idle-timeout", "2s"]) as s, s.client() as probe:
        sel = selectors.DefaultSelector()
        opened = {}
        for _ in range(500):
            c = socket.create_connection(("127.0.0.1", s.api_port))
            c.setblocking(False)
            # A frame declared 1,000 bytes long, never whole.
            c.send(struct.pack(">I", 1000))
            opened[c] = time.monotonic()
            sel.register(c, selectors.EVENT_READ)
        closed = {}
        worst_probe = 0.0
        deadline = time.monotonic() + 4 * IDLE_S + 10
        while len(closed) < len(opened) and time.monotonic() < deadline:
            # One more byte on every open connection, a few times a second:
            # under the old rule each byte restarted the idle timer.
            for c in opened:
                if c in closed:
                    continue
                try:
                    c.send(b"x")
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    closed[c] = time.monotonic()
                    sel.unregister(c)
            for key, _ in sel.select(timeout=0.25):
                c = key.fileobj
                try:
                    data = c.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    closed[c] = time.monotonic()
                    sel.unregister(c)
            # The probe is answered all along.
            t0 = time.monotonic()
            assert probe.request(stats=pb().StatsRequest()).error == 0
            worst_probe = max(worst_probe, time.monotonic() - t0)
        assert len(closed) == 500, f"{500 - len(closed)} trickling connections still open"
        late = [closed[c] - opened[c] for c in opened if closed[c] - opened[c] > 2 * IDLE_S]
        assert late == [], f"{len(late)} closed after 2x the idle timeout (max {max(late):.2f} s)"
        assert worst_probe < IDLE_S, f"the probe waited {worst_probe:.2f} s"
        assert s.metric("roster_api_closed_total", reason="idle") >= 500
        for c in opened:
            c.close()


def test_a_watch_client_that_never_reads_is_cut_off_near_max_outbuf(tmp_path):
    max_outbuf = 1 << 20
    with Rosterd(tmp_path, extra=["--max-outbuf", str(max_outbuf), "--max-metadata", "8192",
                                  "--max-instances-per-lease", "100000"]) as s, \
            s.client() as c:
        # About 2 MB of state: each Watch(since 0) snapshot is larger than
        # the cap, a hundred of them 100 times it.
        meta = {f"k{i}": "v" * 100 for i in range(16)}
        lease = c.open_lease(ttl=300)
        for batch in range(12):
            ids = [c.send(register=pb().RegisterRequest(instance=pb().Instance(
                service="web", protocol="tcp", host=f"h{batch}-{i}.lon6.example.net", port=80,
                addresses=["10.0.0.1"], metadata=meta), lease=lease)) for i in range(100)]
            for rid in ids:
                assert c.wait(rid).error == 0
        base = rss_kib(s.proc.pid)
        hog = socket.socket()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.connect(("127.0.0.1", s.api_port))
        frames = b""
        for rid in range(1, 101):
            body = pb().Request(id=rid, watch=pb().WatchRequest(since_revision=0))
            body = body.SerializeToString()
            frames += struct.pack(">I", len(body)) + body
        hog.sendall(frames)
        peak = [base]

        def cut_off():
            peak[0] = max(peak[0], rss_kib(s.proc.pid))
            return "over --max-outbuf" in s.logs() or "not reading its replies" in s.logs()
        wait_until(cut_off, 30, "the non-reading watcher cut off", interval=0.02)
        # Another client is served at once.
        with ApiClient(s.api_port) as other:
            t0 = time.monotonic()
            assert other.request(list=pb().ListRequest()).error == 0
            assert time.monotonic() - t0 < 1.0
        assert s.metric("roster_api_closed_total", reason="slow_reader") >= 1
        # Bounded near the cap: a snapshot or two over it (each ~2 MB plus
        # its encoding scratch), not the hundred snapshots (~200 MB).
        grown_mib = (peak[0] - base) / 1024
        assert grown_mib < 48, f"RSS grew {grown_mib:.1f} MiB for a {max_outbuf >> 20} MiB cap"
        hog.close()
