"""roster doctor against DNS servers that answer wrongly: a fake DNS server
(UDP and TCP on one port, in this process) answers the doctor's queries
with crafted bytes (an rcode, a header promising records that are not
there, a compression loop, a label or a record running past the end, a
question for another type, an SOA too short for a serial, another id, a
connection closed, reset or silent mid-answer, glue of the wrong length)
or relays them to a real rosterd. Each problem must fail its check with a
line naming it, exit 1, and never crash nor take a spoof for the answer."""
import json
import os
import socket
import struct
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402
from dns_helpers import ZONE, wait_dns  # noqa: E402
from harness import Rosterd, dead_port, free_port, serve_connections  # noqa: E402

SOA, NS, A, AAAA = 6, 2, 1, 28


def wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def question(q):
    """The query's id, qname (wire) and qtype."""
    end = q.index(b"\0", 12) + 1
    return q[:2], q[12:end], struct.unpack("!H", q[end:end + 2])[0]


def header(qid, rcode=0, qd=1, an=0):
    return qid + struct.pack("!HHHHH", 0x8400 | rcode, qd, an, 0, 0)


def rr(owner, rtype, rdata):
    return owner + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata


def soa_rdata(serial):
    return wire("ns." + ZONE) + wire("h." + ZONE) + struct.pack("!IIIII", serial, 1, 1, 1, 1)


def answer(q, records=(), rcode=0, qtype=None):
    """A well-formed answer to @q with these records (owner, type, rdata)."""
    qid, qname, qt = question(q)
    msg = header(qid, rcode, 1, len(records)) + qname + struct.pack("!HH", qtype or qt, 1)
    for owner, rtype, rdata in records:
        msg += rr(owner, rtype, rdata)
    return msg


class FakeDns:
    """UDP and TCP on 127.0.0.1 (or ::1) at one port. udp(query) returns
    the datagrams to send back; tcp(query) the bytes to write, or "reset"
    (close with RST), "close" (close at once) or "hold" (answer nothing
    until the fake stops); a TCP connection is closed after its bytes. None: relay the query to @p relay (a rosterd's
    DNS port) over UDP and return its answer."""

    def __init__(self, udp=None, tcp=None, relay=None, host="127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.udp, self.tcp, self.relay = udp, tcp, relay
        self.stop_ev = threading.Event()
        for _ in range(50):
            self.u = socket.socket(fam, socket.SOCK_DGRAM)
            self.u.bind((host, 0))
            self.port = self.u.getsockname()[1]
            self.t = socket.socket(fam, socket.SOCK_STREAM)
            self.t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.t.bind((host, self.port))
                break
            except OSError:
                self.u.close()
                self.t.close()
        self.t.listen(8)
        self.addr = f"[{host}]:{self.port}" if fam == socket.AF_INET6 else f"{host}:{self.port}"
        self.u.settimeout(0.1)
        self.t.settimeout(0.1)
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self._serve_udp, self._serve_tcp)]
        for th in self.threads:
            th.start()

    def _relay(self, q):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(q, ("127.0.0.1", self.relay))
            return s.recv(65535)

    def _serve_udp(self):
        while not self.stop_ev.is_set():
            try:
                q, peer = self.u.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            out = self.udp(q) if self.udp else None
            for d in out if out is not None else [self._relay(q)]:
                self.u.sendto(d, peer)

    def _serve_tcp(self):
        while not self.stop_ev.is_set():
            try:
                c, _ = self.t.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def _conn(self, c):
        with c:
            c.settimeout(5)
            head = c.recv(2)
            if len(head) < 2:
                return  # the client gave up before its query
            n = struct.unpack("!H", head)[0]
            q = b""
            while len(q) < n:
                q += c.recv(n - len(q))
            out = self.tcp(q) if self.tcp else None
            if out is None:
                a = self._relay(q)
                out = struct.pack("!H", len(a)) + a
            if out == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif out == "hold":
                self.stop_ev.wait()
            elif out != "close":
                c.sendall(out)  # then close: a FIN after the bytes

    def stop(self):
        self.stop_ev.set()
        for th in self.threads:
            th.join()
        self.u.close()
        self.t.close()


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    d = tmp_path_factory.mktemp("reg")
    r = wait_dns(Rosterd(d, extra=["--xfr-allow", "127.0.0.1/32", "--ns", "localhost"]).start())
    assert r.client().register("web", "http", "w1.lon6.example.net", 80).error == 0
    yield r
    r.stop()


