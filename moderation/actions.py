"""Host actions: every ``act(room, actor, action, params)`` of :class:`moderation.Moderation`.

Each action checks permission (``ModerationError("forbidden")``), changes state in the engine,
writes an audit entry and makes its effect live on every node through the events documented
in docs/moderation.md. :class:`HostActions` is a part of :class:`moderation.service.Moderation`
(it uses the state, broker, matcher cache and audit helpers defined there), kept in its own
module because the actions are most of the code.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Generator

from moderation import address_bans as AB
from moderation import roles as R
from moderation.model import (
    GLOBAL,
    MAX_SLOW_MODE,
    MAX_TERM_BYTES,
    MAX_TERMS,
    MAX_TIMEOUT,
    NS_BANS,
    NS_DELETED,
    NS_MUTES,
    NS_ROLES,
    NS_SETTINGS,
    NS_TERMS,
    Actor,
    ModerationError,
    _author_id,
    _author_name,
    _number,
    _reason,
    _target_name,
    _user_param,
)
from moderation.terms import Term, TermError
from rooms.engine import Event

# Long term work (parsing, compiling, writing a list) gives the event loop a turn at least
# this often (seconds of work), so other rooms are served meanwhile.
BUILD_SLICE = 0.001


class Slicer:
    """``await slicer.tick()`` between steps of a long job: yields to the event loop once
    :data:`BUILD_SLICE` seconds of work have passed since the last turn it gave."""

    __slots__ = ("_since",)

    def __init__(self) -> None:
        self._since = time.perf_counter()

    async def tick(self) -> None:
        if time.perf_counter() - self._since >= BUILD_SLICE:
            await asyncio.sleep(0)
            self._since = time.perf_counter()


async def cooperatively(steps: Generator[None, None, Any]) -> Any:
    """Run a generator of small steps to its end, yielding to the event loop every
    :data:`BUILD_SLICE` seconds of work; returns the generator's value."""
    slicer = Slicer()
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
        await slicer.tick()


