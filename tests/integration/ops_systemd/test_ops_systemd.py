"""rosterd under systemd (SPEC: Packaging and operator conventions):
Type=notify with READY=1 sent only once every listener accepts (a fake
NOTIFY_SOCKET: this machine runs no systemd instance), `systemd-analyze
verify` on every unit meson installs, and roster-register@.service's
environment file driving a real `roster register`."""
import os
import re
import shlex
import signal
import socket
import subprocess

import dns.message
import dns.query
import pytest

from harness import BUILD, Rosterd, binary, free_port, run, wait_until

UNITS = ["rosterd.service", "roster-register@.service"]


class NotifySocket:
    """The service manager's end of sd_notify(3): a unix datagram socket."""

    def __init__(self, tmp_path):
        self.path = str(tmp_path / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def recv(self, timeout=10):
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)

    def close(self):
        self.sock.close()


class NotifiedRosterd(Rosterd):
    def __init__(self, tmp_path, notify, **kw):
        super().__init__(tmp_path, **kw)
        self.notify = notify

    def env(self):
        return dict(os.environ, NOTIFY_SOCKET=self.notify.path)


def listeners_accept(srv):
    """Every listener answers now: API and HTTP connect, DNS answers a query."""
    for port in (srv.api_port, srv.http_port):
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    q = dns.message.make_query(f"services.{srv.site}.{srv.domain}.", "SOA")
    r = dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=2)
    return r.answer != []


def test_ready_only_once_every_listener_accepts(tmp_path):
    ns = NotifySocket(tmp_path)
    srv = NotifiedRosterd(tmp_path, ns)
    try:
        srv.start(wait=False)
        msg = ns.recv()
        # The first message is READY=1, and by then every port answers:
        # nothing before it, no listener still to open after it.
        assert msg.get("READY") == "1", msg
        assert listeners_accept(srv)
        srv.proc.send_signal(signal.SIGHUP)
        assert ns.recv().get("RELOADING") == "1"
        assert ns.recv().get("READY") == "1"
        srv.proc.send_signal(signal.SIGTERM)
        assert ns.recv().get("STOPPING") == "1"
        assert srv.proc.wait(timeout=10) == 0
    finally:
        srv.stop()
        ns.close()


def test_failed_start_never_says_ready(tmp_path):
    ns = NotifySocket(tmp_path)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    srv = NotifiedRosterd(tmp_path, ns)
    # HTTP opens last: DNS and API were bound when it fails.
    srv.extra = ["--http", f"127.0.0.1:{busy.getsockname()[1]}"]
    try:
        srv.start(wait=False)
        assert srv.proc.wait(timeout=10) == 2
        ns.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            ns.sock.recv(4096)
    finally:
        srv.stop()
        busy.close()
        ns.close()


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_verifies(unit, tmp_path):
    with open(os.path.join(BUILD, "deploy", unit)) as f:
        text = f.read()
    # verify checks that the ExecStart binary exists: this build's.
    text = re.sub(r"^ExecStart=\S+/rosterd ", f"ExecStart={binary('server/rosterd')} ", text,
                  flags=re.M)
    text = re.sub(r"^ExecStart=\S+/roster ", f"ExecStart={binary('client/roster')} ", text,
                  flags=re.M)
    assert "Type=notify" in text or unit != "rosterd.service"
    name = unit.replace("@.", "@web.")  # a template verifies as an instance
    path = tmp_path / name
    path.write_text(text)
    r = run(["systemd-analyze", "verify", str(path)])
    problems = [l for l in r.stderr.splitlines() if "ConditionPathExists" not in l]
    assert r.returncode == 0 and problems == [], r.stderr


def environment_file(path):
    """systemd.exec(5) EnvironmentFile= for the simple KEY=VALUE lines the
    format documents (comments, blank lines)."""
    env = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith(("#", ";")):
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def exec_start(unit_text, env):
    """ExecStart= as systemd expands it: ${X} is one argument, $X is split
    at whitespace (systemd.service(5), "Command lines")."""
    line = next(l for l in unit_text.splitlines() if l.startswith("ExecStart="))
    argv = []
    for word in shlex.split(line[len("ExecStart="):]):
        m = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", word)
        if m and m.group(1):
            argv.append(env.get(m.group(1), ""))
        elif m:
            argv.extend(env.get(m.group(2), "").split())
        else:
            argv.append(word)
    return argv


def test_register_template_drives_roster_register(tmp_path):
    with open(os.path.join(BUILD, "deploy", "roster-register@.service")) as f:
        unit = f.read()
    assert re.search(r"^EnvironmentFile=\S+/roster/services\.d/%i\.conf$", unit, re.M)
    with Rosterd(tmp_path) as srv:
        conf = tmp_path / "web.conf"
        conf.write_text(f"""# the documented format
SERVICE=web
PROTOCOL=http
HOST=web1.lon6.example.net
PORT=8080
ROSTER_SERVER=127.0.0.1:{srv.api_port}
OPTIONS=--ttl 5 --weight 7 --address 10.0.0.21 --meta version=1.4
""")
        env = environment_file(conf)
        argv = exec_start(unit, env)
        argv[0] = binary("client/roster")
        p = subprocess.Popen(argv, env=dict(os.environ, **env), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().startswith("registered web1.lon6.example.net.:8080 ")

            def instances():
                with srv.client() as c:
                    return list(c.query("web", "http").query.instances)
            got = instances()
            assert [(i.host, i.port, i.weight, list(i.addresses), dict(i.metadata))
                    for i in got] == [("web1.lon6.example.net.", 8080, 7, ["10.0.0.21"],
                                       {"version": "1.4"})]
            p.send_signal(signal.SIGTERM)  # systemctl stop
            assert p.wait(timeout=15) == 0, p.stderr.read()
            assert instances() == []
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        # A missing key is a usage error: exit 2, which the unit does not restart.
        del env["HOST"]
        argv = exec_start(unit, env)
        argv[0] = binary("client/roster")
        r = subprocess.run(argv, env=dict(os.environ, **env), capture_output=True, text=True,
                           timeout=15)
        assert r.returncode == 2 and "--host" in r.stderr, r.stderr
        assert re.search(r"^RestartPreventExitStatus=2$", unit, re.M)
