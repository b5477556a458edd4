"""The chat service: rooms, presence announcements and messages, for sessions and the HTTP API.

Calls run one way: sessions and HTTP routes call this service, and it calls moderation
(:class:`ModerationGate`), the rooms engine and the translations
(:class:`RoomTranslations`); none of them calls back. It is the only code that publishes
chat messages, approved held messages and translations:

``send`` -> idempotency lookup -> moderation (refuse, hold, or allow with the text to
publish) -> ``broker.publish`` (one offset; history and live delivery together) -> a
translation task, which never holds the original back: the translations come back here,
are moderated against the target language's terms and published with their own offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chatserver import errors as E
from chatserver import frames
from chatserver.auth import User
from chatserver.errors import ChatError
from chatserver.metrics import Metrics
from chatserver.moderation_gate import ModerationGate
from chatserver.presence import MEMBER_LIST_MAX, RoomPresence, RoomView
from chatserver.protocol import valid_room
from chatserver.replies import mentions, quote
from chatserver.room_catalog import RoomCatalog, RoomLimits
from chatserver.translation import Outcome, RoomTranslations, detect, no_translation, translation_key
from moderation.model import AdmissionReads
from rooms.engine import Engine, EngineError, Event, HistoryResult, Member, PublishResult

log = logging.getLogger(__name__)

RECENT_HISTORY = 50  # events a join without ``since`` gets, and a history page by default
TRANSLATION_LOOKAHEAD = 50  # events read after a history page for its messages' translations
HISTORY_TOP_UPS = 3  # further reads a history page makes when other languages' translations filled it
RECOVERY_MAX_EVENTS = 200  # events a join with ``since`` may recover (docs/protocol.md)
RECOVERY_MAX_BYTES = 256 * 1024  # bytes of text those events may hold
FILL_GRACE = 0.1  # seconds past its attempt window a missing translation is left to its first attempt


@dataclass(frozen=True, slots=True)
class Held:
    """A message held for review instead of published."""

    hold_id: str


@dataclass(frozen=True, slots=True)
class Admission:
    """May this user join this room, and as what: the room's metadata, the user's role and
    the room's settings."""

    meta: dict[str, Any]
    role: str
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JoinPlan:
    """A join that passed the checks made before it touches the room: the room's metadata,
    the state reads moderation decides it from, and the joiner's address."""

    meta: dict[str, Any]
    reads: AdmissionReads
    address: str


@dataclass(frozen=True, slots=True)
class Joined:
    """A join made: the room's metadata, the member's role, the room's settings, the history
    the joiner starts from and the room's people as it sees them."""

    meta: dict[str, Any]
    role: str
    settings: dict[str, Any]
    history: HistoryResult
    view: RoomView


