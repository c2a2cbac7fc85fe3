"""--services-ns: the site zone delegates services.<site>.<domain> to the
site's registries (NS plus glue), so a resolver that follows delegations
finds services without a stub zone: named-checkzone loads the zone, and a
real Unbound, told only where the site zone is, resolves a registered
service through NSD's referral to a real rosterd."""
import random
import socket
import subprocess

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

import harness
import zonegen_common as zc
from harness import Rosterd, free_port, run, wait_until

SITE_ZONE = "lon6.example.net."
SERVICES = "services." + SITE_ZONE


def generate(tmp_path, *ns):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", [
        dict(name="lon6-web-a1", ipv4="10.0.0.1"), dict(name="lon6-web-a2", ipv4="10.0.0.2")])
    out = str(tmp_path / "zones")
    args = []
    for n in ns:
        args += ["--services-ns", n]
    zc.run(out, [inv], "--serial", "7", *args, check=0)
    return zone_path(out)


def zone_path(out):
    return next(p for p in zc.zone_files(out) if zc.zone_name(p) == SITE_ZONE)


def test_delegation_with_glue_loads_in_named_checkzone(tmp_path):
    path = generate(tmp_path, "ns1.services.lon6.example.net=10.0.0.53",
                    "ns1.services.lon6.example.net=fd00::53",
                    "roster2.lon6.example.net=10.0.0.54")
    text = open(path).read()
    assert "services\tIN\tNS\tns1.services.lon6.example.net.\n" in text
    assert "services\tIN\tNS\troster2.lon6.example.net.\n" in text
    assert "ns1.services\tIN\tA\t10.0.0.53\n" in text
    assert "ns1.services\tIN\tAAAA\tfd00::53\n" in text
    assert "roster2\tIN\tA\t10.0.0.54\n" in text
    r = run(["named-checkzone", "-i", "full", "-k", "fail", "-n", "fail", SITE_ZONE, path])
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    # Other sites' zones are not touched.
    r = zc.run(str(tmp_path / "z2"), [zc.write_jsonl(tmp_path / "ash.jsonl", [
        dict(name="ash2-web-a1", ipv4="10.2.0.1")])], "--services-ns",
        "ns1.services.lon6.example.net=10.0.0.53", check=0)
    assert "services" not in open(next(p for p in zc.zone_files(str(tmp_path / "z2"))
                                       if zc.zone_name(p) == "ash2.example.net.")).read()


def test_bad_services_ns_is_a_usage_error(tmp_path):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", [dict(name="lon6-web-a1", ipv4="10.0.0.1")])
    for bad, msg in (("ns1.lon6.example.net", "expected NAME=ADDRESS"),
                     ("ns1.lon6.example.net=10.0.0", "not an IP address"),
                     ("lon6.example.net=10.0.0.1", "must be a host of a site zone"),
                     ("ns1.example.org=10.0.0.1", "must be a host of a site zone")):
        r = zc.run(str(tmp_path / "z"), [inv], "--services-ns", bad, check=2)
        assert msg in r.stderr, (bad, r.stderr)


def loopback_53():
    """An address of 127.0.0.0/8 whose port 53 is free (UDP and TCP):
    Unbound follows a delegation to port 53 only."""
    for _ in range(50):
        addr = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.bind((addr, 53))
                s.close()
            return addr
        except OSError:
            continue
    raise RuntimeError("no free port 53 on loopback")


def start_nsd(tmp_path, port, zonefile):
    d = tmp_path / "nsd"
    d.mkdir()
    conf = d / "nsd.conf"
    conf.write_text(zc.nsd_conf(d, port, f"""zone:
    name: "{SITE_ZONE}"
    zonefile: "{zonefile}"
"""))
    chk = run(["nsd-checkconf", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    return subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def unbound_conf(tmp_path, port, nsd_port):
    """Unbound that knows only where the site zone is (a stub for
    lon6.example.net.); services.lon6.example.net. it must find through
    the delegation in that zone."""
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
	do-ip6: no
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
	root-hints: ""
	do-not-query-localhost: no
	outgoing-range: 64
	num-threads: 1
	so-reuseport: no
	prefetch: no
stub-zone:
	name: "{SITE_ZONE}"
	stub-addr: 127.0.0.1@{nsd_port}
remote-control:
	control-enable: no
""")
    assert "services" not in conf.read_text()  # no stub for the services zone
    r = run(["unbound-checkconf", str(conf)])
    assert r.returncode == 0, r.stdout + r.stderr
    return conf


class DelegatedRosterd(Rosterd):
    """rosterd answering DNS on ADDR:53, where the glue points."""

    def __init__(self, tmp_path, addr, **kw):
        super().__init__(tmp_path, **kw)
        self.addr = addr

    def args(self):
        a = super().args()
        a[a.index("--dns") + 1] = f"{self.addr}:53"
        return a

    def wait_ready(self):
        try:
            harness.wait_port(self.api_port, proc=self.proc)
            harness.wait_port(53, host=self.addr, proc=self.proc)
            harness.wait_port(self.http_port, proc=self.proc)
            wait_until(lambda: "rosterd serving" in self.logs(), 10, "rosterd serving")
        except AssertionError:
            self.proc.kill()  # `with` never entered: stop it here
            self.proc.wait()
            raise


def test_unbound_follows_the_delegation_to_rosterd(tmp_path):
    addr = loopback_53()
    srv = DelegatedRosterd(tmp_path, addr, extra=["--ns", "ns1.services.lon6.example.net"])
    path = generate(tmp_path, f"ns1.services.lon6.example.net={addr}")
    nsd_port = free_port(both=True)
    nsd = unbound = None
    with srv:
        try:
            with srv.client() as c:
                r = c.register("web", "http", "lon6-web-a1.lon6.example.net", 8080,
                               addresses=["10.0.0.1"])
                assert r.error == 0, r.message
            nsd = start_nsd(tmp_path, nsd_port, path)
            port = free_port(both=True)
            unbound = subprocess.Popen(["unbound", "-d", "-c",
                                        str(unbound_conf(tmp_path, port, nsd_port))],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)

            def ask(name, qtype):
                return dns.query.udp(dns.message.make_query(name, qtype), "127.0.0.1",
                                     port=port, timeout=2)
            # The site zone through NSD first: both are up.
            wait_until(lambda: ask("lon6-web-a1." + SITE_ZONE, "A").answer != [], 20,
                       "Unbound answering from NSD", interval=0.1,
                       ignore=(dns.exception.Timeout,))
            r = ask("_web._http." + SERVICES, "SRV")
            assert r.rcode() == dns.rcode.NOERROR, r
            rrs = [rr for rrset in r.answer if rrset.rdtype == dns.rdatatype.SRV
                   for rr in rrset]
            assert [(rr.port, str(rr.target)) for rr in rrs] == [
                (8080, "lon6-web-a1.lon6.example.net.")]
            assert ask("nothing." + SERVICES, "A").rcode() == dns.rcode.NXDOMAIN
            # NSD itself only refers: the answer came from rosterd.
            ref = dns.query.udp(dns.message.make_query("_web._http." + SERVICES, "SRV"),
                                "127.0.0.1", port=nsd_port, timeout=2)
            assert ref.answer == [] and any(rs.rdtype == dns.rdatatype.NS
                                            for rs in ref.authority)
        finally:
            for p in (unbound, nsd):
                if p is not None:
                    harness.stop_process(p)
