"""The Python client's side of bench/client: what `roster-probe many` and
`roster-probe hold` do for libroster, with the roster package.

  pymany.py many --server A --ttl S --clients N --seconds S
      N clients, each with its own lease, connection and engine thread, in
      this process; once every one registered and a heartbeat interval
      passed, counts heartbeats and this process's CPU (getrusage) over S
      seconds and prints one JSON line like roster-probe's.
  pymany.py hold --server A --ttl S --endpoints N
      one client with N endpoints under one lease; prints one JSON line
      once all are registered.
Both then hold everything until a line (or EOF) on stdin, and close."""
import argparse
import json
import resource
import sys
import threading
import time

import roster


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {k: 0 for k in roster.EventKind}

    def __call__(self, ev):
        with self.lock:
            self.n[ev.kind] += 1

    def get(self, kind):
        with self.lock:
            return self.n[kind]


def cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # a benchmark's poll, not a test
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["many", "hold"])
    ap.add_argument("--server", required=True)
    ap.add_argument("--ttl", type=int, default=3)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--endpoints", type=int, default=1)
    ap.add_argument("--seconds", type=int, default=6)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    count = Counter()
    K = roster.EventKind
    clients = []
    if a.mode == "many":
        for i in range(a.clients):
            c = roster.Client([a.server], ttl=a.ttl, on_event=count)
            c.add("bench", "tcp", f"py{i}.bench.example.net", 20000 + i % 40000)
            clients.append(c.start())
        ok = wait_for(lambda: count.get(K.REGISTERED) >= a.clients, 120)
        time.sleep(a.ttl / 3 + 1)  # warm-up: every engine in its heartbeat rhythm
        hb0, cpu0 = count.get(K.HEARTBEAT), cpu()
        time.sleep(a.seconds)  # the measuring window
        used, beats = cpu() - cpu0, count.get(K.HEARTBEAT) - hb0
        out = {"clients": a.clients, "registered": count.get(K.REGISTERED), "all": ok,
               "disconnects": count.get(K.DISCONNECTED), "lease_lost": count.get(K.LEASE_LOST),
               "heartbeats": beats, "seconds": a.seconds, "cpu_seconds": round(used, 3),
               "cpu_us_per_heartbeat": round(used * 1e6 / beats, 1) if beats else 0.0}
    else:
        c = roster.Client([a.server], ttl=a.ttl, on_event=count)
        for i in range(a.endpoints):
            c.add("bench", "tcp", f"py{i}.bench.example.net", 20000 + i % 40000)
        clients.append(c.start())
        ok = wait_for(lambda: count.get(K.REGISTERED) >= a.endpoints, 120)
        out = {"endpoints": a.endpoints, "registered": count.get(K.REGISTERED), "all": ok}
    print(json.dumps(out), flush=True)
    sys.stdin.readline()
    for c in clients:
        c.close()


if __name__ == "__main__":
    main()
