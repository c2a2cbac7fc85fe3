"""TSIG on zone transfers (RFC 8945; issue 12): rosterd with --tsig-keyfile
and --xfr-key. kdig and dnspython transfer the zone signed, every message
of a multi-message AXFR verifying; unsigned, unknown-key, wrong-secret,
stale and out-of-ACL requests are refused with the right rcode and TSIG
error, counted by reason and logged once per source; a real NSD secondary
with the same key transfers the zone and answers; the deploy snippets for
NSD, Knot and BIND parse with their servers' own checkers; bad key files
stop rosterd with a clear error."""
import base64
import os
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.rrset
import pytest

import harness
import zonegen_common as zc
from dns_helpers import wait_dns
from nsd_helpers import settled_serial
from harness import SOURCE, Rosterd, run, wait_until

ZONE = "services.lon6.example.net."
SECRET = base64.b64encode(bytes(range(7, 39))).decode()
OTHER = base64.b64encode(bytes(range(50, 114))).decode()
KEYFILE = f"""# made by tsig-keygen, in BIND's syntax
key "roster-xfr" {{
	algorithm hmac-sha256;
	secret "{SECRET}";
}};
/* a second key rosterd knows, not the transfer key */
key other-key. {{ algorithm hmac-sha512; secret "{OTHER}"; }};
"""


def keyfile(tmp_path, text=KEYFILE):
    p = tmp_path / "xfr.key"
    p.write_text(text)
    return str(p)


def reg(c, service, protocol, host, port, addresses=()):
    r = c.register(service, protocol, host, port, addresses=list(addresses))
    assert r.error == 0, r.message


def register_fleet(c, big):
    for i in range(3):
        reg(c, "web", "http", f"web-{i}.lon6.example.net", 8080 + i, [f"10.0.0.{i + 1}"])
    for i in range(big):
        reg(c, "big", "tcp", f"big-{i:04d}.lon6.example.net", 9000,
            [f"10.1.{i // 250}.{i % 250 + 1}"])


def kdig(port, *args, key=f"hmac-sha256:roster-xfr:{SECRET}"):
    cmd = ["kdig", "@127.0.0.1", "-p", str(port), "+time=5", "+retry=0"]
    if key:
        cmd += ["-y", key]
    return run(cmd + list(args))


def keyring(name="roster-xfr", secret=SECRET, alg="hmac-sha256"):
    return dns.tsig.Key(name, secret, alg)


def transfers(srv, t, result):
    """roster_dns_transfers_total{type,result} (labels in rosterd's order)."""
    import re
    m = re.search(rf'^roster_dns_transfers_total\{{type="{t}",result="{result}"\}} (\d+)$',
                  srv.metrics(), re.M)
    assert m, f"no roster_dns_transfers_total{{{t},{result}}}"
    return int(m.group(1))


def serial_at(port):
    q = dns.message.make_query(ZONE, "SOA")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=1)
    except Exception:
        return None
    return r.answer[0][0].serial if r.rcode() == 0 and r.answer else None


@pytest.fixture
def primary(tmp_path):
    extra = ["--xfr-allow", "127.0.0.1/32", "--tsig-keyfile", keyfile(tmp_path),
             "--xfr-key", "roster-xfr"]
    with Rosterd(tmp_path, extra=extra) as s:
        yield wait_dns(s)


