"""roster doctor on a two-registry site (sites.conf with dns= and http=):
passes when all is well; fails, naming the culprit, for a registry down, a
DNS listener that drops packets (the site's DNS address a socket bound but
never answering), two registries that disagree, a secondary behind (NSD
whose primary is stopped), and an NS RRset that does not name the
registries."""
import json
import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402
from dns_helpers import ZONE, wait_dns  # noqa: E402
from harness import Rosterd, free_port, stop_process  # noqa: E402
from nsd_helpers import settled_serial, start_secondary, wait_serial  # noqa: E402

REG = ["--xfr-allow", "127.0.0.1/32", "--ns", "localhost"]


def registry(tmp_path, name, extra=REG):
    d = tmp_path / name
    d.mkdir()
    return wait_dns(Rosterd(d, extra=list(extra)).start())


def sites_line(r, dns=None):
    return (f"lon6 127.0.0.1:{r.api_port} dns={dns or f'127.0.0.1:{r.dns_port}'} "
            f"http=127.0.0.1:{r.http_port}\n")


def doctor(sites, *args):
    return roster("-s", "lon6", "--timeout", "1000", "doctor", *args,
                  env={"ROSTER_SITES": str(sites)}, timeout=60)


def lines(r, word):
    return [l for l in r.stdout.splitlines() if l.startswith("FAIL") and word in l]


@pytest.fixture
def site(tmp_path):
    regs = [registry(tmp_path, n) for n in ("a", "b")]
    sites = tmp_path / "sites.conf"
    sites.write_text("".join(sites_line(r) for r in regs))
    try:
        yield tmp_path, regs, sites
    finally:
        for r in regs:
            r.stop()


def test_a_healthy_site_passes_every_check(site):
    tmp_path, regs, sites = site
    for r in regs:
        assert r.client().register("web", "http", "w1.lon6.example.net", 80).error == 0
    sec_port = free_port(both=True)
    serial = settled_serial(regs[0].dns_port, ZONE)
    nsd, _ = start_secondary(tmp_path, sec_port, ZONE, regs[0].dns_port, reload_at_once=True)
    try:
        wait_serial(sec_port, ZONE, serial, 20, procs=[nsd])
        r = doctor(sites, "--secondary", f"127.0.0.1:{sec_port}")
        assert r.returncode == 0, r.stdout + r.stderr
        out = r.stdout.splitlines()
        assert all(l.startswith("ok ") for l in out), r.stdout
        for reg in regs:
            for check in (f"127.0.0.1:{reg.api_port} api", f"127.0.0.1:{reg.dns_port} dns-udp",
                          f"127.0.0.1:{reg.dns_port} dns-tcp", f"127.0.0.1:{reg.http_port} http"):
                assert any(check in l for l in out), (check, r.stdout)
        for check in ("agree instances", "agree serials", "ns:", f"127.0.0.1:{sec_port} secondary"):
            assert any(check in l for l in out), (check, r.stdout)
        j = roster("-s", "lon6", "--json", "doctor", env={"ROSTER_SITES": str(sites)})
        doc = json.loads(j.stdout)
        assert j.returncode == 0 and doc["ok"] is True and len(doc["checks"]) >= 10, j.stdout
    finally:
        stop_process(nsd)


def test_a_registry_down_is_named(site):
    _, regs, sites = site
    regs[1].kill9()
    r = doctor(sites)
    assert r.returncode == 1, r.stdout
    assert lines(r, f"127.0.0.1:{regs[1].api_port} api"), r.stdout
    assert lines(r, f"127.0.0.1:{regs[1].dns_port} dns-udp"), r.stdout
    assert lines(r, f"127.0.0.1:{regs[1].http_port} http"), r.stdout
    assert not lines(r, f"127.0.0.1:{regs[0].api_port}"), r.stdout


