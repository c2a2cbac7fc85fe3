"""Man pages and shell completion (SPEC: Packaging and operator conventions):
each page is built from its scdoc source, renders cleanly, and names every
option its binary's --help lists; bash completes roster's commands and each
command's own options."""
import os
import re
import subprocess

import pytest

from harness import BUILD, SOURCE, binary, run

PAGES = {"rosterd.8": "server/rosterd", "roster.1": "client/roster",
         "roster-zonegen.1": "zonegen/roster-zonegen", "libroster.3": None}
COMMANDS = ["query", "register", "deregister", "status", "list", "watch", "ring", "reports",
            "stats"]


def rendered(page):
    path = os.path.join(BUILD, "docs", "man", page)
    r = run(["groff", "-man", "-Tutf8", "-ww", "-rLL=200n", path], env=dict(
        os.environ, LC_ALL="C.UTF-8"))
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


def flags_of(help_text):
    return set(re.findall(r"^\s+(?:-[a-zA-Z], )?(--[a-z0-9-]+)", help_text, re.M))


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders_without_warnings(page):
    text, warnings = rendered(page)
    assert warnings == "", warnings
    name = page.rsplit(".", 1)[0]
    assert re.search(rf"^NAME\n\s+{re.escape(name)} - ", re.sub(r".\x08", "", text), re.M)


@pytest.mark.parametrize("page", ["rosterd.8", "roster-zonegen.1"])
def test_page_names_every_flag_of_help(page):
    text = re.sub(r".\x08", "", rendered(page)[0])  # strip overstrike bold
    helped = flags_of(run([binary(PAGES[page]), "--help"]).stdout)
    assert len(helped) > 10
    missing = sorted(f for f in helped if f not in text)
    assert missing == [], f"{page} does not document {missing}"


def test_roster_page_names_every_command_and_its_flags():
    text = re.sub(r".\x08", "", rendered("roster.1")[0])
    for cmd in COMMANDS:
        assert re.search(rf"^\s+{cmd}\b", text, re.M), cmd
        helped = flags_of(run([binary("client/roster"), cmd, "--help"]).stdout)
        missing = sorted(f for f in helped if f not in text)
        assert missing == [], f"roster.1 lacks {missing} of {cmd}"


def complete(*words):
    """What bash completion offers for `roster WORDS...` (the last word is
    the one being completed)."""
    script = os.path.join(SOURCE, "deploy", "bash-completion", "roster")
    line = "roster " + " ".join(words)
    quoted = " ".join("'" + w + "'" for w in ("roster",) + words)
    prog = f"""
source /usr/share/bash-completion/bash_completion
source {script}
COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; COMP_LINE='{line}'; COMP_POINT={len(line)}
_roster
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_bash_completes_commands_and_their_options():
    assert complete("re") == {"register", "reports"}
    assert complete("") >= set(COMMANDS)
    assert complete("register", "--w") == {"--weight"}
    assert complete("query", "--") == flags_of(
        run([binary("client/roster"), "query", "--help"]).stdout)
    assert complete("--json", "status", "--service", "web", "d") == {"down"}
    # Every command's options, as its --help lists them.
    for cmd in COMMANDS:
        helped = flags_of(run([binary("client/roster"), cmd, "--help"]).stdout)
        assert complete(cmd, "--") == helped, cmd
