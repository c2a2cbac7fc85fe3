"""The Client: the wanted endpoints kept alive by the engine thread, the
synchronous calls (queries, one-shot writes) on short connections, and
watches. See the package's docstring for the model."""
from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from . import errors as E
from . import sites
from .cache import Cache
from .engine import Engine, Ep, WatchState
from .model import (Event, Instance, ListResult, Outcome, OutcomeKind, QueryResult,
                    ServiceSummary, Status, WatchEvent, WriteResult, identity_to_pb,
                    instance_from_pb, instance_to_pb, make_instance)
from .names import check_label, parse_server
from .ring import ring_owner
from .wire import call, encode, pb

log = logging.getLogger("roster")

_END = object()


class Watch:
    """Changes of a service (or of all) as an iterator of WatchEvent.

    The stream starts with a snapshot (SNAPSHOT_BEGIN, UPSERT..., SNAPSHOT_END),
    then UPSERT/REMOVE as changes happen. When the connection drops a RESYNC
    event comes, and after the reconnect the watch resumes from the last
    revision seen (the registry sends a snapshot when its journal does not
    reach back that far, or when the watch moved to another registry).
    Iteration ends when the watch is cancelled or the client closed."""

    def __init__(self, client: "Client", service: str) -> None:
        self._client = client
        self._q: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._state = WatchState(service, self._q.put)
        self._done = False

    def get(self, timeout: Optional[float] = None) -> Optional[WatchEvent]:
        """The next event, or None after @p timeout seconds (or at the end)."""
        if self._done:
            return None
        try:
            ev = self._q.get(timeout=timeout)
        except queue.Empty:
            return None
        if ev is _END:
            self._done = True
            return None
        return ev

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        ev = self.get()
        if ev is None:
            raise StopIteration
        return ev

    def cancel(self) -> None:
        """Stop the watch (CancelWatch at the registry); iteration ends."""
        self._client._watch_cancel(self)
        self._q.put(_END)

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