@pytest.fixture
def fakes():
    made = []

    def make(*a, **kw):
        f = FakeDns(*a, **kw)
        made.append(f)
        return f
    yield make
    for f in made:
        f.stop()


def doctor(tmp_path, reg, dns_addrs, *args):
    sites = tmp_path / "sites.conf"
    sites.write_text("".join(f"lon6 127.0.0.1:{reg.api_port} dns={d} "
                             f"http=127.0.0.1:{reg.http_port}\n" for d in dns_addrs))
    return roster("-s", "lon6", "--timeout", "1000", "doctor", *args,
                  env={"ROSTER_SITES": str(sites)}, timeout=120)


def line(r, check):
    hits = [l for l in r.stdout.splitlines() if f" {check}: " in l]
    assert len(hits) == 1, (check, r.stdout, r.stderr)
    return hits[0]


# ---- SOA answers from secondaries (UDP) ----------------------------------------

def only_soa(f):
    """A udp hook answering the SOA with f(query); anything else relayed."""
    return lambda q: [f(q)] if question(q)[2] == SOA else None


def owner_loop(q):
    msg = answer(q)
    msg = msg[:6] + b"\0\1" + msg[8:]  # one answer: its owner points at itself
    return msg + struct.pack("!H", 0xc000 | len(msg)) + struct.pack("!HHIH", SOA, 1, 60, 0)


def cut_label(q):
    return header(question(q)[0], an=1) + question(q)[1] + struct.pack("!HH", SOA, 1) + b"\x3fab"


def cut_pointer(q):
    return header(question(q)[0], an=1) + question(q)[1] + struct.pack("!HH", SOA, 1) + b"\xc0"


def long_rdata(q):
    msg = answer(q, [(b"\xc0\x0c", SOA, soa_rdata(1))])
    return msg[:-len(soa_rdata(1)) - 2] + struct.pack("!H", 500) + soa_rdata(1)


def short_soa(q):
    return answer(q, [(b"\xc0\x0c", SOA, wire("ns." + ZONE) + wire("h." + ZONE) + b"\0\1")])


MALFORMED = {
    "servfail": (lambda q: answer(q, rcode=2), "no SOA for %s: rcode 2 (SERVFAIL)" % ZONE),
    "rcode12": (lambda q: answer(q, rcode=12), "rcode 12 (unassigned)"),
    "no records": (lambda q: header(question(q)[0], qd=1, an=1) + question(q)[1] +
                   struct.pack("!HH", SOA, 1),
                   "malformed answer: record 1 of 1: its owner name is cut short or loops"),
    "loop": (owner_loop, "record 1 of 1: its owner name is cut short or loops"),
    "two questions": (lambda q: answer(q)[:4] + b"\0\2" + answer(q)[6:],
                      "malformed answer: question 2 runs past its end"),
    "other qtype": (lambda q: answer(q, qtype=A), "the answer is to another question (type 1)"),
    "short soa": (short_soa, "no SOA for %s in the answer (its record is too short for a "
                  "serial)" % ZONE),
    "a not soa": (lambda q: answer(q, [(b"\xc0\x0c", A, b"\x7f\0\0\1")]),
                  "no SOA for %s in the answer" % ZONE),
}

MALFORMED2 = {
    "cut label": (cut_label, "record 1 of 1: its owner name is cut short or loops"),
    "cut pointer": (cut_pointer, "record 1 of 1: its owner name is cut short or loops"),
    "long rdata": (long_rdata, "record 1 of 1: its data runs past the end"),
    "cut fixed part": (lambda q: answer(q, [(b"\xc0\x0c", SOA, b"")])[:-4],
                       "record 1 of 1: its type, class, TTL or length is cut short"),
}


@pytest.mark.parametrize("cases", [MALFORMED, MALFORMED2], ids=["set1", "set2"])
def test_malformed_soa_answers_are_named(tmp_path, reg, fakes, cases):
    secs = {name: fakes(udp=only_soa(f), relay=reg.dns_port) for name, (f, _) in cases.items()}
    r = doctor(tmp_path, reg, [f"127.0.0.1:{reg.dns_port}"],
               *[a for s in secs.values() for a in ("--secondary", s.addr)])
    assert r.returncode == 1, r.stdout + r.stderr
    for name, (_, want) in cases.items():
        got = line(r, f"{secs[name].addr} secondary")
        assert got.startswith("FAIL ") and want in got, (name, got)
    # the registry itself passes: only the secondaries failed
    assert line(r, f"127.0.0.1:{reg.dns_port} dns-udp").startswith("ok "), r.stdout


