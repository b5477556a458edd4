"""The edge's side of moderation: adapts :class:`moderation.Moderation` to sessions and the API.

Moderation decides (and keeps its state in the engine, so decisions hold on every node);
this module translates users into actors, refusals into :class:`ChatError` codes, and control
events that reach this node into what they mean for a local connection (leave the room, a
notice, a new role).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chatserver.auth import User
from chatserver.chat import ChatError
from moderation import Actor, Decision, Moderation, ModerationError
from rooms.engine import Engine

log = logging.getLogger(__name__)

_STATUS = {"forbidden": 403, "not_found": 404, "invalid": 422, "rate_limited": 429}


def actor_of(user: User) -> Actor:
    return Actor(user.id, user.name, user.kind)


def _refusal(exc: ModerationError) -> ChatError:
    return ChatError(exc.code, exc.message, status=_STATUS.get(exc.code, 400),
                     retry_after=getattr(exc, "retry_after", None))


class ModerationGate:
    """What the chat service and sessions call; one per node."""

    def __init__(self, engine: Engine, *, node_id: str, admin_ids: tuple[str, ...] = (),
                 default_limits: dict | None = None) -> None:
        self.moderation = Moderation(engine, node_id=node_id, admin_ids=admin_ids,
                                     default_limits=default_limits)
        self._state = engine.state
        self._engine = engine
        self._tasks: set[asyncio.Task] = set()

    async def role_of(self, room: str, user: User) -> str:
        if user.admin:
            # Admin comes from a signed token; recording it lets moderation see it on every node.
            await self._state.set("", "admins", user.id, True)
        return await self.moderation.role_of(room, actor_of(user))

    async def set_owner(self, room: str, user: User) -> None:
        await self.moderation.set_owner(room, user.id)

    async def check_join(self, room: str, user: User, role: str) -> None:
        decision = await self.moderation.check_join(room, actor_of(user))
        if decision.action == "reject":
            raise ChatError(decision.code or "banned", decision.message or "you may not join", status=403)

    async def check_send(self, room: str, user: User, role: str, text: str, *, conn_id: str,
                         client_msg_id: str | None = None) -> Decision:
        return await self.moderation.check_send(room, actor_of(user), text, conn_id=conn_id,
                                                extra={"lang": user.lang, "client_msg_id": client_msg_id})

    async def check_translation(self, room: str, text: str, lang: str) -> Decision:
        return await self.moderation.check_translation(room, text, lang)

    async def is_deleted(self, room: str, offset: int) -> bool:
        return await self.moderation.is_deleted(room, offset)

    async def room_settings(self, room: str) -> dict[str, Any]:
        return await self.moderation.room_settings(room)

    async def act(self, room: str, user: User, role: str, action: str, params: dict) -> dict:
        try:
            return await self.moderation.act(room, actor_of(user), action, params)
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def report(self, room: str, user: User, role: str, offset: int, reason: str) -> dict:
        try:
            return await self.moderation.report(room, actor_of(user), offset, reason)
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def review_queue(self, room: str, user: User, role: str) -> list[dict]:
        try:
            return await self.moderation.review_queue(room, actor_of(user))
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def audit_log(self, room: str, user: User, role: str, limit: int) -> list[dict]:
        try:
            return await self.moderation.audit_log(room, actor_of(user), limit)
        except ModerationError as exc:
            raise _refusal(exc) from None

    async def decide(self, room: str, user: User, role: str, item_id: str, decision: str, chat) -> dict:
        """Approve or reject a review item; an approved held message is published now,
        through the normal path (so it is translated like any other)."""
        try:
            if decision == "reject":
                await self.moderation.reject(room, actor_of(user), item_id)
                return {"id": item_id, "resolution": "rejected"}
            item = await self.moderation.approve(room, actor_of(user), item_id)
        except ModerationError as exc:
            raise _refusal(exc) from None
        result: dict[str, Any] = {"id": item_id, "resolution": "approved", "kind": item.get("kind")}
        if item.get("kind") == "held":
            extra = item.get("extra") or {}
            author = {"id": item["user_id"], "name": item.get("name", ""), "lang": extra.get("lang", "en")}
            # The author's client_msg_id lets their client put the approved message in place
            # of its "held" marker.
            published = await chat.publish(room, author, item.get("role", "member"), item["text"],
                                           client_msg_id=extra.get("client_msg_id"))
            result.update(message_id=published.event["id"], offset=published.offset)
        return result

    # Control events ---------------------------------------------------------------------

    def on_control(self, session, membership, event: dict) -> None:
        """A control (or, for non-moderators, review) event for ``membership.room`` reached a
        local connection."""
        action, room = event.get("action"), membership.room
        if event.get("type") == "review":
            self._review_outcome(session, room, event)
            return
        if action == "role" and event.get("role"):
            # Everyone's member list shows the new badge.
            session.send({"type": "presence", "room": room, "event": "role",
                          "member": {"id": event.get("user_id"), "role": event["role"]}})
        if event.get("user_id") != session.user.id:
            return
        if action in ("kick", "ban") and event.get("disconnect", True):
            reason = "banned" if action == "ban" else "kicked"
            message = f"you were {reason} from {room}" + (f": {event['reason']}" if event.get("reason") else "")
            session.send({"type": "left", "room": room, "reason": reason, "message": message})
            self._spawn(session.leave(room))
        elif action == "timeout":
            session.send({"type": "notice", "room": room, "code": "timed_out", "until": event.get("until"),
                          "message": "you are timed out in this room" +
                                     (f": {event['reason']}" if event.get("reason") else "")})
        elif action == "untimeout":
            session.send({"type": "notice", "room": room, "code": "timeout_lifted",
                          "message": "your timeout was lifted"})
        elif action == "role" and event.get("role"):
            membership.role = event["role"]
            session.send({"type": "role", "room": room, "role": event["role"]})
            # Each node re-registers its own connections of the user, so member lists read
            # from presence (joins, the API) show the new role on every node.
            self._spawn(self._update_presence(session, membership))

    async def _update_presence(self, session, membership) -> None:
        if session.rooms.get(membership.room) is membership and not session.closing:
            await self._engine.presence.add(membership.room, session.member_of(membership.room, membership.role))

    @staticmethod
    def _review_outcome(session, room: str, event: dict) -> None:
        """Tell the author of a held message what became of it."""
        if (event.get("action") != "resolved" or event.get("kind") != "held"
                or event.get("user_id") != session.user.id):
            return
        approved = event.get("resolution") == "approved"
        session.send({"type": "notice", "room": room, "id": event.get("id"),
                      "code": "held_approved" if approved else "held_rejected",
                      "message": "a moderator approved your message" if approved
                      else "a moderator rejected your message"})

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
