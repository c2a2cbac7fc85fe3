"""What monitoring gets (SPEC: Packaging and operator conventions): the
process_* families, the --map-max gauge and the latency histograms on a live
/metrics; deploy/prometheus/roster.rules.yml valid for promtool and naming
only metrics that exist; the Grafana dashboard likewise; the metrics table
of docs/operations.md naming every family rosterd exposes; /proc read for
/metrics alone."""
import json
import os
import re
import subprocess
import time

import dns.message
import dns.query
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import SOURCE, ProcFaultRosterd, Rosterd, run

RULES = os.path.join(SOURCE, "deploy", "prometheus", "roster.rules.yml")
DASHBOARD = os.path.join(SOURCE, "deploy", "grafana", "roster-dashboard.json")


@pytest.fixture
def srv(tmp_path):
    with Rosterd(tmp_path, extra=["--map-max", "256M"]) as s:
        yield s


def families(srv):
    return {f.name: f for f in text_string_to_metric_families(srv.metrics())}


def value(fams, name, suffix="", **labels):
    for s in fams[name].samples:
        if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError(name + suffix)


def named_metrics(expr):
    """roster_* and process_* names in a PromQL expression, histogram
    series mapped to their family."""
    names = set(re.findall(r"\b((?:roster|process)_[a-z0-9_]+)", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if n.endswith(("_bucket", "_sum", "_count"))
            and "duration_seconds" in n else n for n in names}


def exposed(fams):
    """Family names as a query names them (counters keep their _total)."""
    out = set()
    for f in fams.values():  # announced families count even before a sample
        out.add(f.name + ("_total" if f.type == "counter" else ""))
        out.update(s.name for s in f.samples)
    return out


def test_process_families_from_proc(srv):
    fams = families(srv)
    assert fams["process_cpu_seconds"].type == "counter"
    pid = srv.proc.pid
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    open_fds = value(fams, "process_open_fds")
    assert 5 <= open_fds <= fds + 2, (open_fds, fds)  # a scrape connection may come and go
    limit = int(open(f"/proc/{pid}/limits").read().split("Max open files")[1].split()[0])
    assert value(fams, "process_max_fds") == limit
    rss = value(fams, "process_resident_memory_bytes")
    status = open(f"/proc/{pid}/status").read()
    vmrss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
    assert 0.5 * vmrss <= rss <= 2 * vmrss, (rss, vmrss)
    start = value(fams, "process_start_time_seconds")
    assert abs(start - (time.time() - value(fams, "roster_uptime_seconds"))) < 5
    assert value(fams, "process_cpu_seconds", "_total") >= 0


def test_map_max_is_exposed(srv):
    assert value(families(srv), "roster_store_map_max_bytes") == 256 * 1024 * 1024


def test_latency_histograms_count_answers_and_writes(srv):
    before = families(srv)
    dns_before = value(before, "roster_dns_answer_duration_seconds", "_count")
    ack_before = value(before, "roster_api_write_ack_duration_seconds", "_count")
    zone = f"services.{srv.site}.{srv.domain}."
    for _ in range(20):
        dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=srv.dns_port,
                      timeout=5)
    with srv.client() as c:
        for port in range(8000, 8005):
            r = c.register("web", "http", "web1.lon6.example.net", port)  # permanent
            assert r.error == 0, r.message
    after = families(srv)
    assert value(after, "roster_dns_answer_duration_seconds", "_count") - dns_before == 20
    assert value(after, "roster_api_write_ack_duration_seconds", "_count") - ack_before == 5
    for name in ("roster_dns_answer_duration_seconds", "roster_api_write_ack_duration_seconds"):
        f = after[name]
        assert f.type == "histogram"
        buckets = [s for s in f.samples if s.name == name + "_bucket"]
        counts = [s.value for s in buckets]
        assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
        assert buckets[-1].value == value(after, name, "_count")
        assert 0 < value(after, name, "_sum") < value(after, name, "_count")  # under 1 s each


def test_rules_pass_promtool_and_name_only_real_metrics(srv):
    r = run(["promtool", "check", "rules", RULES])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"SUCCESS: \d+ rules found", r.stdout)
    text = open(RULES).read()
    assert "<your" not in text
    exprs = re.findall(r"^\s+expr: (.+)$", text, re.M)
    assert len(exprs) >= 10
    live = exposed(families(srv))
    for e in exprs:
        missing = named_metrics(e) - live
        assert missing == set(), f"{e}: {missing} not on /metrics"


def test_metrics_pass_promtool_check_metrics(srv):
    """promtool's lint of the exposition: types, help, and units in base
    form (a backup's duration in _ms failed it)."""
    r = subprocess.run(["promtool", "check", "metrics"], input=srv.metrics(), text=True,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_names_only_real_metrics(srv):
    dash = json.load(open(DASHBOARD))
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    assert len(exprs) >= 15
    live = exposed(families(srv))
    named = set().union(*(named_metrics(e) for e in exprs))
    assert named - live == set(), named - live
    for fam in ("roster_dns_answer_duration_seconds", "roster_api_write_ack_duration_seconds",
                "process_resident_memory_bytes", "roster_instances"):
        assert fam in named, fam


def test_metrics_table_documents_every_family(srv):
    doc = open(os.path.join(SOURCE, "docs", "operations.md")).read()
    table = "\n".join(l for l in doc.splitlines() if l.startswith("| `"))
    fams = families(srv)
    missing = []
    for f in fams.values():
        name = f.name + ("_total" if f.type == "counter" and not f.name.endswith("_total")
                         else "")
        # A row may abbreviate a shared prefix: "`roster_client_reports_uncounted_total`,
        # `..._malformed_total`".
        short = "..._" + name.split("_")[-2] + "_total" if name.startswith(
            "roster_client_reports_") else None
        if f"`{name}" not in table and (short is None or f"`{short}`" not in table):
            missing.append(name)
    assert missing == [], f"docs/operations.md's metrics table lacks {missing}"


def test_only_the_metrics_page_reads_proc(tmp_path):
    """The process figures and the kernel's UDP drops cost a walk of /proc
    (one entry per open descriptor, one line per UDP socket on the host):
    /metrics reads them; the status page, the services list, /healthz and
    the API's Stats (roster stats, the doctor) do not. While the reads
    fail, /metrics still renders."""
    import urllib.request
    with ProcFaultRosterd(tmp_path) as srv:
        srv.proc_fails(True)
        base = f"http://127.0.0.1:{srv.http_port}"
        for path in ("/", "/v1/services", "/healthz"):
            with urllib.request.urlopen(base + path, timeout=5) as r:
                assert r.status == 200
        with srv.client() as c:
            assert c.stats().site == "lon6"
        assert srv.proc_reads() == ""
        fams = families(srv)
        reads = srv.proc_reads()
        for f in ("/proc/self/stat", "/proc/self/fd", "/proc/net/udp"):
            assert f in reads, (f, reads)
        assert value(fams, "roster_dns_udp_receive_drops", "_total") == 0
        srv.proc_fails(False)
        assert value(families(srv), "process_open_fds") > 0
