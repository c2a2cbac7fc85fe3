"""Helpers shared by the dns_* integration scenarios."""
import time

import dns.exception
import dns.message
import dns.query

ZONE = "services.lon6.example.net."


def wait_dns(srv, timeout=10.0):
    """The harness waits for the API port; DNS binds just after it. Wait
    until the DNS port answers too, so no test races the start-up."""
    q = dns.message.make_query(ZONE, "SOA")
    deadline = time.monotonic() + timeout
    while True:
        try:
            dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=0.2)
            return srv
        except dns.exception.Timeout:
            assert time.monotonic() < deadline, "DNS never answered"


def unbound_conf(tmp_path, rosterd_dns, port, server_extra=""):
    """deploy/unbound/roster-stub.conf.in, the snippet operators install,
    with rosterd's address (Unbound syntax, address@port) filled in and
    included from a minimal unbound.conf that only ever talks to 127.0.0.1.
    @p rosterd_dns: one address, or a list for a stub-addr line each.
    @p server_extra: more `server:` lines (indented with a tab)."""
    import os
    from harness import SOURCE
    with open(os.path.join(SOURCE, "deploy/unbound/roster-stub.conf.in")) as f:
        template = f.read()
    assert template.count("@ROSTERD_DNS@") >= 1
    if isinstance(rosterd_dns, (list, tuple)):  # several registries: the line repeated
        line = "\tstub-addr: @ROSTERD_DNS@\n"
        assert line in template
        template = template.replace(line, "".join(f"\tstub-addr: {a}\n" for a in rosterd_dns))
        rosterd_dns = rosterd_dns[0]
    snippet = tmp_path / "roster.conf"
    snippet.write_text(template.replace("@ROSTERD_DNS@", rosterd_dns))
    conf = tmp_path / "unbound.conf"
    conf.write_text(f"""server:
	interface: 127.0.0.1
	port: {port}
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "{tmp_path}"
	pidfile: "{tmp_path}/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	do-ip6: no
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
	# Never a packet off this machine: no root priming, no other source.
	outgoing-interface: 127.0.0.1
	root-hints: ""
	outgoing-range: 64
	num-threads: 1
	so-reuseport: no
	prefetch: no
{server_extra}remote-control:
	control-enable: no
include: "{snippet}"
""")
    return conf


class Unbound:
    """A real Unbound (the Debian package) on 127.0.0.1:port with the
    config unbound_conf() wrote; a context manager that waits until it
    answers for the services zone."""

    def __init__(self, tmp_path, conf, port):
        self.tmp_path, self.conf, self.port = tmp_path, conf, port
        self.proc = None

    def __enter__(self):
        import subprocess
        from harness import run
        if self.proc is not None:
            return self  # started by start_unbound(): `with` it only to stop it
        r = run(["unbound-checkconf", str(self.conf)])
        assert r.returncode == 0, r.stdout + r.stderr
        self.log = open(self.tmp_path / "unbound.log", "wb")
        self.proc = subprocess.Popen(["unbound", "-d", "-c", str(self.conf)], stdout=self.log,
                                     stderr=self.log)
        from harness import wait_until

        def answers():
            if self.proc.poll() is not None:
                self.log.close()
                raise AssertionError((self.tmp_path / "unbound.log").read_text())
            return dns.query.udp(dns.message.make_query(ZONE, "SOA"), "127.0.0.1",
                                 port=self.port, timeout=0.5)
        wait_until(answers, 10, "unbound answering", interval=0.1,
                   ignore=(dns.exception.Timeout,))
        return self

    def __exit__(self, *a):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def start_unbound(tmp_path, rosterd_dns, server_extra="", attempts=3):
    """unbound_conf() and Unbound on a port picked by free_port(), started
    (the caller exits it): picked again when another socket took the port
    between the pick and Unbound's bind. (the Unbound, its port)"""
    from harness import free_port
    for attempt in range(attempts):
        port = free_port(both=True)
        conf = unbound_conf(tmp_path, rosterd_dns, port, server_extra)
        try:
            return Unbound(tmp_path, conf, port).__enter__(), port
        except AssertionError as e:
            if attempt == attempts - 1 or "already in use" not in str(e):
                raise