def test_a_dns_listener_that_drops_packets_is_named(site):
    tmp_path, regs, sites = site
    # Bound, never answering: UDP queries vanish, TCP connects but hears nothing.
    # A UDP port the kernel chose may be taken on TCP: try again until both bind.
    for _ in range(100):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", port))
            break
        except OSError:
            udp.close()
            tcp.close()
    else:
        raise AssertionError("no port free on both UDP and TCP in 100 tries")
    tcp.listen(8)
    try:
        sites.write_text(sites_line(regs[0]) + sites_line(regs[1], dns=f"127.0.0.1:{port}"))
        r = doctor(sites)
        assert r.returncode == 1, r.stdout
        udp_fail = lines(r, f"127.0.0.1:{port} dns-udp")
        assert udp_fail and "no answer in 1000 ms" in udp_fail[0], r.stdout
        assert lines(r, f"127.0.0.1:{port} dns-tcp"), r.stdout
        assert not lines(r, f"127.0.0.1:{regs[0].dns_port}"), r.stdout
    finally:
        udp.close()
        tcp.close()


def test_registries_that_disagree_are_named(site):
    _, regs, sites = site
    assert regs[0].client().register("web", "http", "only-a.lon6.example.net", 80).error == 0
    r = doctor(sites)
    assert r.returncode == 1, r.stdout
    fail = lines(r, "agree instances")
    assert fail, r.stdout
    assert f"127.0.0.1:{regs[0].api_port} and 127.0.0.1:{regs[1].api_port} differ" in fail[0]
    assert "web/http only-a.lon6.example.net.:80 UP" in fail[0], fail


def test_a_secondary_behind_is_named(site):
    tmp_path, regs, sites = site
    sec_port = free_port(both=True)
    serial = settled_serial(regs[0].dns_port, ZONE)
    nsd, _ = start_secondary(tmp_path, sec_port, ZONE, regs[0].dns_port, reload_at_once=True)
    try:
        wait_serial(sec_port, ZONE, serial, 20, procs=[nsd])
        regs[0].kill9()  # the secondary's primary
        assert regs[1].client().register("web", "http", "w2.lon6.example.net", 80).error == 0
        newer = settled_serial(regs[1].dns_port, ZONE)
        assert newer != serial
        r = doctor(sites, "--secondary", f"127.0.0.1:{sec_port}", "--max-lag", "1")
        assert r.returncode == 1, r.stdout
        fail = lines(r, f"127.0.0.1:{sec_port} secondary")
        assert fail and f"serial {serial}," in fail[0] and "behind" in fail[0], r.stdout
    finally:
        stop_process(nsd)


def test_an_ns_rrset_that_does_not_name_the_registries_fails(tmp_path):
    regs = [registry(tmp_path, n, ["--xfr-allow", "127.0.0.1/32", "--ns",
                                    "ns1.invalid"]) for n in ("a", "b")]
    try:
        sites = tmp_path / "sites.conf"
        sites.write_text("".join(sites_line(r) for r in regs))
        r = doctor(sites)
        assert r.returncode == 1, r.stdout
        fail = lines(r, "ns:")
        assert fail and "is not an address of the NS" in fail[0] and "ns1.invalid." in fail[0], \
            r.stdout
    finally:
        for reg in regs:
            reg.stop()


def test_bad_arguments_are_usage_errors(tmp_path):
    r = roster("doctor", "--secondary", "nonsense")
    assert r.returncode == 2 and "invalid --secondary 'nonsense'" in r.stderr, r.stderr
    sites = tmp_path / "sites.conf"
    sites.write_text("lon6 127.0.0.1:7600 dns=x\n")
    r = roster("-s", "lon6", "doctor", env={"ROSTER_SITES": str(sites)})
    assert r.returncode == 2 and ":1: expected 'SITE ADDRESS:PORT [dns=" in r.stderr, r.stderr


def test_disagreements_past_the_first_line_are_named(site):
    # 66 instances both registries hold (the listing grows past its first
    # 64 lines), then one each that the other lacks
    _, regs, sites = site
    for r in regs:
        c = r.client()
        for i in range(66):
            assert c.register("web", "http", f"h{i:02d}.lon6.example.net", 80).error == 0
    assert regs[0].client().register("web", "http", "x1.lon6.example.net", 80).error == 0
    assert regs[1].client().register("web", "http", "x2.lon6.example.net", 80).error == 0
    r = doctor(sites)
    assert r.returncode == 1, r.stdout
    fail = lines(r, "agree instances")
    assert len(fail) == 1 and fail[0].endswith(
        "(first difference: web/http x1.lon6.example.net.:80 UP)"), r.stdout
    assert f"127.0.0.1:{regs[0].api_port} api: site lon6, revision 67, 67 instances" in r.stdout
    # the first registry's listing a prefix of the second's: the line is
    # one only the second has
    assert regs[1].client().register("web", "http", "x1.lon6.example.net", 80).error == 0
    r = doctor(sites)
    fail = lines(r, "agree instances")
    assert len(fail) == 1 and fail[0].endswith(
        "(first difference: an instance only the second has)"), r.stdout