def test_kdig_signed_axfr_and_every_refusal(tmp_path, primary):
    c = primary.client()
    register_fleet(c, big=20)
    p = primary.dns_port
    settled_serial(p, ZONE)  # transfers carry the published version
    r = kdig(p, "AXFR", ZONE)
    assert r.returncode == 0, r.stdout + r.stderr
    rrs = [l.split() for l in r.stdout.splitlines() if l and not l.startswith(";")]
    assert [x for x in rrs if x[3] == "TSIG"], "kdig shows the answer's TSIG"
    rrs = [x for x in rrs if x[3] != "TSIG"]
    assert rrs[0][3] == "SOA" and rrs[-1][3] == "SOA"
    assert sum(1 for x in rrs if x[0] == "_big._tcp." + ZONE and x[3] == "SRV") == 20
    assert "WARNING" not in r.stdout + r.stderr and "failed" not in r.stdout + r.stderr

    # Unsigned: REFUSED.
    r = kdig(p, "AXFR", ZONE, key=None)
    assert "REFUSED" in r.stdout + r.stderr, r.stdout + r.stderr
    # A key rosterd does not hold: NOTAUTH with TSIG error BADKEY.
    r = kdig(p, "AXFR", ZONE, key=f"hmac-sha256:nobody:{SECRET}")
    assert "BADKEY" in r.stdout + r.stderr, r.stdout + r.stderr
    # The right name, the wrong secret, twice: BADSIG (logged once).
    for _ in range(2):
        r = kdig(p, "AXFR", ZONE, key=f"hmac-sha256:roster-xfr:{OTHER}")
        assert "BADSIG" in r.stdout + r.stderr, r.stdout + r.stderr
    # The right name, the wrong algorithm: BADKEY.
    r = kdig(p, "AXFR", ZONE, key=f"hmac-sha512:roster-xfr:{SECRET}")
    assert "BADKEY" in r.stdout + r.stderr, r.stdout + r.stderr
    # A key rosterd holds that is not --xfr-key: REFUSED, the refusal signed.
    q = dns.message.make_query(ZONE, "AXFR")
    q.use_tsig(keyring("other-key.", OTHER, "hmac-sha512"))
    resp = dns.query.tcp(q, "127.0.0.1", port=p, timeout=5)
    assert resp.rcode() == dns.rcode.REFUSED and resp.had_tsig
    # A signature from ten minutes ago: NOTAUTH, BADTIME, signed with our time.
    q = dns.message.make_query(ZONE, "AXFR")
    q.use_tsig(keyring())
    real = time.time
    time.time = lambda: real() - 600
    try:
        wire = q.to_wire()
    finally:
        time.time = real
    reply = raw_tcp(p, wire)
    assert reply[3] & 0xf == dns.rcode.NOTAUTH
    with pytest.raises(dns.tsig.PeerBadTime):  # dnspython checks it is ours, signed
        dns.message.from_wire(reply, keyring=q.keyring, request_mac=q.mac)
    # BADKEY, BADSIG twice, BADKEY, BADTIME: five NOTAUTH, counted by name.
    assert primary.metric("roster_dns_responses_total", rcode="NOTAUTH") == 5
    # IXFR signed and unsigned, over TCP and UDP.
    serial = serial_at(p)
    r = kdig(p, f"IXFR={serial}", ZONE)
    assert r.returncode == 0 and "SOA" in r.stdout, r.stdout + r.stderr
    r = kdig(p, f"IXFR={serial - 1}", ZONE, key=None)
    assert "REFUSED" in r.stdout + r.stderr
    q = dns.message.make_query(ZONE, "IXFR")
    q.authority.append(dns.rrset.from_text(
        ZONE, 5, "IN", "SOA", "ns1.example.net. hostmaster.example.net. 1 60 30 604800 5"))
    assert dns.query.udp(q, "127.0.0.1", port=p, timeout=5).rcode() == dns.rcode.REFUSED
    q.use_tsig(keyring())
    resp = dns.query.udp(q, "127.0.0.1", port=p, timeout=5)
    assert resp.rcode() == dns.rcode.NOERROR and resp.had_tsig and len(resp.answer) == 1

    def count(result, t="axfr"):
        return transfers(primary, t, result)
    assert count("full") == 1
    assert count("refused_unsigned") == 1 and count("refused_unsigned", "ixfr") == 2
    assert count("badkey") == 2 and count("badsig") == 2 and count("badtime") == 1
    assert count("refused_key") == 1 and count("soa", "ixfr") == 2
    logs = primary.logs()
    assert logs.count("refused: badsig") == 1, logs[-3000:]
    assert "AXFR from 127.0.0.1:" in logs and "refused: refused_unsigned" in logs
    assert "refused: badkey" in logs and "refused: badtime" in logs


