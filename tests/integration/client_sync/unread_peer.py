"""Run inside a network namespace of its own (test_client_sync.py starts
it under unshare(1)): a fake registry on 127.0.0.1 that answers small
requests (the CLI's Stats, for the zone) and, for a big one, reads only its
length and then, by MODE, never reads again ("unread") or resets the
connection ("reset"); and one `roster` command against it. Prints one JSON
line: {"rc": exit status, "stderr": its stderr, "took": seconds}.

    unread_peer.py MODE ROSTER_BINARY ARG...    (the roster arguments after --server)
"""
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from harness import pb, serve_connections  # noqa: E402

SMALL = 65536


def serve(c, mode):
    while True:
        head = c.recv(4, socket.MSG_WAITALL)
        if len(head) < 4:
            return
        n = struct.unpack(">I", head)[0]
        if n > SMALL:
            if mode == "reset":  # while the client is still sending
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            else:
                threading.Event().wait(60)  # never read
            return
        rq = pb().Request()
        rq.ParseFromString(c.recv(n, socket.MSG_WAITALL))
        rs = pb().Response(id=rq.id, stats=pb().StatsResponse(
            zone="services.lon6.example.net.", site="lon6", domain="example.net"))
        body = rs.SerializeToString()
        c.sendall(struct.pack(">I", len(body)) + body)


def main():
    pb()  # protoc runs before the clock starts
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accepted ones
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    port = ls.getsockname()[1]
    serve_connections(ls, lambda c: serve(c, sys.argv[1]))
    t0 = time.monotonic()
    r = subprocess.run([sys.argv[2], "--server", f"127.0.0.1:{port}"] + sys.argv[3:],
                       capture_output=True, text=True, timeout=60)
    print(json.dumps({"rc": r.returncode, "stderr": r.stderr, "took": time.monotonic() - t0}))
    ls.close()


if __name__ == "__main__":
    main()