def test_spoofed_and_short_datagrams_are_skipped_and_ipv6_works(tmp_path, reg, fakes):
    def spoof_first(q):
        real = FakeDns._relay(spoof, q)
        return [bytes([q[0] ^ 0xff]) + real[1:], b"\1\2\3", real]
    spoof = fakes(udp=spoof_first, relay=reg.dns_port)
    six = fakes(relay=reg.dns_port, host="::1")
    refused = free_port(socket.SOCK_DGRAM)
    r = doctor(tmp_path, reg, [f"127.0.0.1:{reg.dns_port}"], "--secondary", spoof.addr,
               "--secondary", six.addr, "--secondary", f"127.0.0.1:{refused}")
    assert line(r, f"{spoof.addr} secondary").startswith("ok "), r.stdout
    assert "current" in line(r, f"{spoof.addr} secondary"), r.stdout
    assert line(r, f"{six.addr} secondary").startswith("ok "), r.stdout
    assert "Connection refused" in line(r, f"127.0.0.1:{refused} secondary"), r.stdout
    assert r.returncode == 1, r.stdout


# ---- a registry's DNS over TCP --------------------------------------------------

TCP = {
    "other id": (lambda q: (lambda a: struct.pack("!H", len(a)) + a)(
        bytes([q[0] ^ 0xff]) + answer(q)[1:]), "the answer's id is not the query's"),
    "short": (lambda q: b"\0\5abcde", "malformed answer: shorter than a DNS header"),
    "cut": (lambda q: b"\0\x64" + answer(q)[:20], "the connection was closed or reset mid-answer"),
    "close": (lambda q: "close", "the connection was closed or reset mid-answer"),
    "reset": (lambda q: "reset", "the connection was closed or reset mid-answer"),
    "hold": (lambda q: "hold", "no answer in 1000 ms"),
}


@pytest.mark.parametrize("name", list(TCP))
def test_bad_tcp_answers_are_named(tmp_path, reg, fakes, name):
    f, want = TCP[name]
    fake = fakes(tcp=f, relay=reg.dns_port)
    r = doctor(tmp_path, reg, [fake.addr])
    assert r.returncode == 1, r.stdout + r.stderr
    got = line(r, f"{fake.addr} dns-tcp")
    assert got.startswith("FAIL ") and want in got, got
    assert line(r, f"{fake.addr} dns-udp").startswith("ok "), r.stdout
    # the serial the doctor compares comes from UDP, which answered
    assert line(r, "agree serials").startswith("ok "), r.stdout


# ---- NS and glue ----------------------------------------------------------------

def ns_hook(glue_a, glue_aaaa, ns_answer=None):
    def hook(q):
        t = question(q)[2]
        if t == NS:
            return [ns_answer(q) if ns_answer else
                    answer(q, [(b"\xc0\x0c", NS, wire("ns1." + ZONE))])]
        if t in (A, AAAA):
            return [answer(q, [(b"\xc0\x0c", t, glue_a if t == A else glue_aaaa)])]
        return None
    return hook


def test_glue_of_the_wrong_length_is_no_address(tmp_path, reg, fakes):
    bad = fakes(udp=ns_hook(b"\x7f\0\0\1" + bytes(12), b"\x7f\0\0\1"), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [bad.addr])
    got = line(r, "ns")
    assert got.startswith("FAIL ") and f"(ns1.{ZONE} -> no address)" in got, r.stdout
    assert r.returncode == 1
    good = fakes(udp=ns_hook(b"\x7f\0\0\1", bytes(15) + b"\1"), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [good.addr])
    assert line(r, "ns").startswith("ok "), r.stdout
    assert r.returncode == 0, r.stdout


