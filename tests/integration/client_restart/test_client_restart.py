"""rosterd killed with SIGKILL and restarted while a libroster client
heartbeats: the client's endpoints are back without any action by the
service, whether the registry kept the lease (same data dir) or lost it
(empty data dir: UNKNOWN_LEASE, a new lease, everything registered again)."""
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import Probe, query_hosts, wait_for  # noqa: E402
from harness import Rosterd, hold_for  # noqa: E402


def hold(srv, n=2):
    return Probe("hold", "--server", f"127.0.0.1:{srv.api_port}", "--ttl", "2",
                 "--endpoints", n, "--service", "api", "--protocol", "grpc",
                 "--host-prefix", "api", "--port-base", "9000", "--backoff-max", "1000")


WANT = ["api0.example.net.:9000", "api1.example.net.:9001"]


def test_sigkill_restart_same_data_dir(tmp_path):
    srv = Rosterd(tmp_path).start()
    try:
        with hold(srv) as p:
            p.wait_event("registered", n=2)
            assert query_hosts(srv.api_port, "api") == WANT
            srv.kill9()
            p.wait_event("disconnected")
            # The registry stays down for a while; the client retries
            # meanwhile (backoff <= 1 s), alive, claiming nothing.
            hold_for(1.0, lambda: p.proc.poll() is None and p.count("registered") == 2,
                     "the client retrying while the registry is down")
            srv.start()
            # Back without any action by the service.
            wait_for(lambda: query_hosts(srv.api_port, "api") == WANT, timeout=10,
                     what="endpoints after restart")
            p.wait_event("registered", n=4)  # registered again on reconnect
            # And kept alive afterwards by heartbeats on the same connection,
            # over two TTLs.
            hold_for(4.5, lambda: query_hosts(srv.api_port, "api") == WANT,
                     "the endpoints kept alive by heartbeats", interval=0.25)
            assert p.stop() == 0
            assert query_hosts(srv.api_port, "api") == []
    finally:
        srv.stop()


def test_sigkill_restart_empty_data_dir_reopens_lease(tmp_path):
    srv = Rosterd(tmp_path).start()
    try:
        with hold(srv) as p:
            p.wait_event("registered", n=2)
            first = {e["lease"] for e in p.events if e["event"] == "registered"}
            srv.kill9()
            shutil.rmtree(srv.data)  # the registry forgets everything
            srv.start()
            p.wait_event("lease_lost")
            wait_for(lambda: query_hosts(srv.api_port, "api") == WANT, timeout=10,
                     what="endpoints re-registered under a new lease")
            later = {e["lease"] for e in p.events if e["event"] == "registered"} - first
            assert len(later) == 1 and later != first
            assert p.stop() == 0
    finally:
        srv.stop()


def test_registry_down_at_startup_then_up(tmp_path):
    """A service that starts before its registry registers once it appears."""
    srv = Rosterd(tmp_path)
    with hold(srv) as p:
        hold_for(1.5, lambda: p.count("registered") == 0 and p.proc.poll() is None,
                 "the client waiting, alive, for a registry that is not there")
        srv.start()
        try:
            wait_for(lambda: query_hosts(srv.api_port, "api") == WANT, timeout=10,
                     what="endpoints once the registry is up")
            assert p.stop() == 0
        finally:
            srv.stop()
