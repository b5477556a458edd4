"""The moderation facade the server calls: gates, host actions, review queue, audit log.

Promises:

- Every decision is made by the pure functions of :mod:`moderation.roles`,
  :mod:`moderation.terms` and :mod:`moderation.ratelimit`; :class:`Moderation` only reads and
  writes the engine around them.
- Every piece of state lives in the engine (``engine.state`` and ``engine.broker``), never in
  this object, so two :class:`Moderation` instances on two nodes sharing an engine make the
  same decisions. The only node-local data is a cache of compiled term matchers, checked
  against a version stamp in the state store on every use.
- Every host action checks permission (raising ``ModerationError("forbidden")``), changes
  state, writes an audit entry and makes its effect live on every node through the events
  documented in docs/moderation.md. Every filter hit is audited too.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

from rooms.engine import Engine, Event

from moderation import roles as R
from moderation.normalize import Normalized, normalize
from moderation.ratelimit import Limits, RateLimiter, Rejection
from moderation.terms import Matcher, Term, TermError, check, mask, verdict

NS_ROLES = "roles"
NS_ADMINS = "admins"
NS_BANS = "bans"
NS_MUTES = "mutes"
NS_SETTINGS = "settings"
NS_TERMS = "terms"
NS_META = "meta"
NS_REVIEW = "review"
NS_RESOLVED = "review_done"
NS_REPORTED = "reported"
NS_DELETED = "deleted"
AUDIT_LOG = "audit"
GLOBAL = ""

MAX_TIMEOUT = 14 * 86400.0
MAX_SLOW_MODE = 3600.0
MAX_REASON = 500
MAX_TERMS = 2000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: the user id and name from their token, and whether the token is a
    guest token (``role_hint`` "guest") or a member token ("member")."""

    user_id: str
    name: str
    role_hint: str = "member"


@dataclass(frozen=True, slots=True)
class Decision:
    """A gate's answer. ``action`` is "allow", "reject" or "hold".

    ``text`` is what to publish (masked if needed); on "reject" ``code``/``message`` say why
    and ``retry_after`` (seconds) says when to try again where that applies; on "hold"
    ``hold_id`` names the review-queue item.
    """

    action: str
    text: str = ""
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    hold_id: str | None = None

    @classmethod
    def reject(cls, code: str, message: str, retry_after: float | None = None, text: str = "") -> "Decision":
        return cls("reject", text, code, message, retry_after)


