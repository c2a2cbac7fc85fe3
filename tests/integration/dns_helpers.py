"""Helpers shared by the dns_* integration scenarios."""
import time

import dns.exception
import dns.message
import dns.query

ZONE = "services.lon6.example.net."


def wait_dns(srv, timeout=10.0):
    """The harness waits for the API port; DNS binds just after it. Wait
    until the DNS port answers too, so no test races the start-up."""
    q = dns.message.make_query(ZONE, "SOA")
    deadline = time.monotonic() + timeout
    while True:
        try:
            dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=0.2)
            return srv
        except dns.exception.Timeout:
            assert time.monotonic() < deadline, "DNS never answered"
