"""What the store tests share: a real store of N permanent instances made
with bench/registry's loadgen through the real rosterd, the damage an
operator meets (random bytes, flipped bytes, truncation, an empty file, a
damaged lock file), and one start of rosterd on a store with its outcome."""
import os
import random
import shutil
import signal
import subprocess

from harness import Rosterd, binary, wait_until


def make_store(tmpdir, n, name="template"):
    """A data dir holding @p n permanent instances (service bench0..), made
    by the real rosterd and stopped cleanly. Returns its path."""
    s = Rosterd(os.path.join(str(tmpdir), name + "-run"), data=os.path.join(str(tmpdir), name))
    os.makedirs(s.tmpdir, exist_ok=True)
    s.start()
    try:
        out = subprocess.run([binary("bench/registry/loadgen"), "register", "--server",
                              f"127.0.0.1:{s.api_port}", "--conns", "4", "--window", "64",
                              "--count", str(n), "--services", "10"],
                             capture_output=True, text=True, timeout=120)
        assert "errors=0" in out.stdout, out.stdout + out.stderr
    finally:
        assert s.stop() == 0
    return s.data


def copy_store(src, dst):
    shutil.copytree(src, dst)
    return dst


def data_file(d):
    return os.path.join(d, "data.mdb")


def damage_random_block(d, rng, size=4096, at=None):
    """@p size random bytes at @p at (default: the middle of the file)."""
    path = data_file(d)
    n = os.path.getsize(path)
    at = n // 2 if at is None else at
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(bytes(rng.getrandbits(8) for _ in range(size)))


def damage_flip(d, rng, count=50, past=8192):
    """@p count bytes, each at a random offset past @p past, inverted."""
    path = data_file(d)
    n = os.path.getsize(path)
    with open(path, "r+b") as f:
        for _ in range(count):
            at = rng.randrange(past, n)
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ 0xFF]))


def damage_truncate(d, rng=None, fraction=0.5):
    path = data_file(d)
    os.truncate(path, int(os.path.getsize(path) * fraction))


def damage_empty(d, rng=None):
    os.truncate(data_file(d), 0)


def damage_zero_page(d, rng):
    """One whole page past the meta pages zeroed."""
    path = data_file(d)
    pages = os.path.getsize(path) // 4096
    with open(path, "r+b") as f:
        f.seek(4096 * rng.randrange(2, pages))
        f.write(bytes(4096))


class Outcome:
    """One start of rosterd: how it ended (exit code, negative for a
    signal), what it printed, and what it served when it started."""

    def __init__(self):
        self.rc = None
        self.output = ""
        self.served = None  # instances seen through Stats when it started
        self.after_writes = None  # instances after a few more registrations


def start_once(tmpdir, data, extra=(), writes=5, timeout=60):
    """Start rosterd on @p data; when it serves, read the instance count
    through Stats, make @p writes registrations (the writer touches the
    damaged file's pages too), and stop it with SIGTERM."""
    s = Rosterd(tmpdir, data=data, extra=list(extra))
    os.makedirs(s.tmpdir, exist_ok=True)
    o = Outcome()
    s.start(wait=False)

    def settled():
        return s.proc.poll() is not None or "rosterd serving" in s.logs()
    wait_until(settled, timeout, "rosterd to serve or exit")
    if s.proc.poll() is None:
        s.wait_ready()
        with s.client() as c:
            o.served = c.stats().instances
            for k in range(writes):
                c.register("damage-after", "tcp", f"w{k}.example.net", 80)
            o.after_writes = c.stats().instances
        o.rc = s.stop(signal.SIGTERM, timeout=timeout)
    else:
        o.rc = s.proc.wait()
        s.proc = None
        s.log.close()
    o.output = s.logs()
    return o


def verdict(o, n):
    """None when @p o is an acceptable outcome for a store of @p n
    instances; else what is wrong. Acceptable: exit 2 with one line naming
    the damage, or serving all n, or serving fewer and saying so (records
    dropped); never a signal, never a sanitizer report."""
    if o.rc is None or o.rc < 0:
        return f"died by signal {-o.rc if o.rc else '?'}"
    if "ERROR: AddressSanitizer" in o.output or "runtime error:" in o.output:
        return "a sanitizer report"
    if o.served is None:
        lines = [l for l in o.output.splitlines() if l.startswith("rosterd:")]
        if o.rc != 2 or len(lines) != 1 or "damaged" not in lines[0]:
            return f"exit {o.rc} without one 'damaged' line: {o.output[-500:]!r}"
        return None
    if o.rc != 0:
        return f"served, then exit {o.rc}"
    if o.served < n and "dropped" not in o.output:
        return f"served {o.served} of {n} instances without saying so"
    return None


DAMAGES = {
    "random_block": damage_random_block,
    "flip": damage_flip,
    "truncate": lambda d, rng: damage_truncate(d, rng, rng.uniform(0.05, 0.95)),
    "zero_page": damage_zero_page,
    "random_small_block": lambda d, rng: damage_random_block(
        d, rng, rng.choice((16, 64, 512)), rng.randrange(8192, os.path.getsize(data_file(d)) - 512)),
}


def damage_variant(d, seed):
    """Damage @p d one of the DAMAGES ways, chosen by @p seed; its name."""
    rng = random.Random(seed)
    name = rng.choice(sorted(DAMAGES))
    DAMAGES[name](d, rng)
    return name
