"""UDP answers the kernel refuses to send are dropped, counted and do not
disturb the next ones, on every UDP path (the DNS tests' ROSTER_DNS_IO runs).

The refusal is a real one: a query whose source is 127.255.255.255, the
loopback network's broadcast address, gets an answer the kernel will not
send to a broadcast address without SO_BROADCAST (EACCES), as a spoofed
query on a real network would. Writing such a query takes a raw socket, so
inner.py runs in a private user and network namespace (unshare(1): root
of a namespace of its own, a loopback of its own brought up with ip(8));
nothing on the machine's own network is touched, and no privilege is
needed where unprivileged user namespaces are allowed, as on Debian."""
import os
import subprocess
import sys

INNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inner.py")


def test_refused_answers_are_counted_and_the_next_go_out():
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--net", "sh", "-c",
                        'ip link set lo up && exec "$0" "$1"', sys.executable, INNER],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"inner.py failed:\n{r.stdout}\n{r.stderr}"
    assert "refused answers counted" in r.stdout, r.stdout