def test_a_malformed_ns_answer_is_named(tmp_path, reg, fakes):
    f = fakes(udp=ns_hook(b"", b"", ns_answer=lambda q: answer(q, rcode=5)), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [f.addr])
    got = line(r, "ns")
    assert got.startswith("FAIL ") and f"no registry answered NS for {ZONE} (rcode 5 (REFUSED))" \
        in got, r.stdout
    f2 = fakes(udp=ns_hook(b"", b"", ns_answer=lambda q: answer(q)), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [f2.addr])
    assert "(no NS record in the answer)" in line(r, "ns"), r.stdout
    assert r.returncode == 1


# ---- what the doctor makes of the rest ------------------------------------------

def forwarder(port):
    """A TCP listener on 127.0.0.1 relaying each connection to @p port (the
    same registry under a second API address); its port."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)

    def pump(a, b):
        try:
            while (data := a.recv(65536)):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle(c):
        up = socket.create_connection(("127.0.0.1", port))
        threading.Thread(target=pump, args=(up, c), daemon=True).start()
        pump(c, up)
    serve_connections(lst, handle)
    return lst


def http_page(text):
    """A fake HTTP server answering every request with @p text; its socket."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)

    def handle(c):
        with c:
            c.recv(4096)
            c.sendall(text.encode())
    serve_connections(lst, handle)
    return lst


def test_registries_serving_other_ns_are_named_and_json_stays_valid(tmp_path, reg, fakes):
    fwd = forwarder(reg.api_port)
    odd = b"\x07a\"b\\c\x01d\0"  # a name with a quote, a backslash and a control octet
    other = fakes(udp=ns_hook(b"", b"", ns_answer=lambda q: answer(q, [(b"\xc0\x0c", NS, odd)])),
                  relay=reg.dns_port)
    sites = tmp_path / "sites.conf"
    sites.write_text(f"lon6 127.0.0.1:{reg.api_port} dns=127.0.0.1:{reg.dns_port} "
                     f"http=127.0.0.1:{reg.http_port}\n"
                     f"lon6 127.0.0.1:{fwd.getsockname()[1]} dns={other.addr} "
                     f"http=127.0.0.1:{reg.http_port}\n")
    try:
        r = roster("-s", "lon6", "--timeout", "1000", "--json", "doctor",
                   env={"ROSTER_SITES": str(sites)}, timeout=60)
    finally:
        fwd.close()
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["ok"] is False, r.stdout
    ns = [c for c in doc["checks"] if c["check"] == "ns"]
    assert len(ns) == 1 and not ns[0]["ok"], r.stdout
    assert ns[0]["detail"] == (f"127.0.0.1:{reg.dns_port} serves NS localhost. ; "
                               f"{other.addr} serves a\"b\\c d. "), ns[0]
    agree = [c for c in doc["checks"] if c["check"] == "agree instances"]
    assert agree and agree[0]["ok"], r.stdout


def test_a_serial_ahead_of_the_clock_and_bad_metrics_are_named(tmp_path, reg, fakes):
    ahead = (int(time.time() * 1000) + 600_000) % 2**32

    def soa(q):
        return answer(q, [(b"\xc0\x0c", SOA, soa_rdata(ahead))])
    f = fakes(udp=only_soa(soa), tcp=lambda q: (lambda a: struct.pack("!H", len(a)) + a)(soa(q)),
              relay=reg.dns_port)
    page = http_page("HTTP/1.0 404 Not Found\r\n\r\nnothing here\n")
    port = page.getsockname()[1]
    sites = tmp_path / "sites.conf"
    sites.write_text(f"lon6 127.0.0.1:{reg.api_port} dns={f.addr} http=127.0.0.1:{port}\n")
    try:
        r = roster("-s", "lon6", "--timeout", "1000", "doctor",
                   env={"ROSTER_SITES": str(sites)}, timeout=60)
    finally:
        page.close()
    assert r.returncode == 1, r.stdout
    got = line(r, "agree serials")
    assert got.startswith("FAIL ") and f"serves serial {ahead}, 600" in got \
        and "ahead of this clock" in got, got
    got = line(r, f"127.0.0.1:{port} http")
    assert got.startswith("FAIL ") and "not a 200 with roster_build_info" in got, got


