"""--static FILE: declarative permanent instances. Both registries of a site
given the same file answer identically (API and DNS); the file is read again
on SIGHUP; a bad file keeps the old set, names its line once and flips the
metrics; the API cannot change a static instance; the instances are not
persisted (the file is the record); query output and the status page say
STATIC."""
import json
import os
import signal
import sys
import urllib.request

import dns.message
import dns.query
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import query_hosts, roster  # noqa: E402
from dns_helpers import ZONE, wait_dns  # noqa: E402
from harness import Rosterd, pb, wait_until  # noqa: E402

WEB1 = {"service": "web", "protocol": "http", "host": "w1.lon6.example.net", "port": 80,
        "addresses": ["10.0.0.1", "2001:db8::1"], "weight": 5, "priority": 1,
        "metadata": {"az": "1", "rack": "r7"}}
WEB2 = {"service": "web", "protocol": "http", "host": "w2.lon6.example.net", "port": 80,
        "addresses": ["10.0.0.2"]}
DB1 = {"service": "db", "protocol": "tcp", "host": "db1.lon6.example.net", "port": 5432,
       "status": "DOWN"}


def write(path, *lines, raw=()):
    path.write_text("# static instances of lon6\n" +
                    "".join(json.dumps(x) + "\n" for x in lines) + "".join(raw))


def static_registry(tmp_path, name, static):
    d = tmp_path / name
    d.mkdir()
    return wait_dns(Rosterd(d, extra=["--static", str(static)]).start())


@pytest.fixture
def pair(tmp_path):
    static = tmp_path / "static.jsonl"
    write(static, WEB1, WEB2, DB1)
    regs = [static_registry(tmp_path, n, static) for n in ("a", "b")]
    try:
        yield regs, static
    finally:
        for r in regs:
            r.stop()


def answer(srv, name, rtype, tcp=False):
    q = dns.message.make_query(name, rtype)
    send = dns.query.tcp if tcp else dns.query.udp
    r = send(q, "127.0.0.1", port=srv.dns_port, timeout=3)
    # Sorted record by record: the order within an RRset is shuffled (by weight).
    return r.rcode(), sorted(line for rr in r.answer for line in rr.to_text().splitlines())


def test_both_registries_serve_the_file_identically(pair):
    regs, _ = pair
    for r in regs:
        assert query_hosts(r.api_port, "web") == ["w1.lon6.example.net.:80",
                                                  "w2.lon6.example.net.:80"]
        assert query_hosts(r.api_port, "db", all=True) == ["db1.lon6.example.net.:5432"]
        assert query_hosts(r.api_port, "db") == []  # DOWN, as the file says
    for name, rtype in ((f"_web._http.{ZONE}", "SRV"), (f"web.{ZONE}", "A"),
                        (f"web.{ZONE}", "AAAA")):
        a, b = answer(regs[0], name, rtype), answer(regs[1], name, rtype)
        assert a == b, (name, rtype, a, b)
        assert a[1], (name, rtype, a)  # not an empty answer
    assert answer(regs[0], f"_web._http.{ZONE}", "SRV", tcp=True) == \
        answer(regs[1], f"_web._http.{ZONE}", "SRV", tcp=True)
    # What the API lists is the same too, field by field (but the times).
    docs = []
    for r in regs:
        out = roster("--server", f"127.0.0.1:{r.api_port}", "--json", "query", "web",
                     "--all")
        assert out.returncode == 0, out.stderr
        insts = json.loads(out.stdout)["instances"]
        for i in insts:
            i.pop("registered_at_ms")
            i.pop("status_since_ms")
        docs.append(insts)
    assert docs[0] == docs[1]
    assert {i["expiry"] for i in docs[0]} == {"STATIC"}
    assert docs[0][0]["metadata"] == {"az": "1", "rack": "r7"}
    for r in regs:
        assert r.metric("roster_static_instances") == 3
        assert r.metric("roster_static_ok") == 1


