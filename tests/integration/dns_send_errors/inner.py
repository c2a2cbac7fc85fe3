"""The inside of test_dns_send_errors.py: run in a private user and network
namespace, where a raw socket may write a datagram with any source.

Starts rosterd (on the UDP path ROSTER_DNS_IO names, as every DNS test),
sends it SOA queries from 127.255.255.255, the loopback network's broadcast
address, then a good query; asserts what the issue promises: each spoofed
query's answer is refused by the kernel (EACCES: a broadcast destination
without SO_BROADCAST), dropped and counted in
roster_dns_udp_send_errors_total, and the good query is answered at once.
Exits non-zero (an AssertionError) on any failure; prints one line when
all held."""
import os
import socket
import struct
import sys
import tempfile

import dns.message
import dns.query

from dns_helpers import wait_dns
from harness import Rosterd, wait_until

ZONE = "services.lon6.example.net."
SPOOFED = "127.255.255.255"
N = 100  # more than an io_uring worker's 64 send slots: failures free theirs


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def spoofed(payload, sport, dport, src=SPOOFED, dst="127.0.0.1"):
    """An IPv4 header and a UDP datagram from @p src, checksums right."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp))
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp)) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:] + udp


def main():
    with Rosterd(tempfile.mkdtemp(prefix="roster-send-errors-")) as rd:
        wait_dns(rd)
        errors = "roster_dns_udp_send_errors_total"
        assert rd.metric(errors) == 0, "no error before the spoofed queries"
        answered0 = rd.metric("roster_dns_responses_total", rcode="NOERROR")
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        for i in range(N):
            q = dns.message.make_query(ZONE, "SOA")
            q.id = 0x5000 + i
            raw.sendto(spoofed(q.to_wire(), 40000 + i, rd.dns_port), ("127.0.0.1", 0))
        raw.close()
        wait_until(lambda: rd.metric(errors), 10, "the refused answers counted", want=N)
        # Each was answered (the engine built the reply) before the kernel
        # refused it.
        answered = rd.metric("roster_dns_responses_total", rcode="NOERROR") - answered0
        assert answered == N, f"{answered} answers built for {N} spoofed queries"
        q = dns.message.make_query(ZONE, "SOA")
        r = dns.query.udp(q, "127.0.0.1", port=rd.dns_port, timeout=2)
        assert r.id == q.id and len(r.answer) == 1, r
        assert rd.metric(errors) == N, "the good answer went out"
        assert "Traceback" not in rd.logs()
    print(f"{os.environ.get('ROSTER_DNS_IO') or 'default'}: {N} refused answers counted")


if __name__ == "__main__":
    sys.exit(main())
