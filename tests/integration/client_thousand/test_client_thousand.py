"""A thousand clients, each with its own lease and connection, heartbeating
against one rosterd from one process (one libuv loop), without tripping a
limit; prints the client-side CPU cost per heartbeat."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import Probe  # noqa: E402
from harness import Rosterd  # noqa: E402

CLIENTS = 1000


def test_thousand_clients_one_loop(tmp_path):
    with Rosterd(tmp_path, extra=["--log-level", "notice"]) as srv:
        with Probe("many", "--server", f"127.0.0.1:{srv.api_port}", "--clients", CLIENTS,
                   "--ttl", "3", "--seconds", "6", "--service", "fleet", "--protocol", "tcp",
                   "--host-prefix", "node", "--port-base", "10000", stdin=True) as p:
            res = p.next_line(timeout=90)
            stats = srv.client().stats()  # the probe waits for a line to stop
            p.proc.stdin.write("stop\n")
            p.proc.stdin.flush()
            done = p.next_line(timeout=60)
            assert p.wait(timeout=30) == 0, "".join(p.stderr)
        print("\nthousand clients:", json.dumps(res))
        # No limit tripped: nothing refused, no lease lost. A registry
        # starved of CPU by a busy machine may answer a heartbeat later than
        # timeout + interval; the few reconnects that causes are tolerated.
        assert res["failed"] == 0 and res["lease_lost"] == 0, res
        assert res["registered"] >= CLIENTS and res["disconnects"] <= CLIENTS // 100, res
        # ttl/3 = 1 s: about 6 heartbeats per client in 6 s.
        assert 5 * CLIENTS <= res["heartbeats"] <= 8 * CLIENTS, res
        assert stats.leases == CLIENTS and stats.instances_up == CLIENTS
        assert done == {"event": "stopped", "loop_close": 0}
        # Shutdown deregistered every lease.
        assert srv.client().stats().leases == 0
