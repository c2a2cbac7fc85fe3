"""Helpers of the client_* and cli_* integration scenarios: the roster CLI
and roster-probe (client/examples/probe.c, libroster through its public API)
as subprocesses, and waiting on what they report."""
import contextlib
import json
import os
import queue
import signal
import subprocess
import threading

from harness import binary, run, wait_until

# The ring of common/ring.h, implemented again from its documentation:
# FNV-1a 64 then MurmurHash3's fmix64, the top 32 bits; a point per
# virtual node "host:port#vnode".
VNODES = 8
M64 = (1 << 64) - 1


def ring_hash(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & M64
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & M64
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & M64
    h ^= h >> 33
    return h >> 32


def roster(*args, env=None, timeout=30, input=None):
    """Run the roster CLI; returns the CompletedProcess (text)."""
    e = dict(os.environ)
    for k in ("ROSTER_SERVER", "ROSTER_SITES", "ROSTER_CACHE"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([binary("client/roster")] + [str(a) for a in args], env=e,
                          capture_output=True, text=True, timeout=timeout, input=input)


@contextlib.contextmanager
def running(cmd, env=None):
    """A long-running command (e.g. `roster register --ttl`, `roster watch`)
    with piped text output; killed on the way out if still running."""
    e = dict(os.environ)
    for k in ("ROSTER_SERVER", "ROSTER_SITES", "ROSTER_CACHE"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.Popen([str(a) for a in cmd], env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def interrupt(p, sig=signal.SIGINT, timeout=10):
    """Signal a running() process; its exit status and remaining output."""
    p.send_signal(sig)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def roster_json(*args, **kw):
    r = roster("--json", *args, **kw)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def query_hosts(port, service, protocol=None, all=False):
    """Hosts:ports the registry on @port answers for a service (via the CLI)."""
    args = ["--server", f"127.0.0.1:{port}", "--json", "query", "--service", service]
    if protocol:
        args += ["--protocol", protocol]
    if all:
        args.append("--all")
    r = roster(*args)
    assert r.returncode in (0, 1), (r.returncode, r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    return sorted(f"{i['host']}:{i['port']}" for i in doc["instances"])


def wait_for(pred, timeout=15.0, interval=0.1, what="condition"):
    """harness.wait_until() with this module's defaults."""
    return wait_until(pred, timeout, what, interval=interval)


class Probe:
    """roster-probe as a subprocess whose JSON lines are collected."""

    def __init__(self, mode, *args, stdin=False):
        self.cmd = [binary("client/examples/roster-probe"), mode] + [str(a) for a in args]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     text=True, bufsize=1)
        self.lines = queue.Queue()
        self.events = []
        self.stderr = []
        self.readers = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                doc = json.loads(line)
                self.events.append(doc)
                self.lines.put(doc)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def next_line(self, timeout=15.0):
        return self.lines.get(timeout=timeout)

    def count(self, event, **match):
        return sum(1 for e in list(self.events) if e.get("event") == event
                   and all(e.get(k) == v for k, v in match.items()))

    def wait_event(self, event, n=1, timeout=15.0, **match):
        return wait_for(lambda: self.count(event, **match) >= n, timeout=timeout,
                        what=f"{n} x {event} {match} (have {self.summary()})")

    def summary(self):
        out = {}
        for e in list(self.events):
            out[e.get("event")] = out.get(e.get("event"), 0) + 1
        return out

    def wait(self, timeout=20):
        """The exit status, once the process ended and its output is read."""
        rc = self.proc.wait(timeout=timeout)
        for t in self.readers:
            t.join(timeout=5)
        return rc

    def ask(self, line="query", timeout=30.0):
        """query mode: one query, its outcome."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.next_line(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
