"""The chat service: rooms and messages, the same for WebSocket sessions and the HTTP API.

It owns the path of a message after decoding: moderation gate, publish through the engine
(one offset, history and live delivery together), then translation, which never holds the
original back.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from chatserver.auth import User
from chatserver.protocol import ROOM_NAME
from rooms.engine import Engine, Event, PublishResult

log = logging.getLogger(__name__)

ROOMS_NS = "rooms"  # global scope: room name -> metadata
TITLE_MAX = 100


class ChatError(Exception):
    """A request we refuse, with the error code documented in docs/protocol.md."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.status = status


@dataclass(frozen=True, slots=True)
class Held:
    """A message held for review instead of published."""

    hold_id: str


def now_ms() -> int:
    return int(time.time() * 1000)


def new_message_id() -> str:
    return "m_" + secrets.token_hex(8)


class ChatService:
    """Rooms, messages and history on top of an engine, with optional gates and translation."""

    def __init__(self, engine: Engine, *, auto_create_rooms: bool, moderation: Any = None,
                 translation: Any = None, metrics: Any = None) -> None:
        self.engine = engine
        self.auto_create_rooms = auto_create_rooms
        self.moderation = moderation  # chatserver.moderation_gate.Gate or None
        self.translation = translation  # chatserver.translation.Translations or None
        self.metrics = metrics

    # Rooms ---------------------------------------------------------------------------------

    async def create_room(self, name: str, *, title: str | None, owner: User | None) -> dict:
        if not isinstance(name, str) or not ROOM_NAME.match(name):
            raise ChatError("invalid_room", "room name must be 1-64 characters of a-z, 0-9, '-' or '_'",
                            status=422)
        if title is not None and (not isinstance(title, str) or len(title) > TITLE_MAX):
            raise ChatError("invalid_frame", f"title must be a string of at most {TITLE_MAX} characters",
                            status=422)
        meta = {"name": name, "title": (title or name).strip() or name, "created_at": now_ms(),
                "owner": owner.public() if owner else None}
        if not await self.engine.state.add("", ROOMS_NS, name, meta):
            raise ChatError("room_exists", f"room {name!r} already exists", status=409)
        if owner is not None and self.moderation is not None:
            await self.moderation.set_owner(name, owner)
        return meta

    async def get_room(self, name: str) -> dict | None:
        return await self.engine.state.get("", ROOMS_NS, name)

    async def ensure_room(self, name: str) -> dict:
        meta = await self.get_room(name)
        if meta is not None:
            return meta
        if not self.auto_create_rooms:
            raise ChatError("room_not_found", f"room {name!r} does not exist", status=404)
        meta = {"name": name, "title": name, "created_at": now_ms(), "owner": None}
        await self.engine.state.add("", ROOMS_NS, name, meta)
        return await self.get_room(name) or meta

    async def list_rooms(self) -> list[dict]:
        rooms = await self.engine.state.items("", ROOMS_NS)
        counts = await self.engine.presence.counts()
        listed = [{**meta, "members": counts.get(name, 0)} for name, meta in rooms.items()]
        listed.sort(key=lambda r: (-r["members"], r["name"]))
        return listed

    # Messages ------------------------------------------------------------------------------

    async def send(self, room: str, user: User, role: str, text: str, *,
                   client_msg_id: str | None = None, conn_id: str = "") -> PublishResult | Held:
        """Gate, publish and schedule translation of one message."""
        key = f"{user.id}:{client_msg_id}" if client_msg_id else None
        if key is not None:
            earlier = await self.engine.broker.lookup(room, key)
            if earlier is not None:
                return earlier
        if self.moderation is not None:
            decision = await self.moderation.check_send(room, user, role, text, conn_id=conn_id,
                                                        client_msg_id=client_msg_id)
            if decision.action == "reject":
                raise ChatError(decision.code or "forbidden", decision.message or "message refused",
                                retry_after=decision.retry_after, status=403)
            if decision.action == "hold":
                return Held(decision.hold_id or "")
            text = decision.text
        return await self.publish(room, user, role, text, client_msg_id=client_msg_id, key=key)

    async def publish(self, room: str, user: User | dict, role: str, text: str, *,
                      client_msg_id: str | None = None, key: str | None = None) -> PublishResult:
        """Publish a message that has passed the gate (also used for approved held messages)."""
        author = user.public() if isinstance(user, User) else dict(user)
        author["role"] = role
        # Detected once here; translation reuses it. "other" (no en/zh text) shows as the
        # author's language and is not translated.
        source = self.translation.detect(text) if self.translation else "other"
        lang = source if source in ("en", "zh") else author.get("lang", "en")
        event: Event = {
            "type": "message", "id": new_message_id(), "room": room, "author": author,
            "text": text, "lang": lang, "ts": now_ms(),
        }
        if client_msg_id:
            event["client_msg_id"] = client_msg_id
        result = await self.engine.broker.publish(room, event, idempotency_key=key)
        if not result.duplicate:
            if self.metrics is not None:
                self.metrics.messages.inc()
            if self.translation is not None:
                self.translation.schedule(room, result.event, source)
        return result

    async def history(self, room: str, *, before: int | None, limit: int) -> dict:
        result = await self.engine.broker.history(room, before=before, limit=limit)
        events = result.events
        oldest = events[0]["offset"] if events else None
        return {
            "room": room, "events": events, "offset": result.position.offset,
            "epoch": result.position.epoch,
            "has_more": bool(oldest is not None and oldest > 1 and len(events) >= limit),
        }
