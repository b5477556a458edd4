"""A connection's place in one room: the hub's subscriber for that room.

A :class:`Membership` receives every event of its room on this node (:meth:`deliver`) and
decides, for its connection, what reaches the wire: its reader's translations only, a
moderator's review events, moderation's control events handed to the session as effects,
nothing twice and nothing the history already held. What presence records of it is its
:meth:`member` (a :class:`rooms.engine.Member`).

While the join is reading history, live events are kept aside; once the ``joined`` frame is
queued they follow, minus those the history already held, so nothing falls between history
and live delivery and nothing arrives twice.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from chatserver.auth import User
from chatserver.control import MODERATOR_ROLES
from chatserver.outbound import Outbound
from rooms.engine import Event, Member
from rooms.hub import Encoded
from translator.chinese import to_traditional

ACK_WAIT = 1.0  # seconds an ack waits for its own message at the most


class Connection(Protocol):
    """What a membership needs of its connection (a :class:`chatserver.session.Session`)."""

    user: User
    codec: str
    conn_id: str
    node_id: str
    read_lang: str
    script: str
    outbound: Outbound

    def send(self, frame: dict[str, Any]) -> None: ...
    def on_moderation_event(self, membership: "Membership", event: Event) -> None: ...


class Membership:
    """One connection's membership of one room."""

    __slots__ = ("session", "outbound", "room", "role", "codec", "_pending", "last_offset", "epoch",
                 "_acks")

    def __init__(self, session: Connection, room: str, role: str) -> None:
        self.session = session
        self.outbound = session.outbound  # one hop fewer per delivery
        self.room = room
        self.role = role
        self.codec = session.codec
        self._pending: list[tuple[Event, Encoded]] | None = []
        self.last_offset = 0
        self.epoch: str | None = None
        # Acks waiting for their own message to be forwarded first: (offset, frame).
        self._acks: list[tuple[int, dict]] | None = None

    def member(self) -> Member:
        """What presence records of this membership."""
        s = self.session
        return Member(conn_id=s.conn_id, user_id=s.user.id, name=s.user.name, lang=s.user.lang,
                      role=self.role, node=s.node_id,
                      # for a ban that holds the address (moderation.address_bans); never shown
                      extra={"address": s.address} if s.address else {})

    def member_as(self, role: str) -> Member:
        """What presence records of this membership once its role is ``role`` (which it takes)."""
        self.role = role
        return self.member()

    def deliver(self, room: str, event: Event, encoded: Encoded) -> None:
        if self._pending is not None:
            self._pending.append((event, encoded))
            return
        if encoded.kind == "message" and self._acks is None and encoded.epoch == self.epoch \
                and encoded.offset is not None:
            # The common case, once per recipient of a big room: a message in the epoch we
            # are in, no ack waiting for it. What _forward would do, without its other cases.
            if encoded.offset > self.last_offset:
                self.last_offset = encoded.offset
                frame = encoded.frames.get(self.codec)
                self.outbound.push(frame if frame is not None else encoded.get(self.codec))
            return
        self._forward(event, encoded)

    def go_live(self, after_offset: int, epoch: str | None = None) -> None:
        pending, self._pending = self._pending or [], None
        self.last_offset = after_offset
        self.epoch = epoch
        for event, encoded in pending:  # _forward drops what the history already held
            self._forward(event, encoded)

    def ack_after(self, offset: int, epoch: str, frame: dict) -> None:
        """Queue the sender's ``ack`` after its own message: now if the message at ``offset``
        was already forwarded, else as soon as it is (or after ACK_WAIT seconds at the most,
        so a lost delivery never withholds an ack)."""
        if self._pending is None and (epoch != self.epoch or offset <= self.last_offset):
            self.session.send(frame)
            return
        if self._acks is None:
            self._acks = []
        self._acks.append((offset, frame))
        asyncio.get_running_loop().call_later(ACK_WAIT, self._release_acks, None)

    def _release_acks(self, upto: int | None) -> None:
        """Send the acks whose message went out (every waiting one when ``upto`` is None)."""
        if not self._acks:
            return
        ready = [a for a in self._acks if upto is None or a[0] <= upto]
        self._acks = [a for a in self._acks if upto is not None and a[0] > upto] or None
        for _, frame in ready:
            self.session.send(frame)

    def _forward(self, event: Event, encoded: Encoded) -> None:
        kind = encoded.kind
        session = self.session
        if kind == "control" or (kind == "review" and self.role not in MODERATOR_ROLES):
            # Control events become effects; a non-moderator may still need to hear the
            # outcome of their own held message.
            session.on_moderation_event(self, event)
            return
        hant = False
        if kind == "translation":
            if event.get("lang") != session.read_lang:
                return
            hant = session.script == "hant" and event.get("lang") == "zh"
        elif kind == "presence" and event.get("conn") == session.conn_id:
            return
        offset = encoded.offset
        if offset is not None:
            epoch = encoded.epoch
            if epoch is not None and epoch != self.epoch:
                # The room's history was reset (e.g. Redis lost it): offsets start again.
                self.epoch, self.last_offset = epoch, 0
                self._release_acks(None)
            if offset <= self.last_offset:
                return
            self.last_offset = offset
        # Fan-out frames go straight to the queue; they are counted once per fan-out.
        if hant:
            # Converted once per event for all traditional-script readers on this node.
            self.outbound.push(encoded.variant("hant", self.codec, traditional))
        else:
            self.outbound.push(encoded.get(self.codec))
        if self._acks is not None and offset is not None:
            self._release_acks(offset)


def traditional(event: Event) -> Event:
    """A Chinese translation as traditional-script readers get it."""
    return {**event, "text": to_traditional(event["text"]), "script": "hant"}
