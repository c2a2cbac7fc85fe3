"""Serials, determinism, unchanged zones left alone, the drop guard, --check,
every check through the real binary, exit codes and usage errors."""
import filecmp
import os

import pytest

import harness
import zonegen_common as zc

H = lambda name, ip, **kw: dict(name=name, ipv4=ip, **kw)


def fleet(tmp_path, n=200):
    hosts = [H(f"ash2-web-a{i}", f"10.2.{i // 250}.{i % 250 + 1}",
               ipv6=f"2001:db8:2::{i + 1:x}") for i in range(n)]
    hosts += [H(f"lon6-db-b{i}", f"10.6.0.{i + 1}") for i in range(20)]
    return hosts


def test_same_input_gives_byte_identical_files(tmp_path):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path))
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    zc.run(a, [inv], "--serial", "7", "--zone-path", "/srv/zones", check=0)
    # the same hosts in another order, split over two files
    hosts = fleet(tmp_path)[::-1]
    i1 = zc.write_jsonl(tmp_path / "i1.jsonl", hosts[:50])
    i2 = zc.write_jsonl(tmp_path / "i2.jsonl", hosts[50:])
    zc.run(b, [i2, i1], "--serial", "7", "--zone-path", "/srv/zones", check=0)
    fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
    assert fa == fb and len(fa) > 5
    match, mismatch, errors = filecmp.cmpfiles(a, b, fa, shallow=False)
    assert mismatch == [] and errors == []


def test_serials_bump_only_on_change_and_unchanged_files_are_not_rewritten(tmp_path):
    hosts = fleet(tmp_path)
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", hosts)
    out = str(tmp_path / "out")
    zc.run(out, [inv], "--serial", "2026010100", "--commit", "c1", check=0)
    host_zone = os.path.join(out, "ash2.example.net.zone")
    lon_zone = os.path.join(out, "lon6.example.net.zone")
    assert zc.soa_serial(host_zone) == 2026010100
    before = {f: (os.stat(f).st_mtime_ns, os.stat(f).st_ino) for f in zc.zone_files(out)}
    # same input, a new commit and a --serial: nothing changes, nothing is rewritten
    r = zc.run(out, [inv], "--serial", "5", "--commit", "c2", check=0)
    assert "0 changed" in r.stdout
    after = {f: (os.stat(f).st_mtime_ns, os.stat(f).st_ino) for f in zc.zone_files(out)}
    assert before == after
    assert zc.soa_serial(host_zone) == 2026010100
    # one host more in ash2: its host, roles and reverse zones change, lon6's do not
    hosts.append(H("ash2-web-a999", "10.2.9.9"))
    zc.write_jsonl(inv, hosts)
    r = zc.run(out, [inv], "--commit", "c3", check=0)
    assert zc.soa_serial(host_zone) == 2026010101
    assert zc.soa_serial(lon_zone) == 2026010100
    assert os.stat(lon_zone).st_mtime_ns == before[lon_zone][0]
    assert '_deploy\tIN\tTXT\t"commit=c3"' in open(host_zone).read()
    assert '"commit=c1"' in open(lon_zone).read(), "an unchanged zone keeps its commit"
    assert "zone ash2.example.net. serial 2026010101 changed" in r.stdout
    line = [x for x in r.stdout.splitlines() if x.startswith("zone ash2.example.net.")][0]
    assert line.endswith("+2 -1"), line  # the new A, and _deploy c1 -> c3
    assert "zone lon6.example.net. serial 2026010100 unchanged" in r.stdout
    for f in zc.zone_files(out):
        z = zc.zone_name(f)
        c = harness.run(["named-checkzone", z, f])
        assert c.returncode == 0, c.stdout


