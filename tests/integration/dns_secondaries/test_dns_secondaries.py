"""The secondary chain with real secondaries (issue 12, "Must show"): NSD,
Knot and BIND, each configured from its deploy/ snippet with a key made by
tsig-keygen, transfer rosterd's services zone signed from two registries
(two rosterd, each registered with the same instances by the test) that
NOTIFY them signed. Each secondary

- serves a 2,500-endpoint service over TCP (an SRV subset, A, and the
  ring's shards, whole);
- follows registrations, deregistrations and status changes (its SRV and A
  answers equal rosterd's within a bounded wait; the lag is measured and
  printed in the summary);
- keeps following when the registry it lists first is killed, then when
  the other restarts, then when that one's data dir is wiped, its serial
  going up all along (the serial is the clock's);
- started after all that, catches up.

Then unsigned, badly signed and out-of-ACL transfer requests, from dig and
kdig, are refused, counted and logged."""
import re
import shutil
import statistics
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import harness
import secondary_helpers as sh
from dns_helpers import wait_dns
from harness import Rosterd, hold_for, pb, wait_until
from nsd_helpers import settled_serial, soa_serial_at

ZONE = sh.ZONE
WEB_SRV = "_web._http." + ZONE
WEB_A = "web." + ZONE
BIG = 2500
FOLLOW_S = 10  # the bound on a secondary's lag, seconds (measured: tens of ms)

LAGS = {}  # kind -> [(what, seconds)], printed by conftest.py
XFRS = {}  # kind -> {registry: {"type result": count}} before the first dies, printed too


def newer(a, b):
    """RFC 1982: serial a is newer than b."""
    return a != b and (a - b) % 2**32 < 2**31


def answer(port, name, rdtype, tcp=False):
    """The answer's RRs of @p rdtype as a frozenset of their text (empty
    for NXDOMAIN and NODATA), or the rcode's name for any other rcode."""
    q = dns.message.make_query(name, rdtype)
    f = dns.query.tcp if tcp else dns.query.udp
    r = f(q, "127.0.0.1", port=port, timeout=2)
    if r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return dns.rcode.to_text(r.rcode())
    t = dns.rdatatype.from_text(rdtype)
    return frozenset(rr.to_text() for rrset in r.answer if rrset.rdtype == t for rr in rrset)


def web_view(port):
    """What a client of the web service sees at 127.0.0.1:@p port."""
    return answer(port, WEB_SRV, "SRV"), answer(port, WEB_A, "A")


def web(i):
    return dict(service="web", protocol="http", host=f"web-{i}.lon6.example.net", port=8080)


def register(c, i):
    r = c.register(**web(i), addresses=[f"10.0.0.{i + 1}"])
    assert r.error == 0, r.message


def deregister(c, i):
    r = c.request(deregister=pb().DeregisterRequest(instance=pb().InstanceId(**web(i))))
    assert r.error == 0 and r.deregister.removed == 1, r


def set_status(c, i, status):
    r = c.request(set_status=pb().SetStatusRequest(instance=pb().InstanceId(**web(i)),
                                                   status=status))
    assert r.error == 0, r.message


def register_big(c):
    """BIG instances of _big._tcp, pipelined."""
    ids = [c.send(register=pb().RegisterRequest(instance=pb().Instance(
        service="big", protocol="tcp", host=f"big-{i:04d}.lon6.example.net", port=9000,
        addresses=[f"10.1.{i // 250}.{i % 250 + 1}"]))) for i in range(BIG)]
    for rid in ids:
        r = c.wait(rid)
        assert r.error == 0, r.message


