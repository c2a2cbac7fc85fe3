"""roster ring --key agrees with the registry's own _ring TXT records: the
owner the CLI computes is the point the DNS ring names for the key."""
import json
import os
import sys

import dns.flags
import dns.message
import dns.query
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import VNODES, ring_hash, roster  # noqa: E402
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


def ring_answer(srv, service, protocol, tcp=True):
    name = f"_ring._{service}._{protocol}.services.{srv.site}.{srv.domain}."
    q = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
    f = dns.query.tcp if tcp else dns.query.udp
    return f(q, "127.0.0.1", port=srv.dns_port, timeout=5)


def partial_answers(srv):
    import re
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5).read()
    return int(re.search(rb"^roster_dns_partial_answers_total (\d+)", text, re.M).group(1))


def test_a_ring_too_large_for_dns_is_a_stable_subset_of_whole_instances(srv):
    """300 instances make 2,400 points, about 110 KB: more than a message.
    DNS then serves the ring of the instances whose vnode-0 token is lowest,
    all 8 points of each, and says so; never a ring cut mid-way."""
    c = srv.client()
    hosts = [f"lon6-cache-a{i:04d}.lon6.example.net." for i in range(300)]
    for h in hosts:
        assert c.register("cache", "hm", h, 11211).error == 0
    before = partial_answers(srv)
    r = ring_answer(srv, "cache", "hm")
    assert r.rcode() == 0 and len(r.answer) == 1 and len(r.answer[0]) == 1
    strings = [s.decode().split(" ") for s in r.answer[0][0].strings]
    by_host = {}
    for token, host, port in strings:
        by_host.setdefault(host, []).append(int(token, 16))
    k = len(by_host)
    assert 100 < k < 300, k
    # Whole instances: each included host with all its points, and the
    # points are exactly the documented tokens.
    for host, tokens in by_host.items():
        assert sorted(tokens) == sorted(ring_hash(f"{host}:11211#{v}".encode())
                                        for v in range(VNODES)), host
    # The subset is the k instances with the lowest vnode-0 token.
    lowest = sorted(hosts, key=lambda h: ring_hash(f"{h}:11211#0".encode()))[:k]
    assert sorted(by_host) == sorted(lowest)
    # In token order, like any ring.
    tokens = [int(t, 16) for t, _, _ in strings]
    assert tokens == sorted(tokens)
    # Said so: an EDE "Other" with the counts, and the partial counter.
    ede = [o for o in r.options if o.otype == 15]
    assert ede and f"ring of {k} of 300 instances" in ede[0].to_text(), [o.to_text() for o in ede]
    assert partial_answers(srv) == before + 1
    # The same subset for every reader, every time; over UDP it is TC=1.
    assert ring_answer(srv, "cache", "hm").answer == r.answer
    assert ring_answer(srv, "cache", "hm", tcp=False).flags & dns.flags.TC
    # An instance whose token is above the subset's leaves it unchanged.
    extra = next(h for h in (f"lon6-cache-b{i:04d}.lon6.example.net." for i in range(1000))
                 if ring_hash(f"{h}:11211#0".encode()) >
                 ring_hash(f"{lowest[-1]}:11211#0".encode()))
    assert c.register("cache", "hm", extra, 11211).error == 0
    r2 = ring_answer(srv, "cache", "hm")
    assert sorted({s.decode().split(" ")[1] for s in r2.answer[0][0].strings}) == sorted(lowest)


def test_a_small_ring_is_whole_and_not_partial(srv):
    c = srv.client()
    for i in range(20):
        assert c.register("small", "hm", f"lon6-small-a{i}.lon6.example.net", 80).error == 0
    before = partial_answers(srv)
    r = ring_answer(srv, "small", "hm")
    assert len(r.answer[0][0].strings) == 20 * VNODES
    assert not [o for o in r.options if o.otype == 15]
    assert partial_answers(srv) == before