class HostActions:
    """The host actions of :class:`moderation.service.Moderation` (a part of it, not used alone)."""

    async def act(self, room: str, actor: Actor, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Perform a host action (see docs/moderation.md for each action's params/result)."""
        params = dict(params or {})
        handler = ACTIONS.get(action) if isinstance(action, str) else None
        if handler is None:
            raise ModerationError("invalid", f"unknown action {action!r}")
        _target_name(params)  # a bad name is refused before anything is done, not after
        role = await self.role_of(room, actor)
        return await handler(self, room, actor, role, params)

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
        name = _target_name(params)
        await self.state.set(room, NS_MUTES, user_id,
                             {"until": until, "reason": reason, "by": actor.user_id, **name}, ttl=seconds)
        await self._control(room, actor, "timeout", user_id, reason, until, disconnect=False)
        await self._audit(room, actor, role, "timeout", target=user_id, reason=reason,
                          details={"seconds": seconds, "until": until, **name})
        return {"user_id": user_id, "until": until}

    async def _act_untimeout(self, room, actor, role, params):
        user_id = _user_param(params)
        await self._require_target(room, actor, role, "timeout", user_id)
        removed = await self.state.delete(room, NS_MUTES, user_id)
        await self._control(room, actor, "untimeout", user_id, "", None, disconnect=False)
        await self._audit(room, actor, role, "untimeout", target=user_id, details=_target_name(params))
        return {"user_id": user_id, "removed": removed}

    async def _act_timeouts(self, room, actor, role, params):
        self._require(role, "timeout")
        return {"timeouts": await self.state.items(room, NS_MUTES)}

    async def _act_kick(self, room, actor, role, params):
        user_id = _user_param(params)
        reason = _reason(params)
        await self._require_target(room, actor, role, "kick", user_id)
        await self._control(room, actor, "kick", user_id, reason, None, disconnect=True)
        await self._audit(room, actor, role, "kick", target=user_id, reason=reason,
                          details=_target_name(params))
        return {"user_id": user_id}

    async def _act_ban(self, room, actor, role, params):
        user_id = _user_param(params)
        reason = _reason(params)
        with_address = params.get("address")
        if with_address is not None and not isinstance(with_address, bool):  # (0 == False in Python)
            raise ModerationError("invalid", "address must be true or false")
        await self._require_target(room, actor, role, "ban", user_id)
        name = _target_name(params)
        ban = {"reason": reason, "by": actor.user_id, "time": self.clock(), **name}
        address = await AB.address_of(self.engine.presence, room, user_id) if with_address else None
        if address:  # before the disconnect below takes the user (and their address) out of presence
            ban["address"] = address
            await AB.ban_address(self.state, room, address, {**ban, "user_id": user_id})
        await self.state.set(room, NS_BANS, user_id, ban)
        await self._control(room, actor, "ban", user_id, reason, None, disconnect=True)
        await self._audit(room, actor, role, "ban", target=user_id, reason=reason,
                          details={**name, "address": AB.mask(address)} if address else name)
        return {"user_id": user_id, "address": AB.mask(address)} if with_address else {"user_id": user_id}

    async def _act_unban(self, room, actor, role, params):
        user_id = _user_param(params)
        await self._require_target(room, actor, role, "unban", user_id)
        await AB.unban_address(self.state, room, await self.state.get(room, NS_BANS, user_id), user_id)
        removed = await self.state.delete(room, NS_BANS, user_id)
        await self._audit(room, actor, role, "unban", target=user_id, reason=_reason(params),
                          details=_target_name(params))
        return {"user_id": user_id, "removed": removed}

    async def _act_bans(self, room, actor, role, params):
        self._require(role, "ban")
        return {"bans": AB.listed(await self.state.items(room, NS_BANS))}

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
        translations = await self.quote_translations(room, event, cut=200)  # before they are retracted
        retracted = await self._delete_event(room, actor, event)
        await self._audit(room, actor, role, "delete", target=author, reason=_reason(params),
                          details={"offset": event["offset"], "message_id": event.get("id"),
                                   "text": str(event.get("text", ""))[:200], "translations": translations})
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
               "text": event.get("text", ""), "by": actor.user_id, "time": self.clock(),
               "translations": await self.quote_translations(room, event)}
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
        existing = await self.state.items(scope, NS_TERMS)
        others = [e for key, e in existing.items() if key != term.key]
        if len(others) >= MAX_TERMS:
            raise ModerationError("invalid", f"at most {MAX_TERMS} terms per scope")
        _check_term_bytes([*(e.get("term") for e in others), term.pattern])
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
        _check_term_bytes([e if isinstance(e, str) else e.get("term") if isinstance(e, dict) else None
                           for e in entries])
        async with self._term_work:
            terms: list[Term] = await cooperatively(self._term_steps(entries, actor))
            slicer = Slicer()
            for key in await self.state.items(scope, NS_TERMS):
                await self.state.delete(scope, NS_TERMS, key)
                await slicer.tick()
            now = self.clock()
            for term in terms:
                await self.state.set(scope, NS_TERMS, term.key,
                                     {**term.to_dict(), "by": actor.user_id, "time": now})
                await slicer.tick()
        await self._bump_terms(scope)
        await self._audit(scope, actor, role, "set_terms", details={"count": len(terms), "room": room})
        return {"count": len({t.key for t in terms})}

    def _term_steps(self, entries: list[Any], actor: Actor):
        """Parse (normalize) ``entries`` one step each, for :func:`cooperatively`."""
        out: list[Term] = []
        for entry in entries:
            out.append(self._term(entry, actor))
            yield
        return out

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


def _check_term_bytes(patterns: list[Any]) -> None:
    """Refuse a scope's term list whose patterns add up to more than MAX_TERM_BYTES."""
    total = sum(len(p.encode("utf-8", "surrogatepass")) for p in patterns if isinstance(p, str))
    if total > MAX_TERM_BYTES:
        raise ModerationError("invalid", f"terms of a scope may have at most {MAX_TERM_BYTES} bytes "
                                         f"in all (these have {total})")


# Every host action by name, in the order they are defined above.
ACTIONS = {
    "timeout": HostActions._act_timeout,
    "untimeout": HostActions._act_untimeout,
    "timeouts": HostActions._act_timeouts,
    "kick": HostActions._act_kick,
    "ban": HostActions._act_ban,
    "unban": HostActions._act_unban,
    "bans": HostActions._act_bans,
    "slow_mode": HostActions._act_slow_mode,
    "lock": HostActions._act_lock,
    "unlock": HostActions._act_unlock,
    "delete": HostActions._act_delete,
    "clear": HostActions._act_clear,
    "pin": HostActions._act_pin,
    "unpin": HostActions._act_unpin,
    "add_moderator": HostActions._act_add_moderator,
    "remove_moderator": HostActions._act_remove_moderator,
    "moderators": HostActions._act_moderators,
    "add_term": HostActions._act_add_term,
    "remove_term": HostActions._act_remove_term,
    "set_terms": HostActions._act_set_terms,
    "list_terms": HostActions._act_list_terms,
    "set_limits": HostActions._act_set_limits,
}
