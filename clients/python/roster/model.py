"""The values the client hands out and takes: instances, query results,
watch events, engine events, write outcomes. Plain dataclasses; the
generated protobuf types stay inside wire.py and this module's converters."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import names
from .errors import InvalidArgument, RosterError


class Status(enum.IntEnum):
    """roster.v1.Status."""
    UNSPECIFIED = 0  # on register: UP
    STARTING = 1     # registered, not yet served
    UP = 2           # served
    DOWN = 3         # draining or maintenance; not served


class Expiry(enum.IntEnum):
    """roster.v1.ExpiryKind."""
    UNSPECIFIED = 0
    TIMED = 1  # lives while its lease is renewed
    NEVER = 2  # permanent until deregistered
    STATIC = 3  # from the registry's --static file; not changed through the API


@dataclass(frozen=True)
class Instance:
    """An instance of a service. Identity is (service, protocol, host,
    port): registering it again updates it. The fields after status are set
    by the registry and ignored when registering."""
    service: str
    protocol: str
    host: str
    port: int
    addresses: Tuple[str, ...] = ()
    priority: int = 0
    weight: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    status: Status = Status.UNSPECIFIED
    registered_at_ms: int = 0
    status_since_ms: int = 0
    expiry: Expiry = Expiry.UNSPECIFIED
    lease: int = 0
    stale: bool = False

    @property
    def identity(self) -> Tuple[str, str, str, int]:
        """(service, protocol, host, port) as the registry compares them:
        case-insensitive, host without its trailing dot."""
        return (self.service.lower(), self.protocol.lower(),
                self.host.rstrip(".").lower(), self.port)

    def check(self, identity_only: bool = False) -> "Instance":
        """Raise InvalidName/InvalidArgument for what the registry would
        refuse; the instance itself otherwise."""
        names.check_label("service", self.service)
        names.check_label("protocol", self.protocol)
        names.check_host(self.host)
        names.check_port(self.port)
        if identity_only:
            return self
        for a in self.addresses:
            names.check_address(a)
        for what, v in (("priority", self.priority), ("weight", self.weight)):
            if not isinstance(v, int) or not 0 <= v <= 65535:
                raise InvalidArgument(f"invalid {what} {v!r} (0-65535)")
        for k, v in self.metadata.items():
            if not isinstance(k, str) or not k or not isinstance(v, str):
                raise InvalidArgument(f"invalid metadata entry {k!r}={v!r}")
        try:
            Status(self.status)
        except ValueError:
            raise InvalidArgument(f"invalid status {self.status!r}") from None
        return self

    def __str__(self) -> str:
        return f"_{self.service}._{self.protocol} {self.host}:{self.port}"


def make_instance(service: str, protocol: str, host: str, port: int, *,
                  addresses: Sequence[str] = (), priority: int = 0, weight: int = 0,
                  metadata: Optional[Mapping[str, str]] = None,
                  status: Status = Status.UNSPECIFIED) -> Instance:
    """A checked Instance (InvalidName/InvalidArgument on a bad field)."""
    try:
        st = Status(status)
    except ValueError:
        raise InvalidArgument(f"invalid status {status!r}") from None
    return Instance(service, protocol, host, port, tuple(addresses), priority, weight,
                    dict(metadata or {}), st).check()


@dataclass
class QueryResult:
    """The answer of Client.query().

    stale: no registry answered; this is the last-known-good copy, fetched
    at fetched_at_ms (wall clock, ms) from server."""
    instances: List[Instance]
    revision: int
    preserving: bool = False
    stale: bool = False
    fetched_at_ms: int = 0
    server: str = ""


@dataclass(frozen=True)
class ServiceSummary:
    service: str
    protocol: str
    up: int
    down: int
    starting: int
    stale: int


@dataclass
class ListResult:
    services: List[ServiceSummary]
    revision: int
    server: str = ""


class OutcomeKind(enum.IntEnum):
    """What one registry did with a one-shot write."""
    APPLIED = 1      # it made the change
    NOT_FOUND = 2    # it did not know the instance
    UNREACHABLE = 3  # no answer: connect failed, timed out, a bad frame
    REFUSED = 4      # it answered with another error


@dataclass(frozen=True)
class Outcome:
    server: str
    kind: OutcomeKind
    revision: int = 0                    # APPLIED: the registry's revision after it
    error: Optional[RosterError] = None  # why it was not applied


@dataclass(frozen=True)
class WriteResult:
    """A one-shot write applied everywhere it could be (see Client.deregister)."""
    revision: int
    outcomes: Tuple[Outcome, ...]


class WatchKind(enum.IntEnum):
    SNAPSHOT_BEGIN = 1  # a full state follows: forget what you had
    SNAPSHOT_END = 2    # the snapshot is complete at revision
    UPSERT = 3          # an instance was added or changed
    REMOVE = 4          # an instance was removed (reason says why)
    RESYNC = 5          # the connection was lost; missed changes or a snapshot follow


@dataclass(frozen=True)
class WatchEvent:
    kind: WatchKind
    revision: int
    instance: Optional[Instance] = None
    reason: str = ""
    server: str = ""


class EventKind(enum.Enum):
    """The engine's events (libroster's ROSTER_EVENT_*)."""
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    LEASE = "lease"
    LEASE_LOST = "lease_lost"
    REGISTERED = "registered"
    REGISTER_FAILED = "register_failed"
    HEARTBEAT = "heartbeat"
    DEREGISTERED = "deregistered"


@dataclass(frozen=True)
class Event:
    """An engine event, given to Client(on_event=...) on the engine's thread."""
    kind: EventKind
    registry: int  # index into the client's servers
    server: str
    lease: int = 0
    revision: int = 0  # REGISTERED: DNS serves the endpoint from this SOA serial on
    endpoint: Optional[Instance] = None
    error: Optional[RosterError] = None
    message: str = ""