def raw_tcp(port, wire):
    """Send one DNS message over TCP, return the reply's bytes unparsed."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        n = int.from_bytes(recv_exact(s, 2), "big")
        return recv_exact(s, n)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        assert chunk, "connection closed"
        b += chunk
    return b


def test_signed_queries_are_answered_signed(tmp_path, primary):
    """The SOA refresh query of an NSD, Knot or BIND secondary is signed:
    the answer is too, over UDP and TCP, with either key."""
    for key in (keyring(), keyring("other-key.", OTHER, "hmac-sha512")):
        for f in (dns.query.udp, dns.query.tcp):
            q = dns.message.make_query(ZONE, "SOA")
            q.use_tsig(key)
            r = f(q, "127.0.0.1", port=primary.dns_port, timeout=5)  # dnspython verifies
            assert r.rcode() == dns.rcode.NOERROR and r.had_tsig and r.answer
    q = dns.message.make_query(ZONE, "SOA")
    r = dns.query.udp(q, "127.0.0.1", port=primary.dns_port, timeout=5)
    assert not r.had_tsig


def test_out_of_acl_is_refused_even_when_signed(tmp_path):
    extra = ["--xfr-allow", "10.0.0.0/8", "--tsig-keyfile", keyfile(tmp_path),
             "--xfr-key", "roster-xfr"]
    with Rosterd(tmp_path, extra=extra) as s:
        wait_dns(s)
        r = kdig(s.dns_port, "AXFR", ZONE)
        assert "REFUSED" in r.stdout + r.stderr, r.stdout + r.stderr
        r = kdig(s.dns_port, "AXFR", ZONE, key=f"hmac-sha256:roster-xfr:{OTHER}")
        assert "REFUSED" in r.stdout + r.stderr, "no BADSIG for outsiders: " + r.stdout
        assert transfers(s, "axfr", "refused_acl") == 2
        assert "refused: refused_acl" in s.logs()


def test_multi_message_axfr_verifies_on_every_message(tmp_path, primary):
    c = primary.client()
    for i in range(2500):
        reg(c, f"svc{i % 50}", "tcp", f"host-{i:04d}.lon6.example.net", 9000,
            [f"10.2.{i // 250}.{i % 250 + 1}"])
    settled_serial(primary.dns_port, ZONE)
    # dnspython's transfer verifies the TSIG of every message, each against
    # the previous one's MAC (RFC 8945 5.3.1), and raises on any failure.
    key = keyring()
    messages = 0
    srv = 0
    for m in dns.query.xfr("127.0.0.1", ZONE, port=primary.dns_port, timeout=10,
                           keyring={key.name: key}, keyname=key.name,
                           keyalgorithm=key.algorithm):
        assert m.had_tsig, f"message {messages} unsigned"
        messages += 1
        srv += sum(len(rrset) for rrset in m.answer if rrset.rdtype == dns.rdatatype.SRV)
    assert messages >= 3, messages
    assert srv == 2500
    # kdig verifies each message too.
    r = kdig(primary.dns_port, "AXFR", ZONE)
    assert r.returncode == 0, r.stderr
    assert f"({messages} messages" in r.stdout, r.stdout[-500:]


def start_nsd(tmp_path, port, primary_port):
    d = tmp_path / "nsd"
    d.mkdir()
    conf = d / "nsd.conf"
    conf.write_text(zc.nsd_conf(d, port, f"""key:
    name: "roster-xfr"
    algorithm: hmac-sha256
    secret: "{SECRET}"
zone:
    name: "{ZONE}"
    zonefile: "{d}/secondary.zone"
    request-xfr: 127.0.0.1@{primary_port} roster-xfr
    allow-notify: 127.0.0.1 roster-xfr
    min-refresh-time: 3600
    max-retry-time: 1
    min-retry-time: 1
