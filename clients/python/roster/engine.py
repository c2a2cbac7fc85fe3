"""The engine: one background thread per Client that makes every registry
hold the client's wanted endpoints (libroster's client/engine.c, reg.c,
lease.c, eps.c and watch.c, in one file).

Per registry: one TCP connection and one lease.
  - connect; OpenLease(ttl) once there is an endpoint; Register every
    endpoint under the lease; Heartbeat every ttl/3 with +-10 % jitter;
  - a connection error, or a request unanswered for timeout plus a
    heartbeat interval: reconnect with full-jitter backoff (uniform in
    [0, min(backoff_max, backoff_min * 2^attempt)]), capped at ttl/3 while a
    lease may still be alive there; then Heartbeat the old lease, and
    register every endpoint again (registering an identity again is an
    update: idempotent);
  - UNKNOWN_LEASE: a new lease, every endpoint registered again;
  - a heartbeat saying the registry holds fewer instances than were
    acknowledged: every endpoint registered again;
  - a refusal (bad name, limit): REGISTER_FAILED, not retried until the
    endpoint changes; a transient refusal (unavailable, storage): retried
    at the next tick;
  - stop: Deregister(lease) at every connected registry, waiting at most
    timeout for the answers.

For each (endpoint, registry) the engine keeps the generation the registry
acknowledged, the one in flight and the one refused; any change bumps the
endpoint's generation and the engine sends whatever differs.

Threads: everything here runs on the engine thread, under the client's
lock (an RLock); callbacks (on_event, watch queues) are called with it held.
"""
from __future__ import annotations

import errno
import os
import random
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from . import errors as E
from .model import (Event, EventKind, Instance, WatchEvent, WatchKind, identity_to_pb,
                    instance_from_pb, instance_to_pb)
from .wire import FrameDecoder, encode, pb

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

IDLE, CONNECTING, CONNECTED, CLOSED = range(4)
LEASE_NONE, LEASE_PENDING, LEASE_OK = range(3)
OP_OPEN, OP_HEARTBEAT, OP_REGISTER, OP_DEREG_INSTANCE, OP_DEREG_LEASE, OP_AUTH = range(6)
NEVER = float("inf")


class Ep:
    """A wanted endpoint and, per registry, its acknowledged, in-flight and
    refused generations, and the last refusal (register(wait=) raises it)."""
    __slots__ = ("uid", "inst", "gen", "removed", "acked", "sent", "failed", "refusal")

    def __init__(self, uid: int, inst: Instance, n: int) -> None:
        self.uid, self.inst, self.gen, self.removed = uid, inst, 1, False
        self.acked = [0] * n
        self.sent = [0] * n
        self.failed = [0] * n
        self.refusal: List[Optional[E.RosterError]] = [None] * n


class WatchState:
    """A watch as the engine sees it; events go to push()."""
    __slots__ = ("service", "push", "req_id", "subscribed", "in_snapshot", "last_revision")

    def __init__(self, service: str, push: Callable[[WatchEvent], None]) -> None:
        self.service, self.push = service, push
        self.req_id, self.subscribed, self.in_snapshot, self.last_revision = 0, False, False, 0


class Backoff:
    """Full jitter: after the n-th consecutive failure, a delay uniform in
    [0, min(max, min * 2^n)] (client/backoff.c)."""
    __slots__ = ("min", "max", "attempt")

    def __init__(self, min_s: float, max_s: float) -> None:
        self.min, self.max, self.attempt = min_s, max(max_s, min_s), 0

    def next(self, limit: float = 0.0) -> float:
        cap = min(self.max, self.min * (2 ** min(self.attempt, 31)))
        if limit > 0:
            cap = min(cap, limit)
        self.attempt = min(self.attempt + 1, 31)
        return random.uniform(0, cap)