class Chain:
    """Two registries and a secondary of both; the lags measured."""

    def __init__(self, kind, tmp_path, key, sec_port):
        self.kind, self.tmp_path, self.key, self.sec_port = kind, tmp_path, key, sec_port
        extra = ["--xfr-allow", "127.0.0.1/32", "--tsig-keyfile", key.path,
                 "--xfr-key", key.name, "--notify", f"127.0.0.1:{sec_port}"]
        for n in (1, 2):
            (tmp_path / f"r{n}").mkdir()
        self.regs = [Rosterd(tmp_path / f"r{n}", extra=extra) for n in (1, 2)]
        self.live = []  # the registries running, and a client of each
        self.sec = None
        self.serials = []  # the secondary's serial after each step
        self.lags = LAGS.setdefault(kind, [])

    def start(self, r):
        ports = (r.api_port, r.dns_port, r.http_port)
        wait_dns(r.start())
        # The secondary's config names the DNS port picked at first.
        assert (r.api_port, r.dns_port, r.http_port) == ports, "a port was taken meanwhile"
        self.live.append((r, r.client()))

    def stop(self, r, kill=False):
        for i, (s, c) in enumerate(self.live):
            if s is r:
                c.close()
                del self.live[i]
                break
        rc = r.kill9() if kill else r.stop()
        assert rc == (-9 if kill else 0), f"rosterd exited {rc}\n{r.logs()[-3000:]}"

    def each(self, op):
        """op(client) on every live registry, in turn; the time the first
        acknowledged."""
        first = None
        for _, c in self.live:
            op(c)
            first = first or time.monotonic()
        return first

    def follow(self, what, op):
        """Apply op on every registry; wait until the secondary answers as
        the registries do; record the lag from the first acknowledgement."""
        sec = self.sec
        t0 = self.each(op)
        want = web_view(self.live[0][0].dns_port)
        for r, _ in self.live[1:]:
            assert web_view(r.dns_port) == want, "the registries disagree"

        def same():
            assert sec.alive(), f"{self.kind} exited:\n{sec.log_tail()}"
            return web_view(sec.port) == want
        try:
            wait_until(same, FOLLOW_S, f"{self.kind} answering {what}", interval=0.005)
        except AssertionError:
            raise AssertionError(f"{self.kind} not following {what}: {web_view(sec.port)} "
                                 f"!= {want}\n{sec.log_tail()}")
        lag = time.monotonic() - t0
        self.lags.append((what, lag))
        self.serial_went_up(what)
        return lag

    def serial_went_up(self, what):
        s = wait_until(self.sec.serial, 5, f"{self.kind} serving the zone")
        if self.serials:
            assert newer(s, self.serials[-1]), (what, s, self.serials)
        self.serials.append(s)

    def settled(self):
        """The live registries' settled serials (versions published)."""
        return [_settled(r) for r, _ in self.live]

    def close(self):
        if self.sec:
            self.sec.stop()
        for r, c in list(self.live):
            c.close()
        for r in self.regs:
            r.stop()


def _settled(r):
    return settled_serial(r.dns_port, ZONE)


def transfers(r):
    """roster_dns_transfers_total of registry @p r: {(type, result): count}."""
    return {(t, res): int(n) for t, res, n in re.findall(
        r'^roster_dns_transfers_total\{type="(\w+)",result="(\w+)"\} (\d+)$', r.metrics(), re.M)}


def check_big(port, primary_port):
    """The 2,500-endpoint service at the secondary, over TCP: a non-empty
    SRV subset and A set of what is registered, and the ring, whole over
    its shards, as the registry serves it."""
    hosts = {f"big-{i:04d}.lon6.example.net." for i in range(BIG)}
    addrs = {f"10.1.{i // 250}.{i % 250 + 1}" for i in range(BIG)}
    srv = answer(port, "_big._tcp." + ZONE, "SRV", tcp=True)
    assert isinstance(srv, frozenset) and len(srv) > 100, srv
    assert {t.split()[3] for t in srv} <= hosts
    a = answer(port, "big." + ZONE, "A", tcp=True)
    assert isinstance(a, frozenset) and len(a) > 100 and a <= addrs, a
    ring = answer(port, "_ring._big._tcp." + ZONE, "TXT", tcp=True)
    assert ring == answer(primary_port, "_ring._big._tcp." + ZONE, "TXT", tcp=True), ring
    (head,) = ring
    m = re.fullmatch(r'"shards=(\d+)"', head)
    assert m, head
    shards = int(m.group(1))
    assert shards >= 2
    points = 0
    for k in range(1, shards + 1):
        name = f"{k}._ring._big._tcp." + ZONE
        got = answer(port, name, "TXT", tcp=True)
        assert got and got == answer(primary_port, name, "TXT", tcp=True), (k, got)
        points += sum(len(t.split('" "')) for t in got)
    assert points == 8 * BIG, points  # RS_RING_VNODES per instance: the whole ring
    return len(srv), len(a), shards