""", verbosity=2))
    chk = run(["nsd-checkconf", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    return proc, d / "nsd.log"


def test_nsd_secondary_transfers_with_the_key(tmp_path, primary):
    c = primary.client()
    register_fleet(c, big=2500)
    serial = settled_serial(primary.dns_port, ZONE)
    nport = harness.free_port(both=True)
    nsd = None
    try:
        nsd, nlog = start_nsd(tmp_path, nport, primary.dns_port)
        harness.wait_port(nport, proc=nsd)

        def at_serial():
            assert nsd.poll() is None and primary.proc.poll() is None
            return serial_at(nport)
        assert wait_until(at_serial, 30, f"serial {serial}", want=serial) == serial, \
            open(nlog).read()[-2000:]
        q = dns.message.make_query("_web._http." + ZONE, "SRV")
        r = dns.query.tcp(q, "127.0.0.1", port=nport, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR and len(r.answer[0]) == 3
        q = dns.message.make_query("_big._tcp." + ZONE, "SRV")
        r = dns.query.tcp(q, "127.0.0.1", port=nport, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR and 500 < len(r.answer[0]) < 2500
    finally:
        harness.stop_process(nsd)
    assert transfers(primary, "axfr", "full") + transfers(primary, "ixfr", "full") >= 1
    assert transfers(primary, "axfr", "refused_unsigned") == 0


@pytest.mark.parametrize("text,want", [
    ("key k { algorithm hmac-sha256; };\n", "xfr.key:1: key k.: no secret"),
    ('key "roster-xfr" {\n algorithm hmac-md5;\n secret "AAEC";\n};\n',
     "xfr.key:2: unsupported algorithm 'hmac-md5'"),
    ("options { };", "xfr.key:1: unknown statement 'options'"),
    ("", "no key statement"),
    (KEYFILE.replace("roster-xfr", "another"), "--xfr-key roster-xfr.: no such key"),
], ids=["no-secret", "md5", "not-a-key-file", "empty", "no-such-key"])
def test_a_bad_key_file_stops_rosterd(tmp_path, text, want):
    s = Rosterd(tmp_path, extra=["--tsig-keyfile", keyfile(tmp_path, text),
                                 "--xfr-key", "roster-xfr", "--xfr-allow", "127.0.0.1"])
    r = run(s.args())
    assert r.returncode == 2, r.stdout + r.stderr
    assert want in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_xfr_key_without_a_key_file_stops_rosterd(tmp_path):
    s = Rosterd(tmp_path, extra=["--xfr-key", "roster-xfr"])
    r = run(s.args())
    assert r.returncode == 2 and "no --tsig-keyfile" in r.stderr, r.stderr


def deploy(rel):
    with open(os.path.join(SOURCE, "deploy", rel)) as f:
        return f.read()


def test_nsd_knot_and_bind_secondary_snippets_parse(tmp_path):
    nsd = tmp_path / "nsd.conf"
    text = deploy("nsd/nsd.conf.services-secondary")
    assert "@TSIG_SECRET@" in text and "request-xfr: 192.0.2.10@53 roster-xfr" in text
    nsd.write_text(text.replace("@TSIG_SECRET@", SECRET))
    r = run(["nsd-checkconf", str(nsd)])
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(["nsd-checkconf", "-z", "services.lon6.example.net", "-o", "request-xfr", str(nsd)])
    assert "roster-xfr" in r.stdout, r.stdout + r.stderr

    knot = tmp_path / "knot.conf"
    text = deploy("knot/knot.conf.services-secondary")
    assert "@TSIG_SECRET@" in text
    knot.write_text(text.replace("@TSIG_SECRET@", SECRET) +
                    f'\ndatabase:\n    storage: "{tmp_path}"\n')
    r = run(["knotc", "-c", str(knot), "conf-check"])
    assert r.returncode == 0, r.stdout + r.stderr

    # BIND includes the very key file rosterd reads.
    keys = tmp_path / "roster-xfr.key"
    keys.write_text(KEYFILE)
    text = deploy("bind/named.conf.services-secondary")
    assert "max-records-per-type 0;" in text
    named = tmp_path / "named.conf"
    named.write_text(f'options {{ directory "{tmp_path}"; }};\n' +
                     text.replace("/etc/bind/roster-xfr.key", str(keys))
                     .replace("/var/cache/bind", str(tmp_path)))
    r = run(["named-checkconf", str(named)])
    assert r.returncode == 0, r.stdout + r.stderr
