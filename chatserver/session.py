"""One WebSocket connection: its rooms, and what each client frame does.

A :class:`Session` turns decoded client frames into calls on the chat service, the engine's
presence and the hub, and queues server frames on the connection's :class:`Outbound`. It does
no socket I/O itself: the endpoint in :mod:`chatserver.ws` reads frames and hands them over.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Callable

from chatserver import protocol as p
from chatserver.auth import User
from chatserver.chat import ChatError, ChatService, Held
from chatserver.outbound import Outbound, SharedFrame
from rooms.engine import EngineError, Event, Member
from rooms.hub import Encoded, Hub
from translator.chinese import to_traditional

log = logging.getLogger(__name__)

RECENT_HISTORY = 50
TYPING_INTERVAL = 2.0  # seconds between typing events one connection may cause
MODERATOR_ROLES = ("admin", "owner", "moderator")


class Membership:
    """This connection's membership of one room: the hub's subscriber for it.

    While the join is reading history, live events are kept aside; once the ``joined``
    frame is queued they follow, minus those the history already held, so nothing falls
    between history and live delivery and nothing arrives twice.
    """

    __slots__ = ("session", "room", "role", "codec", "_pending", "last_offset", "epoch")

    def __init__(self, session: "Session", room: str, role: str) -> None:
        self.session = session
        self.room = room
        self.role = role
        self.codec = session.codec
        self._pending: list[tuple[Event, Encoded]] | None = []
        self.last_offset = 0
        self.epoch: str | None = None

    def deliver(self, room: str, event: Event, encoded: Encoded) -> None:
        if self._pending is not None:
            self._pending.append((event, encoded))
            return
        self._forward(event, encoded)

    def go_live(self, after_offset: int, epoch: str | None = None) -> None:
        pending, self._pending = self._pending or [], None
        self.last_offset = after_offset
        self.epoch = epoch
        for event, encoded in pending:  # _forward drops what the history already held
            self._forward(event, encoded)

    def _forward(self, event: Event, encoded: Encoded) -> None:
        kind = event.get("type")
        session = self.session
        if kind == "control":
            session.on_control(self, event)
            return
        if kind == "review" and self.role not in MODERATOR_ROLES:
            session.on_control(self, event)  # the author may still need to hear the outcome
            return
        if kind == "translation":
            if event.get("lang") != session.read_lang:
                return
            if session.script == "hant" and event.get("lang") == "zh":
                # Converted once per event for all traditional-script readers on this node.
                session.outbound.push(encoded.variant("hant", self.codec, _traditional))
                return
        if kind == "presence" and event.get("conn") == session.conn_id:
            return
        offset = event.get("offset")
        if offset is not None:
            epoch = event.get("epoch")
            if epoch is not None and epoch != self.epoch:
                # The room's history was reset (e.g. Redis lost it): offsets start again.
                self.epoch, self.last_offset = epoch, 0
            if offset <= self.last_offset:
                return
            self.last_offset = offset
        # Fan-out frames go straight to the queue; they are counted once per fan-out.
        session.outbound.push(encoded.get(self.codec))


def _traditional(event: Event) -> Event:
    return {**event, "text": to_traditional(event["text"]), "script": "hant"}


class Session:
    """The server side of one connection, after the handshake."""

    def __init__(self, *, user: User, codec: str, chat: ChatService, hub: Hub, settings: Any,
                 outbound: Outbound, metrics: Any, node_id: str,
                 translation_status: Callable[[], dict]) -> None:
        self.user = user
        self.codec = codec
        self.chat = chat
        self.engine = chat.engine
        self.hub = hub
        self.settings = settings
        self.outbound = outbound
        self.metrics = metrics
        self.node_id = node_id
        self.translation_status = translation_status
        self.conn_id = secrets.token_hex(8)
        self.read_lang = user.lang
        self.script = "hans"  # Chinese translations in simplified (hans) or traditional (hant)
        self.rooms: dict[str, Membership] = {}
        self.limits = p.Limits(max_text_chars=settings.max_text_chars)
        self._last_typing: dict[str, float] = {}
        self.closing = False
        self.errors_sent = 0
        # Frames of any kind: messages have their own shared limits in moderation; this caps
        # everything else (history reads, joins, pings) so one connection cannot keep the node busy.
        self._frame_rate = settings.rate_frames
        self._frame_burst = settings.rate_frames_burst
        self._frame_tokens = self._frame_burst
        self._frame_stamp = time.monotonic()

    # Output --------------------------------------------------------------------------------

    def push(self, frame: SharedFrame) -> None:
        if self.outbound.push(frame) and self.metrics is not None:
            self.metrics.frames_out.inc()

    def send(self, frame: dict[str, Any]) -> None:
        self.push(SharedFrame(p.encode(frame, self.codec)))

    def send_error(self, code: str, message: str, *, ref: Any = None, **extra: Any) -> None:
        self.errors_sent += 1
        if self.metrics is not None:
            self.metrics.errors.labels(code).inc()
        self.send(p.error_frame(code, message, ref=ref, **extra))

    def welcome(self) -> dict[str, Any]:
        s = self.settings
        return {
            "type": "welcome", "protocol": p.PROTOCOL_VERSION, "codec": self.codec,
            "user": {**self.user.public(), "kind": self.user.kind}, "conn_id": self.conn_id,
            "node": self.node_id,
            "limits": {"max_text_chars": s.max_text_chars, "max_frame_bytes": s.max_frame_bytes,
                       "max_rooms": s.max_rooms_per_connection,
                       "heartbeat_interval": s.heartbeat_interval},
            "translation": self.translation_status(),
        }

    # Input ---------------------------------------------------------------------------------

    def _take_frame_token(self) -> float:
        """0 when this frame may be handled now, else the seconds until one may."""
        now = time.monotonic()
        self._frame_tokens = min(self._frame_burst,
                                 self._frame_tokens + (now - self._frame_stamp) * self._frame_rate)
        self._frame_stamp = now
        if self._frame_tokens >= 1:
            self._frame_tokens -= 1
            return 0.0
        return (1 - self._frame_tokens) / self._frame_rate

    async def receive(self, data: str | bytes) -> None:
        """Handle one raw client frame; every refusal becomes an error frame."""
        wait = self._take_frame_token()
        if wait:
            self.send_error("rate_limited", "too many frames on this connection; slow down",
                            retry_after=wait)
            return
        try:
            frame = p.decode(data, self.codec, self.limits)
        except p.ProtocolError as exc:
            self.send_error(exc.code, exc.message, ref=exc.ref)
            return
        if self.metrics is not None:
            self.metrics.frames_in.labels(frame.type).inc()
        try:
            await getattr(self, "on_" + frame.type)(frame)
        except ChatError as exc:
            self.send_error(exc.code, exc.message, ref=frame.ref, room=frame.get("room"),
                            retry_after=exc.retry_after)
        except EngineError as exc:
            self.send_error(exc.code, f"the server cannot do that right now: {exc}", ref=frame.ref,
                            room=frame.get("room"))
        except Exception:
            log.exception("frame %s from %s failed", frame.type, self.user.id)
            self.send_error(p.INTERNAL, "internal error; the frame was not processed", ref=frame.ref)

    def _membership(self, frame: p.ClientFrame) -> Membership:
        membership = self.rooms.get(frame["room"])
        if membership is None:
            raise ChatError(p.NOT_JOINED, f"join room {frame['room']!r} first")
        return membership

    async def on_ping(self, frame: p.ClientFrame) -> None:
        self.send(p.with_ref({"type": "pong", "ts": int(time.time() * 1000)}, frame.ref))

    async def on_set_lang(self, frame: p.ClientFrame) -> None:
        self.read_lang = frame["lang"]
        self.script = frame.get("script", self.script)
        self.send(p.with_ref({"type": "lang", "lang": self.read_lang, "script": self.script}, frame.ref))

    async def on_join(self, frame: p.ClientFrame) -> None:
        room = frame["room"]
        if room in self.rooms:
            raise ChatError("already_joined", f"already in room {room!r}")
        if len(self.rooms) >= self.settings.max_rooms_per_connection:
            raise ChatError(p.TOO_MANY_ROOMS,
                            f"a connection may be in at most {self.settings.max_rooms_per_connection} rooms")
        meta = await self.chat.ensure_room(room)
        role = "owner" if (meta.get("owner") or {}).get("id") == self.user.id else "member"
        gate = self.chat.moderation
        if gate is not None:
            role = await gate.role_of(room, self.user)
            await gate.check_join(room, self.user, role)
        membership = Membership(self, room, role)
        self.rooms[room] = membership
        try:
            await self.hub.join(room, membership)
            since = frame.get("since")
            if since is not None:
                result = await self.engine.broker.history(
                    room, since=since, epoch=frame.get("epoch"), limit=self.settings.history_size)
            else:
                result = await self.engine.broker.history(room, limit=RECENT_HISTORY)
            member = Member(conn_id=self.conn_id, user_id=self.user.id, name=self.user.name,
                            lang=self.user.lang, role=role, node=self.node_id)
            await self.engine.presence.add(room, member)
            present = await self.engine.presence.members(room)
            first_connection = sum(m.user_id == self.user.id for m in present) == 1
            members, member_count = _unique_members(present)
            settings = await gate.room_settings(room) if gate is not None else {}
        except BaseException:
            self.rooms.pop(room, None)
            await self.hub.leave(room, membership)
            raise
        joined = {
            "type": "joined", "room": room, "title": meta.get("title", room), "role": role,
            "offset": result.position.offset, "epoch": result.position.epoch,
            "recovered": result.recovered if since is not None else True,
            "history": self._for_reader(result.events), "members": members, "member_count": member_count,
            "settings": settings,
        }
        self.send(p.with_ref(joined, frame.ref))
        membership.go_live(result.position.offset, result.position.epoch)
        if self.metrics is not None:
            self.metrics.rooms.set(len(self.hub.rooms()))
        if first_connection:
            await self._presence(room, "join", member)

    async def on_leave(self, frame: p.ClientFrame) -> None:
        self._membership(frame)
        await self.leave(frame["room"])
        self.send(p.with_ref({"type": "left", "room": frame["room"], "reason": "left"}, frame.ref))

    async def leave(self, room: str) -> None:
        membership = self.rooms.pop(room, None)
        if membership is None:
            return
        await self.hub.leave(room, membership)
        try:
            await self.engine.presence.remove(room, self.conn_id)
            if not any(m.user_id == self.user.id for m in await self.engine.presence.members(room)):
                member = Member(conn_id=self.conn_id, user_id=self.user.id, name=self.user.name,
                                lang=self.user.lang, role=membership.role, node=self.node_id)
                await self._presence(room, "leave", member)
        except EngineError:
            log.warning("room %s: presence not updated for %s (engine unavailable)", room, self.conn_id)
        if self.metrics is not None:
            self.metrics.rooms.set(len(self.hub.rooms()))

    def member_of(self, room: str, role: str) -> Member:
        return Member(conn_id=self.conn_id, user_id=self.user.id, name=self.user.name,
                      lang=self.user.lang, role=role, node=self.node_id)

    async def _presence(self, room: str, event: str, member: Member) -> None:
        await self.engine.broker.broadcast(room, {
            "type": "presence", "room": room, "event": event, "member": member.public(),
            "conn": self.conn_id,
        })

    async def on_send(self, frame: p.ClientFrame) -> None:
        membership = self._membership(frame)
        client_msg_id = frame.get("client_msg_id")
        result = await self.chat.send(frame["room"], self.user, membership.role, frame["text"],
                                      client_msg_id=client_msg_id, conn_id=self.conn_id)
        ack: dict[str, Any] = {"type": "ack", "room": frame["room"]}
        if client_msg_id is not None:
            ack["client_msg_id"] = client_msg_id
        if isinstance(result, Held):
            ack.update(status="held", hold_id=result.hold_id)
        else:
            ack.update(status="duplicate" if result.duplicate else "published",
                       id=result.event["id"], offset=result.offset, epoch=result.epoch)
        self.send(p.with_ref(ack, frame.ref))

    async def on_typing(self, frame: p.ClientFrame) -> None:
        membership = self._membership(frame)
        now = time.monotonic()
        if now - self._last_typing.get(frame["room"], 0.0) < TYPING_INTERVAL:
            return
        self._last_typing[frame["room"]] = now
        member = Member(conn_id=self.conn_id, user_id=self.user.id, name=self.user.name,
                        lang=self.user.lang, role=membership.role)
        await self._presence(frame["room"], "typing", member)

    async def on_history(self, frame: p.ClientFrame) -> None:
        self._membership(frame)
        page = await self.chat.history(frame["room"], before=frame.get("before"),
                                       limit=frame.get("limit", RECENT_HISTORY))
        page["events"] = self._for_reader(page["events"])
        self.send(p.with_ref({"type": "history", **page}, frame.ref))

    def _for_reader(self, events: list[Event]) -> list[Event]:
        """History as this reader sees it live: Chinese translations in its script."""
        if self.script != "hant":
            return events
        return [_traditional(e) if e.get("type") == "translation" and e.get("lang") == "zh" else e
                for e in events]

    async def on_moderate(self, frame: p.ClientFrame) -> None:
        membership = self._membership(frame)
        gate = self._gate()
        result = await gate.act(frame["room"], self.user, membership.role, frame["action"],
                                frame.get("params") or {})
        self.send(p.with_ref({"type": "moderated", "room": frame["room"], "action": frame["action"],
                              "result": result}, frame.ref))

    async def on_report(self, frame: p.ClientFrame) -> None:
        membership = self._membership(frame)
        result = await self._gate().report(frame["room"], self.user, membership.role,
                                           frame["offset"], frame.get("reason") or "")
        self.send(p.with_ref({"type": "reported", "room": frame["room"], "result": result}, frame.ref))

    def _gate(self):
        if self.chat.moderation is None:
            raise ChatError("unavailable", "moderation is not enabled on this server")
        return self.chat.moderation

    # Events from moderation ---------------------------------------------------------------

    def on_control(self, membership: Membership, event: Event) -> None:
        """A moderation control event reached this node: act if it concerns this session."""
        gate = self.chat.moderation
        if gate is not None:
            gate.on_control(self, membership, event)

    async def close(self) -> None:
        """Leave every room (the connection is gone)."""
        self.closing = True
        self.outbound.close()
        for room in list(self.rooms):
            try:
                await self.leave(room)
            except Exception:
                log.exception("room %s: leave on close failed", room)


MEMBER_LIST_MAX = 200  # a joined frame lists at most this many users; member_count has them all


def _unique_members(members: list[Member]) -> tuple[list[dict[str, Any]], int]:
    """One entry per user, hosts first then by name, capped; and the number of users."""
    seen: dict[str, dict[str, Any]] = {}
    for member in members:
        seen.setdefault(member.user_id, member.public())
    rank = {"admin": 0, "owner": 1, "moderator": 2}
    listed = sorted(seen.values(), key=lambda m: (rank.get(m["role"], 3), m["name"].lower()))
    return listed[:MEMBER_LIST_MAX], len(seen)