@pytest.mark.parametrize("kind", sh.KINDS)
def test_secondary_follows_two_registries(tmp_path, kind):
    key = sh.make_key(tmp_path)
    sec_port = harness.free_port(both=True)
    chain = Chain(kind, tmp_path, key, sec_port)
    try:
        for r in chain.regs:
            chain.start(r)
        p1, p2 = chain.regs
        for i in range(3):
            chain.each(lambda c: register(c, i))
        chain.each(register_big)
        settled = chain.settled()

        # The secondary, from the snippet, both registries its primaries.
        t0 = time.monotonic()
        chain.sec = sh.start_secondary(kind, tmp_path / "s1", sec_port,
                                       [p1.dns_port, p2.dns_port], key)
        want = max(settled, key=lambda s: (s - settled[0]) % 2**32)
        try:
            wait_until(chain.sec.serial, 60, f"{kind} at serial {want}", want=want)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{kind}'s log:\n{chain.sec.log_tail()}") from None
        chain.lags.append(("first transfer, 2,500 + 3 endpoints", time.monotonic() - t0))
        chain.serials.append(want)
        n_srv, n_a, shards = check_big(sec_port, p1.dns_port)
        print(f"{kind}: _big._tcp SRV {n_srv}, A {n_a}, ring shards {shards}")
        assert web_view(sec_port) == web_view(p1.dns_port)

        # Registrations, a status change, deregistrations.
        chain.follow("registration", lambda c: register(c, 3))
        chain.follow("registration", lambda c: register(c, 4))
        chain.follow("status DOWN", lambda c: set_status(c, 1, pb().DOWN))
        chain.follow("status UP", lambda c: set_status(c, 1, pb().UP))
        chain.follow("deregistration", lambda c: deregister(c, 0))
        for r in chain.regs:
            assert r.metric("roster_dns_notify_total", result="failed") == 0
            assert r.metric("roster_dns_notify_total", result="acked") >= 1

        for n, r in enumerate(chain.regs, 1):
            XFRS.setdefault(kind, {})[f"registry {n}"] = {
                f"{t} {res}": c for (t, res), c in transfers(r).items() if c}

        # The registry listed first dies: the secondary follows the other.
        chain.stop(p1, kill=True)
        chain.follow("registration, first registry dead", lambda c: register(c, 5))
        # The other restarts on its data.
        chain.stop(p2)
        chain.start(p2)
        chain.follow("registration after a restart", lambda c: deregister(c, 3))
        # Its data dir is wiped: an empty store holds its zone for
        # --xfr-warmup, with an SOA serial older than the secondary's, which
        # keeps serving what it has (the site's clients would register
        # again meanwhile); then the empty zone, under a newer serial.
        chain.stop(p2)
        shutil.rmtree(p2.data)
        before, held = web_view(sec_port), chain.serials[-1]
        assert before[0], before
        p2.extra = p2.extra + ["--xfr-warmup", "3s"]
        chain.start(p2)
        assert "the store started empty" in p2.logs()
        assert newer(held, soa_serial_at(p2.dns_port, ZONE)), "the held registry's serial is older"
        assert p2.metric("roster_dns_zone_warming") == 1
        hold_for(2.0, lambda: web_view(sec_port) == before and chain.sec.serial() == held,
                 f"{kind} keeping its copy while the wiped registry warms up")
        wait_until(lambda: web_view(sec_port) == (frozenset(), frozenset()), FOLLOW_S,
                   f"{kind} serving the wiped registry's empty zone")
        assert p2.metric("roster_dns_zone_warming") == 0
        chain.serial_went_up("wiped")
        chain.follow("registration after a wipe", lambda c: register(c, 6))
        assert p2.metric("roster_dns_notify_total", result="failed") == 0
        done = transfers(p2)
        assert not {k: n for k, n in done.items() if n and k[1] not in (
            "full", "incremental", "soa", "refused_warmup")}, \
            done  # every transfer the secondary asked for was signed and allowed (or held)

        # A second secondary started now (the first registry still dead)
        # catches up with everything.
        late_port = harness.free_port(both=True)
        t0 = time.monotonic()
        late = sh.start_secondary(kind, tmp_path / "s2", late_port,
                                  [p1.dns_port, p2.dns_port], key)
        try:
            (serial,) = chain.settled()
            wait_until(late.serial, 30, f"the late {kind} at serial {serial}", want=serial)
            chain.lags.append(("late secondary's first transfer", time.monotonic() - t0))
            assert web_view(late_port) == web_view(p2.dns_port) == web_view(sec_port)
            srv, a = web_view(late_port)
            assert [t.split()[3] for t in srv] == ["web-6.lon6.example.net."] and \
                a == {"10.0.0.7"}, (srv, a)
        finally:
            late.stop()
        chain.stop(p2)  # exit 0: no sanitizer report
    finally:
        chain.close()
    follows = [s for w, s in chain.lags if not w.startswith(("first", "late"))]
    print(f"{kind}: lag median {statistics.median(follows) * 1000:.0f} ms, "
          f"max {max(follows) * 1000:.0f} ms")


