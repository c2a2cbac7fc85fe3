"""deploy/quickstart.sh from a fresh clone: it runs to the end, leaves a
rosterd that `dig` and `roster query` reach, a second run reuses it without
breaking it, and the stop command it prints, run as printed, stops it. Ports
and the data dir are overridden through the script's environment (free ports,
so a real quickstart on 8053/7600/7680 is untouched)."""
import json
import os
import re
import signal
import subprocess
import time

from harness import SOURCE, free_port, run


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


HINT = re.compile(r"^  stop it with  (.+?)      \(or: kill (\d+)\)$", re.M)


def stop_hint(out, pid):
    m = HINT.search(out)
    assert m and int(m.group(2)) == pid, out[-3000:]
    return m.group(1)


def run_as_printed(cmd, cwd):
    """A user's shell: none of the quickstart's overrides, except what @cmd says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROSTER_")}
    return subprocess.run(["bash", "-c", cmd], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_quickstart_from_a_fresh_clone_twice_then_stop(tmp_path):
    clone = tmp_path / "roster"
    r = run(["git", "clone", "-q", SOURCE, str(clone)])
    assert r.returncode == 0, r.stderr
    env = dict(os.environ)
    for k in ("ROSTER_BUILD_DIR", "ROSTER_SOURCE_DIR", "ROSTER_SERVER", "ROSTER_SITES"):
        env.pop(k, None)
    dns, api, http = free_port(both=True), free_port(), free_port()
    data = tmp_path / "quick data"  # a space: the printed hint must quote it
    env.update(ROSTER_DNS_PORT=str(dns), ROSTER_API_PORT=str(api), ROSTER_HTTP_PORT=str(http),
               ROSTER_DATA=str(data))
    script = str(clone / "deploy" / "quickstart.sh")
    pidfile = data / "rosterd.pid"
    pid = None
    try:
        first = run([script], env=env, cwd=str(tmp_path), timeout=1500)
        out = first.stdout + first.stderr
        assert first.returncode == 0, out[-5000:]
        pid = int(pidfile.read_text())
        assert pid_alive(pid)
        assert re.search(r"registered lon6-metadataproxy-a1\.lon6\.example\.net\.?:1234 as "
                         r"_metadata\._hm\.services\.lon6\.example\.net\.? revision \d+", out), out
        assert "query: service:metadata, protocol:hm (3 endpoints)" in out, out
        assert re.search(r"_metadata\._hm\.services\.lon6\.example\.net\.\s+\d+\s+IN\s+SRV\s+"
                         r"\d+ \d+ 1234 lon6-metadataproxy-a\d\.lon6\.example\.net\.", out), out
        assert "10.0.1.1" in out and "mode=normal" in out, out
        assert f"http://127.0.0.1:{http}/" in out
        hint_elsewhere = stop_hint(out, pid)  # run from outside the clone
        assert hint_elsewhere.startswith("ROSTER_DATA="), hint_elsewhere

        # A second run: same rosterd, still serving, same data.
        second = run([script], env=env, cwd=str(clone), timeout=600)
        out2 = second.stdout + second.stderr
        assert second.returncode == 0, out2[-5000:]
        assert f"already running (pid {pid})" in out2, out2
        assert int(pidfile.read_text()) == pid and pid_alive(pid)
        hint_in_clone = stop_hint(out2, pid)
        assert hint_in_clone.startswith("ROSTER_DATA=") and \
            hint_in_clone.endswith(" ./deploy/quickstart.sh stop"), hint_in_clone

        # What it left reaches dig and roster query.
        d = run(["dig", "@127.0.0.1", "-p", str(dns), "+short",
                 "_web._http.services.lon6.example.net", "SRV"])
        assert d.stdout.count(" 8080 ") == 2, d.stdout
        q = run([str(clone / "build/client/roster"), "--server", f"127.0.0.1:{api}", "query",
                 "--service", "web", "--protocol", "http"])
        assert q.returncode == 0 and "(2 endpoints)" in q.stdout, q.stdout + q.stderr

        # The hint, run as printed where the quickstart ran, stops it.
        stop = run_as_printed(hint_in_clone, cwd=str(clone))
        assert stop.returncode == 0 and f"(pid {pid}) stopped" in stop.stdout, \
            stop.stdout + stop.stderr
        assert not pid_alive(pid) and not pidfile.exists()
        log = (data / "rosterd.log").read_text()
        assert "stopped cleanly" in log, log[-3000:]
        pid = None

        # Started again from elsewhere: that hint works from there.
        third = run([script], env=env, cwd=str(tmp_path), timeout=600)
        assert third.returncode == 0, (third.stdout + third.stderr)[-5000:]
        pid = int(pidfile.read_text())
        hint = stop_hint(third.stdout, pid)
        assert hint == hint_elsewhere
        stop = run_as_printed(hint, cwd=str(tmp_path))
        assert stop.returncode == 0 and f"(pid {pid}) stopped" in stop.stdout, \
            stop.stdout + stop.stderr
        assert not pid_alive(pid)
        pid = None

        # A plain `quickstart.sh stop`, without ROSTER_DATA, finds the last run's.
        fourth = run([script], env=env, cwd=str(tmp_path), timeout=600)
        assert fourth.returncode == 0, (fourth.stdout + fourth.stderr)[-5000:]
        pid = int(pidfile.read_text())
        stop = run_as_printed(f"{script} stop", cwd=str(tmp_path))
        assert stop.returncode == 0 and f"(pid {pid}) stopped" in stop.stdout, \
            stop.stdout + stop.stderr
        assert not pid_alive(pid)
        pid = None
    finally:
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
