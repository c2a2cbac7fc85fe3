#!/usr/bin/python3
"""bench/dns: rosterd's DNS against NSD, side by side (not a timed test).

One command:  ./bench/dns/bench.py [--build build] [--seconds 3] [--rounds 2]
(or `ninja -C build bench-dns`).

1. rosterd holds 200 services (195 with 3-10 endpoints, 5 with 75), registered
   through its API; NSD serves a zone file with the same SRV and A records,
   configured for speed: rate limiting off, minimal responses, reuseport,
   server-count 1 and 2 both tried (the better one is reported).
2. dnsperf (one thread, so the server has the other core) runs the SRV mix and
   the A mix against each, interleaved (rosterd, NSD, rosterd, NSD...), at
   full speed for QPS, then at a fixed rate (--rate) with per-query output for
   the latency percentiles. Queries carry EDNS (1232-octet answers, like the
   resolvers of 2020 on), so 75-endpoint SRV answers come back TC=1 from both.
3. CPU per query (the scheduler's runtime of every thread, split into user
   and system by /proc/PID/stat's ticks), then in a second run without perf's
   overhead in the CPU figure, system calls and context switches per query
   (perf stat: raw_syscalls:sys_enter, the network calls by name,
   context-switches) at fixed rates (--cost-rates), rosterd
   with 0 and 1 UDP workers (--dns-io as given, else the default: io_uring
   where the kernel allows) beside NSD in the same run; --cost-only prints
   just that table, for every rate given. Beside them, when it is built
   (liburing), the I/O floor: bench/dns/floor.c, rosterd's io_uring loop
   with no DNS work, answering with replies as long as rosterd's; what it
   spends a query is the kernel's part, which no answer engine removes.
   Ratios are given twice: of the medians, and round by round (each run
   against the NSD run beside it), the figure that drifts least.
4. The registration-to-answer latency: register an instance, then as soon as
   the acknowledgement arrives ask rosterd over UDP until the answer holds it;
   median and p99 over --samples registrations.

Only 127.0.0.1 is used. Prints one table; exits 0.
"""
import argparse
import os
import random
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))

ZONE = "services.lon6.example.net."


def services():
    """(name, [(host, port, addr, weight)]) for 200 services."""
    rnd = random.Random(4)
    out = []
    for i in range(200):
        n = 75 if i % 40 == 0 else rnd.randint(3, 10)
        eps = []
        for k in range(n):
            host = f"lon6-svc{i:03d}-a{k:03d}.lon6.example.net."
            eps.append((host, 8000 + k % 7, f"10.{i // 250}.{i % 250}.{k + 1}", 1 + k % 3))
        out.append((f"svc{i:03d}", eps))
    return out