def test_first_serial_defaults_to_today(tmp_path):
    import datetime
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path, 5))
    out = str(tmp_path / "out")
    zc.run(out, [inv], check=0)
    today = int(datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")) * 100
    assert zc.soa_serial(os.path.join(out, "ash2.example.net.zone")) in (today, today + 100)


def test_drop_guard_refuses_then_force_accepts(tmp_path):
    hosts = fleet(tmp_path)
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", hosts)
    out = str(tmp_path / "out")
    zc.run(out, [inv], "--serial", "1", check=0)
    snapshot = {f: open(f).read() for f in zc.zone_files(out)}
    zc.write_jsonl(inv, hosts[:100] + hosts[200:])  # ash2 loses half its hosts
    r = zc.run(out, [inv], check=1)
    assert "zone ash2.example.net. would lose" in r.stderr and "--max-drop 10%" in r.stderr
    assert "nothing written" in r.stderr
    assert {f: open(f).read() for f in zc.zone_files(out)} == snapshot
    zc.run(out, [inv], "--max-drop", "60", check=0)
    assert zc.soa_serial(os.path.join(out, "ash2.example.net.zone")) == 2


def test_vanished_site_is_a_drop_and_force_removes_it(tmp_path):
    hosts = fleet(tmp_path)
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", hosts)
    out = str(tmp_path / "out")
    zc.run(out, [inv], "--serial", "1", check=0)
    zc.write_jsonl(inv, hosts[:200])  # lon6 is gone: the source probably failed
    r = zc.run(out, [inv], check=1)
    assert "zone lon6.example.net. would lose" in r.stderr
    assert os.path.exists(os.path.join(out, "lon6.example.net.zone"))
    r = zc.run(out, [inv], "--force", check=0)
    assert not os.path.exists(os.path.join(out, "lon6.example.net.zone"))
    assert "lon6" not in open(os.path.join(out, "roster.nsd.conf")).read()


def test_each_vanishing_zone_is_named_with_its_own_count(tmp_path):
    """Every zone vanishes (an empty inventory): each refusal names a zone
    with that zone's own record count (the count the on-call weighs before
    --force), the _deploy TXT left out as for a zone that shrinks, and the
    forced run's summary says "removed: 0 records, +0 -N"."""
    import re
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path, 30))
    out = str(tmp_path / "out")
    zc.run(out, [inv], "--serial", "1", "--commit", "c1", check=0)
    records = {}
    for f in zc.zone_files(out):
        lines = [l for l in open(f).read().splitlines()
                 if l.strip() and not l.startswith((";", "$"))]
        records[zc.zone_name(f)] = (len(lines), sum("_deploy" in l for l in lines))
    assert len(set(n for n, _ in records.values())) > 2, "zones of different sizes"
    zc.write_jsonl(inv, [])
    r = zc.run(out, [inv], check=1)
    said = dict((m.group(1), (int(m.group(2)), int(m.group(3)))) for m in re.finditer(
        r"zone (\S+) would lose (\d+) of (\d+) records", r.stderr))
    assert set(said) == set(records), (said, records)
    for zone, (n, deploy) in records.items():
        assert said[zone] == (n - deploy, n - deploy), (zone, said[zone], n, deploy)
    r = zc.run(out, [inv], "--force", check=0)
    for zone, (n, _) in records.items():
        assert f"zone {zone} serial 1 removed: 0 records, +0 -{n}" in r.stdout, r.stdout


def test_check_writes_nothing(tmp_path):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path, 10))
    out = tmp_path / "out"
    r = zc.run(str(out), [inv], "--check", "--metrics", str(tmp_path / "m.prom"), check=0)
    assert "check:" in r.stdout and "zone ash2.example.net." in r.stdout
    assert not out.exists() and not (tmp_path / "m.prom").exists()


def test_metrics_textfile(tmp_path):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path, 10))
    prom = tmp_path / "zonegen.prom"
    zc.run(str(tmp_path / "out"), [inv], "--metrics", str(prom), "--serial", "3", check=0)
    text = prom.read_text()
    assert 'roster_zonegen_records{zone="ash2.example.net.",type="A"} 10' in text
    assert 'roster_zonegen_serial{zone="ash2.example.net."} 3' in text
    assert "roster_zonegen_success 1" in text


