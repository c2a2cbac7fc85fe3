"""bench/multi: two registries of one site, N leased libroster clients;
kill -9 one registry, restart it empty, time until it holds all N again
(see run.sh)."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def held(reg, pb):
    """How many probe/tcp instances the registry holds (every status)."""
    with reg.client() as c:
        r = c.request(query=pb().QueryRequest(service="probe", protocol="tcp",
                                              include_down=True))
    return len(r.query.instances) if r.error == 0 else -1


def wait_for(pred, timeout, what, interval=0.01):
    """Poll pred() until true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)  # the poll interval


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--ttl", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--down", type=float, default=0.0)
    a = ap.parse_args()
    os.environ["ROSTER_BUILD_DIR"] = a.build
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from harness import Rosterd, pb
    n = a.clients
    tmp = tempfile.mkdtemp(prefix="roster-bench-multi-")
    regs, probe = [], None
    try:
        for name in ("a", "b"):
            os.mkdir(os.path.join(tmp, name))
            regs.append(Rosterd(os.path.join(tmp, name), extra=[
                "--max-connections-per-source", str(n + 100), "--log-level", "info"]).start())
        sites = os.path.join(tmp, "sites.conf")
        with open(sites, "w") as f:
            f.writelines(f"lon6 127.0.0.1:{r.api_port}\n" for r in regs)
        # The clients' loop runs for --seconds (a day: the whole bench),
        # then waits for a line on stdin; killed at the end.
        probe = subprocess.Popen(
            [os.path.join(a.build, "client/examples/roster-probe"), "many", "--site", "lon6",
             "--clients", str(n), "--ttl", str(a.ttl), "--seconds", "86400"],
            env=dict(os.environ, ROSTER_SITES=sites), stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL)
        t = time.monotonic()
        wait_for(lambda: all(held(r, pb) == n for r in regs), 60, f"{n} instances at both")
        print(f"bench/multi: {n} leased clients (lease TTL {a.ttl} s, reconnect backoff at "
              f"most {a.ttl / 3:.1f} s while a lease is at stake) on two registries; "
              f"both held all {n} {time.monotonic() - t:.2f} s after the clients started; "
              f"down {a.down:g} s before each restart; "
              f"this machine ({os.cpu_count()} CPUs)")
        print(f"{'round':>5} {'registry':>9} {'kill->all back':>15} {'restart->all back':>18} "
              f"{'restart->serving':>17}")
        from_kill, from_start = [], []
        for k in range(a.rounds):
            reg = regs[(k + 1) % 2]
            other = regs[k % 2]
            ports = (reg.api_port, reg.dns_port, reg.http_port)
            t_kill = time.monotonic()
            reg.kill9()
            shutil.rmtree(reg.data)
            time.sleep(a.down)  # --down: the registry stays down this long
            t_start = time.monotonic()
            reg.start()
            t_ready = time.monotonic()
            if (reg.api_port, reg.dns_port, reg.http_port) != ports:
                raise RuntimeError("the registry restarted on other ports")
            try:
                t_all = wait_for(lambda: held(reg, pb) == n, 10 * a.ttl, f"{n} back")
            except RuntimeError:
                print(f"round {k + 1}: the restarted registry holds {held(reg, pb)} of {n}; "
                      f"its log:\n{reg.logs()[-3000:]}", file=sys.stderr)
                raise
            if held(other, pb) != n:
                raise RuntimeError("the other registry lost instances meanwhile")
            from_kill.append(t_all - t_kill)
            from_start.append(t_all - t_start)
            print(f"{k + 1:5} {'ab'[(k + 1) % 2]:>9} {t_all - t_kill:14.2f}s "
                  f"{t_all - t_start:17.2f}s {t_ready - t_start:16.2f}s", flush=True)
        print(f"kill -9 to all {n} back at the restarted registry: median "
              f"{statistics.median(from_kill):.2f} s, max {max(from_kill):.2f} s "
              f"(from its restart: median {statistics.median(from_start):.2f} s, "
              f"max {max(from_start):.2f} s) over {a.rounds} rounds")
    finally:
        if probe is not None:
            probe.kill()
            probe.wait()
        for r in regs:
            r.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
