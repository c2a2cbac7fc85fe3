"""A private NSD on 127.0.0.1 for the integration tests: its config, a
secondary of one zone, and the serial it serves. Shared by dns_xfr,
dns_notify, zonegen_notify and zonegen_checkers (through zonegen_common)."""
import subprocess

import dns.exception
import dns.message
import dns.query
import dns.rcode

import harness


def nsd_conf(d, port, rest, verbosity=1, server_extra=""):
    """An nsd.conf for a private NSD on 127.0.0.1:port with its state in
    directory d, @server_extra lines in its server section, followed by
    @rest (zones or an include)."""
    return f"""server:
    ip-address: 127.0.0.1
    port: {port}
    zonesdir: "{d}"
    database: ""
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    zonelistfile: "{d}/zone.list"
    xfrdir: "{d}"
    username: ""
    chroot: ""
    verbosity: {verbosity}
    logfile: "{d}/nsd.log"
    server-count: 1
{server_extra}remote-control:
    control-enable: no
{rest}"""


def start_secondary(tmp_path, port, zone, primary_port, axfr_only=False, reload_at_once=False):
    """NSD on 127.0.0.1:@p port as a secondary of @p zone, transferring from
    127.0.0.1:@p primary_port (AXFR only, or IXFR first) and taking NOTIFY
    from 127.0.0.1, unsigned. Its refresh timer is at least an hour, so
    within a test only a NOTIFY makes it ask for a newer serial. NSD serves
    a transferred zone after a reload, at most one a second by default
    (xfrd-reload-timeout); @p reload_at_once sets it to 0. Returns
    (process, path of its log); harness.stop_process() stops it."""
    d = tmp_path / "nsd"
    d.mkdir()
    conf = d / "nsd.conf"
    extra = "    xfrd-reload-timeout: 0\n" if reload_at_once else ""
    conf.write_text(nsd_conf(d, port, f"""zone:
    name: "{zone}"
    zonefile: "{d}/secondary.zone"
    request-xfr: {"AXFR " if axfr_only else ""}127.0.0.1@{primary_port} NOKEY
    allow-notify: 127.0.0.1 NOKEY
    min-refresh-time: 3600
    max-retry-time: 1
    min-retry-time: 1
""", verbosity=2, server_extra=extra))
    chk = harness.run(["nsd-checkconf", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    return proc, d / "nsd.log"


def soa_serial_at(port, zone):
    """The zone's SOA serial at 127.0.0.1:@p port, or the rcode's name when
    the answer has none (SERVFAIL while the zone loads, say). No answer at
    all raises dns.exception.Timeout; any other error propagates."""
    q = dns.message.make_query(zone, "SOA")
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=1)
    if r.rcode() != 0 or not r.answer:
        return dns.rcode.to_text(r.rcode()) + (" without an answer" if r.rcode() == 0 else "")
    return r.answer[0][0].serial


def wait_serial(port, zone, serial, timeout, procs=()):
    """Wait until 127.0.0.1:@p port serves @p serial (while every process
    of @p procs runs); the serial. A timeout names what was last seen: a
    serial, an rcode, or the exception."""
    def serial_now():
        for p in procs:
            assert p.poll() is None, f"{p.args[0]} exited"
        return soa_serial_at(port, zone)
    return harness.wait_until(serial_now, timeout, f"serial {serial} at 127.0.0.1:{port}",
                              interval=0.02, ignore=(dns.exception.Timeout,), want=serial)


def settled_serial(port, zone, timeout=10):
    """A primary's serial once the version holding every change made so far
    is published (docs/dns.md "Zone versions and serials": at most one
    version per --notify-interval, 50 ms by default): the same serial twice,
    0.2 s apart."""
    prev = [None]

    def same():
        s = soa_serial_at(port, zone)
        ok = isinstance(s, int) and s == prev[0]
        prev[0] = s
        return s if ok else None
    return harness.wait_until(same, timeout, f"a settled serial on port {port}", interval=0.2,
                              ignore=(dns.exception.Timeout,))
