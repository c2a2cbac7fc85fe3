"""The last-known-good copy of every query answer (libroster's
client/cache.c, same file format, so that both clients read each other's
files).

One copy per (service, protocol, include-down) key, replaced by every
answer. When no registry answers, the copy is served marked stale for up to
max_stale seconds after it was fetched; a copy dated more than a minute in
the future (a wrong clock, a damaged file) has no knowable age and is never
served. The file, when one is given, is rewritten (to a temporary name,
fsync'ed, renamed over the old one) only when an answer's content changed or
the file's copy lags the memory's by more than a minute (at most a quarter
of max_stale): an unchanged answer costs no disk write.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import replace
from typing import Any, Dict, Optional, Tuple

from .model import QueryResult, instance_from_json, instance_to_json

SKEW_MS = 60_000

Key = Tuple[str, str, bool]


def _content(r: QueryResult) -> Any:
    # Not the revision: the registry's, which any write in the site moves
    # (client/cache.c's same_content()).
    return (r.preserving, r.server, [instance_to_json(i) for i in r.instances])


def _result_to_json(r: QueryResult) -> Dict[str, Any]:
    return {"revision": r.revision, "preserving": r.preserving, "stale": False,
            "fetched_at_ms": r.fetched_at_ms, "server": r.server,
            "instances": [instance_to_json(i) for i in r.instances]}


def _result_from_json(d: Dict[str, Any]) -> QueryResult:
    return QueryResult([instance_from_json(i) for i in d.get("instances", [])],
                       int(d["revision"]), bool(d.get("preserving", False)), False,
                       int(d["fetched_at_ms"]), str(d.get("server", "")))


class Cache:
    def __init__(self, path: Optional[str], max_stale_s: float) -> None:
        self.path = path
        self.max_stale_ms = int(max_stale_s * 1000)
        self.refresh_ms = min(60_000, self.max_stale_ms // 4)
        self.entries: Dict[Key, QueryResult] = {}
        self.saved_ms: Dict[Key, int] = {}
        self.dirty = False
        self.lock = threading.Lock()
        if path:
            self._load()

    def _load(self) -> None:
        """A missing or corrupt file is a cold cache, not an error."""
        try:
            with open(self.path, encoding="utf-8") as f:  # type: ignore[arg-type]
                doc = json.load(f)
            entries = {}
            for e in doc["entries"]:
                key = (str(e["service"]), str(e["protocol"]), bool(e["all"]))
                entries[key] = _result_from_json(e["result"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return
        for key, r in entries.items():
            self.entries.setdefault(key, r)
            self.saved_ms.setdefault(key, r.fetched_at_ms)

    def put(self, key: Key, r: QueryResult) -> None:
        with self.lock:
            old = self.entries.get(key)
            if old is None or _content(old) != _content(r):
                self.dirty = True
            self.entries[key] = replace(r, stale=False)
            if self.path and self._save_due():
                try:
                    self._save()
                    self.warned = False
                except OSError as e:
                    # Only a cache: the next answer tries again. Said once
                    # (until a save works), since a path that cannot be
                    # written turns the outage fallback off.
                    if not getattr(self, "warned", False):
                        self.warned = True
                        logging.getLogger("roster").warning(
                            "cannot write the query cache %s (%s): no copy is kept for "
                            "when no registry answers", self.path, e.strerror or e)

    def get(self, key: Key, now_ms: int) -> Optional[QueryResult]:
        """The copy for @p key marked stale, if young enough to serve."""
        with self.lock:
            r = self.entries.get(key)
        if r is None:
            return None
        if r.fetched_at_ms > now_ms + SKEW_MS or now_ms - r.fetched_at_ms > self.max_stale_ms:
            return None
        return replace(r, stale=True, instances=list(r.instances))

    def _save_due(self) -> bool:
        if self.dirty:
            return True
        return any(r.fetched_at_ms - self.saved_ms.get(k, 0) > self.refresh_ms
                   for k, r in self.entries.items())

    def _save(self) -> None:
        doc = {"version": 1, "entries": [
            {"service": k[0], "protocol": k[1], "all": k[2], "result": _result_to_json(r)}
            for k, r in self.entries.items()]}
        tmp = f"{self.path}.tmp.{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(doc, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)  # type: ignore[arg-type]
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.dirty = False
        for k, r in self.entries.items():
            self.saved_ms[k] = r.fetched_at_ms
