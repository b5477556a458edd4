"""Moderation state written through to the durable store, with the engine as its cache.

:class:`DurableState` wraps the engine's :class:`~rooms.engine.StateStore`. Moderation and
the chat service keep calling the state store as before; what they build up is written to
the store first, then to the engine, and read from the engine (rooms themselves go through
:class:`~chatserver.durable_directory.DurableDirectory`):

============================  ===============================================================
engine state                  in the store
============================  ===============================================================
``<room> roles <user>``       roles
``<room> bans|mutes <user>``  restrictions (ban, timeout with its expiry)
``<room> settings room|pin``  the room's ``settings``; ``limits``: the room's ``limits``
``<scope> terms <key>``       terms (per room, and global): the scope's whole list, in one
                              transaction, when moderation bumps its ``terms_version``
``<room> review <id>``        held messages and reports; the ``review_done`` claim is the
                              store's atomic decision (one of racing moderators wins)
log ``audit``                 the audit log (90 days; the engine's bounded log is read, and
                              the store's older entries after it)
============================  ===============================================================

**The cache.** Every value is written to the engine with a TTL (:data:`VALUE_TTL`, or its own
if shorter), so no Redis key of it lives for ever. Each scope (a room, or the global scope)
has a marker (``durable/loaded``) with a shorter TTL (:data:`MARK_TTL`), set after the scope
was loaded from the store; a read that finds no marker (the cache expired, Redis came back
empty, or this is a new node) first reloads the scope's roles, restrictions, settings, terms
and pending review items from the store. On Redis (which may be emptied at any time) reads of
a room fetch the marker in the same round trip, and the global scope's alongside; over the
memory engine, which only this process writes, the node knows when its markers expire and
reads none.

Everything else (slow-mode claims, flood counters, report claims, deleted markers, token
buckets, the flags log) stays in the engine only, each with a TTL or a bound.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from moderation.model import (
    AUDIT_LOG,
    NS_BANS,
    NS_META,
    NS_MUTES,
    NS_RESOLVED,
    NS_REVIEW,
    NS_ROLES,
    NS_SETTINGS,
    NS_TERMS,
)
from rooms.engine import EngineUnavailable, StateStore
from rooms.store import Restriction, Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

MARK_NS, MARK_KEY = "durable", "loaded"
MARK_TTL = 3600.0
VALUE_TTL = 2 * MARK_TTL  # outlives the marker, so a marked scope never misses a value
UNMARKED_TTL = 86400.0  # engine-only entries written without a TTL
CACHED = frozenset({NS_ROLES, NS_BANS, NS_MUTES, NS_SETTINGS, NS_TERMS, NS_META, NS_REVIEW})
RESTRICTION_KINDS = {NS_BANS: "ban", NS_MUTES: "timeout"}
LOAD_REVIEW = 1000  # pending held messages and reports reloaded per room


class DurableState(StateStore):
    """The engine's state store with the durable store behind it (see the module docstring)."""

    def __init__(self, inner: StateStore, store: Store, *, volatile: bool = True, clock=time.time) -> None:
        self.inner = inner
        self.store = store
        self.clock = clock
        # A cache only this process writes (the memory engine) loses nothing behind its back:
        # a marker it set is there until its TTL, so that is known here without reading it.
        # A shared one (Redis) may be emptied at any time: its markers are read.
        self.volatile = volatile
        self._marked: dict[str, float] = {}
        self._loads: dict[str, asyncio.Future] = {}
        #: Gives a room its row in the store before anything of it is written there (set by
        #: :class:`~chatserver.durable.DurableEngine` to its directory's ``record``).
        self.record_room: Callable[[str], Awaitable[None]] | None = None
        self.loads = 0
        # Nothing of a token bucket is durable: the engine's own call, with no coroutine of
        # this wrapper around it (a send takes two buckets). The method below says the same.
        self.take_token = inner.take_token

    # The store, its errors as the engine's ------------------------------------------------

    async def guard(self, awaitable):
        """Await a store call, its errors as the engine's."""
        return await self._s(awaitable)

    async def _s(self, awaitable):
        try:
            return await awaitable
        except StoreUnavailable:
            raise
        except StoreError as exc:  # a bound reached, ...: the write is refused, clearly
            raise EngineUnavailable(str(exc)) from None

    # Loading a scope --------------------------------------------------------------------------

    def _known(self, scope: str) -> bool:
        return not self.volatile and self._marked.get(scope, 0.0) > time.monotonic()

    def needs_marker(self, scope: str, reads: list[tuple[str, str]]) -> bool:
        """Whether reads of ``scope`` must fetch its marker alongside (see :meth:`get_many`)."""
        return bool(scope) and not self._known(scope) and any(ns in CACHED for ns, _ in reads)

    async def reload(self, scope: str) -> None:
        """A read found no marker: refill the scope from the store."""
        await self._load(scope)

    async def _ensure_loaded(self, scope: str) -> None:
        if self._known(scope):
            return
        if await self.inner.get(scope, MARK_NS, MARK_KEY) is None:
            await self._load(scope)

    async def _load(self, scope: str) -> None:
        """Refill the engine with the scope's durable state (one load per scope per node at
        a time)."""
        running = self._loads.get(scope)
        if running is None:
            running = asyncio.ensure_future(self._fill(scope))
            self._loads[scope] = running
            running.add_done_callback(lambda _: self._loads.pop(scope, None))
        await asyncio.shield(running)

    async def _fill(self, scope: str) -> None:
        now = self.clock()
        s = self.store
        writes: list[tuple[str, str, Any, float]] = []
        terms = await self._s(s.terms(scope))
        for key, term in terms.items():
            writes.append((NS_TERMS, key, term, VALUE_TTL))
        if terms:
            version = hashlib.sha1(json.dumps(terms, sort_keys=True).encode()).hexdigest()[:16]
            writes.append((NS_META, "terms_version", version, VALUE_TTL))
        for r in await self._s(s.restrictions(scope, now=now)):
            left = VALUE_TTL if r.until is None else min(VALUE_TTL, r.until - now)
            if left <= 0:
                continue
            if r.kind == "ban":
                writes.append((NS_BANS, r.user_id, r.data or {"reason": r.reason or "", "by": r.by,
                                                              "time": r.created_at}, left))
            else:
                writes.append((NS_MUTES, r.user_id, r.data or {"until": r.until, "reason": r.reason or "",
                                                              "by": r.by}, left))
        if scope:
            for user_id, role in (await self._s(s.roles(scope))).items():
                writes.append((NS_ROLES, user_id, {"role": role, "by": None, "time": 0}, VALUE_TTL))
            rec = await self._s(s.get_room(scope))
            if rec is not None:
                for key, value in rec.settings.items():
                    writes.append((NS_SETTINGS, key, value, VALUE_TTL))
                if rec.limits:
                    writes.append((NS_SETTINGS, "limits", rec.limits, VALUE_TTL))
            for item in (await self._s(s.held(scope, limit=LOAD_REVIEW))
                         + await self._s(s.reports(scope, limit=LOAD_REVIEW))):
                writes.append((NS_REVIEW, item.id, item.item, VALUE_TTL))
        for i in range(0, len(writes), 100):
            await asyncio.gather(*(self.inner.set(scope, ns, key, value, ttl=ttl)
                                   for ns, key, value, ttl in writes[i:i + 100]))
        await self.inner.set(scope, MARK_NS, MARK_KEY, True, ttl=MARK_TTL)
        if not self.volatile:
            self._marked[scope] = time.monotonic() + MARK_TTL - 60.0
        self.loads += 1
        log.info("scope %r reloaded from the store (%d entries)", scope or "global", len(writes))

    # Reads ------------------------------------------------------------------------------------

    # get and get_many are no coroutines themselves: a read the engine answers alone (its
    # namespace is not the store's, or the scope is known loaded) is the engine's own call,
    # with no coroutine of this wrapper around it (a send makes two such reads).

    def get(self, scope, ns, key):
        if ns not in CACHED or self._known(scope):
            return self.inner.get(scope, ns, key)
        return self._get_marked(scope, ns, key)

    async def _get_marked(self, scope, ns, key):
        if not scope:  # the global scope reads key by key: the marker alongside, not after
            value, mark = await asyncio.gather(self.inner.get(scope, ns, key),
                                               self.inner.get(scope, MARK_NS, MARK_KEY))
        else:
            value, mark = await self.inner.get_many(scope, [(ns, key), (MARK_NS, MARK_KEY)])
        if mark is None:
            await self._load(scope)
            return await self.inner.get(scope, ns, key)
        return value

    def get_many(self, scope, reads):
        if scope and (self._known(scope) or not any(ns in CACHED for ns, _ in reads)):
            return self.inner.get_many(scope, reads)
        return self._get_many_marked(scope, reads)

    async def _get_many_marked(self, scope, reads):
        if not scope:
            return [await self.get(scope, ns, key) for ns, key in reads]
        values = await self.inner.get_many(scope, [*reads, (MARK_NS, MARK_KEY)])
        if values[-1] is None:
            await self._load(scope)
            values = await self.inner.get_many(scope, reads)
            return values
        return values[:-1]

    async def items(self, scope, ns):
        if ns in CACHED:
            await self._ensure_loaded(scope)
        return await self.inner.items(scope, ns)

    # Writes: the store first, then the engine -----------------------------------------------

    async def set(self, scope, ns, key, value, *, ttl=None):
        if ns in CACHED:
            await self._write_through(scope, ns, key, value)
            ttl = VALUE_TTL if ttl is None else min(ttl, VALUE_TTL)
        await self.inner.set(scope, ns, key, value, ttl=_ttl(ttl))

    async def add(self, scope, ns, key, value, *, ttl=None):
        if ns == NS_RESOLVED and scope:
            if not await self._decide(scope, key, value):
                return False
            return await self.inner.add(scope, ns, key, value, ttl=_ttl(ttl)) or True
        return await self.inner.add(scope, ns, key, value, ttl=_ttl(ttl))

    async def delete(self, scope, ns, key):
        if ns in CACHED:
            await self._ensure_loaded(scope)  # so the answer is the store's, Redis emptied or not
            if ns not in (NS_META, NS_REVIEW, NS_TERMS):
                await self._delete_through(scope, ns, key)
        return await self.inner.delete(scope, ns, key)

    async def _write_through(self, scope: str, ns: str, key: str, value: Any) -> None:
        s = self.store
        if ns == NS_TERMS:
            return  # the scope's whole list is stored at its version bump, in one transaction
        if ns == NS_META and key == "terms_version":
            # Moderation bumps the version after every change of a term list: store the list
            # as the engine has it now (500 terms are one commit, not 500).
            await self._s(s.replace_terms(scope, await self.inner.items(scope, NS_TERMS)))
            return
        if ns in (NS_META, NS_REVIEW) and not scope:
            return
        if self.record_room is not None:
            await self.record_room(scope)
        if ns == NS_ROLES:
            await self._s(s.set_role(scope, key, (value or {}).get("role"), by=(value or {}).get("by")))
        elif ns in RESTRICTION_KINDS:
            v = value or {}
            await self._s(s.restrict(Restriction(
                scope, key, RESTRICTION_KINDS[ns], until=v.get("until"),
                created_at=float(v.get("time") or self.clock()), by=v.get("by"), reason=v.get("reason"),
                data=v if isinstance(value, dict) else None)))
        elif ns == NS_SETTINGS:
            await self._settings(scope, key, value)
        elif ns == NS_REVIEW and isinstance(value, dict):
            if value.get("kind") == "report":
                reporter = value.get("reporter") or {}
                await self._s(s.report(scope, key, value, offset=int(value.get("offset") or 0),
                                       reporter=str(reporter.get("id", "")), user_id=value.get("user_id"),
                                       at=value.get("time")))
            else:
                await self._s(s.hold(scope, key, value, user_id=value.get("user_id"), at=value.get("time")))

    async def _delete_through(self, scope: str, ns: str, key: str) -> bool:
        s = self.store
        if ns == NS_ROLES:
            await self._s(s.set_role(scope, key, None))
            return False
        if ns in RESTRICTION_KINDS:
            return await self._s(s.lift(scope, key, RESTRICTION_KINDS[ns]))
        if ns == NS_SETTINGS:
            await self._settings(scope, key, None, remove=True)
        return False

    async def _settings(self, room: str, key: str, value: Any, *, remove: bool = False) -> None:
        if key == "limits":
            await self._s(self.store.update_room(room, limits={} if remove else dict(value or {})))
            return
        rec = await self._s(self.store.get_room(room))
        settings = dict(rec.settings) if rec is not None else {}
        if remove:
            settings.pop(key, None)
        else:
            settings[key] = value
        await self._s(self.store.update_room(room, settings=settings))

    async def _decide(self, room: str, item_id: str, resolution: Any) -> bool:
        """The review claim, decided by the store: True for the one decider that wins."""
        outcome = resolution if resolution in ("approved", "rejected") else "rejected"
        if str(item_id).startswith("r-"):
            return await self._s(self.store.decide_report(room, item_id, outcome, by="")) is not None
        decided = await self._s(self.store.decide_held(room, item_id, outcome, by=""))
        if decided is not None:
            return True
        if await self._s(self.store.get_held(room, item_id)) is None:  # never reached the store
            return await self.inner.add(room, NS_RESOLVED, item_id, resolution, ttl=VALUE_TTL)
        return False

    # Everything else: the engine --------------------------------------------------------------

    async def take_token(self, key, *, rate, burst, cost=1.0):
        return await self.inner.take_token(key, rate=rate, burst=burst, cost=cost)

    async def log_append(self, scope, log, entry, *, maxlen):
        if log == AUDIT_LOG:
            await self.record_room(scope)
            await self._s(self.store.audit(scope, str(entry.get("action", "")), entry, at=entry.get("time")))
        return await self.inner.log_append(scope, log, entry, maxlen=maxlen)

    async def log_read(self, scope, log, *, limit=100):
        entries = await self.inner.log_read(scope, log, limit=limit)
        if log == AUDIT_LOG and len(entries) < limit:
            # The engine's log is bounded (and is lost with Redis): older actions from the store.
            oldest = min((float(e.get("time") or 0) for e in entries), default=float("inf"))
            stored = await self._s(self.store.audit_log(scope, limit=limit))
            entries += [{**e.entry, "id": f"s{e.id}"} for e in stored if e.at < oldest][:limit - len(entries)]
        return entries


def _ttl(ttl: float | None) -> float:
    return UNMARKED_TTL if ttl is None else ttl