class ModerationError(Exception):
    """An action refused: ``code`` is "forbidden", "not_found", "invalid" or "rate_limited"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _author_id(event: Event | None) -> str | None:
    if not event:
        return None
    author = event.get("author")
    if isinstance(author, dict) and author.get("id") is not None:
        return str(author["id"])
    if event.get("user_id") is not None:
        return str(event["user_id"])
    return None


def _author_name(event: Event | None) -> str | None:
    author = (event or {}).get("author")
    return author.get("name") if isinstance(author, dict) else None


def _reason(params: dict[str, Any]) -> str:
    reason = params.get("reason") or ""
    if not isinstance(reason, str):
        raise ModerationError("invalid", "reason must be a string")
    return reason[:MAX_REASON]


def _user_param(params: dict[str, Any]) -> str:
    user_id = params.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise ModerationError("invalid", "user_id is required")
    return user_id


def _number(params: dict[str, Any], key: str, lo: float, hi: float) -> float:
    v = params.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ModerationError("invalid", f"{key} must be a number in [{lo:g}, {hi:g}]")
    return float(v)


class Moderation:
    """Moderation for every room on this node; state shared through ``engine``."""

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
        matcher_cache_size: int = 256,
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
        self._matchers: OrderedDict[str, tuple[tuple[Any, Any], Matcher]] = OrderedDict()
        self._matcher_cache_size = matcher_cache_size

    # Roles ---------------------------------------------------------------------------------

    async def role_of(self, room: str, actor: Actor) -> str:
        """admin (server admin) > owner > moderator (room roles) > member/guest (token)."""
        if actor.user_id in self.admin_ids or await self.state.get(GLOBAL, NS_ADMINS, actor.user_id):
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
        """Refuse banned users (code "banned"); everyone else may join."""
        ban = await self.state.get(room, NS_BANS, actor.user_id)
        if ban is not None:
            return Decision.reject("banned", "you are banned from this room" +
                                   (f": {ban['reason']}" if ban.get("reason") else ""))
        return Decision("allow")

    async def room_settings(self, room: str) -> dict[str, Any]:
        """{"slow_mode": seconds, "locked": bool, "pinned": pin or None} for joiners and the API."""
        settings = await self.state.get(room, NS_SETTINGS, "room") or {}
        pin = await self.state.get(room, NS_SETTINGS, "pin")
        return {"slow_mode": float(settings.get("slow_mode", 0.0)),
                "locked": bool(settings.get("locked", False)), "pinned": pin}

    async def limits(self, room: str) -> Limits:
        overrides = await self.state.get(room, NS_SETTINGS, "limits")
        try:
            return self.default_limits.merged(overrides)
        except (ValueError, TypeError):
            return self.default_limits

    async def check_send(
        self, room: str, actor: Actor, text: str, *, conn_id: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Decision:
        """Gate one message. Order: banned, timed out ("muted"), locked ("room_locked"), slow
        mode, rate limits ("rate_limited"), flood, blocked terms ("blocked_term" / mask /
        hold). ``extra`` is stored with a held message and returned by :meth:`approve`."""
        role = await self.role_of(room, actor)
        if await self.state.get(room, NS_BANS, actor.user_id) is not None:
            return Decision.reject("banned", "you are banned from this room")
        mute = await self.state.get(room, NS_MUTES, actor.user_id)
        if mute is not None:
            wait = float(mute.get("until", 0)) - self.clock()
            if wait > 0:
                return Decision.reject("muted", "you are timed out in this room", round(wait, 3))
        settings = await self.state.get(room, NS_SETTINGS, "room") or {}
        if settings.get("locked") and not R.can(role, "send_locked"):
            return Decision.reject("room_locked", "the room is locked: only moderators can post")
        exempt = R.can(role, "bypass_filters")
        limits = await self.limits(room)
        slow = float(settings.get("slow_mode", 0.0))
        slow_claimed = False
        if slow > 0 and not exempt:
            rej = await self.limiter.claim_slow_mode(room, actor.user_id, slow)
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

        matcher = await self.matcher(room)
        if len(matcher) == 0:
            return Decision("allow", text)
        v = verdict(text, matcher.scan(norm if norm is not None else normalize(text)))
        if v.hits:
            await self._audit(room, "automod", "", "filter_hit", target=actor.user_id, details={
                "source": "message", "result": "allow" if (v.action == "hold" and exempt) else v.action,
                "terms": v.terms, "excerpt": text[:200], "conn_id": conn_id,
            })
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
            "excerpt": text[:200]})
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

    async def matcher(self, room: str) -> Matcher:
        """The compiled global + room term set, rebuilt when either version stamp changes."""
        versions = (await self.state.get(GLOBAL, NS_META, "terms_version"),
                    await self.state.get(room, NS_META, "terms_version") if room else None)
        cached = self._matchers.get(room)
        if cached is not None and cached[0] == versions:
            self._matchers.move_to_end(room)
            return cached[1]
        terms = await self._load_terms(GLOBAL)
        if room:
            terms += await self._load_terms(room)
        m = Matcher.build(terms)
        self._matchers[room] = (versions, m)
        while len(self._matchers) > self._matcher_cache_size:
            self._matchers.popitem(last=False)
        return m

    async def _load_terms(self, scope: str) -> list[Term]:
        out = []
        for entry in (await self.state.items(scope, NS_TERMS)).values():
            try:
                out.append(Term.from_dict(entry))
            except (TermError, KeyError, TypeError):
                continue
        return out

    async def _bump_terms(self, scope: str) -> None:
        await self.state.set(scope, NS_META, "terms_version", secrets.token_hex(8))

    # Host actions --------------------------------------------------------------------------

    async def act(self, room: str, actor: Actor, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Perform a host action (see docs/moderation.md for each action's params/result)."""
        params = dict(params or {})
        handler = getattr(self, f"_act_{action}", None) if isinstance(action, str) else None
        if handler is None:
            raise ModerationError("invalid", f"unknown action {action!r}")
        role = await self.role_of(room, actor)
        return await handler(room, actor, role, params)

    def _require(self, role: str, action: str) -> None:
        if not R.can(role, action):
            raise ModerationError("forbidden", f"{role} may not {action}")

    async def _require_target(self, room: str, actor: Actor, role: str, action: str,
                              target: str | None) -> str:
        self._require(role, action)
        target_role = await self._role_of_user(room, target) if target else R.GUEST
        if not R.can_target(role, action, target_role, same_user=target == actor.user_id):
            raise ModerationError("forbidden", f"{role} may not {action} a {target_role}"
                                  if target != actor.user_id else f"you may not {action} yourself")
        return target_role

    async def _act_timeout(self, room, actor, role, params):
        user_id = _user_param(params)
        seconds = _number(params, "seconds", 0.1, MAX_TIMEOUT)
        reason = _reason(params)
        await self._require_target(room, actor, role, "timeout", user_id)
        until = self.clock() + seconds
        await self.state.set(room, NS_MUTES, user_id,
                             {"until": until, "reason": reason, "by": actor.user_id}, ttl=seconds)
        await self._control(room, actor, "timeout", user_id, reason, until, disconnect=False)
        await self._audit(room, actor, role, "timeout", target=user_id, reason=reason,
                          details={"seconds": seconds, "until": until})
        return {"user_id": user_id, "until": until}

    async def _act_untimeout(self, room, actor, role, params):
        user_id = _user_param(params)
        await self._require_target(room, actor, role, "timeout", user_id)
        removed = await self.state.delete(room, NS_MUTES, user_id)
        await self._control(room, actor, "untimeout", user_id, "", None, disconnect=False)
        await self._audit(room, actor, role, "untimeout", target=user_id)
        return {"user_id": user_id, "removed": removed}

    async def _act_kick(self, room, actor, role, params):
        user_id = _user_param(params)
        reason = _reason(params)
        await self._require_target(room, actor, role, "kick", user_id)
        await self._control(room, actor, "kick", user_id, reason, None, disconnect=True)
        await self._audit(room, actor, role, "kick", target=user_id, reason=reason)
        return {"user_id": user_id}

    async def _act_ban(self, room, actor, role, params):
        user_id = _user_param(params)
        reason = _reason(params)
        await self._require_target(room, actor, role, "ban", user_id)
        await self.state.set(room, NS_BANS, user_id,
                             {"reason": reason, "by": actor.user_id, "time": self.clock()})
        await self._control(room, actor, "ban", user_id, reason, None, disconnect=True)
        await self._audit(room, actor, role, "ban", target=user_id, reason=reason)
        return {"user_id": user_id}

    async def _act_unban(self, room, actor, role, params):
        user_id = _user_param(params)
        await self._require_target(room, actor, role, "unban", user_id)
        removed = await self.state.delete(room, NS_BANS, user_id)
        await self._audit(room, actor, role, "unban", target=user_id, reason=_reason(params))
        return {"user_id": user_id, "removed": removed}

    async def _act_bans(self, room, actor, role, params):
        self._require(role, "ban")
        return {"bans": await self.state.items(room, NS_BANS)}

    async def _settings_changed(self, room, actor, role, action, **change) -> dict[str, Any]:
        settings = await self.state.get(room, NS_SETTINGS, "room") or {}
        settings.update(change)
        settings.setdefault("slow_mode", 0.0)
        settings.setdefault("locked", False)
        await self.state.set(room, NS_SETTINGS, "room", settings)
        event = {"type": "room_settings", "room": room, "slow_mode": float(settings["slow_mode"]),
                 "locked": bool(settings["locked"]), "by": actor.user_id}
        await self.broker.publish(room, event)
        await self._audit(room, actor, role, action, details=change)
        return {"slow_mode": event["slow_mode"], "locked": event["locked"]}

    async def _act_slow_mode(self, room, actor, role, params):
        self._require(role, "slow_mode")
        seconds = _number(params, "seconds", 0, MAX_SLOW_MODE)
        return await self._settings_changed(room, actor, role, "slow_mode", slow_mode=seconds)

    async def _act_lock(self, room, actor, role, params):
        self._require(role, "lock")
        return await self._settings_changed(room, actor, role, "lock", locked=True)

    async def _act_unlock(self, room, actor, role, params):
        self._require(role, "unlock")
        return await self._settings_changed(room, actor, role, "unlock", locked=False)

    async def _find_message(self, room: str, params: dict[str, Any]) -> Event:
        offset = params.get("offset")
        message_id = params.get("message_id")
        if offset is not None:
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 1:
                raise ModerationError("invalid", "offset must be a positive integer")
            event = await self.broker.get_event(room, offset)
        elif isinstance(message_id, str) and message_id:
            found = await self.broker.history(room, limit=self.history_scan)
            event = next((e for e in found.events if e.get("id") == message_id), None)
        else:
            raise ModerationError("invalid", "offset or message_id is required")
        if event is None or event.get("type") != "message":
            raise ModerationError("not_found", "no such message in the room's history")
        return event

    async def _delete_event(self, room: str, actor: Actor, event: Event) -> list[int]:
        offset = int(event["offset"])
        message_id = event.get("id")
        later = await self.broker.history(room, since=offset, limit=self.history_scan)
        translations = [
            int(e["offset"]) for e in later.events
            if e.get("type") == "translation" and (
                (message_id is not None and e.get("message_id") == message_id)
                or e.get("source_offset") == offset)
        ]
        retracted = [offset, *translations]
        await self.state.set(room, NS_DELETED, str(offset), True, ttl=self.review_ttl)
        await self.broker.retract(room, retracted)
        await self.broker.publish(room, {"type": "deleted", "room": room, "message_offset": offset,
                                         "message_id": message_id, "retracted": retracted,
                                         "by": actor.user_id})
        return retracted

    async def _act_delete(self, room, actor, role, params):
        event = await self._find_message(room, params)
        author = _author_id(event)
        await self._require_target(room, actor, role, "delete", author)
        retracted = await self._delete_event(room, actor, event)
        await self._audit(room, actor, role, "delete", target=author, reason=_reason(params),
                          details={"offset": event["offset"], "message_id": event.get("id"),
                                   "text": str(event.get("text", ""))[:200]})
        return {"offset": event["offset"], "message_id": event.get("id"), "retracted": retracted}

    async def _act_clear(self, room, actor, role, params):
        self._require(role, "clear")
        position = await self.broker.position(room)
        offsets: list[int] = []
        before = position.offset + 1
        while True:
            page = await self.broker.history(room, before=before, limit=200)
            if not page.events:
                break
            offsets.extend(int(e["offset"]) for e in page.events)
            before = int(page.events[0]["offset"])
        removed = await self.broker.retract(room, offsets) if offsets else 0
        await self.broker.publish(room, {"type": "cleared", "room": room,
                                         "up_to": position.offset, "by": actor.user_id})
        await self._audit(room, actor, role, "clear", reason=_reason(params),
                          details={"up_to": position.offset, "removed": removed})
        return {"up_to": position.offset, "removed": removed}

    async def _act_pin(self, room, actor, role, params):
        self._require(role, "pin")
        event = await self._find_message(room, params)
        pin = {"offset": event["offset"], "message_id": event.get("id"),
               "user_id": _author_id(event), "name": _author_name(event),
               "text": event.get("text", ""), "by": actor.user_id, "time": self.clock()}
        await self.state.set(room, NS_SETTINGS, "pin", pin)
        await self.broker.publish(room, {"type": "pinned", "room": room, "pin": pin,
                                         "by": actor.user_id})
        await self._audit(room, actor, role, "pin", target=pin["user_id"],
                          details={"offset": pin["offset"]})
        return {"pin": pin}

    async def _act_unpin(self, room, actor, role, params):
        self._require(role, "unpin")
        pin = await self.state.get(room, NS_SETTINGS, "pin")
        if pin is None:
            raise ModerationError("not_found", "nothing is pinned")
        await self.state.delete(room, NS_SETTINGS, "pin")
        await self.broker.publish(room, {"type": "unpinned", "room": room,
                                         "message_offset": pin["offset"], "by": actor.user_id})
        await self._audit(room, actor, role, "unpin", details={"offset": pin["offset"]})
        return {"offset": pin["offset"]}

    async def _act_add_moderator(self, room, actor, role, params):
        user_id = _user_param(params)
        target_role = await self._require_target(room, actor, role, "add_moderator", user_id)
        if target_role == R.MODERATOR:
            return {"user_id": user_id, "role": R.MODERATOR, "changed": False}
        await self.state.set(room, NS_ROLES, user_id,
                             {"role": R.MODERATOR, "by": actor.user_id, "time": self.clock()})
        await self._role_event(room, actor, user_id, R.MODERATOR)
        await self._audit(room, actor, role, "add_moderator", target=user_id)
        return {"user_id": user_id, "role": R.MODERATOR, "changed": True}

    async def _act_remove_moderator(self, room, actor, role, params):
        user_id = _user_param(params)
        target_role = await self._require_target(room, actor, role, "remove_moderator", user_id)
        if target_role != R.MODERATOR:
            raise ModerationError("invalid", f"{user_id} is not a moderator")
        await self.state.delete(room, NS_ROLES, user_id)
        await self._role_event(room, actor, user_id, R.MEMBER)
        await self._audit(room, actor, role, "remove_moderator", target=user_id)
        return {"user_id": user_id, "role": R.MEMBER, "changed": True}

    async def _act_moderators(self, room, actor, role, params):
        self._require(role, "review")
        return {"moderators": await self.moderators(room)}

    def _term_scope(self, room: str, role: str, params: dict[str, Any]) -> str:
        scope = params.get("scope", "room")
        if scope == "global":
            self._require(role, "global_terms")
            return GLOBAL
        if scope != "room":
            raise ModerationError("invalid", "scope must be \"room\" or \"global\"")
        self._require(role, "room_terms")
        return room

    def _term(self, entry: Any, actor: Actor) -> Term:
        if isinstance(entry, str):
            entry = {"term": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("term"), str):
            raise ModerationError("invalid", "a term is {\"term\": str, \"action\": block|mask|hold}")
        try:
            return Term(entry["term"], entry.get("action", "block"), entry.get("lang", "") or "")
        except TermError as exc:
            raise ModerationError("invalid", str(exc)) from None

    async def _act_add_term(self, room, actor, role, params):
        scope = self._term_scope(room, role, params)
        term = self._term({k: params.get(k) for k in ("term", "action", "lang") if params.get(k)}, actor)
        if len(await self.state.items(scope, NS_TERMS)) >= MAX_TERMS:
            raise ModerationError("invalid", f"at most {MAX_TERMS} terms per scope")
        await self.state.set(scope, NS_TERMS, term.key,
                             {**term.to_dict(), "by": actor.user_id, "time": self.clock()})
        await self._bump_terms(scope)
        await self._audit(scope, actor, role, "add_term", details={**term.to_dict(), "room": room})
        return {**term.to_dict(), "key": term.key, "scope": params.get("scope", "room")}

    async def _act_remove_term(self, room, actor, role, params):
        scope = self._term_scope(room, role, params)
        term = self._term({"term": params.get("term")}, actor)
        removed = await self.state.delete(scope, NS_TERMS, term.key)
        if not removed:
            raise ModerationError("not_found", "no such term")
        await self._bump_terms(scope)
        await self._audit(scope, actor, role, "remove_term", details={"term": term.pattern, "room": room})
        return {"key": term.key, "removed": True}

    async def _act_set_terms(self, room, actor, role, params):
        scope = self._term_scope(room, role, params)
        entries = params.get("terms")
        if not isinstance(entries, list) or len(entries) > MAX_TERMS:
            raise ModerationError("invalid", f"terms must be a list of at most {MAX_TERMS}")
        terms = [self._term(e, actor) for e in entries]
        for key in await self.state.items(scope, NS_TERMS):
            await self.state.delete(scope, NS_TERMS, key)
        now = self.clock()
        for term in terms:
            await self.state.set(scope, NS_TERMS, term.key,
                                 {**term.to_dict(), "by": actor.user_id, "time": now})
        await self._bump_terms(scope)
        await self._audit(scope, actor, role, "set_terms", details={"count": len(terms), "room": room})
        return {"count": len({t.key for t in terms})}

    async def _act_list_terms(self, room, actor, role, params):
        self._require(role, "list_terms")
        scope = GLOBAL if params.get("scope") == "global" else room
        return {"terms": sorted((await self.state.items(scope, NS_TERMS)).values(),
                                key=lambda e: e["term"])}

    async def _act_set_limits(self, room, actor, role, params):
        self._require(role, "set_limits")
        overrides = params.get("limits", params)
        if not isinstance(overrides, dict):
            raise ModerationError("invalid", "limits must be an object")
        current = await self.state.get(room, NS_SETTINGS, "limits") or {}
        merged = {**current, **overrides}
        merged = {k: v for k, v in merged.items() if v is not None}  # null resets to default
        try:
            effective = self.default_limits.merged(merged)
        except (ValueError, TypeError) as exc:
            raise ModerationError("invalid", str(exc)) from None
        await self.state.set(room, NS_SETTINGS, "limits", merged)
        await self._audit(room, actor, role, "set_limits", details=merged)
        return {"limits": effective.to_dict()}

    # Reports and the review queue ----------------------------------------------------------

    async def report(self, room: str, actor: Actor, target: int | str, reason: str = "") -> dict[str, Any]:
        """Report the message at offset ``target`` (int) or with id ``target`` (str)."""
        role = await self.role_of(room, actor)
        self._require(role, "report")
        params = {"offset": target} if isinstance(target, int) else {"message_id": target}
        event = await self._find_message(room, params)
        reason = _reason({"reason": reason})
        claim = f"{event['offset']}:{actor.user_id}"
        existing = await self.state.get(room, NS_REPORTED, claim)
        if existing:
            return {"id": existing, "duplicate": True}
        wait = await self.state.take_token(f"rl:{room}:report:{actor.user_id}", rate=0.1, burst=5)
        if wait > 0:
            raise ModerationError("rate_limited", f"too many reports: retry in {wait:.1f}s")
        report_id = "r-" + secrets.token_hex(8)
        if not await self.state.add(room, NS_REPORTED, claim, report_id, ttl=self.review_ttl):
            return {"id": await self.state.get(room, NS_REPORTED, claim), "duplicate": True}
        item = {
            "id": report_id, "kind": "report", "room": room, "time": self.clock(),
            "offset": event["offset"], "message_id": event.get("id"),
            "user_id": _author_id(event), "name": _author_name(event),
            "text": event.get("text", ""), "reason": reason,
            "reporter": {"id": actor.user_id, "name": actor.name},
        }
        await self.state.set(room, NS_REVIEW, report_id, item, ttl=self.review_ttl)
        await self.broker.broadcast(room, {"type": "review", "room": room, "action": "added", "item": item})
        await self._audit(room, actor, role, "report", target=item["user_id"], reason=reason,
                          details={"offset": event["offset"], "id": report_id})
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
                          details={"id": item_id, "kind": item["kind"], "text": str(item.get("text", ""))[:200]})
        return role, item

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

    async def audit_log(self, room: str, actor: Actor, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first. ``room`` "" reads the global log (term changes), admins only."""
        self._require(await self.role_of(room, actor), "audit_log")
        limit = max(1, min(int(limit), self.audit_maxlen))
        return await self.state.log_read(room, AUDIT_LOG, limit=limit)

    async def _audit(self, room: str, actor: Actor | str, role: str, action: str, *,
                     target: str | None = None, reason: str | None = None,
                     details: dict[str, Any] | None = None) -> None:
        if isinstance(actor, Actor):
            actor_id, actor_name = actor.user_id, actor.name
        else:
            actor_id, actor_name = actor, actor
        entry = {"time": self.clock(), "node": self.node_id, "room": room, "actor": actor_id,
                 "actor_name": actor_name, "actor_role": role, "action": action,
                 "target": target, "reason": reason or None, "details": details or {}}
        await self.state.log_append(room, AUDIT_LOG, entry, maxlen=self.audit_maxlen)

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
