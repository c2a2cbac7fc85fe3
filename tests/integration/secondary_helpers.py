"""Real NSD, Knot and BIND secondaries of rosterd's services zone, each
configured from its deploy/ snippet (docs/operations.md "The secondary
chain") with the test's ports, directories and TSIG key filled in. Used
by dns_secondaries.

    key = make_key(tmp_path)                     # tsig-keygen, as operators do
    sec = start_secondary("knot", tmp_path / "s1", port, [p1, p2], key)
    ...
    sec.stop()

Every daemon listens on 127.0.0.1 only, keeps its state in its own
directory, and is stopped by stop() (terminate, then kill)."""
import os
import re
import subprocess

import dns.exception
import dns.message
import dns.query
import dns.rcode

import harness
from harness import SOURCE

ZONE = "services.lon6.example.net."
KINDS = ("nsd", "knot", "bind")
# The snippets name the site's registries 192.0.2.10 and 192.0.2.11, on port 53.
DOC_PRIMARIES = ("192.0.2.10", "192.0.2.11")


class Key:
    """A TSIG key made by tsig-keygen: its name, secret and the file in
    BIND's syntax that rosterd (--tsig-keyfile) and BIND read."""

    def __init__(self, name, secret, path):
        self.name, self.secret, self.path = name, secret, path

    def kdig(self):
        """The key as kdig's and dig's -y take it."""
        return f"hmac-sha256:{self.name}:{self.secret}"


def make_key(tmp_path, name="roster-xfr"):
    """tsig-keygen -a hmac-sha256 @p name, written to tmp_path/xfr.key."""
    r = harness.run(["tsig-keygen", "-a", "hmac-sha256", name])
    assert r.returncode == 0, r.stderr
    m = re.search(r'secret "([^"]+)";', r.stdout)
    assert m, r.stdout
    path = tmp_path / "xfr.key"
    path.write_text(r.stdout)
    return Key(name, m.group(1), str(path))


def snippet(kind):
    """The text of deploy/<kind>'s services-secondary snippet."""
    rel = {"nsd": "nsd/nsd.conf.services-secondary",
           "knot": "knot/knot.conf.services-secondary",
           "bind": "bind/named.conf.services-secondary"}[kind]
    with open(os.path.join(SOURCE, "deploy", rel)) as f:
        return f.read()


def render(kind, primaries, key, d):
    """The snippet with the registries at 127.0.0.1:@p primaries (one port
    per registry the snippet names, in its order), the key's secret, and
    file paths under @p d."""
    text = snippet(kind)
    assert len(primaries) == len(DOC_PRIMARIES), "one port per registry of the snippet"
    for doc, port in zip(DOC_PRIMARIES, primaries):
        assert doc in text, f"{kind} snippet without {doc}"
        text = text.replace(f"{doc}@53", f"127.0.0.1@{port}")       # NSD, Knot
        text = text.replace(f"{doc} port 53", f"127.0.0.1 port {port}")  # BIND
        text = text.replace(doc, "127.0.0.1")                        # ACLs
    assert not re.search(r"(@|port )53\b", text), text
    if kind == "bind":
        return text.replace("/etc/bind/roster-xfr.key", key.path).replace("/var/cache/bind",
                                                                         str(d))
    assert "@TSIG_SECRET@" in text
    return text.replace("@TSIG_SECRET@", key.secret)


class Secondary:
    """A running secondary: kind, port, dir, proc, log path."""

    def __init__(self, kind, d, port, proc, log):
        self.kind, self.dir, self.port, self.proc, self.log = kind, d, port, proc, log

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=3000):
        try:
            return self.log.read_text(errors="replace")[-n:]
        except FileNotFoundError:
            return ""

    def stop(self):
        harness.stop_process(self.proc)
        self.proc = None

    def serial(self):
        """The SOA serial it serves, or None (no answer, SERVFAIL while it
        has no copy, or no SOA)."""
        q = dns.message.make_query(ZONE, "SOA")
        try:
            r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=1)
        except dns.exception.Timeout:
            return None
        if r.rcode() != dns.rcode.NOERROR or not r.answer:
            return None
        return r.answer[0][0].serial


def _nsd(d, port, text):
    conf = d / "nsd.conf"
    conf.write_text(f"""server:
	ip-address: 127.0.0.1
	port: {port}
	zonesdir: "{d}"
	database: ""
	pidfile: "{d}/nsd.pid"
	xfrdfile: "{d}/xfrd.state"
	zonelistfile: "{d}/zone.list"
	xfrdir: "{d}"
	username: ""
	chroot: ""
	verbosity: 2
	logfile: "{d}/nsd.log"
	server-count: 1
remote-control:
	control-enable: no
""" + text)
    chk = harness.run(["nsd-checkconf", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    return proc, d / "nsd.log"


def _knot(d, port, text):
    conf = d / "knot.conf"
    # The snippet goes after the server, database and template sections,
    # as it says.
    conf.write_text(f"""server:
    listen: 127.0.0.1@{port}
    rundir: "{d}"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: "{d}/knot.log"
    any: info
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
""" + text)
    chk = harness.run(["knotc", "-c", str(conf), "conf-check"])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    proc = subprocess.Popen(["knotd", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    return proc, d / "knot.log"


def _bind(d, port, text):
    conf = d / "named.conf"
    conf.write_text(f"""options {{
	directory "{d}";
	pid-file "{d}/named.pid";
	session-keyfile "{d}/session.key";
	managed-keys-directory "{d}";
	listen-on port {port} {{ 127.0.0.1; }};
	listen-on-v6 {{ none; }};
	recursion no;
	dnssec-validation no;
	notify no;
}};
controls {{ }};
""" + text)
    chk = harness.run(["named-checkconf", str(conf)])
    assert chk.returncode == 0, chk.stdout + chk.stderr
    log = d / "named.log"
    out = open(log, "wb")
    # -g: foreground, log to stderr; one worker thread (-n 1).
    proc = subprocess.Popen(["named", "-g", "-n", "1", "-c", str(conf)], stdout=out,
                            stderr=subprocess.STDOUT)
    out.close()
    return proc, log


def start_secondary(kind, d, port, primaries, key):
    """@p kind ("nsd", "knot" or "bind") on 127.0.0.1:@p port, its state in
    directory @p d (made here), configured from its deploy/ snippet with the
    registries at 127.0.0.1:@p primaries and @p key; started and listening.
    The Secondary; stop() stops it."""
    d.mkdir(parents=True)
    text = render(kind, primaries, key, d)
    proc, log = {"nsd": _nsd, "knot": _knot, "bind": _bind}[kind](d, port, text)
    sec = Secondary(kind, d, port, proc, log)
    try:
        harness.wait_port(port, proc=proc, timeout=20)
    except BaseException:
        sec.stop()
        raise AssertionError(f"{kind} did not start:\n{sec.log_tail()}")
    return sec
