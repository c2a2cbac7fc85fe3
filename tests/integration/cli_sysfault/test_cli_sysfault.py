"""The roster CLI's one-shot calls (libroster's client/sync.c: query, and
every read and write that is not a registration) under failed socket
calls: tests/faults/sysfault.c, preloaded into the real binary, fails the
chosen connect(), send(), recv() or poll() toward one registry. A call
interrupted (EINTR) or told to wait (EAGAIN) is made again and the
answer is the same; a reset or a broken pipe is "registry unreachable";
any other error is named; a registry that never answers is a timeout
after --timeout, however often the wait is interrupted."""
import os
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402
from harness import BUILD, Rosterd  # noqa: E402

SHIM = os.path.join(BUILD, "tests", "faults", "libsysfault.so")


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    r = Rosterd(tmp_path_factory.mktemp("reg")).start()
    assert r.client().register("web", "http", "w1.lon6.example.net", 80).error == 0
    yield r
    r.stop()


def faulty(tmp_path, server, args, call, err, nth=None, env=None, timeout_ms=1000, path=None):
    """Run roster against @p server with @p call failing with @p err toward
    it (or on sockets matching @p path), every matching call or only the
    @p nth; (the process, the failures injected)."""
    log = tmp_path / "sysfault.log"
    if log.exists():
        log.unlink()
    e = {"LD_PRELOAD": SHIM, "SYSFAULT_CALL": call, "SYSFAULT_ERRNO": err,
         "SYSFAULT_PATH": path or server, "SYSFAULT_LOG": str(log),
         "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1:verify_asan_link_order=0"}
    if nth is not None:
        e["SYSFAULT_NTH"] = str(nth)
    e.update(env or {})
    p = roster("--server", server, "--timeout", str(timeout_ms), *args, env=e, timeout=60)
    struck = log.read_text().count("\n") if log.exists() else 0
    return p, struck


QUERY = ("query", "--service", "web")


@pytest.mark.parametrize("call,err", [("recv", "EINTR"), ("recv", "EAGAIN"),
                                      ("send", "EINTR"), ("send", "EAGAIN")])
def test_an_interrupted_or_would_block_call_is_made_again(tmp_path, reg, call, err):
    server = f"127.0.0.1:{reg.api_port}"
    p, struck = faulty(tmp_path, server, QUERY, call, err, nth=1)
    assert struck == 1, (p.stdout, p.stderr)
    assert p.returncode == 0, p.stderr
    assert "w1.lon6.example.net.:80" in p.stdout and p.stderr == "", p.stdout


@pytest.mark.parametrize("call,err,want", [
    ("recv", "ECONNRESET", "(registry unreachable)"),
    ("recv", "EIO", "(Input/output error)"),
    ("send", "EPIPE", "(registry unreachable)"),
    ("send", "ECONNRESET", "(registry unreachable)"),
    ("send", "EIO", "(Input/output error)"),
    # the handshake never started: the socket is writable and unconnected
    ("connect", "EINPROGRESS", "(registry unreachable)"),
    ("socket", "EMFILE", "(Too many open files)"),
])
def test_a_failed_socket_call_is_named(tmp_path, reg, call, err, want):
    server = f"127.0.0.1:{reg.api_port}"
    p, struck = faulty(tmp_path, server, QUERY, call, err,
                       path="tcp4" if call == "socket" else server)
    assert struck >= 1, (p.stdout, p.stderr)
    assert p.returncode == 3 and p.stdout == "", p.stdout
    assert p.stderr == f"roster: query: no registry answered: {server} {want}\n", p.stderr


def test_a_token_not_sent_for_a_broken_pipe_is_unreachable(tmp_path, reg):
    server = f"127.0.0.1:{reg.api_port}"
    p, struck = faulty(tmp_path, server, QUERY, "send", "EPIPE", nth=1,
                       env={"ROSTER_TOKEN": "a-token"})
    assert struck == 1, (p.stdout, p.stderr)
    assert p.returncode == 3, p.stdout
    assert p.stderr == f"roster: query: no registry answered: {server} (registry unreachable)\n"


@pytest.fixture
def silent():
    """A registry address that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"127.0.0.1:{s.getsockname()[1]}"
    s.close()


def test_a_wait_interrupted_still_ends_at_the_timeout(tmp_path, silent):
    t0 = time.monotonic()
    p, struck = faulty(tmp_path, silent, QUERY, "poll", "EINTR", nth=1, timeout_ms=800)
    took = time.monotonic() - t0
    assert struck == 1, (p.stdout, p.stderr)
    assert p.returncode == 3 and "timed out" in p.stderr, p.stderr
    assert took >= 0.8, took  # the interrupted wait went on


def test_a_failed_wait_is_named_at_once(tmp_path, silent):
    t0 = time.monotonic()
    p, struck = faulty(tmp_path, silent, QUERY, "poll", "EIO", timeout_ms=5000)
    assert struck >= 1, (p.stdout, p.stderr)
    assert p.returncode == 3, p.stderr
    assert p.stderr == f"roster: query: no registry answered: {silent} (Input/output error)\n"
    assert time.monotonic() - t0 < 4, "the wait failed: no reason to sit out the timeout"


@pytest.mark.parametrize("call", ["send", "recv"])
def test_a_call_that_would_block_forever_ends_at_the_timeout(tmp_path, reg, call):
    # every send() (recv()) says "try again" while poll() says ready: the
    # loop must still give up at the deadline
    server = f"127.0.0.1:{reg.api_port}"
    t0 = time.monotonic()
    p, _ = faulty(tmp_path, server, QUERY, call, "EAGAIN", timeout_ms=600,
                  env={"SYSFAULT_LOG": ""})
    took = time.monotonic() - t0
    assert p.returncode == 3 and "timed out" in p.stderr, p.stderr
    assert 0.6 <= took < 10, took
