"""roster ring --key: the owner computed by the CLI agrees with an
independent implementation of the documented ring (common/ring.h), here in
Python, over the instances the registry returns."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import VNODES, ring_hash, roster  # noqa: E402
from harness import Rosterd  # noqa: E402

def owner(instances, key):
    points = sorted((ring_hash(f"{h}:{p}#{i}".encode()), h, p)
                    for h, p in instances for i in range(VNODES))
    kt = ring_hash(key.encode())
    for t, h, p in points:
        if t >= kt:
            return (h, p, t)
    return points[0]


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


def test_ring_owner_matches_the_documented_hash(srv):
    env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
    c = srv.client()
    instances = []
    for i in range(5):
        host = f"lon6-storage-a{i}.lon6.example.net"
        assert c.register("storage", "hm", host.upper(), 1234 + i % 2).error == 0
        instances.append((host + ".", 1234 + i % 2))
    # A DOWN instance is not on the ring.
    assert c.register("storage", "hm", "down.lon6.example.net", 1, status=3).error == 0
    for key in ["d34db33f", "song:1", "", "x" * 300, "caf\u00e9"]:
        if key == "":
            continue
        doc = json.loads(roster("--json", "ring", "--service", "storage", "--protocol", "hm",
                                "--key", key, env=env).stdout)
        h, p, t = owner(instances, key)
        assert doc["key_token"] == f"{ring_hash(key.encode()):08x}"
        assert (doc["owner"]["host"], doc["owner"]["port"], doc["owner"]["token"]) == \
            (h, p, f"{t:08x}"), key
        assert doc["points"] == 5 * VNODES
    r = roster("ring", "--service", "storage", "--protocol", "hm", "--key", "d34db33f", env=env)
    h, p, t = owner(instances, "d34db33f")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0] == (f"ring: service:storage, protocol:hm, key:d34db33f "
                                        f"(token {ring_hash(b'd34db33f'):08x}, 40 points)")
    assert f"{h}:{p}  (owner: point " in r.stdout and f"token {t:08x})" in r.stdout


def test_known_vector():
    # Pins the hash itself: a change here breaks every deployed client.
    assert f"{ring_hash(b'd34db33f'):08x}" == "d1026b45"