def test_a_foreign_file_in_out_is_not_overwritten(tmp_path):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path, 3))
    out = tmp_path / "out"
    out.mkdir()
    (out / "ash2.example.net.zone").write_text("; hand-made\n")
    r = zc.run(str(out), [inv], check=1)
    assert "is not a roster-zonegen zone file" in r.stderr
    assert (out / "ash2.example.net.zone").read_text() == "; hand-made\n"


CHECKS = [
    ([H("ash2-web-a1", "10.2.0.1"), H("ash2-web-a1", "10.2.0.2")], "",
     "duplicate host ash2-web-a1.ash2.example.net.: "),
    ([H("ash2-web-a1", "10.2.0.1"), H("ash2-web-a2", "10.2.0.1")], "",
     "IP 10.2.0.1 claimed by two hosts: ash2-web-a1.ash2.example.net."),
    ([H("ash2_web-a1", "10.2.0.1")], "", "bad host name 'ash2_web-a1'"),
    ([H("ash2-web-a1", "10.2.0.1")], "ash2-web-a1 IN CNAME x.example.org.\n",
     "CNAME ash2-web-a1.ash2.example.net. has other data"),
    ([H("ash2-web-a1", "10.2.0.1")], "www IN CNAME gone\n",
     "CNAME www.ash2.example.net. points at gone.ash2.example.net., which does not exist"),
    ([H(f"ash2-hadoopslave-a{i}", f"10.2.{i // 250}.{i % 250 + 1}") for i in range(2500)], "",
     "RRset hadoopslave.roles.ash2.example.net. PTR is"),
]


@pytest.mark.parametrize("hosts,static,message", CHECKS)
def test_every_check_refuses_with_a_message_naming_it(tmp_path, hosts, static, message):
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", hosts)
    extra = []
    if static:
        d = tmp_path / "static"
        d.mkdir()
        (d / "ash2.example.net.zone").write_text(static)
        extra = ["--records", str(d)]
    out = tmp_path / "out"
    r = zc.run(str(out), [inv], *extra, check=1)
    assert message in r.stderr, r.stderr
    assert not out.exists(), "nothing written"


def test_shard_large_writes_shards_that_load(tmp_path):
    hosts = [H(f"ash2-hadoopslave-a{i}", f"10.2.{i // 250}.{i % 250 + 1}") for i in range(2500)]
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", hosts)
    out = str(tmp_path / "out")
    zc.run(out, [inv], "--shard-large", check=0)
    f = os.path.join(out, "roles.ash2.example.net.zone")
    recs = zc.records(f)
    shards = {o for o, t, _ in recs if t == "PTR"}
    assert len(shards) >= 2 and all(o.endswith(".hadoopslave") for o in shards)
    assert sum(1 for _, t, _ in recs if t == "PTR") == 2500
    assert harness.run(["named-checkzone", "roles.ash2.example.net", f]).returncode == 0


def test_malformed_json_names_file_and_line(tmp_path):
    inv = tmp_path / "cloud.jsonl"
    inv.write_text('{"name": "ash2-web-a1", "ipv4": "10.2.0.1"}\n{"name": \n')
    r = zc.run(str(tmp_path / "out"), [str(inv)], check=1)
    assert f"{inv}:2: malformed JSON" in r.stderr
    # A directory given as an inventory is named as one.
    r = zc.run(str(tmp_path / "out"), [str(tmp_path)], check=1)
    assert f"--inventory {tmp_path}: Is a directory" in r.stderr, r.stderr


