"""UDP replies from a wildcard bind leave from the address the query was sent to.

rosterd listens on 0.0.0.0 and [::] (both families, same port). Queries go
out from UDP sockets connect()ed to 127.0.0.1, 127.0.0.2 and 127.0.0.3 (Linux
loopback answers the whole of 127/8) and to ::1. A connected UDP socket only
accepts datagrams from the address it is connected to, so a reply sent from
another local address (the kernel's choice of source for the route back,
which is what an unconnected wildcard socket gets without IP_PKTINFO) never
arrives. Several sockets per address, so that with worker threads (one
SO_REUSEPORT socket each) every worker's socket answers some of them.
"""
import socket

import dns.message
import dns.rdatatype
import pytest

from harness import Rosterd

ZONE = "services.lon6.example.net."


class WildcardRosterd(Rosterd):
    """rosterd with its DNS on 0.0.0.0 and [::] instead of 127.0.0.1."""

    def args(self):
        a = super().args()
        i = a.index("--dns")
        a[i + 1:i + 2] = [f"0.0.0.0:{self.dns_port}", "--dns", f"[::]:{self.dns_port}"]
        return a


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(params=[0, 2], ids=["loop", "threads"])
def srv(tmp_path, request):
    with WildcardRosterd(tmp_path, extra=["--dns-threads", str(request.param)]) as s:
        yield s


def ask(family, addr, port, qid):
    """One SOA query from a socket connected to (addr, port): the reply's
    source address, and the reply."""
    q = dns.message.make_query(ZONE, "SOA", id=qid)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.connect((addr, port))
        for _ in range(10):  # the first may race the start-up
            s.send(q.to_wire())
            try:
                data, src = s.recvfrom(4096)
                break
            except socket.timeout:
                continue
        else:
            raise AssertionError(f"no reply from {addr} port {port}")
    r = dns.message.from_wire(data)
    assert r.id == qid
    return src, r


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.0.0.2", "127.0.0.3"])
def test_ipv4_reply_from_the_address_asked(srv, addr):
    for n in range(8):
        src, r = ask(socket.AF_INET, addr, srv.dns_port, 100 + n)
        assert src == (addr, srv.dns_port)
        assert r.answer and r.answer[0].rdtype == dns.rdatatype.SOA


def test_ipv6_reply_from_the_address_asked(srv):
    # This machine has ::1 (the test is not written for machines without
    # it); ::1 is IPv6 loopback's only address, so this checks that the
    # IPV6_PKTINFO path answers at all and from ::1.
    assert has_ipv6_loopback(), "no IPv6 loopback (::1) on this machine"
    for n in range(8):
        src, r = ask(socket.AF_INET6, "::1", srv.dns_port, 200 + n)
        assert src[:2] == ("::1", srv.dns_port)
        assert r.answer and r.answer[0].rdtype == dns.rdatatype.SOA