def test_refused_transfers_are_counted_and_logged(tmp_path):
    """Requests no secondary of ours sends, from BIND's dig and Knot's kdig:
    unsigned, signed with the right key name and a wrong secret, and signed
    properly from outside --xfr-allow (127.0.0.2: Linux answers for all of
    127/8), AXFR and IXFR. Each is refused (kdig prints the rcode and the
    TSIG error; dig, which prints "Transfer failed." only, is checked by the
    counters), counted by reason and logged with its source."""
    key = sh.make_key(tmp_path)
    wrong = f"hmac-sha256:{key.name}:{'A' * 43}="
    extra = ["--xfr-allow", "127.0.0.1/32", "--tsig-keyfile", key.path, "--xfr-key", key.name]
    with Rosterd(tmp_path, extra=extra) as s:
        wait_dns(s)
        c = s.client()
        register(c, 0)
        serial = _settled(s)

        def run(tool, *args, src="127.0.0.1", y=None):
            cmd = [tool, "@127.0.0.1", "-p", str(s.dns_port), "-b", src] + list(args) + [ZONE]
            cmd += ["+time=5", "+tries=1"] if tool == "dig" else ["+time=5", "+retry=0"]
            r = harness.run(cmd + (["-y", y] if y else []))
            return r.stdout + r.stderr
        ixfr = f"IXFR={serial - 1}"
        for q in ("AXFR", ixfr):
            assert "Transfer failed." in run("dig", q)
            assert "REFUSED" in run("kdig", q)
            out = run("dig", q, y=wrong)
            assert "BADSIG" in out and "Transfer failed." in out, out
            assert "BADSIG" in run("kdig", q, y=wrong)
            assert "Transfer failed." in run("dig", q, src="127.0.0.2", y=key.kdig())
            assert "REFUSED" in run("kdig", q, src="127.0.0.2", y=key.kdig())
        # The control: the same tools, signed, from inside the ACL.
        out = run("dig", "AXFR", y=key.kdig())
        assert "web-0.lon6.example.net." in out and "Transfer failed" not in out, out
        assert "SOA" in run("kdig", ixfr, y=key.kdig())  # full: serial - 1 was never ours
        got = {k: n for k, n in transfers(s).items() if n}
        assert got == {("axfr", "refused_unsigned"): 2, ("axfr", "badsig"): 2,
                       ("axfr", "refused_acl"): 2, ("axfr", "full"): 1,
                       ("ixfr", "refused_unsigned"): 2, ("ixfr", "badsig"): 2,
                       ("ixfr", "refused_acl"): 2, ("ixfr", "full"): 1}, got
        logs = s.logs()
        # Once a minute per source address and reason: the IXFRs are counted only.
        for src, why in (("127.0.0.1", "refused_unsigned"), ("127.0.0.1", "badsig"),
                         ("127.0.0.2", "refused_acl")):
            assert len(re.findall(rf"AXFR from {src}:\d+ refused: {why}\b", logs)) == 1, logs
        assert "IXFR from" not in logs
        c.close()