USAGE = [
    (["--out", "o", "--inventory", "i"], "--domain is required"),
    (["--domain", "example.net", "--inventory", "i"], "--out is required"),
    (["--domain", "example.net", "--out", "o"], "at least one --inventory"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "--reverse-prefix", "12"],
     "must be a multiple of 8"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "--reverse6-prefix", "50"],
     "multiple of 4"),
    (["--domain", "bad_domain", "--out", "o", "--inventory", "i"], "--domain 'bad_domain'"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "--max-drop", "101"],
     "percentage"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "--notify", "ns1:53"],
     "--notify 'ns1:53'"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "--bogus"], "unknown option"),
    (["--domain", "example.net", "--out", "o", "--inventory"], "needs a value"),
    (["-x", "--domain", "example.net"], "unknown option '-x'"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "--nsd-pattern", 'a"b'],
     "--nsd-pattern 'a\"b'"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "--commit", "a b"],
     "--commit 'a b'"),
    (["--domain", "example.net", "--out", "o", "--inventory", "i", "extra"],
     "unexpected argument 'extra'"),
]


@pytest.mark.parametrize("args,message", USAGE)
def test_usage_errors_are_one_line_exit_2(tmp_path, args, message):
    r = harness.run([zc.zonegen_bin()] + args, cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_is_not_a_usage_error(tmp_path, flag):
    """Like rosterd -h and roster -h: the usage on stdout, exit 0."""
    r = harness.run([zc.zonegen_bin(), flag], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: roster-zonegen ") and r.stderr == ""
    bad = harness.run([zc.zonegen_bin(), "-q"], cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == "" and "unknown option '-q'" in bad.stderr


def test_one_run_at_a_time_per_output_directory(tmp_path):
    import fcntl
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path, 5))
    out = tmp_path / "out"
    zc.run(str(out), [inv], "--serial", "1", check=0)
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running roster-zonegen holds
        zc.write_jsonl(inv, fleet(tmp_path, 6))
        r = zc.run(str(out), [inv], check=1)
        assert "another roster-zonegen run is using it" in r.stderr
        assert zc.soa_serial(str(out / "ash2.example.net.zone")) == 1
    finally:
        os.close(fd)
    zc.run(str(out), [inv], check=0)
    assert zc.soa_serial(str(out / "ash2.example.net.zone")) == 2


def test_files_a_killed_run_staged_are_removed(tmp_path):
    """A run killed between writing its .<name>.tmp files and renaming them
    leaves them behind; the next run removes them, and nothing else."""
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", fleet(tmp_path))
    out = tmp_path / "out"
    zc.run(str(out), [inv], check=0)
    zone = next(n for n in os.listdir(out) if n.endswith(".zone"))
    left = [f".{zone}.tmp", ".gone.example.net.zone.tmp", ".roster.nsd.conf.tmp"]
    for name in left + [".keep.tmp", "notes.tmp"]:
        (out / name).write_text("half written\n")
    zc.run(str(out), [inv], check=0)
    names = set(os.listdir(out))
    assert not names & set(left), names
    assert {".keep.tmp", "notes.tmp"} <= names, "only zonegen's own files are removed"


def test_run_without_commit_after_one_with_it_loses_nothing(tmp_path):
    """The _deploy TXT only --commit adds is no lost record for --max-drop:
    a small zone (6 records, one of them _deploy) is not refused when a run
    without --commit drops it (issue 16)."""
    inv = zc.write_jsonl(tmp_path / "inv.jsonl", [H("lon6-web-a1", "10.0.0.1"),
                                                  H("lon6-web-a2", "10.0.0.2")])
    out = str(tmp_path / "out")
    zc.run(out, [inv], "--commit", "abc", check=0)
    r = zc.run(out, [inv], check=0)
    assert "would lose" not in r.stderr and "error" not in r.stderr, r.stderr
    # A real loss is still refused: one host of two.
    one = zc.write_jsonl(tmp_path / "one.jsonl", [H("lon6-web-a1", "10.0.0.1")])
    r = zc.run(out, [one], check=1)
    assert "zone lon6.example.net. would lose 1 of 5 records" in r.stderr, r.stderr
