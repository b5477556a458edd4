"""One connection: raw client frames in, server frames out, with no socket I/O.

A :class:`Session` decodes each client frame, finds its handler in :data:`HANDLERS` (one
entry per type of :data:`chatserver.protocol.CLIENT_FRAMES`, in the same order), calls the
chat service, and queues the reply on the connection's :class:`Outbound`, whatever that
writes to: a WebSocket (:mod:`chatserver.ws`) or, in tests, a list. Every refusal becomes an
``error`` frame. Each room the connection is in is a :class:`Membership`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from chatserver import control, frames
from chatserver import errors as E
from chatserver import protocol as p
from chatserver.auth import User
from chatserver.chat import ChatService, Held
from chatserver.config import Settings
from chatserver.errors import ChatError
from chatserver.membership import Membership, traditional
from chatserver.metrics import Metrics
from chatserver.outbound import Outbound, SharedFrame
from rooms.engine import EngineError, Event
from rooms.hub import Hub

log = logging.getLogger(__name__)

TYPING_INTERVAL = 2.0  # seconds between typing events one connection may cause
_MEMBER_LISTS = p.EncodedOnce()  # the joined frames' member list, encoded once per snapshot


@functools.lru_cache(maxsize=8)
def _limits(max_text_chars: int) -> p.Limits:
    return p.Limits(max_text_chars=max_text_chars)


class Session:
    """The server side of one connection, after the handshake."""

    def __init__(self, *, user: User, codec: str, chat: ChatService, hub: Hub, settings: Settings,
                 outbound: Outbound, metrics: Metrics, node_id: str,
                 translation_status: Callable[[], dict], address: str = "") -> None:
        self.user = user
        self.address = address  # the client address (chatserver.http_api.client_address), for limits and bans
        self.codec = codec
        self.chat = chat
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
        self.limits = _limits(settings.max_text_chars)  # one frozen Limits for every session
        # Made on first use: most connections never type nor spawn (memory per connection).
        self._last_typing: dict[str, float] | None = None
        self._tasks: set[asyncio.Task] | None = None
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
        if self.outbound.push(frame):
            self.metrics.frames_out.inc()

    def send(self, frame: frames.Frame) -> None:
        self.push(SharedFrame(p.encode(frame, self.codec)))

    def send_error(self, error: ChatError, *, ref: Any = None, room: str | None = None) -> None:
        if error.code not in E.SERVER_FAULTS:
            self.errors_sent += 1  # the endpoint closes a connection with too many of these
        self.metrics.errors.labels(error.code).inc()
        self.send(frames.error(error.code, error.message, ref=error.ref if ref is None else ref, room=room,
                               retry_after=error.retry_after))

    def welcome(self) -> frames.Frame:
        s = self.settings
        limits = {
            "max_text_chars": s.max_text_chars, "max_frame_bytes": s.max_frame_bytes,
            "max_rooms": s.max_rooms_per_connection, "heartbeat_interval": s.heartbeat_interval,
            "max_history_limit": self.limits.max_history_limit,
            "message_rate": s.rate_user, "message_burst": s.rate_user_burst,
            "connection_message_rate": s.rate_connection, "connection_message_burst": s.rate_connection_burst,
            "frame_rate": s.rate_frames, "frame_burst": s.rate_frames_burst,
            "max_connections_per_user": s.max_connections_per_user,
            "max_connections_per_address": s.max_connections_per_address,
        }
        return frames.welcome(codec=self.codec, user={**self.user.public(), "kind": self.user.kind},
                              conn_id=self.conn_id, node=self.node_id, limits=limits,
                              translation=self.translation_status())

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
            self.send_error(ChatError(E.RATE_LIMITED, "too many frames on this connection; slow down",
                                      retry_after=wait))
            return
        try:
            frame = p.decode(data, self.codec, self.limits)
        except ChatError as exc:
            self.send_error(exc)
            return
        self.metrics.frame_in(frame.type)
        try:
            await HANDLERS[frame.type](self, frame)
        except ChatError as exc:
            self.send_error(exc, ref=frame.ref, room=frame.get("room"))
        except EngineError as exc:
            self.send_error(ChatError(exc.code, f"the server cannot do that right now: {exc}"),
                            ref=frame.ref, room=frame.get("room"))
        except Exception:
            log.exception("frame %s from %s failed", frame.type, self.user.id)
            self.send_error(ChatError(E.INTERNAL, "internal error; the frame was not processed"), ref=frame.ref)

    def _membership(self, frame: p.ClientFrame) -> Membership:
        membership = self.rooms.get(frame["room"])
        if membership is None:
            raise ChatError(E.NOT_JOINED, f"join room {frame['room']!r} first")
        return membership

    async def on_join(self, frame: p.ClientFrame) -> None:
        room = frame["room"]
        if room in self.rooms:
            raise ChatError(E.ALREADY_JOINED, f"already in room {room!r}")
        if len(self.rooms) >= self.settings.max_rooms_per_connection:
            raise ChatError(E.TOO_MANY_ROOMS,
                            f"a connection may be in at most {self.settings.max_rooms_per_connection} rooms")
        plan = await self.chat.prepare_join(room, self.user, address=self.address)
        membership = Membership(self, room, plan.reads.guess)
        self.rooms[room] = membership
        since = frame.get("since")
        joined = None
        try:
            await self.hub.join(room, membership)  # subscribed before history is read
            joined = await self.chat.join(room, self.user, plan, membership.member_as, since=since,
                                          epoch=frame.get("epoch"), limit=self.settings.history_size)
            history = joined.history
            events, missing = await self.chat.reader_translations(room, history.events, self.read_lang)
        except BaseException:
            # Not joined after all: nothing may keep holding live events for this membership.
            self.rooms.pop(room, None)
            await self.hub.leave(room, membership)
            if joined is not None:
                with contextlib.suppress(EngineError):
                    await self.chat.exit(room, membership.member())
            raise
        view = joined.view
        reply = frames.with_ref(frames.joined(
            room=room, title=joined.meta.get("title", room), role=joined.role, history=history,
            recovered=history.recovered if since is not None else True,
            events=self.for_reader(events), members=view.members, member_count=view.member_count,
            settings=joined.settings), frame.ref)
        # A big room's list is one snapshot for every joiner within a second: encoded once.
        self.push(SharedFrame(p.encode_with(reply, self.codec, "members", reply.pop("members"), _MEMBER_LISTS)))
        membership.go_live(history.position.offset, history.position.epoch)
        self.complete_translations(room, missing)
        self.metrics.rooms.set(self.hub.room_count())

    async def on_leave(self, frame: p.ClientFrame) -> None:
        self._membership(frame)
        await self.leave(frame["room"])
        self.send(frames.with_ref(frames.left(frame["room"], "left"), frame.ref))

    async def on_send(self, frame: p.ClientFrame) -> None:
        membership = self._membership(frame)
        client_msg_id = frame.get("client_msg_id")
        result = await self.chat.send(frame["room"], self.user, membership.role, frame["text"],
                                      client_msg_id=client_msg_id, conn_id=self.conn_id,
                                      reply_to=frame.get("reply_to"))
        if isinstance(result, Held):
            self.send(frames.with_ref(frames.ack_held(frame["room"], result.hold_id, client_msg_id), frame.ref))
            return
        ack = frames.with_ref(frames.ack_published(frame["room"], result, client_msg_id), frame.ref)
        if result.committed is None:
            # The sender sees its own message before its ack, as every client may assume.
            membership.ack_after(result.offset, result.epoch, ack)
            return
        # The ack means the message is in the durable store: sent once its commit is done
        # (later frames go on meanwhile); a failed commit is "unavailable", never an ack.
        room = frame["room"]

        def committed(future: asyncio.Future) -> None:
            if future.cancelled() or future.exception() is not None:
                self.send_error(ChatError(E.UNAVAILABLE, "the message was not stored; send it again"),
                                ref=frame.ref, room=room)
            else:
                membership.ack_after(result.offset, result.epoch, ack)

        result.committed.add_done_callback(committed)

    async def on_typing(self, frame: p.ClientFrame) -> None:
        membership = self._membership(frame)
        now = time.monotonic()
        if self._last_typing is None:
            self._last_typing = {}
        if now - self._last_typing.get(frame["room"], 0.0) < TYPING_INTERVAL:
            return
        self._last_typing[frame["room"]] = now
        await self.chat.typing(frame["room"], membership.member())

    async def on_history(self, frame: p.ClientFrame) -> None:
        self._membership(frame)
        page, missing = await self.chat.history_for(
            frame["room"], before=frame.get("before"),
            limit=frame.get("limit", self.limits.default_history_limit), lang=self.read_lang)
        page["events"] = self.for_reader(page["events"])
        self.send(frames.with_ref(frames.history(**page), frame.ref))
        self.complete_translations(frame["room"], missing)

    async def on_members(self, frame: p.ClientFrame) -> None:
        self._membership(frame)
        listed, total, after = await self.chat.member_page(
            frame["room"], after=frame.get("after"), limit=frame.get("limit", 100), query=frame.get("query", ""))
        self.send(frames.with_ref(frames.members(frame["room"], listed, total=total, next=after), frame.ref))

    async def on_ping(self, frame: p.ClientFrame) -> None:
        self.send(frames.with_ref(frames.pong(), frame.ref))

    async def on_set_lang(self, frame: p.ClientFrame) -> None:
        self.read_lang = frame["lang"]
        self.script = frame.get("script", self.script)
        self.send(frames.with_ref(frames.lang(self.read_lang, self.script), frame.ref))

    async def on_moderate(self, frame: p.ClientFrame) -> None:
        self._membership(frame)
        result = await self.chat.moderate(frame["room"], self.user, frame["action"], frame.get("params") or {})
        self.send(frames.with_ref(frames.moderated(frame["room"], frame["action"], result), frame.ref))

    async def on_report(self, frame: p.ClientFrame) -> None:
        self._membership(frame)
        result = await self.chat.report(frame["room"], self.user, frame["offset"], frame.get("reason") or "")
        self.send(frames.with_ref(frames.reported(frame["room"], result), frame.ref))

    def for_reader(self, events: list[Event]) -> list[Event]:
        """History as this reader sees it live: translations into its language only, Chinese
        ones in its script."""
        hant = self.script == "hant"
        return [(traditional(e) if hant and e.get("lang") == "zh" else e) if e.get("type") == "translation" else e
                for e in events if e.get("type") != "translation" or e.get("lang") == self.read_lang]

    def complete_translations(self, room: str, messages: list[Event]) -> None:
        """Have the missing translations of messages this reader was given made; what cannot
        be made is said to this reader (translations come live, through the room)."""
        if messages:
            self._spawn(self._complete_translations(room, messages, self.read_lang))

    async def _complete_translations(self, room: str, messages: list[Event], lang: str) -> None:
        for frame in await self.chat.complete_translations(room, messages, lang):
            if room in self.rooms and not self.closing:
                self.send(frame)

    # Leaving, moderation's effects, closing ------------------------------------------------

    async def leave(self, room: str) -> None:
        membership = self.rooms.pop(room, None)
        if membership is None:
            return
        await self.hub.leave(room, membership)
        try:
            await self.chat.exit(room, membership.member())
        except EngineError:
            log.warning("room %s: presence not updated for %s (engine unavailable)", room, self.conn_id)
        self.metrics.rooms.set(self.hub.room_count())

    def on_moderation_event(self, membership: Membership, event: Event) -> None:
        """A ``control`` (or, for non-moderators, ``review``) event reached this connection."""
        for effect in control.effects_of(event, room=membership.room, user_id=self.user.id,
                                         role=membership.role):
            self.apply(membership, effect)

    def apply(self, membership: Membership, effect: control.Effect) -> None:
        if isinstance(effect, control.Send):
            self.send(effect.frame)
        elif isinstance(effect, control.Leave):
            self._spawn(self.leave(effect.room))
        elif isinstance(effect, control.SetRole):
            membership.role = effect.role
            # Each node re-records its own connections of the user, so member lists read
            # from presence (joins, the API) show the new role on every node.
            self._spawn(self._refresh(membership))

    async def _refresh(self, membership: Membership) -> None:
        if self.rooms.get(membership.room) is membership and not self.closing:
            await self.chat.refresh_member(membership.room, membership.member())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Leave every room (the connection is gone)."""
        self.closing = True
        self.outbound.close()
        for room in list(self.rooms):
            try:
                await self.leave(room)
            except Exception:
                log.exception("room %s: leave on close failed", room)


Handler = Callable[[Session, p.ClientFrame], Awaitable[None]]

# One handler per client frame type, in the order of protocol.CLIENT_FRAMES.
HANDLERS: dict[str, Handler] = {
    "join": Session.on_join,
    "leave": Session.on_leave,
    "send": Session.on_send,
    "typing": Session.on_typing,
    "history": Session.on_history,
    "members": Session.on_members,
    "ping": Session.on_ping,
    "set_lang": Session.on_set_lang,
    "moderate": Session.on_moderate,
    "report": Session.on_report,
}
assert list(HANDLERS) == list(p.CLIENT_FRAMES), "HANDLERS must follow protocol.CLIENT_FRAMES"