class Client:
    """A client of one site's registries.

    servers: "ADDRESS:PORT" strings (IP literals); default from
    ROSTER_SERVER, then @p site in the sites file, then 127.0.0.1:7600.
    ttl: the lease TTL in seconds (1..3600). timeout: seconds for a connect
    plus one exchange, per registry. backoff_min/backoff_max: the reconnect
    backoff in seconds. max_stale: how long a stale query copy is served.
    cache_path: a file for the query copies (libroster's format), or None.
    on_event: called with every engine Event, on the engine thread, under
    the client's lock: it must not block nor call close().
    token: the API token for registries started with --api-tokens (sent
    as Authenticate first on every connection); a refusal raises
    PermissionDenied from the calls it affects. Default: ROSTER_TOKEN.

    One client holds one lease per registry for all its endpoints: create
    one per process (roster.register() shares one for you).
    """

    def __init__(self, servers: Optional[Sequence[str]] = None, *, site: Optional[str] = None,
                 sites_path: Optional[str] = None, ttl: int = 10, timeout: float = 2.0,
                 backoff_min: float = 0.1, backoff_max: float = 10.0,
                 max_stale: float = 3600.0, cache_path: Optional[str] = None,
                 on_event: Optional[Callable[[Event], None]] = None,
                 token: Optional[str] = None) -> None:
        if not isinstance(ttl, int) or not 1 <= ttl <= 3600:
            raise E.InvalidArgument(f"lease TTL {ttl!r} s out of range (1-3600)")
        if timeout <= 0 or backoff_min <= 0 or backoff_max <= 0 or max_stale <= 0:
            raise E.InvalidArgument("timeout, backoff and max_stale must be positive")
        self.servers: List[str] = sites.resolve(servers, site, sites_path)
        self.addrs = [parse_server(s) for s in self.servers]
        self.ttl, self.timeout = ttl, float(timeout)
        self.backoff_min, self.backoff_max = float(backoff_min), float(backoff_max)
        self.on_event = on_event
        if token is None:
            token = os.environ.get("ROSTER_TOKEN") or None
        if token is not None and (not isinstance(token, str) or token == ""
                                  or "\0" in token):
            raise E.InvalidArgument("token must be a non-empty string without NUL")
        self.token: Optional[str] = token
        self.cache = Cache(cache_path, max_stale)
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self._ids = itertools.count(1)
        self._uids = itertools.count(1)
        self._eps: List[Ep] = []
        self._watches: List[WatchState] = []
        self._cancels: List[int] = []
        self._engine: Optional[Engine] = None
        self._closed = False

    # ---- engine ----------------------------------------------------------------

    def start(self) -> "Client":
        """Start the engine thread (idempotent). Returns the client."""
        with self.lock:
            if self._closed:
                raise E.StateError("client closed")
            if self._engine is None:
                self._engine = Engine(self)
                self._engine.start()
        return self

    def close(self) -> None:
        """Deregister the lease at every connected registry (waiting at most
        timeout), stop the engine thread, end every watch. Idempotent."""
        with self.lock:
            if self._closed:
                return
            self._closed = True
            eng = self._engine
            watches = list(self._watches)
        if eng is not None:
            eng.stop()
        for w in watches:
            w.push(_END)

    def __enter__(self) -> "Client":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _kick(self) -> None:
        if self._engine is not None:
            self._engine.kick()

    def _next_id(self) -> int:
        return next(self._ids)

    def _emit(self, ev: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # a callback's bug must not stop the heartbeats
                log.exception("roster: on_event callback failed")

    def _live_eps(self) -> int:
        return sum(1 for e in self._eps if not e.removed)

    def _ep_by_uid(self, uid: int) -> Optional[Ep]:
        for e in self._eps:
            if e.uid == uid:
                return e
        return None

    def _find(self, inst: Instance) -> Optional[Ep]:
        ident = inst.identity
        for e in self._eps:
            if e.inst.identity == ident:
                return e
        return None

    def _drop_if_done(self, ep: Ep) -> bool:
        if ep.removed and all(a == ep.gen for a in ep.acked):
            self._eps.remove(ep)
            return True
        return False

    # ---- the wanted endpoints ----------------------------------------------------

    def add(self, service: Any, protocol: Optional[str] = None, host: Optional[str] = None,
            port: Optional[int] = None, **fields: Any) -> Instance:
        """Add an endpoint (an Instance, or its fields) to the wanted set, or
        update it when its identity is there already. Registered with every
        registry under the client's lease as soon as the engine is connected.
        Does not wait (see wait()). InvalidName/InvalidArgument for a bad
        field, LimitExceeded when its registration is over 1 MiB."""
        inst = service if isinstance(service, Instance) else \
            make_instance(service, protocol, host, port, **fields)  # type: ignore[arg-type]
        inst.check()
        encode(pb.Request(id=2**64 - 1, register=pb.RegisterRequest(
            instance=instance_to_pb(pb, inst), lease=2**64 - 1)))  # LimitExceeded
        with self.lock:
            ep = self._find(inst)
            if ep is not None:
                ep.inst, ep.removed = inst, False
                ep.gen += 1
            else:
                self._eps.append(Ep(next(self._uids), inst, len(self.servers)))
            self._kick()
        return inst

    def remove(self, inst: Instance) -> None:
        """Remove an endpoint from the wanted set and deregister it everywhere.
        NotFound when this client does not hold it."""
        inst.check(identity_only=True)
        with self.lock:
            ep = self._find(inst)
            if ep is None or ep.removed:
                raise E.NotFound(f"endpoint {inst} is not registered by this client")
            if self._engine is None:
                self._eps.remove(ep)
            else:
                ep.removed = True
                ep.gen += 1
                self._kick()

    def set_status(self, inst: Instance, status: Status) -> None:
        """STARTING -> UP once ready, UP -> DOWN to drain, at every registry;
        kept across re-registrations."""
        if status not in (Status.STARTING, Status.UP, Status.DOWN):
            raise E.InvalidArgument(f"invalid status {status!r}")
        with self.lock:
            ep = self._find(inst)
            if ep is None or ep.removed:
                raise E.NotFound(f"endpoint {inst} is not registered by this client")
            from dataclasses import replace
            ep.inst = replace(ep.inst, status=Status(status))
            ep.gen += 1
            self._kick()

    def wait(self, timeout: float) -> None:
        """Wait until every wanted endpoint is settled since it last changed:
        registered by at least one registry, or refused by one (the events
        tell which). Timeout when not within @p timeout seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            if self._engine is None:
                raise E.StateError("wait() needs start()")
            while not self._settled():
                left = deadline - time.monotonic()
                if left <= 0 or self._engine.closed:
                    raise E.Timeout(f"endpoints not registered within {timeout:g} s")
                self.cond.wait(left)

    def _refusal(self, inst: Instance) -> Optional[E.RosterError]:
        """Why no registry holds @p inst: the first registry's refusal of it,
        else of the token or the lease; None when one holds it or none said
        why (not answered yet, unreachable)."""
        with self.lock:
            ep = self._find(inst)
            if ep is None or self._engine is None or any(a == ep.gen for a in ep.acked):
                return None
            for i, r in enumerate(self._engine.regs):
                err = ep.refusal[i] or r.refusal
                if err is not None:
                    return err
            return None

    def _settled(self) -> bool:
        return all(any(a == e.gen or f == e.gen for a, f in zip(e.acked, e.failed))
                   for e in self._eps if not e.removed)

    def leases(self) -> Dict[str, int]:
        """The lease held at each registry (0: none now)."""
        with self.lock:
            if self._engine is None:
                return {s: 0 for s in self.servers}
            return {r.name: r.lease for r in self._engine.regs}

    # ---- synchronous calls ---------------------------------------------------------

    def _first(self, make: Callable[[int], Any], want: str, what: str) -> tuple:
        """The first registry's answer, in list order; a registry's error is
        raised at once (it answered), Unreachable when none answered."""
        why = []
        for name, addr in zip(self.servers, self.addrs):
            try:
                rs = call(addr, make(next(self._ids)), self.timeout, self.token)
            except E.Unreachable as e:
                why.append(e.message)
                continue
            if rs.error != 0:
                raise E.error_for_code(rs.error, f"{what}: {rs.message}", name)
            if rs.WhichOneof("result") != want:
                raise E.ProtocolError(f"{what}: registry {name}: answer without a result",
                                      server=name)
            return getattr(rs, want), name
        raise E.Unreachable(f"{what}: no registry answered: {'; '.join(why)}")

    def query(self, service: str, protocol: Optional[str] = None, *,
              include_down: bool = False, use_cache: bool = True) -> QueryResult:
        """Instances of a service (every protocol when @p protocol is None),
        UP only unless @p include_down, from the first registry that answers.
        When none answers, the last-known-good copy marked stale (for up to
        max_stale seconds after it was fetched); Unreachable when there is
        none. A registry's error answer is raised, never hidden by the copy."""
        check_label("service", service)
        if protocol:
            check_label("protocol", protocol)
        key = (service, protocol or "", bool(include_down))

        def make(rid: int) -> Any:
            return pb.Request(id=rid, query=pb.QueryRequest(
                service=service, protocol=protocol or "", include_down=include_down))
        try:
            q, server = self._first(make, "query", "query")
        except E.Unreachable:
            copy = self.cache.get(key, int(time.time() * 1000)) if use_cache else None
            if copy is None:
                raise
            return copy
        r = QueryResult([instance_from_pb(i) for i in q.instances], q.revision, q.preserving,
                        False, int(time.time() * 1000), server)
        self.cache.put(key, r)
        return r

    def list(self) -> ListResult:
        """Every service of the first registry that answers, with counts."""
        li, server = self._first(lambda rid: pb.Request(id=rid, list=pb.ListRequest()),
                                 "list", "list")
        return ListResult([ServiceSummary(s.service, s.protocol, s.up, s.down, s.starting,
                                          s.stale) for s in li.services], li.revision, server)

    def stats(self) -> Dict[str, Any]:
        """The first answering registry's Stats, as a dict of its fields
        (plus "server")."""
        st, server = self._first(lambda rid: pb.Request(id=rid, stats=pb.StatsRequest()),
                                 "stats", "stats")
        out: Dict[str, Any] = {f.name: getattr(st, f.name) for f in st.DESCRIPTOR.fields}
        out["client_reports"] = dict(st.client_reports)
        out["server"] = server
        return out

    def ring_owner(self, service: str, protocol: str, key: str) -> Optional[Instance]:
        """The UP instance owning @p key on the service's hash ring (the ring
        of the registry's _ring TXT records and of `roster ring`)."""
        return ring_owner(self.query(service, protocol).instances, key)

    def _all(self, make: Callable[[int], Any], what: str) -> WriteResult:
        """A write to every registry, with libroster's verdict: success when
        every registry applied it or did not know the instance (one at least
        applied it); PartialWrite when one applied it and another refused it
        or did not answer; otherwise the worst outcome, refused >
        unreachable > not found. It does not depend on the list's order."""
        outs: List[Outcome] = []
        for name, addr in zip(self.servers, self.addrs):
            try:
                rs = call(addr, make(next(self._ids)), self.timeout, self.token)
            except E.LimitExceeded as e:
                outs.append(Outcome(name, OutcomeKind.REFUSED, 0, e))
                continue
            except E.RosterError as e:  # no answer: it may or may not hold it
                outs.append(Outcome(name, OutcomeKind.UNREACHABLE, 0, e))
                continue
            if rs.error == 0:
                res = rs.WhichOneof("result")
                rev = getattr(rs, res).revision if res else 0
                outs.append(Outcome(name, OutcomeKind.APPLIED, rev))
            else:
                err = E.error_for_code(rs.error, f"{what}: {rs.message}", name)
                kind = OutcomeKind.NOT_FOUND if rs.error == E.NOT_FOUND else OutcomeKind.REFUSED
                outs.append(Outcome(name, kind, 0, err))
        kinds = [o.kind for o in outs]
        applied = [o for o in outs if o.kind == OutcomeKind.APPLIED]
        worst = next((k for k in (OutcomeKind.REFUSED, OutcomeKind.UNREACHABLE)
                      if k in kinds), OutcomeKind.NOT_FOUND)
        rev = applied[0].revision if applied else 0
        if applied and worst == OutcomeKind.NOT_FOUND:
            return WriteResult(rev, tuple(outs))
        first = next(o for o in outs if o.kind == worst)
        msg = first.error.message if first.error else ""
        if applied:
            raise E.PartialWrite(f"{what}: registry {first.server}: {msg} (applied at "
                                 f"{applied[0].server})", outs, rev, first.server)
        assert first.error is not None
        raise first.error

    def deregister(self, inst: Instance) -> WriteResult:
        """Deregister one instance (anyone's) at every registry (see _all)."""
        inst.check(identity_only=True)
        return self._all(lambda rid: pb.Request(id=rid, deregister=pb.DeregisterRequest(
            instance=identity_to_pb(pb, inst))), "deregister")

    def set_instance_status(self, inst: Instance, status: Status) -> WriteResult:
        """Set one instance's status at every registry (see _all)."""
        if status not in (Status.STARTING, Status.UP, Status.DOWN):
            raise E.InvalidArgument(f"invalid status {status!r}")
        inst.check(identity_only=True)
        return self._all(lambda rid: pb.Request(id=rid, set_status=pb.SetStatusRequest(
            instance=identity_to_pb(pb, inst), status=int(status))), "status")

    def register_permanent(self, inst: Instance) -> WriteResult:
        """Register one instance without a lease ("expires NEVER") at every
        registry, without the engine (see _all)."""
        inst.check()
        return self._all(lambda rid: pb.Request(id=rid, register=pb.RegisterRequest(
            instance=instance_to_pb(pb, inst), lease=0)), "register")

    # ---- watches ------------------------------------------------------------------

    def watch(self, service: Optional[str] = None) -> Watch:
        """Watch a service's changes (every service with None); starts the
        engine if needed. See Watch."""
        if service:
            check_label("service", service)
        w = Watch(self, service or "")
        with self.lock:
            if self._closed:
                raise E.StateError("client closed")
            self._watches.append(w._state)
        self.start()
        self._kick()
        return w

    def _watch_cancel(self, w: Watch) -> None:
        with self.lock:
            if w._state in self._watches:
                self._watches.remove(w._state)
                if w._state.subscribed:
                    self._cancels.append(w._state.req_id)
                    self._kick()


# ---- one lease per process ----------------------------------------------------------

class Registration:
    """One endpoint registered through register(): a context manager whose
    exit removes the endpoint (and closes the shared client with the last
    one)."""

    def __init__(self, client: Client, instance: Instance) -> None:
        self.client, self.instance = client, instance
        self._open = True

    def wait(self, timeout: float) -> None:
        self.client.wait(timeout)

    def set_status(self, status: Status) -> None:
        self.client.set_status(self.instance, status)

    def close(self) -> None:
        global _shared
        with _shared_lock:
            if not self._open:
                return
            self._open = False
            try:
                self.client.remove(self.instance)
            except E.NotFound:
                pass
            if _shared is not None and _shared[1] is self.client and \
                    self.client._live_eps() == 0:
                _shared = None
                last = True
            else:
                last = False
        if last:
            self.client.close()

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_shared_lock = threading.Lock()
_shared: Optional[tuple] = None  # (pid, Client, config)


def register(service: str, protocol: str, host: str, port: int, *,
             servers: Optional[Sequence[str]] = None, site: Optional[str] = None,
             ttl: int = 10, wait: Optional[float] = None,
             addresses: Sequence[str] = (), priority: int = 0, weight: int = 0,
             metadata: Optional[Mapping[str, str]] = None,
             status: Status = Status.UNSPECIFIED, **client_kw: Any) -> Registration:
    """Register an endpoint with every registry of the site and keep it alive
    in the background; `with roster.register(...):` deregisters at the end.

    Every call in a process shares one Client (one lease per registry, one
    heartbeat for all the endpoints); a call naming other registries or
    another TTL than the first is refused with StateError (make a Client
    for that). wait: seconds to wait for the first acknowledgement, None to
    return at once; when no registry acknowledged it, the refusal of the
    registries that answered is raised (InvalidName, LimitExceeded,
    PermissionDenied...), else Timeout."""
    global _shared
    inst = make_instance(service, protocol, host, port, addresses=addresses,
                         priority=priority, weight=weight, metadata=metadata, status=status)
    resolved = sites.resolve(servers, site)
    config = (tuple(resolved), ttl, tuple(sorted(client_kw.items())))
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():  # a forked child starts afresh
            _shared = (os.getpid(), Client(resolved, ttl=ttl, **client_kw).start(), config)
        elif _shared[2] != config:
            raise E.StateError("one lease per process: this process registers with "
                               f"{list(_shared[2][0])} (TTL {_shared[2][1]} s) already")
        client = _shared[1]
        client.add(inst)
    reg = Registration(client, inst)
    if wait is not None:
        try:
            _wait_registered(client, inst, wait)
        except BaseException:
            reg.close()
            raise
    return reg


def _wait_registered(client: Client, inst: Instance, wait: float) -> None:
    """Until a registry holds @p inst. A refusal by every registry that
    answered is raised as the registry said it (InvalidName, LimitExceeded,
    PermissionDenied...), not taken for success, nor left as a bare Timeout:
    the service must not believe itself discoverable."""
    try:
        client.wait(wait)
    except E.Timeout as t:
        err = client._refusal(inst)
        if err is None:
            raise
        raise type(err)(f"not registered within {wait:g} s: {err.message}", code=err.code,
                        server=err.server) from t
    err = client._refusal(inst)
    if err is not None:
        raise err
