"""The moderation facade the server calls: gates, host actions, review queue, audit log.

Promises:

- Every decision is made by the pure functions of :mod:`moderation.roles`,
  :mod:`moderation.terms` and :mod:`moderation.ratelimit`; :class:`Moderation` only reads and
  writes the engine around them.
- Every piece of state lives in the engine (``engine.state`` and ``engine.broker``), never in
  this object, so two :class:`Moderation` instances on two nodes sharing an engine make the
  same decisions. The only node-local data is a cache of compiled term matchers, checked
  against a version stamp in the state store on every use.
- A matcher is compiled once per change of its terms, never per message, and in steps that
  give the event loop a turn every :data:`BUILD_SLICE` seconds, so a long term list never
  stalls other rooms. Rooms without terms of their own share the global matcher (nothing
  compiled or cached for them); the cache of room matchers is bounded by the terms it holds
  (``matcher_cache_terms``), and concurrent sends in a room wait for one build.
- Every host action checks permission (raising ``ModerationError("forbidden")``), changes
  state, writes an audit entry and makes its effect live on every node through the events
  documented in docs/moderation.md. Every filter hit is audited too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from types import MappingProxyType
from typing import Any, Awaitable, Callable, Iterable, Mapping

from moderation import roles as R
from moderation.address_bans import NS_BANNED_ADDRESSES
from moderation.actions import BUILD_SLICE, HostActions, cooperatively  # noqa: F401
from moderation.model import (
    AUDIT_LOG,
    FLAGS_LOG,
    GLOBAL,
    NS_BANS,
    NS_DELETED,
    NS_META,
    NS_MUTES,
    NS_REPORTED,
    NS_RESOLVED,
    NS_REVIEW,
    NS_ROLES,
    NS_SETTINGS,
    NS_TERMS,
    Actor,
    AdmissionReads,
    Decision,
    ModerationError,
    _author_id,
    _author_name,
    _reason,
)
from moderation.normalize import Normalized, normalize
from moderation.ratelimit import (
    REPORT_BURST,
    REPORT_RATE,
    ROOM_REPORT_BURST,
    ROOM_REPORT_RATE,
    Limits,
    RateLimiter,
    Rejection,
    report_bucket,
    room_report_bucket,
)
from moderation.terms import Matcher, Term, check, mask, parse_steps, verdict
from rooms.engine import Engine, Event

log = logging.getLogger(__name__)

LIMITS_REMEMBERED = 10_000  # rooms whose merged limits a node keeps (see _room_limits)
_UNREAD: Any = object()
# What a send reads of its room besides the sender's own entries (see check_send).
_SEND_ROOM_READS = ((NS_SETTINGS, "room"), (NS_SETTINGS, "limits"), (NS_META, "terms_version"))
_NO_SETTINGS: Mapping[str, Any] = MappingProxyType({})
# The roles R.can lets bypass filters (a role it does not know may not), looked up per send.
_EXEMPT = frozenset(role for role in R.RANK if R.can(role, "bypass_filters"))


class Moderation(HostActions):
    """Moderation for every room on this node; state shared through ``engine``."""

    # Set by the server: a message's stored translations, {lang: text}. What quotes a message
    # (the pin, a report, the audit entries of delete/approve/reject) carries them as
    # ``translations``, so a host of another language can read it. None: no translations.
    translations_of: Callable[[str, Event], Awaitable[dict[str, str]]] | None = None

    def __init__(
        self,
        engine: Engine,
        *,
        node_id: str | None = None,
        default_limits: Limits | dict[str, Any] | None = None,
        admin_ids: Iterable[str] = (),
        review_ttl: float = 86400.0,
        audit_maxlen: int = 1000,
        history_scan: int = 500,
        matcher_cache_terms: int = 50_000,
        clock=time.time,
    ) -> None:
        self.engine = engine
        self.state = engine.state
        self.broker = engine.broker
        self.node_id = node_id or getattr(engine, "node_id", "") or "node"
        if isinstance(default_limits, dict):
            default_limits = Limits().merged(default_limits)
        self.default_limits = default_limits or Limits()
        self.admin_ids = frozenset(admin_ids)
        self.review_ttl = review_ttl
        self.audit_maxlen = audit_maxlen
        self.history_scan = history_scan
        self.clock = clock
        self.limiter = RateLimiter(self.state, clock=clock)
        self._limits_seen: dict[str, tuple[dict[str, Any], Limits]] = {}
        # room -> (term versions, matcher): rooms with terms of their own, least recently used
        # first, holding at most matcher_cache_terms compiled terms in all.
        self._matchers: OrderedDict[str, tuple[tuple[Any, Any], Matcher, int]] = OrderedDict()
        self._matcher_cache_terms = matcher_cache_terms
        self._cached_terms = 0
        self._global_matcher: tuple[Any, Matcher] | None = None
        # (room, versions) -> the build in progress, shared by every caller that needs it
        self._builds: dict[tuple[str, tuple[Any, Any]], asyncio.Future] = {}
        self.matcher_builds = 0  # matchers compiled by this node (for tests and metrics)
        # One long term job (parsing, compiling or writing a term list) at a time on this
        # node, so however many run, the loop waits for at most one slice of them per turn.
        self._term_work = asyncio.Lock()

    # Roles ---------------------------------------------------------------------------------

    def is_admin(self, actor: Actor) -> bool:
        """A server admin: by the actor's own (token) claim, or listed in ``admin_ids``. Never
        read from state, so a past token cannot make a later one admin."""
        return actor.admin or actor.user_id in self.admin_ids

    async def role_of(self, room: str, actor: Actor) -> str:
        """admin (server admin) > owner > moderator (room roles) > member/guest (token)."""
        if self.is_admin(actor):
            return R.ADMIN
        if room:
            entry = await self.state.get(room, NS_ROLES, actor.user_id)
            if entry and entry.get("role") in (R.OWNER, R.MODERATOR):
                return entry["role"]
        return R.MEMBER if actor.role_hint == R.MEMBER else R.GUEST

    async def _role_of_user(self, room: str, user_id: str) -> str:
        """Role of a user who is not the caller (tokens unknown: member unless elevated)."""
        return await self.role_of(room, Actor(user_id, "", R.MEMBER))

    async def set_owner(self, room: str, user_id: str, *, replace: bool = False) -> bool:
        """Make ``user_id`` the room's owner (room creation). Without ``replace``, an existing
        owner is kept and False is returned."""
        if not replace:
            for uid, entry in (await self.state.items(room, NS_ROLES)).items():
                if entry.get("role") == R.OWNER and uid != user_id:
                    return False
        await self.state.set(room, NS_ROLES, user_id,
                             {"role": R.OWNER, "by": user_id, "time": self.clock()})
        return True

    async def moderators(self, room: str) -> dict[str, str]:
        """user_id -> "owner" | "moderator" for the room."""
        return {uid: e["role"] for uid, e in (await self.state.items(room, NS_ROLES)).items()}

    # Gates ---------------------------------------------------------------------------------

    async def check_join(self, room: str, actor: Actor) -> Decision:
        """Refuse banned users (code "banned"); everyone else may join (admins always)."""
        if self.is_admin(actor):
            return Decision("allow")
        ban = await self.state.get(room, NS_BANS, actor.user_id)
        if ban is None and actor.address and await self.role_of(room, actor) not in (R.OWNER, R.MODERATOR):
            ban = await self.state.get(room, NS_BANNED_ADDRESSES, actor.address)
        return _join_decision(ban)

    async def room_settings(self, room: str) -> dict[str, Any]:
        """{"slow_mode": seconds, "locked": bool, "pinned": pin or None} for joiners and the API."""
        settings, pin = await self.state.get_many(room, [(NS_SETTINGS, "room"), (NS_SETTINGS, "pin")])
        return _settings_view(settings, pin)

    async def admission(self, room: str, actor: Actor) -> tuple[str, Decision, dict[str, Any]]:
        """What a join needs, in one round trip to the room's state: the actor's role, whether
        they may join (``check_join``; admins are not held by bans), and the room's settings
        (``room_settings``)."""
        return self.admission_of(actor, await self.state.get_many(room, self.admission_reads(actor).reads))

    def admission_reads(self, actor: Actor) -> AdmissionReads:
        """The reads :meth:`admission_of` decides from (a caller may read them together with
        other work of the join), and which of them can change the outcome from the guess."""
        reads = [(NS_ROLES, actor.user_id), (NS_BANS, actor.user_id), (NS_SETTINGS, "room"), (NS_SETTINGS, "pin")]
        if actor.address:  # a ban may hold the address too (moderation.address_bans)
            reads.append((NS_BANNED_ADDRESSES, actor.address))
        if self.is_admin(actor):
            return AdmissionReads(reads, (), R.ADMIN)
        guess = R.MEMBER if actor.role_hint == R.MEMBER else R.GUEST
        return AdmissionReads(reads, (0, 1, 4) if actor.address else (0, 1), guess)

    def admission_of(self, actor: Actor, values: list[Any]) -> tuple[str, Decision, dict[str, Any]]:
        """:meth:`admission` from the values of :meth:`admission_reads`' reads."""
        is_admin = self.is_admin(actor)
        entry, ban, settings, pin, *address_ban = values
        if is_admin:
            ban = None
            role = R.ADMIN
        elif entry and entry.get("role") in (R.OWNER, R.MODERATOR):
            role = entry["role"]
        else:
            role = R.MEMBER if actor.role_hint == R.MEMBER else R.GUEST
            ban = ban or (address_ban[0] if address_ban else None)
        return role, _join_decision(ban), _settings_view(settings, pin)

    async def limits(self, room: str) -> Limits:
        return self._limits(await self.state.get(room, NS_SETTINGS, "limits"))

    def _limits(self, overrides: dict[str, Any] | None) -> Limits:
        try:
            return self.default_limits.merged(overrides)
        except (ValueError, TypeError):
            return self.default_limits

    def _room_limits(self, room: str, overrides: dict[str, Any] | None) -> Limits:
        """:meth:`_limits` for a send: the room's last overrides and their limits are kept, and
        a dict comparison finds them again (the merge's key, sorted and hashed, was a tenth
        of the check). Always from the overrides just read, so never stale."""
        if not overrides:
            return self.default_limits
        known = self._limits_seen.get(room)
        if known is not None and known[0] == overrides:
            return known[1]
        limits = self._limits(overrides)
        if len(self._limits_seen) >= LIMITS_REMEMBERED:
            self._limits_seen.clear()
        self._limits_seen[room] = (overrides, limits)
        return limits

    async def check_send(
        self, room: str, actor: Actor, text: str, *, conn_id: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Decision:
        """Gate one message. Order: banned, timed out ("timed_out"), locked ("room_locked"), slow
        mode, rate limits ("rate_limited"), flood, blocked terms ("blocked_term" / mask /
        hold). ``extra`` is stored with a held message and returned by :meth:`approve`."""
        # Everything of the room's state this needs, in one read (one round trip on Redis),
        # the room's term version included (the matcher's check of it).
        user_id = actor.user_id
        entry, ban, mute, settings, overrides, room_terms = await self.state.get_many(room, [
            (NS_ROLES, user_id), (NS_BANS, user_id), (NS_MUTES, user_id), *_SEND_ROOM_READS])
        if self.is_admin(actor):
            role = R.ADMIN
        elif entry and entry.get("role") in (R.OWNER, R.MODERATOR):
            role = entry["role"]
        else:
            role = R.MEMBER if actor.role_hint == R.MEMBER else R.GUEST
        if role != R.ADMIN and ban is not None:
            return Decision.reject("banned", "you are banned from this room")
        if mute is not None:
            wait = float(mute.get("until", 0)) - self.clock()
            if wait > 0:
                return Decision.reject("timed_out", "you are timed out in this room", round(wait, 3))
        if settings is None:
            settings = _NO_SETTINGS
        if settings.get("locked") and not R.can(role, "send_locked"):
            return Decision.reject("room_locked", "the room is locked: only moderators can post")
        exempt = role in _EXEMPT
        limits = self._room_limits(room, overrides)
        slow = float(settings.get("slow_mode", 0.0))
        slow_claimed = False
        if slow > 0 and not exempt:
            rej = await self.limiter.claim_slow_mode(room, user_id, slow)
            if rej is not None:
                return self._rejection(rej)
            slow_claimed = True
        rej = await self.limiter.take(room, actor.user_id, conn_id, limits)
        # The text is normalized at most once, and only when something reads it: the flood
        # fingerprint (flood control on, sender not exempt) and the term scan (any terms).
        norm: Normalized | None = None
        if rej is None and not exempt and limits.flood_max > 0:
            norm = normalize(text)
            rej = await self.limiter.flood(room, actor.user_id, norm.dedup, text, limits)
        if rej is not None:
            if slow_claimed:
                await self.limiter.release_slow_mode(room, actor.user_id)
            return self._rejection(rej)

        matcher = await self.matcher(room, room_version=room_terms)
        if len(matcher) == 0:
            return Decision("allow", text)
        v = verdict(text, matcher.scan(norm if norm is not None else normalize(text)))
        if v.hits:
            await self._audit(room, "automod", "", "filter_hit", target=actor.user_id, details={
                "source": "message", "result": "allow" if (v.action == "hold" and exempt) else v.action,
                "terms": v.terms, "excerpt": text[:200], "conn_id": conn_id,
            }, log=FLAGS_LOG)
        if v.action == "block":
            if slow_claimed:
                await self.limiter.release_slow_mode(room, actor.user_id)
            return Decision.reject("blocked_term", "your message contains a blocked term", text=v.text)
        if v.action == "hold" and not exempt:
            hold_id = "h-" + secrets.token_hex(8)
            item = {
                "id": hold_id, "kind": "held", "room": room, "time": self.clock(),
                "user_id": actor.user_id, "name": actor.name, "role": role,
                "text": v.text, "original": text, "terms": v.terms, "conn_id": conn_id,
                "extra": extra or {},
            }
            await self.state.set(room, NS_REVIEW, hold_id, item, ttl=self.review_ttl)
            await self.broker.broadcast(room, {"type": "review", "room": room, "action": "added",
                                               "item": item})
            return Decision("hold", v.text, "held", "your message is held for review", None, hold_id)
        return Decision("allow", v.text)

    async def check_translation(self, room: str, text: str, lang: str) -> Decision:
        """Gate a translation into ``lang`` against that language's terms: block -> reject
        (do not publish it); mask and hold terms are starred out."""
        matcher = await self.matcher(room)
        if lang not in matcher.langs:
            return Decision("allow", text)  # no term of that language: nothing to scan for
        v = check(matcher, text, langs=[lang])
        if not v.hits:
            return Decision("allow", text)
        await self._audit(room, "automod", "", "filter_hit", target=None, details={
            "source": "translation", "lang": lang, "result": v.action, "terms": v.terms,
            "excerpt": text[:200]}, log=FLAGS_LOG)
        if v.action == "block":
            return Decision.reject("blocked_term", "translation contains a blocked term")
        return Decision("allow", mask(text, [(h.start, h.end) for h in v.hits]))

    def _rejection(self, rej: Rejection) -> Decision:
        return Decision.reject(rej.code, rej.message, rej.retry_after)

    async def is_deleted(self, room: str, offset: int) -> bool:
        """Whether a moderator deleted the message at ``offset`` (recently): the translation
        worker should not publish a translation of it."""
        return bool(await self.state.get(room, NS_DELETED, str(offset)))

    # Terms ---------------------------------------------------------------------------------

    async def matcher(self, room: str, *, room_version: Any = _UNREAD) -> Matcher:
        """The compiled global + room term set, rebuilt when either version stamp changes.

        A room that never had terms of its own uses the global matcher. A build runs in
        steps (other rooms are served meanwhile); callers that need the same build while it
        runs wait for it instead of starting another. ``room_version``: the room's version
        stamp when the caller read it already."""
        global_version = await self.state.get(GLOBAL, NS_META, "terms_version")
        if room_version is _UNREAD:
            room_version = await self.state.get(room, NS_META, "terms_version") if room else None
        if room_version is None:
            cached_global = self._global_matcher
            if cached_global is not None and cached_global[0] == global_version:
                return cached_global[1]
            return await self._shared_build("", (global_version, None))
        versions = (global_version, room_version)
        cached = self._matchers.get(room)
        if cached is not None and cached[0] == versions:
            self._matchers.move_to_end(room)
            return cached[1]
        return await self._shared_build(room, versions)

    async def _shared_build(self, room: str, versions: tuple[Any, Any]) -> Matcher:
        key = (room, versions)
        build = self._builds.get(key)
        if build is None:
            build = asyncio.ensure_future(self._build_matcher(room, versions))
            self._builds[key] = build
            build.add_done_callback(lambda _: self._builds.pop(key, None))
        # shield: a sender that gives up (its connection closed) does not cancel the build
        # that other senders wait for
        return await asyncio.shield(build)

    async def _build_matcher(self, room: str, versions: tuple[Any, Any]) -> Matcher:
        global_version, room_version = versions
        room_entries = list((await self.state.items(room, NS_TERMS)).values()) if room else []
        if room and not room_entries:
            # The room's terms were all removed: it shares the global matcher again.
            m = await self._shared_build("", (global_version, None))
            self._cache(room, versions, m, weight=0)
            return m
        global_entries = list((await self.state.items(GLOBAL, NS_TERMS)).values())
        async with self._term_work:
            terms: list[Term] = await cooperatively(parse_steps(global_entries + room_entries, []))
            m = await cooperatively(Matcher.steps(terms))
        self.matcher_builds += 1
        if room:
            self._cache(room, versions, m, weight=len(m))
        else:
            self._global_matcher = (global_version, m)
        return m

    def _cache(self, room: str, versions: tuple[Any, Any], m: Matcher, *, weight: int) -> None:
        old = self._matchers.pop(room, None)
        if old is not None:
            self._cached_terms -= old[2]
        self._matchers[room] = (versions, m, max(1, weight))
        self._cached_terms += max(1, weight)
        while self._cached_terms > self._matcher_cache_terms and len(self._matchers) > 1:
            _, (_, _, dropped) = self._matchers.popitem(last=False)
            self._cached_terms -= dropped

    async def _bump_terms(self, scope: str) -> None:
        await self.state.set(scope, NS_META, "terms_version", secrets.token_hex(8))

    # Reports and the review queue ----------------------------------------------------------

    async def report(self, room: str, actor: Actor, target: int | str, reason: str = "") -> dict[str, Any]:
        """Report the message at offset ``target`` (int) or with id ``target`` (str)."""
        role = await self.role_of(room, actor)
        self._require(role, "report")
        if role != R.ADMIN and await self.state.get(room, NS_BANS, actor.user_id) is not None:
            raise ModerationError("forbidden", "you are banned from this room")
        params = {"offset": target} if isinstance(target, int) else {"message_id": target}
        event = await self._find_message(room, params)
        reason = _reason({"reason": reason})
        claim = f"{event['offset']}:{actor.user_id}"
        existing = await self.state.get(room, NS_REPORTED, claim)
        if existing:
            return {"id": existing, "duplicate": True}
        for bucket, rate, burst, per in (
                (report_bucket(room, actor.user_id), REPORT_RATE, REPORT_BURST, "you"),
                (room_report_bucket(room), ROOM_REPORT_RATE, ROOM_REPORT_BURST, "this room")):
            wait = await self.state.take_token(bucket, rate=rate, burst=burst)
            if wait > 0:
                error = ModerationError("rate_limited", f"too many reports ({per}): retry in {wait:.1f}s")
                error.retry_after = round(wait, 3)
                raise error
        report_id = "r-" + secrets.token_hex(8)
        if not await self.state.add(room, NS_REPORTED, claim, report_id, ttl=self.review_ttl):
            return {"id": await self.state.get(room, NS_REPORTED, claim), "duplicate": True}
        item = {
            "id": report_id, "kind": "report", "room": room, "time": self.clock(),
            "offset": event["offset"], "message_id": event.get("id"),
            "user_id": _author_id(event), "name": _author_name(event),
            "text": event.get("text", ""), "reason": reason,
            "reporter": {"id": actor.user_id, "name": actor.name},
            "translations": await self.quote_translations(room, event),
        }
        await self.state.set(room, NS_REVIEW, report_id, item, ttl=self.review_ttl)
        await self.broker.broadcast(room, {"type": "review", "room": room, "action": "added", "item": item})
        await self._audit(room, actor, role, "report", target=item["user_id"], reason=reason,
                          details={"offset": event["offset"], "id": report_id}, log=FLAGS_LOG)
        return {"id": report_id, "duplicate": False}

    async def review_queue(self, room: str, actor: Actor) -> list[dict[str, Any]]:
        """Held messages and reports, oldest first (moderators+)."""
        self._require(await self.role_of(room, actor), "review")
        items = list((await self.state.items(room, NS_REVIEW)).values())
        return sorted(items, key=lambda i: (i.get("time", 0), i["id"]))

    async def _resolve(self, room: str, actor: Actor, item_id: str, resolution: str) -> tuple[str, dict]:
        role = await self.role_of(room, actor)
        self._require(role, "review")
        item = await self.state.get(room, NS_REVIEW, item_id) if isinstance(item_id, str) else None
        # The claim makes resolution happen once even when two moderators on two nodes race.
        if item is None or not await self.state.add(room, NS_RESOLVED, item_id, resolution,
                                                    ttl=self.review_ttl):
            raise ModerationError("not_found", "no such review item (already resolved?)")
        await self.state.delete(room, NS_REVIEW, item_id)
        await self.broker.broadcast(room, {"type": "review", "room": room, "action": "resolved",
                                           "id": item_id, "kind": item["kind"],
                                           "resolution": resolution, "by": actor.user_id,
                                           # the author, so the server can tell them
                                           "user_id": item.get("user_id")})
        await self._audit(room, actor, role, "approve" if resolution == "approved" else "reject",
                          target=item.get("user_id"),
                          details={"id": item_id, "kind": item["kind"], "text": str(item.get("text", ""))[:200],
                                   "translations": _quoted(item.get("translations"), 200)})
        return role, item

    async def set_review_translations(self, room: str, item_id: str, translations: dict[str, str]) -> bool:
        """Give a pending review item (a held message) its translations, and tell moderators
        (``review`` ``updated`` with the whole item). False when the item is gone (resolved)."""
        item = await self.state.get(room, NS_REVIEW, item_id)
        if item is None or await self.state.get(room, NS_RESOLVED, item_id) is not None:
            return False
        item = {**item, "translations": {**(item.get("translations") or {}), **translations}}
        await self.state.set(room, NS_REVIEW, item_id, item, ttl=self.review_ttl)
        if await self.state.get(room, NS_RESOLVED, item_id) is not None:
            await self.state.delete(room, NS_REVIEW, item_id)  # resolved meanwhile: stay gone
            return False
        await self.broker.broadcast(room, {"type": "review", "room": room, "action": "updated",
                                           "item": item})
        return True

    async def quote_translations(self, room: str, event: Event, *, cut: int | None = None) -> dict[str, str]:
        """The message's translations to quote beside it ({} when none or unknown), each cut
        to ``cut`` code points when given (as audit entries cut the text they quote)."""
        hook = self.translations_of
        if hook is None:
            return {}
        try:
            return _quoted(await hook(room, event), cut)
        except Exception:  # noqa: BLE001 - a quote without translations is still a quote
            log.warning("room %s: translations of %s not read", room, event.get("id"), exc_info=True)
            return {}

    async def approve(self, room: str, actor: Actor, hold_id: str) -> dict[str, Any]:
        """Approve a held message (returns its payload for the server to publish through its
        normal path) or dismiss a report (the message stays; returns the report)."""
        _, item = await self._resolve(room, actor, hold_id, "approved")
        return item

    async def reject(self, room: str, actor: Actor, hold_id: str) -> None:
        """Reject a held message (it is discarded) or uphold a report (the message is deleted)."""
        role = await self.role_of(room, actor)
        self._require(role, "review")
        pending = await self.state.get(room, NS_REVIEW, hold_id) if isinstance(hold_id, str) else None
        event = None
        if pending is not None and pending.get("kind") == "report":
            try:
                event = await self._find_message(room, {"offset": pending["offset"]})
            except ModerationError:
                event = None  # already gone: rejecting just closes the report
            if event is not None:
                # Check before resolving, so a refused delete leaves the report queued.
                await self._require_target(room, actor, role, "delete", _author_id(event))
        await self._resolve(room, actor, hold_id, "rejected")
        if event is not None:
            await self._delete_event(room, actor, event)

    # Audit ---------------------------------------------------------------------------------

    async def audit_log(self, room: str, actor: Actor, limit: int = 100, *,
                        log: str = "all") -> list[dict[str, Any]]:
        """Newest first. ``room`` "" reads the global log (term changes), admins only.

        ``log``: "audit" (moderation actions), "flags" (reports and filter hits), or "all"
        (the default, and what the HTTP route shows): both, newest first, where the newest
        ``limit`` moderation actions always appear and flags fill what room is left, so no
        number of reports or filter hits can push an action off the page."""
        self._require(await self.role_of(room, actor), "audit_log")
        if log not in (AUDIT_LOG, FLAGS_LOG, "all"):
            raise ModerationError("invalid", "log must be \"all\", \"audit\" or \"flags\"")
        limit = max(1, min(int(limit), self.audit_maxlen))
        if log != "all":
            return await self.state.log_read(room, log, limit=limit)
        actions = await self.state.log_read(room, AUDIT_LOG, limit=limit)
        flags = await self.state.log_read(room, FLAGS_LOG, limit=limit - len(actions)) \
            if len(actions) < limit else []
        return sorted(actions + flags, key=lambda e: e.get("time", 0), reverse=True)

    async def _audit(self, room: str, actor: Actor | str, role: str, action: str, *,
                     target: str | None = None, reason: str | None = None,
                     details: dict[str, Any] | None = None, log: str = AUDIT_LOG) -> None:
        if isinstance(actor, Actor):
            actor_id, actor_name = actor.user_id, actor.name
        else:
            actor_id, actor_name = actor, actor
        entry = {"time": self.clock(), "node": self.node_id, "room": room, "actor": actor_id,
                 "actor_name": actor_name, "actor_role": role, "action": action,
                 "target": target, "reason": reason or None, "details": details or {}}
        await self.state.log_append(room, log, entry, maxlen=self.audit_maxlen)

    # Events --------------------------------------------------------------------------------

    async def _control(self, room: str, actor: Actor, action: str, user_id: str, reason: str,
                       until: float | None, *, disconnect: bool) -> None:
        await self.broker.broadcast(room, {
            "type": "control", "room": room, "action": action, "user_id": user_id,
            "reason": reason, "until": until, "disconnect": disconnect, "by": actor.user_id})

    async def _role_event(self, room: str, actor: Actor, user_id: str, role: str) -> None:
        await self.broker.broadcast(room, {
            "type": "control", "room": room, "action": "role", "user_id": user_id, "role": role,
            "reason": "", "until": None, "disconnect": False, "by": actor.user_id})


__all__ = ["Actor", "Decision", "Moderation", "ModerationError", "Limits"]


def _quoted(translations: Any, cut: int | None = None) -> dict[str, str]:
    """Translations as quoted: {lang: text}, each cut to ``cut`` code points when given."""
    if not isinstance(translations, dict):
        return {}
    return {str(k): v[:cut] for k, v in translations.items() if isinstance(v, str) and v}


def _join_decision(ban: dict[str, Any] | None) -> Decision:
    if ban is not None:
        return Decision.reject("banned", "you are banned from this room" +
                               (f": {ban['reason']}" if ban.get("reason") else ""))
    return Decision("allow")


def _settings_view(settings: dict[str, Any] | None, pin: Any) -> dict[str, Any]:
    settings = settings or {}
    return {"slow_mode": float(settings.get("slow_mode", 0.0)),
            "locked": bool(settings.get("locked", False)), "pinned": pin}
