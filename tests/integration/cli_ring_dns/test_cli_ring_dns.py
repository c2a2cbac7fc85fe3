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


def ring_sharded(srv, service, protocol):
    """The whole ring as a DNS client reads it: _ring, then, when it says
    "shards=N", the N shards <k>._ring... (docs/dns.md)."""
    r = ring_answer(srv, service, protocol)
    strings = [s.decode() for s in r.answer[0][0].strings]
    if not strings[0].startswith("shards="):
        return r, 0, sorted(tuple(x.split(" ")) for x in strings)
    n = int(strings[0].split("=")[1])
    points = []
    for k in range(1, n + 1):
        q = dns.message.make_query(f"{k}._ring._{service}._{protocol}.services."
                                   f"{srv.site}.{srv.domain}.", "TXT")
        part = dns.query.tcp(q, "127.0.0.1", port=srv.dns_port, timeout=5)
        assert part.rcode() == 0 and len(part.answer) == 1, k
        pts = [tuple(s.decode().split(" ")) for s in part.answer[0][0].strings]
        assert pts == sorted(pts, key=lambda p: int(p[0], 16)), f"shard {k} in token order"
        points += pts
    return r, n, sorted(points, key=lambda p: (int(p[0], 16), p[1], int(p[2])))


def test_a_ring_too_large_for_one_message_is_whole_over_shards(srv):
    """300 instances make 2,400 points, about 110 KB: more than a message.
    DNS serves the whole ring over shards that _ring names, never a part of
    it, and the owner of every key is the one `roster ring` (the API's ring)
    computes: DNS readers and the CLI agree."""
    c = srv.client()
    hosts = [f"lon6-cache-a{i:04d}.lon6.example.net." for i in range(300)]
    for h in hosts:
        assert c.register("cache", "hm", h, 11211).error == 0
    before = partial_answers(srv)
    r, shards, points = ring_sharded(srv, "cache", "hm")
    assert shards >= 2, shards
    want = sorted(((f"{ring_hash(f'{h}:11211#{v}'.encode()):08x}", h, "11211")
                   for h in hosts for v in range(VNODES)),
                  key=lambda p: (int(p[0], 16), p[1], int(p[2])))
    assert points == want, "every vnode of every instance, once"
    assert not [o for o in r.options if o.otype == 15], "whole: no EDE"
    assert partial_answers(srv) == before
    # The same for every reader; over UDP a shard is TC=1, never cut.
    assert ring_sharded(srv, "cache", "hm")[2] == points
    q = dns.message.make_query(f"1._ring._cache._hm.services.{srv.site}.{srv.domain}.", "TXT",
                               use_edns=0, payload=1232)
    assert dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=5).flags & dns.flags.TC
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    ring = [(int(t, 16), h, int(p)) for t, h, p in points]
    for key in ["d34db33f", "song:1", "tracks.1234", "user:42", "k" * 100]:
        doc = json.loads(roster("--json", "ring", "--service", "cache", "--protocol", "hm",
                                "--key", key, env=env).stdout)
        kt = int(doc["key_token"], 16)
        owner = next((p for p in ring if p[0] >= kt), ring[0])
        assert (doc["owner"]["token"], doc["owner"]["host"], doc["owner"]["port"]) == \
            (f"{owner[0]:08x}", owner[1], owner[2]), key


def test_a_small_ring_is_whole_and_not_partial(srv):
    c = srv.client()
    for i in range(20):
        assert c.register("small", "hm", f"lon6-small-a{i}.lon6.example.net", 80).error == 0
    before = partial_answers(srv)
    r = ring_answer(srv, "small", "hm")
    assert len(r.answer[0][0].strings) == 20 * VNODES
    assert not [o for o in r.options if o.otype == 15]
    assert partial_answers(srv) == before