def test_a_refused_static_file_is_named(tmp_path, reg):
    page = http_page("HTTP/1.0 200 OK\r\n\r\nroster_build_info{version=\"x\"} 1\n"
                     "roster_static_ok 0\n")
    sites = tmp_path / "sites.conf"
    port = page.getsockname()[1]
    sites.write_text(f"lon6 127.0.0.1:{reg.api_port} dns=127.0.0.1:{reg.dns_port} "
                     f"http=127.0.0.1:{port}\n")
    try:
        r = roster("-s", "lon6", "--timeout", "1000", "doctor",
                   env={"ROSTER_SITES": str(sites)}, timeout=60)
    finally:
        page.close()
    assert r.returncode == 1, r.stdout
    assert line(r, f"127.0.0.1:{port} http").startswith("ok "), r.stdout
    got = line(r, f"127.0.0.1:{port} static")
    assert got.startswith("FAIL ") and "roster_static_ok 0" in got, got


def test_no_registry_answering_leaves_the_zone_unknown(tmp_path, fakes):
    api = dead_port()
    sec = fakes(udp=lambda q: [answer(q, [(b"\xc0\x0c", SOA, soa_rdata(7))])])
    sites = tmp_path / "sites.conf"
    sites.write_text(f"lon6 127.0.0.1:{api.getsockname()[1]} dns={sec.addr} "
                     f"http=127.0.0.1:{api.getsockname()[1]}\n")
    try:
        r = roster("-s", "lon6", "--timeout", "1000", "doctor", "--secondary", sec.addr,
                   env={"ROSTER_SITES": str(sites)}, timeout=60)
    finally:
        api.close()
    assert r.returncode == 1, r.stdout
    for check, want in ((f"{sec.addr} dns-udp", "zone unknown: no registry's API answered"),
                        (f"{sec.addr} dns-tcp", "zone unknown"),
                        ("agree instances", "no registry listed its instances"),
                        (f"{sec.addr} secondary", "zone unknown: no registry's API answered")):
        got = line(r, check)
        assert got.startswith("FAIL ") and want in got, (check, got)
    assert " ns: " not in r.stdout and "agree serials" not in r.stdout, r.stdout


def test_a_secondary_with_no_registry_serial_to_compare(tmp_path, reg, fakes):
    refusing = fakes(udp=only_soa(lambda q: answer(q, rcode=5)),
                     tcp=lambda q: (lambda a: struct.pack("!H", len(a)) + a)(answer(q, rcode=5)),
                     relay=reg.dns_port)
    sec = fakes(udp=lambda q: [answer(q, [(b"\xc0\x0c", SOA, soa_rdata(7))])])
    r = doctor(tmp_path, reg, [refusing.addr], "--secondary", sec.addr)
    assert r.returncode == 1, r.stdout
    for tr in ("udp", "tcp"):
        assert "rcode 5 (REFUSED)" in line(r, f"{refusing.addr} dns-{tr}"), r.stdout
    got = line(r, f"{sec.addr} secondary")
    assert got.startswith("FAIL ") and "serial 7, and no registry's serial to compare" in got, got


# ---- ids, questions and SOA data, once more --------------------------------------

def soa_bad_mname(q):
    # the SOA's first name points past the end of the message
    return answer(q, [(b"\xc0\x0c", SOA, b"\xc0\xff" + bytes(22))])


def two_questions(q):
    # a second question of another type: only the first one must match
    qid, qname, _ = question(q)
    return (header(qid, qd=2, an=1) + qname + struct.pack("!HH", SOA, 1) + qname +
            struct.pack("!HH", A, 1) + rr(b"\xc0\x0c", SOA, soa_rdata(7)))


def test_questions_ids_and_soa_names_are_checked(tmp_path, reg, fakes):
    def spoof_low(q):  # the id's first octet right, its second wrong: still a spoof
        real = FakeDns._relay(low, q)
        return [real[:1] + bytes([q[1] ^ 0xff]) + real[2:], real]
    low = fakes(udp=spoof_low, relay=reg.dns_port)
    cut_qtype = fakes(udp=only_soa(lambda q: header(question(q)[0], an=0) + question(q)[1] +
                                   b"\0"), relay=reg.dns_port)
    bad_mname = fakes(udp=only_soa(soa_bad_mname), relay=reg.dns_port)
    second = fakes(udp=only_soa(two_questions), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [f"127.0.0.1:{reg.dns_port}"],
               *[a for s in (low, cut_qtype, bad_mname, second) for a in ("--secondary", s.addr)])
    assert line(r, f"{low.addr} secondary").startswith("ok "), r.stdout
    got = line(r, f"{cut_qtype.addr} secondary")
    assert got.startswith("FAIL ") and "malformed answer: question 1 runs past its end" in got, got
    got = line(r, f"{bad_mname.addr} secondary")
    assert got.startswith("FAIL ") and f"no SOA for {ZONE} in the answer (its record is too " \
        "short for a serial)" in got, got
    got = line(r, f"{second.addr} secondary")
    assert got.startswith("FAIL ") and "serial 7, " in got and "behind" in got, got
    assert r.returncode == 1


