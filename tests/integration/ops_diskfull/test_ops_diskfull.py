"""A full disk, for real: rosterd's store and zonegen's output on a 1 MiB
tmpfs that fills up. Each gets a clear error and loses nothing: rosterd
refuses the write with STORAGE_FULL, keeps answering DNS, and after the
disk has room again goes on and restarts with exactly what it acknowledged;
zonegen writes every file or none, leaving the previous zones whole.

The tmpfs lives in a private mount namespace (unshare(1): a user namespace
where unprivileged ones are allowed, as on Debian; plain root otherwise
works too), so the test mounts nothing on the machine itself. Every process
that must see the small disk runs in that namespace through nsenter(1)."""
import json
import os
import re
import signal
import subprocess
import urllib.request

import dns.message
import dns.query
import dns.rcode
import pytest

from harness import Rosterd, pb
from zonegen_common import mkfleet, zonegen_bin


class SmallDisk:
    """A tmpfs of @size mounted on @path, seen only inside its namespace."""

    def __init__(self, path, size="1m"):
        self.path = str(path)
        os.makedirs(self.path, exist_ok=True)
        self.holder = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
             'mount -t tmpfs -o size="$1" tmpfs "$0" && echo ready && exec sleep 3600',
             self.path, size], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.holder.stdout.readline()
        assert line == b"ready\n", self.holder.stderr.read().decode()

    def prefix(self):
        """A command prefix that runs the rest in the namespace."""
        return ["nsenter", f"--target={self.holder.pid}", "--user", "--mount",
                "--preserve-credentials"]

    def run(self, *cmd, check=True):
        r = subprocess.run(self.prefix() + list(cmd), capture_output=True, timeout=120)
        assert not check or r.returncode == 0, r.stderr.decode()
        return r

    def read(self, path):
        return self.run("cat", path).stdout

    def close(self):
        self.holder.send_signal(signal.SIGKILL)
        self.holder.wait()


@pytest.fixture
def disk(tmp_path):
    d = SmallDisk(tmp_path / "disk")
    yield d
    d.close()


class NsRosterd(Rosterd):
    def __init__(self, tmp, disk, **kw):
        super().__init__(tmp, data=os.path.join(disk.path, "data"), **kw)
        self.disk = disk

    def args(self):
        return self.disk.prefix() + super().args()


def srv_targets(srv, name):
    q = dns.message.make_query(name, "SRV")
    r = dns.query.tcp(q, "127.0.0.1", port=srv.dns_port, timeout=5)
    return r.rcode(), {str(rd.target) for rrset in r.answer for rd in rrset}


def fill(c, prefix, limit=20000):
    """Register until the store refuses; the acknowledged hosts and the
    refusals (code, message) seen, stopping after five of them."""
    acked, refused = [], []
    for k in range(limit):
        host = f"{prefix}{k}.lon6.example.net"
        r = c.register("fill", "tcp", host, 80, addresses=[f"10.9.{k // 250}.{k % 250 + 1}"])
        if r.error == 0:
            acked.append(host)
        else:
            refused.append((r.error, r.message))
            if len(refused) == 5:
                break
    return acked, refused


def test_rosterd_full_disk_refuses_writes_and_loses_nothing(tmp_path, disk):
    # A ballast file takes a quarter of the disk: freeing it later makes room.
    disk.run("dd", "if=/dev/zero", f"of={disk.path}/ballast", "bs=64k", "count=4")
    s = NsRosterd(tmp_path, disk)
    s.start()
    try:
        with s.client() as c:
            lease = c.open_lease(30)
            assert c.register("keep", "tcp", "k1.lon6.example.net", 443, lease=lease,
                              addresses=["10.0.0.1"]).error == 0
            acked, refused = fill(c, "h")
            assert len(acked) > 1000, "the disk filled far too early"
            assert len(refused) == 5, f"never refused after {len(acked)} registrations"
            for code, message in refused:
                assert code == pb().STORAGE_FULL, (code, message)
                assert "No space left on device" in message, message
            # Reads and DNS go on from what was committed; heartbeats are not
            # written, so the lease stays alive.
            assert srv_targets(s, "_keep._tcp.services.lon6.example.net.") == (
                0, {"k1.lon6.example.net."})
            assert c.heartbeat(lease).error == 0
            assert len(c.query("fill").query.instances) == len(acked)
            # Room again: writes work without a restart.
            disk.run("rm", f"{disk.path}/ballast")
            assert c.register("fill", "tcp", "after.lon6.example.net", 80).error == 0
            r = c.request(deregister=pb().DeregisterRequest(instance=pb().InstanceId(
                service="fill", protocol="tcp", host=acked[0], port=80)))
            assert r.error == 0 and r.deregister.removed == 1, r
            want = set(acked[1:]) | {"after.lon6.example.net"}
            got = {i.host.rstrip(".") for i in c.query("fill").query.instances}
            assert got == want
        with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/metrics", timeout=5) as m:
            failures = re.search(r"^roster_store_commit_failures_total (\d+)$",
                                 m.read().decode(), re.M)
        assert failures and int(failures.group(1)) >= 1
        assert "store commit failed: No space left on device" in s.logs()
        assert s.stop() == 0
        # Exactly what was acknowledged comes back.
        s.start()
        with s.client() as c:
            got = {i.host.rstrip(".") for i in c.query("fill").query.instances}
            assert got == want
            assert [i.host for i in c.query("keep").query.instances] == ["k1.lon6.example.net."]
    finally:
        assert s.stop() in (0, None), s.logs()[-3000:]


