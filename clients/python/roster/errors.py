"""Typed exceptions of the roster client.

Every failure the client reports is a RosterError. Its subclasses say what
the caller may do about it:

- the registry refused the request for good (InvalidName, InvalidArgument,
  NotFound, LimitExceeded, Unsupported, PermissionDenied): fix the request;
- the registry could not do it now (Unavailable, StorageError, ServerError):
  try again later;
- no registry answered (Unreachable, with Timeout as a kind of it);
- the lease is gone (UnknownLease): open a new one and register again (the
  engine does this by itself);
- a write reached some registries only (PartialWrite, with each registry's
  outcome).

The wire error codes (roster.v1.ErrorCode) map to these classes through
error_for_code(); docs/protocol.md lists which are final and which are
transient.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Optional, Sequence, Type

if TYPE_CHECKING:  # pragma: no cover
    from .model import Outcome

# roster.v1.ErrorCode, by number (kept here so that the errors need no
# generated code).
OK = 0
INVALID_ARGUMENT = 1
INVALID_NAME = 2
UNKNOWN_LEASE = 3
NOT_FOUND = 4
LIMIT_EXCEEDED = 5
FRAME_TOO_LARGE = 6
MALFORMED = 7
STORAGE_FULL = 8
STORAGE_ERROR = 9
UNAVAILABLE = 10
INTERNAL = 11
UNSUPPORTED = 12
# Not in roster.proto yet: the access-control issue adds it (SPEC "Access
# control"); a client seeing it must not retry with the same token.
PERMISSION_DENIED = 13

CODE_NAMES = {
    OK: "OK", INVALID_ARGUMENT: "INVALID_ARGUMENT", INVALID_NAME: "INVALID_NAME",
    UNKNOWN_LEASE: "UNKNOWN_LEASE", NOT_FOUND: "NOT_FOUND",
    LIMIT_EXCEEDED: "LIMIT_EXCEEDED", FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
    MALFORMED: "MALFORMED", STORAGE_FULL: "STORAGE_FULL", STORAGE_ERROR: "STORAGE_ERROR",
    UNAVAILABLE: "UNAVAILABLE", INTERNAL: "INTERNAL", UNSUPPORTED: "UNSUPPORTED",
    PERMISSION_DENIED: "PERMISSION_DENIED",
}


class RosterError(Exception):
    """Base of every error of the client.

    code: the roster.v1.ErrorCode the registry answered (0 when the error
    is the client's own: unreachable, a bad argument caught before sending).
    server: the registry ("ADDRESS:PORT") the error came from, or None.
    """

    code: int = 0

    def __init__(self, message: str, *, code: Optional[int] = None,
                 server: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.server = server


class InvalidArgument(RosterError, ValueError):
    """A field has a bad value (port, TTL, status, address, metadata). Final."""
    code = INVALID_ARGUMENT


class InvalidName(InvalidArgument):
    """A service, protocol or host name is not a valid DNS name. Final."""
    code = INVALID_NAME


class UnknownLease(RosterError):
    """The lease is unknown or expired: open a new one and register again."""
    code = UNKNOWN_LEASE


class NotFound(RosterError, LookupError):
    """No such instance (or watch). Final."""
    code = NOT_FOUND


class LimitExceeded(RosterError):
    """A configured limit of the registry (instances per lease, metadata,
    addresses, frame size, connections). Final for this request."""
    code = LIMIT_EXCEEDED


class ProtocolError(RosterError):
    """A malformed frame or message, either way. The connection is unusable."""
    code = MALFORMED


class StorageError(RosterError):
    """The registry could not store the change; nothing was written. Transient."""
    code = STORAGE_ERROR


class StorageFull(StorageError):
    """The registry's store is full; nothing was written. Transient."""
    code = STORAGE_FULL


class Unavailable(RosterError):
    """The registry is shutting down, overloaded or over a connection cap. Transient."""
    code = UNAVAILABLE


class ServerError(RosterError):
    """The registry failed (INTERNAL). Transient."""
    code = INTERNAL


class Unsupported(RosterError):
    """The registry does not know the operation (an older rosterd). Final."""
    code = UNSUPPORTED


class PermissionDenied(RosterError):
    """The registry refused the token or its scope. Final."""
    code = PERMISSION_DENIED


class Unreachable(RosterError, ConnectionError):
    """No registry answered: connection refused, reset, closed, or timed out."""


class Timeout(Unreachable, TimeoutError):
    """A registry did not answer in time (a kind of Unreachable)."""


class StateError(RosterError):
    """The call does not fit the client's state (closed, not started)."""


class PartialWrite(RosterError):
    """A one-shot write was applied at some registries but not at others.

    outcomes: each registry's Outcome, in the order of the client's list.
    revision: the revision of the first registry that applied it.
    """

    def __init__(self, message: str, outcomes: Sequence["Outcome"], revision: int,
                 server: Optional[str] = None) -> None:
        super().__init__(message, server=server)
        self.outcomes = list(outcomes)
        self.revision = revision


_BY_CODE: Dict[int, Type[RosterError]] = {
    INVALID_ARGUMENT: InvalidArgument, INVALID_NAME: InvalidName,
    UNKNOWN_LEASE: UnknownLease, NOT_FOUND: NotFound, LIMIT_EXCEEDED: LimitExceeded,
    FRAME_TOO_LARGE: LimitExceeded, MALFORMED: ProtocolError, STORAGE_FULL: StorageFull,
    STORAGE_ERROR: StorageError, UNAVAILABLE: Unavailable, INTERNAL: ServerError,
    UNSUPPORTED: Unsupported, PERMISSION_DENIED: PermissionDenied,
}

# Codes a later retry may cure (libroster's error_transient()): the engine
# tries an endpoint again at the next heartbeat tick; others are final
# until the endpoint changes. PERMISSION_DENIED too, as in libroster: a
# restarted process is refused its identity while its old lease holds it,
# and gets it at the first retry after that lease expired.
TRANSIENT_CODES = frozenset({UNAVAILABLE, STORAGE_ERROR, STORAGE_FULL, INTERNAL,
                             PERMISSION_DENIED})


def error_for_code(code: int, message: str, server: Optional[str] = None) -> RosterError:
    """The exception for a registry's error answer."""
    cls = _BY_CODE.get(code, ServerError)
    name = CODE_NAMES.get(code, f"code {code}")
    text = f"registry {server}: {message or name}" if server else (message or name)
    return cls(text, code=code, server=server)