def test_a_tcp_answer_with_the_ids_second_octet_wrong_is_named(tmp_path, reg, fakes):
    fake = fakes(tcp=lambda q: (lambda a: struct.pack("!H", len(a)) + a)(
        answer(q)[:1] + bytes([q[1] ^ 0xff]) + answer(q)[2:]), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [fake.addr])
    got = line(r, f"{fake.addr} dns-tcp")
    assert got.startswith("FAIL ") and "the answer's id is not the query's" in got, got
    assert r.returncode == 1


# ---- NS names the doctor cannot use as they come ------------------------------------

def labels(prefix_len):
    """Labels of 63 octets and one shorter, @p prefix_len octets of text
    with their dots: the part of a name before the zone."""
    out, left = b"", prefix_len
    while left > 0:
        n = min(63, left - 1)
        out += bytes([n]) + b"x" * n
        left -= n + 1
    return out


def test_ns_names_too_long_empty_or_cut_give_no_address(tmp_path, reg, fakes):
    zone_wire = wire(ZONE)
    # 256 octets of text: fits the doctor's buffer, but no query can carry
    # it (255 octets of wire at most), so it has no glue
    in_zone_long = labels(256 - len(ZONE)) + zone_wire
    # longer than any name: cut to the buffer, not a name of the zone
    too_long = labels(300) + b"\0"
    # the root, a pointer past the end (left out), then the long ones
    names = [b"\0", b"\xc0\xff", too_long, in_zone_long]

    def ns(q):
        return answer(q, [(b"\xc0\x0c", NS, n) for n in names])
    f = fakes(udp=ns_hook(b"", b"", ns_answer=ns), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [f.addr])
    got = line(r, "ns")
    assert got.startswith("FAIL "), got
    assert f"registry 127.0.0.1:{reg.api_port} (DNS {f.addr}) is not an address of the NS " \
        f"of {ZONE} (. " + ("x" * 63 + ".") * 3 in got, got
    assert r.returncode == 1


def test_a_numeric_ns_name_is_its_address(tmp_path, reg, fakes):
    f = fakes(udp=ns_hook(b"", b"", ns_answer=lambda q: answer(q, [(b"\xc0\x0c", NS,
                                                                      b"\x03::1\0")])),
              relay=reg.dns_port)
    r = doctor(tmp_path, reg, [f.addr])
    got = line(r, "ns")
    assert got.startswith("FAIL ") and got.endswith(f"of {ZONE} (::1. -> ::1 )"), got
    assert r.returncode == 1


def test_a_registry_on_ipv6_named_by_a_numeric_ns(tmp_path, reg, fakes):
    f = fakes(udp=ns_hook(b"", b"", ns_answer=lambda q: answer(q, [(b"\xc0\x0c", NS,
                                                                      b"\x03::1\0")])),
              relay=reg.dns_port, host="::1")
    r = doctor(tmp_path, reg, [f.addr])
    assert line(r, "ns").startswith("ok "), r.stdout
    assert r.returncode == 0, r.stdout


def test_many_ns_names_and_glue_addresses_are_bounded(tmp_path, reg, fakes):
    many = [wire(f"n{i:02d}-{'y' * 50}.example.org") for i in range(40)]
    f = fakes(udp=ns_hook(b"", b"", ns_answer=lambda q: answer(
        q, [(b"\xc0\x0c", NS, n) for n in many])), relay=reg.dns_port)
    r = doctor(tmp_path, reg, [f.addr])
    got = line(r, "ns")
    assert got.startswith("FAIL ") and f"(n00-{'y' * 50}.example.org. n01-" in got, got
    assert r.returncode == 1
    # an NS of the zone with 200 AAAA glue records: the registry's A first

    def glue(q):
        t = question(q)[2]
        if t == NS:
            return [answer(q, [(b"\xc0\x0c", NS, wire("ns1." + ZONE))])]
        if t == A:
            return [answer(q, [(b"\xc0\x0c", A, b"\x7f\0\0\1")])]
        if t == AAAA:
            return [answer(q, [(b"\xc0\x0c", AAAA, struct.pack(
                "!HHHHHHHH", 0x2001, 0xdb8, 1, 2, 3, 4, 5, i)) for i in range(200)])]
        return None
    g = fakes(udp=glue, relay=reg.dns_port)
    r = doctor(tmp_path, reg, [g.addr])
    assert line(r, "ns").startswith("ok "), r.stdout
    assert r.returncode == 0, r.stdout


