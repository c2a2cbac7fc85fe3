"""The Python client beside libroster on the same registry: the same
instances for the same queries and the same ring owner for the same keys
(the CLI is libroster through its public API); the package installs
offline with pip from Debian's packages; an operation rosterd does not know
is UNSUPPORTED and leaves the connection usable."""
import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python_client"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster as cli  # noqa: E402
from harness import SOURCE, Rosterd  # noqa: E402
from pyclient import roster  # noqa: E402
from roster.model import instance_to_json  # noqa: E402

S = roster.Status
KEYS = ["d34db33f", "song:1", "user/42", "x" * 300, "caf\u00e9", "a", "zz", "k"] + \
    [f"key-{i}" for i in range(40)]


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path) as s:
        yield s


def cli_json(srv, *args):
    r = cli("--server", f"127.0.0.1:{srv.api_port}", "--json", *args)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def populate(srv, c):
    """Instances written by both clients: Python's permanent registrations,
    the CLI's, a leased one from a Python engine, mixed statuses and case."""
    for i in range(6):
        c.register_permanent(roster.make_instance(
            "storage", "hm", f"LON6-Storage-A{i}.lon6.example.net", 1234 + i % 2,
            addresses=[f"10.1.0.{i}", f"2001:db8::{i}"], weight=10 + i, priority=i % 3,
            metadata={"rack": f"r{i}"}, status=S.DOWN if i == 4 else S.UP))
    for i in range(4):
        r = cli("--server", f"127.0.0.1:{srv.api_port}", "register", "--service", "storage",
                "--protocol", "hm", "--host", f"lon6-storage-b{i}.lon6.example.net",
                "--port", 1234, "--permanent", "--weight", 5, "--meta", f"rack=s{i}",
                *(["--starting"] if i == 3 else []))
        assert r.returncode == 0, r.stderr
    c.register_permanent(roster.make_instance("storage", "grpc", "other.example.net", 1))


def test_same_instances_for_the_same_queries(srv):
    c = roster.Client([f"127.0.0.1:{srv.api_port}"], ttl=5)
    populate(srv, c)
    c.add("storage", "hm", "lon6-storage-leased.lon6.example.net", 1234)
    c.start()
    c.wait(10)
    try:
        for args, py in [(("--protocol", "hm"), dict(protocol="hm")),
                         (("--protocol", "hm", "--all"), dict(protocol="hm", include_down=True)),
                         ((), {}), (("--all",), dict(include_down=True))]:
            doc = cli_json(srv, "query", "--service", "storage", *args)
            got = c.query("storage", **py)
            assert doc["revision"] == got.revision
            key = lambda d: (d["protocol"], d["host"], d["port"])  # noqa: E731
            theirs = sorted(doc["instances"], key=key)
            ours = sorted((instance_to_json(i) for i in got.instances), key=key)
            assert ours == theirs, args
        assert len(c.query("storage", "hm", include_down=True).instances) == 11
    finally:
        c.close()


def test_same_ring_owner_for_the_same_keys(srv):
    c = roster.Client([f"127.0.0.1:{srv.api_port}"])
    populate(srv, c)
    assert f"{roster.ring_hash(b'd34db33f'):08x}" == "d1026b45"  # common/ring.h's vector
    owners = set()
    for key in KEYS:
        doc = cli_json(srv, "ring", "--service", "storage", "--protocol", "hm", "--key", key)
        mine = c.ring_owner("storage", "hm", key)
        assert (mine.host, mine.port) == (doc["owner"]["host"], doc["owner"]["port"]), key
        assert doc["key_token"] == f"{roster.ring_hash(key.encode()):08x}"
        owners.add(mine.host)
    assert len(owners) >= 4  # the keys spread over the ring: not a trivial agreement
    # DOWN and STARTING instances are not on the ring, for either client.
    assert not owners & {"lon6-storage-a4.lon6.example.net.", "lon6-storage-b3.lon6.example.net."}


def test_pip_install_offline(tmp_path):
    """pip install --no-build-isolation --no-index works with Debian's
    setuptools and protobuf, into a --target dir and into a venv; the
    generated module is in the installed package, never in the sources."""
    src = tmp_path / "src"
    shutil.copytree(os.path.join(SOURCE, "clients", "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = dict(os.environ, ROSTER_PROTO=os.path.join(SOURCE, "proto", "roster.proto"),
               PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    target = tmp_path / "target"
    # --target resolves dependencies into the target, blind to the system's
    # python3-protobuf: --no-deps (the venv below sees it and checks it).
    r = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "--no-build-isolation",
                        "--no-index", "--no-deps", "--target", str(target), str(src)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "roster" / "roster_pb2.py").exists()
    assert (target / "roster" / "py.typed").exists()
    assert not os.path.exists(os.path.join(SOURCE, "clients", "python", "roster",
                                           "roster_pb2.py"))
    check = ("import roster, roster.wire as w; "
             "assert w.pb.Request(id=1).id == 1; print(roster.__file__)")
    r = subprocess.run(["/usr/bin/python3", "-c", check], capture_output=True, text=True,
                       env=dict(env, PYTHONPATH=str(target)), cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0 and str(target) in r.stdout, r.stderr
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                        "--no-build-isolation", "--no-index", str(src)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([str(venv / "bin" / "python"), "-c", check], capture_output=True,
                       text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0 and str(venv) in r.stdout, r.stderr


def test_an_unknown_operation_is_unsupported(srv):
    """docs/protocol.md: a Request carrying an operation rosterd does not
    know (one of a newer client) is answered UNSUPPORTED with its id, and the
    connection stays usable."""
    api = srv.client()
    # Request{id: 7, <field 99>: {token: "abc"}}: an operation field unknown here.
    body = b"\x08\x07" + b"\x9a\x06" + b"\x05\x0a\x03abc"
    api.send_raw(struct.pack(">I", len(body)) + body)
    r = api.recv()
    assert (r.id, r.error) == (7, roster.wire.pb.UNSUPPORTED)
    assert r.message == "unsupported or missing operation"
    assert api.stats().zone == "services.lon6.example.net."


def test_python_example_registers_and_deregisters(srv):
    """client/examples/register_at_startup.py, as the README runs it."""
    import signal
    from pyclient import server_hosts
    from harness import BUILD
    ex = os.path.join(SOURCE, "client", "examples", "register_at_startup.py")
    env = dict(os.environ, PYTHONPATH=os.path.join(BUILD, "clients", "python"))
    p = subprocess.Popen(["/usr/bin/python3", ex, f"127.0.0.1:{srv.api_port}", "web", "http",
                          "web1.lon6.example.net", "8080"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "registered web1.lon6.example.net:8080\n"
        assert server_hosts(srv.api_port, "web") == ["web1.lon6.example.net.:8080"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0, p.stderr.read()
        assert server_hosts(srv.api_port, "web") == []  # deregistered at once
        assert srv.client().stats().leases == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    bad = subprocess.run(["/usr/bin/python3", ex, "127.0.0.1:1", "_web", "http", "h.example.net",
                          "80"], env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "invalid service" in bad.stderr
