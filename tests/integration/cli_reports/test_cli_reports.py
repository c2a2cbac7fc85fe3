"""roster reports: the client error reports a registry counted per code
(--report-zone), read through Stats.client_reports (proto field 19).

Needs rosterd to fill StatsResponse.client_reports from its report
counters (server/api/ops.c op_stats); register as 'cli_reports' : 60 then."""
import json
import os
import sys

import dns.message
import dns.query
import dns.rcode

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402
from harness import Rosterd  # noqa: E402


def test_reports_counted_per_code(tmp_path):
    with Rosterd(tmp_path, extra=["--report-zone", "errors.example.net"]) as srv:
        env = {"ROSTER_SERVER": f"127.0.0.1:{srv.api_port}"}
        for nonce in ("n1", "n2", "n3"):
            code = "e42" if nonce != "n3" else "e7"
            q = dns.message.make_query(f"{code}.1-2-3.linux.{nonce}.errors.example.net", "A")
            r = dns.query.udp(q, "127.0.0.1", port=srv.dns_port, timeout=5)
            assert r.rcode() == dns.rcode.NXDOMAIN
        doc = json.loads(roster("--json", "reports", env=env).stdout)
        assert doc["reports"] == {"e42": 2, "e7": 1}
        r = roster("reports", env=env)
        assert r.returncode == 0
        assert r.stdout.splitlines()[0].startswith("reports: 3 client error reports, 2 codes")
        assert "code:e42  2" in r.stdout and "code:e7  1" in r.stdout