def test_glue_never_answered_is_no_address(tmp_path, reg, fakes):
    def hook(q):
        t = question(q)[2]
        if t == NS:
            return [answer(q, [(b"\xc0\x0c", NS, wire("ns1." + ZONE))])]
        return [] if t in (A, AAAA) else None  # glue: nothing, ever
    f = fakes(udp=hook, relay=reg.dns_port)
    r = doctor(tmp_path, reg, [f.addr])
    got = line(r, "ns")
    assert got.startswith("FAIL ") and f"(ns1.{ZONE} -> no address)" in got, got


@pytest.mark.parametrize("page", ["HTTP/1.0 200 OK\r\n\r\nno build info here\n",
                                  "SSH-2.0-OpenSSH\r\n"])
def test_a_metrics_page_without_build_info_or_not_http_is_named(tmp_path, reg, page):
    srv = http_page(page)
    port = srv.getsockname()[1]
    sites = tmp_path / "sites.conf"
    sites.write_text(f"lon6 127.0.0.1:{reg.api_port} dns=127.0.0.1:{reg.dns_port} "
                     f"http=127.0.0.1:{port}\n")
    try:
        r = roster("-s", "lon6", "--timeout", "1000", "doctor",
                   env={"ROSTER_SITES": str(sites)}, timeout=60)
    finally:
        srv.close()
    got = line(r, f"127.0.0.1:{port} http")
    assert got.startswith("FAIL ") and "not a 200 with roster_build_info" in got, got
    assert r.returncode == 1


# ---- the doctor's own socket calls failing (tests/faults/sysfault.c) ------------------

SHIM = os.path.join(os.environ.get("ROSTER_BUILD_DIR", ""), "tests", "faults", "libsysfault.so")


def doctor_faulty(tmp_path, reg, dns, call, err, path, nth=None, log=True):
    """The doctor with @p call failing with @p err on the sockets matching
    @p path (e.g. "udp4 127.0.0.1:PORT"), every one or the @p nth; (the
    result, the failures injected)."""
    logf = tmp_path / "sysfault.log"
    if logf.exists():
        logf.unlink()
    sites = tmp_path / "sites.conf"
    sites.write_text(f"lon6 127.0.0.1:{reg.api_port} dns={dns} http=127.0.0.1:{reg.http_port}\n")
    env = {"ROSTER_SITES": str(sites), "LD_PRELOAD": SHIM, "SYSFAULT_CALL": call,
           "SYSFAULT_ERRNO": err, "SYSFAULT_PATH": path,
           "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:verify_asan_link_order=0"}
    if log:
        env["SYSFAULT_LOG"] = str(logf)
    if nth is not None:
        env["SYSFAULT_NTH"] = str(nth)
    r = roster("-s", "lon6", "--timeout", "1000", "doctor", env=env, timeout=120)
    return r, logf.read_text().count("\n") if logf.exists() else 0


# (call, errno, transport, nth, what the check says: None for "ok")
RETRIED = [("send", "EINTR", "udp", 1), ("send", "EAGAIN", "udp", 1),
           ("recv", "EINTR", "udp", 1), ("recv", "EINTR", "tcp", 1)]
NAMED = [("send", "EIO", "udp", None, "Input/output error"),
         ("recv", "EIO", "udp", None, "Input/output error"),
         ("send", "EPIPE", "tcp", 1, "Broken pipe"),  # the length
         ("send", "EPIPE", "tcp", 2, "Broken pipe"),  # the query
         ("recv", "EIO", "tcp", None, "Input/output error"),
         # a connect() said in progress and never made: the socket is
         # writable with no error, and unconnected
         ("connect", "EINPROGRESS", "udp", None, "Destination address required")]


