"""NOTIFY end to end: roster-zonegen writes the zones a knotd primary serves
(through the Knot include it writes) and notifies a real NSD secondary on
loopback, which transfers the new zone from the primary (AXFR) and then
serves the new serial. The secondary's SOA refresh is an hour: only the
NOTIFY can make it ask within the test."""
import os
import subprocess

import dns.message
import dns.query

import harness
import nsd_helpers
import zonegen_common as zc

ZONE = "s00.example.net."


def soa_serial_at(port, zone=ZONE):
    return nsd_helpers.soa_serial_at(port, zone)


def wait_serial(port, serial, timeout, procs=()):
    return nsd_helpers.wait_serial(port, ZONE, serial, timeout, procs)


def start_knot(tmp_path, out, port):
    run = tmp_path / "knot-run"
    run.mkdir()
    conf = tmp_path / "knot.conf"
    conf.write_text(f"""server:
    rundir: "{run}"
    listen: 127.0.0.1@{port}
database:
    storage: "{tmp_path}/knot-db"
control:
    listen: "{run}/knot.sock"
log:
  - target: stderr
    any: info
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
template:
  - id: fleet
    acl: xfr
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
include: "{os.path.join(out, 'roster.knot.conf')}"
""")
    chk = harness.run(["knotc", "-c", str(conf), "conf-check"])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    log = open(tmp_path / "knot.log", "w")
    proc = subprocess.Popen(["knotd", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    return proc, conf


def start_nsd(tmp_path, port, primary_port):
    return nsd_helpers.start_secondary(tmp_path, port, ZONE, primary_port, axfr_only=True)


def stop(proc):
    harness.stop_process(proc)


def test_notify_makes_a_real_nsd_secondary_transfer_the_new_zone(tmp_path):
    hosts = [dict(name=f"s00-web-a{i}", ipv4=f"10.0.0.{i + 1}") for i in range(50)]
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", hosts)
    out = str(tmp_path / "zones")
    zc.run(out, [inv], "--serial", "100", "--knot-template", "fleet", check=0)

    kport = harness.free_port(both=True)
    nport = harness.free_port(both=True)
    knot = nsd = None
    try:
        knot, kconf = start_knot(tmp_path, out, kport)
        harness.wait_port(kport, proc=knot)
        assert wait_serial(kport, 100, 10, [knot]) == 100, "primary serves our zone"
        nsd, nlog = start_nsd(tmp_path, nport, kport)
        harness.wait_port(nport, proc=nsd)
        assert wait_serial(nport, 100, 20, [nsd]) == 100, "secondary transferred v1"

        hosts.append(dict(name="s00-web-a999", ipv4="10.0.9.9"))
        zc.write_jsonl(inv, hosts)
        r = zc.run(out, [inv], "--notify", f"127.0.0.1:{nport}", "--knot-template", "fleet",
                   check=0)
        assert zc.soa_serial(os.path.join(out, "s00.example.net.zone")) == 101
        # NSD answered the NOTIFY for the changed zone
        assert f"notify {ZONE} 127.0.0.1:{nport} ok" in r.stdout, r.stdout + r.stderr
        # the primary loads the files roster-zonegen just wrote
        rl = harness.run(["knotc", "-c", str(kconf), "zone-reload", ZONE])
        assert rl.returncode == 0, rl.stdout + rl.stderr
        assert wait_serial(kport, 101, 10, [knot]) == 101
        # the notified secondary transfers it (its refresh timer is an hour away)
        assert wait_serial(nport, 101, 20, [nsd, knot]) == 101
        q = dns.message.make_query("s00-web-a999.s00.example.net.", "A")
        ans = dns.query.udp(q, "127.0.0.1", port=nport, timeout=5)
        assert ans.answer and ans.answer[0][0].address == "10.0.9.9"
        log = open(nlog).read()
        assert f"notify for {ZONE} from 127.0.0.1 serial 101" in log, log[-2000:]
    finally:
        stop(nsd)
        stop(knot)


def test_notify_to_a_silent_target_warns_but_the_zones_are_written(tmp_path):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", [dict(name="s00-web-a1", ipv4="10.0.0.1")])
    out = str(tmp_path / "zones")
    # A socket of our own that never reads: a port from free_port() could
    # meanwhile be bound by another test's DNS server, which would answer.
    import socket
    with harness.dead_port(socket.SOCK_DGRAM) as silent:
        port = silent.getsockname()[1]
        r = zc.run(out, [inv], "--notify", f"127.0.0.1:{port}", check=0)
        assert f"NOTIFY {ZONE} to 127.0.0.1:{port}: no answer" in r.stderr
        assert os.path.exists(os.path.join(out, "s00.example.net.zone"))
        # an unchanged run sends nothing (and so warns about nothing)
        r = zc.run(out, [inv], "--notify", f"127.0.0.1:{port}", check=0)
        assert "NOTIFY" not in r.stderr


def test_notify_over_ipv6_reaches_the_target(tmp_path):
    """A NOTIFY to [::1]:port is a well-formed NOTIFY for the changed zone,
    answered here by a minimal responder (the NSD test covers a real one)."""
    import socket
    import threading
    import dns.opcode

    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    seen = []

    def answer():
        data, peer = sock.recvfrom(4096)
        msg = dns.message.from_wire(data)
        seen.append(msg)
        resp = dns.message.make_response(msg)
        sock.sendto(resp.to_wire(), peer)

    t = threading.Thread(target=answer)
    t.start()
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", [dict(name="s00-web-a1", ipv4="10.0.0.1")])
    r = zc.run(str(tmp_path / "zones"), [inv], "--serial", "9", "--notify", f"[::1]:{port}",
               "--reverse-prefix", "8", check=0)
    t.join(timeout=15)
    sock.close()
    assert seen, r.stderr
    msg = seen[0]
    assert msg.opcode() == dns.opcode.NOTIFY
    assert msg.question[0].name.to_text() in (ZONE, "roles.s00.example.net.", "10.in-addr.arpa.")
    assert msg.answer[0][0].serial == 9
    assert f"notify {msg.question[0].name.to_text()} [::1]:{port} ok" in r.stdout
