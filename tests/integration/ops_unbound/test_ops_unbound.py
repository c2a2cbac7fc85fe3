"""deploy/unbound/roster-stub.conf.in in a real Unbound on loopback: the
per-host resolver of docs/architecture.md, resolving the services zone
through rosterd."""
import time

import pytest

from dns_helpers import start_unbound, unbound_conf, wait_dns
from harness import Rosterd, free_port, run, wait_until

ZONE = "services.lon6.example.net."


def test_snippet_passes_unbound_checkconf(tmp_path):
    conf = unbound_conf(tmp_path, "127.0.0.1@8053", free_port(both=True))
    r = run(["unbound-checkconf", str(conf)])
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def unbound_and_rosterd(tmp_path):
    with Rosterd(tmp_path) as srv:
        wait_dns(srv)
        unbound, port = start_unbound(tmp_path, f"127.0.0.1@{srv.dns_port}",
                                      "\tqname-minimisation: no\n")
        with unbound:
            yield srv, port


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
    t0 = time.monotonic()
    ttl = ask(port, "web." + ZONE, "A").answer[0].ttl
    assert 0 < ttl <= 5

    def addresses():
        r = ask(port, "web." + ZONE, "A")
        return sorted(rr.address for rrset in r.answer for rr in rrset)
    # Seen once the cached copy has expired: within its TTL (+ a second
    # of rounding), whatever the machine's load adds to the asking.
    wait_until(lambda: addresses() == ["10.0.1.1", "10.0.1.2", "10.0.1.3"], ttl + 5,
               "the new address through Unbound", interval=0.1)
    assert time.monotonic() - t0 <= ttl + 2.5