def test_query_output_and_status_page_say_static(pair):
    regs, _ = pair
    out = roster("--server", f"127.0.0.1:{regs[0].api_port}", "query", "web")
    assert out.returncode == 0, out.stderr
    assert "expires STATIC" in out.stdout, out.stdout
    with urllib.request.urlopen(f"http://127.0.0.1:{regs[0].http_port}/", timeout=5) as p:
        page = p.read().decode()
    assert "STATIC" in page
    with urllib.request.urlopen(f"http://127.0.0.1:{regs[0].http_port}/v1/services",
                                timeout=5) as p:
        assert '"STATIC"' in p.read().decode()


def test_the_api_cannot_change_a_static_instance(pair):
    regs, _ = pair
    server = f"127.0.0.1:{regs[0].api_port}"
    ident = ["--service", "web", "--protocol", "http", "--host", "w1.lon6.example.net",
             "--port", "80"]
    for args in (["deregister", *ident], ["status", *ident, "down"],
                 ["register", *ident, "--permanent"]):
        r = roster("--server", server, *args)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert "_web._http w1.lon6.example.net:80 is static (this registry's --static " \
               "file): not changed through the API" in r.stderr, r.stderr
    # A leased registration of the same identity: refused as well.
    c = regs[0].client()
    lease = c.open_lease(10)
    resp = c.register("web", "http", "w1.lon6.example.net", 80, lease=lease)
    assert resp.error == pb().INVALID_ARGUMENT and "is static" in resp.message, resp
    assert query_hosts(regs[0].api_port, "web") == ["w1.lon6.example.net.:80",
                                                    "w2.lon6.example.net.:80"]
    out = roster("--server", server, "--json", "query", "web")
    w1 = [i for i in json.loads(out.stdout)["instances"] if i["host"].startswith("w1")][0]
    assert w1["status"] == "UP" and w1["weight"] == 5 and w1["expiry"] == "STATIC"


def test_sighup_reads_the_file_again(pair):
    regs, static = pair
    revision = regs[0].client().stats().revision
    regs[0].proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "static: " in regs[0].logs() and
               regs[0].logs().count("0 added, changed or removed") >= 1, 10,
               "the same file read again")
    assert regs[0].client().stats().revision == revision  # nothing changed
    write(static, dict(WEB1, weight=9), DB1)  # w2 goes, w1 changes
    for r in regs:
        r.proc.send_signal(signal.SIGHUP)
    for r in regs:
        wait_until(lambda: query_hosts(r.api_port, "web") == ["w1.lon6.example.net.:80"], 10,
                   "w2 removed on SIGHUP")
        assert r.metric("roster_static_instances") == 2
    a, b = (answer(r, f"_web._http.{ZONE}", "SRV") for r in regs)
    assert a == b and len(a[1]) == 1 and " 9 80 " in a[1][0], (a, b)


def test_a_bad_file_keeps_the_old_set_names_the_line_and_says_so(pair):
    regs, static = pair
    r = regs[0]
    loads = r.metric("roster_static_loads_total")
    assert loads >= 1, "the read at start"
    write(static, WEB1, raw=['{"service":"web","protocol":"http","host":"w9.example.net",'
                             '"port":99999}\n', json.dumps(WEB2) + "\n"])
    r.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: r.metric("roster_static_load_errors_total") == 1, 10,
               "the refusal counted")
    assert r.metric("roster_static_ok") == 0
    errors = [l for l in r.logs().splitlines() if "static:" in l and str(static) in l
              and "still serving" in l]
    assert len(errors) == 1, errors
    assert f"{static}:3: \"port\" must be an integer from 1 to 65535" in errors[0], errors
    # The old set stays: all three, DNS included.
    assert query_hosts(r.api_port, "web") == ["w1.lon6.example.net.:80",
                                              "w2.lon6.example.net.:80"]
    assert r.metric("roster_static_instances") == 3
    assert answer(r, f"_web._http.{ZONE}", "SRV") == answer(regs[1], f"_web._http.{ZONE}",
                                                            "SRV")
    write(static, WEB1)
    r.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: r.metric("roster_static_ok") == 1, 10, "the fixed file read")
    assert query_hosts(r.api_port, "web") == ["w1.lon6.example.net.:80"]
    assert r.metric("roster_static_load_errors_total") == 1
    assert r.metric("roster_static_loads_total") == loads + 1, "the refused read is no load"


