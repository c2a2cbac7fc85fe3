"""Frames of the registration API and the one-shot exchange.

A frame is a 4-byte big-endian length N (1..limit), then N bytes holding one
serialized roster.v1.Request (client to registry) or roster.v1.Response
(registry to client). See docs/protocol.md.
"""
from __future__ import annotations

import socket
import struct
import time
from typing import Any, List, Optional, Tuple

from .errors import LimitExceeded, ProtocolError, Timeout, Unreachable

try:
    from . import roster_pb2 as pb  # generated from proto/roster.proto at build time
except ImportError as exc:  # pragma: no cover - a broken install
    raise ImportError("roster.roster_pb2 is missing: it is generated from "
                      "proto/roster.proto when the package is built (pip install "
                      "clients/python, or the meson build's clients/python target)") from exc

HEADER = struct.Struct(">I")
#: rosterd's default --max-frame: a client never sends more (a registry
#: would close the connection unread, for every request on it).
FRAME_MAX = 1024 * 1024
#: The largest response frame accepted (a Query of a large service).
RESPONSE_MAX = 16 * FRAME_MAX


def encode(req: Any) -> bytes:
    """A Request as one frame. LimitExceeded (nothing sent) over FRAME_MAX."""
    body = req.SerializeToString()
    if len(body) > FRAME_MAX:
        raise LimitExceeded(f"request of {len(body)} bytes is over the {FRAME_MAX}-byte "
                            f"frame limit; not sent")
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Incremental: feed() whatever recv() returned, get the whole
    Responses. Errors are final: the stream cannot be resynchronised."""

    __slots__ = ("buf", "max")

    def __init__(self, max_frame: int = RESPONSE_MAX) -> None:
        self.buf = bytearray()
        self.max = max_frame

    def feed(self, data: bytes) -> List[Any]:
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = HEADER.unpack_from(self.buf)
            if n == 0 or n > self.max:
                raise ProtocolError(f"bad frame from the registry (length {n})")
            if len(self.buf) < 4 + n:
                break
            r = pb.Response()
            try:
                r.ParseFromString(bytes(self.buf[4:4 + n]))
            except Exception as e:  # google.protobuf.message.DecodeError
                raise ProtocolError(f"malformed response from the registry: {e}") from None
            del self.buf[:4 + n]
            out.append(r)
        return out

    def idle(self) -> bool:
        return not self.buf


def connect(addr: Tuple[str, int], deadline: float) -> socket.socket:
    """A TCP connection (TCP_NODELAY) made before @p deadline (monotonic).
    Unreachable when refused or too slow."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise Timeout(f"{addr[0]}:{addr[1]}: connect timed out")
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.settimeout(left)
        s.connect(addr)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except socket.timeout:
        s.close()
        raise Unreachable(f"{addr[0]}:{addr[1]}: connect timed out") from None
    except OSError as e:
        s.close()
        raise Unreachable(f"{addr[0]}:{addr[1]}: {e.strerror or e}") from None
    return s


def call(addr: Tuple[str, int], req: Any, timeout: float, token: Optional[str] = None) -> Any:
    """One request on a short connection: connect, send, read frames until
    the Response with req.id, all within @p timeout seconds.

    Returns the Response (its error field may be set: the caller decides).
    An id-0 error is the registry's verdict on the whole connection, sent
    before it closes: FRAME_TOO_LARGE answers this request; any other
    (connection cap, shutting down) raises Unreachable, so the caller moves
    to the next registry. Raises LimitExceeded (not sent), Unreachable,
    Timeout, ProtocolError.

    With @p token, Authenticate goes first in the same write; its refusal
    (any error but UNSUPPORTED, a registry from before tokens) is the
    answer, with req.id."""
    deadline = time.monotonic() + timeout
    frame = encode(req)
    auth_id = req.id | (1 << 63)
    if token is not None:
        frame = encode(pb.Request(id=auth_id, authenticate=pb.AuthenticateRequest(
            token=token))) + frame
    name = f"{addr[0]}:{addr[1]}"
    s = connect(addr, deadline)
    dec = FrameDecoder()
    try:
        s.sendall(frame)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"{name}: no answer within {timeout:g} s")
            s.settimeout(left)
            data = s.recv(65536)
            if not data:
                raise Unreachable(f"{name}: connection closed by the registry")
            for r in dec.feed(data):
                if r.id == auth_id and token is not None:
                    if r.error not in (0, pb.UNSUPPORTED):
                        r.id = req.id
                        return r
                    continue
                if r.id == req.id:
                    return r
                if r.id == 0 and r.error == pb.FRAME_TOO_LARGE:
                    return r
                if r.id == 0 and r.error != 0:
                    raise Unreachable(f"{name}: turned away: {r.message}")
                # anything else is a stray frame: ignored
    except socket.timeout:
        raise Timeout(f"{name}: no answer within {timeout:g} s") from None
    except OSError as e:
        raise Unreachable(f"{name}: {e.strerror or e}") from None
    finally:
        s.close()


def response_error(r: Any) -> Optional[int]:
    return r.error if r.error != 0 else None
