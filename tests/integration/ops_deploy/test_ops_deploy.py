"""deploy/ as shipped: the systemd unit passes `systemd-analyze verify`, the
example config starts a real rosterd, and the Unbound, BIND, NSD and Knot
snippets pass their own server's configuration checker (Unbound's has
its own scenario, ops_unbound, with a real Unbound)."""
import os
import re
import urllib.request

import pytest

from harness import BUILD, SOURCE, Rosterd, binary, run, wait_port

DEPLOY = os.path.join(SOURCE, "deploy")


def deploy_file(rel):
    with open(os.path.join(DEPLOY, rel)) as f:
        return f.read()


def test_systemd_unit_verifies_cleanly_and_is_hardened(tmp_path):
    # The unit as meson configures it (deploy/systemd/rosterd.service.in).
    with open(os.path.join(BUILD, "deploy", "rosterd.service")) as f:
        unit = f.read()
    # verify checks that ExecStart exists: point it at this build's binary.
    exe = os.path.abspath(binary("server/rosterd"))
    unit = re.sub(r"^ExecStart=\S+/rosterd ", f"ExecStart={exe} ", unit, flags=re.M)
    path = tmp_path / "rosterd.service"
    path.write_text(unit)
    r = run(["systemd-analyze", "verify", str(path)])
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    for line in ["User=roster", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "StateDirectory=roster", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ExecReload=/bin/kill -HUP $MAINPID"]:
        assert re.search("^" + re.escape(line) + "$", unit, re.M), line
    r = run(["systemd-analyze", "security", "--offline=true", str(path)])
    m = re.search(r"Overall exposure level for rosterd.service: ([\d.]+)", r.stdout + r.stderr)
    assert m and float(m.group(1)) <= 2.0, r.stdout[-2000:]
    # sysusers: the user the unit runs as.
    assert re.search(r"^u roster ", deploy_file("systemd/roster.sysusers"), re.M)


def test_example_config_starts_rosterd(tmp_path):
    srv = Rosterd(tmp_path)
    # The file's listeners are production ones (port 53, every address):
    # the command line's replace them here.
    srv.extra = ["--config", os.path.join(DEPLOY, "etc/rosterd.conf")]
    with srv:
        # Read after the start: a start retried on a taken port picks new ones.
        http = srv.http_port
        wait_port(http)
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5) as r:
            assert r.read() == b"ok\n"
    assert "rosterd serving services.lon6.example.net." in srv.logs()


FLEET = """{"name": "lon6-web-a1", "ipv4": "10.0.0.1"}
{"name": "lon6-web-a2", "ipv4": "10.0.0.2", "ipv6": "fd00::2"}
{"name": "lon6-dnsresolver-a1", "ipv4": "10.0.0.53"}
"""


def zones_dir(tmp_path):
    """roster-zonegen's real output: zone files and its three include files."""
    inv = tmp_path / "fleet.jsonl"
    inv.write_text(FLEET)
    z = tmp_path / "zones"
    r = run([binary("zonegen/roster-zonegen"), "--domain", "example.net", "--out", str(z),
             "--inventory", str(inv), "--ns", "ns1.example.net.", "--serial", "2026112600"])
    assert r.returncode == 0, r.stdout + r.stderr
    for inc in ("roster.named.conf", "roster.nsd.conf", "roster.knot.conf"):
        assert (z / inc).exists(), inc
    return z


def point_at(text, z):
    return text.replace("/var/lib/roster/zones", str(z))


def test_bind_snippet_loads_in_named_checkconf(tmp_path):
    z = zones_dir(tmp_path)
    conf = tmp_path / "named.conf"
    conf.write_text(point_at(deploy_file("bind/named.conf.roster"), z)
                    .replace('"/var/cache/bind"', f'"{tmp_path}"'))
    r = run(["named-checkconf", "-z", str(conf)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"zone lon6.example.net/IN: loaded serial 2026112600", r.stdout), r.stdout
    assert "zone roles.lon6.example.net/IN: loaded serial" in r.stdout


def test_nsd_snippet_passes_nsd_checkconf(tmp_path):
    z = zones_dir(tmp_path)
    conf = tmp_path / "nsd.conf"
    conf.write_text(point_at(deploy_file("nsd/nsd.conf.roster"), z))
    r = run(["nsd-checkconf", str(conf)])
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(["nsd-checkconf", "-z", "lon6.example.net", "-o", "zonefile", str(conf)])
    assert r.stdout.strip() == f"{z}/lon6.example.net.zone", r.stdout + r.stderr


def test_knot_snippet_passes_conf_check(tmp_path):
    z = zones_dir(tmp_path)
    conf = tmp_path / "knot.conf"
    conf.write_text(point_at(deploy_file("knot/knot.conf.roster"), z) +
                    f'\ndatabase:\n    storage: "{tmp_path}"\n')
    r = run(["knotc", "-c", str(conf), "conf-check"])
    assert r.returncode == 0, r.stdout + r.stderr
    # Every zone of the include, loaded and checked offline by Knot itself.
    r = run(["knotc", "-c", str(conf), "zone-check"])
    assert r.returncode == 0 and "error" not in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
