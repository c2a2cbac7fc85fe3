"""deploy/unbound/roster-stub.conf.in in a real Unbound on loopback: the
per-host resolver of docs/architecture.md, resolving the services zone
through rosterd."""
import os
import signal
import subprocess
import time

import pytest

from harness import SOURCE, Rosterd, free_port, run

ZONE = "services.lon6.example.net."


def render(tmp_path, rosterd_dns, port):
    """The shipped snippet with rosterd's address filled in, included from a
    minimal unbound.conf that only ever talks to 127.0.0.1."""
    with open(os.path.join(SOURCE, "deploy/unbound/roster-stub.conf.in")) as f:
        template = f.read()
    assert template.count("@ROSTERD_DNS@") >= 1
    snippet = tmp_path / "roster.conf"
    snippet.write_text(template.replace("@ROSTERD_DNS@", rosterd_dns))
    conf = tmp_path / "unbound.conf"
    conf.write_text(f"""server:
	interface: 127.0.0.1
	port: {port}
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "{tmp_path}"
	pidfile: "{tmp_path}/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
	# Never a packet off this machine: no root priming, no other source.
	outgoing-interface: 127.0.0.1
	root-hints: ""
	outgoing-range: 64
	num-threads: 1
	so-reuseport: no
	prefetch: no
	qname-minimisation: no
remote-control:
	control-enable: no
include: "{snippet}"
""")
    return conf


def test_snippet_passes_unbound_checkconf(tmp_path):
    conf = render(tmp_path, "127.0.0.1@8053", free_port(both=True))
    r = run(["unbound-checkconf", str(conf)])
    assert r.returncode == 0, r.stdout + r.stderr


def dns_ready(port, timeout=1.0):
    """Something answers DNS for the zone on 127.0.0.1:port."""
    import dns.message
    import dns.query
    try:
        dns.query.udp(dns.message.make_query(ZONE, "SOA"), "127.0.0.1", port=port,
                      timeout=timeout)
        return True
    except Exception:
        return False


@pytest.fixture
def unbound_and_rosterd(tmp_path):
    srv = Rosterd(tmp_path).start()
    proc = None
    try:
        if not dns_ready(srv.dns_port):
            pytest.skip("the DNS module is not in this build yet")
        port = free_port(both=True)
        conf = render(tmp_path, f"127.0.0.1@{srv.dns_port}", port)
        log = open(tmp_path / "unbound.log", "wb")
        proc = subprocess.Popen(["unbound", "-d", "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not dns_ready(port, timeout=0.5):
            assert proc.poll() is None, (tmp_path / "unbound.log").read_text()
            assert time.monotonic() < deadline, "unbound did not start"
            time.sleep(0.1)
        yield srv, port
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        assert srv.stop() == 0, srv.logs()[-3000:]


def ask(port, name, qtype):
    import dns.message
    import dns.query
    q = dns.message.make_query(name, qtype)  # RD=1: we are a stub asking our resolver
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=5)


def test_unbound_resolves_the_services_zone_through_rosterd(unbound_and_rosterd):
    import dns.rcode
    import dns.rdatatype
    srv, port = unbound_and_rosterd
    with srv.client() as c:
        for i in (1, 2):
            r = c.register("web", "http", f"lon6-web-a{i}.lon6.example.net", 8080,
                           addresses=[f"10.0.1.{i}"])
            assert r.error == 0, r.message
    r = ask(port, "_web._http." + ZONE, "SRV")
    assert r.rcode() == dns.rcode.NOERROR
    srv_rrs = [rr for rrset in r.answer if rrset.rdtype == dns.rdatatype.SRV for rr in rrset]
    assert sorted((rr.port, str(rr.target)) for rr in srv_rrs) == [
        (8080, "lon6-web-a1.lon6.example.net."), (8080, "lon6-web-a2.lon6.example.net.")]
    r = ask(port, "web." + ZONE, "A")
    addrs = sorted(rr.address for rrset in r.answer for rr in rrset)
    assert addrs == ["10.0.1.1", "10.0.1.2"]
    assert ask(port, "nothing." + ZONE, "A").rcode() == dns.rcode.NXDOMAIN
    # The apex as rosterd serves it (NS from --ns, default ns1.<domain>).
    r = ask(port, ZONE, "NS")
    assert [str(rr.target) for rrset in r.answer for rr in rrset] == ["ns1.example.net."]
    # A change shows through the resolver once its cached answer's TTL
    # (rosterd --ttl, 5 s by default) has passed: the per-host cache at work.
    with srv.client() as c:
        assert c.register("web", "http", "lon6-web-a3.lon6.example.net", 8080,
                          addresses=["10.0.1.3"]).error == 0
    ttl = ask(port, "web." + ZONE, "A").answer[0].ttl
    assert 0 < ttl <= 5
    time.sleep(ttl + 1)
    r = ask(port, "web." + ZONE, "A")
    assert sorted(rr.address for rrset in r.answer for rr in rrset) == [
        "10.0.1.1", "10.0.1.2", "10.0.1.3"]
