"""rosterd's log lines for collectors (SPEC: Packaging and operator
conventions): under journald (JOURNAL_STREAM names stderr) each line starts
with its syslog priority and carries no timestamp of its own;
--log-format json writes one JSON object per line."""
import json
import os
import re
import signal
import socket

from harness import Rosterd, wait_until

PRIORITY = {"error": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}


class JournalRosterd(Rosterd):
    """stderr is "the journal's stream": JOURNAL_STREAM names its device and inode."""

    def __init__(self, tmp_path, stream=None, **kw):
        super().__init__(tmp_path, **kw)
        self.stream = stream

    def env(self):
        st = os.stat(self.log_path)
        value = self.stream or f"{st.st_dev}:{st.st_ino}"
        return dict(os.environ, JOURNAL_STREAM=value)

    def start(self, wait=True):
        open(self.log_path, "ab").close()  # the inode exists before env() reads it
        return super().start(wait)


def reload_with_broken_config(srv, tmp_path):
    """A SIGHUP whose config file no longer parses: an error line."""
    conf = tmp_path / "rosterd.conf"
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "config not reloaded" in srv.logs(), 10, "the reload error")
    return conf


def test_journal_lines_carry_priorities_and_no_timestamp(tmp_path):
    conf = tmp_path / "rosterd.conf"
    conf.write_text("ttl = 5\n")
    srv = JournalRosterd(tmp_path)
    srv.extra = ["--config", str(conf)]
    with srv:
        conf.write_text("log-level = banana\n")
        reload_with_broken_config(srv, tmp_path)
    lines = srv.logs().splitlines()
    assert lines
    for line in lines:
        assert re.match(r"^<[3-7]>\S", line), line
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line), line
    assert any(re.match(r"^<5>rosterd serving services\.lon6\.example\.net", l) for l in lines)
    assert any(re.match(r"^<3>SIGHUP: config not reloaded", l) for l in lines), lines
    assert any(re.match(r"^<6>api listening on 127\.0\.0\.1:", l) for l in lines)


def test_journal_stream_of_another_file_is_not_journald(tmp_path):
    srv = JournalRosterd(tmp_path, stream="1:2")  # stderr is redirected elsewhere
    with srv:
        pass
    first = srv.logs().splitlines()[0]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|notice) ", first)


def test_json_format_one_object_per_line(tmp_path):
    conf = tmp_path / "rosterd.conf"
    conf.write_text("ttl = 5\n")
    srv = Rosterd(tmp_path, extra=["--log-format", "json"])
    srv.extra += ["--config", str(conf)]
    with srv:
        conf.write_text('log-level = a"b\\c\n')  # a quote and a backslash, escaped
        reload_with_broken_config(srv, tmp_path)
    records = [json.loads(l) for l in srv.logs().splitlines()]  # each line parses alone
    for r in records:
        assert set(r) == {"ts", "level", "msg"}, r
        assert r["level"] in PRIORITY
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", r["ts"])
    assert any(r["level"] == "notice" and r["msg"].startswith("rosterd serving ")
               for r in records)
    err = [r for r in records if r["level"] == "error"]
    assert err and "config not reloaded" in err[0]["msg"], err
    assert "invalid log-level 'a\"b\\c'" in err[0]["msg"], err


def test_failed_start_is_one_json_error(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    srv = Rosterd(tmp_path, extra=["--log-format", "json"])
    srv.extra += ["--http", f"127.0.0.1:{busy.getsockname()[1]}"]
    try:
        srv.start(wait=False)
        assert srv.proc.wait(timeout=10) == 2
        records = [json.loads(l) for l in srv.logs().splitlines()]
        assert [r["level"] for r in records] == ["error"], records
        assert "in use" in records[0]["msg"]
    finally:
        srv.stop()
        busy.close()