def write_nsd(tmp, port, count, svcs):
    zone = [f"$ORIGIN {ZONE}", "$TTL 5",
            "@ SOA ns1.example.net. hostmaster.example.net. 1 60 30 604800 5",
            "@ NS ns1.example.net."]
    for name, eps in svcs:
        for host, p, addr, w in eps:
            zone.append(f"_{name}._tcp SRV 0 {w} {p} {host}")
        for addr in sorted({e[2] for e in eps}):
            zone.append(f"{name} A {addr}")
    with open(os.path.join(tmp, "services.zone"), "w") as f:
        f.write("\n".join(zone) + "\n")
    conf = os.path.join(tmp, f"nsd-{count}.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
    ip-address: 127.0.0.1@{port}
    server-count: {count}
    reuseport: yes
    username: ""
    chroot: ""
    zonesdir: "{tmp}"
    pidfile: "{tmp}/nsd.pid"
    database: ""
    zonelistfile: "{tmp}/zone.list"
    xfrdfile: "{tmp}/xfrd.state"
    xfrdir: "{tmp}"
    logfile: "{tmp}/nsd.log"
    verbosity: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    minimal-responses: yes
    refuse-any: yes
    hide-version: yes
remote-control:
    control-enable: no
zone:
    name: "{ZONE}"
    zonefile: "services.zone"
""")
    return conf


def wait_udp(port, timeout=10.0):
    q = struct.pack(">HHHHHH", 1, 0, 1, 0, 0, 0)
    for label in ZONE.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0\0\x06\0\x01"
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    while time.monotonic() < deadline:
        s.sendto(q, ("127.0.0.1", port))
        try:
            s.recv(4096)
            s.close()
            return
        except socket.timeout:
            pass
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port}")


def dnsperf(port, qfile, seconds, rate=None):
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(seconds),
           "-e", "-T", "1", "-c", "8", "-q", "500"]
    if rate:
        cmd += ["-Q", str(rate), "-v"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", r.stdout).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", r.stdout).group(1))
    lat = []
    if rate:
        # "> NOERROR _svc001._tcp.services... SRV 0.000123"
        for line in r.stdout.splitlines():
            if line.startswith(">"):
                try:
                    lat.append(float(line.rsplit(None, 1)[1]))
                except ValueError:
                    pass
    return qps, lost, lat


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def dnsperf_warm(port, qfile):
    """Each query of the file once: rosterd builds its prepared answers on the
    first query for a name, which is not the per-query cost being measured."""
    subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-n", "1"],
                   capture_output=True, timeout=60)


def dnsperf_fixed(port, qfile, seconds, rate):
    """dnsperf at a fixed rate; the number of queries answered."""
    r = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l",
                        str(seconds), "-e", "-c", "8", "-Q", str(rate)],
                       capture_output=True, text=True, timeout=seconds + 60)
    return int(re.search(r"Queries completed:\s+(\d+)", r.stdout).group(1))


def mean_reply(port, qfile):
    """The mean length of the server's UDP answers to @qfile's queries, asked
    with EDNS as dnsperf -e asks (bench/dns/floor's reply length)."""
    sizes = []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    with open(qfile) as f:
        for i, line in enumerate(f):
            name, qtype = line.split()
            q = struct.pack(">HHHHHH", i, 0, 1, 0, 0, 1)
            for label in name.rstrip(".").split("."):
                q += bytes([len(label)]) + label.encode()
            q += b"\0" + struct.pack(">HH", {"SRV": 33, "A": 1}[qtype], 1)
            q += b"\0" + struct.pack(">HHIH", 41, 4096, 0, 0)
            s.sendto(q, ("127.0.0.1", port))
            sizes.append(len(s.recv(65535)))
    s.close()
    return round(statistics.mean(sizes))


SYSCALLS = ("recvmmsg", "sendmmsg", "recvfrom", "sendto", "recvmsg", "sendmsg", "epoll_wait",
            "epoll_pwait", "io_uring_enter", "poll", "futex")


def proc_pids(pid):
    """@pid and its descendants (NSD's main process becomes xfrd; the
    servers are its grandchildren)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out = [pid]
    for p in out:
        out += [c for c, pp in parent.items() if pp == p and c not in out]
    return out


def proc_cpu(pids):
    """(user, system) seconds used so far by @pids (every thread)."""
    tick = os.sysconf("SC_CLK_TCK")
    u = s = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        u, s = u + int(fields[11]), s + int(fields[12])
    return u / tick, s / tick


def proc_runtime(pids):
    """CPU seconds used so far by @pids, every thread: the scheduler's own
    sum (se.sum_exec_runtime, nanoseconds), where /proc/PID/stat counts in
    ticks of 10 ms."""
    total = 0.0
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/sched") as f:
                    for line in f:
                        if line.startswith("se.sum_exec_runtime"):
                            total += float(line.split(":")[1]) / 1e3
                            break
            except OSError:
                pass  # a thread that ended
    return total


def server_cost(pid, port, qfile, seconds, rate, counts=True):
    """What one fixed-rate dnsperf run costs the server @pid (and its
    children): a dict of per-query figures: CPU (us, the scheduler's sum
    when the kernel keeps it, else /proc/PID/stat's ticks), split into user
    and system in the proportion of /proc/PID/stat's ticks; then, in a
    second run of the same length, system calls (perf's
    raw_syscalls:sys_enter, and the network ones by name) and context
    switches (perf's software event). Two runs, because the tracepoints
    perf enables cost every system call a few hundred nanoseconds: attached
    during the CPU run they charged NSD, with six times our calls, 2.2 us
    a query and rosterd 1.3. Counts, unlike times, do not move with the
    machine's load. Without @counts, the CPU run alone."""
    dnsperf_warm(port, qfile)
    pids = proc_pids(pid)
    run0, cpu0 = proc_runtime(pids), proc_cpu(pids)
    done = dnsperf_fixed(port, qfile, seconds, rate)
    run1, cpu1 = proc_runtime(pids), proc_cpu(pids)
    n = max(done, 1)
    ticks_u, ticks_s = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    total = run1 - run0 if run1 > run0 else ticks_u + ticks_s
    share_u = ticks_u / (ticks_u + ticks_s) if ticks_u + ticks_s > 0 else 0.0
    r = {"queries": done, "user_us": total * share_u * 1e6 / n,
         "sys_us": total * (1 - share_u) * 1e6 / n, "syscalls": 0.0, "cswitch": 0.0,
         "by_call": {}}
    if not counts or not shutil.which("perf"):
        return r
    events = ["raw_syscalls:sys_enter", "context-switches"] + [
        f"syscalls:sys_enter_{n}" for n in SYSCALLS]
    out = tempfile.NamedTemporaryFile(prefix="perf-", suffix=".txt", delete=False).name
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", out, "-e", ",".join(events),
                             "-p", ",".join(map(str, pids))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # perf attaches before the run starts
    done = max(dnsperf_fixed(port, qfile, seconds, rate), 1)
    perf.send_signal(2)
    perf.wait(timeout=30)
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0].isdigit():
                counts[parts[2]] = int(parts[0])
    os.unlink(out)
    r["syscalls"] = counts.get("raw_syscalls:sys_enter", 0) / done
    r["cswitch"] = counts.get("context-switches", 0) / done
    r["by_call"] = {c: counts.get(f"syscalls:sys_enter_{c}", 0) / done for c in SYSCALLS
                    if counts.get(f"syscalls:sys_enter_{c}", 0)}
    return r


def cost_line(who, rate, r):
    calls = " ".join(f"{c} {v:.2f}" for c, v in sorted(r["by_call"].items()))
    return (f"{who:<26}{rate:>7}{r['user_us']:>8.2f}{r['sys_us']:>8.2f}"
            f"{r['user_us'] + r['sys_us']:>8.2f}{r['syscalls']:>9.2f}{r['cswitch']:>8.2f}  {calls}")


def callgrind_sum(outdir, names=None):
    """The sum of the instruction totals of the callgrind files in @outdir."""
    total = 0
    for f in names if names is not None else os.listdir(outdir):
        with open(os.path.join(outdir, f)) as fh:
            for line in fh:
                if line.startswith("summary:"):
                    total += int(line.split()[1])
                    break
    return total


def callgrind_ipq(pid, port, qfile, seconds, rate, outdir):
    """Userland instructions per query of process @pid under callgrind (every
    thread): counters zeroed, dnsperf at a fixed rate, counters dumped;
    (instructions / answered queries, queries)."""
    dnsperf_warm(port, qfile)
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    before = set(os.listdir(outdir))
    done = dnsperf_fixed(port, qfile, seconds, rate)
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    return callgrind_sum(outdir, set(os.listdir(outdir)) - before) / max(done, 1), done


def valgrind_cmd(outdir, name):
    return ["valgrind", "--tool=callgrind", "--quiet",
            f"--callgrind-out-file={outdir}/{name}.%p"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SOURCE, "build"))
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rate", type=int, default=20000, help="qps of the latency runs")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--callgrind-seconds", type=int, default=5,
                    help="length of the instructions-per-query runs under callgrind (0: skip)")
    ap.add_argument("--callgrind-rate", type=int, default=2000,
                    help="qps of the instructions-per-query runs")
    ap.add_argument("--callgrind-only", action="store_true",
                    help="only the instructions-per-query line (no wall-clock runs)")
    ap.add_argument("--dns-threads", type=int, action="append",
                    help="rosterd --dns-threads values to try (default: 0, 1 and 2; the best "
                         "on the SRV mix is used, as NSD's server-count is tuned)")
    ap.add_argument("--dns-io", action="append",
                    help="rosterd --dns-io values for the cost table (default: the default only)")
    ap.add_argument("--cost-rates", default="30000,60000",
                    help="fixed rates (qps) of the CPU and system calls per query table")
    ap.add_argument("--cost-seconds", type=int, default=4)
    ap.add_argument("--cost-rounds", type=int, default=3,
                    help="CPU runs per server and rate, interleaved; the median is shown")
    ap.add_argument("--cost-only", action="store_true",
                    help="only the CPU and system calls per query table")
    args = ap.parse_args()
    os.environ["ROSTER_BUILD_DIR"] = os.path.abspath(args.build)
    os.environ["ROSTER_SOURCE_DIR"] = SOURCE
    from harness import Rosterd, free_port, pb

    for tool in ("dnsperf", "nsd"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"bench/dns: {tool} is not installed (apt-get install {tool})")
    tmp = tempfile.mkdtemp(prefix="roster-bench-dns-")
    svcs = services()
    started = []
    started_procs = []
    try:
        def rosterd_start(threads, wrap=(), io=None):
            class Wrapped(Rosterd):
                def args(self):
                    return list(wrap) + super().args()

            extra = ["--log-level", "notice", "--dns-threads", str(threads)]
            if io:
                extra += ["--dns-io", io]
            rd = Wrapped(os.path.join(tmp, f"rosterd-{threads}{'-cg' if wrap else ''}-{io}"),
                         extra=extra)
            os.makedirs(rd.tmpdir, exist_ok=True)
            rd.start()
            started.append(rd)
            with rd.client() as c:
                ids = []
                for name, eps in svcs:
                    for host, p, addr, w in eps:
                        inst = pb().Instance(service=name, protocol="tcp", host=host, port=p,
                                             addresses=[addr], weight=w)
                        ids.append(c.send(register=pb().RegisterRequest(instance=inst)))
                for rid in ids:
                    assert c.wait(rid).error == 0
            return rd

        nsd_port = free_port(both=True)
        nsd_confs = {n: write_nsd(tmp, nsd_port, n, svcs) for n in (1, 2)}

        qfiles = {}
        for mix, fmt in (("SRV", "_{}._tcp.{} SRV"), ("A", "{}.{} A")):
            path = os.path.join(tmp, f"queries-{mix}.txt")
            with open(path, "w") as f:
                for name, _ in svcs:
                    f.write(fmt.format(name, ZONE) + "\n")
            qfiles[mix] = path

        def nsd_start(count, wrap=()):
            p = subprocess.Popen(list(wrap) + ["nsd", "-d", "-c", nsd_confs[count]],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_udp(nsd_port, timeout=60 if wrap else 10)
            return p

        def callgrind_line(threads_list):
            """Instructions per query under callgrind: a figure that does not
            drift with the machine's load, unlike the QPS above."""
            if args.callgrind_seconds <= 0 or shutil.which("valgrind") is None:
                return []
            cg = os.path.join(tmp, "callgrind")
            os.makedirs(cg, exist_ok=True)
            lines = []
            for mix in ("SRV", "A"):
                # callgrind_control does not reach NSD's forked children, so
                # NSD is measured by difference: every process's total at exit,
                # after a run with the queries minus one that sits idle as long.
                totals = []
                for rate in (0, args.callgrind_rate):
                    d = os.path.join(cg, f"nsd-{mix}-{rate}")
                    os.makedirs(d)
                    p = nsd_start(1, valgrind_cmd(d, "nsd"))
                    dnsperf_warm(nsd_port, qfiles[mix])  # as rosterd's, in both runs
                    nsd_n = 0
                    if rate:
                        nsd_n = dnsperf_fixed(nsd_port, qfiles[mix], args.callgrind_seconds, rate)
                    else:
                        time.sleep(args.callgrind_seconds)
                    p.terminate()
                    p.wait(timeout=60)
                    # Its main, xfrd and server processes each write a total as they exit.
                    deadline = time.monotonic() + 30
                    while len(os.listdir(d)) < 3 and time.monotonic() < deadline:
                        time.sleep(0.2)
                    time.sleep(0.5)
                    totals.append(callgrind_sum(d))
                nsd_ipq = (totals[1] - totals[0]) / max(nsd_n, 1)
                for threads in threads_list:
                    # Valgrind does not follow io_uring (the kernel writes the
                    # rings behind its back, and the worker never wakes): the
                    # workers, if any, read and send with recvmmsg/sendmmsg
                    # here; the answer engine is the same on both paths.
                    rd = rosterd_start(threads, valgrind_cmd(cg, "rosterd"),
                                       io="mmsg" if threads else None)
                    rd_ipq, rd_n = callgrind_ipq(rd.proc.pid, rd.dns_port, qfiles[mix],
                                                 args.callgrind_seconds, args.callgrind_rate, cg)
                    rd.stop(timeout=60)
                    lines.append(f"{mix:<5}instructions/query (callgrind, {args.callgrind_rate} qps "
                                 f"x {args.callgrind_seconds} s): rosterd (--dns-threads {threads}"
                                 f"{', mmsg' if threads else ''}) "
                                 f"{rd_ipq:.0f} ({rd_n} q) | nsd (server-count 1) {nsd_ipq:.0f} "
                                 f"({nsd_n} q) | ratio {rd_ipq / nsd_ipq:.2f}x")
            return lines

        def cost_table(threads_list, nsd_counts):
            """CPU, system calls and context switches per query at fixed
            rates, SRV mix, every rosterd variant and NSD in the same run,
            interleaved rate by rate."""
            rates = [int(r) for r in args.cost_rates.split(",") if r]
            rows = []
            variants = [(t, io) for t in threads_list for io in (args.dns_io or [None])]
            rds = {v: rosterd_start(v[0], io=v[1]) for v in variants}
            # The I/O floor: rosterd's io_uring loop with no DNS work, its
            # replies as long as rosterd's on average (bench/dns/floor.c).
            floor_exe = os.path.join(args.build, "bench", "floor")
            floor = None
            if os.path.exists(floor_exe):
                size = mean_reply(next(iter(rds.values())).dns_port, qfiles["SRV"])
                floor_port = free_port(socket.SOCK_DGRAM)
                floor = subprocess.Popen([floor_exe, "-p", str(floor_port), "-s", str(size)])
                started_procs.append(floor)
                wait_udp(floor_port)
            for rate in rates:
                # Rounds interleaved (every server once, then again): the
                # median CPU of each, the counts of its first round.
                got = {}
                for rnd in range(args.cost_rounds):
                    for (t, io), rd in rds.items():
                        who = f"rosterd -t{t}" + (f" {io}" if io else "")
                        got.setdefault(who, []).append(server_cost(
                            rd.proc.pid, rd.dns_port, qfiles["SRV"], args.cost_seconds, rate,
                            counts=rnd == 0))
                    if floor is not None:
                        got.setdefault("floor (I/O only)", []).append(server_cost(
                            floor.pid, floor_port, qfiles["SRV"], args.cost_seconds, rate,
                            counts=rnd == 0))
                    for count in nsd_counts:
                        p = nsd_start(count)
                        got.setdefault(f"nsd server-count {count}", []).append(server_cost(
                            p.pid, nsd_port, qfiles["SRV"], args.cost_seconds, rate,
                            counts=rnd == 0))
                        p.terminate()
                        p.wait(timeout=10)
                cpu = {}
                for who, runs in got.items():
                    mid = sorted(runs, key=lambda r: r["user_us"] + r["sys_us"])[len(runs) // 2]
                    r = dict(runs[0], user_us=mid["user_us"], sys_us=mid["sys_us"])
                    cpu[who] = r["user_us"] + r["sys_us"]
                    rows.append(cost_line(who, rate, r) + "  rounds " + " ".join(
                        f"{x['user_us'] + x['sys_us']:.2f}" for x in runs))
                nsd_best = min(v for k, v in cpu.items() if k.startswith("nsd"))
                ours = [k for k in cpu if not k.startswith("nsd")]
                rows.append(f"{'':<26}{rate:>7}  CPU per query against NSD's better: " + ", ".join(
                    f"{k} {cpu[k] / nsd_best:.2f}x" for k in ours))
                # The same, round by round: each server against the NSD run
                # beside it, so that a drift of the machine's speed over the
                # run (NSD's rounds above span 10-20 %) cancels out.
                def us(k, i):
                    return got[k][i]["user_us"] + got[k][i]["sys_us"]

                def paired(k):
                    r = sorted(us(k, i) / min(us(n, i) for n in got if n.startswith("nsd"))
                               for i in range(args.cost_rounds))
                    return f"{k} {r[len(r) // 2]:.2f}x ({r[0]:.2f}-{r[-1]:.2f})"
                rows.append(f"{'':<26}{rate:>7}  round by round, median (range): " +
                            ", ".join(paired(k) for k in ours))
            for rd in rds.values():
                rd.stop()
            if floor is not None:
                floor.terminate()
                floor.wait(timeout=10)
            head = (f"{'server':<26}{'qps':>7}{'user':>8}{'sys':>8}{'cpu':>8}{'calls':>9}"
                    f"{'cswch':>8}  (per query: CPU us, its user/sys split rough (the kernel's 4 ms "
                    f"ticks), system calls, context switches; SRV mix, "
                    f"{args.cost_seconds} s per rate, median of {args.cost_rounds} rounds)")
            return [head] + rows

        if args.cost_only:
            print("\n".join(cost_table(args.dns_threads or [0, 1], [1, 2])))
            return

        if args.callgrind_only:
            print("\n".join(callgrind_line(args.dns_threads or [1])))
            return

        def nsd_stop(p):
            p.terminate()
            p.wait(timeout=10)

        # NSD's best server count and rosterd's best thread count here.
        best = (0, 1)
        for count in (1, 2):
            p = nsd_start(count)
            qps, _, _ = dnsperf(nsd_port, qfiles["SRV"], args.seconds)
            nsd_stop(p)
            best = max(best, (qps, count))
        nsd_count = best[1]
        best, rd = (0, 0), None
        for threads in args.dns_threads or [0, 1, 2]:
            cand = rosterd_start(threads)
            qps, _, _ = dnsperf(cand.dns_port, qfiles["SRV"], args.seconds)
            if rd is None or qps > best[0]:
                if rd is not None:
                    rd.stop()
                rd, best = cand, (qps, threads)
            else:
                cand.stop()
        rd_threads = best[1]

        results = {}
        for mix in ("SRV", "A"):
            r = {"rosterd": [], "nsd": []}
            lat = {"rosterd": [], "nsd": []}
            for _ in range(args.rounds):
                r["rosterd"].append(dnsperf(rd.dns_port, qfiles[mix], args.seconds)[0])
                p = nsd_start(nsd_count)
                r["nsd"].append(dnsperf(nsd_port, qfiles[mix], args.seconds)[0])
                lat["nsd"] += dnsperf(nsd_port, qfiles[mix], args.seconds, args.rate)[2]
                nsd_stop(p)
                lat["rosterd"] += dnsperf(rd.dns_port, qfiles[mix], args.seconds, args.rate)[2]
            results[mix] = (r, lat)

        # Registration to first answer.
        reg_lat = []
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(1)
        with rd.client() as c:
            for i in range(args.samples):
                name = f"probe{i}"
                q = struct.pack(">HHHHHH", i & 0xFFFF, 0, 1, 0, 0, 0)
                for label in (name + "." + ZONE).rstrip(".").split("."):
                    q += bytes([len(label)]) + label.encode()
                q += b"\0\0\x01\0\x01"
                r = c.request(register=pb().RegisterRequest(instance=pb().Instance(
                    service=name, protocol="tcp", host=f"p{i}.lon6.example.net", port=1,
                    addresses=["10.200.0.1"])))
                t0 = time.perf_counter()
                assert r.error == 0
                while True:
                    s.sendto(q, ("127.0.0.1", rd.dns_port))
                    resp = s.recv(4096)
                    if struct.unpack(">H", resp[6:8])[0] > 0:
                        break
                reg_lat.append(time.perf_counter() - t0)
        s.close()
        rc = rd.stop()
        assert rc == 0, f"rosterd exited {rc}"

        print(f"\nrosterd (--dns-threads {rd_threads}) vs NSD {subprocess.run(['nsd', '-v'], capture_output=True, text=True).stderr.splitlines()[0].split()[-1]}"
              f" (server-count {nsd_count}, rrl off, minimal-responses), 200 services, "
              f"dnsperf -T 1 -c 8 -q 500 -e, {args.seconds} s x {args.rounds} rounds, "
              f"latency at {args.rate} qps")
        print(f"{'mix':<5}{'server':<9}{'QPS (best)':>12}{'p50 ms':>9}{'p99 ms':>9}")
        for mix, (r, lat) in results.items():
            for who in ("rosterd", "nsd"):
                print(f"{mix:<5}{who:<9}{max(r[who]):>12.0f}{pct(lat[who], .5) * 1e3:>9.3f}"
                      f"{pct(lat[who], .99) * 1e3:>9.3f}")
            ratio = max(r["rosterd"]) / max(r["nsd"])
            print(f"{mix:<5}{'ratio':<9}{ratio:>11.2f}x"
                  f"{'':>9}{pct(lat['rosterd'], .99) / pct(lat['nsd'], .99):>8.2f}x")
        for line in cost_table(sorted({0, 1, rd_threads}), [1, 2]):
            print(line)
        for line in callgrind_line([rd_threads]):
            print(line)
        print(f"registration ack -> first DNS answer ({len(reg_lat)} samples): "
              f"median {statistics.median(reg_lat) * 1e3:.3f} ms, "
              f"p99 {pct(reg_lat, .99) * 1e3:.3f} ms")
    finally:
        for r in started:
            if r.proc is not None:
                r.proc.kill()
                r.stop()
        for p in started_procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
