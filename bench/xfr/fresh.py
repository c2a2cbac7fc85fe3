#!/usr/bin/python3
"""bench/xfr/fresh.py - one freshness run of the transfer benchmark.

Adds one new SRV record per change, at --rate changes per second (an open
schedule: change i is sent at t0 + i/rate, whatever came back), for --secs
seconds, and times each from its acknowledgement by the primary to the
first answer for it from a secondary:

  --mode roster   a Register over the registration API (protobuf over TCP,
                  pipelined on one connection); the ack is its reply, sent
                  only after the commit;
  --mode update   an RFC 2136 UPDATE over DNS/TCP (pipelined on one
                  connection) to a DNS primary (BIND); the ack is its
                  NOERROR reply.

Change i adds `_<prefix>n<i>._tcp.<zone> SRV`. A secondary applies versions
in serial order, so a poller asks the secondary (UDP) for the oldest change
it has not seen yet, every millisecond, and when it is there moves straight
on to the next: each change is timed to within one query's round trip.

Prints one line: RESULT n=... p50_ms=... p99_ms=... max_ms=... lost=...
(lost: changes not seen within --settle seconds of the end).
"""
import argparse
import os
import socket
import struct
import sys
import threading
import time

import dns.message
import dns.rcode
import dns.rdatatype
import dns.update

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "integration"))
from harness import ApiClient, pb  # noqa: E402


def owner(args, i):
    return f"_{args.prefix}n{i}._tcp.{args.zone}."


def host(args, i):
    return f"{args.prefix}-h{i}.{args.zone.split('.', 1)[1]}"


class Writer:
    """Sends the changes on schedule; a reader thread notes each ack."""

    def __init__(self, args):
        self.args = args
        self.acked = [None] * args.count
        self.errors = 0
        self.done = threading.Event()

    def run_roster(self):
        c = ApiClient(self.args.port)
        ids = {}

        def reader():
            for _ in range(self.args.count):
                r = c.recv()
                now = time.monotonic()
                if r is None:
                    break
                i = ids.get(r.id)
                if r.error != 0:
                    self.errors += 1
                elif i is not None:
                    self.acked[i] = now
            self.done.set()

        t = threading.Thread(target=reader, daemon=True)
        t0 = time.monotonic() + 0.05
        for i in range(self.args.count):
            wait = t0 + i / self.args.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            inst = pb().Instance(service=f"{self.args.prefix}n{i}", protocol="tcp",
                                 host=host(self.args, i), port=8000 + i % 1000,
                                 addresses=[f"10.9.{i // 250 % 250}.{i % 250 + 1}"])
            rid = c.next_id
            ids[rid] = i
            if i == 0:
                t.start()
            c.send(register=pb().RegisterRequest(instance=inst))
        self.done.wait(self.args.settle + 10)
        c.close()

    def run_update(self):
        s = socket.create_connection(("127.0.0.1", self.args.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ids = {}

        def reader():
            buf = b""
            got = 0
            while got < self.args.count:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                    n = struct.unpack(">H", buf[:2])[0]
                    msg, buf = buf[2:2 + n], buf[2 + n:]
                    now = time.monotonic()
                    got += 1
                    qid, flags = struct.unpack(">HH", msg[:4])
                    i = ids.get(qid)
                    if flags & 0xF != 0:
                        self.errors += 1
                    elif i is not None:
                        self.acked[i] = now
            self.done.set()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t0 = time.monotonic() + 0.05
        for i in range(self.args.count):
            wait = t0 + i / self.args.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            u = dns.update.UpdateMessage(self.args.zone + ".")
            u.add(owner(self.args, i), 5, "SRV", f"10 10 {8000 + i % 1000} {host(self.args, i)}.")
            u.id = i % 65536
            ids[u.id] = i
            wire = u.to_wire()
            s.sendall(struct.pack(">H", len(wire)) + wire)
        self.done.wait(self.args.settle + 10)
        s.close()


def poll(args, w, seen, stop):
    """Ask the secondary for the oldest change not seen yet."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", args.secondary))
    s.settimeout(0.05)
    i = 0
    qid = 0
    while i < args.count and not stop.is_set():
        if w.acked[i] is None and w.errors == 0 and not w.done.is_set():
            time.sleep(0.0005)  # not acknowledged yet: nothing to look for
            continue
        qid = (qid + 1) % 65536
        q = dns.message.make_query(owner(args, i), "SRV")
        q.id = qid
        s.send(q.to_wire())
        try:
            while True:
                r = dns.message.from_wire(s.recv(65535))
                if r.id == qid:
                    break
        except (socket.timeout, dns.exception.DNSException):
            continue
        if r.rcode() == dns.rcode.NOERROR and r.answer:
            seen[i] = time.monotonic()
            i += 1
            continue
        time.sleep(0.001)
    s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["roster", "update"], required=True)
    ap.add_argument("--port", type=int, required=True, help="API port, or the primary's DNS")
    ap.add_argument("--secondary", type=int, required=True, help="the secondary's DNS port")
    ap.add_argument("--zone", default="services.lon6.example.net")
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--secs", type=float, required=True)
    ap.add_argument("--prefix", required=True, help="makes this run's names unique")
    ap.add_argument("--settle", type=float, default=10.0)
    args = ap.parse_args()
    args.count = max(1, int(args.rate * args.secs))
    w = Writer(args)
    seen = [None] * args.count
    stop = threading.Event()
    p = threading.Thread(target=poll, args=(args, w, seen, stop), daemon=True)
    p.start()
    (w.run_roster if args.mode == "roster" else w.run_update)()
    p.join(args.settle)
    stop.set()
    p.join()
    lat = sorted((seen[i] - w.acked[i]) * 1000 for i in range(args.count)
                 if seen[i] is not None and w.acked[i] is not None)
    lost = sum(1 for i in range(args.count) if seen[i] is None)
    if not lat:
        print(f"RESULT n=0 p50_ms=nan p99_ms=nan max_ms=nan lost={lost} errors={w.errors}")
        return 1
    # A change seen before its ack arrived (the reply and the transfer
    # raced): freshness 0, not negative.
    lat = [max(0.0, v) for v in lat]
    pct = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]  # noqa: E731
    print(f"RESULT n={len(lat)} p50_ms={pct(0.5):.1f} p99_ms={pct(0.99):.1f} "
          f"max_ms={lat[-1]:.1f} lost={lost} errors={w.errors}")
    return 0 if lost == 0 and w.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
