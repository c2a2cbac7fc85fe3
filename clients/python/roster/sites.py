"""Which registries: the same rules as the roster CLI (client/cli/sites.c).

Precedence: servers given explicitly, then ROSTER_SERVER (comma-separated),
then a site looked up in the sites file (ROSTER_SITES, default
/etc/roster/sites.conf), then 127.0.0.1:7600.

The sites file has `SITE ADDRESS:PORT` lines and `#` comments; a site on
several lines has several registries, and a client writes to every one.
Addresses are IP literals (`10.0.0.5:7600`, `[2001:db8::5]:7600`).
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence

from .errors import InvalidArgument
from .names import parse_server

DEFAULT_SERVER = "127.0.0.1:7600"
DEFAULT_SITES = "/etc/roster/sites.conf"


def load_site(site: str, path: Optional[str] = None) -> List[str]:
    """Every registry of @p site in the sites file, in file order.
    InvalidArgument for an unreadable file, a bad line or an unknown site."""
    path = path or os.environ.get("ROSTER_SITES") or DEFAULT_SITES
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidArgument(f"unknown site {site!r}: cannot read {path}: {e.strerror} "
                              f"(set ROSTER_SITES or give the servers)") from None
    out = []
    for n, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        # dns=/http= fields after the address are for `roster doctor`.
        if len(fields) < 2 or any(not f.startswith(("dns=", "http=")) for f in fields[2:]):
            raise InvalidArgument(f"{path}:{n}: expected 'SITE ADDRESS:PORT'")
        if fields[0] == site:
            try:
                parse_server(fields[1])
            except InvalidArgument:
                raise InvalidArgument(f"{path}:{n}: invalid registry address "
                                      f"{fields[1]!r} (expected ADDRESS:PORT)") from None
            if fields[1] in out:
                raise InvalidArgument(f"{path}:{n}: registry {fields[1]} is listed twice "
                                      f"for site {site!r}")
            out.append(fields[1])
    if not out:
        raise InvalidArgument(f"unknown site {site!r} (not in {path})")
    return out


def resolve(servers: Optional[Sequence[str]] = None, site: Optional[str] = None,
            sites_path: Optional[str] = None) -> List[str]:
    """The registries a client talks to (see the module's precedence)."""
    if servers:
        out = [s.strip() for x in servers for s in x.split(",") if s.strip()]
    elif os.environ.get("ROSTER_SERVER"):
        out = [s.strip() for s in os.environ["ROSTER_SERVER"].split(",")]
    elif site is not None:
        out = load_site(site, sites_path)
    else:
        out = [DEFAULT_SERVER]
    for s in out:
        parse_server(s)
    return out
