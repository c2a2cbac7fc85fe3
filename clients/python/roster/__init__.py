"""roster: the Python client of the Roster registry, with libroster's
behaviour.

    import roster

    with roster.register("metadata", "hm", "lon6-metadataproxy-a133t.lon6.example.net",
                         1234, site="lon6"):
        serve()          # heartbeats run on a background thread

A Client holds the endpoints a process wants registered and, per registry of
its site, one TCP connection and one lease. Its background thread opens the
lease, registers every endpoint, heartbeats every ttl/3 (+-10 % jitter),
reconnects with jittered backoff (capped at ttl/3 while a lease is at stake),
registers everything again after a registry restart, a lost lease or a
registry that lost instances, and deregisters the lease at close(). Queries
go to the first registry that answers and fall back to a last-known-good
copy marked stale. Writes go to every registry, with per-registry outcomes.
docs/protocol.md describes the wire protocol this speaks.
"""
from .client import Client, Registration, Watch, register
from .errors import (InvalidArgument, InvalidName, LimitExceeded, NotFound, PartialWrite,
                     PermissionDenied, ProtocolError, RosterError, ServerError, StateError,
                     StorageError, StorageFull, Timeout, Unavailable, UnknownLease,
                     Unreachable, Unsupported)
from .model import (Event, EventKind, Expiry, Instance, ListResult, Outcome, OutcomeKind,
                    QueryResult, ServiceSummary, Status, WatchEvent, WatchKind, WriteResult,
                    make_instance)
from .ring import ring_hash, ring_owner
from .sites import load_site, resolve as resolve_servers

__version__ = "0.1.0"

__all__ = [
    "Client", "Registration", "Watch", "register",
    "RosterError", "InvalidArgument", "InvalidName", "LimitExceeded", "NotFound",
    "PartialWrite", "PermissionDenied", "ProtocolError", "ServerError", "StateError",
    "StorageError", "StorageFull", "Timeout", "Unavailable", "UnknownLease", "Unreachable",
    "Unsupported",
    "Event", "EventKind", "Expiry", "Instance", "ListResult", "Outcome", "OutcomeKind",
    "QueryResult", "ServiceSummary", "Status", "WatchEvent", "WatchKind", "WriteResult",
    "make_instance", "ring_hash", "ring_owner", "load_site", "resolve_servers",
]