def test_the_api_checks_use_the_token(tmp_path):
    """A site with --api-tokens (the production setup): the doctor sends the
    token of --token-file or ROSTER_TOKEN, as every other command does, and
    passes; without one its API checks are refused and say so."""
    import hashlib
    secret = "doctor-read"
    tokens = tmp_path / "tokens"
    tokens.write_text(f"mon sha256:{hashlib.sha256(secret.encode()).hexdigest()} read\n")
    regs = [registry(tmp_path, n, REG + ["--api-tokens", str(tokens)]) for n in ("a", "b")]
    try:
        sites = tmp_path / "sites.conf"
        sites.write_text("".join(sites_line(r) for r in regs))
        tf = tmp_path / "token"
        tf.write_text(secret + "\n")
        r = doctor(sites, "--token-file", str(tf))
        assert r.returncode == 0, r.stdout + r.stderr
        assert sum(" api" in l and l.startswith("ok ") for l in r.stdout.splitlines()) == 2
        r = roster("-s", "lon6", "--timeout", "1000", "doctor",
                   env={"ROSTER_SITES": str(sites), "ROSTER_TOKEN": secret}, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        r = doctor(sites)
        assert r.returncode == 1
        assert len([l for l in lines(r, " api") if "permission denied" in l]) == 2, r.stdout
    finally:
        for x in regs:
            x.stop()


def test_registries_on_two_serial_schemes_are_named(tmp_path):
    """One registry of the site forgot --xfr-allow: it serves its store
    revision (1, 2, ...) as serial beside its peer's clock serials, which
    is never ahead of the clock, so only the scheme tells (/metrics'
    roster_dns_zone_serial 0). A site on revision serials alone passes
    that check, and a secondary of it is told it cannot follow."""
    a = registry(tmp_path, "a")
    b = registry(tmp_path, "b", ["--ns", "localhost"])
    try:
        sites = tmp_path / "sites.conf"
        sites.write_text(sites_line(a) + sites_line(b))
        r = doctor(sites)
        assert r.returncode == 1
        fail = lines(r, "agree serials")
        assert len(fail) == 1 and f"127.0.0.1:{a.dns_port} publishes clock serials" in fail[0] \
            and f"127.0.0.1:{b.dns_port} serves its store revision" in fail[0], r.stdout
        sites.write_text(sites_line(b))
        # Any server of the zone will do as the "secondary": b itself.
        r = doctor(sites, "--secondary", f"127.0.0.1:{b.dns_port}")
        assert "ok   agree serials: every registry serves its store revision" in r.stdout, \
            r.stdout
        assert r.returncode == 1 and "cannot follow them" in "".join(lines(r, "secondary")), \
            r.stdout
    finally:
        a.stop()
        b.stop()


def test_a_registry_warming_up_is_named(tmp_path):
    """A registry that started with an empty store holds its first zone
    version for --xfr-warmup: secondaries cannot transfer from it, and its
    SOA serial is a placeholder far behind its peer's. The doctor says so
    (roster_dns_zone_warming), and does not take the placeholder for a
    second serial scheme or a clock gone wrong."""
    a = registry(tmp_path, "a")
    b = registry(tmp_path, "b", REG + ["--xfr-warmup", "600"])
    try:
        sites = tmp_path / "sites.conf"
        sites.write_text(sites_line(a) + sites_line(b))
        r = doctor(sites)
        assert r.returncode == 1, r.stdout
        fail = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
        assert len(fail) == 1 and f"127.0.0.1:{b.http_port} warm-up" in fail[0] \
            and "roster_dns_zone_warming 1" in fail[0], r.stdout
        assert "ok   agree serials: clock serials (--xfr-allow)" in r.stdout, r.stdout
        # A peer out of its warm-up is not named.
        sites.write_text(sites_line(a))
        r = doctor(sites)
        assert r.returncode == 0 and "warm-up" not in r.stdout, r.stdout
    finally:
        a.stop()
        b.stop()