# ---- protobuf conversions --------------------------------------------------

def instance_to_pb(pb: Any, inst: Instance) -> Any:
    return pb.Instance(service=inst.service, protocol=inst.protocol, host=inst.host,
                       port=inst.port, addresses=list(inst.addresses),
                       priority=inst.priority, weight=inst.weight,
                       metadata=dict(inst.metadata), status=int(inst.status))


def identity_to_pb(pb: Any, inst: Instance) -> Any:
    return pb.InstanceId(service=inst.service, protocol=inst.protocol, host=inst.host,
                         port=inst.port)


def _enum(cls: Any, v: int) -> Any:
    try:
        return cls(v)
    except ValueError:
        return v  # a value from a newer registry: kept as the number


def instance_from_pb(m: Any) -> Instance:
    return Instance(m.service, m.protocol, m.host, m.port, tuple(m.addresses), m.priority,
                    m.weight, dict(m.metadata), _enum(Status, m.status), m.registered_at_ms,
                    m.status_since_ms, _enum(Expiry, m.expiry), m.lease, m.stale)


def _i64(v: int) -> int:
    """As jansson's json_int_t holds it (libroster writes uint64 values cast)."""
    return v - (1 << 64) if v >= (1 << 63) else v


def _u64(v: Any) -> int:
    n = int(v)
    return n + (1 << 64) if n < 0 else n


def instance_to_json(i: Instance) -> Dict[str, Any]:
    """The form of an instance in libroster's cache file (client/jsonify.c),
    so that both clients read each other's files."""
    return {"service": i.service, "protocol": i.protocol, "host": i.host, "port": i.port,
            "addresses": list(i.addresses), "priority": i.priority, "weight": i.weight,
            "metadata": dict(i.metadata), "status": Status(i.status).name,
            "registered_at_ms": _i64(i.registered_at_ms),
            "status_since_ms": _i64(i.status_since_ms), "expiry": Expiry(i.expiry).name,
            "lease": str(i.lease), "stale": i.stale}  # a decimal string, as jsonify.c


def instance_from_json(d: Mapping[str, Any]) -> Instance:
    return Instance(str(d["service"]), str(d["protocol"]), str(d["host"]), int(d["port"]),
                    tuple(str(a) for a in d.get("addresses", ())), int(d.get("priority", 0)),
                    int(d.get("weight", 0)),
                    {str(k): str(v) for k, v in d.get("metadata", {}).items()},
                    Status[d.get("status", "UP")], _u64(d.get("registered_at_ms", 0)),
                    _u64(d.get("status_since_ms", 0)), Expiry[d.get("expiry", "TIMED")],
                    _u64(d.get("lease", 0)), bool(d.get("stale", False)))