def test_rosterd_starting_on_a_full_disk_says_so(tmp_path, disk):
    # Fill the disk to the last block: dd stops with ENOSPC.
    disk.run("dd", "if=/dev/zero", f"of={disk.path}/ballast", "bs=4k", check=False)
    s = NsRosterd(tmp_path, disk)
    r = subprocess.run(s.args(), capture_output=True, text=True, timeout=60)
    # LMDB writes its lock file through a shared mapping: unallocated, that
    # was a SIGBUS (-7) here, not an error message.
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "No space left on device" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_report_log_on_a_full_disk_keeps_whole_lines(tmp_path, disk):
    s = NsRosterd(tmp_path, disk, extra=["--report-zone", "errors.example.net",
                                         "--report-rate", "100000"])
    s.start()
    def report(k):
        q = dns.message.make_query(f"e{k % 7}.1-2-3.linux.n{k}.errors.example.net", "A")
        r = dns.query.udp(q, "127.0.0.1", port=s.dns_port, timeout=5)
        assert r.rcode() == dns.rcode.NXDOMAIN

    try:
        for k in range(5):  # the log has its first page
            report(k)
        # Fill the disk to the last block: dd stops with ENOSPC. The log's
        # page still has room for a few lines, then for part of one.
        disk.run("dd", "if=/dev/zero", f"of={disk.path}/ballast", "bs=4k", check=False)
        for k in range(5, 400):
            report(k)
        log = disk.read(os.path.join(disk.path, "data", "client-reports.log"))
        assert log.endswith(b"\n"), log[-200:]
        lines = log.splitlines()
        for line in lines:
            json.loads(line)
        assert 5 < len(lines) < 400, "the disk never filled"
        with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/metrics",
                                    timeout=5) as m:
            text = m.read().decode()
        errors = re.search(r"^roster_client_reports_log_errors_total (\d+)$", text, re.M)
        assert errors and int(errors.group(1)) >= 400 - len(lines)
        assert re.search(r'^roster_client_reports_total\{code="e0"\} (\d+)$', text, re.M)
    finally:
        assert s.stop() in (0, None), s.logs()[-3000:]


def zone_texts(disk, out):
    """Every file in @out (hidden ones too) and its bytes."""
    names = disk.run("ls", "-A", out).stdout.decode().split()
    return {n: disk.read(os.path.join(out, n)) for n in names}


def serial(text):
    return int(re.search(rb"^@\tIN\tSOA\t\S+ \S+ (\d+) ", text, re.M).group(1))


def test_zonegen_full_disk_writes_all_or_nothing(tmp_path, disk):
    small = mkfleet(str(tmp_path / "small"), hosts=900, sites=3)
    big = mkfleet(str(tmp_path / "big"), hosts=3600, sites=3)
    out = os.path.join(disk.path, "out")

    def zonegen(inventories):
        cmd = [zonegen_bin(), "--domain", "example.net", "--out", out, "--quiet",
               "--max-drop", "100"]
        for inv in inventories:
            cmd += ["--inventory", inv]
        return disk.run(*cmd, check=False)

    r = zonegen(small)
    assert r.returncode == 0, r.stderr.decode()
    before = zone_texts(disk, out)
    assert len([n for n in before if n.endswith(".zone")]) == 12
    # The new zones (about 1.1 MiB) do not fit: file by file, some would
    # have been replaced before the disk filled.
    r = zonegen(big)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "No space left on device" in err, err
    assert "nothing written, the previous output is intact" in err, err
    assert zone_texts(disk, out) == before, "a file changed, or a temporary one was left"
    # Room again: the same run goes through, each zone one serial up.
    disk.run("mount", "-o", "remount,size=8m", disk.path)
    r = zonegen(big)
    assert r.returncode == 0, r.stderr.decode()
    after = zone_texts(disk, out)
    assert sorted(after) == sorted(before)
    for name, text in before.items():
        if name.endswith(".zone"):
            assert serial(after[name]) == serial(text) + 1, name
