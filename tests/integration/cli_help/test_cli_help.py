"""--version on every binary and `roster COMMAND --help` with the command's own
flags, their meaning and defaults (SPEC: Packaging and operator conventions)."""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "client_support"))
from clientkit import roster  # noqa: E402
from harness import SOURCE, binary, run  # noqa: E402


def project_version():
    with open(os.path.join(SOURCE, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([0-9.]+)'", f.read()).group(1)


@pytest.mark.parametrize("rel,name", [("server/rosterd", "rosterd"),
                                      ("client/roster", "roster"),
                                      ("zonegen/roster-zonegen", "roster-zonegen")])
def test_version_is_the_projects(rel, name):
    r = run([binary(rel), "--version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{name} {project_version()}\n"
    assert r.stderr == ""


def option_lines(text, section):
    """{flag: help line} of one section ("options:" or "global options:")."""
    out, inside = {}, False
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            inside = line == section
            continue
        m = re.match(r"^  (?:-[a-zA-Z], )?--([a-z-]+)", line)
        if inside and m:
            out[m.group(1)] = line
    return out


def test_register_help_has_its_own_flags_with_meanings_and_defaults():
    r = roster("register", "--help")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("usage: roster [GLOBAL OPTIONS] register --service NAME")
    own = option_lines(r.stdout, "options:")
    assert set(own) == {"service", "protocol", "host", "port", "address", "ttl", "permanent",
                        "weight", "priority", "meta", "starting"}
    assert "(default 0)" in own["weight"] and "weight" in own["weight"].lower()
    assert "(default 0)" in own["priority"]
    assert "(default 10)" in own["ttl"]
    assert "STARTING" in own["starting"] and "(default UP)" in own["starting"]
    glob = option_lines(r.stdout, "global options:")
    assert {"server", "site", "json", "timeout", "version"} <= set(glob)
    assert "(default 2000)" in glob["timeout"]


def test_each_command_lists_only_its_flags():
    q = roster("query", "--help").stdout
    assert set(option_lines(q, "options:")) == {"service", "protocol", "all"}
    assert "(default UP only)" in option_lines(q, "options:")["all"]
    assert "options:" not in roster("list", "--help").stdout.split("global options:")[0]
    ring = option_lines(roster("ring", "--help").stdout, "options:")
    assert set(ring) == {"service", "protocol", "key"}
    # The global usage stays the overview of every command.
    assert roster("--help").stdout.startswith("usage: roster [--server HOST:PORT | -s SITE]")


def test_help_command_and_flag_anywhere_agree():
    a = roster("register", "--help").stdout
    assert roster("help", "register").stdout == a
    assert roster("--help", "register").stdout != a  # before the command: the overview
    assert roster("register", "--port", "1", "-h").stdout == a
    bad = roster("help", "bogus")
    assert bad.returncode == 2 and "unknown command 'bogus'" in bad.stderr


def test_zonegen_help_lists_version():
    r = run([binary("zonegen/roster-zonegen"), "--help"])
    assert r.returncode == 0 and "--version" in r.stdout
