"""Name and address checks, the same rules as rosterd's (common/name.c):
caught before anything is sent, so that a typo fails at once."""
from __future__ import annotations

import ipaddress

from .errors import InvalidArgument, InvalidName

LABEL_MAX = 63
NAME_WIRE_MAX = 255


def _label_ok(label: str) -> bool:
    if not 0 < len(label) <= LABEL_MAX:
        return False
    if not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
        return False
    return label[0] != "-" and label[-1] != "-"


def check_label(what: str, label: str) -> str:
    """A service or protocol: one DNS label of letters, digits and hyphens
    (1..63, no leading or trailing hyphen, no underscore). Returns it."""
    if not isinstance(label, str) or not _label_ok(label):
        raise InvalidName(f"invalid {what} {label!r}: a DNS label of letters, digits and "
                          f"hyphens (1-63, given without the leading underscore)")
    return label


def check_host(host: str) -> str:
    """A host name (FQDN, trailing dot optional). Returns it."""
    if not isinstance(host, str):
        raise InvalidName(f"invalid host {host!r}")
    text = host[:-1] if host.endswith(".") else host
    labels = text.split(".")
    # Wire form: a length octet per label plus the characters plus the root.
    if not text or len(text) + 2 > NAME_WIRE_MAX or not all(_label_ok(x) for x in labels) \
            or labels[-1].isdigit():
        raise InvalidName(f"invalid host {host!r}: a host name of DNS labels "
                          f"(letters, digits, hyphens), not all-numeric at the top")
    return host


def canonical_host(host: str) -> str:
    """Lower case with exactly one trailing dot, as the registry stores it."""
    check_host(host)
    return host.rstrip(".").lower() + "."


def check_port(port: int) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 65535:
        raise InvalidArgument(f"invalid port {port!r} (1-65535)")
    return port


def check_address(addr: str) -> str:
    """An IPv4 or IPv6 address in text form (no zone index)."""
    try:
        if not isinstance(addr, str) or "%" in addr:
            raise ValueError
        ipaddress.ip_address(addr)
    except ValueError:
        raise InvalidArgument(f"address {addr!r} is not an IPv4 or IPv6 address") from None
    return addr


def parse_server(text: str) -> tuple:
    """"ADDRESS:PORT" or "[IPV6]:PORT" (IP literals only: finding the
    registry must not depend on DNS) -> (address, port)."""
    t = text.strip()
    try:
        if t.startswith("["):
            addr, rest = t[1:].split("]", 1)
            if not rest.startswith(":"):
                raise ValueError
            port_text = rest[1:]
        else:
            addr, port_text = t.rsplit(":", 1)
            if ":" in addr:
                raise ValueError  # a bare IPv6 address needs brackets
        ipaddress.ip_address(addr)
        port = int(port_text, 10)
    except ValueError:
        raise InvalidArgument(f"server {text!r}: expected ADDRESS:PORT, e.g. "
                              f"127.0.0.1:7600 or [::1]:7600") from None
    check_port(port)
    return addr, port
