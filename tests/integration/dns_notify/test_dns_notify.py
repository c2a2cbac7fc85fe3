"""NOTIFY from rosterd (RFC 1996; issue 12): a real NSD secondary of the
services zone follows registrations and deregistrations made with the
roster CLI within 2 s. Our SOA refresh is 60 s and NSD's refresh is held
at an hour or more (min-refresh-time), so only rosterd's NOTIFY can make it
transfer that fast. Then the counters, a silent target (retries) and one
that refuses (failed)."""
import os
import socket
import sys
import time

import dns.message
import dns.opcode
import dns.query
import dns.rcode
import pytest

import harness
import nsd_helpers
from dns_helpers import wait_dns
from harness import Rosterd, wait_until

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402

ZONE = "services.lon6.example.net."
SRV = "_web._http." + ZONE


def srv_targets(port):
    """The SRV targets 127.0.0.1:@p port answers for _web._http (a set;
    empty for NXDOMAIN or NODATA)."""
    r = dns.query.udp(dns.message.make_query(SRV, "SRV"), "127.0.0.1", port=port, timeout=1)
    assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), r
    return {f"{rr.target}:{rr.port}" for rrset in r.answer for rr in rrset}


def cli(srv, *args):
    r = roster(*args, env={"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"})
    assert r.returncode == 0, r.stdout + r.stderr
    return r


IDENT = ["--service", "web", "--protocol", "http", "--host", "web1.lon6.example.net",
         "--port", "8080"]


def test_nsd_follows_registrations_within_2s_through_notify(tmp_path):
    nport = harness.free_port(both=True)
    with Rosterd(tmp_path, extra=["--xfr-allow", "127.0.0.1", "--notify",
                                  f"127.0.0.1:{nport}"]) as s:
        wait_dns(s)
        nsd = None
        try:
            nsd, nlog = nsd_helpers.start_secondary(tmp_path, nport, ZONE, s.dns_port,
                                                    reload_at_once=True)
            harness.wait_port(nport, proc=nsd)
            serial = nsd_helpers.soa_serial_at(s.dns_port, ZONE)
            assert nsd_helpers.wait_serial(nport, ZONE, serial, 20, [nsd, s.proc]) == serial

            cli(s, "register", *IDENT, "--address", "10.0.0.1", "--permanent")
            t0 = time.monotonic()
            wait_until(lambda: srv_targets(nport), 2.0, "NSD answering the new SRV",
                       want={"web1.lon6.example.net.:8080"})
            took = time.monotonic() - t0
            log = open(nlog).read()
            assert f"notify for {ZONE} from 127.0.0.1" in log, log[-2000:]

            cli(s, "deregister", *IDENT)
            wait_until(lambda: srv_targets(nport), 2.0, "NSD dropping the SRV", want=set())
            assert nsd_helpers.soa_serial_at(nport, ZONE) == \
                nsd_helpers.soa_serial_at(s.dns_port, ZONE)
        finally:
            harness.stop_process(nsd)
        sent = s.metric("roster_dns_notify_total", result="sent")
        acked = s.metric("roster_dns_notify_total", result="acked")
        # At start (NSD not up yet: retried, then superseded), and the two changes.
        assert sent >= 3 and acked >= 2, (sent, acked)
        assert s.metric("roster_dns_notify_total", result="failed") == 0
        print(f"registration on the secondary after {took * 1000:.0f} ms")


def test_without_notify_the_secondary_does_not_follow(tmp_path):
    """The control: the same secondary, no --notify; a registration is not
    on it 2 s later (so the test above measures NOTIFY, not a refresh)."""
    nport = harness.free_port(both=True)
    with Rosterd(tmp_path, extra=["--xfr-allow", "127.0.0.1"]) as s:
        wait_dns(s)
        nsd = None
        try:
            nsd, _ = nsd_helpers.start_secondary(tmp_path, nport, ZONE, s.dns_port,
                                                 reload_at_once=True)
            harness.wait_port(nport, proc=nsd)
            serial = nsd_helpers.soa_serial_at(s.dns_port, ZONE)
            assert nsd_helpers.wait_serial(nport, ZONE, serial, 20, [nsd, s.proc]) == serial
            cli(s, "register", *IDENT, "--permanent")
            assert srv_targets(s.dns_port) == {"web1.lon6.example.net.:8080"}
            harness.hold_for(2.0, lambda: srv_targets(nport) == set(),
                             "the secondary without the registration")
        finally:
            harness.stop_process(nsd)
        assert "roster_dns_notify_total{" not in s.metrics()


def test_a_silent_target_is_retried_and_an_answering_one_is_not(tmp_path):
    # A socket of our own that never reads: a port from free_port() could
    # meanwhile be bound by another test's server, which would answer.
    with harness.dead_port(socket.SOCK_DGRAM) as silent:
        port = silent.getsockname()[1]
        with Rosterd(tmp_path, extra=["--xfr-allow", "127.0.0.1", "--notify", f"127.0.0.1:{port}"]) as s:
            wait_dns(s)
            # The NOTIFY at start, then 250, 500, 1,000 ms... without an answer.
            wait_until(lambda: s.metric("roster_dns_notify_total", result="retried") >= 3,
                       10, "three retries")
            assert s.metric("roster_dns_notify_total", result="acked") == 0
            assert "has not acknowledged serial" in s.logs()


def test_a_refusing_target_counts_failed_and_is_logged_once(tmp_path):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    port = sock.getsockname()[1]
    seen = []

    def refuse():
        try:
            data, peer = sock.recvfrom(4096)
        except socket.timeout:
            return len(seen)
        msg = dns.message.from_wire(data)
        assert msg.opcode() == dns.opcode.NOTIFY
        seen.append(msg.answer[0][0].serial)
        resp = dns.message.make_response(msg)
        resp.set_rcode(dns.rcode.REFUSED)
        sock.sendto(resp.to_wire(), peer)
        return len(seen)

    try:
        with Rosterd(tmp_path, extra=["--xfr-allow", "127.0.0.1", "--notify", f"127.0.0.1:{port}"]) as s:
            wait_dns(s)
            wait_until(refuse, 10, "the NOTIFY at start", want=1)
            cli(s, "register", *IDENT, "--permanent")
            wait_until(refuse, 10, "the NOTIFY of the registration", want=2)
            assert seen[1] > seen[0]
            wait_until(lambda: s.metric("roster_dns_notify_total", result="failed"), 10,
                       "two refusals counted", want=2)
            assert s.metric("roster_dns_notify_total", result="retried") == 0
            assert s.logs().count("with REFUSED (rcode 5)") == 1, s.logs()[-2000:]
    finally:
        sock.close()


@pytest.mark.parametrize("flag,bad", [("--notify", "localhost"),
                                      ("--notify", "127.0.0.1:70000"),
                                      ("--notify", "127.0.0.1,"),
                                      ("--notify-interval", "0"),
                                      ("--notify-interval", "fast")])
def test_a_bad_value_exits_2_naming_the_flag(tmp_path, flag, bad):
    s = Rosterd(tmp_path, extra=[flag, bad])
    r = harness.run(s.args())
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and flag.lstrip("-") in err[0] and bad in err[0], r.stderr
