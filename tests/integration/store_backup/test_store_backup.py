"""Hot backups and restores (issue 14) with the real rosterd: a backup
taken under a registration stream holds every registration acknowledged
before it began; `rosterd --restore` checks the file, moves the current
store aside and installs it; the restored store serves after a start with
its leases given a full TTL of grace; scheduled backups keep the newest N;
the metrics say what backups did."""
import glob
import os
import subprocess
import threading

from harness import ApiClient, Rosterd, binary, pb, run, wait_until


def backup(port, path):
    with ApiClient(port, timeout=60) as c:
        return c.request(backup=pb().BackupRequest(path=path))


def restore(data, path):
    p = subprocess.run([binary("server/rosterd"), "--data", data, "--restore", path],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def served_hosts(c, service):
    return {i.host.rstrip(".") for i in c.query(service).query.instances}


def test_backup_under_a_registration_stream_holds_every_earlier_ack(tmp_path):
    acked, stop = [], threading.Event()
    with Rosterd(tmp_path) as s:
        def writer():
            with s.client() as c:
                k = 0
                while not stop.is_set():
                    ids = {}
                    for _ in range(32):
                        ids[c.send(register=pb().RegisterRequest(instance=pb().Instance(
                            service="stream", protocol="tcp", host=f"h{k}.example.net",
                            port=80)))] = k
                        k += 1
                    for rid, kk in ids.items():
                        if c.wait(rid).error == 0:
                            acked.append(kk)
        t = threading.Thread(target=writer)
        t.start()
        try:
            wait_until(lambda: len(acked) >= 3000, 30, "3,000 acks")
            before = set(acked)  # acknowledged before the backup began
            r = backup(s.api_port, str(tmp_path / "b1.mdb"))
            after_backup = len(acked)
        finally:
            stop.set()
            t.join()
        assert r.error == 0, r.message
        assert r.backup.bytes == os.path.getsize(tmp_path / "b1.mdb") and r.backup.bytes > 0
        assert not glob.glob(str(tmp_path / "b1.mdb.tmp-*"))
        assert s.metric("roster_backups_total") == 1
        assert s.metric("roster_backup_last_bytes") == r.backup.bytes
        # Writes went on while the copy was made.
        assert after_backup > len(before)
    rc, out = restore(str(tmp_path / "restored"), str(tmp_path / "b1.mdb"))
    assert rc == 0, out
    with Rosterd(tmp_path, data=str(tmp_path / "restored")) as r:
        with r.client() as c:
            hosts = served_hosts(c, "stream")
    missing = {f"h{k}.example.net" for k in before} - hosts
    assert not missing, f"{len(missing)} acknowledged registrations missing"


def test_restored_store_serves_after_a_start_with_leases_given_grace(tmp_path):
    with Rosterd(tmp_path) as s:
        with s.client() as c:
            lease = c.open_lease(ttl=30)
            assert c.register("leased", "tcp", "a.example.net", 80, lease=lease).error == 0
            assert c.register("perm", "tcp", "p.example.net", 81).error == 0
        assert backup(s.api_port, str(tmp_path / "b.mdb")).error == 0
        with s.client() as c:  # after the backup: not in it
            assert c.register("perm", "tcp", "late.example.net", 82).error == 0
    data = str(tmp_path / "data")
    rc, out = restore(data, str(tmp_path / "b.mdb"))
    assert rc == 0 and "restored" in out and "before-restore" in out, out
    assert glob.glob(os.path.join(data, "data.mdb.before-restore-*"))
    with Rosterd(tmp_path, data=data) as r:
        assert "every lease has a full TTL of grace" in r.logs()
        with r.client() as c:
            assert served_hosts(c, "leased") == {"a.example.net"}
            assert served_hosts(c, "perm") == {"p.example.net"}
            # The lease lives on (grace), so its holder's heartbeat works.
            assert c.heartbeat(lease).error == 0


def test_restore_of_a_damaged_file_changes_nothing(tmp_path):
    with Rosterd(tmp_path) as s:
        with s.client() as c:
            assert c.register("perm", "tcp", "p.example.net", 81).error == 0
        assert backup(s.api_port, str(tmp_path / "b.mdb")).error == 0
    size = os.path.getsize(tmp_path / "b.mdb")
    os.truncate(tmp_path / "b.mdb", size // 2)
    before = open(os.path.join(s.data, "data.mdb"), "rb").read()
    rc, out = restore(s.data, str(tmp_path / "b.mdb"))
    assert rc == 2, out
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and "truncated" in lines[0], out
    assert open(os.path.join(s.data, "data.mdb"), "rb").read() == before


def test_backup_refuses_a_relative_path_and_a_running_rosterd_refuses_restore(tmp_path):
    with Rosterd(tmp_path) as s:
        r = backup(s.api_port, "relative.mdb")
        assert r.error == pb().INVALID_ARGUMENT and "absolute" in r.message
        r = backup(s.api_port, str(tmp_path / "no" / "such" / "dir.mdb"))
        assert r.error != 0 and "no/such" in r.message
        assert s.metric("roster_backup_failures_total") == 1
        assert backup(s.api_port, str(tmp_path / "ok.mdb")).error == 0
        rc, out = restore(s.data, str(tmp_path / "ok.mdb"))
        assert rc == 2 and "in use by a running rosterd" in out, out


def test_a_backup_onto_the_store_itself_is_refused_and_loses_nothing(tmp_path):
    """`roster backup /var/lib/roster/data.mdb`: renamed over the live file,
    the copy would have unlinked the file LMDB writes to, and every write
    acknowledged after it would be gone at the next start. Any name in the
    data directory is refused, and a hard link to data.mdb elsewhere."""
    s = Rosterd(tmp_path)
    os.makedirs(s.tmpdir, exist_ok=True)
    s.start()
    try:
        link = str(tmp_path / "link.mdb")
        os.link(os.path.join(s.data, "data.mdb"), link)
        for target in (os.path.join(s.data, "data.mdb"), os.path.join(s.data, "copy.mdb"),
                       os.path.join(s.data, ".", "data.mdb"), link):
            r = backup(s.api_port, target)
            assert r.error == pb().INVALID_ARGUMENT, (target, r)
            assert "in the store's own directory" in r.message, r.message
        assert not os.path.exists(os.path.join(s.data, "copy.mdb"))
        with s.client() as c:
            assert c.register("after", "tcp", "af.example.net", 1).error == 0
        s.stop()
        s.start()
        with s.client() as c:
            assert [i.host for i in c.query("after", "tcp").query.instances] == [
                "af.example.net."]
    finally:
        s.stop()


def test_scheduled_backups_keep_the_newest(tmp_path):
    bdir = tmp_path / "backups"
    # Relative, as a config file may say: taken from rosterd's directory
    # (the test's, which it inherits).
    with Rosterd(tmp_path, extra=["--backup-dir", os.path.relpath(bdir), "--backup-interval",
                                  "1s", "--backup-keep", "2"]) as s:
        with s.client() as c:
            assert c.register("perm", "tcp", "p.example.net", 81).error == 0
        wait_until(lambda: s.metric("roster_backups_total") >= 3, 30, "three backups")
        wait_until(lambda: len(glob.glob(str(bdir / "roster-backup-*.mdb"))) == 2, 10,
                   "the oldest deleted")
        assert s.metric("roster_backup_last_timestamp_seconds") > 0
    files = sorted(glob.glob(str(bdir / "roster-backup-*.mdb")))
    rc, out = restore(str(tmp_path / "r"), files[-1])
    assert rc == 0, out


def test_a_backup_replaces_an_older_backup_and_no_other_file(tmp_path):
    """Backup (open without tokens) must not be a way to replace any file
    rosterd can write: an existing file is replaced only when it is a copy
    of a store; anything else, and a symbolic link, is refused unchanged."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = tmp_path / "target.txt"
    target.write_text("x" * 4096)
    link = tmp_path / "link.mdb"
    os.symlink(str(target), str(link))
    with Rosterd(tmp_path) as s:
        for path in (victim, link, tmp_path):
            r = backup(s.api_port, str(path))
            assert r.error != 0 and "is not a copy of a store" in r.message, (path, r)
        assert victim.read_text() == "precious\n" and target.read_text() == "x" * 4096
        first = str(tmp_path / "b.mdb")
        assert backup(s.api_port, first).error == 0
        with s.client() as c:
            assert c.register("later", "tcp", "l.example.net", 1).error == 0
        assert backup(s.api_port, first).error == 0, "an older backup is replaced"
    rc, out = restore(str(tmp_path / "r"), first)
    assert rc == 0, out  # the replaced file is a sound store


def test_roster_backup_cli_writes_the_file_and_names_errors(tmp_path):
    with Rosterd(tmp_path) as s:
        with s.client() as c:
            assert c.register("perm", "tcp", "p.example.net", 81).error == 0
        server = f"127.0.0.1:{s.api_port}"
        p = subprocess.run([binary("client/roster"), "--server", server, "backup", "cli.mdb"],
                           capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
        assert p.returncode == 0, p.stderr
        path = str(tmp_path / "cli.mdb")  # relative: from the CLI's directory
        assert p.stdout.startswith(f"backup {path}: ") and os.path.getsize(path) > 0
        p = subprocess.run([binary("client/roster"), "--server", server, "--json", "backup",
                            str(tmp_path / "j.mdb")], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and '"bytes":' in p.stdout, p.stdout + p.stderr
        p = subprocess.run([binary("client/roster"), "--server", server, "backup",
                            str(tmp_path / "nodir" / "x.mdb")], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0 and "nodir" in p.stderr, p.stdout + p.stderr
        p = subprocess.run([binary("client/roster"), "--server", server, "backup"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "backup needs a FILE" in p.stderr
    rc, out = restore(str(tmp_path / "r"), path)
    assert rc == 0, out


def test_backups_while_the_map_grows_lose_nothing_and_fail_nothing(tmp_path):
    """A backup reads through LMDB's map; growing the map remaps it. With a
    1 MiB map that must grow many times under a stream of large
    registrations, back-to-back backups run beside it: every commit and
    every backup succeeds, and the last backup restores at least what was
    acked before it began. (Without the map lock, rosterd crashes here as
    the map grows from 16 to 32 MiB under a copy.)"""
    acked, stop = [], threading.Event()
    meta = {"k": "v" * 2000}
    with Rosterd(tmp_path, extra=["--map-size", "1M", "--map-max", "512M"]) as s:
        def writer():
            with s.client() as c:
                k = 0
                while not stop.is_set():
                    ids = {}
                    for _ in range(32):
                        ids[c.send(register=pb().RegisterRequest(instance=pb().Instance(
                            service="grow", protocol="tcp", host=f"g{k}.example.net",
                            port=80, metadata=meta)))] = k
                        k += 1
                    for rid, kk in ids.items():
                        if c.wait(rid).error == 0:
                            acked.append(kk)
        t = threading.Thread(target=writer)
        t.start()
        results = []
        try:
            n = 0
            while s.metric("roster_store_map_bytes") < 128 << 20 and n < 4000:
                before = set(acked)
                results.append((before, backup(s.api_port, str(tmp_path / f"g{n % 2}.mdb"))))
                n += 1
        finally:
            stop.set()
            t.join()
        assert all(r.error == 0 for _, r in results), [r.message for _, r in results if r.error]
        assert s.metric("roster_store_map_bytes") >= 16 << 20, "the map did not grow"
        assert s.metric("roster_store_commit_failures_total") == 0
        assert "map grown" in s.logs()
    last = str(tmp_path / f"g{(len(results) - 1) % 2}.mdb")
    rc, out = restore(str(tmp_path / "restored"), last)
    assert rc == 0, out
    with Rosterd(tmp_path, data=str(tmp_path / "restored")) as r:
        with r.client() as c:
            # (A Query would answer tens of MB of metadata: count instead.
            # Every registration is new and nothing is deleted, so the
            # backup holds at least what was acked before it began.)
            n = c.stats().instances
    assert len(results[-1][0]) <= n <= len(acked)


def test_a_store_is_never_served_as_another_sites(tmp_path):
    """The store records the zone it serves at its first open: the same data
    dir, or a restored backup of it, started for another site (a copied unit
    with the wrong --site, the wrong site's backup) is refused with one line
    naming both zones, exit 2; started for its own, it serves as before."""
    s = Rosterd(tmp_path)
    os.makedirs(s.tmpdir, exist_ok=True)
    s.start()
    with s.client() as c:
        assert c.register("perm", "tcp", "p.lon6.example.net", 81).error == 0
    assert backup(s.api_port, str(tmp_path / "lon6.mdb")).error == 0
    s.stop()
    other = Rosterd(tmp_path / "x", site="ams1", data=s.data)
    r = run(other.args(), timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "services.lon6.example.net." in lines[0] and \
        "services.ams1.example.net." in lines[0] and "--site" in lines[0], r.stderr
    rc, out = restore(str(tmp_path / "restored"), str(tmp_path / "lon6.mdb"))
    assert rc == 0, out
    r = run(Rosterd(tmp_path / "y", domain="example.org",
                    data=str(tmp_path / "restored")).args(), timeout=30)
    assert r.returncode == 2 and "services.lon6.example.org." in r.stderr, r.stderr
    again = Rosterd(tmp_path / "z", data=str(tmp_path / "restored"))
    os.makedirs(again.tmpdir, exist_ok=True)
    with again:
        with again.client() as c:
            assert served_hosts(c, "perm") == {"p.lon6.example.net"}
