"""roster ring --key agrees with the registry's own _ring TXT records: the
owner the CLI computes is the point the DNS ring names for the key."""
import json
import os
import sys

import dns.message
import dns.query
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402
from harness import Rosterd  # noqa: E402


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


def ring_from_dns(srv, service, protocol):
    name = f"_ring._{service}._{protocol}.services.{srv.site}.{srv.domain}."
    q = dns.message.make_query(name, "TXT")
    r = dns.query.tcp(q, "127.0.0.1", port=srv.dns_port, timeout=5)
    points = []
    for rrset in r.answer:
        for rd in rrset:
            for s in rd.strings:
                token, host, port = s.decode().split(" ")
                points.append((int(token, 16), host, int(port)))
    return sorted(points)


def test_ring_owner_agrees_with_the_ring_txt_records(srv):
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    c = srv.client()
    for i in range(6):
        assert c.register("storage", "hm", f"lon6-storage-a{i}.lon6.example.net",
                          1234).error == 0
    points = ring_from_dns(srv, "storage", "hm")
    assert len(points) == 6 * 8
    for key in ["d34db33f", "song:1", "tracks.1234", "k" * 100]:
        doc = json.loads(roster("--json", "ring", "--service", "storage", "--protocol", "hm",
                                "--key", key, env=env).stdout)
        kt = int(doc["key_token"], 16)
        owner = next((p for p in points if p[0] >= kt), points[0])
        assert (doc["owner"]["token"], doc["owner"]["host"], doc["owner"]["port"]) == \
            (f"{owner[0]:08x}", owner[1], owner[2]), key
