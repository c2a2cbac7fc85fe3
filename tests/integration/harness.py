"""Shared helpers of Roster's integration tests.

Every test gets its own temp dir and its own ports (asked from the kernel),
so tests stand alone and may run in any order. Only 127.0.0.1 / ::1 is ever
contacted.
"""
import os
import socket
import subprocess
import time

BUILD = os.environ.get("ROSTER_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE = os.environ.get("ROSTER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))


def binary(rel):
    """Path of a built binary, e.g. binary('server/rosterd')."""
    path = os.path.join(BUILD, rel)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is not built")
    return path


def free_port(kind=socket.SOCK_STREAM, both=False):
    """A port free on 127.0.0.1 (for TCP, and for UDP too when both=True)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        if not both:
            s.close()
            return port
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            u.close()
            continue
        s.close()
        u.close()
        return port
    raise RuntimeError("no free port")


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    """Wait until a TCP connect to host:port succeeds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"{host}:{port} not listening after {timeout}s")


def run(cmd, check=False, timeout=60, **kw):
    """Run a command, capturing text output."""
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout, **kw)
