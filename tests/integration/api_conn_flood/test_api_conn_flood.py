"""Connection floods against the registration API's caps (SPEC: limits are
configurable, every failure is a Response; docs/operations.md): many
connections opened at once, each sending a write straight away. Exactly
the cap's worth are admitted; every other one gets one UNAVAILABLE frame
(id 0, naming the cap it hit) and a close, and its write is never applied;
the admitted ones keep working, the refusals are counted by cap, and
places freed by closes are given again."""
import socket
import struct

from harness import ApiClient, Rosterd, parse_responses, pb, wait_until
from harness import metric_sample as sample

FLOOD = 60


def register_frame(k):
    inst = pb().Instance(service="flood", protocol="tcp", host=f"f{k}.lon6.example.net",
                         port=1000 + k)
    body = pb().Request(id=1, register=pb().RegisterRequest(instance=inst)).SerializeToString()
    return struct.pack(">I", len(body)) + body


def flood(srv, n, sources):
    """@p n connections opened back to back, round-robin over @p sources,
    each sending one Register at once, before anything is read."""
    socks = []
    for k in range(n):
        s = socket.create_connection(("127.0.0.1", srv.api_port), timeout=10,
                                     source_address=(sources[k % len(sources)], 0))
        try:
            s.sendall(register_frame(k))
        except (ConnectionResetError, BrokenPipeError):
            pass  # refused and closed before our write: still counted below
        socks.append(s)
    return socks


def verdict(s):
    """("admitted", reply) for a connection that answered its Register and
    stays open, ("refused", frames) for one closed after its refusal."""
    s.settimeout(10)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return "refused", parse_responses(data)
        data += chunk
        frames = parse_responses(data)
        if frames and frames[0].id == 1:
            return "admitted", frames[0]


def settle(srv):
    """No API connection open (the harness's start-up probe is gone)."""
    wait_until(lambda: sample(srv.metrics(), "roster_api_connections") == 0, 10,
               "no API connection open")


def check_refusals(results, why):
    refused = [r for kind, r in results if kind == "refused"]
    for frames in refused:
        assert len(frames) == 1, frames
        assert frames[0].id == 0 and frames[0].error == pb().UNAVAILABLE, frames[0]
        assert why in frames[0].message, frames[0].message
    return len(refused)


def test_flood_over_the_connection_limit(tmp_path):
    cap = 8
    with Rosterd(tmp_path, extra=["--max-connections", str(cap)]) as srv:
        settle(srv)
        socks = flood(srv, FLOOD, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"])
        results = [verdict(s) for s in socks]
        admitted = [(s, r) for s, (kind, r) in zip(socks, results) if kind == "admitted"]
        assert len(admitted) == cap, [kind for kind, _ in results]
        assert check_refusals(results, "connection limit") == FLOOD - cap
        for _, r in admitted:
            assert r.error == 0, r
        # Only the admitted connections' writes were applied.
        keep = [s for s, _ in admitted]
        for s in socks:
            if s not in keep:
                s.close()
        c = ApiClient.adopt(keep[0], next_id=2)
        admitted_ports = [1000 + k for k, (kind, _) in enumerate(results) if kind == "admitted"]
        assert sorted(i.port for i in c.query("flood", "tcp").query.instances) == admitted_ports
        text = srv.metrics()
        assert sample(text, "roster_api_connections_rejected_total", reason="limit") == FLOOD - cap
        assert sample(text, "roster_api_connections_rejected_total", reason="per_source") == 0
        assert sample(text, "roster_api_connections") == cap
        # Admitted connections still work; closing them gives their places back.
        assert c.stats().instances == cap
        for s in keep[1:]:
            s.close()
        wait_until(lambda: sample(srv.metrics(), "roster_api_connections") == 1, 10,
                   "closed connections released")
        again = [ApiClient(srv.api_port) for _ in range(cap - 1)]
        for a in again:
            assert a.stats().instances == cap
        over = socket.create_connection(("127.0.0.1", srv.api_port), timeout=10)
        assert check_refusals([verdict(over)], "connection limit") == 1
        over.close()
        for a in again:
            a.close()
        c.close()


def test_flood_from_one_source_over_its_per_source_cap(tmp_path):
    """One address floods; another, arriving after the flood, is served."""
    cap = 5
    with Rosterd(tmp_path, extra=["--max-connections-per-source", str(cap),
                                  "--max-connections", "1000"]) as srv:
        settle(srv)
        socks = flood(srv, FLOOD, ["127.0.0.1"])
        results = [verdict(s) for s in socks]
        kinds = [kind for kind, _ in results]
        assert kinds.count("admitted") == cap, kinds
        assert check_refusals(results, "per-source") == FLOOD - cap
        with ApiClient(srv.api_port, source="127.0.0.2") as other:
            assert len(other.query("flood", "tcp").query.instances) == cap
        text = srv.metrics()
        assert sample(text, "roster_api_connections_rejected_total",
                      reason="per_source") == FLOOD - cap
        assert sample(text, "roster_api_connections_rejected_total", reason="limit") == 0
        for s in socks:
            s.close()
