#!/usr/bin/python3
"""How a Python service registers at startup: one endpoint, a lease kept
alive by the roster package's background thread (heartbeats, reconnects,
re-registration after a registry restart or a lost lease), deregistered on
SIGTERM/SIGINT. The twin of register_at_startup.c.

    register_at_startup.py 127.0.0.1:7600 web http web1.lon6.example.net 8080

With PYTHONPATH=build/clients/python (the meson build lays the package out
there), or after `pip install clients/python`. Give several registries as
"A:P,B:P", or none and set ROSTER_SERVER, or use site="lon6"."""
import signal
import sys

import roster


def main(argv):
    if len(argv) != 6:
        print(f"usage: {argv[0]} REGISTRY[,REGISTRY...] SERVICE PROTOCOL HOST PORT",
              file=sys.stderr)
        return 2
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        # --- the few lines ---
        with roster.register(argv[2], argv[3], argv[4], int(argv[5]),
                             servers=argv[1].split(","), ttl=10, wait=5):
            print(f"registered {argv[4]}:{argv[5]}", flush=True)
            while not stop:  # serve until told to stop; heartbeats run meanwhile
                signal.pause()
        # --- leaving the block deregistered the endpoint everywhere ---
    except roster.RosterError as e:
        print(f"roster: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
