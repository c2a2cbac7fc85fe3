"""A damaged store never crashes rosterd and never starts silently empty
(issue 14). Each case damages a copy of a real store of N instances the way
an operator meets it; rosterd must exit 2 with one line naming the file and
the damage (and the way out), never die by a signal; --reset-store starts
empty on purpose and says so; a damaged lock file nobody else uses is
rebuilt (said in the log), one another process uses is refused."""
import fcntl
import glob
import os
import random
import subprocess
import sys

import pytest

from harness import Rosterd
from store_common import (copy_store, damage_empty, damage_flip, damage_random_block,
                          damage_truncate, damage_variant, make_store, start_once, verdict)

N = 20000


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("store"), N)


def one_damage_line(o, *words):
    assert o.rc == 2, f"exit {o.rc}, wanted 2 (a negative code is a signal)\n{o.output[-2000:]}"
    lines = o.output.strip().splitlines()
    assert len(lines) == 1, o.output
    line = lines[0]
    for w in ("data.mdb", "damaged", "docs/operations.md", "--reset-store") + words:
        assert w in line, f"{w!r} not in {line!r}"
    return line


@pytest.mark.parametrize("case,damage,words", [
    ("random_4k_at_half", lambda d: damage_random_block(d, random.Random(1)), ()),
    ("flip_50_past_8k", lambda d: damage_flip(d, random.Random(2)), ()),
    ("truncate_half", lambda d: damage_truncate(d), ("truncated",)),
    ("empty_file", damage_empty, ("empty", "a store existed")),
    ("missing_file", lambda d: os.unlink(os.path.join(d, "data.mdb")), ("missing",)),
])
def test_damaged_store_exits_2_with_one_line(tmp_path, template, case, damage, words):
    d = copy_store(template, str(tmp_path / "data"))
    damage(d)
    o = start_once(str(tmp_path), d)
    one_damage_line(o, *words)
    # Nothing was changed: the operator can still copy the damaged file away.
    assert os.path.exists(os.path.join(d, "roster-store"))


def test_reset_store_starts_empty_and_says_so_keeping_the_old_file(tmp_path, template):
    d = copy_store(template, str(tmp_path / "data"))
    damage_random_block(d, random.Random(1))
    o = start_once(str(tmp_path), d, extra=["--reset-store"], writes=3)
    assert o.rc == 0, o.output[-2000:]
    assert o.served == 0 and o.after_writes == 3
    assert "--reset-store: starting with an empty store on purpose" in o.output
    kept = glob.glob(os.path.join(d, "data.mdb.reset-*"))
    assert len(kept) == 1 and os.path.getsize(kept[0]) > 0
    # The next start, without the flag, serves what was written since.
    again = start_once(str(tmp_path), d, writes=0)
    assert again.rc == 0 and again.served == 3, again.output[-2000:]


def test_damaged_lock_file_unused_is_rebuilt_and_said(tmp_path, template):
    d = copy_store(template, str(tmp_path / "data"))
    with open(os.path.join(d, "lock.mdb"), "r+b") as f:
        f.write(random.Random(3).randbytes(16384))
    o = start_once(str(tmp_path), d, writes=1)
    assert o.rc == 0, o.output[-2000:]
    assert o.served == N and o.after_writes == N + 1
    assert "lock file" in o.output and "was damaged" in o.output and "no other process" in o.output
    assert os.path.exists(os.path.join(d, "lock.mdb.damaged"))


def test_damaged_lock_file_in_use_by_another_process_is_refused(tmp_path, template):
    d = copy_store(template, str(tmp_path / "data"))
    lock = os.path.join(d, "lock.mdb")
    with open(lock, "r+b") as f:
        f.write(random.Random(4).randbytes(4096))
    # Another process holding the lock file as an LMDB reader does: a
    # shared fcntl lock on its first byte.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl,sys\n"
        f"f=open({lock!r},'r+b'); fcntl.lockf(f, fcntl.LOCK_SH, 1, 0)\n"
        "print('held', flush=True); sys.stdin.read()")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        o = start_once(str(tmp_path), d)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert o.rc == 2, o.output[-2000:]
    lines = o.output.strip().splitlines()
    assert len(lines) == 1 and "lock file" in lines[0] and f"process {holder.pid}" in lines[0]


def test_damage_campaign_slice(tmp_path, template):
    """30 random-damage variants (the full 1,000 are campaign.py's, see
    docs/testing.md): no signal, and never fewer instances unsaid."""
    bad = []
    for seed in range(30):
        d = copy_store(template, str(tmp_path / f"v{seed}"))
        kind = damage_variant(d, seed)
        o = start_once(str(tmp_path / f"r{seed}"), d)
        v = verdict(o, N)
        if v:
            bad.append((seed, kind, v))
    assert not bad, bad