class Reg:
    """One registry: its connection, lease and timer."""

    def __init__(self, idx: int, name: str, addr: Tuple[str, int], backoff: Backoff) -> None:
        self.idx, self.name, self.addr, self.backoff = idx, name, addr, backoff
        self.state = IDLE
        self.sock: Optional[socket.socket] = None
        self.dec = FrameDecoder()
        self.out = bytearray()
        self.pend: Dict[int, Tuple[int, int, int, float, int]] = {}  # id -> op, uid, gen, t, len
        self.lease = 0
        self.ttl = 0
        self.lease_state = LEASE_NONE
        self.hb_id = 0
        self.dereg_id = 0
        self.timer_at = 0.0  # connect at once
        # The registry's last refusal of the token or of a lease (cleared by
        # a lease it grants): why nothing registers there.
        self.refusal: Optional[E.RosterError] = None


class Engine:
    def __init__(self, client: "Client") -> None:
        self.c = client
        cfg = client
        self.regs = [Reg(i, s, a, Backoff(cfg.backoff_min, cfg.backoff_max))
                     for i, (s, a) in enumerate(zip(client.servers, client.addrs))]
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.stopping = False
        self.stop_requested = False
        self.stop_deadline = NEVER
        self.draining = 0
        self.closed = False
        self.watch_reg: Optional[int] = None
        self.watch_prev: Optional[int] = None
        self.thread = threading.Thread(target=self._run, name="roster-engine", daemon=True)

    # ---- lifecycle (any thread) --------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def kick(self) -> None:
        """Wake the engine thread: the wanted state or the watches changed."""
        try:
            os.write(self.wake_w, b"x")
        except OSError:
            pass  # the pipe is full: a wake-up is pending anyway

    def stop(self) -> None:
        with self.c.lock:
            self.stop_requested = True
        self.kick()
        if threading.current_thread() is not self.thread:
            self.thread.join()

    # ---- the loop --------------------------------------------------------------

    def _run(self) -> None:
        lock = self.c.lock
        try:
            while True:
                with lock:
                    if self.closed:
                        break
                    wake = min([r.timer_at for r in self.regs] + [self.stop_deadline])
                timeout = max(0.0, wake - time.monotonic()) if wake != NEVER else None
                ready = self.sel.select(timeout)
                with lock:
                    for key, mask in ready:
                        if key.data is None:
                            self._drain_wake()
                        else:
                            self._io(key.data, mask)
                    now = time.monotonic()
                    for r in self.regs:
                        if r.timer_at <= now:
                            self._timer(r)
                    if self.stopping and now >= self.stop_deadline:
                        self._close_all()
        finally:
            for r in self.regs:
                if r.sock is not None:
                    r.sock.close()
                    r.sock = None
            self.sel.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            with lock:
                self.closed = True
                self.c.cond.notify_all()

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        if self.stop_requested:
            self._begin_stop()
        elif not self.stopping:
            for r in self.regs:
                self._sync(r)

    # ---- events ------------------------------------------------------------------

    def emit(self, r: Reg, kind: EventKind, err: Optional[E.RosterError] = None,
             ep: Optional[Instance] = None, revision: int = 0) -> None:
        self.c._emit(Event(kind, r.idx, r.name, r.lease, revision, ep, err,
                           err.message if err is not None else ""))

    # ---- connection --------------------------------------------------------------

    def _connect(self, r: Reg) -> None:
        fam = socket.AF_INET6 if ":" in r.addr[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r.sock, r.state, r.dec, r.out = s, CONNECTING, FrameDecoder(), bytearray()
        rc = s.connect_ex(r.addr)
        if rc not in (0, errno.EINPROGRESS):
            self._fail(r, E.Unreachable(f"{r.name}: {os.strerror(rc)}", server=r.name))
            return
        self.sel.register(s, selectors.EVENT_WRITE, r)
        r.timer_at = time.monotonic() + self.c.timeout

    def _connected(self, r: Reg) -> None:
        assert r.sock is not None
        err = r.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err != 0:
            self._fail(r, E.Unreachable(f"{r.name}: {os.strerror(err)}", server=r.name))
            return
        r.state = CONNECTED
        self.sel.modify(r.sock, selectors.EVENT_READ, r)
        if self.c.token is not None:
            # First on the connection: what follows runs with its scopes.
            req = pb.Request(authenticate=pb.AuthenticateRequest(token=self.c.token))
            if not self._send(r, req, OP_AUTH):
                return
        self.emit(r, EventKind.CONNECTED)
        self._heartbeat_restart(r)
        if r.lease != 0:
            # Is our lease still known there? Then register everything again.
            if self._send(r, pb.Request(heartbeat=pb.HeartbeatRequest(lease=r.lease)),
                          OP_HEARTBEAT):
                r.lease_state = LEASE_PENDING
            return
        if self.c._live_eps() == 0:
            r.backoff.attempt = 0  # no lease to wait for: connected is healthy
        self._sync(r)

    def _io(self, r: Reg, mask: int) -> None:
        if r.state == CONNECTING:
            self._connected(r)
            return
        if r.state != CONNECTED or r.sock is None:
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(r)
        if r.state != CONNECTED or not mask & selectors.EVENT_READ:
            return
        try:
            data = r.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(r, E.Unreachable(f"{r.name}: {e.strerror or e}", server=r.name))
            return
        if not data:
            self._fail(r, E.Unreachable(f"{r.name}: connection closed by the registry",
                                        server=r.name))
            return
        try:
            frames = r.dec.feed(data)
        except E.ProtocolError as e:
            self._fail(r, E.ProtocolError(f"{r.name}: {e.message}", server=r.name))
            return
        for rs in frames:
            if r.state != CONNECTED:
                break
            self._response(r, rs)

    def _send(self, r: Reg, req: Any, op: int, uid: int = 0, gen: int = 0) -> bool:
        """Queue a request; False when not connected or the connection
        failed. LimitExceeded propagates (the request is never sent)."""
        if r.state != CONNECTED:
            return False
        req.id = self.c._next_id()
        frame = encode(req)
        r.out += frame
        if op >= 0:
            r.pend[req.id] = (op, uid, gen, time.monotonic(), len(frame))
        self._flush(r)
        return r.state == CONNECTED

    def _flush(self, r: Reg) -> None:
        assert r.sock is not None
        try:
            while r.out:
                n = r.sock.send(r.out)
                del r.out[:n]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            self._fail(r, E.Unreachable(f"{r.name}: {e.strerror or e}", server=r.name))
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if r.out else 0)
        self.sel.modify(r.sock, want, r)

    def _fail(self, r: Reg, err: E.RosterError) -> None:
        if r.state not in (CONNECTED, CONNECTING):
            return
        was_connected = r.state == CONNECTED
        if r.sock is not None:
            try:
                self.sel.unregister(r.sock)
            except (KeyError, ValueError):
                pass
            r.sock.close()
            r.sock = None
        r.state = IDLE
        r.pend.clear()
        r.out = bytearray()
        # The lease (lease.c lease_disconnected()).
        r.hb_id = 0
        if r.lease_state in (LEASE_OK, LEASE_PENDING):
            r.lease_state = LEASE_PENDING if r.lease != 0 else LEASE_NONE
        if r.dereg_id != 0:
            r.dereg_id = 0
            self.draining -= 1
        for ep in self.c._eps:
            ep.sent[r.idx] = ep.failed[r.idx] = 0
            if not ep.removed:
                ep.acked[r.idx] = 0
        if was_connected and not self.stopping:
            self.emit(r, EventKind.DISCONNECTED, err)
            if r.idx == self.watch_reg:
                self._watch_lost(r)
        if self.stopping:
            r.timer_at = NEVER
            if self.draining == 0:
                self._close_all()
            return
        # A registry that restarts gives every persisted lease one TTL of
        # grace: while ours may be alive there, come back within ttl/3.
        limit = (self._ttl(r) / 3.0) if r.lease != 0 else 0.0
        r.timer_at = time.monotonic() + r.backoff.next(limit)

    # ---- timing ----------------------------------------------------------------

    def _ttl(self, r: Reg) -> int:
        return r.ttl if r.ttl > 0 else self.c.ttl

    def _heartbeat_s(self, r: Reg) -> float:
        base = self._ttl(r) / 3.0
        return base * random.uniform(0.9, 1.1)

    def _heartbeat_restart(self, r: Reg) -> None:
        r.timer_at = time.monotonic() + self._heartbeat_s(r)

    def _timer(self, r: Reg) -> None:
        if self.stopping:
            r.timer_at = NEVER
            return
        if r.state == IDLE:
            r.timer_at = NEVER
            self._connect(r)
        elif r.state == CONNECTING:
            self._fail(r, E.Timeout(f"{r.name}: connect timed out", server=r.name))
        elif r.state == CONNECTED:
            # A request (heartbeat or other) unanswered for the timeout plus
            # a heartbeat interval: the registry or the path is dead even if
            # TCP is not. One late tick is tolerated (a loaded registry).
            limit = self.c.timeout + self._heartbeat_s(r)
            now = time.monotonic()
            if any(now - p[3] > limit for p in r.pend.values()):
                self._fail(r, E.Timeout(f"{r.name}: registry not answering", server=r.name))
                return
            self._heartbeat_restart(r)
            # A slow registry still has our last heartbeat: pile no more on it.
            if r.lease_state == LEASE_OK and r.hb_id == 0:
                self._send_heartbeat(r)
            self._sync(r)

    def _send_heartbeat(self, r: Reg) -> None:
        req = pb.Request(heartbeat=pb.HeartbeatRequest(lease=r.lease))
        if self._send(r, req, OP_HEARTBEAT):
            r.hb_id = req.id

    # ---- the wanted state -------------------------------------------------------

    def _sync(self, r: Reg) -> None:
        if r.state != CONNECTED or self.stopping:
            return
        self._watch_sync(r)
        if r.lease_state == LEASE_NONE and self.c._live_eps() > 0:
            req = pb.Request(open_lease=pb.OpenLeaseRequest(ttl_seconds=self.c.ttl))
            if self._send(r, req, OP_OPEN):
                r.lease_state = LEASE_PENDING
            return
        if r.lease_state != LEASE_OK:
            return
        i = r.idx
        for ep in list(self.c._eps):
            if r.state != CONNECTED:
                return
            if ep.gen in (ep.acked[i], ep.sent[i], ep.failed[i]):
                continue
            if ep.removed:
                req = pb.Request(deregister=pb.DeregisterRequest(
                    instance=identity_to_pb(pb, ep.inst), owner_lease=r.lease))
                op = OP_DEREG_INSTANCE
            else:
                req = pb.Request(register=pb.RegisterRequest(
                    instance=instance_to_pb(pb, ep.inst), lease=r.lease))
                op = OP_REGISTER
            try:
                if self._send(r, req, op, ep.uid, ep.gen):
                    ep.sent[i] = ep.gen
            except E.LimitExceeded as e:
                ep.failed[i] = ep.gen  # this generation can never be sent
                ep.refusal[i] = e
                self.emit(r, EventKind.REGISTER_FAILED, e, ep.inst)
                self.c.cond.notify_all()

    # ---- responses -----------------------------------------------------------------

    def _response(self, r: Reg, rs: Any) -> None:
        if rs.id == 0 and rs.error != 0:
            self._verdict(r, rs)
            return
        which = rs.WhichOneof("result")
        p = r.pend.pop(rs.id, None) if which != "watch_event" else None
        if p is None:
            self._watch_event(r, rs)
            return
        op, uid, gen = p[0], p[1], p[2]
        err = E.error_for_code(rs.error, rs.message, r.name) if rs.error else None
        if op == OP_OPEN:
            if err is not None:
                r.refusal = err
                self._fail(r, err)
                return
            r.refusal = None
            r.lease, r.ttl = rs.open_lease.lease, rs.open_lease.ttl_seconds
            r.lease_state = LEASE_OK
            r.backoff.attempt = 0  # only a working lease proves the registry healthy
            self.emit(r, EventKind.LEASE)
            self._sync(r)
            self._heartbeat_restart(r)  # the interval follows the granted TTL
        elif op == OP_HEARTBEAT:
            self._on_heartbeat(r, rs, err)
        elif op in (OP_REGISTER, OP_DEREG_INSTANCE):
            self._on_ack(r, op, uid, gen, rs, err)
        elif op == OP_AUTH:
            # Said once, as libroster does; every request after it is
            # refused on its own (UNSUPPORTED: a registry before tokens).
            if err is not None and not isinstance(err, E.Unsupported):
                r.refusal = err
                self.emit(r, EventKind.REGISTER_FAILED, err)
        elif op == OP_DEREG_LEASE:
            r.dereg_id = 0
            self.emit(r, EventKind.DEREGISTERED, err, revision=rs.deregister.revision)
            r.lease = 0
            self.draining -= 1
            if self.draining == 0:
                self._close_all()

    def _on_heartbeat(self, r: Reg, rs: Any, err: Optional[E.RosterError]) -> None:
        r.hb_id = 0
        if isinstance(err, E.UnknownLease):
            self._lease_lost(r, err)
            self._sync(r)
            return
        if err is not None:
            self._fail(r, err)
            return
        if rs.heartbeat.ttl_seconds > 0:
            r.ttl = rs.heartbeat.ttl_seconds
        if r.lease_state == LEASE_PENDING:
            r.lease_state = LEASE_OK
            r.backoff.attempt = 0
        # The registry kept the lease but holds fewer instances than it
        # acknowledged (restored from an older copy): register them again.
        i = r.idx
        held = sum(1 for ep in self.c._eps if not ep.removed and ep.acked[i] == ep.gen)
        inflight = any(ep.sent[i] for ep in self.c._eps)
        if not inflight and rs.heartbeat.instances < held:
            for ep in self.c._eps:
                if not ep.removed:
                    ep.acked[i] = 0
        self.emit(r, EventKind.HEARTBEAT)
        self._sync(r)

    def _on_ack(self, r: Reg, op: int, uid: int, gen: int, rs: Any,
                err: Optional[E.RosterError]) -> None:
        ep = self.c._ep_by_uid(uid)
        if ep is None:
            return
        i = r.idx
        if ep.sent[i] == gen:
            ep.sent[i] = 0
        if gen != ep.gen:
            self._sync(r)  # send the newer generation
            return
        if isinstance(err, E.UnknownLease):
            self._lease_lost(r, err)
            self._sync(r)
            return
        if op == OP_DEREG_INSTANCE:
            if err is None or isinstance(err, E.NotFound):
                ep.acked[i] = ep.gen
                self.c._drop_if_done(ep)
            return
        if err is None:
            ep.acked[i] = ep.gen
            ep.refusal[i] = None
            self.emit(r, EventKind.REGISTERED, ep=ep.inst, revision=rs.register.revision)
        else:
            if err.code not in E.TRANSIENT_CODES:
                ep.failed[i] = ep.gen
            ep.refusal[i] = err
            self.emit(r, EventKind.REGISTER_FAILED, err, ep.inst)
        self.c.cond.notify_all()

    def _verdict(self, r: Reg, rs: Any) -> None:
        """An id-0 error: the registry's verdict on the whole connection."""
        culprit = None
        if rs.error == pb.FRAME_TOO_LARGE:
            regs = [p for p in r.pend.values() if p[0] == OP_REGISTER]
            culprit = max(regs, key=lambda p: p[4]) if regs else None
        err = E.error_for_code(rs.error, rs.message, r.name)
        self._fail(r, err)
        ep = self.c._ep_by_uid(culprit[1]) if culprit else None
        if ep is not None and culprit is not None and ep.gen == culprit[2] and not ep.removed:
            ep.failed[r.idx] = ep.gen
            ep.refusal[r.idx] = E.LimitExceeded(err.message, server=r.name)
            self.emit(r, EventKind.REGISTER_FAILED, ep.refusal[r.idx], ep.inst)
            self.c.cond.notify_all()

    def _lease_lost(self, r: Reg, err: E.RosterError) -> None:
        self.emit(r, EventKind.LEASE_LOST, err)
        r.lease, r.lease_state = 0, LEASE_NONE
        for ep in list(self.c._eps):
            ep.sent[r.idx] = ep.failed[r.idx] = 0
            ep.acked[r.idx] = ep.gen if ep.removed else 0
            self.c._drop_if_done(ep)

    # ---- stopping ------------------------------------------------------------------

    def _begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        for r in self.regs:
            r.timer_at = NEVER
            if r.state == CONNECTED and r.lease != 0:
                req = pb.Request(deregister=pb.DeregisterRequest(lease=r.lease))
                r.dereg_id = 1  # counted before the send, which may fail the registry
                self.draining += 1
                if self._send(r, req, OP_DEREG_LEASE):
                    r.dereg_id = req.id
        if self.draining <= 0:
            self._close_all()
            return
        self.stop_deadline = time.monotonic() + self.c.timeout

    def _close_all(self) -> None:
        for r in self.regs:
            if r.sock is not None:
                try:
                    self.sel.unregister(r.sock)
                except (KeyError, ValueError):
                    pass
                r.sock.close()
                r.sock = None
            r.state = CLOSED
            r.timer_at = NEVER
        self.stop_deadline = NEVER
        self.closed = True

    # ---- watches -------------------------------------------------------------------

    def _watch_sync(self, r: Reg) -> None:
        c = self.c
        if not c._watches and not c._cancels:
            return
        if self.watch_reg is not None and self.watch_reg != r.idx:
            return
        if self.watch_reg is None:
            self.watch_reg = r.idx
            if self.watch_prev != r.idx:
                # Revisions are per registry: start the new one from a snapshot.
                for w in c._watches:
                    w.last_revision = 0
                self.watch_prev = r.idx
        cancels, c._cancels = c._cancels, []
        for wid in cancels:
            if not self._send(r, pb.Request(cancel_watch=pb.CancelWatchRequest(watch_id=wid)),
                              -1):
                return
        for w in list(c._watches):
            if w.subscribed:
                continue
            req = pb.Request(watch=pb.WatchRequest(service=w.service,
                                                   since_revision=w.last_revision))
            if not self._send(r, req, -1):
                return
            w.req_id, w.subscribed, w.in_snapshot = req.id, True, False

    def _watch_lost(self, r: Reg) -> None:
        self.watch_reg = None
        for w in list(self.c._watches):
            was = w.subscribed
            w.subscribed = w.in_snapshot = False
            if was:
                w.push(WatchEvent(WatchKind.RESYNC, w.last_revision, None, "", r.name))
        for o in self.regs:
            if o is not r and o.state == CONNECTED and self.watch_reg is None:
                self._watch_sync(o)

    def _watch_event(self, r: Reg, rs: Any) -> None:
        for w in self.c._watches:
            if not w.subscribed or w.req_id != rs.id:
                continue
            if rs.error != 0 or rs.WhichOneof("result") != "watch_event":
                # Refused or ended: asked again at the next tick, from a snapshot.
                w.subscribed = w.in_snapshot = False
                w.last_revision = 0
                return
            ev = rs.watch_event
            kind = WatchKind(ev.kind)
            # The stream's revision is authoritative, even when it goes down
            # (a registry restarted empty counts from 0 again). A snapshot's
            # revision holds once it is complete; the UPSERTs inside carry
            # each instance's own, older revision.
            if kind == WatchKind.SNAPSHOT_BEGIN:
                w.in_snapshot, w.last_revision = True, 0
            elif kind == WatchKind.SNAPSHOT_END:
                w.in_snapshot, w.last_revision = False, ev.revision
            elif not w.in_snapshot:
                w.last_revision = ev.revision
            inst = instance_from_pb(ev.instance) if ev.HasField("instance") else None
            w.push(WatchEvent(kind, ev.revision, inst, ev.reason, r.name))
            return