class ChatService:
    """Rooms, presence announcements, messages and history on top of an engine."""

    def __init__(self, engine: Engine, *, auto_create_rooms: bool, moderation: ModerationGate,
                 translations: RoomTranslations, metrics: Metrics,
                 room_limits: RoomLimits | None = None) -> None:
        self.engine = engine
        self.auto_create_rooms = auto_create_rooms
        self.rooms = RoomCatalog(engine, auto_create=auto_create_rooms, limits=room_limits or RoomLimits())
        self.moderation = moderation
        self.translations = translations
        self.metrics = metrics
        self.presence = RoomPresence(engine.presence, engine.broker)
        self._tasks: set[asyncio.Task] = set()
        self._filling: dict[tuple[str, str, str], asyncio.Task] = {}  # (room, message id, lang)
        #: Asked before every join, may refuse with a ChatError (the admin service: closed rooms).
        self.admission_check: Callable[[str, User], Awaitable[None]] | None = None
        #: Told of each translation this node published (not a duplicate): (message, translation).
        self.on_translation_published: Callable[[Event, Event], None] | None = None
        moderation.quote_translations_with(self.message_translations)

    # Rooms ---------------------------------------------------------------------------------

    async def create_room(self, name: Any, *, title: Any, owner: User | None, address: str = "") -> dict:
        meta = await self.rooms.create(name, title=title, owner=owner, address=address)
        if owner is not None:
            await self.moderation.set_owner(name, owner)
        return meta

    async def get_room(self, name: str) -> dict | None:
        return await self.rooms.get(name)

    async def room(self, name: str) -> dict:
        """The room's metadata, or ``room_not_found``."""
        meta = await self.get_room(name)
        if meta is None:
            raise ChatError(E.ROOM_NOT_FOUND, f"room {name!r} does not exist", status=404)
        return meta

    async def ensure_room(self, name: str, *, user: User | None = None, address: str = "") -> dict:
        return await self.rooms.ensure(name, user=user, address=address)

    async def list_rooms(self, *, after: str | None = None, limit: int = 50) -> dict:
        return await self.rooms.page(after=after, limit=limit)

    async def room_info(self, name: str) -> dict:
        meta = await self.room(name)
        position = await self.engine.broker.position(name)
        listed, count, _ = await self.presence.page(name, limit=MEMBER_LIST_MAX)
        return {**meta, "members": listed, "member_count": count,
                "offset": position.offset, "epoch": position.epoch,
                "settings": await self.room_settings(name)}

    async def room_settings(self, room: str) -> dict[str, Any]:
        return await self.moderation.room_settings(room)

    # Joining and leaving ------------------------------------------------------------------

    async def admit(self, room: str, user: User, *, address: str = "") -> Admission:
        """The room (made if allowed) and the user's role in it, or why they may not join."""
        if self.admission_check is not None:
            await self.admission_check(room, user)
        meta = await self.ensure_room(room, user=user, address=address)
        role, settings = await self.moderation.admission(room, user, address=address)
        return Admission(meta, role, settings)

    async def prepare_join(self, room: str, user: User, *, address: str = "") -> JoinPlan:
        """What may refuse a join before it touches the room (closed, not found, creation
        limits), and the state reads that decide the rest (made with the join's other work)."""
        if self.admission_check is not None:
            await self.admission_check(room, user)
        meta = await self.ensure_room(room, user=user, address=address)
        return JoinPlan(meta, self.moderation.admission_reads(user, address=address), address)

    async def join(self, room: str, user: User, plan: JoinPlan, member_of: Callable[[str], Member], *,
                   since: int | None, epoch: str | None, limit: int) -> Joined:
        """Admit, read history and record the member (``member_of(role)``) in one engine call
        (one round trip on Redis), or refuse (``banned``) with nothing recorded. The member is
        recorded with moderation's guess of its role when the reads that decide it are absent
        (nearly every join); otherwise, once moderation decided, with a second call."""
        cap = min(limit, RECOVERY_MAX_EVENTS)
        reads = plan.reads
        entry = await self.engine.enter(room, member_of(reads.guess), reads=reads.reads, since=since, epoch=epoch,
                                        limit=cap + 1 if since is not None else RECENT_HISTORY,
                                        record_unless=reads.decisive)
        try:
            role, settings = self.moderation.admission_of(user, entry.values, address=plan.address)
        except ChatError:
            if entry.arrival is not None:  # the guess was checked, so never; kept true regardless
                with contextlib.suppress(EngineError):
                    await self.engine.presence.remove(room, member_of(reads.guess).conn_id)
            raise
        member = member_of(role)
        try:
            history = entry.history
            if since is not None:
                history = await self._bounded(room, history, cap)
            arrival = entry.arrival if entry.arrival is not None else await self.engine.presence.add(room, member)
        except BaseException:
            if entry.arrival is not None:
                with contextlib.suppress(EngineError):
                    await self.engine.presence.remove(room, member.conn_id)
            raise
        view = await self.presence.entered(room, member, arrival)
        return Joined(plan.meta, role, settings, history, view)

    async def _bounded(self, room: str, result: HistoryResult, cap: int) -> HistoryResult:
        if len(result.events) <= cap and _text_bytes(result.events) <= RECOVERY_MAX_BYTES:
            return result
        recent = await self.engine.broker.history(room, limit=RECENT_HISTORY)
        return HistoryResult(_within_bytes(recent.events, RECOVERY_MAX_BYTES), recent.position, recovered=False)

    async def catch_up(self, room: str, *, since: int | None, epoch: str | None, limit: int) -> HistoryResult:
        """What a joining connection reads: everything after ``since``, or the recent events.

        A recovery is bounded (a 50-byte ``join`` with ``since=0`` must not cost the node
        megabytes): past RECOVERY_MAX_EVENTS events or RECOVERY_MAX_BYTES of text, the join is
        answered as one whose history no longer reaches back (``recovered: false`` with the
        recent events), which every client already handles by starting again."""
        if since is not None:
            cap = min(limit, RECOVERY_MAX_EVENTS)
            result = await self.engine.broker.history(room, since=since, epoch=epoch, limit=cap + 1)
            return await self._bounded(room, result, cap)
        return await self.engine.broker.history(room, limit=RECENT_HISTORY)

    async def enter(self, room: str, member: Member) -> RoomView:
        """Record the member in presence; the room's people as the member sees them."""
        return await self.presence.enter(room, member)

    async def exit(self, room: str, member: Member) -> None:
        await self.presence.exit(room, member)
        await self.rooms.visited(room)  # an ownerless room lives on a TTL from its last visit

    async def on_presence_expired(self, room: str, removed: list[Member]) -> None:
        """Presence dropped members of a dead node (the engine's ``on_expired`` hook)."""
        await self.presence.expired(room, removed)

    async def refresh_member(self, room: str, member: Member) -> None:
        await self.presence.refresh(room, member)

    async def typing(self, room: str, member: Member) -> None:
        await self.presence.typing(room, member)

    async def member_page(self, room: str, *, after: str | None, limit: int,
                          query: str) -> tuple[list[dict], int, str | None]:
        return await self.presence.page(room, after=after, limit=limit, query=query)

    # Messages ------------------------------------------------------------------------------

    async def send(self, room: str, user: User, role: str, text: str, *,
                   client_msg_id: str | None = None, conn_id: str = "",
                   reply_to: int | None = None) -> PublishResult | Held:
        """Moderate, publish and translate one message (a retry is answered from its key).
        ``reply_to`` is the offset of the message it answers (refused when there is none)."""
        key = f"{user.id}:{client_msg_id}" if client_msg_id else None
        if key is not None:
            earlier = await self.engine.broker.lookup(room, key)
            if earlier is not None:
                return earlier
        reply = await self._reply_quote(room, reply_to) if reply_to is not None else None
        decision = await self.moderation.check_send(room, user, text, conn_id=conn_id,
                                                    client_msg_id=client_msg_id, reply_to=reply_to)
        if decision.action == "hold":
            if self.translations.enabled and decision.hold_id:
                self._spawn(self._translate_held(room, decision.hold_id, decision.text))
            return Held(decision.hold_id or "")
        text = decision.text
        author = {**user.public(), "role": role}
        return await self._publish(room, author, text, client_msg_id=client_msg_id, key=key, reply=reply)

    async def _reply_quote(self, room: str, offset: int) -> dict[str, Any]:
        event = await self.engine.broker.get_event(room, offset) if offset >= 1 else None
        if event is None or event.get("type") != "message":
            raise ChatError(E.NOT_FOUND, f"send: reply_to {offset} is no message in the room's history",
                            status=404)
        return quote(event)

    async def decide(self, room: str, user: User, item_id: str, decision: str) -> dict:
        """Approve or reject a review item. An approved held message is published now, like
        any other message (so it is translated), under its author's client_msg_id, so the
        author's client can put it in place of its "held" marker."""
        if decision == "reject":
            await self.moderation.reject(room, user, item_id)
            return {"id": item_id, "resolution": "rejected"}
        item = await self.moderation.approve(room, user, item_id)
        result: dict[str, Any] = {"id": item_id, "resolution": "approved", "kind": item.get("kind")}
        if item.get("kind") == "held":
            extra = item.get("extra") or {}
            author = {"id": item["user_id"], "name": item.get("name", ""), "lang": extra.get("lang", "en"),
                      "role": item.get("role", "member")}
            reply = None
            if isinstance(extra.get("reply_to"), int):
                try:
                    reply = await self._reply_quote(room, extra["reply_to"])
                except ChatError:
                    reply = None  # the message it answered is gone: publish it as a plain message
            published = await self._publish(room, author, item["text"], client_msg_id=extra.get("client_msg_id"),
                                            reply=reply)
            if published.committed is not None:
                await published.committed  # the approval answers once the message is stored
            result.update(message_id=published.event["id"], offset=published.offset)
        return result

    async def _publish(self, room: str, author: dict[str, Any], text: str, *,
                       client_msg_id: str | None = None, key: str | None = None,
                       reply: dict[str, Any] | None = None) -> PublishResult:
        # Detected once here; translation reuses it. "other" (no en/zh text) shows as the
        # author's language and is not translated.
        source = detect(text)
        lang = source if source in ("en", "zh") else author.get("lang", "en")
        event = frames.message(room=room, author=author, text=text, lang=lang, client_msg_id=client_msg_id,
                               no_translation=no_translation(text, source), reply=reply,
                               mentions=mentions(text))
        result = await self.engine.broker.publish(room, event, idempotency_key=key)
        if not result.duplicate:
            self.metrics.messages.inc()
            # Into every other supported language, whoever is present (readers present first).
            if self.translations.enabled and source in ("en", "zh"):
                self._spawn(self._translate(room, result.event, source))
        return result

    async def _translate(self, room: str, message: Event, source: str) -> None:
        try:
            for outcome in await self.translations.translate(room, message["text"], source):
                await self._publish_translation(room, message, source, outcome)
        except asyncio.CancelledError:
            raise
        except EngineError as exc:
            log.warning("room %s: translation of %s not published: %s", room, message.get("id"), exc)
        except Exception:
            log.exception("room %s: translating %s failed", room, message.get("id"))

    async def _publish_translation(self, room: str, message: Event, source: str, outcome: Outcome, *,
                                   announce: bool = True) -> Event | None:
        """Publish one outcome: the translation, moderated in its language and published once
        per message and language on every node (its idempotency key); or, when there is none,
        a ``translation_unavailable`` frame, broadcast to the room if ``announce``, and returned."""
        if outcome.text is not None:
            if await self.moderation.is_deleted(room, message["offset"]):
                return None
            decision = await self.moderation.check_translation(room, outcome.text, outcome.lang)
            if decision.action != "reject":
                published = await self.engine.broker.publish(room, frames.translation(
                    room=room, message=message, lang=outcome.lang, source_lang=source, text=decision.text),
                    idempotency_key=translation_key(message["id"], outcome.lang))
                if self.on_translation_published is not None and not published.duplicate:
                    self.on_translation_published(message, published.event)
                return None
            outcome = Outcome(outcome.lang, None, "translation withheld: it contains a blocked term")
        unavailable = frames.translation_unavailable(
            room=room, message=message, lang=outcome.lang, reason=outcome.reason or "translation unavailable",
            retryable=outcome.retryable)
        if announce:
            await self.engine.broker.broadcast(room, unavailable)
        return unavailable

    async def _translate_held(self, room: str, hold_id: str, text: str) -> None:
        """A held message's translations, for the moderators reviewing it (stored in its review
        item; nothing is published: the message is not out)."""
        try:
            source = detect(text)
            made = {o.lang: o.text for o in await self.translations.translate(room, text, source) if o.text}
            if made:
                await self.moderation.set_review_translations(room, hold_id, made)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("room %s: translating held message %s failed", room, hold_id)

    async def message_translations(self, room: str, message: Event) -> dict[str, str]:
        """The translations stored for ``message``, {lang: text} (what a quote of it carries)."""
        if not self.translations.enabled:
            return {}
        langs = [lang for lang in self.translations.targets(detect(message.get("text", "")))
                 if self.translations.needs(message, lang)]
        found = await asyncio.gather(*(self.engine.broker.lookup(room, translation_key(message["id"], lang))
                                       for lang in langs))
        return {lang: r.event["text"] for lang, r in zip(langs, found)
                if r is not None and r.event.get("epoch") == message.get("epoch") and r.event.get("text")}

    async def reader_translations(self, room: str, events: list[Event], lang: str, *,
                                  page_end: int | None = None) -> tuple[list[Event], list[Event]]:
        """What a reader of ``lang`` needs beside ``events`` (a join's history or a history
        page): the translations into ``lang`` of its messages that are stored outside
        ``events`` (after ``page_end``, the page's newest offset, or found by their key), each
        placed right after its message; and the messages whose translation into ``lang`` is
        still missing, for :meth:`complete_translations`. Never raises."""
        if not self.translations.enabled:
            return events, []
        have = {e.get("message_id") for e in events if e.get("type") == "translation" and e.get("lang") == lang}
        wanting = [e for e in events if e.get("id") not in have and self.translations.needs(e, lang)]
        found: dict[str, Event] = {}
        try:
            if wanting and page_end is not None:
                ahead = await self.engine.broker.history(room, since=page_end, limit=TRANSLATION_LOOKAHEAD)
                found.update((e.get("message_id"), e) for e in ahead.events
                             if e.get("type") == "translation" and e.get("lang") == lang)
            rest = [m for m in wanting if m["id"] not in found]
            looked = await asyncio.gather(*(self.engine.broker.lookup(room, translation_key(m["id"], lang))
                                            for m in rest))
            found.update((m["id"], r.event) for m, r in zip(rest, looked)
                         if r is not None and r.event.get("epoch") == m.get("epoch"))
        except Exception as exc:  # noqa: BLE001 - the reader still gets its history
            log.warning("room %s: translations beside history not read: %s", room, exc)
            return events, []
        if not found:
            return events, [m for m in wanting]
        placed: list[Event] = []
        for event in events:
            placed.append(event)
            extra = found.get(event.get("id")) if event.get("type") == "message" else None
            if extra is not None:
                placed.append(extra)
        return placed, [m for m in wanting if m["id"] not in found]

    async def history_for(self, room: str, *, before: int | None, limit: int,
                          lang: str) -> tuple[dict, list[Event]]:
        """A history page as a reader of ``lang`` reads it: ``limit`` events not counting
        translations into other languages (older events are read while those filled the page),
        the translations of its messages into ``lang`` beside them, and the messages whose
        translation into ``lang`` is still missing (see :meth:`reader_translations`)."""
        page = await self.history(room, before=before, limit=limit)
        keep = [e for e in page["events"] if reads(e, lang)]
        for _ in range(HISTORY_TOP_UPS):
            if len(keep) >= limit or not page["has_more"] or not page["events"]:
                break
            older = await self.history(room, before=page["events"][0]["offset"], limit=limit)
            keep = [e for e in older["events"] if reads(e, lang)] + keep
            page = {**page, "events": older["events"] + page["events"], "has_more": older["has_more"]}
        has_more = page["has_more"] or len(keep) > limit
        keep = keep[-limit:]
        page_end = keep[-1]["offset"] if keep and keep[-1]["offset"] < page["offset"] else None
        events, missing = await self.reader_translations(room, keep, lang, page_end=page_end)
        return {**page, "events": events, "has_more": has_more}, missing

    async def complete_translations(self, room: str, messages: list[Event], lang: str) -> list[Event]:
        """Make the missing translations into ``lang`` of messages a reader was given, on first
        need. Each is published like any translation, so it reaches the reader live (and the
        room, once, on every node); what cannot be made comes back as ``translation_unavailable``
        frames for this reader alone. A message younger than the deadline is first given until
        then to get its publish-time translation. Readers asking at once share one attempt."""
        results = await asyncio.gather(*(self._complete_one(room, m, lang) for m in messages),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, (asyncio.CancelledError, EngineError)):
                log.error("room %s: completing a translation failed", room, exc_info=r)
        return [r for r in results if isinstance(r, dict)]

    async def _complete_one(self, room: str, message: Event, lang: str) -> Event | None:
        key = (room, message["id"], lang)
        task = self._filling.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fill(room, message, lang))
            self._filling[key] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(lambda _t: self._filling.pop(key, None))
        return await asyncio.shield(task)

    async def _fill(self, room: str, message: Event, lang: str) -> Event | None:
        t = self.translations
        grace = t.window_for(t.deadline_for(message.get("text", ""))) + FILL_GRACE  # longer for a long one
        wait = message.get("ts", 0) / 1000 + grace - time.time()
        if wait > 0:
            # Its publish-time translation may still be on its way (from any node).
            await asyncio.sleep(min(wait, grace))
            if await self.engine.broker.lookup(room, translation_key(message["id"], lang)) is not None:
                return None  # it was published since: the reader has it live
        source = detect(message.get("text", ""))
        outcome = await self.translations.translate_one(message["text"], source, lang, live=True)
        return await self._publish_translation(room, message, source, outcome, announce=False)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Announce the presence changes gathered, cancel translations still under way (the
        node is stopping)."""
        try:
            await self.presence.flush_all()
        except Exception:
            log.exception("presence changes not announced at shutdown")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # History and moderation ----------------------------------------------------------------

    async def history(self, room: str, *, before: int | None, limit: int) -> dict:
        result = await self.engine.broker.history(room, before=before, limit=limit)
        events = result.events
        oldest = events[0]["offset"] if events else None
        return {"room": room, "events": events, "offset": result.position.offset,
                "epoch": result.position.epoch, "limit": limit,
                "has_more": bool(oldest is not None and oldest > 1 and len(events) >= limit)}

    async def moderate(self, room: str, user: User, action: str, params: dict) -> dict:
        return await self.moderation.act(room, user, action, params)

    async def report(self, room: str, user: User, offset: int, reason: str) -> dict:
        return await self.moderation.report(room, user, offset, reason)

    async def review_queue(self, room: str, user: User) -> list[dict]:
        return await self.moderation.review_queue(room, user)

    async def audit_log(self, room: str, user: User, limit: int) -> list[dict]:
        return await self.moderation.audit_log(room, user, limit)


def _size(event: Event) -> int:
    return len((event.get("text") or "").encode("utf-8", "surrogatepass"))


def _text_bytes(events: list[Event]) -> int:
    return sum(map(_size, events))


def _within_bytes(events: list[Event], budget: int) -> list[Event]:
    """The newest of ``events`` whose text fits in ``budget`` bytes (oldest first)."""
    kept: list[Event] = []
    for event in reversed(events):
        budget -= _size(event)
        if budget < 0:
            break
        kept.append(event)
    return kept[::-1]


def reads(event: Event, lang: str) -> bool:
    """Does a reader of ``lang`` get this event? Translations only into its own language."""
    return event.get("type") != "translation" or event.get("lang") == lang