@pytest.mark.parametrize("call,err,tr,nth", RETRIED)
def test_the_doctors_interrupted_calls_are_made_again(tmp_path, reg, fakes, call, err, tr, nth):
    f = fakes(relay=reg.dns_port)
    r, struck = doctor_faulty(tmp_path, reg, f.addr, call, err, f"{tr}4 {f.addr}", nth)
    assert struck == 1, r.stdout + r.stderr
    assert line(r, f"{f.addr} dns-{tr}").startswith("ok "), r.stdout
    assert r.returncode == 0, r.stdout


@pytest.mark.parametrize("call,err,tr,nth,want", NAMED)
def test_the_doctors_failed_calls_are_named(tmp_path, reg, fakes, call, err, tr, nth, want):
    f = fakes(relay=reg.dns_port)
    r, struck = doctor_faulty(tmp_path, reg, f.addr, call, err, f"{tr}4 {f.addr}", nth)
    assert struck >= 1, r.stdout + r.stderr
    assert line(r, f"{f.addr} dns-{tr}") == f"FAIL {f.addr} dns-{tr}: {want}", r.stdout
    other = "tcp" if tr == "udp" else "udp"
    assert line(r, f"{f.addr} dns-{other}").startswith("ok "), r.stdout
    assert r.returncode == 1


def test_the_doctor_without_a_socket_names_it(tmp_path, reg, fakes):
    f = fakes(relay=reg.dns_port)
    r, struck = doctor_faulty(tmp_path, reg, f.addr, "socket", "EMFILE", "udp4")
    assert struck >= 1, r.stdout + r.stderr
    assert line(r, f"{f.addr} dns-udp") == f"FAIL {f.addr} dns-udp: Too many open files", r.stdout
    assert line(r, f"{f.addr} dns-tcp").startswith("ok "), r.stdout


def test_a_send_that_would_block_forever_ends_at_the_timeout(tmp_path, reg, fakes):
    f = fakes(relay=reg.dns_port)
    t0 = time.monotonic()
    r, _ = doctor_faulty(tmp_path, reg, f.addr, "send", "EAGAIN", f"udp4 {f.addr}", log=False)
    assert line(r, f"{f.addr} dns-udp").startswith(
        f"FAIL {f.addr} dns-udp: no answer in 1000 ms"), r.stdout
    assert time.monotonic() - t0 >= 1.0


@pytest.mark.parametrize("tr", ["udp", "tcp"])
def test_the_doctors_waits_interrupted_or_failed(tmp_path, reg, fakes, tr):
    # a server that never answers: the doctor must wait, in poll()
    f = fakes(udp=lambda q: [], tcp=lambda q: "hold")
    r, struck = doctor_faulty(tmp_path, reg, f.addr, "poll", "EINTR", f"{tr}4 {f.addr}", 1)
    assert struck == 1, r.stdout + r.stderr
    assert line(r, f"{f.addr} dns-{tr}") == f"FAIL {f.addr} dns-{tr}: no answer in 1000 ms " \
        "(packets dropped, or nothing listens)", r.stdout
    r, struck = doctor_faulty(tmp_path, reg, f.addr, "poll", "EIO", f"{tr}4 {f.addr}")
    assert struck >= 1, r.stdout + r.stderr
    assert line(r, f"{f.addr} dns-{tr}") == f"FAIL {f.addr} dns-{tr}: Input/output error", r.stdout


@pytest.mark.parametrize("nth,step", [(2, "list"), (3, "query")])
def test_a_registry_lost_between_its_stats_and_its_listing(tmp_path, reg, nth, step):
    # the doctor's calls to the API: stats, list, then a query per service;
    # the connect() of the nth is refused
    api = f"127.0.0.1:{reg.api_port}"
    r, struck = doctor_faulty(tmp_path, reg, f"127.0.0.1:{reg.dns_port}", "connect", "111",
                              f"tcp4 {api}", nth)
    assert struck == 1, r.stdout + r.stderr
    assert line(r, f"{api} api") == (
        f"FAIL {api} api: site lon6, revision 1, 1 instance; listing failed: {step}: "
        f"no registry answered: {api} (registry unreachable)"), r.stdout
    assert line(r, "agree instances") == "FAIL agree instances: no registry listed its instances"
    assert r.returncode == 1
