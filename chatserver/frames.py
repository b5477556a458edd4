"""The server side of protocol v1: every frame the server sends and every room event it
publishes, each built here and nowhere else.

Constructors come in the order of docs/protocol.md's "Server frames" table, which is the
contract: ``tests/edge/test_frames_contract.py`` checks each constructor's fields against
that table. Frames are plain dicts (the codec in :mod:`chatserver.protocol` encodes them).
Room events (``message``, ``translation``, ``translation_unavailable``, ``presence``) are
published through the engine and reach clients unchanged, plus ``offset`` and ``epoch``
for persistent ones; moderation's own events (``control``, ``review``, ``deleted``, ...)
are built in :mod:`moderation`.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from typing import Any

from rooms.engine import Event, HistoryResult, Member, PublishResult

PROTOCOL_VERSION = "livebridge.v1"

Frame = dict[str, Any]


def now_ms() -> int:
    return int(time.time() * 1000)


_ID_BLOCK = 512  # ids per read of the OS's random source


def _message_ids():
    """Random 64-bit ids, 512 from each ``os.urandom`` call (a system call per id was a tenth
    of a sent message's CPU in the node)."""
    while True:
        block = secrets.token_hex(8 * _ID_BLOCK)
        for i in range(0, len(block), 16):
            yield "m_" + block[i:i + 16]


def _fresh_ids() -> None:
    global _next_id
    _next_id = _message_ids().__next__


_fresh_ids()
os.register_at_fork(after_in_child=_fresh_ids)  # a forked child never repeats its parent's ids


def new_message_id() -> str:
    return _next_id()


def with_ref(frame: Frame, ref: Any) -> Frame:
    """The reply to a client frame carries that frame's ``ref``."""
    if ref is not None:
        frame["ref"] = ref
    return frame


def welcome(*, codec: str, user: dict[str, Any], conn_id: str, node: str, limits: dict[str, Any],
            translation: dict[str, Any]) -> Frame:
    return {"type": "welcome", "protocol": PROTOCOL_VERSION, "codec": codec, "user": user,
            "conn_id": conn_id, "node": node, "limits": limits, "translation": translation}


def joined(*, room: str, title: str, role: str, history: HistoryResult, recovered: bool,
           events: list[Event], members: list[dict[str, Any]], member_count: int,
           settings: dict[str, Any]) -> Frame:
    return {"type": "joined", "room": room, "title": title, "role": role,
            "offset": history.position.offset, "epoch": history.position.epoch, "recovered": recovered,
            "history": events, "members": members, "member_count": member_count, "settings": settings}


def left(room: str, reason: str, message: str | None = None, note: str | None = None) -> Frame:
    """``reason`` is a code clients localise; ``message`` is English for people; ``note`` is
    the moderator's own words (their reason), shown as typed."""
    frame: Frame = {"type": "left", "room": room, "reason": reason}
    if message:
        frame["message"] = message
    if note:
        frame["note"] = note
    return frame


def message(*, room: str, author: dict[str, Any], text: str, lang: str,
            client_msg_id: str | None = None, no_translation: str | None = None,
            reply: dict[str, Any] | None = None, mentions: list[str] | None = None) -> Event:
    """A chat message as published (the engine adds ``offset`` and ``epoch``).
    ``no_translation`` says why no translation of it will follow, when none will; ``reply``
    quotes the message it answers ({offset, id, author, text}); ``mentions`` are the names
    written as ``@name`` in ``text``."""
    event: Event = {"type": "message", "id": new_message_id(), "room": room, "author": author,
                    "text": text, "lang": lang, "ts": now_ms()}
    if client_msg_id:
        event["client_msg_id"] = client_msg_id
    if no_translation:
        event["no_translation"] = no_translation
    if reply:
        event["reply"] = reply
    if mentions:
        event["mentions"] = mentions
    return event


def translation(*, room: str, message: Event, lang: str, source_lang: str, text: str) -> Event:
    """A message's translation into ``lang``, published with its own offset."""
    return {"type": "translation", "room": room, "message_id": message["id"],
            "message_offset": message["offset"], "lang": lang, "source_lang": source_lang,
            "text": text, "ts": now_ms()}


def translation_unavailable(*, room: str, message: Event, lang: str, reason: str,
                            retryable: bool = False) -> Event:
    """Said instead of a translation that could not be made (ephemeral: no offset).
    ``retryable``: a later attempt may work (reading the history again asks for one)."""
    event: Event = {"type": "translation_unavailable", "room": room, "message_id": message["id"],
                    "message_offset": message["offset"], "lang": lang, "reason": reason}
    if retryable:
        event["retryable"] = True
    return event


def presence(room: str, event: str, member: Member) -> Event:
    """A member is typing (ephemeral). ``conn`` lets the member's own connection skip its own
    event; clients ignore it."""
    return {"type": "presence", "room": room, "event": event, "member": member.public(),
            "conn": member.conn_id}


def presence_diff(room: str, joins: list[Member], leaves: list[Member], member_count: int) -> Event:
    """Who arrived and who left since the last diff (ephemeral), and how many are there now;
    a big room's diffs name nobody."""
    return {"type": "presence", "room": room, "event": "diff", "joins": [m.public() for m in joins],
            "leaves": [m.public() for m in leaves], "member_count": member_count}


def role_changed(room: str, user_id: str, role: str) -> Frame:
    """Everyone's member list shows a member's new role (``presence`` with event ``role``)."""
    return {"type": "presence", "room": room, "event": "role", "member": {"id": user_id, "role": role}}


def role(room: str, role: str) -> Frame:
    """Your own role in the room changed."""
    return {"type": "role", "room": room, "role": role}


def notice(room: str, code: str, message: str, **extra: Any) -> Frame:
    frame: Frame = {"type": "notice", "room": room, "code": code, "message": message}
    frame.update((k, v) for k, v in extra.items() if v is not None)
    return frame


def ack_published(room: str, result: PublishResult, client_msg_id: str | None) -> Frame:
    frame: Frame = {"type": "ack", "room": room}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    frame.update(status="duplicate" if result.duplicate else "published", id=result.event["id"],
                 offset=result.offset, epoch=result.epoch)
    return frame


def ack_held(room: str, hold_id: str, client_msg_id: str | None) -> Frame:
    frame: Frame = {"type": "ack", "room": room}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    frame.update(status="held", hold_id=hold_id)
    return frame


def history(*, room: str, events: list[Event], offset: int, epoch: str, has_more: bool,
            limit: int) -> Frame:
    return {"type": "history", "room": room, "events": events, "offset": offset, "epoch": epoch,
            "has_more": has_more, "limit": limit}


def members(room: str, listed: list[dict[str, Any]], *, total: int, next: str | None) -> Frame:
    """A page of the member list (reply to ``members``); ``next`` asks for the page after it."""
    frame: Frame = {"type": "members", "room": room, "members": listed, "total": total}
    if next is not None:
        frame["next"] = next
    return frame


def error(code: str, message: str, *, ref: Any = None, room: str | None = None,
          retry_after: float | None = None) -> Frame:
    frame: Frame = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    if room is not None:
        frame["room"] = room
    if retry_after is not None:
        frame["retry_after"] = round(retry_after, 3) if math.isfinite(retry_after) else retry_after
    return frame


def pong() -> Frame:
    return {"type": "pong", "ts": now_ms()}


def lang(lang: str, script: str) -> Frame:
    return {"type": "lang", "lang": lang, "script": script}


def moderated(room: str, action: str, result: dict[str, Any]) -> Frame:
    return {"type": "moderated", "room": room, "action": action, "result": result}


def reported(room: str, result: dict[str, Any]) -> Frame:
    return {"type": "reported", "room": room, "result": result}
