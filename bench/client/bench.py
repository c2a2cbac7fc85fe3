"""bench/client: the client's own cost, Python beside libroster, against one
real rosterd on loopback (see run.sh)."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def run_held(cmd, env, ready):
    """Start @p cmd, read its stdout until ready(line) is true, take its
    RSS, then release it (a line on stdin) and wait. (result, rss KiB)."""
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        state = {}
        for line in p.stdout:
            if ready(line.strip(), state):
                break
        else:
            raise RuntimeError(f"{cmd[0]} ended early (exit {p.wait()})")
        rss = rss_kib(p.pid)
        p.stdin.write("\n")
        p.stdin.flush()
        p.stdin.close()
        if "roster-probe" in cmd[0] and cmd[1] == "hold":
            p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        return state.get("result"), rss
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def json_line(line, state):
    if line.startswith("{") and '"event"' not in line:
        state["result"] = json.loads(line)
        return True
    return False


def registered_n(n):
    def ready(line, state):
        if line.startswith("{"):
            d = json.loads(line)
            if d.get("event") == "registered":
                state["n"] = state.get("n", 0) + 1
            elif "event" not in d:  # pymany's one line
                state["result"] = d
                return True
        if state.get("n", 0) >= n:
            state["result"] = {"registered": state["n"]}
            return True
        return False
    return ready


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--ttl", type=int, default=3)
    a = ap.parse_args()
    os.environ["ROSTER_BUILD_DIR"] = a.build
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from harness import Rosterd
    tmp = tempfile.mkdtemp(prefix="roster-bench-client-")
    probe = os.path.join(a.build, "client", "examples", "roster-probe")
    env = dict(os.environ, PYTHONPATH=os.path.join(a.build, "clients", "python"))
    srv = Rosterd(tmp, extra=["--max-connections-per-source", str(a.clients + 100)]).start()
    server = f"127.0.0.1:{srv.api_port}"
    common = ["--server", server, "--ttl", str(a.ttl)]
    py = ["/usr/bin/python3", os.path.join(HERE, "pymany.py")]
    n = a.clients
    try:
        res = {}
        for name, base in (("libroster", [probe]), ("python", py)):
            many = base + ["many"] + common + ["--seconds", str(a.seconds), "--service",
                                                "bench", "--protocol", "tcp",
                                                "--host-prefix", f"{name}-"]
            if name == "python":
                many = base + ["many"] + common + ["--seconds", str(a.seconds)]
            one, rss1 = run_held(many + ["--clients", "1"], env, json_line)
            full, rssn = run_held(many + ["--clients", str(n)], env, json_line)
            hold = base + ["hold"] + common + ["--endpoints", str(n)]
            if name == "libroster":
                hold += ["--service", "bench", "--protocol", "tcp", "--host-prefix", "lr-"]
            _, hold_rss = run_held(hold, env, registered_n(n))
            hold1 = base + ["hold"] + common + ["--endpoints", "1"]
            if name == "libroster":
                hold1 += ["--service", "bench", "--protocol", "tcp", "--host-prefix", "lr1-"]
            _, hold1_rss = run_held(hold1, env, registered_n(1))
            res[name] = {
                "cpu_us_per_heartbeat": full["cpu_us_per_heartbeat"],
                "heartbeats": full["heartbeats"],
                "disconnects": full["disconnects"],
                "rss_kib_per_client": (rssn - rss1) / (n - 1),
                "rss_kib_per_endpoint": (hold_rss - hold1_rss) / (n - 1),
                "rss_kib_base": rss1,
            }
        c, p = res["libroster"], res["python"]
        print(f"bench/client: {n} endpoints, TTL {a.ttl} s, {a.seconds} s window, "
              f"one rosterd on loopback, this machine ({os.cpu_count()} CPUs)")
        print(f"{'':44} {'libroster':>12} {'python':>12} {'python/C':>9}")
        rows = [("client CPU per heartbeat (us), N clients", "cpu_us_per_heartbeat", 1),
                ("memory per client+lease+endpoint (KiB)", "rss_kib_per_client", 1),
                ("memory per endpoint, one lease (KiB)", "rss_kib_per_endpoint", 1),
                ("RSS with one client (KiB)", "rss_kib_base", 1)]
        for label, key, _ in rows:
            ratio = p[key] / c[key] if c[key] else float("nan")
            print(f"{label:44} {c[key]:12.1f} {p[key]:12.1f} {ratio:9.1f}")
        print(f"heartbeats in the window: libroster {c['heartbeats']}, python "
              f"{p['heartbeats']}; disconnects {c['disconnects']} / {p['disconnects']}")
        print(json.dumps(res))
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
