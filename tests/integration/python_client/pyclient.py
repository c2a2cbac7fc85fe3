"""Helpers of the python_* scenarios: the roster package as built in the
build dir (clients/python's meson target), and a recorder of its events."""
import os
import sys
import threading

from harness import BUILD, wait_until

sys.path.insert(0, os.path.join(BUILD, "clients", "python"))
import roster  # noqa: E402


class Recorder:
    """Collects a Client's engine events (on_event runs on its thread)."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, ev):
        with self.lock:
            self.events.append(ev)

    def count(self, kind):
        with self.lock:
            return sum(1 for e in self.events if e.kind == kind)

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if e.kind == kind]

    def wait(self, kind, n=1, timeout=15):
        wait_until(lambda: self.count(kind) >= n, timeout, f"{n} {kind.value} event(s)")
        return self.of(kind)


def hosts(result):
    """host:port of a QueryResult's instances, sorted."""
    return sorted(f"{i.host}:{i.port}" for i in result.instances)


def server_hosts(port, service, protocol=None):
    """What the registry on @p port holds now, asked without a cache."""
    c = roster.Client([f"127.0.0.1:{port}"], timeout=2)
    return hosts(c.query(service, protocol, use_cache=False))
