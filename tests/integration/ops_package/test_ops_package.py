"""What `meson install` ships (SPEC: Packaging and operator conventions):
every file lands in a --destdir, libroster has a versioned soname, and a
program built from nothing but `pkg-config --cflags --libs roster` against
that tree registers at a real rosterd."""
import json
import os
import re
import shlex
import subprocess

import pytest

from harness import BUILD, SOURCE, Rosterd, run, wait_until


def project_version():
    with open(os.path.join(SOURCE, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([0-9.]+)'", f.read()).group(1)


def build_option(name):
    with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
        return next(o["value"] for o in json.load(f) if o["name"] == name)


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    dest = tmp_path_factory.mktemp("destdir")
    r = run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir",
             str(dest)], timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def prefixed(destdir, *parts):
    prefix = build_option("prefix").lstrip("/")
    return os.path.join(str(destdir), prefix, *parts)


def libdir(destdir):
    return prefixed(destdir, build_option("libdir"))


def test_install_holds_every_file(destdir):
    sysconf = build_option("sysconfdir")
    want = [
        "sbin/rosterd", "bin/roster", "bin/roster-zonegen",
        "include/roster/client.h", "include/roster/version.h",
        f"{build_option('libdir')}/libroster.so.{project_version()}",
        f"{build_option('libdir')}/pkgconfig/roster.pc",
        "lib/systemd/system/rosterd.service", "lib/systemd/system/roster-register@.service",
        "lib/sysusers.d/roster.conf", "lib/tmpfiles.d/roster.conf",
        f"{sysconf}/roster/rosterd.conf",
        "share/doc/roster/examples/rosterd.conf", "share/doc/roster/examples/sites.conf",
        "share/man/man8/rosterd.8", "share/man/man1/roster.1", "share/man/man1/roster-zonegen.1",
        "share/man/man3/libroster.3", "share/bash-completion/completions/roster",
    ]
    missing = [w for w in want if not os.path.exists(prefixed(destdir, w))]
    assert missing == [], missing
    # The soname carries the ABI version, and the dev symlink points at it.
    so = os.path.join(libdir(destdir), "libroster.so")
    assert os.readlink(so) == "libroster.so.0"
    r = run(["objdump", "-p", so])
    assert re.search(r"SONAME\s+libroster\.so\.0$", r.stdout, re.M), r.stdout
    # The installed unit names the installed binary and config.
    unit = open(prefixed(destdir, "lib/systemd/system/rosterd.service")).read()
    prefix = build_option("prefix")
    assert f"ExecStart={prefix}/sbin/rosterd --config " in unit
    assert re.findall(r"@[a-z]+@", unit) == []  # every placeholder filled
    # roster-register@ reads the services.d that the tmpfiles snippet makes.
    reg = open(prefixed(destdir, "lib/systemd/system/roster-register@.service")).read()
    tmpfiles = open(prefixed(destdir, "lib/tmpfiles.d/roster.conf")).read()
    made = re.search(r"^d (\S+/services\.d) ", tmpfiles, re.M).group(1)
    assert f"EnvironmentFile={made}/%i.conf" in reg, (made, reg)
    sysconf = build_option("sysconfdir")
    assert made == (sysconf if sysconf.startswith("/") else f"{prefix}/{sysconf}") + \
        "/roster/services.d", made
    # Nothing but roster_* leaves the library.
    r = run(["nm", "-D", "--defined-only", so])
    syms = [l.split()[-1] for l in r.stdout.splitlines()]
    assert syms and all(s.startswith("roster_") for s in syms), syms


def test_installed_binaries_report_the_version(destdir):
    for rel, name in (("sbin/rosterd", "rosterd"), ("bin/roster", "roster"),
                      ("bin/roster-zonegen", "roster-zonegen")):
        r = run([prefixed(destdir, rel), "--version"])
        assert r.stdout == f"{name} {project_version()}\n", (rel, r.stdout, r.stderr)


VERSION_PROGRAM = r"""
#include <roster/client.h>
#include <stdio.h>
#include <string.h>
#if ROSTER_VERSION_NUMBER != ROSTER_VERSION_MAJOR * 10000 + ROSTER_VERSION_MINOR * 100 + ROSTER_VERSION_PATCH
#error version number
#endif
int main(void)
{
	printf("%d.%d.%d %s %s\n", ROSTER_VERSION_MAJOR, ROSTER_VERSION_MINOR,
			ROSTER_VERSION_PATCH, ROSTER_VERSION, roster_version());
	return strcmp(ROSTER_VERSION, roster_version()) != 0;
}
"""


def pkg_config(destdir, *args):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir(destdir), "pkgconfig"),
               PKG_CONFIG_SYSROOT_DIR=str(destdir))
    r = run(["pkg-config", *args, "roster"], env=env)
    assert r.returncode == 0, r.stderr
    return shlex.split(r.stdout)


def compile_with_pkg_config(destdir, source, out):
    flags = pkg_config(destdir, "--cflags", "--libs")
    assert any(f.startswith("-I" + str(destdir)) for f in flags), flags
    extra = []
    sanitize = build_option("b_sanitize")
    if sanitize != "none":  # the library carries the sanitizers' runtime calls
        extra = [f"-fsanitize={sanitize}"]
    r = run(["cc", "-Wall", "-Werror", *extra, "-o", str(out), str(source), *flags, "-lpthread"],
            timeout=120)
    assert r.returncode == 0, r.stderr
    return dict(os.environ, LD_LIBRARY_PATH=libdir(destdir))


def test_pkg_config_describes_the_library(destdir, tmp_path):
    assert pkg_config(destdir, "--modversion") == [project_version()]
    src = tmp_path / "version.c"
    src.write_text(VERSION_PROGRAM)
    env = compile_with_pkg_config(destdir, src, tmp_path / "version")
    r = subprocess.run([str(tmp_path / "version")], env=env, capture_output=True, text=True)
    v = project_version()
    assert r.returncode == 0 and r.stdout == f"{v} {v} {v}\n", r.stdout + r.stderr


def test_program_built_from_pkg_config_registers(destdir, tmp_path):
    src = os.path.join(SOURCE, "client/examples/register_at_startup.c")
    exe = tmp_path / "register_at_startup"
    env = compile_with_pkg_config(destdir, src, exe)
    r = run(["ldd", str(exe)], env=env)
    assert str(destdir) in r.stdout, r.stdout  # the installed library, not the build's
    with Rosterd(tmp_path) as srv:
        p = subprocess.Popen([str(exe), f"127.0.0.1:{srv.api_port}", "web", "http",
                              "web1.lon6.example.net", "8080"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline() == "registered web1.lon6.example.net:8080\n"

            def hosts():
                with srv.client() as c:
                    return [(i.host, i.port) for i in c.query("web", "http").query.instances]
            wait_until(lambda: hosts() == [("web1.lon6.example.net.", 8080)], 10,
                       "the registration")
            p.terminate()
            assert p.wait(timeout=10) == 0, p.stderr.read()
            wait_until(lambda: hosts() == [], 10, "the deregistration")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
