"""The consistent-hash ring of a service, as common/ring.h defines it: the
registry's `_ring._<service>._<protocol>` TXT records and `roster ring`
compute the same owner for the same key."""
from __future__ import annotations

import bisect
from typing import Iterable, List, Optional, Tuple

from .model import Instance, Status
from .names import canonical_host

VNODES = 8
_M64 = (1 << 64) - 1


def ring_hash(data: bytes) -> int:
    """FNV-1a 64, then MurmurHash3's fmix64; the upper 32 bits."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & _M64
    h ^= h >> 33
    h = (h * 0xff51afd7ed558ccd) & _M64
    h ^= h >> 33
    h = (h * 0xc4ceb9fe1a85ec53) & _M64
    h ^= h >> 33
    return h >> 32


def ring_points(instances: Iterable[Instance]) -> List[Tuple[int, str, int, int, Instance]]:
    """(token, canonical host, port, vnode, instance) for every UP instance,
    in ring order (token, then host text, then port)."""
    pts = []
    for inst in instances:
        if inst.status != Status.UP:
            continue
        host = canonical_host(inst.host)
        for v in range(VNODES):
            pts.append((ring_hash(f"{host}:{inst.port}#{v}".encode()), host, inst.port, v, inst))
    pts.sort(key=lambda p: (p[0], p[1].encode(), p[2]))
    return pts


def ring_owner(instances: Iterable[Instance], key: str) -> Optional[Instance]:
    """The UP instance owning @p key: the point with the smallest token >=
    the key's, wrapping to the first. None without UP instances."""
    pts = ring_points(instances)
    if not pts:
        return None
    i = bisect.bisect_left([p[0] for p in pts], ring_hash(key.encode()))
    return pts[i if i < len(pts) else 0][4]