def test_not_persisted_the_file_is_the_record(tmp_path):
    static = tmp_path / "static.jsonl"
    write(static, WEB1)
    (tmp_path / "a").mkdir()
    r = Rosterd(tmp_path / "a", extra=["--static", str(static)]).start()
    try:
        assert query_hosts(r.api_port, "web") == ["w1.lon6.example.net.:80"]
        c = r.client()
        assert c.register("api", "tcp", "x.lon6.example.net", 1).error == 0
        r.stop()
        r.extra = []  # the same data dir, no --static
        r.start()
        assert query_hosts(r.api_port, "web") == []
        assert query_hosts(r.api_port, "api") == ["x.lon6.example.net.:1"]
        r.stop()
        # An instance from the API that the file then lists becomes static,
        # and its record leaves the disk.
        write(static, {"service": "api", "protocol": "tcp", "host": "x.lon6.example.net",
                       "port": 1, "weight": 3})
        r.extra = ["--static", str(static)]
        r.start()
        out = roster("--server", f"127.0.0.1:{r.api_port}", "--json", "query", "api")
        inst = json.loads(out.stdout)["instances"]
        assert [(i["expiry"], i["weight"]) for i in inst] == [("STATIC", 3)]
        r.stop()
        r.extra = []
        r.start()
        assert query_hosts(r.api_port, "api") == []
    finally:
        r.stop()


def test_a_bad_file_at_start_starts_without_static_instances(tmp_path):
    static = tmp_path / "static.jsonl"
    static.write_text(json.dumps(WEB1) + "\nnot json\n")
    (tmp_path / "a").mkdir()
    with Rosterd(tmp_path / "a", extra=["--static", str(static)]).start() as r:
        assert query_hosts(r.api_port, "web") == []
        assert r.metric("roster_static_ok") == 0
        assert r.metric("roster_static_load_errors_total") == 1
        assert r.metric("roster_static_loads_total") == 0
        assert f"{static}:2: not a JSON object" in r.logs()


def test_a_restart_with_a_bad_file_serves_the_last_good_one(tmp_path):
    """SPEC: a bad file keeps the old set. SIGHUP does; so does a restart
    (a rolling upgrade after config management shipped one bad line): the
    last file that loaded is kept in the data dir and served, the refusal
    still logged with its line and counted."""
    static = tmp_path / "static.jsonl"
    write(static, WEB1, WEB2)
    (tmp_path / "a").mkdir()
    r = Rosterd(tmp_path / "a", extra=["--static", str(static)])
    r.start()
    try:
        assert query_hosts(r.api_port, "web") == ["w1.lon6.example.net.:80",
                                                  "w2.lon6.example.net.:80"]
        r.stop()
        write(static, WEB1, raw=["not json\n"])
        r.start()
        assert query_hosts(r.api_port, "web") == ["w1.lon6.example.net.:80",
                                                  "w2.lon6.example.net.:80"]
        assert r.metric("roster_static_ok") == 0
        assert r.metric("roster_static_load_errors_total") == 1
        line = [l for l in r.logs().splitlines() if "last good copy" in l]
        assert len(line) == 1 and f"{static}:3: not a JSON object" in line[0], line
        # Mended: the new file is served and becomes the last good one.
        write(static, WEB2)
        r.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: r.metric("roster_static_ok") == 1, 10, "the mended file read")
        assert query_hosts(r.api_port, "web") == ["w2.lon6.example.net.:80"]
    finally:
        r.stop()
